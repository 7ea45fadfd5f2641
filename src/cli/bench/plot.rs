//! The bench plot: two stacked bar charts on log scales, throughput (msg/s) and put latency p99
//! (µs), one group of bars per flush mode and body size (and one for each pipelined SYNC_FLUSH
//! run), one bar per writer-thread count. The throughput chart marks, per group, the message
//! rate at which the disk's sequential write bandwidth would be used up; the latency chart
//! marks the disk's fdatasync p99. The legend sits in its own column right of the charts, so
//! no label is drawn over a bar or a limit line.
//!
//! Drawn with plotters, once into an RGB buffer written with the `png` crate and once as SVG.
//! Text is DejaVu Sans, bundled by the `dejavu` crate, so no system font is needed.

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// Width and height of the plot, in pixels.
pub const SIZE: (u32, u32) = (1700, 1000);
/// Width of the legend column.
const LEGEND_W: u32 = 330;

const LIMIT: RGBColor = RGBColor(200, 30, 30);
/// The fdatasync p99 line (a different colour from the disk limit, so the legend tells them apart).
const FSYNC: RGBColor = RGBColor(30, 30, 30);
const PIPELINED: RGBColor = RGBColor(230, 120, 30);
/// Bar colours by writer-thread count: 1, 4, 16, 64.
const THREAD_COLOURS: [(usize, RGBColor); 4] = [
    (1, RGBColor(66, 133, 244)),
    (4, RGBColor(52, 168, 83)),
    (16, RGBColor(200, 160, 0)),
    (64, RGBColor(155, 89, 182)),
];

fn thread_colour(threads: usize) -> RGBColor {
    THREAD_COLOURS
        .iter()
        .find(|(t, _)| *t == threads)
        .map(|(_, c)| *c)
        .unwrap_or(RGBColor(120, 120, 120))
}

/// One measured cell, as the plot needs it.
#[derive(Debug, Clone)]
pub struct PlotCell {
    pub mode: String,
    pub body_size: usize,
    pub threads: usize,
    pub msgs_per_s: f64,
    pub p99_us: f64,
    /// Commitlog bytes per message (record size).
    pub bytes_per_msg: f64,
    /// A pipelined SYNC_FLUSH run: puts in flight (one thread).
    pub in_flight: Option<usize>,
}

/// What the plot shows besides the cells.
#[derive(Debug, Clone)]
pub struct PlotInfo {
    pub title: String,
    pub disk_bytes_per_s: f64,
    pub fsync_p99_us: f64,
}

/// "128 B", "4 KiB".
fn size_label(n: usize) -> String {
    if n >= 1024 && n % 1024 == 0 {
        format!("{} KiB", n / 1024)
    } else {
        format!("{n} B")
    }
}

/// "42", "1.2k", "227k", "1.5M": axis numbers.
fn short_number(v: f64) -> String {
    let (x, suffix) = if v >= 1e6 {
        (v / 1e6, "M")
    } else if v >= 1e3 {
        (v / 1e3, "k")
    } else {
        (v, "")
    };
    if x >= 10.0 || x.fract() == 0.0 {
        format!("{x:.0}{suffix}")
    } else {
        format!("{x:.1}{suffix}")
    }
}

/// One group of bars on the x axis.
struct Group {
    label: String,
    /// (colour, value) per bar, left to right.
    bars: Vec<(RGBColor, f64)>,
    /// A limit drawn across this group only.
    limit: Option<f64>,
}

fn groups(cells: &[PlotCell], info: &PlotInfo, throughput: bool) -> Vec<Group> {
    let mut keys: Vec<(String, usize, Option<usize>)> = Vec::new();
    for c in cells {
        let k = (c.mode.clone(), c.body_size, c.in_flight);
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    keys.iter()
        .map(|(mode, size, in_flight)| {
            let mut g: Vec<&PlotCell> = cells
                .iter()
                .filter(|c| &c.mode == mode && c.body_size == *size && c.in_flight == *in_flight)
                .collect();
            g.sort_by_key(|c| c.threads);
            let label = match in_flight {
                Some(n) => format!("{mode} ×{n}, {}", size_label(*size)),
                None => format!("{mode}, {}", size_label(*size)),
            };
            let bars = g
                .iter()
                .map(|c| {
                    let colour = if c.in_flight.is_some() {
                        PIPELINED
                    } else {
                        thread_colour(c.threads)
                    };
                    (colour, if throughput { c.msgs_per_s } else { c.p99_us })
                })
                .collect();
            let per_msg = g.first().map(|c| c.bytes_per_msg).unwrap_or(0.0);
            let limit = (throughput && info.disk_bytes_per_s > 0.0 && per_msg > 0.0)
                .then(|| info.disk_bytes_per_s / per_msg);
            Group { label, bars, limit }
        })
        .collect()
}

/// The log-scale range holding every value, widened to whole decades.
fn decade_range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::MAX, 0.0f64);
    for v in values.filter(|v| *v > 0.0 && v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if hi == 0.0 {
        return (1.0, 10.0);
    }
    let lo = 10f64.powf(lo.log10().floor());
    let mut hi = 10f64.powf(hi.log10().ceil());
    if hi <= lo {
        hi = lo * 10.0;
    }
    (lo, hi)
}

type DrawResult<T> = Result<T, Box<dyn std::error::Error>>;

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    caption: &str,
    y_desc: &str,
    groups: &[Group],
    global_limit: Option<f64>,
) -> DrawResult<()>
where
    DB::ErrorType: 'static,
{
    let values = groups
        .iter()
        .flat_map(|g| g.bars.iter().map(|b| b.1).chain(g.limit))
        .chain(global_limit);
    let (lo, hi) = decade_range(values);
    let n = groups.len().max(1) as f64;
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(80)
        .build_cartesian_2d(0f64..n, (lo..hi).log_scale())?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(0)
        .y_desc(y_desc)
        .y_label_formatter(&|v| short_number(*v))
        .y_label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 16))
        .draw()?;
    for (i, g) in groups.iter().enumerate() {
        let k = g.bars.len().max(1) as f64;
        let width = 0.8 / k;
        for (j, (colour, v)) in g.bars.iter().enumerate() {
            if *v <= 0.0 {
                continue;
            }
            let x0 = i as f64 + 0.1 + j as f64 * width;
            chart.draw_series(std::iter::once(Rectangle::new(
                [(x0 + width * 0.05, lo), (x0 + width * 0.95, *v)],
                colour.filled(),
            )))?;
        }
        if let Some(l) = g.limit {
            chart.draw_series(std::iter::once(PathElement::new(
                vec![(i as f64 + 0.04, l), (i as f64 + 0.96, l)],
                LIMIT.stroke_width(3),
            )))?;
        }
    }
    if let Some(l) = global_limit {
        chart.draw_series(std::iter::once(PathElement::new(
            vec![(0.0, l), (n, l)],
            FSYNC.stroke_width(2),
        )))?;
    }
    // Group labels, centred under each group in the x label area (pixel positions: plotters'
    // own x labels cannot be placed at group centres on a plain f64 axis).
    let (xr, yr) = chart.plotting_area().get_pixel_range();
    let (bx, by) = area.get_base_pixel();
    let style = ("sans-serif", 13)
        .into_font()
        .color(&BLACK)
        .pos(Pos::new(HPos::Center, VPos::Top));
    let width = (xr.end - xr.start) as f64;
    for (i, g) in groups.iter().enumerate() {
        let x = xr.start + ((i as f64 + 0.5) / n * width) as i32 - bx;
        area.draw(&Text::new(
            g.label.clone(),
            (x, yr.end + 8 - by),
            style.clone(),
        ))?;
    }
    Ok(())
}

/// The legend column: a swatch and a line of text per entry, top to bottom.
fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    entries: &[(RGBColor, bool, String)],
) -> DrawResult<()>
where
    DB::ErrorType: 'static,
{
    let style = ("sans-serif", 15).into_font().color(&BLACK);
    area.draw(&Text::new(
        "Legend",
        (10, 60),
        ("sans-serif", 18).into_font(),
    ))?;
    for (i, (colour, line, text)) in entries.iter().enumerate() {
        let y = 95 + i as i32 * 28;
        if *line {
            area.draw(&PathElement::new(
                vec![(10, y + 8), (40, y + 8)],
                colour.stroke_width(3),
            ))?;
        } else {
            area.draw(&Rectangle::new([(10, y), (40, y + 16)], colour.filled()))?;
        }
        area.draw(&Text::new(text.clone(), (50, y), style.clone()))?;
    }
    Ok(())
}

fn draw<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    cells: &[PlotCell],
    info: &PlotInfo,
) -> DrawResult<()>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    let root = root.titled(&info.title, ("sans-serif", 24))?;
    let (charts, legend) = root.split_horizontally(SIZE.0 - LEGEND_W);
    let panels = charts.split_evenly((2, 1));
    draw_panel(
        &panels[0],
        "Throughput (higher is better)",
        "messages per second",
        &groups(cells, info, true),
        None,
    )?;
    let fsync = (info.fsync_p99_us > 0.0).then_some(info.fsync_p99_us);
    draw_panel(
        &panels[1],
        "Put latency p99 (lower is better)",
        "p99 latency (µs)",
        &groups(cells, info, false),
        fsync,
    )?;
    let mut entries: Vec<(RGBColor, bool, String)> = Vec::new();
    let mut threads: Vec<usize> = cells
        .iter()
        .filter(|c| c.in_flight.is_none())
        .map(|c| c.threads)
        .collect();
    threads.sort_unstable();
    threads.dedup();
    for t in threads {
        let s = if t == 1 { "" } else { "s" };
        entries.push((thread_colour(t), false, format!("{t} writer thread{s}")));
    }
    let mut depths: Vec<usize> = cells.iter().filter_map(|c| c.in_flight).collect();
    depths.sort_unstable();
    depths.dedup();
    for d in depths {
        entries.push((
            PIPELINED,
            false,
            format!("SYNC pipelined: 1 thread, {d} in flight"),
        ));
    }
    if info.disk_bytes_per_s > 0.0 {
        entries.push((
            LIMIT,
            true,
            format!(
                "disk limit ({:.0} MB/s ÷ record size)",
                info.disk_bytes_per_s / 1e6
            ),
        ));
    }
    if let Some(f) = fsync {
        entries.push((FSYNC, true, format!("fdatasync p99 ({f:.0} µs)")));
    }
    draw_legend(&legend, &entries)?;
    root.present()?;
    Ok(())
}

/// Registers DejaVu Sans as plotters' "sans-serif" (once per process).
fn register_font() -> std::io::Result<()> {
    static DONE: OnceLock<bool> = OnceLock::new();
    let ok = *DONE.get_or_init(|| {
        plotters::style::register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular())
            .is_ok()
    });
    if ok {
        Ok(())
    } else {
        Err(std::io::Error::other(
            "the bundled DejaVu Sans font did not load",
        ))
    }
}

/// Writes the plot as PNG at `png_path` and as SVG at `svg_path`.
pub fn write_plot(
    png_path: &Path,
    svg_path: &Path,
    cells: &[PlotCell],
    info: &PlotInfo,
) -> std::io::Result<()> {
    register_font()?;
    let (w, h) = SIZE;
    let mut rgb = vec![255u8; w as usize * h as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area();
        draw(root, cells, info).map_err(|e| std::io::Error::other(e.to_string()))?;
    }
    let file = File::create(png_path)?;
    let mut enc = png::Encoder::new(BufWriter::new(file), w, h);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let mut writer = enc.write_header().map_err(std::io::Error::other)?;
    writer
        .write_image_data(&rgb)
        .map_err(std::io::Error::other)?;
    writer.finish().map_err(std::io::Error::other)?;

    let root = SVGBackend::new(svg_path, (w, h)).into_drawing_area();
    draw(root, cells, info).map_err(|e| std::io::Error::other(e.to_string()))?;
    Ok(())
}

/// One cell of the `--vs-java` plot: Java's and rmqstore's rate.
#[derive(Debug, Clone)]
pub struct VsRow {
    pub label: String,
    pub java: f64,
    pub rmqstore: f64,
}

const JAVA: RGBColor = RGBColor(150, 150, 150);
const RMQSTORE: RGBColor = RGBColor(66, 133, 244);

fn draw_vs<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    rows: &[VsRow],
    title: &str,
) -> DrawResult<()>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    let root = root.titled(title, ("sans-serif", 22))?;
    let (chart_area, legend) = root.split_horizontally(SIZE.0 - LEGEND_W);
    let (lo, hi) = decade_range(rows.iter().flat_map(|r| [r.java, r.rmqstore]));
    let hi = hi * 3.0; // room for the ratio labels above the bars
    let n = rows.len().max(1) as f64;
    let mut chart = ChartBuilder::on(&chart_area)
        .caption(
            "Throughput per cell, Java beside rmqstore (higher is better)",
            ("sans-serif", 20),
        )
        .margin(12)
        .x_label_area_size(150)
        .y_label_area_size(80)
        .build_cartesian_2d(0f64..n, (lo..hi).log_scale())?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(0)
        .y_desc("messages per second")
        .y_label_formatter(&|v| short_number(*v))
        .y_label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 16))
        .draw()?;
    for (i, r) in rows.iter().enumerate() {
        for (j, (colour, v)) in [(JAVA, r.java), (RMQSTORE, r.rmqstore)].iter().enumerate() {
            if *v <= 0.0 {
                continue;
            }
            let x0 = i as f64 + 0.1 + j as f64 * 0.4;
            chart.draw_series(std::iter::once(Rectangle::new(
                [(x0 + 0.02, lo), (x0 + 0.38, *v)],
                colour.filled(),
            )))?;
        }
        if r.java > 0.0 {
            let top = r.java.max(r.rmqstore) * 1.15;
            chart.draw_series(std::iter::once(Text::new(
                format!("{:.1}x", r.rmqstore / r.java),
                (i as f64 + 0.5, top),
                ("sans-serif", 14)
                    .into_font()
                    .color(&BLACK)
                    .pos(Pos::new(HPos::Center, VPos::Bottom)),
            )))?;
        }
    }
    // Cell labels, rotated, under each pair.
    let (xr, yr) = chart.plotting_area().get_pixel_range();
    let (bx, by) = chart_area.get_base_pixel();
    let width = (xr.end - xr.start) as f64;
    let style = ("sans-serif", 13)
        .into_font()
        .transform(FontTransform::Rotate270)
        .color(&BLACK)
        .pos(Pos::new(HPos::Right, VPos::Center));
    for (i, r) in rows.iter().enumerate() {
        let x = xr.start + ((i as f64 + 0.5) / n * width) as i32 - bx;
        chart_area.draw(&Text::new(
            r.label.clone(),
            (x, yr.end + 8 - by),
            style.clone(),
        ))?;
    }
    draw_legend(
        &legend,
        &[
            (JAVA, false, "Java (Apache RocketMQ store)".into()),
            (RMQSTORE, false, "rmqstore".into()),
            (BLACK, false, "N.Nx: rmqstore ÷ Java".into()),
        ],
    )?;
    root.present()?;
    Ok(())
}

/// Writes the `--vs-java` plot as PNG and SVG.
pub fn write_vs_plot(
    png_path: &Path,
    svg_path: &Path,
    rows: &[VsRow],
    title: &str,
) -> std::io::Result<()> {
    register_font()?;
    let (w, h) = SIZE;
    let mut rgb = vec![255u8; w as usize * h as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area();
        draw_vs(root, rows, title).map_err(|e| std::io::Error::other(e.to_string()))?;
    }
    write_png(png_path, &rgb, w, h)?;
    let root = SVGBackend::new(svg_path, (w, h)).into_drawing_area();
    draw_vs(root, rows, title).map_err(|e| std::io::Error::other(e.to_string()))?;
    Ok(())
}

fn write_png(path: &Path, rgb: &[u8], w: u32, h: u32) -> std::io::Result<()> {
    let file = File::create(path)?;
    let mut enc = png::Encoder::new(BufWriter::new(file), w, h);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let mut writer = enc.write_header().map_err(std::io::Error::other)?;
    writer
        .write_image_data(rgb)
        .map_err(std::io::Error::other)?;
    writer.finish().map_err(std::io::Error::other)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_vs_java_plot_shows_both_engines_and_the_ratio() {
        let dir = tempfile::tempdir().unwrap();
        let (png_path, svg_path) = (dir.path().join("v.png"), dir.path().join("v.svg"));
        let rows = vec![
            VsRow {
                label: "async 128B ×1".into(),
                java: 100_000.0,
                rmqstore: 450_000.0,
            },
            VsRow {
                label: "get hot tag ×4".into(),
                java: 50_000.0,
                rmqstore: 160_000.0,
            },
        ];
        write_vs_plot(&png_path, &svg_path, &rows, "vs").unwrap();
        let svg = std::fs::read_to_string(&svg_path).unwrap();
        for text in [
            "4.5x",
            "3.2x",
            "async 128B ×1",
            "get hot tag ×4",
            "rmqstore ÷ Java",
        ] {
            assert!(svg.contains(text), "{text} missing from the SVG");
        }
        let dec = png::Decoder::new(std::io::BufReader::new(File::open(&png_path).unwrap()));
        assert_eq!(dec.read_info().unwrap().info().width, SIZE.0);
    }

    #[test]
    fn short_numbers() {
        assert_eq!(short_number(5.0), "5");
        assert_eq!(short_number(2.5), "2.5");
        assert_eq!(short_number(42.0), "42");
        assert_eq!(short_number(1234.0), "1.2k");
        assert_eq!(short_number(227_000.0), "227k");
        assert_eq!(short_number(1_500_000.0), "1.5M");
        assert_eq!(size_label(128), "128 B");
        assert_eq!(size_label(4096), "4 KiB");
    }

    #[test]
    fn pipelined_runs_get_their_own_group_and_limits_follow_record_size() {
        let cells = vec![
            cell("sync", 128, 1, None),
            cell("sync", 128, 4, None),
            cell("sync", 128, 1, Some(64)),
        ];
        let info = PlotInfo {
            title: "T".into(),
            disk_bytes_per_s: 1e9,
            fsync_p99_us: 200.0,
        };
        let g = groups(&cells, &info, true);
        assert_eq!(g.len(), 2);
        assert_eq!(g[0].label, "sync, 128 B");
        assert_eq!(g[0].bars.len(), 2);
        assert_eq!(g[1].label, "sync ×64, 128 B");
        assert_eq!(g[1].bars[0].0, PIPELINED);
        assert_eq!(g[0].limit, Some(1e9 / 250.0));
        assert!(groups(&cells, &info, false)
            .iter()
            .all(|g| g.limit.is_none()));
    }

    fn cell(mode: &str, size: usize, threads: usize, in_flight: Option<usize>) -> PlotCell {
        PlotCell {
            mode: mode.into(),
            body_size: size,
            threads,
            msgs_per_s: 200_000.0 / threads as f64,
            p99_us: 12.0 * threads as f64,
            bytes_per_msg: 250.0,
            in_flight,
        }
    }

    #[test]
    fn writes_a_png_and_an_svg_with_real_text() {
        let dir = tempfile::tempdir().unwrap();
        let png_path = dir.path().join("p.png");
        let svg_path = dir.path().join("p.svg");
        let cells = vec![
            cell("async", 128, 1, None),
            cell("async", 128, 4, None),
            cell("sync", 128, 1, Some(64)),
        ];
        let info = PlotInfo {
            title: "rmqstore bench".into(),
            disk_bytes_per_s: 1e9,
            fsync_p99_us: 200.0,
        };
        write_plot(&png_path, &svg_path, &cells, &info).unwrap();
        let dec = png::Decoder::new(std::io::BufReader::new(File::open(&png_path).unwrap()));
        let reader = dec.read_info().unwrap();
        assert_eq!(reader.info().width, SIZE.0);
        assert_eq!(reader.info().height, SIZE.1);
        let svg = std::fs::read_to_string(&svg_path).unwrap();
        for text in [
            "p99 latency (µs)",
            "messages per second",
            "SYNC pipelined: 1 thread, 64 in flight",
            "4 writer threads",
            "fdatasync p99 (200 µs)",
            "async, 128 B",
            "sync ×64, 128 B",
        ] {
            assert!(svg.contains(text), "{text} missing from the SVG");
        }
    }

    /// The committed bench.json (a full run with pipelined SYNC rows): every cell and every
    /// pipelined row becomes a bar, and the drawing succeeds. Set RMQSTORE_REPLOT=DIR to write
    /// bench.png/bench.svg there (how docs/bench/ was redrawn from the same numbers).
    #[test]
    fn the_committed_bench_json_plots_every_row() {
        let text = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/bench/bench.json"),
        )
        .unwrap();
        let r: serde_json::Value = serde_json::from_str(&text).unwrap();
        let f = |v: &serde_json::Value| v.as_f64().unwrap();
        let mut cells: Vec<PlotCell> = r["cells"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| PlotCell {
                mode: c["mode"].as_str().unwrap().into(),
                body_size: f(&c["body_size"]) as usize,
                threads: f(&c["threads"]) as usize,
                msgs_per_s: f(&c["msgs_per_s"]),
                p99_us: f(&c["latency_us"]["p99"]),
                bytes_per_msg: f(&c["record_bytes"]),
                in_flight: None,
            })
            .collect();
        let n_cells = cells.len();
        let pipelined = r["pipelined"].as_array().unwrap();
        assert!(!pipelined.is_empty());
        cells.extend(pipelined.iter().map(|p| PlotCell {
            mode: "sync".into(),
            body_size: f(&p["body_size"]) as usize,
            threads: 1,
            msgs_per_s: f(&p["msgs_per_s"]),
            p99_us: f(&p["latency_us"]["p99"]),
            bytes_per_msg: 0.0,
            in_flight: Some(f(&p["in_flight"]) as usize),
        }));
        let info = PlotInfo {
            title: format!(
                "rmqstore bench ({}): {} CPUs, {}, disk {:.0} MB/s",
                r["plan"]["level"].as_str().unwrap(),
                r["machine"]["nproc"],
                r["machine"]["fs_type"].as_str().unwrap(),
                f(&r["disk"]["seq_write_bytes_per_s"]) / 1e6
            ),
            disk_bytes_per_s: f(&r["disk"]["seq_write_bytes_per_s"]),
            fsync_p99_us: f(&r["disk"]["fdatasync_prealloc_us"]["p99"]),
        };
        let g = groups(&cells, &info, true);
        let bars: usize = g.iter().map(|g| g.bars.len()).sum();
        assert_eq!(bars, n_cells + pipelined.len());
        assert!(g.iter().any(|g| g.label.contains('×')));
        let dir = tempfile::tempdir().unwrap();
        let out = std::env::var_os("RMQSTORE_REPLOT")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| dir.path().to_path_buf());
        write_plot(
            &out.join("bench.png"),
            &out.join("bench.svg"),
            &cells,
            &info,
        )
        .unwrap();
    }
}

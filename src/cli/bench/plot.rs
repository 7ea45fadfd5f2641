//! The bench plot: two stacked bar charts on log scales, throughput (msg/s) and put latency p99
//! (µs), one group of bars per flush mode and body size, one bar per writer-thread count.
//! The throughput chart marks, per group, the message rate at which the disk's sequential
//! write bandwidth would be used up; the latency chart marks the disk's fdatasync p99.
//! Drawn into an RGB buffer with the built-in bitmap font and written with the `png` crate.

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

use super::font;

type Rgb = [u8; 3];

const WHITE: Rgb = [255, 255, 255];
const BLACK: Rgb = [0, 0, 0];
const GRID: Rgb = [220, 220, 220];
const LIMIT: Rgb = [200, 30, 30];
/// Bar colours by writer-thread count: 1, 4, 16, 64.
const THREAD_COLOURS: [(usize, Rgb); 4] = [
    (1, [66, 133, 244]),
    (4, [52, 168, 83]),
    (16, [251, 188, 5]),
    (64, [155, 89, 182]),
];

fn thread_colour(threads: usize) -> Rgb {
    THREAD_COLOURS
        .iter()
        .find(|(t, _)| *t == threads)
        .map(|(_, c)| *c)
        .unwrap_or([120, 120, 120])
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
}

/// What the plot shows besides the cells.
#[derive(Debug, Clone)]
pub struct PlotInfo {
    pub title: String,
    pub disk_bytes_per_s: f64,
    pub fsync_p99_us: f64,
}

struct Canvas {
    w: usize,
    h: usize,
    px: Vec<u8>,
}

impl Canvas {
    fn new(w: usize, h: usize) -> Canvas {
        Canvas {
            w,
            h,
            px: vec![255; w * h * 3],
        }
    }

    fn set(&mut self, x: i64, y: i64, c: Rgb) {
        if x < 0 || y < 0 || x as usize >= self.w || y as usize >= self.h {
            return;
        }
        let i = (y as usize * self.w + x as usize) * 3;
        self.px[i..i + 3].copy_from_slice(&c);
    }

    fn rect(&mut self, x0: i64, y0: i64, x1: i64, y1: i64, c: Rgb) {
        for y in y0.min(y1)..y0.max(y1) {
            for x in x0.min(x1)..x0.max(x1) {
                self.set(x, y, c);
            }
        }
    }

    fn hline(&mut self, x0: i64, x1: i64, y: i64, c: Rgb, dash: Option<i64>) {
        for x in x0..x1 {
            if dash.is_none_or(|d| (x - x0) / d % 2 == 0) {
                self.set(x, y, c);
            }
        }
    }

    fn vline(&mut self, x: i64, y0: i64, y1: i64, c: Rgb) {
        for y in y0..y1 {
            self.set(x, y, c);
        }
    }

    fn text_width(s: &str, scale: i64) -> i64 {
        s.chars().count() as i64 * (font::W as i64 + 1) * scale
    }

    /// Draws `s` with its top-left corner at (x, y).
    fn text(&mut self, x: i64, y: i64, s: &str, scale: i64, c: Rgb) {
        let mut cx = x;
        for ch in s.chars() {
            let g = font::glyph(ch);
            for (row, bits) in g.iter().enumerate() {
                for col in 0..font::W {
                    if bits & (1 << (font::W - 1 - col)) != 0 {
                        let px = cx + col as i64 * scale;
                        let py = y + row as i64 * scale;
                        self.rect(px, py, px + scale, py + scale, c);
                    }
                }
            }
            cx += (font::W as i64 + 1) * scale;
        }
    }

    fn text_centered(&mut self, cx: i64, y: i64, s: &str, scale: i64, c: Rgb) {
        let w = Self::text_width(s, scale);
        self.text(cx - w / 2, y, s, scale, c);
    }

    fn text_right(&mut self, rx: i64, y: i64, s: &str, scale: i64, c: Rgb) {
        let w = Self::text_width(s, scale);
        self.text(rx - w, y, s, scale, c);
    }

    fn write_png(&self, path: &Path) -> std::io::Result<()> {
        let f = BufWriter::new(File::create(path)?);
        let mut enc = png::Encoder::new(f, self.w as u32, self.h as u32);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        enc.set_compression(png::Compression::High);
        let mut w = enc.write_header().map_err(std::io::Error::other)?;
        w.write_image_data(&self.px)
            .map_err(std::io::Error::other)?;
        w.finish().map_err(std::io::Error::other)
    }
}

/// "1.2K", "35K", "1.5M": a short label for a bar.
pub fn short_number(v: f64) -> String {
    let (x, suffix) = if v >= 1e9 {
        (v / 1e9, "G")
    } else if v >= 1e6 {
        (v / 1e6, "M")
    } else if v >= 1e3 {
        (v / 1e3, "K")
    } else {
        (v, "")
    };
    if x >= 10.0 {
        format!("{x:.0}{suffix}")
    } else {
        format!("{x:.1}{suffix}")
    }
}

/// "1", "10", "100", "1K", ... for the decade 10^d (d >= 0); "0.1", "0.01" below.
fn decade_label(d: i32) -> String {
    if d < 0 {
        return format!("{}", 10f64.powi(d));
    }
    let (n, suffix) = match d {
        0..=2 => (d, ""),
        3..=5 => (d - 3, "K"),
        6..=8 => (d - 6, "M"),
        _ => (d - 9, "G"),
    };
    format!("{}{suffix}", 10u64.pow(n as u32))
}

fn size_label(bytes: usize) -> String {
    if bytes >= 1024 && bytes % 1024 == 0 {
        format!("{} KIB", bytes / 1024)
    } else {
        format!("{bytes} B")
    }
}

/// A group of bars: label lines, bars (writer threads, value), and an optional limit line.
type Group = (Vec<String>, Vec<(usize, f64)>, Option<f64>);

/// A log-scale panel: groups of bars with labels.
struct Panel<'a> {
    top: i64,
    height: i64,
    title: &'a str,
    /// Per group: (label lines, bars (threads, value), optional limit line value).
    groups: Vec<Group>,
    /// A limit across the whole panel (value, label).
    global_limit: Option<(f64, String)>,
}

const LEFT: i64 = 110;
const RIGHT_MARGIN: i64 = 30;

fn draw_panel(cv: &mut Canvas, p: &Panel<'_>) {
    let plot_top = p.top + 40;
    let plot_bottom = p.top + p.height - 60;
    let right = cv.w as i64 - RIGHT_MARGIN;
    cv.text(LEFT, p.top + 12, p.title, 2, BLACK);
    let mut values: Vec<f64> = p
        .groups
        .iter()
        .flat_map(|g| g.1.iter().map(|b| b.1).chain(g.2))
        .chain(p.global_limit.as_ref().map(|l| l.0))
        .filter(|v| *v > 0.0 && v.is_finite())
        .collect();
    if values.is_empty() {
        values.push(1.0);
    }
    let lo = values.iter().cloned().fold(f64::INFINITY, f64::min);
    let hi = values.iter().cloned().fold(0.0, f64::max);
    let dec_lo = lo.log10().floor() as i32;
    let dec_hi = (hi.log10().ceil() as i32).max(dec_lo + 1);
    let y_of = |v: f64| -> i64 {
        let v = v.max(10f64.powi(dec_lo));
        let f = (v.log10() - dec_lo as f64) / (dec_hi - dec_lo) as f64;
        plot_bottom - (f * (plot_bottom - plot_top) as f64).round() as i64
    };
    // Decade grid lines and labels.
    for d in dec_lo..=dec_hi {
        let y = y_of(10f64.powi(d));
        cv.hline(LEFT, right, y, GRID, None);
        cv.text_right(LEFT - 8, y - 7, &decade_label(d), 2, BLACK);
    }
    cv.vline(LEFT, plot_top, plot_bottom + 1, BLACK);
    cv.hline(LEFT, right, plot_bottom, BLACK, None);
    // Groups share the width in proportion to their bar count (plus a gap each).
    let slots: usize = p.groups.iter().map(|g| g.1.len() + 1).sum();
    let slot_w = ((right - LEFT) as f64 / slots.max(1) as f64).floor() as i64;
    let mut x = LEFT + slot_w / 2;
    // One label size for the whole panel: large when every label fits its bar.
    let label_scale = if p
        .groups
        .iter()
        .flat_map(|g| &g.1)
        .all(|(_, v)| Canvas::text_width(&short_number(*v), 2) <= slot_w)
    {
        2
    } else {
        1
    };
    for (labels, bars, limit) in &p.groups {
        let gx0 = x;
        for (threads, v) in bars {
            let y = y_of(*v);
            cv.rect(
                x + 2,
                y,
                x + slot_w - 2,
                plot_bottom,
                thread_colour(*threads),
            );
            if *v > 0.0 {
                let label = short_number(*v);
                let scale = label_scale;
                cv.text_centered(x + slot_w / 2, y - 9 * scale, &label, scale, BLACK);
            }
            x += slot_w;
        }
        let gx1 = x;
        if let Some(l) = limit {
            let y = y_of(*l);
            for dy in 0..2 {
                cv.hline(gx0 - 4, gx1 + 4, y + dy, LIMIT, Some(6));
            }
        }
        for (i, l) in labels.iter().enumerate() {
            cv.text_centered(
                (gx0 + gx1) / 2,
                plot_bottom + 10 + i as i64 * 20,
                l,
                2,
                BLACK,
            );
        }
        x += slot_w;
    }
    if let Some((v, label)) = &p.global_limit {
        let y = y_of(*v);
        for dy in 0..2 {
            cv.hline(LEFT, right, y + dy, LIMIT, Some(6));
        }
        let w = Canvas::text_width(label, 2);
        cv.rect(right - w - 4, y - 20, right, y - 2, WHITE);
        cv.text_right(right, y - 18, label, 2, LIMIT);
    }
}

/// Draws the plot of `cells` into a PNG at `path`.
pub fn write_plot(path: &Path, cells: &[PlotCell], info: &PlotInfo) -> std::io::Result<()> {
    let (w, h) = (1700usize, 1000usize);
    let mut cv = Canvas::new(w, h);
    cv.rect(0, 0, w as i64, h as i64, WHITE);
    cv.text(LEFT, 14, &info.title, 2, BLACK);
    // Legend.
    let mut lx = LEFT;
    let ly = 44;
    for (t, c) in THREAD_COLOURS {
        if !cells.iter().any(|cell| cell.threads == t) {
            continue;
        }
        cv.rect(lx, ly, lx + 18, ly + 14, c);
        let label = format!("{t} WRITER{}", if t == 1 { "" } else { "S" });
        cv.text(lx + 24, ly, &label, 2, BLACK);
        lx += 24 + Canvas::text_width(&label, 2) + 30;
    }
    for dy in 0..2 {
        cv.hline(lx, lx + 30, ly + 7 + dy, LIMIT, Some(6));
    }
    cv.text(lx + 38, ly, "DISK LIMIT", 2, LIMIT);

    // Groups in first-seen order of (mode, size).
    let mut keys: Vec<(String, usize)> = Vec::new();
    for c in cells {
        let k = (c.mode.clone(), c.body_size);
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    let group = |mode: &str, size: usize| -> Vec<&PlotCell> {
        let mut v: Vec<&PlotCell> = cells
            .iter()
            .filter(|c| c.mode == mode && c.body_size == size)
            .collect();
        v.sort_by_key(|c| c.threads);
        v
    };
    let labels = |mode: &str, size: usize| vec![mode.to_ascii_uppercase(), size_label(size)];
    let tput = Panel {
        top: 70,
        height: 455,
        title:
            "THROUGHPUT, MESSAGES/S (LOG SCALE); DASHES: DISK SEQ. WRITE BANDWIDTH / RECORD SIZE",
        groups: keys
            .iter()
            .map(|(m, s)| {
                let g = group(m, *s);
                let bpm = g.iter().map(|c| c.bytes_per_msg).fold(0.0, f64::max);
                let limit =
                    (bpm > 0.0 && info.disk_bytes_per_s > 0.0).then(|| info.disk_bytes_per_s / bpm);
                (
                    labels(m, *s),
                    g.iter().map(|c| (c.threads, c.msgs_per_s)).collect(),
                    limit,
                )
            })
            .collect(),
        global_limit: None,
    };
    draw_panel(&mut cv, &tput);
    let lat = Panel {
        top: 525,
        height: 475,
        title: "PUT LATENCY P99, MICROSECONDS (LOG SCALE); DASHES: FDATASYNC P99 OF THE DISK",
        groups: keys
            .iter()
            .map(|(m, s)| {
                (
                    labels(m, *s),
                    group(m, *s).iter().map(|c| (c.threads, c.p99_us)).collect(),
                    None,
                )
            })
            .collect(),
        global_limit: (info.fsync_p99_us > 0.0).then(|| {
            (
                info.fsync_p99_us,
                format!("FDATASYNC P99 {:.0} US", info.fsync_p99_us),
            )
        }),
    };
    draw_panel(&mut cv, &lat);
    cv.write_png(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_numbers() {
        assert_eq!(short_number(5.0), "5.0");
        assert_eq!(short_number(42.0), "42");
        assert_eq!(short_number(1234.0), "1.2K");
        assert_eq!(short_number(227_000.0), "227K");
        assert_eq!(short_number(1_500_000.0), "1.5M");
        assert_eq!(decade_label(0), "1");
        assert_eq!(decade_label(4), "10K");
        assert_eq!(decade_label(6), "1M");
        assert_eq!(decade_label(-1), "0.1");
    }

    #[test]
    fn writes_a_png_of_the_requested_size() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.png");
        let cells = vec![PlotCell {
            mode: "async".into(),
            body_size: 128,
            threads: 1,
            msgs_per_s: 200_000.0,
            p99_us: 12.0,
            bytes_per_msg: 250.0,
        }];
        let info = PlotInfo {
            title: "T".into(),
            disk_bytes_per_s: 1e9,
            fsync_p99_us: 200.0,
        };
        write_plot(&path, &cells, &info).unwrap();
        let dec = png::Decoder::new(std::io::BufReader::new(File::open(&path).unwrap()));
        let reader = dec.read_info().unwrap();
        assert_eq!(reader.info().width, 1700);
        assert_eq!(reader.info().height, 1000);
    }
}

//! Aligned text tables for the human-readable reports.

use std::io::{self, Write};

/// A table: a header row and rows of cells; columns marked numeric are right-aligned.
#[derive(Debug, Default)]
pub struct Table {
    headers: Vec<String>,
    numeric: Vec<bool>,
    rows: Vec<Vec<String>>,
}

/// Display width of a cell: CJK and other wide characters take two columns.
fn width(s: &str) -> usize {
    s.chars()
        .map(|c| {
            let c = c as u32;
            let wide = (0x1100..=0x115F).contains(&c)
                || (0x2E80..=0xA4CF).contains(&c)
                || (0xAC00..=0xD7A3).contains(&c)
                || (0xF900..=0xFAFF).contains(&c)
                || (0xFE30..=0xFE4F).contains(&c)
                || (0xFF00..=0xFF60).contains(&c)
                || (0xFFE0..=0xFFE6).contains(&c);
            if wide {
                2
            } else {
                1
            }
        })
        .sum()
}

/// Widest a text cell is printed: longer ones (a 118- or 218-character topic) are cut in the
/// middle, so one long name does not widen every row; `--json` keeps the full text.
pub const MAX_CELL: usize = 60;

/// `s` if it is at most `max` columns wide, else its start and end around a `…`.
pub fn ellipsize(s: &str, max: usize) -> String {
    if width(s) <= max || max < 5 {
        return s.to_string();
    }
    let keep = max - 1;
    let head_w = keep.div_ceil(2);
    let tail_w = keep - head_w;
    let (mut head, mut w) = (String::new(), 0);
    for c in s.chars() {
        let cw = width(c.encode_utf8(&mut [0; 4]));
        if w + cw > head_w {
            break;
        }
        head.push(c);
        w += cw;
    }
    let (mut tail, mut w) = (Vec::new(), 0);
    for c in s.chars().rev() {
        let cw = width(c.encode_utf8(&mut [0; 4]));
        if w + cw > tail_w {
            break;
        }
        tail.push(c);
        w += cw;
    }
    head.push('…');
    head.extend(tail.into_iter().rev());
    head
}

impl Table {
    /// Columns by header; a header ending in `>` is right-aligned (the `>` is not printed).
    pub fn new(headers: &[&str]) -> Table {
        Table {
            headers: headers
                .iter()
                .map(|h| h.trim_end_matches('>').to_string())
                .collect(),
            numeric: headers.iter().map(|h| h.ends_with('>')).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row; text cells wider than [`MAX_CELL`] are cut in the middle.
    pub fn row(&mut self, cells: Vec<String>) {
        let cells = cells
            .into_iter()
            .enumerate()
            .map(|(i, c)| {
                if self.numeric.get(i).copied().unwrap_or(false) {
                    c
                } else {
                    ellipsize(&c, MAX_CELL)
                }
            })
            .collect();
        self.rows.push(cells);
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Writes the table, each line indented by `indent` spaces.
    pub fn write(&self, out: &mut impl Write, indent: usize) -> io::Result<()> {
        let n = self.headers.len();
        let mut widths: Vec<usize> = self.headers.iter().map(|h| width(h)).collect();
        for r in &self.rows {
            for (i, c) in r.iter().enumerate().take(n) {
                widths[i] = widths[i].max(width(c));
            }
        }
        let line = |cells: &[String], out: &mut dyn Write| -> io::Result<()> {
            let mut s = " ".repeat(indent);
            for (i, w) in widths.iter().enumerate() {
                let c = cells.get(i).map(String::as_str).unwrap_or("");
                let pad = w.saturating_sub(width(c));
                let last = i + 1 == n;
                if self.numeric[i] {
                    s.push_str(&" ".repeat(pad));
                    s.push_str(c);
                } else {
                    s.push_str(c);
                    if !last {
                        s.push_str(&" ".repeat(pad));
                    }
                }
                if !last {
                    s.push_str("  ");
                }
            }
            writeln!(out, "{}", s.trim_end())
        };
        line(&self.headers, out)?;
        for r in &self.rows {
            line(r, out)?;
        }
        Ok(())
    }
}

/// Key/value lines, the keys padded to one width.
pub fn write_fields(
    out: &mut impl Write,
    fields: &[(&str, String)],
    indent: usize,
) -> io::Result<()> {
    let w = fields.iter().map(|(k, _)| width(k)).max().unwrap_or(0);
    for (k, v) in fields {
        writeln!(
            out,
            "{}{}{}  {}",
            " ".repeat(indent),
            k,
            " ".repeat(w - width(k)),
            v
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_cells_are_cut_in_the_middle_and_short_ones_kept() {
        assert_eq!(ellipsize("TopicTest", 60), "TopicTest");
        let long = format!("T{}", "x".repeat(116)) + "Z";
        let cut = ellipsize(&long, 20);
        assert_eq!(width(&cut), 20);
        assert!(cut.starts_with("Txxxxxxxx") && cut.ends_with("xxZ") && cut.contains('…'));
        let wide = "主题".repeat(40);
        assert!(width(&ellipsize(&wide, 21)) <= 21);
        let mut t = Table::new(&["topic", "n>"]);
        t.row(vec![long.clone(), "1".repeat(70)]);
        let mut out = Vec::new();
        t.write(&mut out, 0).unwrap();
        let text = String::from_utf8(out).unwrap();
        let row = text.lines().nth(1).unwrap();
        assert_eq!(width(row), MAX_CELL + 2 + 70, "{row}");
    }
}

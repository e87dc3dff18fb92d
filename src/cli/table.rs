//! Plain-text tables for terminal output: left-aligned text, right-aligned numbers.

/// A table under construction.
#[derive(Debug, Default)]
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
    right: Vec<bool>,
}

impl Table {
    /// A table with these column names; `right[i]` right-aligns column `i`.
    pub fn new(header: &[&str], right: &[bool]) -> Self {
        Table { header: header.iter().map(|s| s.to_string()).collect(), rows: Vec::new(), right: right.to_vec() }
    }

    /// Adds a row.
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// Renders with two spaces between columns and a rule under the header.
    pub fn render(&self) -> String {
        let n = self.header.len();
        let mut width = vec![0usize; n];
        for r in std::iter::once(&self.header).chain(self.rows.iter()) {
            for (i, c) in r.iter().enumerate().take(n) {
                width[i] = width[i].max(display_width(c));
            }
        }
        let mut out = String::new();
        let line = |cells: &Vec<String>, out: &mut String| {
            let mut parts = Vec::new();
            for (i, w) in width.iter().enumerate() {
                let c = cells.get(i).map(String::as_str).unwrap_or("");
                let pad = w.saturating_sub(display_width(c));
                if self.right.get(i).copied().unwrap_or(false) {
                    parts.push(format!("{}{c}", " ".repeat(pad)));
                } else if i + 1 == n {
                    parts.push(c.to_string());
                } else {
                    parts.push(format!("{c}{}", " ".repeat(pad)));
                }
            }
            out.push_str(parts.join("  ").trim_end());
            out.push('\n');
        };
        line(&self.header, &mut out);
        let rule: Vec<String> = width.iter().map(|w| "─".repeat(*w)).collect();
        out.push_str(&rule.join("  "));
        out.push('\n');
        for r in &self.rows {
            line(r, &mut out);
        }
        out
    }
}

/// Terminal columns taken by `s` (emoji badges count two).
pub fn display_width(s: &str) -> usize {
    s.chars()
        .map(|c| match c as u32 {
            0x1F300..=0x1FAFF | 0x2600..=0x27BF => 2,
            0xFE0F | 0x200D => 0,
            _ => 1,
        })
        .sum()
}

/// A number with up to `dp` decimals and trailing zeros removed (`134.4`, `2`).
pub fn fmt_num(v: f64, dp: usize) -> String {
    if !v.is_finite() {
        return crate::numeric::py_float_repr(v);
    }
    let s = format!("{v:.dp$}");
    if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s }
}

//! Private silicon anchors: a TOML file of measured rates per anchor cell
//! (`[npu_llm_anchors.<tier>_<precision>.<model_key>]`, `[cnn_anchors…]`, spec §3.14), read
//! from `--anchors FILE` or `RATCHET_ANCHORS`, never embedded.
//!
//! The numbers are confidential. Nothing here ever puts a value into a message: diagnostics
//! name the section and key and say what is wrong with the type, and a TOML syntax error is
//! reported by line and column only (the parser's own message quotes the text).

use crate::diagnostic::{Diagnostic, Report, did_you_mean};
use crate::error::EngineError;
use crate::formats::registry::AnchorFieldDefaults;
use schemars::JsonSchema;
use serde::Serialize;
use std::path::{Path, PathBuf};
use toml::{Table, Value};

/// The two sections the file may have.
pub const LLM_SECTION: &str = "npu_llm_anchors";
/// CNN anchors.
pub const CNN_SECTION: &str = "cnn_anchors";

const LLM_FLOATS: &[&str] =
    &["tokps", "prefill_tokps", "mem_gb", "peak_bw_gbps", "bw_share_frac", "bw_efficiency_frac"];
const CNN_FLOATS: &[&str] =
    &["ms_per_inference", "fps", "mem_mb", "peak_bw_gbps", "bw_share_frac", "bw_efficiency_frac"];
const LLM_TEXT: &[&str] = &["source", "measured_date", "notes"];
const CNN_TEXT: &[&str] = &["input_res", "source", "measured_date", "notes"];

/// A measured LLM anchor (spec §1.10).
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct LlmAnchor {
    /// Decode rate, tok/s (> 0).
    pub tokps: f64,
    /// Prefill rate, tok/s (0: none).
    pub prefill_tokps: f64,
    /// Memory, GB.
    pub mem_gb: f64,
    /// Sequence length of the measurement, tokens.
    pub seqlen: i64,
    /// `measured`, `derived_from_measured`, `vendor_spec`, `projected`, …
    pub source: String,
    /// Measurement date.
    pub measured_date: String,
    /// Peak bandwidth of the measured part, GB/s.
    pub peak_bw_gbps: f64,
    /// Bandwidth share of the NPU, fraction.
    pub bw_share_frac: f64,
    /// Bandwidth efficiency, fraction.
    pub bw_efficiency_frac: f64,
    /// Notes.
    pub notes: String,
}

/// A measured CNN anchor (spec §1.10).
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct CnnAnchor {
    /// Latency per inference, ms (> 0).
    pub ms_per_inference: f64,
    /// Frames per second (derived from the latency when absent or ≤ 0).
    pub fps: f64,
    /// Memory, MB.
    pub mem_mb: f64,
    /// Input resolution, e.g. `224x224`.
    pub input_res: String,
    /// Source label.
    pub source: String,
    /// Measurement date.
    pub measured_date: String,
    /// Peak bandwidth, GB/s.
    pub peak_bw_gbps: f64,
    /// Bandwidth share, fraction.
    pub bw_share_frac: f64,
    /// Bandwidth efficiency, fraction.
    pub bw_efficiency_frac: f64,
    /// Notes.
    pub notes: String,
}

/// A loaded anchor file.
#[derive(Clone)]
pub struct AnchorFile {
    path: PathBuf,
    doc: Table,
}

impl std::fmt::Debug for AnchorFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // never the contents
        write!(f, "AnchorFile({})", self.path.display())
    }
}

fn bad_type(section: &str, cell: &str, key: &str, want: &str) -> EngineError {
    EngineError::InvalidValue(format!("anchor file: `{section}.{cell}.{key}` must be {want}"))
}

/// Python's `float(v)` on a TOML value: numbers and numeric text convert.
fn to_float(v: &Value) -> Option<f64> {
    match v {
        Value::Float(x) => Some(*x),
        Value::Integer(i) => Some(*i as f64),
        Value::Boolean(b) => Some(f64::from(u8::from(*b))),
        Value::String(s) => {
            let t = s.trim();
            match t.to_ascii_lowercase().as_str() {
                "inf" | "+inf" | "infinity" => Some(f64::INFINITY),
                "-inf" | "-infinity" => Some(f64::NEG_INFINITY),
                "nan" | "+nan" | "-nan" => Some(f64::NAN),
                _ => t.replace('_', "").parse().ok().filter(|_| !t.starts_with('_') && !t.ends_with('_')),
            }
        }
        _ => None,
    }
}

/// Python's `str(v)` on a TOML value.
fn to_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Integer(i) => i.to_string(),
        Value::Float(x) => crate::numeric::py_float_repr(*x),
        Value::Boolean(b) => if *b { "True" } else { "False" }.to_string(),
        Value::Datetime(d) => d.to_string(),
        other => other.to_string(),
    }
}

/// Python's `int(v)`: floats truncate toward zero; integer text converts.
fn to_int(v: &Value) -> Option<i64> {
    match v {
        Value::Integer(i) => Some(*i),
        Value::Float(x) if x.is_finite() => Some(x.trunc() as i64),
        Value::Boolean(b) => Some(i64::from(*b)),
        Value::String(s) => s.trim().replace('_', "").parse().ok(),
        _ => None,
    }
}

/// A numeric field used in a comparison (`tokps`, `ms_per_inference`): must be a number.
fn to_number(v: &Value) -> Option<f64> {
    match v {
        Value::Float(x) => Some(*x),
        Value::Integer(i) => Some(*i as f64),
        _ => None,
    }
}

impl AnchorFile {
    /// Reads and checks an anchor file. Type errors in present values are errors (the
    /// reference crashes on them); cells the reference treats as absent (missing or
    /// non-positive rate) are warnings; so are unknown keys and a world-readable file.
    pub fn load(path: &Path) -> (Option<AnchorFile>, Report) {
        match std::fs::read(path) {
            Ok(bytes) => {
                let (file, mut report) = Self::parse(path, &bytes);
                if file.is_some() {
                    permission_warning(path, &mut report);
                }
                (file, report)
            }
            Err(e) => {
                let mut report = Report::default();
                let shown = path.display().to_string();
                report.push(Diagnostic::error("io", format!("cannot read the anchor file: {e}")).in_file(shown));
                (None, report)
            }
        }
    }

    /// Checks the bytes of an anchor file said to be at `path` (nothing is read from disk).
    pub fn parse(path: &Path, bytes: &[u8]) -> (Option<AnchorFile>, Report) {
        let mut report = Report::default();
        let shown = path.display().to_string();
        if bytes.len() > crate::limits::MAX_FILE_BYTES {
            let msg = format!(
                "the anchor file is {} bytes; the limit for a data file is {} bytes",
                bytes.len(),
                crate::limits::MAX_FILE_BYTES
            );
            report.push(Diagnostic::error("limit", msg).in_file(shown));
            return (None, report);
        }
        let Ok(text) = std::str::from_utf8(bytes) else {
            report.push(Diagnostic::error("anchors", "the anchor file is not valid UTF-8").in_file(shown));
            return (None, report);
        };
        let doc: Table = match text.parse() {
            Ok(d) => d,
            Err(e) => {
                // the parser's message quotes the offending text: report only where
                let (line, col) = e.span().map(|s| crate::document::line_col(text, s.start)).unwrap_or((0, 0));
                let mut d = Diagnostic::error("anchors", "the anchor file is not valid TOML").in_file(shown.clone());
                d.line = line;
                d.col = col;
                report.push(d);
                return (None, report);
            }
        };
        let file = AnchorFile { path: path.to_path_buf(), doc };
        for (section, floats, texts, rate, extra_int) in [
            (LLM_SECTION, LLM_FLOATS, LLM_TEXT, "tokps", Some("seqlen")),
            (CNN_SECTION, CNN_FLOATS, CNN_TEXT, "ms_per_inference", None),
        ] {
            file.check_section(section, floats, texts, rate, extra_int, &shown, &mut report);
        }
        for key in file.doc.keys() {
            if key != LLM_SECTION && key != CNN_SECTION {
                report.push(
                    Diagnostic::warning("anchors", format!("unknown top-level table `{key}` is ignored"))
                        .in_file(shown.clone())
                        .with_help(did_you_mean(key, [LLM_SECTION, CNN_SECTION])),
                );
            }
        }
        let ok = !report.has_errors();
        (ok.then_some(file), report)
    }

    #[allow(clippy::too_many_arguments)]
    fn check_section(
        &self,
        section: &str,
        floats: &[&str],
        texts: &[&str],
        rate: &str,
        int_key: Option<&str>,
        shown: &str,
        report: &mut Report,
    ) {
        let Some(sec) = self.doc.get(section) else { return };
        let Some(sec) = sec.as_table() else {
            report.push(
                Diagnostic::warning("anchors", format!("`{section}` is not a table and is ignored")).in_file(shown),
            );
            return;
        };
        for (cell_name, cell) in sec {
            let Some(cell) = cell.as_table() else {
                report.push(
                    Diagnostic::warning("anchors", format!("`{section}.{cell_name}` is not a table and is ignored"))
                        .in_file(shown),
                );
                continue;
            };
            for (key, entry) in cell {
                let at = format!("{section}.{cell_name}.{key}");
                let Some(entry) = entry.as_table() else {
                    report.push(
                        Diagnostic::warning("anchors", format!("`{at}` is not a table and is ignored")).in_file(shown),
                    );
                    continue;
                };
                let mut known: Vec<&str> = floats.iter().chain(texts).copied().collect();
                known.extend(int_key);
                for (k, v) in entry {
                    let path = format!("{at}.{k}");
                    if k == rate {
                        if to_number(v).is_none() {
                            report.push(
                                Diagnostic::error("anchors", format!("`{path}` must be a number")).in_file(shown),
                            );
                        }
                    } else if floats.contains(&k.as_str()) {
                        if to_float(v).is_none() {
                            report.push(
                                Diagnostic::error("anchors", format!("`{path}` must be a number (or numeric text)"))
                                    .in_file(shown),
                            );
                        }
                    } else if int_key == Some(k.as_str()) {
                        if to_int(v).is_none() {
                            report.push(
                                Diagnostic::error("anchors", format!("`{path}` must be an integer")).in_file(shown),
                            );
                        }
                    } else if !texts.contains(&k.as_str()) {
                        report.push(
                            Diagnostic::warning("anchors", format!("unknown key `{path}` is ignored"))
                                .in_file(shown)
                                .with_help(did_you_mean(k, known.iter().copied())),
                        );
                    } else if matches!(v, Value::Array(_) | Value::Table(_)) {
                        report.push(Diagnostic::error("anchors", format!("`{path}` must be text")).in_file(shown));
                    }
                }
                match entry.get(rate).and_then(to_number) {
                    None if !entry.contains_key(rate) => report.push(
                        Diagnostic::warning(
                            "anchors",
                            format!("`{at}` has no `{rate}`; the cell is treated as absent"),
                        )
                        .in_file(shown),
                    ),
                    Some(x) if x <= 0.0 => report.push(
                        Diagnostic::warning(
                            "anchors",
                            format!("`{at}.{rate}` is not positive; the cell is treated as absent"),
                        )
                        .in_file(shown),
                    ),
                    _ => {}
                }
            }
        }
    }

    /// Where the file is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn cell(&self, section: &str, tier: &str, precision: &str, key: &str) -> Option<&Table> {
        self.doc.get(section)?.as_table()?.get(&format!("{tier}_{precision}"))?.as_table()?.get(key)?.as_table()
    }

    /// `load_llm_anchor`: the cell, or `None` when any level is missing or the rate is
    /// missing or not positive; fields it leaves out take `defaults` (the registry's).
    pub fn llm(
        &self,
        tier: &str,
        precision: &str,
        model_key: &str,
        defaults: &AnchorFieldDefaults,
    ) -> Result<Option<LlmAnchor>, EngineError> {
        let Some(c) = self.cell(LLM_SECTION, tier, precision, model_key) else { return Ok(None) };
        let cell = format!("{tier}_{precision}");
        let tokps = match c.get("tokps") {
            None => return Ok(None),
            Some(v) => to_number(v)
                .ok_or_else(|| bad_type(LLM_SECTION, &format!("{cell}.{model_key}"), "tokps", "a number"))?,
        };
        if tokps <= 0.0 || tokps.is_nan() {
            return Ok(None);
        }
        let f = |k: &str, d: f64| -> Result<f64, EngineError> {
            match c.get(k) {
                None => Ok(d),
                Some(v) => {
                    to_float(v).ok_or_else(|| bad_type(LLM_SECTION, &format!("{cell}.{model_key}"), k, "a number"))
                }
            }
        };
        let t = |k: &str| c.get(k).map(to_text).unwrap_or_default();
        let seqlen = match c.get("seqlen") {
            None => 0,
            Some(v) => to_int(v)
                .ok_or_else(|| bad_type(LLM_SECTION, &format!("{cell}.{model_key}"), "seqlen", "an integer"))?,
        };
        Ok(Some(LlmAnchor {
            tokps,
            prefill_tokps: f("prefill_tokps", 0.0)?,
            mem_gb: f("mem_gb", 0.0)?,
            seqlen,
            source: t("source"),
            measured_date: t("measured_date"),
            peak_bw_gbps: f("peak_bw_gbps", 0.0)?,
            bw_share_frac: f("bw_share_frac", defaults.bw_share_frac)?,
            bw_efficiency_frac: f("bw_efficiency_frac", defaults.bw_efficiency_frac)?,
            notes: t("notes"),
        }))
    }

    /// `load_cnn_anchor`: the cell, or `None` when any level is missing or the latency is
    /// missing or not positive; `fps` is derived from the latency when absent or ≤ 0; fields
    /// it leaves out take `defaults` (the registry's).
    pub fn cnn(
        &self,
        tier: &str,
        precision: &str,
        cnn_key: &str,
        defaults: &AnchorFieldDefaults,
    ) -> Result<Option<CnnAnchor>, EngineError> {
        let Some(c) = self.cell(CNN_SECTION, tier, precision, cnn_key) else { return Ok(None) };
        let at = format!("{tier}_{precision}.{cnn_key}");
        let ms = match c.get("ms_per_inference") {
            None => return Ok(None),
            Some(v) => to_number(v).ok_or_else(|| bad_type(CNN_SECTION, &at, "ms_per_inference", "a number"))?,
        };
        if ms <= 0.0 || ms.is_nan() {
            return Ok(None);
        }
        let f = |k: &str, d: f64| -> Result<f64, EngineError> {
            match c.get(k) {
                None => Ok(d),
                Some(v) => to_float(v).ok_or_else(|| bad_type(CNN_SECTION, &at, k, "a number")),
            }
        };
        let t = |k: &str| c.get(k).map(to_text).unwrap_or_default();
        let mut fps = f("fps", 0.0)?;
        if fps <= 0.0 {
            fps = 1000.0 / ms;
        }
        Ok(Some(CnnAnchor {
            ms_per_inference: ms,
            fps,
            mem_mb: f("mem_mb", 0.0)?,
            input_res: t("input_res"),
            source: t("source"),
            measured_date: t("measured_date"),
            peak_bw_gbps: f("peak_bw_gbps", 0.0)?,
            bw_share_frac: f("bw_share_frac", defaults.bw_share_frac)?,
            bw_efficiency_frac: f("bw_efficiency_frac", defaults.bw_efficiency_frac)?,
            notes: t("notes"),
        }))
    }
}

/// What the overlay replaces.
#[derive(Debug, Clone, PartialEq)]
pub struct Overlay {
    /// Source label of the overlaid result.
    pub source: String,
    /// The fields of the result the rules rewrote (decode rate, TTFT, timings, …), by name.
    pub changes: crate::projection::ResultChanges,
    /// Anchor metadata.
    pub meta: crate::projection::SiliconAnchorMeta,
}

/// Derived quantities of an anchor (spec §3.14.3).
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct AnchorDerived {
    /// Badge of the anchor's source.
    pub badge: String,
    /// Achieved bandwidth, GB/s.
    pub achieved_bw_gbps: f64,
    /// Bytes read per decoded token (LLM anchors).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes_per_token: Option<f64>,
}

#[cfg(unix)]
fn permission_warning(path: &Path, report: &mut Report) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(m) = std::fs::metadata(path) {
        if m.permissions().mode() & 0o004 != 0 {
            report.push(
                Diagnostic::warning("anchors", "the anchor file is readable by every user on this machine")
                    .in_file(path.display().to_string())
                    .with_help(Some(format!("chmod 600 {}", path.display()))),
            );
        }
    }
}

#[cfg(not(unix))]
fn permission_warning(_: &Path, _: &mut Report) {}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(text: &str) -> (tempfile::TempDir, PathBuf) {
        let d = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let p = d.path().join("anchors.toml");
        std::fs::write(&p, text).unwrap_or_else(|e| panic!("{e}"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600));
        }
        (d, p)
    }

    #[test]
    fn wrong_types_are_errors_that_never_quote_values() {
        let (_d, p) = write("[npu_llm_anchors.mid_int8.m]\ntokps = \"secret-41.5\"\nprefill_tokps = \"abc-7777\"\n");
        let (f, r) = AnchorFile::load(&p);
        assert!(f.is_none());
        let text: String = r.diagnostics.iter().map(|d| d.one_line() + "\n").collect();
        assert!(text.contains("`npu_llm_anchors.mid_int8.m.tokps` must be a number"), "{text}");
        assert!(!text.contains("41.5") && !text.contains("7777"), "{text}");
    }

    #[test]
    fn syntax_errors_give_a_position_only() {
        let (_d, p) = write("[npu_llm_anchors.mid_int8.m]\ntokps = 42.125 secret\n");
        let (f, r) = AnchorFile::load(&p);
        assert!(f.is_none());
        let d = &r.diagnostics[0];
        assert_eq!(d.line, 2);
        assert!(!d.one_line().contains("42.125") && !d.one_line().contains("secret"), "{}", d.one_line());
    }

    #[test]
    fn absent_cells_warn() {
        let (_d, p) = write(
            "[npu_llm_anchors.mid_int8.m]\ntokps = 0.0\n[npu_llm_anchors.mid_int8.n]\nprefill_tokps = 3.0\ntokpz = 1\n",
        );
        let (f, r) = AnchorFile::load(&p);
        let f = f.unwrap_or_else(|| panic!("{r:?}"));
        assert_eq!(r.errors(), 0);
        assert_eq!(r.warnings(), 3, "{r:?}");
        let d = AnchorFieldDefaults { bw_share_frac: 0.75, bw_efficiency_frac: 0.70 };
        assert_eq!(f.llm("mid", "int8", "m", &d).ok().flatten(), None);
        assert!(r.diagnostics.iter().any(|d| d.help.as_deref() == Some("did you mean `tokps`?")));
    }
}

//! Diagnostics: every problem a user sees names its file, line and column, the offending
//! value, and a "did you mean" when a name is close to a known one. Errors and warnings are
//! kept apart (as in cedar-policy's validator); rendering is human (miette), JSON or GitHub
//! annotations.

use crate::document::{Span, line_col};
use serde::Serialize;
use std::fmt;
use std::sync::Arc;

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The data cannot be used.
    Error,
    /// The data is usable but probably not what was meant.
    Warning,
}

/// The text of a source file, shared by all diagnostics that point into it.
#[derive(Clone)]
pub struct SourceText {
    /// Path shown to the user.
    pub name: String,
    /// The text (lossy for non-UTF-8 files, so positions stay meaningful).
    pub text: Arc<String>,
}

impl fmt::Debug for SourceText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SourceText({:?}, {} bytes)", self.name, self.text.len())
    }
}

/// One finding.
#[derive(Clone, Serialize)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// Stable short code, e.g. `syntax`, `schema`, `range`, `unknown-reference`.
    pub code: &'static str,
    /// Lower-case sentence; user input in backticks.
    pub message: String,
    /// File shown to the user, when the finding is in a file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// 1-based line (0 when not in a file).
    pub line: usize,
    /// 1-based column in characters (0 when not in a file).
    pub col: usize,
    /// A suggestion such as "did you mean `bandwidth_efficiency`?".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
    #[serde(skip)]
    span: Option<Span>,
    #[serde(skip)]
    source: Option<SourceText>,
}

impl Diagnostic {
    /// An error not tied to a file position.
    pub fn error(code: &'static str, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            code,
            message: message.into(),
            file: None,
            line: 0,
            col: 0,
            help: None,
            span: None,
            source: None,
        }
    }

    /// A warning not tied to a file position.
    pub fn warning(code: &'static str, message: impl Into<String>) -> Self {
        Diagnostic { severity: Severity::Warning, ..Diagnostic::error(code, message) }
    }

    /// Points the diagnostic at `span` in `source`.
    pub fn at(mut self, source: &SourceText, span: Span) -> Self {
        let (line, col) = line_col(&source.text, span.start);
        self.file = Some(source.name.clone());
        self.line = line;
        self.col = col;
        self.span = Some(span);
        self.source = Some(source.clone());
        self
    }

    /// Names a file without a position (I/O errors).
    pub fn in_file(mut self, file: impl Into<String>) -> Self {
        self.file = Some(file.into());
        self
    }

    /// Adds a help line.
    pub fn with_help(mut self, help: Option<String>) -> Self {
        self.help = help;
        self
    }

    /// True for errors.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// `file:line:col` (or just the file, or nothing).
    pub fn location(&self) -> String {
        match (&self.file, self.line) {
            (Some(f), 0) => f.clone(),
            (Some(f), l) => format!("{f}:{l}:{}", self.col),
            (None, _) => String::new(),
        }
    }

    /// One line: `error[schema]: registry/tiers/x.ron:3:5: message (help)`.
    pub fn one_line(&self) -> String {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let loc = self.location();
        let mut s = if loc.is_empty() {
            format!("{sev}[{}]: {}", self.code, self.message)
        } else {
            format!("{sev}[{}]: {loc}: {}", self.code, self.message)
        };
        if let Some(h) = &self.help {
            s.push_str(&format!(" ({h})"));
        }
        s
    }

    /// A GitHub Actions workflow command.
    pub fn github(&self) -> String {
        let kind = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let mut props = Vec::new();
        if let Some(f) = &self.file {
            props.push(format!("file={}", gh_escape_prop(f)));
            if self.line > 0 {
                props.push(format!("line={}", self.line));
                props.push(format!("col={}", self.col));
            }
        }
        props.push(format!("title=ratchet {}", self.code));
        let mut msg = self.message.clone();
        if let Some(h) = &self.help {
            msg.push_str(&format!(" ({h})"));
        }
        format!("::{kind} {}::{}", props.join(","), gh_escape_data(&msg))
    }

    /// The miette rendering with a source snippet (no colours, so output is stable).
    pub fn render(&self) -> String {
        let report = MietteView { d: self };
        let handler = miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor())
            .with_width(100)
            .with_wrap_lines(false)
            .with_links(false);
        let mut out = String::new();
        if handler.render_report(&mut out, &report).is_err() {
            return self.one_line();
        }
        out
    }
}

fn gh_escape_data(s: &str) -> String {
    s.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

fn gh_escape_prop(s: &str) -> String {
    gh_escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

impl fmt::Debug for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.one_line())
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.one_line())
    }
}

struct MietteView<'a> {
    d: &'a Diagnostic,
}

impl fmt::Debug for MietteView<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.d.message)
    }
}

impl fmt::Display for MietteView<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let loc = self.d.location();
        if loc.is_empty() { write!(f, "{}", self.d.message) } else { write!(f, "{loc}: {}", self.d.message) }
    }
}

impl std::error::Error for MietteView<'_> {}

impl miette::Diagnostic for MietteView<'_> {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(self.d.code))
    }
    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.d.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.d.help.as_ref().map(|h| Box::new(h.as_str()) as Box<dyn fmt::Display>)
    }
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        match (&self.d.source, self.d.span) {
            (Some(src), Some(_)) if src.text.len() <= 256 * 1024 => Some(&*src.text as &dyn miette::SourceCode),
            _ => None,
        }
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        let span = self.d.span?;
        self.d.source.as_ref()?;
        let len = span.end.saturating_sub(span.start).clamp(1, 80);
        Some(Box::new(std::iter::once(miette::LabeledSpan::new(Some("here".into()), span.start, len))))
    }
}

/// The closest candidate to `name` (case-insensitive Jaro–Winkler ≥ 0.8 or edit distance ≤ 2),
/// formatted as a help line.
pub fn did_you_mean<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    closest(name, candidates).map(|c| format!("did you mean `{c}`?"))
}

/// The closest candidate to `name`, if any is close enough to be a plausible typo.
pub fn closest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let lname = name.to_lowercase();
    let mut best: Option<(f64, &str)> = None;
    for c in candidates {
        if c == name {
            continue;
        }
        let lc = c.to_lowercase();
        let jw = strsim::jaro_winkler(&lname, &lc);
        let lev = strsim::levenshtein(&lname, &lc);
        let close = lc == lname || lev <= 2.min(lname.len().max(1)) || jw >= 0.85;
        if close {
            let score = if lc == lname { 2.0 } else { jw - lev as f64 * 0.01 };
            if best.is_none_or(|(s, _)| score > s) {
                best = Some((score, c));
            }
        }
    }
    best.map(|(_, c)| c)
}

/// A list of diagnostics with helpers for the validate command.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// All findings, errors first within each file, in discovery order.
    pub diagnostics: Vec<Diagnostic>,
}

impl Report {
    /// Adds one finding.
    pub fn push(&mut self, d: Diagnostic) {
        self.diagnostics.push(d);
    }

    /// Number of errors.
    pub fn errors(&self) -> usize {
        self.diagnostics.iter().filter(|d| d.is_error()).count()
    }

    /// Number of warnings.
    pub fn warnings(&self) -> usize {
        self.diagnostics.len() - self.errors()
    }

    /// True when there is at least one error.
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }

    /// Adds all findings of another report.
    pub fn extend(&mut self, other: Report) {
        self.diagnostics.extend(other.diagnostics);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions() {
        let c = ["bandwidth_efficiency", "compute_efficiency", "tdp_watts"];
        assert_eq!(closest("bandwith_efficiency", c), Some("bandwidth_efficiency"));
        assert_eq!(closest("zzz", c), None);
        assert_eq!(closest("NPU mid", ["NPU Mid", "NPU High"]), Some("NPU Mid"));
    }

    #[test]
    fn github_escapes() {
        let d = Diagnostic::error("schema", "a\nb");
        assert!(d.github().ends_with("::a%0Ab"));
    }
}

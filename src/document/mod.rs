//! Data documents: RON or JSON text parsed into a tree that remembers where every value came
//! from, so that schema and semantic diagnostics can point at `file:line:col`.
//!
//! The `ron` and `serde_json` crates report positions only for their own syntax errors; a
//! schema error found later ("`bandwidth_efficiency` must be ≤ 1") needs the position of an
//! arbitrary value, which neither value type keeps. This small parser keeps it. The typed
//! structs are then read from the tree's JSON form with serde, so RON and JSON files share
//! one set of types and one schema.

mod parse;

use serde_json::{Map, Number, Value};
use std::fmt;

pub use parse::{MAX_DEPTH, MAX_FILE_BYTES, parse};

/// A byte range in a source text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

impl Span {
    /// A span covering `start..end`.
    pub fn new(start: usize, end: usize) -> Self {
        Span { start, end }
    }
}

/// The text format of a document, chosen by file extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Rusty Object Notation (`.ron`).
    Ron,
    /// JSON (`.json`).
    Json,
}

impl Format {
    /// The format for a file name, or `None` when the extension is neither `.ron` nor `.json`.
    pub fn from_path(path: &str) -> Option<Format> {
        let lower = path.to_ascii_lowercase();
        if lower.ends_with(".ron") {
            Some(Format::Ron)
        } else if lower.ends_with(".json") {
            Some(Format::Json)
        } else {
            None
        }
    }
}

/// One key of a map or struct, with its own span (for "unknown field" diagnostics).
#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    /// The key text.
    pub name: String,
    /// Where the key is written.
    pub span: Span,
}

/// A parsed value with its span.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// What the value is.
    pub kind: NodeKind,
    /// Where it is written.
    pub span: Span,
}

/// The shape of a parsed value.
#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    /// `null`, `None` or `()`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// A number; `integer` is true when the literal had no fraction or exponent.
    Number {
        /// The value.
        value: f64,
        /// Written as an integer literal.
        integer: bool,
    },
    /// A string.
    Str(String),
    /// A bare RON identifier such as an enum variant (`tensor_native`).
    Ident(String),
    /// A list `[...]` or a RON tuple `(a, b)`.
    List(Vec<Node>),
    /// A map `{...}` or a RON struct `Name(field: value)`.
    Map(Vec<(Key, Node)>),
}

/// One step of a path into a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathSeg {
    /// A map key or struct field.
    Key(String),
    /// A list index.
    Index(usize),
}

impl fmt::Display for PathSeg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathSeg::Key(k) => write!(f, "{k}"),
            PathSeg::Index(i) => write!(f, "[{i}]"),
        }
    }
}

/// Renders a path as `a.b[2].c`.
pub fn path_text(path: &[PathSeg]) -> String {
    let mut s = String::new();
    for seg in path {
        match seg {
            PathSeg::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            PathSeg::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

/// A problem found while turning a document into JSON (duplicate keys, non-finite numbers).
#[derive(Debug, Clone, PartialEq)]
pub struct ConvertIssue {
    /// Where.
    pub span: Span,
    /// What, lower-case.
    pub message: String,
}

impl Node {
    /// The JSON form of the document used for schema validation and typed reading.
    /// Problems are collected rather than stopping at the first.
    pub fn to_json(&self, issues: &mut Vec<ConvertIssue>) -> Value {
        match &self.kind {
            NodeKind::Null => Value::Null,
            NodeKind::Bool(b) => Value::Bool(*b),
            NodeKind::Number { value, integer } => {
                if !value.is_finite() {
                    issues.push(ConvertIssue {
                        span: self.span,
                        message: format!("`{}` is not a finite number", number_text(*value)),
                    });
                    return Value::Null;
                }
                if *integer && value.fract() == 0.0 && value.abs() < 9.0e15 {
                    Value::Number(Number::from(*value as i64))
                } else {
                    Number::from_f64(*value).map(Value::Number).unwrap_or(Value::Null)
                }
            }
            NodeKind::Str(s) | NodeKind::Ident(s) => Value::String(s.clone()),
            NodeKind::List(items) => Value::Array(items.iter().map(|n| n.to_json(issues)).collect()),
            NodeKind::Map(entries) => {
                let mut map = Map::new();
                for (k, v) in entries {
                    if map.contains_key(&k.name) {
                        issues.push(ConvertIssue { span: k.span, message: format!("duplicate key `{}`", k.name) });
                        continue;
                    }
                    map.insert(k.name.clone(), v.to_json(issues));
                }
                Value::Object(map)
            }
        }
    }

    /// The node at `path`, or the deepest node on the way when the path leaves the document.
    pub fn locate(&self, path: &[PathSeg]) -> &Node {
        let mut cur = self;
        for seg in path {
            let next = match (seg, &cur.kind) {
                (PathSeg::Key(k), NodeKind::Map(entries)) => {
                    entries.iter().find(|(key, _)| &key.name == k).map(|(_, v)| v)
                }
                (PathSeg::Index(i), NodeKind::List(items)) => items.get(*i),
                _ => None,
            };
            match next {
                Some(n) => cur = n,
                None => break,
            }
        }
        cur
    }

    /// The span of the key `key` inside the map at `path`, falling back to the map's span.
    pub fn key_span(&self, path: &[PathSeg], key: &str) -> Span {
        let node = self.locate(path);
        if let NodeKind::Map(entries) = &node.kind {
            if let Some((k, _)) = entries.iter().find(|(k, _)| k.name == key) {
                return k.span;
            }
        }
        node.span
    }

    /// The span of the value at `path` (or the deepest existing ancestor).
    pub fn span_at(&self, path: &[PathSeg]) -> Span {
        self.locate(path).span
    }
}

/// Shortest round-trip text of a float with a decimal point for integral values (`14.0`).
pub fn number_text(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "inf".into() } else { "-inf".into() }
    } else {
        format!("{v:?}")
    }
}

/// Line and column (both 1-based; the column counts characters) of byte `offset` in `text`.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let mut line = 1;
    let mut line_start = 0;
    for (i, b) in text.as_bytes()[..offset].iter().enumerate() {
        if *b == b'\n' {
            line += 1;
            line_start = i + 1;
        }
    }
    let col = text.get(line_start..offset).map(|s| s.chars().count()).unwrap_or(offset - line_start) + 1;
    (line, col)
}

/// Parses a JSON pointer (`/a/0/b`) into path segments; numeric segments become indices.
pub fn pointer_to_path(pointer: &str) -> Vec<PathSeg> {
    pointer
        .split('/')
        .skip(1)
        .map(|raw| {
            let seg = raw.replace("~1", "/").replace("~0", "~");
            match seg.parse::<usize>() {
                Ok(i) if !seg.starts_with('+') => PathSeg::Index(i),
                _ => PathSeg::Key(seg),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_chars() {
        let t = "ab\ncdé f";
        assert_eq!(line_col(t, 0), (1, 1));
        assert_eq!(line_col(t, 3), (2, 1));
        let off = t.find('f').unwrap_or(0);
        assert_eq!(line_col(t, off), (2, 5));
    }

    #[test]
    fn pointer_segments() {
        assert_eq!(
            pointer_to_path("/a/0/b~1c"),
            vec![PathSeg::Key("a".into()), PathSeg::Index(0), PathSeg::Key("b/c".into())]
        );
    }

    #[test]
    fn number_text_matches_python_repr() {
        assert_eq!(number_text(14.0), "14.0");
        assert_eq!(number_text(4.266), "4.266");
        assert_eq!(number_text(-1.0), "-1.0");
    }
}

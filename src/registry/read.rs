//! The first two validation layers for one file: syntax (RON/JSON with line:col) and schema
//! (jsonschema over the JSON form, each instance path mapped back to line:col), then typed
//! reading with serde.

use crate::diagnostic::{Diagnostic, Report, SourceText, did_you_mean};
use crate::document::{self, Format, Node, PathSeg, Span, path_text, pointer_to_path};
use crate::registry::loader::Loader;
use crate::schema::{FileKind, cached_schema, validator};
use jsonschema::error::{TypeKind, ValidationErrorKind};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::sync::Arc;

/// A file that passed the syntax layer.
#[derive(Debug, Clone)]
pub struct ParsedFile {
    /// Path relative to the tree root.
    pub rel: String,
    /// Text and display name.
    pub source: SourceText,
    /// The spanned tree.
    pub node: Node,
    /// Its JSON form.
    pub json: Value,
    /// The raw bytes (for the content hash).
    pub bytes: Vec<u8>,
}

impl ParsedFile {
    /// A diagnostic pointing at the value at `path`.
    pub fn diag_at(&self, d: Diagnostic, path: &[PathSeg]) -> Diagnostic {
        d.at(&self.source, self.node.span_at(path))
    }

    /// A diagnostic pointing at the key `key` of the map at `path`.
    pub fn diag_at_key(&self, d: Diagnostic, path: &[PathSeg], key: &str) -> Diagnostic {
        d.at(&self.source, self.node.key_span(path, key))
    }
}

/// Reads one file from a loader through the syntax and schema layers. Returns `None` (with
/// diagnostics in `report`) when the file cannot be used.
pub fn read_file(loader: &dyn Loader, rel: &str, kind: FileKind, report: &mut Report) -> Option<ParsedFile> {
    let shown = loader.display(rel);
    if loader.is_dir(rel) {
        report.push(
            Diagnostic::error("io", format!("`{rel}` is a directory where a data file was expected")).in_file(shown),
        );
        return None;
    }
    let bytes = match loader.read(rel) {
        Ok(b) => b,
        Err(e) => {
            report.push(
                Diagnostic::error("io", format!("cannot read `{rel}`: {}", lower_first(&e.to_string()))).in_file(shown),
            );
            return None;
        }
    };
    parse_bytes(&shown, rel, bytes, kind, report)
}

/// The syntax and schema layers over bytes already in memory.
pub fn parse_bytes(shown: &str, rel: &str, bytes: Vec<u8>, kind: FileKind, report: &mut Report) -> Option<ParsedFile> {
    let Some(format) = Format::from_path(rel) else {
        report.push(
            Diagnostic::error("syntax", format!("`{rel}` is neither a `.ron` nor a `.json` file"))
                .in_file(shown.to_string()),
        );
        return None;
    };
    let text = match std::str::from_utf8(&bytes) {
        Ok(t) => t.to_string(),
        Err(e) => {
            let valid = &bytes[..e.valid_up_to()];
            let prefix = String::from_utf8_lossy(valid).to_string();
            let source = SourceText { name: shown.to_string(), text: Arc::new(prefix.clone()) };
            let bad = bytes.get(e.valid_up_to()).copied().unwrap_or(0);
            report.push(
                Diagnostic::error(
                    "syntax",
                    format!("the file is not valid UTF-8: byte `0x{bad:02x}` at offset {}", e.valid_up_to()),
                )
                .at(&source, Span::new(prefix.len(), prefix.len())),
            );
            return None;
        }
    };
    let source = SourceText { name: shown.to_string(), text: Arc::new(text.clone()) };
    let node = match document::parse(&text, format) {
        Ok(n) => n,
        Err(e) => {
            report.push(Diagnostic::error("syntax", e.message).at(&source, e.span));
            return None;
        }
    };
    let mut issues = Vec::new();
    let json = node.to_json(&mut issues);
    let mut ok = issues.is_empty();
    for i in issues {
        report.push(Diagnostic::error("value", i.message).at(&source, i.span));
    }
    if ok {
        let before = report.errors();
        schema_layer(kind, &json, &node, &source, report);
        ok = report.errors() == before;
    }
    if !ok {
        return None;
    }
    Some(ParsedFile { rel: rel.to_string(), source, node, json, bytes })
}

/// Reads the typed value of a parsed file (the schema layer has already checked its shape).
pub fn typed<T: DeserializeOwned>(pf: &ParsedFile, report: &mut Report) -> Option<T> {
    typed_value(pf, pf.json.clone(), report)
}

/// [`typed`] over `json`, a form of the file's value (a tier with its defaults filled in);
/// errors point into the file.
pub fn typed_value<T: DeserializeOwned>(pf: &ParsedFile, json: Value, report: &mut Report) -> Option<T> {
    match serde_path_to_error::deserialize::<_, T>(json) {
        Ok(v) => Some(v),
        Err(e) => {
            let path: Vec<PathSeg> = e
                .path()
                .iter()
                .filter_map(|s| match s {
                    serde_path_to_error::Segment::Seq { index } => Some(PathSeg::Index(*index)),
                    serde_path_to_error::Segment::Map { key } => Some(PathSeg::Key(key.clone())),
                    serde_path_to_error::Segment::Enum { variant } => Some(PathSeg::Key(variant.clone())),
                    serde_path_to_error::Segment::Unknown => None,
                })
                .collect();
            let msg = lower_first(&e.inner().to_string());
            let at = path_text(&path);
            let message = if at.is_empty() { msg } else { format!("`{at}`: {msg}") };
            report.push(pf.diag_at(Diagnostic::error("schema", message), &path));
            None
        }
    }
}

/// Lower-cases the first letter of a message.
pub fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

fn value_text(v: &Value) -> String {
    let s = match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if s.chars().count() > 60 { format!("{}…", s.chars().take(60).collect::<String>()) } else { s }
}

fn json_type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "an integer",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a map",
    }
}

/// Runs the schema of `kind` over `json` and maps each error to the file position.
pub fn schema_layer(kind: FileKind, json: &Value, node: &Node, source: &SourceText, report: &mut Report) {
    let Some(v) = validator(kind) else {
        report.push(Diagnostic::error("internal", format!("the `{}` schema did not compile", kind.id())));
        return;
    };
    let schema = cached_schema(kind);
    let mut seen = std::collections::HashSet::new();
    for err in v.iter_errors(json) {
        for d in describe_error(&err, &schema, node, source) {
            if seen.insert(d.one_line()) {
                report.push(d);
            }
        }
    }
}

fn describe_error(
    err: &jsonschema::ValidationError<'_>,
    schema: &Value,
    node: &Node,
    source: &SourceText,
) -> Vec<Diagnostic> {
    let pointer = err.instance_path().as_str().to_string();
    let path = pointer_to_path(&pointer);
    let at = path_text(&path);
    let field = if at.is_empty() { "the file".to_string() } else { format!("`{at}`") };
    let instance = err.instance();
    let span = node.span_at(&path);
    match err.kind() {
        ValidationErrorKind::AdditionalProperties { unexpected } => {
            let schema_ptr = err.schema_path().as_str().to_string();
            let parent = schema_ptr.rsplit_once('/').map(|(p, _)| p).unwrap_or("");
            let known: Vec<String> = schema
                .pointer(&format!("{parent}/properties"))
                .and_then(Value::as_object)
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default();
            unexpected
                .iter()
                .map(|name| {
                    let help = did_you_mean(name, known.iter().map(String::as_str));
                    let within = if at.is_empty() { String::new() } else { format!(" in `{at}`") };
                    Diagnostic::error("schema", format!("unknown field `{name}`{within}"))
                        .at(source, node.key_span(&path, name))
                        .with_help(
                            help.or_else(|| (!known.is_empty()).then(|| format!("known fields: {}", known.join(", ")))),
                        )
                })
                .collect()
        }
        ValidationErrorKind::Required { property } => {
            let name = property.as_str().map(str::to_string).unwrap_or_else(|| property.to_string());
            let within = if at.is_empty() { String::new() } else { format!(" in `{at}`") };
            vec![Diagnostic::error("schema", format!("missing field `{name}`{within}")).at(source, span)]
        }
        ValidationErrorKind::Type { kind } => {
            let expected = match kind {
                TypeKind::Single(t) => t.to_string(),
                TypeKind::Multiple(set) => {
                    let names: Vec<String> = set.iter().map(|t| t.to_string()).collect();
                    names.join(" or ")
                }
            };
            vec![
                Diagnostic::error(
                    "schema",
                    format!(
                        "{field} must be {}, found {} `{}`",
                        article(&expected),
                        json_type_name(instance),
                        value_text(instance)
                    ),
                )
                .at(source, span),
            ]
        }
        ValidationErrorKind::Enum { options } => {
            let opts: Vec<String> = options
                .as_array()
                .map(|a| a.iter().map(|o| o.as_str().map(str::to_string).unwrap_or_else(|| o.to_string())).collect())
                .unwrap_or_default();
            let got = value_text(instance);
            let help = did_you_mean(&got, opts.iter().map(String::as_str))
                .or_else(|| Some(format!("expected one of: {}", opts.join(", "))));
            vec![
                Diagnostic::error("schema", format!("{field} has the unknown value `{got}`"))
                    .at(source, span)
                    .with_help(help),
            ]
        }
        ValidationErrorKind::AnyOf { context } | ValidationErrorKind::OneOfNotValid { context }
            if !context.is_empty()
                && context.iter().all(|alt| {
                    alt.len() == 1
                        && matches!(
                            alt[0].kind(),
                            ValidationErrorKind::Constant { .. } | ValidationErrorKind::Enum { .. }
                        )
                }) =>
        {
            // A documented enum: one `const` per variant.
            let mut opts: Vec<String> = Vec::new();
            for alt in context {
                match alt[0].kind() {
                    ValidationErrorKind::Constant { expected_value } => opts.push(value_text(expected_value)),
                    ValidationErrorKind::Enum { options } => {
                        opts.extend(options.as_array().into_iter().flatten().map(value_text));
                    }
                    _ => {}
                }
            }
            let got = value_text(instance);
            let help = did_you_mean(&got, opts.iter().map(String::as_str))
                .or_else(|| Some(format!("expected one of: {}", opts.join(", "))));
            vec![
                Diagnostic::error("schema", format!("{field} has the unknown value `{got}`"))
                    .at(source, span)
                    .with_help(help),
            ]
        }
        ValidationErrorKind::AnyOf { context } | ValidationErrorKind::OneOfNotValid { context } => {
            // Prefer the alternative that matched the value's type and failed deeper
            // (e.g. an unknown field inside an optional struct) over "not null".
            let deeper = context.iter().find(|alt| {
                !alt.is_empty()
                    && !alt.iter().all(|e| {
                        matches!(e.kind(), ValidationErrorKind::Type { .. }) && e.instance_path().as_str() == pointer
                    })
            });
            match deeper {
                Some(alt) => alt.iter().flat_map(|e| describe_error(e, schema, node, source)).collect(),
                None => {
                    let mut expected: Vec<String> = Vec::new();
                    for alt in context {
                        for e in alt {
                            if let ValidationErrorKind::Type { kind: TypeKind::Single(t) } = e.kind() {
                                expected.push(t.to_string());
                            }
                        }
                    }
                    let exp = if expected.is_empty() { "a different value".to_string() } else { expected.join(" or ") };
                    vec![
                        Diagnostic::error(
                            "schema",
                            format!(
                                "{field} must be {}, found {} `{}`",
                                article(&exp),
                                json_type_name(instance),
                                value_text(instance)
                            ),
                        )
                        .at(source, span),
                    ]
                }
            }
        }
        ValidationErrorKind::Minimum { limit } | ValidationErrorKind::ExclusiveMinimum { limit } => vec![
            Diagnostic::error("schema", format!("{field} is `{}`, below the minimum {limit}", value_text(instance)))
                .at(source, span),
        ],
        ValidationErrorKind::Maximum { limit } | ValidationErrorKind::ExclusiveMaximum { limit } => vec![
            Diagnostic::error("schema", format!("{field} is `{}`, above the maximum {limit}", value_text(instance)))
                .at(source, span),
        ],
        _ => vec![Diagnostic::error("schema", format!("{field}: {}", lower_first(&err.to_string()))).at(source, span)],
    }
}

fn article(t: &str) -> String {
    let first = t.split_whitespace().next().unwrap_or("");
    match first {
        "integer" | "object" | "array" => format!("an {t}"),
        "null" => t.to_string(),
        _ => format!("a {t}"),
    }
}

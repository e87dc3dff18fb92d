//! `ratchet batch`: JSON Lines in, one JSON result per line out, in the same order. Each
//! request is `{"op": OP, ...inputs}` with the reference API's function and parameter
//! names; a bad line yields `{"error": {"kind", "message"}}` and the batch goes on.

pub mod llm_ops;
pub mod plan_ops;
pub mod reference_ops;
pub mod sizing_ops;

use crate::catalog::LlmModel;
use crate::diagnostic::did_you_mean;
use crate::engine::Engine;
use crate::error::EngineError;
use crate::formats::registry::AnchorFieldDefaults;
use crate::projection::ProjectParams;
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::io::{self, BufRead, Write};
use std::sync::Arc;

/// The operations a batch line may name besides the rule set's own operations.
pub const OPS: &[&str] = &[
    "project_llm",
    "memory_feasibility",
    "kv_cache_bytes_per_token",
    "resolve_tier",
    "make_custom_tier",
    "hw_to_anchor_tier_precision",
    "get_perception_anchor",
    "calibration_source",
    "lookup_model",
    "load_llm_anchor",
    "load_cnn_anchor",
    "llm_anchor_methods",
    "cnn_anchor_methods",
    "overlay_llm_anchor",
    "apply_workload_pattern",
    "project_frame_latency",
    "project_solver_convergence",
    "plan",
    "ladder",
    "import_model",
];

/// Counts of one batch run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchStats {
    /// Lines answered.
    pub lines: u64,
    /// Lines answered with an error.
    pub errors: u64,
}

/// A request object.
pub type Obj = Map<String, Value>;

fn bad(msg: impl Into<String>) -> EngineError {
    EngineError::BadRequest(msg.into())
}

fn take<'v>(o: &'v Obj, key: &str) -> Option<&'v Value> {
    o.get(key).filter(|v| !v.is_null())
}

fn check_fields<S: AsRef<str>>(o: &Obj, allowed: &[S], op: &str) -> Result<(), EngineError> {
    for k in o.keys() {
        if !allowed.iter().any(|a| a.as_ref() == k) {
            let help =
                did_you_mean(k, allowed.iter().map(AsRef::as_ref)).map(|h| format!(" ({h})")).unwrap_or_default();
            return Err(bad(format!("`{op}` has no parameter `{k}`{help}")));
        }
    }
    Ok(())
}

fn tokens(v: Option<&Value>, name: &str) -> Result<Option<u64>, EngineError> {
    match v {
        None => Ok(None),
        Some(Value::Number(n)) => match n.as_u64() {
            Some(x) => Ok(Some(x)),
            None => Err(EngineError::InvalidValue(format!("`{name}` must be a non-negative integer, found `{n}`"))),
        },
        Some(other) => Err(bad(format!("`{name}` must be a non-negative integer, found {}", shown(other)))),
    }
}

fn number(v: Option<&Value>, name: &str) -> Result<Option<f64>, EngineError> {
    match v {
        None => Ok(None),
        Some(Value::Number(n)) => n
            .as_f64()
            .filter(|x| x.is_finite())
            .map(Some)
            .ok_or_else(|| EngineError::InvalidValue(format!("`{name}` must be a finite number"))),
        Some(other) => Err(bad(format!("`{name}` must be a number, found {}", shown(other)))),
    }
}

fn string<'v>(v: Option<&'v Value>, name: &str) -> Result<Option<&'v str>, EngineError> {
    match v {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(bad(format!("`{name}` must be a string, found {}", shown(other)))),
    }
}

/// The kind of a wrong value and the value itself (cut short), for an error that names it.
fn shown(v: &Value) -> String {
    let text = v.to_string();
    let text =
        if text.chars().count() > 40 { format!("{}…", text.chars().take(40).collect::<String>()) } else { text };
    format!("{} `{text}`", kind(v))
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// A model given by catalog key or inline.
pub enum ModelArg<'e> {
    /// From the catalog.
    Catalog(&'e Arc<LlmModel>),
    /// Inline.
    Inline(Box<LlmModel>),
}

impl ModelArg<'_> {
    /// The model.
    pub fn get(&self) -> &LlmModel {
        match self {
            ModelArg::Catalog(m) => m,
            ModelArg::Inline(m) => m,
        }
    }
}

pub use crate::tier::variants::TierArg;

fn serde_message(e: &serde_json::Error) -> String {
    let s = e.to_string();
    match s.find(" at line ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// Resolves the `model` parameter.
pub fn model_arg<'e>(engine: &'e Engine, v: Option<&Value>) -> Result<ModelArg<'e>, EngineError> {
    match v {
        None => Err(bad("missing `model` (a catalog key or an object of model fields)")),
        Some(Value::String(k)) => engine.model(k).map(ModelArg::Catalog),
        Some(Value::Object(_)) => {
            let v = v.cloned().unwrap_or(Value::Null);
            let m: LlmModel = serde_path_to_error::deserialize(v)
                .map_err(|e| bad(format!("inline `model`: `{}`: {}", e.path(), serde_message(e.inner()))))?;
            if let Some(d) = engine.registry().check_model(&m).into_iter().find(|d| d.is_error()) {
                return Err(EngineError::InvalidValue(format!("inline `model`: {}", d.message)));
            }
            Ok(ModelArg::Inline(Box::new(m)))
        }
        Some(other) => Err(bad(format!("`model` must be a catalog key or an object, found {}", kind(other)))),
    }
}

/// Resolves the `hw` parameter: a registry name or any tier form (memory upgrade, custom,
/// field overrides, inline).
pub fn tier_arg<'e>(engine: &'e Engine, v: Option<&Value>) -> Result<TierArg<'e>, EngineError> {
    match v {
        None => Err(bad("missing `hw` (a tier name or a tier form)")),
        Some(v) => engine.tier_from_json(v),
    }
}

/// The fields of `project_llm`'s `options` object: its wire type's.
static OPTION_FIELDS: std::sync::LazyLock<Vec<String>> =
    std::sync::LazyLock::new(crate::wire::object_fields::<crate::wire::ProjectOptions>);

/// The `project_llm` options, read from the request (top level or an `options` object),
/// checked.
pub fn project_params(o: &Obj) -> Result<ProjectParams, EngineError> {
    let opts: Cow<'_, Obj> = match take(o, "options") {
        None => Cow::Borrowed(o),
        Some(Value::Object(inner)) => {
            check_fields(inner, &OPTION_FIELDS, "options")?;
            let mut merged = o.clone();
            for (k, v) in inner {
                merged.insert(k.clone(), v.clone());
            }
            Cow::Owned(merged)
        }
        Some(other) => return Err(bad(format!("`options` must be an object, found {}", kind(other)))),
    };
    let maturity = string(take(&opts, "fp4_runtime_maturity"), "fp4_runtime_maturity")?;
    // types here; ranges and choices where the engine reads them (Engine::inputs)
    Ok(ProjectParams {
        prompt_tokens: tokens(take(&opts, "prompt_tokens"), "prompt_tokens")?,
        decode_tokens: tokens(take(&opts, "decode_tokens"), "decode_tokens")?,
        host_ms: number(take(&opts, "host_ms"), "host_ms")?,
        compiler_quality: number(take(&opts, "compiler_quality"), "compiler_quality")?,
        npu_share: number(take(&opts, "npu_share"), "npu_share")?,
        fp4_runtime_maturity: maturity.map(str::to_string),
        kv_cache_dtype: string(take(&opts, "kv_cache_dtype"), "kv_cache_dtype")?.map(str::to_string),
    })
}

/// Answers one request object.
pub fn answer(engine: &Engine, o: &Obj) -> Result<Value, EngineError> {
    let op = match take(o, "op") {
        Some(Value::String(s)) => s.as_str(),
        Some(other) => return Err(bad(format!("`op` must be a string, found {}", kind(other)))),
        None => return Err(bad(format!("missing `op`; one of: {}", OPS.join(", ")))),
    };
    // one family per module: the typed LLM requests, the inverse questions, the packs'
    // sizing operations, the reference API's other functions, then the rule set's operations
    if let Some(r) = llm_ops::LlmRequest::read(engine, op, o)? {
        return r.answer(engine);
    }
    if op == "plan" {
        return plan_ops::answer(engine, o);
    }
    if op == "import_model" {
        return import_model(engine, o);
    }
    if sizing_ops::OPS.contains(&op) {
        return sizing_ops::answer(engine, op, o)?.ok_or_else(|| bad(format!("unknown op `{op}`")));
    }
    match reference_ops::answer(engine, op, o)? {
        Some(v) => Ok(v),
        None => reference_ops::rule_operation(engine, op, o),
    }
}

/// `import_model`: the typed request, then the importer (`crate::model_import`); the
/// answer is the entry with its tensor groups, layers by kind and notes.
fn import_model(engine: &Engine, o: &Obj) -> Result<Value, EngineError> {
    let mut body = o.clone();
    body.remove("op");
    let req: crate::wire::ImportModelRequest = parse(Some(&Value::Object(body)), "import_model")?;
    let config = Value::Object(req.config);
    let name = req.source.as_deref().unwrap_or("config.json");
    let opts = crate::model_import::ImportOptions { quant: req.quant, key: req.name };
    let cfg = crate::model_import::Config::from_value(&config, name);
    match crate::model_import::import(engine.registry(), &cfg, &opts) {
        Ok(m) => serde_json::to_value(&m).map_err(|e| EngineError::InvalidValue(e.to_string())),
        Err(ds) => Err(EngineError::InvalidValue(ds.iter().map(|d| d.one_line()).collect::<Vec<_>>().join("; "))),
    }
}

fn num_arg(o: &Obj, k: &str) -> Result<f64, EngineError> {
    number(take(o, k), k)?.ok_or_else(|| bad(format!("missing `{k}` (a number)")))
}

fn str_arg<'v>(o: &'v Obj, k: &str) -> Result<&'v str, EngineError> {
    string(take(o, k), k)?.ok_or_else(|| bad(format!("missing `{k}` (a string)")))
}

fn parse<T: serde::de::DeserializeOwned>(v: Option<&Value>, what: &str) -> Result<T, EngineError> {
    let v = v.ok_or_else(|| bad(format!("missing `{what}`")))?;
    serde_path_to_error::deserialize(strip_type_tags(v))
        .map_err(|e| bad(format!("`{what}`: `{}`: {}", e.path(), serde_message(e.inner()))))
}

/// Reference objects carry `"__type__"` tags; accept and drop them.
fn strip_type_tags(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter().filter(|(k, _)| k.as_str() != "__type__").map(|(k, v)| (k.clone(), strip_type_tags(v))).collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(strip_type_tags).collect()),
        other => other.clone(),
    }
}

fn scalar(v: Value) -> Value {
    serde_json::json!({ "result": v })
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<Value, EngineError> {
    serde_json::to_value(v).map_err(|e| EngineError::InvalidValue(e.to_string()))
}

/// The common shape of a `project_llm` line with a catalog model and a registry tier,
/// read without building a JSON tree. Anything else takes the general path.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct FastProject<'a> {
    #[serde(borrow)]
    op: Cow<'a, str>,
    #[serde(borrow, default)]
    id: Option<&'a serde_json::value::RawValue>,
    #[serde(borrow)]
    model: Cow<'a, str>,
    #[serde(borrow)]
    hw: Cow<'a, str>,
    #[serde(borrow, default)]
    workload_id: Option<Cow<'a, str>>,
    #[serde(default)]
    prompt_tokens: Option<u64>,
    #[serde(default)]
    decode_tokens: Option<u64>,
    #[serde(default)]
    host_ms: Option<f64>,
    #[serde(default)]
    compiler_quality: Option<f64>,
    #[serde(default)]
    npu_share: Option<f64>,
    #[serde(borrow, default)]
    fp4_runtime_maturity: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    kv_cache_dtype: Option<Cow<'a, str>>,
}

/// Writes the answer to one line; returns whether it was an error.
pub fn answer_line_to(engine: &Engine, line: &str, out: &mut Vec<u8>) -> bool {
    answer_lines_to(engine, &[line], out) > 0
}

/// A `project_llm` line of the fast path, parsed: its model and tier resolved.
struct FastLine<'e, 'l> {
    model: &'e LlmModel,
    tier: &'e crate::tier::Tier,
    workload: Cow<'l, str>,
    params: ProjectParams,
    id: Option<&'l serde_json::value::RawValue>,
}

/// A fast-path line: `project_llm` with a catalog model and a registry tier by name and
/// valid fields, read without building a JSON tree.
fn fast_line<'e, 'l>(engine: &'e Engine, line: &'l str) -> Option<FastLine<'e, 'l>> {
    if line.len() > crate::limits::MAX_BATCH_LINE_BYTES {
        return None;
    }
    let r = serde_json::from_str::<FastProject<'l>>(line).ok()?;
    let ok_maturity = r.fp4_runtime_maturity.as_deref().is_none_or(|m| m == "mature" || m == "immature");
    if r.op != "project_llm" || !ok_maturity {
        return None;
    }
    let (model, tier) = (engine.model(&r.model).ok()?, engine.tier(&r.hw).ok()?);
    Some(FastLine {
        model,
        tier,
        workload: r.workload_id.unwrap_or(Cow::Borrowed("default")),
        params: ProjectParams {
            prompt_tokens: r.prompt_tokens,
            decode_tokens: r.decode_tokens,
            host_ms: r.host_ms,
            compiler_quality: r.compiler_quality,
            npu_share: r.npu_share,
            fp4_runtime_maturity: r.fp4_runtime_maturity.map(Cow::into_owned),
            kv_cache_dtype: r.kv_cache_dtype.map(Cow::into_owned),
        },
        id: r.id,
    })
}

/// Writes the answers to `lines`, one per line (each followed by a newline), in order;
/// returns how many were errors. Fast-path lines of the same tier and model are projected
/// together in lanes.
pub fn answer_lines_to(engine: &Engine, lines: &[&str], out: &mut Vec<u8>) -> u64 {
    let fast: Vec<Option<FastLine<'_, '_>>> = lines.iter().map(|l| fast_line(engine, l)).collect();
    let rows: Vec<crate::engine::ProjectRow<'_>> = fast
        .iter()
        .flatten()
        .map(|f| crate::engine::ProjectRow { model: f.model, hw: f.tier, workload_id: &f.workload, params: &f.params })
        .collect();
    let mut projected = engine.project_llm_rows(&rows).into_iter();
    let mut errors = 0;
    for (line, f) in lines.iter().zip(&fast) {
        // a fast line's projection, written straight from the result
        if let (Some(f), Some(Ok(res))) = (f, f.as_ref().and_then(|_| projected.next())) {
            let start = out.len();
            if serde_json::to_writer(&mut *out, &res).is_ok() {
                if let Some(id) = f.id {
                    if out.last() == Some(&b'}') {
                        out.pop();
                        out.extend_from_slice(b",\"id\":");
                        out.extend_from_slice(id.get().as_bytes());
                        out.push(b'}');
                    }
                }
                out.push(b'\n');
                continue;
            }
            out.truncate(start);
        }
        // everything else (and a fast line whose projection failed: its error message
        // comes from the general path, with the request's own words)
        if line.len() > crate::limits::MAX_BATCH_LINE_BYTES {
            write_too_long(out);
            errors += 1;
        } else {
            let v = answer_line(engine, line);
            if v.get("error").is_some() {
                errors += 1;
            }
            if serde_json::to_writer(&mut *out, &v).is_err() {
                out.extend_from_slice(
                    br#"{"error":{"kind":"invalid_value","message":"the result cannot be written as JSON"}}"#,
                );
            }
        }
        out.push(b'\n');
    }
    errors
}

/// Answers one line of JSON text; the result (or error) as a JSON value, with the request's
/// `id` echoed when it has one.
pub fn answer_line(engine: &Engine, line: &str) -> Value {
    if line.len() > crate::limits::MAX_BATCH_LINE_BYTES {
        return serde_json::json!({ "error": too_long().to_json() });
    }
    let parsed: Result<Value, _> = serde_json::from_str(line);
    let (id, result) = match parsed {
        Err(e) => (None, Err(bad(format!("the line is not valid JSON: {}", e)))),
        Ok(Value::Object(o)) => (o.get("id").cloned(), answer(engine, &o)),
        Ok(other) => (None, Err(bad(format!("a request must be a JSON object, found {}", kind(&other))))),
    };
    let mut v = match result {
        Ok(v) => v,
        Err(e) => serde_json::json!({ "error": e.to_json() }),
    };
    if let (Some(id), Value::Object(m)) = (id, &mut v) {
        m.insert("id".into(), id);
    }
    v
}

fn too_long() -> EngineError {
    bad(format!("the line is longer than {} bytes, the limit for one request", crate::limits::MAX_BATCH_LINE_BYTES))
}

fn write_too_long(out: &mut Vec<u8>) {
    let v = serde_json::json!({ "error": too_long().to_json() });
    if serde_json::to_writer(&mut *out, &v).is_err() {
        out.extend_from_slice(br#"{"error":{"kind":"bad_request","message":"the line is too long"}}"#);
    }
}

/// Runs a batch: every non-empty input line gets one output line, in order. Lines are
/// answered in parallel chunks (rayon) and written in input order; output is flushed
/// whenever the input has no more buffered data, so interactive use sees answers at once
/// while bulk use stays buffered.
pub fn run(engine: &Engine, mut input: impl BufRead, output: impl Write) -> io::Result<BatchStats> {
    use rayon::prelude::*;
    const CHUNK: usize = 512;
    let mut out = io::BufWriter::with_capacity(1 << 16, output);
    let mut stats = BatchStats::default();
    let mut pending: Vec<u8> = Vec::new();
    let mut eof = false;
    // inside a line already answered as too long: drop bytes up to its newline
    let mut skipping = false;
    while !eof {
        let buf = input.fill_buf()?;
        if buf.is_empty() {
            eof = true;
        } else if skipping {
            let n = match buf.iter().position(|b| *b == b'\n') {
                Some(i) => {
                    skipping = false;
                    i + 1
                }
                None => buf.len(),
            };
            input.consume(n);
            continue;
        } else {
            let n = buf.len();
            pending.extend_from_slice(buf);
            input.consume(n);
        }
        // complete lines (all of them at end of input)
        let cut = if eof { pending.len() } else { pending.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1) };
        if cut == 0 {
            if pending.len() > crate::limits::MAX_BATCH_LINE_BYTES {
                // a line with no end in sight: answer it now, in order, and skip the rest of it
                let mut buf = Vec::new();
                write_too_long(&mut buf);
                buf.push(b'\n');
                out.write_all(&buf)?;
                stats.lines += 1;
                stats.errors += 1;
                pending.clear();
                skipping = true;
            }
            continue;
        }
        let text = String::from_utf8_lossy(&pending[..cut]).into_owned();
        pending.drain(..cut);
        let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
        let answered: Vec<(Vec<u8>, u64, u64)> = lines
            .par_chunks(CHUNK)
            .map(|chunk| {
                let mut buf = Vec::with_capacity(chunk.len() * 400);
                let errors = answer_lines_to(engine, chunk, &mut buf);
                (buf, chunk.len() as u64, errors)
            })
            .collect();
        for (buf, n, e) in answered {
            out.write_all(&buf)?;
            stats.lines += n;
            stats.errors += e;
        }
        out.flush()?;
    }
    out.flush()?;
    Ok(stats)
}

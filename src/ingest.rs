//! Measurements in the formats practitioners publish — llama.cpp's `llama-bench -o json` and
//! `-o jsonl`, and the workload-record Parquet files ratchet's probes write — read into one
//! row form, then turned into registry data: measured cells and tier anchors on a tier file
//! (`ratchet ingest`), or a measurement set (`ratchet accuracy`, `ratchet calibrate`). A bad
//! row is an error naming its file and row; nothing is dropped silently.

use crate::calibration::{Device, MeasurementSet, ModelShape, Point, QuantMap};
use crate::catalog::LlmModel;
use crate::engine::Engine;
use crate::error::EngineError;
use crate::tier::{CalibrationSource, MeasuredCell, TierSpec};
use indexmap::IndexMap;
use serde_json::Value;
use std::path::Path;

/// Prompt processing, token generation, or both timed as one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A prefill rate over `prompt_tokens`, after `depth` tokens of context.
    Prefill,
    /// A decode rate over `gen_tokens`, after `depth` tokens of context.
    Decode,
    /// A prompt of `prompt_tokens` then `gen_tokens` generated (llama-bench `-pg`): all the
    /// tokens over the time of both.
    Combined,
}

/// One measured rate.
#[derive(Debug, Clone, PartialEq)]
pub struct Measured {
    /// The file it came from.
    pub file: String,
    /// 1-based row (JSON array element, JSON Lines line, Parquet row).
    pub row: usize,
    /// Prefill or decode.
    pub kind: Kind,
    /// Prompt tokens (prefill) or 0.
    pub prompt_tokens: u64,
    /// Generated tokens (decode) or 0.
    pub gen_tokens: u64,
    /// Context before the measurement (llama-bench `n_depth`, a record's prompt tokens).
    pub depth: u64,
    /// The rate, tok/s.
    pub tok_s: f64,
    /// Model size, bytes, when the source says.
    pub model_size_bytes: Option<f64>,
    /// Model parameters, when the source says (llama-bench `model_n_params`).
    pub model_n_params: Option<f64>,
    /// The model file, when the source says (llama-bench `model_filename`).
    pub model_filename: Option<String>,
    /// The runtime's backends (llama-bench `backends`, or `backend` before 2025).
    pub backend: Option<String>,
    /// The build (llama-bench `build_commit` and `build_number`).
    pub build: Option<String>,
    /// What produced it: the llama-bench build, or the record id.
    pub origin: String,
}

fn located(file: &str, row: usize, msg: impl std::fmt::Display) -> EngineError {
    EngineError::InvalidValue(format!("{file}: row {row}: {msg}"))
}

/// True for the raw formats this module reads (as opposed to a measurement set file).
pub fn is_measurement_input(path: &Path) -> bool {
    match path.extension().and_then(|e| e.to_str()) {
        Some("parquet" | "jsonl" | "ndjson") => true,
        Some("json") => std::fs::read_to_string(path).is_ok_and(|t| t.trim_start().starts_with('[')),
        _ => false,
    }
}

/// Reads every measurement of a llama-bench JSON / JSONL file or a workload-record Parquet
/// file.
pub fn read_measurements(path: &Path) -> Result<Vec<Measured>, EngineError> {
    let file = path.display().to_string();
    match path.extension().and_then(|e| e.to_str()) {
        Some("parquet") => read_records(path),
        Some("jsonl" | "ndjson") => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| EngineError::BadRequest(format!("cannot read `{file}`: {e}")))?;
            let mut out = Vec::new();
            for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
                let v: Value =
                    serde_json::from_str(line).map_err(|e| located(&file, i + 1, format!("not JSON: {e}")))?;
                out.push(bench_row(&file, i + 1, &v)?);
            }
            nonempty(out, &file)
        }
        _ => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| EngineError::BadRequest(format!("cannot read `{file}`: {e}")))?;
            let v: Value = serde_json::from_str(&text)
                .map_err(|e| EngineError::InvalidValue(format!("{file}:{}:{}: not JSON: {e}", e.line(), e.column())))?;
            let rows = match v {
                Value::Array(a) => a,
                other => vec![other],
            };
            let out =
                rows.iter().enumerate().map(|(i, r)| bench_row(&file, i + 1, r)).collect::<Result<Vec<_>, _>>()?;
            nonempty(out, &file)
        }
    }
}

fn nonempty(v: Vec<Measured>, file: &str) -> Result<Vec<Measured>, EngineError> {
    if v.is_empty() { Err(EngineError::InvalidValue(format!("{file}: no measurements"))) } else { Ok(v) }
}

/// One llama-bench test result (`test::get_fields` of llama-bench.cpp).
fn bench_row(file: &str, row: usize, v: &Value) -> Result<Measured, EngineError> {
    let o = v.as_object().ok_or_else(|| located(file, row, "a llama-bench result must be an object"))?;
    let uint = |k: &str, required: bool| -> Result<u64, EngineError> {
        match o.get(k) {
            Some(x) => x
                .as_u64()
                .ok_or_else(|| located(file, row, format!("`{k}` must be a non-negative integer, found `{x}`"))),
            None if required => {
                Err(located(file, row, format!("missing field `{k}` (llama-bench -o json output has it)")))
            }
            None => Ok(0),
        }
    };
    let n_prompt = uint("n_prompt", true)?;
    let n_gen = uint("n_gen", true)?;
    let depth = uint("n_depth", false)?;
    let tok_s = match o.get("avg_ts") {
        Some(x) => x.as_f64().filter(|t| t.is_finite() && *t > 0.0).ok_or_else(|| {
            located(file, row, format!("`avg_ts` must be a positive number of tokens per second, found `{x}`"))
        })?,
        None => return Err(located(file, row, "missing field `avg_ts` (llama-bench -o json output has it)")),
    };
    let kind = match (n_prompt, n_gen) {
        (p, 0) if p > 0 => Kind::Prefill,
        (0, g) if g > 0 => Kind::Decode,
        (0, 0) => {
            return Err(located(file, row, "`n_prompt` and `n_gen` are both 0: the test measured no tokens"));
        }
        _ => Kind::Combined,
    };
    let text = |k: &str| o.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let opt = |k: &str| o.get(k).and_then(Value::as_str).map(str::trim).filter(|x| !x.is_empty()).map(String::from);
    let build = o.get("build_number").and_then(Value::as_u64).map(|n| format!(" ({n})")).unwrap_or_default();
    let positive = |k: &str| -> Result<Option<f64>, EngineError> {
        match o.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(x) => x
                .as_f64()
                .filter(|v| v.is_finite() && *v > 0.0)
                .map(Some)
                .ok_or_else(|| located(file, row, format!("`{k}` must be a positive number, found `{x}`"))),
        }
    };
    Ok(Measured {
        file: file.to_string(),
        row,
        kind,
        prompt_tokens: n_prompt,
        gen_tokens: n_gen,
        depth,
        tok_s,
        model_size_bytes: positive("model_size")?,
        model_n_params: positive("model_n_params")?,
        model_filename: opt("model_filename"),
        backend: opt("backends").or_else(|| opt("backend")),
        build: opt("build_commit").map(|c| format!("{c}{build}")),
        origin: format!("llama-bench {}{build} {} on {}", text("build_commit"), text("model_type"), text("gpu_info"))
            .trim()
            .to_string(),
    })
}

/// The LLM records of a workload-record file: a record with output tokens is a decode rate
/// at its prompt's context; one with a prompt and no output tokens is a prefill rate.
fn read_records(path: &Path) -> Result<Vec<Measured>, EngineError> {
    let file = path.display().to_string();
    let records = crate::probes::read_records(path).map_err(|e| EngineError::InvalidValue(e.to_string()))?;
    let mut out = Vec::new();
    for (i, r) in records.iter().enumerate() {
        let row = i + 1;
        let (Some(prompt), Some(output)) = (r.llm_prompt_tokens, r.llm_output_tokens) else { continue };
        if prompt < 0 || output < 0 {
            return Err(located(&file, row, "`llm_prompt_tokens` and `llm_output_tokens` must not be negative"));
        }
        let latency_s = r.latency_ns.filter(|l| *l > 0).map(|l| l as f64 / 1e9);
        let (kind, tok_s) = if output > 0 {
            let rate = r.llm_tokens_per_sec.map(f64::from).or(latency_s.map(|s| output as f64 / s));
            (Kind::Decode, rate)
        } else {
            (Kind::Prefill, latency_s.map(|s| prompt as f64 / s).or(r.llm_tokens_per_sec.map(f64::from)))
        };
        let tok_s = tok_s.filter(|t| t.is_finite() && *t > 0.0).ok_or_else(|| {
            located(&file, row, "an LLM record needs `llm_tokens_per_sec` or a positive `latency_ns`")
        })?;
        out.push(Measured {
            file: file.clone(),
            row,
            kind,
            prompt_tokens: if kind == Kind::Prefill { prompt as u64 } else { 0 },
            gen_tokens: if kind == Kind::Decode { output as u64 } else { 0 },
            depth: if kind == Kind::Decode { prompt as u64 } else { 0 },
            tok_s,
            model_size_bytes: None,
            model_n_params: None,
            model_filename: None,
            backend: None,
            build: None,
            origin: format!("workload record {}", r.record_id),
        });
    }
    if out.is_empty() {
        return Err(EngineError::InvalidValue(format!(
            "{file}: no LLM records (rows with `llm_prompt_tokens` and `llm_output_tokens`)"
        )));
    }
    Ok(out)
}

/// What in `rows` contradicts the catalog model they are said to measure: a file size or
/// parameter count outside `calibration_policy`'s tolerance, or a file name that names
/// another quant scheme of the quant table. Each problem names its file, row and values.
pub fn model_mismatches(engine: &Engine, rows: &[Measured], m: &LlmModel) -> Vec<String> {
    let policy = &engine.registry().silicon_classes().calibration_policy;
    let schemes: Vec<&str> = engine.registry().quant_schemes().schemes.keys().map(String::as_str).collect();
    let off = |measured: f64, catalog: f64| (measured - catalog) / catalog * 100.0;
    let mut out: Vec<String> = Vec::new();
    let mut push = |r: &Measured, msg: String| {
        let line = format!("{}: row {}: {msg}", r.file, r.row);
        // one line per distinct problem of a file
        if !out.iter().any(|o| o.starts_with(&format!("{}: ", r.file)) && o.ends_with(&msg)) {
            out.push(line);
        }
    };
    for r in rows {
        // (field, the file's figure, the catalog's in the same unit, the catalog's as shown, tolerance)
        let figures = [
            (
                "model_size",
                " bytes",
                r.model_size_bytes,
                m.gguf_size_gb * 1e9,
                format!("{} GB", m.gguf_size_gb),
                policy.model_size_tolerance_pct,
            ),
            (
                "model_n_params",
                "",
                r.model_n_params,
                m.total_params_b * 1e9,
                format!("{}B parameters", m.total_params_b),
                policy.model_params_tolerance_pct,
            ),
        ];
        for (field, unit, file, catalog, shown, tolerance) in figures {
            let Some(x) = file else { continue };
            let e = off(x, catalog);
            if e.abs() > tolerance {
                push(
                    r,
                    format!(
                        "`{field}` {x}{unit} is {e:+.1} % from `{}` ({shown} in the catalog; tolerance ±{tolerance} %)",
                        m.key
                    ),
                );
            }
        }
        if let Some(f) = &r.model_filename {
            let named: Vec<&str> = f
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .filter_map(|tok| schemes.iter().find(|q| q.eq_ignore_ascii_case(tok)).copied())
                .collect();
            if !named.is_empty() && !named.iter().any(|q| q.eq_ignore_ascii_case(&m.quant_scheme)) {
                push(
                    r,
                    format!(
                        "`model_filename` `{f}` names quant `{}`; `{}` is `{}`",
                        named.join("`, `"),
                        m.key,
                        m.quant_scheme
                    ),
                );
            }
        }
    }
    out
}

/// Refuses rows that contradict the catalog model `model` unless `allow`; with `allow`, the
/// problems come back as warnings. Callers check once, before building a set or a tier.
pub fn checked_model(engine: &Engine, rows: &[Measured], model: &str, allow: bool) -> Result<Vec<String>, EngineError> {
    let m = engine.model(model)?;
    let problems = model_mismatches(engine, rows, m);
    if problems.is_empty() || allow {
        return Ok(problems);
    }
    Err(EngineError::InvalidValue(format!(
        "the measurements do not look like `{}`:\n  {}\n(the catalog model's bytes are what every projection reads; name the model that was measured, or pass `--allow-mismatch` to keep the catalog's)",
        m.key,
        problems.join("\n  ")
    )))
}

/// The measurements of one model on one tier, as a measurement set. Its model is the
/// catalog model (`catalog`), so `accuracy` and `calibrate` read the bytes `project` reads
/// (the rows are checked against it first: [`checked_model`]).
/// `runtime`, when given, is the runtime every row ran under (a key of `tables/runtimes.ron`),
/// for files whose backend column does not name it; otherwise each row's backend names it.
pub fn as_measurement_set(
    engine: &Engine,
    rows: &[Measured],
    tier: &str,
    model: &str,
    runtime: Option<&str>,
) -> Result<MeasurementSet, EngineError> {
    let t = engine.tier(tier)?;
    let m = engine.model(model)?;
    let dev = Device {
        name: t.name().to_string(),
        tier: Some(t.name().to_string()),
        silicon_class: None,
        mem_bandwidth_gbs: Some(t.spec.mem_bandwidth_gbs),
        mem_capacity_gb: Some(t.spec.mem_capacity_gb),
        mem_type: Some(t.spec.mem_type.clone()),
        mem_bus_width_bits: Some(f64::from(t.spec.mem_bus_width_bits)),
        mem_data_rate_gtps: Some(t.spec.mem_data_rate_gtps),
        peak_tops_int8: Some(t.spec.peak_tops_int8),
        peak_tops_bf16: Some(t.spec.peak_tops_bf16),
        peak_tops_fp8: Some(t.spec.peak_tops_fp8),
        tdp_watts: Some(t.spec.tdp_watts),
        spec_source: None,
        notes: None,
        holdout: false,
    };
    let shape = ModelShape {
        name: m.base.clone(),
        total_params_b: m.total_params_b,
        streamed_params_b: Some(m.active_params_b),
        num_layers: m.num_layers,
        hidden_dim: m.hidden_dim,
        num_attention_heads: m.num_attention_heads,
        num_kv_heads: m.num_kv_heads,
        head_dim: m.head_dim,
        num_experts: m.num_experts.filter(|_| m.is_moe),
        experts_per_token: m.experts_per_token.filter(|_| m.is_moe),
        source: None,
        catalog: Some(m.key.clone()),
    };
    // the device is the tier: sets ingested for two models on one tier merge into one device
    let key: String = t
        .name()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' })
        .collect::<String>()
        .split('_')
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("_");
    let runtimes = engine.registry().runtimes();
    if let Some(r) = runtime {
        runtimes.resolve(Some(r), None).map_err(EngineError::InvalidValue)?;
    }
    let points = rows
        .iter()
        .map(|r| {
            // the backend string names the runtime (`tables/runtimes.ron`): kept by key, so
            // the set says which runtime measured each point
            let runtime = match runtime {
                Some(k) => Some(k),
                None => runtimes.resolve(None, r.backend.as_deref()).map_err(|e| located(&r.file, r.row, e))?,
            };
            let prompt = matches!(r.kind, Kind::Prefill | Kind::Combined);
            let generated = matches!(r.kind, Kind::Decode | Kind::Combined);
            // the file's own size, when it says, stays in the notes: the catalog's is read
            let size = r.model_size_bytes.map(|b| format!("; file {b} bytes")).unwrap_or_default();
            Ok(Point {
                device: key.clone(),
                model: m.key.clone(),
                quant: m.quant_scheme.clone(),
                model_size_gb: m.gguf_size_gb,
                backend: r.backend.clone(),
                runtime: runtime.map(str::to_string),
                build: r.build.clone(),
                pp_tokens: prompt.then_some(r.prompt_tokens),
                pp_tok_s: (r.kind == Kind::Prefill).then_some(r.tok_s),
                tg_tokens: generated.then_some(r.gen_tokens),
                tg_tok_s: (r.kind == Kind::Decode).then_some(r.tok_s),
                context_tokens: (r.kind == Kind::Decode).then_some(r.depth),
                pp_context_tokens: (prompt && r.depth > 0).then_some(r.depth),
                pg_tok_s: (r.kind == Kind::Combined).then_some(r.tok_s),
                source: Some(format!("{}:{}", r.file, r.row)),
                notes: Some(format!("{}{size}", r.origin)),
            })
        })
        .collect::<Result<Vec<_>, EngineError>>()?;
    let set = MeasurementSet {
        schema_version: 1,
        name: rows.first().map_or_else(String::new, |r| r.file.clone()),
        description: None,
        sources: IndexMap::new(),
        quants: [(
            m.quant_scheme.clone(),
            QuantMap { scheme: m.quant_scheme.clone(), compute_dtype: m.compute_dtype.clone() },
        )]
        .into_iter()
        .collect(),
        devices: [(key, dev)].into_iter().collect(),
        models: [(m.key.clone(), shape)].into_iter().collect(),
        points,
    };
    Ok(set)
}

/// Where an ingested tier goes: the tier measured on, the catalog model measured, the
/// workload its cell answers and the new tier's name.
pub struct Target<'a> {
    /// The registry tier the measurements ran on.
    pub tier: &'a str,
    /// The catalog model measured.
    pub model: &'a str,
    /// The workload id of the measured cell.
    pub workload: &'a str,
    /// The new tier's name.
    pub name: &'a str,
}

/// A registry tier carrying the measurements as a measured cell (under `workload`) and
/// tier anchors (decode and prefill overrides) of `model`, named `name`, its calibration
/// source stamped `measured` with where the numbers came from. Decode and prefill are the
/// rates at the shallowest context measured (an anchor is a short-context rate); combined
/// (`-pg`) runs are not anchors.
pub fn measured_tier(engine: &Engine, rows: &[Measured], to: &Target<'_>) -> Result<TierSpec, EngineError> {
    let (tier, model, workload, name) = (to.tier, to.model, to.workload, to.name);
    let t = engine.tier(tier)?;
    let m = engine.model(model)?;
    if engine.registry().tier(name).is_some() {
        return Err(EngineError::InvalidValue(format!(
            "the registry already has a tier `{name}`; ingest adds a new tier and never replaces one (give `--name`)"
        )));
    }
    // the mean rate of a kind at its shallowest context measured
    let shallowest = |k: Kind| {
        let depth = rows.iter().filter(|r| r.kind == k).map(|r| r.depth).min();
        let v: Vec<f64> = rows.iter().filter(|r| r.kind == k && Some(r.depth) == depth).map(|r| r.tok_s).collect();
        (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
    };
    let decode = shallowest(Kind::Decode);
    let prefill = shallowest(Kind::Prefill);
    let Some(decode) = decode else {
        return Err(EngineError::InvalidValue(
            "no decode measurement (llama-bench `tg` tests, or records with output tokens): a measured cell needs a decode rate".into(),
        ));
    };
    let mut spec = t.to_full_spec();
    spec.schema_version = Some(1);
    spec.name = name.to_string();
    spec.bw_projected = false;
    spec.stock_mem_bandwidth_gbs = None;
    spec.stock_name = None;
    let mut origins: Vec<String> = rows
        .iter()
        .map(|r| match &r.backend {
            Some(b) => format!("{} [{b}]", r.origin),
            None => r.origin.clone(),
        })
        .collect();
    origins.sort_unstable();
    origins.dedup();
    let shown: Vec<&str> = origins.iter().take(3).map(String::as_str).collect();
    let mut files: Vec<&str> = rows.iter().map(|r| r.file.as_str()).collect();
    files.dedup();
    let more = if origins.len() > 3 { format!(" and {} more", origins.len() - 3) } else { String::new() };
    spec.calibration_source = Some(CalibrationSource {
        method: "measured".into(),
        reference: format!("ratchet ingest of {} measurements: {}{more}", rows.len(), shown.join("; ")),
        confidence: "high".into(),
        measurement_set: Some(files.join(", ")),
        points: Some(rows.len() as u32),
        date: Some(crate::tier::today_utc()),
    });
    let cell = MeasuredCell { decode_tok_s: decode, prefill_tok_s: prefill, ttft_s: None, host_ms: None };
    spec.measured_llm
        .get_or_insert_with(IndexMap::new)
        .entry(m.key.clone())
        .or_default()
        .insert(workload.to_string(), cell);
    spec.measured_decode_overrides.get_or_insert_with(IndexMap::new).insert(m.key.clone(), decode);
    if let Some(p) = prefill {
        spec.measured_prefill_overrides.get_or_insert_with(IndexMap::new).insert(m.key.clone(), p);
    }
    Ok(spec)
}

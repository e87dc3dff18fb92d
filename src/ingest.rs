//! Measurements in the formats practitioners publish — llama.cpp's `llama-bench -o json` and
//! `-o jsonl`, and the workload-record Parquet files ratchet's probes write — read into one
//! row form, then turned into registry data: measured cells and tier anchors on a tier file
//! (`ratchet ingest`), or a measurement set (`ratchet accuracy`, `ratchet calibrate`). A bad
//! row is an error naming its file and row; nothing is dropped silently.

use crate::calibration::{Device, MeasurementSet, ModelShape, Point, QuantMap};
use crate::engine::Engine;
use crate::error::EngineError;
use crate::tier::{CalibrationSource, MeasuredCell, TierSpec};
use indexmap::IndexMap;
use serde_json::Value;
use std::path::Path;

/// Prompt processing or token generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A prefill rate over `prompt_tokens`.
    Prefill,
    /// A decode rate over `gen_tokens`, after `depth` tokens of context.
    Decode,
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
        (p, g) => {
            return Err(located(
                file,
                row,
                format!(
                    "`n_prompt` = {p} and `n_gen` = {g}: a test is either prompt processing (n_gen 0) or generation (n_prompt 0)"
                ),
            ));
        }
    };
    let text = |k: &str| o.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let build = o.get("build_number").and_then(Value::as_u64).map(|n| format!(" ({n})")).unwrap_or_default();
    Ok(Measured {
        file: file.to_string(),
        row,
        kind,
        prompt_tokens: n_prompt,
        gen_tokens: n_gen,
        depth,
        tok_s,
        model_size_bytes: o.get("model_size").and_then(Value::as_f64),
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

/// The measurements of one model on one tier, as a measurement set.
pub fn as_measurement_set(
    engine: &Engine,
    rows: &[Measured],
    tier: &str,
    model: &str,
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
        source: None,
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
    let points = rows
        .iter()
        .map(|r| Point {
            device: key.clone(),
            model: m.key.clone(),
            quant: m.quant_scheme.clone(),
            model_size_gb: r.model_size_bytes.map_or(m.gguf_size_gb, |b| b / 1e9),
            backend: None,
            pp_tokens: (r.kind == Kind::Prefill).then_some(r.prompt_tokens),
            pp_tok_s: (r.kind == Kind::Prefill).then_some(r.tok_s),
            tg_tokens: (r.kind == Kind::Decode).then_some(r.gen_tokens),
            tg_tok_s: (r.kind == Kind::Decode).then_some(r.tok_s),
            context_tokens: (r.kind == Kind::Decode).then_some(r.depth),
            source: Some(format!("{}:{}", r.file, r.row)),
            notes: Some(r.origin.clone()),
        })
        .collect();
    Ok(MeasurementSet {
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
    })
}

/// A registry tier carrying the measurements as a measured cell (under `workload`) and
/// tier anchors (decode and prefill overrides) of `model`, named `name`, its calibration
/// source stamped `measured` with where the numbers came from.
pub fn measured_tier(
    engine: &Engine,
    rows: &[Measured],
    tier: &str,
    model: &str,
    workload: &str,
    name: &str,
) -> Result<TierSpec, EngineError> {
    let t = engine.tier(tier)?;
    let m = engine.model(model)?;
    if engine.registry().tier(name).is_some() {
        return Err(EngineError::InvalidValue(format!(
            "the registry already has a tier `{name}`; ingest adds a new tier and never replaces one (give `--name`)"
        )));
    }
    let mean = |k: Kind| {
        let v: Vec<f64> = rows.iter().filter(|r| r.kind == k).map(|r| r.tok_s).collect();
        (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
    };
    // decode at the shallowest context measured: the tier anchor is a short-context rate
    let min_depth = rows.iter().filter(|r| r.kind == Kind::Decode).map(|r| r.depth).min();
    let decode = {
        let v: Vec<f64> =
            rows.iter().filter(|r| r.kind == Kind::Decode && Some(r.depth) == min_depth).map(|r| r.tok_s).collect();
        (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
    };
    let prefill = mean(Kind::Prefill);
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
    let mut origins: Vec<&str> = rows.iter().map(|r| r.origin.as_str()).collect();
    origins.sort_unstable();
    origins.dedup();
    let shown: Vec<&str> = origins.iter().take(3).copied().collect();
    let more = if origins.len() > 3 { format!(" and {} more", origins.len() - 3) } else { String::new() };
    spec.calibration_source = Some(CalibrationSource {
        method: "measured".into(),
        reference: format!("ratchet ingest of {} measurements: {}{more}", rows.len(), shown.join("; ")),
        confidence: "high".into(),
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

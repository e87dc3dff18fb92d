//! Measurement sets (`registry/measurements/*.json`): devices with their spec sheets, model
//! shapes and measured decode and prefill rates, with their citations — registry data, read
//! and checked here; `calibration` compares and fits them against the rule set.

use crate::diagnostic::did_you_mean;
use crate::document::PathSeg;
use crate::error::EngineError;
use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A citation of a measurement set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Source {
    /// Title.
    pub title: String,
    /// Where it is.
    #[serde(default)]
    pub url: Option<String>,
    /// When it was published or measured.
    #[serde(default)]
    pub date: Option<String>,
    /// Which table or rows.
    #[serde(default)]
    pub what: Option<String>,
}

/// A device as its spec sheet describes it, or a registry tier it ran on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Device {
    /// Display name.
    pub name: String,
    /// The registry tier the measurements ran on (takes precedence over the spec sheet).
    #[serde(default)]
    pub tier: Option<String>,
    /// Silicon class of the custom tier built from the spec sheet.
    #[serde(default)]
    pub silicon_class: Option<String>,
    /// Memory bandwidth, GB/s.
    #[serde(default)]
    pub mem_bandwidth_gbs: Option<f64>,
    /// Memory capacity, GB.
    #[serde(default)]
    pub mem_capacity_gb: Option<f64>,
    /// Memory technology.
    #[serde(default)]
    pub mem_type: Option<String>,
    /// Memory bus width, bits.
    #[serde(default)]
    pub mem_bus_width_bits: Option<f64>,
    /// Memory data rate, GT/s.
    #[serde(default)]
    pub mem_data_rate_gtps: Option<f64>,
    /// Dense INT8 peak, TOPS.
    #[serde(default)]
    pub peak_tops_int8: Option<f64>,
    /// Dense BF16/FP16 peak, TFLOP/s.
    #[serde(default)]
    pub peak_tops_bf16: Option<f64>,
    /// Dense FP8 peak, TFLOP/s.
    #[serde(default)]
    pub peak_tops_fp8: Option<f64>,
    /// Board or package power, W.
    #[serde(default)]
    pub tdp_watts: Option<f64>,
    /// Source key of the spec figures.
    #[serde(default)]
    pub spec_source: Option<String>,
    /// Free text.
    #[serde(default)]
    pub notes: Option<String>,
    /// Held out: never used by a silicon-class fit (`ratchet calibrate --class`), so that
    /// `ratchet accuracy --holdout` reports how the shipped class constants do on devices
    /// they were not fitted on.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub holdout: bool,
}

impl Device {
    /// The silicon class a spec-sheet device is projected (and fitted) with; `None` for a
    /// device measured on a registry tier, which the tier describes.
    pub fn spec_sheet_class(&self) -> Option<&str> {
        if self.tier.is_some() { None } else { self.silicon_class.as_deref() }
    }
}

/// The architecture of a measured model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ModelShape {
    /// Display name.
    pub name: String,
    /// All parameters, billions.
    pub total_params_b: f64,
    /// Parameters read per decoded token, billions (embedding table excluded); the total
    /// when absent.
    #[serde(default)]
    pub streamed_params_b: Option<f64>,
    /// Layers.
    pub num_layers: u32,
    /// Hidden size.
    pub hidden_dim: u32,
    /// Attention heads.
    pub num_attention_heads: u32,
    /// KV heads.
    pub num_kv_heads: u32,
    /// Width of one attention head, where it is not hidden / heads (config.json `head_dim`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_dim: Option<u32>,
    /// Routed experts per MoE layer (config.json `num_local_experts` / `num_experts`);
    /// absent for a dense model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_experts: Option<u32>,
    /// Experts each token is routed to (config.json `num_experts_per_tok`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub experts_per_token: Option<u32>,
    /// Source key.
    #[serde(default)]
    pub source: Option<String>,
    /// The engine's catalog model this shape is (`ratchet ingest` sets it): its points are
    /// projected with the catalog model itself, so `accuracy` and `calibrate` read the same
    /// bytes per token as `project` does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catalog: Option<String>,
}

impl ModelShape {
    /// A Mixture-of-Experts model: more than one routed expert per layer.
    pub fn is_moe(&self) -> bool {
        self.num_experts.is_some_and(|n| n > 1)
    }
}

/// How a measured file format maps to the engine's quant schemes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct QuantMap {
    /// The quant scheme of the quant table (`registry/tables/quant_schemes.ron`).
    pub scheme: String,
    /// The matmul dtype the runtime computes in.
    pub compute_dtype: String,
}

/// One measurement: a decode rate, a prefill rate, or both.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Point {
    /// Device key.
    pub device: String,
    /// Model key.
    pub model: String,
    /// File format (`Q4_0`, `Q4_K_M`, `Q8_0`, `F16`, `BF16`).
    pub quant: String,
    /// Weights size, GB.
    pub model_size_gb: f64,
    /// Runtime / backend (llama-bench `backends`: `CUDA`, `Metal,BLAS`, `Vulkan`, …); the
    /// point's runtime is the one of `registry/tables/runtimes.ron` that lists it.
    #[serde(default)]
    pub backend: Option<String>,
    /// The runtime it ran under, by key of `registry/tables/runtimes.ron`, where `backend`
    /// does not say (or says it ambiguously).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<String>,
    /// The build that measured it (llama-bench `build_commit` and `build_number`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build: Option<String>,
    /// Prompt tokens of the prefill measurement.
    #[serde(default)]
    pub pp_tokens: Option<u64>,
    /// Measured prefill rate, tok/s.
    #[serde(default)]
    pub pp_tok_s: Option<f64>,
    /// Generated tokens of the decode measurement.
    #[serde(default)]
    pub tg_tokens: Option<u64>,
    /// Measured decode rate, tok/s.
    #[serde(default)]
    pub tg_tok_s: Option<f64>,
    /// Context already in the KV cache when decoding starts, tokens.
    #[serde(default)]
    pub context_tokens: Option<u64>,
    /// Context already in the KV cache when the prompt is processed, tokens (llama-bench
    /// `n_depth` of a `pp` test); absent or 0: an empty cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pp_context_tokens: Option<u64>,
    /// Measured rate of a prompt of `pp_tokens` followed by `tg_tokens` generated, over the
    /// whole run (llama-bench `-pg`: (prompt + generated) tokens / total time), tok/s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pg_tok_s: Option<f64>,
    /// Source key.
    #[serde(default)]
    pub source: Option<String>,
    /// Free text.
    #[serde(default)]
    pub notes: Option<String>,
}

/// A measurement set file (`registry/measurements/*.json`, `docs/calibration.md`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MeasurementSet {
    /// File format version.
    pub schema_version: u32,
    /// Set name.
    pub name: String,
    /// What it holds.
    #[serde(default)]
    pub description: Option<String>,
    /// Citations by key.
    #[serde(default)]
    pub sources: IndexMap<String, Source>,
    /// Quant formats → scheme and compute dtype.
    #[serde(default)]
    pub quants: IndexMap<String, QuantMap>,
    /// Devices by key.
    pub devices: IndexMap<String, Device>,
    /// Model shapes by key.
    pub models: IndexMap<String, ModelShape>,
    /// Measurements.
    pub points: Vec<Point>,
}

fn bad(m: impl Into<String>) -> EngineError {
    EngineError::InvalidValue(m.into())
}

impl MeasurementSet {
    /// Reads a measurement set; errors name the file, the line and column, and the field.
    pub fn read(path: &std::path::Path) -> Result<MeasurementSet, EngineError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| EngineError::BadRequest(format!("cannot read `{}`: {e}", path.display())))?;
        let de = &mut serde_json::Deserializer::from_str(&text);
        let set: MeasurementSet = serde_path_to_error::deserialize(de).map_err(|e| {
            let inner = e.inner();
            bad(format!("{}:{}:{}: `{}`: {inner}", path.display(), inner.line(), inner.column(), e.path()))
        })?;
        if let Some((p, m)) = set.problems().into_iter().next() {
            let at: String = p.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(".");
            return Err(bad(format!("{}: `{at}`: {m}", path.display())));
        }
        Ok(set)
    }

    /// One set of several (measurements of two models on one device, a public set and one's
    /// own): devices, models, quants and sources by key — one key must mean the same thing in
    /// every set — and every point.
    pub fn merge(sets: &[&MeasurementSet]) -> Result<MeasurementSet, EngineError> {
        let Some(first) = sets.first() else { return Err(bad("no measurement set")) };
        let mut out = MeasurementSet::clone(first);
        for s in &sets[1..] {
            fn join<V: PartialEq + Clone>(
                into: &mut IndexMap<String, V>,
                from: &IndexMap<String, V>,
                what: &str,
                a: &str,
                b: &str,
            ) -> Result<(), EngineError> {
                for (k, v) in from {
                    match into.get(k) {
                        Some(old) if old != v => {
                            return Err(bad(format!(
                                "sets `{a}` and `{b}` both have a {what} `{k}`, and they differ: rename one"
                            )));
                        }
                        Some(_) => {}
                        None => {
                            into.insert(k.clone(), v.clone());
                        }
                    }
                }
                Ok(())
            }
            let a = out.name.clone();
            join(&mut out.devices, &s.devices, "device", &a, &s.name)?;
            join(&mut out.models, &s.models, "model", &a, &s.name)?;
            join(&mut out.quants, &s.quants, "quant", &a, &s.name)?;
            join(&mut out.sources, &s.sources, "source", &a, &s.name)?;
            out.points.extend(s.points.iter().cloned());
            out.name = format!("{a} + {}", s.name);
        }
        Ok(out)
    }

    /// What is wrong with the set: every reference must resolve and every figure be a
    /// positive finite number. Each problem with the path of the offending value.
    pub fn problems(&self) -> Vec<(Vec<PathSeg>, String)> {
        let mut out = Vec::new();
        let at = |i: usize, f: &str| vec![PathSeg::Key("points".into()), PathSeg::Index(i), PathSeg::Key(f.into())];
        let unknown = |what: &str, v: &str, known: &mut dyn Iterator<Item = &str>| {
            let help = did_you_mean(v, known).map(|h| format!(" ({h})")).unwrap_or_default();
            format!("unknown {what} `{v}`{help}")
        };
        for (i, p) in self.points.iter().enumerate() {
            if !self.devices.contains_key(&p.device) {
                out.push((at(i, "device"), unknown("device", &p.device, &mut self.devices.keys().map(String::as_str))));
            }
            if !self.models.contains_key(&p.model) {
                out.push((at(i, "model"), unknown("model", &p.model, &mut self.models.keys().map(String::as_str))));
            }
            if !self.quants.contains_key(&p.quant) {
                out.push((at(i, "quant"), unknown("quant", &p.quant, &mut self.quants.keys().map(String::as_str))));
            }
            for (name, v) in [
                ("model_size_gb", Some(p.model_size_gb)),
                ("pp_tok_s", p.pp_tok_s),
                ("tg_tok_s", p.tg_tok_s),
                ("pg_tok_s", p.pg_tok_s),
            ] {
                if let Some(x) = v.filter(|x| !(x.is_finite() && *x > 0.0)) {
                    out.push((
                        at(i, name),
                        format!("`{name}` is `{}`; it must be > 0", crate::numeric::py_float_repr(x)),
                    ));
                }
            }
            if p.pp_tok_s.is_some() && p.pp_tokens.is_none() {
                out.push((at(i, "pp_tok_s"), "`pp_tok_s` needs `pp_tokens`".into()));
            }
            if p.pg_tok_s.is_some() && (p.pp_tokens.is_none() || p.tg_tokens.is_none()) {
                out.push((at(i, "pg_tok_s"), "`pg_tok_s` needs `pp_tokens` and `tg_tokens`".into()));
            }
            if p.pp_tok_s.is_none() && p.tg_tok_s.is_none() && p.pg_tok_s.is_none() {
                out.push((
                    vec![PathSeg::Key("points".into()), PathSeg::Index(i)],
                    "no measurement: give `tg_tok_s`, `pp_tok_s` or `pg_tok_s`".into(),
                ));
            }
        }
        for (k, m) in &self.models {
            if m.head_dim == Some(0) {
                out.push((
                    vec![PathSeg::Key("models".into()), PathSeg::Key(k.clone()), PathSeg::Key("head_dim".into())],
                    "`head_dim` is `0`; it must be > 0".into(),
                ));
            }
        }
        for (k, d) in &self.devices {
            if d.tier.is_none() && d.silicon_class.is_none() {
                out.push((
                    vec![PathSeg::Key("devices".into()), PathSeg::Key(k.clone())],
                    format!("device `{k}` has neither `tier` nor `silicon_class`: say what it is"),
                ));
            }
        }
        out
    }

    /// Points whose runtime does not resolve in `runtimes`, with the path of the offending
    /// value.
    pub fn runtime_problems(&self, runtimes: &crate::formats::registry::RuntimeTable) -> Vec<(Vec<PathSeg>, String)> {
        let at = |i: usize, f: &str| vec![PathSeg::Key("points".into()), PathSeg::Index(i), PathSeg::Key(f.into())];
        self.points
            .iter()
            .enumerate()
            .filter_map(|(i, p)| {
                runtimes
                    .resolve(p.runtime.as_deref(), p.backend.as_deref())
                    .err()
                    .map(|e| (at(i, if p.runtime.is_some() { "runtime" } else { "backend" }), e))
            })
            .collect()
    }
}

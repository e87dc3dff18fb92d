//! Measurements against projections: a measurement set (devices with their spec sheets,
//! model shapes, measured decode and prefill rates), the accuracy of the active rule set on
//! it (median |error|, MAPE, bias, per point), and least-squares fits of the measured cost
//! model's constants (`LlmCalibration`) for one device or one silicon class, with residuals
//! and leave-one-out errors.
//!
//! The fit reads its regressors from the rule set itself (the traced values of
//! `active_params_gb`, `kv_read_gb`, `gops_per_token`, `prefill_attention_gops`,
//! `floor_peak_tops`, …, `silicon-cost.ron`), so the constants it finds are the ones the
//! formulas read; a test checks that projecting with them reproduces the fit.

use crate::catalog::LlmModel;
use crate::engine::Engine;
use crate::error::EngineError;
use crate::formats::registry::ExecEngine;
pub use crate::measurement::{Device, MeasurementSet, ModelShape, Point, QuantMap, Source};
use crate::projection::{Banded, ProjectParams, Projection};
use crate::tier::custom::CalibrationPolicy;
use crate::tier::{CalibrationSource, ErrorBand, LlmCalibration, Tier, TopsField};
use indexmap::IndexMap;
use serde::Serialize;
use serde_json::{Value, json};

fn bad(m: impl Into<String>) -> EngineError {
    EngineError::InvalidValue(m.into())
}

/// Decode, prefill, or a prompt then generation timed as one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Generation rate, tok/s.
    Decode,
    /// Prompt-processing rate, tok/s.
    Prefill,
    /// (prompt + generated) tokens over the time of both (llama-bench `-pg`), tok/s.
    Combined,
}

impl Metric {
    /// Every metric, in report order.
    pub const ALL: [Metric; 3] = [Metric::Decode, Metric::Prefill, Metric::Combined];

    /// The projected quantity whose band a measurement of this metric is judged against.
    pub fn banded(self) -> Option<Banded> {
        match self {
            Metric::Decode => Some(Banded::Decode),
            Metric::Prefill => Some(Banded::Prefill),
            Metric::Combined => None,
        }
    }

    /// The name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Metric::Decode => "decode",
            Metric::Prefill => "prefill",
            Metric::Combined => "combined",
        }
    }
}

/// The engine's view of one point: its tier, its model and the request.
pub struct Case {
    /// Index into `points`.
    pub point: usize,
    /// The tier it ran on.
    pub tier: Tier,
    /// The model as measured.
    pub model: LlmModel,
}

impl Engine {
    /// The tier a device of `set` is: its registry tier, or a custom tier from its spec sheet
    /// projected under `runtime` (its class's constants fitted under that runtime).
    pub fn device_tier(&self, key: &str, d: &Device, runtime: Option<&str>) -> Result<Tier, EngineError> {
        if let Some(t) = &d.tier {
            return Ok(Tier::clone(self.tier(t)?));
        }
        let class = d
            .silicon_class
            .as_deref()
            .ok_or_else(|| bad(format!("device `{key}` has neither `tier` nor `silicon_class`: say what it is")))?;
        // a spec-sheet figure counts when it is a positive finite number
        let pos = |v: Option<f64>| v.filter(|x| x.is_finite() && *x > 0.0);
        let need = |name: &str, v: Option<f64>| {
            pos(v).ok_or_else(|| {
                bad(format!("device `{key}` has no `{name}` in its spec sheet, so it cannot be projected"))
            })
        };
        let bw = need("mem_bandwidth_gbs", d.mem_bandwidth_gbs)?;
        // a sheet may publish one dense peak only (an NPU's INT8 rate): a point whose compute
        // dtype has none is refused by the projection's bounds, which say why
        if [d.peak_tops_int8, d.peak_tops_bf16, d.peak_tops_fp8].into_iter().all(|v| pos(v).is_none()) {
            return Err(bad(format!(
                "device `{key}` has no dense peak (`peak_tops_int8`, `peak_tops_bf16` or `peak_tops_fp8`) in its spec sheet, so it cannot be projected"
            )));
        }
        let bf16 = d.peak_tops_bf16.unwrap_or(0.0);
        // bandwidth = bus bits × GT/s / 8: a sheet that gives two of the three gives the third
        let (bus, rate) = match (pos(d.mem_bus_width_bits), pos(d.mem_data_rate_gtps)) {
            (Some(b), Some(r)) => (b, r),
            (Some(b), None) => (b, bw * 8.0 / b),
            (None, Some(r)) => (bw * 8.0 / r, r),
            (None, None) => {
                return Err(bad(format!(
                    "device `{key}` has neither `mem_bus_width_bits` nor `mem_data_rate_gtps` in its spec sheet; give one (bandwidth = bus × rate / 8)"
                )));
            }
        };
        let mut form = json!({"custom": {
            "name": d.name, "silicon_class": class,
            "peak_tops_int8": d.peak_tops_int8.unwrap_or(0.0), "peak_tops_bf16": bf16,
            "peak_tops_fp8": d.peak_tops_fp8.unwrap_or(0.0),
            "mem_bandwidth_gbs": bw, "mem_capacity_gb": need("mem_capacity_gb", d.mem_capacity_gb)?,
            "mem_bus_width_bits": bus.round().max(1.0) as u64,
            "mem_type": d.mem_type.clone().unwrap_or_default(),
            "mem_data_rate_gtps": rate, "tdp_watts": d.tdp_watts.unwrap_or(0.0),
        }});
        if let (Some(r), Some(c)) = (runtime, form.get_mut("custom")) {
            c["runtime"] = json!(r);
        }
        Ok(self.tier_from_json(&form).map_err(|e| bad(format!("device `{key}`: {e}")))?.into_owned())
    }
}

/// The model of a point: the catalog model its shape names (the bytes `project` reads), or
/// its shape stored at the measured size.
pub fn point_model(engine: &Engine, set: &MeasurementSet, p: &Point) -> Result<LlmModel, EngineError> {
    let s = set.models.get(&p.model).ok_or_else(|| bad(format!("unknown model `{}`", p.model)))?;
    if let Some(key) = &s.catalog {
        return Ok(LlmModel::clone(engine.model(key)?));
    }
    let q = set.quants.get(&p.quant).ok_or_else(|| bad(format!("unknown quant `{}`", p.quant)))?;
    let bpp = p.model_size_gb / s.total_params_b;
    Ok(LlmModel {
        key: format!("{}@{}", p.model, p.quant),
        family: s.name.clone(),
        base: s.name.clone(),
        total_params_b: s.total_params_b,
        active_params_b: s.streamed_params_b.unwrap_or(s.total_params_b),
        quant_scheme: q.scheme.clone(),
        bytes_per_param: bpp,
        gguf_size_gb: p.model_size_gb,
        size_gb_inflight: p.model_size_gb,
        compute_dtype: q.compute_dtype.clone(),
        num_layers: s.num_layers,
        hidden_dim: s.hidden_dim,
        num_attention_heads: s.num_attention_heads,
        num_kv_heads: s.num_kv_heads,
        is_moe: s.is_moe(),
        num_experts: s.num_experts,
        experts_per_token: s.experts_per_token,
        ctx_len_trained: None,
        vocab_size: None,
        head_dim: s.head_dim,
        sliding_window: None,
        sliding_window_layers: None,
        kv_lora_rank: None,
        qk_rope_head_dim: None,
        state_layers: None,
        state_elements_per_layer: None,
        shared_experts: None,
        first_dense_layers: None,
        routed_expert_params_b: None,
        tie_word_embeddings: None,
        training: None,
        training_recipe: None,
        fine_tune_version: None,
        perf_reference_only: false,
        measurement_alias: None,
        pass_rate: None,
        pass_n_passes: None,
        pass_n_total: None,
        category_deltas: None,
        accuracy_bullet: None,
        description: None,
        llm_invariant_decode: true,
    })
}

/// The request that reproduces a point's measurement.
fn params(p: &Point, m: Metric) -> ProjectParams {
    match m {
        Metric::Decode => ProjectParams {
            prompt_tokens: Some(p.context_tokens.unwrap_or(0)),
            decode_tokens: Some(p.tg_tokens.unwrap_or(128)),
            ..Default::default()
        },
        Metric::Prefill => ProjectParams { prompt_tokens: p.pp_tokens, decode_tokens: Some(1), ..Default::default() },
        Metric::Combined => {
            ProjectParams { prompt_tokens: p.pp_tokens, decode_tokens: p.tg_tokens, ..Default::default() }
        }
    }
}

fn measured(p: &Point, m: Metric) -> Option<f64> {
    match m {
        Metric::Decode => p.tg_tok_s,
        Metric::Prefill => p.pp_tok_s,
        Metric::Combined => p.pg_tok_s,
    }
}

/// Why a point is not compared: the engine projects a prompt into an empty cache only.
fn not_modelled(p: &Point, m: Metric) -> Option<String> {
    let depth = p.pp_context_tokens.filter(|d| *d > 0)?;
    (m != Metric::Decode).then(|| {
        format!(
            "not compared: a prompt after {depth} tokens of context (the engine projects a prompt into an empty cache)"
        )
    })
}

/// The projected rate of a metric: a combined run takes the prompt's time plus the
/// generated tokens' time.
fn projected_rate(x: &crate::projection::Projected, m: Metric, q: &ProjectParams) -> f64 {
    match m {
        Metric::Decode => x.decode_tok_s,
        Metric::Prefill => x.prefill_tok_s,
        Metric::Combined => {
            let (pp, tg) = (q.prompt_tokens.unwrap_or(0) as f64, q.decode_tokens.unwrap_or(0) as f64);
            (pp + tg) / (pp / x.prefill_tok_s + tg / x.decode_tok_s)
        }
    }
}

/// One projected-vs-measured comparison.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    /// Device key.
    pub device: String,
    /// Model key and quant.
    pub model: String,
    /// Decode or prefill.
    pub metric: Metric,
    /// Context (decode) or prompt (prefill) tokens.
    pub tokens: u64,
    /// Measured, tok/s.
    pub measured: f64,
    /// Projected, tok/s (`None` when the projection does not project).
    pub projected: Option<f64>,
    /// (projected − measured) / measured, percent.
    pub error_pct: Option<f64>,
    /// The projection's uncertainty band of the rate, tok/s (10th, 90th percentile), when
    /// its rule set states one.
    pub band: Option<[f64; 2]>,
    /// The cascade path that answered, or why none did.
    pub source: String,
    /// Source key of the measurement.
    pub citation: Option<String>,
    /// The runtime it was measured under (`tables/runtimes.ron`), when the point says.
    pub runtime: Option<String>,
    /// The engine that runtime executes on.
    pub engine: Option<ExecEngine>,
    /// The kind of device: its silicon class, or `tier` for a device measured on a
    /// registry tier.
    pub class: String,
}

/// Error statistics of one metric.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    /// Points compared.
    pub n: usize,
    /// Devices among them.
    pub devices: usize,
    /// Median |error|, percent.
    pub median_abs_error_pct: f64,
    /// Mean |error|, percent.
    pub mape_pct: f64,
    /// Mean signed error, percent (negative: under-projected).
    pub bias_pct: f64,
    /// Largest |error|, percent.
    pub max_abs_error_pct: f64,
    /// Points within each |error| band of `calibration_policy.accuracy_bands_pct`.
    pub within: Vec<Band>,
    /// Low quantile of the signed error (`calibration_policy.band_quantiles`, the 10th
    /// percentile), percent.
    pub error_p10_pct: f64,
    /// High quantile of the signed error (the 90th percentile), percent.
    pub error_p90_pct: f64,
    /// How many measurements fall inside the projections' stated uncertainty bands (absent
    /// when no projection states one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub coverage: Option<Coverage>,
}

/// Measurements inside their projection's stated 80 % band: a band that holds far more is
/// too wide, far fewer too narrow.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Coverage {
    /// Points whose projection states a band.
    pub points: usize,
    /// Of those, points whose measurement lies inside it.
    pub inside: usize,
    /// `inside / points`, percent.
    pub pct: f64,
}

/// The points within one |error| band.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Band {
    /// The band, ± percent.
    pub pct: f64,
    /// Points with |error| at most `pct`.
    pub points: usize,
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 }
}

/// The statistics of the comparisons of one metric that projected, counting points within
/// each |error| band of `bands` (percent).
pub fn summarise(rows: &[Comparison], m: Metric, policy: &CalibrationPolicy) -> Summary {
    let bands = &policy.accuracy_bands_pct;
    let errs: Vec<(f64, &str)> =
        rows.iter().filter(|r| r.metric == m).filter_map(|r| r.error_pct.map(|e| (e, r.device.as_str()))).collect();
    if errs.is_empty() {
        return Summary::default();
    }
    let abs: Vec<f64> = errs.iter().map(|(e, _)| e.abs()).collect();
    let mut devices: Vec<&str> = errs.iter().map(|(_, d)| *d).collect();
    devices.sort_unstable();
    devices.dedup();
    let n = errs.len() as f64;
    let mut signed: Vec<f64> = errs.iter().map(|(e, _)| *e).collect();
    signed.sort_by(f64::total_cmp);
    let banded: Vec<bool> = rows
        .iter()
        .filter(|r| r.metric == m && r.error_pct.is_some())
        .filter_map(|r| r.band.map(|[lo, hi]| lo <= r.measured && r.measured <= hi))
        .collect();
    let inside = banded.iter().filter(|x| **x).count();
    Summary {
        error_p10_pct: quantile(&signed, policy.band_quantiles[0]),
        error_p90_pct: quantile(&signed, policy.band_quantiles[1]),
        coverage: (!banded.is_empty()).then(|| Coverage {
            points: banded.len(),
            inside,
            pct: inside as f64 * 100.0 / banded.len() as f64,
        }),
        n: errs.len(),
        devices: devices.len(),
        median_abs_error_pct: median(abs.clone()),
        mape_pct: abs.iter().sum::<f64>() / n,
        bias_pct: errs.iter().map(|(e, _)| e).sum::<f64>() / n,
        max_abs_error_pct: abs.iter().copied().fold(0.0, f64::max),
        within: bands.iter().map(|b| Band { pct: *b, points: abs.iter().filter(|e| **e <= *b).count() }).collect(),
    }
}

/// The kind of a measured device: its silicon class, or `tier` when it ran on a registry tier.
fn device_kind(d: &Device) -> &str {
    match d.spec_sheet_class() {
        Some(c) => c,
        None if d.tier.is_some() => "tier",
        None => "unknown",
    }
}

/// What a report groups comparisons by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grouping {
    /// The kind of device (its silicon class, or `tier`).
    Class,
    /// The engine the runtime executes on (`gpu`, `npu`, `cpu`).
    Engine,
    /// The runtime (`tables/runtimes.ron`).
    Runtime,
    /// The measurement's source key.
    Source,
}

impl Grouping {
    /// Every grouping, in report order.
    pub const ALL: [Grouping; 4] = [Grouping::Class, Grouping::Engine, Grouping::Runtime, Grouping::Source];

    /// The name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Grouping::Class => "class",
            Grouping::Engine => "engine",
            Grouping::Runtime => "runtime",
            Grouping::Source => "source",
        }
    }

    fn key(self, r: &Comparison) -> String {
        let v = match self {
            Grouping::Class => Some(r.class.as_str()),
            Grouping::Engine => r.engine.map(ExecEngine::name),
            Grouping::Runtime => r.runtime.as_deref(),
            Grouping::Source => r.citation.as_deref(),
        };
        v.unwrap_or("unknown").to_string()
    }
}

/// The statistics of each group of `g` (in first-seen order), per metric that has points.
pub fn summarise_by(
    rows: &[Comparison],
    g: Grouping,
    policy: &CalibrationPolicy,
) -> IndexMap<String, IndexMap<&'static str, Summary>> {
    let mut groups: IndexMap<String, Vec<Comparison>> = IndexMap::new();
    for r in rows {
        groups.entry(g.key(r)).or_default().push(r.clone());
    }
    groups
        .into_iter()
        .map(|(k, rs)| {
            let per: IndexMap<&'static str, Summary> = Metric::ALL
                .into_iter()
                .map(|m| (m.name(), summarise(&rs, m, policy)))
                .filter(|(_, s)| s.n > 0)
                .collect();
            (k, per)
        })
        .collect()
}

/// Selects devices of a measurement set by key and spec.
pub type DeviceFilter<'a> = dyn Fn(&str, &Device) -> bool + 'a;
/// A calibration to project a device with under a runtime, in place of its own.
pub type DeviceCalibration<'a> = dyn Fn(&str, &Device, Option<&str>) -> Option<LlmCalibration> + 'a;

/// Projects every point of `set` (every device, or those of `only`) with `engine` and compares.
pub fn compare(
    engine: &Engine,
    set: &MeasurementSet,
    only: Option<&DeviceFilter<'_>>,
    calibration: Option<&DeviceCalibration<'_>>,
) -> Result<Vec<Comparison>, EngineError> {
    let mut out = Vec::new();
    let runtimes = engine.registry().runtimes();
    for (i, p) in set.points.iter().enumerate() {
        let Some(d) = set.devices.get(&p.device) else { continue };
        if only.is_some_and(|f| !f(&p.device, d)) {
            continue;
        }
        let runtime = runtimes
            .resolve(p.runtime.as_deref(), p.backend.as_deref())
            .map_err(|e| bad(format!("set `{}`, point {i} (`{}`): {e}", set.name, p.device)))?;
        let exec = runtime.and_then(|k| runtimes.runtimes.get(k)).map(|r| r.engine);
        let model = point_model(engine, set, p)?;
        let tier = engine.device_tier(&p.device, d, runtime).map(|mut t| {
            if let Some(c) = calibration.and_then(|f| f(&p.device, d, runtime)) {
                t.spec.llm_calibration = Some(c);
            }
            t
        });
        for m in Metric::ALL {
            let Some(meas) = measured(p, m) else { continue };
            let q = params(p, m);
            // a request the engine has no form for is reported, not projected
            let mut band = None;
            let (projected, source) = match not_modelled(p, m) {
                Some(why) => (None, why),
                None => {
                    let r = match &tier {
                        Ok(t) => engine.project_llm(&model, t, "default", &q),
                        Err(e) => Err(e.clone()),
                    };
                    match &r {
                        Err(e) => (None, e.to_string()),
                        Ok(Projection::Projected(x)) => {
                            band = m.banded().and_then(|b| x.band(b)).map(|(lo, hi)| [lo, hi]);
                            (Some(projected_rate(x, m, &q)), x.source.to_string())
                        }
                        Ok(Projection::WontFit(w)) => {
                            (None, format!("does not fit ({} of {} GB)", w.required_gb, w.available_gb))
                        }
                        Ok(Projection::DtypeMismatch(x)) => (None, format!("cannot execute `{}`", x.required_dtype)),
                    }
                }
            };
            out.push(Comparison {
                device: p.device.clone(),
                model: model.key.clone(),
                metric: m,
                tokens: q.prompt_tokens.unwrap_or(0),
                measured: meas,
                projected,
                error_pct: projected.map(|x| (x - meas) / meas * 100.0),
                band,
                source,
                citation: p.source.clone(),
                runtime: runtime.map(str::to_string),
                engine: exec,
                class: device_kind(d).to_string(),
            });
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// Fitting
// ---------------------------------------------------------------------------------------

/// A placeholder calibration: it makes the calibrated branches of the rule set evaluate, so
/// their regressors appear in the trace.
fn probe_calibration(prefill_peak: Option<&str>) -> LlmCalibration {
    LlmCalibration {
        decode_bw_efficiency: 1.0,
        decode_kv_bw_efficiency: Some(1.0),
        decode_layer_us: 1.0,
        prefill_util: 1.0,
        prefill_layer_us: 1.0,
        prefill_peak: prefill_peak.map(str::to_string),
        error_band: None,
        band_caveat: None,
        source: CalibrationSource {
            method: "derived_from_measured".into(),
            reference: "fit probe".into(),
            confidence: "low".into(),
            ..Default::default()
        },
    }
}

/// The traced value of every named formula of one projection.
fn traced(
    engine: &Engine,
    model: &LlmModel,
    tier: &Tier,
    q: &ProjectParams,
) -> Result<IndexMap<String, f64>, EngineError> {
    let (r, ex) = engine.project_llm_explained(model, tier, "default", q);
    r?;
    Ok(ex.values.iter().filter_map(|v| v.value.as_f64().map(|x| (v.name.clone(), x))).collect())
}

fn get(v: &IndexMap<String, f64>, k: &str) -> Result<f64, EngineError> {
    v.get(k).copied().ok_or_else(|| {
        bad(format!(
            "the active rule set does not compute `{k}`; calibrate fits the formulas of `silicon-cost` (which `default` extends): select one of those with `--rules`"
        ))
    })
}

/// One row of a least-squares problem: regressors and the measured time.
#[derive(Debug, Clone)]
struct Row {
    x: Vec<f64>,
    /// Measured seconds.
    y: f64,
    /// Seconds the rule set adds outside the fitted terms (the tier's fixed overhead).
    offset: f64,
    point: usize,
}

/// Least squares on relative error (rows scaled by 1/y), with coefficients that come out
/// negative removed and the rest refitted. `None` when the columns cannot be separated.
fn solve(rows: &[Row], cols: usize) -> Option<Vec<f64>> {
    let mut active: Vec<usize> = (0..cols).collect();
    loop {
        let k = active.len();
        if k == 0 || rows.len() < k {
            return None;
        }
        // normal equations of the scaled rows
        let mut a = vec![vec![0.0; k + 1]; k];
        for r in rows {
            let w = 1.0 / r.y;
            for (i, ci) in active.iter().enumerate() {
                for (j, cj) in active.iter().enumerate() {
                    a[i][j] += r.x[*ci] * w * r.x[*cj] * w;
                }
                a[i][k] += r.x[*ci] * w * (r.y - r.offset) * w;
            }
        }
        let scale: f64 = (0..k).map(|i| a[i][i].abs()).fold(0.0, f64::max);
        for col in 0..k {
            let piv = (col..k).max_by(|x, y| a[*x][col].abs().total_cmp(&a[*y][col].abs()))?;
            if a[piv][col].abs() <= 1e-12 * scale.max(f64::MIN_POSITIVE) {
                return None;
            }
            a.swap(col, piv);
            for r in 0..k {
                if r != col {
                    let f = a[r][col] / a[col][col];
                    let pivot_row = a[col].clone();
                    for (x, p) in a[r].iter_mut().zip(&pivot_row).skip(col) {
                        *x -= f * p;
                    }
                }
            }
        }
        let sol: Vec<f64> = (0..k).map(|i| a[i][k] / a[i][i]).collect();
        match sol.iter().position(|v| *v < 0.0) {
            Some(i) => {
                active.remove(i);
            }
            None => {
                let mut out = vec![0.0; cols];
                for (i, c) in active.iter().enumerate() {
                    out[*c] = sol[i];
                }
                return Some(out);
            }
        }
    }
}

/// A fitted residual of one point.
#[derive(Debug, Clone, Serialize)]
pub struct Residual {
    /// Point index.
    pub point: usize,
    /// Device key.
    pub device: String,
    /// Model and quant.
    pub model: String,
    /// Decode or prefill.
    pub metric: Metric,
    /// Context (decode) or prompt (prefill) tokens.
    pub tokens: u64,
    /// Measured, tok/s.
    pub measured: f64,
    /// The fit's prediction, tok/s.
    pub fitted: f64,
    /// Fitted error, percent.
    pub error_pct: f64,
    /// Prediction of the fit without this point, percent error (`None`: too few points left).
    pub loo_error_pct: Option<f64>,
    /// Prediction of the fit without any point of this device, percent error (`None`: one
    /// device only, or too few points left).
    pub held_out_device_error_pct: Option<f64>,
}

/// A calibration fitted to measurements.
#[derive(Debug, Clone, Serialize)]
pub struct Fit {
    /// The constants.
    pub calibration: LlmCalibration,
    /// Every point's fitted and leave-one-out error.
    pub residuals: Vec<Residual>,
    /// Statistics of the fitted errors per metric.
    pub fitted: IndexMap<String, Summary>,
    /// Statistics of the leave-one-out errors per metric.
    pub leave_one_out: IndexMap<String, Summary>,
    /// Statistics of the leave-one-device-out errors per metric (empty for a one-device fit).
    pub leave_one_device_out: IndexMap<String, Summary>,
    /// What was fitted, in words.
    pub notes: Vec<String>,
}

struct Problem {
    rows: Vec<Row>,
    names: Vec<&'static str>,
}

fn as_comparisons(res: &[Residual], error: fn(&Residual) -> Option<f64>) -> Vec<Comparison> {
    res.iter()
        .map(|r| Comparison {
            device: r.device.clone(),
            model: r.model.clone(),
            metric: r.metric,
            tokens: r.tokens,
            measured: r.measured,
            projected: None,
            error_pct: error(r),
            band: None,
            source: String::new(),
            citation: None,
            runtime: None,
            engine: None,
            class: String::new(),
        })
        .collect()
}

/// Whether the decode points' ratios of KV bytes to weight bytes spread by more than `min`:
/// only then can a fit tell the KV read from the weights.
fn contexts_spread(rows: &[Row], min: f64) -> bool {
    let r: Vec<f64> = rows.iter().map(|r| r.x[1] / r.x[0].max(f64::MIN_POSITIVE)).collect();
    let lo = r.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = r.iter().copied().fold(0.0, f64::max);
    hi - lo > min
}

/// The peak a fit's prefill share is of: the `prefill_peak_dtype` of the runtime every
/// fitted point ran under, when they agree; none (the compute floor's peak) when the points
/// mix runtimes whose prompts scale with different peaks, with a note.
fn prefill_peak_of(
    engine: &Engine,
    set: &MeasurementSet,
    only: &dyn Fn(&str, &Device) -> bool,
) -> (Option<String>, Option<String>) {
    let runtimes = engine.registry().runtimes();
    let mut seen: Vec<(Option<String>, Option<String>)> = Vec::new();
    for p in &set.points {
        let Some(d) = set.devices.get(&p.device) else { continue };
        if !only(&p.device, d) {
            continue;
        }
        let r = runtimes.resolve(p.runtime.as_deref(), p.backend.as_deref()).ok().flatten();
        let dtype = r.and_then(|k| runtimes.runtimes.get(k)).and_then(|x| x.prefill_peak_dtype.clone());
        if !seen.iter().any(|(_, d)| *d == dtype) {
            seen.push((r.map(str::to_string), dtype));
        }
    }
    match seen.as_slice() {
        [(_, d)] => (d.clone(), None),
        [] => (None, None),
        many => {
            let list: Vec<String> = many
                .iter()
                .map(|(r, d)| {
                    format!("{} ({})", r.as_deref().unwrap_or("no runtime"), d.as_deref().unwrap_or("floor dtype"))
                })
                .collect();
            let note = format!(
                "the points' runtimes scale prefill with different peaks ({}): prefill is fitted against the compute floor's peak; fit one runtime (`--runtime`) to scale it from that runtime's peak",
                list.join(", ")
            );
            (None, Some(note))
        }
    }
}

/// Fits the cost-model constants to every point of the devices `only` selects: decode time
/// per token = weights / (BW × e_w) + KV read / (BW × e_kv) + layers × c_d; prefill time =
/// FLOPs / (peak × u) + layers × c_p. Least squares on relative error; leave-one-out per point.
pub fn fit(
    engine: &Engine,
    set: &MeasurementSet,
    only: &dyn Fn(&str, &Device) -> bool,
    source: CalibrationSource,
) -> Result<Fit, EngineError> {
    let mut decode = Problem {
        rows: Vec::new(),
        names: vec!["1/decode_bw_efficiency", "1/decode_kv_bw_efficiency", "decode_layer_us"],
    };
    let mut prefill = Problem { rows: Vec::new(), names: vec!["1/prefill_util", "prefill_layer_us"] };
    let mut labels: Vec<Label> = Vec::new();
    let mut skipped: Vec<String> = Vec::new();
    let mut at_depth = 0usize;
    let policy = &engine.registry().silicon_classes().calibration_policy;
    // the tightest bound on prefill_util over the devices fitted, and which device sets it
    let mut util_cap: Option<(f64, String)> = None;
    let (prefill_peak, peak_note) = prefill_peak_of(engine, set, only);
    for (i, p) in set.points.iter().enumerate() {
        let Some(d) = set.devices.get(&p.device) else { continue };
        if !only(&p.device, d) {
            continue;
        }
        let runtime = engine.registry().runtimes().resolve(p.runtime.as_deref(), p.backend.as_deref()).ok().flatten();
        let mut tier = match engine.device_tier(&p.device, d, runtime) {
            Ok(t) => t,
            Err(e) => {
                let note = format!("skipped: {e}");
                if !skipped.contains(&note) {
                    skipped.push(note);
                }
                continue;
            }
        };
        tier.spec.llm_calibration = Some(probe_calibration(prefill_peak.as_deref()));
        let model = point_model(engine, set, p)?;
        let bw = tier.spec.mem_bandwidth_gbs;
        if let Some(tok_s) = p.tg_tok_s {
            let q = params(p, Metric::Decode);
            let v = traced(engine, &model, &tier, &q)?;
            // seconds per token = GB / (GB/s) / e  +  layers × µs
            decode.rows.push(Row {
                x: vec![
                    get(&v, "active_params_gb")? / bw,
                    get(&v, "kv_read_gb")? / bw,
                    get(&v, "model.num_layers")? * 1e-6,
                ],
                y: 1.0 / tok_s,
                offset: 0.0,
                point: i,
            });
            labels.push((i, p.device.clone(), model.key.clone(), Metric::Decode, q.prompt_tokens.unwrap_or(0), tok_s));
        }
        if let (Some(tok_s), Some(n)) = (p.pp_tok_s, p.pp_tokens) {
            if not_modelled(p, Metric::Prefill).is_some() {
                at_depth += 1;
                continue;
            }
            let q = params(p, Metric::Prefill);
            let v = traced(engine, &model, &tier, &q)?;
            // the highest share of the floor's peak prefill may reach on this device
            let highest = TopsField::highest(&tier.spec);
            let floor = get(&v, "fitted_peak_tops")?;
            if floor > 0.0 {
                let cap = policy.max_share_of_highest_peak * highest / floor;
                if util_cap.as_ref().is_none_or(|(c, _)| cap < *c) {
                    util_cap = Some((cap, p.device.clone()));
                }
            }
            let gflop = get(&v, "gops_per_token")? * n as f64 + get(&v, "prefill_attention_gops")?;
            // seconds per prompt = GFLOP / (TFLOP/s) / 1000 / u  +  layers × µs
            prefill.rows.push(Row {
                x: vec![gflop / floor / 1000.0, get(&v, "model.num_layers")? * 1e-6],
                y: n as f64 / tok_s,
                // time to first token adds the tier's fixed overhead (`floor_ttft_ms`)
                offset: get(&v, "hw.compute_overhead_ms")? / 1000.0,
                point: i,
            });
            labels.push((i, p.device.clone(), model.key.clone(), Metric::Prefill, n, tok_s));
        }
    }
    let mut notes = skipped;
    notes.extend(peak_note);
    if at_depth > 0 {
        notes.push(format!(
            "{at_depth} prefill points after a context (llama-bench `n_depth`) not fitted: the engine projects a prompt into an empty cache"
        ));
    }
    // the KV term is separable only when the contexts differ; otherwise it reads at e_w
    let kv_spread = contexts_spread(&decode.rows, policy.kv_context_spread_min);
    // without a spread of contexts the KV read is folded into the weights' term
    let cols_d = if kv_spread { 3 } else { 2 };
    let d_rows: Vec<Row> = if kv_spread {
        decode.rows.clone()
    } else {
        notes.push("the decode points do not vary the context enough to separate the KV-cache read: it is read at the weights' efficiency".into());
        decode.rows.iter().map(|r| Row { x: vec![r.x[0] + r.x[1], r.x[2]], ..r.clone() }).collect()
    };
    let d_names: Vec<&str> = if kv_spread { decode.names.clone() } else { vec![decode.names[0], decode.names[2]] };
    let full_d = if d_rows.is_empty() {
        None
    } else {
        Some(solve(&d_rows, cols_d).ok_or_else(|| {
            bad(format!(
                "cannot fit decode: {} points for {} constants ({}); give more points, on models of different sizes or contexts",
                d_rows.len(),
                cols_d,
                d_names.join(", ")
            ))
        })?)
    };
    let full_p = if prefill.rows.is_empty() {
        None
    } else {
        Some(solve(&prefill.rows, 2).ok_or_else(|| {
            bad(format!(
                "cannot fit prefill: {} points for 2 constants (1/prefill_util, prefill_layer_us); give prompts of different lengths",
                prefill.rows.len()
            ))
        })?)
    };
    if full_d.is_none() && full_p.is_none() {
        return Err(bad("no measurements of the selected devices to fit"));
    }
    let residuals = residuals_of(&labels, (&d_rows, cols_d, full_d.as_deref()), (&prefill.rows, full_p.as_deref()));
    let inv = |x: f64| if x > 0.0 { 1.0 / x } else { 1.0 };
    let (e_w, e_kv, c_d) = match &full_d {
        Some(c) if kv_spread => (inv(c[0]), Some(inv(c[1])), c[2]),
        Some(c) => (inv(c[0]), None, c[1]),
        None => (1.0, None, 0.0),
    };
    let (u, c_p) = match &full_p {
        Some(c) => (inv(c[0]), c[1]),
        None => {
            notes.push("no prefill points: prefill_util left at 1.0".into());
            (1.0, 0.0)
        }
    };
    physical(policy, e_w, e_kv, u, util_cap.as_ref(), &d_rows, kv_spread)?;
    let all_fitted = as_comparisons(&residuals, |r| Some(r.error_pct));
    let all_loo = as_comparisons(&residuals, |r| r.loo_error_pct);
    let all_lodo = as_comparisons(&residuals, |r| r.held_out_device_error_pct);
    let mut fitted = IndexMap::new();
    let mut leave_one_out = IndexMap::new();
    let mut leave_one_device_out = IndexMap::new();
    for m in [Metric::Decode, Metric::Prefill] {
        fitted.insert(m.name().to_string(), summarise(&all_fitted, m, policy));
        leave_one_out.insert(m.name().to_string(), summarise(&all_loo, m, policy));
        let s = summarise(&all_lodo, m, policy);
        if s.n > 0 {
            leave_one_device_out.insert(m.name().to_string(), s);
        }
    }
    let moe = |i: usize| set.points.get(i).and_then(|p| set.models.get(&p.model)).is_some_and(|m| m.is_moe());
    let error_band = error_band(&residuals, policy, moe, &mut notes);
    Ok(Fit {
        calibration: LlmCalibration {
            decode_bw_efficiency: round_sig(e_w),
            decode_kv_bw_efficiency: e_kv.map(round_sig),
            decode_layer_us: round_sig(c_d),
            prefill_util: round_sig(u),
            prefill_layer_us: round_sig(c_p),
            prefill_peak,
            error_band,
            band_caveat: None,
            source,
        },
        residuals,
        fitted,
        leave_one_out,
        leave_one_device_out,
        notes,
    })
}

/// A fitted point: index, device, model, metric, tokens, measured tok/s.
type Label = (usize, String, String, Metric, u64, f64);

/// Every point's fitted error, its error when the fit leaves it out, and its error when the
/// fit leaves out its whole device; `decode` and `prefill` are each metric's rows, the
/// columns fitted and the fitted coefficients.
fn residuals_of(
    labels: &[Label],
    decode: (&[Row], usize, Option<&[f64]>),
    prefill: (&[Row], Option<&[f64]>),
) -> Vec<Residual> {
    let predict = |r: &Row, c: &[f64]| r.x.iter().zip(c).map(|(a, b)| a * b).sum::<f64>() + r.offset;
    let loo = |rows: &[Row], cols: usize, i: usize| -> Option<f64> {
        let rest: Vec<Row> = rows.iter().enumerate().filter(|(j, _)| *j != i).map(|(_, r)| r.clone()).collect();
        let c = solve(&rest, cols)?;
        let t = predict(&rows[i], &c);
        (t > 0.0).then_some(t)
    };
    // the device of each row, per metric (rows were pushed in label order)
    let devices_of = |m: Metric| -> Vec<&str> { labels.iter().filter(|l| l.3 == m).map(|l| l.1.as_str()).collect() };
    let (d_dev, p_dev) = (devices_of(Metric::Decode), devices_of(Metric::Prefill));
    let lodo = |rows: &[Row], cols: usize, dev: &[&str], i: usize| -> Option<f64> {
        let rest: Vec<Row> = rows.iter().zip(dev).filter(|(_, d)| **d != dev[i]).map(|(r, _)| r.clone()).collect();
        if rest.is_empty() {
            return None;
        }
        let c = solve(&rest, cols)?;
        let t = predict(&rows[i], &c);
        (t > 0.0).then_some(t)
    };
    let mut residuals = Vec::new();
    let (mut di, mut pi) = (0usize, 0usize);
    for lab in labels.iter() {
        let (rows, cols, coef, idx, dev) = match lab.3 {
            Metric::Decode => (decode.0, decode.1, decode.2, &mut di, &d_dev),
            Metric::Prefill => (prefill.0, 2, prefill.1, &mut pi, &p_dev),
            Metric::Combined => continue,
        };
        let Some(coef) = coef else { continue };
        let r = &rows[*idx];
        let scale = if lab.3 == Metric::Prefill { lab.4 as f64 } else { 1.0 };
        let fitted = scale / predict(r, coef);
        let loo_t = loo(rows, cols, *idx).map(|t| scale / t);
        let lodo_t = lodo(rows, cols, dev, *idx).map(|t| scale / t);
        residuals.push(Residual {
            point: r.point,
            device: lab.1.clone(),
            model: lab.2.clone(),
            metric: lab.3,
            tokens: lab.4,
            measured: lab.5,
            fitted,
            error_pct: (fitted - lab.5) / lab.5 * 100.0,
            loo_error_pct: loo_t.map(|t| (t - lab.5) / lab.5 * 100.0),
            held_out_device_error_pct: lodo_t.map(|t| (t - lab.5) / lab.5 * 100.0),
        });
        *idx += 1;
    }
    residuals
}

/// The `q`-quantile of sorted values, interpolated linearly between ranks (numpy's default).
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    match sorted.len() {
        0 => f64::NAN,
        1 => sorted[0],
        n => {
            let h = q.clamp(0.0, 1.0) * (n - 1) as f64;
            let lo = h.floor() as usize;
            let hi = (lo + 1).min(n - 1);
            sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
        }
    }
}

/// The fit's error band: the policy's quantiles of its held-out relative errors per metric,
/// each device refitted without its own points when the fit spans several devices, else each
/// point without itself. `None` (with a note) when a metric has too few held-out errors.
/// `moe` tells whether a point's model is a Mixture of Experts.
fn error_band(
    res: &[Residual],
    policy: &CalibrationPolicy,
    moe: impl Fn(usize) -> bool,
    notes: &mut Vec<String>,
) -> Option<ErrorBand> {
    let by_device = |m: Metric| {
        let mut d: Vec<&str> = res.iter().filter(|r| r.metric == m).map(|r| r.device.as_str()).collect();
        d.sort_unstable();
        d.dedup();
        d.len() > 1
    };
    let held_out_device = by_device(Metric::Decode) && by_device(Metric::Prefill);
    let errs = |m: Metric| -> Vec<f64> {
        let mut v: Vec<f64> = res
            .iter()
            .filter(|r| r.metric == m)
            .filter_map(|r| if held_out_device { r.held_out_device_error_pct } else { r.loo_error_pct })
            .map(|e| e / 100.0)
            .collect();
        v.sort_by(f64::total_cmp);
        v
    };
    let (d, p) = (errs(Metric::Decode), errs(Metric::Prefill));
    let held =
        |r: &&Residual| if held_out_device { r.held_out_device_error_pct.is_some() } else { r.loo_error_pct.is_some() };
    let moe_points = res.iter().filter(held).filter(|r| moe(r.point)).count() as u32;
    if d.len() < policy.band_min_points || p.len() < policy.band_min_points {
        notes.push(format!(
            "no error band: {} decode and {} prefill held-out errors, {} of each needed (`calibration_policy.band_min_points`); projections with this fit take the engine defaults' band",
            d.len(),
            p.len(),
            policy.band_min_points
        ));
        return None;
    }
    let [lo, hi] = policy.band_quantiles;
    let q = |v: &[f64], x: f64| (quantile(v, x) * 1e4).round() / 1e4;
    Some(ErrorBand {
        decode_p10: q(&d, lo),
        decode_p90: q(&d, hi),
        prefill_p10: q(&p, lo),
        prefill_p90: q(&p, hi),
        held_out: if held_out_device { "device" } else { "point" }.into(),
        points: (d.len() + p.len()) as u32,
        moe_points: Some(moe_points).filter(|n| *n > 0),
    })
}

/// Refuses a fit whose constants no hardware can have: a decode efficiency above the spec
/// bandwidth, or a prefill faster than the highest dense peak of a device it was fitted on.
fn physical(
    policy: &CalibrationPolicy,
    e_w: f64,
    e_kv: Option<f64>,
    u: f64,
    util_cap: Option<&(f64, String)>,
    d_rows: &[Row],
    kv_spread: bool,
) -> Result<(), EngineError> {
    let max_bw = policy.max_bandwidth_share;
    if e_w > max_bw {
        return Err(bad(format!(
            "the fit gives decode_bw_efficiency {}: above {max_bw} of the spec bandwidth, which no memory delivers; refused (check the devices' `mem_bandwidth_gbs` and the measured model's size)",
            round_sig(e_w)
        )));
    }
    if let Some(e) = e_kv.filter(|e| *e > max_bw) {
        let ctx = |f: fn(f64, f64) -> f64, init: f64| {
            d_rows.iter().map(|r| r.x[1] / r.x[0].max(f64::MIN_POSITIVE)).fold(init, f)
        };
        return Err(bad(format!(
            "the fit gives decode_kv_bw_efficiency {}: above {max_bw} of the spec bandwidth, which no memory delivers; refused. The decode points' KV-to-weights read ratio spans only {:.3}..{:.3}{}: add decode points at deeper contexts",
            round_sig(e),
            ctx(f64::min, f64::INFINITY),
            ctx(f64::max, 0.0),
            if kv_spread { "" } else { " (not separable)" }
        )));
    }
    if let Some((cap, device)) = util_cap.filter(|(c, _)| u > *c) {
        return Err(bad(format!(
            "the fit gives prefill_util {}: faster than the highest dense peak of `{device}` (at most {}); refused (check its peak TOPS and the prompt lengths)",
            round_sig(u),
            round_sig(*cap)
        )));
    }
    Ok(())
}

/// Four significant digits: fitted constants are not known better, and short numbers read
/// well in data files.
fn round_sig(x: f64) -> f64 {
    if x == 0.0 || !x.is_finite() {
        return x;
    }
    let d = 3 - x.abs().log10().floor() as i32;
    let f = 10f64.powi(d);
    (x * f).round() / f
}

/// The JSON of a fit, for reports.
pub fn fit_json(f: &Fit) -> Value {
    serde_json::to_value(f).unwrap_or_default()
}

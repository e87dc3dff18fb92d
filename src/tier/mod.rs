//! Hardware tiers: silicon facts, calibration constants, capability table, provenance, clone
//! tracking and measurement attachments (reference spec §1.2–1.6).
//!
//! [`TierSpec`] is the file and wire form (every field of the reference tier, in its order).
//! [`Tier`] is the resolved, immutable form the engine uses: the capability table is
//! resolved, and the numbers the rules read are laid out flat for fast binding.

pub mod custom;
pub mod defaults;
pub mod variants;

pub use crate::precision::TopsField;
use crate::precision::{CapabilityInfo, CapabilityLevel, CapabilityTable};
use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Provenance of a tier's calibration constants (or of one perception metric).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CalibrationSource {
    /// How the constants were obtained: `measured`, `interpolated`, `vendor_spec`, `default`,
    /// `projected` or `derived_from_measured` (other strings are carried).
    pub method: String,
    /// Free-text citation.
    pub reference: String,
    /// `high`, `medium` or `low`; the `default` method requires `low`.
    pub confidence: String,
    /// The measurement set the constants were fitted on or read from (`calibrate`,
    /// `ingest`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measurement_set: Option<String>,
    /// How many measured points are behind them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub points: Option<u32>,
    /// When they were fitted or measured, `YYYY-MM-DD` (UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
}

/// Today's date, `YYYY-MM-DD` in UTC: the date a fit or an ingest stamps on its constants.
pub fn today_utc() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    // days since 1970-01-01 to the civil date (proleptic Gregorian; Howard Hinnant's method)
    let z = (secs / 86_400) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

impl CalibrationSource {
    /// Builds a calibration source, refusing the `default` method with a confidence other
    /// than `low` (calibration defaults are not calibrated). Other values are carried.
    pub fn new(
        method: impl Into<String>,
        reference: impl Into<String>,
        confidence: impl Into<String>,
    ) -> Result<Self, crate::error::EngineError> {
        let c = CalibrationSource {
            method: method.into(),
            reference: reference.into(),
            confidence: confidence.into(),
            ..Default::default()
        };
        if c.method == "default" && c.confidence != "low" {
            return Err(crate::error::EngineError::InvalidValue(
                "CalibrationSource: method='default' requires confidence='low'. Calibration defaults are not calibrated."
                    .into(),
            ));
        }
        Ok(c)
    }
}

/// The application-processor complex of a tier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CpuComplex {
    /// Number of cores of this type.
    pub cores: u32,
    /// Micro-architecture, free text (`A55`, `A720`, `x86_64`).
    pub microarch: String,
    /// Per-core clock in GHz.
    pub clock_ghz: f64,
}

/// A latency distribution in milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LatencyDistribution {
    /// Median latency, ms.
    pub median_ms: f64,
    /// 95th-percentile latency, ms.
    pub p95_ms: f64,
    /// Maximum latency, ms.
    #[serde(default)]
    pub max_ms: Option<f64>,
}

/// Iteration counts (hardware-invariant) and solve time (not) of an iterative solver.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SolverConvergenceAnchor {
    /// Median iterations.
    pub iters_median: serde_json::Number,
    /// 95th-percentile iterations.
    pub iters_p95: serde_json::Number,
    /// Solve time per frame, ms.
    pub solve_ms: LatencyDistribution,
    /// Maximum iterations.
    #[serde(default)]
    pub iters_max: Option<serde_json::Number>,
}

/// One perception workload measured on one tier; each metric has its own provenance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PerceptionAnchor {
    /// Workload class, e.g. `orb_slam3`, `vins_fusion`, `openvins`.
    pub workload_class: String,
    /// Frame latency, ms.
    pub latency: LatencyDistribution,
    /// Provenance of the latency.
    pub latency_source: CalibrationSource,
    /// Solver convergence (filter-based workloads have none).
    #[serde(default)]
    pub solver: Option<SolverConvergenceAnchor>,
    /// Provenance of the solver figures.
    #[serde(default)]
    pub solver_source: Option<CalibrationSource>,
    /// Memory bandwidth, GB/s.
    #[serde(default)]
    pub bw_gbs: Option<f64>,
    /// Provenance of the bandwidth.
    #[serde(default)]
    pub bw_source: Option<CalibrationSource>,
    /// CPU occupancy in (fractional) cores.
    #[serde(default)]
    pub cores: Option<f64>,
    /// Provenance of the occupancy.
    #[serde(default)]
    pub cores_source: Option<CalibrationSource>,
}

/// One measured LLM cell: a model on a tier under one workload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MeasuredCell {
    /// Decode rate, tok/s.
    pub decode_tok_s: f64,
    /// Prefill rate, tok/s (absent or 0: derived from `ttft_s` when possible).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefill_tok_s: Option<f64>,
    /// Time to first token, s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttft_s: Option<f64>,
    /// Host time, ms (0 is honoured).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_ms: Option<f64>,
}

/// Vision measurements: pipeline → resolution → metric (`ms_per_inference`, `fps`, …) → value.
pub type VisionOverrides = IndexMap<String, IndexMap<String, IndexMap<String, f64>>>;

/// A hardware tier as written in a registry file or sent inline: every field of the
/// reference tier, in the reference's order. The calibration constants a tier may omit
/// take their values from the registry's `tier_defaults` ([`defaults::TierDefaults`]),
/// filled in before the spec is typed ([`defaults::spec_from_json`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = defaults::defaulted_fields_optional)]
pub struct TierSpec {
    /// Schema version of the file format (required in registry files, optional inline).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_version: Option<u32>,
    /// Display name; unique within a registry.
    pub name: String,
    /// BF16 peak, TOPS (FP16 shares this field).
    pub peak_tops_bf16: f64,
    /// INT8 peak, TOPS.
    pub peak_tops_int8: f64,
    /// FP8 peak, TOPS.
    pub peak_tops_fp8: f64,
    /// Raw peak DRAM bandwidth, GB/s (10⁹ B/s).
    pub mem_bandwidth_gbs: f64,
    /// DRAM capacity, GB (10⁹ B).
    pub mem_capacity_gb: f64,
    /// Memory bus width, bits.
    pub mem_bus_width_bits: u32,
    /// Memory technology, free text (`LPDDR5X`, `GDDR7`, …).
    pub mem_type: String,
    /// Memory data rate, GT/s.
    pub mem_data_rate_gtps: f64,
    /// FP4 (NVFP4/MXFP4) peak, TOPS.
    #[serde(default)]
    pub peak_tops_fp4: f64,
    /// Application-processor complex.
    #[serde(default)]
    pub cpu: Option<CpuComplex>,
    /// Effective / peak TOPS (vision floor only), fraction.
    pub compute_efficiency: f64,
    /// Effective / peak bandwidth, fraction.
    pub bandwidth_efficiency: f64,
    /// Thermal design power, W (informational).
    #[serde(default)]
    pub tdp_watts: f64,
    /// Family for same-class anchor borrowing.
    #[serde(default)]
    pub tier_family: Option<String>,
    /// Vision compute-floor utilisation, fraction.
    pub compute_util_factor: f64,
    /// LLM compute-floor utilisation applied to raw peak TOPS, fraction.
    pub llm_prefill_util_factor: f64,
    /// Decode bandwidth realisation, fraction.
    pub llm_decode_bw_realization: f64,
    /// Fixed per-request overhead, ms (added to TTFT; default host time).
    pub compute_overhead_ms: f64,
    /// Bandwidth share of the NPU on a shared bus, fraction.
    pub npu_share_default: f64,
    /// Inline capability table (key → level + reason). Registry files usually name a shared
    /// table with `capability_table` instead; null with no table means the peak-TOPS heuristic.
    #[serde(default)]
    pub capability_levels: Option<IndexMap<String, CapabilityInfo>>,
    /// Name of a registry capability table (alternative to an inline `capability_levels`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capability_table: Option<String>,
    /// Precision rung (`int8`, `int8_fp8`, `int8_fp8_fp4`); custom tiers only.
    #[serde(default)]
    pub npu_precision_set: Option<String>,
    /// Provenance of the calibration constants.
    #[serde(default)]
    pub calibration_source: Option<CalibrationSource>,
    /// True on memory-upgrade clones.
    #[serde(default)]
    pub bw_projected: bool,
    /// Raw bandwidth of the original stock tier (clones), GB/s.
    #[serde(default)]
    pub stock_mem_bandwidth_gbs: Option<f64>,
    /// Name of the original stock tier (clones).
    #[serde(default)]
    pub stock_name: Option<String>,
    /// Tier-level decode anchors by model key, tok/s.
    #[serde(default)]
    pub measured_decode_overrides: Option<IndexMap<String, f64>>,
    /// Tier-level prefill anchors by model key, tok/s.
    #[serde(default)]
    pub measured_prefill_overrides: Option<IndexMap<String, f64>>,
    /// Vision measurements: pipeline → resolution → metric → value (carried, not used).
    #[serde(default)]
    pub measured_vision_overrides: Option<VisionOverrides>,
    /// Per-cell LLM measurements: model key → workload id → cell.
    #[serde(default)]
    pub measured_llm: Option<IndexMap<String, IndexMap<String, MeasuredCell>>>,
    /// Perception anchors by workload class.
    #[serde(default)]
    pub measured_perception: Option<IndexMap<String, PerceptionAnchor>>,
    /// Constants of the measured LLM cost model (decode and prefill), fitted by `ratchet
    /// calibrate` or taken from the silicon class; read by the default rule set's
    /// first-principles path, ignored by `ratchet-0.3.2`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub llm_calibration: Option<LlmCalibration>,
    /// The runtime the tier's numbers are for (a key of `tables/runtimes.ron`); a custom tier
    /// takes its silicon class's constants fitted under this runtime.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<String>,
    /// The silicon class a registry tier belongs to (a key of `tables/silicon_classes.ron`):
    /// a tier without its own `llm_calibration` takes the class's fit under its runtime, as a
    /// custom tier of the class does, so its first-principles numbers rest on measurements of
    /// its kind of silicon. Ignored by `ratchet-0.3.2`, whose rules never read a fit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub silicon_class: Option<String>,
    /// How much of the memory its accelerator may use when the memory is shared with a host
    /// (a key of `sharing` in `tables/memory.ron`: `macos-metal`, `linux-amdgpu-gtt`, …); all
    /// of it when absent. The default rule set's memory check reads it; `ratchet-0.3.2` does
    /// not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_sharing: Option<String>,
    /// The vendor's published dense peak where a peak field above keeps another value (the
    /// reference's tier files: the RTX 5090's `peak_tops_int8` is 419, its whitepaper says
    /// 838 dense), with its source. The default rule set's fitted cost model reads these
    /// (`published_peak_tops`); `ratchet-0.3.2` reads the fields.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub published_peaks: IndexMap<TopsField, PublishedPeak>,
}

/// A vendor-published peak, cited.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PublishedPeak {
    /// Dense TOPS (TFLOPS for float dtypes).
    pub value: f64,
    /// Where it is published.
    pub source: String,
}

/// Constants of the LLM cost model: a decoded token streams the active weights and reads the
/// KV cache of its context, each at its own fraction of the spec-sheet bandwidth, and pays a
/// fixed cost per layer; a prompt costs its matmul and attention FLOPs at a fraction of the
/// dense peak, plus a fixed cost per layer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LlmCalibration {
    /// Fraction of `mem_bandwidth_gbs` realised streaming weights in decode.
    pub decode_bw_efficiency: f64,
    /// Fraction of `mem_bandwidth_gbs` realised reading the KV cache (attention kernels);
    /// `decode_bw_efficiency` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decode_kv_bw_efficiency: Option<f64>,
    /// Fixed cost per layer per decoded token (kernel launches, synchronisation), µs.
    #[serde(default)]
    pub decode_layer_us: f64,
    /// Fraction of the compute dtype's dense peak realised by prefill.
    pub prefill_util: f64,
    /// Fixed cost per layer per prompt, µs.
    #[serde(default)]
    pub prefill_layer_us: f64,
    /// The dtype whose dense peak `prefill_util` is a share of: the peak that scales the fit's
    /// runtime's prompt matmuls across devices (`prefill_peak_dtype` of `tables/runtimes.ron`,
    /// INT8 for llama.cpp's CUDA kernels). The compute floor's dtype when absent, or when the
    /// tier lists no such peak.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefill_peak: Option<String>,
    /// How far projections with these constants landed from measurements the fit did not
    /// see (`ratchet calibrate` writes it): the uncertainty band of every number they produce.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_band: Option<ErrorBand>,
    /// Why the fit's `error_band` does not carry to this tier, when it does not (set by a
    /// class's fit selection, never in a file): the class was fitted under another runtime,
    /// or on one device only. Its numbers then take a band that also spans the engine
    /// defaults'.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub band_caveat: Option<String>,
    /// Where the constants come from.
    pub source: CalibrationSource,
}

/// The 10th and 90th percentiles of the relative error (projected − measured) / measured of
/// a fit's held-out projections, per metric: a projected rate `r` puts the true rate in
/// `r / (1 + p90) ..= r / (1 + p10)` eight times in ten (ADR 0030).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ErrorBand {
    /// Decode, 10th percentile (a fraction: -0.1 is 10 % under the measurement).
    pub decode_p10: f64,
    /// Decode, 90th percentile.
    pub decode_p90: f64,
    /// Prefill, 10th percentile.
    pub prefill_p10: f64,
    /// Prefill, 90th percentile.
    pub prefill_p90: f64,
    /// What was held out to get the errors: `device` (each device refitted without its own
    /// points) or `point` (a fit on one device: each point refitted without itself).
    pub held_out: String,
    /// Held-out projections the percentiles are of.
    pub points: u32,
    /// How many of them are of Mixture-of-Experts models (absent: none). A band measured on
    /// dense models only does not carry to an MoE model: the rules widen it there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moe_points: Option<u32>,
}

/// The peak-TOPS fields of a tier, read and written (the field names are precision's).
impl TopsField {
    /// Reads the field from a tier.
    pub fn get(self, t: &TierSpec) -> f64 {
        match self {
            TopsField::PeakTopsBf16 => t.peak_tops_bf16,
            TopsField::PeakTopsInt8 => t.peak_tops_int8,
            TopsField::PeakTopsFp8 => t.peak_tops_fp8,
            TopsField::PeakTopsFp4 => t.peak_tops_fp4,
        }
    }

    /// Writes the field of a tier.
    pub fn set(self, t: &mut TierSpec, v: f64) {
        match self {
            TopsField::PeakTopsBf16 => t.peak_tops_bf16 = v,
            TopsField::PeakTopsInt8 => t.peak_tops_int8 = v,
            TopsField::PeakTopsFp8 => t.peak_tops_fp8 = v,
            TopsField::PeakTopsFp4 => t.peak_tops_fp4 = v,
        }
    }

    /// The vendor-published peak of this field: the tier's `published_peaks` entry, else
    /// the field.
    pub fn published(self, t: &TierSpec) -> f64 {
        t.published_peaks.get(&self).map_or_else(|| self.get(t), |p| p.value)
    }

    /// The highest dense peak a tier lists over every dtype: the ceiling of its compute.
    pub fn highest(t: &TierSpec) -> f64 {
        [TopsField::PeakTopsBf16, TopsField::PeakTopsInt8, TopsField::PeakTopsFp8, TopsField::PeakTopsFp4]
            .iter()
            .map(|f| f.get(t))
            .fold(0.0, f64::max)
    }
}

/// A resolved, immutable tier: the spec with its capability table resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Tier {
    /// Every field as given.
    pub spec: TierSpec,
    /// The resolved capability table (named registry table or the inline one); `None` means
    /// the peak-TOPS heuristic.
    pub capability: Option<Arc<CapabilityTable>>,
    /// Position in the registry that built this tier (the engine specialises its programs
    /// for registry tiers); `None` for tiers built per request.
    pub(crate) registry_slot: Option<u32>,
}

impl Tier {
    /// Resolves a spec against a capability-table lookup. An inline `capability_levels`
    /// wins; a named table that does not resolve is reported by the validator, and is
    /// treated here as "no table".
    pub fn resolve(spec: TierSpec, tables: &IndexMap<String, Arc<CapabilityTable>>) -> Tier {
        let capability = match (&spec.capability_levels, &spec.capability_table) {
            (Some(levels), _) => {
                let name = tables.iter().find(|(_, t)| &t.entries == levels).map(|(n, _)| n.clone());
                Some(Arc::new(CapabilityTable { name, entries: levels.clone() }))
            }
            (None, Some(name)) => tables.get(name).cloned(),
            (None, None) => None,
        };
        Tier { spec, capability, registry_slot: None }
    }

    /// The display name.
    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// `mem_bandwidth_gbs × bandwidth_efficiency` (no NPU share), GB/s.
    pub fn effective_bandwidth_gbs(&self) -> f64 {
        self.spec.mem_bandwidth_gbs * self.spec.bandwidth_efficiency
    }

    /// The stock name for memory-upgrade clones, else the name; used for anchor routing and
    /// the same-family search.
    pub fn lookup_name(&self) -> &str {
        self.spec.stock_name.as_deref().unwrap_or(&self.spec.name)
    }

    /// The capability level recorded for `key` (exact case), if the tier has a table.
    pub fn capability_level(&self, key: &str) -> Option<CapabilityLevel> {
        self.capability.as_ref().map(|t| t.entries.get(key).map(|i| i.level).unwrap_or(CapabilityLevel::Unsupported))
    }

    /// The spec with the resolved capability table written inline, as the reference
    /// reports a tier (`capability_table` dropped).
    pub fn to_full_spec(&self) -> TierSpec {
        let mut s = self.spec.clone();
        s.capability_levels = self.capability.as_ref().map(|t| t.entries.clone());
        s.capability_table = None;
        s.schema_version = None;
        s
    }
}

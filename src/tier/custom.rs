//! Custom tiers built from silicon-class defaults and an optional precision-set rung
//! (reference spec §3.11). The classes and rungs are registry data; this is the builder.

use crate::error::EngineError;
use crate::numeric::{py_list_repr, py_str_repr};
use crate::precision::PrecisionSetTable;
use crate::tier::{CalibrationSource, TierSpec};
use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The parameters of `make_custom_tier` (also the content of a `custom-tiers/*` file).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomTierParams {
    /// File format version (required in registry files, optional inline).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_version: Option<u32>,
    /// Display name.
    pub name: String,
    /// Silicon class whose defaults fill the calibration constants.
    pub silicon_class: String,
    /// INT8 peak, TOPS.
    pub peak_tops_int8: f64,
    /// Raw peak bandwidth, GB/s (taken as given, not derived from bus × rate).
    pub mem_bandwidth_gbs: f64,
    /// Capacity, GB.
    pub mem_capacity_gb: f64,
    /// Bus width, bits.
    pub mem_bus_width_bits: u32,
    /// Memory technology.
    pub mem_type: String,
    /// Data rate, GT/s.
    pub mem_data_rate_gtps: f64,
    /// BF16 peak, TOPS.
    #[serde(default)]
    pub peak_tops_bf16: f64,
    /// FP8 peak, TOPS.
    #[serde(default)]
    pub peak_tops_fp8: f64,
    /// FP4 peak, TOPS.
    #[serde(default)]
    pub peak_tops_fp4: f64,
    /// Precision rung; forces its capability table and zeroes its peaks.
    #[serde(default)]
    pub npu_precision_set: Option<String>,
    /// Overrides the class's compute efficiency.
    #[serde(default)]
    pub compute_efficiency: Option<f64>,
    /// Overrides the class's bandwidth efficiency.
    #[serde(default)]
    pub bandwidth_efficiency: Option<f64>,
    /// Thermal design power, W.
    #[serde(default)]
    pub tdp_watts: f64,
    /// The runtime the tier is projected under (a key of `tables/runtimes.ron`); the class's
    /// `default_runtime` when absent. Picks the class's constants fitted under it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<String>,
    /// How much of the memory the accelerator may use (a key of `sharing` in
    /// `tables/memory.ron`); all of it when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_sharing: Option<String>,
}

/// Builds the tier spec; errors carry the reference's exact messages.
pub fn make_custom_tier(
    p: &CustomTierParams,
    classes: &SiliconClassTable,
    sets: &PrecisionSetTable,
) -> Result<TierSpec, EngineError> {
    let Some(d) = classes.classes.get(&p.silicon_class) else {
        let mut valid: Vec<&str> = classes.classes.keys().map(String::as_str).collect();
        valid.sort_unstable();
        return Err(EngineError::InvalidValue(format!(
            "make_custom_tier: unknown silicon_class={}. Valid: {}",
            py_str_repr(&p.silicon_class),
            py_list_repr(valid)
        )));
    };
    let mut capability = d.capability_table.clone();
    let mut spec = TierSpec {
        schema_version: None,
        name: p.name.clone(),
        peak_tops_bf16: p.peak_tops_bf16,
        peak_tops_int8: p.peak_tops_int8,
        peak_tops_fp8: p.peak_tops_fp8,
        mem_bandwidth_gbs: p.mem_bandwidth_gbs,
        mem_capacity_gb: p.mem_capacity_gb,
        mem_bus_width_bits: p.mem_bus_width_bits,
        mem_type: p.mem_type.clone(),
        mem_data_rate_gtps: p.mem_data_rate_gtps,
        peak_tops_fp4: p.peak_tops_fp4,
        cpu: None,
        compute_efficiency: p.compute_efficiency.unwrap_or(d.compute_efficiency),
        bandwidth_efficiency: p.bandwidth_efficiency.unwrap_or(d.bandwidth_efficiency),
        tdp_watts: p.tdp_watts,
        tier_family: Some(d.tier_family.clone()),
        compute_util_factor: d.compute_util_factor,
        llm_prefill_util_factor: d.llm_prefill_util_factor,
        llm_decode_bw_realization: d.llm_decode_bw_realization,
        compute_overhead_ms: d.compute_overhead_ms,
        npu_share_default: d.npu_share_default,
        capability_levels: None,
        capability_table: None,
        npu_precision_set: None,
        calibration_source: Some(CalibrationSource {
            method: classes.custom_calibration.method.clone(),
            reference: classes.custom_calibration.reference.replace("{class}", &p.silicon_class),
            confidence: classes.custom_calibration.confidence.clone(),
            ..Default::default()
        }),
        bw_projected: false,
        stock_mem_bandwidth_gbs: None,
        stock_name: None,
        measured_decode_overrides: None,
        measured_prefill_overrides: None,
        measured_vision_overrides: None,
        measured_llm: None,
        measured_perception: None,
        llm_calibration: None,
        runtime: p.runtime.clone(),
        memory_sharing: p.memory_sharing.clone(),
        silicon_class: None,
        published_peaks: IndexMap::new(),
    };
    spec.llm_calibration = classes.fit_for(&p.silicon_class, p.runtime.as_deref());
    if let Some(rung) = &p.npu_precision_set {
        let Some(set) = sets.sets.get(rung) else {
            let mut valid: Vec<&str> = sets.sets.keys().map(String::as_str).collect();
            valid.sort_unstable();
            return Err(EngineError::InvalidValue(format!(
                "make_custom_tier: unknown npu_precision_set={}. Valid: {}",
                py_str_repr(rung),
                py_list_repr(valid)
            )));
        };
        capability = Some(set.capability_table.clone());
        for f in &set.zeroed_peaks {
            f.set(&mut spec, 0.0);
        }
        spec.npu_precision_set = Some(rung.clone());
    }
    spec.capability_table = capability;
    Ok(spec)
}

impl SiliconClassTable {
    /// The cost model a tier of `class` projected under `runtime` takes: the class's fit under
    /// that runtime; else the class's own fit, labelled as fitted under another runtime (at
    /// the custom-tier confidence) when the runtime is not the one it was fitted under; else
    /// none, and the tier keeps the engine defaults.
    pub fn fit_for(&self, class: &str, runtime: Option<&str>) -> Option<crate::tier::LlmCalibration> {
        let d = self.classes.get(class)?;
        let runtime = runtime.or(d.default_runtime.as_deref());
        if let Some((r, c)) = runtime.and_then(|r| d.runtime_calibrated.get(r).map(|c| (r, c))) {
            return Some(self.as_applied(class, c.clone(), Some(r), Some(r)));
        }
        d.calibrated.clone().map(|c| self.as_applied(class, c, d.default_runtime.as_deref(), runtime))
    }

    /// A fit of `class` made under `fitted_under`, as a tier projected under `runtime` takes
    /// it: labelled as fitted under another runtime (at the custom-tier confidence) when the
    /// two differ, and with a `band_caveat` where its error band does not carry to the tier
    /// (held out by point on the one device the class was fitted on; another runtime).
    pub fn as_applied(
        &self,
        class: &str,
        mut c: crate::tier::LlmCalibration,
        fitted_under: Option<&str>,
        runtime: Option<&str>,
    ) -> crate::tier::LlmCalibration {
        if c.error_band.as_ref().is_some_and(|b| b.held_out == "point") {
            c.band_caveat = Some(format!("class `{class}` was fitted on one device"));
        }
        if let Some(r) = runtime.filter(|r| Some(*r) != fitted_under) {
            let under = fitted_under.map_or_else(|| "other runtimes".into(), |x| format!("`{x}`"));
            c.source.reference =
                format!("{}; class `{class}` fitted under {under}, applied to runtime `{r}`", c.source.reference);
            c.source.confidence = self.custom_calibration.confidence.clone();
            // its held-out errors are of its own runtime: numbers under another take a band
            // that spans the engine defaults' too (ADR 0030)
            if let Some(u) = fitted_under {
                c.band_caveat = Some(format!("class `{class}` was fitted under runtime `{u}`"));
            }
        }
        c
    }
}

/// Defaults for a custom tier of one silicon class (reference spec §2.8).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SiliconClass {
    /// Effective / peak TOPS, fraction (overridable per custom tier).
    pub compute_efficiency: f64,
    /// Effective / peak bandwidth, fraction (overridable per custom tier).
    pub bandwidth_efficiency: f64,
    /// Tier family of custom tiers of this class.
    pub tier_family: String,
    /// Vision compute-floor utilisation, fraction.
    pub compute_util_factor: f64,
    /// LLM compute-floor utilisation, fraction.
    pub llm_prefill_util_factor: f64,
    /// Decode bandwidth realisation, fraction.
    pub llm_decode_bw_realization: f64,
    /// Fixed per-request overhead, ms.
    pub compute_overhead_ms: f64,
    /// NPU bandwidth share, fraction.
    pub npu_share_default: f64,
    /// Capability table name; null means the peak-TOPS heuristic.
    pub capability_table: Option<String>,
    /// The LLM cost model fitted to measured devices of this class; custom tiers carry it
    /// (the default rule set reads it, the reference rule set does not).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibrated: Option<crate::tier::LlmCalibration>,
    /// The runtime `calibrated` was fitted under, and the one a custom tier of the class is
    /// projected under unless it names another (a key of `tables/runtimes.ron`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_runtime: Option<String>,
    /// The class's cost model fitted under other runtimes, by runtime key: a custom tier
    /// naming one of them takes these constants.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub runtime_calibrated: IndexMap<String, crate::tier::LlmCalibration>,
}

/// `registry/tables/silicon_classes.ron`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SiliconClassTable {
    /// File format version.
    pub schema_version: u32,
    /// Calibration source given to custom tiers; `{class}` is replaced by the class name.
    pub custom_calibration: CalibrationSource,
    /// Values for the calibration constants a tier file or an inline tier omits.
    pub tier_defaults: crate::tier::defaults::TierDefaults,
    /// How measurements become constants: physical ranges, thresholds and bands.
    pub calibration_policy: CalibrationPolicy,
    /// Class name → defaults.
    pub classes: IndexMap<String, SiliconClass>,
}

/// How measurements become constants (`calibration_policy` in `silicon_classes.ron`): the
/// physical range of a fitted constant, when decode points separate the KV read, when a fit
/// is trusted, the accuracy bands reports count, and how far a measured file may differ
/// from the catalog model it is said to be.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CalibrationPolicy {
    /// Upper bound of a decode efficiency (a share of the spec bandwidth).
    pub max_bandwidth_share: f64,
    /// Upper bound of the prefill compute rate as a share of the device's highest dense peak.
    pub max_share_of_highest_peak: f64,
    /// Smallest spread of KV-bytes / weight-bytes across decode points that separates the
    /// KV read from the weights.
    pub kv_context_spread_min: f64,
    /// Points a fit needs for `high` confidence (fewer: `medium`).
    pub high_confidence_min_points: usize,
    /// Devices a silicon-class fit needs for `high` confidence (fewer: `medium`).
    pub high_confidence_min_devices: usize,
    /// The |error| bands, percent, that accuracy reports count points within.
    pub accuracy_bands_pct: Vec<f64>,
    /// How far a measured file's size may differ from its catalog model's, percent.
    pub model_size_tolerance_pct: f64,
    /// How far a measured file's parameter count may differ from its catalog model's, percent.
    pub model_params_tolerance_pct: f64,
    /// Held-out errors per metric a fit needs before it states an error band (fewer: the
    /// fit has no band and its numbers take the engine defaults' band).
    pub band_min_points: usize,
    /// The quantiles of the held-out relative error an error band spans (0.1 and 0.9: the
    /// 80 % band).
    pub band_quantiles: [f64; 2],
}

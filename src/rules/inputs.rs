//! The names formulas can read from a request: `hw.*` (the tier), `model.*`, `req.*` and
//! `opt.*`. This is the interface between the Rust types and the rules; it holds no domain
//! numbers.

use crate::catalog::LlmModel;
use crate::tier::Tier;

/// The type of a value in a formula (the expression core's).
pub use crate::expr::Ty;

/// Which namespaces an entry point provides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Namespaces {
    /// `hw.*`
    pub hw: bool,
    /// `model.*`
    pub model: bool,
    /// `req.workload_id`, `req.prompt_tokens`, `req.decode_tokens`, `opt.*`
    pub project: bool,
    /// `req.context_tokens`
    pub context: bool,
    /// `req.dtype_bytes`
    pub dtype_bytes: bool,
}

macro_rules! inputs {
    ($($var:ident = $name:literal : $ty:ident $(, $opt:ident)?;)*) => {
        /// An input field, resolved from its name at load time.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[allow(missing_docs)]
        pub enum Input { $($var,)* }

        /// Every input: (variant, name, type, optional).
        pub const INPUTS: &[(Input, &str, Ty, bool)] = &[
            $((Input::$var, $name, Ty::$ty, inputs!(@opt $($opt)?)),)*
        ];
    };
    (@opt optional) => { true };
    (@opt) => { false };
}

inputs! {
    HwName = "hw.name": Str;
    HwLookupName = "hw.lookup_name": Str;
    HwMemType = "hw.mem_type": Str;
    HwTierFamily = "hw.tier_family": Str, optional;
    HwNpuPrecisionSet = "hw.npu_precision_set": Str, optional;
    HwStockName = "hw.stock_name": Str, optional;
    HwMemorySharing = "hw.memory_sharing": Str, optional;
    HwBwProjected = "hw.bw_projected": Bool;
    HwHasCapabilityTable = "hw.has_capability_table": Bool;
    HwPeakTopsBf16 = "hw.peak_tops_bf16": Num;
    HwPeakTopsInt8 = "hw.peak_tops_int8": Num;
    HwPeakTopsFp8 = "hw.peak_tops_fp8": Num;
    HwPeakTopsFp4 = "hw.peak_tops_fp4": Num;
    HwMemBandwidthGbs = "hw.mem_bandwidth_gbs": Num;
    HwMemCapacityGb = "hw.mem_capacity_gb": Num;
    HwMemBusWidthBits = "hw.mem_bus_width_bits": Num;
    HwMemDataRateGtps = "hw.mem_data_rate_gtps": Num;
    HwComputeEfficiency = "hw.compute_efficiency": Num;
    HwBandwidthEfficiency = "hw.bandwidth_efficiency": Num;
    HwTdpWatts = "hw.tdp_watts": Num;
    HwComputeUtilFactor = "hw.compute_util_factor": Num;
    HwLlmPrefillUtilFactor = "hw.llm_prefill_util_factor": Num;
    HwLlmDecodeBwRealization = "hw.llm_decode_bw_realization": Num;
    HwComputeOverheadMs = "hw.compute_overhead_ms": Num;
    HwNpuShareDefault = "hw.npu_share_default": Num;
    HwStockMemBandwidthGbs = "hw.stock_mem_bandwidth_gbs": Num, optional;
    HwCalDecodeBwEfficiency = "hw.llm_calibration.decode_bw_efficiency": Num, optional;
    HwCalDecodeKvBwEfficiency = "hw.llm_calibration.decode_kv_bw_efficiency": Num, optional;
    HwCalDecodeLayerUs = "hw.llm_calibration.decode_layer_us": Num, optional;
    HwCalPrefillUtil = "hw.llm_calibration.prefill_util": Num, optional;
    HwCalPrefillLayerUs = "hw.llm_calibration.prefill_layer_us": Num, optional;
    HwCalPrefillPeak = "hw.llm_calibration.prefill_peak": Str, optional;
    HwCalBandDecodeP10 = "hw.llm_calibration.error_band.decode_p10": Num, optional;
    HwCalBandDecodeP90 = "hw.llm_calibration.error_band.decode_p90": Num, optional;
    HwCalBandPrefillP10 = "hw.llm_calibration.error_band.prefill_p10": Num, optional;
    HwCalBandPrefillP90 = "hw.llm_calibration.error_band.prefill_p90": Num, optional;
    HwCalBandHeldOut = "hw.llm_calibration.error_band.held_out": Str, optional;
    HwCalBandMoePoints = "hw.llm_calibration.error_band.moe_points": Num, optional;
    HwCalBandCaveat = "hw.llm_calibration.band_caveat": Str, optional;
    ModelKey = "model.key": Str;
    ModelFamily = "model.family": Str;
    ModelBase = "model.base": Str;
    ModelQuantScheme = "model.quant_scheme": Str;
    ModelComputeDtype = "model.compute_dtype": Str;
    ModelMeasurementAlias = "model.measurement_alias": Str, optional;
    ModelTotalParamsB = "model.total_params_b": Num;
    ModelActiveParamsB = "model.active_params_b": Num;
    ModelBytesPerParam = "model.bytes_per_param": Num;
    ModelGgufSizeGb = "model.gguf_size_gb": Num;
    ModelSizeGbInflight = "model.size_gb_inflight": Num;
    ModelNumLayers = "model.num_layers": Num;
    ModelHiddenDim = "model.hidden_dim": Num;
    ModelNumAttentionHeads = "model.num_attention_heads": Num;
    ModelNumKvHeads = "model.num_kv_heads": Num;
    ModelNumExperts = "model.num_experts": Num, optional;
    ModelExpertsPerToken = "model.experts_per_token": Num, optional;
    ModelCtxLenTrained = "model.ctx_len_trained": Num, optional;
    ModelVocabSize = "model.vocab_size": Num, optional;
    ModelHeadDim = "model.head_dim": Num, optional;
    ModelSlidingWindow = "model.sliding_window": Num, optional;
    ModelSlidingWindowLayers = "model.sliding_window_layers": Num, optional;
    ModelKvLoraRank = "model.kv_lora_rank": Num, optional;
    ModelQkRopeHeadDim = "model.qk_rope_head_dim": Num, optional;
    ModelStateLayers = "model.state_layers": Num, optional;
    ModelStateElementsPerLayer = "model.state_elements_per_layer": Num, optional;
    ModelSharedExperts = "model.shared_experts": Num, optional;
    ModelFirstDenseLayers = "model.first_dense_layers": Num, optional;
    ModelRoutedExpertParamsB = "model.routed_expert_params_b": Num, optional;
    ModelIsMoe = "model.is_moe": Bool;
    ModelLlmInvariantDecode = "model.llm_invariant_decode": Bool;
    ReqWorkloadId = "req.workload_id": Str;
    ReqPromptTokens = "req.prompt_tokens": Num;
    ReqDecodeTokens = "req.decode_tokens": Num;
    ReqContextTokens = "req.context_tokens": Num;
    ReqDtypeBytes = "req.dtype_bytes": Num;
    OptHostMs = "opt.host_ms": Num;
    OptCompilerQuality = "opt.compiler_quality": Num;
    OptNpuShare = "opt.npu_share": Num, optional;
    OptFp4RuntimeMaturity = "opt.fp4_runtime_maturity": Str;
    OptKvCacheDtype = "opt.kv_cache_dtype": Str, optional;
    OptKvCacheElementBytes = "opt.kv_cache_element_bytes": Num, optional;
}

impl Input {
    /// Its index in [`INPUTS`] (the key of a `Load` of it).
    pub fn index(self) -> u16 {
        self as u16
    }
}

/// The input with this name.
pub fn input(name: &str) -> Option<(Input, Ty, bool)> {
    INPUTS.iter().find(|(_, n, _, _)| *n == name).map(|(i, _, t, o)| (*i, *t, *o))
}

/// True when `ns` provides the input.
pub fn available(name: &str, ns: Namespaces) -> bool {
    if name.starts_with("hw.") {
        return ns.hw;
    }
    if name.starts_with("model.") {
        return ns.model;
    }
    match name {
        "req.context_tokens" => ns.context,
        "req.dtype_bytes" => ns.dtype_bytes,
        // the memory check sizes the cache too
        "opt.kv_cache_dtype" | "opt.kv_cache_element_bytes" => ns.project || ns.context,
        n if n.starts_with("req.") || n.starts_with("opt.") => ns.project,
        _ => true,
    }
}

/// The values of one request.
#[derive(Debug, Clone, Copy)]
pub struct Inputs<'a> {
    /// The tier (absent for model-only operations).
    pub hw: Option<&'a Tier>,
    /// The model (absent for tier-only and model-free operations).
    pub model: Option<&'a LlmModel>,
    /// Workload id.
    pub workload_id: &'a str,
    /// Prompt tokens.
    pub prompt_tokens: f64,
    /// Decode tokens.
    pub decode_tokens: f64,
    /// Context tokens (feasibility operation).
    pub context_tokens: f64,
    /// KV element bytes (kv operation).
    pub dtype_bytes: f64,
    /// Host time option, ms.
    pub host_ms: f64,
    /// Compiler-quality option.
    pub compiler_quality: f64,
    /// NPU bandwidth share option.
    pub npu_share: Option<f64>,
    /// FP4 runtime maturity option.
    pub fp4_runtime_maturity: &'a str,
    /// KV-cache element type option (a key of `kv_cache_types`), or the rule set's default.
    pub kv_cache_dtype: Option<&'a str>,
    /// Its bytes per element (the registry's `kv_cache_element_bytes`), resolved once per
    /// request so the program loads a number.
    pub kv_cache_element_bytes: Option<f64>,
    /// Values of a record entry's declared inputs (`arg.*`, `anchor.*`, …), in order.
    pub record: &'a [RecVal<'a>],
}

/// One record input value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RecVal<'a> {
    /// A number (booleans as 0/1).
    Num(f64),
    /// A string.
    Str(&'a str),
    /// Absent (reads as 0 or "").
    Absent,
}

impl Inputs<'_> {
    /// No tier, no model, every number 0 and every string empty.
    pub const EMPTY: Inputs<'static> = Inputs {
        hw: None,
        model: None,
        workload_id: "",
        prompt_tokens: 0.0,
        decode_tokens: 0.0,
        context_tokens: 0.0,
        dtype_bytes: 0.0,
        host_ms: 0.0,
        compiler_quality: 0.0,
        npu_share: None,
        fp4_runtime_maturity: "",
        kv_cache_dtype: None,
        kv_cache_element_bytes: None,
        record: &[],
    };
}

impl Default for Inputs<'_> {
    fn default() -> Self {
        Inputs::EMPTY
    }
}

fn opt_num(v: Option<f64>) -> (f64, bool) {
    match v {
        Some(x) => (x, true),
        None => (0.0, false),
    }
}

/// The error band of a tier's fit, when it has one.
fn band(s: &crate::tier::TierSpec) -> Option<&crate::tier::ErrorBand> {
    s.llm_calibration.as_ref().and_then(|c| c.error_band.as_ref())
}

fn opt_u<T: Into<f64>>(v: Option<T>) -> (f64, bool) {
    opt_num(v.map(Into::into))
}

impl<'a> Inputs<'a> {
    /// A numeric tier input, when `i` is one and a tier is present.
    #[inline]
    fn hw_num(&self, i: Input) -> Option<(f64, bool)> {
        use Input::*;
        let h = self.hw?;
        let s = &h.spec;
        let b = |x: bool| if x { 1.0 } else { 0.0 };
        match i {
            HwBwProjected => Some((b(s.bw_projected), true)),
            HwHasCapabilityTable => Some((b(h.capability.is_some()), true)),
            HwPeakTopsBf16 => Some((s.peak_tops_bf16, true)),
            HwPeakTopsInt8 => Some((s.peak_tops_int8, true)),
            HwPeakTopsFp8 => Some((s.peak_tops_fp8, true)),
            HwPeakTopsFp4 => Some((s.peak_tops_fp4, true)),
            HwMemBandwidthGbs => Some((s.mem_bandwidth_gbs, true)),
            HwMemCapacityGb => Some((s.mem_capacity_gb, true)),
            HwMemBusWidthBits => Some((f64::from(s.mem_bus_width_bits), true)),
            HwMemDataRateGtps => Some((s.mem_data_rate_gtps, true)),
            HwComputeEfficiency => Some((s.compute_efficiency, true)),
            HwBandwidthEfficiency => Some((s.bandwidth_efficiency, true)),
            HwTdpWatts => Some((s.tdp_watts, true)),
            HwComputeUtilFactor => Some((s.compute_util_factor, true)),
            HwLlmPrefillUtilFactor => Some((s.llm_prefill_util_factor, true)),
            HwLlmDecodeBwRealization => Some((s.llm_decode_bw_realization, true)),
            HwComputeOverheadMs => Some((s.compute_overhead_ms, true)),
            HwNpuShareDefault => Some((s.npu_share_default, true)),
            HwStockMemBandwidthGbs => Some(opt_num(s.stock_mem_bandwidth_gbs)),
            HwCalDecodeBwEfficiency => Some(opt_num(s.llm_calibration.as_ref().map(|c| c.decode_bw_efficiency))),
            HwCalDecodeKvBwEfficiency => {
                Some(opt_num(s.llm_calibration.as_ref().and_then(|c| c.decode_kv_bw_efficiency)))
            }
            HwCalDecodeLayerUs => Some(opt_num(s.llm_calibration.as_ref().map(|c| c.decode_layer_us))),
            HwCalPrefillUtil => Some(opt_num(s.llm_calibration.as_ref().map(|c| c.prefill_util))),
            HwCalPrefillLayerUs => Some(opt_num(s.llm_calibration.as_ref().map(|c| c.prefill_layer_us))),
            HwCalBandDecodeP10 => Some(opt_num(band(s).map(|b| b.decode_p10))),
            HwCalBandMoePoints => Some(opt_u(band(s).and_then(|b| b.moe_points))),
            HwCalBandDecodeP90 => Some(opt_num(band(s).map(|b| b.decode_p90))),
            HwCalBandPrefillP10 => Some(opt_num(band(s).map(|b| b.prefill_p10))),
            HwCalBandPrefillP90 => Some(opt_num(band(s).map(|b| b.prefill_p90))),
            _ => None,
        }
    }

    /// A record input as a number.
    #[inline]
    pub fn rec_num(&self, i: u16) -> (f64, bool) {
        match self.record.get(i as usize) {
            Some(RecVal::Num(x)) => (*x, true),
            Some(RecVal::Str(_)) => (0.0, true),
            _ => (0.0, false),
        }
    }

    /// A record input as a string.
    #[inline]
    pub fn rec_str(&self, i: u16) -> (&'a str, bool) {
        match self.record.get(i as usize) {
            Some(RecVal::Str(s)) => (s, true),
            Some(RecVal::Num(_)) => ("", true),
            _ => ("", false),
        }
    }

    /// A numeric or boolean input (booleans as 0/1) and whether it is present.
    #[inline]
    pub fn num(&self, i: Input) -> (f64, bool) {
        use Input::*;
        let Some(m) = self.model else {
            return match i {
                ReqPromptTokens => (self.prompt_tokens, true),
                ReqDecodeTokens => (self.decode_tokens, true),
                ReqContextTokens => (self.context_tokens, true),
                ReqDtypeBytes => (self.dtype_bytes, true),
                OptHostMs => (self.host_ms, true),
                OptCompilerQuality => (self.compiler_quality, true),
                OptNpuShare => opt_num(self.npu_share),
                OptKvCacheElementBytes => opt_num(self.kv_cache_element_bytes),
                _ => self.hw_num(i).unwrap_or((0.0, false)),
            };
        };
        let b = |x: bool| if x { 1.0 } else { 0.0 };
        if let Some(v) = self.hw_num(i) {
            return v;
        }
        match i {
            ModelTotalParamsB => (m.total_params_b, true),
            ModelActiveParamsB => (m.active_params_b, true),
            ModelBytesPerParam => (m.bytes_per_param, true),
            ModelGgufSizeGb => (m.gguf_size_gb, true),
            ModelSizeGbInflight => (m.size_gb_inflight, true),
            ModelNumLayers => (f64::from(m.num_layers), true),
            ModelHiddenDim => (f64::from(m.hidden_dim), true),
            ModelNumAttentionHeads => (f64::from(m.num_attention_heads), true),
            ModelNumKvHeads => (f64::from(m.num_kv_heads), true),
            ModelNumExperts => opt_u(m.num_experts),
            ModelExpertsPerToken => opt_u(m.experts_per_token),
            ModelCtxLenTrained => opt_num(m.ctx_len_trained.map(|v| v as f64)),
            ModelVocabSize => opt_num(m.vocab_size.map(|v| v as f64)),
            ModelHeadDim => opt_u(m.head_dim),
            ModelSlidingWindow => opt_u(m.sliding_window),
            ModelSlidingWindowLayers => opt_u(m.sliding_window_layers),
            ModelKvLoraRank => opt_u(m.kv_lora_rank),
            ModelQkRopeHeadDim => opt_u(m.qk_rope_head_dim),
            ModelStateLayers => opt_u(m.state_layers),
            ModelStateElementsPerLayer => opt_num(m.state_elements_per_layer.map(|v| v as f64)),
            ModelSharedExperts => opt_u(m.shared_experts),
            ModelFirstDenseLayers => opt_u(m.first_dense_layers),
            ModelRoutedExpertParamsB => opt_num(m.routed_expert_params_b),
            ModelIsMoe => (b(m.is_moe), true),
            ModelLlmInvariantDecode => (b(m.llm_invariant_decode), true),
            ReqPromptTokens => (self.prompt_tokens, true),
            ReqDecodeTokens => (self.decode_tokens, true),
            ReqContextTokens => (self.context_tokens, true),
            ReqDtypeBytes => (self.dtype_bytes, true),
            OptHostMs => (self.host_ms, true),
            OptCompilerQuality => (self.compiler_quality, true),
            OptNpuShare => opt_num(self.npu_share),
            OptKvCacheElementBytes => opt_num(self.kv_cache_element_bytes),
            _ => (0.0, false),
        }
    }

    /// A string input and whether it is present (absent strings read as "").
    #[inline]
    pub fn str(&self, i: Input) -> (&'a str, bool) {
        let opt = |s: Option<&'a String>| match s {
            Some(v) => (v.as_str(), true),
            None => ("", false),
        };
        use Input::*;
        if let Some(h) = self.hw {
            let s = &h.spec;
            match i {
                HwName => return (s.name.as_str(), true),
                HwLookupName => return (h.lookup_name(), true),
                HwMemType => return (s.mem_type.as_str(), true),
                HwTierFamily => return opt(s.tier_family.as_ref()),
                HwNpuPrecisionSet => return opt(s.npu_precision_set.as_ref()),
                HwStockName => return opt(s.stock_name.as_ref()),
                HwMemorySharing => return opt(s.memory_sharing.as_ref()),
                HwCalPrefillPeak => return opt(s.llm_calibration.as_ref().and_then(|c| c.prefill_peak.as_ref())),
                HwCalBandHeldOut => return opt(band(s).map(|b| &b.held_out)),
                HwCalBandCaveat => return opt(s.llm_calibration.as_ref().and_then(|c| c.band_caveat.as_ref())),
                _ => {}
            }
        }
        match (i, self.model) {
            (ReqWorkloadId, _) => (self.workload_id, true),
            (OptFp4RuntimeMaturity, _) => (self.fp4_runtime_maturity, true),
            (OptKvCacheDtype, _) => self.kv_cache_dtype.map_or(("", false), |s| (s, true)),
            (_, None) => ("", false),
            (i, Some(m)) => match i {
                ModelKey => (m.key.as_str(), true),
                ModelFamily => (m.family.as_str(), true),
                ModelBase => (m.base.as_str(), true),
                ModelQuantScheme => (m.quant_scheme.as_str(), true),
                ModelComputeDtype => (m.compute_dtype.as_str(), true),
                ModelMeasurementAlias => opt(m.measurement_alias.as_ref()),
                _ => ("", false),
            },
        }
    }
}

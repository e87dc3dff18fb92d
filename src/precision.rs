//! Precision tables: capability levels and tables, the dtype → peak-TOPS map, quant schemes,
//! precision-set rungs (reference spec §1.3, §2.3–2.9). Only the types and lookups live here;
//! the tables themselves are registry data.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How a tier executes a precision. Only `unsupported` counts as "not supported".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CapabilityLevel {
    /// Native tensor-core path.
    TensorNative,
    /// Runs through a compatibility path (e.g. binary compat); fresh compiles may be blocked.
    TensorCompat,
    /// Falls back to general-purpose cores.
    CudaCore,
    /// Cannot execute.
    Unsupported,
}

impl CapabilityLevel {
    /// The level's string value.
    pub fn as_str(self) -> &'static str {
        match self {
            CapabilityLevel::TensorNative => "tensor_native",
            CapabilityLevel::TensorCompat => "tensor_compat",
            CapabilityLevel::CudaCore => "cuda_core",
            CapabilityLevel::Unsupported => "unsupported",
        }
    }

    /// Parses the string value.
    pub fn parse(s: &str) -> Option<CapabilityLevel> {
        Some(match s {
            "tensor_native" => CapabilityLevel::TensorNative,
            "tensor_compat" => CapabilityLevel::TensorCompat,
            "cuda_core" => CapabilityLevel::CudaCore,
            "unsupported" => CapabilityLevel::Unsupported,
            _ => return None,
        })
    }

    /// True for every level except `unsupported`.
    pub fn is_supported(self) -> bool {
        self != CapabilityLevel::Unsupported
    }
}

/// One row of a capability table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CapabilityInfo {
    /// How the tier executes this capability key.
    pub level: CapabilityLevel,
    /// One-line explanation shown in UIs.
    pub reason: String,
    /// The compute dtype of the path that executes this key, when it differs from the
    /// model's nominal dtype (e.g. `int8` for Q4_K_M through an INT8 dequant path).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via_dtype: Option<String>,
}

/// A resolved capability table.
#[derive(Debug, Clone, PartialEq)]
pub struct CapabilityTable {
    /// Registry name (`NEUTRON_INT8_ONLY_CAPABILITY`), or `None` for an inline table that
    /// matches no registry table.
    pub name: Option<String>,
    /// Capability key → row, in file order.
    pub entries: IndexMap<String, CapabilityInfo>,
}

/// A capability table file (`registry/capabilities/*.ron`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CapabilityTableFile {
    /// File format version.
    pub schema_version: u32,
    /// Table name referenced by tiers, silicon classes and precision sets.
    pub name: String,
    /// What silicon this table describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Capability key → row (`int8`, `fp8`, `bf16/fp16`, `q4_km`, `nvfp4`).
    pub entries: IndexMap<String, CapabilityInfo>,
}

/// The dtype table (`registry/tables/dtypes.ron`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DtypeTable {
    /// File format version.
    pub schema_version: u32,
    /// Lower-case compute dtype → the peak-TOPS field it reads.
    pub tops_field: IndexMap<String, TopsField>,
    /// Lower-case dtype → capability key where they differ (`bf16` → `bf16/fp16`).
    pub capability_key: IndexMap<String, String>,
    /// Lower-case dtypes that are FP4 compute formats.
    pub fp4_compute_dtypes: Vec<String>,
}

impl DtypeTable {
    /// The TOPS field of a dtype (case-insensitive), if the dtype is known.
    pub fn tops_field(&self, dtype: &str) -> Option<TopsField> {
        // a handful of entries: a scan beats hashing
        if let Some((_, f)) = self.tops_field.iter().find(|(k, _)| k.as_str() == dtype) {
            return Some(*f);
        }
        self.tops_field.iter().find(|(k, _)| k.eq_ignore_ascii_case(dtype)).map(|(_, f)| *f)
    }
}

/// One quantisation scheme.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QuantScheme {
    /// The capability key that decides whether a tier can execute this scheme.
    pub capability_key: String,
    /// Storage bytes per parameter, when the engine ships a figure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes_per_param: Option<f64>,
    /// GGUF size of the reference MoE at this quantisation, GB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gguf_size_gb: Option<f64>,
    /// A weight-only (memory) format that dequantises to a compute dtype.
    #[serde(default)]
    pub weight_only: bool,
    /// Listed in the reference `QuantScheme` enumeration (BF16 is not).
    #[serde(default = "yes")]
    pub enumerated: bool,
    /// Free-text note.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// How a model re-quantised to this scheme is stored and computed; `ratchet plan` sizes
    /// quant variants of catalog models with it. Absent: the scheme is not offered as a
    /// variant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requant: Option<Requant>,
    /// How llama.cpp stores each tensor in this scheme (a mix such as Q4_K_M): what an
    /// imported config is sized by, tensor by tensor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipe: Option<Recipe>,
}

/// A per-tensor storage recipe: a base ggml type and the tensor roles stored otherwise.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Recipe {
    /// The ggml type (a name of `architectures.ron` `ggml_types`) of every other tensor.
    pub base: String,
    /// Roles stored in another type; the first rule naming a role applies.
    pub rules: Vec<RecipeRule>,
}

/// One rule of a recipe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecipeRule {
    /// The tensor role (`output`, `attn_v`, `ffn_down`, `norm`, …).
    pub role: String,
    /// Its ggml type.
    #[serde(rename = "type")]
    pub ggml_type: String,
    /// Only on llama.cpp's "more bits" layers (`use_more_bits`: the first and last eighth of
    /// the layers and every third between); the base type on the others.
    #[serde(default)]
    pub more_bits: bool,
}

/// A re-quantised variant's storage and compute formats.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Requant {
    /// Storage bytes per parameter of the variant; the scheme's own `bytes_per_param` when
    /// absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes_per_param: Option<f64>,
    /// Matmul dtype of the variant (`fp16` for weight-only formats that dequantise).
    pub compute_dtype: String,
}

impl QuantScheme {
    /// Bytes per parameter of a variant in this scheme, when it can be a variant.
    pub fn requant_bytes_per_param(&self) -> Option<f64> {
        self.requant.as_ref().and_then(|r| r.bytes_per_param.or(self.bytes_per_param))
    }
}

fn yes() -> bool {
    true
}

/// The quant-scheme table (`registry/tables/quant_schemes.ron`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QuantSchemeTable {
    /// File format version.
    pub schema_version: u32,
    /// Parameters of the reference MoE, for tables keyed by it (ACTIVE_PARAMS).
    pub reference_active_params: f64,
    /// Scheme name (exact case) → properties.
    pub schemes: IndexMap<String, QuantScheme>,
}

/// One precision-set rung (reference ADR 017).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PrecisionSet {
    /// Capability table a tier built at this rung uses.
    pub capability_table: String,
    /// Floor compute dtype for every model on the tier.
    pub compute_dtype: String,
    /// Peak-TOPS fields forced to 0.0 (never `peak_tops_int8`).
    pub zeroed_peaks: Vec<TopsField>,
}

/// The precision-set table (`registry/tables/precision_sets.ron`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PrecisionSetTable {
    /// File format version.
    pub schema_version: u32,
    /// Rung name → rung.
    pub sets: IndexMap<String, PrecisionSet>,
}

/// The peak-TOPS fields a dtype can map to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TopsField {
    /// `peak_tops_bf16` (BF16 and FP16).
    PeakTopsBf16,
    /// `peak_tops_int8`.
    PeakTopsInt8,
    /// `peak_tops_fp8`.
    PeakTopsFp8,
    /// `peak_tops_fp4` (NVFP4, MXFP4).
    PeakTopsFp4,
}

impl TopsField {
    /// The field name as written in tier files.
    pub fn name(self) -> &'static str {
        match self {
            TopsField::PeakTopsBf16 => "peak_tops_bf16",
            TopsField::PeakTopsInt8 => "peak_tops_int8",
            TopsField::PeakTopsFp8 => "peak_tops_fp8",
            TopsField::PeakTopsFp4 => "peak_tops_fp4",
        }
    }
}

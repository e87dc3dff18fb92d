//! The JSON wire formats of `ratchet batch` and the HTTP service, as types for their JSON
//! Schemas (`schemas/batch-request.schema.json`, `schemas/batch-result.schema.json`). The
//! batch reader reads the LLM family into its typed request (`batch::llm_ops::LlmRequest`)
//! field by field to give precise errors, accepting exactly the fields these types declare
//! (`request_fields`); tests check that every request and result it handles validates
//! against these schemas.

use crate::catalog::LlmModel;
use crate::error::ErrorBody;
use crate::projection::{Breakdown, DtypeMismatch, Projected, Provenance, WontFit};
use crate::tier::TierSpec;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The fields a request of type `T` may have: the properties of its JSON Schema and `op`
/// (the tag). The batch reader refuses any other name, with the nearest one, so the wire
/// type is the one place a request field is declared.
pub fn request_fields<T: JsonSchema>() -> Vec<String> {
    std::iter::once("op".to_string()).chain(object_fields::<T>()).collect()
}

/// The properties of `T`'s JSON Schema: the fields an object of that type may have.
pub fn object_fields<T: JsonSchema>() -> Vec<String> {
    let schema = serde_json::to_value(schemars::schema_for!(T)).unwrap_or_default();
    let props = schema.get("properties").and_then(serde_json::Value::as_object);
    props.into_iter().flat_map(|p| p.keys().cloned()).collect()
}

/// A model: a catalog key, or every model field inline.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum ModelRef {
    /// A catalog key.
    Key(String),
    /// Every field of the model.
    Inline(Box<LlmModel>),
}

/// A tier: a registry name, or every tier field inline.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum TierRef {
    /// A registry tier name.
    Name(String),
    /// Every field of the tier.
    Inline(Box<TierSpec>),
}

/// The options of `project_llm` (also accepted at the top level of the request).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProjectOptions {
    /// Host time, ms (0: the tier's overhead in the reference rules).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_ms: Option<f64>,
    /// Compiler quality factor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compiler_quality: Option<f64>,
    /// NPU bandwidth share (the tier's default when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub npu_share: Option<f64>,
    /// FP4 runtime maturity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fp4_runtime_maturity: Option<Maturity>,
    /// The KV cache's element type (a key of `kv_cache_types`: `f16`, `q8_0`, `q4_0`,
    /// `fp8`, …); the rule set's default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kv_cache_dtype: Option<String>,
}

/// FP4 runtime maturity.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Maturity {
    /// Mature FP4 kernels.
    Mature,
    /// Immature runtime: FP4 computes at the fallback dtype.
    Immature,
}

/// `project_llm`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProjectLlmRequest {
    /// Echoed back on the result line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<serde_json::Value>,
    /// The model.
    pub model: ModelRef,
    /// The tier.
    pub hw: TierRef,
    /// Workload id (selects per-cell measurements); `default` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload_id: Option<String>,
    /// Prompt tokens (rule-set default when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_tokens: Option<u64>,
    /// Decode tokens (rule-set default when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decode_tokens: Option<u64>,
    /// Host time, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_ms: Option<f64>,
    /// Compiler quality factor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compiler_quality: Option<f64>,
    /// NPU bandwidth share.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub npu_share: Option<f64>,
    /// FP4 runtime maturity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fp4_runtime_maturity: Option<Maturity>,
    /// The KV cache's element type (a key of `kv_cache_types`: `f16`, `q8_0`, `q4_0`,
    /// `fp8`, …); the rule set's default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kv_cache_dtype: Option<String>,
    /// The options as one object (the golden-file layout).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<ProjectOptions>,
    /// Apply private silicon anchors after the cascade (default false in batches, true on
    /// `POST /v1/project`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overlay_anchors: Option<bool>,
    /// The runtime the model runs under (a key of `tables/runtimes.ron`): the tier is
    /// projected with its silicon class's fit under that runtime, labelled with how the fit
    /// was chosen; the tier's own runtime when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<String>,
}

/// `memory_feasibility`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MemoryFeasibilityRequest {
    /// Echoed back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<serde_json::Value>,
    /// The model.
    pub model: ModelRef,
    /// The tier.
    pub hw: TierRef,
    /// Prompt + decode tokens of KV cache.
    pub context_tokens: u64,
    /// The KV cache's element type (a key of `kv_cache_types`: `f16`, `q8_0`, `q4_0`,
    /// `fp8`, …); the rule set's default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kv_cache_dtype: Option<String>,
}

/// `kv_cache_bytes_per_token`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KvCacheRequest {
    /// Echoed back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<serde_json::Value>,
    /// The model.
    pub model: ModelRef,
    /// Bytes per KV element (rule-set default, 2, when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dtype_bytes: Option<f64>,
    /// The KV cache's element type (a key of `kv_cache_types`), instead of `dtype_bytes`:
    /// its bytes per element.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kv_cache_dtype: Option<String>,
}

/// `ladder`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LadderRequest {
    /// Echoed back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<serde_json::Value>,
    /// The model.
    pub model: ModelRef,
    /// A reference workload id or a pack workload's name (`default` when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload: Option<String>,
    /// Same as `workload` (the name `project_llm` uses).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload_id: Option<String>,
    /// Prompt tokens (the pack workload's or the rule-set default when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_tokens: Option<u64>,
    /// Decode tokens (the pack workload's or the rule-set default when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decode_tokens: Option<u64>,
    /// Memory clones of every rung, `TYPE@RATE` (e.g. `LPDDR6@14`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<Vec<String>>,
    /// Also clone every rung with the registry's memory upgrades that raise its bandwidth.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_upgrades: Option<bool>,
    /// The KV cache's element type (a key of `kv_cache_types`: `f16`, `q8_0`, `q4_0`,
    /// `fp8`, …); the rule set's default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kv_cache_dtype: Option<String>,
}

/// `import_model`: a catalog entry from a Hugging Face config.json (`docs/models.md`).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportModelRequest {
    /// Echoed back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<serde_json::Value>,
    /// The model's config.json, as an object.
    pub config: serde_json::Map<String, serde_json::Value>,
    /// Quant scheme of the weights (a key of the quant table); the checkpoint's own when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quant: Option<String>,
    /// Catalog key; derived from `source` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Where the config came from (a file name), for the key and the messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// One batch request line.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "op")]
pub enum BatchRequest {
    /// Rates, TTFT and totals, or why the model won't fit or run.
    #[serde(rename = "project_llm")]
    ProjectLlm(ProjectLlmRequest),
    /// The memory check.
    #[serde(rename = "memory_feasibility")]
    MemoryFeasibility(MemoryFeasibilityRequest),
    /// KV-cache bytes per token.
    #[serde(rename = "kv_cache_bytes_per_token")]
    KvCacheBytesPerToken(KvCacheRequest),
    /// One model on every rung of the ladder.
    #[serde(rename = "ladder")]
    Ladder(LadderRequest),
    /// A catalog entry from a Hugging Face config.json.
    #[serde(rename = "import_model")]
    ImportModel(ImportModelRequest),
}

/// A memory check result.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct FeasibilityResult {
    /// `FeasibilityCheck`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `fits`, `tight` or `wont_fit`.
    pub verdict: String,
    /// Required, GB.
    pub required_gb: f64,
    /// Available, GB.
    pub available_gb: f64,
    /// Headroom, GB.
    pub headroom_gb: f64,
    /// Breakdown.
    pub breakdown: Breakdown,
    /// Provenance.
    pub provenance: Provenance,
}

/// A scalar answer.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ScalarResult {
    /// The value.
    pub result: f64,
}

/// A failed line.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ErrorResult {
    /// What went wrong.
    pub error: ErrorBody,
}

/// A projection result with its variant tag.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(tag = "type")]
pub enum ProjectionResult<'a> {
    /// Rates and timings.
    Projected(Projected<'a>),
    /// Does not fit.
    WontFit(WontFit<'a>),
    /// Cannot execute.
    DtypeMismatch(DtypeMismatch<'a>),
}

/// One batch result line (any carries the request's `id` when it had one).
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum BatchResult<'a> {
    /// `project_llm`.
    Projection(Box<ProjectionResult<'a>>),
    /// `memory_feasibility`.
    Feasibility(FeasibilityResult),
    /// Scalar operations.
    Scalar(ScalarResult),
    /// `ladder`.
    Ladder(crate::ladder::LadderAnswer<'a>),
    /// An error.
    Error(ErrorResult),
}

/// The wire schemas: (file name, schema).
pub fn wire_schemas() -> Vec<(String, serde_json::Value)> {
    vec![
        ("batch-request.schema.json".into(), schemars::schema_for!(BatchRequest).to_value()),
        ("batch-result.schema.json".into(), schemars::schema_for!(BatchResult<'static>).to_value()),
    ]
}

/// Every schema file as (file name, pretty JSON text with a trailing newline).
pub fn all_schema_files() -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> =
        crate::schema::FileKind::ALL.iter().map(|k| (k.schema_file(), pretty(&k.schema()))).collect();
    out.extend(wire_schemas().into_iter().map(|(name, v)| (name, pretty(&v))));
    out
}

fn pretty(v: &serde_json::Value) -> String {
    let mut s = serde_json::to_string_pretty(v).unwrap_or_default();
    s.push('\n');
    s
}

/// Writes every schema into `dir`.
pub fn write_schemas(dir: &std::path::Path) -> std::io::Result<usize> {
    std::fs::create_dir_all(dir)?;
    let files = all_schema_files();
    for (name, text) in &files {
        std::fs::write(dir.join(name), text)?;
    }
    Ok(files.len())
}

/// The schema files in `dir` that are missing or differ from the generated ones.
pub fn stale_schemas(dir: &std::path::Path) -> Vec<String> {
    all_schema_files()
        .into_iter()
        .filter(|(name, text)| std::fs::read_to_string(dir.join(name)).map(|t| &t != text).unwrap_or(true))
        .map(|(name, _)| name)
        .collect()
}

#[cfg(test)]
mod field_tests {
    use super::*;

    #[test]
    fn a_requests_fields_are_its_wire_types() {
        let f = request_fields::<ProjectLlmRequest>();
        for k in ["op", "id", "model", "hw", "workload_id", "prompt_tokens", "options", "overlay_anchors", "runtime"] {
            assert!(f.iter().any(|x| x == k), "{k} in {f:?}");
        }
        let o = object_fields::<ProjectOptions>();
        assert_eq!(o, ["host_ms", "compiler_quality", "npu_share", "fp4_runtime_maturity", "kv_cache_dtype"]);
        assert!(!request_fields::<KvCacheRequest>().iter().any(|x| x == "hw"));
    }
}

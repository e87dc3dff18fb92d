//! LLM model catalog entries (reference spec §1.7). Catalogs belong to the surfaces; the
//! registry ships the three reference models.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

fn yes() -> bool {
    true
}

/// One LLM as the engine sees it: architecture, storage and compute formats.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LlmModel {
    /// Unique catalog key (snake_case).
    pub key: String,
    /// Grouping.
    pub family: String,
    /// Base architecture.
    pub base: String,
    /// Total parameters, billions.
    pub total_params_b: f64,
    /// Parameters touched per token, billions (= total for dense models).
    pub active_params_b: f64,
    /// Storage quantisation; decides executability (exact case, e.g. `Q4_K_M`).
    pub quant_scheme: String,
    /// Storage bytes per parameter (decode bytes streamed per parameter).
    pub bytes_per_param: f64,
    /// On-disk size, GB (used for memory feasibility).
    pub gguf_size_gb: f64,
    /// In-memory size, GB (carried).
    pub size_gb_inflight: f64,
    /// Nominal matmul dtype (`fp16`, `bf16`, `fp8`, `int8`, `nvfp4`).
    pub compute_dtype: String,
    /// Transformer layers.
    pub num_layers: u32,
    /// Hidden size.
    pub hidden_dim: u32,
    /// Attention heads.
    pub num_attention_heads: u32,
    /// KV heads (0 means "same as attention heads").
    pub num_kv_heads: u32,
    /// Mixture of experts.
    #[serde(default)]
    pub is_moe: bool,
    /// Experts per MoE layer.
    #[serde(default)]
    pub num_experts: Option<u32>,
    /// Experts routed per token.
    #[serde(default)]
    pub experts_per_token: Option<u32>,
    /// Trained context length, tokens.
    #[serde(default)]
    pub ctx_len_trained: Option<u64>,
    /// Vocabulary size.
    #[serde(default)]
    pub vocab_size: Option<u64>,
    /// Width of one attention head (Hugging Face `config.json` `head_dim`), when the model
    /// sets its own; absent: `hidden_dim / num_attention_heads`. The KV cache of
    /// `fix-kv-head-dim` (in `default`) reads it; the reference's does not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_dim: Option<u32>,
    /// Tokens a sliding-window attention layer attends over and caches (config.json
    /// `sliding_window`): its KV cache stops growing at the window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sliding_window: Option<u32>,
    /// How many layers attend over the window only (Gemma 2 alternates, Gemma 3 has five local
    /// layers to one global, gpt-oss alternates); absent with `sliding_window` set: every layer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sliding_window_layers: Option<u32>,
    /// Multi-head latent attention: the rank of the compressed KV latent a layer caches per
    /// token instead of K and V (DeepSeek-V2/V3 `kv_lora_rank`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kv_lora_rank: Option<u32>,
    /// Multi-head latent attention: the decoupled RoPE key width cached beside the latent
    /// (`qk_rope_head_dim`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qk_rope_head_dim: Option<u32>,
    /// Layers that keep a fixed-size recurrent state instead of a KV cache (linear attention,
    /// state-space layers of hybrid models).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_layers: Option<u32>,
    /// Elements of one such layer's state for one sequence (its recurrent and convolution
    /// states together).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_elements_per_layer: Option<u64>,
    /// Experts every token runs besides the routed ones (DeepSeek `n_shared_experts`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared_experts: Option<u32>,
    /// Leading layers with a dense feed-forward block instead of experts (DeepSeek
    /// `first_k_dense_replace`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_dense_layers: Option<u32>,
    /// Parameters in the routed experts, billions: the part of `total_params_b` a token
    /// touches only `experts_per_token / num_experts` of.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routed_expert_params_b: Option<f64>,
    /// The output projection shares the token embedding matrix (config.json
    /// `tie_word_embeddings`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tie_word_embeddings: Option<bool>,
    /// Training description.
    #[serde(default)]
    pub training: Option<String>,
    /// Training recipe.
    #[serde(default)]
    pub training_recipe: Option<String>,
    /// Fine-tune version label.
    #[serde(default)]
    pub fine_tune_version: Option<String>,
    /// Listed for performance reference only.
    #[serde(default)]
    pub perf_reference_only: bool,
    /// Borrow measurements from this other model key.
    #[serde(default)]
    pub measurement_alias: Option<String>,
    /// Evaluation pass rate, fraction.
    #[serde(default)]
    pub pass_rate: Option<f64>,
    /// Passing evaluation runs.
    #[serde(default)]
    pub pass_n_passes: Option<u32>,
    /// Evaluation runs.
    #[serde(default)]
    pub pass_n_total: Option<u32>,
    /// Per-category accuracy deltas (surface-defined).
    #[serde(default)]
    pub category_deltas: Option<serde_json::Map<String, serde_json::Value>>,
    /// One-line accuracy summary.
    #[serde(default)]
    pub accuracy_bullet: Option<String>,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// True: decode rate is intrinsic to (model, tier); false: consumers may apply workload
    /// pattern multipliers.
    #[serde(default = "yes")]
    pub llm_invariant_decode: bool,
}

impl LlmModel {
    /// The key measurements are looked up under: `measurement_alias` when non-empty.
    pub fn measurement_key(&self) -> &str {
        match self.measurement_alias.as_deref() {
            Some(a) if !a.is_empty() => a,
            _ => &self.key,
        }
    }
}

/// A catalog file (`registry/catalog/*.ron`, or a pack's catalog).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CatalogFile {
    /// File format version.
    pub schema_version: u32,
    /// Catalog name.
    pub name: String,
    /// What the catalog holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Models, in display order.
    pub models: Vec<LlmModel>,
}

/// Models by key, in catalog order.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    models: IndexMap<String, Arc<LlmModel>>,
}

impl Catalog {
    /// Adds or replaces a model.
    pub fn insert(&mut self, m: LlmModel) {
        self.models.insert(m.key.clone(), Arc::new(m));
    }

    /// The model with this key.
    pub fn get(&self, key: &str) -> Option<&Arc<LlmModel>> {
        self.models.get(key)
    }

    /// Models in order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<LlmModel>> {
        self.models.values()
    }

    /// Keys in order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.models.keys().map(String::as_str)
    }

    /// Number of models.
    pub fn len(&self) -> usize {
        self.models.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.models.is_empty()
    }
}

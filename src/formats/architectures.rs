//! `registry/tables/architectures.ron`: how `ratchet model import` reads a Hugging Face
//! `config.json` — which keys name which quantity, which architectures it knows, how each
//! lays out its layers, and the values a config may leave to its class's defaults.
//! The tensor shapes of the block kinds named here live in `crate::model_import`.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The quantities the importer reads; `keys` must name config keys for each.
pub const QUANTITIES: &[&str] = &[
    "num_layers",
    "hidden_size",
    "num_attention_heads",
    "num_kv_heads",
    "head_dim",
    "intermediate_size",
    "expert_intermediate_size",
    "shared_expert_intermediate_size",
    "num_experts",
    "experts_per_token",
    "shared_experts",
    "first_dense_layers",
    "vocab_size",
    "context_length",
    "sliding_window",
    "tie_word_embeddings",
    "layer_types",
    "kv_lora_rank",
    "q_lora_rank",
    "qk_rope_head_dim",
    "qk_nope_head_dim",
    "v_head_dim",
    "linear_num_key_heads",
    "linear_num_value_heads",
    "linear_key_head_dim",
    "linear_value_head_dim",
    "linear_conv_kernel_dim",
    "mlp_only_layers",
    "decoder_sparse_step",
    "torch_dtype",
];

/// The tensor groups a model's parameters are counted in (`module_groups` names them).
pub const GROUPS: &[&str] =
    &["embedding", "output", "attention", "state", "dense_ffn", "routed_experts", "shared_experts", "router", "other"];

/// The tensor roles a quant recipe may name (llama.cpp's tensor names).
pub const ROLES: &[&str] = &[
    "token_embd",
    "output",
    "norm",
    "attn_q",
    "attn_k",
    "attn_v",
    "attn_output",
    "attn_kv_a",
    "attn_kv_b",
    "ffn_gate",
    "ffn_up",
    "ffn_down",
    "ffn_gate_exps",
    "ffn_up_exps",
    "ffn_down_exps",
    "ffn_gate_inp",
    "ssm_in",
    "ssm_conv",
    "ssm_out",
    "other",
];

/// What one layer keeps per sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LayerKind {
    /// Attention over the whole context: its KV cache grows with every token.
    Full,
    /// Attention over the last `sliding_window` tokens.
    Sliding,
    /// A fixed-size recurrent state (linear attention, state-space).
    State,
}

/// How the layers of an architecture divide into kinds when the config has no `layer_types`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PatternKind {
    /// Every layer attends over the whole context.
    AllFull,
    /// Every layer attends over `sliding_window` when the config gives one (not null), and,
    /// with `when`, when that config flag is true (Qwen2's `use_sliding_window`).
    AllSliding,
    /// Every `n`-th layer (the last of each group of `n`) attends over the whole context;
    /// the others are `others`. `n` is the config key `key`, else `n`.
    EveryNthFull,
}

/// Which layers of an architecture are which kind, when the config has no `layer_types`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LayerPattern {
    /// The pattern.
    pub pattern: PatternKind,
    /// `all_sliding`: a boolean config key that must be true for the window to apply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<String>,
    /// `every_nth_full`: the config key holding `n` (Gemma 3 `sliding_window_pattern`,
    /// Qwen3-Next `full_attention_interval`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// `every_nth_full`: `n` when the config has no `key` (Gemma 2 alternates: 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<u32>,
    /// `every_nth_full`: the kind of the other layers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub others: Option<LayerKind>,
}

/// The attention block's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AttentionKind {
    /// Grouped-query attention: Q of every head, K and V of every KV head, an output.
    Gqa,
    /// Multi-head latent attention (DeepSeek-V2/V3): Q directly or through a `q_lora_rank`
    /// latent, K and V through one `kv_lora_rank` latent plus a shared RoPE key.
    Mla,
}

/// The attention block's tensors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AttentionBlock {
    /// Its kind.
    pub kind: AttentionKind,
    /// Q, K and V carry biases (Qwen2; gpt-oss `attention_bias`).
    #[serde(default)]
    pub qkv_bias: bool,
    /// The output projection carries a bias.
    #[serde(default)]
    pub o_bias: bool,
    /// Q projects twice the width: half is an output gate (Qwen3-Next).
    #[serde(default)]
    pub output_gate: bool,
    /// Q and K are normalised per head (a weight of `head_dim` each: Qwen3, Gemma 3).
    #[serde(default)]
    pub qk_norm: bool,
    /// One learned attention sink per head (gpt-oss).
    #[serde(default)]
    pub sinks: bool,
    /// Norm weights (of the hidden size) per layer: 2 (before attention and before the
    /// feed-forward block), 4 for Gemma's sandwich norms.
    #[serde(default = "two")]
    pub norms_per_layer: u32,
}

fn two() -> u32 {
    2
}

/// The recurrent block of a hybrid model's state layers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub enum StateBlock {
    /// Gated DeltaNet (Qwen3-Next): Q/K/V/Z and beta/alpha projections, a short causal
    /// convolution over Q, K and V, a matrix state per value head.
    GatedDeltaNet,
}

/// How the feed-forward blocks are built.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FeedForward {
    /// Experts carry biases on their projections (gpt-oss).
    #[serde(default)]
    pub expert_bias: bool,
    /// The router carries a bias (gpt-oss).
    #[serde(default)]
    pub router_bias: bool,
    /// One shared expert of `shared_expert_intermediate_size` with a one-output sigmoid gate
    /// (Qwen2-MoE, Qwen3-Next); otherwise `shared_experts` experts of the expert width
    /// (DeepSeek).
    #[serde(default)]
    pub gated_shared_expert: bool,
}

/// One architecture, by config.json `architectures[0]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Architecture {
    /// The model family written to the catalog entry.
    pub family: String,
    /// The object holding the language model's keys, for multimodal configs (`text_config`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_config: Option<String>,
    /// The attention block.
    pub attention: AttentionBlock,
    /// Which layers are which kind when the config has no `layer_types`.
    pub layers: LayerPattern,
    /// The block of `state` layers, for hybrids.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<StateBlock>,
    /// The feed-forward blocks.
    #[serde(default = "FeedForward::plain")]
    pub feed_forward: FeedForward,
    /// Values of keys the config may omit (its configuration class's defaults), by config key.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub defaults: IndexMap<String, serde_json::Value>,
    /// Where the defaults and the layer pattern are published.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

impl FeedForward {
    fn plain() -> Self {
        FeedForward { expert_bias: false, router_bias: false, gated_shared_expert: false }
    }
}

/// How a quantised checkpoint stores its tensors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QuantMethod {
    /// The quant scheme (a key of `quant_schemes.ron`) of the converted tensors.
    pub scheme: String,
    /// The scheme of the tensors `modules_to_not_convert` names, when the config gives no
    /// `torch_dtype` the table knows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unconverted: Option<String>,
}

/// `registry/tables/architectures.ron`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ArchitectureTable {
    /// File format version.
    pub schema_version: u32,
    /// Each quantity the importer reads, with the config keys that may hold it, first present
    /// (and not null) wins.
    pub keys: IndexMap<String, Vec<String>>,
    /// `layer_types` entries by their config string.
    pub layer_types: IndexMap<String, LayerKind>,
    /// How a quantised checkpoint is stored, by its `quantization_config.quant_method`.
    pub quant_methods: IndexMap<String, QuantMethod>,
    /// The quant scheme of an unquantised checkpoint, by its `torch_dtype`.
    pub torch_dtypes: IndexMap<String, String>,
    /// The tensor group each `modules_to_not_convert` pattern names, by a substring of it.
    pub module_groups: IndexMap<String, String>,
    /// Architectures by config.json `architectures[0]`.
    pub architectures: IndexMap<String, Architecture>,
    /// GGUF files: the architecture entry each `general.architecture` is read as.
    pub gguf_architectures: IndexMap<String, GgufArchitecture>,
    /// GGUF files: ggml's tensor types, by id.
    pub ggml_types: Vec<GgmlType>,
    /// llama.cpp's GGUF quant schemes beyond the reference's quant table, by name.
    pub gguf_schemes: IndexMap<String, crate::precision::QuantScheme>,
    /// GGUF files: `general.file_type` values, by number (as a string), to quant scheme names.
    pub gguf_file_types: IndexMap<String, String>,
    /// GGUF files: the group of each tensor, by a substring of its name; first match wins.
    pub tensor_groups: Vec<TensorGroupRule>,
    /// The element types a runtime can keep the KV cache in, by the name requests give
    /// (`kv_cache_dtype`); the rules read their bytes per element.
    #[serde(default)]
    pub kv_cache_types: IndexMap<String, KvCacheType>,
}

/// One KV-cache element type: a ggml tensor type (its block layout gives the bytes), or a
/// plain width for a type ggml does not define (vLLM's FP8).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KvCacheType {
    /// The ggml type (a `ggml_types` name) the cache is stored in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ggml_type: Option<String>,
    /// Bytes per element, for a type that is not a ggml type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes_per_element: Option<f64>,
    /// The runtimes and options that accept it, where that is published.
    pub source: String,
}

impl ArchitectureTable {
    /// A quant scheme of the reference table or of `gguf_schemes`.
    pub fn scheme<'a>(
        &'a self,
        quant: &'a crate::precision::QuantSchemeTable,
        name: &str,
    ) -> Option<&'a crate::precision::QuantScheme> {
        quant.schemes.get(name).or_else(|| self.gguf_schemes.get(name))
    }

    /// Bytes per cached element of KV-cache type `name`: its ggml type's bytes per block over
    /// elements per block, or its stated width; `None` for an unknown name or a ggml type the
    /// table does not list.
    pub fn kv_cache_element_bytes(&self, name: &str) -> Option<f64> {
        let t = self.kv_cache_types.get(name)?;
        match (&t.ggml_type, t.bytes_per_element) {
            (Some(g), _) => self
                .ggml_types
                .iter()
                .find(|x| x.name == *g)
                .filter(|x| x.block > 0)
                .map(|x| f64::from(x.bytes) / f64::from(x.block)),
            (None, b) => b,
        }
    }
}

/// How a GGUF `general.architecture` is read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GgufArchitecture {
    /// The `architectures` entry whose blocks and defaults apply.
    pub architecture: String,
    /// The layer pattern llama.cpp applies to this architecture, where the file does not say
    /// it and it differs from the entry's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layers: Option<LayerPattern>,
}

/// One ggml tensor type: elements per block and bytes per block.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GgmlType {
    /// `ggml_type` id.
    pub id: u32,
    /// Name (`Q4_K`).
    pub name: String,
    /// Elements per block.
    pub block: u32,
    /// Bytes per block.
    pub bytes: u32,
}

/// A tensor-name pattern and its group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TensorGroupRule {
    /// A substring of the tensor's name.
    pub contains: String,
    /// The group (`embedding`, `output`, `attention`, …).
    pub group: String,
}

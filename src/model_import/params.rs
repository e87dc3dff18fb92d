//! The tensor shapes of the block kinds `tables/architectures.ron` names, counted in
//! parameters per tensor group. Shapes follow the transformers modeling files of each
//! architecture (and the DeepSeek-V2 paper for latent attention); 1-D norm weights are
//! counted, rotary tables and buffers are not (they are not weights).

use crate::formats::architectures::{AttentionBlock, AttentionKind, FeedForward, StateBlock};

/// The dimensions the block formulas read, taken from a config.
#[derive(Debug, Clone, Default)]
pub struct Dims {
    /// Hidden size.
    pub hidden: f64,
    /// Attention heads.
    pub heads: f64,
    /// KV heads.
    pub kv_heads: f64,
    /// Width of one head.
    pub head_dim: f64,
    /// Latent attention: Q latent rank (0: Q projects directly).
    pub q_lora_rank: f64,
    /// Latent attention: KV latent rank.
    pub kv_lora_rank: f64,
    /// Latent attention: RoPE key width.
    pub qk_rope_head_dim: f64,
    /// Latent attention: non-RoPE key width.
    pub qk_nope_head_dim: f64,
    /// Latent attention: value width.
    pub v_head_dim: f64,
    /// Dense feed-forward width.
    pub intermediate: f64,
    /// Routed expert width.
    pub expert_intermediate: f64,
    /// Shared expert width (the gated shared expert of Qwen-style MoE).
    pub shared_intermediate: f64,
    /// Routed experts.
    pub experts: f64,
    /// Shared experts (DeepSeek-style).
    pub shared_experts: f64,
    /// Linear attention: key heads, value heads, key and value head widths, conv kernel.
    pub lin_k_heads: f64,
    /// See `lin_k_heads`.
    pub lin_v_heads: f64,
    /// See `lin_k_heads`.
    pub lin_k_dim: f64,
    /// See `lin_k_heads`.
    pub lin_v_dim: f64,
    /// See `lin_k_heads`.
    pub lin_conv: f64,
}

/// Parameters of one attention block, and every norm of its layer but the feed-forward
/// block's (counted there).
pub fn attention(b: &AttentionBlock, d: &Dims) -> f64 {
    let h = d.hidden;
    let norm = h * f64::from(b.norms_per_layer.saturating_sub(1));
    match b.kind {
        AttentionKind::Gqa => {
            let q_out = d.heads * d.head_dim * if b.output_gate { 2.0 } else { 1.0 };
            let kv_out = d.kv_heads * d.head_dim;
            let weights = h * q_out + 2.0 * h * kv_out + d.heads * d.head_dim * h;
            let qkv_b = if b.qkv_bias { q_out + 2.0 * kv_out } else { 0.0 };
            let o_b = if b.o_bias { h } else { 0.0 };
            let qk_norm = if b.qk_norm { 2.0 * d.head_dim } else { 0.0 };
            let sinks = if b.sinks { d.heads } else { 0.0 };
            norm + weights + qkv_b + o_b + qk_norm + sinks
        }
        AttentionKind::Mla => {
            let qk = d.qk_nope_head_dim + d.qk_rope_head_dim;
            let q = if d.q_lora_rank > 0.0 {
                h * d.q_lora_rank + d.q_lora_rank + d.q_lora_rank * d.heads * qk
            } else {
                h * d.heads * qk
            };
            let kv_a = h * (d.kv_lora_rank + d.qk_rope_head_dim) + d.kv_lora_rank;
            let kv_b = d.kv_lora_rank * d.heads * (d.qk_nope_head_dim + d.v_head_dim);
            let o = d.heads * d.v_head_dim * h;
            norm + q + kv_a + kv_b + o
        }
    }
}

/// Parameters of one state block (and the norm before it).
pub fn state(b: &StateBlock, d: &Dims) -> f64 {
    let h = d.hidden;
    match b {
        StateBlock::GatedDeltaNet => {
            let key_dim = d.lin_k_heads * d.lin_k_dim;
            let value_dim = d.lin_v_heads * d.lin_v_dim;
            let qkvz = h * (2.0 * key_dim + 2.0 * value_dim);
            let ba = h * 2.0 * d.lin_v_heads;
            let conv = (2.0 * key_dim + value_dim) * d.lin_conv;
            let per_head = 2.0 * d.lin_v_heads; // dt_bias, A_log
            let out_norm = d.lin_v_dim;
            let out = value_dim * h;
            h + qkvz + ba + conv + per_head + out_norm + out
        }
    }
}

/// Elements of one state layer's state for one sequence: its convolution window and its
/// recurrent matrices.
pub fn state_elements(b: &StateBlock, d: &Dims) -> f64 {
    match b {
        StateBlock::GatedDeltaNet => {
            let conv_dim = 2.0 * d.lin_k_heads * d.lin_k_dim + d.lin_v_heads * d.lin_v_dim;
            (d.lin_conv - 1.0) * conv_dim + d.lin_v_heads * d.lin_k_dim * d.lin_v_dim
        }
    }
}

/// A gated feed-forward block (gate, up, down) of width `i`, and the norm before it.
pub fn dense_ffn(d: &Dims, i: f64) -> f64 {
    d.hidden + 3.0 * d.hidden * i
}

/// Parameters of one MoE layer, split into (routed experts, shared experts, router and norm).
pub fn moe(f: &FeedForward, d: &Dims) -> (f64, f64, f64) {
    let h = d.hidden;
    let i = d.expert_intermediate;
    let expert = 3.0 * h * i + if f.expert_bias { 2.0 * i + h } else { 0.0 };
    let routed = d.experts * expert;
    let shared = if f.gated_shared_expert {
        if d.shared_intermediate > 0.0 { 3.0 * h * d.shared_intermediate + h } else { 0.0 }
    } else {
        d.shared_experts * 3.0 * h * i
    };
    let router = h * d.experts + if f.router_bias { d.experts } else { 0.0 };
    (routed, shared, router + h)
}

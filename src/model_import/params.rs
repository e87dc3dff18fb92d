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

/// Parameters by tensor role (llama.cpp's tensor names: `attn_q`, `ffn_down`, …) of one block.
pub type Roles = Vec<(&'static str, f64)>;

/// The parameters of one attention block by role, and every norm of its layer but the
/// feed-forward block's (counted there).
pub fn attention(b: &AttentionBlock, d: &Dims) -> Roles {
    let h = d.hidden;
    let norm = h * f64::from(b.norms_per_layer.saturating_sub(1));
    match b.kind {
        AttentionKind::Gqa => {
            let q_out = d.heads * d.head_dim * if b.output_gate { 2.0 } else { 1.0 };
            let kv_out = d.kv_heads * d.head_dim;
            let (qb, kvb) = if b.qkv_bias { (q_out, kv_out) } else { (0.0, 0.0) };
            let o_b = if b.o_bias { h } else { 0.0 };
            let qk_norm = if b.qk_norm { 2.0 * d.head_dim } else { 0.0 };
            let sinks = if b.sinks { d.heads } else { 0.0 };
            vec![
                ("norm", norm + qk_norm),
                ("attn_q", h * q_out + qb),
                ("attn_k", h * kv_out + kvb),
                ("attn_v", h * kv_out + kvb),
                ("attn_output", d.heads * d.head_dim * h + o_b),
                ("other", sinks),
            ]
        }
        AttentionKind::Mla => {
            let qk = d.qk_nope_head_dim + d.qk_rope_head_dim;
            let (q, q_norm) = if d.q_lora_rank > 0.0 {
                (h * d.q_lora_rank + d.q_lora_rank * d.heads * qk, d.q_lora_rank)
            } else {
                (h * d.heads * qk, 0.0)
            };
            vec![
                ("norm", norm + q_norm + d.kv_lora_rank),
                ("attn_q", q),
                ("attn_kv_a", h * (d.kv_lora_rank + d.qk_rope_head_dim)),
                ("attn_kv_b", d.kv_lora_rank * d.heads * (d.qk_nope_head_dim + d.v_head_dim)),
                ("attn_output", d.heads * d.v_head_dim * h),
            ]
        }
    }
}

/// The parameters of one state block (and the norm before it) by role.
pub fn state(b: &StateBlock, d: &Dims) -> Roles {
    let h = d.hidden;
    match b {
        StateBlock::GatedDeltaNet => {
            let key_dim = d.lin_k_heads * d.lin_k_dim;
            let value_dim = d.lin_v_heads * d.lin_v_dim;
            let qkvz = h * (2.0 * key_dim + 2.0 * value_dim);
            let ba = h * 2.0 * d.lin_v_heads;
            let conv = (2.0 * key_dim + value_dim) * d.lin_conv;
            let per_head = 2.0 * d.lin_v_heads; // dt_bias, A_log
            vec![
                ("norm", h + d.lin_v_dim),
                ("ssm_in", qkvz + ba),
                ("ssm_conv", conv + per_head),
                ("ssm_out", value_dim * h),
            ]
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
pub fn dense_ffn(d: &Dims, i: f64) -> Roles {
    let h = d.hidden;
    vec![("norm", h), ("ffn_gate", h * i), ("ffn_up", h * i), ("ffn_down", h * i)]
}

/// One MoE layer, split into (routed experts, shared experts, router and norm), by role.
pub fn moe(f: &FeedForward, d: &Dims) -> (Roles, Roles, Roles) {
    let h = d.hidden;
    let i = d.expert_intermediate;
    let e = d.experts;
    let (gu_b, down_b) = if f.expert_bias { (i, h) } else { (0.0, 0.0) };
    let routed = vec![
        ("ffn_gate_exps", e * (h * i + gu_b)),
        ("ffn_up_exps", e * (h * i + gu_b)),
        ("ffn_down_exps", e * (h * i + down_b)),
    ];
    let shared = if f.gated_shared_expert {
        let s = d.shared_intermediate;
        if s > 0.0 {
            vec![("ffn_gate", h * s), ("ffn_up", h * s), ("ffn_down", h * s), ("ffn_gate_inp", h)]
        } else {
            Vec::new()
        }
    } else {
        let s = d.shared_experts * i;
        if s > 0.0 { vec![("ffn_gate", h * s), ("ffn_up", h * s), ("ffn_down", h * s)] } else { Vec::new() }
    };
    let router = vec![("ffn_gate_inp", h * e + if f.router_bias { e } else { 0.0 }), ("norm", h)];
    (routed, shared, router)
}

/// The parameters of a list of roles.
pub fn total(r: &Roles) -> f64 {
    r.iter().map(|(_, p)| p).sum()
}

/// llama.cpp's `use_more_bits(i, n)`: the layers its "_M" mixes store some tensors of in
/// more bits (src/llama-quant.cpp).
pub fn more_bits_layers(n: u64) -> u64 {
    (0..n).filter(|i| *i < n / 8 || *i >= 7 * n / 8 || (i + 3 * n - n / 8) % 3 == 2).count() as u64
}

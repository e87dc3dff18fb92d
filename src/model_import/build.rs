//! From the quantities read to a catalog entry: layer kinds, tensor groups, storage.

use super::params::{self, Dims};
use super::{ImportOptions, Imported, Reader, TensorGroup, dims, layer_kinds};
use crate::catalog::LlmModel;
use crate::diagnostic::{Diagnostic, did_you_mean};
use crate::document::PathSeg;
use crate::formats::architectures::{AttentionKind, StateBlock};
use crate::registry::Registry;
use serde_json::Value;

/// The stem of a config's name as written (`Qwen3-30B-A3B` for `…/Qwen--Qwen3-30B-A3B.config.json`
/// or `…/Qwen3-30B-A3B/config.json`).
pub fn stem_of(name: &str) -> String {
    let path = std::path::Path::new(name);
    let stem = match path.file_name().and_then(|f| f.to_str()) {
        Some("config.json") => path.parent().and_then(|p| p.file_name()).and_then(|f| f.to_str()).unwrap_or("model"),
        Some(f) => f
            .trim_end_matches(".json")
            .trim_end_matches(".gguf")
            .trim_end_matches(".config")
            .trim_end_matches("_config"),
        None => "model",
    };
    stem.rsplit("--").next().unwrap_or(stem).to_string()
}

/// The layers of an MoE model that keep a dense feed-forward block.
fn dense_layers(r: &mut Reader<'_, '_>, layers: u64) -> Option<u64> {
    let first = r.count("first_dense_layers").unwrap_or(0);
    let listed = match r.value("mlp_only_layers") {
        Some((v, k, _)) => match v.as_array() {
            Some(a) => a.len() as u64,
            None => {
                let d = Diagnostic::error("type", format!("`{k}` must be a list of layer indices"));
                r.errors.push(r.cfg.diag(&r.path(&k), d));
                return None;
            }
        },
        None => 0,
    };
    if let Some(step) = r.count("decoder_sparse_step").filter(|s| *s > 1) {
        let d = Diagnostic::error(
            "unsupported",
            format!(
                "`decoder_sparse_step` `{step}` (experts on every {step}th layer) is not a layout the importer reads"
            ),
        );
        r.errors.push(r.cfg.diag(&r.path("decoder_sparse_step"), d));
        return None;
    }
    let n = first + listed;
    if n > layers {
        let d = Diagnostic::error("value", format!("{n} dense layers in a {layers}-layer model"));
        r.errors.push(r.cfg.diag(&r.prefix, d));
        return None;
    }
    Some(n)
}

/// Checks that the dimensions a block needs are there.
fn require_dims(r: &mut Reader<'_, '_>, need: &[(&str, f64)], what: &str) {
    for (q, v) in need {
        if *v <= 0.0 {
            let keys = r.table.keys.get(*q).map(|k| k.join("`, `")).unwrap_or_else(|| (*q).to_string());
            let d = Diagnostic::error(
                "missing-key",
                format!("{what} needs `{keys}` ({q}), which the config lacks or gives as 0"),
            );
            r.errors.push(r.cfg.diag(&r.prefix, d));
        }
    }
}

/// The scheme the weights are stored in and the groups kept at the checkpoint's dtype.
fn storage(r: &mut Reader<'_, '_>, opts: &ImportOptions) -> Option<(String, Vec<String>, Option<String>)> {
    if let Some(q) = &opts.quant {
        return Some((q.clone(), Vec::new(), None));
    }
    let dtype_scheme = r
        .value("torch_dtype")
        .or_else(|| r.cfg.json.get("torch_dtype").map(|v| (v, "torch_dtype".to_string(), true)))
        .and_then(|(v, _, _)| v.as_str())
        .and_then(|t| r.table.torch_dtypes.get(t).cloned());
    if let Some(qc) = r.cfg.json.get("quantization_config").filter(|v| v.is_object()) {
        let at = vec![PathSeg::Key("quantization_config".into()), PathSeg::Key("quant_method".into())];
        let method = qc.get("quant_method").and_then(Value::as_str).unwrap_or_default();
        let Some(qm) = r.table.quant_methods.get(method) else {
            let d = Diagnostic::error(
                "unknown-quant-method",
                format!("`quant_method` `{method}` is not in tables/architectures.ron `quant_methods`; give `--quant`"),
            )
            .with_help(did_you_mean(method, r.table.quant_methods.keys().map(String::as_str)));
            r.errors.push(r.cfg.diag(&at, d));
            return None;
        };
        let mut kept = Vec::new();
        for p in qc.get("modules_to_not_convert").and_then(Value::as_array).into_iter().flatten() {
            let p = p.as_str().unwrap_or_default();
            if let Some((_, g)) = r.table.module_groups.iter().find(|(sub, _)| p.contains(sub.as_str())) {
                if !kept.contains(g) {
                    kept.push(g.clone());
                }
            }
        }
        return Some((qm.scheme.clone(), kept, dtype_scheme.or_else(|| qm.unconverted.clone())));
    }
    match dtype_scheme {
        Some(s) => Some((s, Vec::new(), None)),
        None => {
            let d = Diagnostic::error(
                "missing-key",
                "the config names no `quantization_config` and no `torch_dtype` the table knows: give `--quant`",
            );
            r.errors.push(r.cfg.diag(&[], d));
            None
        }
    }
}

/// Bytes per parameter and compute dtype of a quant scheme.
fn scheme(reg: &Registry, q: &str) -> Result<(f64, String), Box<Diagnostic>> {
    let table = reg.quant_schemes();
    let arch = reg.architectures();
    let Some(s) = arch.scheme(table, q) else {
        let names = table.schemes.keys().chain(arch.gguf_schemes.keys()).map(String::as_str);
        return Err(Box::new(
            Diagnostic::error("unknown-quant", format!("unknown quant scheme `{q}`")).with_help(did_you_mean(q, names)),
        ));
    };
    let bpp = s.bytes_per_param.or_else(|| s.requant_bytes_per_param()).ok_or_else(|| {
        Diagnostic::error(
            "unknown-quant",
            format!("quant scheme `{q}` gives no bytes per parameter in quant_schemes.ron"),
        )
    })?;
    let compute = s.requant.as_ref().map(|r| r.compute_dtype.clone()).unwrap_or_else(|| "fp16".into());
    Ok((bpp, compute))
}

/// Layers by the blocks they hold.
struct LayerCounts {
    attention: u64,
    state: u64,
    dense: u64,
    moe: u64,
}

/// One group's tensors: (role, parameters per layer, layers).
type GroupRoles = (&'static str, Vec<(&'static str, f64, u64)>);

/// Parameters per tensor group and role, before storage.
fn raw_groups(
    r: &Reader<'_, '_>,
    d: &Dims,
    embedding: f64,
    tied: bool,
    n: &LayerCounts,
    state_block: Option<&StateBlock>,
) -> Vec<GroupRoles> {
    let per = |roles: params::Roles, layers: u64| roles.into_iter().map(|(role, p)| (role, p, layers)).collect();
    let mut raw: Vec<GroupRoles> = vec![
        ("embedding", vec![("token_embd", embedding, 1)]),
        ("output", vec![("output", if tied { 0.0 } else { embedding }, 1), ("norm", d.hidden, 1)]),
        ("attention", per(params::attention(&r.arch.attention, d), n.attention)),
    ];
    if let Some(b) = state_block {
        raw.push(("state", per(params::state(b, d), n.state)));
    }
    if n.dense > 0 {
        raw.push(("dense_ffn", per(params::dense_ffn(d, d.intermediate), n.dense)));
    }
    if n.moe > 0 {
        let (routed, shared, router) = params::moe(&r.arch.feed_forward, d);
        raw.push(("routed_experts", per(routed, n.moe)));
        if params::total(&shared) > 0.0 {
            raw.push(("shared_experts", per(shared, n.moe)));
        }
        raw.push(("router", per(router, n.moe)));
    }
    raw
}

/// Bytes per parameter of a ggml type.
fn ggml_bpp(reg: &Registry, name: &str) -> Option<f64> {
    let t = reg.architectures().ggml_types.iter().find(|t| t.name == name)?;
    Some(f64::from(t.bytes) / f64::from(t.block.max(1)))
}

/// The bytes of one group's tensors stored by `recipe`, and the types used, most bytes first.
fn recipe_bytes(
    reg: &Registry,
    recipe: &crate::precision::Recipe,
    roles: &[(&'static str, f64, u64)],
) -> Option<(f64, Vec<String>)> {
    let base = ggml_bpp(reg, &recipe.base)?;
    let mut types: Vec<(String, f64)> = Vec::new();
    let mut add = |t: &str, b: f64| match types.iter_mut().find(|(x, _)| x == t) {
        Some(e) => e.1 += b,
        None => types.push((t.to_string(), b)),
    };
    for (role, p, layers) in roles {
        if *p <= 0.0 {
            continue;
        }
        match recipe.rules.iter().find(|x| x.role == *role) {
            Some(rule) => {
                let bpp = ggml_bpp(reg, &rule.ggml_type)?;
                let more = if rule.more_bits { params::more_bits_layers(*layers) } else { *layers };
                add(&rule.ggml_type, p * more as f64 * bpp);
                if more < *layers {
                    add(&recipe.base, p * (layers - more) as f64 * base);
                }
            }
            None => add(&recipe.base, p * *layers as f64 * base),
        }
    }
    types.sort_by(|a, b| b.1.total_cmp(&a.1));
    let bytes = types.iter().map(|(_, b)| b).sum();
    Some((bytes, types.into_iter().map(|(t, _)| t).collect()))
}

/// The largest layer count, hidden size or head count read (a million: far above any model,
/// low enough that nothing derived from it overflows or runs long).
const MAX_DIMENSION: u64 = 1 << 20;

/// What a config or a GGUF header says of a model's shape.
pub(super) struct Shape {
    layers: u64,
    hidden: u64,
    heads: u64,
    vocab: u64,
    d: Dims,
    window: Option<u64>,
    kinds: (u64, u64, u64),
    state_block: Option<StateBlock>,
    experts: Option<u64>,
    per_token: Option<u64>,
    dense: u64,
    moe_layers: u64,
    tied_value: Option<bool>,
}

impl Shape {
    /// Says whether the output shares the embedding (a GGUF file says it by its tensors).
    pub(super) fn set_tied(&mut self, tied: bool) {
        self.tied_value = Some(tied);
    }
}

/// Reads the shape; `blocks`: also check every width the block formulas need (a GGUF file
/// counts its parameters from its tensors and needs only the cache's widths).
pub(super) fn read_shape(r: &mut Reader<'_, '_>, arch_name: &str, blocks: bool) -> Option<Shape> {
    let layers = r.required("num_layers");
    let hidden = r.required("hidden_size");
    let heads = r.required("num_attention_heads");
    let vocab = r.required("vocab_size");
    for (what, v) in [("num_layers", layers), ("hidden_size", hidden), ("num_attention_heads", heads)] {
        if v > MAX_DIMENSION {
            let d = Diagnostic::error("range", format!("{what} is {v}; the importer reads up to {MAX_DIMENSION}"));
            r.errors.push(r.cfg.diag(&r.prefix, d));
        }
    }
    if !r.errors.is_empty() {
        return None;
    }
    let d: Dims = dims(r, hidden, heads);
    let window = r.count("sliding_window").filter(|w| *w > 0);
    let kinds = layer_kinds(r, layers, window.is_some())?;
    let (_, sliding, state) = kinds;
    if sliding > 0 && window.is_none() {
        let d = Diagnostic::error(
            "missing-key",
            format!("{sliding} layers attend over a sliding window the config does not size (`sliding_window`)"),
        );
        r.errors.push(r.cfg.diag(&r.prefix, d));
    }
    let state_block = match (&r.arch.state, state) {
        (_, 0) => None,
        (Some(b), _) => Some(b.clone()),
        (None, n) => {
            let d = Diagnostic::error(
                "unsupported",
                format!("{n} state layers, but `{arch_name}` has no `state` block in tables/architectures.ron"),
            );
            r.errors.push(r.cfg.diag(&r.prefix, d));
            None
        }
    };
    let experts = r.count("num_experts").filter(|n| *n > 0);
    let per_token = experts.map(|_| r.required("experts_per_token"));
    let dense = if experts.is_some() { dense_layers(r, layers)? } else { layers };
    let moe_layers = layers - dense;
    if blocks && dense > 0 {
        require_dims(r, &[("intermediate_size", d.intermediate)], "a dense feed-forward block");
    }
    if blocks && moe_layers > 0 {
        require_dims(r, &[("expert_intermediate_size", d.expert_intermediate)], "an expert");
    }
    if r.arch.attention.kind == AttentionKind::Mla {
        require_dims(
            r,
            &[("kv_lora_rank", d.kv_lora_rank), ("qk_rope_head_dim", d.qk_rope_head_dim)],
            "latent attention",
        );
        if blocks {
            require_dims(
                r,
                &[("qk_nope_head_dim", d.qk_nope_head_dim), ("v_head_dim", d.v_head_dim)],
                "latent attention",
            );
        }
    } else {
        require_dims(r, &[("head_dim", d.head_dim)], "attention");
    }
    if let Some(StateBlock::GatedDeltaNet) = state_block {
        let need = [
            ("linear_num_key_heads", d.lin_k_heads),
            ("linear_num_value_heads", d.lin_v_heads),
            ("linear_key_head_dim", d.lin_k_dim),
            ("linear_value_head_dim", d.lin_v_dim),
            ("linear_conv_kernel_dim", d.lin_conv),
        ];
        require_dims(r, &need, "a Gated DeltaNet layer");
    }
    let tied_value = r.value("tie_word_embeddings").and_then(|(v, _, _)| v.as_bool());
    let shape = Shape {
        layers,
        hidden,
        heads,
        vocab,
        d,
        window,
        kinds,
        state_block,
        experts,
        per_token,
        dense,
        moe_layers,
        tied_value,
    };
    r.errors.is_empty().then_some(shape)
}

/// Reads the model behind an architecture entry from a config.
pub(super) fn read_model(
    r: &mut Reader<'_, '_>,
    arch_name: &str,
    opts: &ImportOptions,
    reg: &Registry,
) -> Option<Imported> {
    let shape = read_shape(r, arch_name, true)?;
    let (quant, kept, kept_scheme) = storage(r, opts)?;
    let (bpp, compute_dtype) = scheme(reg, &quant).map_err(|e| r.errors.push(*e)).ok()?;
    if !kept.is_empty() && kept_scheme.is_none() {
        let d = Diagnostic::error(
            "missing-key",
            "`modules_to_not_convert` keeps tensors unconverted, but neither `torch_dtype` nor the quant method's `unconverted` says in what",
        );
        r.errors.push(r.cfg.diag(&[PathSeg::Key("quantization_config".into())], d));
        return None;
    }
    let kept_bpp = match &kept_scheme {
        Some(s) => Some(scheme(reg, s).map_err(|e| r.errors.push(*e)).ok()?.0),
        None => None,
    };
    let (full, sliding, state) = shape.kinds;
    let embedding = shape.vocab as f64 * shape.hidden as f64;
    let counts = LayerCounts { attention: full + sliding, state, dense: shape.dense, moe: shape.moe_layers };
    let tied = shape.tied_value.unwrap_or(false);
    let raw = raw_groups(r, &shape.d, embedding, tied, &counts, shape.state_block.as_ref());
    let recipe = reg.architectures().scheme(reg.quant_schemes(), &quant).and_then(|s| s.recipe.clone());
    let mut groups = Vec::new();
    for (g, roles) in raw {
        let p: f64 = roles.iter().map(|(_, p, n)| p * *n as f64).sum();
        if p <= 0.0 {
            continue;
        }
        let keep = kept_bpp.filter(|_| kept.iter().any(|k| k == g));
        let (label, bytes_per_param) = match (keep, &recipe) {
            (Some(b), _) => (kept_scheme.clone().unwrap_or_default(), b),
            (None, Some(rc)) => match recipe_bytes(reg, rc, &roles) {
                Some((bytes, types)) => (types.join("+"), bytes / p),
                None => (quant.clone(), bpp),
            },
            (None, None) => (quant.clone(), bpp),
        };
        groups.push(TensorGroup { group: g, params: p, quant: label, bytes_per_param });
    }
    let mut notes = Vec::new();
    if shape.tied_value.is_none() {
        notes.push("the config does not say whether the output shares the embedding matrix: counted untied".into());
    }
    if r.cfg.json.get("vision_config").is_some() || r.cfg.json.get("audio_config").is_some() {
        notes.push("the language model only: the vision or audio encoder is not counted".into());
    }
    if let Some(n) = r.root.get("num_nextn_predict_layers").and_then(Value::as_u64).filter(|n| *n > 0) {
        notes.push(format!("the {n} multi-token-prediction layer(s) are not counted (decoding does not run them)"));
    }
    if !kept.is_empty() {
        notes.push(format!(
            "{} kept at {} (`modules_to_not_convert`)",
            kept.join(", "),
            kept_scheme.clone().unwrap_or_default()
        ));
    }
    Some(assemble(r, arch_name, opts, &shape, groups, (quant, compute_dtype), notes))
}

/// The catalog entry from a shape and its tensor groups.
pub(super) fn assemble(
    r: &Reader<'_, '_>,
    arch_name: &str,
    opts: &ImportOptions,
    shape: &Shape,
    groups: Vec<TensorGroup>,
    (quant, compute_dtype): (String, String),
    notes: Vec<String>,
) -> Imported {
    let (full, sliding, state) = shape.kinds;
    let d = &shape.d;
    let tied = shape.tied_value.unwrap_or(false);
    let embedding: f64 = groups.iter().filter(|g| g.group == "embedding").map(|g| g.params).sum();
    let total: f64 = groups.iter().map(|g| g.params).sum();
    let bytes: f64 = groups.iter().map(|g| g.params * g.bytes_per_param).sum();
    let routed: f64 = groups.iter().filter(|g| g.group == "routed_experts").map(|g| g.params).sum();
    let share = match (shape.per_token, shape.experts) {
        (Some(k), Some(e)) if e > 0 => k as f64 / e as f64,
        _ => 1.0,
    };
    // a decoded token streams every weight but the routed experts it is not sent to and,
    // unless the output shares it, the embedding table (one row of it)
    let active = total - routed * (1.0 - share) - if tied { 0.0 } else { embedding };
    let stem = stem_of(&r.cfg.name);
    let mla = r.arch.attention.kind == AttentionKind::Mla;
    let explicit_head_dim = r.value("head_dim").is_some();
    let moe = shape.experts.is_some();
    let b = |x: f64| x / 1e9;
    let model = LlmModel {
        key: opts.key.clone().unwrap_or_else(|| super::key_from_name(&r.cfg.name)),
        family: r.arch.family.clone(),
        base: stem.clone(),
        total_params_b: b(total),
        active_params_b: b(active),
        quant_scheme: quant.clone(),
        bytes_per_param: bytes / total,
        gguf_size_gb: b(bytes),
        size_gb_inflight: b(bytes),
        compute_dtype,
        num_layers: shape.layers as u32,
        hidden_dim: shape.hidden as u32,
        num_attention_heads: shape.heads as u32,
        num_kv_heads: d.kv_heads as u32,
        is_moe: moe,
        num_experts: shape.experts.map(|e| e as u32),
        experts_per_token: shape.per_token.map(|e| e as u32),
        ctx_len_trained: r.count_quiet("context_length"),
        vocab_size: Some(shape.vocab),
        head_dim: (explicit_head_dim && !mla).then_some(d.head_dim as u32),
        sliding_window: shape.window.filter(|_| sliding > 0).map(|w| w as u32),
        sliding_window_layers: (sliding > 0).then_some(sliding as u32),
        kv_lora_rank: mla.then_some(d.kv_lora_rank as u32),
        qk_rope_head_dim: mla.then_some(d.qk_rope_head_dim as u32),
        state_layers: (state > 0).then_some(state as u32),
        state_elements_per_layer: shape.state_block.as_ref().map(|s| params::state_elements(s, d) as u64),
        shared_experts: r.count_quiet("shared_experts").filter(|n| *n > 0 && moe).map(|n| n as u32),
        first_dense_layers: r.count_quiet("first_dense_layers").filter(|n| *n > 0 && moe).map(|n| n as u32),
        routed_expert_params_b: (routed > 0.0).then_some(b(routed)),
        tie_word_embeddings: shape.tied_value,
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
        description: Some(format!("{stem}, imported from {} ({arch_name}), {quant}", r.cfg.name)),
        llm_invariant_decode: true,
    };
    Imported {
        model,
        architecture: arch_name.to_string(),
        groups,
        layers: (full as u32, sliding as u32, state as u32),
        notes,
    }
}

//! `ratchet model import`: a catalog entry from a Hugging Face `config.json`, read through
//! `tables/architectures.ron` (which keys, which layer layout, which class defaults) and the
//! quant table (bytes per parameter). Nothing is guessed: an unknown architecture, a missing
//! or mistyped key, a layout the table cannot express is an error located in the config.

mod from_gguf;
pub mod gguf;
pub mod params;

pub use from_gguf::import_gguf;

use crate::catalog::LlmModel;
use crate::diagnostic::{Diagnostic, SourceText, did_you_mean};
use crate::document::{self, Format, Node, PathSeg};
use crate::formats::architectures::{Architecture, ArchitectureTable, LayerKind, PatternKind};
use crate::registry::Registry;
use params::Dims;
use serde::Serialize;
use serde_json::Value;
use std::sync::Arc;

/// What the caller chooses.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// Quant scheme of the weights (a key of `quant_schemes.ron`); absent: the checkpoint's
    /// own (`quantization_config`, else `torch_dtype`).
    pub quant: Option<String>,
    /// Catalog key; absent: derived from the config's name.
    pub key: Option<String>,
}

/// One group of tensors: its parameters and how they are stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TensorGroup {
    /// `embedding`, `output`, `attention`, `state`, `dense_ffn`, `routed_experts`,
    /// `shared_experts`, `router`.
    pub group: &'static str,
    /// Parameters.
    pub params: f64,
    /// Quant scheme it is stored in.
    pub quant: String,
    /// Bytes per parameter of that scheme.
    pub bytes_per_param: f64,
}

/// An imported model and how its numbers were reached.
#[derive(Debug, Clone, Serialize)]
pub struct Imported {
    /// The catalog entry.
    pub model: LlmModel,
    /// The architecture it was read as.
    pub architecture: String,
    /// Parameters and storage per tensor group.
    pub groups: Vec<TensorGroup>,
    /// Layers by kind: (full attention, sliding window, state).
    pub layers: (u32, u32, u32),
    /// What the import left out or assumed, in words.
    pub notes: Vec<String>,
}

/// A config being read: its JSON, and where each value is in the text when it came from a file.
pub struct Config<'a> {
    json: &'a Value,
    located: Option<(SourceText, Node)>,
    name: String,
}

impl<'a> Config<'a> {
    /// A config handed over as JSON (batch, HTTP, Python): errors name the key path.
    pub fn from_value(json: &'a Value, name: &str) -> Self {
        Config { json, located: None, name: name.to_string() }
    }

    fn diag(&self, path: &[PathSeg], d: Diagnostic) -> Diagnostic {
        match &self.located {
            Some((src, node)) => d.at(src, node.span_at(path)),
            None => d.in_file(self.name.clone()),
        }
    }
}

/// Parses a config file's text: syntax errors carry line:col.
pub fn parse_config(name: &str, text: &str) -> Result<(Value, SourceText, Node), Box<Diagnostic>> {
    let source = SourceText { name: name.to_string(), text: Arc::new(text.to_string()) };
    let node = document::parse(text, Format::Json)
        .map_err(|e| Diagnostic::error("syntax", e.message.clone()).at(&source, e.span))?;
    let mut issues = Vec::new();
    let json = node.to_json(&mut issues);
    if let Some(i) = issues.first() {
        return Err(Box::new(Diagnostic::error("syntax", i.message.clone()).at(&source, i.span)));
    }
    Ok((json, source, node))
}

/// Imports the config file `name` with text `text`.
pub fn import_file(reg: &Registry, name: &str, text: &str, opts: &ImportOptions) -> Result<Imported, Vec<Diagnostic>> {
    let (json, source, node) = parse_config(name, text).map_err(|d| vec![*d])?;
    let cfg = Config { json: &json, located: Some((source, node)), name: name.to_string() };
    import(reg, &cfg, opts)
}

/// The catalog key a config's name suggests: its directory for `…/config.json`, else its
/// file stem, lower snake case.
pub fn key_from_name(name: &str) -> String {
    let stem = build::stem_of(name);
    let mut key = String::new();
    for c in stem.chars() {
        if c.is_ascii_alphanumeric() {
            key.push(c.to_ascii_lowercase());
        } else if !key.ends_with('_') {
            key.push('_');
        }
    }
    let key = key.trim_matches('_').to_string();
    if key.is_empty() { "model".into() } else { key }
}

/// Reads the quantities of one architecture from a config.
struct Reader<'c, 'a> {
    cfg: &'c Config<'a>,
    table: &'c ArchitectureTable,
    arch: &'c Architecture,
    /// The object the language model's keys are in, and its path.
    root: &'a Value,
    prefix: Vec<PathSeg>,
    errors: Vec<Diagnostic>,
}

impl<'c, 'a> Reader<'c, 'a> {
    fn path(&self, key: &str) -> Vec<PathSeg> {
        let mut p = self.prefix.clone();
        p.push(PathSeg::Key(key.to_string()));
        p
    }

    /// The value of `quantity`: the first of its keys present and not null, else the
    /// architecture's default for one of them. With its config key.
    fn value(&self, quantity: &str) -> Option<(&'c Value, String, bool)> {
        let keys = self.table.keys.get(quantity)?;
        for k in keys {
            if let Some(v) = self.root.get(k).filter(|v| !v.is_null()) {
                return Some((v, k.clone(), true));
            }
        }
        keys.iter().find_map(|k| self.arch.defaults.get(k).map(|v| (v, k.clone(), false)))
    }

    fn count(&mut self, quantity: &str) -> Option<u64> {
        let (v, k, in_config) = self.value(quantity)?;
        match v.as_u64().or_else(|| v.as_f64().filter(|f| f.fract() == 0.0 && *f >= 0.0).map(|f| f as u64)) {
            Some(n) => Some(n),
            None => {
                let at = if in_config { self.path(&k) } else { self.prefix.clone() };
                let d = Diagnostic::error("type", format!("`{k}` is `{v}`; a whole number ≥ 0 was expected"));
                self.errors.push(self.cfg.diag(&at, d));
                None
            }
        }
    }

    /// `count` for a quantity already checked (its errors were reported when first read).
    fn count_quiet(&self, quantity: &str) -> Option<u64> {
        self.value(quantity).and_then(|(v, _, _)| v.as_u64())
    }

    fn required(&mut self, quantity: &str) -> u64 {
        match self.count(quantity) {
            Some(n) => n,
            None => {
                if self.value(quantity).is_none() {
                    let keys = self.table.keys.get(quantity).map(|k| k.join("`, `")).unwrap_or_default();
                    let d = Diagnostic::error(
                        "missing-key",
                        format!("the config gives no `{keys}` ({quantity}), which a {} model needs", self.arch.family),
                    );
                    self.errors.push(self.cfg.diag(&self.prefix, d));
                }
                0
            }
        }
    }

    fn flag(&self, key: &str) -> bool {
        self.root.get(key).and_then(Value::as_bool).unwrap_or(false)
    }
}

/// Imports a config.
pub fn import(reg: &Registry, cfg: &Config<'_>, opts: &ImportOptions) -> Result<Imported, Vec<Diagnostic>> {
    let table = reg.architectures();
    let arch_path = [PathSeg::Key("architectures".into()), PathSeg::Index(0)];
    let Some(arch_name) = cfg.json.get("architectures").and_then(|a| a.get(0)).and_then(Value::as_str) else {
        let d = Diagnostic::error(
            "missing-key",
            "the config has no `architectures` list naming its model class (is it a Hugging Face config.json?)",
        );
        return Err(vec![cfg.diag(&[], d)]);
    };
    let Some(arch) = table.architectures.get(arch_name) else {
        let d = Diagnostic::error(
            "unknown-architecture",
            format!("architecture `{arch_name}` is not in tables/architectures.ron; add it there to import it"),
        )
        .with_help(did_you_mean(arch_name, table.architectures.keys().map(String::as_str)));
        return Err(vec![cfg.diag(&arch_path, d)]);
    };
    let (root, prefix) = match &arch.text_config {
        Some(k) => match cfg.json.get(k).filter(|v| v.is_object()) {
            Some(v) => (v, vec![PathSeg::Key(k.clone())]),
            None => {
                let d = Diagnostic::error(
                    "missing-key",
                    format!("a `{arch_name}` config keeps its language model under `{k}`, which it lacks"),
                );
                return Err(vec![cfg.diag(&[], d)]);
            }
        },
        None => (cfg.json, Vec::new()),
    };
    let mut r = Reader { cfg, table, arch, root, prefix, errors: Vec::new() };
    let read = read_model(&mut r, arch_name, opts, reg);
    let errors = std::mem::take(&mut r.errors);
    match read {
        Some(imported) if errors.is_empty() => {
            let found: Vec<Diagnostic> =
                reg.check_model(&imported.model).into_iter().filter(Diagnostic::is_error).collect();
            if found.is_empty() { Ok(imported) } else { Err(found) }
        }
        _ => Err(errors),
    }
}

/// Layers by kind: from `layer_types` when the config lists them, else the architecture's pattern.
fn layer_kinds(r: &mut Reader<'_, '_>, layers: u64, has_window: bool) -> Option<(u64, u64, u64)> {
    if let Some((v, k, _)) = r.value("layer_types") {
        let at = r.path(&k);
        let Some(list) = v.as_array() else {
            r.errors.push(r.cfg.diag(&at, Diagnostic::error("type", format!("`{k}` must be a list of layer kinds"))));
            return None;
        };
        if list.len() as u64 != layers {
            let d = Diagnostic::error("value", format!("`{k}` lists {} layers; the model has {layers}", list.len()));
            r.errors.push(r.cfg.diag(&at, d));
            return None;
        }
        let mut n = (0, 0, 0);
        for (i, t) in list.iter().enumerate() {
            let s = t.as_str().unwrap_or_default();
            match r.table.layer_types.get(s) {
                Some(LayerKind::Full) => n.0 += 1,
                Some(LayerKind::Sliding) => n.1 += 1,
                Some(LayerKind::State) => n.2 += 1,
                None => {
                    let mut p = at.clone();
                    p.push(PathSeg::Index(i));
                    let d = Diagnostic::error(
                        "unknown-layer-type",
                        format!("layer kind `{t}` is not in tables/architectures.ron `layer_types`"),
                    )
                    .with_help(did_you_mean(s, r.table.layer_types.keys().map(String::as_str)));
                    r.errors.push(r.cfg.diag(&p, d));
                    return None;
                }
            }
        }
        return Some(n);
    }
    let p = &r.arch.layers;
    match p.pattern {
        PatternKind::AllFull => Some((layers, 0, 0)),
        PatternKind::AllSliding => {
            let on = has_window && p.when.as_deref().is_none_or(|w| r.flag(w));
            Some(if on { (0, layers, 0) } else { (layers, 0, 0) })
        }
        PatternKind::EveryNthFull => {
            let every = match p.key.as_deref().and_then(|k| r.root.get(k).filter(|v| !v.is_null()).map(|v| (k, v))) {
                Some((k, v)) => match v.as_u64().filter(|n| *n > 0) {
                    Some(n) => n,
                    None => {
                        let d = Diagnostic::error("type", format!("`{k}` is `{v}`; a whole number > 0 was expected"));
                        r.errors.push(r.cfg.diag(&r.path(k), d));
                        return None;
                    }
                },
                None => u64::from(p.n.unwrap_or(1).max(1)),
            };
            let full = layers / every;
            Some(match p.others.unwrap_or(LayerKind::Full) {
                LayerKind::Full => (layers, 0, 0),
                LayerKind::Sliding => (full, layers - full, 0),
                LayerKind::State => (full, 0, layers - full),
            })
        }
    }
}

fn dims(r: &mut Reader<'_, '_>, hidden: u64, heads: u64) -> Dims {
    let kv_heads = r.count("num_kv_heads").unwrap_or(heads);
    let head_dim = r.count("head_dim").unwrap_or(hidden.checked_div(heads).unwrap_or(0));
    let mut opt = |q: &str| r.count(q).unwrap_or(0) as f64;
    Dims {
        hidden: hidden as f64,
        heads: heads as f64,
        kv_heads: kv_heads as f64,
        head_dim: head_dim as f64,
        q_lora_rank: opt("q_lora_rank"),
        kv_lora_rank: opt("kv_lora_rank"),
        qk_rope_head_dim: opt("qk_rope_head_dim"),
        qk_nope_head_dim: opt("qk_nope_head_dim"),
        v_head_dim: opt("v_head_dim"),
        intermediate: opt("intermediate_size"),
        expert_intermediate: opt("expert_intermediate_size"),
        shared_intermediate: opt("shared_expert_intermediate_size"),
        experts: opt("num_experts"),
        shared_experts: opt("shared_experts"),
        lin_k_heads: opt("linear_num_key_heads"),
        lin_v_heads: opt("linear_num_value_heads"),
        lin_k_dim: opt("linear_key_head_dim"),
        lin_v_dim: opt("linear_value_head_dim"),
        lin_conv: opt("linear_conv_kernel_dim"),
    }
}

mod build;
use build::read_model;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_come_from_the_config_name() {
        assert_eq!(key_from_name("models/Qwen3-30B-A3B/config.json"), "qwen3_30b_a3b");
        assert_eq!(key_from_name("tests/data/models/openai--gpt-oss-20b.config.json"), "gpt_oss_20b");
        assert_eq!(key_from_name("x/Llama-3.1-8B_config.json"), "llama_3_1_8b");
        assert_eq!(key_from_name("config.json"), "model");
    }
}

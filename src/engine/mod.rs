//! The engine: one immutable generation of registry + compiled rules (+ packs and anchors
//! as they are configured), and the operations of the reference API on top of it.

mod anchor_ops;
mod entry_out;
mod result_in;
mod tier_forms;
mod workload_ops;

use crate::catalog::LlmModel;
use crate::diagnostic::{Diagnostic, Report, did_you_mean};
use crate::error::EngineError;
use crate::expr::vm::Trace;
pub use crate::projection::ResultChanges;
use crate::projection::{self, Explanation, Feasibility, ProjectParams, Projection, Provenance, RunCx, RunResult};
use crate::registry::loader::{DirLoader, Loader};
use crate::registry::{self, Registry};
use crate::rules::host::{Env, Tables};
use crate::rules::inputs::Inputs;
use crate::rules::{self, CompiledRuleSet};
use crate::tier::Tier;
pub use entry_out::EntryOut;
use indexmap::IndexMap;
pub use result_in::ResultIn;
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::sync::Arc;

/// Which data an engine is built from. Empty means the embedded defaults.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EngineConfig {
    /// A registry directory replacing the embedded registry.
    pub registry: Option<PathBuf>,
    /// Rules directories (layered over the embedded rule sets, by name).
    pub rules_dirs: Vec<PathBuf>,
    /// The active rule set (`default` when absent).
    pub rule_set: Option<String>,
    /// A private anchor file (never embedded).
    pub anchors: Option<PathBuf>,
    /// Packs layered over the registry, in order.
    pub packs: Vec<crate::pack::PackRef>,
}

impl EngineConfig {
    /// Adds a `--rules` value: a directory to layer, or the name of the rule set to use.
    pub fn rules(&mut self, value: &str) {
        let p = PathBuf::from(value);
        if p.is_dir() {
            self.rules_dirs.push(p);
        } else {
            self.rule_set = Some(value.to_string());
        }
    }
}

/// Projection programs specialised per (registry tier, catalog model), built on first use.
#[derive(Debug, Default)]
struct PairCache {
    models: usize,
    slots: Vec<std::sync::OnceLock<Option<Arc<crate::rules::compile::Compiled>>>>,
    /// Catalog model addresses in catalog order (identity, not equality: a copy of a model
    /// may have been edited).
    model_ptrs: Vec<usize>,
    model_index: std::collections::HashMap<usize, u32>,
    /// The badge of each cascade path of the active rule set (by path index).
    path_badges: Vec<String>,
}

impl PairCache {
    fn model(&self, m: &LlmModel) -> Option<usize> {
        let p = m as *const LlmModel as usize;
        if self.model_ptrs.len() <= 32 {
            self.model_ptrs.iter().position(|x| *x == p)
        } else {
            self.model_index.get(&p).map(|i| *i as usize)
        }
    }
}

impl PairCache {
    fn new(reg: &Registry, active: &CompiledRuleSet) -> Self {
        let models = reg.catalog().len();
        let n = reg.tiers().len() * models;
        let model_ptrs: Vec<usize> = reg.catalog().iter().map(|m| Arc::as_ptr(m) as usize).collect();
        let model_index = model_ptrs.iter().enumerate().map(|(i, p)| (*p, i as u32)).collect();
        let badges = &reg.badges().projection_sources;
        let path_badges =
            active.project.paths.iter().map(|m| badges.get(&m.source).cloned().unwrap_or_default()).collect();
        PairCache {
            models,
            slots: (0..n).map(|_| std::sync::OnceLock::new()).collect(),
            model_ptrs,
            model_index,
            path_badges,
        }
    }
}

/// A compiled, immutable generation. `Send + Sync`; share it behind an `Arc`.
#[derive(Debug, Clone)]
pub struct Engine {
    registry: Arc<Registry>,
    tables: Arc<Tables>,
    sets: IndexMap<String, Arc<CompiledRuleSet>>,
    active: Arc<CompiledRuleSet>,
    provenance: Provenance,
    pairs: Arc<PairCache>,
    anchors: Option<Arc<crate::anchors::AnchorFile>>,
    packs: Option<Arc<crate::pack::PackState>>,
    /// Packs named by batch requests (`"pack": DIR`), compiled once per generation.
    pack_cache: Arc<std::sync::Mutex<std::collections::HashMap<String, Arc<crate::pack::PackState>>>>,
}

/// One request of [`Engine::project_llm_rows`].
#[derive(Debug, Clone, Copy)]
pub struct ProjectRow<'a> {
    /// The model.
    pub model: &'a LlmModel,
    /// The tier.
    pub hw: &'a Tier,
    /// Workload id.
    pub workload_id: &'a str,
    /// Parameters.
    pub params: &'a ProjectParams,
}

/// The name of the rule set used when none is chosen.
pub const DEFAULT_RULE_SET: &str = "default";

/// The string tables and sets the rules read through `lookup_or` and `member`, built from the
/// registry's tables.
pub fn registry_tables(reg: &Registry) -> Tables {
    let quant: IndexMap<String, String> =
        reg.quant_schemes().schemes.iter().map(|(k, s)| (k.clone(), s.capability_key.clone())).collect();
    let rungs: IndexMap<String, String> =
        reg.precision_sets().sets.iter().map(|(k, s)| (k.clone(), s.compute_dtype.clone())).collect();
    let gguf: IndexMap<String, String> =
        reg.architectures().gguf_schemes.iter().map(|(k, s)| (k.clone(), s.capability_key.clone())).collect();
    let tops_fields: IndexMap<String, String> =
        reg.dtypes().tops_field.iter().map(|(k, f)| (k.clone(), f.name().to_string())).collect();
    Tables {
        maps: vec![
            ("quant_capability_key".into(), quant),
            ("dtype_capability_key".into(), reg.dtypes().capability_key.clone()),
            ("precision_set_compute_dtype".into(), rungs),
            // the tier field a dtype's peak compute is read from (bounds name it)
            ("dtype_tops_field".into(), tops_fields),
            // llama.cpp's GGUF schemes beyond the reference's (`rules/gguf-quants.ron`)
            ("gguf_quant_capability_key".into(), gguf),
        ],
        sets: vec![
            ("fp4_compute_dtypes".into(), reg.dtypes().fp4_compute_dtypes.clone()),
            (
                "weight_only_quant_schemes".into(),
                reg.quant_schemes().schemes.iter().filter(|(_, s)| s.weight_only).map(|(k, _)| k.clone()).collect(),
            ),
            ("quant_schemes".into(), reg.quant_schemes().schemes.keys().cloned().collect()),
            (
                "gguf_weight_only_quant_schemes".into(),
                reg.architectures()
                    .gguf_schemes
                    .iter()
                    .filter(|(_, s)| s.weight_only)
                    .map(|(k, _)| k.clone())
                    .collect(),
            ),
            // memory technologies the registry knows (`tables/memory.ron`)
            ("memory_types".into(), reg.memory().known_types.clone()),
        ],
        nums: vec![
            // bytes per cached element of each KV-cache type (`tables/architectures.ron`)
            (crate::rules::host::KV_CACHE_ELEMENT_BYTES.into(), kv_cache_element_bytes(reg)),
        ]
        .into_iter()
        .chain(memory_sharing_tables(reg))
        .collect(),
    }
}

/// The memory table's sharing rules as numeric tables by rule name, one per figure
/// (`memory_sharing_fraction`, `memory_sharing_above_gb`, …); a rule without a figure is
/// absent from its table, so the rules' `lookup_num` default applies.
fn memory_sharing_tables(reg: &Registry) -> Vec<(String, IndexMap<String, f64>)> {
    type Figure = fn(&crate::registry::files::MemorySharing) -> Option<f64>;
    let figures: [(&str, Figure); 6] = [
        ("memory_sharing_fraction", |s| Some(s.fraction)),
        ("memory_sharing_above_gb", |s| s.above.as_ref().map(|a| a.from_gb)),
        ("memory_sharing_above_fraction", |s| s.above.as_ref().map(|a| a.fraction)),
        ("memory_sharing_reserve_gb", |s| s.reserve_gb),
        ("memory_sharing_min_gb", |s| s.min_gb),
        ("memory_sharing_max_gb", |s| s.max_gb),
    ];
    let rules = &reg.memory().sharing;
    figures
        .iter()
        .map(|(name, f)| (name.to_string(), rules.iter().filter_map(|(k, s)| f(s).map(|v| (k.clone(), v))).collect()))
        .collect()
}

/// Bytes per cached element of every KV-cache type whose width is known.
fn kv_cache_element_bytes(reg: &Registry) -> IndexMap<String, f64> {
    let t = reg.architectures();
    t.kv_cache_types.keys().filter_map(|k| t.kv_cache_element_bytes(k).map(|b| (k.clone(), b))).collect()
}

/// The result of building an engine: the engine when there were no errors, and every
/// diagnostic (warnings included).
#[derive(Debug)]
pub struct EngineOutcome {
    /// The engine.
    pub engine: Option<Engine>,
    /// Errors and warnings of the registry and the rules.
    pub report: Report,
}

fn hash_loader(h: &mut Sha256, l: &dyn Loader) {
    if let Ok(list) = l.list() {
        for rel in list {
            if let Ok(b) = l.read(&rel) {
                h.update((rel.len() as u64).to_le_bytes());
                h.update(rel.as_bytes());
                h.update((b.len() as u64).to_le_bytes());
                h.update(&b);
            }
        }
    }
}

impl Engine {
    /// Builds an engine from a configuration.
    pub fn load(cfg: &EngineConfig) -> EngineOutcome {
        let reg_loader: Box<dyn Loader> = match &cfg.registry {
            Some(d) => Box::new(DirLoader::new(d.clone())),
            None => Box::new(crate::embedded::registry()),
        };
        let mut rule_loaders: Vec<Box<dyn Loader>> = vec![Box::new(crate::embedded::rules())];
        for d in &cfg.rules_dirs {
            rule_loaders.push(Box::new(DirLoader::new(d.clone())));
        }
        let refs: Vec<&dyn Loader> = rule_loaders.iter().map(|b| b.as_ref()).collect();
        let mut out = Self::build(reg_loader.as_ref(), &refs, &cfg.packs, cfg.rule_set.as_deref(), 1);
        if let Some(path) = &cfg.anchors {
            let (file, report) = crate::anchors::AnchorFile::load(path);
            out.report.extend(report);
            match file {
                Some(f) => {
                    if let Some(e) = out.engine.as_mut() {
                        e.anchors = Some(Arc::new(f));
                    }
                }
                None => out.engine = None,
            }
        }
        out
    }

    /// The packs in use, compiled.
    pub fn packs(&self) -> Option<&crate::pack::PackState> {
        self.packs.as_deref()
    }

    /// The sizing model for a request: the pack it names (a directory or a shipped pack
    /// name; compiled once per generation), else the engine's packs, else the shipped
    /// `reference` pack.
    pub fn sizing_pack(&self, pack: Option<&str>) -> Result<Arc<crate::pack::PackState>, EngineError> {
        let key = match pack {
            Some(p) => p.to_string(),
            None => match &self.packs {
                Some(ps) if ps.sizing.budget.is_some() => return Ok(ps.clone()),
                _ => "reference".to_string(),
            },
        };
        if let Ok(cache) = self.pack_cache.lock() {
            if let Some(p) = cache.get(&key) {
                return Ok(p.clone());
            }
        }
        let mut report = Report::default();
        let stack = crate::pack::load(&[crate::pack::PackRef::from_arg(&key)], &mut report);
        let state =
            if report.has_errors() { None } else { crate::pack::PackState::build(&stack, &self.registry, &mut report) };
        let Some(state) = state else {
            let first = report.diagnostics.iter().find(|d| d.is_error()).map(|d| d.one_line()).unwrap_or_default();
            return Err(EngineError::InvalidValue(format!("pack `{key}` does not load: {first}")));
        };
        let state = Arc::new(state);
        if let Ok(mut cache) = self.pack_cache.lock() {
            cache.insert(key, state.clone());
        }
        Ok(state)
    }

    /// The private anchor file in use, if any.
    pub fn anchors(&self) -> Option<&crate::anchors::AnchorFile> {
        self.anchors.as_deref()
    }

    /// The same generation with another anchor file (or none).
    pub fn with_anchors(&self, anchors: Option<Arc<crate::anchors::AnchorFile>>) -> Engine {
        let mut e = self.clone();
        e.anchors = anchors;
        e
    }

    /// Builds an engine from explicit loaders (the hot-reload path and tests use this).
    pub fn from_loaders(
        registry: &dyn Loader,
        rules: &[&dyn Loader],
        rule_set: Option<&str>,
        generation: u64,
    ) -> EngineOutcome {
        Self::build(registry, rules, &[], rule_set, generation)
    }

    /// Builds an engine from explicit loaders and packs.
    pub fn build(
        registry: &dyn Loader,
        rules: &[&dyn Loader],
        packs: &[crate::pack::PackRef],
        rule_set: Option<&str>,
        generation: u64,
    ) -> EngineOutcome {
        let mut report = Report::default();
        let stack = (!packs.is_empty()).then(|| crate::pack::load(packs, &mut report));
        let layer_views = stack.as_ref().map(|s| s.registry_layers()).unwrap_or_default();
        let layers: Vec<registry::Layer<'_>> = layer_views
            .iter()
            .map(|(l, name, o)| registry::Layer { loader: l, pack: name.clone(), overrides: o.clone() })
            .collect();
        let out = registry::load_layered(registry, &layers);
        report.extend(out.report);
        let Some(reg) = out.registry else {
            return EngineOutcome { engine: None, report };
        };
        let tables = registry_tables(&reg);
        let r = rules::load(rules, &tables);
        report.extend(r.report);
        if report.has_errors() {
            return EngineOutcome { engine: None, report };
        }
        let name = rule_set.unwrap_or(DEFAULT_RULE_SET);
        let Some(active) = r.sets.get(name).cloned() else {
            report.push(Diagnostic::error("rules", format!("unknown rule set `{name}`")).with_help(
                did_you_mean(name, r.sets.keys().map(String::as_str)).or_else(|| {
                    Some(format!("known rule sets: {}", r.sets.keys().cloned().collect::<Vec<_>>().join(", ")))
                }),
            ));
            return EngineOutcome { engine: None, report };
        };
        let pack_state = match &stack {
            Some(st) => match crate::pack::PackState::build(st, &reg, &mut report) {
                Some(p) => Some(Arc::new(p)),
                None => return EngineOutcome { engine: None, report },
            },
            None => None,
        };
        let mut h = Sha256::new();
        h.update(reg.content_hash().as_bytes());
        for l in rules {
            hash_loader(&mut h, *l);
        }
        if let Some(st) = &stack {
            for l in st.loaders() {
                hash_loader(&mut h, l);
            }
        }
        let digest = h.finalize();
        let content_hash: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
        let provenance = Provenance {
            registry: reg.manifest().name.clone(),
            registry_version: reg.version().to_string(),
            rule_set: active.name.clone(),
            content_hash,
            generation,
        };
        let pairs = Arc::new(PairCache::new(&reg, &active));
        let engine = Engine {
            registry: Arc::new(reg),
            tables: Arc::new(tables),
            sets: r.sets,
            active,
            provenance,
            pairs,
            anchors: None,
            packs: pack_state,
            pack_cache: Arc::default(),
        };
        EngineOutcome { engine: Some(engine), report }
    }

    /// The engine over the embedded registry and rules, with the default rule set.
    pub fn embedded() -> Result<Engine, Report> {
        let out = Self::load(&EngineConfig::default());
        out.engine.ok_or(out.report)
    }

    /// The same registry and packs under other rules: `rules` are compiled against this
    /// engine's tables, and `rule_set` (or `default`) becomes active. Only the rules are
    /// rebuilt, so a rules-only change costs a rules compile, not a registry load.
    pub fn with_rules(&self, rules: &[&dyn Loader], rule_set: Option<&str>) -> EngineOutcome {
        let r = rules::load(rules, &self.tables);
        let mut report = r.report;
        if report.has_errors() {
            return EngineOutcome { engine: None, report };
        }
        let name = rule_set.unwrap_or(DEFAULT_RULE_SET);
        let Some(active) = r.sets.get(name).cloned() else {
            report.push(
                Diagnostic::error("rules", format!("unknown rule set `{name}`"))
                    .with_help(did_you_mean(name, r.sets.keys().map(String::as_str))),
            );
            return EngineOutcome { engine: None, report };
        };
        let mut h = Sha256::new();
        h.update(self.registry.content_hash().as_bytes());
        for l in rules {
            hash_loader(&mut h, *l);
        }
        let digest = h.finalize();
        let mut e = self.clone();
        e.provenance.content_hash = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
        e.provenance.rule_set = active.name.clone();
        e.active = active;
        e.sets = r.sets;
        e.pairs = Arc::new(PairCache::new(&self.registry, &e.active));
        EngineOutcome { engine: Some(e), report }
    }

    /// The same generation with another active rule set.
    pub fn with_rule_set(&self, name: &str) -> Result<Engine, EngineError> {
        let Some(active) = self.sets.get(name).cloned() else {
            let help =
                did_you_mean(name, self.sets.keys().map(String::as_str)).map(|h| format!(" ({h})")).unwrap_or_default();
            return Err(EngineError::UnknownKey(format!("unknown rule set `{name}`{help}")));
        };
        let mut e = self.clone();
        e.provenance.rule_set = active.name.clone();
        e.active = active;
        e.pairs = Arc::new(PairCache::new(&self.registry, &e.active));
        Ok(e)
    }

    /// The registry.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The active rule set.
    pub fn rule_set(&self) -> &CompiledRuleSet {
        &self.active
    }

    /// Every loaded rule set.
    pub fn rule_sets(&self) -> impl Iterator<Item = &Arc<CompiledRuleSet>> {
        self.sets.values()
    }

    /// Where results of this engine come from.
    pub fn provenance(&self) -> &Provenance {
        &self.provenance
    }

    /// Sets the generation id reported in provenance.
    pub fn set_generation(&mut self, generation: u64) {
        self.provenance.generation = generation;
    }

    fn cx(&self) -> RunCx<'_> {
        RunCx {
            env: Env { registry: &self.registry, tables: &self.tables },
            provenance: &self.provenance,
            path_badges: &self.pairs.path_badges,
            uncalibrated: &self.registry.badges().uncalibrated,
        }
    }

    /// The rules' inputs of one request; `workload_id` is `None` for the checks that have no
    /// workload (memory feasibility, KV bytes).
    fn inputs<'a>(
        &'a self,
        model: &'a LlmModel,
        hw: Option<&'a Tier>,
        workload_id: Option<&'a str>,
        p: &'a ProjectParams,
    ) -> Result<(Inputs<'a>, (u64, u64)), EngineError> {
        let d = &self.active.defaults;
        let prompt = p.prompt_tokens.unwrap_or(d.prompt_tokens);
        let decode = p.decode_tokens.unwrap_or(d.decode_tokens);
        // the one range check every interface's request passes (rules `ranges`)
        self.active.ranges.check([p.host_ms, p.compiler_quality, p.npu_share], p.fp4_runtime_maturity.as_deref())?;
        if let Some(w) = workload_id {
            self.active.ranges.check_workload(w, || self.known_workloads())?;
        }
        let (kv_cache_dtype, kv_cache_element_bytes) = match p.kv_cache_dtype.as_deref() {
            None => (d.kv_cache_dtype.as_deref(), self.active.kv_cache_default_bytes),
            Some(k) => (Some(k), Some(self.kv_cache_dtype(k)?)),
        };
        let inp = Inputs {
            hw,
            model: Some(model),
            workload_id: workload_id.unwrap_or(""),
            prompt_tokens: prompt as f64,
            decode_tokens: decode as f64,
            context_tokens: 0.0,
            dtype_bytes: d.dtype_bytes,
            host_ms: p.host_ms.unwrap_or(d.host_ms),
            compiler_quality: p.compiler_quality.unwrap_or(d.compiler_quality),
            npu_share: p.npu_share,
            fp4_runtime_maturity: p.fp4_runtime_maturity.as_deref().unwrap_or(&d.fp4_runtime_maturity),
            kv_cache_dtype,
            kv_cache_element_bytes,
            record: &[],
        };
        Ok((inp, (prompt, decode)))
    }

    /// Bytes per cached element of KV-cache type `k` (a key of `kv_cache_types`), or an
    /// error naming the known types.
    pub fn kv_cache_element_bytes(&self, k: &str) -> Result<f64, EngineError> {
        let table = crate::rules::kv_widths(&self.tables);
        if let Some(b) = table.and_then(|m| m.get(k)) {
            return Ok(*b);
        }
        let known: Vec<&str> = table.map(|m| m.keys().map(String::as_str).collect()).unwrap_or_default();
        let help = did_you_mean(k, known.iter().copied()).map(|h| format!(" ({h})")).unwrap_or_default();
        Err(EngineError::UnknownKey(format!("unknown KV-cache type `{k}`{help}; known: {}", known.join(", "))))
    }

    /// A request's KV-cache type, checked (one the registry gives a width, under a rule set
    /// that reads it), as its bytes per element.
    fn kv_cache_dtype(&self, k: &str) -> Result<f64, EngineError> {
        let bytes = self.kv_cache_element_bytes(k)?;
        if !self.active.reads_kv_cache_dtype {
            return Err(EngineError::InvalidValue(format!(
                "rule set `{}` sizes the KV cache at one fixed width and does not read `kv_cache_dtype`, so `{k}` would change nothing (the `default` rules read it)",
                self.active.name
            )));
        }
        Ok(bytes)
    }

    /// The workload ids the data names besides the rule set's choices: the loaded packs'
    /// workloads and the workloads of the registry's measured cells.
    fn known_workloads(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        if let Some(p) = self.packs() {
            for w in &p.sizing.workload_files {
                out.push(&w.name);
                if let Some(x) = &w.projection {
                    out.push(&x.workload_id);
                }
            }
        }
        for t in self.registry.tiers() {
            for cells in t.spec.measured_llm.iter().flat_map(|m| m.values()) {
                out.extend(cells.keys().map(String::as_str));
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// `project_llm`: decode and prefill rates, TTFT and totals of `model` on `hw`, or why it
    /// does not fit or cannot execute.
    pub fn project_llm<'a>(
        &'a self,
        model: &'a LlmModel,
        hw: &'a Tier,
        workload_id: &'a str,
        p: &'a ProjectParams,
    ) -> Result<Projection<'a>, EngineError> {
        let (inp, tokens) = self.inputs(model, Some(hw), Some(workload_id), p)?;
        let program = self.specialised(model, hw).unwrap_or(&self.active.project);
        projection::project(program, &inp, &self.cx(), tokens, None)
    }

    /// `project_llm` for many requests (workload id, parameters) of one tier and model. The
    /// pair's program runs in lanes — each instruction dispatched once for a block of up to
    /// eight requests — and every result, in request order, is exactly what `project_llm`
    /// gives for that request.
    pub fn project_llm_block<'a>(
        &'a self,
        model: &'a LlmModel,
        hw: &'a Tier,
        requests: &[(&'a str, &'a ProjectParams)],
        out: &mut Vec<Result<Projection<'a>, EngineError>>,
    ) {
        let program = self.specialised(model, hw).unwrap_or(&self.active.project);
        let cx = self.cx();
        // blocks of up to eight valid requests, on the stack; an invalid one ends a block
        let mut inps: [Inputs<'a>; 8] = [Inputs::default(); 8];
        let mut tokens = [(0u64, 0u64); 8];
        let mut n = 0;
        for (workload_id, p) in requests {
            match self.inputs(model, Some(hw), Some(workload_id), p) {
                Ok((inp, t)) => {
                    inps[n] = inp;
                    tokens[n] = t;
                    n += 1;
                    if n == inps.len() {
                        projection::project_block(program, &inps, &cx, &tokens, out);
                        n = 0;
                    }
                }
                Err(e) => {
                    projection::project_block(program, &inps[..n], &cx, &tokens[..n], out);
                    n = 0;
                    out.push(Err(e));
                }
            }
        }
        projection::project_block(program, &inps[..n], &cx, &tokens[..n], out);
    }

    /// `project_llm` for many requests over any tiers and models (a batch, a column of a
    /// data frame): the requests of each tier × model are projected together in lanes, and
    /// the results come back in request order, each exactly what `project_llm` gives.
    pub fn project_llm_rows<'a>(&'a self, rows: &[ProjectRow<'a>]) -> Vec<Result<Projection<'a>, EngineError>> {
        // a group per pair, numbered in order of first appearance (a scan: batches name few)
        let key = |r: &ProjectRow<'_>| (r.hw as *const Tier as usize, r.model as *const LlmModel as usize);
        let mut pairs: Vec<(usize, usize)> = Vec::new();
        let mut order: Vec<(u32, u32)> = rows
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let k = key(r);
                let g = match pairs.iter().rposition(|p| *p == k) {
                    Some(g) => g,
                    None => {
                        pairs.push(k);
                        pairs.len() - 1
                    }
                };
                (g as u32, i as u32)
            })
            .collect();
        if pairs.len() == 1 {
            let mut out = Vec::with_capacity(rows.len());
            let block: Vec<(&str, &ProjectParams)> = rows.iter().map(|r| (r.workload_id, r.params)).collect();
            if let Some(r0) = rows.first() {
                self.project_llm_block(r0.model, r0.hw, &block, &mut out);
            }
            return out;
        }
        order.sort_unstable();
        let mut results: Vec<Option<Result<Projection<'a>, EngineError>>> = (0..rows.len()).map(|_| None).collect();
        let (mut block, mut out) = (Vec::new(), Vec::new());
        for group in order.chunk_by(|a, b| a.0 == b.0) {
            let r0 = &rows[group[0].1 as usize];
            block.clear();
            block.extend(group.iter().map(|(_, i)| (rows[*i as usize].workload_id, rows[*i as usize].params)));
            out.clear();
            self.project_llm_block(r0.model, r0.hw, &block, &mut out);
            for ((_, i), r) in group.iter().zip(out.drain(..)) {
                results[*i as usize] = Some(r);
            }
        }
        results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(EngineError::InvalidValue("a request was not projected".into()))))
            .collect()
    }

    /// `project_llm`, then the steps a surface applies after it: the workload pattern (for
    /// models whose decode rate is not intrinsic) and the private-anchor overlay (when an
    /// anchor file is loaded; `spec_key` maps the model to the file's key, identity by
    /// default).
    pub fn project_llm_full<'a>(
        &'a self,
        model: &'a LlmModel,
        hw: &'a Tier,
        workload_id: &'a str,
        p: &'a ProjectParams,
        pattern: Option<&crate::workload::WorkloadPattern>,
        spec_key: Option<&str>,
    ) -> Result<Projection<'a>, EngineError> {
        let r = self.project_llm(model, hw, workload_id, p)?;
        let Projection::Projected(mut pr) = r else { return Ok(r) };
        if let Some(m) = pattern.filter(|_| !model.llm_invariant_decode) {
            let out = self.apply_workload_pattern(ResultIn::Projected(&pr), m)?;
            out.changes.apply(&mut pr);
            pr.base_decode_pre_multiplier = Some(out.base_decode_pre_multiplier);
        }
        if self.anchors.is_some() {
            let key = spec_key.unwrap_or(&model.key);
            if let Some(ov) = self.overlay_anchor(ResultIn::Projected(&pr), hw, model, Some(key), 1.0, 1.0)? {
                // every field the step rewrote, by name (a rule set that states bands marks
                // the measured decode rate's band there)
                ov.changes.apply(&mut pr);
                pr.badge = std::borrow::Cow::Owned(
                    self.registry.badges().projection_sources.get(&ov.source).cloned().unwrap_or_default(),
                );
                pr.source = std::borrow::Cow::Owned(ov.source);
                pr.silicon_anchor_meta = Some(Box::new(ov.meta));
            }
        }
        Ok(Projection::Projected(pr))
    }

    /// The projection program specialised for a registry tier and a catalog model (compiled
    /// on first use), or `None` for tiers and models built per request.
    fn specialised(&self, model: &LlmModel, hw: &Tier) -> Option<&crate::rules::compile::Compiled> {
        let ti = hw.registry_slot? as usize;
        if !std::ptr::eq(self.registry.tiers().get(ti)?.as_ref(), hw) {
            return None;
        }
        let mi = self.pairs.model(model)?;
        let slot = self.pairs.slots.get(ti * self.pairs.models + mi)?;
        slot.get_or_init(|| {
            let known = crate::rules::compile::Known { hw, model: Some(model), registry: &self.registry };
            crate::rules::compile::specialise(
                &self.active.rules,
                &self.tables,
                crate::rules::compile::EntryKind::Project,
                known,
            )
            .ok()
            .map(Arc::new)
        })
        .as_deref()
    }

    /// `project_llm` with an explanation: the gates, each path of the cascade and why it was
    /// taken or skipped, and every formula with its inputs and value.
    pub fn project_llm_explained<'a>(
        &'a self,
        model: &'a LlmModel,
        hw: &'a Tier,
        workload_id: &'a str,
        p: &'a ProjectParams,
    ) -> (Result<Projection<'a>, EngineError>, Explanation) {
        let c = &self.active.project_traced;
        let mut trace = Trace::default();
        let r = self
            .inputs(model, Some(hw), Some(workload_id), p)
            .and_then(|(inp, tokens)| projection::project(c, &inp, &self.cx(), tokens, Some(&mut trace)));
        let ex = projection::explain(c, &self.active.rules, &trace);
        (r, ex)
    }

    /// `memory_feasibility`: does `model` fit in `hw` with `context_tokens` of KV cache.
    pub fn memory_feasibility<'a>(
        &'a self,
        model: &'a LlmModel,
        hw: &'a Tier,
        context_tokens: u64,
    ) -> Result<Feasibility<'a>, EngineError> {
        self.memory_feasibility_with(model, hw, context_tokens, &ProjectParams::default())
    }

    /// `memory_feasibility` with the request's options (the KV cache's element type).
    pub fn memory_feasibility_with<'a>(
        &'a self,
        model: &'a LlmModel,
        hw: &'a Tier,
        context_tokens: u64,
        p: &ProjectParams,
    ) -> Result<Feasibility<'a>, EngineError> {
        let (mut inp, _) = self.inputs(model, Some(hw), None, p)?;
        inp.context_tokens = context_tokens as f64;
        match projection::run(&self.active.feasibility, &inp, &self.cx())? {
            RunResult::Feasibility(f) => {
                let mut f = f.into_owned();
                let rs = &self.active;
                let kv = inp.kv_cache_dtype.filter(|_| rs.reads_kv_cache_dtype);
                let sharing = hw.spec.memory_sharing.as_ref().filter(|_| rs.reads_memory_sharing);
                if kv.is_some() || sharing.is_some() {
                    f.memory_basis = Some(crate::projection::MemoryBasis {
                        kv_cache_dtype: kv.map(str::to_string),
                        kv_cache_element_bytes: kv.and(inp.kv_cache_element_bytes),
                        memory_sharing: sharing.cloned(),
                    });
                }
                Ok(f)
            }
            _ => Err(EngineError::InvalidValue("the feasibility program produced no check".into())),
        }
    }

    /// `kv_cache_bytes_per_token`: KV-cache bytes per token at `dtype_bytes` per element
    /// (the rule set's default when absent).
    pub fn kv_cache_bytes_per_token(&self, model: &LlmModel, dtype_bytes: Option<f64>) -> Result<f64, EngineError> {
        let p = ProjectParams::default();
        let (mut inp, _) = self.inputs(model, None, None, &p)?;
        if let Some(b) = dtype_bytes {
            if !b.is_finite() {
                return Err(EngineError::InvalidValue("`dtype_bytes` must be a finite number".into()));
            }
            inp.dtype_bytes = b;
        }
        match projection::run(&self.active.kv, &inp, &self.cx())? {
            RunResult::Scalar(v) => Ok(v),
            _ => Err(EngineError::InvalidValue("the kv program produced no number".into())),
        }
    }

    /// The inputs and outputs of one of the rule set's engine steps, for its `EntryRecord`.
    pub(crate) fn entry_layout(&self, name: &str) -> Result<&crate::rules::entries::EntryLayout, EngineError> {
        self.active
            .entries
            .get(name)
            .map(|c| c.layout.as_ref())
            .ok_or_else(|| EngineError::UnknownKey(format!("rule set `{}` has no entry `{name}`", self.active.name)))
    }

    /// Runs one of the rule set's engine steps over `inp`.
    /// The record is filled by name (`EntryRecord`) and the outputs are read by name.
    pub(crate) fn run_entry(
        &self,
        rec: &crate::rules::entries::EntryRecord<'_>,
        hw: Option<&Tier>,
        model: Option<&LlmModel>,
    ) -> Result<EntryOut, EngineError> {
        let name = rec.layout().sig.name;
        let c =
            self.active.entries.get(name).ok_or_else(|| {
                EngineError::UnknownKey(format!("rule set `{}` has no entry `{name}`", self.active.name))
            })?;
        let record = rec.finish()?;
        let inp = Inputs { hw, model, record: &record, ..Default::default() };
        let vals = projection::run_record(&c.compiled, &inp, &Env { registry: &self.registry, tables: &self.tables })?;
        Ok(EntryOut { layout: c.layout.clone(), vals })
    }

    /// Runs a rule-set operation (a reference API function written as formulas).
    pub fn run_operation(
        &self,
        name: &str,
        hw: Option<&Tier>,
        model: Option<&LlmModel>,
        args: &[crate::rules::inputs::RecVal<'_>],
    ) -> Result<projection::OutVal<'static>, EngineError> {
        let op = self.operation(name)?;
        if op.uses_hw && hw.is_none() {
            return Err(EngineError::BadRequest(format!("`{name}` needs `hw`")));
        }
        if op.uses_model && model.is_none() {
            return Err(EngineError::BadRequest(format!("`{name}` needs `model`")));
        }
        let inp = Inputs { hw, model, record: args, ..Default::default() };
        let mut out =
            projection::run_record(&op.compiled, &inp, &Env { registry: &self.registry, tables: &self.tables })?;
        out.pop().ok_or_else(|| EngineError::InvalidValue(format!("`{name}` gave no result")))
    }

    /// A rule-set operation by name.
    pub fn operation(&self, name: &str) -> Result<&crate::rules::CompiledOp, EngineError> {
        self.active.operations.get(name).ok_or_else(|| {
            let help = did_you_mean(name, self.active.operations.keys().map(String::as_str))
                .map(|h| format!(" ({h})"))
                .unwrap_or_default();
            EngineError::UnknownKey(format!("rule set `{}` has no operation `{name}`{help}", self.active.name))
        })
    }

    /// A registry tier by name, with "did you mean".
    pub fn tier(&self, name: &str) -> Result<&Arc<Tier>, EngineError> {
        self.registry.tier(name).ok_or_else(|| {
            let help = did_you_mean(name, self.registry.tiers().iter().map(|t| t.name()))
                .map(|h| format!(" ({h})"))
                .unwrap_or_default();
            EngineError::UnknownKey(format!("unknown tier `{name}`{help}"))
        })
    }

    /// A catalog model by key, with "did you mean".
    pub fn model(&self, key: &str) -> Result<&Arc<LlmModel>, EngineError> {
        self.registry.model(key).ok_or_else(|| {
            let help = did_you_mean(key, self.registry.catalog().keys()).map(|h| format!(" ({h})")).unwrap_or_default();
            EngineError::UnknownKey(format!("unknown model `{key}`{help}"))
        })
    }
}

impl Feasibility<'_> {
    /// The same check owning its verdict.
    pub fn into_owned(self) -> Feasibility<'static> {
        Feasibility {
            verdict: std::borrow::Cow::Owned(self.verdict.into_owned()),
            required_gb: self.required_gb,
            available_gb: self.available_gb,
            headroom_gb: self.headroom_gb,
            breakdown: self.breakdown,
            memory_basis: self.memory_basis,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_pairs_get_specialised_programs() {
        let e = Engine::embedded().unwrap_or_else(|r| panic!("{r:?}"));
        let t = e.tier("NPU Mid").unwrap_or_else(|e| panic!("{e}"));
        let m = e.model("qwen3_30b_a3b_moe").unwrap_or_else(|e| panic!("{e}"));
        let p = e.specialised(m, t).unwrap_or_else(|| panic!("not specialised"));
        assert!(p.program.code.len() < e.rule_set().project.program.code.len() / 3);
        // a copy of a registry tier is not the registry's tier: no specialisation
        let copy = Tier::clone(t);
        assert!(e.specialised(m, &copy).is_none());
    }
}

//! Rules as data: rule sets (`rules/*.ron`) hold the constants, the named formulas and the
//! LLM projection cascade; this module loads them, resolves `extends`, checks every formula
//! at its `file:line:col`, and compiles each entry point once into a register program.

pub mod compile;
pub mod entries;
pub use crate::expr;
pub mod fields;
pub mod file;
pub mod host;
pub mod inputs;
pub mod lookups;
pub mod model;
pub mod program;
pub mod ranges;
pub mod record;
pub mod sref;

use crate::diagnostic::{Diagnostic, Report};
use crate::registry::loader::Loader;
use crate::registry::read::{read_file, typed};
use crate::schema::FileKind;
use compile::{CompileError, Compiled, EntryKind};
use file::{Constant, RuleSetFile};
use host::Tables;
use indexmap::IndexMap;
use model::{RuleSet, SetFile};
use std::collections::HashSet;
use std::sync::Arc;

/// Request defaults of a rule set.
#[derive(Debug, Clone, PartialEq)]
pub struct Defaults {
    /// Prompt tokens.
    pub prompt_tokens: u64,
    /// Decode tokens.
    pub decode_tokens: u64,
    /// Host time, ms (0 means the tier's overhead in the reference rules).
    pub host_ms: f64,
    /// Compiler quality factor.
    pub compiler_quality: f64,
    /// FP4 runtime maturity.
    pub fp4_runtime_maturity: String,
    /// KV element bytes of `kv_cache_bytes_per_token`.
    pub dtype_bytes: f64,
    /// The KV cache's element type when a request names none (a key of `kv_cache_types`);
    /// absent in a rule set whose cache has one fixed width.
    pub kv_cache_dtype: Option<String>,
}

/// A compiled rule set: one program per entry point.
#[derive(Debug, Clone)]
pub struct CompiledRuleSet {
    /// Name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// Rule sets it extends, nearest first.
    pub extends: Vec<String>,
    /// File it was loaded from.
    pub file: String,
    /// Request defaults.
    pub defaults: Defaults,
    /// Accepted ranges of request options.
    pub ranges: ranges::Ranges,
    /// The memory check or the projection reads `opt.kv_cache_dtype` (a rule set that does
    /// not would answer the same for every KV-cache type, so a request naming one is refused).
    pub reads_kv_cache_dtype: bool,
    /// The memory check reads the tier's `memory_sharing` rule.
    pub reads_memory_sharing: bool,
    /// Bytes per element of the default KV-cache type (`defaults.kv_cache_dtype`).
    pub kv_cache_default_bytes: Option<f64>,
    /// `kv_cache_bytes_per_token`.
    pub kv: Compiled,
    /// `memory_feasibility`.
    pub feasibility: Compiled,
    /// `project_llm`.
    pub project: Compiled,
    /// `project_llm` with tracing (for `--explain`).
    pub project_traced: Compiled,
    /// Operations (reference API functions as formulas), by name.
    pub operations: IndexMap<String, CompiledOp>,
    /// Engine steps, by name (every one of `entries::ENTRIES`).
    pub entries: IndexMap<String, CompiledEntry>,
    /// The resolved rules (for `--explain` and listings).
    pub rules: RuleSet,
}

impl CompiledRuleSet {
    /// The projected result's declared record (empty when the rule set declares none).
    pub fn record(&self) -> &[model::RecordField] {
        self.rules.project.as_ref().map_or(&[], |p| p.record.as_slice())
    }

    /// The declared fields results carry by name beyond the engine's own, in declared order.
    pub fn extra_fields(&self) -> impl Iterator<Item = &model::RecordField> {
        self.rules.project.iter().flat_map(|p| p.extra_fields())
    }
}

/// A compiled engine step and the inputs and outputs it was compiled with.
#[derive(Debug, Clone)]
pub struct CompiledEntry {
    /// The program.
    pub compiled: Compiled,
    /// Its inputs and outputs, by name.
    pub layout: Arc<entries::EntryLayout>,
}

/// A compiled operation.
#[derive(Debug, Clone)]
pub struct CompiledOp {
    /// The program.
    pub compiled: Compiled,
    /// Arguments: (name, type, optional).
    pub args: Vec<(String, inputs::Ty, bool)>,
    /// Reads `hw.*`.
    pub uses_hw: bool,
    /// Reads `model.*`.
    pub uses_model: bool,
    /// What it answers.
    pub description: Option<String>,
}

fn compile_records(
    rs: &RuleSet,
    tables: &Tables,
    errors: &mut Vec<CompileError>,
) -> (IndexMap<String, CompiledOp>, IndexMap<String, CompiledEntry>) {
    use inputs::Namespaces;
    let mut ops = IndexMap::new();
    for (name, def) in &rs.operations {
        let uses_hw = def.uses.iter().any(|u| u == "hw");
        let uses_model = def.uses.iter().any(|u| u == "model");
        let spec = record::RecordSpec {
            def,
            ns: Namespaces { hw: uses_hw, model: uses_model, project: false, context: false, dtype_bytes: false },
            fields: def.args.iter().map(|(n, t, o)| (format!("arg.{n}"), *t, *o)).collect(),
            outputs: vec![("result".into(), None)],
            also_allowed: Vec::new(),
        };
        match record::compile_record(rs, tables, &spec) {
            Ok(c) => {
                ops.insert(
                    name.clone(),
                    CompiledOp {
                        compiled: c,
                        args: def.args.clone(),
                        uses_hw,
                        uses_model,
                        description: def.description.clone(),
                    },
                );
            }
            Err(e) => errors.extend(e),
        }
    }
    let mut entries = IndexMap::new();
    let extras: Vec<(&str, inputs::Ty)> =
        rs.project.iter().flat_map(|p| p.extra_fields()).map(|f| (f.name.as_str(), f.ty)).collect();
    for sig in entries::ENTRIES {
        let Some(def) = rs.entries.get(sig.name) else {
            errors.push(CompileError {
                message: format!("rule set `{}` has no entry `{}` (the engine runs it)", rs.name, sig.name),
                help: None,
                site: rs.root_src.clone(),
                at: 0,
            });
            continue;
        };
        let layout = entries::EntryLayout::of(sig, &extras, |n| def.outputs.contains_key(n));
        let spec = record::RecordSpec {
            def,
            ns: Namespaces { hw: sig.hw, model: sig.model, project: false, context: false, dtype_bytes: false },
            fields: layout.fields.clone(),
            outputs: layout.outputs.iter().map(|(n, t, _)| (n.clone(), Some(*t))).collect(),
            also_allowed: layout.writable(&extras),
        };
        match record::compile_record(rs, tables, &spec) {
            Ok(compiled) => {
                entries.insert(sig.name.to_string(), CompiledEntry { compiled, layout: Arc::new(layout) });
            }
            Err(e) => errors.extend(e),
        }
    }
    for (name, def) in &rs.entries {
        if entries::entry(name).is_none() {
            let known: Vec<&str> = entries::ENTRIES.iter().map(|e| e.name).collect();
            errors.push(CompileError {
                message: format!("unknown entry `{name}`"),
                help: crate::diagnostic::closest(name, known.iter().copied())
                    .map(|c| format!("did you mean `{c}`?"))
                    .or_else(|| Some(format!("entries: {}", known.join(", ")))),
                site: def.src.clone(),
                at: 0,
            });
        }
    }
    (ops, entries)
}

/// Loaded rule sets.
#[derive(Debug, Default)]
pub struct RulesOutcome {
    /// Compiled sets by name (empty when any error was found).
    pub sets: IndexMap<String, Arc<CompiledRuleSet>>,
    /// Errors and warnings.
    pub report: Report,
}

fn compile_error(e: &CompileError) -> Diagnostic {
    e.site.diag(Diagnostic::error("rules", e.message.clone()), e.at).with_help(e.help.clone())
}

fn defaults(rs: &RuleSet, report: &mut Report) -> Option<Defaults> {
    let mut d = Defaults {
        prompt_tokens: 0,
        decode_tokens: 0,
        host_ms: 0.0,
        compiler_quality: 0.0,
        fp4_runtime_maturity: String::new(),
        dtype_bytes: 0.0,
        kv_cache_dtype: None,
    };
    let mut seen = HashSet::new();
    let ok_before = report.errors();
    for (k, (v, src)) in &rs.defaults {
        seen.insert(k.as_str());
        let bad = |what: &str| src.diag(Diagnostic::error("rules", format!("default `{k}` must be {what}")), 0);
        match (k.as_str(), v) {
            ("prompt_tokens" | "decode_tokens", Constant::Num(x)) if *x >= 0.0 && x.fract() == 0.0 => {
                if k == "prompt_tokens" {
                    d.prompt_tokens = *x as u64;
                } else {
                    d.decode_tokens = *x as u64;
                }
            }
            ("prompt_tokens" | "decode_tokens", _) => report.push(bad("a non-negative integer")),
            ("host_ms", Constant::Num(x)) => d.host_ms = *x,
            ("dtype_bytes", Constant::Num(x)) => d.dtype_bytes = *x,
            ("compiler_quality", Constant::Num(x)) => d.compiler_quality = *x,
            ("host_ms" | "compiler_quality" | "dtype_bytes", _) => report.push(bad("a number")),
            ("fp4_runtime_maturity", Constant::Str(s)) => d.fp4_runtime_maturity = s.clone(),
            ("fp4_runtime_maturity", _) => report.push(bad("a string")),
            ("kv_cache_dtype", Constant::Str(s)) => d.kv_cache_dtype = Some(s.clone()),
            ("kv_cache_dtype", _) => report.push(bad("a string")),
            _ => {
                let known = [
                    "prompt_tokens",
                    "decode_tokens",
                    "host_ms",
                    "compiler_quality",
                    "fp4_runtime_maturity",
                    "dtype_bytes",
                    "kv_cache_dtype",
                ];
                report.push(
                    src.diag_key(Diagnostic::error("rules", format!("unknown default `{k}`")))
                        .with_help(crate::diagnostic::did_you_mean(k, known)),
                );
            }
        }
    }
    for k in ["prompt_tokens", "decode_tokens", "host_ms", "compiler_quality", "fp4_runtime_maturity", "dtype_bytes"] {
        if !seen.contains(k) {
            report.push(
                rs.root_src.diag(Diagnostic::error("rules", format!("rule set `{}` has no default `{k}`", rs.name)), 0),
            );
        }
    }
    (report.errors() == ok_before).then_some(d)
}

/// The registry's KV-cache types and their bytes per element (the numeric table
/// `kv_cache_element_bytes`).
pub fn kv_widths(tables: &Tables) -> Option<&IndexMap<String, f64>> {
    tables.nums.iter().find(|(n, _)| n == host::KV_CACHE_ELEMENT_BYTES).map(|(_, m)| m)
}

/// Bytes per element of KV-cache type `k`.
fn kv_width(tables: &Tables, k: &str) -> Option<f64> {
    kv_widths(tables)?.get(k).copied()
}

/// True when `c` loads or tests any of `inputs` (a rule set that never reads an option
/// would answer the same whatever it is).
fn reads(c: &Compiled, inputs: &[inputs::Input]) -> bool {
    use crate::expr::code::Ins;
    c.program.code().iter().any(|i| {
        matches!(i, Ins::Load { k, .. } | Ins::Has { k, .. }
            if k & host::REC == 0 && inputs.iter().any(|x| u32::from(x.index()) == k & 0xffff))
    })
}

/// A rule set's default KV-cache type must be one the registry gives a width: the error when
/// it is not.
fn kv_default_unknown(rs: &RuleSet, d: &Defaults, tables: &Tables) -> Option<Diagnostic> {
    let name = d.kv_cache_dtype.as_ref()?;
    let known: Vec<&str> = kv_widths(tables).map(|m| m.keys().map(String::as_str).collect()).unwrap_or_default();
    if known.contains(&name.as_str()) {
        return None;
    }
    let src = rs.defaults.get("kv_cache_dtype").map_or(&rs.root_src, |(_, s)| s);
    let help = crate::diagnostic::did_you_mean(name, known.iter().copied())
        .or_else(|| Some(format!("known: {}", known.join(", "))));
    Some(
        src.diag(Diagnostic::error("rules", format!("default `kv_cache_dtype` = `{name}` is not a KV-cache type")), 0)
            .with_help(help),
    )
}

/// Loads every rule set from `loaders` (later loaders replace earlier sets of the same name)
/// and compiles them against the registry's tables.
pub fn load(loaders: &[&dyn Loader], tables: &Tables) -> RulesOutcome {
    let mut report = Report::default();
    let mut files: IndexMap<String, SetFile> = IndexMap::new();
    let mut broken: Vec<String> = Vec::new();
    for loader in loaders {
        let list = match loader.list() {
            Ok(l) => l,
            Err(e) => {
                report.push(Diagnostic::error("io", format!("cannot read the rules `{}`: {e}", loader.describe())));
                continue;
            }
        };
        let mut in_this: IndexMap<String, String> = IndexMap::new();
        for rel in list {
            if rel.contains('/') || crate::document::Format::from_path(&rel).is_none() {
                if !rel.ends_with(".md") {
                    report.push(
                        Diagnostic::warning(
                            "unrecognised-file",
                            format!("`{rel}` is not a rule-set file and is ignored"),
                        )
                        .in_file(loader.display(&rel)),
                    );
                }
                continue;
            }
            let Some(pf) = read_file(*loader, &rel, FileKind::RuleSet, &mut report) else {
                if let Some(n) = crate::registry::declared_name(*loader, &rel) {
                    broken.push(n);
                }
                continue;
            };
            let Some(set) = typed::<RuleSetFile>(&pf, &mut report) else { continue };
            if set.schema_version != 1 {
                report.push(pf.diag_at(
                    Diagnostic::error(
                        "schema-version",
                        format!("unsupported `schema_version` `{}`; this ratchet reads version 1", set.schema_version),
                    ),
                    &["schema_version".into()],
                ));
                continue;
            }
            if let Some(prev) = in_this.get(&set.name) {
                report.push(pf.diag_at(
                    Diagnostic::error(
                        "duplicate",
                        format!("rule set `{}` is defined twice (also in `{prev}`)", set.name),
                    ),
                    &["name".into()],
                ));
                continue;
            }
            in_this.insert(set.name.clone(), pf.source.name.clone());
            files.insert(set.name.clone(), SetFile { file: Arc::new(pf), set });
        }
    }
    let mut sets = IndexMap::new();
    let mut seen = HashSet::new();
    let mut push_once = |report: &mut Report, d: Diagnostic| {
        if seen.insert(d.one_line()) {
            report.push(d);
        }
    };
    for name in files.keys() {
        let mut diags = Vec::new();
        if model::extends_broken(name, &files, &broken) {
            continue;
        }
        let resolved = model::resolve(name, &files, &mut diags);
        for d in diags {
            push_once(&mut report, d);
        }
        let Some(rs) = resolved else { continue };
        let Some(defs) = defaults(&rs, &mut report) else { continue };
        // a default every rule set extending this one inherits: reported once
        if let Some(d) = kv_default_unknown(&rs, &defs, tables) {
            push_once(&mut report, d);
            continue;
        }
        let Some(ranges) = ranges::ranges(&rs, &defs, &mut report) else { continue };
        // static checks first (names, arity, tables, cycles); compiling would find the same
        let mut errors: Vec<CompileError> = compile::check_unreached(&rs, tables);
        let mut compiled = None;
        if errors.is_empty() {
            let mut get = |kind: EntryKind, traced: bool| match compile::compile(&rs, tables, kind, traced) {
                Ok(c) => Some(c),
                Err(e) => {
                    errors.extend(e);
                    None
                }
            };
            let kv = get(EntryKind::KvBytes, false);
            let feasibility = get(EntryKind::Feasibility, false);
            let project = get(EntryKind::Project, false);
            let project_traced = if project.is_some() { get(EntryKind::Project, true) } else { None };
            let (ops, ents) = compile_records(&rs, tables, &mut errors);
            if let (Some(a), Some(b), Some(c), Some(d)) = (kv, feasibility, project, project_traced) {
                compiled = Some((a, b, c, d, ops, ents));
            }
        }
        for e in &errors {
            push_once(&mut report, compile_error(e));
        }
        let Some((kv, feasibility, project, project_traced, operations, entries)) =
            compiled.filter(|_| errors.is_empty())
        else {
            continue;
        };
        let file = rs.root_src.file.source.name.clone();
        let kv_inputs = [inputs::Input::OptKvCacheDtype, inputs::Input::OptKvCacheElementBytes];
        let reads_kv_cache_dtype = reads(&feasibility, &kv_inputs) || reads(&project, &kv_inputs);
        let reads_memory_sharing = reads(&feasibility, &[inputs::Input::HwMemorySharing]);
        let kv_cache_default_bytes = defs.kv_cache_dtype.as_deref().and_then(|k| kv_width(tables, k));
        sets.insert(
            name.clone(),
            Arc::new(CompiledRuleSet {
                name: name.clone(),
                description: rs.description.clone(),
                extends: rs.extends.clone(),
                file,
                defaults: defs,
                ranges,
                reads_kv_cache_dtype,
                reads_memory_sharing,
                kv_cache_default_bytes,
                kv,
                feasibility,
                project,
                project_traced,
                operations,
                entries,
                rules: rs,
            }),
        );
    }
    if report.has_errors() {
        sets.clear();
    }
    RulesOutcome { sets, report }
}

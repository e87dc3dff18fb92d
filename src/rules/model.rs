//! A rule set after `extends` is resolved and every formula is parsed, with the file
//! position of each formula kept for diagnostics.

use super::expr::{self, Expr};
use super::file::{Constant, Gate, Lookup, Path, RuleSetFile};
use super::lookups::LookupKind;
use crate::diagnostic::{Diagnostic, did_you_mean};
use crate::document::{PathSeg, Span};
use crate::registry::read::ParsedFile;
use indexmap::IndexMap;
use std::sync::Arc;

/// Where a formula (or any rule entry) is written.
#[derive(Debug, Clone)]
pub struct Src {
    /// The rules file.
    pub file: Arc<ParsedFile>,
    /// Path to the entry inside the file.
    pub path: Vec<PathSeg>,
}

impl Src {
    pub(crate) fn child(&self, seg: impl Into<PathSeg>) -> Src {
        let mut path = self.path.clone();
        path.push(seg.into());
        Src { file: self.file.clone(), path }
    }

    /// The span of the entry, or of the text at `at` inside a formula string.
    pub fn span(&self, at: usize) -> Span {
        let node = self.file.node.locate(&self.path);
        let span = node.span;
        if at == 0 {
            return span;
        }
        let raw = self.file.source.text.get(span.start..span.end).unwrap_or("");
        if !raw.starts_with('"') {
            return span;
        }
        // map the decoded offset to the raw offset, stepping over escapes
        let mut decoded = 0;
        let mut i = 1;
        let bytes = raw.as_bytes();
        while i < bytes.len() && decoded < at {
            if bytes[i] == b'\\' {
                i += if bytes.get(i + 1) == Some(&b'u') { 6 } else { 2 };
            } else {
                i += raw[i..].chars().next().map_or(1, char::len_utf8);
            }
            decoded += 1;
        }
        Span::new(span.start + i, span.start + i + 1)
    }

    /// A diagnostic at this entry (or at offset `at` in its formula).
    pub fn diag(&self, d: Diagnostic, at: usize) -> Diagnostic {
        d.at(&self.file.source, self.span(at))
    }

    /// A diagnostic at key `key` of the map at this entry.
    pub fn diag_key_of(&self, key: &str, d: Diagnostic) -> Diagnostic {
        d.at(&self.file.source, self.file.node.key_span(&self.path, key))
    }

    /// A diagnostic at the key of this entry.
    pub fn diag_key(&self, d: Diagnostic) -> Diagnostic {
        match self.path.split_last() {
            Some((PathSeg::Key(k), parent)) => d.at(&self.file.source, self.file.node.key_span(parent, k)),
            _ => self.diag(d, 0),
        }
    }
}

impl From<&str> for PathSeg {
    fn from(s: &str) -> Self {
        PathSeg::Key(s.to_string())
    }
}

impl From<usize> for PathSeg {
    fn from(i: usize) -> Self {
        PathSeg::Index(i)
    }
}

/// A parsed formula.
#[derive(Debug, Clone)]
pub struct Formula {
    /// Name (without parameters).
    pub name: String,
    /// Parameter names.
    pub params: Vec<String>,
    /// The text as written.
    pub text: String,
    /// The parsed expression.
    pub expr: Expr,
    /// Where it is written.
    pub src: Src,
}

impl Formula {
    /// `name(a, b)` or `name`.
    pub fn signature(&self) -> String {
        if self.params.is_empty() { self.name.clone() } else { format!("{}({})", self.name, self.params.join(", ")) }
    }
}

/// A gate.
#[derive(Debug, Clone)]
pub struct GateDef {
    /// Name.
    pub name: String,
    /// Condition.
    pub when: Formula,
    /// Outcome name.
    pub outcome: String,
    /// Where the outcome is written.
    pub outcome_src: Src,
    /// Outcome fields.
    pub fields: IndexMap<String, Formula>,
}

/// A lookup with parsed arguments.
#[derive(Debug, Clone)]
pub struct LookupDef {
    /// Which lookup.
    pub kind: LookupKind,
    /// Candidate keys.
    pub keys: Vec<Formula>,
    /// Workload id.
    pub workload: Option<Formula>,
    /// Family.
    pub family: Option<Formula>,
    /// Name to skip.
    pub skip: Option<Formula>,
    /// Where the lookup is written.
    pub src: Src,
}

/// A cascade path.
#[derive(Debug, Clone)]
pub struct PathDef {
    /// Name.
    pub name: String,
    /// Source label.
    pub source: String,
    /// Whose constants the path reads.
    pub constants: crate::formats::rules::ConstantsOrigin,
    /// Description.
    pub description: Option<String>,
    /// Condition.
    pub when: Option<Formula>,
    /// Lookup.
    pub lookup: Option<LookupDef>,
    /// Path lets and outputs (one scope).
    pub scope: IndexMap<String, Formula>,
    /// Where the path is written.
    pub src: Src,
}

/// The projection.
#[derive(Debug, Clone)]
pub struct ProjectDef {
    /// Entry lets.
    pub lets: IndexMap<String, Formula>,
    /// Gates in order.
    pub gates: Vec<GateDef>,
    /// Path names in order, with where each is written.
    pub cascade: Vec<(String, Src)>,
    /// Paths by name.
    pub paths: IndexMap<String, PathDef>,
    /// Shared outputs.
    pub outputs: IndexMap<String, Formula>,
    /// Rounding per output.
    pub rounding: IndexMap<String, (u32, Src)>,
    /// The declared result record, in declared order (core fields included when declared).
    pub record: Vec<RecordField>,
    /// Physical bounds checked on every path.
    pub bounds: Vec<CheckDef>,
}

impl ProjectDef {
    /// The declared fields the engine does not read itself: computed on every path and
    /// carried into results by name.
    pub fn extra_fields(&self) -> impl Iterator<Item = &RecordField> {
        self.record.iter().filter(|f| !f.core)
    }
}

/// One declared field of the projected result.
#[derive(Debug, Clone)]
pub struct RecordField {
    /// Field name.
    pub name: String,
    /// Its type.
    pub ty: super::inputs::Ty,
    /// Unit, when it has one.
    pub unit: Option<String>,
    /// What it means.
    pub doc: String,
    /// One of the fields the engine reads itself (`PROJECTED_FIELDS`).
    pub core: bool,
    /// Where it is declared.
    pub src: Src,
}

/// A check.
#[derive(Debug, Clone)]
pub struct CheckDef {
    /// Condition.
    pub when: Formula,
    /// Error kind.
    pub kind: String,
    /// Message formula.
    pub message: Formula,
}

/// A record entry or operation, resolved.
#[derive(Debug, Clone)]
pub struct RecordDef {
    /// Name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// Named formulas.
    pub lets: IndexMap<String, Formula>,
    /// Checks.
    pub checks: Vec<CheckDef>,
    /// Outputs (an operation's single output is `result`).
    pub outputs: IndexMap<String, Formula>,
    /// Rounding per output.
    pub rounding: IndexMap<String, u32>,
    /// Operation arguments: (name, type, optional).
    pub args: Vec<(String, super::inputs::Ty, bool)>,
    /// Namespaces used (`hw`, `model`).
    pub uses: Vec<String>,
    /// Where it is written.
    pub src: Src,
}

/// A resolved rule set.
#[derive(Debug, Clone)]
pub struct RuleSet {
    /// Name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// The chain of rule sets this one extends, nearest first.
    pub extends: Vec<String>,
    /// Request defaults.
    pub defaults: IndexMap<String, (Constant, Src)>,
    /// Accepted ranges of request options.
    pub ranges: IndexMap<String, (super::file::Range, Src)>,
    /// Accepted values of string request options.
    pub choices: IndexMap<String, (Vec<String>, Src)>,
    /// Constants.
    pub constants: IndexMap<String, (Constant, Src)>,
    /// Global formulas by name.
    pub formulas: IndexMap<String, Formula>,
    /// The kv entry.
    pub kv: Option<Formula>,
    /// Feasibility entry lets.
    pub feas_lets: IndexMap<String, Formula>,
    /// Feasibility outputs.
    pub feasibility: IndexMap<String, Formula>,
    /// Where the feasibility block is.
    pub feasibility_src: Src,
    /// The projection.
    pub project: Option<ProjectDef>,
    /// Operations by name.
    pub operations: IndexMap<String, RecordDef>,
    /// Engine steps by name.
    pub entries: IndexMap<String, RecordDef>,
    /// The file's top level.
    pub root_src: Src,
}

impl RuleSet {
    /// Every formula in the set.
    pub fn all_formulas(&self) -> Vec<&Formula> {
        let mut v: Vec<&Formula> = self.formulas.values().collect();
        v.extend(self.kv.iter());
        v.extend(self.feas_lets.values());
        v.extend(self.feasibility.values());
        if let Some(p) = &self.project {
            v.extend(p.lets.values());
            v.extend(p.outputs.values());
            for g in &p.gates {
                v.push(&g.when);
                v.extend(g.fields.values());
            }
            for path in p.paths.values() {
                v.extend(path.when.iter());
                v.extend(path.scope.values());
                if let Some(l) = &path.lookup {
                    v.extend(l.keys.iter());
                    v.extend(l.workload.iter().chain(l.family.iter()).chain(l.skip.iter()));
                }
            }
        }
        for r in self.operations.values().chain(self.entries.values()) {
            v.extend(r.lets.values());
            v.extend(r.outputs.values());
            for c in &r.checks {
                v.push(&c.when);
                v.push(&c.message);
            }
        }
        v
    }
}

/// One rules file with where it came from.
#[derive(Debug, Clone)]
pub struct SetFile {
    /// The parsed file.
    pub file: Arc<ParsedFile>,
    /// Its typed content.
    pub set: RuleSetFile,
}

/// Raw entries with sources, merged along `extends`.
#[derive(Default)]
struct Raw {
    description: Option<String>,
    defaults: IndexMap<String, (Constant, Src)>,
    ranges: IndexMap<String, (super::file::Range, Src)>,
    choices: IndexMap<String, (Vec<String>, Src)>,
    constants: IndexMap<String, (Constant, Src)>,
    formulas: IndexMap<String, (String, String, Src)>,
    kv: Option<(String, Src)>,
    feas_lets: IndexMap<String, (String, Src)>,
    feasibility: IndexMap<String, (String, Src)>,
    feasibility_src: Option<Src>,
    has_project: bool,
    lets: IndexMap<String, (String, Src)>,
    gates: Vec<(Gate, Src)>,
    cascade: Vec<(String, Src)>,
    paths: IndexMap<String, (Path, Src)>,
    outputs: IndexMap<String, (String, Src)>,
    rounding: IndexMap<String, (u32, Src)>,
    record: IndexMap<String, (super::file::FieldDecl, Src)>,
    bounds: Vec<(super::file::Check, Src)>,
    records: IndexMap<(bool, String), RawRecord>,
}

/// An operation or entry before parsing, merged along `extends`.
#[derive(Default, Clone)]
struct RawRecord {
    description: Option<String>,
    lets: IndexMap<String, (String, Src)>,
    checks: Vec<(super::file::Check, Src)>,
    outputs: IndexMap<String, (String, Src)>,
    rounding: IndexMap<String, u32>,
    args: IndexMap<String, (String, Src)>,
    uses: Vec<String>,
    src: Option<Src>,
}

fn overlay(raw: &mut Raw, sf: &SetFile, diags: &mut Vec<Diagnostic>) {
    let root = Src { file: sf.file.clone(), path: Vec::new() };
    let s = &sf.set;
    if s.description.is_some() {
        raw.description = s.description.clone();
    }
    for (k, v) in &s.defaults {
        raw.defaults.insert(k.clone(), (v.clone(), root.child("defaults").child(k.as_str())));
    }
    for (k, v) in &s.ranges {
        raw.ranges.insert(k.clone(), (*v, root.child("ranges").child(k.as_str())));
    }
    for (k, v) in &s.choices {
        raw.choices.insert(k.clone(), (v.clone(), root.child("choices").child(k.as_str())));
    }
    for (k, v) in &s.constants {
        raw.constants.insert(k.clone(), (v.clone(), root.child("constants").child(k.as_str())));
    }
    for (sig, text) in &s.formulas {
        let src = root.child("formulas").child(sig.as_str());
        match expr::parse_signature(sig) {
            Ok((name, _)) => {
                raw.formulas.insert(name, (sig.clone(), text.clone(), src));
            }
            Err(m) => diags.push(src.diag_key(Diagnostic::error("rules", m))),
        }
    }
    for (is_op, name, src, desc, lets, checks, outputs, rounding, args, uses) in s
        .operations
        .iter()
        .map(|(n, o)| {
            let src = root.child("operations").child(n.as_str());
            let outputs: IndexMap<String, String> = std::iter::once(("result".to_string(), o.result.clone())).collect();
            (true, n, src, &o.description, &o.lets, &o.checks, outputs, IndexMap::new(), Some(&o.args), o.uses.clone())
        })
        .chain(s.entries.iter().map(|(n, e)| {
            let src = root.child("entries").child(n.as_str());
            (false, n, src, &e.description, &e.lets, &e.checks, e.outputs.clone(), e.rounding.clone(), None, Vec::new())
        }))
        .collect::<Vec<_>>()
    {
        let r = raw.records.entry((is_op, name.clone())).or_default();
        if desc.is_some() {
            r.description = desc.clone();
        }
        for (k, v) in lets {
            r.lets.insert(k.clone(), (v.clone(), src.child("let").child(k.as_str())));
        }
        if !checks.is_empty() {
            r.checks = checks.iter().enumerate().map(|(i, c)| (c.clone(), src.child("checks").child(i))).collect();
        }
        let out_src = if is_op { src.child("result") } else { src.child("outputs") };
        for (k, v) in outputs {
            let s2 = if is_op { out_src.clone() } else { out_src.child(k.as_str()) };
            r.outputs.insert(k.clone(), (v, s2));
        }
        for (k, v) in rounding {
            r.rounding.insert(k, v);
        }
        if let Some(a) = args {
            if !a.is_empty() {
                r.args = a.iter().map(|(k, v)| (k.clone(), (v.clone(), src.child("args").child(k.as_str())))).collect();
            }
        }
        if !uses.is_empty() {
            r.uses = uses;
        }
        r.src = Some(src);
    }
    let Some(llm) = &s.llm else { return };
    let l = root.child("llm");
    if let Some(kv) = &llm.kv_cache_bytes_per_token {
        raw.kv = Some((kv.clone(), l.child("kv_cache_bytes_per_token")));
    }
    if let Some(mf) = &llm.memory_feasibility {
        for (k, v) in &mf.lets {
            raw.feas_lets.insert(k.clone(), (v.clone(), l.child("memory_feasibility").child("let").child(k.as_str())));
        }
    }
    if !llm.feasibility.is_empty() {
        raw.feasibility_src = Some(l.child("feasibility"));
    }
    for (k, v) in &llm.feasibility {
        raw.feasibility.insert(k.clone(), (v.clone(), l.child("feasibility").child(k.as_str())));
    }
    let Some(p) = &llm.project else { return };
    raw.has_project = true;
    let ps = l.child("project");
    for (k, v) in &p.lets {
        raw.lets.insert(k.clone(), (v.clone(), ps.child("let").child(k.as_str())));
    }
    if !p.gates.is_empty() {
        raw.gates = p.gates.iter().enumerate().map(|(i, g)| (g.clone(), ps.child("gates").child(i))).collect();
    }
    if !p.cascade.is_empty() {
        raw.cascade = p.cascade.iter().enumerate().map(|(i, c)| (c.clone(), ps.child("cascade").child(i))).collect();
    }
    for (k, v) in &p.paths {
        raw.paths.insert(k.clone(), (v.clone(), ps.child("paths").child(k.as_str())));
    }
    for (k, v) in &p.outputs {
        raw.outputs.insert(k.clone(), (v.clone(), ps.child("outputs").child(k.as_str())));
    }
    for (k, v) in &p.rounding {
        raw.rounding.insert(k.clone(), (*v, ps.child("rounding").child(k.as_str())));
    }
    for (k, v) in &p.record {
        raw.record.insert(k.clone(), (v.clone(), ps.child("record").child(k.as_str())));
    }
    // bounds accumulate over `extends`: a set that adds a refusal keeps its bases' ones
    raw.bounds.extend(p.bounds.iter().enumerate().map(|(i, c)| (c.clone(), ps.child("bounds").child(i))));
}

/// The declared result record: each field's type checked, core fields against the type the
/// engine reads.
fn record_fields(raw: &Raw, diags: &mut Vec<Diagnostic>) -> Vec<RecordField> {
    let mut out = Vec::new();
    for (name, (d, src)) in &raw.record {
        let ty = match d.ty.as_str() {
            "number" => super::inputs::Ty::Num,
            "string" => super::inputs::Ty::Str,
            "boolean" => super::inputs::Ty::Bool,
            other => {
                diags.push(
                    src.child("type")
                        .diag(Diagnostic::error("rules", format!("unknown field type `{other}`")), 0)
                        .with_help(
                            did_you_mean(other, ["number", "string", "boolean"])
                                .or(Some("expected `number`, `string` or `boolean`".into())),
                        ),
                );
                continue;
            }
        };
        let core = super::fields::PROJECTED_FIELDS.iter().find(|(f, _)| f == name);
        if let Some((_, want)) = core {
            if *want != ty {
                diags.push(src.child("type").diag(
                    Diagnostic::error(
                        "rules",
                        format!(
                            "`{name}` is a {} the engine reads; it cannot be declared a {}",
                            want.name(),
                            ty.name()
                        ),
                    ),
                    0,
                ));
                continue;
            }
        }
        out.push(RecordField {
            name: name.clone(),
            ty,
            unit: d.unit.clone(),
            doc: d.doc.clone(),
            core: core.is_some(),
            src: src.clone(),
        });
    }
    out
}

fn formula(name: &str, params: Vec<String>, text: &str, src: Src, diags: &mut Vec<Diagnostic>) -> Option<Formula> {
    match expr::parse(text) {
        Ok(e) => Some(Formula { name: name.to_string(), params, text: text.to_string(), expr: e, src }),
        Err(e) => {
            diags.push(src.diag(Diagnostic::error("rules", e.message), e.at));
            None
        }
    }
}

fn formulas(m: &IndexMap<String, (String, Src)>, diags: &mut Vec<Diagnostic>) -> IndexMap<String, Formula> {
    let mut out = IndexMap::new();
    for (k, (text, src)) in m {
        if let Err(msg) = expr::parse_signature(k) {
            diags.push(src.diag_key(Diagnostic::error("rules", msg)));
            continue;
        }
        if let Some(f) = formula(k, Vec::new(), text, src.clone(), diags) {
            out.insert(k.clone(), f);
        }
    }
    out
}

/// True when the `extends` chain of `name` reaches a rule set whose file failed to load (its
/// own diagnostics already explain why).
pub fn extends_broken(name: &str, files: &IndexMap<String, SetFile>, broken: &[String]) -> bool {
    let mut stack = vec![name.to_string()];
    let mut seen = 0;
    while let Some(n) = stack.pop() {
        seen += 1;
        if seen > 256 {
            return false;
        }
        let Some(f) = files.get(&n) else { continue };
        for b in f.set.extends.as_ref().map(|e| e.names()).unwrap_or_default() {
            if broken.iter().any(|x| x == b) && !files.contains_key(b) {
                return true;
            }
            stack.push(b.to_string());
        }
    }
    false
}

/// The rule sets `name` is built from, bases first (depth-first, each once), `name` last.
fn linearise<'a>(
    name: &str,
    files: &'a IndexMap<String, SetFile>,
    path: &mut Vec<String>,
    out: &mut Vec<&'a SetFile>,
    diags: &mut Vec<Diagnostic>,
) -> bool {
    let Some(cur) = files.get(name) else { return false };
    if path.iter().any(|p| p == name) {
        let src = Src { file: cur.file.clone(), path: vec!["extends".into()] };
        diags.push(
            src.diag(Diagnostic::error("rules", format!("`extends` forms a cycle: {} → {name}", path.join(" → "))), 0),
        );
        return false;
    }
    if out.iter().any(|f| f.set.name == name) {
        return true;
    }
    path.push(name.to_string());
    for base in cur.set.extends.as_ref().map(|e| e.names()).unwrap_or_default() {
        if !files.contains_key(base) {
            let src = Src { file: cur.file.clone(), path: vec!["extends".into()] };
            diags.push(
                src.diag(Diagnostic::error("rules", format!("`extends` names the unknown rule set `{base}`")), 0)
                    .with_help(did_you_mean(base, files.keys().map(String::as_str))),
            );
            return false;
        }
        if !linearise(base, files, path, out, diags) {
            return false;
        }
    }
    path.pop();
    out.push(cur);
    true
}

/// Resolves one rule set from its file and the files it extends. Diagnostics are pushed for
/// everything that cannot be read.
pub fn resolve(name: &str, files: &IndexMap<String, SetFile>, diags: &mut Vec<Diagnostic>) -> Option<RuleSet> {
    // bases first, this set last
    let mut order: Vec<&SetFile> = Vec::new();
    if !linearise(name, files, &mut Vec::new(), &mut order, diags) {
        return None;
    }
    let mut chain: Vec<&SetFile> = order.into_iter().rev().collect();
    if chain.is_empty() {
        chain.push(files.get(name)?);
    }
    let top = chain[0];
    let root_src = Src { file: top.file.clone(), path: Vec::new() };
    let extends: Vec<String> = chain.iter().skip(1).map(|c| c.set.name.clone()).collect();
    let mut raw = Raw::default();
    for sf in chain.iter().rev() {
        overlay(&mut raw, sf, diags);
    }
    let before = diags.len();

    let mut global = IndexMap::new();
    for (name, (sig, text, src)) in &raw.formulas {
        let params = expr::parse_signature(sig).map(|p| p.1).unwrap_or_default();
        if super::fields::BUILTINS.iter().any(|b| b.0 == name) {
            diags.push(src.diag_key(Diagnostic::error(
                "rules",
                format!("the formula `{name}` shadows the built-in function `{name}`"),
            )));
        }
        if raw.constants.contains_key(name) {
            diags.push(src.diag_key(Diagnostic::error("rules", format!("`{name}` is both a constant and a formula"))));
        }
        if let Some(f) = formula(name, params, text, src.clone(), diags) {
            global.insert(name.clone(), f);
        }
    }
    let shadow = Shadow { formulas: &global, constants: &raw.constants };
    for m in [&raw.feas_lets, &raw.feasibility, &raw.lets, &raw.outputs] {
        shadow.check(m, diags);
    }

    let kv = raw.kv.as_ref().and_then(|(t, s)| formula("kv_cache_bytes_per_token", Vec::new(), t, s.clone(), diags));
    let feas_lets = formulas(&raw.feas_lets, diags);
    let feasibility = formulas(&raw.feasibility, diags);
    for (f, _) in super::fields::FEASIBILITY_FIELDS {
        if !raw.feasibility.is_empty() && !feasibility.contains_key(*f) && !raw.feasibility.contains_key(*f) {
            diags.push(root_src.diag(Diagnostic::error("rules", format!("`llm.feasibility` has no `{f}`")), 0));
        }
    }
    for (k, (_, src)) in &raw.feasibility {
        if !super::fields::FEASIBILITY_FIELDS.iter().any(|(f, _)| f == k) {
            let known: Vec<&str> = super::fields::FEASIBILITY_FIELDS.iter().map(|f| f.0).collect();
            diags.push(
                src.diag_key(Diagnostic::error("rules", format!("unknown feasibility output `{k}`"))).with_help(
                    did_you_mean(k, known.iter().copied()).or(Some(format!("known outputs: {}", known.join(", ")))),
                ),
            );
        }
    }

    let project = if raw.has_project { project_def(&raw, &shadow, &root_src, diags) } else { None };
    let (operations, entries) = record_defs(&raw, &shadow, &root_src, diags);
    if diags.len() > before {
        return None;
    }
    Some(RuleSet {
        name: top.set.name.clone(),
        description: raw.description.clone(),
        extends,
        defaults: raw.defaults.clone(),
        ranges: raw.ranges.clone(),
        choices: raw.choices.clone(),
        constants: raw.constants.clone(),
        formulas: global,
        kv,
        feas_lets,
        feasibility,
        feasibility_src: raw.feasibility_src.clone().unwrap_or_else(|| root_src.clone()),
        project,
        operations,
        entries,
        root_src,
    })
}

/// Names that a `let`, an output or a path scope must not shadow: the global formulas and
/// constants.
struct Shadow<'a> {
    formulas: &'a IndexMap<String, Formula>,
    constants: &'a IndexMap<String, (Constant, Src)>,
}

impl Shadow<'_> {
    fn check(&self, m: &IndexMap<String, (String, Src)>, diags: &mut Vec<Diagnostic>) {
        for (k, (_, src)) in m {
            if self.formulas.contains_key(k) || self.constants.contains_key(k) {
                diags.push(src.diag_key(Diagnostic::error(
                    "rules",
                    format!("`{k}` shadows the formula or constant `{k}`; give it another name"),
                )));
            }
        }
    }
}

/// The projection: entry lets, the declared record, gates and paths with their outputs.
fn project_def(raw: &Raw, shadow: &Shadow<'_>, root_src: &Src, diags: &mut Vec<Diagnostic>) -> Option<ProjectDef> {
    let lets = formulas(&raw.lets, diags);
    let outputs = formulas(&raw.outputs, diags);
    let record = record_fields(raw, diags);
    let known_out: Vec<&str> = super::fields::PROJECTED_FIELDS
        .iter()
        .map(|f| f.0)
        .chain(record.iter().filter(|f| !f.core).map(|f| f.name.as_str()))
        .collect();
    for (k, (_, src)) in &raw.rounding {
        if !known_out.contains(&k.as_str()) {
            diags.push(
                src.diag_key(Diagnostic::error("rules", format!("rounding names the unknown output `{k}`")))
                    .with_help(did_you_mean(k, known_out.iter().copied())),
            );
        }
    }
    let mut gates = Vec::new();
    for (g, src) in &raw.gates {
        let Some(when) = formula(&format!("gate {}", g.name), Vec::new(), &g.when, src.child("when"), diags) else {
            continue;
        };
        let fields: IndexMap<String, (String, Src)> =
            g.fields.iter().map(|(k, v)| (k.clone(), (v.clone(), src.child("fields").child(k.as_str())))).collect();
        gates.push(GateDef {
            name: g.name.clone(),
            when,
            outcome: g.outcome.clone(),
            outcome_src: src.child("outcome"),
            fields: formulas(&fields, diags),
        });
    }
    let mut paths = IndexMap::new();
    for (name, (p, src)) in &raw.paths {
        let when =
            p.when.as_ref().and_then(|w| formula(&format!("{name}.when"), Vec::new(), w, src.child("when"), diags));
        let lookup = p.lookup.as_ref().and_then(|l| lookup_def(l, src.child("lookup"), diags));
        let mut scope_raw: IndexMap<String, (String, Src)> = IndexMap::new();
        for (k, v) in &p.lets {
            scope_raw.insert(k.clone(), (v.clone(), src.child("let").child(k.as_str())));
        }
        for (k, v) in &p.outputs {
            if !known_out.contains(&k.as_str()) {
                diags.push(
                    src.child("outputs")
                        .child(k.as_str())
                        .diag_key(Diagnostic::error("rules", format!("unknown output `{k}`")))
                        .with_help(did_you_mean(k, known_out.iter().copied())),
                );
            }
            scope_raw.insert(k.clone(), (v.clone(), src.child("outputs").child(k.as_str())));
        }
        shadow.check(&scope_raw, diags);
        paths.insert(
            name.clone(),
            PathDef {
                name: name.clone(),
                source: p.source.clone(),
                constants: p.constants,
                description: p.description.clone(),
                when,
                lookup,
                scope: formulas(&scope_raw, diags),
                src: src.clone(),
            },
        );
    }
    if raw.cascade.is_empty() {
        diags.push(root_src.diag(Diagnostic::error("rules", "`llm.project.cascade` is empty: no path can answer"), 0));
    }
    Some(ProjectDef {
        lets,
        gates,
        cascade: raw.cascade.clone(),
        paths,
        outputs,
        rounding: raw.rounding.clone(),
        record,
        bounds: check_defs(&raw.bounds, diags),
    })
}

/// Checks (of an operation, an engine step or the projection's bounds), parsed.
fn check_defs(checks: &[(super::file::Check, Src)], diags: &mut Vec<Diagnostic>) -> Vec<CheckDef> {
    let mut out = Vec::new();
    for (c, csrc) in checks {
        let when = formula("when", Vec::new(), &c.when, csrc.child("when"), diags);
        let message = formula("message", Vec::new(), &c.message, csrc.child("message"), diags);
        if c.kind != "invalid_value" && c.kind != "unknown_key" {
            diags.push(csrc.child("kind").diag(
                Diagnostic::error(
                    "rules",
                    format!("unknown check kind `{}`; expected `invalid_value` or `unknown_key`", c.kind),
                ),
                0,
            ));
        }
        if let (Some(when), Some(message)) = (when, message) {
            out.push(CheckDef { when, kind: c.kind.clone(), message });
        }
    }
    out
}

/// Operations and engine steps, resolved.
fn record_defs(
    raw: &Raw,
    shadow: &Shadow<'_>,
    root_src: &Src,
    diags: &mut Vec<Diagnostic>,
) -> (IndexMap<String, RecordDef>, IndexMap<String, RecordDef>) {
    let mut operations = IndexMap::new();
    let mut entries = IndexMap::new();
    for ((is_op, name), r) in &raw.records {
        let src = r.src.clone().unwrap_or_else(|| root_src.clone());
        let mut args = Vec::new();
        for (a, (t, asrc)) in &r.args {
            let (t, optional) = match t.strip_suffix('?') {
                Some(t) => (t, true),
                None => (t.as_str(), false),
            };
            let ty = match t {
                "string" => super::inputs::Ty::Str,
                "number" => super::inputs::Ty::Num,
                "boolean" => super::inputs::Ty::Bool,
                other => {
                    diags.push(
                        asrc.diag(Diagnostic::error("rules", format!("unknown argument type `{other}`")), 0)
                            .with_help(Some("expected `string`, `number` or `boolean`, with `?` for optional".into())),
                    );
                    continue;
                }
            };
            args.push((a.clone(), ty, optional));
        }
        for u in &r.uses {
            if u != "hw" && u != "model" {
                diags.push(src.diag(
                    Diagnostic::error("rules", format!("unknown namespace `{u}` in `uses`; expected `hw` or `model`")),
                    0,
                ));
            }
        }
        let checks = check_defs(&r.checks, diags);
        shadow.check(&r.lets, diags);
        let def = RecordDef {
            name: name.clone(),
            description: r.description.clone(),
            lets: formulas(&r.lets, diags),
            checks,
            outputs: formulas(&r.outputs, diags),
            rounding: r.rounding.clone(),
            args,
            uses: r.uses.clone(),
            src,
        };
        if *is_op {
            operations.insert(name.clone(), def);
        } else {
            entries.insert(name.clone(), def);
        }
    }
    (operations, entries)
}

fn lookup_def(l: &Lookup, src: Src, diags: &mut Vec<Diagnostic>) -> Option<LookupDef> {
    let Some(kind) = LookupKind::by_name(&l.builtin) else {
        let names: Vec<&str> = LookupKind::ALL.iter().map(|e| e.1).collect();
        diags.push(
            src.child("builtin")
                .diag(Diagnostic::error("rules", format!("unknown lookup `{}`", l.builtin)), 0)
                .with_help(
                    did_you_mean(&l.builtin, names.iter().copied())
                        .or(Some(format!("known lookups: {}", names.join(", ")))),
                ),
        );
        return None;
    };
    let need =
        |what: &str, v: &Option<String>, required: bool, diags: &mut Vec<Diagnostic>| -> Option<Option<Formula>> {
            match (v, required) {
                (Some(t), _) => formula(what, Vec::new(), t, src.child(what), diags).map(Some),
                (None, true) => {
                    diags.push(
                        src.diag(Diagnostic::error("rules", format!("lookup `{}` needs `{what}`", kind.name())), 0),
                    );
                    None
                }
                (None, false) => Some(None),
            }
        };
    let workload = need("workload", &l.workload, kind == LookupKind::MeasuredCell, diags)?;
    let family = need("family", &l.family, kind == LookupKind::FamilySibling, diags)?;
    let skip = need("skip_name", &l.skip_name, kind == LookupKind::FamilySibling, diags)?;
    if l.keys.is_empty() {
        diags.push(src.diag(Diagnostic::error("rules", format!("lookup `{}` needs at least one key", kind.name())), 0));
        return None;
    }
    if l.keys.len() > 4 {
        diags.push(src.diag(Diagnostic::error("rules", "a lookup takes at most four candidate keys"), 0));
        return None;
    }
    let mut keys = Vec::new();
    for (i, k) in l.keys.iter().enumerate() {
        keys.push(formula("key", Vec::new(), k, src.child("keys").child(i), diags)?);
    }
    Some(LookupDef { kind, keys, workload, family, skip, src })
}

//! The sizing model of a pack: profiles (SoCs as blocks), workloads (missions), sliders,
//! demand calculators and KPIs — all data, compiled once into register programs.
//!
//! An evaluation runs every demand calculator over a profile and a workload, then the KPIs of
//! the selected groups over those demands; each KPI's required figure is checked against its
//! budget by the pack's budget rules (reference `evaluate_budget`), and a chip summary counts
//! the verdicts. The reference's built-in KPIs ship as the `reference` pack.

pub mod file;
pub mod formula;
pub mod lanes;

use crate::diagnostic::{Diagnostic, Report, did_you_mean};
use crate::expr;
use crate::expr::vm::Regs;
use crate::rules::model::Src;
use file::{ActionOp, BudgetRules, DemandDef, KpiDef, ProfileFile, Scalar, SliderDef, StudyDef, WorkloadFile};
pub use formula::Describe;
use formula::{
    CompileError, Compiler, DEMAND_FIELDS, Defs, DemandView, Env, EvalError, Frame, Interner, Layout, NamedFormula,
    Program, Scope, Strings, Table, Ty, Val,
};
use indexmap::IndexMap;
use serde_json::{Map, Value, json};

/// A value with the place it was written.
#[derive(Debug, Clone)]
pub struct Entry<T> {
    /// The value.
    pub value: T,
    /// Where.
    pub src: Src,
}

/// Everything a stack of packs says about sizing, merged, before compilation.
#[derive(Debug, Clone, Default)]
pub struct SizingParts {
    /// Constants.
    pub constants: IndexMap<String, Entry<Scalar>>,
    /// Defaults by path.
    pub defaults: IndexMap<String, Entry<Scalar>>,
    /// Tables.
    pub tables: IndexMap<String, Entry<IndexMap<String, Scalar>>>,
    /// Declared demand metrics.
    pub metrics: IndexMap<String, Entry<String>>,
    /// Named formulas by signature.
    pub formulas: IndexMap<String, Entry<String>>,
    /// Budget rules.
    pub budget: Option<Entry<BudgetRules>>,
    /// Demand calculators.
    pub demands: Vec<Entry<DemandDef>>,
    /// KPIs.
    pub kpis: Vec<Entry<KpiDef>>,
    /// Evaluated KPI groups.
    pub evaluate: Option<Entry<Vec<String>>>,
    /// Saved studies.
    pub studies: Vec<Entry<StudyDef>>,
    /// Sliders.
    pub sliders: Vec<Entry<SliderDef>>,
    /// Profiles.
    pub profiles: Vec<Entry<ProfileFile>>,
    /// Workloads.
    pub workloads: Vec<Entry<WorkloadFile>>,
    /// Apply every slider's default before the overrides (reference quirk Q14) instead of
    /// only the overridden sliders.
    pub apply_slider_defaults: bool,
}

/// Name, description and map of a profile or workload.
type NamedDoc = (String, String, Map<String, Value>);

/// A compiled demand calculator.
#[derive(Debug, Clone)]
pub struct Demand {
    /// Definition.
    pub def: DemandDef,
    /// Engine id.
    pub engine: u32,
    /// Outputs: every demand field in order (gate first when `active` is given).
    pub program: Program,
}

/// A compiled KPI.
#[derive(Debug, Clone)]
pub struct Kpi {
    /// Definition.
    pub def: KpiDef,
    /// Engine id of `for_each` (`u32::MAX`: every demand); `None`: evaluated once.
    pub for_each: Option<u32>,
    /// Outputs: required, budget, warn_at_pct, margin, margin_pct, status.
    pub program: Program,
}

/// A compiled slider.
#[derive(Debug, Clone)]
pub struct Slider {
    /// Definition.
    pub def: SliderDef,
    /// Per action: path id and the value program (parameter `value`).
    pub actions: Vec<(ActionOp, u32, Program)>,
}

impl Slider {
    /// Reference `Slider.clamp`: `max(min_val, min(max_val, v))`; the step is not enforced.
    pub fn clamp(&self, v: f64) -> f64 {
        crate::numeric::py_max(self.def.min_val, crate::numeric::py_min(self.def.max_val, v))
    }
}

/// A profile or workload: its document and its values in layout order.
#[derive(Debug, Clone)]
pub struct Doc {
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// The nested map.
    pub json: Value,
    /// `(path id, value)` for every leaf.
    pub leaves: Vec<(u32, Val)>,
}

/// One evaluated KPI, kept compact (texts are rendered on output).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KpiOut {
    /// KPI index.
    pub kpi: u16,
    /// Demand row (per-demand KPIs) or `u16::MAX`.
    pub row: u16,
    /// Required figure.
    pub required: f64,
    /// Budget figure.
    pub budget: f64,
    /// Warn threshold.
    pub warn_at_pct: f64,
    /// Budget − required.
    pub margin: f64,
    /// Margin in percent of the budget.
    pub margin_pct: f64,
    /// Status string id.
    pub status: u32,
}

/// Verdict counts (reference `chip_summary`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// KPIs.
    pub total: u32,
    /// PASS.
    pub pass: u32,
    /// WARN.
    pub warn: u32,
    /// FAIL.
    pub fail: u32,
}

impl Counts {
    /// No failing KPI.
    pub fn viable(&self) -> bool {
        self.fail == 0
    }
}

/// Names and notes of the demand rows of one evaluation (for rendering KPIs).
#[derive(Debug, Clone, Default)]
pub struct RowTexts {
    /// Demand names.
    pub names: Vec<String>,
    /// Demand notes.
    pub notes: Vec<Vec<String>>,
}

/// Reusable buffers for evaluations on one thread.
#[derive(Debug)]
pub struct Scratch<'m> {
    /// Registers of one-off programs.
    pub regs: Regs<1>,
    /// One register file per program of the model.
    pub bank: Vec<Regs<1>>,
    /// Run-time strings.
    pub strings: Strings<'m>,
    /// Demand numbers, row-major.
    pub rows: Vec<f64>,
    /// Demand engines.
    pub engines: Vec<u32>,
    /// Whether each demand row is active.
    pub active: Vec<bool>,
    /// KPI results.
    pub kpis: Vec<KpiOut>,
    /// State vector (what-if).
    pub state: Vec<Val>,
    /// Values of the evaluation's named formulas.
    pub globals: Vec<f64>,
    /// Their errors.
    pub poison: Vec<Option<EvalError>>,
    /// The aggregates of the demand rows (the model's aggregate table).
    pub aggs: Vec<f64>,
    /// `aggs` are those of the current rows (cleared when rows are set).
    pub aggs_fresh: bool,
    /// Phases of globals computed so far in this evaluation (0, 1 or 2).
    pub phase: u8,
}

impl Scratch<'_> {
    /// Starts a new evaluation.
    pub fn reset(&mut self) {
        self.phase = 0;
        self.strings.reset();
    }
}

/// What a sweep re-evaluates per point.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Sliders re-applied per point.
    pub sliders: Vec<bool>,
    /// Named formulas recomputed.
    pub globals: Vec<bool>,
    /// Demand calculators re-run.
    pub demands: Vec<bool>,
    /// KPIs re-evaluated.
    pub kpis: Vec<bool>,
    /// Paths the plan's sliders write (restored from the base before each point).
    pub paths: Vec<u32>,
    /// The named formulas recomputed, by phase (0: before the demands, 1: after).
    pub global_list: [Vec<usize>; 2],
    /// The demand calculators re-run.
    pub demand_list: Vec<usize>,
    /// The aggregates over demand rows whose value may change (the model's table).
    pub agg_list: Vec<usize>,
}

/// The shared part of a sweep's points.
#[derive(Debug, Clone)]
pub struct Base {
    id: u64,
    state: Vec<Val>,
    globals: Vec<f64>,
    poison: Vec<Option<EvalError>>,
    rows: Vec<f64>,
    engines: Vec<u32>,
    active: Vec<bool>,
    kpis: Vec<Vec<KpiOut>>,
    clean_counts: Counts,
}

/// A compiled sizing model.
#[derive(Debug, Clone)]
pub struct SizingModel {
    /// Paths.
    pub layout: Layout,
    /// Strings.
    pub strings: Interner,
    /// Tables.
    pub tables: Vec<Table>,
    /// Demand fields: the five standard ones, then custom metrics.
    pub fields: IndexMap<String, ()>,
    /// Demand calculators.
    pub demands: Vec<Demand>,
    /// KPIs.
    pub kpis: Vec<Kpi>,
    /// KPI indices by group.
    pub groups: IndexMap<String, Vec<usize>>,
    /// Evaluated KPIs in order.
    pub evaluation: Vec<usize>,
    /// Evaluated group names.
    pub evaluate_groups: Vec<String>,
    /// Sliders in catalog order.
    pub sliders: Vec<Slider>,
    /// Profiles.
    pub profiles: Vec<Doc>,
    /// Workloads.
    pub workloads: Vec<Doc>,
    /// Projection settings of workloads that have them.
    pub workload_files: Vec<WorkloadFile>,
    /// Saved studies.
    pub studies: Vec<StudyDef>,
    /// Budget rules program (parameters `required`, `budget`, `warn_at_pct`; outputs margin,
    /// margin_pct, status).
    pub budget_program: Option<Program>,
    /// Budget rules.
    pub budget: Option<BudgetRules>,
    /// Named formulas (for `call`).
    formulas: IndexMap<String, NamedFormula>,
    constants: IndexMap<String, Val>,
    table_defs: IndexMap<String, Table>,
    /// Named formulas computed once per evaluation, by name.
    pub globals: IndexMap<String, formula::GlobalDef>,
    /// Their programs, in dependency order, with their phase (0: before demands, 1: after).
    pub global_programs: Vec<(Program, u8)>,
    /// Number of programs (register banks per scratch).
    pub programs: usize,
    /// Ids of `PASS`, `WARN`, `FAIL`.
    pub status_ids: [u32; 3],
    /// See [`SizingParts::apply_slider_defaults`].
    pub apply_slider_defaults: bool,
    /// The aggregates over demand rows the formulas read (computed once per evaluation).
    pub aggregates: Vec<formula::AggKey>,
}

fn scalar_val(s: &Scalar, strings: &mut Interner) -> Val {
    match s {
        Scalar::Bool(b) => Val::Bool(*b),
        Scalar::Num(x) => Val::Num(*x),
        Scalar::Str(t) => Val::Str(strings.intern(t)),
    }
}

fn val_ty(v: Val) -> Option<Ty> {
    match v {
        Val::Num(_) => Some(Ty::Num),
        Val::Bool(_) => Some(Ty::Bool),
        Val::Str(_) => Some(Ty::Str),
        _ => None,
    }
}

fn parse_formula(text: &str, src: &Src, report: &mut Report) -> Option<expr::Expr> {
    match expr::parse(text) {
        Ok(e) => Some(e),
        Err(e) => {
            report.push(src.diag(Diagnostic::error("formula", e.message), e.at));
            None
        }
    }
}

#[allow(clippy::too_many_arguments)] // a recursive walk threading its context
fn flatten(
    v: &Map<String, Value>,
    prefix: &str,
    layout: &mut Layout,
    strings: &mut Interner,
    src: &Src,
    path: &mut Vec<crate::document::PathSeg>,
    out: &mut Vec<(u32, Val)>,
    report: &mut Report,
) {
    for (k, x) in v {
        let text = format!("{prefix}.{k}");
        path.push(crate::document::PathSeg::Key(k.clone()));
        match x {
            Value::Object(m) => flatten(m, &text, layout, strings, src, path, out, report),
            Value::Null => {}
            Value::Array(_) => {
                let mut s = src.clone();
                s.path.extend(path.iter().cloned());
                report.push(s.diag(
                    Diagnostic::error(
                        "type",
                        format!(
                            "`{text}` is a list; profile and workload values are numbers, strings, booleans or maps"
                        ),
                    ),
                    0,
                ));
            }
            _ => {
                let val = match x {
                    Value::Bool(b) => Val::Bool(*b),
                    Value::Number(n) => Val::Num(n.as_f64().unwrap_or(f64::NAN)),
                    Value::String(t) => Val::Str(strings.intern(t)),
                    _ => Val::Missing,
                };
                match layout.id(&text) {
                    Some(id) => {
                        let info = &mut layout.paths[id as usize];
                        info.provided = true;
                        let ty = val_ty(val);
                        if let (Some(have), Some(got)) = (info.ty, ty) {
                            if have != got {
                                let mut s = src.clone();
                                s.path.extend(path.iter().cloned());
                                report.push(s.diag(
                                    Diagnostic::error(
                                        "type",
                                        format!("`{text}` is {} here but {} elsewhere", ty_name(got), ty_name(have)),
                                    ),
                                    0,
                                ));
                            }
                        } else if info.ty.is_none() {
                            info.ty = ty;
                        }
                        out.push((id, val));
                    }
                    None => {
                        let mut s = src.clone();
                        s.path.extend(path.iter().cloned());
                        report.push(s.diag_key(Diagnostic::error("name", format!("`{k}` is not a valid key"))));
                    }
                }
            }
        }
        path.pop();
    }
}

fn ty_name(t: Ty) -> &'static str {
    match t {
        Ty::Num => "a number",
        Ty::Bool => "a boolean",
        Ty::Str => "a string",
    }
}

/// The diagnostic for a compile error in an expression written at `src` (or in the named
/// formula the error is in).
fn compile_diag(e: CompileError, src: &Src, formulas: &IndexMap<String, (Src, String)>) -> Diagnostic {
    let d = Diagnostic::error("formula", e.message).with_help(e.help);
    match e.site.as_ref().and_then(|f| formulas.get(f)) {
        Some((fsrc, _)) => fsrc.diag(d, e.at),
        None => src.diag(d, e.at),
    }
}

/// Pushes a compile error unless it is inside a named formula the static pass has already
/// reported (one diagnostic per mistake).
fn push_compile(
    report: &mut Report,
    e: CompileError,
    src: &Src,
    formulas: &IndexMap<String, (Src, String)>,
    bad: &std::collections::HashSet<String>,
) {
    if e.site.as_ref().is_some_and(|f| bad.contains(f)) {
        return;
    }
    report.push(compile_diag(e, src, formulas));
}

/// Every named formula, used or not: unknown names and cycles. Returns the names of the
/// formulas with an error.
fn check_formulas(
    formulas: &IndexMap<String, NamedFormula>,
    src: &IndexMap<String, (Src, String)>,
    constants: &IndexMap<String, Val>,
    report: &mut Report,
) -> std::collections::HashSet<String> {
    let mut bad = std::collections::HashSet::new();
    for (name, f) in formulas {
        let mut errs: Vec<Diagnostic> = Vec::new();
        f.expr.walk(&mut |e| match e {
            expr::Expr::Var { name: v, at } => {
                let ok = f.params.contains(v)
                    || constants.contains_key(v)
                    || formulas.get(v).is_some_and(|g| g.params.is_empty())
                    || formula::split_root(v).is_some()
                    || v.starts_with("demand.");
                if !ok && errs.is_empty() {
                    let mut cands: Vec<&str> = f.params.iter().map(String::as_str).collect();
                    cands.extend(constants.keys().map(String::as_str));
                    cands.extend(formulas.keys().map(String::as_str));
                    let d = Diagnostic::error("formula", format!("unknown variable `{v}`"))
                        .with_help(did_you_mean(v, cands));
                    errs.push(src.get(name).map_or(d.clone(), |(s, _)| s.diag(d, *at)));
                }
            }
            expr::Expr::Call { name: c, at, .. }
                if !formula::BUILTINS.contains(&c.as_str()) && !formulas.contains_key(c) && errs.is_empty() =>
            {
                let mut cands: Vec<&str> = formula::BUILTINS.to_vec();
                cands.extend(formulas.keys().map(String::as_str));
                let d =
                    Diagnostic::error("formula", format!("unknown function `{c}`")).with_help(did_you_mean(c, cands));
                errs.push(src.get(name).map_or(d.clone(), |(s, _)| s.diag(d, *at)));
            }
            _ => {}
        });
        if let Some(d) = errs.into_iter().next() {
            report.push(d);
            bad.insert(name.clone());
        }
    }
    // cycles: depth-first over formula references
    let deps = |f: &NamedFormula| {
        let mut out = Vec::new();
        f.expr.walk(&mut |e| match e {
            expr::Expr::Var { name, .. } | expr::Expr::Call { name, .. } if formulas.contains_key(name) => {
                out.push(name.clone())
            }
            _ => {}
        });
        out
    };
    let mut state: std::collections::HashMap<String, u8> = std::collections::HashMap::new();
    fn dfs(
        n: &str,
        formulas: &IndexMap<String, NamedFormula>,
        deps: &dyn Fn(&NamedFormula) -> Vec<String>,
        state: &mut std::collections::HashMap<String, u8>,
        path: &mut Vec<String>,
        found: &mut Vec<Vec<String>>,
    ) {
        match state.get(n) {
            Some(2) => return,
            Some(1) => {
                if let Some(i) = path.iter().position(|p| p == n) {
                    let mut cyc = path[i..].to_vec();
                    cyc.push(n.to_string());
                    found.push(cyc);
                }
                return;
            }
            _ => {}
        }
        state.insert(n.to_string(), 1);
        path.push(n.to_string());
        if let Some(f) = formulas.get(n) {
            for d in deps(f) {
                dfs(&d, formulas, deps, state, path, found);
            }
        }
        path.pop();
        state.insert(n.to_string(), 2);
    }
    let mut found = Vec::new();
    for n in formulas.keys() {
        dfs(n, formulas, &deps, &mut state, &mut Vec::new(), &mut found);
    }
    for cyc in found {
        let first = &cyc[0];
        if cyc.iter().any(|c| bad.contains(c)) {
            continue;
        }
        let d = Diagnostic::error("cycle", format!("formulas form a cycle: {}", cyc.join(" → ")));
        report.push(src.get(first).map_or(d.clone(), |(s, _)| s.diag_key(d)));
        for c in cyc {
            bad.insert(c);
        }
    }
    bad
}

impl SizingModel {
    /// Compiles merged sizing parts. Diagnostics go to `report`; `None` when there are errors.
    pub fn build(parts: &SizingParts, report: &mut Report) -> Option<SizingModel> {
        let before = report.errors();
        let mut strings = Interner::default();
        let status_ids = [strings.intern("PASS"), strings.intern("WARN"), strings.intern("FAIL")];
        let mut layout = Layout::default();

        // documents first: every leaf gets a path id and a type
        let mut docs = |list: &[Entry<NamedDoc>], root: &str, report: &mut Report| {
            let mut out = Vec::new();
            for e in list {
                let (name, description, map) = &e.value;
                let mut leaves = Vec::new();
                flatten(map, root, &mut layout, &mut strings, &e.src, &mut Vec::new(), &mut leaves, report);
                out.push(Doc {
                    name: name.clone(),
                    description: description.clone(),
                    json: Value::Object(map.clone()),
                    leaves,
                });
            }
            out
        };
        let profile_entries: Vec<Entry<NamedDoc>> = parts
            .profiles
            .iter()
            .map(|e| Entry {
                value: (e.value.name.clone(), e.value.description.clone(), e.value.blocks.clone()),
                src: e.src.child("blocks"),
            })
            .collect();
        let workload_entries: Vec<Entry<NamedDoc>> = parts
            .workloads
            .iter()
            .map(|e| Entry {
                value: (e.value.name.clone(), e.value.description.clone(), e.value.values.clone()),
                src: e.src.child("values"),
            })
            .collect();
        let profiles = docs(&profile_entries, "profile", report);
        let workloads = docs(&workload_entries, "workload", report);

        // defaults
        for (path, e) in &parts.defaults {
            let v = scalar_val(&e.value, &mut strings);
            match layout.id(path) {
                Some(id) => {
                    let info = &mut layout.paths[id as usize];
                    if let (Some(have), Some(got)) = (info.ty, val_ty(v)) {
                        if have != got {
                            report.push(e.src.diag(
                                Diagnostic::error(
                                    "type",
                                    format!(
                                        "default of `{path}` is {} but the data has {}",
                                        ty_name(got),
                                        ty_name(have)
                                    ),
                                ),
                                0,
                            ));
                        }
                    }
                    if info.ty.is_none() {
                        info.ty = val_ty(v);
                    }
                    info.default = Some(v);
                    info.provided = true;
                }
                None => report.push(e.src.diag_key(Diagnostic::error(
                    "name",
                    format!("`{path}` is not a path: defaults are keyed by `profile.…` or `workload.…`"),
                ))),
            }
        }

        // constants, tables, formulas
        let mut constants = IndexMap::new();
        for (k, e) in &parts.constants {
            constants.insert(k.clone(), scalar_val(&e.value, &mut strings));
        }
        let mut tables: IndexMap<String, Table> = IndexMap::new();
        for (name, e) in &parts.tables {
            let mut t = Table { name: name.clone(), ..Table::default() };
            for (k, v) in &e.value {
                let v = scalar_val(v, &mut strings);
                let vt = val_ty(v);
                if t.ty.is_some() && t.ty != vt {
                    report.push(
                        e.src
                            .child(k.as_str())
                            .diag(Diagnostic::error("type", format!("table `{name}` mixes value types at `{k}`")), 0),
                    );
                }
                t.ty = t.ty.or(vt);
                let key = strings.intern(k);
                t.entries.insert(key, v);
            }
            tables.insert(name.clone(), t);
        }
        let mut formulas: IndexMap<String, NamedFormula> = IndexMap::new();
        let mut formula_src: IndexMap<String, (Src, String)> = IndexMap::new();
        for (sig, e) in &parts.formulas {
            let (name, params) = match expr::parse_signature(sig) {
                Ok(x) => x,
                Err(m) => {
                    report.push(e.src.diag_key(Diagnostic::error("formula", m)));
                    continue;
                }
            };
            if formula::BUILTINS.contains(&name.as_str()) {
                report.push(e.src.diag_key(Diagnostic::error(
                    "name",
                    format!("`{name}` is a built-in function and cannot name a formula"),
                )));
                continue;
            }
            if let Some(x) = parse_formula(&e.value, &e.src, report) {
                formula_src.insert(name.clone(), (e.src.clone(), e.value.clone()));
                formulas.insert(name, NamedFormula { params, expr: x, text: e.value.clone() });
            }
        }

        let mut bad = check_formulas(&formulas, &formula_src, &constants, report);

        // demand fields: the standard five, then declared metrics
        let mut fields: IndexMap<String, ()> = DEMAND_FIELDS.iter().map(|f| (f.to_string(), ())).collect();
        for (m, e) in &parts.metrics {
            if DEMAND_FIELDS.contains(&m.as_str()) {
                report
                    .push(e.src.diag_key(Diagnostic::error("duplicate", format!("`{m}` is a standard demand field"))));
            }
            fields.insert(m.clone(), ());
        }
        for d in &parts.demands {
            for m in d.value.metrics.keys() {
                if !parts.metrics.contains_key(m) {
                    report.push(
                        d.src
                            .child("metrics")
                            .diag_key_of(
                                m,
                                Diagnostic::error("unknown-reference", format!("undeclared demand metric `{m}`")),
                            )
                            .with_help(
                                did_you_mean(m, parts.metrics.keys().map(String::as_str))
                                    .or_else(|| Some("declare it under `metrics` in `sizing.ron`".to_string())),
                            ),
                    );
                }
            }
        }

        // slider targets become known paths before any formula is compiled
        for s in &parts.sliders {
            for (i, a) in s.value.apply.iter().enumerate() {
                let asrc = s.src.child("apply").child(i).child("path");
                match layout.id(&a.path) {
                    Some(id) => {
                        let prefix = format!("{}.", a.path);
                        if layout.paths.iter().any(|p| p.provided && p.text.starts_with(&prefix)) {
                            report.push(asrc.diag(
                                Diagnostic::error("slider", format!("`{}` is a map in the data, not a value", a.path)),
                                0,
                            ));
                        }
                        let info = &mut layout.paths[id as usize];
                        if a.op == ActionOp::Scale && !info.provided {
                            let known: Vec<String> = layout.provided().map(str::to_string).collect();
                            if !profiles.is_empty() || !workloads.is_empty() {
                                report.push(
                                    asrc.diag(
                                        Diagnostic::error(
                                            "slider",
                                            format!(
                                                "slider `{}` scales `{}`, which no profile or workload has",
                                                s.value.name, a.path
                                            ),
                                        ),
                                        0,
                                    )
                                    .with_help(did_you_mean(&a.path, known.iter().map(String::as_str))),
                                );
                            }
                        }
                        let info = &mut layout.paths[id as usize];
                        if a.op == ActionOp::Set {
                            info.provided = true;
                        }
                        if info.ty.is_none() {
                            info.ty = Some(Ty::Num);
                        }
                    }
                    None => report.push(asrc.diag(
                        Diagnostic::error(
                            "slider",
                            format!("`{}` is not a path: slider actions change `profile.…` or `workload.…`", a.path),
                        ),
                        0,
                    )),
                }
            }
        }

        let field_map = fields.clone();
        let agg_table = std::cell::RefCell::new(Vec::new());
        let defs =
            Defs { constants: &constants, tables: &tables, formulas: &formulas, fields: &field_map, aggs: &agg_table };

        // named formulas without parameters are computed once per evaluation: before the
        // demands (phase 0) when they read only the documents, after them (phase 1) when they
        // aggregate demands; formulas that read `demand.*` stay inline
        let mut globals: IndexMap<String, formula::GlobalDef> = IndexMap::new();
        let mut global_programs: Vec<(Program, u8)> = Vec::new();
        let usage = formula_usage(&formulas);
        for name in topo_order(&formulas) {
            let f = &formulas[&name];
            if !f.params.is_empty() || bad.contains(&name) {
                continue;
            }
            let (agg, row) = usage.get(&name).copied().unwrap_or((false, false));
            if row {
                continue;
            }
            let phase = u8::from(agg);
            let mut c =
                Compiler::new(defs, &mut layout, &mut strings, Scope { params: &[], demand: false, aggregates: agg });
            c.set_globals(&globals);
            let r = c.named_output(&name).map(|ty| (ty, c.take_refs()));
            match r.and_then(|(ty, refs)| c.finish().map(|p| (ty, refs, p))) {
                Ok((ty, refs, program)) => {
                    let slot = global_programs.len() as u16;
                    global_programs.push((program, phase));
                    globals.insert(name.clone(), formula::GlobalDef { slot, ty, refs });
                }
                Err(er) => {
                    let src = formula_src.get(&name).map(|x| x.0.clone());
                    if let Some(src) = src {
                        push_compile(report, er, &src, &formula_src, &bad);
                    }
                    bad.insert(name.clone());
                }
            }
        }

        // demand calculators
        let mut demands = Vec::new();
        let mut demand_names: IndexMap<String, ()> = IndexMap::new();
        for e in &parts.demands {
            let d = &e.value;
            if demand_names.insert(d.name.clone(), ()).is_some() {
                report.push(
                    e.src
                        .child("name")
                        .diag(Diagnostic::error("duplicate", format!("demand `{}` is defined twice", d.name)), 0),
                );
                continue;
            }
            let engine = strings.intern(&d.target_engine);
            let mut c = Compiler::new(defs, &mut layout, &mut strings, Scope::default());
            c.set_globals(&globals);
            let mut ok = true;
            let mut tags: Vec<Src> = Vec::new();
            let mut step = |c: &mut Compiler<'_>, text: Option<&String>, key: &str, gate: bool, report: &mut Report| {
                let src = e.src.child(key);
                c.set_tag(tags.len());
                tags.push(src.clone());
                match text {
                    None => {
                        if !gate {
                            let _ = c.output_const(0.0, Ty::Num);
                        }
                    }
                    Some(t) => {
                        let Some(x) = parse_formula(t, &src, report) else {
                            ok = false;
                            return;
                        };
                        let r = if gate { c.gate(&x) } else { c.output(&x, Ty::Num).map(|_| ()) };
                        if let Err(err) = r {
                            push_compile(report, err, &src, &formula_src, &bad);
                            ok = false;
                        }
                    }
                }
            };
            step(&mut c, d.active.as_ref(), "active", true, report);
            step(&mut c, d.tops_required.as_ref(), "tops_required", false, report);
            step(&mut c, d.cpu_cores_required.as_ref(), "cpu_cores_required", false, report);
            step(&mut c, d.memory_bw_gbps.as_ref(), "memory_bw_gbps", false, report);
            step(&mut c, d.memory_capacity_mb.as_ref(), "memory_capacity_mb", false, report);
            step(&mut c, d.latency_ms_p99.as_ref(), "latency_ms_p99", false, report);
            for m in fields.keys().skip(DEMAND_FIELDS.len()) {
                let text = d.metrics.get(m);
                let src_key = if text.is_some() { "metrics" } else { "name" };
                let src = if text.is_some() { e.src.child(src_key).child(m.as_str()) } else { e.src.child(src_key) };
                c.set_tag(tags.len());
                tags.push(src.clone());
                match text {
                    None => {
                        let _ = c.output_const(0.0, Ty::Num);
                    }
                    Some(t) => {
                        if let Some(x) = parse_formula(t, &src, report) {
                            if let Err(err) = c.output(&x, Ty::Num) {
                                push_compile(report, err, &src, &formula_src, &bad);
                                ok = false;
                            }
                        } else {
                            ok = false;
                        }
                    }
                }
            }
            let refs = c.take_refs();
            // a program with an error is not finished (its jumps may be unpatched)
            let program = match ok.then(|| c.finish()) {
                Some(Ok(p)) => Some(p),
                Some(Err(er)) => {
                    push_compile(report, er, &e.src, &formula_src, &bad);
                    None
                }
                None => None,
            };
            // a demand whose `active` gate reads only data no document has is statically
            // inactive in this pack: its figures are never read
            let gate_reads: Vec<&formula::PathRef> = refs.iter().filter(|r| r.tag == 0).collect();
            let dead = d.active.is_some()
                && !gate_reads.is_empty()
                && gate_reads.iter().all(|r| !layout.paths[r.path as usize].provided);
            if !dead {
                check_paths(&refs, &layout, &tags, &profiles, &workloads, &formula_src, report);
            }
            if let Some(program) = program {
                demands.push(Demand { def: d.clone(), engine, program });
            }
        }

        // budget rules
        let mut budget_program = None;
        let mut budget_exprs = None;
        if let Some(b) = &parts.budget {
            let m = parse_formula(&b.value.margin, &b.src.child("margin"), report);
            let mp = parse_formula(&b.value.margin_pct, &b.src.child("margin_pct"), report);
            let st = parse_formula(&b.value.status, &b.src.child("status"), report);
            if let (Some(m), Some(mp), Some(st)) = (m, mp, st) {
                let params: &[&str] = &["required", "budget", "warn_at_pct"];
                let mut c = Compiler::new(defs, &mut layout, &mut strings, Scope { params, ..Scope::default() });
                let r = (|| -> Result<(), (CompileError, &str)> {
                    let mr = c.value(&m, Ty::Num).map_err(|e| (e, "margin"))?;
                    c.bind("margin", mr, Ty::Num);
                    c.push_output(mr, Ty::Num);
                    let mpr = c.value(&mp, Ty::Num).map_err(|e| (e, "margin_pct"))?;
                    c.bind("margin_pct", mpr, Ty::Num);
                    c.push_output(mpr, Ty::Num);
                    c.output(&st, Ty::Str).map_err(|e| (e, "status"))?;
                    Ok(())
                })();
                match r.and_then(|()| c.finish().map_err(|e| (e, "margin"))) {
                    Ok(p) => {
                        budget_program = Some(p);
                        budget_exprs = Some((m, mp, st));
                    }
                    Err((e, key)) => push_compile(report, e, &b.src.child(key), &formula_src, &bad),
                }
            }
        }

        // KPIs
        let mut kpis = Vec::new();
        let mut groups: IndexMap<String, Vec<usize>> = IndexMap::new();
        let mut kpi_names: IndexMap<String, ()> = IndexMap::new();
        let evaluate_groups: Vec<String> = parts.evaluate.as_ref().map(|e| e.value.clone()).unwrap_or_default();
        for e in &parts.kpis {
            let k = &e.value;
            if kpi_names.insert(k.name.clone(), ()).is_some() {
                report.push(
                    e.src
                        .child("name")
                        .diag(Diagnostic::error("duplicate", format!("KPI `{}` is defined twice", k.name)), 0),
                );
                continue;
            }
            let Some(b) = &parts.budget else {
                report.push(e.src.diag(
                    Diagnostic::error(
                        "missing",
                        "KPIs need budget rules (`budget` in `sizing.ron`); extend the `reference` pack for the reference rules",
                    ),
                    0,
                ));
                break;
            };
            let Some((m, mp, st)) = &budget_exprs else { break };
            // the group exists even when this KPI fails to compile (no follow-on errors)
            groups.entry(k.group.clone()).or_default();
            let for_each = k.for_each.as_ref().map(|f| if f == "*" { u32::MAX } else { strings.intern(f) });
            let scope = Scope { params: &[], demand: for_each.is_some(), aggregates: true };
            let mut c = Compiler::new(defs, &mut layout, &mut strings, scope);
            c.set_globals(&globals);
            let kpi_tags: Vec<Src> = vec![
                e.src.child("when"),
                e.src.child("required"),
                e.src.child("budget"),
                e.src.child("warn_at_pct"),
                b.src.child("margin"),
                b.src.child("margin_pct"),
                b.src.child("status"),
            ];
            let r = compile_kpi(&mut c, k, b.value.warn_at_pct, (m, mp, st)).map_err(|(er, field)| {
                let src = match field {
                    KpiField::Kpi => e.src.clone(),
                    KpiField::Own(key) => e.src.child(key),
                    KpiField::Budget(key) => b.src.child(key),
                };
                (er, src)
            });
            let refs = c.take_refs();
            match r.and_then(|()| c.finish().map_err(|er| (er, e.src.clone()))) {
                Ok(program) => {
                    if evaluate_groups.contains(&k.group) {
                        check_paths(&refs, &layout, &kpi_tags, &profiles, &workloads, &formula_src, report);
                    }
                    groups.entry(k.group.clone()).or_default().push(kpis.len());
                    kpis.push(Kpi { def: k.clone(), for_each, program });
                }
                Err((er, src)) => push_compile(report, er, &src, &formula_src, &bad),
            }
        }

        // evaluation order
        let mut evaluation = Vec::new();
        if let Some(ev) = &parts.evaluate {
            for (i, g) in ev.value.iter().enumerate() {
                match groups.get(g) {
                    Some(list) => evaluation.extend(list.iter().copied()),
                    None => report.push(
                        ev.src
                            .child(i)
                            .diag(Diagnostic::error("unknown-reference", format!("no KPI is in group `{g}`")), 0)
                            .with_help(did_you_mean(g, groups.keys().map(String::as_str))),
                    ),
                }
            }
        }

        // sliders
        let mut sliders = Vec::new();
        let mut slider_names: IndexMap<String, ()> = IndexMap::new();
        for e in &parts.sliders {
            let s = &e.value;
            if slider_names.insert(s.name.clone(), ()).is_some() {
                report.push(
                    e.src
                        .child("name")
                        .diag(Diagnostic::error("duplicate", format!("slider `{}` is defined twice", s.name)), 0),
                );
                continue;
            }
            if !(s.min_val.is_finite() && s.max_val.is_finite() && s.default.is_finite()) || s.min_val > s.max_val {
                report.push(e.src.child("max_val").diag(
                    Diagnostic::error(
                        "range",
                        format!(
                            "slider `{}` needs finite `min_val` ≤ `max_val`, got {} and {}",
                            s.name, s.min_val, s.max_val
                        ),
                    ),
                    0,
                ));
                continue;
            }
            if s.default < s.min_val || s.default > s.max_val {
                report.push(e.src.child("default").diag(
                    Diagnostic::warning(
                        "range",
                        format!(
                            "default `{}` of slider `{}` is outside [{}, {}] and will be clamped",
                            s.default, s.name, s.min_val, s.max_val
                        ),
                    ),
                    0,
                ));
            }
            let mut actions = Vec::new();
            let mut ok = true;
            for (i, a) in s.apply.iter().enumerate() {
                let Some(pid) = layout.find(&a.path) else {
                    ok = false;
                    continue;
                };
                let vsrc = e.src.child("apply").child(i).child("value");
                let text = a.value.clone().unwrap_or_else(|| "value".into());
                let Some(x) = parse_formula(&text, &vsrc, report) else {
                    ok = false;
                    continue;
                };
                let params: &[&str] = &["value"];
                let mut c = Compiler::new(defs, &mut layout, &mut strings, Scope { params, ..Scope::default() });
                let want = if a.op == ActionOp::Scale { Ty::Num } else { layout_ty(&c, pid).unwrap_or(Ty::Num) };
                let r = c.output(&x, want).map(|_| c.take_refs());
                match r.and_then(|refs| c.finish().map(|p| (refs, p))) {
                    Ok((refs, p)) => {
                        check_paths(
                            &refs,
                            &layout,
                            std::slice::from_ref(&vsrc),
                            &profiles,
                            &workloads,
                            &formula_src,
                            report,
                        );
                        actions.push((a.op, pid, p));
                    }
                    Err(er) => {
                        push_compile(report, er, &vsrc, &formula_src, &bad);
                        ok = false;
                    }
                }
            }
            if ok {
                sliders.push(Slider { def: s.clone(), actions });
            }
        }

        // studies
        for e in &parts.studies {
            let st = &e.value;
            let names: Vec<&str> = sliders.iter().map(|s| s.def.name.as_str()).collect();
            let mut want: Vec<(&str, &str)> = Vec::new();
            match (&st.sweep, &st.pareto) {
                (Some(s), None) => want.push((s.as_str(), "sweep")),
                (None, Some((x, y))) => {
                    want.push((x.as_str(), "pareto"));
                    want.push((y.as_str(), "pareto"));
                }
                _ => report.push(e.src.diag(
                    Diagnostic::error(
                        "study",
                        format!("study `{}` needs exactly one of `sweep` and `pareto`", st.name),
                    ),
                    0,
                )),
            }
            for (n, key) in want {
                if !names.contains(&n) {
                    report.push(
                        e.src
                            .child(key)
                            .diag(Diagnostic::error("unknown-reference", format!("unknown slider `{n}`")), 0)
                            .with_help(did_you_mean(n, names.iter().copied())),
                    );
                }
            }
            if st.steps == 0 {
                report.push(e.src.child("steps").diag(
                    Diagnostic::error(
                        "range",
                        format!("study `{}` has 0 steps; a sweep needs at least 2 points", st.name),
                    ),
                    0,
                ));
            }
            if st.steps_y == Some(0) {
                report.push(e.src.child("steps_y").diag(
                    Diagnostic::error(
                        "range",
                        format!("study `{}` has 0 steps in y; a grid needs at least 2 points", st.name),
                    ),
                    0,
                ));
            }
            if !profiles.iter().any(|p| p.name == st.profile) {
                report.push(
                    e.src
                        .child("profile")
                        .diag(Diagnostic::error("unknown-reference", format!("unknown profile `{}`", st.profile)), 0)
                        .with_help(did_you_mean(&st.profile, profiles.iter().map(|p| p.name.as_str()))),
                );
            }
            for k in st.overrides.keys() {
                if !names.contains(&k.as_str()) {
                    report.push(
                        e.src
                            .child("overrides")
                            .diag_key_of(k, Diagnostic::error("unknown-reference", format!("unknown slider `{k}`")))
                            .with_help(did_you_mean(k, names.iter().copied())),
                    );
                }
            }
        }

        if report.errors() > before {
            return None;
        }
        layout.index_children(&mut strings);
        // number the programs: each gets its own register bank in a scratch
        let mut programs = 0u32;
        let mut number = |p: &mut Program| {
            p.id = programs;
            programs += 1;
        };
        for (p, _) in &mut global_programs {
            number(p);
        }
        for d in &mut demands {
            number(&mut d.program);
        }
        for k in &mut kpis {
            number(&mut k.program);
        }
        for sl in &mut sliders {
            for (_, _, p) in &mut sl.actions {
                number(p);
            }
        }
        if let Some(p) = &mut budget_program {
            number(p);
        }
        let programs = programs as usize;
        Some(SizingModel {
            layout,
            strings,
            tables: tables.values().cloned().collect(),
            fields,
            demands,
            kpis,
            groups,
            evaluation,
            evaluate_groups,
            sliders,
            profiles,
            workloads,
            workload_files: parts.workloads.iter().map(|w| w.value.clone()).collect(),
            studies: parts.studies.iter().map(|s| s.value.clone()).collect(),
            budget_program,
            budget: parts.budget.as_ref().map(|b| b.value.clone()),
            formulas,
            constants,
            table_defs: tables,
            globals,
            global_programs,
            programs,
            status_ids,
            apply_slider_defaults: parts.apply_slider_defaults,
            aggregates: agg_table.into_inner(),
        })
    }

    /// A slider by name.
    pub fn slider(&self, name: &str) -> Option<usize> {
        self.sliders.iter().position(|s| s.def.name == name)
    }

    /// A profile by name.
    pub fn profile(&self, name: &str) -> Option<usize> {
        self.profiles.iter().position(|p| p.name == name)
    }

    /// A workload by name.
    pub fn workload(&self, name: &str) -> Option<usize> {
        self.workloads.iter().position(|p| p.name == name)
    }

    /// The state vector of a profile and a workload.
    pub fn base_state(&self, profile: Option<usize>, workload: Option<usize>, out: &mut Vec<Val>) {
        out.clear();
        out.resize(self.layout.len(), Val::Missing);
        for doc in [profile.and_then(|p| self.profiles.get(p)), workload.and_then(|w| self.workloads.get(w))]
            .into_iter()
            .flatten()
        {
            for &(id, v) in &doc.leaves {
                if let Some(slot) = out.get_mut(id as usize) {
                    *slot = v;
                }
            }
        }
    }

    /// Fresh buffers for this model.
    pub fn scratch(&self) -> Scratch<'_> {
        Scratch {
            regs: Regs::new(),
            bank: vec![Regs::new(); self.programs],
            strings: Strings::new(&self.strings),
            rows: Vec::new(),
            engines: Vec::new(),
            active: Vec::new(),
            kpis: Vec::new(),
            state: Vec::new(),
            globals: vec![0.0; self.global_programs.len()],
            poison: vec![None; self.global_programs.len()],
            aggs: Vec::new(),
            aggs_fresh: false,
            phase: 0,
        }
    }

    /// Runs a program in its own register bank of `sc`: constants are loaded on first use
    /// and stay in place, so a run copies nothing.
    #[inline]
    fn exec<E: Env + ?Sized>(
        &self,
        p: &Program,
        env: &E,
        frame: &Frame<'_>,
        sc: &mut Scratch<'_>,
    ) -> Result<bool, EvalError> {
        let id = p.id as usize;
        if sc.bank.len() <= id {
            sc.bank.resize_with(id + 1, Regs::new);
        }
        formula::run(p, env, frame, &mut sc.bank[id], &mut sc.strings)
    }

    #[inline]
    fn out(sc: &Scratch<'_>, p: &Program, i: usize) -> f64 {
        sc.bank.get(p.id as usize).map_or(0.0, |b| p.out(b, i))
    }

    /// Computes the named formulas of `phase` (0: document-only, 1: demand aggregates).
    pub fn run_globals<E: Env + ?Sized>(&self, phase: u8, env: &E, sc: &mut Scratch<'_>) {
        let stride = self.fields.len();
        let mut globals = std::mem::take(&mut sc.globals);
        let mut poison = std::mem::take(&mut sc.poison);
        let rows = std::mem::take(&mut sc.rows);
        let engines = std::mem::take(&mut sc.engines);
        let mut aggs = std::mem::take(&mut sc.aggs);
        if phase == 1 && !sc.aggs_fresh {
            formula::aggregate_values(&self.aggregates, stride, &engines, &rows, &mut aggs);
            sc.aggs_fresh = true;
        }
        globals.resize(self.global_programs.len(), 0.0);
        poison.resize(self.global_programs.len(), None);
        for (g, (p, ph)) in self.global_programs.iter().enumerate() {
            if *ph != phase {
                continue;
            }
            let frame = Frame {
                demands: DemandView { stride, engines: &engines, values: &rows },
                globals: &globals,
                poison: &poison,
                aggs: &aggs,
                ..Frame::bare(&self.layout, &self.tables)
            };
            match self.exec(p, env, &frame, sc) {
                Ok(_) => {
                    globals[g] = Self::out(sc, p, 0);
                    poison[g] = None;
                }
                Err(e) => poison[g] = Some(e),
            }
        }
        sc.rows = rows;
        sc.engines = engines;
        sc.globals = globals;
        sc.poison = poison;
        sc.aggs = aggs;
        sc.phase = phase + 1;
    }

    /// Runs one slider's actions on a state vector with `value` (clamped here).
    pub fn apply_slider(&self, i: usize, value: f64, state: &mut [Val], sc: &mut Scratch<'_>) -> Result<(), EvalError> {
        let Some(s) = self.sliders.get(i) else { return Ok(()) };
        let v = s.clamp(value);
        for (op, pid, prog) in &s.actions {
            let frame = Frame { params: &[v], ..Frame::bare(&self.layout, &self.tables) };
            self.exec(prog, &*state, &frame, sc)?;
            let ty = prog.outputs[0].1;
            act(*op, *pid, ty, Self::out(sc, prog, 0), state)?;
        }
        Ok(())
    }

    /// Runs every demand calculator over `env` into `sc.rows` / `sc.engines`.
    pub fn run_demands<E: Env + ?Sized>(&self, env: &E, sc: &mut Scratch<'_>) -> Result<(), EvalError> {
        if sc.phase == 0 {
            self.run_globals(0, env, sc);
        }
        let stride = self.fields.len();
        sc.rows.clear();
        sc.aggs_fresh = false;
        sc.rows.resize(self.demands.len() * stride, 0.0);
        sc.engines.clear();
        sc.engines.extend(self.demands.iter().map(|d| d.engine));
        sc.active.clear();
        sc.active.resize(self.demands.len(), false);
        let (globals, poison) = (std::mem::take(&mut sc.globals), std::mem::take(&mut sc.poison));
        let mut r = Ok(());
        for (i, d) in self.demands.iter().enumerate() {
            let frame = Frame { globals: &globals, poison: &poison, ..Frame::bare(&self.layout, &self.tables) };
            let active = match self.exec(&d.program, env, &frame, sc) {
                Ok(a) => a,
                Err(e) => {
                    r = Err(e);
                    break;
                }
            };
            sc.active[i] = active;
            for j in 0..stride {
                let x = if active { Self::out(sc, &d.program, j) } else { 0.0 };
                sc.rows[i * stride + j] = x;
            }
        }
        sc.globals = globals;
        sc.poison = poison;
        r
    }

    /// Evaluates KPIs `which` (indices) over the demand rows in `sc` into `sc.kpis`.
    pub fn run_kpis<E: Env + ?Sized>(&self, which: &[usize], env: &E, sc: &mut Scratch<'_>) -> Result<(), EvalError> {
        sc.kpis.clear();
        if sc.phase == 0 {
            self.run_globals(0, env, sc);
        }
        if sc.phase == 1 {
            self.run_globals(1, env, sc);
        }
        let stride = self.fields.len();
        let (globals, poison) = (std::mem::take(&mut sc.globals), std::mem::take(&mut sc.poison));
        let rows = std::mem::take(&mut sc.rows);
        let engines = std::mem::take(&mut sc.engines);
        let mut aggs = std::mem::take(&mut sc.aggs);
        // the rows may have been set since the named formulas ran (loaded demands)
        if !sc.aggs_fresh {
            formula::aggregate_values(&self.aggregates, stride, &engines, &rows, &mut aggs);
            sc.aggs_fresh = true;
        }
        let mut r = Ok(());
        'kpis: for &ki in which {
            let Some(k) = self.kpis.get(ki) else { continue };
            let n = if k.for_each.is_some() { engines.len() } else { 1 };
            for row in 0..n {
                if let Some(engine) = k.for_each {
                    if engine != u32::MAX && engines[row] != engine {
                        continue;
                    }
                }
                let frame = Frame {
                    demands: DemandView { stride, engines: &engines, values: &rows },
                    row,
                    globals: &globals,
                    poison: &poison,
                    aggs: &aggs,
                    ..Frame::bare(&self.layout, &self.tables)
                };
                match self.exec(&k.program, env, &frame, sc) {
                    Ok(true) => {
                        let out = self.kpi_out(ki, k, row, |i| Self::out(sc, &k.program, i));
                        sc.kpis.push(out);
                    }
                    Ok(false) => {}
                    Err(e) => {
                        r = Err(e);
                        break 'kpis;
                    }
                }
            }
        }
        sc.rows = rows;
        sc.engines = engines;
        sc.globals = globals;
        sc.poison = poison;
        sc.aggs = aggs;
        r
    }

    /// A KPI's result from its program's outputs (`out(i)`).
    pub(crate) fn kpi_out(&self, ki: usize, k: &Kpi, row: usize, out: impl Fn(usize) -> f64) -> KpiOut {
        KpiOut {
            kpi: ki as u16,
            row: if k.for_each.is_some() { row as u16 } else { u16::MAX },
            required: out(0),
            budget: out(1),
            warn_at_pct: out(2),
            margin: out(3),
            margin_pct: out(4),
            status: out(5) as u32,
        }
    }

    /// What a change of the paths `dirty` (and the sliders `varying`) invalidates, for
    /// re-evaluating only that part of each sweep point.
    pub fn plan(&self, varying: &[usize], applied: &[bool]) -> Plan {
        let mut dirty_paths: Vec<bool> = vec![false; self.layout.len()];
        let mut dirty_sliders = vec![false; self.sliders.len()];
        for &v in varying {
            dirty_sliders[v] = true;
            for (_, pid, _) in &self.sliders[v].actions {
                dirty_paths[*pid as usize] = true;
            }
        }
        let path_dirty = |p: &Program, dp: &[bool]| -> bool {
            p.reads.iter().any(|r| dp.get(*r as usize).copied().unwrap_or(false))
                || p.dyn_prefixes.iter().any(|pre| {
                    let prefix = format!("{}.", self.layout.paths[*pre as usize].text);
                    self.layout.paths.iter().enumerate().any(|(i, x)| dp[i] && x.text.starts_with(&prefix))
                })
        };
        // sliders whose actions read or write a dirty path are re-applied per point too
        loop {
            let mut changed = false;
            for (i, s) in self.sliders.iter().enumerate() {
                if dirty_sliders[i] || !applied.get(i).copied().unwrap_or(false) {
                    continue;
                }
                let touches =
                    s.actions.iter().any(|(_, pid, p)| dirty_paths[*pid as usize] || path_dirty(p, &dirty_paths));
                if touches {
                    dirty_sliders[i] = true;
                    for (_, pid, _) in &s.actions {
                        dirty_paths[*pid as usize] = true;
                    }
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
        // taint flows through the programs: globals, then demand fields, then aggregates
        let stride = self.fields.len();
        let engines: Vec<u32> = self.demands.iter().map(|d| d.engine).collect();
        let prefix_dirty = |pre: u32| {
            let prefix = format!("{}.", self.layout.paths[pre as usize].text);
            self.layout.paths.iter().enumerate().any(|(i, x)| dirty_paths[i] && x.text.starts_with(&prefix))
        };
        let mut globals = vec![false; self.global_programs.len()];
        let mut fields = vec![false; self.demands.len() * stride];
        let mut demands = vec![false; self.demands.len()];
        for phase in [0u8, 1] {
            if phase == 1 {
                for (i, d) in self.demands.iter().enumerate() {
                    let dirty = formula::Dirty {
                        paths: &dirty_paths,
                        globals: &globals,
                        fields: &[],
                        engines: &engines,
                        stride,
                        prefix_dirty: &prefix_dirty,
                        aggs: &self.aggregates,
                    };
                    let t = d.program.tainted_outputs(&dirty);
                    for j in 0..stride {
                        fields[i * stride + j] = t.get(j).copied().unwrap_or(true);
                    }
                    demands[i] = t.iter().any(|x| *x);
                }
            }
            for (i, (p, ph)) in self.global_programs.iter().enumerate() {
                if *ph != phase {
                    continue;
                }
                let dirty = formula::Dirty {
                    paths: &dirty_paths,
                    globals: &globals,
                    fields: &fields,
                    engines: &engines,
                    stride,
                    prefix_dirty: &prefix_dirty,
                    aggs: &self.aggregates,
                };
                globals[i] = p.tainted_outputs(&dirty).iter().any(|x| *x);
            }
        }
        let dirty = formula::Dirty {
            paths: &dirty_paths,
            globals: &globals,
            fields: &fields,
            engines: &engines,
            stride,
            prefix_dirty: &prefix_dirty,
            aggs: &self.aggregates,
        };
        let kpis = self.kpis.iter().map(|k| k.program.tainted_outputs(&dirty).iter().any(|x| *x)).collect();
        let paths = self
            .sliders
            .iter()
            .enumerate()
            .filter(|(i, _)| dirty_sliders[*i])
            .flat_map(|(_, s)| s.actions.iter().map(|a| a.1))
            .collect();
        let global_list =
            [0u8, 1].map(|ph| (0..globals.len()).filter(|g| globals[*g] && self.global_programs[*g].1 == ph).collect());
        let demand_list = (0..demands.len()).filter(|d| demands[*d]).collect();
        let agg_list = (0..self.aggregates.len()).filter(|a| dirty.agg(*a)).collect();
        Plan { sliders: dirty_sliders, globals, demands, kpis, paths, global_list, demand_list, agg_list }
    }

    /// A base evaluation for incremental points: the state with every slider not in the plan
    /// applied, and one full evaluation of it with the plan's sliders at `values`.
    pub fn base(
        &self,
        start: &[Val],
        plan: &Plan,
        values: &[Option<f64>],
        sc: &mut Scratch<'_>,
    ) -> Result<Base, EvalError> {
        sc.reset();
        let mut state = start.to_vec();
        for (i, v) in values.iter().enumerate() {
            if let (Some(v), false) = (v, plan.sliders[i]) {
                self.apply_slider(i, *v, &mut state, sc)?;
            }
        }
        let base_state = state.clone();
        for (i, v) in values.iter().enumerate() {
            if let (Some(v), true) = (v, plan.sliders[i]) {
                self.apply_slider(i, *v, &mut state, sc)?;
            }
        }
        self.run_demands(&state[..], sc)?;
        self.run_kpis(&self.evaluation, &state[..], sc)?;
        let mut kpis: Vec<Vec<KpiOut>> = vec![Vec::new(); self.kpis.len()];
        for k in &sc.kpis {
            kpis[k.kpi as usize].push(*k);
        }
        let clean: Vec<KpiOut> = sc.kpis.iter().filter(|k| !plan.kpis[k.kpi as usize]).copied().collect();
        let clean_counts = self.counts(&clean);
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        Ok(Base {
            id: NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            state: base_state,
            globals: sc.globals.clone(),
            poison: sc.poison.clone(),
            rows: sc.rows.clone(),
            engines: sc.engines.clone(),
            active: sc.active.clone(),
            kpis,
            clean_counts,
        })
    }

    /// Verdict counts of `kpis`.
    pub fn counts(&self, kpis: &[KpiOut]) -> Counts {
        let mut c = Counts { total: kpis.len() as u32, ..Counts::default() };
        for k in kpis {
            if k.status == self.status_ids[0] {
                c.pass += 1;
            } else if k.status == self.status_ids[1] {
                c.warn += 1;
            } else if k.status == self.status_ids[2] {
                c.fail += 1;
            }
        }
        c
    }

    /// The budget rules over one required/budget pair: `(margin, margin_pct, status)`.
    pub fn evaluate_budget(
        &self,
        required: f64,
        budget: f64,
        warn_at_pct: Option<f64>,
        sc: &mut Scratch<'_>,
    ) -> Result<(f64, f64, String), EvalError> {
        let (Some(p), Some(b)) = (&self.budget_program, &self.budget) else {
            return Err(EvalError::MissingKey("budget rules".into()));
        };
        let params = [required, budget, warn_at_pct.unwrap_or(b.warn_at_pct)];
        let frame = Frame { params: &params, ..Frame::bare(&self.layout, &self.tables) };
        let empty: [Val; 0] = [];
        formula::run(p, &empty[..], &frame, &mut sc.regs, &mut sc.strings)?;
        let g = |i: usize| p.out(&sc.regs, i);
        let status = sc.strings.text(g(2) as u32).to_string();
        Ok((g(0), g(1), status))
    }

    /// Calls a named formula with arguments over `env`.
    /// String arguments are ids in `strings` (the model's own strings when `None`).
    pub fn call<E: Env + ?Sized>(
        &self,
        name: &str,
        args: &[Val],
        env: &E,
        strings: Option<&Interner>,
    ) -> Result<Val, String> {
        let f = self.formulas.get(name).ok_or_else(|| {
            format!(
                "unknown formula `{name}`{}",
                did_you_mean(name, self.formulas.keys().map(String::as_str))
                    .map(|h| format!("; {h}"))
                    .unwrap_or_default()
            )
        })?;
        if f.params.len() != args.len() {
            return Err(format!("formula `{name}` takes {} argument(s), got {}", f.params.len(), args.len()));
        }
        let (mut layout, mut strings, fields, aggs) = self.recompile(strings);
        let mut regs_vals = Vec::new();
        let params: Vec<&str> = f.params.iter().map(String::as_str).collect();
        let defs = self.defs(&fields, &aggs);
        // arguments are interned into the compiled strings so the program sees stable ids
        for a in args {
            regs_vals.push(match a {
                Val::Num(x) => (*x, Ty::Num),
                Val::Bool(b) => (if *b { 1.0 } else { 0.0 }, Ty::Bool),
                Val::Str(i) => (f64::from(*i), Ty::Str),
                _ => (0.0, Ty::Num),
            });
        }
        let mut c =
            Compiler::new(defs, &mut layout, &mut strings, Scope { params: &[], demand: false, aggregates: false });
        let mut regs = Vec::new();
        for (p, (_, ty)) in params.iter().zip(&regs_vals) {
            let r = c.param_reg(regs.len() as u16).map_err(|e| e.message)?;
            c.bind(p, r, *ty);
            regs.push(r);
        }
        let out_ty = c.infer_output(&f.expr).map_err(|e| e.message)?;
        let program = c.finish().map_err(|e| e.message)?;
        let values: Vec<f64> = regs_vals.iter().map(|(x, _)| *x).collect();
        let frame = Frame { params: &values, ..Frame::bare(&layout, &self.tables) };
        let mut sregs = Regs::new();
        let mut s = Strings::new(&strings);
        formula::run(&program, env, &frame, &mut sregs, &mut s).map_err(|e| e.message(&layout))?;
        let x = program.out(&sregs, 0);
        Ok(match out_ty {
            Ty::Num => Val::Num(x),
            Ty::Bool => Val::Bool(x != 0.0),
            Ty::Str => Val::Str(x as u32),
        })
    }

    /// Renders one KPI result in the reference's field order.
    pub fn kpi_json(&self, k: &KpiOut, rows: &RowTexts, strings: &Strings<'_>) -> Value {
        let Some(def) = self.kpis.get(k.kpi as usize).map(|x| &x.def) else { return Value::Null };
        let row = (k.row != u16::MAX).then_some(k.row as usize);
        let name_of = |t: &str| match row.and_then(|r| rows.names.get(r)) {
            Some(n) => t.replace("{demand.name}", n),
            None => t.to_string(),
        };
        let mut notes: Vec<Value> = def.notes.iter().map(|n| Value::String(n.clone())).collect();
        if def.demand_notes {
            if let Some(ns) = row.and_then(|r| rows.notes.get(r)) {
                notes.extend(ns.iter().map(|n| Value::String(n.clone())));
            }
        }
        let status = strings.text(k.status).to_string();
        let emoji = self
            .budget
            .as_ref()
            .map(|b| b.emoji.get(&status).cloned().unwrap_or_else(|| b.other_emoji.clone()))
            .unwrap_or_default();
        json!({
            "name": name_of(&def.name),
            "scope": def.scope,
            "target": name_of(&def.target),
            "metric": def.metric,
            "required": num(k.required),
            "budget": num(k.budget),
            "units": def.units,
            "status": status,
            "margin": num(k.margin),
            "margin_pct": num(k.margin_pct),
            "notes": notes,
            "emoji": emoji,
        })
    }

    /// Reference `chip_summary` over rendered KPI objects.
    pub fn summary_json(kpis: &[Value]) -> Value {
        let count = |s: &str| kpis.iter().filter(|k| k.get("status").and_then(Value::as_str) == Some(s)).count();
        let (pass, warn, fail) = (count("PASS"), count("WARN"), count("FAIL"));
        let failures: Vec<Value> = kpis
            .iter()
            .filter(|k| k.get("status").and_then(Value::as_str) == Some("FAIL"))
            .map(|k| {
                let margin = k.get("margin").and_then(Value::as_f64).unwrap_or(0.0);
                json!({
                    "name": k.get("name").cloned().unwrap_or(Value::Null),
                    "metric": k.get("metric").cloned().unwrap_or(Value::Null),
                    "overage": num(-margin),
                    "units": k.get("units").cloned().unwrap_or(Value::Null),
                })
            })
            .collect();
        json!({
            "total": kpis.len(),
            "pass": pass,
            "warn": warn,
            "fail": fail,
            "viable": fail == 0,
            "failures": failures,
        })
    }

    /// The demand rows in `sc` as reference `SubsystemDemand` objects.
    pub fn demands_json(&self, sc: &Scratch<'_>, texts: &RowTexts) -> Vec<Value> {
        let stride = self.fields.len();
        (0..sc.engines.len())
            .map(|i| {
                let mut m = Map::new();
                m.insert("name".into(), Value::String(texts.names.get(i).cloned().unwrap_or_default()));
                m.insert("target_engine".into(), Value::String(sc.strings.text(sc.engines[i]).to_string()));
                for (j, f) in self.fields.keys().enumerate().take(DEMAND_FIELDS.len()) {
                    m.insert(f.clone(), num(sc.rows.get(i * stride + j).copied().unwrap_or(0.0)));
                }
                let notes = texts.notes.get(i).cloned().unwrap_or_default();
                m.insert("notes".into(), Value::Array(notes.into_iter().map(Value::String).collect()));
                if stride > DEMAND_FIELDS.len() {
                    let mut metrics = Map::new();
                    for (j, f) in self.fields.keys().enumerate().skip(DEMAND_FIELDS.len()) {
                        metrics.insert(f.clone(), num(sc.rows.get(i * stride + j).copied().unwrap_or(0.0)));
                    }
                    m.insert("metrics".into(), Value::Object(metrics));
                }
                Value::Object(m)
            })
            .collect()
    }

    /// Names and notes of this model's demand calculators after `run_demands`.
    pub fn demand_texts(&self, sc: &Scratch<'_>) -> RowTexts {
        RowTexts {
            names: self.demands.iter().map(|d| d.def.name.clone()).collect(),
            notes: self
                .demands
                .iter()
                .zip(&sc.active)
                .map(|(d, &a)| if a { d.def.notes.clone() } else { Vec::new() })
                .collect(),
        }
    }

    /// Loads demand rows from reference `SubsystemDemand` objects.
    pub fn load_demands(&self, list: &[Value], sc: &mut Scratch<'_>) -> Result<RowTexts, String> {
        let stride = self.fields.len();
        sc.aggs_fresh = false;
        sc.rows.clear();
        sc.engines.clear();
        sc.active.clear();
        let mut texts = RowTexts::default();
        for (i, d) in list.iter().enumerate() {
            let Some(m) = d.as_object() else { return Err(format!("demand {i} is not an object")) };
            let name = m.get("name").and_then(Value::as_str).ok_or_else(|| format!("demand {i} has no `name`"))?;
            let engine = m
                .get("target_engine")
                .and_then(Value::as_str)
                .ok_or_else(|| format!("demand `{name}` has no `target_engine`"))?;
            texts.names.push(name.to_string());
            texts.notes.push(
                m.get("notes")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(|n| n.as_str().map(str::to_string)).collect())
                    .unwrap_or_default(),
            );
            sc.engines.push(sc.strings.id(engine));
            sc.active.push(true);
            let metrics = m.get("metrics").and_then(Value::as_object);
            for f in self.fields.keys().take(stride) {
                let v = m.get(f).or_else(|| metrics.and_then(|x| x.get(f)));
                let x = match v {
                    None | Some(Value::Null) => 0.0,
                    Some(Value::Number(n)) => n.as_f64().unwrap_or(0.0),
                    Some(other) => return Err(format!("demand `{name}`: `{f}` must be a number, got `{other}`")),
                };
                sc.rows.push(x);
            }
        }
        Ok(texts)
    }
}

/// A KPI result and what its formulas computed, in evaluation order (an explanation).
#[derive(Debug, Clone)]
pub struct KpiTrace {
    /// The result.
    pub out: KpiOut,
    /// The names the traced program records.
    pub names: Vec<crate::expr::code::TraceName>,
    /// What its run recorded.
    pub trace: crate::expr::Trace,
}

impl SizingModel {
    /// Copies of what compiling another program over this model changes: its paths, strings
    /// (`strings` instead of the model's own when given), demand fields and aggregate table.
    #[allow(clippy::type_complexity)]
    fn recompile(
        &self,
        strings: Option<&Interner>,
    ) -> (Layout, Interner, IndexMap<String, ()>, std::cell::RefCell<Vec<formula::AggKey>>) {
        (
            self.layout.clone(),
            strings.cloned().unwrap_or_else(|| self.strings.clone()),
            self.fields.clone(),
            std::cell::RefCell::new(self.aggregates.clone()),
        )
    }

    /// The model's definitions over copies of its fields and aggregate table.
    fn defs<'a>(
        &'a self,
        fields: &'a IndexMap<String, ()>,
        aggs: &'a std::cell::RefCell<Vec<formula::AggKey>>,
    ) -> Defs<'a> {
        Defs { constants: &self.constants, tables: &self.table_defs, formulas: &self.formulas, fields, aggs }
    }

    /// The pack's constants (their values are what an explanation substitutes for them).
    pub fn constant_values(&self) -> impl Iterator<Item = (&str, Val)> {
        self.constants.iter().map(|(k, v)| (k.as_str(), *v))
    }

    /// Every KPI an evaluation (`sc`, as [`SizingModel::run_kpis`] left it, over `sc.state`)
    /// produced, run again by a traced program: its named formulas inline, each with its
    /// arguments and value, and every path it reads. Without budget rules there are none.
    pub fn explain(&self, sc: &Scratch<'_>) -> Result<Vec<KpiTrace>, String> {
        let Some(b) = &self.budget else { return Ok(Vec::new()) };
        let parse = |t: &str| expr::parse(t).map_err(|e| e.message);
        let (m, mp, st) = (parse(&b.margin)?, parse(&b.margin_pct)?, parse(&b.status)?);
        let (mut layout, mut strings, fields, aggs) = self.recompile(None);
        let defs = self.defs(&fields, &aggs);
        let stride = self.fields.len();
        // one traced program per KPI (a per-demand KPI's rows share it)
        let mut programs: std::collections::HashMap<u16, Program> = std::collections::HashMap::new();
        let mut out = Vec::new();
        for k in &sc.kpis {
            let Some(kpi) = self.kpis.get(k.kpi as usize) else { continue };
            let program = match programs.entry(k.kpi) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(e) => {
                    let scope = Scope { params: &[], demand: kpi.for_each.is_some(), aggregates: true };
                    let mut c = Compiler::new(defs, &mut layout, &mut strings, scope);
                    c.set_traced();
                    compile_kpi(&mut c, &kpi.def, b.warn_at_pct, (&m, &mp, &st)).map_err(|(e, _)| e.message)?;
                    e.insert(c.finish().map_err(|e| e.message)?)
                }
            };
            let frame = Frame {
                demands: DemandView { stride, engines: &sc.engines, values: &sc.rows },
                row: if k.row == u16::MAX { 0 } else { k.row as usize },
                globals: &sc.globals,
                poison: &sc.poison,
                aggs: &sc.aggs,
                ..Frame::bare(&layout, &self.tables)
            };
            let mut regs = Regs::new();
            let mut run_strings = Strings::new(&strings);
            let mut trace = crate::expr::Trace::default();
            formula::run_traced(program, &sc.state[..], &frame, &mut regs, &mut run_strings, &mut trace)
                .map_err(|e| e.message(&layout))?;
            out.push(KpiTrace { out: *k, names: program.core().trace_names.clone(), trace });
        }
        Ok(out)
    }
}

/// A slider action on a state vector: `Set` the path to `x` (of type `ty`), or `Scale` the
/// number there by `x`.
pub(crate) fn act(op: ActionOp, pid: u32, ty: Ty, x: f64, state: &mut [Val]) -> Result<(), EvalError> {
    let Some(slot) = state.get_mut(pid as usize) else { return Err(EvalError::Missing(pid)) };
    match op {
        ActionOp::Set => {
            *slot = match ty {
                Ty::Num => Val::Num(x),
                Ty::Bool => Val::Bool(x != 0.0),
                Ty::Str => Val::Str(x as u32),
            }
        }
        ActionOp::Scale => match *slot {
            Val::Num(old) => *slot = Val::Num(old * x),
            Val::Missing => return Err(EvalError::Missing(pid)),
            _ => return Err(EvalError::Type(pid, Ty::Num)),
        },
    }
    Ok(())
}

/// Where in a KPI (or its budget rules) a compile error is.
enum KpiField {
    /// The KPI as a whole.
    Kpi,
    /// One of its own fields (`when`, `required`, `budget`, `warn_at_pct`).
    Own(&'static str),
    /// One of the budget rules (`margin`, `margin_pct`, `status`).
    Budget(&'static str),
}

/// Compiles a KPI's program: its `when` gate, its required figure, budget and warning
/// threshold (outputs 0–2), then the budget rules over them — margin, margin % and status
/// (outputs 3–5). Path references are tagged 0–6 in that order.
fn compile_kpi(
    c: &mut Compiler<'_>,
    k: &KpiDef,
    default_warn: f64,
    (m, mp, st): (&expr::Expr, &expr::Expr, &expr::Expr),
) -> Result<(), (CompileError, KpiField)> {
    let parse = |text: &str, key: &'static str| -> Result<expr::Expr, (CompileError, KpiField)> {
        expr::parse(text)
            .map_err(|pe| (CompileError { message: pe.message, help: None, at: pe.at, site: None }, KpiField::Own(key)))
    };
    let own = |key: &'static str| move |er: CompileError| (er, KpiField::Own(key));
    let budget = |key: &'static str| move |er: CompileError| (er, KpiField::Budget(key));
    c.set_tag(0);
    if let Some(w) = &k.when {
        let x = parse(w, "when")?;
        c.gate(&x).map_err(own("when"))?;
    }
    c.set_tag(1);
    let req = parse(&k.required, "required")?;
    let rr = c.value(&req, Ty::Num).map_err(own("required"))?;
    c.set_tag(2);
    let bud = parse(&k.budget, "budget")?;
    let br = c.value(&bud, Ty::Num).map_err(own("budget"))?;
    c.set_tag(3);
    let wr = match &k.warn_at_pct {
        Some(w) => {
            let x = parse(w, "warn_at_pct")?;
            c.value(&x, Ty::Num).map_err(own("warn_at_pct"))?
        }
        None => c.constant(default_warn).map_err(|er| (er, KpiField::Kpi))?,
    };
    c.push_output(rr, Ty::Num);
    c.push_output(br, Ty::Num);
    c.push_output(wr, Ty::Num);
    c.bind("required", rr, Ty::Num);
    c.bind("budget", br, Ty::Num);
    match k.warn_at_pct {
        // the default threshold folds into the status rule
        None => c.bind_const("warn_at_pct", default_warn, Ty::Num),
        Some(_) => c.bind("warn_at_pct", wr, Ty::Num),
    }
    c.set_tag(4);
    let mr = c.value(m, Ty::Num).map_err(budget("margin"))?;
    c.bind("margin", mr, Ty::Num);
    c.push_output(mr, Ty::Num);
    c.set_tag(5);
    let mpr = c.value(mp, Ty::Num).map_err(budget("margin_pct"))?;
    c.bind("margin_pct", mpr, Ty::Num);
    c.push_output(mpr, Ty::Num);
    c.set_tag(6);
    c.output(st, Ty::Str).map_err(budget("status"))?;
    Ok(())
}

/// A JSON number (integral values stay floats in text as in the reference's float fields).
pub fn num(x: f64) -> Value {
    serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)
}

fn layout_ty(c: &Compiler<'_>, pid: u32) -> Option<Ty> {
    c.layout().paths.get(pid as usize).and_then(|p| p.ty)
}

/// Paths a formula reads without a default must be provided by some profile, workload,
/// default or slider (once the pack has such documents).
fn check_paths(
    refs: &[formula::PathRef],
    layout: &Layout,
    tags: &[Src],
    profiles: &[Doc],
    workloads: &[Doc],
    formulas: &IndexMap<String, (Src, String)>,
    report: &mut Report,
) {
    let guarded: std::collections::HashSet<u32> = refs.iter().filter(|r| r.guarded).map(|r| r.path).collect();
    let mut seen = std::collections::HashSet::new();
    for r in refs {
        let Some(info) = layout.paths.get(r.path as usize) else { continue };
        if guarded.contains(&r.path) || info.provided || !seen.insert(r.path) {
            continue;
        }
        // only once the pack has documents of that kind with values
        let has_docs = match info.root {
            formula::Root::Profile => profiles.iter().any(|d| !d.leaves.is_empty()),
            formula::Root::Workload => workloads.iter().any(|d| !d.leaves.is_empty()),
        };
        if !has_docs {
            continue;
        }
        let d = Diagnostic::error(
            "unknown-reference",
            format!("`{}` is not in any {} and has no default", info.text, info.root.name()),
        )
        .with_help(Compiler::suggest_path(layout, &info.text));
        let d = match r.formula.as_ref().and_then(|f| formulas.get(f)) {
            Some((fsrc, _)) => fsrc.diag(d, r.at),
            None => match tags.get(r.tag) {
                Some(src) => src.diag(d, r.at),
                None => d,
            },
        };
        report.push(d);
    }
}

/// Reference `_set_path`: walks `path`, creating missing maps, and sets the last key.
pub fn set_path(d: &mut Value, path: &str, v: Value) -> Result<(), String> {
    let mut cur = d;
    let segs: Vec<&str> = path.split('.').collect();
    let Some((last, init)) = segs.split_last() else { return Ok(()) };
    for s in init {
        let Some(m) = cur.as_object_mut() else { return Err(format!("`{s}`: not a map")) };
        cur = m.entry((*s).to_string()).or_insert_with(|| Value::Object(Map::new()));
    }
    let Some(m) = cur.as_object_mut() else { return Err(format!("`{last}`: not a map")) };
    m.insert((*last).to_string(), v);
    Ok(())
}

/// Reference `_scale_path`: walks `path` (a missing key is a `KeyError`) and multiplies the
/// last value.
pub fn scale_path(d: &mut Value, path: &str, f: f64) -> Result<(), (&'static str, String)> {
    let mut cur = d;
    for s in path.split('.') {
        cur = match cur.as_object_mut().and_then(|m| m.get_mut(s)) {
            Some(x) => x,
            None => return Err(("KeyError", format!("'{s}'"))),
        };
    }
    match cur.as_f64() {
        Some(x) => {
            *cur = num(x * f);
            Ok(())
        }
        None => Err(("TypeError", format!("`{path}` is not a number"))),
    }
}

/// Per named formula: does it (transitively) aggregate demands, and does it read the current
/// demand row?
fn formula_usage(formulas: &IndexMap<String, NamedFormula>) -> std::collections::HashMap<String, (bool, bool)> {
    fn visit(
        n: &str,
        formulas: &IndexMap<String, NamedFormula>,
        memo: &mut std::collections::HashMap<String, (bool, bool)>,
        stack: &mut Vec<String>,
    ) -> (bool, bool) {
        if let Some(u) = memo.get(n) {
            return *u;
        }
        if stack.iter().any(|s| s == n) {
            return (false, false);
        }
        let Some(f) = formulas.get(n) else { return (false, false) };
        stack.push(n.to_string());
        let mut u = (false, false);
        let mut calls = Vec::new();
        f.expr.walk(&mut |e| match e {
            expr::Expr::Call { name, .. }
                if matches!(name.as_str(), "sum_demands" | "max_demands" | "count_demands") =>
            {
                u.0 = true
            }
            expr::Expr::Var { name, .. } if name.starts_with("demand.") => u.1 = true,
            expr::Expr::Var { name, .. } | expr::Expr::Call { name, .. } if formulas.contains_key(name) => {
                calls.push(name.clone())
            }
            _ => {}
        });
        for c in calls {
            let (a, b) = visit(&c, formulas, memo, stack);
            u.0 |= a;
            u.1 |= b;
        }
        stack.pop();
        memo.insert(n.to_string(), u);
        u
    }
    let mut memo = std::collections::HashMap::new();
    for n in formulas.keys() {
        visit(n, formulas, &mut memo, &mut Vec::new());
    }
    memo
}

/// Named formulas with their dependencies first.
fn topo_order(formulas: &IndexMap<String, NamedFormula>) -> Vec<String> {
    fn visit(
        n: &str,
        formulas: &IndexMap<String, NamedFormula>,
        seen: &mut std::collections::HashSet<String>,
        out: &mut Vec<String>,
    ) {
        if !seen.insert(n.to_string()) {
            return;
        }
        if let Some(f) = formulas.get(n) {
            let mut deps = Vec::new();
            f.expr.walk(&mut |e| match e {
                expr::Expr::Var { name, .. } | expr::Expr::Call { name, .. } if formulas.contains_key(name) => {
                    deps.push(name.clone())
                }
                _ => {}
            });
            for d in deps {
                visit(&d, formulas, seen, out);
            }
        }
        out.push(n.to_string());
    }
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for n in formulas.keys() {
        visit(n, formulas, &mut seen, &mut out);
    }
    out
}

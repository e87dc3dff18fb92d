//! Compiling a pack's merged sizing parts into a [`SizingModel`], in phases: the documents
//! first (every leaf a path id and a type), then defaults, constants, tables and named
//! formulas, the demand fields and slider targets, and only then the programs — named
//! formulas computed once per evaluation, demand calculators, budget rules, KPIs and slider
//! actions — and the saved studies' references. Every phase reports what it finds to one
//! [`Report`], in this order, and the model exists only when none of them found an error.

use super::file::{ActionOp, DemandDef, KpiDef, Scalar, SliderDef};
use super::formula::{
    AggKey, BUILTINS, CompileError, Compiler, DEMAND_FIELDS, Defs, GlobalDef, Interner, Layout, NamedFormula, PathRef,
    Program, Root, Scope, Table, Ty, Val,
};
use super::named::{check_formulas, formula_usage, topo_order};
use super::{Demand, Doc, Entry, Kpi, SizingModel, SizingParts, Slider};
use crate::diagnostic::{Diagnostic, Report, did_you_mean};
use crate::expr;
use crate::rules::model::Src;
use indexmap::IndexMap;
use serde_json::{Map, Value};
use std::cell::RefCell;
use std::collections::HashSet;

/// Name, description and map of a profile or workload.
type NamedDoc = (String, String, Map<String, Value>);

/// What formulas may name once the pack's definitions are read: the build's own copy of
/// what [`Defs`] borrows, kept apart from the layout and strings every compiler mutates.
#[derive(Default)]
struct Names {
    /// Constants.
    constants: IndexMap<String, Val>,
    /// Tables by name.
    tables: IndexMap<String, Table>,
    /// Named formulas.
    formulas: IndexMap<String, NamedFormula>,
    /// Demand fields: the five standard ones, then declared metrics.
    fields: IndexMap<String, ()>,
    /// The aggregates over demand rows the compiled formulas read.
    aggs: RefCell<Vec<AggKey>>,
}

impl Names {
    /// The definitions every compiler of the model reads.
    fn defs(&self) -> Defs<'_> {
        Defs {
            constants: &self.constants,
            tables: &self.tables,
            formulas: &self.formulas,
            fields: &self.fields,
            aggs: &self.aggs,
        }
    }
}

/// What [`SizingModel::build`] accumulates, phase by phase, until the model is finished.
struct Builder<'a> {
    /// The merged parts being compiled.
    parts: &'a SizingParts,
    /// Where every phase's diagnostics go, in the order the phases find them.
    report: &'a mut Report,
    /// The model's strings (`PASS`, `WARN`, `FAIL` first).
    strings: Interner,
    /// Every path the documents, defaults, slider targets and formulas name.
    layout: Layout,
    /// Ids of `PASS`, `WARN`, `FAIL`.
    status_ids: [u32; 3],
    /// Profiles.
    profiles: Vec<Doc>,
    /// Workloads.
    workloads: Vec<Doc>,
    /// Constants, tables, named formulas, demand fields and aggregates.
    names: Names,
    /// Where each named formula is written, and its text.
    formula_src: IndexMap<String, (Src, String)>,
    /// Named formulas with an error already reported (no follow-on errors).
    bad: HashSet<String>,
    /// Named formulas computed once per evaluation, by name.
    globals: IndexMap<String, GlobalDef>,
    /// Their programs, in dependency order, with their phase.
    global_programs: Vec<(Program, u8)>,
    /// Demand calculators.
    demands: Vec<Demand>,
    /// The budget rules' program.
    budget_program: Option<Program>,
    /// The budget rules' margin, margin % and status expressions (inlined into every KPI).
    budget_exprs: Option<(expr::Expr, expr::Expr, expr::Expr)>,
    /// KPIs.
    kpis: Vec<Kpi>,
    /// KPI indices by group.
    groups: IndexMap<String, Vec<usize>>,
    /// Evaluated group names.
    evaluate_groups: Vec<String>,
    /// Evaluated KPIs in order.
    evaluation: Vec<usize>,
    /// Sliders.
    sliders: Vec<Slider>,
}

impl SizingModel {
    /// Compiles merged sizing parts. Diagnostics go to `report`; `None` when there are errors.
    pub fn build(parts: &SizingParts, report: &mut Report) -> Option<SizingModel> {
        let before = report.errors();
        let mut b = Builder::new(parts, report);
        b.read_documents();
        b.read_defaults();
        b.read_constants_and_tables();
        b.read_formulas();
        b.declare_fields();
        b.declare_slider_targets();
        b.compile_globals();
        b.compile_demands();
        b.compile_budget();
        b.compile_kpis();
        b.order_evaluation();
        b.compile_sliders();
        b.check_studies();
        if b.report.errors() > before {
            return None;
        }
        Some(b.finish())
    }
}

impl<'a> Builder<'a> {
    /// An empty build whose strings start with the verdicts, so their ids are fixed.
    fn new(parts: &'a SizingParts, report: &'a mut Report) -> Self {
        let mut strings = Interner::default();
        let status_ids = [strings.intern("PASS"), strings.intern("WARN"), strings.intern("FAIL")];
        Builder {
            parts,
            report,
            strings,
            layout: Layout::default(),
            status_ids,
            profiles: Vec::new(),
            workloads: Vec::new(),
            names: Names::default(),
            formula_src: IndexMap::new(),
            bad: HashSet::new(),
            globals: IndexMap::new(),
            global_programs: Vec::new(),
            demands: Vec::new(),
            budget_program: None,
            budget_exprs: None,
            kpis: Vec::new(),
            groups: IndexMap::new(),
            evaluate_groups: Vec::new(),
            evaluation: Vec::new(),
            sliders: Vec::new(),
        }
    }

    /// Profiles, then workloads, flattened into the layout first: every leaf gets a path id
    /// and a type that defaults, slider targets and formulas are then checked against.
    fn read_documents(&mut self) {
        let parts = self.parts;
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
        self.profiles = self.documents(&profile_entries, "profile");
        self.workloads = self.documents(&workload_entries, "workload");
    }

    /// The documents of one kind (`root`), each with its leaves in the layout.
    fn documents(&mut self, list: &[Entry<NamedDoc>], root: &str) -> Vec<Doc> {
        let mut out = Vec::new();
        for e in list {
            let (name, description, map) = &e.value;
            let mut leaves = Vec::new();
            flatten(map, root, &mut self.layout, &mut self.strings, &e.src, &mut Vec::new(), &mut leaves, self.report);
            out.push(Doc {
                name: name.clone(),
                description: description.clone(),
                json: Value::Object(map.clone()),
                leaves,
            });
        }
        out
    }

    /// The pack's defaults: each must be a path, of the type the data has; it makes the path
    /// provided (formulas may read it without a guard).
    fn read_defaults(&mut self) {
        let parts = self.parts;
        for (path, e) in &parts.defaults {
            let v = scalar_val(&e.value, &mut self.strings);
            match self.layout.id(path) {
                Some(id) => {
                    let info = &mut self.layout.paths[id as usize];
                    if let (Some(have), Some(got)) = (info.ty, val_ty(v)) {
                        if have != got {
                            self.report.push(e.src.diag(
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
                None => self.report.push(e.src.diag_key(Diagnostic::error(
                    "name",
                    format!("`{path}` is not a path: defaults are keyed by `profile.…` or `workload.…`"),
                ))),
            }
        }
    }

    /// Constants, then tables (whose values must share one type), as formulas will read them.
    fn read_constants_and_tables(&mut self) {
        let parts = self.parts;
        for (k, e) in &parts.constants {
            self.names.constants.insert(k.clone(), scalar_val(&e.value, &mut self.strings));
        }
        for (name, e) in &parts.tables {
            let mut t = Table { name: name.clone(), ..Table::default() };
            for (k, v) in &e.value {
                let v = scalar_val(v, &mut self.strings);
                let vt = val_ty(v);
                if t.ty.is_some() && t.ty != vt {
                    self.report.push(
                        e.src
                            .child(k.as_str())
                            .diag(Diagnostic::error("type", format!("table `{name}` mixes value types at `{k}`")), 0),
                    );
                }
                t.ty = t.ty.or(vt);
                let key = self.strings.intern(k);
                t.entries.insert(key, v);
            }
            self.names.tables.insert(name.clone(), t);
        }
    }

    /// Named formulas parsed from their signatures and texts, then checked as a whole
    /// (unknown names, cycles) so that compiling them later reports nothing twice.
    fn read_formulas(&mut self) {
        let parts = self.parts;
        for (sig, e) in &parts.formulas {
            let (name, params) = match expr::parse_signature(sig) {
                Ok(x) => x,
                Err(m) => {
                    self.report.push(e.src.diag_key(Diagnostic::error("formula", m)));
                    continue;
                }
            };
            if BUILTINS.contains(&name.as_str()) {
                self.report.push(e.src.diag_key(Diagnostic::error(
                    "name",
                    format!("`{name}` is a built-in function and cannot name a formula"),
                )));
                continue;
            }
            if let Some(x) = parse_formula(&e.value, &e.src, self.report) {
                self.formula_src.insert(name.clone(), (e.src.clone(), e.value.clone()));
                self.names.formulas.insert(name, NamedFormula { params, expr: x, text: e.value.clone() });
            }
        }
        self.bad = check_formulas(&self.names.formulas, &self.formula_src, &self.names.constants, self.report);
    }

    /// Demand fields: the standard five, then the declared metrics (every demand row has them
    /// all); a demand may only set declared metrics.
    fn declare_fields(&mut self) {
        let parts = self.parts;
        self.names.fields = DEMAND_FIELDS.iter().map(|f| (f.to_string(), ())).collect();
        for (m, e) in &parts.metrics {
            if DEMAND_FIELDS.contains(&m.as_str()) {
                self.report
                    .push(e.src.diag_key(Diagnostic::error("duplicate", format!("`{m}` is a standard demand field"))));
            }
            self.names.fields.insert(m.clone(), ());
        }
        for d in &parts.demands {
            for m in d.value.metrics.keys() {
                if !parts.metrics.contains_key(m) {
                    self.report.push(
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
    }

    /// Slider targets become known paths before any formula is compiled: a `Set` provides
    /// its path, a `Scale` needs data to scale.
    fn declare_slider_targets(&mut self) {
        let parts = self.parts;
        for s in &parts.sliders {
            for (i, a) in s.value.apply.iter().enumerate() {
                let asrc = s.src.child("apply").child(i).child("path");
                match self.layout.id(&a.path) {
                    Some(id) => {
                        let prefix = format!("{}.", a.path);
                        if self.layout.paths.iter().any(|p| p.provided && p.text.starts_with(&prefix)) {
                            self.report.push(asrc.diag(
                                Diagnostic::error("slider", format!("`{}` is a map in the data, not a value", a.path)),
                                0,
                            ));
                        }
                        let info = &mut self.layout.paths[id as usize];
                        if a.op == ActionOp::Scale && !info.provided {
                            let known: Vec<String> = self.layout.provided().map(str::to_string).collect();
                            if !self.profiles.is_empty() || !self.workloads.is_empty() {
                                self.report.push(
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
                        let info = &mut self.layout.paths[id as usize];
                        if a.op == ActionOp::Set {
                            info.provided = true;
                        }
                        if info.ty.is_none() {
                            info.ty = Some(Ty::Num);
                        }
                    }
                    None => self.report.push(asrc.diag(
                        Diagnostic::error(
                            "slider",
                            format!("`{}` is not a path: slider actions change `profile.…` or `workload.…`", a.path),
                        ),
                        0,
                    )),
                }
            }
        }
    }

    /// Named formulas without parameters are computed once per evaluation: before the
    /// demands (phase 0) when they read only the documents, after them (phase 1) when they
    /// aggregate demands; formulas that read `demand.*` stay inline.
    fn compile_globals(&mut self) {
        let usage = formula_usage(&self.names.formulas);
        for name in topo_order(&self.names.formulas) {
            let f = &self.names.formulas[&name];
            if !f.params.is_empty() || self.bad.contains(&name) {
                continue;
            }
            let (agg, row) = usage.get(&name).copied().unwrap_or((false, false));
            if row {
                continue;
            }
            let phase = u8::from(agg);
            let scope = Scope { params: &[], demand: false, aggregates: agg };
            let mut c = Compiler::new(self.names.defs(), &mut self.layout, &mut self.strings, scope);
            c.set_globals(&self.globals);
            let r = c.named_output(&name).map(|ty| (ty, c.take_refs()));
            match r.and_then(|(ty, refs)| c.finish().map(|p| (ty, refs, p))) {
                Ok((ty, refs, program)) => {
                    let slot = self.global_programs.len() as u16;
                    self.global_programs.push((program, phase));
                    self.globals.insert(name.clone(), GlobalDef { slot, ty, refs });
                }
                Err(er) => {
                    let src = self.formula_src.get(&name).map(|x| x.0.clone());
                    if let Some(src) = src {
                        push_compile(self.report, er, &src, &self.formula_src, &self.bad);
                    }
                    self.bad.insert(name.clone());
                }
            }
        }
    }

    /// Demand calculators in pack order; a name defined twice keeps its first definition.
    fn compile_demands(&mut self) {
        let parts = self.parts;
        let mut demand_names: IndexMap<String, ()> = IndexMap::new();
        for e in &parts.demands {
            let d = &e.value;
            if demand_names.insert(d.name.clone(), ()).is_some() {
                self.report.push(
                    e.src
                        .child("name")
                        .diag(Diagnostic::error("duplicate", format!("demand `{}` is defined twice", d.name)), 0),
                );
                continue;
            }
            if let Some(demand) = self.compile_demand(e) {
                self.demands.push(demand);
            }
        }
    }

    /// One demand calculator's program: its `active` gate, the five standard fields, then
    /// every declared metric (0 where the demand leaves one out), so all rows share a stride.
    fn compile_demand(&mut self, e: &Entry<DemandDef>) -> Option<Demand> {
        let d = &e.value;
        let engine = self.strings.intern(&d.target_engine);
        let (formula_src, bad) = (&self.formula_src, &self.bad);
        let mut c = Compiler::new(self.names.defs(), &mut self.layout, &mut self.strings, Scope::default());
        c.set_globals(&self.globals);
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
                        push_compile(report, err, &src, formula_src, bad);
                        ok = false;
                    }
                }
            }
        };
        step(&mut c, d.active.as_ref(), "active", true, self.report);
        step(&mut c, d.tops_required.as_ref(), "tops_required", false, self.report);
        step(&mut c, d.cpu_cores_required.as_ref(), "cpu_cores_required", false, self.report);
        step(&mut c, d.memory_bw_gbps.as_ref(), "memory_bw_gbps", false, self.report);
        step(&mut c, d.memory_capacity_mb.as_ref(), "memory_capacity_mb", false, self.report);
        step(&mut c, d.latency_ms_p99.as_ref(), "latency_ms_p99", false, self.report);
        for m in self.names.fields.keys().skip(DEMAND_FIELDS.len()) {
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
                    if let Some(x) = parse_formula(t, &src, self.report) {
                        if let Err(err) = c.output(&x, Ty::Num) {
                            push_compile(self.report, err, &src, formula_src, bad);
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
                push_compile(self.report, er, &e.src, formula_src, bad);
                None
            }
            None => None,
        };
        // a demand whose `active` gate reads only data no document has is statically
        // inactive in this pack: its figures are never read
        let gate_reads: Vec<&PathRef> = refs.iter().filter(|r| r.tag == 0).collect();
        let dead = d.active.is_some()
            && !gate_reads.is_empty()
            && gate_reads.iter().all(|r| !self.layout.paths[r.path as usize].provided);
        if !dead {
            self.check_paths(&refs, &tags);
        }
        program.map(|program| Demand { def: d.clone(), engine, program })
    }

    /// The budget rules: one program over the parameters `required`, `budget` and
    /// `warn_at_pct`, and the expressions every KPI inlines.
    fn compile_budget(&mut self) {
        let parts = self.parts;
        let Some(b) = &parts.budget else { return };
        let m = parse_formula(&b.value.margin, &b.src.child("margin"), self.report);
        let mp = parse_formula(&b.value.margin_pct, &b.src.child("margin_pct"), self.report);
        let st = parse_formula(&b.value.status, &b.src.child("status"), self.report);
        let (Some(m), Some(mp), Some(st)) = (m, mp, st) else { return };
        let params: &[&str] = &["required", "budget", "warn_at_pct"];
        let scope = Scope { params, ..Scope::default() };
        let mut c = Compiler::new(self.names.defs(), &mut self.layout, &mut self.strings, scope);
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
                self.budget_program = Some(p);
                self.budget_exprs = Some((m, mp, st));
            }
            Err((e, key)) => push_compile(self.report, e, &b.src.child(key), &self.formula_src, &self.bad),
        }
    }

    /// KPIs, each with the budget rules inlined ([`compile_kpi`]) and filed under its group;
    /// their paths are checked only in the groups the pack evaluates.
    fn compile_kpis(&mut self) {
        let parts = self.parts;
        let mut kpi_names: IndexMap<String, ()> = IndexMap::new();
        self.evaluate_groups = parts.evaluate.as_ref().map(|e| e.value.clone()).unwrap_or_default();
        for e in &parts.kpis {
            let k = &e.value;
            if kpi_names.insert(k.name.clone(), ()).is_some() {
                self.report.push(
                    e.src
                        .child("name")
                        .diag(Diagnostic::error("duplicate", format!("KPI `{}` is defined twice", k.name)), 0),
                );
                continue;
            }
            let Some(b) = &parts.budget else {
                self.report.push(e.src.diag(
                    Diagnostic::error(
                        "missing",
                        "KPIs need budget rules (`budget` in `sizing.ron`); extend the `reference` pack for the reference rules",
                    ),
                    0,
                ));
                break;
            };
            let Some((m, mp, st)) = &self.budget_exprs else { break };
            // the group exists even when this KPI fails to compile (no follow-on errors)
            self.groups.entry(k.group.clone()).or_default();
            let for_each = k.for_each.as_ref().map(|f| if f == "*" { u32::MAX } else { self.strings.intern(f) });
            let scope = Scope { params: &[], demand: for_each.is_some(), aggregates: true };
            let mut c = Compiler::new(self.names.defs(), &mut self.layout, &mut self.strings, scope);
            c.set_globals(&self.globals);
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
                    if self.evaluate_groups.contains(&k.group) {
                        self.check_paths(&refs, &kpi_tags);
                    }
                    self.groups.entry(k.group.clone()).or_default().push(self.kpis.len());
                    self.kpis.push(Kpi { def: k.clone(), for_each, program });
                }
                Err((er, src)) => push_compile(self.report, er, &src, &self.formula_src, &self.bad),
            }
        }
    }

    /// The evaluation order: the KPIs of each evaluated group, groups in the order given.
    fn order_evaluation(&mut self) {
        let parts = self.parts;
        let Some(ev) = &parts.evaluate else { return };
        for (i, g) in ev.value.iter().enumerate() {
            match self.groups.get(g) {
                Some(list) => self.evaluation.extend(list.iter().copied()),
                None => self.report.push(
                    ev.src
                        .child(i)
                        .diag(Diagnostic::error("unknown-reference", format!("no KPI is in group `{g}`")), 0)
                        .with_help(did_you_mean(g, self.groups.keys().map(String::as_str))),
                ),
            }
        }
    }

    /// Sliders in catalog order: a name defined twice or a range that is not one is an
    /// error, a default outside the range a warning (it is clamped).
    fn compile_sliders(&mut self) {
        let parts = self.parts;
        let mut slider_names: IndexMap<String, ()> = IndexMap::new();
        for e in &parts.sliders {
            let s = &e.value;
            if slider_names.insert(s.name.clone(), ()).is_some() {
                self.report.push(
                    e.src
                        .child("name")
                        .diag(Diagnostic::error("duplicate", format!("slider `{}` is defined twice", s.name)), 0),
                );
                continue;
            }
            if !(s.min_val.is_finite() && s.max_val.is_finite() && s.default.is_finite()) || s.min_val > s.max_val {
                self.report.push(e.src.child("max_val").diag(
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
                self.report.push(e.src.child("default").diag(
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
            if let Some(actions) = self.slider_actions(e) {
                self.sliders.push(Slider { def: s.clone(), actions });
            }
        }
    }

    /// A slider's actions, each a program of its `value` parameter writing one path; `None`
    /// when any action fails (the slider is left out).
    fn slider_actions(&mut self, e: &Entry<SliderDef>) -> Option<Vec<(ActionOp, u32, Program)>> {
        let mut actions = Vec::new();
        let mut ok = true;
        for (i, a) in e.value.apply.iter().enumerate() {
            let Some(pid) = self.layout.find(&a.path) else {
                ok = false;
                continue;
            };
            let vsrc = e.src.child("apply").child(i).child("value");
            let text = a.value.clone().unwrap_or_else(|| "value".into());
            let Some(x) = parse_formula(&text, &vsrc, self.report) else {
                ok = false;
                continue;
            };
            let params: &[&str] = &["value"];
            let scope = Scope { params, ..Scope::default() };
            let mut c = Compiler::new(self.names.defs(), &mut self.layout, &mut self.strings, scope);
            let want = if a.op == ActionOp::Scale { Ty::Num } else { layout_ty(&c, pid).unwrap_or(Ty::Num) };
            let r = c.output(&x, want).map(|_| c.take_refs());
            match r.and_then(|refs| c.finish().map(|p| (refs, p))) {
                Ok((refs, p)) => {
                    self.check_paths(&refs, std::slice::from_ref(&vsrc));
                    actions.push((a.op, pid, p));
                }
                Err(er) => {
                    push_compile(self.report, er, &vsrc, &self.formula_src, &self.bad);
                    ok = false;
                }
            }
        }
        ok.then_some(actions)
    }

    /// Saved studies: exactly one of a sweep and a Pareto pair, known sliders and profile,
    /// and at least one step on each axis.
    fn check_studies(&mut self) {
        let parts = self.parts;
        for e in &parts.studies {
            let st = &e.value;
            let names: Vec<&str> = self.sliders.iter().map(|s| s.def.name.as_str()).collect();
            let mut want: Vec<(&str, &str)> = Vec::new();
            match (&st.sweep, &st.pareto) {
                (Some(s), None) => want.push((s.as_str(), "sweep")),
                (None, Some((x, y))) => {
                    want.push((x.as_str(), "pareto"));
                    want.push((y.as_str(), "pareto"));
                }
                _ => self.report.push(e.src.diag(
                    Diagnostic::error(
                        "study",
                        format!("study `{}` needs exactly one of `sweep` and `pareto`", st.name),
                    ),
                    0,
                )),
            }
            for (n, key) in want {
                if !names.contains(&n) {
                    self.report.push(
                        e.src
                            .child(key)
                            .diag(Diagnostic::error("unknown-reference", format!("unknown slider `{n}`")), 0)
                            .with_help(did_you_mean(n, names.iter().copied())),
                    );
                }
            }
            if st.steps == 0 {
                self.report.push(e.src.child("steps").diag(
                    Diagnostic::error(
                        "range",
                        format!("study `{}` has 0 steps; a sweep needs at least 2 points", st.name),
                    ),
                    0,
                ));
            }
            if st.steps_y == Some(0) {
                self.report.push(e.src.child("steps_y").diag(
                    Diagnostic::error(
                        "range",
                        format!("study `{}` has 0 steps in y; a grid needs at least 2 points", st.name),
                    ),
                    0,
                ));
            }
            if !self.profiles.iter().any(|p| p.name == st.profile) {
                self.report.push(
                    e.src
                        .child("profile")
                        .diag(Diagnostic::error("unknown-reference", format!("unknown profile `{}`", st.profile)), 0)
                        .with_help(did_you_mean(&st.profile, self.profiles.iter().map(|p| p.name.as_str()))),
                );
            }
            for k in st.overrides.keys() {
                if !names.contains(&k.as_str()) {
                    self.report.push(
                        e.src
                            .child("overrides")
                            .diag_key_of(k, Diagnostic::error("unknown-reference", format!("unknown slider `{k}`")))
                            .with_help(did_you_mean(k, names.iter().copied())),
                    );
                }
            }
        }
    }

    /// The model, once no phase found an error: paths indexed for keyed reads, and every
    /// program numbered, so each gets its own register bank in a scratch.
    fn finish(mut self) -> SizingModel {
        self.layout.index_children(&mut self.strings);
        let mut programs = 0u32;
        let mut number = |p: &mut Program| {
            p.id = programs;
            programs += 1;
        };
        for (p, _) in &mut self.global_programs {
            number(p);
        }
        for d in &mut self.demands {
            number(&mut d.program);
        }
        for k in &mut self.kpis {
            number(&mut k.program);
        }
        for sl in &mut self.sliders {
            for (_, _, p) in &mut sl.actions {
                number(p);
            }
        }
        if let Some(p) = &mut self.budget_program {
            number(p);
        }
        let programs = programs as usize;
        let parts = self.parts;
        let names = self.names;
        SizingModel {
            layout: self.layout,
            strings: self.strings,
            tables: names.tables.values().cloned().collect(),
            fields: names.fields,
            demands: self.demands,
            kpis: self.kpis,
            groups: self.groups,
            evaluation: self.evaluation,
            evaluate_groups: self.evaluate_groups,
            sliders: self.sliders,
            profiles: self.profiles,
            workloads: self.workloads,
            workload_files: parts.workloads.iter().map(|w| w.value.clone()).collect(),
            studies: parts.studies.iter().map(|s| s.value.clone()).collect(),
            budget_program: self.budget_program,
            budget: parts.budget.as_ref().map(|b| b.value.clone()),
            formulas: names.formulas,
            constants: names.constants,
            table_defs: names.tables,
            globals: self.globals,
            global_programs: self.global_programs,
            programs,
            status_ids: self.status_ids,
            apply_slider_defaults: parts.apply_slider_defaults,
            aggregates: names.aggs.into_inner(),
        }
    }

    /// Paths a formula reads without a default must be provided by some profile, workload,
    /// default or slider (once the pack has such documents); `tags` are where each
    /// reference's expression is written.
    fn check_paths(&mut self, refs: &[PathRef], tags: &[Src]) {
        let guarded: HashSet<u32> = refs.iter().filter(|r| r.guarded).map(|r| r.path).collect();
        let mut seen = HashSet::new();
        for r in refs {
            let Some(info) = self.layout.paths.get(r.path as usize) else { continue };
            if guarded.contains(&r.path) || info.provided || !seen.insert(r.path) {
                continue;
            }
            // only once the pack has documents of that kind with values
            let has_docs = match info.root {
                Root::Profile => self.profiles.iter().any(|d| !d.leaves.is_empty()),
                Root::Workload => self.workloads.iter().any(|d| !d.leaves.is_empty()),
            };
            if !has_docs {
                continue;
            }
            let d = Diagnostic::error(
                "unknown-reference",
                format!("`{}` is not in any {} and has no default", info.text, info.root.name()),
            )
            .with_help(Compiler::suggest_path(&self.layout, &info.text));
            let d = match r.formula.as_ref().and_then(|f| self.formula_src.get(f)) {
                Some((fsrc, _)) => fsrc.diag(d, r.at),
                None => match tags.get(r.tag) {
                    Some(src) => src.diag(d, r.at),
                    None => d,
                },
            };
            self.report.push(d);
        }
    }
}

/// A pack scalar as a value (strings interned).
fn scalar_val(s: &Scalar, strings: &mut Interner) -> Val {
    match s {
        Scalar::Bool(b) => Val::Bool(*b),
        Scalar::Num(x) => Val::Num(*x),
        Scalar::Str(t) => Val::Str(strings.intern(t)),
    }
}

/// The type of a value (`None`: missing or a map).
fn val_ty(v: Val) -> Option<Ty> {
    match v {
        Val::Num(_) => Some(Ty::Num),
        Val::Bool(_) => Some(Ty::Bool),
        Val::Str(_) => Some(Ty::Str),
        _ => None,
    }
}

/// Parses one expression, reporting a syntax error at `src`.
fn parse_formula(text: &str, src: &Src, report: &mut Report) -> Option<expr::Expr> {
    match expr::parse(text) {
        Ok(e) => Some(e),
        Err(e) => {
            report.push(src.diag(Diagnostic::error("formula", e.message), e.at));
            None
        }
    }
}

/// Gives every leaf of a document map a path id under `prefix` (its type checked against
/// the other documents') and collects `(path id, value)` into `out`.
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

/// `a number`, `a boolean` or `a string`.
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

/// Where in a KPI (or its budget rules) a compile error is.
pub(super) enum KpiField {
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
pub(super) fn compile_kpi(
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

/// The type the layout knows for path `pid` so far.
fn layout_ty(c: &Compiler<'_>, pid: u32) -> Option<Ty> {
    c.layout().paths.get(pid as usize).and_then(|p| p.ty)
}

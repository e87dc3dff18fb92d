//! The sizing model of a pack: profiles (SoCs as blocks), workloads (missions), sliders,
//! demand calculators and KPIs — all data, compiled once into register programs.
//!
//! An evaluation runs every demand calculator over a profile and a workload, then the KPIs of
//! the selected groups over those demands; each KPI's required figure is checked against its
//! budget by the pack's budget rules (reference `evaluate_budget`), and a chip summary counts
//! the verdicts. The reference's built-in KPIs ship as the `reference` pack.
//!
//! This file holds the model's types; compiling it is `build.rs` (its named formulas taken as
//! a whole in `named.rs`), evaluating it `eval.rs`, incremental sweeps `sweep.rs` and
//! `lanes.rs`, on-demand programs (calls, explanations) `explain.rs`, and the reference's JSON
//! shapes `json.rs`. The formula dialect is `formula.rs`, over `value.rs`, `layout.rs`,
//! `aggregate.rs` and `host.rs`.

mod aggregate;
mod build;
mod eval;
mod explain;
pub mod file;
pub mod formula;
mod host;
mod json;
pub mod lanes;
mod layout;
mod named;
mod sweep;
mod value;

use crate::expr::vm::Regs;
use crate::rules::model::Src;
pub(crate) use eval::act;
pub use explain::KpiTrace;
use file::{ActionOp, BudgetRules, DemandDef, KpiDef, ProfileFile, Scalar, SliderDef, StudyDef, WorkloadFile};
pub use formula::Describe;
use formula::{EvalError, Interner, Layout, NamedFormula, Program, Strings, Table, Val};
use indexmap::IndexMap;
pub use json::{num, scale_path, set_path};
use serde_json::Value;

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

impl SizingModel {
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
}

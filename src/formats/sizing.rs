//! File formats of a pack's sizing data: `sizing.ron` (constants, defaults, tables, named
//! formulas, budget rules, demand calculators, KPIs), `sliders.ron`, `profiles/*.ron` and
//! `workloads/*.ron`. Every formula is an evalexpr expression string.

use crate::formats::workload::WorkloadPattern;
use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A constant, default or table value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Scalar {
    /// A boolean.
    Bool(bool),
    /// A number.
    Num(f64),
    /// A string.
    Str(String),
}

/// `sizing.ron`: how a surface turns a profile and a workload into demands and KPIs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SizingFile {
    /// File format version (1).
    pub schema_version: u32,
    /// What this sizing model covers.
    #[serde(default)]
    pub description: String,
    /// Named constants formulas may use.
    #[serde(default)]
    pub constants: IndexMap<String, Scalar>,
    /// Values used when a profile or workload lacks them, by dotted path
    /// (`"profile.npu.efficiency_factor": 0.55`).
    #[serde(default)]
    pub defaults: IndexMap<String, Scalar>,
    /// Lookup tables: name → key → value (`lookup("name", key, default)`).
    #[serde(default)]
    pub tables: IndexMap<String, IndexMap<String, Scalar>>,
    /// Demand metrics beyond the five standard fields, with what they measure
    /// (`"mpix_per_sec": "encoded pixel rate, Mpix/s"`).
    #[serde(default)]
    pub metrics: IndexMap<String, String>,
    /// Named formulas; a key may declare parameters: `"eff_tops(precision)"`.
    #[serde(default)]
    pub formulas: IndexMap<String, String>,
    /// How a required-vs-budget pair becomes a verdict.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<BudgetRules>,
    /// Demand calculators, in evaluation order.
    #[serde(default)]
    pub demands: Vec<DemandDef>,
    /// KPIs.
    #[serde(default)]
    pub kpis: Vec<KpiDef>,
    /// KPI groups evaluated by the what-if runner, in order (the last pack to set it wins).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evaluate: Option<Vec<String>>,
    /// Saved what-if studies (sweeps and pareto grids).
    #[serde(default)]
    pub studies: Vec<StudyDef>,
}

/// The verdict rules shared by every KPI (reference `evaluate_budget`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BudgetRules {
    /// Default warn threshold in percent of the budget.
    pub warn_at_pct: f64,
    /// `margin` from `required` and `budget`.
    pub margin: String,
    /// `margin_pct` from `margin`, `required`, `budget`.
    pub margin_pct: String,
    /// The status string (`PASS`, `WARN`, `FAIL`) from `required`, `budget`, `warn_at_pct`,
    /// `margin`, `margin_pct`.
    pub status: String,
    /// Display symbol per status.
    #[serde(default)]
    pub emoji: IndexMap<String, String>,
    /// Symbol for any other status.
    #[serde(default = "dot")]
    pub other_emoji: String,
}

fn dot() -> String {
    "·".into()
}

/// One demand calculator: what one subsystem asks of a target engine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DemandDef {
    /// Demand name (`llm`, `perception`).
    pub name: String,
    /// Engine it runs on (`npu`, `cpu`, `gpu`, `vpu`, `isp`, `dsp`, …).
    pub target_engine: String,
    /// What it models.
    #[serde(default)]
    pub description: String,
    /// When false, every figure is 0 and notes are empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<String>,
    /// TOPS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tops_required: Option<String>,
    /// CPU cores.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_cores_required: Option<String>,
    /// Memory bandwidth, GB/s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_bw_gbps: Option<String>,
    /// Resident memory, MB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_capacity_mb: Option<String>,
    /// p99 latency on the target engine, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms_p99: Option<String>,
    /// Further figures by name (`mpix_per_sec`, `dsp_mcycles`), summed by KPIs with
    /// `sum_demands("name", "engine")`.
    #[serde(default)]
    pub metrics: IndexMap<String, String>,
    /// Notes carried on the demand (and on per-demand KPIs that ask for them).
    #[serde(default)]
    pub notes: Vec<String>,
}

/// One KPI: a required figure against a budget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KpiDef {
    /// KPI name; `{demand.name}` is replaced in per-demand KPIs.
    pub name: String,
    /// Group (`npu`, `cpu`, `memory_bw`, …) used to pick KPIs for an evaluation.
    pub group: String,
    /// `subsystem`, `cross_cutting` or `chip`.
    pub scope: String,
    /// What is checked; `{demand.name}` is replaced.
    pub target: String,
    /// Metric name.
    pub metric: String,
    /// Units of required and budget.
    pub units: String,
    /// Evaluate once per demand on this engine (`"*"`: every demand).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub for_each: Option<String>,
    /// Only report the KPI when this is true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<String>,
    /// Required figure.
    pub required: String,
    /// Budget figure.
    pub budget: String,
    /// Warn threshold (percent of budget); the budget rules' default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warn_at_pct: Option<String>,
    /// Notes.
    #[serde(default)]
    pub notes: Vec<String>,
    /// Append the demand's notes (per-demand KPIs).
    #[serde(default)]
    pub demand_notes: bool,
    /// What the KPI means.
    #[serde(default)]
    pub description: String,
}

/// A saved what-if study.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StudyDef {
    /// Study name.
    pub name: String,
    /// Profile.
    pub profile: String,
    /// Workload (the pack's default when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload: Option<String>,
    /// One-slider sweep: slider name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sweep: Option<String>,
    /// Two-slider grid: x and y slider names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pareto: Option<(String, String)>,
    /// Steps of the sweep (or of x).
    pub steps: u32,
    /// Steps of y (pareto).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steps_y: Option<u32>,
    /// Slider values held fixed.
    #[serde(default)]
    pub overrides: IndexMap<String, f64>,
}

/// `sliders.ron`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SliderFile {
    /// File format version (1).
    pub schema_version: u32,
    /// Sliders in catalog order.
    pub sliders: Vec<SliderDef>,
}

/// An assumption knob.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SliderDef {
    /// Slider name.
    pub name: String,
    /// What it changes.
    #[serde(default)]
    pub description: String,
    /// Grouping: `capability`, `workload`, `operating`, `headroom`, …
    pub category: String,
    /// Units.
    pub units: String,
    /// Default value.
    pub default: f64,
    /// Lowest value (values are clamped).
    pub min_val: f64,
    /// Highest value.
    pub max_val: f64,
    /// Step (informational).
    #[serde(default = "one")]
    pub step: f64,
    /// What it affects (informational).
    #[serde(default)]
    pub affects: Vec<String>,
    /// What the clamped value does; empty = informational slider.
    #[serde(default)]
    pub apply: Vec<SliderAction>,
}

fn one() -> f64 {
    1.0
}

/// `set` writes a value at a path; `scale` multiplies the value there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ActionOp {
    /// Write.
    Set,
    /// Multiply.
    Scale,
}

/// One change a slider makes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SliderAction {
    /// `set` or `scale`.
    pub op: ActionOp,
    /// Dotted path starting with `profile.` or `workload.`.
    pub path: String,
    /// Formula of the written value or factor over `value` (the clamped slider value), the
    /// profile and the workload; `value` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// `profiles/<name>.ron`: one SoC as heterogeneous blocks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileFile {
    /// File format version (1).
    pub schema_version: u32,
    /// Profile name.
    pub name: String,
    /// What the SoC is.
    #[serde(default)]
    pub description: String,
    /// The registry tier this profile corresponds to, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<String>,
    /// Blocks (`npu`, `cpu`, `gpu`, `vpu`, `isp`, `dsp`, `memory`, `headroom_pct`, …), each a
    /// map of figures.
    pub blocks: serde_json::Map<String, serde_json::Value>,
}

/// `workloads/<name>.ron`: a workload for projections and/or for what-if sizing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkloadFile {
    /// File format version (1).
    pub schema_version: u32,
    /// Workload name.
    pub name: String,
    /// What it models.
    #[serde(default)]
    pub description: String,
    /// LLM projection settings (ladder, diff).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub projection: Option<ProjectionWorkload>,
    /// Mission figures read by demand formulas as `workload.…`.
    #[serde(default)]
    pub values: serde_json::Map<String, serde_json::Value>,
}

/// How a workload drives `project_llm`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProjectionWorkload {
    /// The reference workload id (measurement cells are keyed by it).
    pub workload_id: String,
    /// Prompt tokens.
    pub prompt_tokens: u32,
    /// Generated tokens.
    pub decode_tokens: u32,
    /// Workload-pattern multipliers applied after the projection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<WorkloadPattern>,
}

/// `ladder.ron`: the tiers a surface shows, in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LadderFile {
    /// File format version (1).
    pub schema_version: u32,
    /// Rungs, lowest first.
    pub tiers: Vec<LadderRung>,
}

/// One visible tier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LadderRung {
    /// Registry tier name.
    pub tier: String,
    /// Display label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// The surface's price of this rung (any currency, one per ladder); `ratchet plan
    /// --cost price` ranks candidates by it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<f64>,
}

//! The rule-set file format (`rules/*.ron`): constants, named formulas and the LLM
//! projection — feasibility, gates, the ordered cascade of paths with their lookups, outputs
//! and rounding. Every formula is an evalexpr expression string.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A constant: a number, a boolean or a string.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Constant {
    /// A number (integers are read as floats).
    Num(f64),
    /// A boolean.
    Bool(bool),
    /// A string.
    Str(String),
}

/// One base rule set or several.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Extends {
    /// One base.
    One(String),
    /// Several, applied in order.
    Many(Vec<String>),
}

impl Extends {
    /// The base names in order.
    pub fn names(&self) -> Vec<&str> {
        match self {
            Extends::One(s) => vec![s.as_str()],
            Extends::Many(v) => v.iter().map(String::as_str).collect(),
        }
    }
}

/// One rule set: the reference behaviour (`ratchet-0.3.2`) or a variant that extends it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleSetFile {
    /// File format version.
    pub schema_version: u32,
    /// Rule-set name, selected with `--rules NAME`.
    pub name: String,
    /// What distinguishes this rule set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The rule set(s) this one starts from, in order; their maps are merged entry by entry
    /// (later wins), lists and blocks replaced when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extends: Option<Extends>,
    /// Request defaults (`prompt_tokens`, `decode_tokens`, `host_ms`, `compiler_quality`,
    /// `fp4_runtime_maturity`).
    #[serde(default)]
    pub defaults: IndexMap<String, Constant>,
    /// The range each request option must lie in (`host_ms`, `compiler_quality`,
    /// `npu_share`); a request outside it is refused before any formula runs, the same way
    /// on every interface.
    #[serde(default)]
    pub ranges: IndexMap<String, Range>,
    /// The values a string request option may take (`fp4_runtime_maturity`); checked with
    /// the ranges.
    #[serde(default)]
    pub choices: IndexMap<String, Vec<String>>,
    /// Named constants (`eps_rate`, `runtime_overhead_bytes`, …).
    #[serde(default)]
    pub constants: IndexMap<String, Constant>,
    /// Named formulas. A name may take parameters: `"kv_cache_bytes_per_token(dtype_bytes)"`.
    #[serde(default)]
    pub formulas: IndexMap<String, String>,
    /// The LLM projection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub llm: Option<LlmRules>,
    /// Reference API functions written as formulas over their arguments (batch ops).
    #[serde(default)]
    pub operations: IndexMap<String, Operation>,
    /// Steps the engine runs around the projection (`memory_upgrade`, `anchor_overlay`,
    /// `workload_pattern`, `frame_latency`, …), each over inputs the engine provides.
    #[serde(default)]
    pub entries: IndexMap<String, RecordEntry>,
}

/// An interval of accepted values; an absent bound is unbounded.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct Range {
    /// Lower bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// Upper bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// The lower bound itself is refused.
    #[serde(default)]
    pub exclusive_min: bool,
    /// The upper bound itself is refused.
    #[serde(default)]
    pub exclusive_max: bool,
}

/// A check: when `when` holds, the operation fails with `kind` and `message`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Check {
    /// Boolean formula.
    pub when: String,
    /// `invalid_value` or `unknown_key`.
    pub kind: String,
    /// String formula: the message.
    pub message: String,
}

/// A reference API function as formulas.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Operation {
    /// What it answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Argument name → type (`string`, `number`, `boolean`; `?` suffix: optional). Read as
    /// `arg.<name>`.
    #[serde(default)]
    pub args: IndexMap<String, String>,
    /// Namespaces read besides the arguments: `hw`, `model`.
    #[serde(default)]
    pub uses: Vec<String>,
    /// Operation-level named formulas.
    #[serde(default, rename = "let")]
    pub lets: IndexMap<String, String>,
    /// Failure conditions, checked in order.
    #[serde(default)]
    pub checks: Vec<Check>,
    /// The answer (a formula).
    pub result: String,
}

/// An engine step: named formulas, checks, outputs and rounding over the inputs the engine
/// provides for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct RecordEntry {
    /// What the step does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Named formulas.
    #[serde(default, rename = "let")]
    pub lets: IndexMap<String, String>,
    /// Failure conditions, checked in order.
    #[serde(default)]
    pub checks: Vec<Check>,
    /// Output formulas (the engine defines which outputs each step has).
    #[serde(default)]
    pub outputs: IndexMap<String, String>,
    /// Decimal places per output (Python `round`).
    #[serde(default)]
    pub rounding: IndexMap<String, u32>,
}

/// The LLM side of a rule set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct LlmRules {
    /// The `kv_cache_bytes_per_token(model, dtype_bytes)` operation: one formula over
    /// `req.dtype_bytes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kv_cache_bytes_per_token: Option<String>,
    /// The `memory_feasibility(model, hw, context_tokens)` operation: entry-level names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_feasibility: Option<Entry>,
    /// Feasibility outputs: `verdict`, `required_gb`, `available_gb`, `headroom_gb`,
    /// `weights_gb`, `kv_cache_gb`, `overhead_gb`.
    #[serde(default)]
    pub feasibility: IndexMap<String, String>,
    /// The projection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<ProjectRules>,
}

/// Names defined for one entry point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// Entry-level named formulas (e.g. `context_tokens`).
    #[serde(default, rename = "let")]
    pub lets: IndexMap<String, String>,
}

/// The projection cascade.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct ProjectRules {
    /// Entry-level named formulas (e.g. `context_tokens`).
    #[serde(default, rename = "let")]
    pub lets: IndexMap<String, String>,
    /// Checked in order before the cascade; the first that holds ends the projection.
    #[serde(default)]
    pub gates: Vec<Gate>,
    /// Path names in the order they are tried; the first that yields data wins.
    #[serde(default)]
    pub cascade: Vec<String>,
    /// The paths by name.
    #[serde(default)]
    pub paths: IndexMap<String, Path>,
    /// Outputs shared by every path (a path may override each).
    #[serde(default)]
    pub outputs: IndexMap<String, String>,
    /// Decimal places per output field (Python `round`, ties to even on the exact value).
    #[serde(default)]
    pub rounding: IndexMap<String, u32>,
    /// The projected result's record: every field a path computes, with its type, unit and
    /// meaning, declared once. Fields beyond the ones the engine itself reads (the rates and
    /// timings) are computed on every path and carried into every result by name (batch,
    /// HTTP, ladder columns, `project`); a field's value is whatever its name resolves to in
    /// the path's scope (path outputs, shared outputs, formulas).
    #[serde(default)]
    pub record: IndexMap<String, FieldDecl>,
    /// Physical bounds every projected result must satisfy, checked on every path after its
    /// outputs (names resolve as in the path: its outputs unrounded, formulas, the request);
    /// the first that holds refuses the result with its message. Replaced when given.
    #[serde(default)]
    pub bounds: Vec<Check>,
}

/// One declared field of a result record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FieldDecl {
    /// `number`, `string` or `boolean`.
    #[serde(rename = "type")]
    pub ty: String,
    /// Unit (`tok/s`, `s`, `GB`, …); absent for unitless fields.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// What the field means.
    pub doc: String,
}

/// A gate: when its condition holds, the projection ends with this outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Gate {
    /// Gate name (shown by `--explain`).
    pub name: String,
    /// Boolean formula.
    pub when: String,
    /// `wont_fit` or `dtype_mismatch`.
    pub outcome: String,
    /// Outcome fields as formulas (`required_dtype`, `tier_capability`, `retargeting_hint`).
    #[serde(default)]
    pub fields: IndexMap<String, String>,
}

/// One step of the cascade.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Path {
    /// Source label reported when this path answers.
    pub source: String,
    /// Whose constants the path's arithmetic reads, and so which calibration source its
    /// result carries: `tier` (the tier's own `calibration_source`, the reference's label),
    /// `fit` (the tier's fitted `llm_calibration` and its source) or `defaults` (constants
    /// no fit or measurement backs: the registry's uncalibrated label).
    #[serde(default)]
    pub constants: ConstantsOrigin,
    /// What this path models (shown by `--explain`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Boolean formula; the path is skipped when it is false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<String>,
    /// A built-in lookup; the path is skipped when it finds nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lookup: Option<Lookup>,
    /// Path-level named formulas.
    #[serde(default, rename = "let")]
    pub lets: IndexMap<String, String>,
    /// Output formulas of this path (override the shared outputs).
    #[serde(default)]
    pub outputs: IndexMap<String, String>,
}

/// Whose constants a cascade path reads (see [`Path::constants`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConstantsOrigin {
    /// The tier's own constants, labelled by its `calibration_source`.
    #[default]
    Tier,
    /// The tier's fitted LLM cost model, labelled by the fit's source.
    Fit,
    /// Constants with no fit or measurement behind them.
    Defaults,
}

impl ConstantsOrigin {
    /// The name a rules file writes (`path.constants` reads it).
    pub fn name(self) -> &'static str {
        match self {
            ConstantsOrigin::Tier => "tier",
            ConstantsOrigin::Fit => "fit",
            ConstantsOrigin::Defaults => "defaults",
        }
    }
}

/// A built-in lookup and its arguments (formulas).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Lookup {
    /// `measured_cell`, `tier_anchor` or `family_sibling`.
    pub builtin: String,
    /// Candidate model keys (string formulas), tried in order.
    pub keys: Vec<String>,
    /// The workload id (string formula); `measured_cell` only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload: Option<String>,
    /// The family to search (string formula); `family_sibling` only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family: Option<String>,
    /// The tier name to skip (string formula); `family_sibling` only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip_name: Option<String>,
}

//! What a compiled rule-set program is: its bytecode and, for each way it can end, which
//! registers hold the outcome's fields (feasibility, a projected result with its declared
//! extra fields, a dtype mismatch, a record), with the cascade's and gates' metadata for
//! `--explain`. The compiler (`super::compile`) makes them; the engine reads them by name.

use super::inputs::Ty;
use crate::expr::{Program, Reg};

/// Where the feasibility numbers are.
#[derive(Debug, Clone, PartialEq)]
pub struct FeasSlots {
    /// `verdict` (a string).
    pub verdict: Reg,
    /// required, available, headroom, weights, kv cache, overhead (GB).
    pub nums: [Reg; 6],
}

/// Where a projected result's fields are.
#[derive(Debug, Clone, PartialEq)]
pub struct ProjSlots {
    /// decode_tok_s, prefill_tok_s, ttft_s, decode_s, prefill_s, total_s, host_ms.
    pub nums: [Reg; 7],
    /// `regime`.
    pub regime: Reg,
    /// `decode_ceiling_tok_s`, when the path computes it.
    pub ceiling: Option<Reg>,
    /// The rule set's extra declared fields (`ProjectDef::extra_fields`), in declared order.
    pub extra: Vec<(Ty, Reg)>,
}

/// How a program ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// A single number.
    Scalar(Reg),
    /// A feasibility check.
    Feasibility(FeasSlots),
    /// The model does not fit (gate index).
    WontFit(u16, FeasSlots),
    /// The tier cannot execute the model (gate index; required dtype, capability, hint).
    DtypeMismatch(u16, [Reg; 3]),
    /// A path answered (path index).
    Projected(u16, ProjSlots),
    /// No path answered.
    NoAnswer,
    /// A record entry's outputs, in declared order.
    Record(Vec<(Ty, Reg)>),
    /// A check failed: (kind: 0 invalid value, 1 unknown key; message).
    Failed(u8, Reg),
}

/// Something that happened during a traced evaluation.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Gate `i` held.
    GateHeld(u16),
    /// Gate `i` did not hold.
    GatePassed(u16),
    /// Path `i` skipped: its `when` was false.
    PathWhenFalse(u16),
    /// Path `i` skipped: its lookup found nothing.
    PathNotFound(u16),
    /// Path `i` answered.
    PathTaken(u16),
}

pub use crate::expr::code::TraceName;

/// Metadata of a cascade path.
#[derive(Debug, Clone, PartialEq)]
pub struct PathMeta {
    /// Path name.
    pub name: String,
    /// Source label.
    pub source: String,
    /// Whose constants the path reads (which calibration source its result carries).
    pub constants: crate::formats::rules::ConstantsOrigin,
    /// Description.
    pub description: Option<String>,
    /// `when` text.
    pub when: Option<String>,
    /// Lookup builtin name.
    pub lookup: Option<String>,
}

/// A compiled entry point.
#[derive(Debug, Clone)]
pub struct Compiled {
    /// The program.
    pub program: Program,
    /// Outcomes by `Exit` index.
    pub outcomes: Vec<Outcome>,
    /// Events by `Note` index.
    pub events: Vec<Event>,
    /// Cascade paths, in cascade order.
    pub paths: Vec<PathMeta>,
    /// Gate names.
    pub gates: Vec<String>,
    /// Names of the extra declared fields a `Projected` outcome carries (`ProjSlots::extra`).
    pub extra: Vec<String>,
}

impl Compiled {
    /// Traced names by `Trace` index.
    pub fn trace_names(&self) -> &[TraceName] {
        &self.program.trace_names
    }
}

/// Which entry point to compile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// `kv_cache_bytes_per_token(model, dtype_bytes)`
    KvBytes,
    /// `memory_feasibility(model, hw, context_tokens)`
    Feasibility,
    /// `project_llm(...)`
    Project,
}

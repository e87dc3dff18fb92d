//! Workload-pattern multipliers (spec §1.9, §3.13): applied after the projection, before the
//! anchor overlay, to models whose decode rate is not intrinsic (`llm_invariant_decode`
//! false). The arithmetic is the rule set's `workload_pattern` step.

pub use crate::formats::workload::WorkloadPattern;

/// What a pattern changes.
#[derive(Debug, Clone, PartialEq)]
pub struct PatternOut {
    /// The decode rate before the pattern.
    pub base_decode_pre_multiplier: f64,
    /// The fields of the result the rules rewrote (decode rate, TTFT, timings, …), by name.
    pub changes: crate::projection::ResultChanges,
}

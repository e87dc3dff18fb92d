//! Workload-pattern multipliers (spec §1.9, §3.13): applied after the projection, before the
//! anchor overlay, to models whose decode rate is not intrinsic (`llm_invariant_decode`
//! false). The arithmetic is the rule set's `workload_pattern` step.

pub use crate::formats::workload::WorkloadPattern;

/// What a pattern changes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PatternOut {
    /// New decode rate.
    pub decode_tok_s: f64,
    /// New TTFT.
    pub ttft_s: f64,
    /// The decode rate before the pattern.
    pub base_decode_pre_multiplier: f64,
    /// Decode time.
    pub decode_s: f64,
    /// Prefill time.
    pub prefill_s: f64,
    /// Total.
    pub total_s: f64,
}

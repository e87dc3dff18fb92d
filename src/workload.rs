//! Workload-pattern multipliers (spec §1.9, §3.13): applied after the projection, before the
//! anchor overlay, to models whose decode rate is not intrinsic (`llm_invariant_decode`
//! false). The arithmetic is the rule set's `workload_pattern` step.

use crate::anchors::ResultNums;
use crate::engine::Engine;
use crate::error::EngineError;
use crate::rules::inputs::{Inputs, RecVal};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

fn one() -> f64 {
    1.0
}

/// Multipliers of one workload pattern (e.g. RAG vs plain chat).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkloadPattern {
    /// Median decode-rate multiplier.
    #[serde(default = "one")]
    pub decode_p50_mult: f64,
    /// 95th-percentile decode multiplier (carried; the reference never reads it).
    #[serde(default = "one")]
    pub decode_p95_mult: f64,
    /// Median TTFT multiplier.
    #[serde(default = "one")]
    pub ttft_p50_mult: f64,
}

impl Default for WorkloadPattern {
    fn default() -> Self {
        WorkloadPattern { decode_p50_mult: 1.0, decode_p95_mult: 1.0, ttft_p50_mult: 1.0 }
    }
}

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

impl Engine {
    /// `apply_workload_pattern`: the rule set's `workload_pattern` step over a result.
    pub fn apply_workload_pattern(&self, r: &ResultNums, m: &WorkloadPattern) -> Result<PatternOut, EngineError> {
        let rec = [
            RecVal::Num(r.decode_tok_s),
            RecVal::Num(r.prefill_tok_s),
            RecVal::Num(r.ttft_s),
            RecVal::Num(r.decode_s),
            RecVal::Num(r.prefill_s),
            RecVal::Num(r.total_s),
            RecVal::Num(r.host_ms),
            RecVal::Num(r.decode_tokens),
            RecVal::Num(r.prompt_tokens),
            RecVal::Num(m.decode_p50_mult),
            RecVal::Num(m.decode_p95_mult),
            RecVal::Num(m.ttft_p50_mult),
        ];
        let out = self.run_entry("workload_pattern", &Inputs { record: &rec, ..Default::default() })?;
        let v: Vec<f64> = out.iter().map(crate::projection::OutVal::num).collect();
        if v.iter().any(|x| !x.is_finite()) {
            return Err(EngineError::NonFinite("the workload pattern gave a number that is not finite".into()));
        }
        Ok(PatternOut {
            decode_tok_s: v[0],
            ttft_s: v[1],
            base_decode_pre_multiplier: v[2],
            decode_s: v[3],
            prefill_s: v[4],
            total_s: v[5],
        })
    }
}

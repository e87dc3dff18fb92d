//! `apply_workload_pattern` (spec §3.13): the rule set's `workload_pattern` step over a result
//! (`crate::workload` holds the pattern and what it changes).

use crate::anchors::ResultNums;
use crate::engine::Engine;
use crate::error::EngineError;
use crate::rules::inputs::{Inputs, RecVal};
use crate::workload::{PatternOut, WorkloadPattern};

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

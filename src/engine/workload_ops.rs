//! `apply_workload_pattern` (spec §3.13): the rule set's `workload_pattern` step over a result
//! (`crate::workload` holds the pattern and what it changes).

use crate::engine::{Engine, ResultIn};
use crate::error::EngineError;
use crate::rules::entries::EntryRecord;
use crate::workload::{PatternOut, WorkloadPattern};

impl Engine {
    /// `apply_workload_pattern`: the rule set's `workload_pattern` step over a result.
    pub fn apply_workload_pattern(&self, r: ResultIn<'_>, m: &WorkloadPattern) -> Result<PatternOut, EngineError> {
        let mut rec = EntryRecord::new(self.entry_layout("workload_pattern")?);
        r.fill(&mut rec)?;
        rec.num("mult.decode_p50_mult", m.decode_p50_mult)
            .num("mult.decode_p95_mult", m.decode_p95_mult)
            .num("mult.ttft_p50_mult", m.ttft_p50_mult);
        let out = self.run_entry(&rec, None, None)?;
        let what = || "the workload pattern".to_string();
        Ok(PatternOut {
            base_decode_pre_multiplier: out.finite("base_decode_pre_multiplier", what)?,
            changes: out.result_changes(what)?,
        })
    }
}

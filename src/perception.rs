//! CPU-workload projection (reference ADR 019): frame latency and solver convergence scaled
//! by a per-workload speedup; and the perception anchors attached to tiers. Speedups and
//! verdicts are the consumer's business; the engine returns numbers.

use crate::engine::Engine;
use crate::error::EngineError;
use crate::rules::entries::EntryRecord;
use crate::tier::{LatencyDistribution, PerceptionAnchor, SolverConvergenceAnchor, Tier};
use schemars::JsonSchema;
use serde::Serialize;

/// A frame-latency projection.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct CpuLatencyProjection {
    /// Median, ms.
    pub median_ms: f64,
    /// 95th percentile, ms.
    pub p95_ms: f64,
    /// Maximum, ms.
    pub max_ms: Option<f64>,
    /// The speedup applied.
    pub speedup: f64,
    /// `measured` (speedup exactly 1) or `projected`.
    pub source: String,
}

/// A solver-convergence projection.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct SolverConvergenceProjection {
    /// Median iterations (hardware-invariant, carried).
    pub iters_median: serde_json::Number,
    /// 95th-percentile iterations.
    pub iters_p95: serde_json::Number,
    /// Maximum iterations.
    pub iters_max: Option<serde_json::Number>,
    /// Median solve time, ms.
    pub solve_median_ms: f64,
    /// 95th-percentile solve time, ms.
    pub solve_p95_ms: f64,
    /// Maximum solve time, ms.
    pub solve_max_ms: Option<f64>,
    /// The speedup applied.
    pub speedup: f64,
    /// `measured` or `projected`.
    pub source: String,
}

impl Engine {
    /// `project_frame_latency`: a measured latency distribution on another CPU.
    pub fn project_frame_latency(
        &self,
        base: &LatencyDistribution,
        speedup: f64,
    ) -> Result<CpuLatencyProjection, EngineError> {
        let mut rec = EntryRecord::new(self.entry_layout("frame_latency")?);
        rec.num("base.median_ms", base.median_ms)
            .num("base.p95_ms", base.p95_ms)
            .opt("base.max_ms", base.max_ms)
            .num("speedup", speedup);
        let out = self.run_entry(&rec, None, None)?;
        Ok(CpuLatencyProjection {
            median_ms: out.num("median_ms")?,
            p95_ms: out.num("p95_ms")?,
            max_ms: if out.bool("has_max_ms")? { Some(out.num("max_ms")?) } else { None },
            speedup,
            source: out.str("source")?.to_string(),
        })
    }

    /// `project_solver_convergence`: iteration counts carried, solve times scaled.
    pub fn project_solver_convergence(
        &self,
        a: &SolverConvergenceAnchor,
        speedup: f64,
    ) -> Result<SolverConvergenceProjection, EngineError> {
        let mut rec = EntryRecord::new(self.entry_layout("solver_convergence")?);
        rec.num("solve.median_ms", a.solve_ms.median_ms)
            .num("solve.p95_ms", a.solve_ms.p95_ms)
            .opt("solve.max_ms", a.solve_ms.max_ms)
            .num("speedup", speedup);
        let out = self.run_entry(&rec, None, None)?;
        Ok(SolverConvergenceProjection {
            iters_median: a.iters_median.clone(),
            iters_p95: a.iters_p95.clone(),
            iters_max: a.iters_max.clone(),
            solve_median_ms: out.num("solve_median_ms")?,
            solve_p95_ms: out.num("solve_p95_ms")?,
            solve_max_ms: if out.bool("has_solve_max_ms")? { Some(out.num("solve_max_ms")?) } else { None },
            speedup,
            source: out.str("source")?.to_string(),
        })
    }
}

impl Tier {
    /// The perception anchor for a workload class, when the tier carries one.
    pub fn perception_anchor(&self, workload_class: &str) -> Option<&PerceptionAnchor> {
        self.spec.measured_perception.as_ref().filter(|m| !m.is_empty())?.get(workload_class)
    }
}

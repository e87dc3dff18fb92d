//! The workload-pattern multipliers as data (spec §1.9): read from pack workloads and requests;
//! `crate::workload` applies them.

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

//! The engine's steps around the projection and the inputs and outputs each one has: the
//! interface between Rust and the `entries` of a rule set. The formulas are data.

use super::inputs::Ty;

/// One step: its inputs (besides `hw.*` / `model.*`) and outputs. An optional input reads
/// as 0 / "" when absent (`has(name)` tells); an output `has_<x>` marks `<x>` as present.
#[derive(Debug, Clone, Copy)]
pub struct EntrySig {
    /// Entry name in the rule set.
    pub name: &'static str,
    /// Reads `hw.*`.
    pub hw: bool,
    /// Reads `model.*`.
    pub model: bool,
    /// Inputs: (name, type, optional).
    pub fields: &'static [(&'static str, Ty, bool)],
    /// Outputs: (name, type).
    pub outputs: &'static [(&'static str, Ty)],
}

const RESULT: &[(&str, Ty, bool)] = &[
    ("result.decode_tok_s", Ty::Num, false),
    ("result.prefill_tok_s", Ty::Num, false),
    ("result.ttft_s", Ty::Num, false),
    ("result.decode_s", Ty::Num, false),
    ("result.prefill_s", Ty::Num, false),
    ("result.total_s", Ty::Num, false),
    ("result.host_ms", Ty::Num, false),
    ("result.decode_tokens", Ty::Num, false),
    ("result.prompt_tokens", Ty::Num, false),
];

macro_rules! concat_fields {
    ($($part:expr),*) => {{
        const N: usize = 0 $(+ $part.len())*;
        const OUT: [(&str, Ty, bool); N] = {
            let mut out = [("", Ty::Num, false); N];
            let mut i = 0;
            $(
                let p = $part;
                let mut j = 0;
                while j < p.len() {
                    out[i] = p[j];
                    i += 1;
                    j += 1;
                }
            )*
            let _ = i;
            out
        };
        &OUT
    }};
}

const ANCHOR: &[(&str, Ty, bool)] = &[
    ("anchor.tokps", Ty::Num, false),
    ("anchor.prefill_tokps", Ty::Num, false),
    ("anchor.mem_gb", Ty::Num, false),
    ("anchor.seqlen", Ty::Num, false),
    ("anchor.peak_bw_gbps", Ty::Num, false),
    ("anchor.bw_share_frac", Ty::Num, false),
    ("anchor.bw_efficiency_frac", Ty::Num, false),
    ("anchor.source", Ty::Str, false),
    ("anchor.measured_date", Ty::Str, false),
];

/// Every step the engine runs.
pub const ENTRIES: &[EntrySig] = &[
    EntrySig {
        name: "memory_upgrade",
        hw: true,
        model: false,
        fields: &[
            ("upgrade.mem_type", Ty::Str, false),
            ("upgrade.mem_data_rate_gtps", Ty::Num, false),
            ("upgrade.name_suffix", Ty::Str, true),
        ],
        outputs: &[("name", Ty::Str), ("mem_bandwidth_gbs", Ty::Num), ("decode_scale", Ty::Num)],
    },
    EntrySig {
        name: "anchor_overlay",
        hw: true,
        model: true,
        fields: concat_fields!(RESULT, ANCHOR, [("mult.decode", Ty::Num, false), ("mult.ttft", Ty::Num, false)]),
        outputs: &[
            ("applies", Ty::Bool),
            ("source", Ty::Str),
            ("decode_tok_s", Ty::Num),
            ("prefill_tok_s", Ty::Num),
            ("ttft_s", Ty::Num),
            ("decode_s", Ty::Num),
            ("prefill_s", Ty::Num),
            ("total_s", Ty::Num),
        ],
    },
    EntrySig {
        name: "workload_pattern",
        hw: false,
        model: false,
        fields: concat_fields!(
            RESULT,
            [
                ("mult.decode_p50_mult", Ty::Num, false),
                ("mult.decode_p95_mult", Ty::Num, false),
                ("mult.ttft_p50_mult", Ty::Num, false)
            ]
        ),
        outputs: &[
            ("decode_tok_s", Ty::Num),
            ("ttft_s", Ty::Num),
            ("base_decode_pre_multiplier", Ty::Num),
            ("decode_s", Ty::Num),
            ("prefill_s", Ty::Num),
            ("total_s", Ty::Num),
        ],
    },
    EntrySig {
        name: "llm_anchor_derived",
        hw: false,
        model: false,
        fields: concat_fields!(ANCHOR, [("share", Ty::Num, true)]),
        outputs: &[("achieved_bw_gbps", Ty::Num), ("bytes_per_token", Ty::Num)],
    },
    EntrySig {
        name: "cnn_anchor_derived",
        hw: false,
        model: false,
        fields: &[
            ("anchor.peak_bw_gbps", Ty::Num, false),
            ("anchor.bw_share_frac", Ty::Num, false),
            ("anchor.bw_efficiency_frac", Ty::Num, false),
            ("share", Ty::Num, true),
        ],
        outputs: &[("achieved_bw_gbps", Ty::Num)],
    },
    EntrySig {
        name: "frame_latency",
        hw: false,
        model: false,
        fields: &[
            ("base.median_ms", Ty::Num, false),
            ("base.p95_ms", Ty::Num, false),
            ("base.max_ms", Ty::Num, true),
            ("speedup", Ty::Num, false),
        ],
        outputs: &[
            ("median_ms", Ty::Num),
            ("p95_ms", Ty::Num),
            ("max_ms", Ty::Num),
            ("has_max_ms", Ty::Bool),
            ("source", Ty::Str),
        ],
    },
    EntrySig {
        name: "solver_convergence",
        hw: false,
        model: false,
        fields: &[
            ("solve.median_ms", Ty::Num, false),
            ("solve.p95_ms", Ty::Num, false),
            ("solve.max_ms", Ty::Num, true),
            ("speedup", Ty::Num, false),
        ],
        outputs: &[
            ("solve_median_ms", Ty::Num),
            ("solve_p95_ms", Ty::Num),
            ("solve_max_ms", Ty::Num),
            ("has_solve_max_ms", Ty::Bool),
            ("source", Ty::Str),
        ],
    },
];

/// The step with this name.
pub fn entry(name: &str) -> Option<&'static EntrySig> {
    ENTRIES.iter().find(|e| e.name == name)
}

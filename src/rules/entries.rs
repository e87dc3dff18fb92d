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

/// A step's input record, filled by field name in any order. Names are those of the step's
/// signature; `finish` refuses a name the step does not declare or a required field left
/// unset, so the order of `EntrySig::fields` is known in one place only.
#[derive(Debug)]
pub struct EntryRecord<'a> {
    sig: &'static EntrySig,
    vals: Vec<Option<super::inputs::RecVal<'a>>>,
    unknown: Vec<&'a str>,
}

impl<'a> EntryRecord<'a> {
    /// An empty record for the step `name`.
    pub fn new(name: &str) -> Result<Self, crate::error::EngineError> {
        let sig =
            entry(name).ok_or_else(|| crate::error::EngineError::UnknownKey(format!("no engine step `{name}`")))?;
        Ok(EntryRecord { sig, vals: vec![None; sig.fields.len()], unknown: Vec::new() })
    }

    /// The step's signature.
    pub fn sig(&self) -> &'static EntrySig {
        self.sig
    }

    /// Sets `field` (absent stays absent: `RecVal::Absent`).
    pub fn set(&mut self, field: &'a str, v: super::inputs::RecVal<'a>) -> &mut Self {
        match self.sig.fields.iter().position(|(f, _, _)| *f == field) {
            Some(i) => self.vals[i] = Some(v),
            None => self.unknown.push(field),
        }
        self
    }

    /// Sets a number.
    pub fn num(&mut self, field: &'a str, x: f64) -> &mut Self {
        self.set(field, super::inputs::RecVal::Num(x))
    }

    /// Sets a string.
    pub fn str(&mut self, field: &'a str, s: &'a str) -> &mut Self {
        self.set(field, super::inputs::RecVal::Str(s))
    }

    /// Sets an optional number.
    pub fn opt(&mut self, field: &'a str, x: Option<f64>) -> &mut Self {
        self.set(field, x.map_or(super::inputs::RecVal::Absent, super::inputs::RecVal::Num))
    }

    /// The values in the step's order: every required field set, no unknown name.
    pub fn finish(&self) -> Result<Vec<super::inputs::RecVal<'a>>, crate::error::EngineError> {
        let bad =
            |what: String| crate::error::EngineError::UnknownKey(format!("engine step `{}`: {what}", self.sig.name));
        if let Some(f) = self.unknown.first() {
            let known = self.sig.fields.iter().map(|(f, _, _)| *f);
            let help = crate::diagnostic::did_you_mean(f, known).map(|h| format!(" ({h})")).unwrap_or_default();
            return Err(bad(format!("no input `{f}`{help}")));
        }
        self.sig
            .fields
            .iter()
            .zip(&self.vals)
            .map(|((f, _, optional), v)| match v {
                Some(v) => Ok(*v),
                None if *optional => Ok(super::inputs::RecVal::Absent),
                None => Err(bad(format!("input `{f}` not set"))),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::inputs::RecVal;

    #[test]
    fn a_record_is_filled_by_name_in_any_order() {
        let mut r = EntryRecord::new("frame_latency").unwrap_or_else(|e| panic!("{e}"));
        r.num("speedup", 2.0).num("base.p95_ms", 9.0).num("base.median_ms", 4.0);
        let v = r.finish().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(v, [RecVal::Num(4.0), RecVal::Num(9.0), RecVal::Absent, RecVal::Num(2.0)]);
    }

    #[test]
    fn unknown_and_missing_inputs_are_errors() {
        let mut r = EntryRecord::new("frame_latency").unwrap_or_else(|e| panic!("{e}"));
        r.num("speedup", 2.0).num("base.p95_ms", 9.0).num("base.median_m", 4.0);
        let e = r.finish().map(|_| ()).unwrap_err().to_string();
        assert!(e.contains("no input `base.median_m`") && e.contains("base.median_ms"), "{e}");
        let mut r = EntryRecord::new("frame_latency").unwrap_or_else(|e| panic!("{e}"));
        r.num("speedup", 2.0);
        let e = r.finish().map(|_| ()).unwrap_err().to_string();
        assert!(e.contains("input `base.median_ms` not set"), "{e}");
        assert!(EntryRecord::new("no_such_step").is_err());
    }
}

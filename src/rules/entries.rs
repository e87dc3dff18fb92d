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
    /// Takes a projected result as `result.*`: every field of the rule set's declared
    /// record, by name, plus the request's token counts. Such a step may also output any
    /// field of that record; the engine writes each output back into the result by name.
    pub result: bool,
}

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
        result: false,
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
        result: true,
        hw: true,
        model: true,
        fields: concat_fields!(ANCHOR, [("mult.decode", Ty::Num, false), ("mult.ttft", Ty::Num, false)]),
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
        result: true,
        hw: false,
        model: false,
        fields: &[
            ("mult.decode_p50_mult", Ty::Num, false),
            ("mult.decode_p95_mult", Ty::Num, false),
            ("mult.ttft_p50_mult", Ty::Num, false),
        ],
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
        result: false,
        hw: false,
        model: false,
        fields: concat_fields!(ANCHOR, [("share", Ty::Num, true)]),
        outputs: &[("achieved_bw_gbps", Ty::Num), ("bytes_per_token", Ty::Num)],
    },
    EntrySig {
        name: "cnn_anchor_derived",
        result: false,
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
        result: false,
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
        result: false,
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

/// The request counts a `result` step reads besides the record's fields: a result states
/// them, the rules never compute them.
pub const RESULT_COUNTS: [&str; 2] = ["decode_tokens", "prompt_tokens"];

/// A step as one rule set compiles it: its inputs in order (the signature's, then, for a
/// `result` step, `result.<field>` for every field of the declared record) and the outputs
/// the rule set computes for it (the signature's, then any record fields it also writes).
#[derive(Debug, Clone)]
pub struct EntryLayout {
    /// The step's signature.
    pub sig: &'static EntrySig,
    /// Inputs: (name, type, optional).
    pub fields: Vec<(String, Ty, bool)>,
    /// Outputs: (name, type, a field of the result record).
    pub outputs: Vec<(String, Ty, bool)>,
}

impl EntryLayout {
    /// The layout of `sig` under a rule set whose projection record declares `extras` beyond
    /// the engine's own fields and whose
    /// definition of the step writes the outputs `defined` names. A record field is read as
    /// `result.<name>`: the engine's numbers are required (the ceiling excepted, which only
    /// one path has), every other field optional, since a result handed over as JSON may
    /// come from a rule set that declares fewer.
    pub fn of(sig: &'static EntrySig, extras: &[(&str, Ty)], defined: impl Fn(&str) -> bool) -> Self {
        let mut fields: Vec<(String, Ty, bool)> = sig.fields.iter().map(|(n, t, o)| (n.to_string(), *t, *o)).collect();
        let mut outputs: Vec<(String, Ty, bool)> =
            sig.outputs.iter().map(|(n, t)| (n.to_string(), *t, sig.result && is_record_field(extras, n))).collect();
        if sig.result {
            for (name, ty, required) in result_record(extras) {
                fields.push((format!("result.{name}"), ty, !required));
            }
            for n in RESULT_COUNTS {
                fields.push((format!("result.{n}"), Ty::Num, false));
            }
            for (name, ty, _) in result_record(extras) {
                if defined(&name) && !outputs.iter().any(|o| o.0 == name) {
                    outputs.push((name, ty, true));
                }
            }
        }
        EntryLayout { sig, fields, outputs }
    }

    /// Every name a `result` step may output beyond its signature's (for suggestions).
    pub fn writable(&self, extras: &[(&str, Ty)]) -> Vec<String> {
        if self.sig.result { result_record(extras).into_iter().map(|f| f.0).collect() } else { Vec::new() }
    }
}

/// The result record a `result` step reads and may write: (name, type, required as input).
fn result_record(extras: &[(&str, Ty)]) -> Vec<(String, Ty, bool)> {
    let core = super::fields::PROJECTED_FIELDS
        .iter()
        .map(|(n, t)| (n.to_string(), *t, *t == Ty::Num && *n != "decode_ceiling_tok_s"));
    core.chain(extras.iter().map(|(n, t)| (n.to_string(), *t, false))).collect()
}

/// True when `name` is a field of the result record.
fn is_record_field(extras: &[(&str, Ty)], name: &str) -> bool {
    result_record(extras).iter().any(|f| f.0 == name)
}

/// A step's input record, filled by field name in any order. Names are those of the step's
/// layout; `finish` refuses a name the step does not declare or a required field left
/// unset, so the order of the inputs is known in one place only.
#[derive(Debug)]
pub struct EntryRecord<'a> {
    layout: &'a EntryLayout,
    vals: Vec<Option<super::inputs::RecVal<'a>>>,
    unknown: Vec<&'a str>,
}

impl<'a> EntryRecord<'a> {
    /// An empty record for a step as a rule set compiled it.
    pub fn new(layout: &'a EntryLayout) -> Self {
        EntryRecord { layout, vals: vec![None; layout.fields.len()], unknown: Vec::new() }
    }

    /// The step's layout.
    pub fn layout(&self) -> &'a EntryLayout {
        self.layout
    }

    /// Sets `field` (absent stays absent: `RecVal::Absent`).
    pub fn set(&mut self, field: &'a str, v: super::inputs::RecVal<'a>) -> &mut Self {
        match self.layout.fields.iter().position(|(f, _, _)| f == field) {
            Some(i) => self.vals[i] = Some(v),
            None => self.unknown.push(field),
        }
        self
    }

    /// Sets the input at `i` of the layout (see `EntryLayout::fields`).
    pub fn set_at(&mut self, i: usize, v: super::inputs::RecVal<'a>) -> &mut Self {
        if let Some(slot) = self.vals.get_mut(i) {
            *slot = Some(v);
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
        let bad = |what: String| {
            crate::error::EngineError::UnknownKey(format!("engine step `{}`: {what}", self.layout.sig.name))
        };
        if let Some(f) = self.unknown.first() {
            let known = self.layout.fields.iter().map(|(f, _, _)| f.as_str());
            let help = crate::diagnostic::did_you_mean(f, known).map(|h| format!(" ({h})")).unwrap_or_default();
            return Err(bad(format!("no input `{f}`{help}")));
        }
        self.layout
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

    fn frame_latency() -> EntryLayout {
        let sig = entry("frame_latency").unwrap_or_else(|| panic!("no frame_latency step"));
        EntryLayout::of(sig, &[], |_| false)
    }

    #[test]
    fn a_result_step_reads_the_declared_record_by_name_and_may_write_its_fields() {
        let sig = entry("workload_pattern").unwrap_or_else(|| panic!("no workload_pattern step"));
        let layout = EntryLayout::of(sig, &[("band_decode_p10", Ty::Num)], |n| n == "band_decode_p10");
        let names: Vec<&str> = layout.fields.iter().map(|f| f.0.as_str()).collect();
        for n in ["result.decode_tok_s", "result.regime", "result.band_decode_p10", "result.prompt_tokens"] {
            assert!(names.contains(&n), "{n} in {names:?}");
        }
        let opt = |n: &str| layout.fields.iter().find(|f| f.0 == n).map(|f| f.2);
        assert_eq!(opt("result.decode_tok_s"), Some(false));
        assert_eq!(opt("result.decode_ceiling_tok_s"), Some(true));
        assert_eq!(opt("result.band_decode_p10"), Some(true));
        let outs: Vec<(&str, bool)> = layout.outputs.iter().map(|o| (o.0.as_str(), o.2)).collect();
        assert!(outs.contains(&("band_decode_p10", true)) && outs.contains(&("decode_tok_s", true)), "{outs:?}");
        assert!(outs.contains(&("base_decode_pre_multiplier", false)), "{outs:?}");
        // a step that takes no result writes nothing back
        assert!(frame_latency().outputs.iter().all(|o| !o.2));
    }

    #[test]
    fn a_record_is_filled_by_name_in_any_order() {
        let layout = frame_latency();
        let mut r = EntryRecord::new(&layout);
        r.num("speedup", 2.0).num("base.p95_ms", 9.0).num("base.median_ms", 4.0);
        let v = r.finish().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(v, [RecVal::Num(4.0), RecVal::Num(9.0), RecVal::Absent, RecVal::Num(2.0)]);
    }

    #[test]
    fn unknown_and_missing_inputs_are_errors() {
        let layout = frame_latency();
        let mut r = EntryRecord::new(&layout);
        r.num("speedup", 2.0).num("base.p95_ms", 9.0).num("base.median_m", 4.0);
        let e = r.finish().map(|_| ()).unwrap_err().to_string();
        assert!(e.contains("no input `base.median_m`") && e.contains("base.median_ms"), "{e}");
        let mut r = EntryRecord::new(&layout);
        r.num("speedup", 2.0);
        let e = r.finish().map(|_| ()).unwrap_err().to_string();
        assert!(e.contains("input `base.median_ms` not set"), "{e}");
    }
}

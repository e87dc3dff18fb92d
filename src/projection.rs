//! Projection results with the reference field names (spec §1.8), the request parameters,
//! and the glue that runs a compiled rule set on one request.

use crate::catalog::LlmModel;
use crate::error::EngineError;
use crate::expr::vm::{self, Regs, Trace, TraceValue};
use crate::formats::rules::ConstantsOrigin;
use crate::rules::compile::{Compiled, Event, FeasSlots, Outcome};
use crate::rules::host::{Env, RulesHost};
use crate::rules::inputs::Inputs;
use crate::tier::Tier;
use schemars::JsonSchema;
use serde::Serialize;
use std::borrow::Cow;
use std::cell::RefCell;

/// Where a result came from: registry, rule set and the generation that computed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Provenance {
    /// Registry name.
    pub registry: String,
    /// Registry version.
    pub registry_version: String,
    /// Rule set used.
    pub rule_set: String,
    /// Hash of every registry, rules and pack file the generation was built from.
    pub content_hash: String,
    /// Generation id (increments on every reload).
    pub generation: u64,
}

/// The optional parameters of `project_llm`; absent values take the rule set's defaults.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProjectParams {
    /// Prompt tokens.
    pub prompt_tokens: Option<u64>,
    /// Decode tokens.
    pub decode_tokens: Option<u64>,
    /// Host time, ms.
    pub host_ms: Option<f64>,
    /// Compiler quality factor.
    pub compiler_quality: Option<f64>,
    /// NPU bandwidth share (the tier's default when absent).
    pub npu_share: Option<f64>,
    /// `mature` or `immature`.
    pub fp4_runtime_maturity: Option<String>,
    /// The KV cache's element type (a key of `kv_cache_types`: `f16`, `q8_0`, `fp8`, …); the
    /// rule set's default when absent.
    pub kv_cache_dtype: Option<String>,
}

/// Memory breakdown, GB.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, JsonSchema)]
pub struct Breakdown {
    /// Weights.
    pub weights_gb: f64,
    /// KV cache.
    pub kv_cache_gb: f64,
    /// Runtime overhead.
    pub overhead_gb: f64,
}

/// A memory feasibility check (unrounded).
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Feasibility<'a> {
    /// `fits`, `tight` or `wont_fit`.
    pub verdict: Cow<'a, str>,
    /// Required, GB.
    pub required_gb: f64,
    /// Available, GB.
    pub available_gb: f64,
    /// Available − required, GB.
    pub headroom_gb: f64,
    /// Breakdown of the requirement.
    pub breakdown: Breakdown,
    /// The data the check read beyond the reference's: the KV-cache type that sized the
    /// cache and the tier's memory sharing rule (absent under rules that read neither).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_basis: Option<MemoryBasis>,
}

/// What a memory check was computed with, where the rule set reads it.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct MemoryBasis {
    /// The KV-cache type (a key of `kv_cache_types`) and its bytes per element.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kv_cache_dtype: Option<String>,
    /// Bytes per cached element of that type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kv_cache_element_bytes: Option<f64>,
    /// The tier's sharing rule (a key of `sharing` in tables/memory.ron): `available_gb` is
    /// the share it gives, not the whole capacity.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_sharing: Option<String>,
}

/// Anchor metadata set by the private-anchor overlay.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct SiliconAnchorMeta {
    /// Measurement date of the anchor.
    pub measured_date: String,
    /// `<tier>_<precision>` cell.
    pub spec_tier_precision: String,
    /// The anchor file's model key.
    pub spec_model_key: String,
    /// True on memory-upgrade tiers (the anchor was bandwidth-scaled).
    pub bw_projected: bool,
}

/// A successful projection.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Projected<'a> {
    /// Decode rate, tok/s (2 dp).
    pub decode_tok_s: f64,
    /// Prefill rate, tok/s (2 dp).
    pub prefill_tok_s: f64,
    /// Time to first token, s (4 dp).
    pub ttft_s: f64,
    /// Decode tokens.
    pub decode_tokens: u64,
    /// Prompt tokens.
    pub prompt_tokens: u64,
    /// Decode time, s (3 dp).
    pub decode_s: f64,
    /// Prefill time, s (3 dp).
    pub prefill_s: f64,
    /// Host + prefill + decode, s (3 dp).
    pub total_s: f64,
    /// Host time, ms (2 dp).
    pub host_ms: f64,
    /// Source label of the path that answered.
    pub source: Cow<'a, str>,
    /// `bw_bound` or `compute_bound`.
    pub regime: Cow<'a, str>,
    /// Tier name.
    pub hw_name: Cow<'a, str>,
    /// Model key.
    pub model_key: Cow<'a, str>,
    /// Workload id.
    pub workload_id: Cow<'a, str>,
    /// Bandwidth ceiling of decode, tok/s (first-principles path only).
    pub decode_ceiling_tok_s: Option<f64>,
    /// Decode rate before a workload pattern was applied.
    pub base_decode_pre_multiplier: Option<f64>,
    /// Set when a private silicon anchor replaced the decode rate.
    pub silicon_anchor_meta: Option<Box<SiliconAnchorMeta>>,
    /// Badge of the source label.
    pub badge: Cow<'a, str>,
    /// Provenance of the tier's calibration constants.
    pub calibration_source: Option<Cow<'a, crate::tier::CalibrationSource>>,
    /// Registry, rule set and generation.
    pub provenance: Cow<'a, Provenance>,
    /// The rule set's extra declared fields (its `record`), by name.
    #[serde(flatten)]
    #[schemars(skip)]
    pub extra: Extras<'a>,
}

/// A projected quantity that carries an uncertainty band (ADR 0030).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Banded {
    /// `decode_tok_s`.
    Decode,
    /// `prefill_tok_s`.
    Prefill,
    /// `ttft_s`.
    Ttft,
}

impl Banded {
    /// Every banded quantity.
    pub const ALL: [Banded; 3] = [Banded::Decode, Banded::Prefill, Banded::Ttft];

    /// The record fields of its band's factors (10th, 90th percentile).
    pub fn factor_fields(self) -> [&'static str; 2] {
        match self {
            Banded::Decode => ["band_decode_p10", "band_decode_p90"],
            Banded::Prefill => ["band_prefill_p10", "band_prefill_p90"],
            Banded::Ttft => ["band_ttft_p10", "band_ttft_p90"],
        }
    }
}

impl Projected<'_> {
    /// The value of a banded quantity.
    pub fn value(&self, b: Banded) -> f64 {
        match b {
            Banded::Decode => self.decode_tok_s,
            Banded::Prefill => self.prefill_tok_s,
            Banded::Ttft => self.ttft_s,
        }
    }

    /// The 10th and 90th percentiles of a banded quantity's true value: the value times the
    /// factors the rule set's record states (`band_*`); `None` when it states none (the
    /// reference rule set) or the number is a measurement (factors of 1).
    pub fn band(&self, b: Banded) -> Option<(f64, f64)> {
        let [lo, hi] = b.factor_fields();
        let f = |n: &str| match self.extra.get(n) {
            Some(OutVal::Num(x)) if x.is_finite() => Some(*x),
            _ => None,
        };
        let (lo, hi) = (f(lo)?, f(hi)?);
        // a measured number states factors of exactly 1: it has no projection band
        if lo == 1.0 && hi == 1.0 {
            return None;
        }
        let v = self.value(b);
        Some((v * lo, v * hi))
    }

    /// Writes the record field `name` (an engine step's output, by name); a name the
    /// result does not have changes nothing.
    pub fn set_field(&mut self, name: &str, v: OutVal<'static>) {
        let x = v.num();
        match name {
            "decode_tok_s" => self.decode_tok_s = x,
            "prefill_tok_s" => self.prefill_tok_s = x,
            "ttft_s" => self.ttft_s = x,
            "decode_s" => self.decode_s = x,
            "prefill_s" => self.prefill_s = x,
            "total_s" => self.total_s = x,
            "host_ms" => self.host_ms = x,
            "decode_ceiling_tok_s" => self.decode_ceiling_tok_s = Some(x),
            "regime" => self.regime = Cow::Owned(v.str().to_string()),
            _ => self.extra.set(name, v),
        }
    }

    /// The record field `name` as a step input (`None`: the result has no such field).
    pub fn field(&self, name: &str) -> Option<crate::rules::inputs::RecVal<'_>> {
        use crate::rules::inputs::RecVal;
        Some(match name {
            "decode_tok_s" => RecVal::Num(self.decode_tok_s),
            "prefill_tok_s" => RecVal::Num(self.prefill_tok_s),
            "ttft_s" => RecVal::Num(self.ttft_s),
            "decode_s" => RecVal::Num(self.decode_s),
            "prefill_s" => RecVal::Num(self.prefill_s),
            "total_s" => RecVal::Num(self.total_s),
            "host_ms" => RecVal::Num(self.host_ms),
            "decode_tokens" => RecVal::Num(self.decode_tokens as f64),
            "prompt_tokens" => RecVal::Num(self.prompt_tokens as f64),
            "decode_ceiling_tok_s" => return self.decode_ceiling_tok_s.map(RecVal::Num),
            "regime" => RecVal::Str(&self.regime),
            _ => match self.extra.get(name)? {
                OutVal::Num(x) => RecVal::Num(*x),
                OutVal::Bool(b) => RecVal::Num(f64::from(u8::from(*b))),
                OutVal::Str(s) => RecVal::Str(s),
            },
        })
    }

    /// What the band rests on (`band_basis` of the record).
    pub fn band_basis(&self) -> Option<&str> {
        match self.extra.get("band_basis") {
            Some(OutVal::Str(s)) => Some(s),
            _ => None,
        }
    }
}

/// Fields of a result a step rewrote, by name (`EntryOut::result_changes`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ResultChanges(pub Vec<(String, OutVal<'static>)>);

impl ResultChanges {
    /// The number `name`, when the step wrote it.
    pub fn num(&self, name: &str) -> Option<f64> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v.num())
    }

    /// Writes every change into a projection, by name.
    pub fn apply(&self, p: &mut Projected<'_>) {
        for (name, v) in &self.0 {
            p.set_field(name, v.clone());
        }
    }

    /// Writes every change into a result given as JSON, by name (numbers as the reference
    /// writes floats).
    pub fn apply_json(&self, m: &mut serde_json::Map<String, serde_json::Value>) {
        for (name, v) in &self.0 {
            m.insert(name.clone(), v.to_json());
        }
    }
}

/// The fields a rule set declares in its projection `record` beyond the ones the engine
/// reads itself: computed by the rules, carried by name (ADR 0020).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Extras<'a> {
    names: Cow<'a, [String]>,
    values: Vec<OutVal<'a>>,
}

impl<'a> Extras<'a> {
    /// The value of the field `name`, when the rule set declares it.
    pub fn get(&self, name: &str) -> Option<&OutVal<'a>> {
        self.names.iter().position(|n| n == name).and_then(|i| self.values.get(i))
    }

    /// (name, value) in declared order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &OutVal<'a>)> {
        self.names.iter().map(String::as_str).zip(self.values.iter())
    }

    /// Replaces the value of a declared field (an undeclared name changes nothing).
    pub fn set(&mut self, name: &str, v: OutVal<'a>) {
        if let Some(i) = self.names.iter().position(|n| n == name) {
            if let Some(x) = self.values.get_mut(i) {
                *x = v;
            }
        }
    }

    /// True when the rule set declares no extra field.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

impl Serialize for Extras<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(self.values.len()))?;
        for (k, v) in self.iter() {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

/// The model does not fit in the tier's memory.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct WontFit<'a> {
    /// Tier name.
    pub hw_name: Cow<'a, str>,
    /// Model key.
    pub model_key: Cow<'a, str>,
    /// Workload id.
    pub workload_id: Cow<'a, str>,
    /// Required, GB.
    pub required_gb: f64,
    /// Available, GB.
    pub available_gb: f64,
    /// Available − required, GB (negative).
    pub headroom_gb: f64,
    /// Breakdown.
    pub breakdown: Breakdown,
    /// Prompt tokens.
    pub prompt_tokens: u64,
    /// Decode tokens.
    pub decode_tokens: u64,
    /// Provenance of the tier's calibration constants.
    pub calibration_source: Option<Cow<'a, crate::tier::CalibrationSource>>,
    /// Registry, rule set and generation.
    pub provenance: Cow<'a, Provenance>,
}

/// The tier cannot execute the model's quantisation.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct DtypeMismatch<'a> {
    /// Tier name.
    pub hw_name: Cow<'a, str>,
    /// Model key.
    pub model_key: Cow<'a, str>,
    /// Workload id.
    pub workload_id: Cow<'a, str>,
    /// The model's quant scheme.
    pub required_dtype: Cow<'a, str>,
    /// Always `unsupported`.
    pub tier_capability: Cow<'a, str>,
    /// What kind of tier would run it.
    pub retargeting_hint: Option<Cow<'a, str>>,
    /// Provenance of the tier's calibration constants.
    pub calibration_source: Option<Cow<'a, crate::tier::CalibrationSource>>,
    /// Registry, rule set and generation.
    pub provenance: Cow<'a, Provenance>,
}

/// One of the three outcomes of a projection.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(tag = "type")]
pub enum Projection<'a> {
    /// Rates and timings.
    Projected(Projected<'a>),
    /// Does not fit.
    WontFit(WontFit<'a>),
    /// Cannot execute.
    DtypeMismatch(DtypeMismatch<'a>),
}

/// An owned copy of a borrowed text or value.
fn own<T: ToOwned + ?Sized>(c: Cow<'_, T>) -> Cow<'static, T> {
    Cow::Owned(c.into_owned())
}

impl Projection<'_> {
    /// The same result owning everything it names, so that it outlives the engine, tier and
    /// model it was computed from (a plan's rows, a ladder built inside a function).
    pub fn into_owned(self) -> Projection<'static> {
        match self {
            Projection::Projected(p) => Projection::Projected(Projected {
                source: own(p.source),
                regime: own(p.regime),
                hw_name: own(p.hw_name),
                model_key: own(p.model_key),
                workload_id: own(p.workload_id),
                badge: own(p.badge),
                calibration_source: p.calibration_source.map(own),
                provenance: own(p.provenance),
                extra: Extras {
                    names: own(p.extra.names),
                    values: p.extra.values.into_iter().map(OutVal::into_owned).collect(),
                },
                decode_tok_s: p.decode_tok_s,
                prefill_tok_s: p.prefill_tok_s,
                ttft_s: p.ttft_s,
                decode_tokens: p.decode_tokens,
                prompt_tokens: p.prompt_tokens,
                decode_s: p.decode_s,
                prefill_s: p.prefill_s,
                total_s: p.total_s,
                host_ms: p.host_ms,
                decode_ceiling_tok_s: p.decode_ceiling_tok_s,
                base_decode_pre_multiplier: p.base_decode_pre_multiplier,
                silicon_anchor_meta: p.silicon_anchor_meta,
            }),
            Projection::WontFit(w) => Projection::WontFit(WontFit {
                hw_name: own(w.hw_name),
                model_key: own(w.model_key),
                workload_id: own(w.workload_id),
                calibration_source: w.calibration_source.map(own),
                provenance: own(w.provenance),
                required_gb: w.required_gb,
                available_gb: w.available_gb,
                headroom_gb: w.headroom_gb,
                breakdown: w.breakdown,
                prompt_tokens: w.prompt_tokens,
                decode_tokens: w.decode_tokens,
            }),
            Projection::DtypeMismatch(d) => Projection::DtypeMismatch(DtypeMismatch {
                hw_name: own(d.hw_name),
                model_key: own(d.model_key),
                workload_id: own(d.workload_id),
                required_dtype: own(d.required_dtype),
                tier_capability: own(d.tier_capability),
                retargeting_hint: d.retargeting_hint.map(own),
                calibration_source: d.calibration_source.map(own),
                provenance: own(d.provenance),
            }),
        }
    }

    /// The successful projection, when it is one.
    pub fn projected(&self) -> Option<&Projected<'_>> {
        match self {
            Projection::Projected(p) => Some(p),
            _ => None,
        }
    }

    /// The variant name (`Projected`, `WontFit`, `DtypeMismatch`).
    pub fn kind(&self) -> &'static str {
        match self {
            Projection::Projected(_) => "Projected",
            Projection::WontFit(_) => "WontFit",
            Projection::DtypeMismatch(_) => "DtypeMismatch",
        }
    }
}

/// Reusable evaluation memory of one thread: the register file and the arena of strings
/// computed during a run.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    regs: Regs<1>,
    arena: Vec<String>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// Runs `f` with this thread's scratch (or a fresh one when it is in use).
pub(crate) fn with_scratch<R>(f: impl FnOnce(&mut Scratch) -> R) -> R {
    SCRATCH.with(|s| match s.try_borrow_mut() {
        Ok(mut v) => f(&mut v),
        Err(_) => f(&mut Scratch::default()),
    })
}

#[inline(always)]
fn check_finite(name: &str, v: f64, model: Option<&LlmModel>, hw: Option<&Tier>) -> Result<f64, EngineError> {
    if v.is_finite() { Ok(v) } else { Err(not_finite(name, v, model, hw)) }
}

#[cold]
#[inline(never)]
fn not_finite(name: &str, v: f64, model: Option<&LlmModel>, hw: Option<&Tier>) -> EngineError {
    let on = hw.map(|h| format!(" on tier `{}`", h.name())).unwrap_or_default();
    let of = model.map(|m| format!(" for model `{}`", m.key)).unwrap_or_default();
    EngineError::NonFinite(format!(
        "`{name}` is {}{of}{on}: the rules divided by zero or overflowed",
        crate::numeric::py_float_repr(v)
    ))
}

fn feasibility<'a>(
    f: &FeasSlots,
    h: &RulesHost<'a, '_>,
    regs: &Regs<1>,
    inp: &Inputs<'a>,
) -> Result<Feasibility<'a>, EngineError> {
    let (model, hw) = (inp.model, inp.hw);
    let g = |i: usize| check_finite(FEAS_NAMES[i], regs.at(f.nums[i]), model, hw);
    Ok(Feasibility {
        verdict: h.cow(0, regs.at(f.verdict)),
        required_gb: g(0)?,
        available_gb: g(1)?,
        headroom_gb: g(2)?,
        breakdown: Breakdown { weights_gb: g(3)?, kv_cache_gb: g(4)?, overhead_gb: g(5)? },
        memory_basis: None,
    })
}

/// What one run of a scalar or feasibility program produced.
pub(crate) enum RunResult<'a> {
    Scalar(f64),
    Feasibility(Feasibility<'a>),
}

/// Context a run needs besides the inputs.
pub(crate) struct RunCx<'a> {
    pub env: Env<'a>,
    pub provenance: &'a Provenance,
    /// The badge of each cascade path of the active rule set, by path index.
    pub path_badges: &'a [String],
    /// The calibration source of a result whose constants nothing backs (registry badges).
    pub uncalibrated: &'a crate::tier::CalibrationSource,
}

/// Runs a scalar (`kv_cache_bytes_per_token`) or feasibility program.
pub(crate) fn run<'a>(c: &'a Compiled, inp: &Inputs<'a>, cx: &RunCx<'a>) -> Result<RunResult<'a>, EngineError> {
    let p = &c.program;
    with_scratch(|sc| {
        sc.arena.clear();
        let Scratch { regs, arena, .. } = sc;
        let mut h = RulesHost { program: p, env: &cx.env, inp: std::slice::from_ref(inp), arena };
        let o = vm::run(p, &mut h, regs, None)
            .map_err(|_| EngineError::InvalidValue("the rules ended without an outcome".into()))?;
        match c.outcomes.get(o as usize) {
            Some(Outcome::Scalar(s)) => Ok(RunResult::Scalar(check_finite("result", regs.at(*s), inp.model, inp.hw)?)),
            Some(Outcome::Feasibility(f)) => Ok(RunResult::Feasibility(feasibility(f, &h, regs, inp)?)),
            _ => Err(EngineError::InvalidValue("the program produced no number or check".into())),
        }
    })
}

/// What a projection run left in its registers, copied out of the thread's scratch.
struct Raw<'a> {
    outcome: u16,
    nums: [f64; 8],
    strs: [Cow<'a, str>; 3],
    extra: Vec<OutVal<'a>>,
}

impl<'a> Raw<'a> {
    fn new() -> Self {
        Raw {
            outcome: u16::MAX,
            nums: [0.0; 8],
            strs: [Cow::Borrowed(""), Cow::Borrowed(""), Cow::Borrowed("")],
            extra: Vec::new(),
        }
    }

    /// Copies the outcome's fields: `reg` reads a register, `text` turns a handle into text.
    #[inline(always)]
    fn fill(
        &mut self,
        c: &Compiled,
        o: u16,
        reg: impl Fn(crate::expr::Reg) -> f64,
        mut text: impl FnMut(f64) -> Cow<'a, str>,
    ) {
        self.outcome = o;
        match c.outcomes.get(o as usize) {
            Some(Outcome::WontFit(_, f)) => {
                for (x, r) in self.nums.iter_mut().zip(f.nums) {
                    *x = reg(r);
                }
            }
            Some(Outcome::DtypeMismatch(_, s)) => {
                for (x, r) in self.strs.iter_mut().zip(s) {
                    *x = text(reg(*r));
                }
            }
            // a physical bound refused the result: its message
            Some(Outcome::Failed(_, m)) => self.strs[0] = text(reg(*m)),
            Some(Outcome::Projected(_, s)) => {
                for (x, r) in self.nums.iter_mut().zip(s.nums) {
                    *x = reg(r);
                }
                self.nums[7] = s.ceiling.map_or(f64::NAN, &reg);
                self.strs[0] = text(reg(s.regime));
                if !s.extra.is_empty() {
                    self.extra = s
                        .extra
                        .iter()
                        .map(|(ty, r)| match ty {
                            crate::expr::Ty::Num => OutVal::Num(reg(*r)),
                            crate::expr::Ty::Bool => OutVal::Bool(reg(*r) != 0.0),
                            crate::expr::Ty::Str => OutVal::Str(text(reg(*r))),
                        })
                        .collect();
                }
            }
            _ => {}
        }
    }
}

const FIELD_NAMES: [&str; 8] =
    ["decode_tok_s", "prefill_tok_s", "ttft_s", "decode_s", "prefill_s", "total_s", "host_ms", "decode_ceiling_tok_s"];

const FEAS_NAMES: [&str; 6] =
    ["required_gb", "available_gb", "headroom_gb", "weights_gb", "kv_cache_gb", "overhead_gb"];

/// Runs a projection program (`trace`: record for `--explain`) and builds its result.
pub(crate) fn project<'a>(
    c: &'a Compiled,
    inp: &Inputs<'a>,
    cx: &RunCx<'a>,
    tokens: (u64, u64),
    trace: Option<&mut Trace>,
) -> Result<Projection<'a>, EngineError> {
    let p = &c.program;
    let mut raw = Raw::new();
    with_scratch(|sc| {
        sc.arena.clear();
        let Scratch { regs, arena, .. } = sc;
        let mut h = RulesHost { program: p, env: &cx.env, inp: std::slice::from_ref(inp), arena };
        let o = vm::run(p, &mut h, regs, trace)
            .map_err(|_| EngineError::InvalidValue("the rules ended without an outcome".into()))?;
        raw.fill(c, o, |r| regs.at(r), |x| h.cow(0, x));
        Ok::<(), EngineError>(())
    })?;
    build(c, raw, inp, cx, tokens)
}

/// Runs a projection program over a block of requests in lanes (one dispatch of each
/// instruction for up to `L` requests); results go to `out` in request order.
fn project_lanes<'a, const L: usize>(
    c: &'a Compiled,
    inps: &[Inputs<'a>],
    cx: &RunCx<'a>,
    tokens: &[(u64, u64)],
    sc: &mut LaneScratch<L>,
    out: &mut Vec<Result<Projection<'a>, EngineError>>,
) {
    let p = &c.program;
    sc.arena.clear();
    let mut outcomes: [Result<u16, crate::expr::VmError>; L] = std::array::from_fn(|_| Ok(0));
    let LaneScratch { regs, spill, arena } = sc;
    let mut h = RulesHost { program: p, env: &cx.env, inp: inps, arena };
    vm::run_lanes(p, &mut h, regs, spill, &mut outcomes);
    for (l, (inp, t)) in inps.iter().zip(tokens).enumerate().take(L) {
        let r = match &outcomes[l] {
            Ok(o) => {
                let mut raw = Raw::new();
                raw.fill(c, *o, |r| regs.lane(r, l), |x| h.cow(l, x));
                build(c, raw, inp, cx, *t)
            }
            Err(_) => Err(EngineError::InvalidValue("the rules ended without an outcome".into())),
        };
        out.push(r);
    }
}

/// Register files for lane runs of one thread.
#[derive(Debug, Default)]
struct LaneScratch<const L: usize> {
    regs: Regs<L>,
    spill: Regs<1>,
    arena: Vec<String>,
}

thread_local! {
    static LANES4: RefCell<LaneScratch<4>> = RefCell::new(LaneScratch::default());
    static LANES8: RefCell<LaneScratch<8>> = RefCell::new(LaneScratch::default());
}

/// Requests at least this many go through lanes; fewer run one by one.
const MIN_LANES: usize = 3;

/// Runs a projection program over many requests of one tier and model: blocks of 8 (or 4)
/// requests share each instruction dispatch; results go to `out` in request order, exactly
/// what one call per request gives.
pub(crate) fn project_block<'a>(
    c: &'a Compiled,
    inps: &[Inputs<'a>],
    cx: &RunCx<'a>,
    tokens: &[(u64, u64)],
    out: &mut Vec<Result<Projection<'a>, EngineError>>,
) {
    let mut i = 0;
    let n = inps.len().min(tokens.len());
    while i < n {
        let rest = n - i;
        let k = if rest >= 8 {
            in_lanes(&LANES8, c, &inps[i..i + 8], cx, &tokens[i..i + 8], out)
        } else if rest >= MIN_LANES {
            let k = rest.min(4);
            in_lanes(&LANES4, c, &inps[i..i + k], cx, &tokens[i..i + k], out)
        } else {
            0
        };
        if k > 0 {
            i += k;
        } else {
            out.push(project(c, &inps[i], cx, tokens[i], None));
            i += 1;
        }
    }
}

/// [`project_lanes`] in the thread's register files of `L` lanes; returns how many requests
/// it projected (none when the files are in use: a re-entrant call runs one by one).
fn in_lanes<'a, const L: usize>(
    files: &'static std::thread::LocalKey<RefCell<LaneScratch<L>>>,
    c: &'a Compiled,
    inps: &[Inputs<'a>],
    cx: &RunCx<'a>,
    tokens: &[(u64, u64)],
    out: &mut Vec<Result<Projection<'a>, EngineError>>,
) -> usize {
    files.with(|s| match s.try_borrow_mut() {
        Ok(mut sc) => {
            project_lanes::<L>(c, inps, cx, tokens, &mut sc, out);
            inps.len()
        }
        Err(_) => 0,
    })
}

/// The result of a projection from what its run left.
#[inline(always)]
fn build<'a>(
    c: &'a Compiled,
    raw: Raw<'a>,
    inp: &Inputs<'a>,
    cx: &RunCx<'a>,
    tokens: (u64, u64),
) -> Result<Projection<'a>, EngineError> {
    let model = inp.model;
    let hw_name = Cow::Borrowed(inp.hw.map(|h| h.name()).unwrap_or(""));
    let model_key = Cow::Borrowed(model.map(|m| m.key.as_str()).unwrap_or(""));
    let workload_id = Cow::Borrowed(inp.workload_id);
    let calibration_source = inp.hw.and_then(|h| h.spec.calibration_source.as_ref());
    let provenance = Cow::Borrowed(cx.provenance);
    let v = &raw.nums;
    // every field finite, or the first that is not, named
    let finite = |n: usize, names: &[&str]| -> Result<(), EngineError> {
        if v[..n].iter().all(|x| x.is_finite()) {
            return Ok(());
        }
        for i in 0..n {
            check_finite(names[i], v[i], model, inp.hw)?;
        }
        Ok(())
    };
    match c.outcomes.get(raw.outcome as usize) {
        Some(Outcome::Projected(pi, s)) => {
            finite(if s.ceiling.is_some() { 8 } else { 7 }, &FIELD_NAMES)?;
            let ceiling = s.ceiling.map(|_| v[7]);
            for (name, x) in c.extra.iter().zip(&raw.extra) {
                if let OutVal::Num(x) = x {
                    check_finite(name, *x, model, inp.hw)?;
                }
            }
            let [regime, _, _] = raw.strs;
            let path = c.paths.get(*pi as usize);
            // the label of the constants the taken path read, not the tier's static field
            let calibration_source = match path.map(|m| m.constants) {
                Some(ConstantsOrigin::Fit) => {
                    inp.hw.and_then(|h| h.spec.llm_calibration.as_ref()).map(|f| &f.source).or(calibration_source)
                }
                Some(ConstantsOrigin::Defaults) => Some(cx.uncalibrated),
                _ => calibration_source,
            };
            Ok(Projection::Projected(Projected {
                decode_tok_s: v[0],
                prefill_tok_s: v[1],
                ttft_s: v[2],
                decode_tokens: tokens.1,
                prompt_tokens: tokens.0,
                decode_s: v[3],
                prefill_s: v[4],
                total_s: v[5],
                host_ms: v[6],
                source: Cow::Borrowed(path.map(|m| m.source.as_str()).unwrap_or("")),
                regime,
                hw_name,
                model_key,
                workload_id,
                decode_ceiling_tok_s: ceiling,
                base_decode_pre_multiplier: None,
                silicon_anchor_meta: None,
                badge: Cow::Borrowed(cx.path_badges.get(*pi as usize).map(String::as_str).unwrap_or("")),
                calibration_source: calibration_source.map(Cow::Borrowed),
                provenance,
                extra: Extras { names: Cow::Borrowed(&c.extra), values: raw.extra },
            }))
        }
        Some(Outcome::WontFit(..)) => {
            finite(6, &FEAS_NAMES)?;
            Ok(Projection::WontFit(WontFit {
                hw_name,
                model_key,
                workload_id,
                required_gb: v[0],
                available_gb: v[1],
                headroom_gb: v[2],
                breakdown: Breakdown { weights_gb: v[3], kv_cache_gb: v[4], overhead_gb: v[5] },
                prompt_tokens: tokens.0,
                decode_tokens: tokens.1,
                calibration_source: calibration_source.map(Cow::Borrowed),
                provenance,
            }))
        }
        Some(Outcome::DtypeMismatch(..)) => {
            let [required_dtype, tier_capability, hint] = raw.strs;
            Ok(Projection::DtypeMismatch(DtypeMismatch {
                hw_name,
                model_key,
                workload_id,
                required_dtype,
                tier_capability,
                retargeting_hint: Some(hint),
                calibration_source: calibration_source.map(Cow::Borrowed),
                provenance,
            }))
        }
        Some(Outcome::Failed(kind, _)) => {
            let [msg, _, _] = raw.strs;
            Err(if *kind == 1 {
                EngineError::UnknownKey(msg.into_owned())
            } else {
                EngineError::InvalidValue(msg.into_owned())
            })
        }
        Some(Outcome::NoAnswer) | None => Err(EngineError::InvalidValue(
            "no path of the cascade answered; the rule set's last path must always answer".into(),
        )),
        Some(_) => Err(EngineError::InvalidValue("a record program was run as a projection".into())),
    }
}

/// A value a record program produced.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum OutVal<'a> {
    /// A number.
    Num(f64),
    /// A boolean.
    Bool(bool),
    /// A string (borrowed from the program when it is one of its constants: a result's
    /// record costs no allocation per string field).
    Str(Cow<'a, str>),
}

impl OutVal<'_> {
    /// The value, owning its string.
    pub fn into_owned(self) -> OutVal<'static> {
        match self {
            OutVal::Num(x) => OutVal::Num(x),
            OutVal::Bool(b) => OutVal::Bool(b),
            OutVal::Str(s) => OutVal::Str(Cow::Owned(s.into_owned())),
        }
    }

    /// The number (0 for other kinds).
    pub fn num(&self) -> f64 {
        match self {
            OutVal::Num(x) => *x,
            OutVal::Bool(b) => f64::from(u8::from(*b)),
            OutVal::Str(_) => 0.0,
        }
    }

    /// The boolean (false for other kinds).
    pub fn bool(&self) -> bool {
        matches!(self, OutVal::Bool(true))
    }

    /// The string ("" for other kinds).
    pub fn str(&self) -> &str {
        match self {
            OutVal::Str(s) => s,
            _ => "",
        }
    }

    /// As JSON.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            OutVal::Num(x) => {
                serde_json::Number::from_f64(*x).map(serde_json::Value::Number).unwrap_or(serde_json::Value::Null)
            }
            OutVal::Bool(b) => serde_json::Value::Bool(*b),
            OutVal::Str(s) => serde_json::Value::String(s.to_string()),
        }
    }
}

/// Runs a record program (an engine step or an operation); its outputs in declared order,
/// or the failed check as an error.
pub(crate) fn run_record(c: &Compiled, inp: &Inputs<'_>, env: &Env<'_>) -> Result<Vec<OutVal<'static>>, EngineError> {
    let p = &c.program;
    with_scratch(|sc| {
        sc.arena.clear();
        let Scratch { regs, arena } = sc;
        let mut h = RulesHost { program: p, env, inp: std::slice::from_ref(inp), arena };
        let o = vm::run(p, &mut h, regs, None)
            .map_err(|_| EngineError::InvalidValue("the rules ended without an outcome".into()))?;
        match c.outcomes.get(o as usize) {
            Some(Outcome::Record(slots)) => Ok(slots
                .iter()
                .map(|(ty, s)| {
                    let x = regs.at(*s);
                    match ty {
                        crate::expr::Ty::Num => OutVal::Num(x),
                        crate::expr::Ty::Bool => OutVal::Bool(x != 0.0),
                        crate::expr::Ty::Str => OutVal::Str(Cow::Owned(h.cow(0, x).into_owned())),
                    }
                })
                .collect()),
            Some(Outcome::Failed(kind, m)) => {
                let msg = h.cow(0, regs.at(*m)).into_owned();
                Err(if *kind == 1 { EngineError::UnknownKey(msg) } else { EngineError::InvalidValue(msg) })
            }
            _ => Err(EngineError::InvalidValue("a projection program was run as a record".into())),
        }
    })
}

/// What `--explain` shows: gates, the cascade, and every formula value in evaluation order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Explanation {
    /// Rule set name.
    pub rule_set: String,
    /// Gate name → held.
    pub gates: Vec<(String, bool)>,
    /// Path name, status (`taken`, `skipped`, `not reached`) and reason.
    pub paths: Vec<ExplainedPath>,
    /// Formula values in evaluation order.
    pub values: Vec<ExplainedValue>,
}

/// One cascade path in an explanation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExplainedPath {
    /// Path name.
    pub name: String,
    /// Its source label.
    pub source: String,
    /// `taken`, `skipped` or `not reached`.
    pub status: &'static str,
    /// Why.
    pub reason: String,
}

/// One traced formula.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExplainedValue {
    /// Name (inputs: `hw.…`, `model.…`).
    pub name: String,
    /// Formula text (empty for inputs).
    pub formula: String,
    /// The formula with the values of its names substituted.
    pub substituted: String,
    /// The value.
    pub value: serde_json::Value,
}

/// Builds an explanation from a trace.
pub(crate) fn explain(c: &Compiled, rules: &crate::rules::model::RuleSet, t: &Trace) -> Explanation {
    let rule_set = rules.name.as_str();
    let mut gates: Vec<(String, bool)> = Vec::new();
    let mut paths: Vec<ExplainedPath> = c
        .paths
        .iter()
        .map(|p| ExplainedPath {
            name: p.name.clone(),
            source: p.source.clone(),
            status: "not reached",
            reason: String::new(),
        })
        .collect();
    for e in &t.events {
        match c.events.get(*e as usize) {
            Some(Event::GateHeld(i)) => gates.push((c.gates.get(*i as usize).cloned().unwrap_or_default(), true)),
            Some(Event::GatePassed(i)) => gates.push((c.gates.get(*i as usize).cloned().unwrap_or_default(), false)),
            Some(Event::PathWhenFalse(i)) => {
                if let (Some(p), Some(m)) = (paths.get_mut(*i as usize), c.paths.get(*i as usize)) {
                    p.status = "skipped";
                    p.reason = format!("`when` is false: {}", m.when.clone().unwrap_or_default());
                }
            }
            Some(Event::PathNotFound(i)) => {
                if let (Some(p), Some(m)) = (paths.get_mut(*i as usize), c.paths.get(*i as usize)) {
                    p.status = "skipped";
                    p.reason = format!("lookup `{}` found nothing", m.lookup.clone().unwrap_or_default());
                }
            }
            Some(Event::PathTaken(i)) => {
                if let (Some(p), Some(m)) = (paths.get_mut(*i as usize), c.paths.get(*i as usize)) {
                    p.status = "taken";
                    p.reason = m.description.clone().unwrap_or_default();
                }
            }
            None => {}
        }
    }
    let mut known: std::collections::HashMap<String, TraceValue> = rules
        .constants
        .iter()
        .map(|(k, (v, _))| {
            let tv = match v {
                crate::rules::file::Constant::Num(x) => TraceValue::Num(*x),
                crate::rules::file::Constant::Bool(b) => TraceValue::Bool(*b),
                crate::rules::file::Constant::Str(s) => TraceValue::Str(s.clone()),
            };
            (k.clone(), tv)
        })
        .collect();
    let values = traced_values(c.trace_names(), t, &mut known);
    Explanation { rule_set: rule_set.to_string(), gates, paths, values }
}

/// The values a traced run recorded, in evaluation order: each formula's text, the text with
/// the values of its names substituted (from `known`, which grows as values come), and its
/// value.
pub(crate) fn traced_values(
    names: &[crate::expr::code::TraceName],
    t: &Trace,
    known: &mut std::collections::HashMap<String, TraceValue>,
) -> Vec<ExplainedValue> {
    let mut values = Vec::new();
    for (idx, v) in &t.values {
        let Some(n) = names.get(*idx as usize) else { continue };
        let substituted = if n.text.is_empty() {
            String::new()
        } else {
            crate::expr::parse(&n.text).map(|e| substitute(&e, known)).unwrap_or_default()
        };
        let value = match v {
            TraceValue::Num(x) => {
                serde_json::Number::from_f64(*x).map(serde_json::Value::Number).unwrap_or(serde_json::Value::Null)
            }
            TraceValue::Str(s) => serde_json::Value::String(s.clone()),
            TraceValue::Bool(b) => serde_json::Value::Bool(*b),
        };
        known.insert(n.name.clone(), v.clone());
        values.push(ExplainedValue { name: n.name.clone(), formula: n.text.clone(), substituted, value });
    }
    values
}

fn substitute(e: &crate::expr::Expr, known: &std::collections::HashMap<String, TraceValue>) -> String {
    use crate::expr::{Expr, UnOp};
    match e {
        Expr::Var { name, .. } => match known.get(name) {
            Some(TraceValue::Num(x)) => crate::numeric::py_float_repr(*x),
            Some(TraceValue::Str(s)) => format!("{s:?}"),
            Some(TraceValue::Bool(b)) => b.to_string(),
            None => name.clone(),
        },
        Expr::Call { name, args, .. } => {
            format!("{name}({})", args.iter().map(|a| substitute(a, known)).collect::<Vec<_>>().join(", "))
        }
        Expr::Unary(UnOp::Neg, a) => format!("-{}", substitute(a, known)),
        Expr::Unary(UnOp::Not, a) => format!("!{}", substitute(a, known)),
        Expr::Binary(op, a, b) => format!("({} {} {})", substitute(a, known), op.text(), substitute(b, known)),
        other => crate::expr::render(other),
    }
}

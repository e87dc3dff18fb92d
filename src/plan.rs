//! Inverse questions: the largest context that fits a tier; the cheapest tier (or memory
//! upgrade) that meets decode and TTFT targets; which models, in which quantisation, meet a
//! target on a tier. Every answer is computed by the forward engine (the active rule set's
//! feasibility and projection programs), so it follows the data exactly and carries the
//! same source badges and provenance.

use crate::catalog::LlmModel;
use crate::diagnostic::did_you_mean;
use crate::engine::Engine;
use crate::error::EngineError;
use crate::ladder::{Rung, RungSpec, WorkloadSetup};
use crate::projection::{Banded, Feasibility, ProjectParams, Projection, Provenance};
use crate::tier::Tier;
use serde::Serialize;
use serde_json::Value;

/// Contexts beyond this many tokens count as unbounded (a model without a KV cache).
pub const CONTEXT_SEARCH_LIMIT: u64 = 1 << 50;

/// The verdict of a memory check that does not fit.
const WONT_FIT: &str = "wont_fit";
/// The verdict of a memory check with comfortable headroom.
const FITS: &str = "fits";

/// Performance targets. A candidate meets them when it projects (fits and can execute) and
/// every given target holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Targets {
    /// Lowest acceptable decode rate, tok/s.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_decode_tok_s: Option<f64>,
    /// Longest acceptable time to first token, s.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_ttft_s: Option<f64>,
    /// Lowest acceptable prefill rate, tok/s.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_prefill_tok_s: Option<f64>,
    /// Which value of each projected number is judged: the projection, or the pessimistic
    /// end of its uncertainty band.
    pub confidence: Confidence,
}

/// Which value of a projected number a target judges (ADR 0030).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Confidence {
    /// The projected number itself.
    #[default]
    Central,
    /// The band's pessimistic end: rates at their 10th percentile, TTFT at its 90th (the
    /// targets hold nine times in ten, by the band's own held-out errors).
    P10,
}

impl Confidence {
    /// Every name, for messages.
    pub const NAMES: [&'static str; 2] = ["central", "p10"];

    /// The confidence a request names.
    pub fn parse(s: &str) -> Result<Self, EngineError> {
        match s {
            "central" => Ok(Confidence::Central),
            "p10" => Ok(Confidence::P10),
            other => {
                let help =
                    did_you_mean(other, Self::NAMES.iter().copied()).map(|h| format!(" ({h})")).unwrap_or_default();
                Err(EngineError::InvalidValue(format!(
                    "`confidence` is `{other}`; expected one of: {}{help}",
                    Self::NAMES.join(", ")
                )))
            }
        }
    }
}

impl Targets {
    /// Rejects targets no candidate could be judged by: none at all, not finite, or not
    /// positive.
    pub fn validate(&self) -> Result<(), EngineError> {
        let all = [
            ("min_decode_tok_s", self.min_decode_tok_s),
            ("max_ttft_s", self.max_ttft_s),
            ("min_prefill_tok_s", self.min_prefill_tok_s),
        ];
        if all.iter().all(|(_, v)| v.is_none()) {
            return Err(EngineError::BadRequest(
                "give at least one target: `min_decode_tok_s`, `max_ttft_s` or `min_prefill_tok_s`".into(),
            ));
        }
        for (name, v) in all {
            match v {
                Some(x) if !x.is_finite() => {
                    return Err(EngineError::InvalidValue(format!(
                        "target `{name}` is `{}`; it must be a finite number",
                        crate::numeric::py_float_repr(x)
                    )));
                }
                Some(x) if x <= 0.0 => {
                    let why = if name == "max_ttft_s" {
                        "no projection has a time to first token of zero or less"
                    } else {
                        "a rate target must be above zero"
                    };
                    return Err(EngineError::InvalidValue(format!(
                        "target `{name}` is `{}`; it must be > 0 ({why})",
                        crate::numeric::py_float_repr(x)
                    )));
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// Why a candidate misses the targets.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Failure {
    /// The target missed: a target name, `memory` (does not fit) or `dtype` (cannot execute).
    pub target: &'static str,
    /// What the target asks for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub need: Option<f64>,
    /// What the candidate gives.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub got: Option<f64>,
    /// One line for a person.
    pub message: String,
}

fn fmt(x: f64) -> String {
    crate::numeric::py_float_repr(crate::numeric::py_round(x, 3))
}

/// The targets `r` misses (none: it meets them).
pub fn failures(r: &Projection<'_>, t: &Targets) -> Vec<Failure> {
    match r {
        Projection::WontFit(w) => vec![Failure {
            target: "memory",
            need: Some(w.required_gb),
            got: Some(w.available_gb),
            message: format!("does not fit: needs {} GB, {} GB available", fmt(w.required_gb), fmt(w.available_gb)),
        }],
        Projection::DtypeMismatch(d) => vec![Failure {
            target: "dtype",
            need: None,
            got: None,
            message: match &d.retargeting_hint {
                Some(h) => format!("cannot execute `{}`: {h}", d.required_dtype),
                None => format!("cannot execute `{}`", d.required_dtype),
            },
        }],
        Projection::Projected(p) => {
            let mut out = Vec::new();
            // the value judged, with how a message names it; `None`: no band to judge at p10
            let judged = |b: Banded| -> Option<(f64, &'static str)> {
                match t.confidence {
                    Confidence::Central => Some((p.value(b), "")),
                    Confidence::P10 => p.band(b).map(|(lo, hi)| match b {
                        Banded::Ttft => (hi, " (90th percentile)"),
                        _ => (lo, " (10th percentile)"),
                    }),
                }
            };
            let checks = [
                (Banded::Decode, "min_decode_tok_s", t.min_decode_tok_s, "decode", " tok/s"),
                (Banded::Ttft, "max_ttft_s", t.max_ttft_s, "TTFT", " s"),
                (Banded::Prefill, "min_prefill_tok_s", t.min_prefill_tok_s, "prefill", " tok/s"),
            ];
            for (b, target, need, what, unit) in checks {
                let Some(need) = need else { continue };
                let Some((got, which)) = judged(b) else {
                    out.push(Failure {
                        target,
                        need: Some(need),
                        got: None,
                        message: format!(
                            "{what} has no uncertainty band under rule set `{}`, so it cannot be judged at p10",
                            p.provenance.rule_set
                        ),
                    });
                    continue;
                };
                let missed = if b == Banded::Ttft { got > need } else { got < need };
                if missed {
                    let rel = if b == Banded::Ttft { "above" } else { "below" };
                    out.push(Failure {
                        target,
                        need: Some(need),
                        got: Some(got),
                        message: format!("{what}{which} {}{unit} is {rel} {}{unit}", fmt(got), fmt(need)),
                    });
                }
            }
            out
        }
    }
}

/// The answer to one of the plan's questions (each carries its `question`).
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum PlanAnswer {
    /// `max_context`.
    MaxContext(Box<MaxContext>),
    /// `cheapest_tier`.
    Tiers(Box<TierPlan>),
    /// `models_for_tier`.
    Models(Box<ModelPlan>),
}

impl PlanAnswer {
    /// Something answers the question: a context fits, a tier or a model meets the targets.
    pub fn answered(&self) -> bool {
        match self {
            PlanAnswer::MaxContext(m) => m.max_context_tokens.is_some() || m.limited_by == "unbounded",
            PlanAnswer::Tiers(t) => t.answer.is_some(),
            PlanAnswer::Models(m) => !m.answers.is_empty(),
        }
    }

    /// Registry, rule set and generation.
    pub fn provenance(&self) -> &Provenance {
        match self {
            PlanAnswer::MaxContext(m) => &m.provenance,
            PlanAnswer::Tiers(t) => &t.provenance,
            PlanAnswer::Models(m) => &m.provenance,
        }
    }
}

/// The largest context a model fits in on a tier.
#[derive(Debug, Clone, Serialize)]
pub struct MaxContext {
    /// Always `max_context`.
    pub question: &'static str,
    /// Model key.
    pub model_key: String,
    /// Tier name.
    pub hw_name: String,
    /// Largest context (prompt + decode tokens) whose memory check is not `wont_fit`;
    /// `None` when the weights alone do not fit, or when no context is too large.
    pub max_context_tokens: Option<u64>,
    /// Largest context with comfortable headroom (verdict `fits`, not `tight`).
    pub max_fits_tokens: Option<u64>,
    /// The context the model was trained for.
    pub ctx_len_trained: Option<u64>,
    /// The smaller of the memory limit and the trained context.
    pub usable_context_tokens: Option<u64>,
    /// `memory`, `trained_context`, `does_not_fit` or `unbounded`.
    pub limited_by: &'static str,
    /// The memory check at `max_context_tokens`.
    pub at_limit: Option<Feasibility<'static>>,
    /// The memory check one token beyond it (the first context that does not fit).
    pub beyond_limit: Option<Feasibility<'static>>,
    /// Memory checks run to find the answer.
    pub evaluations: u32,
    /// Provenance of the tier's calibration constants.
    pub calibration_source: Option<crate::tier::CalibrationSource>,
    /// Registry, rule set and generation.
    pub provenance: Provenance,
}

/// One tier candidate of a plan.
#[derive(Debug, Clone, Serialize)]
pub struct TierCandidate {
    /// Tier name (a memory clone's own name).
    pub tier: String,
    /// Label from a pack's ladder.
    pub label: Option<String>,
    /// The registry tier it is or was cloned from.
    pub base_tier: String,
    /// The memory upgrade, for clones.
    pub memory_upgrade: Option<String>,
    /// Memory bandwidth, GB/s.
    pub mem_bandwidth_gbs: f64,
    /// The cost field's value.
    pub cost: Option<f64>,
    /// Meets every target.
    pub meets: bool,
    /// The targets it misses.
    pub failures: Vec<Failure>,
    /// The projection.
    pub result: Projection<'static>,
}

/// The cheapest tier meeting targets, and why the others fail.
#[derive(Debug, Clone, Serialize)]
pub struct TierPlan {
    /// Always `cheapest_tier`.
    pub question: &'static str,
    /// Model key.
    pub model_key: String,
    /// The targets and the workload they were judged at.
    pub targets: JudgedTargets,
    /// The field candidates are ranked by.
    pub cost_field: String,
    /// The cheapest candidate that meets the targets.
    pub answer: Option<TierCandidate>,
    /// Every candidate, best first: those that meet the targets by cost (at equal cost stock
    /// tiers first, faster first, then memory upgrades, smallest first), then the others the
    /// same way.
    pub candidates: Vec<TierCandidate>,
    /// Registry, rule set and generation.
    pub provenance: Provenance,
}

/// One model candidate of a plan.
#[derive(Debug, Clone, Serialize)]
pub struct ModelCandidate {
    /// Model key (`KEY@SCHEME` for a re-quantised variant).
    pub model_key: String,
    /// The catalog model it is or was derived from.
    pub base_model: String,
    /// Quant scheme.
    pub quant_scheme: String,
    /// Storage bytes per parameter.
    pub bytes_per_param: f64,
    /// A variant in another quant scheme than the catalog's.
    pub requantised: bool,
    /// Meets every target.
    pub meets: bool,
    /// The targets it misses.
    pub failures: Vec<Failure>,
    /// The projection.
    pub result: Projection<'static>,
}

/// Which models and quants meet targets on a tier.
#[derive(Debug, Clone, Serialize)]
pub struct ModelPlan {
    /// Always `models_for_tier`.
    pub question: &'static str,
    /// Tier name.
    pub hw_name: String,
    /// The targets and the workload they were judged at.
    pub targets: JudgedTargets,
    /// For each catalog model, the highest-fidelity quant (most bytes per parameter) that
    /// meets the targets; models with none are absent.
    pub answers: Vec<ModelCandidate>,
    /// Every candidate: those that meet the targets first, by bytes per parameter (highest
    /// fidelity first), then decode rate.
    pub candidates: Vec<ModelCandidate>,
    /// Registry, rule set and generation.
    pub provenance: Provenance,
}

/// Targets with the workload they were judged at.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JudgedTargets {
    /// The targets.
    #[serde(flatten)]
    pub targets: Targets,
    /// Workload id.
    pub workload_id: String,
    /// Prompt tokens.
    pub prompt_tokens: u64,
    /// Decode tokens.
    pub decode_tokens: u64,
}

fn judged(t: &Targets, w: &WorkloadSetup, e: &Engine) -> JudgedTargets {
    let d = &e.rule_set().defaults;
    JudgedTargets {
        targets: *t,
        workload_id: w.workload_id.clone(),
        prompt_tokens: w.params.prompt_tokens.unwrap_or(d.prompt_tokens),
        decode_tokens: w.params.decode_tokens.unwrap_or(d.decode_tokens),
    }
}

fn decode_of(r: &Projection<'_>) -> f64 {
    r.projected().map_or(0.0, |p| p.decode_tok_s)
}

/// Numeric tier fields a plan can rank by, besides `price`.
fn cost_fields(t: &Tier) -> Vec<String> {
    match serde_json::to_value(&t.spec) {
        Ok(Value::Object(m)) => m.into_iter().filter(|(_, v)| v.is_number()).map(|(k, _)| k).collect(),
        _ => Vec::new(),
    }
}

fn cost_of(r: &Rung, field: &str) -> Option<f64> {
    if field == "price" {
        return r.price;
    }
    serde_json::to_value(&r.tier.spec).ok()?.get(field)?.as_f64()
}

impl Engine {
    /// The largest context `model` fits in on `hw`, exactly by the active rule set's memory
    /// check: an exponential then binary search over whole tokens (the required memory grows
    /// with the context, so the check's verdict changes once). `p` carries the KV cache's
    /// element type.
    pub fn max_context(&self, model: &LlmModel, hw: &Tier, p: &ProjectParams) -> Result<MaxContext, EngineError> {
        let mut evaluations = 0u32;
        let mut verdict_at = |c: u64| -> Result<Feasibility<'static>, EngineError> {
            evaluations += 1;
            self.memory_feasibility_with(model, hw, c, p).map(Feasibility::into_owned)
        };
        let not_full = |f: &Feasibility<'_>| f.verdict != WONT_FIT;
        let comfortable = |f: &Feasibility<'_>| f.verdict == FITS;
        let max = largest(&mut verdict_at, not_full)?;
        let max_fits = largest(&mut verdict_at, comfortable)?.0;
        let (max_tokens, at, beyond) = max;
        let trained = model.ctx_len_trained;
        let (usable, limited_by) = match (max_tokens, trained) {
            (None, _) if beyond.is_some() => (None, "does_not_fit"),
            (None, t) => (t, "unbounded"),
            (Some(m), Some(t)) if t < m => (Some(t), "trained_context"),
            (Some(m), _) => (Some(m), "memory"),
        };
        Ok(MaxContext {
            question: "max_context",
            model_key: model.key.clone(),
            hw_name: hw.name().to_string(),
            max_context_tokens: max_tokens,
            max_fits_tokens: max_fits,
            ctx_len_trained: trained,
            usable_context_tokens: usable,
            limited_by,
            at_limit: at,
            beyond_limit: beyond,
            evaluations,
            calibration_source: hw.spec.calibration_source.clone(),
            provenance: self.provenance().clone(),
        })
    }

    /// The cheapest rung of the ladder (the packs' ladder or every registry tier, and their
    /// memory upgrades) on which `model` meets `targets`, ranked by `cost_field` (`price`
    /// from a pack's ladder, or a numeric tier field such as `tdp_watts`).
    pub fn cheapest_tier(
        &self,
        model: &LlmModel,
        targets: &Targets,
        w: &WorkloadSetup,
        cost_field: &str,
        upgrades: bool,
    ) -> Result<TierPlan, EngineError> {
        targets.validate()?;
        let (rungs, _) = self.ladder_rungs(&RungSpec { memory: Vec::new(), upgrades });
        let known = rungs.first().map(|r| cost_fields(&r.tier)).unwrap_or_default();
        if cost_field != "price" && !known.iter().any(|k| k == cost_field) {
            let help = did_you_mean(cost_field, known.iter().map(String::as_str).chain(["price"]))
                .map(|h| format!(" ({h})"))
                .unwrap_or_default();
            return Err(EngineError::UnknownKey(format!(
                "unknown cost field `{cost_field}`: `price` (a pack ladder's) or a numeric tier field{help}"
            )));
        }
        let mut candidates = Vec::with_capacity(rungs.len());
        for r in &rungs {
            let res = self.project_llm_full(model, &r.tier, &w.workload_id, &w.params, w.pattern.as_ref(), None)?;
            let failures = failures(&res, targets);
            candidates.push(TierCandidate {
                tier: r.tier.name().to_string(),
                label: r.label.clone(),
                base_tier: r.base.clone(),
                memory_upgrade: r.memory_upgrade.clone(),
                mem_bandwidth_gbs: r.tier.spec.mem_bandwidth_gbs,
                cost: cost_of(r, cost_field),
                meets: failures.is_empty(),
                failures,
                result: res.into_owned(),
            });
        }
        // stable: ladder order breaks the remaining ties
        candidates.sort_by(|a, b| {
            b.meets
                .cmp(&a.meets)
                .then(a.cost.is_none().cmp(&b.cost.is_none()))
                .then(a.cost.unwrap_or(0.0).total_cmp(&b.cost.unwrap_or(0.0)))
                .then(a.memory_upgrade.is_some().cmp(&b.memory_upgrade.is_some()))
                .then_with(|| match (&a.memory_upgrade, &b.memory_upgrade) {
                    // the smallest upgrade first
                    (Some(_), Some(_)) => a.mem_bandwidth_gbs.total_cmp(&b.mem_bandwidth_gbs),
                    _ => decode_of(&b.result).total_cmp(&decode_of(&a.result)),
                })
        });
        Ok(TierPlan {
            question: "cheapest_tier",
            model_key: model.key.clone(),
            targets: judged(targets, w, self),
            cost_field: cost_field.to_string(),
            answer: candidates.first().filter(|c| c.meets).cloned(),
            candidates,
            provenance: self.provenance().clone(),
        })
    }

    /// The catalog's models on `hw`, each in its own quant scheme and (with `quants`) in
    /// every other scheme the quant table can re-quantise to, judged against `targets`.
    pub fn models_for_tier(
        &self,
        hw: &Tier,
        targets: &Targets,
        w: &WorkloadSetup,
        quants: bool,
    ) -> Result<ModelPlan, EngineError> {
        targets.validate()?;
        let mut candidates = Vec::new();
        for m in self.registry().catalog().iter() {
            let mut variants = vec![(LlmModel::clone(m), false)];
            if quants {
                variants.extend(self.quant_variants(m).into_iter().map(|v| (v, true)));
            }
            for (v, requantised) in variants {
                let res = self.project_llm_full(&v, hw, &w.workload_id, &w.params, w.pattern.as_ref(), None)?;
                let failures = failures(&res, targets);
                candidates.push(ModelCandidate {
                    model_key: v.key.clone(),
                    base_model: m.key.clone(),
                    quant_scheme: v.quant_scheme.clone(),
                    bytes_per_param: v.bytes_per_param,
                    requantised,
                    meets: failures.is_empty(),
                    failures,
                    result: res.into_owned(),
                });
            }
        }
        candidates.sort_by(|a, b| {
            b.meets
                .cmp(&a.meets)
                .then(b.bytes_per_param.total_cmp(&a.bytes_per_param))
                .then(decode_of(&b.result).total_cmp(&decode_of(&a.result)))
        });
        let mut answers: Vec<ModelCandidate> = Vec::new();
        for c in candidates.iter().filter(|c| c.meets) {
            if !answers.iter().any(|a| a.base_model == c.base_model) {
                answers.push(c.clone());
            }
        }
        Ok(ModelPlan {
            question: "models_for_tier",
            hw_name: hw.name().to_string(),
            targets: judged(targets, w, self),
            answers,
            candidates,
            provenance: self.provenance().clone(),
        })
    }

    /// `model` re-quantised to every other scheme of the quant table that says how
    /// (`requant`): storage at the scheme's bytes per parameter, its compute dtype, and no
    /// measurements (they were taken in the catalog's scheme).
    pub fn quant_variants(&self, model: &LlmModel) -> Vec<LlmModel> {
        let mut out = Vec::new();
        for (name, s) in &self.registry().quant_schemes().schemes {
            let (Some(bpp), Some(rq)) = (s.requant_bytes_per_param(), s.requant.as_ref()) else { continue };
            if *name == model.quant_scheme {
                continue;
            }
            let mut v = model.clone();
            v.key = format!("{}@{name}", model.key);
            v.quant_scheme = name.clone();
            v.bytes_per_param = bpp;
            v.gguf_size_gb = model.total_params_b * bpp;
            v.size_gb_inflight = v.gguf_size_gb;
            v.compute_dtype = rq.compute_dtype.clone();
            v.measurement_alias = None;
            out.push(v);
        }
        out
    }
}

type Found = (Option<u64>, Option<Feasibility<'static>>, Option<Feasibility<'static>>);

/// The largest context whose check satisfies `ok`, with the checks at it and one past it.
/// `(None, None, Some(check at 0))`: not even an empty context; `(None, Some, None)`:
/// every context up to the search limit.
fn largest(
    check: &mut impl FnMut(u64) -> Result<Feasibility<'static>, EngineError>,
    ok: impl Fn(&Feasibility<'_>) -> bool,
) -> Result<Found, EngineError> {
    let f0 = check(0)?;
    if !ok(&f0) {
        return Ok((None, None, Some(f0)));
    }
    let (mut lo, mut lo_f) = (0u64, f0);
    let mut hi = 1024u64;
    let hi_f = loop {
        let f = check(hi)?;
        if !ok(&f) {
            break f;
        }
        if hi >= CONTEXT_SEARCH_LIMIT {
            return Ok((None, Some(f), None));
        }
        (lo, lo_f) = (hi, f);
        hi = hi.saturating_mul(2);
    };
    let mut hi_f = hi_f;
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        let f = check(mid)?;
        if ok(&f) {
            (lo, lo_f) = (mid, f);
        } else {
            (hi, hi_f) = (mid, f);
        }
    }
    Ok((Some(lo), Some(lo_f), Some(hi_f)))
}

/// The questions `plan` answers.
pub const QUESTIONS: [&str; 3] = ["max_context", "cheapest_tier", "models_for_tier"];

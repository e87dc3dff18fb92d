//! The `plan` batch operation (and `POST /v1/plan`): a JSON request read into the questions
//! of `crate::plan`, answered as JSON.

use crate::diagnostic::did_you_mean;
use crate::engine::Engine;
use crate::error::EngineError;
use crate::plan::{PlanAnswer, QUESTIONS, Targets};
use serde_json::{Map, Value};

type Obj = Map<String, Value>;

fn bad(m: impl Into<String>) -> EngineError {
    EngineError::BadRequest(m.into())
}

fn num(o: &Obj, k: &str) -> Result<Option<f64>, EngineError> {
    match o.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => Ok(n.as_f64()),
        Some(_) => Err(bad(format!("`{k}` must be a number"))),
    }
}

fn uint(o: &Obj, k: &str) -> Result<Option<u64>, EngineError> {
    match o.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => {
            n.as_u64().map(Some).ok_or_else(|| bad(format!("`{k}` must be a non-negative integer, found `{n}`")))
        }
        Some(_) => Err(bad(format!("`{k}` must be a non-negative integer"))),
    }
}

fn text<'o>(o: &'o Obj, k: &str) -> Result<Option<&'o str>, EngineError> {
    match o.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(bad(format!("`{k}` must be a string"))),
    }
}

fn flag(o: &Obj, k: &str, default: bool) -> Result<bool, EngineError> {
    match o.get(k) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(bad(format!("`{k}` must be a boolean"))),
    }
}

const FIELDS: [&str; 17] = [
    "op",
    "id",
    "question",
    "model",
    "hw",
    "min_decode_tok_s",
    "max_ttft_s",
    "min_prefill_tok_s",
    "confidence",
    "prompt_tokens",
    "decode_tokens",
    "workload",
    "workload_id",
    "cost",
    "memory_upgrades",
    "quants",
    "kv_cache_dtype",
];

/// Answers a plan request (`{"question": …, …}`, the `plan` batch operation and
/// `POST /v1/plan`) as JSON.
pub fn answer(engine: &Engine, o: &Obj) -> Result<Value, EngineError> {
    serde_json::to_value(plan(engine, o)?)
        .map_err(|e| EngineError::InvalidValue(format!("the plan cannot be written as JSON: {e}")))
}

/// Answers a plan request, typed (`ratchet plan` renders it).
pub fn plan(engine: &Engine, o: &Obj) -> Result<PlanAnswer, EngineError> {
    for k in o.keys() {
        if !FIELDS.contains(&k.as_str()) {
            let help = did_you_mean(k, FIELDS.iter().copied()).map(|h| format!(" ({h})")).unwrap_or_default();
            return Err(bad(format!("`plan` has no parameter `{k}`{help}")));
        }
    }
    let question =
        text(o, "question")?.ok_or_else(|| bad(format!("missing `question`; one of: {}", QUESTIONS.join(", "))))?;
    let targets = Targets {
        min_decode_tok_s: num(o, "min_decode_tok_s")?,
        max_ttft_s: num(o, "max_ttft_s")?,
        min_prefill_tok_s: num(o, "min_prefill_tok_s")?,
        confidence: text(o, "confidence")?.map(crate::plan::Confidence::parse).transpose()?.unwrap_or_default(),
    };
    let workload = text(o, "workload")?.or(text(o, "workload_id")?).unwrap_or("default");
    let mut setup = engine.workload_setup(workload, uint(o, "prompt_tokens")?, uint(o, "decode_tokens")?);
    setup.params.kv_cache_dtype = text(o, "kv_cache_dtype")?.map(str::to_string);
    match question {
        "max_context" => {
            let model = super::model_arg(engine, o.get("model"))?;
            let hw = super::tier_arg(engine, o.get("hw"))?;
            Ok(PlanAnswer::MaxContext(Box::new(engine.max_context(model.get(), hw.get(), &setup.params)?)))
        }
        "cheapest_tier" => {
            let model = super::model_arg(engine, o.get("model"))?;
            let cost = text(o, "cost")?.unwrap_or("tdp_watts");
            let upgrades = flag(o, "memory_upgrades", true)?;
            Ok(PlanAnswer::Tiers(Box::new(engine.cheapest_tier(model.get(), &targets, &setup, cost, upgrades)?)))
        }
        "models_for_tier" => {
            let hw = super::tier_arg(engine, o.get("hw"))?;
            let quants = flag(o, "quants", true)?;
            Ok(PlanAnswer::Models(Box::new(engine.models_for_tier(hw.get(), &targets, &setup, quants)?)))
        }
        other => {
            let help = did_you_mean(other, QUESTIONS.iter().copied()).map(|h| format!(" ({h})")).unwrap_or_default();
            Err(EngineError::UnknownKey(format!("unknown question `{other}`; one of: {}{help}", QUESTIONS.join(", "))))
        }
    }
}

//! The LLM family of requests (`project_llm`, `memory_feasibility`,
//! `kv_cache_bytes_per_token`, `ladder`): a line or an HTTP body is read once into a typed
//! `LlmRequest`, checked field by field with precise messages, then answered. The wire
//! schema of these requests is `crate::wire::BatchRequest`.

use super::{
    ModelArg, Obj, bad, check_fields, kind, model_arg, number, project_params, string, take, tier_arg, tokens,
};
use crate::engine::Engine;
use crate::error::EngineError;
use crate::ladder::RungSpec;
use crate::projection::{ProjectParams, Projection};
use crate::tier::variants::{MemorySpec, TierArg, TierForm};
use crate::wire;
use serde_json::Value;
use std::sync::LazyLock;

/// The fields each request of the family may have: its wire type's (`crate::wire`).
static PROJECT_FIELDS: LazyLock<Vec<String>> = LazyLock::new(wire::request_fields::<wire::ProjectLlmRequest>);
static FEASIBILITY_FIELDS: LazyLock<Vec<String>> =
    LazyLock::new(wire::request_fields::<wire::MemoryFeasibilityRequest>);
static KV_FIELDS: LazyLock<Vec<String>> = LazyLock::new(wire::request_fields::<wire::KvCacheRequest>);
static LADDER_FIELDS: LazyLock<Vec<String>> = LazyLock::new(wire::request_fields::<wire::LadderRequest>);

/// One request of the family, read and resolved.
pub enum LlmRequest<'e, 'o> {
    /// `project_llm`.
    Project(ProjectRequest<'e, 'o>),
    /// `memory_feasibility`.
    Feasibility {
        /// The model.
        model: ModelArg<'e>,
        /// The tier.
        hw: TierArg<'e>,
        /// Prompt + decode tokens of KV cache.
        context_tokens: u64,
        /// The KV cache's element type.
        params: ProjectParams,
    },
    /// `kv_cache_bytes_per_token`.
    KvCache {
        /// The model.
        model: ModelArg<'e>,
        /// Bytes per KV element (the rule set's default when absent).
        dtype_bytes: Option<f64>,
    },
    /// `ladder`.
    Ladder {
        /// The model.
        model: ModelArg<'e>,
        /// Workload id or pack workload name.
        workload: &'o str,
        /// Explicit token counts.
        prompt_tokens: Option<u64>,
        /// Explicit token counts.
        decode_tokens: Option<u64>,
        /// Which rungs.
        rungs: RungSpec,
        /// The KV cache's element type.
        kv_cache_dtype: Option<&'o str>,
    },
}

/// `project_llm`, read.
pub struct ProjectRequest<'e, 'o> {
    /// The model.
    pub model: ModelArg<'e>,
    /// The tier.
    pub hw: TierArg<'e>,
    /// Workload id.
    pub workload_id: &'o str,
    /// Token counts and options (ranges are checked where the engine reads them).
    pub params: ProjectParams,
    /// Go on to the private-anchor overlay.
    pub overlay: bool,
}

impl ProjectRequest<'_, '_> {
    /// The projection: the reference cascade, or with `overlay` the private-anchor overlay
    /// after it (as `ratchet project` and `POST /v1/project` do).
    pub fn project<'a>(&'a self, engine: &'a Engine) -> Result<Projection<'a>, EngineError> {
        let (m, t) = (self.model.get(), self.hw.get());
        if self.overlay {
            engine.project_llm_full(m, t, self.workload_id, &self.params, None, None)
        } else {
            engine.project_llm(m, t, self.workload_id, &self.params)
        }
    }
}

/// The `hw` parameter, under `runtime` when one is given: the tier form
/// `{"base": hw, "set": {"runtime": runtime}}`, so the tier takes its class's fit under that
/// runtime exactly as that form does everywhere else.
pub fn tier_under_runtime<'e>(
    engine: &'e Engine,
    hw: Option<&Value>,
    runtime: Option<&str>,
) -> Result<TierArg<'e>, EngineError> {
    match (hw, runtime) {
        (Some(hw), Some(r)) => tier_arg(engine, Some(&serde_json::json!({"base": hw, "set": {"runtime": r}}))),
        _ => tier_arg(engine, hw),
    }
}

fn flag(o: &Obj, k: &str) -> Result<bool, EngineError> {
    match take(o, k) {
        None => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(other) => Err(bad(format!("`{k}` must be a boolean, found {}", kind(other)))),
    }
}

impl<'e, 'o> LlmRequest<'e, 'o> {
    /// Reads `o` as the request `op` of this family (`None`: another family's op).
    pub fn read(engine: &'e Engine, op: &str, o: &'o Obj) -> Result<Option<Self>, EngineError> {
        Ok(Some(match op {
            "project_llm" => {
                check_fields(o, &PROJECT_FIELDS, op)?;
                let params = project_params(o)?;
                LlmRequest::Project(ProjectRequest {
                    model: model_arg(engine, take(o, "model"))?,
                    hw: tier_under_runtime(engine, take(o, "hw"), string(take(o, "runtime"), "runtime")?)?,
                    workload_id: string(take(o, "workload_id"), "workload_id")?.unwrap_or("default"),
                    params,
                    overlay: flag(o, "overlay_anchors")?,
                })
            }
            "memory_feasibility" => {
                check_fields(o, &FEASIBILITY_FIELDS, op)?;
                let context_tokens = tokens(take(o, "context_tokens"), "context_tokens")?
                    .ok_or_else(|| bad("missing `context_tokens` (a non-negative integer)"))?;
                let kv_cache_dtype = string(take(o, "kv_cache_dtype"), "kv_cache_dtype")?.map(str::to_string);
                LlmRequest::Feasibility {
                    model: model_arg(engine, take(o, "model"))?,
                    hw: tier_arg(engine, take(o, "hw"))?,
                    context_tokens,
                    params: ProjectParams { kv_cache_dtype, ..Default::default() },
                }
            }
            "kv_cache_bytes_per_token" => {
                check_fields(o, &KV_FIELDS, op)?;
                let dtype_bytes = number(take(o, "dtype_bytes"), "dtype_bytes")?;
                let dtype_bytes = match string(take(o, "kv_cache_dtype"), "kv_cache_dtype")? {
                    None => dtype_bytes,
                    Some(_) if dtype_bytes.is_some() => {
                        return Err(bad("give `dtype_bytes` or `kv_cache_dtype`, not both"));
                    }
                    Some(k) => Some(engine.kv_cache_element_bytes(k)?),
                };
                LlmRequest::KvCache { model: model_arg(engine, take(o, "model"))?, dtype_bytes }
            }
            "ladder" => {
                check_fields(o, &LADDER_FIELDS, op)?;
                let model = model_arg(engine, take(o, "model"))?;
                let workload = string(take(o, "workload").or(take(o, "workload_id")), "workload")?.unwrap_or("default");
                let memory: Vec<MemorySpec> = match take(o, "memory") {
                    None => Vec::new(),
                    Some(Value::Array(a)) => a
                        .iter()
                        .map(|m| match m {
                            Value::String(s) => TierForm::parse_memory(s),
                            other => {
                                Err(bad(format!("`memory` entries must be `TYPE@RATE` strings, found {}", kind(other))))
                            }
                        })
                        .collect::<Result<_, _>>()?,
                    Some(other) => return Err(bad(format!("`memory` must be a list, found {}", kind(other)))),
                };
                let rungs = RungSpec { memory, upgrades: flag(o, "memory_upgrades")? };
                LlmRequest::Ladder {
                    model,
                    workload,
                    prompt_tokens: tokens(take(o, "prompt_tokens"), "prompt_tokens")?,
                    decode_tokens: tokens(take(o, "decode_tokens"), "decode_tokens")?,
                    rungs,
                    kv_cache_dtype: string(take(o, "kv_cache_dtype"), "kv_cache_dtype")?,
                }
            }
            _ => return Ok(None),
        }))
    }

    /// The answer as the JSON of a result line.
    pub fn answer(&self, engine: &Engine) -> Result<Value, EngineError> {
        match self {
            LlmRequest::Project(r) => super::to_json(&r.project(engine)?),
            LlmRequest::Feasibility { model, hw, context_tokens, params } => {
                let f = engine.memory_feasibility_with(model.get(), hw.get(), *context_tokens, params)?;
                let mut v = super::to_json(&f)?;
                if let Value::Object(m) = &mut v {
                    m.insert("provenance".into(), super::to_json(engine.provenance())?);
                    m.insert("type".into(), Value::String("FeasibilityCheck".into()));
                }
                Ok(v)
            }
            LlmRequest::KvCache { model, dtype_bytes } => {
                Ok(super::scalar(Value::from(engine.kv_cache_bytes_per_token(model.get(), *dtype_bytes)?)))
            }
            LlmRequest::Ladder { model, workload, prompt_tokens, decode_tokens, rungs, kv_cache_dtype } => {
                let (rungs, warnings) = engine.ladder_rungs(rungs);
                let mut setup = engine.workload_setup(workload, *prompt_tokens, *decode_tokens);
                setup.params.kv_cache_dtype = kv_cache_dtype.map(str::to_string);
                let rows = engine.ladder(model.get(), &rungs, &setup)?;
                super::to_json(&crate::ladder::LadderAnswer {
                    model: model.get().key.clone(),
                    workload_id: setup.workload_id.clone(),
                    provenance: engine.provenance().clone(),
                    rows,
                    warnings,
                })
            }
        }
    }
}

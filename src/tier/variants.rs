//! Tier forms: everywhere a tier is named (CLI, batch, library) it may be a registry name,
//! a memory upgrade of a base, a custom tier from silicon-class defaults, a base with fields
//! set, or every field inline. Bases nest.

use crate::diagnostic::did_you_mean;
use crate::error::EngineError;
use crate::tier::custom::CustomTierParams;
use crate::tier::defaults::TierDefaults;
use crate::tier::{Tier, TierSpec};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::sync::Arc;

/// A memory upgrade: the same bus at another memory technology and data rate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MemorySpec {
    /// Memory technology, e.g. `LPDDR6`.
    pub mem_type: String,
    /// Data rate, GT/s.
    pub mem_data_rate_gtps: f64,
    /// Name suffix; default `"<type> @ <rate> GT/s"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_suffix: Option<String>,
}

/// How a tier is named in a request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum TierForm {
    /// A registry tier.
    Name(String),
    /// A custom tier built from silicon-class defaults.
    Custom {
        /// `make_custom_tier` parameters.
        custom: Box<CustomTierParams>,
    },
    /// A memory upgrade of a base tier.
    Memory {
        /// The base (any form).
        base: Box<TierForm>,
        /// The new memory.
        memory: MemorySpec,
    },
    /// A base tier with fields replaced (overrides and attachments such as `measured_llm`).
    Set {
        /// The base (any form).
        base: Box<TierForm>,
        /// Field → value, as in a tier file.
        set: Map<String, Value>,
    },
    /// Every field inline.
    Inline(Box<TierSpec>),
}

/// A tier resolved for one request: borrowed from the registry or built for it.
pub enum TierArg<'e> {
    /// From the registry.
    Registry(&'e Arc<Tier>),
    /// Built for this request.
    Inline(Box<Tier>),
}

impl TierArg<'_> {
    /// The tier.
    pub fn get(&self) -> &Tier {
        match self {
            TierArg::Registry(t) => t,
            TierArg::Inline(t) => t,
        }
    }

    /// An owned copy.
    pub fn into_owned(self) -> Tier {
        match self {
            TierArg::Registry(t) => Tier::clone(t),
            TierArg::Inline(t) => *t,
        }
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

pub(crate) fn serde_msg(e: &serde_path_to_error::Error<serde_json::Error>) -> String {
    let s = e.inner().to_string();
    let s = s.split(" at line ").next().unwrap_or(&s).to_string();
    if e.path().to_string() == "." { s } else { format!("`{}`: {s}", e.path()) }
}

impl TierForm {
    /// Reads a tier form from JSON, with precise errors; an inline tier's omitted constants
    /// come from `defaults` (the registry's).
    pub fn from_json(v: &Value, defaults: &TierDefaults) -> Result<TierForm, EngineError> {
        match v {
            Value::String(s) => Ok(TierForm::Name(s.clone())),
            Value::Object(o) => {
                let has = |k: &str| o.contains_key(k);
                if has("custom") {
                    if o.len() != 1 {
                        return Err(EngineError::BadRequest(
                            "a custom tier is `{\"custom\": {...}}` with nothing beside it".into(),
                        ));
                    }
                    let p: CustomTierParams = serde_path_to_error::deserialize(o["custom"].clone())
                        .map_err(|e| EngineError::BadRequest(format!("custom tier: {}", serde_msg(&e))))?;
                    return Ok(TierForm::Custom { custom: Box::new(p) });
                }
                if has("base") {
                    let base = Box::new(TierForm::from_json(&o["base"], defaults)?);
                    for k in o.keys() {
                        if !["base", "memory", "set"].contains(&k.as_str()) {
                            let help = did_you_mean(k, ["base", "memory", "set"])
                                .map(|h| format!(" ({h})"))
                                .unwrap_or_default();
                            return Err(EngineError::BadRequest(format!("a tier variant has no field `{k}`{help}")));
                        }
                    }
                    return match (o.get("memory"), o.get("set")) {
                        (Some(m), None) => {
                            let memory: MemorySpec = serde_path_to_error::deserialize(m.clone())
                                .map_err(|e| EngineError::BadRequest(format!("memory upgrade: {}", serde_msg(&e))))?;
                            Ok(TierForm::Memory { base, memory })
                        }
                        (None, Some(Value::Object(set))) => Ok(TierForm::Set { base, set: set.clone() }),
                        (None, Some(other)) => Err(EngineError::BadRequest(format!(
                            "`set` must be an object of tier fields, found {}",
                            kind(other)
                        ))),
                        (Some(_), Some(_)) => Err(EngineError::BadRequest(
                            "give either `memory` or `set` with a `base`; nest bases to combine them".into(),
                        )),
                        (None, None) => Err(EngineError::BadRequest("a `base` needs a `memory` or a `set`".into())),
                    };
                }
                let spec: TierSpec = crate::tier::defaults::spec_from_json(v.clone(), defaults)
                    .map_err(|e| EngineError::BadRequest(format!("inline tier: {}", serde_msg(&e))))?;
                Ok(TierForm::Inline(Box::new(spec)))
            }
            other => Err(EngineError::BadRequest(format!("a tier must be a name or an object, found {}", kind(other)))),
        }
    }

    /// Parses `TYPE@RATE[:SUFFIX]` (the CLI's `--memory`).
    pub fn parse_memory(s: &str) -> Result<MemorySpec, EngineError> {
        let (main, suffix) = match s.split_once(':') {
            Some((m, suf)) => (m, Some(suf.to_string())),
            None => (s, None),
        };
        let Some((t, r)) = main.split_once('@') else {
            return Err(EngineError::BadRequest(format!("`{s}` is not `TYPE@RATE[:SUFFIX]` (e.g. `LPDDR6@14`)")));
        };
        let rate: f64 = r.trim().parse().ok().filter(|x: &f64| x.is_finite() && *x > 0.0).ok_or_else(|| {
            EngineError::InvalidValue(format!("the data rate `{r}` in `{s}` must be a positive number of GT/s"))
        })?;
        Ok(MemorySpec { mem_type: t.trim().to_string(), mem_data_rate_gtps: rate, name_suffix: suffix })
    }
}

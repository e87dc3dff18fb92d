//! Tier forms: everywhere a tier is named (CLI, batch, library) it may be a registry name,
//! a memory upgrade of a base, a custom tier from silicon-class defaults, a base with fields
//! set, or every field inline. Bases nest.

use crate::diagnostic::did_you_mean;
use crate::engine::Engine;
use crate::error::EngineError;
use crate::rules::inputs::{Inputs, RecVal};
use crate::tier::custom::{CustomTierParams, make_custom_tier};
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

fn serde_msg(e: &serde_path_to_error::Error<serde_json::Error>) -> String {
    let s = e.inner().to_string();
    let s = s.split(" at line ").next().unwrap_or(&s).to_string();
    if e.path().to_string() == "." { s } else { format!("`{}`: {s}", e.path()) }
}

impl TierForm {
    /// Reads a tier form from JSON, with precise errors.
    pub fn from_json(v: &Value) -> Result<TierForm, EngineError> {
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
                    let base = Box::new(TierForm::from_json(&o["base"])?);
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
                let spec: TierSpec = serde_path_to_error::deserialize(v.clone())
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

impl Engine {
    /// Checks a tier built for a request and resolves its capability table.
    fn finish_tier(&self, spec: TierSpec) -> Result<Tier, EngineError> {
        if let Some(d) = self.registry().check_tier(&spec).into_iter().find(|d| d.is_error()) {
            return Err(EngineError::InvalidValue(format!("tier `{}`: {}", spec.name, d.message)));
        }
        Ok(self.registry().resolve_tier(spec))
    }

    /// Resolves any tier form.
    pub fn resolve_tier_form(&self, form: &TierForm) -> Result<TierArg<'_>, EngineError> {
        match form {
            TierForm::Name(n) => self.tier(n).map(TierArg::Registry),
            TierForm::Inline(spec) => Ok(TierArg::Inline(Box::new(self.finish_tier((**spec).clone())?))),
            TierForm::Custom { custom } => {
                let spec =
                    make_custom_tier(custom, self.registry().silicon_classes(), self.registry().precision_sets())?;
                Ok(TierArg::Inline(Box::new(self.finish_tier(spec)?)))
            }
            TierForm::Memory { base, memory } => {
                let b = self.resolve_tier_form(base)?;
                Ok(TierArg::Inline(Box::new(self.with_memory(b.get(), memory)?)))
            }
            TierForm::Set { base, set } => {
                let b = self.resolve_tier_form(base)?;
                let mut v = serde_json::to_value(b.get().to_full_spec())
                    .map_err(|e| EngineError::InvalidValue(format!("cannot copy the base tier: {e}")))?;
                if let Value::Object(m) = &mut v {
                    if set.contains_key("capability_table") {
                        m.remove("capability_levels");
                    }
                    for (k, x) in set {
                        m.insert(k.clone(), x.clone());
                    }
                }
                let spec: TierSpec = serde_path_to_error::deserialize(v).map_err(|e| {
                    let help = match e.inner().to_string().split('`').nth(1) {
                        Some(field) => {
                            let fields = crate::schema::cached_schema(crate::schema::FileKind::Tier);
                            let names: Vec<String> = fields["properties"]
                                .as_object()
                                .map(|p| p.keys().cloned().collect())
                                .unwrap_or_default();
                            did_you_mean(field, names.iter().map(String::as_str))
                                .map(|h| format!(" ({h})"))
                                .unwrap_or_default()
                        }
                        None => String::new(),
                    };
                    EngineError::BadRequest(format!("`set`: {}{help}", serde_msg(&e)))
                })?;
                Ok(TierArg::Inline(Box::new(self.finish_tier(spec)?)))
            }
        }
    }

    /// Resolves a tier form given as JSON.
    pub fn tier_from_json(&self, v: &Value) -> Result<TierArg<'_>, EngineError> {
        self.resolve_tier_form(&TierForm::from_json(v)?)
    }

    /// `hw_with_memory`: a memory-upgrade clone. Bandwidth, name and the decode-override
    /// scale come from the rule set's `memory_upgrade` step; the clone keeps its stock
    /// identity (name and bandwidth of the original stock tier), scales decode overrides,
    /// holds prefill overrides, and is marked `bw_projected`.
    pub fn with_memory(&self, base: &Tier, m: &MemorySpec) -> Result<Tier, EngineError> {
        if !m.mem_data_rate_gtps.is_finite() {
            return Err(EngineError::InvalidValue("`mem_data_rate_gtps` must be a finite number".into()));
        }
        let rec = [
            RecVal::Str(&m.mem_type),
            RecVal::Num(m.mem_data_rate_gtps),
            m.name_suffix.as_deref().map_or(RecVal::Absent, RecVal::Str),
        ];
        let inp = Inputs { hw: Some(base), record: &rec, ..Default::default() };
        let out = self.run_entry("memory_upgrade", &inp)?;
        let (name, bw, scale) = (out[0].str().to_string(), out[1].num(), out[2].num());
        if !bw.is_finite() || !scale.is_finite() {
            return Err(EngineError::InvalidValue(format!(
                "the memory upgrade of `{}` gives a bandwidth or scale that is not finite",
                base.name()
            )));
        }
        let b = &base.spec;
        let mut spec = b.clone();
        spec.schema_version = None;
        spec.name = name;
        spec.mem_type = m.mem_type.clone();
        spec.mem_data_rate_gtps = m.mem_data_rate_gtps;
        spec.mem_bandwidth_gbs = bw;
        spec.bw_projected = true;
        spec.stock_name = Some(b.stock_name.clone().filter(|s| !s.is_empty()).unwrap_or_else(|| b.name.clone()));
        spec.stock_mem_bandwidth_gbs = Some(b.stock_mem_bandwidth_gbs.unwrap_or(b.mem_bandwidth_gbs));
        spec.measured_decode_overrides = b
            .measured_decode_overrides
            .as_ref()
            .filter(|o| !o.is_empty())
            .map(|o| o.iter().map(|(k, v)| (k.clone(), v * scale)).collect());
        Ok(Tier { spec, capability: base.capability.clone(), registry_slot: None })
    }
}

//! The reference API's other functions as batch operations (tiers, anchors, perception,
//! workload patterns, calibration labels) and the rule set's own operations, whose
//! arguments come from their declared signatures.

use super::*;

/// The spec key of a model under an optional `spec_key_map` (absent: identity; a map: its
/// entry, none when missing).
fn spec_key<'a>(map: Option<&'a Value>, key: &'a str) -> Result<Option<&'a str>, EngineError> {
    match map {
        None => Ok(Some(key)),
        Some(Value::Object(m)) => match m.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(other) => Err(bad(format!("`spec_key_map.{key}` must be a string, found {}", kind(other)))),
        },
        Some(other) => Err(bad(format!("`spec_key_map` must be an object, found {}", kind(other)))),
    }
}

fn anchors_required(engine: &Engine) -> Option<&crate::anchors::AnchorFile> {
    engine.anchors()
}

/// The reference API's other functions (`None`: not one of them).
pub(super) fn answer(engine: &Engine, op: &str, o: &Obj) -> Result<Option<Value>, EngineError> {
    use crate::engine::ResultIn;
    let v = match op {
        "resolve_tier" => {
            check_fields(o, &["op", "id", "hw"], op)?;
            let t = tier_arg(engine, take(o, "hw"))?;
            to_json(&t.get().to_full_spec())?
        }
        "make_custom_tier" => {
            let mut p = o.clone();
            p.remove("op");
            p.remove("id");
            let t = engine.tier_from_json(&serde_json::json!({ "custom": Value::Object(p) }))?;
            to_json(&t.get().to_full_spec())?
        }
        "hw_to_anchor_tier_precision" => {
            check_fields(o, &["op", "id", "hw", "capability_key"], op)?;
            let t = tier_arg(engine, take(o, "hw"))?;
            let key = str_arg(o, "capability_key")?;
            scalar(match engine.registry().anchor_routes().route(t.get().lookup_name(), key) {
                Some((a, b)) => serde_json::json!([a, b]),
                None => Value::Null,
            })
        }
        "get_perception_anchor" => {
            check_fields(o, &["op", "id", "hw", "workload_class"], op)?;
            let t = tier_arg(engine, take(o, "hw"))?;
            scalar(to_json(&t.get().perception_anchor(str_arg(o, "workload_class")?))?)
        }
        "calibration_source" => {
            check_fields(o, &["op", "id", "method", "reference", "confidence"], op)?;
            let c = crate::tier::CalibrationSource::new(
                str_arg(o, "method")?,
                str_arg(o, "reference")?,
                str_arg(o, "confidence")?,
            )?;
            to_json(&c)?
        }
        "lookup_model" => {
            check_fields(o, &["op", "id", "key"], op)?;
            scalar(to_json(&engine.registry().model(str_arg(o, "key")?).map(|m| m.as_ref()))?)
        }
        "load_llm_anchor" | "load_cnn_anchor" => {
            let defaults = &engine.registry().anchor_routes().field_defaults;
            let key = if op == "load_llm_anchor" { "model_key" } else { "cnn_key" };
            check_fields(o, &["op", "id", "tier", "precision", key], op)?;
            let (t, p, k) = (str_arg(o, "tier")?, str_arg(o, "precision")?, str_arg(o, key)?);
            scalar(match anchors_required(engine) {
                None => Value::Null,
                Some(f) if op == "load_llm_anchor" => to_json(&f.llm(t, p, k, defaults)?)?,
                Some(f) => to_json(&f.cnn(t, p, k, defaults)?)?,
            })
        }
        "llm_anchor_methods" | "cnn_anchor_methods" => {
            let defaults = &engine.registry().anchor_routes().field_defaults;
            let llm = op == "llm_anchor_methods";
            let key = if llm { "model_key" } else { "cnn_key" };
            check_fields(o, &["op", "id", "tier", "precision", key, "anchor", "share_override"], op)?;
            let share = number(take(o, "share_override"), "share_override")?;
            let derived = if llm {
                let a: Option<crate::anchors::LlmAnchor> = match take(o, "anchor") {
                    Some(v) => Some(parse_anchor_llm(v, defaults)?),
                    None => match anchors_required(engine) {
                        Some(f) => f.llm(str_arg(o, "tier")?, str_arg(o, "precision")?, str_arg(o, key)?, defaults)?,
                        None => None,
                    },
                };
                a.map(|a| engine.llm_anchor_derived(&a, share)).transpose()?
            } else {
                let a = match take(o, "anchor") {
                    Some(v) => Some(parse_anchor_cnn(v, defaults)?),
                    None => match anchors_required(engine) {
                        Some(f) => f.cnn(str_arg(o, "tier")?, str_arg(o, "precision")?, str_arg(o, key)?, defaults)?,
                        None => None,
                    },
                };
                a.map(|a| engine.cnn_anchor_derived(&a, share)).transpose()?
            };
            scalar(to_json(&derived)?)
        }
        "overlay_llm_anchor" => {
            check_fields(o, &["op", "id", "result", "hw", "model", "spec_key_map", "decode_mult", "ttft_mult"], op)?;
            let result = take(o, "result").ok_or_else(|| bad("missing `result` (a `Projected` result)"))?;
            let model = model_arg(engine, take(o, "model"))?;
            let tier = tier_arg(engine, take(o, "hw"))?;
            let rkey = result.get("model_key").and_then(Value::as_str).unwrap_or(&model.get().key);
            let key = spec_key(take(o, "spec_key_map"), rkey)?;
            let dm = number(take(o, "decode_mult"), "decode_mult")?.unwrap_or(1.0);
            let tm = number(take(o, "ttft_mult"), "ttft_mult")?.unwrap_or(1.0);
            let mut out = strip_type_tags(result);
            if let (Some(ov), Value::Object(m)) =
                (engine.overlay_anchor(ResultIn::Json(result), tier.get(), model.get(), key, dm, tm)?, &mut out)
            {
                ov.changes.apply_json(m);
                m.insert("source".into(), Value::String(ov.source.clone()));
                m.insert("silicon_anchor_meta".into(), to_json(&ov.meta)?);
                if let Some(b) = engine.registry().badges().projection_sources.get(&ov.source) {
                    m.insert("badge".into(), Value::String(b.clone()));
                }
            }
            out
        }
        "apply_workload_pattern" => {
            check_fields(o, &["op", "id", "result", "multipliers"], op)?;
            let result = take(o, "result").ok_or_else(|| bad("missing `result` (a `Projected` result)"))?;
            let m: crate::workload::WorkloadPattern = parse(take(o, "multipliers"), "multipliers")?;
            let p = engine.apply_workload_pattern(ResultIn::Json(result), &m)?;
            let mut out = strip_type_tags(result);
            if let Value::Object(map) = &mut out {
                p.changes.apply_json(map);
                put_numbers(map, &[("base_decode_pre_multiplier", p.base_decode_pre_multiplier)])?;
            }
            out
        }
        "project_frame_latency" => {
            check_fields(o, &["op", "id", "baseline", "speedup"], op)?;
            let b: crate::tier::LatencyDistribution = parse(take(o, "baseline"), "baseline")?;
            to_json(&engine.project_frame_latency(&b, num_arg(o, "speedup")?)?)?
        }
        "project_solver_convergence" => {
            check_fields(o, &["op", "id", "anchor", "speedup"], op)?;
            let a: crate::tier::SolverConvergenceAnchor = parse(take(o, "anchor"), "anchor")?;
            to_json(&engine.project_solver_convergence(&a, num_arg(o, "speedup")?)?)?
        }
        _ => return Ok(None),
    };
    Ok(Some(v))
}

/// The fields of an anchor given in a request, read with the registry's defaults.
struct AnchorFields<'v> {
    v: Value,
    defaults: &'v AnchorFieldDefaults,
}

impl AnchorFields<'_> {
    fn num(&self, k: &str) -> Result<f64, EngineError> {
        self.v.get(k).and_then(Value::as_f64).ok_or_else(|| bad(format!("`anchor.{k}` must be a number")))
    }

    /// A field that may be left out (then `d`); present, it must be a number.
    fn num_or(&self, k: &str, d: f64) -> Result<f64, EngineError> {
        match self.v.get(k) {
            None | Some(Value::Null) => Ok(d),
            Some(_) => self.num(k),
        }
    }

    fn text(&self, k: &str) -> String {
        self.v.get(k).and_then(Value::as_str).unwrap_or("").to_string()
    }

    fn share(&self) -> Result<f64, EngineError> {
        self.num_or("bw_share_frac", self.defaults.bw_share_frac)
    }

    fn efficiency(&self) -> Result<f64, EngineError> {
        self.num_or("bw_efficiency_frac", self.defaults.bw_efficiency_frac)
    }
}

fn parse_anchor_cnn(v: &Value, defaults: &AnchorFieldDefaults) -> Result<crate::anchors::CnnAnchor, EngineError> {
    let a = AnchorFields { v: strip_type_tags(v), defaults };
    Ok(crate::anchors::CnnAnchor {
        ms_per_inference: a.num("ms_per_inference")?,
        fps: a.num_or("fps", 0.0)?,
        mem_mb: a.num_or("mem_mb", 0.0)?,
        input_res: a.text("input_res"),
        source: a.text("source"),
        measured_date: a.text("measured_date"),
        peak_bw_gbps: a.num_or("peak_bw_gbps", 0.0)?,
        bw_share_frac: a.share()?,
        bw_efficiency_frac: a.efficiency()?,
        notes: a.text("notes"),
    })
}

fn parse_anchor_llm(v: &Value, defaults: &AnchorFieldDefaults) -> Result<crate::anchors::LlmAnchor, EngineError> {
    let a = AnchorFields { v: strip_type_tags(v), defaults };
    Ok(crate::anchors::LlmAnchor {
        tokps: a.num("tokps")?,
        prefill_tokps: a.num_or("prefill_tokps", 0.0)?,
        mem_gb: a.num_or("mem_gb", 0.0)?,
        // a whole number of tokens; a float is truncated, as the reference's `int()` does
        seqlen: a.num_or("seqlen", 0.0)?.trunc() as i64,
        source: a.text("source"),
        measured_date: a.text("measured_date"),
        peak_bw_gbps: a.num_or("peak_bw_gbps", 0.0)?,
        bw_share_frac: a.share()?,
        bw_efficiency_frac: a.efficiency()?,
        notes: a.text("notes"),
    })
}

/// A rule-set operation: arguments parsed from its declared signature.
pub(super) fn rule_operation(engine: &Engine, name: &str, o: &Obj) -> Result<Value, EngineError> {
    let op = engine.operation(name).map_err(|_| {
        let mut known: Vec<&str> = OPS.to_vec();
        known.extend(sizing_ops::OPS.iter().copied());
        known.extend(engine.rule_set().operations.keys().map(String::as_str));
        let help = did_you_mean(name, known.iter().copied()).map(|h| format!(" ({h})")).unwrap_or_default();
        EngineError::UnknownKey(format!("unknown op `{name}`{help}"))
    })?;
    let mut allowed: Vec<&str> = vec!["op", "id"];
    if op.uses_hw {
        allowed.push("hw");
    }
    if op.uses_model {
        allowed.push("model");
    }
    allowed.extend(op.args.iter().map(|a| a.0.as_str()));
    check_fields(o, &allowed, name)?;
    let tier = if op.uses_hw { Some(tier_arg(engine, take(o, "hw"))?) } else { None };
    let model = if op.uses_model { Some(model_arg(engine, take(o, "model"))?) } else { None };
    let mut args = Vec::new();
    for (a, ty, optional) in &op.args {
        let v = take(o, a);
        let rv = match (v, ty) {
            (None, _) if *optional => crate::rules::inputs::RecVal::Absent,
            (None, _) => return Err(bad(format!("missing `{a}` ({})", ty.name()))),
            (Some(Value::String(s)), crate::rules::inputs::Ty::Str) => crate::rules::inputs::RecVal::Str(s),
            (Some(Value::Number(n)), crate::rules::inputs::Ty::Num) => crate::rules::inputs::RecVal::Num(
                n.as_f64()
                    .filter(|x| x.is_finite())
                    .ok_or_else(|| EngineError::InvalidValue(format!("`{a}` must be finite")))?,
            ),
            (Some(Value::Bool(b)), crate::rules::inputs::Ty::Bool) => {
                crate::rules::inputs::RecVal::Num(f64::from(u8::from(*b)))
            }
            (Some(other), ty) => return Err(bad(format!("`{a}` must be a {}, found {}", ty.name(), kind(other)))),
        };
        args.push(rv);
    }
    let r = engine.run_operation(name, tier.as_ref().map(|t| t.get()), model.as_ref().map(|m| m.get()), &args)?;
    Ok(scalar(r.to_json()))
}

/// Writes named numbers over a result object's fields (the reference writes its floats
/// through the same JSON conversion as every other answer).
fn put_numbers(m: &mut serde_json::Map<String, Value>, fields: &[(&str, f64)]) -> Result<(), EngineError> {
    for (k, x) in fields {
        m.insert((*k).into(), to_json(x)?);
    }
    Ok(())
}

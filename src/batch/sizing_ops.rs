//! The sizing operations of the reference API over JSON (batch requests, the service, the
//! Python package) — a surface over `sizing`, `pack` and `whatif`:
//! `evaluate_budget`, `chip_summary`, `llm_demand`, `eff_tops`, the built-in KPI groups,
//! slider helpers and the what-if runner. Arguments take the reference parameter names.

use crate::engine::Engine;
use crate::error::EngineError;
use crate::expr::vm::Regs;
use crate::pack::PackState;
use crate::sizing::formula::{Describe, JsonEnv, Strings, Val};
use crate::sizing::{RowTexts, SizingModel, num};
use crate::whatif::{Runner, WhatifError, overrides_from_json, overrides_json};
use serde_json::{Map, Value, json};
use std::sync::Arc;

type Obj = Map<String, Value>;

/// The sizing operations, for `op` lists and suggestions.
pub const OPS: &[&str] = &[
    "evaluate_budget",
    "chip_summary",
    "llm_demand",
    "eff_tops",
    "npu_kpis",
    "cpu_kpis",
    "vpu_pixel_rate_kpi",
    "memory_bw_kpi",
    "memory_capacity_kpi",
    "kpi_group",
    "kpi_emoji",
    "sliders",
    "sizing_doc",
    "slider_clamp",
    "default_values",
    "slider_categories",
    "apply_sliders",
    "set_path",
    "scale_path",
    "whatif_point",
    "whatif_sweep",
    "whatif_pareto",
];

fn bad(m: impl Into<String>) -> EngineError {
    EngineError::BadRequest(m.into())
}

/// An error of the reference's exception class `kind` as the engine's error.
fn by_kind(kind: &str, message: String) -> EngineError {
    match kind {
        "KeyError" => EngineError::UnknownKey(message),
        "TypeError" => EngineError::WrongType(message),
        "ZeroDivisionError" => EngineError::DivisionByZero(message),
        _ => EngineError::InvalidValue(message),
    }
}

fn from_whatif(e: WhatifError) -> EngineError {
    by_kind(e.kind, e.message)
}

/// A formula's evaluation error, of the exception class the reference raises.
fn from_eval(e: &crate::sizing::formula::EvalError, layout: &crate::sizing::formula::Layout) -> EngineError {
    by_kind(e.kind(), e.message(layout))
}

fn get<'v>(o: &'v Obj, k: &str) -> Option<&'v Value> {
    o.get(k).filter(|v| !v.is_null())
}

fn req<'v>(o: &'v Obj, k: &str) -> Result<&'v Value, EngineError> {
    get(o, k).ok_or_else(|| bad(format!("missing `{k}`")))
}

fn f64_arg(o: &Obj, k: &str) -> Result<f64, EngineError> {
    req(o, k)?.as_f64().filter(|x| x.is_finite()).ok_or_else(|| bad(format!("`{k}` must be a finite number")))
}

fn str_arg<'v>(o: &'v Obj, k: &str) -> Result<&'v str, EngineError> {
    req(o, k)?.as_str().ok_or_else(|| bad(format!("`{k}` must be a string")))
}

fn usize_arg(o: &Obj, k: &str) -> Result<usize, EngineError> {
    let v = req(o, k)?;
    v.as_u64()
        .and_then(|x| usize::try_from(x).ok())
        .filter(|x| *x <= 10_000_000)
        .ok_or_else(|| EngineError::InvalidValue(format!("`{k}` must be a whole number from 0 to 10000000, got `{v}`")))
}

fn notes_arg(o: &Obj) -> Result<Option<Vec<String>>, EngineError> {
    match get(o, "notes") {
        None => Ok(None),
        Some(Value::Array(a)) => a
            .iter()
            .map(|n| n.as_str().map(str::to_string).ok_or_else(|| bad("`notes` must be a list of strings")))
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(bad("`notes` must be a list of strings")),
    }
}

fn object<'v>(o: &'v Obj, k: &str) -> Result<&'v Value, EngineError> {
    let v = req(o, k)?;
    if v.is_object() { Ok(v) } else { Err(bad(format!("`{k}` must be an object"))) }
}

fn strip(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter().filter(|(k, _)| k.as_str() != "__type__").map(|(k, x)| (k.clone(), strip(x))).collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(strip).collect()),
        other => other.clone(),
    }
}

fn pack_of(engine: &Engine, o: &Obj) -> Result<Arc<PackState>, EngineError> {
    let p = match get(o, "pack") {
        None => None,
        Some(Value::String(s)) => Some(s.as_str()),
        Some(_) => return Err(bad("`pack` must be a pack directory or a shipped pack name")),
    };
    engine.sizing_pack(p)
}

/// A KPI group over a profile and reference `SubsystemDemand` objects.
fn group(m: &SizingModel, name: &str, profile: &Value, demands: &[Value]) -> Result<Vec<Value>, EngineError> {
    let which = m.groups.get(name).ok_or_else(|| {
        let help = crate::diagnostic::did_you_mean(name, m.groups.keys().map(String::as_str))
            .map(|h| format!(" ({h})"))
            .unwrap_or_default();
        EngineError::UnknownKey(format!("no KPI group `{name}` in the sizing model{help}"))
    })?;
    let mut sc = m.scratch();
    let texts = m.load_demands(demands, &mut sc).map_err(bad)?;
    let empty = Value::Object(Map::new());
    let env = JsonEnv { profile, workload: &empty };
    m.run_kpis(which, &env, &mut sc).map_err(|e| from_eval(&e, &m.layout))?;
    Ok(sc.kpis.iter().map(|k| m.kpi_json(k, &texts, &sc.strings)).collect())
}

fn one(mut v: Vec<Value>, what: &str) -> Result<Value, EngineError> {
    if v.is_empty() {
        return Err(EngineError::InvalidValue(format!("KPI group `{what}` produced no KPI")));
    }
    Ok(v.swap_remove(0))
}

/// The pack's profile (`k` = `profile`) or workload called `name`, as a map.
fn named_doc(p: &PackState, k: &str, name: &str) -> Result<Value, EngineError> {
    let list = if k == "profile" { &p.sizing.profiles } else { &p.sizing.workloads };
    list.iter().find(|d| d.name == name).map(|d| d.json.clone()).ok_or_else(|| {
        let help = crate::diagnostic::did_you_mean(name, list.iter().map(|d| d.name.as_str()))
            .map(|h| format!(" ({h})"))
            .unwrap_or_default();
        EngineError::UnknownKey(format!("unknown {k} `{name}`{help}"))
    })
}

fn doc_arg(p: &PackState, o: &Obj, k: &str) -> Result<Value, EngineError> {
    match req(o, k)? {
        Value::String(name) => named_doc(p, k, name),
        v @ Value::Object(_) => Ok(strip(v)),
        _ => Err(bad(format!("`{k}` must be a name or an object"))),
    }
}

/// Answers a sizing operation, or `None` when `op` is not one.
pub fn answer(engine: &Engine, op: &str, o: &Obj) -> Result<Option<Value>, EngineError> {
    if !OPS.contains(&op) {
        return Ok(None);
    }
    let pack = pack_of(engine, o)?;
    let m = pack.sizing.as_ref();
    let v = match op {
        "evaluate_budget" => evaluate_budget(m, o)?,
        "chip_summary" => {
            let kpis = req(o, "kpis")?.as_array().ok_or_else(|| bad("`kpis` must be a list of KPI results"))?;
            SizingModel::summary_json(&kpis.iter().map(strip).collect::<Vec<_>>())
        }
        "llm_demand" => llm_demand(&pack, o)?,
        "eff_tops" => {
            let npu = object(o, "profile_npu")?;
            let precision = str_arg(o, "precision")?;
            let profile = json!({ "npu": strip(npu) });
            let empty = Value::Object(Map::new());
            let mut strings = m.strings.clone();
            let id = strings.intern(precision);
            // an unknown precision gets a fresh id, which no table or literal matches
            let v = m
                .call("eff_tops", &[Val::Str(id)], &JsonEnv { profile: &profile, workload: &empty }, Some(&strings))
                .map_err(EngineError::InvalidValue)?;
            match v {
                Val::Num(x) => num(x),
                _ => return Err(EngineError::InvalidValue("`eff_tops` did not produce a number".into())),
            }
        }
        "npu_kpis" | "cpu_kpis" | "memory_bw_kpi" | "memory_capacity_kpi" | "kpi_group" => {
            let profile = doc_arg(&pack, o, "profile")?;
            let demands: Vec<Value> = match get(o, "demands") {
                None => Vec::new(),
                Some(Value::Array(a)) => a.iter().map(strip).collect(),
                Some(_) => return Err(bad("`demands` must be a list of SubsystemDemand objects")),
            };
            let g = match op {
                "npu_kpis" => "npu",
                "cpu_kpis" => "cpu",
                "memory_bw_kpi" => "memory_bw",
                "memory_capacity_kpi" => "memory_capacity",
                _ => str_arg(o, "group")?,
            };
            let list = group(m, g, &profile, &demands)?;
            if op.ends_with("_kpi") { one(list, g)? } else { Value::Array(list) }
        }
        "vpu_pixel_rate_kpi" => {
            let vpu = object(o, "profile_vpu")?;
            let total = f64_arg(o, "total_mpix_per_sec")?;
            let mut profile = json!({ "vpu": strip(vpu) });
            if get(o, "headroom_pct").is_some() {
                profile["headroom_pct"] = json!({ "vpu": num(f64_arg(o, "headroom_pct")?) });
            }
            let demands =
                vec![json!({ "name": "encode", "target_engine": "vpu", "metrics": { "mpix_per_sec": num(total) } })];
            let mut v = one(group(m, "vpu", &profile, &demands)?, "vpu")?;
            if let Some(n) = notes_arg(o)? {
                v["notes"] = json!(n);
            }
            v
        }
        "kpi_emoji" => {
            let status = str_arg(o, "status")?;
            Value::String(
                m.budget
                    .as_ref()
                    .map(|b| b.emoji.get(status).cloned().unwrap_or_else(|| b.other_emoji.clone()))
                    .unwrap_or_default(),
            )
        }
        "sliders" => Value::Array(
            m.sliders
                .iter()
                .map(|s| serde_json::to_value(&s.def).map_err(|e| bad(format!("slider `{}`: {e}", s.def.name))))
                .collect::<Result<Vec<_>, _>>()?,
        ),
        "sizing_doc" => {
            let k = match str_arg(o, "kind")? {
                "profile" => "profile",
                "workload" => "workload",
                other => return Err(bad(format!("`kind` must be `profile` or `workload`, got `{other}`"))),
            };
            named_doc(&pack, k, str_arg(o, "name")?)?
        }
        "slider_clamp" => {
            let name = str_arg(o, "slider")?;
            let s = m.slider(name).ok_or_else(|| EngineError::UnknownKey(format!("Unknown slider: {name}")))?;
            num(m.sliders[s].clamp(f64_arg(o, "value")?))
        }
        "default_values" => {
            let mut out = Map::new();
            for s in &m.sliders {
                out.insert(s.def.name.clone(), num(s.def.default));
            }
            Value::Object(out)
        }
        "slider_categories" => {
            let mut out: Map<String, Value> = Map::new();
            for s in &m.sliders {
                let e = out.entry(s.def.category.clone()).or_insert_with(|| Value::Array(Vec::new()));
                if let Value::Array(a) = e {
                    a.push(Value::String(s.def.name.clone()));
                }
            }
            Value::Object(out)
        }
        "apply_sliders" => {
            let mut profile = doc_arg(&pack, o, "profile")?;
            let mut workload = doc_arg(&pack, o, "workload")?;
            let values = overrides_from_json(get(o, "values")).map_err(from_whatif)?;
            apply_json(m, &values, &mut profile, &mut workload)?;
            json!({ "profile": profile, "workload": workload })
        }
        "set_path" => {
            let mut d = strip(object(o, "d")?);
            let path = str_arg(o, "path")?;
            crate::sizing::set_path(&mut d, path, req(o, "value")?.clone()).map_err(EngineError::WrongType)?;
            d
        }
        "scale_path" => {
            let mut d = strip(object(o, "d")?);
            let path = str_arg(o, "path")?;
            let f = f64_arg(o, "factor")?;
            crate::sizing::scale_path(&mut d, path, f).map_err(|(k, msg)| by_kind(k, msg))?;
            d
        }
        "whatif_point" | "whatif_sweep" | "whatif_pareto" => whatif(&pack, op, o)?,
        _ => return Ok(None),
    };
    Ok(Some(v))
}

/// `evaluate_budget`: a required amount against a budget, with the pack's status and emoji.
fn evaluate_budget(m: &SizingModel, o: &Obj) -> Result<Value, EngineError> {
    let required = f64_arg(o, "required")?;
    let budget = f64_arg(o, "budget")?;
    let warn = match get(o, "warn_at_pct") {
        None => None,
        Some(_) => Some(f64_arg(o, "warn_at_pct")?),
    };
    let mut sc = m.scratch();
    let (margin, margin_pct, status) =
        m.evaluate_budget(required, budget, warn, &mut sc).map_err(|e| from_eval(&e, &m.layout))?;
    let emoji = m
        .budget
        .as_ref()
        .map(|b| b.emoji.get(&status).cloned().unwrap_or_else(|| b.other_emoji.clone()))
        .unwrap_or_default();
    Ok(json!({
        "name": str_arg(o, "name")?,
        "scope": str_arg(o, "scope")?,
        "target": str_arg(o, "target")?,
        "metric": str_arg(o, "metric")?,
        "required": num(required),
        "budget": num(budget),
        "units": str_arg(o, "units")?,
        "status": status,
        "margin": num(margin),
        "margin_pct": num(margin_pct),
        "notes": notes_arg(o)?.unwrap_or_default(),
        "emoji": emoji,
    }))
}

/// `llm_demand`: the pack's `llm` demand calculator over a profile and a workload.
fn llm_demand(pack: &PackState, o: &Obj) -> Result<Value, EngineError> {
    let m = pack.sizing.as_ref();
    let profile = match get(o, "profile") {
        Some(_) => doc_arg(pack, o, "profile")?,
        None => Value::Object(Map::new()),
    };
    let workload = doc_arg(pack, o, "workload")?;
    // the reference reads `workload["llm"]` before anything else: without it, a
    // `KeyError`, not an inactive demand
    if workload.get("llm").is_none() {
        return Err(EngineError::UnknownKey("llm".into()));
    }
    let di = m
        .demands
        .iter()
        .position(|d| d.def.name == "llm")
        .ok_or_else(|| EngineError::UnknownKey("the sizing model has no `llm` demand calculator".into()))?;
    let env = JsonEnv { profile: &profile, workload: &workload };
    let mut sc = m.scratch();
    let d = &m.demands[di];
    m.run_globals(0, &env, &mut sc);
    let (globals, poison) = (std::mem::take(&mut sc.globals), std::mem::take(&mut sc.poison));
    let frame = crate::sizing::formula::Frame {
        globals: &globals,
        poison: &poison,
        ..crate::sizing::formula::Frame::bare(&m.layout, &m.tables)
    };
    let active = crate::sizing::formula::run(&d.program, &env, &frame, &mut sc.regs, &mut sc.strings)
        .map_err(|e| from_eval(&e, &m.layout))?;
    sc.engines.push(d.engine);
    sc.active.push(active);
    for i in 0..m.fields.len() {
        let x = if active { d.program.out(&sc.regs, i) } else { 0.0 };
        sc.rows.push(x);
    }
    let texts = RowTexts {
        names: vec![d.def.name.clone()],
        notes: vec![if active { d.def.notes.clone() } else { Vec::new() }],
    };
    let mut out = m.demands_json(&sc, &texts).swap_remove(0);
    if d.def.metrics.is_empty() {
        if let Value::Object(map) = &mut out {
            map.remove("metrics");
        }
    }
    Ok(out)
}

fn whatif(pack: &PackState, op: &str, o: &Obj) -> Result<Value, EngineError> {
    let m = pack.sizing.as_ref();
    let profile = match get(o, "profile") {
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err(bad("`profile` must be a profile name")),
        None => pack.whatif.default_profile.clone().ok_or_else(|| bad("missing `profile`"))?,
    };
    let workload = match get(o, "workload") {
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(bad("`workload` must be a workload name")),
        None => pack.whatif.default_workload.clone(),
    };
    let runner =
        Runner::new(m, &profile, workload.as_deref(), pack.whatif.apply_slider_defaults).map_err(from_whatif)?;
    // `"checked": true` (HTTP sets it): slider values must be offered by their sliders — known,
    // in range, on step — instead of clamped and skipped as the reference's runner does
    let checked = matches!(get(o, "checked"), Some(Value::Bool(true)));
    let overrides = |k: &str| -> Result<Vec<(String, f64)>, EngineError> {
        let ov = overrides_from_json(get(o, k)).map_err(from_whatif)?;
        if checked {
            crate::whatif::check_slider_values(m, &ov).map_err(from_whatif)?;
        }
        Ok(ov)
    };
    Ok(match op {
        "whatif_point" => {
            let ov = overrides("overrides")?;
            let p = runner.point(&ov).map_err(from_whatif)?;
            let kpis = runner.kpis_json(&p);
            json!({
                "profile": profile,
                "overrides": overrides_json(&ov),
                "summary": SizingModel::summary_json(&kpis),
                "kpis": kpis,
            })
        }
        "whatif_sweep" => {
            let slider = str_arg(o, "slider")?;
            let base = overrides("base_overrides")?;
            // without `steps`, on the slider's own step (from `from`, to `to`)
            let s = match get(o, "steps") {
                Some(_) => runner.sweep(slider, usize_arg(o, "steps")?, &base, None),
                None => {
                    let bound = |k: &str| get(o, k).map(|_| f64_arg(o, k)).transpose();
                    let values =
                        crate::whatif::step_values(m, slider, bound("from")?, bound("to")?).map_err(from_whatif)?;
                    runner.sweep_at(slider, values, &base, None)
                }
            }
            .map_err(from_whatif)?;
            let rows: Vec<Value> = s
                .values
                .iter()
                .zip(&s.points)
                .map(|(v, p)| {
                    let kpis = runner.kpis_json(p);
                    json!({ "value": num(*v), "summary": SizingModel::summary_json(&kpis), "kpis": kpis })
                })
                .collect();
            json!({ "profile": profile, "slider": slider, "base_overrides": overrides_json(&base), "rows": rows })
        }
        _ => {
            let x = str_arg(o, "x")?;
            let y = str_arg(o, "y")?;
            let sx = usize_arg(o, "steps_x")?;
            let sy = usize_arg(o, "steps_y")?;
            let base = overrides("base_overrides")?;
            let p = runner.pareto(x, y, sx, sy, &base, None).map_err(from_whatif)?;
            let cells: Vec<Value> =
                p.cells.iter().map(|row| Value::Array(row.iter().map(|c| runner.cell_json(c)).collect())).collect();
            json!({
                "profile": profile,
                "x_slider": x,
                "y_slider": y,
                "base_overrides": overrides_json(&base),
                "xs": p.xs.iter().map(|x| num(*x)).collect::<Vec<_>>(),
                "ys": p.ys.iter().map(|x| num(*x)).collect::<Vec<_>>(),
                "cells": cells,
            })
        }
    })
}

/// Reference `apply_sliders` on JSON documents: for each `(name, value)` in order, skip
/// unknown and informational sliders, and run the slider's actions with the clamped value.
pub fn apply_json(
    m: &SizingModel,
    values: &[(String, f64)],
    profile: &mut Value,
    workload: &mut Value,
) -> Result<(), EngineError> {
    for (name, v) in values {
        let Some(i) = m.slider(name) else { continue };
        let s = &m.sliders[i];
        let clamped = s.clamp(*v);
        for (op, pid, prog) in &s.actions {
            let x = {
                let env = JsonEnv { profile, workload };
                let frame = crate::sizing::formula::Frame {
                    params: &[clamped],
                    ..crate::sizing::formula::Frame::bare(&m.layout, &m.tables)
                };
                let mut regs = Regs::new();
                let mut strings = Strings::new(&m.strings);
                crate::sizing::formula::run(prog, &env, &frame, &mut regs, &mut strings)
                    .map_err(|e| from_eval(&e, &m.layout))?;
                let ty = prog.outputs[0].1;
                let x = prog.out(&regs, 0);
                match ty {
                    crate::sizing::formula::Ty::Num => num(x),
                    crate::sizing::formula::Ty::Bool => Value::Bool(x != 0.0),
                    crate::sizing::formula::Ty::Str => Value::String(strings.text(x as u32).to_string()),
                }
            };
            let info = &m.layout.paths[*pid as usize];
            let doc = match info.root {
                crate::sizing::formula::Root::Profile => &mut *profile,
                crate::sizing::formula::Root::Workload => &mut *workload,
            };
            let rest = info.segs.join(".");
            match op {
                crate::sizing::file::ActionOp::Set => {
                    crate::sizing::set_path(doc, &rest, x).map_err(EngineError::InvalidValue)?
                }
                crate::sizing::file::ActionOp::Scale => {
                    crate::sizing::scale_path(doc, &rest, x.as_f64().unwrap_or(f64::NAN))
                        .map_err(|(k, msg)| by_kind(k, msg))?
                }
            }
        }
    }
    Ok(())
}

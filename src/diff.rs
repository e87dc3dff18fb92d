//! What a data change does to the numbers: the standard matrix — every visible tier × catalog
//! model × workload, and every KPI of every profile at its defaults — evaluated under two
//! engines and compared cell by cell.

use crate::engine::Engine;
use crate::projection::{ProjectParams, Projection};
use crate::whatif::Runner;
use indexmap::IndexMap;
use serde::Serialize;
use serde_json::Value;

/// One evaluated cell: field → value.
pub type Cell = IndexMap<String, Value>;

/// The standard matrix of one engine: cell key → fields.
pub type Matrix = IndexMap<String, Cell>;

/// The workloads of the matrix: the packs' projection workloads, else the rule set's
/// default request.
fn workloads(engine: &Engine) -> Vec<(String, String, ProjectParams, Option<crate::workload::WorkloadPattern>)> {
    let mut out = Vec::new();
    if let Some(p) = engine.packs() {
        for w in &p.sizing.workload_files {
            if let Some(pw) = &w.projection {
                out.push((
                    w.name.clone(),
                    pw.workload_id.clone(),
                    ProjectParams {
                        prompt_tokens: Some(u64::from(pw.prompt_tokens)),
                        decode_tokens: Some(u64::from(pw.decode_tokens)),
                        ..Default::default()
                    },
                    pw.pattern,
                ));
            }
        }
    }
    if out.is_empty() {
        out.push(("default".into(), "default".into(), ProjectParams::default(), None));
    }
    out
}

/// Evaluates the standard matrix.
pub fn matrix(engine: &Engine) -> Matrix {
    let mut m = Matrix::new();
    let reg = engine.registry();
    let tiers: Vec<_> = match engine.packs().and_then(|p| p.ladder.clone()) {
        Some(rungs) => rungs.iter().filter_map(|r| reg.tier(&r.tier).cloned()).collect(),
        None => reg.tiers().to_vec(),
    };
    let d = &engine.rule_set().defaults;
    for (wname, wid, params, pattern) in workloads(engine) {
        let ctx = params.prompt_tokens.unwrap_or(d.prompt_tokens) + params.decode_tokens.unwrap_or(d.decode_tokens);
        for t in &tiers {
            for model in reg.catalog().iter() {
                let key = format!("{} × {} × {wname}", t.name(), model.key);
                let mut cell = Cell::new();
                match engine.project_llm_full(model, t, &wid, &params, pattern.as_ref(), None) {
                    Ok(Projection::Projected(p)) => {
                        cell.insert("type".into(), "Projected".into());
                        for (k, v) in [
                            ("decode_tok_s", p.decode_tok_s),
                            ("prefill_tok_s", p.prefill_tok_s),
                            ("ttft_s", p.ttft_s),
                            ("total_s", p.total_s),
                        ] {
                            cell.insert(k.into(), crate::sizing::num(v));
                        }
                        cell.insert("source".into(), Value::String(p.source.to_string()));
                    }
                    Ok(other) => {
                        let v = serde_json::to_value(&other).unwrap_or_default();
                        cell.insert("type".into(), v.get("type").cloned().unwrap_or_default());
                    }
                    Err(e) => {
                        cell.insert("error".into(), Value::String(e.to_string()));
                    }
                }
                if let Ok(f) = engine.memory_feasibility(model, t, ctx) {
                    let v = serde_json::to_value(&f).unwrap_or_default();
                    cell.insert("verdict".into(), v.get("verdict").cloned().unwrap_or_default());
                    cell.insert("headroom_gb".into(), v.get("headroom_gb").cloned().unwrap_or_default());
                }
                m.insert(key, cell);
            }
        }
    }
    if let Some(p) = engine.packs() {
        let sizing = &p.sizing;
        if sizing.budget.is_some() {
            let wl = p.whatif.default_workload.clone();
            for prof in &sizing.profiles {
                let runner = match Runner::new(sizing, &prof.name, wl.as_deref(), p.whatif.apply_slider_defaults) {
                    Ok(r) => r,
                    Err(e) => {
                        let mut c = Cell::new();
                        c.insert("error".into(), Value::String(e.to_string()));
                        m.insert(format!("profile {}", prof.name), c);
                        continue;
                    }
                };
                match runner.point(&[]) {
                    Ok(pt) => {
                        for k in runner.kpis_json(&pt) {
                            let mut c = Cell::new();
                            for f in ["required", "budget", "margin_pct", "status"] {
                                c.insert(f.into(), k[f].clone());
                            }
                            m.insert(format!("profile {} · KPI {}", prof.name, k["name"].as_str().unwrap_or("")), c);
                        }
                    }
                    Err(e) => {
                        let mut c = Cell::new();
                        c.insert("error".into(), Value::String(e.to_string()));
                        m.insert(format!("profile {}", prof.name), c);
                    }
                }
            }
        }
    }
    m
}

/// One difference.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    /// Cell key.
    pub key: String,
    /// Field (`*` for a cell only on one side).
    pub field: String,
    /// Old value (null when added).
    pub old: Value,
    /// New value (null when removed).
    pub new: Value,
    /// Relative change in percent, for numbers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delta_pct: Option<f64>,
}

/// Differences beyond `tolerance_pct` (relative, percent) between two matrices; strings,
/// verdicts and sources must match exactly.
pub fn compare(old: &Matrix, new: &Matrix, tolerance_pct: f64) -> Vec<Change> {
    let mut out = Vec::new();
    for (k, oc) in old {
        let Some(nc) = new.get(k) else {
            out.push(Change {
                key: k.clone(),
                field: "*".into(),
                old: Value::String("present".into()),
                new: Value::Null,
                delta_pct: None,
            });
            continue;
        };
        let fields: Vec<&String> = oc.keys().chain(nc.keys().filter(|f| !oc.contains_key(*f))).collect();
        for f in fields {
            let (a, b) = (oc.get(f).cloned().unwrap_or(Value::Null), nc.get(f).cloned().unwrap_or(Value::Null));
            match (a.as_f64(), b.as_f64()) {
                (Some(x), Some(y)) => {
                    if x == y {
                        continue;
                    }
                    let delta = if x != 0.0 { (y - x) / x.abs() * 100.0 } else { f64::INFINITY };
                    if delta.abs() > tolerance_pct {
                        out.push(Change {
                            key: k.clone(),
                            field: f.clone(),
                            old: a,
                            new: b,
                            delta_pct: delta.is_finite().then_some(delta),
                        });
                    }
                }
                _ => {
                    if a != b {
                        out.push(Change { key: k.clone(), field: f.clone(), old: a, new: b, delta_pct: None });
                    }
                }
            }
        }
    }
    for k in new.keys().filter(|k| !old.contains_key(*k)) {
        out.push(Change {
            key: k.clone(),
            field: "*".into(),
            old: Value::Null,
            new: Value::String("present".into()),
            delta_pct: None,
        });
    }
    out
}

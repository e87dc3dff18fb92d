//! The reference's JSON shapes: KPI results and chip summaries rendered in its field order,
//! demand rows out (`SubsystemDemand` objects) and back in, and its path edits on profile and
//! workload documents (`_set_path`, `_scale_path`).

use super::formula::{DEMAND_FIELDS, Strings};
use super::{KpiOut, RowTexts, Scratch, SizingModel};
use serde_json::{Map, Value, json};

impl SizingModel {
    /// Renders one KPI result in the reference's field order.
    pub fn kpi_json(&self, k: &KpiOut, rows: &RowTexts, strings: &Strings<'_>) -> Value {
        let Some(def) = self.kpis.get(k.kpi as usize).map(|x| &x.def) else { return Value::Null };
        let row = (k.row != u16::MAX).then_some(k.row as usize);
        let name_of = |t: &str| match row.and_then(|r| rows.names.get(r)) {
            Some(n) => t.replace("{demand.name}", n),
            None => t.to_string(),
        };
        let mut notes: Vec<Value> = def.notes.iter().map(|n| Value::String(n.clone())).collect();
        if def.demand_notes {
            if let Some(ns) = row.and_then(|r| rows.notes.get(r)) {
                notes.extend(ns.iter().map(|n| Value::String(n.clone())));
            }
        }
        let status = strings.text(k.status).to_string();
        let emoji = self
            .budget
            .as_ref()
            .map(|b| b.emoji.get(&status).cloned().unwrap_or_else(|| b.other_emoji.clone()))
            .unwrap_or_default();
        json!({
            "name": name_of(&def.name),
            "scope": def.scope,
            "target": name_of(&def.target),
            "metric": def.metric,
            "required": num(k.required),
            "budget": num(k.budget),
            "units": def.units,
            "status": status,
            "margin": num(k.margin),
            "margin_pct": num(k.margin_pct),
            "notes": notes,
            "emoji": emoji,
        })
    }

    /// Reference `chip_summary` over rendered KPI objects.
    pub fn summary_json(kpis: &[Value]) -> Value {
        let count = |s: &str| kpis.iter().filter(|k| k.get("status").and_then(Value::as_str) == Some(s)).count();
        let (pass, warn, fail) = (count("PASS"), count("WARN"), count("FAIL"));
        let failures: Vec<Value> = kpis
            .iter()
            .filter(|k| k.get("status").and_then(Value::as_str) == Some("FAIL"))
            .map(|k| {
                let margin = k.get("margin").and_then(Value::as_f64).unwrap_or(0.0);
                json!({
                    "name": k.get("name").cloned().unwrap_or(Value::Null),
                    "metric": k.get("metric").cloned().unwrap_or(Value::Null),
                    "overage": num(-margin),
                    "units": k.get("units").cloned().unwrap_or(Value::Null),
                })
            })
            .collect();
        json!({
            "total": kpis.len(),
            "pass": pass,
            "warn": warn,
            "fail": fail,
            "viable": fail == 0,
            "failures": failures,
        })
    }

    /// The demand rows in `sc` as reference `SubsystemDemand` objects.
    pub fn demands_json(&self, sc: &Scratch<'_>, texts: &RowTexts) -> Vec<Value> {
        let stride = self.fields.len();
        (0..sc.engines.len())
            .map(|i| {
                let mut m = Map::new();
                m.insert("name".into(), Value::String(texts.names.get(i).cloned().unwrap_or_default()));
                m.insert("target_engine".into(), Value::String(sc.strings.text(sc.engines[i]).to_string()));
                for (j, f) in self.fields.keys().enumerate().take(DEMAND_FIELDS.len()) {
                    m.insert(f.clone(), num(sc.rows.get(i * stride + j).copied().unwrap_or(0.0)));
                }
                let notes = texts.notes.get(i).cloned().unwrap_or_default();
                m.insert("notes".into(), Value::Array(notes.into_iter().map(Value::String).collect()));
                if stride > DEMAND_FIELDS.len() {
                    let mut metrics = Map::new();
                    for (j, f) in self.fields.keys().enumerate().skip(DEMAND_FIELDS.len()) {
                        metrics.insert(f.clone(), num(sc.rows.get(i * stride + j).copied().unwrap_or(0.0)));
                    }
                    m.insert("metrics".into(), Value::Object(metrics));
                }
                Value::Object(m)
            })
            .collect()
    }

    /// Names and notes of this model's demand calculators after `run_demands`.
    pub fn demand_texts(&self, sc: &Scratch<'_>) -> RowTexts {
        RowTexts {
            names: self.demands.iter().map(|d| d.def.name.clone()).collect(),
            notes: self
                .demands
                .iter()
                .zip(&sc.active)
                .map(|(d, &a)| if a { d.def.notes.clone() } else { Vec::new() })
                .collect(),
        }
    }

    /// Loads demand rows from reference `SubsystemDemand` objects.
    pub fn load_demands(&self, list: &[Value], sc: &mut Scratch<'_>) -> Result<RowTexts, String> {
        let stride = self.fields.len();
        sc.aggs_fresh = false;
        sc.rows.clear();
        sc.engines.clear();
        sc.active.clear();
        let mut texts = RowTexts::default();
        for (i, d) in list.iter().enumerate() {
            let Some(m) = d.as_object() else { return Err(format!("demand {i} is not an object")) };
            let name = m.get("name").and_then(Value::as_str).ok_or_else(|| format!("demand {i} has no `name`"))?;
            let engine = m
                .get("target_engine")
                .and_then(Value::as_str)
                .ok_or_else(|| format!("demand `{name}` has no `target_engine`"))?;
            texts.names.push(name.to_string());
            texts.notes.push(
                m.get("notes")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(|n| n.as_str().map(str::to_string)).collect())
                    .unwrap_or_default(),
            );
            sc.engines.push(sc.strings.id(engine));
            sc.active.push(true);
            let metrics = m.get("metrics").and_then(Value::as_object);
            for f in self.fields.keys().take(stride) {
                let v = m.get(f).or_else(|| metrics.and_then(|x| x.get(f)));
                let x = match v {
                    None | Some(Value::Null) => 0.0,
                    Some(Value::Number(n)) => n.as_f64().unwrap_or(0.0),
                    Some(other) => return Err(format!("demand `{name}`: `{f}` must be a number, got `{other}`")),
                };
                sc.rows.push(x);
            }
        }
        Ok(texts)
    }
}

/// A JSON number (integral values stay floats in text as in the reference's float fields).
pub fn num(x: f64) -> Value {
    serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)
}

/// Reference `_set_path`: walks `path`, creating missing maps, and sets the last key.
pub fn set_path(d: &mut Value, path: &str, v: Value) -> Result<(), String> {
    let mut cur = d;
    let segs: Vec<&str> = path.split('.').collect();
    let Some((last, init)) = segs.split_last() else { return Ok(()) };
    for s in init {
        let Some(m) = cur.as_object_mut() else { return Err(format!("`{s}`: not a map")) };
        cur = m.entry((*s).to_string()).or_insert_with(|| Value::Object(Map::new()));
    }
    let Some(m) = cur.as_object_mut() else { return Err(format!("`{last}`: not a map")) };
    m.insert((*last).to_string(), v);
    Ok(())
}

/// Reference `_scale_path`: walks `path` (a missing key is a `KeyError`) and multiplies the
/// last value.
pub fn scale_path(d: &mut Value, path: &str, f: f64) -> Result<(), (&'static str, String)> {
    let mut cur = d;
    for s in path.split('.') {
        cur = match cur.as_object_mut().and_then(|m| m.get_mut(s)) {
            Some(x) => x,
            None => return Err(("KeyError", format!("'{s}'"))),
        };
    }
    match cur.as_f64() {
        Some(x) => {
            *cur = num(x * f);
            Ok(())
        }
        None => Err(("TypeError", format!("`{path}` is not a number"))),
    }
}

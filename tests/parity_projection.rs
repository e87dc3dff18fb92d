//! Golden parity of `project_llm`, `memory_feasibility` and `kv_cache_bytes_per_token` under
//! the `ratchet-0.3.2` rule set. Every case is replayed with its tier given inline (the
//! golden `fields`), so clones and custom tiers are covered too; canonical tiers are also
//! replayed by registry name. Rounded fields must match exactly; unrounded ones within
//! 1e-12 relative (they match exactly today).

mod common;

use common::{cases, diff, golden, strip_types};
use ratchet::tier::TierSpec;
use ratchet::{Engine, LlmModel, ProjectParams};
use serde_json::Value;
use std::collections::HashMap;

fn engine() -> Engine {
    let e = Engine::embedded().unwrap_or_else(|r| panic!("{r:?}"));
    e.with_rule_set("ratchet-0.3.2").unwrap_or_else(|e| panic!("{e}"))
}

struct World {
    engine: Engine,
    tiers: HashMap<String, ratchet::Tier>,
    models: HashMap<String, LlmModel>,
}

fn world() -> World {
    let engine = engine();
    let mut tiers = HashMap::new();
    for (id, h) in golden()["hardware"].as_object().into_iter().flatten() {
        let spec: TierSpec =
            serde_json::from_value(strip_types(&h["fields"])).unwrap_or_else(|e| panic!("tier {id}: {e}"));
        tiers.insert(id.clone(), engine.registry().resolve_tier(spec));
    }
    let mut models = HashMap::new();
    for (id, m) in golden()["models"].as_object().into_iter().flatten() {
        let model: LlmModel =
            serde_json::from_value(strip_types(&m["fields"])).unwrap_or_else(|e| panic!("model {id}: {e}"));
        models.insert(id.clone(), model);
    }
    World { engine, tiers, models }
}

/// Unrounded fields (compared within 1e-12 relative); everything else exactly.
const UNROUNDED: &[&str] = &["required_gb", "available_gb", "headroom_gb", "weights_gb", "kv_cache_gb", "overhead_gb"];

fn compare(id: &str, want: &Value, got: &Value) -> Option<String> {
    let mut got = got.clone();
    if let Value::Object(m) = &mut got {
        // ratchet's additions to the reference result
        m.remove("provenance");
        m.remove("badge");
        m.remove("calibration_source");
    }
    let mut exact_want = want.clone();
    let mut exact_got = got.clone();
    for (w, g) in [(&mut exact_want, &mut exact_got)] {
        for key in UNROUNDED {
            strip_key(w, key);
            strip_key(g, key);
        }
    }
    if let Some(d) = diff(id, &exact_want, &exact_got, 0.0) {
        return Some(d);
    }
    diff(id, want, &got, 1e-12)
}

fn strip_key(v: &mut Value, key: &str) {
    match v {
        Value::Object(m) => {
            m.remove(key);
            for x in m.values_mut() {
                strip_key(x, key);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| strip_key(x, key)),
        _ => {}
    }
}

fn params(i: &Value) -> ProjectParams {
    let o = &i["options"];
    ProjectParams {
        prompt_tokens: i["prompt_tokens"].as_u64(),
        decode_tokens: i["decode_tokens"].as_u64(),
        host_ms: o["host_ms"].as_f64(),
        compiler_quality: o["compiler_quality"].as_f64(),
        npu_share: o["npu_share"].as_f64(),
        fp4_runtime_maturity: o["fp4_runtime_maturity"].as_str().map(str::to_string),
        kv_cache_dtype: None,
    }
}

#[test]
fn project_llm_matches_every_golden_case() {
    let w = world();
    let all = cases("project_llm");
    assert_eq!(all.len(), 27696);
    let mut failures = Vec::new();
    let mut by_name = 0;
    for c in &all {
        let i = &c["inputs"];
        let id = c["id"].as_str().unwrap_or("");
        let hw_id = i["hw"].as_str().unwrap_or("");
        let model = &w.models[i["model"].as_str().unwrap_or("")];
        let p = params(i);
        let workload = i["workload_id"].as_str().unwrap_or("");
        let tier = &w.tiers[hw_id];
        let got = w.engine.project_llm(model, tier, workload, &p);
        let got = match got {
            Ok(r) => serde_json::to_value(&r).unwrap_or(Value::Null),
            Err(e) => Value::String(format!("error: {e}")),
        };
        if let Some(d) = compare(id, &c["output"], &got) {
            failures.push(d);
        }
        // canonical tiers also by registry name
        if golden()["hardware"][hw_id]["construction"]["kind"] == "canonical" {
            by_name += 1;
            let t = w.engine.tier(hw_id).unwrap_or_else(|e| panic!("{e}"));
            let r =
                w.engine.project_llm(model, t, workload, &p).map(|r| serde_json::to_value(&r).unwrap_or(Value::Null));
            let r = r.unwrap_or_else(|e| Value::String(e.to_string()));
            if let Some(d) = compare(id, &c["output"], &r) {
                failures.push(format!("(by name) {d}"));
            }
        }
    }
    assert!(by_name > 8000);
    assert!(
        failures.is_empty(),
        "{} of {} cases differ; first: {:#?}",
        failures.len(),
        all.len(),
        &failures[..failures.len().min(10)]
    );
}

#[test]
fn memory_feasibility_matches_every_golden_case() {
    let w = world();
    let all = cases("memory_feasibility");
    assert_eq!(all.len(), 1680);
    let mut failures = Vec::new();
    for c in &all {
        let i = &c["inputs"];
        let model = &w.models[i["model"].as_str().unwrap_or("")];
        let tier = &w.tiers[i["hw"].as_str().unwrap_or("")];
        let got = w.engine.memory_feasibility(model, tier, i["context_tokens"].as_u64().unwrap_or(0));
        let got = got
            .map(|f| serde_json::to_value(&f).unwrap_or(Value::Null))
            .unwrap_or_else(|e| Value::String(e.to_string()));
        if let Some(d) = compare(c["id"].as_str().unwrap_or(""), &strip_types(&c["output"]), &got) {
            failures.push(d);
        }
    }
    assert!(failures.is_empty(), "{} differ; first: {:#?}", failures.len(), &failures[..failures.len().min(10)]);
}

#[test]
fn kv_cache_bytes_per_token_matches_every_golden_case() {
    let w = world();
    let all = cases("kv_cache_bytes_per_token");
    assert_eq!(all.len(), 48);
    for c in &all {
        let i = &c["inputs"];
        let model = &w.models[i["model"].as_str().unwrap_or("")];
        let got = w.engine.kv_cache_bytes_per_token(model, i["dtype_bytes"].as_f64()).unwrap_or(f64::NAN);
        assert_eq!(Some(got), c["output"].as_f64(), "{}", c["id"]);
    }
}

#[test]
fn runtime_overhead_constant_matches_the_table() {
    let e = engine();
    let c = e.rule_set().rules.constants.get("runtime_overhead_bytes").map(|c| c.0.clone());
    assert_eq!(
        c,
        Some(ratchet::rules::file::Constant::Num(golden()["tables"]["RUNTIME_OVERHEAD_BYTES"].as_f64().unwrap_or(0.0)))
    );
}

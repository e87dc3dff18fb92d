//! Golden parity of the sizing engine: budgets, KPIs, demands, sliders and the what-if
//! runner, replayed through the batch API against the shipped `reference` pack and the
//! golden `whatif_spec` expressed as a test pack (`tests/data/packs/whatif-golden`).

mod common;

use common::{cases, diff, strip_types};
use ratchet::Engine;
use serde_json::{Map, Value, json};

fn pack_dir() -> String {
    format!("{}/tests/data/packs/whatif-golden", env!("CARGO_MANIFEST_DIR"))
}

fn ask(e: &Engine, req: Value) -> Value {
    let Value::Object(o) = req else { panic!("request must be an object") };
    match ratchet::batch::answer(e, &o) {
        Ok(v) => v,
        Err(err) => json!({"error": {"kind": err.kind(), "message": err.to_string()}}),
    }
}

fn check(id: &str, want: &Value, got: &Value, failures: &mut Vec<String>) {
    if let Some(err) = want.get("error") {
        let kind = match err["type"].as_str() {
            Some("ValueError") => "invalid_value",
            Some("KeyError") => "unknown_key",
            _ => "?",
        };
        let msg = err["message"].as_str().unwrap_or("");
        let msg = if kind == "unknown_key" { msg.trim_matches('\'') } else { msg };
        if got["error"]["kind"] != kind || got["error"]["message"] != msg {
            failures.push(format!("{id}: want error {err}, got {got}"));
        }
        return;
    }
    if let Some(d) = diff(id, &strip_types(want), got, 0.0) {
        failures.push(d);
    }
}

/// The batch request for one golden case.
fn request(func: &str, inputs: &Value) -> Value {
    let mut o: Map<String, Value> = inputs.as_object().cloned().unwrap_or_default();
    let op = match func {
        "Slider.clamp" => "slider_clamp",
        "_set_path" => "set_path",
        "_scale_path" => "scale_path",
        "WhatifRunner.point" => "whatif_point",
        "WhatifRunner.sweep" => "whatif_sweep",
        "WhatifRunner.pareto" => "whatif_pareto",
        other => other,
    };
    let uses_pack = matches!(
        func,
        "Slider.clamp"
            | "default_values"
            | "slider_categories"
            | "apply_sliders"
            | "WhatifRunner.point"
            | "WhatifRunner.sweep"
            | "WhatifRunner.pareto"
    );
    if uses_pack {
        o.insert("pack".into(), Value::String(pack_dir()));
        o.remove("sliders");
        if o.get("workload").and_then(Value::as_str) == Some("default_workload") {
            o.insert("workload".into(), json!("default"));
        }
    }
    o.insert("op".into(), Value::String(op.into()));
    Value::Object(o)
}

#[test]
fn sizing_primitives_and_whatif_match_the_golden_cases() {
    let e = Engine::embedded().unwrap_or_else(|r| panic!("{r:?}"));
    let funcs = [
        "evaluate_budget",
        "npu_kpis",
        "cpu_kpis",
        "memory_bw_kpi",
        "memory_capacity_kpi",
        "chip_summary",
        "vpu_pixel_rate_kpi",
        "eff_tops",
        "llm_demand",
        "Slider.clamp",
        "default_values",
        "slider_categories",
        "apply_sliders",
        "_set_path",
        "_scale_path",
        "WhatifRunner.point",
        "WhatifRunner.sweep",
        "WhatifRunner.pareto",
    ];
    let mut failures = Vec::new();
    let mut total = 0;
    for func in funcs {
        let cs = cases(func);
        assert!(!cs.is_empty(), "no golden cases for {func}");
        for c in cs {
            total += 1;
            let id = c["id"].as_str().unwrap_or("?");
            let got = ask(&e, request(func, &c["inputs"]));
            check(id, &c["output"], &got, &mut failures);
        }
    }
    assert!(failures.is_empty(), "{} of {total} cases differ:\n{}", failures.len(), failures.join("\n"));
    assert_eq!(total, 147);
}

#[test]
fn slider_definitions_docs_and_status_marks_come_from_the_pack() {
    let e = Engine::embedded().unwrap_or_else(|r| panic!("{r:?}"));
    let pack = pack_dir();
    let sliders = ask(&e, json!({"op": "sliders", "pack": pack}));
    let names: Vec<&str> =
        sliders.as_array().map(|a| a.iter().filter_map(|s| s["name"].as_str()).collect()).unwrap_or_default();
    let defaults = ask(&e, json!({"op": "default_values", "pack": pack}));
    let want: Vec<&str> = defaults.as_object().map(|o| o.keys().map(String::as_str).collect()).unwrap_or_default();
    assert_eq!(names, want, "sliders in catalog order");
    assert_eq!(sliders[0]["apply"][0]["op"], "set", "{sliders}");
    assert_eq!(sliders[0]["min_val"], 10.0);
    let info = sliders.as_array().and_then(|a| a.iter().find(|s| s["name"] == "info_only")).cloned();
    assert_eq!(info.map(|s| s["apply"].clone()), Some(json!([])), "an informational slider has no action");

    let small = ask(&e, json!({"op": "sizing_doc", "pack": pack, "kind": "profile", "name": "small"}));
    assert_eq!(small["npu"]["tops_bf16"], 40.0, "{small}");
    let err = ask(&e, json!({"op": "sizing_doc", "pack": pack, "kind": "profile", "name": "smal"}));
    assert_eq!(err["error"]["kind"], "unknown_key", "{err}");
    assert!(err["error"]["message"].as_str().unwrap_or("").contains("did you mean `small`"), "{err}");
    let err = ask(&e, json!({"op": "sizing_doc", "pack": pack, "kind": "tier", "name": "small"}));
    assert_eq!(err["error"]["kind"], "bad_request", "{err}");

    for (status, mark) in [("PASS", "✅"), ("FAIL", "❌"), ("WARN", "⚠️"), ("MAYBE", "·")] {
        assert_eq!(ask(&e, json!({"op": "kpi_emoji", "status": status})), json!(mark));
    }
}

#[test]
fn sizing_errors_carry_the_reference_exception_class() {
    let e = Engine::embedded().unwrap_or_else(|r| panic!("{r:?}"));
    let kind = |req: Value| ask(&e, req)["error"]["kind"].as_str().unwrap_or("none").to_string();
    let d = json!([{"name": "a", "target_engine": "npu", "tops_required": 1.0}]);
    assert_eq!(kind(json!({"op": "npu_kpis", "profile": {}, "demands": d})), "unknown_key");
    assert_eq!(kind(json!({"op": "llm_demand", "workload": {}})), "unknown_key");
    let zero = json!({"llm": {"active": true, "params_b": 7, "tokens_per_sec": 0, "precision": "int8"}});
    assert_eq!(kind(json!({"op": "llm_demand", "workload": zero})), "division_by_zero");
    assert_eq!(kind(json!({"op": "set_path", "d": {"a": 1}, "path": "a.b", "value": 2})), "type_error");
    let inactive = json!({"llm": {"active": false}});
    assert_eq!(kind(json!({"op": "llm_demand", "workload": inactive})), "none", "an inactive llm is all zero");
}

//! Golden parity of the engine steps around the projection, through the batch protocol:
//! private anchors (load, derived quantities, overlay), workload patterns, CPU projections,
//! perception anchors and the catalog helpers.

mod common;

use common::{cases, diff, golden, hw_form, strip_types};
use ratchet::Engine;
use ratchet::anchors::AnchorFile;
use serde_json::{Value, json};
use std::sync::Arc;

struct Engines {
    plain: Engine,
    anchored: Engine,
}

fn engines() -> Engines {
    let plain = Engine::embedded()
        .unwrap_or_else(|r| panic!("{r:?}"))
        .with_rule_set("ratchet-0.3.2")
        .unwrap_or_else(|e| panic!("{e}"));
    let (file, report) = AnchorFile::load(&common::root().join("tests/golden/anchor_secrets.toml"));
    let file = file.unwrap_or_else(|| panic!("{report:?}"));
    let anchored = plain.with_anchors(Some(Arc::new(file)));
    Engines { plain, anchored }
}

fn model(id: &str) -> Value {
    strip_types(&golden()["models"][id]["fields"])
}

fn ask(e: &Engine, req: Value) -> Value {
    let Value::Object(o) = req else { panic!("request must be an object") };
    match ratchet::batch::answer(e, &o) {
        Ok(v) => v,
        Err(err) => json!({"error": {"kind": err.kind(), "message": err.to_string()}}),
    }
}

fn without(mut v: Value, keys: &[&str]) -> Value {
    if let Value::Object(m) = &mut v {
        for k in keys {
            m.remove(*k);
        }
    }
    v
}

/// Compares, mapping the reference's error types to ratchet's kinds.
fn check(id: &str, want: &Value, got: &Value, failures: &mut Vec<String>) {
    if let Some(err) = want.get("error") {
        let kind = match err["type"].as_str() {
            Some("ValueError") => "invalid_value",
            Some("KeyError") => "unknown_key",
            _ => "?",
        };
        if got["error"]["kind"] != kind || got["error"]["message"] != err["message"] {
            failures.push(format!("{id}: want error {err}, got {got}"));
        }
        return;
    }
    if let Some(d) = diff(id, &strip_types(want), got, 0.0) {
        failures.push(d);
    }
}

fn engine_for<'a>(es: &'a Engines, c: &Value) -> &'a Engine {
    if c["inputs"]["secrets"].is_null() { &es.plain } else { &es.anchored }
}

#[test]
fn anchors_load_and_derive() {
    let es = engines();
    let mut failures = Vec::new();
    let mut n = 0;
    for (func, op, key) in
        [("load_llm_anchor", "load_llm_anchor", "model_key"), ("load_cnn_anchor", "load_cnn_anchor", "cnn_key")]
    {
        for c in cases(func) {
            n += 1;
            let i = &c["inputs"];
            let got =
                ask(engine_for(&es, c), json!({"op": op, "tier": i["tier"], "precision": i["precision"], key: i[key]}));
            check(c["id"].as_str().unwrap_or(""), &c["output"], &got["result"], &mut failures);
        }
    }
    for (func, op, key) in [
        ("LLMAnchor.methods", "llm_anchor_methods", "model_key"),
        ("CNNAnchor.methods", "cnn_anchor_methods", "cnn_key"),
    ] {
        for c in cases(func) {
            n += 1;
            let i = &c["inputs"];
            let mut req = json!({"op": op, "share_override": i["share_override"]});
            if let Some(a) = i.get("anchor") {
                req["anchor"] = a.clone();
            } else {
                for k in ["tier", "precision", key] {
                    req[k] = i[k].clone();
                }
            }
            let e = if i.get("anchor").is_some() { &es.plain } else { engine_for(&es, c) };
            let got = ask(e, req);
            check(c["id"].as_str().unwrap_or(""), &c["output"], &got["result"], &mut failures);
        }
    }
    assert_eq!(n, 49 + 17 + 41 + 4);
    assert!(failures.is_empty(), "{} failures: {:#?}", failures.len(), &failures[..failures.len().min(10)]);
}

#[test]
fn anchor_overlay_matches_every_golden_case() {
    let es = engines();
    let all = cases("overlay_llm_anchor");
    assert_eq!(all.len(), 2112);
    let mut failures = Vec::new();
    for c in all {
        let i = &c["inputs"];
        let mut req = json!({
            "op": "overlay_llm_anchor",
            "result": i["base_result"],
            "hw": hw_form(i["hw"].as_str().unwrap_or("")),
            "model": model(i["model"].as_str().unwrap_or("")),
            "decode_mult": i["decode_mult"],
            "ttft_mult": i["ttft_mult"],
        });
        match i["catalog_to_spec_key"]["kind"].as_str() {
            Some("none") => req["spec_key_map"] = json!({}),
            Some("map") => req["spec_key_map"] = i["catalog_to_spec_key"]["map"].clone(),
            _ => {}
        }
        let got = without(ask(engine_for(&es, c), req), &["badge", "provenance", "calibration_source"]);
        let unchanged = c["output"]["unchanged_identity"].as_bool().unwrap_or(false);
        let want = without(c["output"].clone(), &["unchanged_identity"]);
        if unchanged && got != i["base_result"] {
            failures.push(format!("{}: the result should be unchanged", c["id"]));
        }
        check(c["id"].as_str().unwrap_or(""), &want, &got, &mut failures);
    }
    assert!(failures.is_empty(), "{} failures: {:#?}", failures.len(), &failures[..failures.len().min(10)]);
}

#[test]
fn workload_pattern_cpu_projection_and_helpers() {
    let es = engines();
    let e = &es.plain;
    let mut failures = Vec::new();
    for c in cases("apply_workload_pattern") {
        let i = &c["inputs"];
        let got = ask(
            e,
            json!({"op": "apply_workload_pattern", "result": i["base_result"], "multipliers": i["multipliers"]}),
        );
        check(c["id"].as_str().unwrap_or(""), &c["output"], &got, &mut failures);
    }
    for c in cases("project_frame_latency") {
        let i = &c["inputs"];
        let got = ask(e, json!({"op": "project_frame_latency", "baseline": i["baseline"], "speedup": i["speedup"]}));
        check(c["id"].as_str().unwrap_or(""), &c["output"], &got, &mut failures);
    }
    for c in cases("project_solver_convergence") {
        let i = &c["inputs"];
        let got = ask(e, json!({"op": "project_solver_convergence", "anchor": i["anchor"], "speedup": i["speedup"]}));
        check(c["id"].as_str().unwrap_or(""), &c["output"], &got, &mut failures);
    }
    for c in cases("Hardware.get_perception_anchor") {
        let i = &c["inputs"];
        let got = ask(
            e,
            json!({"op": "get_perception_anchor", "hw": hw_form(i["hw"].as_str().unwrap_or("")), "workload_class": i["workload_class"]}),
        );
        check(c["id"].as_str().unwrap_or(""), &c["output"], &got["result"], &mut failures);
    }
    for c in cases("resolve_measurement_key") {
        let got = ask(
            e,
            json!({"op": "resolve_measurement_key", "model": model(c["inputs"]["model"].as_str().unwrap_or(""))}),
        );
        check(c["id"].as_str().unwrap_or(""), &c["output"], &got["result"], &mut failures);
    }
    for c in cases("lookup_model") {
        let got = ask(e, json!({"op": "lookup_model", "key": c["inputs"]["key"]}));
        let key = got["result"].get("key").cloned().unwrap_or(Value::Null);
        check(c["id"].as_str().unwrap_or(""), &c["output"], &key, &mut failures);
    }
    for c in cases("CalibrationSource") {
        let i = &c["inputs"];
        let got = ask(
            e,
            json!({"op": "calibration_source", "method": i["method"], "reference": i["reference"], "confidence": i["confidence"]}),
        );
        check(c["id"].as_str().unwrap_or(""), &c["output"], &got, &mut failures);
    }
    for c in cases("make_custom_tier") {
        let mut req = c["inputs"]["kwargs"].clone();
        req["op"] = json!("make_custom_tier");
        let got = ask(e, req);
        let want = match c["output"].get("hw") {
            Some(h) => strip_types(&golden()["hardware"][h.as_str().unwrap_or("")]["fields"]),
            None => c["output"].clone(),
        };
        let got = strip_via(got);
        check(c["id"].as_str().unwrap_or(""), &want, &got, &mut failures);
    }
    assert!(failures.is_empty(), "{} failures: {:#?}", failures.len(), &failures[..failures.len().min(10)]);
}

fn strip_via(mut v: Value) -> Value {
    if let Some(Value::Object(levels)) = v.get_mut("capability_levels") {
        for row in levels.values_mut() {
            if let Value::Object(r) = row {
                r.remove("via_dtype");
            }
        }
    }
    // the measured cost model of a calibrated silicon class is an extension field: the
    // reference rules never read it (docs/calibration.md)
    if let Value::Object(o) = &mut v {
        for k in ["llm_calibration", "runtime", "silicon_class", "memory_sharing", "published_peaks"] {
            o.remove(k);
        }
    }
    v
}

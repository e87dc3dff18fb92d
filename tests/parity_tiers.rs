//! Every golden hardware entry (canonical, memory clones, clones of clones, custom tiers,
//! field overrides) built from its construction recipe through tier forms, compared with its
//! golden `fields` and `derived` values; plus the precision operations.

mod common;

use common::{cases, diff, golden, strip_types, tier_form};
use ratchet::Engine;
use ratchet::rules::inputs::RecVal;
use serde_json::{Value, json};

fn engine() -> Engine {
    Engine::embedded()
        .unwrap_or_else(|r| panic!("{r:?}"))
        .with_rule_set("ratchet-0.3.2")
        .unwrap_or_else(|e| panic!("{e}"))
}

fn tier_json(t: &ratchet::TierSpec) -> Value {
    let mut v = serde_json::to_value(t).unwrap_or_else(|e| panic!("{e}"));
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

#[test]
fn every_golden_tier_builds_from_its_recipe() {
    let e = engine();
    let hw = golden()["hardware"].as_object().unwrap_or_else(|| panic!("hardware"));
    assert_eq!(hw.len(), 123);
    let mut failures = Vec::new();
    for (id, entry) in hw {
        let f = tier_form(&entry["construction"]);
        let t = match e.tier_from_json(&f) {
            Ok(t) => t.into_owned(),
            Err(err) => {
                failures.push(format!("{id}: {err}"));
                continue;
            }
        };
        let want = strip_types(&entry["fields"]);
        if let Some(d) = diff(id, &want, &tier_json(&t.to_full_spec()), 0.0) {
            failures.push(d);
            continue;
        }
        let d = &entry["derived"];
        if d["effective_bandwidth_gbs"].as_f64() != Some(t.effective_bandwidth_gbs()) {
            failures.push(format!("{id}: effective bandwidth"));
        }
        if d["tier_lookup_name"].as_str() != Some(t.lookup_name()) {
            failures.push(format!("{id}: lookup name"));
        }
        if d["capability_table_name"].as_str() != t.capability.as_ref().and_then(|c| c.name.as_deref()) {
            failures.push(format!("{id}: capability table name"));
        }
        for (op, key) in [("effective_tops", "effective_tops"), ("hw_peak_tops_for_dtype", "hw_peak_tops_for_dtype")] {
            for (dtype, want) in d[key].as_object().into_iter().flatten() {
                let got = e.run_operation(op, Some(&t), None, &[RecVal::Str(dtype)]).map(|v| v.num());
                if got.as_ref().ok().copied() != want.as_f64() {
                    failures.push(format!("{id}: {op}({dtype}) want {want}, got {got:?}"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{} failures: {:#?}", failures.len(), &failures[..failures.len().min(10)]);
}

fn tier_of(e: &Engine, id: &str) -> ratchet::Tier {
    let entry = &golden()["hardware"][id];
    e.tier_from_json(&tier_form(&entry["construction"])).unwrap_or_else(|err| panic!("{id}: {err}")).into_owned()
}

/// Replays an operation whose inputs are `hw` plus string arguments.
fn replay(e: &Engine, func: &str, op: &str, args: &[&str], expected_cases: usize) {
    let all = cases(func);
    assert_eq!(all.len(), expected_cases, "{func}");
    let mut failures = Vec::new();
    for c in all {
        let i = &c["inputs"];
        let t = i.get("hw").and_then(Value::as_str).map(|h| tier_of(e, h));
        let vals: Vec<RecVal<'_>> = args
            .iter()
            .map(|a| match &i[*a] {
                Value::String(s) => RecVal::Str(s.as_str()),
                Value::Null => RecVal::Absent,
                other => panic!("{func}: argument {a} = {other}"),
            })
            .collect();
        let got = e.run_operation(op, t.as_ref(), None, &vals).map(|v| v.to_json());
        match got {
            Ok(v) if diff("", &c["output"], &v, 0.0).is_none() => {}
            other => failures.push(format!("{}: want {}, got {other:?}", c["id"], c["output"])),
        }
    }
    assert!(failures.is_empty(), "{func}: {} failures: {:#?}", failures.len(), &failures[..failures.len().min(10)]);
}

#[test]
fn precision_operations_match_the_golden_cases() {
    let e = engine();
    replay(&e, "hw_supports_dtype", "hw_supports_dtype", &["dtype"], 658);
    replay(&e, "hw_supports_dtype_via_key", "hw_supports_dtype_via_key", &["cap_key"], 376);
    replay(&e, "hw_peak_tops_for_dtype", "hw_peak_tops_for_dtype", &["dtype"], 658);
    replay(&e, "Hardware.effective_tops", "effective_tops", &["dtype"], 658);
    replay(
        &e,
        "deployment_path_for_tier",
        "deployment_path_for_tier",
        &["dtype", "workload_kernel_source", "fp4_runtime_maturity"],
        2068,
    );
    replay(&e, "quant_scheme_capability_key", "quant_scheme_capability_key", &["quant_scheme"], 20);
    replay(&e, "is_fp4_compute_dtype", "is_fp4_compute_dtype", &["dtype"], 11);
    replay(&e, "effective_compute_dtype", "effective_compute_dtype", &["dtype", "fp4_runtime_maturity"], 22);
    replay(
        &e,
        "resolve_floor_dtype",
        "resolve_floor_dtype",
        &["npu_precision_set", "model_compute_dtype", "fp4_runtime_maturity"],
        72,
    );
}

#[test]
fn anchor_routing_matches_the_golden_cases() {
    let e = engine();
    let all = cases("hw_to_anchor_tier_precision");
    assert_eq!(all.len(), 376);
    for c in all {
        let i = &c["inputs"];
        let t = tier_of(&e, i["hw"].as_str().unwrap_or(""));
        let got = e.registry().anchor_routes().route(t.lookup_name(), i["capability_key"].as_str().unwrap_or(""));
        let got = got.map(|(a, b)| json!([a, b])).unwrap_or(Value::Null);
        assert_eq!(got, c["output"], "{}", c["id"]);
    }
}

#[test]
fn memory_upgrade_of_a_zero_bandwidth_tier_is_a_clear_error() {
    let e = engine();
    let f = json!({"base": {"base": "NPU Mid", "set": {"mem_bandwidth_gbs": 0.0}}, "memory": {"mem_type": "LPDDR6", "mem_data_rate_gtps": 14.0}});
    let err = e.tier_from_json(&f).err().map(|x| x.to_string()).unwrap_or_default();
    assert!(err.contains("mem_bandwidth_gbs is 0"), "{err}");
}

#[test]
fn unknown_class_rung_and_fields_list_what_is_valid() {
    let e = engine();
    let base = json!({"name": "x", "silicon_class": "neutrn", "peak_tops_int8": 2.0, "mem_bandwidth_gbs": 10.0,
        "mem_capacity_gb": 8.0, "mem_bus_width_bits": 32, "mem_type": "LPDDR5", "mem_data_rate_gtps": 2.5});
    let err = e.tier_from_json(&json!({"custom": base})).err().map(|x| x.to_string()).unwrap_or_default();
    assert!(
        err.contains("Valid: ['gddr_class', 'lp5x_128', 'lp5x_128_int8', 'lp5x_64', 'neutron', 'unknown']"),
        "{err}"
    );
    let mut b2 = base.clone();
    b2["silicon_class"] = json!("neutron");
    b2["npu_precision_set"] = json!("int4");
    let err = e.tier_from_json(&json!({"custom": b2})).err().map(|x| x.to_string()).unwrap_or_default();
    assert!(err.contains("Valid: ['int8', 'int8_fp8', 'int8_fp8_fp4']"), "{err}");
    let err =
        e.tier_from_json(&json!({"base": "NPU Mid", "set": {"bandwith_efficiency": 0.5}})).err().map(|x| x.to_string());
    assert!(err.unwrap_or_default().contains("did you mean `bandwidth_efficiency`?"));
    let err = e
        .run_operation("hw_supports_dtype", Some(&tier_of(&e, "NPU Mid")), None, &[RecVal::Str("int3")])
        .map(|v| v.to_json());
    assert_eq!(err.ok(), Some(json!("unsupported")), "an unknown dtype is handled, not an error");
}

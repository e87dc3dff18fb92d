//! Labels follow the arithmetic: every path × tier kind (canonical, memory clone, custom tier
//! with and without a calibrated silicon class, a calibrated device, anchored tiers) is
//! projected with its explanation, and the result's calibration source is checked against
//! the trace of the constants the rules read — a fit's label only where the fit was read, the
//! engine-defaults label where no fit or measurement was, and a "measured" label only on a
//! path a measurement answered.

mod common;

use ratchet::engine::{Engine, EngineConfig};
use ratchet::pack::PackRef;
use ratchet::{ProjectParams, Projection};
use serde_json::{Value, json};
use std::collections::BTreeMap;

const H200: &str = "NVIDIA H200 (reference, calibrated)";

fn engine(rule_set: &str) -> Engine {
    let mut cfg = EngineConfig::default();
    cfg.rules(rule_set);
    cfg.anchors = Some(common::root().join("tests/golden/anchor_secrets.toml"));
    cfg.packs = vec![PackRef::from_arg("reference-silicon")];
    let out = Engine::load(&cfg);
    out.engine.unwrap_or_else(|| panic!("{:?}", out.report))
}

/// One tier of each kind, as request forms.
fn tier_forms() -> Vec<(&'static str, Value)> {
    let custom = |class: &str| {
        json!({"custom": {"name": format!("custom {class}"), "silicon_class": class, "peak_tops_int8": 40.0,
            "peak_tops_bf16": 20.0, "mem_bandwidth_gbs": 273.0, "mem_capacity_gb": 128.0, "mem_bus_width_bits": 256,
            "mem_type": "LPDDR5X", "mem_data_rate_gtps": 8.533}})
    };
    vec![
        ("canonical, measured cells", json!("NPU Mid")),
        ("canonical, anchored", json!("NPU High")),
        ("canonical, no measurement", json!("NPU Low-LP5X")),
        ("canonical GPU", json!("RTX 5090 (reference, measured)")),
        (
            "tier with a measured cell",
            json!({"base": "NPU Low-LP5X", "set": {"measured_llm": {"qwen25_7b_dense": {"default": {"decode_tok_s": 5.0, "prefill_tok_s": 100.0}}}}}),
        ),
        ("memory clone", json!({"base": "NPU Mid", "memory": {"mem_type": "LPDDR6", "mem_data_rate_gtps": 14.0}})),
        ("custom, calibrated class", custom("lp5x_128")),
        ("custom, calibrated GPU class", custom("gddr_class")),
        ("custom, uncalibrated class", custom("lp5x_64")),
        ("calibrated device", json!(H200)),
        (
            "calibrated device, memory clone",
            json!({"base": H200, "memory": {"mem_type": "HBM3", "mem_data_rate_gtps": 7.0}}),
        ),
    ]
}

/// True when the trace read a fitted constant that the tier has.
fn fit_read(values: &[ratchet::projection::ExplainedValue]) -> bool {
    values.iter().any(|v| v.name.starts_with("hw.llm_calibration.") && v.value.as_f64().is_some_and(|x| x != 0.0))
}

#[test]
fn a_result_is_labelled_by_the_constants_its_path_read() {
    let e = engine("default");
    let reg = e.registry();
    let uncalibrated = &reg.badges().uncalibrated;
    let measured_methods = &reg.badges().measured_methods;
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for (kind, form) in tier_forms() {
        let tier = e.tier_from_json(&form).unwrap_or_else(|err| panic!("{kind}: {err}"));
        let tier = tier.get();
        for model in reg.catalog().iter() {
            for (workload, prompt) in [("default", 500u64), ("chat", 4096)] {
                let p = ProjectParams { prompt_tokens: Some(prompt), ..Default::default() };
                let (r, ex) = e.project_llm_explained(model, tier, workload, &p);
                let Ok(Projection::Projected(r)) = r else { continue };
                let at = format!("{} on {kind} `{}` ({workload})", model.key, tier.name());
                let taken = ex.paths.iter().find(|p| p.status == "taken").unwrap_or_else(|| panic!("{at}: no path"));
                assert_eq!(taken.source, r.source.as_ref(), "{at}");
                let label = r.calibration_source.as_deref().unwrap_or_else(|| panic!("{at}: no label"));
                let fit = tier.spec.llm_calibration.as_ref().map(|f| &f.source);
                let read = fit_read(&ex.values);
                match r.source.as_ref() {
                    // a first-principles result: the fit's label exactly when the fit was read
                    "fitted" | "cross_class" => {
                        if read {
                            assert_eq!(Some(label), fit, "{at}: the fit was read");
                            assert_eq!(r.source, "fitted", "{at}");
                        } else {
                            assert_eq!(label, uncalibrated, "{at}: nothing backs its constants");
                            assert_eq!(r.source, "cross_class", "{at}");
                        }
                    }
                    // answered by a measurement or an anchor: the tier's own label
                    _ => assert_eq!(Some(label), tier.spec.calibration_source.as_ref(), "{at}"),
                }
                if measured_methods.contains(&label.method) {
                    assert!(
                        read || taken.source != "cross_class",
                        "{at}: claims {} with nothing measured",
                        label.method
                    );
                }
                *seen.entry(format!("{}/{}", r.source, label.method)).or_default() += 1;
            }
        }
    }
    let wanted =
        ["fitted/derived_from_measured", "cross_class/default", "measured/", "measured_anchor/", "same_class_anchor/"];
    for want in wanted {
        assert!(seen.keys().any(|k| k.starts_with(want)), "no case of {want}: {seen:?}");
    }
}

#[test]
fn the_reference_rule_set_keeps_the_reference_label() {
    let e = engine("ratchet-0.3.2");
    for (kind, form) in tier_forms() {
        let tier = e.tier_from_json(&form).unwrap_or_else(|err| panic!("{kind}: {err}"));
        let tier = tier.get();
        for model in e.registry().catalog().iter() {
            let p = ProjectParams::default();
            if let Ok(Projection::Projected(r)) = e.project_llm(model, tier, "default", &p) {
                assert_eq!(
                    r.calibration_source.as_deref(),
                    tier.spec.calibration_source.as_ref(),
                    "{} on {kind}",
                    model.key
                );
                assert_ne!(r.source, "fitted");
            }
        }
    }
}

#[test]
fn a_tier_listing_does_not_claim_a_measurement_it_does_not_carry() {
    let e = engine("default");
    let reg = e.registry();
    for t in reg.tiers() {
        let Some(l) = reg.tier_label(t) else { continue };
        if reg.badges().measured_methods.contains(&l.source.method) {
            assert!(l.fitted || l.llm_measurements > 0, "{}: {l:?}", t.name());
        }
        if l.fitted {
            assert_eq!(Some(l.source), t.spec.llm_calibration.as_ref().map(|f| &f.source));
        }
    }
    let label = |name: &str| {
        let t = reg.tier(name).unwrap_or_else(|| panic!("{name}"));
        reg.tier_label(t).map(|l| (l.source.method.clone(), l.note.is_some()))
    };
    // the NPU High file says "measured", but carries no LLM measurement
    assert_eq!(label("NPU High"), Some(("default".into(), true)));
    // the RTX 5090 file says "measured" too, but its first-principles numbers come from its
    // silicon class's fit (llama.cpp CUDA), and its label says so
    assert_eq!(label("RTX 5090 (reference, measured)"), Some(("derived_from_measured".into(), false)));
    let fit = reg.tier("RTX 5090 (reference, measured)").and_then(|t| t.spec.llm_calibration.as_ref());
    assert!(fit.is_some_and(|f| f.source.reference.contains("--class gddr_class --runtime llamacpp-cuda")), "{fit:?}");
    assert_eq!(label("NPU Mid"), Some(("measured".into(), false)));
    assert_eq!(label(H200), Some(("derived_from_measured".into(), false)));
}

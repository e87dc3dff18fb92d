//! Physical bounds (rules/physical-bounds.ron, docs/rules.md "Bounds"), as properties over
//! random valid requests — registry tiers and random custom tiers (peaks sometimes 0), every
//! catalog model, token counts, options inside their ranges:
//! - under `default` every `Projected` result has a positive finite decode rate (and prefill
//!   when there is a prompt), decode under the bandwidth roofline, prefill under the tier's
//!   highest peak compute, a TTFT ≥ 0 — and every refusal is one of the bounds, with its
//!   reason;
//! - under `ratchet-0.3.2` nothing is refused by a bound (the reference's behaviour).
//!
//! 10,000 cases by default (a few seconds in release), as the done-when asks of CI;
//! `PROPTEST_CASES=N` runs more or fewer.

use proptest::prelude::*;
use ratchet::{Engine, ProjectParams, Projection};
use serde_json::{Value, json};
use std::sync::OnceLock;

fn engines() -> &'static (Engine, Engine) {
    static E: OnceLock<(Engine, Engine)> = OnceLock::new();
    E.get_or_init(|| {
        let d = Engine::embedded().unwrap_or_else(|r| panic!("{r:?}"));
        let r = d.with_rule_set("ratchet-0.3.2").unwrap_or_else(|e| panic!("{e}"));
        (d, r)
    })
}

fn cases(default: u32) -> ProptestConfig {
    let n = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default);
    ProptestConfig { cases: n, failure_persistence: None, ..ProptestConfig::default() }
}

const CLASSES: &[&str] = &["neutron", "lp5x_64", "lp5x_128", "lp5x_128_int8", "gddr_class", "unknown"];

/// A registry tier (by index) or a custom tier with these peaks (0 drops a peak).
fn tier_json(pick: usize, class: usize, peaks: [f64; 4], bw: f64, cap: f64) -> Value {
    let reg = engines().0.registry();
    let n = reg.tiers().len();
    if pick < n {
        return Value::String(reg.tiers()[pick].name().to_string());
    }
    json!({"custom": {
        "name": "prop tier",
        "silicon_class": CLASSES[class % CLASSES.len()],
        "peak_tops_int8": peaks[0],
        "peak_tops_fp8": peaks[1],
        "peak_tops_fp4": peaks[2],
        "peak_tops_bf16": peaks[3],
        "mem_bandwidth_gbs": bw,
        "mem_capacity_gb": cap,
        "mem_bus_width_bits": 64,
        "mem_type": "LPDDR5X",
        "mem_data_rate_gtps": 8.5,
    }})
}

fn peak() -> impl Strategy<Value = f64> {
    prop_oneof![Just(0.0), 0.5f64..2000.0]
}

const BOUND_MESSAGES: &[&str] = &["no positive rate for ", "the TTFT of ", "decode ", "prefill "];

proptest! {
    #![proptest_config(cases(10_000))]

    #[test]
    fn projected_results_stay_inside_the_physical_bounds(
        pick in 0usize..24,
        class in 0usize..6,
        peaks in [peak(), peak(), peak(), peak()],
        bw in 1.0f64..4000.0,
        cap in 1.0f64..200.0,
        model in 0usize..64,
        prompt in prop_oneof![Just(0u64), 1u64..40_000],
        decode in 0u64..2_000,
        cq in prop_oneof![Just(None), (0.01f64..=1.0).prop_map(Some)],
        share in prop_oneof![Just(None), (0.01f64..=1.0).prop_map(Some)],
        host in prop_oneof![Just(None), (0.0f64..100.0).prop_map(Some)],
        immature in any::<bool>(),
    ) {
        let (d, reference) = engines();
        let models: Vec<_> = d.registry().catalog().iter().collect();
        let m = models[model % models.len()];
        let arg = d.tier_from_json(&tier_json(pick, class, peaks, bw, cap));
        let Ok(arg) = arg else { return Ok(()) };
        let t = arg.get();
        let p = ProjectParams {
            prompt_tokens: Some(prompt),
            decode_tokens: Some(decode),
            host_ms: host,
            compiler_quality: cq,
            npu_share: share,
            fp4_runtime_maturity: immature.then(|| "immature".to_string()),
            kv_cache_dtype: None,
        };
        match d.project_llm(m, t, "default", &p) {
            Ok(Projection::Projected(r)) => {
                let s = &t.spec;
                let weights_gb = m.active_params_b * m.bytes_per_param;
                let roof_decode = s.mem_bandwidth_gbs / weights_gb;
                let peak_any = s.peak_tops_int8.max(s.peak_tops_fp8).max(s.peak_tops_fp4).max(s.peak_tops_bf16);
                let roof_prefill = peak_any * 1000.0 / (2.0 * m.active_params_b);
                prop_assert!(r.decode_tok_s.is_finite() && r.decode_tok_s > 0.0, "decode {}", r.decode_tok_s);
                prop_assert!(r.prefill_tok_s.is_finite() && (prompt == 0 || r.prefill_tok_s > 0.0), "prefill {}", r.prefill_tok_s);
                // reported rates are rounded to 2 places
                prop_assert!(r.decode_tok_s <= roof_decode * (1.0 + 1e-9) + 0.005, "decode {} > roofline {roof_decode}", r.decode_tok_s);
                prop_assert!(r.prefill_tok_s <= roof_prefill * (1.0 + 1e-9) + 0.005, "prefill {} > roofline {roof_prefill}", r.prefill_tok_s);
                prop_assert!(r.ttft_s >= 0.0 && r.ttft_s.is_finite(), "ttft {}", r.ttft_s);
                prop_assert!(r.total_s >= 0.0 && r.total_s.is_finite(), "total {}", r.total_s);
            }
            Ok(_) => {}
            Err(e) => {
                let msg = e.to_string();
                prop_assert!(BOUND_MESSAGES.iter().any(|b| msg.starts_with(b)), "not a bound: {msg}");
                prop_assert!(msg.contains(&m.key), "the refusal names the model: {msg}");
            }
        }
        // the reference rule set refuses nothing on these grounds
        if let Err(e) = reference.project_llm(m, t, "default", &p) {
            let msg = e.to_string();
            prop_assert!(!BOUND_MESSAGES.iter().any(|b| msg.starts_with(b)), "ratchet-0.3.2 refused: {msg}");
        }
    }
}

#[test]
fn a_custom_tier_without_the_peak_its_path_needs_is_refused_naming_the_field() {
    let (d, reference) = engines();
    let m = d.model("qwen25_7b_dense").unwrap_or_else(|e| panic!("{e}"));
    let tier = json!({"custom": {"name": "lp5x_64", "silicon_class": "unknown", "peak_tops_int8": 10.0,
        "mem_bandwidth_gbs": 68.0, "mem_capacity_gb": 16.0, "mem_bus_width_bits": 64, "mem_type": "LPDDR5X",
        "mem_data_rate_gtps": 8.5}});
    let arg = d.tier_from_json(&tier).unwrap_or_else(|e| panic!("{e}"));
    let p = ProjectParams::default();
    let e = d.project_llm(m, arg.get(), "default", &p).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(e.contains("the tier has no `peak_tops_bf16`"), "{e}");
    // the reference answered 0.0 tok/s and a TTFT of 7.6e10 s; ratchet-0.3.2 keeps it
    let arg = reference.tier_from_json(&tier).unwrap_or_else(|e| panic!("{e}"));
    match reference.project_llm(m, arg.get(), "default", &p) {
        Ok(Projection::Projected(r)) => assert!(r.decode_tok_s == 0.0 && r.ttft_s > 1e9, "{r:?}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_measured_decode_above_the_roofline_is_refused() {
    // a tier whose stated bandwidth is below what its own measured cell implies
    let (d, _) = engines();
    // (NPU Mid's measured anchor of the MoE model: 37.85 tok/s)
    let base = d.tier("NPU Mid").unwrap_or_else(|e| panic!("{e}"));
    let m = d.model("qwen3_30b_a3b_moe").unwrap_or_else(|e| panic!("{e}"));
    let slow = json!({"base": base.name(), "set": {"mem_bandwidth_gbs": 1.0}});
    let arg = d.tier_from_json(&slow).unwrap_or_else(|e| panic!("{e}"));
    let e = d.project_llm(m, arg.get(), "default", &ProjectParams::default()).err().map(|e| e.to_string());
    let e = e.unwrap_or_default();
    assert!(e.starts_with("decode ") && e.contains("above its bandwidth roofline"), "{e}");
}

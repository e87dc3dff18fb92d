//! Lanes give exactly what one-at-a-time evaluation gives: every registry tier × catalog
//! model under every rule set, over blocks of requests whose control flow agrees and blocks
//! where it splits (some requests do not fit, others override the NPU share or the FP4
//! maturity, some have invalid parameters), compared field by field, bit for bit.

use proptest::prelude::*;
use ratchet::{Engine, EngineError, ProjectParams, Projection};
use std::sync::OnceLock;

fn engine() -> &'static Engine {
    static E: OnceLock<Engine> = OnceLock::new();
    E.get_or_init(|| Engine::embedded().unwrap_or_else(|r| panic!("{r:?}")))
}

/// A result as comparable text: every field, floats by their bits.
fn key(r: &Result<Projection<'_>, EngineError>) -> String {
    match r {
        Ok(p) => {
            let v = serde_json::to_value(p).unwrap_or_default();
            bits(&v).to_string()
        }
        Err(e) => format!("error: {e}"),
    }
}

fn bits(v: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::Number(n) => Value::String(format!("{:016x}", n.as_f64().unwrap_or(f64::NAN).to_bits())),
        Value::Array(a) => Value::Array(a.iter().map(bits).collect()),
        Value::Object(m) => Value::Object(m.iter().map(|(k, x)| (k.clone(), bits(x))).collect()),
        other => other.clone(),
    }
}

fn request(prompt: u64, decode: u64, variant: u8) -> ProjectParams {
    let mut p = ProjectParams { prompt_tokens: Some(prompt), decode_tokens: Some(decode), ..Default::default() };
    match variant % 6 {
        1 => p.npu_share = Some(0.5),
        2 => p.fp4_runtime_maturity = Some("immature".into()),
        3 => p.compiler_quality = Some(0.8),
        4 => p.host_ms = Some(12.5),
        5 => p.host_ms = Some(f64::NAN), // an invalid request in the middle of a block
        _ => {}
    }
    p
}

const WORKLOADS: &[&str] = &["rag_qa", "chat", "code", "default"];

/// Every pair, every rule set: a block of requests with growing contexts (some fit, some do
/// not) and mixed options, lanes against one call each.
#[test]
fn blocks_equal_single_calls_for_every_pair_and_rule_set() {
    let base = engine();
    let reqs: Vec<ProjectParams> = (0..43u64).map(|i| request(64 << (i % 12), (i * 37) % 900, (i % 7) as u8)).collect();
    let mut compared = 0usize;
    let mut kinds = std::collections::BTreeSet::new();
    for set in base.rule_sets().map(|s| s.name.clone()).collect::<Vec<_>>() {
        let e = base.with_rule_set(&set).unwrap_or_else(|e| panic!("{e}"));
        let reg = e.registry();
        for t in reg.tiers() {
            for m in reg.catalog().iter() {
                let block: Vec<(&str, &ProjectParams)> =
                    reqs.iter().enumerate().map(|(i, p)| (WORKLOADS[i % WORKLOADS.len()], p)).collect();
                let mut out = Vec::new();
                e.project_llm_block(m, t, &block, &mut out);
                assert_eq!(out.len(), block.len());
                for ((w, p), got) in block.iter().zip(&out) {
                    let want = e.project_llm(m, t, w, p);
                    assert_eq!(key(got), key(&want), "{set}: {} on {} ({w}, {p:?})", m.key, t.name());
                    compared += 1;
                    kinds.insert(match &want {
                        Ok(p) => p.kind().to_string(),
                        Err(_) => "error".to_string(),
                    });
                }
            }
        }
    }
    // blocks that split (fits and does not fit, errors among them), over thousands of requests
    assert!(compared > 9_000, "{compared}");
    for k in ["Projected", "WontFit", "error"] {
        assert!(kinds.contains(k), "{kinds:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(64),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Random blocks (any length, any mix) on random pairs.
    #[test]
    fn random_blocks_equal_single_calls(
        tier in 0usize..64,
        model in 0usize..64,
        reqs in proptest::collection::vec((1u64..200_000, 0u64..20_000, any::<u8>()), 0..23),
    ) {
        let e = engine();
        let reg = e.registry();
        let t = &reg.tiers()[tier % reg.tiers().len()];
        let models: Vec<_> = reg.catalog().iter().collect();
        let m = models[model % models.len()];
        let params: Vec<ProjectParams> = reqs.iter().map(|(p, d, v)| request(*p, *d, *v)).collect();
        let block: Vec<(&str, &ProjectParams)> =
            params.iter().enumerate().map(|(i, p)| (WORKLOADS[i % WORKLOADS.len()], p)).collect();
        let mut out = Vec::new();
        e.project_llm_block(m, t, &block, &mut out);
        prop_assert_eq!(out.len(), block.len());
        for ((w, p), got) in block.iter().zip(&out) {
            prop_assert_eq!(key(got), key(&e.project_llm(m, t, w, p)));
        }
    }
}

//! Invariants of the engine, as properties (proptest):
//! - decode tok/s never decreases when bandwidth rises, and never increases when bytes per
//!   parameter rise;
//! - whatever fits at context N fits at any smaller context;
//! - a registry whose RON files are written as JSON loads to the same registry;
//! - every registry file type round-trips through JSON and RON, whatever its numbers;
//! - the same inputs give bit-identical results, sequential or parallel.
//!
//! Case counts default to 256 per property; `PROPTEST_CASES=10000 cargo test --release
//! --test props` is the long run recorded in `docs/reliability.md`.

use proptest::prelude::*;
use ratchet::registry::files::{AnchorRouteTable, BadgeTable, Manifest, MemoryTable, SiliconClassTable};
use ratchet::registry::loader::{Loader, MemoryLoader};
use ratchet::{Engine, ProjectParams, Projection, TierSpec};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::sync::OnceLock;

fn engine() -> &'static Engine {
    static E: OnceLock<Engine> = OnceLock::new();
    E.get_or_init(|| Engine::embedded().unwrap_or_else(|r| panic!("{r:?}")))
}

/// The engine, and a registry tier and a catalog model picked by index (wrapping).
fn pick(
    tier: usize,
    model: usize,
) -> (&'static Engine, &'static ratchet::Tier, &'static std::sync::Arc<ratchet::LlmModel>) {
    let e = engine();
    let reg = e.registry();
    let models: Vec<_> = reg.catalog().iter().collect();
    (e, &reg.tiers()[tier % reg.tiers().len()], models[model % models.len()])
}

fn cases(default: u32) -> ProptestConfig {
    let n = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default);
    ProptestConfig { cases: n, failure_persistence: None, ..ProptestConfig::default() }
}

fn decode(p: &Projection<'_>) -> Option<f64> {
    match p {
        Projection::Projected(p) => Some(p.decode_tok_s),
        _ => None,
    }
}

/// A projection, or `None` when a physical bound of the rules refused it (rules/physical-bounds.ron:
/// a measured rate above the roofline of a tier or model these properties altered); any other
/// error fails the case.
fn bounded<'a>(r: Result<Projection<'a>, ratchet::EngineError>) -> Result<Option<Projection<'a>>, TestCaseError> {
    match r {
        Ok(p) => Ok(Some(p)),
        Err(e)
            if ["no positive rate for ", "decode ", "prefill ", "the TTFT of "]
                .iter()
                .any(|b| e.to_string().starts_with(b)) =>
        {
            Ok(None)
        }
        Err(e) => Err(TestCaseError::fail(e.to_string())),
    }
}

fn params(prompt: u64, decode: u64) -> ProjectParams {
    ProjectParams { prompt_tokens: Some(prompt), decode_tokens: Some(decode), ..ProjectParams::default() }
}

const WORKLOADS: &[&str] = &["default", "rag_qa", "chat", "plain_chat"];

fn registry_files() -> Vec<(String, Vec<u8>)> {
    let l = ratchet::embedded::registry();
    l.list().unwrap_or_default().into_iter().filter_map(|p| l.read(&p).ok().map(|b| (p, b))).collect()
}

fn ron_to_json(text: &str) -> String {
    let node = ratchet::document::parse(text, ratchet::document::Format::Ron).unwrap_or_else(|e| panic!("{e:?}"));
    let mut issues = Vec::new();
    let v = node.to_json(&mut issues);
    assert!(issues.is_empty(), "{issues:?}");
    serde_json::to_string_pretty(&v).unwrap_or_else(|e| panic!("{e}"))
}

/// Everything a loaded registry holds, as text (every type prints all its fields).
fn registry_content(reg: &ratchet::Registry) -> String {
    let tiers: Vec<&TierSpec> = reg.tiers().iter().map(|t| &t.spec).collect();
    let models: Vec<_> = reg.catalog().iter().collect();
    format!(
        "{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}",
        reg.manifest(),
        tiers,
        models,
        reg.capability_tables(),
        reg.dtypes(),
        reg.quant_schemes(),
        reg.precision_sets(),
        reg.silicon_classes(),
        reg.memory(),
        reg.badges(),
        reg.anchor_routes()
    )
}

fn base_content() -> &'static str {
    static C: OnceLock<String> = OnceLock::new();
    C.get_or_init(|| registry_content(engine().registry()))
}

/// Replaces the numbers of `v` at the leaves picked by `picks` with `values`: integers stay
/// integers (in range for any integer field), the rest become arbitrary finite floats.
fn mutate(v: &mut Value, picks: &[(usize, f64, u32)]) {
    fn count(v: &Value) -> usize {
        match v {
            Value::Number(_) => 1,
            Value::Array(a) => a.iter().map(count).sum(),
            Value::Object(o) => o.values().map(count).sum(),
            _ => 0,
        }
    }
    /// Replaces leaf number `*k` (counting down); true once done.
    fn replace(v: &mut Value, k: &mut usize, f: f64, n: u32) -> bool {
        match v {
            Value::Number(_) if *k == 0 => {
                let is_int = v.as_u64().is_some();
                *v = if is_int {
                    Value::from(n)
                } else {
                    serde_json::Number::from_f64(f).map_or(Value::from(0), Value::Number)
                };
                true
            }
            Value::Number(_) => {
                *k -= 1;
                false
            }
            Value::Array(a) => a.iter_mut().any(|x| replace(x, k, f, n)),
            Value::Object(o) => o.values_mut().any(|x| replace(x, k, f, n)),
            _ => false,
        }
    }
    let total = count(v);
    if total == 0 {
        return;
    }
    for &(i, f, n) in picks {
        let mut k = i % total;
        replace(v, &mut k, f, n);
    }
}

fn roundtrip<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(
    json: &Value,
    picks: &[(usize, f64, u32)],
) -> Result<(), TestCaseError> {
    let mut v = json.clone();
    mutate(&mut v, picks);
    // a mutation may break a rule of the type itself (an enum tag, a schema version); such
    // values are not values of the type, so there is nothing to round-trip
    let Ok(t) = serde_json::from_value::<T>(v) else { return Ok(()) };
    let text = serde_json::to_string(&t).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let back: T = serde_json::from_str(&text).map_err(|e| TestCaseError::fail(format!("{e}: {text}")))?;
    prop_assert_eq!(&back, &t, "json");
    let ron_text = ron::to_string(&t).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let back: T = ron::from_str(&ron_text).map_err(|e| TestCaseError::fail(format!("{e}: {ron_text}")))?;
    prop_assert_eq!(&back, &t, "ron");
    Ok(())
}

fn file_json(rel: &str) -> Value {
    let files = registry_files();
    let (_, b) = files.iter().find(|(p, _)| p == rel).unwrap_or_else(|| panic!("no {rel}"));
    let text = std::str::from_utf8(b).unwrap_or_else(|e| panic!("{e}"));
    serde_json::from_str(&ron_to_json(text)).unwrap_or_else(|e| panic!("{e}"))
}

fn file_of_kind(prefix: &str) -> Vec<String> {
    registry_files().into_iter().map(|(p, _)| p).filter(|p| p.starts_with(prefix)).collect()
}

proptest! {
    #![proptest_config(cases(256))]

    #[test]
    fn decode_never_falls_as_bandwidth_rises(
        tier in 0usize..64, model in 0usize..64, workload in 0usize..4,
        bw in 1.0f64..2000.0, k in 1.0f64..8.0, prompt in 1u64..8192, dec in 1u64..4096,
    ) {
        let (e, base, m) = pick(tier, model);
        let reg = e.registry();
        let (mut lo, mut hi) = (base.spec.clone(), base.spec.clone());
        lo.mem_bandwidth_gbs = bw;
        hi.mem_bandwidth_gbs = bw * k;
        let (lo, hi) = (reg.resolve_tier(lo), reg.resolve_tier(hi));
        let p = params(prompt, dec);
        let a = bounded(e.project_llm(m, &lo, WORKLOADS[workload], &p))?;
        let b = bounded(e.project_llm(m, &hi, WORKLOADS[workload], &p))?;
        match (a, b) {
            (Some(a), Some(b)) => {
                prop_assert_eq!(a.kind(), b.kind(), "bandwidth changes neither fit nor dtype support");
                if let (Some(x), Some(y)) = (decode(&a), decode(&b)) {
                    prop_assert!(y >= x, "decode fell from {} to {} as bandwidth rose {} -> {}", x, y, bw, bw * k);
                }
            }
            // the roofline only rises with bandwidth: what it refuses at the higher bandwidth
            // it refuses at the lower one
            (Some(_), None) => prop_assert!(false, "refused at {} GB/s but not at {}", bw * k, bw),
            _ => {}
        }
    }

    #[test]
    fn decode_never_rises_with_bytes_per_parameter(
        tier in 0usize..64, model in 0usize..64, workload in 0usize..4,
        bpp in 0.05f64..4.0, k in 1.0f64..4.0, prompt in 1u64..8192, dec in 1u64..4096,
    ) {
        let (e, t, base) = pick(tier, model);
        let (mut lo, mut hi) = ((**base).clone(), (**base).clone());
        lo.bytes_per_param = bpp;
        hi.bytes_per_param = bpp * k;
        let p = params(prompt, dec);
        let a = bounded(e.project_llm(&lo, t, WORKLOADS[workload], &p))?;
        let b = bounded(e.project_llm(&hi, t, WORKLOADS[workload], &p))?;
        match (a, b) {
            (Some(a), Some(b)) => {
                if let (Some(x), Some(y)) = (decode(&a), decode(&b)) {
                    prop_assert!(y <= x, "decode rose from {} to {} as bytes/param rose {} -> {}", x, y, bpp, bpp * k);
                }
            }
            // the roofline only falls as the weights grow: what it refuses at the smaller
            // weights it refuses at the larger
            (None, Some(_)) => prop_assert!(false, "refused at {} bytes/param but not at {}", bpp, bpp * k),
            _ => {}
        }
    }

    #[test]
    fn what_fits_at_a_context_fits_at_any_smaller_one(
        tier in 0usize..64, model in 0usize..64, n in 0u64..2_000_000, frac in 0.0f64..1.0,
        bw in prop::option::of(1.0f64..64.0),
    ) {
        let (e, t, m) = pick(tier, model);
        let reg = e.registry();
        let mut spec = t.spec.clone();
        if let Some(gb) = bw {
            spec.mem_capacity_gb = gb;
        }
        let t = reg.resolve_tier(spec);
        let smaller = (n as f64 * frac) as u64;
        let big = e.memory_feasibility(m, &t, n).map_err(|x| TestCaseError::fail(x.to_string()))?;
        let small = e.memory_feasibility(m, &t, smaller).map_err(|x| TestCaseError::fail(x.to_string()))?;
        prop_assert!(small.headroom_gb >= big.headroom_gb);
        if big.verdict != "wont_fit" {
            prop_assert!(small.verdict != "wont_fit", "fits at {} but not at {}", n, smaller);
        }
        if big.verdict == "fits" {
            prop_assert_eq!(&*small.verdict, "fits");
        }
    }

    #[test]
    fn ron_files_written_as_json_load_to_the_same_registry(mask in any::<u64>()) {
        let mut loader = MemoryLoader::new("registry");
        for (i, (rel, bytes)) in registry_files().into_iter().enumerate() {
            if mask >> (i % 64) & 1 == 1 && rel.ends_with(".ron") {
                let text = String::from_utf8(bytes).unwrap_or_else(|e| panic!("{e}"));
                let json_rel = format!("{}.json", rel.trim_end_matches(".ron"));
                loader = loader.with(json_rel, ron_to_json(&text).into_bytes());
            } else {
                loader = loader.with(rel, bytes);
            }
        }
        let out = ratchet::registry::load(&loader);
        let reg = out.registry.ok_or_else(|| TestCaseError::fail(format!("{:?}", out.report)))?;
        prop_assert_eq!(registry_content(&reg), base_content());
    }

    #[test]
    fn registry_types_round_trip_through_json_and_ron(
        file in 0usize..64,
        picks in prop::collection::vec((0usize..10_000, prop::num::f64::NORMAL | prop::num::f64::SUBNORMAL | prop::num::f64::ZERO, any::<u32>()), 0..6),
    ) {
        let tiers = file_of_kind("tiers/");
        let rel = &tiers[file % tiers.len()];
        roundtrip::<TierSpec>(&file_json(rel), &picks)?;
        let caps = file_of_kind("capabilities/");
        roundtrip::<ratchet::precision::CapabilityTableFile>(&file_json(&caps[file % caps.len()]), &picks)?;
        roundtrip::<ratchet::catalog::CatalogFile>(&file_json("catalog/reference.ron"), &picks)?;
        roundtrip::<Manifest>(&file_json("registry.ron"), &picks)?;
        roundtrip::<ratchet::precision::DtypeTable>(&file_json("tables/dtypes.ron"), &picks)?;
        roundtrip::<ratchet::precision::QuantSchemeTable>(&file_json("tables/quant_schemes.ron"), &picks)?;
        roundtrip::<ratchet::precision::PrecisionSetTable>(&file_json("tables/precision_sets.ron"), &picks)?;
        roundtrip::<SiliconClassTable>(&file_json("tables/silicon_classes.ron"), &picks)?;
        roundtrip::<MemoryTable>(&file_json("tables/memory.ron"), &picks)?;
        roundtrip::<BadgeTable>(&file_json("tables/badges.ron"), &picks)?;
        roundtrip::<AnchorRouteTable>(&file_json("tables/anchor_routes.ron"), &picks)?;
    }

    #[test]
    fn results_are_bit_identical_sequential_or_parallel(
        reqs in prop::collection::vec((0usize..64, 0usize..64, 0usize..4, 1u64..8192, 1u64..4096, 0u8..3), 1..40),
    ) {
        let e = engine();
        let reg = e.registry();
        let lines: Vec<String> = reqs
            .iter()
            .map(|&(t, m, w, p, d, op)| {
                let tier = reg.tiers()[t % reg.tiers().len()].name().to_string();
                let model = reg.catalog().iter().nth(m % reg.catalog().len()).map(|m| m.key.clone()).unwrap_or_default();
                match op {
                    0 => serde_json::json!({"op": "project_llm", "model": model, "hw": tier, "workload_id": WORKLOADS[w], "prompt_tokens": p, "decode_tokens": d}),
                    1 => serde_json::json!({"op": "memory_feasibility", "model": model, "hw": tier, "context_tokens": p + d}),
                    _ => serde_json::json!({"op": "kv_cache_bytes_per_token", "model": model}),
                }
                .to_string()
            })
            .collect();
        let sequential: String = lines.iter().map(|l| ratchet::batch::answer_line(e, l).to_string() + "\n").collect();
        // the batch runner answers in parallel chunks; repeat the input so chunks split it
        let input = lines.iter().cycle().take(lines.len() * 40).cloned().collect::<Vec<_>>().join("\n");
        let mut out = Vec::new();
        ratchet::batch::run(e, input.as_bytes(), &mut out).map_err(|x| TestCaseError::fail(x.to_string()))?;
        let parallel = String::from_utf8(out).map_err(|x| TestCaseError::fail(x.to_string()))?;
        let want: String = sequential.lines().cycle().take(lines.len() * 40).map(|l| {
            // the batch writer and `Value::to_string` differ only in formatting, not in bits:
            // compare parsed values
            l.to_string()
        }).collect::<Vec<_>>().join("\n");
        let got: Vec<Value> = parallel.lines().map(|l| serde_json::from_str(l).unwrap_or(Value::Null)).collect();
        let want: Vec<Value> = want.lines().map(|l| serde_json::from_str(l).unwrap_or(Value::Null)).collect();
        prop_assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(&want) {
            prop_assert_eq!(bits(g), bits(w));
        }
    }
}

/// A value with every number replaced by its exact bits, so equality is bit equality.
fn bits(v: &Value) -> Value {
    match v {
        Value::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
            (Some(u), _, _) => Value::from(format!("u{u}")),
            (_, Some(i), _) => Value::from(format!("i{i}")),
            (_, _, Some(f)) => Value::from(format!("f{:016x}", f.to_bits())),
            _ => v.clone(),
        },
        Value::Array(a) => Value::Array(a.iter().map(bits).collect()),
        Value::Object(o) => Value::Object(o.iter().map(|(k, v)| (k.clone(), bits(v))).collect()),
        other => other.clone(),
    }
}

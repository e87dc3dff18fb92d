//! Each correction of the reference's quirks (rule sets `fix-*`, all four in `default`)
//! changes exactly the golden cases it names, and nothing else; `default` changes the union.
//! The before/after figures quoted in docs/rules.md are asserted here.

mod common;

use common::{cases, golden, hw_form, strip_types};
use ratchet::Engine;
use ratchet::anchors::AnchorFile;
use ratchet::rules::inputs::RecVal;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

fn engine(set: &str) -> Engine {
    let (file, _) = AnchorFile::load(&common::root().join("tests/golden/anchor_secrets.toml"));
    Engine::embedded()
        .unwrap_or_else(|r| panic!("{r:?}"))
        .with_rule_set(set)
        .unwrap_or_else(|e| panic!("{e}"))
        .with_anchors(file.map(Arc::new))
}

fn ask(e: &Engine, req: Value) -> Value {
    let Value::Object(o) = req else { panic!("object") };
    let mut v = ratchet::batch::answer(e, &o).unwrap_or_else(|err| json!({"error": err.to_string()}));
    if let Value::Object(m) = &mut v {
        m.remove("provenance");
        m.remove("badge");
        m.remove("calibration_source");
    }
    v
}

/// Every golden request this test replays: (case id, request).
fn requests() -> Vec<(String, Value)> {
    let g = golden();
    let model = |id: &Value| strip_types(&g["models"][id.as_str().unwrap_or("")]["fields"]);
    let mut out = Vec::new();
    for c in cases("project_llm") {
        let i = &c["inputs"];
        let mut r = json!({"op": "project_llm", "model": model(&i["model"]), "hw": hw_form(i["hw"].as_str().unwrap_or("")),
            "workload_id": i["workload_id"], "prompt_tokens": i["prompt_tokens"], "decode_tokens": i["decode_tokens"]});
        if i["options"].as_object().is_some_and(|o| !o.is_empty()) {
            r["options"] = i["options"].clone();
        }
        out.push((c["id"].as_str().unwrap_or("").to_string(), r));
    }
    for c in cases("overlay_llm_anchor") {
        let i = &c["inputs"];
        if i["secrets"].is_null() {
            continue;
        }
        let mut r = json!({"op": "overlay_llm_anchor", "result": i["base_result"], "hw": hw_form(i["hw"].as_str().unwrap_or("")),
            "model": model(&i["model"]), "decode_mult": i["decode_mult"], "ttft_mult": i["ttft_mult"]});
        match i["catalog_to_spec_key"]["kind"].as_str() {
            Some("none") => r["spec_key_map"] = json!({}),
            Some("map") => r["spec_key_map"] = i["catalog_to_spec_key"]["map"].clone(),
            _ => {}
        }
        out.push((c["id"].as_str().unwrap_or("").to_string(), r));
    }
    for (func, op, args) in [
        ("hw_supports_dtype", "hw_supports_dtype", vec!["dtype"]),
        (
            "deployment_path_for_tier",
            "deployment_path_for_tier",
            vec!["dtype", "workload_kernel_source", "fp4_runtime_maturity"],
        ),
    ] {
        for c in cases(func) {
            let i = &c["inputs"];
            let mut r = json!({"op": op, "hw": hw_form(i["hw"].as_str().unwrap_or(""))});
            for a in &args {
                r[*a] = i[*a].clone();
            }
            out.push((c["id"].as_str().unwrap_or("").to_string(), r));
        }
    }
    out
}

fn answers(e: &Engine, reqs: &[(String, Value)]) -> BTreeMap<String, Value> {
    reqs.iter().map(|(id, r)| (id.clone(), ask(e, r.clone()))).collect()
}

/// The answers without the uncertainty band's record fields (`band_*`, `rules/uncertainty.ron`).
fn without_band(a: BTreeMap<String, Value>) -> BTreeMap<String, Value> {
    a.into_iter()
        .map(|(k, mut v)| {
            if let Some(o) = v.as_object_mut() {
                o.retain(|f, _| !f.starts_with("band_"));
            }
            (k, v)
        })
        .collect()
}

fn changed(a: &BTreeMap<String, Value>, b: &BTreeMap<String, Value>) -> BTreeSet<String> {
    a.iter().filter(|(k, v)| b.get(*k) != Some(v)).map(|(k, _)| k.clone()).collect()
}

/// Does the case's tier lack a path for the model's nominal floor dtype, while the model's
/// weight-only quantisation runs through a path with a known dtype?
fn weight_only_without_nominal_path(e: &Engine, req: &Value) -> bool {
    let Ok(tier) = e.tier_from_json(&req["hw"]) else { return false };
    let t = tier.get();
    let m = &req["model"];
    let quant = m["quant_scheme"].as_str().unwrap_or("");
    if !["Q4_K_M", "Q5_K_M", "Q8_0"].contains(&quant) {
        return false;
    }
    let maturity = req["options"]["fp4_runtime_maturity"].as_str().unwrap_or("mature");
    let rung = t.spec.npu_precision_set.as_deref().map_or(RecVal::Absent, RecVal::Str);
    let nominal = e
        .run_operation(
            "resolve_floor_dtype",
            None,
            None,
            &[rung, RecVal::Str(m["compute_dtype"].as_str().unwrap_or("")), RecVal::Str(maturity)],
        )
        .map(|v| v.str().to_string())
        .unwrap_or_default();
    let level =
        e.run_operation("hw_supports_dtype", Some(t), None, &[RecVal::Str(&nominal)]).map(|v| v.str().to_string());
    level.as_deref() == Ok("unsupported")
}

#[test]
fn each_correction_changes_exactly_the_cases_it_names() {
    let reqs = requests();
    let by_id: BTreeMap<&str, &Value> = reqs.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let reference = engine("ratchet-0.3.2");
    let base = answers(&reference, &reqs);

    // Q1: weight-only quants on tiers without their nominal path
    let q1 = changed(&base, &answers(&engine("fix-weight-only-floor"), &reqs));
    assert!(!q1.is_empty());
    for id in &q1 {
        assert!(id.starts_with("project_llm#"), "{id}");
        assert!(weight_only_without_nominal_path(&reference, by_id[id.as_str()]), "Q1 changed {id}");
    }

    // Q2: overlays that apply an anchor
    let q2 = changed(&base, &answers(&engine("fix-overlay-prompt"), &reqs));
    assert!(!q2.is_empty());
    for id in &q2 {
        assert!(id.starts_with("overlay_llm_anchor#"), "{id}");
        assert_eq!(base[id]["source"], "measured_silicon_anchor", "Q2 changed {id}, which has no anchor");
    }

    // Q3: memory-upgrade clones (with a family) that fell to first principles
    let q3 = changed(&base, &answers(&engine("fix-clone-siblings"), &reqs));
    assert!(!q3.is_empty());
    for id in &q3 {
        assert!(id.starts_with("project_llm#"), "{id}");
        let t = reference.tier_from_json(&by_id[id.as_str()]["hw"]).unwrap_or_else(|e| panic!("{e}"));
        assert!(t.get().spec.bw_projected, "Q3 changed {id} on a stock tier");
        assert_eq!(base[id]["source"], "cross_class", "{id}");
    }

    // Q8: fp4 / mxfp4 spellings in capability lookups
    let q8 = changed(&base, &answers(&engine("fix-fp4-alias"), &reqs));
    assert!(!q8.is_empty());
    for id in &q8 {
        let r = by_id[id.as_str()];
        let dtype = r["dtype"].as_str().map(str::to_lowercase).unwrap_or_default();
        let quant = r["model"]["quant_scheme"].as_str().map(str::to_lowercase).unwrap_or_default();
        assert!(
            ["fp4", "mxfp4"].contains(&dtype.as_str()) || ["fp4", "mxfp4"].contains(&quant.as_str()),
            "Q8 changed {id}"
        );
    }

    // KV head_dim: the golden models carry no head_dim, so the reference's KV expression
    // answers every golden case unchanged (the catalog's Qwen3-30B-A3B is tested below)
    let kv = changed(&base, &answers(&engine("fix-kv-head-dim"), &reqs));
    assert!(kv.is_empty(), "fix-kv-head-dim changed golden cases: {kv:?}");

    // corrected = all five, and nothing else
    let all = changed(&base, &answers(&engine("corrected"), &reqs));
    let union: BTreeSet<String> = q1.iter().chain(&q2).chain(&q3).chain(&q8).cloned().collect();
    assert_eq!(all, union, "`corrected` changes exactly the union of the corrections");

    // the measured cost model changes first-principles projections only (anchored and
    // measured answers stay), and default = the corrections and the cost model
    let cost = changed(&base, &answers(&engine("silicon-cost"), &reqs));
    assert!(!cost.is_empty());
    for id in &cost {
        assert!(id.starts_with("project_llm#"), "silicon-cost changed {id}");
        assert_eq!(base[id]["source"], "cross_class", "silicon-cost changed {id}, which is not first principles");
    }
    // physical bounds only refuse: every case they change is a refusal that names a bound
    // (the reference's golden answers whose rates print as 0.0 or break a roofline)
    let bounded = answers(&engine("physical-bounds"), &reqs);
    let bounds = changed(&base, &bounded);
    for id in &bounds {
        let m = bounded[id]["error"].as_str().unwrap_or("");
        assert!(
            ["no positive rate for ", "the TTFT of ", "decode ", "prefill "].iter().any(|b| m.starts_with(b)),
            "physical-bounds changed {id} without a bound: {}",
            bounded[id]
        );
    }
    // checked requests only refuse: a workload id the data does not know (the golden `w`), a
    // memory option below the tier's own bandwidth, tokens beyond the trained context
    let checked_answers = answers(&engine("checked-requests"), &reqs);
    let checked = changed(&base, &checked_answers);
    for id in &checked {
        let m = checked_answers[id]["error"].as_str().unwrap_or("");
        assert!(
            ["unknown workload ", "unknown memory type ", "a memory option must be an upgrade", "-token context "]
                .iter()
                .any(|b| m.contains(b)),
            "checked-requests changed {id} without a check: {}",
            checked_answers[id]
        );
    }
    // the uncertainty band only adds fields: every projected answer carries its band, and
    // no number or other field changes
    let banded = answers(&engine("uncertainty"), &reqs);
    let unbanded: Vec<&String> = base
        .iter()
        .filter(|(id, v)| id.starts_with("project_llm#") && v.get("decode_tok_s").is_some())
        .filter(|(id, _)| banded[id.as_str()].get("band_basis").is_none())
        .map(|(id, _)| id)
        .collect();
    assert!(unbanded.is_empty(), "projections without a band: {:?}", &unbanded[..unbanded.len().min(5)]);
    assert!(changed(&base, &without_band(banded)).is_empty(), "the band changes no number");
    let default_answers = without_band(answers(&engine("default"), &reqs));
    let default = changed(&base, &default_answers);
    let refused = default_answers
        .values()
        .filter(|v| {
            v["error"].as_str().is_some_and(|m| {
                ["no positive rate for ", "the TTFT of ", "decode ", "prefill "].iter().any(|b| m.starts_with(b))
            })
        })
        .count();
    let all_three: BTreeSet<String> = union.iter().chain(&cost).chain(&bounds).chain(&checked).cloned().collect();
    assert_eq!(
        default.difference(&all_three).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "default changes only the corrections' cases, the cost model's, the bounds' and the checks'"
    );
    assert_eq!(
        all_three.difference(&default).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "every case a correction, the cost model or a bound changes, default changes"
    );
    eprintln!(
        "changed cases: Q1 {}, Q2 {}, Q3 {}, Q8 {}, corrected {}, silicon-cost {}, bounds {}, checked requests {}, default {} (refused by a bound: {})",
        q1.len(),
        q2.len(),
        q3.len(),
        q8.len(),
        all.len(),
        cost.len(),
        bounds.len(),
        checked.len(),
        default.len(),
        refused
    );
}

#[test]
fn before_and_after_figures_of_docs_rules_md() {
    let reqs = requests();
    let by_id: BTreeMap<&str, &Value> = reqs.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let (reference, fixed) = (engine("ratchet-0.3.2"), engine("corrected"));
    let both = |id: &str| (ask(&reference, by_id[id].clone()), ask(&fixed, by_id[id].clone()));

    // Q1: Qwen2.5-7B Q4_K_M on NPU Mid, first principles
    let (b, a) = both("project_llm#2917");
    assert_eq!(
        (b["decode_tok_s"].clone(), b["ttft_s"].clone(), b["total_s"].clone()),
        (json!(0.0), json!(76000000000.001), json!(700000000.001))
    );
    assert_eq!(
        (
            a["decode_tok_s"].clone(),
            a["prefill_tok_s"].clone(),
            a["ttft_s"].clone(),
            a["total_s"].clone(),
            a["regime"].clone()
        ),
        (json!(16.29), json!(1312.34), json!(0.381), json!(12.661), json!("bw_bound"))
    );

    // Q2: NPU Mid × Qwen3 with the anchor, decode ×0.5, TTFT ×130.5
    let (b, a) = both("overlay_llm_anchor#34919");
    assert_eq!((b["ttft_s"].clone(), b["total_s"].clone()), (json!(46.9049), json!(55.996)));
    assert_eq!(
        (a["ttft_s"].clone(), a["prefill_s"].clone(), a["total_s"].clone()),
        (json!(22.9028), json!(22.903), json!(31.995))
    );

    // Q3: NPU High with LPDDR6 @ 14 GT/s
    let (b, a) = both("project_llm#15445");
    assert_eq!((b["source"].clone(), b["decode_tok_s"].clone()), (json!("cross_class"), json!(68.77)));
    assert_eq!(
        (a["source"].clone(), a["decode_tok_s"].clone(), a["ttft_s"].clone()),
        (json!("same_class_anchor"), json!(63.08), json!(0.1755))
    );

    // Q8: `fp4` on the RTX 5090
    let (b, a) = both("hw_supports_dtype#28567");
    assert_eq!((b["result"].clone(), a["result"].clone()), (json!("unsupported"), json!("tensor_native")));
}

#[test]
fn the_kv_cache_reads_the_models_head_dim() {
    // (model, bytes per token at 16 bits under ratchet-0.3.2, under default): Qwen3-30B-A3B
    // has 48 layers x 4 KV heads x head_dim 128 x K and V x 2 bytes; the reference derives
    // head_dim as 2048 / 32 = 64. A model whose head_dim is hidden / heads is unchanged.
    let (reference, default) = (engine("ratchet-0.3.2"), engine("default"));
    for (model, before, after) in [("qwen3_30b_a3b_moe", 49_152.0, 98_304.0), ("qwen25_7b_dense", 57_344.0, 57_344.0)] {
        let req = json!({"op": "kv_cache_bytes_per_token", "model": model});
        assert_eq!(ask(&reference, req.clone())["result"], before, "{model} under ratchet-0.3.2");
        assert_eq!(ask(&default, req.clone())["result"], after, "{model} under default");
    }
    // an inline model: head_dim given or not, by name
    let inline = |head_dim: Option<u32>| {
        let mut m = json!({
            "key": "gemma2_like", "family": "Gemma-2", "base": "gemma-2-2b", "total_params_b": 2.6,
            "active_params_b": 2.6, "quant_scheme": "BF16", "bytes_per_param": 2.0, "gguf_size_gb": 5.2,
            "size_gb_inflight": 5.2, "compute_dtype": "bf16", "num_layers": 26, "hidden_dim": 2304,
            "num_attention_heads": 8, "num_kv_heads": 4, "is_moe": false,
        });
        if let Some(h) = head_dim {
            m["head_dim"] = json!(h);
        }
        json!({"op": "kv_cache_bytes_per_token", "model": m})
    };
    // 26 x 2 x 4 x 256 x 2 = 106,496 with head_dim 256; 26 x 2 x 2304 x 4/8 x 2 = 119,808 without
    assert_eq!(ask(&default, inline(Some(256)))["result"], 106_496.0);
    assert_eq!(ask(&default, inline(None))["result"], 119_808.0);
    assert_eq!(ask(&reference, inline(Some(256)))["result"], 119_808.0);
}

//! `ratchet plan`: every answer checked against brute force over the same grid (the forward
//! engine run on every candidate), bad targets, the CLI's formats and exit codes, the batch
//! operation, and a registry edit that moves the answer without a rebuild.

mod common;

use common::{run, temp_registry};
use ratchet::plan::Targets;
use ratchet::{Engine, LlmModel, Projection, Tier};
use serde_json::{Value, json};

fn engine() -> Engine {
    Engine::embedded().unwrap_or_else(|r| panic!("{r:?}"))
}

fn verdict(e: &Engine, m: &LlmModel, t: &Tier, c: u64) -> String {
    e.memory_feasibility(m, t, c).unwrap_or_else(|e| panic!("{e}")).verdict.into_owned()
}

#[test]
fn max_context_is_the_exact_boundary_on_every_tier_and_model() {
    let e = engine();
    for t in e.registry().tiers() {
        for m in e.registry().catalog().iter() {
            let a = e.max_context(m, t, &Default::default()).unwrap_or_else(|e| panic!("{e}"));
            match a.max_context_tokens {
                Some(c) => {
                    assert_ne!(verdict(&e, m, t, c), "wont_fit", "{} on {} at {c}", m.key, t.name());
                    assert_eq!(verdict(&e, m, t, c + 1), "wont_fit", "{} on {} at {}", m.key, t.name(), c + 1);
                    // brute force over a grid up to twice the limit: fits exactly below it
                    let step = (c / 97).max(1);
                    let mut x = 0;
                    while x <= 2 * c + 1 {
                        assert_eq!(verdict(&e, m, t, x) != "wont_fit", x <= c, "{} on {} at {x}", m.key, t.name());
                        x += step;
                    }
                    let usable = a.usable_context_tokens.unwrap_or(0);
                    assert_eq!(usable, m.ctx_len_trained.map_or(c, |tr| tr.min(c)));
                    assert_eq!(a.limited_by, if usable < c { "trained_context" } else { "memory" });
                }
                None => {
                    assert_eq!(a.limited_by, "does_not_fit", "{} on {}", m.key, t.name());
                    assert_eq!(verdict(&e, m, t, 0), "wont_fit");
                }
            }
            if let Some(f) = a.max_fits_tokens {
                assert_eq!(verdict(&e, m, t, f), "fits");
                assert_ne!(verdict(&e, m, t, f + 1), "fits");
                assert!(a.max_context_tokens.is_some_and(|c| f <= c));
            }
        }
    }
}

/// Decode and TTFT of a projection, or `None` when it does not project.
fn rates(r: &Projection<'_>) -> Option<(f64, f64)> {
    match r {
        Projection::Projected(p) => Some((p.decode_tok_s, p.ttft_s)),
        _ => None,
    }
}

#[test]
fn the_cheapest_tier_is_the_cheapest_candidate_that_meets_the_targets() {
    let e = engine();
    let (rungs, _) = e.ladder_rungs(&ratchet::ladder::RungSpec { memory: vec![], upgrades: true });
    assert!(rungs.iter().any(|r| r.memory_upgrade.is_some()), "memory upgrades are candidates");
    for m in e.registry().catalog().iter() {
        for prompt in [500u64, 4096] {
            let w = e.workload_setup("default", Some(prompt), None);
            let brute: Vec<(f64, Option<(f64, f64)>)> = rungs
                .iter()
                .map(|r| {
                    let p = e.project_llm_full(m, &r.tier, &w.workload_id, &w.params, None, None);
                    (r.tier.spec.tdp_watts, rates(&p.unwrap_or_else(|e| panic!("{e}"))))
                })
                .collect();
            for min_decode in [1.0, 5.0, 20.0, 40.0, 100.0, 1e6] {
                for max_ttft in [None, Some(0.5), Some(2.0)] {
                    let t = Targets { min_decode_tok_s: Some(min_decode), max_ttft_s: max_ttft, ..Default::default() };
                    let plan = e.cheapest_tier(m, &t, &w, "tdp_watts", true).unwrap_or_else(|e| panic!("{e}"));
                    let meets = |r: &Option<(f64, f64)>| {
                        r.is_some_and(|(d, ttft)| d >= min_decode && max_ttft.is_none_or(|x| ttft <= x))
                    };
                    let best = brute.iter().filter(|(_, r)| meets(r)).map(|(c, _)| *c).reduce(f64::min);
                    assert_eq!(plan.answer.as_ref().and_then(|a| a.cost), best, "{} {min_decode} {max_ttft:?}", m.key);
                    assert_eq!(plan.candidates.len(), rungs.len());
                    assert_eq!(
                        plan.candidates.iter().filter(|c| c.meets).count(),
                        brute.iter().filter(|(_, r)| meets(r)).count()
                    );
                    for c in &plan.candidates {
                        assert_eq!(c.meets, c.failures.is_empty());
                    }
                    // meeting candidates come first, cheapest first
                    let costs: Vec<f64> = plan.candidates.iter().filter(|c| c.meets).filter_map(|c| c.cost).collect();
                    assert!(costs.windows(2).all(|w| w[0] <= w[1]), "{costs:?}");
                }
            }
        }
    }
}

#[test]
fn models_for_tier_answers_the_highest_fidelity_quant_that_meets_the_target() {
    let e = engine();
    let w = e.workload_setup("default", None, None);
    for t in e.registry().tiers() {
        for min_decode in [1.0, 10.0, 30.0, 300.0] {
            let targets = Targets { min_decode_tok_s: Some(min_decode), ..Default::default() };
            let plan = e.models_for_tier(t, &targets, &w, true).unwrap_or_else(|e| panic!("{e}"));
            for m in e.registry().catalog().iter() {
                let mut variants = vec![LlmModel::clone(m)];
                variants.extend(e.quant_variants(m));
                let best = variants
                    .iter()
                    .filter(|v| {
                        let r = e.project_llm_full(v, t, &w.workload_id, &w.params, None, None);
                        rates(&r.unwrap_or_else(|e| panic!("{e}"))).is_some_and(|(d, _)| d >= min_decode)
                    })
                    .map(|v| v.bytes_per_param)
                    .reduce(f64::max);
                let answer = plan.answers.iter().find(|a| a.base_model == m.key);
                assert_eq!(answer.map(|a| a.bytes_per_param), best, "{} on {} at {min_decode}", m.key, t.name());
            }
            assert_eq!(
                plan.candidates.len(),
                e.registry().catalog().iter().map(|m| 1 + e.quant_variants(m).len()).sum::<usize>()
            );
        }
    }
}

#[test]
fn quant_variants_follow_the_quant_table() {
    let e = engine();
    let m = e.model("qwen25_7b_dense").unwrap_or_else(|e| panic!("{e}"));
    let vs = e.quant_variants(m);
    let fp8 = vs.iter().find(|v| v.quant_scheme == "FP8").unwrap_or_else(|| panic!("no FP8 variant"));
    assert_eq!(
        (fp8.key.as_str(), fp8.bytes_per_param, fp8.compute_dtype.as_str()),
        ("qwen25_7b_dense@FP8", 1.0, "fp8")
    );
    assert_eq!(fp8.gguf_size_gb, m.total_params_b);
    let nv = vs.iter().find(|v| v.quant_scheme == "NVFP4").unwrap_or_else(|| panic!("no NVFP4 variant"));
    assert_eq!(nv.bytes_per_param, 0.5625);
    assert!(vs.iter().all(|v| v.quant_scheme != m.quant_scheme && v.measurement_alias.is_none()));
}

#[test]
fn bad_targets_and_names_are_clear_errors() {
    let e = engine();
    let ask = |v: Value| {
        let o = v.as_object().cloned().unwrap_or_default();
        ratchet::batch::plan_ops::answer(&e, &o).map_err(|e| (e.kind(), e.to_string()))
    };
    let base = |extra: Value| {
        let mut v = json!({"question": "cheapest_tier", "model": "qwen3_30b_a3b_moe"});
        if let (Value::Object(a), Value::Object(b)) = (&mut v, extra) {
            a.extend(b);
        }
        v
    };
    for (extra, kind, text) in [
        (json!({}), "bad_request", "give at least one target"),
        (json!({"min_decode_tok_s": -1}), "invalid_value", "`min_decode_tok_s` is `-1.0`; it must be > 0"),
        (json!({"min_decode_tok_s": 0}), "invalid_value", "must be > 0"),
        (json!({"max_ttft_s": 0}), "invalid_value", "no projection has a time to first token of zero or less"),
        (json!({"min_decode_tok_s": "fast"}), "bad_request", "`min_decode_tok_s` must be a number"),
        (json!({"min_decode_tok_s": 5, "cost": "tdp_wats"}), "unknown_key", "did you mean `tdp_watts`"),
        (
            json!({"min_decode_tok_s": 5, "min_decod": 1}),
            "bad_request",
            "no parameter `min_decod` (did you mean `min_decode_tok_s`",
        ),
        (json!({"min_decode_tok_s": 5, "prompt_tokens": -4}), "bad_request", "non-negative integer"),
    ] {
        let got = ask(base(extra.clone())).err().unwrap_or_else(|| panic!("{extra} was accepted"));
        assert_eq!(got.0, kind, "{extra}: {}", got.1);
        assert!(got.1.contains(text), "{extra}: {}", got.1);
    }
    let q = ask(json!({"question": "max_contxt"})).err().unwrap_or_else(|| panic!("accepted"));
    assert!(q.1.contains("did you mean `max_context`"), "{}", q.1);
    let m = ask(json!({"question": "max_context", "model": "qwen3_30b_a3b_moe", "hw": "NPU Mdi"})).err();
    assert!(m.is_some_and(|m| m.1.contains("did you mean `NPU Mid`")));
    // impossible targets are no error: the answer is empty and says why each candidate fails
    let none = ask(base(json!({"min_decode_tok_s": 1e9}))).unwrap_or_else(|e| panic!("{e:?}"));
    assert!(none["answer"].is_null());
    assert!(
        none["candidates"]
            .as_array()
            .is_some_and(|c| c.iter().all(|c| !c["failures"].as_array().is_none_or(Vec::is_empty)))
    );
}

#[test]
fn the_cli_answers_in_every_format_with_exit_codes_for_scripts() {
    let (code, out, err) = run(&["plan", "--model", "qwen3_30b_a3b_moe", "--tier", "NPU Mid", "--max-context"]);
    assert_eq!(code, 0, "{err}");
    // 98,304 KV bytes per token at Qwen3's head_dim of 128 (the reference's 49,152 gave 89,518)
    assert!(out.contains("largest context that fits   44,759 tokens"), "{out}");
    assert!(out.contains("limited by memory"), "{out}");

    let (code, out, _) =
        run(&["plan", "--model", "qwen3_30b_a3b_moe", "--tier", "NPU Mid", "--max-context", "--format", "json"]);
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!((v["max_context_tokens"].as_u64(), v["at_limit"]["verdict"].as_str()), (Some(44759), Some("tight")));
    assert_eq!(v["provenance"]["rule_set"], "default");

    let (code, out, _) = run(&[
        "plan",
        "--model",
        "qwen3_30b_a3b_moe",
        "--min-decode",
        "20",
        "--max-ttft",
        "2",
        "--prompt-tokens",
        "4096",
    ]);
    assert_eq!(code, 0);
    assert!(out.contains("cheapest that meets the targets: NPU Mid (tdp_watts 25)"), "{out}");
    assert!(out.contains("does not fit: needs 20.022 GB, 8.0 GB available"), "{out}");

    let (code, out, _) = run(&["plan", "--model", "qwen3_30b_a3b_moe", "--min-decode", "20", "--format", "csv"]);
    assert_eq!(code, 0);
    let mut lines = out.lines();
    assert!(lines.next().is_some_and(|h| h.starts_with("rank,tier,label,base_tier,memory_upgrade,cost,type")));
    assert!(lines.next().is_some_and(|l| l.starts_with("1,NPU Mid,")), "{out}");

    // nothing meets: exit 1 with every candidate's reason
    let (code, out, _) = run(&["plan", "--tier", "NPU Mid", "--min-decode", "1000"]);
    assert_eq!(code, 1);
    assert!(out.contains("no model meets the targets"), "{out}");
    assert!(out.contains("qwen25_7b_dense@FP8") && out.contains("cannot execute `FP8`"), "{out}");

    for (args, text) in [
        (vec!["plan", "--model", "qwen3_30b_a3b_moe", "--min-decode", "-5"], "it must be > 0"),
        (vec!["plan", "--model", "qwen3_30b_a3b_moe", "--min-decode", "NaN"], "must be a finite number"),
        (vec!["plan", "--model", "qwen3_30b_a3b_moe"], "give at least one target"),
        (vec!["plan", "--max-context", "--model", "qwen3_30b_a3b_moe"], "needs `--model` and `--tier`"),
        (vec!["plan", "--min-decode", "3"], "give `--model`"),
    ] {
        let (code, _, err) = run(&args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(text), "{args:?}: {err}");
    }
}

#[test]
fn plan_and_ladder_are_batch_operations() {
    let input = concat!(
        r#"{"op":"plan","id":1,"question":"max_context","model":"qwen25_7b_dense","hw":{"base":"NPU Mid","memory":{"mem_type":"LPDDR6","mem_data_rate_gtps":14.0}}}"#,
        "\n",
        r#"{"op":"ladder","id":2,"model":"qwen3_30b_a3b_moe","memory_upgrades":true}"#,
        "\n",
        r#"{"op":"plan","id":3,"question":"models_for_tier","hw":"NPU High","min_decode_tok_s":10,"quants":false}"#,
        "\n",
    );
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let f = dir.path().join("q.jsonl");
    std::fs::write(&f, input).unwrap_or_else(|e| panic!("{e}"));
    let (code, out, err) = run(&["batch", f.to_str().unwrap_or("")]);
    assert_eq!(code, 0, "{err}");
    let v: Vec<Value> = out.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect();
    assert_eq!(v[0]["id"], 1);
    assert!(v[0]["hw_name"].as_str().is_some_and(|n| n.contains("LPDDR6")), "{}", v[0]);
    assert!(v[0]["max_context_tokens"].as_u64().is_some_and(|c| c > 0));
    let rows = v[1]["rows"].as_array().cloned().unwrap_or_default();
    assert!(rows.len() > 9, "upgrades add rows");
    assert!(rows.iter().any(|r| r["bw_projected"] == true));
    assert!(v[2]["candidates"].as_array().is_some_and(|c| c.len() == 3 && c.iter().all(|c| c["requantised"] == false)));
}

#[test]
fn editing_a_copy_of_the_registry_moves_the_answer_without_a_rebuild() {
    let (_d, reg) = temp_registry();
    let args = |r: &str| -> Vec<String> {
        [
            "plan",
            "--registry",
            r,
            "--model",
            "qwen3_30b_a3b_moe",
            "--tier",
            "NPU Mid",
            "--max-context",
            "--format",
            "json",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let ask = |r: &str| {
        let a = args(r);
        let refs: Vec<&str> = a.iter().map(String::as_str).collect();
        let (code, out, err) = run(&refs);
        assert_eq!(code, 0, "{err}");
        serde_json::from_str::<Value>(&out).unwrap_or_else(|e| panic!("{e}"))["max_context_tokens"].as_u64()
    };
    let r = reg.to_str().unwrap_or("");
    assert_eq!(ask(r), Some(44759));
    let f = reg.join("tiers/07-npu-mid.ron");
    let text = std::fs::read_to_string(&f).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(&f, text.replacen("mem_capacity_gb: 24.0", "mem_capacity_gb: 32.0", 1))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(ask(r).is_some_and(|c| c > 44759 * 2));
    // the quant table says which variants exist: drop FP8's `requant` and it is no candidate
    let q = reg.join("tables/quant_schemes.ron");
    let text = std::fs::read_to_string(&q).unwrap_or_else(|e| panic!("{e}"));
    let edited = text.replacen(r#", requant: (compute_dtype: "fp8")"#, "", 1);
    assert_ne!(edited, text);
    std::fs::write(&q, edited).unwrap_or_else(|e| panic!("{e}"));
    let (_, out, err) = run(&["plan", "--registry", r, "--tier", "NPU Mid", "--min-decode", "5", "--format", "csv"]);
    assert!(!out.contains("@FP8,"), "{out}{err}");
    assert!(out.contains("@INT8_W8A8,"), "{out}");
}

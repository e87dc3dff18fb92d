//! `ratchet project` and `ratchet batch` through the built binary: results, explanations,
//! bad input lines, golden cases over the wire, and rule edits that change answers with no
//! rebuild.

mod common;

use common::{cases, diff, run, strip_types};
use serde_json::{Value, json};
use std::io::Write;
use std::process::{Command, Stdio};

fn project_json(args: &[&str]) -> Value {
    let mut full = vec!["project", "--format", "json"];
    full.extend_from_slice(args);
    let (code, out, err) = run(&full);
    assert_eq!(code, 0, "{err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

#[test]
fn project_reports_the_reference_numbers_and_provenance() {
    let v = project_json(&[
        "--model",
        "qwen3_30b_a3b_moe",
        "--tier",
        "NPU Mid",
        "--rules",
        "ratchet-0.3.2",
        "--workload",
        "rag_qa",
    ]);
    assert_eq!(v["type"], "Projected");
    assert_eq!(v["decode_tok_s"], 37.85);
    assert_eq!(v["ttft_s"], 0.1755);
    assert_eq!(v["total_s"], 5.461);
    assert_eq!(v["source"], "measured_anchor");
    assert_eq!(v["provenance"]["rule_set"], "ratchet-0.3.2");
    assert_eq!(v["provenance"]["registry_version"], "0.3.2");
    assert_eq!(v["provenance"]["content_hash"].as_str().map(str::len), Some(16));

    let v = project_json(&["--model", "qwen3_30b_a3b_moe", "--tier", "NPU Low-LP4"]);
    assert_eq!(v["type"], "WontFit");
    // weights + overhead + the KV cache at Qwen3's head_dim of 128 (fix-kv-head-dim)
    assert_eq!(v["required_gb"], 19.6688128);

    let shared =
        ["--model", "qwen25_7b_dense", "--tier", "NPU High", "--npu-share", "0.5", "--compiler-quality", "0.9"];
    let v = project_json(&shared);
    assert_eq!(v["source"], "cross_class");
    // default: the reference's 10.86, less the KV cache read at 500 + 100 tokens of context
    assert_eq!(v["decode_ceiling_tok_s"], 10.77);
    let mut reference = shared.to_vec();
    reference.extend(["--rules", "ratchet-0.3.2"]);
    assert_eq!(project_json(&reference)["decode_ceiling_tok_s"], 10.86);
}

#[test]
fn explain_shows_paths_and_formulas() {
    let (code, out, _) = run(&["project", "--model", "qwen25_7b_dense", "--tier", "NPU High", "--explain"]);
    assert_eq!(code, 0);
    assert!(out.contains("measured     skipped      lookup `measured_cell` found nothing"), "{out}");
    assert!(out.contains("same_class   skipped      lookup `family_sibling` found nothing"), "{out}");
    assert!(out.contains("cross_class  taken"), "{out}");
    assert!(
        out.contains("bw_floor_ms_decode = (((active_params_gb / max(decode_weight_bw_gbs, eps_bw)) + (kv_read_gb / max(decode_kv_bw_gbs, eps_bw))) * 1000) + decode_fixed_ms"),
        "{out}"
    );
    assert!(out.contains("hw.mem_bandwidth_gbs = 134.4"), "{out}");

    let v = project_json(&["--model", "qwen3_30b_a3b_moe", "--tier", "NPU High", "--explain"]);
    let paths = &v["explain"]["paths"];
    assert_eq!(paths[2]["name"], "same_class");
    assert_eq!(paths[2]["status"], "taken");
    assert_eq!(paths[3]["status"], "not reached");
    let sib =
        v["explain"]["values"].as_array().and_then(|a| a.iter().find(|x| x["name"] == "sibling_bw_ratio")).cloned();
    assert_eq!(sib.map(|s| s["value"].clone()), Some(json!(1.0)));
}

#[test]
fn unknown_names_are_usage_errors_with_suggestions() {
    let (code, _, err) = run(&["project", "--model", "qwen3_30b_moe", "--tier", "NPU Mid"]);
    assert_eq!(code, 2);
    assert!(err.contains("unknown model `qwen3_30b_moe` (did you mean `qwen3_30b_a3b_moe`?)"), "{err}");
    let (code, _, err) = run(&["project", "--model", "qwen25_7b_dense", "--tier", "NPU Hihg"]);
    assert_eq!(code, 2);
    assert!(err.contains("did you mean `NPU High`?"), "{err}");
    let (code, _, err) =
        run(&["project", "--model", "qwen25_7b_dense", "--tier", "NPU High", "--rules", "ratchet-0.3"]);
    assert_eq!(code, 1);
    assert!(err.contains("unknown rule set `ratchet-0.3`"), "{err}");
}

#[test]
fn editing_a_copy_of_the_rules_changes_the_answer_without_rebuild() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let rules = dir.path().join("rules");
    common::copy_dir(&common::root().join("rules"), &rules);
    let r = rules.to_string_lossy().to_string();
    let base = ["--model", "qwen25_7b_dense", "--tier", "RTX 5090 (reference, measured)"];
    let before = project_json(&base);
    // the tier takes its silicon class's fitted cost model (registry tiers/09-rtx-5090.ron)
    assert_eq!((before["decode_tok_s"].as_f64(), before["source"].as_str()), (Some(249.16), Some("fitted")));

    // a formula: halve the first-principles decode rate of both the fitted and the
    // spec-sheet path (doubling it would cross the bandwidth roofline, which `default`
    // refuses); the default's first-principles paths are in silicon-cost.ron
    let path = rules.join("silicon-cost.ron");
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let from = r#""decode_tok_s": "(1000 / max(per_token_ms, eps_ms)) * opt.compiler_quality","#;
    assert!(text.contains(from));
    std::fs::write(
        &path,
        text.replace(from, r#""decode_tok_s": "(1000 / max(per_token_ms, eps_ms)) * opt.compiler_quality * 0.5","#),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let mut args = base.to_vec();
    args.extend(["--rules", &r]);
    let after = project_json(&args);
    assert_eq!(after["decode_tok_s"], 124.58);

    // a constant: 5 GB of runtime overhead makes Qwen2.5-32B stop fitting on NPU Mid
    let path = rules.join("ratchet-0.3.2.ron");
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    std::fs::write(
        &path,
        text.replace(r#""runtime_overhead_bytes": 1000000000,"#, r#""runtime_overhead_bytes": 5000000000,"#),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let fits = project_json(&["--model", "qwen25_32b_dense", "--tier", "NPU Mid"]);
    assert_eq!(fits["type"], "Projected");
    let no = project_json(&["--model", "qwen25_32b_dense", "--tier", "NPU Mid", "--rules", &r]);
    assert_eq!(no["type"], "WontFit");
    assert_eq!(no["breakdown"]["overhead_gb"], 5.0);
}

fn batch(input: &str, extra: &[&str]) -> Vec<Value> {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ratchet"));
    cmd.arg("batch").args(extra).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("{e}"));
    let mut stdin = child.stdin.take().unwrap_or_else(|| panic!("stdin"));
    let text = input.to_string();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(text.as_bytes());
    });
    let out = child.wait_with_output().unwrap_or_else(|e| panic!("{e}"));
    let _ = writer.join();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[test]
fn batch_answers_every_line_in_order_and_survives_bad_lines() {
    let lines = [
        (
            r#"{"op": "project_llm", "model": "qwen3_30b_a3b_moe", "hw": "NPU Mid", "workload_id": "rag_qa", "id": 1}"#,
            Some("Projected"),
        ),
        (r#"{"op": "project_llm", "model": "qwen3_30b_a3b", "hw": "NPU Mid"}"#, None),
        (r#"{"op": "project_llm", "model": "qwen25_7b_dense", "hw": "NPU Hihg"}"#, None),
        (r#"{"op": "project_llm", "model": "qwen25_7b_dense", "hw": "NPU High", "prompt_tokens": -5}"#, None),
        (r#"{"op": "project_llm", "model": "qwen25_7b_dense", "hw": "NPU High", "decode_tokens": 2.5}"#, None),
        (r#"{"op": "project_llm", "model": "qwen25_7b_dense", "hw": "NPU High", "npu_share": NaN}"#, None),
        (r#"{"op": "project_llm", "hw": "NPU High"}"#, None),
        (r#"{"op": "project_llm", "model": 7, "hw": "NPU High"}"#, None),
        (r#"{"op": "project_llm", "model": "qwen25_7b_dense", "hw": "NPU High", "prompt_token": 10}"#, None),
        (r#"{"op": "projct_llm"}"#, None),
        (r#"[1, 2]"#, None),
        (
            r#"{"op": "project_llm", "model": "qwen25_7b_dense", "hw": {"name": "x", "peak_tops_bf16": 1, "peak_tops_int8": 1, "peak_tops_fp8": 0, "mem_bandwidth_gbs": 10, "mem_capacity_gb": 8, "mem_bus_width_bits": 32, "mem_type": "LPDDR5", "mem_data_rate_gtps": 2.5, "bandwidth_efficiency": 1.5}}"#,
            None,
        ),
        (
            r#"{"op": "project_llm", "model": "qwen25_7b_dense", "hw": "NPU High", "fp4_runtime_maturity": "imature"}"#,
            None,
        ),
        (
            r#"{"op": "memory_feasibility", "model": "qwen25_32b_dense", "hw": "NPU Mid", "context_tokens": 700}"#,
            Some("FeasibilityCheck"),
        ),
        (r#"{"op": "kv_cache_bytes_per_token", "model": "qwen25_7b_dense", "dtype_bytes": 1}"#, None),
        (r#"{"op": "memory_feasibility", "model": "qwen25_32b_dense", "hw": "NPU Mid"}"#, None),
    ];
    let input: String = lines.iter().map(|(l, _)| format!("{l}\n")).collect();
    let out = batch(&input, &[]);
    assert_eq!(out.len(), lines.len());
    assert_eq!(out[0]["id"], 1);
    assert_eq!(out[0]["decode_tok_s"], 37.85);
    let kinds: Vec<String> = out.iter().map(|v| v["error"]["kind"].as_str().unwrap_or("").to_string()).collect();
    assert_eq!(
        kinds,
        [
            "",
            "unknown_key",
            "unknown_key",
            "invalid_value",
            "invalid_value",
            "bad_request",
            "bad_request",
            "bad_request",
            "bad_request",
            "unknown_key",
            "bad_request",
            "invalid_value",
            "invalid_value",
            "",
            "",
            "bad_request"
        ]
    );
    let msg = |i: usize| out[i]["error"]["message"].as_str().unwrap_or("").to_string();
    assert!(msg(1).contains("did you mean `qwen3_30b_a3b_moe`?"), "{}", msg(1));
    assert!(msg(2).contains("did you mean `NPU High`?"), "{}", msg(2));
    assert!(msg(8).contains("did you mean `prompt_tokens`?"), "{}", msg(8));
    assert!(msg(9).contains("did you mean `project_llm`?"), "{}", msg(9));
    assert!(msg(11).contains("bandwidth_efficiency"), "{}", msg(11));
    assert_eq!(out[13]["verdict"], "tight");
    assert_eq!(out[14]["result"], 28672.0);
    for (i, (_, ty)) in lines.iter().enumerate() {
        if let Some(t) = ty {
            assert_eq!(out[i]["type"], *t);
        }
    }
}

#[test]
fn golden_cases_over_the_batch_protocol() {
    let g = common::golden();
    let mut input = String::new();
    let mut want = Vec::new();
    for (n, c) in cases("project_llm").into_iter().enumerate() {
        if n % 97 != 0 {
            continue;
        }
        let i = &c["inputs"];
        let hw = strip_types(&g["hardware"][i["hw"].as_str().unwrap_or("")]["fields"]);
        let model = strip_types(&g["models"][i["model"].as_str().unwrap_or("")]["fields"]);
        let mut req = json!({
            "op": "project_llm", "model": model, "hw": hw, "workload_id": i["workload_id"],
            "prompt_tokens": i["prompt_tokens"], "decode_tokens": i["decode_tokens"],
        });
        if i["options"].as_object().is_some_and(|o| !o.is_empty()) {
            req["options"] = i["options"].clone();
        }
        input.push_str(&serde_json::to_string(&req).unwrap_or_default());
        input.push('\n');
        want.push((c["id"].clone(), c["output"].clone()));
    }
    let out = batch(&input, &["--rules", "ratchet-0.3.2"]);
    assert_eq!(out.len(), want.len());
    for ((id, w), mut got) in want.into_iter().zip(out) {
        if let Value::Object(m) = &mut got {
            m.remove("provenance");
            m.remove("badge");
            m.remove("calibration_source");
        }
        if let Some(d) = diff(id.as_str().unwrap_or(""), &w, &got, 1e-12) {
            panic!("{d}");
        }
    }
}

fn schema(name: &str) -> jsonschema::Validator {
    let text =
        std::fs::read_to_string(common::root().join("schemas").join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}"));
    jsonschema::validator_for(&v).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn batch_traffic_matches_the_published_schemas() {
    let req = schema("batch-request.schema.json");
    let res = schema("batch-result.schema.json");
    let g = common::golden();
    let hw = strip_types(&g["hardware"]["custom:lp5x_128|int8_fp8"]["fields"]);
    let model = strip_types(&g["models"]["syn:fp8_model"]["fields"]);
    let lines = vec![
        json!({"op": "project_llm", "model": "qwen3_30b_a3b_moe", "hw": "NPU Mid", "workload_id": "rag_qa", "id": "a"}),
        json!({"op": "project_llm", "model": model, "hw": hw, "prompt_tokens": 1000, "decode_tokens": 100, "options": {"fp4_runtime_maturity": "immature"}}),
        json!({"op": "project_llm", "model": "qwen3_30b_a3b_moe", "hw": "NPU Low-LP4"}),
        json!({"op": "project_llm", "model": model, "hw": "NPU Mid"}),
        json!({"op": "memory_feasibility", "model": "qwen25_7b_dense", "hw": "NPU High", "context_tokens": 4096}),
        json!({"op": "kv_cache_bytes_per_token", "model": "qwen25_7b_dense"}),
        json!({"op": "project_llm", "model": "nope", "hw": "NPU Mid"}),
        json!({"op": "ladder", "model": "qwen25_7b_dense", "memory": ["LPDDR6@14"], "memory_upgrades": true, "id": 7}),
    ];
    for l in &lines {
        assert!(
            req.is_valid(l),
            "request rejected by the schema: {l}: {:?}",
            req.iter_errors(l).map(|e| e.to_string()).collect::<Vec<_>>()
        );
    }
    let input: String = lines.iter().map(|l| format!("{l}\n")).collect();
    let out = batch(&input, &[]);
    let kinds: Vec<&str> = out.iter().map(|v| v["type"].as_str().unwrap_or("")).collect();
    assert_eq!(kinds, ["Projected", "Projected", "WontFit", "DtypeMismatch", "FeasibilityCheck", "", "", ""]);
    let ladder = &out[7];
    assert!(ladder["rows"].as_array().is_some_and(|r| r.len() > 10), "{ladder}");
    assert_eq!(ladder["id"], 7);
    for o in &out {
        assert!(
            res.is_valid(o),
            "result rejected by the schema: {o}: {:?}",
            res.iter_errors(o).map(|e| e.to_string()).collect::<Vec<_>>()
        );
    }
    assert!(!req.is_valid(&json!({"op": "project_llm", "model": "m"})), "missing hw must be invalid");
    assert!(!req.is_valid(&json!({"op": "nope"})));
}

#[test]
fn editing_the_anchor_field_defaults_in_a_registry_copy_changes_the_answer() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let reg = dir.path().join("registry");
    common::copy_dir(&common::root().join("registry"), &reg);
    // an inline anchor without a bandwidth share or efficiency takes the registry's defaults
    let line = r#"{"op": "llm_anchor_methods", "anchor": {"tokps": 50.0, "peak_bw_gbps": 100.0}}"#;
    let before = batch(line, &[]);
    assert_eq!(before[0]["result"]["achieved_bw_gbps"], 52.5, "{before:?}"); // 100 x 0.75 x 0.70
    let path = reg.join("tables/anchor_routes.ron");
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let from = "field_defaults: (bw_share_frac: 0.75, bw_efficiency_frac: 0.70)";
    assert!(text.contains(from), "{text}");
    std::fs::write(&path, text.replace(from, "field_defaults: (bw_share_frac: 0.5, bw_efficiency_frac: 0.8)"))
        .unwrap_or_else(|e| panic!("{e}"));
    let after = batch(line, &["--registry", &reg.to_string_lossy()]);
    assert_eq!(after[0]["result"]["achieved_bw_gbps"], 40.0, "{after:?}");
}

#[test]
fn model_takes_a_catalog_key_inline_json_or_a_json_file() {
    // a model the catalog does not have, with its own head_dim, as the batch form
    let model = serde_json::json!({
        "key": "gemma2_like", "family": "Gemma-2", "base": "gemma-2-2b", "total_params_b": 2.6,
        "active_params_b": 2.6, "quant_scheme": "BF16", "bytes_per_param": 2.0, "gguf_size_gb": 5.2,
        "size_gb_inflight": 5.2, "compute_dtype": "bf16", "num_layers": 26, "hidden_dim": 2304,
        "num_attention_heads": 8, "num_kv_heads": 4, "is_moe": false, "head_dim": 256,
    })
    .to_string();
    let tier = "RTX 5090 (reference, measured)";
    let inline = project_json(&["--model", &model, "--tier", tier]);
    assert_eq!(inline["model_key"], "gemma2_like");
    assert_eq!(inline["type"], "Projected");
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let file = dir.path().join("gemma2_like.json");
    std::fs::write(&file, &model).unwrap_or_else(|e| panic!("{e}"));
    let from_file = project_json(&["--model", &file.to_string_lossy(), "--tier", tier]);
    assert_eq!(from_file["decode_tok_s"], inline["decode_tok_s"]);
    // the ladder takes it too
    let (code, out, err) = run(&["ladder", "--model", &file.to_string_lossy(), "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("gemma2_like"), "{out}");
    // a file missing a field, and a model with head_dim 0, are errors naming the file and field
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, r#"{"key": "x"}"#).unwrap_or_else(|e| panic!("{e}"));
    let (code, _, err) = run(&["project", "--model", &bad.to_string_lossy(), "--tier", tier]);
    assert_eq!(code, 2);
    assert!(err.contains(&format!("{}: inline `model`", bad.display())) && err.contains("missing field"), "{err}");
    let zero = model.replace("\"head_dim\":256", "\"head_dim\":0");
    assert_ne!(zero, model);
    let (code, _, err) = run(&["project", "--model", &zero, "--tier", tier]);
    assert_eq!(code, 2);
    assert!(err.contains("`head_dim` is `0`; it must be > 0"), "{err}");
}

//! GGUF import (issue 20): headers the tests write (metadata and tensor table, no weights)
//! are imported through the registry's architecture table and ggml block layouts; the
//! parameters and bytes come from the tensor table exactly. Truncated and lying headers are
//! errors that name the byte, never a panic; the CLI takes a `.gguf` wherever it takes a model.

mod common;

use ratchet::engine::{Engine, EngineConfig};
use ratchet::model_import::gguf::{TensorInfo, write_header};
use ratchet::model_import::{ImportOptions, import_gguf};
use serde_json::{Value, json};

fn engine() -> Engine {
    let out = Engine::load(&EngineConfig::default());
    out.engine.unwrap_or_else(|| panic!("{:?}", out.report))
}

fn t(name: impl Into<String>, dims: &[u64], ty: u32) -> TensorInfo {
    TensorInfo { name: name.into(), dims: dims.to_vec(), ggml_type: ty }
}

const F32: u32 = 0;
const F16: u32 = 1;
const Q4_K: u32 = 12;
const Q6_K: u32 = 14;
const MXFP4: u32 = 39;

/// Llama-3.1-8B's tensor table (llama.cpp names), every matrix in `ty`, norms in F32.
fn llama31_8b(ty: u32) -> (Vec<(&'static str, Value)>, Vec<TensorInfo>) {
    let meta = vec![
        ("general.architecture", json!("llama")),
        ("general.file_type", json!(if ty == F16 { 1 } else { 15 })),
        ("llama.block_count", json!(32)),
        ("llama.embedding_length", json!(4096)),
        ("llama.attention.head_count", json!(32)),
        ("llama.attention.head_count_kv", json!(8)),
        ("llama.context_length", json!(131072)),
        ("llama.feed_forward_length", json!(14336)),
        ("llama.rope.dimension_count", json!(128)),
        ("llama.vocab_size", json!(128256)),
    ];
    let mut ts = vec![
        t("token_embd.weight", &[4096, 128256], ty),
        t("rope_freqs.weight", &[64], F32),
        t("output_norm.weight", &[4096], F32),
        t("output.weight", &[4096, 128256], if ty == F16 { F16 } else { Q6_K }),
    ];
    for i in 0..32 {
        ts.push(t(format!("blk.{i}.attn_norm.weight"), &[4096], F32));
        ts.push(t(format!("blk.{i}.attn_q.weight"), &[4096, 4096], ty));
        ts.push(t(format!("blk.{i}.attn_k.weight"), &[4096, 1024], ty));
        ts.push(t(format!("blk.{i}.attn_v.weight"), &[4096, 1024], ty));
        ts.push(t(format!("blk.{i}.attn_output.weight"), &[4096, 4096], ty));
        ts.push(t(format!("blk.{i}.ffn_norm.weight"), &[4096], F32));
        ts.push(t(format!("blk.{i}.ffn_gate.weight"), &[4096, 14336], ty));
        ts.push(t(format!("blk.{i}.ffn_up.weight"), &[4096, 14336], ty));
        ts.push(t(format!("blk.{i}.ffn_down.weight"), &[14336, 4096], ty));
    }
    (meta, ts)
}

fn import(e: &Engine, meta: &[(&str, Value)], ts: &[TensorInfo]) -> ratchet::model_import::Imported {
    let bytes = write_header(meta, ts);
    import_gguf(e.registry(), "model.gguf", &bytes, &ImportOptions::default())
        .unwrap_or_else(|ds| panic!("{:?}", ds.iter().map(|d| d.one_line()).collect::<Vec<_>>()))
}

fn errors(e: &Engine, bytes: &[u8]) -> String {
    match import_gguf(e.registry(), "model.gguf", bytes, &ImportOptions::default()) {
        Ok(m) => panic!("imported {}", m.model.key),
        Err(ds) => ds.iter().map(|d| d.one_line()).collect::<Vec<_>>().join("\n"),
    }
}

#[test]
fn an_f16_file_counts_its_tensors_exactly() {
    let e = engine();
    let (meta, ts) = llama31_8b(F16);
    let m = import(&e, &meta, &ts);
    // the config-derived count (tests/model_import.rs) and the 64 RoPE frequencies
    assert_eq!(m.model.total_params_b * 1e9, 8_030_261_248.0 + 64.0);
    // norms (65 x 4096 = 266,240) and RoPE frequencies (64) in F32, the rest in F16
    let f32_params = 266_240.0 + 64.0;
    let bytes = (8_030_261_312.0 - f32_params) * 2.0 + f32_params * 4.0;
    assert!((m.model.gguf_size_gb * 1e9 - bytes).abs() < 1.0, "{}", m.model.gguf_size_gb);
    assert_eq!(m.model.quant_scheme, "FP16");
    assert_eq!(m.layers, (32, 0, 0));
    assert_eq!(e.kv_cache_bytes_per_token(&m.model, Some(2.0)).ok(), Some(131_072.0));
}

#[test]
fn a_mixed_file_sums_ggml_block_layouts() {
    let e = engine();
    let (meta, ts) = llama31_8b(Q4_K);
    let m = import(&e, &meta, &ts);
    // Q4_K: 144 bytes per 256 weights; the output in Q6_K: 210 per 256; norms F32
    let q4k = 8_030_261_248.0 - 525_336_576.0 - 266_240.0;
    let want = q4k / 256.0 * 144.0 + 525_336_576.0 / 256.0 * 210.0 + (266_240.0 + 64.0) * 4.0;
    assert!((m.model.gguf_size_gb * 1e9 - want).abs() < 1.0, "{} vs {want}", m.model.gguf_size_gb * 1e9);
    assert_eq!(m.model.quant_scheme, "Q4_K_M");
    let out = m.groups.iter().find(|g| g.group == "output").unwrap_or_else(|| panic!("no output group"));
    assert_eq!(out.quant, "Q6_K+F32");
    // a file without `output.weight` reads its embedding as the output: tied
    let (meta, mut ts) = llama31_8b(Q4_K);
    ts.retain(|t| t.name != "output.weight");
    let tied = import(&e, &meta, &ts);
    assert_eq!(tied.model.tie_word_embeddings, Some(true));
    assert_eq!(tied.model.active_params_b, tied.model.total_params_b);
}

#[test]
fn gpt_oss_takes_llama_cpps_alternating_window() {
    let e = engine();
    let mut meta = vec![
        ("general.architecture", json!("gpt-oss")),
        ("general.file_type", json!(38)),
        ("gpt-oss.block_count", json!(24)),
        ("gpt-oss.embedding_length", json!(2880)),
        ("gpt-oss.attention.head_count", json!(64)),
        ("gpt-oss.attention.head_count_kv", json!(8)),
        ("gpt-oss.attention.key_length", json!(64)),
        ("gpt-oss.attention.sliding_window", json!(128)),
        ("gpt-oss.context_length", json!(131072)),
        ("gpt-oss.expert_count", json!(32)),
        ("gpt-oss.expert_used_count", json!(4)),
        ("gpt-oss.expert_feed_forward_length", json!(2880)),
    ];
    let tokens: Vec<Value> = (0..201_088).map(|_| json!("t")).collect();
    meta.push(("tokenizer.ggml.tokens", Value::Array(tokens)));
    let mut ts = vec![t("token_embd.weight", &[2880, 201_088], F16), t("output.weight", &[2880, 201_088], F16)];
    for i in 0..24 {
        ts.push(t(format!("blk.{i}.attn_q.weight"), &[2880, 4096], F16));
        ts.push(t(format!("blk.{i}.ffn_gate_exps.weight"), &[2880, 2880, 32], MXFP4));
        ts.push(t(format!("blk.{i}.ffn_up_exps.weight"), &[2880, 2880, 32], MXFP4));
        ts.push(t(format!("blk.{i}.ffn_down_exps.weight"), &[2880, 2880, 32], MXFP4));
        ts.push(t(format!("blk.{i}.ffn_gate_inp.weight"), &[2880, 32], F32));
    }
    let m = import(&e, &meta, &ts);
    assert_eq!(m.model.vocab_size, Some(201_088));
    assert_eq!(m.layers, (12, 12, 0));
    assert_eq!(m.model.quant_scheme, "MXFP4");
    // experts: 24 x 3 x 2880 x 2880 x 32 weights at 17 bytes per 32
    let experts = m.groups.iter().find(|g| g.group == "routed_experts").unwrap_or_else(|| panic!("no experts"));
    assert_eq!(experts.params, 24.0 * 3.0 * 2880.0 * 2880.0 * 32.0);
    assert_eq!(experts.bytes_per_param, 17.0 / 32.0);
    // 12 full-attention layers of 8 KV heads of 64: 24,576 bytes a further token
    assert_eq!(e.kv_cache_bytes_per_token(&m.model, Some(2.0)).ok(), Some(24_576.0));
}

#[test]
fn truncated_lying_and_unknown_headers_are_errors_that_say_where() {
    let e = engine();
    let (meta, ts) = llama31_8b(F16);
    let bytes = write_header(&meta, &ts);
    for n in [0, 3, 4, 8, 20, 40, bytes.len() / 2, bytes.len() - 1] {
        let got = errors(&e, &bytes[..n]);
        assert!(got.contains("model.gguf") && got.contains("byte "), "{n}: {got}");
    }
    let mut lying = b"GGUF".to_vec();
    lying.extend(3u32.to_le_bytes());
    lying.extend(1u64.to_le_bytes());
    lying.extend(1u64.to_le_bytes());
    lying.extend(u64::MAX.to_le_bytes());
    assert!(errors(&e, &lying).contains("byte 24: the length of a metadata key is 18446744073709551615"));
    assert!(errors(&e, b"GGML\x03\x00\x00\x00").contains("not a GGUF file"));
    let unknown = write_header(&[("general.architecture", json!("qwen3mo"))], &[]);
    assert!(errors(&e, &unknown).contains("did you mean `qwen3moe`?"));
    let mut odd = ts.clone();
    odd[0].ggml_type = 99;
    assert!(errors(&e, &write_header(&meta, &odd)).contains("tensor `token_embd.weight` has ggml type 99"));
}

#[test]
fn the_cli_takes_a_gguf_file_as_a_model() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("Llama-3.1-8B-Q4_K_M.gguf");
    let (meta, ts) = llama31_8b(Q4_K);
    std::fs::write(&path, write_header(&meta, &ts)).unwrap_or_else(|e| panic!("{e}"));
    let p = path.to_str().unwrap_or_default();
    let (code, stdout, stderr) = common::run(&["model", "import", p, "--format", "json"]);
    assert_eq!(code, 0, "{stderr}");
    let v: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    assert_eq!(v["key"], json!("llama_3_1_8b_q4_k_m"));
    assert!(stderr.contains("Q4_K+F32"), "{stderr}");
    let (code, stdout, stderr) =
        common::run(&["plan", "--model", p, "--tier", "NPU Mid", "--max-context", "--format", "json"]);
    assert_eq!(code, 0, "{stderr}");
    let plan: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    assert!(plan["max_context_tokens"].as_u64().unwrap_or_default() > 100_000, "{plan}");
    let (code, _, stderr) = common::run(&["model", "import", p, "--quant", "Q8_0"]);
    assert_ne!(code, 0);
    assert!(stderr.contains("`--quant` applies to configs"), "{stderr}");
}

#[test]
fn a_gguf_scheme_the_reference_lacks_runs_under_the_default_rules_only() {
    // Q4_0 (file type 2) is not in the reference's quant table: ratchet-0.3.2 finds no
    // capability for it, as the reference does; the default rules read it from
    // `gguf_schemes` as a weight-only format, like Q4_K_M
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("llama-q4_0.gguf");
    let (mut meta, ts) = llama31_8b(2);
    meta[1] = ("general.file_type", json!(2));
    std::fs::write(&path, write_header(&meta, &ts)).unwrap_or_else(|e| panic!("{e}"));
    let p = path.to_str().unwrap_or_default();
    let (code, stdout, stderr) = common::run(&["project", "--model", p, "--tier", "NPU Mid", "--format", "json"]);
    assert_eq!(code, 0, "{stderr}");
    let v: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    assert!(v["decode_tok_s"].as_f64().unwrap_or_default() > 0.0, "{v}");
    let (_, stdout, _) = common::run(&["project", "--rules", "ratchet-0.3.2", "--model", p, "--tier", "NPU Mid"]);
    assert!(stdout.contains("Q4_0 is unsupported"), "{stdout}");
}

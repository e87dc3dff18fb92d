//! The KV cache's element type (issue 20): `kv_cache_types` in
//! `registry/tables/architectures.ron` gives each type's width (a ggml block layout or a
//! stated width), `rules/kv-architecture.ron` reads it through the numeric table
//! `kv_cache_element_bytes`, and every interface takes `kv_cache_dtype` by name. An edited
//! copy of the table changes the built binary's answer; a bad entry is refused where it is.

mod common;

use common::{run, run_stdin, temp_registry};
use ratchet::engine::{Engine, EngineConfig};
use ratchet::model_import::{ImportOptions, Imported, import_file};
use ratchet::projection::ProjectParams;
use serde_json::{Value, json};

fn engine(rule_set: &str) -> Engine {
    let mut cfg = EngineConfig::default();
    cfg.rules(rule_set);
    let out = Engine::load(&cfg);
    out.engine.unwrap_or_else(|| panic!("{:?}", out.report))
}

fn import(e: &Engine, file: &str) -> Imported {
    let path = common::root().join("tests/data/models").join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{file}: {err}"));
    let opts = ImportOptions { quant: None, key: None };
    import_file(e.registry(), &path.display().to_string(), &text, &opts)
        .unwrap_or_else(|ds| panic!("{file}: {:?}", ds.iter().map(|d| d.one_line()).collect::<Vec<_>>()))
}

#[test]
fn widths_come_from_ggml_block_layouts_or_a_stated_width() {
    let e = engine("default");
    // ggml/src/ggml-common.h: q8_0 34 bytes per 32, q5_1 24, q5_0 22, q4_1 20, q4_0 and
    // iq4_nl 18; vLLM's fp8 types one byte
    let cases = [
        ("f16", 2.0),
        ("bf16", 2.0),
        ("f32", 4.0),
        ("q8_0", 34.0 / 32.0),
        ("q5_1", 24.0 / 32.0),
        ("q5_0", 22.0 / 32.0),
        ("q4_1", 20.0 / 32.0),
        ("q4_0", 18.0 / 32.0),
        ("iq4_nl", 18.0 / 32.0),
        ("fp8", 1.0),
        ("fp8_e4m3", 1.0),
        ("fp8_e5m2", 1.0),
    ];
    for (name, want) in cases {
        assert_eq!(e.kv_cache_element_bytes(name).ok(), Some(want), "{name}");
    }
    let err = e.kv_cache_element_bytes("Q8_0").err().map(|x| x.to_string()).unwrap_or_default();
    assert!(err.contains("unknown KV-cache type `Q8_0` (did you mean `q8_0`?)"), "{err}");
}

/// (config, KV bytes per further token at f16, f32 state bytes that no type changes)
const MODELS: [(&str, f64, f64); 5] = [
    // 48 full layers · 2 (K, V) · 4 KV heads · 128 · 2 bytes
    ("Qwen--Qwen3-30B-A3B.config.json", 98_304.0, 0.0),
    // MLA: 27 layers · (512 + 64) · 2 bytes
    ("deepseek-ai--DeepSeek-V2-Lite-Chat.config.json", 31_104.0, 0.0),
    // 5 of 34 layers full (4 KV heads of 256): 5 · 2 · 4 · 256 · 2; 29 windowed layers cap
    ("google--gemma-3-4b-it.config.json", 20_480.0, 0.0),
    // 12 full · 2 · 8 · 64 · 2; 12 layers of a 128-token window
    ("openai--gpt-oss-20b.config.json", 24_576.0, 0.0),
    // 12 full · 2 · 2 · 256 · 2; 36 Gated DeltaNet layers of 548,864 f32 elements
    ("Qwen--Qwen3-Next-80B-A3B-Thinking.config.json", 24_576.0, 36.0 * 548_864.0 * 4.0),
];

#[test]
fn every_attention_layout_scales_by_the_type_and_a_state_does_not() {
    let e = engine("default");
    let tier = e.tier("NPU High").unwrap_or_else(|err| panic!("{err}"));
    let ctx = 32_768;
    for (file, f16_per_token, state) in MODELS {
        let m = import(&e, file).model;
        let at = |k: &str| {
            let p = ProjectParams { kv_cache_dtype: Some(k.into()), ..Default::default() };
            let f = e.memory_feasibility_with(&m, tier, ctx, &p).unwrap_or_else(|err| panic!("{file} {k}: {err}"));
            f.breakdown.kv_cache_gb * 1e9
        };
        let f16 = at("f16");
        // the default is f16, bit for bit
        let plain = e.memory_feasibility(&m, tier, ctx).unwrap_or_else(|err| panic!("{err}"));
        assert_eq!(plain.breakdown.kv_cache_gb * 1e9, f16, "{file}");
        for (k, b) in [("q8_0", 34.0 / 32.0), ("q4_0", 18.0 / 32.0), ("fp8", 1.0), ("f32", 4.0)] {
            let per_token = e.kv_cache_bytes_per_token(&m, Some(b)).unwrap_or_else(|err| panic!("{err}"));
            assert_eq!(per_token, f16_per_token / 2.0 * b, "{file} {k} per token");
            let want = (f16 - state) / 2.0 * b + state;
            let got = at(k);
            assert!((got - want).abs() <= 1e-6 * want, "{file} {k}: {got} vs {want}");
        }
    }
}

fn cli_json(args: &[&str]) -> Value {
    let (code, out, err) = run(args);
    assert_eq!(code, 0, "{args:?}: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

#[test]
fn plan_max_context_grows_as_the_cache_shrinks() {
    let ask = |k: Option<&str>| {
        let mut a = vec!["plan", "--model", "qwen3_30b_a3b_moe", "--tier", "NPU Mid", "--max-context"];
        a.extend(k.map(|k| ["--kv-cache-dtype", k]).iter().flatten());
        a.extend(["--format", "json"]);
        cli_json(&a)["max_context_tokens"].as_u64()
    };
    // NPU Mid: 24 GB − 18.6 GB of Q4_K_M weights − 1 GB runtime = 4.4 GB of cache:
    // 4.4e9 / 98,304 = 44,759.1 tokens at f16, / 52,224 = 84,252.5 at q8_0, / 27,648 =
    // 159,143.5 at q4_0
    assert_eq!(ask(None), Some(44_759));
    assert_eq!(ask(Some("f16")), Some(44_759));
    assert_eq!(ask(Some("q8_0")), Some(84_252));
    assert_eq!(ask(Some("q4_0")), Some(159_143));
}

#[test]
fn every_surface_takes_the_type_and_refuses_an_unknown_one_alike() {
    let config = common::root().join("tests/data/models/Qwen--Qwen3-8B.config.json");
    let config = config.to_string_lossy().to_string();
    let project = |k: &str| {
        cli_json(&[
            "project",
            "--model",
            &config,
            "--tier",
            "NPU High",
            "--prompt-tokens",
            "16000",
            "--kv-cache-dtype",
            k,
            "--format",
            "json",
        ])
    };
    let (f16, q4) = (project("f16"), project("q4_0"));
    // a projected decode reads the whole cache per token: a smaller cache decodes faster
    assert_eq!(q4["source"], "cross_class", "{q4}");
    assert!(q4["decode_tok_s"].as_f64() > f16["decode_tok_s"].as_f64(), "{f16}\n{q4}");

    let text = std::fs::read_to_string(&config).unwrap_or_else(|e| panic!("{e}"));
    let imported = cli_json(&["model", "import", &config, "--format", "json"]);
    assert!(text.contains("Qwen3ForCausalLM"));
    let line = json!({"op": "project_llm", "model": imported, "hw": "NPU High", "prompt_tokens": 16000,
        "kv_cache_dtype": "q4_0"});
    let (code, out, err) = run_stdin(&["batch"], &format!("{line}\n"));
    assert_eq!(code, 0, "{err}");
    let b: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    let srv = common::http::Server::start(&["--no-watch"]);
    let h = common::http::post(&srv.addr, "/v1/project", &line.to_string()).json();
    for (surface, v) in [("batch", &b), ("http", &h)] {
        for k in ["decode_tok_s", "prefill_tok_s", "ttft_s", "source"] {
            assert_eq!(v[k], q4[k], "{surface} `{k}`: {v}");
        }
    }

    // the same refusal, with the nearest name, from the CLI, a batch line and HTTP
    let (code, _, err) =
        run(&["project", "--model", "qwen3_30b_a3b_moe", "--tier", "NPU Mid", "--kv-cache-dtype", "q8"]);
    assert_ne!(code, 0);
    assert!(err.contains("unknown KV-cache type `q8` (did you mean `q8_0`?)"), "{err}");
    let bad = json!({"op": "memory_feasibility", "model": "qwen3_30b_a3b_moe", "hw": "NPU Mid",
        "context_tokens": 4096, "kv_cache_dtype": "q8"});
    // the check names the type and width that sized the cache
    let good = json!({"op": "memory_feasibility", "model": "qwen3_30b_a3b_moe", "hw": "NPU Mid",
        "context_tokens": 4096, "kv_cache_dtype": "q4_0"});
    let (_, out, _) = run_stdin(&["batch"], &format!("{good}\n"));
    let f: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(f["memory_basis"], json!({"kv_cache_dtype": "q4_0", "kv_cache_element_bytes": 0.5625}), "{f}");
    let (_, out, _) = run_stdin(&["batch"], &format!("{bad}\n"));
    assert!(out.contains("did you mean `q8_0`?"), "{out}");
    let h = common::http::post(&srv.addr, "/v1/batch", &format!("{bad}\n"));
    assert!(h.body.contains("did you mean `q8_0`?"), "{}", h.body);

    // `kv_cache_bytes_per_token` takes the type instead of a width, not both
    let kv = |extra: Value| {
        let mut o = json!({"op": "kv_cache_bytes_per_token", "model": "qwen3_30b_a3b_moe"});
        if let (Value::Object(m), Value::Object(x)) = (&mut o, extra) {
            m.extend(x);
        }
        let (_, out, _) = run_stdin(&["batch"], &format!("{o}\n"));
        serde_json::from_str::<Value>(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
    };
    assert_eq!(kv(json!({"kv_cache_dtype": "q8_0"}))["result"], 52_224.0);
    let both = kv(json!({"kv_cache_dtype": "q8_0", "dtype_bytes": 1}));
    assert!(both.to_string().contains("not both"), "{both}");
}

#[test]
fn the_reference_rules_refuse_a_type_they_would_ignore() {
    let (code, _, err) = run(&[
        "project",
        "--rules",
        "ratchet-0.3.2",
        "--model",
        "qwen3_30b_a3b_moe",
        "--tier",
        "NPU Mid",
        "--kv-cache-dtype",
        "q8_0",
    ]);
    assert_ne!(code, 0);
    assert!(err.contains("rule set `ratchet-0.3.2` sizes the KV cache at one fixed width"), "{err}");
    // with no type named, the reference's answer stands
    let e = engine("ratchet-0.3.2");
    let m = e.model("qwen3_30b_a3b_moe").unwrap_or_else(|err| panic!("{err}"));
    assert_eq!(e.kv_cache_bytes_per_token(m, None).ok(), Some(49_152.0));
}

#[test]
fn an_edited_table_changes_the_answer_and_a_bad_entry_is_refused_where_it_is() {
    let (_dir, reg) = temp_registry();
    let reg_s = reg.to_string_lossy().to_string();
    let path = reg.join("tables/architectures.ron");
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let ask = |reg: &str| {
        let line = json!({"op": "kv_cache_bytes_per_token", "model": "qwen3_30b_a3b_moe", "kv_cache_dtype": "q8_0"});
        let (_, out, _) = run_stdin(&["batch", "--registry", reg], &format!("{line}\n"));
        out
    };
    assert!(ask(&reg_s).contains("52224"), "{}", ask(&reg_s));
    // q8_0 stored as q4_0's blocks: 49,152 elements · 18/32
    let edited = text.replace(r#""q8_0": (ggml_type: "Q8_0","#, r#""q8_0": (ggml_type: "Q4_0","#);
    assert_ne!(text, edited);
    std::fs::write(&path, &edited).unwrap_or_else(|e| panic!("{e}"));
    assert!(ask(&reg_s).contains("27648"), "{}", ask(&reg_s));

    for (from, to, want) in [
        (
            r#""q8_0": (ggml_type: "Q8_0","#,
            r#""q8_0": (ggml_type: "Q9_0","#,
            "KV-cache type `q8_0` names ggml type `Q9_0`, which `ggml_types` lacks",
        ),
        (
            r#""fp8": (bytes_per_element: 1.0,"#,
            r#""fp8": (bytes_per_element: 0.0,"#,
            "`bytes_per_element` is `0.0`; it must be a positive number",
        ),
        (
            r#""fp8": (bytes_per_element: 1.0,"#,
            r#""fp8": (ggml_type: "F16", bytes_per_element: 1.0,"#,
            "KV-cache type `fp8` needs exactly one of `ggml_type` and `bytes_per_element`",
        ),
        (r#""bf16": (ggml_type"#, r#""BF16": (ggml_type"#, "KV-cache type `BF16` must be lower-case"),
    ] {
        common::assert_edit_refused(&reg, "tables/architectures.ron", &text, from, to, want);
    }
}

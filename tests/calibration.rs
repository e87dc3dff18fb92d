//! The measurement loop end to end through the real binary: `ratchet ingest` (llama-bench
//! JSON / JSONL, workload-record Parquet) into registry data and measurement sets, `ratchet
//! calibrate` on the H200 measurements (leave-one-out within ±10 %), the shipped calibrated
//! H200 tier under the default rules (the 32k context point within ±10 %), the shipped
//! silicon-class constants on held-out public devices (median |error| ≤ 15 %), and bad input:
//! located errors, and nothing written over.

mod common;

use arrow_array::{ArrayRef, RecordBatch, new_null_array};
use arrow_schema::{DataType, Field, Schema};
use common::{root, run};
use parquet::arrow::ArrowWriter;
use ratchet::probes::{RecordWriter, WorkloadRecord};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::Arc;

const H200: &str = "NVIDIA H200 (reference, calibrated)";

fn data(name: &str) -> String {
    root().join("tests/data/ingest").join(name).to_string_lossy().to_string()
}

fn json_of(args: &[&str]) -> Value {
    let (code, out, err) = run(args);
    assert_eq!(code, 0, "{args:?}: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

fn s(p: &Path) -> String {
    p.to_string_lossy().to_string()
}

/// Ingests the two H200 JSONL files into two measurement sets under `dir`.
fn ingest_h200(dir: &Path) -> (PathBuf, PathBuf) {
    let (a, b) = (dir.join("h200-1b.json"), dir.join("h200-8b.json"));
    for (input, model, out) in
        [("h200-llama-1b.jsonl", "h200_llama_1b_bf16", &a), ("h200-llama-8b.jsonl", "h200_llama_8b_bf16", &b)]
    {
        let (code, _, err) = run(&[
            "ingest",
            &data(input),
            "--pack",
            "reference-silicon",
            "--tier",
            H200,
            "--model",
            model,
            "--set",
            &s(out),
            // a PyTorch harness writing llama-bench's format: its `backends` says CUDA
            "--runtime",
            "pytorch-cuda",
        ]);
        assert_eq!(code, 0, "{err}");
        assert!(err.contains("measurement set"), "{err}");
    }
    (a, b)
}

#[test]
fn ingest_and_calibrate_the_h200_within_ten_percent_leave_one_out() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (a, b) = ingest_h200(dir.path());
    let set: Value =
        serde_json::from_str(&std::fs::read_to_string(&b).unwrap_or_default()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(set["points"].as_array().map(Vec::len), Some(8));
    let device = set["devices"].as_object().and_then(|d| d.keys().next().cloned()).unwrap_or_default();
    assert_eq!(set["devices"][&device]["tier"], H200);
    // the llama-bench provenance travels with each point
    assert!(set["points"][0]["source"].as_str().is_some_and(|x| x.ends_with("h200-llama-8b.jsonl:1")));
    assert!(set["points"][0]["notes"].as_str().is_some_and(|x| x.contains("pytorch-2.11.0+cu130")));
    // `--runtime` names the runtime the backend column does not
    assert_eq!(set["points"][0]["runtime"], "pytorch-cuda");

    // the two sets merge into one device: the 1.5B and the 8B fit together
    let fit =
        json_of(&["calibrate", &s(&a), &s(&b), "--pack", "reference-silicon", "--device", &device, "--format", "json"]);
    let res = fit["residuals"].as_array().cloned().unwrap_or_default();
    assert_eq!(res.len(), 9);
    let mut loo = 0;
    for r in &res {
        if let Some(e) = r["loo_error_pct"].as_f64() {
            assert!(e.abs() <= 10.0, "leave-one-out error {e}% at {r}");
            loo += 1;
        }
        let e = r["error_pct"].as_f64().unwrap_or(f64::NAN);
        assert!(e.abs() <= 5.0, "fitted error {e}% at {r}");
    }
    assert!(loo >= 8, "{loo} leave-one-out predictions");
    let c = &fit["calibration"];
    assert_eq!(c["source"]["method"], "derived_from_measured");
    // the fit separates the KV cache read (the contexts differ) from the weights
    let (e_w, e_kv) = (c["decode_bw_efficiency"].as_f64().unwrap_or(0.0), c["decode_kv_bw_efficiency"].as_f64());
    assert!((0.8..1.0).contains(&e_w), "{e_w}");
    assert!(e_kv.is_some_and(|k| k > 0.0 && k < e_w), "{e_kv:?}");
    // the same fit as the registry's transcription of the measurements
    let reg = json_of(&["calibrate", "h200", "--device", "nvidia_h200", "--format", "json"]);
    for k in ["decode_bw_efficiency", "decode_kv_bw_efficiency", "decode_layer_us", "prefill_util"] {
        let (x, y) = (c[k].as_f64().unwrap_or(0.0), reg["calibration"][k].as_f64().unwrap_or(1.0));
        assert!((x - y).abs() <= 0.01 * y.abs(), "{k}: {x} from ingest, {y} from the registry set");
    }
}

#[test]
fn the_shipped_h200_tier_lands_within_ten_percent_under_the_default_rules() {
    let v = json_of(&["accuracy", "h200", "--pack", "reference-silicon", "--tier", H200, "--format", "json"]);
    let points = v["points"].as_array().cloned().unwrap_or_default();
    assert_eq!(points.len(), 9);
    for p in &points {
        let e = p["error_pct"].as_f64().unwrap_or(f64::NAN);
        assert!(e.abs() <= 10.0, "{p}");
    }
    let long = points.iter().find(|p| p["metric"] == "decode" && p["tokens"] == 32768).cloned();
    assert!(long.is_some_and(|p| p["error_pct"].as_f64().is_some_and(|e| e.abs() <= 10.0)));

    // the reference rules read no KV cache: flat across context, and far off at 32k
    let r = json_of(&[
        "accuracy",
        "h200",
        "--pack",
        "reference-silicon",
        "--tier",
        H200,
        "--rules",
        "ratchet-0.3.2",
        "--format",
        "json",
    ]);
    let decode: Vec<f64> = r["points"]
        .as_array()
        .map(|a| a.iter().filter(|p| p["model"] == "llama_8b@BF16" && p["metric"] == "decode"))
        .into_iter()
        .flatten()
        .filter_map(|p| p["projected"].as_f64())
        .collect();
    assert!(decode.len() >= 4 && decode.iter().all(|d| *d == decode[0]), "{decode:?}");
}

#[test]
fn projecting_with_the_fitted_constants_reproduces_the_fit() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let pack = dir.path().join("pack");
    std::fs::create_dir_all(&pack).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(
        pack.join("pack.ron"),
        "Pack(schema_version: 1, name: \"fitted\", version: \"0.1.0\", engine: \">=0.1.0, <1.0.0\", description: \"a fitted tier\")",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let out = pack.join("registry/tiers/h200-fit.ron");
    let fit = json_of(&[
        "calibrate",
        "h200",
        "--device",
        "nvidia_h200",
        "--name",
        "H200 fit",
        "--out",
        &s(&out),
        "--format",
        "json",
    ]);
    let text = std::fs::read_to_string(&out).unwrap_or_default();
    assert!(text.starts_with("#![enable(implicit_some)]\n// H200 fit"), "{text}");
    assert_eq!(text.matches("#![enable").count(), 1, "{text}");
    let (code, _, err) = run(&["validate", "--pack", &s(&pack), "--deny-warnings"]);
    assert_eq!(code, 0, "{err}");

    let acc = json_of(&["accuracy", "h200", "--pack", &s(&pack), "--tier", "H200 fit", "--format", "json"]);
    let projected = acc["points"].as_array().cloned().unwrap_or_default();
    let fitted = fit["residuals"].as_array().cloned().unwrap_or_default();
    assert_eq!(projected.len(), fitted.len());
    for (p, f) in projected.iter().zip(&fitted) {
        assert_eq!((&p["metric"], &p["tokens"]), (&f["metric"], &f["tokens"]));
        let (x, y) = (p["projected"].as_f64().unwrap_or(0.0), f["fitted"].as_f64().unwrap_or(1.0));
        // the constants are written to four significant digits
        assert!((x - y).abs() <= 1e-3 * y, "{p} projected, {f} fitted");
    }
}

#[test]
fn the_shipped_class_constants_on_held_out_public_devices() {
    let v = json_of(&["accuracy", "public-llamacpp", "--holdout", "--format", "json"]);
    let decode = &v["summary"]["decode"];
    let devices = decode["devices"].as_u64().unwrap_or(0);
    let median = decode["median_abs_error_pct"].as_f64().unwrap_or(f64::NAN);
    assert!(devices >= 8, "{devices} held-out devices");
    assert!(median <= 15.0, "held-out decode median |error| {median}%");
    // no held-out device was fitted: each class fit says how many points it used, and
    // leaving the held-out devices in changes the constants
    let (code, out, err) = run(&["calibrate", "public-llamacpp", "--class", "lp5x_128", "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let fit: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}"));
    let fitted_devices: Vec<&str> =
        fit["residuals"].as_array().into_iter().flatten().filter_map(|r| r["device"].as_str()).collect();
    let set: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("registry/measurements/public-llamacpp.json")).unwrap_or_default(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    for (k, d) in set["devices"].as_object().into_iter().flatten() {
        if d["holdout"] == true {
            assert!(!fitted_devices.contains(&k.as_str()), "held-out `{k}` was fitted");
        }
    }
    // the shipped constants are the fit's
    let table = std::fs::read_to_string(root().join("registry/tables/silicon_classes.ron")).unwrap_or_default();
    let c = &fit["calibration"];
    for k in ["decode_bw_efficiency", "decode_layer_us", "prefill_util", "prefill_layer_us"] {
        let want = format!("{k}: {}", c[k].as_f64().map(ron_number).unwrap_or_default());
        assert!(table.contains(&want), "silicon_classes.ron lacks `{want}` (rerun ratchet calibrate)");
    }
}

/// A float as RON writes it (always with a fraction).
fn ron_number(x: f64) -> String {
    let t = format!("{x}");
    if t.contains('.') { t } else { format!("{t}.0") }
}

#[test]
fn leave_one_device_out_per_class() {
    let v = json_of(&["accuracy", "public-llamacpp", "--loo-class", "--format", "json"]);
    let d = &v["summary"]["decode"];
    assert!(d["devices"].as_u64().unwrap_or(0) >= 30, "{d}");
    assert!(d["median_abs_error_pct"].as_f64().unwrap_or(f64::NAN) <= 15.0, "{d}");
}

#[test]
fn ingest_writes_a_measured_tier_that_validate_accepts_and_project_uses() {
    let (dir, reg) = common::temp_registry();
    let out = reg.join("tiers/10-rtx-5090-measured.ron");
    let input = data("h200-llama-8b.json");
    let regs = s(&reg);
    // `ratchet ingest` of the 8B rows onto a tier whose bandwidth can deliver them (an NPU
    // tier cannot: its projection would be refused by the bandwidth roofline), with `extra`
    // arguments. The rows measured a Llama-shaped 8B in BF16, not the catalog's Qwen2.5-7B
    // Q4_K_M: refused by name, then kept with `--allow-mismatch`
    let base = "RTX 5090 (reference, measured)";
    let ingest = |extra: &[&str]| {
        let mut args = vec!["ingest", &input, "--registry", &regs, "--tier", base, "--model", "qwen25_7b_dense"];
        args.extend_from_slice(extra);
        run(&args)
    };
    let (code, _, err) = ingest(&["--out", &s(&out)]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("row 1: `model_size` 16060522496 bytes is +265.0 % from `qwen25_7b_dense`"), "{err}");
    assert!(err.contains("`model_filename` `llama_8b-bf16 (random weights)` names quant `BF16`"), "{err}");
    assert!(err.contains("--allow-mismatch"), "{err}");
    assert!(!out.exists());
    let (code, _, err) = ingest(&["--out", &s(&out), "--allow-mismatch"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("warning: kept by --allow-mismatch"), "{err}");
    let text = std::fs::read_to_string(&out).unwrap_or_default();
    assert!(text.contains("method: \"measured\""), "{text}");
    assert!(text.contains("ratchet ingest of 8 measurements: llama-bench pytorch-2.11.0+cu130"), "{text}");
    let (code, _, err) = run(&["validate", "--registry", &regs, "--deny-warnings"]);
    assert_eq!(code, 0, "{err}");
    let v = json_of(&[
        "project",
        "--registry",
        &regs,
        "--tier",
        "RTX 5090 (reference, measured) (measured)",
        "--model",
        "qwen25_7b_dense",
        "--format",
        "json",
    ]);
    // the measured cell: decode at the shallowest context, prefill the mean of the prompts
    assert_eq!(v["source"], "measured");
    assert_eq!(v["decode_tok_s"], 179.39);
    // the same again is refused: the file exists
    let before = std::fs::read(&out).unwrap_or_default();
    let (code, _, err) = ingest(&["--out", &s(&out), "--allow-mismatch"]);
    assert_eq!(code, 2);
    assert!(err.contains("exists; ingest never writes over a file"), "{err}");
    assert_eq!(std::fs::read(&out).unwrap_or_default(), before);
    // and so is a tier name the registry has
    let other = dir.path().join("other.ron");
    let (code, _, err) = ingest(&["--name", "NPU Mid", "--out", &s(&other), "--allow-mismatch"]);
    assert_eq!(code, 2);
    assert!(err.contains("the registry already has a tier `NPU Mid`"), "{err}");
    assert!(!other.exists());
}

fn llm_record(prompt: i64, output: i64, latency_ns: i64, rate: Option<f32>) -> WorkloadRecord {
    let mut r = WorkloadRecord::new();
    r.subsystem = "llm".into();
    r.operation = "generate".into();
    r.llm_prompt_tokens = Some(prompt);
    r.llm_output_tokens = Some(output);
    r.latency_ns = Some(latency_ns);
    r.llm_tokens_per_sec = rate;
    r
}

#[test]
fn ingest_reads_workload_records() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let w = RecordWriter::create(dir.path(), "llm").unwrap_or_else(|e| panic!("{e}"));
    // a prefill of 512 tokens in 20 ms, decodes of 128 tokens at 4k context
    w.write(llm_record(512, 0, 20_000_000, None)).unwrap_or_else(|e| panic!("{e}"));
    w.write(llm_record(4096, 128, 1_000_000_000, Some(128.0))).unwrap_or_else(|e| panic!("{e}"));
    w.write(llm_record(4096, 128, 1_000_000_000, Some(126.0))).unwrap_or_else(|e| panic!("{e}"));
    let mut other = WorkloadRecord::new();
    other.subsystem = "vision".into();
    w.write(other).unwrap_or_else(|e| panic!("{e}"));
    w.close().unwrap_or_else(|e| panic!("{e}"));
    let set = dir.path().join("records.json");
    let (code, _, err) = run(&[
        "ingest",
        &s(w.path()),
        "--tier",
        "RTX 5090 (reference, measured)",
        "--model",
        "qwen25_7b_dense",
        "--set",
        &s(&set),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("read 3 measurements (2 decode, 1 prefill, 0 prompt+generation)"), "{err}");
    let v: Value =
        serde_json::from_str(&std::fs::read_to_string(&set).unwrap_or_default()).unwrap_or_else(|e| panic!("{e}"));
    let p = &v["points"];
    assert_eq!((p[0]["pp_tokens"].as_u64(), p[0]["pp_tok_s"].as_f64()), (Some(512), Some(25600.0)));
    assert_eq!((p[1]["context_tokens"].as_u64(), p[1]["tg_tok_s"].as_f64()), (Some(4096), Some(128.0)));
    assert!(p[1]["notes"].as_str().is_some_and(|n| n.starts_with("workload record ")), "{}", p[1]);
    // accuracy reads the set (and raw records with --tier and --model)
    let acc = json_of(&["accuracy", &s(&set), "--format", "json"]);
    assert_eq!(acc["points"].as_array().map(Vec::len), Some(3));
    let raw = json_of(&[
        "accuracy",
        &s(w.path()),
        "--tier",
        "RTX 5090 (reference, measured)",
        "--model",
        "qwen25_7b_dense",
        "--format",
        "json",
    ]);
    assert_eq!(raw["points"], acc["points"]);
}

/// A workload-record file with `column` of type `dt` (one null row).
fn parquet_with(path: &Path, column: &str, dt: DataType) {
    let schema = ratchet::probes::schema();
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| if f.name() == column { Field::new(column, dt.clone(), true) } else { f.as_ref().clone() })
        .map(|f| f.with_nullable(true))
        .collect();
    let schema = Arc::new(Schema::new(fields));
    let cols: Vec<ArrayRef> = schema.fields().iter().map(|f| new_null_array(f.data_type(), 1)).collect();
    let batch = RecordBatch::try_new(schema.clone(), cols).unwrap_or_else(|e| panic!("{e}"));
    let file = std::fs::File::create(path).unwrap_or_else(|e| panic!("{e}"));
    let mut w = ArrowWriter::try_new(file, schema, None).unwrap_or_else(|e| panic!("{e}"));
    w.write(&batch).unwrap_or_else(|e| panic!("{e}"));
    w.close().unwrap_or_else(|e| panic!("{e}"));
}

/// `ratchet ingest INPUT` onto NPU High: (exit code, stderr), and that nothing was written.
fn ingest_err(dir: &Path, input: &Path) -> (i32, String) {
    let out = dir.join("never.ron");
    let (code, _, err) =
        run(&["ingest", &s(input), "--tier", "NPU High", "--model", "qwen25_7b_dense", "--out", &s(&out)]);
    assert!(!out.exists(), "{} written on bad input", out.display());
    (code, err)
}

#[test]
fn bad_input_is_a_located_error_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let d = dir.path();

    // a truncated Parquet file
    let w = RecordWriter::create(d, "llm").unwrap_or_else(|e| panic!("{e}"));
    w.write(llm_record(512, 0, 20_000_000, None)).unwrap_or_else(|e| panic!("{e}"));
    w.close().unwrap_or_else(|e| panic!("{e}"));
    let bytes = std::fs::read(w.path()).unwrap_or_default();
    let cut = d.join("cut.parquet");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap_or_else(|e| panic!("{e}"));
    let (code, err) = ingest_err(d, &cut);
    assert_eq!(code, 1);
    assert!(err.contains(&format!("`{}`: not a readable parquet file", cut.display())), "{err}");

    // a column of the wrong type
    let typed = d.join("typed.parquet");
    parquet_with(&typed, "llm_prompt_tokens", DataType::Utf8);
    let (code, err) = ingest_err(d, &typed);
    assert_eq!(code, 1);
    assert!(err.contains("column `llm_prompt_tokens` has type Utf8, expected Int64"), "{err}");

    // llama-bench JSON without `avg_ts` on its second result
    let text = std::fs::read_to_string(data("h200-llama-8b.json")).unwrap_or_default();
    let mut rows: Vec<Value> = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}"));
    if let Some(o) = rows[1].as_object_mut() {
        o.remove("avg_ts");
    }
    let missing = d.join("missing.json");
    std::fs::write(&missing, serde_json::to_string(&rows).unwrap_or_default()).unwrap_or_else(|e| panic!("{e}"));
    let (code, err) = ingest_err(d, &missing);
    assert_eq!(code, 1);
    assert!(err.contains(&format!("{}: row 2: missing field `avg_ts`", missing.display())), "{err}");

    // JSON Lines: a broken line, named by its line number
    let jsonl = d.join("broken.jsonl");
    let lines = std::fs::read_to_string(data("h200-llama-8b.jsonl")).unwrap_or_default();
    let mut l: Vec<&str> = lines.lines().collect();
    l[2] = "{\"n_prompt\": 0, \"n_gen\": ";
    std::fs::write(&jsonl, l.join("\n")).unwrap_or_else(|e| panic!("{e}"));
    let (code, err) = ingest_err(d, &jsonl);
    assert_eq!(code, 1);
    assert!(err.contains(&format!("{}: row 3: not JSON", jsonl.display())), "{err}");

    // a test that measured no tokens
    rows[1]["avg_ts"] = Value::from(10.0);
    rows[1]["n_prompt"] = Value::from(0);
    rows[1]["n_gen"] = Value::from(0);
    let none = d.join("none.json");
    std::fs::write(&none, serde_json::to_string(&rows).unwrap_or_default()).unwrap_or_else(|e| panic!("{e}"));
    let (code, err) = ingest_err(d, &none);
    assert_eq!(code, 1);
    assert!(err.contains("row 2: `n_prompt` and `n_gen` are both 0"), "{err}");

    // a model size that is not a positive number
    rows[1]["n_gen"] = Value::from(128);
    rows[1]["model_size"] = Value::from(-5);
    let size = d.join("size.json");
    std::fs::write(&size, serde_json::to_string(&rows).unwrap_or_default()).unwrap_or_else(|e| panic!("{e}"));
    let (code, err) = ingest_err(d, &size);
    assert_eq!(code, 1);
    assert!(err.contains("row 2: `model_size` must be a positive number, found `-5`"), "{err}");
}

#[test]
fn fewer_points_than_constants_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    // one decode measurement, one model, one context: two constants cannot be fitted
    let lines = std::fs::read_to_string(data("h200-llama-8b.jsonl")).unwrap_or_default();
    let one = dir.path().join("one.jsonl");
    std::fs::write(&one, lines.lines().next().unwrap_or_default()).unwrap_or_else(|e| panic!("{e}"));
    let out = dir.path().join("tier.ron");
    let (code, _, err) = run(&[
        "calibrate",
        &s(&one),
        "--pack",
        "reference-silicon",
        "--tier",
        H200,
        "--model",
        "h200_llama_8b_bf16",
        "--device",
        "nvidia_h200_reference_calibrated",
        "--out",
        &s(&out),
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("cannot fit decode: 1 points for 2 constants"), "{err}");
    assert!(!out.exists());

    // and a class the set does not have is named, with a suggestion
    let (code, _, err) = run(&["calibrate", "public-llamacpp", "--class", "lp5x_12"]);
    assert_eq!(code, 2);
    assert!(err.contains("no spec-sheet device of silicon class `lp5x_12`"), "{err}");
    assert!(err.contains("did you mean"), "{err}");
}

#[test]
fn calibrate_never_writes_over_a_file() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let out = dir.path().join("taken.ron");
    std::fs::write(&out, "keep me").unwrap_or_else(|e| panic!("{e}"));
    let (code, _, err) = run(&["calibrate", "h200", "--device", "nvidia_h200", "--out", &s(&out)]);
    assert_eq!(code, 2);
    assert!(err.contains("exists"), "{err}");
    assert_eq!(std::fs::read_to_string(&out).unwrap_or_default(), "keep me");
}

/// One llama-bench result of Qwen2.5-7B-Instruct Q4_K_M as `llama-bench -o json` writes it
/// (the rates are made up for the test; the file facts are the real file's).
fn bench(n_prompt: u64, n_gen: u64, n_depth: u64, avg_ts: f64) -> Value {
    serde_json::json!({
        "build_commit": "abc1234", "build_number": 4000, "backends": "CUDA", "gpu_info": "test GPU",
        "model_filename": "models/qwen2.5-7b-instruct-q4_k_m.gguf", "model_type": "qwen2 7B Q4_K - Medium",
        "model_size": 4_683_073_536u64, "model_n_params": 7_615_616_512u64,
        "n_prompt": n_prompt, "n_gen": n_gen, "n_depth": n_depth, "avg_ts": avg_ts,
    })
}

#[test]
fn ingest_keeps_depth_backend_build_and_prompt_generation_runs() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let d = dir.path();
    let rows = vec![
        bench(512, 0, 0, 1000.0),
        bench(512, 0, 4096, 500.0),
        bench(0, 128, 0, 50.0),
        bench(0, 128, 4096, 40.0),
        bench(512, 128, 0, 200.0),
    ];
    let input = d.join("bench.json");
    std::fs::write(&input, serde_json::to_string(&rows).unwrap_or_default()).unwrap_or_else(|e| panic!("{e}"));
    let (out, set) = (d.join("tier.ron"), d.join("set.json"));
    let tier = "RTX 5090 (reference, measured)";
    let (code, _, err) = run(&[
        "ingest",
        &s(&input),
        "--tier",
        tier,
        "--model",
        "qwen25_7b_dense",
        "--out",
        &s(&out),
        "--set",
        &s(&set),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("read 5 measurements (2 decode, 2 prefill, 1 prompt+generation)"), "{err}");
    // the anchors are the shallowest context's rates: not the mean over depths
    let text = std::fs::read_to_string(&out).unwrap_or_default();
    assert!(text.contains("\"qwen25_7b_dense\": 1000.0"), "{text}");
    assert!(text.contains("\"qwen25_7b_dense\": 50.0"), "{text}");
    assert!(text.contains("[CUDA]"), "{text}");
    // the set keeps depth, backend, build and the combined run, at the catalog's size
    let v: Value =
        serde_json::from_str(&std::fs::read_to_string(&set).unwrap_or_default()).unwrap_or_else(|e| panic!("{e}"));
    let p = v["points"].as_array().cloned().unwrap_or_default();
    assert_eq!(p.len(), 5);
    assert_eq!(p[1]["pp_context_tokens"], 4096);
    assert_eq!(p[0].get("pp_context_tokens"), None);
    assert_eq!(p[3]["context_tokens"], 4096);
    assert_eq!(
        (&p[4]["pp_tokens"], &p[4]["tg_tokens"], &p[4]["pg_tok_s"]),
        (&Value::from(512), &Value::from(128), &Value::from(200.0))
    );
    assert!(p.iter().all(|x| x["backend"] == "CUDA" && x["build"] == "abc1234 (4000)"), "{p:?}");
    assert!(p.iter().all(|x| x["model_size_gb"] == 4.4), "{p:?}");
    assert!(p[0]["notes"].as_str().is_some_and(|n| n.contains("file 4683073536 bytes")), "{}", p[0]);
    assert_eq!(v["models"]["qwen25_7b_dense"]["catalog"], "qwen25_7b_dense");

    // accuracy projects exactly what `project` does, compares the combined run, and names
    // the prompt after a context as not compared
    let acc = json_of(&["accuracy", &s(&set), "--format", "json"]);
    let pts = acc["points"].as_array().cloned().unwrap_or_default();
    assert_eq!(pts.len(), 5, "{acc}");
    let proj = |prompt: u64, decode: u64| {
        json_of(&[
            "project",
            "--tier",
            tier,
            "--model",
            "qwen25_7b_dense",
            "--prompt-tokens",
            &prompt.to_string(),
            "--decode-tokens",
            &decode.to_string(),
            "--format",
            "json",
        ])
    };
    let deep = pts.iter().find(|x| x["metric"] == "prefill" && x["projected"].is_null()).cloned();
    assert!(deep.is_some_and(|x| x["source"].as_str().is_some_and(|t| t.contains("after 4096 tokens of context"))));
    let dec = pts.iter().find(|x| x["metric"] == "decode" && x["tokens"] == 4096).cloned().unwrap_or_default();
    let want = proj(4096, 128);
    // project rounds to 2 places
    let got = dec["projected"].as_f64().unwrap_or(f64::NAN);
    assert!((got - want["decode_tok_s"].as_f64().unwrap_or(0.0)).abs() <= 0.005, "{dec} vs {want}");
    let comb = pts.iter().find(|x| x["metric"] == "combined").cloned().unwrap_or_default();
    let both = proj(512, 128);
    let (pp, tg) = (both["prefill_tok_s"].as_f64().unwrap_or(0.0), both["decode_tok_s"].as_f64().unwrap_or(0.0));
    let expect = 640.0 / (512.0 / pp + 128.0 / tg);
    let got = comb["projected"].as_f64().unwrap_or(f64::NAN);
    assert!((got - expect).abs() <= 0.01 * expect, "{comb}: {got} vs {expect}");
    assert!(acc["summary"]["combined"]["n"] == 1, "{}", acc["summary"]);
    assert!(acc["summary"]["decode"]["within"].as_array().is_some_and(|b| b.len() == 2), "{}", acc["summary"]);

    // a file of another quant or size is refused by name, and nothing is written
    let mut other = rows.clone();
    other[2]["model_filename"] = Value::from("qwen2.5-7b-instruct-q8_0.gguf");
    other[2]["model_size"] = Value::from(999);
    let bad = d.join("bad.json");
    std::fs::write(&bad, serde_json::to_string(&other).unwrap_or_default()).unwrap_or_else(|e| panic!("{e}"));
    let never = d.join("never.json");
    let args = ["ingest", &s(&bad), "--tier", tier, "--model", "qwen25_7b_dense", "--set", &s(&never)];
    let (code, _, err) = run(&args);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("row 3: `model_size` 999 bytes is -100.0 % from `qwen25_7b_dense`"), "{err}");
    assert!(err.contains("row 3: `model_filename` `qwen2.5-7b-instruct-q8_0.gguf` names quant `Q8_0`"), "{err}");
    assert!(!never.exists());
    // the same raw file through accuracy is refused too, and kept with --allow-mismatch
    let (code, _, err) = run(&["accuracy", &s(&bad), "--tier", tier, "--model", "qwen25_7b_dense", "--format", "json"]);
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = run(&[
        "accuracy",
        &s(&bad),
        "--tier",
        tier,
        "--model",
        "qwen25_7b_dense",
        "--allow-mismatch",
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("warning: kept by --allow-mismatch"), "{err}");
}

#[test]
fn a_fit_outside_the_physical_range_is_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    // the registry's H200 set with the device's bandwidth understated by a fifth: the
    // measured decode rates then need more than the spec bandwidth
    let text = std::fs::read_to_string(root().join("registry/measurements/h200.json")).unwrap_or_default();
    let mut set: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}"));
    let bw = set["devices"]["nvidia_h200"]["mem_bandwidth_gbs"].as_f64().unwrap_or(0.0);
    set["devices"]["nvidia_h200"]["mem_bandwidth_gbs"] = Value::from(bw * 0.8);
    let path = dir.path().join("slow.json");
    std::fs::write(&path, serde_json::to_string(&set).unwrap_or_default()).unwrap_or_else(|e| panic!("{e}"));
    let out = dir.path().join("never.ron");
    let (code, stdout, err) = run(&["calibrate", &s(&path), "--device", "nvidia_h200", "--out", &s(&out)]);
    assert_eq!(code, 1, "{stdout}{err}");
    assert!(err.contains("decode_bw_efficiency 1.106: above 1 of the spec bandwidth"), "{err}");
    assert!(err.contains("refused"), "{err}");
    assert!(!out.exists());
    // the unmodified set fits inside the range
    let (code, _, err) = run(&["calibrate", "h200", "--device", "nvidia_h200"]);
    assert_eq!(code, 0, "{err}");
}

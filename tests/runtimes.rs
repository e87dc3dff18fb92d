//! Runtimes are registry data (`registry/tables/runtimes.ron`): a measurement's backend
//! string resolves to exactly one runtime, `validate` refuses an ambiguous or unknown one at
//! its file position, and `ratchet accuracy` groups its report by engine, runtime and source
//! from the table the binary reads — an edited copy changes the report with no rebuild.

mod common;

use common::{run, temp_registry};
use ratchet::Engine;
use serde_json::Value;

fn engine() -> Engine {
    Engine::embedded().unwrap_or_else(|r| panic!("{r:?}"))
}

#[test]
fn backend_strings_resolve_to_one_runtime() {
    let e = engine();
    let t = e.registry().runtimes();
    // (runtime, backend) → runtime key, or a fragment of the error
    type Case<'a> = (Option<&'a str>, Option<&'a str>, Result<Option<&'a str>, &'a str>);
    let cases: &[Case<'_>] = &[
        (None, Some("CUDA"), Ok(Some("llamacpp-cuda"))),
        (None, Some("Metal,BLAS"), Ok(Some("llamacpp-metal"))),
        (None, Some("metal"), Ok(Some("llamacpp-metal"))),
        (None, Some(" Vulkan (RADV) "), Ok(Some("llamacpp-vulkan"))),
        // a comma list no runtime lists whole resolves by its first part
        (None, Some("CUDA,RPC"), Ok(Some("llamacpp-cuda"))),
        (None, Some("RKLLM"), Ok(Some("rkllm"))),
        (None, Some("ROCm/HIP (hipBLASLt)"), Ok(Some("llamacpp-rocm"))),
        // an explicit runtime wins over the backend string
        (Some("pytorch-cuda"), Some("PyTorch CUDA graph"), Ok(Some("pytorch-cuda"))),
        (None, None, Ok(None)),
        (None, Some("  "), Ok(None)),
        (None, Some("Vulkn"), Err("did you mean `Vulkan`?")),
        (Some("rkllmm"), None, Err("unknown runtime `rkllmm` (did you mean `rkllm`?)")),
    ];
    for (runtime, backend, want) in cases {
        let got = t.resolve(*runtime, *backend);
        match (want, &got) {
            (Ok(w), Ok(g)) => assert_eq!(w, g, "{runtime:?} {backend:?}"),
            (Err(frag), Err(msg)) => assert!(msg.contains(frag), "{runtime:?} {backend:?}: {msg}"),
            _ => panic!("{runtime:?} {backend:?}: want {want:?}, got {got:?}"),
        }
    }
}

#[test]
fn every_shipped_measurement_names_its_runtime() {
    let e = engine();
    let t = e.registry().runtimes();
    for (name, set) in e.registry().measurements() {
        for (i, p) in set.points.iter().enumerate() {
            let r = t.resolve(p.runtime.as_deref(), p.backend.as_deref());
            assert!(matches!(r, Ok(Some(_))), "set {name} point {i}: {r:?}");
        }
    }
}

fn accuracy_json(reg: &std::path::Path) -> Value {
    let reg = reg.to_string_lossy().to_string();
    let (code, out, err) = run(&["accuracy", "public-llamacpp", "--registry", &reg, "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

#[test]
fn accuracy_groups_by_the_runtime_table_the_binary_reads() {
    let (_dir, reg) = temp_registry();
    let v = accuracy_json(&reg);
    let metal = &v["by"]["runtime"]["llamacpp-metal"]["decode"];
    assert!(metal["n"].as_u64().is_some_and(|n| n > 10), "{}", v["by"]["runtime"]);
    assert!(v["by"]["engine"]["gpu"]["decode"]["n"].as_u64().is_some_and(|n| n > 0), "{}", v["by"]);
    assert!(v["by"]["source"]["S1"]["prefill"]["n"].as_u64().is_some_and(|n| n > 0), "{}", v["by"]);
    assert!(v["by"]["class"]["lp5x_128"]["decode"]["n"].as_u64().is_some_and(|n| n > 10), "{}", v["by"]["class"]);
    let point = v["points"].as_array().and_then(|p| p.first()).cloned().unwrap_or_default();
    assert_eq!(point["runtime"], "llamacpp-metal", "{point}");
    assert_eq!(point["engine"], "gpu", "{point}");
    assert_eq!(point["class"], "lp5x_128", "{point}");

    // the same points, the Metal runtime renamed and said to run on the NPU: data only
    let path = reg.join("tables/runtimes.ron");
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let edited = text.replace(
        r#""llamacpp-metal": (name: "llama.cpp, Metal backend", family: "llama.cpp", engine: "gpu""#,
        r#""apple-metal": (name: "llama.cpp, Metal backend", family: "llama.cpp", engine: "npu""#,
    );
    assert_ne!(text, edited, "the Metal entry moved: update this test");
    std::fs::write(&path, edited).unwrap_or_else(|e| panic!("{e}"));
    let w = accuracy_json(&reg);
    assert_eq!(w["by"]["runtime"]["apple-metal"]["decode"]["n"], metal["n"], "{}", w["by"]["runtime"]);
    assert!(w["by"]["runtime"].get("llamacpp-metal").is_none(), "{}", w["by"]["runtime"]);
    assert_eq!(w["by"]["engine"]["npu"]["decode"]["n"], metal["n"], "{}", w["by"]["engine"]);
}

#[test]
fn validate_refuses_a_backend_two_runtimes_list() {
    let (_dir, reg) = temp_registry();
    let path = reg.join("tables/runtimes.ron");
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let edited = text.replace(r#"backends: ["RKLLM"]"#, r#"backends: ["RKLLM", "cuda"]"#);
    assert_ne!(text, edited);
    std::fs::write(&path, edited).unwrap_or_else(|e| panic!("{e}"));
    let (code, out, err) = run(&["validate", "--registry", &reg.to_string_lossy()]);
    let all = format!("{out}{err}");
    assert_ne!(code, 0, "{all}");
    assert!(all.contains("tables/runtimes.ron:"), "{all}");
    assert!(all.contains("backend `cuda` of runtime `rkllm` is also listed by `llamacpp-cuda`"), "{all}");
}

#[test]
fn a_custom_tier_takes_its_class_fit_under_its_runtime() {
    let e = engine();
    let set = e.registry().measurements().get("public-rkllm").cloned().unwrap_or_else(|| panic!("no public-rkllm"));
    let d = &set.devices["rk3588"];
    let cal = |r: Option<&str>| {
        let t = e.device_tier("rk3588", d, r).unwrap_or_else(|err| panic!("{r:?}: {err}"));
        t.spec.llm_calibration.unwrap_or_else(|| panic!("{r:?}: no calibration"))
    };
    // the class's own runtime, named or not: the RKLLM fit, at its own confidence
    let own = cal(None);
    assert!(own.source.reference.contains("--runtime rkllm"), "{}", own.source.reference);
    assert_eq!(own.source.confidence, "medium", "a one-device class fit");
    assert_eq!(cal(Some("rkllm")), own);
    // another runtime: the class fit, labelled as transferred, at low confidence
    let cpu = cal(Some("llamacpp-cpu"));
    assert_eq!(cpu.decode_layer_us, own.decode_layer_us);
    assert!(
        cpu.source.reference.contains("fitted under `rkllm`, applied to runtime `llamacpp-cpu`"),
        "{}",
        cpu.source.reference
    );
    assert_eq!(cpu.source.confidence, "low");
    // a runtime the table does not have
    let err = e.device_tier("rk3588", d, Some("rkllmm")).err().map(|x| x.to_string()).unwrap_or_default();
    assert!(err.contains("unknown runtime `rkllmm`") && err.contains("did you mean `rkllm`?"), "{err}");
}

#[test]
fn a_fit_under_another_runtime_is_data() {
    let (dir, reg) = temp_registry();
    // one RK3588 point, said to run on llama.cpp's CPU backend
    let text = std::fs::read_to_string(reg.join("measurements/public-rkllm.json")).unwrap_or_default();
    let mut set: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}"));
    set["name"] = "cpu-probe".into();
    let point = set["points"]
        .as_array()
        .and_then(|p| p.iter().find(|x| x["device"] == "rk3588" && x["quant"] == "w8a8"))
        .cloned()
        .unwrap_or_else(|| panic!("no RK3588 point"));
    let mut point = point;
    point["backend"] = "CPU".into();
    set["points"] = Value::Array(vec![point]);
    let file = dir.path().join("cpu-probe.json");
    std::fs::write(&file, set.to_string()).unwrap_or_else(|e| panic!("{e}"));
    let projected = |reg: &std::path::Path| {
        let (code, out, err) =
            run(&["accuracy", &file.to_string_lossy(), "--registry", &reg.to_string_lossy(), "--format", "json"]);
        assert_eq!(code, 0, "{err}");
        let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
        assert_eq!(v["points"][0]["runtime"], "llamacpp-cpu", "{v}");
        v["points"][0]["projected"].as_f64().unwrap_or_else(|| panic!("{v}"))
    };
    let before = projected(&reg);
    // a fit of `lp5x_64` under the CPU runtime, with ten times the per-layer decode cost
    let path = reg.join("tables/silicon_classes.ron");
    let classes = std::fs::read_to_string(&path).unwrap_or_default();
    let edited = classes.replacen(
        r#"default_runtime: "rkllm","#,
        r#"default_runtime: "rkllm",
            runtime_calibrated: {"llamacpp-cpu": (decode_bw_efficiency: 0.95, decode_kv_bw_efficiency: 0.3218, decode_layer_us: 5451.0, prefill_util: 0.1985, prefill_layer_us: 3019.0,
                source: (method: "derived_from_measured", reference: "a test's fit", confidence: "medium"))},"#,
        1,
    );
    assert_ne!(classes, edited, "lp5x_64 lost its default_runtime: update this test");
    std::fs::write(&path, edited).unwrap_or_else(|e| panic!("{e}"));
    let after = projected(&reg);
    assert!(after < before / 3.0, "decode under the CPU fit: {before} → {after}");
}

#[test]
fn ingest_keeps_each_rows_runtime_and_refuses_an_unknown_backend() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let input = common::root().join("tests/data/ingest/h200-llama-1b.jsonl");
    let ingest = |input: &std::path::Path, out: &std::path::Path| {
        run(&[
            "ingest",
            &input.to_string_lossy(),
            "--pack",
            "reference-silicon",
            "--tier",
            "NVIDIA H200 (reference, calibrated)",
            "--model",
            "h200_llama_1b_bf16",
            "--set",
            &out.to_string_lossy(),
        ])
    };
    let out = dir.path().join("set.json");
    let (code, _, err) = ingest(&input, &out);
    assert_eq!(code, 0, "{err}");
    let set: Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap_or_default()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(set["points"][0]["runtime"], "llamacpp-cuda", "{set}");

    // a backend no runtime lists: the row, the value and the nearest name
    let text = std::fs::read_to_string(&input).unwrap_or_default().replace("\"CUDA\"", "\"CUDAA\"");
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(&bad, text).unwrap_or_else(|e| panic!("{e}"));
    let (code, _, err) = ingest(&bad, &dir.path().join("bad-set.json"));
    assert_ne!(code, 0);
    assert!(err.contains("row 1") && err.contains("no runtime lists the backend `CUDAA`"), "{err}");
    assert!(err.contains("did you mean `CUDA`?"), "{err}");
    assert!(!dir.path().join("bad-set.json").exists(), "nothing written on error");
}

#[test]
fn leave_one_source_out_projects_each_source_without_its_own_points() {
    let (code, out, err) = run(&["accuracy", "public-llamacpp", "--loo-source", "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    let by_source = v["by"]["source"].as_object().cloned().unwrap_or_default();
    // the Apple thread (S1) and the LLaMA-3 tables (S2) are each projected by a fit without them
    for s in ["S1", "S2"] {
        assert!(by_source.get(s).and_then(|x| x["decode"]["n"].as_u64()).is_some_and(|n| n > 10), "{s}: {by_source:?}");
    }
    // S2's points are projected by another fit than the registry's (which saw them)
    let (code, out, _) = run(&["accuracy", "public-llamacpp", "--format", "json"]);
    assert_eq!(code, 0);
    let w: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    let projected = |x: &Value| -> Vec<(String, String, f64)> {
        x["points"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["citation"] == "S2" && p["metric"] == "decode" && p["class"] == "gddr_class")
            .filter_map(|p| Some((p["device"].to_string(), p["model"].to_string(), p["projected"].as_f64()?)))
            .collect()
    };
    let (inside, left_out) = (projected(&w), projected(&v));
    assert!(!inside.is_empty() && inside.len() == left_out.len(), "{inside:?} vs {left_out:?}");
    assert!(
        inside.iter().zip(&left_out).all(|(a, b)| a.0 == b.0 && a.1 == b.1 && (a.2 - b.2).abs() > 1e-9),
        "{inside:?} vs {left_out:?}"
    );
    // a class the registry has no fit for (`unknown`: the HBM cards) answers on the engine
    // defaults, so there is nothing to leave out; every fitted class refits without a warning
    assert!(!err.contains("no fit"), "{err}");
}

fn project(reg: &std::path::Path, tier: &str, extra: &[&str]) -> Value {
    let mut args = vec!["project", "--model", "qwen25_7b_dense", "--tier", tier, "--registry"];
    let r = reg.to_string_lossy().to_string();
    args.push(&r);
    args.extend(["--format", "json"]);
    args.extend(extra);
    let (code, out, err) = run(&args);
    assert_eq!(code, 0, "{err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

#[test]
fn a_registry_tier_takes_its_class_fit_and_the_reference_rules_ignore_it() {
    let (_dir, reg) = temp_registry();
    const GPU: &str = "RTX 5090 (reference, measured)";
    let fitted = project(&reg, GPU, &[]);
    assert_eq!(fitted["source"], "fitted", "{fitted}");
    // the reference's constants and path, bit for bit
    let reference = project(&reg, GPU, &["--rules", "ratchet-0.3.2"]);
    assert_eq!((reference["source"].as_str(), reference["decode_tok_s"].as_f64()), (Some("cross_class"), Some(351.62)));
    // the class fit is data: a tenfold per-layer decode cost in a copy of the class table
    let path = reg.join("tables/silicon_classes.ron");
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let edited = text.replacen("decode_layer_us: 34.6,", "decode_layer_us: 346.0,", 1);
    assert_ne!(text, edited, "the gddr_class fit changed: update this test");
    std::fs::write(&path, edited).unwrap_or_else(|e| panic!("{e}"));
    let slower = project(&reg, GPU, &[]);
    let (a, b) = (fitted["decode_tok_s"].as_f64().unwrap_or(0.0), slower["decode_tok_s"].as_f64().unwrap_or(0.0));
    assert!(b > 0.0 && b < a / 3.0, "{a} → {b}");
    // without a class the tier falls back to the engine defaults, as before
    let tier = reg.join("tiers/09-rtx-5090.ron");
    let text = std::fs::read_to_string(&tier).unwrap_or_default();
    std::fs::write(&tier, text.replace("silicon_class: \"gddr_class\",", "")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(project(&reg, GPU, &[])["source"], "cross_class");
}

#[test]
fn a_registry_tier_naming_an_unknown_class_is_refused_at_its_position() {
    let (_dir, reg) = temp_registry();
    let tier = reg.join("tiers/09-rtx-5090.ron");
    let text = std::fs::read_to_string(&tier).unwrap_or_default();
    let edited = text.replace("silicon_class: \"gddr_class\",", "silicon_class: \"gddr_clas\",");
    assert_ne!(text, edited);
    std::fs::write(&tier, &edited).unwrap_or_else(|e| panic!("{e}"));
    let line = edited.lines().position(|l| l.contains("gddr_clas\"")).map_or(0, |i| i + 1);
    let (code, out, err) = run(&["validate", "--registry", &reg.to_string_lossy()]);
    let all = format!("{out}{err}");
    assert_ne!(code, 0, "{all}");
    assert!(all.contains(&format!("tiers/09-rtx-5090.ron:{line}:")), "{all}");
    assert!(all.contains("unknown silicon class `gddr_clas`") && all.contains("did you mean `gddr_class`?"), "{all}");
}

#[test]
fn a_tier_set_to_another_runtime_takes_that_runtimes_fit_and_says_so() {
    let e = engine();
    let form = serde_json::json!({"base": "RTX 5090 (reference, measured)", "set": {"runtime": "llamacpp-vulkan"}});
    let t = e.tier_from_json(&form).unwrap_or_else(|err| panic!("{err}")).into_owned();
    let fit = t.spec.llm_calibration.unwrap_or_else(|| panic!("no fit"));
    assert!(
        fit.source
            .reference
            .contains("class `gddr_class` fitted under `llamacpp-cuda`, applied to runtime `llamacpp-vulkan`"),
        "{}",
        fit.source.reference
    );
    assert_eq!(fit.source.confidence, "low");
    // the tier's own runtime keeps the class fit as it is
    let same = serde_json::json!({"base": "RTX 5090 (reference, measured)", "set": {"tdp_watts": 600.0}});
    let t = e.tier_from_json(&same).unwrap_or_else(|err| panic!("{err}")).into_owned();
    assert_eq!(t.spec.llm_calibration.map(|f| f.source.confidence), Some("medium".to_string()));
}

/// `project --runtime`, a `project_llm` line's `runtime` and `POST /v1/project`'s: the same
/// tier form, the same numbers and label on every surface.
#[test]
fn a_request_names_its_runtime_on_every_surface() {
    const GPU: &str = "RTX 5090 (reference, measured)";
    let cli = |runtime: Option<&str>| {
        let mut a = vec!["project", "--model", "qwen25_7b_dense", "--tier", GPU, "--format", "json"];
        if let Some(r) = runtime {
            a.extend_from_slice(&["--runtime", r]);
        }
        let (code, out, err) = run(&a);
        assert_eq!(code, 0, "{err}");
        serde_json::from_str::<Value>(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
    };
    let own = cli(None);
    let vulkan = cli(Some("llamacpp-vulkan"));
    // gddr_class holds no Vulkan fit: its CUDA fit, applied and labelled so, with a wider band
    assert_eq!(own["band_basis"], "fit_held_out_device", "{own}");
    assert!(vulkan["band_decode_p10"].as_f64() < own["band_decode_p10"].as_f64(), "{own}\n{vulkan}");
    let label = |v: &Value| v["calibration_source"]["reference"].as_str().unwrap_or("").to_string();
    assert!(label(&vulkan).contains("applied to runtime `llamacpp-vulkan`"), "{vulkan}");
    assert_eq!(vulkan["band_basis"], "fit_widened", "{vulkan}");

    // the same request as a batch line and over HTTP
    let line =
        serde_json::json!({"op": "project_llm", "model": "qwen25_7b_dense", "hw": GPU, "runtime": "llamacpp-vulkan"});
    let (code, out, err) = common::run_stdin(&["batch"], &format!("{line}\n"));
    assert_eq!(code, 0, "{err}");
    let b: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    let srv = common::http::Server::start(&["--no-watch"]);
    let h = common::http::post(&srv.addr, "/v1/project", &line.to_string()).json();
    for (surface, v) in [("batch", &b), ("http", &h)] {
        for k in ["decode_tok_s", "prefill_tok_s", "ttft_s", "band_basis", "band_decode_p10"] {
            assert_eq!(v[k], vulkan[k], "{surface} `{k}`: {v}");
        }
        assert_eq!(label(v), label(&vulkan), "{surface}");
    }

    // an unknown runtime: the same error, with the nearest name, everywhere
    let (code, _, err) = run(&["project", "--model", "qwen25_7b_dense", "--tier", GPU, "--runtime", "llamacpp-vulcan"]);
    assert_ne!(code, 0);
    assert!(err.contains("unknown runtime `llamacpp-vulcan`") && err.contains("llamacpp-vulkan"), "{err}");
    // a tier whose fit is not its class's: a runtime would change nothing, so it is refused
    let (code, _, err) = run(&["project", "--model", "qwen25_7b_dense", "--tier", "NPU Mid", "--runtime", "rkllm"]);
    assert_ne!(code, 0);
    assert!(err.contains("tier `NPU Mid` names no silicon class, so runtime `rkllm` would change nothing"), "{err}");
    let bad =
        serde_json::json!({"op": "project_llm", "model": "qwen25_7b_dense", "hw": GPU, "runtime": "llamacpp-vulcan"});
    let h = common::http::post(&srv.addr, "/v1/project", &bad.to_string());
    assert!(h.json().to_string().contains("did you mean `llamacpp-vulkan`?"), "{}", h.json());
}

#[test]
fn a_fits_prefill_peak_and_a_tiers_published_peak_are_data() {
    let (_dir, reg) = temp_registry();
    const GPU: &str = "RTX 5090 (reference, measured)";
    let prefill = |reg: &std::path::Path, rules: &str| {
        let v = project(reg, GPU, &["--rules", rules]);
        v["prefill_tok_s"].as_f64().unwrap_or_else(|| panic!("{v}"))
    };
    let (fitted, reference) = (prefill(&reg, "default"), prefill(&reg, "ratchet-0.3.2"));
    // the class fit's share is of the INT8 peak the vendor publishes (838), not the
    // reference's field (419): without the published peak the fit reads the field, half
    let tier = reg.join("tiers/09-rtx-5090.ron");
    let text = std::fs::read_to_string(&tier).unwrap_or_default();
    let start = text.find("    published_peaks: {").unwrap_or_else(|| panic!("no published_peaks"));
    let end = text[start..].find("\n    },\n").map(|e| start + e + 7).unwrap_or_else(|| panic!("unterminated"));
    std::fs::write(&tier, format!("{}{}", &text[..start], &text[end..])).unwrap_or_else(|e| panic!("{e}"));
    let unpublished = prefill(&reg, "default");
    assert!(unpublished < fitted * 0.8, "{fitted} → {unpublished}");
    assert_eq!(prefill(&reg, "ratchet-0.3.2"), reference, "the reference reads the field either way");
    // the fit names the peak its share is of: the same share of the BF16 peak is a quarter
    let path = reg.join("tables/silicon_classes.ron");
    let classes = std::fs::read_to_string(&path).unwrap_or_default();
    let edited = classes.replacen(r#"prefill_peak: "int8","#, r#"prefill_peak: "bf16","#, 1);
    assert_ne!(classes, edited, "the gddr_class fit lost its prefill_peak: update this test");
    std::fs::write(&path, edited).unwrap_or_else(|e| panic!("{e}"));
    let bf16 = prefill(&reg, "default");
    assert!(bf16 < unpublished * 0.9, "{unpublished} → {bf16}");
}

#[test]
fn peaks_that_name_no_dtype_or_no_source_are_refused_at_their_position() {
    let swap = |from: &'static str, to: &'static str| move |t: &str| t.replacen(from, to, 1);
    let blank_source = |t: &str| {
        let key = "(value: 838.0, source: \"";
        let Some(at) = t.find(key).map(|i| i + key.len()) else { return t.to_string() };
        let end = t[at..].find('"').map_or(at, |e| at + e);
        format!("{} {}", &t[..at], &t[end..])
    };
    type Case<'a> = (&'a str, Box<dyn Fn(&str) -> String>, &'a str);
    let cases: Vec<Case<'_>> = vec![
        (
            "tables/silicon_classes.ron",
            Box::new(swap(r#"prefill_peak: "int8","#, r#"prefill_peak: "int9","#)),
            "`prefill_peak` `int9` is not a dtype with a peak",
        ),
        (
            "tables/runtimes.ron",
            Box::new(swap(r#"prefill_peak_dtype: "int8""#, r#"prefill_peak_dtype: "in8""#)),
            "`prefill_peak_dtype` `in8` is not a dtype with a peak",
        ),
        (
            "tiers/09-rtx-5090.ron",
            Box::new(swap("(value: 838.0,", "(value: 0.0,")),
            "`peak_tops_int8` is `0.0`; it must be > 0",
        ),
        ("tiers/09-rtx-5090.ron", Box::new(blank_source), "the published `peak_tops_int8` names no source"),
    ];
    for (file, edit, want) in &cases {
        let (_dir, reg) = temp_registry();
        let path = reg.join(file);
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let edited = edit(&text);
        assert_ne!(text, edited, "{file}: the edit found nothing to change");
        std::fs::write(&path, &edited).unwrap_or_else(|e| panic!("{e}"));
        let (code, out, err) = run(&["validate", "--registry", &reg.to_string_lossy()]);
        let all = format!("{out}{err}");
        assert_ne!(code, 0, "{file}: {all}");
        assert!(all.contains(&format!("{file}:")), "{file}: {all}");
        assert!(all.contains(want), "{file}: want `{want}` in {all}");
        if want.contains("int9") {
            assert!(all.contains("did you mean `int8`?"), "{all}");
        }
    }
}

#[test]
fn a_class_fit_over_mixed_runtimes_says_its_prefill_peak_is_the_floors() {
    let (code, out, err) = run(&["calibrate", "public-llamacpp", "--class", "gddr_class", "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert!(v["calibration"].get("prefill_peak").is_none(), "{}", v["calibration"]);
    let notes = v["notes"].to_string();
    assert!(notes.contains("scale prefill with different peaks") && notes.contains("llamacpp-cuda (int8)"), "{notes}");
    let (code, out, err) = run(&[
        "calibrate",
        "public-llamacpp",
        "--class",
        "gddr_class",
        "--runtime",
        "llamacpp-cuda",
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(v["calibration"]["prefill_peak"], "int8", "{}", v["calibration"]);
}

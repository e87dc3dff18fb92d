//! The uncertainty band of every projected number (ADR 0030): fits state the 10th and 90th
//! percentiles of their held-out errors (`ratchet calibrate`), `rules/uncertainty.ron` turns
//! them into band factors on every cascade path, every surface shows them, `plan --confidence
//! p10` judges targets at the band's pessimistic end and `ratchet accuracy` reports how many
//! measurements the stated bands hold. Edited copies of the data change the band with no
//! rebuild.

mod common;

use common::{root, run, temp_registry};
use serde_json::Value;

const RTX: &str = "RTX 5090 (reference, measured)";

fn json(args: &[&str]) -> Value {
    let (code, out, err) = run(args);
    assert_eq!(code, 0, "{args:?}: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

fn project(extra: &[&str]) -> Value {
    let mut a = vec!["project", "--model", "qwen25_7b_dense", "--format", "json"];
    a.extend_from_slice(extra);
    json(&a)
}

fn num(v: &Value, k: &str) -> f64 {
    v[k].as_f64().unwrap_or_else(|| panic!("no number `{k}` in {v}"))
}

/// The factors the rules must derive from a fit's held-out errors: a rate's true value is
/// r / (1 + e), so its 10th percentile divides by the 90th-percentile error.
fn factors(e10: f64, e90: f64) -> (f64, f64) {
    let r4 = |x: f64| (x * 1e4).round() / 1e4;
    (r4(1.0 / (1.0 + e90)), r4(1.0 / (1.0 + e10)))
}

#[test]
fn a_fitted_tier_carries_its_class_fits_band() {
    let v = project(&["--tier", RTX]);
    assert_eq!(v["band_basis"], "fit_held_out_device", "{v}");
    // gddr_class's error band in registry/tables/silicon_classes.ron
    assert_eq!((num(&v, "band_decode_p10"), num(&v, "band_decode_p90")), factors(-0.0827, 0.1402));
    assert_eq!((num(&v, "band_prefill_p10"), num(&v, "band_prefill_p90")), factors(-0.1752, 0.4122));
    // TTFT: the prompt's share of it scales by (1 + e)
    let (t10, t90) = (num(&v, "band_ttft_p10"), num(&v, "band_ttft_p90"));
    assert!(t10 < 1.0 && t90 > 1.0 && t10 >= 1.0 - 0.1752 - 1e-4 && t90 <= 1.0 + 0.4122 + 1e-4, "{v}");
}

#[test]
fn the_reference_rule_set_states_no_band() {
    let v = project(&["--tier", RTX, "--rules", "ratchet-0.3.2"]);
    for k in ["band_decode_p10", "band_basis"] {
        assert!(v.get(k).is_none(), "{k} in {v}");
    }
    let (code, out, err) = run(&["project", "--model", "qwen25_7b_dense", "--tier", RTX, "--rules", "ratchet-0.3.2"]);
    assert_eq!(code, 0, "{err}");
    assert!(!out.contains("80 % band"), "{out}");
}

#[test]
fn a_measured_number_has_no_band_and_an_uncalibrated_one_the_engine_defaults() {
    // NPU Mid has a measured cell for the reference MoE model
    let m = json(&["project", "--model", "qwen3_30b_a3b_moe", "--tier", "NPU Mid", "--format", "json"]);
    assert_eq!(m["source"], "measured_anchor", "{m}");
    assert_eq!(
        (m["band_basis"].as_str(), num(&m, "band_decode_p10"), num(&m, "band_decode_p90")),
        (Some("measured"), 1.0, 1.0)
    );
    let (code, out, _) = run(&["project", "--model", "qwen3_30b_a3b_moe", "--tier", "NPU Mid"]);
    assert_eq!(code, 0);
    assert!(!out.contains("80 % band"), "a measurement shows no band: {out}");

    let d = project(&["--tier", "NPU Low-LP4"]);
    assert_eq!(d["band_basis"], "engine_defaults", "{d}");
    // rules/uncertainty.ron: the reference constants under-project every measured prompt
    assert!(num(&d, "band_prefill_p10") > 1.0, "{d}");
    let (code, out, _) = run(&["project", "--model", "qwen25_7b_dense", "--tier", "NPU Low-LP4"]);
    assert_eq!(code, 0);
    assert!(out.contains("80 % band"), "{out}");
}

#[test]
fn a_class_fit_under_another_runtime_or_from_one_device_takes_a_widened_band() {
    let custom = |runtime: &str| {
        format!(
            r#"{{"custom": {{"name": "G", "silicon_class": "gddr_class", "peak_tops_int8": 800, "peak_tops_bf16": 200,
                "mem_bandwidth_gbs": 1000, "mem_capacity_gb": 32, "mem_bus_width_bits": 256, "mem_type": "GDDR7",
                "mem_data_rate_gtps": 31.25, "runtime": "{runtime}"}}}}"#
        )
    };
    let own = project(&["--tier", &custom("llamacpp-cuda")]);
    assert_eq!(own["band_basis"], "fit_held_out_device", "{own}");
    let other = project(&["--tier", &custom("llamacpp-vulkan")]);
    assert_eq!(other["band_basis"], "fit_widened", "{other}");
    // the span of the fit's band and the engine defaults': wider on both ends here
    assert!(num(&other, "band_decode_p10") < num(&own, "band_decode_p10"), "{own}\n{other}");
    assert!(num(&other, "band_decode_p90") > num(&own, "band_decode_p90"), "{own}\n{other}");
    // lp5x_64 was fitted on one device: its band does not carry to another
    let npu = project(&["--tier", "NPU Low-LP5X"]);
    assert_eq!(npu["band_basis"], "fit_widened", "{npu}");
}

#[test]
fn a_fit_of_dense_models_applied_to_an_moe_model_takes_a_widened_band() {
    let tier = r#"{"custom": {"name": "G", "silicon_class": "gddr_class", "peak_tops_int8": 800, "peak_tops_bf16": 200,
        "mem_bandwidth_gbs": 1000, "mem_capacity_gb": 32, "mem_bus_width_bits": 256, "mem_type": "GDDR7",
        "mem_data_rate_gtps": 31.25, "runtime": "llamacpp-cuda"}}"#;
    let on = |model: &str, extra: &[&str]| {
        let mut a = vec!["project", "--model", model, "--tier", tier, "--format", "json"];
        a.extend_from_slice(extra);
        json(&a)
    };
    let dense = on("qwen25_7b_dense", &[]);
    assert_eq!(dense["band_basis"], "fit_held_out_device", "{dense}");
    // gddr_class's fit holds no MoE point: an MoE model spans the MoE models' band
    // (rules/uncertainty.ron: decode -0.1021..+0.5121, prefill -0.422..+1.7196)
    let moe = on("qwen3_30b_a3b_moe", &[]);
    assert_eq!(moe["band_basis"], "fit_widened", "{moe}");
    assert_eq!((num(&moe, "band_decode_p10"), num(&moe, "band_decode_p90")), factors(-0.1021, 0.5121), "{moe}");
    assert_eq!((num(&moe, "band_prefill_p10"), num(&moe, "band_prefill_p90")), factors(-0.422, 1.7196), "{moe}");

    // a copy of the class table whose fit states MoE points among its held-out ones: its own
    // band carries, with no rebuild
    let (_dir, reg) = temp_registry();
    let path = reg.join("tables/silicon_classes.ron");
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let edited = text.replace("held_out: \"device\", points: 32)", "held_out: \"device\", points: 32, moe_points: 6)");
    assert_ne!(text, edited, "gddr_class's band moved: update this test");
    std::fs::write(&path, edited).unwrap_or_else(|e| panic!("{e}"));
    let r = reg.to_string_lossy();
    let fitted = on("qwen3_30b_a3b_moe", &["--registry", &r]);
    assert_eq!(fitted["band_basis"], "fit_held_out_device", "{fitted}");
    assert_eq!((num(&fitted, "band_decode_p10"), num(&fitted, "band_decode_p90")), factors(-0.0827, 0.1402));
}

#[test]
fn calibrate_counts_the_moe_points_its_band_holds() {
    let args = |sets: &[&'static str]| {
        let mut a = vec!["calibrate"];
        a.extend_from_slice(sets);
        a.extend_from_slice(&["--class", "gddr_class", "--runtime", "llamacpp-cuda"]);
        a
    };
    let (code, dense, err) = run(&args(&["public-llamacpp"]));
    assert_eq!(code, 0, "{err}");
    assert!(dense.contains("error_band") && !dense.contains("moe_points"), "{dense}");
    let (code, mixed, err) = run(&args(&["public-llamacpp", "public-llamacpp-moe"]));
    assert_eq!(code, 0, "{err}");
    let n: u32 = mixed
        .lines()
        .find_map(|l| l.trim().strip_prefix("moe_points: "))
        .and_then(|v| v.trim_end_matches(',').parse().ok())
        .unwrap_or_else(|| panic!("no moe_points in {mixed}"));
    assert!(n > 0, "{mixed}");
}

#[test]
fn editing_a_copy_of_the_data_moves_the_band_with_no_rebuild() {
    // a fit's error band (registry)
    let (_dir, reg) = temp_registry();
    let path = reg.join("tables/silicon_classes.ron");
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let edited = text.replace("decode_p10: -0.0827, decode_p90: 0.1402", "decode_p10: -0.2, decode_p90: 0.25");
    assert_ne!(text, edited, "gddr_class's band moved: update this test");
    std::fs::write(&path, edited).unwrap_or_else(|e| panic!("{e}"));
    let v = project(&["--tier", RTX, "--registry", &reg.to_string_lossy()]);
    assert_eq!((num(&v, "band_decode_p10"), num(&v, "band_decode_p90")), factors(-0.2, 0.25));

    // the engine defaults' band (rules)
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let src = std::fs::read_to_string(root().join("rules/uncertainty.ron")).unwrap_or_default();
    let edited = src.replace(r#""defaults_decode_err_p90": 0.7563,"#, r#""defaults_decode_err_p90": 1.0,"#);
    assert_ne!(src, edited, "the defaults' band moved: update this test");
    std::fs::write(dir.path().join("uncertainty.ron"), edited).unwrap_or_else(|e| panic!("{e}"));
    let d = project(&["--tier", "NPU Low-LP4", "--rules", &dir.path().to_string_lossy()]);
    assert_eq!(num(&d, "band_decode_p10"), 0.5, "{d}");
}

#[test]
fn path_names_are_read_only_inside_a_path() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let src = std::fs::read_to_string(root().join("rules/uncertainty.ron")).unwrap_or_default();
    let edited = src.replace(r#"path.source == "measured_anchor""#, r#"path.sorce == "measured_anchor""#);
    assert_ne!(src, edited);
    std::fs::write(dir.path().join("uncertainty.ron"), edited).unwrap_or_else(|e| panic!("{e}"));
    let (code, out, err) = run(&["validate", "--rules", &dir.path().to_string_lossy()]);
    assert_ne!(code, 0);
    let err = out + &err;
    assert!(
        err.contains("uncertainty.ron:") && err.contains("path.sorce") && err.contains("did you mean `path.source`?"),
        "{err}"
    );
}

#[test]
fn tables_and_csv_show_the_band() {
    let (code, out, err) = run(&["ladder", "--model", "qwen25_7b_dense"]);
    assert_eq!(code, 0, "{err}");
    let line = out.lines().find(|l| l.starts_with("RTX 5090")).unwrap_or_default();
    // `value (p10–p90)`, three significant digits on the band's ends
    assert!(line.contains("249.16 (") && line.contains('–'), "{line}");

    let (code, out, err) = run(&["ladder", "--model", "qwen25_7b_dense", "--format", "csv"]);
    assert_eq!(code, 0, "{err}");
    let mut lines = out.lines();
    let head: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
    // the tier's name holds a comma, so it is quoted: the other fields follow it
    let line = lines.find(|l| l.starts_with("\"RTX 5090")).unwrap_or_default();
    let rest = line.split_once("\",").map_or("", |(_, r)| r);
    let row: Vec<&str> = std::iter::once("tier").chain(rest.split(',')).collect();
    let col = |n: &str| head.iter().position(|h| *h == n).and_then(|i| row.get(i)).and_then(|c| c.parse::<f64>().ok());
    let (lo, v, hi) = (col("decode_tok_s_p10"), col("decode_tok_s"), col("decode_tok_s_p90"));
    assert!(matches!((lo, v, hi), (Some(a), Some(b), Some(c)) if a < b && b < c), "{head:?}\n{row:?}");
}

fn plan(confidence: &str) -> Value {
    // exit status 1 when no candidate meets the targets, with the answer all the same
    let (_, out, err) = run(&[
        "plan",
        "--model",
        "qwen25_7b_dense",
        "--min-decode",
        "230",
        "--prompt-tokens",
        "4096",
        "--confidence",
        confidence,
        "--format",
        "json",
    ]);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}{err}"))
}

#[test]
fn plan_can_judge_targets_at_the_bands_pessimistic_end() {
    // the 5090 projects ~240 tok/s here: it meets 230 tok/s, but not at its 10th percentile
    let central = plan("central");
    assert_eq!(central["answer"]["tier"], RTX, "{}", central["answer"]);
    let p10 = plan("p10");
    assert!(p10["answer"].is_null(), "{}", p10["answer"]);
    let rtx =
        p10["candidates"].as_array().and_then(|c| c.iter().find(|c| c["tier"] == RTX)).cloned().unwrap_or_default();
    let msg = rtx["failures"][0]["message"].as_str().unwrap_or_default();
    assert!(msg.starts_with("decode (10th percentile)"), "{rtx}");
    assert_eq!(p10["targets"]["confidence"], "p10", "{}", p10["targets"]);

    // a batch line names it too, and a wrong name is refused with a suggestion
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let input = dir.path().join("in.jsonl");
    std::fs::write(
        &input,
        r#"{"op": "plan", "question": "cheapest_tier", "model": "qwen25_7b_dense", "min_decode_tok_s": 10, "confidence": "p1"}"#,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let (_, out, _) = run(&["batch", &input.to_string_lossy()]);
    assert!(out.contains("did you mean `p10`?"), "{out}");
}

#[test]
fn calibrate_states_the_fits_band_from_held_out_devices() {
    let v = json(&[
        "calibrate",
        "public-llamacpp",
        "--class",
        "gddr_class",
        "--runtime",
        "llamacpp-cuda",
        "--format",
        "json",
    ]);
    let b = &v["calibration"]["error_band"];
    assert_eq!(b["held_out"], "device", "{b}");
    assert!(num(b, "decode_p10") < 0.0 && num(b, "decode_p90") > 0.0, "{b}");
    // the shipped class fit is this fit's band (silicon_classes.ron)
    assert_eq!((num(b, "decode_p10"), num(b, "decode_p90")), (-0.0827, 0.1402), "{b}");
    assert!(v["leave_one_device_out"]["decode"]["n"].as_u64().is_some_and(|n| n > 10), "{v}");
    // one device: each point held out; the H200 set is too small for a band, and says so
    let h = json(&["calibrate", "h200", "--device", "nvidia_h200", "--format", "json"]);
    assert!(h["calibration"].get("error_band").is_none(), "{h}");
    assert!(
        h["notes"]
            .as_array()
            .is_some_and(|n| n.iter().any(|n| n.as_str().is_some_and(|s| s.starts_with("no error band")))),
        "{h}"
    );
}

#[test]
fn accuracy_reports_how_many_measurements_the_stated_bands_hold() {
    let v = json(&["accuracy", "public-llamacpp", "--loo-class", "--format", "json"]);
    for m in ["decode", "prefill"] {
        let c = &v["summary"][m]["coverage"];
        let (points, inside) = (c["points"].as_u64().unwrap_or(0), c["inside"].as_u64().unwrap_or(0));
        assert!(points > 50 && inside <= points, "{m}: {c}");
        let s = &v["summary"][m];
        assert!(num(s, "error_p10_pct") < num(s, "error_p90_pct"), "{s}");
    }
    // the reference rule set states no band: no coverage
    let r = json(&["accuracy", "public-llamacpp", "--rules", "ratchet-0.3.2", "--format", "json"]);
    assert!(r["summary"]["decode"].get("coverage").is_none(), "{}", r["summary"]["decode"]);
}

#[test]
fn quantiles_interpolate_between_ranks() {
    use ratchet::calibration::quantile;
    let cases: &[(&[f64], f64, f64)] = &[
        (&[1.0, 2.0, 3.0, 4.0, 5.0], 0.1, 1.4),
        (&[1.0, 2.0, 3.0, 4.0, 5.0], 0.9, 4.6),
        (&[1.0, 2.0, 3.0, 4.0, 5.0], 0.5, 3.0),
        (&[7.0], 0.1, 7.0),
        (&[-1.0, 1.0], 0.0, -1.0),
        (&[-1.0, 1.0], 1.0, 1.0),
    ];
    for (v, q, want) in cases {
        assert!((quantile(v, *q) - want).abs() < 1e-12, "{v:?} q={q}: {}", quantile(v, *q));
    }
    assert!(quantile(&[], 0.5).is_nan());
}

#[test]
fn validate_refuses_a_band_no_fit_can_have() {
    let cases: &[(&str, &str, &str)] = &[
        ("held_out: \"device\", points: 32", "held_out: \"devce\", points: 32", "did you mean `device`?"),
        (
            "decode_p10: -0.0827, decode_p90: 0.1402",
            "decode_p10: 0.2, decode_p90: 0.1402",
            "`decode_p10` `0.2` is above `decode_p90`",
        ),
        ("prefill_p10: -0.1752", "prefill_p10: -1.5", "must be a finite number above -1"),
        (
            "held_out: \"device\", points: 32)",
            "held_out: \"device\", points: 32, moe_points: 40)",
            "`moe_points` `40` is more than the band's `points` `32`",
        ),
        (
            "error_band: (decode_p10: -0.0827",
            "band_caveat: \"mine\", error_band: (decode_p10: -0.0827",
            "`band_caveat` is set by the engine",
        ),
    ];
    for (from, to, want) in cases {
        let (_dir, reg) = temp_registry();
        let path = reg.join("tables/silicon_classes.ron");
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let edited = text.replacen(from, to, 1);
        assert_ne!(text, edited, "`{from}` moved: update this test");
        std::fs::write(&path, edited).unwrap_or_else(|e| panic!("{e}"));
        let (code, out, err) = run(&["validate", "--registry", &reg.to_string_lossy()]);
        let all = out + &err;
        assert_ne!(code, 0, "{to}: {all}");
        assert!(all.contains("silicon_classes.ron:") && all.contains(want), "{to}: {all}");
    }
}

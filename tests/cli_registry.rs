//! The built binary over the registry: listing, showing, validating and schema checks,
//! including a tier added to a copy of the registry with no rebuild.

mod common;

use common::{run, temp_registry};

const NEW_TIER: &str = r#"#![enable(implicit_some)]
// An architect's what-if tier: a 64-bit LPDDR5X NPU with FP8.
Tier(
    schema_version: 1,
    name: "My NPU 64b",
    peak_tops_bf16: 20.0,
    peak_tops_int8: 40.0,
    peak_tops_fp8: 40.0,
    mem_bandwidth_gbs: 76.8,
    mem_capacity_gb: 12.0,
    mem_bus_width_bits: 64,
    mem_type: "LPDDR5X",
    mem_data_rate_gtps: 9.6,
    tier_family: "LP5X-9.6-64b",
    capability_table: "NPU_FULL_DTYPE_CAPABILITY",
    calibration_source: (method: "vendor_spec", reference: "datasheet rev B", confidence: "medium"),
)
"#;

#[test]
fn a_new_tier_file_is_listed_and_shown_without_rebuild() {
    let (_tmp, reg) = temp_registry();
    std::fs::write(reg.join("tiers/10-my-npu.ron"), NEW_TIER).unwrap_or_else(|e| panic!("{e}"));
    let r = reg.to_string_lossy().to_string();

    let (code, out, err) = run(&["validate", "--registry", &r, "--deny-warnings"]);
    assert_eq!(code, 0, "{out}{err}");

    let (code, out, _) = run(&["tiers", "--registry", &r]);
    assert_eq!(code, 0);
    let last_tier_line = out.lines().filter(|l| l.starts_with("My NPU 64b")).count();
    assert_eq!(last_tier_line, 1, "{out}");
    assert!(out.contains("10 tiers"), "{out}");

    let (code, out, _) = run(&["show", "tier", "My NPU 64b", "--registry", &r, "--format", "json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(v["mem_bandwidth_gbs"], 76.8);
    assert_eq!(v["capability_levels"]["fp8"]["level"], "tensor_native");
    // defaults are filled in
    assert_eq!(v["bandwidth_efficiency"], 0.7);

    // the embedded registry is untouched
    let (_, out, _) = run(&["tiers"]);
    assert!(!out.contains("My NPU 64b"));
}

#[test]
fn omitted_tier_constants_come_from_the_registry_tier_defaults() {
    let (_tmp, reg) = temp_registry();
    std::fs::write(reg.join("tiers/10-my-npu.ron"), NEW_TIER).unwrap_or_else(|e| panic!("{e}"));
    let r = reg.to_string_lossy().to_string();
    let prefill = |r: &str, tier: &str| -> f64 {
        let (code, out, err) = run(&[
            "project",
            "--registry",
            r,
            "--rules",
            "ratchet-0.3.2",
            "--model",
            "qwen25_7b_dense",
            "--tier",
            tier,
            "--format",
            "json",
        ]);
        assert_eq!(code, 0, "{out}{err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
        v["prefill_tok_s"].as_f64().unwrap_or_else(|| panic!("{out}"))
    };
    let inline = r#"{"name":"inline","peak_tops_bf16":20,"peak_tops_int8":40,"peak_tops_fp8":40,"mem_bandwidth_gbs":76.8,"mem_capacity_gb":12,"mem_bus_width_bits":64,"mem_type":"LPDDR5X","mem_data_rate_gtps":9.6}"#;
    let (file_before, inline_before) = (prefill(&r, "My NPU 64b"), prefill(&r, inline));

    // double the prefill utilisation default in the data: both tiers omit it
    let table = reg.join("tables/silicon_classes.ron");
    let text = std::fs::read_to_string(&table).unwrap_or_else(|e| panic!("{e}"));
    let edited = text.replace(
        "llm_prefill_util_factor: 0.10, llm_decode_bw_realization",
        "llm_prefill_util_factor: 0.20, llm_decode_bw_realization",
    );
    assert_ne!(edited, text, "the tier_defaults line moved");
    std::fs::write(&table, edited).unwrap_or_else(|e| panic!("{e}"));
    let (code, out, _) = run(&["show", "tier", "My NPU 64b", "--registry", &r, "--format", "json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(v["llm_prefill_util_factor"], 0.2);
    let (file_after, inline_after) = (prefill(&r, "My NPU 64b"), prefill(&r, inline));
    assert!(file_after > file_before * 1.5, "{file_before} -> {file_after}");
    assert!(inline_after > inline_before * 1.5, "{inline_before} -> {inline_after}");

    // a default outside its range is caught where it is written
    let text = std::fs::read_to_string(&table).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(&table, text.replace("npu_share_default: 0.75),", "npu_share_default: 1.75),"))
        .unwrap_or_else(|e| panic!("{e}"));
    let (code, out, _) = run(&["validate", "--registry", &r]);
    assert_eq!(code, 1, "{out}");
    let line = text.lines().position(|l| l.trim_start().starts_with("tier_defaults:")).map_or(0, |i| i + 1);
    assert!(
        out.contains(&format!("silicon_classes.ron:{line}:")) && out.contains("`npu_share_default` is `1.75`"),
        "{out}"
    );
}

#[test]
fn calibration_labels_are_registry_data() {
    let (_tmp, reg) = temp_registry();
    let tier = NEW_TIER.replace("method: \"vendor_spec\"", "method: \"simulated\"");
    std::fs::write(reg.join("tiers/10-my-npu.ron"), tier).unwrap_or_else(|e| panic!("{e}"));
    let r = reg.to_string_lossy().to_string();
    let (code, out, _) = run(&["validate", "--registry", &r, "--deny-warnings"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("unknown calibration method `simulated`"), "{out}");
    // the architect adds the method to the vocabulary: no rebuild
    let table = reg.join("tables/badges.ron");
    let text = std::fs::read_to_string(&table).unwrap_or_else(|e| panic!("{e}"));
    let edited = text.replace("calibration_methods: [", "calibration_methods: [\"simulated\", ");
    assert_ne!(edited, text);
    std::fs::write(&table, edited).unwrap_or_else(|e| panic!("{e}"));
    let (code, out, err) = run(&["validate", "--registry", &r, "--deny-warnings"]);
    assert_eq!(code, 0, "{out}{err}");
}

#[test]
fn validate_exit_codes_and_formats() {
    let (code, out, _) = run(&["validate"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("valid (0 errors, 0 warnings)"));

    let (_tmp, reg) = temp_registry();
    let r = reg.to_string_lossy().to_string();
    let mid = reg.join("tiers/07-npu-mid.ron");
    let text = std::fs::read_to_string(&mid).unwrap_or_default();
    std::fs::write(&mid, text.replace("mem_type: \"LPDDR5X\"", "mem_type: \"LPDDR5Y\""))
        .unwrap_or_else(|e| panic!("{e}"));
    let (code, _, _) = run(&["validate", "--registry", &r]);
    assert_eq!(code, 0, "warnings only");
    let (code, out, _) = run(&["validate", "--registry", &r, "--deny-warnings", "--format", "github"]);
    assert_eq!(code, 1);
    assert!(out.starts_with("::warning file="), "{out}");
    assert!(out.contains("line=13,col=15"), "{out}");

    std::fs::write(&mid, text.replace("compute_efficiency: 0.65", "compute_efficiency: 1.65"))
        .unwrap_or_else(|e| panic!("{e}"));
    let (code, out, _) = run(&["validate", "--registry", &r, "--format", "json"]);
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(v["valid"], false);
    assert_eq!(v["errors"], 1);
    assert_eq!(v["diagnostics"][0]["code"], "range");
    assert_eq!(v["diagnostics"][0]["line"], 21);

    let (code, _, _) = run(&["validate", "--registry", "/nonexistent/registry"]);
    assert_eq!(code, 2, "I/O error");
    let (code, _, _) = run(&["validate", "--format", "yaml"]);
    assert_eq!(code, 2, "usage error");
}

#[test]
fn show_suggests_near_names() {
    let (code, _, err) = run(&["show", "tier", "NPU mid"]);
    assert_eq!(code, 2);
    assert!(err.contains("did you mean `NPU Mid`?"), "{err}");
    let (code, out, _) = run(&["show", "model", "qwen3_30b_a3b_moe", "--format", "json"]);
    assert_eq!(code, 0);
    assert!(out.contains("\"num_experts\": 128"));
}

#[test]
fn committed_schemas_are_current() {
    let dir = common::root().join("schemas");
    let (code, _, err) = run(&["schema", "--check", "--dir", &dir.to_string_lossy()]);
    assert_eq!(code, 0, "{err}");
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (code, _, _) = run(&["schema", "--check", "--dir", &tmp.path().to_string_lossy()]);
    assert_eq!(code, 1, "an empty directory is stale");
}

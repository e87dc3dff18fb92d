//! Private anchors through the built binary: they change the projection that uses them, and
//! their values never reach stderr, validation output, listings or error messages.

mod common;

use common::{run, run_in};

/// Distinctive values that must only ever appear inside a projection.
const ANCHORS: &str = r#"
[npu_llm_anchors.mid_int8.qwen3_30b_a3b_moe]
tokps = 41.123456
prefill_tokps = 2222.987654
source = "measured"
measured_date = "2026-11-01"
notes = "SECRET-NOTE-XYZ"

[npu_llm_anchors.mid_int8.qwen25_7b_dense]
tokps = 19.777777
source = "measured"
tokpz = 12.345678

[npu_llm_anchors.mid_int8.qwen25_32b_dense]
tokps = -3.141592
"#;

const SECRETS: &[&str] = &["41.12", "2222.98", "SECRET-NOTE", "19.77", "12.345", "3.1415"];

fn anchor_file(text: &str) -> (tempfile::TempDir, String) {
    let d = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let p = d.path().join("anchors.toml");
    std::fs::write(&p, text).unwrap_or_else(|e| panic!("{e}"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600));
    }
    let s = p.to_string_lossy().to_string();
    (d, s)
}

fn assert_no_secret(what: &str, text: &str) {
    for s in SECRETS {
        assert!(!text.contains(s), "{what} leaks `{s}`:\n{text}");
    }
}

#[test]
fn anchors_drive_the_projection_that_uses_them() {
    let (_d, f) = anchor_file(ANCHORS);
    let (code, out, err) =
        run(&["project", "--model", "qwen3_30b_a3b_moe", "--tier", "NPU Mid", "--anchors", &f, "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(v["source"], "measured_silicon_anchor");
    assert_eq!(v["decode_tok_s"], 41.12);
    assert_eq!(v["silicon_anchor_meta"]["spec_tier_precision"], "mid_int8");
    assert_no_secret("stderr of project", &err);
    // an anchored decode is a measurement: no projection band, where the projection it
    // replaced had one; prefill stays projected, with its band (ADR 0030)
    let (code, out, err) =
        run(&["project", "--model", "qwen25_7b_dense", "--tier", "NPU Mid", "--anchors", &f, "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let w: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(w["source"], "measured_silicon_anchor", "{w}");
    assert_eq!((w["band_decode_p10"].as_f64(), w["band_decode_p90"].as_f64()), (Some(1.0), Some(1.0)), "{w}");
    assert_ne!(w["band_prefill_p10"].as_f64(), Some(1.0), "{w}");

    // the same through RATCHET_ANCHORS
    let (code, out, _) = run_in(
        &["project", "--model", "qwen3_30b_a3b_moe", "--tier", "NPU Mid", "--format", "json"],
        None,
        &[("RATCHET_ANCHORS", f.as_str())],
    );
    assert_eq!(code, 0);
    assert!(out.contains("measured_silicon_anchor"), "{out}");

    // a memory clone scales the anchor by its bandwidth
    let (_, out, _) = run(&[
        "project",
        "--model",
        "qwen3_30b_a3b_moe",
        "--tier",
        "NPU Mid",
        "--memory",
        "LPDDR6@14",
        "--anchors",
        &f,
        "--format",
        "json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(v["decode_tok_s"], 68.54);
    assert_eq!(v["silicon_anchor_meta"]["bw_projected"], true);
}

#[test]
fn anchor_values_never_leak() {
    let (_d, f) = anchor_file(ANCHORS);
    for args in [
        vec!["validate", "--anchors", &f],
        vec!["validate", "--anchors", &f, "--format", "json"],
        vec!["validate", "--anchors", &f, "--format", "github"],
        vec!["tiers", "--anchors", &f],
        vec!["show", "tier", "NPU Mid", "--anchors", &f],
        vec!["ladder", "--model", "qwen25_32b_dense", "--anchors", &f],
        vec!["project", "--model", "nope", "--tier", "NPU Mid", "--anchors", &f],
    ] {
        let (_, out, err) = run(&args);
        assert_no_secret(&format!("stderr of {args:?}"), &err);
        if args[0] != "ladder" {
            assert_no_secret(&format!("stdout of {args:?}"), &out);
        }
    }
    // diagnostics name the key, not the value
    let (code, out, _) = run(&["validate", "--anchors", &f, "--format", "github"]);
    assert_eq!(code, 0, "warnings only: {out}");
    assert!(out.contains("`npu_llm_anchors.mid_int8.qwen25_7b_dense.tokpz` is ignored"), "{out}");
    assert!(out.contains("`npu_llm_anchors.mid_int8.qwen25_32b_dense.tokps` is not positive"), "{out}");

    // malformed files: errors that name the section and key, and still no values
    for (text, expect) in [
        (
            "[npu_llm_anchors.mid_int8.m]\ntokps = \"41.123456\"\n",
            "`npu_llm_anchors.mid_int8.m.tokps` must be a number",
        ),
        (
            "[npu_llm_anchors.mid_int8.m]\ntokps = 19.777777\nmem_gb = \"SECRET-NOTE\"\n",
            "`npu_llm_anchors.mid_int8.m.mem_gb` must be a number",
        ),
        (
            "[cnn_anchors.mid_int8.c]\nms_per_inference = [2222.987654]\n",
            "`cnn_anchors.mid_int8.c.ms_per_inference` must be a number",
        ),
        ("[npu_llm_anchors.mid_int8.m]\ntokps = 41.123456 SECRET-NOTE\n", "not valid TOML"),
    ] {
        let (_d2, g) = anchor_file(text);
        let (code, out, err) = run(&["validate", "--anchors", &g, "--format", "github"]);
        assert_eq!(code, 1, "{out}");
        assert!(out.contains(expect), "{out}");
        assert_no_secret("validation of a malformed file", &out);
        assert_no_secret("stderr", &err);
        let (code, _, err) = run(&["project", "--model", "qwen3_30b_a3b_moe", "--tier", "NPU Mid", "--anchors", &g]);
        assert_eq!(code, 1);
        assert!(err.contains(expect), "{err}");
        assert_no_secret("project with a malformed file", &err);
    }
}

#[cfg(unix)]
#[test]
fn a_world_readable_anchor_file_draws_a_warning() {
    use std::os::unix::fs::PermissionsExt;
    let (_d, f) = anchor_file(ANCHORS);
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap_or_else(|e| panic!("{e}"));
    let (_, out, _) = run(&["validate", "--anchors", &f, "--format", "github"]);
    assert!(out.contains("readable by every user"), "{out}");
    assert!(out.contains("chmod 600"), "{out}");
}

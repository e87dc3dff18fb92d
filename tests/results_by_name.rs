//! Results by name: a field declared in a copy of the rule set's `record` — data only, the
//! built binary unchanged — appears with its name in `ratchet batch`, `ratchet project`,
//! `ratchet ladder --format json|csv` and `POST /v1/project`.

mod common;

use common::http::{Server, post};
use serde_json::Value;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

/// A rules directory whose `default` is the shipped one with `tail` (RON fields of the rule
/// set) inserted after its `extends`.
fn default_rules_with(tail: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let shipped = std::fs::read_to_string(common::root().join("rules/default.ron")).unwrap_or_else(|e| panic!("{e}"));
    let extends = shipped.lines().find(|l| l.trim_start().starts_with("extends:")).unwrap_or("").to_string();
    let edited = shipped.replacen(&extends, &format!("{extends}{}", tail.trim_end_matches('\n')), 1);
    assert_ne!(edited, shipped, "rules/default.ron changed shape: update this test");
    std::fs::write(dir.path().join("default.ron"), edited).unwrap_or_else(|e| panic!("{e}"));
    dir
}

/// A rules directory whose `default` is the shipped one plus two declared fields: the KV
/// cache a decoded token reads (a formula of `silicon-cost`) and a string computed in the
/// shared outputs from it.
fn rules_with_new_fields() -> tempfile::TempDir {
    default_rules_with(
        r##"
    llm: (
        project: (
            outputs: {"kv_share": r#"if(kv_read_gb > active_params_gb, "kv-heavy", "weights-heavy")"#},
            rounding: {"kv_read_gb": 4},
            record: {
                "kv_read_gb": (type: "number", unit: "GB", doc: "KV cache a decoded token reads."),
                "kv_share": (type: "string", doc: "Whether the KV cache or the weights dominate decode reads."),
            },
        ),
    ),
"##,
    )
}

fn ratchet(args: &[&str], rules: Option<&Path>, stdin: Option<&str>) -> (bool, String, String) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ratchet"));
    c.args(args);
    if let Some(r) = rules {
        c.args(["--rules", r.to_str().unwrap_or("")]);
    }
    c.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = c.spawn().unwrap_or_else(|e| panic!("{e}"));
    if let (Some(text), Some(mut s)) = (stdin, child.stdin.take()) {
        s.write_all(text.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
    }
    drop(child.stdin.take());
    let o = child.wait_with_output().unwrap_or_else(|e| panic!("{e}"));
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn json(s: &str) -> Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("{e}: {s}"))
}

#[test]
fn a_field_declared_in_data_reaches_every_interface_by_name() {
    let dir = rules_with_new_fields();
    let rules = Some(dir.path());
    let line =
        r#"{"op":"project_llm","model":"qwen25_7b_dense","hw":"NPU Mid","prompt_tokens":4096,"decode_tokens":256}"#;

    // without the declaration the field is absent: the test can fail
    let (ok, out, err) = ratchet(&["batch"], None, Some(line));
    assert!(ok, "{err}");
    assert!(json(&out).get("kv_read_gb").is_none());

    // batch
    let (ok, out, err) = ratchet(&["batch"], rules, Some(line));
    assert!(ok, "{err}");
    let b = json(&out);
    let kv = b["kv_read_gb"].as_f64().unwrap_or_else(|| panic!("no kv_read_gb in {b}"));
    // 28 layers x 2 x 3584 x (4/28) x 2 bytes x (4096 + 128) tokens, rounded to 4 places
    let want = (28.0 * 2.0 * 3584.0 * (4.0 / 28.0) * 2.0 * (4096.0 + 128.0) / 1e9 * 1e4_f64).round() / 1e4;
    assert!((kv - want).abs() < 1e-9, "kv_read_gb {kv}, want {want}");
    assert_eq!(b["kv_share"], "weights-heavy");
    assert!(b["decode_tok_s"].as_f64().is_some_and(|x| x > 0.0));

    // project (JSON and table)
    let (ok, out, err) = ratchet(
        &[
            "project",
            "--model",
            "qwen25_7b_dense",
            "--tier",
            "NPU Mid",
            "--prompt-tokens",
            "4096",
            "--decode-tokens",
            "256",
            "--format",
            "json",
        ],
        rules,
        None,
    );
    assert!(ok, "{err}");
    assert_eq!(json(&out)["kv_read_gb"].as_f64(), Some(kv));
    let (ok, out, _) = ratchet(
        &[
            "project",
            "--model",
            "qwen25_7b_dense",
            "--tier",
            "NPU Mid",
            "--prompt-tokens",
            "4096",
            "--decode-tokens",
            "256",
        ],
        rules,
        None,
    );
    assert!(ok && out.contains("kv_read_gb") && out.contains("weights-heavy"), "{out}");

    // ladder JSON: every projected row carries it
    let (ok, out, err) = ratchet(&["ladder", "--model", "qwen25_7b_dense", "--format", "json"], rules, None);
    assert!(ok, "{err}");
    let l = json(&out);
    let rows = l["rows"].as_array().cloned().unwrap_or_default();
    let projected: Vec<&Value> = rows.iter().filter(|r| r["result"]["type"] == "Projected").collect();
    assert!(!projected.is_empty(), "{l}");
    assert!(projected.iter().all(|r| r["result"]["kv_read_gb"].is_number()), "{l}");

    // ladder CSV: a column named after the field, filled on projected rows
    let (ok, out, err) = ratchet(&["ladder", "--model", "qwen25_7b_dense", "--format", "csv"], rules, None);
    assert!(ok, "{err}");
    let mut lines = out.lines();
    let header: Vec<&str> = lines.next().unwrap_or("").split(',').collect();
    let (ki, si) = (
        header.iter().position(|h| *h == "kv_read_gb").unwrap_or_else(|| panic!("{header:?}")),
        header.iter().position(|h| *h == "kv_share").unwrap_or_else(|| panic!("{header:?}")),
    );
    let ti = header.iter().position(|h| *h == "type").unwrap_or(0);
    for l in lines {
        let cells: Vec<&str> = l.split(',').collect();
        if cells.get(ti) == Some(&"Projected") {
            assert!(cells[ki].parse::<f64>().is_ok_and(|x| x > 0.0), "{l}");
            assert!(cells[si].ends_with("-heavy"), "{l}");
        }
    }

    // through a copy of a pack (its ladder rungs, models and workloads): the same field,
    // in JSON and as a CSV column
    let packs = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let pack = packs.path().join("llm-sizer");
    common::copy_dir(&common::root().join("packs/llm-sizer"), &pack);
    let p = pack.to_str().unwrap_or("");
    let (ok, out, err) = ratchet(
        &["ladder", "--pack", p, "--model", "qwen25_7b_dense", "--workload", "chat", "--format", "json"],
        rules,
        None,
    );
    assert!(ok, "{err}");
    let l = json(&out);
    let rows = l["rows"].as_array().cloned().unwrap_or_default();
    assert_eq!(rows.len(), 7, "the pack's seven rungs: {l}");
    let projected: Vec<&Value> = rows.iter().filter(|r| r["result"]["type"] == "Projected").collect();
    assert!(!projected.is_empty() && projected.iter().all(|r| r["result"]["kv_read_gb"].is_number()), "{l}");
    let (ok, out, err) = ratchet(
        &["ladder", "--pack", p, "--model", "qwen25_7b_dense", "--workload", "chat", "--format", "csv"],
        rules,
        None,
    );
    assert!(ok, "{err}");
    assert!(out.lines().next().is_some_and(|h| h.split(',').any(|c| c == "kv_share")), "{out}");
    let (ok, out, err) = ratchet(
        &["batch", "--pack", p],
        rules,
        Some("{\"op\":\"project_llm\",\"model\":\"qwen25_7b_dense\",\"hw\":\"NPU Mid\",\"workload_id\":\"chat\"}\n"),
    );
    assert!(ok && json(out.trim())["kv_share"].is_string(), "{out}{err}");

    // HTTP
    let srv = Server::start(&["--no-watch", "--rules", dir.path().to_str().unwrap_or("")]);
    let r = post(
        &srv.addr,
        "/v1/project",
        r#"{"model":"qwen25_7b_dense","hw":"NPU Mid","prompt_tokens":4096,"decode_tokens":256}"#,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["kv_read_gb"].as_f64(), Some(kv));
    assert_eq!(r.json()["kv_share"], "weights-heavy");
}

#[test]
fn a_declared_field_nothing_computes_is_a_located_error() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let write = |name: &str, field: &str| {
        let text = format!(
            "RuleSet(\n  schema_version: 1,\n  name: \"{name}\",\n  extends: \"default\",\n  llm: (project: (record: {{\n    {field},\n  }})),\n)\n"
        );
        std::fs::write(dir.path().join(format!("{name}.ron")), text).unwrap_or_else(|e| panic!("{e}"));
    };
    write("typo", r#""kv_read_gbb": (type: "number", doc: "a typo of a formula name")"#);
    write("odd", r#""kv_read_gb": (type: "complex", doc: "no such type")"#);
    for (set, want) in [("typo", "did you mean `kv_read_gb`"), ("odd", "unknown field type `complex`")] {
        let (ok, out, err) = ratchet(&["validate", "--rules", set], Some(dir.path()), None);
        let all = format!("{out}{err}");
        assert!(!ok, "{all}");
        assert!(all.contains(&format!("{set}.ron:6:")), "{set}: {all}");
        assert!(all.contains(want), "{set}: {all}");
    }
}

/// A rules directory whose `default` declares one more record field, computed by the
/// projection and rewritten by the anchor overlay, which reads the projected value of it by
/// name (`result.<field>`).
fn rules_with_an_overlay_field() -> tempfile::TempDir {
    default_rules_with(
        r##"
    llm: (
        project: (
            outputs: {"decode_basis": r#""projected""#},
            record: {"decode_basis": (type: "string", doc: "Where the decode rate comes from.")},
        ),
    ),
    entries: {
        "anchor_overlay": (outputs: {"decode_basis": r#"result.decode_basis + ", then anchored""#}),
    },
"##,
    )
}

#[test]
fn a_field_declared_in_data_is_read_and_written_by_the_anchor_overlay() {
    let dir = rules_with_an_overlay_field();
    let rules = Some(dir.path());
    let anchors = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let file = anchors.path().join("anchors.toml");
    std::fs::write(&file, "[npu_llm_anchors.mid_int8.qwen25_7b_dense]\ntokps = 23.5\nsource = \"measured\"\n")
        .unwrap_or_else(|e| panic!("{e}"));
    let f = file.to_str().unwrap_or("");
    let project = ["project", "--model", "qwen25_7b_dense", "--tier", "NPU Mid", "--format", "json"];

    // without an anchor the projection's own value
    let (ok, out, err) = ratchet(&project, rules, None);
    assert!(ok, "{err}");
    assert_eq!(json(&out)["decode_basis"], "projected", "{out}");

    // with one, the overlay's, computed from the projected value read by name
    let with: Vec<&str> = project.iter().copied().chain(["--anchors", f]).collect();
    let (ok, out, err) = ratchet(&with, rules, None);
    assert!(ok, "{err}");
    let p = json(&out);
    assert_eq!(p["decode_basis"], "projected, then anchored", "{p}");
    assert_eq!(p["decode_tok_s"], 23.5, "{p}");
    // the shipped rules' band: a decode rate the overlay measured has factors of 1
    assert_eq!((p["band_decode_p10"].as_f64(), p["band_decode_p90"].as_f64()), (Some(1.0), Some(1.0)), "{p}");

    // a result handed over as JSON: read and rewritten by the same names
    let result = serde_json::json!({
        "decode_tok_s": 10.0, "prefill_tok_s": 100.0, "ttft_s": 1.0, "decode_s": 12.8,
        "prefill_s": 1.0, "total_s": 13.8, "host_ms": 0.0, "decode_tokens": 128,
        "prompt_tokens": 100, "decode_basis": "handed over", "model_key": "qwen25_7b_dense"
    });
    let line =
        serde_json::json!({"op": "overlay_llm_anchor", "result": result, "hw": "NPU Mid", "model": "qwen25_7b_dense"});
    let (ok, out, err) = ratchet(&["batch", "--anchors", f], rules, Some(&line.to_string()));
    assert!(ok, "{err}");
    let b = json(&out);
    assert_eq!(b["decode_basis"], "handed over, then anchored", "{b}");
    assert_eq!(b["decode_tok_s"], 23.5, "{b}");

    // a result that lacks a number the step needs is refused by name
    let mut short = result.clone();
    short.as_object_mut().map(|m| m.remove("ttft_s"));
    let line =
        serde_json::json!({"op": "overlay_llm_anchor", "result": short, "hw": "NPU Mid", "model": "qwen25_7b_dense"});
    let (_, out, _) = ratchet(&["batch", "--anchors", f], rules, Some(&line.to_string()));
    assert!(out.contains("`result` needs a number `ttft_s`"), "{out}");
}

#[test]
fn an_overlay_output_that_names_no_record_field_is_a_located_error() {
    let dir = default_rules_with("\n    entries: {\"anchor_overlay\": (outputs: {\"band_decode_p1\": \"1.0\"})},");
    let (ok, out, err) = ratchet(&["validate"], Some(dir.path()), None);
    assert!(!ok, "{out}");
    let all = format!("{out}{err}");
    assert!(all.contains("unknown output `band_decode_p1` of `anchor_overlay`"), "{all}");
    assert!(all.contains("band_decode_p10"), "did-you-mean: {all}");
    assert!(all.contains("default.ron:"), "located: {all}");
}

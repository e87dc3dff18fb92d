//! Every resource bound answers with a clear error naming the bound, through the real
//! binary: file size, nesting depth, formula length and nesting, batch line length, what-if
//! run size. None panics and none hangs.

mod common;

use common::{copy_dir, root, run, temp_registry};
use ratchet::limits;
use std::io::Write;
use std::process::{Command, Stdio};

const MID: &str = "tiers/07-npu-mid.ron";

fn validate_registry(reg: &std::path::Path) -> (i32, String) {
    let (code, out, err) = run(&["validate", "--registry", reg.to_str().unwrap_or(""), "--format", "json"]);
    (code, out + &err)
}

#[test]
fn a_file_over_the_size_limit_is_refused_before_parsing() {
    let (_d, reg) = temp_registry();
    let mut text = std::fs::read_to_string(reg.join(MID)).unwrap_or_else(|e| panic!("{e}"));
    text.push_str(&format!("// {}\n", "x".repeat(limits::MAX_FILE_BYTES)));
    std::fs::write(reg.join(MID), text).unwrap_or_else(|e| panic!("{e}"));
    let (code, out) = validate_registry(&reg);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("the limit for a data file is 4194304 bytes"), "{out}");
    assert!(out.contains("07-npu-mid.ron"), "{out}");
}

#[test]
fn nesting_deeper_than_the_limit_is_a_syntax_error_at_its_line() {
    let (_d, reg) = temp_registry();
    let text = std::fs::read_to_string(reg.join(MID)).unwrap_or_else(|e| panic!("{e}"));
    let deep = format!("{}1.0{}", "[".repeat(limits::MAX_DEPTH + 10), "]".repeat(limits::MAX_DEPTH + 10));
    let text = text.replacen("mem_bandwidth_gbs: 134.4", &format!("mem_bandwidth_gbs: {deep}"), 1);
    std::fs::write(reg.join(MID), text).unwrap_or_else(|e| panic!("{e}"));
    let (code, out) = validate_registry(&reg);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("nest") && out.contains("64"), "{out}");
    assert!(out.contains("\"line\": 10,"), "{out}");
}

fn rules_with(find: &str, replace: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let d = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let rules = d.path().join("rules");
    copy_dir(&root().join("rules"), &rules);
    let f = rules.join("ratchet-0.3.2.ron");
    let text = std::fs::read_to_string(&f).unwrap_or_else(|e| panic!("{e}"));
    assert!(text.contains(find));
    std::fs::write(&f, text.replacen(find, replace, 1)).unwrap_or_else(|e| panic!("{e}"));
    (d, rules)
}

#[test]
fn formulas_over_the_length_or_nesting_limit_are_refused_at_their_position() {
    let find = r#""gqa_ratio": "kv_heads / attn_heads","#;
    let long = format!(r#""gqa_ratio": "kv_heads / attn_heads{}","#, " + 0".repeat(limits::MAX_FORMULA_BYTES / 4));
    let n = limits::MAX_FORMULA_NESTING + 1;
    let deep = format!(r#""gqa_ratio": "{}kv_heads / attn_heads{}","#, "(".repeat(n), ")".repeat(n));
    for (case, replace, want) in [("length", long, "the limit is 4096 bytes"), ("nesting", deep, "more than 64 deep")] {
        let (_d, rules) = rules_with(find, &replace);
        let (code, out, err) = run(&["validate", "--rules", rules.to_str().unwrap_or(""), "--format", "json"]);
        assert_eq!(code, 1, "{case}: {out}{err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{case}: {e}: {out}"));
        let d = &v["diagnostics"][0];
        assert!(d["message"].as_str().unwrap_or("").contains(want), "{case}: {d}");
        assert!(d["file"].as_str().unwrap_or("").ends_with("ratchet-0.3.2.ron"), "{case}: {d}");
        assert!(d["line"].as_u64().unwrap_or(0) > 0 && d["col"].as_u64().unwrap_or(0) > 0, "{case}: {d}");
    }
}

#[test]
fn a_batch_line_over_the_limit_is_answered_with_an_error_and_the_batch_goes_on() {
    let good = r#"{"op":"kv_cache_bytes_per_token","model":"qwen25_7b_dense"}"#;
    let huge = format!(r#"{{"op":"project_llm","model":"{}"}}"#, "q".repeat(limits::MAX_BATCH_LINE_BYTES + 10));
    // the long line in the middle, and again at the end with no newline
    let input = format!("{good}\n{huge}\n{good}\n{huge}");
    let mut child = Command::new(env!("CARGO_BIN_EXE_ratchet"))
        .arg("batch")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    let mut stdin = child.stdin.take().unwrap_or_else(|| panic!("stdin"));
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(input.as_bytes());
    });
    let out = child.wait_with_output().unwrap_or_else(|e| panic!("{e}"));
    let _ = writer.join();
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<serde_json::Value> =
        text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect();
    assert_eq!(lines.len(), 4, "{text}");
    for i in [1, 3] {
        let m = lines[i]["error"]["message"].as_str().unwrap_or("");
        assert!(m.contains("longer than 1048576 bytes"), "line {i}: {m}");
        assert_eq!(lines[i]["error"]["kind"], "bad_request");
    }
    for i in [0, 2] {
        assert!(lines[i].get("error").is_none(), "line {i}: {}", lines[i]);
    }
}

#[test]
fn whatif_runs_over_the_point_limit_are_refused() {
    let pack = root().join("packs/drone-soc").display().to_string();
    let (code, out, err) = run(&["whatif", "sweep", "--pack", &pack, "--slider", "npu_tops", "--steps", "1000001"]);
    assert_ne!(code, 0, "{out}");
    assert!(err.contains("1000001 points; the limit is 1000000"), "{err}");
    let args = ["whatif", "pareto", "--pack", &pack, "--x", "npu_tops", "--y", "camera_fps"];
    let mut args: Vec<&str> = args.to_vec();
    args.extend(["--steps-x", "2000", "--steps-y", "2000"]);
    let (code, _, err) = run(&args);
    assert_ne!(code, 0);
    assert!(err.contains("4000000 points; the limit is 1000000"), "{err}");
    // the batch op says the same, as a per-line error
    let line = format!(r#"{{"op":"whatif_sweep","pack":"{pack}","slider":"npu_tops","steps":5000000}}"#);
    let engine = ratchet::Engine::embedded().unwrap_or_else(|r| panic!("{r:?}"));
    let v = ratchet::batch::answer_line(&engine, &line);
    let m = v["error"]["message"].as_str().unwrap_or("");
    assert!(m.contains("the limit is 1000000"), "{v}");
}

#[test]
fn an_anchor_file_over_the_size_limit_is_refused() {
    let d = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let f = d.path().join("anchors.toml");
    std::fs::write(&f, format!("# {}\n", "x".repeat(limits::MAX_FILE_BYTES))).unwrap_or_else(|e| panic!("{e}"));
    let (code, out, err) = run(&["validate", "--anchors", f.to_str().unwrap_or("")]);
    assert_eq!(code, 1, "{out}{err}");
    assert!((out.clone() + &err).contains("the limit for a data file is 4194304 bytes"), "{out}{err}");
}

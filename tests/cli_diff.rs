//! `ratchet diff`: the standard matrix under two registries, packs or git revisions.

mod common;

use common::{root, run, run_in, temp_registry};

#[test]
fn identical_registries_have_no_changes() {
    let reg = root().join("registry").display().to_string();
    let (code, out, err) = run(&["diff", &reg, &reg]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("0 changes"), "{out}");
}

#[test]
fn a_bandwidth_edit_changes_the_numbers_and_fails_the_check() {
    let (_dir, reg) = temp_registry();
    let f = reg.join("tiers/07-npu-mid.ron");
    let t = std::fs::read_to_string(&f).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(&f, t.replacen("mem_bandwidth_gbs: 134.4", "mem_bandwidth_gbs: 140.0", 1))
        .unwrap_or_else(|e| panic!("{e}"));
    let old = root().join("registry").display().to_string();
    let new = reg.display().to_string();
    let (code, out, err) = run(&["diff", &old, &new, "--format", "json"]);
    assert_eq!(code, 1, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    let changes = v["changes"].as_array().cloned().unwrap_or_default();
    let c = changes
        .iter()
        .find(|c| c["key"] == "NPU Mid × qwen25_7b_dense × default" && c["field"] == "decode_tok_s")
        .unwrap_or_else(|| panic!("the Mid decode rate changes: {out}"));
    assert!(c["new"].as_f64() > c["old"].as_f64());
    assert!(c["delta_pct"].as_f64().is_some_and(|d| d > 0.0));
    // a family sibling scaled from the Mid anchor moves too (NPU High borrows it)
    assert!(changes.iter().any(|c| c["key"].as_str().is_some_and(|k| k.starts_with("NPU High"))));
    // github annotations for pull-request review
    let (code, out, _) = run(&["diff", &old, &new, "--format", "github"]);
    assert_eq!(code, 1);
    assert!(out.lines().any(|l| l.starts_with("::warning title=ratchet diff::NPU Mid")), "{out}");
    assert!(out.lines().last().is_some_and(|l| l.starts_with("::notice")));
    // within a generous tolerance nothing counts as changed
    let (code, out, _) = run(&["diff", &old, &new, "--tolerance", "50"]);
    assert_eq!(code, 0, "{out}");
}

#[test]
fn packs_compare_kpis_at_profile_defaults() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let a = dir.path().join("a/drone-soc");
    let b = dir.path().join("b/drone-soc");
    common::copy_dir(&root().join("packs/drone-soc"), &a);
    common::copy_dir(&root().join("packs/drone-soc"), &b);
    let f = b.join("profiles/fpv-mid.ron");
    let t = std::fs::read_to_string(&f).unwrap_or_else(|e| panic!("{e}"));
    assert!(t.contains("\"bw_gbps\""), "fpv-mid has a memory bandwidth");
    let edited = regex_replace_number(&t, "\"bw_gbps\"", 0.5);
    std::fs::write(&f, edited).unwrap_or_else(|e| panic!("{e}"));
    let (code, out, err) = run(&["diff", a.to_str().unwrap_or(""), b.to_str().unwrap_or("")]);
    assert_eq!(code, 1, "{err}");
    assert!(out.contains("profile fpv-mid · KPI memory_bw_total"), "{out}");
    assert!(!out.contains("profile fpv-entry"), "other profiles are unchanged: {out}");
}

/// Multiplies the first number after `key:` by `f`.
fn regex_replace_number(text: &str, key: &str, f: f64) -> String {
    let at = text.find(key).unwrap_or_else(|| panic!("{key}")) + key.len();
    let rest = &text[at..];
    let start = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(0);
    let end = rest[start..].find(|c: char| !(c.is_ascii_digit() || c == '.')).map_or(rest.len(), |e| start + e);
    let x: f64 = rest[start..end].parse().unwrap_or_else(|e| panic!("{e}"));
    format!("{}{}{}", &text[..at + start], x * f, &rest[end..])
}

#[test]
fn git_revisions_are_read_from_history() {
    // the working tree's registry against itself at HEAD: no change unless it was edited
    if !root().join(".git").exists() {
        eprintln!("not a git checkout; `REV:PATH` needs git history");
        return;
    }
    let (code, out, err) = run_in(&["diff", "HEAD:registry", "registry"], Some(&root()), &[]);
    let dirty = std::process::Command::new("git")
        .args(["status", "--porcelain", "--", "registry"])
        .current_dir(root())
        .output()
        .map(|o| !o.stdout.is_empty())
        .unwrap_or(true);
    if !dirty {
        assert_eq!(code, 0, "{out}{err}");
        assert!(out.contains("0 changes"), "{out}");
    }
    let (code, _, err) = run_in(&["diff", "no-such-rev:registry", "registry"], Some(&root()), &[]);
    assert_eq!(code, 2);
    assert!(err.contains("git cannot export"), "{err}");
}

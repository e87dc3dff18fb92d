//! One check of request options for every interface: each out-of-range option of
//! `tests/data/bad_options.json` gets the same error from the CLI, a batch line and HTTP
//! (Python runs the same table in python/tests/test_surface.py), and none prints a number.

mod common;

use common::http::{Server, post};
use serde_json::Value;
use std::io::Write;
use std::process::{Command, Stdio};

fn table() -> Value {
    let p = common::root().join("tests/data/bad_options.json");
    serde_json::from_str(&std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{e}")))
        .unwrap_or_else(|e| panic!("{e}"))
}

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ratchet"))
}

fn cli_flags(opts: &serde_json::Map<String, Value>) -> Vec<String> {
    opts.iter()
        .map(|(k, v)| {
            let v = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            format!("--{}={v}", k.replace('_', "-"))
        })
        .collect()
}

/// Every line's answer from one `ratchet batch` run (stderr in the panic if one is not JSON).
fn batch_answers(lines: &str) -> Vec<Value> {
    let mut child = bin()
        .args(["batch"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    child.stdin.take().map(|mut s| s.write_all(lines.as_bytes())).transpose().unwrap_or_else(|e| panic!("{e}"));
    let out = child.wait_with_output().unwrap_or_else(|e| panic!("{e}"));
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}\n{err}")))
        .collect()
}

#[test]
fn the_same_bad_option_gets_the_same_error_everywhere() {
    let t = table();
    let (model, hw) = (t["model"].as_str().unwrap_or(""), t["hw"].as_str().unwrap_or(""));
    let cases = t["cases"].as_array().cloned().unwrap_or_default();
    assert!(cases.len() >= 10);
    let srv = Server::start(&["--no-watch"]);
    // batch: all lines in one run
    let mut lines = String::new();
    for c in &cases {
        let mut req = serde_json::json!({"op": "project_llm", "model": model, "hw": hw});
        for (k, v) in c["options"].as_object().into_iter().flatten() {
            req[k] = v.clone();
        }
        lines.push_str(&req.to_string());
        lines.push('\n');
    }
    let answers = batch_answers(&lines);
    assert_eq!(answers.len(), cases.len());

    for (c, batch) in cases.iter().zip(&answers) {
        let want = c["error"].as_str().unwrap_or("?");
        let opts = c["options"].as_object().cloned().unwrap_or_default();
        // CLI
        let o = bin()
            .args(["project", "--model", model, "--tier", hw])
            .args(cli_flags(&opts))
            .output()
            .unwrap_or_else(|e| panic!("{e}"));
        let (stdout, stderr) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
        assert!(!o.status.success() && stdout.is_empty(), "{opts:?}: the CLI answered\n{stdout}");
        assert!(stderr.contains(want), "{opts:?}: CLI said {stderr:?}, want {want:?}");
        // batch
        assert_eq!(batch["error"]["kind"], "invalid_value", "{opts:?}: {batch}");
        assert_eq!(batch["error"]["message"].as_str(), Some(want), "{opts:?}: batch");
        assert!(batch.get("decode_tok_s").is_none());
        // HTTP
        let mut body = serde_json::json!({"model": model, "hw": hw});
        for (k, v) in &opts {
            body[k] = v.clone();
        }
        let r = post(&srv.addr, "/v1/project", &body.to_string());
        assert_eq!(r.status, 422, "{opts:?}: {}", r.body);
        assert_eq!(r.json()["error"]["message"].as_str(), Some(want), "{opts:?}: HTTP");
    }
}

#[test]
fn a_range_edited_in_a_copy_of_the_rules_changes_the_answer_without_a_rebuild() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let base =
        std::fs::read_to_string(common::root().join("rules/ratchet-0.3.2.ron")).unwrap_or_else(|e| panic!("{e}"));
    let wide = base.replacen(
        r#""compiler_quality": (min: 0.0, exclusive_min: true, max: 1.0)"#,
        r#""compiler_quality": (min: 0.0, exclusive_min: true, max: 2.0)"#,
        1,
    );
    assert_ne!(wide, base, "the shipped range moved: update this test");
    std::fs::write(dir.path().join("ratchet-0.3.2.ron"), wide).unwrap_or_else(|e| panic!("{e}"));
    let run = |extra: &[&str]| {
        bin()
            .args([
                "project",
                "--model",
                "qwen25_7b_dense",
                "--tier",
                "NPU Mid",
                "--compiler-quality=1.5",
                "--format",
                "json",
            ])
            .args(extra)
            .output()
            .unwrap_or_else(|e| panic!("{e}"))
    };
    let shipped = run(&[]);
    assert!(!shipped.status.success());
    let edited = run(&["--rules", dir.path().to_str().unwrap_or("")]);
    assert!(edited.status.success(), "{}", String::from_utf8_lossy(&edited.stderr));
    let v: Value = serde_json::from_slice(&edited.stdout).unwrap_or_else(|e| panic!("{e}"));
    assert!(v["decode_tok_s"].as_f64().is_some_and(|x| x > 0.0));
}

#[test]
fn a_rule_set_with_a_default_outside_its_range_is_refused_at_load() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(
        dir.path().join("tight.ron"),
        r#"RuleSet(schema_version: 1, name: "tight", extends: "default", ranges: {"compiler_quality": (min: 0.0, max: 0.5)})"#,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let o = bin()
        .args(["validate", "--rules", dir.path().to_str().unwrap_or(""), "--rules", "tight"])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let all = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(!o.status.success(), "{all}");
    assert!(all.contains("default `compiler_quality` = 1.0 is outside its range [0.0, 0.5]"), "{all}");
}

fn bad_inputs() -> Value {
    let p = common::root().join("tests/data/bad_inputs.json");
    serde_json::from_str(&std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{e}")))
        .unwrap_or_else(|e| panic!("{e}"))
}

/// The CLI form of a request: `--model`, `--tier` (a name or JSON), `--workload`, the token
/// counts and the options as `--flag=value`.
fn cli_args(req: &serde_json::Map<String, Value>, model: &str, hw: &str) -> Vec<String> {
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let mut args = vec!["project".to_string()];
    args.extend(["--model".into(), req.get("model").map_or(model.to_string(), text)]);
    args.extend(["--tier".into(), req.get("hw").map_or(hw.to_string(), text)]);
    for (k, v) in req {
        match k.as_str() {
            "model" | "hw" => {}
            "workload_id" => args.extend(["--workload".into(), text(v)]),
            other => args.push(format!("--{}={}", other.replace('_', "-"), text(v))),
        }
    }
    args
}

#[test]
fn forty_bad_inputs_get_a_clear_error_from_every_interface() {
    let (opts, t) = (table(), bad_inputs());
    let (model, hw) = (t["model"].as_str().unwrap_or(""), t["hw"].as_str().unwrap_or(""));
    let cases = t["cases"].as_array().cloned().unwrap_or_default();
    let option_cases = opts["cases"].as_array().map_or(0, Vec::len);
    assert!(cases.len() + option_cases >= 40, "{} + {option_cases}", cases.len());
    let srv = Server::start(&["--no-watch"]);
    let requests: Vec<Value> = cases
        .iter()
        .map(|c| {
            let mut req = serde_json::json!({"op": "project_llm", "model": model, "hw": hw});
            for (k, v) in c["request"].as_object().into_iter().flatten() {
                req[k] = v.clone();
            }
            req
        })
        .collect();
    let lines: String = requests.iter().map(|r| format!("{r}\n")).collect();
    let answers = batch_answers(&lines);
    assert_eq!(answers.len(), cases.len());
    for ((c, req), batch) in cases.iter().zip(&requests).zip(&answers) {
        let want = c["error"].as_str().unwrap_or("?");
        // batch: the error, its kind, and no number
        assert_eq!(batch["error"]["message"].as_str(), Some(want), "{req}: batch");
        assert_eq!(batch["error"]["kind"], c["kind"], "{req}: batch");
        assert!(batch.get("decode_tok_s").is_none(), "{req}");
        // HTTP: the same words, a client error
        let mut body = req.clone();
        if let Value::Object(m) = &mut body {
            m.remove("op");
        }
        let r = post(&srv.addr, "/v1/project", &body.to_string());
        assert!((400..500).contains(&r.status), "{req}: HTTP {}: {}", r.status, r.body);
        assert_eq!(r.json()["error"]["message"].as_str(), Some(want), "{req}: HTTP");
        // CLI, where it can say the request
        if c["cli"] == false {
            continue;
        }
        let args = cli_args(c["request"].as_object().unwrap_or(&serde_json::Map::new()), model, hw);
        let o = bin().args(&args).output().unwrap_or_else(|e| panic!("{e}"));
        let (stdout, stderr) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
        assert!(!o.status.success() && stdout.is_empty(), "{args:?}: the CLI answered\n{stdout}");
        let cli_want = c["cli_error"].as_str().unwrap_or(want);
        assert!(stderr.contains(cli_want), "{args:?}: CLI said {stderr:?}, want {cli_want:?}");
    }
}

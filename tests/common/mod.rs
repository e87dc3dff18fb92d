//! Helpers shared by the integration tests: the golden file, value comparison, and temp
//! copies of the shipped data.
#![allow(dead_code)]

pub mod http;

use serde_json::Value;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The parsed golden file (decompressed once per test binary).
pub fn golden() -> &'static Value {
    static G: OnceLock<Value> = OnceLock::new();
    G.get_or_init(|| {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/ratchet-0.3.2-golden.json.gz");
        let f = std::fs::File::open(&path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
        let mut text = String::new();
        flate2::read::GzDecoder::new(f).read_to_string(&mut text).unwrap_or_else(|e| panic!("gunzip: {e}"));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("parse golden: {e}"))
    })
}

/// Every case of one golden function.
pub fn cases(func: &str) -> Vec<&'static Value> {
    golden()["cases"].as_array().map(|a| a.iter().filter(|c| c["fn"] == func).collect()).unwrap_or_default()
}

/// Removes the reference's `__type__` tags, recursively.
pub fn strip_types(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter().filter(|(k, _)| k.as_str() != "__type__").map(|(k, v)| (k.clone(), strip_types(v))).collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(strip_types).collect()),
        other => other.clone(),
    }
}

/// Compares two JSON values: numbers by binary64 value (ints and floats alike), or within
/// `rel` relative error when `rel > 0`; everything else exactly. Returns the first difference.
pub fn diff(path: &str, want: &Value, got: &Value, rel: f64) -> Option<String> {
    match (want, got) {
        (Value::Number(a), Value::Number(b)) => {
            let (x, y) = (a.as_f64().unwrap_or(f64::NAN), b.as_f64().unwrap_or(f64::NAN));
            let same = x == y || (rel > 0.0 && (x - y).abs() <= rel * x.abs().max(y.abs()));
            (!same).then(|| format!("{path}: want {x:?}, got {y:?}"))
        }
        (Value::Object(a), Value::Object(b)) => {
            for (k, va) in a {
                match b.get(k) {
                    Some(vb) => {
                        if let Some(d) = diff(&format!("{path}.{k}"), va, vb, rel) {
                            return Some(d);
                        }
                    }
                    None => return Some(format!("{path}.{k}: missing (want {va})")),
                }
            }
            b.keys().find(|k| !a.contains_key(*k)).map(|k| format!("{path}.{k}: unexpected key"))
        }
        (Value::Array(a), Value::Array(b)) => {
            if a.len() != b.len() {
                return Some(format!("{path}: want {} items, got {}", a.len(), b.len()));
            }
            a.iter().zip(b).enumerate().find_map(|(i, (x, y))| diff(&format!("{path}[{i}]"), x, y, rel))
        }
        _ => (want != got).then(|| format!("{path}: want {want}, got {got}")),
    }
}

/// Copies a directory tree.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap_or_else(|e| panic!("mkdir {}: {e}", to.display()));
    for entry in std::fs::read_dir(from).unwrap_or_else(|e| panic!("read {}: {e}", from.display())) {
        let entry = entry.unwrap_or_else(|e| panic!("{e}"));
        let p = entry.path();
        let dest = to.join(entry.file_name());
        if p.is_dir() {
            copy_dir(&p, &dest);
        } else {
            std::fs::copy(&p, &dest).unwrap_or_else(|e| panic!("copy {}: {e}", p.display()));
        }
    }
}

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A temp copy of the shipped registry.
pub fn temp_registry() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let reg = dir.path().join("registry");
    copy_dir(&root().join("registry"), &reg);
    (dir, reg)
}

/// Runs the built binary with `args`; returns (status, stdout, stderr).
pub fn run(args: &[&str]) -> (i32, String, String) {
    run_in(args, None, &[])
}

/// Runs the built binary in `cwd` with extra environment variables.
pub fn run_in(args: &[&str], cwd: Option<&Path>, env: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_ratchet"));
    cmd.args(args);
    if let Some(c) = cwd {
        cmd.current_dir(c);
    }
    cmd.env_remove("RATCHET_ANCHORS");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap_or_else(|e| panic!("run ratchet: {e}"));
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

/// Runs the built binary with `args`, `input` on its stdin; returns (status, stdout, stderr).
pub fn run_stdin(args: &[&str], input: &str) -> (i32, String, String) {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_ratchet"))
        .args(args)
        .env_remove("RATCHET_ANCHORS")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("run ratchet: {e}"));
    if let Some(mut s) = child.stdin.take() {
        s.write_all(input.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
    }
    let out = child.wait_with_output().unwrap_or_else(|e| panic!("{e}"));
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

/// A golden construction recipe as a tier form (JSON): a canonical name, a memory upgrade
/// (once or twice), a custom tier, or a base with measurements set.
pub fn tier_form(c: &Value) -> Value {
    let mem = |base: Value, t: &Value, r: &Value, s: &Value| {
        let mut m = serde_json::json!({"mem_type": t, "mem_data_rate_gtps": r});
        if !s.is_null() {
            m["name_suffix"] = s.clone();
        }
        serde_json::json!({"base": base, "memory": m})
    };
    match c["kind"].as_str().unwrap_or("") {
        "canonical" => c["tier"].clone(),
        "hw_with_memory" => mem(c["base"].clone(), &c["mem_type"], &c["mem_data_rate_gtps"], &c["name_suffix"]),
        "hw_with_memory_twice" => {
            let f = &c["first"];
            let s = &c["second"];
            mem(mem(c["base"].clone(), &f[0], &f[1], &f[2]), &s[0], &s[1], &s[2])
        }
        "make_custom_tier" => serde_json::json!({"custom": c["kwargs"]}),
        "override" => {
            let mut set = serde_json::Map::new();
            for k in ["measured_llm", "measured_perception"] {
                if let Some(v) = c.get(k) {
                    set.insert(k.into(), strip_types(v));
                }
            }
            serde_json::json!({"base": c["base"], "set": set})
        }
        other => panic!("unknown construction {other}"),
    }
}

/// The tier form of a golden hardware id.
pub fn hw_form(id: &str) -> Value {
    tier_form(&golden()["hardware"][id]["construction"])
}

/// Every `.rs` file below `dir`, recursively (the layering and size checks read them).
pub fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{e}")).flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Writes `original` with `from` replaced by `to` to `file` of the registry copy `reg`, then
/// checks that `ratchet validate` refuses the copy with `want`, located in `file`.
pub fn assert_edit_refused(reg: &Path, file: &str, original: &str, from: &str, to: &str, want: &str) {
    let broken = original.replace(from, to);
    assert_ne!(original, broken, "{from}");
    std::fs::write(reg.join(file), broken).unwrap_or_else(|e| panic!("{e}"));
    let (code, out, err) = run(&["validate", "--registry", &reg.to_string_lossy()]);
    let all = format!("{out}{err}");
    assert_ne!(code, 0, "{all}");
    assert!(all.contains(want), "{want}: {all}");
    assert!(all.contains(&format!("{file}:")), "{all}");
}

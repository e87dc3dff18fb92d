//! `ratchet watch`: reloads on save and shows the diagnostics, or the new generation and the
//! query answers that changed.

mod common;

use common::{root, temp_registry};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

#[test]
fn watch_reports_generations_changed_answers_and_diagnostics() {
    let (dir, reg) = temp_registry();
    let q = dir.path().join("q.jsonl");
    std::fs::write(
        &q,
        "{\"op\":\"project_llm\",\"model\":\"qwen25_7b_dense\",\"hw\":\"NPU Mid\"}\n{\"op\":\"kv_cache_bytes_per_token\",\"model\":\"qwen25_7b_dense\"}\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_ratchet"))
        .args([
            "watch",
            "--registry",
            reg.to_str().unwrap_or(""),
            "--query",
            q.to_str().unwrap_or(""),
            "--debounce-ms",
            "50",
        ])
        .env_remove("RATCHET_ANCHORS")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    let out = child.stdout.take().unwrap_or_else(|| panic!("stdout"));
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for l in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(l);
        }
    });
    let next = |what: &str, f: &dyn Fn(&str) -> bool| -> Vec<String> {
        let mut seen = Vec::new();
        loop {
            match rx.recv_timeout(Duration::from_secs(30)) {
                Ok(l) => {
                    let done = f(&l);
                    seen.push(l);
                    if done {
                        return seen;
                    }
                }
                Err(_) => panic!("timed out waiting for {what}; saw {seen:?}"),
            }
        }
    };
    next("the first generation", &|l| l.starts_with("generation 1 live"));
    let file = reg.join("tiers/07-npu-mid.ron");
    let text = std::fs::read_to_string(root().join("registry/tiers/07-npu-mid.ron")).unwrap_or_default();
    std::fs::write(&file, text.replacen("mem_bandwidth_gbs: 134.4", "mem_bandwidth_gbs: 140.0", 1))
        .unwrap_or_else(|e| panic!("{e}"));
    let lines = next("the second generation's changed answer", &|l| l.starts_with("    now "));
    assert!(lines.iter().any(|l| l.starts_with("generation 2 live in")), "{lines:?}");
    assert!(lines.iter().any(|l| l.starts_with("  query 1:")), "only the projection changes: {lines:?}");
    assert!(!lines.iter().any(|l| l.starts_with("  query 2:")), "{lines:?}");
    std::fs::write(&file, "Tier(").unwrap_or_else(|e| panic!("{e}"));
    let lines = next("the failed reload", &|l| l.contains("stays live"));
    assert!(lines.iter().any(|l| l.contains("07-npu-mid.ron")), "the diagnostic names the file: {lines:?}");
    assert!(lines.last().is_some_and(|l| l.contains("generation 2 stays live")));
    let _ = child.kill();
    let _ = child.wait();
}

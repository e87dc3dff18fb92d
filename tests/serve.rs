//! The real server on an ephemeral loopback port over a temp registry: every route, JSON
//! errors, limits, hot reload for each save pattern, no anchor leaks, graceful shutdown,
//! and a bounded load test across 100 reloads.

mod common;

use common::http::{Conn, Server, get, post, request};
use common::{root, temp_registry};
use serde_json::Value;

const MID: &str = "tiers/07-npu-mid.ron";

/// The shipped NPU Mid tier file with another stated bandwidth.
fn set_bandwidth(bw: &str) -> String {
    let base = std::fs::read_to_string(root().join("registry").join(MID)).unwrap_or_else(|e| panic!("{e}"));
    base.replacen("mem_bandwidth_gbs: 134.4", &format!("mem_bandwidth_gbs: {bw}"), 1)
}

fn generation(s: &Value) -> u64 {
    s["generation"].as_u64().unwrap_or(0)
}

#[test]
fn routes_answer_json_with_the_generation() {
    let (_d, reg) = temp_registry();
    let pack = root().join("tests/data/packs/whatif-golden").display().to_string();
    let srv = Server::start(&["--registry", reg.to_str().unwrap_or(""), "--pack", &pack, "--no-watch"]);
    let a = &srv.addr;
    assert_eq!(get(a, "/healthz").body, "ok\n");
    let s = srv.status();
    assert_eq!(generation(&s), 1);
    assert_eq!(s["registry_version"], "0.3.2");
    assert!(s["last_reload_error"].is_null());

    let t = get(a, "/v1/tiers");
    assert_eq!(t.status, 200);
    assert_eq!(t.header("x-ratchet-generation"), Some("1"));
    assert_eq!(t.json()["tiers"].as_array().map(Vec::len), Some(9));
    let one = get(a, "/v1/tiers/NPU%20Mid");
    assert_eq!((one.status, one.json()["mem_bandwidth_gbs"].as_f64()), (200, Some(134.4)));
    let miss = get(a, "/v1/tiers/NPU%20Hihg");
    assert_eq!(miss.status, 404);
    assert!(miss.json()["error"]["message"].as_str().unwrap_or("").contains("did you mean `NPU High`"));
    assert!(get(a, "/v1/models").json()["models"].as_array().is_some_and(|m| m.len() >= 3));

    let ok = post(
        a,
        "/v1/project",
        r#"{"model":"qwen3_30b_a3b_moe","hw":"NPU Mid","workload_id":"rag_qa","prompt_tokens":500,"decode_tokens":200}"#,
    );
    assert_eq!(ok.status, 200, "{}", ok.body);
    let v = ok.json();
    assert_eq!((v["type"].as_str(), v["decode_tok_s"].as_f64()), (Some("Projected"), Some(37.85)));
    assert_eq!(v["provenance"]["generation"], 1);
    for (body, status, kind) in [
        ("{", 400, "bad_request"),
        ("[1]", 400, "bad_request"),
        (r#"{"model":"qwen3_30b_a3b_moe"}"#, 400, "bad_request"),
        (r#"{"model":"nope","hw":"NPU Mid"}"#, 404, "unknown_key"),
        (r#"{"model":"qwen3_30b_a3b_moe","hw":"NPU Mid","prompt_tokens":-1}"#, 422, "invalid_value"),
        (r#"{"op":"memory_feasibility","model":"qwen3_30b_a3b_moe","hw":"NPU Mid"}"#, 400, "bad_request"),
    ] {
        let r = post(a, "/v1/project", body);
        assert_eq!(r.status, status, "{body}: {}", r.body);
        assert_eq!(r.json()["error"]["kind"], kind, "{body}");
    }

    let b = post(a, "/v1/batch", "{\"op\":\"kv_cache_bytes_per_token\",\"model\":\"qwen3_30b_a3b_moe\"}\nnot json\n");
    assert_eq!(b.status, 200);
    let lines: Vec<&str> = b.body.lines().collect();
    assert_eq!(lines.len(), 2, "{}", b.body);
    assert!(lines[1].contains("\"error\""));

    let p = post(a, "/v1/whatif/point", r#"{"profile":"small","overrides":{}}"#);
    assert_eq!(p.status, 200, "{}", p.body);
    assert_eq!(p.json()["summary"]["fail"], 1);
    let sw = post(a, "/v1/whatif/sweep", r#"{"profile":"small","slider":"npu_tops","steps":3}"#);
    assert_eq!(sw.json()["rows"].as_array().map(Vec::len), Some(3));
    let pa = post(a, "/v1/whatif/pareto", r#"{"profile":"small","x":"npu_tops","y":"nope","steps_x":2,"steps_y":2}"#);
    assert_eq!((pa.status, pa.json()["error"]["message"].as_str()), (404, Some("Unknown slider: nope")));

    let bad_tier = "Tier(schema_version: 1, name: \"x\", peak_tops_int8: -1.0)";
    let val = post(a, "/v1/validate?path=tiers/99-x.ron", bad_tier);
    assert_eq!(val.status, 200);
    let vj = val.json();
    assert_eq!(vj["valid"], false);
    assert!(vj["diagnostics"].as_array().is_some_and(|d| d.iter().all(|d| d["line"].as_u64() > Some(0))));
    let good = std::fs::read_to_string(reg.join(MID)).unwrap_or_default().replacen("\"NPU Mid\"", "\"NPU Mid 2\"", 1);
    let val = post(a, "/v1/validate?path=tiers/99-mid2.ron", &good);
    assert_eq!(val.json()["valid"], true, "{}", val.body);
    assert_eq!(generation(&srv.status()), 1, "validating installs nothing");
    assert_eq!(post(a, "/v1/validate?path=../etc/passwd", "x").status, 400);
    assert_eq!(post(a, "/v1/validate", "x").status, 400);

    let m = get(a, "/metrics");
    assert!(m.body.contains("ratchet_requests_total{route=\"/v1/project\"}"));
    assert!(m.body.contains("ratchet_reloads_total 0"));
    let api = get(a, "/openapi.json").json();
    for route in ratchet::serve::ROUTES.iter().filter(|r| !matches!(**r, "other" | "/openapi.json")) {
        assert!(api["paths"][route].is_object(), "{route} is documented");
    }
    let nf = get(a, "/v2/nothing");
    assert_eq!((nf.status, nf.json()["error"]["kind"].as_str()), (404, Some("not_found")));
    let na = request(a, "DELETE", "/v1/project", "");
    assert_eq!((na.status, na.json()["error"]["kind"].as_str()), (405, Some("method_not_allowed")));
}

#[test]
fn the_page_ladder_plan_packs_and_registry_routes() {
    let (_d, reg) = temp_registry();
    let srv = Server::start(&["--registry", reg.to_str().unwrap_or(""), "--pack", "drone-soc", "--no-watch"]);
    let a = &srv.addr;
    let page = get(a, "/");
    assert_eq!(page.status, 200);
    assert!(page.header("content-type").is_some_and(|c| c.starts_with("text/html")));
    assert!(page.body.contains("/assets/app.js"), "the page loads its script");
    for asset in ["/assets/app.js", "/assets/style.css", "/assets/vendor/uPlot.iife.min.js"] {
        let r = get(a, asset);
        assert_eq!(r.status, 200, "{asset}");
        assert!(!r.body.is_empty());
    }
    assert_eq!(get(a, "/assets/nope.js").status, 404);

    let l = post(a, "/v1/ladder", r#"{"model":"qwen3_30b_a3b_moe","workload":"rag_qa","memory_upgrades":true}"#);
    assert_eq!(l.status, 200, "{}", l.body);
    let v = l.json();
    let mid = v["rows"].as_array().and_then(|r| r.iter().find(|r| r["tier"] == "NPU Mid").cloned()).unwrap_or_default();
    assert_eq!(
        (mid["result"]["decode_tok_s"].as_f64(), mid["feasibility"]["verdict"].as_str()),
        (Some(37.85), Some("fits"))
    );
    assert_eq!(l.header("x-ratchet-generation"), Some("1"));

    let p = post(a, "/v1/plan", r#"{"question":"cheapest_tier","model":"qwen3_30b_a3b_moe","min_decode_tok_s":20}"#);
    assert_eq!(p.status, 200, "{}", p.body);
    assert_eq!(p.json()["answer"]["tier"], "NPU Mid");
    let bad = post(a, "/v1/plan", r#"{"question":"cheapest_tier","model":"qwen3_30b_a3b_moe","min_decode_tok_s":-2}"#);
    assert_eq!((bad.status, bad.json()["error"]["kind"].as_str()), (422, Some("invalid_value")));
    let wrong = post(a, "/v1/plan", r#"{"op":"ladder","question":"max_context"}"#);
    assert_eq!(wrong.status, 400);

    let packs = get(a, "/v1/packs").json();
    let drone = &packs["packs"][0];
    assert_eq!(drone["name"], "drone-soc");
    assert!(drone["sliders"].as_array().is_some_and(|s| s.iter().any(|s| s["name"] == "npu_tops")));
    assert!(drone["profiles"].as_array().is_some_and(|p| !p.is_empty()));

    let r = get(a, "/v1/registry").json();
    let t = r["tiers"].as_array().and_then(|t| t.iter().find(|t| t["name"] == "NPU Mid").cloned()).unwrap_or_default();
    assert!(t["file"].as_str().is_some_and(|f| f.ends_with("tiers/07-npu-mid.ron")), "{t}");
    assert_eq!(t["calibration_source"]["method"], "measured");
    assert!(r["tables"]["quant_schemes"]["schemes"]["NVFP4"]["requant"].is_object());
    assert!(r["tables"]["capability_tables"]["NEUTRON_INT8_ONLY_CAPABILITY"].is_object());
}

#[test]
fn request_bodies_are_limited() {
    let srv = Server::start(&["--no-watch", "--body-limit-mib", "1"]);
    let big = format!("{{\"model\":\"{}\",\"hw\":\"NPU Mid\"}}", "x".repeat(2 << 20));
    let r = post(&srv.addr, "/v1/project", &big);
    assert_eq!(r.status, 413, "{}", r.body);
    assert_eq!(r.json()["error"]["kind"], "too_large");
}

#[test]
fn a_request_past_the_timeout_is_answered_503_as_json() {
    let srv = Server::start(&["--no-watch", "--pack", "drone-soc", "--timeout-s", "0.001"]);
    // a 1000 x 1000 grid takes far longer than a millisecond
    let body = r#"{"x":"npu_tops","y":"camera_fps","steps_x":1000,"steps_y":1000}"#;
    let r = post(&srv.addr, "/v1/whatif/pareto", body);
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(r.json()["error"]["kind"], "timeout");
    assert!(r.json()["error"]["message"].as_str().unwrap_or("").contains("longer than 0.001 s"), "{}", r.body);
}

#[test]
fn every_save_pattern_makes_a_generation_and_bad_data_keeps_the_last_good_one() {
    let (_d, reg) = temp_registry();
    let srv = Server::start(&["--registry", reg.to_str().unwrap_or(""), "--debounce-ms", "50"]);
    let a = srv.addr.clone();
    let bw = |a: &str| get(a, "/v1/tiers/NPU%20Mid").json()["mem_bandwidth_gbs"].as_f64();
    let file = reg.join(MID);

    // 1. write in place
    std::fs::write(&file, set_bandwidth("140.0")).unwrap_or_else(|e| panic!("{e}"));
    let s = srv.wait_status("in-place write", |s| generation(s) == 2);
    assert_eq!(s["reloads"], 1);
    assert_eq!(bw(&a), Some(140.0));

    // 2. write a temp file, rename it over the original (what most editors do)
    let tmp = reg.join("tiers/.07-npu-mid.ron.swp");
    std::fs::write(&tmp, set_bandwidth("150.0")).unwrap_or_else(|e| panic!("{e}"));
    std::fs::rename(&tmp, &file).unwrap_or_else(|e| panic!("{e}"));
    srv.wait_status("rename", |s| generation(s) == 3);
    assert_eq!(bw(&a), Some(150.0));

    // 3. an invalid edit: the old generation stays, the diagnostics are published
    std::fs::write(&file, "Tier(\n    name: \"NPU Mid\",\n    peak_tops_int8: ,\n)").unwrap_or_else(|e| panic!("{e}"));
    let s = srv.wait_status("the failed reload", |s| !s["last_reload_error"].is_null());
    assert_eq!(generation(&s), 3);
    assert_eq!(s["reload_failures"], 1);
    let d = &s["last_reload_error"]["diagnostics"][0];
    assert!(d["file"].as_str().unwrap_or("").ends_with("07-npu-mid.ron") && d["line"] == 3, "{d}");
    assert_eq!(bw(&a), Some(150.0), "still answering from generation 3");

    // 4. delete: a registry without NPU Mid is valid (NPU High loses its sibling anchor)
    std::fs::remove_file(&file).unwrap_or_else(|e| panic!("{e}"));
    let s = srv.wait_status("delete", |s| generation(s) == 4);
    assert!(s["last_reload_error"].is_null());
    assert_eq!(get(&a, "/v1/tiers/NPU%20Mid").status, 404);
    assert_eq!(get(&a, "/v1/tiers").json()["tiers"].as_array().map(Vec::len), Some(8));

    // 5. recreate
    std::fs::write(&file, set_bandwidth("134.4")).unwrap_or_else(|e| panic!("{e}"));
    srv.wait_status("recreate", |s| generation(s) == 5);
    assert_eq!(bw(&a), Some(134.4));

    // a save that changes nothing makes no generation
    std::fs::write(&file, set_bandwidth("134.4")).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(reg.join("tiers/notes~"), "editor backup").unwrap_or_else(|e| panic!("{e}"));
    // a later real change proves the no-op was seen and skipped
    std::fs::write(&file, set_bandwidth("136.0")).unwrap_or_else(|e| panic!("{e}"));
    let s = srv.wait_status("the next real change", |s| generation(s) >= 6);
    assert_eq!(generation(&s), 6, "the no-op save did not make a generation");
    assert!(get(&a, "/metrics").body.contains("ratchet_reload_failures_total 1"));
}

#[test]
fn anchor_values_stay_inside_results() {
    let (_d, reg) = temp_registry();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let f = dir.path().join("anchors.toml");
    std::fs::write(&f, "[npu_llm_anchors.mid_int8.qwen3_30b_a3b_moe]\ntokps = 41.123456\nsource = \"measured\"\nnotes = \"SECRET-NOTE-XYZ\"\n")
        .unwrap_or_else(|e| panic!("{e}"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600));
    }
    let srv =
        Server::start(&["--registry", reg.to_str().unwrap_or(""), "--anchors", f.to_str().unwrap_or(""), "--no-watch"]);
    let a = &srv.addr;
    let r = post(a, "/v1/project", r#"{"model":"qwen3_30b_a3b_moe","hw":"NPU Mid"}"#);
    assert_eq!(r.json()["decode_tok_s"], 41.12, "the anchor drives the projection");
    for path in
        ["/v1/status", "/v1/tiers", "/v1/tiers/NPU%20Mid", "/v1/models", "/v1/registry", "/v1/packs", "/", "/metrics"]
    {
        let body = get(a, path).body;
        for secret in ["41.12", "SECRET-NOTE", "anchors.toml"] {
            assert!(!body.contains(secret), "{path} leaks `{secret}`");
        }
    }
    assert_eq!(srv.status()["anchors_loaded"], true);
    for line in srv.log() {
        assert!(!line.contains("41.12") && !line.contains("SECRET"), "the log leaks: {line}");
    }
}

#[cfg(unix)]
#[test]
fn sigterm_finishes_in_flight_requests_then_exits() {
    let srv = Server::start(&["--no-watch", "--body-limit-mib", "128"]);
    let addr = srv.addr.clone();
    // a batch that takes a while, in flight when the signal arrives
    let line = "{\"op\":\"project_llm\",\"model\":\"qwen25_7b_dense\",\"hw\":\"NPU High\",\"prompt_tokens\":500,\"decode_tokens\":200}\n";
    let n = 400_000;
    let body = line.repeat(n);
    let h = std::thread::spawn(move || post(&addr, "/v1/batch", &body));
    std::thread::sleep(std::time::Duration::from_millis(150));
    let pid = srv.child.id().to_string();
    let ok = std::process::Command::new("kill").args(["-TERM", &pid]).status().map(|s| s.success());
    assert_eq!(ok.ok(), Some(true));
    let r = h.join().unwrap_or_else(|_| panic!("client thread"));
    assert_eq!(r.status, 200, "the in-flight request completed");
    assert_eq!(r.body.lines().count(), n);
    let mut srv = srv;
    let st = srv.child.wait().unwrap_or_else(|e| panic!("{e}"));
    assert!(st.success(), "exit status {st:?}");
    // the log thread may still be draining
    std::thread::sleep(std::time::Duration::from_millis(50));
    assert!(srv.log().iter().any(|l| l == "shut down"), "{:?}", srv.log());
}

/// 4 keep-alive clients for the length of 100 reloads: no failed request, and every
/// response consistent with exactly one generation (its header, its provenance and its
/// numbers all belong to the same generation).
#[test]
fn load_across_100_reloads_is_consistent() {
    let (_d, reg) = temp_registry();
    let srv = Server::start(&["--registry", reg.to_str().unwrap_or(""), "--debounce-ms", "10"]);
    let file = reg.join(MID);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let body =
        r#"{"model":"qwen25_7b_dense","hw":"NPU Mid","workload_id":"chat","prompt_tokens":500,"decode_tokens":200}"#;
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let addr = srv.addr.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut c = Conn::open(&addr).unwrap_or_else(|e| panic!("{e}"));
                let mut seen: Vec<(u64, f64)> = Vec::new();
                let mut failures = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    match c.send("POST", "/v1/project", body.as_bytes()) {
                        Ok(r) if r.status == 200 => {
                            let v = r.json();
                            let header: u64 =
                                r.header("x-ratchet-generation").and_then(|g| g.parse().ok()).unwrap_or(0);
                            let inner = v["provenance"]["generation"].as_u64().unwrap_or(u64::MAX);
                            assert_eq!(header, inner, "header and provenance name one generation");
                            seen.push((header, v["decode_tok_s"].as_f64().unwrap_or(f64::NAN)));
                        }
                        _ => failures += 1,
                    }
                }
                (seen, failures)
            })
        })
        .collect();
    // 100 reloads alternating between two bandwidths; record which one each generation has
    let mut expected: std::collections::HashMap<u64, &str> = std::collections::HashMap::new();
    expected.insert(1, "134.4");
    for i in 0..100u64 {
        let bw = if i % 2 == 0 { "140.0" } else { "134.4" };
        std::fs::write(&file, set_bandwidth(bw)).unwrap_or_else(|e| panic!("{e}"));
        srv.wait_status("the reload", |s| generation(s) == i + 2);
        expected.insert(i + 2, bw);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut total = 0;
    let mut by_bw: std::collections::HashMap<&str, std::collections::BTreeSet<u64>> = Default::default();
    for c in clients {
        let (seen, failures) = c.join().unwrap_or_else(|_| panic!("client panicked"));
        assert_eq!(failures, 0, "no failed requests");
        total += seen.len();
        for (g, decode) in seen {
            let bw = expected.get(&g).copied().unwrap_or_else(|| panic!("unknown generation {g}"));
            by_bw.entry(bw).or_default().insert(decode.to_bits());
        }
    }
    assert!(total > 100, "the clients ran ({total} requests)");
    // every generation with the same data answered the same number, and the two differ
    assert_eq!(by_bw.get("134.4").map(|s| s.len()), Some(1), "{by_bw:?}");
    if let Some(s) = by_bw.get("140.0") {
        assert_eq!(s.len(), 1);
        assert_ne!(s, &by_bw["134.4"]);
    }
    assert_eq!(generation(&srv.status()), 101);
}

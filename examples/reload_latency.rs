//! File write → new generation live, with the default debounce: `cargo run --release
//! --example reload_latency [N]`. Prints p50/p99 of the write-to-live time and of the swap.
use ratchet::reload::{Live, Outcome, watch};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn copy(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap_or_else(|e| panic!("{e}"));
    for e in std::fs::read_dir(from).unwrap_or_else(|e| panic!("{e}")).flatten() {
        let p = e.path();
        if p.is_dir() {
            copy(&p, &to.join(e.file_name()));
        } else {
            std::fs::copy(&p, to.join(e.file_name())).unwrap_or_else(|e| panic!("{e}"));
        }
    }
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    let n: usize = std::env::args().nth(1).and_then(|v| v.parse().ok()).unwrap_or(50);
    let debounce: u64 = std::env::var("DEBOUNCE_MS").ok().and_then(|v| v.parse().ok()).unwrap_or(200);
    let dir = std::env::temp_dir().join(format!("ratchet-reload-{}", std::process::id()));
    let reg = dir.join("registry");
    copy(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("registry"), &reg);
    let cfg = ratchet::EngineConfig { registry: Some(reg.clone()), ..Default::default() };
    let live = Arc::new(Live::start(cfg).unwrap_or_else(|r| panic!("{r:?}")));
    let swaps = Arc::new(Mutex::new(Vec::new()));
    let s2 = swaps.clone();
    let _w = watch(live.clone(), Duration::from_millis(debounce), false, move |o| {
        if let Outcome::Swapped { swap_us, build_ms, .. } = o {
            if let Ok(mut s) = s2.lock() {
                s.push((swap_us, build_ms));
            }
        }
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let file = reg.join("tiers/07-npu-mid.ron");
    let base = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{e}"));
    let mut live_ms = Vec::new();
    for i in 0..n {
        std::thread::sleep(Duration::from_millis(50));
        let before = live.current().id;
        let text = base.replacen(
            "mem_bandwidth_gbs: 134.4",
            &format!("mem_bandwidth_gbs: {}", 134.4 + (i + 1) as f64 * 0.1),
            1,
        );
        let t = Instant::now();
        std::fs::write(&file, text).unwrap_or_else(|e| panic!("{e}"));
        while live.current().id == before {
            if t.elapsed() > Duration::from_secs(10) {
                panic!("no reload");
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        live_ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let s = swaps.lock().map(|s| s.clone()).unwrap_or_default();
    let mut sw: Vec<f64> = s.iter().map(|x| x.0).collect();
    let mut build: Vec<f64> = s.iter().map(|x| x.1).collect();
    println!("debounce {debounce} ms, {n} writes");
    println!("write → live: p50 {:.1} ms, p99 {:.1} ms", pct(&mut live_ms.clone(), 0.5), pct(&mut live_ms, 0.99));
    println!(
        "build (load + validate + compile): p50 {:.1} ms, p99 {:.1} ms",
        pct(&mut build.clone(), 0.5),
        pct(&mut build, 0.99)
    );
    println!("swap: p50 {:.2} µs, p99 {:.2} µs", pct(&mut sw.clone(), 0.5), pct(&mut sw, 0.99));
    let _ = std::fs::remove_dir_all(&dir);
}

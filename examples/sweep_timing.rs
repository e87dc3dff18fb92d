//! Quick timing of drone-soc sweeps (profiling aid):
//! `cargo run --release --example sweep_timing [STEPS]` times the NPU-TOPS sweep;
//! `ALL=1` sweeps every slider (counts only, every core) and lists their rates, slowest first
//! (`PROFILE`, `WORKLOAD` choose the point).
fn main() {
    let cfg = ratchet::EngineConfig {
        packs: vec![ratchet::pack::PackRef::Embedded("drone-soc".into())],
        ..Default::default()
    };
    let out = ratchet::Engine::load(&cfg);
    let e = out.engine.unwrap_or_else(|| panic!("{:#?}", out.report));
    let p = e.packs().unwrap_or_else(|| panic!("no packs"));
    let profile = std::env::var("PROFILE").unwrap_or_else(|_| "fpv-mid".into());
    let workload = std::env::var("WORKLOAD").ok();
    let r =
        ratchet::whatif::Runner::new(&p.sizing, &profile, workload.as_deref(), false).unwrap_or_else(|e| panic!("{e}"));
    let steps: usize = std::env::args().nth(1).and_then(|v| v.parse().ok()).unwrap_or(2_000_000);
    if std::env::var("ALL").is_ok() {
        let mut rows = Vec::new();
        for s in &p.sizing.sliders {
            let name = &s.def.name;
            let _ = r.sweep_counts(name, steps / 10, &[]);
            let start = std::time::Instant::now();
            let c = r.sweep_counts(name, steps, &[]);
            rows.push((steps as f64 / start.elapsed().as_secs_f64() / 1e6, name.clone(), c.is_ok()));
        }
        rows.sort_by(|a, b| a.0.total_cmp(&b.0));
        for (rate, name, ok) in &rows {
            println!("{rate:8.2} M points/s  {name}{}", if *ok { "" } else { " (error)" });
        }
        return;
    }
    let only_counts = std::env::var("ONLY").is_ok();
    for _ in 0..3 {
        let start = std::time::Instant::now();
        let c = r.sweep_counts("npu_tops", steps, &[]).unwrap_or_else(|e| panic!("{e}"));
        let dt = start.elapsed();
        println!(
            "{steps} points in {:.3} s: {:.2} M points/s (viable {})",
            dt.as_secs_f64(),
            steps as f64 / dt.as_secs_f64() / 1e6,
            c.iter().filter(|c| c.viable()).count()
        );
    }
    if only_counts {
        return;
    }
    // one thread, one scratch: the per-point cost without scheduling
    let mut sc = p.sizing.scratch();
    let mut vals = r.values(&[]);
    let si = p.sizing.slider("npu_tops").unwrap_or(0);
    let n = 300_000;
    let start = std::time::Instant::now();
    let mut viable = 0;
    for i in 0..n {
        vals[si] = Some(0.5 + (i as f64) * 1e-3);
        r.eval(&vals, &mut sc).unwrap_or_else(|e| panic!("{e:?}"));
        viable += usize::from(p.sizing.counts(&sc.kpis).viable());
    }
    let dt = start.elapsed();
    println!("single thread: {:.0} ns/point ({viable})", dt.as_nanos() as f64 / n as f64);
    let start = std::time::Instant::now();
    let s = r.sweep("npu_tops", 200_000, &[], None).unwrap_or_else(|e| panic!("{e}"));
    let dt = start.elapsed();
    println!(
        "full rows: 200000 points in {:.3} s: {:.2} M points/s ({} KPIs/point)",
        dt.as_secs_f64(),
        0.2 / dt.as_secs_f64(),
        s.points[0].kpis.len()
    );
}

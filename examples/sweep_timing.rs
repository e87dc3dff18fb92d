//! Quick timing of a drone-soc sweep (profiling aid): `cargo run --release --example sweep_timing [STEPS]`.
fn main() {
    let cfg = ratchet::EngineConfig {
        packs: vec![ratchet::pack::PackRef::Embedded("drone-soc".into())],
        ..Default::default()
    };
    let out = ratchet::Engine::load(&cfg);
    let e = out.engine.unwrap_or_else(|| panic!("{:#?}", out.report));
    let p = e.packs().unwrap_or_else(|| panic!("no packs"));
    let r = ratchet::whatif::Runner::new(&p.sizing, "fpv-mid", None, false).unwrap_or_else(|e| panic!("{e}"));
    let steps: usize = std::env::args().nth(1).and_then(|v| v.parse().ok()).unwrap_or(2_000_000);
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

//! Sweeps every slider of the `drone-soc` pack (200,000 points, counts only, every core) and
//! prints each one's points per second, slowest first (profiling aid for the what-if target).
fn main() {
    let cfg = ratchet::EngineConfig {
        packs: vec![ratchet::pack::PackRef::Embedded("drone-soc".into())],
        ..Default::default()
    };
    let out = ratchet::Engine::load(&cfg);
    let e = out.engine.unwrap_or_else(|| panic!("{:#?}", out.report));
    let p = e.packs().unwrap_or_else(|| panic!("no packs"));
    let m = &p.sizing;
    let profile = std::env::var("PROFILE").unwrap_or_else(|_| "fpv-mid".into());
    let workload = std::env::var("WORKLOAD").unwrap_or_else(|_| "inspection-autonomy".into());
    let r = ratchet::whatif::Runner::new(m, &profile, Some(&workload), false).unwrap_or_else(|e| panic!("{e}"));
    let n: usize = std::env::args().nth(1).and_then(|v| v.parse().ok()).unwrap_or(200_000);
    let mut rows = Vec::new();
    for s in &m.sliders {
        let name = &s.def.name;
        let _ = r.sweep_counts(name, n / 10, &[]);
        let start = std::time::Instant::now();
        let c = r.sweep_counts(name, n, &[]);
        let dt = start.elapsed().as_secs_f64();
        rows.push((n as f64 / dt / 1e6, name.clone(), c.is_ok()));
    }
    rows.sort_by(|a, b| a.0.total_cmp(&b.0));
    for (rate, name, ok) in &rows {
        println!("{rate:8.2} M points/s  {name}{}", if *ok { "" } else { " (error)" });
    }
}

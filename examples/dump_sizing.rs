//! Program sizes of a pack's sizing model (profiling aid): `cargo run --release --example dump_sizing [PACK]`.
fn main() {
    let pack = std::env::args().nth(1).unwrap_or_else(|| "drone-soc".into());
    let cfg = ratchet::EngineConfig { packs: vec![ratchet::pack::PackRef::from_arg(&pack)], ..Default::default() };
    let out = ratchet::Engine::load(&cfg);
    let e = out.engine.unwrap_or_else(|| panic!("{:#?}", out.report));
    let p = e.packs().unwrap_or_else(|| panic!("no packs"));
    let m = &p.sizing;
    let mut total = 0;
    for d in &m.demands {
        println!("demand {:24} {:4} ins {:4} regs", d.def.name, d.program.instructions().len(), d.program.registers());
        total += d.program.instructions().len();
    }
    for &k in &m.evaluation {
        let k = &m.kpis[k];
        println!("kpi    {:24} {:4} ins {:4} regs", k.def.name, k.program.instructions().len(), k.program.registers());
        total += k.program.instructions().len();
    }
    println!(
        "total {total} instructions per point (paths {}, globals {})",
        m.layout.len(),
        m.global_programs.iter().map(|(p, _)| p.instructions().len()).sum::<usize>()
    );
    for s in ["npu_tops", "mem_bw", "camera_fps", "llm_tps"] {
        plan_summary(m, s);
    }
    if let Some(k) = m.kpis.iter().find(|k| k.def.name == "cpu_fits") {
        for (i, ins) in k.program.instructions().iter().enumerate() {
            println!("{i:3} {ins:?}");
        }
    }
}

/// How much of an evaluation a sweep of `slider` re-runs.
pub fn plan_summary(m: &ratchet::sizing::SizingModel, slider: &str) {
    let Some(si) = m.slider(slider) else { return };
    let applied: Vec<bool> = (0..m.sliders.len()).map(|i| i == si).collect();
    let p = m.plan(&[si], &applied);
    let count = |v: &[bool]| v.iter().filter(|x| **x).count();
    println!(
        "sweep {slider}: sliders {}/{} globals {}/{} demands {}/{} kpis {}/{}",
        count(&p.sliders),
        p.sliders.len(),
        count(&p.globals),
        p.globals.len(),
        count(&p.demands),
        p.demands.len(),
        count(&p.kpis),
        p.kpis.len()
    );
    let mut n = 0;
    for (i, k) in m.kpis.iter().enumerate() {
        if p.kpis[i] {
            print!("{}({}) ", k.def.name, k.program.instructions().len());
            n += k.program.instructions().len();
        }
    }
    for (i, (g, _)) in m.global_programs.iter().enumerate() {
        if p.globals[i] {
            print!("g{i}({}) ", g.instructions().len());
            n += g.instructions().len();
        }
    }
    for (i, d) in m.demands.iter().enumerate() {
        if p.demands[i] {
            print!("{}({}) ", d.def.name, d.program.instructions().len());
            n += d.program.instructions().len();
        }
    }
    println!("= {n} instructions");
}

//! What-if throughput on the shipped `drone-soc` pack: a sweep's points per second (counts
//! only, and with every KPI kept), one point, a pareto grid, and the pack load + compile.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ratchet::engine::{Engine, EngineConfig};
use ratchet::pack::PackRef;
use ratchet::whatif::Runner;
use std::hint::black_box;

fn engine() -> Engine {
    let cfg = EngineConfig { packs: vec![PackRef::Embedded("drone-soc".into())], ..Default::default() };
    let out = Engine::load(&cfg);
    out.engine.unwrap_or_else(|| panic!("{:#?}", out.report))
}

fn benches(c: &mut Criterion) {
    let e = engine();
    let p = e.packs().unwrap_or_else(|| panic!("no packs"));
    let m = &p.sizing;
    let r = Runner::new(m, "fpv-mid", Some("inspection-autonomy"), false).unwrap_or_else(|e| panic!("{e}"));

    let mut g = c.benchmark_group("whatif");
    g.sample_size(10);
    const N: usize = 200_000;
    g.throughput(Throughput::Elements(N as u64));
    for slider in ["npu_tops", "camera_fps", "mem_bw"] {
        g.bench_function(format!("sweep_counts/{slider}/200k (all cores)"), |b| {
            b.iter(|| black_box(r.sweep_counts(slider, N, &[]).unwrap_or_else(|e| panic!("{e}"))))
        });
    }
    // every slider of the pack, one after another: the rate over all of them (the slowest
    // ones are listed by `ALL=1 cargo run --release --example sweep_timing`)
    const EACH: usize = 20_000;
    g.throughput(Throughput::Elements((EACH * m.sliders.len()) as u64));
    g.bench_function(format!("sweep_counts/every_slider/{}x20k (all cores)", m.sliders.len()), |b| {
        b.iter(|| {
            for s in &m.sliders {
                black_box(r.sweep_counts(&s.def.name, EACH, &[]).unwrap_or_else(|e| panic!("{e}")));
            }
        })
    });
    g.throughput(Throughput::Elements(20_000));
    g.bench_function("sweep_rows/npu_tops/20k (all cores, every KPI kept)", |b| {
        b.iter(|| black_box(r.sweep("npu_tops", 20_000, &[], None).unwrap_or_else(|e| panic!("{e}"))))
    });
    g.throughput(Throughput::Elements(10_000));
    g.bench_function("pareto/npu_tops×mem_bw/100×100 (all cores)", |b| {
        b.iter(|| black_box(r.pareto("npu_tops", "mem_bw", 100, 100, &[], None).unwrap_or_else(|e| panic!("{e}"))))
    });
    g.throughput(Throughput::Elements(1));
    g.bench_function("point (full evaluation, one thread)", |b| {
        b.iter(|| black_box(r.point(&[("npu_tops".into(), 8.0)]).unwrap_or_else(|e| panic!("{e}"))))
    });
    g.finish();

    let mut g = c.benchmark_group("pack");
    g.sample_size(10);
    g.bench_function("load + compile drone-soc over the registry", |b| b.iter(|| black_box(engine())));
    g.finish();
}

criterion_group!(whatif, benches);
criterion_main!(whatif);

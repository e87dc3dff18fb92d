//! Invariants of the what-if runner, checked on the shipped `drone-soc` pack: incremental
//! sweep points equal full evaluations; sweep values span the range in order; clamping
//! keeps values in range; counts add up.

use proptest::prelude::*;
use ratchet::engine::{Engine, EngineConfig};
use ratchet::pack::{PackRef, PackState};
use ratchet::whatif::{Runner, sweep_values};
use std::sync::OnceLock;

fn pack() -> &'static PackState {
    static P: OnceLock<PackState> = OnceLock::new();
    P.get_or_init(|| {
        let cfg = EngineConfig { packs: vec![PackRef::Embedded("drone-soc".into())], ..Default::default() };
        let out = Engine::load(&cfg);
        let e = out.engine.unwrap_or_else(|| panic!("{:#?}", out.report));
        e.packs().cloned().unwrap_or_else(|| panic!("no packs"))
    })
}

/// `PROPTEST_CASES` (the long run in docs/reliability.md) or a short default.
fn cases(default: u32) -> ProptestConfig {
    let n = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default);
    ProptestConfig { cases: n, ..ProptestConfig::default() }
}

proptest! {
    #![proptest_config(cases(48))]

    #[test]
    fn incremental_sweeps_equal_full_points(
        profile in 0usize..3,
        workload in 0usize..2,
        slider in 0usize..64,
        other in 0usize..64,
        other_value in 0.0f64..1.0,
        steps in 2usize..40,
        defaults in any::<bool>(),
    ) {
        let p = pack();
        let m = &p.sizing;
        let si = slider % m.sliders.len();
        let oi = other % m.sliders.len();
        let r = Runner::new(m, &m.profiles[profile].name, Some(&m.workloads[workload].name), defaults)
            .unwrap_or_else(|e| panic!("{e}"));
        let o = &m.sliders[oi].def;
        let base = vec![(o.name.clone(), o.min_val + (o.max_val - o.min_val) * other_value)];
        let name = m.sliders[si].def.name.clone();
        let sweep = r.sweep(&name, steps, &base, None);
        let counts = r.sweep_counts(&name, steps, &base);
        match (sweep, counts) {
            (Ok(s), Ok(c)) => {
                prop_assert_eq!(s.points.len(), steps);
                for ((v, pt), cnt) in s.values.iter().zip(&s.points).zip(&c) {
                    let mut ov = base.clone();
                    ov.push((name.clone(), *v));
                    let full = r.point(&ov).unwrap_or_else(|e| panic!("{e}"));
                    prop_assert_eq!(&pt.kpis, &full.kpis, "slider {} = {}", name, v);
                    prop_assert_eq!(pt.counts, full.counts);
                    prop_assert_eq!(*cnt, full.counts);
                    prop_assert_eq!(cnt.pass + cnt.warn + cnt.fail <= cnt.total, true);
                }
            }
            (Err(a), Err(b)) => prop_assert_eq!(a, b),
            (a, b) => prop_assert!(false, "sweep and counts disagree: {:?} / {:?}", a.is_ok(), b.is_ok()),
        }
    }

    #[test]
    fn sweep_values_are_inclusive_and_ordered(min in -1e6f64..1e6, span in 0.0f64..1e6, steps in 0usize..200) {
        let v = sweep_values(min, min + span, steps);
        prop_assert_eq!(v.len(), steps.max(2));
        prop_assert_eq!(v[0], min);
        // the reference formula `min + (span·i)/(n−1)` may miss the maximum by an ulp
        let last = *v.last().unwrap_or(&f64::NAN);
        prop_assert!((last - (min + span)).abs() <= 1e-12 * (min + span).abs().max(1.0));
        prop_assert!(v.windows(2).all(|w| w[0] <= w[1]));
    }

    #[test]
    fn clamping_stays_in_range(i in 0usize..64, x in -1e12f64..1e12) {
        let m = &pack().sizing;
        let s = &m.sliders[i % m.sliders.len()];
        let c = s.clamp(x);
        prop_assert!(c >= s.def.min_val && c <= s.def.max_val);
        if x >= s.def.min_val && x <= s.def.max_val {
            prop_assert_eq!(c, x);
        }
    }
}

#[test]
fn grids_equal_full_points() {
    let p = pack();
    let m = &p.sizing;
    let r = Runner::new(m, "fpv-entry", Some("inspection-autonomy"), false).unwrap_or_else(|e| panic!("{e}"));
    let g = r.pareto("npu_tops", "mem_bw", 4, 3, &[], None).unwrap_or_else(|e| panic!("{e}"));
    for (j, row) in g.cells.iter().enumerate() {
        for (i, c) in row.iter().enumerate() {
            let full =
                r.point(&[("npu_tops".into(), g.xs[i]), ("mem_bw".into(), g.ys[j])]).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(c.counts, full.counts);
            let fails: Vec<_> = full.kpis.iter().filter(|k| k.status == m.status_ids[2]).copied().collect();
            assert_eq!(c.failures, fails);
        }
    }
}

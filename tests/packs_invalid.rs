//! Broken packs each give exactly one diagnostic at `file:line:col` (snapshot-tested), and
//! never a panic. Each case edits one line of a copy of the golden what-if pack and the
//! shipped `reference` pack it extends (copied side by side, so the copy is what loads).

mod common;

use ratchet::engine::{Engine, EngineConfig};
use ratchet::pack::PackRef;

/// (case, pack, file, text to replace, replacement)
const CASES: &[(&str, &str, &str, &str, &str)] = &[
    ("kpi-unknown-variable", "reference", "sizing.ron", r#"budget: "cpu_available","#, r#"budget: "cpu_availabel","#),
    (
        "slider-path-missing",
        "whatif-golden",
        "sliders.ron",
        r#"(op: "scale", path: "profile.memory.bw_gbps")"#,
        r#"(op: "scale", path: "profile.memory.bw_gbs")"#,
    ),
    (
        "formula-cycle",
        "reference",
        "sizing.ron",
        r#"workload.llm.precision, 1.0)","#,
        r#"workload.llm.precision, llm_bpp)","#,
    ),
    ("newer-engine", "whatif-golden", "pack.ron", r#"engine: ">=0.1.0","#, r#"engine: ">=9.0.0","#),
    ("bad-engine-range", "whatif-golden", "pack.ron", r#"engine: ">=0.1.0","#, r#"engine: "banana","#),
    ("duplicate-slider", "whatif-golden", "sliders.ron", r#"name: "mem_bw","#, r#"name: "npu_tops","#),
    (
        "sweep-zero-steps",
        "whatif-golden",
        "sizing.ron",
        r#"sweep: "npu_tops", steps: 5"#,
        r#"sweep: "npu_tops", steps: 0"#,
    ),
    (
        "study-unknown-slider",
        "whatif-golden",
        "sizing.ron",
        r#"sweep: "npu_tops", steps: 5"#,
        r#"sweep: "npu_top", steps: 5"#,
    ),
    (
        "unknown-kpi-group",
        "whatif-golden",
        "sizing.ron",
        r#"evaluate: ["npu", "cpu", "memory_bw", "memory_capacity"],"#,
        r#"evaluate: ["npu", "cpu", "memory_bandwidth", "memory_capacity"],"#,
    ),
    (
        "kpi-conflict-without-override",
        "whatif-golden",
        "sizing.ron",
        r#"    evaluate: ["#,
        r#"    kpis: [(name: "cpu_fits", group: "cpu", scope: "chip", target: "cpu", metric: "m", units: "u", required: "1", budget: "2")],
    evaluate: ["#,
    ),
    (
        "undeclared-metric",
        "whatif-golden",
        "sizing.ron",
        r#"memory_capacity_mb: "256.0","#,
        r#"memory_capacity_mb: "256.0", metrics: {"mpix_per_sek": "1.0"},"#,
    ),
    (
        "unknown-profile-path",
        "whatif-golden",
        "sizing.ron",
        r#"cpu_cores_required: "workload.perception.cores","#,
        r#"cpu_cores_required: "workload.perception.corez","#,
    ),
    (
        "unknown-function",
        "reference",
        "sizing.ron",
        r#""memory_capacity_mb": "profile.memory.capacity_gb_max * 1024","#,
        r#""memory_capacity_mb": "flor(profile.memory.capacity_gb_max) * 1024","#,
    ),
    ("type-mismatch", "whatif-golden", "sizing.ron", r#"memory_bw_gbps: "1.0","#, r#"memory_bw_gbps: "\"fast\"","#),
    ("unknown-extends", "whatif-golden", "pack.ron", r#"extends: ["reference"],"#, r#"extends: ["referense"],"#),
    ("ron-syntax", "whatif-golden", "sliders.ron", r#"step: 5.0,"#, r#"step: 5.0"#),
    ("schema-unknown-field", "whatif-golden", "sliders.ron", r#"step: 5.0,"#, r#"stepp: 5.0,"#),
];

fn copy_packs(dir: &std::path::Path) {
    common::copy_dir(&common::root().join("packs/reference"), &dir.join("reference"));
    common::copy_dir(&common::root().join("tests/data/packs/whatif-golden"), &dir.join("whatif-golden"));
}

fn load(dir: &std::path::Path) -> ratchet::engine::EngineOutcome {
    let cfg = EngineConfig { packs: vec![PackRef::Dir(dir.join("whatif-golden"))], ..Default::default() };
    Engine::load(&cfg)
}

#[test]
fn the_copied_packs_load_clean() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    copy_packs(dir.path());
    let out = load(dir.path());
    assert!(out.report.diagnostics.is_empty(), "{:#?}", out.report.diagnostics);
    assert!(out.engine.is_some());
}

#[test]
fn broken_packs_give_one_diagnostic_each() {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(common::root().join("tests/snapshots/packs"));
    settings.set_prepend_module_to_snapshot(false);
    settings.bind(|| {
        for (name, pack, file, from, to) in CASES {
            let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
            copy_packs(dir.path());
            let path = dir.path().join(pack).join(file);
            let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{e}"));
            assert!(text.contains(from), "{name}: {pack}/{file} no longer contains {from}");
            std::fs::write(&path, text.replacen(from, to, 1)).unwrap_or_else(|e| panic!("{e}"));
            let out = load(dir.path());
            let errors: Vec<_> = out.report.diagnostics.iter().filter(|d| d.is_error()).collect();
            assert_eq!(errors.len(), 1, "{name}: {:#?}", out.report.diagnostics);
            assert!(out.engine.is_none(), "{name}: a broken pack must not load");
            let d = errors[0];
            assert!(d.line > 0 && d.col > 0, "{name}: no position: {}", d.one_line());
            let prefix = dir.path().display().to_string();
            let text =
                format!("{}\n\n{}", d.one_line().replace(&prefix, "packs"), d.render().replace(&prefix, "packs"));
            insta::assert_snapshot!(*name, text);
        }
    });
}

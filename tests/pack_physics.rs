//! The shipped drone-soc pack obeys the physics its sliders stand for: each row of `SIGNS`
//! sweeps one slider over its whole range on every profile and workload, through the real binary, and
//! checks that a KPI's required or budget value moves the way physics fixes it. Power rises
//! with NPU TOPS (a larger array leaks more, `npu_static_share`), never falls as an engine
//! gets faster, and more work never costs less.

mod common;

use common::run;
use serde_json::Value;

/// How a value must move as the slider rises.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Sign {
    /// Never falls, and ends above where it started.
    Rises,
    /// Never falls.
    NeverFalls,
    /// Never rises.
    NeverRises,
    /// Never rises, and ends below where it started.
    Falls,
}

/// (slider, KPI, `required` or `budget`, sign).
const SIGNS: &[(&str, &str, &str, Sign)] = &[
    // power: a larger NPU leaks more; more work costs more; a faster engine never costs less
    ("npu_tops", "soc_power", "required", Sign::Rises),
    ("cpu_cores", "soc_power", "required", Sign::NeverFalls),
    ("gpu_gflops", "soc_power", "required", Sign::NeverFalls),
    ("isp_mpix", "soc_power", "required", Sign::NeverFalls),
    ("mem_bw", "soc_power", "required", Sign::NeverFalls),
    ("perception_fps", "soc_power", "required", Sign::NeverFalls),
    ("camera_fps", "soc_power", "required", Sign::NeverFalls),
    ("tdp_w", "soc_power", "budget", Sign::Rises),
    ("thermal_derate_pct", "soc_power", "budget", Sign::Falls),
    // capability shortens the time of the same work
    ("npu_tops", "perception_latency", "required", Sign::NeverRises),
    ("npu_efficiency", "perception_latency", "required", Sign::NeverRises),
    ("vpu_mpix", "g2g_encode_ms", "required", Sign::NeverRises),
    ("dsp_mcycles", "radar_frame_time", "required", Sign::NeverRises),
    ("cpu_clock_ghz", "vio_frame_time", "required", Sign::NeverRises),
    // more work needs more of a resource
    ("perception_fps", "npu_concurrent_workload", "required", Sign::NeverFalls),
    ("perception_fps", "memory_bw_total", "required", Sign::NeverFalls),
    ("camera_fps", "isp_pixel_rate", "required", Sign::Rises),
    ("encode_bitrate_mbps", "comms_link_bandwidth", "required", Sign::Rises),
    ("llm_tps", "memory_bw_total", "required", Sign::NeverFalls),
    // reserving headroom leaves less budget
    ("headroom_npu", "npu_concurrent_workload", "budget", Sign::NeverRises),
];

const PROFILES: &[&str] = &["fpv-entry", "fpv-mid", "autonomy-high"];
const WORKLOADS: &[&str] = &["fpv-racing", "inspection-autonomy"];

/// The KPI's value at each point of a sweep of `slider` on `profile` running `workload` (8
/// evenly spaced points); `None` when the workload has no such KPI.
fn sweep(profile: &str, workload: &str, slider: &str, kpi: &str, field: &str) -> Option<Vec<(f64, f64)>> {
    let (code, out, err) = run(&[
        "whatif",
        "sweep",
        "--pack",
        "drone-soc",
        "--profile",
        profile,
        "--workload",
        workload,
        "--slider",
        slider,
        "--steps",
        "8",
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{profile} {slider}: {err}");
    let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    let rows = v["rows"].as_array().cloned().unwrap_or_default();
    assert!(rows.len() >= 2, "{profile} {slider}: {out}");
    let mut pts = Vec::new();
    for r in &rows {
        let k = r["kpis"].as_array().and_then(|ks| ks.iter().find(|k| k["name"] == kpi)).cloned()?;
        let x = r["value"].as_f64().unwrap_or(f64::NAN);
        let y = k[field].as_f64().unwrap_or_else(|| panic!("{profile} {slider} {kpi}: no number `{field}` in {k}"));
        pts.push((x, y));
    }
    Some(pts)
}

#[test]
fn every_kpi_moves_the_way_physics_fixes_it_on_every_profile() {
    let mut failures = Vec::new();
    let mut checked = vec![0usize; SIGNS.len()];
    for (profile, workload) in PROFILES.iter().flat_map(|p| WORKLOADS.iter().map(move |w| (p, w))) {
        for (i, (slider, kpi, field, sign)) in SIGNS.iter().enumerate() {
            let Some(pts) = sweep(profile, workload, slider, kpi, field) else { continue };
            checked[i] += 1;
            // binary64 rounding only
            let slack = |a: f64, b: f64| 1e-9 * a.abs().max(b.abs()).max(1e-12);
            let never_falls = pts.windows(2).all(|w| w[1].1 >= w[0].1 - slack(w[0].1, w[1].1));
            let never_rises = pts.windows(2).all(|w| w[1].1 <= w[0].1 + slack(w[0].1, w[1].1));
            let (first, last) = (pts[0].1, pts[pts.len() - 1].1);
            let ok = match sign {
                Sign::Rises => never_falls && last > first,
                Sign::NeverFalls => never_falls,
                Sign::NeverRises => never_rises,
                Sign::Falls => never_rises && last < first,
            };
            if !ok {
                failures.push(format!(
                    "{profile} × {workload}: {kpi}.{field} against {slider} should be {sign:?}: {pts:?}"
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // every row of the table is checked somewhere: a renamed KPI cannot silently pass
    for (i, n) in checked.iter().enumerate() {
        assert!(*n > 0, "{:?}: the KPI is in no workload", SIGNS[i]);
    }
}

#[test]
fn npu_power_is_leakage_plus_work_from_the_profile_data() {
    // fpv-mid at the default mission: the NPU term is INT8 peak / (TOPS per W) times the
    // static share plus the dynamic share times its utilisation; doubling the array at the
    // same mission adds exactly the leakage of the added half
    let at = |tops: &str| -> f64 {
        let (code, out, err) = run(&[
            "whatif",
            "point",
            "--pack",
            "drone-soc",
            "--profile",
            "fpv-mid",
            "--set",
            &format!("npu_tops={tops}"),
            "--format",
            "json",
        ]);
        assert_eq!(code, 0, "{err}");
        let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
        let k = v["kpis"].as_array().and_then(|ks| ks.iter().find(|k| k["name"] == "soc_power")).cloned();
        k.and_then(|k| k["required"].as_f64()).unwrap_or_else(|| panic!("{out}"))
    };
    // both sizes carry the mission below full load, so only the leakage differs:
    // (8 - 4) TOPS / 2 TOPS/W x 0.3 = 0.6 W
    let (p4, p8) = (at("4"), at("8"));
    assert!((p8 - p4 - 0.6).abs() < 1e-9, "{p4} W at 4 TOPS, {p8} W at 8 TOPS");
}

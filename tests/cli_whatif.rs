//! The what-if runner and packs through the real binary: formats, Parquet and SVG output,
//! saved studies, visible ladders, pack layering, and edits to a copy of a shipped pack
//! taking effect without a rebuild.

mod common;

use common::{cases, diff, root, run, strip_types};
use serde_json::Value;

fn golden_pack() -> String {
    root().join("tests/data/packs/whatif-golden").display().to_string()
}

fn json(out: &str) -> Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

#[test]
fn point_json_matches_the_golden_point() {
    let want = cases("WhatifRunner.point")
        .into_iter()
        .find(|c| c["inputs"]["profile"] == "small" && c["inputs"]["overrides"] == serde_json::json!({}))
        .unwrap_or_else(|| panic!("golden point"));
    let (code, out, err) =
        run(&["whatif", "point", "--pack", &golden_pack(), "--profile", "small", "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let got = json(&out);
    let want = strip_types(&want["output"]);
    assert_eq!(diff("point", &want["kpis"], &got["kpis"], 0.0), None);
    assert_eq!(diff("point", &want["summary"], &got["summary"], 0.0), None);
}

#[test]
fn sweep_json_matches_the_golden_sweep_and_the_table_shows_every_point() {
    let c = cases("WhatifRunner.sweep")
        .into_iter()
        .find(|c| c["inputs"]["profile"] == "small" && c["inputs"]["slider"] == "npu_tops")
        .unwrap_or_else(|| panic!("golden sweep"));
    let steps = c["inputs"]["steps"].as_u64().unwrap_or(0).to_string();
    let gp = golden_pack();
    let mut args = vec!["whatif", "sweep", "--pack", &gp, "--profile", "small", "--slider", "npu_tops"];
    args.extend(["--steps", steps.as_str(), "--format", "json"]);
    let sets: Vec<String> = c["inputs"]["base_overrides"]
        .as_object()
        .map(|m| m.iter().map(|(k, v)| format!("{k}={v}")).collect())
        .unwrap_or_default();
    for s in &sets {
        args.extend(["--set", s.as_str()]);
    }
    let (code, out, err) = run(&args);
    assert_eq!(code, 0, "{err}");
    let got = json(&out);
    assert_eq!(diff("sweep", &strip_types(&c["output"]["rows"]), &got["rows"], 0.0), None);
    let (code, table, _) = run(&["whatif", "sweep", "--pack", &golden_pack(), "--slider", "npu_tops", "--steps", "5"]);
    assert_eq!(code, 0);
    assert_eq!(table.lines().count(), 2 + 5, "{table}");
}

#[test]
fn pareto_json_matches_the_golden_grid_and_csv_has_one_row_per_cell() {
    let c = cases("WhatifRunner.pareto")
        .into_iter()
        .find(|c| c["inputs"]["profile"] == "small" && c["inputs"]["x"] == "npu_tops")
        .unwrap_or_else(|| panic!("golden pareto"));
    let i = &c["inputs"];
    let (sx, sy) = (i["steps_x"].to_string(), i["steps_y"].to_string());
    let gp = golden_pack();
    let base = ["whatif", "pareto", "--pack", &gp, "--profile", "small", "--x", "npu_tops", "--y", "llm_tps"];
    let mut args = base.to_vec();
    args.extend(["--steps-x", &sx, "--steps-y", &sy, "--format", "json"]);
    let (code, out, err) = run(&args);
    assert_eq!(code, 0, "{err}");
    let got = json(&out);
    let want = strip_types(&c["output"]);
    for k in ["xs", "ys", "cells"] {
        assert_eq!(diff(k, &want[k], &got[k], 0.0), None);
    }
    let mut args = base.to_vec();
    args.extend(["--steps-x", "4", "--steps-y", "3", "--format", "csv"]);
    let (code, csv, _) = run(&args);
    assert_eq!(code, 0);
    assert_eq!(csv.lines().count(), 1 + 12, "{csv}");
    assert!(csv.starts_with("profile,workload,npu_tops,llm_tps,total,pass,warn,fail,viable,failing"), "{csv}");
}

#[test]
fn parquet_and_svg_outputs_are_written() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let pq = dir.path().join("sweep.parquet");
    let svg = dir.path().join("sweep.svg");
    let args = [
        "whatif",
        "sweep",
        "--pack",
        "drone-soc",
        "--slider",
        "npu_tops",
        "--steps",
        "9",
        "--format",
        "json",
        "--out",
        pq.to_str().unwrap_or(""),
        "--plot",
        svg.to_str().unwrap_or(""),
    ];
    let (code, out, err) = run(&args);
    assert_eq!(code, 0, "{err}");
    let rows = json(&out)["rows"].as_array().map(Vec::len).unwrap_or(0);
    assert_eq!(rows, 9);
    // read the Parquet file back: one row per point, the documented columns
    let f = std::fs::File::open(&pq).unwrap_or_else(|e| panic!("{e}"));
    use parquet::file::reader::FileReader;
    let r = parquet::file::reader::SerializedFileReader::new(f).unwrap_or_else(|e| panic!("{e}"));
    let meta = r.metadata();
    assert_eq!(meta.file_metadata().num_rows(), 9);
    let cols: Vec<String> =
        meta.file_metadata().schema_descr().columns().iter().map(|c| c.name().to_string()).collect();
    for c in
        ["profile", "workload", "npu_tops", "total", "pass", "warn", "fail", "viable", "glass_to_glass_ms.margin_pct"]
    {
        assert!(cols.iter().any(|x| x == c), "missing column {c}: {cols:?}");
    }
    let text = std::fs::read_to_string(&svg).unwrap_or_else(|e| panic!("{e}"));
    assert!(text.contains("<svg") && text.contains("glass_to_glass_ms"), "the sweep plot names its KPIs");

    let heat = dir.path().join("grid.svg");
    let args = [
        "whatif",
        "pareto",
        "--pack",
        "drone-soc",
        "--x",
        "npu_tops",
        "--y",
        "mem_bw",
        "--steps-x",
        "5",
        "--steps-y",
        "4",
        "--plot",
        heat.to_str().unwrap_or(""),
    ];
    let (code, _, err) = run(&args);
    assert_eq!(code, 0, "{err}");
    let text = std::fs::read_to_string(&heat).unwrap_or_else(|e| panic!("{e}"));
    assert!(text.matches("<rect").count() >= 20, "one rectangle per cell");
}

#[test]
fn saved_studies_and_slider_listing() {
    let (code, out, err) = run(&["whatif", "study", "npu-sweep", "--pack", &golden_pack(), "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let v = json(&out);
    assert_eq!(v["rows"].as_array().map(Vec::len), Some(5));
    assert_eq!(v["base_overrides"]["llm_tps"], 30.0);
    let (code, out, _) = run(&["whatif", "sliders", "--pack", "drone-soc", "--format", "json"]);
    assert_eq!(code, 0);
    let v = json(&out);
    let sliders = v["sliders"].as_array().cloned().unwrap_or_default();
    assert!(sliders.len() >= 20);
    let cats: std::collections::BTreeSet<&str> = sliders.iter().filter_map(|s| s["category"].as_str()).collect();
    for c in ["capability", "workload", "operating", "headroom"] {
        assert!(cats.contains(c), "{c} in {cats:?}");
    }
    assert_eq!(v["profiles"].as_array().map(Vec::len), Some(3));
}

#[test]
fn bad_arguments_are_usage_errors_with_suggestions() {
    let (code, _, err) = run(&["whatif", "sweep", "--pack", &golden_pack(), "--slider", "npu_tops", "--steps", "0"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("at least 1"), "{err}");
    let (code, _, err) = run(&["whatif", "point", "--pack", &golden_pack(), "--set", "npu_topz=3"]);
    assert_eq!(code, 2);
    assert!(err.contains("did you mean `npu_tops`"), "{err}");
    let (code, _, err) = run(&["whatif", "point", "--pack", &golden_pack(), "--profile", "smal"]);
    assert_eq!(code, 2);
    assert!(err.contains("did you mean `small`"), "{err}");
    let (code, _, err) = run(&["whatif", "point", "--pack", "drone-sock"]);
    assert_ne!(code, 0);
    assert!(err.contains("did you mean `drone-soc`"), "{err}");
    let (code, _, err) = run(&["whatif", "point"]);
    assert_eq!(code, 2);
    assert!(err.contains("--pack"), "{err}");
}

#[test]
fn a_pack_ladder_and_workloads_drive_the_ladder_command() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let svg = dir.path().join("ladder.svg");
    let args = [
        "ladder",
        "--pack",
        "llm-sizer",
        "--model",
        "llama31_8b",
        "--workload",
        "rag_qa",
        "--format",
        "json",
        "--plot",
    ];
    let mut a = args.to_vec();
    a.push(svg.to_str().unwrap_or(""));
    let (code, out, err) = run(&a);
    assert_eq!(code, 0, "{err}");
    let v = json(&out);
    let rows = v["rows"].as_array().cloned().unwrap_or_default();
    assert_eq!(rows.len(), 7, "the pack's visible ladder has 7 rungs");
    assert_eq!(rows[0]["label"], "Entry (LPDDR4X)");
    let text = std::fs::read_to_string(&svg).unwrap_or_else(|e| panic!("{e}"));
    assert!(text.contains("<svg") && text.contains("decode tok/s"));
    // the pack's catalog models are projectable like registry models
    let (code, out, err) =
        run(&["project", "--pack", "llm-sizer", "--model", "mixtral_8x7b", "--tier", "NPU High", "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    assert!(json(&out)["type"].is_string());
}

/// Copies a shipped pack (and the reference pack it extends) side by side.
fn copy_pack(name: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    common::copy_dir(&root().join("packs").join(name), &dir.path().join(name));
    let p = dir.path().join(name);
    (dir, p)
}

#[test]
fn a_kpi_and_a_slider_added_to_a_copy_of_drone_soc_show_up_without_a_rebuild() {
    let (_dir, pack) = copy_pack("drone-soc");
    let sizing = pack.join("sizing.ron");
    let text = std::fs::read_to_string(&sizing).unwrap_or_else(|e| panic!("{e}"));
    let kpi = r#"    kpis: [
        (
            name: "payload_mass_g",
            group: "payload",
            scope: "chip",
            target: "airframe",
            metric: "mass",
            units: "g",
            required: "workload.payload.mass_g",
            budget: "250.0",
        ),"#;
    let text = text.replacen("    kpis: [", kpi, 1);
    let text = text.replacen("evaluate: [", r#"evaluate: ["payload", "#, 1);
    std::fs::write(&sizing, text).unwrap_or_else(|e| panic!("{e}"));
    for w in ["fpv-racing", "inspection-autonomy"] {
        let f = pack.join("workloads").join(format!("{w}.ron"));
        let t = std::fs::read_to_string(&f).unwrap_or_else(|e| panic!("{e}"));
        let t = t.replacen("values: {", "values: {\n        \"payload\": {\"mass_g\": 180.0},", 1);
        std::fs::write(&f, t).unwrap_or_else(|e| panic!("{e}"));
    }
    let sliders = pack.join("sliders.ron");
    let t = std::fs::read_to_string(&sliders).unwrap_or_else(|e| panic!("{e}"));
    let slider = r#"sliders: [
        (
            name: "payload_g",
            category: "workload",
            units: "g",
            default: 180.0,
            min_val: 0.0,
            max_val: 1000.0,
            apply: [(op: "set", path: "workload.payload.mass_g")],
        ),"#;
    std::fs::write(&sliders, t.replacen("sliders: [", slider, 1)).unwrap_or_else(|e| panic!("{e}"));

    let p = pack.to_str().unwrap_or("");
    let (code, out, err) = run(&["whatif", "point", "--pack", p, "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let v = json(&out);
    let k = v["kpis"].as_array().and_then(|a| a.iter().find(|k| k["name"] == "payload_mass_g").cloned());
    let k = k.unwrap_or_else(|| panic!("the new KPI is reported: {out}"));
    assert_eq!((k["required"].as_f64(), k["status"].as_str()), (Some(180.0), Some("PASS")));
    let (code, out, err) = run(&["whatif", "point", "--pack", p, "--set", "payload_g=400", "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let v = json(&out);
    let k = v["kpis"].as_array().and_then(|a| a.iter().find(|k| k["name"] == "payload_mass_g").cloned());
    assert_eq!(k.and_then(|k| k["status"].as_str().map(str::to_string)).as_deref(), Some("FAIL"));
    let (code, out, _) = run(&["whatif", "sliders", "--pack", p]);
    assert_eq!(code, 0);
    assert!(out.contains("payload_g"), "{out}");
}

#[test]
fn pack_layers_add_to_the_registry_and_conflicts_need_an_override() {
    let (_dir, pack) = copy_pack("llm-sizer");
    let tiers = pack.join("registry/tiers");
    std::fs::create_dir_all(&tiers).unwrap_or_else(|e| panic!("{e}"));
    let mid = std::fs::read_to_string(root().join("registry/tiers/07-npu-mid.ron")).unwrap_or_else(|e| panic!("{e}"));
    // a new tier is added …
    let new = mid.replacen("name: \"NPU Mid\"", "name: \"NPU Mid Plus\"", 1);
    std::fs::write(tiers.join("mid-plus.ron"), new).unwrap_or_else(|e| panic!("{e}"));
    let p = pack.to_str().unwrap_or("");
    let (code, out, err) = run(&["tiers", "--pack", p, "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("NPU Mid Plus"));
    // … a redefinition without an override is refused at its file:line:col …
    let changed = mid.replacen("mem_bandwidth_gbs: 134.4", "mem_bandwidth_gbs: 150.0", 1);
    std::fs::write(tiers.join("mid.ron"), &changed).unwrap_or_else(|e| panic!("{e}"));
    let (code, out, _) = run(&["validate", "--pack", p]);
    assert_eq!(code, 1);
    assert!(out.contains("redefines tier `NPU Mid`"), "{out}");
    let (_, out, _) = run(&["validate", "--pack", p, "--format", "json"]);
    let v = json(&out);
    let d = &v["diagnostics"][0];
    assert_eq!(d["code"], "conflict");
    assert!(d["line"].as_u64().unwrap_or(0) > 0 && d["file"].as_str().unwrap_or("").ends_with("mid.ron"));
    // … and accepted once the pack declares it
    let manifest = pack.join("pack.ron");
    let m = std::fs::read_to_string(&manifest).unwrap_or_else(|e| panic!("{e}"));
    let m = m.replacen("extends: [\"reference\"],", "extends: [\"reference\"],\n    overrides: [\"tier/NPU Mid\"],", 1);
    std::fs::write(&manifest, m).unwrap_or_else(|e| panic!("{e}"));
    let (code, out, err) = run(&["show", "tier", "NPU Mid", "--pack", p, "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(json(&out)["mem_bandwidth_gbs"], 150.0);
}

/// `whatif point --explain`: every KPI of the point, each with the paths it read and the
/// named formulas behind it, their arguments substituted; the traced value of the formula a
/// KPI's `required` names is the KPI's required figure, bit for bit.
#[test]
fn an_explained_point_shows_every_kpi_and_the_values_behind_it() {
    let args = ["whatif", "point", "--pack", "drone-soc", "--set", "npu_tops=4", "--explain"];
    let (code, out, err) = run(&[&args[..], &["--format", "json"]].concat());
    assert_eq!(code, 0, "{err}");
    let v = json(&out);
    let kpis = v["kpis"].as_array().unwrap_or_else(|| panic!("{v}"));
    let explained = v["explain"].as_array().unwrap_or_else(|| panic!("{v}"));
    assert_eq!(kpis.len(), explained.len());
    for (k, x) in kpis.iter().zip(explained) {
        assert_eq!(k["name"], x["name"]);
        assert_eq!(k["status"], x["status"], "{}", x["name"]);
        assert_eq!(k["required"].as_f64(), x["required"].as_f64(), "{}", x["name"]);
        let values = x["values"].as_array().unwrap_or_else(|| panic!("{x}"));
        assert!(!values.is_empty(), "{}: nothing traced", x["name"]);
        for val in values {
            let name = val["name"].as_str().unwrap_or("");
            let formula = val["formula"].as_str().unwrap_or("");
            // a path read (no formula), a parameter, or a named formula with its text
            assert!(
                name.starts_with("profile.")
                    || name.starts_with("workload.")
                    || !formula.is_empty()
                    || !name.contains('.'),
                "{}: {val}",
                x["name"]
            );
        }
    }
    // the capture stage's required figure is the named formula it names
    let capture = explained.iter().find(|x| x["name"] == "g2g_capture_isp_ms").unwrap_or_else(|| panic!("{v}"));
    let traced = capture["values"]
        .as_array()
        .and_then(|vs| vs.iter().find(|v| v["name"] == "capture_isp_ms"))
        .unwrap_or_else(|| panic!("{capture}"));
    assert_eq!(traced["value"].as_f64(), capture["required"].as_f64());
    assert!(traced["substituted"].as_str().is_some_and(|s| s.contains("2.0 / 2.0")), "{traced}");

    // the table shows the same, after the KPI table
    let (code, out, err) = run(&args);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("explain (every KPI, in evaluation order)"), "{out}");
    assert!(out.contains("g2g_capture_isp_ms: PASS"), "{out}");
    assert!(out.contains("  capture_isp_ms = workload.camera.exposure_ms / 2.0"), "{out}");
}

#[test]
fn slider_values_must_be_offered_by_their_slider_and_sweeps_run_on_its_step() {
    let point = |set: &str| run(&["whatif", "point", "--pack", "drone-soc", "--set", set, "--format", "json"]);
    // outside the declared range, off the step, an unknown name: refused, naming the value
    let (code, out, err) = point("npu_tops=1000");
    assert_eq!((code, out.as_str()), (2, ""), "{err}");
    assert!(err.contains("slider `npu_tops` = 1000.0 is outside its range [0.5, 400.0 TOPS (INT8)]"), "{err}");
    let (code, _, err) = point("npu_tops=21.5263");
    assert_eq!(code, 2);
    assert!(err.contains("is not on its step of 0.5 from 0.5 (nearest: 21.5 or 22.0 TOPS (INT8))"), "{err}");
    let (code, _, err) = point("npu_tpos=20");
    assert_eq!(code, 2);
    assert!(err.contains("did you mean `npu_tops`?"), "{err}");
    // on the step, at the default, at the maximum: accepted
    for ok in ["npu_tops=21.5", "npu_tops=2", "npu_tops=400", "mem_bw=25.6"] {
        let (code, _, err) = point(ok);
        assert_eq!(code, 0, "{ok}: {err}");
    }

    // a sweep without --steps: every value on the slider's step, first to last
    let (code, out, err) = run(&[
        "whatif",
        "sweep",
        "--pack",
        "drone-soc",
        "--slider",
        "npu_tops",
        "--from",
        "2",
        "--to",
        "4",
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{err}");
    let values: Vec<f64> = json(&out)["rows"]
        .as_array()
        .map(|r| r.iter().filter_map(|x| x["value"].as_f64()).collect())
        .unwrap_or_default();
    assert_eq!(values, vec![2.0, 2.5, 3.0, 3.5, 4.0]);
    let (code, out, _) = run(&["whatif", "sweep", "--pack", "drone-soc", "--slider", "cpu_cores", "--format", "json"]);
    assert_eq!(code, 0);
    assert_eq!(json(&out)["rows"].as_array().map(Vec::len), Some(16), "1..16 cores, step 1");
    let (code, _, err) =
        run(&["whatif", "sweep", "--pack", "drone-soc", "--slider", "npu_tops", "--from", "2.2", "--format", "json"]);
    assert_eq!(code, 2);
    assert!(err.contains("not on its step"), "{err}");

    // a pack without sliders says so, naming the packs that have some
    let (code, _, err) = run(&["whatif", "sliders", "--pack", "llm-sizer"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("`llm-sizer`") && err.contains("no sliders or profiles") && err.contains("drone-soc"),
        "{err}"
    );
}

#[test]
fn http_checks_slider_values_and_sweeps_on_the_step() {
    let srv = common::http::Server::start(&["--no-watch"]);
    let r =
        common::http::post(&srv.addr, "/v1/whatif/point", r#"{"pack": "drone-soc", "overrides": {"npu_tops": 1000}}"#);
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body.contains("is outside its range"), "{}", r.body);
    let r = common::http::post(&srv.addr, "/v1/whatif/sweep", r#"{"pack": "drone-soc", "slider": "cpu_cores"}"#);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["rows"].as_array().map(Vec::len), Some(16));
    // batch lines keep the reference's runner: clamped, unknown names skipped
    use std::io::Write;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_ratchet"))
        .arg("batch")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    let line = r#"{"op": "whatif_point", "pack": "drone-soc", "overrides": {"npu_tops": 1000, "nope": 1}}"#;
    child.stdin.take().map(|mut s| writeln!(s, "{line}")).transpose().unwrap_or_else(|e| panic!("{e}"));
    let out = child.wait_with_output().unwrap_or_else(|e| panic!("{e}"));
    let out = String::from_utf8_lossy(&out.stdout);
    assert!(out.contains("\"summary\""), "{out}");
}

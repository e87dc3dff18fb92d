//! `ratchet whatif point|sweep|pareto|study|sliders`.

use super::frame::{Col, Frame};
use super::table::{Table, fmt_num};
use super::{DataArgs, EXIT_INVALID, EXIT_OK, EXIT_USAGE, load_engine};
use crate::diagnostic::did_you_mean;
use crate::pack::PackState;
use crate::sizing::SizingModel;
use crate::whatif::{Cell, Pareto, Point, Runner, Sweep};
use clap::{Args, Subcommand, ValueEnum};
use serde_json::{Value, json};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub(super) enum OutFormat {
    Table,
    Json,
    Csv,
}

#[derive(Debug, Args)]
pub(super) struct Common {
    #[command(flatten)]
    data: DataArgs,
    /// Profile (the pack's default profile when absent).
    #[arg(long)]
    profile: Option<String>,
    /// Workload (the pack's default workload when absent).
    #[arg(long)]
    workload: Option<String>,
    /// Slider override, repeatable: `--set npu_tops=80`.
    #[arg(long = "set", value_name = "SLIDER=VALUE")]
    set: Vec<String>,
    /// Output format on stdout.
    #[arg(long, value_enum, default_value = "table")]
    format: OutFormat,
    /// Also write one row per point to this Parquet file.
    #[arg(long, value_name = "FILE.parquet")]
    out: Option<PathBuf>,
    /// Also draw an SVG plot: margins along a sweep, failing-KPI counts over a grid.
    #[arg(long, value_name = "FILE.svg")]
    plot: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub(super) enum WhatifCmd {
    /// One point: a profile with slider overrides → KPIs and a chip summary.
    Point {
        #[command(flatten)]
        common: Common,
        /// Also show, per KPI, every path it read and every formula behind it with its
        /// inputs and value.
        #[arg(long)]
        explain: bool,
    },
    /// One slider on its own step from its minimum (or `--from`) to its maximum (or `--to`);
    /// with `--steps N`, in N evenly spaced points instead (the reference's sweep).
    Sweep {
        #[command(flatten)]
        common: Common,
        /// Slider to sweep.
        #[arg(long)]
        slider: String,
        /// Evenly spaced points from the slider's minimum to its maximum (at least 2 are
        /// evaluated), instead of the slider's step.
        #[arg(long, conflicts_with_all = ["from", "to"])]
        steps: Option<usize>,
        /// First value (on the slider's step; its minimum when absent).
        #[arg(long, allow_negative_numbers = true)]
        from: Option<f64>,
        /// Last value (on the slider's step; its maximum when absent).
        #[arg(long, allow_negative_numbers = true)]
        to: Option<f64>,
    },
    /// A two-slider grid; each cell a chip summary.
    Pareto {
        #[command(flatten)]
        common: Common,
        /// Slider along x.
        #[arg(long)]
        x: String,
        /// Slider along y.
        #[arg(long)]
        y: String,
        /// Points along x.
        #[arg(long, default_value_t = 11)]
        steps_x: usize,
        /// Points along y.
        #[arg(long, default_value_t = 11)]
        steps_y: usize,
    },
    /// Run a study saved in the pack (`studies` in `sizing.ron`).
    Study {
        /// Study name.
        name: String,
        #[command(flatten)]
        common: Common,
    },
    /// List the sliders, profiles, workloads and studies of the packs.
    Sliders {
        #[command(flatten)]
        data: DataArgs,
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: OutFormat,
    },
}

fn pack_of(engine: &crate::engine::Engine) -> Result<std::sync::Arc<PackState>, i32> {
    match engine.packs() {
        Some(p) if !p.sizing.sliders.is_empty() || !p.sizing.profiles.is_empty() => Ok(std::sync::Arc::new(p.clone())),
        Some(p) => {
            let names: Vec<String> = p.packs.iter().map(|x| format!("`{}`", x.name)).collect();
            eprintln!(
                "error: the loaded pack{} {} {} no sliders or profiles (a what-if needs a pack that sizes a chip: {})",
                if names.len() == 1 { "" } else { "s" },
                names.join(", "),
                if names.len() == 1 { "has" } else { "have" },
                sizing_pack_names().join(", ")
            );
            Err(EXIT_USAGE)
        }
        None => {
            eprintln!(
                "error: no pack with profiles and sliders is loaded; add `--pack DIR` (shipped packs: {})",
                crate::pack::embedded_names().join(", ")
            );
            Err(EXIT_USAGE)
        }
    }
}

/// The shipped packs that size a chip: loaded (with what they extend), they have sliders or
/// profiles — the same test `pack_of` applies.
fn sizing_pack_names() -> Vec<String> {
    crate::pack::embedded_names()
        .into_iter()
        .filter(|n| {
            let mut report = crate::diagnostic::Report::default();
            let stack = crate::pack::load(&[crate::pack::PackRef::Embedded(n.clone())], &mut report);
            !report.has_errors() && (!stack.sizing.sliders.is_empty() || !stack.sizing.profiles.is_empty())
        })
        .collect()
}

fn parse_sets(m: &SizingModel, sets: &[String]) -> Result<Vec<(String, f64)>, String> {
    let mut out = Vec::new();
    for s in sets {
        let Some((k, v)) = s.split_once('=') else {
            return Err(format!("`--set {s}`: expected `SLIDER=VALUE`"));
        };
        let k = k.trim();
        if m.slider(k).is_none() {
            let help = did_you_mean(k, m.sliders.iter().map(|s| s.def.name.as_str()))
                .map(|h| format!(" ({h})"))
                .unwrap_or_default();
            return Err(format!("unknown slider `{k}`{help}"));
        }
        let x: f64 = v.trim().parse().map_err(|_| format!("`--set {s}`: `{}` is not a number", v.trim()))?;
        if !x.is_finite() {
            return Err(format!("`--set {s}`: the value must be finite"));
        }
        out.push((k.to_string(), x));
    }
    // a value the slider does not offer is refused, not clamped (the reference clamps)
    crate::whatif::check_slider_values(m, &out).map_err(|e| e.message)?;
    Ok(out)
}

/// The runner for the chosen profile and workload, and the `--set` overrides; a usage error
/// is printed and becomes the exit code.
fn runner<'m>(pack: &'m PackState, c: &Common) -> Result<(Runner<'m>, Vec<(String, f64)>), i32> {
    let sets = parse_sets(&pack.sizing, &c.set).map_err(|e| {
        eprintln!("error: {e}");
        EXIT_USAGE
    })?;
    let profile = match c.profile.clone().or_else(|| pack.whatif.default_profile.clone()) {
        Some(p) => p,
        None => match pack.sizing.profiles.first() {
            Some(p) => p.name.clone(),
            None => {
                eprintln!("error: the packs have no profiles");
                return Err(EXIT_USAGE);
            }
        },
    };
    let workload = c.workload.clone().or_else(|| pack.whatif.default_workload.clone());
    let r =
        Runner::new(&pack.sizing, &profile, workload.as_deref(), pack.whatif.apply_slider_defaults).map_err(|e| {
            eprintln!("error: {e}");
            EXIT_USAGE
        })?;
    Ok((r, sets))
}

/// A progress bar on stderr, shown only on a terminal and only after a second.
struct Progress {
    bar: indicatif::ProgressBar,
    start: std::time::Instant,
    shown: std::sync::atomic::AtomicBool,
    tty: bool,
}

impl Progress {
    fn new(total: usize) -> Self {
        let bar = indicatif::ProgressBar::with_draw_target(Some(total as u64), indicatif::ProgressDrawTarget::hidden());
        if let Ok(style) =
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} points · {per_sec} · eta {eta}")
        {
            bar.set_style(style);
        }
        Progress {
            bar,
            start: std::time::Instant::now(),
            shown: std::sync::atomic::AtomicBool::new(false),
            tty: std::io::stderr().is_terminal(),
        }
    }

    fn tick(&self, n: usize) {
        self.bar.inc(n as u64);
        if self.tty
            && self.start.elapsed() > std::time::Duration::from_secs(1)
            && !self.shown.swap(true, std::sync::atomic::Ordering::Relaxed)
        {
            self.bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
        }
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// Every KPI name of a set of points, in first-seen order.
fn kpi_names(r: &Runner<'_>, points: &[&Point]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for p in points {
        for k in r.kpis_json(p) {
            let n = k["name"].as_str().unwrap_or("").to_string();
            if !names.contains(&n) {
                names.push(n);
            }
        }
    }
    names
}

/// One row per point: the slider values, the verdict counts and per KPI its figures.
fn points_frame(r: &Runner<'_>, xcols: &[(String, Vec<f64>)], points: &[&Point]) -> Frame {
    let mut f = Frame::default();
    let n = points.len();
    f.push("profile", Col::Str(vec![Some(r.model.profiles[r.profile].name.clone()); n]));
    f.push("workload", Col::Str(vec![r.workload.map(|w| r.model.workloads[w].name.clone()); n]));
    for (name, vals) in xcols {
        f.push(name.clone(), Col::F64(vals.iter().map(|v| Some(*v)).collect()));
    }
    let counts: Vec<_> = points.iter().map(|p| p.counts).collect();
    f.push("total", Col::I64(counts.iter().map(|c| Some(i64::from(c.total))).collect()));
    f.push("pass", Col::I64(counts.iter().map(|c| Some(i64::from(c.pass))).collect()));
    f.push("warn", Col::I64(counts.iter().map(|c| Some(i64::from(c.warn))).collect()));
    f.push("fail", Col::I64(counts.iter().map(|c| Some(i64::from(c.fail))).collect()));
    f.push("viable", Col::Bool(counts.iter().map(|c| Some(c.viable())).collect()));
    let rendered: Vec<Vec<Value>> = points.iter().map(|p| r.kpis_json(p)).collect();
    for name in kpi_names(r, points) {
        let find = |i: usize| rendered[i].iter().find(|k| k["name"] == name.as_str());
        let num = |k: &str| Col::F64((0..n).map(|i| find(i).and_then(|x| x[k].as_f64())).collect());
        f.push(format!("{name}.required"), num("required"));
        f.push(format!("{name}.budget"), num("budget"));
        f.push(format!("{name}.margin_pct"), num("margin_pct"));
        f.push(
            format!("{name}.status"),
            Col::Str((0..n).map(|i| find(i).and_then(|x| x["status"].as_str().map(str::to_string))).collect()),
        );
    }
    f
}

fn grid_frame(r: &Runner<'_>, x: &str, y: &str, p: &Pareto) -> Frame {
    let mut f = Frame::default();
    let cells: Vec<(f64, f64, &Cell)> = p
        .cells
        .iter()
        .enumerate()
        .flat_map(|(j, row)| row.iter().enumerate().map(move |(i, c)| (p.xs[i], p.ys[j], c)))
        .collect();
    let n = cells.len();
    f.push("profile", Col::Str(vec![Some(r.model.profiles[r.profile].name.clone()); n]));
    f.push("workload", Col::Str(vec![r.workload.map(|w| r.model.workloads[w].name.clone()); n]));
    f.push(x, Col::F64(cells.iter().map(|c| Some(c.0)).collect()));
    f.push(y, Col::F64(cells.iter().map(|c| Some(c.1)).collect()));
    f.push("total", Col::I64(cells.iter().map(|c| Some(i64::from(c.2.counts.total))).collect()));
    f.push("pass", Col::I64(cells.iter().map(|c| Some(i64::from(c.2.counts.pass))).collect()));
    f.push("warn", Col::I64(cells.iter().map(|c| Some(i64::from(c.2.counts.warn))).collect()));
    f.push("fail", Col::I64(cells.iter().map(|c| Some(i64::from(c.2.counts.fail))).collect()));
    f.push("viable", Col::Bool(cells.iter().map(|c| Some(c.2.counts.viable())).collect()));
    let failing: Vec<Option<String>> = cells
        .iter()
        .map(|c| {
            let j = r.cell_json(c.2);
            let names: Vec<&str> = j["failures"]
                .as_array()
                .map(|a| a.iter().filter_map(|x| x["name"].as_str()).collect())
                .unwrap_or_default();
            Some(names.join(";"))
        })
        .collect();
    f.push("failing", Col::Str(failing));
    f
}

fn summary_line(c: &crate::sizing::Counts) -> String {
    format!(
        "{} KPIs: {} pass, {} warn, {} fail — {}",
        c.total,
        c.pass,
        c.warn,
        c.fail,
        if c.viable() { "viable" } else { "not viable" }
    )
}

fn point_table(r: &Runner<'_>, p: &Point) -> String {
    let mut t = Table::new(
        &["", "KPI", "required", "budget", "units", "margin %", "scope"],
        &[false, false, true, true, false, true, false],
    );
    for k in r.kpis_json(p) {
        let f = |n: &str| k[n].as_f64().map(|x| fmt_num(x, 3)).unwrap_or_default();
        t.row(vec![
            k["emoji"].as_str().unwrap_or("").to_string(),
            k["name"].as_str().unwrap_or("").to_string(),
            f("required"),
            f("budget"),
            k["units"].as_str().unwrap_or("").to_string(),
            k["margin_pct"].as_f64().map(|x| fmt_num(x, 1)).unwrap_or_default(),
            k["scope"].as_str().unwrap_or("").to_string(),
        ]);
    }
    let mut s = t.render();
    s.push_str(&summary_line(&p.counts));
    s.push('\n');
    s
}

/// Each KPI of an explained point: its verdict, then the values behind it in evaluation order.
fn explanation(kpis: &[crate::whatif::ExplainedKpi]) -> String {
    use std::fmt::Write as _;
    let mut s = String::from("\nexplain (every KPI, in evaluation order)\n");
    for k in kpis {
        let about = k.demand.as_ref().map(|d| format!(" · {d}")).unwrap_or_default();
        let _ = writeln!(
            s,
            "\n{}{about}: {} — required {} against budget {} (margin {} %)",
            k.name,
            k.status,
            fmt_num(k.required, 4),
            fmt_num(k.budget, 4),
            fmt_num(k.margin_pct, 1)
        );
        s.push_str(&super::render::values(&k.values));
    }
    s
}

fn sweep_table(r: &Runner<'_>, slider: &str, s: &Sweep) -> String {
    let mut t = Table::new(
        &[slider, "pass", "warn", "fail", "viable", "tightest KPI", "margin %"],
        &[true, true, true, true, false, false, true],
    );
    for (v, p) in s.values.iter().zip(&s.points) {
        let kpis = r.kpis_json(p);
        let worst = kpis.iter().min_by(|a, b| {
            let (x, y) = (a["margin_pct"].as_f64().unwrap_or(0.0), b["margin_pct"].as_f64().unwrap_or(0.0));
            x.total_cmp(&y)
        });
        t.row(vec![
            fmt_num(*v, 4),
            p.counts.pass.to_string(),
            p.counts.warn.to_string(),
            p.counts.fail.to_string(),
            if p.counts.viable() { "✅".into() } else { "❌".into() },
            worst.and_then(|k| k["name"].as_str()).unwrap_or("").to_string(),
            worst.and_then(|k| k["margin_pct"].as_f64()).map(|x| fmt_num(x, 1)).unwrap_or_default(),
        ]);
    }
    t.render()
}

fn pareto_table(x: &str, y: &str, p: &Pareto) -> String {
    let mut head = vec![format!("{y} \\ {x}")];
    head.extend(p.xs.iter().map(|v| fmt_num(*v, 3)));
    let heads: Vec<&str> = head.iter().map(String::as_str).collect();
    let right: Vec<bool> = (0..heads.len()).map(|i| i > 0).collect();
    let mut t = Table::new(&heads, &right);
    for (j, row) in p.cells.iter().enumerate() {
        let mut cells = vec![fmt_num(p.ys[j], 3)];
        cells.extend(
            row.iter().map(|c| if c.counts.viable() { "✅".to_string() } else { format!("❌{}", c.counts.fail) }),
        );
        t.row(cells);
    }
    let mut s = t.render();
    s.push_str("cells: ✅ viable, ❌N = N failing KPIs\n");
    s
}

fn write_out(c: &Common, frame: &Frame) -> Result<(), i32> {
    if let Some(path) = &c.out {
        if let Err(e) = frame.parquet(path) {
            eprintln!("error: {e}");
            return Err(EXIT_USAGE);
        }
        eprintln!("wrote {} rows to {}", frame.rows(), path.display());
    }
    Ok(())
}

fn emit(text: &str) -> i32 {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    EXIT_OK
}

/// Runs `ratchet whatif …`.
pub(super) fn run(cmd: WhatifCmd) -> i32 {
    match cmd {
        WhatifCmd::Sliders { data, format } => sliders(&data, format),
        WhatifCmd::Point { common, explain } => with_pack(&common, |pack, c| point(pack, c, explain)),
        WhatifCmd::Sweep { common, slider, steps, from, to } => {
            with_pack(&common, |pack, c| sweep(pack, c, &slider, Spacing { steps, from, to }))
        }
        WhatifCmd::Pareto { common, x, y, steps_x, steps_y } => {
            with_pack(&common, |pack, c| pareto(pack, c, &x, &y, steps_x, steps_y))
        }
        WhatifCmd::Study { name, common } => with_pack(&common, |pack, c| {
            let Some(st) = pack.sizing.studies.iter().find(|s| s.name == name).cloned() else {
                let help = did_you_mean(&name, pack.sizing.studies.iter().map(|s| s.name.as_str()))
                    .map(|h| format!(" ({h})"))
                    .unwrap_or_default();
                eprintln!("error: unknown study `{name}`{help}");
                return EXIT_USAGE;
            };
            let mut sets: Vec<String> = st.overrides.iter().map(|(k, v)| format!("{k}={v}")).collect();
            sets.extend(c.set.iter().cloned());
            let c2 = Common {
                data: c.data.clone(),
                profile: c.profile.clone().or(Some(st.profile.clone())),
                workload: c.workload.clone().or(st.workload.clone()),
                set: sets,
                format: c.format,
                out: c.out.clone(),
                plot: c.plot.clone(),
            };
            match (&st.sweep, &st.pareto) {
                (Some(s), _) => sweep(pack, &c2, s, Spacing { steps: Some(st.steps as usize), from: None, to: None }),
                (None, Some((x, y))) => {
                    pareto(pack, &c2, x, y, st.steps as usize, st.steps_y.unwrap_or(st.steps) as usize)
                }
                _ => EXIT_USAGE,
            }
        }),
    }
}

fn with_pack(c: &Common, f: impl FnOnce(&PackState, &Common) -> i32) -> i32 {
    let engine = match load_engine(&c.data) {
        Ok(e) => e,
        Err(code) => return code,
    };
    match pack_of(&engine) {
        Ok(p) => f(&p, c),
        Err(code) => code,
    }
}

fn point(pack: &PackState, c: &Common, explain: bool) -> i32 {
    let (r, sets) = match runner(pack, c) {
        Ok(rs) => rs,
        Err(code) => return code,
    };
    let p = match r.point(&sets) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_INVALID;
        }
    };
    let explained = match explain.then(|| r.explain(&sets)).transpose() {
        Ok(x) => x,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_INVALID;
        }
    };
    let frame = points_frame(&r, &[], &[&p]);
    if let Err(code) = write_out(c, &frame) {
        return code;
    }
    if c.plot.is_some() {
        eprintln!("note: `--plot` draws sweeps and grids; a point has nothing to plot");
    }
    match c.format {
        OutFormat::Table => {
            let mut text = point_table(&r, &p);
            if let Some(x) = &explained {
                text.push_str(&explanation(x));
            }
            emit(&text)
        }
        OutFormat::Csv => emit(&frame.csv()),
        OutFormat::Json => {
            let kpis = r.kpis_json(&p);
            let mut v = json!({
                "profile": r.model.profiles[r.profile].name,
                "workload": r.workload.map(|w| r.model.workloads[w].name.clone()),
                "overrides": crate::whatif::overrides_json(&sets),
                "summary": SizingModel::summary_json(&kpis),
                "kpis": kpis,
            });
            if let (Some(x), Value::Object(m)) = (&explained, &mut v) {
                m.insert("explain".into(), serde_json::to_value(x).unwrap_or_default());
            }
            emit(&(serde_json::to_string_pretty(&v).unwrap_or_default() + "\n"))
        }
    }
}

/// Where a sweep's points lie: N evenly spaced (the reference), or on the slider's step.
struct Spacing {
    steps: Option<usize>,
    from: Option<f64>,
    to: Option<f64>,
}

fn sweep(pack: &PackState, c: &Common, slider: &str, at: Spacing) -> i32 {
    if at.steps == Some(0) {
        eprintln!("error: `--steps` must be at least 1 (a sweep evaluates at least 2 points)");
        return EXIT_USAGE;
    }
    let (r, sets) = match runner(pack, c) {
        Ok(rs) => rs,
        Err(code) => return code,
    };
    if pack.sizing.slider(slider).is_none() {
        let help = did_you_mean(slider, pack.sizing.sliders.iter().map(|s| s.def.name.as_str()))
            .map(|h| format!(" ({h})"))
            .unwrap_or_default();
        eprintln!("error: unknown slider `{slider}`{help}");
        return EXIT_USAGE;
    }
    let values = match at.steps {
        Some(_) => None,
        None => match crate::whatif::step_values(&pack.sizing, slider, at.from, at.to) {
            Ok(v) => Some(v),
            Err(e) => {
                eprintln!("error: {}", e.message);
                return EXIT_USAGE;
            }
        },
    };
    let progress = Progress::new(values.as_ref().map_or(at.steps.unwrap_or(2).max(2), Vec::len));
    let tick = |n: usize| progress.tick(n);
    let s = match values {
        Some(v) => r.sweep_at(slider, v, &sets, Some(&tick)),
        None => r.sweep(slider, at.steps.unwrap_or(2), &sets, Some(&tick)),
    };
    progress.finish();
    let s = match s {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_INVALID;
        }
    };
    let refs: Vec<&Point> = s.points.iter().collect();
    let frame = points_frame(&r, &[(slider.to_string(), s.values.clone())], &refs);
    if let Err(code) = write_out(c, &frame) {
        return code;
    }
    if let Some(path) = &c.plot {
        let names = kpi_names(&r, &refs);
        let rendered: Vec<Vec<Value>> = refs.iter().map(|p| r.kpis_json(p)).collect();
        let series: Vec<(String, Vec<Option<f64>>)> = names
            .iter()
            .map(|n| {
                let ys = rendered
                    .iter()
                    .map(|ks| ks.iter().find(|k| k["name"] == n.as_str()).and_then(|k| k["margin_pct"].as_f64()))
                    .collect();
                (n.clone(), ys)
            })
            .collect();
        let units = pack.sizing.slider(slider).map(|i| pack.sizing.sliders[i].def.units.clone()).unwrap_or_default();
        let title = format!("KPI margins along {slider} · {}", r.model.profiles[r.profile].name);
        if let Err(e) = super::plot::sweep(path, &title, &format!("{slider} ({units})"), &s.values, &series) {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
        eprintln!("wrote {}", path.display());
    }
    match c.format {
        OutFormat::Table => emit(&sweep_table(&r, slider, &s)),
        OutFormat::Csv => emit(&frame.csv()),
        OutFormat::Json => {
            let rows: Vec<Value> = s
                .values
                .iter()
                .zip(&s.points)
                .map(|(v, p)| {
                    let kpis = r.kpis_json(p);
                    json!({"value": crate::sizing::num(*v), "summary": SizingModel::summary_json(&kpis), "kpis": kpis})
                })
                .collect();
            emit(
                &(serde_json::to_string_pretty(&json!({
                    "profile": r.model.profiles[r.profile].name,
                    "slider": slider,
                    "base_overrides": crate::whatif::overrides_json(&sets),
                    "rows": rows,
                }))
                .unwrap_or_default()
                    + "\n"),
            )
        }
    }
}

fn pareto(pack: &PackState, c: &Common, x: &str, y: &str, steps_x: usize, steps_y: usize) -> i32 {
    if steps_x == 0 || steps_y == 0 {
        eprintln!("error: `--steps-x` and `--steps-y` must be at least 1 (each axis has at least 2 points)");
        return EXIT_USAGE;
    }
    let (r, sets) = match runner(pack, c) {
        Ok(rs) => rs,
        Err(code) => return code,
    };
    for s in [x, y] {
        if pack.sizing.slider(s).is_none() {
            let help = did_you_mean(s, pack.sizing.sliders.iter().map(|s| s.def.name.as_str()))
                .map(|h| format!(" ({h})"))
                .unwrap_or_default();
            eprintln!("error: unknown slider `{s}`{help}");
            return EXIT_USAGE;
        }
    }
    let progress = Progress::new(steps_x.max(2) * steps_y.max(2));
    let tick = |n: usize| progress.tick(n);
    let p = r.pareto(x, y, steps_x, steps_y, &sets, Some(&tick));
    progress.finish();
    let p = match p {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_INVALID;
        }
    };
    let frame = grid_frame(&r, x, y, &p);
    if let Err(code) = write_out(c, &frame) {
        return code;
    }
    if let Some(path) = &c.plot {
        let fails: Vec<Vec<u32>> = p.cells.iter().map(|row| row.iter().map(|c| c.counts.fail).collect()).collect();
        let title = format!("failing KPIs · {} · {y} vs {x}", r.model.profiles[r.profile].name);
        if let Err(e) = super::plot::heatmap(path, &title, (x, &p.xs), (y, &p.ys), &fails) {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
        eprintln!("wrote {}", path.display());
    }
    match c.format {
        OutFormat::Table => emit(&pareto_table(x, y, &p)),
        OutFormat::Csv => emit(&frame.csv()),
        OutFormat::Json => {
            let cells: Vec<Value> =
                p.cells.iter().map(|row| Value::Array(row.iter().map(|c| r.cell_json(c)).collect())).collect();
            emit(
                &(serde_json::to_string_pretty(&json!({
                    "profile": r.model.profiles[r.profile].name,
                    "x_slider": x,
                    "y_slider": y,
                    "base_overrides": crate::whatif::overrides_json(&sets),
                    "xs": p.xs,
                    "ys": p.ys,
                    "cells": cells,
                }))
                .unwrap_or_default()
                    + "\n"),
            )
        }
    }
}

fn sliders(data: &DataArgs, format: OutFormat) -> i32 {
    let engine = match load_engine(data) {
        Ok(e) => e,
        Err(code) => return code,
    };
    let pack = match pack_of(&engine) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let m = &pack.sizing;
    match format {
        OutFormat::Json => {
            let v = json!({
                "sliders": m.sliders.iter().map(|s| &s.def).collect::<Vec<_>>(),
                "profiles": m.profiles.iter().map(|p| json!({"name": p.name, "description": p.description})).collect::<Vec<_>>(),
                "workloads": m.workloads.iter().map(|p| json!({"name": p.name, "description": p.description})).collect::<Vec<_>>(),
                "studies": m.studies,
                "kpi_groups": m.evaluate_groups,
            });
            emit(&(serde_json::to_string_pretty(&v).unwrap_or_default() + "\n"))
        }
        OutFormat::Table | OutFormat::Csv => {
            let mut t = Table::new(
                &["slider", "category", "units", "default", "min", "max", "step", "changes"],
                &[false, false, false, true, true, true, true, false],
            );
            for s in &m.sliders {
                let d = &s.def;
                let changes: Vec<String> = d
                    .apply
                    .iter()
                    .map(|a| {
                        format!(
                            "{} {}",
                            if a.op == crate::sizing::file::ActionOp::Set { "set" } else { "scale" },
                            a.path
                        )
                    })
                    .collect();
                t.row(vec![
                    d.name.clone(),
                    d.category.clone(),
                    d.units.clone(),
                    fmt_num(d.default, 4),
                    fmt_num(d.min_val, 4),
                    fmt_num(d.max_val, 4),
                    fmt_num(d.step, 4),
                    if changes.is_empty() { "(informational)".into() } else { changes.join("; ") },
                ]);
            }
            let mut s = t.render();
            s.push_str(&format!(
                "profiles: {}\nworkloads: {}\nstudies: {}\n",
                m.profiles.iter().map(|p| p.name.as_str()).collect::<Vec<_>>().join(", "),
                m.workloads.iter().map(|p| p.name.as_str()).collect::<Vec<_>>().join(", "),
                m.studies.iter().map(|p| p.name.as_str()).collect::<Vec<_>>().join(", "),
            ));
            emit(&s)
        }
    }
}

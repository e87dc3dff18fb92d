//! `ratchet accuracy` and `ratchet calibrate`: measurements against projections, and the
//! least-squares fit of the cost model's constants.

use super::table::{Table, fmt_num};
use super::{DataArgs, EXIT_INVALID, EXIT_OK, EXIT_USAGE, load_engine, ron_text};
use crate::calibration::{self, Comparison, Device, Fit, Grouping, MeasurementSet, Metric, Summary};
use crate::engine::Engine;
use crate::tier::CalibrationSource;
use clap::{Args, ValueEnum};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub(super) enum ReportFormat {
    Table,
    Json,
    Csv,
    Markdown,
}

#[derive(Debug, Args)]
pub(super) struct AccuracyArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Measurement sets: the name of one in the registry (`public-llamacpp`, `h200`) or a
    /// file; or llama-bench JSON / JSONL, or workload-record Parquet, with `--tier` and
    /// `--model`. Several are merged into one.
    #[arg(required = true)]
    set: Vec<String>,
    /// Only these devices (repeatable).
    #[arg(long)]
    device: Vec<String>,
    /// Only devices of this silicon class.
    #[arg(long)]
    class: Option<String>,
    /// Leave one device out: project each device of a silicon class with the class's cost
    /// model fitted on the other devices only.
    #[arg(long, conflicts_with = "loo_source")]
    loo_class: bool,
    /// Leave one source out: project each source's points on spec-sheet devices with their
    /// silicon class's cost model fitted on the other sources' points only.
    #[arg(long)]
    loo_source: bool,
    /// Only the devices the set holds out of class fits (`holdout: true`): how the shipped
    /// silicon-class constants do on devices they were not fitted on.
    #[arg(long)]
    holdout: bool,
    /// The registry tier the measurements ran on: required for llama-bench or
    /// workload-record input; for a measurement set, projects its devices on this tier (a
    /// calibrated one, say) instead of tiers built from their spec sheets.
    #[arg(long)]
    tier: Option<String>,
    /// For llama-bench or workload-record input: the catalog model that was measured.
    #[arg(long)]
    model: Option<String>,
    /// Keep llama-bench rows whose model size, parameter count or file name contradict
    /// `--model` (the catalog model's bytes are projected either way).
    #[arg(long)]
    allow_mismatch: bool,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    format: ReportFormat,
}

#[derive(Debug, Args)]
pub(super) struct CalibrateArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Measurement sets: a registry set's name or a file (as for `ratchet accuracy`); several
    /// are merged into one (two models measured on one device, say).
    #[arg(required = true)]
    set: Vec<String>,
    /// Fit one device's constants and write it as a tier.
    #[arg(long)]
    device: Option<String>,
    /// Fit one silicon class's constants over every spec-sheet device of that class.
    #[arg(long)]
    class: Option<String>,
    /// Fit only the points measured under this runtime (a key of `tables/runtimes.ron`); a
    /// class fit prints a `runtime_calibrated` entry for it.
    #[arg(long)]
    runtime: Option<String>,
    /// For llama-bench or workload-record input: the tier the measurements ran on.
    #[arg(long)]
    tier: Option<String>,
    /// For llama-bench or workload-record input: the catalog model that was measured.
    #[arg(long)]
    model: Option<String>,
    /// Keep llama-bench rows whose model size, parameter count or file name contradict
    /// `--model` (the catalog model's bytes are fitted either way).
    #[arg(long)]
    allow_mismatch: bool,
    /// Name of the tier written by `--out` (default: the device's name).
    #[arg(long)]
    name: Option<String>,
    /// Write the calibrated tier as a registry tier file (never over an existing file).
    #[arg(long, value_name = "FILE.ron")]
    out: Option<PathBuf>,
    /// Output format of the report.
    #[arg(long, value_enum, default_value = "table")]
    format: ReportFormat,
}

#[derive(Debug, Args)]
pub(super) struct IngestArgs {
    #[command(flatten)]
    data: DataArgs,
    /// llama-bench `-o json` / `-o jsonl` output or workload-record Parquet files (one or
    /// more; their measurements are pooled).
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// The registry tier the measurements ran on.
    #[arg(long)]
    tier: String,
    /// The catalog model that was measured.
    #[arg(long)]
    model: String,
    /// Keep rows whose model size (`model_size`), parameter count (`model_n_params`) or file
    /// name (`model_filename`) contradict `--model`, beyond the tolerances of
    /// `calibration_policy` (the catalog model's bytes are what projections read).
    #[arg(long)]
    allow_mismatch: bool,
    /// The workload id the measured cell answers (the `--workload` of `ratchet project`).
    #[arg(long, default_value = "default")]
    workload: String,
    /// Name of the new tier (default: the tier's name with ` (measured)`); never an existing
    /// tier's.
    #[arg(long)]
    name: Option<String>,
    /// Write the new tier, with the measured cell and anchors, as a registry tier file
    /// (never over an existing file).
    #[arg(long, value_name = "FILE.ron")]
    out: Option<PathBuf>,
    /// Write the measurements as a measurement set (for `ratchet accuracy` and `ratchet
    /// calibrate`; never over an existing file).
    #[arg(long, value_name = "FILE.json")]
    set: Option<PathBuf>,
    /// The runtime the measurements ran under (a key of `tables/runtimes.ron`), for files
    /// whose backend column does not name it (a PyTorch harness writing llama-bench's format
    /// says `CUDA`); by default each row's backend names it.
    #[arg(long)]
    runtime: Option<String>,
}

/// The RON of a registry tier file body: `ron_text` without its own extensions line (the
/// file's header carries it once).
fn tier_body(t: &crate::tier::TierSpec) -> Result<String, String> {
    let text = ron_text(t)?;
    Ok(text.strip_prefix("#![enable(implicit_some)]").map_or(text.clone(), |r| r.trim_start().to_string()))
}

/// Writes `text` to a new file: never over one that exists (checked atomically by
/// `create_new`), creating the directory.
fn write_new(out: &std::path::Path, text: &str) -> Result<(), String> {
    if out.exists() {
        return Err(format!("`{}` exists; nothing is ever written over a file (choose another path)", out.display()));
    }
    if let Some(dir) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot create `{}`: {e}", dir.display()))?;
    }
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(out)
        .and_then(|mut f| std::io::Write::write_all(&mut f, text.as_bytes()))
        .map_err(|e| format!("cannot write `{}`: {e}", out.display()))
}

/// Prints what `--allow-mismatch` let through.
fn warn(warnings: &[String]) {
    for w in warnings {
        eprintln!("warning: kept by --allow-mismatch: {w}");
    }
}

pub(super) fn ingest(a: IngestArgs) -> i32 {
    if a.out.is_none() && a.set.is_none() {
        eprintln!("error: say what to write: `--out FILE.ron` (a tier) and/or `--set FILE.json` (a measurement set)");
        return EXIT_USAGE;
    }
    for p in a.out.iter().chain(&a.set) {
        if p.exists() {
            eprintln!("error: `{}` exists; ingest never writes over a file (choose another path)", p.display());
            return EXIT_USAGE;
        }
    }
    let engine = match load_engine(&a.data) {
        Ok(e) => e,
        Err(c) => return c,
    };
    let mut rows = Vec::new();
    for input in &a.inputs {
        match crate::ingest::read_measurements(input) {
            Ok(r) => rows.extend(r),
            Err(e) => {
                eprintln!("error: {e}");
                return EXIT_INVALID;
            }
        }
    }
    match crate::ingest::checked_model(&engine, &rows, &a.model, a.allow_mismatch) {
        Ok(warnings) => warn(&warnings),
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    }
    let name = a.name.clone().unwrap_or_else(|| match engine.tier(&a.tier) {
        Ok(t) => format!("{} (measured)", t.name()),
        Err(_) => a.tier.clone(),
    });
    let set = match &a.set {
        None => None,
        Some(_) => match crate::ingest::as_measurement_set(&engine, &rows, &a.tier, &a.model, a.runtime.as_deref()) {
            Ok(s) => Some(s),
            Err(e) => {
                eprintln!("error: {e}");
                return EXIT_USAGE;
            }
        },
    };
    let tier = match &a.out {
        None => None,
        Some(_) => {
            let to = crate::ingest::Target { tier: &a.tier, model: &a.model, workload: &a.workload, name: &name };
            match crate::ingest::measured_tier(&engine, &rows, &to) {
                Ok(t) => Some(t),
                Err(e) => {
                    eprintln!("error: {e}");
                    return EXIT_USAGE;
                }
            }
        }
    };
    let count = |k: crate::ingest::Kind| rows.iter().filter(|r| r.kind == k).count();
    eprintln!(
        "read {} measurements ({} decode, {} prefill, {} prompt+generation) from {} file(s)",
        rows.len(),
        count(crate::ingest::Kind::Decode),
        count(crate::ingest::Kind::Prefill),
        count(crate::ingest::Kind::Combined),
        a.inputs.len()
    );
    if let (Some(out), Some(tier)) = (&a.out, &tier) {
        let body = match tier_body(tier) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("error: cannot serialise: {e}");
                return EXIT_INVALID;
            }
        };
        let inputs: Vec<String> = a.inputs.iter().map(|p| p.display().to_string()).collect();
        let text = format!(
            "#![enable(implicit_some)]\n// {name}: `{}` measured on `{}`, written by `ratchet ingest {}`.\n// The measured cell (workload `{}`) and the decode/prefill anchors are what was measured;\n// every other figure is the tier's own.\nTier{body}\n",
            a.model,
            a.tier,
            inputs.join(" "),
            a.workload
        );
        if let Err(e) = write_new(out, &text) {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
        eprintln!("wrote {} (tier `{name}`)", out.display());
    }
    if let (Some(path), Some(mut set)) = (&a.set, set) {
        set.name = path.file_stem().and_then(|s| s.to_str()).unwrap_or("ingested").to_string();
        set.description = Some(format!("`{}` on `{}`, read by `ratchet ingest`", a.model, a.tier));
        let text = match serde_json::to_string_pretty(&set) {
            Ok(t) => t + "\n",
            Err(e) => {
                eprintln!("error: cannot serialise: {e}");
                return EXIT_INVALID;
            }
        };
        if let Err(e) = write_new(path, &text) {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
        eprintln!("wrote {} (measurement set)", path.display());
    }
    EXIT_OK
}

/// A registry set by name, or a file: a measurement set, or raw measurements (llama-bench,
/// workload records) that ran on `--tier` with `--model`. With `--tier`, a measurement set's
/// devices are projected on that registry tier (a calibrated one, say) rather than on tiers
/// built from their spec sheets.
fn resolve_set(engine: &Engine, set: &str, raw: &RawInput<'_>) -> Result<Arc<MeasurementSet>, String> {
    let (tier, model) = (raw.tier, raw.model);
    let found = match engine.registry().measurements().get(set) {
        Some(s) => s.clone(),
        None => {
            let path = PathBuf::from(set);
            if !path.exists() {
                let known: Vec<&str> = engine.registry().measurements().keys().map(String::as_str).collect();
                let help = crate::diagnostic::did_you_mean(set, known.iter().copied())
                    .map(|h| format!(" ({h})"))
                    .unwrap_or_default();
                return Err(format!(
                    "`{set}` is neither a measurement set of the registry ({}) nor a file{help}",
                    known.join(", ")
                ));
            }
            if crate::ingest::is_measurement_input(&path) {
                let (Some(t), Some(m)) = (tier, model) else {
                    return Err(format!(
                        "`{set}` holds raw measurements: say where they ran and what with `--tier` and `--model`"
                    ));
                };
                let rows = crate::ingest::read_measurements(&path).map_err(|e| e.to_string())?;
                // raw measurements already ran on `--tier`
                warn(&crate::ingest::checked_model(engine, &rows, m, raw.allow_mismatch).map_err(|e| e.to_string())?);
                return crate::ingest::as_measurement_set(engine, &rows, t, m, raw.runtime)
                    .map(Arc::new)
                    .map_err(|e| e.to_string());
            }
            MeasurementSet::read(&path).map(Arc::new).map_err(|e| e.to_string())?
        }
    };
    let Some(t) = tier else { return Ok(found) };
    let name = engine.tier(t).map_err(|e| e.to_string())?.name().to_string();
    let mut s = MeasurementSet::clone(&found);
    for d in s.devices.values_mut() {
        d.tier = Some(name.clone());
    }
    Ok(Arc::new(s))
}

/// How raw measurements (llama-bench, workload records) among the sets are read: the tier
/// they ran on, the catalog model measured, and whether rows contradicting it are kept.
struct RawInput<'a> {
    tier: Option<&'a str>,
    model: Option<&'a str>,
    allow_mismatch: bool,
    /// The runtime raw measurements ran under (`calibrate --runtime`); their backends' else.
    runtime: Option<&'a str>,
}

/// Every set named, resolved and merged into one.
fn resolve_sets(engine: &Engine, sets: &[String], raw: &RawInput<'_>) -> Result<Arc<MeasurementSet>, String> {
    let mut all = Vec::with_capacity(sets.len());
    for name in sets {
        all.push(resolve_set(engine, name, raw)?);
    }
    if all.len() == 1 {
        return Ok(all.remove(0));
    }
    let refs: Vec<&MeasurementSet> = all.iter().map(|s| s.as_ref()).collect();
    MeasurementSet::merge(&refs).map(Arc::new).map_err(|e| e.to_string())
}

fn fmt_err(e: Option<f64>) -> String {
    e.map(|x| {
        // what rounds to zero is shown as zero, not `-0%`
        let x = if x.abs() < 0.05 { 0.0 } else { x };
        format!("{}{}%", if x > 0.0 { "+" } else { "" }, fmt_num(x, 1))
    })
    .unwrap_or_else(|| "—".into())
}

fn summary_lines(s: &mut String, name: &str, sum: &Summary) {
    if sum.n == 0 {
        return;
    }
    let bands: String = sum.within.iter().map(|b| format!(" · within ±{}% {}", fmt_num(b.pct, 1), b.points)).collect();
    let spread = format!(" · p10..p90 {}..{}", fmt_err(Some(sum.error_p10_pct)), fmt_err(Some(sum.error_p90_pct)));
    let coverage = sum.coverage.map_or_else(String::new, |c| {
        format!(" · inside the stated 80% band {} of {} ({}%)", c.inside, c.points, fmt_num(c.pct, 1))
    });
    let _ = writeln!(
        s,
        "{name}: n={} on {} device{} · median |error| {}% · MAPE {}% · bias {}{}% · max {}%{bands}{spread}{coverage}",
        sum.n,
        sum.devices,
        if sum.devices == 1 { "" } else { "s" },
        fmt_num(sum.median_abs_error_pct, 1),
        fmt_num(sum.mape_pct, 1),
        if sum.bias_pct >= 0.0 { "+" } else { "" },
        fmt_num(sum.bias_pct, 1),
        fmt_num(sum.max_abs_error_pct, 1)
    );
}

fn comparisons_text(
    rows: &[Comparison],
    set: &MeasurementSet,
    format: ReportFormat,
    title: &str,
    policy: &crate::tier::custom::CalibrationPolicy,
) -> String {
    let mut s = String::new();
    let summaries: Vec<(Metric, Summary)> = Metric::ALL
        .into_iter()
        .filter(|m| *m != Metric::Combined || rows.iter().any(|r| r.metric == *m))
        .map(|m| (m, calibration::summarise(rows, m, policy)))
        .collect();
    let groups: Vec<(Grouping, _)> =
        Grouping::ALL.into_iter().map(|g| (g, calibration::summarise_by(rows, g, policy))).collect();
    match format {
        ReportFormat::Json => {
            let v = serde_json::json!({
                "set": set.name,
                "points": rows,
                "summary": summaries.iter().map(|(m, x)| (m.name(), x)).collect::<indexmap::IndexMap<_, _>>(),
                "by": groups.iter().map(|(g, x)| (g.name(), x)).collect::<indexmap::IndexMap<_, _>>(),
            });
            s = serde_json::to_string_pretty(&v).unwrap_or_default() + "\n";
        }
        ReportFormat::Csv => {
            s.push_str(
                "device,model,metric,tokens,measured_tok_s,projected_tok_s,error_pct,source,citation,runtime,engine,class\n",
            );
            for r in rows {
                let _ = writeln!(
                    s,
                    "{},{},{},{},{},{},{},{},{},{},{},{}",
                    super::render::csv_field(&r.device),
                    super::render::csv_field(&r.model),
                    r.metric.name(),
                    r.tokens,
                    r.measured,
                    r.projected.map(|x| x.to_string()).unwrap_or_default(),
                    r.error_pct.map(|x| format!("{x:.2}")).unwrap_or_default(),
                    super::render::csv_field(&r.source),
                    super::render::csv_field(r.citation.as_deref().unwrap_or("")),
                    super::render::csv_field(r.runtime.as_deref().unwrap_or("")),
                    r.engine.map_or("", |e| e.name()),
                    super::render::csv_field(&r.class)
                );
            }
        }
        ReportFormat::Table | ReportFormat::Markdown => {
            let md = format == ReportFormat::Markdown;
            let head = ["device", "model", "metric", "tokens", "measured tok/s", "projected tok/s", "error", "source"];
            if md {
                let _ = writeln!(s, "| {} |", head.join(" | "));
                let _ = writeln!(s, "|{}", "---|".repeat(head.len()));
            }
            let mut t = Table::new(&head, &[false, false, false, true, true, true, true]);
            for r in rows {
                let name = set.devices.get(&r.device).map_or(r.device.as_str(), |d| d.name.as_str());
                let cells = vec![
                    name.to_string(),
                    r.model.clone(),
                    r.metric.name().to_string(),
                    r.tokens.to_string(),
                    fmt_num(r.measured, 2),
                    r.projected.map(|x| fmt_num(x, 2)).unwrap_or_else(|| "—".into()),
                    fmt_err(r.error_pct),
                    r.source.clone(),
                ];
                if md {
                    let _ = writeln!(s, "| {} |", cells.join(" | "));
                } else {
                    t.row(cells);
                }
            }
            if !md {
                let _ = writeln!(s, "{title}");
                s.push_str(&t.render());
            } else {
                s.push('\n');
            }
            for (m, sum) in &summaries {
                summary_lines(&mut s, m.name(), sum);
                if md {
                    s.push('\n');
                }
            }
            for (g, per) in &groups {
                let _ = writeln!(s, "by {}:", g.name());
                for (key, metrics) in per {
                    for (m, sum) in metrics {
                        summary_lines(&mut s, &format!("  {key} · {m}"), sum);
                    }
                }
                if md {
                    s.push('\n');
                }
            }
        }
    }
    s
}

/// Every (class, source) of the selected spec-sheet devices: the source's points projected
/// with the class fitted on the class's other sources (held-out devices never fitted). A
/// source that is the class's only one cannot be left out and is said so on stderr.
fn leave_one_source_out(
    engine: &Engine,
    set: &MeasurementSet,
    selected: &dyn Fn(&str, &Device) -> bool,
) -> Result<Vec<Comparison>, String> {
    let mut pairs: Vec<(String, String)> = Vec::new();
    for p in &set.points {
        let Some(d) = set.devices.get(&p.device) else { continue };
        let (Some(class), Some(src)) = (d.spec_sheet_class(), p.source.as_deref()) else { continue };
        if selected(&p.device, d) && !pairs.iter().any(|(c, s)| c == class && s == src) {
            pairs.push((class.to_string(), src.to_string()));
        }
    }
    let mut rows = Vec::new();
    let classes = engine.registry().silicon_classes();
    for (class, src) in pairs {
        // a class without a fit answers on the engine defaults: nothing to leave out
        let Some(c) = classes.classes.get(&class).filter(|c| c.calibrated.is_some()) else { continue };
        let of = |keep: bool| {
            let mut s = set.clone();
            s.points.retain(|p| (p.source.as_deref() == Some(src.as_str())) == keep);
            s
        };
        let (others, own) = (of(false), of(true));
        // refit as the registry's fit was: on the points of the class's own runtime
        let others = match &c.default_runtime {
            Some(r) => only_runtime(engine, &others, r).unwrap_or(others),
            None => others,
        };
        let fit_on = |_: &str, d: &Device| in_class_fit(d, &class);
        let reference = format!("leave-one-source-out fit of `{class}` without source `{src}`");
        let cal_src = CalibrationSource {
            method: "derived_from_measured".into(),
            reference,
            confidence: "medium".into(),
            ..Default::default()
        };
        let fit = match calibration::fit(engine, &others, &fit_on, cal_src) {
            Ok(f) => f,
            Err(e) => {
                eprintln!("warning: `{class}` without source `{src}`: no fit: {e}");
                continue;
            }
        };
        let only = |k: &str, d: &Device| selected(k, d) && d.spec_sheet_class() == Some(class.as_str());
        let cal = |_: &str, _: &Device, rt: Option<&str>| {
            Some(classes.as_applied(&class, fit.calibration.clone(), c.default_runtime.as_deref(), rt))
        };
        rows.extend(calibration::compare(engine, &own, Some(&only), Some(&cal)).map_err(|e| e.to_string())?);
    }
    Ok(rows)
}

/// The points of `set` measured under runtime `r` (its devices, models and sources kept).
fn only_runtime(engine: &Engine, set: &MeasurementSet, r: &str) -> Result<MeasurementSet, String> {
    let table = engine.registry().runtimes();
    table.resolve(Some(r), None)?;
    let mut out = set.clone();
    out.points.retain(|p| table.resolve(p.runtime.as_deref(), p.backend.as_deref()).ok().flatten() == Some(r));
    if out.points.is_empty() {
        return Err(format!("set `{}` has no point measured under runtime `{r}`", set.name));
    }
    Ok(out)
}

/// Whether a class fit of `class` uses `d`: its spec-sheet devices of that class, never the
/// held-out ones (they measure the fit).
fn in_class_fit(d: &Device, class: &str) -> bool {
    !d.holdout && d.spec_sheet_class() == Some(class)
}

pub(super) fn accuracy(a: AccuracyArgs) -> i32 {
    let engine = match load_engine(&a.data) {
        Ok(e) => e,
        Err(c) => return c,
    };
    let set = match resolve_sets(
        &engine,
        &a.set,
        &RawInput {
            tier: a.tier.as_deref(),
            model: a.model.as_deref(),
            allow_mismatch: a.allow_mismatch,
            runtime: None,
        },
    ) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    for d in &a.device {
        if !set.devices.contains_key(d) {
            let help = crate::diagnostic::did_you_mean(d, set.devices.keys().map(String::as_str))
                .map(|h| format!(" ({h})"))
                .unwrap_or_default();
            eprintln!("error: set `{}` has no device `{d}`{help}", set.name);
            return EXIT_USAGE;
        }
    }
    let selected = |k: &str, d: &Device| {
        (a.device.is_empty() || a.device.iter().any(|x| x == k))
            && a.class.as_deref().is_none_or(|c| d.silicon_class.as_deref() == Some(c))
            && (!a.holdout || d.holdout)
    };
    let rows = if a.loo_class {
        // each device of a class projected with the class fitted on the others
        let mut rows = Vec::new();
        for (k, d) in &set.devices {
            let Some(class) = d.spec_sheet_class() else { continue };
            if !selected(k, d) {
                continue;
            }
            let others = |k2: &str, d2: &Device| k2 != k && in_class_fit(d2, class);
            // refit as the registry's fit was: on the points of the class's own runtime
            let fitted_under =
                engine.registry().silicon_classes().classes.get(class).and_then(|c| c.default_runtime.clone());
            let fold_set = match &fitted_under {
                Some(r) => only_runtime(&engine, &set, r).unwrap_or_else(|_| MeasurementSet::clone(&set)),
                None => MeasurementSet::clone(&set),
            };
            let src = CalibrationSource {
                method: "derived_from_measured".into(),
                reference: format!("leave-one-device-out fit of `{class}` without `{k}`"),
                confidence: "medium".into(),
                ..Default::default()
            };
            let fit = match calibration::fit(&engine, &fold_set, &others, src) {
                Ok(f) => f,
                Err(e) => {
                    eprintln!("warning: {k}: no class fit without it: {e}");
                    continue;
                }
            };
            let only = |k2: &str, _: &Device| k2 == k;
            let cal = |_: &str, _: &Device, rt: Option<&str>| {
                Some(engine.registry().silicon_classes().as_applied(
                    class,
                    fit.calibration.clone(),
                    fitted_under.as_deref(),
                    rt,
                ))
            };
            match calibration::compare(&engine, &set, Some(&only), Some(&cal)) {
                Ok(r) => rows.extend(r),
                Err(e) => {
                    eprintln!("error: {e}");
                    return EXIT_INVALID;
                }
            }
        }
        rows
    } else if a.loo_source {
        match leave_one_source_out(&engine, &set, &selected) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("error: {e}");
                return EXIT_INVALID;
            }
        }
    } else {
        match calibration::compare(&engine, &set, Some(&selected), None) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("error: {e}");
                return EXIT_INVALID;
            }
        }
    };
    let title = format!(
        "set `{}` · rule set {} · registry {} {}{}{}{}",
        set.name,
        engine.provenance().rule_set,
        engine.provenance().registry,
        engine.provenance().registry_version,
        if a.loo_class { " · leave one device out per silicon class" } else { "" },
        if a.loo_source { " · leave one source out per silicon class" } else { "" },
        if a.holdout { " · held-out devices only" } else { "" }
    );
    let policy = &engine.registry().silicon_classes().calibration_policy;
    print!("{}", comparisons_text(&rows, &set, a.format, &title, policy));
    EXIT_OK
}

fn fit_text(f: &Fit, set: &MeasurementSet, format: ReportFormat, what: &str) -> String {
    if format == ReportFormat::Json {
        return serde_json::to_string_pretty(&calibration::fit_json(f)).unwrap_or_default() + "\n";
    }
    let mut s = String::new();
    let c = &f.calibration;
    let _ = writeln!(s, "fit of {what} on set `{}`", set.name);
    let _ = writeln!(
        s,
        "  decode: {} of spec bandwidth on weights, {} on the KV cache, {} µs per layer per token",
        fmt_num(c.decode_bw_efficiency, 4),
        c.decode_kv_bw_efficiency.map_or_else(|| "the same".into(), |x| fmt_num(x, 4)),
        fmt_num(c.decode_layer_us, 3)
    );
    let _ = writeln!(
        s,
        "  prefill: {} of dense peak, {} µs per layer per prompt",
        fmt_num(c.prefill_util, 4),
        fmt_num(c.prefill_layer_us, 3)
    );
    for n in &f.notes {
        let _ = writeln!(s, "  note: {n}");
    }
    let head = ["device", "model", "metric", "tokens", "measured tok/s", "fitted tok/s", "error", "leave-one-out"];
    let md = format == ReportFormat::Markdown;
    let mut t = Table::new(&head, &[false, false, false, true, true, true, true, true]);
    if md {
        let _ = writeln!(s, "\n| {} |\n|{}", head.join(" | "), "---|".repeat(head.len()));
    }
    for r in &f.residuals {
        let cells = vec![
            r.device.clone(),
            r.model.clone(),
            r.metric.name().to_string(),
            r.tokens.to_string(),
            fmt_num(r.measured, 2),
            fmt_num(r.fitted, 2),
            fmt_err(Some(r.error_pct)),
            fmt_err(r.loo_error_pct),
        ];
        if md {
            let _ = writeln!(s, "| {} |", cells.join(" | "));
        } else {
            t.row(cells);
        }
    }
    if md {
        s.push('\n');
    } else {
        s.push_str(&t.render());
    }
    for (m, sum) in &f.fitted {
        summary_lines(&mut s, &format!("{m} (fitted)"), sum);
    }
    for (m, sum) in &f.leave_one_out {
        summary_lines(&mut s, &format!("{m} (leave one out)"), sum);
    }
    for (m, sum) in &f.leave_one_device_out {
        summary_lines(&mut s, &format!("{m} (leave one device out)"), sum);
    }
    if let Some(b) = &c.error_band {
        let pct = |x: f64| format!("{:+.1}%", x * 100.0);
        let _ = writeln!(
            s,
            "error band (p10..p90 of the held-out errors, held out by {}, {} points): decode {}..{}, prefill {}..{}",
            b.held_out,
            b.points,
            pct(b.decode_p10),
            pct(b.decode_p90),
            pct(b.prefill_p10),
            pct(b.prefill_p90)
        );
    }
    s
}

pub(super) fn calibrate(a: CalibrateArgs) -> i32 {
    let engine = match load_engine(&a.data) {
        Ok(e) => e,
        Err(c) => return c,
    };
    let set = match resolve_sets(
        &engine,
        &a.set,
        &RawInput {
            tier: a.tier.as_deref(),
            model: a.model.as_deref(),
            allow_mismatch: a.allow_mismatch,
            runtime: a.runtime.as_deref(),
        },
    ) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    let (what, only): (String, Box<calibration::DeviceFilter<'static>>) = match (&a.device, &a.class) {
        (Some(d), None) => {
            if !set.devices.contains_key(d) {
                let help = crate::diagnostic::did_you_mean(d, set.devices.keys().map(String::as_str))
                    .map(|h| format!(" ({h})"))
                    .unwrap_or_default();
                eprintln!("error: set `{}` has no device `{d}`{help}", set.name);
                return EXIT_USAGE;
            }
            let d2 = d.clone();
            (format!("device `{d}`"), Box::new(move |k: &str, _: &Device| k == d2))
        }
        (None, Some(c)) => {
            if !set.devices.values().any(|d| d.spec_sheet_class() == Some(c.as_str())) {
                let classes: Vec<&str> = set.devices.values().filter_map(Device::spec_sheet_class).collect();
                let help = crate::diagnostic::did_you_mean(c, classes.iter().copied())
                    .map(|h| format!(" ({h})"))
                    .unwrap_or_default();
                eprintln!("error: set `{}` has no spec-sheet device of silicon class `{c}`{help}", set.name);
                return EXIT_USAGE;
            }
            let c2 = c.clone();
            (format!("silicon class `{c}`"), Box::new(move |_: &str, d: &Device| in_class_fit(d, &c2)))
        }
        _ => {
            eprintln!(
                "error: give `--device KEY` (one device, written as a tier) or `--class CLASS` (a silicon class)"
            );
            return EXIT_USAGE;
        }
    };
    if a.out.is_some() && a.device.is_none() {
        eprintln!(
            "error: `--out` writes a device's tier; for a class, paste the printed `calibrated` block into `tables/silicon_classes.ron`"
        );
        return EXIT_USAGE;
    }
    if let Some(out) = &a.out {
        if out.exists() {
            eprintln!("error: `{}` exists; calibrate never overwrites a file (choose another path)", out.display());
            return EXIT_USAGE;
        }
    }
    let (set, what) = match &a.runtime {
        None => (set, what),
        Some(r) => match only_runtime(&engine, &set, r) {
            Ok(s) => (Arc::new(s), format!("{what} under runtime `{r}`")),
            Err(e) => {
                eprintln!("error: {e}");
                return EXIT_USAGE;
            }
        },
    };
    let provisional = CalibrationSource {
        method: "derived_from_measured".into(),
        reference: String::new(),
        confidence: String::new(),
        ..Default::default()
    };
    let mut fit = match calibration::fit(&engine, &set, &*only, provisional) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_INVALID;
        }
    };
    // the points the fit used (devices without a full spec sheet are skipped)
    let points = fit.residuals.iter().map(|r| r.point).collect::<std::collections::BTreeSet<usize>>().len();
    fit.calibration.source.reference =
        format!("ratchet calibrate: {what}, {points} points of measurement set `{}`", set.name);
    let policy = &engine.registry().silicon_classes().calibration_policy;
    // a class's constants are meant to carry to its other devices: one device cannot show that
    let devices = fit.residuals.iter().map(|r| r.device.as_str()).collect::<std::collections::BTreeSet<&str>>().len();
    let spread = a.class.is_none() || devices >= policy.high_confidence_min_devices;
    fit.calibration.source.confidence =
        if points >= policy.high_confidence_min_points && spread { "high".into() } else { "medium".into() };
    fit.calibration.source.measurement_set = Some(set.name.clone());
    fit.calibration.source.points = Some(points as u32);
    fit.calibration.source.date = Some(crate::tier::today_utc());
    print!("{}", fit_text(&fit, &set, a.format, &what));
    if a.class.is_some() && a.format != ReportFormat::Json {
        match ron_text(&fit.calibration) {
            // a block pasted into `silicon_classes.ron`, whose header enables implicit `Some`
            Ok(t) => match (&a.runtime, t.trim_start_matches("#![enable(implicit_some)]").trim_start()) {
                (Some(r), t) => println!("\nruntime_calibrated: {{\n    \"{r}\": {t},\n}},"),
                (None, t) => println!("\ncalibrated: {t},"),
            },
            Err(e) => eprintln!("error: cannot serialise: {e}"),
        }
    }
    if let (Some(out), Some(key)) = (&a.out, &a.device) {
        let Some(d) = set.devices.get(key) else { return EXIT_USAGE };
        let mut tier = match engine.device_tier(key, d, a.runtime.as_deref()) {
            Ok(t) => t.spec,
            Err(e) => {
                eprintln!("error: {e}");
                return EXIT_INVALID;
            }
        };
        tier.schema_version = Some(1);
        tier.name = a.name.clone().unwrap_or_else(|| d.name.clone());
        tier.calibration_source = Some(fit.calibration.source.clone());
        tier.llm_calibration = Some(fit.calibration.clone());
        let body = match tier_body(&tier) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("error: cannot serialise: {e}");
                return EXIT_INVALID;
            }
        };
        let loo = |m: &str| fit.leave_one_out.get(m).map_or(0.0, |s| s.median_abs_error_pct);
        let text = format!(
            "#![enable(implicit_some)]\n// {} — written by `ratchet calibrate {} --device {key}` from {points} measured points\n// (leave-one-out median |error|: decode {}%, prefill {}%). Constants: docs/calibration.md.\nTier{body}\n",
            tier.name,
            a.set.join(" "),
            fmt_num(loo("decode"), 1),
            fmt_num(loo("prefill"), 1)
        );
        if let Err(e) = write_new(out, &text) {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
        eprintln!("wrote {}", out.display());
    }
    EXIT_OK
}

//! The `ratchet` command line.

mod calibrate;
mod frame;
mod plan;
mod plot;
mod render;
mod table;
mod whatif;

use crate::diagnostic::{Report, did_you_mean};
use crate::registry::loader::{DirLoader, Loader};
use crate::registry::{self, Registry};
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::io::Write;
use std::path::PathBuf;
use table::{Table, fmt_num};

/// Exit status: success.
pub const EXIT_OK: i32 = 0;
/// Exit status: the data is invalid (or a check failed).
pub const EXIT_INVALID: i32 = 1;
/// Exit status: usage or I/O error.
pub const EXIT_USAGE: i32 = 2;

#[derive(Debug, Parser)]
#[command(
    name = "ratchet",
    version,
    about = "Data-driven SoC sizing: LLM throughput, memory fit and dtype executability per silicon tier"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Flags that choose the data: the embedded defaults unless a directory is given.
#[derive(Debug, Clone, Args, Default)]
pub struct DataArgs {
    /// Registry directory (replaces the embedded registry).
    #[arg(long, value_name = "DIR", global = true)]
    pub registry: Option<PathBuf>,
    /// Rules directory (layered over the embedded rule sets by name), or the name of the
    /// rule set to use (`default`, `ratchet-0.3.2`). Repeatable.
    #[arg(long, value_name = "DIR|NAME", global = true)]
    pub rules: Vec<String>,
    /// Private anchor file (TOML); never embedded. Also read from `RATCHET_ANCHORS`.
    #[arg(long, value_name = "FILE", global = true, env = "RATCHET_ANCHORS")]
    pub anchors: Option<PathBuf>,
    /// Pack directory, or the name of a shipped pack (`llm-sizer`, `drone-soc`), layered
    /// over the registry. Repeatable; later packs layer over earlier ones.
    #[arg(long, value_name = "DIR|NAME", global = true)]
    pub pack: Vec<String>,
}

impl DataArgs {
    /// The engine configuration these flags describe.
    pub fn config(&self) -> crate::engine::EngineConfig {
        let mut c = crate::engine::EngineConfig {
            registry: self.registry.clone(),
            anchors: self.anchors.clone(),
            ..Default::default()
        };
        for r in &self.rules {
            c.rules(r);
        }
        c.packs = self.pack.iter().map(|p| crate::pack::PackRef::from_arg(p)).collect();
        c
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check registry files: syntax, schema and semantics.
    Validate(ValidateArgs),
    /// List the tiers with their key figures and calibration badge.
    Tiers(TiersArgs),
    /// Show one entity with every field.
    Show(ShowArgs),
    /// Write or check the JSON Schemas generated from the types.
    Schema(SchemaArgs),
    /// Project one model on one tier: rates, TTFT, totals, or why it won't fit or run.
    Project(ProjectArgs),
    /// JSON Lines in (a file or stdin), one JSON result per line out, same order.
    Batch(BatchArgs),
    /// One row per tier: rates, TTFT, total, fit and headroom, source badge.
    Ladder(LadderArgs),
    /// Inverse questions: the largest context that fits; the cheapest tier (or memory
    /// upgrade) that meets decode/TTFT targets; which models and quants meet them on a tier.
    Plan(plan::PlanArgs),
    /// Projected against measured: per point and median |error|, MAPE, bias, per metric.
    Accuracy(calibrate::AccuracyArgs),
    /// Fit a device's or a silicon class's LLM cost model to measurements (least squares,
    /// residuals, leave-one-out); write it as a tier file.
    Calibrate(calibrate::CalibrateArgs),
    /// Measurements (llama-bench JSON / JSONL, workload-record Parquet) into registry data: a
    /// new tier with the measured cell and anchors, and/or a measurement set.
    Ingest(calibrate::IngestArgs),
    /// How a tier would deploy a dtype: native, compat, blocked, fallback or unsupported.
    DeployPath(DeployPathArgs),
    /// What-if studies over a pack's SoC profiles: a point, a sweep, a pareto grid.
    #[command(subcommand)]
    Whatif(whatif::WhatifCmd),
    /// What a registry or pack change does to the numbers: the standard matrix under both.
    Diff(DiffArgs),
    /// Reload on every save and show what changed (diagnostics, or the new generation and
    /// the changed answers of a query file).
    Watch(WatchArgs),
    /// Serve the engine over HTTP (JSON), reloading the data as it changes.
    Serve(ServeArgs),
}

#[derive(Debug, Args)]
struct ReloadArgs {
    /// Quiet period after the last change before reloading, ms.
    #[arg(long, default_value_t = 200)]
    debounce_ms: u64,
    /// Poll the files instead of using change events (network and container file systems).
    #[arg(long)]
    poll: bool,
}

#[derive(Debug, Args)]
struct WatchArgs {
    #[command(flatten)]
    data: DataArgs,
    #[command(flatten)]
    reload: ReloadArgs,
    /// Batch requests (JSON Lines) answered after each reload; changed answers are shown.
    #[arg(long, value_name = "FILE")]
    query: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct ServeArgs {
    #[command(flatten)]
    data: DataArgs,
    #[command(flatten)]
    reload: ReloadArgs,
    /// Address to listen on (loopback by default; port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: String,
    /// Do not watch the data directories.
    #[arg(long)]
    no_watch: bool,
    /// Largest request body, MiB.
    #[arg(long, default_value_t = 16)]
    body_limit_mib: usize,
    /// Longest a request may take, seconds.
    #[arg(long, default_value_t = 30.0)]
    timeout_s: f64,
    /// Worker threads (default: one per core).
    #[arg(long)]
    threads: Option<usize>,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
enum DiffFormat {
    Table,
    Json,
    Github,
}

#[derive(Debug, Args)]
struct DiffArgs {
    #[command(flatten)]
    data: DataArgs,
    /// The old side: a registry or pack directory, or `REV:PATH` (that directory at a git
    /// revision, e.g. `HEAD~1:registry`).
    old: String,
    /// The new side, in the same forms.
    new: String,
    /// Ignore relative changes up to this many percent.
    #[arg(long, default_value_t = 0.0)]
    tolerance: f64,
    /// Output format; `github` prints workflow annotations for pull-request review.
    #[arg(long, value_enum, default_value = "table")]
    format: DiffFormat,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
enum RowFormat {
    Table,
    Json,
    Csv,
}

#[derive(Debug, Args)]
struct LadderArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Catalog model key.
    #[arg(long)]
    model: String,
    /// Workload id.
    #[arg(long, default_value = "default")]
    workload: String,
    /// Prompt tokens.
    #[arg(long)]
    prompt_tokens: Option<u64>,
    /// Decode tokens.
    #[arg(long)]
    decode_tokens: Option<u64>,
    /// Add a memory-upgraded row after each tier: `TYPE@RATE[:SUFFIX]`, e.g. `LPDDR6@14`.
    #[arg(long, value_name = "TYPE@RATE[:SUFFIX]")]
    memory: Vec<String>,
    /// Add a row after each tier for every registry memory-upgrade option that raises its
    /// bandwidth.
    #[arg(long)]
    upgrades: bool,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    format: RowFormat,
    /// Also draw decode tok/s per tier, with source badges, as an SVG file.
    #[arg(long, value_name = "FILE.svg")]
    plot: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
enum KernelSource {
    Precompiled,
    FreshCompile,
}

#[derive(Debug, Args)]
struct DeployPathArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Tier: a registry name or a tier form as JSON.
    #[arg(long)]
    tier: String,
    /// Compute dtype, e.g. int8, fp8, bf16, nvfp4.
    #[arg(long)]
    dtype: String,
    /// Where the kernels come from.
    #[arg(long, value_enum, default_value = "precompiled")]
    kernel_source: KernelSource,
    /// FP4 runtime maturity.
    #[arg(long, value_enum, default_value = "mature")]
    fp4_runtime_maturity: Maturity,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Maturity {
    Mature,
    Immature,
}

#[derive(Debug, Args)]
struct ProjectArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Catalog model key.
    #[arg(long)]
    model: String,
    /// Tier: a registry name, or a tier form as JSON (`{"base": …, "memory": …}`,
    /// `{"custom": …}`, `{"base": …, "set": …}`).
    #[arg(long)]
    tier: String,
    /// Upgrade the tier's memory: `TYPE@RATE[:SUFFIX]`, e.g. `LPDDR6@14`.
    #[arg(long, value_name = "TYPE@RATE[:SUFFIX]")]
    memory: Option<String>,
    /// Workload id (selects per-cell measurements).
    #[arg(long, default_value = "default")]
    workload: String,
    /// Prompt tokens (rule-set default when absent).
    #[arg(long)]
    prompt_tokens: Option<u64>,
    /// Decode tokens (rule-set default when absent).
    #[arg(long)]
    decode_tokens: Option<u64>,
    /// Host time, ms.
    #[arg(long)]
    host_ms: Option<f64>,
    /// Compiler quality factor.
    #[arg(long)]
    compiler_quality: Option<f64>,
    /// NPU bandwidth share (the tier's default when absent).
    #[arg(long)]
    npu_share: Option<f64>,
    /// FP4 runtime maturity.
    #[arg(long, value_enum)]
    fp4_runtime_maturity: Option<Maturity>,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    format: ListFormat,
    /// Show the path taken, why earlier paths were skipped, and every formula with its inputs.
    #[arg(long)]
    explain: bool,
}

#[derive(Debug, Args)]
struct BatchArgs {
    #[command(flatten)]
    data: DataArgs,
    /// JSON Lines file (stdin when absent).
    file: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
enum DiagFormat {
    Human,
    Json,
    Github,
}

#[derive(Debug, Args)]
struct ValidateArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Output format.
    #[arg(long, value_enum, default_value = "human")]
    format: DiagFormat,
    /// Treat warnings as errors.
    #[arg(long)]
    deny_warnings: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
enum ListFormat {
    Table,
    Json,
}

#[derive(Debug, Args)]
struct TiersArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    format: ListFormat,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
enum ShowFormat {
    Ron,
    Json,
}

#[derive(Debug, Args)]
struct ShowArgs {
    #[command(subcommand)]
    what: ShowWhat,
}

#[derive(Debug, Subcommand)]
enum ShowWhat {
    /// A tier by name.
    Tier {
        /// Tier name, e.g. "NPU Mid".
        name: String,
        #[command(flatten)]
        data: DataArgs,
        /// Output format.
        #[arg(long, value_enum, default_value = "ron")]
        format: ShowFormat,
    },
    /// A catalog model by key.
    Model {
        /// Model key, e.g. qwen3_30b_a3b_moe.
        key: String,
        #[command(flatten)]
        data: DataArgs,
        /// Output format.
        #[arg(long, value_enum, default_value = "ron")]
        format: ShowFormat,
    },
}

#[derive(Debug, Args)]
struct SchemaArgs {
    /// Write every schema into this directory.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Exit non-zero when the schemas in DIR (default `schemas`) are stale.
    #[arg(long)]
    check: bool,
    /// Directory checked by `--check`.
    #[arg(long, value_name = "DIR", default_value = "schemas")]
    dir: PathBuf,
}

/// Runs the command line and returns the process exit status.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_USAGE } else { EXIT_OK };
            let _ = e.print();
            return code;
        }
    };
    match cli.command {
        Command::Validate(a) => validate(a),
        Command::Tiers(a) => tiers(a),
        Command::Show(a) => show(a),
        Command::Schema(a) => schema(a),
        Command::Project(a) => project(a),
        Command::Batch(a) => batch(a),
        Command::Ladder(a) => ladder(a),
        Command::Plan(a) => plan::run(a),
        Command::Accuracy(a) => calibrate::accuracy(a),
        Command::Calibrate(a) => calibrate::calibrate(a),
        Command::Ingest(a) => calibrate::ingest(a),
        Command::DeployPath(a) => deploy_path(a),
        Command::Whatif(c) => whatif::run(c),
        Command::Diff(a) => diff(a),
        Command::Watch(a) => watch(a),
        Command::Serve(a) => serve(a),
    }
}

/// A `--tier` value: a registry name or a JSON tier form.
fn tier_arg<'e>(engine: &'e crate::engine::Engine, value: &str) -> Result<crate::tier::variants::TierArg<'e>, String> {
    let form = if value.trim_start().starts_with('{') {
        let v: serde_json::Value =
            serde_json::from_str(value).map_err(|e| format!("`--tier` is not valid JSON: {e}"))?;
        crate::tier::variants::TierForm::from_json(&v).map_err(|e| e.to_string())?
    } else {
        crate::tier::variants::TierForm::Name(value.to_string())
    };
    engine.resolve_tier_form(&form).map_err(|e| e.to_string())
}

fn maturity_text(m: Maturity) -> &'static str {
    match m {
        Maturity::Mature => "mature",
        Maturity::Immature => "immature",
    }
}

fn ladder(a: LadderArgs) -> i32 {
    let engine = match load_engine(&a.data) {
        Ok(e) => e,
        Err(c) => return c,
    };
    let model = match engine.model(&a.model) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    let mut memories = Vec::new();
    for m in &a.memory {
        match crate::tier::variants::TierForm::parse_memory(m) {
            Ok(s) => memories.push(s),
            Err(e) => {
                eprintln!("error: {e}");
                return EXIT_USAGE;
            }
        }
    }
    let (rungs, warnings) = engine.ladder_rungs(&crate::ladder::RungSpec { memory: memories, upgrades: a.upgrades });
    for w in warnings {
        eprintln!("warning: {w}");
    }
    let setup = engine.workload_setup(&a.workload, a.prompt_tokens, a.decode_tokens);
    let rows = match engine.ladder(model, &rungs, &setup) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_INVALID;
        }
    };
    if let Some(path) = &a.plot {
        let bars: Vec<(String, Option<f64>, String)> = rows
            .iter()
            .map(|r| {
                let name = r.label.clone().unwrap_or_else(|| r.tier.clone());
                let ok = r.result["type"] == "Projected";
                let v = if ok { r.result["decode_tok_s"].as_f64() } else { None };
                let badge = if ok {
                    format!(
                        "{} {}",
                        r.result["badge"].as_str().unwrap_or(""),
                        r.result["source"].as_str().unwrap_or("")
                    )
                } else {
                    r.result["type"].as_str().unwrap_or("").to_string()
                };
                (name, v, badge.trim().to_string())
            })
            .collect();
        let title = format!("{} · {} · decode tok/s per tier", model.key, a.workload);
        if let Err(e) = plot::ladder(path, &title, &bars) {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
        eprintln!("wrote {}", path.display());
    }
    let mut out = std::io::stdout().lock();
    let text = match a.format {
        RowFormat::Table => render::ladder_table(&rows, engine.provenance()),
        RowFormat::Csv => render::ladder_csv(&rows),
        RowFormat::Json => {
            serde_json::to_string_pretty(&serde_json::json!({
                "model": model.key,
                "workload_id": a.workload,
                "provenance": engine.provenance(),
                "rows": rows,
            }))
            .unwrap_or_default()
                + "\n"
        }
    };
    let _ = write!(out, "{text}");
    EXIT_OK
}

fn deploy_path(a: DeployPathArgs) -> i32 {
    let engine = match load_engine(&a.data) {
        Ok(e) => e,
        Err(c) => return c,
    };
    let tier = match tier_arg(&engine, &a.tier) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    use crate::rules::inputs::RecVal::Str;
    let ks = match a.kernel_source {
        KernelSource::Precompiled => "precompiled",
        KernelSource::FreshCompile => "fresh_compile",
    };
    let t = tier.get();
    let path = engine.run_operation(
        "deployment_path_for_tier",
        Some(t),
        None,
        &[Str(&a.dtype), Str(ks), Str(maturity_text(a.fp4_runtime_maturity))],
    );
    let key = engine.run_operation("dtype_capability_key", None, None, &[Str(&a.dtype)]);
    match (path, key) {
        (Ok(p), Ok(k)) => {
            println!("{}", p.str());
            let reason = t.capability.as_ref().and_then(|c| c.entries.get(k.str()));
            match reason {
                Some(r) => {
                    println!("  {} · {} (key `{}`) · {}: {}", t.name(), a.dtype, k.str(), r.level.as_str(), r.reason)
                }
                None if t.capability.is_some() => {
                    println!("  {} · {} (key `{}`) · not in the capability table", t.name(), a.dtype, k.str())
                }
                None => println!("  {} · {} · peak-TOPS heuristic (no capability table)", t.name(), a.dtype),
            }
            EXIT_OK
        }
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("error: {e}");
            EXIT_INVALID
        }
    }
}

/// Builds the engine or prints its diagnostics.
fn load_engine(data: &DataArgs) -> Result<crate::engine::Engine, i32> {
    let out = crate::engine::Engine::load(&data.config());
    let mut err = std::io::stderr().lock();
    match out.engine {
        Some(e) => {
            for d in out.report.diagnostics.iter() {
                let _ = writeln!(err, "{}", d.one_line());
            }
            Ok(e)
        }
        None => {
            for d in out.report.diagnostics.iter().filter(|d| d.is_error()) {
                let _ = write!(err, "{}", d.render());
            }
            let _ = writeln!(err, "error: the data is invalid ({} errors)", out.report.errors());
            Err(exit_for(&out.report))
        }
    }
}

fn project(a: ProjectArgs) -> i32 {
    let engine = match load_engine(&a.data) {
        Ok(e) => e,
        Err(c) => return c,
    };
    let model = match engine.model(&a.model) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    let tier = match tier_arg(&engine, &a.tier) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    let tier = match &a.memory {
        None => tier,
        Some(m) => {
            match crate::tier::variants::TierForm::parse_memory(m).and_then(|m| engine.with_memory(tier.get(), &m)) {
                Ok(t) => crate::tier::variants::TierArg::Inline(Box::new(t)),
                Err(e) => {
                    eprintln!("error: {e}");
                    return EXIT_USAGE;
                }
            }
        }
    };
    let tier = tier.get();
    let p = crate::projection::ProjectParams {
        prompt_tokens: a.prompt_tokens,
        decode_tokens: a.decode_tokens,
        host_ms: a.host_ms,
        compiler_quality: a.compiler_quality,
        npu_share: a.npu_share,
        fp4_runtime_maturity: a.fp4_runtime_maturity.map(|m| match m {
            Maturity::Mature => "mature".to_string(),
            Maturity::Immature => "immature".to_string(),
        }),
    };
    let (result, explanation) = if a.explain {
        let (r, e) = engine.project_llm_explained(model, tier, &a.workload, &p);
        (r, Some(e))
    } else {
        (engine.project_llm_full(model, tier, &a.workload, &p, None, None), None)
    };
    let result = match result {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_INVALID;
        }
    };
    let mut out = std::io::stdout().lock();
    match a.format {
        ListFormat::Json => {
            let mut v = serde_json::to_value(&result).unwrap_or_default();
            if let (Some(e), serde_json::Value::Object(m)) = (&explanation, &mut v) {
                m.insert("explain".into(), serde_json::to_value(e).unwrap_or_default());
            }
            let _ = writeln!(out, "{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        }
        ListFormat::Table => {
            let _ = write!(out, "{}", render::projection(&result));
            if let Some(e) = &explanation {
                let _ = write!(out, "{}", render::explanation(e));
            }
        }
    }
    EXIT_OK
}

fn batch(a: BatchArgs) -> i32 {
    let engine = match load_engine(&a.data) {
        Ok(e) => e,
        Err(c) => return c,
    };
    let stdout = std::io::stdout();
    let r = match &a.file {
        Some(path) => match std::fs::File::open(path) {
            Ok(f) => crate::batch::run(&engine, std::io::BufReader::with_capacity(1 << 20, f), stdout.lock()),
            Err(e) => {
                eprintln!("error: cannot read `{}`: {e}", path.display());
                return EXIT_USAGE;
            }
        },
        None => crate::batch::run(
            &engine,
            std::io::BufReader::with_capacity(1 << 20, std::io::stdin().lock()),
            stdout.lock(),
        ),
    };
    match r {
        Ok(_) => EXIT_OK,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => EXIT_OK,
        Err(e) => {
            eprintln!("error: {e}");
            EXIT_USAGE
        }
    }
}

fn registry_loader(data: &DataArgs) -> Box<dyn Loader> {
    match &data.registry {
        Some(dir) => Box::new(DirLoader::new(dir.clone())),
        None => Box::new(crate::embedded::registry()),
    }
}

fn exit_for(report: &Report) -> i32 {
    if report.diagnostics.iter().any(|d| d.is_error() && d.code == "io") {
        EXIT_USAGE
    } else if report.has_errors() {
        EXIT_INVALID
    } else {
        EXIT_OK
    }
}

/// Loads the registry or prints its diagnostics.
fn load_registry(data: &DataArgs) -> Result<Registry, i32> {
    let loader = registry_loader(data);
    let refs: Vec<crate::pack::PackRef> = data.pack.iter().map(|p| crate::pack::PackRef::from_arg(p)).collect();
    let mut pack_report = Report::default();
    let stack = crate::pack::load(&refs, &mut pack_report);
    let views = stack.registry_layers();
    let layers: Vec<registry::Layer<'_>> =
        views.iter().map(|(l, n, o)| registry::Layer { loader: l, pack: n.clone(), overrides: o.clone() }).collect();
    let mut out = registry::load_layered(loader.as_ref(), &layers);
    pack_report.extend(out.report);
    out.report = pack_report;
    if out.report.has_errors() {
        out.registry = None;
    }
    match out.registry {
        Some(r) => Ok(r),
        None => {
            let mut err = std::io::stderr().lock();
            for d in out.report.diagnostics.iter().filter(|d| d.is_error()) {
                let _ = write!(err, "{}", d.render());
            }
            let _ = writeln!(
                err,
                "error: the registry `{}` is invalid ({} errors)",
                loader.describe(),
                out.report.errors()
            );
            Err(exit_for(&out.report))
        }
    }
}

fn print_report(report: &Report, format: DiagFormat, what: &str) {
    let mut out = std::io::stdout().lock();
    match format {
        DiagFormat::Human => {
            for d in &report.diagnostics {
                let _ = write!(out, "{}", d.render());
            }
            let (e, w) = (report.errors(), report.warnings());
            let verdict = if e == 0 { "valid" } else { "invalid" };
            let _ = writeln!(out, "{what}: {verdict} ({e} error{}, {w} warning{})", plural(e), plural(w));
        }
        DiagFormat::Json => {
            let v = serde_json::json!({
                "valid": !report.has_errors(),
                "errors": report.errors(),
                "warnings": report.warnings(),
                "diagnostics": report.diagnostics,
            });
            let _ = writeln!(out, "{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        }
        DiagFormat::Github => {
            for d in &report.diagnostics {
                let _ = writeln!(out, "{}", d.github());
            }
        }
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn validate(a: ValidateArgs) -> i32 {
    let loader = registry_loader(&a.data);
    let mut report = Report::default();
    // packs first: their registry layers are validated with the registry
    let refs: Vec<crate::pack::PackRef> = a.data.pack.iter().map(|p| crate::pack::PackRef::from_arg(p)).collect();
    let stack = crate::pack::load(&refs, &mut report);
    let views = stack.registry_layers();
    let layers: Vec<registry::Layer<'_>> =
        views.iter().map(|(l, n, o)| registry::Layer { loader: l, pack: n.clone(), overrides: o.clone() }).collect();
    let outcome = registry::load_layered(loader.as_ref(), &layers);
    report.extend(outcome.report);
    if let (Some(reg), false) = (&outcome.registry, refs.is_empty()) {
        let _ = crate::pack::PackState::build(&stack, reg, &mut report);
    }
    if let Some(reg) = &outcome.registry {
        // the rules, checked against this registry's tables
        let mut rule_loaders: Vec<Box<dyn Loader>> = vec![Box::new(crate::embedded::rules())];
        let mut names = Vec::new();
        for r in &a.data.rules {
            if std::path::Path::new(r).is_dir() {
                rule_loaders.push(Box::new(DirLoader::new(r)));
            } else {
                names.push(r.clone());
            }
        }
        let refs: Vec<&dyn Loader> = rule_loaders.iter().map(|b| b.as_ref()).collect();
        let rules = crate::rules::load(&refs, &crate::engine::registry_tables(reg));
        for n in &names {
            if !rules.sets.contains_key(n) && !rules.report.has_errors() {
                report.push(
                    crate::diagnostic::Diagnostic::error("rules", format!("unknown rule set `{n}`"))
                        .with_help(did_you_mean(n, rules.sets.keys().map(String::as_str))),
                );
            }
        }
        report.extend(rules.report);
    }
    if let Some(path) = &a.data.anchors {
        let (_, r) = crate::anchors::AnchorFile::load(path);
        report.extend(r);
    }
    let mut what = format!("{} + rules", loader.describe());
    for p in &stack.packs {
        what.push_str(&format!(" + pack {} {}", p.name, p.version));
    }
    if a.data.anchors.is_some() {
        what.push_str(" + anchors");
    }
    print_report(&report, a.format, &what);
    let code = exit_for(&report);
    if code == EXIT_OK && a.deny_warnings && report.warnings() > 0 { EXIT_INVALID } else { code }
}

fn calibration_badge(reg: &Registry, t: &crate::tier::Tier) -> String {
    match &t.spec.calibration_source {
        Some(c) => {
            let badge = reg.badges().anchor_sources.get(&c.method).cloned().unwrap_or_default();
            let sep = if badge.is_empty() { "" } else { " " };
            format!("{badge}{sep}{} ({})", c.method, c.confidence)
        }
        None => "—".into(),
    }
}

fn tiers(a: TiersArgs) -> i32 {
    let reg = match load_registry(&a.data) {
        Ok(r) => r,
        Err(c) => return c,
    };
    let mut out = std::io::stdout().lock();
    match a.format {
        ListFormat::Json => {
            let rows: Vec<serde_json::Value> = reg.tiers().iter().map(|t| reg.tier_summary(t)).collect();
            let v = serde_json::json!({
                "registry": reg.manifest().name,
                "version": reg.version(),
                "content_hash": reg.content_hash(),
                "tiers": rows,
            });
            let _ = writeln!(out, "{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        }
        ListFormat::Table => {
            let mut t = Table::new(
                &[
                    "tier",
                    "INT8",
                    "BF16",
                    "FP8",
                    "FP4",
                    "BW GB/s",
                    "eff BW",
                    "GB",
                    "memory",
                    "capability",
                    "calibration",
                ],
                &[false, true, true, true, true, true, true, true, false, false, false],
            );
            for tier in reg.tiers() {
                let s = &tier.spec;
                t.row(vec![
                    s.name.clone(),
                    fmt_num(s.peak_tops_int8, 1),
                    fmt_num(s.peak_tops_bf16, 1),
                    fmt_num(s.peak_tops_fp8, 1),
                    fmt_num(s.peak_tops_fp4, 1),
                    fmt_num(s.mem_bandwidth_gbs, 3),
                    fmt_num(tier.effective_bandwidth_gbs(), 2),
                    fmt_num(s.mem_capacity_gb, 1),
                    format!("{} {}b @{}", s.mem_type, s.mem_bus_width_bits, fmt_num(s.mem_data_rate_gtps, 3)),
                    tier.capability.as_ref().and_then(|c| c.name.clone()).unwrap_or_else(|| "heuristic".into()),
                    calibration_badge(&reg, tier),
                ]);
            }
            let _ = write!(out, "{}", t.render());
            let _ = writeln!(
                out,
                "{} tiers · registry {} {} · hash {}",
                reg.tiers().len(),
                reg.manifest().name,
                reg.version(),
                reg.content_hash()
            );
        }
    }
    EXIT_OK
}

/// `v` as pretty RON in the registry's style (implicit `Some`, four-space indent).
fn ron_text<T: serde::Serialize>(v: &T) -> Result<String, String> {
    let cfg = ron::ser::PrettyConfig::new()
        .struct_names(false)
        .indentor("    ".to_string())
        .extensions(ron::extensions::Extensions::IMPLICIT_SOME);
    ron::ser::to_string_pretty(v, cfg).map_err(|e| e.to_string())
}

fn emit_value<T: serde::Serialize>(v: &T, format: ShowFormat) -> i32 {
    let text = match format {
        ShowFormat::Json => serde_json::to_string_pretty(v).map_err(|e| e.to_string()),
        ShowFormat::Ron => ron_text(v),
    };
    match text {
        Ok(t) => {
            println!("{t}");
            EXIT_OK
        }
        Err(e) => {
            eprintln!("error: cannot serialise: {e}");
            EXIT_INVALID
        }
    }
}

fn show(a: ShowArgs) -> i32 {
    match a.what {
        ShowWhat::Tier { name, data, format } => {
            let reg = match load_registry(&data) {
                Ok(r) => r,
                Err(c) => return c,
            };
            let Some(t) = reg.tier(&name) else {
                let help = did_you_mean(&name, reg.tiers().iter().map(|t| t.name()));
                eprintln!("error: unknown tier `{name}`{}", help.map(|h| format!(" ({h})")).unwrap_or_default());
                return EXIT_USAGE;
            };
            if let Some(o) = reg.tier_origin(&name) {
                eprintln!("# {} — {}", t.name(), o.file);
            }
            emit_value(&t.to_full_spec(), format)
        }
        ShowWhat::Model { key, data, format } => {
            let reg = match load_registry(&data) {
                Ok(r) => r,
                Err(c) => return c,
            };
            let Some(m) = reg.model(&key) else {
                let help = did_you_mean(&key, reg.catalog().keys());
                eprintln!("error: unknown model `{key}`{}", help.map(|h| format!(" ({h})")).unwrap_or_default());
                return EXIT_USAGE;
            };
            emit_value(m.as_ref(), format)
        }
    }
}

fn schema(a: SchemaArgs) -> i32 {
    if let Some(dir) = &a.out {
        return match crate::wire::write_schemas(dir) {
            Ok(n) => {
                eprintln!("wrote {n} schemas to {}", dir.display());
                EXIT_OK
            }
            Err(e) => {
                eprintln!("error: cannot write schemas to `{}`: {e}", dir.display());
                EXIT_USAGE
            }
        };
    }
    if a.check {
        let stale = crate::wire::stale_schemas(&a.dir);
        if stale.is_empty() {
            eprintln!("schemas in {} are up to date", a.dir.display());
            return EXIT_OK;
        }
        for s in &stale {
            eprintln!(
                "error: `{}` is stale or missing; run `ratchet schema --out {}`",
                a.dir.join(s).display(),
                a.dir.display()
            );
        }
        return EXIT_INVALID;
    }
    for (name, text) in crate::wire::all_schema_files() {
        println!("// {name}\n{text}");
    }
    EXIT_OK
}

/// A side of `ratchet diff`: a directory, or a git revision of one extracted to a temp dir.
struct Side {
    dir: PathBuf,
    temp: Option<PathBuf>,
}

impl Drop for Side {
    fn drop(&mut self) {
        if let Some(t) = &self.temp {
            let _ = std::fs::remove_dir_all(t);
        }
    }
}

fn side(arg: &str) -> Result<Side, String> {
    let p = PathBuf::from(arg);
    if p.is_dir() {
        return Ok(Side { dir: p, temp: None });
    }
    let Some((rev, path)) = arg.split_once(':') else {
        return Err(format!("`{arg}` is neither a directory nor `REV:PATH`"));
    };
    let path = if path.is_empty() { "." } else { path };
    let temp = std::env::temp_dir().join(format!(
        "ratchet-diff-{}-{}",
        std::process::id(),
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0)
    ));
    std::fs::create_dir_all(&temp).map_err(|e| format!("cannot create `{}`: {e}", temp.display()))?;
    // removes the temp dir on every early return
    let mut guard = Side { dir: temp.clone(), temp: Some(temp.clone()) };
    // git resolves PATH against the repository root; a path relative to the current
    // directory is made relative to the root first
    let prefix = std::process::Command::new("git")
        .args(["rev-parse", "--show-prefix"])
        .output()
        .map_err(|e| format!("cannot run git: {e}"))?;
    if !prefix.status.success() {
        return Err("`REV:PATH` needs a git repository around the current directory".into());
    }
    let prefix = String::from_utf8_lossy(&prefix.stdout).trim().to_string();
    let full = format!("{prefix}{path}");
    let archive = std::process::Command::new("git")
        .args(["archive", "--format=tar", rev, "--", &full])
        .output()
        .map_err(|e| format!("cannot run git: {e}"))?;
    if !archive.status.success() {
        return Err(format!(
            "git cannot export `{full}` at `{rev}`: {}",
            String::from_utf8_lossy(&archive.stderr).trim()
        ));
    }
    let mut tar = std::process::Command::new("tar")
        .args(["-x", "-C"])
        .arg(&temp)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run tar: {e}"))?;
    if let Some(mut stdin) = tar.stdin.take() {
        stdin.write_all(&archive.stdout).map_err(|e| format!("tar: {e}"))?;
    }
    let st = tar.wait().map_err(|e| format!("tar: {e}"))?;
    if !st.success() {
        return Err("tar could not unpack the git archive".into());
    }
    guard.dir = temp.join(&full);
    Ok(guard)
}

fn side_engine(data: &DataArgs, s: &Side, label: &str) -> Result<crate::engine::Engine, i32> {
    let mut cfg = data.config();
    if s.dir.join("registry.ron").is_file() || s.dir.join("registry.json").is_file() {
        cfg.registry = Some(s.dir.clone());
    } else if s.dir.join("pack.ron").is_file() || s.dir.join("pack.json").is_file() {
        cfg.packs.push(crate::pack::PackRef::Dir(s.dir.clone()));
    } else {
        eprintln!("error: {label} `{}` is neither a registry (registry.ron) nor a pack (pack.ron)", s.dir.display());
        return Err(EXIT_USAGE);
    }
    let out = crate::engine::Engine::load(&cfg);
    match out.engine {
        Some(e) => Ok(e),
        None => {
            let mut err = std::io::stderr().lock();
            for d in out.report.diagnostics.iter().filter(|d| d.is_error()) {
                let _ = write!(err, "{}", d.render());
            }
            let _ = writeln!(err, "error: the {label} side is invalid ({} errors)", out.report.errors());
            Err(exit_for(&out.report))
        }
    }
}

fn diff(a: DiffArgs) -> i32 {
    if !(a.tolerance.is_finite() && a.tolerance >= 0.0) {
        eprintln!("error: `--tolerance` must be a non-negative number of percent");
        return EXIT_USAGE;
    }
    let (old, new) = match (side(&a.old), side(&a.new)) {
        (Ok(o), Ok(n)) => (o, n),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    let (eo, en) = match (side_engine(&a.data, &old, "old"), side_engine(&a.data, &new, "new")) {
        (Ok(o), Ok(n)) => (o, n),
        (Err(c), _) | (_, Err(c)) => return c,
    };
    let (mo, mn) = (crate::diff::matrix(&eo), crate::diff::matrix(&en));
    let changes = crate::diff::compare(&mo, &mn, a.tolerance);
    let show = |v: &serde_json::Value| match v {
        serde_json::Value::Number(n) => n.as_f64().map(crate::numeric::py_float_repr).unwrap_or_default(),
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => "—".into(),
        other => other.to_string(),
    };
    let pct = |c: &crate::diff::Change| c.delta_pct.map(|d| format!("{d:+.2}%")).unwrap_or_default();
    let mut out = std::io::stdout().lock();
    let summary = format!(
        "{} cells compared ({} → {}), {} change{} beyond ±{}%",
        mo.len().max(mn.len()),
        eo.provenance().content_hash,
        en.provenance().content_hash,
        changes.len(),
        plural(changes.len()),
        a.tolerance
    );
    match a.format {
        DiffFormat::Table => {
            if !changes.is_empty() {
                let mut t = Table::new(&["cell", "field", "old", "new", "Δ"], &[false, false, true, true, true]);
                for c in &changes {
                    t.row(vec![c.key.clone(), c.field.clone(), show(&c.old), show(&c.new), pct(c)]);
                }
                let _ = write!(out, "{}", t.render());
            }
            let _ = writeln!(out, "{summary}");
        }
        DiffFormat::Json => {
            let v = serde_json::json!({
                "old": {"source": a.old, "provenance": eo.provenance()},
                "new": {"source": a.new, "provenance": en.provenance()},
                "cells": mo.len().max(mn.len()),
                "tolerance_pct": a.tolerance,
                "changes": changes,
            });
            let _ = writeln!(out, "{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        }
        DiffFormat::Github => {
            for c in &changes {
                let _ = writeln!(
                    out,
                    "::warning title=ratchet diff::{} · {}: {} → {} {}",
                    c.key.replace(['\n', '\r'], " "),
                    c.field,
                    show(&c.old),
                    show(&c.new),
                    pct(c)
                );
            }
            let _ = writeln!(out, "::notice title=ratchet diff::{summary}");
        }
    }
    if changes.is_empty() { EXIT_OK } else { EXIT_INVALID }
}

fn start_live(data: &DataArgs) -> Result<std::sync::Arc<crate::reload::Live>, i32> {
    match crate::reload::Live::start(data.config()) {
        Ok(l) => Ok(std::sync::Arc::new(l)),
        Err(report) => {
            let mut err = std::io::stderr().lock();
            for d in report.diagnostics.iter().filter(|d| d.is_error()) {
                let _ = write!(err, "{}", d.render());
            }
            let _ = writeln!(err, "error: the data is invalid ({} errors)", report.errors());
            Err(exit_for(&report))
        }
    }
}

fn outcome_line(o: &crate::reload::Outcome) -> String {
    match o {
        crate::reload::Outcome::Unchanged { id } => format!("no content change; generation {id} stays live"),
        crate::reload::Outcome::Swapped { id, build_ms, swap_us } => {
            format!("generation {id} live in {build_ms:.1} ms (swap {swap_us:.1} µs)")
        }
        crate::reload::Outcome::Failed(f) => {
            let mut s = String::new();
            for d in f.report.diagnostics.iter().filter(|d| d.is_error()) {
                s.push_str(&d.render());
            }
            s.push_str(&format!(
                "reload failed ({} error{}); generation {} stays live",
                f.report.errors(),
                plural(f.report.errors()),
                f.kept
            ));
            s
        }
    }
}

fn answer_queries(engine: &crate::engine::Engine, lines: &[String]) -> Vec<String> {
    lines.iter().map(|l| crate::batch::answer_line(engine, l).to_string()).collect()
}

fn watch(a: WatchArgs) -> i32 {
    let live = match start_live(&a.data) {
        Ok(l) => l,
        Err(c) => return c,
    };
    let queries: Vec<String> = match &a.query {
        None => Vec::new(),
        Some(p) => match std::fs::read_to_string(p) {
            Ok(t) => t.lines().filter(|l| !l.trim().is_empty()).map(str::to_string).collect(),
            Err(e) => {
                eprintln!("error: cannot read `{}`: {e}", p.display());
                return EXIT_USAGE;
            }
        },
    };
    let (tx, rx) = std::sync::mpsc::channel();
    let w = crate::reload::watch(
        live.clone(),
        std::time::Duration::from_millis(a.reload.debounce_ms),
        a.reload.poll,
        move |o| {
            let _ = tx.send(o);
        },
    );
    let w = match w {
        Ok(w) => w,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    if w.paths.is_empty() {
        eprintln!(
            "error: nothing to watch: the data is embedded; give --registry, --rules, --pack or --anchors directories"
        );
        return EXIT_USAGE;
    }
    let g = live.current();
    let mut answers = answer_queries(&g.engine, &queries);
    println!(
        "generation {} live ({} ms); watching {}",
        g.id,
        fmt_num(g.build_ms, 1),
        w.paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
    );
    for o in rx {
        println!("{}", outcome_line(&o));
        if let crate::reload::Outcome::Swapped { .. } = o {
            let g = live.current();
            let now = answer_queries(&g.engine, &queries);
            for (i, (old, new)) in answers.iter().zip(&now).enumerate() {
                if old != new {
                    println!("  query {}: {}\n    was {old}\n    now {new}", i + 1, queries[i]);
                }
            }
            answers = now;
        }
    }
    EXIT_OK
}

fn serve(a: ServeArgs) -> i32 {
    let live = match start_live(&a.data) {
        Ok(l) => l,
        Err(c) => return c,
    };
    let watcher = if a.no_watch {
        None
    } else {
        match crate::reload::watch(
            live.clone(),
            std::time::Duration::from_millis(a.reload.debounce_ms),
            a.reload.poll,
            |o| eprintln!("{}", outcome_line(&o)),
        ) {
            Ok(w) => Some(w),
            Err(e) => {
                eprintln!("error: {e}");
                return EXIT_USAGE;
            }
        }
    };
    if !(a.timeout_s.is_finite() && a.timeout_s > 0.0) {
        eprintln!("error: `--timeout-s` must be a positive number of seconds");
        return EXIT_USAGE;
    }
    let cfg = crate::serve::ServeConfig {
        body_limit: a.body_limit_mib.saturating_mul(1 << 20),
        timeout: std::time::Duration::from_secs_f64(a.timeout_s),
    };
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    rt.enable_all();
    if let Some(n) = a.threads {
        rt.worker_threads(n.max(1));
    }
    let rt = match rt.build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return EXIT_USAGE;
        }
    };
    let watched: Option<Vec<PathBuf>> = watcher.as_ref().map(|w| w.paths.clone());
    let code = rt.block_on(async move {
        let listener = match tokio::net::TcpListener::bind(&a.addr).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("error: cannot listen on `{}`: {e}", a.addr);
                return EXIT_USAGE;
            }
        };
        let addr = listener.local_addr().map(|x| x.to_string()).unwrap_or_else(|_| a.addr.clone());
        let watching = match &watched {
            Some(paths) if !paths.is_empty() => {
                format!("watching {}", paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "))
            }
            _ => "not watching".to_string(),
        };
        eprintln!("listening on http://{addr} (generation {}; {watching})", live.current().id);
        let st = crate::serve::AppState::new(live, cfg);
        match crate::serve::serve(listener, st, crate::serve::shutdown_signal()).await {
            Ok(()) => {
                eprintln!("shut down");
                EXIT_OK
            }
            Err(e) => {
                eprintln!("error: {e}");
                EXIT_USAGE
            }
        }
    });
    drop(watcher);
    code
}

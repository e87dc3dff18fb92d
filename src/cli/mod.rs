//! The `ratchet` command line.

mod calibrate;
mod diff;
mod frame;
mod live;
mod model;
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
    Diff(diff::DiffArgs),
    /// Reload on every save and show what changed (diagnostics, or the new generation and
    /// the changed answers of a query file).
    Watch(live::WatchArgs),
    /// Serve the engine over HTTP (JSON), reloading the data as it changes.
    Serve(live::ServeArgs),
    /// Models from their own descriptions: `model import config.json` writes a catalog entry.
    #[command(subcommand)]
    Model(model::ModelCmd),
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
    /// Model: a catalog key, a JSON model object (the batch form, `head_dim` and all), a
    /// `.json` file holding one, or a Hugging Face config.json (imported as `model import`
    /// does).
    #[arg(long)]
    model: String,
    /// Store the model in this quant scheme (a key of tables/quant_schemes.ron): a config
    /// imported in it, a catalog model re-quantised as `plan` does.
    #[arg(long)]
    quant: Option<String>,
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
    /// The KV cache's element type (`f16`, `q8_0`, `q4_0`, `fp8`, …: a key of
    /// `kv_cache_types` in tables/architectures.ron); the rule set's default when absent.
    #[arg(long, value_name = "TYPE")]
    kv_cache_dtype: Option<String>,
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
    /// Model: a catalog key, a JSON model object (the batch form, `head_dim` and all), a
    /// `.json` file holding one, or a Hugging Face config.json (imported as `model import`
    /// does).
    #[arg(long)]
    model: String,
    /// Store the model in this quant scheme (a key of tables/quant_schemes.ron): a config
    /// imported in it, a catalog model re-quantised as `plan` does.
    #[arg(long)]
    quant: Option<String>,
    /// Tier: a registry name, or a tier form as JSON (`{"base": …, "memory": …}`,
    /// `{"custom": …}`, `{"base": …, "set": …}`).
    #[arg(long)]
    tier: String,
    /// Upgrade the tier's memory: `TYPE@RATE[:SUFFIX]`, e.g. `LPDDR6@14`.
    #[arg(long, value_name = "TYPE@RATE[:SUFFIX]")]
    memory: Option<String>,
    /// The runtime the model runs under (a key of `tables/runtimes.ron`, e.g.
    /// `llamacpp-vulkan`): the tier takes its silicon class's fit under it (the same as the
    /// tier form `{"base": TIER, "set": {"runtime": R}}`).
    #[arg(long)]
    runtime: Option<String>,
    /// Workload id (selects per-cell measurements).
    #[arg(long, default_value = "default")]
    workload: String,
    /// Prompt tokens (rule-set default when absent).
    #[arg(long)]
    prompt_tokens: Option<u64>,
    /// Decode tokens (rule-set default when absent).
    #[arg(long)]
    decode_tokens: Option<u64>,
    /// Host time, ms (range: the rule set's `ranges`, checked by the engine).
    #[arg(long, allow_negative_numbers = true)]
    host_ms: Option<f64>,
    /// Compiler quality factor.
    #[arg(long, allow_negative_numbers = true)]
    compiler_quality: Option<f64>,
    /// NPU bandwidth share (the tier's default when absent).
    #[arg(long, allow_negative_numbers = true)]
    npu_share: Option<f64>,
    /// FP4 runtime maturity (`mature` or `immature`: the rule set's `choices`).
    #[arg(long)]
    fp4_runtime_maturity: Option<String>,
    /// The KV cache's element type (`f16`, `q8_0`, `q4_0`, `fp8`, …: a key of
    /// `kv_cache_types` in tables/architectures.ron); the rule set's default when absent.
    #[arg(long, value_name = "TYPE")]
    kv_cache_dtype: Option<String>,
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
        Command::Diff(a) => diff::run(a),
        Command::Watch(a) => live::watch(a),
        Command::Serve(a) => live::serve(a),
        Command::Model(c) => model::run(c),
    }
}

/// A `--tier` value: a registry name or a JSON tier form.
fn tier_arg<'e>(engine: &'e crate::engine::Engine, value: &str) -> Result<crate::tier::variants::TierArg<'e>, String> {
    tier_arg_under(engine, value, None)
}

/// A `--tier` value under `--runtime`: the form `{"base": TIER, "set": {"runtime": R}}`.
fn tier_arg_under<'e>(
    engine: &'e crate::engine::Engine,
    value: &str,
    runtime: Option<&str>,
) -> Result<crate::tier::variants::TierArg<'e>, String> {
    use crate::tier::variants::TierForm;
    let form = if value.trim_start().starts_with('{') {
        let v: serde_json::Value =
            serde_json::from_str(value).map_err(|e| format!("`--tier` is not valid JSON: {e}"))?;
        engine.tier_form(&v).map_err(|e| e.to_string())?
    } else {
        TierForm::Name(value.to_string())
    };
    let form = match runtime {
        None => form,
        Some(r) => {
            let set = std::iter::once(("runtime".to_string(), serde_json::Value::String(r.to_string()))).collect();
            TierForm::Set { base: Box::new(form), set }
        }
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
    let model_arg = match model::resolve(&engine, &a.model, a.quant.as_deref()) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    let model = model_arg.get();
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
    let mut setup = engine.workload_setup(&a.workload, a.prompt_tokens, a.decode_tokens);
    setup.params.kv_cache_dtype = a.kv_cache_dtype.clone();
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
                let v = r.decode_tok_s();
                let badge = if v.is_some() { r.answered_by().unwrap_or_default() } else { r.result.kind().to_string() };
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
        RowFormat::Csv => {
            let extra: Vec<&str> = engine.rule_set().extra_fields().map(|f| f.name.as_str()).collect();
            render::ladder_csv(&rows, &extra)
        }
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
    let model_arg = match model::resolve(&engine, &a.model, a.quant.as_deref()) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    let model = model_arg.get();
    let tier = match tier_arg_under(&engine, &a.tier, a.runtime.as_deref()) {
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
        fp4_runtime_maturity: a.fp4_runtime_maturity,
        kv_cache_dtype: a.kv_cache_dtype,
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

/// The listing's calibration cell: the label the tier's data supports (`Registry::tier_label`).
fn calibration_badge(reg: &Registry, t: &crate::tier::Tier) -> String {
    match reg.tier_label(t) {
        Some(l) => {
            let sep = if l.badge.is_empty() { "" } else { " " };
            let evidence = match (l.fitted, l.llm_measurements) {
                (true, _) => " · fitted".to_string(),
                (false, 0) => String::new(),
                (false, 1) => " · 1 LLM cell".to_string(),
                (false, n) => format!(" · {n} LLM cells"),
            };
            let claim = if l.note.is_some() { " · unbacked claim" } else { "" };
            format!("{}{sep}{} ({}){evidence}{claim}", l.badge, l.source.method, l.source.confidence)
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
                    "LLM calibration",
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

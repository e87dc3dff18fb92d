//! `ratchet model import`, and what every `--model` flag accepts: a catalog key, a JSON model
//! object, a `.json` file holding one, or a Hugging Face `config.json`; `--quant` re-stores it.

use super::{DataArgs, EXIT_INVALID, EXIT_OK, EXIT_USAGE, load_registry, ron_text};
use crate::batch::ModelArg;
use crate::catalog::{CatalogFile, LlmModel};
use crate::engine::Engine;
use crate::model_import::{ImportOptions, Imported};
use crate::registry::Registry;
use clap::{Args, Subcommand, ValueEnum};
use serde_json::Value;
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub(super) enum ModelCmd {
    /// A catalog entry from a Hugging Face config.json: parameters per tensor group, the
    /// attention layout (sliding windows, latent attention, state layers), storage in a quant.
    Import(ImportArgs),
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
enum ImportFormat {
    Ron,
    Json,
}

#[derive(Debug, Args)]
pub(super) struct ImportArgs {
    /// The model's config.json, or a GGUF file (its header and tensor table are read, not
    /// its weights).
    path: PathBuf,
    #[command(flatten)]
    data: DataArgs,
    /// Quant scheme of the weights (a key of tables/quant_schemes.ron, e.g. Q4_K_M); default:
    /// the checkpoint's own (`quantization_config`, else `torch_dtype`).
    #[arg(long)]
    quant: Option<String>,
    /// Catalog key; default: from the file or directory name.
    #[arg(long = "name", value_name = "KEY")]
    key: Option<String>,
    /// Write a catalog file (one model) here, for `registry/catalog/` or a pack.
    #[arg(long, value_name = "FILE.ron")]
    out: Option<PathBuf>,
    /// Output format of the entry on stdout.
    #[arg(long, value_enum, default_value = "ron")]
    format: ImportFormat,
}

pub(super) fn run(c: ModelCmd) -> i32 {
    match c {
        ModelCmd::Import(a) => import(a),
    }
}

/// The most of a GGUF file read for its header (a 260 k-token vocabulary takes a few MB).
const GGUF_HEADER_BYTES: u64 = 256 * 1024 * 1024;

/// True for a path the GGUF reader takes.
fn is_gguf(path: &std::path::Path) -> bool {
    path.extension().is_some_and(|e| e.eq_ignore_ascii_case("gguf"))
}

/// Reads and imports a config or GGUF file; the errors printed, one per line.
fn import_path(reg: &Registry, path: &std::path::Path, opts: &ImportOptions) -> Result<Imported, String> {
    let shown = path.display().to_string();
    let lines = |ds: Vec<crate::diagnostic::Diagnostic>| ds.iter().map(|d| d.one_line()).collect::<Vec<_>>().join("\n");
    if is_gguf(path) {
        use std::io::Read;
        let file = std::fs::File::open(path).map_err(|e| format!("cannot read `{shown}`: {e}"))?;
        let mut bytes = Vec::new();
        file.take(GGUF_HEADER_BYTES).read_to_end(&mut bytes).map_err(|e| format!("cannot read `{shown}`: {e}"))?;
        return crate::model_import::import_gguf(reg, &shown, &bytes, opts).map_err(lines);
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read `{shown}`: {e}"))?;
    crate::model_import::import_file(reg, &shown, &text, opts).map_err(lines)
}

fn import(a: ImportArgs) -> i32 {
    let reg = match load_registry(&a.data) {
        Ok(r) => r,
        Err(c) => return c,
    };
    let opts = ImportOptions { quant: a.quant.clone(), key: a.key.clone() };
    let imported = match import_path(&reg, &a.path, &opts) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("{e}");
            return EXIT_INVALID;
        }
    };
    eprint!("{}", summary(&imported));
    let text = match a.format {
        ImportFormat::Json => serde_json::to_string_pretty(&imported.model).map_err(|e| e.to_string()),
        ImportFormat::Ron => ron_text(&imported.model),
    };
    match text {
        Ok(t) => println!("{t}"),
        Err(e) => {
            eprintln!("error: cannot serialise: {e}");
            return EXIT_INVALID;
        }
    }
    if let Some(out) = &a.out {
        let file = CatalogFile {
            schema_version: 1,
            name: imported.model.key.clone(),
            description: Some(format!("imported by `ratchet model import` from {}", a.path.display())),
            models: vec![imported.model],
        };
        let written = ron_text(&file)
            .map_err(|e| e.to_string())
            .and_then(|t| std::fs::write(out, format!("#![enable(implicit_some)]\n{t}\n")).map_err(|e| e.to_string()));
        if let Err(e) = written {
            eprintln!("error: cannot write `{}`: {e}", out.display());
            return EXIT_USAGE;
        }
        eprintln!("wrote {}", out.display());
    }
    EXIT_OK
}

/// What the import read, for a person: layers by kind, parameters and bytes per group.
fn summary(m: &Imported) -> String {
    let (full, sliding, state) = m.layers;
    let mut s = format!(
        "{} as {}: {} layers ({full} full attention, {sliding} sliding window, {state} state)\n",
        m.model.key, m.architecture, m.model.num_layers
    );
    for g in &m.groups {
        s.push_str(&format!(
            "  {:<15} {:>10.3} B params  {:<14} {:>8.3} GB\n",
            g.group,
            g.params / 1e9,
            g.quant,
            g.params * g.bytes_per_param / 1e9
        ));
    }
    s.push_str(&format!(
        "  total {:.3} B params, active {:.3} B, {:.3} GB\n",
        m.model.total_params_b, m.model.active_params_b, m.model.gguf_size_gb
    ));
    for n in &m.notes {
        s.push_str(&format!("  note: {n}\n"));
    }
    s
}

/// True for a Hugging Face config (it names its model class), not a catalog entry.
fn is_hf_config(v: &Value) -> bool {
    v.get("architectures").is_some() && v.get("key").is_none()
}

/// A `--model` value as a model: a catalog key, a JSON model object (the batch form), a
/// `.json` file holding one, or a Hugging Face config.json; with `quant`, stored in that
/// scheme (a config imported in it, a catalog model re-quantised as `plan` does).
pub(super) fn resolve<'e>(engine: &'e Engine, value: &str, quant: Option<&str>) -> Result<ModelArg<'e>, String> {
    let inline = |v: Value, at: &str| crate::batch::model_arg(engine, Some(&v)).map_err(|e| format!("{at}{e}"));
    let arg = if value.trim_start().starts_with('{') {
        let v = serde_json::from_str(value).map_err(|e| format!("`--model` is not valid JSON: {e}"))?;
        inline(v, "")?
    } else if is_gguf(std::path::Path::new(value)) && std::path::Path::new(value).is_file() {
        let opts = ImportOptions { quant: None, key: None };
        let m = import_path(engine.registry(), std::path::Path::new(value), &opts)?;
        ModelArg::Inline(Box::new(m.model))
    } else if value.ends_with(".json") && std::path::Path::new(value).is_file() {
        let text = std::fs::read_to_string(value).map_err(|e| format!("cannot read `{value}`: {e}"))?;
        let v: Value =
            serde_json::from_str(&text).map_err(|e| format!("{value}:{}:{}: not JSON: {e}", e.line(), e.column()))?;
        if is_hf_config(&v) {
            let opts = ImportOptions { quant: quant.map(str::to_string), key: None };
            let m = import_path(engine.registry(), std::path::Path::new(value), &opts)?;
            return Ok(ModelArg::Inline(Box::new(m.model)));
        }
        inline(v, &format!("{value}: "))?
    } else {
        engine.model(value).map(ModelArg::Catalog).map_err(|e| e.to_string())?
    };
    match quant {
        None => Ok(arg),
        Some(q) => requantised(engine, arg.get(), q).map(|m| ModelArg::Inline(Box::new(m))),
    }
}

/// `model` stored in scheme `q`: itself when it already is, else its `plan` variant.
fn requantised(engine: &Engine, model: &LlmModel, q: &str) -> Result<LlmModel, String> {
    if model.quant_scheme == q {
        return Ok(model.clone());
    }
    let variants = engine.quant_variants(model);
    match variants.iter().find(|v| v.quant_scheme == q) {
        Some(v) => Ok(v.clone()),
        None => {
            let names: Vec<&str> = variants.iter().map(|v| v.quant_scheme.as_str()).collect();
            let help = crate::diagnostic::did_you_mean(q, names.iter().copied())
                .map(|h| format!(" ({h})"))
                .unwrap_or_default();
            Err(format!("`--quant` `{q}` is not a scheme `{}` can be stored in: {}{help}", model.key, names.join(", ")))
        }
    }
}

/// A `--model` value in the batch form: a catalog key stays a key, anything else becomes
/// the model object.
pub(super) fn as_json(engine: &Engine, value: &str, quant: Option<&str>) -> Result<Value, String> {
    match resolve(engine, value, quant)? {
        ModelArg::Catalog(m) => Ok(Value::String(m.key.clone())),
        ModelArg::Inline(m) => serde_json::to_value(&*m).map_err(|e| e.to_string()),
    }
}

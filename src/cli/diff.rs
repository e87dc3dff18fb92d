//! `ratchet diff`: what a registry or pack change does to the standard matrix, between two
//! directories or git revisions of one.

use super::table::Table;
use super::{DataArgs, EXIT_INVALID, EXIT_OK, EXIT_USAGE, exit_for, plural};
use clap::{Args, ValueEnum};
use std::io::Write;
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub(super) enum DiffFormat {
    Table,
    Json,
    Github,
}

#[derive(Debug, Args)]
pub(super) struct DiffArgs {
    #[command(flatten)]
    pub(super) data: DataArgs,
    /// The old side: a registry or pack directory, or `REV:PATH` (that directory at a git
    /// revision, e.g. `HEAD~1:registry`).
    pub(super) old: String,
    /// The new side, in the same forms.
    pub(super) new: String,
    /// Ignore relative changes up to this many percent.
    #[arg(long, default_value_t = 0.0)]
    pub(super) tolerance: f64,
    /// Output format; `github` prints workflow annotations for pull-request review.
    #[arg(long, value_enum, default_value = "table")]
    pub(super) format: DiffFormat,
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

/// `ratchet diff`.
pub(super) fn run(a: DiffArgs) -> i32 {
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

//! `ratchet plan`: the inverse questions, asked in the `plan` batch operation's form and
//! rendered from its typed answer (the JSON is that answer serialised, as `POST /v1/plan`
//! gives it).

use super::render::csv_field;
use super::table::{Table, fmt_num};
use super::{DataArgs, EXIT_INVALID, EXIT_OK, EXIT_USAGE, RowFormat, load_engine};
use crate::plan::{Failure, JudgedTargets, MaxContext, ModelPlan, PlanAnswer, TierPlan};
use crate::projection::{Banded, Projection, Provenance};
use clap::Args;
use serde_json::{Map, Value, json};
use std::fmt::Write as _;

#[derive(Debug, Args)]
pub(super) struct PlanArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Model: a catalog key, a JSON model object, a `.json` file holding one, or a Hugging
    /// Face config.json. With `--tier` and `--max-context`: the largest context that fits;
    /// alone: the cheapest tier that meets the targets.
    #[arg(long)]
    model: Option<String>,
    /// Store `--model` in this quant scheme (a key of tables/quant_schemes.ron).
    #[arg(long)]
    quant: Option<String>,
    /// Tier: a registry name or a tier form as JSON. Alone: which models and quants meet the
    /// targets on it.
    #[arg(long)]
    tier: Option<String>,
    /// The largest context (prompt + decode tokens) that fits `--model` on `--tier`.
    #[arg(long)]
    max_context: bool,
    /// Lowest acceptable decode rate, tok/s.
    #[arg(long, value_name = "TOK_S", allow_negative_numbers = true)]
    min_decode: Option<f64>,
    /// Longest acceptable time to first token, s.
    #[arg(long, value_name = "S", allow_negative_numbers = true)]
    max_ttft: Option<f64>,
    /// Lowest acceptable prefill rate, tok/s.
    #[arg(long, value_name = "TOK_S", allow_negative_numbers = true)]
    min_prefill: Option<f64>,
    /// Judge the targets at the projection (`central`) or at the pessimistic end of each
    /// number's 80 % uncertainty band (`p10`: rates at their 10th percentile, TTFT at its 90th).
    #[arg(long, value_parser = ["central", "p10"], default_value = "central")]
    confidence: String,
    /// Workload id, or a pack workload's name.
    #[arg(long, default_value = "default")]
    workload: String,
    /// Prompt tokens the targets are judged at.
    #[arg(long)]
    prompt_tokens: Option<u64>,
    /// Decode tokens the targets are judged at.
    #[arg(long)]
    decode_tokens: Option<u64>,
    /// Rank tiers by this field: `price` (a pack ladder's) or a numeric tier field.
    #[arg(long, default_value = "tdp_watts")]
    cost: String,
    /// Leave out the registry's memory upgrades.
    #[arg(long)]
    no_upgrades: bool,
    /// Leave out re-quantised variants (each model in its catalog scheme only).
    #[arg(long)]
    no_quants: bool,
    /// The KV cache's element type (`f16`, `q8_0`, `q4_0`, `fp8`, …: a key of
    /// `kv_cache_types` in tables/architectures.ron); the rule set's default when absent.
    #[arg(long, value_name = "TYPE")]
    kv_cache_dtype: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    format: RowFormat,
}

/// The request the flags describe, in the `plan` batch operation's form.
fn request(a: &PlanArgs) -> Result<Map<String, Value>, String> {
    let question = match (&a.model, &a.tier, a.max_context) {
        (Some(_), Some(_), true) => "max_context",
        (_, _, true) => return Err("`--max-context` needs `--model` and `--tier`".into()),
        (Some(_), None, false) => "cheapest_tier",
        (None, Some(_), false) => "models_for_tier",
        (Some(_), Some(_), false) => {
            return Err("give `--max-context` with `--model` and `--tier`, or only one of them with targets".into());
        }
        (None, None, false) => {
            return Err(
                "give `--model` (cheapest tier), `--tier` (models and quants) or both with `--max-context`".into()
            );
        }
    };
    let mut o = Map::new();
    o.insert("question".into(), json!(question));
    if let Some(m) = &a.model {
        o.insert("model".into(), json!(m));
    }
    if let Some(t) = &a.tier {
        let v = if t.trim_start().starts_with('{') {
            serde_json::from_str(t).map_err(|e| format!("`--tier` is not valid JSON: {e}"))?
        } else {
            json!(t)
        };
        o.insert("hw".into(), v);
    }
    if question != "max_context" {
        for (k, v) in
            [("min_decode_tok_s", a.min_decode), ("max_ttft_s", a.max_ttft), ("min_prefill_tok_s", a.min_prefill)]
        {
            if let Some(x) = v {
                o.insert(k.into(), json!(x));
            }
        }
        o.insert("workload".into(), json!(a.workload));
        o.insert("confidence".into(), json!(a.confidence));
        if let Some(n) = a.prompt_tokens {
            o.insert("prompt_tokens".into(), json!(n));
        }
        if let Some(n) = a.decode_tokens {
            o.insert("decode_tokens".into(), json!(n));
        }
    }
    if let Some(k) = &a.kv_cache_dtype {
        o.insert("kv_cache_dtype".into(), json!(k));
    }
    if question == "cheapest_tier" {
        o.insert("cost".into(), json!(a.cost));
        o.insert("memory_upgrades".into(), json!(!a.no_upgrades));
    }
    if question == "models_for_tier" {
        o.insert("quants".into(), json!(!a.no_quants));
    }
    Ok(o)
}

pub(super) fn run(a: PlanArgs) -> i32 {
    for (flag, v) in [("--min-decode", a.min_decode), ("--max-ttft", a.max_ttft), ("--min-prefill", a.min_prefill)] {
        if let Some(x) = v.filter(|x| !x.is_finite()) {
            eprintln!("error: `{flag}` is `{x}`; it must be a finite number");
            return EXIT_USAGE;
        }
    }
    let o = match request(&a) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    let engine = match load_engine(&a.data) {
        Ok(e) => e,
        Err(c) => return c,
    };
    let mut o = o;
    if let Some(m) = &a.model {
        match super::model::as_json(&engine, m, a.quant.as_deref()) {
            Ok(v) => {
                o.insert("model".into(), v);
            }
            Err(e) => {
                eprintln!("error: {e}");
                return EXIT_USAGE;
            }
        }
    } else if a.quant.is_some() {
        eprintln!("error: `--quant` stores `--model` in a scheme; give `--model`");
        return EXIT_USAGE;
    }
    let v = match crate::batch::plan_ops::plan(&engine, &o) {
        Ok(v) => v,
        Err(e) => {
            // every error here is about the question asked (names, targets), not the data
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    let text = match a.format {
        RowFormat::Json => serde_json::to_string_pretty(&v).unwrap_or_default() + "\n",
        RowFormat::Table => table(&v),
        RowFormat::Csv => csv(&v),
    };
    print!("{text}");
    // exit 1 when nothing answers the question, so scripts can gate on it
    if v.answered() { EXIT_OK } else { EXIT_INVALID }
}

/// A number to `dp` decimals, or a dash.
fn n(x: Option<f64>, dp: usize) -> String {
    x.map(|x| fmt_num(x, dp)).unwrap_or_else(|| "—".into())
}

/// A token count with thousands separators, or a dash.
fn tokens(v: Option<u64>) -> String {
    match v {
        Some(t) => {
            let s = t.to_string();
            let mut out = String::new();
            for (i, c) in s.chars().enumerate() {
                if i > 0 && (s.len() - i) % 3 == 0 {
                    out.push(',');
                }
                out.push(c);
            }
            out
        }
        None => "—".into(),
    }
}

fn footer(s: &mut String, p: &Provenance) {
    let _ = writeln!(
        s,
        "rule set {} · registry {} {} · content {}",
        p.rule_set, p.registry, p.registry_version, p.content_hash
    );
}

fn targets_text(t: &JudgedTargets) -> String {
    let mut parts = Vec::new();
    if let Some(x) = t.targets.min_decode_tok_s {
        parts.push(format!("decode ≥ {} tok/s", fmt_num(x, 3)));
    }
    if let Some(x) = t.targets.max_ttft_s {
        parts.push(format!("TTFT ≤ {} s", fmt_num(x, 3)));
    }
    if let Some(x) = t.targets.min_prefill_tok_s {
        parts.push(format!("prefill ≥ {} tok/s", fmt_num(x, 3)));
    }
    if t.targets.confidence == crate::plan::Confidence::P10 {
        parts.push("at the pessimistic end of each 80 % band".into());
    }
    format!(
        "{} (workload `{}`, {} prompt + {} decode tokens)",
        parts.join(", "),
        t.workload_id,
        t.prompt_tokens,
        t.decode_tokens
    )
}

fn why(f: &[Failure]) -> String {
    if f.is_empty() {
        "meets the targets".into()
    } else {
        f.iter().map(|f| f.message.as_str()).collect::<Vec<_>>().join("; ")
    }
}

/// Badge and source of a projection; the outcome's name otherwise.
fn source(r: &Projection<'_>) -> String {
    match r.projected() {
        Some(p) => format!("{} {}", p.badge, p.source).trim().to_string(),
        None => r.kind().to_string(),
    }
}

fn rate(r: &Projection<'_>, f: fn(&crate::projection::Projected<'_>) -> f64) -> Option<f64> {
    r.projected().map(f)
}

fn mark(meets: bool) -> String {
    if meets { "✓".into() } else { "✗".into() }
}

fn max_context_table(s: &mut String, v: &MaxContext) {
    let _ = writeln!(s, "{} on {}", v.model_key, v.hw_name);
    let (at, beyond) = (v.at_limit.as_ref(), v.beyond_limit.as_ref());
    match v.limited_by {
        "does_not_fit" => {
            let _ = writeln!(
                s,
                "  does not fit at any context: the weights and overhead need {} GB, {} GB available",
                n(beyond.map(|f| f.required_gb), 3),
                n(beyond.map(|f| f.available_gb), 3)
            );
        }
        "unbounded" => {
            let _ =
                writeln!(s, "  fits at every context up to {} tokens", tokens(Some(crate::plan::CONTEXT_SEARCH_LIMIT)));
        }
        _ => {
            let _ = writeln!(
                s,
                "  largest context that fits   {} tokens  ({} of {} GB; one more token needs {} GB)",
                tokens(v.max_context_tokens),
                n(at.map(|f| f.required_gb), 6),
                n(at.map(|f| f.available_gb), 3),
                n(beyond.map(|f| f.required_gb), 6)
            );
        }
    }
    let _ = writeln!(s, "  with comfortable headroom   {} tokens", tokens(v.max_fits_tokens));
    let _ = writeln!(s, "  trained context             {} tokens", tokens(v.ctx_len_trained));
    let _ = writeln!(
        s,
        "  usable                      {} tokens  (limited by {})",
        tokens(v.usable_context_tokens),
        v.limited_by.replace('_', " ")
    );
    if let Some(c) = &v.calibration_source {
        let _ = writeln!(s, "  calibration: {} ({}) — {}", c.method, c.confidence, c.reference);
    }
}

fn tiers_table(s: &mut String, v: &TierPlan) {
    let cost = v.cost_field.as_str();
    let _ = writeln!(s, "{} · {}", v.model_key, targets_text(&v.targets));
    match &v.answer {
        Some(a) => {
            let _ = writeln!(s, "cheapest that meets the targets: {} ({cost} {})\n", a.tier, n(a.cost, 3));
        }
        None => {
            let _ = writeln!(s, "no candidate meets the targets\n");
        }
    }
    let mut t =
        Table::new(&["tier", cost, "decode tok/s", "TTFT s", "source", "meets", "why"], &[false, true, true, true]);
    for c in &v.candidates {
        let name = match &c.label {
            Some(l) => format!("{l} ({})", c.tier),
            None => c.tier.clone(),
        };
        let mut row = vec![name, n(c.cost, 3)];
        row.extend(judged_cells(&c.result, c.meets, &c.failures));
        t.row(row);
    }
    s.push_str(&t.render());
}

/// The cells every candidate row ends with: decode, TTFT, the path that answered, and
/// whether it meets the targets and why not.
fn judged_cells(result: &Projection<'_>, meets: bool, failures: &[Failure]) -> [String; 5] {
    [banded(result, Banded::Decode, 2), banded(result, Banded::Ttft, 3), source(result), mark(meets), why(failures)]
}

/// A projected number with its 80 % band where the rule set states one, or a dash.
fn banded(r: &Projection<'_>, b: Banded, dp: usize) -> String {
    let Some(p) = r.projected() else { return "—".into() };
    let v = fmt_num(p.value(b), dp);
    match p.band(b) {
        Some((lo, hi)) => format!("{v} ({}–{})", super::render::fmt_sig(lo), super::render::fmt_sig(hi)),
        None => v,
    }
}

fn models_table(s: &mut String, v: &ModelPlan) {
    let _ = writeln!(s, "{} · {}", v.hw_name, targets_text(&v.targets));
    let answers: Vec<&str> = v.answers.iter().map(|c| c.model_key.as_str()).collect();
    if answers.is_empty() {
        let _ = writeln!(s, "no model meets the targets\n");
    } else {
        let _ = writeln!(s, "meets the targets (highest fidelity per model): {}\n", answers.join(", "));
    }
    let mut t = Table::new(
        &["model", "quant", "bytes/param", "decode tok/s", "TTFT s", "source", "meets", "why"],
        &[false, false, true, true, true],
    );
    for c in &v.candidates {
        let mut row = vec![c.model_key.clone(), c.quant_scheme.clone(), n(Some(c.bytes_per_param), 5)];
        row.extend(judged_cells(&c.result, c.meets, &c.failures));
        t.row(row);
    }
    s.push_str(&t.render());
}

fn table(v: &PlanAnswer) -> String {
    let mut s = String::new();
    match v {
        PlanAnswer::MaxContext(m) => max_context_table(&mut s, m),
        PlanAnswer::Tiers(t) => tiers_table(&mut s, t),
        PlanAnswer::Models(m) => models_table(&mut s, m),
    }
    footer(&mut s, v.provenance());
    s
}

/// A number as Python prints it, or an empty field.
fn num_csv(x: Option<f64>) -> String {
    x.map(crate::numeric::py_float_repr).unwrap_or_default()
}

/// The result columns both candidate CSVs end with.
fn result_csv(r: &Projection<'_>, meets: bool, failures: &[Failure]) -> String {
    format!(
        "{},{},{},{},{},{},{},{}",
        r.kind(),
        num_csv(rate(r, |p| p.decode_tok_s)),
        num_csv(rate(r, |p| p.prefill_tok_s)),
        num_csv(rate(r, |p| p.ttft_s)),
        num_csv(rate(r, |p| p.total_s)),
        csv_field(r.projected().map_or("", |p| p.source.as_ref())),
        meets,
        csv_field(&why(failures))
    )
}

fn csv(v: &PlanAnswer) -> String {
    let mut s = String::new();
    let t = |x: Option<u64>| x.map(|x| x.to_string()).unwrap_or_default();
    match v {
        PlanAnswer::MaxContext(v) => {
            s.push_str(
                "model,tier,max_context_tokens,max_fits_tokens,ctx_len_trained,usable_context_tokens,limited_by\n",
            );
            let _ = writeln!(
                s,
                "{},{},{},{},{},{},{}",
                csv_field(&v.model_key),
                csv_field(&v.hw_name),
                t(v.max_context_tokens),
                t(v.max_fits_tokens),
                t(v.ctx_len_trained),
                t(v.usable_context_tokens),
                v.limited_by
            );
        }
        PlanAnswer::Tiers(v) => {
            s.push_str("rank,tier,label,base_tier,memory_upgrade,cost,type,decode_tok_s,prefill_tok_s,ttft_s,total_s,source,meets,why\n");
            for (i, c) in v.candidates.iter().enumerate() {
                let _ = writeln!(
                    s,
                    "{},{},{},{},{},{},{}",
                    i + 1,
                    csv_field(&c.tier),
                    csv_field(c.label.as_deref().unwrap_or("")),
                    csv_field(&c.base_tier),
                    csv_field(c.memory_upgrade.as_deref().unwrap_or("")),
                    num_csv(c.cost),
                    result_csv(&c.result, c.meets, &c.failures)
                );
            }
        }
        PlanAnswer::Models(v) => {
            s.push_str("rank,model,base_model,quant_scheme,bytes_per_param,requantised,type,decode_tok_s,prefill_tok_s,ttft_s,total_s,source,meets,why\n");
            for (i, c) in v.candidates.iter().enumerate() {
                let _ = writeln!(
                    s,
                    "{},{},{},{},{},{},{}",
                    i + 1,
                    csv_field(&c.model_key),
                    csv_field(&c.base_model),
                    csv_field(&c.quant_scheme),
                    num_csv(Some(c.bytes_per_param)),
                    c.requantised,
                    result_csv(&c.result, c.meets, &c.failures)
                );
            }
        }
    }
    s
}

//! `ratchet plan`: the inverse questions, rendered from the same JSON answer the `plan` batch
//! operation and `POST /v1/plan` give.

use super::render::csv_field;
use super::table::{Table, fmt_num};
use super::{DataArgs, EXIT_INVALID, EXIT_OK, EXIT_USAGE, RowFormat, load_engine};
use clap::Args;
use serde_json::{Map, Value, json};
use std::fmt::Write as _;

#[derive(Debug, Args)]
pub(super) struct PlanArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Catalog model key. With `--tier` and `--max-context`: the largest context that fits;
    /// alone: the cheapest tier that meets the targets.
    #[arg(long)]
    model: Option<String>,
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
        if let Some(n) = a.prompt_tokens {
            o.insert("prompt_tokens".into(), json!(n));
        }
        if let Some(n) = a.decode_tokens {
            o.insert("decode_tokens".into(), json!(n));
        }
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
    let v = match crate::batch::plan_ops::answer(&engine, &o) {
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
    let answered = match v["question"].as_str() {
        Some("max_context") => !v["max_context_tokens"].is_null() || v["limited_by"] == "unbounded",
        Some("cheapest_tier") => !v["answer"].is_null(),
        _ => v["answers"].as_array().is_some_and(|a| !a.is_empty()),
    };
    if answered { EXIT_OK } else { EXIT_INVALID }
}

fn n(v: &Value, k: &str, dp: usize) -> String {
    v.get(k).and_then(Value::as_f64).map(|x| fmt_num(x, dp)).unwrap_or_else(|| "—".into())
}

fn tokens(v: &Value) -> String {
    match v.as_u64() {
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

fn footer(s: &mut String, v: &Value) {
    let p = &v["provenance"];
    let _ = writeln!(
        s,
        "rule set {} · registry {} {} · content {}",
        p["rule_set"].as_str().unwrap_or(""),
        p["registry"].as_str().unwrap_or(""),
        p["registry_version"].as_str().unwrap_or(""),
        p["content_hash"].as_str().unwrap_or("")
    );
}

fn targets_text(t: &Value) -> String {
    let mut parts = Vec::new();
    if let Some(x) = t["min_decode_tok_s"].as_f64() {
        parts.push(format!("decode ≥ {} tok/s", fmt_num(x, 3)));
    }
    if let Some(x) = t["max_ttft_s"].as_f64() {
        parts.push(format!("TTFT ≤ {} s", fmt_num(x, 3)));
    }
    if let Some(x) = t["min_prefill_tok_s"].as_f64() {
        parts.push(format!("prefill ≥ {} tok/s", fmt_num(x, 3)));
    }
    format!(
        "{} (workload `{}`, {} prompt + {} decode tokens)",
        parts.join(", "),
        t["workload_id"].as_str().unwrap_or(""),
        t["prompt_tokens"],
        t["decode_tokens"]
    )
}

fn why(c: &Value) -> String {
    let f: Vec<&str> =
        c["failures"].as_array().map(|a| a.iter().filter_map(|f| f["message"].as_str()).collect()).unwrap_or_default();
    if f.is_empty() { "meets the targets".into() } else { f.join("; ") }
}

fn source(r: &Value) -> String {
    match r["type"].as_str() {
        Some("Projected") => {
            format!("{} {}", r["badge"].as_str().unwrap_or(""), r["source"].as_str().unwrap_or("")).trim().to_string()
        }
        other => other.unwrap_or("").to_string(),
    }
}

fn table(v: &Value) -> String {
    let mut s = String::new();
    match v["question"].as_str() {
        Some("max_context") => {
            let _ = writeln!(s, "{} on {}", v["model_key"].as_str().unwrap_or(""), v["hw_name"].as_str().unwrap_or(""));
            let at = &v["at_limit"];
            let beyond = &v["beyond_limit"];
            match v["limited_by"].as_str() {
                Some("does_not_fit") => {
                    let _ = writeln!(
                        s,
                        "  does not fit at any context: the weights and overhead need {} GB, {} GB available",
                        n(beyond, "required_gb", 3),
                        n(beyond, "available_gb", 3)
                    );
                }
                Some("unbounded") => {
                    let _ = writeln!(
                        s,
                        "  fits at every context up to {} tokens",
                        tokens(&json!(crate::plan::CONTEXT_SEARCH_LIMIT))
                    );
                }
                _ => {
                    let _ = writeln!(
                        s,
                        "  largest context that fits   {} tokens  ({} of {} GB; one more token needs {} GB)",
                        tokens(&v["max_context_tokens"]),
                        n(at, "required_gb", 6),
                        n(at, "available_gb", 3),
                        n(beyond, "required_gb", 6)
                    );
                }
            }
            let _ = writeln!(s, "  with comfortable headroom   {} tokens", tokens(&v["max_fits_tokens"]));
            let _ = writeln!(s, "  trained context             {} tokens", tokens(&v["ctx_len_trained"]));
            let _ = writeln!(
                s,
                "  usable                      {} tokens  (limited by {})",
                tokens(&v["usable_context_tokens"]),
                v["limited_by"].as_str().unwrap_or("").replace('_', " ")
            );
            if let Some(c) = v["calibration_source"].as_object() {
                let _ = writeln!(
                    s,
                    "  calibration: {} ({}) — {}",
                    c.get("method").and_then(Value::as_str).unwrap_or(""),
                    c.get("confidence").and_then(Value::as_str).unwrap_or(""),
                    c.get("reference").and_then(Value::as_str).unwrap_or("")
                );
            }
        }
        Some("cheapest_tier") => {
            let cost = v["cost_field"].as_str().unwrap_or("");
            let _ = writeln!(s, "{} · {}", v["model_key"].as_str().unwrap_or(""), targets_text(&v["targets"]));
            match v["answer"].as_object() {
                Some(a) => {
                    let _ = writeln!(
                        s,
                        "cheapest that meets the targets: {} ({cost} {})\n",
                        a.get("tier").and_then(Value::as_str).unwrap_or(""),
                        a.get("cost").and_then(Value::as_f64).map_or("—".into(), |x| fmt_num(x, 3))
                    );
                }
                None => {
                    let _ = writeln!(s, "no candidate meets the targets\n");
                }
            }
            let mut t = Table::new(
                &["tier", cost, "decode tok/s", "TTFT s", "source", "meets", "why"],
                &[false, true, true, true],
            );
            for c in v["candidates"].as_array().into_iter().flatten() {
                let name = match c["label"].as_str() {
                    Some(l) => format!("{l} ({})", c["tier"].as_str().unwrap_or("")),
                    None => c["tier"].as_str().unwrap_or("").to_string(),
                };
                t.row(vec![
                    name,
                    n(c, "cost", 3),
                    n(&c["result"], "decode_tok_s", 2),
                    n(&c["result"], "ttft_s", 3),
                    source(&c["result"]),
                    if c["meets"] == true { "✓".into() } else { "✗".into() },
                    why(c),
                ]);
            }
            s.push_str(&t.render());
        }
        _ => {
            let _ = writeln!(s, "{} · {}", v["hw_name"].as_str().unwrap_or(""), targets_text(&v["targets"]));
            let answers: Vec<&str> = v["answers"]
                .as_array()
                .map(|a| a.iter().filter_map(|c| c["model_key"].as_str()).collect())
                .unwrap_or_default();
            if answers.is_empty() {
                let _ = writeln!(s, "no model meets the targets\n");
            } else {
                let _ = writeln!(s, "meets the targets (highest fidelity per model): {}\n", answers.join(", "));
            }
            let mut t = Table::new(
                &["model", "quant", "bytes/param", "decode tok/s", "TTFT s", "source", "meets", "why"],
                &[false, false, true, true, true],
            );
            for c in v["candidates"].as_array().into_iter().flatten() {
                t.row(vec![
                    c["model_key"].as_str().unwrap_or("").to_string(),
                    c["quant_scheme"].as_str().unwrap_or("").to_string(),
                    n(c, "bytes_per_param", 5),
                    n(&c["result"], "decode_tok_s", 2),
                    n(&c["result"], "ttft_s", 3),
                    source(&c["result"]),
                    if c["meets"] == true { "✓".into() } else { "✗".into() },
                    why(c),
                ]);
            }
            s.push_str(&t.render());
        }
    }
    footer(&mut s, v);
    s
}

fn num_csv(v: &Value, k: &str) -> String {
    v.get(k).and_then(Value::as_f64).map(crate::numeric::py_float_repr).unwrap_or_default()
}

fn csv(v: &Value) -> String {
    let mut s = String::new();
    match v["question"].as_str() {
        Some("max_context") => {
            s.push_str(
                "model,tier,max_context_tokens,max_fits_tokens,ctx_len_trained,usable_context_tokens,limited_by\n",
            );
            let t = |k: &str| v[k].as_u64().map(|x| x.to_string()).unwrap_or_default();
            let _ = writeln!(
                s,
                "{},{},{},{},{},{},{}",
                csv_field(v["model_key"].as_str().unwrap_or("")),
                csv_field(v["hw_name"].as_str().unwrap_or("")),
                t("max_context_tokens"),
                t("max_fits_tokens"),
                t("ctx_len_trained"),
                t("usable_context_tokens"),
                v["limited_by"].as_str().unwrap_or("")
            );
        }
        Some("cheapest_tier") => {
            s.push_str("rank,tier,label,base_tier,memory_upgrade,cost,type,decode_tok_s,prefill_tok_s,ttft_s,total_s,source,meets,why\n");
            for (i, c) in v["candidates"].as_array().into_iter().flatten().enumerate() {
                let r = &c["result"];
                let _ = writeln!(
                    s,
                    "{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
                    i + 1,
                    csv_field(c["tier"].as_str().unwrap_or("")),
                    csv_field(c["label"].as_str().unwrap_or("")),
                    csv_field(c["base_tier"].as_str().unwrap_or("")),
                    csv_field(c["memory_upgrade"].as_str().unwrap_or("")),
                    num_csv(c, "cost"),
                    r["type"].as_str().unwrap_or(""),
                    num_csv(r, "decode_tok_s"),
                    num_csv(r, "prefill_tok_s"),
                    num_csv(r, "ttft_s"),
                    num_csv(r, "total_s"),
                    csv_field(r["source"].as_str().unwrap_or("")),
                    c["meets"] == true,
                    csv_field(&why(c))
                );
            }
        }
        _ => {
            s.push_str("rank,model,base_model,quant_scheme,bytes_per_param,requantised,type,decode_tok_s,prefill_tok_s,ttft_s,total_s,source,meets,why\n");
            for (i, c) in v["candidates"].as_array().into_iter().flatten().enumerate() {
                let r = &c["result"];
                let _ = writeln!(
                    s,
                    "{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
                    i + 1,
                    csv_field(c["model_key"].as_str().unwrap_or("")),
                    csv_field(c["base_model"].as_str().unwrap_or("")),
                    csv_field(c["quant_scheme"].as_str().unwrap_or("")),
                    num_csv(c, "bytes_per_param"),
                    c["requantised"] == true,
                    r["type"].as_str().unwrap_or(""),
                    num_csv(r, "decode_tok_s"),
                    num_csv(r, "prefill_tok_s"),
                    num_csv(r, "ttft_s"),
                    num_csv(r, "total_s"),
                    csv_field(r["source"].as_str().unwrap_or("")),
                    c["meets"] == true,
                    csv_field(&why(c))
                );
            }
        }
    }
    s
}

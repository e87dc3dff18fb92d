//! Human renderings of projections and explanations.

use super::table::fmt_num;
use crate::numeric::py_float_repr;
use crate::projection::{Banded, Explanation, Projection};
use std::fmt::Write;

/// A projection as aligned lines.
pub fn projection(r: &Projection<'_>) -> String {
    let mut s = String::new();
    match r {
        Projection::Projected(p) => {
            let _ = writeln!(
                s,
                "{} on {} · workload {} · {} prompt + {} decode tokens",
                p.model_key, p.hw_name, p.workload_id, p.prompt_tokens, p.decode_tokens
            );
            let badge = if p.badge.is_empty() { String::new() } else { format!(" {}", p.badge) };
            let with_band = |b: Banded, unit: &str| {
                let v = format!("{} {unit}", py_float_repr(p.value(b)));
                match p.band(b) {
                    Some((lo, hi)) => format!("{v}  (80 % band {}–{} {unit})", fmt_sig(lo), fmt_sig(hi)),
                    None => v,
                }
            };
            let mut rows: Vec<(&str, String)> = vec![
                ("source", format!("{}{badge}", p.source)),
                ("decode", with_band(Banded::Decode, "tok/s")),
                ("prefill", with_band(Banded::Prefill, "tok/s")),
                ("TTFT", with_band(Banded::Ttft, "s")),
                ("decode time", format!("{} s", py_float_repr(p.decode_s))),
                ("prefill time", format!("{} s", py_float_repr(p.prefill_s))),
                ("host", format!("{} ms", py_float_repr(p.host_ms))),
                ("total", format!("{} s", py_float_repr(p.total_s))),
                (
                    "regime",
                    match p.decode_ceiling_tok_s {
                        Some(c) => format!("{} (bandwidth ceiling {} tok/s)", p.regime, py_float_repr(c)),
                        None => p.regime.to_string(),
                    },
                ),
            ];
            // the band's factors are shown as the band beside each number
            let factors: Vec<&str> = Banded::ALL.iter().flat_map(|b| b.factor_fields()).collect();
            for (k, v) in p.extra.iter().filter(|(k, _)| !factors.contains(k)) {
                let text = match v {
                    crate::projection::OutVal::Num(x) => py_float_repr(*x),
                    crate::projection::OutVal::Bool(b) => b.to_string(),
                    crate::projection::OutVal::Str(t) => t.to_string(),
                };
                rows.push((k, text));
            }
            for (k, v) in rows {
                let _ = writeln!(s, "  {k:<13} {v}");
            }
            footer(&mut s, &p.provenance);
        }
        Projection::WontFit(w) => {
            let _ = writeln!(
                s,
                "{} does not fit on {} ({} + {} tokens)",
                w.model_key, w.hw_name, w.prompt_tokens, w.decode_tokens
            );
            let _ = writeln!(
                s,
                "  needs {} GB (weights {} + KV cache {} + overhead {}), has {} GB: short by {} GB",
                fmt_num(w.required_gb, 3),
                fmt_num(w.breakdown.weights_gb, 3),
                fmt_num(w.breakdown.kv_cache_gb, 4),
                fmt_num(w.breakdown.overhead_gb, 3),
                fmt_num(w.available_gb, 3),
                fmt_num(-w.headroom_gb, 3)
            );
            footer(&mut s, &w.provenance);
        }
        Projection::DtypeMismatch(d) => {
            let _ = writeln!(
                s,
                "{} cannot run on {}: {} is {}",
                d.model_key, d.hw_name, d.required_dtype, d.tier_capability
            );
            if let Some(h) = &d.retargeting_hint {
                let _ = writeln!(s, "  {h}");
            }
            footer(&mut s, &d.provenance);
        }
    }
    s
}

pub(super) fn footer(s: &mut String, p: &crate::projection::Provenance) {
    let _ = writeln!(
        s,
        "rule set {} · registry {} {} · content {} · generation {}",
        p.rule_set, p.registry, p.registry_version, p.content_hash, p.generation
    );
}

/// An explanation: gates, the cascade, and every formula with its inputs and value.
pub fn explanation(e: &Explanation) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "\nexplain (rule set {})", e.rule_set);
    let _ = writeln!(s, "gates:");
    for (g, held) in &e.gates {
        let _ = writeln!(s, "  {g:<12} {}", if *held { "held — the projection stops here" } else { "passed" });
    }
    let _ = writeln!(s, "cascade:");
    for p in &e.paths {
        let _ = writeln!(s, "  {:<12} {:<12} {} ({})", p.name, p.status, p.reason, p.source);
    }
    let _ = writeln!(s, "values, in evaluation order:");
    s.push_str(&values(&e.values));
    s
}

/// Traced values, one per line: inputs as `name = value`, formulas as their text, the text
/// with values substituted, and the value.
pub fn values(values: &[crate::projection::ExplainedValue]) -> String {
    let mut s = String::new();
    for v in values {
        let value = match &v.value {
            serde_json::Value::Number(n) => n.as_f64().map(py_float_repr).unwrap_or_else(|| n.to_string()),
            other => other.to_string(),
        };
        if v.formula.is_empty() {
            let _ = writeln!(s, "  {} = {value}", v.name);
        } else {
            let _ = writeln!(s, "  {} = {}", v.name, v.formula);
            if v.substituted != v.formula && !v.substituted.is_empty() {
                let _ = writeln!(s, "      = {}", v.substituted);
            }
            let _ = writeln!(s, "      = {value}");
        }
    }
    s
}

use crate::ladder::{COLUMNS, Cell, Column, LadderRow};

/// A cell as a table shows it: rounded to the column's digits, or as Python prints it.
fn table_cell(c: &Column, r: &LadderRow<'_>) -> String {
    match ((c.get)(r), c.digits) {
        (Cell::Num(x), Some(dp)) => super::table::fmt_num(x, dp),
        (Cell::Num(x), None) => py_float_repr(x),
        (Cell::Banded(x, lo, hi), dp) => {
            let v = dp.map_or_else(|| py_float_repr(x), |dp| super::table::fmt_num(x, dp));
            format!("{v} ({}–{})", fmt_sig(lo), fmt_sig(hi))
        }
        (Cell::Text(s), _) => s,
        (Cell::Empty, _) => "—".into(),
    }
}

/// Three significant digits: a band's ends are not known better than that.
pub fn fmt_sig(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        return py_float_repr(x);
    }
    let dp = (2 - x.abs().log10().floor() as i32).max(0) as usize;
    fmt_num(x, dp)
}

/// The ladder as an aligned table (the `COLUMNS` with a header).
pub fn ladder_table(rows: &[LadderRow<'_>], prov: &crate::projection::Provenance) -> String {
    let cols: Vec<&Column> = COLUMNS.iter().filter(|c| c.header.is_some()).collect();
    let names: Vec<&str> = cols.iter().filter_map(|c| c.header).collect();
    let right: Vec<bool> = cols.iter().map(|c| !c.unit.is_empty()).collect();
    let mut t = super::table::Table::new(&names, &right);
    for r in rows {
        t.row(cols.iter().map(|c| table_cell(c, r)).collect());
    }
    let mut s = t.render();
    s.push_str(&format!(
        "rule set {} · registry {} {} · content {}\n",
        prov.rule_set, prov.registry, prov.registry_version, prov.content_hash
    ));
    s
}

/// One CSV field, quoted per RFC 4180 when it needs to be.
pub fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_string() }
}

/// The ladder as CSV (RFC 4180 quoting): the `COLUMNS` with a field name, then one column per
/// name in `extra` (the rule set's extra declared fields).
pub fn ladder_csv(rows: &[LadderRow<'_>], extra: &[&str]) -> String {
    let q = csv_field;
    let cols: Vec<&Column> = COLUMNS.iter().filter(|c| c.field.is_some()).collect();
    let mut header: Vec<String> = cols.iter().filter_map(|c| c.field).map(q).collect();
    header.extend(extra.iter().map(|e| q(e)));
    let mut s = header.join(",") + "\n";
    for r in rows {
        let mut cells: Vec<String> = cols
            .iter()
            .map(|c| match (c.get)(r) {
                Cell::Num(x) | Cell::Banded(x, ..) => py_float_repr(x),
                Cell::Text(t) => q(&t),
                Cell::Empty => String::new(),
            })
            .collect();
        let ex = r.result.projected().map(|p| &p.extra);
        cells.extend(extra.iter().map(|e| q(&out_cell(ex.and_then(|x| x.get(e))))));
        s.push_str(&cells.join(","));
        s.push('\n');
    }
    s
}

/// A rule-set output as a table or CSV cell: numbers as Python prints them, strings bare,
/// absent values empty.
pub fn out_cell(v: Option<&crate::projection::OutVal<'_>>) -> String {
    use crate::projection::OutVal;
    match v {
        Some(OutVal::Num(x)) => py_float_repr(*x),
        Some(OutVal::Bool(b)) => b.to_string(),
        Some(OutVal::Str(s)) => s.to_string(),
        None => String::new(),
    }
}

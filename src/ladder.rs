//! The tier ladder: one model projected on every rung (a pack's visible ladder, or every
//! registry tier), each rung optionally followed by memory-upgraded clones. Shared by
//! `ratchet ladder`, `ratchet plan`, the `ladder` batch operation and the web page.

use crate::catalog::LlmModel;
use crate::engine::Engine;
use crate::error::EngineError;
use crate::projection::{Banded, Feasibility, ProjectParams, Projection};
use crate::tier::Tier;
use crate::tier::variants::MemorySpec;
use crate::workload::WorkloadPattern;
use serde::Serialize;

/// One rung: a tier as it is projected, with where it came from.
#[derive(Debug, Clone)]
pub struct Rung {
    /// The tier (a registry tier, or a memory clone of one).
    pub tier: Tier,
    /// Display label from a pack's ladder (base rungs only).
    pub label: Option<String>,
    /// The registry tier it is, or was cloned from.
    pub base: String,
    /// The memory upgrade's label, for clones.
    pub memory_upgrade: Option<String>,
    /// The pack ladder's price of the base rung.
    pub price: Option<f64>,
}

/// Which rungs a ladder shows.
#[derive(Debug, Clone, Default)]
pub struct RungSpec {
    /// Clone every rung with each of these memories (`--memory TYPE@RATE`).
    pub memory: Vec<MemorySpec>,
    /// Also clone every rung with each of the registry's memory-upgrade options that raises
    /// its bandwidth.
    pub upgrades: bool,
}

/// The workload a ladder or plan runs: the reference workload id, token counts and the
/// pattern a pack workload brings.
#[derive(Debug, Clone, Default)]
pub struct WorkloadSetup {
    /// Workload id passed to the projection.
    pub workload_id: String,
    /// Token counts and options.
    pub params: ProjectParams,
    /// A pack workload's decode/TTFT pattern.
    pub pattern: Option<WorkloadPattern>,
}

/// One rung of a ladder: the tier, its projection and its memory check.
// Typed to the end: the table and CSV read it through `COLUMNS`, JSON serialises it whole.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct LadderRow<'a> {
    /// Tier name.
    pub tier: String,
    /// Memory-upgraded clone.
    pub bw_projected: bool,
    /// The projection (`Projected`, `WontFit` or `DtypeMismatch`).
    pub result: Projection<'a>,
    /// The memory check at prompt + decode tokens.
    pub feasibility: Feasibility<'a>,
    /// Display label from a pack's ladder (absent otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

impl LadderRow<'_> {
    /// The decode rate, when the tier runs the model.
    pub fn decode_tok_s(&self) -> Option<f64> {
        self.result.projected().map(|p| p.decode_tok_s)
    }

    /// What answered: badge and source label, or the dtype the tier cannot run; nothing
    /// when the model does not fit.
    pub fn answered_by(&self) -> Option<String> {
        match &self.result {
            Projection::Projected(p) => Some(format!("{} {}", p.badge, p.source).trim().to_string()),
            Projection::DtypeMismatch(d) => Some(format!("can't run {}", d.required_dtype)),
            Projection::WontFit(_) => None,
        }
    }
}

/// One cell of a ladder row.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// A number (a table may round it: `Column::digits`).
    Num(f64),
    /// Text.
    Text(String),
    /// A projected number with its uncertainty band (value, 10th, 90th percentile): a
    /// table shows `value (p10–p90)`, CSV the value (the band has its own columns).
    Banded(f64, f64, f64),
    /// Nothing (a rate of a tier that does not run the model).
    Empty,
}

/// One column of a ladder: its table header and CSV field (either may be absent), unit and
/// meaning declared once, with the typed field it reads.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    /// Table header (`None`: not in the table).
    pub header: Option<&'static str>,
    /// CSV field name (`None`: not in the CSV).
    pub field: Option<&'static str>,
    /// Unit ("" for text).
    pub unit: &'static str,
    /// What it holds.
    pub doc: &'static str,
    /// Decimals a table shows (`None`: the number as Python prints it).
    pub digits: Option<usize>,
    /// Reads the cell.
    pub get: fn(&LadderRow<'_>) -> Cell,
}

fn rate(r: &LadderRow<'_>, f: fn(&crate::projection::Projected<'_>) -> f64) -> Cell {
    r.result.projected().map_or(Cell::Empty, |p| Cell::Num(f(p)))
}

/// A banded quantity: with its band where the rule set states one.
fn banded(r: &LadderRow<'_>, b: Banded) -> Cell {
    r.result.projected().map_or(Cell::Empty, |p| match p.band(b) {
        Some((lo, hi)) => Cell::Banded(p.value(b), lo, hi),
        None => Cell::Num(p.value(b)),
    })
}

/// One end of a banded quantity's band (CSV).
fn band_end(r: &LadderRow<'_>, b: Banded, hi: bool) -> Cell {
    r.result.projected().and_then(|p| p.band(b)).map_or(Cell::Empty, |(l, h)| Cell::Num(if hi { h } else { l }))
}

fn text(s: impl Into<String>) -> Cell {
    Cell::Text(s.into())
}

const fn col(
    header: Option<&'static str>,
    field: Option<&'static str>,
    unit: &'static str,
    doc: &'static str,
    get: fn(&LadderRow<'_>) -> Cell,
) -> Column {
    Column { header, field, unit, doc, digits: None, get }
}

/// The ladder's columns, in table order and in CSV order (the rule set's extra fields follow
/// in the CSV, one column each).
pub const COLUMNS: &[Column] = &[
    col(Some("tier"), None, "", "the pack ladder's label or the tier name; `(BW-proj)` marks a memory clone", |r| {
        text(format!("{}{}", r.label.as_deref().unwrap_or(&r.tier), if r.bw_projected { " (BW-proj)" } else { "" }))
    }),
    col(None, Some("tier"), "", "tier name", |r| text(r.tier.as_str())),
    col(None, Some("bw_projected"), "", "memory-upgraded clone", |r| text(r.bw_projected.to_string())),
    col(None, Some("type"), "", "outcome", |r| text(r.result.kind())),
    col(Some("decode tok/s"), Some("decode_tok_s"), "tok/s", "decode rate (its 80 % band in the table)", |r| {
        banded(r, Banded::Decode)
    }),
    col(None, Some("decode_tok_s_p10"), "tok/s", "decode rate, 10th percentile of its band", |r| {
        band_end(r, Banded::Decode, false)
    }),
    col(None, Some("decode_tok_s_p90"), "tok/s", "decode rate, 90th percentile of its band", |r| {
        band_end(r, Banded::Decode, true)
    }),
    col(Some("prefill tok/s"), Some("prefill_tok_s"), "tok/s", "prefill rate (its 80 % band in the table)", |r| {
        banded(r, Banded::Prefill)
    }),
    col(None, Some("prefill_tok_s_p10"), "tok/s", "prefill rate, 10th percentile of its band", |r| {
        band_end(r, Banded::Prefill, false)
    }),
    col(None, Some("prefill_tok_s_p90"), "tok/s", "prefill rate, 90th percentile of its band", |r| {
        band_end(r, Banded::Prefill, true)
    }),
    col(Some("TTFT s"), Some("ttft_s"), "s", "time to first token (its 80 % band in the table)", |r| {
        banded(r, Banded::Ttft)
    }),
    col(None, Some("ttft_s_p10"), "s", "time to first token, 10th percentile of its band", |r| {
        band_end(r, Banded::Ttft, false)
    }),
    col(None, Some("ttft_s_p90"), "s", "time to first token, 90th percentile of its band", |r| {
        band_end(r, Banded::Ttft, true)
    }),
    col(Some("total s"), Some("total_s"), "s", "host + prefill + decode", |r| rate(r, |p| p.total_s)),
    col(Some("fit"), Some("verdict"), "", "memory verdict", |r| text(r.feasibility.verdict.as_ref())),
    Column {
        digits: Some(2),
        ..col(Some("headroom GB"), Some("headroom_gb"), "GB", "available − required memory", |r| {
            Cell::Num(r.feasibility.headroom_gb)
        })
    },
    col(Some("source"), None, "", "what answered", |r| r.answered_by().map_or(Cell::Empty, Cell::Text)),
    col(None, Some("source"), "", "source label of the path that answered", |r| {
        text(r.result.projected().map_or("", |p| p.source.as_ref()))
    }),
    col(None, Some("badge"), "", "badge of the source label", |r| {
        text(r.result.projected().map_or("", |p| p.badge.as_ref()))
    }),
];

impl Engine {
    /// The rungs of the ladder: the packs' visible ladder in its order (or every registry
    /// tier), each followed by its memory clones. Clones that cannot be built are skipped
    /// and reported as warnings.
    pub fn ladder_rungs(&self, spec: &RungSpec) -> (Vec<Rung>, Vec<String>) {
        let reg = self.registry();
        let base: Vec<(&std::sync::Arc<Tier>, Option<String>, Option<f64>)> =
            match self.packs().and_then(|p| p.ladder.as_ref()) {
                Some(rungs) => {
                    rungs.iter().filter_map(|r| reg.tier(&r.tier).map(|t| (t, r.label.clone(), r.price))).collect()
                }
                None => reg.tiers().iter().map(|t| (t, None, None)).collect(),
            };
        let options: Vec<(MemorySpec, Option<String>)> = spec
            .memory
            .iter()
            .map(|m| (m.clone(), None))
            .chain(reg.memory().upgrade_options.iter().filter(|_| spec.upgrades).map(|o| {
                (
                    MemorySpec {
                        mem_type: o.mem_type.clone(),
                        mem_data_rate_gtps: o.mem_data_rate_gtps,
                        name_suffix: None,
                    },
                    Some(o.label.clone()),
                )
            }))
            .collect();
        let mut rungs = Vec::new();
        let mut warnings = Vec::new();
        for (t, label, price) in base {
            rungs.push(Rung { tier: Tier::clone(t), label, base: t.name().to_string(), memory_upgrade: None, price });
            for (m, option_label) in &options {
                match self.with_memory(t, m) {
                    // a registry option is an upgrade only where it raises the bandwidth
                    Ok(c) if option_label.is_some() && c.spec.mem_bandwidth_gbs <= t.spec.mem_bandwidth_gbs => {}
                    Ok(c) => rungs.push(Rung {
                        label: None,
                        base: t.name().to_string(),
                        memory_upgrade: Some(option_label.clone().unwrap_or_else(|| c.name().to_string())),
                        price,
                        tier: c,
                    }),
                    Err(e) => warnings.push(format!("{}: {e}", t.name())),
                }
            }
        }
        (rungs, warnings)
    }

    /// The workload named `workload`: a pack workload brings its token counts, reference
    /// workload id and pattern; any other name is a reference workload id. Explicit token
    /// counts win.
    pub fn workload_setup(
        &self,
        workload: &str,
        prompt_tokens: Option<u64>,
        decode_tokens: Option<u64>,
    ) -> WorkloadSetup {
        let pack_workload = self
            .packs()
            .and_then(|p| p.sizing.workload_files.iter().find(|w| w.name == workload))
            .and_then(|w| w.projection.as_ref());
        WorkloadSetup {
            workload_id: pack_workload.map_or_else(|| workload.to_string(), |w| w.workload_id.clone()),
            params: ProjectParams {
                prompt_tokens: prompt_tokens.or(pack_workload.map(|w| u64::from(w.prompt_tokens))),
                decode_tokens: decode_tokens.or(pack_workload.map(|w| u64::from(w.decode_tokens))),
                ..Default::default()
            },
            pattern: pack_workload.and_then(|w| w.pattern),
        }
    }

    /// Projects `model` on every rung, with the memory check at prompt + decode tokens.
    pub fn ladder<'a>(
        &'a self,
        model: &'a LlmModel,
        rungs: &'a [Rung],
        w: &'a WorkloadSetup,
    ) -> Result<Vec<LadderRow<'a>>, EngineError> {
        let d = &self.rule_set().defaults;
        let p = &w.params;
        let ctx = p.prompt_tokens.unwrap_or(d.prompt_tokens) + p.decode_tokens.unwrap_or(d.decode_tokens);
        let mut rows = Vec::with_capacity(rungs.len());
        for r in rungs {
            let t = &r.tier;
            rows.push(LadderRow {
                tier: t.name().to_string(),
                bw_projected: t.spec.bw_projected,
                result: self.project_llm_full(model, t, &w.workload_id, p, w.pattern.as_ref(), None)?,
                feasibility: self.memory_feasibility_with(model, t, ctx, p)?,
                label: r.label.clone(),
            });
        }
        Ok(rows)
    }
}

/// The answer of the `ladder` operation.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct LadderAnswer<'a> {
    /// Model key.
    pub model: String,
    /// The reference workload id the rows were projected at.
    pub workload_id: String,
    /// Registry, rule set and generation.
    pub provenance: crate::projection::Provenance,
    /// One row per rung, in ladder order.
    pub rows: Vec<LadderRow<'a>>,
    /// Memory clones that could not be built.
    pub warnings: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::COLUMNS;

    #[test]
    fn every_column_is_shown_somewhere_under_a_unique_name() {
        for names in [
            COLUMNS.iter().filter_map(|c| c.header).collect::<Vec<_>>(),
            COLUMNS.iter().filter_map(|c| c.field).collect(),
        ] {
            let mut sorted = names.clone();
            sorted.sort_unstable();
            sorted.dedup();
            assert_eq!(sorted.len(), names.len(), "{names:?}");
        }
        assert!(COLUMNS.iter().all(|c| (c.header.is_some() || c.field.is_some()) && !c.doc.is_empty()));
    }
}

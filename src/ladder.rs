//! The tier ladder: one model projected on every rung (a pack's visible ladder, or every
//! registry tier), each rung optionally followed by memory-upgraded clones. Shared by
//! `ratchet ladder`, `ratchet plan`, the `ladder` batch operation and the web page.

use crate::catalog::LlmModel;
use crate::engine::Engine;
use crate::error::EngineError;
use crate::projection::ProjectParams;
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

/// One row of a ladder.
#[derive(Debug, Clone, Serialize)]
pub struct LadderRow {
    /// Tier name.
    pub tier: String,
    /// Memory-upgraded clone.
    pub bw_projected: bool,
    /// The projection (`Projected`, `WontFit` or `DtypeMismatch`) as JSON.
    pub result: serde_json::Value,
    /// The memory check at prompt + decode tokens.
    pub feasibility: serde_json::Value,
    /// Display label from a pack's ladder.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

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
    pub fn ladder(&self, model: &LlmModel, rungs: &[Rung], w: &WorkloadSetup) -> Result<Vec<LadderRow>, EngineError> {
        let d = &self.rule_set().defaults;
        let p = &w.params;
        let ctx = p.prompt_tokens.unwrap_or(d.prompt_tokens) + p.decode_tokens.unwrap_or(d.decode_tokens);
        let mut rows = Vec::with_capacity(rungs.len());
        for r in rungs {
            let t = &r.tier;
            let res = self.project_llm_full(model, t, &w.workload_id, p, w.pattern.as_ref(), None)?;
            let f = self.memory_feasibility(model, t, ctx)?;
            rows.push(LadderRow {
                tier: t.name().to_string(),
                bw_projected: t.spec.bw_projected,
                result: serde_json::to_value(&res).unwrap_or_default(),
                feasibility: serde_json::to_value(&f).unwrap_or_default(),
                label: r.label.clone(),
            });
        }
        Ok(rows)
    }
}

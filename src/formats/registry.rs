//! File types of the registry that are not tiers, capability tables or catalogs: the
//! manifest, memory options and badges (the silicon-class defaults are custom-tier data and
//! live in `tier::custom`; they are re-exported here).

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `registry/registry.ron`: names the registry and its version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// File format version.
    pub schema_version: u32,
    /// Registry name.
    pub name: String,
    /// Registry version (semver), reported with every result.
    pub version: String,
    /// What this registry describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

pub use crate::tier::custom::{SiliconClass, SiliconClassTable};

/// One memory-upgrade option (reference spec §2.10).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MemoryUpgrade {
    /// Display label, e.g. `LPDDR6 @ 14 GT/s`.
    pub label: String,
    /// Memory technology.
    pub mem_type: String,
    /// Data rate, GT/s.
    pub mem_data_rate_gtps: f64,
}

/// `registry/tables/memory.ron`: known memory technologies and upgrade options.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MemoryTable {
    /// File format version.
    pub schema_version: u32,
    /// Memory technologies the validator knows (others draw a warning).
    pub known_types: Vec<String>,
    /// Upgrade options offered to surfaces, in display order.
    pub upgrade_options: Vec<MemoryUpgrade>,
    /// How much of a shared (unified) memory an accelerator may use, by the name a tier's
    /// `memory_sharing` gives; a tier that names none may use all of its capacity.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub sharing: IndexMap<String, MemorySharing>,
}

/// The share of a tier's memory its accelerator may use: `fraction` of the capacity (or the
/// `above` step's from its capacity on), less `reserve_gb`, no less than `min_gb`, no more
/// than `max_gb` or the capacity. The rules compute it (`rules/unified-memory.ron`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MemorySharing {
    /// Fraction of the capacity, in (0, 1].
    pub fraction: f64,
    /// Another fraction from a capacity on (macOS gives 3/4 from 36 GB, 2/3 below).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub above: Option<SharingStep>,
    /// GB taken off after the fraction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reserve_gb: Option<f64>,
    /// The least usable memory, GB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_gb: Option<f64>,
    /// The most usable memory, GB (a fixed pool).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_gb: Option<f64>,
    /// Where the rule is published.
    pub source: String,
}

/// A fraction that applies from a capacity on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SharingStep {
    /// Capacity, GB, from which `fraction` applies.
    pub from_gb: f64,
    /// Fraction of the capacity, in (0, 1].
    pub fraction: f64,
}

/// `registry/tables/badges.ron`: badges shown next to numbers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BadgeTable {
    /// File format version.
    pub schema_version: u32,
    /// Anchor / calibration source → badge (unknown sources get none).
    pub anchor_sources: IndexMap<String, String>,
    /// Projection source label → badge.
    pub projection_sources: IndexMap<String, String>,
    /// The calibration methods a tier or measurement may name (others draw a warning).
    pub calibration_methods: Vec<String>,
    /// The confidence levels, most trusted first (others draw a warning).
    pub confidence_levels: Vec<String>,
    /// The methods that claim a measurement: a tier naming one with no LLM measurement or
    /// fit attached is listed with the `uncalibrated` label instead.
    pub measured_methods: Vec<String>,
    /// The calibration source of a result whose constants no fit or measurement backs (a
    /// path whose `constants` are `defaults`); its method may only claim this confidence.
    pub uncalibrated: crate::tier::CalibrationSource,
}

/// One routing rule: a tier and capability keys served by an anchor-file cell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AnchorRoute {
    /// Tier lookup name (the stock name for memory clones).
    pub tier: String,
    /// Capability keys (lower-case) this cell serves.
    pub capability_keys: Vec<String>,
    /// Cell tier part (`mid`, `high`).
    pub cell_tier: String,
    /// Cell precision part (`int8`, `fp`).
    pub cell_precision: String,
}

/// What an anchor cell that leaves out its bandwidth share or efficiency is taken to have
/// (reference spec §1.10).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AnchorFieldDefaults {
    /// `bw_share_frac` of a cell without one.
    pub bw_share_frac: f64,
    /// `bw_efficiency_frac` of a cell without one.
    pub bw_efficiency_frac: f64,
}

/// `registry/tables/anchor_routes.ron`: which anchor cell serves which tier and key, and the
/// defaults of fields an anchor cell leaves out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AnchorRouteTable {
    /// File format version.
    pub schema_version: u32,
    /// Routes, first match wins.
    pub routes: Vec<AnchorRoute>,
    /// Defaults of the anchor cells' optional bandwidth fields.
    pub field_defaults: AnchorFieldDefaults,
}

impl AnchorRouteTable {
    /// The `(tier, precision)` cell for a tier lookup name and capability key.
    pub fn route(&self, lookup_name: &str, capability_key: &str) -> Option<(&str, &str)> {
        let key = capability_key.to_lowercase();
        self.routes
            .iter()
            .find(|r| r.tier == lookup_name && r.capability_keys.contains(&key))
            .map(|r| (r.cell_tier.as_str(), r.cell_precision.as_str()))
    }
}

/// The engine of a device that does a model's matmuls under a runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ExecEngine {
    /// A GPU.
    Gpu,
    /// A neural processing unit.
    Npu,
    /// The CPU cores.
    Cpu,
}

impl ExecEngine {
    /// The name used in files and reports.
    pub fn name(self) -> &'static str {
        match self {
            ExecEngine::Gpu => "gpu",
            ExecEngine::Npu => "npu",
            ExecEngine::Cpu => "cpu",
        }
    }
}

/// One runtime: the software that executes a model, and the engine it runs it on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Runtime {
    /// Display name.
    pub name: String,
    /// The project it belongs to (`llama.cpp`, `RKLLM`), several runtimes may share one.
    pub family: String,
    /// The engine that does the model's matmuls.
    pub engine: ExecEngine,
    /// The backend strings a measurement gives for it (llama-bench `backends`), matched
    /// without case.
    pub backends: Vec<String>,
    /// Where it is published.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The dtype whose dense peak scales this runtime's prompt matmuls from one device to
    /// the next (llama.cpp CUDA: INT8, the units its MMQ kernels run on); a fit under this
    /// runtime states its prefill share of that peak. Absent: the model's compute dtype, as
    /// the reference does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefill_peak_dtype: Option<String>,
}

/// `registry/tables/runtimes.ron`: the runtimes measurements, tiers and reports name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RuntimeTable {
    /// File format version.
    pub schema_version: u32,
    /// Runtimes by key.
    pub runtimes: IndexMap<String, Runtime>,
}

impl RuntimeTable {
    /// The runtime a measurement names: its explicit `runtime` key, else the runtime that
    /// lists its `backend` string (the whole string first, then its first comma part).
    /// `Ok(None)`: the point names neither. The error says what was not found and the
    /// nearest name.
    pub fn resolve(&self, runtime: Option<&str>, backend: Option<&str>) -> Result<Option<&str>, String> {
        if let Some(k) = runtime {
            return match self.runtimes.get_key_value(k) {
                Some((k, _)) => Ok(Some(k.as_str())),
                None => Err(format!(
                    "unknown runtime `{k}`{}",
                    crate::diagnostic::did_you_mean(k, self.runtimes.keys().map(String::as_str))
                        .map(|h| format!(" ({h})"))
                        .unwrap_or_default()
                )),
            };
        }
        let Some(b) = backend.map(str::trim).filter(|b| !b.is_empty()) else { return Ok(None) };
        let find =
            |s: &str| self.runtimes.iter().find(|(_, r)| r.backends.iter().any(|x| x.eq_ignore_ascii_case(s.trim())));
        let first = b.split(',').next().unwrap_or(b);
        match find(b).or_else(|| find(first)) {
            Some((k, _)) => Ok(Some(k.as_str())),
            None => {
                let all = self.runtimes.values().flat_map(|r| r.backends.iter().map(String::as_str));
                Err(format!(
                    "no runtime lists the backend `{b}` (registry `tables/runtimes.ron`){}",
                    crate::diagnostic::did_you_mean(b, all).map(|h| format!(" ({h})")).unwrap_or_default()
                ))
            }
        }
    }
}

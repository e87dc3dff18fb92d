//! The pack manifest format (`pack.ron`); `crate::pack` loads and layers packs.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `pack.ron`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PackManifest {
    /// File format version (1).
    pub schema_version: u32,
    /// Pack name (what `extends` and `overrides` refer to).
    pub name: String,
    /// Pack version (semver).
    pub version: String,
    /// Engine versions the pack works with, as a semver range (`>=0.1, <0.2`).
    pub engine: String,
    /// What the pack is for.
    #[serde(default)]
    pub description: String,
    /// Packs this one builds on, applied first in order: an embedded pack name
    /// (`reference`), a sibling directory name, or a relative path.
    #[serde(default)]
    pub extends: Vec<String>,
    /// Names this pack may redefine: `kind/name` with kind one of `tier`,
    /// `capability_table`, `model`, `dtype`, `quant_scheme`, `constant`, `default`, `table`,
    /// `formula`, `budget`, `demand`, `kpi`, `slider`, `profile`, `workload`, `study`,
    /// `ladder`.
    #[serde(default)]
    pub overrides: Vec<String>,
    /// What-if runner settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub whatif: Option<WhatifSettings>,
}

/// What-if runner settings of a pack.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WhatifSettings {
    /// Apply every slider's default before the overrides (the reference runner's behaviour,
    /// quirk Q14: profile values addressed by a slider are always overwritten). When false,
    /// only overridden sliders are applied and the profile's own values stand.
    #[serde(default)]
    pub apply_slider_defaults: bool,
    /// Profile used when none is named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_profile: Option<String>,
    /// Workload used when none is named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_workload: Option<String>,
}

//! JSON Schemas generated from the Rust types: one per file kind, committed under `schemas/`
//! for editors, and compiled once for the validator's schema layer.

use crate::catalog::CatalogFile;
use crate::formats::registry::{BadgeTable, Manifest, MemoryTable, SiliconClassTable};
use crate::precision::{CapabilityTableFile, DtypeTable, PrecisionSetTable, QuantSchemeTable};
use crate::tier::TierSpec;
use crate::tier::custom::CustomTierParams;
use schemars::JsonSchema;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::OnceLock;

/// Every kind of data file ratchet reads, plus the wire formats it documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FileKind {
    /// `registry/registry.ron`.
    Manifest,
    /// `registry/tiers/*`.
    Tier,
    /// `registry/custom-tiers/*`: tiers built from silicon-class defaults.
    CustomTier,
    /// `registry/capabilities/*`.
    CapabilityTable,
    /// `registry/tables/dtypes.*`.
    Dtypes,
    /// `registry/tables/quant_schemes.*`.
    QuantSchemes,
    /// `registry/tables/precision_sets.*`.
    PrecisionSets,
    /// `registry/tables/silicon_classes.*`.
    SiliconClasses,
    /// `registry/tables/memory.*`.
    Memory,
    /// `registry/tables/badges.*`.
    Badges,
    /// `registry/tables/anchor_routes.*`.
    AnchorRoutes,
    /// `registry/tables/runtimes.*`.
    Runtimes,
    /// `registry/tables/architectures.*`.
    Architectures,
    /// `registry/catalog/*` and pack catalogs.
    Catalog,
    /// `rules/*`: a rule set.
    RuleSet,
    /// `pack.ron`: a pack manifest.
    Pack,
    /// A pack's `ladder.ron`.
    Ladder,
    /// A pack's `sizing.ron`.
    Sizing,
    /// A pack's `sliders.ron`.
    Sliders,
    /// A pack's `profiles/*`.
    Profile,
    /// A pack's `workloads/*`.
    Workload,
    /// `registry/measurements/*`: measured decode and prefill rates with their devices.
    Measurements,
}

impl FileKind {
    /// All kinds, in schema-file order.
    pub const ALL: &'static [FileKind] = &[
        FileKind::Manifest,
        FileKind::Tier,
        FileKind::CustomTier,
        FileKind::CapabilityTable,
        FileKind::Dtypes,
        FileKind::QuantSchemes,
        FileKind::PrecisionSets,
        FileKind::SiliconClasses,
        FileKind::Memory,
        FileKind::Badges,
        FileKind::AnchorRoutes,
        FileKind::Runtimes,
        FileKind::Architectures,
        FileKind::Catalog,
        FileKind::RuleSet,
        FileKind::Pack,
        FileKind::Ladder,
        FileKind::Sizing,
        FileKind::Sliders,
        FileKind::Profile,
        FileKind::Workload,
        FileKind::Measurements,
    ];

    /// Short id, also the schema file stem.
    pub fn id(self) -> &'static str {
        match self {
            FileKind::Manifest => "registry",
            FileKind::Tier => "tier",
            FileKind::CustomTier => "custom-tier",
            FileKind::CapabilityTable => "capability-table",
            FileKind::Dtypes => "dtypes",
            FileKind::QuantSchemes => "quant-schemes",
            FileKind::PrecisionSets => "precision-sets",
            FileKind::SiliconClasses => "silicon-classes",
            FileKind::Memory => "memory",
            FileKind::Badges => "badges",
            FileKind::AnchorRoutes => "anchor-routes",
            FileKind::Runtimes => "runtimes",
            FileKind::Architectures => "architectures",
            FileKind::Catalog => "catalog",
            FileKind::RuleSet => "rule-set",
            FileKind::Pack => "pack",
            FileKind::Ladder => "ladder",
            FileKind::Sizing => "sizing",
            FileKind::Sliders => "sliders",
            FileKind::Profile => "profile",
            FileKind::Workload => "workload",
            FileKind::Measurements => "measurement-set",
        }
    }

    /// The schema file name under `schemas/`.
    pub fn schema_file(self) -> String {
        format!("{}.schema.json", self.id())
    }

    /// The generated schema.
    pub fn schema(self) -> Value {
        let (mut v, required): (Value, &[&str]) = match self {
            FileKind::Manifest => (schema_of::<Manifest>(), &[]),
            FileKind::Tier => (schema_of::<TierSpec>(), &["schema_version"]),
            FileKind::CustomTier => (schema_of::<CustomTierParams>(), &["schema_version"]),
            FileKind::CapabilityTable => (schema_of::<CapabilityTableFile>(), &[]),
            FileKind::Dtypes => (schema_of::<DtypeTable>(), &[]),
            FileKind::QuantSchemes => (schema_of::<QuantSchemeTable>(), &[]),
            FileKind::PrecisionSets => (schema_of::<PrecisionSetTable>(), &[]),
            FileKind::SiliconClasses => (schema_of::<SiliconClassTable>(), &[]),
            FileKind::Memory => (schema_of::<MemoryTable>(), &[]),
            FileKind::Badges => (schema_of::<BadgeTable>(), &[]),
            FileKind::AnchorRoutes => (schema_of::<crate::formats::registry::AnchorRouteTable>(), &[]),
            FileKind::Runtimes => (schema_of::<crate::formats::registry::RuntimeTable>(), &[]),
            FileKind::Architectures => (schema_of::<crate::formats::architectures::ArchitectureTable>(), &[]),
            FileKind::Catalog => (schema_of::<CatalogFile>(), &[]),
            FileKind::RuleSet => (schema_of::<crate::formats::rules::RuleSetFile>(), &[]),
            FileKind::Pack => (schema_of::<crate::formats::pack::PackManifest>(), &[]),
            FileKind::Ladder => (schema_of::<crate::formats::sizing::LadderFile>(), &[]),
            FileKind::Sizing => (schema_of::<crate::formats::sizing::SizingFile>(), &[]),
            FileKind::Sliders => (schema_of::<crate::formats::sizing::SliderFile>(), &[]),
            FileKind::Profile => (schema_of::<crate::formats::sizing::ProfileFile>(), &[]),
            FileKind::Workload => (schema_of::<crate::formats::sizing::WorkloadFile>(), &[]),
            FileKind::Measurements => (schema_of::<crate::measurement::MeasurementSet>(), &[]),
        };
        if let Some(req) = v.get_mut("required").and_then(Value::as_array_mut) {
            for r in required {
                if !req.iter().any(|x| x == r) {
                    req.insert(0, Value::String((*r).to_string()));
                }
            }
        }
        v
    }
}

fn schema_of<T: JsonSchema>() -> Value {
    schemars::schema_for!(T).to_value()
}

/// The compiled validator of a kind (built once per process).
pub fn validator(kind: FileKind) -> Option<&'static jsonschema::Validator> {
    static CACHE: OnceLock<BTreeMap<FileKind, (Value, Option<jsonschema::Validator>)>> = OnceLock::new();
    let map = CACHE.get_or_init(|| {
        FileKind::ALL
            .iter()
            .map(|k| {
                let s = k.schema();
                let v = jsonschema::validator_for(&s).ok();
                (*k, (s, v))
            })
            .collect()
    });
    map.get(&kind).and_then(|(_, v)| v.as_ref())
}

/// The schema of a kind as compiled (same value as [`FileKind::schema`], cached).
pub fn cached_schema(kind: FileKind) -> Value {
    static CACHE: OnceLock<BTreeMap<FileKind, Value>> = OnceLock::new();
    CACHE
        .get_or_init(|| FileKind::ALL.iter().map(|k| (*k, k.schema())).collect())
        .get(&kind)
        .cloned()
        .unwrap_or(Value::Null)
}

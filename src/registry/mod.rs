//! The registry: tiers, capability tables, dtype and quant tables, silicon-class defaults,
//! memory options, badges and the reference catalog, loaded from versioned data files and
//! validated in three layers (syntax, schema, semantics).
//!
//! A loaded [`Registry`] is immutable, `Send + Sync`, and carries its version and a content
//! hash of every file it was built from.

pub mod files;
pub mod loader;
pub mod read;
mod validate;

use crate::catalog::{Catalog, CatalogFile, LlmModel};
use crate::diagnostic::{Diagnostic, Report};
use crate::formats::architectures::ArchitectureTable;
use crate::precision::{CapabilityTable, CapabilityTableFile, DtypeTable, PrecisionSetTable, QuantSchemeTable};
use crate::schema::FileKind;
use crate::tier::custom::{CustomTierParams, make_custom_tier};
use crate::tier::defaults::TierDefaults;
use crate::tier::{Tier, TierSpec};
use files::{AnchorRouteTable, BadgeTable, Manifest, MemoryTable, RuntimeTable, SiliconClassTable};
use indexmap::IndexMap;
use loader::Loader;
use read::{ParsedFile, read_file, typed};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Arc;

/// Where a tier or model came from (for `show` and diagnostics).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// File shown to the user.
    pub file: String,
    /// 1-based line of the definition.
    pub line: usize,
}

/// A loaded, validated registry.
#[derive(Debug, Clone)]
pub struct Registry {
    manifest: Manifest,
    tiers: Vec<Arc<Tier>>,
    tier_index: HashMap<String, usize>,
    tier_origin: HashMap<String, Origin>,
    capability_tables: IndexMap<String, Arc<CapabilityTable>>,
    dtypes: DtypeTable,
    quant: QuantSchemeTable,
    precision_sets: PrecisionSetTable,
    silicon_classes: SiliconClassTable,
    memory: MemoryTable,
    badges: BadgeTable,
    anchor_routes: AnchorRouteTable,
    runtimes: RuntimeTable,
    architectures: ArchitectureTable,
    catalog: Catalog,
    measurements: IndexMap<String, Arc<crate::measurement::MeasurementSet>>,
    content_hash: String,
    description: String,
}

/// The result of loading: a registry when there were no errors, and every diagnostic.
#[derive(Debug)]
pub struct LoadOutcome {
    /// The registry, absent when any error was found.
    pub registry: Option<Registry>,
    /// Errors and warnings.
    pub report: Report,
}

/// The single-file tables of a registry, by the path stem under `tables/`.
const TABLES: &[(&str, FileKind)] = &[
    ("dtypes", FileKind::Dtypes),
    ("quant_schemes", FileKind::QuantSchemes),
    ("precision_sets", FileKind::PrecisionSets),
    ("silicon_classes", FileKind::SiliconClasses),
    ("memory", FileKind::Memory),
    ("badges", FileKind::Badges),
    ("anchor_routes", FileKind::AnchorRoutes),
    ("runtimes", FileKind::Runtimes),
    ("architectures", FileKind::Architectures),
];

/// The kind of a file at `rel` in a registry tree, or `None` for files ratchet does not read.
pub fn classify(rel: &str) -> Option<FileKind> {
    let (dir, file) = rel.rsplit_once('/').unwrap_or(("", rel));
    let stem = file.rsplit_once('.').map(|(s, _)| s).unwrap_or(file);
    crate::document::Format::from_path(rel)?;
    match dir {
        "" if stem == "registry" => Some(FileKind::Manifest),
        "tiers" => Some(FileKind::Tier),
        "custom-tiers" => Some(FileKind::CustomTier),
        "capabilities" => Some(FileKind::CapabilityTable),
        "catalog" => Some(FileKind::Catalog),
        "measurements" => Some(FileKind::Measurements),
        "tables" => TABLES.iter().find(|(s, _)| *s == stem).map(|(_, k)| *k),
        _ => None,
    }
}

/// Everything read from one tree before merging.
#[derive(Default)]
struct Parts {
    manifest: Option<(ParsedFile, Manifest)>,
    tiers: Vec<(ParsedFile, TierSpec)>,
    custom_tiers: Vec<(ParsedFile, CustomTierParams)>,
    capabilities: Vec<(ParsedFile, CapabilityTableFile)>,
    catalogs: Vec<(ParsedFile, CatalogFile)>,
    measurements: Vec<(ParsedFile, crate::measurement::MeasurementSet)>,
    dtypes: Option<(ParsedFile, DtypeTable)>,
    quant: Option<(ParsedFile, QuantSchemeTable)>,
    precision_sets: Option<(ParsedFile, PrecisionSetTable)>,
    silicon_classes: Option<(ParsedFile, SiliconClassTable)>,
    memory: Option<(ParsedFile, MemoryTable)>,
    badges: Option<(ParsedFile, BadgeTable)>,
    anchor_routes: Option<(ParsedFile, AnchorRouteTable)>,
    runtimes: Option<(ParsedFile, RuntimeTable)>,
    architectures: Option<(ParsedFile, ArchitectureTable)>,
    files: Vec<(String, Vec<u8>)>,
    /// Names declared by files that failed to load, so references to them are not reported
    /// a second time.
    broken_names: Vec<String>,
}

/// Reads every file of a registry tree; `base_defaults` fills the constants a tier omits
/// when the tree has no silicon-class table of its own (a pack layer).
fn read_tree(loader: &dyn Loader, base_defaults: Option<&TierDefaults>, report: &mut Report) -> Option<Parts> {
    let list = match loader.list() {
        Ok(l) => l,
        Err(e) => {
            report.push(Diagnostic::error(
                "io",
                format!("cannot read the registry `{}`: {}", loader.describe(), read::lower_first(&e.to_string())),
            ));
            return None;
        }
    };
    let mut parts = Parts::default();
    let mut untyped_tiers = Vec::new();
    for rel in list {
        let Some(kind) = classify(&rel) else {
            if !loader.is_dir(&rel) {
                report.push(
                    Diagnostic::warning("unrecognised-file", format!("`{rel}` is not a registry file and is ignored"))
                        .in_file(loader.display(&rel))
                        .with_help(Some(
                            "registry files are registry.ron, tiers/*, custom-tiers/*, capabilities/*, catalog/* and tables/{dtypes,quant_schemes,precision_sets,silicon_classes,memory,badges,anchor_routes,runtimes,architectures}.ron".into(),
                        )),
                );
            } else {
                report.push(
                    Diagnostic::error("io", format!("`{rel}` is a directory where a data file was expected"))
                        .in_file(loader.display(&rel)),
                );
            }
            continue;
        };
        let Some(pf) = read_file(loader, &rel, kind, report) else {
            if let Some(name) = declared_name(loader, &rel) {
                parts.broken_names.push(name);
            }
            continue;
        };
        parts.files.push((rel.clone(), pf.bytes.clone()));
        macro_rules! one {
            ($slot:expr, $t:ty) => {{
                if let Some(v) = typed::<$t>(&pf, report) {
                    if let Some((prev, _)) = &$slot {
                        report.push(pf.diag_at(
                            Diagnostic::error(
                                "duplicate",
                                format!("a second `{}` table (the first is `{}`)", kind.id(), prev.rel),
                            ),
                            &[],
                        ));
                    } else {
                        $slot = Some((pf, v));
                    }
                }
            }};
        }
        match kind {
            FileKind::Manifest => one!(parts.manifest, Manifest),
            // typed once the tier defaults are known (below)
            FileKind::Tier => untyped_tiers.push(pf),
            FileKind::CustomTier => {
                if let Some(v) = typed::<CustomTierParams>(&pf, report) {
                    parts.custom_tiers.push((pf, v));
                }
            }
            FileKind::CapabilityTable => {
                if let Some(v) = typed::<CapabilityTableFile>(&pf, report) {
                    parts.capabilities.push((pf, v));
                }
            }
            FileKind::Catalog => {
                if let Some(v) = typed::<CatalogFile>(&pf, report) {
                    parts.catalogs.push((pf, v));
                }
            }
            FileKind::Measurements => {
                if let Some(v) = typed::<crate::measurement::MeasurementSet>(&pf, report) {
                    parts.measurements.push((pf, v));
                }
            }
            FileKind::Dtypes => one!(parts.dtypes, DtypeTable),
            FileKind::QuantSchemes => one!(parts.quant, QuantSchemeTable),
            FileKind::PrecisionSets => one!(parts.precision_sets, PrecisionSetTable),
            FileKind::SiliconClasses => one!(parts.silicon_classes, SiliconClassTable),
            FileKind::Memory => one!(parts.memory, MemoryTable),
            FileKind::Badges => one!(parts.badges, BadgeTable),
            FileKind::AnchorRoutes => one!(parts.anchor_routes, AnchorRouteTable),
            FileKind::Runtimes => one!(parts.runtimes, RuntimeTable),
            FileKind::Architectures => one!(parts.architectures, ArchitectureTable),
            _ => {}
        }
    }
    let own = parts.silicon_classes.as_ref().map(|(_, c)| &c.tier_defaults);
    match own.or(base_defaults) {
        Some(d) => {
            for pf in untyped_tiers {
                if let Some(v) = typed_tier(&pf, d, report) {
                    parts.tiers.push((pf, v));
                }
            }
        }
        // no `tables/silicon_classes.ron` to fill omitted constants from: `assemble` reports
        // the missing table, so the tiers are only kept out of the registry's names
        None => parts.broken_names.extend(untyped_tiers.iter().filter_map(|pf| declared_name(loader, &pf.rel))),
    }
    Some(parts)
}

/// A tier file typed with the constants it omits taken from `defaults`.
fn typed_tier(pf: &ParsedFile, defaults: &TierDefaults, report: &mut Report) -> Option<TierSpec> {
    let mut json = pf.json.clone();
    defaults.fill(&mut json);
    read::typed_value::<TierSpec>(pf, json, report)
}

/// The `name` a file declares, read leniently from a file that failed validation.
pub(crate) fn declared_name(loader: &dyn Loader, rel: &str) -> Option<String> {
    let bytes = loader.read(rel).ok()?;
    let text = std::str::from_utf8(&bytes).ok()?;
    if let Ok(node) = crate::document::parse(text, crate::document::Format::from_path(rel)?) {
        if let crate::document::NodeKind::Str(s) = &node.locate(&[crate::document::PathSeg::Key("name".into())]).kind {
            return Some(s.clone());
        }
    }
    // the file does not parse: take the first `name: "…"` (RON) or `"name": "…"` (JSON)
    for pat in ["name:", "\"name\":"] {
        let mut from = 0;
        while let Some(off) = text[from..].find(pat) {
            let at = from + off;
            let before = text[..at].chars().next_back();
            from = at + pat.len();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                continue;
            }
            let rest = text[from..].trim_start();
            if let Some(r) = rest.strip_prefix('"') {
                return r.find('"').map(|end| r[..end].to_string());
            }
        }
    }
    None
}

/// Loads and validates the registry in `loader`.
pub fn load(loader: &dyn Loader) -> LoadOutcome {
    load_layered(loader, &[])
}

/// Registry files a pack layers over the registry (its `registry/` directory).
pub struct Layer<'a> {
    /// The pack's `registry/` tree.
    pub loader: &'a dyn Loader,
    /// Pack name (for messages and the content hash).
    pub pack: String,
    /// What the pack may replace: `tier/NAME`, `capability_table/NAME`, `model/KEY`,
    /// `dtype/NAME`, `quant_scheme/NAME`.
    pub overrides: Vec<String>,
}

/// Loads the registry in `base` with pack layers on top: tiers, capability tables, catalog
/// models, dtypes and quant schemes are added; a name the registry (or an earlier layer)
/// already has is an error unless the pack declares the override.
pub fn load_layered(base: &dyn Loader, layers: &[Layer<'_>]) -> LoadOutcome {
    let mut report = Report::default();
    let Some(mut parts) = read_tree(base, None, &mut report) else {
        return LoadOutcome { registry: None, report };
    };
    for layer in layers {
        let defaults = parts.silicon_classes.as_ref().map(|(_, c)| c.tier_defaults.clone());
        let Some(extra) = read_tree(layer.loader, defaults.as_ref(), &mut report) else { continue };
        merge_layer(&mut parts, extra, layer, &mut report);
    }
    let loader = base;
    let registry = assemble(loader, parts, &mut report);
    let registry = if report.has_errors() { None } else { registry };
    LoadOutcome { registry, report }
}

fn conflict(
    pf: &ParsedFile,
    path: &[crate::document::PathSeg],
    what: &str,
    name: &str,
    prev: &str,
    layer: &Layer<'_>,
) -> Diagnostic {
    pf.diag_at(
        Diagnostic::error("conflict", format!("pack `{}` redefines {what} `{name}` (from `{prev}`)", layer.pack))
            .with_help(Some(format!("declare `{what}/{name}` in the pack's `overrides` to replace it"))),
        path,
    )
}

fn merge_layer(parts: &mut Parts, extra: Parts, layer: &Layer<'_>, report: &mut Report) {
    use crate::document::PathSeg;
    let allowed = |what: &str, name: &str| layer.overrides.iter().any(|o| o == &format!("{what}/{name}"));
    let key = |k: &str| vec![PathSeg::Key(k.into())];
    if let Some((pf, _)) = &extra.manifest {
        report.push(pf.diag_at(
            Diagnostic::error("conflict", format!("pack `{}` cannot replace the registry manifest", layer.pack)),
            &[],
        ));
    }
    for (what, slot) in [
        ("precision_sets", extra.precision_sets.as_ref().map(|(p, _)| p)),
        ("silicon_classes", extra.silicon_classes.as_ref().map(|(p, _)| p)),
        ("memory", extra.memory.as_ref().map(|(p, _)| p)),
        ("badges", extra.badges.as_ref().map(|(p, _)| p)),
        ("anchor_routes", extra.anchor_routes.as_ref().map(|(p, _)| p)),
        ("runtimes", extra.runtimes.as_ref().map(|(p, _)| p)),
        ("architectures", extra.architectures.as_ref().map(|(p, _)| p)),
    ] {
        if let Some(pf) = slot {
            report.push(pf.diag_at(
                Diagnostic::error(
                    "conflict",
                    format!(
                        "pack `{}` cannot layer `tables/{what}`: packs add tiers, custom tiers, capability tables, catalog models, dtypes and quant schemes",
                        layer.pack
                    ),
                ),
                &[],
            ));
        }
    }
    for (pf, spec) in extra.tiers {
        match parts.tiers.iter().position(|(_, t)| t.name == spec.name) {
            Some(i) if allowed("tier", &spec.name) => parts.tiers[i] = (pf, spec),
            Some(i) => {
                let prev = parts.tiers[i].0.source.name.clone();
                report.push(conflict(&pf, &key("name"), "tier", &spec.name, &prev, layer));
            }
            None => parts.tiers.push((pf, spec)),
        }
    }
    parts.custom_tiers.extend(extra.custom_tiers);
    parts.measurements.extend(extra.measurements);
    for (pf, t) in extra.capabilities {
        match parts.capabilities.iter().position(|(_, c)| c.name == t.name) {
            Some(i) if allowed("capability_table", &t.name) => parts.capabilities[i] = (pf, t),
            Some(i) => {
                let prev = parts.capabilities[i].0.source.name.clone();
                report.push(conflict(&pf, &key("name"), "capability_table", &t.name, &prev, layer));
            }
            None => parts.capabilities.push((pf, t)),
        }
    }
    for (pf, mut c) in extra.catalogs {
        let mut keep = Vec::new();
        for (i, m) in c.models.drain(..).enumerate() {
            let found = parts.catalogs.iter().position(|(_, b)| b.models.iter().any(|x| x.key == m.key));
            match found {
                Some(ci) if allowed("model", &m.key) => {
                    parts.catalogs[ci].1.models.retain(|x| x.key != m.key);
                    keep.push(m);
                }
                Some(ci) => {
                    let prev = parts.catalogs[ci].0.source.name.clone();
                    report.push(conflict(&pf, &model_path(i, "key"), "model", &m.key, &prev, layer));
                }
                None => keep.push(m),
            }
        }
        c.models = keep;
        parts.catalogs.push((pf, c));
    }
    if let Some((pf, d)) = extra.dtypes {
        match &mut parts.dtypes {
            None => parts.dtypes = Some((pf, d)),
            Some((bpf, base)) => {
                for (k, v) in d.tops_field {
                    if base.tops_field.get(&k).is_some_and(|b| *b != v) && !allowed("dtype", &k) {
                        let prev = bpf.source.name.clone();
                        report.push(conflict(
                            &pf,
                            &[PathSeg::Key("tops_field".into()), PathSeg::Key(k.clone())],
                            "dtype",
                            &k,
                            &prev,
                            layer,
                        ));
                        continue;
                    }
                    base.tops_field.insert(k, v);
                }
                for (k, v) in d.capability_key {
                    if base.capability_key.get(&k).is_some_and(|b| *b != v) && !allowed("dtype", &k) {
                        let prev = bpf.source.name.clone();
                        report.push(conflict(
                            &pf,
                            &[PathSeg::Key("capability_key".into()), PathSeg::Key(k.clone())],
                            "dtype",
                            &k,
                            &prev,
                            layer,
                        ));
                        continue;
                    }
                    base.capability_key.insert(k, v);
                }
                for f in d.fp4_compute_dtypes {
                    if !base.fp4_compute_dtypes.contains(&f) {
                        base.fp4_compute_dtypes.push(f);
                    }
                }
            }
        }
    }
    if let Some((pf, q)) = extra.quant {
        match &mut parts.quant {
            None => parts.quant = Some((pf, q)),
            Some((bpf, base)) => {
                for (k, v) in q.schemes {
                    if base.schemes.get(&k).is_some_and(|b| *b != v) && !allowed("quant_scheme", &k) {
                        let prev = bpf.source.name.clone();
                        report.push(conflict(
                            &pf,
                            &[PathSeg::Key("schemes".into()), PathSeg::Key(k.clone())],
                            "quant_scheme",
                            &k,
                            &prev,
                            layer,
                        ));
                        continue;
                    }
                    base.schemes.insert(k, v);
                }
            }
        }
    }
    for (rel, bytes) in extra.files {
        parts.files.push((format!("pack:{}/{rel}", layer.pack), bytes));
    }
    parts.broken_names.extend(extra.broken_names);
}

fn require<T>(slot: Option<T>, loader: &dyn Loader, what: &str, report: &mut Report) -> Option<T> {
    if slot.is_none() {
        report.push(
            Diagnostic::error("missing-file", format!("the registry has no `{what}`")).in_file(loader.describe()),
        );
    }
    slot
}

fn assemble(loader: &dyn Loader, parts: Parts, report: &mut Report) -> Option<Registry> {
    let Parts {
        manifest,
        tiers,
        custom_tiers,
        capabilities,
        catalogs,
        measurements: measurement_files,
        dtypes,
        quant,
        precision_sets,
        silicon_classes,
        memory,
        badges,
        anchor_routes,
        runtimes,
        architectures,
        files,
        broken_names,
    } = parts;
    let manifest = require(manifest, loader, "registry.ron", report);
    let dtypes = require(dtypes, loader, "tables/dtypes.ron", report);
    let quant = require(quant, loader, "tables/quant_schemes.ron", report);
    let precision_sets = require(precision_sets, loader, "tables/precision_sets.ron", report);
    let silicon_classes = require(silicon_classes, loader, "tables/silicon_classes.ron", report);
    let memory = require(memory, loader, "tables/memory.ron", report);
    if let Some((pf, t)) = &memory {
        validate::memory_sharing(pf, t, report);
    }
    let badges = require(badges, loader, "tables/badges.ron", report);
    let anchor_routes = require(anchor_routes, loader, "tables/anchor_routes.ron", report);
    let runtimes = require(runtimes, loader, "tables/runtimes.ron", report);
    if let Some((pf, t)) = &runtimes {
        validate::runtimes(pf, t, dtypes.as_ref().map(|(_, d)| d), report);
    }
    let architectures = require(architectures, loader, "tables/architectures.ron", report);
    if let Some((pf, t)) = &architectures {
        validate::architectures(pf, t, quant.as_ref().map(|(qf, q)| (qf, q)), report);
    }
    if tiers.is_empty() && !report.has_errors() {
        report.push(
            Diagnostic::error("missing-file", "the registry has no tier files under `tiers/`")
                .in_file(loader.describe()),
        );
    }

    let capability_tables = capability_tables(&capabilities, report);
    let ctx = validate::Context {
        broken_names: &broken_names,
        capability_tables: &capability_tables,
        dtypes: dtypes.as_ref().map(|(_, d)| d),
        quant: quant.as_ref().map(|(_, q)| q),
        memory: memory.as_ref().map(|(_, m)| m),
        precision_sets: precision_sets.as_ref().map(|(_, p)| p),
        badges: badges.as_ref().map(|(_, b)| b),
        policy: silicon_classes.as_ref().map(|(_, s)| &s.calibration_policy),
        runtimes: runtimes.as_ref().map(|(_, t)| t),
        classes: silicon_classes.as_ref().map(|(_, s)| s),
    };
    validate_tables(&ctx, &capabilities, &dtypes, &quant, &precision_sets, &silicon_classes, &manifest, report);

    let TierList { list: tier_list, index: tier_index, origin: tier_origin } =
        tier_list(&ctx, tiers, custom_tiers, &silicon_classes, &precision_sets, &capability_tables, report);

    let catalog = catalog(&ctx, &catalogs, report);
    let measurements = measurement_sets(measurement_files, runtimes.as_ref().map(|(_, t)| t), report);

    let (manifest, dtypes, quant, precision_sets, silicon_classes, memory, badges, anchor_routes, runtimes) =
        (manifest?, dtypes?, quant?, precision_sets?, silicon_classes?, memory?, badges?, anchor_routes?, runtimes?);
    let architectures = architectures?;

    let content_hash = content_hash(files);

    Some(Registry {
        manifest: manifest.1,
        tiers: tier_list,
        tier_index,
        tier_origin,
        capability_tables,
        dtypes: dtypes.1,
        quant: quant.1,
        precision_sets: precision_sets.1,
        silicon_classes: silicon_classes.1,
        memory: memory.1,
        badges: badges.1,
        anchor_routes: anchor_routes.1,
        runtimes: runtimes.1,
        architectures: architectures.1,
        catalog,
        measurements,
        content_hash,
        description: loader.describe(),
    })
}

/// Records the first file that defines `key`; a second definition is an error naming the
/// first (`what` `key` is defined twice (also in `…`)) at `path`, and `false`.
fn first_definition(
    seen: &mut HashMap<String, String>,
    key: &str,
    origin: &str,
    pf: &ParsedFile,
    what: &str,
    path: &[crate::document::PathSeg],
    report: &mut Report,
) -> bool {
    if let Some(prev) = seen.get(key) {
        report.push(pf.diag_at(
            Diagnostic::error("duplicate", format!("{what} `{key}` is defined twice (also in `{prev}`)")),
            path,
        ));
        return false;
    }
    seen.insert(key.to_string(), origin.to_string());
    true
}

fn name_path() -> [crate::document::PathSeg; 1] {
    [crate::document::PathSeg::Key("name".into())]
}

/// Capability tables by name (the first definition wins).
fn capability_tables(
    capabilities: &[(ParsedFile, CapabilityTableFile)],
    report: &mut Report,
) -> IndexMap<String, Arc<CapabilityTable>> {
    let mut out: IndexMap<String, Arc<CapabilityTable>> = IndexMap::new();
    let mut seen = HashMap::new();
    for (pf, t) in capabilities {
        if !first_definition(&mut seen, &t.name, &pf.rel, pf, "capability table", &name_path(), report) {
            continue;
        }
        out.insert(
            t.name.clone(),
            Arc::new(CapabilityTable { name: Some(t.name.clone()), entries: t.entries.clone() }),
        );
    }
    out
}

/// The semantic checks of the tables and the manifest.
#[allow(clippy::too_many_arguments)]
fn validate_tables(
    ctx: &validate::Context<'_>,
    capabilities: &[(ParsedFile, CapabilityTableFile)],
    dtypes: &Option<(ParsedFile, DtypeTable)>,
    quant: &Option<(ParsedFile, QuantSchemeTable)>,
    precision_sets: &Option<(ParsedFile, PrecisionSetTable)>,
    silicon_classes: &Option<(ParsedFile, SiliconClassTable)>,
    manifest: &Option<(ParsedFile, Manifest)>,
    report: &mut Report,
) {
    for (pf, t) in capabilities {
        validate::capability_table(ctx, pf, t, report);
    }
    if let Some((pf, d)) = dtypes {
        validate::dtypes(pf, d, report);
    }
    if let Some((pf, q)) = quant {
        validate::quant_schemes(ctx, pf, q, report);
    }
    if let Some((pf, p)) = precision_sets {
        validate::precision_sets(ctx, pf, p, report);
    }
    if let Some((pf, s)) = silicon_classes {
        validate::silicon_classes(ctx, pf, s, report);
    }
    if let Some((pf, m)) = manifest {
        validate::manifest(pf, m, report);
    }
}

/// Tiers in file-name order, then custom tiers built from silicon-class defaults; names
/// unique. The list, the index by name and where each is defined.
fn tier_list(
    ctx: &validate::Context<'_>,
    tiers: Vec<(ParsedFile, TierSpec)>,
    custom_tiers: Vec<(ParsedFile, CustomTierParams)>,
    silicon_classes: &Option<(ParsedFile, SiliconClassTable)>,
    precision_sets: &Option<(ParsedFile, PrecisionSetTable)>,
    capability_tables: &IndexMap<String, Arc<CapabilityTable>>,
    report: &mut Report,
) -> TierList {
    let mut list = Vec::new();
    let mut index = HashMap::new();
    let mut origin = HashMap::new();
    let mut seen: HashMap<String, String> = HashMap::new();
    let mut add = |pf: &ParsedFile, spec: TierSpec, report: &mut Report| {
        if !first_definition(&mut seen, &spec.name, &pf.source.name, pf, "tier", &name_path(), report) {
            return;
        }
        origin.insert(spec.name.clone(), Origin { file: pf.source.name.clone(), line: 1 });
        index.insert(spec.name.clone(), list.len());
        let mut t = Tier::resolve(spec, capability_tables);
        t.registry_slot = Some(list.len() as u32);
        list.push(Arc::new(t));
    };
    for (pf, mut spec) in tiers {
        // a class fit is checked against the tier's own peaks like a fit of its own
        if let (None, Some(class), Some((_, classes))) = (&spec.llm_calibration, &spec.silicon_class, silicon_classes) {
            spec.llm_calibration = classes.fit_for(class, spec.runtime.as_deref());
        }
        validate::tier_file(ctx, &pf, &spec, report);
        add(&pf, spec, report);
    }
    if let (Some((_, classes)), Some((_, sets))) = (silicon_classes, precision_sets) {
        for (pf, params) in custom_tiers {
            validate::custom_tier_file(&pf, &params, report);
            let spec = match make_custom_tier(&params, classes, sets) {
                Ok(s) => s,
                Err(e) => {
                    report.push(custom_tier_error(&pf, &params, classes, sets, &e.to_string()));
                    continue;
                }
            };
            validate::built_tier(ctx, &pf, &spec, report);
            add(&pf, spec, report);
        }
    }
    TierList { list, index, origin }
}

/// The registry's tiers in order, with their index by name and where each is defined.
struct TierList {
    list: Vec<Arc<Tier>>,
    index: HashMap<String, usize>,
    origin: HashMap<String, Origin>,
}

/// A custom tier naming an unknown silicon class or precision set, at that field.
fn custom_tier_error(
    pf: &ParsedFile,
    params: &CustomTierParams,
    classes: &SiliconClassTable,
    sets: &PrecisionSetTable,
    message: &str,
) -> Diagnostic {
    let (field, valid): (&str, Vec<&str>) = if classes.classes.contains_key(&params.silicon_class) {
        ("npu_precision_set", sets.sets.keys().map(String::as_str).collect())
    } else {
        ("silicon_class", classes.classes.keys().map(String::as_str).collect())
    };
    let got = if field == "silicon_class" {
        params.silicon_class.clone()
    } else {
        params.npu_precision_set.clone().unwrap_or_default()
    };
    pf.diag_at(
        Diagnostic::error("unknown-reference", read::lower_first(message))
            .with_help(crate::diagnostic::did_you_mean(&got, valid)),
        &[crate::document::PathSeg::Key(field.into())],
    )
}

/// The catalog: models unique by key, in file order.
fn catalog(ctx: &validate::Context<'_>, catalogs: &[(ParsedFile, CatalogFile)], report: &mut Report) -> Catalog {
    let mut catalog = Catalog::default();
    let mut seen: HashMap<String, String> = HashMap::new();
    let all_keys: Vec<String> = catalogs.iter().flat_map(|(_, c)| c.models.iter().map(|m| m.key.clone())).collect();
    for (pf, c) in catalogs {
        for (i, m) in c.models.iter().enumerate() {
            validate::model(ctx, pf, i, m, &all_keys, report);
            if first_definition(&mut seen, &m.key, &pf.source.name, pf, "model key", &model_path(i, "key"), report) {
                catalog.insert(m.clone());
            }
        }
    }
    catalog
}

/// Measurement sets: every reference resolves, every rate is positive; unique by name.
fn measurement_sets(
    files: Vec<(ParsedFile, crate::measurement::MeasurementSet)>,
    runtimes: Option<&RuntimeTable>,
    report: &mut Report,
) -> IndexMap<String, Arc<crate::measurement::MeasurementSet>> {
    let mut out: IndexMap<String, Arc<crate::measurement::MeasurementSet>> = IndexMap::new();
    for (pf, set) in files {
        let mut problems = set.problems();
        if let Some(t) = runtimes {
            problems.extend(set.runtime_problems(t));
        }
        for (path, msg) in &problems {
            report.push(pf.diag_at(Diagnostic::error("value", msg.clone()), path));
        }
        if out.contains_key(&set.name) {
            report.push(pf.diag_at(
                Diagnostic::error("duplicate", format!("measurement set `{}` is defined twice", set.name)),
                &name_path(),
            ));
        } else if problems.is_empty() {
            out.insert(set.name.clone(), Arc::new(set));
        }
    }
    out
}

/// The content hash of every file (sorted by path): 16 hex digits of SHA-256.
fn content_hash(files: Vec<(String, Vec<u8>)>) -> String {
    let mut hasher = Sha256::new();
    let mut sorted = files;
    sorted.sort();
    for (rel, bytes) in &sorted {
        hasher.update((rel.len() as u64).to_le_bytes());
        hasher.update(rel.as_bytes());
        hasher.update((bytes.len() as u64).to_le_bytes());
        hasher.update(bytes);
    }
    let digest = hasher.finalize();
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect::<String>()
}

pub(crate) fn model_path(i: usize, field: &str) -> Vec<crate::document::PathSeg> {
    use crate::document::PathSeg;
    vec![PathSeg::Key("models".into()), PathSeg::Index(i), PathSeg::Key(field.into())]
}

/// What a tier's data backs its LLM constants with, for listings: the label follows the
/// measurements and fit the tier carries, not only the method its file claims.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TierLabel<'r> {
    /// The calibration source the listing shows.
    pub source: &'r crate::tier::CalibrationSource,
    /// Its badge (registry `badges.ron`).
    pub badge: &'r str,
    /// LLM cells measured on this tier (measured cells and decode/prefill overrides).
    pub llm_measurements: usize,
    /// True when the tier carries a fitted LLM cost model.
    pub fitted: bool,
    /// Why the label differs from the file's `calibration_source`, if it does.
    pub note: Option<String>,
}

impl Registry {
    /// The label of a tier's data (see [`TierLabel`]); `None` for a tier with no
    /// calibration source and no fit.
    pub fn tier_label<'r>(&'r self, t: &'r Tier) -> Option<TierLabel<'r>> {
        let s = &t.spec;
        let cells = s.measured_llm.iter().flat_map(|m| m.values()).map(|w| w.len()).sum::<usize>()
            + s.measured_decode_overrides.as_ref().map_or(0, |m| m.len())
            + s.measured_prefill_overrides.as_ref().map_or(0, |m| m.len());
        let b = self.badges();
        let (source, note) = match (&s.llm_calibration, &s.calibration_source) {
            (Some(fit), _) => (&fit.source, None),
            (None, Some(c)) if cells == 0 && b.measured_methods.contains(&c.method) => (
                &b.uncalibrated,
                Some(format!(
                    "the file claims `{}` ({}), but no LLM measurement or fit is attached",
                    c.method, c.confidence
                )),
            ),
            (None, Some(c)) => (c, None),
            (None, None) => return None,
        };
        let badge = b.anchor_sources.get(&source.method).map_or("", String::as_str);
        Some(TierLabel { source, badge, llm_measurements: cells, fitted: s.llm_calibration.is_some(), note })
    }

    /// Key figures of a tier (`ratchet tiers --format json`, `GET /v1/tiers`).
    pub fn tier_summary(&self, t: &Tier) -> serde_json::Value {
        let s = &t.spec;
        serde_json::json!({
            "name": s.name,
            "peak_tops_int8": s.peak_tops_int8,
            "peak_tops_bf16": s.peak_tops_bf16,
            "peak_tops_fp8": s.peak_tops_fp8,
            "peak_tops_fp4": s.peak_tops_fp4,
            "mem_bandwidth_gbs": s.mem_bandwidth_gbs,
            "effective_bandwidth_gbs": t.effective_bandwidth_gbs(),
            "mem_capacity_gb": s.mem_capacity_gb,
            "mem_type": s.mem_type,
            "tier_family": s.tier_family,
            "capability_table": t.capability.as_ref().and_then(|c| c.name.clone()),
            "calibration_source": s.calibration_source,
            "calibration_badge": s.calibration_source.as_ref().and_then(|c| self.badges().anchor_sources.get(&c.method)),
            "label": self.tier_label(t),
        })
    }

    /// The manifest (name, version).
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The registry version from the manifest.
    pub fn version(&self) -> &str {
        &self.manifest.version
    }

    /// Hex digest (64 bits of SHA-256) over every file the registry was built from.
    pub fn content_hash(&self) -> &str {
        &self.content_hash
    }

    /// Where the registry was loaded from.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// Tiers in registry order.
    pub fn tiers(&self) -> &[Arc<Tier>] {
        &self.tiers
    }

    /// The tier with this name.
    pub fn tier(&self, name: &str) -> Option<&Arc<Tier>> {
        self.tier_index.get(name).and_then(|i| self.tiers.get(*i))
    }

    /// Registry position of a tier name.
    pub fn tier_position(&self, name: &str) -> Option<usize> {
        self.tier_index.get(name).copied()
    }

    /// The file a registry tier was defined in.
    pub fn tier_origin(&self, name: &str) -> Option<&Origin> {
        self.tier_origin.get(name)
    }

    /// Named capability tables.
    pub fn capability_tables(&self) -> &IndexMap<String, Arc<CapabilityTable>> {
        &self.capability_tables
    }

    /// The dtype table.
    pub fn dtypes(&self) -> &DtypeTable {
        &self.dtypes
    }

    /// The quant-scheme table.
    pub fn quant_schemes(&self) -> &QuantSchemeTable {
        &self.quant
    }

    /// Precision-set rungs.
    pub fn precision_sets(&self) -> &PrecisionSetTable {
        &self.precision_sets
    }

    /// Silicon-class defaults.
    pub fn silicon_classes(&self) -> &SiliconClassTable {
        &self.silicon_classes
    }

    /// Memory technologies and upgrade options.
    pub fn memory(&self) -> &MemoryTable {
        &self.memory
    }

    /// Badges.
    pub fn badges(&self) -> &BadgeTable {
        &self.badges
    }

    /// Private-anchor cell routing.
    pub fn anchor_routes(&self) -> &AnchorRouteTable {
        &self.anchor_routes
    }

    /// How `model import` reads a Hugging Face config (`tables/architectures.ron`).
    pub fn architectures(&self) -> &ArchitectureTable {
        &self.architectures
    }

    /// The runtimes (`tables/runtimes.ron`).
    pub fn runtimes(&self) -> &RuntimeTable {
        &self.runtimes
    }

    /// The measurement sets (`measurements/*`), by name.
    pub fn measurements(&self) -> &IndexMap<String, Arc<crate::measurement::MeasurementSet>> {
        &self.measurements
    }

    /// The tables under the reference's constant names (`DTYPE_ATTR_MAP`,
    /// `QUANT_SCHEME_CAPABILITY_KEY`, `BYTES_PER_PARAM`, `GGUF_SIZE_GB`, `ACTIVE_PARAMS`,
    /// `PRECISION_SET_*`, `capability_tables`, `MEMORY_UPGRADE_OPTIONS`,
    /// `SILICON_CLASS_DEFAULTS`, `BADGE_FOR_SOURCE`), in the golden file's shapes: what the
    /// Python package exposes as its table constants.
    pub fn reference_tables(&self) -> serde_json::Value {
        use serde_json::{Value, json};
        let reg = self;
        let obj = |it: Vec<(String, Value)>| Value::Object(it.into_iter().collect());
        let q = &reg.quant_schemes().schemes;
        let sets = &reg.precision_sets().sets;
        let caps: Vec<(String, Value)> = reg
            .capability_tables()
            .iter()
            .map(|(name, t)| {
                let rows = t
                    .entries
                    .iter()
                    .map(|(k, i)| (k.clone(), json!({"level": i.level.as_str(), "reason": i.reason})))
                    .collect();
                (name.clone(), obj(rows))
            })
            .collect();
        let classes: Vec<(String, Value)> = reg
            .silicon_classes()
            .classes
            .iter()
            .map(|(k, c)| {
                (
                    k.clone(),
                    json!({
                        "compute_efficiency": c.compute_efficiency, "bandwidth_efficiency": c.bandwidth_efficiency,
                        "tier_family": c.tier_family, "compute_util_factor": c.compute_util_factor,
                        "llm_prefill_util_factor": c.llm_prefill_util_factor,
                        "llm_decode_bw_realization": c.llm_decode_bw_realization,
                        "compute_overhead_ms": c.compute_overhead_ms, "npu_share_default": c.npu_share_default,
                        "capability_levels": c.capability_table,
                    }),
                )
            })
            .collect();
        json!({
            "DTYPE_ATTR_MAP": obj(reg.dtypes().tops_field.iter().map(|(k, f)| (k.clone(), json!(f.name()))).collect()),
            "QUANT_SCHEME_CAPABILITY_KEY": obj(q.iter().map(|(k, s)| (k.clone(), json!(s.capability_key))).collect()),
            "BYTES_PER_PARAM": obj(q.iter().filter_map(|(k, s)| s.bytes_per_param.map(|b| (k.clone(), json!(b)))).collect()),
            "GGUF_SIZE_GB": obj(q.iter().filter_map(|(k, s)| s.gguf_size_gb.map(|b| (k.clone(), json!(b)))).collect()),
            "ACTIVE_PARAMS": reg.quant_schemes().reference_active_params,
            "PRECISION_SET_COMPUTE_DTYPE": obj(sets.iter().map(|(k, s)| (k.clone(), json!(s.compute_dtype))).collect()),
            "PRECISION_SET_CAPABILITY": obj(sets.iter().map(|(k, s)| (k.clone(), json!(s.capability_table))).collect()),
            "PRECISION_SET_ZEROED_PEAK_TOPS": obj(sets.iter().map(|(k, s)| {
                (k.clone(), json!(s.zeroed_peaks.iter().map(|f| f.name()).collect::<Vec<_>>()))
            }).collect()),
            "capability_tables": obj(caps),
            "MEMORY_UPGRADE_OPTIONS": reg.memory().upgrade_options.iter()
                .map(|o| json!([o.label, o.mem_type, o.mem_data_rate_gtps])).collect::<Vec<_>>(),
            "SILICON_CLASS_DEFAULTS": obj(classes),
            "BADGE_FOR_SOURCE": obj(reg.badges().anchor_sources.iter().map(|(k, v)| (k.clone(), json!(v))).collect()),
            "ANCHOR_FIELD_DEFAULTS": reg.anchor_routes().field_defaults,
        })
    }

    /// The catalog.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// The catalog model with this key.
    pub fn model(&self, key: &str) -> Option<&Arc<LlmModel>> {
        self.catalog.get(key)
    }

    /// Resolves an inline tier spec against this registry's capability tables.
    pub fn resolve_tier(&self, spec: TierSpec) -> Tier {
        Tier::resolve(spec, &self.capability_tables)
    }

    /// Semantic checks of a model that did not come from a file (inline models).
    pub fn check_model(&self, m: &LlmModel) -> Vec<Diagnostic> {
        let ctx = validate::Context {
            broken_names: &[],
            capability_tables: &self.capability_tables,
            dtypes: Some(&self.dtypes),
            quant: None,
            memory: Some(&self.memory),
            precision_sets: Some(&self.precision_sets),
            badges: Some(&self.badges),
            policy: Some(&self.silicon_classes.calibration_policy),
            runtimes: Some(&self.runtimes),
            classes: Some(&self.silicon_classes),
        };
        let keys: Vec<String> = self.catalog.keys().map(str::to_string).chain(std::iter::once(m.key.clone())).collect();
        validate::model_findings(&ctx, m, &keys).into_iter().map(|(_, d)| d).collect()
    }

    /// Semantic checks of a tier that did not come from a file (inline tiers, variants).
    pub fn check_tier(&self, spec: &TierSpec) -> Vec<Diagnostic> {
        let ctx = validate::Context {
            broken_names: &[],
            capability_tables: &self.capability_tables,
            dtypes: Some(&self.dtypes),
            quant: Some(&self.quant),
            memory: Some(&self.memory),
            precision_sets: Some(&self.precision_sets),
            badges: Some(&self.badges),
            policy: Some(&self.silicon_classes.calibration_policy),
            runtimes: Some(&self.runtimes),
            classes: Some(&self.silicon_classes),
        };
        validate::tier_findings(&ctx, spec).into_iter().map(|(_, d)| d).collect()
    }
}

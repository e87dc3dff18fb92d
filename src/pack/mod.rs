//! Rule packs: what a surface ships on top of the registry — a catalog, a visible tier
//! ladder, workloads, SoC profiles, sliders, demand calculators and KPIs — as one directory
//! with a `pack.ron` manifest.
//!
//! Packs stack: a pack may `extends` others (the reference KPIs are the `reference` pack),
//! and `--pack` is repeatable. A later layer that redefines a name an earlier one has is an
//! error unless its manifest lists the name in `overrides` (`kpi/memory_capacity`,
//! `tier/NPU Mid`, …).

use crate::diagnostic::{Diagnostic, Report, did_you_mean};
use crate::document::PathSeg;
use crate::registry::loader::{DirLoader, Loader, SubLoader};
use crate::registry::read::{ParsedFile, read_file, typed};
use crate::rules::model::Src;
use crate::schema::FileKind;
use crate::sizing::file::{LadderFile, ProfileFile, SizingFile, SliderFile, WorkloadFile};
use crate::sizing::{Entry, SizingParts};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use crate::formats::pack::{PackManifest, WhatifSettings};

/// Where a pack comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PackRef {
    /// A directory.
    Dir(PathBuf),
    /// A pack shipped in the binary.
    Embedded(String),
}

impl PackRef {
    /// A `--pack` value: an existing directory, else an embedded pack name.
    pub fn from_arg(arg: &str) -> PackRef {
        let p = PathBuf::from(arg);
        if p.is_dir() || arg.contains('/') || arg.contains('\\') {
            PackRef::Dir(p)
        } else {
            PackRef::Embedded(arg.to_string())
        }
    }
}

/// Names of the packs shipped in the binary.
pub fn embedded_names() -> Vec<String> {
    let mut names: Vec<String> = crate::embedded::packs()
        .list()
        .unwrap_or_default()
        .into_iter()
        .filter_map(|p| p.strip_suffix("/pack.ron").map(str::to_string))
        .filter(|p| !p.contains('/'))
        .collect();
    names.sort();
    names
}

/// One loaded pack.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PackInfo {
    /// Name.
    pub name: String,
    /// Version.
    pub version: String,
    /// Description.
    pub description: String,
    /// Where it was read from.
    pub source: String,
}

struct Source {
    loader: Box<dyn Loader>,
    dir: Option<PathBuf>,
    name: String,
    overrides: Vec<String>,
}

/// A stack of packs, read and merged (not yet compiled).
#[derive(Default)]
pub struct PackStack {
    /// The packs, base first.
    pub packs: Vec<PackInfo>,
    /// Merged sizing data.
    pub sizing: SizingParts,
    /// The visible ladder (last pack that has one).
    pub ladder: Option<Entry<LadderFile>>,
    /// Merged what-if settings.
    pub whatif: WhatifSettings,
    sources: Vec<Source>,
}

impl std::fmt::Debug for PackStack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PackStack").field("packs", &self.packs).finish()
    }
}

impl PackStack {
    /// The registry layers of the stack (each pack's `registry/`).
    pub fn registry_layers(&self) -> Vec<(SubLoader<'_>, String, Vec<String>)> {
        self.sources
            .iter()
            .filter(|s| s.loader.list().map(|l| l.iter().any(|p| p.starts_with("registry/"))).unwrap_or(false))
            .map(|s| (SubLoader::new(s.loader.as_ref(), "registry"), s.name.clone(), s.overrides.clone()))
            .collect()
    }

    /// Directories of the packs read from disk (for the watcher).
    pub fn dirs(&self) -> impl Iterator<Item = &Path> {
        self.sources.iter().filter_map(|s| s.dir.as_deref())
    }

    /// Every pack file (for the content hash).
    pub fn loaders(&self) -> impl Iterator<Item = &dyn Loader> {
        self.sources.iter().map(|s| s.loader.as_ref())
    }
}

/// The kind of a file in a pack, `None` for the registry layer and documentation.
fn classify(rel: &str) -> Option<Option<FileKind>> {
    let (dir, file) = rel.rsplit_once('/').unwrap_or(("", rel));
    if rel.starts_with("registry/") {
        return Some(None);
    }
    if file.ends_with(".md") || file.starts_with("README") || file.starts_with("LICENSE") {
        return Some(None);
    }
    crate::document::Format::from_path(rel)?;
    let stem = file.rsplit_once('.').map(|(s, _)| s).unwrap_or(file);
    match (dir, stem) {
        ("", "pack") => Some(Some(FileKind::Pack)),
        ("", "ladder") => Some(Some(FileKind::Ladder)),
        ("", "sizing") => Some(Some(FileKind::Sizing)),
        ("", "sliders") => Some(Some(FileKind::Sliders)),
        ("profiles", _) => Some(Some(FileKind::Profile)),
        ("workloads", _) => Some(Some(FileKind::Workload)),
        _ => None,
    }
}

fn src_of(pf: &Arc<ParsedFile>, path: Vec<PathSeg>) -> Src {
    Src { file: pf.clone(), path }
}

struct Merger<'r> {
    report: &'r mut Report,
    stack: PackStack,
    loading: Vec<String>,
    loaded: Vec<(String, String)>,
}

/// Reads a stack of packs (each with what it extends, depth first).
pub fn load(refs: &[PackRef], report: &mut Report) -> PackStack {
    let mut m = Merger { report, stack: PackStack::default(), loading: Vec::new(), loaded: Vec::new() };
    for r in refs {
        m.load_ref(r, None, None);
    }
    m.stack
}

impl Merger<'_> {
    fn open(
        &mut self,
        r: &PackRef,
        from: Option<&Path>,
        site: Option<&Src>,
    ) -> Option<(Box<dyn Loader>, Option<PathBuf>)> {
        match r {
            PackRef::Dir(d) => {
                let d = match from {
                    Some(base) if d.is_relative() => base.join(d),
                    _ => d.clone(),
                };
                if !d.join("pack.ron").is_file() && !d.join("pack.json").is_file() {
                    let msg = if d.is_dir() {
                        format!("`{}` is not a pack: it has no `pack.ron`", d.display())
                    } else {
                        format!("no pack directory `{}`", d.display())
                    };
                    self.push(Diagnostic::error("io", msg), site);
                    return None;
                }
                Some((Box::new(DirLoader::new(d.clone())), Some(d)))
            }
            PackRef::Embedded(name) => {
                // a bare name: a sibling directory first, then a pack shipped in the binary
                if let Some(base) = from {
                    let sib = base.parent().map(|p| p.join(name));
                    if let Some(s) = sib.filter(|s| s.join("pack.ron").is_file() || s.join("pack.json").is_file()) {
                        return Some((Box::new(DirLoader::new(s.clone())), Some(s)));
                    }
                }
                let names = embedded_names();
                if names.iter().any(|n| n == name) {
                    let l =
                        crate::registry::loader::EmbeddedLoader::under("packs", crate::embedded::pack_files(), name);
                    return Some((Box::new(l), None));
                }
                let help = did_you_mean(name, names.iter().map(String::as_str))
                    .or_else(|| Some(format!("shipped packs: {}", names.join(", "))));
                self.push(
                    Diagnostic::error("unknown-reference", format!("no pack directory or shipped pack `{name}`"))
                        .with_help(help),
                    site,
                );
                None
            }
        }
    }

    fn push(&mut self, d: Diagnostic, site: Option<&Src>) {
        match site {
            Some(s) => self.report.push(s.diag(d, 0)),
            None => self.report.push(d),
        }
    }

    fn load_ref(&mut self, r: &PackRef, from: Option<&Path>, site: Option<&Src>) {
        let Some((loader, dir)) = self.open(r, from, site) else { return };
        let list = match loader.list() {
            Ok(l) => l,
            Err(e) => {
                self.push(Diagnostic::error("io", format!("cannot read the pack `{}`: {e}", loader.describe())), site);
                return;
            }
        };
        let manifest_rel = if list.iter().any(|p| p == "pack.ron") { "pack.ron" } else { "pack.json" };
        let Some(mpf) = read_file(loader.as_ref(), manifest_rel, FileKind::Pack, self.report) else { return };
        let Some(manifest) = typed::<PackManifest>(&mpf, self.report) else { return };
        let mpf = Arc::new(mpf);
        let at = |k: &str| src_of(&mpf, vec![PathSeg::Key(k.into())]);

        // already loaded (a diamond) or loading (a cycle)?
        let source = loader.describe();
        if let Some((_, prev)) = self.loaded.iter().find(|(n, _)| *n == manifest.name) {
            if *prev != source {
                self.report.push(at("name").diag(
                    Diagnostic::error(
                        "duplicate",
                        format!("pack `{}` is loaded twice, from `{prev}` and `{source}`", manifest.name),
                    ),
                    0,
                ));
            }
            return;
        }
        if self.loading.contains(&manifest.name) {
            let mut chain = self.loading.clone();
            chain.push(manifest.name.clone());
            self.report.push(
                at("extends")
                    .diag(Diagnostic::error("cycle", format!("packs extend each other: {}", chain.join(" → "))), 0),
            );
            return;
        }

        // engine range
        match semver::VersionReq::parse(&manifest.engine) {
            Ok(req) => {
                let ours = semver::Version::parse(crate::version::ENGINE_VERSION).ok();
                if ours.is_some_and(|v| !req.matches(&v)) {
                    self.report.push(at("engine").diag(
                        Diagnostic::error(
                            "engine-version",
                            format!(
                                "pack `{}` requires engine `{}`; this is ratchet {}",
                                manifest.name,
                                manifest.engine,
                                crate::version::ENGINE_VERSION
                            ),
                        ),
                        0,
                    ));
                    return;
                }
            }
            Err(e) => {
                self.report.push(at("engine").diag(
                    Diagnostic::error("engine-version", format!("`{}` is not a semver range: {e}", manifest.engine)),
                    0,
                ));
                return;
            }
        }
        if semver::Version::parse(&manifest.version).is_err() {
            self.report.push(at("version").diag(
                Diagnostic::error(
                    "version",
                    format!("pack version `{}` is not semver (e.g. `1.0.0`)", manifest.version),
                ),
                0,
            ));
        }

        self.loading.push(manifest.name.clone());
        for (i, base) in manifest.extends.iter().enumerate() {
            let site = src_of(&mpf, vec![PathSeg::Key("extends".into()), PathSeg::Index(i)]);
            let r = if base.contains('/') || base.starts_with('.') {
                PackRef::Dir(PathBuf::from(base))
            } else {
                PackRef::Embedded(base.clone())
            };
            self.load_ref(&r, dir.as_deref(), Some(&site));
        }
        self.loading.pop();
        self.loaded.push((manifest.name.clone(), source.clone()));

        let mut used_overrides = vec![false; manifest.overrides.len()];
        let mut layer =
            Layer { m: &manifest, seen: Default::default(), used: &mut used_overrides, report: self.report };
        let stack = &mut self.stack;
        for rel in &list {
            let Some(kind) = classify(rel) else {
                if !loader.is_dir(rel) {
                    layer.report.push(
                        Diagnostic::warning("unrecognised-file", format!("`{rel}` is not a pack file and is ignored"))
                            .in_file(loader.display(rel))
                            .with_help(Some(
                                "pack files are pack.ron, ladder.ron, sizing.ron, sliders.ron, profiles/*, workloads/* and registry/**".into(),
                            )),
                    );
                }
                continue;
            };
            let Some(kind) = kind else { continue };
            if kind == FileKind::Pack {
                continue;
            }
            let Some(pf) = read_file(loader.as_ref(), rel, kind, layer.report) else { continue };
            match kind {
                FileKind::Ladder => {
                    if let Some(v) = typed::<LadderFile>(&pf, layer.report) {
                        let pf = Arc::new(pf);
                        if stack.ladder.is_some() && !layer.allowed("ladder", "ladder") {
                            layer.conflict(&src_of(&pf, vec![]), "ladder", "ladder");
                        } else {
                            stack.ladder = Some(Entry { value: v, src: src_of(&pf, vec![]) });
                        }
                    }
                }
                FileKind::Sizing => {
                    if let Some(v) = typed::<SizingFile>(&pf, layer.report) {
                        layer.sizing(&mut stack.sizing, v, Arc::new(pf));
                    }
                }
                FileKind::Sliders => {
                    if let Some(v) = typed::<SliderFile>(&pf, layer.report) {
                        let pf = Arc::new(pf);
                        for (i, s) in v.sliders.into_iter().enumerate() {
                            let src = src_of(&pf, vec![PathSeg::Key("sliders".into()), PathSeg::Index(i)]);
                            let name = s.name.clone();
                            layer.list(&mut stack.sizing.sliders, "slider", &name, s, src, |x| &x.name);
                        }
                    }
                }
                FileKind::Profile => {
                    if let Some(v) = typed::<ProfileFile>(&pf, layer.report) {
                        let pf = Arc::new(pf);
                        let name = v.name.clone();
                        layer.list(&mut stack.sizing.profiles, "profile", &name, v, src_of(&pf, vec![]), |x| &x.name);
                    }
                }
                FileKind::Workload => {
                    if let Some(v) = typed::<WorkloadFile>(&pf, layer.report) {
                        let pf = Arc::new(pf);
                        let name = v.name.clone();
                        layer.list(&mut stack.sizing.workloads, "workload", &name, v, src_of(&pf, vec![]), |x| &x.name);
                    }
                }
                _ => {}
            }
        }
        // registry-layer overrides are checked by the registry loader
        let registry_kinds = ["tier/", "capability_table/", "model/", "dtype/", "quant_scheme/"];
        for (i, o) in manifest.overrides.iter().enumerate() {
            if !used_overrides[i] && !registry_kinds.iter().any(|k| o.starts_with(k)) {
                self.report.push(src_of(&mpf, vec![PathSeg::Key("overrides".into()), PathSeg::Index(i)]).diag(
                    Diagnostic::warning("override", format!("override `{o}` matches nothing in the packs below")),
                    0,
                ));
            }
        }
        if let Some(w) = &manifest.whatif {
            self.stack.whatif = w.clone();
            self.stack.sizing.apply_slider_defaults = w.apply_slider_defaults;
        }
        self.stack.packs.push(PackInfo {
            name: manifest.name.clone(),
            version: manifest.version.clone(),
            description: manifest.description.clone(),
            source,
        });
        self.stack.sources.push(Source {
            loader,
            dir,
            name: manifest.name.clone(),
            overrides: manifest.overrides.clone(),
        });
    }
}

struct Layer<'a> {
    m: &'a PackManifest,
    seen: std::collections::HashSet<String>,
    used: &'a mut Vec<bool>,
    report: &'a mut Report,
}

impl Layer<'_> {
    fn allowed(&mut self, kind: &str, name: &str) -> bool {
        let key = format!("{kind}/{name}");
        match self.m.overrides.iter().position(|o| *o == key) {
            Some(i) => {
                self.used[i] = true;
                true
            }
            None => false,
        }
    }

    fn conflict(&mut self, src: &Src, kind: &str, name: &str) {
        let d = Diagnostic::error(
            "conflict",
            format!("pack `{}` redefines {kind} `{name}` from a pack below it", self.m.name),
        )
        .with_help(Some(format!("add `{kind}/{name}` to the pack's `overrides` to replace it")));
        self.report.push(src.diag_key(d));
    }

    /// A named entry of a list: appended, or replaced in place when overridden. A name
    /// repeated inside one pack is kept twice for the model build to report.
    fn list<T>(
        &mut self,
        list: &mut Vec<Entry<T>>,
        kind: &str,
        name: &str,
        v: T,
        src: Src,
        key: impl Fn(&T) -> &String,
    ) {
        let mine = !self.seen.insert(format!("{kind}/{name}"));
        match list.iter().position(|e| key(&e.value) == name) {
            Some(_) if mine => list.push(Entry { value: v, src }),
            Some(i) => {
                if self.allowed(kind, name) {
                    list[i] = Entry { value: v, src };
                } else {
                    self.conflict(&src.child("name"), kind, name);
                }
            }
            None => list.push(Entry { value: v, src }),
        }
    }

    fn map<T>(&mut self, map: &mut indexmap::IndexMap<String, Entry<T>>, kind: &str, name: String, v: T, src: Src) {
        if map.contains_key(&name) {
            if self.allowed(kind, &name) {
                map.insert(name, Entry { value: v, src });
            } else {
                self.conflict(&src, kind, &name);
            }
        } else {
            map.insert(name, Entry { value: v, src });
        }
    }

    fn sizing(&mut self, parts: &mut SizingParts, f: SizingFile, pf: Arc<ParsedFile>) {
        let at = |path: Vec<PathSeg>| src_of(&pf, path);
        let k = |s: &str| PathSeg::Key(s.to_string());
        for (n, v) in f.constants {
            let src = at(vec![k("constants"), k(&n)]);
            self.map(&mut parts.constants, "constant", n, v, src);
        }
        for (n, v) in f.defaults {
            let src = at(vec![k("defaults"), k(&n)]);
            self.map(&mut parts.defaults, "default", n, v, src);
        }
        for (n, v) in f.tables {
            let src = at(vec![k("tables"), k(&n)]);
            self.map(&mut parts.tables, "table", n, v, src);
        }
        for (n, v) in f.metrics {
            let src = at(vec![k("metrics"), k(&n)]);
            self.map(&mut parts.metrics, "metric", n, v, src);
        }
        for (sig, v) in f.formulas {
            let src = at(vec![k("formulas"), k(&sig)]);
            let name = sig.split('(').next().unwrap_or(&sig).trim().to_string();
            match parts.formulas.keys().position(|s| s.split('(').next().unwrap_or(s).trim() == name) {
                Some(i) => {
                    if self.allowed("formula", &name) {
                        parts.formulas.shift_remove_index(i);
                        parts.formulas.insert(sig, Entry { value: v, src });
                    } else {
                        self.conflict(&src, "formula", &name);
                    }
                }
                None => {
                    parts.formulas.insert(sig, Entry { value: v, src });
                }
            }
        }
        if let Some(b) = f.budget {
            let src = at(vec![k("budget")]);
            if parts.budget.is_some() && !self.allowed("budget", "budget") {
                self.conflict(&src, "budget", "budget");
            } else {
                parts.budget = Some(Entry { value: b, src });
            }
        }
        for (i, d) in f.demands.into_iter().enumerate() {
            let src = at(vec![k("demands"), PathSeg::Index(i)]);
            let name = d.name.clone();
            self.list(&mut parts.demands, "demand", &name, d, src, |x| &x.name);
        }
        for (i, d) in f.kpis.into_iter().enumerate() {
            let src = at(vec![k("kpis"), PathSeg::Index(i)]);
            let name = d.name.clone();
            self.list(&mut parts.kpis, "kpi", &name, d, src, |x| &x.name);
        }
        for (i, d) in f.studies.into_iter().enumerate() {
            let src = at(vec![k("studies"), PathSeg::Index(i)]);
            let name = d.name.clone();
            self.list(&mut parts.studies, "study", &name, d, src, |x| &x.name);
        }
        if let Some(e) = f.evaluate {
            parts.evaluate = Some(Entry { value: e, src: at(vec![k("evaluate")]) });
        }
    }
}

/// A compiled stack of packs, part of an engine generation.
#[derive(Debug, Clone)]
pub struct PackState {
    /// The packs, base first.
    pub packs: Vec<PackInfo>,
    /// The compiled sizing model.
    pub sizing: Arc<crate::sizing::SizingModel>,
    /// The visible ladder: registry tier names with labels.
    pub ladder: Option<Vec<crate::sizing::file::LadderRung>>,
    /// What-if settings.
    pub whatif: WhatifSettings,
    /// Pack directories on disk.
    pub dirs: Vec<PathBuf>,
}

impl PackState {
    /// Compiles a stack against the (layered) registry; diagnostics go to `report`.
    pub fn build(stack: &PackStack, reg: &crate::registry::Registry, report: &mut Report) -> Option<PackState> {
        let before = report.errors();
        let sizing = crate::sizing::SizingModel::build(&stack.sizing, report);
        let tiers: Vec<&str> = reg.tiers().iter().map(|t| t.name()).collect();
        if let Some(l) = &stack.ladder {
            let mut seen = std::collections::HashSet::new();
            for (i, r) in l.value.tiers.iter().enumerate() {
                let src = l.src.child("tiers").child(i).child("tier");
                if reg.tier(&r.tier).is_none() {
                    report.push(
                        src.diag(Diagnostic::error("unknown-reference", format!("unknown tier `{}`", r.tier)), 0)
                            .with_help(did_you_mean(&r.tier, tiers.iter().copied())),
                    );
                } else if !seen.insert(r.tier.clone()) {
                    report.push(
                        src.diag(
                            Diagnostic::error("duplicate", format!("tier `{}` is on the ladder twice", r.tier)),
                            0,
                        ),
                    );
                }
                if let Some(p) = r.price.filter(|p| !(p.is_finite() && *p >= 0.0)) {
                    report.push(l.src.child("tiers").child(i).child("price").diag(
                        Diagnostic::error(
                            "range",
                            format!("`price` is `{}`; it must be ≥ 0", crate::numeric::py_float_repr(p)),
                        ),
                        0,
                    ));
                }
            }
        }
        for p in &stack.sizing.profiles {
            if let Some(t) = &p.value.tier {
                if reg.tier(t).is_none() {
                    report.push(
                        p.src
                            .child("tier")
                            .diag(Diagnostic::error("unknown-reference", format!("unknown tier `{t}`")), 0)
                            .with_help(did_you_mean(t, tiers.iter().copied())),
                    );
                }
            }
        }
        let sizing = sizing?;
        let w = &stack.whatif;
        let checks = [
            (&w.default_profile, sizing.profiles.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(), "profile"),
            (&w.default_workload, sizing.workloads.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(), "workload"),
        ];
        for (name, known, what) in checks {
            if let Some(n) = name {
                if !known.contains(&n.as_str()) {
                    report.push(
                        Diagnostic::error("unknown-reference", format!("the default {what} `{n}` is not in the packs"))
                            .with_help(did_you_mean(n, known.iter().copied())),
                    );
                }
            }
        }
        if report.errors() > before {
            return None;
        }
        Some(PackState {
            packs: stack.packs.clone(),
            sizing: Arc::new(sizing),
            ladder: stack.ladder.as_ref().map(|l| l.value.tiers.clone()),
            whatif: stack.whatif.clone(),
            dirs: stack.dirs().map(Path::to_path_buf).collect(),
        })
    }
}

//! Shared set-up for the fuzz targets: the embedded engine, built once.
#![allow(dead_code)]

use ratchet::Engine;
use ratchet::registry::loader::{Loader, MemoryLoader};
use std::sync::OnceLock;

/// The embedded engine (registry, rules, no packs).
pub fn engine() -> &'static Engine {
    static E: OnceLock<Engine> = OnceLock::new();
    E.get_or_init(|| Engine::embedded().unwrap_or_else(|r| panic!("the embedded data must load: {r:?}")))
}

/// Every file of a loader, in memory.
pub fn files(l: &dyn Loader) -> Vec<(String, Vec<u8>)> {
    l.list().unwrap_or_default().into_iter().filter_map(|p| l.read(&p).ok().map(|b| (p, b))).collect()
}

/// A memory tree from files.
pub fn memory(name: &str, files: &[(String, Vec<u8>)]) -> MemoryLoader {
    files.iter().fold(MemoryLoader::new(name), |m, (p, b)| m.with(p.clone(), b.clone()))
}

/// `text` as a RON raw string that cannot end early, whatever it holds.
pub fn raw_string(text: &str) -> String {
    let mut run = 0;
    let mut longest = 0;
    for c in text.chars() {
        if c == '#' {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    let hashes = "#".repeat(longest + 1);
    format!("r{hashes}\"{text}\"{hashes}")
}

/// The shipped drone-soc pack's files.
pub fn drone_soc() -> &'static [(String, Vec<u8>)] {
    static F: OnceLock<Vec<(String, Vec<u8>)>> = OnceLock::new();
    F.get_or_init(|| {
        ratchet::embedded::pack_files()
            .iter()
            .filter_map(|(p, b)| p.strip_prefix("drone-soc/").map(|r| (r.to_string(), b.to_vec())))
            .collect()
    })
}

/// Builds a pack from `files` in a fresh directory and evaluates a what-if point at its
/// default profile and a short sweep of its first slider, when it compiles.
pub fn build_and_run_pack(files: &[(String, Vec<u8>)]) {
    let Ok(dir) = tempfile::Builder::new().prefix("ratchet-fuzz-").tempdir_in(scratch()) else { return };
    let root = dir.path().join("drone-soc");
    for (rel, bytes) in files {
        let p = root.join(rel);
        if let Some(parent) = p.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        let _ = std::fs::write(p, bytes);
    }
    let mut report = ratchet::Report::default();
    let stack = ratchet::pack::load(&[ratchet::pack::PackRef::Dir(root)], &mut report);
    render(&report);
    if report.has_errors() {
        return;
    }
    let Some(state) = ratchet::pack::PackState::build(&stack, engine().registry(), &mut report) else { return };
    let m = &state.sizing;
    let Some(profile) = state.whatif.default_profile.clone().or_else(|| m.profiles.first().map(|p| p.name.clone()))
    else {
        return;
    };
    let workload = state.whatif.default_workload.clone();
    let Ok(r) = ratchet::whatif::Runner::new(m, &profile, workload.as_deref(), state.whatif.apply_slider_defaults)
    else {
        return;
    };
    if let Ok(p) = r.point(&[]) {
        let _ = r.kpis_json(&p);
    }
    if let Some(s) = m.sliders.first() {
        let _ = r.sweep(&s.def.name, 3, &[], None);
    }
}

/// A RAM-backed scratch directory when there is one.
pub fn scratch() -> std::path::PathBuf {
    let shm = std::path::Path::new("/dev/shm");
    if shm.is_dir() { shm.to_path_buf() } else { std::env::temp_dir() }
}

/// Renders every diagnostic in every format the CLI prints (the renderers must not panic on
/// any message or span either).
pub fn render(report: &ratchet::Report) {
    for d in &report.diagnostics {
        let _ = d.render();
        let _ = d.github();
        let _ = d.one_line();
    }
    let _ = serde_json::to_string(report);
}

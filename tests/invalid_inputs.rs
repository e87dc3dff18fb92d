//! Every broken input under `tests/data/invalid/` is overlaid on a copy of the shipped
//! registry and validated; the diagnostics are snapshot-tested. None may panic, and every
//! case must report at least one finding at a file position (or name the file).

mod common;

use ratchet::registry::{self, loader::DirLoader};
use std::path::Path;

fn overlay(case: &Path, reg: &Path) {
    for entry in walk(case) {
        let rel = entry.strip_prefix(case).unwrap_or(&entry).to_path_buf();
        let name = rel.to_string_lossy().to_string();
        if name == "REMOVE" {
            for line in std::fs::read_to_string(&entry).unwrap_or_default().lines() {
                let _ = std::fs::remove_file(reg.join(line.trim()));
            }
            continue;
        }
        if name == "GENERATED" {
            continue;
        }
        let dest = reg.join(&rel);
        if let Some(p) = dest.parent() {
            std::fs::create_dir_all(p).unwrap_or_else(|e| panic!("{e}"));
        }
        std::fs::copy(&entry, &dest).unwrap_or_else(|e| panic!("{e}"));
    }
    let case_name = case.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
    if case_name.contains("ten-megabyte") {
        let mut text = String::from("Tier(\n    schema_version: 1,\n    name: \"Huge\",\n    // padding\n");
        while text.len() < 10 * 1024 * 1024 {
            text.push_str("    // ................................................................................\n");
        }
        text.push_str(")\n");
        std::fs::write(reg.join("tiers/10-huge.ron"), text).unwrap_or_else(|e| panic!("{e}"));
    }
    if case_name.contains("directory-where-file") {
        std::fs::create_dir_all(reg.join("tiers/10-dir.ron")).unwrap_or_else(|e| panic!("{e}"));
    }
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let p = e.unwrap_or_else(|e| panic!("{e}")).path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}

#[test]
fn invalid_inputs_have_snapshotted_diagnostics() {
    let root = common::root().join("tests/data/invalid");
    let mut cases: Vec<_> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{e}"))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    assert!(cases.len() >= 25, "at least 25 broken inputs, found {}", cases.len());
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(common::root().join("tests/snapshots"));
    settings.set_prepend_module_to_snapshot(false);
    settings.bind(|| {
        for case in cases {
            let name = case.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
            let (tmp, reg) = common::temp_registry();
            overlay(&case, &reg);
            let out = registry::load(&DirLoader::new(reg.clone()));
            assert!(!out.report.diagnostics.is_empty(), "{name}: no diagnostic");
            if !name.contains("warning") && !name.contains("unrecognised") {
                assert!(out.report.has_errors(), "{name}: expected an error");
                assert!(out.registry.is_none(), "{name}: an invalid registry must not load");
            }
            for d in &out.report.diagnostics {
                assert!(d.file.is_some(), "{name}: diagnostic without a file: {d}");
            }
            let prefix = reg.display().to_string();
            let mut text = String::new();
            for d in &out.report.diagnostics {
                text.push_str(&d.one_line().replace(&prefix, "registry"));
                text.push('\n');
            }
            text.push('\n');
            for d in &out.report.diagnostics {
                text.push_str(&d.render().replace(&prefix, "registry"));
            }
            insta::assert_snapshot!(name, text);
            drop(tmp);
        }
    });
}

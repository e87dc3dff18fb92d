//! The layering of `src/` (docs/architecture.md): every top-level module belongs to one layer,
//! a module only names (`crate::<module>`, outside its tests) modules of its own layer or
//! below, and no modules import each other in a circle. Adding a module means placing it in
//! `LAYERS` (and in the picture in docs/architecture.md).

mod common;

use common::rust_files;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

type Graph = BTreeMap<String, BTreeSet<String>>;

/// The top-level modules: `src/<name>.rs` and `src/<name>/`.
fn modules(src: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for e in std::fs::read_dir(src).unwrap_or_else(|e| panic!("{e}")).flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        if e.path().is_dir() {
            out.insert(name);
        } else if let Some(stem) = name.strip_suffix(".rs") {
            if stem != "lib" && stem != "main" {
                out.insert(stem.to_string());
            }
        }
    }
    out
}

/// The code of a file without comments and without its `#[cfg(test)] mod … { … }` blocks
/// (what only tests use does not make a layer depend on anything).
fn code(text: &str) -> String {
    let text: String = text.lines().map(|l| l.split("//").next().unwrap_or("")).collect::<Vec<_>>().join("\n");
    let mut out = String::new();
    let mut rest = text.as_str();
    while let Some(i) = rest.find("#[cfg(test)]") {
        out.push_str(&rest[..i]);
        let after = &rest[i + "#[cfg(test)]".len()..];
        let is_mod = after.trim_start().starts_with("mod ");
        let open = after.find('{');
        let semi = after.find(';');
        match (is_mod, open) {
            (true, Some(o)) if semi.is_none_or(|s| s > o) => {
                let mut depth = 0usize;
                let mut end = after.len();
                for (k, c) in after[o..].char_indices() {
                    match c {
                        '{' => depth += 1,
                        '}' => {
                            depth -= 1;
                            if depth == 0 {
                                end = o + k + 1;
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                rest = &after[end..];
            }
            // a test-only item that is not a module: skip the attribute, keep the rest
            _ => rest = after,
        }
    }
    out.push_str(rest);
    out
}

/// `crate::<ident>` names in `text`, grouped imports (`crate::{a, b::c}`) included.
fn crate_refs(text: &str) -> BTreeSet<String> {
    let ident =
        |s: &str| -> String { s.trim_start().chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect() };
    let mut out = BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find("crate::") {
        let after = &rest[i + "crate::".len()..];
        // `$crate::` in a macro names the crate from outside; `crate::` must start a path
        let before = rest[..i].chars().last();
        if before != Some('$') && !before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            if let Some(group) = after.strip_prefix('{') {
                for item in split_top(group) {
                    let id = ident(&item);
                    if !id.is_empty() {
                        out.insert(id);
                    }
                }
            } else {
                let id = ident(after);
                if !id.is_empty() {
                    out.insert(id);
                }
            }
        }
        rest = after;
    }
    out
}

/// The items of a `{ … }` group up to its closing brace, split at top-level commas.
fn split_top(group: &str) -> Vec<String> {
    let mut items = vec![String::new()];
    let mut depth = 0usize;
    for c in group.chars() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => break,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(String::new());
                continue;
            }
            _ => {}
        }
        if let Some(last) = items.last_mut() {
            last.push(c);
        }
    }
    items
}

fn graph(src: &Path) -> Graph {
    let mods = modules(src);
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut g: Graph = mods.iter().map(|m| (m.clone(), BTreeSet::new())).collect();
    for f in files {
        let rel = f.strip_prefix(src).unwrap_or(&f);
        let first = rel.components().next().map(|c| c.as_os_str().to_string_lossy().to_string()).unwrap_or_default();
        let from = first.strip_suffix(".rs").unwrap_or(&first).to_string();
        if !mods.contains(&from) {
            continue;
        }
        let text = std::fs::read_to_string(&f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        for to in crate_refs(&code(&text)) {
            if to != from && mods.contains(&to) {
                g.entry(from.clone()).or_default().insert(to);
            }
        }
    }
    g
}

/// Strongly connected components (Tarjan), each with more than one module.
fn cycles(g: &Graph) -> Vec<BTreeSet<String>> {
    struct S<'g> {
        g: &'g Graph,
        index: BTreeMap<&'g str, usize>,
        low: BTreeMap<&'g str, usize>,
        stack: Vec<&'g str>,
        on: BTreeSet<&'g str>,
        out: Vec<BTreeSet<String>>,
    }
    fn visit<'g>(s: &mut S<'g>, v: &'g str) {
        let n = s.index.len();
        s.index.insert(v, n);
        s.low.insert(v, n);
        s.stack.push(v);
        s.on.insert(v);
        let g = s.g;
        for w in g.get(v).into_iter().flatten() {
            let w = w.as_str();
            if !s.index.contains_key(w) {
                visit(s, w);
                let lw = s.low[w];
                let lv = s.low[v];
                s.low.insert(v, lv.min(lw));
            } else if s.on.contains(w) {
                let iw = s.index[w];
                let lv = s.low[v];
                s.low.insert(v, lv.min(iw));
            }
        }
        if s.low[v] == s.index[v] {
            let mut comp = BTreeSet::new();
            while let Some(w) = s.stack.pop() {
                s.on.remove(w);
                comp.insert(w.to_string());
                if w == v {
                    break;
                }
            }
            if comp.len() > 1 {
                s.out.push(comp);
            }
        }
    }
    let mut s =
        S { g, index: BTreeMap::new(), low: BTreeMap::new(), stack: Vec::new(), on: BTreeSet::new(), out: Vec::new() };
    for v in g.keys() {
        if !s.index.contains_key(v.as_str()) {
            visit(&mut s, v.as_str());
        }
    }
    s.out
}

/// The edges that lie on a cycle: both ends in the same component.
fn cycle_edges(g: &Graph) -> BTreeSet<(String, String)> {
    let comps = cycles(g);
    let mut out = BTreeSet::new();
    for c in &comps {
        for a in c {
            for b in g.get(a).into_iter().flatten() {
                if c.contains(b) {
                    out.insert((a.clone(), b.clone()));
                }
            }
        }
    }
    out
}

/// The layers, lowest first; the same table is drawn in docs/architecture.md.
const LAYERS: &[(&str, &[&str])] = &[
    ("foundation", &["error", "limits", "numeric", "document", "diagnostic", "version"]),
    ("data", &["formats", "registry", "tier", "catalog", "precision", "measurement", "schema", "embedded"]),
    ("expr", &["expr"]),
    ("rules", &["rules", "sizing"]),
    (
        "engine",
        &[
            "engine",
            "projection",
            "anchors",
            "workload",
            "pack",
            "perception",
            "calibration",
            "ladder",
            "plan",
            "whatif",
            "wire",
            "model_import",
        ],
    ),
    ("surfaces", &["batch", "cli", "serve", "web", "reload", "diff", "ingest", "probes"]),
];

fn layer_of(m: &str) -> Option<usize> {
    LAYERS.iter().position(|(_, ms)| ms.contains(&m))
}

/// The edges that go up a layer, as `a (layer) -> b (layer)`.
fn upward(g: &Graph) -> Vec<String> {
    let mut out = Vec::new();
    for (a, tos) in g {
        for b in tos {
            if let (Some(la), Some(lb)) = (layer_of(a), layer_of(b)) {
                if lb > la {
                    out.push(format!("{a} ({}) -> {b} ({})", LAYERS[la].0, LAYERS[lb].0));
                }
            }
        }
    }
    out
}

fn src_graph() -> Graph {
    graph(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"))
}

#[test]
fn every_module_has_a_layer() {
    let g = src_graph();
    let missing: Vec<&String> = g.keys().filter(|m| layer_of(m).is_none()).collect();
    assert!(missing.is_empty(), "modules without a layer in tests/layers.rs LAYERS: {missing:?}");
    let gone: Vec<&str> =
        LAYERS.iter().flat_map(|(_, ms)| ms.iter().copied()).filter(|m| !g.contains_key(*m)).collect();
    assert!(gone.is_empty(), "LAYERS names modules that do not exist: {gone:?}");
}

#[test]
fn no_module_imports_a_higher_layer() {
    let up = upward(&src_graph());
    assert!(up.is_empty(), "imports that go up a layer: {up:?}");
}

#[test]
fn no_import_cycle() {
    let g = src_graph();
    let c = cycles(&g);
    assert!(c.is_empty(), "modules that import each other in a circle: {c:?} (edges {:?})", cycle_edges(&g));
}

/// The files and folders directly inside each folder module of `src/` (`rules/compile.rs`,
/// `rules/model.rs`, …) and which siblings each names: `super::x` or `crate::<folder>::x`
/// (its parent `mod.rs` is not a sibling: a parent and its children share items by design).
fn sibling_graphs(src: &Path) -> BTreeMap<String, Graph> {
    let mut out = BTreeMap::new();
    let mut dirs = Vec::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{e}")).flatten() {
            if e.path().is_dir() {
                stack.push(e.path());
                dirs.push(e.path());
            }
        }
    }
    for d in dirs {
        let rel = d.strip_prefix(src).unwrap_or(&d).to_string_lossy().replace('/', "::");
        let mut kids: BTreeMap<String, Vec<std::path::PathBuf>> = BTreeMap::new();
        for e in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{e}")).flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            let p = e.path();
            if p.is_dir() {
                let mut fs = Vec::new();
                rust_files(&p, &mut fs);
                kids.insert(name, fs);
            } else if let Some(stem) = name.strip_suffix(".rs").filter(|s| *s != "mod") {
                kids.insert(stem.to_string(), vec![p]);
            }
        }
        let mut g: Graph = kids.keys().map(|k| (k.clone(), BTreeSet::new())).collect();
        for (k, files) in &kids {
            for f in files {
                let text = code(&std::fs::read_to_string(f).unwrap_or_else(|e| panic!("{e}")));
                // only a file directly in the folder reaches its siblings through `super::`
                let direct = f.parent() == Some(d.as_path());
                let mut names = BTreeSet::new();
                let prefix = format!("crate::{rel}::");
                for (pat, ok) in [("super::", direct), (prefix.as_str(), true)] {
                    if !ok {
                        continue;
                    }
                    let mut rest = text.as_str();
                    while let Some(i) = rest.find(pat) {
                        let before = rest[..i].chars().last();
                        let after = &rest[i + pat.len()..];
                        if !before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                            let renamed = format!("crate::{}", after);
                            names.extend(crate_refs(&renamed));
                        }
                        rest = after;
                    }
                }
                for n in names {
                    if n != *k && kids.contains_key(&n) {
                        g.entry(k.clone()).or_default().insert(n);
                    }
                }
            }
        }
        out.insert(rel, g);
    }
    out
}

/// Names of the crate root's own items (not modules) that a module reads as `crate::X`.
fn root_items_named(src: &Path) -> Vec<String> {
    let mods = modules(src);
    let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap_or_else(|e| panic!("{e}"));
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut out = Vec::new();
    for f in files {
        let rel = f.strip_prefix(src).unwrap_or(&f).to_string_lossy().to_string();
        if rel == "lib.rs" || rel == "main.rs" {
            continue;
        }
        let text = std::fs::read_to_string(&f).unwrap_or_else(|e| panic!("{e}"));
        for r in crate_refs(&code(&text)) {
            // a re-export (`pub use x::Y`) is a module's item under another name; a `const`,
            // `fn`, `struct` or `static` written in lib.rs is the root's own
            let own = ["const", "fn", "struct", "enum", "static", "type"]
                .iter()
                .any(|kw| lib.contains(&format!("pub {kw} {r}")) || lib.contains(&format!("pub {kw} {r}:")));
            if !mods.contains(&r) && own {
                out.push(format!("{rel} -> crate::{r}"));
            }
        }
    }
    out
}

#[test]
fn no_module_reads_the_crate_root_upward() {
    let up = root_items_named(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    assert!(up.is_empty(), "modules reading the crate root's own items (move them to a module): {up:?}");
}

#[test]
fn no_import_cycle_inside_a_module() {
    let mut found = Vec::new();
    for (dir, g) in sibling_graphs(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src")) {
        for c in cycles(&g) {
            found.push(format!("{dir}: {c:?} (edges {:?})", cycle_edges(&g)));
        }
    }
    assert!(found.is_empty(), "files of one module that import each other in a circle: {found:#?}");
}

#[test]
fn the_checker_sees_a_cycle_and_ignores_tests_comments_and_macros() {
    assert_eq!(crate_refs("use crate::engine::Engine; $crate::x; my_crate::y"), BTreeSet::from(["engine".to_string()]));
    assert_eq!(
        crate_refs("use crate::{tier::{Tier, TierSpec}, engine, numeric::py_round};"),
        BTreeSet::from(["tier".to_string(), "engine".to_string(), "numeric".to_string()])
    );
    let c = code("use crate::a; // crate::b\n#[cfg(test)]\nmod t { fn f() { crate::c::x(); } }\nuse crate::d;");
    assert_eq!(crate_refs(&c), BTreeSet::from(["a".to_string(), "d".to_string()]), "{c}");
    // a test-only item that is not a module does not hide what follows it
    let c = code("#[cfg(test)]\nuse crate::t;\nfn g() { crate::e::y(); }");
    assert!(crate_refs(&c).contains("e"), "{c}");
    let mut g = Graph::new();
    for (a, b) in [("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")] {
        g.entry(a.into()).or_default().insert(b.into());
        g.entry(b.into()).or_default();
    }
    g.entry("d".into()).or_default();
    let e = cycle_edges(&g);
    assert_eq!(e.len(), 3);
    assert!(!e.contains(&("c".to_string(), "d".to_string())));
    // an engine module naming a surface goes up a layer; a surface naming the engine does not
    let mut g = Graph::new();
    g.entry("engine".into()).or_default().insert("cli".into());
    g.entry("cli".into()).or_default().insert("engine".into());
    assert_eq!(upward(&g), vec!["engine (engine) -> cli (surfaces)".to_string()]);
}

//! Embeds the shipped `registry/`, `rules/` and `packs/` trees into the binary so that
//! `ratchet` works from any folder. Each file becomes `(relative path, bytes)`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for p in entries {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with('.') || name.ends_with('~') {
            continue;
        }
        if p.is_dir() {
            collect(&p, out);
        } else {
            out.push(p);
        }
    }
}

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into()));
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").unwrap_or_else(|_| ".".into()));
    let mut code = String::new();
    for tree in ["registry", "rules", "packs"] {
        let root = manifest.join(tree);
        println!("cargo:rerun-if-changed={}", root.display());
        let mut files = Vec::new();
        collect(&root, &mut files);
        let _ = writeln!(code, "pub static {}: &[(&str, &[u8])] = &[", tree.to_uppercase());
        for f in files {
            let rel = f.strip_prefix(&root).unwrap_or(&f).to_string_lossy().replace('\\', "/");
            let _ = writeln!(code, "    ({rel:?}, include_bytes!({:?})),", f.display().to_string());
        }
        code.push_str("];\n");
    }
    if let Err(e) = std::fs::write(out_dir.join("embedded.rs"), code) {
        panic!("cannot write embedded.rs: {e}");
    }
}

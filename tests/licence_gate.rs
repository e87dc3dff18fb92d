//! The licence gate in `.ci/run` rejects copyleft: a dry run over saved `cargo metadata`
//! documents (tests/data/licence-gate) — one with an AGPL evalexpr 12, GPL, LGPL and MPL
//! crates, an unlabelled crate and a GPL path dependency, one with permissive crates only
//! (including a dual `MIT OR GPL-3.0-only` crate, which may be taken under MIT).

mod common;

use common::root;
use std::process::Command;

fn gate(fixture: &str) -> (i32, String) {
    let out = Command::new("python3")
        .arg(root().join(".ci/licenses.py"))
        .arg("--metadata")
        .arg(root().join("tests/data/licence-gate").join(fixture))
        .output()
        .unwrap_or_else(|e| panic!("python3 is needed for the licence gate: {e}"));
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn copyleft_dependencies_fail_the_gate() {
    let (code, out) = gate("copyleft.json");
    assert_eq!(code, 1, "{out}");
    for want in [
        "evalexpr 12.0.3: AGPL-3.0-only",
        "evalexpr 12.0.3: must stay at 11.3.1",
        "gpl-thing 0.2.0: GPL-2.0-or-later",
        "mixed 1.1.0: MIT AND LGPL-2.1-only",
        "mpl-thing 2.0.0: MPL-2.0",
        "unlabelled 0.1.0: no licence expression",
        "local-gpl 0.1.0: GPL-3.0-only",
    ] {
        assert!(out.contains(want), "missing `{want}` in:\n{out}");
    }
    assert!(!out.contains("serde") && !out.contains("unicode-ident"), "permissive crates pass:\n{out}");
}

#[test]
fn permissive_dependencies_pass_the_gate() {
    let (code, out) = gate("permissive.json");
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("4 dependencies, all permissive"), "{out}");
}

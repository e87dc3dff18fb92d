//! Registry file loading: the embedded registry with one file replaced by the input (RON or
//! JSON by the chosen path's extension), through syntax, schema and semantic checks; when
//! the result loads, every tier is summarised and every model checked against it.
#![no_main]

#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn base() -> &'static [(String, Vec<u8>)] {
    static F: OnceLock<Vec<(String, Vec<u8>)>> = OnceLock::new();
    F.get_or_init(|| common::files(&ratchet::embedded::registry()))
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, body)) = data.split_first() else { return };
    let mut files = base().to_vec();
    let i = (sel & 0x7f) as usize % files.len();
    // the high bit reads the same file as JSON
    if sel & 0x80 != 0 {
        let p = files[i].0.rsplit_once('.').map(|(stem, _)| format!("{stem}.json")).unwrap_or_default();
        files[i].0 = p;
    }
    files[i].1 = body.to_vec();
    let loader = common::memory("registry", &files);
    let out = ratchet::registry::load(&loader);
    common::render(&out.report);
    let Some(reg) = out.registry else { return };
    for t in reg.tiers() {
        let _ = reg.tier_summary(t);
        let _ = serde_json::to_string(&t.to_full_spec());
    }
    for m in reg.catalog().iter() {
        let _ = reg.check_model(m);
    }
});

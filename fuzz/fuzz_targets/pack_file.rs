//! Pack loading: the shipped drone-soc pack with one file replaced by the input, through the
//! manifest, layering, sizing-file checks and compile; when it builds, a what-if point and a
//! short sweep run over it.
#![no_main]

#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, body)) = data.split_first() else { return };
    let mut files = common::drone_soc().to_vec();
    let i = (sel & 0x7f) as usize % files.len();
    if sel & 0x80 != 0 {
        let p = files[i].0.rsplit_once('.').map(|(stem, _)| format!("{stem}.json")).unwrap_or_default();
        files[i].0 = p;
    }
    files[i].1 = body.to_vec();
    common::build_and_run_pack(&files);
});

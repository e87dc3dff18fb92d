//! Private anchor files (TOML): parse and check; when accepted, overlay them on the embedded
//! engine and project every cell they could touch.
#![no_main]

#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;
use std::sync::Arc;

fuzz_target!(|data: &[u8]| {
    let (file, report) = ratchet::anchors::AnchorFile::parse(std::path::Path::new("anchors.toml"), data);
    common::render(&report);
    let Some(file) = file else { return };
    let e = common::engine().with_anchors(Some(Arc::new(file)));
    let reg = e.registry();
    for t in reg.tiers() {
        for m in reg.catalog().iter() {
            let _ = e.project_llm(m, t, "chat", &Default::default());
        }
    }
    for line in [
        r#"{"op":"project_llm","model":"qwen3_30b_a3b_moe","hw":"NPU Mid","overlay_anchors":true}"#,
        r#"{"op":"project_llm","model":"qwen25_7b_dense","hw":"NPU Max","overlay_anchors":true}"#,
    ] {
        let _ = ratchet::batch::answer_line(&e, line);
    }
});

//! Formula parse + lower + evaluate, in both interpreters: the projection rules (a rule set
//! extending the reference with one formula replaced, then projections and an operation
//! through it) and the sizing VM (a drone-soc formula replaced, then a what-if point).
#![no_main]

#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;
use ratchet::registry::loader::{Loader, MemoryLoader};
use ratchet::rules::inputs::RecVal;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let Ok(text) = std::str::from_utf8(rest) else { return };
    let _ = ratchet::expr::parse(text);
    if mode % 2 == 0 {
        rules(text, mode / 2 % 4);
    } else {
        sizing(text);
    }
});

fn rules(text: &str, slot: u8) {
    let f = common::raw_string(text);
    let name = ["gqa_ratio", "effective_bandwidth_gbs", "per_token_ms", "bytes_per_param"][slot as usize];
    let doc = format!(
        "RuleSet(schema_version: 1, name: \"fuzz\", extends: \"ratchet-0.3.2\", formulas: {{ \"{name}\": {f} }}, \
         operations: {{ \"fuzz_op\": (args: {{\"x\": \"number\", \"s\": \"string\"}}, uses: [\"hw\", \"model\"], result: {f}) }})"
    );
    let base = ratchet::embedded::rules();
    let Ok(reference) = base.read("ratchet-0.3.2.ron") else { return };
    let loader = MemoryLoader::new("rules").with("ratchet-0.3.2.ron", reference).with("fuzz.ron", doc.into_bytes());
    let out = common::engine().with_rules(&[&loader as &dyn Loader], Some("fuzz"));
    common::render(&out.report);
    let Some(e) = out.engine else { return };
    let reg = e.registry();
    for (t, m) in reg.tiers().iter().step_by(4).zip(reg.catalog().iter()) {
        let _ = e.project_llm(m, t, "chat", &Default::default());
        let _ = e.memory_feasibility(m, t, 8192);
        let args = [RecVal::Num(2.5), RecVal::Str("INT8")];
        let _ = e.run_operation("fuzz_op", Some(t), Some(m), &args);
    }
}

fn sizing(text: &str) {
    let f = common::raw_string(text);
    let mut files = common::drone_soc().to_vec();
    for (rel, bytes) in files.iter_mut() {
        if rel == "sizing.ron" {
            let s = String::from_utf8_lossy(bytes).into_owned();
            let old = "\"cpu_perf\": \"max(profile.cpu.perf_per_clock_vs_a55 * profile.cpu.clock_ghz / ref_clock_ghz, 0.01)\"";
            *bytes = s.replacen(old, &format!("\"cpu_perf\": {f}"), 1).into_bytes();
        }
    }
    common::build_and_run_pack(&files);
}

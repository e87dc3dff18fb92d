//! Hot reload's torn-read guard, through the library: a read that fails while the data is
//! still being written is retried, a failure on data that holds still is counted.

mod common;
use common::{root, temp_registry};
use ratchet::engine::EngineConfig;
use ratchet::reload::{Live, Outcome};
use std::time::Duration;

const MID: &str = "tiers/07-npu-mid.ron";

fn live_on_copy() -> (tempfile::TempDir, std::path::PathBuf, Live) {
    let (d, reg) = temp_registry();
    let cfg = EngineConfig { registry: Some(reg.clone()), ..EngineConfig::default() };
    let live = Live::start(cfg).unwrap_or_else(|r| panic!("{r:?}"));
    (d, reg, live)
}

fn with_bandwidth(bw: &str) -> String {
    let base = std::fs::read_to_string(root().join("registry").join(MID)).unwrap_or_else(|e| panic!("{e}"));
    base.replacen("mem_bandwidth_gbs: 134.4", &format!("mem_bandwidth_gbs: {bw}"), 1)
}

#[test]
fn a_read_torn_by_a_write_in_progress_is_retried_not_counted() {
    let (_d, reg, live) = live_on_copy();
    let file = reg.join(MID);
    // the first half of a truncate-then-write save
    std::fs::write(&file, "").unwrap_or_else(|e| panic!("{e}"));
    let f2 = file.clone();
    // the second half lands while the reload is reading or settling, whichever comes first
    let writer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(10));
        std::fs::write(&f2, with_bandwidth("141.0")).unwrap_or_else(|e| panic!("{e}"));
    });
    let out = live.reload_settled(Duration::from_millis(300));
    writer.join().unwrap_or_else(|_| panic!("writer"));
    assert!(matches!(out, Outcome::Swapped { id: 2, .. }), "{out:?}");
    assert_eq!((live.failures(), live.reloads()), (0, 1));
    assert!(live.last_failure().is_none());
}

#[test]
fn a_failure_on_data_that_holds_still_is_counted_once() {
    let (_d, reg, live) = live_on_copy();
    std::fs::write(reg.join(MID), "Tier(\n    name: \"NPU Mid\",\n    peak_tops_int8: ,\n)")
        .unwrap_or_else(|e| panic!("{e}"));
    let out = live.reload_settled(Duration::from_millis(20));
    assert!(matches!(out, Outcome::Failed(_)), "{out:?}");
    assert_eq!((live.failures(), live.reloads(), live.current().id), (1, 0, 1));
    // the manual reload reads once and counts too
    assert!(matches!(live.reload(), Outcome::Failed(_)));
    assert_eq!(live.failures(), 2);
}

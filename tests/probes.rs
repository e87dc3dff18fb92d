//! Probes and the workload record (spec §1.13, §3.20): the 65-column schema, the buffered
//! thread-safe writer, the reader and its errors on bad files, the operation, encoder,
//! glass-to-glass and GPU probes, and the file as pyarrow sees it.

use arrow_array::types::Int32Type;
use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use ratchet::probes::{
    self, COLUMNS, ColumnKind, EncoderProbe, G2gStage, GlassToGlassProbe, GpuProbe, GpuStatus, OpOptions,
    OperationProbe, ProbeError, RecordWriter, WorkloadRecord, read_records,
};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

/// Spec §3.20's table, row by row (three columns a row), written out here so a drift of the
/// generated schema fails the test. The table's heading says 66, but it lists 65 columns: the
/// record's 66th field is `extras` (§1.13), which is not a column.
#[rustfmt::skip]
const SPEC_COLUMNS: [(&str, &str); 65] = [
    ("record_id", "string"), ("run_id", "string"), ("t_wall_ns", "int64"),
    ("t_sim_ns", "int64"), ("subsystem", "string"), ("operation", "string"),
    ("phase", "string"), ("latency_ns", "int64"), ("macs", "int64"),
    ("flops", "int64"), ("precision", "string"), ("gpu_util_pct", "float32"),
    ("gpu_mem_used_mb", "float32"), ("gpu_mem_bw_gbps", "float32"), ("sm_active_pct", "float32"),
    ("tensor_core_active_pct", "float32"), ("nvenc_util_pct", "float32"), ("nvdec_util_pct", "float32"),
    ("input_bytes", "int64"), ("output_bytes", "int64"), ("input_shape", "string"),
    ("output_shape", "string"), ("src_subsystem", "string"), ("dst_subsystem", "string"),
    ("encode_codec", "string"), ("encode_bitrate_kbps", "float32"), ("encode_frame_size_bytes", "int64"),
    ("encode_keyframe", "bool"), ("link_profile", "string"), ("link_rtt_ms", "float32"),
    ("link_loss_pct", "float32"), ("link_throughput_mbps", "float32"), ("pos_x", "float32"),
    ("pos_y", "float32"), ("pos_z", "float32"), ("target_locked", "bool"),
    ("radar_n_points", "int64"), ("radar_n_clusters", "int64"), ("radar_n_tracks", "int64"),
    ("radar_format", "string"), ("g2g_capture_ns", "int64"), ("g2g_isp_done_ns", "int64"),
    ("g2g_encode_done_ns", "int64"), ("g2g_tx_done_ns", "int64"), ("g2g_rx_done_ns", "int64"),
    ("g2g_decode_done_ns", "int64"), ("g2g_display_ns", "int64"), ("g2g_total_ms", "float32"),
    ("llm_prompt_tokens", "int64"), ("llm_output_tokens", "int64"), ("llm_kv_cache_mb", "float32"),
    ("llm_tokens_per_sec", "float32"), ("isp_stage", "string"), ("isp_input_format", "string"),
    ("isp_output_format", "string"), ("isp_line_rate_mpps", "float32"), ("isp_pixels_processed", "int64"),
    ("isp_lanes_used", "int64"), ("isp_hdr_exposures", "int64"), ("dsp_op", "string"),
    ("dsp_pyramid_levels", "int64"), ("dsp_kernel_size", "int64"), ("dsp_simd_lanes", "int64"),
    ("dsp_cycles", "int64"), ("dsp_clock_mhz", "float32"),
];

/// §1.13: the columns with a default, never null.
const DEFAULTED: [&str; 6] = ["record_id", "run_id", "t_wall_ns", "subsystem", "operation", "phase"];

fn arrow_type(spec: &str) -> DataType {
    match spec {
        "string" => DataType::Utf8,
        "int64" => DataType::Int64,
        "float32" => DataType::Float32,
        "bool" => DataType::Boolean,
        other => panic!("no such spec type {other}"),
    }
}

fn expected_fields() -> Vec<Field> {
    SPEC_COLUMNS.iter().map(|(n, t)| Field::new(*n, arrow_type(t), !DEFAULTED.contains(n))).collect()
}

fn assert_schema(schema: &Schema, what: &str) {
    assert_eq!(schema.fields().len(), 65, "{what}: column count");
    for (i, (field, want)) in schema.fields().iter().zip(expected_fields()).enumerate() {
        assert_eq!(field.name(), want.name(), "{what}: name of column {i}");
        assert_eq!(field.data_type(), want.data_type(), "{what}: type of column `{}`", want.name());
        assert_eq!(field.is_nullable(), want.is_nullable(), "{what}: nullability of column `{}`", want.name());
    }
}

/// A record with every column set from `i` (strings, ints, floats, bools), some nullable
/// ones null, all through `set`, plus an extra.
fn full_record(i: usize) -> WorkloadRecord {
    let mut r = WorkloadRecord::new();
    for (k, c) in COLUMNS.iter().enumerate() {
        if c.name == "record_id" || c.name == "t_wall_ns" {
            continue; // keep the fresh defaults
        }
        let value = if c.nullable && (i + k) % 7 == 0 {
            Value::Null
        } else {
            match c.kind {
                ColumnKind::Utf8 => json!(format!("{}-{i}", c.name)),
                ColumnKind::Int64 => json!((i as i64) * 1_000_003 - (k as i64) * 17),
                ColumnKind::Float32 => json!((i as f32) * 0.25 + k as f32),
                ColumnKind::Boolean => json!((i + k) % 2 == 0),
            }
        };
        r.set(c.name, &value).unwrap_or_else(|e| panic!("set {}: {e}", c.name));
    }
    r.set("note", &json!({"i": i})).unwrap();
    r
}

fn by_id(records: Vec<WorkloadRecord>) -> BTreeMap<String, WorkloadRecord> {
    records.into_iter().map(|r| (r.record_id.clone(), r)).collect()
}

#[test]
fn the_schema_is_the_specs_65_columns_in_order() {
    assert_schema(&probes::schema(), "probes::schema()");
    assert_eq!(COLUMNS.len(), 65);
    for (c, (name, ty)) in COLUMNS.iter().zip(SPEC_COLUMNS) {
        assert_eq!((c.name, c.kind.spec_name()), (name, ty));
    }
}

#[test]
fn a_new_record_has_the_defaults_of_1_13() {
    let a = WorkloadRecord::new();
    let b = WorkloadRecord::default();
    assert_ne!(a.record_id, b.record_id, "a fresh id per record");
    let id = a.record_id.as_bytes();
    assert_eq!(a.record_id.len(), 36);
    assert_eq!([id[8], id[13], id[18], id[23]], [b'-'; 4]);
    assert_eq!(id[14], b'4', "UUID version 4: {}", a.record_id);
    assert!(matches!(id[19], b'8' | b'9' | b'a' | b'b'), "RFC 4122 variant: {}", a.record_id);
    assert!(a.t_wall_ns > 1_600_000_000_000_000_000, "wall clock in ns: {}", a.t_wall_ns);
    assert_eq!((a.run_id.as_str(), a.subsystem.as_str(), a.operation.as_str()), ("", "", ""));
    assert_eq!(a.phase, "idle");
    for c in COLUMNS.iter().filter(|c| c.nullable) {
        assert_eq!(a.get(c.name), Some(Value::Null), "{} starts null", c.name);
    }
    assert!(a.extras.is_empty());
}

#[test]
fn set_is_type_checked_and_unknown_names_are_extras() {
    let mut r = WorkloadRecord::new();
    r.set("latency_ns", &json!(42)).unwrap();
    r.set("gpu_util_pct", &json!(12)).unwrap();
    r.set("encode_keyframe", &json!(true)).unwrap();
    r.set("precision", &json!("bf16")).unwrap();
    assert_eq!((r.latency_ns, r.gpu_util_pct, r.encode_keyframe), (Some(42), Some(12.0), Some(true)));
    r.set("latency_ns", &Value::Null).unwrap();
    assert_eq!(r.latency_ns, None);

    let e = r.set("latency_ns", &json!("fast")).unwrap_err();
    assert_eq!(e.to_string(), "column `latency_ns` takes int64 or null, not `\"fast\"`");
    assert!(r.set("macs", &json!(1.5)).is_err(), "int64 takes integers only");
    assert!(r.set("encode_keyframe", &json!(1)).is_err());
    assert!(r.set("precision", &json!(16)).is_err());
    let e = r.set("phase", &Value::Null).unwrap_err();
    assert_eq!(e.to_string(), "column `phase` takes string, not `null`");

    r.set("batch", &json!(8)).unwrap();
    assert_eq!(r.extras.get("batch"), Some(&json!(8)));
    assert_eq!(r.get("batch"), Some(json!(8)));
    assert_eq!(r.get("nope"), None);
}

#[test]
fn records_from_four_threads_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let writer = Arc::new(RecordWriter::create(dir.path().join("run-1"), "perception").unwrap());
    assert_eq!(writer.path(), dir.path().join("run-1/perception.parquet"));
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let writer = writer.clone();
            std::thread::spawn(move || {
                (0..150)
                    .map(|i| {
                        let r = full_record(t * 150 + i);
                        writer.write(r.clone()).unwrap();
                        r
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let written: Vec<WorkloadRecord> = threads.into_iter().flat_map(|h| h.join().unwrap()).collect();
    writer.close().unwrap();
    assert_eq!(writer.rows_written(), 600);
    assert_eq!(writer.row_groups(), 3, "two full batches of 256 and the rest at close");

    let path = writer.path().to_path_buf();
    let file = std::fs::File::open(&path).unwrap();
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
    assert_schema(builder.schema(), "the file's schema");
    assert_eq!(builder.metadata().file_metadata().num_rows(), 600);

    let read = read_records(&path).unwrap();
    assert_eq!(read.len(), 600);
    let read = by_id(read);
    assert_eq!(read.len(), 600, "record ids are unique");
    for mut want in written {
        let got = &read[&want.record_id];
        assert!(got.extras.is_empty(), "extras are not written");
        want.extras.clear();
        assert_eq!(got, &want);
    }
}

#[test]
fn the_writer_buffers_256_records_per_batch() {
    let dir = tempfile::tempdir().unwrap();
    let writer = RecordWriter::create(dir.path(), "buffer").unwrap();
    let path = writer.path().to_path_buf();
    let on_disk = || std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    for _ in 0..255 {
        writer.write(WorkloadRecord::new()).unwrap();
    }
    assert_eq!((writer.buffered(), writer.rows_written(), writer.row_groups()), (255, 0, 0));
    assert!(on_disk() <= 4, "at most the magic bytes before the first batch: {} bytes", on_disk());

    writer.write(WorkloadRecord::new()).unwrap();
    assert_eq!((writer.buffered(), writer.rows_written(), writer.row_groups()), (0, 256, 1));
    let after_first = on_disk();
    assert!(after_first > 1000, "the first batch is on disk: {after_first} bytes");

    writer.write(WorkloadRecord::new()).unwrap();
    assert_eq!(writer.buffered(), 1);
    writer.flush().unwrap();
    assert_eq!((writer.buffered(), writer.rows_written(), writer.row_groups()), (0, 257, 2));
    writer.flush().unwrap();
    assert_eq!(writer.row_groups(), 2, "an empty flush writes nothing");

    writer.write(WorkloadRecord::new()).unwrap();
    writer.close().unwrap();
    writer.close().unwrap();
    assert_eq!(writer.rows_written(), 258);
    assert!(matches!(writer.write(WorkloadRecord::new()), Err(ProbeError::Closed { .. })));
    assert!(writer.flush().is_err());
    assert_eq!(read_records(&path).unwrap().len(), 258);
}

#[test]
fn a_dropped_writer_closes_its_file_and_an_empty_one_is_readable() {
    let dir = tempfile::tempdir().unwrap();
    {
        let writer = RecordWriter::create(dir.path(), "dropped").unwrap();
        for _ in 0..3 {
            writer.write(WorkloadRecord::new()).unwrap();
        }
    }
    assert_eq!(read_records(dir.path().join("dropped.parquet")).unwrap().len(), 3);
    RecordWriter::create(dir.path(), "empty").unwrap().close().unwrap();
    assert!(read_records(dir.path().join("empty.parquet")).unwrap().is_empty());
}

#[test]
fn subsystems_that_cannot_name_a_file_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    for bad in ["", "../x", "a/b", ".hidden", "a b"] {
        let e = RecordWriter::create(dir.path(), bad).unwrap_err();
        assert!(matches!(e, ProbeError::InvalidSubsystem { .. }), "{bad}: {e}");
    }
}

#[test]
fn an_operation_probe_records_latency_also_when_the_work_fails() {
    let dir = tempfile::tempdir().unwrap();
    let writer = Arc::new(RecordWriter::create(dir.path(), "npu").unwrap());
    let probe = OperationProbe::new("run-7", "npu", writer.clone()).with_phase(|| "decode".to_owned());

    let opts = OpOptions::new()
        .macs(1000)
        .flops(2000)
        .precision("int8")
        .input_shape(&probes::shape_text(&[1, 3, 224, 224]))
        .input_bytes(150_528)
        .output_shape("[1, 1000]")
        .src("isp")
        .dst("planner");
    let out: Result<Result<u32, String>, ProbeError> = probe.run("conv2d", opts, |scope| {
        scope.set_output_bytes(4000);
        Err("kernel fault".to_owned())
    });
    assert_eq!(out.unwrap(), Err("kernel fault".to_owned()), "the work's error comes back");

    let ok = probe.run("relu", OpOptions::new(), |scope| {
        scope.set_output_shape("[8]");
        7
    });
    assert_eq!(ok.unwrap(), 7);
    writer.close().unwrap();

    let records = read_records(writer.path()).unwrap();
    assert_eq!(records.len(), 2);
    let conv = &records[0];
    assert_eq!((conv.run_id.as_str(), conv.subsystem.as_str()), ("run-7", "npu"));
    assert_eq!((conv.operation.as_str(), conv.phase.as_str()), ("conv2d", "decode"));
    assert!(conv.latency_ns.is_some_and(|ns| ns >= 0), "latency recorded for failed work");
    assert_eq!((conv.macs, conv.flops, conv.precision.as_deref()), (Some(1000), Some(2000), Some("int8")));
    assert_eq!(conv.input_shape.as_deref(), Some("[1, 3, 224, 224]"));
    assert_eq!((conv.input_bytes, conv.output_bytes), (Some(150_528), Some(4000)));
    assert_eq!(conv.output_shape.as_deref(), Some("[1, 1000]"));
    assert_eq!((conv.src_subsystem.as_deref(), conv.dst_subsystem.as_deref()), (Some("isp"), Some("planner")));
    let relu = &records[1];
    assert_eq!(relu.operation, "relu");
    assert!(relu.latency_ns.is_some());
    assert_eq!((relu.output_shape.as_deref(), relu.macs), (Some("[8]"), None));
}

#[test]
fn a_panicking_operation_is_recorded_and_the_panic_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let writer = Arc::new(RecordWriter::create(dir.path(), "cpu").unwrap());
    let probe = OperationProbe::new("r", "cpu", writer.clone());
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = probe.run("boom", OpOptions::new(), |_| -> u8 { panic!("work panicked") });
    }));
    assert!(caught.is_err());
    writer.close().unwrap();
    let records = read_records(writer.path()).unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].operation, "boom");
    assert!(records[0].latency_ns.is_some());
}

#[test]
fn operation_extras_merge_and_unknown_ones_are_not_written() {
    let dir = tempfile::tempdir().unwrap();
    let writer = Arc::new(RecordWriter::create(dir.path(), "llm").unwrap());
    let probe = OperationProbe::new("r", "llm", writer.clone());
    let opts = OpOptions::new()
        .extra("llm_prompt_tokens", 128)
        .extra("llm_output_tokens", 1)
        .extra("batch", 4)
        .extra("kernel", "flash");
    probe
        .run("decode_step", opts, |scope| {
            scope.set_extra("llm_output_tokens", 64)?; // wins over the call-time value
            scope.set_extra("llm_tokens_per_sec", 31.5)?;
            scope.set_extra("kernel", "paged")?; // an extra that is not a column wins too
            Ok::<(), ProbeError>(())
        })
        .unwrap()
        .unwrap();

    // a column's type is checked: at call time before the work runs, during it at once
    let mut ran = false;
    let e = probe.run("bad", OpOptions::new().extra("macs", "many"), |_| ran = true).unwrap_err();
    assert!(!ran, "the work does not run with a bad call-time extra");
    assert_eq!(e.to_string(), "column `macs` takes int64 or null, not `\"many\"`");
    let inner = probe.run("bad2", OpOptions::new(), |scope| scope.set_extra("target_locked", "yes")).unwrap();
    assert!(matches!(inner, Err(ProbeError::ValueType { column: "target_locked", .. })), "{inner:?}");
    writer.close().unwrap();

    let records = read_records(writer.path()).unwrap();
    assert_eq!(records.len(), 2, "decode_step and bad2 (its work ran)");
    let r = &records[0];
    assert_eq!((r.llm_prompt_tokens, r.llm_output_tokens, r.llm_tokens_per_sec), (Some(128), Some(64), Some(31.5)));
    assert!(r.extras.is_empty(), "`batch` and `kernel` are extras, not columns: not in the file");
    assert_eq!(records[1].target_locked, None);

    // in memory the merged extras are there: check through a writer-free record
    let mut m = WorkloadRecord::new();
    for (k, v) in [("batch", json!(4)), ("kernel", json!("flash")), ("kernel", json!("paged"))] {
        m.set(k, &v).unwrap();
    }
    assert_eq!(m.extras.get("kernel"), Some(&json!("paged")));
}

#[test]
fn the_encoder_probe_times_frames_from_input_to_output() {
    let dir = tempfile::tempdir().unwrap();
    let writer = Arc::new(RecordWriter::create(dir.path(), "video_encode").unwrap());
    let enc = EncoderProbe::new("run-e", writer.clone()).with_phase(|| "search".to_owned());
    enc.on_encoded_frame(9000, true, None).unwrap(); // no input stamp yet
    enc.on_input_frame();
    enc.on_encoded_frame(4000, false, Some("[1080, 1920, 3]")).unwrap();
    enc.on_input_frame_at(0); // a zero stamp is no stamp
    enc.on_encoded_frame(10, false, None).unwrap();
    let av1 = EncoderProbe::new("run-e", writer.clone()).with_codec("av1").with_bitrate_kbps(2500.0);
    av1.on_encoded_frame(1, false, None).unwrap();
    writer.close().unwrap();

    let r = read_records(writer.path()).unwrap();
    assert_eq!(r.len(), 4);
    assert_eq!((r[0].operation.as_str(), r[0].subsystem.as_str()), ("h265_encode_frame", "video_encode"));
    assert_eq!((r[0].latency_ns, r[0].phase.as_str()), (None, "search"));
    assert_eq!(r[3].phase, "idle");
    assert_eq!(
        (r[0].output_bytes, r[0].encode_frame_size_bytes, r[0].encode_keyframe),
        (Some(9000), Some(9000), Some(true))
    );
    assert_eq!((r[0].encode_codec.as_deref(), r[0].encode_bitrate_kbps), (Some("h265"), Some(6000.0)));
    assert_eq!((r[0].src_subsystem.as_deref(), r[0].dst_subsystem.as_deref()), (Some("sensor_ingest"), Some("comms")));
    assert!(r[1].latency_ns.is_some_and(|ns| ns >= 0));
    assert_eq!((r[1].encode_keyframe, r[1].input_shape.as_deref()), (Some(false), Some("[1080, 1920, 3]")));
    assert_eq!(r[2].latency_ns, None);
    assert_eq!((r[3].operation.as_str(), r[3].encode_bitrate_kbps), ("av1_encode_frame", Some(2500.0)));
}

#[test]
fn glass_to_glass_records_captured_and_displayed_frames_only() {
    let dir = tempfile::tempdir().unwrap();
    let writer = Arc::new(RecordWriter::create(dir.path(), "video_encode").unwrap());
    let g2g = GlassToGlassProbe::new("run-g", writer.clone()).with_phase(|| "track".to_owned());
    // frame 1: every stage, explicit stamps
    for (k, stage) in G2gStage::ALL.iter().enumerate() {
        let emitted = g2g.stamp_at(1, *stage, 1_000_000 + k as i64 * 2_500_000).unwrap();
        assert_eq!(emitted, *stage == G2gStage::Display);
    }
    // frame 2: capture and display only; frame 3: no capture
    g2g.stamp_at(2, G2gStage::Capture, 100).unwrap();
    assert!(g2g.stamp_at(2, G2gStage::Display, 5_000_100).unwrap());
    g2g.stamp(3, G2gStage::EncodeDone).unwrap();
    assert!(!g2g.stamp(3, G2gStage::Display).unwrap(), "no capture, no record");
    assert!(!g2g.stamp(99, G2gStage::Display).unwrap(), "an unknown frame");
    assert!(g2g.tracked().is_empty(), "displayed frames are removed");

    // max_inflight 64: the 65th frame drops the smallest id
    for id in 10..=74 {
        g2g.stamp(id, G2gStage::Capture).unwrap();
    }
    let tracked = g2g.tracked();
    assert_eq!(tracked.len(), 64);
    assert_eq!((tracked[0], tracked[63]), (11, 74));
    assert!(!g2g.stamp(10, G2gStage::Display).unwrap(), "frame 10 was dropped, its capture with it");
    assert!(g2g.stamp(11, G2gStage::Display).unwrap());

    let small = GlassToGlassProbe::new("run-g", writer.clone()).with_max_inflight(2);
    for id in [5, 3, 9] {
        small.stamp(id, G2gStage::Capture).unwrap();
    }
    assert_eq!(small.tracked(), vec![5, 9]);
    // the bound applies after the display stamp too: an untracked frame's display evicts
    assert!(!small.stamp(7, G2gStage::Display).unwrap());
    assert_eq!(small.tracked(), vec![9]);
    writer.close().unwrap();

    let r = read_records(writer.path()).unwrap();
    assert_eq!(r.len(), 3);
    let full = &r[0];
    assert_eq!(
        (full.operation.as_str(), full.subsystem.as_str(), full.run_id.as_str()),
        ("glass_to_glass", "video_encode", "run-g")
    );
    let stamps = [
        full.g2g_capture_ns,
        full.g2g_isp_done_ns,
        full.g2g_encode_done_ns,
        full.g2g_tx_done_ns,
        full.g2g_rx_done_ns,
        full.g2g_decode_done_ns,
        full.g2g_display_ns,
    ];
    let want: Vec<Option<i64>> = (0..7).map(|k| Some(1_000_000 + k * 2_500_000)).collect();
    assert_eq!(stamps.to_vec(), want);
    assert_eq!(full.g2g_total_ms, Some(15.0));
    assert_eq!(full.phase, "track");
    let two = &r[1];
    assert_eq!((two.g2g_capture_ns, two.g2g_display_ns, two.g2g_total_ms), (Some(100), Some(5_000_100), Some(5.0)));
    assert_eq!((two.g2g_isp_done_ns, two.g2g_tx_done_ns), (None, None));
    assert!(r[2].g2g_total_ms.is_some_and(|ms| ms >= 0.0));
}

#[test]
fn the_gpu_probe_without_nvml_does_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let writer = Arc::new(RecordWriter::create(dir.path(), "gpu").unwrap());
    let gpu = GpuProbe::new("run-gpu", "gpu", writer.clone()).with_sample_hz(0.0);
    assert_eq!(gpu.period(), std::time::Duration::from_secs(10), "at least 0.1 Hz");
    assert_eq!(GpuProbe::new("r", "gpu", writer.clone()).period(), std::time::Duration::from_millis(50));
    let status = gpu.start();
    if cfg!(not(feature = "nvml")) {
        assert_eq!(status, GpuStatus::Disabled("ratchet was built without the `nvml` cargo feature".to_owned()));
    }
    assert_eq!(gpu.start(), status, "start is idempotent");
    match status {
        GpuStatus::Disabled(_) => {
            assert!(!gpu.is_running());
            assert!(gpu.stop());
            assert!(gpu.stop());
            writer.close().unwrap();
            assert!(read_records(writer.path()).unwrap().is_empty(), "no rows without nvml");
        }
        GpuStatus::Running => {
            // a machine with a driver and the `nvml` feature: a sample right after start
            std::thread::sleep(std::time::Duration::from_millis(200));
            assert!(gpu.stop());
            writer.close().unwrap();
            let rows = read_records(writer.path()).unwrap();
            assert_eq!(rows.len() as u64, gpu.samples());
            for r in rows {
                assert_eq!(r.operation, "gpu_sample");
                assert_eq!(r.gpu_util_pct, r.sm_active_pct);
                assert!(r.gpu_mem_used_mb.is_some());
            }
        }
    }
}

// ---- bad input to the reader ---------------------------------------------------------

fn written_file(dir: &Path, rows: usize) -> PathBuf {
    let writer = RecordWriter::create(dir, "good").unwrap();
    for i in 0..rows {
        writer.write(full_record(i)).unwrap();
    }
    writer.close().unwrap();
    writer.path().to_path_buf()
}

/// A Parquet file of `fields` (all nullable, one row of each column's type, or "x"/1).
fn custom_file(path: &Path, fields: Vec<Field>) {
    let columns: Vec<ArrayRef> = fields
        .iter()
        .map(|f| -> ArrayRef {
            match f.data_type() {
                DataType::Utf8 => Arc::new(StringArray::from(vec!["x"])),
                DataType::Int64 => Arc::new(Int64Array::from(vec![1])),
                DataType::Float32 => Arc::new(arrow_array::Float32Array::from(vec![1.0])),
                DataType::Boolean => Arc::new(arrow_array::BooleanArray::from(vec![true])),
                DataType::LargeUtf8 => Arc::new(arrow_array::LargeStringArray::from(vec!["x"])),
                DataType::Utf8View => Arc::new(arrow_array::StringViewArray::from(vec!["x"])),
                DataType::Dictionary(..) => {
                    Arc::new(vec!["x"].into_iter().collect::<arrow_array::DictionaryArray<Int32Type>>())
                }
                other => panic!("{other}"),
            }
        })
        .collect();
    let schema = Arc::new(Schema::new(fields));
    let batch = RecordBatch::try_new(schema.clone(), columns).unwrap();
    let mut w = ArrowWriter::try_new(std::fs::File::create(path).unwrap(), schema, None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

fn nullable_fields() -> Vec<Field> {
    expected_fields().into_iter().map(|f| f.with_nullable(true)).collect()
}

#[test]
fn a_truncated_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let good = written_file(dir.path(), 300);
    let bytes = std::fs::read(&good).unwrap();
    for keep in [bytes.len() - 10, bytes.len() / 2, 3, 0] {
        let cut = dir.path().join(format!("cut-{keep}.parquet"));
        std::fs::write(&cut, &bytes[..keep]).unwrap();
        let e = read_records(&cut).unwrap_err();
        let text = e.to_string();
        assert!(matches!(e, ProbeError::NotParquet { .. }), "{keep} bytes: {text}");
        assert!(text.starts_with(&format!("`{}`: not a readable parquet file: ", cut.display())), "{text}");
    }
    let text_file = dir.path().join("notes.parquet");
    std::fs::write(&text_file, "this is not parquet at all, just some text that is long enough").unwrap();
    assert!(matches!(read_records(&text_file), Err(ProbeError::NotParquet { .. })));
    let missing = dir.path().join("absent.parquet");
    let e = read_records(&missing).unwrap_err();
    assert!(matches!(e, ProbeError::Io { .. }) && e.to_string().contains("absent.parquet"), "{e}");
}

#[test]
fn a_string_latency_column_is_a_located_type_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("string-latency.parquet");
    let fields = nullable_fields()
        .into_iter()
        .map(|f| if f.name() == "latency_ns" { Field::new("latency_ns", DataType::Utf8, true) } else { f })
        .collect();
    custom_file(&path, fields);
    let e = read_records(&path).unwrap_err();
    assert_eq!(e.to_string(), format!("`{}`: column `latency_ns` has type Utf8, expected Int64", path.display()));
}

#[test]
fn a_missing_column_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no-phase.parquet");
    custom_file(&path, nullable_fields().into_iter().filter(|f| f.name() != "phase").collect());
    let e = read_records(&path).unwrap_err();
    assert_eq!(e.to_string(), format!("`{}`: missing column `phase` (expected at position 6)", path.display()));
}

#[test]
fn other_string_flavours_read_as_strings() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flavours.parquet");
    let fields = nullable_fields()
        .into_iter()
        .map(|f| match f.name().as_str() {
            "record_id" => Field::new("record_id", DataType::LargeUtf8, true),
            "phase" => Field::new("phase", DataType::Utf8View, true),
            "precision" => {
                Field::new("precision", DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)), true)
            }
            _ => f,
        })
        .collect();
    custom_file(&path, fields);
    let r = read_records(&path).unwrap();
    assert_eq!((r[0].record_id.as_str(), r[0].phase.as_str(), r[0].precision.as_deref()), ("x", "x", Some("x")));

    // but not another type where a string belongs
    let bad = dir.path().join("int-phase.parquet");
    custom_file(
        &bad,
        nullable_fields()
            .into_iter()
            .map(|f| if f.name() == "phase" { Field::new("phase", DataType::Int64, true) } else { f })
            .collect(),
    );
    let e = read_records(&bad).unwrap_err().to_string();
    assert_eq!(e, format!("`{}`: column `phase` has type Int64, expected Utf8", bad.display()));
}

#[test]
fn extra_reordered_and_null_columns_are_located() {
    let dir = tempfile::tempdir().unwrap();

    let extra = dir.path().join("extra.parquet");
    let mut fields = nullable_fields();
    fields.insert(3, Field::new("colour", DataType::Utf8, true));
    custom_file(&extra, fields);
    let e = read_records(&extra).unwrap_err().to_string();
    assert_eq!(e, format!("`{}`: unexpected column `colour` at position 3", extra.display()));

    let swapped = dir.path().join("swapped.parquet");
    let mut fields = nullable_fields();
    fields.swap(8, 9); // macs, flops
    custom_file(&swapped, fields);
    let e = read_records(&swapped).unwrap_err().to_string();
    assert_eq!(e, format!("`{}`: column `macs` is at position 9, expected 8", swapped.display()));

    // nullable everywhere (as pyarrow writes by default) is fine while the defaults are set
    let loose = dir.path().join("loose.parquet");
    custom_file(&loose, nullable_fields());
    let r = read_records(&loose).unwrap();
    assert_eq!((r.len(), r[0].phase.as_str(), r[0].t_wall_ns), (1, "x", 1));

    // a null where a default is required names the row
    let nulls = dir.path().join("null-phase.parquet");
    let schema = Arc::new(Schema::new(nullable_fields()));
    let columns: Vec<ArrayRef> = schema
        .fields()
        .iter()
        .map(|f| -> ArrayRef {
            match (f.name().as_str(), f.data_type()) {
                ("phase", _) => Arc::new(StringArray::from(vec![Some("idle"), None])),
                (_, DataType::Utf8) => Arc::new(StringArray::from(vec!["a", "b"])),
                (_, DataType::Int64) => Arc::new(Int64Array::from(vec![1, 2])),
                (_, DataType::Float32) => Arc::new(arrow_array::Float32Array::from(vec![None, None])),
                (_, _) => Arc::new(arrow_array::BooleanArray::from(vec![None, None])),
            }
        })
        .collect();
    let batch = RecordBatch::try_new(schema.clone(), columns).unwrap();
    let mut w = ArrowWriter::try_new(std::fs::File::create(&nulls).unwrap(), schema, None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    let e = read_records(&nulls).unwrap_err().to_string();
    assert_eq!(e, format!("`{}`: row 1: column `phase` is null, but it has a default and may not be", nulls.display()));
}

#[test]
fn pyarrow_reads_the_65_columns() {
    let have_pyarrow =
        Command::new("python3").args(["-c", "import pyarrow"]).output().map(|o| o.status.success()).unwrap_or(false);
    if !have_pyarrow {
        println!("skipped: pyarrow not installed (pip install pyarrow to run tests/python/check_workload_record.py)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = written_file(dir.path(), 300);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/check_workload_record.py");
    let out = Command::new("python3").arg(&script).arg(&path).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("65 columns in the spec's order and types, 300 rows"), "{stdout}");

    // and the script does fail on a wrong file
    let bad = dir.path().join("string-latency.parquet");
    custom_file(
        &bad,
        nullable_fields()
            .into_iter()
            .map(|f| if f.name() == "latency_ns" { Field::new("latency_ns", DataType::Utf8, true) } else { f })
            .collect(),
    );
    let out = Command::new("python3").arg(&script).arg(&bad).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("column `latency_ns`: type string, expected int64"), "{stdout}");

    // a file pyarrow wrote (every column nullable, pyarrow's default) reads back
    let sample = dir.path().join("from-pyarrow.parquet");
    let out = Command::new("python3").arg(&script).arg("--write-sample").arg(&sample).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let records = read_records(&sample).unwrap();
    assert_eq!(records.len(), 3);
    let r = &records[1];
    assert_eq!((r.record_id.as_str(), r.run_id.as_str()), ("00000000-0000-4000-8000-000000000001", "py"));
    assert_eq!(
        (r.t_wall_ns, r.subsystem.as_str(), r.phase.as_str()),
        (1_700_000_000_000_000_001, "perception", "track")
    );
    assert_eq!((r.latency_ns, r.gpu_util_pct, r.encode_keyframe), (Some(2000), Some(50.5), Some(false)));
    assert_eq!((r.input_shape.as_deref(), r.macs, r.pos_x), (Some("[1, 3, 224, 224]"), None, None));

    // a codec this build lacks is named before anything is decoded
    let zstd = dir.path().join("zstd.parquet");
    let out = Command::new("python3")
        .arg(&script)
        .args(["--write-sample".as_ref(), zstd.as_os_str(), "zstd".as_ref()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let e = read_records(&zstd).unwrap_err();
    assert!(matches!(e, ProbeError::Compression { codec: "zstd", .. }), "{e}");
    assert!(
        e.to_string().starts_with(&format!("`{}`: column `record_id` is compressed with zstd", zstd.display())),
        "{e}"
    );
}

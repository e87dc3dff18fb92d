//! The operation, encoder and glass-to-glass probes (spec §3.20).

use super::ProbeError;
use super::record::WorkloadRecord;
use super::writer::RecordWriter;
use serde_json::Value;
use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

/// Monotonic-clock ns since a process-wide origin (fixed at the first call); never 0, so 0
/// can mean "no stamp".
///
/// Stamps from this clock compare within one process only; give stamps from elsewhere
/// explicitly (`*_at` methods), all in one clock.
pub fn monotonic_ns() -> i64 {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    let ns = ORIGIN.get_or_init(Instant::now).elapsed().as_nanos();
    i64::try_from(ns).unwrap_or(i64::MAX).max(1)
}

/// A shape as the text the `input_shape` / `output_shape` columns hold: `[1, 3, 224, 224]`.
pub fn shape_text(dims: &[usize]) -> String {
    let parts: Vec<String> = dims.iter().map(usize::to_string).collect();
    format!("[{}]", parts.join(", "))
}

fn duration_ns(start: Instant) -> i64 {
    i64::try_from(start.elapsed().as_nanos()).unwrap_or(i64::MAX)
}

/// What an [`OperationProbe`] records about one operation besides its latency; all optional.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OpOptions {
    /// Multiply-accumulates.
    pub macs: Option<i64>,
    /// Floating-point operations.
    pub flops: Option<i64>,
    /// Numeric precision (`bf16`, `fp16`, `fp32`, `int8`, `int4`, `mixed`).
    pub precision: Option<String>,
    /// Input shape, as text (see [`shape_text`]).
    pub input_shape: Option<String>,
    /// Input size in bytes.
    pub input_bytes: Option<i64>,
    /// Output shape, when known before the work; the scope can set it during the work.
    pub output_shape: Option<String>,
    /// Output size, when known before the work; the scope can set it during the work.
    pub output_bytes: Option<i64>,
    /// The subsystem the data comes from.
    pub src_subsystem: Option<String>,
    /// The subsystem the data goes to.
    pub dst_subsystem: Option<String>,
    /// Named values: a record column is set (type-checked), anything else goes to `extras`.
    pub extras: BTreeMap<String, Value>,
}

impl OpOptions {
    /// No options.
    pub fn new() -> Self {
        OpOptions::default()
    }
    /// Sets [`macs`](Self::macs).
    pub fn macs(mut self, macs: i64) -> Self {
        self.macs = Some(macs);
        self
    }
    /// Sets [`flops`](Self::flops).
    pub fn flops(mut self, flops: i64) -> Self {
        self.flops = Some(flops);
        self
    }
    /// Sets [`precision`](Self::precision).
    pub fn precision(mut self, precision: &str) -> Self {
        self.precision = Some(precision.to_owned());
        self
    }
    /// Sets [`input_shape`](Self::input_shape).
    pub fn input_shape(mut self, shape: &str) -> Self {
        self.input_shape = Some(shape.to_owned());
        self
    }
    /// Sets [`input_bytes`](Self::input_bytes).
    pub fn input_bytes(mut self, bytes: i64) -> Self {
        self.input_bytes = Some(bytes);
        self
    }
    /// Sets [`output_shape`](Self::output_shape).
    pub fn output_shape(mut self, shape: &str) -> Self {
        self.output_shape = Some(shape.to_owned());
        self
    }
    /// Sets [`output_bytes`](Self::output_bytes).
    pub fn output_bytes(mut self, bytes: i64) -> Self {
        self.output_bytes = Some(bytes);
        self
    }
    /// Sets [`src_subsystem`](Self::src_subsystem).
    pub fn src(mut self, subsystem: &str) -> Self {
        self.src_subsystem = Some(subsystem.to_owned());
        self
    }
    /// Sets [`dst_subsystem`](Self::dst_subsystem).
    pub fn dst(mut self, subsystem: &str) -> Self {
        self.dst_subsystem = Some(subsystem.to_owned());
        self
    }
    /// Adds one named value to [`extras`](Self::extras).
    pub fn extra(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.extras.insert(name.to_owned(), value.into());
        self
    }
}

/// What the work can report while an [`OperationProbe`] times it.
#[derive(Debug, Default)]
pub struct OpScope {
    output_shape: Option<String>,
    output_bytes: Option<i64>,
    extras: BTreeMap<String, Value>,
}

impl OpScope {
    /// The output shape, as text (see [`shape_text`]); replaces the call-time one.
    pub fn set_output_shape(&mut self, shape: impl Into<String>) {
        self.output_shape = Some(shape.into());
    }

    /// The output size in bytes; replaces the call-time one.
    pub fn set_output_bytes(&mut self, bytes: i64) {
        self.output_bytes = Some(bytes);
    }

    /// A named value; wins over a call-time extra of the same name. A record column's name
    /// is type-checked now (the error names the column); other names go to `extras`.
    pub fn set_extra(&mut self, name: &str, value: impl Into<Value>) -> Result<(), ProbeError> {
        let value = value.into();
        WorkloadRecord::check(name, &value)?;
        self.extras.insert(name.to_owned(), value);
        Ok(())
    }
}

type PhaseFn = dyn Fn() -> String + Send + Sync;

fn idle_phase() -> Arc<PhaseFn> {
    Arc::new(|| "idle".to_owned())
}

/// Times units of work of one subsystem and writes one record per unit.
///
/// [`run`](Self::run) measures `latency_ns` on the monotonic clock around the work, also
/// when the work returns an error or panics, and fills the record from [`OpOptions`] and
/// the [`OpScope`].
#[derive(Clone)]
pub struct OperationProbe {
    run_id: String,
    subsystem: String,
    writer: Arc<RecordWriter>,
    phase: Arc<PhaseFn>,
}

impl OperationProbe {
    /// A probe whose records carry `run_id` and `subsystem`; the phase is `idle` until
    /// [`with_phase`](Self::with_phase) says otherwise.
    pub fn new(run_id: impl Into<String>, subsystem: impl Into<String>, writer: Arc<RecordWriter>) -> Self {
        OperationProbe { run_id: run_id.into(), subsystem: subsystem.into(), writer, phase: idle_phase() }
    }

    /// Asks `phase` for the run phase at the start of each operation.
    pub fn with_phase(mut self, phase: impl Fn() -> String + Send + Sync + 'static) -> Self {
        self.phase = Arc::new(phase);
        self
    }

    /// Runs `work` as operation `operation` and writes its record.
    ///
    /// Returns what `work` returned — an `Err` of the work comes back as `Ok(Err(..))`, its
    /// record written all the same. The probe's own errors come back as `Err`: a call-time
    /// extra that does not fit its column (checked before the work runs; the work is then
    /// not run) or a failed write. A panic in `work` is resumed after the record is written
    /// (best effort).
    pub fn run<R>(
        &self,
        operation: &str,
        opts: OpOptions,
        work: impl FnOnce(&mut OpScope) -> R,
    ) -> Result<R, ProbeError> {
        for (name, value) in &opts.extras {
            WorkloadRecord::check(name, value)?;
        }
        let mut record = WorkloadRecord::new();
        record.run_id.clone_from(&self.run_id);
        record.subsystem.clone_from(&self.subsystem);
        record.operation = operation.to_owned();
        record.phase = (self.phase)();
        let mut scope = OpScope::default();
        let start = Instant::now();
        let outcome = catch_unwind(AssertUnwindSafe(|| work(&mut scope)));
        record.latency_ns = Some(duration_ns(start));
        let finished = self.finish(record, opts, scope);
        match outcome {
            Ok(value) => finished.map(|()| value),
            Err(panic) => resume_unwind(panic),
        }
    }

    fn finish(&self, mut record: WorkloadRecord, opts: OpOptions, scope: OpScope) -> Result<(), ProbeError> {
        record.macs = opts.macs;
        record.flops = opts.flops;
        record.precision = opts.precision;
        record.input_shape = opts.input_shape;
        record.input_bytes = opts.input_bytes;
        record.output_shape = scope.output_shape.or(opts.output_shape);
        record.output_bytes = scope.output_bytes.or(opts.output_bytes);
        record.src_subsystem = opts.src_subsystem;
        record.dst_subsystem = opts.dst_subsystem;
        let mut extras = opts.extras;
        extras.extend(scope.extras);
        for (name, value) in &extras {
            record.set(name, value)?;
        }
        self.writer.write(record)
    }
}

impl std::fmt::Debug for OperationProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OperationProbe")
            .field("run_id", &self.run_id)
            .field("subsystem", &self.subsystem)
            .field("writer", &self.writer)
            .finish_non_exhaustive()
    }
}

/// Times video frames from input to encoded output (one record per encoded frame).
pub struct EncoderProbe {
    run_id: String,
    subsystem: String,
    codec: String,
    bitrate_kbps: f32,
    src: String,
    dst: String,
    writer: Arc<RecordWriter>,
    phase: Arc<PhaseFn>,
    /// Monotonic ns of the last input frame; 0 = none.
    last_input_ns: AtomicI64,
}

impl EncoderProbe {
    /// A probe with the spec's defaults: codec `h265`, 6000 kbps, subsystem `video_encode`,
    /// from `sensor_ingest` to `comms`.
    pub fn new(run_id: impl Into<String>, writer: Arc<RecordWriter>) -> Self {
        EncoderProbe {
            run_id: run_id.into(),
            subsystem: "video_encode".to_owned(),
            codec: "h265".to_owned(),
            bitrate_kbps: 6000.0,
            src: "sensor_ingest".to_owned(),
            dst: "comms".to_owned(),
            writer,
            phase: idle_phase(),
            last_input_ns: AtomicI64::new(0),
        }
    }
    /// Asks `phase` for the run phase of each record (default `idle`).
    pub fn with_phase(mut self, phase: impl Fn() -> String + Send + Sync + 'static) -> Self {
        self.phase = Arc::new(phase);
        self
    }
    /// Another codec (also names the operation, `<codec>_encode_frame`).
    pub fn with_codec(mut self, codec: &str) -> Self {
        codec.clone_into(&mut self.codec);
        self
    }
    /// Another target bitrate in kbit/s.
    pub fn with_bitrate_kbps(mut self, kbps: f32) -> Self {
        self.bitrate_kbps = kbps;
        self
    }
    /// Another subsystem.
    pub fn with_subsystem(mut self, subsystem: &str) -> Self {
        subsystem.clone_into(&mut self.subsystem);
        self
    }
    /// Another source subsystem.
    pub fn with_src(mut self, src: &str) -> Self {
        src.clone_into(&mut self.src);
        self
    }
    /// Another destination subsystem.
    pub fn with_dst(mut self, dst: &str) -> Self {
        dst.clone_into(&mut self.dst);
        self
    }

    /// A frame entered the encoder now.
    pub fn on_input_frame(&self) {
        self.on_input_frame_at(monotonic_ns());
    }

    /// A frame entered the encoder at `t_ns` ([`monotonic_ns`] clock; 0 = no stamp).
    pub fn on_input_frame_at(&self, t_ns: i64) {
        self.last_input_ns.store(t_ns, Ordering::Relaxed);
    }

    /// A frame of `size_bytes` came out of the encoder: writes a `<codec>_encode_frame`
    /// record; `latency_ns` is the time since the last input frame (null without one).
    pub fn on_encoded_frame(
        &self,
        size_bytes: i64,
        keyframe: bool,
        input_shape: Option<&str>,
    ) -> Result<(), ProbeError> {
        let now = monotonic_ns();
        let stamp = self.last_input_ns.load(Ordering::Relaxed);
        let mut r = WorkloadRecord::new();
        r.run_id.clone_from(&self.run_id);
        r.subsystem.clone_from(&self.subsystem);
        r.operation = format!("{}_encode_frame", self.codec);
        r.phase = (self.phase)();
        r.latency_ns = (stamp != 0).then(|| now.saturating_sub(stamp));
        r.output_bytes = Some(size_bytes);
        r.encode_frame_size_bytes = Some(size_bytes);
        r.encode_keyframe = Some(keyframe);
        r.encode_codec = Some(self.codec.clone());
        r.encode_bitrate_kbps = Some(self.bitrate_kbps);
        r.input_shape = input_shape.map(str::to_owned);
        r.src_subsystem = Some(self.src.clone());
        r.dst_subsystem = Some(self.dst.clone());
        self.writer.write(r)
    }
}

/// The seven stamps of a frame's way from capture to display.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum G2gStage {
    /// The sensor captured the frame.
    Capture,
    /// The ISP finished it.
    IspDone,
    /// The encoder finished it.
    EncodeDone,
    /// It was transmitted.
    TxDone,
    /// It was received.
    RxDone,
    /// The decoder finished it.
    DecodeDone,
    /// It was displayed (ends the frame).
    Display,
}

impl G2gStage {
    /// The seven stages in pipeline order.
    pub const ALL: [G2gStage; 7] = [
        G2gStage::Capture,
        G2gStage::IspDone,
        G2gStage::EncodeDone,
        G2gStage::TxDone,
        G2gStage::RxDone,
        G2gStage::DecodeDone,
        G2gStage::Display,
    ];

    /// The stage's name (`capture`, `isp_done`, …, `display`).
    pub fn name(self) -> &'static str {
        match self {
            G2gStage::Capture => "capture",
            G2gStage::IspDone => "isp_done",
            G2gStage::EncodeDone => "encode_done",
            G2gStage::TxDone => "tx_done",
            G2gStage::RxDone => "rx_done",
            G2gStage::DecodeDone => "decode_done",
            G2gStage::Display => "display",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

type Stamps = [Option<i64>; 7];

/// Follows frames from capture to display and writes one `glass_to_glass` record per frame
/// that has both a capture and a display stamp.
///
/// At most `max_inflight` frames (default 64) are tracked: past that, the smallest frame id
/// is dropped, so frames that never reach the display do not pile up.
pub struct GlassToGlassProbe {
    run_id: String,
    writer: Arc<RecordWriter>,
    max_inflight: usize,
    phase: Arc<PhaseFn>,
    frames: Mutex<BTreeMap<u64, Stamps>>,
}

impl GlassToGlassProbe {
    /// The default number of frames tracked at once.
    pub const DEFAULT_MAX_INFLIGHT: usize = 64;

    /// A probe whose records carry `run_id` (subsystem `video_encode`).
    pub fn new(run_id: impl Into<String>, writer: Arc<RecordWriter>) -> Self {
        GlassToGlassProbe {
            run_id: run_id.into(),
            writer,
            max_inflight: Self::DEFAULT_MAX_INFLIGHT,
            phase: idle_phase(),
            frames: Mutex::new(BTreeMap::new()),
        }
    }

    /// Asks `phase` for the run phase of each record (default `idle`).
    pub fn with_phase(mut self, phase: impl Fn() -> String + Send + Sync + 'static) -> Self {
        self.phase = Arc::new(phase);
        self
    }

    /// Tracks at most `max_inflight` frames.
    pub fn with_max_inflight(mut self, max_inflight: usize) -> Self {
        self.max_inflight = max_inflight;
        self
    }

    /// Stamps `stage` of frame `frame_id` now; returns whether a record was written.
    pub fn stamp(&self, frame_id: u64, stage: G2gStage) -> Result<bool, ProbeError> {
        self.stamp_at(frame_id, stage, monotonic_ns())
    }

    /// Stamps `stage` of frame `frame_id` at `t_ns` (one clock for all stamps, in ns);
    /// returns whether a record was written (on a display stamp of a captured frame).
    pub fn stamp_at(&self, frame_id: u64, stage: G2gStage, t_ns: i64) -> Result<bool, ProbeError> {
        let done = {
            let mut frames = self.frames.lock().unwrap_or_else(|p| p.into_inner());
            frames.entry(frame_id).or_insert([None; 7])[stage.index()] = Some(t_ns);
            // the bound applies after every stamp, the display's too (which may drop the
            // displayed frame itself when it is the smallest id)
            while frames.len() > self.max_inflight {
                frames.pop_first();
            }
            if stage == G2gStage::Display { frames.remove(&frame_id) } else { None }
        };
        let Some(stamps) = done else { return Ok(false) };
        let (Some(capture), Some(display)) = (stamps[G2gStage::Capture.index()], stamps[G2gStage::Display.index()])
        else {
            return Ok(false);
        };
        let mut r = WorkloadRecord::new();
        r.run_id.clone_from(&self.run_id);
        r.subsystem = "video_encode".to_owned();
        r.operation = "glass_to_glass".to_owned();
        r.phase = (self.phase)();
        r.g2g_capture_ns = stamps[0];
        r.g2g_isp_done_ns = stamps[1];
        r.g2g_encode_done_ns = stamps[2];
        r.g2g_tx_done_ns = stamps[3];
        r.g2g_rx_done_ns = stamps[4];
        r.g2g_decode_done_ns = stamps[5];
        r.g2g_display_ns = stamps[6];
        r.g2g_total_ms = Some((display.saturating_sub(capture) as f64 / 1e6) as f32);
        self.writer.write(r)?;
        Ok(true)
    }

    /// The frame ids tracked now, smallest first.
    pub fn tracked(&self) -> Vec<u64> {
        self.frames.lock().unwrap_or_else(|p| p.into_inner()).keys().copied().collect()
    }
}

impl std::fmt::Debug for EncoderProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncoderProbe")
            .field("run_id", &self.run_id)
            .field("subsystem", &self.subsystem)
            .field("codec", &self.codec)
            .field("bitrate_kbps", &self.bitrate_kbps)
            .field("src", &self.src)
            .field("dst", &self.dst)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for GlassToGlassProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GlassToGlassProbe")
            .field("run_id", &self.run_id)
            .field("max_inflight", &self.max_inflight)
            .field("tracked", &self.tracked().len())
            .finish_non_exhaustive()
    }
}

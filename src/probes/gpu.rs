//! The GPU probe: a background sampler of GPU utilisation and memory (spec §3.20).
//!
//! Real sampling goes through NVML (the driver's `libnvidia-ml`, loaded at run time) and is
//! compiled only with the `nvml` cargo feature. Without the feature, or when NVML cannot be
//! loaded (no driver, no such GPU), [`GpuProbe::start`] starts nothing, says why on stderr
//! once per process, and returns [`GpuStatus::Disabled`].

use super::record::WorkloadRecord;
use super::writer::RecordWriter;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long [`GpuProbe::stop`] waits for the sampler thread.
const STOP_WAIT: Duration = Duration::from_secs(2);

/// Whether a [`GpuProbe`] samples.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GpuStatus {
    /// The sampler thread runs.
    Running,
    /// Nothing runs, for this reason (no `nvml` feature, no driver, no such GPU).
    Disabled(String),
}

/// One reading of the GPU.
#[derive(Debug, Clone, Copy)]
struct GpuSample {
    util_pct: f32,
    mem_used_mb: f32,
    nvenc_pct: Option<f32>,
    nvdec_pct: Option<f32>,
}

#[cfg(feature = "nvml")]
mod source {
    use super::GpuSample;
    use nvml_wrapper::Nvml;

    /// NVML, loaded, with the index of the GPU to sample.
    pub(super) struct Source {
        nvml: Nvml,
        index: u32,
    }

    impl Source {
        pub(super) fn open(index: u32) -> Result<Self, String> {
            let nvml = Nvml::init().map_err(|e| format!("cannot load nvml: {e}"))?;
            nvml.device_by_index(index).map_err(|e| format!("no gpu {index}: {e}"))?;
            Ok(Source { nvml, index })
        }

        /// `None` when the reading fails (the sample is skipped).
        pub(super) fn sample(&self) -> Option<GpuSample> {
            let device = self.nvml.device_by_index(self.index).ok()?;
            let util = device.utilization_rates().ok()?;
            let mem = device.memory_info().ok()?;
            Some(GpuSample {
                util_pct: util.gpu as f32,
                mem_used_mb: (mem.used as f64 / (1024.0 * 1024.0)) as f32,
                nvenc_pct: device.encoder_utilization().ok().map(|u| u.utilization as f32),
                nvdec_pct: device.decoder_utilization().ok().map(|u| u.utilization as f32),
            })
        }
    }
}

#[cfg(not(feature = "nvml"))]
mod source {
    use super::GpuSample;

    /// No source can exist without the `nvml` feature.
    pub(super) enum Source {}

    impl Source {
        pub(super) fn open(_index: u32) -> Result<Self, String> {
            Err("ratchet was built without the `nvml` cargo feature".to_owned())
        }

        pub(super) fn sample(&self) -> Option<GpuSample> {
            match *self {}
        }
    }
}

use source::Source;

/// Says once per process why GPU sampling is off.
fn note_disabled(reason: &str) {
    static NOTED: AtomicBool = AtomicBool::new(false);
    if !NOTED.swap(true, Ordering::Relaxed) {
        eprintln!("note: gpu probe disabled: {reason}");
    }
}

#[derive(Default)]
struct Flags {
    stop: bool,
    done: bool,
}

type Shared = Arc<(Mutex<Flags>, Condvar)>;

fn lock(shared: &Shared) -> MutexGuard<'_, Flags> {
    shared.0.lock().unwrap_or_else(|p| p.into_inner())
}

struct Sampler {
    shared: Shared,
    handle: JoinHandle<()>,
}

/// Samples one GPU in the background and writes one `gpu_sample` record per reading.
///
/// Period `1 / max(sample_hz, 0.1)` s (default 20 Hz, GPU 0). A record has
/// `gpu_util_pct` = `sm_active_pct` = NVML's GPU utilisation, `gpu_mem_used_mb` = used bytes
/// / 2^20, and the encoder and decoder utilisation where NVML reports them (else null). A
/// failed reading is skipped.
pub struct GpuProbe {
    run_id: String,
    subsystem: String,
    writer: Arc<RecordWriter>,
    sample_hz: f64,
    gpu_index: u32,
    sampler: Mutex<Option<Sampler>>,
    samples: Arc<AtomicU64>,
}

impl GpuProbe {
    /// The default sampling rate in Hz.
    pub const DEFAULT_SAMPLE_HZ: f64 = 20.0;

    /// A probe of GPU 0 at 20 Hz whose records carry `run_id` and `subsystem`; it samples
    /// once [`start`](Self::start)ed.
    pub fn new(run_id: impl Into<String>, subsystem: impl Into<String>, writer: Arc<RecordWriter>) -> Self {
        GpuProbe {
            run_id: run_id.into(),
            subsystem: subsystem.into(),
            writer,
            sample_hz: Self::DEFAULT_SAMPLE_HZ,
            gpu_index: 0,
            sampler: Mutex::new(None),
            samples: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Samples at `hz` (at least 0.1 Hz).
    pub fn with_sample_hz(mut self, hz: f64) -> Self {
        self.sample_hz = hz;
        self
    }

    /// Samples GPU `index` (NVML's numbering).
    pub fn with_gpu_index(mut self, index: u32) -> Self {
        self.gpu_index = index;
        self
    }

    /// The time between two samples: `1 / max(sample_hz, 0.1)` s.
    pub fn period(&self) -> Duration {
        Duration::try_from_secs_f64(1.0 / self.sample_hz.max(0.1)).unwrap_or(Duration::from_secs(10))
    }

    /// Starts the sampler thread; does nothing when it already runs. Without NVML, starts
    /// nothing and returns why (also said once on stderr).
    pub fn start(&self) -> GpuStatus {
        let mut sampler = self.sampler.lock().unwrap_or_else(|p| p.into_inner());
        if sampler.is_some() {
            return GpuStatus::Running;
        }
        let source = match Source::open(self.gpu_index) {
            Ok(source) => source,
            Err(reason) => {
                note_disabled(&reason);
                return GpuStatus::Disabled(reason);
            }
        };
        let shared: Shared = Arc::new((Mutex::new(Flags::default()), Condvar::new()));
        let job = SampleJob {
            source,
            shared: shared.clone(),
            period: self.period(),
            run_id: self.run_id.clone(),
            subsystem: self.subsystem.clone(),
            writer: self.writer.clone(),
            samples: self.samples.clone(),
        };
        match std::thread::Builder::new().name("ratchet-gpu-probe".to_owned()).spawn(move || job.run()) {
            Ok(handle) => {
                *sampler = Some(Sampler { shared, handle });
                GpuStatus::Running
            }
            Err(e) => {
                let reason = format!("cannot start the sampler thread: {e}");
                note_disabled(&reason);
                GpuStatus::Disabled(reason)
            }
        }
    }

    /// Stops the sampler and waits up to 2 s for its thread; false when the thread did not
    /// end in time (it is left to end on its own). Does nothing when nothing runs.
    pub fn stop(&self) -> bool {
        let taken = self.sampler.lock().unwrap_or_else(|p| p.into_inner()).take();
        let Some(Sampler { shared, handle }) = taken else { return true };
        let deadline = Instant::now() + STOP_WAIT;
        let mut flags = lock(&shared);
        flags.stop = true;
        shared.1.notify_all();
        while !flags.done {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            flags = shared.1.wait_timeout(flags, deadline - now).map_or_else(|p| p.into_inner().0, |(g, _)| g);
        }
        drop(flags);
        // the thread has finished its loop; joining returns at once
        let _ = handle.join();
        true
    }

    /// Whether the sampler thread runs.
    pub fn is_running(&self) -> bool {
        self.sampler.lock().unwrap_or_else(|p| p.into_inner()).is_some()
    }

    /// Samples written so far.
    pub fn samples(&self) -> u64 {
        self.samples.load(Ordering::Relaxed)
    }
}

impl Drop for GpuProbe {
    fn drop(&mut self) {
        self.stop();
    }
}

impl std::fmt::Debug for GpuProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuProbe")
            .field("run_id", &self.run_id)
            .field("subsystem", &self.subsystem)
            .field("sample_hz", &self.sample_hz)
            .field("gpu_index", &self.gpu_index)
            .field("running", &self.is_running())
            .finish_non_exhaustive()
    }
}

/// What the sampler thread owns.
struct SampleJob {
    source: Source,
    shared: Shared,
    period: Duration,
    run_id: String,
    subsystem: String,
    writer: Arc<RecordWriter>,
    samples: Arc<AtomicU64>,
}

impl SampleJob {
    fn run(self) {
        loop {
            if let Some(s) = self.source.sample() {
                let mut r = WorkloadRecord::new();
                r.run_id.clone_from(&self.run_id);
                r.subsystem.clone_from(&self.subsystem);
                r.operation = "gpu_sample".to_owned();
                r.gpu_util_pct = Some(s.util_pct);
                r.sm_active_pct = Some(s.util_pct);
                r.gpu_mem_used_mb = Some(s.mem_used_mb);
                r.nvenc_util_pct = s.nvenc_pct;
                r.nvdec_util_pct = s.nvdec_pct;
                // a closed or failing writer skips the sample like a failed reading
                if self.writer.write(r).is_ok() {
                    self.samples.fetch_add(1, Ordering::Relaxed);
                }
            }
            let deadline = Instant::now() + self.period;
            let mut flags = lock(&self.shared);
            while !flags.stop {
                let now = Instant::now();
                if now >= deadline {
                    break;
                }
                flags = self.shared.1.wait_timeout(flags, deadline - now).map_or_else(|p| p.into_inner().0, |(g, _)| g);
            }
            if flags.stop {
                flags.done = true;
                self.shared.1.notify_all();
                return;
            }
        }
    }
}

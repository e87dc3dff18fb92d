//! The probes of `ratchet::probes` for Python: the workload-record writer (one Parquet file
//! per subsystem, buffered, thread-safe), its reader, the column table, and the encoder and
//! glass-to-glass probes. Records cross as JSON objects of column values; the Rust record
//! type-checks every value against its column.

use pyo3::exceptions::{PyKeyError, PyValueError};
use pyo3::prelude::*;
use ratchet::probes::{
    COLUMNS, EncoderProbe, G2gStage, GlassToGlassProbe, ProbeError, RecordWriter, WorkloadRecord, monotonic_ns,
};
use serde_json::Value;
use std::sync::Arc;

fn probe_err(e: ProbeError) -> PyErr {
    PyValueError::new_err(e.to_string())
}

/// A phase provider: the Python callable's text, `idle` when it fails or returns no text.
fn phase_fn(phase: Py<PyAny>) -> impl Fn() -> String + Send + Sync + 'static {
    move || Python::attach(|py| phase.call0(py).and_then(|v| v.extract::<String>(py)).unwrap_or_else(|_| "idle".into()))
}

/// A record from a JSON object of column values (unknown names become extras, which are not
/// written); unset columns keep the record's defaults.
fn record_from_json(text: &str) -> PyResult<WorkloadRecord> {
    let v: Value = serde_json::from_str(text).map_err(|e| PyValueError::new_err(format!("record is not JSON: {e}")))?;
    let Value::Object(o) = v else { return Err(PyValueError::new_err("a record must be an object of column values")) };
    let mut r = WorkloadRecord::new();
    for (k, x) in &o {
        r.set(k, x).map_err(probe_err)?;
    }
    Ok(r)
}

/// Writes workload records to `<run_dir>/<subsystem>.parquet`.
#[pyclass(frozen, module = "ratchet._native", name = "RecordWriter")]
pub struct PyRecordWriter {
    pub(crate) inner: Arc<RecordWriter>,
}

#[pymethods]
impl PyRecordWriter {
    #[new]
    fn new(run_dir: std::path::PathBuf, subsystem: &str) -> PyResult<Self> {
        Ok(PyRecordWriter { inner: Arc::new(RecordWriter::create(run_dir, subsystem).map_err(probe_err)?) })
    }

    /// Buffers one record (JSON text); a full buffer (256) is written as a row group.
    fn write(&self, py: Python<'_>, record: &str) -> PyResult<()> {
        let r = record_from_json(record)?;
        py.detach(|| self.inner.write(r)).map_err(probe_err)
    }

    /// Checks one column value (JSON text) without writing; names that are not columns fit.
    #[staticmethod]
    fn check(name: &str, value: &str) -> PyResult<()> {
        let v: Value = serde_json::from_str(value).map_err(|e| PyValueError::new_err(format!("not JSON: {e}")))?;
        WorkloadRecord::check(name, &v).map_err(probe_err)
    }

    /// Writes what is buffered.
    fn flush(&self, py: Python<'_>) -> PyResult<()> {
        py.detach(|| self.inner.flush()).map_err(probe_err)
    }

    /// Writes what is buffered and closes the file (later writes are an error).
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        py.detach(|| self.inner.close()).map_err(probe_err)
    }

    /// The file written.
    #[getter]
    fn path(&self) -> std::path::PathBuf {
        self.inner.path().to_path_buf()
    }

    /// The subsystem of the file.
    #[getter]
    fn subsystem(&self) -> String {
        self.inner.subsystem().to_string()
    }

    /// Records buffered, not yet written.
    #[getter]
    fn buffered(&self) -> usize {
        self.inner.buffered()
    }

    /// Records written to the file so far.
    #[getter]
    fn rows_written(&self) -> u64 {
        self.inner.rows_written()
    }
}

/// Every record of a workload-record file, as JSON text of a list of column maps.
#[pyfunction]
pub fn read_records(py: Python<'_>, path: std::path::PathBuf) -> PyResult<String> {
    let records = py.detach(|| ratchet::probes::read_records(&path)).map_err(probe_err)?;
    let list: Vec<Value> = records.iter().map(WorkloadRecord::to_json).collect();
    Ok(Value::Array(list).to_string())
}

/// The 65 columns in the spec's order: (name, type, nullable).
#[pyfunction]
pub fn workload_columns() -> Vec<(&'static str, &'static str, bool)> {
    COLUMNS.iter().map(|c| (c.name, c.kind.spec_name(), c.nullable)).collect()
}

/// A fresh record's defaults (record id, wall-clock time, ...) as JSON text.
#[pyfunction]
pub fn new_record() -> String {
    WorkloadRecord::new().to_json().to_string()
}

/// The probes' monotonic clock, in ns.
#[pyfunction(name = "monotonic_ns")]
pub fn py_monotonic_ns() -> i64 {
    monotonic_ns()
}

/// Times frames from encoder input to encoded output.
#[pyclass(frozen, module = "ratchet._native", name = "EncoderProbe")]
pub struct PyEncoderProbe {
    inner: EncoderProbe,
}

#[pymethods]
impl PyEncoderProbe {
    #[new]
    #[pyo3(signature = (writer, run_id="", codec=None, bitrate_kbps=None, subsystem=None, src=None, dst=None, phase=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        writer: &PyRecordWriter,
        run_id: &str,
        codec: Option<&str>,
        bitrate_kbps: Option<f32>,
        subsystem: Option<&str>,
        src: Option<&str>,
        dst: Option<&str>,
        phase: Option<Py<PyAny>>,
    ) -> Self {
        let mut p = EncoderProbe::new(run_id, writer.inner.clone());
        if let Some(c) = codec {
            p = p.with_codec(c);
        }
        if let Some(b) = bitrate_kbps {
            p = p.with_bitrate_kbps(b);
        }
        if let Some(s) = subsystem {
            p = p.with_subsystem(s);
        }
        if let Some(s) = src {
            p = p.with_src(s);
        }
        if let Some(d) = dst {
            p = p.with_dst(d);
        }
        if let Some(f) = phase {
            p = p.with_phase(phase_fn(f));
        }
        PyEncoderProbe { inner: p }
    }

    /// A frame entered the encoder (now, or at `t_ns` of the probes' clock).
    #[pyo3(signature = (t_ns=None))]
    fn on_input_frame(&self, t_ns: Option<i64>) {
        match t_ns {
            Some(t) => self.inner.on_input_frame_at(t),
            None => self.inner.on_input_frame(),
        }
    }

    /// A frame of `size_bytes` came out: writes one `<codec>_encode_frame` record.
    #[pyo3(signature = (size_bytes, keyframe=false, input_shape=None))]
    fn on_encoded_frame(
        &self,
        py: Python<'_>,
        size_bytes: i64,
        keyframe: bool,
        input_shape: Option<&str>,
    ) -> PyResult<()> {
        py.detach(|| self.inner.on_encoded_frame(size_bytes, keyframe, input_shape)).map_err(probe_err)
    }
}

/// Stamps frames from capture to display; writes a record per displayed frame.
#[pyclass(frozen, module = "ratchet._native", name = "GlassToGlassProbe")]
pub struct PyGlassToGlassProbe {
    inner: GlassToGlassProbe,
}

#[pymethods]
impl PyGlassToGlassProbe {
    #[new]
    #[pyo3(signature = (writer, run_id="", max_inflight=None, phase=None))]
    fn new(writer: &PyRecordWriter, run_id: &str, max_inflight: Option<usize>, phase: Option<Py<PyAny>>) -> Self {
        let mut p = GlassToGlassProbe::new(run_id, writer.inner.clone());
        if let Some(m) = max_inflight {
            p = p.with_max_inflight(m);
        }
        if let Some(f) = phase {
            p = p.with_phase(phase_fn(f));
        }
        PyGlassToGlassProbe { inner: p }
    }

    /// Stamps `stage` (`capture`, `isp_done`, `encode_done`, `tx_done`, `rx_done`,
    /// `decode_done`, `display`) of frame `frame_id`, now or at `t_ns`; returns whether a
    /// record was written.
    #[pyo3(signature = (frame_id, stage, t_ns=None))]
    fn stamp(&self, frame_id: u64, stage: &str, t_ns: Option<i64>) -> PyResult<bool> {
        let st = G2gStage::ALL.into_iter().find(|s| s.name() == stage).ok_or_else(|| {
            let names: Vec<&str> = G2gStage::ALL.iter().map(|s| s.name()).collect();
            let help = ratchet::diagnostic::did_you_mean(stage, names.iter().copied())
                .map(|h| format!(" ({h})"))
                .unwrap_or_default();
            PyKeyError::new_err(format!("unknown glass-to-glass stage `{stage}`{help}"))
        })?;
        let t = t_ns.unwrap_or_else(monotonic_ns);
        self.inner.stamp_at(frame_id, st, t).map_err(probe_err)
    }

    /// The frame ids tracked now, smallest first.
    fn tracked(&self) -> Vec<u64> {
        self.inner.tracked()
    }
}

//! `ratchet._native`: the Rust engine inside CPython. One class, `Engine`, loaded from the
//! embedded data or from directories, answering requests of the batch protocol
//! (`docs/api.md`: `{"op": ..., ...}` with the reference's function and parameter names). The
//! Python modules of the package build the requests and turn the answers into the
//! reference's classes; nothing numeric happens in Python.

mod columns;
mod probes;

use pyo3::IntoPyObjectExt;
use pyo3::exceptions::{PyKeyError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use ratchet::{EngineError, LlmModel, Tier};
use serde_json::Value;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

/// Resolved tiers and models by the text the package sends for them (a registry name or
/// the JSON of an object), so a tier object projected many times is parsed once.
const CACHE_LIMIT: usize = 4096;

/// A loaded engine: registry, rule set, packs and anchors, compiled once.
#[pyclass(frozen, module = "ratchet._native")]
struct Engine {
    inner: ratchet::Engine,
    tiers: Mutex<HashMap<String, Arc<Tier>>>,
    models: Mutex<HashMap<String, Arc<LlmModel>>>,
    results: OnceLock<Results>,
    provenance: OnceLock<Py<PyDict>>,
}

/// The package's result classes, registered once by `ratchet._types`.
struct Results {
    projected: Py<PyAny>,
    wont_fit: Py<PyAny>,
    mismatch: Py<PyAny>,
    object_new: Py<PyAny>,
}

/// A Python scalar as the JSON value a batch line would carry (anything else as its repr, a
/// string, which the batch reader then refuses by type).
fn json_scalar(v: &Bound<'_, PyAny>) -> Value {
    if let Ok(b) = v.cast::<pyo3::types::PyBool>() {
        return Value::Bool(b.is_true());
    }
    if v.cast::<pyo3::types::PyInt>().is_ok() {
        if let Ok(i) = v.extract::<i64>() {
            return Value::from(i);
        }
        if let Ok(u) = v.extract::<u64>() {
            return Value::from(u);
        }
    }
    if let Ok(x) = v.extract::<f64>() {
        return serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number);
    }
    if let Ok(s) = v.extract::<String>() {
        return Value::String(s);
    }
    Value::String(v.repr().map(|r| r.to_string()).unwrap_or_default())
}

fn py_err(e: EngineError) -> PyErr {
    match e {
        EngineError::UnknownKey(m) => PyKeyError::new_err(m),
        other => PyValueError::new_err(other.to_string()),
    }
}

/// A name, or the JSON text of an object.
fn arg(text: &str) -> Result<Value, EngineError> {
    if text.starts_with('{') {
        serde_json::from_str(text).map_err(|e| EngineError::InvalidValue(format!("not JSON: {e}")))
    } else {
        Ok(Value::String(text.to_string()))
    }
}

fn cached<T>(
    cache: &Mutex<HashMap<String, Arc<T>>>,
    key: &str,
    make: impl FnOnce() -> Result<T, EngineError>,
) -> Result<Arc<T>, EngineError> {
    if let Some(v) = cache.lock().ok().and_then(|c| c.get(key).cloned()) {
        return Ok(v);
    }
    let v = Arc::new(make()?);
    if let Ok(mut c) = cache.lock() {
        if c.len() >= CACHE_LIMIT {
            c.clear();
        }
        c.insert(key.to_string(), v.clone());
    }
    Ok(v)
}

/// A JSON value as Python objects.
fn to_py(py: Python<'_>, v: &Value) -> PyResult<Py<PyAny>> {
    Ok(match v {
        Value::Null => py.None(),
        Value::Bool(b) => b.into_py_any(py)?,
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) if !n.is_f64() => i.into_py_any(py)?,
            (_, Some(f)) => f.into_py_any(py)?,
            _ => n.to_string().into_py_any(py)?,
        },
        Value::String(s) => s.into_py_any(py)?,
        Value::Array(a) => {
            let l = PyList::empty(py);
            for x in a {
                l.append(to_py(py, x)?)?;
            }
            l.into_py_any(py)?
        }
        Value::Object(m) => {
            let d = PyDict::new(py);
            for (k, x) in m {
                d.set_item(k, to_py(py, x)?)?;
            }
            d.into_py_any(py)?
        }
    })
}

impl Engine {
    /// A tier argument: a registry name (the registry's own tier, whose specialised
    /// projection programs apply) or the JSON of a tier, parsed once.
    fn resolve_tier(&self, hw: &str) -> Result<Arc<Tier>, EngineError> {
        let e = &self.inner;
        if hw.starts_with('{') {
            cached(&self.tiers, hw, || Ok(Tier::clone(e.tier_from_json(&arg(hw)?)?.get())))
        } else {
            Ok(e.tier(hw)?.clone())
        }
    }

    /// A model argument: a catalog key or the JSON of a model, parsed once.
    fn resolve_model(&self, model: &str) -> Result<Arc<LlmModel>, EngineError> {
        let e = &self.inner;
        if model.starts_with('{') {
            cached(&self.models, model, || Ok(LlmModel::clone(ratchet::batch::model_arg(e, Some(&arg(model)?))?.get())))
        } else {
            Ok(e.model(model)?.clone())
        }
    }

    /// A projection as the package's result object, filled field by field (the hot path: no
    /// JSON, no Python-level constructor; the reference's fields, then `extensions` with the
    /// badge, calibration source and provenance); a dict when no classes are registered.
    fn result_object(&self, py: Python<'_>, r: &ratchet::Projection<'_>) -> PyResult<Py<PyAny>> {
        use ratchet::Projection as P;
        let Some(reg) = self.results.get() else {
            let v = serde_json::to_value(r).map_err(|e| PyValueError::new_err(e.to_string()))?;
            return to_py(py, &v);
        };
        let cls = match r {
            P::Projected(_) => &reg.projected,
            P::WontFit(_) => &reg.wont_fit,
            P::DtypeMismatch(_) => &reg.mismatch,
        };
        let obj = reg.object_new.call1(py, (cls.clone_ref(py),))?;
        let d = obj.getattr(py, intern!(py, "__dict__"))?;
        let d = d.cast_bound::<PyDict>(py)?;
        let ext = PyDict::new(py);
        let (calibration, provenance) = match r {
            P::Projected(x) => {
                d.set_item(intern!(py, "decode_tok_s"), x.decode_tok_s)?;
                d.set_item(intern!(py, "prefill_tok_s"), x.prefill_tok_s)?;
                d.set_item(intern!(py, "ttft_s"), x.ttft_s)?;
                d.set_item(intern!(py, "decode_tokens"), x.decode_tokens)?;
                d.set_item(intern!(py, "prompt_tokens"), x.prompt_tokens)?;
                d.set_item(intern!(py, "decode_s"), x.decode_s)?;
                d.set_item(intern!(py, "prefill_s"), x.prefill_s)?;
                d.set_item(intern!(py, "total_s"), x.total_s)?;
                d.set_item(intern!(py, "host_ms"), x.host_ms)?;
                d.set_item(intern!(py, "source"), x.source.as_ref())?;
                d.set_item(intern!(py, "regime"), x.regime.as_ref())?;
                d.set_item(intern!(py, "hw_name"), x.hw_name.as_ref())?;
                d.set_item(intern!(py, "model_key"), x.model_key.as_ref())?;
                d.set_item(intern!(py, "workload_id"), x.workload_id.as_ref())?;
                d.set_item(intern!(py, "decode_ceiling_tok_s"), x.decode_ceiling_tok_s)?;
                d.set_item(intern!(py, "base_decode_pre_multiplier"), x.base_decode_pre_multiplier)?;
                match &x.silicon_anchor_meta {
                    None => d.set_item(intern!(py, "silicon_anchor_meta"), py.None())?,
                    Some(m) => {
                        let v = serde_json::to_value(m).map_err(|e| PyValueError::new_err(e.to_string()))?;
                        d.set_item(intern!(py, "silicon_anchor_meta"), to_py(py, &v)?)?
                    }
                }
                ext.set_item(intern!(py, "badge"), x.badge.as_ref())?;
                // the rule set's declared record fields (the uncertainty band, …), by name
                for (k, v) in x.extra.iter() {
                    match v {
                        ratchet::projection::OutVal::Num(n) => ext.set_item(k, *n)?,
                        ratchet::projection::OutVal::Bool(b) => ext.set_item(k, *b)?,
                        ratchet::projection::OutVal::Str(t) => ext.set_item(k, t.as_ref())?,
                    }
                }
                (x.calibration_source.as_deref(), &*x.provenance)
            }
            P::WontFit(x) => {
                d.set_item(intern!(py, "hw_name"), x.hw_name.as_ref())?;
                d.set_item(intern!(py, "model_key"), x.model_key.as_ref())?;
                d.set_item(intern!(py, "workload_id"), x.workload_id.as_ref())?;
                d.set_item(intern!(py, "required_gb"), x.required_gb)?;
                d.set_item(intern!(py, "available_gb"), x.available_gb)?;
                d.set_item(intern!(py, "headroom_gb"), x.headroom_gb)?;
                let b = PyDict::new(py);
                b.set_item(intern!(py, "weights_gb"), x.breakdown.weights_gb)?;
                b.set_item(intern!(py, "kv_cache_gb"), x.breakdown.kv_cache_gb)?;
                b.set_item(intern!(py, "overhead_gb"), x.breakdown.overhead_gb)?;
                d.set_item(intern!(py, "breakdown"), b)?;
                d.set_item(intern!(py, "prompt_tokens"), x.prompt_tokens)?;
                d.set_item(intern!(py, "decode_tokens"), x.decode_tokens)?;
                (x.calibration_source.as_deref(), &*x.provenance)
            }
            P::DtypeMismatch(x) => {
                d.set_item(intern!(py, "hw_name"), x.hw_name.as_ref())?;
                d.set_item(intern!(py, "model_key"), x.model_key.as_ref())?;
                d.set_item(intern!(py, "workload_id"), x.workload_id.as_ref())?;
                d.set_item(intern!(py, "required_dtype"), x.required_dtype.as_ref())?;
                d.set_item(intern!(py, "tier_capability"), x.tier_capability.as_ref())?;
                d.set_item(intern!(py, "retargeting_hint"), x.retargeting_hint.as_deref())?;
                (x.calibration_source.as_deref(), &*x.provenance)
            }
        };
        match calibration {
            None => ext.set_item(intern!(py, "calibration_source"), py.None())?,
            Some(c) => {
                let cs = PyDict::new(py);
                cs.set_item(intern!(py, "method"), &c.method)?;
                cs.set_item(intern!(py, "reference"), &c.reference)?;
                cs.set_item(intern!(py, "confidence"), &c.confidence)?;
                ext.set_item(intern!(py, "calibration_source"), cs)?
            }
        }
        let prov = match self.provenance.get() {
            Some(p) => p.bind(py).copy()?,
            None => {
                let v = serde_json::to_value(provenance).map_err(|e| PyValueError::new_err(e.to_string()))?;
                let p = to_py(py, &v)?.cast_bound::<PyDict>(py)?.clone();
                let _ = self.provenance.set(p.clone().unbind());
                p.copy()?
            }
        };
        ext.set_item(intern!(py, "provenance"), prov)?;
        d.set_item(intern!(py, "extensions"), ext)?;
        Ok(obj)
    }
}

#[pymethods]
impl Engine {
    /// Loads the engine: the embedded registry and rules unless directories are given;
    /// `rules` entries are directories to layer or the name of the rule set to use.
    #[new]
    #[pyo3(signature = (registry=None, rules=None, packs=None, anchors=None))]
    fn new(
        registry: Option<PathBuf>,
        rules: Option<Vec<String>>,
        packs: Option<Vec<String>>,
        anchors: Option<PathBuf>,
    ) -> PyResult<Self> {
        let mut cfg = ratchet::EngineConfig { registry, anchors, ..Default::default() };
        for r in rules.unwrap_or_default() {
            cfg.rules(&r);
        }
        cfg.packs = packs.unwrap_or_default().iter().map(|p| ratchet::pack::PackRef::from_arg(p)).collect();
        let out = ratchet::Engine::load(&cfg);
        match out.engine {
            Some(inner) => Ok(Engine {
                inner,
                tiers: Mutex::default(),
                models: Mutex::default(),
                results: OnceLock::new(),
                provenance: OnceLock::new(),
            }),
            None => {
                let text: Vec<String> =
                    out.report.diagnostics.iter().filter(|d| d.is_error()).map(|d| d.one_line()).collect();
                Err(PyValueError::new_err(format!("the data is invalid:\n{}", text.join("\n"))))
            }
        }
    }

    /// Answers one request (a JSON object as text); the answer is JSON text, an
    /// `{"error": {"kind", "message"}}` object when the request is bad.
    fn ask(&self, request: &str) -> String {
        ratchet::batch::answer_line(&self.inner, request).to_string()
    }

    /// Answers many requests in order (one call: the batch APIs of the package).
    fn ask_many(&self, requests: Vec<String>) -> Vec<String> {
        // one answer line per request (answers never contain a raw newline); projections of
        // the same tier and model run together in lanes
        let lines: Vec<&str> = requests.iter().map(String::as_str).collect();
        let mut buf = Vec::with_capacity(requests.len() * 400);
        ratchet::batch::answer_lines_to(&self.inner, &lines, &mut buf);
        String::from_utf8_lossy(&buf).lines().map(str::to_string).collect()
    }

    /// One projection, the fast path of `ratchet.project_llm`: `model` and `hw` are a catalog
    /// key / registry tier name or the JSON of an object; the answer is the registered result
    /// class's instance (`register_results`; a dict before registration). Bad input raises
    /// `ValueError` / `KeyError`.
    #[pyo3(signature = (model, hw, workload_id="default", prompt_tokens=None, decode_tokens=None, host_ms=None, compiler_quality=None, npu_share=None, fp4_runtime_maturity=None, kv_cache_dtype=None))]
    #[allow(clippy::too_many_arguments)]
    fn project_llm(
        &self,
        py: Python<'_>,
        model: &str,
        hw: &str,
        workload_id: &str,
        prompt_tokens: Option<&Bound<'_, PyAny>>,
        decode_tokens: Option<&Bound<'_, PyAny>>,
        host_ms: Option<&Bound<'_, PyAny>>,
        compiler_quality: Option<&Bound<'_, PyAny>>,
        npu_share: Option<&Bound<'_, PyAny>>,
        fp4_runtime_maturity: Option<&Bound<'_, PyAny>>,
        kv_cache_dtype: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let e = &self.inner;
        let tier = self.resolve_tier(hw).map_err(py_err)?;
        let m = self.resolve_model(model).map_err(py_err)?;
        // the request's values are read as a batch line's (one check of types for every
        // interface); the engine checks their ranges (one place for all interfaces)
        let given = [
            ("prompt_tokens", prompt_tokens),
            ("decode_tokens", decode_tokens),
            ("host_ms", host_ms),
            ("compiler_quality", compiler_quality),
            ("npu_share", npu_share),
            ("fp4_runtime_maturity", fp4_runtime_maturity),
            ("kv_cache_dtype", kv_cache_dtype),
        ];
        let p = if given.iter().all(|(_, v)| v.is_none_or(|v| v.is_none())) {
            ratchet::ProjectParams::default()
        } else {
            let mut o = ratchet::batch::Obj::new();
            for (k, v) in given {
                if let Some(v) = v.filter(|v| !v.is_none()) {
                    o.insert(k.to_string(), json_scalar(v));
                }
            }
            ratchet::batch::project_params(&o).map_err(py_err)?
        };
        let r = e.project_llm(&m, &tier, workload_id, &p).map_err(py_err)?;
        self.result_object(py, &r)
    }

    /// The columnar batch: each argument an iterable (one value per row) or one value for
    /// every row; `model` and `hw` as for `project_llm`. Returns a dict of result columns
    /// (`columns.rs`); a row the engine cannot answer is reported in its `type` and `error`,
    /// not raised (arguments of the wrong type, or lists of different lengths, raise).
    #[pyo3(signature = (model, hw, workload_id=None, prompt_tokens=None, decode_tokens=None, host_ms=None, compiler_quality=None, npu_share=None, fp4_runtime_maturity=None, kv_cache_dtype=None))]
    #[allow(clippy::too_many_arguments)]
    fn project_columns(
        &self,
        py: Python<'_>,
        model: &Bound<'_, PyAny>,
        hw: &Bound<'_, PyAny>,
        workload_id: Option<&Bound<'_, PyAny>>,
        prompt_tokens: Option<&Bound<'_, PyAny>>,
        decode_tokens: Option<&Bound<'_, PyAny>>,
        host_ms: Option<&Bound<'_, PyAny>>,
        compiler_quality: Option<&Bound<'_, PyAny>>,
        npu_share: Option<&Bound<'_, PyAny>>,
        fp4_runtime_maturity: Option<&Bound<'_, PyAny>>,
        kv_cache_dtype: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        use columns::{Col, col};
        fn opt<'py, T: FromPyObjectOwned<'py>>(v: Option<&Bound<'py, PyAny>>, name: &str) -> PyResult<Col<Option<T>>> {
            match v {
                None => Ok(Col::One(None)),
                Some(v) => col::<Option<T>>(v, name),
            }
        }
        let a = columns::Args {
            model: col(model, "model")?,
            hw: col(hw, "hw")?,
            workload_id: match workload_id {
                None => Col::One("default".to_string()),
                Some(v) => col(v, "workload_id")?,
            },
            prompt_tokens: opt(prompt_tokens, "prompt_tokens")?,
            decode_tokens: opt(decode_tokens, "decode_tokens")?,
            host_ms: opt(host_ms, "host_ms")?,
            compiler_quality: opt(compiler_quality, "compiler_quality")?,
            npu_share: opt(npu_share, "npu_share")?,
            fp4_runtime_maturity: opt(fp4_runtime_maturity, "fp4_runtime_maturity")?,
            kv_cache_dtype: opt(kv_cache_dtype, "kv_cache_dtype")?,
        };
        let n = a.rows()?;
        let rows = py.detach(|| {
            columns::project_rows(&self.inner, &a, n, &|h| self.resolve_tier(h), &|m| self.resolve_model(m))
        });
        columns::columns(py, &rows)
    }

    /// Registers the package's result classes (`Projected`, `WontFit`, `DtypeMismatch`):
    /// `project_llm` then answers with instances filled field by field.
    fn register_results(
        &self,
        py: Python<'_>,
        projected: Py<PyAny>,
        wont_fit: Py<PyAny>,
        mismatch: Py<PyAny>,
    ) -> PyResult<()> {
        let object_new = py.import("builtins")?.getattr("object")?.getattr("__new__")?.unbind();
        let _ = self.results.set(Results { projected, wont_fit, mismatch, object_new });
        Ok(())
    }
    /// The registry's tables under the reference's constant names (`DTYPE_ATTR_MAP`,
    /// `QUANT_SCHEME_CAPABILITY_KEY`, `BYTES_PER_PARAM`, `GGUF_SIZE_GB`, `ACTIVE_PARAMS`,
    /// `PRECISION_SET_*`, the capability tables, `MEMORY_UPGRADE_OPTIONS`,
    /// `SILICON_CLASS_DEFAULTS`, `BADGE_FOR_SOURCE`), as JSON text.
    fn reference_tables(&self) -> String {
        self.inner.registry().reference_tables().to_string()
    }

    /// The registry's tier names, in registry order.
    fn tier_names(&self) -> Vec<String> {
        self.inner.registry().tiers().iter().map(|t| t.name().to_string()).collect()
    }

    /// The catalog's model keys, in catalog order.
    fn model_keys(&self) -> Vec<String> {
        self.inner.registry().catalog().iter().map(|m| m.key.clone()).collect()
    }

    /// Registry name, version, content hash and rule set, as JSON text.
    fn provenance(&self) -> String {
        serde_json::to_string(self.inner.provenance()).unwrap_or_default()
    }
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Engine>()?;
    m.add_class::<probes::PyRecordWriter>()?;
    m.add_class::<probes::PyEncoderProbe>()?;
    m.add_class::<probes::PyGlassToGlassProbe>()?;
    m.add_function(wrap_pyfunction!(probes::read_records, m)?)?;
    m.add_function(wrap_pyfunction!(probes::workload_columns, m)?)?;
    m.add_function(wrap_pyfunction!(probes::new_record, m)?)?;
    m.add_function(wrap_pyfunction!(probes::py_monotonic_ns, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}

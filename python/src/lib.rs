//! `ratchet._native`: the Rust engine inside CPython. One class, `Engine`, loaded from the
//! embedded data or from directories, answering requests of the batch protocol
//! (`docs/api.md`: `{"op": ..., ...}` with the reference's function and parameter names). The
//! Python modules of the package build the requests and turn the answers into the
//! reference's classes; nothing numeric happens in Python.

mod probes;

use pyo3::IntoPyObjectExt;
use pyo3::exceptions::{PyKeyError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use ratchet::{EngineError, LlmModel, Tier};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// Resolved tiers and models by the text the package sends for them (a registry name or
/// the JSON of an object), so a tier object projected many times is parsed once.
const CACHE_LIMIT: usize = 4096;

/// A loaded engine: registry, rule set, packs and anchors, compiled once.
#[pyclass(frozen, module = "ratchet._native")]
struct Engine {
    inner: ratchet::Engine,
    tiers: Mutex<HashMap<String, Arc<Tier>>>,
    models: Mutex<HashMap<String, Arc<LlmModel>>>,
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
            Some(inner) => Ok(Engine { inner, tiers: Mutex::default(), models: Mutex::default() }),
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
        let mut out = Vec::with_capacity(requests.len());
        let mut buf = Vec::new();
        for r in &requests {
            buf.clear();
            ratchet::batch::answer_line_to(&self.inner, r, &mut buf);
            let text = String::from_utf8_lossy(&buf);
            out.push(text.trim_end().to_string());
        }
        out
    }

    /// One projection, the fast path of `ratchet.project_llm`: `model` and `hw` are a catalog
    /// key / registry tier name or the JSON of an object; the answer is a dict (the batch
    /// protocol's `project_llm` answer). Bad input raises `ValueError` / `KeyError`.
    #[pyo3(signature = (model, hw, workload_id="default", prompt_tokens=None, decode_tokens=None, host_ms=None, compiler_quality=None, npu_share=None, fp4_runtime_maturity=None))]
    #[allow(clippy::too_many_arguments)]
    fn project_llm(
        &self,
        py: Python<'_>,
        model: &str,
        hw: &str,
        workload_id: &str,
        prompt_tokens: Option<u64>,
        decode_tokens: Option<u64>,
        host_ms: Option<f64>,
        compiler_quality: Option<f64>,
        npu_share: Option<f64>,
        fp4_runtime_maturity: Option<String>,
    ) -> PyResult<Py<PyAny>> {
        let e = &self.inner;
        // registry tiers and catalog models by name are the registry's own objects: the
        // engine's projection programs specialised for them apply
        let tier = if hw.starts_with('{') {
            cached(&self.tiers, hw, || Ok(Tier::clone(e.tier_from_json(&arg(hw)?)?.get()))).map_err(py_err)?
        } else {
            e.tier(hw).map_err(py_err)?.clone()
        };
        let m = if model.starts_with('{') {
            cached(&self.models, model, || Ok(LlmModel::clone(ratchet::batch::model_arg(e, Some(&arg(model)?))?.get())))
                .map_err(py_err)?
        } else {
            e.model(model).map_err(py_err)?.clone()
        };
        let mut o = Map::new();
        let mut put = |k: &str, v: Option<Value>| {
            if let Some(v) = v {
                o.insert(k.to_string(), v);
            }
        };
        put("prompt_tokens", prompt_tokens.map(Value::from));
        put("decode_tokens", decode_tokens.map(Value::from));
        put("host_ms", host_ms.map(Value::from));
        put("compiler_quality", compiler_quality.map(Value::from));
        put("npu_share", npu_share.map(Value::from));
        put("fp4_runtime_maturity", fp4_runtime_maturity.map(Value::from));
        let p = ratchet::batch::project_params(&o).map_err(py_err)?;
        let r = e.project_llm(&m, &tier, workload_id, &p).map_err(py_err)?;
        let v = serde_json::to_value(&r).map_err(|x| PyValueError::new_err(x.to_string()))?;
        to_py(py, &v)
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

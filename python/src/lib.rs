//! `ratchet._native`: the Rust engine inside CPython. One class, `Engine`, loaded from the
//! embedded data or from directories, answering requests of the batch protocol
//! (`docs/api.md`: `{"op": ..., ...}` with the reference's function and parameter names). The
//! Python modules of the package build the requests and turn the answers into the
//! reference's classes; nothing numeric happens in Python.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use std::path::PathBuf;

/// A loaded engine: registry, rule set, packs and anchors, compiled once.
#[pyclass(frozen, module = "ratchet._native")]
struct Engine {
    inner: ratchet::Engine,
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
            Some(inner) => Ok(Engine { inner }),
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
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}

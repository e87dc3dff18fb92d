//! The columnar batch of `project_llm`: argument columns in (a list per argument, or one
//! value for every row), result columns out. No result object per row and the projections
//! run without the interpreter lock, so a grid costs little more than the engine's work.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString};
use ratchet::{EngineError, LlmModel, Projection, Tier};
use std::collections::HashMap;
use std::sync::Arc;

/// One argument: a value for every row, or one per row.
pub enum Col<T> {
    One(T),
    Many(Vec<T>),
}

impl<T: Clone> Col<T> {
    fn len(&self) -> Option<usize> {
        match self {
            Col::One(_) => None,
            Col::Many(v) => Some(v.len()),
        }
    }

    fn get(&self, i: usize) -> &T {
        match self {
            Col::One(x) => x,
            Col::Many(v) => &v[i],
        }
    }
}

/// `e` with `context` in front of its message, of the same exception class.
fn located(py: Python<'_>, e: PyErr, context: &str) -> PyErr {
    PyErr::from_type(e.get_type(py), format!("{context}: {}", e.value(py)))
}

/// A column from any iterable but a string (a list, a tuple, a numpy array, a pandas
/// series, ...), or one value for every row.
pub fn col<'py, T: FromPyObjectOwned<'py>>(v: &Bound<'py, PyAny>, name: &str) -> PyResult<Col<T>> {
    let py = v.py();
    let one = |x: &Bound<'py, PyAny>, at: &str| x.extract::<T>().map_err(|e| located(py, e.into(), at));
    if v.is_instance_of::<PyString>() || v.is_instance_of::<PyBytes>() || v.is_none() {
        return Ok(Col::One(one(v, &format!("`{name}`"))?));
    }
    match v.try_iter() {
        Ok(it) => {
            let mut out = Vec::new();
            for (i, x) in it.enumerate() {
                out.push(one(&x?, &format!("`{name}[{i}]`"))?);
            }
            Ok(Col::Many(out))
        }
        Err(_) => Ok(Col::One(one(v, &format!("`{name}`"))?)),
    }
}

/// The argument columns of one batch.
pub struct Args {
    pub model: Col<String>,
    pub hw: Col<String>,
    pub workload_id: Col<String>,
    pub prompt_tokens: Col<Option<u64>>,
    pub decode_tokens: Col<Option<u64>>,
    pub host_ms: Col<Option<f64>>,
    pub compiler_quality: Col<Option<f64>>,
    pub npu_share: Col<Option<f64>>,
    pub fp4_runtime_maturity: Col<Option<String>>,
    pub kv_cache_dtype: Col<Option<String>>,
}

impl Args {
    /// The number of rows: the length every list argument shares (1 when all are values).
    pub fn rows(&self) -> PyResult<usize> {
        let lens = [
            ("model", self.model.len()),
            ("hw", self.hw.len()),
            ("workload_id", self.workload_id.len()),
            ("prompt_tokens", self.prompt_tokens.len()),
            ("decode_tokens", self.decode_tokens.len()),
            ("host_ms", self.host_ms.len()),
            ("compiler_quality", self.compiler_quality.len()),
            ("npu_share", self.npu_share.len()),
            ("fp4_runtime_maturity", self.fp4_runtime_maturity.len()),
            ("kv_cache_dtype", self.kv_cache_dtype.len()),
        ];
        let mut n: Option<(&str, usize)> = None;
        for (name, l) in lens {
            if let Some(l) = l {
                match n {
                    None => n = Some((name, l)),
                    Some((first, m)) if m != l => {
                        return Err(PyValueError::new_err(format!(
                            "the argument lists differ in length: `{first}` has {m}, `{name}` has {l}"
                        )));
                    }
                    _ => {}
                }
            }
        }
        Ok(n.map_or(1, |(_, l)| l))
    }
}

/// One row's answer, kept as plain values until the columns are built.
pub enum Row {
    Projected { nums: [f64; 7], source: String, regime: String, ceiling: Option<f64>, band: [Option<f64>; 6] },
    WontFit { required_gb: f64, available_gb: f64 },
    Mismatch { required_dtype: String, hint: Option<String> },
    Error(EngineError),
}

fn row(r: Projection<'_>) -> Row {
    match r {
        Projection::Projected(p) => Row::Projected {
            band: {
                use ratchet::projection::Banded;
                let [d, f, t] = Banded::ALL.map(|b| p.band(b));
                [d.map(|b| b.0), d.map(|b| b.1), f.map(|b| b.0), f.map(|b| b.1), t.map(|b| b.0), t.map(|b| b.1)]
            },
            nums: [p.decode_tok_s, p.prefill_tok_s, p.ttft_s, p.decode_s, p.prefill_s, p.total_s, p.host_ms],
            source: p.source.into_owned(),
            regime: p.regime.into_owned(),
            ceiling: p.decode_ceiling_tok_s,
        },
        Projection::WontFit(w) => Row::WontFit { required_gb: w.required_gb, available_gb: w.available_gb },
        Projection::DtypeMismatch(m) => Row::Mismatch {
            required_dtype: m.required_dtype.into_owned(),
            hint: m.retargeting_hint.map(|h| h.into_owned()),
        },
    }
}

type Resolve<'a, T> = dyn Fn(&str) -> Result<Arc<T>, EngineError> + Sync + 'a;

/// Projects every row (no interpreter lock needed); tiers and models are resolved once per
/// distinct argument.
pub fn project_rows(
    engine: &ratchet::Engine,
    a: &Args,
    n: usize,
    tier_of: &Resolve<'_, Tier>,
    model_of: &Resolve<'_, LlmModel>,
) -> Vec<Row> {
    let mut tiers: HashMap<&str, Result<Arc<Tier>, EngineError>> = HashMap::new();
    let mut models: HashMap<&str, Result<Arc<LlmModel>, EngineError>> = HashMap::new();
    // each row's tier, model and parameters, or its error
    let resolved: Vec<Result<(Arc<Tier>, Arc<LlmModel>, ratchet::ProjectParams), EngineError>> = (0..n)
        .map(|i| {
            let t = tiers.entry(a.hw.get(i).as_str()).or_insert_with_key(|k| tier_of(k)).clone()?;
            let m = models.entry(a.model.get(i).as_str()).or_insert_with_key(|k| model_of(k)).clone()?;
            // options are checked by the engine, like every interface's
            let p = ratchet::ProjectParams {
                prompt_tokens: *a.prompt_tokens.get(i),
                decode_tokens: *a.decode_tokens.get(i),
                host_ms: *a.host_ms.get(i),
                compiler_quality: *a.compiler_quality.get(i),
                npu_share: *a.npu_share.get(i),
                fp4_runtime_maturity: a.fp4_runtime_maturity.get(i).clone(),
                kv_cache_dtype: a.kv_cache_dtype.get(i).clone(),
            };
            Ok((t, m, p))
        })
        .collect();
    // the valid rows in one call: rows of the same tier and model are projected in lanes
    let rows: Vec<ratchet::engine::ProjectRow<'_>> = resolved
        .iter()
        .enumerate()
        .filter_map(|(i, r)| {
            r.as_ref().ok().map(|(t, m, p)| ratchet::engine::ProjectRow {
                model: m,
                hw: t,
                workload_id: a.workload_id.get(i),
                params: p,
            })
        })
        .collect();
    let mut projected = engine.project_llm_rows(&rows).into_iter();
    resolved
        .iter()
        .map(|r| match r {
            Err(e) => Row::Error(e.clone()),
            Ok(_) => match projected.next() {
                Some(Ok(p)) => row(p),
                Some(Err(e)) => Row::Error(e),
                None => Row::Error(EngineError::InvalidValue("a row was not projected".into())),
            },
        })
        .collect()
}

/// The result columns: `type` (`Projected`, `WontFit`, `DtypeMismatch`, or the error kind),
/// the rates and times, source and regime, the memory figures of `WontFit` rows, the
/// dtype of `DtypeMismatch` rows, and `error` (the message of a failed row).
pub fn columns(py: Python<'_>, rows: &[Row]) -> PyResult<Py<PyAny>> {
    const NUMS: [&str; 7] = ["decode_tok_s", "prefill_tok_s", "ttft_s", "decode_s", "prefill_s", "total_s", "host_ms"];
    // the 80 % uncertainty band's ends (None where the rule set states none, or measured)
    const BANDS: [&str; 6] =
        ["decode_tok_s_p10", "decode_tok_s_p90", "prefill_tok_s_p10", "prefill_tok_s_p90", "ttft_s_p10", "ttft_s_p90"];
    let kind = PyList::empty(py);
    let nums: Vec<Bound<'_, PyList>> = NUMS.iter().map(|_| PyList::empty(py)).collect();
    let bands: Vec<Bound<'_, PyList>> = BANDS.iter().map(|_| PyList::empty(py)).collect();
    let (source, regime, ceiling) = (PyList::empty(py), PyList::empty(py), PyList::empty(py));
    let (required, available) = (PyList::empty(py), PyList::empty(py));
    let (dtype, hint, error) = (PyList::empty(py), PyList::empty(py), PyList::empty(py));
    let none = py.None();
    for r in rows {
        let k = match r {
            Row::Projected { .. } => "Projected",
            Row::WontFit { .. } => "WontFit",
            Row::Mismatch { .. } => "DtypeMismatch",
            Row::Error(e) => e.kind(),
        };
        kind.append(k)?;
        match r {
            Row::Projected { nums: v, source: s, regime: g, ceiling: c, band } => {
                for (l, x) in nums.iter().zip(v) {
                    l.append(*x)?;
                }
                for (l, x) in bands.iter().zip(band) {
                    l.append(*x)?;
                }
                source.append(s)?;
                regime.append(g)?;
                ceiling.append(*c)?;
            }
            _ => {
                for l in nums.iter().chain(&bands) {
                    l.append(&none)?;
                }
                source.append(&none)?;
                regime.append(&none)?;
                ceiling.append(&none)?;
            }
        }
        match r {
            Row::WontFit { required_gb, available_gb } => {
                required.append(*required_gb)?;
                available.append(*available_gb)?;
            }
            _ => {
                required.append(&none)?;
                available.append(&none)?;
            }
        }
        match r {
            Row::Mismatch { required_dtype, hint: h } => {
                dtype.append(required_dtype)?;
                hint.append(h.as_deref())?;
            }
            _ => {
                dtype.append(&none)?;
                hint.append(&none)?;
            }
        }
        error.append(match r {
            Row::Error(e) => Some(e.to_string()),
            _ => None,
        })?;
    }
    let out = PyDict::new(py);
    out.set_item("type", kind)?;
    for (name, l) in NUMS.iter().zip(nums).chain(BANDS.iter().zip(bands)) {
        out.set_item(name, l)?;
    }
    out.set_item("source", source)?;
    out.set_item("regime", regime)?;
    out.set_item("decode_ceiling_tok_s", ceiling)?;
    out.set_item("required_gb", required)?;
    out.set_item("available_gb", available)?;
    out.set_item("required_dtype", dtype)?;
    out.set_item("retargeting_hint", hint)?;
    out.set_item("error", error)?;
    Ok(out.into_any().unbind())
}

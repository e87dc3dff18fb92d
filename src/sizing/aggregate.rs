//! Demand rows as formulas see them and the aggregates over them: an evaluation's rows are
//! an engine and `stride` numbers each (the [`DEMAND_FIELDS`], then the pack's own metrics),
//! and `sum_demands`, `max_demands` and `count_demands` read precomputed entries of the
//! model's aggregate table ([`AggKey`]), each computed once its rows are final.

/// The demands of one evaluation as seen by KPI formulas: per row an engine (interned) and
/// `stride` numbers (the five standard fields, then the model's custom metrics).
#[derive(Debug, Clone, Copy)]
pub struct DemandView<'a> {
    /// Numbers per row.
    pub stride: usize,
    /// Target engine per row.
    pub engines: &'a [u32],
    /// Row-major numbers.
    pub values: &'a [f64],
}

impl DemandView<'_> {
    /// No demands.
    pub const EMPTY: DemandView<'static> = DemandView { stride: 0, engines: &[], values: &[] };
}

/// Aggregates over demands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Agg {
    /// Sum in row order (Python's `sum`: starts at 0).
    Sum,
    /// Largest value (0 when none).
    Max,
    /// Number of rows.
    Count,
}

/// An aggregate over demand rows: which, of which field, over which engine's rows
/// (`u32::MAX`: every row).
pub type AggKey = (Agg, u16, u32);

/// The value of every aggregate in `keys` over the demand rows `values` (`stride` numbers a
/// row, `engines` their engines), in row order: Python's `sum` from 0, the first value then
/// `max`, the row count.
pub fn aggregate_values(keys: &[AggKey], stride: usize, engines: &[u32], values: &[f64], out: &mut Vec<f64>) {
    out.clear();
    out.extend(keys.iter().map(|k| aggregate_value(*k, stride, engines, values)));
}

/// One aggregate of [`aggregate_values`].
pub fn aggregate_value((kind, fi, engine): AggKey, stride: usize, engines: &[u32], values: &[f64]) -> f64 {
    let mut acc = 0.0f64;
    let mut first = true;
    for (row, &e) in engines.iter().enumerate() {
        if engine != u32::MAX && e != engine {
            continue;
        }
        let v = values.get(row * stride + fi as usize).copied().unwrap_or(0.0);
        match kind {
            Agg::Sum => acc += v,
            Agg::Count => acc += 1.0,
            Agg::Max => acc = if first { v } else { crate::numeric::py_max(acc, v) },
        }
        first = false;
    }
    acc
}

/// The five standard demand fields, in record order.
pub const DEMAND_FIELDS: [&str; 5] =
    ["tops_required", "cpu_cores_required", "memory_bw_gbps", "memory_capacity_mb", "latency_ms_p99"];

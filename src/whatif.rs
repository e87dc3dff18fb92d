//! The what-if runner (reference `WhatifRunner`, spec §3.19): a point (a profile with slider
//! overrides → KPIs and a chip summary), a sweep (one slider over N inclusive steps) and a
//! pareto grid (two sliders; each cell a chip summary).
//!
//! Points are independent, so sweeps and grids run on every core (rayon) and come back in
//! input order. Each point starts from the profile's and workload's flattened state vector,
//! applies the sliders in catalog order and runs the compiled demand and KPI programs — no
//! maps, no allocation beyond the result rows. A sweep or grid re-runs only what its sliders
//! can change (an incremental base), for blocks of [`LANES`] points at once in the expression
//! core's lanes.

use crate::sizing::formula::{Describe, EvalError, Val};
use crate::sizing::lanes::LaneScratch;
use crate::sizing::{Base, Counts, KpiOut, Plan, RowTexts, Scratch, SizingModel};
use rayon::prelude::*;
use serde_json::{Map, Value, json};
use std::fmt;

/// A what-if error in the reference's terms.
#[derive(Debug, Clone, PartialEq)]
pub struct WhatifError {
    /// `KeyError`, `ValueError`, `TypeError`, `ZeroDivisionError`.
    pub kind: &'static str,
    /// Message.
    pub message: String,
}

impl fmt::Display for WhatifError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for WhatifError {}

impl WhatifError {
    fn eval(e: EvalError, m: &SizingModel) -> Self {
        WhatifError { kind: e.kind(), message: e.message(&m.layout) }
    }

    fn unknown(kind: &str, name: &str, known: impl IntoIterator<Item = String>) -> Self {
        let known: Vec<String> = known.into_iter().collect();
        let help = crate::diagnostic::did_you_mean(name, known.iter().map(String::as_str))
            .map(|h| format!(" ({h})"))
            .unwrap_or_default();
        WhatifError { kind: "KeyError", message: format!("unknown {kind} `{name}`{help}") }
    }
}

fn check_points(n: usize, limit: usize) -> Result<(), WhatifError> {
    if n > limit {
        return Err(WhatifError {
            kind: "ValueError",
            message: format!("the run would evaluate {n} points; the limit is {limit}"),
        });
    }
    Ok(())
}

/// One evaluated point.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// KPIs in evaluation order.
    pub kpis: Vec<KpiOut>,
    /// Verdict counts.
    pub counts: Counts,
    /// Which demands were active (for demand notes).
    pub active: Vec<bool>,
}

/// A grid cell: counts and the failing KPIs only.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    /// Verdict counts.
    pub counts: Counts,
    /// Failing KPIs.
    pub failures: Vec<KpiOut>,
}

/// A sweep.
#[derive(Debug, Clone, PartialEq)]
pub struct Sweep {
    /// Slider values, in order.
    pub values: Vec<f64>,
    /// One point per value.
    pub points: Vec<Point>,
}

/// A pareto grid.
#[derive(Debug, Clone, PartialEq)]
pub struct Pareto {
    /// x values.
    pub xs: Vec<f64>,
    /// y values.
    pub ys: Vec<f64>,
    /// `cells[y][x]`.
    pub cells: Vec<Vec<Cell>>,
}

/// The runner over one compiled model, one profile and one workload.
#[derive(Debug, Clone)]
pub struct Runner<'m> {
    /// The model.
    pub model: &'m SizingModel,
    /// Profile index.
    pub profile: usize,
    /// Workload index.
    pub workload: Option<usize>,
    base: Vec<Val>,
    /// Apply every slider's default (reference quirk Q14).
    pub apply_defaults: bool,
}

/// A sweep's slider index, values, starting slider values and incremental plan.
type Setup = (usize, Vec<f64>, Vec<Option<f64>>, Option<(Plan, Base)>);

/// How far off a step grid a value may be and still be on it (relative, in steps): decimal
/// values such as 0.1 are not exact in binary64.
const STEP_SLACK: f64 = 1e-9;

fn slider_def<'m>(m: &'m SizingModel, name: &str) -> Result<&'m crate::formats::sizing::SliderDef, WhatifError> {
    m.slider(name).map(|i| &m.sliders[i].def).ok_or_else(|| {
        let help = crate::diagnostic::did_you_mean(name, m.sliders.iter().map(|s| s.def.name.as_str()))
            .map(|h| format!(" ({h})"))
            .unwrap_or_default();
        WhatifError { kind: "KeyError", message: format!("unknown slider `{name}`{help}") }
    })
}

fn value_text(x: f64, units: &str) -> String {
    let v = crate::numeric::py_float_repr(x);
    if units.is_empty() { v } else { format!("{v} {units}") }
}

/// Checks slider values as a surface sets them (the CLI's `--set`, HTTP, the page): a known
/// slider, a value inside its declared `[min_val, max_val]` and on its `step` from `min_val`
/// (its default and its maximum are always accepted). The reference's `WhatifRunner` — and
/// so batch lines and Python — clamps instead and ignores unknown names.
pub fn check_slider_values(m: &SizingModel, values: &[(String, f64)]) -> Result<(), WhatifError> {
    for (name, x) in values {
        let s = slider_def(m, name)?;
        let bad = |message: String| Err(WhatifError { kind: "ValueError", message });
        if !x.is_finite() || *x < s.min_val || *x > s.max_val {
            return bad(format!(
                "slider `{name}` = {} is outside its range [{}, {}]",
                crate::numeric::py_float_repr(*x),
                crate::numeric::py_float_repr(s.min_val),
                value_text(s.max_val, &s.units)
            ));
        }
        if s.step > 0.0 && *x != s.default && *x != s.max_val {
            let k = (x - s.min_val) / s.step;
            if (k - k.round()).abs() > STEP_SLACK * k.abs().max(1.0) {
                let below = s.min_val + k.floor() * s.step;
                return bad(format!(
                    "slider `{name}` = {} is not on its step of {} from {} (nearest: {} or {})",
                    crate::numeric::py_float_repr(*x),
                    crate::numeric::py_float_repr(s.step),
                    crate::numeric::py_float_repr(s.min_val),
                    crate::numeric::py_float_repr(below),
                    value_text((below + s.step).min(s.max_val), &s.units)
                ));
            }
        }
    }
    Ok(())
}

/// The values of a sweep on the slider's own step: `from` (its minimum when absent) to `to`
/// (its maximum), both checked like a set value; the last value is `to` itself.
pub fn step_values(m: &SizingModel, slider: &str, from: Option<f64>, to: Option<f64>) -> Result<Vec<f64>, WhatifError> {
    let s = slider_def(m, slider)?;
    let (lo, hi) = (from.unwrap_or(s.min_val), to.unwrap_or(s.max_val));
    check_slider_values(m, &[(slider.to_string(), lo), (slider.to_string(), hi)])?;
    if lo > hi {
        return Err(WhatifError {
            kind: "ValueError",
            message: format!(
                "a sweep of `{slider}` from {} to {} runs backwards",
                crate::numeric::py_float_repr(lo),
                crate::numeric::py_float_repr(hi)
            ),
        });
    }
    if s.step.is_nan() || s.step <= 0.0 {
        return Err(WhatifError {
            kind: "ValueError",
            message: format!("slider `{slider}` declares no step; give a number of points (`steps`)"),
        });
    }
    let n = ((hi - lo) / s.step + STEP_SLACK).floor() as usize;
    check_points(n + 1, crate::limits::MAX_WHATIF_POINTS)?;
    let mut out: Vec<f64> = (0..=n).map(|k| lo + k as f64 * s.step).collect();
    match out.last_mut() {
        Some(last) if (hi - *last).abs() <= STEP_SLACK * s.step => *last = hi,
        _ => out.push(hi),
    }
    Ok(out)
}

/// Reference sweep values: `min + (span · i) / (n − 1)` for `n = max(2, steps)`.
pub fn sweep_values(min: f64, max: f64, steps: usize) -> Vec<f64> {
    let n = steps.max(2);
    let span = max - min;
    (0..n).map(|i| min + ((span * i as f64) / (n - 1) as f64)).collect()
}

/// Points evaluated together in lanes (one dispatch per instruction for the block).
pub const LANES: usize = 8;

/// One evaluated point, as [`Runner::eval_range`] hands it over.
enum PointResult<'s, 'm> {
    /// A point evaluated on its own.
    Full(&'s Scratch<'m>),
    /// Lane `lane` of a block evaluated from `base`.
    Lane { base: &'s Base, sc: &'s LaneScratch<'m, LANES>, lane: usize },
}

/// One KPI of an explained point: its result and every value its formulas computed.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ExplainedKpi {
    /// KPI name.
    pub name: String,
    /// The demand it is about (per-demand KPIs).
    pub demand: Option<String>,
    /// `PASS`, `WARN` or `FAIL`.
    pub status: String,
    /// Required figure.
    pub required: f64,
    /// Budget figure.
    pub budget: f64,
    /// Margin in percent of the budget.
    pub margin_pct: f64,
    /// Formula values in evaluation order: paths read, named formulas with their arguments,
    /// the KPI's fields and the budget rules.
    pub values: Vec<crate::projection::ExplainedValue>,
}

/// A progress callback: called with the number of points just finished.
pub type Progress<'a> = Option<&'a (dyn Fn(usize) + Sync)>;

impl<'m> Runner<'m> {
    /// A runner for `profile` (and `workload`, or the model's first workload).
    pub fn new(
        model: &'m SizingModel,
        profile: &str,
        workload: Option<&str>,
        apply_defaults: bool,
    ) -> Result<Self, WhatifError> {
        let p = model
            .profile(profile)
            .ok_or_else(|| WhatifError::unknown("profile", profile, model.profiles.iter().map(|p| p.name.clone())))?;
        let w =
            match workload {
                Some(w) => Some(model.workload(w).ok_or_else(|| {
                    WhatifError::unknown("workload", w, model.workloads.iter().map(|p| p.name.clone()))
                })?),
                None => (!model.workloads.is_empty()).then_some(0),
            };
        let mut base = Vec::new();
        model.base_state(Some(p), w, &mut base);
        Ok(Runner { model, profile: p, workload: w, base, apply_defaults })
    }

    /// The slider values a point applies, per catalog index: the override, else the default
    /// when defaults are applied. Unknown names are ignored, as in the reference.
    pub fn values(&self, overrides: &[(String, f64)]) -> Vec<Option<f64>> {
        self.model
            .sliders
            .iter()
            .map(|s| {
                overrides.iter().rev().find(|(n, _)| *n == s.def.name).map(|(_, v)| *v).or(if self.apply_defaults {
                    Some(s.def.default)
                } else {
                    None
                })
            })
            .collect()
    }

    fn slider(&self, name: &str) -> Result<usize, WhatifError> {
        self.model
            .slider(name)
            .ok_or_else(|| WhatifError { kind: "KeyError", message: format!("Unknown slider: {name}") })
    }

    /// Plans incremental evaluation of points that vary `varying` over `vals`: `None` when
    /// the base evaluation fails (every point then runs in full and reports its own error).
    fn incremental(&self, varying: &[usize], vals: &[Option<f64>]) -> Option<(Plan, Base)> {
        let mut applied: Vec<bool> = vals.iter().map(Option::is_some).collect();
        for &v in varying {
            applied[v] = true;
        }
        let plan = self.model.plan(varying, &applied);
        let mut sc = self.model.scratch();
        let base = self.model.base(&self.base, &plan, vals, &mut sc).ok()?;
        Some((plan, base))
    }

    /// Evaluates the points `0..n` (point `k`'s slider values are `vals` with `set(k, …)`
    /// applied), in order: blocks of [`LANES`] points in lanes from the incremental base
    /// `inc`, or one by one when there is none; rayon splits no finer than `min_block` points.
    /// `keep`: the points' KPIs are needed, not only their counts. `done` turns a point's
    /// results into the caller's item.
    #[allow(clippy::too_many_arguments)] // the shared engine of sweep, counts and pareto
    fn eval_range<T: Send>(
        &self,
        inc: Option<&(Plan, Base)>,
        vals: &[Option<f64>],
        n: usize,
        min_block: usize,
        set: &(dyn Fn(usize, &mut [Option<f64>]) + Sync),
        keep: bool,
        done: &(dyn Fn(PointResult<'_, 'm>) -> Result<T, WhatifError> + Sync),
    ) -> Result<Vec<T>, WhatifError> {
        let blocks = n.div_ceil(LANES);
        let per: Vec<Result<Vec<T>, WhatifError>> = (0..blocks)
            .into_par_iter()
            .with_min_len(min_block.div_ceil(LANES).max(1))
            .map_init(
                || {
                    (
                        self.model.lane_scratch::<LANES>(),
                        std::array::from_fn::<_, LANES, _>(|_| vals.to_vec()),
                        self.model.scratch(),
                    )
                },
                |(lsc, vs, sc), b| {
                    let lo = b * LANES;
                    let hi = (lo + LANES).min(n);
                    let mut items = Vec::with_capacity(hi - lo);
                    match inc {
                        Some((plan, base)) => {
                            // lanes past the end repeat the last point (their results are dropped)
                            for (l, v) in vs.iter_mut().enumerate() {
                                set((lo + l).min(hi - 1), v);
                            }
                            let refs: [&[Option<f64>]; LANES] = std::array::from_fn(|l| &vs[l][..]);
                            self.model.eval_lanes(base, plan, &refs, lsc, keep);
                            for l in 0..hi - lo {
                                let r = match &lsc.errors[l] {
                                    Some(e) => Err(WhatifError::eval(e.clone(), self.model)),
                                    None => done(PointResult::Lane { base, sc: lsc, lane: l }),
                                };
                                items.push(r?);
                            }
                        }
                        None => {
                            for k in lo..hi {
                                set(k, &mut vs[0]);
                                self.eval(&vs[0], sc).map_err(|e| WhatifError::eval(e, self.model))?;
                                items.push(done(PointResult::Full(sc))?);
                            }
                        }
                    }
                    Ok(items)
                },
            )
            .collect();
        let mut out = Vec::with_capacity(n);
        for r in per {
            out.extend(r?);
        }
        Ok(out)
    }

    /// Evaluates one point into `sc.kpis`.
    pub fn eval(&self, values: &[Option<f64>], sc: &mut Scratch<'m>) -> Result<(), EvalError> {
        sc.reset();
        let mut state = std::mem::take(&mut sc.state);
        state.clear();
        state.extend_from_slice(&self.base);
        let r = (|| {
            for (i, v) in values.iter().enumerate() {
                if let Some(v) = v {
                    self.model.apply_slider(i, *v, &mut state, sc)?;
                }
            }
            self.model.run_demands(&state[..], sc)?;
            self.model.run_kpis(&self.model.evaluation, &state[..], sc)
        })();
        sc.state = state;
        r
    }

    /// Reference `point`.
    pub fn point(&self, overrides: &[(String, f64)]) -> Result<Point, WhatifError> {
        let mut sc = self.model.scratch();
        let values = self.values(overrides);
        self.eval(&values, &mut sc).map_err(|e| WhatifError::eval(e, self.model))?;
        Ok(Point { counts: self.model.counts(&sc.kpis), kpis: sc.kpis.clone(), active: sc.active.clone() })
    }

    /// Reference `point`, explained: every evaluated KPI with the values behind it — the
    /// paths it read, each named formula with its arguments and value, and the budget rules.
    pub fn explain(&self, overrides: &[(String, f64)]) -> Result<Vec<ExplainedKpi>, WhatifError> {
        let m = self.model;
        let mut sc = m.scratch();
        self.eval(&self.values(overrides), &mut sc).map_err(|e| WhatifError::eval(e, m))?;
        let traces = m.explain(&sc).map_err(|message| WhatifError { kind: "ValueError", message })?;
        let text = |id: u32| m.strings.text(id).unwrap_or("").to_string();
        let constants: std::collections::HashMap<String, crate::expr::TraceValue> = m
            .constant_values()
            .filter_map(|(k, v)| {
                let tv = match v {
                    Val::Num(x) => crate::expr::TraceValue::Num(x),
                    Val::Bool(b) => crate::expr::TraceValue::Bool(b),
                    Val::Str(i) => crate::expr::TraceValue::Str(text(i)),
                    _ => return None,
                };
                Some((k.to_string(), tv))
            })
            .collect();
        Ok(traces
            .into_iter()
            .map(|t| {
                let mut known = constants.clone();
                let demand = (t.out.row != u16::MAX)
                    .then(|| m.demands.get(t.out.row as usize).map(|d| d.def.name.clone()))
                    .flatten();
                // per-demand KPIs are named after their demand, as in the point's KPIs
                let name = m.kpis.get(t.out.kpi as usize).map(|k| k.def.name.clone()).unwrap_or_default();
                ExplainedKpi {
                    name: match &demand {
                        Some(d) => name.replace("{demand.name}", d),
                        None => name,
                    },
                    demand,
                    status: text(t.out.status),
                    required: t.out.required,
                    budget: t.out.budget,
                    margin_pct: t.out.margin_pct,
                    values: crate::projection::traced_values(&t.names, &t.trace, &mut known),
                }
            })
            .collect())
    }

    /// What every sweep needs: the slider's index, its values, the state at the first value,
    /// and the incremental plan (what the slider invalidates).
    #[allow(clippy::type_complexity)]
    fn sweep_setup(
        &self,
        slider: &str,
        steps: usize,
        base: &[(String, f64)],
        limit: usize,
    ) -> Result<Setup, WhatifError> {
        check_points(steps.max(2), limit)?;
        let si = self.slider(slider)?;
        let s = &self.model.sliders[si].def;
        self.sweep_setup_at(si, sweep_values(s.min_val, s.max_val, steps), base)
    }

    fn sweep_setup_at(&self, si: usize, values: Vec<f64>, base: &[(String, f64)]) -> Result<Setup, WhatifError> {
        let mut vals = self.values(base);
        vals[si] = values.first().copied();
        let inc = self.incremental(&[si], &vals);
        Ok((si, values, vals, inc))
    }

    /// A sweep of `slider` at the given values (the slider's own steps: [`step_values`]).
    pub fn sweep_at(
        &self,
        slider: &str,
        values: Vec<f64>,
        base: &[(String, f64)],
        progress: Progress<'_>,
    ) -> Result<Sweep, WhatifError> {
        check_points(values.len(), crate::limits::MAX_WHATIF_POINTS)?;
        let si = self.slider(slider)?;
        let setup = self.sweep_setup_at(si, values, base)?;
        self.sweep_run(setup, progress)
    }

    /// Reference `sweep`: `slider` from its min to its max in `max(2, steps)` points.
    pub fn sweep(
        &self,
        slider: &str,
        steps: usize,
        base: &[(String, f64)],
        progress: Progress<'_>,
    ) -> Result<Sweep, WhatifError> {
        let setup = self.sweep_setup(slider, steps, base, crate::limits::MAX_WHATIF_POINTS)?;
        self.sweep_run(setup, progress)
    }

    fn sweep_run(&self, (si, values, vals, inc): Setup, progress: Progress<'_>) -> Result<Sweep, WhatifError> {
        let set = |k: usize, v: &mut [Option<f64>]| v[si] = values.get(k).copied();
        let points = self.eval_range(inc.as_ref(), &vals, values.len(), 256, &set, true, &|r| {
            if let Some(p) = progress {
                p(1);
            }
            Ok(match r {
                PointResult::Full(sc) => {
                    Point { counts: self.model.counts(&sc.kpis), kpis: sc.kpis.clone(), active: sc.active.clone() }
                }
                PointResult::Lane { sc, lane, .. } => Point {
                    counts: self.model.counts(&sc.kpis[lane]),
                    kpis: sc.kpis[lane].clone(),
                    active: sc.active[lane].clone(),
                },
            })
        })?;
        Ok(Sweep { values, points })
    }

    /// Counts only, for every sweep point (the throughput path: nothing is kept per point
    /// but four integers).
    pub fn sweep_counts(&self, slider: &str, steps: usize, base: &[(String, f64)]) -> Result<Vec<Counts>, WhatifError> {
        let (si, values, vals, inc) = self.sweep_setup(slider, steps, base, crate::limits::MAX_WHATIF_COUNT_POINTS)?;
        let set = |k: usize, v: &mut [Option<f64>]| v[si] = values.get(k).copied();
        self.eval_range(inc.as_ref(), &vals, values.len(), 1024, &set, false, &|r| {
            Ok(match r {
                PointResult::Full(sc) => self.model.counts(&sc.kpis),
                PointResult::Lane { base, sc, lane } => self.model.lane_counts(base, sc, lane),
            })
        })
    }

    /// Reference `pareto`: `cells[y][x]` over `max(2, steps_x)` × `max(2, steps_y)` points.
    pub fn pareto(
        &self,
        x: &str,
        y: &str,
        steps_x: usize,
        steps_y: usize,
        base: &[(String, f64)],
        progress: Progress<'_>,
    ) -> Result<Pareto, WhatifError> {
        check_points(steps_x.max(2).saturating_mul(steps_y.max(2)), crate::limits::MAX_WHATIF_POINTS)?;
        let xi = self.slider(x)?;
        let yi = self.slider(y)?;
        let (sx, sy) = (&self.model.sliders[xi].def, &self.model.sliders[yi].def);
        let xs = sweep_values(sx.min_val, sx.max_val, steps_x);
        let ys = sweep_values(sy.min_val, sy.max_val, steps_y);
        let mut vals = self.values(base);
        vals[xi] = xs.first().copied();
        vals[yi] = ys.first().copied();
        let inc = self.incremental(&[xi, yi], &vals);
        let nx = xs.len();
        let set = |k: usize, v: &mut [Option<f64>]| {
            v[xi] = xs.get(k % nx).copied();
            v[yi] = ys.get(k / nx).copied();
        };
        let fail = self.model.status_ids[2];
        let flat = self.eval_range(inc.as_ref(), &vals, xs.len() * ys.len(), 256, &set, true, &|r| {
            if let Some(p) = progress {
                p(1);
            }
            let kpis = match &r {
                PointResult::Full(sc) => &sc.kpis,
                PointResult::Lane { sc, lane, .. } => &sc.kpis[*lane],
            };
            Ok(Cell {
                counts: self.model.counts(kpis),
                failures: kpis.iter().filter(|k| k.status == fail).copied().collect(),
            })
        })?;
        let cells = flat.chunks(nx).map(<[Cell]>::to_vec).collect();
        Ok(Pareto { xs, ys, cells })
    }

    /// Demand names and notes for rendering a point.
    pub fn texts(&self, active: &[bool]) -> RowTexts {
        RowTexts {
            names: self.model.demands.iter().map(|d| d.def.name.clone()).collect(),
            notes: self
                .model
                .demands
                .iter()
                .zip(active)
                .map(|(d, &a)| if a { d.def.notes.clone() } else { Vec::new() })
                .collect(),
        }
    }

    /// The reference KPI objects of a point.
    pub fn kpis_json(&self, p: &Point) -> Vec<Value> {
        let texts = self.texts(&p.active);
        let strings = crate::sizing::formula::Strings::new(&self.model.strings);
        p.kpis.iter().map(|k| self.model.kpi_json(k, &texts, &strings)).collect()
    }

    /// The reference chip summary of a point.
    pub fn summary_json(&self, p: &Point) -> Value {
        SizingModel::summary_json(&self.kpis_json(p))
    }

    /// The reference chip summary of a grid cell.
    pub fn cell_json(&self, c: &Cell) -> Value {
        let texts = self.texts(&vec![true; self.model.demands.len()]);
        let strings = crate::sizing::formula::Strings::new(&self.model.strings);
        let failures: Vec<Value> = c
            .failures
            .iter()
            .map(|k| {
                let o = self.model.kpi_json(k, &texts, &strings);
                json!({
                    "name": o["name"],
                    "metric": o["metric"],
                    "overage": crate::sizing::num(-k.margin),
                    "units": o["units"],
                })
            })
            .collect();
        json!({
            "total": c.counts.total,
            "pass": c.counts.pass,
            "warn": c.counts.warn,
            "fail": c.counts.fail,
            "viable": c.counts.viable(),
            "failures": failures,
        })
    }
}

/// Overrides as the reference passes them: a JSON map name → number.
pub fn overrides_from_json(v: Option<&Value>) -> Result<Vec<(String, f64)>, WhatifError> {
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, x)| {
                x.as_f64().map(|f| (k.clone(), f)).ok_or_else(|| WhatifError {
                    kind: "ValueError",
                    message: format!("override `{k}` must be a number, got `{x}`"),
                })
            })
            .collect(),
        Some(other) => {
            Err(WhatifError { kind: "ValueError", message: format!("overrides must be a map, got `{other}`") })
        }
    }
}

/// Overrides back to JSON (in the given order).
pub fn overrides_json(o: &[(String, f64)]) -> Value {
    let mut m = Map::new();
    for (k, v) in o {
        m.insert(k.clone(), crate::sizing::num(*v));
    }
    Value::Object(m)
}

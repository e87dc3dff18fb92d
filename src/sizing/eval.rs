//! Evaluation of a compiled sizing model: its named formulas (before and after the demands),
//! the demand calculators into rows, the KPIs over those rows, slider actions on a state
//! vector, and the budget rules over one required/budget pair. Every program runs in its own
//! register bank of a [`Scratch`], so constants load once and a run copies nothing.

use super::file::ActionOp;
use super::formula::{self, DemandView, Env, EvalError, Frame, Program, Ty, Val};
use super::{Counts, Kpi, KpiOut, Scratch, SizingModel};
use crate::expr::vm::Regs;

impl SizingModel {
    /// Runs a program in its own register bank of `sc`: constants are loaded on first use
    /// and stay in place, so a run copies nothing.
    #[inline]
    fn exec<E: Env + ?Sized>(
        &self,
        p: &Program,
        env: &E,
        frame: &Frame<'_>,
        sc: &mut Scratch<'_>,
    ) -> Result<bool, EvalError> {
        let id = p.id as usize;
        if sc.bank.len() <= id {
            sc.bank.resize_with(id + 1, Regs::new);
        }
        formula::run(p, env, frame, &mut sc.bank[id], &mut sc.strings)
    }

    #[inline]
    fn out(sc: &Scratch<'_>, p: &Program, i: usize) -> f64 {
        sc.bank.get(p.id as usize).map_or(0.0, |b| p.out(b, i))
    }

    /// Computes the named formulas of `phase` (0: document-only, 1: demand aggregates).
    pub fn run_globals<E: Env + ?Sized>(&self, phase: u8, env: &E, sc: &mut Scratch<'_>) {
        let stride = self.fields.len();
        let mut globals = std::mem::take(&mut sc.globals);
        let mut poison = std::mem::take(&mut sc.poison);
        let rows = std::mem::take(&mut sc.rows);
        let engines = std::mem::take(&mut sc.engines);
        let mut aggs = std::mem::take(&mut sc.aggs);
        if phase == 1 && !sc.aggs_fresh {
            formula::aggregate_values(&self.aggregates, stride, &engines, &rows, &mut aggs);
            sc.aggs_fresh = true;
        }
        globals.resize(self.global_programs.len(), 0.0);
        poison.resize(self.global_programs.len(), None);
        for (g, (p, ph)) in self.global_programs.iter().enumerate() {
            if *ph != phase {
                continue;
            }
            let frame = Frame {
                demands: DemandView { stride, engines: &engines, values: &rows },
                globals: &globals,
                poison: &poison,
                aggs: &aggs,
                ..Frame::bare(&self.layout, &self.tables)
            };
            match self.exec(p, env, &frame, sc) {
                Ok(_) => {
                    globals[g] = Self::out(sc, p, 0);
                    poison[g] = None;
                }
                Err(e) => poison[g] = Some(e),
            }
        }
        sc.rows = rows;
        sc.engines = engines;
        sc.globals = globals;
        sc.poison = poison;
        sc.aggs = aggs;
        sc.phase = phase + 1;
    }

    /// Runs one slider's actions on a state vector with `value` (clamped here).
    pub fn apply_slider(&self, i: usize, value: f64, state: &mut [Val], sc: &mut Scratch<'_>) -> Result<(), EvalError> {
        let Some(s) = self.sliders.get(i) else { return Ok(()) };
        let v = s.clamp(value);
        for (op, pid, prog) in &s.actions {
            let frame = Frame { params: &[v], ..Frame::bare(&self.layout, &self.tables) };
            self.exec(prog, &*state, &frame, sc)?;
            let ty = prog.outputs[0].1;
            act(*op, *pid, ty, Self::out(sc, prog, 0), state)?;
        }
        Ok(())
    }

    /// Runs every demand calculator over `env` into `sc.rows` / `sc.engines`.
    pub fn run_demands<E: Env + ?Sized>(&self, env: &E, sc: &mut Scratch<'_>) -> Result<(), EvalError> {
        if sc.phase == 0 {
            self.run_globals(0, env, sc);
        }
        let stride = self.fields.len();
        sc.rows.clear();
        sc.aggs_fresh = false;
        sc.rows.resize(self.demands.len() * stride, 0.0);
        sc.engines.clear();
        sc.engines.extend(self.demands.iter().map(|d| d.engine));
        sc.active.clear();
        sc.active.resize(self.demands.len(), false);
        let (globals, poison) = (std::mem::take(&mut sc.globals), std::mem::take(&mut sc.poison));
        let mut r = Ok(());
        for (i, d) in self.demands.iter().enumerate() {
            let frame = Frame { globals: &globals, poison: &poison, ..Frame::bare(&self.layout, &self.tables) };
            let active = match self.exec(&d.program, env, &frame, sc) {
                Ok(a) => a,
                Err(e) => {
                    r = Err(e);
                    break;
                }
            };
            sc.active[i] = active;
            for j in 0..stride {
                let x = if active { Self::out(sc, &d.program, j) } else { 0.0 };
                sc.rows[i * stride + j] = x;
            }
        }
        sc.globals = globals;
        sc.poison = poison;
        r
    }

    /// Evaluates KPIs `which` (indices) over the demand rows in `sc` into `sc.kpis`.
    pub fn run_kpis<E: Env + ?Sized>(&self, which: &[usize], env: &E, sc: &mut Scratch<'_>) -> Result<(), EvalError> {
        sc.kpis.clear();
        if sc.phase == 0 {
            self.run_globals(0, env, sc);
        }
        if sc.phase == 1 {
            self.run_globals(1, env, sc);
        }
        let stride = self.fields.len();
        let (globals, poison) = (std::mem::take(&mut sc.globals), std::mem::take(&mut sc.poison));
        let rows = std::mem::take(&mut sc.rows);
        let engines = std::mem::take(&mut sc.engines);
        let mut aggs = std::mem::take(&mut sc.aggs);
        // the rows may have been set since the named formulas ran (loaded demands)
        if !sc.aggs_fresh {
            formula::aggregate_values(&self.aggregates, stride, &engines, &rows, &mut aggs);
            sc.aggs_fresh = true;
        }
        let mut r = Ok(());
        'kpis: for &ki in which {
            let Some(k) = self.kpis.get(ki) else { continue };
            let n = if k.for_each.is_some() { engines.len() } else { 1 };
            for row in 0..n {
                if let Some(engine) = k.for_each {
                    if engine != u32::MAX && engines[row] != engine {
                        continue;
                    }
                }
                let frame = Frame {
                    demands: DemandView { stride, engines: &engines, values: &rows },
                    row,
                    globals: &globals,
                    poison: &poison,
                    aggs: &aggs,
                    ..Frame::bare(&self.layout, &self.tables)
                };
                match self.exec(&k.program, env, &frame, sc) {
                    Ok(true) => {
                        let out = self.kpi_out(ki, k, row, |i| Self::out(sc, &k.program, i));
                        sc.kpis.push(out);
                    }
                    Ok(false) => {}
                    Err(e) => {
                        r = Err(e);
                        break 'kpis;
                    }
                }
            }
        }
        sc.rows = rows;
        sc.engines = engines;
        sc.globals = globals;
        sc.poison = poison;
        sc.aggs = aggs;
        r
    }

    /// A KPI's result from its program's outputs (`out(i)`).
    pub(crate) fn kpi_out(&self, ki: usize, k: &Kpi, row: usize, out: impl Fn(usize) -> f64) -> KpiOut {
        KpiOut {
            kpi: ki as u16,
            row: if k.for_each.is_some() { row as u16 } else { u16::MAX },
            required: out(0),
            budget: out(1),
            warn_at_pct: out(2),
            margin: out(3),
            margin_pct: out(4),
            status: out(5) as u32,
        }
    }

    /// Verdict counts of `kpis`.
    pub fn counts(&self, kpis: &[KpiOut]) -> Counts {
        let mut c = Counts { total: kpis.len() as u32, ..Counts::default() };
        for k in kpis {
            if k.status == self.status_ids[0] {
                c.pass += 1;
            } else if k.status == self.status_ids[1] {
                c.warn += 1;
            } else if k.status == self.status_ids[2] {
                c.fail += 1;
            }
        }
        c
    }

    /// The budget rules over one required/budget pair: `(margin, margin_pct, status)`.
    pub fn evaluate_budget(
        &self,
        required: f64,
        budget: f64,
        warn_at_pct: Option<f64>,
        sc: &mut Scratch<'_>,
    ) -> Result<(f64, f64, String), EvalError> {
        let (Some(p), Some(b)) = (&self.budget_program, &self.budget) else {
            return Err(EvalError::MissingKey("budget rules".into()));
        };
        let params = [required, budget, warn_at_pct.unwrap_or(b.warn_at_pct)];
        let frame = Frame { params: &params, ..Frame::bare(&self.layout, &self.tables) };
        let empty: [Val; 0] = [];
        formula::run(p, &empty[..], &frame, &mut sc.regs, &mut sc.strings)?;
        let g = |i: usize| p.out(&sc.regs, i);
        let status = sc.strings.text(g(2) as u32).to_string();
        Ok((g(0), g(1), status))
    }
}

/// A slider action on a state vector: `Set` the path to `x` (of type `ty`), or `Scale` the
/// number there by `x`.
pub(crate) fn act(op: ActionOp, pid: u32, ty: Ty, x: f64, state: &mut [Val]) -> Result<(), EvalError> {
    let Some(slot) = state.get_mut(pid as usize) else { return Err(EvalError::Missing(pid)) };
    match op {
        ActionOp::Set => {
            *slot = match ty {
                Ty::Num => Val::Num(x),
                Ty::Bool => Val::Bool(x != 0.0),
                Ty::Str => Val::Str(x as u32),
            }
        }
        ActionOp::Scale => match *slot {
            Val::Num(old) => *slot = Val::Num(old * x),
            Val::Missing => return Err(EvalError::Missing(pid)),
            _ => return Err(EvalError::Type(pid, Ty::Num)),
        },
    }
    Ok(())
}

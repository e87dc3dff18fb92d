//! What-if points in lanes: a block of `L` sweep (or grid) points evaluated together from one
//! incremental [`Base`]. Every program the plan re-runs — the varying sliders' actions, the
//! dirty named formulas, demand calculators and KPIs — runs once per block in the expression
//! core's lanes (one dispatch per instruction for the `L` points); each lane keeps its own
//! state vector, named-formula values, demand rows and KPI results. A lane's result, value or
//! error, is exactly what evaluating its point alone gives.

use super::formula::{
    DemandView, EvalError, Frame, Program, SizingHost, Strings, Ty, Val, aggregate_value, aggregate_values,
};
use super::{Base, Counts, KpiOut, Plan, SizingModel};
use crate::expr::code::END;
use crate::expr::vm::{self, Regs};

/// Buffers for evaluating `L` points at once on one thread.
#[derive(Debug)]
pub struct LaneScratch<'m, const L: usize> {
    bank: Vec<Regs<L>>,
    spill: Regs<1>,
    /// Run-time strings (shared by the lanes).
    pub strings: Strings<'m>,
    states: [Vec<Val>; L],
    globals: [Vec<f64>; L],
    poison: [Vec<Option<EvalError>>; L],
    rows: [Vec<f64>; L],
    aggs: [Vec<f64>; L],
    engines: Vec<u32>,
    /// Whether each demand row is active, per lane.
    pub active: [Vec<bool>; L],
    /// The KPI results of each lane (every KPI, or only the re-evaluated ones for counts).
    pub kpis: [Vec<KpiOut>; L],
    /// The first error each lane met (its point then fails).
    pub errors: [Option<EvalError>; L],
    base_id: u64,
}

/// A program run over the lanes: its outcome per lane.
type Outcomes<const L: usize> = [Result<u16, EvalError>; L];

fn run<const L: usize>(
    p: &Program,
    envs: &[&[Val]; L],
    frames: &[Frame<'_>; L],
    bank: &mut Vec<Regs<L>>,
    spill: &mut Regs<1>,
    strings: &mut Strings<'_>,
) -> Outcomes<L> {
    let id = p.id as usize;
    if bank.len() <= id {
        bank.resize_with(id + 1, Regs::new);
    }
    let mut h = SizingHost { envs: &envs[..], frames: &frames[..], strings };
    let mut out: Outcomes<L> = std::array::from_fn(|_| Ok(END));
    vm::run_lanes(p.core(), &mut h, &mut bank[id], spill, &mut out);
    out
}

/// Output `i` of `p` in lane `l` of its bank.
fn out<const L: usize>(bank: &[Regs<L>], p: &Program, i: usize, l: usize) -> f64 {
    match (bank.get(p.id as usize), p.outputs.get(i)) {
        (Some(b), Some((r, _))) => b.lane(*r, l),
        _ => 0.0,
    }
}

impl SizingModel {
    /// Fresh buffers for `L` lanes.
    pub fn lane_scratch<const L: usize>(&self) -> LaneScratch<'_, L> {
        LaneScratch {
            bank: Vec::new(),
            spill: Regs::new(),
            strings: Strings::new(&self.strings),
            states: std::array::from_fn(|_| Vec::new()),
            globals: std::array::from_fn(|_| Vec::new()),
            poison: std::array::from_fn(|_| Vec::new()),
            rows: std::array::from_fn(|_| Vec::new()),
            aggs: std::array::from_fn(|_| Vec::new()),
            engines: Vec::new(),
            active: std::array::from_fn(|_| Vec::new()),
            kpis: std::array::from_fn(|_| Vec::new()),
            errors: std::array::from_fn(|_| None),
            base_id: 0,
        }
    }

    /// Evaluates `L` points incrementally from `base`: lane `l` applies the slider values
    /// `values[l]` (they differ only in the sliders the plan varies). With `keep`, each lane's
    /// `kpis` holds every evaluated KPI in evaluation order (clean ones copied from the base);
    /// without, only the re-evaluated ones ([`SizingModel::lane_counts`] adds the base's).
    pub fn eval_lanes<const L: usize>(
        &self,
        base: &Base,
        plan: &Plan,
        values: &[&[Option<f64>]; L],
        sc: &mut LaneScratch<'_, L>,
        keep: bool,
    ) {
        let LaneScratch {
            bank,
            spill,
            strings,
            states,
            globals,
            poison,
            rows,
            aggs,
            engines,
            active,
            kpis,
            errors,
            base_id,
        } = sc;
        strings.reset();
        for e in errors.iter_mut() {
            *e = None;
        }
        for k in kpis.iter_mut() {
            k.clear();
        }
        let fresh = *base_id != base.id;
        if !fresh {
            // the buffers hold this base: only what the plan's sliders write changed since
            for s in states.iter_mut() {
                for &p in &plan.paths {
                    s[p as usize] = base.state[p as usize];
                }
            }
        } else {
            for l in 0..L {
                states[l].clone_from(&base.state);
                globals[l].clone_from(&base.globals);
                poison[l].clone_from(&base.poison);
                rows[l].clone_from(&base.rows);
                active[l].clone_from(&base.active);
            }
            engines.clone_from(&base.engines);
            *base_id = base.id;
        }
        let fail = |errors: &mut [Option<EvalError>; L], l: usize, e: EvalError| {
            if errors[l].is_none() {
                errors[l] = Some(e);
            }
        };
        let stride = self.fields.len();

        // 1. the plan's sliders, in catalog order
        for (i, s) in self.sliders.iter().enumerate() {
            if !plan.sliders.get(i).copied().unwrap_or(false) {
                continue;
            }
            let vs: [Option<f64>; L] = std::array::from_fn(|l| values[l].get(i).copied().flatten());
            if vs.iter().all(Option::is_none) {
                continue;
            }
            let params: [[f64; 1]; L] = std::array::from_fn(|l| [s.clamp(vs[l].unwrap_or(0.0))]);
            for (op, pid, prog) in &s.actions {
                let o = {
                    let envs: [&[Val]; L] = std::array::from_fn(|l| &states[l][..]);
                    let frames: [Frame<'_>; L] = std::array::from_fn(|l| Frame {
                        params: &params[l],
                        ..Frame::bare(&self.layout, &self.tables)
                    });
                    run(prog, &envs, &frames, bank, spill, strings)
                };
                let ty = prog.outputs.first().map_or(Ty::Num, |o| o.1);
                for (l, r) in o.into_iter().enumerate() {
                    if vs[l].is_none() || errors[l].is_some() {
                        continue;
                    }
                    if let Err(e) = r {
                        fail(errors, l, e);
                        continue;
                    }
                    if let Err(e) = super::act(*op, *pid, ty, out(bank, prog, 0, l), &mut states[l]) {
                        fail(errors, l, e);
                    }
                }
            }
        }

        // 2. named formulas before the demands, 3. demands, 4. named formulas after them
        for phase in [0u8, 1] {
            if phase == 1 {
                for &i in &plan.demand_list {
                    let Some(d) = self.demands.get(i) else { continue };
                    let o = {
                        let envs: [&[Val]; L] = std::array::from_fn(|l| &states[l][..]);
                        let frames: [Frame<'_>; L] = std::array::from_fn(|l| Frame {
                            globals: &globals[l],
                            poison: &poison[l],
                            ..Frame::bare(&self.layout, &self.tables)
                        });
                        run(&d.program, &envs, &frames, bank, spill, strings)
                    };
                    for (l, r) in o.into_iter().enumerate() {
                        match r {
                            Ok(code) => {
                                let on = code == END;
                                active[l][i] = on;
                                for j in 0..stride {
                                    rows[l][i * stride + j] = if on { out(bank, &d.program, j, l) } else { 0.0 };
                                }
                            }
                            Err(e) => fail(errors, l, e),
                        }
                    }
                }
                // the rows are final: the aggregates that may have changed, once per lane
                for l in 0..L {
                    if fresh {
                        aggregate_values(&self.aggregates, stride, engines, &rows[l], &mut aggs[l]);
                    } else {
                        for &a in &plan.agg_list {
                            aggs[l][a] = aggregate_value(self.aggregates[a], stride, engines, &rows[l]);
                        }
                    }
                }
            }
            for &g in &plan.global_list[usize::from(phase)] {
                let Some((p, _)) = self.global_programs.get(g) else { continue };
                let o = {
                    let envs: [&[Val]; L] = std::array::from_fn(|l| &states[l][..]);
                    let frames: [Frame<'_>; L] = std::array::from_fn(|l| Frame {
                        demands: DemandView { stride, engines, values: &rows[l] },
                        globals: &globals[l],
                        poison: &poison[l],
                        aggs: &aggs[l],
                        ..Frame::bare(&self.layout, &self.tables)
                    });
                    run(p, &envs, &frames, bank, spill, strings)
                };
                for (l, r) in o.into_iter().enumerate() {
                    match r {
                        Ok(_) => {
                            globals[l][g] = out(bank, p, 0, l);
                            poison[l][g] = None;
                        }
                        Err(e) => poison[l][g] = Some(e),
                    }
                }
            }
        }

        // 5. KPIs in evaluation order (the frames change only in the row)
        let envs: [&[Val]; L] = std::array::from_fn(|l| &states[l][..]);
        let mut frames: [Frame<'_>; L] = std::array::from_fn(|l| Frame {
            demands: DemandView { stride, engines, values: &rows[l] },
            globals: &globals[l],
            poison: &poison[l],
            aggs: &aggs[l],
            ..Frame::bare(&self.layout, &self.tables)
        });
        for &ki in &self.evaluation {
            let Some(k) = self.kpis.get(ki) else { continue };
            if !plan.kpis.get(ki).copied().unwrap_or(true) {
                if keep {
                    for lane in kpis.iter_mut() {
                        lane.extend_from_slice(&base.kpis[ki]);
                    }
                }
                continue;
            }
            let n = if k.for_each.is_some() { engines.len() } else { 1 };
            let wanted = |row: &usize| k.for_each.is_none_or(|e| e == u32::MAX || engines.get(*row) == Some(&e));
            for row in (0..n).filter(wanted) {
                for f in frames.iter_mut() {
                    f.row = row;
                }
                let o = run(&k.program, &envs, &frames, bank, spill, strings);
                for (l, r) in o.into_iter().enumerate() {
                    match r {
                        Ok(END) => kpis[l].push(self.kpi_out(ki, k, row, |i| out(bank, &k.program, i, l))),
                        Ok(_) => {}
                        Err(e) => fail(errors, l, e),
                    }
                }
            }
        }
        if errors.iter().any(Option::is_some) {
            // a failed lane may hold partial results: the next block starts from the base
            *base_id = 0;
        }
    }

    /// The verdict counts of lane `l` after [`SizingModel::eval_lanes`] without `keep`: the
    /// re-evaluated KPIs plus the base's clean ones.
    pub fn lane_counts<const L: usize>(&self, base: &Base, sc: &LaneScratch<'_, L>, l: usize) -> Counts {
        let c = self.counts(&sc.kpis[l]);
        let b = base.clean_counts;
        Counts { total: c.total + b.total, pass: c.pass + b.pass, warn: c.warn + b.warn, fail: c.fail + b.fail }
    }
}

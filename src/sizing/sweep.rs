//! Incremental sweeps: which part of an evaluation a change of some sliders invalidates (a
//! [`Plan`], from the taint of every program's inputs), and the [`Base`] evaluation a sweep's
//! points share, so each point re-runs only the programs its sliders reach.

use super::formula::{Dirty, EvalError, Program, Val};
use super::{Base, KpiOut, Plan, Scratch, SizingModel};

impl SizingModel {
    /// What a change of the paths `dirty` (and the sliders `varying`) invalidates, for
    /// re-evaluating only that part of each sweep point.
    pub fn plan(&self, varying: &[usize], applied: &[bool]) -> Plan {
        let mut dirty_paths: Vec<bool> = vec![false; self.layout.len()];
        let mut dirty_sliders = vec![false; self.sliders.len()];
        for &v in varying {
            dirty_sliders[v] = true;
            for (_, pid, _) in &self.sliders[v].actions {
                dirty_paths[*pid as usize] = true;
            }
        }
        let path_dirty = |p: &Program, dp: &[bool]| -> bool {
            p.reads.iter().any(|r| dp.get(*r as usize).copied().unwrap_or(false))
                || p.dyn_prefixes.iter().any(|pre| {
                    let prefix = format!("{}.", self.layout.paths[*pre as usize].text);
                    self.layout.paths.iter().enumerate().any(|(i, x)| dp[i] && x.text.starts_with(&prefix))
                })
        };
        // sliders whose actions read or write a dirty path are re-applied per point too
        loop {
            let mut changed = false;
            for (i, s) in self.sliders.iter().enumerate() {
                if dirty_sliders[i] || !applied.get(i).copied().unwrap_or(false) {
                    continue;
                }
                let touches =
                    s.actions.iter().any(|(_, pid, p)| dirty_paths[*pid as usize] || path_dirty(p, &dirty_paths));
                if touches {
                    dirty_sliders[i] = true;
                    for (_, pid, _) in &s.actions {
                        dirty_paths[*pid as usize] = true;
                    }
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
        // taint flows through the programs: globals, then demand fields, then aggregates
        let stride = self.fields.len();
        let engines: Vec<u32> = self.demands.iter().map(|d| d.engine).collect();
        let prefix_dirty = |pre: u32| {
            let prefix = format!("{}.", self.layout.paths[pre as usize].text);
            self.layout.paths.iter().enumerate().any(|(i, x)| dirty_paths[i] && x.text.starts_with(&prefix))
        };
        let mut globals = vec![false; self.global_programs.len()];
        let mut fields = vec![false; self.demands.len() * stride];
        let mut demands = vec![false; self.demands.len()];
        for phase in [0u8, 1] {
            if phase == 1 {
                for (i, d) in self.demands.iter().enumerate() {
                    let dirty = Dirty {
                        paths: &dirty_paths,
                        globals: &globals,
                        fields: &[],
                        engines: &engines,
                        stride,
                        prefix_dirty: &prefix_dirty,
                        aggs: &self.aggregates,
                    };
                    let t = d.program.tainted_outputs(&dirty);
                    for j in 0..stride {
                        fields[i * stride + j] = t.get(j).copied().unwrap_or(true);
                    }
                    demands[i] = t.iter().any(|x| *x);
                }
            }
            for (i, (p, ph)) in self.global_programs.iter().enumerate() {
                if *ph != phase {
                    continue;
                }
                let dirty = Dirty {
                    paths: &dirty_paths,
                    globals: &globals,
                    fields: &fields,
                    engines: &engines,
                    stride,
                    prefix_dirty: &prefix_dirty,
                    aggs: &self.aggregates,
                };
                globals[i] = p.tainted_outputs(&dirty).iter().any(|x| *x);
            }
        }
        let dirty = Dirty {
            paths: &dirty_paths,
            globals: &globals,
            fields: &fields,
            engines: &engines,
            stride,
            prefix_dirty: &prefix_dirty,
            aggs: &self.aggregates,
        };
        let kpis = self.kpis.iter().map(|k| k.program.tainted_outputs(&dirty).iter().any(|x| *x)).collect();
        let paths = self
            .sliders
            .iter()
            .enumerate()
            .filter(|(i, _)| dirty_sliders[*i])
            .flat_map(|(_, s)| s.actions.iter().map(|a| a.1))
            .collect();
        let global_list =
            [0u8, 1].map(|ph| (0..globals.len()).filter(|g| globals[*g] && self.global_programs[*g].1 == ph).collect());
        let demand_list = (0..demands.len()).filter(|d| demands[*d]).collect();
        let agg_list = (0..self.aggregates.len()).filter(|a| dirty.agg(*a)).collect();
        Plan { sliders: dirty_sliders, globals, demands, kpis, paths, global_list, demand_list, agg_list }
    }

    /// A base evaluation for incremental points: the state with every slider not in the plan
    /// applied, and one full evaluation of it with the plan's sliders at `values`.
    pub fn base(
        &self,
        start: &[Val],
        plan: &Plan,
        values: &[Option<f64>],
        sc: &mut Scratch<'_>,
    ) -> Result<Base, EvalError> {
        sc.reset();
        let mut state = start.to_vec();
        for (i, v) in values.iter().enumerate() {
            if let (Some(v), false) = (v, plan.sliders[i]) {
                self.apply_slider(i, *v, &mut state, sc)?;
            }
        }
        let base_state = state.clone();
        for (i, v) in values.iter().enumerate() {
            if let (Some(v), true) = (v, plan.sliders[i]) {
                self.apply_slider(i, *v, &mut state, sc)?;
            }
        }
        self.run_demands(&state[..], sc)?;
        self.run_kpis(&self.evaluation, &state[..], sc)?;
        let mut kpis: Vec<Vec<KpiOut>> = vec![Vec::new(); self.kpis.len()];
        for k in &sc.kpis {
            kpis[k.kpi as usize].push(*k);
        }
        let clean: Vec<KpiOut> = sc.kpis.iter().filter(|k| !plan.kpis[k.kpi as usize]).copied().collect();
        let clean_counts = self.counts(&clean);
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        Ok(Base {
            id: NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            state: base_state,
            globals: sc.globals.clone(),
            poison: sc.poison.clone(),
            rows: sc.rows.clone(),
            engines: sc.engines.clone(),
            active: sc.active.clone(),
            kpis,
            clean_counts,
        })
    }
}

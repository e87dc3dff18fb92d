//! Programs compiled against a finished model on demand: a call of one named formula with
//! arguments, and explanations — a KPI's program compiled again with tracing, its named
//! formulas inline, and run over an evaluation's state to record what each computed.

use super::build::compile_kpi;
use super::formula::{
    self, Compiler, Defs, DemandView, Describe, Env, Frame, Interner, Layout, Program, Scope, Strings, Ty, Val,
};
use super::{KpiOut, Scratch, SizingModel};
use crate::diagnostic::did_you_mean;
use crate::expr;
use crate::expr::vm::Regs;
use indexmap::IndexMap;

/// A KPI result and what its formulas computed, in evaluation order (an explanation).
#[derive(Debug, Clone)]
pub struct KpiTrace {
    /// The result.
    pub out: KpiOut,
    /// The names the traced program records.
    pub names: Vec<crate::expr::code::TraceName>,
    /// What its run recorded.
    pub trace: crate::expr::Trace,
}

impl SizingModel {
    /// Calls a named formula with arguments over `env`.
    /// String arguments are ids in `strings` (the model's own strings when `None`).
    pub fn call<E: Env + ?Sized>(
        &self,
        name: &str,
        args: &[Val],
        env: &E,
        strings: Option<&Interner>,
    ) -> Result<Val, String> {
        let f = self.formulas.get(name).ok_or_else(|| {
            format!(
                "unknown formula `{name}`{}",
                did_you_mean(name, self.formulas.keys().map(String::as_str))
                    .map(|h| format!("; {h}"))
                    .unwrap_or_default()
            )
        })?;
        if f.params.len() != args.len() {
            return Err(format!("formula `{name}` takes {} argument(s), got {}", f.params.len(), args.len()));
        }
        let (mut layout, mut strings, fields, aggs) = self.recompile(strings);
        let mut regs_vals = Vec::new();
        let params: Vec<&str> = f.params.iter().map(String::as_str).collect();
        let defs = self.defs(&fields, &aggs);
        // arguments are interned into the compiled strings so the program sees stable ids
        for a in args {
            regs_vals.push(match a {
                Val::Num(x) => (*x, Ty::Num),
                Val::Bool(b) => (if *b { 1.0 } else { 0.0 }, Ty::Bool),
                Val::Str(i) => (f64::from(*i), Ty::Str),
                _ => (0.0, Ty::Num),
            });
        }
        let mut c =
            Compiler::new(defs, &mut layout, &mut strings, Scope { params: &[], demand: false, aggregates: false });
        let mut regs = Vec::new();
        for (p, (_, ty)) in params.iter().zip(&regs_vals) {
            let r = c.param_reg(regs.len() as u16).map_err(|e| e.message)?;
            c.bind(p, r, *ty);
            regs.push(r);
        }
        let out_ty = c.infer_output(&f.expr).map_err(|e| e.message)?;
        let program = c.finish().map_err(|e| e.message)?;
        let values: Vec<f64> = regs_vals.iter().map(|(x, _)| *x).collect();
        let frame = Frame { params: &values, ..Frame::bare(&layout, &self.tables) };
        let mut sregs = Regs::new();
        let mut s = Strings::new(&strings);
        formula::run(&program, env, &frame, &mut sregs, &mut s).map_err(|e| e.message(&layout))?;
        let x = program.out(&sregs, 0);
        Ok(match out_ty {
            Ty::Num => Val::Num(x),
            Ty::Bool => Val::Bool(x != 0.0),
            Ty::Str => Val::Str(x as u32),
        })
    }

    /// Copies of what compiling another program over this model changes: its paths, strings
    /// (`strings` instead of the model's own when given), demand fields and aggregate table.
    #[allow(clippy::type_complexity)]
    fn recompile(
        &self,
        strings: Option<&Interner>,
    ) -> (Layout, Interner, IndexMap<String, ()>, std::cell::RefCell<Vec<formula::AggKey>>) {
        (
            self.layout.clone(),
            strings.cloned().unwrap_or_else(|| self.strings.clone()),
            self.fields.clone(),
            std::cell::RefCell::new(self.aggregates.clone()),
        )
    }

    /// The model's definitions over copies of its fields and aggregate table.
    fn defs<'a>(
        &'a self,
        fields: &'a IndexMap<String, ()>,
        aggs: &'a std::cell::RefCell<Vec<formula::AggKey>>,
    ) -> Defs<'a> {
        Defs { constants: &self.constants, tables: &self.table_defs, formulas: &self.formulas, fields, aggs }
    }

    /// The pack's constants (their values are what an explanation substitutes for them).
    pub fn constant_values(&self) -> impl Iterator<Item = (&str, Val)> {
        self.constants.iter().map(|(k, v)| (k.as_str(), *v))
    }

    /// Every KPI an evaluation (`sc`, as [`SizingModel::run_kpis`] left it, over `sc.state`)
    /// produced, run again by a traced program: its named formulas inline, each with its
    /// arguments and value, and every path it reads. Without budget rules there are none.
    pub fn explain(&self, sc: &Scratch<'_>) -> Result<Vec<KpiTrace>, String> {
        let Some(b) = &self.budget else { return Ok(Vec::new()) };
        let parse = |t: &str| expr::parse(t).map_err(|e| e.message);
        let (m, mp, st) = (parse(&b.margin)?, parse(&b.margin_pct)?, parse(&b.status)?);
        let (mut layout, mut strings, fields, aggs) = self.recompile(None);
        let defs = self.defs(&fields, &aggs);
        let stride = self.fields.len();
        // one traced program per KPI (a per-demand KPI's rows share it)
        let mut programs: std::collections::HashMap<u16, Program> = std::collections::HashMap::new();
        let mut out = Vec::new();
        for k in &sc.kpis {
            let Some(kpi) = self.kpis.get(k.kpi as usize) else { continue };
            let program = match programs.entry(k.kpi) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(e) => {
                    let scope = Scope { params: &[], demand: kpi.for_each.is_some(), aggregates: true };
                    let mut c = Compiler::new(defs, &mut layout, &mut strings, scope);
                    c.set_traced();
                    compile_kpi(&mut c, &kpi.def, b.warn_at_pct, (&m, &mp, &st)).map_err(|(e, _)| e.message)?;
                    e.insert(c.finish().map_err(|e| e.message)?)
                }
            };
            let frame = Frame {
                demands: DemandView { stride, engines: &sc.engines, values: &sc.rows },
                row: if k.row == u16::MAX { 0 } else { k.row as usize },
                globals: &sc.globals,
                poison: &sc.poison,
                aggs: &sc.aggs,
                ..Frame::bare(&layout, &self.tables)
            };
            let mut regs = Regs::new();
            let mut run_strings = Strings::new(&strings);
            let mut trace = crate::expr::Trace::default();
            formula::run_traced(program, &sc.state[..], &frame, &mut regs, &mut run_strings, &mut trace)
                .map_err(|e| e.message(&layout))?;
            out.push(KpiTrace { out: *k, names: program.core().trace_names.clone(), trace });
        }
        Ok(out)
    }
}

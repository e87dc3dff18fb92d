//! The run-time side of the sizing dialect: a compiled [`Program`] (what it outputs and
//! reads, and which outputs a change of its inputs taints), the host operations its `Ext`
//! instructions call ([`op`]), and [`SizingHost`], through which a run reads its documents,
//! demand rows, named-formula values, aggregates and tables ([`Frame`]). Errors are the
//! expression core's, described against the layout ([`Describe`]).

use super::aggregate::{Agg, AggKey, DemandView};
use super::layout::{Env, Layout};
use super::value::{Strings, Table, Val};
use crate::expr::vm::{Host, Regs};
use crate::expr::{Ins, Reg, Ty};

/// A run-time error of a sizing formula (the expression core's), rendered against the
/// layout by [`Describe`].
pub type EvalError = crate::expr::VmError;

/// Messages and exception classes of [`EvalError`]s.
pub trait Describe {
    /// Lower-case message.
    fn message(&self, layout: &Layout) -> String;
    /// The reference's exception class for this error.
    fn kind(&self) -> &'static str;
}

impl Describe for EvalError {
    fn message(&self, layout: &Layout) -> String {
        let name = |p: &u32| layout.paths.get(*p as usize).map_or("?", |i| i.text.as_str()).to_string();
        match self {
            EvalError::Missing(p) => format!("missing value `{}`", name(p)),
            EvalError::Type(p, t) => format!("`{}` is not {}", name(p), t.a_name()),
            EvalError::NotValue(p) => format!("`{}` is a map or a list, not a value", name(p)),
            EvalError::DivZero => "division by zero".into(),
            EvalError::Domain(w) => format!("math domain error in `{w}`"),
            EvalError::MissingKey(k) => format!("missing value `{k}`"),
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            EvalError::Missing(_) | EvalError::MissingKey(_) => "KeyError",
            EvalError::Type(..) | EvalError::NotValue(_) => "TypeError",
            EvalError::DivZero => "ZeroDivisionError",
            EvalError::Domain(_) => "ValueError",
        }
    }
}

/// Host operations of sizing programs.
pub mod op {
    /// `field(prefix, key)` (`k`: prefix path; `x`: type | 4 for a presence test): in [key],
    /// out [value].
    pub const DYN: u8 = 0;
    /// A number of the current demand row (`k`: field): out [value].
    pub const FIELD: u8 = 1;
    /// The current demand row's engine: out [string].
    pub const ENGINE: u8 = 2;
    /// A named formula computed once per evaluation (`k`: global): out [value].
    pub const GLOBAL: u8 = 3;
    /// An aggregate over demand rows, precomputed once its rows are final (`k`: its entry in
    /// the model's aggregate table; `x`: kind | field << 2, for listings): out [value].
    pub const AGG: u8 = 4;
    /// A table lookup (`x`: table; `k`: 1 when a missing key is an error): in [key],
    /// out [value, found].
    pub const LOOKUP: u8 = 5;
}

/// The type code of `t` in an `Ext` instruction's `x` (see [`op::DYN`]).
pub(super) fn ty_code(t: Ty) -> u16 {
    match t {
        Ty::Num => 0,
        Ty::Bool => 1,
        Ty::Str => 2,
    }
}

/// The type of a type code (the low two bits of `x`).
fn code_ty(x: u16) -> Ty {
    match x & 3 {
        1 => Ty::Bool,
        2 => Ty::Str,
        _ => Ty::Num,
    }
}

/// A compiled sizing program: the core program, its outputs and what it reads.
#[derive(Debug, Clone, Default)]
pub struct Program {
    /// The core program.
    pub(crate) code: crate::expr::Program,
    /// Output registers and types, in declaration order.
    pub outputs: Vec<(Reg, Ty)>,
    /// Paths read (for validation and dependency listing).
    pub reads: Vec<u32>,
    /// Prefixes read with a run-time key (`field(…)`).
    pub dyn_prefixes: Vec<u32>,
    /// Globals read.
    pub globals_read: Vec<u16>,
    /// Reads demand rows (aggregates, `demand.*`).
    pub uses_rows: bool,
    /// Index in the model (its register bank in a scratch).
    pub(crate) id: u32,
}

impl Program {
    /// The instructions.
    pub fn instructions(&self) -> &[Ins] {
        self.code.code()
    }

    /// Number of registers.
    pub fn registers(&self) -> usize {
        self.code.registers()
    }

    /// The core program.
    pub fn core(&self) -> &crate::expr::Program {
        &self.code
    }

    /// Output `i` in a register file this program ran in.
    #[inline]
    pub fn out(&self, regs: &Regs<1>, i: usize) -> f64 {
        self.outputs.get(i).map_or(0.0, |(r, _)| regs.at(*r))
    }
}

/// Which inputs of a program changed, for [`Program::tainted_outputs`].
pub struct Dirty<'a> {
    /// Paths that changed (by path id).
    pub paths: &'a [bool],
    /// Globals that changed.
    pub globals: &'a [bool],
    /// Per demand-row field (`[row * stride + field]`) that changed.
    pub fields: &'a [bool],
    /// Engine of each demand row.
    pub engines: &'a [u32],
    /// Fields per row.
    pub stride: usize,
    /// Every path whose text starts with a prefix (for `field(…)` reads).
    pub prefix_dirty: &'a dyn Fn(u32) -> bool,
    /// The model's aggregate table.
    pub aggs: &'a [AggKey],
}

impl Dirty<'_> {
    /// Whether field `f` changed in any row (of `engine`, when given; `u32::MAX`: any).
    fn field(&self, f: u16, engine: Option<u32>) -> bool {
        (0..self.engines.len()).any(|row| {
            engine.is_none_or(|e| e == u32::MAX || self.engines[row] == e)
                && self.fields.get(row * self.stride + f as usize).copied().unwrap_or(false)
        })
    }

    /// Whether entry `a` of the model's aggregate table may change (a count only changes
    /// with the rows themselves, which are fixed).
    pub fn agg(&self, a: usize) -> bool {
        match self.aggs.get(a) {
            Some(&(kind, f, engine)) => kind != Agg::Count && self.field(f, Some(engine)),
            None => true,
        }
    }
}

impl Program {
    /// Which outputs may change when the inputs marked in `dirty` change (the core's taint
    /// analysis with this dialect's reads as sources). The last element is true when the
    /// program's gate may flip.
    pub fn tainted_outputs(&self, dirty: &Dirty<'_>) -> Vec<bool> {
        let t = crate::expr::taint::taint(&self.code, |ins| match *ins {
            Ins::Load { k, .. } | Ins::Has { k, .. } => dirty.paths.get(k as usize).copied().unwrap_or(true),
            Ins::Ext { op: op::DYN, k, .. } => (dirty.prefix_dirty)(k),
            Ins::Ext { op: op::FIELD, k, .. } => dirty.field(k as u16, None),
            Ins::Ext { op: op::GLOBAL, k, .. } => dirty.globals.get(k as usize).copied().unwrap_or(true),
            Ins::Ext { op: op::AGG, k, .. } => dirty.agg(k as usize),
            _ => false,
        });
        let mut out: Vec<bool> = self.outputs.iter().map(|(r, _)| t.reg(*r) || t.exits).collect();
        out.push(t.exits);
        out
    }
}

/// What a program runs against besides its documents.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    /// The model's paths.
    pub layout: &'a Layout,
    /// The model's tables.
    pub tables: &'a [Table],
    /// Demand rows.
    pub demands: DemandView<'a>,
    /// The current demand row (per-demand KPIs).
    pub row: usize,
    /// Parameters.
    pub params: &'a [f64],
    /// Precomputed named formulas of this evaluation.
    pub globals: &'a [f64],
    /// Their errors, raised when read.
    pub poison: &'a [Option<EvalError>],
    /// The aggregates of the demand rows, by the model's aggregate table.
    pub aggs: &'a [f64],
}

impl<'a> Frame<'a> {
    /// A frame with no demand rows, parameters, named-formula values or aggregates.
    pub fn bare(layout: &'a Layout, tables: &'a [Table]) -> Self {
        Frame { layout, tables, demands: DemandView::EMPTY, row: 0, params: &[], globals: &[], poison: &[], aggs: &[] }
    }
}

#[inline]
fn val_to(v: Val, ty: Ty, p: u32) -> Result<f64, EvalError> {
    match (v, ty) {
        (Val::Num(x), Ty::Num) => Ok(x),
        (Val::Bool(b), Ty::Bool) => Ok(if b { 1.0 } else { 0.0 }),
        // Python truthiness for flags written as numbers
        (Val::Num(x), Ty::Bool) => Ok(if x != 0.0 { 1.0 } else { 0.0 }),
        (Val::Str(i), Ty::Str) => Ok(f64::from(i)),
        (Val::Map, _) => Err(EvalError::NotValue(p)),
        (Val::Missing, _) => Err(EvalError::Missing(p)),
        _ => Err(EvalError::Type(p, ty)),
    }
}

/// The sizing dialect's host: the documents and frame of each lane, and the run's strings.
pub struct SizingHost<'a, 's, 'm, E: Env + ?Sized> {
    /// The documents of each lane.
    pub envs: &'a [&'a E],
    /// The frame of each lane.
    pub frames: &'a [Frame<'a>],
    /// Strings (interned; new text gets new ids).
    pub strings: &'s mut Strings<'m>,
}

impl<'a, E: Env + ?Sized> SizingHost<'a, '_, '_, E> {
    #[inline]
    fn env(&self, lane: usize) -> &'a E {
        self.envs[lane.min(self.envs.len().saturating_sub(1))]
    }

    #[inline]
    fn frame(&self, lane: usize) -> Frame<'a> {
        self.frames[lane.min(self.frames.len().saturating_sub(1))]
    }
}

impl<E: Env + ?Sized> Host for SizingHost<'_, '_, '_, E> {
    const CANONICAL_STRINGS: bool = true;

    #[inline]
    fn load(&mut self, lane: usize, k: u32, ty: Ty) -> Result<f64, EvalError> {
        let f = self.frame(lane);
        let v = match self.env(lane).get(k, f.layout, self.strings) {
            Val::Missing => f.layout.paths.get(k as usize).and_then(|i| i.default).unwrap_or(Val::Missing),
            v => v,
        };
        val_to(v, ty, k)
    }

    #[inline]
    fn has(&mut self, lane: usize, k: u32) -> bool {
        let f = self.frame(lane);
        !matches!(self.env(lane).get(k, f.layout, self.strings), Val::Missing)
    }

    #[inline]
    fn param(&self, lane: usize, i: u16) -> f64 {
        self.frame(lane).params.get(i as usize).copied().unwrap_or(0.0)
    }

    fn ext(&mut self, lane: usize, code: u8, x: u16, k: u32, inp: &[f64], out: &mut [f64]) -> Result<(), EvalError> {
        let f = self.frame(lane);
        let v = match code {
            op::DYN => {
                let key = inp.first().copied().unwrap_or(0.0) as u32;
                let v = self.env(lane).dynamic(k, key, f.layout, self.strings);
                if x & 4 != 0 {
                    if matches!(v, Val::Missing) { 0.0 } else { 1.0 }
                } else {
                    match v {
                        Val::Missing => {
                            let pre = f.layout.paths.get(k as usize).map_or("", |i| i.text.as_str());
                            return Err(EvalError::MissingKey(format!("{pre}.{}", self.strings.text(key))));
                        }
                        v => val_to(v, code_ty(x), k)?,
                    }
                }
            }
            op::FIELD => {
                let i = f.row * f.demands.stride + k as usize;
                f.demands.values.get(i).copied().unwrap_or(0.0)
            }
            op::ENGINE => f.demands.engines.get(f.row).map_or(f64::from(u32::MAX), |&e| f64::from(e)),
            op::GLOBAL => {
                if let Some(Some(e)) = f.poison.get(k as usize) {
                    return Err(e.clone());
                }
                f.globals.get(k as usize).copied().unwrap_or(0.0)
            }
            op::AGG => f.aggs.get(k as usize).copied().unwrap_or(0.0),
            op::LOOKUP => {
                let key = inp.first().copied().unwrap_or(0.0) as u32;
                let table = f.tables.get(x as usize);
                match table.and_then(|t| t.entries.get(&key)) {
                    Some(v) => {
                        if let Some(ok) = out.get_mut(1) {
                            *ok = 1.0;
                        }
                        match *v {
                            Val::Num(x) => x,
                            Val::Bool(b) => f64::from(u8::from(b)),
                            Val::Str(i) => f64::from(i),
                            _ => 0.0,
                        }
                    }
                    None if k == 1 => {
                        let name = table.map_or("", |t| t.name.as_str());
                        return Err(EvalError::MissingKey(format!("{name}[{}]", self.strings.text(key))));
                    }
                    None => {
                        if let Some(ok) = out.get_mut(1) {
                            *ok = 0.0;
                        }
                        return Ok(());
                    }
                }
            }
            _ => 0.0,
        };
        if let Some(o) = out.first_mut() {
            *o = v;
        }
        Ok(())
    }

    #[inline]
    fn text(&self, _: usize, h: f64) -> &str {
        self.strings.text(h as u32)
    }

    fn concat(&mut self, _: usize, a: f64, b: f64) -> f64 {
        f64::from(self.strings.concat(a as u32, b as u32))
    }

    fn make_str(&mut self, _: usize, s: String) -> f64 {
        f64::from(self.strings.id(&s))
    }
}

/// Runs `p` in `regs` (which keep its constants between runs). Returns `Ok(false)` when a
/// gate stopped it (an inactive demand, a KPI whose `when` is false); outputs are then not
/// meaningful.
pub fn run<E: Env + ?Sized>(
    p: &Program,
    env: &E,
    f: &Frame<'_>,
    regs: &mut Regs<1>,
    s: &mut Strings<'_>,
) -> Result<bool, EvalError> {
    run_with(p, env, f, regs, s, None)
}

/// [`run`], recording the values a traced program computes into `trace`.
pub fn run_traced<E: Env + ?Sized>(
    p: &Program,
    env: &E,
    f: &Frame<'_>,
    regs: &mut Regs<1>,
    s: &mut Strings<'_>,
    trace: &mut crate::expr::Trace,
) -> Result<bool, EvalError> {
    run_with(p, env, f, regs, s, Some(trace))
}

fn run_with<E: Env + ?Sized>(
    p: &Program,
    env: &E,
    f: &Frame<'_>,
    regs: &mut Regs<1>,
    s: &mut Strings<'_>,
    trace: Option<&mut crate::expr::Trace>,
) -> Result<bool, EvalError> {
    let envs = [env];
    let frames = [*f];
    let mut h = SizingHost { envs: &envs, frames: &frames, strings: s };
    crate::expr::vm::run(&p.code, &mut h, regs, trace).map(|o| o == crate::expr::code::END)
}

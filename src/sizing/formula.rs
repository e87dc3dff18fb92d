//! The sizing dialect of the expression core: the expressions of a pack (demands, KPIs,
//! slider actions, budget rules) lowered through [`crate::expr::lower`] into register
//! programs. This module resolves the packs' names (profile and workload paths, constants,
//! tables, named formulas, demand fields and aggregates, program parameters) and registers
//! the built-ins (`default`, `field`, `lookup`, the aggregates, variadic `min`/`max`, `ln`,
//! …); evaluation reads them through [`SizingHost`].
//!
//! Strings are interned (a register holds the id), booleans are 0/1, and every read of a
//! profile or workload value goes through an [`Env`] — a flat state vector in the what-if
//! runner, a JSON tree for one-off batch calls — so one compiled program serves both. Math
//! fails like Python (division by zero, `sqrt` of a negative), as the reference's did.
//!
//! The run-time side lives beside it and is re-exported here under its old paths: values and
//! strings (`value.rs`), paths and documents (`layout.rs`), demand rows and their aggregates
//! (`aggregate.rs`), and programs and their host (`host.rs`).

use crate::diagnostic::closest;
use crate::expr::lower::{self, Dialect, Lower, V, min_at};
use crate::expr::{BinOp, Expr, Ins, Op1};
use indexmap::IndexMap;
use std::collections::HashMap;

pub use super::aggregate::{Agg, AggKey, DEMAND_FIELDS, DemandView, aggregate_value, aggregate_values};
use super::host::ty_code;
pub use super::host::{Describe, Dirty, EvalError, Frame, Program, SizingHost, op, run, run_traced};
pub use super::layout::{Env, JsonEnv, Layout, PathInfo, Root, json_val, split_root};
pub use super::value::{Fx, FxMap, Interner, Strings, Table, Val};
pub use crate::expr::{Reg, Ty};

/// Outcome of a program stopped by its gate.
const INACTIVE: u16 = 0;

/// A compile error at an offset of a formula (the named formula, when it is one).
pub type CompileError = lower::CompileError<Option<String>>;

type CR<T> = Result<T, CompileError>;

/// A named formula of a pack.
#[derive(Debug, Clone)]
pub struct NamedFormula {
    /// Parameter names.
    pub params: Vec<String>,
    /// The expression.
    pub expr: Expr,
    /// Its text (shown by explanations).
    pub text: String,
}

/// The named things formulas may refer to.
#[derive(Debug, Clone, Copy)]
pub struct Defs<'a> {
    /// Constants.
    pub constants: &'a IndexMap<String, Val>,
    /// Tables by name (index = table id).
    pub tables: &'a IndexMap<String, Table>,
    /// Named formulas.
    pub formulas: &'a IndexMap<String, NamedFormula>,
    /// Demand fields by name (index = field id).
    pub fields: &'a IndexMap<String, ()>,
    /// The aggregates formulas read (`AGG` reads entry `k`), collected as they compile.
    pub aggs: &'a std::cell::RefCell<Vec<AggKey>>,
}

/// A named formula computed once per evaluation.
#[derive(Debug, Clone)]
pub struct GlobalDef {
    /// Slot.
    pub slot: u16,
    /// Result type.
    pub ty: Ty,
    /// Paths it reads (for validation at the reader).
    pub refs: Vec<PathRef>,
}

/// What an expression may name besides the pack's definitions.
#[derive(Debug, Clone, Copy, Default)]
pub struct Scope<'a> {
    /// Program parameters by name (`value` in slider actions, `required`/`budget`/… in budget
    /// rules).
    pub params: &'a [&'a str],
    /// `demand.*` is available (per-demand KPIs).
    pub demand: bool,
    /// Aggregates over demands are available.
    pub aggregates: bool,
}

/// One read of a path by a formula.
#[derive(Debug, Clone, PartialEq)]
pub struct PathRef {
    /// Path id.
    pub path: u32,
    /// Offset in the formula text.
    pub at: usize,
    /// The named formula the read is in (`None`: the expression itself).
    pub formula: Option<String>,
    /// The read is a presence test (`has`, `default`).
    pub guarded: bool,
    /// The caller's tag.
    pub tag: usize,
}

/// Built-in functions (for suggestions and docs).
pub const BUILTINS: &[&str] = &[
    "if",
    "default",
    "has",
    "field",
    "min",
    "max",
    "abs",
    "floor",
    "ceil",
    "sqrt",
    "ln",
    "exp",
    "round",
    "lookup",
    "sum_demands",
    "max_demands",
    "count_demands",
];

/// The sizing dialect's state while one program is lowered.
pub struct Sizing<'a> {
    defs: Defs<'a>,
    layout: &'a mut Layout,
    strings: &'a mut Interner,
    scope: Scope<'a>,
    globals: Option<&'a IndexMap<String, GlobalDef>>,
    path_refs: Vec<PathRef>,
    ref_tag: usize,
    outputs: Vec<(Reg, Ty)>,
}

type Cx<'a> = Lower<Sizing<'a>>;

fn err(cx: &Cx<'_>, message: impl Into<String>, at: usize) -> CompileError {
    cx.err(at, message)
}

/// The plain name of a memo key (`f(k1,k2)` → `f`).
fn key_name(k: &str) -> &str {
    k.split_once('(').map_or(k, |(n, _)| n)
}

/// The outermost named formula being compiled (where a path read is reported).
fn outer_formula(cx: &Cx<'_>) -> Option<String> {
    cx.stack().first().map(|k| key_name(k).to_string())
}

impl<'a> Dialect for Sizing<'a> {
    type Site = Option<String>;
    const CHECKED_MATH: bool = true;

    fn var(cx: &mut Cx<'a>, name: &str, at: usize, want: Option<Ty>) -> CR<V> {
        var(cx, name, at, want)
    }

    fn call(cx: &mut Cx<'a>, name: &str, args: &[Expr], at: usize, want: Option<Ty>) -> CR<V> {
        call(cx, name, args, at, want)
    }

    fn str_const(cx: &mut Cx<'a>, s: &str) -> f64 {
        f64::from(cx.d.strings.intern(s))
    }

    fn type_error(cx: &Cx<'a>, got: Ty, want: Ty, _: &str, e: &Expr, _: usize) -> CompileError {
        err(
            cx,
            format!("expected {}, found {} in `{}`", want.a_name(), got.a_name(), crate::expr::render(e)),
            min_at(e),
        )
    }

    fn operand_error(cx: &Cx<'a>, op: BinOp, a: (&Expr, Ty), b: (&Expr, Ty), whole: &Expr) -> CompileError {
        if matches!(op, BinOp::Eq | BinOp::Ne) {
            return err(
                cx,
                format!("cannot compare {} with {} in `{}`", a.1.a_name(), b.1.a_name(), crate::expr::render(whole)),
                min_at(a.0),
            );
        }
        let (e, t) = if a.1 != Ty::Num { a } else { b };
        Self::type_error(cx, t, Ty::Num, "", e, 0)
    }

    fn branch_error(cx: &Cx<'a>, then: Ty, other: (&Expr, Ty), at: usize) -> CompileError {
        err(cx, format!("both branches must have one type: {} and {}", then.a_name(), other.1.a_name()), at)
    }

    fn cycle_error(
        cx: &Cx<'a>,
        stack: &[String],
        _: usize,
        display: &str,
        _: &Option<String>,
        at: usize,
    ) -> CompileError {
        let mut chain: Vec<&str> = stack.iter().map(|k| key_name(k)).collect();
        chain.push(display);
        err(cx, format!("formulas form a cycle: {}", chain.join(" → ")), at)
    }

    fn checkpoint(&self) -> usize {
        self.path_refs.len()
    }

    fn rollback(&mut self, mark: usize) {
        self.path_refs.truncate(mark);
    }
}

fn is_path(name: &str) -> bool {
    split_root(name).is_some()
}

fn path_id(cx: &mut Cx<'_>, name: &str, at: usize) -> CR<u32> {
    match cx.d.layout.id(name) {
        Some(p) => Ok(p),
        None => Err(err(cx, format!("`{name}` is not a valid path"), at)),
    }
}

fn load_path(cx: &mut Cx<'_>, name: &str, at: usize, want: Option<Ty>) -> CR<V> {
    let p = path_id(cx, name, at)?;
    let known = cx.d.layout.paths[p as usize].ty;
    let ty = match (known, want) {
        (Some(k), _) => k,
        (None, Some(w)) => w,
        (None, None) => Ty::Num,
    };
    if known.is_none() {
        cx.d.layout.paths[p as usize].ty = Some(ty);
    }
    let has_default = cx.d.layout.paths[p as usize].default.is_some();
    let formula = outer_formula(cx);
    let tag = cx.d.ref_tag;
    cx.d.path_refs.push(PathRef { path: p, at, formula, guarded: has_default, tag });
    // a path read once per branch level: the documents do not change during a run
    let key = format!("path:{p}");
    if let Some(v) = cx.memo_get(&key) {
        return Ok(v);
    }
    let d = cx.reg()?;
    cx.emit(Ins::Load { d, ty, k: p });
    cx.memo_put(key, V::R(d, ty));
    cx.trace(name, "", &V::R(d, ty), false)?;
    Ok(V::R(d, ty))
}

fn var<'a>(cx: &mut Cx<'a>, name: &str, at: usize, want: Option<Ty>) -> CR<V> {
    if let Some(b) = cx.param(name) {
        return Ok(b);
    }
    if let Some(i) = cx.d.scope.params.iter().position(|p| *p == name) {
        let ty = want.unwrap_or(Ty::Num);
        let key = format!("param:{i}:{}", ty.name());
        if let Some(v) = cx.memo_get(&key) {
            return Ok(v);
        }
        let d = cx.reg()?;
        cx.emit_prologue(Ins::Param { d, i: i as u16 });
        cx.memo_put_root(key, V::R(d, ty));
        return Ok(V::R(d, ty));
    }
    if let Some(field) = name.strip_prefix("demand.") {
        if !cx.d.scope.demand {
            return Err(err(cx, format!("`{name}` is only available in a per-demand KPI (one with `for_each`)"), at));
        }
        if field == "target_engine" {
            let d = cx.reg()?;
            cx.emit(Ins::Ext { op: op::ENGINE, n_in: 0, n_out: 1, d, a: 0, x: 0, k: 0 });
            return Ok(V::R(d, Ty::Str));
        }
        return match cx.d.defs.fields.get_index_of(field) {
            Some(f) => {
                let d = cx.reg()?;
                cx.emit(Ins::Ext { op: op::FIELD, n_in: 0, n_out: 1, d, a: 0, x: 0, k: f as u32 });
                Ok(V::R(d, Ty::Num))
            }
            None => Err(CompileError {
                message: format!("unknown demand field `{field}`"),
                help: crate::diagnostic::did_you_mean(
                    field,
                    cx.d.defs.fields.keys().map(String::as_str).chain(["target_engine"]),
                ),
                at,
                site: cx.site.clone(),
            }),
        };
    }
    if is_path(name) {
        return load_path(cx, name, at, want);
    }
    if let Some(v) = cx.d.defs.constants.get(name).copied() {
        return match v {
            Val::Num(x) => Ok(V::N(x)),
            Val::Bool(b) => Ok(V::B(b)),
            Val::Str(i) => Ok(V::S(cx.d.strings.text(i).unwrap_or("").to_string())),
            _ => Err(err(cx, format!("constant `{name}` has no value"), at)),
        };
    }
    if let Some(f) = cx.d.defs.formulas.get(name) {
        if !f.params.is_empty() {
            return Err(err(
                cx,
                format!("formula `{name}` takes {} argument(s): call it as `{name}(…)`", f.params.len()),
                at,
            ));
        }
        return named(cx, name, Vec::new(), at);
    }
    let mut cands: Vec<&str> = cx.d.scope.params.to_vec();
    cands.extend(cx.d.defs.constants.keys().map(String::as_str));
    cands.extend(cx.d.defs.formulas.keys().map(String::as_str));
    let bound: Vec<String> = cx.params().map(str::to_string).collect();
    cands.extend(bound.iter().map(String::as_str));
    let paths: Vec<String> = cx.d.layout.provided().map(str::to_string).collect();
    let help = crate::diagnostic::did_you_mean(name, cands.iter().copied().chain(paths.iter().map(String::as_str)));
    Err(CompileError {
        message: format!(
            "unknown variable `{name}` (formulas read `profile.…`, `workload.…`, constants and named formulas)"
        ),
        help,
        at,
        site: cx.site.clone(),
    })
}

fn named<'a>(cx: &mut Cx<'a>, name: &str, args: Vec<V>, at: usize) -> CR<V> {
    if args.is_empty() {
        if let Some(m) = cx.memo_get(name) {
            return Ok(m);
        }
        if let Some(g) = cx.d.globals.and_then(|gs| gs.get(name)) {
            let d = cx.reg()?;
            cx.emit(Ins::Ext { op: op::GLOBAL, n_in: 0, n_out: 1, d, a: 0, x: 0, k: u32::from(g.slot) });
            let formula = outer_formula(cx).or_else(|| Some(name.to_string()));
            let tag = cx.d.ref_tag;
            for r in &g.refs {
                let mut r = r.clone();
                r.tag = tag;
                if r.formula.is_none() {
                    r.formula = formula.clone();
                }
                cx.d.path_refs.push(r);
            }
            let v = V::R(d, g.ty);
            cx.memo_put(name.to_string(), v.clone());
            return Ok(v);
        }
    }
    let formulas = cx.d.defs.formulas;
    let Some(f) = formulas.get(name) else {
        return Err(err(cx, format!("unknown formula `{name}`"), at));
    };
    let key = if args.is_empty() {
        name.to_string()
    } else {
        format!("{name}({})", args.iter().map(V::key).collect::<Vec<_>>().join(","))
    };
    if cx.traced && cx.memo_get(&key).is_none() {
        for (p, v) in f.params.iter().zip(&args) {
            cx.trace(p, "", v, false)?;
        }
    }
    // a named formula sees only its own parameters, not the caller's
    let params: HashMap<String, V> = f.params.iter().cloned().zip(args).collect();
    cx.named(&key, name, &f.text, &f.expr, Some(name.to_string()), params, at)
}

fn str_literal<'e>(cx: &Cx<'_>, e: &'e Expr, what: &str, at: usize) -> CR<&'e str> {
    match e {
        Expr::Str(s) => Ok(s),
        _ => Err(err(cx, format!("{what} must be a string literal"), at)),
    }
}

fn arity(cx: &Cx<'_>, name: &str, args: &[Expr], min: usize, max: usize, at: usize) -> CR<()> {
    if args.len() < min || args.len() > max {
        let n = if min == max { format!("{min}") } else { format!("{min} to {max}") };
        return Err(err(cx, format!("`{name}` takes {n} argument(s), got {}", args.len()), at));
    }
    Ok(())
}

fn field_index(cx: &Cx<'_>, metric: &str, at: usize) -> CR<u16> {
    cx.d.defs.fields.get_index_of(metric).map(|i| i as u16).ok_or_else(|| CompileError {
        message: format!("unknown demand metric `{metric}`"),
        help: crate::diagnostic::did_you_mean(metric, cx.d.defs.fields.keys().map(String::as_str)),
        at,
        site: cx.site.clone(),
    })
}

/// `e` checked to be of type `want`.
fn typed<'a>(cx: &mut Cx<'a>, e: &Expr, want: Ty) -> CR<V> {
    let v = cx.expr(e, Some(want))?;
    cx.check(v, want, "", e, 0)
}

fn call<'a>(cx: &mut Cx<'a>, name: &str, args: &[Expr], at: usize, want: Option<Ty>) -> CR<V> {
    match name {
        "if" => {
            arity(cx, name, args, 3, 3, at)?;
            cx.if_(args, at, want)
        }
        "default" => {
            arity(cx, name, args, 2, 2, at)?;
            let has = presence(cx, &args[0], at)?;
            let (a0, a1) = (&args[0], &args[1]);
            cx.branches(has, &mut |cx| cx.expr(a0, want), &mut |cx, t| {
                let v = cx.expr(a1, Some(t))?;
                if v.ty() != t {
                    return Err(<Sizing<'a> as Dialect>::branch_error(cx, t, (a1, v.ty()), at));
                }
                Ok(v)
            })
        }
        "has" => {
            arity(cx, name, args, 1, 1, at)?;
            let r = presence(cx, &args[0], at)?;
            Ok(V::R(r, Ty::Bool))
        }
        "field" => {
            arity(cx, name, args, 2, 2, at)?;
            let ty = want.unwrap_or(Ty::Num);
            Ok(V::R(dyn_field(cx, args, at, ty_code(ty))?, ty))
        }
        "min" | "max" => {
            if args.is_empty() {
                return Err(err(cx, format!("`{name}` takes at least 1 argument"), at));
            }
            let mut acc = typed(cx, &args[0], Ty::Num)?;
            for a in &args[1..] {
                let x = typed(cx, a, Ty::Num)?;
                acc = cx.minmax(name == "max", acc, x)?;
            }
            Ok(acc)
        }
        "abs" | "floor" | "ceil" | "sqrt" | "ln" | "exp" => {
            arity(cx, name, args, 1, 1, at)?;
            let op = match name {
                "abs" => Op1::Abs,
                "floor" => Op1::Floor,
                "ceil" => Op1::Ceil,
                "sqrt" => Op1::SqrtChecked,
                "ln" => Op1::Ln,
                _ => Op1::Exp,
            };
            let x = typed(cx, &args[0], Ty::Num)?;
            cx.num1(op, x)
        }
        "round" => {
            arity(cx, name, args, 2, 2, at)?;
            let Expr::Num(n) = args[1] else {
                return Err(err(cx, "the digits of `round` must be a number literal", at));
            };
            if !(0.0..=15.0).contains(&n) || n.fract() != 0.0 {
                return Err(err(cx, format!("`round` digits must be a whole number from 0 to 15, got `{n}`"), at));
            }
            let x = typed(cx, &args[0], Ty::Num)?;
            cx.round(x, n as u8)
        }
        "lookup" => {
            arity(cx, name, args, 2, 3, at)?;
            let tname = str_literal(cx, &args[0], "the table name of `lookup`", at)?;
            let Some(ti) = cx.d.defs.tables.get_index_of(tname) else {
                return Err(CompileError {
                    message: format!("unknown table `{tname}`"),
                    help: crate::diagnostic::did_you_mean(tname, cx.d.defs.tables.keys().map(String::as_str)),
                    at,
                    site: cx.site.clone(),
                });
            };
            let tty = cx.d.defs.tables[ti].ty.unwrap_or(want.unwrap_or(Ty::Num));
            let k = typed(cx, &args[1], Ty::Str)?;
            let key = cx.materialise(k)?;
            let d = cx.regs(2)?;
            let strict = args.len() == 2;
            cx.emit(Ins::Ext { op: op::LOOKUP, n_in: 1, n_out: 2, d, a: key, x: ti as u16, k: u32::from(strict) });
            if !strict {
                cx.unless_found(d, |cx| {
                    let dv = cx.expr(&args[2], Some(tty))?;
                    if dv.ty() != tty {
                        return Err(err(
                            cx,
                            format!("the default of `lookup` must be {} like the table values", tty.a_name()),
                            min_at(&args[2]),
                        ));
                    }
                    cx.materialise(dv)
                })?;
            }
            Ok(V::R(d, tty))
        }
        "sum_demands" | "max_demands" | "count_demands" => {
            if !cx.d.scope.aggregates {
                return Err(err(cx, format!("`{name}` is only available in KPIs"), at));
            }
            let (kind, min) = match name {
                "sum_demands" => (Agg::Sum, 1),
                "max_demands" => (Agg::Max, 1),
                _ => (Agg::Count, 0),
            };
            arity(cx, name, args, min, min + 1, at)?;
            let f = if kind == Agg::Count {
                0
            } else {
                let m = str_literal(cx, &args[0], "the metric of an aggregate", at)?;
                field_index(cx, m, at)?
            };
            let engine = match args.get(min) {
                None => u32::MAX,
                Some(e) => {
                    let s = str_literal(cx, e, "the engine of an aggregate", at)?;
                    if s == "*" { u32::MAX } else { cx.d.strings.intern(s) }
                }
            };
            let code = match kind {
                Agg::Sum => 0,
                Agg::Max => 1,
                Agg::Count => 2,
            };
            let index = {
                let mut t = cx.d.defs.aggs.borrow_mut();
                match t.iter().position(|a| *a == (kind, f, engine)) {
                    Some(i) => i,
                    None => {
                        t.push((kind, f, engine));
                        t.len() - 1
                    }
                }
            };
            let d = cx.reg()?;
            cx.emit(Ins::Ext { op: op::AGG, n_in: 0, n_out: 1, d, a: 0, x: code | (f << 2), k: index as u32 });
            Ok(V::R(d, Ty::Num))
        }
        _ => {
            let formulas = cx.d.defs.formulas;
            let Some(f) = formulas.get(name) else {
                let mut cands: Vec<&str> = BUILTINS.to_vec();
                cands.extend(formulas.keys().map(String::as_str));
                return Err(CompileError {
                    message: format!("unknown function `{name}`"),
                    help: crate::diagnostic::did_you_mean(name, cands),
                    at,
                    site: cx.site.clone(),
                });
            };
            if f.params.len() != args.len() {
                return Err(err(
                    cx,
                    format!("formula `{name}` takes {} argument(s), got {}", f.params.len(), args.len()),
                    at,
                ));
            }
            let mut vals = Vec::with_capacity(args.len());
            for a in args {
                vals.push(cx.expr(a, None)?);
            }
            named(cx, name, vals, at)
        }
    }
}

/// A presence test for `default` / `has`: a path or a `field(…)`.
fn presence(cx: &mut Cx<'_>, e: &Expr, at: usize) -> CR<Reg> {
    match e {
        Expr::Var { name, at: vat } if is_path(name) => {
            let p = path_id(cx, name, *vat)?;
            let formula = outer_formula(cx);
            let tag = cx.d.ref_tag;
            cx.d.path_refs.push(PathRef { path: p, at: *vat, formula, guarded: true, tag });
            let d = cx.reg()?;
            cx.emit(Ins::Has { d, k: p });
            Ok(d)
        }
        Expr::Call { name, args, at: cat } if name == "field" && args.len() == 2 => dyn_field(cx, args, *cat, 4),
        _ => Err(err(cx, "the first argument must be a path (`profile.…`, `workload.…`) or `field(…)`", at)),
    }
}

/// `field(prefix, key)`: a run-time path (`x`: the value's type code, or 4 for a presence
/// test); returns its register.
fn dyn_field(cx: &mut Cx<'_>, args: &[Expr], at: usize, x: u16) -> CR<Reg> {
    let Expr::Var { name: prefix, at: pat } = &args[0] else {
        return Err(err(cx, "the first argument of `field` must be a path such as `profile.npu`", at));
    };
    let p = path_id(cx, prefix, *pat)?;
    let k = typed(cx, &args[1], Ty::Str)?;
    let key = cx.materialise(k)?;
    let d = cx.reg()?;
    cx.emit(Ins::Ext { op: op::DYN, n_in: 1, n_out: 1, d, a: key, x, k: p });
    Ok(d)
}

/// Builds one program from one or more expressions.
pub struct Compiler<'a> {
    cx: Cx<'a>,
}

impl<'a> Compiler<'a> {
    /// A compiler for one program.
    pub fn new(defs: Defs<'a>, layout: &'a mut Layout, strings: &'a mut Interner, scope: Scope<'a>) -> Self {
        let d = Sizing {
            defs,
            layout,
            strings,
            scope,
            globals: None,
            path_refs: Vec::new(),
            ref_tag: 0,
            outputs: Vec::new(),
        };
        Compiler { cx: Lower::new(d, None) }
    }

    /// Records every named formula, parameter and path the program computes or reads
    /// (for explanations; see [`run_traced`]).
    pub fn set_traced(&mut self) {
        self.cx.traced = true;
    }

    /// Named formulas read from the evaluation's precomputed globals.
    pub fn set_globals(&mut self, g: &'a IndexMap<String, GlobalDef>) {
        self.cx.d.globals = Some(g);
    }

    /// Tag stamped on the path references of what is compiled next.
    pub fn set_tag(&mut self, tag: usize) {
        self.cx.d.ref_tag = tag;
    }

    /// Paths read so far (taken).
    pub fn take_refs(&mut self) -> Vec<PathRef> {
        std::mem::take(&mut self.cx.d.path_refs)
    }

    /// The layout (paths) as compiled so far.
    pub fn layout(&self) -> &Layout {
        self.cx.d.layout
    }

    /// Compiles `e` as an output of type `want`.
    pub fn output(&mut self, e: &Expr, want: Ty) -> CR<Reg> {
        let r = self.value(e, want)?;
        self.cx.d.outputs.push((r, want));
        Ok(r)
    }

    /// A constant output (a field the pack leaves out).
    pub fn output_const(&mut self, x: f64, ty: Ty) -> CR<Reg> {
        let r = self.cx.konst(x)?;
        self.cx.d.outputs.push((r, ty));
        Ok(r)
    }

    /// Compiles a boolean gate: the program stops as inactive when it is false.
    pub fn gate(&mut self, e: &Expr) -> CR<()> {
        let v = typed(&mut self.cx, e, Ty::Bool)?;
        if v == V::B(true) {
            return Ok(());
        }
        let c = self.cx.materialise(v)?;
        self.cx.emit(Ins::ExitIfNot { c, o: INACTIVE });
        Ok(())
    }

    /// Binds a parameter name to a constant (folded into the formulas that use it).
    pub fn bind_const(&mut self, name: &str, x: f64, ty: Ty) {
        let v = match ty {
            Ty::Num => V::N(x),
            Ty::Bool => V::B(x != 0.0),
            Ty::Str => V::S(self.cx.d.strings.text(x as u32).unwrap_or("").to_string()),
        };
        self.cx.bind(name, v);
    }

    /// Binds a parameter name to a register computed earlier (for inlining a sub-program,
    /// e.g. the budget rules over a KPI's required and budget).
    pub fn bind(&mut self, name: &str, r: Reg, ty: Ty) {
        self.cx.bind(name, V::R(r, ty));
    }

    /// Compiles `e` into a register without making it an output.
    pub fn value(&mut self, e: &Expr, want: Ty) -> CR<Reg> {
        let v = typed(&mut self.cx, e, want)?;
        self.cx.materialise(v)
    }

    /// A register holding the constant `x`.
    pub fn constant(&mut self, x: f64) -> CR<Reg> {
        self.cx.konst(x)
    }

    /// A register loaded from program parameter `i`.
    pub fn param_reg(&mut self, i: u16) -> CR<Reg> {
        let d = self.cx.reg()?;
        self.cx.emit_prologue(Ins::Param { d, i });
        Ok(d)
    }

    /// Compiles named formula `name` (no parameters) as the next output.
    pub fn named_output(&mut self, name: &str) -> CR<Ty> {
        let v = named(&mut self.cx, name, Vec::new(), 0)?;
        let t = v.ty();
        let r = self.cx.materialise(v)?;
        self.cx.d.outputs.push((r, t));
        Ok(t)
    }

    /// Compiles `e` as the next output, of whatever type it has.
    pub fn infer_output(&mut self, e: &Expr) -> CR<Ty> {
        let v = self.cx.expr(e, None)?;
        let t = v.ty();
        let r = self.cx.materialise(v)?;
        self.cx.d.outputs.push((r, t));
        Ok(t)
    }

    /// Marks `r` as the next output.
    pub fn push_output(&mut self, r: Reg, ty: Ty) {
        self.cx.d.outputs.push((r, ty));
    }

    /// The finished program (an error only when the program fails verification, which
    /// would be a bug in ratchet).
    pub fn finish(self) -> CR<Program> {
        let outputs = self.cx.d.outputs.clone();
        let live: Vec<Reg> = outputs.iter().map(|(r, _)| *r).collect();
        let code = self.cx.finish(&live, false, false).map_err(|m| CompileError {
            message: format!("internal: the program does not verify ({m}); this is a bug in ratchet"),
            help: None,
            at: 0,
            site: None,
        })?;
        let mut reads = Vec::new();
        let mut dyn_prefixes = Vec::new();
        let mut globals_read = Vec::new();
        let mut uses_rows = false;
        for i in code.code() {
            match *i {
                Ins::Load { k, .. } | Ins::Has { k, .. } => reads.push(k),
                Ins::Ext { op: op::DYN, k, .. } => dyn_prefixes.push(k),
                Ins::Ext { op: op::GLOBAL, k, .. } => globals_read.push(k as u16),
                Ins::Ext { op: op::AGG | op::FIELD | op::ENGINE, .. } => uses_rows = true,
                _ => {}
            }
        }
        reads.sort_unstable();
        reads.dedup();
        dyn_prefixes.sort_unstable();
        dyn_prefixes.dedup();
        globals_read.sort_unstable();
        globals_read.dedup();
        Ok(Program { code, outputs, reads, dyn_prefixes, globals_read, uses_rows, id: 0 })
    }

    /// Suggests a close known path for an unknown one.
    pub fn suggest_path(layout: &Layout, name: &str) -> Option<String> {
        closest(name, layout.provided()).map(|c| format!("did you mean `{c}`?"))
    }
}

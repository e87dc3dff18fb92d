//! The rules dialect of the expression core: named formulas, gates and cascade paths are
//! type-checked and lowered through [`crate::expr::lower`] into one register program per
//! entry point. This module resolves the rule sets' names (frames of `let`/`outputs`, the
//! lookup's fields, formulas, constants, record inputs and the request's `hw.*`, `model.*`,
//! `req.*`, `opt.*`), registers the built-ins, and specialises a program for a known tier
//! and model (their fields become constants, so lookups and branches on them fold at load).

pub use super::fields::{BUILTINS, FEASIBILITY_FIELDS, MISMATCH_FIELDS, PROJECTED_FIELDS};
use super::host::{REC, SRef, STR, Tables, kind_index, op};
use super::inputs::{self, Namespaces, Ty};
use super::lookups::{Found, LookupKind};
use super::model::{Formula, GateDef, LookupDef, PathDef, RuleSet, Src};
use crate::diagnostic::closest;
use crate::expr::lower::{self, Dialect, Lower, V, first_at};
use crate::expr::{BinOp, Expr, Ins, Op1, Reg};
use indexmap::IndexMap;
use std::collections::HashMap;

mod tables;
use tables::{lookup, table_index};

/// A load-time error in a formula of a rule set.
pub type CompileError = lower::CompileError<Src>;

pub(super) type R<T> = Result<T, CompileError>;

pub use super::program::{Compiled, EntryKind, Event, FeasSlots, Outcome, PathMeta, ProjSlots, TraceName};

/// A scope frame: names defined by an entry, a path or a gate, with a memo prefix.
type Frame<'r> = (&'r IndexMap<String, Formula>, String);

/// The tier and model a program is specialised for: their fields become constants, and
/// table lookups and cascade lookups over them are evaluated at load.
#[derive(Clone, Copy)]
pub struct Known<'a> {
    /// The tier.
    pub hw: &'a crate::tier::Tier,
    /// The model (when the entry has one).
    pub model: Option<&'a crate::catalog::LlmModel>,
    /// The registry (dtype table, sibling search).
    pub registry: &'a crate::registry::Registry,
}

/// The fields of the current path's lookup: its result block, or constants when it was
/// evaluated at load.
#[derive(Clone)]
enum LookupNs {
    Regs(LookupKind, Reg),
    Const(LookupKind, Option<Found>),
}

impl LookupNs {
    fn kind(&self) -> LookupKind {
        match self {
            LookupNs::Regs(k, _) | LookupNs::Const(k, _) => *k,
        }
    }
}

/// The rules dialect's state while one program is lowered.
pub(super) struct Rules<'r> {
    rs: &'r RuleSet,
    tables: &'r Tables,
    ns: Namespaces,
    pub(super) frames: Vec<Frame<'r>>,
    lookup_ns: Option<LookupNs>,
    /// The path being compiled: `path.source`, `path.constants` and `path.name` read it.
    path: Option<&'r PathDef>,
    known: Option<Known<'r>>,
    record: Vec<(String, Ty, bool)>,
    outcomes: Vec<Outcome>,
    events: Vec<Event>,
}

pub(super) type Cx<'r> = Lower<Rules<'r>>;

impl<'r> Dialect for Rules<'r> {
    type Site = Src;
    const CHECKED_MATH: bool = false;

    fn var(cx: &mut Cx<'r>, name: &str, at: usize, _: Option<Ty>) -> R<V> {
        var(cx, name, at)
    }

    fn call(cx: &mut Cx<'r>, name: &str, args: &[Expr], at: usize, _: Option<Ty>) -> R<V> {
        call(cx, name, args, at)
    }

    fn str_const(cx: &mut Cx<'r>, s: &str) -> f64 {
        SRef::Pool(cx.pool_index(s)).encode()
    }

    fn type_error(cx: &Cx<'r>, got: Ty, want: Ty, what: &str, _: &Expr, at: usize) -> CompileError {
        cx.err(at, format!("{what} must be a {}, found a {}", want.name(), got.name()))
    }

    fn operand_error(cx: &Cx<'r>, op: BinOp, a: (&Expr, Ty), b: (&Expr, Ty), whole: &Expr) -> CompileError {
        cx.err(first_at(whole), format!("`{}` cannot combine a {} and a {}", op.text(), a.1.name(), b.1.name()))
    }

    fn branch_error(cx: &Cx<'r>, then: Ty, other: (&Expr, Ty), at: usize) -> CompileError {
        cx.err(
            first_at(other.0).max(at),
            format!("the branches of `if` have different types: {} and {}", then.name(), other.1.name()),
        )
    }

    fn cycle_error(_: &Cx<'r>, stack: &[String], pos: usize, display: &str, site: &Src, _: usize) -> CompileError {
        let mut chain: Vec<String> =
            stack[pos..].iter().map(|k| k.split_once(':').map(|(_, n)| n).unwrap_or(k).to_string()).collect();
        chain.push(display.to_string());
        CompileError {
            message: format!("cycle between formulas: {}", chain.join(" → ")),
            help: None,
            at: 0,
            site: site.clone(),
        }
    }
}

/// Runs `f` with errors located in `src`.
pub(super) fn at_src<'r, T>(cx: &mut Cx<'r>, src: &Src, f: impl FnOnce(&mut Cx<'r>) -> R<T>) -> R<T> {
    let outer = std::mem::replace(&mut cx.site, src.clone());
    let r = f(cx);
    cx.site = outer;
    r
}

/// Lowers `e` written at `src`.
pub(super) fn expr_at<'r>(cx: &mut Cx<'r>, e: &Expr, src: &Src) -> R<V> {
    at_src(cx, src, |cx| cx.expr(e, None))
}

fn as_num(cx: &mut Cx<'_>, v: V, at: usize, what: &str) -> R<Reg> {
    cx.reg_of(v, Ty::Num, what, &Expr::Num(0.0), at)
}

fn as_bool(cx: &mut Cx<'_>, v: V, at: usize, what: &str) -> R<Reg> {
    cx.reg_of(v, Ty::Bool, what, &Expr::Num(0.0), at)
}

fn as_str(cx: &mut Cx<'_>, v: V, at: usize, what: &str) -> R<Reg> {
    cx.reg_of(v, Ty::Str, what, &Expr::Num(0.0), at)
}

/// Every name visible here, for "did you mean".
fn visible_names(cx: &Cx<'_>) -> Vec<String> {
    let d = &cx.d;
    let mut v: Vec<String> = Vec::new();
    for (f, _) in &d.frames {
        v.extend(f.keys().cloned());
    }
    v.extend(d.rs.formulas.iter().filter(|(_, f)| f.params.is_empty()).map(|(k, _)| k.clone()));
    v.extend(d.rs.constants.keys().cloned());
    v.extend(cx.params().map(str::to_string));
    if let Some(k) = d.lookup_ns.as_ref().map(LookupNs::kind) {
        let ns = k.namespace();
        v.extend(k.num_fields().iter().chain(k.str_fields()).map(|f| format!("{ns}.{f}")));
    }
    v.extend(d.record.iter().map(|r| r.0.clone()));
    if d.path.is_some() {
        v.extend(PATH_NAMES.iter().map(|n| format!("path.{n}")));
    }
    v.extend(inputs::INPUTS.iter().filter(|e| inputs::available(e.1, d.ns)).map(|e| e.1.to_string()));
    v
}

/// The names a path declares about itself (`path.<name>`), constants of its program.
const PATH_NAMES: [&str; 3] = ["name", "source", "constants"];

/// `path.name`, `path.source` or `path.constants` of the path being compiled: a constant, so
/// a formula that reads it is compiled once per path (formulas memoise per path level).
fn path_name(cx: &Cx<'_>, field: &str, at: usize) -> R<V> {
    let Some(p) = cx.d.path else {
        return Err(cx.err(at, format!("`path.{field}` is read outside a cascade path: only a path's outputs and the record's fields know their path")));
    };
    Ok(V::S(match field {
        "name" => p.name.clone(),
        "source" => p.source.clone(),
        "constants" => p.constants.name().to_string(),
        _ => {
            let mut e = cx.err(at, format!("unknown name `path.{field}`"));
            e.help = closest(field, PATH_NAMES.iter().copied())
                .map(|c| format!("did you mean `path.{c}`?"))
                .or_else(|| Some(format!("a path declares: {}", PATH_NAMES.map(|n| format!("path.{n}")).join(", "))));
            return Err(e);
        }
    }))
}

pub(super) fn var<'r>(cx: &mut Cx<'r>, name: &str, at: usize) -> R<V> {
    if let Some(v) = cx.param(name) {
        return Ok(v);
    }
    if let Some(field) = name.strip_prefix("path.") {
        return path_name(cx, field, at);
    }
    for i in (0..cx.d.frames.len()).rev() {
        let frame: &'r IndexMap<String, Formula> = cx.d.frames[i].0;
        if let Some(f) = frame.get(name) {
            let key = format!("{}:{name}", cx.d.frames[i].1);
            return cx.named(&key, name, &f.text, &f.expr, f.src.clone(), HashMap::new(), at);
        }
    }
    if let Some(ns) = cx.d.lookup_ns.clone() {
        let kind = ns.kind();
        if let Some(field) = name.strip_prefix(kind.namespace()).and_then(|r| r.strip_prefix('.')) {
            let num = kind.num_fields().iter().position(|f| *f == field);
            let st = kind.str_fields().iter().position(|f| *f == field);
            match (&ns, num, st) {
                (LookupNs::Regs(_, base), Some(i), _) => {
                    return Ok(V::R(base + LookupKind::value_slot(i) as Reg, Ty::Num));
                }
                (LookupNs::Regs(_, base), None, Some(i)) => {
                    return Ok(V::R(base + kind.str_slot(i) as Reg, Ty::Str));
                }
                (LookupNs::Const(_, f), Some(i), _) => {
                    return Ok(V::N(f.as_ref().and_then(|f| f.nums[i]).unwrap_or(0.0)));
                }
                (LookupNs::Const(_, f), None, Some(_)) => {
                    let name = f
                        .as_ref()
                        .and_then(|f| f.tier)
                        .and_then(|t| cx.d.known.and_then(|k| k.registry.tiers().get(t as usize)))
                        .map(|t| t.name().to_string())
                        .unwrap_or_default();
                    return Ok(V::S(name));
                }
                _ => {}
            }
        }
    }
    let rs = cx.d.rs;
    if let Some(f) = rs.formulas.get(name) {
        if !f.params.is_empty() {
            return Err(
                cx.err(at, format!("`{name}` takes {} argument(s); call it as `{}`", f.params.len(), f.signature()))
            );
        }
        return cx.named(&format!("f:{name}"), name, &f.text, &f.expr, f.src.clone(), HashMap::new(), at);
    }
    if let Some((c, _)) = rs.constants.get(name) {
        return Ok(match c {
            super::file::Constant::Num(x) => V::N(*x),
            super::file::Constant::Bool(b) => V::B(*b),
            super::file::Constant::Str(s) => V::S(s.clone()),
        });
    }
    if let Some(ri) = cx.d.record.iter().position(|(n, _, _)| n == name) {
        let key = format!("rec:{name}");
        if let Some(v) = cx.memo_get(&key) {
            return Ok(v);
        }
        let ty = cx.d.record[ri].1;
        let d = cx.reg()?;
        cx.emit_prologue(Ins::Load { d, ty, k: REC | ri as u32 });
        let v = V::R(d, ty);
        cx.memo_put_root(key, v.clone());
        cx.trace(name, "", &v, true)?;
        return Ok(v);
    }
    if let Some((i, ty, _)) = inputs::input(name) {
        if !inputs::available(name, cx.d.ns) {
            return Err(cx.err(at, format!("`{name}` is not available in this operation")));
        }
        if let Some(v) = known_input(cx, name, i, ty) {
            return Ok(v);
        }
        let key = format!("in:{name}");
        if let Some(v) = cx.memo_get(&key) {
            return Ok(v);
        }
        // inputs dominate everything: load them in the prologue
        let d = cx.reg()?;
        cx.emit_prologue(Ins::Load { d, ty, k: u32::from(i.index()) });
        let v = V::R(d, ty);
        cx.memo_put_root(key, v.clone());
        cx.trace(name, "", &v, true)?;
        return Ok(v);
    }
    let names = visible_names(cx);
    let mut e = cx.err(at, format!("unknown name `{name}`"));
    e.help = closest(name, names.iter().map(String::as_str)).map(|c| format!("did you mean `{c}`?"));
    Err(e)
}

/// A tier or model field as a constant, when the program is specialised.
fn known_input(cx: &Cx<'_>, name: &str, i: inputs::Input, ty: Ty) -> Option<V> {
    let k = cx.d.known?;
    if !(name.starts_with("hw.") || name.starts_with("model.")) {
        return None;
    }
    let inp = inputs::Inputs { hw: Some(k.hw), model: k.model, ..Default::default() };
    Some(match ty {
        Ty::Num => V::N(inp.num(i).0),
        Ty::Bool => V::B(inp.num(i).0 != 0.0),
        Ty::Str => V::S(inp.str(i).0.to_string()),
    })
}

fn call<'r>(cx: &mut Cx<'r>, name: &str, args: &[Expr], at: usize) -> R<V> {
    if let Some((_, arity, sig)) = BUILTINS.iter().find(|b| b.0 == name) {
        if args.len() != *arity {
            return Err(cx.err(at, format!("`{name}` takes {arity} argument(s), found {}: `{sig}`", args.len())));
        }
        return builtin(cx, name, args, at);
    }
    let rs = cx.d.rs;
    if let Some(f) = rs.formulas.get(name) {
        if f.params.is_empty() {
            return Err(
                cx.err(at, format!("`{name}` is a formula without parameters; write `{name}`, not `{name}(…)`"))
            );
        }
        if f.params.len() != args.len() {
            return Err(cx.err(
                at,
                format!("`{name}` takes {} argument(s), found {}: `{}`", f.params.len(), args.len(), f.signature()),
            ));
        }
        let mut vals = Vec::new();
        for a in args {
            vals.push(cx.expr(a, None)?);
        }
        let key = format!("f:{name}({})", vals.iter().map(V::key).collect::<Vec<_>>().join(","));
        if cx.memo_get(&key).is_none() {
            for (p, v) in f.params.iter().zip(&vals) {
                cx.trace(p, "", v, false)?;
            }
        }
        let params: HashMap<String, V> = f.params.iter().cloned().zip(vals).collect();
        return cx.named(&key, &f.signature(), &f.text, &f.expr, f.src.clone(), params, at);
    }
    let mut candidates: Vec<&str> = BUILTINS.iter().map(|b| b.0).collect();
    candidates.extend(rs.formulas.iter().filter(|(_, f)| !f.params.is_empty()).map(|(k, _)| k.as_str()));
    let mut e = cx.err(at, format!("unknown function `{name}`"));
    e.help = closest(name, candidates.iter().copied()).map(|c| format!("did you mean `{c}`?"));
    Err(e)
}

fn ext1(cx: &mut Cx<'_>, code: u8, x: u16, a: Reg, ty: Ty) -> R<V> {
    let d = cx.reg()?;
    cx.emit(Ins::Ext { op: code, n_in: 1, n_out: 1, d, a, x, k: 0 });
    Ok(V::R(d, ty))
}

fn builtin<'r>(cx: &mut Cx<'r>, name: &str, args: &[Expr], at: usize) -> R<V> {
    let arg_at = |i: usize| args.get(i).map(first_at).filter(|a| *a > 0).unwrap_or(at);
    match name {
        "if" => return cx.if_(args, at, None),
        "has" => return has(cx, &args[0], at),
        "lookup_or" => return lookup(cx, args, at, false),
        "lookup_num" => return lookup(cx, args, at, true),
        _ => {}
    }
    let mut vals = Vec::new();
    for a in args {
        vals.push(cx.expr(a, None)?);
    }
    let num1 = |cx: &mut Cx<'r>, v: V, op: Op1| -> R<V> {
        if let V::N(x) = v {
            return cx.num1(op, V::N(x));
        }
        let v = cx.check(v, Ty::Num, &format!("the argument of `{name}`"), &args[0], arg_at(0))?;
        cx.num1(op, v)
    };
    let v0 = vals[0].clone();
    match name {
        "max" | "min" => {
            let what = format!("the arguments of `{name}`");
            let a = cx.check(v0, Ty::Num, &what, &args[0], arg_at(0))?;
            let b = cx.check(vals[1].clone(), Ty::Num, &what, &args[1], arg_at(1))?;
            cx.minmax(name == "max", a, b)
        }
        "abs" => num1(cx, v0, Op1::Abs),
        "floor" => num1(cx, v0, Op1::Floor),
        "ceil" => num1(cx, v0, Op1::Ceil),
        "sqrt" => num1(cx, v0, Op1::Sqrt),
        "round" => {
            let n = match vals[1] {
                V::N(n) if (0.0..=15.0).contains(&n) && n.fract() == 0.0 => n as u8,
                _ => return Err(cx.err(arg_at(1), "the digits of `round` must be a constant integer from 0 to 15")),
            };
            let v = cx.check(v0, Ty::Num, "the value of `round`", &args[0], arg_at(0))?;
            cx.round(v, n)
        }
        "lower" => {
            let v = cx.check(v0, Ty::Str, "the argument of `lower`", &args[0], arg_at(0))?;
            cx.lower_str(v)
        }
        "str" | "str_int" => {
            let what = if name == "str" { "the argument of `str`" } else { "the argument of `str_int`" };
            let v = cx.check(v0, Ty::Num, what, &args[0], arg_at(0))?;
            cx.repr(v, name == "str_int")
        }
        "peak_tops" | "published_peak_tops" | "has_tops_field" | "capability" | "capability_via" => {
            if name != "has_tops_field" && !cx.d.ns.hw {
                return Err(cx.err(at, format!("`{name}` reads the tier, which this operation does not have")));
            }
            if let (V::S(key), Some(k)) = (&v0, cx.d.known) {
                let row = k.hw.capability.as_ref().and_then(|t| t.entries.get(key.as_str()));
                return Ok(match name {
                    "peak_tops" => V::N(k.registry.dtypes().tops_field(key).map(|f| f.get(&k.hw.spec)).unwrap_or(0.0)),
                    "published_peak_tops" => {
                        V::N(k.registry.dtypes().tops_field(key).map(|f| f.published(&k.hw.spec)).unwrap_or(0.0))
                    }
                    "has_tops_field" => V::B(k.registry.dtypes().tops_field(key).is_some()),
                    "capability" => V::S(row.map(|r| r.level.as_str().to_string()).unwrap_or_default()),
                    _ => V::S(row.and_then(|r| r.via_dtype.clone()).unwrap_or_default()),
                });
            }
            let a = as_str(cx, v0, arg_at(0), &format!("the argument of `{name}`"))?;
            match name {
                "peak_tops" => ext1(cx, op::PEAK_TOPS, 0, a, Ty::Num),
                "published_peak_tops" => ext1(cx, op::PUBLISHED_PEAK_TOPS, 0, a, Ty::Num),
                "has_tops_field" => ext1(cx, op::HAS_TOPS_FIELD, 0, a, Ty::Bool),
                "capability" => ext1(cx, op::CAPABILITY, 0, a, Ty::Str),
                _ => ext1(cx, op::CAPABILITY_VIA, 0, a, Ty::Str),
            }
        }
        "member" => {
            let V::S(set) = &v0 else {
                return Err(cx.err(arg_at(0), "the set of `member` must be a string constant"));
            };
            let set = table_index(cx, "set", set, arg_at(0))?;
            if let V::S(key) = &vals[1] {
                let hit = cx.d.tables.sets.get(set as usize).is_some_and(|(_, s)| s.iter().any(|x| x == key));
                return Ok(V::B(hit));
            }
            let a = as_str(cx, vals[1].clone(), arg_at(1), "the key of `member`")?;
            ext1(cx, op::MEMBER, set, a, Ty::Bool)
        }
        _ => Err(cx.err(at, format!("unknown function `{name}`"))),
    }
}

fn has(cx: &mut Cx<'_>, arg: &Expr, at: usize) -> R<V> {
    let Expr::Var { name, at: vat } = arg else {
        return Err(cx.err(at, "`has` takes a name, e.g. `has(opt.npu_share)`"));
    };
    if let Some(ns) = cx.d.lookup_ns.clone() {
        let kind = ns.kind();
        if let Some(field) = name.strip_prefix(kind.namespace()).and_then(|r| r.strip_prefix('.')) {
            if let Some(i) = kind.num_fields().iter().position(|f| *f == field) {
                return Ok(match ns {
                    LookupNs::Regs(_, base) => V::R(base + LookupKind::value_slot(i) as Reg + 1, Ty::Bool),
                    LookupNs::Const(_, f) => V::B(f.as_ref().and_then(|f| f.nums[i]).is_some()),
                });
            }
        }
    }
    if let Some(ri) = cx.d.record.iter().position(|(n, _, _)| n == name) {
        if !cx.d.record[ri].2 {
            return Err(cx.err(*vat, format!("`{name}` is always present; `has` applies to optional names")));
        }
        let key = format!("rechas:{name}");
        if let Some(v) = cx.memo_get(&key) {
            return Ok(v);
        }
        let d = cx.reg()?;
        cx.emit_prologue(Ins::Has { d, k: REC | ri as u32 });
        cx.memo_put_root(key, V::R(d, Ty::Bool));
        return Ok(V::R(d, Ty::Bool));
    }
    match inputs::input(name) {
        Some((i, ty, true)) => {
            if !inputs::available(name, cx.d.ns) {
                return Err(cx.err(*vat, format!("`{name}` is not available in this operation")));
            }
            if let Some(k) = cx.d.known.filter(|_| name.starts_with("hw.") || name.starts_with("model.")) {
                let inp = inputs::Inputs { hw: Some(k.hw), model: k.model, ..Default::default() };
                let present = if ty == Ty::Str { inp.str(i).1 } else { inp.num(i).1 };
                return Ok(V::B(present));
            }
            let key = format!("has:{name}");
            if let Some(v) = cx.memo_get(&key) {
                return Ok(v);
            }
            let d = cx.reg()?;
            let k = u32::from(i.index()) | if ty == Ty::Str { STR } else { 0 };
            cx.emit_prologue(Ins::Has { d, k });
            cx.memo_put_root(key, V::R(d, Ty::Bool));
            Ok(V::R(d, Ty::Bool))
        }
        Some((_, _, false)) => {
            Err(cx.err(*vat, format!("`{name}` is always present; `has` applies to optional names")))
        }
        None => Err(cx.err(*vat, format!("`has` needs an optional input or lookup field, found `{name}`"))),
    }
}

/// Resolves an output field through the current frames (errors located at `src`).
fn field(cx: &mut Cx<'_>, name: &str, ty: Ty, src: &Src) -> R<V> {
    at_src(cx, src, |cx| {
        let v = var(cx, name, 0)?;
        if v.ty() != ty {
            return Err(cx.err(0, format!("`{name}` must be a {}, found a {}", ty.name(), v.ty().name())));
        }
        Ok(v)
    })
}

fn feas_slots(cx: &mut Cx<'_>, src: &Src) -> R<FeasSlots> {
    let v = field(cx, "verdict", Ty::Str, src)?;
    let verdict = at_src(cx, src, |cx| as_str(cx, v, 0, "verdict"))?;
    let mut nums = [0; 6];
    for (i, (f, _)) in FEASIBILITY_FIELDS.iter().skip(1).enumerate() {
        let v = field(cx, f, Ty::Num, src)?;
        nums[i] = at_src(cx, src, |cx| as_num(cx, v, 0, f))?;
    }
    Ok(FeasSlots { verdict, nums })
}

pub(super) fn outcome(cx: &mut Cx<'_>, o: Outcome) {
    let i = cx.d.outcomes.len() as u16;
    cx.d.outcomes.push(o);
    cx.emit(Ins::Exit { o: i });
}

fn note(cx: &mut Cx<'_>, e: Event) {
    if cx.traced {
        let i = cx.d.events.len() as u16;
        cx.d.events.push(e);
        cx.note(i);
    }
}

pub(super) fn finish(
    cx: Cx<'_>,
    rs: &RuleSet,
    paths: Vec<PathMeta>,
    gates: Vec<String>,
) -> Result<Compiled, Vec<CompileError>> {
    let mut live = Vec::new();
    for o in &cx.d.outcomes {
        match o {
            Outcome::Scalar(s) => live.push(*s),
            Outcome::Feasibility(f) | Outcome::WontFit(_, f) => {
                live.push(f.verdict);
                live.extend(f.nums);
            }
            Outcome::DtypeMismatch(_, s) => live.extend(s),
            Outcome::Projected(_, p) => {
                live.extend(p.nums);
                live.extend(p.ceiling);
                live.push(p.regime);
                live.extend(p.extra.iter().map(|(_, r)| *r));
            }
            Outcome::NoAnswer => {}
            Outcome::Record(v) => live.extend(v.iter().map(|(_, r)| *r)),
            Outcome::Failed(_, s) => live.push(*s),
        }
    }
    let mut cx = cx;
    let outcomes = std::mem::take(&mut cx.d.outcomes);
    let events = std::mem::take(&mut cx.d.events);
    match cx.finish(&live, true, true) {
        Ok(program) => {
            let extra = if outcomes.iter().any(|o| matches!(o, Outcome::Projected(..))) {
                rs.project.iter().flat_map(|p| p.extra_fields()).map(|f| f.name.clone()).collect()
            } else {
                Vec::new()
            };
            Ok(Compiled { program, outcomes, events, paths, gates, extra })
        }
        Err(m) => Err(vec![missing(rs, &format!("a valid program ({m}); this is a bug in ratchet"))]),
    }
}

pub(super) fn new_cx<'r>(
    rs: &'r RuleSet,
    tables: &'r Tables,
    ns: Namespaces,
    traced: bool,
    known: Option<Known<'r>>,
    record: Vec<(String, Ty, bool)>,
) -> Cx<'r> {
    let d = Rules {
        rs,
        tables,
        ns,
        frames: Vec::new(),
        lookup_ns: None,
        path: None,
        known,
        record,
        outcomes: Vec::new(),
        events: Vec::new(),
    };
    let mut cx = Lower::new(d, rs.root_src.clone());
    cx.traced = traced;
    cx.fold_logic_rhs = known.is_some();
    cx
}

/// Compiles one entry point of a rule set.
pub fn compile(rs: &RuleSet, tables: &Tables, entry: EntryKind, traced: bool) -> Result<Compiled, Vec<CompileError>> {
    compile_with(rs, tables, entry, traced, None)
}

/// Compiles one entry point specialised for a known tier and model (partial evaluation):
/// every tier and model field is a constant, so capability and table lookups, the cascade's
/// lookups and every branch on them are decided at load and only request-dependent work is
/// left.
pub fn specialise(
    rs: &RuleSet,
    tables: &Tables,
    entry: EntryKind,
    known: Known<'_>,
) -> Result<Compiled, Vec<CompileError>> {
    compile_with(rs, tables, entry, false, Some(known))
}

fn compile_with<'r>(
    rs: &'r RuleSet,
    tables: &'r Tables,
    entry: EntryKind,
    traced: bool,
    known: Option<Known<'r>>,
) -> Result<Compiled, Vec<CompileError>> {
    let ns = match entry {
        EntryKind::KvBytes => Namespaces { hw: false, model: true, project: false, context: false, dtype_bytes: true },
        EntryKind::Feasibility => {
            Namespaces { hw: true, model: true, project: false, context: true, dtype_bytes: false }
        }
        EntryKind::Project => Namespaces { hw: true, model: true, project: true, context: false, dtype_bytes: false },
    };
    let mut cx = new_cx(rs, tables, ns, traced, known, Vec::new());
    let mut errors = Vec::new();
    match entry {
        EntryKind::KvBytes => {
            let Some(f) = &rs.kv else {
                return Err(vec![missing(rs, "llm.kv_cache_bytes_per_token")]);
            };
            let r = expr_at(&mut cx, &f.expr, &f.src)
                .and_then(|v| at_src(&mut cx, &f.src, |cx| as_num(cx, v, 0, "`kv_cache_bytes_per_token`")));
            match r {
                Ok(s) => outcome(&mut cx, Outcome::Scalar(s)),
                Err(e) => errors.push(e),
            }
            if errors.is_empty() {
                return finish(cx, rs, Vec::new(), Vec::new());
            }
        }
        EntryKind::Feasibility => {
            cx.d.frames.push((&rs.feas_lets, "entry".into()));
            cx.d.frames.push((&rs.feasibility, "feasibility".into()));
            let src = rs.feasibility_src.clone();
            match feas_slots(&mut cx, &src) {
                Ok(f) => outcome(&mut cx, Outcome::Feasibility(f)),
                Err(e) => errors.push(e),
            }
            if errors.is_empty() {
                return finish(cx, rs, Vec::new(), Vec::new());
            }
        }
        EntryKind::Project => {
            let Some(p) = &rs.project else {
                return Err(vec![missing(rs, "llm.project")]);
            };
            cx.d.frames.push((&p.lets, "entry".into()));
            cx.d.frames.push((&rs.feasibility, "feasibility".into()));
            let gates: Vec<String> = p.gates.iter().map(|g| g.name.clone()).collect();
            let mut done = false;
            for (gi, g) in p.gates.iter().enumerate() {
                match compile_gate(&mut cx, gi as u16, g) {
                    Ok(ends) => {
                        if ends {
                            done = true;
                            break;
                        }
                    }
                    Err(e) => errors.push(e),
                }
            }
            let mut metas = Vec::new();
            for (pi, (name, src)) in p.cascade.iter().enumerate() {
                let Some(path) = p.paths.get(name) else {
                    errors.push(CompileError {
                        message: format!("the cascade names the unknown path `{name}`"),
                        help: closest(name, p.paths.keys().map(String::as_str)).map(|c| format!("did you mean `{c}`?")),
                        site: src.clone(),
                        at: 0,
                    });
                    continue;
                };
                metas.push(PathMeta {
                    name: name.clone(),
                    source: path.source.clone(),
                    constants: path.constants,
                    description: path.description.clone(),
                    when: path.when.as_ref().map(|w| w.text.clone()),
                    lookup: path.lookup.as_ref().map(|l| l.kind.name().to_string()),
                });
                if done {
                    continue;
                }
                match compile_path(&mut cx, pi as u16, path, p) {
                    Ok(ends) => done = ends,
                    Err(e) => errors.push(e),
                }
            }
            if !done {
                outcome(&mut cx, Outcome::NoAnswer);
            }
            if errors.is_empty() {
                return finish(cx, rs, metas, gates);
            }
        }
    }
    Err(errors)
}

fn missing(rs: &RuleSet, what: &str) -> CompileError {
    CompileError {
        message: format!("rule set `{}` has no `{what}`", rs.name),
        help: None,
        site: rs.root_src.clone(),
        at: 0,
    }
}

/// Compiles a gate; returns true when it always holds (nothing after it can run).
fn compile_gate<'r>(cx: &mut Cx<'r>, gi: u16, g: &'r GateDef) -> R<bool> {
    let c = expr_at(cx, &g.when.expr, &g.when.src)?;
    let always = match c {
        V::B(false) => return Ok(false),
        V::B(true) => true,
        _ => false,
    };
    let jz = cx.code.len();
    if !always {
        let cs = at_src(cx, &g.when.src, |cx| as_bool(cx, c, 0, "a gate's `when`"))?;
        cx.emit(Ins::Jz { c: cs, to: 0 });
    }
    cx.push_level();
    note(cx, Event::GateHeld(gi));
    cx.d.frames.push((&g.fields, format!("gate{gi}")));
    let r = (|| -> R<()> {
        match g.outcome.as_str() {
            "wont_fit" => {
                let f = feas_slots(cx, &g.when.src)?;
                outcome(cx, Outcome::WontFit(gi, f));
            }
            "dtype_mismatch" => {
                let mut s = [0; 3];
                for (i, (f, ty)) in MISMATCH_FIELDS.iter().enumerate() {
                    let v = field(cx, f, *ty, &g.when.src)?;
                    s[i] = at_src(cx, &g.when.src, |cx| as_str(cx, v, 0, f))?;
                }
                outcome(cx, Outcome::DtypeMismatch(gi, s));
            }
            other => {
                return Err(CompileError {
                    message: format!("unknown gate outcome `{other}`; expected `wont_fit` or `dtype_mismatch`"),
                    help: None,
                    site: g.outcome_src.clone(),
                    at: 0,
                });
            }
        }
        Ok(())
    })();
    cx.d.frames.pop();
    cx.pop_level();
    r?;
    if always {
        return Ok(true);
    }
    let end = cx.here();
    cx.patch(jz, end);
    note(cx, Event::GatePassed(gi));
    Ok(false)
}

/// Compiles a lookup. When every argument is known at load (a specialised program), the
/// lookup runs now and its fields become constants; returns `Some(found)` in that case.
fn compile_lookup<'r>(cx: &mut Cx<'r>, l: &'r LookupDef) -> R<Option<bool>> {
    let mut keys = Vec::new();
    for k in &l.keys {
        keys.push(expr_at(cx, &k.expr, &k.src)?);
    }
    let one = |f: &'r Option<Formula>, cx: &mut Cx<'r>| -> R<Option<V>> {
        match f {
            Some(f) => Ok(Some(expr_at(cx, &f.expr, &f.src)?)),
            None => Ok(None),
        }
    };
    let workload = one(&l.workload, cx)?;
    let family = one(&l.family, cx)?;
    let skip = one(&l.skip, cx)?;
    if let Some(k) = cx.d.known {
        let konst = |v: &Option<V>| match v {
            None => Some(String::new()),
            Some(V::S(s)) => Some(s.clone()),
            Some(_) => None,
        };
        let key_texts: Option<Vec<String>> = keys.iter().map(|v| konst(&Some(v.clone()))).collect();
        let workload_known = konst(&workload).or_else(|| super::lookups::workload_free(l.kind, k.hw).then(String::new));
        if let (Some(key_texts), Some(w), Some(f), Some(sk)) = (key_texts, workload_known, konst(&family), konst(&skip))
        {
            let refs: Vec<&str> = key_texts.iter().map(String::as_str).collect();
            let found = super::lookups::search(l.kind, &refs, &w, &f, &sk, k.hw, k.registry);
            let hit = found.is_some();
            cx.d.lookup_ns = Some(LookupNs::Const(l.kind, found));
            return Ok(Some(hit));
        }
    }
    // the arguments in consecutive registers: keys, then workload, family, skip
    let mut args: Vec<Reg> = Vec::new();
    for (k, v) in l.keys.iter().zip(keys) {
        args.push(at_src(cx, &k.src, |cx| as_str(cx, v, 0, "a lookup key"))?);
    }
    let mut flags = 0u32;
    for (bit, v) in [(1u32, workload), (2, family), (4, skip)] {
        if let Some(v) = v {
            args.push(at_src(cx, &l.src, |cx| as_str(cx, v, 0, "a lookup argument"))?);
            flags |= bit;
        }
    }
    let a = cx.regs(args.len())?;
    for (i, r) in args.iter().enumerate() {
        cx.emit(Ins::Mov { d: a + i as Reg, a: *r });
    }
    let base = cx.regs(l.kind.block_len())?;
    if args.len() > usize::from(crate::expr::code::EXT_MAX) || l.keys.len() > 4 {
        return Err(CompileError {
            message: "a lookup takes at most 4 keys".into(),
            help: None,
            site: l.src.clone(),
            at: 0,
        });
    }
    cx.emit(Ins::Ext {
        op: op::LOOKUP,
        n_in: args.len() as u8,
        n_out: l.kind.block_len() as u8,
        d: base,
        a,
        x: kind_index(l.kind) | ((l.keys.len() as u16) << 4),
        k: flags,
    });
    cx.d.lookup_ns = Some(LookupNs::Regs(l.kind, base));
    Ok(None)
}

/// Emits a conditional skip of the current path on `c == 0`; traced programs note why first.
fn skip_unless(cx: &mut Cx<'_>, c: Reg, why: Event, skips: &mut Vec<usize>) -> R<()> {
    if cx.traced {
        let zero = cx.konst(0.0)?;
        let over = cx.code.len();
        cx.emit(Ins::JmpUnless { op: crate::expr::Cmp::Eq, a: c, b: zero, to: 0 });
        note(cx, why);
        skips.push(cx.code.len());
        cx.emit(Ins::Jmp { to: 0 });
        let here = cx.here();
        cx.patch(over, here);
    } else {
        skips.push(cx.code.len());
        cx.emit(Ins::Jz { c, to: 0 });
    }
    Ok(())
}

/// Compiles a path; returns true when it always answers (later paths are unreachable).
fn compile_path<'r>(cx: &mut Cx<'r>, pi: u16, path: &'r PathDef, p: &'r super::model::ProjectDef) -> R<bool> {
    cx.push_level();
    cx.d.frames.push((&p.outputs, format!("outputs{pi}")));
    cx.d.frames.push((&path.scope, format!("path{pi}")));
    cx.d.path = Some(path);
    let mut skips = Vec::new();
    let mut conditional = false;
    let r = (|| -> R<bool> {
        if let Some(w) = &path.when {
            let c = expr_at(cx, &w.expr, &w.src)?;
            match c {
                V::B(false) => return Ok(false),
                V::B(true) => {}
                c => {
                    conditional = true;
                    let cs = at_src(cx, &w.src, |cx| as_bool(cx, c, 0, "a path's `when`"))?;
                    skip_unless(cx, cs, Event::PathWhenFalse(pi), &mut skips)?;
                }
            }
        }
        if let Some(l) = &path.lookup {
            match compile_lookup(cx, l)? {
                Some(false) => return Ok(false),
                Some(true) => {}
                None => {
                    conditional = true;
                    let base = match cx.d.lookup_ns {
                        Some(LookupNs::Regs(_, b)) => b,
                        _ => 0,
                    };
                    skip_unless(cx, base, Event::PathNotFound(pi), &mut skips)?;
                }
            }
        }
        note(cx, Event::PathTaken(pi));
        let mut nums = [0; 7];
        for (i, (f, ty)) in PROJECTED_FIELDS.iter().take(7).enumerate() {
            let v = field(cx, f, *ty, &path.src)?;
            let s = at_src(cx, &path.src, |cx| as_num(cx, v, 0, f))?;
            nums[i] = round_if(cx, f, s, p)?;
        }
        let rv = field(cx, "regime", Ty::Str, &path.src)?;
        let regime = at_src(cx, &path.src, |cx| as_str(cx, rv, 0, "regime"))?;
        let ceiling =
            if path.scope.contains_key("decode_ceiling_tok_s") || p.outputs.contains_key("decode_ceiling_tok_s") {
                let v = field(cx, "decode_ceiling_tok_s", Ty::Num, &path.src)?;
                let s = at_src(cx, &path.src, |cx| as_num(cx, v, 0, "decode_ceiling_tok_s"))?;
                Some(round_if(cx, "decode_ceiling_tok_s", s, p)?)
            } else {
                None
            };
        let mut extra = Vec::new();
        for f in p.extra_fields() {
            let v = field(cx, &f.name, f.ty, &f.src)?;
            let s = at_src(cx, &f.src, |cx| match f.ty {
                Ty::Num => as_num(cx, v, 0, &f.name),
                Ty::Str => as_str(cx, v, 0, &f.name),
                Ty::Bool => as_bool(cx, v, 0, &f.name),
            })?;
            let s = if f.ty == Ty::Num { round_if(cx, &f.name, s, p)? } else { s };
            extra.push((f.ty, s));
        }
        // physical bounds over this path's values; one that always holds refuses every
        // request that reaches the path
        if compile_checks(cx, &p.bounds)? {
            return Ok(!conditional);
        }
        outcome(cx, Outcome::Projected(pi, ProjSlots { nums, regime, ceiling, extra }));
        Ok(!conditional)
    })();
    cx.d.lookup_ns = None;
    cx.d.path = None;
    cx.d.frames.pop();
    cx.d.frames.pop();
    cx.pop_level();
    let always = r?;
    let end = cx.here();
    for j in skips {
        cx.patch(j, end);
    }
    Ok(always)
}

fn round_if(cx: &mut Cx<'_>, field: &str, s: Reg, p: &super::model::ProjectDef) -> R<Reg> {
    match p.rounding.get(field) {
        Some((n, _)) => {
            let v = cx.round(V::R(s, Ty::Num), (*n).min(15) as u8)?;
            cx.materialise(v)
        }
        None => Ok(s),
    }
}

/// Compiles checks in order: each that holds ends the program with its failure. Returns
/// true when one always holds (what follows is unreachable).
pub(super) fn compile_checks(cx: &mut Cx<'_>, checks: &[super::model::CheckDef]) -> R<bool> {
    for c in checks {
        let v = expr_at(cx, &c.when.expr, &c.when.src)?;
        if v == V::B(false) {
            continue;
        }
        let always = v == V::B(true);
        let jz = cx.code.len();
        if !always {
            let cs = at_src(cx, &c.when.src, |cx| as_bool(cx, v, 0, "a check's `when`"))?;
            cx.emit(Ins::Jz { c: cs, to: 0 });
        }
        cx.push_level();
        let m = expr_at(cx, &c.message.expr, &c.message.src);
        let m = m.and_then(|m| at_src(cx, &c.message.src, |cx| as_str(cx, m, 0, "a check's `message`")));
        cx.pop_level();
        let m = m?;
        outcome(cx, Outcome::Failed(u8::from(c.kind == "unknown_key"), m));
        if always {
            return Ok(true);
        }
        let end = cx.here();
        cx.patch(jz, end);
    }
    Ok(false)
}

/// Checks formulas that no entry point reached: syntax was checked at parse; here every
/// name must exist somewhere and every call must have the right arity.
pub fn check_unreached(rs: &RuleSet, tables: &Tables) -> Vec<CompileError> {
    let mut defined: Vec<String> = Vec::new();
    defined.extend(rs.formulas.keys().cloned());
    defined.extend(rs.constants.keys().cloned());
    defined.extend(rs.feasibility.keys().cloned());
    defined.extend(rs.feas_lets.keys().cloned());
    if let Some(p) = &rs.project {
        defined.extend(p.lets.keys().cloned());
        defined.extend(p.outputs.keys().cloned());
        for path in p.paths.values() {
            defined.extend(path.scope.keys().cloned());
            if let Some(l) = &path.lookup {
                let ns = l.kind.namespace();
                defined.extend(l.kind.num_fields().iter().chain(l.kind.str_fields()).map(|f| format!("{ns}.{f}")));
            }
        }
        for g in &p.gates {
            defined.extend(g.fields.keys().cloned());
        }
    }
    for r in rs.operations.values().chain(rs.entries.values()) {
        defined.extend(r.lets.keys().cloned());
        defined.extend(r.outputs.keys().cloned());
        defined.extend(r.args.iter().map(|a| format!("arg.{}", a.0)));
    }
    let extras: Vec<(&str, Ty)> =
        rs.project.iter().flat_map(|p| p.extra_fields()).map(|f| (f.name.as_str(), f.ty)).collect();
    for e in super::entries::ENTRIES {
        defined.extend(super::entries::EntryLayout::of(e, &extras, |_| false).fields.into_iter().map(|f| f.0));
    }
    defined.extend(inputs::INPUTS.iter().map(|e| e.1.to_string()));
    if rs.project.is_some() {
        defined.extend(PATH_NAMES.iter().map(|n| format!("path.{n}")));
    }
    let table_names: Vec<&str> = tables
        .maps
        .iter()
        .map(|t| t.0.as_str())
        .chain(tables.sets.iter().map(|t| t.0.as_str()))
        .chain(tables.nums.iter().map(|t| t.0.as_str()))
        .collect();
    let mut out = Vec::new();
    for f in rs.all_formulas() {
        f.expr.walk(&mut |e| match e {
            Expr::Var { name, at } if !defined.iter().any(|d| d == name) && !f.params.iter().any(|p| p == name) => {
                out.push(CompileError {
                    message: format!("unknown name `{name}`"),
                    help: closest(name, defined.iter().map(String::as_str)).map(|c| format!("did you mean `{c}`?")),
                    site: f.src.clone(),
                    at: *at,
                });
            }
            Expr::Call { name, args, at } => {
                let arity = BUILTINS
                    .iter()
                    .find(|b| b.0 == name)
                    .map(|b| b.1)
                    .or_else(|| rs.formulas.get(name).filter(|g| !g.params.is_empty()).map(|g| g.params.len()));
                match arity {
                    None => {
                        let mut c: Vec<&str> = BUILTINS.iter().map(|b| b.0).collect();
                        c.extend(rs.formulas.iter().filter(|(_, g)| !g.params.is_empty()).map(|(k, _)| k.as_str()));
                        out.push(CompileError {
                            message: format!("unknown function `{name}`"),
                            help: closest(name, c.iter().copied()).map(|c| format!("did you mean `{c}`?")),
                            site: f.src.clone(),
                            at: *at,
                        });
                    }
                    Some(n) if n != args.len() => out.push(CompileError {
                        message: format!("`{name}` takes {n} argument(s), found {}", args.len()),
                        help: None,
                        site: f.src.clone(),
                        at: *at,
                    }),
                    _ => {}
                }
                if matches!(name.as_str(), "lookup_or" | "lookup_num" | "member") {
                    if let Some(Expr::Str(t)) = args.first() {
                        if !table_names.contains(&t.as_str()) {
                            out.push(CompileError {
                                message: format!("unknown table `{t}`"),
                                help: closest(t, table_names.iter().copied()).map(|c| format!("did you mean `{c}`?")),
                                site: f.src.clone(),
                                at: *at,
                            });
                        }
                    }
                }
            }
            _ => {}
        });
    }
    out.extend(cycles(rs));
    out
}

/// Cycles among global formulas (reported once per cycle, at its first formula).
fn cycles(rs: &RuleSet) -> Vec<CompileError> {
    let names: Vec<&String> = rs.formulas.keys().collect();
    let deps = |f: &Formula| -> Vec<String> {
        let mut v = Vec::new();
        f.expr.walk(&mut |e| match e {
            Expr::Var { name, .. } if rs.formulas.contains_key(name) && !f.params.contains(name) => {
                v.push(name.clone())
            }
            Expr::Call { name, .. } if rs.formulas.contains_key(name) => v.push(name.clone()),
            _ => {}
        });
        v
    };
    let mut state: HashMap<&str, u8> = HashMap::new();
    let mut out = Vec::new();
    fn dfs<'a>(
        n: &'a str,
        rs: &'a RuleSet,
        deps: &dyn Fn(&Formula) -> Vec<String>,
        state: &mut HashMap<&'a str, u8>,
        stack: &mut Vec<&'a str>,
        out: &mut Vec<CompileError>,
    ) {
        state.insert(n, 1);
        stack.push(n);
        if let Some(f) = rs.formulas.get(n) {
            for d in deps(f) {
                let Some((dk, _)) = rs.formulas.get_key_value(d.as_str()) else { continue };
                match state.get(dk.as_str()).copied().unwrap_or(0) {
                    0 => dfs(dk.as_str(), rs, deps, state, stack, out),
                    1 => {
                        let pos = stack.iter().position(|s| *s == dk.as_str()).unwrap_or(0);
                        let mut chain: Vec<&str> = stack[pos..].to_vec();
                        chain.push(dk.as_str());
                        if let Some(first) = rs.formulas.get(chain[0]) {
                            out.push(CompileError {
                                message: format!("cycle between formulas: {}", chain.join(" → ")),
                                help: None,
                                site: first.src.clone(),
                                at: 0,
                            });
                        }
                    }
                    _ => {}
                }
            }
        }
        stack.pop();
        state.insert(n, 2);
    }
    for n in names {
        if state.get(n.as_str()).copied().unwrap_or(0) == 0 {
            let mut stack = Vec::new();
            dfs(n.as_str(), rs, &deps, &mut state, &mut stack, &mut out);
        }
    }
    out
}

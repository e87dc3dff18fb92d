//! Lowering: named formulas, gates and cascade paths are type-checked and compiled into one
//! register program per entry point. Names are resolved to slots at load; constants are
//! folded and loaded once in a prologue; a named formula is computed once where its first
//! use dominates the later ones; `if`, `&&` and `||` evaluate lazily.

use super::expr::{BinOp, Expr, UnOp};
use super::inputs::{self, Namespaces, Ty};
use super::lookups::{Found, LookupKind};
use super::model::{Formula, GateDef, LookupDef, PathDef, RuleSet, Src};
use super::vm::{Ins, LookupSite, Program, SSlot, Slot, Tables};
use crate::diagnostic::closest;
use crate::numeric::{py_float_repr, py_max, py_min, py_round};
use indexmap::IndexMap;
use std::collections::HashMap;

/// A load-time error in a formula.
#[derive(Debug, Clone)]
pub struct CompileError {
    /// Lower-case message, user input in backticks.
    pub message: String,
    /// A suggestion.
    pub help: Option<String>,
    /// Which formula.
    pub src: Src,
    /// Offset in the formula text.
    pub at: usize,
}

type R<T> = Result<T, CompileError>;

/// A compiled value: a slot, or a constant folded at load.
#[derive(Debug, Clone, PartialEq)]
enum Val {
    N(Slot),
    B(Slot),
    S(SSlot),
    KN(f64),
    KB(bool),
    KS(String),
}

impl Val {
    fn ty(&self) -> Ty {
        match self {
            Val::N(_) | Val::KN(_) => Ty::Num,
            Val::B(_) | Val::KB(_) => Ty::Bool,
            Val::S(_) | Val::KS(_) => Ty::Str,
        }
    }

    fn key(&self) -> String {
        match self {
            Val::N(s) => format!("n{s}"),
            Val::B(s) => format!("b{s}"),
            Val::S(s) => format!("s{s}"),
            Val::KN(x) => format!("k{}", x.to_bits()),
            Val::KB(b) => format!("kb{b}"),
            Val::KS(s) => format!("ks{s:?}"),
        }
    }
}

/// The fields of the feasibility outcome.
pub const FEASIBILITY_FIELDS: &[(&str, Ty)] = &[
    ("verdict", Ty::Str),
    ("required_gb", Ty::Num),
    ("available_gb", Ty::Num),
    ("headroom_gb", Ty::Num),
    ("weights_gb", Ty::Num),
    ("kv_cache_gb", Ty::Num),
    ("overhead_gb", Ty::Num),
];

/// The fields of a projected result that a path computes (`decode_ceiling_tok_s` optional).
pub const PROJECTED_FIELDS: &[(&str, Ty)] = &[
    ("decode_tok_s", Ty::Num),
    ("prefill_tok_s", Ty::Num),
    ("ttft_s", Ty::Num),
    ("decode_s", Ty::Num),
    ("prefill_s", Ty::Num),
    ("total_s", Ty::Num),
    ("host_ms", Ty::Num),
    ("regime", Ty::Str),
    ("decode_ceiling_tok_s", Ty::Num),
];

/// The fields of a dtype-mismatch outcome.
pub const MISMATCH_FIELDS: &[(&str, Ty)] =
    &[("required_dtype", Ty::Str), ("tier_capability", Ty::Str), ("retargeting_hint", Ty::Str)];

/// Where the feasibility numbers are.
#[derive(Debug, Clone, PartialEq)]
pub struct FeasSlots {
    /// `verdict` (string slot).
    pub verdict: SSlot,
    /// required, available, headroom, weights, kv cache, overhead (GB).
    pub nums: [Slot; 6],
}

/// Where a projected result's fields are.
#[derive(Debug, Clone, PartialEq)]
pub struct ProjSlots {
    /// decode_tok_s, prefill_tok_s, ttft_s, decode_s, prefill_s, total_s, host_ms.
    pub nums: [Slot; 7],
    /// `regime`.
    pub regime: SSlot,
    /// `decode_ceiling_tok_s`, when the path computes it.
    pub ceiling: Option<Slot>,
}

/// How a program ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// A single number.
    Scalar(Slot),
    /// A feasibility check.
    Feasibility(FeasSlots),
    /// The model does not fit (gate index).
    WontFit(u16, FeasSlots),
    /// The tier cannot execute the model (gate index; required dtype, capability, hint).
    DtypeMismatch(u16, [SSlot; 3]),
    /// A path answered (path index).
    Projected(u16, ProjSlots),
    /// No path answered.
    NoAnswer,
    /// A record entry's outputs, in declared order (type, slot: string slot for strings).
    Record(Vec<(Ty, u16)>),
    /// A check failed: (kind: 0 invalid value, 1 unknown key; message string slot).
    Failed(u8, SSlot),
}

/// Something that happened during a traced evaluation.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Gate `i` held.
    GateHeld(u16),
    /// Gate `i` did not hold.
    GatePassed(u16),
    /// Path `i` skipped: its `when` was false.
    PathWhenFalse(u16),
    /// Path `i` skipped: its lookup found nothing.
    PathNotFound(u16),
    /// Path `i` answered.
    PathTaken(u16),
}

/// A traced name: what it is and its formula text.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceName {
    /// Display name (`bw_floor_ms_decode`, `hw.mem_bandwidth_gbs`, `kv(2.0)`).
    pub name: String,
    /// The formula text (empty for inputs).
    pub text: String,
}

/// Metadata of a cascade path.
#[derive(Debug, Clone, PartialEq)]
pub struct PathMeta {
    /// Path name.
    pub name: String,
    /// Source label.
    pub source: String,
    /// Description.
    pub description: Option<String>,
    /// `when` text.
    pub when: Option<String>,
    /// Lookup builtin name.
    pub lookup: Option<String>,
}

/// A compiled entry point.
#[derive(Debug, Clone)]
pub struct Compiled {
    /// The program.
    pub program: Program,
    /// Outcomes by `Emit` index.
    pub outcomes: Vec<Outcome>,
    /// Events by `Note` index.
    pub events: Vec<Event>,
    /// Traced names by `Trace` index.
    pub trace_names: Vec<TraceName>,
    /// Cascade paths, in cascade order.
    pub paths: Vec<PathMeta>,
    /// Gate names.
    pub gates: Vec<String>,
}

/// Which entry point to compile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// `kv_cache_bytes_per_token(model, dtype_bytes)`
    KvBytes,
    /// `memory_feasibility(model, hw, context_tokens)`
    Feasibility,
    /// `project_llm(...)`
    Project,
}

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

/// The fields of the current path's lookup: slots, or constants when evaluated at load.
#[derive(Clone)]
enum LookupNs {
    Slots(LookupKind, Slot, SSlot),
    Const(LookupKind, Option<Found>),
}

impl LookupNs {
    fn kind(&self) -> LookupKind {
        match self {
            LookupNs::Slots(k, _, _) | LookupNs::Const(k, _) => *k,
        }
    }
}

struct Cx<'r> {
    rs: &'r RuleSet,
    tables: &'r Tables,
    ns: Namespaces,
    traced: bool,
    prologue: Vec<Ins>,
    code: Vec<Ins>,
    nnum: usize,
    nstr: usize,
    pool: Vec<String>,
    knum: HashMap<u64, Slot>,
    kstr: HashMap<String, SSlot>,
    lookups: Vec<LookupSite>,
    memo: Vec<HashMap<String, Val>>,
    frames: Vec<Frame<'r>>,
    lookup_ns: Option<LookupNs>,
    known: Option<Known<'r>>,
    record: Vec<(String, Ty, bool)>,
    params: Vec<HashMap<String, Val>>,
    stack: Vec<String>,
    trace_names: Vec<TraceName>,
    trace_index: HashMap<String, u16>,
    outcomes: Vec<Outcome>,
    events: Vec<Event>,
}

fn first_at(e: &Expr) -> usize {
    match e {
        Expr::Var { at, .. } | Expr::Call { at, .. } => *at,
        Expr::Unary(_, a) => first_at(a),
        Expr::Binary(_, a, b) => {
            let x = first_at(a);
            if x > 0 { x } else { first_at(b) }
        }
        _ => 0,
    }
}

/// The built-in functions: (name, arity, signature shown in messages).
pub const BUILTINS: &[(&str, usize, &str)] = &[
    ("max", 2, "max(number, number) -> number"),
    ("min", 2, "min(number, number) -> number"),
    ("abs", 1, "abs(number) -> number"),
    ("floor", 1, "floor(number) -> number"),
    ("ceil", 1, "ceil(number) -> number"),
    ("sqrt", 1, "sqrt(number) -> number"),
    ("round", 2, "round(number, digits) -> number"),
    ("if", 3, "if(condition, then, else)"),
    ("has", 1, "has(optional name) -> boolean"),
    ("lower", 1, "lower(string) -> string"),
    ("str", 1, "str(number) -> string"),
    ("peak_tops", 1, "peak_tops(dtype) -> number"),
    ("has_tops_field", 1, "has_tops_field(dtype) -> boolean"),
    ("capability", 1, "capability(key) -> string"),
    ("capability_via", 1, "capability_via(key) -> string"),
    ("lookup_or", 3, "lookup_or(\"table\", key, default) -> string"),
    ("member", 2, "member(\"set\", key) -> boolean"),
];

impl<'r> Cx<'r> {
    fn err(&self, src: &Src, at: usize, message: impl Into<String>) -> CompileError {
        CompileError { message: message.into(), help: None, src: src.clone(), at }
    }

    fn new_num(&mut self) -> Slot {
        self.nnum += 1;
        (self.nnum - 1) as Slot
    }

    fn new_str(&mut self, src: &Src, at: usize) -> R<SSlot> {
        if self.nstr >= u16::MAX as usize || self.nnum >= u16::MAX as usize {
            return Err(self.err(src, at, "the rule set needs more than 65535 values in one entry point"));
        }
        self.nstr += 1;
        Ok((self.nstr - 1) as SSlot)
    }

    fn emit(&mut self, i: Ins) {
        self.code.push(i);
    }

    fn knum(&mut self, x: f64) -> Slot {
        if let Some(s) = self.knum.get(&x.to_bits()) {
            return *s;
        }
        let d = self.new_num();
        self.prologue.push(Ins::Num { d, v: x });
        self.knum.insert(x.to_bits(), d);
        d
    }

    fn kstr(&mut self, s: &str, src: &Src, at: usize) -> R<SSlot> {
        if let Some(d) = self.kstr.get(s) {
            return Ok(*d);
        }
        let d = self.new_str(src, at)?;
        let k = self.pool.len() as u32;
        self.pool.push(s.to_string());
        self.prologue.push(Ins::Str { d, k });
        self.kstr.insert(s.to_string(), d);
        Ok(d)
    }

    fn memo_get(&self, key: &str) -> Option<Val> {
        self.memo.iter().rev().find_map(|m| m.get(key).cloned())
    }

    fn memo_put(&mut self, key: String, v: Val) {
        if let Some(top) = self.memo.last_mut() {
            top.insert(key, v);
        }
    }

    fn push_level(&mut self) {
        self.memo.push(HashMap::new());
    }

    fn pop_level(&mut self) {
        self.memo.pop();
    }

    fn as_num(&mut self, v: Val, src: &Src, at: usize, what: &str) -> R<Slot> {
        match v {
            Val::N(s) => Ok(s),
            Val::KN(x) => Ok(self.knum(x)),
            other => Err(self.err(src, at, format!("{what} must be a number, found a {}", other.ty().name()))),
        }
    }

    fn as_bool(&mut self, v: Val, src: &Src, at: usize, what: &str) -> R<Slot> {
        match v {
            Val::B(s) => Ok(s),
            Val::KB(b) => Ok(self.knum(if b { 1.0 } else { 0.0 })),
            other => Err(self.err(src, at, format!("{what} must be a boolean, found a {}", other.ty().name()))),
        }
    }

    fn as_str(&mut self, v: Val, src: &Src, at: usize, what: &str) -> R<SSlot> {
        match v {
            Val::S(s) => Ok(s),
            Val::KS(x) => self.kstr(&x, src, at),
            other => Err(self.err(src, at, format!("{what} must be a string, found a {}", other.ty().name()))),
        }
    }

    fn trace(&mut self, name: &str, text: &str, v: &Val, src: &Src) -> R<()> {
        self.trace_into(name, text, v, src, false)
    }

    /// Records a value in traced programs; `prologue` puts the record with the input loads
    /// (inputs are loaded once, before any branch).
    fn trace_into(&mut self, name: &str, text: &str, v: &Val, src: &Src, prologue: bool) -> R<()> {
        if !self.traced {
            return Ok(());
        }
        let key = format!("{name}\u{0}{text}");
        let idx = match self.trace_index.get(&key) {
            Some(i) => *i,
            None => {
                let i = self.trace_names.len() as u16;
                self.trace_names.push(TraceName { name: name.to_string(), text: text.to_string() });
                self.trace_index.insert(key, i);
                i
            }
        };
        let ty = v.ty();
        let d = match ty {
            Ty::Str => self.as_str(v.clone(), src, 0, "value")?,
            Ty::Bool => self.as_bool(v.clone(), src, 0, "value")?,
            Ty::Num => self.as_num(v.clone(), src, 0, "value")?,
        };
        if prologue {
            self.prologue.push(Ins::Trace { name: idx, d, ty });
        } else {
            self.emit(Ins::Trace { name: idx, d, ty });
        }
        Ok(())
    }

    fn note(&mut self, e: Event) {
        if self.traced {
            let i = self.events.len() as u16;
            self.events.push(e);
            self.emit(Ins::Note { event: i });
        }
    }

    /// Every name visible here, for "did you mean".
    fn visible_names(&self) -> Vec<String> {
        let mut v: Vec<String> = Vec::new();
        for (f, _) in &self.frames {
            v.extend(f.keys().cloned());
        }
        v.extend(self.rs.formulas.iter().filter(|(_, f)| f.params.is_empty()).map(|(k, _)| k.clone()));
        v.extend(self.rs.constants.keys().cloned());
        if let Some(p) = self.params.last() {
            v.extend(p.keys().cloned());
        }
        if let Some(k) = self.lookup_ns.as_ref().map(LookupNs::kind) {
            let ns = k.namespace();
            v.extend(k.num_fields().iter().chain(k.str_fields()).map(|f| format!("{ns}.{f}")));
        }
        v.extend(self.record.iter().map(|r| r.0.clone()));
        v.extend(inputs::INPUTS.iter().filter(|e| inputs::available(e.1, self.ns)).map(|e| e.1.to_string()));
        v
    }

    fn var(&mut self, name: &str, at: usize, src: &Src) -> R<Val> {
        if let Some(v) = self.params.last().and_then(|p| p.get(name)) {
            return Ok(v.clone());
        }
        for i in (0..self.frames.len()).rev() {
            let frame = self.frames[i].0;
            if let Some(f) = frame.get(name) {
                let key = format!("{}:{name}", self.frames[i].1);
                return self.named(&key, name, f, HashMap::new());
            }
        }
        if let Some(ns) = self.lookup_ns.clone() {
            let kind = ns.kind();
            if let Some(field) = name.strip_prefix(kind.namespace()).and_then(|r| r.strip_prefix('.')) {
                let num = kind.num_fields().iter().position(|f| *f == field);
                let st = kind.str_fields().iter().position(|f| *f == field);
                match (&ns, num, st) {
                    (LookupNs::Slots(_, base, _), Some(i), _) => return Ok(Val::N(base + 1 + 2 * i as Slot)),
                    (LookupNs::Slots(_, _, sbase), None, Some(i)) => return Ok(Val::S(sbase + i as SSlot)),
                    (LookupNs::Const(_, f), Some(i), _) => {
                        return Ok(Val::KN(f.as_ref().and_then(|f| f.nums[i]).unwrap_or(0.0)));
                    }
                    (LookupNs::Const(_, f), None, Some(_)) => {
                        let name = f
                            .as_ref()
                            .and_then(|f| f.tier)
                            .and_then(|t| self.known.and_then(|k| k.registry.tiers().get(t as usize)))
                            .map(|t| t.name().to_string())
                            .unwrap_or_default();
                        return Ok(Val::KS(name));
                    }
                    _ => {}
                }
            }
        }
        if let Some(f) = self.rs.formulas.get(name) {
            if !f.params.is_empty() {
                return Err(self.err(
                    src,
                    at,
                    format!("`{name}` takes {} argument(s); call it as `{}`", f.params.len(), f.signature()),
                ));
            }
            return self.named(&format!("f:{name}"), name, f, HashMap::new());
        }
        if let Some((c, _)) = self.rs.constants.get(name) {
            return Ok(match c {
                super::file::Constant::Num(x) => Val::KN(*x),
                super::file::Constant::Bool(b) => Val::KB(*b),
                super::file::Constant::Str(s) => Val::KS(s.clone()),
            });
        }
        if let Some(ri) = self.record.iter().position(|(n, _, _)| n == name) {
            let key = format!("rec:{name}");
            if let Some(v) = self.memo_get(&key) {
                return Ok(v);
            }
            let ty = self.record[ri].1;
            let i = ri as u16;
            let v = match ty {
                Ty::Str => {
                    let d = self.new_str(src, at)?;
                    self.prologue.push(Ins::RecS { d, i });
                    Val::S(d)
                }
                Ty::Num | Ty::Bool => {
                    let d = self.new_num();
                    self.prologue.push(Ins::Rec { d, i });
                    if ty == Ty::Num { Val::N(d) } else { Val::B(d) }
                }
            };
            if let Some(first) = self.memo.first_mut() {
                first.insert(key, v.clone());
            }
            self.trace_into(name, "", &v, src, true)?;
            return Ok(v);
        }
        if let Some((i, ty, _)) = inputs::input(name) {
            if !inputs::available(name, self.ns) {
                return Err(self.err(src, at, format!("`{name}` is not available in this operation")));
            }
            if let Some(v) = self.known_input(name, i, ty) {
                return Ok(v);
            }
            let key = format!("in:{name}");
            if let Some(v) = self.memo_get(&key) {
                return Ok(v);
            }
            let v = match ty {
                Ty::Str => {
                    let d = self.new_str(src, at)?;
                    // inputs dominate everything: load them in the prologue
                    self.prologue.push(Ins::InStr { d, i });
                    Val::S(d)
                }
                Ty::Num | Ty::Bool => {
                    let d = self.new_num();
                    self.prologue.push(Ins::In { d, i });
                    if ty == Ty::Num { Val::N(d) } else { Val::B(d) }
                }
            };
            if let Some(first) = self.memo.first_mut() {
                first.insert(key, v.clone());
            }
            self.trace_into(name, "", &v, src, true)?;
            return Ok(v);
        }
        let names = self.visible_names();
        let mut e = self.err(src, at, format!("unknown name `{name}`"));
        e.help = closest(name, names.iter().map(String::as_str)).map(|c| format!("did you mean `{c}`?"));
        Err(e)
    }

    /// A tier or model field as a constant, when the program is specialised.
    fn known_input(&self, name: &str, i: inputs::Input, ty: Ty) -> Option<Val> {
        let k = self.known?;
        if !(name.starts_with("hw.") || name.starts_with("model.")) {
            return None;
        }
        let inp = inputs::Inputs { hw: Some(k.hw), model: k.model, ..Default::default() };
        Some(match ty {
            Ty::Num => Val::KN(inp.num(i).0),
            Ty::Bool => Val::KB(inp.num(i).0 != 0.0),
            Ty::Str => Val::KS(inp.str(i).0.to_string()),
        })
    }

    fn named(&mut self, key: &str, display: &str, f: &'r Formula, params: HashMap<String, Val>) -> R<Val> {
        if let Some(v) = self.memo_get(key) {
            return Ok(v);
        }
        if let Some(pos) = self.stack.iter().position(|k| k == key) {
            let mut chain: Vec<String> =
                self.stack[pos..].iter().map(|k| k.split_once(':').map(|(_, n)| n).unwrap_or(k).to_string()).collect();
            chain.push(display.to_string());
            return Err(self.err(&f.src, 0, format!("cycle between formulas: {}", chain.join(" → "))));
        }
        self.stack.push(key.to_string());
        self.params.push(params);
        let r = self.expr(&f.expr, &f.src);
        self.params.pop();
        self.stack.pop();
        let v = r?;
        self.trace(display, &f.text, &v, &f.src)?;
        self.memo_put(key.to_string(), v.clone());
        Ok(v)
    }

    fn expr(&mut self, e: &Expr, src: &Src) -> R<Val> {
        match e {
            Expr::Num(x) => Ok(Val::KN(*x)),
            Expr::Bool(b) => Ok(Val::KB(*b)),
            Expr::Str(s) => Ok(Val::KS(s.clone())),
            Expr::Var { name, at } => self.var(name, *at, src),
            Expr::Call { name, args, at } => self.call(name, args, *at, src),
            Expr::Unary(UnOp::Neg, a) => {
                let at = first_at(a);
                match self.expr(a, src)? {
                    Val::KN(x) => Ok(Val::KN(-x)),
                    v => {
                        let s = self.as_num(v, src, at, "the operand of `-`")?;
                        let d = self.new_num();
                        self.emit(Ins::Neg { d, a: s });
                        Ok(Val::N(d))
                    }
                }
            }
            Expr::Unary(UnOp::Not, a) => {
                let at = first_at(a);
                match self.expr(a, src)? {
                    Val::KB(b) => Ok(Val::KB(!b)),
                    v => {
                        let s = self.as_bool(v, src, at, "the operand of `!`")?;
                        let d = self.new_num();
                        self.emit(Ins::Not { d, a: s });
                        Ok(Val::B(d))
                    }
                }
            }
            Expr::Binary(op @ (BinOp::And | BinOp::Or), a, b) => self.logic(*op, a, b, src),
            Expr::Binary(op, a, b) => {
                let at = first_at(e);
                let va = self.expr(a, src)?;
                let vb = self.expr(b, src)?;
                self.binary(*op, va, vb, src, at)
            }
        }
    }

    fn logic(&mut self, op: BinOp, a: &Expr, b: &Expr, src: &Src) -> R<Val> {
        let at = first_at(a);
        let va = self.expr(a, src)?;
        let what = format!("the operands of `{}`", op.text());
        if let Val::KB(x) = va {
            // constant left side: short-circuit at load
            return match (op, x) {
                (BinOp::And, false) => Ok(Val::KB(false)),
                (BinOp::Or, true) => Ok(Val::KB(true)),
                _ => {
                    let vb = self.expr(b, src)?;
                    let s = self.as_bool(vb, src, first_at(b), &what)?;
                    Ok(Val::B(s))
                }
            };
        }
        let sa = self.as_bool(va, src, at, &what)?;
        // a constant right side decides or drops out (formulas have no side effects)
        if self.known.is_some() {
            let mark = self.code.len();
            let (mn, ms) = (self.nnum, self.nstr);
            self.push_level();
            let vb = self.expr(b, src);
            self.pop_level();
            match (op, vb) {
                (BinOp::And, Ok(Val::KB(false))) | (BinOp::Or, Ok(Val::KB(true))) => {
                    self.code.truncate(mark);
                    let _ = (mn, ms);
                    return Ok(Val::KB(op == BinOp::Or));
                }
                (BinOp::And, Ok(Val::KB(true))) | (BinOp::Or, Ok(Val::KB(false))) => {
                    self.code.truncate(mark);
                    return Ok(Val::B(sa));
                }
                _ => self.code.truncate(mark),
            }
        }
        let d = self.new_num();
        self.emit(Ins::Mov { d, a: sa });
        let jump_at = self.code.len();
        if op == BinOp::And {
            self.emit(Ins::Jz { c: d, to: 0 });
        } else {
            let nd = self.new_num();
            self.emit(Ins::Not { d: nd, a: d });
            self.emit(Ins::Jz { c: nd, to: 0 });
        }
        let jz = self.code.len() - 1;
        self.push_level();
        let vb = self.expr(b, src);
        let vb = vb.and_then(|v| self.as_bool(v, src, first_at(b), &what));
        self.pop_level();
        let sb = vb?;
        self.emit(Ins::Mov { d, a: sb });
        let end = self.code.len() as u32;
        if let Some(Ins::Jz { to, .. }) = self.code.get_mut(jz) {
            *to = end;
        }
        let _ = jump_at;
        Ok(Val::B(d))
    }

    fn binary(&mut self, op: BinOp, a: Val, b: Val, src: &Src, at: usize) -> R<Val> {
        use BinOp::*;
        let (ta, tb) = (a.ty(), b.ty());
        // constant folding with the runtime semantics
        match (&a, &b) {
            (Val::KN(x), Val::KN(y)) => {
                let (x, y) = (*x, *y);
                return Ok(match op {
                    Add => Val::KN(x + y),
                    Sub => Val::KN(x - y),
                    Mul => Val::KN(x * y),
                    Div => Val::KN(x / y),
                    Rem => Val::KN(super::vm::py_rem(x, y)),
                    Pow => Val::KN(x.powf(y)),
                    Eq => Val::KB(x == y),
                    Ne => Val::KB(x != y),
                    Lt => Val::KB(x < y),
                    Le => Val::KB(x <= y),
                    Gt => Val::KB(x > y),
                    Ge => Val::KB(x >= y),
                    And | Or => return Err(self.err(src, at, "`&&`/`||` need booleans")),
                });
            }
            (Val::KS(x), Val::KS(y)) => match op {
                Eq => return Ok(Val::KB(x == y)),
                Ne => return Ok(Val::KB(x != y)),
                Add => return Ok(Val::KS(format!("{x}{y}"))),
                _ => {}
            },
            (Val::KB(x), Val::KB(y)) => match op {
                Eq => return Ok(Val::KB(x == y)),
                Ne => return Ok(Val::KB(x != y)),
                _ => {}
            },
            _ => {}
        }
        let mismatch =
            |cx: &Self| cx.err(src, at, format!("`{}` cannot combine a {} and a {}", op.text(), ta.name(), tb.name()));
        match (ta, tb) {
            (Ty::Num, Ty::Num) => {
                let sa = self.as_num(a, src, at, "operand")?;
                let sb = self.as_num(b, src, at, "operand")?;
                let d = self.new_num();
                let (ins, boolean) = match op {
                    Add => (Ins::Add { d, a: sa, b: sb }, false),
                    Sub => (Ins::Sub { d, a: sa, b: sb }, false),
                    Mul => (Ins::Mul { d, a: sa, b: sb }, false),
                    Div => (Ins::Div { d, a: sa, b: sb }, false),
                    Rem => (Ins::Rem { d, a: sa, b: sb }, false),
                    Pow => (Ins::Pow { d, a: sa, b: sb }, false),
                    Eq => (Ins::EqN { d, a: sa, b: sb }, true),
                    Ne => (Ins::NeN { d, a: sa, b: sb }, true),
                    Lt => (Ins::Lt { d, a: sa, b: sb }, true),
                    Le => (Ins::Le { d, a: sa, b: sb }, true),
                    Gt => (Ins::Gt { d, a: sa, b: sb }, true),
                    Ge => (Ins::Ge { d, a: sa, b: sb }, true),
                    And | Or => return Err(mismatch(self)),
                };
                self.emit(ins);
                Ok(if boolean { Val::B(d) } else { Val::N(d) })
            }
            (Ty::Str, Ty::Str) => {
                let sa = self.as_str(a, src, at, "operand")?;
                let sb = self.as_str(b, src, at, "operand")?;
                match op {
                    Eq | Ne => {
                        let d = self.new_num();
                        self.emit(if op == Eq { Ins::EqS { d, a: sa, b: sb } } else { Ins::NeS { d, a: sa, b: sb } });
                        Ok(Val::B(d))
                    }
                    Add => {
                        let d = self.new_str(src, at)?;
                        self.emit(Ins::Concat { d, a: sa, b: sb });
                        Ok(Val::S(d))
                    }
                    _ => Err(mismatch(self)),
                }
            }
            (Ty::Bool, Ty::Bool) if matches!(op, Eq | Ne) => {
                let sa = self.as_bool(a, src, at, "operand")?;
                let sb = self.as_bool(b, src, at, "operand")?;
                let d = self.new_num();
                self.emit(if op == Eq { Ins::EqN { d, a: sa, b: sb } } else { Ins::NeN { d, a: sa, b: sb } });
                Ok(Val::B(d))
            }
            _ => Err(mismatch(self)),
        }
    }

    fn table_index(&self, kind: &str, name: &str, src: &Src, at: usize) -> R<u16> {
        let names: Vec<&str> = if kind == "table" {
            self.tables.maps.iter().map(|(n, _)| n.as_str()).collect()
        } else {
            self.tables.sets.iter().map(|(n, _)| n.as_str()).collect()
        };
        match names.iter().position(|n| *n == name) {
            Some(i) => Ok(i as u16),
            None => {
                let mut e = self.err(src, at, format!("unknown {kind} `{name}`"));
                e.help = closest(name, names.iter().copied())
                    .map(|c| format!("did you mean `{c}`?"))
                    .or_else(|| Some(format!("known: {}", names.join(", "))));
                Err(e)
            }
        }
    }

    fn call(&mut self, name: &str, args: &[Expr], at: usize, src: &Src) -> R<Val> {
        if let Some((_, arity, sig)) = BUILTINS.iter().find(|b| b.0 == name) {
            if args.len() != *arity {
                return Err(self.err(
                    src,
                    at,
                    format!("`{name}` takes {arity} argument(s), found {}: `{sig}`", args.len()),
                ));
            }
            return self.builtin(name, args, at, src);
        }
        if let Some(f) = self.rs.formulas.get(name) {
            if f.params.is_empty() {
                return Err(self.err(
                    src,
                    at,
                    format!("`{name}` is a formula without parameters; write `{name}`, not `{name}(…)`"),
                ));
            }
            if f.params.len() != args.len() {
                return Err(self.err(
                    src,
                    at,
                    format!("`{name}` takes {} argument(s), found {}: `{}`", f.params.len(), args.len(), f.signature()),
                ));
            }
            let mut vals = Vec::new();
            for a in args {
                vals.push(self.expr(a, src)?);
            }
            let key = format!("f:{name}({})", vals.iter().map(Val::key).collect::<Vec<_>>().join(","));
            if self.memo_get(&key).is_none() {
                for (p, v) in f.params.iter().zip(&vals) {
                    self.trace(p, "", v, src)?;
                }
            }
            let params: HashMap<String, Val> = f.params.iter().cloned().zip(vals).collect();
            return self.named(&key, &f.signature(), f, params);
        }
        let mut candidates: Vec<&str> = BUILTINS.iter().map(|b| b.0).collect();
        candidates.extend(self.rs.formulas.iter().filter(|(_, f)| !f.params.is_empty()).map(|(k, _)| k.as_str()));
        let mut e = self.err(src, at, format!("unknown function `{name}`"));
        e.help = closest(name, candidates.iter().copied()).map(|c| format!("did you mean `{c}`?"));
        Err(e)
    }

    fn builtin(&mut self, name: &str, args: &[Expr], at: usize, src: &Src) -> R<Val> {
        let arg_at = |i: usize| args.get(i).map(first_at).filter(|a| *a > 0).unwrap_or(at);
        match name {
            "if" => return self.if_(args, at, src),
            "has" => return self.has(&args[0], at, src),
            "lookup_or" => return self.lookup_or(args, at, src),
            _ => {}
        }
        let mut vals = Vec::new();
        for a in args {
            vals.push(self.expr(a, src)?);
        }
        let num1 = |cx: &mut Self, vals: &[Val], f: fn(f64) -> f64, mk: fn(Slot, Slot) -> Ins| -> R<Val> {
            if let Val::KN(x) = vals[0] {
                return Ok(Val::KN(f(x)));
            }
            let a = cx.as_num(vals[0].clone(), src, arg_at(0), &format!("the argument of `{name}`"))?;
            let d = cx.new_num();
            cx.emit(mk(d, a));
            Ok(Val::N(d))
        };
        match name {
            "max" | "min" => {
                if let (Val::KN(x), Val::KN(y)) = (&vals[0], &vals[1]) {
                    return Ok(Val::KN(if name == "max" { py_max(*x, *y) } else { py_min(*x, *y) }));
                }
                let a = self.as_num(vals[0].clone(), src, arg_at(0), &format!("the arguments of `{name}`"))?;
                let b = self.as_num(vals[1].clone(), src, arg_at(1), &format!("the arguments of `{name}`"))?;
                let d = self.new_num();
                self.emit(if name == "max" { Ins::Max { d, a, b } } else { Ins::Min { d, a, b } });
                Ok(Val::N(d))
            }
            "abs" => num1(self, &vals, f64::abs, |d, a| Ins::Abs { d, a }),
            "floor" => num1(self, &vals, f64::floor, |d, a| Ins::Floor { d, a }),
            "ceil" => num1(self, &vals, f64::ceil, |d, a| Ins::Ceil { d, a }),
            "sqrt" => num1(self, &vals, f64::sqrt, |d, a| Ins::Sqrt { d, a }),
            "round" => {
                let n = match vals[1] {
                    Val::KN(n) if (0.0..=15.0).contains(&n) && n.fract() == 0.0 => n as u8,
                    _ => {
                        return Err(self.err(
                            src,
                            arg_at(1),
                            "the digits of `round` must be a constant integer from 0 to 15",
                        ));
                    }
                };
                if let Val::KN(x) = vals[0] {
                    return Ok(Val::KN(py_round(x, u32::from(n))));
                }
                let a = self.as_num(vals[0].clone(), src, arg_at(0), "the value of `round`")?;
                let d = self.new_num();
                self.emit(Ins::Round { d, a, n });
                Ok(Val::N(d))
            }
            "lower" => {
                if let Val::KS(s) = &vals[0] {
                    return Ok(Val::KS(s.to_lowercase()));
                }
                let a = self.as_str(vals[0].clone(), src, arg_at(0), "the argument of `lower`")?;
                let d = self.new_str(src, at)?;
                self.emit(Ins::Lower { d, a });
                Ok(Val::S(d))
            }
            "str" => {
                if let Val::KN(x) = vals[0] {
                    return Ok(Val::KS(py_float_repr(x)));
                }
                let a = self.as_num(vals[0].clone(), src, arg_at(0), "the argument of `str`")?;
                let d = self.new_str(src, at)?;
                self.emit(Ins::Repr { d, a });
                Ok(Val::S(d))
            }
            "peak_tops" | "has_tops_field" | "capability" | "capability_via" => {
                if name != "has_tops_field" && !self.ns.hw {
                    return Err(self.err(
                        src,
                        at,
                        format!("`{name}` reads the tier, which this operation does not have"),
                    ));
                }
                if let (Val::KS(key), Some(k)) = (&vals[0], self.known) {
                    let row = k.hw.capability.as_ref().and_then(|t| t.entries.get(key.as_str()));
                    return Ok(match name {
                        "peak_tops" => {
                            Val::KN(k.registry.dtypes().tops_field(key).map(|f| f.get(&k.hw.spec)).unwrap_or(0.0))
                        }
                        "has_tops_field" => Val::KB(k.registry.dtypes().tops_field(key).is_some()),
                        "capability" => Val::KS(row.map(|r| r.level.as_str().to_string()).unwrap_or_default()),
                        _ => Val::KS(row.and_then(|r| r.via_dtype.clone()).unwrap_or_default()),
                    });
                }
                let a = self.as_str(vals[0].clone(), src, arg_at(0), &format!("the argument of `{name}`"))?;
                match name {
                    "peak_tops" | "has_tops_field" => {
                        let d = self.new_num();
                        if name == "peak_tops" {
                            self.emit(Ins::PeakTops { d, a });
                            Ok(Val::N(d))
                        } else {
                            self.emit(Ins::HasTopsField { d, a });
                            Ok(Val::B(d))
                        }
                    }
                    _ => {
                        let d = self.new_str(src, at)?;
                        self.emit(if name == "capability" {
                            Ins::Capability { d, a }
                        } else {
                            Ins::CapabilityVia { d, a }
                        });
                        Ok(Val::S(d))
                    }
                }
            }
            "member" => {
                let Val::KS(set) = &vals[0] else {
                    return Err(self.err(src, arg_at(0), "the set of `member` must be a string constant"));
                };
                let set = self.table_index("set", set, src, arg_at(0))?;
                if let Val::KS(key) = &vals[1] {
                    let hit = self.tables.sets.get(set as usize).is_some_and(|(_, s)| s.iter().any(|x| x == key));
                    return Ok(Val::KB(hit));
                }
                let a = self.as_str(vals[1].clone(), src, arg_at(1), "the key of `member`")?;
                let d = self.new_num();
                self.emit(Ins::Member { d, set, a });
                Ok(Val::B(d))
            }
            _ => Err(self.err(src, at, format!("unknown function `{name}`"))),
        }
    }

    /// `lookup_or("table", key, default)`: the default is evaluated only when the key is
    /// missing.
    fn lookup_or(&mut self, args: &[Expr], at: usize, src: &Src) -> R<Val> {
        let arg_at = |i: usize| args.get(i).map(first_at).filter(|a| *a > 0).unwrap_or(at);
        let Expr::Str(table) = &args[0] else {
            return Err(self.err(src, arg_at(0), "the table of `lookup_or` must be a string constant"));
        };
        let table = self.table_index("table", table, src, arg_at(0))?;
        let key = self.expr(&args[1], src)?;
        if let Val::KS(k) = &key {
            let hit = self.tables.maps.get(table as usize).and_then(|(_, m)| m.get(k.as_str())).cloned();
            return match hit {
                Some(v) => Ok(Val::KS(v)),
                None => self.expr(&args[2], src),
            };
        }
        let a = self.as_str(key, src, arg_at(1), "the key of `lookup_or`")?;
        let d = self.new_str(src, at)?;
        let f = self.new_num();
        self.emit(Ins::LookupOr { d, f, table, a });
        let jz = self.code.len();
        let nf = self.new_num();
        self.emit(Ins::Not { d: nf, a: f });
        self.emit(Ins::Jz { c: nf, to: 0 });
        self.push_level();
        let r = self.expr(&args[2], src).and_then(|v| self.as_str(v, src, arg_at(2), "the default of `lookup_or`"));
        self.pop_level();
        let b = r?;
        self.emit(Ins::MovS { d, a: b });
        let end = self.code.len() as u32;
        if let Some(Ins::Jz { to, .. }) = self.code.get_mut(jz + 1) {
            *to = end;
        }
        Ok(Val::S(d))
    }

    fn has(&mut self, arg: &Expr, at: usize, src: &Src) -> R<Val> {
        let Expr::Var { name, at: vat } = arg else {
            return Err(self.err(src, at, "`has` takes a name, e.g. `has(opt.npu_share)`"));
        };
        if let Some(ns) = self.lookup_ns.clone() {
            let kind = ns.kind();
            if let Some(field) = name.strip_prefix(kind.namespace()).and_then(|r| r.strip_prefix('.')) {
                if let Some(i) = kind.num_fields().iter().position(|f| *f == field) {
                    return Ok(match ns {
                        LookupNs::Slots(_, base, _) => Val::B(base + 2 + 2 * i as Slot),
                        LookupNs::Const(_, f) => Val::KB(f.as_ref().and_then(|f| f.nums[i]).is_some()),
                    });
                }
            }
        }
        if let Some(ri) = self.record.iter().position(|(n, _, _)| n == name) {
            if !self.record[ri].2 {
                return Err(self.err(
                    src,
                    *vat,
                    format!("`{name}` is always present; `has` applies to optional names"),
                ));
            }
            let key = format!("rechas:{name}");
            if let Some(v) = self.memo_get(&key) {
                return Ok(v);
            }
            let d = self.new_num();
            self.prologue.push(Ins::RecHas { d, i: ri as u16 });
            if let Some(first) = self.memo.first_mut() {
                first.insert(key, Val::B(d));
            }
            return Ok(Val::B(d));
        }
        match inputs::input(name) {
            Some((i, ty, true)) => {
                if !inputs::available(name, self.ns) {
                    return Err(self.err(src, *vat, format!("`{name}` is not available in this operation")));
                }
                if let Some(k) = self.known.filter(|_| name.starts_with("hw.") || name.starts_with("model.")) {
                    let inp = inputs::Inputs { hw: Some(k.hw), model: k.model, ..Default::default() };
                    let present = if ty == Ty::Str { inp.str(i).1 } else { inp.num(i).1 };
                    return Ok(Val::KB(present));
                }
                let key = format!("has:{name}");
                if let Some(v) = self.memo_get(&key) {
                    return Ok(v);
                }
                let d = self.new_num();
                self.prologue.push(if ty == Ty::Str { Ins::InHasStr { d, i } } else { Ins::InHas { d, i } });
                if let Some(first) = self.memo.first_mut() {
                    first.insert(key, Val::B(d));
                }
                Ok(Val::B(d))
            }
            Some((_, _, false)) => {
                Err(self.err(src, *vat, format!("`{name}` is always present; `has` applies to optional names")))
            }
            None => Err(self.err(src, *vat, format!("`has` needs an optional input or lookup field, found `{name}`"))),
        }
    }

    fn if_(&mut self, args: &[Expr], at: usize, src: &Src) -> R<Val> {
        let c = self.expr(&args[0], src)?;
        if let Val::KB(b) = c {
            return self.expr(&args[if b { 1 } else { 2 }], src);
        }
        let cs = self.as_bool(c, src, first_at(&args[0]).max(at), "the condition of `if`")?;
        // when both branches are values already at hand, a select beats two jumps
        let start = self.code.len();
        self.push_level();
        let va = self.expr(&args[1], src);
        self.pop_level();
        if let Some(va) = va.ok().filter(|_| self.code.len() == start) {
            self.push_level();
            let vb = self.expr(&args[2], src);
            self.pop_level();
            if let Some(vb) = vb.ok().filter(|v| self.code.len() == start && v.ty() == va.ty()) {
                return match va.ty() {
                    Ty::Str => {
                        let a = self.as_str(va, src, at, "value")?;
                        let b = self.as_str(vb, src, at, "value")?;
                        let d = self.new_str(src, at)?;
                        self.emit(Ins::SelS { d, c: cs, a, b });
                        Ok(Val::S(d))
                    }
                    ty => {
                        let (a, b) = if ty == Ty::Num {
                            (self.as_num(va, src, at, "value")?, self.as_num(vb, src, at, "value")?)
                        } else {
                            (self.as_bool(va, src, at, "value")?, self.as_bool(vb, src, at, "value")?)
                        };
                        let d = self.new_num();
                        self.emit(Ins::Sel { d, c: cs, a, b });
                        Ok(if ty == Ty::Num { Val::N(d) } else { Val::B(d) })
                    }
                };
            }
        }
        self.code.truncate(start);
        let jz = self.code.len();
        self.emit(Ins::Jz { c: cs, to: 0 });
        self.push_level();
        let va = self.expr(&args[1], src);
        let (dest, ty) = match va {
            Ok(v) => {
                let ty = v.ty();
                let dest = match ty {
                    Ty::Str => {
                        let s = self.as_str(v, src, at, "value")?;
                        let d = self.new_str(src, at)?;
                        self.emit(Ins::MovS { d, a: s });
                        d
                    }
                    Ty::Num | Ty::Bool => {
                        let s = if ty == Ty::Num {
                            self.as_num(v, src, at, "value")?
                        } else {
                            self.as_bool(v, src, at, "value")?
                        };
                        let d = self.new_num();
                        self.emit(Ins::Mov { d, a: s });
                        d
                    }
                };
                (dest, ty)
            }
            Err(e) => {
                self.pop_level();
                return Err(e);
            }
        };
        self.pop_level();
        let jmp = self.code.len();
        self.emit(Ins::Jmp { to: 0 });
        let else_start = self.code.len() as u32;
        if let Some(Ins::Jz { to, .. }) = self.code.get_mut(jz) {
            *to = else_start;
        }
        self.push_level();
        let vb = self.expr(&args[2], src);
        let r = vb.and_then(|v| {
            if v.ty() != ty {
                return Err(self.err(
                    src,
                    first_at(&args[2]).max(at),
                    format!("the branches of `if` have different types: {} and {}", ty.name(), v.ty().name()),
                ));
            }
            match ty {
                Ty::Str => {
                    let s = self.as_str(v, src, at, "value")?;
                    self.emit(Ins::MovS { d: dest, a: s });
                }
                Ty::Num => {
                    let s = self.as_num(v, src, at, "value")?;
                    self.emit(Ins::Mov { d: dest, a: s });
                }
                Ty::Bool => {
                    let s = self.as_bool(v, src, at, "value")?;
                    self.emit(Ins::Mov { d: dest, a: s });
                }
            }
            Ok(())
        });
        self.pop_level();
        r?;
        let end = self.code.len() as u32;
        if let Some(Ins::Jmp { to }) = self.code.get_mut(jmp) {
            *to = end;
        }
        Ok(match ty {
            Ty::Str => Val::S(dest),
            Ty::Num => Val::N(dest),
            Ty::Bool => Val::B(dest),
        })
    }

    /// Resolves an output field through the current frames.
    fn field(&mut self, name: &str, ty: Ty, src: &Src) -> R<Val> {
        let v = self.var(name, 0, src)?;
        if v.ty() != ty {
            return Err(self.err(src, 0, format!("`{name}` must be a {}, found a {}", ty.name(), v.ty().name())));
        }
        Ok(v)
    }

    fn feas_slots(&mut self, src: &Src) -> R<FeasSlots> {
        let v = self.field("verdict", Ty::Str, src)?;
        let verdict = self.as_str(v, src, 0, "verdict")?;
        let mut nums = [0; 6];
        for (i, (f, _)) in FEASIBILITY_FIELDS.iter().skip(1).enumerate() {
            let v = self.field(f, Ty::Num, src)?;
            nums[i] = self.as_num(v, src, 0, f)?;
        }
        Ok(FeasSlots { verdict, nums })
    }

    fn outcome(&mut self, o: Outcome) {
        let i = self.outcomes.len() as u16;
        self.outcomes.push(o);
        self.emit(Ins::Emit { o: i });
    }

    fn finish(mut self, paths: Vec<PathMeta>, gates: Vec<String>) -> Compiled {
        let off = 0u32;
        // constants first: a scratch that already holds them skips these
        let (mut code, rest): (Vec<Ins>, Vec<Ins>) = std::mem::take(&mut self.prologue)
            .into_iter()
            .partition(|i| matches!(i, Ins::Num { .. } | Ins::Str { .. }));
        let consts = code.len();
        code.extend(rest);
        let off = code.len() as u32 - off;
        for ins in &mut self.code {
            match ins {
                Ins::Jz { to, .. } | Ins::Jmp { to } => *to += off,
                _ => {}
            }
        }
        code.append(&mut self.code);
        let mut program = Program {
            id: super::vm::next_program_id(),
            consts,
            code,
            n_num: self.nnum,
            n_str: self.nstr,
            pool: self.pool,
            lookups: self.lookups,
        };
        let (mut live_n, mut live_s) = (Vec::new(), Vec::new());
        for o in &self.outcomes {
            match o {
                Outcome::Scalar(s) => live_n.push(*s),
                Outcome::Feasibility(f) | Outcome::WontFit(_, f) => {
                    live_s.push(f.verdict);
                    live_n.extend(f.nums);
                }
                Outcome::DtypeMismatch(_, s) => live_s.extend(s),
                Outcome::Projected(_, p) => {
                    live_n.extend(p.nums);
                    live_n.extend(p.ceiling);
                    live_s.push(p.regime);
                }
                Outcome::NoAnswer => {}
                Outcome::Record(v) => {
                    for (ty, s) in v {
                        if *ty == Ty::Str {
                            live_s.push(*s);
                        } else {
                            live_n.push(*s);
                        }
                    }
                }
                Outcome::Failed(_, s) => live_s.push(*s),
            }
        }
        program.prune(&live_n, &live_s);
        Compiled { program, outcomes: self.outcomes, events: self.events, trace_names: self.trace_names, paths, gates }
    }
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
    let c = compile_unverified(rs, tables, entry, traced, known)?;
    if c.program.n_num > u16::MAX as usize || c.program.n_str > u16::MAX as usize {
        return Err(vec![missing(rs, "a smaller entry point (more than 65535 values)")]);
    }
    c.program
        .verify(tables)
        .map_err(|m| vec![missing(rs, &format!("a valid program ({m}); this is a bug in ratchet"))])?;
    Ok(c)
}

fn compile_unverified<'r>(
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
    let mut cx = Cx {
        rs,
        tables,
        ns,
        traced,
        prologue: Vec::new(),
        code: Vec::new(),
        nnum: 0,
        nstr: 0,
        pool: Vec::new(),
        knum: HashMap::new(),
        kstr: HashMap::new(),
        lookups: Vec::new(),
        memo: vec![HashMap::new()],
        frames: Vec::new(),
        lookup_ns: None,
        known,
        record: Vec::new(),
        params: Vec::new(),
        stack: Vec::new(),
        trace_names: Vec::new(),
        trace_index: HashMap::new(),
        outcomes: Vec::new(),
        events: Vec::new(),
    };
    let mut errors = Vec::new();
    match entry {
        EntryKind::KvBytes => {
            let Some(f) = &rs.kv else {
                return Err(vec![missing(rs, "llm.kv_cache_bytes_per_token")]);
            };
            match cx.expr(&f.expr, &f.src).and_then(|v| cx.as_num(v, &f.src, 0, "`kv_cache_bytes_per_token`")) {
                Ok(s) => cx.outcome(Outcome::Scalar(s)),
                Err(e) => errors.push(e),
            }
            if errors.is_empty() {
                return Ok(cx.finish(Vec::new(), Vec::new()));
            }
        }
        EntryKind::Feasibility => {
            cx.frames.push((&rs.feas_lets, "entry".into()));
            cx.frames.push((&rs.feasibility, "feasibility".into()));
            let src = rs.feasibility_src.clone();
            match cx.feas_slots(&src) {
                Ok(f) => cx.outcome(Outcome::Feasibility(f)),
                Err(e) => errors.push(e),
            }
            if errors.is_empty() {
                return Ok(cx.finish(Vec::new(), Vec::new()));
            }
        }
        EntryKind::Project => {
            let Some(p) = &rs.project else {
                return Err(vec![missing(rs, "llm.project")]);
            };
            cx.frames.push((&p.lets, "entry".into()));
            cx.frames.push((&rs.feasibility, "feasibility".into()));
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
                    let mut e = CompileError {
                        message: format!("the cascade names the unknown path `{name}`"),
                        help: None,
                        src: src.clone(),
                        at: 0,
                    };
                    e.help = closest(name, p.paths.keys().map(String::as_str)).map(|c| format!("did you mean `{c}`?"));
                    errors.push(e);
                    continue;
                };
                metas.push(PathMeta {
                    name: name.clone(),
                    source: path.source.clone(),
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
                cx.outcome(Outcome::NoAnswer);
            }
            if errors.is_empty() {
                return Ok(cx.finish(metas, gates));
            }
        }
    }
    Err(errors)
}

fn missing(rs: &RuleSet, what: &str) -> CompileError {
    CompileError {
        message: format!("rule set `{}` has no `{what}`", rs.name),
        help: None,
        src: rs.root_src.clone(),
        at: 0,
    }
}

/// Compiles a gate; returns true when it always holds (nothing after it can run).
fn compile_gate<'r>(cx: &mut Cx<'r>, gi: u16, g: &'r GateDef) -> R<bool> {
    let c = cx.expr(&g.when.expr, &g.when.src)?;
    let always = match c {
        Val::KB(false) => return Ok(false),
        Val::KB(true) => true,
        _ => false,
    };
    let jz = cx.code.len();
    if !always {
        let cs = cx.as_bool(c, &g.when.src, 0, "a gate's `when`")?;
        cx.emit(Ins::Jz { c: cs, to: 0 });
    }
    cx.push_level();
    cx.note(Event::GateHeld(gi));
    cx.frames.push((&g.fields, format!("gate{gi}")));
    let r = (|| -> R<()> {
        match g.outcome.as_str() {
            "wont_fit" => {
                let f = cx.feas_slots(&g.when.src)?;
                cx.outcome(Outcome::WontFit(gi, f));
            }
            "dtype_mismatch" => {
                let mut s = [0; 3];
                for (i, (f, ty)) in MISMATCH_FIELDS.iter().enumerate() {
                    let v = cx.field(f, *ty, &g.when.src)?;
                    s[i] = cx.as_str(v, &g.when.src, 0, f)?;
                }
                cx.outcome(Outcome::DtypeMismatch(gi, s));
            }
            other => {
                return Err(cx.err(
                    &g.outcome_src,
                    0,
                    format!("unknown gate outcome `{other}`; expected `wont_fit` or `dtype_mismatch`"),
                ));
            }
        }
        Ok(())
    })();
    cx.frames.pop();
    cx.pop_level();
    r?;
    if always {
        return Ok(true);
    }
    let end = cx.code.len() as u32;
    if let Some(Ins::Jz { to, .. }) = cx.code.get_mut(jz) {
        *to = end;
    }
    cx.note(Event::GatePassed(gi));
    Ok(false)
}

/// Compiles a lookup. When every argument is known at load (a specialised program), the
/// lookup runs now and its fields become constants; returns `Some(found)` in that case.
fn compile_lookup<'r>(cx: &mut Cx<'r>, l: &'r LookupDef) -> R<Option<bool>> {
    let mut keys = Vec::new();
    for k in &l.keys {
        keys.push(cx.expr(&k.expr, &k.src)?);
    }
    let one = |f: &'r Option<Formula>, cx: &mut Cx<'r>| -> R<Option<Val>> {
        match f {
            Some(f) => Ok(Some(cx.expr(&f.expr, &f.src)?)),
            None => Ok(None),
        }
    };
    let workload = one(&l.workload, cx)?;
    let family = one(&l.family, cx)?;
    let skip = one(&l.skip, cx)?;
    if let Some(k) = cx.known {
        let konst = |v: &Option<Val>| match v {
            None => Some(String::new()),
            Some(Val::KS(s)) => Some(s.clone()),
            Some(_) => None,
        };
        let key_texts: Option<Vec<String>> = keys.iter().map(|v| konst(&Some(v.clone()))).collect();
        let workload_known = konst(&workload).or_else(|| lookups_workload_free(l.kind, k).then(String::new));
        if let (Some(key_texts), Some(w), Some(f), Some(sk)) = (key_texts, workload_known, konst(&family), konst(&skip))
        {
            let refs: Vec<&str> = key_texts.iter().map(String::as_str).collect();
            let found = super::lookups::search(l.kind, &refs, &w, &f, &sk, k.hw, k.registry);
            let hit = found.is_some();
            cx.lookup_ns = Some(LookupNs::Const(l.kind, found));
            return Ok(Some(hit));
        }
    }
    let mut key_slots = Vec::new();
    for (k, v) in l.keys.iter().zip(keys) {
        key_slots.push(cx.as_str(v, &k.src, 0, "a lookup key")?);
    }
    let slot = |v: Option<Val>, cx: &mut Cx<'r>| -> R<Option<SSlot>> {
        match v {
            Some(v) => Ok(Some(cx.as_str(v, &l.src, 0, "a lookup argument")?)),
            None => Ok(None),
        }
    };
    let workload = slot(workload, cx)?;
    let family = slot(family, cx)?;
    let skip = slot(skip, cx)?;
    let base = cx.nnum as Slot;
    for _ in 0..l.kind.num_slots() {
        cx.new_num();
    }
    let sbase = cx.nstr as SSlot;
    for _ in l.kind.str_fields() {
        cx.new_str(&l.src, 0)?;
    }
    let id = cx.lookups.len() as u16;
    cx.lookups.push(LookupSite { kind: l.kind, keys: key_slots, workload, family, skip, base, sbase });
    cx.emit(Ins::Lookup { id });
    cx.lookup_ns = Some(LookupNs::Slots(l.kind, base, sbase));
    Ok(None)
}

fn lookups_workload_free(kind: LookupKind, k: Known<'_>) -> bool {
    super::lookups::workload_free(kind, k.hw)
}

/// Compiles a path; returns true when it always answers (later paths are unreachable).
fn compile_path<'r>(cx: &mut Cx<'r>, pi: u16, path: &'r PathDef, p: &'r super::model::ProjectDef) -> R<bool> {
    cx.push_level();
    cx.frames.push((&p.outputs, format!("outputs{pi}")));
    cx.frames.push((&path.scope, format!("path{pi}")));
    let mut skips = Vec::new();
    let mut conditional = false;
    let r = (|| -> R<bool> {
        if let Some(w) = &path.when {
            let c = cx.expr(&w.expr, &w.src)?;
            match c {
                Val::KB(false) => return Ok(false),
                Val::KB(true) => {}
                c => {
                    conditional = true;
                    let cs = cx.as_bool(c, &w.src, 0, "a path's `when`")?;
                    if cx.traced {
                        // note the skip reason before jumping away
                        let nc = cx.new_num();
                        cx.emit(Ins::Not { d: nc, a: cs });
                        let jz = cx.code.len();
                        cx.emit(Ins::Jz { c: nc, to: 0 });
                        cx.note(Event::PathWhenFalse(pi));
                        skips.push(cx.code.len());
                        cx.emit(Ins::Jmp { to: 0 });
                        let here = cx.code.len() as u32;
                        if let Some(Ins::Jz { to, .. }) = cx.code.get_mut(jz) {
                            *to = here;
                        }
                    } else {
                        skips.push(cx.code.len());
                        cx.emit(Ins::Jz { c: cs, to: 0 });
                    }
                }
            }
        }
        if let Some(l) = &path.lookup {
            match compile_lookup(cx, l)? {
                Some(false) => return Ok(false),
                Some(true) => {}
                None => {
                    conditional = true;
                    let base = match cx.lookup_ns {
                        Some(LookupNs::Slots(_, b, _)) => b,
                        _ => 0,
                    };
                    if cx.traced {
                        let nc = cx.new_num();
                        cx.emit(Ins::Not { d: nc, a: base });
                        let jz = cx.code.len();
                        cx.emit(Ins::Jz { c: nc, to: 0 });
                        cx.note(Event::PathNotFound(pi));
                        skips.push(cx.code.len());
                        cx.emit(Ins::Jmp { to: 0 });
                        let here = cx.code.len() as u32;
                        if let Some(Ins::Jz { to, .. }) = cx.code.get_mut(jz) {
                            *to = here;
                        }
                    } else {
                        skips.push(cx.code.len());
                        cx.emit(Ins::Jz { c: base, to: 0 });
                    }
                }
            }
        }
        cx.note(Event::PathTaken(pi));
        let mut nums = [0; 7];
        for (i, (f, ty)) in PROJECTED_FIELDS.iter().take(7).enumerate() {
            let v = cx.field(f, *ty, &path.src)?;
            let s = cx.as_num(v, &path.src, 0, f)?;
            nums[i] = round_if(cx, f, s, p);
        }
        let rv = cx.field("regime", Ty::Str, &path.src)?;
        let regime = cx.as_str(rv, &path.src, 0, "regime")?;
        let ceiling =
            if path.scope.contains_key("decode_ceiling_tok_s") || p.outputs.contains_key("decode_ceiling_tok_s") {
                let v = cx.field("decode_ceiling_tok_s", Ty::Num, &path.src)?;
                let s = cx.as_num(v, &path.src, 0, "decode_ceiling_tok_s")?;
                Some(round_if(cx, "decode_ceiling_tok_s", s, p))
            } else {
                None
            };
        cx.outcome(Outcome::Projected(pi, ProjSlots { nums, regime, ceiling }));
        Ok(!conditional)
    })();
    cx.lookup_ns = None;
    cx.frames.pop();
    cx.frames.pop();
    cx.pop_level();
    let always = r?;
    let end = cx.code.len() as u32;
    for j in skips {
        match cx.code.get_mut(j) {
            Some(Ins::Jz { to, .. }) | Some(Ins::Jmp { to }) => *to = end,
            _ => {}
        }
    }
    Ok(always)
}

fn round_if(cx: &mut Cx<'_>, field: &str, s: Slot, p: &super::model::ProjectDef) -> Slot {
    match p.rounding.get(field) {
        Some((n, _)) => {
            let d = cx.new_num();
            cx.emit(Ins::Round { d, a: s, n: (*n).min(15) as u8 });
            d
        }
        None => s,
    }
}

/// A record program: its namespaces, declared inputs and required outputs.
pub struct RecordSpec<'r> {
    /// The entry or operation.
    pub def: &'r super::model::RecordDef,
    /// Namespaces besides the declared inputs.
    pub ns: Namespaces,
    /// Declared inputs: (name, type, optional).
    pub fields: Vec<(String, Ty, bool)>,
    /// Required outputs: (name, type); `None` type accepts any (operations).
    pub outputs: Vec<(String, Option<Ty>)>,
}

/// Compiles a record entry or operation.
pub fn compile_record(rs: &RuleSet, tables: &Tables, spec: &RecordSpec<'_>) -> Result<Compiled, Vec<CompileError>> {
    let mut cx = Cx {
        rs,
        tables,
        ns: spec.ns,
        traced: false,
        prologue: Vec::new(),
        code: Vec::new(),
        nnum: 0,
        nstr: 0,
        pool: Vec::new(),
        knum: HashMap::new(),
        kstr: HashMap::new(),
        lookups: Vec::new(),
        memo: vec![HashMap::new()],
        frames: Vec::new(),
        lookup_ns: None,
        known: None,
        record: spec.fields.clone(),
        params: Vec::new(),
        stack: Vec::new(),
        trace_names: Vec::new(),
        trace_index: HashMap::new(),
        outcomes: Vec::new(),
        events: Vec::new(),
    };
    let def = spec.def;
    let mut errors = Vec::new();
    for (name, _) in &spec.outputs {
        if !def.outputs.contains_key(name) {
            errors.push(CompileError {
                message: format!("`{}` has no output `{name}`", def.name),
                help: None,
                src: def.src.clone(),
                at: 0,
            });
        }
    }
    for (name, f) in &def.outputs {
        if !spec.outputs.iter().any(|(n, _)| n == name) {
            let known: Vec<&str> = spec.outputs.iter().map(|o| o.0.as_str()).collect();
            errors.push(CompileError {
                message: format!("unknown output `{name}` of `{}`", def.name),
                help: closest(name, known.iter().copied())
                    .map(|c| format!("did you mean `{c}`?"))
                    .or_else(|| Some(format!("outputs: {}", known.join(", ")))),
                src: f.src.clone(),
                at: 0,
            });
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    cx.frames.push((&def.lets, "entry".into()));
    cx.frames.push((&def.outputs, "out".into()));
    let r = (|| -> R<()> {
        for c in &def.checks {
            let v = cx.expr(&c.when.expr, &c.when.src)?;
            if v == Val::KB(false) {
                continue;
            }
            let always = v == Val::KB(true);
            let jz = cx.code.len();
            if !always {
                let cs = cx.as_bool(v, &c.when.src, 0, "a check's `when`")?;
                cx.emit(Ins::Jz { c: cs, to: 0 });
            }
            cx.push_level();
            let m = cx.expr(&c.message.expr, &c.message.src);
            let m = m.and_then(|m| cx.as_str(m, &c.message.src, 0, "a check's `message`"));
            cx.pop_level();
            let m = m?;
            cx.outcome(Outcome::Failed(u8::from(c.kind == "unknown_key"), m));
            if always {
                return Ok(());
            }
            let end = cx.code.len() as u32;
            if let Some(Ins::Jz { to, .. }) = cx.code.get_mut(jz) {
                *to = end;
            }
        }
        let mut slots = Vec::new();
        for (name, want) in &spec.outputs {
            let f = def.outputs.get(name).map(|f| &f.src).unwrap_or(&def.src);
            let v = cx.var(name, 0, f)?;
            let ty = v.ty();
            if let Some(w) = want {
                if *w != ty {
                    return Err(cx.err(f, 0, format!("output `{name}` must be a {}, found a {}", w.name(), ty.name())));
                }
            }
            let slot = match ty {
                Ty::Str => cx.as_str(v, f, 0, name)?,
                Ty::Bool => cx.as_bool(v, f, 0, name)?,
                Ty::Num => {
                    let s = cx.as_num(v, f, 0, name)?;
                    match def.rounding.get(name) {
                        Some(n) => {
                            let d = cx.new_num();
                            cx.emit(Ins::Round { d, a: s, n: (*n).min(15) as u8 });
                            d
                        }
                        None => s,
                    }
                }
            };
            slots.push((ty, slot));
        }
        cx.outcome(Outcome::Record(slots));
        Ok(())
    })();
    if let Err(e) = r {
        return Err(vec![e]);
    }
    let c = cx.finish(Vec::new(), Vec::new());
    c.program
        .verify(tables)
        .map_err(|m| vec![missing(rs, &format!("a valid program ({m}); this is a bug in ratchet"))])?;
    Ok(c)
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
    for e in super::entries::ENTRIES {
        defined.extend(e.fields.iter().map(|f| f.0.to_string()));
    }
    defined.extend(inputs::INPUTS.iter().map(|e| e.1.to_string()));
    let table_names: Vec<&str> =
        tables.maps.iter().map(|t| t.0.as_str()).chain(tables.sets.iter().map(|t| t.0.as_str())).collect();
    let mut out = Vec::new();
    for f in rs.all_formulas() {
        walk_names(&f.expr, &mut |e| match e {
            Expr::Var { name, at } if !defined.iter().any(|d| d == name) && !f.params.iter().any(|p| p == name) => {
                out.push(CompileError {
                    message: format!("unknown name `{name}`"),
                    help: closest(name, defined.iter().map(String::as_str)).map(|c| format!("did you mean `{c}`?")),
                    src: f.src.clone(),
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
                            src: f.src.clone(),
                            at: *at,
                        });
                    }
                    Some(n) if n != args.len() => out.push(CompileError {
                        message: format!("`{name}` takes {n} argument(s), found {}", args.len()),
                        help: None,
                        src: f.src.clone(),
                        at: *at,
                    }),
                    _ => {}
                }
                if matches!(name.as_str(), "lookup_or" | "member") {
                    if let Some(Expr::Str(t)) = args.first() {
                        if !table_names.contains(&t.as_str()) {
                            out.push(CompileError {
                                message: format!("unknown table `{t}`"),
                                help: closest(t, table_names.iter().copied()).map(|c| format!("did you mean `{c}`?")),
                                src: f.src.clone(),
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

fn walk_names(e: &Expr, f: &mut dyn FnMut(&Expr)) {
    f(e);
    match e {
        Expr::Call { args, .. } => args.iter().for_each(|a| walk_names(a, f)),
        Expr::Unary(_, a) => walk_names(a, f),
        Expr::Binary(_, a, b) => {
            walk_names(a, f);
            walk_names(b, f);
        }
        _ => {}
    }
}

/// Cycles among global formulas (reported once per cycle, at its first formula).
fn cycles(rs: &RuleSet) -> Vec<CompileError> {
    let names: Vec<&String> = rs.formulas.keys().collect();
    let deps = |f: &Formula| -> Vec<String> {
        let mut v = Vec::new();
        walk_names(&f.expr, &mut |e| match e {
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
        if let Some((key, f)) = rs.formulas.get_key_value(n) {
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
                                src: first.src.clone(),
                                at: 0,
                            });
                        }
                        let _ = key;
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

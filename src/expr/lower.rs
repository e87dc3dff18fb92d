//! Lowering: one walk from the formula AST to a [`Program`], shared by both dialects (the
//! rule sets' projection formulas and the packs' sizing formulas).
//!
//! The core owns what the two languages have in common — literals, operators and their
//! typing, constant folding with the run-time semantics, `if` / `&&` / `||` evaluated lazily
//! (or as a select when both branches are already at hand), named formulas computed once
//! where their first use dominates the later ones, register allocation, the string pool and
//! the opt-in trace. A [`Dialect`] resolves names, lowers the functions it registers, says
//! whether run-time math fails like Python or follows IEEE, and words the errors.

use super::code::{Cmp, Ins, Op1, Op2, Program, Reg, TraceName, Ty, minmax, py_rem};
use super::syntax::{BinOp, Expr, UnOp};
use crate::numeric::py_round;
use std::collections::HashMap;

/// A value during compilation: a register of a known type, or a constant folded at load.
#[derive(Debug, Clone, PartialEq)]
pub enum V {
    /// A register.
    R(Reg, Ty),
    /// A number constant.
    N(f64),
    /// A boolean constant.
    B(bool),
    /// A string constant.
    S(String),
}

impl V {
    /// The value's type.
    pub fn ty(&self) -> Ty {
        match self {
            V::R(_, t) => *t,
            V::N(_) => Ty::Num,
            V::B(_) => Ty::Bool,
            V::S(_) => Ty::Str,
        }
    }

    /// A key identifying the value (memo keys of formulas with arguments).
    pub fn key(&self) -> String {
        match self {
            V::R(r, t) => format!("{}{r}", t.name().chars().next().unwrap_or('r')),
            V::N(x) => format!("k{}", x.to_bits()),
            V::B(b) => format!("kb{b}"),
            V::S(s) => format!("ks{s:?}"),
        }
    }
}

/// A load-time error: message, suggestion, offset in the formula text, and where (the
/// dialect's notion of which formula).
#[derive(Debug, Clone, PartialEq)]
pub struct CompileError<W> {
    /// Lower-case message, user input in backticks.
    pub message: String,
    /// A suggestion.
    pub help: Option<String>,
    /// Offset in the formula text.
    pub at: usize,
    /// Which formula.
    pub site: W,
}

/// A result of lowering.
pub type Res<T, W> = Result<T, CompileError<W>>;

/// The first name offset in an expression (0 when it has none): where an error about it
/// points.
pub fn first_at(e: &Expr) -> usize {
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

/// The smallest name offset in an expression (0 when it has none).
pub fn min_at(e: &Expr) -> usize {
    match e {
        Expr::Var { at, .. } | Expr::Call { at, .. } => *at,
        Expr::Unary(_, a) => min_at(a),
        Expr::Binary(_, a, b) => min_at(a).min(min_at(b)),
        _ => 0,
    }
}

fn literal_ty(e: &Expr) -> Option<Ty> {
    match e {
        Expr::Str(_) => Some(Ty::Str),
        Expr::Bool(_) => Some(Ty::Bool),
        _ => None,
    }
}

/// What a formula language adds to the core.
pub trait Dialect: Sized {
    /// Where an error is (which formula).
    type Site: Clone;

    /// Run-time math fails like Python (`ZeroDivisionError`, `ValueError`) instead of giving
    /// IEEE infinities and NaN.
    const CHECKED_MATH: bool;

    /// Resolves a name (`want`: the type the context expects, when it knows one).
    fn var(cx: &mut Lower<Self>, name: &str, at: usize, want: Option<Ty>) -> Res<V, Self::Site>;

    /// Lowers a call.
    fn call(cx: &mut Lower<Self>, name: &str, args: &[Expr], at: usize, want: Option<Ty>) -> Res<V, Self::Site>;

    /// The handle of a string constant.
    fn str_const(cx: &mut Lower<Self>, s: &str) -> f64;

    /// A value of the wrong type: `got` where `want` was needed, as `what` (a description of
    /// the position, e.g. "the condition of `if`"), in `e` at `at`.
    fn type_error(cx: &Lower<Self>, got: Ty, want: Ty, what: &str, e: &Expr, at: usize) -> CompileError<Self::Site>;

    /// Operands an operator cannot combine.
    fn operand_error(
        cx: &Lower<Self>,
        op: BinOp,
        a: (&Expr, Ty),
        b: (&Expr, Ty),
        whole: &Expr,
    ) -> CompileError<Self::Site>;

    /// The two branches of an `if` (or `default`) have different types.
    fn branch_error(cx: &Lower<Self>, then: Ty, other: (&Expr, Ty), at: usize) -> CompileError<Self::Site>;

    /// A named formula (written at `site`) that reaches itself: `stack[pos..]`, then
    /// `display` again.
    fn cycle_error(
        cx: &Lower<Self>,
        stack: &[String],
        pos: usize,
        display: &str,
        site: &Self::Site,
        at: usize,
    ) -> CompileError<Self::Site>;

    /// A mark of the dialect's own records (paths read, …), for [`Dialect::rollback`].
    fn checkpoint(&self) -> usize {
        0
    }

    /// Forgets the dialect's records made since `mark` (a speculatively compiled branch that
    /// was dropped).
    fn rollback(&mut self, _mark: usize) {}
}

/// The then-branch of [`Lower::branches`].
pub type ThenBranch<'f, D> = dyn FnMut(&mut Lower<D>) -> Res<V, <D as Dialect>::Site> + 'f;

/// The else-branch of [`Lower::branches`]: compiled knowing the type of the then-branch.
pub type ElseBranch<'f, D> = dyn FnMut(&mut Lower<D>, Ty) -> Res<V, <D as Dialect>::Site> + 'f;

/// The lowering state of one program: the dialect's state, the code being built, constants,
/// memo levels and the trace table.
pub struct Lower<D: Dialect> {
    /// The dialect's state.
    pub d: D,
    /// Instructions after the prologue.
    pub code: Vec<Ins>,
    /// Instructions that run first (inputs that dominate everything).
    pub prologue: Vec<Ins>,
    init: Vec<f64>,
    knum: HashMap<u64, Reg>,
    /// String constants (pool handles index it).
    pub pool: Vec<String>,
    kpool: HashMap<String, u32>,
    memo: Vec<HashMap<String, V>>,
    stack: Vec<String>,
    params: Vec<HashMap<String, V>>,
    /// The formula being compiled.
    pub site: D::Site,
    /// Emit `Trace` and `Note` instructions.
    pub traced: bool,
    trace_names: Vec<TraceName>,
    trace_index: HashMap<String, u16>,
    /// Fold `a && b` / `a || b` whose right side is constant (a specialised program: the
    /// right side is compiled speculatively and dropped).
    pub fold_logic_rhs: bool,
}

/// A position in the code being built, for rolling back a speculative lowering.
#[derive(Debug, Clone, Copy)]
pub struct Mark {
    code: usize,
    regs: usize,
    dialect: usize,
}

impl<D: Dialect> Lower<D> {
    /// An empty program for dialect state `d`, compiling at `site`.
    pub fn new(d: D, site: D::Site) -> Self {
        Lower {
            d,
            code: Vec::new(),
            prologue: Vec::new(),
            init: Vec::new(),
            knum: HashMap::new(),
            pool: Vec::new(),
            kpool: HashMap::new(),
            memo: vec![HashMap::new()],
            stack: Vec::new(),
            params: Vec::new(),
            site,
            traced: false,
            trace_names: Vec::new(),
            trace_index: HashMap::new(),
            fold_logic_rhs: false,
        }
    }

    /// An error at `at` in the current formula.
    pub fn err(&self, at: usize, message: impl Into<String>) -> CompileError<D::Site> {
        CompileError { message: message.into(), help: None, at, site: self.site.clone() }
    }

    /// A fresh register.
    pub fn reg(&mut self) -> Res<Reg, D::Site> {
        self.regs(1)
    }

    /// `n` fresh, consecutive registers; the first.
    pub fn regs(&mut self, n: usize) -> Res<Reg, D::Site> {
        let first = self.init.len();
        if first + n >= Reg::MAX as usize {
            return Err(self.err(0, "the formulas need more than 65535 values in one program"));
        }
        self.init.resize(first + n, 0.0);
        Ok(first as Reg)
    }

    /// A register holding the constant `x` (one per bit pattern).
    pub fn konst(&mut self, x: f64) -> Res<Reg, D::Site> {
        if let Some(r) = self.knum.get(&x.to_bits()) {
            return Ok(*r);
        }
        let r = self.reg()?;
        self.init[r as usize] = x;
        self.knum.insert(x.to_bits(), r);
        Ok(r)
    }

    /// The pool index of a string constant.
    pub fn pool_index(&mut self, s: &str) -> u32 {
        if let Some(i) = self.kpool.get(s) {
            return *i;
        }
        let i = self.pool.len() as u32;
        self.pool.push(s.to_string());
        self.kpool.insert(s.to_string(), i);
        i
    }

    /// Appends an instruction.
    #[inline]
    pub fn emit(&mut self, i: Ins) {
        self.code.push(i);
    }

    /// Appends an instruction to the prologue.
    pub fn emit_prologue(&mut self, i: Ins) {
        self.prologue.push(i);
    }

    /// The index the next instruction will have (a jump target, within `code`).
    pub fn here(&self) -> u32 {
        self.code.len() as u32
    }

    /// Points the jump at `at` (in `code`) to `to`.
    pub fn patch(&mut self, at: usize, to: u32) {
        if let Some(t) = self.code.get_mut(at).and_then(Ins::target_mut) {
            *t = to;
        }
    }

    /// The lazy default of a lookup whose host operation left `[value, found]` in `d`,
    /// `d + 1`: `default` is lowered as a branch that runs only when nothing was found, and
    /// its register moved into `d`.
    pub fn unless_found(&mut self, d: Reg, default: impl FnOnce(&mut Self) -> Res<Reg, D::Site>) -> Res<(), D::Site> {
        let zero = self.konst(0.0)?;
        let jump = self.code.len();
        self.emit(Ins::JmpUnless { op: Cmp::Eq, a: d + 1, b: zero, to: 0 });
        self.push_level();
        let r = default(self);
        self.pop_level();
        let r = r?;
        self.emit(Ins::Mov { d, a: r });
        let end = self.here();
        self.patch(jump, end);
        Ok(())
    }

    /// A mark for [`Lower::rollback`].
    pub fn mark(&self) -> Mark {
        Mark { code: self.code.len(), regs: self.init.len(), dialect: self.d.checkpoint() }
    }

    /// Drops the code (and the dialect's records) made since `m`. Registers allocated since
    /// stay allocated (unused).
    pub fn rollback(&mut self, m: Mark) {
        self.code.truncate(m.code);
        self.d.rollback(m.dialect);
    }

    /// The register of a value, materialising a constant.
    pub fn materialise(&mut self, v: V) -> Res<Reg, D::Site> {
        match v {
            V::R(r, _) => Ok(r),
            V::N(x) => self.konst(x),
            V::B(b) => self.konst(if b { 1.0 } else { 0.0 }),
            V::S(s) => {
                let h = D::str_const(self, &s);
                self.konst(h)
            }
        }
    }

    /// Checks that `v` has type `want` (`what` describes the position for the message).
    pub fn check(&mut self, v: V, want: Ty, what: &str, e: &Expr, at: usize) -> Res<V, D::Site> {
        if v.ty() == want { Ok(v) } else { Err(D::type_error(self, v.ty(), want, what, e, at)) }
    }

    /// [`Lower::check`], then the register.
    pub fn reg_of(&mut self, v: V, want: Ty, what: &str, e: &Expr, at: usize) -> Res<Reg, D::Site> {
        let v = self.check(v, want, what, e, at)?;
        self.materialise(v)
    }

    // ---- memo levels: a value computed in a branch is not reused after it

    /// A memoised value.
    pub fn memo_get(&self, key: &str) -> Option<V> {
        self.memo.iter().rev().find_map(|m| m.get(key).cloned())
    }

    /// Memoises a value at the current level.
    pub fn memo_put(&mut self, key: String, v: V) {
        if let Some(top) = self.memo.last_mut() {
            top.insert(key, v);
        }
    }

    /// Memoises a value at the top level (a prologue value dominates everything).
    pub fn memo_put_root(&mut self, key: String, v: V) {
        if let Some(first) = self.memo.first_mut() {
            first.insert(key, v);
        }
    }

    /// Enters a branch.
    pub fn push_level(&mut self) {
        self.memo.push(HashMap::new());
    }

    /// Leaves a branch.
    pub fn pop_level(&mut self) {
        self.memo.pop();
    }

    /// The named formulas being compiled, outermost first.
    pub fn stack(&self) -> &[String] {
        &self.stack
    }

    /// A parameter of the innermost named formula (or a binding of the program's top level).
    pub fn param(&self, name: &str) -> Option<V> {
        self.params.last().and_then(|p| p.get(name)).cloned()
    }

    /// The parameters visible now.
    pub fn params(&self) -> impl Iterator<Item = &str> {
        self.params.last().into_iter().flat_map(|p| p.keys().map(String::as_str))
    }

    /// Binds a name at the program's top level (a value computed by an earlier step).
    pub fn bind(&mut self, name: &str, v: V) {
        if self.params.is_empty() {
            self.params.push(HashMap::new());
        }
        if let Some(p) = self.params.first_mut() {
            p.insert(name.to_string(), v);
        }
    }

    // ---- trace

    /// Records `v` under `name` in traced programs (`prologue`: with the input loads).
    pub fn trace(&mut self, name: &str, text: &str, v: &V, prologue: bool) -> Res<(), D::Site> {
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
        let r = self.materialise(v.clone())?;
        let ins = Ins::Trace { name: idx, r, ty };
        if prologue {
            self.prologue.push(ins);
        } else {
            self.code.push(ins);
        }
        Ok(())
    }

    /// Records event `ev` in traced programs.
    pub fn note(&mut self, ev: u16) {
        if self.traced {
            self.code.push(Ins::Note { ev });
        }
    }

    // ---- the walk

    /// Lowers an expression (`want`: the type the context expects, when known).
    pub fn expr(&mut self, e: &Expr, want: Option<Ty>) -> Res<V, D::Site> {
        match e {
            Expr::Num(x) => Ok(V::N(*x)),
            Expr::Bool(b) => Ok(V::B(*b)),
            Expr::Str(s) => Ok(V::S(s.clone())),
            Expr::Var { name, at } => D::var(self, name, *at, want),
            Expr::Call { name, args, at } => D::call(self, name, args, *at, want),
            Expr::Unary(op, a) => self.unary(*op, a),
            Expr::Binary(op @ (BinOp::And | BinOp::Or), a, b) => self.logic(*op, a, b),
            Expr::Binary(op, a, b) => self.binary(*op, a, b, e),
        }
    }

    /// Lowers a named formula once per memo key: `key` identifies it with its arguments,
    /// `display` names it in traces and cycle messages, `site` is where its text is.
    #[allow(clippy::too_many_arguments)] // every piece is needed and they differ in kind
    pub fn named(
        &mut self,
        key: &str,
        display: &str,
        text: &str,
        e: &Expr,
        site: D::Site,
        params: HashMap<String, V>,
        at: usize,
    ) -> Res<V, D::Site> {
        if let Some(v) = self.memo_get(key) {
            return Ok(v);
        }
        if let Some(pos) = self.stack.iter().position(|k| k == key) {
            return Err(D::cycle_error(self, &self.stack, pos, display, &site, at));
        }
        self.stack.push(key.to_string());
        self.params.push(params);
        let outer = std::mem::replace(&mut self.site, site);
        let r = self.expr(e, None);
        self.site = outer;
        self.params.pop();
        self.stack.pop();
        let v = r?;
        self.trace(display, text, &v, false)?;
        self.memo_put(key.to_string(), v.clone());
        Ok(v)
    }

    fn unary(&mut self, op: UnOp, a: &Expr) -> Res<V, D::Site> {
        let v = self.expr(a, None)?;
        match op {
            UnOp::Neg => {
                let v = self.check(v, Ty::Num, "the operand of `-`", a, first_at(a))?;
                self.num1(Op1::Neg, v)
            }
            UnOp::Not => {
                let v = self.check(v, Ty::Bool, "the operand of `!`", a, first_at(a))?;
                if let V::B(b) = v {
                    return Ok(V::B(!b));
                }
                let r = self.materialise(v)?;
                let d = self.reg()?;
                self.emit(Ins::Un { op: Op1::Not, d, a: r });
                Ok(V::R(d, Ty::Bool))
            }
        }
    }

    /// A one-operand numeric operation on a number, folded when the operand is constant and
    /// the operation cannot fail on it.
    pub fn num1(&mut self, op: Op1, v: V) -> Res<V, D::Site> {
        if let V::N(x) = v {
            if let Ok(y) = op.eval(x) {
                return Ok(V::N(y));
            }
        }
        let r = self.materialise(v)?;
        let d = self.reg()?;
        self.emit(Ins::Un { op, d, a: r });
        Ok(V::R(d, Ty::Num))
    }

    /// Python `max`/`min` of two numbers.
    pub fn minmax(&mut self, max: bool, a: V, b: V) -> Res<V, D::Site> {
        if let (V::N(x), V::N(y)) = (&a, &b) {
            return Ok(V::N(minmax(max, *x, *y)));
        }
        let (ra, rb) = (self.materialise(a)?, self.materialise(b)?);
        let d = self.reg()?;
        self.emit(if max { Ins::Max { d, a: ra, b: rb } } else { Ins::Min { d, a: ra, b: rb } });
        Ok(V::R(d, Ty::Num))
    }

    /// Python `round(x, n)` of a number.
    pub fn round(&mut self, v: V, n: u8) -> Res<V, D::Site> {
        if let V::N(x) = v {
            return Ok(V::N(py_round(x, u32::from(n))));
        }
        let a = self.materialise(v)?;
        let d = self.reg()?;
        self.emit(Ins::Round { d, a, n });
        Ok(V::R(d, Ty::Num))
    }

    /// `lower(s)` of a string.
    pub fn lower_str(&mut self, v: V) -> Res<V, D::Site> {
        if let V::S(s) = &v {
            return Ok(V::S(s.to_lowercase()));
        }
        let a = self.materialise(v)?;
        let d = self.reg()?;
        self.emit(Ins::Lower { d, a });
        Ok(V::R(d, Ty::Str))
    }

    /// `str(x)` of a number (Python's float text); with `whole`, `str_int(x)`: a whole
    /// number without its `.0` (a token count), other numbers as `str`.
    pub fn repr(&mut self, v: V, whole: bool) -> Res<V, D::Site> {
        if let V::N(x) = v {
            return Ok(V::S(number_text(x, whole)));
        }
        let a = self.materialise(v)?;
        let d = self.reg()?;
        self.emit(Ins::Repr { d, a, whole });
        Ok(V::R(d, Ty::Str))
    }

    fn binary(&mut self, op: BinOp, a: &Expr, b: &Expr, whole: &Expr) -> Res<V, D::Site> {
        // `workload.llm.precision == "int8"`: a literal on either side types the other
        let hint = literal_ty(b).or_else(|| literal_ty(a));
        let x = self.expr(a, hint)?;
        let y = self.expr(b, Some(x.ty()))?;
        let (tx, ty) = (x.ty(), y.ty());
        use BinOp::*;
        let ok = match op {
            Add => (tx == Ty::Num && ty == Ty::Num) || (tx == Ty::Str && ty == Ty::Str),
            Eq | Ne => tx == ty,
            _ => tx == Ty::Num && ty == Ty::Num,
        };
        if !ok {
            return Err(D::operand_error(self, op, (a, tx), (b, ty), whole));
        }
        self.binary_values(op, x, y)
    }

    /// An operator on two values of valid types, folded when both are constant (and the
    /// operation cannot fail on them).
    fn binary_values(&mut self, op: BinOp, x: V, y: V) -> Res<V, D::Site> {
        use BinOp::*;
        let checked = D::CHECKED_MATH;
        match (&x, &y) {
            (V::N(p), V::N(q)) => {
                let (p, q) = (*p, *q);
                let folded = match op {
                    Add => Some(V::N(p + q)),
                    Sub => Some(V::N(p - q)),
                    Mul => Some(V::N(p * q)),
                    Div if !checked => Some(V::N(p / q)),
                    Div => Op2::DivChecked.eval(p, q).ok().map(V::N),
                    Rem if !checked => Some(V::N(py_rem(p, q))),
                    Rem => Op2::RemChecked.eval(p, q).ok().map(V::N),
                    Pow if !checked => Some(V::N(p.powf(q))),
                    Pow => Op2::PowChecked.eval(p, q).ok().map(V::N),
                    Eq => Some(V::B(p == q)),
                    Ne => Some(V::B(p != q)),
                    Lt => Some(V::B(p < q)),
                    Le => Some(V::B(p <= q)),
                    Gt => Some(V::B(p > q)),
                    Ge => Some(V::B(p >= q)),
                    And | Or => None,
                };
                if let Some(v) = folded {
                    return Ok(v);
                }
            }
            (V::S(p), V::S(q)) => match op {
                Eq => return Ok(V::B(p == q)),
                Ne => return Ok(V::B(p != q)),
                Add => return Ok(V::S(format!("{p}{q}"))),
                _ => {}
            },
            (V::B(p), V::B(q)) => match op {
                Eq => return Ok(V::B(p == q)),
                Ne => return Ok(V::B(p != q)),
                _ => {}
            },
            _ => {}
        }
        let t = x.ty();
        let (ra, rb) = (self.materialise(x)?, self.materialise(y)?);
        let d = self.reg()?;
        let (ins, ty) = match (op, t) {
            (Eq | Ne, Ty::Str) => (Ins::StrEq { d, a: ra, b: rb, ne: op == Ne }, Ty::Bool),
            (Add, Ty::Str) => (Ins::Concat { d, a: ra, b: rb }, Ty::Str),
            (Add, _) => (Ins::Add { d, a: ra, b: rb }, Ty::Num),
            (Sub, _) => (Ins::Sub { d, a: ra, b: rb }, Ty::Num),
            (Mul, _) => (Ins::Mul { d, a: ra, b: rb }, Ty::Num),
            (Div, _) if !checked => (Ins::Div { d, a: ra, b: rb }, Ty::Num),
            (Div, _) => (Ins::DivC { d, a: ra, b: rb }, Ty::Num),
            (Rem, _) => (Ins::Bin { op: if checked { Op2::RemChecked } else { Op2::Rem }, d, a: ra, b: rb }, Ty::Num),
            (Pow, _) => (Ins::Bin { op: if checked { Op2::PowChecked } else { Op2::Pow }, d, a: ra, b: rb }, Ty::Num),
            (Eq, _) => (Ins::Cmp { op: Cmp::Eq, d, a: ra, b: rb }, Ty::Bool),
            (Ne, _) => (Ins::Cmp { op: Cmp::Ne, d, a: ra, b: rb }, Ty::Bool),
            (Lt, _) => (Ins::Cmp { op: Cmp::Lt, d, a: ra, b: rb }, Ty::Bool),
            (Le, _) => (Ins::Cmp { op: Cmp::Le, d, a: ra, b: rb }, Ty::Bool),
            (Gt, _) => (Ins::Cmp { op: Cmp::Gt, d, a: ra, b: rb }, Ty::Bool),
            (Ge, _) => (Ins::Cmp { op: Cmp::Ge, d, a: ra, b: rb }, Ty::Bool),
            (And | Or, _) => return Err(self.err(0, "`&&`/`||` need booleans")),
        };
        self.emit(ins);
        Ok(V::R(d, ty))
    }

    fn logic(&mut self, op: BinOp, a: &Expr, b: &Expr) -> Res<V, D::Site> {
        let what = format!("the operands of `{}`", op.text());
        let va = self.expr(a, Some(Ty::Bool))?;
        let va = self.check(va, Ty::Bool, &what, a, first_at(a))?;
        if let V::B(x) = va {
            // a constant left side short-circuits at load
            return match (op, x) {
                (BinOp::And, false) => Ok(V::B(false)),
                (BinOp::Or, true) => Ok(V::B(true)),
                _ => {
                    let vb = self.expr(b, Some(Ty::Bool))?;
                    self.check(vb, Ty::Bool, &what, b, first_at(b))
                }
            };
        }
        let sa = self.materialise(va)?;
        if self.fold_logic_rhs {
            // a constant right side decides or drops out (formulas have no side effects)
            let m = self.mark();
            self.push_level();
            let vb = self.expr(b, Some(Ty::Bool));
            self.pop_level();
            self.rollback(m);
            match (op, vb) {
                (BinOp::And, Ok(V::B(false))) => return Ok(V::B(false)),
                (BinOp::Or, Ok(V::B(true))) => return Ok(V::B(true)),
                (BinOp::And, Ok(V::B(true))) | (BinOp::Or, Ok(V::B(false))) => return Ok(V::R(sa, Ty::Bool)),
                _ => {}
            }
        }
        let d = self.reg()?;
        self.emit(Ins::Mov { d, a: sa });
        let jump = self.code.len();
        if op == BinOp::And {
            self.emit(Ins::Jz { c: d, to: 0 });
        } else {
            // jump over when true
            let zero = self.konst(0.0)?;
            self.emit(Ins::JmpUnless { op: Cmp::Eq, a: d, b: zero, to: 0 });
        }
        self.push_level();
        let vb = self.expr(b, Some(Ty::Bool));
        let sb = vb.and_then(|v| self.reg_of(v, Ty::Bool, &what, b, first_at(b)));
        self.pop_level();
        let sb = sb?;
        self.emit(Ins::Mov { d, a: sb });
        let end = self.here();
        self.patch(jump, end);
        Ok(V::R(d, Ty::Bool))
    }

    /// `if(cond, then, other)`: folded when the condition is constant, a select when both
    /// branches are values already at hand, else lazily evaluated branches.
    pub fn if_(&mut self, args: &[Expr], at: usize, want: Option<Ty>) -> Res<V, D::Site> {
        let [cond, then, other] = args else {
            return Err(self.err(at, "`if` takes 3 argument(s)"));
        };
        let c = self.expr(cond, Some(Ty::Bool))?;
        let c = self.check(c, Ty::Bool, "the condition of `if`", cond, first_at(cond).max(at))?;
        if let V::B(k) = c {
            return self.expr(if k { then } else { other }, want);
        }
        let cr = self.materialise(c)?;
        // when both branches are values already at hand, a select beats two jumps
        let m = self.mark();
        self.push_level();
        let va = self.expr(then, want);
        self.pop_level();
        if let Ok(va) = va {
            if self.code.len() == m.code {
                self.push_level();
                let vb = self.expr(other, Some(va.ty()));
                self.pop_level();
                if let Ok(vb) = vb {
                    if self.code.len() == m.code && vb.ty() == va.ty() {
                        let ty = va.ty();
                        let (a, b) = (self.materialise(va)?, self.materialise(vb)?);
                        let d = self.reg()?;
                        self.emit(Ins::Sel { d, c: cr, a, b });
                        return Ok(V::R(d, ty));
                    }
                }
            }
        }
        self.rollback(m);
        self.branches(cr, &mut |cx| cx.expr(then, want), &mut |cx, t| {
            let v = cx.expr(other, Some(t))?;
            if v.ty() != t {
                return Err(D::branch_error(cx, t, (other, v.ty()), at));
            }
            Ok(v)
        })
    }

    /// Two lazily evaluated branches on `cond` (a register holding a boolean): `then` runs
    /// when it is true, `other` (given the type of `then`) when false; both results go to
    /// one register.
    pub fn branches(
        &mut self,
        cond: Reg,
        then: &mut ThenBranch<'_, D>,
        other: &mut ElseBranch<'_, D>,
    ) -> Res<V, D::Site> {
        let jz = self.code.len();
        self.emit(Ins::Jz { c: cond, to: 0 });
        let d = self.reg()?;
        self.push_level();
        let m = self.mark();
        let r = then(self).and_then(|v| {
            let t = v.ty();
            self.place(v, d, m).map(|_| t)
        });
        self.pop_level();
        let ty = r?;
        let jmp = self.code.len();
        self.emit(Ins::Jmp { to: 0 });
        let else_at = self.here();
        self.patch(jz, else_at);
        self.push_level();
        let m = self.mark();
        let r = other(self, ty).and_then(|v| self.place(v, d, m));
        self.pop_level();
        r?;
        let end = self.here();
        self.patch(jmp, end);
        Ok(V::R(d, ty))
    }

    /// Puts a branch result into `d`: a fresh register written once in the branch, by its
    /// last instruction, is written to `d` directly; anything else is moved.
    fn place(&mut self, v: V, d: Reg, m: Mark) -> Res<(), D::Site> {
        if let V::R(r, _) = v {
            if r == d {
                return Ok(());
            }
            if r as usize >= m.regs {
                let writes = self.code[m.code..]
                    .iter()
                    .filter(|i| {
                        let (w, n) = i.writes();
                        n > 0 && r >= w && r < w + n
                    })
                    .count();
                if writes == 1 {
                    if let Some(dest) = self.code.last_mut().and_then(Ins::dest_mut) {
                        if *dest == r {
                            *dest = d;
                            return Ok(());
                        }
                    }
                }
            }
        }
        let r = self.materialise(v)?;
        self.emit(Ins::Mov { d, a: r });
        Ok(())
    }

    /// The finished program: prologue first, then the code; instructions nothing reads are
    /// pruned when `prune` (with `live` the registers read from outside), fused patterns
    /// replaced, and the result verified.
    pub fn finish(self, live: &[Reg], prune: bool, host_pure: bool) -> Result<Program, String> {
        let off = self.prologue.len() as u32;
        let mut code = self.prologue;
        for mut i in self.code {
            if let Some(t) = i.target_mut() {
                *t += off;
            }
            code.push(i);
        }
        // the end is an exit (jumps to the end land on it; the VM needs no bounds check)
        code.push(Ins::Exit { o: super::code::END });
        let mut constants: Vec<Reg> = self.knum.values().copied().collect();
        constants.sort_unstable();
        let mut p = Program {
            id: super::code::next_program_id(),
            code,
            init: self.init,
            constants,
            pool: self.pool,
            trace_names: self.trace_names,
        };
        if prune {
            p.prune(live, host_pure);
        }
        p.fuse(live);
        p.verify()?;
        Ok(p)
    }
}

/// The text of a number: Python's float text, or with `whole` a whole number's integer text.
pub(crate) fn number_text(x: f64, whole: bool) -> String {
    if whole && x.is_finite() && x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        crate::numeric::py_float_repr(x)
    }
}

//! Sizing formulas: the expressions of a pack (demands, KPIs, slider actions, budget rules)
//! parsed once with evalexpr and lowered to a flat register program over `f64`.
//!
//! Strings are interned (a register holds the id), booleans are 0/1, and every read of a
//! profile or workload value goes through an [`Env`] — a flat state vector in the what-if
//! runner, a JSON tree for one-off batch calls — so one compiled program serves both.
//! Evaluation allocates nothing unless a formula builds a new string at run time.

use crate::diagnostic::closest;
use crate::expr::{BinOp, Expr, UnOp};
use crate::numeric::{py_max, py_min, py_round};
use indexmap::IndexMap;
use std::collections::HashMap;

/// A register index.
pub type Reg = u16;

/// The static type of an expression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    /// A number (f64).
    Num,
    /// A boolean.
    Bool,
    /// A string.
    Str,
}

impl Ty {
    fn name(self) -> &'static str {
        match self {
            Ty::Num => "a number",
            Ty::Bool => "a boolean",
            Ty::Str => "a string",
        }
    }
}

/// A value read from a profile, workload, constant or table.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Val {
    /// Not present.
    Missing,
    /// A number.
    Num(f64),
    /// A boolean.
    Bool(bool),
    /// An interned string.
    Str(u32),
    /// A map or a list where a value was expected.
    Map,
}

/// A small, fast, non-cryptographic hasher for the engine's internal tables (FxHash, as in
/// rustc): keys are ids and short names of the model's own data, never untrusted input at a
/// scale where flooding matters.
#[derive(Debug, Default, Clone, Copy)]
pub struct Fx(u64);

const FX_K: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl std::hash::Hasher for Fx {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(FX_K);
        }
        for &b in chunks.remainder() {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(FX_K);
        }
    }

    #[inline]
    fn write_u32(&mut self, x: u32) {
        self.0 = (self.0.rotate_left(5) ^ u64::from(x)).wrapping_mul(FX_K);
    }

    #[inline]
    fn write_u64(&mut self, x: u64) {
        self.0 = (self.0.rotate_left(5) ^ x).wrapping_mul(FX_K);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

/// A hash map with [`Fx`].
pub type FxMap<K, V> = HashMap<K, V, std::hash::BuildHasherDefault<Fx>>;

/// String interning for one compiled sizing model.
#[derive(Debug, Default, Clone)]
pub struct Interner {
    names: Vec<String>,
    index: FxMap<String, u32>,
}

impl Interner {
    /// The id of `s`, adding it when new.
    pub fn intern(&mut self, s: &str) -> u32 {
        if let Some(&i) = self.index.get(s) {
            return i;
        }
        let i = self.names.len() as u32;
        self.names.push(s.to_string());
        self.index.insert(s.to_string(), i);
        i
    }

    /// The id of `s`, if interned.
    pub fn get(&self, s: &str) -> Option<u32> {
        self.index.get(s).copied()
    }

    /// The text of `id`.
    pub fn text(&self, id: u32) -> Option<&str> {
        self.names.get(id as usize).map(String::as_str)
    }

    /// Number of strings.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

/// Strings during one evaluation: the model's interned strings plus any new text met at run
/// time (a string in a JSON input, a concatenation).
#[derive(Debug)]
pub struct Strings<'a> {
    base: &'a Interner,
    extra: Vec<String>,
    buf: String,
}

impl<'a> Strings<'a> {
    /// Run-time strings over `base`.
    pub fn new(base: &'a Interner) -> Self {
        Strings { base, extra: Vec::new(), buf: String::new() }
    }

    /// The id of `s` (new text gets an id past the interned ones).
    pub fn id(&mut self, s: &str) -> u32 {
        if let Some(i) = self.base.get(s) {
            return i;
        }
        let n = self.base.len() as u32;
        if let Some(p) = self.extra.iter().position(|e| e == s) {
            return n + p as u32;
        }
        self.extra.push(s.to_string());
        n + (self.extra.len() - 1) as u32
    }

    /// The id of the concatenation of two strings (no allocation when it is known).
    pub fn concat(&mut self, a: u32, b: u32) -> u32 {
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        buf.push_str(self.text(a));
        buf.push_str(self.text(b));
        let id = self.id(&buf);
        self.buf = buf;
        id
    }

    /// The text of `id`.
    pub fn text(&self, id: u32) -> &str {
        match self.base.text(id) {
            Some(t) => t,
            None => self.extra.get((id as usize).wrapping_sub(self.base.len())).map_or("", String::as_str),
        }
    }

    /// Forgets run-time strings (keeps the allocation).
    pub fn reset(&mut self) {
        self.extra.clear();
    }
}

/// Which document a path reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Root {
    /// The SoC profile.
    Profile,
    /// The workload (mission).
    Workload,
}

impl Root {
    /// `profile` or `workload`.
    pub fn name(self) -> &'static str {
        match self {
            Root::Profile => "profile",
            Root::Workload => "workload",
        }
    }
}

/// One dotted path the model knows about.
#[derive(Debug, Clone)]
pub struct PathInfo {
    /// `profile.npu.tops_bf16`.
    pub text: String,
    /// Which document.
    pub root: Root,
    /// Segments after the root.
    pub segs: Vec<String>,
    /// Type, from the data or from use.
    pub ty: Option<Ty>,
    /// The pack's default when the document lacks the value.
    pub default: Option<Val>,
    /// True when some profile, workload, default or slider provides the value.
    pub provided: bool,
}

/// Every path of a model, each with a stable id (its slot in the what-if state vector).
#[derive(Debug, Clone, Default)]
pub struct Layout {
    /// Paths by id.
    pub paths: Vec<PathInfo>,
    index: HashMap<String, u32>,
    /// `(prefix path id, interned key)` → path id, for `field(prefix, key)`.
    children: FxMap<(u32, u32), u32>,
}

impl Layout {
    /// The id of `text`, adding it; `None` when it does not start with `profile.` or
    /// `workload.` or has an empty segment.
    pub fn id(&mut self, text: &str) -> Option<u32> {
        if let Some(&i) = self.index.get(text) {
            return Some(i);
        }
        let (root, rest) = split_root(text)?;
        let segs: Vec<String> = rest.split('.').map(str::to_string).collect();
        if segs.iter().any(String::is_empty) {
            return None;
        }
        let i = self.paths.len() as u32;
        self.paths.push(PathInfo { text: text.to_string(), root, segs, ty: None, default: None, provided: false });
        self.index.insert(text.to_string(), i);
        Some(i)
    }

    /// The id of `text`, if known.
    pub fn find(&self, text: &str) -> Option<u32> {
        self.index.get(text).copied()
    }

    /// Number of paths.
    pub fn len(&self) -> usize {
        self.paths.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.paths.is_empty()
    }

    /// Indexes every path under its parent path (when the parent is itself a path of the
    /// layout) by the interned last segment, for run-time keyed reads.
    pub fn index_children(&mut self, strings: &mut Interner) {
        self.children.clear();
        for (i, p) in self.paths.iter().enumerate() {
            if let Some((parent, last)) = p.text.rsplit_once('.') {
                if let Some(&pid) = self.index.get(parent) {
                    self.children.insert((pid, strings.intern(last)), i as u32);
                }
            }
        }
    }

    /// The path `prefix.key`, by interned key.
    #[inline]
    pub fn child(&self, prefix: u32, key: u32) -> Option<u32> {
        self.children.get(&(prefix, key)).copied()
    }

    /// Paths the data provides, for suggestions.
    pub fn provided(&self) -> impl Iterator<Item = &str> {
        self.paths.iter().filter(|p| p.provided).map(|p| p.text.as_str())
    }
}

/// Splits `profile.x.y` into its root and `x.y`.
pub fn split_root(text: &str) -> Option<(Root, &str)> {
    if let Some(r) = text.strip_prefix("profile.") {
        Some((Root::Profile, r))
    } else {
        text.strip_prefix("workload.").map(|r| (Root::Workload, r))
    }
}

/// Where profile and workload values come from during an evaluation.
pub trait Env {
    /// The value at path `p`.
    fn get(&self, p: u32, layout: &Layout, s: &mut Strings<'_>) -> Val;
    /// The value at `prefix.key` for a key known only at run time.
    fn dynamic(&self, prefix: u32, key: u32, layout: &Layout, s: &mut Strings<'_>) -> Val;
}

/// The what-if runner's state: one value per layout path.
impl Env for [Val] {
    #[inline]
    fn get(&self, p: u32, _: &Layout, _: &mut Strings<'_>) -> Val {
        self.get(p as usize).copied().unwrap_or(Val::Missing)
    }

    #[inline]
    fn dynamic(&self, prefix: u32, key: u32, layout: &Layout, _: &mut Strings<'_>) -> Val {
        match layout.child(prefix, key) {
            Some(i) => self.get(i as usize).copied().unwrap_or(Val::Missing),
            None => Val::Missing,
        }
    }
}

/// Profile and workload as JSON trees (batch calls and `apply_sliders`).
#[derive(Debug, Clone, Copy)]
pub struct JsonEnv<'a> {
    /// The profile map.
    pub profile: &'a serde_json::Value,
    /// The workload map.
    pub workload: &'a serde_json::Value,
}

/// Converts one JSON value.
pub fn json_val(v: Option<&serde_json::Value>, s: &mut Strings<'_>) -> Val {
    use serde_json::Value as J;
    match v {
        None | Some(J::Null) => Val::Missing,
        Some(J::Bool(b)) => Val::Bool(*b),
        Some(J::Number(n)) => n.as_f64().map_or(Val::Missing, Val::Num),
        Some(J::String(t)) => Val::Str(s.id(t)),
        Some(J::Array(_)) | Some(J::Object(_)) => Val::Map,
    }
}

impl JsonEnv<'_> {
    fn walk<'v>(&self, root: Root, segs: &[String]) -> Option<&'v serde_json::Value>
    where
        Self: 'v,
    {
        let mut cur = match root {
            Root::Profile => self.profile,
            Root::Workload => self.workload,
        };
        for s in segs {
            cur = cur.as_object()?.get(s)?;
        }
        Some(cur)
    }
}

impl Env for JsonEnv<'_> {
    fn get(&self, p: u32, layout: &Layout, s: &mut Strings<'_>) -> Val {
        let Some(info) = layout.paths.get(p as usize) else { return Val::Missing };
        json_val(self.walk(info.root, &info.segs), s)
    }

    fn dynamic(&self, prefix: u32, key: u32, layout: &Layout, s: &mut Strings<'_>) -> Val {
        let Some(info) = layout.paths.get(prefix as usize) else { return Val::Missing };
        let key = s.text(key).to_string();
        json_val(self.walk(info.root, &info.segs).and_then(|m| m.as_object()).and_then(|m| m.get(&key)), s)
    }
}

/// A lookup table of a pack: string key → value.
#[derive(Debug, Clone, Default)]
pub struct Table {
    /// The table's name (for messages).
    pub name: String,
    /// Entries by interned key.
    pub entries: HashMap<u32, Val>,
    /// The type of every value.
    pub ty: Option<Ty>,
}

/// The demands of one evaluation as seen by KPI formulas: per row an engine (interned) and
/// `stride` numbers (the five standard fields, then the model's custom metrics).
#[derive(Debug, Clone, Copy)]
pub struct DemandView<'a> {
    /// Numbers per row.
    pub stride: usize,
    /// Target engine per row.
    pub engines: &'a [u32],
    /// Row-major numbers.
    pub values: &'a [f64],
}

impl DemandView<'_> {
    /// No demands.
    pub const EMPTY: DemandView<'static> = DemandView { stride: 0, engines: &[], values: &[] };
}

/// Aggregates over demands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Agg {
    /// Sum in row order (Python's `sum`: starts at 0).
    Sum,
    /// Largest value (0 when none).
    Max,
    /// Number of rows.
    Count,
}

/// Two-operand operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op2 {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/` (division by zero is an error, as in the reference)
    Div,
    /// `%` with the sign of the divisor
    Rem,
    /// `^`
    Pow,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// Python `min(a, b)`
    Min,
    /// Python `max(a, b)`
    Max,
    /// Python `round(a, b)`
    Round,
}

/// One-operand operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op1 {
    /// `-x`
    Neg,
    /// `!b`
    Not,
    /// `abs`
    Abs,
    /// `floor`
    Floor,
    /// `ceil`
    Ceil,
    /// `sqrt` (negative is an error)
    Sqrt,
    /// natural log (non-positive is an error)
    Ln,
    /// `exp`
    Exp,
}

/// One instruction; each writes register `d`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Ins {
    /// `d = a`
    Mov {
        /// Destination.
        d: Reg,
        /// Source.
        a: Reg,
    },
    /// Read a path; missing → the path's default, else an error.
    Load {
        /// Destination.
        d: Reg,
        /// Path id.
        p: u32,
        /// Expected type.
        ty: Ty,
    },
    /// `d = 1` when path `p` holds a value.
    Has {
        /// Destination.
        d: Reg,
        /// Path id.
        p: u32,
    },
    /// Read `prefix.<key string in register key>`.
    Dyn {
        /// Destination.
        d: Reg,
        /// Prefix path id.
        prefix: u32,
        /// Register holding the key.
        key: Reg,
        /// Expected type.
        ty: Ty,
        /// Only test presence.
        has: bool,
    },
    /// A number of the current demand row.
    Field {
        /// Destination.
        d: Reg,
        /// Field index.
        f: u16,
    },
    /// The current demand row's engine.
    Engine {
        /// Destination.
        d: Reg,
    },
    /// A precomputed named formula of the evaluation (errors are raised on read).
    Global {
        /// Destination.
        d: Reg,
        /// Global index.
        g: u16,
    },
    /// `a + b`
    Add {
        /// Destination.
        d: Reg,
        /// Left.
        a: Reg,
        /// Right.
        b: Reg,
    },
    /// `a - b`
    Sub {
        /// Destination.
        d: Reg,
        /// Left.
        a: Reg,
        /// Right.
        b: Reg,
    },
    /// `a * b`
    Mul {
        /// Destination.
        d: Reg,
        /// Left.
        a: Reg,
        /// Right.
        b: Reg,
    },
    /// A program parameter.
    Param {
        /// Destination.
        d: Reg,
        /// Index.
        i: u16,
    },
    /// An aggregate over demand rows (all rows, or those of one engine).
    Agg {
        /// Destination.
        d: Reg,
        /// Which aggregate.
        kind: Agg,
        /// Field index.
        f: u16,
        /// Engine id, or `u32::MAX` for every row.
        engine: u32,
    },
    /// Binary operation.
    Bin {
        /// Operation.
        op: Op2,
        /// Destination.
        d: Reg,
        /// Left.
        a: Reg,
        /// Right.
        b: Reg,
    },
    /// Unary operation.
    Un {
        /// Operation.
        op: Op1,
        /// Destination.
        d: Reg,
        /// Operand.
        a: Reg,
    },
    /// Table lookup; `ok` = 1 when found; `strict` makes a missing key an error.
    Lookup {
        /// Missing key is an error.
        strict: bool,
        /// Destination.
        d: Reg,
        /// Found flag.
        ok: Reg,
        /// Table index.
        t: u16,
        /// Key register (string id).
        key: Reg,
    },
    /// String concatenation.
    Concat {
        /// Destination.
        d: Reg,
        /// Left.
        a: Reg,
        /// Right.
        b: Reg,
    },
    /// Jump to `t` unless `a op b` holds (a comparison fused with its branch).
    JmpUnless {
        /// Comparison (`Lt`, `Le`, `Gt`, `Ge`, `Eq`, `Ne`).
        op: Op2,
        /// Left.
        a: Reg,
        /// Right.
        b: Reg,
        /// Target.
        t: u32,
    },
    /// Unconditional jump.
    Jmp(u32),
    /// Jump when the register is 0.
    JmpIfNot(Reg, u32),
    /// Stop with "inactive" when the register is 0.
    ExitIfNot(Reg),
}

/// A run-time error, rendered against the layout.
#[derive(Debug, Clone, PartialEq)]
pub enum EvalError {
    /// A path without value or default.
    Missing(u32),
    /// A value of the wrong type.
    Type(u32, Ty),
    /// A map where a value was expected.
    NotValue(u32),
    /// Division or remainder by zero.
    DivZero,
    /// A math domain error.
    Domain(&'static str),
    /// A dynamic key that is missing.
    MissingKey(String),
}

impl EvalError {
    /// Lower-case message.
    pub fn message(&self, layout: &Layout) -> String {
        let name = |p: &u32| layout.paths.get(*p as usize).map_or("?", |i| i.text.as_str()).to_string();
        match self {
            EvalError::Missing(p) => format!("missing value `{}`", name(p)),
            EvalError::Type(p, t) => format!("`{}` is not {}", name(p), t.name()),
            EvalError::NotValue(p) => format!("`{}` is a map or a list, not a value", name(p)),
            EvalError::DivZero => "division by zero".into(),
            EvalError::Domain(w) => format!("math domain error in `{w}`"),
            EvalError::MissingKey(k) => format!("missing value `{k}`"),
        }
    }

    /// The reference's exception class for this error.
    pub fn kind(&self) -> &'static str {
        match self {
            EvalError::Missing(_) | EvalError::MissingKey(_) => "KeyError",
            EvalError::Type(..) | EvalError::NotValue(_) => "TypeError",
            EvalError::DivZero => "ZeroDivisionError",
            EvalError::Domain(_) => "ValueError",
        }
    }
}

/// A compiled program: instructions, the initial register file (constants in place) and the
/// registers holding its outputs.
#[derive(Debug, Clone, Default)]
pub struct Program {
    /// Instructions (every register operand is below `init.len()`, established by
    /// [`Compiler::finish`]; `run` relies on it).
    pub(crate) ins: Vec<Ins>,
    /// Initial registers.
    pub(crate) init: Vec<f64>,
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
        &self.ins
    }

    /// Number of registers.
    pub fn registers(&self) -> usize {
        self.init.len()
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
}

impl Program {
    /// Which outputs may change when the inputs marked in `dirty` change: taint flows forward
    /// through the instructions (jumps only go forward), and a branch on a tainted value
    /// taints everything written after it. The last element is true when the program's gate
    /// may flip.
    pub fn tainted_outputs(&self, dirty: &Dirty<'_>) -> Vec<bool> {
        let mut t = vec![false; self.init.len()];
        let mut ctl = false;
        let field_dirty = |f: u16, engine: Option<u32>| {
            (0..dirty.engines.len()).any(|row| {
                engine.is_none_or(|e| e == u32::MAX || dirty.engines[row] == e)
                    && dirty.fields.get(row * dirty.stride + f as usize).copied().unwrap_or(false)
            })
        };
        let mut gate = false;
        for ins in &self.ins {
            let (d, v) = match *ins {
                Ins::Mov { d, a } => (d, t[a as usize]),
                Ins::Load { d, p, .. } | Ins::Has { d, p } => (d, dirty.paths.get(p as usize).copied().unwrap_or(true)),
                Ins::Dyn { d, prefix, key, .. } => (d, (dirty.prefix_dirty)(prefix) || t[key as usize]),
                Ins::Field { d, f } => (d, field_dirty(f, None)),
                Ins::Engine { d } | Ins::Param { d, .. } => (d, false),
                Ins::Global { d, g } => (d, dirty.globals.get(g as usize).copied().unwrap_or(true)),
                Ins::Add { d, a, b } | Ins::Sub { d, a, b } | Ins::Mul { d, a, b } | Ins::Concat { d, a, b } => {
                    (d, t[a as usize] || t[b as usize])
                }
                Ins::Bin { d, a, b, .. } => (d, t[a as usize] || t[b as usize]),
                Ins::Un { d, a, .. } => (d, t[a as usize]),
                Ins::Agg { d, f, engine, kind } => {
                    let e = if engine == u32::MAX { None } else { Some(engine) };
                    // a count only changes with the rows themselves, which are fixed
                    (d, kind != Agg::Count && field_dirty(f, e))
                }
                Ins::Lookup { d, ok, key, .. } => {
                    let v = t[key as usize] || ctl;
                    t[ok as usize] |= v;
                    (d, v)
                }
                Ins::JmpIfNot(c, _) => {
                    ctl |= t[c as usize];
                    continue;
                }
                Ins::JmpUnless { a, b, .. } => {
                    ctl |= t[a as usize] || t[b as usize];
                    continue;
                }
                Ins::ExitIfNot(c) => {
                    gate |= t[c as usize] || ctl;
                    ctl |= t[c as usize];
                    continue;
                }
                Ins::Jmp(_) => continue,
            };
            t[d as usize] |= v || ctl;
        }
        let mut out: Vec<bool> = self.outputs.iter().map(|(r, _)| t[*r as usize] || gate).collect();
        out.push(gate);
        out
    }
}

/// What a program runs against.
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
}

#[inline]
fn val_to(v: Val, ty: Ty, p: u32) -> Result<f64, EvalError> {
    match (v, ty) {
        (Val::Num(x), Ty::Num) => Ok(x),
        (Val::Bool(b), Ty::Bool) => Ok(if b { 1.0 } else { 0.0 }),
        // Python truthiness for flags written as numbers
        (Val::Num(x), Ty::Bool) => Ok(if x != 0.0 { 1.0 } else { 0.0 }),
        (Val::Str(i), Ty::Str) => Ok(i as f64),
        (Val::Map, _) => Err(EvalError::NotValue(p)),
        (Val::Missing, _) => Err(EvalError::Missing(p)),
        _ => Err(EvalError::Type(p, ty)),
    }
}

/// Runs `p`. Returns `Ok(false)` when an `ExitIfNot` stopped it (an inactive demand, a KPI
/// whose `when` is false); outputs are then not meaningful.
pub fn run<E: Env + ?Sized>(
    p: &Program,
    env: &E,
    f: &Frame<'_>,
    regs: &mut Vec<f64>,
    s: &mut Strings<'_>,
) -> Result<bool, EvalError> {
    regs.clear();
    regs.extend_from_slice(&p.init);
    run_with(p, env, f, regs, s)
}

/// Runs `p` in a register file that holds its constants (a copy of its initial registers
/// that only `p` has run in since).
pub fn run_with<E: Env + ?Sized>(
    p: &Program,
    env: &E,
    f: &Frame<'_>,
    r: &mut [f64],
    s: &mut Strings<'_>,
) -> Result<bool, EvalError> {
    if r.len() < p.init.len() {
        return Err(EvalError::Domain("register file"));
    }
    let nreg = r.len();
    // SAFETY (for `rd`/`wr`): every register operand of `p` is below `p.init.len()` — the
    // compiler allocates registers only through `Compiler::reg`, which grows `init`, and
    // `Program`'s fields are private to the crate — and `r` is at least that long (checked
    // above).
    macro_rules! rd {
        ($i:expr) => {{
            let i = $i as usize;
            debug_assert!(i < nreg);
            unsafe { *r.get_unchecked(i) }
        }};
    }
    macro_rules! wr {
        ($i:expr, $v:expr) => {{
            let i = $i as usize;
            let v = $v;
            debug_assert!(i < nreg);
            unsafe { *r.get_unchecked_mut(i) = v }
        }};
    }
    let n = p.ins.len();
    let mut pc = 0usize;
    while pc < n {
        // SAFETY: `pc < n == p.ins.len()`
        let ins = unsafe { *p.ins.get_unchecked(pc) };
        pc += 1;
        match ins {
            Ins::Mov { d, a } => wr!(d, rd!(a)),
            Ins::Load { d, p, ty } => {
                let v = match env.get(p, f.layout, s) {
                    Val::Missing => f.layout.paths.get(p as usize).and_then(|i| i.default).unwrap_or(Val::Missing),
                    v => v,
                };
                wr!(d, val_to(v, ty, p)?);
            }
            Ins::Has { d, p } => {
                let v = env.get(p, f.layout, s);
                wr!(d, if matches!(v, Val::Missing) { 0.0 } else { 1.0 });
            }
            Ins::Dyn { d, prefix, key, ty, has } => {
                let k = rd!(key) as u32;
                let v = env.dynamic(prefix, k, f.layout, s);
                let x = if has {
                    if matches!(v, Val::Missing) { 0.0 } else { 1.0 }
                } else {
                    match v {
                        Val::Missing => {
                            let pre = f.layout.paths.get(prefix as usize).map_or("", |i| i.text.as_str());
                            return Err(EvalError::MissingKey(format!("{pre}.{}", s.text(k))));
                        }
                        v => val_to(v, ty, prefix)?,
                    }
                };
                wr!(d, x);
            }
            Ins::Field { d, f: fi } => {
                let i = f.row * f.demands.stride + fi as usize;
                wr!(d, f.demands.values.get(i).copied().unwrap_or(0.0));
            }
            Ins::Engine { d } => {
                wr!(d, f.demands.engines.get(f.row).map_or(f64::from(u32::MAX), |&e| f64::from(e)));
            }
            Ins::Param { d, i } => wr!(d, f.params.get(i as usize).copied().unwrap_or(0.0)),
            Ins::Global { d, g } => {
                if let Some(Some(e)) = f.poison.get(g as usize) {
                    return Err(e.clone());
                }
                wr!(d, f.globals.get(g as usize).copied().unwrap_or(0.0));
            }
            Ins::Add { d, a, b } => wr!(d, rd!(a) + rd!(b)),
            Ins::Sub { d, a, b } => wr!(d, rd!(a) - rd!(b)),
            Ins::Mul { d, a, b } => wr!(d, rd!(a) * rd!(b)),
            Ins::Agg { d, kind, f: fi, engine } => {
                let dv = &f.demands;
                let mut acc = 0.0f64;
                let mut first = true;
                for (row, &e) in dv.engines.iter().enumerate() {
                    if engine != u32::MAX && e != engine {
                        continue;
                    }
                    let x = dv.values.get(row * dv.stride + fi as usize).copied().unwrap_or(0.0);
                    match kind {
                        Agg::Sum => acc += x,
                        Agg::Count => acc += 1.0,
                        Agg::Max => {
                            acc = if first { x } else { py_max(acc, x) };
                        }
                    }
                    first = false;
                }
                wr!(d, acc);
            }
            Ins::Bin { op, d, a, b } => {
                let (x, y) = (rd!(a), rd!(b));
                wr!(d, bin(op, x, y)?);
            }
            Ins::Un { op, d, a } => {
                let x = rd!(a);
                wr!(d, un(op, x)?);
            }
            Ins::Lookup { strict, d, ok, t, key } => {
                let k = rd!(key) as u32;
                let table = f.tables.get(t as usize);
                match table.and_then(|t| t.entries.get(&k)) {
                    Some(v) => {
                        wr!(
                            d,
                            match *v {
                                Val::Num(x) => x,
                                Val::Bool(b) => f64::from(u8::from(b)),
                                Val::Str(i) => f64::from(i),
                                _ => 0.0,
                            }
                        );
                        wr!(ok, 1.0);
                    }
                    None if strict => {
                        let name = table.map_or("", |t| t.name.as_str());
                        return Err(EvalError::MissingKey(format!("{name}[{}]", s.text(k))));
                    }
                    None => wr!(ok, 0.0),
                }
            }
            Ins::Concat { d, a, b } => {
                let id = s.concat(rd!(a) as u32, rd!(b) as u32);
                wr!(d, f64::from(id));
            }
            Ins::JmpUnless { op, a, b, t } => {
                let (x, y) = (rd!(a), rd!(b));
                let holds = match op {
                    Op2::Lt => x < y,
                    Op2::Le => x <= y,
                    Op2::Gt => x > y,
                    Op2::Ge => x >= y,
                    Op2::Eq => x == y,
                    _ => x != y,
                };
                if !holds {
                    pc = t as usize;
                }
            }
            Ins::Jmp(t) => pc = t as usize,
            Ins::JmpIfNot(c, t) => {
                if rd!(c) == 0.0 {
                    pc = t as usize;
                }
            }
            Ins::ExitIfNot(c) => {
                if rd!(c) == 0.0 {
                    return Ok(false);
                }
            }
        }
    }
    Ok(true)
}

#[inline(always)]
fn bin(op: Op2, x: f64, y: f64) -> Result<f64, EvalError> {
    let b = |c: bool| if c { 1.0 } else { 0.0 };
    Ok(match op {
        Op2::Add => x + y,
        Op2::Sub => x - y,
        Op2::Mul => x * y,
        Op2::Div => {
            if y == 0.0 {
                return Err(EvalError::DivZero);
            }
            x / y
        }
        Op2::Rem => {
            if y == 0.0 {
                return Err(EvalError::DivZero);
            }
            crate::expr::code::py_rem(x, y)
        }
        Op2::Pow => {
            if x == 0.0 && y < 0.0 {
                return Err(EvalError::DivZero);
            }
            let v = x.powf(y);
            if v.is_nan() && !x.is_nan() && !y.is_nan() {
                return Err(EvalError::Domain("^"));
            }
            v
        }
        Op2::Lt => b(x < y),
        Op2::Le => b(x <= y),
        Op2::Gt => b(x > y),
        Op2::Ge => b(x >= y),
        Op2::Eq => b(x == y),
        Op2::Ne => b(x != y),
        Op2::Min => py_min(x, y),
        Op2::Max => py_max(x, y),
        Op2::Round => py_round(x, y.clamp(0.0, 22.0) as u32),
    })
}

#[inline]
fn un(op: Op1, x: f64) -> Result<f64, EvalError> {
    Ok(match op {
        Op1::Neg => -x,
        Op1::Not => {
            if x == 0.0 {
                1.0
            } else {
                0.0
            }
        }
        Op1::Abs => x.abs(),
        Op1::Floor => x.floor(),
        Op1::Ceil => x.ceil(),
        Op1::Sqrt => {
            if x < 0.0 {
                return Err(EvalError::Domain("sqrt"));
            }
            x.sqrt()
        }
        Op1::Ln => {
            if x <= 0.0 {
                return Err(EvalError::Domain("ln"));
            }
            x.ln()
        }
        Op1::Exp => x.exp(),
    })
}

// ---------------------------------------------------------------------------------------------
// Compiler

/// A compile error at an offset of a formula (the named formula, when it is one).
#[derive(Debug, Clone, PartialEq)]
pub struct CompileError {
    /// Lower-case message.
    pub message: String,
    /// "did you mean …".
    pub help: Option<String>,
    /// Offset in the formula text.
    pub at: usize,
    /// The named formula the error is in (`None`: the expression being compiled).
    pub formula: Option<String>,
}

type CR<T> = Result<T, CompileError>;

/// A named formula of a pack.
#[derive(Debug, Clone)]
pub struct NamedFormula {
    /// Parameter names.
    pub params: Vec<String>,
    /// The expression.
    pub expr: Expr,
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
}

/// The five standard demand fields, in record order.
pub const DEMAND_FIELDS: [&str; 5] =
    ["tops_required", "cpu_cores_required", "memory_bw_gbps", "memory_capacity_mb", "latency_ms_p99"];

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

#[derive(Debug, Clone, Copy, PartialEq)]
enum Opnd {
    K(f64),
    R(Reg),
}

/// Builds one program from one or more expressions.
pub struct Compiler<'a> {
    defs: Defs<'a>,
    /// Paths (extended as formulas name new ones).
    pub layout: &'a mut Layout,
    /// Strings.
    pub strings: &'a mut Interner,
    scope: Scope<'a>,
    ins: Vec<Ins>,
    init: Vec<f64>,
    consts: HashMap<u64, Reg>,
    binds: Vec<HashMap<String, (Opnd, Ty)>>,
    memo: HashMap<String, (Opnd, Ty)>,
    cond: u32,
    stack: Vec<String>,
    reads: Vec<u32>,
    outputs: Vec<(Reg, Ty)>,
    /// Paths read, for validation against the data: path id, offset, the named formula it
    /// is in, whether it is presence-tested, and the caller's tag (which expression).
    pub path_refs: Vec<PathRef>,
    /// Tag stamped on the path references of what is compiled next.
    pub ref_tag: usize,
    /// Named formulas read from the evaluation's precomputed globals.
    pub globals: Option<&'a IndexMap<String, GlobalDef>>,
    /// Result register for the next `if` (a branch of an enclosing `if`).
    target: Option<Reg>,
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

fn err(message: impl Into<String>, at: usize) -> CompileError {
    CompileError { message: message.into(), help: None, at, formula: None }
}

fn literal_ty(e: &Expr) -> Option<Ty> {
    match e {
        Expr::Str(_) => Some(Ty::Str),
        Expr::Bool(_) => Some(Ty::Bool),
        _ => None,
    }
}

fn expr_at(e: &Expr) -> usize {
    match e {
        Expr::Var { at, .. } | Expr::Call { at, .. } => *at,
        Expr::Unary(_, a) => expr_at(a),
        Expr::Binary(_, a, b) => expr_at(a).min(expr_at(b)),
        _ => 0,
    }
}

impl<'a> Compiler<'a> {
    /// A compiler for one program.
    pub fn new(defs: Defs<'a>, layout: &'a mut Layout, strings: &'a mut Interner, scope: Scope<'a>) -> Self {
        Compiler {
            defs,
            layout,
            strings,
            scope,
            ins: Vec::new(),
            init: Vec::new(),
            consts: HashMap::new(),
            binds: Vec::new(),
            memo: HashMap::new(),
            cond: 0,
            stack: Vec::new(),
            reads: Vec::new(),
            outputs: Vec::new(),
            path_refs: Vec::new(),
            ref_tag: 0,
            globals: None,
            target: None,
        }
    }

    fn reg(&mut self) -> CR<Reg> {
        let n = self.init.len();
        if n >= Reg::MAX as usize {
            return Err(err("the formula is too large", 0));
        }
        self.init.push(0.0);
        Ok(n as Reg)
    }

    fn konst(&mut self, x: f64) -> CR<Reg> {
        if let Some(&r) = self.consts.get(&x.to_bits()) {
            return Ok(r);
        }
        let r = self.reg()?;
        self.init[r as usize] = x;
        self.consts.insert(x.to_bits(), r);
        Ok(r)
    }

    fn materialise(&mut self, o: Opnd) -> CR<Reg> {
        match o {
            Opnd::K(x) => self.konst(x),
            Opnd::R(r) => Ok(r),
        }
    }

    /// Compiles `e` as an output of type `want`.
    pub fn output(&mut self, e: &Expr, want: Ty) -> CR<Reg> {
        let (o, t) = self.expr(e, Some(want))?;
        self.expect(t, want, e)?;
        let r = self.materialise(o)?;
        self.outputs.push((r, want));
        Ok(r)
    }

    /// A constant output (a field the pack leaves out).
    pub fn output_const(&mut self, x: f64, ty: Ty) -> CR<Reg> {
        let r = self.konst(x)?;
        self.outputs.push((r, ty));
        Ok(r)
    }

    /// Compiles a boolean gate: the program stops as inactive when it is false.
    pub fn gate(&mut self, e: &Expr) -> CR<()> {
        let (o, t) = self.expr(e, Some(Ty::Bool))?;
        self.expect(t, Ty::Bool, e)?;
        match o {
            Opnd::K(x) if x != 0.0 => {}
            o => {
                let r = self.materialise(o)?;
                self.ins.push(Ins::ExitIfNot(r));
            }
        }
        Ok(())
    }

    /// Binds a parameter name to a constant (folded into the formulas that use it).
    pub fn bind_const(&mut self, name: &str, x: f64, ty: Ty) {
        if self.binds.is_empty() {
            self.binds.push(HashMap::new());
        }
        if let Some(top) = self.binds.first_mut() {
            top.insert(name.to_string(), (Opnd::K(x), ty));
        }
    }

    /// Binds a parameter name to a register computed earlier (for inlining a sub-program,
    /// e.g. the budget rules over a KPI's required and budget).
    pub fn bind(&mut self, name: &str, r: Reg, ty: Ty) {
        if self.binds.is_empty() {
            self.binds.push(HashMap::new());
        }
        if let Some(top) = self.binds.first_mut() {
            top.insert(name.to_string(), (Opnd::R(r), ty));
        }
    }

    /// Compiles `e` into a register without making it an output.
    pub fn value(&mut self, e: &Expr, want: Ty) -> CR<Reg> {
        let (o, t) = self.expr(e, Some(want))?;
        self.expect(t, want, e)?;
        self.materialise(o)
    }

    /// A register holding the constant `x`.
    pub fn constant(&mut self, x: f64) -> CR<Reg> {
        self.konst(x)
    }

    /// A register loaded from program parameter `i`.
    pub fn param_reg(&mut self, i: u16) -> CR<Reg> {
        let d = self.reg()?;
        self.ins.push(Ins::Param { d, i });
        Ok(d)
    }

    /// Compiles named formula `name` (no parameters) as the next output.
    pub fn named_output(&mut self, name: &str) -> CR<Ty> {
        let (o, t) = self.named(name, &[], 0)?;
        let r = self.materialise(o)?;
        self.outputs.push((r, t));
        Ok(t)
    }

    /// Compiles `e` as the next output, of whatever type it has.
    pub fn infer_output(&mut self, e: &Expr) -> CR<Ty> {
        let (o, t) = self.expr(e, None)?;
        let r = self.materialise(o)?;
        self.outputs.push((r, t));
        Ok(t)
    }

    /// Marks `r` as the next output.
    pub fn push_output(&mut self, r: Reg, ty: Ty) {
        self.outputs.push((r, ty));
    }

    /// The finished program.
    pub fn finish(self) -> Program {
        let mut reads = self.reads;
        let mut dyn_prefixes = Vec::new();
        let mut globals_read = Vec::new();
        let mut uses_rows = false;
        for i in &self.ins {
            match *i {
                Ins::Has { p, .. } => reads.push(p),
                Ins::Dyn { prefix, .. } => dyn_prefixes.push(prefix),
                Ins::Global { g, .. } => globals_read.push(g),
                Ins::Agg { .. } | Ins::Field { .. } | Ins::Engine { .. } => uses_rows = true,
                _ => {}
            }
        }
        reads.sort_unstable();
        reads.dedup();
        dyn_prefixes.sort_unstable();
        dyn_prefixes.dedup();
        globals_read.sort_unstable();
        globals_read.dedup();
        Program {
            ins: self.ins,
            init: self.init,
            outputs: self.outputs,
            reads,
            dyn_prefixes,
            globals_read,
            uses_rows,
            id: 0,
        }
    }

    fn expect(&self, got: Ty, want: Ty, e: &Expr) -> CR<()> {
        if got == want {
            Ok(())
        } else {
            Err(err(
                format!("expected {}, found {} in `{}`", want.name(), got.name(), crate::expr::render(e)),
                expr_at(e),
            ))
        }
    }

    fn lookup_bind(&self, name: &str) -> Option<(Opnd, Ty)> {
        self.binds.iter().rev().find_map(|m| m.get(name).copied())
    }

    fn emit_bin(&mut self, op: Op2, a: Opnd, b: Opnd) -> CR<Opnd> {
        if let (Opnd::K(x), Opnd::K(y)) = (a, b) {
            if let Ok(v) = bin(op, x, y) {
                return Ok(Opnd::K(v));
            }
        }
        let (a, b) = (self.materialise(a)?, self.materialise(b)?);
        let d = self.reg()?;
        self.ins.push(match op {
            Op2::Add => Ins::Add { d, a, b },
            Op2::Sub => Ins::Sub { d, a, b },
            Op2::Mul => Ins::Mul { d, a, b },
            _ => Ins::Bin { op, d, a, b },
        });
        Ok(Opnd::R(d))
    }

    fn emit_un(&mut self, op: Op1, a: Opnd) -> CR<Opnd> {
        if let Opnd::K(x) = a {
            if let Ok(v) = un(op, x) {
                return Ok(Opnd::K(v));
            }
        }
        let a = self.materialise(a)?;
        let d = self.reg()?;
        self.ins.push(Ins::Un { op, d, a });
        Ok(Opnd::R(d))
    }

    fn path_id(&mut self, name: &str, at: usize) -> CR<u32> {
        self.layout.id(name).ok_or_else(|| err(format!("`{name}` is not a valid path"), at))
    }

    fn load_path(&mut self, name: &str, at: usize, want: Option<Ty>) -> CR<(Opnd, Ty)> {
        let p = self.path_id(name, at)?;
        let known = self.layout.paths[p as usize].ty;
        let ty = match (known, want) {
            (Some(k), _) => k,
            (None, Some(w)) => w,
            (None, None) => Ty::Num,
        };
        if known.is_none() {
            self.layout.paths[p as usize].ty = Some(ty);
        }
        let has_default = self.layout.paths[p as usize].default.is_some();
        self.path_refs.push(PathRef {
            path: p,
            at,
            formula: self.stack.first().cloned(),
            guarded: has_default,
            tag: self.ref_tag,
        });
        self.reads.push(p);
        let d = self.reg()?;
        self.ins.push(Ins::Load { d, p, ty });
        Ok((Opnd::R(d), ty))
    }

    fn is_path(name: &str) -> bool {
        split_root(name).is_some()
    }

    fn expr(&mut self, e: &Expr, want: Option<Ty>) -> CR<(Opnd, Ty)> {
        match e {
            Expr::Num(x) => Ok((Opnd::K(*x), Ty::Num)),
            Expr::Bool(b) => Ok((Opnd::K(if *b { 1.0 } else { 0.0 }), Ty::Bool)),
            Expr::Str(s) => Ok((Opnd::K(f64::from(self.strings.intern(s))), Ty::Str)),
            Expr::Var { name, at } => self.var(name, *at, want),
            Expr::Unary(op, a) => {
                let (o, t) = self.expr(a, None)?;
                match op {
                    UnOp::Neg => {
                        self.expect(t, Ty::Num, a)?;
                        Ok((self.emit_un(Op1::Neg, o)?, Ty::Num))
                    }
                    UnOp::Not => {
                        self.expect(t, Ty::Bool, a)?;
                        Ok((self.emit_un(Op1::Not, o)?, Ty::Bool))
                    }
                }
            }
            Expr::Binary(op, a, b) => self.binary(*op, a, b),
            Expr::Call { name, args, at } => self.call(name, args, *at, want),
        }
    }

    fn var(&mut self, name: &str, at: usize, want: Option<Ty>) -> CR<(Opnd, Ty)> {
        if let Some(b) = self.lookup_bind(name) {
            return Ok(b);
        }
        if let Some(i) = self.scope.params.iter().position(|p| *p == name) {
            let d = self.reg()?;
            self.ins.push(Ins::Param { d, i: i as u16 });
            let ty = want.unwrap_or(Ty::Num);
            return Ok((Opnd::R(d), ty));
        }
        if let Some(field) = name.strip_prefix("demand.") {
            if !self.scope.demand {
                return Err(err(format!("`{name}` is only available in a per-demand KPI (one with `for_each`)"), at));
            }
            if field == "target_engine" {
                let d = self.reg()?;
                self.ins.push(Ins::Engine { d });
                return Ok((Opnd::R(d), Ty::Str));
            }
            return match self.defs.fields.get_index_of(field) {
                Some(f) => {
                    let d = self.reg()?;
                    self.ins.push(Ins::Field { d, f: f as u16 });
                    Ok((Opnd::R(d), Ty::Num))
                }
                None => Err(CompileError {
                    message: format!("unknown demand field `{field}`"),
                    help: crate::diagnostic::did_you_mean(
                        field,
                        self.defs.fields.keys().map(String::as_str).chain(["target_engine"]),
                    ),
                    at,
                    formula: None,
                }),
            };
        }
        if Self::is_path(name) {
            return self.load_path(name, at, want);
        }
        if let Some(v) = self.defs.constants.get(name) {
            return Ok(match *v {
                Val::Num(x) => (Opnd::K(x), Ty::Num),
                Val::Bool(b) => (Opnd::K(if b { 1.0 } else { 0.0 }), Ty::Bool),
                Val::Str(i) => (Opnd::K(f64::from(i)), Ty::Str),
                _ => return Err(err(format!("constant `{name}` has no value"), at)),
            });
        }
        if let Some(f) = self.defs.formulas.get(name) {
            if !f.params.is_empty() {
                return Err(err(
                    format!("formula `{name}` takes {} argument(s): call it as `{name}(…)`", f.params.len()),
                    at,
                ));
            }
            return self.named(name, &[], at);
        }
        let mut cands: Vec<&str> = self.scope.params.to_vec();
        cands.extend(self.defs.constants.keys().map(String::as_str));
        cands.extend(self.defs.formulas.keys().map(String::as_str));
        cands.extend(self.binds.iter().flat_map(|m| m.keys().map(String::as_str)));
        let paths: Vec<String> = self.layout.provided().map(str::to_string).collect();
        let help = crate::diagnostic::did_you_mean(name, cands.iter().copied().chain(paths.iter().map(String::as_str)));
        Err(CompileError {
            message: format!(
                "unknown variable `{name}` (formulas read `profile.…`, `workload.…`, constants and named formulas)"
            ),
            help,
            at,
            formula: None,
        })
    }

    fn named(&mut self, name: &str, args: &[(Opnd, Ty)], at: usize) -> CR<(Opnd, Ty)> {
        if args.is_empty() {
            if let Some(m) = self.memo.get(name) {
                return Ok(*m);
            }
            if let Some(g) = self.globals.and_then(|gs| gs.get(name)) {
                let d = self.reg()?;
                self.ins.push(Ins::Global { d, g: g.slot });
                let formula = self.stack.first().cloned().or_else(|| Some(name.to_string()));
                for r in &g.refs {
                    let mut r = r.clone();
                    r.tag = self.ref_tag;
                    if r.formula.is_none() {
                        r.formula = formula.clone();
                    }
                    self.path_refs.push(r);
                }
                if self.cond == 0 {
                    self.memo.insert(name.to_string(), (Opnd::R(d), g.ty));
                }
                return Ok((Opnd::R(d), g.ty));
            }
        }
        if self.stack.iter().any(|n| n == name) {
            let mut chain = self.stack.clone();
            chain.push(name.to_string());
            return Err(err(format!("formulas form a cycle: {}", chain.join(" → ")), at));
        }
        let Some(f) = self.defs.formulas.get(name) else {
            return Err(err(format!("unknown formula `{name}`"), at));
        };
        let f = f.clone();
        let mut frame = HashMap::new();
        for (p, a) in f.params.iter().zip(args) {
            frame.insert(p.clone(), *a);
        }
        // a named formula sees only its own parameters, not the caller's
        let saved = std::mem::replace(&mut self.binds, vec![frame]);
        self.stack.push(name.to_string());
        let r = self.expr(&f.expr, None).map_err(|mut e| {
            if e.formula.is_none() {
                e.formula = Some(name.to_string());
            }
            e
        });
        self.stack.pop();
        self.binds = saved;
        let r = r?;
        if args.is_empty() && self.cond == 0 {
            self.memo.insert(name.to_string(), r);
        }
        Ok(r)
    }

    fn binary(&mut self, op: BinOp, a: &Expr, b: &Expr) -> CR<(Opnd, Ty)> {
        match op {
            BinOp::And | BinOp::Or => {
                let (x, tx) = self.expr(a, Some(Ty::Bool))?;
                self.expect(tx, Ty::Bool, a)?;
                if let Opnd::K(k) = x {
                    // folded left side
                    let short = if op == BinOp::And { k == 0.0 } else { k != 0.0 };
                    if short {
                        return Ok((Opnd::K(k), Ty::Bool));
                    }
                    let (y, ty) = self.expr(b, Some(Ty::Bool))?;
                    self.expect(ty, Ty::Bool, b)?;
                    return Ok((y, Ty::Bool));
                }
                let d = self.reg()?;
                let xr = self.materialise(x)?;
                self.ins.push(Ins::Mov { d, a: xr });
                let jump_at = self.ins.len();
                if op == BinOp::And {
                    self.ins.push(Ins::JmpIfNot(d, 0));
                } else {
                    // jump over when true: not(d) == 0
                    let nd = self.reg()?;
                    self.ins.push(Ins::Un { op: Op1::Not, d: nd, a: d });
                    self.ins.push(Ins::JmpIfNot(nd, 0));
                }
                let jump_at = if op == BinOp::And { jump_at } else { jump_at + 1 };
                self.cond += 1;
                let (y, ty) = self.expr(b, Some(Ty::Bool))?;
                self.cond -= 1;
                self.expect(ty, Ty::Bool, b)?;
                let yr = self.materialise(y)?;
                self.ins.push(Ins::Mov { d, a: yr });
                let end = self.ins.len() as u32;
                if let Some(Ins::JmpIfNot(_, t)) = self.ins.get_mut(jump_at) {
                    *t = end;
                }
                Ok((Opnd::R(d), Ty::Bool))
            }
            _ => {
                // `workload.llm.precision == "int8"`: a literal on either side types the other
                let hint = literal_ty(b).or_else(|| literal_ty(a));
                let (x, tx) = self.expr(a, hint)?;
                let (y, ty) = self.expr(b, Some(tx))?;
                let num_op = |o| match o {
                    BinOp::Add => Op2::Add,
                    BinOp::Sub => Op2::Sub,
                    BinOp::Mul => Op2::Mul,
                    BinOp::Div => Op2::Div,
                    BinOp::Rem => Op2::Rem,
                    BinOp::Pow => Op2::Pow,
                    BinOp::Lt => Op2::Lt,
                    BinOp::Le => Op2::Le,
                    BinOp::Gt => Op2::Gt,
                    BinOp::Ge => Op2::Ge,
                    BinOp::Eq => Op2::Eq,
                    _ => Op2::Ne,
                };
                match op {
                    BinOp::Add if tx == Ty::Str && ty == Ty::Str => {
                        if let (Opnd::K(p), Opnd::K(q)) = (x, y) {
                            let t = format!(
                                "{}{}",
                                self.strings.text(p as u32).unwrap_or(""),
                                self.strings.text(q as u32).unwrap_or("")
                            );
                            return Ok((Opnd::K(f64::from(self.strings.intern(&t))), Ty::Str));
                        }
                        let (xr, yr) = (self.materialise(x)?, self.materialise(y)?);
                        let d = self.reg()?;
                        self.ins.push(Ins::Concat { d, a: xr, b: yr });
                        Ok((Opnd::R(d), Ty::Str))
                    }
                    BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::Rem | BinOp::Pow => {
                        self.expect(tx, Ty::Num, a)?;
                        self.expect(ty, Ty::Num, b)?;
                        Ok((self.emit_bin(num_op(op), x, y)?, Ty::Num))
                    }
                    BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => {
                        self.expect(tx, Ty::Num, a)?;
                        self.expect(ty, Ty::Num, b)?;
                        Ok((self.emit_bin(num_op(op), x, y)?, Ty::Bool))
                    }
                    BinOp::Eq | BinOp::Ne => {
                        if tx != ty {
                            return Err(err(
                                format!(
                                    "cannot compare {} with {} in `{}`",
                                    tx.name(),
                                    ty.name(),
                                    crate::expr::render(&Expr::Binary(op, Box::new(a.clone()), Box::new(b.clone())))
                                ),
                                expr_at(a),
                            ));
                        }
                        Ok((self.emit_bin(num_op(op), x, y)?, Ty::Bool))
                    }
                    BinOp::And | BinOp::Or => Err(err("internal: logical operator", 0)),
                }
            }
        }
    }

    fn str_literal<'e>(&self, e: &'e Expr, what: &str, at: usize) -> CR<&'e str> {
        match e {
            Expr::Str(s) => Ok(s),
            _ => Err(err(format!("{what} must be a string literal"), at)),
        }
    }

    fn arity(&self, name: &str, args: &[Expr], min: usize, max: usize, at: usize) -> CR<()> {
        if args.len() < min || args.len() > max {
            let n = if min == max { format!("{min}") } else { format!("{min} to {max}") };
            return Err(err(format!("`{name}` takes {n} argument(s), got {}", args.len()), at));
        }
        Ok(())
    }

    fn field_index(&self, metric: &str, at: usize) -> CR<u16> {
        self.defs.fields.get_index_of(metric).map(|i| i as u16).ok_or_else(|| CompileError {
            message: format!("unknown demand metric `{metric}`"),
            help: crate::diagnostic::did_you_mean(metric, self.defs.fields.keys().map(String::as_str)),
            at,
            formula: None,
        })
    }

    /// `if` and `default` with lazily evaluated branches written into one register.
    fn branches(
        &mut self,
        cond: Reg,
        then: &mut dyn FnMut(&mut Self) -> CR<(Opnd, Ty)>,
        other: &mut ElseBranch<'_, 'a>,
        at: usize,
    ) -> CR<(Opnd, Ty)> {
        // the result register: the enclosing `if`'s when this one is its branch
        let d = match self.target.take() {
            Some(t) => t,
            None => self.reg()?,
        };
        // a comparison that only feeds this branch is fused with it
        let fused = match self.ins.last() {
            Some(&Ins::Bin { op, d: cd, a, b })
                if cd == cond
                    && matches!(op, Op2::Lt | Op2::Le | Op2::Gt | Op2::Ge | Op2::Eq | Op2::Ne)
                    && !self.memo.values().any(|(o, _)| *o == Opnd::R(cond))
                    && !self.binds.iter().any(|m| m.values().any(|(o, _)| *o == Opnd::R(cond))) =>
            {
                self.ins.pop();
                Some((op, a, b))
            }
            _ => None,
        };
        let j1 = self.ins.len();
        self.ins.push(match fused {
            Some((op, a, b)) => Ins::JmpUnless { op, a, b, t: 0 },
            None => Ins::JmpIfNot(cond, 0),
        });
        self.cond += 1;
        let mark = self.init.len();
        let (a, ta) = then(self)?;
        self.place(a, d, mark)?;
        let j2 = self.ins.len();
        self.ins.push(Ins::Jmp(0));
        let else_at = self.ins.len() as u32;
        let mark = self.init.len();
        let (b, tb) = other(self, Some(ta))?;
        self.cond -= 1;
        if ta != tb {
            return Err(err(format!("both branches must have one type: {} and {}", ta.name(), tb.name()), at));
        }
        self.place(b, d, mark)?;
        let end = self.ins.len() as u32;
        match self.ins.get_mut(j1) {
            Some(Ins::JmpIfNot(_, t)) | Some(Ins::JmpUnless { t, .. }) => *t = else_at,
            _ => {}
        }
        if let Some(Ins::Jmp(t)) = self.ins.get_mut(j2) {
            *t = end;
        }
        Ok((Opnd::R(d), ta))
    }

    /// Puts a branch result into `d` (nothing to do when a nested `if` already wrote it; a
    /// fresh temporary written by the last instruction is written to `d` directly).
    fn place(&mut self, o: Opnd, d: Reg, mark: usize) -> CR<()> {
        if o == Opnd::R(d) {
            return Ok(());
        }
        if let Opnd::R(r) = o {
            if r as usize >= mark {
                if let Some(last) = self.ins.last_mut() {
                    let dest = match last {
                        Ins::Add { d: x, .. }
                        | Ins::Sub { d: x, .. }
                        | Ins::Mul { d: x, .. }
                        | Ins::Bin { d: x, .. }
                        | Ins::Un { d: x, .. }
                        | Ins::Load { d: x, .. }
                        | Ins::Global { d: x, .. }
                        | Ins::Agg { d: x, .. }
                        | Ins::Field { d: x, .. }
                        | Ins::Param { d: x, .. }
                        | Ins::Concat { d: x, .. }
                        | Ins::Engine { d: x } => Some(x),
                        _ => None,
                    };
                    if let Some(x) = dest {
                        if *x == r {
                            *x = d;
                            return Ok(());
                        }
                    }
                }
            }
        }
        let r = self.materialise(o)?;
        self.ins.push(Ins::Mov { d, a: r });
        Ok(())
    }

    /// Compiles a branch of an `if`, letting a nested `if` write straight into `d`.
    fn branch_into(&mut self, e: &Expr, want: Option<Ty>, d: Reg) -> CR<(Opnd, Ty)> {
        if matches!(e, Expr::Call { name, args, .. } if name == "if" && args.len() == 3) {
            self.target = Some(d);
        }
        let r = self.expr(e, want);
        self.target = None;
        r
    }

    fn call(&mut self, name: &str, args: &[Expr], at: usize, want: Option<Ty>) -> CR<(Opnd, Ty)> {
        match name {
            "if" => {
                self.arity(name, args, 3, 3, at)?;
                let target = self.target.take();
                let (c, tc) = self.expr(&args[0], Some(Ty::Bool))?;
                self.expect(tc, Ty::Bool, &args[0])?;
                if let Opnd::K(k) = c {
                    let pick = if k != 0.0 { &args[1] } else { &args[2] };
                    let mark = self.init.len();
                    let (o, t) = self.expr(pick, want)?;
                    return match target {
                        Some(d) => {
                            self.place(o, d, mark)?;
                            Ok((Opnd::R(d), t))
                        }
                        None => Ok((o, t)),
                    };
                }
                let cr = self.materialise(c)?;
                let d = match target {
                    Some(d) => d,
                    None => self.reg()?,
                };
                let (a1, a2) = (&args[1], &args[2]);
                self.target = Some(d);
                self.branches(cr, &mut |s| s.branch_into(a1, want, d), &mut |s, t| s.branch_into(a2, t, d), at)
            }
            "default" => {
                self.arity(name, args, 2, 2, at)?;
                let has = self.presence(&args[0], at)?;
                let (a0, a1) = (&args[0], &args[1]);
                self.branches(has, &mut |s| s.expr(a0, want), &mut |s, t| s.expr(a1, t), at)
            }
            "has" => {
                self.arity(name, args, 1, 1, at)?;
                let r = self.presence(&args[0], at)?;
                Ok((Opnd::R(r), Ty::Bool))
            }
            "field" => {
                self.arity(name, args, 2, 2, at)?;
                let Expr::Var { name: prefix, at: pat } = &args[0] else {
                    return Err(err("the first argument of `field` must be a path such as `profile.npu`", at));
                };
                let p = self.path_id(prefix, *pat)?;
                let (k, tk) = self.expr(&args[1], Some(Ty::Str))?;
                self.expect(tk, Ty::Str, &args[1])?;
                let key = self.materialise(k)?;
                let d = self.reg()?;
                let ty = want.unwrap_or(Ty::Num);
                self.ins.push(Ins::Dyn { d, prefix: p, key, ty, has: false });
                Ok((Opnd::R(d), ty))
            }
            "min" | "max" => {
                if args.is_empty() {
                    return Err(err(format!("`{name}` takes at least 1 argument"), at));
                }
                let op = if name == "min" { Op2::Min } else { Op2::Max };
                let (mut acc, t) = self.expr(&args[0], Some(Ty::Num))?;
                self.expect(t, Ty::Num, &args[0])?;
                for a in &args[1..] {
                    let (x, tx) = self.expr(a, Some(Ty::Num))?;
                    self.expect(tx, Ty::Num, a)?;
                    acc = self.emit_bin(op, acc, x)?;
                }
                Ok((acc, Ty::Num))
            }
            "abs" | "floor" | "ceil" | "sqrt" | "ln" | "exp" => {
                self.arity(name, args, 1, 1, at)?;
                let op = match name {
                    "abs" => Op1::Abs,
                    "floor" => Op1::Floor,
                    "ceil" => Op1::Ceil,
                    "sqrt" => Op1::Sqrt,
                    "ln" => Op1::Ln,
                    _ => Op1::Exp,
                };
                let (x, t) = self.expr(&args[0], Some(Ty::Num))?;
                self.expect(t, Ty::Num, &args[0])?;
                Ok((self.emit_un(op, x)?, Ty::Num))
            }
            "round" => {
                self.arity(name, args, 2, 2, at)?;
                let Expr::Num(n) = args[1] else {
                    return Err(err("the digits of `round` must be a number literal", at));
                };
                if !(0.0..=15.0).contains(&n) || n.fract() != 0.0 {
                    return Err(err(format!("`round` digits must be a whole number from 0 to 15, got `{n}`"), at));
                }
                let (x, t) = self.expr(&args[0], Some(Ty::Num))?;
                self.expect(t, Ty::Num, &args[0])?;
                Ok((self.emit_bin(Op2::Round, x, Opnd::K(n))?, Ty::Num))
            }
            "lookup" => {
                self.arity(name, args, 2, 3, at)?;
                let tname = self.str_literal(&args[0], "the table name of `lookup`", at)?;
                let Some(ti) = self.defs.tables.get_index_of(tname) else {
                    return Err(CompileError {
                        message: format!("unknown table `{tname}`"),
                        help: crate::diagnostic::did_you_mean(tname, self.defs.tables.keys().map(String::as_str)),
                        at,
                        formula: None,
                    });
                };
                let tty = self.defs.tables[ti].ty.unwrap_or(want.unwrap_or(Ty::Num));
                let (k, tk) = self.expr(&args[1], Some(Ty::Str))?;
                self.expect(tk, Ty::Str, &args[1])?;
                let key = self.materialise(k)?;
                let ok = self.reg()?;
                let d = self.reg()?;
                self.ins.push(Ins::Lookup { strict: args.len() == 2, d, ok, t: ti as u16, key });
                if args.len() == 3 {
                    let j = self.ins.len();
                    self.ins.push(Ins::JmpIfNot(ok, 0));
                    let skip = self.ins.len();
                    self.ins.push(Ins::Jmp(0));
                    let miss = self.ins.len() as u32;
                    self.cond += 1;
                    let (dv, tdv) = self.expr(&args[2], Some(tty))?;
                    self.cond -= 1;
                    if tdv != tty {
                        return Err(err(
                            format!("the default of `lookup` must be {} like the table values", tty.name()),
                            expr_at(&args[2]),
                        ));
                    }
                    let dr = self.materialise(dv)?;
                    self.ins.push(Ins::Mov { d, a: dr });
                    let end = self.ins.len() as u32;
                    if let Some(Ins::JmpIfNot(_, t)) = self.ins.get_mut(j) {
                        *t = miss;
                    }
                    if let Some(Ins::Jmp(t)) = self.ins.get_mut(skip) {
                        *t = end;
                    }
                }
                Ok((Opnd::R(d), tty))
            }
            "sum_demands" | "max_demands" | "count_demands" => {
                if !self.scope.aggregates {
                    return Err(err(format!("`{name}` is only available in KPIs"), at));
                }
                let (kind, min) = match name {
                    "sum_demands" => (Agg::Sum, 1),
                    "max_demands" => (Agg::Max, 1),
                    _ => (Agg::Count, 0),
                };
                self.arity(name, args, min, min + 1, at)?;
                let f = if kind == Agg::Count {
                    0
                } else {
                    let m = self.str_literal(&args[0], "the metric of an aggregate", at)?;
                    self.field_index(m, at)?
                };
                let engine = match args.get(min) {
                    None => u32::MAX,
                    Some(e) => {
                        let s = self.str_literal(e, "the engine of an aggregate", at)?;
                        if s == "*" { u32::MAX } else { self.strings.intern(s) }
                    }
                };
                let d = self.reg()?;
                self.ins.push(Ins::Agg { d, kind, f, engine });
                Ok((Opnd::R(d), Ty::Num))
            }
            _ => {
                let Some(f) = self.defs.formulas.get(name) else {
                    let mut cands: Vec<&str> = BUILTINS.to_vec();
                    cands.extend(self.defs.formulas.keys().map(String::as_str));
                    return Err(CompileError {
                        message: format!("unknown function `{name}`"),
                        help: crate::diagnostic::did_you_mean(name, cands),
                        at,
                        formula: None,
                    });
                };
                if f.params.len() != args.len() {
                    return Err(err(
                        format!("formula `{name}` takes {} argument(s), got {}", f.params.len(), args.len()),
                        at,
                    ));
                }
                let mut vals = Vec::with_capacity(args.len());
                for a in args {
                    vals.push(self.expr(a, None)?);
                }
                self.named(name, &vals, at)
            }
        }
    }

    /// A presence test for `default` / `has`: a path or a `field(…)`.
    fn presence(&mut self, e: &Expr, at: usize) -> CR<Reg> {
        match e {
            Expr::Var { name, at: vat } if Self::is_path(name) => {
                let p = self.path_id(name, *vat)?;
                self.path_refs.push(PathRef {
                    path: p,
                    at: *vat,
                    formula: self.stack.first().cloned(),
                    guarded: true,
                    tag: self.ref_tag,
                });
                let d = self.reg()?;
                self.ins.push(Ins::Has { d, p });
                Ok(d)
            }
            Expr::Call { name, args, at: cat } if name == "field" && args.len() == 2 => {
                let Expr::Var { name: prefix, at: pat } = &args[0] else {
                    return Err(err("the first argument of `field` must be a path such as `profile.npu`", *cat));
                };
                let p = self.path_id(prefix, *pat)?;
                let (k, tk) = self.expr(&args[1], Some(Ty::Str))?;
                self.expect(tk, Ty::Str, &args[1])?;
                let key = self.materialise(k)?;
                let d = self.reg()?;
                self.ins.push(Ins::Dyn { d, prefix: p, key, ty: Ty::Num, has: true });
                Ok(d)
            }
            _ => Err(err("the first argument must be a path (`profile.…`, `workload.…`) or `field(…)`", at)),
        }
    }

    /// Suggests a close known path for an unknown one.
    pub fn suggest_path(layout: &Layout, name: &str) -> Option<String> {
        closest(name, layout.provided()).map(|c| format!("did you mean `{c}`?"))
    }
}

/// The else branch of [`Compiler::branches`]: compiles with the then-branch's type as hint.
type ElseBranch<'f, 'a> = dyn FnMut(&mut Compiler<'a>, Option<Ty>) -> CR<(Opnd, Ty)> + 'f;

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

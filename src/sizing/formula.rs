//! The sizing dialect of the expression core: the expressions of a pack (demands, KPIs,
//! slider actions, budget rules) lowered through [`crate::expr::lower`] into register
//! programs. This module resolves the packs' names (profile and workload paths, constants,
//! tables, named formulas, demand fields and aggregates, program parameters), registers the
//! built-ins (`default`, `field`, `lookup`, the aggregates, variadic `min`/`max`, `ln`, …),
//! and is the [`Host`] that evaluation reads them through.
//!
//! Strings are interned (a register holds the id), booleans are 0/1, and every read of a
//! profile or workload value goes through an [`Env`] — a flat state vector in the what-if
//! runner, a JSON tree for one-off batch calls — so one compiled program serves both. Math
//! fails like Python (division by zero, `sqrt` of a negative), as the reference's did.

use crate::diagnostic::closest;
use crate::expr::lower::{self, Dialect, Lower, V, min_at};
use crate::expr::vm::{Host, Regs};
use crate::expr::{BinOp, Expr, Ins, Op1};
use indexmap::IndexMap;
use std::collections::HashMap;

pub use crate::expr::{Reg, Ty};

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
    /// Concatenations of interned strings already made, `(a, b)` → id (interned results
    /// only, so they stay valid across runs).
    pairs: FxMap<(u32, u32), u32>,
}

impl<'a> Strings<'a> {
    /// Run-time strings over `base`.
    pub fn new(base: &'a Interner) -> Self {
        Strings { base, extra: Vec::new(), buf: String::new(), pairs: FxMap::default() }
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
        if let Some(id) = self.pairs.get(&(a, b)) {
            return *id;
        }
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        buf.push_str(self.text(a));
        buf.push_str(self.text(b));
        let id = self.id(&buf);
        self.buf = buf;
        let n = self.base.len() as u32;
        if a < n && b < n && id < n {
            self.pairs.insert((a, b), id);
        }
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

fn ty_code(t: Ty) -> u16 {
    match t {
        Ty::Num => 0,
        Ty::Bool => 1,
        Ty::Str => 2,
    }
}

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

/// An aggregate over demand rows: which, of which field, over which engine's rows
/// (`u32::MAX`: every row).
pub type AggKey = (Agg, u16, u32);

/// The value of every aggregate in `keys` over the demand rows `values` (`stride` numbers a
/// row, `engines` their engines), in row order: Python's `sum` from 0, the first value then
/// `max`, the row count.
pub fn aggregate_values(keys: &[AggKey], stride: usize, engines: &[u32], values: &[f64], out: &mut Vec<f64>) {
    out.clear();
    out.extend(keys.iter().map(|k| aggregate_value(*k, stride, engines, values)));
}

/// One aggregate of [`aggregate_values`].
pub fn aggregate_value((kind, fi, engine): AggKey, stride: usize, engines: &[u32], values: &[f64]) -> f64 {
    let mut acc = 0.0f64;
    let mut first = true;
    for (row, &e) in engines.iter().enumerate() {
        if engine != u32::MAX && e != engine {
            continue;
        }
        let v = values.get(row * stride + fi as usize).copied().unwrap_or(0.0);
        match kind {
            Agg::Sum => acc += v,
            Agg::Count => acc += 1.0,
            Agg::Max => acc = if first { v } else { crate::numeric::py_max(acc, v) },
        }
        first = false;
    }
    acc
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

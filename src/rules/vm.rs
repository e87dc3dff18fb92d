//! The lowered form of a rule set: a flat, typed register program over f64 slots (numbers
//! and booleans as 0/1) and string slots. Formulas are compiled once at load; evaluation
//! walks the instructions with no allocation on the numeric path.

use super::inputs::{Input, Inputs, Ty};
use super::lookups::{self, LookupKind};
use crate::numeric::{py_float_repr, py_max, py_min, py_round};

/// A numeric slot.
pub type Slot = u16;
/// A string slot.
pub type SSlot = u16;

/// A string value held in a slot: a copyable handle to text owned by the program, the
/// request, the registry, or (for the rare computed string) the evaluation's arena. Slots
/// hold no lifetimes, so a thread can reuse one scratch for every evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SRef {
    /// The empty string.
    #[default]
    Empty,
    /// A program string constant.
    Pool(u32),
    /// A request input.
    Input(Input),
    /// The level of the tier's capability row `i`.
    CapLevel(u32),
    /// The `via_dtype` of the tier's capability row `i`.
    CapVia(u32),
    /// Value `i` of string table `t`.
    Map(u16, u32),
    /// The name of registry tier `i`.
    TierName(u32),
    /// Arena string `i` of this evaluation.
    Arena(u32),
}

/// Evaluation context: the request, the environment, the program and the string arena.
pub struct Ctx<'a, 'r> {
    /// The program.
    pub program: &'a Program,
    /// The request.
    pub inp: &'r Inputs<'a>,
    /// The environment.
    pub env: &'r Env<'a>,
}

impl<'a> Ctx<'a, '_> {
    /// The text of a string handle.
    #[inline]
    pub fn text<'s>(&'s self, r: SRef, arena: &'s [String]) -> &'s str {
        match r {
            SRef::Empty => "",
            SRef::Pool(k) => self.program.pool.get(k as usize).map(String::as_str).unwrap_or(""),
            SRef::Input(i) => self.inp.str(i).0,
            SRef::CapLevel(i) => self
                .inp
                .hw
                .and_then(|h| h.capability.as_ref())
                .and_then(|t| t.entries.get_index(i as usize))
                .map(|(_, info)| info.level.as_str())
                .unwrap_or(""),
            SRef::CapVia(i) => self
                .inp
                .hw
                .and_then(|h| h.capability.as_ref())
                .and_then(|t| t.entries.get_index(i as usize))
                .and_then(|(_, info)| info.via_dtype.as_deref())
                .unwrap_or(""),
            SRef::Map(t, i) => self
                .env
                .tables
                .maps
                .get(t as usize)
                .and_then(|(_, m)| m.get_index(i as usize))
                .map(|(_, v)| v.as_str())
                .unwrap_or(""),
            SRef::TierName(i) => self.env.registry.tiers().get(i as usize).map(|t| t.name()).unwrap_or(""),
            SRef::Arena(i) => arena.get(i as usize).map(String::as_str).unwrap_or(""),
        }
    }
}

/// One instruction. Operand fields: `d` destination, `a`/`b` operands, `i` input, `k` pool
/// index, `n` digits, `to` jump target, `o` outcome.
#[allow(missing_docs)]
#[derive(Debug, Clone, PartialEq)]
pub enum Ins {
    /// `d = v`
    Num { d: Slot, v: f64 },
    /// `d = input` (and `h = present` when `h` is given)
    In { d: Slot, i: Input },
    /// `d = present(numeric input)`
    InHas { d: Slot, i: Input },
    /// `d = present(string input)`
    InHasStr { d: Slot, i: Input },
    /// `d = a + b`
    Add { d: Slot, a: Slot, b: Slot },
    /// `d = a - b`
    Sub { d: Slot, a: Slot, b: Slot },
    /// `d = a * b`
    Mul { d: Slot, a: Slot, b: Slot },
    /// `d = a / b`
    Div { d: Slot, a: Slot, b: Slot },
    /// `d = a % b` (Python semantics)
    Rem { d: Slot, a: Slot, b: Slot },
    /// `d = a ^ b`
    Pow { d: Slot, a: Slot, b: Slot },
    /// `d = -a`
    Neg { d: Slot, a: Slot },
    /// `d = max(a, b)` (Python argument order)
    Max { d: Slot, a: Slot, b: Slot },
    /// `d = min(a, b)`
    Min { d: Slot, a: Slot, b: Slot },
    /// `d = |a|`
    Abs { d: Slot, a: Slot },
    /// `d = floor(a)`
    Floor { d: Slot, a: Slot },
    /// `d = ceil(a)`
    Ceil { d: Slot, a: Slot },
    /// `d = sqrt(a)`
    Sqrt { d: Slot, a: Slot },
    /// `d = round(a, n)` (Python `round`)
    Round { d: Slot, a: Slot, n: u8 },
    /// `d = a < b`
    Lt { d: Slot, a: Slot, b: Slot },
    /// `d = a <= b`
    Le { d: Slot, a: Slot, b: Slot },
    /// `d = a > b`
    Gt { d: Slot, a: Slot, b: Slot },
    /// `d = a >= b`
    Ge { d: Slot, a: Slot, b: Slot },
    /// `d = a == b`
    EqN { d: Slot, a: Slot, b: Slot },
    /// `d = a != b`
    NeN { d: Slot, a: Slot, b: Slot },
    /// `d = !a`
    Not { d: Slot, a: Slot },
    /// `d = a`
    Mov { d: Slot, a: Slot },
    /// jump to `to` when `c == 0`
    Jz { c: Slot, to: u32 },
    /// jump to `to`
    Jmp { to: u32 },
    /// `s[d] = pool[k]`
    Str { d: SSlot, k: u32 },
    /// `s[d] = input`
    InStr { d: SSlot, i: Input },
    /// `s[d] = s[a]`
    MovS { d: SSlot, a: SSlot },
    /// `d = s[a] == s[b]`
    EqS { d: Slot, a: SSlot, b: SSlot },
    /// `d = s[a] != s[b]`
    NeS { d: Slot, a: SSlot, b: SSlot },
    /// `s[d] = s[a] + s[b]`
    Concat { d: SSlot, a: SSlot, b: SSlot },
    /// `s[d] = lower(s[a])`
    Lower { d: SSlot, a: SSlot },
    /// `s[d] = repr(a)`
    Repr { d: SSlot, a: Slot },
    /// `d = the tier's peak TOPS for dtype s[a]` (0 for unknown dtypes)
    PeakTops { d: Slot, a: SSlot },
    /// `d = the dtype s[a] has a peak-TOPS field`
    HasTopsField { d: Slot, a: SSlot },
    /// `s[d] = the tier's capability level for key s[a]` ("" when absent)
    Capability { d: SSlot, a: SSlot },
    /// `s[d] = the dtype that executes key s[a] on the tier` ("" when none is recorded)
    CapabilityVia { d: SSlot, a: SSlot },
    /// `s[d] = table[s[a]]`, or `s[b]` when the key is absent
    LookupOr { d: SSlot, table: u16, a: SSlot, b: SSlot },
    /// `d = s[a] is in set`
    Member { d: Slot, set: u16, a: SSlot },
    /// run lookup `id` of the program
    Lookup { id: u16 },
    /// record a formula value (traced programs only)
    Trace { name: u16, d: Slot, ty: Ty },
    /// record a cascade event (traced programs only)
    Note { event: u16 },
    /// stop with outcome `o`
    Emit { o: u16 },
}

/// A built-in lookup instance in a program: where its arguments are and where it writes.
#[derive(Debug, Clone, PartialEq)]
pub struct LookupSite {
    /// Which lookup.
    pub kind: LookupKind,
    /// Candidate keys (string slots), tried in order.
    pub keys: Vec<SSlot>,
    /// Workload id slot (`measured_cell`).
    pub workload: Option<SSlot>,
    /// Family slot (`family_sibling`).
    pub family: Option<SSlot>,
    /// Name-to-skip slot (`family_sibling`).
    pub skip: Option<SSlot>,
    /// First numeric slot of the result block: found flag, then (value, present) pairs.
    pub base: Slot,
    /// First string slot of the result block.
    pub sbase: SSlot,
}

/// String tables and sets the `lookup_or` / `member` built-ins read (from the registry).
#[derive(Debug, Clone, Default)]
pub struct Tables {
    /// Named string maps.
    pub maps: Vec<(String, indexmap::IndexMap<String, String>)>,
    /// Named string sets.
    pub sets: Vec<(String, Vec<String>)>,
}

/// What the evaluation environment provides besides the request.
pub struct Env<'a> {
    /// The registry (dtype table for `peak_tops`, tiers for `family_sibling`).
    pub registry: &'a crate::registry::Registry,
    /// Tables for `lookup_or` / `member`.
    pub tables: &'a Tables,
}

/// Reusable evaluation memory: numeric slots, string slots, and the arena of computed
/// strings. Holds no borrows, so one per thread serves every program.
#[derive(Debug, Default)]
pub struct Scratch {
    /// Numeric slots.
    pub nums: Vec<f64>,
    /// String slots.
    pub strs: Vec<SRef>,
    /// Strings computed during one evaluation (concatenation, lower-casing, repr).
    pub arena: Vec<String>,
}

impl Scratch {
    /// Makes room for a program and clears the arena.
    pub fn prepare(&mut self, p: &Program) {
        if self.nums.len() < p.n_num {
            self.nums.resize(p.n_num, 0.0);
        }
        if self.strs.len() < p.n_str {
            self.strs.resize(p.n_str, SRef::Empty);
        }
        self.arena.clear();
    }
}

/// A trace of one evaluation (for `--explain`).
#[derive(Debug, Clone, Default)]
pub struct Trace {
    /// (name index, value) in evaluation order.
    pub values: Vec<(u16, TraceValue)>,
    /// Cascade events in order.
    pub events: Vec<u16>,
}

/// A traced value.
#[derive(Debug, Clone, PartialEq)]
pub enum TraceValue {
    /// A number.
    Num(f64),
    /// A boolean.
    Bool(bool),
    /// A string.
    Str(String),
}

/// A compiled program.
#[derive(Debug, Clone, Default)]
pub struct Program {
    /// Instructions.
    pub code: Vec<Ins>,
    /// Numeric slots used.
    pub n_num: usize,
    /// String slots used.
    pub n_str: usize,
    /// String constants.
    pub pool: Vec<String>,
    /// Lookup sites.
    pub lookups: Vec<LookupSite>,
}

/// Runs a program over a prepared scratch. Returns the emitted outcome.
pub fn run(cx: &Ctx<'_, '_>, sc: &mut Scratch, mut trace: Option<&mut Trace>) -> Option<u16> {
    let p = cx.program;
    let code = &p.code[..];
    let Scratch { nums, strs, arena } = sc;
    let mut pc = 0usize;
    macro_rules! n {
        ($s:expr) => {
            nums[$s as usize]
        };
    }
    macro_rules! s {
        ($s:expr) => {
            strs[$s as usize]
        };
    }
    macro_rules! b {
        ($e:expr) => {
            if $e { 1.0 } else { 0.0 }
        };
    }
    while let Some(ins) = code.get(pc) {
        pc += 1;
        match *ins {
            Ins::Num { d, v } => n!(d) = v,
            Ins::In { d, i } => n!(d) = cx.inp.num(i).0,
            Ins::InHas { d, i } => n!(d) = b!(cx.inp.num(i).1),
            Ins::InHasStr { d, i } => n!(d) = b!(cx.inp.str(i).1),
            Ins::Add { d, a, b } => n!(d) = n!(a) + n!(b),
            Ins::Sub { d, a, b } => n!(d) = n!(a) - n!(b),
            Ins::Mul { d, a, b } => n!(d) = n!(a) * n!(b),
            Ins::Div { d, a, b } => n!(d) = n!(a) / n!(b),
            Ins::Rem { d, a, b } => n!(d) = py_rem(n!(a), n!(b)),
            Ins::Pow { d, a, b } => n!(d) = n!(a).powf(n!(b)),
            Ins::Neg { d, a } => n!(d) = -n!(a),
            Ins::Max { d, a, b } => n!(d) = py_max(n!(a), n!(b)),
            Ins::Min { d, a, b } => n!(d) = py_min(n!(a), n!(b)),
            Ins::Abs { d, a } => n!(d) = n!(a).abs(),
            Ins::Floor { d, a } => n!(d) = n!(a).floor(),
            Ins::Ceil { d, a } => n!(d) = n!(a).ceil(),
            Ins::Sqrt { d, a } => n!(d) = n!(a).sqrt(),
            Ins::Round { d, a, n } => n!(d) = py_round(n!(a), u32::from(n)),
            Ins::Lt { d, a, b } => n!(d) = b!(n!(a) < n!(b)),
            Ins::Le { d, a, b } => n!(d) = b!(n!(a) <= n!(b)),
            Ins::Gt { d, a, b } => n!(d) = b!(n!(a) > n!(b)),
            Ins::Ge { d, a, b } => n!(d) = b!(n!(a) >= n!(b)),
            Ins::EqN { d, a, b } => n!(d) = b!(n!(a) == n!(b)),
            Ins::NeN { d, a, b } => n!(d) = b!(n!(a) != n!(b)),
            Ins::Not { d, a } => n!(d) = b!(n!(a) == 0.0),
            Ins::Mov { d, a } => n!(d) = n!(a),
            Ins::Jz { c, to } => {
                if n!(c) == 0.0 {
                    pc = to as usize;
                }
            }
            Ins::Jmp { to } => pc = to as usize,
            Ins::Str { d, k } => s!(d) = SRef::Pool(k),
            Ins::InStr { d, i } => s!(d) = SRef::Input(i),
            Ins::MovS { d, a } => s!(d) = s!(a),
            Ins::EqS { d, a, b } => n!(d) = b!(s!(a) == s!(b) || cx.text(s!(a), arena) == cx.text(s!(b), arena)),
            Ins::NeS { d, a, b } => n!(d) = b!(s!(a) != s!(b) && cx.text(s!(a), arena) != cx.text(s!(b), arena)),
            Ins::Concat { d, a, b } => {
                let v = format!("{}{}", cx.text(s!(a), arena), cx.text(s!(b), arena));
                arena.push(v);
                s!(d) = SRef::Arena((arena.len() - 1) as u32);
            }
            Ins::Lower { d, a } => {
                let t = cx.text(s!(a), arena);
                if t.bytes().any(|c| c.is_ascii_uppercase()) || !t.is_ascii() {
                    let v = t.to_lowercase();
                    arena.push(v);
                    s!(d) = SRef::Arena((arena.len() - 1) as u32);
                } else {
                    s!(d) = s!(a);
                }
            }
            Ins::Repr { d, a } => {
                arena.push(py_float_repr(n!(a)));
                s!(d) = SRef::Arena((arena.len() - 1) as u32);
            }
            Ins::PeakTops { d, a } => {
                n!(d) = match (cx.inp.hw, cx.env.registry.dtypes().tops_field(cx.text(s!(a), arena))) {
                    (Some(h), Some(f)) => f.get(&h.spec),
                    _ => 0.0,
                }
            }
            Ins::HasTopsField { d, a } => {
                n!(d) = b!(cx.env.registry.dtypes().tops_field(cx.text(s!(a), arena)).is_some())
            }
            Ins::Capability { d, a } | Ins::CapabilityVia { d, a } => {
                let via = matches!(*ins, Ins::CapabilityVia { .. });
                let key = cx.text(s!(a), arena);
                let row = cx.inp.hw.and_then(|h| h.capability.as_ref()).and_then(|t| t.entries.get_full(key));
                s!(d) = match row {
                    Some((i, _, info)) if !via => {
                        let _ = info;
                        SRef::CapLevel(i as u32)
                    }
                    Some((i, _, info)) if info.via_dtype.is_some() => SRef::CapVia(i as u32),
                    _ => SRef::Empty,
                };
            }
            Ins::LookupOr { d, table, a, b } => {
                let found =
                    cx.env.tables.maps.get(table as usize).and_then(|(_, m)| m.get_index_of(cx.text(s!(a), arena)));
                s!(d) = match found {
                    Some(i) => SRef::Map(table, i as u32),
                    None => s!(b),
                };
            }
            Ins::Member { d, set, a } => {
                let key = cx.text(s!(a), arena);
                n!(d) = b!(cx.env.tables.sets.get(set as usize).is_some_and(|(_, s)| s.iter().any(|x| x == key)));
            }
            Ins::Lookup { id } => {
                if let Some(site) = p.lookups.get(id as usize) {
                    lookups::run(site, cx, nums, strs, arena);
                }
            }
            Ins::Trace { name, d, ty } => {
                if let Some(t) = trace.as_deref_mut() {
                    let v = match ty {
                        Ty::Str => TraceValue::Str(cx.text(s!(d), arena).to_string()),
                        Ty::Bool => TraceValue::Bool(n!(d) != 0.0),
                        Ty::Num => TraceValue::Num(n!(d)),
                    };
                    t.values.push((name, v));
                }
            }
            Ins::Note { event } => {
                if let Some(t) = trace.as_deref_mut() {
                    t.events.push(event);
                }
            }
            Ins::Emit { o } => return Some(o),
        }
    }
    None
}

/// Python's float `%`: the result has the sign of the divisor.
pub fn py_rem(a: f64, b: f64) -> f64 {
    let r = a % b;
    if r != 0.0 && ((r < 0.0) != (b < 0.0)) { r + b } else { r }
}

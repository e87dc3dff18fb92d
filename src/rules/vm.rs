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
    /// Record input `i`.
    Rec(u16),
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
            SRef::Rec(i) => self.inp.rec_str(i).0,
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
    /// `d = record input i` (numbers, booleans as 0/1)
    Rec { d: Slot, i: u16 },
    /// `s[d] = record input i`
    RecS { d: SSlot, i: u16 },
    /// `d = present(record input i)`
    RecHas { d: Slot, i: u16 },
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
    /// `d = c ? a : b`
    Sel { d: Slot, c: Slot, a: Slot, b: Slot },
    /// `s[d] = c ? s[a] : s[b]`
    SelS { d: SSlot, c: Slot, a: SSlot, b: SSlot },
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
    /// `s[d] = table[s[a]]` and `f = found`
    LookupOr { d: SSlot, f: Slot, table: u16, a: SSlot },
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
    /// The program whose constants the slots hold (0: none).
    pub loaded: u64,
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
        if !self.arena.is_empty() {
            self.arena.clear();
        }
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
    /// Unique id (the scratch remembers whose constants it holds).
    pub id: u64,
    /// The first `consts` instructions load constants; a scratch that already holds this
    /// program's constants starts after them.
    pub consts: usize,
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

impl Ins {
    /// The numeric slots, string slots and jump target an instruction refers to.
    fn operands(&self) -> (Vec<Slot>, Vec<SSlot>, Option<u32>) {
        use Ins::*;
        match *self {
            Num { d, .. } | In { d, .. } | InHas { d, .. } | InHasStr { d, .. } | Rec { d, .. } | RecHas { d, .. } => {
                (vec![d], vec![], None)
            }
            RecS { d, .. } => (vec![], vec![d], None),
            Add { d, a, b }
            | Sub { d, a, b }
            | Mul { d, a, b }
            | Div { d, a, b }
            | Rem { d, a, b }
            | Pow { d, a, b }
            | Max { d, a, b }
            | Min { d, a, b }
            | Lt { d, a, b }
            | Le { d, a, b }
            | Gt { d, a, b }
            | Ge { d, a, b }
            | EqN { d, a, b }
            | NeN { d, a, b } => (vec![d, a, b], vec![], None),
            Neg { d, a }
            | Abs { d, a }
            | Floor { d, a }
            | Ceil { d, a }
            | Sqrt { d, a }
            | Not { d, a }
            | Mov { d, a } => (vec![d, a], vec![], None),
            Round { d, a, .. } => (vec![d, a], vec![], None),
            Sel { d, c, a, b } => (vec![d, c, a, b], vec![], None),
            SelS { d, c, a, b } => (vec![c], vec![d, a, b], None),
            Jz { c, to } => (vec![c], vec![], Some(to)),
            Jmp { to } => (vec![], vec![], Some(to)),
            Str { d, .. } | InStr { d, .. } => (vec![], vec![d], None),
            MovS { d, a } | Concat { d, a, .. } | Lower { d, a } => {
                let mut v = vec![d, a];
                if let Concat { b, .. } = *self {
                    v.push(b);
                }
                (vec![], v, None)
            }
            EqS { d, a, b } | NeS { d, a, b } => (vec![d], vec![a, b], None),
            Repr { d, a } => (vec![a], vec![d], None),
            PeakTops { d, a } | HasTopsField { d, a } | Member { d, a, .. } => (vec![d], vec![a], None),
            Capability { d, a } | CapabilityVia { d, a } => (vec![], vec![d, a], None),
            LookupOr { d, f, a, .. } => (vec![f], vec![d, a], None),
            Trace { d, ty, .. } => {
                if ty == Ty::Str {
                    (vec![], vec![d], None)
                } else {
                    (vec![d], vec![], None)
                }
            }
            Lookup { .. } | Note { .. } | Emit { .. } => (vec![], vec![], None),
        }
    }
}

impl Ins {
    /// The slots an instruction writes, when it has no other effect (so it can be removed
    /// when nothing reads them).
    fn pure_dests(&self) -> Option<(Vec<Slot>, Vec<SSlot>)> {
        use Ins::*;
        Some(match *self {
            Num { d, .. } | In { d, .. } | InHas { d, .. } | InHasStr { d, .. } | Rec { d, .. } | RecHas { d, .. } => {
                (vec![d], vec![])
            }
            RecS { d, .. } => (vec![], vec![d]),
            Add { d, .. }
            | Sub { d, .. }
            | Mul { d, .. }
            | Div { d, .. }
            | Rem { d, .. }
            | Pow { d, .. }
            | Max { d, .. }
            | Min { d, .. }
            | Lt { d, .. }
            | Le { d, .. }
            | Gt { d, .. }
            | Ge { d, .. }
            | EqN { d, .. }
            | NeN { d, .. }
            | Neg { d, .. }
            | Abs { d, .. }
            | Floor { d, .. }
            | Ceil { d, .. }
            | Sqrt { d, .. }
            | Not { d, .. }
            | Round { d, .. }
            | Sel { d, .. }
            | EqS { d, .. }
            | NeS { d, .. }
            | PeakTops { d, .. }
            | HasTopsField { d, .. }
            | Member { d, .. } => (vec![d], vec![]),
            SelS { d, .. }
            | Str { d, .. }
            | InStr { d, .. }
            | MovS { d, .. }
            | Concat { d, .. }
            | Lower { d, .. }
            | Repr { d, .. }
            | Capability { d, .. }
            | CapabilityVia { d, .. } => (vec![], vec![d]),
            LookupOr { d, f, .. } => (vec![f], vec![d]),
            // a Mov may be one of two writes joining the branches of an `if`
            Mov { d, .. } => (vec![d], vec![]),
            Jz { .. } | Jmp { .. } | Lookup { .. } | Trace { .. } | Note { .. } | Emit { .. } => return None,
        })
    }

    fn jump_mut(&mut self) -> Option<&mut u32> {
        match self {
            Ins::Jz { to, .. } | Ins::Jmp { to } => Some(to),
            _ => None,
        }
    }
}

impl Program {
    /// Removes instructions whose results nothing reads and jumps to the next instruction.
    /// `live_num` / `live_str` are the slots read from outside the code (outcomes).
    pub fn prune(&mut self, live_num: &[Slot], live_str: &[SSlot]) {
        loop {
            let mut read_n = vec![false; self.n_num];
            let mut read_s = vec![false; self.n_str];
            for s in live_num {
                if let Some(r) = read_n.get_mut(*s as usize) {
                    *r = true;
                }
            }
            for s in live_str {
                if let Some(r) = read_s.get_mut(*s as usize) {
                    *r = true;
                }
            }
            for l in &self.lookups {
                for s in l.keys.iter().chain(l.workload.iter()).chain(l.family.iter()).chain(l.skip.iter()) {
                    if let Some(r) = read_s.get_mut(*s as usize) {
                        *r = true;
                    }
                }
                for i in 0..l.kind.num_slots() {
                    if let Some(r) = read_n.get_mut(l.base as usize + i) {
                        *r = true;
                    }
                }
            }
            for ins in &self.code {
                let (ns, ss, _) = ins.operands();
                let (dn, ds) = ins.pure_dests().unwrap_or_default();
                for s in ns.iter().filter(|s| !dn.contains(s)) {
                    if let Some(r) = read_n.get_mut(*s as usize) {
                        *r = true;
                    }
                }
                for s in ss.iter().filter(|s| !ds.contains(s)) {
                    if let Some(r) = read_s.get_mut(*s as usize) {
                        *r = true;
                    }
                }
                // self-reads of a destination (e.g. `MovS d, d`) also count
                if let Ins::Sel { d, a, b, c } = *ins {
                    for s in [a, b, c].into_iter().filter(|s| *s == d) {
                        read_n[s as usize] = true;
                    }
                }
            }
            let keep: Vec<bool> = self
                .code
                .iter()
                .enumerate()
                .map(|(pc, ins)| {
                    if let Some(to) = match ins {
                        Ins::Jz { to, .. } | Ins::Jmp { to } => Some(*to),
                        _ => None,
                    } {
                        return to as usize != pc + 1;
                    }
                    match ins.pure_dests() {
                        None => true,
                        Some((dn, ds)) => {
                            dn.iter().any(|s| read_n.get(*s as usize).copied().unwrap_or(true))
                                || ds.iter().any(|s| read_s.get(*s as usize).copied().unwrap_or(true))
                        }
                    }
                })
                .collect();
            if keep.iter().all(|k| *k) {
                return;
            }
            // new index of every old instruction (a removed one maps to the next kept one)
            let mut map = vec![0u32; self.code.len() + 1];
            let mut n = 0u32;
            for (i, k) in keep.iter().enumerate() {
                map[i] = n;
                if *k {
                    n += 1;
                }
            }
            map[self.code.len()] = n;
            let consts = self.code[..self.consts].iter().zip(&keep).filter(|(_, k)| **k).count();
            let old = std::mem::take(&mut self.code);
            for (ins, k) in old.into_iter().zip(&keep) {
                if *k {
                    let mut ins = ins;
                    if let Some(to) = ins.jump_mut() {
                        *to = map[*to as usize];
                    }
                    self.code.push(ins);
                }
            }
            self.consts = consts;
        }
    }

    /// Checks that every slot, jump target, pool entry, table and lookup an instruction
    /// names is in range. The compiler runs this on every program; `run` relies on it.
    pub fn verify(&self, tables: &Tables) -> Result<(), String> {
        for (pc, ins) in self.code.iter().enumerate() {
            let (ns, ss, to) = ins.operands();
            if let Some(bad) = ns.iter().find(|s| **s as usize >= self.n_num) {
                return Err(format!("instruction {pc} uses numeric slot {bad} of {}", self.n_num));
            }
            if let Some(bad) = ss.iter().find(|s| **s as usize >= self.n_str) {
                return Err(format!("instruction {pc} uses string slot {bad} of {}", self.n_str));
            }
            if to.is_some_and(|t| t as usize > self.code.len()) {
                return Err(format!("instruction {pc} jumps out of the program"));
            }
            let ok = match *ins {
                Ins::Str { k, .. } => (k as usize) < self.pool.len(),
                Ins::LookupOr { table, .. } => (table as usize) < tables.maps.len(),
                Ins::Member { set, .. } => (set as usize) < tables.sets.len(),
                Ins::Lookup { id } => self.lookups.get(id as usize).is_some_and(|l| {
                    let block = l.base as usize + l.kind.num_slots();
                    block <= self.n_num
                        && l.sbase as usize + l.kind.str_fields().len() <= self.n_str
                        && l.keys
                            .iter()
                            .chain(l.workload.iter())
                            .chain(l.family.iter())
                            .chain(l.skip.iter())
                            .all(|s| (*s as usize) < self.n_str)
                }),
                _ => true,
            };
            if !ok {
                return Err(format!("instruction {pc} refers to a missing table, pool entry or lookup"));
            }
        }
        if self.consts > self.code.len() {
            return Err("the constant prologue is longer than the program".into());
        }
        Ok(())
    }
}

/// Runs a program over a prepared scratch. Returns the emitted outcome.
pub fn run(cx: &Ctx<'_, '_>, sc: &mut Scratch, mut trace: Option<&mut Trace>) -> Option<u16> {
    let p = cx.program;
    let code = &p.code[..];
    let Scratch { nums, strs, arena, loaded } = sc;
    if nums.len() < p.n_num || strs.len() < p.n_str {
        return None;
    }
    let (nlen, slen) = (nums.len(), strs.len());
    let np = nums.as_mut_ptr();
    let sp = strs.as_mut_ptr();
    // constants stay in the scratch between evaluations of the same program
    let mut pc = if *loaded == p.id && p.id != 0 { p.consts } else { 0 };
    *loaded = p.id;
    // SAFETY: every program is checked by `Program::verify` when it is compiled (all slot
    // operands < n_num / n_str), and the scratch holds at least n_num / n_str slots (checked
    // above), so these accesses are in bounds.
    macro_rules! n {
        ($s:expr) => {
            unsafe { *np.add($s as usize) }
        };
    }
    macro_rules! s {
        ($s:expr) => {
            unsafe { *sp.add($s as usize) }
        };
    }
    macro_rules! setn {
        ($s:expr, $v:expr) => {{
            let v = $v;
            unsafe { *np.add($s as usize) = v }
        }};
    }
    macro_rules! sets {
        ($s:expr, $v:expr) => {{
            let v = $v;
            unsafe { *sp.add($s as usize) = v }
        }};
    }
    macro_rules! b {
        ($e:expr) => {
            if $e { 1.0 } else { 0.0 }
        };
    }
    while let Some(ins) = code.get(pc) {
        pc += 1;
        match *ins {
            Ins::Num { d, v } => setn!(d, v),
            Ins::In { d, i } => setn!(d, cx.inp.num(i).0),
            Ins::InHas { d, i } => setn!(d, b!(cx.inp.num(i).1)),
            Ins::InHasStr { d, i } => setn!(d, b!(cx.inp.str(i).1)),
            Ins::Rec { d, i } => setn!(d, cx.inp.rec_num(i).0),
            Ins::RecS { d, i } => sets!(d, SRef::Rec(i)),
            Ins::RecHas { d, i } => setn!(d, b!(cx.inp.rec_num(i).1)),
            Ins::Add { d, a, b } => setn!(d, n!(a) + n!(b)),
            Ins::Sub { d, a, b } => setn!(d, n!(a) - n!(b)),
            Ins::Mul { d, a, b } => setn!(d, n!(a) * n!(b)),
            Ins::Div { d, a, b } => setn!(d, n!(a) / n!(b)),
            Ins::Rem { d, a, b } => setn!(d, py_rem(n!(a), n!(b))),
            Ins::Pow { d, a, b } => setn!(d, n!(a).powf(n!(b))),
            Ins::Neg { d, a } => setn!(d, -n!(a)),
            Ins::Max { d, a, b } => setn!(d, py_max(n!(a), n!(b))),
            Ins::Min { d, a, b } => setn!(d, py_min(n!(a), n!(b))),
            Ins::Abs { d, a } => setn!(d, n!(a).abs()),
            Ins::Floor { d, a } => setn!(d, n!(a).floor()),
            Ins::Ceil { d, a } => setn!(d, n!(a).ceil()),
            Ins::Sqrt { d, a } => setn!(d, n!(a).sqrt()),
            Ins::Round { d, a, n } => setn!(d, py_round(n!(a), u32::from(n))),
            Ins::Lt { d, a, b } => setn!(d, b!(n!(a) < n!(b))),
            Ins::Le { d, a, b } => setn!(d, b!(n!(a) <= n!(b))),
            Ins::Gt { d, a, b } => setn!(d, b!(n!(a) > n!(b))),
            Ins::Ge { d, a, b } => setn!(d, b!(n!(a) >= n!(b))),
            Ins::EqN { d, a, b } => setn!(d, b!(n!(a) == n!(b))),
            Ins::NeN { d, a, b } => setn!(d, b!(n!(a) != n!(b))),
            Ins::Not { d, a } => setn!(d, b!(n!(a) == 0.0)),
            Ins::Mov { d, a } => setn!(d, n!(a)),
            Ins::Sel { d, c, a, b } => setn!(d, if n!(c) != 0.0 { n!(a) } else { n!(b) }),
            Ins::SelS { d, c, a, b } => sets!(d, if n!(c) != 0.0 { s!(a) } else { s!(b) }),
            Ins::Jz { c, to } => {
                if n!(c) == 0.0 {
                    pc = to as usize;
                }
            }
            Ins::Jmp { to } => pc = to as usize,
            Ins::Str { d, k } => sets!(d, SRef::Pool(k)),
            Ins::InStr { d, i } => sets!(d, SRef::Input(i)),
            Ins::MovS { d, a } => sets!(d, s!(a)),
            Ins::EqS { d, a, b } => setn!(d, b!(s!(a) == s!(b) || cx.text(s!(a), arena) == cx.text(s!(b), arena))),
            Ins::NeS { d, a, b } => setn!(d, b!(s!(a) != s!(b) && cx.text(s!(a), arena) != cx.text(s!(b), arena))),
            Ins::Concat { d, a, b } => {
                let v = format!("{}{}", cx.text(s!(a), arena), cx.text(s!(b), arena));
                arena.push(v);
                sets!(d, SRef::Arena((arena.len() - 1) as u32));
            }
            Ins::Lower { d, a } => {
                let t = cx.text(s!(a), arena);
                if t.bytes().any(|c| c.is_ascii_uppercase()) || !t.is_ascii() {
                    let v = t.to_lowercase();
                    arena.push(v);
                    sets!(d, SRef::Arena((arena.len() - 1) as u32));
                } else {
                    sets!(d, s!(a));
                }
            }
            Ins::Repr { d, a } => {
                arena.push(py_float_repr(n!(a)));
                sets!(d, SRef::Arena((arena.len() - 1) as u32));
            }
            Ins::PeakTops { d, a } => {
                let v = match (cx.inp.hw, cx.env.registry.dtypes().tops_field(cx.text(s!(a), arena))) {
                    (Some(h), Some(f)) => f.get(&h.spec),
                    _ => 0.0,
                };
                setn!(d, v)
            }
            Ins::HasTopsField { d, a } => {
                setn!(d, b!(cx.env.registry.dtypes().tops_field(cx.text(s!(a), arena)).is_some()))
            }
            Ins::Capability { d, a } | Ins::CapabilityVia { d, a } => {
                let via = matches!(*ins, Ins::CapabilityVia { .. });
                let key = cx.text(s!(a), arena);
                let row = cx
                    .inp
                    .hw
                    .and_then(|h| h.capability.as_ref())
                    .and_then(|t| t.entries.iter().enumerate().find(|(_, (k, _))| k.as_str() == key));
                let v = match row {
                    Some((i, _)) if !via => SRef::CapLevel(i as u32),
                    Some((i, (_, info))) if info.via_dtype.is_some() => SRef::CapVia(i as u32),
                    _ => SRef::Empty,
                };
                sets!(d, v);
            }
            Ins::LookupOr { d, f, table, a } => {
                let key = cx.text(s!(a), arena);
                let found =
                    cx.env.tables.maps.get(table as usize).and_then(|(_, m)| m.iter().position(|(k, _)| k == key));
                match found {
                    Some(i) => {
                        sets!(d, SRef::Map(table, i as u32));
                        setn!(f, 1.0);
                    }
                    None => setn!(f, 0.0),
                }
            }
            Ins::Member { d, set, a } => {
                let key = cx.text(s!(a), arena);
                setn!(d, b!(cx.env.tables.sets.get(set as usize).is_some_and(|(_, s)| s.iter().any(|x| x == key))));
            }
            Ins::Lookup { id } => {
                if let Some(site) = p.lookups.get(id as usize) {
                    // SAFETY: slices re-derived from the same pointers and lengths (no other
                    // live reference to the slots exists while the lookup runs)
                    let (ns, ss) =
                        unsafe { (std::slice::from_raw_parts_mut(np, nlen), std::slice::from_raw_parts_mut(sp, slen)) };
                    lookups::run(site, cx, ns, ss, arena);
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

/// A fresh program id.
pub fn next_program_id() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// Python's float `%`: the result has the sign of the divisor.
pub fn py_rem(a: f64, b: f64) -> f64 {
    let r = a % b;
    if r != 0.0 && ((r < 0.0) != (b < 0.0)) { r + b } else { r }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instructions_stay_small() {
        // dispatch reads one instruction per step; keep it within 16 bytes
        assert!(std::mem::size_of::<Ins>() <= 16, "{}", std::mem::size_of::<Ins>());
    }
}

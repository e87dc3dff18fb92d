//! The bytecode both formula dialects lower to: a flat register program over one file of
//! 64-bit values. Numbers are `f64`, booleans are `0.0`/`1.0`, strings are opaque handles
//! (their bits stored in the `f64`) that the [`Host`](super::vm::Host) of the evaluation
//! resolves. Jumps only go forward, so every program terminates.
//!
//! What a dialect adds (reading a tier field, a state path, a demand aggregate, a table) is an
//! [`Ins::Load`], [`Ins::Has`] or [`Ins::Ext`] instruction whose meaning its host defines; the
//! core knows only how many registers such an instruction reads and writes, which is all the
//! verifier, dead-code pruning and taint analysis need.

use crate::numeric::{py_max, py_min};

/// A register index.
pub type Reg = u16;

/// The static type of a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ty {
    /// A binary64 number.
    Num,
    /// A boolean (0 or 1).
    Bool,
    /// A string handle.
    Str,
}

impl Ty {
    /// `number`, `boolean` or `string`.
    pub fn name(self) -> &'static str {
        match self {
            Ty::Num => "number",
            Ty::Bool => "boolean",
            Ty::Str => "string",
        }
    }

    /// `a number`, `a boolean` or `a string`.
    pub fn a_name(self) -> &'static str {
        match self {
            Ty::Num => "a number",
            Ty::Bool => "a boolean",
            Ty::Str => "a string",
        }
    }
}

/// A numeric comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
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
}

impl Cmp {
    /// Whether `x op y` holds (IEEE: every comparison with NaN but `!=` is false).
    #[inline(always)]
    pub fn holds(self, x: f64, y: f64) -> bool {
        match self {
            Cmp::Lt => x < y,
            Cmp::Le => x <= y,
            Cmp::Gt => x > y,
            Cmp::Ge => x >= y,
            Cmp::Eq => x == y,
            Cmp::Ne => x != y,
        }
    }
}

/// A run-time error of a checked operation or a host read (the reference raised a Python
/// exception there).
#[derive(Debug, Clone, PartialEq)]
pub enum VmError {
    /// A value without data or default (input key).
    Missing(u32),
    /// A value of the wrong type (input key, wanted type).
    Type(u32, Ty),
    /// A map or list where a value was expected (input key).
    NotValue(u32),
    /// Division or remainder by zero.
    DivZero,
    /// A math domain error (operation).
    Domain(&'static str),
    /// A key that is missing, with its text.
    MissingKey(String),
}

/// Two-operand operations besides the four hot arithmetic ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op2 {
    /// Python's float `%` (sign of the divisor); IEEE on zero.
    Rem,
    /// `powf`.
    Pow,
    /// `/` that fails on a zero divisor.
    DivChecked,
    /// `%` that fails on a zero divisor.
    RemChecked,
    /// `^` that fails on `0 ^ negative` and on a NaN result from numbers.
    PowChecked,
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
    /// `sqrt` (NaN below zero)
    Sqrt,
    /// `sqrt` that fails below zero
    SqrtChecked,
    /// natural log, fails at or below zero
    Ln,
    /// `exp`
    Exp,
}

/// Python's float `%`: the result has the sign of the divisor.
#[inline]
pub fn py_rem(a: f64, b: f64) -> f64 {
    let r = a % b;
    if r != 0.0 && ((r < 0.0) != (b < 0.0)) { r + b } else { r }
}

impl Op2 {
    /// The operation on two numbers.
    #[inline(always)]
    pub fn eval(self, x: f64, y: f64) -> Result<f64, VmError> {
        Ok(match self {
            Op2::Rem => py_rem(x, y),
            Op2::Pow => x.powf(y),
            Op2::DivChecked => {
                if y == 0.0 {
                    return Err(VmError::DivZero);
                }
                x / y
            }
            Op2::RemChecked => {
                if y == 0.0 {
                    return Err(VmError::DivZero);
                }
                py_rem(x, y)
            }
            Op2::PowChecked => {
                if x == 0.0 && y < 0.0 {
                    return Err(VmError::DivZero);
                }
                let v = x.powf(y);
                if v.is_nan() && !x.is_nan() && !y.is_nan() {
                    return Err(VmError::Domain("^"));
                }
                v
            }
        })
    }
}

impl Op1 {
    /// The operation on a number.
    #[inline(always)]
    pub fn eval(self, x: f64) -> Result<f64, VmError> {
        Ok(match self {
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
            Op1::Sqrt => x.sqrt(),
            Op1::SqrtChecked => {
                if x < 0.0 {
                    return Err(VmError::Domain("sqrt"));
                }
                x.sqrt()
            }
            Op1::Ln => {
                if x <= 0.0 {
                    return Err(VmError::Domain("ln"));
                }
                x.ln()
            }
            Op1::Exp => x.exp(),
        })
    }

    /// True when the operation may fail at run time.
    pub fn checked(self) -> bool {
        matches!(self, Op1::SqrtChecked | Op1::Ln)
    }
}

/// Python's `max`/`min` argument order, as one operation.
#[inline(always)]
pub fn minmax(max: bool, x: f64, y: f64) -> f64 {
    if max { py_max(x, y) } else { py_min(x, y) }
}

/// One instruction. `d` is the destination, `a`/`b`/`c` operands, `to` a jump target (an
/// instruction index, always forward).
#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Ins {
    /// `d = a`
    Mov { d: Reg, a: Reg },
    /// `d = a + b`
    Add { d: Reg, a: Reg, b: Reg },
    /// `d = a - b`
    Sub { d: Reg, a: Reg, b: Reg },
    /// `d = a * b`
    Mul { d: Reg, a: Reg, b: Reg },
    /// `d = a / b` (IEEE)
    Div { d: Reg, a: Reg, b: Reg },
    /// `d = a / b`, failing on a zero divisor
    DivC { d: Reg, a: Reg, b: Reg },
    /// `d = max(a, b)` (Python argument order)
    Max { d: Reg, a: Reg, b: Reg },
    /// `d = min(a, b)`
    Min { d: Reg, a: Reg, b: Reg },
    /// `d = a / max(b, c)`: the guarded division the rules write everywhere, fused
    DivMax { d: Reg, a: Reg, b: Reg, c: Reg },
    /// `d = a op b`
    Bin { op: Op2, d: Reg, a: Reg, b: Reg },
    /// `d = op a`
    Un { op: Op1, d: Reg, a: Reg },
    /// `d = round(a, n)` (Python `round`)
    Round { d: Reg, a: Reg, n: u8 },
    /// `d = a op b` as 0/1
    Cmp { op: Cmp, d: Reg, a: Reg, b: Reg },
    /// `d = c ? a : b`
    Sel { d: Reg, c: Reg, a: Reg, b: Reg },
    /// `d = text(a) == text(b)` (`!=` when `ne`)
    StrEq { d: Reg, a: Reg, b: Reg, ne: bool },
    /// `d = text(a) + text(b)`
    Concat { d: Reg, a: Reg, b: Reg },
    /// `d = lower(text(a))`
    Lower { d: Reg, a: Reg },
    /// `d = repr(a)` (Python's float text; with `whole`, a whole number's integer text)
    Repr { d: Reg, a: Reg, whole: bool },
    /// `d = the host's input k` as type `ty`
    Load { d: Reg, ty: Ty, k: u32 },
    /// `d = the host's input k is present`
    Has { d: Reg, k: u32 },
    /// `d = parameter i of the run`
    Param { d: Reg, i: u16 },
    /// Host operation `op` (immediates `x`, `k`): reads `a .. a+n_in`, writes `d .. d+n_out`.
    Ext { op: u8, n_in: u8, n_out: u8, d: Reg, a: Reg, x: u16, k: u32 },
    /// jump to `to`
    Jmp { to: u32 },
    /// jump to `to` when `c == 0`
    Jz { c: Reg, to: u32 },
    /// jump to `to` unless `a op b` (a comparison fused with its branch)
    JmpUnless { op: Cmp, a: Reg, b: Reg, to: u32 },
    /// stop with outcome `o`
    Exit { o: u16 },
    /// stop with outcome `o` when `c == 0`
    ExitIfNot { c: Reg, o: u16 },
    /// record register `r` as traced name `name` (traced programs only)
    Trace { name: u16, r: Reg, ty: Ty },
    /// record event `ev` (traced programs only)
    Note { ev: u16 },
}

/// The outcome of a program that ran to its end without an `Exit`.
pub const END: u16 = u16::MAX;

/// `$e` with `$d` bound to the destination of an instruction that writes one register (every
/// instruction but jumps, exits, traces and host operations), else `$other`.
macro_rules! one_dest {
    ($ins:expr, $d:ident => $e:expr, $other:expr) => {
        match $ins {
            Ins::Mov { d: $d, .. }
            | Ins::Add { d: $d, .. }
            | Ins::Sub { d: $d, .. }
            | Ins::Mul { d: $d, .. }
            | Ins::Div { d: $d, .. }
            | Ins::DivC { d: $d, .. }
            | Ins::Max { d: $d, .. }
            | Ins::Min { d: $d, .. }
            | Ins::DivMax { d: $d, .. }
            | Ins::Bin { d: $d, .. }
            | Ins::Un { d: $d, .. }
            | Ins::Round { d: $d, .. }
            | Ins::Cmp { d: $d, .. }
            | Ins::Sel { d: $d, .. }
            | Ins::StrEq { d: $d, .. }
            | Ins::Concat { d: $d, .. }
            | Ins::Lower { d: $d, .. }
            | Ins::Repr { d: $d, .. }
            | Ins::Load { d: $d, .. }
            | Ins::Has { d: $d, .. }
            | Ins::Param { d: $d, .. } => $e,
            _ => $other,
        }
    };
}

impl Ins {
    /// Calls `f` with every register the instruction reads.
    pub fn for_each_read(&self, mut f: impl FnMut(Reg)) {
        use Ins::*;
        match *self {
            Mov { a, .. } | Un { a, .. } | Round { a, .. } | Lower { a, .. } | Repr { a, .. } => f(a),
            Add { a, b, .. }
            | Sub { a, b, .. }
            | Mul { a, b, .. }
            | Div { a, b, .. }
            | DivC { a, b, .. }
            | Max { a, b, .. }
            | Min { a, b, .. }
            | Bin { a, b, .. }
            | Cmp { a, b, .. }
            | StrEq { a, b, .. }
            | Concat { a, b, .. }
            | JmpUnless { a, b, .. } => {
                f(a);
                f(b)
            }
            DivMax { a, b, c, .. } | Sel { c, a, b, .. } => {
                f(a);
                f(b);
                f(c)
            }
            Ext { n_in, a, .. } => (0..u16::from(n_in)).for_each(|i| f(a.wrapping_add(i))),
            Jz { c, .. } | ExitIfNot { c, .. } => f(c),
            Trace { r, .. } => f(r),
            Load { .. } | Has { .. } | Param { .. } | Jmp { .. } | Exit { .. } | Note { .. } => {}
        }
    }

    /// The registers the instruction writes: a first register and a count.
    pub fn writes(&self) -> (Reg, u16) {
        one_dest!(*self, d => (d, 1), match *self {
            Ins::Ext { d, n_out, .. } => (d, u16::from(n_out)),
            _ => (0, 0),
        })
    }

    /// The destination of a one-register write (for retargeting a branch result).
    pub fn dest_mut(&mut self) -> Option<&mut Reg> {
        one_dest!(self, d => Some(d), None)
    }

    /// The jump target, when the instruction jumps.
    pub fn target(&self) -> Option<u32> {
        match *self {
            Ins::Jmp { to } | Ins::Jz { to, .. } | Ins::JmpUnless { to, .. } => Some(to),
            _ => None,
        }
    }

    /// The jump target, mutably.
    pub fn target_mut(&mut self) -> Option<&mut u32> {
        match self {
            Ins::Jmp { to } | Ins::Jz { to, .. } | Ins::JmpUnless { to, .. } => Some(to),
            _ => None,
        }
    }

    /// True when the instruction does nothing but write its registers (it can be removed
    /// when nothing reads them). Host reads and checked operations count as pure only when
    /// `host_pure` (a dialect whose reads cannot fail and whose operations have no effect).
    pub fn is_pure(&self, host_pure: bool) -> bool {
        use Ins::*;
        match *self {
            Jmp { .. } | Jz { .. } | JmpUnless { .. } | Exit { .. } | ExitIfNot { .. } | Trace { .. } | Note { .. } => {
                false
            }
            Load { .. } | Has { .. } | Ext { .. } | Concat { .. } | Lower { .. } | Repr { .. } | DivC { .. } => {
                host_pure
            }
            Bin { op, .. } => host_pure || matches!(op, Op2::Rem | Op2::Pow),
            Un { op, .. } => host_pure || !op.checked(),
            _ => true,
        }
    }
}

/// A traced name: what a `Trace` instruction records, for explanations.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceName {
    /// Display name (`bw_floor_ms_decode`, `hw.mem_bandwidth_gbs`, `kv(2.0)`).
    pub name: String,
    /// The formula text (empty for inputs).
    pub text: String,
}

/// A compiled program.
#[derive(Debug, Clone, Default)]
pub struct Program {
    /// Unique id: a register file that last ran this program still holds its constants.
    pub id: u64,
    /// Instructions (checked by [`Program::verify`] when the program is built; the VM relies
    /// on it, so only the crate changes them).
    pub(crate) code: Vec<Ins>,
    /// The register file at the start: constants in place, zeros elsewhere.
    pub(crate) init: Vec<f64>,
    /// Registers holding constants: no instruction writes them, so a register file that ran
    /// this program still holds them (verified).
    pub(crate) constants: Vec<Reg>,
    /// String constants (the text behind the dialect's pool handles).
    pub pool: Vec<String>,
    /// Names of `Trace` instructions.
    pub trace_names: Vec<TraceName>,
}

/// A fresh program id.
pub fn next_program_id() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// Largest register span an `Ext` instruction may read or write.
pub const EXT_MAX: u8 = 16;

impl Program {
    /// A program from its parts (an `Exit` appended when the code does not end with one),
    /// verified.
    pub fn new(
        mut code: Vec<Ins>,
        init: Vec<f64>,
        pool: Vec<String>,
        trace_names: Vec<TraceName>,
    ) -> Result<Program, String> {
        if !matches!(code.last(), Some(Ins::Exit { .. })) {
            code.push(Ins::Exit { o: END });
        }
        // every register with an initial value is a constant
        let constants = (0..init.len()).filter(|r| init[*r] != 0.0).map(|r| r as Reg).collect();
        let p = Program { id: next_program_id(), code, init, constants, pool, trace_names };
        p.verify()?;
        Ok(p)
    }

    /// The instructions.
    pub fn code(&self) -> &[Ins] {
        &self.code
    }

    /// Number of registers.
    pub fn registers(&self) -> usize {
        self.init.len()
    }

    /// Checks that every register, jump target and trace name an instruction names is in
    /// range, every jump goes forward, the code ends with an `Exit` (so the VM fetches
    /// without a bounds check), and no instruction writes a constant (so a register file
    /// keeps them between runs). Compilers run this on every program; the VM relies on it.
    pub fn verify(&self) -> Result<(), String> {
        let n = self.init.len();
        if !matches!(self.code.last(), Some(Ins::Exit { .. })) {
            return Err("the code does not end with an exit".into());
        }
        let mut constant = vec![false; n];
        for r in &self.constants {
            match constant.get_mut(*r as usize) {
                Some(c) => *c = true,
                None => return Err(format!("constant register {r} of {n}")),
            }
        }
        for (pc, ins) in self.code.iter().enumerate() {
            let (d, w) = ins.writes();
            if (d..d.saturating_add(w)).any(|r| constant.get(r as usize).copied().unwrap_or(false)) {
                return Err(format!("instruction {pc} writes a constant"));
            }
        }
        if n > Reg::MAX as usize {
            return Err(format!("{n} registers (at most {})", Reg::MAX));
        }
        for (pc, ins) in self.code.iter().enumerate() {
            let mut bad = None;
            ins.for_each_read(|r| {
                if r as usize >= n {
                    bad = Some(r);
                }
            });
            let (d, w) = ins.writes();
            if w > 0 && d as usize + w as usize > n {
                bad = Some(d);
            }
            if let Some(r) = bad {
                return Err(format!("instruction {pc} uses register {r} of {n}"));
            }
            if let Some(to) = ins.target() {
                if to as usize <= pc || to as usize >= self.code.len() {
                    return Err(format!("instruction {pc} jumps to {to}"));
                }
            }
            match *ins {
                Ins::Ext { n_in, n_out, .. } if n_in > EXT_MAX || n_out > EXT_MAX => {
                    return Err(format!("instruction {pc} reads or writes more than {EXT_MAX} registers"));
                }
                Ins::Ext { n_in, n_out, d, a, .. }
                    if n_in > 0 && n_out > 0 && d < a + u16::from(n_in) && a < d + u16::from(n_out) =>
                {
                    return Err(format!("instruction {pc} writes the registers it reads"));
                }
                Ins::Trace { name, .. } if name as usize >= self.trace_names.len() => {
                    return Err(format!("instruction {pc} traces an unknown name"));
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Removes instructions whose results nothing reads, and jumps to the next instruction.
    /// `live` are the registers read from outside the code (the outcomes); `host_pure` as in
    /// [`Ins::is_pure`].
    pub(crate) fn prune(&mut self, live: &[Reg], host_pure: bool) {
        let n = self.init.len();
        loop {
            let mut read = vec![false; n];
            for r in live {
                if let Some(x) = read.get_mut(*r as usize) {
                    *x = true;
                }
            }
            for ins in &self.code {
                ins.for_each_read(|r| {
                    if let Some(x) = read.get_mut(r as usize) {
                        *x = true;
                    }
                });
            }
            let keep: Vec<bool> = self
                .code
                .iter()
                .enumerate()
                .map(|(pc, ins)| {
                    if let Some(to) = ins.target() {
                        return to as usize != pc + 1;
                    }
                    if !ins.is_pure(host_pure) {
                        return true;
                    }
                    let (d, w) = ins.writes();
                    (d..d + w).any(|r| read.get(r as usize).copied().unwrap_or(true))
                })
                .collect();
            if keep.iter().all(|k| *k) {
                return;
            }
            self.remove(&keep);
        }
    }

    /// Removes the instructions not marked in `keep`, retargeting jumps (a removed target
    /// maps to the next kept instruction).
    pub(crate) fn remove(&mut self, keep: &[bool]) {
        let mut map = vec![0u32; self.code.len() + 1];
        let mut k = 0u32;
        for (i, kept) in keep.iter().enumerate() {
            map[i] = k;
            if *kept {
                k += 1;
            }
        }
        map[self.code.len()] = k;
        let old = std::mem::take(&mut self.code);
        for (ins, kept) in old.into_iter().zip(keep) {
            if *kept {
                let mut ins = ins;
                if let Some(to) = ins.target_mut() {
                    *to = map[*to as usize];
                }
                self.code.push(ins);
            }
        }
    }

    /// Peephole rewrites that keep every result bit for bit: `a / max(b, c)` fused when the
    /// `max` feeds only that division, and a comparison fused with the branch it alone feeds.
    pub(crate) fn fuse(&mut self, live: &[Reg]) {
        let n = self.init.len();
        let mut uses = vec![0u32; n];
        for ins in &self.code {
            ins.for_each_read(|r| uses[r as usize] += 1);
        }
        for r in live {
            if let Some(u) = uses.get_mut(*r as usize) {
                *u += 1;
            }
        }
        let targets: std::collections::HashSet<u32> = self.code.iter().filter_map(Ins::target).collect();
        let mut keep = vec![true; self.code.len()];
        for i in 1..self.code.len() {
            if targets.contains(&(i as u32)) {
                continue;
            }
            match (self.code[i - 1], self.code[i]) {
                (Ins::Max { d: m, a: x, b: y }, Ins::Div { d, a, b }) if b == m && a != m && uses[m as usize] == 1 => {
                    self.code[i] = Ins::DivMax { d, a, b: x, c: y };
                    keep[i - 1] = false;
                }
                (Ins::Cmp { op, d: c, a, b }, Ins::Jz { c: jc, to }) if c == jc && uses[c as usize] == 1 => {
                    self.code[i] = Ins::JmpUnless { op, a, b, to };
                    keep[i - 1] = false;
                }
                _ => {}
            }
        }
        if keep.iter().any(|k| !k) {
            self.remove(&keep);
        }
    }

    /// A readable listing (debugging and tests).
    pub fn dump(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let consts = self.init.iter().enumerate().filter(|(_, x)| **x != 0.0).count();
        let _ = writeln!(s, "{} instructions, {} registers ({consts} constants)", self.code.len(), self.init.len());
        for (i, ins) in self.code.iter().enumerate() {
            let _ = writeln!(s, "{i:4} {ins:?}");
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instructions_stay_small() {
        // dispatch reads one instruction per step; keep it within 16 bytes
        assert!(std::mem::size_of::<Ins>() <= 16, "{}", std::mem::size_of::<Ins>());
    }

    #[test]
    fn python_remainder_and_checked_operations() {
        assert_eq!(py_rem(-7.0, 3.0), 2.0);
        assert_eq!(py_rem(7.0, -3.0), -2.0);
        assert_eq!(Op2::DivChecked.eval(1.0, 0.0), Err(VmError::DivZero));
        assert_eq!(Op2::PowChecked.eval(0.0, -1.0), Err(VmError::DivZero));
        assert_eq!(Op2::PowChecked.eval(-8.0, 0.5), Err(VmError::Domain("^")));
        assert!(Op2::Pow.eval(-8.0, 0.5).is_ok_and(f64::is_nan));
        assert_eq!(Op1::SqrtChecked.eval(-1.0), Err(VmError::Domain("sqrt")));
        assert_eq!(Op1::Ln.eval(0.0), Err(VmError::Domain("ln")));
    }

    #[test]
    fn verify_rejects_backward_jumps_bad_registers_and_written_constants() {
        let err = |code: Vec<Ins>, init: Vec<f64>| {
            Program::new(code, init, Vec::new(), Vec::new()).err().unwrap_or_else(|| panic!("accepted"))
        };
        let ok = |code: Vec<Ins>, init: Vec<f64>| Program::new(code, init, Vec::new(), Vec::new());
        assert!(err(vec![Ins::Mov { d: 0, a: 0 }, Ins::Jmp { to: 0 }], vec![0.0]).contains("jumps to 0"));
        assert!(err(vec![Ins::Mov { d: 0, a: 3 }], vec![0.0]).contains("register 3"));
        let wide = Ins::Ext { op: 0, n_in: 0, n_out: 3, d: 0, a: 0, x: 0, k: 0 };
        assert!(err(vec![wide], vec![0.0; 2]).contains("register 0 of 2"));
        let overlap = Ins::Ext { op: 0, n_in: 2, n_out: 2, d: 1, a: 0, x: 0, k: 0 };
        assert!(err(vec![overlap], vec![0.0; 4]).contains("writes the registers it reads"));
        // register 1 holds the constant 2.5: writing it would leak into the next run
        assert!(err(vec![Ins::Add { d: 1, a: 1, b: 1 }], vec![0.0, 2.5]).contains("writes a constant"));
        assert!(ok(vec![Ins::Add { d: 0, a: 1, b: 1 }], vec![0.0, 2.5]).is_ok());
        // the end is an exit, so a jump to the old end lands on it
        assert!(ok(vec![Ins::Jz { c: 0, to: 1 }], vec![0.0]).is_ok());
        let p = Program { code: vec![Ins::Mov { d: 0, a: 0 }], init: vec![0.0], ..Default::default() };
        assert!(p.verify().is_err_and(|e| e.contains("exit")));
    }

    #[test]
    fn prune_and_fuse() {
        // r2 = r0 + r1 (dead), r3 = max(r0, r1), r4 = r1 / r3 (live)
        let mut p = Program {
            code: vec![
                Ins::Add { d: 2, a: 0, b: 1 },
                Ins::Max { d: 3, a: 0, b: 1 },
                Ins::Div { d: 4, a: 1, b: 3 },
                Ins::Exit { o: 0 },
            ],
            init: vec![0.0; 5],
            ..Default::default()
        };
        p.prune(&[4], true);
        assert_eq!(p.code.len(), 3);
        p.fuse(&[4]);
        assert_eq!(p.code, vec![Ins::DivMax { d: 4, a: 1, b: 0, c: 1 }, Ins::Exit { o: 0 }]);
    }
}

//! Evaluation: one loop over the instructions of a verified [`Program`], generic over the
//! dialect's [`Host`] and over a number of lanes `L`.
//!
//! With `L = 1` it is an ordinary register interpreter. With `L > 1` every register holds `L`
//! values and each instruction is dispatched once for the whole block (sweep points, grid
//! cells, requests of one tier × model): the arithmetic runs over arrays the compiler turns
//! into vector code, and the dispatch cost is shared. Lanes stay in lockstep while control
//! flow agrees; at the first branch they disagree on (or an operation that fails in some
//! lane), each lane finishes on its own from that instruction, with the scalar loop, so
//! every lane's result — value or error — is exactly what a scalar run gives.

use super::code::{EXT_MAX, Ins, Program, Reg, Ty, VmError, minmax};
use crate::numeric::py_round;

/// What an evaluation reads besides its registers. `lane` is the lane of the value asked for
/// (0 in scalar runs), so one host serves a block of inputs.
pub trait Host {
    /// True when equal text always has equal handles (interned strings): string equality is
    /// then a comparison of handles.
    const CANONICAL_STRINGS: bool = false;

    /// Input `k` as a value of type `ty`.
    fn load(&mut self, lane: usize, k: u32, ty: Ty) -> Result<f64, VmError>;

    /// Whether input `k` is present.
    fn has(&mut self, lane: usize, k: u32) -> bool;

    /// Parameter `i` of the run.
    fn param(&self, lane: usize, i: u16) -> f64;

    /// Host operation `op` with immediates `x` and `k`, inputs `inp`, results into `out`.
    fn ext(&mut self, lane: usize, op: u8, x: u16, k: u32, inp: &[f64], out: &mut [f64]) -> Result<(), VmError>;

    /// The text of a string handle.
    fn text(&self, lane: usize, h: f64) -> &str;

    /// A handle for text computed during the run (concatenation, lower-casing, `str`).
    fn make_str(&mut self, lane: usize, s: String) -> f64;

    /// `text(a) + text(b)` as a handle (a host with interned strings can answer without
    /// building the text each time).
    fn concat(&mut self, lane: usize, a: f64, b: f64) -> f64 {
        let s = format!("{}{}", self.text(lane, a), self.text(lane, b));
        self.make_str(lane, s)
    }
}

/// A register file for `L` lanes; it remembers which program's constants it holds, so a run
/// of the same program again starts without copying them.
#[derive(Debug, Clone, Default)]
pub struct Regs<const L: usize> {
    r: Vec<[f64; L]>,
    loaded: u64,
}

impl<const L: usize> Regs<L> {
    /// An empty file.
    pub fn new() -> Self {
        Regs { r: Vec::new(), loaded: 0 }
    }

    /// Makes the file hold `p`'s constants (copied only when another program ran last).
    #[inline]
    pub fn prepare(&mut self, p: &Program) {
        if self.loaded == p.id && p.id != 0 && self.r.len() >= p.init.len() {
            return;
        }
        self.r.clear();
        self.r.extend(p.init.iter().map(|x| [*x; L]));
        self.loaded = p.id;
    }

    /// Register `r`, every lane (tests).
    #[cfg(test)]
    pub fn get(&self, r: Reg) -> [f64; L] {
        self.r.get(r as usize).copied().unwrap_or([0.0; L])
    }

    /// Register `r` in lane `l`.
    #[inline]
    pub fn lane(&self, r: Reg, l: usize) -> f64 {
        self.r.get(r as usize).and_then(|v| v.get(l)).copied().unwrap_or(0.0)
    }
}

impl Regs<1> {
    /// Register `r` of a scalar file.
    #[inline]
    pub fn at(&self, r: Reg) -> f64 {
        self.r.get(r as usize).map_or(0.0, |v| v[0])
    }
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

/// What a traced run recorded: `Trace` values and `Note` events in evaluation order.
#[derive(Debug, Clone, Default)]
pub struct Trace {
    /// (traced name, value).
    pub values: Vec<(u16, TraceValue)>,
    /// Events.
    pub events: Vec<u16>,
}

enum Flow {
    Done(u16),
    Fail(VmError),
    /// Lanes disagree at this instruction: each continues alone from it.
    Split(usize),
}

/// Runs `p` once. Returns the outcome of its `Exit` ([`END`] when it ran to the end).
pub fn run<H: Host>(p: &Program, h: &mut H, regs: &mut Regs<1>, trace: Option<&mut Trace>) -> Result<u16, VmError> {
    regs.prepare(p);
    match exec::<H, 1>(p, h, &mut regs.r, 0, 0, trace) {
        Flow::Done(o) => Ok(o),
        Flow::Fail(e) => Err(e),
        Flow::Split(_) => Err(VmError::Domain("lanes")),
    }
}

/// Runs `p` over `L` lanes at once; `out[l]` is what a scalar run of lane `l` gives. `spill`
/// is a scalar file for lanes that go their own way.
pub fn run_lanes<H: Host, const L: usize>(
    p: &Program,
    h: &mut H,
    regs: &mut Regs<L>,
    spill: &mut Regs<1>,
    out: &mut [Result<u16, VmError>; L],
) {
    regs.prepare(p);
    match exec::<H, L>(p, h, &mut regs.r, 0, 0, None) {
        Flow::Done(o) => out.iter_mut().for_each(|x| *x = Ok(o)),
        Flow::Fail(e) => out.iter_mut().for_each(|x| *x = Err(e.clone())),
        Flow::Split(pc) => {
            spill.loaded = 0;
            for (l, slot) in out.iter_mut().enumerate() {
                spill.r.clear();
                spill.r.extend(regs.r.iter().map(|v| [v[l]]));
                *slot = match exec::<H, 1>(p, h, &mut spill.r, pc, l, None) {
                    Flow::Done(o) => Ok(o),
                    Flow::Fail(e) => Err(e),
                    Flow::Split(_) => Err(VmError::Domain("lanes")),
                };
                for (v, s) in regs.r.iter_mut().zip(&spill.r) {
                    v[l] = s[0];
                }
            }
        }
    }
}

#[inline(always)]
fn b2f(b: bool) -> f64 {
    if b { 1.0 } else { 0.0 }
}

/// What a rare instruction asks the loop to do next.
enum Next {
    Go,
    Jump(usize),
    Stop(Flow),
}

#[inline(always)]
/// The interpreter loop. `lane0` is the host lane of lane 0 (a split lane runs with `L = 1`).
/// The common instructions are handled inline; the rare ones (strings, host operations,
/// checked math, traces) in [`rare`], which keeps the loop's registers for the hot path.
fn exec<H: Host, const L: usize>(
    p: &Program,
    h: &mut H,
    r: &mut [[f64; L]],
    mut pc: usize,
    lane0: usize,
    mut trace: Option<&mut Trace>,
) -> Flow {
    if r.len() < p.init.len() || pc >= p.code.len() {
        return Flow::Fail(VmError::Domain("register file"));
    }
    let code = p.code.as_ptr();
    let rp = r.as_mut_ptr();
    // SAFETY (fetch): `Program::verify` ran when the program was built (only the crate
    // changes a program): every jump target is below `code.len()` and the last instruction is
    // an `Exit`, so `pc` stays in bounds from any start below `len` (checked above).
    // SAFETY (rd/wr): verification also bounds every register an instruction names by
    // `init.len()`, and the file holds at least that many (checked above). No reference into
    // `r` lives across these accesses.
    macro_rules! rd {
        ($i:expr) => {
            unsafe { *rp.add($i as usize) }
        };
    }
    macro_rules! wr {
        ($i:expr, $v:expr) => {{
            let v: [f64; L] = $v;
            unsafe { *rp.add($i as usize) = v }
        }};
    }
    macro_rules! map2 {
        ($a:expr, $b:expr, |$x:ident, $y:ident| $e:expr) => {{
            let (xa, ya) = (rd!($a), rd!($b));
            std::array::from_fn::<f64, L, _>(|l| {
                let ($x, $y) = (xa[l], ya[l]);
                $e
            })
        }};
    }
    // a branch: every lane agrees (Some(taken)) or they split (None)
    macro_rules! agree {
        ($v:expr) => {{
            let v: [bool; L] = $v;
            if L == 1 {
                Some(v[0])
            } else if v.iter().all(|x| *x) {
                Some(true)
            } else if v.iter().all(|x| !*x) {
                Some(false)
            } else {
                None
            }
        }};
    }
    loop {
        let here = pc;
        let ins = unsafe { &*code.add(pc) };
        pc += 1;
        match *ins {
            Ins::Mov { d, a } => wr!(d, rd!(a)),
            Ins::Add { d, a, b } => wr!(d, map2!(a, b, |x, y| x + y)),
            Ins::Sub { d, a, b } => wr!(d, map2!(a, b, |x, y| x - y)),
            Ins::Mul { d, a, b } => wr!(d, map2!(a, b, |x, y| x * y)),
            Ins::Div { d, a, b } => wr!(d, map2!(a, b, |x, y| x / y)),
            Ins::DivC { d, a, b } => {
                let (xa, xb) = (rd!(a), rd!(b));
                if xb.contains(&0.0) {
                    if L == 1 {
                        return Flow::Fail(VmError::DivZero);
                    }
                    return Flow::Split(here);
                }
                wr!(d, std::array::from_fn(|l| xa[l] / xb[l]))
            }
            Ins::Max { d, a, b } => wr!(d, map2!(a, b, |x, y| minmax(true, x, y))),
            Ins::Min { d, a, b } => wr!(d, map2!(a, b, |x, y| minmax(false, x, y))),
            Ins::DivMax { d, a, b, c } => {
                let (xa, xb, xc) = (rd!(a), rd!(b), rd!(c));
                wr!(d, std::array::from_fn(|l| xa[l] / minmax(true, xb[l], xc[l])))
            }
            Ins::Round { d, a, n } => {
                let xa = rd!(a);
                wr!(d, std::array::from_fn(|l| py_round(xa[l], u32::from(n))))
            }
            Ins::Cmp { op, d, a, b } => wr!(d, map2!(a, b, |x, y| b2f(op.holds(x, y)))),
            Ins::Sel { d, c, a, b } => {
                let (xc, xa, xb) = (rd!(c), rd!(a), rd!(b));
                wr!(d, std::array::from_fn(|l| if xc[l] != 0.0 { xa[l] } else { xb[l] }))
            }
            Ins::Load { d, ty, k } => {
                let mut v = [0.0; L];
                for (l, out) in v.iter_mut().enumerate() {
                    match h.load(lane0 + l, k, ty) {
                        Ok(x) => *out = x,
                        Err(e) if L == 1 => return Flow::Fail(e),
                        Err(_) => return Flow::Split(here),
                    }
                }
                wr!(d, v)
            }
            Ins::Has { d, k } => {
                let v = std::array::from_fn(|l| b2f(h.has(lane0 + l, k)));
                wr!(d, v)
            }
            Ins::Param { d, i } => {
                let v = std::array::from_fn(|l| h.param(lane0 + l, i));
                wr!(d, v)
            }
            Ins::Jmp { to } => pc = to as usize,
            Ins::Jz { c, to } => {
                let v = rd!(c);
                match agree!(std::array::from_fn(|l| v[l] == 0.0)) {
                    Some(true) => pc = to as usize,
                    Some(false) => {}
                    None => return Flow::Split(here),
                }
            }
            Ins::JmpUnless { op, a, b, to } => {
                let (xa, xb) = (rd!(a), rd!(b));
                match agree!(std::array::from_fn(|l| op.holds(xa[l], xb[l]))) {
                    Some(true) => {}
                    Some(false) => pc = to as usize,
                    None => return Flow::Split(here),
                }
            }
            Ins::Exit { o } => return Flow::Done(o),
            Ins::ExitIfNot { c, o } => {
                let v = rd!(c);
                match agree!(std::array::from_fn(|l| v[l] == 0.0)) {
                    Some(true) => return Flow::Done(o),
                    Some(false) => {}
                    None => return Flow::Split(here),
                }
            }
            _ => match rare::<H, L>(ins, h, r, here, lane0, trace.as_deref_mut()) {
                Next::Go => {}
                Next::Jump(to) => pc = to,
                Next::Stop(f) => return f,
            },
        }
    }
}

/// The instructions [`exec`] keeps out of its loop.
#[inline(never)]
fn rare<H: Host, const L: usize>(
    ins: &Ins,
    h: &mut H,
    r: &mut [[f64; L]],
    here: usize,
    lane0: usize,
    trace: Option<&mut Trace>,
) -> Next {
    // registers were bounds-checked by `Program::verify`; these accesses use checked
    // indexing anyway (this path is not hot), falling back to a split-free failure
    let rd = |r: &[[f64; L]], i: Reg| r.get(i as usize).copied().unwrap_or([0.0; L]);
    let fail = |e: VmError| if L == 1 { Next::Stop(Flow::Fail(e)) } else { Next::Stop(Flow::Split(here)) };
    macro_rules! put {
        ($d:expr, $v:expr) => {{
            if let Some(x) = r.get_mut($d as usize) {
                *x = $v;
            }
        }};
    }
    match *ins {
        Ins::Bin { op, d, a, b } => {
            let (xa, xb) = (rd(r, a), rd(r, b));
            let mut v = [0.0; L];
            for l in 0..L {
                match op.eval(xa[l], xb[l]) {
                    Ok(x) => v[l] = x,
                    Err(e) => return fail(e),
                }
            }
            put!(d, v)
        }
        Ins::Un { op, d, a } => {
            let xa = rd(r, a);
            let mut v = [0.0; L];
            for l in 0..L {
                match op.eval(xa[l]) {
                    Ok(x) => v[l] = x,
                    Err(e) => return fail(e),
                }
            }
            put!(d, v)
        }
        Ins::StrEq { d, a, b, ne } => {
            let (xa, xb) = (rd(r, a), rd(r, b));
            let v = std::array::from_fn(|l| {
                let eq = xa[l].to_bits() == xb[l].to_bits()
                    || (!H::CANONICAL_STRINGS && h.text(lane0 + l, xa[l]) == h.text(lane0 + l, xb[l]));
                b2f(eq != ne)
            });
            put!(d, v)
        }
        Ins::Concat { d, a, b } => {
            let (xa, xb) = (rd(r, a), rd(r, b));
            let mut v = [0.0; L];
            for (l, out) in v.iter_mut().enumerate() {
                *out = h.concat(lane0 + l, xa[l], xb[l]);
            }
            put!(d, v)
        }
        Ins::Lower { d, a } => {
            let xa = rd(r, a);
            let mut v = xa;
            for (l, out) in v.iter_mut().enumerate() {
                let t = h.text(lane0 + l, xa[l]);
                if t.bytes().any(|c| c.is_ascii_uppercase()) || !t.is_ascii() {
                    let s = t.to_lowercase();
                    *out = h.make_str(lane0 + l, s);
                }
            }
            put!(d, v)
        }
        Ins::Repr { d, a, whole } => {
            let xa = rd(r, a);
            let mut v = [0.0; L];
            for (l, out) in v.iter_mut().enumerate() {
                *out = h.make_str(lane0 + l, crate::expr::lower::number_text(xa[l], whole));
            }
            put!(d, v)
        }
        Ins::Ext { op, n_in, n_out, d, a, x, k } => {
            let (ni, no) = (usize::from(n_in.min(EXT_MAX)), usize::from(n_out.min(EXT_MAX)));
            let (a, d) = (a as usize, d as usize);
            if r.len() < a + ni || r.len() < d + no {
                return Next::Stop(Flow::Fail(VmError::Domain("register file")));
            }
            if L == 1 {
                // one lane: the registers themselves are the inputs and the outputs (they do
                // not overlap, verified)
                // SAFETY: `[[f64; 1]]` has the layout of `[f64]`; both ranges are in bounds
                // (checked above) and disjoint, and no other reference into `r` is alive
                let base = r.as_mut_ptr().cast::<f64>();
                let (inp, out) = unsafe {
                    (std::slice::from_raw_parts(base.add(a), ni), std::slice::from_raw_parts_mut(base.add(d), no))
                };
                return match h.ext(lane0, op, x, k, inp, out) {
                    Ok(()) => Next::Go,
                    Err(e) => fail(e),
                };
            }
            let mut inp = [0.0f64; EXT_MAX as usize];
            let mut o = [0.0f64; EXT_MAX as usize];
            // lane `l` of registers `a..a+ni` in, of `d..d+no` out: the lane indexes the columns
            #[allow(clippy::needless_range_loop)]
            for l in 0..L {
                for (i, slot) in inp.iter_mut().enumerate().take(ni) {
                    *slot = r[a + i][l];
                }
                match h.ext(lane0 + l, op, x, k, &inp[..ni], &mut o[..no]) {
                    // the outputs never overlap the inputs (verified), so a lane that
                    // restarts after a later lane's failure still reads its own inputs
                    Ok(()) => {
                        for (i, v) in o.iter().enumerate().take(no) {
                            r[d + i][l] = *v;
                        }
                    }
                    Err(e) => return fail(e),
                }
            }
        }
        Ins::Trace { name, r: reg, ty } => {
            if let Some(t) = trace {
                let x = rd(r, reg)[0];
                let v = match ty {
                    Ty::Num => TraceValue::Num(x),
                    Ty::Bool => TraceValue::Bool(x != 0.0),
                    Ty::Str => TraceValue::Str(h.text(lane0, x).to_string()),
                };
                t.values.push((name, v));
            }
        }
        Ins::Note { ev } => {
            if let Some(t) = trace {
                t.events.push(ev);
            }
        }
        // the loop handles every other instruction itself
        _ => return Next::Jump(here + 1),
    }
    Next::Go
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::Cmp;
    use crate::expr::code::{END, Op2};

    /// A host with numeric inputs per lane and interned strings.
    struct TestHost {
        inputs: Vec<Vec<f64>>,
        strings: Vec<String>,
    }

    impl Host for TestHost {
        fn load(&mut self, lane: usize, k: u32, _: Ty) -> Result<f64, VmError> {
            self.inputs.get(lane).and_then(|v| v.get(k as usize)).copied().ok_or(VmError::Missing(k))
        }
        fn has(&mut self, lane: usize, k: u32) -> bool {
            self.inputs.get(lane).is_some_and(|v| (k as usize) < v.len())
        }
        fn param(&self, _: usize, i: u16) -> f64 {
            f64::from(i)
        }
        fn ext(&mut self, _: usize, _: u8, _: u16, _: u32, inp: &[f64], out: &mut [f64]) -> Result<(), VmError> {
            out[0] = inp.iter().sum();
            Ok(())
        }
        fn text(&self, _: usize, h: f64) -> &str {
            self.strings.get(h as usize).map_or("", String::as_str)
        }
        fn make_str(&mut self, _: usize, s: String) -> f64 {
            self.strings.push(s);
            (self.strings.len() - 1) as f64
        }
    }

    /// r2 = in0 / in1 (checked); if r2 > 1 then r4 = r2 * 10 else r4 = r2; exit 7
    fn program() -> Program {
        let code = vec![
            Ins::Load { d: 0, ty: Ty::Num, k: 0 },
            Ins::Load { d: 1, ty: Ty::Num, k: 1 },
            Ins::Bin { op: Op2::DivChecked, d: 2, a: 0, b: 1 },
            Ins::JmpUnless { op: Cmp::Gt, a: 2, b: 3, to: 6 },
            Ins::Mul { d: 4, a: 2, b: 5 },
            Ins::Jmp { to: 7 },
            Ins::Mov { d: 4, a: 2 },
            Ins::Exit { o: 7 },
        ];
        let mut init = vec![0.0; 6];
        init[3] = 1.0;
        init[5] = 10.0;
        Program::new(code, init, Vec::new(), Vec::new()).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn lanes_agree_with_scalar_runs_through_splits_and_errors() {
        let p = program();
        let inputs = vec![vec![4.0, 2.0], vec![1.0, 2.0], vec![3.0, 0.0], vec![9.0, 3.0]];
        let mut h = TestHost { inputs: inputs.clone(), strings: Vec::new() };
        let mut regs = Regs::<4>::new();
        let mut spill = Regs::<1>::new();
        let mut out: [Result<u16, VmError>; 4] = std::array::from_fn(|_| Ok(0));
        run_lanes(&p, &mut h, &mut regs, &mut spill, &mut out);
        for (l, inp) in inputs.iter().enumerate() {
            let mut one = TestHost { inputs: vec![inp.clone()], strings: Vec::new() };
            let mut r = Regs::<1>::new();
            let want = run(&p, &mut one, &mut r, None);
            assert_eq!(out[l], want, "lane {l}");
            if want.is_ok() {
                assert_eq!(regs.lane(4, l), r.at(4), "lane {l}");
            }
        }
        assert_eq!(out[2], Err(VmError::DivZero));
        assert_eq!(regs.lane(4, 0), 20.0);
        assert_eq!(regs.lane(4, 1), 0.5);
    }

    #[test]
    fn uniform_lanes_stay_together() {
        let p = program();
        let mut h = TestHost { inputs: vec![vec![4.0, 2.0], vec![6.0, 2.0]], strings: Vec::new() };
        let mut regs = Regs::<2>::new();
        let mut spill = Regs::<1>::new();
        let mut out = [Ok(0), Ok(0)];
        run_lanes(&p, &mut h, &mut regs, &mut spill, &mut out);
        assert_eq!(out, [Ok(7), Ok(7)]);
        assert_eq!(regs.get(4), [20.0, 30.0]);
    }

    #[test]
    fn strings_through_the_host() {
        let code = vec![
            Ins::Concat { d: 2, a: 0, b: 1 },
            Ins::Lower { d: 3, a: 2 },
            Ins::StrEq { d: 4, a: 3, b: 5, ne: false },
            Ins::Repr { d: 6, a: 7, whole: false },
        ];
        let mut init = vec![0.0; 8];
        init[0] = 0.0;
        init[1] = 1.0;
        init[5] = 2.0;
        init[7] = 0.5;
        let p = Program::new(code, init, Vec::new(), Vec::new()).unwrap_or_else(|e| panic!("{e}"));
        let mut h = TestHost { inputs: vec![], strings: vec!["Ab".into(), "C".into(), "abc".into()] };
        let mut r = Regs::<1>::new();
        assert_eq!(run(&p, &mut h, &mut r, None), Ok(END));
        assert_eq!(r.at(4), 1.0);
        assert_eq!(h.text(0, r.at(6)), "0.5");
    }
}

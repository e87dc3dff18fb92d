//! Taint: which registers of a program a change of some of its inputs can reach. Incremental
//! what-if sweeps re-run only the programs (and keep only the results) that a swept slider
//! can change.

use super::code::{Ins, Program};

/// The registers a change can reach, and whether the program's exits may change.
#[derive(Debug, Clone, PartialEq)]
pub struct Taint {
    /// Per register.
    pub regs: Vec<bool>,
    /// An `Exit`/`ExitIfNot` may be taken differently.
    pub exits: bool,
}

impl Taint {
    /// Whether register `r` may change.
    pub fn reg(&self, r: u16) -> bool {
        self.regs.get(r as usize).copied().unwrap_or(true)
    }
}

/// Forward taint through `p`: an instruction for which `source` holds (a host read of
/// something that changed) or that reads a tainted register taints what it writes. Jumps only
/// go forward, so one pass suffices; after a branch on a tainted value every later write is
/// tainted (which branch ran may differ).
pub fn taint(p: &Program, source: impl Fn(&Ins) -> bool) -> Taint {
    let mut t = vec![false; p.registers()];
    let mut ctl = false;
    let mut exits = false;
    for ins in p.code() {
        let mut v = source(ins);
        ins.for_each_read(|r| v |= t.get(r as usize).copied().unwrap_or(true));
        match ins {
            Ins::Jmp { .. } | Ins::Trace { .. } | Ins::Note { .. } => {}
            Ins::Jz { .. } | Ins::JmpUnless { .. } => ctl |= v,
            Ins::Exit { .. } => exits |= ctl,
            Ins::ExitIfNot { .. } => {
                exits |= v || ctl;
                ctl |= v;
            }
            _ => {
                let (d, n) = ins.writes();
                for r in d..d + n {
                    if let Some(x) = t.get_mut(r as usize) {
                        *x |= v || ctl;
                    }
                }
            }
        }
    }
    Taint { regs: t, exits }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::code::{Cmp, Ty};

    #[test]
    fn taint_flows_through_data_and_control() {
        // r0 = in0; r1 = in1; r2 = r1 * r1; if r0 < r3 { r4 = r1 } else { r4 = r2 }; r5 = r1 + r1
        let code = vec![
            Ins::Load { d: 0, ty: Ty::Num, k: 0 },
            Ins::Load { d: 1, ty: Ty::Num, k: 1 },
            Ins::Mul { d: 2, a: 1, b: 1 },
            Ins::JmpUnless { op: Cmp::Lt, a: 0, b: 3, to: 6 },
            Ins::Mov { d: 4, a: 1 },
            Ins::Jmp { to: 7 },
            Ins::Mov { d: 4, a: 2 },
            Ins::Add { d: 5, a: 1, b: 1 },
        ];
        let p = Program::new(code, vec![0.0; 6], Vec::new(), Vec::new()).unwrap_or_else(|e| panic!("{e}"));
        let only_in1 = taint(&p, |i| matches!(i, Ins::Load { k: 1, .. }));
        assert_eq!(only_in1.regs, vec![false, true, true, false, true, true]);
        assert!(!only_in1.exits);
        let only_in0 = taint(&p, |i| matches!(i, Ins::Load { k: 0, .. }));
        // the branch on r0 taints every later write
        assert_eq!(only_in0.regs, vec![true, false, false, false, true, true]);
    }
}

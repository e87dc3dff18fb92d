//! The expression core, shared by both formula dialects — the rule sets' projection formulas
//! (`crate::rules`) and the packs' sizing formulas (`crate::sizing`):
//!
//! - [`syntax`]: evalexpr parses the text once; the tree becomes an AST that keeps the source
//!   offset of every name (for `file:line:col`).
//! - [`lower`]: one walk from the AST to a register program — typing, constant folding with
//!   the run-time semantics, lazy `if`/`&&`/`||`, named formulas computed once, an opt-in
//!   trace — with a [`Dialect`](lower::Dialect) resolving names and registering functions.
//! - [`code`]: the bytecode, its verifier, dead-code pruning and peephole fusion.
//! - [`vm`]: evaluation over a [`Host`](vm::Host), one input at a time or a block of lanes.
//! - [`taint`]: which results a change of inputs can reach (incremental what-if sweeps).

pub mod code;
pub mod lower;
pub mod syntax;
pub mod taint;
pub mod vm;

pub use code::{Cmp, Ins, Op1, Op2, Program, Reg, Ty, VmError};
pub use lower::{CompileError, Dialect, Lower, V};
pub use syntax::{BinOp, Expr, ParseError, UnOp, parse, parse_signature, render};
pub use vm::{Host, Regs, Trace, TraceValue};

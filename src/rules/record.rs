//! Record programs: an engine step (`memory_upgrade`, `anchor_overlay`, …) or an operation
//! compiled from its declared inputs, checks and outputs, through the rules dialect.

use super::compile::{CompileError, Compiled, Outcome, R, at_src, compile_checks, finish, new_cx, outcome, var};
use super::host::Tables;
use super::inputs::{Namespaces, Ty};
use super::model::RuleSet;
use crate::diagnostic::closest;

/// A record program: its namespaces, declared inputs and required outputs.
pub struct RecordSpec<'r> {
    /// The entry or operation.
    pub def: &'r super::model::RecordDef,
    /// Namespaces besides the declared inputs.
    pub ns: Namespaces,
    /// Declared inputs: (name, type, optional).
    pub fields: Vec<(String, Ty, bool)>,
    /// Outputs to compile, each defined: (name, type); `None` type accepts any (operations).
    pub outputs: Vec<(String, Option<Ty>)>,
    /// Names the definition may also write (a result step's record fields), for the message
    /// on an unknown output.
    pub also_allowed: Vec<String>,
}

/// Compiles a record entry or operation.
pub fn compile_record(rs: &RuleSet, tables: &Tables, spec: &RecordSpec<'_>) -> Result<Compiled, Vec<CompileError>> {
    let mut cx = new_cx(rs, tables, spec.ns, false, None, spec.fields.clone());
    let def = spec.def;
    let mut errors = Vec::new();
    for (name, _) in &spec.outputs {
        if !def.outputs.contains_key(name) {
            errors.push(CompileError {
                message: format!("`{}` has no output `{name}`", def.name),
                help: None,
                site: def.src.clone(),
                at: 0,
            });
        }
    }
    for (name, f) in &def.outputs {
        if !spec.outputs.iter().any(|(n, _)| n == name) {
            let known: Vec<&str> =
                spec.outputs.iter().map(|o| o.0.as_str()).chain(spec.also_allowed.iter().map(String::as_str)).collect();
            errors.push(CompileError {
                message: format!("unknown output `{name}` of `{}`", def.name),
                help: closest(name, known.iter().copied())
                    .map(|c| format!("did you mean `{c}`?"))
                    .or_else(|| Some(format!("outputs: {}", known.join(", ")))),
                site: f.src.clone(),
                at: 0,
            });
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    cx.d.frames.push((&def.lets, "entry".into()));
    cx.d.frames.push((&def.outputs, "out".into()));
    let r = (|| -> R<()> {
        if compile_checks(&mut cx, &def.checks)? {
            return Ok(());
        }
        let mut slots = Vec::new();
        for (name, want) in &spec.outputs {
            let f = def.outputs.get(name).map(|f| &f.src).unwrap_or(&def.src);
            let v = at_src(&mut cx, f, |cx| var(cx, name, 0))?;
            let ty = v.ty();
            if let Some(w) = want {
                if *w != ty {
                    return Err(CompileError {
                        message: format!("output `{name}` must be a {}, found a {}", w.name(), ty.name()),
                        help: None,
                        site: f.clone(),
                        at: 0,
                    });
                }
            }
            let slot = match (ty, def.rounding.get(name)) {
                (Ty::Num, Some(n)) => {
                    let v = cx.round(v, (*n).min(15) as u8)?;
                    cx.materialise(v)?
                }
                _ => cx.materialise(v)?,
            };
            slots.push((ty, slot));
        }
        outcome(&mut cx, Outcome::Record(slots));
        Ok(())
    })();
    if let Err(e) = r {
        return Err(vec![e]);
    }
    finish(cx, rs, Vec::new(), Vec::new())
}

//! A projected result as the input of an engine step (`result.*`): read field by field, by
//! the names of the rule set's declared record, from a projection or from the JSON a surface
//! holds.

use crate::error::EngineError;
use crate::projection::Projected;
use crate::rules::entries::EntryRecord;
use crate::rules::inputs::{RecVal, Ty};
use serde_json::Value;

/// A result a step reads by field name.
#[derive(Debug, Clone, Copy)]
pub enum ResultIn<'r> {
    /// A projection of this engine.
    Projected(&'r Projected<'r>),
    /// A result handed over as JSON (`overlay_llm_anchor`, `apply_workload_pattern`).
    Json(&'r Value),
}

impl<'r> ResultIn<'r> {
    /// Sets every `result.*` input of the step from the result, by name. A required field
    /// the result lacks, or a field of the wrong kind, is an error naming it.
    pub(crate) fn fill(self, rec: &mut EntryRecord<'r>) -> Result<(), EngineError> {
        let layout = rec.layout();
        for (i, (name, ty, optional)) in layout.fields.iter().enumerate() {
            let Some(f) = name.strip_prefix("result.") else { continue };
            let v = match self {
                ResultIn::Projected(p) => p.field(f),
                ResultIn::Json(v) => json_field(v, f, *ty)?,
            };
            match v {
                Some(v) => {
                    rec.set_at(i, v);
                }
                None if *optional => {}
                None => return Err(needs(f, *ty)),
            }
        }
        Ok(())
    }
}

fn needs(field: &str, ty: Ty) -> EngineError {
    EngineError::BadRequest(format!("`result` needs a {} `{field}` (a `Projected` result)", ty.name()))
}

/// The field `f` of a JSON result as a step input: absent or null is `None`; a value of
/// another kind than the record declares is an error.
fn json_field<'v>(v: &'v Value, f: &str, ty: Ty) -> Result<Option<RecVal<'v>>, EngineError> {
    Ok(match (v.get(f), ty) {
        (None | Some(Value::Null), _) => None,
        (Some(Value::Number(n)), Ty::Num) => Some(RecVal::Num(n.as_f64().ok_or_else(|| needs(f, ty))?)),
        (Some(Value::Bool(b)), Ty::Bool) => Some(RecVal::Num(f64::from(u8::from(*b)))),
        (Some(Value::String(s)), Ty::Str) => Some(RecVal::Str(s)),
        _ => return Err(needs(f, ty)),
    })
}

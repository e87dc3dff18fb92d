//! A rule-set step's outputs, read by the names its layout declares
//! (`crate::rules::entries`), so no caller knows their order.

use crate::error::EngineError;
use crate::projection::{OutVal, ResultChanges};
use crate::rules::entries::EntryLayout;
use std::sync::Arc;

/// The outputs of one engine step.
#[derive(Debug, Clone)]
pub struct EntryOut {
    pub(super) layout: Arc<EntryLayout>,
    pub(super) vals: Vec<OutVal<'static>>,
}

impl EntryOut {
    /// The output `name`; an error names the step and, when close, the output meant.
    pub fn get(&self, name: &str) -> Result<&OutVal<'static>, EngineError> {
        let i = self.layout.outputs.iter().position(|(o, _, _)| o == name);
        i.and_then(|i| self.vals.get(i)).ok_or_else(|| {
            let help = crate::diagnostic::did_you_mean(name, self.layout.outputs.iter().map(|(o, _, _)| o.as_str()))
                .map(|h| format!(" ({h})"))
                .unwrap_or_default();
            EngineError::UnknownKey(format!("engine step `{}` has no output `{name}`{help}", self.layout.sig.name))
        })
    }

    /// The number `name`.
    pub fn num(&self, name: &str) -> Result<f64, EngineError> {
        self.get(name).map(OutVal::num)
    }

    /// The number `name`, which must be finite; `what` says whose number it is.
    pub fn finite(&self, name: &str, what: impl FnOnce() -> String) -> Result<f64, EngineError> {
        let x = self.num(name)?;
        if x.is_finite() {
            Ok(x)
        } else {
            Err(EngineError::NonFinite(format!("{} gave `{name}` = {x}, which is not finite", what())))
        }
    }

    /// The boolean `name`.
    pub fn bool(&self, name: &str) -> Result<bool, EngineError> {
        self.get(name).map(OutVal::bool)
    }

    /// The string `name`.
    pub fn str(&self, name: &str) -> Result<&str, EngineError> {
        self.get(name).map(OutVal::str)
    }

    /// The outputs that are fields of the result record, by name, in the layout's order:
    /// what the step changes in the result it read. Every number must be finite; `what`
    /// says whose numbers they are.
    pub fn result_changes(&self, what: impl Fn() -> String) -> Result<ResultChanges, EngineError> {
        let mut out = Vec::new();
        for ((name, _, of_result), v) in self.layout.outputs.iter().zip(&self.vals) {
            if !of_result {
                continue;
            }
            if let OutVal::Num(x) = v {
                if !x.is_finite() {
                    return Err(EngineError::NonFinite(format!("{} gave `{name}` = {x}, which is not finite", what())));
                }
            }
            out.push((name.clone(), v.clone()));
        }
        Ok(ResultChanges(out))
    }
}

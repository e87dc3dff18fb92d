//! The rule-set file format lives in the data layer (`crate::formats::rules`); re-exported
//! here under its old path.

pub use crate::formats::rules::*;

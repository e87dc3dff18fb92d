//! The pack file formats (sizing, sliders, profiles, workloads, ladder) live in the data layer
//! (`crate::formats::sizing`); re-exported here under their old path.

pub use crate::formats::sizing::*;

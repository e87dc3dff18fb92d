//! The registry's own file formats (manifest, memory options, badges, anchor routes,
//! silicon-class defaults) live in the data layer's `crate::formats::registry`; re-exported
//! here under their old path.

pub use crate::formats::registry::*;

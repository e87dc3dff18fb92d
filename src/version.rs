//! The engine's version, named by results' provenance, pack manifests' version ranges and
//! file metadata; a foundation item so no module reads it upward from the crate root.

/// This engine's version (the crate's).
pub const ENGINE_VERSION: &str = env!("CARGO_PKG_VERSION");

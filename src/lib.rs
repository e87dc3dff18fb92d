//! ratchet — a declarative, data-driven SoC sizing engine.
//!
//! ratchet answers how fast an LLM runs on a silicon tier (decode and prefill rates, time to
//! first token, totals), whether it fits in memory, whether the silicon can execute its dtype
//! at all, and where every number comes from. Tiers, tables and catalogs are data
//! (`registry/`); formulas and the projection cascade are data too (`rules/`). The Rust code
//! is the loader, the validator, a small formula interpreter and the I/O around them.

#![warn(missing_docs)]

pub mod anchors;
pub mod batch;
pub mod calibration;
pub mod catalog;
pub mod cli;
pub mod diagnostic;
pub mod diff;
pub mod document;
pub mod embedded;
pub mod engine;
pub mod error;
pub mod expr;
pub mod formats;
pub mod ingest;
pub mod ladder;
pub mod limits;
pub mod measurement;
pub mod model_import;
pub mod numeric;
pub mod pack;
pub mod perception;
pub mod plan;
pub mod precision;
pub mod probes;
pub mod projection;
pub mod registry;
pub mod reload;
pub mod rules;
pub mod schema;
pub mod serve;
pub mod sizing;
pub mod tier;
pub mod version;
pub mod web;
pub mod whatif;
pub mod wire;
pub mod workload;

pub use catalog::{Catalog, LlmModel};
pub use diagnostic::{Diagnostic, Report, Severity};
pub use engine::{Engine, EngineConfig};
pub use error::EngineError;
pub use projection::{ProjectParams, Projection};
pub use registry::{LoadOutcome, Registry};
pub use tier::{Tier, TierSpec};

pub use version::ENGINE_VERSION;

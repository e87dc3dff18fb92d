//! File formats of the data layer that belong to the upper layers' concepts: rule sets,
//! pack manifests, the sizing files of packs and workload patterns. Only types and their
//! serde/schema derives live here, so the schema registry and the readers can name them
//! without depending on the compilers and the engine (docs/architecture.md).

pub mod architectures;
pub mod pack;
pub mod registry;
pub mod rules;
pub mod sizing;
pub mod workload;

//! The shipped `registry/`, `rules/` and `packs/` trees, compiled into the binary so that
//! `ratchet` answers from any folder.

use crate::registry::loader::EmbeddedLoader;

mod files {
    include!(concat!(env!("OUT_DIR"), "/embedded.rs"));
}

/// The embedded canonical registry.
pub fn registry() -> EmbeddedLoader {
    EmbeddedLoader::new("registry", files::REGISTRY, "")
}

/// The embedded rule sets.
pub fn rules() -> EmbeddedLoader {
    EmbeddedLoader::new("rules", files::RULES, "")
}

/// The embedded example packs (each under its own directory).
pub fn packs() -> EmbeddedLoader {
    EmbeddedLoader::new("packs", files::PACKS, "")
}

/// An embedded pack by directory name.
pub fn pack(name: &'static str) -> Option<EmbeddedLoader> {
    let prefix = format!("{name}/");
    files::PACKS.iter().any(|(p, _)| p.starts_with(&prefix)).then(|| EmbeddedLoader::under("packs", files::PACKS, name))
}

/// The raw embedded pack files (`<pack>/<path>`).
pub fn pack_files() -> &'static [(&'static str, &'static [u8])] {
    files::PACKS
}

impl crate::registry::Registry {
    /// Loads the registry embedded in the binary.
    pub fn embedded() -> crate::registry::LoadOutcome {
        crate::registry::load(&registry())
    }
}

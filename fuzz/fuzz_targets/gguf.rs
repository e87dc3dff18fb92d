//! GGUF headers: any bytes through the reader and the importer over the embedded registry;
//! an answer or an error, never a panic, a hang or an allocation the input asks for.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn registry() -> &'static ratchet::registry::Registry {
    static R: OnceLock<ratchet::registry::Registry> = OnceLock::new();
    R.get_or_init(|| ratchet::registry::Registry::embedded().registry.unwrap_or_else(|| panic!("embedded registry")))
}

fuzz_target!(|data: &[u8]| {
    let _ = ratchet::model_import::gguf::read_header(data);
    let _ = ratchet::model_import::import_gguf(registry(), "fuzz.gguf", data, &Default::default());
});

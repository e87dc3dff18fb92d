//! The `ratchet` binary: see `ratchet --help`.

fn main() {
    std::process::exit(ratchet::cli::main());
}

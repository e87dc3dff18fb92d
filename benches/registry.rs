//! Loading and validating the shipped registry (all three layers), embedded and from disk.

use criterion::{Criterion, criterion_group, criterion_main};
use ratchet::registry::{self, loader::DirLoader};
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    let embedded = ratchet::embedded::registry();
    c.bench_function("validate_registry_embedded", |b| {
        b.iter(|| {
            let out = registry::load(black_box(&embedded));
            assert!(out.registry.is_some());
        })
    });
    let dir = DirLoader::new(concat!(env!("CARGO_MANIFEST_DIR"), "/registry"));
    c.bench_function("validate_registry_from_disk", |b| {
        b.iter(|| {
            let out = registry::load(black_box(&dir));
            assert!(out.registry.is_some());
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);

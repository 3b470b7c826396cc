//! `cargo bench -p lora-core --bench names`
//!
//! The name rules every upload and every path in a request goes through: client file
//! names made safe (plain, hostile, long), versioned names, partial paths and the
//! entity form field.
#![allow(clippy::unwrap_used)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use lora_core::{EntityType, PartialPath, SafeFileName, UploadRoute};

fn names(c: &mut Criterion) {
    let mut group = c.benchmark_group("names");
    group.bench_function("from_client/plain", |b| {
        b.iter(|| SafeFileName::from_client(black_box("Sh0ot1f1_01.safetensors")).unwrap())
    });
    group.bench_function("from_client/hostile", |b| {
        b.iter(|| SafeFileName::from_client(black_box("../../etc/..\\COM1:<my>|lora?.SafeTensors")))
    });
    let long = format!("{}.safetensors", "ä".repeat(200));
    group.bench_function("from_client/long_unicode", |b| {
        b.iter(|| SafeFileName::from_client(black_box(&long)))
    });
    let name = SafeFileName::from_client("my_lora.safetensors").unwrap();
    group.bench_function("version/v2000", |b| {
        b.iter(|| black_box(&name).version(black_box(2000)))
    });
    group.bench_function("partial_path/parse", |b| {
        b.iter(|| PartialPath::parse(black_box("identities/Sh0ot1f1_01.safetensors")).unwrap())
    });
    group.bench_function("partial_path/refuse_traversal", |b| {
        b.iter(|| PartialPath::parse(black_box("identities/../../etc/passwd")).unwrap_err())
    });
    group.bench_function("entity_type/parse_form", |b| {
        b.iter(|| EntityType::parse_form(black_box(Some("identities")), UploadRoute::Admin))
    });
    group.finish();
}

criterion_group!(benches, names);
criterion_main!(benches);

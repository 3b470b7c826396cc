//! `cargo bench -p lora-inspect --features fixtures --bench gate`
//!
//! The upload gate's pure parts, on inputs in memory: the safetensors header of a
//! ~216 MiB SDXL kohya LoRA (2,000+ tensors) parsed and checked rule by rule, its
//! structure (base model, network type, ranks) read from names and shapes, and the
//! pickle walker on a 2,000-tensor state dict, a hostile pickle and a torch zip.
#![allow(clippy::unwrap_used)]

use std::hint::black_box;
use std::io::Cursor;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use lora_inspect::fixtures::{os_system_pickle, sdxl_lora, state_dict_pickle, torch_zip};
use lora_inspect::safetensors::Header;
use lora_inspect::{Structure, pickle, torch};

fn safetensors_header(c: &mut Criterion) {
    let file = sdxl_lora(216, 32);
    let file_len = file.len() as u64;
    let header_len = 8 + u64::from_le_bytes(file[..8].try_into().unwrap()) as usize;
    let head = file[..header_len].to_vec();
    drop(file);

    let mut group = c.benchmark_group("safetensors");
    group.throughput(Throughput::Bytes(head.len() as u64));
    group.bench_function("header/sdxl_216mib", |b| {
        b.iter(|| Header::parse(black_box(&head), file_len).unwrap())
    });
    let header = Header::parse(&head, file_len).unwrap();
    group.bench_function("structure/sdxl_216mib", |b| {
        b.iter(|| {
            Structure::analyze(
                header
                    .tensors
                    .iter()
                    .map(|t| (t.name.as_str(), t.shape.as_slice())),
                black_box(&header.metadata),
            )
        })
    });
    // Header-only classification (family, kind, network type) of a 3,000-tensor file:
    // a Flux kohya LoRA of 1,000 modules over all 19 double and 38 single blocks.
    let flux = flux_header(1000);
    group.bench_function("structure/flux_3000_tensors", |b| {
        b.iter(|| {
            Structure::analyze(
                flux.iter().map(|(n, s)| (n.as_str(), s.as_slice())),
                black_box(&header.metadata),
            )
        })
    });
    let mut broken = head.clone();
    // The last tensor's end offset now points past the data section.
    let at = broken.len() - 3;
    broken[at] = b'9';
    group.bench_function("header/refused", |b| {
        b.iter(|| Header::parse(black_box(&broken), file_len).unwrap_err())
    });
    group.finish();
}

/// `(name, shape)` of a kohya Flux LoRA with `modules` modules (3 tensors each).
fn flux_header(modules: usize) -> Vec<(String, Vec<u64>)> {
    const DOUBLE: [&str; 10] = [
        "img_attn_qkv",
        "img_attn_proj",
        "img_mlp_0",
        "img_mlp_2",
        "img_mod_lin",
        "txt_attn_qkv",
        "txt_attn_proj",
        "txt_mlp_0",
        "txt_mlp_2",
        "txt_mod_lin",
    ];
    const SINGLE: [&str; 3] = ["linear1", "linear2", "modulation_lin"];
    let mut out = Vec::new();
    for i in 0..modules {
        let module = if i % 2 == 0 {
            format!("lora_unet_double_blocks_{}_{}", i / 2 % 19, DOUBLE[i % 10])
        } else {
            format!(
                "lora_unet_single_blocks_{}_{}_{i}",
                i / 2 % 38,
                SINGLE[i % 3]
            )
        };
        out.push((format!("{module}.lora_down.weight"), vec![16, 3072]));
        out.push((format!("{module}.lora_up.weight"), vec![3072, 16]));
        out.push((format!("{module}.alpha"), vec![]));
    }
    out
}

fn pickles(c: &mut Criterion) {
    let names: Vec<String> = (0..2000)
        .map(|i| format!("lora_unet_block_{i}.lora_down.weight"))
        .collect();
    let tensors: Vec<(&str, &[u64])> = names
        .iter()
        .map(|n| (n.as_str(), &[32u64, 1280][..]))
        .collect();
    let state_dict = state_dict_pickle(&tensors);
    let hostile = os_system_pickle("id");
    let zip = torch_zip(&state_dict_pickle(&tensors[..100]), &[32 * 1280; 100], &[]);

    let mut group = c.benchmark_group("pickle");
    group.throughput(Throughput::Bytes(state_dict.len() as u64));
    group.bench_function("state_dict/2000_tensors", |b| {
        b.iter(|| pickle::scan(black_box(&state_dict)).unwrap())
    });
    group.throughput(Throughput::Bytes(hostile.len() as u64));
    group.bench_function("hostile/os_system", |b| {
        b.iter(|| {
            let scan = pickle::scan(black_box(&hostile)).unwrap();
            assert!(!scan.refused().is_empty());
        })
    });
    // The archive's storages are never read, so bytes per second would flatter it.
    group.throughput(Throughput::Elements(100));
    group.bench_function("torch_zip/100_tensors", |b| {
        b.iter(|| torch::scan_zip(Cursor::new(black_box(&zip))).unwrap())
    });
    group.finish();
}

criterion_group!(benches, safetensors_header, pickles);
criterion_main!(benches);

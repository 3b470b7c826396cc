//! Builders for synthetic LoRA files, for tests and benchmarks (feature `fixtures`).
//!
//! Nothing here reads a real model: every file is made from scratch, so tests need no
//! downloads and can make each corrupt or hostile variant exactly.

use std::io::{Cursor, Write};

use half::f16;

use crate::safetensors::build;

/// f16 little-endian bytes of `n` small deterministic values (|v| ≤ 0.05).
pub fn f16_bytes(n: usize, seed: u32) -> Vec<u8> {
    let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    let mut out = Vec::with_capacity(n * 2);
    for _ in 0..n {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let v = (state % 2001) as f32 / 2000.0 * 0.1 - 0.05;
        out.extend_from_slice(&f16::from_f32(v).to_le_bytes());
    }
    out
}

/// A kohya-style LoRA: for each module name, `lora_down` (rank × in), `lora_up`
/// (out × rank) in f16 and an f16 `alpha`; widths given per module.
pub fn kohya_lora(
    modules: &[(&str, u64, u64)],
    rank: u64,
    alpha: f32,
    metadata: &[(&str, &str)],
) -> Vec<u8> {
    let mut owned: Vec<(String, &str, Vec<u64>, Vec<u8>)> = Vec::new();
    for (i, (name, input, output)) in modules.iter().enumerate() {
        let seed = i as u32 * 3;
        owned.push((
            format!("{name}.lora_down.weight"),
            "F16",
            vec![rank, *input],
            f16_bytes((rank * input) as usize, seed),
        ));
        owned.push((
            format!("{name}.lora_up.weight"),
            "F16",
            vec![*output, rank],
            f16_bytes((output * rank) as usize, seed + 1),
        ));
        owned.push((
            format!("{name}.alpha"),
            "F16",
            vec![],
            f16::from_f32(alpha).to_le_bytes().to_vec(),
        ));
    }
    let tensors: Vec<(&str, &str, &[u64], &[u8])> = owned
        .iter()
        .map(|(n, d, s, b)| (n.as_str(), *d, s.as_slice(), b.as_slice()))
        .collect();
    build(&tensors, metadata)
}

/// An SDXL kohya LoRA of roughly `target_mb` MiB in f16: UNet attention modules with LDM
/// names and both text encoders, `rank` 32 by default in benchmarks.
pub fn sdxl_lora(target_mb: usize, rank: u64) -> Vec<u8> {
    let mut modules: Vec<(String, u64, u64)> = Vec::new();
    let per_block = [
        (640u64, 640u64),
        (640, 640),
        (2048, 640),
        (2048, 640),
        (640, 640),
        (640, 5120),
        (2560, 640),
    ];
    let mut bytes = 0usize;
    let mut block = 0;
    while bytes < target_mb << 20 {
        for (j, (input, output)) in per_block.iter().enumerate() {
            let input = if block % 2 == 0 { *input } else { input * 2 };
            let output = if block % 2 == 0 { *output } else { output * 2 };
            modules.push((
                format!("lora_unet_input_blocks_{block}_1_transformer_blocks_0_m{j}"),
                input,
                output,
            ));
            bytes += ((input + output) * rank * 2) as usize;
        }
        block += 1;
    }
    for te in ["lora_te1", "lora_te2"] {
        let width = if te == "lora_te1" { 768 } else { 1280 };
        modules.push((
            format!("{te}_text_model_encoder_layers_0_mlp_fc1"),
            width,
            width * 4,
        ));
    }
    let refs: Vec<(&str, u64, u64)> = modules
        .iter()
        .map(|(n, i, o)| (n.as_str(), *i, *o))
        .collect();
    kohya_lora(
        &refs,
        rank,
        rank as f32 / 2.0,
        &[
            ("ss_base_model_version", "sdxl_base_v1-0"),
            ("ss_network_dim", &rank.to_string()),
        ],
    )
}

/// Pickle opcodes, for writing pickles by hand.
#[derive(Debug, Default)]
pub struct PickleWriter {
    /// The bytes so far.
    pub bytes: Vec<u8>,
}

impl PickleWriter {
    /// Starts a protocol-2 pickle.
    pub fn new() -> Self {
        Self {
            bytes: vec![0x80, 2],
        }
    }
    /// Raw opcode bytes.
    pub fn raw(&mut self, b: &[u8]) -> &mut Self {
        self.bytes.extend_from_slice(b);
        self
    }
    /// `GLOBAL module name`.
    pub fn global(&mut self, module: &str, name: &str) -> &mut Self {
        self.raw(format!("c{module}\n{name}\n").as_bytes())
    }
    /// `BINUNICODE s`.
    pub fn string(&mut self, s: &str) -> &mut Self {
        self.raw(b"X")
            .raw(&(s.len() as u32).to_le_bytes())
            .raw(s.as_bytes())
    }
    /// `BININT n`.
    pub fn int(&mut self, n: i32) -> &mut Self {
        self.raw(b"J").raw(&n.to_le_bytes())
    }
    /// `MARK`.
    pub fn mark(&mut self) -> &mut Self {
        self.raw(b"(")
    }
    /// `TUPLE` (to the mark).
    pub fn tuple(&mut self) -> &mut Self {
        self.raw(b"t")
    }
    /// `REDUCE`.
    pub fn reduce(&mut self) -> &mut Self {
        self.raw(b"R")
    }
    /// `STOP`, returning the pickle.
    pub fn stop(&mut self) -> Vec<u8> {
        self.raw(b".");
        std::mem::take(&mut self.bytes)
    }
}

/// The classic hostile pickle: `os.system(command)` called through `REDUCE` when loaded.
pub fn os_system_pickle(command: &str) -> Vec<u8> {
    PickleWriter::new()
        .global("os", "system")
        .mark()
        .string(command)
        .tuple()
        .reduce()
        .stop()
}

/// A torch-style state dict pickle: `OrderedDict` of `_rebuild_tensor_v2` calls on
/// `HalfStorage` storages keyed `"0"`, `"1"`, …
pub fn state_dict_pickle(tensors: &[(&str, &[u64])]) -> Vec<u8> {
    let mut w = PickleWriter::new();
    w.global("collections", "OrderedDict")
        .raw(b")")
        .reduce()
        .mark();
    for (i, (name, shape)) in tensors.iter().enumerate() {
        let numel: u64 = shape.iter().fold(1, |n: u64, &d| n.saturating_mul(d));
        w.string(name)
            .global("torch._utils", "_rebuild_tensor_v2")
            .mark();
        w.mark()
            .string("storage")
            .global("torch", "HalfStorage")
            .string(&i.to_string())
            .string("cpu")
            .int(numel as i32)
            .tuple()
            .raw(b"Q");
        w.int(0).mark();
        for d in *shape {
            w.int(*d as i32);
        }
        w.tuple().mark();
        let mut stride = 1u64;
        let mut strides = Vec::new();
        for d in shape.iter().rev() {
            strides.push(stride);
            stride = stride.saturating_mul(*d);
        }
        for s in strides.iter().rev() {
            w.int(*s as i32);
        }
        w.tuple().raw(b"\x89");
        w.global("collections", "OrderedDict").raw(b")").reduce();
        w.tuple().reduce();
    }
    w.raw(b"u").stop()
}

/// A `torch.save`-style zip: `archive/data.pkl`, `archive/data/N` storages (f16 zeros),
/// `archive/version`; `extra` members are added as given.
pub fn torch_zip(pickle: &[u8], storages: &[u64], extra: &[(&str, &[u8])]) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    let mut add = |name: &str, bytes: &[u8]| -> zip::result::ZipResult<()> {
        zip.start_file(name, options)?;
        zip.write_all(bytes)?;
        Ok(())
    };
    let _ = add("archive/data.pkl", pickle);
    for (i, numel) in storages.iter().enumerate() {
        let _ = add(
            &format!("archive/data/{i}"),
            &vec![0u8; *numel as usize * 2],
        );
    }
    let _ = add("archive/version", b"3\n");
    for (name, bytes) in extra {
        let _ = add(name, bytes);
    }
    zip.finish().map(Cursor::into_inner).unwrap_or_default()
}

//! `cargo bench -p lora-inspect --features fixtures --bench inspect`
//!
//! Generates its inputs (a ~218 MiB fp16 SDXL kohya LoRA, rank 32, both text encoders;
//! a 500 MiB safetensors file) in a temporary folder and prints medians of the work done
//! on files: header-only validation, the weight scan alone, and a full evaluation (with
//! hashes), plus the process's peak RSS growth. The pure functions (header parsing,
//! structure, pickle scan) have criterion benches in `gate.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs::File;
use std::time::{Duration, Instant};

use lora_core::Extension;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn time(runs: usize, mut f: impl FnMut()) -> Duration {
    f(); // warm the page cache and the code
    median(
        (0..runs)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed()
            })
            .collect(),
    )
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn main() {
    // Child mode: measure memory in a fresh process that never built the fixtures.
    if let Some(path) = std::env::var_os("LORA_BENCH_RSS_OF") {
        let before = peak_rss_kib();
        let r = lora_inspect::evaluate(std::path::Path::new(&path)).unwrap();
        assert_eq!(r.rank, Some(32));
        println!("{before} {}", peak_rss_kib());
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let sdxl = dir.path().join("sdxl.safetensors");
    std::fs::write(&sdxl, lora_inspect::fixtures::sdxl_lora(216, 32)).unwrap();
    let sdxl_len = std::fs::metadata(&sdxl).unwrap().len();

    let big = dir.path().join("big.safetensors");
    {
        use std::io::Write;
        let data_len: u64 = 500 << 20;
        let header = format!(
            r#"{{"w":{{"dtype":"U8","shape":[{data_len}],"data_offsets":[0,{data_len}]}}}}"#
        );
        let mut f = File::create(&big).unwrap();
        f.write_all(&(header.len() as u64).to_le_bytes()).unwrap();
        f.write_all(header.as_bytes()).unwrap();
        f.set_len(8 + header.len() as u64 + data_len).unwrap();
    }

    let header_only = time(50, || {
        lora_inspect::validate(&big, Extension::Safetensors).unwrap();
    });
    let weights = time(5, || {
        let (s, w, modules) = lora_inspect::scan_weights(&sdxl).unwrap();
        assert_eq!((s.dominant_rank(), w.nan_count), (Some(32), 0));
        assert!(!modules.is_empty());
    });
    let full = time(5, || {
        let r = lora_inspect::evaluate(&sdxl).unwrap();
        assert_eq!(r.rank, Some(32));
    });
    let child = std::process::Command::new(std::env::current_exe().unwrap())
        .env("LORA_BENCH_RSS_OF", &sdxl)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&child.stdout);
    let mut nums = text
        .split_whitespace()
        .filter_map(|n| n.parse::<u64>().ok());
    let (rss_before, rss_after) = (nums.next().unwrap_or(0), nums.next().unwrap_or(0));

    println!("| measurement | median |");
    println!("| --- | --- |");
    println!(
        "| header-only validation, 500 MiB safetensors | {:.3} ms |",
        header_only.as_secs_f64() * 1e3
    );
    println!(
        "| weight scan (NaN/Inf/max, alphas, strengths), {:.0} MiB SDXL LoRA | {:.1} ms |",
        sdxl_len as f64 / 1048576.0,
        weights.as_secs_f64() * 1e3
    );
    println!(
        "| full evaluation (scan + sha256 + tensor sha256), same file | {:.1} ms |",
        full.as_secs_f64() * 1e3
    );
    println!(
        "| peak RSS growth of a fresh process evaluating it (file not mapped) | {} KiB |",
        rss_after.saturating_sub(rss_before)
    );
}

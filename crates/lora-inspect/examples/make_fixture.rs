//! Writes a synthetic LoRA for benchmarks and manual tests.
//!
//! ```text
//! cargo run --release -p lora-inspect --features fixtures --example make_fixture -- sdxl 216 out.safetensors
//! cargo run --release -p lora-inspect --features fixtures --example make_fixture -- blob 262144 out.safetensors
//! ```
//! `sdxl MIB` makes an fp16 SDXL kohya LoRA of about MIB MiB (rank 32, both text encoders);
//! `blob BYTES` makes a valid safetensors file of exactly BYTES bytes (one U8 tensor).

use std::io::Write;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, kind, size, out] = args.as_slice() else {
        return Err("usage: make_fixture sdxl MIB OUT | blob BYTES OUT".into());
    };
    let size: usize = size.parse()?;
    let mut file = std::io::BufWriter::new(std::fs::File::create(out)?);
    match kind.as_str() {
        "sdxl" => file.write_all(&lora_inspect::fixtures::sdxl_lora(size, 32))?,
        "blob" => {
            const HEADER: usize = 128;
            let data = size
                .checked_sub(8 + HEADER)
                .ok_or("blob: at least 136 bytes")?;
            let mut json =
                format!(r#"{{"w":{{"dtype":"U8","shape":[{data}],"data_offsets":[0,{data}]}}}}"#);
            while json.len() < HEADER {
                json.push(' ');
            }
            file.write_all(&(HEADER as u64).to_le_bytes())?;
            file.write_all(json.as_bytes())?;
            let chunk: Vec<u8> = (0..1 << 20).map(|i| (i * 31 % 251) as u8).collect();
            let mut left = data;
            while left > 0 {
                let n = left.min(chunk.len());
                file.write_all(&chunk[..n])?;
                left -= n;
            }
        }
        other => return Err(format!("unknown kind {other}").into()),
    }
    file.flush()?;
    Ok(())
}

//! A minimal Rust client of the LoRA file service, using the crates' own types: the
//! request is built from `lora-core`'s rules and the answer parsed into `lora-http`'s
//! response type. Plain `std` networking keeps it dependency-free.
//!
//! ```text
//! cargo run -p lora-http --example client -- 127.0.0.1:8000 "$TOKEN" my_lora.safetensors styles
//! ```

use std::io::{Read, Write};
use std::net::TcpStream;

use lora_core::{EntityType, SafeFileName, UploadRoute};
use lora_http::{HttpError, LoRAUploadResponse};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, addr, token, path, entity] = args.as_slice() else {
        eprintln!("usage: client ADDR TOKEN FILE ENTITY_TYPE");
        std::process::exit(2);
    };
    // Check locally what the server would refuse anyway (same rules, same crate).
    let entity = EntityType::parse_form(Some(entity), UploadRoute::User)?;
    let name = SafeFileName::from_client(path)?;
    println!("will be stored as {entity}/{name} (or a _vN version of it)");

    let file = std::fs::read(path)?;
    let boundary = "lora-client-boundary";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"entity_type\"\r\n\r\n{entity}\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(&file);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());

    let mut stream = TcpStream::connect(addr)?;
    write!(
        stream,
        "POST /api/v1/lora/upload HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n",
        body.len()
    )?;
    stream.write_all(&body)?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer)?;
    let text = String::from_utf8_lossy(&answer);
    let (head, json) = text.split_once("\r\n\r\n").ok_or("no HTTP answer")?;
    if head.starts_with("HTTP/1.1 200") {
        let stored: LoRAUploadResponse = serde_json::from_str(json)?;
        println!(
            "stored {} ({} bytes, sha256 {})",
            stored.partial_path, stored.file_size, stored.sha256
        );
    } else {
        let error: HttpError = serde_json::from_str(json).unwrap_or(HttpError {
            detail: json.to_owned(),
        });
        println!(
            "refused: {} — {}",
            head.lines().next().unwrap_or_default(),
            error.detail
        );
    }
    Ok(())
}

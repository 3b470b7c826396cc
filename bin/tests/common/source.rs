//! A local stand-in for the places installs fetch from, started by the tests on loopback:
//! a Hugging Face-like `resolve` route (redirects to a "CDN" origin, sets
//! `X-Linked-Etag`), a Civitai-like download (needs `?token=` or a bearer token,
//! redirects to a signed URL answered with `Content-Disposition`) and model-version API,
//! and the CDN itself (ranges, `ETag`, and the faults of real networks: a connection cut
//! after N bytes, a server that ignores `Range`, a slow body). Every request's headers are
//! recorded, per origin.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One request as the source saw it.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    pub(crate) path: String,
    /// Header names lower-cased.
    pub(crate) headers: HashMap<String, String>,
}

/// How the CDN misbehaves.
#[derive(Debug, Default)]
pub(crate) struct Faults {
    /// Cut the connection after this many body bytes, once (then 0: never again).
    pub(crate) cut_after: AtomicU64,
    /// Answer every request with the whole file, 200, whatever `Range` says.
    pub(crate) ignore_range: AtomicBool,
    /// Sleep this many milliseconds after every 64 KiB of body.
    pub(crate) slow_ms: AtomicU64,
    /// Stop sending for this many milliseconds after the first 64 KiB, once.
    pub(crate) stall_once_ms: AtomicU64,
    /// Send no `Content-Length` (the body ends when the connection closes).
    pub(crate) no_length: AtomicBool,
    /// When the cut happens, the file (name, bytes) changes to this: a new version.
    pub(crate) replace_on_cut: Mutex<Option<(String, Vec<u8>)>>,
}

/// What the source serves, and what it saw.
#[derive(Debug, Default)]
pub(crate) struct State {
    /// File name → bytes.
    pub(crate) files: Mutex<HashMap<String, Vec<u8>>>,
    pub(crate) faults: Faults,
    /// The token the Civitai-like route requires.
    pub(crate) civitai_token: Mutex<String>,
    /// Where the HF and Civitai routes redirect to: the CDN's origin (`http://host:port`).
    pub(crate) cdn: Mutex<String>,
    /// SHA-256 hex per file for the HF-like `X-Linked-Etag` and the Civitai API.
    pub(crate) hashes: Mutex<HashMap<String, String>>,
    pub(crate) seen: Mutex<Vec<Seen>>,
}

/// A running source: one listener (an "origin"); the state may be shared by several.
pub(crate) struct Source {
    pub(crate) origin: String,
    pub(crate) state: Arc<State>,
}

impl Source {
    /// Listens on `ip` (port 0) with `state`.
    pub(crate) fn start(ip: &str, state: Arc<State>) -> Self {
        let listener = TcpListener::bind((ip, 0)).unwrap();
        let origin = format!("http://{}", listener.local_addr().unwrap());
        let shared = Arc::clone(&state);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let state = Arc::clone(&shared);
                std::thread::spawn(move || {
                    let _ = serve(stream, &state);
                });
            }
        });
        Self { origin, state }
    }

    /// Requests whose path starts with `prefix`.
    pub(crate) fn seen(&self, prefix: &str) -> Vec<Seen> {
        let seen = self.state.seen.lock().unwrap();
        seen.iter()
            .filter(|s| s.path.starts_with(prefix))
            .cloned()
            .collect()
    }
}

fn serve(stream: TcpStream, state: &State) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let target = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
        }
    }
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    state.seen.lock().unwrap().push(Seen {
        path: path.to_owned(),
        headers: headers.clone(),
    });
    let mut out = stream;
    let cdn = state.cdn.lock().unwrap().clone();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match segments.as_slice() {
        // Hugging Face: /hf/{owner}/{repo}/resolve/{rev}/{file}
        ["hf", _, _, "resolve", _, file] => {
            let hash = state.hashes.lock().unwrap().get(*file).cloned();
            let mut extra = format!("Location: {cdn}/cdn/{file}\r\n");
            if let Some(hash) = hash {
                extra.push_str(&format!("X-Linked-Etag: \"{hash}\"\r\n"));
            }
            head(&mut out, "302 Found", &extra, 0)
        }
        // Civitai: /api/download/models/{id}, with the token in the query or a header.
        ["api", "download", "models", id] => {
            let token = state.civitai_token.lock().unwrap().clone();
            let by_query = query.split('&').any(|p| p == format!("token={token}"));
            let by_header = headers.get("authorization") == Some(&format!("Bearer {token}"));
            if !(by_query || by_header) {
                return head(&mut out, "401 Unauthorized", "", 0);
            }
            let extra = format!("Location: {cdn}/cdn/civitai-{id}?sig=signed\r\n");
            head(&mut out, "307 Temporary Redirect", &extra, 0)
        }
        ["api", "v1", "model-versions", id] => {
            let name = format!("civitai-{id}");
            let hash = state
                .hashes
                .lock()
                .unwrap()
                .get(&name)
                .cloned()
                .unwrap_or_default();
            let body = format!(
                r#"{{"id":{id},"files":[{{"name":"Other.safetensors","primary":false,"hashes":{{"SHA256":"{}"}}}},{{"name":"Ink Style.safetensors","primary":true,"hashes":{{"SHA256":"{}"}}}}]}}"#,
                "0".repeat(64),
                hash.to_uppercase()
            );
            head(
                &mut out,
                "200 OK",
                "Content-Type: application/json\r\n",
                body.len() as u64,
            )?;
            out.write_all(body.as_bytes())
        }
        // A redirect to itself, for ever.
        ["loop"] => head(&mut out, "302 Found", "Location: /loop\r\n", 0),
        // A redirect anywhere: /redirect?to={url}
        ["redirect"] => {
            let to = query.strip_prefix("to=").unwrap_or_default();
            head(&mut out, "302 Found", &format!("Location: {to}\r\n"), 0)
        }
        ["cdn", file] => cdn_file(&mut out, state, file, query, &headers),
        _ => head(&mut out, "404 Not Found", "", 0),
    }
}

fn cdn_file(
    out: &mut TcpStream,
    state: &State,
    file: &str,
    query: &str,
    headers: &HashMap<String, String>,
) -> std::io::Result<()> {
    let Some(bytes) = state.files.lock().unwrap().get(file).cloned() else {
        return head(out, "404 Not Found", "", 0);
    };
    let etag = format!("\"v-{}\"", bytes.len());
    let mut extra = format!("ETag: {etag}\r\nAccept-Ranges: bytes\r\n");
    if query.contains("sig=") {
        extra.push_str("Content-Disposition: attachment; filename=\"Ink Style.safetensors\"\r\n");
    }
    let ignore = state.faults.ignore_range.load(Ordering::SeqCst);
    let start = headers
        .get("range")
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.split('-').next())
        .and_then(|s| s.parse::<u64>().ok())
        .filter(|_| !ignore)
        .filter(|_| headers.get("if-range").is_none_or(|v| *v == etag));
    let total = bytes.len() as u64;
    let no_length = state.faults.no_length.load(Ordering::SeqCst);
    let length = |n: u64| if no_length { None } else { Some(n) };
    let from = match start {
        Some(s) if s >= total => return head(out, "416 Range Not Satisfiable", "", 0),
        Some(s) => {
            extra.push_str(&format!(
                "Content-Range: bytes {s}-{}/{total}\r\n",
                total - 1
            ));
            head_sized(out, "206 Partial Content", &extra, length(total - s))?;
            s
        }
        None => {
            head_sized(out, "200 OK", &extra, length(total))?;
            0
        }
    };
    let cut = state.faults.cut_after.swap(0, Ordering::SeqCst);
    let slow = state.faults.slow_ms.load(Ordering::SeqCst);
    let stall = state.faults.stall_once_ms.swap(0, Ordering::SeqCst);
    let mut sent = 0u64;
    for chunk in bytes[from as usize..].chunks(64 << 10) {
        if stall > 0 && sent == 64 << 10 {
            out.flush()?;
            std::thread::sleep(Duration::from_millis(stall));
        }
        let chunk = if cut > 0 && sent + chunk.len() as u64 > cut {
            let keep = (cut - sent) as usize;
            out.write_all(&chunk[..keep])?;
            out.flush()?;
            if let Some((name, new)) = state.faults.replace_on_cut.lock().unwrap().take() {
                state.files.lock().unwrap().insert(name, new);
            }
            // A reset, not a clean close: the body ends short.
            let _ = out.shutdown(std::net::Shutdown::Both);
            return Ok(());
        } else {
            chunk
        };
        out.write_all(chunk)?;
        sent += chunk.len() as u64;
        if slow > 0 {
            std::thread::sleep(Duration::from_millis(slow));
        }
    }
    out.flush()
}

fn head(out: &mut TcpStream, status: &str, extra: &str, length: u64) -> std::io::Result<()> {
    head_sized(out, status, extra, Some(length))
}

/// A response head; without a length the body runs until the connection closes.
fn head_sized(
    out: &mut TcpStream,
    status: &str,
    extra: &str,
    length: Option<u64>,
) -> std::io::Result<()> {
    let length = length.map_or(String::new(), |n| format!("Content-Length: {n}\r\n"));
    write!(
        out,
        "HTTP/1.1 {status}\r\n{extra}{length}Connection: close\r\n\r\n"
    )?;
    out.flush()
}

//! The event stream through the served binary: a thousand idle subscribers hold no
//! threads, and the server keeps answering while they wait.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

#[path = "common/server.rs"]
mod server;

use server::{Running, get, serve_dev_with};

fn threads(server: &Running) -> usize {
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.child.id())).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn a_thousand_idle_subscribers_cost_no_threads() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve_dev_with(dir.path(), &[("LORA_WORKERS", "2")]);
    let (status, _) = get(&server.addr, "/api/v1/evaluation/health", "");
    assert_eq!(status, 200);
    let before = threads(&server);
    let mut subscribers = Vec::new();
    for _ in 0..1000 {
        let mut s = TcpStream::connect(&server.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        write!(
            s,
            "GET /api/v1/events HTTP/1.0\r\nHost: x\r\nAuthorization: Bearer {}\r\n\r\n",
            server.admin
        )
        .unwrap();
        let mut reader = BufReader::new(s);
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        assert!(line.contains(" 200 "), "{line}");
        subscribers.push(reader);
    }
    let during = threads(&server);
    assert!(
        during <= before + 4,
        "{before} threads before, {during} with 1,000 subscribers"
    );
    let t = Instant::now();
    let (status, _) = get(&server.addr, "/api/v1/evaluation/health", "");
    assert_eq!(status, 200);
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "health took {:?}",
        t.elapsed()
    );
    // Each subscriber still gets what happens: a file placed by hand, through the pass.
    std::fs::write(
        dir.path().join("models/loras/styles/seen.safetensors"),
        b"x",
    )
    .unwrap();
    for reader in subscribers.iter_mut().step_by(100) {
        let mut got = String::new();
        while !got.contains("styles/seen.safetensors") {
            let mut line = String::new();
            assert!(reader.read_line(&mut line).unwrap() > 0, "the stream ended");
            got.push_str(&line);
        }
    }
}

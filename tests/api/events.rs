//! `GET /api/v1/events`: every change the service makes reaches a subscriber, and a client
//! that reconnects with `Last-Event-ID` gets what it missed (or `reset`).

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::Value;

use crate::helpers::*;

/// A subscriber reading the stream line by line (the chunk-size lines of the chunked
/// framing are skipped with everything that is not an event field).
struct Subscriber {
    reader: BufReader<TcpStream>,
}

impl Subscriber {
    fn open(app: &TestApp, last_event_id: Option<&str>) -> Self {
        let mut stream = app.connect();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let resume = last_event_id.map_or(String::new(), |id| format!("Last-Event-ID: {id}\r\n"));
        write!(
            stream,
            "GET /api/v1/events HTTP/1.0\r\nHost: x\r\n{}{resume}\r\n",
            bearer(&app.user)
        )
        .unwrap();
        let mut reader = BufReader::new(stream);
        let mut status = String::new();
        reader.read_line(&mut status).unwrap();
        assert!(status.contains(" 200 "), "{status}");
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if line == "\r\n" {
                break;
            }
            if line.to_ascii_lowercase().starts_with("content-type") {
                assert!(line.contains("text/event-stream"), "{line}");
            }
        }
        Self { reader }
    }

    /// The next event: its name and data (comments and `retry` skipped). Bounded by the
    /// read timeout.
    fn next(&mut self) -> (String, Value) {
        let (mut name, mut data) = (String::new(), String::new());
        loop {
            let mut line = String::new();
            let n = self
                .reader
                .read_line(&mut line)
                .expect("an event within the timeout");
            assert!(n > 0, "the stream ended");
            let line = line.trim_end_matches(['\r', '\n']);
            if line.is_empty() {
                if !data.is_empty() {
                    return (name, serde_json::from_str(&data).unwrap());
                }
                continue;
            }
            if let Some(v) = line.strip_prefix("event: ") {
                name = v.to_owned();
            } else if let Some(v) = line.strip_prefix("data: ") {
                data = v.to_owned();
            }
        }
    }
}

#[test]
fn every_change_reaches_a_subscriber_and_a_resume_replays_what_was_missed() {
    let app = spawn_app();
    assert_eq!(app.request("GET", "/api/v1/events", "", b"").status, 401);
    let mut live = Subscriber::open(&app, None);
    let stored = app.upload(&[
        file("ev.safetensors", &st(4)),
        Part::Text("entity_type", "styles"),
    ]);
    assert_eq!(stored.status, 200);
    let (name, added) = live.next();
    assert_eq!(name, "added");
    assert_eq!(added["type"], "added");
    assert_eq!(added["partial_path"], "styles/ev.safetensors");
    assert_eq!(added["entity_type"], "styles");
    assert_eq!(added["sha256"], stored.json()["sha256"]);
    assert!(added["node"].as_str().is_some_and(|n| !n.is_empty()));

    // Tag, delete, restore, delete again, purge: each answered 200.
    let restore = r#"{"bin_path": "styles/ev.safetensors"}"#;
    let ev = r#"{"partial_path": "styles/ev.safetensors"}"#;
    let tag = r#"{"partial_path": "styles/ev.safetensors", "tags": ["x"]}"#;
    for (method, route, body) in [
        ("PATCH", "/api/v1/admin/lora/meta", tag),
        ("DELETE", "/api/v1/admin/lora", ev),
        ("POST", "/api/v1/admin/bin/restore", restore),
        ("DELETE", "/api/v1/admin/lora", ev),
        ("DELETE", "/api/v1/admin/bin", restore),
    ] {
        assert_eq!(
            app.admin_json(method, route, body).status,
            200,
            "{method} {route}"
        );
    }
    let seen: Vec<(String, String)> = (0..6)
        .map(|_| live.next())
        .map(|(name, e)| (name, e["partial_path"].as_str().unwrap().to_owned()))
        .collect();
    let path = "styles/ev.safetensors".to_owned();
    assert_eq!(
        seen,
        [
            ("meta".into(), path.clone()),
            ("removed".into(), path.clone()),
            ("restored".into(), path.clone()),
            ("added".into(), path.clone()),
            ("removed".into(), path.clone()),
            ("purged".into(), path),
        ]
    );

    // Reconnecting after the first event: the rest, in order, then live again.
    let first_id = added["id"].as_u64().unwrap().to_string();
    let mut resumed = Subscriber::open(&app, Some(&first_id));
    let replayed: Vec<String> = (0..6).map(|_| resumed.next().0).collect();
    assert_eq!(
        replayed,
        ["meta", "removed", "restored", "added", "removed", "purged"]
    );
    app.upload(&[
        file("after.safetensors", &st(5)),
        Part::Text("entity_type", "styles"),
    ]);
    assert_eq!(resumed.next().1["partial_path"], "styles/after.safetensors");
    // An id this server never kept (or cannot read): reset, then list again.
    for stale in ["1", "not-a-number"] {
        let (name, reset) = Subscriber::open(&app, Some(stale)).next();
        assert_eq!(
            (name.as_str(), reset["type"].as_str()),
            ("reset", Some("reset"))
        );
    }
}

#[test]
fn a_file_placed_by_hand_is_announced_by_the_catalogue_pass() {
    let app = spawn_app();
    let mut live = Subscriber::open(&app, None);
    std::fs::write(app.live().join("clothes/by_hand.safetensors"), st(6)).unwrap();
    let (name, event) = live.next();
    assert_eq!(
        (name.as_str(), event["partial_path"].as_str()),
        ("added", Some("clothes/by_hand.safetensors"))
    );
    std::fs::remove_file(app.live().join("clothes/by_hand.safetensors")).unwrap();
    let (name, _) = live.next();
    assert_eq!(name, "removed");
}

#[test]
fn an_idle_stream_gets_a_comment_every_heartbeat() {
    let app = spawn_app_with(|s| s.with_event_heartbeat(Duration::from_millis(200)));
    let mut idle = Subscriber::open(&app, None);
    // Two heartbeats, and nothing else, arrive while nothing happens.
    let mut comments = 0;
    while comments < 2 {
        let mut line = String::new();
        assert!(
            idle.reader.read_line(&mut line).unwrap() > 0,
            "the stream ended"
        );
        if line.starts_with(": keep-alive") {
            comments += 1;
        } else {
            // The frames arrive in chunks (their sizes are lines of hex digits).
            let chunk_size =
                !line.trim().is_empty() && line.trim().chars().all(|c| c.is_ascii_hexdigit());
            assert!(
                line.starts_with("retry:") || line.trim().is_empty() || chunk_size,
                "{line}"
            );
        }
    }
}

#[test]
fn entries_the_retention_purges_are_announced() {
    let app = spawn_app_with(|s| s.with_bin_retention(Some(Duration::from_secs(1))));
    let r = app.upload(&[
        file("old.safetensors", &st(8)),
        Part::Text("entity_type", "styles"),
    ]);
    assert_eq!(r.status, 200);
    let mut live = Subscriber::open(&app, None);
    assert_eq!(
        app.delete(r#"{"partial_path": "styles/old.safetensors"}"#)
            .status,
        200
    );
    assert_eq!(live.next().0, "removed");
    // Past its second in the bin, the retention removes it: announced like any purge.
    let (name, purged) = live.next();
    assert_eq!(
        (name.as_str(), purged["partial_path"].as_str()),
        ("purged", Some("styles/old.safetensors"))
    );
}

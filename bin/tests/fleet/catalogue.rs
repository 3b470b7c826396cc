//! The catalogue in fleet mode: a file's facts travel with it, so a node that does not
//! hold the file still lists and filters it by what its header says.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

use super::support::*;

/// Reads `node`'s event stream until an event named `name` for `path` arrives (bounded
/// by the read timeout).
fn wait_for_event(events: &mut BufReader<TcpStream>, name: &str, path: &str) {
    let mut last = String::new();
    loop {
        let mut line = String::new();
        assert!(events.read_line(&mut line).unwrap() > 0, "the stream ended");
        if let Some(event) = line.strip_prefix("event: ") {
            last = event.trim().to_owned();
        } else if line.starts_with("data: ") && last == name && line.contains(path) {
            return;
        }
    }
}

fn subscribe(node: &Node) -> BufReader<TcpStream> {
    let mut s = TcpStream::connect(&node.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(
        s,
        "GET /api/v1/events HTTP/1.0\r\nHost: x\r\nAuthorization: Bearer {}\r\n\r\n",
        node.user
    )
    .unwrap();
    BufReader::new(s)
}

#[test]
fn a_node_that_does_not_hold_a_file_still_knows_its_facts() {
    let weed = Weed::start();
    let a = Node::start(&weed, "facts");
    let (status, _) = a.upload("kept.safetensors", &lora(3), true);
    assert_eq!(status, 200);
    // B holds nothing unasked (a node with a budget only fetches what is ensured): the
    // file is only in the bucket.
    let budget = (lora(3).len() * 2).to_string();
    let b = Node::start_syncing(
        &weed,
        "facts",
        tempfile::tempdir().unwrap(),
        1,
        &[("LORA_REPLICA_BUDGET_BYTES", budget.as_str())],
    );
    eventually(
        "B lists the file, and its facts, without holding it",
        || {
            let (_, page) = b.json("GET", "/api/v1/admin/lora?base_model=sdxl", "");
            page["total"] == 1 && page["items"][0]["kind"] == "lora"
        },
    );
    let (_, all) = b.json("GET", "/api/v1/admin/lora", "");
    assert_eq!(all["items"][0]["local"], false, "{all}");
    assert!(
        !b.data
            .path()
            .join("models/loras/styles/kept.safetensors")
            .exists(),
        "read from the bucket's facts, not from a copy"
    );
    // B's copy made by an ensure: announced on B's stream.
    let mut events = subscribe(&b);
    let body = r#"{"partial_path": "styles/kept.safetensors", "lease_secs": 0}"#;
    let (status, answer) = b.json("POST", "/api/v1/lora/ensure", body);
    assert_eq!(status, 200, "{answer}");
    wait_for_event(&mut events, "replicated", "styles/kept.safetensors");
}

/// The user's metadata lives in the bucket: set on one node, every node lists and filters
/// by it, and it follows the file into the bin and back.
#[test]
fn metadata_set_on_one_node_is_every_nodes() {
    let weed = Weed::start();
    let a = Node::start(&weed, "meta");
    let b = Node::start(&weed, "meta");
    let (status, _) = a.upload("shared.safetensors", &lora(4), true);
    assert_eq!(status, 200);
    let body = r#"{"partial_path": "styles/shared.safetensors", "tags": ["shared"], "preferred_weight": 0.6}"#;
    let (status, answer) = a.json("PATCH", "/api/v1/admin/lora/meta", body);
    assert_eq!(status, 200, "{answer}");
    let tagged = |node: &Node| {
        let (_, page) = node.json("GET", "/api/v1/admin/lora?tag=shared", "");
        page["total"].as_u64().unwrap_or(0)
    };
    eventually("B filters by A's tag", || tagged(&b) == 1);
    let (_, page) = b.json("GET", "/api/v1/admin/lora?tag=shared", "");
    assert_eq!(page["items"][0]["meta"]["preferred_weight"], 0.6);
    // Into the bin on A and back: the metadata goes with the file, on both nodes.
    let (status, _) = a.json(
        "DELETE",
        "/api/v1/admin/lora",
        r#"{"partial_path": "styles/shared.safetensors"}"#,
    );
    assert_eq!(status, 200);
    eventually("the file left B's listing", || tagged(&b) == 0);
    let (status, answer) = a.json(
        "POST",
        "/api/v1/admin/bin/restore",
        r#"{"bin_path": "styles/shared.safetensors"}"#,
    );
    assert_eq!(status, 200, "{answer}");
    eventually("restored with its metadata, on A and on B", || {
        tagged(&a) == 1 && tagged(&b) == 1
    });
    // Binned and purged: its metadata leaves the bucket too.
    let (status, _) = a.json(
        "DELETE",
        "/api/v1/admin/lora",
        r#"{"partial_path": "styles/shared.safetensors"}"#,
    );
    assert_eq!(status, 200);
    assert_eq!(
        weed.folder("meta/meta/bin/styles"),
        ["shared.safetensors.json"]
    );
    let (status, _) = a.json(
        "DELETE",
        "/api/v1/admin/bin",
        r#"{"bin_path": "styles/shared.safetensors"}"#,
    );
    assert_eq!(status, 200);
    assert!(weed.folder("meta/meta/bin/styles").is_empty());
}

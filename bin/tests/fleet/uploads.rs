//! Uploads through a fleet node stream to the bucket while they arrive: what a client
//! that goes away leaves (nothing), what racing nodes get (one name each, or one 409),
//! and what a large upload costs the node's memory (a bounded number of parts).

use std::io::{Read, Write};
use std::net::TcpStream;

use super::blob::*;
use super::support::*;

/// Sends an upload's request head and form fields (the entity type first, so the node
/// knows where the bytes go), for a file of `len` bytes; the caller sends the file and
/// then [`TAIL`].
fn begin_upload(node: &Node, name: &str, len: usize, safe: bool) -> TcpStream {
    let head = format!(
        "--b\r\nContent-Disposition: form-data; name=\"entity_type\"\r\n\r\nstyles\r\n--b\r\nContent-Disposition: form-data; name=\"use_safe_filename\"\r\n\r\n{safe}\r\n--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\r\n"
    );
    let mut s = TcpStream::connect(&node.addr).unwrap();
    write!(
        s,
        "POST /api/v1/admin/lora/upload HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{head}",
        node.admin,
        head.len() + len + TAIL.len()
    )
    .unwrap();
    s
}

const TAIL: &str = "\r\n--b--\r\n";

/// Sends the first half of a `len`-byte blob's bytes: an upload under way.
fn send_half(s: &mut TcpStream, len: usize) {
    let (head, chunks) = blob(len);
    s.write_all(&head).unwrap();
    for chunk in chunks.take(len / MIB / 2) {
        s.write_all(&chunk).unwrap();
    }
}

/// Sends a whole blob of `len` bytes as `name`; the status and the body of the answer.
fn upload_blob(node: &Node, name: &str, len: usize, safe: bool) -> (u16, serde_json::Value) {
    let mut s = begin_upload(node, name, len, safe);
    let (head, chunks) = blob(len);
    s.write_all(&head).unwrap();
    for chunk in chunks {
        s.write_all(&chunk).unwrap();
    }
    s.write_all(TAIL.as_bytes()).unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let status = text.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, serde_json::from_str(body).unwrap_or_default())
}

/// A client that goes away mid-body: its multipart upload (started: the event that
/// matters is waited for) is aborted, and no object appears.
#[test]
fn a_client_gone_mid_stream_leaves_no_object_and_no_open_multipart_upload() {
    let weed = Weed::start();
    let a = Node::start(&weed, "gone");
    let mut s = begin_upload(&a, "gone.safetensors", 40 * MIB, true);
    send_half(&mut s, 40 * MIB);
    eventually("the node starts a multipart upload", || {
        !weed.open_uploads().is_empty()
    });
    drop(s);
    eventually("the node aborts it", || weed.open_uploads().is_empty());
    eventually("the node drops its staging file", || a.staged_bytes() == 0);
    assert_eq!(
        weed.folder("gone/models/loras/styles"),
        Vec::<String>::new()
    );
    // The node serves on, and the next upload of the name takes it.
    let (status, body) = upload_blob(&a, "gone.safetensors", 9 * MIB, true);
    assert_eq!(
        (status, body["partial_path"].as_str()),
        (200, Some("styles/gone.safetensors")),
        "{body}"
    );
}

/// Two nodes streaming the same name at once: with versions each gets a name of its own,
/// without exactly one wins and the other is 409; every object is exact, and no multipart
/// upload is left open.
#[test]
fn racing_streams_never_overwrite_and_leave_nothing_open() {
    let weed = Weed::start();
    let (a, b) = (Node::start(&weed, "race"), Node::start(&weed, "race"));
    let len = 9 * MIB + 5;
    for safe in [true, false] {
        let name = format!("race-{safe}.safetensors");
        let answers: Vec<(u16, serde_json::Value)> = std::thread::scope(|s| {
            let handles: Vec<_> = [&a, &b]
                .into_iter()
                .map(|node| {
                    let name = name.clone();
                    s.spawn(move || upload_blob(node, &name, len, safe))
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let mut statuses: Vec<u16> = answers.iter().map(|(s, _)| *s).collect();
        statuses.sort_unstable();
        if safe {
            assert_eq!(statuses, [200, 200], "{answers:?}");
            let mut names: Vec<&str> = answers
                .iter()
                .map(|(_, b)| b["partial_path"].as_str().unwrap())
                .collect();
            names.sort_unstable();
            assert_eq!(
                names,
                [
                    "styles/race-true.safetensors",
                    "styles/race-true_v2.safetensors"
                ]
            );
        } else {
            assert_eq!(statuses, [200, 409], "{answers:?}");
        }
    }
    eventually("both nodes hold all three files", || {
        a.names().len() == 3 && a.names() == b.names()
    });
    for name in a.names() {
        let path = format!("styles/{name}");
        assert_eq!(a.on_disk(&path), Some(blob_bytes(len)), "{path} on A");
        assert_eq!(b.on_disk(&path), Some(blob_bytes(len)), "{path} on B");
    }
    assert_eq!(weed.open_uploads(), Vec::<String>::new());
    assert_eq!(weed.folder("race/staging"), Vec::<String>::new());
}

/// 500 MiB through a node: its resident memory grows by a bounded number of parts, not by
/// the file (the node's peak, VmHWM, reset before the upload).
#[test]
fn a_500_mib_upload_keeps_the_node_memory_flat() {
    let weed = Weed::start();
    let a = Node::start_syncing(
        &weed,
        "big",
        tempfile::tempdir().unwrap(),
        1,
        &[("LORA_MAX_UPLOAD_BYTES", "600000000")],
    );
    let pid = a.child.id();
    let status = |key: &str| -> u64 {
        let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next())
            .unwrap()
            .parse()
            .unwrap()
    };
    let before = status("VmRSS:");
    // Resets VmHWM to the current RSS.
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").unwrap();
    let (code, body) = upload_blob(&a, "big.safetensors", 500 * MIB, true);
    assert_eq!(code, 200, "{body}");
    let growth_kib = status("VmHWM:").saturating_sub(before);
    assert!(
        growth_kib < 64 * 1024,
        "the node's peak RSS grew by {} MiB",
        growth_kib / 1024
    );
    assert_eq!(
        std::fs::metadata(a.data.path().join("models/loras/styles/big.safetensors"))
            .unwrap()
            .len(),
        500 * MIB as u64
    );
    assert_eq!(weed.open_uploads(), Vec::<String>::new());
}

/// A node killed mid-stream leaves an open multipart upload; the node whose turn it is to
/// sweep aborts it once it is older than `LORA_ABANDONED_UPLOAD_SECS`.
#[test]
fn an_upload_left_by_a_dead_node_is_aborted_by_the_sweep() {
    let weed = Weed::start();
    let env = [("LORA_ABANDONED_UPLOAD_SECS", "2")];
    let sweeper = Node::start_syncing(&weed, "left", tempfile::tempdir().unwrap(), 1, &env);
    // The sweeper's first pass has run: the turn is its own from then on.
    sweeper.sync_pass_after_now();
    let doomed = Node::start_syncing(&weed, "left", tempfile::tempdir().unwrap(), 1, &env);
    let mut s = begin_upload(&doomed, "left.safetensors", 40 * MIB, true);
    send_half(&mut s, 40 * MIB);
    eventually("the doomed node starts a multipart upload", || {
        !weed.open_uploads().is_empty()
    });
    // Killed: a node's drop is kill -9, then a wait.
    drop(doomed);
    assert_eq!(weed.open_uploads().len(), 1, "left open by the dead node");
    eventually("the sweep aborts it", || weed.open_uploads().is_empty());
    assert_eq!(
        weed.folder("left/models/loras/styles"),
        Vec::<String>::new()
    );
}

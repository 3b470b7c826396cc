//! Resumable uploads in a fleet: an upload lives in the bucket, so it goes on wherever
//! its next request lands, outlives the node it began on, and is written by one PATCH at a
//! time across nodes.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use super::blob::*;
use super::support::*;

const COLLECTION: &str = "/api/v1/admin/lora/uploads";

/// A raw request with the node's admin token; the status and the response head.
fn send(
    node: &Node,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> (u16, String) {
    send_as(node, &node.admin, method, path, headers, body)
}

/// A raw request with `token`.
fn send_as(
    node: &Node,
    token: &str,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> (u16, String) {
    let mut s = TcpStream::connect(&node.addr).unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nTus-Resumable: 1.0.0\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    // A refusal may come (and the connection close) before the body is read.
    let _ = s.write_all(body);
    let mut text = Vec::new();
    let _ = s.read_to_end(&mut text);
    let text = String::from_utf8_lossy(&text).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .map_or(0, |s| s.parse().unwrap_or(0));
    (status, text)
}

fn header(head: &str, name: &str) -> Option<String> {
    head.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
    })
}

/// Creates an upload of `len` bytes on `node`; its URL's path.
fn create(node: &Node, name: &str, len: usize) -> String {
    use base64::Engine as _;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let (status, head) = send(
        node,
        "POST",
        COLLECTION,
        &[
            ("Upload-Length", len.to_string()),
            (
                "Upload-Metadata",
                format!("filename {},entity_type {}", b64(name), b64("styles")),
            ),
        ],
        b"",
    );
    assert_eq!(status, 201, "{head}\n{}", node.log());
    header(&head, "Location").unwrap()
}

fn patch(node: &Node, url: &str, offset: usize, bytes: &[u8]) -> (u16, String) {
    send(
        node,
        "PATCH",
        url,
        &[
            ("Upload-Offset", offset.to_string()),
            ("Content-Type", "application/offset+octet-stream".into()),
        ],
        bytes,
    )
}

/// Sends the head of a PATCH of `len` bytes at `offset` on `node`; the caller sends the
/// body (or part of it, to cut it).
fn begin_patch(node: &Node, url: &str, offset: usize, len: usize) -> TcpStream {
    let mut s = TcpStream::connect(&node.addr).unwrap();
    write!(
        s,
        "PATCH {url} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: {offset}\r\nContent-Type: application/offset+octet-stream\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n",
        node.admin
    )
    .unwrap();
    s
}

/// The offset `node` reports for the upload (HEAD).
fn offset(node: &Node, url: &str) -> Option<usize> {
    let (status, head) = send(node, "HEAD", url, &[], b"");
    (status == 200).then(|| header(&head, "Upload-Offset").unwrap().parse().unwrap())
}

/// PATCHes until the upload's lease (held by a node that died mid-PATCH) has expired.
fn patch_when_free(node: &Node, url: &str, offset: usize, bytes: &[u8]) -> (u16, String) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, head) = patch(node, url, offset, bytes);
        if status != 423 || Instant::now() > deadline {
            return (status, head);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn an_upload_begun_on_a_goes_on_and_ends_on_b() {
    let weed = Weed::start();
    let (a, b) = (Node::start(&weed, "tus"), Node::start(&weed, "tus"));
    let bytes = blob_bytes(11 * MIB);
    let url = create(&a, "across.safetensors", bytes.len());
    let (status, head) = patch(&a, &url, 0, &bytes[..6 * MIB]);
    assert_eq!(status, 204, "{head}");
    // Another node knows the upload and the offset A acknowledged.
    assert_eq!(offset(&b, &url), Some(6 * MIB));
    let (status, head) = patch(&b, &url, 6 * MIB, &bytes[6 * MIB..]);
    assert_eq!(status, 204, "{head}");
    assert_eq!(
        header(&head, "Lora-Partial-Path").as_deref(),
        Some("styles/across.safetensors")
    );
    assert_eq!(b.on_disk("styles/across.safetensors"), Some(bytes.clone()));
    eventually("A holds the file too", || {
        a.on_disk("styles/across.safetensors") == Some(bytes.clone())
    });
    // GET on the upload's URL answers on either node.
    for node in [&a, &b] {
        let (status, text) = send(node, "GET", &url, &[], b"");
        assert_eq!(status, 200, "{text}");
        assert!(text.contains("styles/across.safetensors"), "{text}");
    }
    assert_eq!(weed.open_uploads(), Vec::<String>::new());
}

/// Another node removes an upload (its bytes leave the bucket), and another subject
/// never sees it, on any node.
#[test]
fn any_node_removes_an_upload_and_only_its_owner_sees_it() {
    let weed = Weed::start();
    let (a, b) = (Node::start(&weed, "owner"), Node::start(&weed, "owner"));
    let bytes = blob_bytes(12 * MIB);
    let url = create(&a, "owned.safetensors", bytes.len());
    let (status, head) = patch(&a, &url, 0, &bytes[..7 * MIB]);
    assert_eq!(status, 204, "{head}");
    let id = url.rsplit('/').next().unwrap();
    // Another subject (a user token, on the user collection): no such upload, on B too.
    for node in [&a, &b] {
        let (status, text) = send_as(
            node,
            &node.user,
            "HEAD",
            &format!("/api/v1/lora/uploads/{id}"),
            &[],
            b"",
        );
        assert_eq!(status, 404, "{text}");
    }
    let (status, text) = send(&b, "DELETE", &url, &[], b"");
    assert_eq!(status, 204, "{text}");
    assert_eq!(offset(&a, &url), None, "gone on A too");
    assert_eq!(
        weed.folder(&format!("owner/uploads/{id}")),
        Vec::<String>::new()
    );
    assert_eq!(weed.open_uploads(), Vec::<String>::new());
}

/// A completed upload the content check refuses: 400 in the multipart route's shape, and
/// nothing of it stays in the bucket or on the node.
#[test]
fn a_refused_upload_leaves_nothing_in_the_bucket() {
    let weed = Weed::start();
    let a = Node::start(&weed, "refused");
    // Not a safetensors file: a header length far past the end.
    let bytes = vec![0xffu8; 9 * MIB];
    let url = create(&a, "bad.safetensors", bytes.len());
    let (status, text) = patch(&a, &url, 0, &bytes);
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("Invalid file content"), "{text}");
    let id = url.rsplit('/').next().unwrap();
    assert_eq!(
        weed.folder(&format!("refused/uploads/{id}")),
        Vec::<String>::new()
    );
    assert_eq!(
        weed.folder("refused/models/loras/styles"),
        Vec::<String>::new()
    );
    assert_eq!(weed.open_uploads(), Vec::<String>::new());
    assert_eq!(a.staged_bytes(), 0);
    assert_eq!(offset(&a, &url), None);
}

/// The bucket away mid-upload: requests answer 503 fast, nothing acknowledged is lost,
/// and the upload goes on once the bucket is back.
#[test]
fn a_resumable_upload_survives_the_bucket_going_away() {
    let mut weed = Weed::start();
    let a = Node::start(&weed, "away");
    let bytes = blob_bytes(11 * MIB);
    let url = create(&a, "patient.safetensors", bytes.len());
    let (status, head) = patch(&a, &url, 0, &bytes[..6 * MIB]);
    assert_eq!(status, 204, "{head}");
    weed.stop();
    let started = Instant::now();
    let (status, head) = patch(&a, &url, 6 * MIB, &bytes[6 * MIB..]);
    assert_eq!(status, 503, "{head}");
    assert!(started.elapsed() < Duration::from_secs(30));
    let (status, head) = send(&a, "HEAD", &url, &[], b"");
    assert_eq!(status, 503, "{head}");
    weed.run();
    eventually("the upload answers again", || {
        offset(&a, &url) == Some(6 * MIB)
    });
    let (status, head) = patch_when_free(&a, &url, 6 * MIB, &bytes[6 * MIB..]);
    assert_eq!(status, 204, "{head}");
    assert_eq!(a.on_disk("styles/patient.safetensors"), Some(bytes));
}

/// A client that goes away mid-PATCH keeps what arrived: the node acknowledges it in the
/// bucket, and the upload goes on from there (on another node, here).
#[test]
fn a_patch_cut_by_its_client_keeps_what_arrived() {
    let weed = Weed::start();
    let (a, b) = (Node::start(&weed, "cut"), Node::start(&weed, "cut"));
    let bytes = blob_bytes(16 * MIB);
    let url = create(&a, "cut.safetensors", bytes.len());
    let mut s = begin_patch(&a, &url, 0, bytes.len());
    s.write_all(&bytes[..11 * MIB]).unwrap();
    // The node is streaming it to the bucket (the event a cut must not undo).
    eventually("A starts the multipart upload", || {
        !weed.open_uploads().is_empty()
    });
    drop(s);
    let mut kept = 0;
    eventually("the cut PATCH is acknowledged", || {
        kept = offset(&b, &url).unwrap_or(0);
        kept > 0
    });
    assert!(kept <= 11 * MIB, "{kept}");
    let (status, head) = patch_when_free(&b, &url, kept, &bytes[kept..]);
    assert_eq!(status, 204, "{head}");
    assert_eq!(b.on_disk("styles/cut.safetensors"), Some(bytes));
}

/// The cap of 32 unfinished uploads per subject counts the whole fleet's.
#[test]
fn the_cap_on_unfinished_uploads_counts_every_node() {
    let weed = Weed::start();
    let (a, b) = (Node::start(&weed, "cap"), Node::start(&weed, "cap"));
    for i in 0..32 {
        create(if i % 2 == 0 { &a } else { &b }, "many.safetensors", 1000);
    }
    for node in [&a, &b] {
        let (status, text) = send(
            node,
            "POST",
            COLLECTION,
            &[
                ("Upload-Length", "1000".into()),
                (
                    "Upload-Metadata",
                    "filename bWFueS5zYWZldGVuc29ycw==".into(),
                ),
            ],
            b"",
        );
        assert_eq!(status, 429, "{text}");
    }
}

#[test]
fn a_node_killed_mid_patch_leaves_the_acknowledged_offset_and_another_completes() {
    let weed = Weed::start();
    let (a, b) = (Node::start(&weed, "killed"), Node::start(&weed, "killed"));
    let bytes = blob_bytes(11 * MIB);
    let url = create(&a, "survivor.safetensors", bytes.len());
    let (status, head) = patch(&a, &url, 0, &bytes[..5 * MIB]);
    assert_eq!(status, 204, "{head}");
    // The next PATCH is cut by kill -9 once A has begun sending it to the bucket.
    let mut s = begin_patch(&a, &url, 5 * MIB, 6 * MIB);
    s.write_all(&bytes[5 * MIB..9 * MIB]).unwrap();
    eventually("A starts the multipart upload", || {
        !weed.open_uploads().is_empty()
    });
    // Killed: a node's drop is kill -9, then a wait.
    drop(a);
    // B tells the last acknowledged offset, and (once the dead node's lease expires) takes
    // the rest.
    assert_eq!(offset(&b, &url), Some(5 * MIB));
    let (status, head) = patch_when_free(&b, &url, 5 * MIB, &bytes[5 * MIB..]);
    assert_eq!(status, 204, "{head}");
    assert_eq!(b.on_disk("styles/survivor.safetensors"), Some(bytes));
    assert_eq!(weed.open_uploads(), Vec::<String>::new());
}

#[test]
fn two_patches_on_two_nodes_at_once_write_one_upload_once() {
    let weed = Weed::start();
    let (a, b) = (Node::start(&weed, "both"), Node::start(&weed, "both"));
    let bytes = blob_bytes(10 * MIB);
    let url = create(&a, "once.safetensors", bytes.len());
    // Both PATCHes are under way (head and half the body sent) before either ends.
    let both_sending = std::sync::Barrier::new(2);
    let answers: Vec<(u16, String)> = std::thread::scope(|s| {
        let handles: Vec<_> = [&a, &b]
            .into_iter()
            .map(|node| {
                let (url, bytes, both_sending) = (&url, &bytes, &both_sending);
                s.spawn(move || {
                    let mut s = begin_patch(node, url, 0, bytes.len());
                    // Refused at once (423) or read: either way the rest may not be wanted.
                    let _ = s.write_all(&bytes[..bytes.len() / 2]);
                    both_sending.wait();
                    let _ = s.write_all(&bytes[bytes.len() / 2..]);
                    let mut text = String::new();
                    let _ = s.read_to_string(&mut text);
                    let status = text
                        .split_whitespace()
                        .nth(1)
                        .map_or(0, |s| s.parse().unwrap_or(0));
                    (status, text)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut statuses: Vec<u16> = answers.iter().map(|(s, _)| *s).collect();
    statuses.sort_unstable();
    assert!(
        statuses == [204, 409] || statuses == [204, 423],
        "{answers:?}"
    );
    let holder = if answers[0].0 == 204 { &a } else { &b };
    assert_eq!(holder.on_disk("styles/once.safetensors"), Some(bytes));
    let (_, listed) = holder.json("GET", "/api/v1/admin/lora", "");
    assert_eq!(listed["total"].as_u64(), Some(1), "{listed}");
}

#[test]
fn expiry_removes_the_uploads_bytes_from_the_bucket() {
    let weed = Weed::start();
    let a = Node::start_syncing(
        &weed,
        "expiry",
        tempfile::tempdir().unwrap(),
        1,
        &[("LORA_UPLOAD_EXPIRY_SECS", "3")],
    );
    let bytes = blob_bytes(10 * MIB);
    let url = create(&a, "late.safetensors", bytes.len());
    let (status, head) = patch(&a, &url, 0, &bytes[..9 * MIB]);
    assert_eq!(status, 204, "{head}");
    // What the sweep would remove is there first.
    assert_eq!(weed.open_uploads().len(), 1);
    let id = url.rsplit('/').next().unwrap();
    assert!(!weed.folder(&format!("expiry/uploads/{id}")).is_empty());
    eventually("the sweep removes the upload from the bucket", || {
        weed.folder(&format!("expiry/uploads/{id}")).is_empty() && weed.open_uploads().is_empty()
    });
    assert_eq!(offset(&a, &url), None, "an expired upload is 404");
}

/// tuspy begins an upload on node A; A dies; the client, given node B's URL for the same
/// upload, asks B for the offset and finishes there.
#[test]
fn tuspy_resumes_on_another_node_after_its_node_dies() {
    let weed = Weed::start();
    let (a, b) = (Node::start(&weed, "tuspy"), Node::start(&weed, "tuspy"));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("moved.safetensors");
    let bytes = blob_bytes(11 * MIB);
    std::fs::write(&path, &bytes).unwrap();
    let tuspy = |node: &Node, args: &[&str]| {
        let out = std::process::Command::new("python3")
            .env("PYTHONPATH", super::clients::tuspy())
            .arg("-c")
            .arg(super::clients::TUSPY)
            .arg(format!("http://{}{COLLECTION}", node.addr))
            .arg(&node.admin)
            .arg(&path)
            .arg("moved.safetensors")
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    let url = tuspy(&a, &["start", "5"]);
    let upload_path = url.split(&a.addr).nth(1).unwrap().to_owned();
    assert_eq!(offset(&b, &upload_path), Some(5 * MIB));
    // Killed: a node's drop is kill -9, then a wait.
    drop(a);
    let on_b = format!("http://{}{upload_path}", b.addr);
    // B's own admin token: another secret, the same subject, so the same owner.
    let offset = tuspy(&b, &["resume", &on_b]);
    assert_eq!(offset, bytes.len().to_string());
    assert_eq!(b.on_disk("styles/moved.safetensors"), Some(bytes));
}

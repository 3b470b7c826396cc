use insta::assert_json_snapshot;
use serde_json::json;

use crate::helpers::*;

#[test]
fn delete_list_restore_round_trip() {
    let app = spawn_app();
    let lora = st(4);
    app.upload(&[
        file("keep.safetensors", &lora),
        Part::Text("entity_type", "styles"),
    ]);
    assert_eq!(
        app.delete(r#"{"partial_path": "styles/keep.safetensors"}"#)
            .status,
        200
    );

    let r = app.request("GET", "/api/v1/admin/bin", &bearer(&app.admin), b"");
    assert_json_snapshot!(r.snapshot(&app), @r#"
    {
      "body": {
        "items": [
          {
            "bin_path": "styles/keep.safetensors",
            "deleted_at": "[timestamp]",
            "entity_type": "styles",
            "file_size": 4688,
            "filename": "keep.safetensors",
            "partial_path": "styles/keep.safetensors",
            "sha256": "8baaaaadea4195ef170439fd7f74484017c2f36147518cde1c2348f9b54bf2ad"
          }
        ],
        "limit": 100,
        "offset": 0,
        "total": 1
      },
      "status": 200
    }
    "#);

    let r = app.admin_json(
        "POST",
        "/api/v1/admin/bin/restore",
        r#"{"bin_path": "styles/keep.safetensors"}"#,
    );
    assert_json_snapshot!(r.snapshot(&app), @r#"
    {
      "body": {
        "bin_path": "styles/keep.safetensors",
        "file_path": "[DATA]/models/loras/styles/keep.safetensors",
        "partial_path": "styles/keep.safetensors",
        "restored": true,
        "timestamp": "[timestamp]"
      },
      "status": 200
    }
    "#);
    assert_eq!(
        std::fs::read(app.live().join("styles/keep.safetensors")).unwrap(),
        lora
    );
    assert_eq!(
        app.list("").json()["items"][0]["sha256"],
        "8baaaaadea4195ef170439fd7f74484017c2f36147518cde1c2348f9b54bf2ad",
        "the hash comes back with the file"
    );
}

#[test]
fn restore_clashes_purges_and_errors() {
    let app = spawn_app();
    for seed in [1, 2] {
        app.upload(&[
            file("x.safetensors", &st(seed)),
            Part::Text("entity_type", "clothes"),
        ]);
        app.delete(r#"{"partial_path": "clothes/x.safetensors"}"#);
    }
    app.upload(&[
        file("x.safetensors", &st(3)),
        Part::Text("entity_type", "clothes"),
    ]);

    let refused = app.admin_json(
        "POST",
        "/api/v1/admin/bin/restore",
        r#"{"bin_path": "clothes/x.safetensors", "use_safe_filename": false}"#,
    );
    assert_eq!(refused.status, 409);
    let r = app.admin_json(
        "POST",
        "/api/v1/admin/bin/restore",
        r#"{"bin_path": "clothes/x_v2.safetensors"}"#,
    );
    assert_eq!(r.json()["partial_path"], "clothes/x_v2.safetensors");
    assert_eq!(
        std::fs::read(app.live().join("clothes/x_v2.safetensors")).unwrap(),
        st(2)
    );

    let r = app.admin_json(
        "DELETE",
        "/api/v1/admin/bin",
        r#"{"bin_path": "clothes/x.safetensors"}"#,
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["purged"], 1);
    assert_eq!(r.json()["bytes_freed"], 4688);
    assert_eq!(
        app.admin_json(
            "DELETE",
            "/api/v1/admin/bin",
            r#"{"bin_path": "clothes/x.safetensors"}"#
        )
        .status,
        404
    );
    assert_eq!(
        app.admin_json(
            "POST",
            "/api/v1/admin/bin/restore",
            r#"{"bin_path": "clothes/x.safetensors"}"#
        )
        .status,
        404
    );
    assert_eq!(
        app.admin_json(
            "POST",
            "/api/v1/admin/bin/restore",
            r#"{"bin_path": "../../etc/passwd"}"#
        )
        .status,
        400
    );
    assert_eq!(
        app.admin_json("POST", "/api/v1/admin/bin/restore", r#"{"bin_path": 3}"#)
            .status,
        422
    );
    assert_eq!(
        app.admin_json(
            "POST",
            "/api/v1/admin/bin/restore",
            r#"{"bin_path": "clothes/a.pt", "use_safe_filename": "yes"}"#
        )
        .status,
        422
    );
    assert_eq!(
        app.admin_json(
            "POST",
            "/api/v1/admin/bin/purge",
            r#"{"before": "yesterday"}"#
        )
        .status,
        422
    );
    let user = format!("{}Content-Type: application/json\r\n", bearer(&app.user));
    assert_eq!(
        app.request("GET", "/api/v1/admin/bin", &user, b"").status,
        403
    );
    assert_eq!(
        app.request("POST", "/api/v1/admin/bin/purge", "", b"{}")
            .status,
        401
    );
}

#[test]
fn purge_before_removes_only_older_entries() {
    let app = spawn_app();
    app.upload(&[file("old.safetensors", &st(1))]);
    app.delete(r#"{"partial_path": "no_type_provided/old.safetensors"}"#);
    let r = app.admin_json(
        "POST",
        "/api/v1/admin/bin/purge",
        r#"{"before": "2000-01-01T00:00:00Z"}"#,
    );
    assert_eq!(r.json()["purged"], 0);
    let r = app.admin_json(
        "POST",
        "/api/v1/admin/bin/purge",
        r#"{"before": "2999-01-01T00:00:00Z"}"#,
    );
    assert_eq!(r.json()["purged"], 1);
    assert_eq!(
        app.request("GET", "/api/v1/admin/bin", &bearer(&app.admin), b"")
            .json()["total"],
        0
    );
}

#[test]
fn retention_purges_in_the_background() {
    let app = spawn_app_with(|s| s.with_bin_retention(Some(std::time::Duration::from_millis(500))));
    app.upload(&[file("gone.safetensors", &st(1))]);
    app.delete(r#"{"partial_path": "no_type_provided/gone.safetensors"}"#);
    let mut total = 1;
    for _ in 0..50 {
        total = app
            .request("GET", "/api/v1/admin/bin", &bearer(&app.admin), b"")
            .json()["total"]
            .as_u64()
            .unwrap();
        if total == 0 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(total, 0, "retention removed the entry within a few seconds");
}

#[test]
fn a_full_disk_is_507_and_leaves_nothing() {
    let app = spawn_app();
    app.store.fail_writes_after(Some(1000));
    let r = app.upload(&[file("big.safetensors", &st(1))]);
    assert_json_snapshot!(r.snapshot(&app), @r#"
    {
      "body": {
        "detail": "Insufficient storage: the data directory is full"
      },
      "status": 507
    }
    "#);
    assert!(app.staging_after_settling().is_empty());
    assert!(app.live_files().is_empty());
    app.store.fail_writes_after(None);
    assert_eq!(
        app.upload(&[file("big.safetensors", &st(1))]).status,
        200,
        "still serving"
    );
}

#[test]
fn a_missing_data_directory_is_503_and_health_degraded() {
    let app = spawn_app();
    std::fs::remove_dir_all(&app.data).unwrap();
    let health = app.request("GET", "/api/v1/evaluation/health", "", b"");
    assert_eq!(health.status, 200);
    assert_eq!(health.json()["status"], "degraded");
    assert_eq!(health.json()["storage"]["writable"], false);
    let r = app.upload(&[file("x.safetensors", &st(1))]);
    assert_eq!(r.status, 503);
    assert_eq!(
        r.json(),
        json!({"detail": "Service unavailable: the data directory cannot be written to"})
    );
}

/// An unmounted disk is never an empty store: with the data directory moved away while
/// running, every route that reads or changes the store answers 503 (a sync job must not
/// conclude every file was deleted), and nothing is recreated in its place.
#[test]
fn a_data_directory_moved_away_is_503_everywhere_and_nothing_is_recreated() {
    let app = spawn_app();
    let r = app.upload(&[
        file("a.safetensors", &st(1)),
        Part::Text("entity_type", "styles"),
    ]);
    assert_eq!(r.status, 200);
    let r = app.delete(r#"{"partial_path": "styles/a.safetensors"}"#);
    assert_eq!(r.status, 200);
    let r = app.upload(&[
        file("a.safetensors", &st(2)),
        Part::Text("entity_type", "styles"),
    ]);
    assert_eq!(r.status, 200);

    let moved = app
        .data
        .with_file_name(format!("{}-away", app.data.file_name().unwrap()));
    std::fs::rename(&app.data, &moved).unwrap();
    let cases = [
        ("GET", "/api/v1/admin/lora", ""),
        ("GET", "/api/v1/admin/bin", ""),
        (
            "DELETE",
            "/api/v1/admin/lora",
            r#"{"partial_path": "styles/a.safetensors"}"#,
        ),
        (
            "POST",
            "/api/v1/evaluation/",
            r#"{"partial_path": "styles/a.safetensors"}"#,
        ),
        (
            "POST",
            "/api/v1/admin/bin/restore",
            r#"{"bin_path": "styles/a.safetensors"}"#,
        ),
        (
            "DELETE",
            "/api/v1/admin/bin",
            r#"{"bin_path": "styles/a.safetensors"}"#,
        ),
        (
            "POST",
            "/api/v1/admin/bin/purge",
            r#"{"before": "2999-01-01T00:00:00Z"}"#,
        ),
    ];
    for (method, path, body) in cases {
        let r = app.admin_json(method, path, body);
        assert_eq!(r.status, 503, "{method} {path}: {:?}", r.json());
    }
    let r = app.upload(&[file("b.safetensors", &st(3))]);
    assert_eq!(r.status, 503);
    assert!(
        !app.data.exists(),
        "nothing is recreated in place of the data directory"
    );
    let health = app
        .request("GET", "/api/v1/evaluation/health", "", b"")
        .json();
    assert_eq!(health["status"], "degraded");

    // Mounted back: everything is where it was.
    std::fs::rename(&moved, &app.data).unwrap();
    let r = app.list("");
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["total"], 1);
}

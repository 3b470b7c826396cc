use std::fs;
use std::os::unix::fs::symlink;

use insta::assert_json_snapshot;
use serde_json::json;

use crate::helpers::*;

#[test]
fn listing_shows_uploaded_and_hand_placed_files_sorted() {
    let app = spawn_app();
    app.upload(&[
        file("b.safetensors", &st(1)),
        Part::Text("entity_type", "styles"),
    ]);
    fs::write(app.live().join("styles/a.ckpt"), b"hand").unwrap();
    fs::write(app.live().join("clothes/shirt.PT"), b"s").unwrap();
    fs::write(app.live().join("styles/.hidden.pt"), b"h").unwrap();
    fs::write(app.live().join("styles/readme.txt"), b"r").unwrap();
    fs::create_dir(app.live().join("styles/dir.pt")).unwrap();
    fs::write(app.staging().join(".upload-x.part"), b"partial").unwrap();

    let r = app.list("");
    assert_json_snapshot!(r.snapshot(&app), @r#"
    {
      "body": {
        "items": [
          {
            "entity_type": "clothes",
            "file_size": 1,
            "filename": "shirt.PT",
            "modified_at": "[timestamp]",
            "partial_path": "clothes/shirt.PT",
            "sha256": null
          },
          {
            "entity_type": "styles",
            "file_size": 4,
            "filename": "a.ckpt",
            "modified_at": "[timestamp]",
            "partial_path": "styles/a.ckpt",
            "sha256": null
          },
          {
            "base_model": "sd1",
            "entity_type": "styles",
            "file_size": 4688,
            "filename": "b.safetensors",
            "kind": "lora",
            "modified_at": "[timestamp]",
            "network_type": "lora",
            "partial_path": "styles/b.safetensors",
            "rank": 2,
            "sha256": "913adc91221f0a184c2c52aa6171ec0c858c29ed8a45b6ff1672fb02f2615bcd",
            "tensor_sha256": "88825b0426b8b0557e9365fecff13a93824f4c8e5ddbe03f5d9e8939c4b74995"
          }
        ],
        "limit": 100,
        "offset": 0,
        "total": 3
      },
      "status": 200
    }
    "#);
}

#[test]
fn listing_filters_and_pages() {
    let app = spawn_app();
    for i in 0..5 {
        fs::write(app.live().join(format!("identities/{i}.pt")), b"x").unwrap();
    }
    fs::write(app.live().join("styles/s.pt"), b"x").unwrap();
    let names = |r: &Resp| -> Vec<String> {
        r.json()["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["partial_path"].as_str().unwrap().to_owned())
            .collect()
    };
    let r = app.list("?entity_type=identities&limit=2&offset=1");
    assert_eq!(r.json()["total"], 5);
    assert_eq!(names(&r), ["identities/1.pt", "identities/2.pt"]);
    let r = app.list("?limit=3&offset=4");
    assert_eq!(r.json()["total"], 6);
    assert_eq!(names(&r), ["identities/4.pt", "styles/s.pt"]);
    assert_eq!(names(&app.list("?offset=100")), Vec::<String>::new());
    assert_eq!(app.list("?limit=0").json()["total"], 6);
    assert_eq!(app.list("?limit=1000").status, 200);
}

#[test]
fn bad_listing_queries_are_422() {
    let app = spawn_app();
    let r = app.list("?limit=1001&offset=-1&entity_type=nope");
    assert_json_snapshot!(r.snapshot(&app), @r#"
    {
      "body": {
        "detail": [
          {
            "loc": [
              "query",
              "entity_type"
            ],
            "msg": "Input should be 'clothes', 'faces', 'identities', 'no_type_provided', 'product', 'styles'",
            "type": "enum"
          },
          {
            "loc": [
              "query",
              "limit"
            ],
            "msg": "Input should be less than or equal to 1000",
            "type": "less_than_equal"
          },
          {
            "loc": [
              "query",
              "offset"
            ],
            "msg": "Input should be greater than or equal to 0",
            "type": "greater_than_equal"
          }
        ]
      },
      "status": 422
    }
    "#);
    assert_eq!(app.list("?limit=ten").status, 422);
}

#[test]
fn delete_moves_the_file_into_the_bin() {
    let app = spawn_app();
    app.admin_upload(&[
        file("Sh0ot1f1_01.safetensors", &st(2)),
        Part::Text("entity_type", "identities"),
    ]);
    let r = app.delete(r#"{"partial_path": "identities/Sh0ot1f1_01.safetensors"}"#);
    assert_json_snapshot!(r.snapshot(&app), @r#"
    {
      "body": {
        "bin_partial_path": "identities/Sh0ot1f1_01.safetensors",
        "bin_path": "[DATA]/bin/models/loras/identities/Sh0ot1f1_01.safetensors",
        "deleted": true,
        "full_path": "[DATA]/models/loras/identities/Sh0ot1f1_01.safetensors",
        "partial_path": "identities/Sh0ot1f1_01.safetensors",
        "timestamp": "[timestamp]"
      },
      "status": 200
    }
    "#);
    assert!(app.live_files().is_empty());
    assert_eq!(
        fs::read(app.bin().join("identities/Sh0ot1f1_01.safetensors")).unwrap(),
        st(2)
    );
    assert_eq!(app.list("").json()["total"], 0);
}

#[test]
fn the_bin_never_overwrites() {
    let app = spawn_app();
    let (one, two) = (st(1), st(2));
    for content in [&one, &two] {
        app.upload(&[
            file("same.safetensors", content),
            Part::Text("entity_type", "styles"),
        ]);
        let r = app.delete(r#"{"partial_path": "styles/same.safetensors"}"#);
        assert_eq!(r.status, 200);
    }
    assert_eq!(
        fs::read(app.bin().join("styles/same.safetensors")).unwrap(),
        one
    );
    assert_eq!(
        fs::read(app.bin().join("styles/same_v2.safetensors")).unwrap(),
        two
    );
}

#[test]
fn deleting_a_missing_file_is_404() {
    let app = spawn_app();
    let r = app.delete(r#"{"partial_path": "identities/nope.safetensors"}"#);
    assert_json_snapshot!(r.snapshot(&app), @r#"
    {
      "body": {
        "detail": "LoRA file not found: identities/nope.safetensors"
      },
      "status": 404
    }
    "#);
}

#[test]
fn hostile_partial_paths_are_400_and_touch_nothing() {
    let app = spawn_app();
    let outside = app.data.join("outside.pt");
    fs::write(&outside, b"keep me").unwrap();
    fs::write(app.live().join("styles/real.pt"), b"real").unwrap();
    symlink(&outside, app.live().join("styles/link.pt")).unwrap();
    symlink("/etc/passwd", app.live().join("styles/passwd.pt")).unwrap();
    fs::create_dir(app.live().join("styles/folder.pt")).unwrap();
    let hostile = [
        "/etc/passwd",
        "../../outside.pt",
        "styles/../../../outside.pt",
        "styles/../real.pt",
        "styles//real.pt",
        "styles/./real.pt",
        "styles\\real.pt",
        "styles/real.pt\u{0}",
        "",
        "styles",
        "styles/",
        "nope/real.pt",
        "styles/link.pt",
        "styles/passwd.pt",
        "styles/folder.pt",
    ];
    for path in hostile {
        let r = app.delete(&json!({ "partial_path": path }).to_string());
        assert_eq!(r.status, 400, "{path:?}: {:?}", r.json());
        assert!(r.json()["detail"].is_string());
    }
    assert_eq!(fs::read(&outside).unwrap(), b"keep me");
    assert_eq!(
        fs::read(app.live().join("styles/real.pt")).unwrap(),
        b"real"
    );
    assert!(files_under(&app.bin()).is_empty());
}

#[test]
fn delete_bodies_that_miss_the_schema_are_422() {
    let app = spawn_app();
    let r = app.delete(r#"{"path": "styles/x.pt"}"#);
    assert_json_snapshot!(r.snapshot(&app), @r#"
    {
      "body": {
        "detail": [
          {
            "loc": [
              "body",
              "partial_path"
            ],
            "msg": "Field required",
            "type": "missing"
          }
        ]
      },
      "status": 422
    }
    "#);
    for (body, kind) in [
        ("{not json", "json_invalid"),
        ("", "missing"),
        ("[]", "model_attributes_type"),
        ("\"styles/x.pt\"", "model_attributes_type"),
        (r#"{"partial_path": 42}"#, "string_type"),
        (r#"{"partial_path": null}"#, "string_type"),
    ] {
        let r = app.delete(body);
        assert_eq!(r.status, 422, "{body}");
        assert_eq!(r.json()["detail"][0]["type"], kind, "{body}");
    }
}

#[test]
fn an_oversized_delete_body_is_413() {
    let app = spawn_app();
    let body = format!(r#"{{"partial_path": "{}"}}"#, "a".repeat(100_000));
    assert_eq!(app.delete(&body).status, 413);
}

/// A link in the LoRA folders is listed when it leads to a file the routes can act on,
/// and survives the bin round trip: deleted (the link itself moves, dangling in the bin),
/// listed in the bin, restored (working again), purged. A link leading outside is not
/// listed, and the bin will not restore one.
#[test]
fn symlinks_make_the_bin_round_trip_and_escaping_links_are_not_listed() {
    let app = spawn_app();
    fs::write(app.live().join("styles/real.pt"), b"real").unwrap();
    symlink("real.pt", app.live().join("styles/link.pt")).unwrap();
    let outside = app.data.join("outside.pt");
    fs::write(&outside, b"outside").unwrap();
    symlink(&outside, app.live().join("styles/escape.pt")).unwrap();

    let names = |r: Resp| -> Vec<String> {
        r.json()["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["partial_path"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(names(app.list("")), ["styles/link.pt", "styles/real.pt"]);

    let r = app.delete(r#"{"partial_path": "styles/link.pt"}"#);
    assert_eq!(r.status, 200, "{:?}", r.json());
    let bin = || app.admin_json("GET", "/api/v1/admin/bin", "");
    assert_eq!(names(bin()), ["styles/link.pt"]);
    let r = app.admin_json(
        "POST",
        "/api/v1/admin/bin/restore",
        r#"{"bin_path": "styles/link.pt"}"#,
    );
    assert_eq!(r.status, 200, "{:?}", r.json());
    assert_eq!(
        fs::read(app.live().join("styles/link.pt")).unwrap(),
        b"real"
    );
    assert_eq!(names(app.list("")), ["styles/link.pt", "styles/real.pt"]);

    assert_eq!(
        app.delete(r#"{"partial_path": "styles/link.pt"}"#).status,
        200
    );
    let r = app.admin_json(
        "DELETE",
        "/api/v1/admin/bin",
        r#"{"bin_path": "styles/link.pt"}"#,
    );
    assert_eq!(r.status, 200, "{:?}", r.json());
    assert!(names(bin()).is_empty());
    assert_eq!(
        fs::read(app.live().join("styles/real.pt")).unwrap(),
        b"real"
    );

    // Put in the bin by hand, leading outside: listed there, but never restored.
    symlink(&outside, app.bin().join("styles/escape.pt")).unwrap();
    assert_eq!(names(bin()), ["styles/escape.pt"]);
    let r = app.admin_json(
        "POST",
        "/api/v1/admin/bin/restore",
        r#"{"bin_path": "styles/escape.pt"}"#,
    );
    assert_eq!(r.status, 400, "{:?}", r.json());
    // Retention removes binned links too (the link, never its target).
    let r = app.admin_json(
        "POST",
        "/api/v1/admin/bin/purge",
        r#"{"before": "2999-01-01T00:00:00Z"}"#,
    );
    assert_eq!(r.json()["purged"], 1, "{:?}", r.json());
    assert_eq!(fs::read(&outside).unwrap(), b"outside");
}

//! The recycle bin: round trips, collisions, purges, retention, restarts, and that no
//! sequence of operations loses or overwrites bytes.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::time::{Duration, SystemTime};

use camino::Utf8PathBuf;
use lora_core::{EntityType, PartialPath, SafeFileName, versioned_file_name};
use lora_store::{OnClash, Store, StoreError};
use proptest::prelude::*;

fn open(dir: &tempfile::TempDir) -> Store {
    Store::open(Utf8PathBuf::from_path_buf(dir.path().to_path_buf()).unwrap()).unwrap()
}

fn upload(store: &Store, name: &str, bytes: &[u8]) -> PartialPath {
    let mut staged = store.stage().unwrap();
    staged.write(bytes).unwrap();
    let staged = staged.finish().unwrap();
    store
        .publish(
            staged,
            EntityType::Styles,
            &SafeFileName::from_client(name).unwrap(),
            OnClash::Version,
        )
        .unwrap()
        .partial_path
}

fn pp(s: &str) -> PartialPath {
    PartialPath::parse(s).unwrap()
}

/// Every live file, as `entity/name`, as the disk has it.
fn live_names(dir: &tempfile::TempDir) -> std::collections::BTreeSet<String> {
    let mut names = std::collections::BTreeSet::new();
    for entity in EntityType::ALL {
        let d = dir.path().join("models/loras").join(entity.as_str());
        for e in fs::read_dir(&d).unwrap() {
            let name = e.unwrap().file_name().into_string().unwrap();
            names.insert(format!("{}/{name}", entity.as_str()));
        }
    }
    names
}

#[test]
fn delete_list_restore_round_trip_keeps_bytes_and_hash() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let path = upload(&store, "a.safetensors", b"precious weights");
    let sha = store.list(None, 0, 10).unwrap().items[0].sha256;
    let binned = store.delete(&path).unwrap();

    let bin = store.list_bin(None, 0, 10).unwrap();
    assert_eq!(bin.total, 1);
    let entry = &bin.items[0];
    assert_eq!(entry.original, path);
    assert_eq!(entry.bin_path, binned.bin_partial_path);
    assert_eq!(entry.sha256, sha);
    assert!(entry.deleted_at <= time::OffsetDateTime::now_utc());

    let restored = store.restore(&entry.bin_path, OnClash::Refuse).unwrap();
    assert_eq!(restored.partial_path, path);
    assert_eq!(fs::read(&restored.path).unwrap(), b"precious weights");
    assert_eq!(store.list_bin(None, 0, 10).unwrap().total, 0);
    assert_eq!(
        store.list(None, 0, 10).unwrap().items[0].sha256,
        sha,
        "the hash comes back too"
    );
}

#[test]
fn two_deletes_of_one_name_keep_both_and_restore_to_distinct_names() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    for content in [&b"first"[..], b"second"] {
        let p = upload(&store, "x.pt", content);
        store.delete(&p).unwrap();
    }
    let bin = store.list_bin(None, 0, 10).unwrap();
    let names: Vec<String> = bin.items.iter().map(|e| e.bin_path.to_string()).collect();
    assert_eq!(names, ["styles/x.pt", "styles/x_v2.pt"]);
    assert!(bin.items.iter().all(|e| e.original == pp("styles/x.pt")));

    // A live file of the same name now exists: refuse, or take a version.
    upload(&store, "x.pt", b"live");
    assert!(matches!(
        store.restore(&pp("styles/x.pt"), OnClash::Refuse),
        Err(StoreError::AlreadyExists { .. })
    ));
    let r1 = store.restore(&pp("styles/x.pt"), OnClash::Version).unwrap();
    let r2 = store
        .restore(&pp("styles/x_v2.pt"), OnClash::Version)
        .unwrap();
    assert_eq!(r1.partial_path, pp("styles/x_v2.pt"));
    assert_eq!(r2.partial_path, pp("styles/x_v3.pt"));
    assert_eq!(fs::read(&r1.path).unwrap(), b"first");
    assert_eq!(fs::read(&r2.path).unwrap(), b"second");
    assert_eq!(
        fs::read(dir.path().join("models/loras/styles/x.pt")).unwrap(),
        b"live"
    );
}

#[test]
fn purge_removes_exactly_what_it_should() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    for name in ["a.pt", "b.pt", "c.pt"] {
        let p = upload(&store, name, name.as_bytes());
        store.delete(&p).unwrap();
    }
    let purged = store.purge(&pp("styles/b.pt")).unwrap();
    assert_eq!((purged.files(), purged.bytes), (1, 4));
    assert!(matches!(
        store.purge(&pp("styles/b.pt")),
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        store.restore(&pp("styles/b.pt"), OnClash::Version),
        Err(StoreError::NotFound { .. })
    ));

    // Everything deleted before a second ago: nothing; before a second from now: the rest.
    let none = store
        .purge_before(SystemTime::now() - Duration::from_secs(60))
        .unwrap();
    assert_eq!(none.files(), 0);
    let rest = store
        .purge_before(SystemTime::now() + Duration::from_secs(1))
        .unwrap();
    assert_eq!(rest.files(), 2);
    assert_eq!(store.list_bin(None, 0, 10).unwrap().total, 0);
    assert_eq!(
        store.list(None, 0, 10).unwrap().total,
        0,
        "live files are never touched"
    );
}

#[test]
fn retention_purges_only_old_entries() {
    // An entry deleted an hour ago, as the journal on disk says (no waiting on the clock).
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(&dir);
        let p = upload(&store, "old.pt", b"old");
        store.delete(&p).unwrap();
    }
    let bin_file = dir.path().join("bin/models/loras/styles/old.pt");
    let ino = std::os::unix::fs::MetadataExt::ino(&fs::symlink_metadata(&bin_file).unwrap());
    let an_hour_ago = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - 3600;
    fs::write(
        dir.path().join(".lora-server/bin.jsonl"),
        format!(
            "{{\"bin\":\"styles/old.pt\",\"original\":\"styles/old.pt\",\"deleted_at\":{an_hour_ago},\"ino\":{ino}}}\n"
        ),
    )
    .unwrap();

    let store = open(&dir);
    let p = upload(&store, "new.pt", b"new");
    store.delete(&p).unwrap();
    let purged = store.apply_retention(Duration::from_secs(1800)).unwrap();
    assert_eq!(purged.files(), 1);
    let left: Vec<String> = store
        .list_bin(None, 0, 10)
        .unwrap()
        .items
        .iter()
        .map(|e| e.bin_path.to_string())
        .collect();
    assert_eq!(left, ["styles/new.pt"]);
}

#[test]
fn the_journal_survives_restarts_and_the_disk_stays_the_truth() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(&dir);
        let p = upload(&store, "kept.pt", b"k");
        let renamed = store.publish(
            {
                let mut s = store.stage().unwrap();
                s.write(b"r").unwrap();
                s.finish().unwrap()
            },
            EntityType::Faces,
            &SafeFileName::from_client("face.pt").unwrap(),
            OnClash::Version,
        );
        store.delete(&p).unwrap();
        store.delete(&renamed.unwrap().partial_path).unwrap();
    }
    // By hand while the service is down: one binned file removed, one placed.
    fs::remove_file(dir.path().join("bin/models/loras/faces/face.pt")).unwrap();
    fs::write(dir.path().join("bin/models/loras/clothes/hand.pt"), b"h").unwrap();

    let store = open(&dir);
    assert_eq!(store.recovery().stale_bin_records, 1);
    let bin = store.list_bin(None, 0, 10).unwrap();
    let got: Vec<(String, String)> = bin
        .items
        .iter()
        .map(|e| (e.bin_path.to_string(), e.original.to_string()))
        .collect();
    assert_eq!(
        got,
        [
            ("clothes/hand.pt".to_owned(), "clothes/hand.pt".to_owned()),
            ("styles/kept.pt".to_owned(), "styles/kept.pt".to_owned()),
        ]
    );
    let restored = store
        .restore(&pp("clothes/hand.pt"), OnClash::Refuse)
        .unwrap();
    assert_eq!(fs::read(restored.path).unwrap(), b"h");
}

#[test]
fn bin_paths_cannot_escape_the_bin() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let outside = dir.path().join("secret.pt");
    fs::write(&outside, b"secret").unwrap();
    std::os::unix::fs::symlink(&outside, dir.path().join("bin/models/loras/styles/link.pt"))
        .unwrap();
    fs::create_dir(dir.path().join("bin/models/loras/styles/folder.pt")).unwrap();
    for p in ["styles/link.pt", "styles/folder.pt"] {
        assert!(
            matches!(
                store.restore(&pp(p), OnClash::Version),
                Err(StoreError::InvalidPath { .. })
            ),
            "{p}"
        );
    }
    assert!(
        matches!(
            store.purge(&pp("styles/folder.pt")),
            Err(StoreError::InvalidPath { .. })
        ),
        "a folder is no bin entry"
    );
    // A link in the bin is only ever removed itself, never followed.
    assert_eq!(store.purge(&pp("styles/link.pt")).unwrap().files(), 1);
    assert!(!dir.path().join("bin/models/loras/styles/link.pt").exists());
    assert_eq!(fs::read(&outside).unwrap(), b"secret");
}

#[test]
fn restore_and_upload_racing_for_one_name_never_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let store = std::sync::Arc::new(open(&dir));
    let p = upload(&store, "race.pt", b"binned");
    store.delete(&p).unwrap();
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(2));
    let (s1, b1) = (
        std::sync::Arc::clone(&store),
        std::sync::Arc::clone(&barrier),
    );
    let restorer = std::thread::spawn(move || {
        b1.wait();
        s1.restore(&pp("styles/race.pt"), OnClash::Refuse)
            .map(|r| r.partial_path)
    });
    let staged = {
        let mut s = store.stage().unwrap();
        s.write(b"uploaded").unwrap();
        s.finish().unwrap()
    };
    barrier.wait();
    let uploaded = store.publish(
        staged,
        EntityType::Styles,
        &SafeFileName::from_client("race.pt").unwrap(),
        OnClash::Refuse,
    );
    let restored = restorer.join().unwrap();
    // Exactly one took the name; the other was refused for it and kept its bytes where
    // they were.
    assert!(uploaded.is_ok() != restored.is_ok());
    let refused = match (&uploaded, &restored) {
        (Err(e), _) => e,
        (_, Err(e)) => e,
        _ => unreachable!(),
    };
    assert!(
        matches!(refused, StoreError::AlreadyExists { path } if *path == pp("styles/race.pt")),
        "{refused:?}"
    );
    let live = fs::read(dir.path().join("models/loras/styles/race.pt")).unwrap();
    if restored.is_ok() {
        assert_eq!(live, b"binned");
    } else {
        assert_eq!(live, b"uploaded");
        assert_eq!(
            fs::read(dir.path().join("bin/models/loras/styles/race.pt")).unwrap(),
            b"binned"
        );
    }
}

#[derive(Debug, Clone)]
enum Op {
    Upload(usize),
    Delete(usize),
    Restore(usize, bool),
    Purge(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0usize..3).prop_map(Op::Upload),
        (0usize..4).prop_map(Op::Delete),
        (0usize..4, any::<bool>()).prop_map(|(i, v)| Op::Restore(i, v)),
        (0usize..4).prop_map(Op::Purge),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// Whatever the sequence, every uploaded body is either live, in the bin, or was
    /// purged: nothing is lost or overwritten, and nothing leaves the data directory.
    #[test]
    fn no_sequence_loses_or_overwrites_bytes(ops in prop::collection::vec(op(), 1..30)) {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir);
        let names = ["a.pt", "a_v2.pt", "b.safetensors"];
        let mut expected: Vec<Vec<u8>> = Vec::new();
        for (i, op) in ops.into_iter().enumerate() {
            match op {
                Op::Upload(n) => {
                    let body = format!("body {i}").into_bytes();
                    upload(&store, names[n], &body);
                    expected.push(body);
                }
                Op::Delete(k) => {
                    let live = store.list(None, 0, 100).unwrap();
                    if let Some(item) = live.items.get(k) {
                        store.delete(&item.partial_path).unwrap();
                    }
                }
                Op::Restore(k, version) => {
                    let bin = store.list_bin(None, 0, 100).unwrap();
                    if let Some(e) = bin.items.get(k) {
                        let binned = fs::read(
                            dir.path().join("bin/models/loras").join(e.bin_path.to_string()),
                        )
                        .unwrap();
                        let live = live_names(&dir);
                        let taken = live.contains(&e.original.to_string());
                        // Versioning takes the first free of name, name_v2, …; it never
                        // refuses. Refusing refuses exactly when the name is taken.
                        let free = (1..)
                            .map(|n| {
                                PartialPath::from_parts(
                                    e.original.entity(),
                                    &versioned_file_name(e.original.file_name(), n),
                                )
                                .unwrap()
                            })
                            .find(|p| !live.contains(&p.to_string()))
                            .unwrap();
                        let on_clash = if version { OnClash::Version } else { OnClash::Refuse };
                        match store.restore(&e.bin_path, on_clash) {
                            Ok(r) if version || !taken => {
                                prop_assert_eq!(&r.partial_path, &free);
                                prop_assert_eq!(fs::read(&r.path).unwrap(), binned);
                            }
                            Err(StoreError::AlreadyExists { path }) if !version && taken => {
                                prop_assert_eq!(&path, &e.original);
                            }
                            other => prop_assert!(
                                false,
                                "restore of {} to {} (taken: {taken}, versioned: {version}): {other:?}",
                                e.bin_path,
                                e.original
                            ),
                        }
                    }
                }
                Op::Purge(k) => {
                    let bin = store.list_bin(None, 0, 100).unwrap();
                    if let Some(e) = bin.items.get(k) {
                        let bytes = fs::read(dir.path().join("bin/models/loras").join(e.bin_path.to_string())).unwrap();
                        store.purge(&e.bin_path).unwrap();
                        let at = expected.iter().position(|b| *b == bytes).unwrap();
                        expected.remove(at);
                    }
                }
            }
        }
        let mut found: Vec<Vec<u8>> = Vec::new();
        for root in ["models/loras", "bin/models/loras"] {
            for entity in EntityType::ALL {
                let d = dir.path().join(root).join(entity.as_str());
                for e in fs::read_dir(&d).unwrap() {
                    found.push(fs::read(e.unwrap().path()).unwrap());
                }
            }
        }
        found.sort();
        expected.sort();
        prop_assert_eq!(found, expected);
    }
}

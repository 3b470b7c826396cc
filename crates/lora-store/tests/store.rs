//! The store's promises, checked on real temporary directories.
#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::fs;
use std::sync::{Arc, Barrier};

use camino::{Utf8Path, Utf8PathBuf};
use lora_core::{EntityType, PartialPath, SafeFileName, Sha256};
use lora_store::{OnClash, Store, StoreError};
use proptest::prelude::*;
use tempfile::TempDir;

fn open() -> (TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(utf8(dir.path())).unwrap();
    (dir, store)
}

fn utf8(p: &std::path::Path) -> Utf8PathBuf {
    Utf8PathBuf::from_path_buf(p.to_path_buf()).unwrap()
}

fn upload(
    store: &Store,
    entity: EntityType,
    name: &str,
    bytes: &[u8],
    on_clash: OnClash,
) -> Result<lora_store::Published, StoreError> {
    let mut staged = store.stage()?;
    for chunk in bytes.chunks(7) {
        staged.write(chunk)?;
    }
    let staged = staged.finish()?;
    store.publish(
        staged,
        entity,
        &SafeFileName::from_client(name).unwrap(),
        on_clash,
    )
}

fn files_in(dir: &Utf8Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

#[test]
fn staged_bytes_are_invisible_until_published() {
    let (_dir, store) = open();
    let live = store.layout().entity_dir(EntityType::Identities);
    let mut staged = store.stage().unwrap();
    staged.write(b"half").unwrap();
    assert!(files_in(&live).is_empty());
    assert_eq!(files_in(&store.layout().staging_dir()).len(), 1);
    staged.write(b" and the rest").unwrap();
    let staged = staged.finish().unwrap();
    assert_eq!(staged.len(), 17);
    let name = SafeFileName::from_client("x.safetensors").unwrap();
    let published = store
        .publish(staged, EntityType::Identities, &name, OnClash::Version)
        .unwrap();
    assert_eq!(fs::read(&published.path).unwrap(), b"half and the rest");
    assert_eq!(files_in(&live), ["x.safetensors"]);
    assert!(files_in(&store.layout().staging_dir()).is_empty());
}

#[test]
fn the_hash_is_the_sha256_of_the_bytes() {
    let (_dir, store) = open();
    let p = upload(&store, EntityType::Styles, "a.pt", b"abc", OnClash::Version).unwrap();
    assert_eq!(
        p.sha256.to_hex(),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    assert_eq!(p.len, 3);
}

#[test]
fn a_large_upload_written_back_while_arriving_is_complete() {
    // 40 MiB: several background write-backs start before the closing fsync, and the
    // hashing moves to its own thread part-way; shared and borrowed chunks mix.
    let (_dir, store) = open();
    let block: Vec<u8> = (0..=255u8).cycle().take(1 << 20).collect();
    let mut staged = store.stage().unwrap();
    for i in 0..40u8 {
        let mut b = block.clone();
        b[0] = i;
        if i % 2 == 0 {
            staged.write(&b).unwrap();
        } else {
            staged.write_bytes(bytes::Bytes::from(b)).unwrap();
        }
    }
    let staged = staged.finish().unwrap();
    assert_eq!(staged.len(), 40 << 20);
    let p = store
        .publish(
            staged,
            EntityType::Styles,
            &SafeFileName::from_client("big.safetensors").unwrap(),
            OnClash::Version,
        )
        .unwrap();
    let bytes = fs::read(&p.path).unwrap();
    assert_eq!(bytes.len(), 40 << 20);
    assert!((0..40u8).all(|i| bytes[usize::from(i) << 20] == i));
    use sha2::Digest;
    assert_eq!(
        *p.sha256.as_bytes(),
        <[u8; 32]>::from(sha2::Sha256::digest(&bytes))
    );
}

#[test]
fn dropping_an_unfinished_upload_leaves_nothing() {
    let (_dir, store) = open();
    let mut staged = store.stage().unwrap();
    staged.write(&[1; 4096]).unwrap();
    drop(staged);
    let staged = {
        let mut s = store.stage().unwrap();
        s.write(b"x").unwrap();
        s.finish().unwrap()
    };
    drop(staged);
    assert!(files_in(&store.layout().staging_dir()).is_empty());
    assert_eq!(store.list(None, 0, 100).unwrap().total, 0);
}

#[test]
fn taken_names_get_the_first_free_version() {
    let (_dir, store) = open();
    let mut got = Vec::new();
    for i in 0..4 {
        let p = upload(
            &store,
            EntityType::Clothes,
            "shirt.safetensors",
            &[i],
            OnClash::Version,
        )
        .unwrap();
        got.push(p.partial_path.to_string());
    }
    assert_eq!(
        got,
        [
            "clothes/shirt.safetensors",
            "clothes/shirt_v2.safetensors",
            "clothes/shirt_v3.safetensors",
            "clothes/shirt_v4.safetensors"
        ]
    );
    // A freed lower version is the first free one again.
    store
        .delete(&PartialPath::parse("clothes/shirt_v2.safetensors").unwrap())
        .unwrap();
    let p = upload(
        &store,
        EntityType::Clothes,
        "shirt.safetensors",
        b"again",
        OnClash::Version,
    )
    .unwrap();
    assert_eq!(p.partial_path.to_string(), "clothes/shirt_v2.safetensors");
}

#[test]
fn remembered_versions_pass_over_hand_placed_files_and_reuse_deleted_ones() {
    let (_dir, store) = open();
    let up = |bytes: &[u8]| {
        upload(
            &store,
            EntityType::Clothes,
            "shirt.safetensors",
            bytes,
            OnClash::Version,
        )
        .unwrap()
        .partial_path
        .to_string()
    };
    for i in 0..4 {
        up(&[i]);
    }
    // Placed by hand where the remembered search would go next: passed over, kept.
    let clothes = store.layout().entity_dir(EntityType::Clothes);
    fs::write(clothes.join("shirt_v5.safetensors"), b"by hand").unwrap();
    assert_eq!(up(b"a"), "clothes/shirt_v6.safetensors");
    assert_eq!(
        fs::read(clothes.join("shirt_v5.safetensors")).unwrap(),
        b"by hand"
    );
    // Freed through the store: the first free version again, then on past the rest.
    store
        .delete(&PartialPath::parse("clothes/shirt_v3.safetensors").unwrap())
        .unwrap();
    assert_eq!(up(b"b"), "clothes/shirt_v3.safetensors");
    assert_eq!(up(b"c"), "clothes/shirt_v7.safetensors");
    assert_eq!(up(b"d"), "clothes/shirt_v8.safetensors");
}

#[test]
fn refusing_to_version_keeps_the_existing_file() {
    let (_dir, store) = open();
    let first = upload(
        &store,
        EntityType::Clothes,
        "a.bin",
        b"first",
        OnClash::Refuse,
    )
    .unwrap();
    let err = upload(
        &store,
        EntityType::Clothes,
        "a.bin",
        b"second",
        OnClash::Refuse,
    )
    .unwrap_err();
    assert!(
        matches!(err, StoreError::AlreadyExists { ref path } if path.to_string() == "clothes/a.bin"),
        "{err:?}"
    );
    assert_eq!(fs::read(first.path).unwrap(), b"first");
    assert!(files_in(&store.layout().staging_dir()).is_empty());
}

#[test]
fn twenty_racing_uploads_of_one_name_make_twenty_complete_files() {
    let (_dir, store) = open();
    let store = Arc::new(store);
    let barrier = Arc::new(Barrier::new(20));
    let handles: Vec<_> = (0..20u8)
        .map(|i| {
            let store = Arc::clone(&store);
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                let body = vec![i; 10_000 + usize::from(i)];
                let mut staged = store.stage().unwrap();
                staged.write(&body).unwrap();
                let staged = staged.finish().unwrap();
                barrier.wait();
                let name = SafeFileName::from_client("race.safetensors").unwrap();
                let p = store
                    .publish(staged, EntityType::Product, &name, OnClash::Version)
                    .unwrap();
                (p, body)
            })
        })
        .collect();
    let mut names = HashSet::new();
    for h in handles {
        let (p, body) = h.join().unwrap();
        assert_eq!(
            fs::read(&p.path).unwrap(),
            body,
            "{} holds another writer's bytes",
            p.path
        );
        assert!(names.insert(p.partial_path.to_string()));
    }
    assert_eq!(names.len(), 20);
    assert_eq!(
        files_in(&store.layout().entity_dir(EntityType::Product)).len(),
        20
    );
    assert!(files_in(&store.layout().staging_dir()).is_empty());
}

#[test]
fn racing_uploads_without_versioning_have_exactly_one_winner() {
    let (_dir, store) = open();
    let store = Arc::new(store);
    let barrier = Arc::new(Barrier::new(12));
    let handles: Vec<_> = (0..12u8)
        .map(|i| {
            let store = Arc::clone(&store);
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                let mut staged = store.stage().unwrap();
                staged.write(&[i; 5000]).unwrap();
                let staged = staged.finish().unwrap();
                barrier.wait();
                let name = SafeFileName::from_client("one.pt").unwrap();
                store
                    .publish(staged, EntityType::Styles, &name, OnClash::Refuse)
                    .map(|_| i)
            })
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let winners: Vec<u8> = results
        .iter()
        .filter_map(|r| r.as_ref().ok().copied())
        .collect();
    assert_eq!(winners.len(), 1);
    assert!(
        results
            .iter()
            .filter(|r| r.is_err())
            .all(|r| matches!(r, Err(StoreError::AlreadyExists { .. })))
    );
    let stored = fs::read(store.layout().entity_dir(EntityType::Styles).join("one.pt")).unwrap();
    assert_eq!(stored, vec![winners[0]; 5000]);
    assert!(files_in(&store.layout().staging_dir()).is_empty());
}

#[test]
fn deletes_move_into_the_bin_without_overwriting() {
    let (_dir, store) = open();
    let path = PartialPath::parse("identities/Sh0ot1f1_01.safetensors").unwrap();
    for round in 0..3u8 {
        upload(
            &store,
            EntityType::Identities,
            "Sh0ot1f1_01.safetensors",
            &[round; 10],
            OnClash::Refuse,
        )
        .unwrap();
        let binned = store.delete(&path).unwrap();
        assert_eq!(fs::read(&binned.bin_path).unwrap(), [round; 10]);
        assert!(!binned.live_path.exists());
    }
    assert_eq!(
        files_in(&store.layout().bin_entity_dir(EntityType::Identities)),
        [
            "Sh0ot1f1_01.safetensors",
            "Sh0ot1f1_01_v2.safetensors",
            "Sh0ot1f1_01_v3.safetensors"
        ]
    );
    assert!(matches!(
        store.delete(&path),
        Err(StoreError::NotFound { .. })
    ));
}

#[test]
fn racing_deletes_of_one_file_have_one_winner() {
    let (_dir, store) = open();
    upload(&store, EntityType::Styles, "x.pt", b"x", OnClash::Refuse).unwrap();
    let store = Arc::new(store);
    let barrier = Arc::new(Barrier::new(8));
    let results: Vec<_> = (0..8)
        .map(|_| {
            let store = Arc::clone(&store);
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                store.delete(&PartialPath::parse("styles/x.pt").unwrap())
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|h| h.join().unwrap())
        .collect();
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1);
    assert!(
        results
            .iter()
            .filter(|r| r.is_err())
            .all(|r| matches!(r, Err(StoreError::NotFound { .. })))
    );
    assert_eq!(
        files_in(&store.layout().bin_entity_dir(EntityType::Styles)),
        ["x.pt"]
    );
}

#[test]
fn resolve_refuses_directories_escapes_and_missing_files() {
    let (dir, store) = open();
    let loras = store.layout().entity_dir(EntityType::Identities);
    let outside = utf8(dir.path()).join("secret.pt");
    fs::write(&outside, b"outside").unwrap();
    fs::write(loras.join("real.pt"), b"inside").unwrap();
    std::os::unix::fs::symlink(&outside, loras.join("escape.pt")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", loras.join("passwd.pt")).unwrap();
    std::os::unix::fs::symlink(loras.join("real.pt"), loras.join("alias.pt")).unwrap();
    std::os::unix::fs::symlink(loras.join("gone.pt"), loras.join("dangling.pt")).unwrap();
    fs::create_dir(loras.join("dir.pt")).unwrap();

    let resolve = |p: &str| store.resolve(&PartialPath::parse(p).unwrap());
    assert!(resolve("identities/real.pt").is_ok());
    assert!(resolve("identities/alias.pt").is_ok());
    for p in [
        "identities/escape.pt",
        "identities/passwd.pt",
        "identities/dir.pt",
    ] {
        assert!(
            matches!(resolve(p), Err(StoreError::InvalidPath { .. })),
            "{p}"
        );
    }
    for p in ["identities/missing.pt", "identities/dangling.pt"] {
        assert!(
            matches!(resolve(p), Err(StoreError::NotFound { .. })),
            "{p}"
        );
    }
    assert!(
        store
            .delete(&PartialPath::parse("identities/escape.pt").unwrap())
            .is_err()
    );
    assert_eq!(fs::read(&outside).unwrap(), b"outside");
}

#[test]
fn listing_includes_hand_placed_files_and_leaves_out_the_rest() {
    let (_dir, store) = open();
    let layout = store.layout().clone();
    let uploaded = upload(
        &store,
        EntityType::Styles,
        "b.safetensors",
        b"bb",
        OnClash::Version,
    )
    .unwrap();
    fs::write(layout.entity_dir(EntityType::Styles).join("a.ckpt"), b"a").unwrap();
    fs::write(layout.entity_dir(EntityType::Clothes).join("c.PT"), b"c").unwrap();
    fs::write(
        layout.entity_dir(EntityType::Styles).join(".hidden.pt"),
        b"h",
    )
    .unwrap();
    fs::write(
        layout.entity_dir(EntityType::Styles).join("notes.txt"),
        b"n",
    )
    .unwrap();
    fs::create_dir(layout.entity_dir(EntityType::Styles).join("folder.pt")).unwrap();
    fs::write(layout.loras_root().join("top.pt"), b"t").unwrap();

    let listing = store.list(None, 0, 100).unwrap();
    let paths: Vec<String> = listing
        .items
        .iter()
        .map(|i| i.partial_path.to_string())
        .collect();
    assert_eq!(
        paths,
        ["clothes/c.PT", "styles/a.ckpt", "styles/b.safetensors"]
    );
    assert_eq!(listing.total, 3);
    assert_eq!(listing.items[2].sha256, Some(uploaded.sha256));
    assert_eq!(
        listing.items[1].sha256, None,
        "hand-placed files are not hashed"
    );
    assert_eq!(listing.items[1].len, 1);

    let styles = store.list(Some(EntityType::Styles), 1, 1).unwrap();
    assert_eq!(styles.total, 2);
    assert_eq!(styles.items.len(), 1);
    assert_eq!(
        styles.items[0].partial_path.to_string(),
        "styles/b.safetensors"
    );
    let page = store.list(None, 1, 1).unwrap();
    assert_eq!(page.items[0].partial_path.to_string(), "styles/a.ckpt");
    assert!(store.list(None, 10, 10).unwrap().items.is_empty());
}

#[test]
fn listing_sees_changes_made_right_after_a_listing() {
    let (_dir, store) = open();
    let styles = store.layout().entity_dir(EntityType::Styles);
    for i in 0..50 {
        assert_eq!(store.list(None, 0, 1000).unwrap().total, i);
        fs::write(styles.join(format!("f{i:03}.pt")), b"x").unwrap();
    }
    fs::remove_file(styles.join("f000.pt")).unwrap();
    assert_eq!(store.list(None, 0, 1000).unwrap().total, 49);
}

#[test]
fn examine_gives_the_remembered_hash_of_exactly_this_version() {
    let (_dir, store) = open();
    let up = upload(
        &store,
        EntityType::Styles,
        "a.safetensors",
        b"weights",
        OnClash::Version,
    )
    .unwrap();
    let seen = store.examine(&up.partial_path).unwrap();
    assert_eq!(seen.sha256, Some(up.sha256));
    assert_eq!((seen.path.clone(), seen.len), (up.path.clone(), 7));
    assert!(store.unchanged(&up.partial_path, &seen));

    // Deleted and uploaded again under the same name: another version, another answer.
    store.delete(&up.partial_path).unwrap();
    let again = upload(
        &store,
        EntityType::Styles,
        "a.safetensors",
        b"other weights",
        OnClash::Version,
    )
    .unwrap();
    assert_eq!(again.partial_path, up.partial_path);
    assert!(!store.unchanged(&up.partial_path, &seen));
    assert!(!store.remember_sha256(&up.partial_path, &seen, up.sha256));
    assert_eq!(
        store.examine(&up.partial_path).unwrap().sha256,
        Some(again.sha256)
    );

    // A hand-placed file: unknown until a caller hashes it and the store remembers.
    let placed = PartialPath::parse("faces/placed.pt").unwrap();
    fs::write(store.layout().live_path(&placed), b"x").unwrap();
    let seen = store.examine(&placed).unwrap();
    assert_eq!(seen.sha256, None);
    let ab = Sha256::parse_hex(&"ab".repeat(32)).unwrap();
    assert!(store.remember_sha256(&placed, &seen, ab));
    assert_eq!(store.examine(&placed).unwrap().sha256, Some(ab));
    let listed = store.list(Some(EntityType::Faces), 0, 10).unwrap();
    assert_eq!(listed.items[0].sha256, Some(ab));

    assert!(matches!(
        store.examine(&PartialPath::parse("faces/missing.pt").unwrap()),
        Err(StoreError::NotFound { .. })
    ));
}

#[test]
fn hashes_survive_a_restart_but_never_go_stale() {
    let dir = tempfile::tempdir().unwrap();
    let root = utf8(dir.path());
    let (kept, changed) = {
        let store = Store::open(root.clone()).unwrap();
        let kept = upload(
            &store,
            EntityType::Faces,
            "kept.pt",
            b"kept",
            OnClash::Version,
        )
        .unwrap();
        let changed = upload(
            &store,
            EntityType::Faces,
            "changed.pt",
            b"before",
            OnClash::Version,
        )
        .unwrap();
        (kept, changed)
    };
    // Rewritten behind the service's back while it was down (a new size: a new stamp,
    // whatever the clock's resolution).
    fs::write(&changed.path, b"after, and longer").unwrap();

    let store = Store::open(root).unwrap();
    assert_eq!(store.recovery().stale_hashes, 1);
    let listing = store.list(Some(EntityType::Faces), 0, 10).unwrap();
    let sha = |name: &str| {
        listing
            .items
            .iter()
            .find(|i| i.partial_path.file_name() == name)
            .unwrap()
            .sha256
    };
    assert_eq!(sha("kept.pt"), Some(kept.sha256));
    assert_eq!(sha("changed.pt"), None);

    // Changed while running: the same rule applies at once.
    fs::write(&kept.path, b"tampered").unwrap();
    let listing = store.list(Some(EntityType::Faces), 0, 10).unwrap();
    assert!(listing.items.iter().all(|i| i.sha256.is_none()));
}

#[test]
fn open_removes_staging_leftovers_and_takes_a_lock() {
    let dir = tempfile::tempdir().unwrap();
    let root = utf8(dir.path());
    {
        let store = Store::open(root.clone()).unwrap();
        assert!(matches!(
            Store::open(root.clone()),
            Err(StoreError::Locked { .. })
        ));
        let mut staged = store.stage().unwrap();
        staged.write(b"partial").unwrap();
        // Simulate a crash: the staging file outlives the process.
        std::mem::forget(staged);
        fs::write(
            store.layout().staging_dir().join(".upload-junk.part"),
            b"junk",
        )
        .unwrap();
    }
    let store = Store::open(root).unwrap();
    assert_eq!(store.recovery().staging_removed, 2);
    assert!(files_in(&store.layout().staging_dir()).is_empty());
}

#[test]
fn health_reports_a_writable_store_with_free_space() {
    let (_dir, store) = open();
    let health = store.health();
    assert!(health.writable);
    assert!(health.free_bytes > 0);
    assert!(
        files_in(&store.layout().staging_dir()).is_empty(),
        "the probe cleans up"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Whatever sequence of uploads and deletes, no bytes are ever lost: every upload's
    /// bytes end up either live or in the bin, each under its own name.
    #[test]
    fn uploads_and_deletes_never_lose_bytes(ops in prop::collection::vec((0usize..3, any::<bool>()), 1..25)) {
        let (_dir, store) = open();
        let names = ["a.pt", "a_v2.pt", "b.safetensors"];
        let mut written = Vec::new();
        for (i, (which, delete)) in ops.into_iter().enumerate() {
            let body = format!("upload {i}").into_bytes();
            let p = upload(&store, EntityType::Styles, names[which], &body, OnClash::Version).unwrap();
            written.push(body);
            if delete {
                store.delete(&p.partial_path).unwrap();
            }
        }
        let mut found = Vec::new();
        for dir in [store.layout().entity_dir(EntityType::Styles), store.layout().bin_entity_dir(EntityType::Styles)] {
            for name in files_in(&dir) {
                found.push(fs::read(dir.join(name)).unwrap());
            }
        }
        found.sort();
        written.sort();
        prop_assert_eq!(found, written);
    }
}

/// Collects what a tap sees, and says when it ended.
struct Seen(Arc<std::sync::Mutex<(Vec<u8>, bool)>>);

impl lora_store::Tap for Seen {
    fn see(&mut self, chunk: &[u8]) {
        self.0.lock().unwrap().0.extend_from_slice(chunk);
    }

    fn end(self: Box<Self>) {
        self.0.lock().unwrap().1 = true;
    }
}

#[test]
fn a_tap_sees_every_byte_in_order_and_ends_before_finish_returns() {
    let (_dir, store) = open();
    // Small (hashed inline) and large (hashed, and tapped, on a thread of its own).
    for len in [10usize, 9 << 20] {
        let bytes: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
        let seen = Arc::new(std::sync::Mutex::new((Vec::new(), false)));
        let mut staged = store
            .stage()
            .unwrap()
            .tapped(Box::new(Seen(Arc::clone(&seen))));
        for chunk in bytes.chunks(64 << 10) {
            staged
                .write_bytes(bytes::Bytes::copy_from_slice(chunk))
                .unwrap();
        }
        let finished = staged.finish().unwrap();
        let (got, ended) = &*seen.lock().unwrap();
        assert!(*ended, "{len} bytes: ended before finish returned");
        assert!(got == &bytes, "{len} bytes: seen whole and in order");
        drop(finished);
    }
    // An upload dropped unfinished never ends its tap.
    let seen = Arc::new(std::sync::Mutex::new((Vec::new(), false)));
    let mut staged = store
        .stage()
        .unwrap()
        .tapped(Box::new(Seen(Arc::clone(&seen))));
    staged.write(b"partial").unwrap();
    drop(staged);
    assert!(!seen.lock().unwrap().1);
}

#[test]
fn the_tensor_hash_is_remembered_through_restarts_the_bin_and_restores() {
    let dir = tempfile::tempdir().unwrap();
    let root = utf8(dir.path());
    let tensor = Sha256::from_bytes([7; 32]);
    let path = {
        let store = Store::open(root.clone()).unwrap();
        let mut staged = store.stage().unwrap();
        staged.write(b"weights").unwrap();
        let staged = staged.finish().unwrap().with_tensor_sha256(Some(tensor));
        let name = SafeFileName::from_client("t.safetensors").unwrap();
        let published = store
            .publish(staged, EntityType::Styles, &name, OnClash::Version)
            .unwrap();
        assert_eq!(published.tensor_sha256, Some(tensor));
        published.partial_path
    };
    let store = Store::open(root).unwrap();
    assert_eq!(store.examine(&path).unwrap().tensor_sha256, Some(tensor));
    let binned = store.delete(&path).unwrap();
    let entry = store.list_bin(None, 0, 10).unwrap().items.remove(0);
    assert_eq!(entry.tensor_sha256, Some(tensor));
    let restored = store
        .restore(&binned.bin_partial_path, OnClash::Version)
        .unwrap();
    assert_eq!(
        store.examine(&restored.partial_path).unwrap().tensor_sha256,
        Some(tensor)
    );
}

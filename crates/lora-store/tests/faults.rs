//! Faults: a full disk (simulated, and real on a small tmpfs when the test may mount one),
//! a read-only data directory, and a data directory removed under a running store.
#![allow(clippy::unwrap_used)]

use std::process::Command;

use camino::Utf8PathBuf;
use lora_core::{EntityType, SafeFileName};
use lora_store::{OnClash, Store, StoreError};

fn staging_files(store: &Store) -> usize {
    std::fs::read_dir(store.layout().staging_dir())
        .map(|d| d.count())
        .unwrap_or(0)
}

#[test]
fn a_full_disk_fails_the_write_and_leaves_no_staging_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(Utf8PathBuf::from_path_buf(dir.path().to_path_buf()).unwrap()).unwrap();
    store.fail_writes_after(Some(10_000));
    let mut staged = store.stage().unwrap();
    staged.write(&[1; 8_000]).unwrap();
    let err = staged.write(&[1; 8_000]).unwrap_err();
    assert!(matches!(err, StoreError::StorageFull { .. }), "{err:?}");
    drop(staged);
    assert_eq!(staging_files(&store), 0);
    // And the store keeps working once there is room again.
    store.fail_writes_after(None);
    let mut staged = store.stage().unwrap();
    staged.write(b"fits").unwrap();
    let name = SafeFileName::from_client("ok.pt").unwrap();
    store
        .publish(
            staged.finish().unwrap(),
            EntityType::Styles,
            &name,
            OnClash::Version,
        )
        .unwrap();
}

/// A real tmpfs, when this process may mount one (root, as in CI).
struct Tmpfs(tempfile::TempDir);

impl Tmpfs {
    fn mount(size: &str) -> Option<Self> {
        let dir = tempfile::tempdir().ok()?;
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .is_ok_and(|o| o.status.success());
        ok.then_some(Tmpfs(dir))
    }

    fn path(&self) -> Utf8PathBuf {
        Utf8PathBuf::from_path_buf(self.0.path().to_path_buf()).unwrap()
    }

    fn remount(&self, opts: &str) -> bool {
        Command::new("mount")
            .args(["-o", &format!("remount,{opts}")])
            .arg(self.0.path())
            .output()
            .is_ok_and(|o| o.status.success())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.0.path()).output();
    }
}

#[test]
#[ignore = "mounts a tmpfs, which needs root: .ci/run runs it (CI runs as root)"]
fn enospc_on_a_real_small_filesystem() {
    let fs = Tmpfs::mount("1m").expect("mount a 1 MiB tmpfs (run as root)");
    let store = Store::open(fs.path()).unwrap();
    let mut staged = store.stage().unwrap();
    let chunk = vec![7u8; 256 * 1024];
    let mut result = Ok(());
    for _ in 0..8 {
        result = staged.write(&chunk);
        if result.is_err() {
            break;
        }
    }
    // Whichever step finds the disk full, the upload is then dropped, as the server does.
    let failed = match result {
        Err(e) => {
            drop(staged);
            Err(e)
        }
        Ok(()) => staged.finish().map(|_| ()),
    };
    assert!(
        matches!(failed, Err(StoreError::StorageFull { .. })),
        "{failed:?}"
    );
    assert_eq!(staging_files(&store), 0, "the partial upload is gone");
    // Freed when the kernel lets go of the unlinked file's pages: at once, as a rule, but
    // seen a moment later once in CI (page references held elsewhere), so wait for it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while store.health().free_bytes == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the space never came back"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
#[ignore = "mounts a tmpfs, which needs root: .ci/run runs it (CI runs as root)"]
fn a_read_only_data_directory_is_unavailable_not_broken() {
    let fs = Tmpfs::mount("4m").expect("mount a 4 MiB tmpfs (run as root)");
    {
        let store = Store::open(fs.path()).unwrap();
        let mut staged = store.stage().unwrap();
        staged.write(b"kept").unwrap();
        let name = SafeFileName::from_client("kept.pt").unwrap();
        store
            .publish(
                staged.finish().unwrap(),
                EntityType::Styles,
                &name,
                OnClash::Version,
            )
            .unwrap();
    }
    assert!(fs.remount("ro"), "remount read-only");
    // A server started on a read-only data directory still lists, but takes no uploads.
    let store = Store::open(fs.path()).unwrap();
    assert!(!store.health().writable);
    assert_eq!(store.list(None, 0, 10).unwrap().total, 1);
    let r = store.stage();
    assert!(matches!(r, Err(StoreError::Unavailable { .. })), "{r:?}");

    // Writable again without a restart: uploads and deletes work, and the journals are
    // reopened, so the binned file keeps its origin and hash across the next restart.
    assert!(fs.remount("rw"));
    let published = publish(&store, "later.pt", b"later");
    store.delete(&published.partial_path).unwrap();
    drop(store);
    let store = Store::open(fs.path()).unwrap();
    let entry = store
        .list_bin(None, 0, 10)
        .unwrap()
        .items
        .into_iter()
        .find(|e| e.bin_path.file_name() == "later.pt")
        .unwrap();
    assert_eq!(entry.original, published.partial_path);
    assert_eq!(entry.sha256, Some(published.sha256));
}

#[test]
fn a_removed_data_directory_is_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let root = Utf8PathBuf::from_path_buf(dir.path().join("data")).unwrap();
    let store = Store::open(root.clone()).unwrap();
    std::fs::remove_dir_all(&root).unwrap();
    assert!(!store.health().writable);
    let r = store.stage();
    assert!(matches!(r, Err(StoreError::Unavailable { .. })), "{r:?}");
    // The staging folder alone removed by hand is simply made again.
    let other = tempfile::tempdir().unwrap();
    let store =
        Store::open(Utf8PathBuf::from_path_buf(other.path().to_path_buf()).unwrap()).unwrap();
    std::fs::remove_dir_all(store.layout().staging_dir()).unwrap();
    assert!(store.stage().is_ok());
}

fn publish(store: &Store, name: &str, bytes: &[u8]) -> lora_store::Published {
    let mut staged = store.stage().unwrap();
    staged.write(bytes).unwrap();
    store
        .publish(
            staged.finish().unwrap(),
            EntityType::Styles,
            &SafeFileName::from_client(name).unwrap(),
            OnClash::Version,
        )
        .unwrap()
}

/// Once a rename took effect, a failing folder fsync is not an error of the operation:
/// the answer says done, the bookkeeping is complete, and health counts the failure.
#[test]
fn a_failing_folder_fsync_after_the_move_is_counted_not_returned() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(Utf8PathBuf::from_path_buf(dir.path().to_path_buf()).unwrap()).unwrap();
    store.fail_dir_syncs(true);

    let published = publish(&store, "a.pt", b"weights");
    assert!(published.path.is_file());
    let listed = store.list(None, 0, 10).unwrap();
    assert_eq!(
        listed.items[0].sha256,
        Some(published.sha256),
        "hash recorded"
    );
    let after_publish = store.health().durability_errors;
    assert!(after_publish >= 1, "{after_publish}");

    let binned = store.delete(&published.partial_path).unwrap();
    let entry = &store.list_bin(None, 0, 10).unwrap().items[0];
    assert_eq!(
        entry.original, published.partial_path,
        "the origin is journalled"
    );
    assert_eq!(entry.sha256, Some(published.sha256));
    assert!(store.health().durability_errors > after_publish);

    let restored = store
        .restore(&binned.bin_partial_path, OnClash::Version)
        .unwrap();
    assert_eq!(restored.partial_path, published.partial_path);
    assert_eq!(
        store.list(None, 0, 10).unwrap().items[0].sha256,
        Some(published.sha256)
    );
    let binned = store.delete(&restored.partial_path).unwrap();
    let purged = store.purge(&binned.bin_partial_path).unwrap();
    assert_eq!(purged.files(), 1);
    assert_eq!(store.list_bin(None, 0, 10).unwrap().total, 0);

    // The journal written while fsyncs failed is read back after a restart.
    let errors = store.health().durability_errors;
    assert!(errors >= 6, "{errors}");
    store.fail_dir_syncs(false);
    let kept = publish(&store, "b.pt", b"more");
    store.delete(&kept.partial_path).unwrap();
    assert_eq!(store.health().durability_errors, errors, "healthy again");
    drop(store);
    let store = Store::open(Utf8PathBuf::from_path_buf(dir.path().to_path_buf()).unwrap()).unwrap();
    assert_eq!(store.health().durability_errors, 0, "counted per run");
    assert_eq!(
        store.list_bin(None, 0, 10).unwrap().items[0].original,
        kept.partial_path
    );
}

/// The store's own files are input like any other: a damaged hash record is dropped at
/// start (and counted), never handed out, and the file is simply hashed again when needed.
#[test]
fn damaged_records_are_dropped_not_trusted() {
    let dir = tempfile::tempdir().unwrap();
    let root = Utf8PathBuf::from_path_buf(dir.path().to_path_buf()).unwrap();
    let published = {
        let store = Store::open(root.clone()).unwrap();
        publish(&store, "a.pt", b"weights")
    };
    let log = root.join(".lora-server/hashes.jsonl");
    let good = std::fs::read_to_string(&log).unwrap();
    let sha = published.sha256.to_hex();
    let damaged = [
        good.replace(&sha, &sha[..40]),
        good.replace(&sha, &"zz".repeat(32)),
        good.replace("\"styles/a.pt\"", "\"../../etc/passwd\""),
        "\u{0}garbage\n".to_owned(),
    ]
    .concat();
    std::fs::write(&log, damaged).unwrap();
    let journal = root.join(".lora-server/bin.jsonl");
    std::fs::write(&journal, "{\"bin\":\"styles/x.pt\",\"sha256\":\"nope\"}\n").unwrap();

    let store = Store::open(root).unwrap();
    assert_eq!(store.recovery().stale_hashes, 4);
    assert_eq!(store.recovery().stale_bin_records, 1);
    let seen = store.examine(&published.partial_path).unwrap();
    assert_eq!(seen.sha256, None, "nothing damaged is handed out");
    assert_eq!(store.list(None, 0, 10).unwrap().items[0].sha256, None);
    // What a caller computes again is remembered as usual.
    assert!(store.remember_sha256(&published.partial_path, &seen, published.sha256));
    assert_eq!(
        store.examine(&published.partial_path).unwrap().sha256,
        Some(published.sha256)
    );
}

/// Published and restored files get the mode a new file gets under the process umask
/// (or the configured one), so the pipeline's user can read them; staging stays private.
#[test]
fn published_and_restored_files_are_readable_by_others() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &camino::Utf8Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let dir = tempfile::tempdir().unwrap();
    let root = Utf8PathBuf::from_path_buf(dir.path().to_path_buf()).unwrap();
    let store = Store::open_with(
        root.clone(),
        lora_store::OpenOptions {
            file_mode: Some(0o640),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(mode(&store.layout().staging_dir()), 0o700);
    let published = publish(&store, "a.pt", b"weights");
    assert_eq!(mode(&published.path), 0o640);
    let binned = store.delete(&published.partial_path).unwrap();
    // Binned by an older version, say: private.
    std::fs::set_permissions(&binned.bin_path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let restored = store
        .restore(&binned.bin_partial_path, OnClash::Version)
        .unwrap();
    assert_eq!(mode(&restored.path), 0o640);
}

/// With creation off, a directory that is no initialised store (an unmounted disk's
/// empty mount point) is refused and left exactly as it was.
#[test]
fn without_create_an_uninitialised_directory_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let root = Utf8PathBuf::from_path_buf(dir.path().to_path_buf()).unwrap();
    let no_create = lora_store::OpenOptions {
        create: false,
        ..Default::default()
    };
    let r = Store::open_with(root.clone(), no_create);
    assert!(matches!(r, Err(StoreError::NotInitialised { .. })), "{r:?}");
    assert_eq!(
        std::fs::read_dir(&root).unwrap().count(),
        0,
        "nothing created"
    );
    Store::init(root.clone()).unwrap();
    assert!(root.join(".lora-server/store").is_file());
    let store = Store::open_with(root, no_create).unwrap();
    publish(&store, "b.pt", b"x");
}

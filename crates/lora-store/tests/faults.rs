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

/// A real tmpfs of 1 MiB, when this process may mount one (root in CI); skipped otherwise.
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
fn enospc_on_a_real_small_filesystem() {
    let Some(fs) = Tmpfs::mount("1m") else {
        eprintln!("skipped: cannot mount a tmpfs here (the fault-injection test covers ENOSPC)");
        return;
    };
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
    let failed = match result {
        Err(e) => Err(e),
        Ok(()) => staged.finish().map(|_| ()),
    };
    assert!(
        matches!(failed, Err(StoreError::StorageFull { .. })),
        "{failed:?}"
    );
    assert_eq!(staging_files(&store), 0, "the partial upload is gone");
    assert!(store.health().free_bytes > 0, "the space came back");
}

#[test]
fn a_read_only_data_directory_is_unavailable_not_broken() {
    let Some(fs) = Tmpfs::mount("4m") else {
        eprintln!("skipped: cannot mount a tmpfs here");
        return;
    };
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
    drop(store);
    assert!(fs.remount("rw"));
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

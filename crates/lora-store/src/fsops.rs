//! The few filesystem primitives the store's guarantees rest on.

use std::fs::File;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};

use camino::Utf8Path;
use rustix::fs::{CWD, RenameFlags, renameat_with};
use rustix::io::Errno;

/// Renames `from` to `to`, failing with `AlreadyExists` instead of replacing `to`.
///
/// Uses `renameat2(RENAME_NOREPLACE)`; on filesystems without it, a hard link (which
/// never replaces) followed by removing `from`.
pub(crate) fn rename_noreplace(from: &Utf8Path, to: &Utf8Path) -> io::Result<()> {
    static UNSUPPORTED: AtomicBool = AtomicBool::new(false);
    if !UNSUPPORTED.load(Ordering::Relaxed) {
        match renameat_with(
            CWD,
            from.as_std_path(),
            CWD,
            to.as_std_path(),
            RenameFlags::NOREPLACE,
        ) {
            Ok(()) => return Ok(()),
            Err(Errno::NOSYS) => UNSUPPORTED.store(true, Ordering::Relaxed),
            Err(Errno::INVAL) => {}
            Err(e) => return Err(e.into()),
        }
    }
    std::fs::hard_link(from, to)?;
    std::fs::remove_file(from)
}

/// The process umask, read from `/proc/self/status` (setting it to read it would race with
/// other threads creating files); `0o022` when the kernel does not say.
pub(crate) fn process_umask() -> u32 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("Umask:"))
                .and_then(|v| u32::from_str_radix(v.trim(), 8).ok())
        })
        .unwrap_or(0o022)
}

/// Makes a directory's entries durable (a rename is only on disk once its directory is).
pub(crate) fn sync_dir(dir: &Utf8Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Replaces `path` with `contents` durably: a temporary file in the same folder, fsynced,
/// then renamed over `path`.
pub(crate) fn replace_durably(path: &Utf8Path, contents: &[u8]) -> Result<(), crate::StoreError> {
    use std::io::Write;
    let err = |op| move |e| crate::StoreError::io(op, path, e);
    let dir = path.parent().unwrap_or(path);
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(err("write"))?;
    tmp.write_all(contents).map_err(err("write"))?;
    tmp.as_file().sync_all().map_err(err("fsync"))?;
    tmp.persist(path)
        .map_err(|e| crate::StoreError::io("replace", path, e.error))?;
    Ok(())
}

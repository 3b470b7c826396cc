use std::os::unix::fs::PermissionsExt;

use bytes::Bytes;
use lora_core::{EntityType, UploadRoute};
use time::macros::datetime;

use camino::Utf8Path;

use super::*;

const NOW: OffsetDateTime = datetime!(2026-06-01 12:00 UTC);

fn open() -> (tempfile::TempDir, Resumable) {
    let dir = tempfile::tempdir().unwrap();
    let root = Utf8PathBuf::from_path_buf(dir.path().join("uploads")).unwrap();
    let staging = Utf8PathBuf::from_path_buf(dir.path().join("staging")).unwrap();
    std::fs::create_dir_all(&staging).unwrap();
    (dir, Resumable::open(root, staging).unwrap())
}

fn info(owner: &str, expires: OffsetDateTime) -> ResumableInfo {
    ResumableInfo {
        owner: owner.into(),
        route: UploadRoute::User,
        filename: "a.safetensors".into(),
        entity_type: EntityType::Styles,
        use_safe_filename: true,
        if_duplicate: lora_core::IfDuplicate::default(),
        length: 10,
        expires,
        completed: None,
    }
}

fn mode(path: &Utf8Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn received_bytes_are_private() {
    let (_dir, uploads) = open();
    let id = uploads.create(&info("u", NOW)).unwrap();
    assert_eq!(mode(&uploads.dir), 0o700);
    assert_eq!(mode(&uploads.part(&id)), 0o600);
    assert_eq!(mode(&uploads.meta(&id)), 0o600);
}

#[test]
fn the_sweep_removes_expired_uploads_and_their_bytes_only() {
    let (_dir, uploads) = open();
    let old = uploads.create(&info("u", NOW)).unwrap();
    let young = uploads
        .create(&info("u", NOW + time::Duration::hours(1)))
        .unwrap();
    let claim = uploads.lock(&old).unwrap();
    let mut appender = uploads.appender(&claim, 0).unwrap();
    appender.write(Bytes::from_static(b"12345")).unwrap();
    uploads.commit(appender).unwrap();
    drop(claim);

    assert_eq!(uploads.sweep(NOW + time::Duration::seconds(1)), 1);
    assert!(!uploads.part(&old).exists() && !uploads.meta(&old).exists());
    assert!(uploads.get(&old).unwrap().is_none());
    assert_eq!(uploads.get(&young).unwrap().map(|(_, o)| o), Some(0));
    assert_eq!(uploads.unfinished_of("u"), 1);
}

#[test]
fn the_sweep_leaves_an_upload_a_patch_is_writing() {
    let (_dir, uploads) = open();
    let id = uploads.create(&info("u", NOW)).unwrap();
    let claim = uploads.lock(&id).unwrap();
    let later = NOW + time::Duration::minutes(5);
    assert_eq!(uploads.sweep(later), 0, "removed under a writer");
    assert!(uploads.part(&id).exists());
    assert!(!uploads.remove_if_idle(&id));
    drop(claim);
    assert_eq!(uploads.sweep(later), 1);
    assert!(!uploads.part(&id).exists());
}

#[test]
fn a_creation_that_died_between_its_writes_is_swept_once_old() {
    let (_dir, uploads) = open();
    let id = UploadId::random().unwrap();
    let part = uploads.part(&id);
    File::create(&part).unwrap();
    uploads.sweep(NOW);
    assert!(part.exists(), "a creation under way is young");
    let file = File::options().write(true).open(&part).unwrap();
    file.set_modified(SystemTime::now() - 2 * ORPHAN_AFTER)
        .unwrap();
    uploads.sweep(NOW);
    assert!(!part.exists(), "orphaned part file stays");
}

#[test]
fn a_description_without_its_bytes_is_gone() {
    let (_dir, uploads) = open();
    let id = uploads.create(&info("u", NOW)).unwrap();
    fs::remove_file(uploads.part(&id)).unwrap();
    assert!(uploads.get(&id).unwrap().is_none());
    assert!(!uploads.meta(&id).exists());
}

#[test]
fn a_claim_excludes_a_second_one_until_dropped() {
    let (_dir, uploads) = open();
    let id = uploads.create(&info("u", NOW)).unwrap();
    let claim = uploads.lock(&id).unwrap();
    assert!(uploads.lock(&id).is_none());
    drop(claim);
    assert!(uploads.lock(&id).is_some());
}

//! Resumable uploads in an in-memory bucket, two nodes: an upload begun on one goes on
//! and ends on the other; leases exclude; expiry sweeps the bucket.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use lora_core::{EntityType, SafeFileName, UploadRoute};
use lora_store::{OnClash, Repository, ResumableInfo, UploadClaim};
use object_store::memory::InMemory;
use time::OffsetDateTime;

use crate::stream::PART;
use crate::tests::{local, node};

fn info(length: u64) -> ResumableInfo {
    ResumableInfo {
        owner: "alice".into(),
        route: UploadRoute::Admin,
        filename: "r.safetensors".into(),
        entity_type: EntityType::Styles,
        use_safe_filename: true,
        if_duplicate: lora_core::IfDuplicate::default(),
        length,
        expires: OffsetDateTime::now_utc() + time::Duration::hours(1),
        completed: None,
    }
}

fn body(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i / 1000 % 251) as u8).collect()
}

/// Appends `bytes` under `claim` from `offset` and commits; the new offset.
fn patch(claim: &Arc<dyn UploadClaim>, offset: u64, bytes: &[u8]) -> u64 {
    let mut appender = claim.appender(offset).unwrap();
    for chunk in bytes.chunks(700_001) {
        appender.write(Bytes::copy_from_slice(chunk)).unwrap();
    }
    claim.commit(appender).unwrap()
}

/// Claims `id` on `uploads`, waiting while a lease let go a moment ago is removed.
fn claim(
    uploads: &Arc<dyn lora_store::Uploads>,
    id: &lora_store::UploadId,
) -> Arc<dyn UploadClaim> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(claim) = uploads.claim(id).unwrap() {
            return claim;
        }
        assert!(Instant::now() < deadline, "the lease was never let go");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn an_upload_begun_on_one_node_ends_on_another() {
    let bucket = Arc::new(InMemory::new());
    let (a, b) = (node(&bucket), node(&bucket));
    let bytes = body(2 * PART + PART / 3);
    let (on_a, on_b) = (a.fleet.uploads(), b.fleet.uploads());
    let id = on_a.create(&info(bytes.len() as u64)).unwrap();

    // A takes a part and a bit: the bit is kept aside as the tail.
    let split = PART + 12345;
    let held = claim(&on_a, &id);
    assert!(on_b.claim(&id).unwrap().is_none(), "held on A: B must wait");
    assert_eq!(patch(&held, 0, &bytes[..split]), split as u64);
    drop(held);
    // B sees what A acknowledged, and goes on from there.
    assert_eq!(on_b.get(&id).unwrap().unwrap().1, split as u64);
    let held = claim(&on_b, &id);
    // A short PATCH: all of it joins the tail.
    assert_eq!(
        patch(&held, split as u64, &bytes[split..split + 10]),
        split as u64 + 10
    );
    assert_eq!(
        patch(&held, split as u64 + 10, &bytes[split + 10..]),
        bytes.len() as u64
    );
    let staged = held.stage().unwrap();
    assert_eq!(std::fs::read(staged.path()).unwrap(), bytes);
    let name = SafeFileName::from_client("r.safetensors").unwrap();
    let published = b
        .fleet
        .publish(staged, EntityType::Styles, &name, OnClash::Version)
        .unwrap();
    assert_eq!(local(&b, "styles/r.safetensors").unwrap(), bytes);
    let key = b.fleet.keys.live(&published.partial_path);
    let looked = b.fleet.block_on(b.fleet.look(&key)).unwrap().unwrap();
    assert_eq!(looked.sha256, Some(published.sha256));
    // Removed: nothing of it stays in the bucket.
    held.remove();
    drop(held);
    let left: Vec<String> = b
        .fleet
        .block_on(b.fleet.bucket.list(&b.fleet.keys.uploads_root()))
        .unwrap()
        .into_iter()
        .map(|l| l.key.to_string())
        .filter(|k| !k.ends_with("/lock"))
        .collect();
    assert_eq!(left, Vec::<String>::new());
    // Started on A, completed on B: each node counts its own side.
    let open = |n: &crate::tests::Node| {
        n.fleet
            .bucket
            .open_uploads
            .load(std::sync::atomic::Ordering::SeqCst)
    };
    assert_eq!(open(&a) + open(&b), 0);
}

#[test]
fn a_small_upload_is_all_tail_and_a_discarded_patch_acknowledges_nothing() {
    let bucket = Arc::new(InMemory::new());
    let a = node(&bucket);
    let uploads = a.fleet.uploads();
    let bytes = body(5000);
    let id = uploads.create(&info(bytes.len() as u64)).unwrap();
    let held = claim(&uploads, &id);
    assert_eq!(patch(&held, 0, &bytes[..100]), 100);
    // Bytes past the length are taken back whole.
    let mut appender = held.appender(100).unwrap();
    appender.write(Bytes::from(vec![0u8; 6000])).unwrap();
    held.discard(appender).unwrap();
    assert_eq!(held.get().unwrap().unwrap().1, 100);
    assert_eq!(patch(&held, 100, &bytes[100..]), 5000);
    let staged = held.stage().unwrap();
    assert_eq!(std::fs::read(staged.path()).unwrap(), bytes);
}

#[test]
fn expired_uploads_are_swept_from_the_bucket_and_counted_per_owner() {
    let bucket = Arc::new(InMemory::new());
    let a = node(&bucket);
    let uploads = a.fleet.uploads();
    let mut old = info(3 * PART as u64);
    old.expires = OffsetDateTime::now_utc() - time::Duration::minutes(1);
    let gone = uploads.create(&old).unwrap();
    let held = claim(&uploads, &gone);
    patch(&held, 0, &body(PART + 1));
    drop(held);
    let kept = uploads.create(&info(10)).unwrap();
    assert_eq!(uploads.unfinished_of("alice").unwrap(), 2);
    // The lease of the last PATCH is let go in the background: the sweep waits for none.
    let deadline = Instant::now() + Duration::from_secs(10);
    while uploads.sweep(OffsetDateTime::now_utc()) == 0 {
        assert!(Instant::now() < deadline, "never swept");
        // Not this node's turn again until the turn expires: hand it back.
        a.fleet
            .block_on(a.fleet.bucket.delete(&a.fleet.keys.sweeper()))
            .unwrap();
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(uploads.get(&gone).unwrap().is_none());
    assert!(uploads.get(&kept).unwrap().is_some());
    assert_eq!(uploads.unfinished_of("alice").unwrap(), 1);
    assert_eq!(
        a.fleet
            .bucket
            .open_uploads
            .load(std::sync::atomic::Ordering::SeqCst),
        0
    );
    // Nothing expired is left: a second sweep removes nothing.
    assert_eq!(uploads.sweep(OffsetDateTime::now_utc()), 0);
}

#[test]
fn abandoned_multipart_uploads_are_old_and_named_by_no_record() {
    let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListMultipartUploadsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Bucket>loras</Bucket><KeyMarker></KeyMarker><UploadIdMarker></UploadIdMarker>
  <NextKeyMarker>fleet/uploads/x/data</NextKeyMarker><NextUploadIdMarker>u3</NextUploadIdMarker>
  <MaxUploads>1000</MaxUploads><IsTruncated>true</IsTruncated>
  <Upload><Key>fleet/staging/n-1</Key><UploadId>u1</UploadId><Initiated>2026-12-01T10:00:00.000Z</Initiated></Upload>
  <Upload><Key>fleet/models/loras/styles/a.safetensors</Key><UploadId>u2</UploadId><Initiated>2026-12-07T13:59:00.000Z</Initiated></Upload>
  <Upload><Key>fleet/uploads/x/data</Key><UploadId>u3</UploadId><Initiated>2026-12-01T10:00:00.000Z</Initiated></Upload>
</ListMultipartUploadsResult>"#;
    let page = crate::bucket::parse_open_multiparts(xml).unwrap();
    assert_eq!(page.uploads.len(), 3);
    assert_eq!(
        page.next,
        Some(("fleet/uploads/x/data".to_owned(), "u3".to_owned()))
    );
    let kept: std::collections::HashSet<String> = ["u3".to_owned()].into();
    let cutoff = time::macros::datetime!(2026-12-06 14:00 UTC);
    let aborted: Vec<&str> = crate::sync::abandoned(&page.uploads, &kept, cutoff)
        .map(|o| o.id.as_str())
        .collect();
    // A day old and nobody's: aborted; recent, or a live resumable upload's: kept.
    assert_eq!(aborted, ["u1"]);
}

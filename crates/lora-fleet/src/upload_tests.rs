//! Uploads streamed to an in-memory bucket: every way a stream can end. (The in-memory
//! store cannot complete a multipart upload conditionally, so parts go to a staging key
//! here; the conditional completion is tested against SeaweedFS, through the binary.)
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use lora_core::{EntityType, PartialPath, SafeFileName};
use lora_store::{Destination, OnClash, Repository};
use object_store::memory::InMemory;
use object_store::{ObjectStore, ObjectStoreExt};

use crate::stream::PART;
use crate::tests::{local, node};

/// Every key in the bucket.
fn keys(bucket: &Arc<InMemory>) -> Vec<String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut out: Vec<String> = bucket
            .list(None)
            .map(|m| m.unwrap().location.to_string())
            .collect()
            .await;
        out.sort();
        out
    })
}

/// Publishes a staged upload as `styles/{name}`, versioning a taken name.
fn publish(
    node: &crate::tests::Node,
    staged: lora_store::StagedUpload,
    name: &str,
) -> lora_store::Published {
    let name = SafeFileName::from_client(name).unwrap();
    node.fleet
        .publish(
            staged.finish().unwrap(),
            EntityType::Styles,
            &name,
            OnClash::Version,
        )
        .unwrap()
}

fn destination(name: &str) -> Destination {
    Destination {
        entity: EntityType::Styles,
        name: SafeFileName::from_client(name).unwrap(),
        on_clash: OnClash::Version,
    }
}

/// Bytes that are not the same in every part (a part sent twice or out of order shows).
fn body(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i / 4096 % 251) as u8).collect()
}

#[test]
fn a_large_upload_lands_whole_with_its_sum_and_no_staging_key() {
    let bucket = Arc::new(InMemory::new());
    let a = node(&bucket);
    let bytes = body(2 * PART + 12345);
    let mut staged = a.fleet.stage(None).unwrap();
    // Chunks that do not line up with parts.
    for chunk in bytes.chunks(1_000_003) {
        staged.write(chunk).unwrap();
    }
    let published = publish(&a, staged, "big.safetensors");
    assert_eq!(published.partial_path.to_string(), "styles/big.safetensors");
    assert_eq!(local(&a, "styles/big.safetensors").unwrap(), bytes);
    assert_eq!(
        keys(&bucket),
        [
            "fleet/models/loras/styles/big.safetensors",
            "fleet/sums/models/loras/styles/big.safetensors.json"
        ]
    );
    let key = a.fleet.keys.live(&published.partial_path);
    let looked = a.fleet.block_on(a.fleet.look(&key)).unwrap().unwrap();
    assert_eq!(looked.sha256, Some(published.sha256));
    assert!(looked.from_sum);
    let stored = a
        .fleet
        .block_on(async { bucket.get(&key).await.unwrap().bytes().await })
        .unwrap();
    assert_eq!(stored.as_ref(), bytes.as_slice());
    assert_eq!(a.fleet.bucket.open_uploads.load(Ordering::SeqCst), 0);
}

#[test]
fn a_small_upload_is_one_put_with_its_sha256_as_metadata() {
    let bucket = Arc::new(InMemory::new());
    let a = node(&bucket);
    let mut staged = a.fleet.stage(Some(&destination("s.safetensors"))).unwrap();
    staged.write(b"small").unwrap();
    let published = publish(&a, staged, "s.safetensors");
    assert_eq!(keys(&bucket), ["fleet/models/loras/styles/s.safetensors"]);
    let key = a.fleet.keys.live(&published.partial_path);
    let looked = a.fleet.block_on(a.fleet.look(&key)).unwrap().unwrap();
    assert_eq!(looked.sha256, Some(published.sha256));
    assert!(!looked.from_sum, "a metadata hash needs no sum");
}

#[test]
fn an_upload_dropped_midway_or_refused_leaves_nothing() {
    let bucket = Arc::new(InMemory::new());
    let a = node(&bucket);
    // The client goes away after two and a half parts.
    let mut staged = a
        .fleet
        .stage(Some(&destination("gone.safetensors")))
        .unwrap();
    staged.write(&body(2 * PART + PART / 2)).unwrap();
    drop(staged);
    // Every byte arrived, but the content check refuses it (the fleet's check refuses
    // files starting with "bad").
    let mut staged = a
        .fleet
        .stage(Some(&destination("bad.safetensors")))
        .unwrap();
    let mut bad = b"bad".to_vec();
    bad.extend(body(PART + 1));
    staged.write(&bad).unwrap();
    let finished = staged.finish().unwrap();
    assert!(
        a.fleet
            .check
            .check(lora_inspect::Candidate::file(
                finished.path().as_std_path(),
                lora_core::Extension::Safetensors
            ))
            .is_err()
    );
    drop(finished);
    // Both started a multipart upload; the aborts run on the fleet's I/O threads.
    let open = || a.fleet.bucket.open_uploads.load(Ordering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(10);
    while open() != 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(open(), 0, "every multipart upload aborted");
    assert_eq!(keys(&bucket), Vec::<String>::new());
}

#[test]
fn a_streamed_file_keeps_its_sum_through_the_bin_and_back() {
    let bucket = Arc::new(InMemory::new());
    let a = node(&bucket);
    let bytes = body(PART + 7);
    let mut staged = a.fleet.stage(None).unwrap();
    staged.write(&bytes).unwrap();
    let published = publish(&a, staged, "kept.safetensors");
    let path = PartialPath::parse("styles/kept.safetensors").unwrap();
    let binned = a.fleet.delete(&path).unwrap();
    let bin_key = a.fleet.keys.bin(&binned.bin_partial_path);
    let in_bin = a.fleet.block_on(a.fleet.look(&bin_key)).unwrap().unwrap();
    assert_eq!(in_bin.sha256, Some(published.sha256));
    assert!(
        !keys(&bucket).iter().any(|k| k.contains("sums/models")),
        "the live sum went with the live object: {:?}",
        keys(&bucket)
    );
    a.fleet
        .restore(&binned.bin_partial_path, OnClash::Version)
        .unwrap();
    let live = a.fleet.keys.live(&path);
    let back = a.fleet.block_on(a.fleet.look(&live)).unwrap().unwrap();
    assert_eq!(back.sha256, Some(published.sha256));
    assert!(!keys(&bucket).iter().any(|k| k.contains("sums/bin")));
}

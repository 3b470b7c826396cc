//! Two nodes on one in-memory bucket: the seam's rules without a network.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use lora_core::{EntityType, PartialPath, SafeFileName};
use lora_store::{Destination, OnClash, Repository, Store, StoreError};
use object_store::memory::InMemory;

use crate::bucket::Bucket;
use crate::{Fleet, FleetConfig};

/// Refuses files that start with `bad`.
#[derive(Debug)]
struct RefuseBad;

impl lora_inspect::ContentCheck for RefuseBad {
    fn check(
        &self,
        candidate: lora_inspect::Candidate<'_>,
    ) -> Result<lora_inspect::Checked, lora_inspect::ContentRejection> {
        let bytes = std::fs::read(candidate.path)
            .map_err(|e| lora_inspect::ContentRejection::Failed(Box::new(e)))?;
        if bytes.starts_with(b"bad") {
            Err(lora_inspect::ContentRejection::Refused(
                "starts with bad".into(),
            ))
        } else {
            Ok(lora_inspect::Checked::default())
        }
    }
}

/// The lease the tests' ensures take.
const LEASE: std::time::Duration = std::time::Duration::from_secs(30);

pub(crate) struct Node {
    _dir: tempfile::TempDir,
    pub(crate) fleet: Arc<Fleet>,
}

pub(crate) fn node(bucket: &Arc<InMemory>) -> Node {
    node_with(bucket, None, &[])
}

/// A node with a disk budget and pinned types.
fn node_with(bucket: &Arc<InMemory>, budget: Option<u64>, pins: &[EntityType]) -> Node {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path().to_str().unwrap()).unwrap());
    let mut config = FleetConfig::from_url("s3://test/fleet").unwrap();
    config.budget = budget;
    config.pins = pins.to_vec();
    let fleet = Fleet::with_bucket(
        store,
        config,
        Bucket::over(Arc::clone(bucket)),
        Arc::new(RefuseBad),
    )
    .unwrap();
    Node { _dir: dir, fleet }
}

fn upload(
    node: &Node,
    name: &str,
    bytes: &[u8],
    on_clash: OnClash,
) -> Result<PartialPath, StoreError> {
    upload_to(node, EntityType::Styles, name, bytes, on_clash)
}

fn upload_to(
    node: &Node,
    entity: EntityType,
    name: &str,
    bytes: &[u8],
    on_clash: OnClash,
) -> Result<PartialPath, StoreError> {
    let name = SafeFileName::from_client(name).unwrap();
    // The way the routes stage: streamed to the bucket while it arrives.
    let destination = Destination {
        entity,
        name: name.clone(),
        on_clash,
    };
    let mut staged = node.fleet.stage(Some(&destination)).unwrap();
    staged.write(bytes).unwrap();
    node.fleet
        .publish(staged.finish().unwrap(), entity, &name, on_clash)
        .map(|p| p.partial_path)
}

pub(crate) fn local(node: &Node, path: &str) -> Option<Vec<u8>> {
    let path = PartialPath::parse(path).unwrap();
    std::fs::read(node.fleet.store.layout().live_path(&path)).ok()
}

#[test]
fn changes_reach_every_node_and_names_never_collide() {
    let bucket = Arc::new(InMemory::new());
    let (a, b) = (node(&bucket), node(&bucket));
    // On A's disk when it answers; on B's after a sync.
    let p = upload(&a, "x.safetensors", b"one", OnClash::Version).unwrap();
    assert_eq!(p.to_string(), "styles/x.safetensors");
    assert_eq!(
        local(&a, "styles/x.safetensors").as_deref(),
        Some(&b"one"[..])
    );
    assert_eq!(local(&b, "styles/x.safetensors"), None);
    assert_eq!(b.fleet.sync_once().unwrap().downloaded, 1);
    assert_eq!(
        local(&b, "styles/x.safetensors").as_deref(),
        Some(&b"one"[..])
    );

    // The same name from B: versioned, or refused.
    let v2 = upload(&b, "x.safetensors", b"two", OnClash::Version).unwrap();
    assert_eq!(v2.to_string(), "styles/x_v2.safetensors");
    let refused = upload(&a, "x.safetensors", b"three", OnClash::Refuse).unwrap_err();
    assert!(
        matches!(refused, StoreError::AlreadyExists { .. }),
        "{refused}"
    );
    assert_eq!(b.fleet.list(None, 0, 10).unwrap().total, 2);

    // Deleted on B: gone from A's disk after its sync, for good (the bucket's bin is the
    // fleet's only copy).
    b.fleet.delete(&p).unwrap();
    assert_eq!(local(&b, "styles/x.safetensors"), None);
    let report = a.fleet.sync_once().unwrap();
    assert_eq!((report.removed, report.downloaded), (1, 1));
    assert_eq!(local(&a, "styles/x.safetensors"), None);
    for node in [&a, &b] {
        let bin_dir = node.fleet.store.layout().bin_root();
        assert!(
            walk(bin_dir).is_empty(),
            "a local bin copy: {:?}",
            walk(bin_dir)
        );
    }
    assert_eq!(
        local(&a, "styles/x_v2.safetensors").as_deref(),
        Some(&b"two"[..])
    );

    // The bucket's bin, restored on A, is everywhere again.
    let bin = a.fleet.list_bin(None, 0, 10).unwrap();
    assert_eq!(bin.total, 1);
    let restored = a
        .fleet
        .restore(&bin.items[0].bin_path, OnClash::Version)
        .unwrap();
    assert_eq!(restored.partial_path, p);
    assert_eq!(
        local(&a, "styles/x.safetensors").as_deref(),
        Some(&b"one"[..])
    );
    b.fleet.sync_once().unwrap();
    assert_eq!(
        local(&b, "styles/x.safetensors").as_deref(),
        Some(&b"one"[..])
    );
    assert_eq!(b.fleet.list_bin(None, 0, 10).unwrap().total, 0);
}

#[test]
fn a_second_delete_of_one_name_gets_its_own_bin_entry_and_purge_empties_it() {
    let bucket = Arc::new(InMemory::new());
    let a = node(&bucket);
    for round in 0..2u8 {
        let p = upload(&a, "y.pt", &[round], OnClash::Version).unwrap();
        a.fleet.delete(&p).unwrap();
    }
    let bin = a.fleet.list_bin(None, 0, 10).unwrap();
    let paths: Vec<String> = bin.items.iter().map(|e| e.bin_path.to_string()).collect();
    assert_eq!(paths, ["styles/y.pt", "styles/y_v2.pt"]);
    // The versioned entry still goes back where it came from.
    assert_eq!(bin.items[1].original.to_string(), "styles/y.pt");
    let purged = a
        .fleet
        .purge_before(std::time::SystemTime::now() + std::time::Duration::from_secs(1))
        .unwrap();
    assert_eq!(purged.files(), 2);
    assert_eq!(a.fleet.list_bin(None, 0, 10).unwrap().total, 0);
}

#[test]
fn objects_failing_the_content_rules_or_their_hash_stay_off_disk() {
    let bucket = Arc::new(InMemory::new());
    let (a, b) = (node(&bucket), node(&bucket));
    // A foreign writer put it straight into the bucket (no check on the way in).
    let key = object_store::path::Path::from("fleet/models/loras/styles/bad.safetensors");
    a.fleet
        .block_on(object_store::ObjectStoreExt::put(
            bucket.as_ref(),
            &key,
            b"bad bytes".to_vec().into(),
        ))
        .unwrap();
    upload(&a, "good.safetensors", b"good", OnClash::Version).unwrap();
    let report = b.fleet.sync_once().unwrap();
    assert_eq!((report.downloaded, report.failed), (1, 1));
    assert_eq!(local(&b, "styles/bad.safetensors"), None);
    assert_eq!(b.fleet.remote_health().unwrap().rejected_objects, 1);
    // Not retried every pass.
    assert_eq!(b.fleet.sync_once().unwrap().failed, 0);
}

#[test]
fn files_placed_by_hand_are_never_removed_by_a_sync() {
    let bucket = Arc::new(InMemory::new());
    let a = node(&bucket);
    let dir = a.fleet.store.layout().entity_dir(EntityType::Styles);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("mine.safetensors"), b"hand").unwrap();
    a.fleet.sync_once().unwrap();
    assert_eq!(
        local(&a, "styles/mine.safetensors").as_deref(),
        Some(&b"hand"[..])
    );
}

fn walk(dir: &camino::Utf8Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = camino::Utf8PathBuf::from_path_buf(entry.path()).unwrap();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path.to_string());
        }
    }
    out
}

/// A file placed on a node by hand and deleted through it is binned on that node: listed
/// in the bin with the bucket's entries, restorable and purgeable there.
#[test]
fn a_hand_placed_file_deleted_through_its_node_is_in_the_bin_listing() {
    let bucket = Arc::new(InMemory::new());
    let a = node(&bucket);
    let dir = a.fleet.store.layout().entity_dir(EntityType::Styles);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("mine.safetensors"), b"hand").unwrap();
    let mine = PartialPath::parse("styles/mine.safetensors").unwrap();
    upload(&a, "shared.safetensors", b"bucket", OnClash::Version).unwrap();
    a.fleet.delete(&mine).unwrap();
    a.fleet
        .delete(&PartialPath::parse("styles/shared.safetensors").unwrap())
        .unwrap();
    let bin = a.fleet.list_bin(None, 0, 10).unwrap();
    let paths: Vec<String> = bin.items.iter().map(|e| e.bin_path.to_string()).collect();
    assert_eq!(
        paths,
        ["styles/mine.safetensors", "styles/shared.safetensors"]
    );
    a.fleet.restore(&mine, OnClash::Version).unwrap();
    assert_eq!(
        local(&a, "styles/mine.safetensors").as_deref(),
        Some(&b"hand"[..])
    );
    a.fleet.delete(&mine).unwrap();
    assert_eq!(a.fleet.purge(&mine).unwrap().files(), 1);
    assert_eq!(a.fleet.list_bin(None, 0, 10).unwrap().total, 1);
}

/// The sync thread runs passes until told to stop, and stopping waits for it to end.
#[test]
fn the_sync_thread_stops_when_told() {
    let bucket = Arc::new(InMemory::new());
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path().to_str().unwrap()).unwrap());
    let mut config = FleetConfig::from_url("s3://test/fleet").unwrap();
    config.sync_interval = std::time::Duration::from_millis(20);
    let fleet = Fleet::with_bucket(
        store,
        config,
        Bucket::over(Arc::clone(&bucket)),
        Arc::new(RefuseBad),
    )
    .unwrap();
    fleet.spawn_sync().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while fleet.remote_health().unwrap().last_sync.is_none() {
        assert!(std::time::Instant::now() < deadline, "no pass ran");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    fleet.stop_sync();
    assert!(fleet.sync.thread_finished(), "the thread is still running");
    // Only the test holds the fleet now: the thread let go of it.
    assert_eq!(Arc::strong_count(&fleet), 1);
}

/// A node asked for a file it does not hold downloads it (once); one it holds, or one
/// placed on it by hand, is handed out as it is; an unknown one is not found.
#[test]
fn ensure_brings_a_file_onto_this_disk_once() {
    let bucket = Arc::new(InMemory::new());
    let (a, b) = (node(&bucket), node(&bucket));
    let p = upload(&a, "wanted.safetensors", b"weights", OnClash::Version).unwrap();
    assert_eq!(local(&b, "styles/wanted.safetensors"), None);
    let listed = |node: &Node| node.fleet.list(None, 0, 10).unwrap().items[0].local;
    assert_eq!((listed(&a), listed(&b)), (Some(true), Some(false)));
    let first = b.fleet.ensure(&p, LEASE).unwrap();
    assert_eq!(listed(&b), Some(true));
    assert!(first.fetched);
    assert_eq!(std::fs::read(&first.path).unwrap(), b"weights");
    assert_eq!(
        first.sha256,
        a.fleet.store.examine(&p).unwrap().sha256.unwrap()
    );
    let again = b.fleet.ensure(&p, LEASE).unwrap();
    assert!(!again.fetched);
    assert_eq!((again.path, again.sha256), (first.path, first.sha256));
    // A sync after it finds nothing more to do.
    assert_eq!(b.fleet.sync_once().unwrap().downloaded, 0);

    let dir = b.fleet.store.layout().entity_dir(EntityType::Styles);
    std::fs::write(dir.join("mine.safetensors"), b"hand").unwrap();
    let mine = b
        .fleet
        .ensure(
            &PartialPath::parse("styles/mine.safetensors").unwrap(),
            LEASE,
        )
        .unwrap();
    assert!(!mine.fetched);
    let leases = b.fleet.replica_health().leases;
    let unknown = b
        .fleet
        .ensure(
            &PartialPath::parse("styles/none.safetensors").unwrap(),
            LEASE,
        )
        .unwrap_err();
    assert!(unknown.is_not_found(), "{unknown}");
    assert_eq!(
        b.fleet.replica_health().leases,
        leases,
        "a lease kept for nothing"
    );
}

/// Eight concurrent ensures of one file download it once; the others find it on disk.
#[test]
fn concurrent_ensures_of_one_file_download_it_once() {
    let bucket = Arc::new(InMemory::new());
    let (a, b) = (node(&bucket), node(&bucket));
    let p = upload(
        &a,
        "shared.safetensors",
        &vec![7u8; 1 << 20],
        OnClash::Version,
    )
    .unwrap();
    let fleet = Arc::clone(&b.fleet);
    let fetched: usize = (0..8)
        .map(|_| {
            let (fleet, p) = (Arc::clone(&fleet), p.clone());
            std::thread::spawn(move || fleet.ensure(&p, LEASE).unwrap().fetched)
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| usize::from(t.join().unwrap()))
        .sum();
    assert_eq!(fetched, 1);
    // Nothing went to the local bin on the way (a second install would have moved the
    // first copy there).
    assert_eq!(b.fleet.store.list_bin(None, 0, 10).unwrap().total, 0);
}

/// A large object comes in ranges, several in flight, and lands whole and in order.
#[test]
fn large_objects_come_in_ranges_and_land_whole() {
    let bucket = Arc::new(InMemory::new());
    let (a, b) = (node(&bucket), node(&bucket));
    // Not a multiple of the range size, and no two ranges alike.
    let bytes: Vec<u8> = (0..(20u32 << 20) + 12_345)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let p = upload(&a, "large.safetensors", &bytes, OnClash::Version).unwrap();
    let got = b.fleet.ensure(&p, LEASE).unwrap();
    assert!(got.fetched);
    assert_eq!(std::fs::read(&got.path).unwrap(), bytes);
    assert_eq!(got.len, bytes.len() as u64);
}

/// A file uploaded elsewhere after this node's last listing is found by ensure (one HEAD),
/// not answered 404 until the next sync.
#[test]
fn ensure_finds_a_file_newer_than_the_last_listing() {
    let bucket = Arc::new(InMemory::new());
    let (a, b) = (node(&bucket), node(&bucket));
    assert_eq!(b.fleet.list(None, 0, 10).unwrap().total, 0);
    let p = upload(&a, "new.safetensors", b"fresh", OnClash::Version).unwrap();
    let got = b.fleet.ensure(&p, LEASE).unwrap();
    assert!(got.fetched);
    assert_eq!(std::fs::read(&got.path).unwrap(), b"fresh");
    assert_eq!(b.fleet.list(None, 0, 10).unwrap().total, 1);
}

/// With a disk budget a node keeps a working set: a sync brings only pinned types, ensure
/// brings the rest and evicts the least recently used to stay within the budget, never a
/// leased file; when leases leave no room the answer is a full disk (507).
#[test]
fn a_budget_keeps_a_working_set_within_it() {
    let bucket = Arc::new(InMemory::new());
    let a = node(&bucket);
    let ids: Vec<PartialPath> = (0..5u8)
        .map(|i| {
            upload_to(
                &a,
                EntityType::Identities,
                &format!("id{i}.pt"),
                &[i; 1000],
                OnClash::Version,
            )
            .unwrap()
        })
        .collect();
    upload_to(
        &a,
        EntityType::Styles,
        "ink.pt",
        &[9; 1000],
        OnClash::Version,
    )
    .unwrap();
    let c = node_with(&bucket, Some(3500), &[EntityType::Styles]);
    let report = c.fleet.sync_once().unwrap();
    assert_eq!(report.downloaded, 1, "only the pinned type comes unasked");
    assert_eq!(
        c.fleet.list(None, 0, 10).unwrap().total,
        6,
        "the whole catalogue is listed"
    );
    let within = |node: &Node| {
        let health = node.fleet.replica_health();
        let on_disk: u64 = ["identities", "styles"]
            .iter()
            .flat_map(|e| {
                std::fs::read_dir(
                    node.fleet
                        .store
                        .layout()
                        .data_dir()
                        .join("models/loras")
                        .join(e),
                )
            })
            .flatten()
            .map(|f| f.unwrap().metadata().unwrap().len())
            .sum();
        assert_eq!(on_disk, health.local_bytes);
        assert!(health.local_bytes <= 3500, "{health:?}");
        health
    };
    let no_lease = std::time::Duration::ZERO;
    // Room for the pinned style and two identities: the third evicts the first.
    for id in &ids[..3] {
        assert!(c.fleet.ensure(id, no_lease).unwrap().fetched);
        within(&c);
    }
    assert!(local(&c, "identities/id0.pt").is_none());
    // Asked again, it comes back (evicting id1, now the least recently used), then hits.
    assert!(c.fleet.ensure(&ids[0], no_lease).unwrap().fetched);
    assert!(local(&c, "identities/id1.pt").is_none());
    assert!(!c.fleet.ensure(&ids[0], no_lease).unwrap().fetched, "a hit");
    let health = within(&c);
    assert_eq!((health.evictions, health.hits, health.misses), (2, 1, 4));
    assert_eq!(health.mode, "working_set");
    assert!(!health.pins_over_budget);
    // A leased file survives the pressure of the others.
    c.fleet.ensure(&ids[2], LEASE).unwrap();
    for id in &ids[3..] {
        c.fleet.ensure(id, no_lease).unwrap();
        within(&c);
    }
    assert!(
        local(&c, "identities/id2.pt").is_some(),
        "a leased file was evicted"
    );
    assert!(
        local(&c, "styles/ink.pt").is_some(),
        "a pinned file was evicted"
    );
    // Everything but the pinned style leased: no room for one more.
    c.fleet.ensure(&ids[4], LEASE).unwrap();
    let full = c.fleet.ensure(&ids[0], LEASE).unwrap_err();
    assert!(matches!(full, StoreError::StorageFull { .. }), "{full}");
    within(&c);
}

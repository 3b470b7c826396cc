//! The catalogue on its own: reconciling with a listing, reading headers, filters and
//! sorts, user metadata and its files, and an index that is damaged or gone.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use camino::{Utf8Path, Utf8PathBuf};
use lora_catalog::{
    Catalog, CatalogError, Facts, LiveRow, MetaPatch, Opened, Order, Query, Read, Sort,
};
use lora_core::{EntityType, PartialPath, Sha256};
use time::OffsetDateTime;

fn root(dir: &tempfile::TempDir) -> Utf8PathBuf {
    Utf8Path::from_path(dir.path()).unwrap().to_owned()
}

fn open(root: &Utf8Path) -> (Catalog, Opened) {
    Catalog::open(&root.join("catalog.sqlite"), root.join("meta")).unwrap()
}

fn row(path: &str, size: u64, secs: i64) -> LiveRow {
    LiveRow {
        path: PartialPath::parse(path).unwrap(),
        size,
        modified: OffsetDateTime::from_unix_timestamp(secs).unwrap(),
        sha256: None,
    }
}

fn facts(base: &str, triggers: &[&str]) -> Read {
    Read::Facts(Facts {
        base_model: base.into(),
        kind: "lora".into(),
        network_type: "lora".into(),
        rank: Some(4),
        trigger_words: triggers.iter().map(|t| (*t).to_owned()).collect(),
        ..Facts::default()
    })
}

fn names(catalog: &Catalog, query: Query) -> Vec<String> {
    let limit = if query.limit == 0 { 100 } else { query.limit };
    catalog
        .query(&Query { limit, ..query })
        .unwrap()
        .items
        .iter()
        .map(|e| e.live.path.to_string())
        .collect()
}

/// Three files read as flux / sdxl / unreadable.
fn catalogue() -> (tempfile::TempDir, Catalog) {
    let dir = tempfile::tempdir().unwrap();
    let (catalog, opened) = open(&root(&dir));
    assert_eq!(opened, Opened::Created);
    let rows = [
        row("styles/Ink_Wash.safetensors", 300, 30),
        row("faces/anna.safetensors", 100, 10),
        row("styles/broken.safetensors", 200, 20),
    ];
    let done = catalog.reconcile(&rows).unwrap();
    assert_eq!(
        (done.added.len(), done.changed.len(), done.removed.len()),
        (3, 0, 0)
    );
    for file in catalog.unread(10).unwrap() {
        let read = match file.path.file_name() {
            "Ink_Wash.safetensors" => facts("flux", &["inkwash style"]),
            "anna.safetensors" => facts("sdxl", &["ohwx woman"]),
            _ => Read::Unreadable,
        };
        catalog.read(&file, &read).unwrap();
    }
    assert_eq!(catalog.counts().unwrap(), (3, 0));
    (dir, catalog)
}

#[test]
fn filters_and_sorts_run_in_the_index() {
    let (_dir, catalog) = catalogue();
    let all = |sort, order| {
        names(
            &catalog,
            Query {
                sort,
                order,
                ..Query::default()
            },
        )
    };
    assert_eq!(
        all(Sort::Path, Order::Asc),
        [
            "faces/anna.safetensors",
            "styles/Ink_Wash.safetensors",
            "styles/broken.safetensors"
        ]
    );
    assert_eq!(all(Sort::Name, Order::Asc)[0], "faces/anna.safetensors");
    assert_eq!(
        all(Sort::Name, Order::Desc)[0],
        "styles/Ink_Wash.safetensors"
    );
    assert_eq!(
        all(Sort::ModifiedAt, Order::Desc)[0],
        "styles/Ink_Wash.safetensors"
    );
    assert_eq!(all(Sort::FileSize, Order::Asc)[0], "faces/anna.safetensors");
    let flux = Query {
        base_model: Some("flux".into()),
        ..Query::default()
    };
    assert_eq!(names(&catalog, flux), ["styles/Ink_Wash.safetensors"]);
    // q: name and trigger words, case-insensitive; LIKE's wildcards are literal.
    let q = |text: &str| {
        names(
            &catalog,
            Query {
                q: Some(text.into()),
                ..Query::default()
            },
        )
    };
    assert_eq!(q("OHWX"), ["faces/anna.safetensors"]);
    assert_eq!(q("ink_"), ["styles/Ink_Wash.safetensors"]);
    assert!(
        q("%").is_empty() && q("_").len() == 1,
        "only Ink_Wash has an underscore"
    );
    let page = catalog
        .query(&Query {
            entity: Some(EntityType::Styles),
            limit: 1,
            offset: 1,
            ..Query::default()
        })
        .unwrap();
    assert_eq!(page.total, 2, "total counts the filtered set, not the page");
    assert_eq!(page.items.len(), 1);
    // A remembered count is dropped by the next change.
    let flux = || {
        catalog
            .query(&Query {
                base_model: Some("flux".into()),
                limit: 1,
                ..Query::default()
            })
            .unwrap()
            .total
    };
    assert_eq!((flux(), flux()), (1, 1));
    let more = [
        row("styles/Ink_Wash.safetensors", 300, 30),
        row("faces/anna.safetensors", 100, 10),
        row("styles/broken.safetensors", 200, 20),
        row("styles/second.safetensors", 5, 5),
    ];
    catalog.reconcile(&more).unwrap();
    for file in catalog.unread(10).unwrap() {
        catalog.read(&file, &facts("flux", &["second"])).unwrap();
    }
    assert_eq!(flux(), 2);
    // The unreadable file has no facts, never wrong ones.
    let broken = catalog
        .entries(&[PartialPath::parse("styles/broken.safetensors").unwrap()])
        .unwrap();
    assert_eq!(broken.values().next().unwrap().read, Read::Unreadable);
}

#[test]
fn a_changed_file_is_read_again_and_a_stale_read_is_ignored() {
    let (_dir, catalog) = catalogue();
    let anna = PartialPath::parse("faces/anna.safetensors").unwrap();
    let sha = Sha256::from_bytes([1; 32]);
    let rows = [
        LiveRow {
            sha256: Some(sha),
            ..row("faces/anna.safetensors", 101, 11)
        },
        row("styles/Ink_Wash.safetensors", 300, 30),
    ];
    let done = catalog.reconcile(&rows).unwrap();
    assert_eq!(
        (done.added.len(), done.changed.len(), done.removed.len()),
        (0, 1, 1)
    );
    assert_eq!(done.removed[0].to_string(), "styles/broken.safetensors");
    let unread = catalog.unread(10).unwrap();
    assert_eq!(unread.len(), 1);
    // Changed again before its header was recorded: that read no longer counts.
    catalog
        .reconcile(&[row("faces/anna.safetensors", 102, 12)])
        .unwrap();
    catalog.read(&unread[0], &facts("sd1", &[])).unwrap();
    let entry = catalog
        .entries(std::slice::from_ref(&anna))
        .unwrap()
        .remove(&anna)
        .unwrap();
    assert_eq!(entry.read, Read::Pending);
    let by_sha = Query {
        sha256: Some(sha),
        ..Query::default()
    };
    assert!(
        names(&catalog, by_sha).is_empty(),
        "the new version's hash is not known"
    );
}

#[test]
fn user_metadata_is_limited_kept_in_files_and_follows_the_bin() {
    let dir = tempfile::tempdir().unwrap();
    let root = root(&dir);
    let (catalog, _) = open(&root);
    let ink = row("styles/ink.safetensors", 1, 1);
    catalog.reconcile(std::slice::from_ref(&ink)).unwrap();
    let patch = MetaPatch {
        description: Some(Some("Sumi-e brush strokes".into())),
        tags: Some(vec!["Ink".into(), " ink ".into(), "monochrome".into()]),
        preferred_weight: Some(Some(0.8)),
        ..MetaPatch::default()
    };
    let meta = catalog.patch_meta(&ink.path, patch).unwrap();
    assert_eq!(
        meta.tags(),
        ["Ink", "monochrome"],
        "trimmed, unique regardless of case"
    );
    let tagged = |tag: &str| {
        names(
            &catalog,
            Query {
                tag: Some(tag.into()),
                ..Query::default()
            },
        )
    };
    assert_eq!(tagged("INK"), ["styles/ink.safetensors"]);
    assert_eq!(
        names(
            &catalog,
            Query {
                q: Some("brush".into()),
                ..Query::default()
            }
        )
        .len(),
        1
    );
    // Beyond the limits: refused, nothing changed.
    for bad in [
        MetaPatch {
            tags: Some((0..33).map(|i| format!("t{i}")).collect()),
            ..MetaPatch::default()
        },
        MetaPatch {
            description: Some(Some("x".repeat(2001))),
            ..MetaPatch::default()
        },
        MetaPatch {
            preferred_weight: Some(Some(f64::NAN)),
            ..MetaPatch::default()
        },
        MetaPatch {
            trigger_words: Some(vec!["a\u{0}b".into()]),
            ..MetaPatch::default()
        },
    ] {
        assert!(matches!(
            catalog.patch_meta(&ink.path, bad),
            Err(CatalogError::Invalid { .. })
        ));
    }
    assert_eq!(catalog.meta(&ink.path).unwrap(), meta);
    // The index is a cache: deleted, it is rebuilt with the metadata from its files.
    drop(catalog);
    std::fs::remove_file(root.join("catalog.sqlite")).unwrap();
    let (catalog, opened) = open(&root);
    assert_eq!(opened, Opened::Created);
    catalog.reconcile(std::slice::from_ref(&ink)).unwrap();
    assert_eq!(tagged_in(&catalog, "monochrome"), 1);
    // Into the bin and back, then purged.
    let bin = PartialPath::parse("styles/ink_v2.safetensors").unwrap();
    catalog.binned(&ink.path, &bin).unwrap();
    assert!(catalog.meta(&ink.path).unwrap().is_empty());
    assert_eq!(catalog.counts().unwrap().0, 0);
    catalog.restored(&bin, &ink).unwrap();
    assert_eq!(catalog.meta(&ink.path).unwrap(), meta);
    assert_eq!(tagged_in(&catalog, "ink"), 1);
    catalog.binned(&ink.path, &bin).unwrap();
    catalog.purged(&bin).unwrap();
    catalog.restored(&bin, &ink).unwrap();
    assert!(
        catalog.meta(&ink.path).unwrap().is_empty(),
        "purged with its file"
    );
}

fn tagged_in(catalog: &Catalog, tag: &str) -> usize {
    catalog
        .query(&Query {
            tag: Some(tag.into()),
            limit: 10,
            ..Query::default()
        })
        .unwrap()
        .total
}

#[test]
fn a_damaged_index_is_set_aside_and_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let root = root(&dir);
    std::fs::write(
        root.join("catalog.sqlite"),
        b"this is not a database, not at all",
    )
    .unwrap();
    let (catalog, opened) = open(&root);
    assert!(matches!(opened, Opened::Rebuilt { .. }), "{opened:?}");
    assert!(root.join("catalog.sqlite.damaged").exists());
    catalog
        .reconcile(&[row("styles/a.safetensors", 1, 1)])
        .unwrap();
    assert_eq!(catalog.counts().unwrap(), (1, 1));
    drop(catalog);
    let (_, opened) = open(&root);
    assert_eq!(opened, Opened::Existing);
}

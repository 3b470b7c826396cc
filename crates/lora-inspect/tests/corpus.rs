//! The corpus of synthetic trainer files (`fixtures::corpus`) against the inspector: each
//! file's family, variant, kind, network type, rank, alpha and verdict as its sources
//! say. Every mismatch is collected and printed as one table before the test fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;

use lora_inspect::fixtures::corpus::{Expected, Fixture, corpus};
use lora_inspect::{BaseModel, FileKind, NetworkType, Report, Verdict, evaluate};

fn verdict(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "pass",
        Verdict::Warn => "warn",
        Verdict::Fail => "fail",
    }
}

fn show<T: std::fmt::Debug>(v: Option<T>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| format!("{v:?}"))
}

struct Mismatch {
    fixture: &'static str,
    field: &'static str,
    expected: String,
    got: String,
    signals: String,
    findings: String,
}

fn compare(fixture: &Fixture, report: &Report, out: &mut Vec<Mismatch>) {
    let e: &Expected = &fixture.expected;
    let alpha_equal = match (e.alpha, report.alpha) {
        (Some(a), Some(b)) => (a - b).abs() <= 1e-6 * a.abs().max(1.0),
        (None, None) => true,
        _ => false,
    };
    let fields: [(&'static str, bool, String, String); 7] = [
        (
            "family",
            e.family == report.base_model.as_str(),
            e.family.to_owned(),
            report.base_model.as_str().to_owned(),
        ),
        (
            "variant",
            e.variant == report.base_model_variant,
            show(e.variant),
            show(report.base_model_variant),
        ),
        (
            "kind",
            e.kind == report.kind.as_str(),
            e.kind.to_owned(),
            report.kind.as_str().to_owned(),
        ),
        (
            "network_type",
            e.network_type == report.network_type.as_str(),
            e.network_type.to_owned(),
            report.network_type.as_str().to_owned(),
        ),
        (
            "rank",
            e.rank == report.rank,
            show(e.rank),
            show(report.rank),
        ),
        ("alpha", alpha_equal, show(e.alpha), show(report.alpha)),
        (
            "verdict",
            e.verdict == verdict(report.verdict),
            e.verdict.to_owned(),
            verdict(report.verdict).to_owned(),
        ),
    ];
    for (field, ok, expected, got) in fields {
        if !ok {
            out.push(Mismatch {
                fixture: fixture.name,
                field,
                expected,
                got,
                signals: report
                    .base_model_evidence
                    .iter()
                    .map(|s| {
                        let supports: Vec<&str> = s.supports.iter().map(|b| b.as_str()).collect();
                        format!("{} → [{}]", s.signal, supports.join(","))
                    })
                    .collect::<Vec<_>>()
                    .join(" | "),
                findings: report
                    .findings
                    .iter()
                    .map(|f| f.code.as_str())
                    .collect::<Vec<_>>()
                    .join(","),
            });
        }
    }
}

#[test]
fn every_fixture_is_what_its_sources_say() {
    let fixtures = corpus();
    let dir = tempfile::tempdir().unwrap();
    let mut mismatches = Vec::new();
    for fixture in &fixtures {
        let path = dir.path().join(format!("{}.safetensors", fixture.name));
        std::fs::write(&path, &fixture.bytes).unwrap();
        let report = evaluate(&path)
            .unwrap_or_else(|e| panic!("{} ({}): {e}", fixture.name, fixture.source));
        compare(fixture, &report, &mut mismatches);
    }
    if !mismatches.is_empty() {
        let mut table = String::from(
            "\n| fixture | field | expected | got | evidence signals | findings |\n|---|---|---|---|---|---|\n",
        );
        for m in &mismatches {
            table.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} |\n",
                m.fixture, m.field, m.expected, m.got, m.signals, m.findings
            ));
        }
        panic!(
            "{} mismatches over {} fixtures:{table}",
            mismatches.len(),
            fixtures.len()
        );
    }
}

#[test]
fn the_corpus_covers_every_family_kind_and_network_type() {
    let fixtures = corpus();
    assert!(fixtures.len() >= 30, "{} fixtures", fixtures.len());
    let mut names = HashSet::new();
    for f in &fixtures {
        assert!(names.insert(f.name), "duplicate fixture name {}", f.name);
        assert!(!f.source.is_empty(), "{} cites no source", f.name);
    }
    let families: HashSet<&str> = fixtures.iter().map(|f| f.expected.family).collect();
    for family in BaseModel::ALL {
        if family != BaseModel::Unknown {
            assert!(families.contains(family.as_str()), "no fixture of {family}");
        }
    }
    let kinds: HashSet<&str> = fixtures.iter().map(|f| f.expected.kind).collect();
    for kind in FileKind::ALL {
        assert!(
            kinds.contains(kind.as_str()),
            "no {} fixture",
            kind.as_str()
        );
    }
    let types: HashSet<&str> = fixtures.iter().map(|f| f.expected.network_type).collect();
    // Every type but `unknown` (what a non-adapter file has).
    for t in NetworkType::ALL
        .into_iter()
        .filter(|t| *t != NetworkType::Unknown)
    {
        assert!(types.contains(t.as_str()), "no {} fixture", t.as_str());
    }
}

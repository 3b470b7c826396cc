//! docs/FINDINGS.md lists every finding code with its severity: keep them in step.
#![allow(clippy::unwrap_used)]

#[test]
fn every_finding_code_is_documented_with_its_severity() {
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/FINDINGS.md"
    ))
    .unwrap();
    for (code, severity, _) in lora_inspect::FINDING_CODES {
        let severity = format!("{severity:?}").to_lowercase();
        let row = format!("| `{code}` | {severity} |");
        assert!(
            doc.contains(&row),
            "docs/FINDINGS.md lacks the row starting {row}"
        );
    }
    let rows = doc.lines().filter(|l| l.starts_with("| `")).count();
    assert_eq!(
        rows,
        lora_inspect::FINDING_CODES.len(),
        "a documented code no longer exists"
    );
}

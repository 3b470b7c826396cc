//! docs/FINDINGS.md lists every finding code with its severity: keep them in step.
#![allow(clippy::unwrap_used)]

use lora_inspect::FindingCode;

#[test]
fn every_finding_code_is_documented_with_its_severity() {
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/FINDINGS.md"
    ))
    .unwrap();
    // The table's rows: | `code` | severity | what it means | what to do |
    let documented: Vec<(String, String)> = doc
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(|row| {
            let cells: Vec<&str> = row.split('|').map(str::trim).collect();
            (cells[1].trim_matches('`').to_owned(), cells[2].to_owned())
        })
        .collect();
    let expected: Vec<(String, String)> = FindingCode::ALL
        .iter()
        .map(|c| (c.as_str().to_owned(), c.severity().as_str().to_owned()))
        .collect();
    assert_eq!(
        documented, expected,
        "docs/FINDINGS.md's table must list FindingCode::ALL, in order, with each severity"
    );
}

//! `lora-server inspect FILE...`: the evaluation report without a server.

use std::fmt::Write as _;
use std::path::PathBuf;

use lora_core::Extension;
use lora_http::{ContentRejection, EvaluationBatch};
use lora_inspect::{Admission, Report, Verdict};

/// Prints a report per file: a table each, or with `json` one JSON document (one file:
/// the report, as the evaluation route answers a `partial_path`; several: `{"reports":
/// [...]}`, as it answers `partial_paths`).
///
/// `Err` (exit status 1) when any verdict is `fail`, a file cannot be read (it is named on
/// stderr and has no report), or `admission` would refuse it (another kind than a LoRA,
/// a base model not on the list), which the upload gate would answer with a 400.
pub fn run(files: &[PathBuf], json: bool, admission: &Admission) -> Result<(), String> {
    let mut failed = Vec::new();
    let mut reports = Vec::new();
    for path in files {
        let shown = path.display();
        match lora_inspect::evaluate(path) {
            Ok(report) => {
                let refusal = refusal(path, admission);
                if json {
                    if let Some(refusal) = &refusal {
                        eprintln!("{shown}: {refusal}");
                    }
                } else {
                    print!("{}", table(&report, admission, refusal.as_deref()));
                }
                if report.verdict == Verdict::Fail {
                    failed.push(format!("{shown} (verdict fail)"));
                } else if refusal.is_some() {
                    failed.push(format!("{shown} (not admitted)"));
                }
                reports.push(report);
            }
            Err(e) => {
                eprintln!("{shown}: {e}");
                failed.push(format!("{shown} (cannot be read)"));
            }
        }
    }
    if json {
        let text = match (files.len(), reports.pop()) {
            (_, None) => None,
            (1, Some(one)) => Some(serde_json::to_string_pretty(&one)),
            (_, Some(last)) => {
                reports.push(last);
                Some(serde_json::to_string_pretty(&EvaluationBatch { reports }))
            }
        };
        if let Some(text) = text {
            println!("{}", text.map_err(|e| e.to_string())?);
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!("failed: {}", failed.join(", ")))
    }
}

/// The upload gate's refusal of a valid file, in its words: the same gate (header only)
/// and the same admission rules. A file the gate refuses as invalid has a `fail` verdict
/// already; one without an upload extension is not judged here.
fn refusal(path: &std::path::Path, admission: &Admission) -> Option<String> {
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .and_then(Extension::parse)?;
    let validated = lora_inspect::validate(path, extension).ok()?;
    let refused = admission.admit(&validated.identity).err()?;
    Some(ContentRejection::NotAdmitted(refused).to_string())
}

fn table(r: &Report, admission: &Admission, refusal: Option<&str>) -> String {
    let mut out = String::new();
    let opt = |v: Option<String>| v.unwrap_or_else(|| "-".to_owned());
    let rows = [
        ("file", r.partial_path.clone()),
        ("verdict", format!("{:?}", r.verdict).to_lowercase()),
        ("format", opt(r.format.map(|f| f.as_str().to_owned()))),
        ("size", format!("{} bytes", r.file_size)),
        ("sha256", r.sha256.to_hex()),
        ("autov2", r.hashes.autov2.clone()),
        ("kind", r.kind.as_str().to_owned()),
        (
            "base model",
            format!(
                "{}{} (from {})",
                r.base_model.as_str(),
                r.base_model_variant
                    .map(|v| format!(" {v}"))
                    .unwrap_or_default(),
                r.base_model_source
            ),
        ),
        ("network", r.network_type.as_str().to_owned()),
        (
            "rank / alpha",
            format!(
                "{} / {}",
                opt(r.rank.map(|v| v.to_string())),
                opt(r.alpha.map(|v| v.to_string()))
            ),
        ),
        (
            "modules",
            format!(
                "{} ({} text encoder)",
                r.module_count, r.text_encoder_modules
            ),
        ),
        (
            "tensors",
            format!("{} ({} parameters)", r.tensor_count, r.parameter_count),
        ),
        (
            "weights",
            opt(r.weights.as_ref().map(|w| {
                format!(
                    "nan {}, inf {}, max |w| {:.4}",
                    w.nan_count, w.inf_count, w.max_abs
                )
            })),
        ),
    ];
    for (k, v) in rows {
        let _ = writeln!(out, "{k:>13}  {v}");
    }
    if admission.base_models.is_some() || refusal.is_some() {
        let verdict = refusal.map_or_else(
            || format!("base model '{}' is accepted", r.base_model.as_str()),
            str::to_owned,
        );
        let _ = writeln!(out, "{:>13}  {verdict}", "allowlist");
    }
    for f in &r.findings {
        let _ = writeln!(
            out,
            "{:>13}  [{}] {}",
            format!("{:?}", f.severity).to_lowercase(),
            f.code,
            f.message
        );
    }
    out.push('\n');
    out
}

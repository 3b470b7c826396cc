//! `lora-server inspect FILE...`: the evaluation report without a server.

use std::fmt::Write as _;
use std::path::PathBuf;

use lora_inspect::{Report, Verdict};

/// Prints a report per file; `Err` (exit status 1) when any verdict is `fail` or a file
/// cannot be read.
pub fn run(files: &[PathBuf], json: bool) -> Result<(), String> {
    let mut failed = Vec::new();
    for path in files {
        match lora_inspect::evaluate(path) {
            Ok(report) => {
                if json {
                    let text = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
                    println!("{text}");
                } else {
                    print!("{}", table(&report));
                }
                if report.verdict == Verdict::Fail {
                    failed.push(path.display().to_string());
                }
            }
            Err(e) => {
                eprintln!("{}: {e}", path.display());
                failed.push(path.display().to_string());
            }
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!("failed: {}", failed.join(", ")))
    }
}

fn table(r: &Report) -> String {
    let mut out = String::new();
    let opt = |v: Option<String>| v.unwrap_or_else(|| "-".to_owned());
    let rows = [
        ("file", r.partial_path.clone()),
        ("verdict", format!("{:?}", r.verdict).to_lowercase()),
        ("format", opt(r.format.map(|f| f.as_str().to_owned()))),
        ("size", format!("{} bytes", r.file_size)),
        ("sha256", r.sha256.to_hex()),
        ("autov2", r.hashes.autov2.clone()),
        (
            "base model",
            format!("{} (from {})", r.base_model.as_str(), r.base_model_source),
        ),
        ("network", format!("{:?}", r.network_type).to_lowercase()),
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

//! A client generated from `/openapi.json` by a generator this project did not write
//! (openapi-python-client, from PyPI, installed on first use): it starts an install from
//! a URL and polls the job until the file is stored, through the served binary.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;
use std::sync::Arc;

use serde_json::Value;

#[path = "common/clients.rs"]
mod clients;
#[path = "common/server.rs"]
mod server;
#[path = "common/source.rs"]
mod source;

/// Starts an install with the generated client and polls it; prints the last job as JSON.
const CLIENT: &str = r#"
import json, sys, time
from lora_client import AuthenticatedClient
from lora_client.api.admin import install_lora, get_lora_install
from lora_client.models import InstallRequest

base, token, url = sys.argv[1:4]
client = AuthenticatedClient(base_url=base, token=token)
started = install_lora.sync_detailed(client=client, body=InstallRequest(url=url, entity_type="styles"))
assert started.status_code == 202, started
job = started.parsed
while job.status.value not in ("done", "failed", "cancelled"):
    time.sleep(0.05)
    job = get_lora_install.sync(id=job.id, client=client)
print(json.dumps(job.to_dict()))
"#;

#[test]
fn a_generated_client_starts_an_install_and_polls_it_to_the_end() {
    let tools = clients::openapi_python_client();
    let bytes = lora_inspect::safetensors::build(
        &[
            ("lora_unet_a.lora_down.weight", "F32", &[4, 8], &[0u8; 128]),
            ("lora_unet_a.lora_up.weight", "F32", &[8, 4], &[0u8; 128]),
        ],
        &[],
    );
    let state = Arc::new(source::State::default());
    state
        .files
        .lock()
        .unwrap()
        .insert("gen.safetensors".into(), bytes.clone());
    let cdn = source::Source::start("127.0.0.1", state);
    let data = tempfile::tempdir().unwrap();
    let server = server::serve_dev_with(
        data.path(),
        &[
            ("LORA_INSTALL_ALLOW_HTTP", "true"),
            ("LORA_INSTALL_ALLOW_PRIVATE", "true"),
        ],
    );
    let (status, document) = server::get(&server.addr, "/openapi.json", "");
    assert_eq!(status, 200);
    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("openapi.json"), document).unwrap();
    let generated = Command::new("python3")
        .env("PYTHONPATH", tools)
        .current_dir(work.path())
        .args([
            "-m",
            "openapi_python_client",
            "generate",
            "--path",
            "openapi.json",
        ])
        .args(["--meta", "none", "--output-path", "lora_client"])
        .output()
        .unwrap();
    assert!(
        work.path()
            .join("lora_client/api/admin/install_lora.py")
            .exists(),
        "{}",
        String::from_utf8_lossy(&generated.stderr)
    );
    let pythonpath = format!("{}:{}", work.path().display(), tools.display());
    let url = format!("{}/cdn/gen.safetensors", cdn.origin);
    let ran = Command::new("python3")
        .env("PYTHONPATH", pythonpath)
        .args([
            "-c",
            CLIENT,
            &format!("http://{}", server.addr),
            &server.admin,
            &url,
        ])
        .output()
        .unwrap();
    assert!(
        ran.status.success(),
        "{}",
        String::from_utf8_lossy(&ran.stderr)
    );
    let job: Value = serde_json::from_slice(&ran.stdout).unwrap();
    assert_eq!(job["status"], "done", "{job}");
    assert_eq!(
        job["result"]["partial_path"], "styles/gen.safetensors",
        "{job}"
    );
    let stored = std::fs::read(data.path().join("models/loras/styles/gen.safetensors")).unwrap();
    assert_eq!(stored, bytes);
}

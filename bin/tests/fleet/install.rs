//! An install from a URL in fleet mode: the node that fetched the file publishes it to the
//! bucket like an upload, so every node of the fleet gets it.

use std::sync::Arc;

use super::source::{Source, State};
use super::support::*;

#[test]
fn a_file_installed_through_one_node_reaches_the_others() {
    let weed = Weed::start();
    let allow = [
        ("LORA_INSTALL_ALLOW_HTTP", "true"),
        ("LORA_INSTALL_ALLOW_PRIVATE", "true"),
    ];
    let a = Node::start_syncing(&weed, "install", tempfile::tempdir().unwrap(), 1, &allow);
    let b = Node::start(&weed, "install");
    let bytes = lora(25);
    let state = Arc::new(State::default());
    state
        .files
        .lock()
        .unwrap()
        .insert("fetched.safetensors".into(), bytes.clone());
    let cdn = Source::start("127.0.0.1", state);
    let url = format!("{}/cdn/fetched.safetensors", cdn.origin);
    let body = format!(r#"{{"url": "{url}", "entity_type": "styles"}}"#);
    let (status, job) = a.json("POST", "/api/v1/admin/lora/install", &body);
    assert_eq!(status, 202, "{job}");
    let path = format!("/api/v1/admin/lora/install/{}", job["id"].as_str().unwrap());
    let mut last = job;
    eventually("the install to end", || {
        last = a.json("GET", &path, "").1;
        matches!(last["status"].as_str(), Some("done" | "failed"))
    });
    assert_eq!(last["status"], "done", "{last}\n{}", a.log());
    assert_eq!(last["result"]["partial_path"], "styles/fetched.safetensors");
    assert_eq!(
        a.on_disk("styles/fetched.safetensors").as_deref(),
        Some(&bytes[..])
    );
    eventually("node B to hold the file", || {
        b.on_disk("styles/fetched.safetensors").as_deref() == Some(&bytes[..])
    });
}

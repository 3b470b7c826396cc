//! The catalogue in fleet mode: a file's facts travel with it, so a node that does not
//! hold the file still lists and filters it by what its header says.

use super::support::*;

#[test]
fn a_node_that_does_not_hold_a_file_still_knows_its_facts() {
    let weed = Weed::start();
    let a = Node::start(&weed, "facts");
    let (status, _) = a.upload("kept.safetensors", &lora(3), true);
    assert_eq!(status, 200);
    // B holds nothing unasked (a budget of one byte): the file is only in the bucket.
    let b = Node::start_syncing(
        &weed,
        "facts",
        tempfile::tempdir().unwrap(),
        1,
        &[("LORA_REPLICA_BUDGET_BYTES", "1")],
    );
    eventually(
        "B lists the file, and its facts, without holding it",
        || {
            let (_, page) = b.json("GET", "/api/v1/admin/lora?base_model=sdxl", "");
            page["total"] == 1 && page["items"][0]["kind"] == "lora"
        },
    );
    let (_, all) = b.json("GET", "/api/v1/admin/lora", "");
    assert_eq!(all["items"][0]["local"], false, "{all}");
    assert!(
        !b.data
            .path()
            .join("models/loras/styles/kept.safetensors")
            .exists(),
        "read from the bucket's facts, not from a copy"
    );
}

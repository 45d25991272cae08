//! `run.json` is streamed to disk item by item (never held whole in memory) but stays
//! exactly what it was when it was built as one JSON tree: that tree printed pretty, its fields
//! in the same order.

use std::time::Duration;

use vip_run::sandbox::Config;

use crate::run::{hello_matrix, hello_test};
use crate::support::SandboxHandle;

fn keys(v: &serde_json::Value) -> Vec<&str> {
    v.as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect()
}

#[test]
fn the_run_record_is_its_tree_printed_pretty_in_field_order() {
    let sb = SandboxHandle::start(Config {
        exec_duration: Duration::from_millis(200),
        quota: Some(3),
        ..Config::default()
    });
    let t = hello_test(&sb, &hello_matrix(3, 3)).args(&["study.yaml"]);
    t.run().code(0).stdout_has("3 finished");
    let text = std::fs::read_to_string(t.dir().join(".vip-run/hello/run.json")).unwrap();
    let record: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(serde_json::to_string_pretty(&record).unwrap(), text);
    assert_eq!(
        keys(&record),
        [
            "manifest",
            "manifest_sha256",
            "vip_run_version",
            "server",
            "pipeline",
            "written_at",
            "items"
        ]
    );
    let items = record["items"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    let item = &items[0];
    assert_eq!(
        keys(item),
        [
            "key",
            "fingerprint",
            "inputs",
            "result",
            "executions",
            "outputs"
        ]
    );
    assert_eq!(keys(&item["inputs"]), ["input_file", "message"]);
    let execution = &item["executions"][0];
    assert_eq!(
        keys(execution),
        ["id", "name", "launched_at", "statuses", "timed_out"]
    );
    assert_eq!(keys(&execution["statuses"][0]), ["status", "seen_at"]);
    assert_eq!(
        keys(&item["outputs"][0]),
        [
            "execution",
            "remote",
            "local",
            "size",
            "sha256",
            "downloaded",
            "problem"
        ]
    );
    assert_eq!(item["outputs"][0]["downloaded"], true);
    assert!(item["outputs"][0]["problem"].is_null());
}

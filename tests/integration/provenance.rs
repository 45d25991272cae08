//! Each run writes a Process Run Crate in the results root, which a real
//! RO-Crate reader (ro-crate-py, `rocrate` on `PyPI`, in a throwaway virtual environment)
//! opens, listing every execution with its inputs and results, whose checksums match the
//! files. Skipped, saying why, when Python or the package registry is not available.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::python_client::{output_text, python_with};
use crate::support::{SandboxHandle, Test};

const ROCRATE: &str = "rocrate==0.16.0";
const PROFILE: &str = "https://w3id.org/ro/wfrun/process/0.5";

/// Two subjects (sub-02 fails), results under `results/`, inputs beside the manifest.
fn ran() -> (SandboxHandle, Test) {
    let sb = SandboxHandle::quick(Duration::from_millis(300));
    let t = Test::new()
        .manifest(&crate::clean::manifest(
            "crate",
            &["sub-01", "sub-02", "sub-03"],
            true,
            "",
        ))
        .file("data/sub-01.txt", "one\n")
        .file("data/sub-02.txt", "two\n")
        .file("data/sub-03.txt", "three\n")
        .against(&sb, crate::clean::DEMO);
    t.run_with(&["--progress", "plain", "study.yaml"])
        .code(1)
        .stderr_has("provenance: results/ro-crate-metadata.json");
    (sb, t)
}

#[test]
fn the_crate_follows_the_process_run_crate_shape() {
    let (_sb, t) = ran();
    let text = std::fs::read_to_string(t.dir().join("results/ro-crate-metadata.json")).unwrap();
    let crate_json: Value = serde_json::from_str(&text).unwrap();
    let graph = crate_json["@graph"].as_array().unwrap();
    let by_id = |id: &str| {
        graph
            .iter()
            .find(|e| e["@id"] == id)
            .unwrap_or_else(|| panic!("no {id}"))
    };
    assert_eq!(
        by_id("ro-crate-metadata.json")["conformsTo"]["@id"],
        "https://w3id.org/ro/crate/1.1"
    );
    let root = by_id("./");
    assert_eq!(root["conformsTo"]["@id"], PROFILE);
    assert_eq!(by_id(PROFILE)["@type"], "CreativeWork");
    let actions: Vec<&Value> = graph
        .iter()
        .filter(|e| e["@type"] == "CreateAction")
        .collect();
    assert_eq!(actions.len(), 3);
    let mentions = root["mentions"].as_array().unwrap();
    for a in &actions {
        assert!(mentions.iter().any(|m| m["@id"] == a["@id"]), "{a}");
        assert!(a["identifier"].as_str().unwrap().starts_with("workflow-"));
        for key in [
            "instrument",
            "agent",
            "object",
            "result",
            "startTime",
            "endTime",
            "actionStatus",
        ] {
            assert!(!a[key].is_null(), "{key} missing: {a}");
        }
    }
    let failed = actions
        .iter()
        .find(|a| a["name"].as_str().unwrap().contains("sub-02"))
        .unwrap();
    assert_eq!(
        failed["actionStatus"]["@id"],
        "http://schema.org/FailedActionStatus"
    );
    assert!(failed["error"].as_str().unwrap().contains("asked to fail"));
    // The descriptor is a file of the crate, about the pipeline.
    assert!(t.dir().join("results/boutiques-descriptor.json").is_file());
    // Every file of the crate is listed by the root; nothing points out with `..`.
    assert!(!text.contains("\"../"), "{text}");
}

#[test]
fn ro_crate_py_reads_every_execution_with_matching_checksums() {
    let tmp = tempfile::tempdir().unwrap();
    let python = match python_with(ROCRATE, tmp.path()) {
        Ok(p) => p,
        Err(why) => {
            eprintln!("skipped: {why}");
            return;
        }
    };
    let (_sb, t) = ran();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/read_crate.py");
    let out = Command::new(&python)
        .arg(&script)
        .arg(t.dir().join("results"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ro-crate-py could not read the crate\n{}",
        output_text(&out)
    );
    let found: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(found["conformsTo"], serde_json::json!([PROFILE]));
    assert_eq!(
        found["software"],
        serde_json::json!(["Hello/1.0", "vip-run"])
    );
    let actions = found["actions"].as_array().unwrap();
    assert_eq!(actions.len(), 3, "{found}");
    for a in actions {
        assert_eq!(a["mentioned"], true);
        assert_eq!(a["instrument"], "Hello/1.0");
        assert_eq!(a["agent"], "Person");
        let name = a["name"].as_str().unwrap();
        let subject = &name[6..12];
        assert!(
            a["parameters"]["message"]
                .as_str()
                .unwrap()
                .ends_with(subject),
            "{a}"
        );
        assert!(
            a["parameters"]["input_file"]
                .as_str()
                .unwrap()
                .starts_with(&format!("{}/", crate::support::inputs_root(&t, "crate"))),
            "{a}"
        );
        // The local input, outside the results root, by a file:// URI, checksum matching.
        let inputs = a["inputs"].as_array().unwrap();
        assert_eq!(inputs.len(), 1, "{a}");
        assert!(
            inputs[0]["id"].as_str().unwrap().starts_with("file://"),
            "{a}"
        );
        let results = a["results"].as_array().unwrap();
        if subject == "sub-02" {
            assert_eq!(a["status"], "http://schema.org/FailedActionStatus");
            assert!(results.is_empty());
        } else {
            assert_eq!(a["status"], "http://schema.org/CompletedActionStatus");
            assert_eq!(results.len(), 1, "{a}");
            assert_eq!(results[0]["id"], format!("{subject}/hello.txt"));
        }
        for f in inputs.iter().chain(results) {
            assert_eq!(f["size_ok"], true, "{f}");
            assert_eq!(f["sha_ok"], true, "{f}");
        }
    }
}

/// The SHA-256 of `bytes`, in hex.
fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    format!("{:x}", sha2::Sha256::digest(bytes))
}

/// The crate's `sha256` for the file entity `id`.
fn crate_sha(t: &Test, id: &str) -> String {
    let text = std::fs::read_to_string(t.dir().join("results/ro-crate-metadata.json")).unwrap();
    let crate_json: Value = serde_json::from_str(&text).unwrap();
    crate_json["@graph"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["@id"] == id)
        .unwrap_or_else(|| panic!("no {id} in {text}"))["sha256"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn checksums_recorded_while_files_moved_stand_only_while_the_files_are_unchanged() {
    let (_sb, t) = ran();
    let output = t.dir().join("results/sub-01/hello.txt");
    let first = std::fs::read(&output).unwrap();
    // Hashed as it was written: the crate says the file's hash.
    assert_eq!(crate_sha(&t, "sub-01/hello.txt"), sha256_hex(&first));
    // The same size, other bytes, a later time: not the execution's output any more, so
    // the run fetches it again, and the crate says the hash of what is there again.
    let changed: Vec<u8> = first.iter().map(|b| b ^ 0x20).collect();
    std::thread::sleep(Duration::from_millis(20));
    std::fs::write(&output, &changed).unwrap();
    t.run_with(&["--progress", "plain", "study.yaml"]).code(1);
    assert_eq!(std::fs::read(&output).unwrap(), first);
    assert_eq!(crate_sha(&t, "sub-01/hello.txt"), sha256_hex(&first));
}

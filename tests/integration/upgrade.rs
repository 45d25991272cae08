//! Upgrading costs no grid time: a state folder written by vip-run 0.1.0 (the release before
//! outputs and inputs were identified by content; `tests/fixtures/state-0.1.0`, made by that
//! release against its sandbox) keeps its finished executions.
//!
//! The sandbox of a test cannot hold that run's executions, so the test makes them again as
//! that release did (the same upload path, execution names, inputs and results folders) and
//! fills the fixture's placeholders with what the sandbox answered: the server, the
//! execution ids and VIP's timestamp folders. Everything else is the old release's bytes.

use std::path::Path;
use std::time::Duration;

use indexmap::IndexMap;
use secrecy::SecretString;
use serde_json::json;

use vip_run::vip::wire::{CreateExecution, ExecutionStatus};
use vip_run::vip::{Client, ClientConfig};

use crate::support::{SandboxHandle, Test, root};

const DEMO: &str = "sandbox-demo-key";

/// The old release's execution names (`<name>-<key>-<fp6>`, the fingerprint by VIP path).
const ITEMS: [(&str, &str); 2] = [("s1", "study-s1-cce5f7"), ("s2", "study-s2-4876cc")];

#[test]
fn a_state_written_by_the_previous_release_keeps_its_executions() {
    let fixture = root().join("tests/fixtures/state-0.1.0");
    let read = |p: &str| std::fs::read(fixture.join(p)).unwrap();
    let sb = SandboxHandle::quick(Duration::from_millis(200));
    let t = Test::new()
        .file("study.yaml", read("study.yaml"))
        .file("in.txt", read("in.txt"))
        .file("results/s1/hello.txt", read("results/s1/hello.txt"))
        .file("results/s2/hello.txt", read("results/s2/hello.txt"))
        .against(&sb, DEMO);

    // What the old release did on VIP: its upload, then one execution per item.
    let client = Client::new(&ClientConfig::new(sb.url()), &SecretString::from(DEMO)).unwrap();
    let mut filled = vec![("{{SERVER}}".to_owned(), sb.url().to_owned())];
    sb.block_on(async {
        client
            .mkdir_p("/vip/Home/vip-run/study/inputs")
            .await
            .unwrap();
        client
            .upload(
                &t.dir().join("in.txt"),
                "/vip/Home/vip-run/study/inputs/in.txt",
            )
            .await
            .unwrap();
        for (key, name) in ITEMS {
            let folder = format!("/vip/Home/vip-run/study/{name}");
            client.mkdir_p(&folder).await.unwrap();
            let inputs: IndexMap<String, serde_json::Value> = serde_json::from_value(json!({
                "input_file": "/vip/Home/vip-run/study/inputs/in.txt",
                "message": format!("Hi {key}"),
            }))
            .unwrap();
            let e = client
                .create_execution(&CreateExecution {
                    name: Some(name.into()),
                    pipeline_identifier: Some("Hello/1.0".into()),
                    input_values: Some(inputs),
                    results_location: Some(folder.clone()),
                })
                .await
                .unwrap();
            let done = loop {
                let now = client.execution(&e.identifier).await.unwrap();
                if now.status == ExecutionStatus::Finished {
                    break now;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            };
            let file = done
                .returned_files
                .unwrap()
                .into_values()
                .flatten()
                .next()
                .unwrap();
            let stamp = file
                .strip_prefix(&format!("{folder}/"))
                .and_then(|rest| rest.split('/').next())
                .unwrap()
                .to_owned();
            filled.push((format!("{{{{EXEC_{key}}}}}"), e.identifier.clone()));
            filled.push((format!("{{{{TS_{key}}}}}"), stamp));
        }
    });
    for file in ["state.json", "state.journal"] {
        let mut text = String::from_utf8(read(&format!("state/{file}"))).unwrap();
        for (from, to) in &filled {
            text = text.replace(from, to);
        }
        assert!(!text.contains("{{"), "{text}");
        let to = t.dir().join(".vip-run/study").join(file);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::write(to, text).unwrap();
    }
    let before = sb.requests().len();

    t.run_with(&["--progress", "plain", "run", "study.yaml"])
        .code(0);

    let after = sb.calls_since(before);
    assert!(
        !after.iter().any(|r| r.starts_with("POST")),
        "an upgrade launched again: {after:?}"
    );
    assert!(
        !after
            .iter()
            .any(|r| r.starts_with("PUT") || r.ends_with("?action=content")),
        "an upgrade moved bytes it had: {after:?}"
    );
    // The executions are the old ones; the outputs moved to the new default folder
    // (`results/<name>/<item>`), checked against VIP's copies.
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(t.dir().join(".vip-run/study/run.json")).unwrap())
            .unwrap();
    for (key, _) in ITEMS {
        let item = record["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["key"] == key)
            .unwrap();
        let id = item["executions"][0]["id"].as_str().unwrap();
        let old = &filled
            .iter()
            .find(|(k, _)| k == &format!("{{{{EXEC_{key}}}}}"))
            .unwrap()
            .1;
        assert_eq!(id, old);
        let output = &item["outputs"][0];
        assert_eq!(output["execution"], *old);
        let local = t.dir().join(format!("results/study/{key}/hello.txt"));
        assert_eq!(
            std::fs::read(&local).unwrap(),
            read(&format!("results/{key}/hello.txt"))
        );
        assert!(!Path::new(&t.dir().join(format!("results/{key}/hello.txt"))).exists());
    }
    let state = std::fs::read_to_string(t.dir().join(".vip-run/study/state.json")).unwrap();
    assert!(state.contains("\"format\": 3"), "{state}");
}

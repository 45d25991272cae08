//! Values are sent as written: `08`, `010`, `1e3`, `1.50` in `matrix`, `vars`,
//! `include` and `inputs` reach VIP, the item keys and the templates as the user wrote them.

use std::time::Duration;

use crate::support::{SandboxHandle, Test};

const DEMO: &str = "sandbox-demo-key";

const MANIFEST: &str = "version: 1
name: runs
pipeline_id: Hello/1.0
group: Demo
vars:
  session: 007
  study: { site: 03, echoes: [01, 2.50] }
matrix:
  run: [08, 010, 1e3, 1.50]
  include:
    - { run: 0.10 }
inputs:
  input_file: in.txt
  message: \"v{{ run }}-s{{ session }}-{{ vars.study.site }}-{{ study.echoes[1] }}\"
  repeat: 02
";

#[test]
fn numbers_reach_keys_templates_and_vip_as_written() {
    let t = Test::new().manifest(MANIFEST).file("in.txt", "x\n");
    let out = t.run_with(&["--output", "json", "validate", "study.yaml"]);
    out.code(0);
    let record = &out.json_lines()[0];
    let items = record["items"].as_array().unwrap();
    let keys: Vec<&str> = items.iter().map(|i| i["key"].as_str().unwrap()).collect();
    assert_eq!(keys, ["08", "010", "1e3", "1.50", "0.10"]);
    let messages: Vec<&str> = items
        .iter()
        .map(|i| i["inputs"]["message"].as_str().unwrap())
        .collect();
    assert_eq!(
        messages,
        [
            "v08-s007-03-2.50",
            "v010-s007-03-2.50",
            "v1e3-s007-03-2.50",
            "v1.50-s007-03-2.50",
            "v0.10-s007-03-2.50"
        ]
    );
    assert!(items.iter().all(|i| i["inputs"]["repeat"] == "02"));
    assert_eq!(items[0]["variables"]["run"], "08");

    // And on VIP: the sandbox's Hello writes the message it received.
    let sb = SandboxHandle::quick(Duration::from_millis(200));
    let t = t.against(&sb, DEMO);
    t.run_with(&["run", "study.yaml"]).code(0);
    for (key, message) in keys.iter().zip(&messages) {
        let text =
            std::fs::read_to_string(t.dir().join(format!("results/runs/{key}/hello.txt"))).unwrap();
        assert!(
            text.starts_with(&format!("{message}\n{message}\n")),
            "{key}: {text}"
        );
    }
}

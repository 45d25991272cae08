//! Property tests: whatever the input, validation returns (valid or not); it never panics.

use proptest::prelude::*;

use vip_run::manifest::{self, LoadOptions};

fn check(bytes: &[u8]) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("study.yaml");
    std::fs::write(&path, bytes).unwrap();
    let options = LoadOptions { max_items: 50 };
    match manifest::load(&path, &options) {
        Ok(v) => {
            let _ = vip_run::report::verdict::human("study.yaml", &v, None);
            let _ = vip_run::report::verdict::json_valid("study.yaml", &v, None);
        }
        Err(errors) => {
            for d in &errors.diagnostics {
                let _ = vip_run::report::diagnostics::render(d, false, &[]);
                let _ = d.to_record();
            }
        }
    }
}

/// Fragments that make likely-looking manifests, so the checks behind the parser are reached.
fn fragment() -> impl Strategy<Value = String> {
    let keys = prop::sample::select(vec![
        "version",
        "name",
        "pipeline_id",
        "group",
        "api_key",
        "server",
        "vars",
        "matrix",
        "foreach",
        "inputs",
        "results",
        "execution",
        "location",
        "download",
        "extract",
        "max_parallel",
        "poll_interval",
        "timeout",
        "retries",
        "include",
        "exclude",
        "env",
        "literal",
        "subject",
        "message",
        "<<",
    ]);
    let values = prop::sample::select(vec![
        "1",
        "2",
        "x",
        "A/1",
        "\"{{ subject }}\"",
        "{{ x",
        "[a, b]",
        "[]",
        "{}",
        "~",
        "30s",
        "-1",
        "true",
        "&a [1]",
        "*a",
        "\"a@@b\"",
        "é",
        "/vip/Home/x",
        "p:id",
        "99999999999999999999",
        "'",
        "\"",
        "\t",
        "{ env: X }",
        "[[",
        "1.5e400",
    ]);
    (keys, values, 0usize..4)
        .prop_map(|(k, v, indent)| format!("{}{k}: {v}\n", "  ".repeat(indent)))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        check(&bytes);
    }

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,300}") {
        check(text.as_bytes());
    }

    #[test]
    fn manifest_like_text_never_panics(lines in prop::collection::vec(fragment(), 0..24)) {
        let text = format!("version: 1\nname: s\npipeline_id: A/1\ngroup: G\n{}", lines.concat());
        check(text.as_bytes());
    }
}

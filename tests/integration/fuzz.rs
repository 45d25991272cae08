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
            let jobs: Vec<_> = v
                .items
                .iter()
                .map(|i| manifest::jobs::of_item(i, None))
                .collect();
            let _ = vip_run::report::validate::human("study.yaml", &v, None, &jobs);
            let _ = vip_run::report::validate::json_valid("study.yaml", &v, None, &jobs);
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
        "collect",
        "from",
        "to",
        "format",
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
        "[{ from: \"{{ subject }}.csv\", to: t.csv }]",
        "a.tsv",
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

/// Numbers as people write them: leading zeros, exponents, trailing zeros, signs.
fn written_number() -> impl Strategy<Value = String> {
    prop_oneof![
        "0[0-9]{1,4}",
        "[1-9][0-9]{0,3}",
        "[+-]?[0-9]{1,3}\\.[0-9]{0,3}0",
        "[1-9](\\.[0-9]{1,2})?[eE][+-]?[0-9]{1,2}",
        "-0[0-9]{1,2}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, .. ProptestConfig::default() })]

    /// Whatever YAML makes of a number, the key, the template and the input
    /// carry the text as written, and two different spellings stay two items.
    #[test]
    fn numbers_are_sent_as_written(a in written_number(), b in written_number()) {
        prop_assume!(a != b);
        let text = format!(
            "version: 1\nname: s\npipeline_id: A/1\ngroup: G\nvars:\n  fixed: {a}\nmatrix:\n  n: [{a}, {b}]\ninputs:\n  plain: {b}\n  list: [{a}, {b}]\n  templ: \"x{{{{ n }}}}y{{{{ fixed }}}}\"\n"
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("study.yaml");
        std::fs::write(&path, &text).unwrap();
        let v = manifest::load(&path, &LoadOptions { max_items: 50 })
            .unwrap_or_else(|e| panic!("{text}\n{e}"));
        prop_assert_eq!(v.items.len(), 2);
        for (item, n) in v.items.iter().zip([&a, &b]) {
            let text_of = |name: &str| -> Vec<String> {
                item.inputs[name].values().iter().map(|x| x.text.clone()).collect()
            };
            prop_assert_eq!(text_of("plain"), vec![b.clone()]);
            prop_assert_eq!(text_of("list"), vec![a.clone(), b.clone()]);
            prop_assert_eq!(text_of("templ"), vec![format!("x{n}y{a}")]);
            if n.bytes().all(|c| c.is_ascii_digit()) {
                prop_assert_eq!(&item.key, n);
            }
        }
    }
}

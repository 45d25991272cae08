//! The shipped examples and the schema: examples validate, carry the modeline, match the
//! schema; the committed schema is what `vip-run schema` prints.

use std::path::PathBuf;

use crate::support::{Test, root};

fn examples() -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(root().join("examples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    found.sort();
    found
}

fn schema() -> serde_json::Value {
    let text = std::fs::read_to_string(root().join("schemas/manifest.schema.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn the_committed_schema_is_what_the_binary_prints() {
    let out = Test::new().args(&["schema"]).run();
    out.code(0);
    let committed = std::fs::read_to_string(root().join("schemas/manifest.schema.json")).unwrap();
    assert!(
        out.stdout == committed,
        "schemas/manifest.schema.json is stale: regenerate it with `cargo run -- schema > schemas/manifest.schema.json`"
    );
}

#[test]
fn the_schema_is_draft_07() {
    assert_eq!(
        schema()["$schema"],
        "http://json-schema.org/draft-07/schema#"
    );
    jsonschema::draft7::new(&schema()).expect("a valid draft-07 schema");
}

#[test]
fn there_are_at_least_four_examples() {
    assert!(examples().len() >= 4, "{:?}", examples());
}

#[test]
fn every_example_validates_cleanly() {
    for example in examples() {
        let text = std::fs::read_to_string(&example).unwrap();
        assert!(
            text.starts_with("# yaml-language-server: $schema=../schemas/manifest.schema.json\n"),
            "{} lacks the modeline",
            example.display()
        );
        let out = Test::new()
            .args(&["validate", example.to_str().unwrap()])
            .run();
        out.code(0);
        assert!(
            out.stderr.is_empty(),
            "{}: {}",
            example.display(),
            out.stderr
        );
    }
}

#[test]
fn every_example_matches_the_schema() {
    let validator = jsonschema::draft7::new(&schema()).unwrap();
    for example in examples() {
        let text = std::fs::read_to_string(&example).unwrap();
        let value: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&value)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{}: {errors:?}", example.display());
    }
}

#[test]
fn the_schema_rejects_what_validate_rejects() {
    let validator = jsonschema::draft7::new(&schema()).unwrap();
    let bad: serde_json::Value =
        serde_saphyr::from_str("version: 1\nname: x\npipline_id: A/1\ngroup: G\n").unwrap();
    assert!(!validator.is_valid(&bad));
    let bad: serde_json::Value = serde_saphyr::from_str(
        "version: 1\nname: x\npipeline_id: A/1\ngroup: G\napi_key: { env: X, file: y }\n",
    )
    .unwrap();
    assert!(!validator.is_valid(&bad));
}

//! `foreach: { files: PATTERN }` makes one item per matching file.

use serde_json::Value;

use crate::support::{HEAD, Test};

const PATTERN: &str =
    "data/sub-{subject}/ses-{session}/anat/sub-{subject}_ses-{session}_T1w.nii.gz";

/// A BIDS-shaped tree: two subjects with two sessions, one with one session, one without the
/// T1w file, one whose file names another subject, and hidden and stray files.
fn bids() -> Test {
    let mut t = Test::new();
    for (s, ses) in [
        ("01", "1"),
        ("01", "2"),
        ("02", "1"),
        ("02", "2"),
        ("10", "1"),
    ] {
        t = t.file(
            &format!("data/sub-{s}/ses-{ses}/anat/sub-{s}_ses-{ses}_T1w.nii.gz"),
            format!("T1w {s} {ses}"),
        );
    }
    t.file("data/sub-03/ses-1/dwi/sub-03_ses-1_dwi.nii.gz", "dwi")
        // sub-04's folder holds sub-05's file: the repeated `{subject}` refuses it.
        .file("data/sub-04/ses-1/anat/sub-05_ses-1_T1w.nii.gz", "wrong")
        .file("data/sub-06/ses-1/anat/sub-06_ses-1_T1w.json", "{}")
        .file("data/.sub-07/ses-1/anat/.sub-07_ses-1_T1w.nii.gz", "hidden")
        .file("data/dataset_description.json", "{}")
}

fn cohort_manifest(pattern: &str) -> String {
    format!(
        "{HEAD}foreach:\n  files: \"{pattern}\"\ninputs:\n  input_file: \"{{{{ file }}}}\"\n  message: \"sub {{{{ subject }}}}\"\n"
    )
}

fn items(out: &crate::support::Output) -> Vec<Value> {
    out.json_lines()[0]["items"].as_array().unwrap().clone()
}

#[test]
fn a_bids_tree_gives_one_item_per_matching_file() {
    let t = bids().manifest(&cohort_manifest(PATTERN));
    let out = t.run_with(&["validate", "--output", "json", "study.yaml"]);
    out.code(0);
    let items = items(&out);
    let keys: Vec<&str> = items.iter().map(|i| i["key"].as_str().unwrap()).collect();
    assert_eq!(keys, ["01-1", "01-2", "02-1", "02-2", "10-1"]);
    let first = &items[0];
    assert_eq!(first["variables"]["subject"], "01");
    assert_eq!(first["variables"]["session"], "1");
    assert_eq!(
        first["variables"]["file"],
        "data/sub-01/ses-1/anat/sub-01_ses-1_T1w.nii.gz"
    );
    // The file is an input like any other: a local file, uploaded.
    assert_eq!(
        first["inputs"]["input_file"],
        "data/sub-01/ses-1/anat/sub-01_ses-1_T1w.nii.gz"
    );
    assert_eq!(first["inputs"]["message"], "sub 01");
    assert_eq!(out.json_lines()[0]["uploads"].as_array().unwrap().len(), 5);

    // The human summary lists each item with its file.
    let human = t.run_with(&["validate", "study.yaml"]);
    human
        .code(0)
        .stdout_has("5 items")
        .stdout_has("01-2  data/sub-01/ses-2/anat/sub-01_ses-2_T1w.nii.gz");
    assert!(!human.stdout.contains("sub-05"), "{}", human.stdout);
}

#[test]
fn keys_are_stable_when_files_are_added() {
    let t = bids().manifest(&cohort_manifest(PATTERN));
    let before = items(&t.run_with(&["validate", "--output", "json", "study.yaml"]));
    let t = t.file("data/sub-00/ses-1/anat/sub-00_ses-1_T1w.nii.gz", "new");
    let after = items(&t.run_with(&["validate", "--output", "json", "study.yaml"]));
    assert_eq!(after.len(), before.len() + 1);
    assert_eq!(after[0]["key"], "00-1");
    for item in &before {
        let same = after.iter().find(|a| a["key"] == item["key"]).unwrap();
        assert_eq!(same["execution_name"], item["execution_name"]);
    }
}

#[test]
fn globs_star_double_star_question_and_classes() {
    let cases: [(&str, &[&str]); 4] = [
        // Without the folder's `{subject}`, sub-04's folder holding sub-05's file matches.
        (
            "data/**/sub-{subject}_ses-1_T1w.nii.gz",
            &["01", "02", "05", "10"],
        ),
        (
            "data/sub-{subject}/*/anat/*_ses-2_T1w.nii.gz",
            &["01", "02"],
        ),
        (
            "data/sub-0?/ses-{session}/anat/sub-{subject}_*_T1w.nii.gz",
            &["1-01", "1-02", "1-05", "2-01", "2-02"],
        ),
        (
            "data/sub-[!0]*/ses-1/anat/sub-{subject}_ses-1_T1w.nii.gz",
            &["10"],
        ),
    ];
    for (pattern, expected) in cases {
        let out = bids().manifest(&cohort_manifest(pattern)).run_with(&[
            "validate",
            "--output",
            "json",
            "study.yaml",
        ]);
        out.code(0);
        let keys: Vec<String> = items(&out)
            .iter()
            .map(|i| i["key"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(keys, expected, "{pattern}");
    }
}

fn invalid(pattern: &str, extra: &str) -> crate::support::Output {
    let out = bids()
        .manifest(&format!("{}{extra}", cohort_manifest(pattern)))
        .run_with(&["validate", "study.yaml"]);
    out.code(3);
    out
}

#[test]
fn pattern_errors_point_at_the_pattern() {
    // The pattern is on line 6 of study.yaml.
    invalid("data/sub-{subject}/ses-9/anat/*.nii.gz", "")
        .stderr_has("no file matches")
        .stderr_has("study.yaml:6:");
    invalid("data/sub-{1x}/ses-1/anat/*.nii.gz", "")
        .stderr_has("`{1x}` is not a valid capture name")
        .stderr_has("study.yaml:6:");
    invalid("data/sub-{name}/ses-1/anat/*.nii.gz", "")
        .stderr_has("capture `{name}` is already a built-in template variable");
    invalid("data/sub-{file}/ses-1/anat/*.nii.gz", "").stderr_has("capture `{file}`");
    invalid(
        "data/sub-{site}/ses-1/anat/*.nii.gz",
        "vars:\n  site: lyon\n",
    )
    .stderr_has("capture `{site}` is already defined in `vars`");
    invalid("data/sub-{subject}/ses-*/anat/*_T1w.nii.gz", "")
        .stderr_has("both give the key `01`")
        .stderr_has("capture the part that tells these files apart");
    invalid("../data/sub-{subject}/*.nii.gz", "").stderr_has("escapes the manifest's folder");
    invalid("/etc/{x}", "").stderr_has("escapes the manifest's folder");
    invalid("data/{a}/../../{b}", "").stderr_has("escapes the manifest's folder");
    invalid("data/*/ses-1/anat/*.nii.gz", "").stderr_has("captures nothing");
}

#[test]
fn an_unknown_key_under_foreach_is_an_error() {
    let out = bids()
        .manifest(&format!("{HEAD}foreach:\n  file: \"{PATTERN}\"\n"))
        .run_with(&["validate", "study.yaml"]);
    out.code(3).stderr_has("file");
}

//! The API key never appears in anything `validate` prints, valid or not.

use crate::support::{HEAD, Test};

const SENTINEL: &str = "SENTINEL-7f3a9c-KEY";

fn assert_clean(out: &crate::support::Output) {
    assert!(
        !out.stdout.contains(SENTINEL),
        "key on stdout:\n{}",
        out.stdout
    );
    assert!(
        !out.stderr.contains(SENTINEL),
        "key on stderr:\n{}",
        out.stderr
    );
    assert!(
        !out.stdout.contains("7f3a9c") && !out.stderr.contains("7f3a9c"),
        "part of the key leaked"
    );
}

#[test]
fn a_literal_key_never_appears_in_validate_output() {
    let manifests = [
        // Valid: the warning about a literal key quotes the line.
        format!("{HEAD}api_key: {{ literal: \"{SENTINEL}\" }}\n"),
        format!("{HEAD}api_key:\n  literal: {SENTINEL}\n"),
        format!("{HEAD}api_key: {SENTINEL}\n"),
        // Errors right next to the key.
        format!("{HEAD}api_key: {{ literal: \"{SENTINEL}\" }}\npipline: x\n"),
        format!("{HEAD}api_key: {{ literal: {SENTINEL} }}\nexecution:\n  timeout: soon\n"),
        format!("{HEAD}api_key: {{ literall: {SENTINEL} }}\n"),
        format!("{HEAD}api_key: {{ literal: [{SENTINEL}] }}\n"),
        format!("{HEAD}api_key: {SENTINEL}\ninputs:\n  message: \"{{{{ nope }}\"\n"),
        format!("version: 1\napi_key: {{ literal: {SENTINEL} }}\nname: \"bad name\"\n"),
        format!("{HEAD}api_key: {{ literal: \"{SENTINEL}\"\n"),
    ];
    for manifest in &manifests {
        for output in ["human", "json"] {
            let out = Test::new()
                .manifest(manifest)
                .args(&["validate", "--output", output, "study.yaml"])
                .run();
            assert!(out.code == 0 || out.code == 3, "{out:?}");
            assert_clean(&out);
        }
    }
}

#[test]
fn the_literal_key_is_warned_about_and_masked_in_the_snippet() {
    let out = Test::new()
        .manifest(&format!("{HEAD}api_key: {{ literal: \"{SENTINEL}\" }}\n"))
        .args(&["validate", "study.yaml"])
        .run();
    out.code(0)
        .stderr_has("warning: the API key is written in the manifest")
        .stderr_has("literal: \"*******************\"")
        .stdout_has("api key     from the manifest (api_key.literal)");
    assert_clean(&out);
}

#[test]
fn a_key_from_the_environment_is_never_printed() {
    let out = Test::new()
        .manifest(HEAD)
        .env("VIP_API_KEY", SENTINEL)
        .args(&["validate", "--output", "json", "study.yaml"])
        .run();
    out.code(0);
    assert_clean(&out);
}

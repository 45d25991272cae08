//! Snapshots of what people read: a diagnostic, a validate summary, a pipeline's parameters.
//! Regenerate with `INSTA_UPDATE=always cargo test --test integration snapshots` and review
//! the diff.

use crate::support::{HEAD, SandboxHandle, Test};

#[test]
fn an_error_reads_like_this() {
    let out = Test::new()
        .manifest("version: 1\nname: cquest cohort\npipline_id: CQUEST/0.6\ngroup: CQUEST\n")
        .args(&["validate", "study.yaml"])
        .run();
    out.code(3);
    insta::assert_snapshot!(out.stderr);
}

#[test]
fn a_template_error_reads_like_this() {
    let out = Test::new()
        .manifest(&format!(
            "{HEAD}matrix:\n  subject: [a, b]\ninputs:\n  message: \"hi {{{{ subjet }}}}\"\n"
        ))
        .args(&["validate", "study.yaml"])
        .run();
    out.code(3);
    insta::assert_snapshot!(out.stderr);
}

#[test]
fn a_validate_summary_reads_like_this() {
    let out = Test::new()
        .manifest(&format!(
            "{HEAD}matrix:\n  subject: [sub-01, sub-02]\n  te: [30, 35]\ninputs:\n  input_file: in.txt\n  message: \"{{{{ subject }}}}\"\n"
        ))
        .file("in.txt", "hello\n")
        .args(&["validate", "study.yaml"])
        .run();
    out.code(0);
    insta::assert_snapshot!(out.stdout);
}

#[test]
fn a_pipeline_reads_like_this() {
    let sb = SandboxHandle::quick(std::time::Duration::from_secs(1));
    let out = Test::new()
        .against(&sb, "sandbox-demo-key")
        .args(&["pipeline", "CQUEST/0.6"])
        .run();
    out.code(0);
    insta::assert_snapshot!(out.stdout);
}

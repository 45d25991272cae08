//! The command line's two stages: clap refuses what it can before any work, each
//! option is accepted only where it applies, and every command's help leads with its own
//! options, the global ones under their own heading.

use crate::support::{HEAD, Test};

fn hello() -> Test {
    Test::new().manifest(&format!("{HEAD}inputs:\n  input_file: /vip/Home/x.txt\n"))
}

#[test]
fn issue7_sandbox_help_leads_with_its_own_options() {
    let out = Test::new().run_with(&["sandbox", "--help"]);
    out.code(0);
    let text = &out.stdout;
    let own = text.find("--listen").expect("the sandbox's own option");
    let heading = text
        .find("Global options:")
        .expect("a heading for the global ones");
    assert!(own < heading, "{text}");
    for global in ["--junit", "--sandbox", "--output", "--max-retries"] {
        let at = text
            .find(global)
            .unwrap_or_else(|| panic!("{global} listed:\n{text}"));
        assert!(at > heading, "{global} before the heading:\n{text}");
    }
}

#[test]
fn issue7_options_are_accepted_only_where_they_apply() {
    let t = hello();
    for command in ["status", "download", "cancel"] {
        t.run_with(&[command, "--detailed-exitcode", "study.yaml"])
            .code(2)
            .stderr_has("unexpected argument '--detailed-exitcode'");
    }
    t.run_with(&["status", "--detach", "study.yaml"])
        .code(2)
        .stderr_has("unexpected argument '--detach'");
}

#[test]
fn issue7_conflicts_are_refused_before_any_work() {
    let t = hello();
    t.run_with(&[
        "--sandbox",
        "--server",
        "http://127.0.0.1:1/rest",
        "study.yaml",
    ])
    .code(2)
    .stderr_has("'--sandbox' cannot be used with '--server <URL>'");
    t.run_with(&[
        "--api-key-env",
        "K",
        "--api-key-file",
        "k.txt",
        "status",
        "study.yaml",
    ])
    .code(2)
    .stderr_has("cannot be used with");
    assert!(
        !t.dir().join(".vip-run").exists(),
        "nothing was written before the refusal"
    );
}

#[test]
fn issue7_max_items_has_one_parser_for_every_command() {
    let t = hello();
    for command in ["run", "plan", "status", "cancel", "download", "validate"] {
        t.run_with(&[command, "--max-items", "0", "study.yaml"])
            .code(2)
            .stderr_has("must be at least 1");
        t.run_with(&[command, "--max-items", "many", "study.yaml"])
            .code(2)
            .stderr_has("is not a whole number");
    }
}

#[test]
fn issue7_plan_detailed_exitcode_reports_an_error_once_and_exits_1() {
    let out = hello().env("K", "a-key").run_with(&[
        "--server",
        "http://127.0.0.1:9/rest",
        "--api-key-env",
        "K",
        "--max-retries",
        "0",
        "--connect-timeout",
        "1s",
        "plan",
        "--detailed-exitcode",
        "study.yaml",
    ]);
    out.code(1);
    assert_eq!(
        out.stderr.matches("error: ").count(),
        1,
        "one error, printed once:\n{}",
        out.stderr
    );
    assert!(out.stdout.is_empty(), "no plan printed:\n{}", out.stdout);
}

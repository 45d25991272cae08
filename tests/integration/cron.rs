//! Unattended use: what cron, systemd, `timeout` and shell pipelines see. A quiet run that goes
//! well prints nothing; SIGTERM stops a run as Ctrl-C does and says so in its exit code; a
//! closed pipe never makes the binary panic; JSON output ends with a summary, errors
//! included; `status` answers with its exit code; `--junit` is refused where it would be lost.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use vip_run::sandbox::Config;

use crate::run::{DEMO, hello_matrix, hello_test};
use crate::support::SandboxHandle;

fn sandbox(exec_ms: u64, quota: u32) -> SandboxHandle {
    SandboxHandle::start(Config {
        exec_duration: Duration::from_millis(exec_ms),
        quota: Some(quota),
        ..Config::default()
    })
}

/// The last line of `stdout`, as JSON.
fn last_json(stdout: &str) -> serde_json::Value {
    let last = stdout.lines().last().unwrap_or_else(|| panic!("no stdout"));
    serde_json::from_str(last).unwrap_or_else(|e| panic!("not JSON ({e}): {last}"))
}

#[test]
fn quiet_prints_nothing_when_all_goes_well_even_in_a_pipe() {
    let sb = sandbox(200, 2);
    let out = hello_test(&sb, &hello_matrix(2, 2)).run_with(&["-q", "study.yaml"]);
    out.code(0);
    assert_eq!(out.stdout, "", "stdout under -q");
    assert_eq!(out.stderr, "", "stderr under -q");
}

#[test]
fn quiet_still_prints_failures() {
    let sb = SandboxHandle::start(Config {
        exec_duration: Duration::from_millis(200),
        failure_rate: 1.0,
        ..Config::default()
    });
    let out = hello_test(&sb, &hello_matrix(2, 2)).run_with(&["-q", "study.yaml"]);
    out.code(1)
        .stdout_has("2 failed")
        .stdout_has("sub-01: FAILED");
    assert!(
        !out.stderr.contains("launched"),
        "no progress under -q:\n{}",
        out.stderr
    );
}

#[test]
fn quiet_leaves_json_output_as_asked() {
    let sb = sandbox(200, 2);
    let out =
        hello_test(&sb, &hello_matrix(1, 1)).run_with(&["-q", "--output", "json", "study.yaml"]);
    out.code(0);
    assert_eq!(out.stderr, "");
    let events = out.json_lines();
    assert!(
        events.iter().any(|e| e["event"] == "launched"),
        "{events:?}"
    );
    assert_eq!(last_json(&out.stdout)["event"], "summary");
}

/// Runs the binary with `args` in `dir` with stdout and stderr pipes whose read ends are
/// closed at once; returns its exit code.
fn with_closed_pipes(dir: &Path, args: &[&str]) -> Option<i32> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_vip-run"))
        .current_dir(dir)
        .args(args)
        .env("VIP_API_KEY", DEMO)
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    drop(child.stderr.take());
    child.wait().unwrap().code()
}

#[test]
fn closed_pipes_never_make_it_panic() {
    let sb = sandbox(300, 2);
    let t = hello_test(&sb, &hello_matrix(2, 2));
    let mut args: Vec<&str> = t.extra_args().iter().map(String::as_str).collect();
    args.extend(["-v", "--progress", "plain", "study.yaml"]);
    let code = with_closed_pipes(t.dir(), &args);
    assert!(code.is_some_and(|c| c != 101), "exit {code:?}");
    assert!(t.dir().join(".vip-run/hello/state.json").is_file());
    assert!(t.dir().join(".vip-run/hello/run.json").is_file());
    assert!(t.dir().join("results/sub-02/hello.txt").is_file());
    for args in [
        &["validate", "study.yaml"][..],
        &["validate", "missing.yaml"],
        &["completions", "bash"],
        &["man"],
        &["--help"],
    ] {
        let code = with_closed_pipes(t.dir(), args);
        assert!(code.is_some_and(|c| c != 101), "{args:?}: exit {code:?}");
    }
}

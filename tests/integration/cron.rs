//! Unattended use: what cron, systemd, `timeout` and shell pipelines see. A quiet run that goes
//! well prints nothing; SIGTERM stops a run as Ctrl-C does and says so in its exit code; a
//! closed pipe never makes the binary panic; JSON output ends with a summary, errors
//! included; `status` answers with its exit code; `--junit` is refused where it would be lost.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use vip_run::sandbox::Config;

use crate::run::{DEMO, hello_matrix, hello_test, posts, sandbox};
use crate::support::{Background, HEAD, SandboxHandle, Test};

/// The last line of `stdout`, as JSON.
fn last_json(stdout: &str) -> serde_json::Value {
    let last = stdout.lines().last().unwrap_or_else(|| panic!("no stdout"));
    serde_json::from_str(last).unwrap_or_else(|e| panic!("not JSON ({e}): {last}"))
}

/// Starts the binary on `t`'s folder, its stdout to `stdout.txt` there, its stderr collected.
fn start_with_stdout(t: &Test, args: &[&str]) -> (Background, std::path::PathBuf) {
    let file = t.dir().join("stdout.txt");
    let run = Background::start_with_stdout(t, args, std::fs::File::create(&file).unwrap().into());
    (run, file)
}

/// Sends `signal` (`TERM`, `INT`) to `pid`.
fn kill(signal: &str, pid: u32) {
    let status = Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
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

#[test]
fn sigterm_stops_a_run_like_ctrl_c_and_exits_143() {
    let sb = sandbox(3_000, 2);
    let t = hello_test(&sb, &hello_matrix(2, 2));
    let (mut run, stdout) = start_with_stdout(
        &t,
        &["--progress", "plain", "--junit", "report.xml", "study.yaml"],
    );
    run.wait_for_lines("launched", 2, Duration::from_secs(30));
    kill("TERM", run.child.id());
    let code = run.child.wait().unwrap().code();
    let stderr = run.stderr();
    assert_eq!(code, Some(143), "{stderr}");
    assert!(stderr.contains("terminated (SIGTERM)"), "{stderr}");
    let summary = std::fs::read_to_string(&stdout).unwrap();
    assert!(summary.contains("study.yaml: 2 items"), "{summary}");
    assert!(summary.contains("still running on VIP"), "{summary}");
    assert!(t.dir().join(".vip-run/hello/state.json").is_file());
    assert!(t.dir().join(".vip-run/hello/run.json").is_file());
    let junit = std::fs::read_to_string(t.dir().join("report.xml")).unwrap();
    assert!(junit.contains("sub-01"), "{junit}");
    // The next run picks the executions up: nothing is launched twice.
    t.run_with(&["study.yaml"]).code(0).stdout_has("2 finished");
    assert_eq!(posts(&sb), 2, "nothing was launched again");
}

#[test]
fn a_second_sigterm_exits_at_once() {
    let sb = sandbox(60_000, 2);
    let t = hello_test(&sb, &hello_matrix(2, 2));
    let (mut run, stdout) = start_with_stdout(&t, &["--progress", "plain", "study.yaml"]);
    run.wait_for_lines("launched", 2, Duration::from_secs(30));
    // Stalled calls: the first signal's clean stop cannot end before the second arrives.
    sb.sandbox()
        .set_outage(Duration::ZERO, Duration::from_secs(60));
    kill("TERM", run.child.id());
    run.wait_for("terminated (SIGTERM)", Duration::from_secs(10));
    kill("TERM", run.child.id());
    let started = Instant::now();
    let code = run.child.wait().unwrap().code();
    assert_eq!(code, Some(143), "{}", run.stderr());
    assert!(started.elapsed() < Duration::from_secs(10));
    // Gone before its summary: the second signal ended it, not the first one's stop.
    assert_eq!(std::fs::read_to_string(&stdout).unwrap(), "");
    assert!(t.dir().join(".vip-run/hello/state.json").is_file());
}

#[test]
fn the_resume_hint_keeps_the_server_and_the_state_folder() {
    let sb = sandbox(3_000, 2);
    let t = hello_test(&sb, &hello_matrix(2, 2));
    let (mut run, stdout) = start_with_stdout(
        &t,
        &[
            "--progress",
            "plain",
            "run",
            "--state-dir",
            "st",
            "study.yaml",
        ],
    );
    run.wait_for_lines("launched", 2, Duration::from_secs(30));
    kill("INT", run.child.id());
    assert_eq!(run.child.wait().unwrap().code(), Some(130));
    let summary = std::fs::read_to_string(&stdout).unwrap();
    let hint = format!(
        "run `vip-run --server {} --state-dir st study.yaml` again",
        sb.url()
    );
    assert!(summary.contains(&hint), "{summary}");
    assert!(t.dir().join("st/hello/state.json").is_file());
    // Following the hint, word for word, picks the executions up.
    let command = summary
        .split('`')
        .nth(1)
        .unwrap()
        .split(' ')
        .skip(1)
        .collect::<Vec<_>>();
    let out = assert_cmd::Command::cargo_bin("vip-run")
        .unwrap()
        .current_dir(t.dir())
        .args(&command)
        .env("VIP_API_KEY", DEMO)
        .env("VIP_RUN_STATE_HOME", t.state_home())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("2 finished"), "{stdout}");
    assert_eq!(posts(&sb), 2, "nothing was launched again");
}

/// Runs the binary with `args` in `dir` with stdout and stderr pipes whose read ends are
/// closed at once; returns its exit code.
fn with_closed_pipes(dir: &Path, args: &[&str]) -> Option<i32> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_vip-run"))
        .current_dir(dir)
        .args(args)
        .env("VIP_API_KEY", DEMO)
        .env("VIP_RUN_STATE_HOME", crate::support::state_home(dir))
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

#[test]
fn json_output_ends_with_a_summary_when_the_key_is_refused() {
    let sb = sandbox(200, 2);
    let key = "sentinel-wrong-key-7f3a";
    let out = Test::new()
        .manifest(&hello_matrix(1, 1))
        .file("in.txt", "hello\n")
        .against(&sb, key)
        .run_with(&["--output", "json", "study.yaml"]);
    out.code(4);
    let summary = last_json(&out.stdout);
    assert_eq!(summary["event"], "summary", "{summary}");
    assert_eq!(summary["command"], "run");
    assert_eq!(summary["ok"], false);
    assert_eq!(summary["exit_code"], 4);
    assert!(summary["error"].as_str().is_some_and(|e| !e.is_empty()));
    assert!(!out.stdout.contains(key), "{}", out.stdout);
    assert!(!out.stderr.contains(key), "{}", out.stderr);
}

#[test]
fn json_output_ends_with_a_summary_when_the_pipeline_is_unknown() {
    let sb = sandbox(200, 2);
    let out = hello_test(&sb, &hello_matrix(1, 1).replace("Hello/1.0", "Nope/1.0")).run_with(&[
        "--output",
        "json",
        "study.yaml",
    ]);
    assert_ne!(out.code, 0);
    let summary = last_json(&out.stdout);
    assert_eq!(summary["event"], "summary", "{summary}");
    assert_eq!(summary["ok"], false);
    assert_eq!(summary["exit_code"], out.code);
    assert!(summary["error"].as_str().is_some_and(|e| !e.is_empty()));
}

#[test]
fn json_output_ends_with_a_summary_when_the_command_line_is_wrong() {
    let t = Test::new().manifest(HEAD);
    for (args, command, text) in [
        (
            &["--output", "json", "run", "--bogus", "study.yaml"][..],
            serde_json::json!("run"),
            "--bogus",
        ),
        (
            &["--output=json", "--junit", "r.xml", "status", "study.yaml"],
            serde_json::json!("status"),
            "--junit r.xml",
        ),
        (
            &["--output", "json", "--max-retries", "x"],
            serde_json::Value::Null,
            "--max-retries",
        ),
    ] {
        let out = t.run_with(args);
        out.code(2);
        let summary = last_json(&out.stdout);
        assert_eq!(summary["event"], "summary", "{args:?}");
        assert_eq!(summary["command"], command, "{args:?}");
        assert_eq!(summary["ok"], false);
        assert_eq!(summary["exit_code"], 2);
        assert!(
            summary["error"].as_str().is_some_and(|e| e.contains(text)),
            "{args:?}: {summary}"
        );
    }
}

#[test]
fn status_refreshes_from_vip_and_exits_0_when_nothing_failed() {
    let sb = sandbox(1_000, 2);
    let t = hello_test(&sb, &hello_matrix(2, 2));
    t.run_with(&["--detach", "study.yaml"]).code(0);
    let before = std::fs::read_to_string(t.dir().join(".vip-run/hello/state.json")).unwrap();
    assert!(!before.contains("Finished"), "{before}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = t.run_with(&["status", "study.yaml"]);
        out.code(0);
        if out.stdout.matches("Finished").count() == 2 {
            break;
        }
        assert!(Instant::now() < deadline, "{}", out.stdout);
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[test]
fn status_exits_1_when_an_item_failed() {
    let sb = SandboxHandle::start(Config {
        exec_duration: Duration::from_millis(200),
        failure_rate: 1.0,
        ..Config::default()
    });
    let t = hello_test(&sb, &hello_matrix(2, 2));
    t.run_with(&["study.yaml"]).code(1);
    t.run_with(&["status", "study.yaml"])
        .code(1)
        .stdout_has("ExecutionFailed");
    let help = Test::new().run_with(&["status", "--help"]);
    help.code(0)
        .stdout_has("Exits 1 when any item's execution failed, was killed or timed out");
}

#[test]
fn junit_is_refused_by_commands_that_write_none() {
    let t = Test::new().manifest(HEAD).file("in.txt", "x");
    for command in ["status", "plan", "validate", "cancel"] {
        let out = t.run_with(&["--junit", "r.xml", command, "study.yaml"]);
        out.code(2)
            .stderr_has("--junit r.xml")
            .stderr_has(&format!("`{command}` writes no JUnit report"));
    }
    assert!(!t.dir().join(".vip-run").exists());
}

#[test]
fn junit_into_a_missing_folder_is_refused_before_anything_is_done() {
    let sb = sandbox(200, 2);
    let t = hello_test(&sb, &hello_matrix(1, 1));
    let out = t.run_with(&["--junit", "reports/x.xml", "study.yaml"]);
    out.code(2)
        .stderr_has("--junit reports/x.xml: folder reports does not exist; create it first");
    assert!(sb.requests().is_empty(), "no call to VIP");
    assert!(!t.dir().join("reports").exists());
    assert!(!t.dir().join(".vip-run").exists());
    t.run_with(&["download", "--junit", "reports/x.xml", "study.yaml"])
        .code(2)
        .stderr_has("folder reports does not exist");
}

#[test]
fn a_file_cohort_refuses_names_that_are_not_utf8() {
    use std::os::unix::ffi::OsStrExt;
    let t = Test::new()
        .manifest(&format!(
            "{HEAD}foreach:\n  files: \"data/sub-{{subject}}.txt\"\ninputs:\n  input_file: \"{{{{ file }}}}\"\n"
        ))
        .file("data/sub-01.txt", "one");
    let bad = std::ffi::OsStr::from_bytes(b"sub-0\xff2.txt");
    std::fs::write(t.dir().join("data").join(bad), "two").unwrap();
    let out = t.run_with(&["validate", "study.yaml"]);
    out.code(3)
        .stderr_has("would take `sub-0\u{FFFD}2.txt` in folder ./data")
        .stderr_has("UTF-8")
        .stderr_has("rename it");
}

#[test]
fn init_says_a_list_input_is_passed_as_a_list() {
    let sb = sandbox(200, 2);
    let out = Test::new()
        .against(&sb, DEMO)
        .run_with(&["init", "CQUEST/0.6"]);
    out.code(0)
        .stdout_has("(List<File>, required): a YAML list (local files, /vip/ paths or platformId:id), passed to VIP as a list\n  data_file:");
    assert!(!out.stdout.contains("job per value"), "{}", out.stdout);
}

#[test]
fn chronic_prints_nothing_when_all_finished_and_everything_when_not() {
    let sb = sandbox(200, 2);
    let t = hello_test(&sb, &hello_matrix(2, 2));
    let out = t.run_with(&["--chronic", "study.yaml"]);
    out.code(0);
    assert_eq!(out.stdout, "", "stdout under --chronic");
    assert_eq!(out.stderr, "", "stderr under --chronic");
    // JSON events too are held.
    let json = t.run_with(&["--chronic", "--output", "json", "study.yaml"]);
    json.code(0);
    assert_eq!(json.stdout, "");

    let sb = SandboxHandle::start(Config {
        exec_duration: Duration::from_millis(200),
        failure_rate: 1.0,
        ..Config::default()
    });
    let t = hello_test(&sb, &hello_matrix(2, 2));
    let out = t.run_with(&["--chronic", "study.yaml"]);
    // All of it, as a run without the flag prints it (lines, not a bar), in order.
    out.code(1)
        .stdout_has("2 failed")
        .stdout_has("sub-01: FAILED")
        .stderr_has("uploaded in.txt")
        .stderr_has("sub-01: launched");
    let upload = out.stderr.find("uploaded in.txt").unwrap();
    let launch = out.stderr.find("sub-01: launched").unwrap();
    assert!(upload < launch, "{}", out.stderr);
    assert!(
        !out.stderr.contains('\u{1b}'),
        "no escape codes:\n{}",
        out.stderr
    );
}

#[test]
fn under_systemd_the_journal_gets_plain_lines() {
    // systemd connects stderr to the journal (not a terminal) and says so in JOURNAL_STREAM.
    let sb = sandbox(200, 2);
    let t = hello_test(&sb, &hello_matrix(1, 1)).env("JOURNAL_STREAM", "8:12345");
    let out = t.run_with(&["study.yaml"]);
    out.code(0).stderr_has("sub-01: launched");
    assert!(!out.stderr.contains('\u{1b}'), "{}", out.stderr);
    assert!(!out.stderr.contains('\r'), "{}", out.stderr);
}

//! The run, end to end: the real binary against the sandbox over loopback, as a user (or
//! cron) would drive it: re-runs, crashes, lost state, Ctrl-C, quotas, faults, failures.

use std::process::{Child, Command};
use std::time::{Duration, Instant};

use vip_run::sandbox::Config;

use crate::support::{Background, SandboxHandle, Test};

pub(crate) const DEMO: &str = "sandbox-demo-key";

pub(crate) fn hello_matrix(subjects: usize, max_parallel: u32) -> String {
    let values: Vec<String> = (1..=subjects).map(|i| format!("sub-{i:02}")).collect();
    format!(
        "version: 1\nname: hello\npipeline_id: Hello/1.0\ngroup: Demo\nmatrix:\n  subject: [{}]\ninputs:\n  input_file: in.txt\n  message: \"hi {{{{ subject }}}}\"\nresults:\n  download: results/{{{{ subject }}}}\nexecution:\n  max_parallel: {max_parallel}\n  poll_interval: 1s\n",
        values.join(", ")
    )
}

/// A scratch folder with `manifest` and its `in.txt`, pointed at `sb` as the demo user.
pub(crate) fn hello_test(sb: &SandboxHandle, manifest: &str) -> Test {
    Test::new()
        .manifest(manifest)
        .file("in.txt", "hello\n")
        .against(sb, DEMO)
}

pub(crate) fn sandbox(exec_ms: u64, quota: u32) -> SandboxHandle {
    SandboxHandle::start(Config {
        exec_duration: Duration::from_millis(exec_ms),
        quota: Some(quota),
        ..Config::default()
    })
}

pub(crate) fn posts(sb: &SandboxHandle) -> usize {
    sb.requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/executions"))
        .count()
}

fn downloads(sb: &SandboxHandle) -> usize {
    sb.requests()
        .iter()
        .filter(|r| {
            r.method == "GET"
                && r.query
                    .as_deref()
                    .is_some_and(|q| q.contains("action=content"))
        })
        .count()
}

/// The executions on the sandbox, by name.
pub(crate) fn executions(sb: &SandboxHandle) -> Vec<(String, String)> {
    let client = vip_run::vip::Client::new(
        &vip_run::vip::ClientConfig::new(sb.url()),
        &secrecy::SecretString::from(DEMO),
    )
    .unwrap();
    sb.block_on(client.executions(500))
        .unwrap()
        .into_iter()
        .map(|e| (e.name, e.status.to_string()))
        .collect()
}

pub(crate) fn assert_one_execution_per_item(sb: &SandboxHandle, items: usize) {
    let mut names: Vec<String> = executions(sb).into_iter().map(|(n, _)| n).collect();
    let total = names.len();
    names.sort();
    names.dedup();
    assert_eq!(total, names.len(), "duplicate executions: {names:?}");
    assert_eq!(total, items, "{names:?}");
}

/// Where `hello_matrix`'s item `i` puts its output, below the test's folder.
pub(crate) fn output_of(i: usize) -> String {
    format!("results/sub-{i:02}/hello.txt")
}

/// Every output is home, complete, and nothing half-written is left.
pub(crate) fn assert_outputs_complete(t: &Test, items: usize) {
    for i in 1..=items {
        let file = t.dir().join(output_of(i));
        let text =
            std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        assert!(text.starts_with(&format!("hi sub-{i:02}\n")), "{text}");
    }
    let parts = crate::support::part_files(t.dir());
    assert!(parts.is_empty(), "left behind: {parts:?}");
}

#[test]
fn a_matrix_runs_to_the_end_and_a_rerun_does_nothing() {
    let sb = sandbox(400, 2);
    let t = hello_test(&sb, &hello_matrix(6, 2)).args(&["--progress", "plain", "study.yaml"]);
    let out = t.run();
    out.code(0).stdout_has("6 items: 6 finished, 0 failed");
    for i in 1..=6 {
        let file = t.dir().join(format!("results/sub-{i:02}/hello.txt"));
        let text =
            std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        assert!(text.starts_with(&format!("hi sub-{i:02}\n")), "{text}");
    }
    assert_eq!(posts(&sb), 6);
    let fetched = downloads(&sb);
    assert_eq!(fetched, 6);
    assert!(t.dir().join(".vip-run/hello/state.json").is_file());
    let record: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(t.dir().join(".vip-run/hello/run.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(record["items"].as_array().unwrap().len(), 6);
    assert_eq!(record["items"][0]["result"], "finished");
    // Again: nothing launched, nothing downloaded.
    t.run().code(0).stdout_has("6 finished");
    assert_eq!(posts(&sb), 6);
    assert_eq!(downloads(&sb), fetched);
    assert_one_execution_per_item(&sb, 6);
}

#[test]
fn quota_one_runs_items_one_after_another() {
    let sb = sandbox(200, 1);
    hello_test(&sb, &hello_matrix(5, 3))
        .args(&["--progress", "plain", "study.yaml"])
        .run()
        .code(0)
        .stdout_has("5 finished, 0 failed");
    assert_one_execution_per_item(&sb, 5);
}

#[test]
fn a_lost_state_file_does_not_duplicate_executions() {
    let sb = sandbox(200, 2);
    let t = hello_test(&sb, &hello_matrix(3, 2)).args(&["study.yaml"]);
    t.run().code(0);
    std::fs::remove_file(t.dir().join(".vip-run/hello/state.json")).unwrap();
    t.run().code(0).stdout_has("3 finished");
    assert_one_execution_per_item(&sb, 3);
}

#[test]
fn changed_inputs_relaunch_only_that_item() {
    let sb = sandbox(200, 2);
    let t = hello_test(&sb, &hello_matrix(3, 2)).args(&["study.yaml"]);
    t.run().code(0);
    let changed = hello_matrix(3, 2).replace(
        "message: \"hi {{ subject }}\"",
        "message: \"{% if subject == 'sub-02' %}bonjour{% else %}hi{% endif %} {{ subject }}\"",
    );
    std::fs::write(t.dir().join("study.yaml"), changed).unwrap();
    t.run().code(0).stdout_has("3 finished");
    assert_eq!(posts(&sb), 4);
    let text = std::fs::read_to_string(t.dir().join("results/sub-02/hello.txt")).unwrap();
    assert!(text.starts_with("bonjour sub-02"), "{text}");
}

#[test]
fn failures_exit_1_with_the_stderr_tail_junit_and_json() {
    let sb = sandbox(200, 2);
    let manifest = hello_matrix(2, 2).replace(
        "message: \"hi {{ subject }}\"",
        "message: \"{% if subject == 'sub-02' %}FAIL{% else %}hi{% endif %} {{ subject }}\"",
    );
    let t = hello_test(&sb, &manifest);
    let out = t.run_with(&["--junit", "junit.xml", "study.yaml"]);
    out.code(1)
        .stdout_has("sub-02: FAILED: application (exit 50), not retried (ExecutionFailed")
        .stdout_has("Error: asked to fail");
    let xml = std::fs::read_to_string(t.dir().join("junit.xml")).unwrap();
    assert!(xml.contains("tests=\"2\" failures=\"1\""), "{xml}");
    assert!(
        xml.contains("<testcase classname=\"hello\" name=\"sub-01\""),
        "{xml}"
    );
    assert!(xml.contains("asked to fail"), "{xml}");
    let out = t.run_with(&["--output", "json", "study.yaml"]);
    out.code(1);
    let lines = out.json_lines();
    let summary = lines.last().unwrap();
    assert_eq!(summary["event"], "summary");
    assert_eq!(summary["failed"], 1);
    assert_eq!(summary["finished"], 1);
}

#[test]
fn retries_relaunch_failed_items_under_a_new_name() {
    let sb = SandboxHandle::start(Config {
        exec_duration: Duration::from_millis(150),
        quota: Some(2),
        // The grid's failures: worth relaunching, so relaunched.
        failures: vip_run::sandbox::FailureMix::parse("input_download=0.5").unwrap(),
        seed: 11,
        ..Config::default()
    });
    let manifest =
        hello_matrix(4, 2).replace("poll_interval: 1s", "poll_interval: 1s\n  retries: 6");
    hello_test(&sb, &manifest)
        .args(&["study.yaml"])
        .run()
        .code(0)
        .stdout_has("4 finished");
    let names: Vec<String> = executions(&sb).into_iter().map(|(n, _)| n).collect();
    assert!(
        names.iter().any(|n| n.contains("-r1")),
        "some run was retried: {names:?}"
    );
}

/// Starts the binary on `t`'s folder and waits until stderr has a line containing `marker`.
fn spawn_until(t: &Test, args: &[&str], marker: &str) -> Child {
    spawn_until_seen(t, args, marker, 1)
}

/// Like [`spawn_until`], waiting for `times` lines containing `marker`.
fn spawn_until_seen(t: &Test, args: &[&str], marker: &str, times: usize) -> Child {
    let run = Background::start(t, args);
    run.wait_for_lines(marker, times, Duration::from_secs(30));
    run.child
}

#[test]
fn kill_9_at_any_point_then_a_rerun_finishes_without_duplicates() {
    for marker in ["uploaded", "launched", "Finished (jobs", "downloaded"] {
        let sb = sandbox(700, 2);
        let t = hello_test(&sb, &hello_matrix(4, 2));
        let mut child = spawn_until(&t, &["--progress", "plain", "study.yaml"], marker);
        child.kill().unwrap();
        child.wait().unwrap();
        t.run_with(&["study.yaml"]).code(0).stdout_has("4 finished");
        assert_one_execution_per_item(&sb, 4);
        assert_outputs_complete(&t, 4);
    }
}

#[test]
fn ctrl_c_saves_state_leaves_executions_running_and_cancel_kills_them() {
    let sb = sandbox(60_000, 2);
    let t = hello_test(&sb, &hello_matrix(2, 2));
    let mut child = spawn_until_seen(&t, &["--progress", "plain", "study.yaml"], "launched", 2);
    let pid = child.id().to_string();
    Command::new("kill").args(["-INT", &pid]).status().unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    assert!(t.dir().join(".vip-run/hello/state.json").is_file());
    let running = executions(&sb)
        .into_iter()
        .filter(|(_, s)| s == "Running")
        .count();
    assert_eq!(running, 2, "the executions go on on VIP");
    let out = t.run_with(&["status", "study.yaml"]);
    out.code(0).stdout_has("sub-01").stdout_has("Running");
    t.run_with(&["cancel", "study.yaml"])
        .code(0)
        .stdout_has("killed 2 executions");
    let killed = executions(&sb)
        .into_iter()
        .filter(|(_, s)| s == "Killed")
        .count();
    assert_eq!(killed, 2);
}

#[test]
fn a_rerun_after_ctrl_c_picks_the_executions_up() {
    let sb = sandbox(2_500, 2);
    let t = hello_test(&sb, &hello_matrix(2, 2));
    let mut child = spawn_until_seen(&t, &["--progress", "plain", "study.yaml"], "launched", 2);
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(130));
    t.run_with(&["cancel", "--item", "sub-01", "study.yaml"])
        .code(0)
        .stdout_has("killed 1 execution");
    // sub-02 is picked up and finishes; sub-01 was killed on purpose: reported, not relaunched.
    let out = t.run_with(&["study.yaml"]);
    out.code(1).stdout_has("1 finished").stdout_has(
        "sub-01: FAILED: killed, not retried (Killed; killed on purpose by `vip-run cancel`",
    );
    assert!(t.dir().join("results/sub-02/hello.txt").is_file());
    assert_eq!(posts(&sb), 2, "nothing was launched again");
    t.run_with(&["cancel", "--item", "sub-9", "study.yaml"])
        .code(2)
        .stderr_has("has no item `sub-9`");
}

#[test]
fn plan_shows_changes_and_detach_returns_after_launching() {
    let sb = sandbox(800, 2);
    let t = hello_test(&sb, &hello_matrix(2, 2));
    let out = t.run_with(&["plan", "--detailed-exitcode", "study.yaml"]);
    out.code(2)
        .stdout_has("upload")
        .stdout_has("launch    sub-01");
    assert_eq!(posts(&sb), 0, "plan changes nothing");
    t.run_with(&["--detach", "study.yaml"]).code(0);
    assert_eq!(posts(&sb), 2);
    // Wait for the sandbox to finish them (as `status` says), then fetch the results.
    let deadline = Instant::now() + Duration::from_secs(30);
    while executions(&sb).iter().any(|(_, s)| s != "Finished") {
        assert!(Instant::now() < deadline, "the sandbox never finished");
        std::thread::sleep(Duration::from_millis(100));
    }
    t.run_with(&["download", "study.yaml"]).code(0);
    assert!(t.dir().join("results/sub-02/hello.txt").is_file());
    t.run_with(&["plan", "--detailed-exitcode", "study.yaml"])
        .code(0);
}

#[test]
fn a_second_run_of_the_same_manifest_skips_fails_or_waits_as_asked() {
    let sb = sandbox(60_000, 2);
    let t = hello_test(&sb, &hello_matrix(1, 1));
    let mut child = spawn_until(&t, &["--progress", "plain", "study.yaml"], "launched");
    // By default (cron's case): one line, exit 0, nothing done.
    let out = t.run_with(&["study.yaml"]);
    out.code(0)
        .stdout_has("study.yaml: skipped: another vip-run is running it (pid");
    assert_eq!(out.stdout.lines().count(), 1, "{}", out.stdout);
    let json = t.run_with(&["--output", "json", "download", "study.yaml"]);
    json.code(0);
    let line = &json.json_lines()[0];
    assert!(line["skipped"].as_str().unwrap().contains("pid"), "{line}");
    // Its own exit code, which a wrapper can tell from a failed item's 1.
    t.run_with(&["--if-running", "fail", "study.yaml"])
        .code(7)
        .stderr_has("another vip-run is running this manifest (pid");
    // A command asked for by hand says it is busy.
    t.run_with(&["cancel", "study.yaml"]).code(7);
    assert_eq!(posts(&sb), 1, "nothing launched twice");
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn a_second_run_waits_for_the_first_with_lock_wait() {
    let sb = sandbox(1_500, 2);
    let t = hello_test(&sb, &hello_matrix(1, 1));
    let mut child = spawn_until(&t, &["--progress", "plain", "study.yaml"], "launched");
    let out = t.run_with(&["--lock-wait", "60s", "--if-running", "fail", "study.yaml"]);
    assert!(child.wait().unwrap().success());
    // It ran once the first was over: the item was finished already.
    out.code(0).stdout_has("1 finished");
    assert_eq!(posts(&sb), 1, "nothing launched twice");
}

#[test]
fn outputs_over_the_cap_are_reported_with_their_path() {
    let sb = sandbox(200, 2);
    let manifest = "version: 1\nname: big\npipeline_id: LargeOutput/1.0\ngroup: Demo\ninputs:\n  input_file: in.txt\nresults:\n  download: out\nexecution:\n  poll_interval: 1s\n";
    let t = hello_test(&sb, manifest);
    let out = t.run_with(&["--progress", "plain", "study.yaml"]);
    out.code(0)
        .stderr_has("NOT downloaded /vip/Home/vip-run/big/")
        .stderr_has("volume.nii")
        .stderr_has("download it from the VIP portal");
    assert!(t.dir().join("out/summary.txt").is_file());
    assert!(!t.dir().join("out/volume.nii").exists());
}

/// A server that misbehaves: a tarball whose entries climb out, an absolute entry, a link,
/// and result paths outside the execution's folder.
const HOSTILE_WORLD: &str = r#"
users:
  - { email: demo@sandbox.local, api_key: sandbox-demo-key, password: p, level: Advanced, groups: [Demo, EGI-biomed], quota: 2 }
groups:
  - { name: Demo, type: APPLICATION }
  - { name: EGI-biomed, type: RESOURCE }
pipelines:
  - id: Hostile/1.0
    groups: [Demo]
    resource_groups: [EGI-biomed]
    extra_returned: ["/vip/Home/elsewhere/stolen.txt", "/vip/Home/vip-run/evil/../../../x.txt"]
    outputs:
      results: { kind: tarball, members: ["ok.txt", "../escape.txt", "/tmp/vip-run-hostile-absolute.txt", "link -> /etc/passwd"] }
    descriptor:
      name: Hostile
      tool-version: "1.0"
      schema-version: "0.5"
      command-line: "hostile [IN]"
      inputs:
        - { id: input_file, name: Input, type: File, value-key: "[IN]" }
      output-files:
        - { id: results, name: Results, path-template: results.tgz }
"#;

#[test]
fn a_malicious_server_cannot_write_outside_the_results_folder() {
    let world = vip_run::sandbox::World::from_yaml(HOSTILE_WORLD).unwrap();
    let sb = SandboxHandle::start(Config {
        world,
        exec_duration: Duration::from_millis(200),
        ..Config::default()
    });
    let manifest = "version: 1\nname: evil\npipeline_id: Hostile/1.0\ngroup: Demo\ninputs:\n  input_file: in.txt\nresults:\n  download: out/here\nexecution:\n  poll_interval: 1s\n";
    let t = Test::new()
        .manifest(manifest)
        .file("in.txt", "x\n")
        .against(&sb, DEMO);
    let out = t.run_with(&["--progress", "plain", "study.yaml"]);
    out.code(0)
        .stderr_has("refused archive entry ../escape.txt: it climbs out with `..`")
        .stderr_has(
            "refused archive entry /tmp/vip-run-hostile-absolute.txt: it is an absolute path",
        )
        .stderr_has("refused archive entry link: it is a link")
        .stderr_has("NOT downloaded /vip/Home/elsewhere/stolen.txt: refused")
        .stdout_has("finished, but:");
    assert!(t.dir().join("out/here/results/ok.txt").is_file());
    assert!(!t.dir().join("out/here/escape.txt").exists());
    assert!(!t.dir().join("out/escape.txt").exists());
    assert!(!std::path::Path::new("/tmp/vip-run-hostile-absolute.txt").exists());
    assert!(std::fs::symlink_metadata(t.dir().join("out/here/results/link")).is_err());
    let files = crate::support::walk(t.dir());
    assert!(
        files.iter().all(|f| f.contains("/out/here/")
            || f.contains("/.vip-run/")
            || f.contains("/.state-home/")
            || f.ends_with("study.yaml")
            || f.ends_with("vip-run.lock")
            || f.ends_with("in.txt")),
        "{files:?}"
    );
}

#[test]
fn a_local_file_changed_in_place_runs_its_items_again() {
    let sb = sandbox(200, 2);
    let t = hello_test(&sb, &hello_matrix(2, 2));
    t.run_with(&["study.yaml"]).code(0);
    std::fs::write(t.dir().join("in.txt"), "a new version\n").unwrap();
    // Its content is part of the items' identity: changed in place, they run again.
    t.run_with(&["--progress", "plain", "study.yaml"])
        .code(0)
        .stderr_has("uploaded in.txt");
    assert_eq!(posts(&sb), 4);
}

#[test]
fn executions_over_their_time_limit_are_reported_and_killed() {
    let sb = sandbox(60_000, 2);
    let manifest = hello_matrix(1, 1).replace(
        "poll_interval: 1s",
        "poll_interval: 1s\n  timeout: 1s\n  kill_on_timeout: true",
    );
    let t = hello_test(&sb, &manifest);
    let out = t.run_with(&["--progress", "plain", "study.yaml"]);
    out.code(1)
        .stderr_has("sub-01: timed out after 1s, killed")
        .stdout_has("sub-01: TIMED OUT");
    assert_eq!(executions(&sb)[0].1, "Killed");
}

#[test]
fn the_readmes_quick_start_runs_offline() {
    let t = Test::new();
    let copy = |from: &std::path::Path, to: &std::path::Path| {
        for entry in crate::support::walk(from) {
            let rel = std::path::Path::new(&entry)
                .strip_prefix(from)
                .unwrap()
                .to_path_buf();
            if rel.starts_with(".vip-run") || rel.starts_with("results") {
                continue;
            }
            let dest = to.join(&rel);
            std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
            std::fs::copy(&entry, dest).unwrap();
        }
    };
    copy(
        &crate::support::root().join("examples"),
        &t.dir().join("examples"),
    );
    let out = t.run_with(&["--sandbox", "examples/hello.yaml"]);
    out.code(0)
        .stdout_has("examples/hello.yaml: 1 item: 1 finished")
        .stdout_has("run record: examples/.vip-run/sandbox/hello/run.json");
    assert!(
        !t.dir().join("examples/.vip-run/hello").exists(),
        "real-run state is untouched"
    );
    let hello = std::fs::read_to_string(t.dir().join("examples/results/hello/hello.txt")).unwrap();
    assert!(hello.starts_with("HELLO FROM VIP-RUN\n"), "{hello}");
    // The CSV cohort runs there too: paired list inputs make two jobs per subject.
    t.run_with(&["--sandbox", "examples/cohort-foreach.yaml"])
        .code(0)
        .stdout_has("3 items: 3 finished");
    let archive = t
        .dir()
        .join("examples/results/cohort/Paris, NeuroSpin/sub-03/002/results");
    assert!(
        archive.join("quantification.csv").is_file(),
        "{}",
        archive.display()
    );
}

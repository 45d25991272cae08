//! Failures as VIP reports them, end to end: the real binary against a sandbox that injects
//! them (job exit codes, held, stalled and hung jobs, missing outputs, cleaned executions,
//! time limits), and what a user sees: the class, the stderr tail, whether it was relaunched,
//! the exit code, and the same verdict in the events, `status`, `JUnit` and `run.json`. The
//! verdicts are compared with what the sandbox records it injected.

use std::time::Duration;

use serde_json::Value;
use vip_run::sandbox::{Config, FailureKind, FailureMix, Trigger, default_world};

use crate::run::hello_test;
use crate::support::{SandboxHandle, Test};

/// A Hello manifest of `subjects` items with `execution` lines added.
fn hello(subjects: usize, execution: &str) -> String {
    let values: Vec<String> = (1..=subjects).map(|i| format!("sub-{i:02}")).collect();
    format!(
        "version: 1\nname: hello\npipeline_id: Hello/1.0\ngroup: Demo\nmatrix:\n  subject: [{}]\ninputs:\n  input_file: in.txt\n  message: \"{{% if subject == 'sub-01' %}}MARK{{% else %}}hi{{% endif %}} {{{{ subject }}}}\"\nresults:\n  download: results/{{{{ subject }}}}\nexecution:\n  max_parallel: {subjects}\n  poll_interval: 1s\n{execution}",
        values.join(", ")
    )
}

/// A sandbox whose Hello jobs fail as `kind` when their message holds `MARK` (only the first
/// `times` such launches, when given).
pub(crate) fn marked(kind: FailureKind, times: Option<u32>, exec_ms: u64) -> SandboxHandle {
    let mut world = default_world();
    let hello = world
        .pipelines
        .iter_mut()
        .find(|p| p.id == "Hello/1.0")
        .expect("Hello is in the default world");
    hello.fail_when = Some(Trigger {
        input: "message".into(),
        contains: "MARK".into(),
        factor: None,
        stderr: None,
        kind: Some(kind),
        times,
    });
    SandboxHandle::start(Config {
        world,
        exec_duration: Duration::from_millis(exec_ms),
        ..Config::default()
    })
}

fn mixed(spec: &str, seed: u64, exec_ms: u64) -> SandboxHandle {
    SandboxHandle::start(Config {
        failures: FailureMix::parse(spec).unwrap(),
        seed,
        exec_duration: Duration::from_millis(exec_ms),
        ..Config::default()
    })
}

/// Executions created (a launch VIP refused, for the quota, creates none).
fn posts(sb: &SandboxHandle) -> usize {
    sb.requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/executions") && r.status == 200)
        .count()
}

fn kills(sb: &SandboxHandle) -> usize {
    sb.requests()
        .iter()
        .filter(|r| r.method == "PUT" && r.path.ends_with("/kill"))
        .count()
}

/// The `item_finished` events of a JSON run, by item.
fn finished_events(lines: &[Value], item: &str) -> Vec<Value> {
    lines
        .iter()
        .filter(|l| l["event"] == "item_finished" && l["item"] == item)
        .cloned()
        .collect()
}

fn run_json(t: &Test) -> Value {
    let text = std::fs::read_to_string(t.dir().join(".vip-run/hello/run.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// What vip-run must call each injected kind.
fn class_of(kind: FailureKind) -> &'static str {
    match kind {
        FailureKind::Held | FailureKind::Stalled | FailureKind::Hung => "stalled",
        other => other.name(),
    }
}

#[test]
fn every_job_failure_class_is_named_with_its_exit_code_and_relaunched_only_when_worth_it() {
    for (kind, worth) in [
        (FailureKind::Application, false),
        (FailureKind::InputDownload, true),
        (FailureKind::Setup, true),
        (FailureKind::Worker, true),
        (FailureKind::ResultUpload, true),
        (FailureKind::Container, true),
        (FailureKind::Platform, false),
        (FailureKind::Token, true),
        (FailureKind::Unknown, false),
    ] {
        // Every launch of sub-01 fails the same way: a relaunch that is worth it happens
        // once (retries: 1), and fails again.
        let sb = marked(kind, None, 300);
        let t = hello_test(&sb, &hello(2, "  retries: 1\n"));
        let out = t.run_with(&["--junit", "junit.xml", "--output", "json", "study.yaml"]);
        out.code(1);
        let truth = sb.sandbox().injected();
        assert!(!truth.is_empty(), "{kind:?}: nothing injected");
        let code = truth[0].jobs[0].exit_code.unwrap();
        let lines = out.json_lines();
        let ends = finished_events(&lines, "sub-01");
        let last = ends.last().unwrap_or_else(|| panic!("{kind:?}: {lines:?}"));
        assert_eq!(last["class"], class_of(kind), "{kind:?}: {last}");
        assert_eq!(last["exit_code"], code, "{kind:?}: {last}");
        let expected_posts = if worth { 3 } else { 2 };
        assert_eq!(posts(&sb), expected_posts, "{kind:?}: relaunched {worth}");
        assert_eq!(ends.len(), expected_posts - 1, "{kind:?}: {ends:?}");
        let retry = if worth {
            "retries used up"
        } else {
            "not retried"
        };
        assert!(
            last["result"].as_str().unwrap().contains(retry),
            "{kind:?}: {last}"
        );
        // The summary, the JUnit message and run.json say the same.
        let summary = lines.last().unwrap();
        let item = summary["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["item"] == "sub-01")
            .unwrap();
        assert_eq!(item["class"], class_of(kind), "{item}");
        assert_eq!(item["exit_code"], code);
        let xml = std::fs::read_to_string(t.dir().join("junit.xml")).unwrap();
        assert!(
            xml.contains(&format!("(exit {code}), {retry}")),
            "{kind:?}: {xml}"
        );
        let record = run_json(&t);
        let rec = &record["items"][0];
        assert_eq!(rec["class"], class_of(kind), "{rec}");
        assert_eq!(
            rec["executions"].as_array().unwrap().last().unwrap()["failure"]["exit_code"],
            code
        );
        if worth {
            assert!(
                rec["retried"]
                    .as_str()
                    .unwrap()
                    .starts_with("retried 1× after"),
                "{rec}"
            );
        }
        // The human summary: the class, the exit code, the stderr tail the sandbox wrote.
        let human = t.run_with(&["study.yaml"]);
        human
            .code(1)
            .stdout_has(&format!("sub-01: FAILED: {}", class_words(kind)))
            .stdout_has(&format!("(exit {code}), {retry}"))
            .stdout_has("    | ");
        // `status`, human and JSON.
        let status = t.run_with(&["status", "study.yaml"]);
        status.code(1).stdout_has(&format!(
            "sub-01: failed: {} (exit {code}), {retry}",
            class_words(kind)
        ));
        let json = t.run_with(&["--output", "json", "status", "study.yaml"]);
        let row = json
            .json_lines()
            .into_iter()
            .find(|r| r["item"] == "sub-01")
            .unwrap();
        assert_eq!(row["class"], class_of(kind));
        assert_eq!(row["exit_code"], code);
    }
}

fn class_words(kind: FailureKind) -> String {
    class_of(kind).replace('_', " ")
}

#[test]
fn a_grid_failure_is_relaunched_and_the_item_says_so() {
    let sb = marked(FailureKind::InputDownload, Some(1), 300);
    let t = hello_test(&sb, &hello(2, "  retries: 2\n"));
    t.run_with(&["study.yaml"])
        .code(0)
        .stdout_has("2 finished")
        .stdout_has("sub-01: finished, retried 1× after input download failure");
    assert_eq!(posts(&sb), 3);
    t.run_with(&["status", "study.yaml"])
        .code(0)
        .stdout_has("sub-01: retried 1× after input download failure");
    assert!(t.dir().join("results/sub-01/hello.txt").is_file());
}

#[test]
fn retry_on_can_relaunch_the_tool_failing_and_validate_and_plan_show_the_policy() {
    let sb = marked(FailureKind::Application, Some(1), 300);
    let manifest = hello(
        1,
        "  retries: 1\n  retry_on: [application, infrastructure]\n",
    );
    let t = hello_test(&sb, &manifest);
    t.run_with(&["validate", "study.yaml"])
        .code(0)
        .stdout_has("failures    relaunched up to 1 time on input_download, setup, worker, result_upload, container, token, application (not on stalled, killed, timed_out, outputs_missing, platform, cleaned, unknown)");
    t.run_with(&["plan", "study.yaml"])
        .code(0)
        .stdout_has("failures: relaunched up to 1 time on");
    t.run_with(&["study.yaml"])
        .code(0)
        .stdout_has("sub-01: finished, retried 1× after application failure");
    let bad = hello_test(&sb, &hello(1, "  retry_on: [aplication]\n"));
    bad.run_with(&["validate", "study.yaml"])
        .code(3)
        .stderr_has("unknown failure class `aplication` in retry_on")
        .stderr_has("did you mean `application`?")
        .stderr_has("study.yaml:");
}

#[test]
fn a_held_execution_is_killed_and_relaunched_once_within_the_bound() {
    // The first launch is held on VIP (Running for ever); its relaunch runs normally.
    let sb = marked(FailureKind::Held, Some(1), 400);
    let t = hello_test(&sb, &hello(1, "  retries: 1\n"));
    let started = std::time::Instant::now();
    let out = t.run_with(&["--output", "json", "study.yaml"]);
    out.code(0);
    assert_eq!(kills(&sb), 1, "the held execution, killed once");
    assert_eq!(posts(&sb), 2, "relaunched once, never twice");
    let ends = finished_events(&out.json_lines(), "sub-01");
    assert_eq!(ends[0]["class"], "stalled", "{ends:?}");
    assert!(
        ends[0]["result"].as_str().unwrap().contains("held"),
        "{ends:?}"
    );
    // Caught at the first read of its jobs once held, far below the 6h default.
    assert!(started.elapsed() < Duration::from_secs(60));
}

#[test]
fn stalled_and_hung_executions_end_as_stalled_failures_with_retries_used_up() {
    for (kind, bound) in [(FailureKind::Stalled, "6h"), (FailureKind::Hung, "3s")] {
        let sb = marked(kind, None, 300);
        let t = hello_test(
            &sb,
            &hello(1, &format!("  retries: 1\n  stalled_after: {bound}\n")),
        );
        let out = t.run_with(&["study.yaml"]);
        out.code(1)
            .stdout_has("sub-01: FAILED: stalled, retries used up");
        assert_eq!(kills(&sb), 2, "{kind:?}: each execution killed once");
        assert_eq!(posts(&sb), 2, "{kind:?}");
        if kind == FailureKind::Hung {
            out.stdout_has("have not changed for 3s");
        }
    }
}

#[test]
fn a_finished_execution_without_a_declared_output_fails_with_exit_1() {
    let sb = mixed("outputs_missing=1", 3, 300);
    let t = hello_test(&sb, &hello(1, "  retries: 2\n"));
    let out = t.run_with(&["study.yaml"]);
    out.code(1)
        .stdout_has("sub-01: FAILED: outputs missing, not retried (Finished")
        .stdout_has("missing: output `greeting`");
    assert_eq!(posts(&sb), 1, "the tool's own omission is not relaunched");
    assert!(!t.dir().join("results/sub-01/hello.txt").exists());
    let truth = sb.sandbox().injected();
    assert_eq!(truth[0].output.as_deref(), Some("greeting"));
    // With the state lost, the execution found on VIP is judged the same, not downloaded
    // as if complete.
    std::fs::remove_dir_all(t.dir().join(".vip-run/hello")).unwrap();
    t.run_with(&["study.yaml"])
        .code(1)
        .stdout_has("sub-01: FAILED: outputs missing")
        .stdout_has("missing: output `greeting`");
    assert_eq!(posts(&sb), 1);
}

#[test]
fn results_expect_is_checked_after_the_download() {
    let sb = SandboxHandle::quick(Duration::from_millis(300));
    let manifest = hello(2, "").replace(
        "results:\n",
        "results:\n  expect: [\"hello.txt\", \"{{ subject }}-stats/*.csv\"]\n",
    );
    let t = hello_test(&sb, &manifest);
    let out = t.run_with(&["study.yaml"]);
    out.code(1)
        .stdout_has("sub-01: FAILED: outputs missing")
        .stdout_has("missing: `sub-01-stats/*.csv`");
    // A pattern every item meets: finished.
    let ok = hello(2, "").replace("results:\n", "results:\n  expect: [\"hel*.txt\"]\n");
    hello_test(&sb, &ok)
        .run_with(&["study.yaml"])
        .code(0)
        .stdout_has("2 finished");
    let bad = hello(1, "").replace("results:\n", "results:\n  expect: [\"../x\"]\n");
    hello_test(&sb, &bad)
        .run_with(&["validate", "study.yaml"])
        .code(3)
        .stderr_has("results.expect `../x` must be a relative name");
}

#[test]
fn an_execution_cleaned_on_vip_is_said_and_relaunched_only_on_request() {
    let sb = mixed("cleaned=1", 5, 300);
    let t = hello_test(&sb, &hello(1, "  retries: 2\n"));
    t.run_with(&["study.yaml"])
        .code(1)
        .stdout_has("sub-01: FAILED: cleaned, not retried (Cleaned;")
        .stdout_has("cleaned (deleted) on VIP");
    assert_eq!(kills(&sb), 0, "nothing was killed");
    assert_eq!(posts(&sb), 1);
    // Asked for: launched again (and cleaned again by this sandbox).
    t.run_with(&["run", "--relaunch", "failed", "study.yaml"])
        .code(1);
    assert_eq!(posts(&sb), 2);
}

#[test]
fn a_timed_out_execution_is_killed_by_default_and_relaunched_as_a_timeout() {
    let sb = SandboxHandle::quick(Duration::from_secs(30));
    let t = hello_test(&sb, &hello(1, "  timeout: 2s\n  retries: 1\n"));
    let out = t.run_with(&["--output", "json", "study.yaml"]);
    out.code(1);
    assert_eq!(kills(&sb), 2, "VIP does not stop it: vip-run does");
    assert_eq!(posts(&sb), 2);
    let ends = finished_events(&out.json_lines(), "sub-01");
    assert_eq!(ends.len(), 2);
    assert!(ends.iter().all(|e| e["class"] == "timed_out"), "{ends:?}");
    assert!(
        ends[0]["result"]
            .as_str()
            .unwrap()
            .contains("killed, to be relaunched"),
        "{ends:?}"
    );
}

#[test]
fn the_verdicts_match_what_the_sandbox_injected_over_many_seeds() {
    for seed in 0..6 {
        let sb = mixed(
            "application=0.2,input_download=0.2,setup=0.1,container=0.1,held=0.1,outputs_missing=0.1",
            seed,
            300,
        );
        // Six at once: polled through VIP's list, so the watchdog reads jobs every
        // stalled_after / 12 (1 s here).
        let t = hello_test(
            &sb,
            &hello(6, "  stalled_after: 12s\n").replace("MARK", "hi"),
        );
        let out = t.run_with(&["--output", "json", "study.yaml"]);
        let lines = out.json_lines();
        let truth = sb.sandbox().injected();
        let names: Vec<(String, String)> = crate::run::executions(&sb);
        for inj in &truth {
            let name = inj.name.clone().unwrap();
            let item = name
                .split('-')
                .skip(1)
                .take(2)
                .collect::<Vec<_>>()
                .join("-");
            let ends = finished_events(&lines, &item);
            let verdict = ends
                .iter()
                .find(|e| e["execution"] == inj.execution_id.clone().unwrap().as_str())
                .unwrap_or_else(|| {
                    panic!("seed {seed}: no verdict on {inj:?}: {ends:?} {names:?}")
                });
            assert_eq!(
                verdict["class"],
                class_of(inj.kind),
                "seed {seed}: {verdict}"
            );
        }
        let failed = lines.last().unwrap()["failed"].as_u64().unwrap();
        let failing: std::collections::HashSet<&str> =
            truth.iter().filter_map(|i| i.name.as_deref()).collect();
        assert_eq!(failed, failing.len() as u64, "seed {seed}");
        assert_eq!(out.code, i32::from(!failing.is_empty()), "seed {seed}");
    }
}

#[test]
fn held_executions_in_a_batch_polled_through_the_list_are_caught_at_the_default_bound() {
    // Five at once are polled through VIP's list: the watchdog still reads each one's jobs
    // within a few rounds, not only every stalled_after / 12 (30 min at the default 6h).
    let sb = SandboxHandle::start(Config {
        failures: FailureMix::parse("held=1").unwrap(),
        seed: 9,
        quota: Some(10),
        exec_duration: Duration::from_millis(300),
        ..Config::default()
    });
    let t = hello_test(&sb, &hello(5, "  retries: 1\n").replace("MARK", "hi"));
    let started = std::time::Instant::now();
    t.run_with(&["study.yaml"])
        .code(1)
        .stdout_has("0 finished, 5 failed")
        .stdout_has("FAILED: stalled, retries used up");
    assert_eq!(kills(&sb), 10, "each execution killed once");
    assert_eq!(posts(&sb), 10, "each item relaunched once");
    // Well inside the ten minutes a read every stalled_after / 12 would take.
    assert!(started.elapsed() < Duration::from_secs(300));
}

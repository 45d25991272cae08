//! `logs` for one job, several jobs and failed items, and the logs a run keeps
//! of its failed items.

use std::time::Duration;

use crate::support::{SandboxHandle, Test};

const DEMO: &str = "sandbox-demo-key";

/// Three subjects; sub-02 fails. `messages` is one message or a YAML list (several jobs).
fn manifest(messages: &str) -> String {
    format!(
        "version: 1\nname: logs\npipeline_id: Hello/1.0\ngroup: Demo\nmatrix:\n  subject: [sub-01, sub-02, sub-03]\ninputs:\n  input_file: in.txt\n  message: {messages}\nresults:\n  download: results/{{{{ subject }}}}\nexecution:\n  max_parallel: 3\n  poll_interval: 1s\n"
    )
}

fn ran(sb: &SandboxHandle, messages: &str) -> Test {
    let t = Test::new()
        .manifest(&manifest(messages))
        .file("in.txt", "hello\n")
        .against(sb, DEMO);
    let out = t.run_with(&["study.yaml"]);
    out.code(1).stdout_has("sub-02: FAILED");
    t
}

const ONE_JOB: &str = "\"{% if subject == 'sub-02' %}FAIL{% else %}hi{% endif %} {{ subject }}\"";

#[test]
fn logs_of_one_job_items_and_of_the_failed_ones() {
    let sb = SandboxHandle::quick(Duration::from_millis(300));
    let t = ran(&sb, ONE_JOB);

    // One item's stdout, bare (it can be piped).
    let out = t.run_with(&["logs", "study.yaml", "--item", "sub-01"]);
    out.code(0);
    assert!(
        out.stdout.starts_with("[INFO] Saying hello\n"),
        "{}",
        out.stdout
    );
    out.stdout_has("[INFO] Message: hi sub-01");
    // --stderr.
    t.run_with(&["logs", "study.yaml", "--item", "sub-02", "--stderr"])
        .code(0)
        .stdout_has("Error: asked to fail");
    // Without --item: the failed items only, each under a header.
    let failed = t.run_with(&["logs", "study.yaml", "--stderr"]);
    failed
        .code(0)
        .stdout_has("==> sub-02: workflow-")
        .stdout_has("(ExecutionFailed), stderr <==")
        .stdout_has("Error: asked to fail");
    assert!(!failed.stdout.contains("sub-01"), "{}", failed.stdout);
    // JSON: one object per log.
    let json = t.run_with(&["--output", "json", "logs", "study.yaml", "--item", "sub-03"]);
    let lines = json.json_lines();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["item"], "sub-03");
    assert_eq!(lines[0]["stream"], "stdout");
    assert!(lines[0]["text"].as_str().unwrap().contains("hi sub-03"));
    // A wrong key is a usage error with a suggestion.
    t.run_with(&["logs", "study.yaml", "--item", "sub-4"])
        .code(2)
        .stderr_has("has no item `sub-4`");
}

/// The default world, with CQUEST failing on a data file whose name contains `FAIL`.
fn cquest_world() -> vip_run::sandbox::World {
    let text = vip_run::sandbox::default_world_yaml().replace(
        "  - id: CQUEST/0.6\n    visible: true\n    groups: [CQUEST]\n    resource_groups: [EGI-biomed]\n",
        "  - id: CQUEST/0.6\n    visible: true\n    groups: [CQUEST]\n    resource_groups: [EGI-biomed]\n    fail_when: { input: data_file, contains: FAIL, stderr: \"cquest: cannot fit\" }\n",
    );
    assert!(
        text.contains("cannot fit"),
        "the default world changed shape"
    );
    vip_run::sandbox::World::from_yaml(&text).unwrap()
}

/// Two subjects, each one execution with two jobs (paired list inputs); sub-02's second fails.
const CQUEST: &str = "version: 1\nname: jobs\npipeline_id: CQUEST/0.6\ngroup: CQUEST\nmatrix:\n  subject: [sub-01, sub-02]\ninputs:\n  zipped_folder: basis.zip\n  parameter_file: [te30.txt, te35.txt]\n  data_file: [\"{{ subject }}/a.mrui\", \"{{ subject }}/{% if subject == 'sub-02' %}FAIL{% else %}b{% endif %}.mrui\"]\nresults:\n  download: results/{{ subject }}\nexecution:\n  max_parallel: 2\n  poll_interval: 1s\n";

#[test]
fn logs_of_an_execution_with_several_jobs() {
    let sb = SandboxHandle::start(vip_run::sandbox::Config {
        world: cquest_world(),
        exec_duration: Duration::from_millis(300),
        ..vip_run::sandbox::Config::default()
    });
    let t = Test::new()
        .manifest(CQUEST)
        .file("basis.zip", "zip")
        .file("te30.txt", "30")
        .file("te35.txt", "35")
        .file("sub-01/a.mrui", "a1")
        .file("sub-01/b.mrui", "b1")
        .file("sub-02/a.mrui", "a2")
        .file("sub-02/FAIL.mrui", "f2")
        .against(&sb, DEMO);
    // The failed job is named, with the elements of the paired lists it ran on.
    t.run_with(&["study.yaml"])
        .code(1)
        .stdout_has("sub-02: FAILED: application (exit 50), not retried")
        .stdout_has(
            "1 job failed: job 1 application exit 50 on parameter_file[1] = te35.txt, data_file[1] = FAIL.mrui",
        );

    let out = t.run_with(&["logs", "study.yaml", "--item", "sub-01"]);
    out.code(0);
    // Each job under a header naming it and its status.
    let headers: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| l.starts_with("==> "))
        .collect();
    assert_eq!(headers.len(), 2, "{}", out.stdout);
    assert!(
        headers.iter().all(|h| h.contains("(COMPLETED)")),
        "{headers:?}"
    );
    out.stdout_has("sub-01/a.mrui").stdout_has("sub-01/b.mrui");
    // --job: that job only.
    let job = headers[1]
        .split(", job ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .to_owned();
    let one = t.run_with(&["logs", "study.yaml", "--item", "sub-01", "--job", &job]);
    one.code(0).stdout_has("sub-01/b.mrui");
    assert!(!one.stdout.contains("sub-01/a.mrui"), "{}", one.stdout);
    t.run_with(&["logs", "study.yaml", "--item", "sub-01", "--job", "99"])
        .code(2)
        .stderr_has("has no job 99");
    // The failed item: its failed job's stderr under a header with the job's status.
    let failed = t.run_with(&["logs", "study.yaml", "--stderr"]);
    failed
        .code(0)
        .stdout_has("cquest: cannot fit")
        .stdout_has("(ERROR), stderr <==");
    assert!(!failed.stdout.contains("sub-01"), "{}", failed.stdout);
    // The run kept them per job.
    let kept = crate::support::walk(&t.dir().join("results/sub-02/logs"));
    assert_eq!(kept.len(), 4, "{kept:?}");
    assert!(
        kept.iter().any(|f| f.ends_with(".stderr.txt")
            && std::fs::read_to_string(f)
                .unwrap()
                .contains("cquest: cannot fit")),
        "{kept:?}"
    );
}

#[test]
fn a_run_keeps_the_logs_of_failed_items_and_says_where() {
    let sb = SandboxHandle::quick(Duration::from_millis(300));
    let t = Test::new()
        .manifest(&manifest(ONE_JOB))
        .file("in.txt", "hello\n")
        .against(&sb, DEMO);
    let out = t.run_with(&["study.yaml"]);
    out.code(1);
    let logs = t.dir().join("results/sub-02/logs");
    let folders: Vec<_> = std::fs::read_dir(&logs).unwrap().flatten().collect();
    assert_eq!(folders.len(), 1, "one execution's logs");
    let folder = folders[0].path();
    let name = folder.file_name().unwrap().to_str().unwrap().to_owned();
    assert!(name.starts_with("logs-sub-02-"), "{name}");
    let stderr = std::fs::read_to_string(folder.join("stderr.txt")).unwrap();
    assert!(stderr.contains("Error: asked to fail"), "{stderr}");
    let stdout = std::fs::read_to_string(folder.join("stdout.txt")).unwrap();
    assert!(stdout.contains("Message: FAIL sub-02"), "{stdout}");
    // The summary names the folder; items that finished keep no logs.
    out.stdout_has(&format!("(logs in results/sub-02/logs/{name})"));
    assert!(!t.dir().join("results/sub-01/logs").exists());
}

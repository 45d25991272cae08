//! VIP's own batch idiom (docs/vip.md#lists): a list given to any parameter is one
//! execution whose jobs iterate over the values. The real binary against the sandbox: local
//! list elements all uploaded, one execution, every job's outputs downloaded; elements typed
//! one by one; the job count shown by `validate` and checked against `execution.max_jobs`
//! before anything is spent; and the sandbox's own limit reported clearly.

use std::fmt::Write as _;
use std::time::Duration;

use vip_run::sandbox::Config;

use crate::run::{DEMO, executions};
use crate::support::{HEAD, SandboxHandle, Test, walk};

/// Hello with a list of `files` local files for `input_file`, plus `extra` under `inputs`.
fn hello_list(files: usize, extra: &str) -> Test {
    let mut manifest = format!("{HEAD}inputs:\n  input_file:\n");
    for i in 1..=files {
        let _ = writeln!(manifest, "    - in-{i}.txt");
    }
    manifest.push_str("  message: hi\n");
    manifest.push_str(extra);
    manifest.push_str("results:\n  download: results\nexecution:\n  poll_interval: 1s\n");
    let mut t = Test::new().manifest(&manifest);
    for i in 1..=files {
        t = t.file(&format!("in-{i}.txt"), format!("file {}\n", "x".repeat(i)));
    }
    t
}

/// `text` with miette's wrapping undone (margins and line breaks read as one space), so a
/// long message can be looked for whole.
fn flat(text: &str) -> String {
    text.replace(['│', '|', '×', '╰', '─', '╭', '┬', '·'], " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

fn assert_says(stderr: &str, text: &str) {
    assert!(
        flat(stderr).contains(&flat(text)),
        "stderr lacks {text:?}:\n{stderr}"
    );
}

fn count(sb: &SandboxHandle, method: &str, path_part: &str) -> usize {
    sb.requests()
        .iter()
        .filter(|r| r.method == method && r.path.contains(path_part))
        .count()
}

#[test]
fn a_list_of_local_files_is_one_execution_whose_every_job_is_downloaded() {
    let sb = SandboxHandle::quick(Duration::from_millis(1500));
    let t = hello_list(4, "").against(&sb, DEMO);
    let out = t.run_with(&["run", "study.yaml"]);
    out.code(0).stderr_has("main: Finished (jobs 4/4 done)");

    // Every element uploaded, one execution launched.
    let uploads = sb
        .requests()
        .iter()
        .filter(|r| r.method == "PUT" && r.path.contains("/inputs/in-"))
        .count();
    assert_eq!(uploads, 4, "{:?}", sb.requests());
    assert_eq!(count(&sb, "POST", "/executions"), 1);
    let listed = executions(&sb);
    assert_eq!(listed.len(), 1, "{listed:?}");

    // The sandbox's jobs map: one job per file, all completed.
    let client = vip_run::vip::Client::new(
        &vip_run::vip::ClientConfig::new(sb.url()),
        &secrecy::SecretString::from(DEMO),
    )
    .unwrap();
    let id = sb.block_on(client.executions(10)).unwrap()[0]
        .identifier
        .clone();
    let execution = sb.block_on(client.execution(&id)).unwrap();
    assert_eq!(execution.jobs.len(), 4, "{:?}", execution.jobs);

    // One greeting per job, each about its own file.
    let files = walk(&t.dir().join("results"));
    let greetings: Vec<&String> = files.iter().filter(|f| f.ends_with("hello.txt")).collect();
    assert_eq!(greetings.len(), 4, "{files:?}");
    let mut sizes: Vec<String> = greetings
        .iter()
        .map(|f| std::fs::read_to_string(t.dir().join("results").join(f)).unwrap())
        .collect();
    sizes.sort();
    sizes.dedup();
    assert_eq!(sizes.len(), 4, "every job greets its own file: {sizes:?}");
}

#[test]
fn a_bad_element_of_an_int64_list_is_refused_at_its_own_line() {
    let sb = SandboxHandle::quick(Duration::from_millis(200));
    // Lines: 1-4 head, 5 inputs, 6 input_file, 7 message, 8 repeat, 9-11 its elements.
    let t = Test::new()
        .manifest(&format!(
            "{HEAD}inputs:\n  input_file: in.txt\n  message: hi\n  repeat:\n    - 2\n    - 2.5\n    - 4\n"
        ))
        .file("in.txt", "x\n")
        .against(&sb, DEMO);
    let out = t.run_with(&["validate", "--online", "study.yaml"]);
    out.code(3).stderr_has("study.yaml:10:7");
    assert_says(
        &out.stderr,
        "`repeat` expects a whole number, not `2.5` (element 2 of 3)",
    );
    // Nothing was spent.
    assert_eq!(count(&sb, "PUT", "/path/"), 0);
    assert_eq!(count(&sb, "POST", "/executions"), 0);
}

#[test]
fn paired_lists_of_different_lengths_are_refused() {
    let sb = SandboxHandle::quick(Duration::from_millis(200));
    let t = Test::new()
        .manifest(
            "version: 1\nname: study\npipeline_id: CQUEST/0.6\ngroup: CQUEST\ninputs:\n  zipped_folder: basis.zip\n  data_file: [s1.mrui, s2.mrui, s3.mrui]\n  parameter_file: [p1.txt, p2.txt]\n",
        )
        .file("basis.zip", "zip\n")
        .file("s1.mrui", "1\n")
        .file("s2.mrui", "2\n")
        .file("s3.mrui", "3\n")
        .file("p1.txt", "1\n")
        .file("p2.txt", "2\n")
        .against(&sb, DEMO);
    let out = t.run_with(&["run", "study.yaml"]);
    out.code(3);
    assert_says(
        &out.stderr,
        "pairs `data_file` and `parameter_file` element by element",
    );
    assert_says(&out.stderr, "`data_file` has 3, `parameter_file` has 2");
    assert_eq!(count(&sb, "POST", "/executions"), 0);
}

#[test]
fn over_max_jobs_is_refused_before_anything_is_spent_and_offline_with_a_lock() {
    let sb = SandboxHandle::quick(Duration::from_millis(200));
    let t = hello_list(3, "  repeat: [1, 2]\n");
    let manifest = std::fs::read_to_string(t.dir().join("study.yaml"))
        .unwrap()
        .replace("execution:\n", "execution:\n  max_jobs: 4\n");
    std::fs::write(t.dir().join("study.yaml"), manifest).unwrap();
    let t = t.against(&sb, DEMO);
    let refused = "the manifest would be one execution of 6 jobs, over `execution.max_jobs` (4): `input_file` (3 values) × `repeat` (2 values)";
    let out = t.run_with(&["run", "study.yaml"]);
    out.code(3);
    assert_says(&out.stderr, refused);
    assert_says(&out.stderr, "move one of the lists to `matrix`");
    assert_eq!(count(&sb, "PUT", "/path/"), 0, "nothing uploaded");
    assert_eq!(count(&sb, "POST", "/executions"), 0, "nothing launched");

    // With the descriptor locked, plain `validate` refuses it with no server at all.
    t.run_with(&["lock", "study.yaml"]).code(0);
    drop(sb);
    let mut cmd = assert_cmd::Command::cargo_bin("vip-run").unwrap();
    let out = cmd
        .current_dir(t.dir())
        .env_remove("VIP_API_KEY")
        .env("NO_COLOR", "1")
        .args(["validate", "study.yaml"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert_says(&stderr, refused);
}

#[test]
fn validate_shows_the_jobs_of_each_item() {
    let sb = SandboxHandle::quick(Duration::from_millis(200));
    let t = hello_list(3, "  repeat: [1, 2]\n").against(&sb, DEMO);
    // Offline, no descriptor: every list crossed, an upper bound.
    t.run_with(&["validate", "study.yaml"])
        .code(0)
        .stdout_has("jobs        main: 1 execution, up to 6 jobs (`input_file` (3 values) × `repeat` (2 values))");
    // Online, exact.
    t.run_with(&["validate", "--online", "study.yaml"])
        .code(0)
        .stdout_has(
            "jobs        main: 1 execution, 6 jobs (`input_file` (3 values) × `repeat` (2 values))",
        );

    // A matrix of CQUEST items, each pairing 3 signals with 3 parameter files: 3 jobs each.
    let cquest = Test::new()
        .manifest(
            "version: 1\nname: study\npipeline_id: CQUEST/0.6\ngroup: CQUEST\nmatrix:\n  te: [30, 35]\ninputs:\n  zipped_folder: basis.zip\n  data_file: [s1.mrui, s2.mrui, s3.mrui]\n  parameter_file: [\"p{{ te }}-1.txt\", \"p{{ te }}-2.txt\", \"p{{ te }}-3.txt\"]\nresults:\n  download: \"results/{{ item }}\"\n",
        )
        .file("basis.zip", "zip\n")
        .file("s1.mrui", "1\n")
        .file("s2.mrui", "2\n")
        .file("s3.mrui", "3\n")
        .file("p30-1.txt", "1\n")
        .file("p30-2.txt", "2\n")
        .file("p30-3.txt", "3\n")
        .file("p35-1.txt", "1\n")
        .file("p35-2.txt", "2\n")
        .file("p35-3.txt", "3\n")
        .against(&sb, DEMO);
    cquest
        .run_with(&["validate", "--online", "study.yaml"])
        .code(0)
        .stdout_has("jobs        2 executions, 3 jobs each (6 in all)");
    let out = cquest.run_with(&["--output", "json", "validate", "--online", "study.yaml"]);
    out.code(0);
    let record = &out.json_lines()[0];
    assert_eq!(record["job_count"], 6, "{record}");
    assert_eq!(record["jobs_exact"], true, "{record}");
    let per_item: Vec<u64> = record["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["jobs"].as_u64().unwrap())
        .collect();
    assert_eq!(per_item, [3, 3]);
}

#[test]
fn the_sandbox_refusing_over_its_own_limit_gives_a_clear_error() {
    let sb = SandboxHandle::start(Config {
        exec_duration: Duration::from_millis(200),
        max_jobs_per_workflow: Some(2),
        ..Config::default()
    });
    let t = hello_list(3, "").against(&sb, DEMO);
    let out = t.run_with(&["run", "study.yaml"]);
    out.code(1);
    assert_says(
        &out.stderr,
        "main: failed: VIP refused the launch: POST /executions: Too many jobs (max:2, got:3)",
    );
    // And what to do, with VIP's limit to write down.
    assert_says(
        &out.stderr,
        "move one of the lists to `matrix` (one execution per value, each with fewer jobs), and set `execution.max_jobs: 2`",
    );
    assert_eq!(executions(&sb).len(), 0);
}

#[test]
fn plan_shows_the_jobs_an_execution_will_have() {
    let sb = SandboxHandle::start(Config::default());
    let t = hello_list(3, "").against(&sb, DEMO);
    let out = t.run_with(&["plan", "study.yaml"]);
    out.code(0);
    assert!(
        out.stdout
            .lines()
            .any(|l| l.contains("launch") && l.contains("3 jobs: `input_file` (3 values)")),
        "{}",
        out.stdout
    );
    // Nothing was launched or uploaded to show it.
    assert_eq!(executions(&sb).len(), 0);
    assert_eq!(count(&sb, "PUT", "in-1.txt"), 0);
}

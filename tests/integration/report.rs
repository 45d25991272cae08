//! What a run leaves to look at: `trace.tsv` (one row per execution, the times vip-run
//! observed, in order), `report.html` written at the end of every run and rebuilt offline by
//! `vip-run report` (also from the state of a run killed midway), and `status`'s phases and
//! times. The page itself is checked in a browser by `report_browser`.

use std::collections::HashMap;
use std::time::Duration;

use vip_run::sandbox::{Config, FailureKind};

use crate::run::{DEMO, hello_test};
use crate::support::{Background, SandboxHandle, Test};

/// A Hello manifest of `subjects` items, `max_parallel` at once, whose sub-01 message is
/// marked (see [`failing_first`]).
fn hello(subjects: usize, max_parallel: u32) -> String {
    let values: Vec<String> = (1..=subjects).map(|i| format!("sub-{i:02}")).collect();
    format!(
        "version: 1\nname: hello\npipeline_id: Hello/1.0\ngroup: Demo\nmatrix:\n  subject: [{}]\ninputs:\n  input_file: in.txt\n  message: \"{{% if subject == 'sub-01' %}}MARK{{% else %}}hi{{% endif %}} {{{{ subject }}}}\"\nresults:\n  download: results/{{{{ subject }}}}\nexecution:\n  max_parallel: {max_parallel}\n  poll_interval: 1s\n  retries: 1\n",
        values.join(", ")
    )
}

/// A sandbox whose first launch of the marked item fails to fetch its input (exit 1, a
/// class worth a relaunch), and whose executions take `exec_ms`.
fn failing_first(exec_ms: u64) -> SandboxHandle {
    crate::failures::marked(FailureKind::InputDownload, Some(1), exec_ms)
}

/// `trace.tsv` as rows of named cells.
fn trace(t: &Test, state: &str) -> Vec<HashMap<String, String>> {
    let text = std::fs::read_to_string(t.dir().join(state).join("trace.tsv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
    assert_eq!(header, vip_run::report::trace::COLUMNS, "{text}");
    lines
        .map(|l| {
            let cells: Vec<&str> = l.split('\t').collect();
            assert_eq!(cells.len(), header.len(), "{l}");
            header
                .iter()
                .zip(cells)
                .map(|(h, c)| ((*h).to_owned(), c.to_owned()))
                .collect()
        })
        .collect()
}

/// RFC 3339 with milliseconds sorts as text.
fn ordered(times: &[&str]) -> bool {
    times.windows(2).all(|w| w[0] <= w[1])
}

fn secs(cell: &str) -> f64 {
    cell.parse()
        .unwrap_or_else(|e| panic!("{cell:?} is not seconds: {e}"))
}

#[test]
fn a_run_traces_every_execution_with_its_times_in_order() {
    let sb = failing_first(400);
    let t = hello_test(&sb, &hello(3, 1));
    let out = t.run_with(&["study.yaml"]);
    out.code(0).stdout_has("report: .vip-run/hello/report.html");
    let rows = trace(&t, ".vip-run/hello");
    // sub-01 twice (its first execution failed and was relaunched), the others once.
    let keys: Vec<&str> = rows.iter().map(|r| r["item"].as_str()).collect();
    assert_eq!(keys, ["sub-01", "sub-01", "sub-02", "sub-03"], "{rows:#?}");
    let (first, again) = (&rows[0], &rows[1]);
    assert_eq!(first["attempt"], "1");
    assert_eq!(first["result"], "relaunched");
    assert_eq!(first["status"], "ExecutionFailed");
    assert_eq!(first["class"], "input_download");
    assert_eq!(first["exit_code"], "1");
    assert_eq!(again["attempt"], "2");
    assert_eq!(again["result"], "finished");
    assert_ne!(first["execution_id"], again["execution_id"]);
    // The relaunch came after the failure was seen.
    assert!(ordered(&[
        &first["ended"],
        &again["ready"],
        &again["submitted"]
    ]));
    for r in &rows {
        assert!(r["execution_id"].starts_with("workflow-"), "{r:?}");
        assert_eq!(r["jobs_total"], "1", "{r:?}");
        assert!(
            ordered(&[&r["ready"], &r["submitted"], &r["ended"]]),
            "times out of order: {r:?}"
        );
        if !r["started"].is_empty() {
            assert!(
                ordered(&[&r["submitted"], &r["started"], &r["ended"]]),
                "{r:?}"
            );
        }
        assert!(secs(&r["wait"]) >= 0.0);
    }
    for r in &rows[1..] {
        assert_eq!(r["result"], "finished", "{r:?}");
        assert!(secs(&r["bytes_down"]) > 0.0, "{r:?}");
        assert!(!r["download_time"].is_empty(), "{r:?}");
        assert_eq!(r["jobs_done"], "1", "{r:?}");
    }
    // Inputs are sent before the first execution only.
    assert_eq!(rows[0]["bytes_up"], "6");
    assert_eq!(rows[1]["bytes_up"], "0");
    // One at a time: sub-03 waited for a slot while the others ran.
    assert!(secs(&rows[3]["launch_wait"]) >= 0.4, "{:?}", rows[3]);
    // The report is there, about these items.
    let html = std::fs::read_to_string(t.dir().join(".vip-run/hello/report.html")).unwrap();
    for key in ["sub-01", "sub-02", "sub-03", "workflow-"] {
        assert!(html.contains(key), "report.html lacks {key}");
    }
}

#[test]
fn report_rebuilds_the_page_and_trace_offline_from_a_killed_run() {
    let sb = SandboxHandle::start(Config {
        exec_duration: Duration::from_secs(600),
        quota: Some(4),
        ..Config::default()
    });
    let t = hello_test(&sb, &crate::run::hello_matrix(2, 2));
    let mut bg = Background::start(&t, &["--progress", "plain", "study.yaml"]);
    bg.wait_for_lines("launched", 2, Duration::from_secs(60));
    // Nothing written at the end: the run is killed before it.
    bg.child.kill().unwrap();
    bg.child.wait().unwrap();
    let state = t.dir().join(".vip-run/hello");
    assert!(!state.join("report.html").exists());
    drop(sb);
    // No key, no server: the state is all it reads.
    let out = assert_cmd::Command::cargo_bin("vip-run")
        .unwrap()
        .current_dir(t.dir())
        .env_remove("VIP_API_KEY")
        .args(["report", "study.yaml"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("report: .vip-run/hello/report.html"),
        "{stdout}"
    );
    let rows = trace(&t, ".vip-run/hello");
    assert_eq!(rows.len(), 2, "{rows:?}");
    for r in &rows {
        assert_eq!(r["result"], "in progress", "{r:?}");
        assert!(r["ended"].is_empty(), "{r:?}");
        assert!(r["execution_id"].starts_with("workflow-"), "{r:?}");
    }
    let html = std::fs::read_to_string(state.join("report.html")).unwrap();
    assert!(html.contains("sub-01") && html.contains("sub-02"));
    // JSON for scripts, and a clear word when nothing ran yet.
    let again = t.run_with(&["report", "--output", "json", "study.yaml"]);
    again.code(0);
    assert_eq!(again.json_lines()[0]["event"], "report");
    let fresh = Test::new()
        .manifest(&crate::run::hello_matrix(1, 1))
        .file("in.txt", "hello\n");
    fresh
        .run_with(&["report", "study.yaml"])
        .code(2)
        .stderr_has("has no run recorded yet");
    let _ = DEMO;
}

#[test]
fn status_shows_each_items_phase_and_times() {
    let sb = failing_first(300);
    let t = hello_test(&sb, &hello(2, 2));
    t.run_with(&["study.yaml"]).code(0);
    let out = t.run_with(&["status", "study.yaml"]);
    out.code(0).stdout_has("QUEUED").stdout_has("RAN");
    let json = t.run_with(&["status", "--output", "json", "study.yaml"]);
    for row in json.json_lines() {
        assert_eq!(row["phase"], "downloaded", "{row}");
        let times = &row["times"];
        assert!(times["submitted_at"].is_string(), "{row}");
        assert!(times["ended_at"].is_string(), "{row}");
        assert!(times["queue_wait_s"].is_u64(), "{row}");
        assert_eq!(times["jobs"]["total"], 1, "{row}");
    }
}

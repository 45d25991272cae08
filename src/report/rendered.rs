//! Snapshots of what the renderers write, driven without the binary: each renderer takes the
//! outcome type it shows and an `impl Write`, so what users read is pinned here, line by line.

use std::path::PathBuf;

use super::OutputFormat;
use super::batch::BatchAttempt;
use super::cancel::{self, Cancelled};
use super::pipelines;
use super::plan::{self, Action, ActionKind, Preview, Subject};
use super::status::{self, Row, Status};
use super::summary::{self, Finished, Outcome, Summary};
use super::whoami::{self, Identity};
use crate::vip::wire::Pipeline;

fn text(f: impl FnOnce(&mut Vec<u8>) -> std::io::Result<()>) -> String {
    let mut out = Vec::new();
    f(&mut out).expect("writes to memory");
    String::from_utf8(out).expect("UTF-8")
}

/// JSON lines with their `at` timestamps blanked (they are the time of rendering).
fn json_lines(text: &str) -> String {
    text.lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).expect("a JSON line");
            if let Some(at) = v.get_mut("at") {
                *at = serde_json::Value::String("[at]".into());
            }
            v.to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn finished(sandbox: bool, interrupted: bool) -> Finished {
    Finished {
        command: "run",
        manifest: "study.yaml".into(),
        state: PathBuf::from(".vip-run/study/state.json"),
        record: PathBuf::from(".vip-run/study/run.json"),
        report: Some(PathBuf::from(".vip-run/study/report.html")),
        collected: Vec::new(),
        collect_error: None,
        skipped: None,
        sandbox,
        interrupt_exit_code: crate::exit_code::INTERRUPTED,
        summary: Summary {
            outcomes: vec![
                ("sub-01".into(), Outcome::Done),
                (
                    "sub-02".into(),
                    Outcome::Failed(super::summary::Failure::Ended {
                        status: "ExecutionFailed".into(),
                        logs: None,
                        tail: Some("Error: no such file\nexit 1".into()),
                        verdict: Some(Box::new(crate::vip::failure::Verdict {
                            class: crate::vip::failure::FailureClass::Application,
                            exit_code: Some(50),
                            jobs: Vec::new(),
                            missing: Vec::new(),
                            detail: None,
                        })),
                        retry: Some("not retried".into()),
                    }),
                ),
                ("sub-03".into(), Outcome::TimedOut),
                (
                    "sub-04".into(),
                    Outcome::DoneWithProblems("result.tgz is over VIP's limit".into()),
                ),
                ("sub-05".into(), Outcome::InProgress),
                ("sub-06".into(), Outcome::NotLaunched),
                (
                    "sub-07".into(),
                    Outcome::Blocked {
                        why: "uploading its input: PUT /path/x: HTTP 500".into(),
                        unreachable: true,
                    },
                ),
            ],
            junit: Vec::new(),
            interrupted,
            disk: None,
            retried: std::collections::HashMap::from([(
                "sub-01".to_owned(),
                "retried 1× after input download failure".to_owned(),
            )]),
        },
    }
}

/// The command that picks `f` up, as the command line would give it.
fn again(f: &Finished) -> &'static str {
    if f.sandbox {
        "vip-run --sandbox study.yaml"
    } else {
        "vip-run study.yaml"
    }
}

#[test]
fn a_run_summary_reads_like_this() {
    let f = finished(false, true);
    let human = text(|o| summary::render(o, &f, OutputFormat::Human, false, again(&f)));
    insta::assert_snapshot!(human, @r"
    study.yaml: 7 items: 2 finished, 1 failed, 1 timed out, 1 in progress, 1 not launched, 1 blocked
      sub-01: finished, retried 1× after input download failure
      sub-02: FAILED: application (exit 50), not retried (ExecutionFailed; the tool failed on its data or parameters: check its stderr; a relaunch repeats it)
        | Error: no such file
        | exit 1
      sub-03: TIMED OUT
      sub-04: finished, but: result.tgz is over VIP's limit
      sub-07: BLOCKED: uploading its input: PUT /path/x: HTTP 500; run again to try it again
    to launch the failed, killed or timed-out items again: `vip-run run study.yaml --relaunch failed` (`plan --relaunch failed` shows it first)
    1 execution is still running on VIP; run `vip-run study.yaml` again to pick it up
    run record: .vip-run/study/run.json
    report: .vip-run/study/report.html
    ");
    assert_eq!(f.exit_code(), crate::exit_code::INTERRUPTED);
    let json = text(|o| summary::render(o, &f, OutputFormat::Json, false, again(&f)));
    insta::assert_snapshot!(json_lines(&json), @r#"{"event":"summary","command":"run","manifest":"study.yaml","items":7,"finished":2,"failed":1,"timed_out":1,"in_progress":1,"not_launched":1,"blocked":1,"not_downloaded":0,"interrupted":true,"disk_error":null,"state":".vip-run/study/state.json","record":".vip-run/study/run.json","report":".vip-run/study/report.html","collected":[],"collect_error":null,"results":[{"item":"sub-01","result":"finished","detail":null,"retried":"retried 1× after input download failure"},{"item":"sub-02","result":"failed","detail":"application (exit 50), not retried (ExecutionFailed; the tool failed on its data or parameters: check its stderr; a relaunch repeats it)\nError: no such file\nexit 1","class":"application","exit_code":50},{"item":"sub-03","result":"timed_out","detail":null,"class":"timed_out","exit_code":null},{"item":"sub-04","result":"finished","detail":"result.tgz is over VIP's limit"},{"item":"sub-05","result":"in_progress","detail":null},{"item":"sub-06","result":"not_launched","detail":null},{"item":"sub-07","result":"blocked","detail":"uploading its input: PUT /path/x: HTTP 500"}],"at":"[at]"}"#);
}

#[test]
fn a_sandbox_run_does_not_promise_a_pick_up() {
    let f = finished(true, true);
    let human = text(|o| summary::render(o, &f, OutputFormat::Human, false, again(&f)));
    assert!(
        human.contains(
            "the sandbox stopped with this command, and its running execution with it; run `vip-run --sandbox study.yaml` again to start over"
        ),
        "{human}"
    );
    assert!(!human.contains("still running on VIP"), "{human}");
}

#[test]
fn quiet_leaves_out_a_summary_with_nothing_wrong() {
    let mut f = finished(false, false);
    f.summary.outcomes.truncate(1);
    assert_eq!(
        text(|o| summary::render(o, &f, OutputFormat::Human, true, again(&f))),
        ""
    );
    assert_eq!(f.exit_code(), crate::exit_code::SUCCESS);
}

#[test]
fn a_plan_reads_like_this() {
    let p = Preview {
        policy: "relaunched up to 2 times on input_download (not on application)".into(),
        manifest: "study.yaml".into(),
        actions: vec![
            Action {
                kind: ActionKind::Upload,
                item: None,
                subject: Subject::Input {
                    local: "data/a.txt".into(),
                    remote: "/vip/Home/vip-run/study/inputs/data/a.txt".into(),
                },
            },
            Action {
                kind: ActionKind::Reuse,
                item: Some("sub-01".into()),
                subject: Subject::Current {
                    execution: "workflow-A1".into(),
                    status: "Running".into(),
                    timed_out: false,
                    failure: None,
                    class: None,
                    not_retried: None,
                },
            },
            Action {
                kind: ActionKind::Launch,
                item: Some("sub-02".into()),
                subject: Subject::First {
                    name: "study-sub-02-0a1b2c".into(),
                    jobs: None,
                },
            },
            Action {
                kind: ActionKind::Relaunch,
                item: Some("sub-03".into()),
                subject: Subject::Again {
                    execution: "workflow-A3".into(),
                    status: "ExecutionFailed".into(),
                    timed_out: false,
                    asked: false,
                    attempt: 1,
                    retries: 2,
                    jobs: None,
                    class: Some(crate::vip::failure::FailureClass::InputDownload),
                },
            },
        ],
        cleanable: None,
    };
    insta::assert_snapshot!(text(|o| plan::render(o, &p, OutputFormat::Human)), @r"
    + upload    data/a.txt → /vip/Home/vip-run/study/inputs/data/a.txt
      reuse     sub-01: workflow-A1 (Running)
    + launch    sub-02: study-sub-02-0a1b2c
    + relaunch  sub-03: workflow-A3 failed (input download); retry 1 of 2
    study.yaml: 3 changes to make
    failures: relaunched up to 2 times on input_download (not on application)
    ");
    insta::assert_snapshot!(text(|o| plan::render(o, &p, OutputFormat::Json)), @r#"
    {"action":"upload","item":null,"change":true,"local":"data/a.txt","remote":"/vip/Home/vip-run/study/inputs/data/a.txt"}
    {"action":"reuse","item":"sub-01","change":false,"execution":"workflow-A1","status":"Running","timed_out":false}
    {"action":"launch","item":"sub-02","change":true,"execution_name":"study-sub-02-0a1b2c","jobs":null}
    {"action":"relaunch","item":"sub-03","change":true,"execution":"workflow-A3","status":"ExecutionFailed","timed_out":false,"reason":"retry","attempt":1,"retries":2,"jobs":null,"class":"input_download"}
    {"event":"summary","command":"plan","changes":3,"actions":4,"retry_policy":"relaunched up to 2 times on input_download (not on application)","cleanable":null}
    "#);
}

/// When the status table is read, in its test.
const NOW: i64 = 1_770_026_083_000;

/// An execution launched at `submitted`, seen running at `started` and ended at `ended`.
fn observed(submitted: i64, started: Option<i64>, ended: Option<i64>) -> BatchAttempt {
    BatchAttempt {
        execution: "workflow-A".into(),
        name: "study".into(),
        status: "Running".into(),
        class: None,
        exit_code: None,
        ready: Some(submitted - 5_000),
        submitted,
        started,
        ended,
        download: None,
        jobs: Some((0, 0, 1)),
        bytes_down: 0,
    }
}

#[test]
fn a_status_table_reads_like_this() {
    let s = Status {
        rows: vec![
            Row {
                item: "sub-01".into(),
                execution_name: "study-sub-01-0a1b2c".into(),
                execution: Some("workflow-A1".into()),
                status: Some("Running".into()),
                timed_out: false,
                launched_at: Some(1_770_024_083_000),
                home: None,
                failure: None,
                retried: None,
                not_retried: None,
                observed: Some(observed(1_770_024_083_000, Some(1_770_024_143_000), None)),
            },
            Row {
                item: "sub-02".into(),
                execution_name: "study-sub-02-3d4e5f".into(),
                execution: Some("workflow-A2".into()),
                status: Some("Running".into()),
                timed_out: true,
                launched_at: Some(1_770_024_084_000),
                home: None,
                failure: None,
                retried: None,
                not_retried: None,
                observed: Some(observed(1_770_024_084_000, Some(1_770_024_090_000), None)),
            },
            Row {
                item: "sub-04".into(),
                execution_name: "study-sub-04-7c8d9e".into(),
                execution: Some("workflow-A4".into()),
                status: Some("Finished".into()),
                timed_out: false,
                launched_at: Some(1_770_024_085_000),
                home: Some(false),
                failure: None,
                retried: None,
                not_retried: None,
                observed: Some(observed(
                    1_770_024_085_000,
                    Some(1_770_024_385_000),
                    Some(1_770_025_285_000),
                )),
            },
            Row {
                item: "sub-05".into(),
                execution_name: "study-sub-05-1f2e3d".into(),
                execution: Some("workflow-A5".into()),
                status: Some("ExecutionFailed".into()),
                timed_out: false,
                launched_at: Some(1_770_024_086_000),
                home: None,
                failure: Some(crate::vip::failure::Verdict {
                    class: crate::vip::failure::FailureClass::Application,
                    exit_code: Some(50),
                    jobs: vec![crate::vip::failure::FailedJob {
                        job: "1".into(),
                        status: "ERROR".into(),
                        exit_code: Some(50),
                        class: crate::vip::failure::FailureClass::Application,
                        values: vec!["data_file[1] = 002.mrui".into()],
                    }],
                    missing: Vec::new(),
                    detail: None,
                }),
                retried: Some("retried 1× after input download failure".into()),
                not_retried: Some("retries used up".into()),
                observed: Some(observed(1_770_024_086_000, None, Some(1_770_024_686_000))),
            },
            Row {
                item: "sub-03".into(),
                execution_name: "study-sub-03-6a7b8c".into(),
                execution: None,
                status: None,
                timed_out: false,
                launched_at: None,
                home: None,
                failure: None,
                retried: None,
                not_retried: None,
                observed: None,
            },
        ],
    };
    insta::assert_snapshot!(text(|o| status::render_at(o, &s, OutputFormat::Human, NOW)), @r"
    ITEM    STATUS                    EXECUTION                 LAUNCHED              QUEUED     RAN
    sub-01  Running                   workflow-A1               2026-02-02T09:21:23Z  1m         32m20s
    sub-02  Running (timed out)       workflow-A2               2026-02-02T09:21:24Z  6s         33m13s
    sub-04  Finished, not downloaded  workflow-A4               2026-02-02T09:21:25Z  5m         15m
    sub-05  ExecutionFailed           workflow-A5               2026-02-02T09:21:26Z  10m        -
    sub-03  not launched              -                         -                     -          -
      sub-05: failed: application (exit 50), retries used up (1 job failed: job 1 application exit 50 on data_file[1] = 002.mrui); retried 1× after input download failure
    ");
    insta::assert_snapshot!(text(|o| status::render_at(o, &s, OutputFormat::Json, NOW)), @r#"
    {"item":"sub-01","execution_name":"study-sub-01-0a1b2c","execution":"workflow-A1","status":"Running","launched_at":"2026-02-02T09:21:23Z","downloaded":null,"class":null,"exit_code":null,"failure":null,"retry":null,"retried":null,"phase":"running","times":{"ready_at":"2026-02-02T09:21:18Z","submitted_at":"2026-02-02T09:21:23Z","started_at":"2026-02-02T09:22:23Z","ended_at":null,"launch_wait_s":5,"queue_wait_s":60,"run_time_s":1940,"download_s":null,"jobs":{"done":0,"failed":0,"total":1}}}
    {"item":"sub-02","execution_name":"study-sub-02-3d4e5f","execution":"workflow-A2","status":"TimedOut","launched_at":"2026-02-02T09:21:24Z","downloaded":null,"class":null,"exit_code":null,"failure":null,"retry":null,"retried":null,"phase":"timed out","times":{"ready_at":"2026-02-02T09:21:19Z","submitted_at":"2026-02-02T09:21:24Z","started_at":"2026-02-02T09:21:30Z","ended_at":null,"launch_wait_s":5,"queue_wait_s":6,"run_time_s":1993,"download_s":null,"jobs":{"done":0,"failed":0,"total":1}}}
    {"item":"sub-04","execution_name":"study-sub-04-7c8d9e","execution":"workflow-A4","status":"Finished","launched_at":"2026-02-02T09:21:25Z","downloaded":false,"class":null,"exit_code":null,"failure":null,"retry":null,"retried":null,"phase":"not downloaded","times":{"ready_at":"2026-02-02T09:21:20Z","submitted_at":"2026-02-02T09:21:25Z","started_at":"2026-02-02T09:26:25Z","ended_at":"2026-02-02T09:41:25Z","launch_wait_s":5,"queue_wait_s":300,"run_time_s":900,"download_s":null,"jobs":{"done":0,"failed":0,"total":1}}}
    {"item":"sub-05","execution_name":"study-sub-05-1f2e3d","execution":"workflow-A5","status":"ExecutionFailed","launched_at":"2026-02-02T09:21:26Z","downloaded":null,"class":"application","exit_code":50,"failure":{"class":"application","exit_code":50,"jobs":[{"job":"1","status":"ERROR","exit_code":50,"class":"application","values":["data_file[1] = 002.mrui"]}]},"retry":"retries used up","retried":"retried 1× after input download failure","phase":"failed","times":{"ready_at":"2026-02-02T09:21:21Z","submitted_at":"2026-02-02T09:21:26Z","started_at":null,"ended_at":"2026-02-02T09:31:26Z","launch_wait_s":5,"queue_wait_s":600,"run_time_s":null,"download_s":null,"jobs":{"done":0,"failed":0,"total":1}}}
    {"item":"sub-03","execution_name":"study-sub-03-6a7b8c","execution":null,"status":"NotLaunched","launched_at":null,"downloaded":null,"class":null,"exit_code":null,"failure":null,"retry":null,"retried":null,"phase":"not launched","times":null}
    "#);
    let none = Cancelled {
        manifest: "study.yaml".into(),
        killed: Vec::new(),
        not_launched: Vec::new(),
    };
    assert_eq!(
        text(|o| cancel::render(o, &none, OutputFormat::Human, false)),
        "nothing to cancel: no execution of study.yaml is queued or running\n"
    );
    let some = Cancelled {
        manifest: "study.yaml".into(),
        killed: vec![("sub-01".into(), "workflow-A1".into())],
        not_launched: vec!["sub-02".into(), "sub-03".into()],
    };
    insta::assert_snapshot!(text(|o| cancel::render(o, &some, OutputFormat::Human, false)), @r"
    killed 1 execution
    2 items never launched stay queued here (sub-02, sub-03): the next `vip-run run study.yaml` launches them; remove them from the manifest to drop them; killed items are not launched again unless you ask (`--relaunch failed`)
    ");
    let json: serde_json::Value = serde_json::from_str(&text(|o| {
        cancel::render(o, &some, OutputFormat::Json, false)
    }))
    .unwrap();
    assert_eq!(
        json["not_launched"],
        serde_json::json!(["sub-02", "sub-03"])
    );
    assert_eq!(json["killed"][0]["execution"], "workflow-A1");
}

#[test]
fn whoami_and_pipelines_read_like_this() {
    let id = Identity {
        server: "http://127.0.0.1:8080/rest".into(),
        key_source: "environment variable VIP_API_KEY".into(),
        groups: vec!["CQUEST".into(), "Support".into()],
        pipelines: 3,
    };
    insta::assert_snapshot!(text(|o| whoami::render(o, &id, OutputFormat::Human)), @r"
    server      http://127.0.0.1:8080/rest
    api key     from environment variable VIP_API_KEY: accepted
    groups      CQUEST, Support
    pipelines   3 you can run (`vip-run pipelines` lists them)
    ");
    let list = vec![Pipeline {
        identifier: "CQUEST/0.6".into(),
        name: "CQUEST".into(),
        description: None,
        version: "0.6".into(),
        parameters: Vec::new(),
        can_execute: Some(true),
    }];
    insta::assert_snapshot!(text(|o| pipelines::render(o, &list, None, OutputFormat::Human)), @r"
    PIPELINE    NAME
    CQUEST/0.6  CQUEST
    ");
    assert_eq!(
        text(|o| pipelines::render(o, &[], Some("bet"), OutputFormat::Human)),
        "no pipelines matching `bet` (your groups give access to the pipelines you can run)\n"
    );
}

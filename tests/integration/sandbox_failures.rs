//! The failures the sandbox injects, as VIP shows them (docs/vip.md#jobs, #errors, #upload):
//! over loopback HTTP, each kind's execution status, `jobs` map, exit codes and messages,
//! `returnedFiles` and logs; the refusals of launches and uploads; runs that never end until
//! killed; the seed's reproducibility; `fail_when`'s `kind` and `times`; and the record of
//! injections against the request log.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};
use vip_run::sandbox::{
    Config, DEMO_KEY, FailureKind, FailureMix, Injection, Sandbox, World, default_world_yaml,
};

use crate::sandbox::{Answer, Send};

/// How long a run takes: short, so the tests are quick.
const RUN: Duration = Duration::from_millis(300);

/// Hello's trigger in the default world, which tests replace.
const HELLO_TRIGGER: &str =
    "fail_when: { input: message, contains: FAIL, stderr: \"Error: asked to fail\" }";

/// GASW's names of the exit codes the kinds use (docs/vip.md#jobs), written out here so the
/// sandbox is checked against the table, not against itself.
const NAMES: &[(i64, &str)] = &[
    (-1, "UNDEFINED"),
    (1, "ERROR_READ_GRID"),
    (2, "ERROR_WRITE_GRID"),
    (6, "EXECUTION_FAILED_LEGACY"),
    (7, "ERROR_WRITE_LOCAL"),
    (8, "ERROR_GET_STD"),
    (9, "EXECUTION_CANCELED"),
    (20, "GIRDER_CLIENT_INSTALL_FAILED"),
    (21, "BOUTIQUE_INSTALL_FAILED"),
    (22, "ERROR_CREATE_EXEC_DIR"),
    (23, "ERROR_CD_EXEC_DIR"),
    (24, "CONFIG_NOT_FOUND"),
    (25, "BOUTIQUE_IMPORT_FAILED"),
    (30, "ERROR_WRITE_LFN"),
    (31, "ERROR_MV_FILE"),
    (32, "ERROR_RESULT_FILE_EXIST"),
    (33, "ERROR_UPLOAD_GIRDER"),
    (34, "ERROR_UPLOAD_SHANOIR"),
    (35, "FAILED_CREATE_LOCAL_UPLOAD_DIR"),
    (36, "ERROR_GIRDER_MKDIR"),
    (40, "ERROR_DL"),
    (41, "INVALID_SHANOIR_NIFTI"),
    (42, "SHANOIR_DL_FAILED"),
    (50, "EXECUTION_FAILED"),
    (51, "SING_INVALID_IMAGE_NAME"),
    (52, "SING_IMAGE_NOT_FOUND"),
    (53, "INVALID_CONTAINER_RUNTIME"),
    (60, "TOKEN_REFRESH_TOO_LONG"),
    (61, "TOKEN_REFRESH_ERROR"),
];

fn name_of(code: i64) -> &'static str {
    NAMES
        .iter()
        .find(|(c, _)| *c == code)
        .map_or_else(|| panic!("no name for {code}"), |(_, n)| n)
}

/// The codes of each exit-code kind's class (docs/vip.md#jobs).
fn class_codes(kind: FailureKind) -> &'static [i64] {
    match kind {
        FailureKind::Application => &[50, 6, 41, 32],
        FailureKind::InputDownload => &[1, 40, 42],
        FailureKind::Setup => &[20, 21, 22, 23, 24, 25],
        FailureKind::Worker => &[7, 8],
        FailureKind::ResultUpload => &[2, 30, 31, 33, 34, 35, 36],
        FailureKind::Container => &[52],
        FailureKind::Platform => &[51, 53],
        FailureKind::Token => &[60, 61],
        FailureKind::Unknown => &[-1],
        other => panic!("{other} ends no job with an exit code"),
    }
}

const EXIT_CODE_KINDS: [FailureKind; 9] = [
    FailureKind::Application,
    FailureKind::InputDownload,
    FailureKind::Setup,
    FailureKind::Worker,
    FailureKind::ResultUpload,
    FailureKind::Container,
    FailureKind::Platform,
    FailureKind::Token,
    FailureKind::Unknown,
];

/// A sandbox with quick runs, room for many of them, and `failures`.
fn config(failures: &str, seed: u64) -> Config {
    Config {
        exec_duration: RUN,
        quota: Some(50),
        failures: FailureMix::parse(failures).unwrap(),
        seed,
        ..Config::default()
    }
}

/// The default world with Hello's trigger replaced by `trigger`.
fn world_with(trigger: &str) -> World {
    let text = default_world_yaml();
    assert!(
        text.contains(HELLO_TRIGGER),
        "the default world changed shape"
    );
    World::from_yaml(&text.replace(HELLO_TRIGGER, trigger)).unwrap()
}

/// A sandbox and the demo user's calls to it.
struct Vip {
    sb: Sandbox,
}

impl Vip {
    async fn start(config: Config) -> Self {
        let sb = Sandbox::start(config, ([127, 0, 0, 1], 0).into())
            .await
            .unwrap();
        Self { sb }
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<(Vec<u8>, &'static str)>,
    ) -> Answer {
        let body = match body {
            Some((bytes, content_type)) => Send::Raw(bytes, content_type),
            None => Send::Nothing,
        };
        crate::sandbox::call(&self.sb, method, path, Some(DEMO_KEY), body).await
    }

    async fn get(&self, path: &str) -> Answer {
        self.call(Method::GET, path, None).await
    }

    async fn upload(&self, vip: &str, bytes: &[u8]) -> Answer {
        let body = Some((bytes.to_vec(), "application/octet-stream"));
        self.call(Method::PUT, &format!("/path{vip}"), body).await
    }

    async fn launch(&self, body: &Value) -> Answer {
        let body = Some((body.to_string().into_bytes(), "application/json"));
        self.call(Method::POST, "/executions", body).await
    }

    /// Launches `body`, which must be accepted: the new execution's id.
    async fn launched(&self, body: &Value) -> String {
        let answer = self.launch(body).await;
        assert_eq!(answer.status, 200, "{}", answer.text());
        answer.json()["identifier"].as_str().unwrap().to_owned()
    }

    async fn execution(&self, id: &str) -> Value {
        self.get(&format!("/executions/{id}")).await.json()
    }

    /// Polls until the execution has left Ready and Running (10 s at most).
    async fn ended(&self, id: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let e = self.execution(id).await;
            if !matches!(e["status"].as_str(), Some("Running" | "Ready")) {
                return e;
            }
            assert!(Instant::now() < deadline, "still {}", e["status"]);
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
    }

    async fn kill(&self, id: &str) {
        let answer = self
            .call(Method::PUT, &format!("/executions/{id}/kill"), None)
            .await;
        assert_eq!(answer.status, 204, "{}", answer.text());
    }

    async fn count(&self) -> String {
        self.get("/executions/count").await.text()
    }

    /// The stderr of job `n`, by the per-job route.
    async fn job_stderr(&self, id: &str, n: usize) -> Answer {
        self.get(&format!("/executions/{id}/jobs/{n}/stderr")).await
    }

    /// Uploads Hello's input.
    async fn hello_input(&self) {
        assert_eq!(self.upload("/vip/Home/in.txt", b"12345").await.status, 201);
    }

    /// Uploads CQUEST's inputs for a two-job run.
    async fn cquest_inputs(&self) {
        for f in ["basis.zip", "p1.txt", "p2.txt", "d1.mrui", "d2.mrui"] {
            let answer = self.upload(&format!("/vip/Home/{f}"), f.as_bytes()).await;
            assert_eq!(answer.status, 201);
        }
    }

    async fn shutdown(self) {
        self.sb.shutdown().await;
    }
}

fn hello(message: &str) -> Value {
    json!({"name": "hello run", "pipelineIdentifier": "Hello/1.0",
           "inputValues": {"input_file": "/vip/Home/in.txt", "message": message}})
}

/// A CQUEST launch of two jobs (paired lists).
fn cquest() -> Value {
    json!({"name": "cquest run", "pipelineIdentifier": "CQUEST/0.6", "inputValues": {
        "zipped_folder": "/vip/Home/basis.zip",
        "parameter_file": ["/vip/Home/p1.txt", "/vip/Home/p2.txt"],
        "data_file": ["/vip/Home/d1.mrui", "/vip/Home/d2.mrui"]}})
}

/// Sleeps `times` run durations.
async fn runs(times: u32) {
    tokio::time::sleep(RUN * times).await;
}

/// The one injection recorded for `id`.
fn injection_of(vip: &Vip, id: &str) -> Injection {
    let found: Vec<Injection> = vip
        .sb
        .injected()
        .into_iter()
        .filter(|i| i.execution_id.as_deref() == Some(id))
        .collect();
    assert_eq!(found.len(), 1, "{found:?}");
    found.into_iter().next().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_code_kinds_fail_their_job_with_a_code_of_their_class() {
    let mut seen = std::collections::BTreeSet::new();
    for kind in EXIT_CODE_KINDS {
        let vip = Vip::start(config(&format!("{kind}=1"), 3)).await;
        vip.hello_input().await;
        let mut ids = Vec::new();
        for _ in 0..6 {
            ids.push(vip.launched(&hello("hi")).await);
        }
        for id in &ids {
            let done = vip.ended(id).await;
            assert_eq!(done["status"], "ExecutionFailed", "{kind}");
            let job = &done["jobs"]["0"];
            assert_eq!(job["status"], "ERROR", "{kind}");
            let code = job["exitCode"].as_i64().unwrap();
            assert!(class_codes(kind).contains(&code), "{kind}: {code}");
            assert_eq!(job["exitMessage"], name_of(code), "{kind}");
            assert_eq!(done["returnedFiles"], Value::Null, "{kind}");
            seen.insert(code);
            // The log says what went wrong, ending as GASW ends; one job: both routes
            // serve it.
            let stderr = vip.job_stderr(id, 0).await;
            assert_eq!(stderr.status, 200);
            if code != -1 {
                assert!(
                    stderr
                        .text()
                        .ends_with(&format!("\nExiting with return value {code}\n")),
                    "{kind}: {}",
                    stderr.text()
                );
            }
            assert_eq!(
                vip.get(&format!("/executions/{id}/stderr")).await.text(),
                stderr.text()
            );
            let recorded = injection_of(&vip, id);
            assert_eq!(recorded.kind, kind);
            assert_eq!(recorded.name.as_deref(), Some("hello run"));
            assert_eq!(recorded.jobs.len(), 1);
            assert_eq!(
                (recorded.jobs[0].exit_code, recorded.jobs[0].status.as_str()),
                (Some(code), "ERROR")
            );
        }
        vip.shutdown().await;
    }
    // The seed chose among each class's codes, not always the first.
    assert!(seen.len() > EXIT_CODE_KINDS.len(), "{seen:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trigger_fails_with_its_kinds_usual_code_and_gasws_log() {
    // The default trigger: the tool failed (50), its error then GASW's last line.
    let vip = Vip::start(config("", 0)).await;
    vip.hello_input().await;
    let id = vip.launched(&hello("please FAIL")).await;
    let done = vip.ended(&id).await;
    assert_eq!(
        done["jobs"]["0"],
        json!({"status": "ERROR", "exitCode": 50, "exitMessage": "EXECUTION_FAILED"})
    );
    let stderr = vip.job_stderr(&id, 0).await.text();
    assert_eq!(
        stderr,
        "hello: no warnings\nError: asked to fail\nExiting with return value 50\n"
    );
    assert!(
        vip.get(&format!("/executions/{id}/stdout"))
            .await
            .text()
            .contains("[INFO] Message: please FAIL"),
        "the tool ran"
    );
    vip.shutdown().await;

    // An input that could not be fetched: exit 1, the file named as the grid knows it; the
    // tool never ran.
    let vip = Vip::start(Config {
        world: world_with("fail_when: { input: message, contains: FAIL, kind: input_download }"),
        ..config("", 0)
    })
    .await;
    vip.hello_input().await;
    let id = vip.launched(&hello("FAIL")).await;
    let done = vip.ended(&id).await;
    assert_eq!(done["status"], "ExecutionFailed");
    assert_eq!(
        done["jobs"]["0"],
        json!({"status": "ERROR", "exitCode": 1, "exitMessage": "ERROR_READ_GRID"})
    );
    assert_eq!(
        vip.job_stderr(&id, 0).await.text(),
        "[ERROR] Could not download lfn:/grid/biomed/creatis/vip/data/users/demo/in.txt: \
         Connection timed out after 3 attempts\nExiting with return value 1\n"
    );
    assert_eq!(
        vip.get(&format!("/executions/{id}/stdout")).await.text(),
        ""
    );
    vip.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn among_several_jobs_the_seed_picks_who_fails_and_the_others_complete() {
    let mut failed_alone = false;
    for seed in 0..8 {
        let vip = Vip::start(config("input_download=1", seed)).await;
        vip.cquest_inputs().await;
        let id = vip.launched(&cquest()).await;
        let done = vip.ended(&id).await;
        assert_eq!(done["status"], "ExecutionFailed");
        let recorded = injection_of(&vip, &id);
        assert!(!recorded.jobs.is_empty());
        let failing: Vec<usize> = recorded.jobs.iter().map(|j| j.job).collect();
        let jobs = done["jobs"].as_object().unwrap();
        assert_eq!(jobs.len(), 2);
        for (n, job) in jobs {
            let n: usize = n.parse().unwrap();
            if failing.contains(&n) {
                assert_eq!(job["status"], "ERROR");
                assert!([1, 40, 42].contains(&job["exitCode"].as_i64().unwrap()));
            } else {
                assert_eq!(
                    job,
                    &json!({"status": "COMPLETED", "exitCode": 0, "exitMessage": null})
                );
            }
        }
        // The jobs that completed left their outputs.
        let returned = done["returnedFiles"]["results"]
            .as_array()
            .map_or(0, Vec::len);
        assert_eq!(returned, 2 - failing.len(), "{done}");
        failed_alone |= failing.len() == 1;
        vip.shutdown().await;
    }
    assert!(failed_alone, "some seed fails one job of two");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_stalled_and_hung_runs_stay_running_until_killed() {
    for (kind, shown) in [
        (FailureKind::Held, &["ERROR_HELD", "STALLED_HELD"][..]),
        (FailureKind::Stalled, &["STALLED"][..]),
        (FailureKind::Hung, &["QUEUED"][..]),
    ] {
        let vip = Vip::start(Config {
            quota: Some(1),
            ..config(&format!("{kind}=1"), 1)
        })
        .await;
        vip.hello_input().await;
        let id = vip.launched(&hello("hi")).await;
        // Long after it would have ended: still Running, its job as the kind shows it.
        runs(4).await;
        let e = vip.execution(&id).await;
        assert_eq!(e["status"], "Running", "{kind}");
        let job = &e["jobs"]["0"];
        assert!(
            shown.contains(&job["status"].as_str().unwrap()),
            "{kind}: {job}"
        );
        assert_eq!(job["exitCode"], Value::Null, "{kind}");
        assert_eq!(e["returnedFiles"], Value::Null, "{kind}");
        let recorded = injection_of(&vip, &id);
        assert_eq!(recorded.jobs[0].status, job["status"].as_str().unwrap());
        // It holds the user's only slot.
        vip.launch(&hello("again")).await.error(
            400,
            2001,
            "Max number of running executions reached.You already have 1 running executions. (Error code 2001)",
        );
        runs(2).await;
        assert_eq!(vip.execution(&id).await["jobs"]["0"], *job, "{kind}");
        // Killed: the job cancelled, the slot free again.
        vip.kill(&id).await;
        let killed = vip.execution(&id).await;
        assert_eq!(killed["status"], "Killed");
        assert_eq!(
            killed["jobs"]["0"],
            json!({"status": "CANCELLED", "exitCode": 9, "exitMessage": "EXECUTION_CANCELED"})
        );
        vip.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_runs_of_several_jobs_complete_the_jobs_not_held() {
    let vip = Vip::start(config("held=1", 2)).await;
    vip.cquest_inputs().await;
    let mut ids = Vec::new();
    for _ in 0..4 {
        ids.push(vip.launched(&cquest()).await);
    }
    runs(4).await;
    for id in &ids {
        let e = vip.execution(id).await;
        assert_eq!(e["status"], "Running");
        let held: Vec<usize> = injection_of(&vip, id).jobs.iter().map(|j| j.job).collect();
        assert!(!held.is_empty());
        for (n, job) in e["jobs"].as_object().unwrap() {
            let status = job["status"].as_str().unwrap();
            if held.contains(&n.parse().unwrap()) {
                assert!(["ERROR_HELD", "STALLED_HELD"].contains(&status), "{job}");
            } else {
                assert_eq!(status, "COMPLETED");
            }
        }
        // A held job's log is its last attempt's; a stalled one has none.
        for n in &held {
            let log = vip.job_stderr(id, *n).await;
            if e["jobs"][n.to_string()]["status"] == "ERROR_HELD" {
                assert!(log.text().contains("Could not download"), "{}", log.text());
            } else {
                log.error(
                    400,
                    8000,
                    "An error has been encountered on the VIP API (Error code 8000)",
                );
            }
        }
    }
    for id in &ids {
        vip.kill(id).await;
        let killed = vip.execution(id).await;
        assert_eq!(killed["status"], "Killed");
        assert!(
            killed["jobs"]
                .as_object()
                .unwrap()
                .values()
                .all(|j| ["COMPLETED", "CANCELLED"].contains(&j["status"].as_str().unwrap()))
        );
    }
    vip.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outputs_missing_finishes_without_a_required_output() {
    let vip = Vip::start(config("outputs_missing=1", 0)).await;
    vip.hello_input().await;
    let id = vip.launched(&hello("hi")).await;
    let done = vip.ended(&id).await;
    assert_eq!(done["status"], "Finished");
    assert_eq!(
        done["jobs"],
        json!({"0": {"status": "COMPLETED", "exitCode": 0, "exitMessage": null}})
    );
    // One job: the output's key is absent, and no file was written.
    assert_eq!(done["returnedFiles"], json!({}));
    let written = crate::support::walk(vip.sb.data_dir());
    assert!(
        !written.iter().any(|f| f.ends_with("hello.txt")),
        "{written:?}"
    );
    let recorded = injection_of(&vip, &id);
    assert_eq!(recorded.output.as_deref(), Some("greeting"));
    assert_eq!(
        (recorded.jobs[0].exit_code, recorded.jobs[0].status.as_str()),
        (Some(0), "COMPLETED")
    );
    // Several jobs: some job's file is missing from the list.
    vip.cquest_inputs().await;
    let id = vip.launched(&cquest()).await;
    let done = vip.ended(&id).await;
    assert_eq!(done["status"], "Finished");
    let recorded = injection_of(&vip, &id);
    assert_eq!(recorded.output.as_deref(), Some("results"));
    let returned = done["returnedFiles"]["results"]
        .as_array()
        .map_or(0, Vec::len);
    assert_eq!(returned, 2 - recorded.jobs.len());
    vip.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cleaned_runs_are_gone_as_if_deleted_on_the_portal() {
    let vip = Vip::start(config("cleaned=1", 0)).await;
    vip.hello_input().await;
    let id = vip.launched(&hello("hi")).await;
    assert_eq!(vip.count().await, "1");
    let deadline = Instant::now() + Duration::from_secs(10);
    let gone = loop {
        let answer = vip.get(&format!("/executions/{id}")).await;
        if answer.status != 200 {
            break answer;
        }
        assert_eq!(answer.json()["status"], "Running", "it never shows an end");
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(30)).await;
    };
    gone.error(
        400,
        8015,
        &format!("No execution available with this id : {id} (Error code 8015)"),
    );
    assert_eq!(vip.count().await, "0");
    assert_eq!(vip.get("/executions").await.json(), json!([]));
    assert_eq!(injection_of(&vip, &id).kind, FailureKind::Cleaned);
    vip.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_runs_end_killed_with_their_unfinished_jobs_cancelled() {
    let vip = Vip::start(config("killed=1", 0)).await;
    vip.hello_input().await;
    let id = vip.launched(&hello("hi")).await;
    let done = vip.ended(&id).await;
    assert_eq!(done["status"], "Killed");
    assert_eq!(
        done["jobs"]["0"],
        json!({"status": "CANCELLED", "exitCode": 9, "exitMessage": "EXECUTION_CANCELED"})
    );
    let recorded = injection_of(&vip, &id);
    assert_eq!(
        (recorded.jobs[0].exit_code, recorded.jobs[0].status.as_str()),
        (Some(9), "CANCELLED")
    );
    // With several jobs, those not cancelled completed and kept their outputs.
    vip.cquest_inputs().await;
    let id = vip.launched(&cquest()).await;
    let done = vip.ended(&id).await;
    assert_eq!(done["status"], "Killed");
    let cancelled = injection_of(&vip, &id).jobs.len();
    let statuses: Vec<&str> = done["jobs"]
        .as_object()
        .unwrap()
        .values()
        .map(|j| j["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == "CANCELLED").count(),
        cancelled
    );
    assert_eq!(
        done["returnedFiles"]["results"]
            .as_array()
            .map_or(0, Vec::len),
        2 - cancelled
    );
    vip.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saturated_or_failing_engine_refuses_launches_and_creates_nothing() {
    for (kind, code, message) in [
        (
            "saturated",
            2003,
            "The execution engine is saturated, please try again later (Error code 2003)",
        ),
        (
            "engine_error",
            2004,
            "Error while launching the execution on the engine (Error code 2004)",
        ),
    ] {
        let vip = Vip::start(config(&format!("{kind}=1"), 0)).await;
        vip.hello_input().await;
        vip.launch(&hello("hi")).await.error(400, code, message);
        assert_eq!(vip.count().await, "0");
        assert_eq!(vip.get("/executions").await.json(), json!([]));
        // VIP's checks come first: a launch they refuse never reaches the engine.
        vip.launch(
            &json!({"name": "no input", "pipelineIdentifier": "Hello/1.0", "inputValues": {}}),
        )
        .await
        .error(
            400,
            8018,
            "Input field 'input_file' is missing (Error code 8018)",
        );
        let injected = vip.sb.injected();
        assert_eq!(injected.len(), 1);
        assert_eq!(injected[0].kind.to_string(), kind);
        assert_eq!(injected[0].execution_id, None);
        assert_eq!(injected[0].name.as_deref(), Some("hello run"));
        vip.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_upload_is_refused_yet_its_file_arrives_whole() {
    let vip = Vip::start(config("slow_upload=1", 0)).await;
    // Making a folder is no upload: it is never slow.
    let mkdir = vip.call(Method::PUT, "/path/vip/Home/data", None).await;
    assert_eq!(mkdir.status, 201);
    let bytes: Vec<u8> = (0..200_000u32)
        .map(|i| u8::try_from(i % 251).unwrap())
        .collect();
    let answer = vip.upload("/vip/Home/data/big file.bin", &bytes).await;
    let answered = Instant::now();
    answer.error(400, 8000, "Aborting operation : too long (Error code 8000)");
    // Not there yet when the answer comes (checked only if asked at once)…
    let first = vip
        .get("/path/vip/Home/data/big_file.bin?action=exists")
        .await;
    if answered.elapsed() < Duration::from_millis(200) {
        assert_eq!(first.json(), json!({"exists": false}));
    }
    // …then there, complete, under its sanitised name.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let props = vip
            .get("/path/vip/Home/data/big_file.bin?action=properties")
            .await
            .json();
        if props["exists"] == true {
            assert_eq!(props["size"], bytes.len());
            break;
        }
        assert!(Instant::now() < deadline, "the file never arrived");
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    let content = vip
        .get("/path/vip/Home/data/big_file.bin?action=content")
        .await;
    assert_eq!(content.body, bytes);
    let injected = vip.sb.injected();
    assert_eq!(injected.len(), 1);
    assert_eq!(injected[0].kind, FailureKind::SlowUpload);
    assert_eq!(
        injected[0].path.as_deref(),
        Some("/vip/Home/data/big_file.bin")
    );
    let request = &vip.sb.requests()[injected[0].at_request];
    assert_eq!((request.method.as_str(), request.status), ("PUT", 400));
    assert_eq!(request.injected.as_deref(), Some("slow_upload"));
    vip.shutdown().await;
}

/// Launches `n` Hello runs under `config` and returns the sandbox's record and the ids.
async fn a_day_of(config: Config, n: usize) -> (Vec<Injection>, Vec<String>) {
    let vip = Vip::start(config).await;
    vip.hello_input().await;
    vip.cquest_inputs().await;
    let mut ids = Vec::new();
    for i in 0..n {
        let body = if i % 3 == 0 { cquest() } else { hello("hi") };
        let answer = vip.launch(&body).await;
        if answer.status == 200 {
            ids.push(answer.json()["identifier"].as_str().unwrap().to_owned());
        }
    }
    let injected = vip.sb.injected();
    // The record and the request log agree, entry for entry.
    let requests = vip.sb.requests();
    for injection in &injected {
        let request = &requests[injection.at_request];
        assert_eq!(
            request.injected.as_deref(),
            Some(injection.kind.to_string().as_str())
        );
        assert_eq!(
            (request.method.as_str(), request.path.as_str()),
            ("POST", "/rest/executions")
        );
        if injection.kind.is_launch() {
            assert_eq!(request.status, 400);
        } else {
            assert_eq!(request.status, 200);
            assert!(ids.contains(injection.execution_id.as_ref().unwrap()));
        }
    }
    assert_eq!(
        requests.iter().filter(|r| r.injected.is_some()).count(),
        injected.len()
    );
    vip.shutdown().await;
    (injected, ids)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_seed_injects_the_same_failures_and_another_seed_others() {
    let mix = "application=0.2,input_download=0.1,setup=0.05,held=0.1,stalled=0.05,hung=0.05,\
               outputs_missing=0.1,killed=0.05,cleaned=0.05,saturated=0.2,engine_error=0.1";
    let (first, first_ids) = a_day_of(config(mix, 5), 30).await;
    let (again, again_ids) = a_day_of(config(mix, 5), 30).await;
    let (other, _) = a_day_of(config(mix, 6), 30).await;
    assert!(first.len() >= 10, "{first:?}");
    // The same requests in the same order: the same record, request indexes included.
    assert_eq!(first, again);
    assert_eq!(first_ids, again_ids);
    assert_ne!(first, other);
    let kinds: std::collections::BTreeSet<String> =
        first.iter().map(|i| i.kind.to_string()).collect();
    assert!(kinds.len() >= 5, "{kinds:?}");
    // A mix of execution kinds changes no execution id.
    let executions_only = "application=0.3,held=0.2,outputs_missing=0.2";
    let (with_mix, with_mix_ids) = a_day_of(config(executions_only, 5), 12).await;
    let (none, plain_ids) = a_day_of(config("", 5), 12).await;
    assert!(!with_mix.is_empty());
    assert!(none.is_empty());
    assert_eq!(with_mix_ids, plain_ids);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn times_fails_only_the_first_matching_launches() {
    let vip = Vip::start(Config {
        world: world_with(
            "fail_when: { input: message, contains: FAIL, kind: input_download, times: 2 }",
        ),
        ..config("", 0)
    })
    .await;
    vip.hello_input().await;
    let first = vip.launched(&hello("FAIL 1")).await;
    // A launch that does not match neither fails nor counts.
    let other = vip.launched(&hello("fine")).await;
    let second = vip.launched(&hello("FAIL 2")).await;
    let third = vip.launched(&hello("FAIL 3")).await;
    for (id, status) in [
        (&first, "ExecutionFailed"),
        (&other, "Finished"),
        (&second, "ExecutionFailed"),
        (&third, "Finished"),
    ] {
        let done = vip.ended(id).await;
        assert_eq!(done["status"], status);
        if status == "ExecutionFailed" {
            assert_eq!(done["jobs"]["0"]["exitCode"], 1);
        }
    }
    let recorded: Vec<Option<String>> = vip
        .sb
        .injected()
        .into_iter()
        .map(|i| i.execution_id)
        .collect();
    assert_eq!(recorded, [Some(first), Some(second)]);
    vip.shutdown().await;

    // A launch-level kind: the first matching launch is refused, its retry accepted.
    let vip = Vip::start(Config {
        world: world_with(
            "fail_when: { input: message, contains: BUSY, kind: saturated, times: 1 }",
        ),
        ..config("", 0)
    })
    .await;
    vip.hello_input().await;
    vip.launch(&hello("BUSY")).await.error(
        400,
        2003,
        "The execution engine is saturated, please try again later (Error code 2003)",
    );
    let id = vip.launched(&hello("BUSY")).await;
    assert_eq!(vip.ended(&id).await["status"], "Finished");
    vip.shutdown().await;
}

#[test]
fn failure_specs_are_checked_with_clear_messages() {
    let err = FailureMix::parse("application=0.05,explode=0.1").unwrap_err();
    assert!(err.contains("unknown failure kind `explode`"), "{err}");
    for kind in FailureKind::ALL {
        assert!(err.contains(&kind.to_string()), "{err} lacks {kind}");
    }
    assert!(
        FailureMix::parse("held=2")
            .unwrap_err()
            .contains("between 0 and 1")
    );
    assert!(
        FailureMix::parse("application=0.7,held=0.4")
            .unwrap_err()
            .contains("more than 1")
    );
    let mix = FailureMix::parse("held=0.02,application=0.05").unwrap();
    assert_eq!(mix.to_string(), "application=0.05,held=0.02");
    assert_eq!(FailureMix::parse(&mix.to_string()).unwrap(), mix);
    // The command says so too, and stops.
    let out = assert_cmd::Command::cargo_bin("vip-run")
        .unwrap()
        .args([
            "sandbox",
            "--listen",
            "127.0.0.1:0",
            "--failures",
            "explode=0.1",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("unknown failure kind `explode`"),
        "{stderr}"
    );
}

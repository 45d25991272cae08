//! The sandbox against docs/vip.md: requests in, responses out, over loopback HTTP.
//! Each test starts its own sandbox with short execution times.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use vip_run::sandbox::{Config, DEMO_KEY, GUEST_KEY, Sandbox};
use vip_run::vip::wire::ExecutionStatus;

const DEMO: Option<&str> = Some(DEMO_KEY);
const GUEST: Option<&str> = Some(GUEST_KEY);

pub(crate) fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap()
}

async fn start(config: Config) -> Sandbox {
    Sandbox::start(config, ([127, 0, 0, 1], 0).into())
        .await
        .unwrap()
}

async fn quick() -> Sandbox {
    start(Config {
        exec_duration: Duration::from_millis(200),
        quota: Some(20),
        ..Config::default()
    })
    .await
}

/// A request body.
pub(crate) enum Send {
    Nothing,
    Json(Value),
    Text(&'static str),
    Raw(Vec<u8>, &'static str),
}

#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    headers: reqwest::header::HeaderMap,
    pub(crate) body: Vec<u8>,
}

impl Answer {
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {} {}", self.status, self.text()))
    }

    fn content_type(&self) -> &str {
        self.headers
            .get("content-type")
            .map_or("", |v| v.to_str().unwrap())
    }

    /// Asserts a VIP error: status, code, exact message.
    pub(crate) fn error(&self, status: u16, code: i64, message: &str) {
        assert_eq!(self.status, status, "{}", self.text());
        assert!(self.content_type().starts_with("application/json"));
        assert_eq!(
            self.text(),
            serde_json::to_string(&json!({"errorCode": code, "errorMessage": message})).unwrap()
        );
    }

    /// Asserts the generic 8000 with its suffix.
    fn generic(&self) {
        self.error(
            400,
            8000,
            "An error has been encountered on the VIP API (Error code 8000)",
        );
    }

    /// Asserts a Spring-level 8000 (no suffix).
    fn spring(&self, status: u16) {
        self.error(status, 8000, "An error has been encountered on the VIP API");
    }
}

pub(crate) async fn call(
    sb: &Sandbox,
    method: Method,
    path: &str,
    key: Option<&str>,
    body: Send,
) -> Answer {
    try_call(sb, method, path, key, body).await.unwrap()
}

async fn try_call(
    sb: &Sandbox,
    method: Method,
    path: &str,
    key: Option<&str>,
    body: Send,
) -> reqwest::Result<Answer> {
    let mut rq = http().request(method, format!("{}{path}", sb.base_url()));
    if let Some(k) = key {
        rq = rq.header("apikey", k);
    }
    rq = match body {
        Send::Nothing => rq,
        Send::Json(v) => rq.json(&v),
        Send::Text(t) => rq.header("content-type", "application/json").body(t),
        Send::Raw(bytes, ct) => rq.header("content-type", ct).body(bytes),
    };
    let r = rq.send().await?;
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let body = r.bytes().await?.to_vec();
    Ok(Answer {
        status,
        headers,
        body,
    })
}

async fn get(sb: &Sandbox, path: &str, key: Option<&str>) -> Answer {
    call(sb, Method::GET, path, key, Send::Nothing).await
}

async fn upload(sb: &Sandbox, vip: &str, key: Option<&str>, bytes: &[u8]) -> Answer {
    call(
        sb,
        Method::PUT,
        &format!("/path{vip}"),
        key,
        Send::Raw(bytes.to_vec(), "application/octet-stream"),
    )
    .await
}

async fn launch(sb: &Sandbox, key: Option<&str>, body: Value) -> Answer {
    call(sb, Method::POST, "/executions", key, Send::Json(body)).await
}

/// Polls until the execution leaves Ready/Running.
async fn wait_done(sb: &Sandbox, id: &str, key: Option<&str>) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let e = get(sb, &format!("/executions/{id}"), key).await.json();
        if !matches!(e["status"].as_str(), Some("Running" | "Ready")) {
            return e;
        }
        assert!(Instant::now() < deadline, "still {}", e["status"]);
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
}

fn hello(input: &str, message: &str) -> Value {
    json!({"name": "hello run", "pipelineIdentifier": "Hello/1.0",
           "inputValues": {"input_file": input, "message": message}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authentication_follows_the_api_key_filter() {
    let sb = quick().await;
    let p = get(&sb, "/platform", None).await;
    assert_eq!(p.status, 200);
    let p = p.json();
    assert_eq!(p["maxSizeDirectTransfer"], 15_000_000);
    assert_eq!(p["supportedAPIVersion"], "0.3");
    assert_eq!(p["APIErrorCodesAndMessages"].as_array().unwrap().len(), 24);
    assert!(p["APIErrorCodesAndMessages"].as_array().unwrap().contains(&json!({"errorCode":2001,"errorMessage":"Max number of running executions reached.<br />You already have {} running executions."})));
    // Any method, and the Python client's PUT /platform.
    assert_eq!(
        call(&sb, Method::PUT, "/platform", DEMO, Send::Nothing)
            .await
            .status,
        200
    );

    for (method, path) in [
        (Method::PUT, "/platform"),
        (Method::GET, "/pipelines?public"),
        (Method::GET, "/executions"),
    ] {
        let a = call(&sb, method, path, Some("wrong-key"), Send::Nothing).await;
        a.error(401, 8002, "Bad credentials");
        assert_eq!(a.headers["www-authenticate"], "header; header-name=apikey");
    }
    let a = get(&sb, "/executions", None).await;
    assert_eq!(a.status, 401);
    assert_eq!(a.json()["errorCode"], 8003);
    assert_eq!(a.headers["www-authenticate"], "header; header-name=apikey");
    // An empty key is no key.
    assert_eq!(
        get(&sb, "/pipelines", Some("")).await.json()["errorCode"],
        8003
    );
    assert_eq!(get(&sb, "/pipelines?public=1", None).await.status, 401);
    let public = get(&sb, "/pipelines?public", None).await.json();
    let ids: Vec<&str> = public
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["identifier"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        ["Hello/1.0", "LargeOutput/1.0", "BET/1.0.0", "Denoise/2.1"]
    );

    let ok = call(
        &sb,
        Method::POST,
        "/authenticate",
        None,
        Send::Json(json!({"username": "demo@sandbox.local", "password": "sandbox-demo-password"})),
    )
    .await;
    assert_eq!(
        ok.text(),
        r#"{"httpHeader":"apikey","httpHeaderValue":"sandbox-demo-key"}"#
    );
    let bad = call(
        &sb,
        Method::POST,
        "/authenticate",
        None,
        Send::Json(json!({"username": "demo@sandbox.local", "password": "nope"})),
    )
    .await;
    bad.error(401, 8002, "Bad credentials (Error code 8002)");
    assert!(bad.headers.get("www-authenticate").is_none());
    call(
        &sb,
        Method::POST,
        "/authenticate",
        None,
        Send::Json(json!({"username": "demo@sandbox.local"})),
    )
    .await
    .error(
        400,
        8009,
        "Input field 'password' is not valid. Cause : must not be null (Error code 8009)",
    );
    call(&sb, Method::GET, "/authenticate", None, Send::Nothing)
        .await
        .spring(405);
    // The key is valid through a cheap authenticated call.
    let count = get(&sb, "/executions/count", DEMO).await;
    assert_eq!(
        (count.status, count.content_type(), count.text().as_str()),
        (200, "text/plain;charset=UTF-8", "0")
    );
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelines_follow_groups_and_visibility() {
    let sb = quick().await;
    let list = get(&sb, "/pipelines", DEMO).await;
    assert_eq!(
        list.text(),
        concat!(
            r#"[{"identifier":"Hello/1.0","name":"Hello","description":null,"version":"1.0","parameters":[],"canExecute":true},"#,
            r#"{"identifier":"CQUEST/0.6","name":"CQUEST","description":null,"version":"0.6","parameters":[],"canExecute":true},"#,
            r#"{"identifier":"LargeOutput/1.0","name":"LargeOutput","description":null,"version":"1.0","parameters":[],"canExecute":true},"#,
            r#"{"identifier":"BET/1.0.0","name":"BET","description":null,"version":"1.0.0","parameters":[],"canExecute":true},"#,
            r#"{"identifier":"Denoise/2.1","name":"Denoise","description":null,"version":"2.1","parameters":[],"canExecute":true}]"#
        )
    );
    assert_eq!(get(&sb, "/pipelines/", DEMO).await.text(), list.text());
    let guest: Vec<Value> = get(&sb, "/pipelines", GUEST)
        .await
        .json()
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(
        guest
            .iter()
            .map(|p| p["identifier"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["Hello/1.0", "LargeOutput/1.0", "BET/1.0.0", "Denoise/2.1"]
    );

    let detail = get(&sb, "/pipelines/CQUEST/0.6", DEMO).await.json();
    let names: Vec<&str> = detail["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "zipped_folder",
            "parameter_file",
            "data_file",
            "iterations",
            "verbose"
        ]
    );
    assert_eq!(detail["parameters"][1]["type"], "List");
    assert_eq!(
        detail["parameters"][3],
        json!({"name":"iterations","type":"Int64","isOptional":true,"isReturnedValue":false,"defaultValue":100,"description":"Max iterations"})
    );
    assert_eq!(detail["parameters"][4]["type"], "Boolean");
    assert_eq!(
        get(&sb, "/pipelines?pipelineId=CQUEST%2F0.6", DEMO)
            .await
            .json(),
        detail
    );
    let hello = get(&sb, "/pipelines/Hello/1.0", DEMO).await.json();
    assert_eq!(hello["parameters"][1]["defaultValue"], "Hello");
    assert_eq!(hello["parameters"][2]["type"], "Int64");

    get(&sb, "/pipelines/CQUEST/0.6", GUEST).await.error(
        400,
        8008,
        "Not allowed to access pipeline CQUEST/0.6 (Error code 8008)",
    );
    get(&sb, "/pipelines/CQUEST/0.6?format=boutiques", GUEST)
        .await
        .error(
            400,
            8008,
            "Not allowed to access pipeline CQUEST/0.6 (Error code 8008)",
        );
    get(&sb, "/pipelines/CQUEST/0.5", DEMO).await.error(
        400,
        8007,
        "The CQUEST/0.5 pipeline does not exists or cannot be used (Error code 8007)",
    );
    get(&sb, "/pipelines/CQUEST/9.9", DEMO).await.error(
        400,
        8007,
        "The CQUEST/9.9 pipeline does not exists or cannot be used (Error code 8007)",
    );
    get(&sb, "/pipelines/CQUEST", DEMO).await.error(
        400,
        8005,
        "The CQUEST pipeline identifier is not valid (Error code 8005)",
    );
    get(&sb, "/pipelines?pipelineId=CQUEST", DEMO).await.error(
        400,
        8005,
        "The CQUEST pipeline identifier is not valid (Error code 8005)",
    );
    get(&sb, "/pipelines/FreeSurfer%20(recon-all)/7.3.1", DEMO)
        .await
        .error(
            400,
            8008,
            "Not allowed to access pipeline FreeSurfer (recon-all)/7.3.1 (Error code 8008)",
        );
    assert_eq!(
        get(
            &sb,
            "/pipelines?pipelineId=FreeSurfer%20(recon-all)%2F7.3.1",
            DEMO
        )
        .await
        .json()["errorCode"],
        8008
    );
    get(&sb, "/pipelines/CQUEST/0.6/boutiquesdescriptor", DEMO).await.error(400, 8007, "The CQUEST/0.6/boutiquesdescriptor pipeline does not exists or cannot be used (Error code 8007)");
    // Tomcat refuses an encoded slash in the path, without JSON.
    let slash = get(&sb, "/pipelines/Hello%2F1.0", DEMO).await;
    assert_eq!(slash.status, 400);
    assert!(!slash.content_type().contains("json"));
    assert!(serde_json::from_slice::<Value>(&slash.body).is_err());

    let boutiques = get(&sb, "/pipelines/CQUEST/0.6?format=boutiques", DEMO)
        .await
        .json();
    assert_eq!(boutiques["tool-version"], "0.6");
    assert_eq!(
        boutiques["custom"]["vip:dot"],
        json!(["data_file", "parameter_file"])
    );
    assert_eq!(boutiques["output-files"][0]["id"], "results");
    assert_eq!(boutiques["inputs"][1]["list"], true);
    // The query form answers the Pipeline even when asked for Boutiques.
    assert!(
        get(
            &sb,
            "/pipelines?pipelineId=CQUEST%2F0.6&format=boutiques",
            DEMO
        )
        .await
        .json()["parameters"]
            .is_array()
    );
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn launches_are_checked_in_vips_order() {
    let sb = start(Config {
        exec_duration: Duration::from_secs(30),
        ..Config::default()
    })
    .await;
    assert_eq!(
        upload(&sb, "/vip/Home/in.txt", DEMO, b"12345").await.status,
        201
    );
    let ok = || hello("/vip/Home/in.txt", "Hi");

    call(&sb, Method::POST, "/executions", DEMO, Send::Text("{"))
        .await
        .spring(400);
    call(
        &sb,
        Method::POST,
        "/executions",
        DEMO,
        Send::Raw(b"{}".to_vec(), "text/plain"),
    )
    .await
    .spring(415);
    launch(
        &sb,
        DEMO,
        json!({"pipelineIdentifier": "Hello/1.0", "inputValues": {}}),
    )
    .await
    .error(
        400,
        8009,
        "Input field 'name' is not valid. Cause : must not be null (Error code 8009)",
    );
    // 8009 (values) comes before 8019 (name), which comes before 8007 (pipeline).
    launch(&sb, DEMO, json!({"name": "bad.name", "pipelineIdentifier": "Nope/1", "inputValues": {"message": "a~b"}})).await
        .error(400, 8009, r"Input field 'message' is not valid. Cause : Authorized characters are 0-9.,A-Za-z-+@/_(): \[\]?&= (Error code 8009)");
    launch(&sb, DEMO, json!({"name": "n", "pipelineIdentifier": "Hello/1.0", "inputValues": {"message": ""}})).await
        .error(400, 8009, r"Input field 'message' is not valid. Cause : Authorized characters are 0-9.,A-Za-z-+@/_(): \[\]?&= (Error code 8009)");
    launch(&sb, DEMO, json!({"name": "bad.name", "pipelineIdentifier": "Nope/1", "inputValues": {}})).await
        .error(400, 8019, "The execution name is not valid : Cause Authorized characters are 0-9A-Za-z-_  (Error code 8019)");
    launch(
        &sb,
        DEMO,
        json!({"name": "n", "pipelineIdentifier": "Hello", "inputValues": {}}),
    )
    .await
    .error(
        400,
        8005,
        "The Hello pipeline identifier is not valid (Error code 8005)",
    );
    launch(
        &sb,
        DEMO,
        json!({"name": "n", "pipelineIdentifier": "CQUEST/0.5", "inputValues": {}}),
    )
    .await
    .error(
        400,
        8007,
        "The CQUEST/0.5 pipeline does not exists or cannot be used (Error code 8007)",
    );
    launch(
        &sb,
        GUEST,
        json!({"name": "n", "pipelineIdentifier": "CQUEST/0.6", "inputValues": {}}),
    )
    .await
    .error(
        400,
        8008,
        "Not allowed to access pipeline CQUEST/0.6 (Error code 8008)",
    );
    launch(
        &sb,
        DEMO,
        json!({"name": "n", "pipelineIdentifier": "Hello/1.0", "inputValues": {"message": "x"}}),
    )
    .await
    .error(
        400,
        8018,
        "Input field 'input_file' is missing (Error code 8018)",
    );
    // Then 8000 for what VIP only finds out when launching.
    launch(&sb, DEMO, hello("/vip/Home/missing.txt", "Hi"))
        .await
        .generic();
    launch(&sb, DEMO, hello("/vip/CQUEST (group)/x.txt", "Hi"))
        .await
        .generic();
    launch(&sb, GUEST, hello("/vip/CQUEST (group)/x.txt", "Hi"))
        .await
        .generic();
    launch(&sb, DEMO, hello("pilotGirder:5f3a", "Hi"))
        .await
        .generic();
    launch(
        &sb,
        DEMO,
        json!({"name": "n", "pipelineIdentifier": "CQUEST/0.6", "inputValues": {
        "zipped_folder": "/vip/Home/in.txt", "parameter_file": ["/vip/Home/in.txt"],
        "data_file": ["/vip/Home/in.txt", "/vip/Home/in.txt"]}}),
    )
    .await
    .generic();
    let null = launch(&sb, DEMO, json!({"name": "n", "pipelineIdentifier": "Hello/1.0", "inputValues": {"input_file": "/vip/Home/in.txt", "message": null}})).await;
    null.error(
        500,
        8000,
        "An error has been encountered on the VIP API (Error code 8000)",
    );

    // Accepted: unknown names are ignored, the run starts at once.
    let mut body = ok();
    body["inputValues"]["no_such_input"] = json!("x");
    let created = launch(&sb, DEMO, body.clone()).await;
    assert_eq!(created.status, 200, "{}", created.text());
    let e = created.json();
    let text = created.text();
    assert!(text.starts_with(&format!(r#"{{"identifier":"{}","name":"hello run","pipelineIdentifier":"Hello/1.0","timeout":0,"status":"Running","inputValues":{{"#, e["identifier"].as_str().unwrap())), "{text}");
    assert!(text.ends_with(&format!(r#""returnedFiles":null,"studyIdentifier":null,"errorCode":null,"startDate":{},"endDate":null,"resultsLocation":null,"jobs":{{}}}}"#, e["startDate"])), "{text}");
    assert!(e["identifier"].as_str().unwrap().starts_with("workflow-"));
    assert!(e["startDate"].as_i64().unwrap() > 1_700_000_000_000);
    assert_eq!(e["inputValues"]["message"], "Hi");
    // Quota: one running execution.
    launch(&sb, DEMO, ok()).await.error(400, 2001, "Max number of running executions reached.You already have 1 running executions. (Error code 2001)");
    assert_eq!(get(&sb, "/executions/count", DEMO).await.text(), "1");
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capacity_and_resources_fail_like_vip() {
    let mut config = Config {
        exec_duration: Duration::from_secs(30),
        quota: Some(5),
        platform_max: 2,
        ..Config::default()
    };
    // The guest loses the resource group: everything looks fine until the launch.
    config.world.users[1].groups.retain(|g| g != "EGI-biomed");
    let sb = start(config).await;
    upload(&sb, "/vip/Home/in.txt", GUEST, b"x").await;
    assert!(
        get(&sb, "/pipelines", GUEST)
            .await
            .text()
            .contains("Hello/1.0")
    );
    assert_eq!(get(&sb, "/pipelines/Hello/1.0", GUEST).await.status, 200);
    launch(&sb, GUEST, hello("/vip/Home/in.txt", "Hi"))
        .await
        .generic();
    upload(&sb, "/vip/Home/in.txt", DEMO, b"x").await;
    assert_eq!(
        launch(&sb, DEMO, hello("/vip/Home/in.txt", "a"))
            .await
            .status,
        200
    );
    assert_eq!(
        launch(&sb, DEMO, hello("/vip/Home/in.txt", "b"))
            .await
            .status,
        200
    );
    launch(&sb, DEMO, hello("/vip/Home/in.txt", "c"))
        .await
        .error(
            400,
            2000,
            "Max number of running executions reached on the platform. (Error code 2000)",
        );
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_goes_running_to_finished_with_downloadable_outputs() {
    // Long enough that the log is asked for within the first tenth of the run (before any
    // job exists) even on a loaded machine.
    let sb = start(Config {
        exec_duration: Duration::from_secs(3),
        quota: Some(20),
        ..Config::default()
    })
    .await;
    upload(&sb, "/vip/Home/in.txt", DEMO, b"12345").await;
    let created = launch(&sb, DEMO, json!({"name": "hello run", "pipelineIdentifier": "Hello/1.0",
        "inputValues": {"input_file": "/vip/Home/in.txt", "message": "Hi", "repeat": 2, "shout": true},
        "resultsLocation": "/vip/Home/out"})).await.json();
    let id = created["identifier"].as_str().unwrap();
    assert_eq!(created["status"], "Running");
    assert_eq!(
        get(&sb, &format!("/executions/{id}/stdout"), DEMO)
            .await
            .text(),
        "no log found"
    );
    assert_eq!(created["inputValues"]["repeat"], "2");
    assert_eq!(created["inputValues"]["shout"], "true");
    let done = wait_done(&sb, id, DEMO).await;
    assert_eq!(done["status"], "Finished");
    assert_eq!(
        done["jobs"],
        json!({"0": {"status": "COMPLETED", "exitCode": 0, "exitMessage": null}})
    );
    let path = done["returnedFiles"]["greeting"][0].as_str().unwrap();
    let folder = path
        .strip_prefix("/vip/Home/out/")
        .unwrap()
        .strip_suffix("/hello.txt")
        .unwrap();
    assert_eq!(folder.len(), "02-02-2026_09:21:23".len());
    assert_eq!(&folder[2..3], "-");
    assert_eq!(&folder[10..11], "_");
    assert_eq!(&folder[13..14], ":");
    // Colons may go literally or encoded.
    let content = get(
        &sb,
        &format!("/path{}?action=content", path.replace(':', "%3A")),
        DEMO,
    )
    .await;
    assert_eq!(content.status, 200);
    assert_eq!(content.content_type(), "application/octet-stream");
    assert_eq!(content.text(), "HI\nHI\n5\n");
    let results = get(&sb, &format!("/executions/{id}/results"), DEMO)
        .await
        .json();
    assert_eq!(results[0]["path"], path);
    assert_eq!(results[0]["exists"], true);
    assert_eq!(results[0]["size"], 8);
    assert_eq!(results[0]["executionId"], Value::Null);
    assert_eq!(results[0]["mimeType"], "text/plain");
    let stdout = get(&sb, &format!("/executions/{id}/stdout"), DEMO).await;
    assert_eq!(stdout.content_type(), "text/plain;charset=UTF-8");
    assert!(
        stdout
            .text()
            .starts_with("[INFO] Saying hello\n[INFO] Message: Hi\n")
    );
    assert_eq!(
        get(&sb, &format!("/executions/{id}/jobs/0/stdout"), DEMO)
            .await
            .text(),
        stdout.text()
    );
    assert_eq!(
        get(&sb, &format!("/executions/{id}/jobs/7/stderr"), DEMO)
            .await
            .text(),
        "no log found for job 7"
    );
    get(&sb, &format!("/executions/{id}/jobs/x/stdout"), DEMO)
        .await
        .spring(400);
    // Someone else's run is "not found" to them.
    get(&sb, &format!("/executions/{id}"), GUEST)
        .await
        .generic();
    get(&sb, "/executions/workflow-nope", DEMO).await.generic();

    // A failing job: ExecutionFailed, ERROR with exit code 50 (the tool failed), no outputs.
    let failing = launch(&sb, DEMO, hello("/vip/Home/in.txt", "please FAIL"))
        .await
        .json();
    let fid = failing["identifier"].as_str().unwrap();
    let failed = wait_done(&sb, fid, DEMO).await;
    assert_eq!(failed["status"], "ExecutionFailed");
    assert_eq!(
        failed["jobs"]["0"],
        json!({"status": "ERROR", "exitCode": 50, "exitMessage": "EXECUTION_FAILED"})
    );
    assert_eq!(failed["returnedFiles"], Value::Null);
    assert!(
        get(&sb, &format!("/executions/{fid}/stderr"), DEMO)
            .await
            .text()
            .contains("Error: asked to fail")
    );
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_inputs_make_jobs_with_their_own_folders_and_logs() {
    let sb = quick().await;
    for f in ["basis.zip", "p1.txt", "p2.txt", "d1.mrui", "d2.mrui"] {
        assert_eq!(
            upload(&sb, &format!("/vip/Home/{f}"), DEMO, f.as_bytes())
                .await
                .status,
            201
        );
    }
    let e = launch(&sb, DEMO, json!({"name": "cquest", "pipelineIdentifier": "CQUEST/0.6", "inputValues": {
        "zipped_folder": "/vip/Home/basis.zip", "parameter_file": ["/vip/Home/p1.txt", "/vip/Home/p2.txt"],
        "data_file": ["/vip/Home/d1.mrui", "/vip/Home/d2.mrui"], "verbose": false}})).await.json();
    let id = e["identifier"].as_str().unwrap();
    let done = wait_done(&sb, id, DEMO).await;
    assert_eq!(done["status"], "Finished");
    assert_eq!(done["jobs"].as_object().unwrap().len(), 2);
    let files = done["returnedFiles"]["results"].as_array().unwrap();
    assert_eq!(files.len(), 2);
    assert!(files[0].as_str().unwrap().starts_with("/vip/Home/"));
    assert!(files[0].as_str().unwrap().ends_with("/001/results.tgz"));
    assert!(files[1].as_str().unwrap().ends_with("/002/results.tgz"));
    assert_eq!(
        get(&sb, &format!("/executions/{id}/stdout"), DEMO)
            .await
            .text(),
        "jobId is required when multiple tasks exist"
    );
    let job1 = get(&sb, &format!("/executions/{id}/jobs/1/stdout"), DEMO)
        .await
        .text();
    assert!(
        job1.contains("Quantifying /vip/Home/d2.mrui with /vip/Home/p2.txt (100 iterations)"),
        "{job1}"
    );
    let tgz = get(
        &sb,
        &format!("/path{}?action=content", files[1].as_str().unwrap()),
        DEMO,
    )
    .await;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(tgz.body.as_slice()));
    let names: Vec<String> = archive
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect();
    assert_eq!(names, ["quantification.csv", "fit.txt"]);
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_outputs_exceed_the_download_cap() {
    let sb = quick().await;
    upload(&sb, "/vip/Home/in.txt", DEMO, b"x").await;
    let e = launch(&sb, DEMO, json!({"name": "large", "pipelineIdentifier": "LargeOutput/1.0", "inputValues": {"input_file": "/vip/Home/in.txt"}})).await.json();
    let done = wait_done(&sb, e["identifier"].as_str().unwrap(), DEMO).await;
    let volume = done["returnedFiles"]["volume"][0].as_str().unwrap();
    let props = get(&sb, &format!("/path{volume}?action=properties"), DEMO)
        .await
        .json();
    assert_eq!(props["size"], 16_000_000);
    assert_eq!(props["isDirectory"], false);
    get(&sb, &format!("/path{volume}?action=content"), DEMO)
        .await
        .generic();
    let summary = done["returnedFiles"]["summary"][0].as_str().unwrap();
    assert!(
        get(&sb, &format!("/path{summary}?action=content"), DEMO)
            .await
            .text()
            .contains("16000000 bytes")
    );
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn executions_list_count_kill_delete_rename_and_play() {
    let sb = start(Config {
        exec_duration: Duration::from_secs(30),
        quota: Some(10),
        ..Config::default()
    })
    .await;
    upload(&sb, "/vip/Home/in.txt", DEMO, b"x").await;
    let first = launch(&sb, DEMO, hello("/vip/Home/in.txt", "one"))
        .await
        .json();
    let second = launch(&sb, DEMO, hello("/vip/Home/in.txt", "two"))
        .await
        .json();
    let (a, b) = (
        first["identifier"].as_str().unwrap(),
        second["identifier"].as_str().unwrap(),
    );
    let list = get(&sb, "/executions?limit=10", DEMO).await.json();
    assert_eq!(list[0]["identifier"], b);
    assert_eq!(list[1]["identifier"], a);
    assert_eq!(list[0]["inputValues"], json!({}));
    assert_eq!(list[0]["returnedFiles"], json!({}));
    assert_eq!(list[0]["jobs"], json!({}));
    assert_eq!(
        get(&sb, "/executions?limit=1", DEMO)
            .await
            .json()
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(get(&sb, "/executions", GUEST).await.json(), json!([]));
    get(&sb, "/executions?limit=501", DEMO).await.generic();
    get(&sb, "/executions?offset=1", DEMO).await.generic();
    get(&sb, "/executions?studyIdentifier=s", DEMO)
        .await
        .generic();
    get(&sb, "/executions/count?studyIdentifier=s", DEMO)
        .await
        .generic();
    get(&sb, "/executions?limit=ten", DEMO).await.spring(400);

    // DELETE is a GET.
    let via_delete = call(
        &sb,
        Method::DELETE,
        &format!("/executions/{a}"),
        DEMO,
        Send::Nothing,
    )
    .await;
    assert_eq!(via_delete.json()["identifier"], a);
    // Delete only from Finished or Killed.
    call(
        &sb,
        Method::PUT,
        &format!("/executions/{a}/delete"),
        DEMO,
        Send::Json(json!({"deleteFiles": true})),
    )
    .await
    .generic();
    call(
        &sb,
        Method::PUT,
        &format!("/executions/{a}/kill?deleteFiles=true"),
        GUEST,
        Send::Nothing,
    )
    .await
    .generic();
    let kill = call(
        &sb,
        Method::PUT,
        &format!("/executions/{a}/kill?deleteFiles=true"),
        DEMO,
        Send::Nothing,
    )
    .await;
    assert_eq!((kill.status, kill.body.len()), (204, 0));
    assert_eq!(
        get(&sb, &format!("/executions/{a}"), DEMO).await.json()["status"],
        "Killed"
    );
    call(
        &sb,
        Method::PUT,
        &format!("/executions/{a}/delete"),
        DEMO,
        Send::Json(json!({})),
    )
    .await
    .error(
        400,
        8009,
        "Input field 'deleteFiles' is not valid. Cause : must not be null (Error code 8009)",
    );
    let deleted = call(
        &sb,
        Method::PUT,
        &format!("/executions/{a}/delete"),
        DEMO,
        Send::Json(json!({"deleteFiles": true})),
    )
    .await;
    assert_eq!(deleted.status, 204);
    get(&sb, &format!("/executions/{a}"), DEMO).await.error(
        400,
        8015,
        &format!("No execution available with this id : {a} (Error code 8015)"),
    );
    assert_eq!(get(&sb, "/executions/count", DEMO).await.text(), "1");
    assert_eq!(
        get(&sb, "/executions", DEMO)
            .await
            .json()
            .as_array()
            .unwrap()
            .len(),
        1
    );

    let b_path = format!("/executions/{b}");
    let rename = |body: Value| call(&sb, Method::PUT, &b_path, DEMO, Send::Json(body));
    let renamed =
        rename(json!({"name": "new name", "pipelineIdentifier": "Hello/1.0", "inputValues": {}}))
            .await;
    assert_eq!(renamed.status, 200);
    assert_eq!(renamed.json()["name"], "new name");
    assert_eq!(
        get(&sb, &format!("/executions/{b}"), DEMO).await.json()["name"],
        "new name"
    );
    rename(json!({"name": "new.name", "pipelineIdentifier": "Hello/1.0", "inputValues": {}})).await
        .error(400, 8019, "The execution name is not valid : Cause Authorized characters are 0-9A-Za-z-_  (Error code 8019)");
    rename(
        json!({"name": "n", "pipelineIdentifier": "Hello/1.0", "inputValues": {}, "timeout": 60}),
    )
    .await
    .generic();
    rename(json!({"name": "n"})).await.error(
        400,
        8009,
        "Input field 'pipelineIdentifier' is not valid. Cause : must not be null (Error code 8009)",
    );
    call(
        &sb,
        Method::PUT,
        &format!("/executions/{b}/play"),
        DEMO,
        Send::Nothing,
    )
    .await
    .error(
        400,
        8001,
        "The playExecution method is not implemented in the VIP API (Error code 8001)",
    );
    call(
        &sb,
        Method::POST,
        &format!("/executions/{b}/kill"),
        DEMO,
        Send::Nothing,
    )
    .await
    .spring(405);

    // A test can force what VIP's engine might do.
    sb.set_status(b, ExecutionStatus::Unknown);
    assert_eq!(
        get(&sb, &format!("/executions/{b}"), DEMO).await.json()["status"],
        "Unknown"
    );
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_engines_queue_runs_as_ready() {
    let sb = start(Config {
        exec_duration: Duration::from_millis(300),
        quota: Some(5),
        engine_slots: 1,
        ..Config::default()
    })
    .await;
    upload(&sb, "/vip/Home/in.txt", DEMO, b"x").await;
    let first = launch(&sb, DEMO, hello("/vip/Home/in.txt", "one"))
        .await
        .json();
    let second = launch(&sb, DEMO, hello("/vip/Home/in.txt", "two"))
        .await
        .json();
    assert_eq!(first["status"], "Running");
    assert_eq!(second["status"], "Ready");
    assert_eq!(second["jobs"], json!({}));
    let id = second["identifier"].as_str().unwrap();
    let mut seen_running = false;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let status = get(&sb, &format!("/executions/{id}"), DEMO).await.json()["status"].clone();
        seen_running |= status == "Running";
        if status == "Finished" {
            break;
        }
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    assert!(seen_running);
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_data_namespace_has_vips_permissions_and_quirks() {
    let sb = quick().await;
    let root = get(&sb, "/path/vip?action=list", DEMO).await.json();
    let paths: Vec<&str> = root
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        [
            "/vip/Home",
            "/vip/Trash",
            "/vip/Demo (group)",
            "/vip/CQUEST (group)",
            "/vip/EGI-biomed (group)"
        ]
    );
    assert_eq!(
        root[0],
        json!({"path":"/vip/Home","lastModificationDate":null,"isDirectory":true,"exists":true,"size":null,"executionId":null,"mimeType":"text/directory"})
    );
    get(&sb, "/path/etc/passwd?action=exists", DEMO)
        .await
        .error(
            400,
            8013,
            "Unauthorized data access to : /etc/passwd (Error code 8013)",
        );
    get(&sb, "/path/vip/CQUEST%20(group)?action=exists", GUEST)
        .await
        .error(
            400,
            8013,
            "Unauthorized data access to : /vip/CQUEST (group) (Error code 8013)",
        );
    assert_eq!(
        get(&sb, "/path/vip/Home?action=exists", DEMO).await.text(),
        r#"{"exists":true}"#
    );

    // Group folders: members read; Beginners cannot write.
    upload(&sb, "/vip/Demo%20(group)/shared.txt", GUEST, b"g")
        .await
        .error(
            400,
            8013,
            "Unauthorized data access to : /vip/Demo (group)/shared.txt (Error code 8013)",
        );
    assert_eq!(
        upload(&sb, "/vip/Demo%20(group)/shared.txt", DEMO, b"from demo")
            .await
            .status,
        201
    );
    assert_eq!(
        get(
            &sb,
            "/path/vip/Demo%20(group)/shared.txt?action=content",
            GUEST
        )
        .await
        .text(),
        "from demo"
    );
    // Never the root or its direct children.
    upload(&sb, "/vip/Home", DEMO, b"x").await.error(
        400,
        8013,
        "Unauthorized data access to : /vip/Home (Error code 8013)",
    );
    call(&sb, Method::DELETE, "/path/vip/Trash", DEMO, Send::Nothing)
        .await
        .error(
            400,
            8013,
            "Unauthorized data access to : /vip/Trash (Error code 8013)",
        );

    // Uploads: 201 with an empty body; a missing parent is 8000; an empty body is mkdir.
    let put = upload(&sb, "/vip/Home/a.txt", DEMO, b"abc").await;
    assert_eq!(
        (
            put.status,
            put.body.len(),
            put.headers.get("location").is_none()
        ),
        (201, 0, true)
    );
    upload(&sb, "/vip/Home/no/such/dir/a.txt", DEMO, b"abc")
        .await
        .generic();
    assert_eq!(
        call(&sb, Method::PUT, "/path/vip/Home/dir/", DEMO, Send::Nothing)
            .await
            .status,
        201
    );
    let dir = get(&sb, "/path/vip/Home/dir?action=properties", DEMO)
        .await
        .json();
    assert_eq!(
        (
            dir["isDirectory"].clone(),
            dir["size"].clone(),
            dir["mimeType"].clone()
        ),
        (json!(true), json!(0), json!("text/directory"))
    );
    upload(&sb, "/vip/Home/dir/b.csv", DEMO, b"1,2").await;
    assert_eq!(
        get(&sb, "/path/vip/Home/dir?action=properties", DEMO)
            .await
            .json()["size"],
        1
    );
    let file = get(&sb, "/path/vip/Home/dir/b.csv?action=properties", DEMO)
        .await
        .json();
    assert_eq!(file["size"], 3);
    assert_eq!(file["mimeType"], "text/csv");
    assert_eq!(file["lastModificationDate"].as_i64().unwrap() % 86_400, 0);
    let listed = get(&sb, "/path/vip/Home/dir?action=list", DEMO)
        .await
        .json();
    assert_eq!(listed[0]["path"], "/vip/Home/dir/b.csv");
    get(&sb, "/path/vip/Home/a.txt?action=list", DEMO)
        .await
        .generic();
    get(&sb, "/path/vip/Home/nothing?action=list", DEMO)
        .await
        .generic();
    assert_eq!(
        get(&sb, "/path/vip/Home/nothing?action=properties", DEMO)
            .await
            .text(),
        r#"{"path":"/vip/Home/nothing","lastModificationDate":null,"isDirectory":null,"exists":false,"size":null,"executionId":null,"mimeType":null}"#
    );
    get(&sb, "/path/vip/Home/dir?action=content", DEMO)
        .await
        .generic();
    get(&sb, "/path/vip/Home/a.txt?action=md5", DEMO)
        .await
        .generic();
    get(&sb, "/path/vip/Home/a.txt", DEMO).await.spring(400);
    get(&sb, "/path/vip/Home/a.txt?action=zip", DEMO)
        .await
        .spring(400);

    // The last segment is sanitised silently; `+` is not a space; `%2F` is Tomcat's 400.
    assert_eq!(
        upload(&sb, "/vip/Home/my%20scan%20%C3%A9t%C3%A9.txt", DEMO, b"s")
            .await
            .status,
        201
    );
    assert_eq!(
        get(&sb, "/path/vip/Home/my_scan_ete.txt?action=exists", DEMO)
            .await
            .json()["exists"],
        true
    );
    assert_eq!(
        get(
            &sb,
            "/path/vip/Home/my%20scan%20%C3%A9t%C3%A9.txt?action=exists",
            DEMO
        )
        .await
        .json()["exists"],
        false
    );
    upload(&sb, "/vip/Home/a+b.txt", DEMO, b"p").await;
    assert_eq!(
        get(&sb, "/path/vip/Home/a+b.txt?action=exists", DEMO)
            .await
            .json()["exists"],
        true
    );
    assert_eq!(
        get(&sb, "/path/vip/Home/a%20b.txt?action=exists", DEMO)
            .await
            .json()["exists"],
        false
    );
    let slash = get(&sb, "/path/vip/Home/a%2Fb.txt?action=exists", DEMO).await;
    assert_eq!(slash.status, 400);
    assert!(serde_json::from_slice::<Value>(&slash.body).is_err());

    // Base64 uploads: File accepted, Archive refused, no type crashes.
    let b64 = |kind: Value| {
        Send::Raw(
            serde_json::to_vec(
                &json!({"type": kind, "base64Content": "SmUgc3VpcyB1biB0ZXh0ZS4K", "md5": null}),
            )
            .unwrap(),
            "application/carmin+json",
        )
    };
    assert_eq!(
        call(
            &sb,
            Method::PUT,
            "/path/vip/Home/p.txt",
            DEMO,
            b64(json!("file"))
        )
        .await
        .status,
        201
    );
    assert_eq!(
        get(&sb, "/path/vip/Home/p.txt?action=content", DEMO)
            .await
            .text(),
        "Je suis un texte.\n"
    );
    call(
        &sb,
        Method::PUT,
        "/path/vip/Home/p.zip",
        DEMO,
        b64(json!("Archive")),
    )
    .await
    .generic();
    call(
        &sb,
        Method::PUT,
        "/path/vip/Home/p.bin",
        DEMO,
        b64(Value::Null),
    )
    .await
    .error(
        500,
        8000,
        "An error has been encountered on the VIP API (Error code 8000)",
    );

    // Delete: recursive, 204; a missing path is 8000.
    let del = call(
        &sb,
        Method::DELETE,
        "/path/vip/Home/dir",
        DEMO,
        Send::Nothing,
    )
    .await;
    assert_eq!((del.status, del.body.len()), (204, 0));
    assert_eq!(
        get(&sb, "/path/vip/Home/dir/b.csv?action=exists", DEMO)
            .await
            .json()["exists"],
        false
    );
    call(
        &sb,
        Method::DELETE,
        "/path/vip/Home/dir",
        DEMO,
        Send::Nothing,
    )
    .await
    .generic();
    // Each user has their own Home.
    assert_eq!(
        get(&sb, "/path/vip/Home/a.txt?action=exists", GUEST)
            .await
            .json()["exists"],
        false
    );
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_rates_answer_5xx_reproducibly() {
    let statuses = |sb: Sandbox| async move {
        let mut out = Vec::new();
        let mut json_500 = false;
        let mut html = false;
        for _ in 0..30 {
            let a = get(&sb, "/pipelines", DEMO).await;
            if a.status >= 500 {
                if a.status == 500 {
                    a.error(
                        500,
                        8000,
                        "An error has been encountered on the VIP API (Error code 8000)",
                    );
                    json_500 = true;
                } else {
                    assert!(a.content_type().starts_with("text/html"));
                    html = true;
                }
            }
            out.push(a.status);
        }
        sb.shutdown().await;
        (out, json_500, html)
    };
    let config = || Config {
        error_rate: 0.5,
        seed: 42,
        ..Config::default()
    };
    let (first, json_500, html) = statuses(start(config()).await).await;
    let (again, _, _) = statuses(start(config()).await).await;
    assert_eq!(first, again);
    assert!(json_500 && html, "{first:?}");
    assert!(first.contains(&200));
    let (other, _, _) = statuses(
        start(Config {
            seed: 43,
            ..config()
        })
        .await,
    )
    .await;
    assert_ne!(first, other);
}

// Retry idempotent calls until they get through.
async fn until_answered(sb: &Sandbox, method: Method, path: &str, body: &[u8]) -> Answer {
    for _ in 0..50 {
        if let Ok(a) = try_call(
            sb,
            method.clone(),
            path,
            DEMO,
            Send::Raw(body.to_vec(), "application/octet-stream"),
        )
        .await
        {
            return a;
        }
    }
    panic!("never answered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_connections_can_hide_a_created_run() {
    let sb = start(Config {
        exec_duration: Duration::from_secs(30),
        quota: Some(100),
        drop_rate: 0.4,
        seed: 7,
        ..Config::default()
    })
    .await;
    until_answered(&sb, Method::PUT, "/path/vip/Home/in.txt", b"x").await;
    let mut hidden = 0;
    for i in 0..20 {
        let before = until_answered(&sb, Method::GET, "/executions/count", b"")
            .await
            .text();
        let sent = try_call(
            &sb,
            Method::POST,
            "/executions",
            DEMO,
            Send::Json(hello("/vip/Home/in.txt", &format!("m{i}"))),
        )
        .await;
        let after = until_answered(&sb, Method::GET, "/executions/count", b"")
            .await
            .text();
        let created = after.parse::<u32>().unwrap() - before.parse::<u32>().unwrap();
        match sent {
            Ok(a) => assert_eq!((a.status, created), (200, 1)),
            Err(_) => hidden += created,
        }
    }
    assert!(hidden > 0, "no dropped POST created a run");
    let log = sb.requests();
    assert!(
        log.iter()
            .any(|r| r.dropped && r.status == 0 && r.method == "POST")
    );
    assert!(log.iter().filter(|r| !r.dropped).all(|r| r.status != 0));
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_request_log_never_holds_the_key() {
    let sb = quick().await;
    upload(&sb, "/vip/Home/in.txt", DEMO, b"12345").await;
    let body = hello("/vip/Home/in.txt", "Hi");
    launch(&sb, DEMO, body.clone()).await;
    get(
        &sb,
        "/path/vip/Home/in.txt?action=exists",
        Some("sandbox-guest-key"),
    )
    .await;
    let log = sb.requests();
    assert_eq!(log.len(), 3);
    let post = &log[1];
    assert_eq!(
        (post.method.as_str(), post.path.as_str(), post.status),
        ("POST", "/rest/executions", 200)
    );
    let sent = serde_json::to_vec(&body).unwrap();
    assert_eq!(post.body_len, sent.len() as u64);
    let digest: String = Sha256::digest(&sent)
        .iter()
        .fold(String::new(), |s, b| s + &format!("{b:02x}"));
    assert_eq!(post.body_sha256, digest);
    assert_eq!(log[0].body_len, 5);
    assert_eq!(log[2].query.as_deref(), Some("action=exists"));
    assert_eq!(log[2].path, "/rest/path/vip/Home/in.txt");
    for r in &log {
        assert!(
            r.headers
                .contains(&("apikey".to_owned(), "(redacted)".to_owned()))
        );
        let all = format!("{r:?}");
        assert!(!all.contains(DEMO_KEY) && !all.contains(GUEST_KEY), "{all}");
    }
    let data_dir = sb.data_dir().to_owned();
    assert!(data_dir.exists());
    sb.shutdown().await;
    assert!(!data_dir.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_uploads_stream_to_disk() {
    let sb = quick().await;
    // Beyond any in-memory body limit; the download cap does not apply to uploads.
    let big: Vec<u8> = (0..20_000_000u32).map(|i| i.to_le_bytes()[0]).collect();
    let put = upload(&sb, "/vip/Home/big.bin", DEMO, &big).await;
    assert_eq!(put.status, 201, "{}", put.text());
    let props = get(&sb, "/path/vip/Home/big.bin?action=properties", DEMO)
        .await
        .json();
    assert_eq!(props["size"], 20_000_000);
    get(&sb, "/path/vip/Home/big.bin?action=content", DEMO)
        .await
        .generic();
    let digest = |b: &[u8]| {
        Sha256::digest(b)
            .iter()
            .fold(String::new(), |s, b| s + &format!("{b:02x}"))
    };
    let logged = sb
        .requests()
        .into_iter()
        .find(|r| r.method == "PUT")
        .unwrap();
    assert_eq!(
        (logged.body_len, logged.body_sha256),
        (20_000_000, digest(&big))
    );
    sb.shutdown().await;
}

/// `vip-run sandbox` prints where it serves, serves, and stops on Ctrl-C.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sandbox_command_serves_until_interrupted() {
    use std::io::BufRead as _;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_vip-run"))
        .args([
            "sandbox",
            "--listen",
            "127.0.0.1:0",
            "--exec-duration",
            "1s",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let url = first
        .strip_prefix("vip-run sandbox: serving VIP's REST API at ")
        .unwrap_or_else(|| panic!("{first}"))
        .to_owned();
    assert!(
        url.starts_with("http://127.0.0.1:") && url.ends_with("/rest"),
        "{url}"
    );
    let rest: Vec<String> = lines.by_ref().take(3).map(Result::unwrap).collect();
    assert_eq!(rest[0], "users:");
    assert!(
        rest[1].contains("demo@sandbox.local  key: sandbox-demo-key"),
        "{rest:?}"
    );
    let platform = http().get(format!("{url}/platform")).send().await.unwrap();
    assert_eq!(platform.status(), 200);
    let pipelines = http()
        .get(format!("{url}/pipelines"))
        .header("apikey", GUEST_KEY)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(pipelines.contains("LargeOutput/1.0"));
    let interrupted = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(interrupted.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn world_settings_stage_downloads_delay_deletes_and_add_external_storages() {
    let mut config = Config {
        exec_duration: Duration::from_millis(200),
        ..Config::default()
    };
    config.world.data.staging_delay = Duration::from_millis(300);
    config.world.data.delete_delay = Duration::from_millis(300);
    config
        .world
        .external_platforms
        .push(vip_run::sandbox::ExternalPlatform {
            identifier: "pilotGirder".into(),
            kind: "GIRDER".into(),
            description: Some("Girder".into()),
            url: None,
        });
    let sb = start(config).await;
    assert_eq!(
        get(&sb, "/externalPlatforms", DEMO).await.text(),
        r#"[{"identifier":"pilotGirder","type":"GIRDER","description":"Girder","url":null}]"#
    );
    upload(&sb, "/vip/Home/a.txt", DEMO, b"abc").await;
    let t = Instant::now();
    assert_eq!(
        get(&sb, "/path/vip/Home/a.txt?action=content", DEMO)
            .await
            .text(),
        "abc"
    );
    assert!(t.elapsed() >= Duration::from_millis(300));
    let deleted = call(
        &sb,
        Method::DELETE,
        "/path/vip/Home/a.txt",
        DEMO,
        Send::Nothing,
    )
    .await;
    assert_eq!(deleted.status, 204);
    // Queued, not done: the path lingers for a while.
    assert_eq!(
        get(&sb, "/path/vip/Home/a.txt?action=exists", DEMO)
            .await
            .json()["exists"],
        true
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        get(&sb, "/path/vip/Home/a.txt?action=exists", DEMO)
            .await
            .json()["exists"],
        false
    );

    // A known external prefix is accepted as a File input; an unknown one is not.
    launch(&sb, DEMO, hello("otherStore:5f3a", "Hi"))
        .await
        .generic();
    let e = launch(&sb, DEMO, hello("pilotGirder:5f3a", "Hi")).await;
    assert_eq!(e.status, 200, "{}", e.text());
    let done = wait_done(&sb, e.json()["identifier"].as_str().unwrap(), DEMO).await;
    assert_eq!(done["status"], "Finished");
    sb.shutdown().await;
}

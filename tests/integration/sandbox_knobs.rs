//! `vip-run sandbox`'s benchmark knobs, driven through the real binary: `--platform-max`
//! (VIP's platform-wide cap of active executions, 400/2000 beyond it) and
//! `--max-download-size` (`maxSizeDirectTransfer`, and what `?action=content` refuses), and
//! sized outputs that are real, varied bytes rather than zeros.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};

use crate::support::Test;

const DEMO: &str = "sandbox-demo-key";

/// A `vip-run sandbox` process, stopped with SIGINT (so it removes its storage) on drop.
struct SandboxProcess {
    child: Child,
    url: String,
}

impl SandboxProcess {
    fn start(options: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_vip-run"))
            .args(["sandbox", "--listen", "127.0.0.1:0"])
            .args(options)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = lines.next().unwrap().unwrap();
        let url = first
            .strip_prefix("vip-run sandbox: serving VIP's REST API at ")
            .unwrap_or_else(|| panic!("{first}"))
            .to_owned();
        // Drain the banner so the sandbox never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        Self { child, url }
    }

    fn call(&self, method: &str, path: &str, body: Option<&[u8]>) -> (u16, Vec<u8>) {
        http(method, &format!("{}{path}", self.url), body)
    }

    fn json(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        let bytes = body.map(|b| serde_json::to_vec(b).unwrap());
        let (status, answer) = self.call(method, path, bytes.as_deref());
        let value = serde_json::from_slice(&answer)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&answer)));
        (status, value)
    }
}

impl Drop for SandboxProcess {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

/// One blocking call as the demo user (JSON bodies start with `{`), on its own runtime.
fn http(method: &str, url: &str, body: Option<&[u8]>) -> (u16, Vec<u8>) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = reqwest::Client::new()
            .request(method, url)
            .header("apikey", DEMO);
        if let Some(bytes) = body {
            let kind = if bytes.starts_with(b"{") {
                "application/json"
            } else {
                "application/octet-stream"
            };
            request = request.header("content-type", kind).body(bytes.to_vec());
        }
        let answer = request.send().await.unwrap();
        let status = answer.status().as_u16();
        (status, answer.bytes().await.unwrap().to_vec())
    })
}

#[cfg(unix)]
#[test]
fn platform_max_refuses_launches_beyond_the_cap_with_2000() {
    let sb = SandboxProcess::start(&[
        "--exec-duration",
        "1m",
        "--quota",
        "10",
        "--platform-max",
        "3",
    ]);
    assert_eq!(
        sb.call("PUT", "/path/vip/Home/in.txt", Some(b"hello\n")).0,
        201
    );
    let hello = |n: usize| {
        json!({"name": format!("run {n}"), "pipelineIdentifier": "Hello/1.0",
               "inputValues": {"input_file": "/vip/Home/in.txt", "message": "hi"}})
    };
    for n in 0..3 {
        let (status, body) = sb.json("POST", "/executions", Some(&hello(n)));
        assert_eq!(status, 200, "launch {n}: {body}");
    }
    let (status, body) = sb.json("POST", "/executions", Some(&hello(3)));
    assert_eq!((status, &body["errorCode"]), (400, &json!(2000)), "{body}");
    assert_eq!(
        body["errorMessage"],
        "Max number of running executions reached on the platform. (Error code 2000)"
    );
    // Killing one frees a slot: the cap counts active runs, not launches.
    let (_, list) = sb.json("GET", "/executions", None);
    let id = list[0]["identifier"].as_str().unwrap().to_owned();
    assert_eq!(
        sb.call("PUT", &format!("/executions/{id}/kill"), None).0,
        204
    );
    let (status, body) = sb.json("POST", "/executions", Some(&hello(4)));
    assert_eq!(status, 200, "{body}");
}

#[cfg(unix)]
#[test]
fn the_default_platform_cap_is_vips_35() {
    let sb = SandboxProcess::start(&["--exec-duration", "1m", "--quota", "50"]);
    assert_eq!(sb.call("PUT", "/path/vip/Home/in.txt", Some(b"x")).0, 201);
    let body = json!({"name": "r", "pipelineIdentifier": "Hello/1.0",
                      "inputValues": {"input_file": "/vip/Home/in.txt", "message": "hi"}});
    for n in 0..35 {
        assert_eq!(
            sb.json("POST", "/executions", Some(&body)).0,
            200,
            "launch {n}"
        );
    }
    let (status, answer) = sb.json("POST", "/executions", Some(&body));
    assert_eq!((status, &answer["errorCode"]), (400, &json!(2000)));
}

const LARGE: &str = "version: 1\nname: big\npipeline_id: LargeOutput/1.0\ngroup: Demo\ninputs:\n  input_file: in.txt\nresults:\n  download: out\nexecution:\n  poll_interval: 1s\n";

fn run_large(sb: &SandboxProcess) -> (Test, crate::support::Output) {
    let t = Test::new()
        .manifest(LARGE)
        .file("in.txt", "hello\n")
        .env("VIP_API_KEY", DEMO)
        .args(&["--server", &sb.url]);
    let out = t.run_with(&["--progress", "plain", "study.yaml"]);
    (t, out)
}

/// Below the cap (10 MB) the 16 MB volume is refused, by the server and, naming both sizes,
/// by vip-run; above it (20 MB) it downloads whole, and its bytes are not zeros.
#[cfg(unix)]
#[test]
fn max_download_size_sets_the_direct_transfer_cap() {
    let small = SandboxProcess::start(&["--exec-duration", "200ms", "--max-download-size", "10MB"]);
    let (_, platform) = small.json("GET", "/platform", None);
    assert_eq!(platform["maxSizeDirectTransfer"], 10_000_000);
    let (t, out) = run_large(&small);
    out.code(0)
        .stderr_has("volume.nii")
        .stderr_has("16.0 MB is over VIP's direct-transfer limit of 10.0 MB");
    assert!(t.dir().join("out/summary.txt").is_file());
    assert!(!t.dir().join("out/volume.nii").exists());
    let (_, listed) = small.json("GET", "/executions", None);
    let id = listed[0]["identifier"].as_str().unwrap().to_owned();
    let (_, run) = small.json("GET", &format!("/executions/{id}"), None);
    let volume = run["returnedFiles"]["volume"][0]
        .as_str()
        .unwrap_or_else(|| panic!("a finished run with its volume: {run}"))
        .to_owned();
    let (status, body) = small.call("GET", &format!("/path{volume}?action=content"), None);
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!((status, &body["errorCode"]), (400, &json!(8000)));
    drop(small);

    let big = SandboxProcess::start(&["--exec-duration", "200ms", "--max-download-size", "20MB"]);
    assert_eq!(
        big.json("GET", "/platform", None).1["maxSizeDirectTransfer"],
        20_000_000
    );
    let (t, out) = run_large(&big);
    out.code(0);
    let volume = std::fs::read(t.dir().join("out/volume.nii")).unwrap();
    assert_eq!(volume.len(), 16_000_000);
    // A test, not a hot path: no need for the bytecount crate.
    #[allow(clippy::naive_bytecount)]
    let zeros = volume.iter().filter(|b| **b == 0).count();
    // Noise has about 1 zero byte in 256.
    assert!(
        zeros < volume.len() / 100,
        "{zeros} zero bytes of {}",
        volume.len()
    );
    assert_ne!(volume[..1 << 20], volume[1 << 20..2 << 20]);
}

#[test]
fn a_bad_cap_is_refused_naming_the_option() {
    let out = Test::new().run_with(&["sandbox", "--max-download-size", "12XB"]);
    assert_ne!(out.code, 0);
    out.stderr_has("--max-download-size")
        .stderr_has("unknown unit `XB`");
    let out = Test::new().run_with(&["sandbox", "--platform-max", "0"]);
    assert_ne!(out.code, 0);
    out.stderr_has("--platform-max must be at least 1");
}

/// The transfer benchmark's sandbox: its files where it is told (another file system than
/// the client's), bodies not hashed for its log, and every request's own time logged.
#[test]
fn a_benchmark_sandbox_keeps_its_files_apart_and_skips_body_digests() {
    let apart = tempfile::tempdir().unwrap();
    let latency = std::time::Duration::from_millis(40);
    let sb = crate::support::SandboxHandle::start(vip_run::sandbox::Config {
        data_parent: Some(apart.path().to_path_buf()),
        digest_bodies: false,
        latency,
        ..vip_run::sandbox::Config::default()
    });
    assert!(
        sb.sandbox().data_dir().starts_with(apart.path()),
        "{} is not under {}",
        sb.sandbox().data_dir().display(),
        apart.path().display()
    );
    let url = format!("{}/path/vip/Home/big.bin", sb.url());
    assert_eq!(http("PUT", &url, Some(&vec![7u8; 100_000])).0, 201);
    let stored: Vec<_> = walk(sb.sandbox().data_dir())
        .into_iter()
        .filter(|p| p.ends_with("big.bin"))
        .collect();
    assert_eq!(
        stored.len(),
        1,
        "the upload is stored under the given folder"
    );
    let log = sb.requests();
    let put = log.iter().find(|r| r.method == "PUT").unwrap();
    assert_eq!(put.body_len, 100_000);
    assert_eq!(put.body_sha256, "", "no digest when told not to");
    assert!(
        put.handled >= latency,
        "{:?} includes the latency",
        put.handled
    );

    // By default, bodies are hashed as before (tests check uploads by their digest).
    let usual = crate::support::SandboxHandle::start(vip_run::sandbox::Config::default());
    let url = format!("{}/path/vip/Home/small.txt", usual.url());
    assert_eq!(http("PUT", &url, Some(b"hello\n")).0, 201);
    let log = usual.requests();
    let put = log.iter().find(|r| r.method == "PUT").unwrap();
    assert_eq!(
        put.body_sha256,
        "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"
    );
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// `--failures` and `--request-log`: a `vip-run sandbox` process injects a seeded mix, and
/// its log file holds the truth that vip-run's verdicts (here, `run.json`) can be held to.
#[test]
fn the_request_log_records_each_injected_failure_for_a_client_to_be_checked_against() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("requests.jsonl");
    let sb = SandboxProcess::start(&[
        "--exec-duration",
        "300ms",
        "--quota",
        "4",
        "--failures",
        "application=0.5,input_download=0.5",
        "--seed",
        "7",
        "--request-log",
        log.to_str().unwrap(),
    ]);
    let t = Test::new()
        .manifest("version: 1\nname: hello\npipeline_id: Hello/1.0\ngroup: Demo\nmatrix:\n  subject: [a, b, c, d]\ninputs:\n  input_file: in.txt\n  message: \"hi {{ subject }}\"\nexecution:\n  max_parallel: 4\n  poll_interval: 1s\n")
        .file("in.txt", "hello\n")
        .env("VIP_API_KEY", DEMO)
        .args(&["--server", &sb.url]);
    t.run_with(&["study.yaml"]).code(1);
    drop(sb);
    let lines: Vec<Value> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let injections: Vec<&Value> = lines.iter().filter_map(|l| l.get("injection")).collect();
    assert_eq!(
        injections.len(),
        4,
        "every execution drew a failure: {lines:?}"
    );
    for inj in &injections {
        let at = inj["at_request"].as_u64().unwrap();
        let request = lines
            .iter()
            .find(|l| l["request"] == at)
            .unwrap_or_else(|| panic!("{inj}"));
        assert_eq!(request["method"], "POST", "{request}");
        assert_eq!(request["injected"], inj["kind"], "{request}");
    }
    assert!(!std::fs::read_to_string(&log).unwrap().contains(DEMO));
    // vip-run's record names the same class for each execution.
    let record: Value = serde_json::from_str(
        &std::fs::read_to_string(t.dir().join(".vip-run/hello/run.json")).unwrap(),
    )
    .unwrap();
    for item in record["items"].as_array().unwrap() {
        let id = item["executions"][0]["id"].as_str().unwrap();
        let inj = injections
            .iter()
            .find(|i| i["execution_id"] == id)
            .unwrap_or_else(|| panic!("{id}"));
        assert_eq!(
            item["executions"][0]["failure"]["class"], inj["kind"],
            "{item}"
        );
    }
}

//! Unattended batches against what networks and VIP really do: random 5xx answers and cut
//! connections over many seeds, staged outages, `kill -9` at random moments, odd entries in
//! the execution list, a foreign execution with an item's name, HTML where JSON was
//! expected, and retry waits that differ between processes. Every promise is checked as a
//! user would: one run, exit 0, one execution per item, every output complete.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use vip_run::sandbox::Config;

use crate::run::{
    DEMO, assert_one_execution_per_item, assert_outputs_complete, executions, hello_matrix,
    hello_test, output_of,
};
use crate::support::{Background, SandboxHandle, Test};

#[test]
fn a_batch_under_random_faults_finishes_in_one_run_for_every_seed() {
    // Ten seeds derived from one base, the same every run, none picked for passing.
    let seeds: Vec<u64> = (0..10).map(|i| 0x00c0_ffee + i * 7919).collect();
    let handles: Vec<_> = seeds
        .into_iter()
        .map(|seed| {
            std::thread::spawn(move || {
                let sb = SandboxHandle::start(Config {
                    exec_duration: Duration::from_millis(300),
                    quota: Some(4),
                    error_rate: 0.2,
                    drop_rate: 0.05,
                    latency: Duration::from_millis(20),
                    seed,
                    ..Config::default()
                });
                let t = hello_test(&sb, &hello_matrix(12, 4));
                let out = t.run_with(&["--progress", "plain", "study.yaml"]);
                assert_eq!(
                    out.code, 0,
                    "seed {seed}: one run must finish\nstdout:\n{}\nstderr:\n{}",
                    out.stdout, out.stderr
                );
                assert!(
                    out.stdout.contains("12 finished"),
                    "seed {seed}: {}",
                    out.stdout
                );
                assert_one_execution_per_item(&sb, 12);
                let missing: Vec<String> = (1..=12)
                    .map(output_of)
                    .filter(|f| !t.dir().join(f).exists())
                    .collect();
                assert!(
                    missing.is_empty(),
                    "seed {seed}: {missing:?} missing after a run that said all finished\nstdout:\n{}\nstderr:\n{}\nfiles: {:#?}",
                    out.stdout,
                    out.stderr,
                    crate::support::walk(t.dir())
                );
                assert_outputs_complete(&t, 12);
                let faults = sb
                    .requests()
                    .iter()
                    .filter(|r| r.dropped || r.status >= 500)
                    .count();
                assert!(faults > 0, "seed {seed}: the faults were on");
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}

#[test]
fn a_minute_long_outage_mid_run_is_waited_out() {
    let sb = SandboxHandle::start(Config {
        exec_duration: Duration::from_secs(2),
        quota: Some(3),
        ..Config::default()
    });
    let t = hello_test(&sb, &hello_matrix(6, 3));
    // The default retries: one call's own retries must not swallow the outage (and its two
    // lines), wherever in a round it begins.
    let run = Background::start(&t, &["--progress", "plain", "study.yaml"]);
    run.wait_for("launched", Duration::from_secs(30));
    sb.sandbox()
        .set_outage(Duration::ZERO, Duration::from_secs(60));
    let (code, stderr) = run.finish();
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("VIP unreachable since"), "{stderr}");
    assert!(stderr.contains("VIP answers again"), "{stderr}");
    assert_one_execution_per_item(&sb, 6);
    assert_outputs_complete(&t, 6);
}

#[test]
fn an_outage_longer_than_max_outage_stops_with_exit_5_and_the_next_run_resumes() {
    let sb = SandboxHandle::start(Config {
        exec_duration: Duration::from_secs(1),
        quota: Some(2),
        ..Config::default()
    });
    let t = hello_test(&sb, &hello_matrix(4, 2));
    let args = [
        "--progress",
        "plain",
        "--max-retries",
        "2",
        "run",
        "--max-outage",
        "3s",
        "study.yaml",
    ];
    let run = Background::start(&t, &args);
    run.wait_for("launched", Duration::from_secs(30));
    let outage = Duration::from_secs(20);
    let staged = Instant::now();
    sb.sandbox().set_outage(Duration::ZERO, outage);
    let (code, stderr) = run.finish();
    assert_eq!(code, 5, "{stderr}");
    assert!(stderr.contains("longer than the 3s allowed"), "{stderr}");
    assert!(stderr.contains("run the same command again"), "{stderr}");
    std::thread::sleep(outage.saturating_sub(staged.elapsed()) + Duration::from_millis(200));
    t.run_with(&["study.yaml"]).code(0).stdout_has("4 finished");
    assert_one_execution_per_item(&sb, 4);
    assert_outputs_complete(&t, 4);
}

#[test]
fn kill_9_at_random_moments_then_a_last_run_completes() {
    let sb = SandboxHandle::start(Config {
        exec_duration: Duration::from_millis(700),
        quota: Some(3),
        ..Config::default()
    });
    let t = hello_test(&sb, &hello_matrix(8, 3));
    // Fixed base: the same moments every run, spread over uploads, launches and downloads.
    let mut rng = StdRng::seed_from_u64(0x0009_1111);
    for _ in 0..4 {
        let mut run = Background::start(&t, &["--progress", "plain", "study.yaml"]);
        std::thread::sleep(Duration::from_millis(rng.random_range(100..2500)));
        // SIGKILL: no chance to save anything.
        run.child.kill().unwrap();
        run.child.wait().unwrap();
    }
    t.run_with(&["study.yaml"]).code(0).stdout_has("8 finished");
    assert_one_execution_per_item(&sb, 8);
    assert_outputs_complete(&t, 8);
}

#[test]
fn odd_entries_in_the_execution_list_are_skipped_not_fatal() {
    let sb = SandboxHandle::start(Config {
        exec_duration: Duration::from_millis(300),
        quota: Some(3),
        ..Config::default()
    });
    let odd = [
        r#"{"identifier":"workflow-odd1","name":"other","pipelineIdentifier":"X/1","status":"Finished","returnedFiles":[]}"#,
        r#"{"identifier":"workflow-odd2","name":"other","pipelineIdentifier":"X/1","status":"Teleported"}"#,
        r#"{"identifier":"workflow-odd3","name":null,"pipelineIdentifier":null,"status":"Running","inputValues":null,"jobs":null}"#,
        r#"{"identifier":"workflow-odd4","pipelineIdentifier":"X/1","status":"Running"}"#,
        r#"{"identifier":null,"name":"x","status":"Running"}"#,
        r#"{"name":"no identifier, no status"}"#,
        "42",
    ];
    for entry in odd {
        sb.sandbox()
            .add_listed(serde_json::from_str(entry).unwrap());
    }
    let t = hello_test(&sb, &hello_matrix(4, 3));
    let out = t.run_with(&["-v", "--progress", "plain", "study.yaml"]);
    out.code(0)
        .stdout_has("4 finished")
        .stderr_has("skipped an entry vip-run cannot read");
    assert_outputs_complete(&t, 4);
    t.run_with(&["status", "study.yaml"]).code(0);
    t.run_with(&["download", "study.yaml"]).code(0);
    t.run_with(&["cancel", "study.yaml"]).code(0);
    // A lost state file: adoption reads the same list.
    std::fs::remove_file(t.dir().join(".vip-run/hello/state.json")).unwrap();
    t.run_with(&["study.yaml"]).code(0).stdout_has("4 finished");
}

#[test]
fn a_foreign_execution_with_an_items_name_is_neither_adopted_nor_killed() {
    let sb = SandboxHandle::start(Config {
        exec_duration: Duration::from_secs(60),
        quota: Some(4),
        ..Config::default()
    });
    let t = hello_test(&sb, &hello_matrix(2, 2));
    // The item's execution name, as the plan shows it.
    let plan = t.run_with(&["--output", "json", "plan", "study.yaml"]);
    let name = plan
        .json_lines()
        .into_iter()
        .find(|l| l["action"] == "launch" && l["item"] == "sub-01")
        .and_then(|l| l["execution_name"].as_str().map(str::to_owned))
        .expect("a launch of sub-01");
    // Someone else's execution of another pipeline, under that name.
    let client = vip_run::vip::Client::new(
        &vip_run::vip::ClientConfig::new(sb.url()),
        &secrecy::SecretString::from(DEMO),
    )
    .unwrap();
    let scratch = t.dir().join("other.bin");
    std::fs::write(&scratch, b"someone else's data").unwrap();
    let foreign = sb.block_on(async {
        client.mkdir_p("/vip/Home/elsewhere").await.unwrap();
        client
            .upload(&scratch, "/vip/Home/elsewhere/other.bin")
            .await
            .unwrap();
        client
            .create_execution(&vip_run::vip::wire::CreateExecution {
                name: Some(name.clone()),
                pipeline_identifier: Some("LargeOutput/1.0".into()),
                input_values: Some(
                    [(
                        "input_file".to_owned(),
                        serde_json::json!("/vip/Home/elsewhere/other.bin"),
                    )]
                    .into_iter()
                    .collect(),
                ),
                results_location: Some("/vip/Home/elsewhere".into()),
            })
            .await
            .unwrap()
    });
    let out = t.run_with(&["--progress", "plain", "run", "--detach", "study.yaml"]);
    out.code(0).stderr_has("it is not this item's");
    t.run_with(&["cancel", "study.yaml"]).code(0);
    let listed = executions(&sb);
    let same_name: Vec<&(String, String)> = listed.iter().filter(|(n, _)| *n == name).collect();
    assert_eq!(same_name.len(), 2, "the item got its own: {listed:?}");
    let foreign_now = sb.block_on(client.execution(&foreign.identifier)).unwrap();
    assert_eq!(foreign_now.status.to_string(), "Running", "left alone");
    let state = std::fs::read_to_string(t.dir().join(".vip-run/hello/state.json")).unwrap();
    assert!(
        !state.contains(&foreign.identifier),
        "never adopted: {state}"
    );
}

/// A server on loopback that answers every request with `response` (raw HTTP).
fn fake_server(response: &'static str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(200) {
            let Ok(mut stream) = stream else { continue };
            let mut buf = [0u8; 8192];
            let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(response.as_bytes());
        }
    });
    format!("http://{addr}/rest")
}

#[test]
fn an_html_page_instead_of_vips_api_names_the_call_and_exits_5() {
    let url = fake_server(
        "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nConnection: close\r\nContent-Length: 68\r\n\r\n<html><head><title>Guest Wi-Fi login</title></head><body></body></html>",
    );
    for command in [&["whoami"][..], &["pipelines"][..]] {
        let out = Test::new()
            .env("VIP_API_KEY", "k")
            .args(&["--server", &url])
            .run_with(command);
        out.code(5)
            .stderr_has(
                "answered an HTML page (\"Guest Wi-Fi login\"), not VIP's API: check --server",
            )
            .stderr_has("GET /");
    }
}

#[test]
fn an_unexpected_401_keeps_the_servers_own_message() {
    let url = fake_server(
        "HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: 59\r\n\r\n{\"errorCode\":8004,\"errorMessage\":\"Your token has expired.\"}",
    );
    Test::new()
        .env("VIP_API_KEY", "k")
        .args(&["--server", &url])
        .run_with(&["whoami"])
        .code(4)
        .stderr_has("Your token has expired.");
}

#[test]
fn two_processes_wait_differently_between_retries() {
    let sb = SandboxHandle::start(Config {
        error_rate: 1.0,
        ..Config::default()
    });
    let waits = |out: &str| -> Vec<String> {
        out.lines()
            .filter_map(|l| l.split("trying again in ").nth(1).map(str::to_owned))
            .collect()
    };
    let t = Test::new().against(&sb, DEMO);
    let runs: Vec<_> = (0..2)
        .map(|_| {
            let args: Vec<String> = t.extra_args().to_vec();
            std::thread::spawn(move || {
                Command::new(env!("CARGO_BIN_EXE_vip-run"))
                    .args(&args)
                    .args(["--max-retries", "3", "whoami"])
                    .env("VIP_API_KEY", DEMO)
                    .output()
                    .unwrap()
            })
        })
        .collect();
    let outs: Vec<_> = runs.into_iter().map(|h| h.join().unwrap()).collect();
    let first = waits(&String::from_utf8_lossy(&outs[0].stderr));
    let second = waits(&String::from_utf8_lossy(&outs[1].stderr));
    assert_eq!(outs[0].status.code(), Some(5));
    assert_eq!(first.len(), 3, "{first:?}");
    assert_eq!(second.len(), 3, "{second:?}");
    assert_ne!(first, second, "the same waits in two processes");
}

#[test]
fn the_sandbox_stops_on_sigterm_and_removes_its_storage() {
    let scratch = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_vip-run"))
        .args(["sandbox", "--listen", "127.0.0.1:0"])
        .env("TMPDIR", scratch.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let banner = lines.next().unwrap().unwrap();
    let url = banner.rsplit(' ').next().unwrap().to_owned();
    assert!(
        std::fs::read_dir(scratch.path()).unwrap().count() > 0,
        "the storage is in TMPDIR"
    );
    // A bodiless rename answers as VIP does: 400, error 8000.
    let addr = url
        .trim_start_matches("http://")
        .trim_end_matches("/rest")
        .to_owned();
    let mut stream = std::net::TcpStream::connect(&addr).unwrap();
    write!(
        stream,
        "PUT /rest/executions/workflow-x HTTP/1.1\r\nHost: {addr}\r\napikey: {DEMO}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("8000"), "{answer}");
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    assert!(exit.success(), "{exit:?}");
    let left: Vec<_> = std::fs::read_dir(scratch.path()).unwrap().collect();
    assert!(left.is_empty(), "storage left behind: {left:?}");
}

#[test]
fn an_unknown_status_of_our_execution_is_waited_on_like_unknown() {
    let sb = SandboxHandle::start(Config {
        exec_duration: Duration::from_secs(4),
        quota: Some(2),
        ..Config::default()
    });
    let t = hello_test(&sb, &hello_matrix(2, 2));
    let run = Background::start(&t, &["--progress", "plain", "study.yaml"]);
    let client = vip_run::vip::Client::new(
        &vip_run::vip::ClientConfig::new(sb.url()),
        &secrecy::SecretString::from(DEMO),
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let first = loop {
        let listed = sb.block_on(client.executions(500)).unwrap();
        if let Some(e) = listed.iter().find(|e| e.name.contains("sub-01")) {
            break e.identifier.clone();
        }
        assert!(Instant::now() < deadline, "sub-01 was never launched");
        std::thread::sleep(Duration::from_millis(50));
    };
    // A status no VIP version sends today: the run must neither fail the item nor launch it
    // again, but keep watching it (as it does `Unknown`, within its grace period).
    sb.sandbox().set_status(
        &first,
        vip_run::vip::wire::ExecutionStatus::Other("Teleported".into()),
    );
    run.wait_for("Teleported", Duration::from_secs(30));
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        !run.stderr().contains("failed"),
        "an unknown status is not a failure:\n{}",
        run.stderr()
    );
    sb.sandbox()
        .set_status(&first, vip_run::vip::wire::ExecutionStatus::Finished);
    let (code, stderr) = run.finish();
    assert_eq!(code, 0, "{stderr}");
    assert_one_execution_per_item(&sb, 2);
    assert_outputs_complete(&t, 2);
}

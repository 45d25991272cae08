//! The VIP client against the sandbox: every operation, VIP's error codes as meanings,
//! non-JSON errors, retries that never repeat a launch.

use std::time::Duration;

use indexmap::IndexMap;
use secrecy::SecretString;
use serde_json::json;

use vip_run::sandbox::Config;
use vip_run::vip::wire::{CreateExecution, ExecutionStatus};
use vip_run::vip::{Client, ClientConfig, LogStream, Meaning, RetryPolicy};

use crate::support::SandboxHandle;

fn client(sb: &SandboxHandle, key: &str) -> Client {
    let mut config = ClientConfig::new(sb.url());
    config.retry = RetryPolicy {
        attempts: 8,
        first_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(50),
        budget: Duration::from_secs(5),
    };
    config.request_timeout = Duration::from_secs(10);
    Client::new(&config, &SecretString::from(key)).unwrap()
}

fn launch(name: &str, inputs: serde_json::Value, pipeline: &str) -> CreateExecution {
    let map: IndexMap<String, serde_json::Value> = serde_json::from_value(inputs).unwrap();
    CreateExecution {
        name: Some(name.into()),
        pipeline_identifier: Some(pipeline.into()),
        input_values: Some(map),
        results_location: Some("/vip/Home/tests".into()),
    }
}

#[test]
fn data_round_trip_streams_files_both_ways() {
    let sb = SandboxHandle::quick(Duration::from_millis(200));
    let c = client(&sb, "sandbox-demo-key");
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("in put.bin");
    let content: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&local, &content).unwrap();
    sb.block_on(async {
        c.mkdir_p("/vip/Home/a/b/c").await.unwrap();
        assert!(c.exists("/vip/Home/a/b/c").await.unwrap());
        // VIP renames uploads (docs/vip.md#sanitising); the caller uploads under the name VIP
        // will keep.
        c.upload(&local, "/vip/Home/a/b/c/in_put.bin")
            .await
            .unwrap();
        let props = c.properties("/vip/Home/a/b/c/in_put.bin").await.unwrap();
        assert_eq!(props.size, Some(300_000));
        assert_eq!(props.is_directory, Some(false));
        let listed = c.list("/vip/Home/a/b/c").await.unwrap();
        assert_eq!(listed.len(), 1);
        let back = dir.path().join("back.bin");
        assert_eq!(
            c.download("/vip/Home/a/b/c/in_put.bin", &back)
                .await
                .unwrap(),
            300_000
        );
        assert_eq!(std::fs::read(&back).unwrap(), content);
        let missing = c.properties("/vip/Home/nope").await.unwrap();
        assert!(!missing.exists);
        c.delete_path("/vip/Home/a").await.unwrap();
        // A failed download leaves no file behind.
        let none = dir.path().join("none.bin");
        let e = c.download("/vip/Home/nope", &none).await.unwrap_err();
        assert_eq!(e.code(), Some(8000));
        assert!(!none.exists());
    });
}

#[test]
fn execution_lifecycle() {
    let sb = SandboxHandle::quick(Duration::from_millis(300));
    let c = client(&sb, "sandbox-demo-key");
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("in.txt");
    std::fs::write(&local, "hello\n").unwrap();
    sb.block_on(async {
        c.mkdir_p("/vip/Home/tests").await.unwrap();
        c.upload(&local, "/vip/Home/tests/in.txt").await.unwrap();
        let e = c
            .create_execution(&launch(
                "lifecycle-1",
                json!({"input_file": "/vip/Home/tests/in.txt", "message": "hi", "repeat": "2"}),
                "Hello/1.0",
            ))
            .await
            .unwrap();
        assert!(matches!(
            e.status,
            ExecutionStatus::Running | ExecutionStatus::Ready
        ));
        assert!(e.returned_files.is_none());
        let mut status = e.status.clone();
        for _ in 0..100 {
            if status.is_terminal() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
            status = c.execution(&e.identifier).await.unwrap().status;
        }
        assert_eq!(status, ExecutionStatus::Finished);
        let full = c.execution(&e.identifier).await.unwrap();
        let files = full.returned_files.clone().unwrap();
        let hello = &files["greeting"][0];
        let back = dir.path().join("hello.txt");
        c.download(hello, &back).await.unwrap();
        assert!(
            std::fs::read_to_string(&back)
                .unwrap()
                .starts_with("hi\nhi\n")
        );
        let results = c.results(&e.identifier).await.unwrap();
        assert!(results.iter().any(|r| &r.path == hello));
        assert!(
            c.log(&e.identifier, LogStream::Stdout)
                .await
                .unwrap()
                .is_some()
        );
        let listed = c.executions(10).await.unwrap();
        assert!(
            listed
                .iter()
                .any(|x| x.identifier == e.identifier && x.name == "lifecycle-1")
        );
        assert!(c.execution_count().await.unwrap() >= 1);
        let renamed = c.rename(&full, "lifecycle renamed").await.unwrap();
        assert_eq!(renamed.name, "lifecycle renamed");
        c.delete_execution(&e.identifier, true).await.unwrap();
        let gone = c.execution(&e.identifier).await.unwrap_err();
        assert_eq!(gone.meaning(), Meaning::Gone);
    });
}

#[test]
fn vip_error_codes_become_meanings() {
    let sb = SandboxHandle::start(Config {
        exec_duration: Duration::from_secs(30),
        quota: Some(1),
        ..Config::default()
    });
    let demo = client(&sb, "sandbox-demo-key");
    let guest = client(&sb, "sandbox-guest-key");
    let bad = client(&sb, "not-a-key");
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("in.txt");
    std::fs::write(&local, "hello\n").unwrap();
    sb.block_on(async {
        assert_eq!(
            bad.pipelines().await.unwrap_err().meaning(),
            Meaning::BadKey
        );
        assert_eq!(bad.platform().await.unwrap_err().meaning(), Meaning::BadKey);
        assert_eq!(
            demo.pipeline_by_query("CQUEST").await.unwrap_err().code(),
            Some(8005)
        );
        assert_eq!(
            demo.pipeline("CQUEST/9.9").await.unwrap_err().meaning(),
            Meaning::UnknownPipeline
        );
        assert_eq!(
            demo.pipeline("CQUEST/0.5").await.unwrap_err().meaning(),
            Meaning::UnknownPipeline
        );
        assert_eq!(
            guest.pipeline("CQUEST/0.6").await.unwrap_err().meaning(),
            Meaning::NotInGroup
        );
        assert_eq!(
            demo.list("/etc").await.unwrap_err().meaning(),
            Meaning::DataAccess
        );
        assert_eq!(
            demo.execution("workflow-nope").await.unwrap_err().meaning(),
            Meaning::Generic
        );
        demo.mkdir_p("/vip/Home/tests").await.unwrap();
        demo.upload(&local, "/vip/Home/tests/in.txt").await.unwrap();
        let ok = json!({"input_file": "/vip/Home/tests/in.txt"});
        let bad_value = demo
            .create_execution(&launch(
                "n1",
                json!({"input_file": "/vip/Home/tests/in.txt", "message": "a~b"}),
                "Hello/1.0",
            ))
            .await
            .unwrap_err();
        assert_eq!(bad_value.meaning(), Meaning::InvalidInput);
        assert!(bad_value.to_string().contains("message"), "{bad_value}");
        let bad_name = demo
            .create_execution(&launch("bad.name", ok.clone(), "Hello/1.0"))
            .await
            .unwrap_err();
        assert_eq!(bad_name.meaning(), Meaning::InvalidName);
        let missing = demo
            .create_execution(&launch("n2", json!({"message": "x"}), "Hello/1.0"))
            .await
            .unwrap_err();
        assert_eq!(missing.meaning(), Meaning::MissingInput);
        let first = demo
            .create_execution(&launch("q1", ok.clone(), "Hello/1.0"))
            .await
            .unwrap();
        let quota = demo
            .create_execution(&launch("q2", ok.clone(), "Hello/1.0"))
            .await
            .unwrap_err();
        assert_eq!(quota.meaning(), Meaning::QuotaFull);
        assert!(
            quota
                .to_string()
                .contains("You already have 1 running executions"),
            "{quota}"
        );
        demo.kill(&first.identifier).await.unwrap();
        assert_eq!(
            demo.execution(&first.identifier).await.unwrap().status,
            ExecutionStatus::Killed
        );
        let vip_file_missing = demo
            .create_execution(&launch(
                "q3",
                json!({"input_file": "/vip/Home/tests/none.txt"}),
                "Hello/1.0",
            ))
            .await
            .unwrap_err();
        assert_eq!(vip_file_missing.meaning(), Meaning::Generic);
    });
}

#[test]
fn failing_servers_are_retried_for_reads_and_reported_plainly() {
    let sb = SandboxHandle::start(Config {
        error_rate: 1.0,
        seed: 7,
        ..Config::default()
    });
    let c = client(&sb, "sandbox-demo-key");
    let e = sb.block_on(c.pipelines()).unwrap_err();
    assert_eq!(e.meaning(), Meaning::ServerFailing);
    let attempts = sb
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/pipelines"))
        .count();
    assert_eq!(attempts, 8, "every attempt of the policy is made");
}

#[test]
fn flaky_servers_are_survived() {
    let sb = SandboxHandle::start(Config {
        error_rate: 0.3,
        drop_rate: 0.1,
        seed: 42,
        ..Config::default()
    });
    let c = client(&sb, "sandbox-demo-key");
    sb.block_on(async {
        for _ in 0..10 {
            assert!(!c.pipelines().await.unwrap().is_empty());
            c.groups().await.unwrap();
        }
    });
    let sent = sb.requests().len();
    assert!(
        sent > 20,
        "faults were injected and retried ({sent} requests for 20 calls)"
    );
}

#[test]
fn a_launch_is_never_sent_twice() {
    for (error_rate, drop_rate) in [(1.0, 0.0), (0.0, 1.0)] {
        let sb = SandboxHandle::start(Config {
            error_rate,
            drop_rate,
            seed: 3,
            ..Config::default()
        });
        let c = client(&sb, "sandbox-demo-key");
        let e = sb
            .block_on(c.create_execution(&launch(
                "once",
                json!({"input_file": "/vip/Home/x"}),
                "Hello/1.0",
            )))
            .unwrap_err();
        assert!(e.is_unreachable(), "{e}");
        let posts = sb.requests().iter().filter(|r| r.method == "POST").count();
        assert_eq!(posts, 1, "error_rate {error_rate}, drop_rate {drop_rate}");
    }
}

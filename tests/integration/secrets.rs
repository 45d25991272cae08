//! The API key never appears in anything `validate` or a run prints or writes, nor do the
//! secrets of its notifications (a hook's token, an SMTP password).

use crate::support::{HEAD, Test};

const SENTINEL: &str = "SENTINEL-7f3a9c-KEY";

fn assert_clean(out: &crate::support::Output) {
    assert!(
        !out.stdout.contains(SENTINEL),
        "key on stdout:\n{}",
        out.stdout
    );
    assert!(
        !out.stderr.contains(SENTINEL),
        "key on stderr:\n{}",
        out.stderr
    );
    assert!(
        !out.stdout.contains("7f3a9c") && !out.stderr.contains("7f3a9c"),
        "part of the key leaked"
    );
}

#[test]
fn a_literal_key_never_appears_in_validate_output() {
    let manifests = [
        // Valid: the warning about a literal key quotes the line.
        format!("{HEAD}api_key: {{ literal: \"{SENTINEL}\" }}\n"),
        format!("{HEAD}api_key:\n  literal: {SENTINEL}\n"),
        format!("{HEAD}api_key: {SENTINEL}\n"),
        // Errors right next to the key.
        format!("{HEAD}api_key: {{ literal: \"{SENTINEL}\" }}\npipline: x\n"),
        format!("{HEAD}api_key: {{ literal: {SENTINEL} }}\nexecution:\n  timeout: soon\n"),
        format!("{HEAD}api_key: {{ literall: {SENTINEL} }}\n"),
        format!("{HEAD}api_key: {{ literal: [{SENTINEL}] }}\n"),
        format!("{HEAD}api_key: {SENTINEL}\ninputs:\n  message: \"{{{{ nope }}\"\n"),
        format!("version: 1\napi_key: {{ literal: {SENTINEL} }}\nname: \"bad name\"\n"),
        format!("{HEAD}api_key: {{ literal: \"{SENTINEL}\"\n"),
    ];
    for manifest in &manifests {
        for output in ["human", "json"] {
            let out = Test::new()
                .manifest(manifest)
                .args(&["validate", "--output", output, "study.yaml"])
                .run();
            assert!(out.code == 0 || out.code == 3, "{out:?}");
            assert_clean(&out);
        }
    }
}

#[test]
fn the_literal_key_is_warned_about_and_masked_in_the_snippet() {
    let out = Test::new()
        .manifest(&format!("{HEAD}api_key: {{ literal: \"{SENTINEL}\" }}\n"))
        .args(&["validate", "study.yaml"])
        .run();
    out.code(0)
        .stderr_has("warning: the API key is written in the manifest")
        .stderr_has("literal: \"*******************\"")
        .stdout_has("api key     from the manifest (api_key.literal)");
    assert_clean(&out);
}

#[test]
fn a_key_from_the_environment_is_never_printed() {
    let out = Test::new()
        .manifest(HEAD)
        .env("VIP_API_KEY", SENTINEL)
        .args(&["validate", "--output", "json", "study.yaml"])
        .run();
    out.code(0);
    assert_clean(&out);
}

/// A world whose only user's key is the sentinel, so a whole run can use it for real.
fn sentinel_world() -> vip_run::sandbox::World {
    let text = vip_run::sandbox::default_world_yaml().replace("sandbox-demo-key", SENTINEL);
    vip_run::sandbox::World::from_yaml(&text).unwrap()
}

#[test]
fn a_whole_run_never_prints_writes_or_logs_the_key() {
    let sb = crate::support::SandboxHandle::start(vip_run::sandbox::Config {
        world: sentinel_world(),
        exec_duration: std::time::Duration::from_millis(200),
        ..vip_run::sandbox::Config::default()
    });
    let manifest = format!(
        "version: 1\nname: leak\npipeline_id: Hello/1.0\ngroup: Demo\napi_key: {{ literal: \"{SENTINEL}\" }}\ninputs:\n  input_file: in.txt\n  message: \"FAIL now\"\nresults:\n  download: out\nexecution:\n  poll_interval: 1s\n"
    );
    let t = Test::new()
        .manifest(&manifest)
        .file("in.txt", "x\n")
        .args(&["--server", sb.url()]);
    for args in [
        vec!["--junit", "junit.xml", "study.yaml"],
        vec!["--output", "json", "study.yaml"],
        vec!["status", "study.yaml"],
        vec!["plan", "study.yaml"],
        vec!["validate", "--online", "study.yaml"],
        vec!["download", "study.yaml"],
        vec!["cancel", "study.yaml"],
    ] {
        let out = t.run_with(&args);
        // The key is accepted (the run happens, its item fails on purpose, with a stderr;
        // `status` says so with its exit code).
        let fails = !matches!(args[0], "plan" | "validate" | "download" | "cancel");
        let expected = i32::from(fails);
        assert_eq!(out.code, expected, "{args:?}: {out:?}");
        assert_clean(&out);
    }
    // Nothing written on disk holds it, but the manifest itself.
    for file in crate::support::walk(t.dir()) {
        if file.ends_with("study.yaml") {
            continue;
        }
        let bytes = std::fs::read(&file).unwrap();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(SENTINEL),
            "the key is in {file}"
        );
    }
    // And the server never saw it anywhere but in the apikey header.
    for r in sb.requests() {
        assert!(!r.path.contains(SENTINEL) && !r.query.as_deref().unwrap_or("").contains(SENTINEL));
        for (name, value) in &r.headers {
            assert!(!value.contains(SENTINEL), "header {name}");
        }
    }
}

/// A webhook's token and an SMTP password, beside the key: none may leak either.
const HOOK_TOKEN: &str = "HOOKTOKEN-51c0de";
const SMTP_PASSWORD: &str = "SMTPPASS-9b2e44";

#[test]
fn notifications_never_carry_or_leak_the_key_a_hook_token_or_an_smtp_password() {
    use crate::notify::{Receiver, Relay, dead_url};
    let sb = crate::support::SandboxHandle::start(vip_run::sandbox::Config {
        world: sentinel_world(),
        exec_duration: std::time::Duration::from_millis(200),
        ..vip_run::sandbox::Config::default()
    });
    let live = Receiver::start();
    let relay = Relay::start(None, true);
    let dead_relay = dead_url("").rsplit(':').next().unwrap().to_owned();
    let notify = format!(
        "  - webhook:\n      url_env: HOOK\n      events: [start, end, failure, stall]\n      headers_env: {{ Authorization: HOOK_AUTH }}\n  - webhook:\n      url_env: DEAD_HOOK\n      format: slack\n      events: [start, end]\n  - healthchecks:\n      url: {}\n  - email:\n      host: 127.0.0.1\n      port: {}\n      starttls: false\n      from: vip-run@lab.example\n      to: [me@lab.example]\n      username: vip\n      password_env: SMTP_PASSWORD\n      events: [start, end]\n  - email:\n      host: 127.0.0.1\n      port: {dead_relay}\n      starttls: false\n      from: vip-run@lab.example\n      to: [me@lab.example]\n      username: vip\n      password_env: SMTP_PASSWORD\n      events: [start, end]\n",
        dead_url(&format!("/ping/{HOOK_TOKEN}-inline")),
        relay.port
    );
    let manifest = format!(
        "version: 1\nname: leak\npipeline_id: Hello/1.0\ngroup: Demo\napi_key: {{ literal: \"{SENTINEL}\" }}\ninputs:\n  input_file: in.txt\n  message: \"FAIL now\"\nresults:\n  download: out\nexecution:\n  poll_interval: 1s\nnotify:\n{notify}"
    );
    let t = Test::new()
        .manifest(&manifest)
        .file("in.txt", "x\n")
        .args(&["--server", sb.url()])
        .env("HOOK", &live.url(&format!("/hook/{HOOK_TOKEN}")))
        .env("HOOK_AUTH", &format!("Bearer {HOOK_TOKEN}"))
        .env(
            "DEAD_HOOK",
            &dead_url(&format!("/services/T0/{HOOK_TOKEN}")),
        )
        .env("SMTP_PASSWORD", SMTP_PASSWORD);
    let secrets = [SENTINEL, HOOK_TOKEN, SMTP_PASSWORD];
    // Twice: the second run sends what the first could not, and fails to again.
    for args in [
        vec!["-vv", "--junit", "junit.xml", "study.yaml"],
        vec!["-vv", "--output", "json", "study.yaml"],
        vec!["validate", "study.yaml"],
    ] {
        let out = t.run_with(&args);
        assert!(out.code == 0 || out.code == 1, "{args:?}: {out:?}");
        for secret in secrets {
            assert!(
                !out.stdout.contains(secret) && !out.stderr.contains(secret),
                "{secret} printed by {args:?}:\n{}\n{}",
                out.stdout,
                out.stderr
            );
        }
    }
    // Undelivered notices were kept, and the spool holds none of them either.
    assert!(
        !crate::support::walk(&t.dir().join(".vip-run/leak/notify/pending")).is_empty(),
        "the dead channels' notices are kept"
    );
    for file in crate::support::walk(t.dir()) {
        if file.ends_with("study.yaml") {
            continue;
        }
        let text = String::from_utf8_lossy(&std::fs::read(&file).unwrap()).into_owned();
        for secret in secrets {
            assert!(!text.contains(secret), "{secret} in {file}");
        }
    }
    // What the receivers got: the notices, never the key or the password; the hook's token
    // only where it belongs (its URL, the header it was given for).
    let hits = live.hits();
    assert!(hits.len() >= 4, "{hits:?}");
    for hit in &hits {
        for secret in secrets {
            assert!(
                !hit.body.contains(secret),
                "{secret} in a notice: {}",
                hit.body
            );
        }
        for (name, value) in &hit.headers {
            assert!(
                !value.contains(SENTINEL) && !value.contains(SMTP_PASSWORD),
                "{name}"
            );
        }
    }
    let mails = relay.mails();
    assert_eq!(mails.len(), 4, "start and end, twice");
    for mail in &mails {
        assert_eq!(
            mail.auth.as_ref().map(|(_, p)| p.as_str()),
            Some(SMTP_PASSWORD)
        );
        for secret in secrets {
            assert!(!mail.data.contains(secret), "{secret} in a mail");
        }
    }
}

//! The API key never appears in anything `validate` prints, valid or not.

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

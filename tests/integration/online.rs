//! The commands that talk to VIP, driven as a user would, against the sandbox over loopback:
//! `whoami`, `pipelines`, `pipeline`, `init`, and every pre-flight check of `validate --online`.

use std::time::Duration;

use crate::support::{SandboxHandle, Test};

const DEMO: &str = "sandbox-demo-key";
const GUEST: &str = "sandbox-guest-key";

fn sandbox() -> SandboxHandle {
    SandboxHandle::quick(Duration::from_millis(300))
}

const HELLO: &str = "version: 1\nname: hello\npipeline_id: Hello/1.0\ngroup: Demo\ninputs:\n  input_file: in.txt\n  message: Bonjour\n";

fn hello(extra_inputs: &str) -> String {
    format!("{HELLO}{extra_inputs}")
}

#[test]
fn whoami_names_the_key_source_and_the_groups() {
    let sb = sandbox();
    Test::new()
        .against(&sb, DEMO)
        .args(&["whoami"])
        .run()
        .code(0)
        .stdout_has("api key     from environment variable VIP_API_KEY: accepted")
        .stdout_has("groups      CQUEST, Demo, EGI-biomed");
    let out = Test::new()
        .against(&sb, GUEST)
        .args(&["--output", "json", "whoami"])
        .run();
    out.code(0);
    let record = &out.json_lines()[0];
    assert_eq!(record["key_valid"], true);
    assert_eq!(record["groups"], serde_json::json!(["Demo", "EGI-biomed"]));
}

#[test]
fn a_bad_key_exits_4_and_names_its_source_not_the_key() {
    let sb = sandbox();
    let out = Test::new()
        .against(&sb, "SENTINEL-bad-key-42")
        .args(&["whoami"])
        .run();
    out.code(4).stderr_has(&format!(
        "error: the API key from environment variable VIP_API_KEY was rejected by {}",
        sb.url()
    ));
    assert!(!out.stderr.contains("SENTINEL") && !out.stdout.contains("SENTINEL"));
    // An unset variable is said plainly, and nothing is sent.
    let before = sb.requests().len();
    Test::new()
        .args(&[
            "--server",
            sb.url(),
            "--api-key-env",
            "VIP_RUN_NO_SUCH_VAR",
            "whoami",
        ])
        .run()
        .code(4)
        .stderr_has("the API key variable VIP_RUN_NO_SUCH_VAR is not set");
    assert_eq!(sb.requests().len(), before);
}

#[test]
fn the_key_never_reaches_a_log_or_a_url() {
    let sb = sandbox();
    let key_file = Test::new().file("key", format!("{DEMO}\n"));
    {
        use std::os::unix::fs::PermissionsExt as _;
        let path = key_file.dir().join("key");
        // As `ssh` with a private key: a key file others can read is refused, naming the fix.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        key_file
            .run_with(&["--server", sb.url(), "--api-key-file", "key", "pipelines"])
            .code(4)
            .stderr_has("the API key file key is open to other users of this machine (mode 0644)")
            .stderr_has("help: chmod 600 key");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    key_file
        .args(&["--server", sb.url(), "--api-key-file", "key", "pipelines"])
        .run()
        .code(0);
    let requests = sb.requests();
    assert!(!requests.is_empty());
    for r in &requests {
        assert!(!r.path.contains(DEMO) && !r.query.as_deref().unwrap_or("").contains(DEMO));
        let apikey: Vec<_> = r.headers.iter().filter(|(k, _)| k == "apikey").collect();
        assert_eq!(apikey.len(), 1, "{r:?}");
        assert_eq!(apikey[0].1, "(redacted)");
        let agent = r
            .headers
            .iter()
            .find(|(k, _)| k == "user-agent")
            .map(|(_, v)| v.as_str());
        assert!(
            agent.is_some_and(|a| a.starts_with("vip-run/")),
            "{agent:?}"
        );
    }
}

#[test]
fn pipelines_lists_what_the_user_may_run() {
    let sb = sandbox();
    let out = Test::new().against(&sb, GUEST).args(&["pipelines"]).run();
    out.code(0)
        .stdout_has("Hello/1.0")
        .stdout_has("LargeOutput/1.0");
    assert!(!out.stdout.contains("CQUEST"), "{}", out.stdout);
    assert!(!out.stdout.contains("FreeSurfer"));
    let out = Test::new()
        .against(&sb, DEMO)
        .args(&["--output", "json", "pipelines", "cquest"])
        .run();
    out.code(0);
    let ids: Vec<String> = out
        .json_lines()
        .iter()
        .map(|p| p["identifier"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, ["CQUEST/0.6"], "the hidden CQUEST/0.5 is not listed");
}

#[test]
fn pipeline_shows_parameters_with_types_and_defaults() {
    let sb = sandbox();
    Test::new()
        .against(&sb, DEMO)
        .args(&["pipeline", "CQUEST/0.6"])
        .run()
        .code(0)
        .stdout_has("parameter_file")
        .stdout_has("List<File>")
        .stdout_has("iterations")
        .stdout_has("100");
    let out = Test::new()
        .against(&sb, DEMO)
        .args(&["--output", "json", "pipeline", "Hello/1.0"])
        .run();
    out.code(0);
    let p = &out.json_lines()[0];
    let params = p["parameters"].as_array().unwrap();
    let input = params.iter().find(|x| x["name"] == "input_file").unwrap();
    assert_eq!(input["type"], "File");
    assert_eq!(input["required"], true);
    let message = params.iter().find(|x| x["name"] == "message").unwrap();
    assert_eq!(message["required"], false);
    assert_eq!(message["default"], "Hello");
    Test::new()
        .against(&sb, DEMO)
        .args(&["pipeline", "CQEST/0.6"])
        .run()
        .code(2)
        .stderr_has("did you mean `CQUEST/0.6`?");
    Test::new()
        .against(&sb, DEMO)
        .args(&["pipeline", "FreeSurfer (recon-all)/7.3.1"])
        .run()
        .code(4)
        .stderr_has("join it in the VIP portal (My Account → Groups)");
}

#[test]
fn init_writes_a_manifest_that_validates() {
    let sb = sandbox();
    let t = Test::new()
        .against(&sb, DEMO)
        .args(&["init", "CQUEST/0.6", "-o", "study.yaml"]);
    t.run().code(0).stderr_has("wrote study.yaml");
    let text = std::fs::read_to_string(t.dir().join("study.yaml")).unwrap();
    assert!(text.contains("pipeline_id: \"CQUEST/0.6\""), "{text}");
    assert!(text.contains("group: \"CQUEST\""), "{text}");
    assert!(text.contains("# iterations: 100"), "{text}");
    // It validates offline as written, warning at each placeholder left in; the online
    // checks refuse them.
    Test::new()
        .file("study.yaml", &text)
        .args(&["validate", "study.yaml"])
        .run()
        .code(0)
        .stderr_has("warning: input `zipped_folder` still holds `init`'s `CHANGE-ME` placeholder");
    let online = Test::new()
        .file("study.yaml", &text)
        .against(&sb, DEMO)
        .args(&["validate", "--online", "study.yaml"])
        .run();
    online
        .code(3)
        .stderr_has("/vip/Home/CHANGE-ME/zipped_folder` does not exist on VIP");
    // It does not overwrite without --force.
    t.run().code(2).stderr_has("exists; add --force");
}

#[test]
fn online_validation_passes_for_a_good_manifest() {
    let sb = sandbox();
    let out = Test::new()
        .manifest(&hello("  repeat: 2\n  shout: true\n"))
        .file("in.txt", "hello\n")
        .against(&sb, DEMO)
        .args(&["validate", "--online", "study.yaml"])
        .run();
    out.code(0).stdout_has("key accepted, member of Demo");
}

#[test]
fn the_sandbox_flag_needs_no_account() {
    let out = Test::new()
        .manifest(HELLO)
        .file("in.txt", "hello\n")
        .args(&["--sandbox", "validate", "--online", "study.yaml"])
        .run();
    out.code(0)
        .stdout_has("api key     from environment variable VIP_API_KEY")
        .stdout_has("key accepted");
}

struct Case {
    name: &'static str,
    key: &'static str,
    manifest: String,
    code: i32,
    at: &'static str,
    message: &'static str,
    help: &'static str,
}

#[test]
fn every_preflight_failure_is_reported_in_the_users_terms() {
    let sb = sandbox();
    let cquest = "version: 1\nname: c\npipeline_id: CQUEST/0.6\ngroup: CQUEST\ninputs:\n  zipped_folder: in.txt\n  parameter_file: [in.txt]\n  data_file: [in.txt]\n".to_owned();
    let cases = vec![
        Case { name: "guest on a CQUEST manifest", key: GUEST, manifest: cquest.clone(), code: 4,
            at: "study.yaml:3:14", message: "you are not a member of group CQUEST, required by CQUEST/0.6",
            help: "join it in the VIP portal (My Account → Groups)" },
        Case { name: "FreeSurfer, no default user's group", key: DEMO,
            manifest: "version: 1\nname: f\npipeline_id: FreeSurfer (recon-all)/7.3.1\ngroup: FreeSurfer\n".into(), code: 4,
            at: "study.yaml:3:14", message: "you are not a member of group FreeSurfer, required by FreeSurfer (recon-all)/7.3.1",
            help: "join it in the VIP portal" },
        Case { name: "hidden pipeline", key: DEMO, manifest: cquest.replace("CQUEST/0.6", "CQUEST/0.5"), code: 3,
            at: "study.yaml:3:14", message: "pipeline `CQUEST/0.5` does not exist on", help: "did you mean `CQUEST/0.6`" },
        Case { name: "typo in a pipeline name", key: DEMO, manifest: HELLO.replace("Hello/1.0", "Helo/1.0"), code: 3,
            at: "study.yaml:3:14", message: "pipeline `Helo/1.0` does not exist", help: "did you mean `Hello/1.0`" },
        Case { name: "group typo", key: DEMO, manifest: HELLO.replace("group: Demo", "group: Demoo"), code: 4,
            at: "study.yaml:4:8", message: "you are not a member of group Demoo, which this manifest names for Hello/1.0", help: "did you mean `Demo`?" },
        // A group of the caller's that is not the pipeline's is not named as its requirement.
        Case { name: "a group of another pipeline", key: DEMO, manifest: HELLO.replace("group: Demo", "group: Neuro"), code: 4,
            at: "study.yaml:4:8", message: "you are not a member of group Neuro, which this manifest names for Hello/1.0", help: "set `group` to the application group of Hello/1.0" },
        Case { name: "unknown input name", key: DEMO, manifest: hello("  mesage: hi\n"), code: 3,
            at: "study.yaml:8:11", message: "`mesage` is not a parameter of Hello/1.0", help: "did you mean `message`?" },
        Case { name: "required input missing", key: DEMO,
            manifest: "version: 1\nname: h\npipeline_id: Hello/1.0\ngroup: Demo\ninputs:\n  message: hi\n".into(), code: 3,
            at: "study.yaml:3:14", message: "Hello/1.0 requires the input `input_file`", help: "add `input_file: …`" },
        Case { name: "integer expected", key: DEMO, manifest: hello("  repeat: lots\n"), code: 3,
            at: "study.yaml:8:11", message: "`repeat` expects a whole number, not `lots`", help: "" },
        Case { name: "boolean expected", key: DEMO, manifest: hello("  shout: loudly\n"), code: 3,
            at: "study.yaml:8:10", message: "`shout` expects true or false, not `loudly`", help: "" },
        Case { name: "file expected", key: DEMO, manifest: HELLO.replace("input_file: in.txt", "input_file: missing.txt"), code: 3,
            at: "study.yaml:6:15", message: "`input_file` expects a file, but `missing.txt` is neither", help: "local file" },
        Case { name: "VIP path missing", key: DEMO, manifest: HELLO.replace("input_file: in.txt", "input_file: /vip/Home/nothing/here.txt"), code: 3,
            at: "study.yaml:6:15", message: "`/vip/Home/nothing/here.txt` does not exist on VIP", help: "" },
        // A list for any parameter is one execution of several jobs: each element is typed,
        // and pointed at on its own.
        Case { name: "bad element of a list", key: DEMO, manifest: hello("  repeat: [1, x]\n"), code: 3,
            at: "study.yaml:8:15", message: "`repeat` expects a whole number, not `x` (element 2 of 2)", help: "whole number" },
    ];
    let mut failures = Vec::new();
    for case in cases {
        let out = Test::new()
            .manifest(&case.manifest)
            .file("in.txt", "hello\n")
            .against(&sb, case.key)
            .args(&["validate", "--online", "study.yaml"])
            .run();
        let ok = out.code == case.code
            && out.stderr.contains(case.at)
            && out.stderr.contains(case.message)
            && out.stderr.contains(case.help);
        if !ok {
            failures.push(format!(
                "--- {} (want exit {}, {}, {:?}, {:?}): exit {}\n{}",
                case.name, case.code, case.at, case.message, case.help, out.code, out.stderr
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn an_unreachable_server_exits_5() {
    // A port that was just free: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    Test::new()
        .env("VIP_API_KEY", DEMO)
        .args(&[
            "--server",
            &format!("http://127.0.0.1:{port}/rest"),
            "--connect-timeout",
            "1s",
            "--max-retries",
            "1",
            "whoami",
        ])
        .run()
        .code(5)
        .stderr_has("cannot connect to the server")
        .stderr_has("trying again in");
}

#[test]
fn plain_http_to_another_host_is_refused() {
    Test::new()
        .env("VIP_API_KEY", DEMO)
        .args(&["--server", "http://vip.example.org/rest", "whoami"])
        .run()
        .code(2)
        .stderr_has("refusing plain http to vip.example.org");
}

#[test]
fn verbose_shows_every_call_without_the_key() {
    let sb = sandbox();
    let out = Test::new()
        .against(&sb, DEMO)
        .args(&["-vv", "whoami"])
        .run();
    out.code(0)
        .stderr_has("GET /path/vip → 200")
        .stderr_has("GET /pipelines → 200");
    assert!(!out.stderr.contains(DEMO));
    let quiet = Test::new().against(&sb, DEMO).args(&["whoami"]).run();
    assert!(quiet.stderr.is_empty(), "{}", quiet.stderr);
}

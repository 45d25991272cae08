//! `vip-run.lock`: written by `lock` and by a first `run`, used by offline
//! `validate` with no key and no server, and compared with VIP's live descriptor before a run
//! uploads anything (`--update-lock`, `--locked`).

use std::time::Duration;

use crate::rules::bet;
use crate::support::{HEAD, SandboxHandle, Test};

const DEMO: &str = "sandbox-demo-key";

fn default_sandbox() -> SandboxHandle {
    SandboxHandle::quick(Duration::from_millis(200))
}

/// The default world where BET changed: `frac`'s maximum lowered, an input added.
fn changed_sandbox() -> SandboxHandle {
    let yaml = vip_run::sandbox::default_world_yaml().replace(
        "type: Number, minimum: 0, maximum: 1, optional: true, default-value: 0.5",
        "type: Number, minimum: 0, maximum: 0.9, optional: true, default-value: 0.5",
    );
    let yaml = yaml.replace(
        "        - { id: output_name, name: Output name,",
        "        - { id: bias_correction, name: Bias correction, type: Flag, optional: true, value-key: \"[BIAS]\" }\n        - { id: output_name, name: Output name,",
    );
    assert_ne!(yaml, vip_run::sandbox::default_world_yaml());
    let world = vip_run::sandbox::World::from_yaml(&yaml).unwrap();
    SandboxHandle::start(vip_run::sandbox::Config {
        world,
        exec_duration: Duration::from_millis(200),
        ..vip_run::sandbox::Config::default()
    })
}

fn launches(sb: &SandboxHandle) -> usize {
    sb.requests()
        .iter()
        .filter(|r| r.method == "POST" || r.method == "PUT")
        .count()
}

#[test]
fn a_committed_lock_lets_validate_catch_typos_and_bad_values_offline() {
    let sb = default_sandbox();
    let t = Test::new()
        .manifest(&bet("  frac: 0.3\n"))
        .file("t1.nii", "voxels\n")
        .env("VIP_API_KEY", DEMO);
    let out = t.run_with(&["--server", sb.url(), "lock", "study.yaml"]);
    out.code(0)
        .stdout_has("locked BET/1.0.0 for study.yaml in ");
    let text = std::fs::read_to_string(t.dir().join("vip-run.lock")).unwrap();
    for needle in [
        "\"pipeline_id\": \"BET/1.0.0\"",
        "\"sha256\": \"",
        "\"locked_on\": \"20",
        "\"maximum\": 1.0",
        "\"mutually-exclusive\": true",
        "\"identifier\": \"BET/1.0.0\"",
    ] {
        assert!(text.contains(needle), "{needle} not in\n{text}");
    }
    // Stable: locking again changes nothing.
    t.run_with(&["--server", sb.url(), "lock", "study.yaml"])
        .code(0)
        .stdout_has("unchanged BET/1.0.0");
    let again = std::fs::read_to_string(t.dir().join("vip-run.lock")).unwrap();
    assert_eq!(text, again);
    drop(sb);

    // Offline now: no key, no server (the sandbox is gone).
    let offline = |manifest: &str| {
        std::fs::write(t.dir().join("study.yaml"), manifest).unwrap();
        let mut cmd = assert_cmd::Command::cargo_bin("vip-run").unwrap();
        let out = cmd
            .current_dir(t.dir())
            .env_remove("VIP_API_KEY")
            .env("NO_COLOR", "1")
            .args(["validate", "study.yaml"])
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, stdout, stderr) = offline(&bet("  frac: 0.3\n"));
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("checked against the descriptor of BET/1.0.0 locked on 20"),
        "{stdout}"
    );
    let (code, _, stderr) = offline(&bet("  fracc: 0.3\n"));
    assert_eq!(code, 3, "{stderr}");
    assert!(
        stderr.contains("`fracc` is not a parameter of BET/1.0.0"),
        "{stderr}"
    );
    assert!(stderr.contains("did you mean `frac`?"), "{stderr}");
    assert!(stderr.contains("study.yaml:7:10"), "{stderr}");
    let (code, _, stderr) = offline(&bet("  frac: 1.5\n"));
    assert_eq!(code, 3, "{stderr}");
    assert!(
        stderr.contains("`frac` is 1.5, outside its range"),
        "{stderr}"
    );
    let (code, _, stderr) = offline(&bet("  center: [1, x, 3]\n"));
    assert_eq!(code, 3, "{stderr}");
    assert!(
        stderr.contains("`center` expects a whole number, not `x`"),
        "{stderr}"
    );
    let (code, _, stderr) = offline(&bet("  robust: true\n  eye_cleanup: true\n"));
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("mutually exclusive"), "{stderr}");
    // Without the lock, offline validation knows nothing of the pipeline, as before.
    std::fs::remove_file(t.dir().join("vip-run.lock")).unwrap();
    let (code, stdout, _) = offline(&bet("  frac: 1.5\n"));
    assert_eq!(code, 0);
    assert!(!stdout.contains("locked on"));
}

#[test]
fn run_writes_the_lock_then_stops_when_the_pipeline_changed() {
    let sb = default_sandbox();
    let t = Test::new()
        .manifest(&bet("  frac: 0.85\n"))
        .file("t1.nii", "voxels\n")
        .env("VIP_API_KEY", DEMO);
    // --locked with no lock: an error, nothing launched.
    let out = t.run_with(&["--server", sb.url(), "run", "--locked", "study.yaml"]);
    out.code(3).stderr_has("--locked forbids writing one");
    assert_eq!(launches(&sb), 0);
    assert!(!t.dir().join("vip-run.lock").exists());
    // A first run writes it, as cargo writes Cargo.lock.
    t.run_with(&["--server", sb.url(), "run", "study.yaml"])
        .code(0);
    assert!(t.dir().join("vip-run.lock").exists());
    drop(sb);

    // VIP's BET changed: frac's maximum is 0.9 now, and an input was added.
    let changed = changed_sandbox();
    let state_dir = t.dir().join("state2");
    let state = state_dir.to_str().unwrap();
    for extra in [&[][..], &["--locked"][..]] {
        let mut args = vec!["--server", changed.url(), "run", "--state-dir", state];
        args.extend_from_slice(extra);
        args.push("study.yaml");
        let out = t.run_with(&args);
        out.code(3)
            .stderr_has("BET/1.0.0 changed on VIP since it was locked on 20")
            .stderr_has("input `frac`: maximum 1.0 → 0.9")
            .stderr_has("input `bias_correction` (Boolean) was added")
            .stderr_has("--update-lock");
    }
    assert_eq!(launches(&changed), 0, "nothing may be uploaded or launched");
    // Accepting the change.
    let out = t.run_with(&[
        "--server",
        changed.url(),
        "run",
        "--state-dir",
        state,
        "--update-lock",
        "study.yaml",
    ]);
    out.code(0).stderr_has("the lock now holds the new");
    let text = std::fs::read_to_string(t.dir().join("vip-run.lock")).unwrap();
    assert!(text.contains("\"maximum\": 0.9"), "{text}");
    assert!(text.contains("bias_correction"), "{text}");
    // And the lock is current again: --locked passes; the new rule is checked too.
    t.run_with(&[
        "--server",
        changed.url(),
        "run",
        "--state-dir",
        state,
        "--locked",
        "study.yaml",
    ])
    .code(0);
    std::fs::write(t.dir().join("study.yaml"), bet("  frac: 0.95\n")).unwrap();
    t.run_with(&["validate", "study.yaml"])
        .code(3)
        .stderr_has("`frac` is 0.95, outside its range: it must be ≥ 0 and ≤ 0.9");
}

#[test]
fn a_sandbox_try_out_neither_writes_nor_checks_the_recipes_lock() {
    let t = Test::new()
        .manifest("version: 1\nname: study\npipeline_id: Hello/1.0\ngroup: Demo\ninputs:\n  input_file: in.txt\nexecution:\n  poll_interval: 1s\n")
        .file("in.txt", "hello\n");
    t.run_with(&["--sandbox", "study.yaml"]).code(0);
    assert!(
        !t.dir().join("vip-run.lock").exists(),
        "the sandbox's descriptor is not the recipe's"
    );
    // A lock that the sandbox's pipeline does not match does not stop a try-out either.
    std::fs::write(t.dir().join("vip-run.lock"), "{}\n").unwrap();
    t.run_with(&["--sandbox", "study.yaml"]).code(0);
    assert_eq!(
        std::fs::read_to_string(t.dir().join("vip-run.lock")).unwrap(),
        "{}\n"
    );
}

/// `validate --locked` (what the pre-commit lock check runs): a manifest without an entry in
/// its folder's lock, or with one for another pipeline, is invalid; with a current entry it
/// passes.
#[test]
fn validate_locked_refuses_a_stale_lock() {
    let t = Test::new()
        .manifest(&format!(
            "{HEAD}inputs:\n  input_file: in.txt\n  message: hi\n"
        ))
        .file("in.txt", "x\n");
    t.run_with(&["validate", "--locked", "study.yaml"])
        .code(3)
        .stderr_has("has no entry in its folder's vip-run.lock");
    t.run_with(&["--sandbox", "lock", "study.yaml"]).code(0);
    t.run_with(&["validate", "--locked", "study.yaml"]).code(0);
    let other = std::fs::read_to_string(t.dir().join("study.yaml"))
        .unwrap()
        .replace("Hello/1.0", "Hello/2.0");
    std::fs::write(t.dir().join("study.yaml"), other).unwrap();
    t.run_with(&["validate", "--locked", "study.yaml"])
        .code(3)
        .stderr_has("the lock is stale");
}

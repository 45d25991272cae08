//! `vip-run systemd`: the `.service` and `.timer` for a manifest, their content as written
//! (snapshot), checked by `systemd-analyze verify` where it exists, and the key file's checks.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::Command;

use crate::support::Test;

const MANIFEST: &str = "version: 1\nname: study\npipeline_id: Hello/1.0\ngroup: Demo\napi_key: { file: vip.key }\ninputs:\n  input_file: in.txt\n  message: hi\n";

fn recipe(mode: u32) -> Test {
    let t = Test::new()
        .manifest(MANIFEST)
        .file("in.txt", "x")
        .file("vip.key", "k3y\n");
    std::fs::set_permissions(
        t.dir().join("vip.key"),
        std::fs::Permissions::from_mode(mode),
    )
    .unwrap();
    t
}

/// `text` with this test's own paths named.
fn redact(text: &str, dir: &Path) -> String {
    let exe = env!("CARGO_BIN_EXE_vip-run");
    let dir = std::fs::canonicalize(dir).unwrap();
    text.replace(exe, "[vip-run]")
        .replace(&dir.display().to_string(), "[dir]")
        .replace(env!("CARGO_PKG_VERSION"), "[version]")
}

#[test]
fn writes_a_oneshot_service_and_a_persistent_timer() {
    let t = recipe(0o600);
    let dir = std::fs::canonicalize(t.dir()).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_vip-run"))
        .current_dir(&dir)
        .args(["systemd", "study.yaml", "--on-calendar", "*-*-* 02:00"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("wrote ./vip-run-study.service"), "{stdout}");
    assert!(
        stdout.contains("systemctl --user enable --now vip-run-study.timer"),
        "{stdout}"
    );
    let service = std::fs::read_to_string(dir.join("vip-run-study.service")).unwrap();
    let timer = std::fs::read_to_string(dir.join("vip-run-study.timer")).unwrap();
    insta::assert_snapshot!(redact(&service, &dir), @r"
    # Written by vip-run [version] for [dir]/study.yaml; `vip-run systemd` writes it again.
    [Unit]
    Description=vip-run: study (Hello/1.0)
    Documentation=man:vip-run(1)
    Wants=network-online.target
    After=network-online.target

    [Service]
    Type=oneshot
    WorkingDirectory=[dir]
    LoadCredential=vip-api-key:[dir]/vip.key
    ExecStart=[vip-run] --progress plain --api-key-file ${CREDENTIALS_DIRECTORY}/vip-api-key run --if-running skip [dir]/study.yaml
    TimeoutStartSec=infinity
    TimeoutStopSec=2min
    Nice=10
    CPUSchedulingPolicy=batch
    IOSchedulingClass=idle
    ");
    insta::assert_snapshot!(redact(&timer, &dir), @r"
    # Written by vip-run [version] for [dir]/study.yaml; `vip-run systemd` writes it again.
    [Unit]
    Description=vip-run: study on a schedule

    [Timer]
    OnCalendar=*-*-* 02:00
    Persistent=true
    RandomizedDelaySec=600
    Unit=vip-run-study.service

    [Install]
    WantedBy=timers.target
    ");
    assert!(
        !service.contains("k3y") && !timer.contains("k3y"),
        "the key itself is never written"
    );

    // systemd's own check, where systemd is installed.
    let analyze = Command::new("systemd-analyze").arg("--version").output();
    match analyze {
        Ok(o) if o.status.success() => {
            let verify = Command::new("systemd-analyze")
                .args(["verify", "--man=no"])
                .arg(dir.join("vip-run-study.service"))
                .arg(dir.join("vip-run-study.timer"))
                .env("SYSTEMD_LOG_LEVEL", "warning")
                .output()
                .unwrap();
            let said = format!(
                "{}{}",
                String::from_utf8_lossy(&verify.stdout),
                String::from_utf8_lossy(&verify.stderr)
            );
            // Lines about the host's own units (a container's missing ones) are not ours.
            let ours: Vec<&str> = said
                .lines()
                .filter(|l| l.contains("vip-run-study"))
                .collect();
            assert!(
                verify.status.success() && ours.is_empty(),
                "systemd-analyze verify:\n{said}"
            );
        }
        _ => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "systemd-analyze is missing under CI: .ci/run installs systemd"
            );
            println!("skipped: systemd-analyze is not installed");
        }
    }
}

#[test]
fn the_key_file_must_be_private_and_known() {
    let t = recipe(0o644);
    t.run_with(&["systemd", "study.yaml"])
        .code(4)
        .stderr_has("is open to other users of this machine (mode 0644)")
        .stderr_has("chmod 600");
    assert!(!t.dir().join("vip-run-study.service").exists());
    let env_key = Test::new()
        .manifest(&MANIFEST.replace("api_key: { file: vip.key }\n", ""))
        .file("in.txt", "x");
    env_key
        .run_with(&["systemd", "study.yaml"])
        .code(2)
        .stderr_has("--key-file PATH");
    let out_dir = env_key.dir().join("units");
    std::fs::create_dir(&out_dir).unwrap();
    std::fs::write(env_key.dir().join("k"), "k3y").unwrap();
    std::fs::set_permissions(
        env_key.dir().join("k"),
        std::fs::Permissions::from_mode(0o400),
    )
    .unwrap();
    env_key
        .run_with(&["systemd", "study.yaml", "--key-file", "k", "--dir", "units"])
        .code(0);
    let service = std::fs::read_to_string(out_dir.join("vip-run-study.service")).unwrap();
    assert!(
        service.contains(&format!(
            "LoadCredential=vip-api-key:{}",
            std::fs::canonicalize(env_key.dir())
                .unwrap()
                .join("k")
                .display()
        )) || service.contains("LoadCredential=vip-api-key:"),
        "{service}"
    );
}

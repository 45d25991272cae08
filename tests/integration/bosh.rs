//! The verdict agrees with Boutiques' own invocation validator: a table of
//! invocations of the sandbox's `BET/1.0.0` and `Denoise/2.1` is checked by `bosh invocation`
//! (boutiques from `PyPI`, in a throwaway venv) and by the real `vip-run validate`, offline
//! against a `vip-run.lock`; a manifest is refused exactly when bosh refuses the invocation,
//! except for the documented list-length rule, where vip-run warns (VIP iterates over lists).
//! Skips, saying why, when Python or the package registry is not available.

use std::fmt::Write as _;
use std::process::Command;

use serde_json::{Value, json};

use crate::python_client::{output_text, python_with};
use crate::support::{SandboxHandle, Test};

const BOUTIQUES: &str = "boutiques==0.5.33";

/// `(pipeline, invocation, vip-run differs on purpose)`.
fn table() -> Vec<(&'static str, Value, bool)> {
    let bet = "BET/1.0.0";
    let dn = "Denoise/2.1";
    vec![
        (bet, json!({"in_file": "t1.nii"}), false),
        (bet, json!({"in_file": "t1.nii", "frac": 0.3}), false),
        (bet, json!({"in_file": "t1.nii", "frac": 1}), false),
        (bet, json!({"in_file": "t1.nii", "frac": 1.5}), false),
        (bet, json!({"in_file": "t1.nii", "frac": -0.1}), false),
        (bet, json!({"in_file": "t1.nii", "frac": "high"}), false),
        (
            bet,
            json!({"in_file": "t1.nii", "vertical_gradient": -1}),
            false,
        ),
        (
            bet,
            json!({"in_file": "t1.nii", "vertical_gradient": 1}),
            false,
        ),
        (
            bet,
            json!({"in_file": "t1.nii", "vertical_gradient": -0.99}),
            false,
        ),
        (
            bet,
            json!({"in_file": "t1.nii", "center": [10, 20, 30]}),
            false,
        ),
        (
            bet,
            json!({"in_file": "t1.nii", "center": [10, 2.5, 30]}),
            false,
        ),
        (bet, json!({"in_file": "t1.nii", "center": [10, 20]}), true),
        (bet, json!({"in_file": "t1.nii", "robust": true}), false),
        (
            bet,
            json!({"in_file": "t1.nii", "robust": true, "eye_cleanup": false}),
            false,
        ),
        (
            bet,
            json!({"in_file": "t1.nii", "robust": true, "surfaces": true}),
            false,
        ),
        (
            bet,
            json!({"in_file": "t1.nii", "eye_cleanup": true, "surfaces": true}),
            false,
        ),
        (bet, json!({"frac": 0.3}), false),
        (bet, json!({"in_file": "t1.nii", "fraction": 0.3}), false),
        (
            dn,
            json!({"input_file": "t1.nii", "estimate_noise": true}),
            false,
        ),
        (
            dn,
            json!({"input_file": "t1.nii", "noise_level": 0.2}),
            false,
        ),
        (dn, json!({"input_file": "t1.nii", "noise_level": 0}), false),
        (dn, json!({"input_file": "t1.nii"}), false),
        (
            dn,
            json!({"input_file": "t1.nii", "estimate_noise": false}),
            false,
        ),
        (
            dn,
            json!({"input_file": "t1.nii", "estimate_noise": true, "method": "median"}),
            false,
        ),
        (
            dn,
            json!({"input_file": "t1.nii", "estimate_noise": true, "method": "bilateral"}),
            false,
        ),
        (
            dn,
            json!({"input_file": "t1.nii", "estimate_noise": true, "patch_size": 3}),
            false,
        ),
        (
            dn,
            json!({"input_file": "t1.nii", "estimate_noise": true, "patch_size": 3, "method": "nlmeans"}),
            false,
        ),
        (
            dn,
            json!({"input_file": "t1.nii", "estimate_noise": true, "patch_size": 10, "method": "nlmeans"}),
            false,
        ),
        (
            dn,
            json!({"input_file": "t1.nii", "estimate_noise": true, "patch_size": 2.5, "method": "nlmeans"}),
            false,
        ),
        (
            dn,
            json!({"input_file": "t1.nii", "estimate_noise": true, "mask": "t1.nii", "auto_mask": true}),
            false,
        ),
        (
            dn,
            json!({"input_file": "t1.nii", "estimate_noise": true, "mask": "t1.nii", "auto_mask": false}),
            false,
        ),
        (
            dn,
            json!({"input_file": "t1.nii", "estimate_noise": true, "auto_mask": true}),
            false,
        ),
        (
            dn,
            json!({"input_file": "t1.nii", "estimate_noise": true, "atlas_image": "t1.nii"}),
            false,
        ),
        (
            dn,
            json!({"input_file": "t1.nii", "noise_level": 0.1, "estimate_noise": true, "atlas_image": "t1.nii", "atlas_labels": "t1.nii"}),
            false,
        ),
    ]
}

fn manifest(pipeline: &str, invocation: &Value) -> String {
    // JSON values are YAML flow values: the manifest says exactly what the invocation says.
    let mut inputs = String::new();
    for (k, v) in invocation.as_object().unwrap() {
        let _ = writeln!(inputs, "  {k}: {v}");
    }
    format!("version: 1\nname: b\npipeline_id: {pipeline}\ngroup: Demo\ninputs:\n{inputs}")
}

#[test]
fn verdicts_agree_with_bosh_invocation() {
    let tmp = tempfile::tempdir().unwrap();
    let python = match python_with(BOUTIQUES, tmp.path()) {
        Ok(p) => p,
        Err(why) => {
            eprintln!("skipped: bosh cannot be compared with: {why}");
            return;
        }
    };

    // One folder per pipeline, each with its manifest locked against the sandbox.
    let world = vip_run::sandbox::default_world();
    let sb = SandboxHandle::quick(std::time::Duration::from_millis(200));
    let t = Test::new().env("VIP_API_KEY", vip_run::sandbox::DEMO_KEY);
    for id in ["BET/1.0.0", "Denoise/2.1"] {
        let folder = t.dir().join(id.replace('/', "-"));
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(folder.join("t1.nii"), "voxels\n").unwrap();
        let descriptor = &world.pipeline(id).unwrap().descriptor;
        std::fs::write(folder.join("descriptor.json"), descriptor.to_string()).unwrap();
        let first = table().into_iter().find(|c| c.0 == id).unwrap().1;
        std::fs::write(folder.join("study.yaml"), manifest(id, &first)).unwrap();
        let study = folder.join("study.yaml");
        t.run_with(&["--server", sb.url(), "lock", study.to_str().unwrap()])
            .code(0);
    }
    drop(sb);

    // bosh's own `invocation` command, in one Python process for the whole table (a process
    // per invocation costs a second each).
    let cases = table();
    let mut jobs = Vec::new();
    for (n, (id, invocation, _)) in cases.iter().enumerate() {
        let folder = t.dir().join(id.replace('/', "-"));
        let inv = folder.join(format!("invocation-{n}.json"));
        std::fs::write(&inv, invocation.to_string()).unwrap();
        jobs.push(json!([inv, folder.join("descriptor.json")]));
    }
    let script = "import json, sys\nfrom boutiques import bosh\nfor inv, desc in json.load(sys.stdin):\n    try:\n        bosh(['invocation', '-i', inv, desc])\n        print('accepts')\n    except Exception as e:\n        print('refuses', type(e).__name__, str(e).splitlines()[0] if str(e) else '')\n";
    let mut child = Command::new(&python)
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(
        child.stdin.as_mut().unwrap(),
        Value::Array(jobs).to_string().as_bytes(),
    )
    .unwrap();
    drop(child.stdin.take());
    let by_bosh = child.wait_with_output().unwrap();
    let verdicts: Vec<String> = String::from_utf8_lossy(&by_bosh.stdout)
        .lines()
        .filter(|l| l.starts_with("accepts") || l.starts_with("refuses"))
        .map(str::to_owned)
        .collect();
    assert_eq!(verdicts.len(), cases.len(), "{}", output_text(&by_bosh));

    let mut disagreements = Vec::new();
    for ((id, invocation, differs), verdict) in cases.into_iter().zip(&verdicts) {
        let folder = t.dir().join(id.replace('/', "-"));
        std::fs::write(folder.join("study.yaml"), manifest(id, &invocation)).unwrap();
        let ours = t.run_with(&["validate", folder.join("study.yaml").to_str().unwrap()]);
        assert!(
            ours.code == 0 || ours.code == 3,
            "{id} {invocation}: exit {}\n{}",
            ours.code,
            ours.stderr
        );
        assert!(ours.code != 0 || ours.stdout.contains("checked against the descriptor"));
        let bosh_accepts = verdict == "accepts";
        let we_accept = ours.code == 0;
        let agree = if differs {
            !bosh_accepts && we_accept && ours.stderr.contains("warning")
        } else {
            bosh_accepts == we_accept
        };
        if !agree {
            disagreements.push(format!(
                "{id} {invocation}: bosh {verdict}, vip-run exit {}\nvip-run: {}",
                ours.code, ours.stderr
            ));
        }
    }
    assert!(
        disagreements.is_empty(),
        "{}",
        disagreements.join("\n---\n")
    );
}

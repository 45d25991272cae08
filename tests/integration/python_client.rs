//! The compatibility test: VIP's own Python client (`vip-client` 0.1.10, from `PyPI`,
//! unchanged) runs a whole `VipSession` against the sandbox
//! (`tests/python/vipsession_roundtrip.py`). It
//! skips, saying why, when Python or the package registry is not available.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use vip_run::sandbox::{Config, DEMO_KEY, Sandbox};

const VIP_CLIENT: &str = "vip-client==0.1.10";

pub(crate) use crate::python_env::{find_python, output_text, python_with, venv_python};

#[test]
fn vip_client_runs_a_whole_session_against_the_sandbox() {
    let tmp = tempfile::tempdir().unwrap();
    let python = match python_with(VIP_CLIENT, tmp.path()) {
        Ok(p) => p,
        Err(why) => {
            eprintln!("skipped: vip-client cannot be tried against the sandbox: {why}");
            return;
        }
    };

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let config = Config {
        exec_duration: Duration::from_millis(1500),
        ..Config::default()
    };
    let sandbox = runtime
        .block_on(Sandbox::start(config, ([127, 0, 0, 1], 0).into()))
        .unwrap();
    let portal = sandbox.base_url().trim_end_matches("/rest").to_owned();
    let work = tmp.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/vipsession_roundtrip.py");
    let out = Command::new(&python)
        .arg(&script)
        .arg(&portal)
        .arg(&work)
        .current_dir(&work)
        .env("VIP_API_KEY", DEMO_KEY)
        .env("PYTHONUNBUFFERED", "1")
        .output()
        .unwrap();
    let requests = sandbox.requests();
    runtime.block_on(sandbox.shutdown());
    let text = output_text(&out);
    assert!(
        out.status.success(),
        "the VipSession failed against the sandbox\n{text}"
    );
    assert!(text.contains("ROUNDTRIP OK"), "{text}");

    // The outputs are on disk, extracted into folders named after the archives.
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(work.join("report.json")).unwrap()).unwrap();
    let extracted = report["extracted"].as_array().unwrap();
    assert_eq!(extracted.len(), 2, "{report}");
    for (job, rel) in extracted.iter().enumerate() {
        let rel = rel.as_str().unwrap();
        assert!(
            rel.ends_with(&format!("{:03}/results.tgz/quantification.csv", job + 1)),
            "{rel}"
        );
        let csv = std::fs::read_to_string(work.join("outputs").join(rel)).unwrap();
        assert!(
            csv.starts_with("Metabolite,Concentration (mM),CRLB (%)\nNAA,"),
            "{csv}"
        );
        let fit = work
            .join("outputs")
            .join(rel.replace("quantification.csv", "fit.txt"));
        assert!(
            std::fs::read_to_string(fit)
                .unwrap()
                .contains("status: converged")
        );
    }
    assert!(work.join("outputs/session_data.json").exists());

    // What it sent: the key check, one launch, the uploads; never the key in the log.
    let count = |method: &str, path: &str| {
        requests
            .iter()
            .filter(|r| r.method == method && r.path == path)
            .count()
    };
    assert!(count("PUT", "/rest/platform") >= 1);
    assert_eq!(count("POST", "/rest/executions"), 1);
    let uploads = requests
        .iter()
        .filter(|r| r.method == "PUT" && r.path.starts_with("/rest/path/") && r.body_len > 0)
        .count();
    assert_eq!(uploads, 5);
    assert!(
        requests
            .iter()
            .all(|r| !format!("{r:?}").contains(DEMO_KEY))
    );
}

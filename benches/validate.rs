//! Figures for the README: offline validation of a 10,000-item matrix (target: under 200 ms),
//! without and with a `vip-run.lock` (every input of every item then checked against the
//! locked descriptor's parameters and Boutiques rules), and start-up time (target: under 20 ms). A benchmark that prints figures, not a test: run
//! it with `cargo bench --bench validate`.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use vip_run::manifest::{self, LoadOptions};

/// A realistic 100 × 100 sweep: templated inputs, a local file, per-item download folders.
fn write_manifest(dir: &Path) -> std::path::PathBuf {
    std::fs::write(dir.join("basis.zip"), b"PK\x03\x04 placeholder").unwrap();
    let mut text = String::from(
        "version: 1\nname: bench\npipeline_id: CQUEST/0.6\ngroup: CQUEST\nvars:\n  cohort: 2025\nmatrix:\n",
    );
    let subjects: Vec<String> = (0..100).map(|i| format!("sub-{i:03}")).collect();
    let echoes: Vec<String> = (0..100).map(|i| (20 + i).to_string()).collect();
    let _ = writeln!(text, "  subject: [{}]", subjects.join(", "));
    let _ = writeln!(text, "  echo_time: [{}]", echoes.join(", "));
    text.push_str(
        "inputs:\n  zipped_folder: basis.zip\n  parameter_file: /vip/Home/params/te{{ echo_time }}.txt\n  data_file: \"/vip/Home/data/{{ cohort }}/{{ subject }}/signal.mrui\"\n  iterations: 200\n  verbose: true\nresults:\n  download: results/{{ subject }}/te{{ echo_time }}\n",
    );
    let path = dir.join("bench.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

#[allow(clippy::cast_precision_loss)] // figures for display
fn main() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_manifest(dir.path());
    let options = LoadOptions::default();
    let rss_before = peak_rss_kib();

    let mut in_process = Vec::new();
    for _ in 0..10 {
        let start = Instant::now();
        let validated = manifest::load(&path, &options).expect("the benchmark manifest is valid");
        in_process.push(start.elapsed());
        assert_eq!(validated.items.len(), 10_000);
    }
    let rss_after = peak_rss_kib();

    let exe = env!("CARGO_BIN_EXE_vip-run");
    let mut whole = Vec::new();
    for _ in 0..10 {
        let start = Instant::now();
        let status = Command::new(exe)
            .args(["validate", "-q"])
            .arg(&path)
            .status()
            .unwrap();
        whole.push(start.elapsed());
        assert!(status.success());
    }
    let mut startup = Vec::new();
    for _ in 0..20 {
        let start = Instant::now();
        let status = Command::new(exe).arg("--version").output().unwrap();
        startup.push(start.elapsed());
        assert!(status.status.success());
    }

    println!("validate, 10,000-item matrix (median of 10):");
    println!(
        "  in process      {:>8.1} ms",
        median(in_process).as_secs_f64() * 1e3
    );
    println!(
        "  whole command   {:>8.1} ms   (target: < 200 ms)",
        median(whole).as_secs_f64() * 1e3
    );
    if let (Some(before), Some(after)) = (rss_before, rss_after) {
        println!(
            "  peak memory     {:>8.1} MiB  (process peak RSS; {:.1} MiB before)",
            after as f64 / 1024.0,
            before as f64 / 1024.0
        );
    }
    let locked = against_a_lock(exe, &path);
    println!(
        "  against a lock  {:>8.1} ms   (target: < 200 ms; whole command, every rule checked)",
        locked.as_secs_f64() * 1e3
    );
    println!("start-up, `vip-run --version` (median of 20):");
    println!(
        "  whole command   {:>8.1} ms   (target: < 20 ms)",
        median(startup).as_secs_f64() * 1e3
    );
}

/// Locks `path` against the sandbox, then times offline `validate` (median of 10).
fn against_a_lock(exe: &str, path: &Path) -> Duration {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let sandbox = runtime
        .block_on(vip_run::sandbox::Sandbox::start(
            vip_run::sandbox::Config::default(),
            ([127, 0, 0, 1], 0).into(),
        ))
        .unwrap();
    let locked = Command::new(exe)
        .args(["-q", "--server", &sandbox.base_url(), "lock"])
        .arg(path)
        .env("VIP_API_KEY", vip_run::sandbox::DEMO_KEY)
        .status()
        .unwrap();
    assert!(locked.success());
    runtime.block_on(sandbox.shutdown());
    let mut samples = Vec::new();
    for _ in 0..10 {
        let start = Instant::now();
        let out = Command::new(exe)
            .arg("validate")
            .arg(path)
            .output()
            .unwrap();
        samples.push(start.elapsed());
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("checked against the descriptor"),
            "the lock was used"
        );
    }
    median(samples)
}

//! Figures for the run's performance targets (design.md), printed, not asserted:
//!
//! - launching and monitoring 1,000 items: wall time against the floor set by the
//!   simulator's execution time and `max_parallel`, and the polling requests per cycle;
//! - streaming a 2 GiB file up and down: peak memory of the vip-run process and
//!   throughput against curl's on the same loopback sandbox.
//!
//! Run with `cargo bench --bench run` (`VIP_RUN_BENCH_GIB=1` for a smaller file).

use std::io::{BufRead, BufReader, Write as _};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use vip_run::sandbox::{Config, DEMO_KEY, Sandbox};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Runs `vip-run` with `args` under GNU time; returns (wall time, peak RSS in KiB, success).
fn timed_vip_run(dir: &Path, args: &[&str]) -> (Duration, Option<u64>, bool) {
    let exe = env!("CARGO_BIN_EXE_vip-run");
    let start = Instant::now();
    let out = Command::new("/usr/bin/time")
        .arg("-v")
        .arg(exe)
        .args(args)
        .current_dir(dir)
        .env("VIP_API_KEY", DEMO_KEY)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .expect("GNU time runs");
    let elapsed = start.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let rss = stderr
        .lines()
        .find_map(|l| l.trim().strip_prefix("Maximum resident set size (kbytes):"))
        .and_then(|v| v.trim().parse().ok());
    if !out.status.success() {
        eprintln!("{stderr}");
    }
    (elapsed, rss, out.status.success())
}

/// curl with `args`, its output written to `out` and flushed to disk (as vip-run does
/// before it renames a download into place), timed.
fn curl(out: &Path, args: &[&str]) -> Duration {
    let start = Instant::now();
    let status = Command::new("curl")
        .args(["-sS", "-f", "-o"])
        .arg(out)
        .args(args)
        .status()
        .expect("curl runs");
    assert!(status.success(), "curl {args:?}");
    if out.exists() {
        std::fs::File::open(out).and_then(|f| f.sync_all()).unwrap();
    }
    start.elapsed()
}

fn many_items(rt: &tokio::runtime::Runtime) {
    const ITEMS: usize = 1000;
    const PARALLEL: usize = 50;
    let exec = Duration::from_secs(3);
    let sandbox = rt
        .block_on(Sandbox::start(
            Config {
                exec_duration: exec,
                quota: Some(u32::try_from(PARALLEL).unwrap()),
                platform_max: 10_000,
                ..Config::default()
            },
            ([127, 0, 0, 1], 0).into(),
        ))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("in.txt"), "hello\n").unwrap();
    let subjects: Vec<String> = (0..ITEMS).map(|i| format!("s{i:04}")).collect();
    let manifest = format!(
        "version: 1\nname: many\npipeline_id: Hello/1.0\ngroup: Demo\nmatrix:\n  subject: [{}]\ninputs:\n  input_file: in.txt\n  message: \"{{{{ subject }}}}\"\nresults:\n  download: false\nexecution:\n  max_parallel: {PARALLEL}\n  poll_interval: 30s\n",
        subjects.join(", ")
    );
    std::fs::write(dir.path().join("many.yaml"), manifest).unwrap();
    let (elapsed, rss, ok) = timed_vip_run(
        dir.path(),
        &[
            "--server",
            &sandbox.base_url(),
            "--progress",
            "none",
            "many.yaml",
        ],
    );
    assert!(ok, "the 1,000-item run succeeds");
    let requests = sandbox.requests();
    let lists = requests
        .iter()
        .filter(|r| r.method == "GET" && r.path.ends_with("/executions") && r.query.is_some())
        .count();
    let singles = requests
        .iter()
        .filter(|r| r.method == "GET" && r.path.contains("/executions/workflow-"))
        .count();
    let posts = requests.iter().filter(|r| r.method == "POST").count();
    #[allow(clippy::cast_precision_loss)]
    let floor = exec.as_secs_f64() * (ITEMS as f64 / PARALLEL as f64).ceil();
    println!(
        "launch and monitor {ITEMS} items, max_parallel {PARALLEL}, executions of {}s:",
        exec.as_secs()
    );
    println!(
        "  wall time        {:>8.1} s   (floor {floor:.1} s: ratio {:.2}, target ≤ 1.2)",
        elapsed.as_secs_f64(),
        elapsed.as_secs_f64() / floor
    );
    println!("  launches         {posts:>8}     (one per item)");
    println!("  list polls       {lists:>8}     (each covers up to 500 executions)");
    println!("  execution GETs   {singles:>8}     (one per item when it ends, for its jobs)");
    if let Some(kib) = rss {
        #[allow(clippy::cast_precision_loss)]
        let mib = kib as f64 / 1024.0;
        println!("  peak memory      {mib:>8.1} MiB");
    }
    rt.block_on(sandbox.shutdown());
}

fn transfers(rt: &tokio::runtime::Runtime) {
    let gib: u64 = std::env::var("VIP_RUN_BENCH_GIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2);
    let size = gib * 1024 * 1024 * 1024;
    let sandbox = rt
        .block_on(Sandbox::start(
            Config {
                exec_duration: Duration::from_millis(100),
                max_size_direct_transfer: u64::MAX,
                ..Config::default()
            },
            ([127, 0, 0, 1], 0).into(),
        ))
        .unwrap();
    let base = sandbox.base_url();
    let dir = tempfile::tempdir().unwrap();
    // Real bytes (not a sparse file), so neither side can take a shortcut.
    let big = dir.path().join("big.bin");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&big).unwrap());
        let block: Vec<u8> = (0..1_048_576u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
            .collect();
        for _ in 0..size / 1_048_576 {
            f.write_all(&block).unwrap();
        }
    }
    // vip-run's own upload and download, as a run does them: a one-item manifest whose
    // input is the big file, run with --detach (upload + launch), then the file fetched back
    // with the client through `vip-run`-equivalent streaming (measured in the bench process).
    let manifest = "version: 1\nname: big\npipeline_id: Hello/1.0\ngroup: Demo\ninputs:\n  input_file: big.bin\nresults:\n  download: false\n";
    std::fs::write(dir.path().join("big.yaml"), manifest).unwrap();
    let (up, up_rss, ok) = timed_vip_run(
        dir.path(),
        &[
            "--server",
            &base,
            "--progress",
            "none",
            "--detach",
            "big.yaml",
        ],
    );
    assert!(ok, "the upload run succeeds");
    let remote = "/vip/Home/vip-run/big/inputs/big.bin";
    let client = vip_run::vip::Client::new(
        &vip_run::vip::ClientConfig::new(&base),
        &secrecy::SecretString::from(DEMO_KEY),
    )
    .unwrap();
    let start = Instant::now();
    rt.block_on(client.upload(&big, "/vip/Home/client-big.bin"))
        .unwrap();
    let up_client = start.elapsed();
    let url = |path: &str, query: &str| format!("{base}/path{path}{query}");
    let curl_up = curl(
        &dir.path().join("curl-up.out"),
        &[
            "-H",
            &format!("apikey: {DEMO_KEY}"),
            "-T",
            big.to_str().unwrap(),
            &url("/vip/Home/curl-big.bin", ""),
        ],
    );
    let curl_down = curl(
        &dir.path().join("curl-down.bin"),
        &[
            "-H",
            &format!("apikey: {DEMO_KEY}"),
            &url(remote, "?action=content"),
        ],
    );
    // The download side: `vip-run download` of a finished run makes the same call.
    let back = dir.path().join("back.bin");
    let start = Instant::now();
    let got = rt.block_on(client.download(remote, &back)).unwrap();
    let down = start.elapsed();
    assert_eq!(got, size);
    #[allow(clippy::cast_precision_loss)]
    let rate = |d: Duration| size as f64 / d.as_secs_f64() / 1e6;
    println!("streaming a {gib} GiB file over loopback:");
    println!(
        "  upload (client)    {:>7.0} MB/s   curl {:>7.0} MB/s   ratio {:.2} (target ≥ 0.8)",
        rate(up_client),
        rate(curl_up),
        curl_up.as_secs_f64() / up_client.as_secs_f64()
    );
    println!(
        "  whole `vip-run --detach` (pre-flight, SHA-256 of the file, upload, launch): {:.1} s",
        up.as_secs_f64()
    );
    println!(
        "  download (client)  {:>7.0} MB/s   curl {:>7.0} MB/s   ratio {:.2} (target ≥ 0.8)",
        rate(down),
        rate(curl_down),
        curl_down.as_secs_f64() / down.as_secs_f64()
    );
    if let Some(kib) = up_rss {
        #[allow(clippy::cast_precision_loss)]
        let mib = kib as f64 / 1024.0;
        println!("  peak memory of the uploading vip-run process: {mib:.1} MiB (target < 64 MiB)");
    }
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    if let Some(hwm) = BufReader::new(status.as_bytes())
        .lines()
        .map_while(Result::ok)
        .find_map(|l| l.strip_prefix("VmHWM:").map(|v| v.trim().to_owned()))
    {
        println!("  peak memory of this bench process (sandbox and downloading client): {hwm}");
    }
    rt.block_on(sandbox.shutdown());
}

fn main() {
    let rt = runtime();
    many_items(&rt);
    transfers(&rt);
}

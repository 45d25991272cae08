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
/// `VIP_RUN_BENCH_EXE` runs another build instead (an earlier release, for a before/after).
fn timed_vip_run(dir: &Path, args: &[&str]) -> (Duration, Option<u64>, bool) {
    let exe =
        std::env::var("VIP_RUN_BENCH_EXE").unwrap_or_else(|_| env!("CARGO_BIN_EXE_vip-run").into());
    let start = Instant::now();
    let out = Command::new("/usr/bin/time")
        .arg("-v")
        .arg(exe)
        .args(args)
        .current_dir(dir)
        .env("VIP_API_KEY", DEMO_KEY)
        .env("VIP_RUN_STATE_HOME", dir.join(".state-home"))
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
    println!(
        "  execution GETs   {singles:>8}     (one per item when it ends, for its jobs; and the watchdog's, at most 8 every 30 s)"
    );
    if let Some(kib) = rss {
        #[allow(clippy::cast_precision_loss)]
        let mib = kib as f64 / 1024.0;
        println!("  peak memory      {mib:>8.1} MiB");
    }
    rt.block_on(sandbox.shutdown());
}

/// A re-run of a 1,000-item manifest whose items each have a local file of their own, once
/// every item is done: what it costs to find out there is nothing to do (each input's
/// content is part of its item's identity, known from the hash cache while the file's size
/// and time are unchanged), and the same after every file was touched (each one read again).
fn rerun_many(rt: &tokio::runtime::Runtime) {
    const ITEMS: usize = 1000;
    const REPEATS: usize = 3;
    let sandbox = rt
        .block_on(Sandbox::start(
            Config {
                exec_duration: Duration::from_millis(100),
                quota: Some(100),
                platform_max: 10_000,
                ..Config::default()
            },
            ([127, 0, 0, 1], 0).into(),
        ))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    let block: Vec<u8> = (0..256 * 1024u32).map(|i| (i % 251) as u8).collect();
    let subjects: Vec<String> = (0..ITEMS).map(|i| format!("s{i:04}")).collect();
    for s in &subjects {
        let mut bytes = block.clone();
        bytes.extend_from_slice(s.as_bytes());
        std::fs::write(dir.path().join(format!("data/{s}.bin")), bytes).unwrap();
    }
    let manifest = format!(
        "version: 1\nname: again\npipeline_id: Hello/1.0\ngroup: Demo\nmatrix:\n  subject: [{}]\ninputs:\n  input_file: data/{{{{ subject }}}}.bin\n  message: \"{{{{ subject }}}}\"\nresults:\n  download: false\nexecution:\n  max_parallel: 100\n  poll_interval: 1s\n",
        subjects.join(", ")
    );
    std::fs::write(dir.path().join("again.yaml"), manifest).unwrap();
    let base = sandbox.base_url();
    let args = ["--server", &base, "--progress", "none", "again.yaml"];
    let (first, _, ok) = timed_vip_run(dir.path(), &args);
    assert!(ok, "the first run succeeds");
    let median = |mut v: Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let posts = || {
        sandbox
            .requests()
            .iter()
            .filter(|r| r.method == "POST")
            .count()
    };
    let launched = posts();
    let again: Vec<Duration> = (0..REPEATS)
        .map(|_| {
            let (d, _, ok) = timed_vip_run(dir.path(), &args);
            assert!(ok, "a re-run succeeds");
            d
        })
        .collect();
    let touched: Vec<Duration> = (0..REPEATS)
        .map(|_| {
            std::thread::sleep(Duration::from_millis(20));
            for s in &subjects {
                let f = std::fs::File::options()
                    .append(true)
                    .open(dir.path().join(format!("data/{s}.bin")))
                    .unwrap();
                f.set_modified(std::time::SystemTime::now()).unwrap();
            }
            let (d, _, ok) = timed_vip_run(dir.path(), &args);
            assert!(ok, "a re-run succeeds");
            d
        })
        .collect();
    assert_eq!(posts(), launched, "a re-run launches nothing");
    println!("re-run of {ITEMS} items, a 256 KiB local file each, everything done:");
    println!("  first run        {:>8.2} s", first.as_secs_f64());
    println!(
        "  re-run           {:>8.2} s   (median of {REPEATS})",
        median(again).as_secs_f64()
    );
    println!(
        "  re-run, touched  {:>8.2} s   (median of {REPEATS}; every file's time moved, so each is read again)",
        median(touched).as_secs_f64()
    );
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
    // The project's own inputs folder (see `run::identity`): named by the key the run kept.
    let key = std::fs::read_to_string(dir.path().join(".vip-run/big/project")).unwrap();
    let remote = &format!("/vip/Home/vip-run/big/{}/inputs/big.bin", key.trim());
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
    // `VIP_RUN_BENCH_ONLY=rerun` (or `transfers`) runs that row alone.
    match std::env::var("VIP_RUN_BENCH_ONLY").as_deref() {
        Ok("rerun") => return rerun_many(&rt),
        Ok("transfers") => return transfers(&rt),
        _ => {}
    }
    many_items(&rt);
    rerun_many(&rt);
    transfers(&rt);
}

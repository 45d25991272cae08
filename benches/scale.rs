//! Figures for scale (10,000 items is the manifest limit), printed, not asserted: for 1,000,
//! 4,000 and 10,000 items against the sandbox (300 ms executions, inputs already on VIP, no
//! downloads), the wall time against the floor, the CPU seconds of the vip-run process, the
//! bytes it wrote, its peak memory, the state left on disk and the HTTP calls per poll cycle;
//! then the ratios between sizes, so linear growth (or not) can be seen.
//!
//! CPU and bytes written come from the child's `/proc/<pid>/stat` and `/proc/<pid>/io`, read
//! when it has exited but is not yet reaped (a zombie keeps its accounting); peak memory is
//! its `VmHWM`, sampled while it runs: the vip-run process alone. The sandbox runs in this
//! bench process, never in the child; its peak is printed apart, as this process's `VmHWM`
//! over the run (reset per size through `/proc/self/clear_refs`), harness included.
//!
//! Run with `cargo bench --bench scale` (`VIP_RUN_SCALE=1000,4000` for other sizes,
//! `VIP_RUN_SCALE_PARALLEL` for `max_parallel`, default 500; `VIP_RUN_SCALE_WRAP` to run
//! vip-run under a profiler such as `valgrind --tool=massif`).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use vip_run::sandbox::{Config, DEMO_KEY, Sandbox};

const EXEC: Duration = Duration::from_millis(300);

#[derive(Debug, Default, Clone, Copy)]
struct Figures {
    items: usize,
    wall: f64,
    floor: f64,
    cpu: f64,
    wchar: u64,
    write_bytes: u64,
    peak_kib: u64,
    /// This process's peak over the run: the sandbox (its executions, files and request
    /// log) plus the harness; `None` when the high-water mark could not be reset.
    sandbox_peak_kib: Option<u64>,
    state_bytes: u64,
    cycles: usize,
    calls_per_cycle: f64,
}

fn proc_field(pid: u32, file: &str, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/{file}")).ok()?;
    text.lines().find_map(|l| {
        let rest = l.strip_prefix(key)?.trim_start_matches(':').trim();
        rest.split_whitespace().next()?.parse().ok()
    })
}

/// (state letter, utime + stime in seconds) from `/proc/<pid>/stat`.
fn proc_stat(pid: u32) -> Option<(char, f64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &text[text.rfind(')')? + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let state = fields.first()?.chars().next()?;
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    // USER_HZ is 100 on Linux.
    Some((state, (utime + stime) / 100.0))
}

fn run_one(rt: &tokio::runtime::Runtime, items: usize, parallel: usize) -> Figures {
    // "5" resets this process's peak RSS (Linux 4.0+), so the sandbox figure is this size's.
    let reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
    let sandbox = rt
        .block_on(Sandbox::start(
            Config {
                exec_duration: EXEC,
                quota: Some(u32::try_from(parallel).unwrap()),
                platform_max: items + parallel,
                engine_slots: parallel,
                ..Config::default()
            },
            ([127, 0, 0, 1], 0).into(),
        ))
        .unwrap();
    let base = sandbox.base_url();
    let client = vip_run::vip::Client::new(
        &vip_run::vip::ClientConfig::new(&base),
        &secrecy::SecretString::from(DEMO_KEY),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.txt");
    std::fs::write(&input, "hello\n").unwrap();
    rt.block_on(client.upload(&input, "/vip/Home/in.txt"))
        .unwrap();
    let subjects: Vec<String> = (0..items).map(|i| format!("s{i:05}")).collect();
    let manifest = format!(
        "version: 1\nname: scale\npipeline_id: Hello/1.0\ngroup: Demo\nmatrix:\n  subject: [{}]\ninputs:\n  input_file: /vip/Home/in.txt\n  message: \"{{{{ subject }}}}\"\nresults:\n  download: false\nexecution:\n  max_parallel: {parallel}\n  poll_interval: 2s\n",
        subjects.join(", ")
    );
    std::fs::write(dir.path().join("scale.yaml"), manifest).unwrap();
    let start = Instant::now();
    // `VIP_RUN_SCALE_WRAP="valgrind --tool=massif"` runs vip-run under a profiler (the
    // figures are then the profiler's; what it writes is what counts).
    let wrap = std::env::var("VIP_RUN_SCALE_WRAP").unwrap_or_default();
    let mut words = wrap.split_whitespace();
    let mut command = match words.next() {
        Some(tool) => {
            let mut c = Command::new(tool);
            c.args(words).arg(env!("CARGO_BIN_EXE_vip-run"));
            c
        }
        None => Command::new(env!("CARGO_BIN_EXE_vip-run")),
    };
    let child = command
        .args(["--server", &base, "--progress", "none", "scale.yaml"])
        .current_dir(dir.path())
        .env("VIP_API_KEY", DEMO_KEY)
        .env("VIP_RUN_STATE_HOME", dir.path().join(".state-home"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("vip-run starts");
    let pid = child.id();
    let mut peak_kib = 0;
    let (cpu, wchar, write_bytes) = loop {
        if let Some(kib) = proc_field(pid, "status", "VmHWM") {
            peak_kib = peak_kib.max(kib);
        }
        match proc_stat(pid) {
            Some(('Z', cpu)) => {
                break (
                    cpu,
                    proc_field(pid, "io", "wchar").unwrap_or(0),
                    proc_field(pid, "io", "write_bytes").unwrap_or(0),
                );
            }
            Some(_) => std::thread::sleep(Duration::from_millis(20)),
            None => break (0.0, 0, 0),
        }
    };
    let out = child.wait_with_output().unwrap();
    let wall = start.elapsed().as_secs_f64();
    let sandbox_peak_kib = if reset {
        proc_field(std::process::id(), "status", "VmHWM")
    } else {
        None
    };
    assert!(
        out.status.success(),
        "the {items}-item run succeeds: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let state_dir = dir.path().join(".vip-run/scale");
    let state_bytes = ["state.json", "state.journal"]
        .iter()
        .filter_map(|f| std::fs::metadata(state_dir.join(f)).ok())
        .map(|m| m.len())
        .sum();
    let requests = sandbox.requests();
    let lists = requests
        .iter()
        .filter(|r| r.method == "GET" && r.path.ends_with("/executions") && r.query.is_some())
        .count();
    let singles = requests
        .iter()
        .filter(|r| r.method == "GET" && r.path.contains("/executions/workflow-"))
        .count();
    rt.block_on(sandbox.shutdown());
    #[allow(clippy::cast_precision_loss)]
    let floor = EXEC.as_secs_f64() * (items as f64 / parallel as f64).ceil();
    #[allow(clippy::cast_precision_loss)]
    let calls_per_cycle = if lists == 0 {
        0.0
    } else {
        (lists + singles) as f64 / lists as f64
    };
    Figures {
        items,
        wall,
        floor,
        cpu,
        wchar,
        write_bytes,
        peak_kib,
        sandbox_peak_kib,
        state_bytes,
        cycles: lists,
        calls_per_cycle,
    }
}

#[allow(clippy::cast_precision_loss)]
fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

#[allow(clippy::cast_precision_loss)]
fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn main() {
    let sizes: Vec<usize> = std::env::var("VIP_RUN_SCALE").ok().map_or_else(
        || vec![1000, 4000, 10_000],
        |v| v.split(',').filter_map(|s| s.trim().parse().ok()).collect(),
    );
    let parallel: usize = std::env::var("VIP_RUN_SCALE_PARALLEL")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    println!(
        "scale: executions of {} ms, max_parallel {parallel}, inputs on VIP, no downloads",
        EXEC.as_millis()
    );
    if cfg!(debug_assertions) {
        println!(
            "note: an unoptimised build (test/dev profile) of vip-run is measured; `cargo bench` measures the release one"
        );
    }
    if std::env::var("VIP_RUN_SCALE_WRAP").is_ok_and(|w| !w.trim().is_empty()) {
        println!("note: VIP_RUN_SCALE_WRAP is set: the vip-run columns are the wrapper process's");
    }
    println!(
        "{:>7}  {:>8}  {:>8}  {:>6}  {:>8}  {:>10}  {:>11}  {:>11}  {:>11}  {:>8}  {:>7}  {:>10}",
        "items",
        "wall s",
        "floor s",
        "ratio",
        "CPU s",
        "written MB",
        "to disk MB",
        "vip-run MiB",
        "sandbox MiB",
        "state MB",
        "cycles",
        "calls/cycle"
    );
    let mut all = Vec::new();
    for &n in &sizes {
        let f = run_one(&rt, n, parallel);
        let sandbox_peak = f
            .sandbox_peak_kib
            .map_or_else(|| "n/a".to_owned(), |k| format!("{:.1}", mib(k)));
        println!(
            "{:>7}  {:>8.1}  {:>8.1}  {:>6.2}  {:>8.2}  {:>10.1}  {:>11.1}  {:>11.1}  {:>11}  {:>8.2}  {:>7}  {:>10.1}",
            f.items,
            f.wall,
            f.floor,
            f.wall / f.floor,
            f.cpu,
            mb(f.wchar),
            mb(f.write_bytes),
            mib(f.peak_kib),
            sandbox_peak,
            mb(f.state_bytes),
            f.cycles,
            f.calls_per_cycle
        );
        all.push(f);
    }
    if let (Some(first), Some(last)) = (all.first(), all.last())
        && last.items > first.items
    {
        #[allow(clippy::cast_precision_loss)]
        let size = last.items as f64 / first.items as f64;
        #[allow(clippy::cast_precision_loss)]
        let written = last.wchar as f64 / first.wchar.max(1) as f64;
        println!(
            "{}× the items: {:.1}× the CPU, {written:.1}× the bytes written (linear would be {size:.0}×; target ≤ 12× for 10×)",
            last.items / first.items,
            last.cpu / first.cpu.max(0.01),
        );
    }
}

//! The fault matrix as a table, to re-measure the README's reliability figure (Performance): a
//! 12-item batch against the sandbox, fault-free and then under 20% 5xx answers (500s
//! included), 5% cut connections and 20 ms latency, over seeds derived from one base. For each
//! seed: the outcome of one run (exit code, executions per item, outputs complete), the faults
//! met (each one a retry the client made, or a look-up by name after a lost launch), the
//! requests sent, and the wall time against the fault-free run.
//!
//! Run with `cargo bench --bench faults` (`VIP_RUN_BENCH_SEEDS=N` for more or fewer seeds).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use vip_run::sandbox::{Config, DEMO_KEY, Sandbox};

const ITEMS: usize = 12;

fn manifest() -> String {
    let values: Vec<String> = (1..=ITEMS).map(|i| format!("sub-{i:02}")).collect();
    format!(
        "version: 1\nname: hello\npipeline_id: Hello/1.0\ngroup: Demo\nmatrix:\n  subject: [{}]\ninputs:\n  input_file: in.txt\n  message: \"hi {{{{ subject }}}}\"\nresults:\n  download: results/{{{{ subject }}}}\nexecution:\n  max_parallel: 4\n  poll_interval: 1s\n",
        values.join(", ")
    )
}

struct Row {
    code: i32,
    executions: usize,
    distinct: usize,
    complete: usize,
    faults: usize,
    requests: usize,
    wall: Duration,
}

fn one(rt: &tokio::runtime::Runtime, config: Config) -> Row {
    let sandbox = rt
        .block_on(Sandbox::start(config, ([127, 0, 0, 1], 0).into()))
        .expect("the sandbox starts");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("study.yaml"), manifest()).unwrap();
    std::fs::write(dir.path().join("in.txt"), "hello\n").unwrap();
    let start = Instant::now();
    let status = Command::new(env!("CARGO_BIN_EXE_vip-run"))
        .args([
            "--server",
            &sandbox.base_url(),
            "--progress",
            "plain",
            "study.yaml",
        ])
        .current_dir(dir.path())
        .env("VIP_API_KEY", DEMO_KEY)
        .env("VIP_RUN_STATE_HOME", dir.path().join(".state-home"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("vip-run runs");
    let wall = start.elapsed();
    let client = vip_run::vip::Client::new(
        &vip_run::vip::ClientConfig::new(&sandbox.base_url()),
        &secrecy::SecretString::from(DEMO_KEY),
    )
    .unwrap();
    let requests = sandbox.requests();
    let faults = requests
        .iter()
        .filter(|r| r.dropped || r.status >= 500)
        .count();
    let mut names: Vec<String> = rt
        .block_on(client.executions(500))
        .unwrap_or_default()
        .into_iter()
        .map(|e| e.name)
        .collect();
    let executions = names.len();
    names.sort();
    names.dedup();
    let complete = (1..=ITEMS)
        .filter(|i| {
            std::fs::read_to_string(dir.path().join(format!("results/sub-{i:02}/hello.txt")))
                .is_ok_and(|t| t.starts_with(&format!("hi sub-{i:02}\n")))
        })
        .count();
    rt.block_on(sandbox.shutdown());
    Row {
        code: status.code().unwrap_or(-1),
        executions,
        distinct: names.len(),
        complete,
        faults,
        requests: requests.len(),
        wall,
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let seeds: u64 = std::env::var("VIP_RUN_BENCH_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let base = Config {
        exec_duration: Duration::from_millis(300),
        quota: Some(4),
        ..Config::default()
    };
    let clean = one(&rt, base.clone());
    println!(
        "fault-free: exit {}, {} executions, {}/{ITEMS} outputs, {} requests, {:.1} s",
        clean.code,
        clean.executions,
        clean.complete,
        clean.requests,
        clean.wall.as_secs_f64()
    );
    println!("\n{ITEMS} items, 20% 5xx, 5% cut connections, 20 ms latency; one run per seed\n");
    println!(
        "{:>10}  {:<8}  {:>10}  {:>8}  {:>7}  {:>8}  {:>7}  {:>8}",
        "seed", "outcome", "executions", "outputs", "faults", "requests", "wall s", "vs clean"
    );
    let mut ok = 0;
    for i in 0..seeds {
        let seed = 0x00c0_ffee + i * 7919;
        let row = one(
            &rt,
            Config {
                error_rate: 0.2,
                drop_rate: 0.05,
                latency: Duration::from_millis(20),
                seed,
                ..base.clone()
            },
        );
        let good = row.code == 0
            && row.executions == ITEMS
            && row.distinct == ITEMS
            && row.complete == ITEMS;
        ok += usize::from(good);
        println!(
            "{seed:>10}  {:<8}  {:>10}  {:>8}  {:>7}  {:>8}  {:>7.1}  {:>7.1}x",
            if good {
                "ok".to_owned()
            } else {
                format!("exit {}", row.code)
            },
            format!("{}/{ITEMS}", row.executions),
            format!("{}/{ITEMS}", row.complete),
            row.faults,
            row.requests,
            row.wall.as_secs_f64(),
            row.wall.as_secs_f64() / clean.wall.as_secs_f64()
        );
    }
    println!("\n{ok}/{seeds} seeds finished in one run, one execution per item, every output home");
}

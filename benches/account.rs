//! Figures for one quota per account on a machine, printed, not asserted: two recipes of
//! one account (the sandbox's demo user), started at once against one sandbox whose quota
//! is 1 (then 2) running executions, with the registry off (each run meets VIP's refusals on
//! its own), on at first contact (nothing known of the limit: the first refusals reveal it),
//! and on again with new recipes once the limit is known; then with quota 1 and recipes
//! whose `max_parallel` is 4. For each: the wall time until
//! both end, against the floor the quota sets, the launches sent, and VIP's 2001 refusals
//! among them (the target: none once the limit is known).
//!
//! Run with `cargo bench --bench account` (`VIP_RUN_BENCH_ITEMS=N` for another number of
//! items per recipe).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use vip_run::sandbox::{Config, DEMO_KEY, Sandbox};

/// How long each execution runs.
const EXEC: Duration = Duration::from_secs(2);

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// A recipe named `name` of `items` items, `max_parallel` at once.
fn recipe(name: &str, items: usize, max_parallel: u32) -> String {
    let values: Vec<String> = (1..=items).map(|i| format!("s{i:02}")).collect();
    format!(
        "version: 1\nname: {name}\npipeline_id: Hello/1.0\ngroup: Demo\nmatrix:\n  subject: [{}]\ninputs:\n  input_file: in.txt\n  message: \"{{{{ subject }}}}\"\nresults:\n  download: false\nexecution:\n  max_parallel: {max_parallel}\n  poll_interval: 2s\n",
        values.join(", ")
    )
}

/// What one pair of runs came to.
struct Row {
    label: &'static str,
    wall: Duration,
    posts: usize,
    refused: usize,
}

/// Runs the recipes `names` (written in `dir`) at once against `sandbox`, sharing the
/// registry in `state` (or, without it, `--no-account-registry`); both must succeed.
fn run_pair(
    sandbox: &Sandbox,
    dir: &Path,
    state: &Path,
    names: [&str; 2],
    registry: bool,
) -> (Duration, usize, usize) {
    let from = sandbox.requests().len();
    let start = Instant::now();
    let children: Vec<_> = names
        .iter()
        .map(|name| {
            let mut command = Command::new(env!("CARGO_BIN_EXE_vip-run"));
            command
                .args(["--server", &sandbox.base_url(), "--progress", "none"])
                .current_dir(dir)
                .env("VIP_API_KEY", DEMO_KEY)
                .env("VIP_RUN_STATE_HOME", state)
                .stdout(Stdio::null())
                .stderr(Stdio::piped());
            if !registry {
                command.arg("--no-account-registry");
            }
            command.arg(format!("{name}.yaml")).spawn().unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let wall = start.elapsed();
    let requests = sandbox.requests();
    let launches: Vec<_> = requests[from..]
        .iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/executions"))
        .collect();
    // The sandbox refuses nothing else here: every 400 to a launch is a 2001.
    let refused = launches.iter().filter(|r| r.status == 400).count();
    (wall, launches.len(), refused)
}

fn quota(rt: &tokio::runtime::Runtime, quota: u32, max_parallel: u32, items: usize) {
    let start = || {
        rt.block_on(Sandbox::start(
            Config {
                exec_duration: EXEC,
                quota: Some(quota),
                ..Config::default()
            },
            ([127, 0, 0, 1], 0).into(),
        ))
        .unwrap()
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("in.txt"), "hello\n").unwrap();
    for name in ["a", "b", "c", "d"] {
        std::fs::write(
            dir.path().join(format!("{name}.yaml")),
            recipe(&format!("bench-{name}"), items, max_parallel),
        )
        .unwrap();
    }
    let mut rows = Vec::new();
    // Off: a sandbox of its own, so nothing is adopted from the other rows.
    let off = start();
    let (wall, posts, refused) = run_pair(
        &off,
        dir.path(),
        &dir.path().join("state-off"),
        ["a", "b"],
        false,
    );
    rows.push(Row {
        label: "off (--no-account-registry)",
        wall,
        posts,
        refused,
    });
    rt.block_on(off.shutdown());
    // On: first contact, then new recipes (c, d) of the same account on the same server,
    // which find the limit the first pair learned.
    let on = start();
    let state = dir.path().join("state-on");
    std::fs::remove_dir_all(dir.path().join(".vip-run")).unwrap();
    let (wall, posts, refused) = run_pair(&on, dir.path(), &state, ["a", "b"], true);
    rows.push(Row {
        label: "on, first contact",
        wall,
        posts,
        refused,
    });
    let (wall, posts, refused) = run_pair(&on, dir.path(), &state, ["c", "d"], true);
    rows.push(Row {
        label: "on, limit known",
        wall,
        posts,
        refused,
    });
    rt.block_on(on.shutdown());

    #[allow(clippy::cast_precision_loss)]
    let floor = EXEC.as_secs_f64() * (2 * items) as f64 / f64::from(quota);
    println!(
        "two recipes × {items} items of {} s, one account, sandbox quota {quota}, max_parallel {max_parallel} each (floor {floor:.0} s):",
        EXEC.as_secs()
    );
    println!(
        "  {:<30} {:>9} {:>9} {:>9} {:>15}",
        "registry", "wall", "× floor", "launches", "2001 refusals"
    );
    for r in rows {
        println!(
            "  {:<30} {:>7.1} s {:>9.2} {:>9} {:>15}",
            r.label,
            r.wall.as_secs_f64(),
            r.wall.as_secs_f64() / floor,
            r.posts,
            r.refused
        );
    }
}

fn main() {
    let rt = runtime();
    let items = std::env::var("VIP_RUN_BENCH_ITEMS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8);
    quota(&rt, 1, 1, items);
    quota(&rt, 2, 2, items);
    // A lab that set max_parallel for the quota it hopes for: each run wants four at once.
    quota(&rt, 1, 4, items);
}

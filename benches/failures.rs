//! The failure bench: a 200-item batch under a seeded mix of the failures VIP shows, run by
//! vip-run's release binary and then by VIP's own Python client (`vip-client` 0.1.10, from
//! `PyPI`, unchanged, in a throwaway virtual environment), each on a fresh in-process sandbox
//! with the same settings and seed, and every verdict checked against the sandbox's own record
//! of what it injected ([`Sandbox::injected`]), matched by execution id. Figures are printed,
//! never asserted. Run with `cargo bench --bench failures`; `VIP_RUN_FAILURES_QUICK=1` is a
//! smoke run (20 items, 3 s executions, `stalled_after: 6s`, vip-client given 20 s);
//! `VIP_RUN_FAILURES_PROBE=N` prints, for seeds 1..=N, the kinds the first executions draw
//! (how [`SEED`] was chosen). Without Python or the package registry the vip-client half
//! prints `skipped: <reason>` and the bench exits 0, unless `CI=true`, where it fails.
//!
//! **The batch.** `Hello/1.0` over a `matrix` of 200 subjects, one 14-byte input each,
//! `execution.retries: 2` (relaunched on vip-run's default `retry_on`: the six
//! infrastructure classes and stalls), `stalled_after: 20s`, `poll_interval: 2s`,
//! `max_parallel` 200. The sandbox runs each execution 10 s; the user's quota and the
//! platform's cap of active executions are the item count, so every item has a slot at once
//! (one wave) and a relaunch never waits for one. No latency, no 5xx (`benches/faults.rs`
//! measures those).
//!
//! **The mix** ([`MIX`]), per execution: the tool's own failure 5 %, an input download 5 %,
//! the wrapper's setup, the worker and the result upload 2 % each, the container image 1 %,
//! VIP's container settings, an external token and an unnamed exit code 0.5 % each; held
//! jobs 2 %, stalled 1 %, queued for good 1 %; a `Finished` run without its declared output
//! 2 %; a run cleaned or killed on the portal 0.5 % each. The order follows the classes'
//! frequency as VIP's exit-code table and support cases describe them (the tool and grid
//! transfers first, held jobs a known multi-day trap, platform trouble rare); the total,
//! about one execution in four, is a bad day on the grid rather than an average one, chosen so
//! that one 200-item batch meets every class. [`SEED`] is the first seed whose first 200
//! executions draw every one of the 15 execution kinds. An execution's fate depends only on
//! the seed and its rank among the executions created, so both tools' first 200 executions
//! draw the same kinds (which item gets which may differ: launches race); relaunches draw
//! the ranks after 200.
//!
//! **What is printed for vip-run**, from its `--output json` events, its summary and
//! `.vip-run/<name>/run.json` against `injected()`:
//!
//! - executions classified correctly: the class of each execution's recorded failure
//!   against the injected kind (`held`, `stalled`, `hung` → `stalled`, the others by name;
//!   an execution with nothing injected must have no failure), and the exit code of the
//!   failing job against the one injected; items likewise (the item's class against its last
//!   execution's kind);
//! - relaunches after a class not worth one (`application`, `platform`, `outputs_missing`,
//!   `cleaned`, `killed`, `unknown`) or after a clean execution: target 0; and relaunches
//!   missed (a class worth one, a retry left, none made);
//! - infrastructure failures and stalls recovered in the same run: items that met one and
//!   ended finished, out of those that could (an item whose every attempt, `retries + 1` of
//!   them or up to one not worth a relaunch, drew a failure is not counted, and counted
//!   apart);
//! - stalls caught within the bound: the time from the stall becoming visible to vip-run's
//!   `PUT …/kill`. The sandbox's log has no timestamps, so a thread of this bench reads it
//!   every 100 ms and stamps each new entry (the figures are late by up to that much plus the
//!   read). A held or stalled job shows when the run would have ended (its `POST` + the
//!   execution time); a hung run's jobs map stops changing at a tenth of it (`{}` until
//!   then, `QUEUED` for good after). vip-run reads a running execution's jobs every
//!   `watch = stalled_after / 12` (at least 1 s), at poll cycles, so once every
//!   `period ≤ poll_interval + watch`: a held or stalled execution is due at the first read
//!   once it shows (bound: `period + 1 s`), a hung one once its jobs have not changed for
//!   `stalled_after` between two reads (bound: `stalled_after + 2 × period + 1 s`);
//! - items reported finished without their output: an item whose finished execution was
//!   `outputs_missing`, or any item reported finished whose `hello.txt` is not on disk;
//! - **wall time against the floor**: the floor is what the sandbox makes unavoidable for
//!   the executions vip-run launched (every one was checked above to be owed): per item, the
//!   sum of its executions' own times, each the execution time `d` except a hung one, which
//!   no client can tell from a slow queue before its jobs have stood still for
//!   `stalled_after` (`d / 10 + stalled_after`); every first attempt starts at once (one
//!   wave), so the floor is the longest item's sum. Polling, the watchdog's reads, downloads
//!   and launches add to it: wall/floor ≥ 1.
//!
//! **What is printed for vip-client**, from what it printed (captured per session), what it
//! raised, the status it holds for each workflow (in memory and in its `session_data.json`),
//! the files it downloaded, and the sandbox's log (launches, kills, log reads). The driver,
//! `benches/peer/vip_client_failures.py`, is the peer bench's loop of sessions (one
//! `VipSession` per subject: upload and launch each, then monitor and download each, polling
//! every 2 s), with each session's calls in a try/except and each `monitor_workflows` given
//! a budget (until 120 s after the last launch, then 6 s per session), so that one stuck or
//! cleaned execution does not hide the rest: plain code would die at the first exception
//! and wait for ever at the first execution that stays `Running`, which a held, stalled or
//! hung one does (vip-client polls the workflow status only). An interrupted wait is
//! printed as "still waiting after N s" (N from that session's launch).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use vip_run::sandbox::{Config, DEMO_KEY, FailureKind, FailureMix, LoggedRequest, Sandbox};
use vip_run::vip::failure::exit_code_name;

#[path = "../tests/integration/python_env.rs"]
mod python;
use python::python_with;

const VIP_CLIENT: &str = "vip-client==0.1.10";

/// The failure mix (see the module's comment for why these rates).
const MIX: &str = "application=0.05,input_download=0.05,setup=0.02,worker=0.02,\
                   result_upload=0.02,container=0.01,platform=0.005,token=0.005,unknown=0.005,\
                   held=0.02,stalled=0.01,hung=0.01,outputs_missing=0.02,cleaned=0.005,\
                   killed=0.005";

/// The first seed whose first 200 executions draw every execution kind of [`MIX`]
/// (`VIP_RUN_FAILURES_PROBE=40` prints the draws of seeds 1 to 40).
const SEED: u64 = 45;

/// The smoke run's seed: its first 20 executions draw held, stalled and hung jobs, a
/// missing output and infrastructure failures, so that every path is taken.
const QUICK_SEED: u64 = 32;

/// `execution.retries` in the manifest.
const RETRIES: usize = 2;

/// vip-run's `poll_interval` and vip-client's `refresh_time`.
const POLL: Duration = Duration::from_secs(2);

/// How often the bench stamps the sandbox's new log entries.
const STAMP_EVERY: Duration = Duration::from_millis(100);

/// The sizes of one bench run.
struct Scale {
    items: usize,
    seed: u64,
    exec: Duration,
    stalled_after: Duration,
    /// How long vip-client's monitoring may wait after its last launch.
    client_wait: Duration,
}

impl Scale {
    fn from_env() -> Self {
        if std::env::var("VIP_RUN_FAILURES_QUICK").is_ok_and(|v| v == "1") {
            Self {
                items: 20,
                seed: QUICK_SEED,
                exec: Duration::from_secs(3),
                stalled_after: Duration::from_secs(6),
                client_wait: Duration::from_secs(20),
            }
        } else {
            Self {
                items: 200,
                seed: SEED,
                exec: Duration::from_secs(10),
                stalled_after: Duration::from_secs(20),
                client_wait: Duration::from_secs(120),
            }
        }
    }

    /// How often vip-run reads a running execution's jobs (its `watch_period`).
    fn watch(&self) -> Duration {
        (self.stalled_after / 12).clamp(Duration::from_secs(1), Duration::from_secs(600))
    }

    /// At most this long between two reads of a running execution's jobs.
    fn period(&self) -> f64 {
        (POLL + self.watch()).as_secs_f64()
    }

    /// The bound on the time from a stall showing to vip-run's kill.
    fn stall_bound(&self, kind: FailureKind) -> f64 {
        if kind == FailureKind::Hung {
            self.stalled_after.as_secs_f64() + 2.0 * self.period() + 1.0
        } else {
            self.period() + 1.0
        }
    }

    /// When the stall of an execution of `kind` shows, after its `POST`.
    fn visible_after(&self, kind: FailureKind) -> f64 {
        if kind == FailureKind::Hung {
            self.exec.as_secs_f64() / 10.0
        } else {
            self.exec.as_secs_f64()
        }
    }

    /// An execution's own time, as the floor counts it.
    fn own_time(&self, kind: Option<FailureKind>) -> f64 {
        match kind {
            Some(FailureKind::Hung) => {
                self.exec.as_secs_f64() / 10.0 + self.stalled_after.as_secs_f64()
            }
            _ => self.exec.as_secs_f64(),
        }
    }

    fn subjects(&self) -> Vec<String> {
        (1..=self.items).map(|i| format!("sub-{i:03}")).collect()
    }

    fn config(&self, seed: u64) -> Config {
        Config {
            exec_duration: self.exec,
            quota: Some(u32::try_from(self.items).unwrap()),
            platform_max: self.items,
            failures: FailureMix::parse(MIX).expect("the mix parses"),
            seed,
            ..Config::default()
        }
    }
}

/// What vip-run must call each injected kind.
fn class_of(kind: FailureKind) -> &'static str {
    match kind {
        FailureKind::Held | FailureKind::Stalled | FailureKind::Hung => "stalled",
        other => other.name(),
    }
}

fn is_stall(kind: FailureKind) -> bool {
    matches!(
        kind,
        FailureKind::Held | FailureKind::Stalled | FailureKind::Hung
    )
}

fn is_infrastructure(kind: FailureKind) -> bool {
    matches!(
        kind,
        FailureKind::InputDownload
            | FailureKind::Setup
            | FailureKind::Worker
            | FailureKind::ResultUpload
            | FailureKind::Container
            | FailureKind::Token
    )
}

/// Whether vip-run's default `retry_on` relaunches it.
fn worth_a_relaunch(kind: FailureKind) -> bool {
    is_infrastructure(kind) || is_stall(kind)
}

/// The execution kinds of the mix, in the order the tables list them.
fn kinds() -> Vec<FailureKind> {
    let mix = FailureMix::parse(MIX).unwrap();
    FailureKind::ALL
        .into_iter()
        .filter(|k| k.is_execution() && mix.rate(*k) > 0.0)
        .collect()
}

#[allow(clippy::cast_precision_loss)]
fn pct(n: usize, of: usize) -> String {
    if of == 0 {
        "–".to_owned()
    } else {
        format!("{:.1} %", 100.0 * n as f64 / of as f64)
    }
}

fn ratio(n: usize, of: usize) -> String {
    format!("{n}/{of} ({})", pct(n, of))
}

/// What the sandbox recorded of one execution it created.
#[derive(Debug, Clone)]
struct Truth {
    kind: Option<FailureKind>,
    /// The failing job's exit code, for the kinds that end a job with one.
    exit_code: Option<i64>,
    /// The index of its `POST` in the request log.
    post: usize,
}

/// What the sandbox injected, by execution id (an execution absent from it ran clean).
fn truth(sandbox: &Sandbox) -> HashMap<String, Truth> {
    sandbox
        .injected()
        .into_iter()
        .filter_map(|i| {
            let truth = Truth {
                kind: Some(i.kind),
                exit_code: i.jobs.iter().find_map(|j| j.exit_code.filter(|c| *c != 0)),
                post: i.at_request,
            };
            Some((i.execution_id?, truth))
        })
        .collect()
}

/// The kind injected into `id` (`None`: it ran clean).
fn kind_of(truth: &HashMap<String, Truth>, id: &str) -> Option<FailureKind> {
    truth.get(id).and_then(|t| t.kind)
}

/// The kinds drawn by the first `n` executions created (by the rank of their `POST`).
fn first_draws(
    truth: &HashMap<String, Truth>,
    log: &[LoggedRequest],
    n: usize,
) -> BTreeMap<FailureKind, usize> {
    let launches: Vec<usize> = log
        .iter()
        .enumerate()
        .filter(|(_, r)| is_launch(r))
        .map(|(i, _)| i)
        .take(n)
        .collect();
    let mut out = BTreeMap::new();
    for t in truth.values() {
        if let Some(kind) = t.kind
            && launches.binary_search(&t.post).is_ok()
        {
            *out.entry(kind).or_insert(0) += 1;
        }
    }
    out
}

fn is_launch(r: &LoggedRequest) -> bool {
    r.method == "POST" && r.path.trim_end_matches('/').ends_with("/executions") && r.status == 200
}

/// The index of the `PUT …/kill` of `id`, if there was one.
fn kill_of(log: &[LoggedRequest], id: &str) -> Option<usize> {
    let tail = format!("/executions/{id}/kill");
    log.iter()
        .position(|r| r.method == "PUT" && r.path.ends_with(&tail))
}

fn count(log: &[LoggedRequest], f: impl Fn(&LoggedRequest) -> bool) -> usize {
    log.iter().filter(|r| f(r)).count()
}

fn is_log_read(r: &LoggedRequest) -> bool {
    r.method == "GET" && (r.path.ends_with("/stdout") || r.path.ends_with("/stderr"))
}

fn is_kill(r: &LoggedRequest) -> bool {
    r.method == "PUT" && r.path.ends_with("/kill")
}

/// Runs `command` with its stdout and stderr in files of `dir`, killed after `limit`;
/// returns the exit code (`None` when killed or signalled), the wall time, stdout, stderr.
fn bounded(
    command: &mut Command,
    dir: &Path,
    tag: &str,
    limit: Duration,
) -> (Option<i32>, f64, String, String) {
    let out = dir.join(format!("{tag}.stdout"));
    let err = dir.join(format!("{tag}.stderr"));
    let start = Instant::now();
    let mut child = command
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .unwrap_or_else(|e| panic!("{tag} starts: {e}"));
    let code = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code();
        }
        if start.elapsed() > limit {
            eprintln!("{tag}: still running after {limit:?}, killed");
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let wall = start.elapsed().as_secs_f64();
    (
        code,
        wall,
        std::fs::read_to_string(out).unwrap_or_default(),
        std::fs::read_to_string(err).unwrap_or_default(),
    )
}

/// Stamps each new entry of the sandbox's log with the time (seconds after `origin`) this
/// thread first saw it, until `stop`.
fn stamp(sandbox: &Sandbox, origin: Instant, stop: &AtomicBool) -> Vec<f64> {
    let mut seen = Vec::new();
    loop {
        let last = stop.load(Ordering::SeqCst);
        let n = sandbox.requests().len();
        let t = origin.elapsed().as_secs_f64();
        seen.resize(n.max(seen.len()), t);
        if last {
            return seen;
        }
        std::thread::sleep(STAMP_EVERY);
    }
}

fn start(rt: &tokio::runtime::Runtime, config: Config) -> Sandbox {
    rt.block_on(Sandbox::start(config, ([127, 0, 0, 1], 0).into()))
        .expect("the sandbox starts")
}

fn write_inputs(dir: &Path, scale: &Scale) {
    for s in scale.subjects() {
        let d = dir.join("data").join(&s);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("in.txt"), format!("hello {s}\n")).unwrap();
    }
}

fn manifest(scale: &Scale) -> String {
    format!(
        "version: 1\nname: failures\npipeline_id: Hello/1.0\ngroup: Demo\nmatrix:\n  subject: [{}]\ninputs:\n  input_file: data/{{{{ subject }}}}/in.txt\n  message: \"hi {{{{ subject }}}}\"\nresults:\n  download: results/{{{{ subject }}}}\nexecution:\n  max_parallel: {}\n  poll_interval: {}s\n  retries: {RETRIES}\n  stalled_after: {}s\n",
        scale.subjects().join(", "),
        scale.items,
        POLL.as_secs(),
        scale.stalled_after.as_secs()
    )
}

fn vip_run(
    sandbox: &Sandbox,
    dir: &Path,
    args: &[&str],
    limit: Duration,
) -> (Option<i32>, f64, String, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_vip-run"));
    command
        .args(["--server", &sandbox.base_url(), "--progress", "none"])
        .args(args)
        .current_dir(dir)
        .env("VIP_API_KEY", DEMO_KEY)
        .env("VIP_RUN_STATE_HOME", dir.join(".state-home"))
        .env("NO_COLOR", "1");
    bounded(&mut command, dir, "vip-run", limit)
}

/// One execution as vip-run recorded it in `run.json`.
#[derive(Debug, Clone)]
struct Recorded {
    id: String,
    class: Option<String>,
    exit_code: Option<i64>,
}

/// One item as vip-run recorded it in `run.json`.
#[derive(Debug, Clone)]
struct RecordedItem {
    key: String,
    result: String,
    class: Option<String>,
    retried: Option<String>,
    executions: Vec<Recorded>,
}

fn read_record(dir: &Path) -> Vec<RecordedItem> {
    let text = std::fs::read_to_string(dir.join(".vip-run/failures/run.json"))
        .expect("vip-run wrote run.json");
    let record: Value = serde_json::from_str(&text).expect("run.json is JSON");
    record["items"]
        .as_array()
        .expect("run.json has items")
        .iter()
        .map(|item| RecordedItem {
            key: item["key"].as_str().unwrap_or_default().to_owned(),
            result: item["result"].as_str().unwrap_or_default().to_owned(),
            class: item["class"].as_str().map(ToOwned::to_owned),
            retried: item["retried"].as_str().map(ToOwned::to_owned),
            executions: item["executions"]
                .as_array()
                .map(|e| {
                    e.iter()
                        .map(|e| Recorded {
                            id: e["id"].as_str().unwrap_or_default().to_owned(),
                            class: e["failure"]["class"].as_str().map(ToOwned::to_owned),
                            exit_code: e["failure"]["exit_code"].as_i64(),
                        })
                        .collect()
                })
                .unwrap_or_default(),
        })
        .collect()
}

/// The vip-run half, measured.
struct RunHalf {
    code: Option<i32>,
    wall: f64,
    items: Vec<RecordedItem>,
    truth: HashMap<String, Truth>,
    launches: usize,
    kills: usize,
    log_reads: usize,
    /// When the bench first saw each log entry (seconds after vip-run started).
    seen: Vec<f64>,
    log: Vec<LoggedRequest>,
    /// Per execution: the class and exit code of its `item_finished` event.
    events: HashMap<String, (Option<String>, Option<i64>)>,
    /// The summary's class and `retried` per item.
    summary: HashMap<String, (Option<String>, Option<String>)>,
    /// Items whose `hello.txt` is on disk.
    home: BTreeSet<String>,
}

fn run_half(rt: &tokio::runtime::Runtime, scale: &Scale, scratch: &Path) -> RunHalf {
    let sandbox = start(rt, scale.config(scale.seed));
    let dir = scratch.join("vip-run");
    std::fs::create_dir_all(&dir).unwrap();
    write_inputs(&dir, scale);
    std::fs::write(dir.join("failures.yaml"), manifest(scale)).unwrap();
    let stop = AtomicBool::new(false);
    let origin = Instant::now();
    let ((code, wall, stdout, stderr), seen) = std::thread::scope(|s| {
        let stamps = s.spawn(|| stamp(&sandbox, origin, &stop));
        let out = vip_run(
            &sandbox,
            &dir,
            &["--output", "json", "failures.yaml"],
            Duration::from_secs(1800),
        );
        stop.store(true, Ordering::SeqCst);
        (out, stamps.join().unwrap())
    });
    if !matches!(code, Some(0 | 1)) {
        eprintln!("vip-run exited {code:?}:\n{stderr}");
    }
    let log = sandbox.requests();
    let truth = truth(&sandbox);
    let mut events = HashMap::new();
    let mut summary = HashMap::new();
    for line in stdout.lines() {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        match v["event"].as_str() {
            Some("item_finished") => {
                if let Some(id) = v["execution"].as_str() {
                    events.insert(
                        id.to_owned(),
                        (
                            v["class"].as_str().map(ToOwned::to_owned),
                            v["exit_code"].as_i64(),
                        ),
                    );
                }
            }
            Some("summary") => {
                for r in v["results"].as_array().into_iter().flatten() {
                    summary.insert(
                        r["item"].as_str().unwrap_or_default().to_owned(),
                        (
                            r["class"].as_str().map(ToOwned::to_owned),
                            r["retried"].as_str().map(ToOwned::to_owned),
                        ),
                    );
                }
            }
            _ => {}
        }
    }
    let home = scale
        .subjects()
        .into_iter()
        .filter(|s| dir.join("results").join(s).join("hello.txt").is_file())
        .collect();
    let half = RunHalf {
        code,
        wall,
        items: read_record(&dir),
        truth,
        launches: count(&log, is_launch),
        kills: count(&log, is_kill),
        log_reads: count(&log, is_log_read),
        seen,
        log,
        events,
        summary,
        home,
    };
    rt.block_on(sandbox.shutdown());
    half
}

/// Items that met a class of failure, and how they ended.
#[derive(Debug, Default, Clone, Copy)]
struct Recovery {
    /// Items that met one and could have recovered (an attempt was left that drew nothing).
    counted: usize,
    /// Of those, the items that ended finished.
    recovered: usize,
    /// Items that met one but whose every attempt drew a failure (not counted).
    excluded: usize,
}

/// vip-run's figures for one kind.
#[derive(Debug, Default)]
struct RunKind {
    executions: usize,
    correct: usize,
    /// The verdicts given, by class (`-` for none).
    verdicts: BTreeMap<String, usize>,
    with_code: usize,
    code_named: usize,
    relaunched: usize,
    /// Stalls: the time from showing to the kill (`None`: never killed).
    caught: Vec<Option<f64>>,
}

/// What vip-run's half comes to, checked against the sandbox's record.
#[derive(Debug, Default)]
struct RunFigures {
    executions: usize,
    exec_correct: usize,
    misclassified: Vec<String>,
    items: usize,
    items_correct: usize,
    item_wrong: Vec<String>,
    with_code: usize,
    code_named: usize,
    not_worth: usize,
    relaunched_not_worth: usize,
    relaunched_clean: usize,
    missed: usize,
    relaunches: usize,
    infrastructure: Recovery,
    stalls: Recovery,
    outputs_missing: usize,
    missing_reported_finished: usize,
    finished_without_output: usize,
    finished: usize,
    floor: f64,
    events: (usize, usize),
    summary: (usize, usize),
    by_kind: BTreeMap<FailureKind, RunKind>,
}

impl RunFigures {
    fn stalls_caught(&self, scale: &Scale) -> (usize, usize, f64) {
        let mut caught = 0;
        let mut total = 0;
        let mut worst: f64 = 0.0;
        for (kind, row) in &self.by_kind {
            if !is_stall(*kind) {
                continue;
            }
            for c in &row.caught {
                total += 1;
                if let Some(t) = c {
                    worst = worst.max(*t);
                    if *t <= scale.stall_bound(*kind) {
                        caught += 1;
                    }
                }
            }
        }
        (caught, total, worst)
    }
}

fn analyse_run(half: &RunHalf, scale: &Scale) -> RunFigures {
    let mut f = RunFigures {
        items: half.items.len(),
        ..RunFigures::default()
    };
    for item in &half.items {
        let kinds: Vec<Option<FailureKind>> = item
            .executions
            .iter()
            .map(|e| kind_of(&half.truth, &e.id))
            .collect();
        let n = kinds.len();
        f.relaunches += n.saturating_sub(1);
        f.floor = f.floor.max(kinds.iter().map(|k| scale.own_time(*k)).sum());
        for (i, (e, kind)) in item.executions.iter().zip(&kinds).enumerate() {
            f.executions += 1;
            let expected = kind.map(class_of);
            let right = e.class.as_deref() == expected;
            if right {
                f.exec_correct += 1;
            } else {
                f.misclassified.push(format!(
                    "{} ({}, attempt {}): injected {}, vip-run's verdict {}",
                    e.id,
                    item.key,
                    i + 1,
                    kind.map_or("nothing", FailureKind::name),
                    e.class.as_deref().unwrap_or("none (no failure)")
                ));
            }
            let relaunched = i + 1 < n;
            match kind {
                None if relaunched => f.relaunched_clean += 1,
                None => {}
                Some(k) => {
                    let row = f.by_kind.entry(*k).or_default();
                    row.executions += 1;
                    row.correct += usize::from(right);
                    *row.verdicts
                        .entry(e.class.clone().unwrap_or_else(|| "-".to_owned()))
                        .or_insert(0) += 1;
                    row.relaunched += usize::from(relaunched);
                    if let Some(code) = half.truth.get(&e.id).and_then(|t| t.exit_code) {
                        row.with_code += 1;
                        f.with_code += 1;
                        let named = e.exit_code == Some(code);
                        row.code_named += usize::from(named);
                        f.code_named += usize::from(named);
                    }
                    if !worth_a_relaunch(*k) {
                        f.not_worth += 1;
                        f.relaunched_not_worth += usize::from(relaunched);
                    } else if !relaunched && n < RETRIES + 1 {
                        f.missed += 1;
                    }
                    if is_stall(*k) {
                        let post = half.truth[&e.id].post;
                        let shown =
                            half.seen.get(post).copied().unwrap_or(0.0) + scale.visible_after(*k);
                        let kill = kill_of(&half.log, &e.id)
                            .and_then(|i| half.seen.get(i).copied())
                            .map(|t| t - shown);
                        row.caught.push(kill);
                    }
                    if *k == FailureKind::OutputsMissing {
                        f.outputs_missing += 1;
                        f.missing_reported_finished +=
                            usize::from(!relaunched && item.result == "finished");
                    }
                }
            }
        }
        // The item's own verdict: its last execution's.
        let last = kinds.last().copied().flatten();
        let expected = last.map(class_of);
        let finished = item.result == "finished";
        if item.class.as_deref() == expected && finished == (last.is_none() && n > 0) {
            f.items_correct += 1;
        } else {
            f.item_wrong.push(format!(
                "{}: last execution injected {}, vip-run says {} ({})",
                item.key,
                last.map_or("nothing", FailureKind::name),
                item.result,
                item.class.as_deref().unwrap_or("no class")
            ));
        }
        if finished {
            f.finished += 1;
            if !half.home.contains(&item.key) {
                f.finished_without_output += 1;
            }
        }
        let all_failed = n > 0 && kinds.iter().all(Option::is_some);
        let excluded =
            all_failed && (n == RETRIES + 1 || last.is_some_and(|k| !worth_a_relaunch(k)));
        for (met, group) in [
            (
                kinds.iter().flatten().any(|k| is_infrastructure(*k)),
                &mut f.infrastructure,
            ),
            (kinds.iter().flatten().any(|k| is_stall(*k)), &mut f.stalls),
        ] {
            if !met {
                continue;
            }
            if excluded {
                group.excluded += 1;
            } else {
                group.counted += 1;
                group.recovered += usize::from(finished);
            }
        }
        // The summary and the events say what run.json says (class; retried or not).
        if let Some((class, retried)) = half.summary.get(&item.key) {
            f.summary.1 += 1;
            f.summary.0 += usize::from(
                *class == item.class
                    && retried.is_some() == item.retried.is_some()
                    && item.retried.is_some() == (n > 1),
            );
        }
        for e in &item.executions {
            if let Some((class, code)) = half.events.get(&e.id) {
                f.events.1 += 1;
                f.events.0 += usize::from(*class == e.class && *code == e.exit_code);
            }
        }
    }
    f
}

/// One vip-client session, as the driver recorded it.
#[derive(Debug, Clone, Default)]
struct Session {
    workflow: Option<String>,
    /// Everything vip-client printed for it, and the errors it raised.
    text: String,
    launch_error: Option<String>,
    monitor_error: Option<String>,
    returned: bool,
    gave_up: bool,
    since_launch: f64,
    status: Option<String>,
    saved_status: Option<String>,
    downloaded: bool,
}

impl Session {
    /// What a user of vip-client is told about it, in a few words.
    fn shows(&self) -> String {
        if let Some(e) = &self.launch_error {
            return format!("launch raised {}", short(e));
        }
        if self.gave_up {
            return "still waiting (Running)".to_owned();
        }
        if let Some(e) = &self.monitor_error {
            return format!("raised {}", short(e));
        }
        self.text
            .lines()
            .find_map(|l| l.split_once("ended with").map(|(_, rest)| rest.trim()))
            .map_or_else(
                || format!("status {}", self.status.as_deref().unwrap_or("?")),
                |rest| format!("\"ended with {rest}\""),
            )
    }

    /// Whether vip-client says it ended well.
    fn reported_finished(&self) -> bool {
        self.returned
            && self.status.as_deref() == Some("Finished")
            && self.text.contains("ended with success")
    }
}

/// An error in one line, execution ids folded (`workflow-…`), cut at 72 characters.
fn short(e: &str) -> String {
    let words: Vec<&str> = e
        .split_whitespace()
        .map(|w| {
            if w.contains("workflow-") {
                "workflow-…"
            } else {
                w
            }
        })
        .collect();
    let line = words.join(" ");
    let mut s: String = line.chars().take(72).collect();
    if line.chars().count() > 72 {
        s.push('…');
    }
    s
}

/// Whether `text` names exit code `code`: VIP's name for it, or the number after words
/// that introduce one.
fn names_code(text: &str, code: i64) -> bool {
    let lower = text.to_lowercase();
    exit_code_name(code).is_some_and(|n| lower.contains(&n.to_lowercase()))
        || [
            format!("exit code {code}"),
            format!("exit code: {code}"),
            format!("exitcode\": {code}"),
            format!("(exit {code})"),
            format!("return value {code}"),
        ]
        .iter()
        .any(|p| lower.contains(p.as_str()))
}

/// Whether `text` names `class` (`input_download` or `input download`), as a word.
fn names_class(text: &str, class: &str) -> bool {
    let lower = text.to_lowercase();
    [class.to_owned(), class.replace('_', " ")].iter().any(|w| {
        lower.match_indices(w.as_str()).any(|(i, _)| {
            let before = lower[..i].chars().next_back();
            let after = lower[i + w.len()..].chars().next();
            !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
        })
    })
}

/// The vip-client half, measured.
struct ClientHalf {
    code: Option<i32>,
    wall: f64,
    sessions: Vec<Session>,
    truth: HashMap<String, Truth>,
    launches: usize,
    kills: usize,
    log_reads: usize,
    wait: f64,
}

fn client_half(
    rt: &tokio::runtime::Runtime,
    scale: &Scale,
    scratch: &Path,
    python: &Path,
) -> ClientHalf {
    let sandbox = start(rt, scale.config(scale.seed));
    let dir = scratch.join("vip-client");
    std::fs::create_dir_all(&dir).unwrap();
    write_inputs(&dir, scale);
    let portal = sandbox.base_url().trim_end_matches("/rest").to_owned();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/peer/vip_client_failures.py");
    let mut command = Command::new(python);
    command
        .arg(script)
        .arg(&portal)
        .arg(&dir)
        .args([
            scale.items.to_string(),
            POLL.as_secs().to_string(),
            scale.client_wait.as_secs().to_string(),
        ])
        .current_dir(&dir)
        .env("VIP_API_KEY", DEMO_KEY)
        .env("PYTHONUNBUFFERED", "1");
    #[allow(clippy::cast_possible_truncation)]
    let limit = scale.client_wait
        + Duration::from_secs(scale.items as u64 * (3 * POLL.as_secs() + 3))
        + Duration::from_secs(600);
    let (code, wall, stdout, stderr) = bounded(&mut command, &dir, "vip-client", limit);
    if !stdout.contains("DONE") {
        eprintln!(
            "the vip-client driver did not finish ({code:?}):\n{}\n{}",
            stdout.lines().rev().take(20).collect::<Vec<_>>().join("\n"),
            stderr.lines().rev().take(20).collect::<Vec<_>>().join("\n")
        );
    }
    let log = sandbox.requests();
    let truth = truth(&sandbox);
    let record: Value = std::fs::read_to_string(dir.join("vip-client-failures.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(Value::Null);
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    let first_status = |v: &Value| {
        v.as_object()
            .and_then(|m| m.values().next())
            .and_then(Value::as_str)
            .map(ToOwned::to_owned)
    };
    let sessions = record["records"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            let mut all = String::new();
            for phase in ["launch", "monitor", "download"] {
                all.push_str(&text(&r[phase]["text"]));
                all.push_str(&text(&r[phase]["error"]));
            }
            Session {
                workflow: r["workflows"][0].as_str().map(ToOwned::to_owned),
                text: all,
                launch_error: r["launch"]["error"].as_str().map(ToOwned::to_owned),
                monitor_error: r["monitor"]["error"].as_str().map(ToOwned::to_owned),
                returned: r["monitor"]["returned"].as_bool().unwrap_or(false),
                gave_up: r["monitor"]["gave_up"].as_bool().unwrap_or(false),
                since_launch: r["monitor"]["since_launch"].as_f64().unwrap_or(0.0),
                status: first_status(&r["status"]),
                saved_status: first_status(&r["saved_status"]),
                downloaded: r["files"].as_array().is_some_and(|f| {
                    f.iter()
                        .any(|p| p.as_str().is_some_and(|p| p.ends_with("hello.txt")))
                }),
            }
        })
        .collect();
    let half = ClientHalf {
        code,
        wall,
        sessions,
        truth,
        launches: count(&log, is_launch),
        kills: count(&log, is_kill),
        log_reads: count(&log, is_log_read),
        wait: scale.client_wait.as_secs_f64(),
    };
    rt.block_on(sandbox.shutdown());
    half
}

/// vip-client's figures for one kind.
#[derive(Debug, Default)]
struct ClientKind {
    executions: usize,
    shows: BTreeMap<String, usize>,
    with_code: usize,
    code_named: usize,
    class_named: usize,
    reported_finished: usize,
    home: usize,
    /// Still waiting on it after this long (seconds from its launch).
    waiting: Vec<f64>,
}

fn analyse_client(half: &ClientHalf) -> BTreeMap<Option<FailureKind>, ClientKind> {
    let mut out: BTreeMap<Option<FailureKind>, ClientKind> = BTreeMap::new();
    for s in &half.sessions {
        let truth = s.workflow.as_deref().and_then(|w| half.truth.get(w));
        let kind = truth.and_then(|t| t.kind);
        let row = out.entry(kind).or_default();
        row.executions += 1;
        *row.shows.entry(s.shows()).or_insert(0) += 1;
        if let Some(code) = truth.and_then(|t| t.exit_code) {
            row.with_code += 1;
            row.code_named += usize::from(names_code(&s.text, code));
        }
        if let Some(k) = kind {
            row.class_named += usize::from(names_class(&s.text, class_of(k)));
        }
        row.reported_finished += usize::from(s.reported_finished());
        row.home += usize::from(s.downloaded);
        if s.gave_up {
            row.waiting.push(s.since_launch);
        }
    }
    out
}

fn most_said(shows: &BTreeMap<String, usize>) -> String {
    let mut v: Vec<(&String, &usize)> = shows.iter().collect();
    v.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    v.iter()
        .map(|(s, n)| format!("{s} ×{n}"))
        .collect::<Vec<_>>()
        .join("; ")
}

fn span(v: &[f64]) -> String {
    if v.is_empty() {
        return "–".to_owned();
    }
    let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = v.iter().copied().fold(0.0, f64::max);
    if (hi - lo).abs() < 0.5 {
        format!("{hi:.0} s")
    } else {
        format!("{lo:.0}–{hi:.0} s")
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        f64::midpoint(v[n / 2 - 1], v[n / 2])
    }
}

fn print_run(half: &RunHalf, f: &RunFigures, scale: &Scale) {
    println!(
        "\nvip-run (release binary, --output json): exit {}, {} executions created on the sandbox, {} in run.json, for {} items ({} relaunches), {} kills, {} log reads; wall {:.1} s",
        half.code
            .map_or_else(|| "none (killed)".to_owned(), |c| c.to_string()),
        half.launches,
        f.executions,
        f.items,
        f.relaunches,
        half.kills,
        half.log_reads,
        half.wall
    );
    let (caught, stalls, worst) = f.stalls_caught(scale);
    let rows = [
        (
            "executions classified correctly".to_owned(),
            ratio(f.exec_correct, f.executions),
            "100 %",
        ),
        (
            "items classified correctly".to_owned(),
            ratio(f.items_correct, f.items),
            "100 %",
        ),
        (
            "failing jobs' exit code named".to_owned(),
            ratio(f.code_named, f.with_code),
            "100 %",
        ),
        (
            "relaunches after application, platform, outputs_missing, cleaned, killed, unknown"
                .to_owned(),
            format!(
                "{} (of {} such executions)",
                f.relaunched_not_worth, f.not_worth
            ),
            "0",
        ),
        (
            "relaunches after a clean execution".to_owned(),
            f.relaunched_clean.to_string(),
            "0",
        ),
        (
            "relaunches missed (worth one, a retry left)".to_owned(),
            f.missed.to_string(),
            "0",
        ),
        (
            "items that met an infrastructure failure, recovered in the run".to_owned(),
            format!(
                "{} (+{} whose every attempt failed)",
                ratio(f.infrastructure.recovered, f.infrastructure.counted),
                f.infrastructure.excluded
            ),
            "100 %",
        ),
        (
            "items that met a stall, recovered in the run".to_owned(),
            format!(
                "{} (+{} whose every attempt failed)",
                ratio(f.stalls.recovered, f.stalls.counted),
                f.stalls.excluded
            ),
            "100 %",
        ),
        (
            "stalls killed within the bound".to_owned(),
            format!(
                "{} (slowest {worst:.1} s after showing)",
                ratio(caught, stalls)
            ),
            "100 %",
        ),
        (
            "items reported finished with an outputs_missing execution".to_owned(),
            format!(
                "{} (of {} such executions)",
                f.missing_reported_finished, f.outputs_missing
            ),
            "0",
        ),
        (
            "items reported finished without hello.txt on disk".to_owned(),
            format!("{} (of {} finished)", f.finished_without_output, f.finished),
            "0",
        ),
        (
            "wall time against the floor".to_owned(),
            format!(
                "{:.1} s / {:.1} s = {:.2}",
                half.wall,
                f.floor,
                half.wall / f.floor.max(1e-9)
            ),
            "",
        ),
        (
            "events and run.json agree / summary and run.json agree".to_owned(),
            format!(
                "{}/{} / {}/{}",
                f.events.0, f.events.1, f.summary.0, f.summary.1
            ),
            "all",
        ),
    ];
    println!("  {:<84} {:<44} target", "figure", "vip-run");
    for (what, value, target) in rows {
        println!("  {what:<84} {value:<44} {target}");
    }
    println!(
        "  stall bounds: held and stalled {:.1} s (a read period of at most {:.1} s, + 1 s), hung {:.1} s (stalled_after {} s + 2 periods + 1 s); kills stamped every {} ms",
        scale.stall_bound(FailureKind::Held),
        scale.period(),
        scale.stall_bound(FailureKind::Hung),
        scale.stalled_after.as_secs(),
        STAMP_EVERY.as_millis()
    );
    for kind in [FailureKind::Held, FailureKind::Stalled, FailureKind::Hung] {
        if let Some(row) = f.by_kind.get(&kind) {
            let times: Vec<f64> = row.caught.iter().flatten().copied().collect();
            println!(
                "    {:<8} {} killed, {} never; time from showing to the kill: median {:.1} s, max {:.1} s (bound {:.1} s)",
                kind.name(),
                times.len(),
                row.caught.len() - times.len(),
                median(times.clone()),
                times.iter().copied().fold(0.0, f64::max),
                scale.stall_bound(kind)
            );
        }
    }
    if f.misclassified.is_empty() && f.item_wrong.is_empty() {
        println!("  misclassified: none");
    } else {
        for m in f.misclassified.iter().chain(&f.item_wrong) {
            println!("  MISCLASSIFIED {m}");
        }
    }
}

fn print_side_by_side(
    half: &RunHalf,
    run: &RunFigures,
    client: &ClientHalf,
    by_kind: &BTreeMap<Option<FailureKind>, ClientKind>,
    scale: &Scale,
) {
    println!(
        "\nvip-client 0.1.10 (one VipSession per subject, refresh 2 s; driver exit {}): {} sessions, {} executions launched ({} relaunches), {} kills, {} log reads; wall {:.1} s, monitoring bounded at {:.0} s after the last launch",
        client
            .code
            .map_or_else(|| "none (killed)".to_owned(), |c| c.to_string()),
        client.sessions.len(),
        client.launches,
        client.launches.saturating_sub(client.sessions.len()),
        client.kills,
        client.log_reads,
        client.wall,
        client.wait
    );
    let mut saved: BTreeMap<String, usize> = BTreeMap::new();
    for s in &client.sessions {
        *saved
            .entry(
                s.saved_status
                    .clone()
                    .unwrap_or_else(|| "no file".to_owned()),
            )
            .or_insert(0) += 1;
    }
    println!(
        "  its session_data.json files hold: {}",
        saved
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "\nper kind        vip-run (every execution of the kind)                          | vip-client (the first {} executions)",
        scale.items
    );
    println!(
        "  {:<16} {:>5} {:<30} {:>9} {:>10} | {:>5} {:>9} {:>10} {:>9} {:>6}  what it shows",
        "kind",
        "execs",
        "verdicts",
        "exit code",
        "relaunched",
        "execs",
        "exit code",
        "class word",
        "finished",
        "output"
    );
    for kind in kinds() {
        let r = run.by_kind.get(&kind);
        let c = by_kind.get(&Some(kind));
        let verdicts = r.map_or_else(String::new, |r| {
            r.verdicts
                .iter()
                .map(|(v, n)| format!("{v} {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        });
        let code = |named: usize, with: usize| {
            if with == 0 {
                "–".to_owned()
            } else {
                format!("{named}/{with}")
            }
        };
        let mut shows = c.map_or_else(String::new, |c| most_said(&c.shows));
        if let Some(c) = c
            && !c.waiting.is_empty()
        {
            let _ = write!(shows, " after {}", span(&c.waiting));
        }
        println!(
            "  {:<16} {:>5} {:<30} {:>9} {:>10} | {:>5} {:>9} {:>10} {:>9} {:>6}  {}",
            kind.name(),
            r.map_or(0, |r| r.executions),
            verdicts,
            r.map_or_else(|| "–".to_owned(), |r| code(r.code_named, r.with_code)),
            r.map_or_else(
                || "–".to_owned(),
                |r| format!("{}/{}", r.relaunched, r.executions)
            ),
            c.map_or(0, |c| c.executions),
            c.map_or_else(|| "–".to_owned(), |c| code(c.code_named, c.with_code)),
            c.map_or_else(
                || "–".to_owned(),
                |c| format!("{}/{}", c.class_named, c.executions)
            ),
            c.map_or_else(
                || "–".to_owned(),
                |c| format!("{}/{}", c.reported_finished, c.executions)
            ),
            c.map_or_else(
                || "–".to_owned(),
                |c| format!("{}/{}", c.home, c.executions)
            ),
            shows
        );
    }
    if let Some(c) = by_kind.get(&None) {
        println!(
            "  {:<16} {:>5} {:<30} {:>9} {:>10} | {:>5} {:>9} {:>10} {:>9} {:>6}  {}",
            "(nothing)",
            run.executions - run.by_kind.values().map(|r| r.executions).sum::<usize>(),
            "",
            "",
            "",
            c.executions,
            "",
            "",
            format!("{}/{}", c.reported_finished, c.executions),
            format!("{}/{}", c.home, c.executions),
            most_said(&c.shows)
        );
    }

    // The figures side by side.
    let failing: usize = by_kind
        .iter()
        .filter(|(k, _)| k.is_some())
        .map(|(_, c)| c.executions)
        .sum();
    let sum = |f: &dyn Fn(&ClientKind) -> usize, which: &dyn Fn(FailureKind) -> bool| -> usize {
        by_kind
            .iter()
            .filter(|(k, _)| k.is_some_and(which))
            .map(|(_, c)| f(c))
            .sum()
    };
    let any = |_: FailureKind| true;
    let class_named = sum(&|c| c.class_named, &any);
    let code_named = sum(&|c| c.code_named, &any);
    let with_code = sum(&|c| c.with_code, &any);
    let infra_met = sum(&|c| c.executions, &is_infrastructure);
    let infra_home = sum(&|c| c.home, &is_infrastructure);
    let stalls = sum(&|c| c.executions, &is_stall);
    let waiting: Vec<f64> = by_kind.values().flat_map(|c| c.waiting.clone()).collect();
    let om = by_kind.get(&Some(FailureKind::OutputsMissing));
    let home: usize = by_kind.values().map(|c| c.home).sum();
    let (caught, run_stalls, worst) = run.stalls_caught(scale);
    let client_stalls_waiting = sum(&|c| c.waiting.len(), &is_stall);
    let rows: Vec<(String, String, String)> = vec![
        (
            "failures named by their class".to_owned(),
            ratio(
                run.by_kind.values().map(|r| r.correct).sum(),
                run.by_kind.values().map(|r| r.executions).sum(),
            ),
            format!("{class_named}/{failing} (the word appears in what it printed)"),
        ),
        (
            "failing jobs' exit code named".to_owned(),
            ratio(run.code_named, run.with_code),
            format!("{code_named}/{with_code}"),
        ),
        (
            "logs read (GET …/stdout, …/stderr)".to_owned(),
            half.log_reads.to_string(),
            client.log_reads.to_string(),
        ),
        (
            "relaunches after a class not worth one".to_owned(),
            run.relaunched_not_worth.to_string(),
            "0 (relaunches nothing)".to_owned(),
        ),
        (
            "infrastructure failures recovered in the run".to_owned(),
            ratio(run.infrastructure.recovered, run.infrastructure.counted),
            format!("{infra_home}/{infra_met}"),
        ),
        (
            "stalls (held, stalled, hung) killed".to_owned(),
            format!(
                "{} within the bound, slowest {worst:.1} s",
                ratio(caught, run_stalls)
            ),
            format!(
                "0/{stalls}: {client_stalls_waiting} still waiting after {}",
                span(&waiting)
            ),
        ),
        (
            "outputs_missing reported finished".to_owned(),
            format!("{}/{}", run.missing_reported_finished, run.outputs_missing),
            om.map_or_else(
                || "–".to_owned(),
                |c| {
                    format!(
                        "{}/{} (\"ended with success\")",
                        c.reported_finished, c.executions
                    )
                },
            ),
        ),
        (
            "items with their output home".to_owned(),
            format!("{}/{}", half.home.len(), run.items),
            format!("{home}/{}", client.sessions.len()),
        ),
        (
            "wall time".to_owned(),
            format!(
                "{:.1} s ({:.2} × the {:.1} s floor), every item settled",
                half.wall,
                half.wall / run.floor.max(1e-9),
                run.floor
            ),
            format!(
                "{:.1} s, then gave up on {} still Running",
                client.wall,
                waiting.len()
            ),
        ),
    ];
    println!("\n  {:<48} {:<50} vip-client", "figure", "vip-run");
    for (what, a, b) in rows {
        println!("  {what:<48} {a:<50} {b}");
    }
}

/// `VIP_RUN_FAILURES_PROBE=N`: the kinds the first executions draw for seeds 1 to N (one
/// `vip-run --detach` of the batch per seed, on a sandbox whose executions outlast it).
fn probe(rt: &tokio::runtime::Runtime, scale: &Scale, seeds: u64) {
    let wanted = kinds();
    for seed in 1..=seeds {
        let sandbox = start(
            rt,
            Config {
                exec_duration: Duration::from_secs(3600),
                ..scale.config(seed)
            },
        );
        let dir = tempfile::tempdir().unwrap();
        write_inputs(dir.path(), scale);
        std::fs::write(dir.path().join("failures.yaml"), manifest(scale)).unwrap();
        let (code, ..) = vip_run(
            &sandbox,
            dir.path(),
            &["--detach", "failures.yaml"],
            Duration::from_secs(300),
        );
        let log = sandbox.requests();
        let draws = first_draws(&truth(&sandbox), &log, scale.items);
        let missing: Vec<&str> = wanted
            .iter()
            .filter(|k| !draws.contains_key(k))
            .map(|k| k.name())
            .collect();
        println!(
            "seed {seed}: exit {code:?}, {} failing of the first {}: {}; missing: {}",
            draws.values().sum::<usize>(),
            scale.items,
            draws
                .iter()
                .map(|(k, n)| format!("{k} {n}"))
                .collect::<Vec<_>>()
                .join(", "),
            if missing.is_empty() {
                "none".to_owned()
            } else {
                missing.join(", ")
            }
        );
        rt.block_on(sandbox.shutdown());
    }
}

fn main() {
    let scale = Scale::from_env();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    if let Some(seeds) = std::env::var("VIP_RUN_FAILURES_PROBE")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        probe(&rt, &scale, seeds);
        return;
    }
    let scratch = tempfile::tempdir().unwrap();
    println!(
        "failure bench: {} items of Hello/1.0, executions of {} s, retries {RETRIES}, stalled_after {} s, poll {} s, quota and platform cap {}; seed {}",
        scale.items,
        scale.exec.as_secs(),
        scale.stalled_after.as_secs(),
        POLL.as_secs(),
        scale.items,
        scale.seed
    );
    println!("mix: {MIX}");

    let half = run_half(&rt, &scale, scratch.path());
    let draws = first_draws(&half.truth, &half.log, scale.items);
    let mut line = String::new();
    for kind in kinds() {
        let _ = write!(line, " {} {},", kind.name(), draws.get(&kind).unwrap_or(&0));
    }
    println!(
        "the first {} executions drew {} failures:{}",
        scale.items,
        draws.values().sum::<usize>(),
        line.trim_end_matches(',')
    );
    let figures = analyse_run(&half, &scale);
    print_run(&half, &figures, &scale);

    let python = match python_with(VIP_CLIENT, scratch.path()) {
        Ok(p) => p,
        Err(why) => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "the vip-client half cannot run on CI: {why}"
            );
            println!("\nvip-client: skipped: {why}");
            return;
        }
    };
    let client = client_half(&rt, &scale, scratch.path(), &python);
    let by_kind = analyse_client(&client);
    print_side_by_side(&half, &figures, &client, &by_kind, &scale);
}

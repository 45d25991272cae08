//! vip-run side by side with VIP's own Python client (`vip-client` 0.1.10, from `PyPI`,
//! unchanged, in a throwaway virtual environment) on the same in-process sandbox, printed, not
//! asserted (the targets are in the README's Performance section). Run with
//! `cargo bench --bench peer`; `VIP_RUN_PEER_REPEAT=N` (default 3) sets how many times each row
//! runs (medians are printed), `VIP_RUN_PEER_QUICK=1` is a smoke run (4 items of 64 KiB, 2 s
//! executions, a 32 MiB file, one repeat unless `VIP_RUN_PEER_REPEAT` says otherwise), and
//! `VIP_RUN_PEER_ONLY=TEXT` runs only the rows whose title contains `TEXT` (`GiB` for the
//! transfers). Without Python or the package registry it prints `skipped: <reason>`
//! and exits 0.
//!
//! The rows, each run interleaved (vip-run, vip-client, vip-run, …), each tool in a fresh
//! folder with fresh names (neither can reuse the other's or its own earlier uploads):
//!
//! - 40 separate executions of `Hello/1.0`, one 2 MB input each, at 30 ms and at 150 ms
//!   latency: vip-run with a `matrix`; vip-client as a loop of `VipSession` objects (upload
//!   and launch each, then monitor and download each);
//! - one workflow of 40 jobs, CQUEST/0.6's paired (`vip:dot`) lists of 40 parameter and 40
//!   data files (81 uploads): lists in vip-run's `inputs`, in vip-client's `input_settings`;
//! - one workflow of 40 jobs, a list of 40 files for Hello's `input_file`;
//! - a 1 GiB upload and download: `vip-run --detach` then `vip-run download`, one vip-client
//!   session (its own phase timings), and `curl -T` / `curl -o`, on a sandbox whose
//!   `maxSizeDirectTransfer` is above 1 GiB (a fresh sandbox per repeat, for disk space).
//!   The three go in an order that turns each repeat (each goes first, second and third),
//!   on a file flushed to disk before any is timed, and each repeat's rates are printed.
//!   That sandbox stands in for a server on other machines, as VIP is: its files are kept
//!   in `/dev/shm` when there is room (on the client's ext4, vip-run's `fsync` of its state
//!   waits for the server's gigabyte to reach the disk; curl and vip-client sync nothing),
//!   and its log does not hash bodies (SHA-256 at the server took a core from whichever
//!   client needed it). Rates are printed over each tool's whole phase (vip-run's includes
//!   pre-flight, folders, the size check and the launch, a dozen round trips at 30 ms) and
//!   for the upload's `PUT` alone, as the sandbox timed it from arrival to answer, the same
//!   clock for every tool.
//!
//! Both tools poll every 2 s (vip-run's `poll_interval: 2s`, vip-client's
//! `monitor_workflows(refresh_time=2)`). The per-user quota is the item count; the platform's
//! cap of active executions is the sandbox's default (35, as on VIP), the setting the targets
//! were first measured under (floors of 20.3 s and 20.7 s for 40 separate executions: two
//! waves, 35 then 5). Two rows more lift the cap to the item count (one wave of 40), the
//! hardest case for the overhead, since nothing of it hides behind a second wave.
//!
//! **Floor**: what the sandbox makes unavoidable for a row: the executions' own time, in
//! waves of `min(quota, platform_max)` executions, plus four sequential
//! round trips at the sandbox's latency for the last item (its upload, its launch, the read
//! that sees it finished, its download). Transfers and polling add to it, so wall/floor ≥ 1,
//! and 1.0 would mean no overhead at all. For the 1 GiB row the yardstick is curl's rate on
//! the same sandbox instead.
//!
//! Per tool and row: wall time; wall/floor; CPU (user + system of the child, from GNU
//! `time -v`); peak RSS; HTTP calls by kind, from the sandbox's request log (`PUT /path`
//! uploads, `PUT /path/` empty-body folder creations, `GET /path?action=…`, with execution
//! ids and pipeline ids folded); then the ratios vip-run / vip-client. A vip-run run that
//! exits non-zero (e.g. exit 3, the manifest refused) is printed as such, not timed.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use vip_run::sandbox::{Config, DEMO_KEY, LoggedRequest, Sandbox, World, default_world_yaml};

#[path = "../tests/integration/python_env.rs"]
mod python;
use python::python_with;

const VIP_CLIENT: &str = "vip-client==0.1.10";
const POLL_SECONDS: u64 = 2;

/// The sizes of one bench run.
struct Scale {
    items: usize,
    input_bytes: usize,
    big_bytes: u64,
    exec: Duration,
    repeat: usize,
}

impl Scale {
    fn from_env() -> Self {
        let quick = std::env::var("VIP_RUN_PEER_QUICK").is_ok_and(|v| v == "1");
        let repeat = std::env::var("VIP_RUN_PEER_REPEAT")
            .ok()
            .and_then(|v| v.parse().ok())
            .filter(|n| *n > 0);
        if quick {
            Self {
                items: 4,
                input_bytes: 64 * 1024,
                big_bytes: 32 << 20,
                exec: Duration::from_secs(2),
                repeat: repeat.unwrap_or(1),
            }
        } else {
            Self {
                items: 40,
                input_bytes: 2_000_000,
                big_bytes: 1 << 30,
                exec: Duration::from_secs(10),
                repeat: repeat.unwrap_or(3),
            }
        }
    }
}

/// One timed run of one tool.
#[derive(Debug, Clone, Default)]
struct Measure {
    wall: f64,
    cpu: f64,
    rss_kib: u64,
    calls: BTreeMap<String, usize>,
    /// Why the run does not count (exit code, failure), if it does not.
    refused: Option<String>,
    /// Transfer phases (seconds), when the row times them separately.
    upload: Option<f64>,
    download: Option<f64>,
    /// The upload's `PUT` alone, as the sandbox timed it (arrival to answer), seconds.
    put: Option<f64>,
}

impl Measure {
    fn total_calls(&self) -> usize {
        self.calls.values().sum()
    }
}

/// What GNU time says about a child, and its outputs.
struct Timed {
    wall: f64,
    cpu: f64,
    rss_kib: u64,
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn timed(command: &Command, scratch: &Path) -> Timed {
    let report = scratch.join(format!(
        "time-{}.txt",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    let program = command.get_program().to_owned();
    let args: Vec<_> = command.get_args().map(ToOwned::to_owned).collect();
    let mut wrapped = Command::new("/usr/bin/time");
    wrapped
        .arg("-v")
        .arg("-o")
        .arg(&report)
        .arg(program)
        .args(args);
    if let Some(dir) = command.get_current_dir() {
        wrapped.current_dir(dir);
    }
    for (k, v) in command.get_envs() {
        match v {
            Some(v) => wrapped.env(k, v),
            None => wrapped.env_remove(k),
        };
    }
    let start = Instant::now();
    let out = wrapped
        .stdin(Stdio::null())
        .output()
        .expect("GNU time (/usr/bin/time) runs");
    let wall = start.elapsed().as_secs_f64();
    let text = std::fs::read_to_string(&report).unwrap_or_default();
    let field = |name: &str| -> Option<f64> {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(name))
            .and_then(|v| v.trim().parse().ok())
    };
    let cpu = field("User time (seconds):").unwrap_or(0.0)
        + field("System time (seconds):").unwrap_or(0.0);
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let rss_kib = field("Maximum resident set size (kbytes):").unwrap_or(0.0) as u64;
    Timed {
        wall,
        cpu,
        rss_kib,
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The kind of a logged call: method and path with ids folded, the action for data calls.
fn kind(r: &LoggedRequest) -> String {
    let path = r.path.strip_prefix("/rest").unwrap_or(&r.path);
    let action = r
        .query
        .as_deref()
        .and_then(|q| q.split('&').find_map(|p| p.strip_prefix("action=")));
    if path.starts_with("/path/") || path == "/path" {
        return match (r.method.as_str(), action) {
            ("PUT", _) if r.body_len > 0 => "PUT /path (upload)".to_owned(),
            ("PUT", _) => "PUT /path/ (mkdir)".to_owned(),
            (m, Some(a)) => format!("{m} /path?action={a}"),
            (m, None) => format!("{m} /path"),
        };
    }
    let mut segments: Vec<&str> = path.split('/').collect();
    let folded = if segments.get(1) == Some(&"executions") && segments.len() > 2 {
        if segments[2] == "count" {
            path.to_owned()
        } else {
            segments[2] = "{id}";
            segments.join("/")
        }
    } else if segments.get(1) == Some(&"pipelines") && segments.len() > 2 {
        "/pipelines/{id}".to_owned()
    } else {
        path.to_owned()
    };
    let query = if r.query.is_some() && folded == "/executions" {
        "?…"
    } else {
        ""
    };
    format!("{} {folded}{query}", r.method)
}

fn calls(log: &[LoggedRequest]) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for r in log {
        *out.entry(kind(r)).or_insert(0) += 1;
    }
    out
}

/// The sandbox's requests made while `f` ran, by kind.
fn logged<T>(sandbox: &Sandbox, f: impl FnOnce() -> T) -> (T, BTreeMap<String, usize>) {
    let before = sandbox.requests().len();
    let value = f();
    let after = sandbox.requests();
    (value, calls(&after[before..]))
}

/// The default world plus `Big/1.0`: one File input, one output of `size` bytes.
fn world(size: u64) -> World {
    let yaml = format!(
        "{}\n  - id: Big/1.0\n    visible: true\n    groups: [Demo]\n    resource_groups: [EGI-biomed]\n    outputs:\n      result: {{ kind: sized, size: {size} }}\n    descriptor:\n      name: Big\n      tool-version: \"1.0\"\n      schema-version: \"0.5\"\n      description: \"Writes one large file.\"\n      command-line: \"big [IN]\"\n      inputs:\n        - {{ id: input_file, name: Input, type: File, value-key: \"[IN]\" }}\n      output-files:\n        - {{ id: result, name: Result, path-template: big.out }}\n",
        default_world_yaml().trim_end()
    );
    World::from_yaml(&yaml).expect("the bench's world is valid")
}

struct Bench {
    scale: Scale,
    python: PathBuf,
    script: PathBuf,
    scratch: tempfile::TempDir,
    runtime: tokio::runtime::Runtime,
}

fn write_inputs(dir: &Path, scale: &Scale, names: &[&str]) {
    for i in 1..=scale.items {
        let subject = dir.join(format!("data/sub-{i:02}"));
        std::fs::create_dir_all(&subject).unwrap();
        for name in names {
            // Distinct bytes per file, so no content-addressed shortcut applies.
            let seed = u32::try_from(i).unwrap().wrapping_mul(2_654_435_761);
            let bytes: Vec<u8> = (0..u32::try_from(scale.input_bytes).unwrap())
                .map(|k| (k.wrapping_mul(2_246_822_519) ^ seed).to_le_bytes()[1])
                .collect();
            std::fs::write(subject.join(name), bytes).unwrap();
        }
    }
}

fn subjects(scale: &Scale) -> Vec<String> {
    (1..=scale.items).map(|i| format!("sub-{i:02}")).collect()
}

/// The manifest head every vip-run row shares.
fn head(name: &str, pipeline: &str, group: &str, scale: &Scale) -> String {
    format!(
        "version: 1\nname: {name}\npipeline_id: {pipeline}\ngroup: {group}\nexecution:\n  max_parallel: {}\n  poll_interval: {POLL_SECONDS}s\n",
        scale.items
    )
}

impl Bench {
    fn sandbox(&self, latency: Duration, max_download: u64, platform_max: usize) -> Sandbox {
        self.sandbox_on(latency, max_download, platform_max, false)
    }

    /// A sandbox; for the big transfers (`apart`), one that stands in for a server on other
    /// machines: its files off the client's disk ([`server_storage`]) and no hashing of
    /// bodies for its log, work VIP does not take from the client's cores.
    fn sandbox_on(
        &self,
        latency: Duration,
        max_download: u64,
        platform_max: usize,
        apart: bool,
    ) -> Sandbox {
        self.start(self.config(latency, max_download, platform_max, apart))
    }

    /// What [`Self::sandbox_on`] starts.
    fn config(
        &self,
        latency: Duration,
        max_download: u64,
        platform_max: usize,
        apart: bool,
    ) -> Config {
        Config {
            world: world(self.scale.big_bytes),
            exec_duration: self.scale.exec,
            latency,
            quota: Some(u32::try_from(self.scale.items).unwrap()),
            platform_max,
            max_size_direct_transfer: max_download,
            digest_bodies: !apart,
            data_parent: if apart {
                server_storage(self.scale.big_bytes)
            } else {
                None
            },
            ..Config::default()
        }
    }

    fn start(&self, config: Config) -> Sandbox {
        self.runtime
            .block_on(Sandbox::start(config, ([127, 0, 0, 1], 0).into()))
            .expect("the sandbox starts")
    }

    fn folder(&self, label: &str) -> PathBuf {
        let dir = self.scratch.path().join(label);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn vip_run(&self, sandbox: &Sandbox, dir: &Path, args: &[&str]) -> Measure {
        let mut command = Command::new(env!("CARGO_BIN_EXE_vip-run"));
        command
            .args(["--server", &sandbox.base_url(), "--progress", "none"])
            .args(args)
            .current_dir(dir)
            .env("VIP_API_KEY", DEMO_KEY)
            .env("VIP_RUN_STATE_HOME", dir.join(".state-home"))
            .env("NO_COLOR", "1");
        let (t, calls) = logged(sandbox, || timed(&command, self.scratch.path()));
        let refused = match t.code {
            Some(0) => None,
            Some(3) => Some("refused (exit 3)".to_owned()),
            other => {
                eprintln!("vip-run {args:?} failed: {other:?}\n{}", t.stderr);
                Some(format!("failed (exit {other:?})"))
            }
        };
        Measure {
            wall: t.wall,
            cpu: t.cpu,
            rss_kib: t.rss_kib,
            calls,
            refused,
            ..Measure::default()
        }
    }

    fn vip_client(&self, sandbox: &Sandbox, mode: &str, dir: &Path, tag: &str) -> Measure {
        let portal = sandbox.base_url().trim_end_matches("/rest").to_owned();
        let mut command = Command::new(&self.python);
        command
            .arg(&self.script)
            .args([mode, &portal])
            .arg(dir)
            .args([
                tag,
                &self.scale.items.to_string(),
                &POLL_SECONDS.to_string(),
            ])
            .current_dir(dir)
            .env("VIP_API_KEY", DEMO_KEY)
            .env("PYTHONUNBUFFERED", "1");
        let (t, calls) = logged(sandbox, || timed(&command, self.scratch.path()));
        let mut m = Measure {
            wall: t.wall,
            cpu: t.cpu,
            rss_kib: t.rss_kib,
            calls,
            ..Measure::default()
        };
        match t.stdout.lines().find_map(|l| l.strip_prefix("PEER ")) {
            Some(json) if t.code == Some(0) => {
                let phases: serde_json::Value = serde_json::from_str(json).unwrap();
                m.upload = phases["upload_s"].as_f64();
                m.download = phases["download_s"].as_f64();
            }
            _ => {
                let tail: String = t
                    .stdout
                    .lines()
                    .rev()
                    .take(15)
                    .collect::<Vec<_>>()
                    .join("\n");
                eprintln!(
                    "vip-client {mode} failed: {:?}\n{tail}\n{}",
                    t.code, t.stderr
                );
                m.refused = Some(format!("failed (exit {:?})", t.code));
            }
        }
        m
    }

    /// 40 separate executions: a matrix, and a loop of sessions.
    fn separate(&self, sandbox: &Sandbox, rep: usize, tool: Tool) -> Measure {
        let dir = self.folder(&format!(
            "separate-{}-{rep}-{}",
            sandbox.addr().port(),
            tool.name()
        ));
        write_inputs(&dir, &self.scale, &["in.bin"]);
        match tool {
            Tool::VipRun => {
                let manifest = format!(
                    "{}matrix:\n  subject: [{}]\ninputs:\n  input_file: data/{{{{ subject }}}}/in.bin\n  message: \"hi {{{{ subject }}}}\"\nresults:\n  download: results/{{{{ subject }}}}\n",
                    head(
                        &format!("peer-separate-{rep}"),
                        "Hello/1.0",
                        "Demo",
                        &self.scale
                    ),
                    subjects(&self.scale).join(", ")
                );
                std::fs::write(dir.join("run.yaml"), manifest).unwrap();
                self.vip_run(sandbox, &dir, &["run.yaml"])
            }
            Tool::VipClient => self.vip_client(sandbox, "separate", &dir, &format!("sep{rep}")),
        }
    }

    /// One workflow: CQUEST's paired lists.
    fn cquest(&self, sandbox: &Sandbox, rep: usize, tool: Tool) -> Measure {
        let dir = self.folder(&format!("cquest-{rep}-{}", tool.name()));
        write_inputs(&dir, &self.scale, &["signal.mrui"]);
        for i in 1..=self.scale.items {
            std::fs::write(
                dir.join(format!("data/sub-{i:02}/params.txt")),
                format!("te={}\n", 30 + i),
            )
            .unwrap();
        }
        std::fs::write(dir.join("data/basis.zip"), b"PK\x03\x04 basis set").unwrap();
        match tool {
            Tool::VipRun => {
                let list = |file: &str| {
                    subjects(&self.scale)
                        .iter()
                        .map(|s| format!("data/{s}/{file}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                let manifest = format!(
                    "{}inputs:\n  zipped_folder: data/basis.zip\n  parameter_file: [{}]\n  data_file: [{}]\n  iterations: 50\nresults:\n  download: results\n",
                    head(
                        &format!("peer-cquest-{rep}"),
                        "CQUEST/0.6",
                        "CQUEST",
                        &self.scale
                    ),
                    list("params.txt"),
                    list("signal.mrui")
                );
                std::fs::write(dir.join("run.yaml"), manifest).unwrap();
                self.vip_run(sandbox, &dir, &["run.yaml"])
            }
            Tool::VipClient => self.vip_client(sandbox, "cquest", &dir, &format!("cq{rep}")),
        }
    }

    /// One workflow: a list for Hello's `input_file`.
    fn hello_list(&self, sandbox: &Sandbox, rep: usize, tool: Tool) -> Measure {
        let dir = self.folder(&format!("hello-list-{rep}-{}", tool.name()));
        write_inputs(&dir, &self.scale, &["in.bin"]);
        match tool {
            Tool::VipRun => {
                let files: Vec<String> = subjects(&self.scale)
                    .iter()
                    .map(|s| format!("data/{s}/in.bin"))
                    .collect();
                let manifest = format!(
                    "{}inputs:\n  input_file: [{}]\n  message: hi\nresults:\n  download: results\n",
                    head(
                        &format!("peer-list-{rep}"),
                        "Hello/1.0",
                        "Demo",
                        &self.scale
                    ),
                    files.join(", ")
                );
                std::fs::write(dir.join("run.yaml"), manifest).unwrap();
                self.vip_run(sandbox, &dir, &["run.yaml"])
            }
            Tool::VipClient => self.vip_client(sandbox, "hello_list", &dir, &format!("hl{rep}")),
        }
    }

    /// The big file: each tool's upload and download, and curl's, on one fresh sandbox, in
    /// an order that turns with `rep` (each tool goes first, second and third in turn, so
    /// none always follows the same neighbour's disk and cache traffic).
    fn transfers(&self, rep: usize) -> [Measure; 3] {
        let sandbox = self.sandbox_on(
            Duration::from_millis(30),
            self.scale.big_bytes * 2,
            self.scale.items,
            true,
        );
        let dir = self.folder(&format!("transfer-{rep}"));
        let big = dir.join("big/big.bin");
        write_big(&big, self.scale.big_bytes);
        let mut tools: [Measure; 3] = Default::default();
        for step in 0..3 {
            let tool = (rep + step) % 3;
            tools[tool] = match tool {
                0 => self.big_vip_run(&sandbox, &dir, rep),
                1 => {
                    let m = self.vip_client(&sandbox, "transfer", &dir, &format!("big{rep}"));
                    let _ = std::fs::remove_dir_all(dir.join("vip-client-out"));
                    m
                }
                _ => self.big_curl(&sandbox, &dir, &big, rep),
            };
        }
        // Each tool's upload of the big file, as the server timed it: one `PUT` each
        // (vip-run's under its `vip-run/` folder, curl's `curl-big-`).
        for r in sandbox.requests() {
            if r.method != "PUT" || r.body_len != self.scale.big_bytes {
                continue;
            }
            let tool = if r.path.contains("/vip-run/") {
                0
            } else if r.path.contains("curl-big-") {
                2
            } else {
                1
            };
            tools[tool].put = Some(r.handled.as_secs_f64());
        }
        let _ = std::fs::remove_dir_all(&dir);
        self.runtime.block_on(sandbox.shutdown());
        tools
    }

    /// The upload alone, vip-run's and curl's back to back, `pairs` times (who goes first
    /// turns), each tool's copy deleted from the sandbox after it: on this VM the rate of
    /// storing a gigabyte in memory drifts with what was stored before, so a ratio is only
    /// fair between neighbours. Executions outlast the pairs, so the sandbox never writes an
    /// output meanwhile. Returns, per pair, (vip-run whole, vip-run `PUT`, curl whole, curl
    /// `PUT`) in seconds.
    fn upload_pairs(&self, pairs: usize) -> Vec<[f64; 4]> {
        let sandbox = self.start(Config {
            exec_duration: Duration::from_secs(3600),
            quota: Some(u32::try_from(pairs + 1).unwrap()),
            ..self.config(
                Duration::from_millis(30),
                self.scale.big_bytes * 2,
                pairs + 1,
                true,
            )
        });
        let dir = self.folder("upload-pairs");
        let big = dir.join("big/big.bin");
        write_big(&big, self.scale.big_bytes);
        let header = format!("apikey: {DEMO_KEY}");
        let delete = |path: &str| {
            let _ = Command::new("curl")
                .args(["-sS", "-o", "/dev/null", "-X", "DELETE", "-H", &header])
                .arg(format!("{}/path{path}", sandbox.base_url()))
                .status();
        };
        let mut out = Vec::new();
        for pair in 0..pairs {
            let mut whole = [0.0; 2];
            for step in 0..2 {
                let tool = (pair + step) % 2;
                if tool == 0 {
                    let name = format!("peer-pair-{pair}");
                    let manifest = format!(
                        "{}inputs:\n  input_file: big/big.bin\nresults:\n  download: out\n",
                        head(&name, "Big/1.0", "Demo", &self.scale)
                    );
                    std::fs::write(dir.join("pair.yaml"), manifest).unwrap();
                    whole[0] = self
                        .vip_run(&sandbox, &dir, &["--detach", "pair.yaml"])
                        .wall;
                    delete(&format!("/vip/Home/vip-run/{name}"));
                } else {
                    let remote = format!("/vip/Home/curl-pair-{pair}.bin");
                    let put = curl_put(
                        &header,
                        &big,
                        &format!("{}/path{remote}", sandbox.base_url()),
                    );
                    whole[1] = timed(&put, self.scratch.path()).wall;
                    delete(&remote);
                }
            }
            let put_of = |needle: &str| {
                sandbox
                    .requests()
                    .iter()
                    .find(|r| {
                        r.method == "PUT"
                            && r.body_len == self.scale.big_bytes
                            && r.path.contains(needle)
                    })
                    .map_or(f64::NAN, |r| r.handled.as_secs_f64())
            };
            out.push([
                whole[0],
                put_of(&format!("/peer-pair-{pair}/")),
                whole[1],
                put_of(&format!("curl-pair-{pair}.bin")),
            ]);
        }
        let _ = std::fs::remove_dir_all(&dir);
        self.runtime.block_on(sandbox.shutdown());
        out
    }

    /// vip-run: upload and launch (`--detach`), wait out the execution, then download.
    fn big_vip_run(&self, sandbox: &Sandbox, dir: &Path, rep: usize) -> Measure {
        let manifest = format!(
            "{}inputs:\n  input_file: big/big.bin\nresults:\n  download: out\n",
            head(&format!("peer-big-{rep}"), "Big/1.0", "Demo", &self.scale)
        );
        std::fs::write(dir.join("big.yaml"), manifest).unwrap();
        let up = self.vip_run(sandbox, dir, &["--detach", "big.yaml"]);
        std::thread::sleep(self.scale.exec + Duration::from_secs(1));
        // The sandbox writes an execution's outputs at the first request after it ends:
        // one untimed request, so the download phase times the download, as vip-client's
        // phase (after its monitoring) and curl's do, not the sandbox writing 1 GiB.
        let _ = Command::new("curl")
            .args([
                "-sS",
                "-o",
                "/dev/null",
                "-H",
                &format!("apikey: {DEMO_KEY}"),
            ])
            .arg(format!("{}/executions", sandbox.base_url()))
            .status();
        let down = self.vip_run(sandbox, dir, &["download", "big.yaml"]);
        let got = std::fs::metadata(dir.join("out/big.out")).map_or(0, |m| m.len());
        let mut vip_run = Measure {
            wall: up.wall + down.wall,
            cpu: up.cpu + down.cpu,
            rss_kib: up.rss_kib.max(down.rss_kib),
            calls: merge(&up.calls, &down.calls),
            refused: up.refused.or(down.refused),
            upload: Some(up.wall),
            download: Some(down.wall),
            put: None,
        };
        if vip_run.refused.is_none() && got != self.scale.big_bytes {
            vip_run.refused = Some(format!("downloaded {got} bytes"));
        }
        let _ = std::fs::remove_dir_all(dir.join("out"));
        vip_run
    }

    /// curl: `curl -T` to VIP's path, then `curl -o` of its content, synced to disk.
    fn big_curl(&self, sandbox: &Sandbox, dir: &Path, big: &Path, rep: usize) -> Measure {
        let base = sandbox.base_url();
        let url = format!("{base}/path/vip/Home/curl-big-{rep}.bin");
        let header = format!("apikey: {DEMO_KEY}");
        let put = curl_put(&header, big, &url);
        let (put, put_calls) = logged(sandbox, || timed(&put, self.scratch.path()));
        let fetched = dir.join("curl-big.out");
        // Flushed to disk within the timed phase (`sync FILE`), as vip-run does before it
        // renames a download into place: both rates are of a file safely on disk.
        let mut get = Command::new("sh");
        get.args([
            "-c",
            "curl -sS -f -H \"$1\" -o \"$2\" \"$3\" && sync \"$2\"",
            "sh",
            &header,
        ])
        .arg(&fetched)
        .arg(format!("{url}?action=content"));
        let (get, get_calls) = logged(sandbox, || timed(&get, self.scratch.path()));
        let _ = std::fs::remove_file(&fetched);
        Measure {
            wall: put.wall + get.wall,
            cpu: put.cpu + get.cpu,
            rss_kib: put.rss_kib.max(get.rss_kib),
            calls: merge(&put_calls, &get_calls),
            refused: (put.code != Some(0) || get.code != Some(0))
                .then(|| format!("curl failed: {} {}", put.stderr, get.stderr)),
            upload: Some(put.wall),
            download: Some(get.wall),
            put: None,
        }
    }
}

/// `curl -T file url` with the `apikey` header, as the 1 GiB row times it.
fn curl_put(header: &str, file: &Path, url: &str) -> Command {
    let mut put = Command::new("curl");
    put.args(["-sS", "-f", "-o", "/dev/null", "-H", header, "-T"])
        .arg(file)
        .arg(url);
    put
}

/// Where the sandbox of the transfer row keeps its files: `/dev/shm` (memory) when it
/// exists and the machine has room for three copies of the big file and some, else the
/// temporary folder. VIP's storage is not on the client's disk; sharing one ext4 with it,
/// vip-run's `fsync` of its state (which curl and vip-client do not do) waits for the
/// server's gigabyte to be written out.
fn server_storage(big: u64) -> Option<PathBuf> {
    let shm = Path::new("/dev/shm");
    let available_kib: u64 = std::fs::read_to_string("/proc/meminfo")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    (shm.is_dir() && available_kib * 1024 > 4 * big + (2 << 30)).then(|| shm.to_path_buf())
}

fn merge(a: &BTreeMap<String, usize>, b: &BTreeMap<String, usize>) -> BTreeMap<String, usize> {
    let mut out = a.clone();
    for (k, v) in b {
        *out.entry(k.clone()).or_insert(0) += v;
    }
    out
}

/// `len` bytes of a fixed pattern that is not all zeros.
fn pattern(len: u32) -> Vec<u8> {
    (0..len)
        .map(|i| i.wrapping_mul(2_654_435_761).to_le_bytes()[3])
        .collect()
}

/// Real bytes (not a sparse file), so no side can take a shortcut.
fn write_big(path: &Path, size: u64) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let block = pattern(1 << 20);
    for _ in 0..size / 1_048_576 {
        f.write_all(&block).unwrap();
    }
    // On disk before any tool is timed: left dirty, its writeback would land on whichever
    // tool ran first (vip-run's first `fsync` of its state waited 130 ms for it).
    f.into_inner().unwrap().sync_all().unwrap();
}

/// One row's run of one tool: (bench, sandbox, repeat, tool).
type Row = fn(&Bench, &Sandbox, usize, Tool) -> Measure;

#[derive(Debug, Clone, Copy)]
enum Tool {
    VipRun,
    VipClient,
}

impl Tool {
    fn name(self) -> &'static str {
        match self {
            Tool::VipRun => "vip-run",
            Tool::VipClient => "vip-client",
        }
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n == 0 {
        return 0.0;
    }
    if n % 2 == 1 {
        values[n / 2]
    } else {
        f64::midpoint(values[n / 2 - 1], values[n / 2])
    }
}

/// The median of each figure over the repeats that counted (`None` if none did).
fn summary(runs: &[Measure]) -> Result<Measure, String> {
    let ok: Vec<&Measure> = runs.iter().filter(|m| m.refused.is_none()).collect();
    if ok.is_empty() {
        return Err(runs
            .iter()
            .find_map(|m| m.refused.clone())
            .unwrap_or_else(|| "not run".to_owned()));
    }
    let pick = |f: &dyn Fn(&Measure) -> f64| median(ok.iter().map(|m| f(m)).collect());
    let mut calls = BTreeMap::new();
    let kinds: std::collections::BTreeSet<&String> =
        ok.iter().flat_map(|m| m.calls.keys()).collect();
    for k in kinds {
        #[allow(
            clippy::cast_precision_loss,
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss
        )]
        let n = pick(&|m| m.calls.get(k).copied().unwrap_or(0) as f64).round() as usize;
        calls.insert(k.clone(), n);
    }
    #[allow(
        clippy::cast_precision_loss,
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss
    )]
    let rss_kib = pick(&|m| m.rss_kib as f64) as u64;
    let phase = |f: fn(&Measure) -> Option<f64>| {
        let v: Vec<f64> = ok.iter().filter_map(|m| f(m)).collect();
        (!v.is_empty()).then(|| median(v))
    };
    Ok(Measure {
        wall: pick(&|m| m.wall),
        cpu: pick(&|m| m.cpu),
        rss_kib,
        calls,
        refused: None,
        upload: phase(|m| m.upload),
        download: phase(|m| m.download),
        put: phase(|m| m.put),
    })
}

#[allow(clippy::cast_precision_loss)]
fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn print_row(title: &str, floor: f64, runs: &[(&str, Result<Measure, String>)]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "\n{title}  (floor {floor:.1} s)");
    let _ = writeln!(
        out,
        "  {:<12} {:>8} {:>11} {:>7} {:>10} {:>7}",
        "tool", "wall s", "wall/floor", "CPU s", "peak MiB", "calls"
    );
    for (name, m) in runs {
        match m {
            Ok(m) => {
                let _ = writeln!(
                    out,
                    "  {name:<12} {:>8.1} {:>11.2} {:>7.2} {:>10.1} {:>7}",
                    m.wall,
                    m.wall / floor,
                    m.cpu,
                    mib(m.rss_kib),
                    m.total_calls()
                );
            }
            Err(why) => {
                let _ = writeln!(out, "  {name:<12} {why}");
            }
        }
    }
    if let [(_, Ok(a)), (_, Ok(b))] = runs {
        #[allow(clippy::cast_precision_loss)]
        let calls = a.total_calls() as f64 / b.total_calls().max(1) as f64;
        let _ = writeln!(
            out,
            "  vip-run / vip-client: wall {:.2}, CPU {:.2}, peak memory {:.2}, calls {calls:.2}",
            a.wall / b.wall,
            a.cpu / b.cpu.max(1e-9),
            mib(a.rss_kib) / mib(b.rss_kib).max(1e-9),
        );
    }
    out.push_str(&calls_table(runs));
    out
}

fn calls_table(runs: &[(&str, Result<Measure, String>)]) -> String {
    let mut out = String::new();
    let kinds: std::collections::BTreeSet<&String> = runs
        .iter()
        .filter_map(|(_, m)| m.as_ref().ok())
        .flat_map(|m| m.calls.keys())
        .collect();
    if kinds.is_empty() {
        return out;
    }
    let _ = write!(out, "  {:<34}", "calls by kind");
    for (name, _) in runs {
        let _ = write!(out, " {name:>10}");
    }
    out.push('\n');
    for k in kinds {
        let _ = write!(out, "    {k:<32}");
        for (_, m) in runs {
            match m {
                Ok(m) => {
                    let _ = write!(out, " {:>10}", m.calls.get(k).copied().unwrap_or(0));
                }
                Err(_) => {
                    let _ = write!(out, " {:>10}", "-");
                }
            }
        }
        out.push('\n');
    }
    out
}

fn main() {
    let scale = Scale::from_env();
    let scratch = tempfile::tempdir().unwrap();
    let python = match python_with(VIP_CLIENT, scratch.path()) {
        Ok(p) => p,
        Err(why) => {
            println!("skipped: {why}");
            return;
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let bench = Bench {
        python,
        script: Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/peer/vip_client_batch.py"),
        scratch,
        runtime,
        scale,
    };
    let s = &bench.scale;
    println!(
        "vip-run vs {VIP_CLIENT}: {} items of {} bytes, executions of {} s, medians of {} (interleaved)",
        s.items,
        s.input_bytes,
        s.exec.as_secs(),
        s.repeat
    );
    let exec = s.exec.as_secs_f64();
    // The sandbox's default cap of active executions on the platform (the targets' setting).
    let platform_default = Config::default().platform_max;
    // `executions` run in waves of `min(quota, platform_max)`; the quota is the item count.
    let floor = |latency: Duration, executions: usize, platform_max: usize| {
        let waves = executions.div_ceil(platform_max.min(s.items).max(1));
        #[allow(clippy::cast_precision_loss)]
        let waves = waves as f64;
        waves * exec + 4.0 * latency.as_secs_f64()
    };
    let ms = Duration::from_millis;
    let rows: [(String, Duration, usize, usize, Row); 6] = [
        (
            format!(
                "{} separate executions (matrix / a loop of VipSessions), latency 30 ms",
                s.items
            ),
            ms(30),
            platform_default,
            s.items,
            Bench::separate,
        ),
        (
            format!("{} separate executions, latency 150 ms", s.items),
            ms(150),
            platform_default,
            s.items,
            Bench::separate,
        ),
        (
            format!(
                "{} separate executions, latency 30 ms, platform cap lifted (one wave)",
                s.items
            ),
            ms(30),
            s.items,
            s.items,
            Bench::separate,
        ),
        (
            format!(
                "{} separate executions, latency 150 ms, platform cap lifted (one wave)",
                s.items
            ),
            ms(150),
            s.items,
            s.items,
            Bench::separate,
        ),
        (
            format!(
                "one workflow, {} jobs (CQUEST paired lists, {} uploads), latency 30 ms",
                s.items,
                2 * s.items + 1
            ),
            ms(30),
            platform_default,
            1,
            Bench::cquest,
        ),
        (
            format!(
                "one workflow, {} jobs (a list for Hello's input_file), latency 30 ms",
                s.items
            ),
            ms(30),
            platform_default,
            1,
            Bench::hello_list,
        ),
    ];
    let only = std::env::var("VIP_RUN_PEER_ONLY").unwrap_or_default();
    for (title, latency, platform_max, executions, row) in rows {
        if !title.contains(&only) {
            continue;
        }
        let sandbox = bench.sandbox(latency, 15_000_000, platform_max);
        let mut runs: [Vec<Measure>; 2] = [Vec::new(), Vec::new()];
        for rep in 0..s.repeat {
            for (i, tool) in [Tool::VipRun, Tool::VipClient].into_iter().enumerate() {
                let m = row(&bench, &sandbox, rep, tool);
                eprintln!(
                    "  [{title}] {} #{rep}: {:.1} s{}",
                    tool.name(),
                    m.wall,
                    m.refused
                        .as_deref()
                        .map(|r| format!(" ({r})"))
                        .unwrap_or_default()
                );
                runs[i].push(m);
            }
        }
        bench.runtime.block_on(sandbox.shutdown());
        let text = print_row(
            &title,
            floor(latency, executions, platform_max),
            &[
                ("vip-run", summary(&runs[0])),
                ("vip-client", summary(&runs[1])),
            ],
        );
        print!("{text}");
    }

    if !"GiB upload and download".contains(&only) {
        return;
    }
    let names = ["vip-run", "vip-client", "curl"];
    #[allow(clippy::cast_precision_loss)]
    let rate = |secs: Option<f64>| secs.map_or(0.0, |t| s.big_bytes as f64 / t / 1e6);
    let mut runs: [Vec<Measure>; 3] = [Vec::new(), Vec::new(), Vec::new()];
    for rep in 0..s.repeat {
        // Each repeat's figures, in the order the tools ran: the spread behind the medians.
        let mut said = String::new();
        for (i, m) in bench.transfers(rep).into_iter().enumerate() {
            let _ = write!(
                said,
                "; {} up {:.0} (PUT {:.0}) down {:.0} MB/s",
                names[i],
                rate(m.upload),
                rate(m.put),
                rate(m.download)
            );
            runs[i].push(m);
        }
        eprintln!(
            "  [transfers] #{rep} done, order {}{said}",
            (0..3)
                .map(|step| names[(rep + step) % 3])
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    #[allow(clippy::cast_precision_loss)]
    let gib = s.big_bytes as f64 / f64::from(1u32 << 30);
    println!(
        "\n{gib:.2} GiB upload and download, latency 30 ms (rates over each tool's whole phase; `PUT` alone: the upload's request as the sandbox timed it; server storage: {}, bodies not hashed by the sandbox)",
        server_storage(s.big_bytes).map_or_else(
            || std::env::temp_dir().display().to_string(),
            |p| p.display().to_string()
        )
    );
    println!(
        "  {:<12} {:>11} {:>13} {:>13} {:>8} {:>10} {:>7}",
        "tool", "upload MB/s", "PUT alone MB/s", "download MB/s", "CPU s", "peak MiB", "calls"
    );
    let summaries: Vec<Result<Measure, String>> = runs.iter().map(|r| summary(r)).collect();
    for (name, m) in names.iter().zip(&summaries) {
        match m {
            Ok(m) => println!(
                "  {name:<12} {:>11.0} {:>14.0} {:>13.0} {:>8.2} {:>10.1} {:>7}",
                rate(m.upload),
                rate(m.put),
                rate(m.download),
                m.cpu,
                mib(m.rss_kib),
                m.total_calls()
            ),
            Err(why) => println!("  {name:<12} {why}"),
        }
    }
    if let [Ok(run), Ok(client), Ok(curl)] = summaries.as_slice() {
        println!(
            "  vip-run / curl: upload {:.2} (PUT alone {:.2}), download {:.2}; vip-run / vip-client: upload {:.2}, download {:.2}",
            rate(run.upload) / rate(curl.upload),
            rate(run.put) / rate(curl.put),
            rate(run.download) / rate(curl.download),
            rate(run.upload) / rate(client.upload),
            rate(run.download) / rate(client.download),
        );
    }
    // The upload alone, in pairs back to back (see `upload_pairs`).
    let pairs = bench.upload_pairs(s.repeat.max(5));
    let ratios = |a: usize, b: usize| -> Vec<f64> { pairs.iter().map(|p| p[b] / p[a]).collect() };
    let (whole, put) = (ratios(0, 2), ratios(1, 3));
    let list = |r: &[f64]| {
        r.iter()
            .map(|x| format!("{x:.2}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!(
        "  the upload alone, {} pairs back to back (vip-run `--detach`, `curl -T`; who goes first turns; each copy deleted after): vip-run / curl per pair, whole {} (median {:.2}), `PUT` alone {} (median {:.2}); curl's `PUT` {:.0}–{:.0} MB/s",
        pairs.len(),
        list(&whole),
        median(whole.clone()),
        list(&put),
        median(put.clone()),
        pairs
            .iter()
            .map(|p| rate(Some(p[3])))
            .fold(f64::INFINITY, f64::min),
        pairs.iter().map(|p| rate(Some(p[3]))).fold(0.0, f64::max),
    );
    let (sha_rate, cores) = sha256_rate();
    #[allow(clippy::cast_precision_loss)]
    let sha_secs = s.big_bytes as f64 / sha_rate / 1e6;
    println!(
        "  SHA-256 on this machine: {sha_rate:.0} MB/s (sha2, as vip-run hashes what it sends): {sha_secs:.2} core-seconds for the file, which curl and vip-client do not spend; {cores} cores, shared with the sandbox"
    );
    let labelled: Vec<(&str, Result<Measure, String>)> =
        names.iter().copied().zip(summaries).collect();
    print!("{}", calls_table(&labelled));
}

/// SHA-256's rate on this machine (MB/s, the best of three passes over 64 MiB, in 1 MiB
/// updates as vip-run's uploads hash), and the number of cores: what the hash that vip-run
/// computes while it sends costs here.
fn sha256_rate() -> (f64, usize) {
    use sha2::Digest as _;
    let data = pattern(64 << 20);
    let mut best = f64::MAX;
    for _ in 0..3 {
        let start = Instant::now();
        let mut hasher = sha2::Sha256::new();
        for chunk in data.chunks(1 << 20) {
            hasher.update(chunk);
        }
        std::hint::black_box(hasher.finalize());
        best = best.min(start.elapsed().as_secs_f64());
    }
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    #[allow(clippy::cast_precision_loss)]
    (data.len() as f64 / best / 1e6, cores)
}

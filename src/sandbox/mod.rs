//! The sandbox: a faithful simulator of VIP's REST API (VIP's dialect of CARMIN, described
//! in docs/vip.md), served on loopback. It stands in for VIP in the tests, the
//! benchmarks, `vip-run --sandbox` and `vip-run sandbox`, for people without an account.
//!
//! It has users with keys, levels, groups and quotas; a pipeline catalogue with Boutiques
//! descriptors and group restrictions; the data namespace, on disk in a scratch folder
//! removed at shutdown; executions driven by a clock (Ready → Running → Finished or
//! `ExecutionFailed`) with their `jobs` map, logs and outputs; VIP's error codes, statuses
//! and messages; and fault knobs (latency, 5xx answers, dropped connections), and the
//! failures VIP shows (failed, held, stalled and hung jobs, missing outputs, runs deleted or
//! killed on the portal, a saturated engine, uploads that time out), all seeded and recorded
//! ([`Sandbox::injected`]). It shares only the wire types and the character rules with the
//! client (`crate::vip::{wire, rules}`), so the two are checked against the same document,
//! not against each other. It never imports `run`, `cli`, `report` or `manifest`.
//!
//! Where things live:
//!
//! - `routes/`: the HTTP face (raw-request handling, the key filter) and one file per
//!   resource: `platform`, `pipelines`, `executions`, `paths`;
//! - `scheduler/`: the executions and their clock; `views` (what VIP shows of a run) and
//!   `results` (the outputs it writes);
//! - `submit`: the checks of a launch, and its expansion into jobs;
//! - `world/`: users, groups and pipelines (the world file); `builtin`, `consistency`,
//!   `descriptors`;
//! - `data`: the data namespace on disk; `outputs`: what a job produces;
//! - `errors`: VIP's error bodies; `failures`: the failure kinds, their mix and their record;
//!   `faults`, `net`, `log`, `clock`: fault injection, the listener, the request log,
//!   wall-clock helpers;
//! - `serve`: `vip-run sandbox`, serving until Ctrl-C.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use vip_run::sandbox::{Config, Sandbox};
//! let sandbox = Sandbox::start(Config::default(), "127.0.0.1:0".parse().unwrap()).await?;
//! println!("VIP at {}", sandbox.base_url());
//! sandbox.shutdown().await;
//! # Ok(()) }
//! ```

mod clock;
mod data;
mod errors;
mod failures;
mod faults;
mod log;
mod net;
mod outputs;
mod routes;
mod scheduler;
pub mod serve;
mod submit;
mod world;

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use failures::{FailureKind, FailureMix, InjectedJob, Injection};
pub use log::LoggedRequest;
pub use world::{
    DataSettings, EngineSettings, ExternalPlatform, Group, GroupKind, Level, Logs, OutputRecipe,
    PipelineDef, Trigger, User, World, default_world, default_world_yaml,
};

use crate::vip::wire::ExecutionStatus;

/// The demo user's key in the default world.
pub const DEMO_KEY: &str = "sandbox-demo-key";
/// The guest user's key in the default world (a Beginner outside the CQUEST group).
pub const GUEST_KEY: &str = "sandbox-guest-key";

/// How the sandbox behaves.
#[derive(Debug, Clone)]
pub struct Config {
    /// Users, groups and pipelines.
    pub world: World,
    /// How long an execution runs once Running.
    pub exec_duration: Duration,
    /// Added before every response.
    pub latency: Duration,
    /// Share of requests answered with a 5xx instead (500/8000, or an HTML 502/503).
    pub error_rate: f64,
    /// Share of connections cut without a response (half of them after doing the work).
    pub drop_rate: f64,
    /// Overrides every user's running-execution quota.
    pub quota: Option<u32>,
    /// Share of executions that end `ExecutionFailed` (an `application` failure, exit code
    /// 50). Drawn from the ids' stream, as before [`Config::failures`] existed.
    pub failure_rate: f64,
    /// The failures injected, by kind (`vip-run sandbox --failures SPEC`), drawn from their
    /// own streams of the seed: adding a mix changes no execution id. Empty by default.
    pub failures: FailureMix,
    /// Seeds every random choice: same seed, same run.
    pub seed: u64,
    /// The download cap (`maxSizeDirectTransfer`).
    pub max_size_direct_transfer: u64,
    /// Platform-wide Running slots; beyond them new runs are Ready (queued).
    pub engine_slots: usize,
    /// The platform cap on Running + Ready runs across users (error 2000).
    pub platform_max: usize,
    /// An outage: (start after the sandbox starts, length). Every request in it fails.
    pub outage: Option<(Duration, Duration)>,
    /// The engine's `maxJobsPerWorkflow`, overriding the world's `engine` setting (500 by
    /// default): a launch with more jobs is refused (400/8000 "Too many jobs").
    pub max_jobs_per_workflow: Option<usize>,
    /// Where the data namespace's scratch folder is made (default: the system's temporary
    /// folder). A benchmark puts it on another file system than the client's, as VIP's
    /// storage is: on one ext4, a client's `fsync` of its state waits for the server's
    /// gigabyte to reach the disk.
    pub data_parent: Option<std::path::PathBuf>,
    /// Whether the request log hashes every body (`body_sha256`, on by default: tests check
    /// uploads by it). A benchmark of big transfers turns it off: VIP spends none of the
    /// client's CPU on it, while a sandbox on the same cores takes it from the client.
    pub digest_bodies: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            world: default_world(),
            exec_duration: Duration::from_secs(20),
            latency: Duration::ZERO,
            error_rate: 0.0,
            drop_rate: 0.0,
            quota: None,
            failure_rate: 0.0,
            failures: FailureMix::default(),
            seed: 0,
            max_size_direct_transfer: 15_000_000,
            engine_slots: 1000,
            platform_max: 35,
            outage: None,
            max_jobs_per_workflow: None,
            data_parent: None,
            digest_bodies: true,
        }
    }
}

/// What the request handlers share.
pub(crate) struct Shared {
    pub(crate) config: Config,
    pub(crate) world: World,
    pub(crate) data: data::DataTree,
    pub(crate) scheduler: Mutex<scheduler::Scheduler>,
    pub(crate) faults: Mutex<faults::Faults>,
    /// The request-level failures' draws (`saturated`, `engine_error`, `slow_upload`).
    pub(crate) signals: Mutex<failures::Signals>,
    pub(crate) log: Mutex<Vec<LoggedRequest>>,
    /// What was injected, in the order of the requests that caused it (pushed with their
    /// log entry, under the log's lock).
    pub(crate) injected: Mutex<Vec<Injection>>,
    /// The outage window, if one is staged.
    pub(crate) outage: Mutex<Option<(Instant, Instant)>>,
    /// Raw entries added to the top of every `GET /executions` answer (a test hook).
    pub(crate) extra_listed: Mutex<Vec<serde_json::Value>>,
    /// Requests being handled now (for the log's `in_flight`).
    pub(crate) in_flight: std::sync::atomic::AtomicUsize,
    /// Transfers (uploads, downloads of content) being handled now (for the log's
    /// `transfers_in_flight`).
    pub(crate) transfers_in_flight: std::sync::atomic::AtomicUsize,
}

impl Shared {
    /// Whether `now` is inside the staged outage.
    pub(crate) fn in_outage(&self, now: Instant) -> bool {
        routes::lock(&self.outage).is_some_and(|(from, to)| from <= now && now < to)
    }
}

/// A running sandbox. Dropping it stops serving; [`Sandbox::shutdown`] also waits.
pub struct Sandbox {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}

impl Sandbox {
    /// Binds `listen` (use 127.0.0.1:0 for a free port) and serves in a tokio task on the
    /// current runtime. Loopback addresses only: the sandbox is for this machine.
    pub async fn start(config: Config, listen: SocketAddr) -> io::Result<Sandbox> {
        if !listen.ip().is_loopback() {
            return Err(invalid(format!(
                "the sandbox listens on loopback only, not on {listen}"
            )));
        }
        for (name, rate) in [
            ("error_rate", config.error_rate),
            ("drop_rate", config.drop_rate),
            ("failure_rate", config.failure_rate),
        ] {
            if !(0.0..=1.0).contains(&rate) {
                return Err(invalid(format!(
                    "{name} must be between 0 and 1, not {rate}"
                )));
            }
        }
        let mut world = config.world.clone();
        if let Some(n) = config.max_jobs_per_workflow {
            world.engine.max_jobs_per_workflow = n;
        }
        world.check().map_err(invalid)?;
        let data = data::DataTree::create(&world, config.data_parent.as_deref())?;
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let scheduler = scheduler::Scheduler::new(scheduler::SchedulerConfig {
            exec_duration: config.exec_duration,
            failure_rate: config.failure_rate,
            engine_slots: config.engine_slots,
            platform_max: config.platform_max,
            quota: config.quota,
            seed: config.seed,
            failures: config.failures.clone(),
        });
        let faults = faults::Faults::new(config.seed, config.error_rate, config.drop_rate);
        let signals = failures::Signals::new(config.seed, config.failures.clone());
        let started = Instant::now();
        let outage = config
            .outage
            .map(|(start, length)| (started + start, started + start + length));
        let shared = Arc::new(Shared {
            config,
            world,
            data,
            scheduler: Mutex::new(scheduler),
            faults: Mutex::new(faults),
            signals: Mutex::new(signals),
            log: Mutex::new(Vec::new()),
            injected: Mutex::new(Vec::new()),
            outage: Mutex::new(outage),
            extra_listed: Mutex::new(Vec::new()),
            in_flight: std::sync::atomic::AtomicUsize::new(0),
            transfers_in_flight: std::sync::atomic::AtomicUsize::new(0),
        });
        let app = routes::router(Arc::clone(&shared))
            .into_make_service_with_connect_info::<net::ConnInfo>();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            // Serving only ends on shutdown; an accept error is retried by the listener.
            let _ = axum::serve(net::KillableListener(listener), app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });
        Ok(Sandbox {
            addr,
            shared,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT/rest`.
    pub fn base_url(&self) -> String {
        format!("http://{}/rest", self.addr)
    }

    /// Every request so far, in order.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        routes::lock(&self.shared.log).clone()
    }

    /// Every failure injected so far, in the order of the requests that caused them: the
    /// truth to check a client's account against. Each names its request in
    /// [`Sandbox::requests`], whose entry carries the kind's name in `injected`.
    pub fn injected(&self) -> Vec<Injection> {
        routes::lock(&self.shared.injected).clone()
    }

    /// The world being served.
    pub fn world(&self) -> &World {
        &self.shared.world
    }

    /// Where the data namespace lives on disk (removed at shutdown).
    pub fn data_dir(&self) -> &std::path::Path {
        self.shared.data.root()
    }

    /// Test hook: forces an execution's status (e.g. Unknown), as VIP's engine might.
    /// Finished writes the outputs; Killed kills; Running restarts the clock; Ready
    /// queues; any other status freezes the run as it stands.
    #[allow(clippy::needless_pass_by_value)] // the signature other code is written against
    pub fn set_status(&self, execution_id: &str, status: ExecutionStatus) {
        let mut scheduler = routes::lock(&self.shared.scheduler);
        scheduler.force(
            execution_id,
            &status,
            &self.shared.world,
            &self.shared.data,
            Instant::now(),
        );
    }

    /// Test hook: stages an outage starting `after` from now and lasting `length` (it
    /// replaces any outage staged before).
    pub fn set_outage(&self, after: Duration, length: Duration) {
        let from = Instant::now() + after;
        *routes::lock(&self.shared.outage) = Some((from, from + length));
    }

    /// Test hook: adds `entry`, raw JSON, at the top of every user's `GET /executions`
    /// answer, as another CARMIN server (or a future VIP) might send it.
    pub fn add_listed(&self, entry: serde_json::Value) {
        routes::lock(&self.shared.extra_listed).push(entry);
    }

    /// Stops serving (waiting up to 2 s for open connections) and removes the data folder.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let abort = task.abort_handle();
            if tokio::time::timeout(Duration::from_secs(2), task)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
        self.shared.data.remove();
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.shared.data.remove();
    }
}

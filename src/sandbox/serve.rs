//! `vip-run sandbox`: its arguments, and serving until Ctrl-C or SIGTERM (either stops it
//! cleanly and removes its storage folder) with a banner that says where
//! the API is, who can log in with which key, what there is to run, and which failures are
//! injected.

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::{Config, FailureMix, Sandbox, World, default_world};

fn parse_duration(text: &str) -> Result<Duration, String> {
    crate::duration::parse(text)
}

/// `vip-run sandbox`'s options.
#[derive(Debug, clap::Args)]
pub struct SandboxArgs {
    /// Where to listen (loopback only).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// A world file (users, groups, pipelines) instead of the built-in one.
    #[arg(long)]
    pub world: Option<PathBuf>,
    /// How long an execution runs once Running.
    #[arg(long, default_value = "20s", value_parser = parse_duration)]
    pub exec_duration: Duration,
    /// Delay added before every response.
    #[arg(long, default_value = "0s", value_parser = parse_duration)]
    pub latency: Duration,
    /// Share of requests answered with a 5xx (0 to 1).
    #[arg(long, default_value_t = 0.0)]
    pub error_rate: f64,
    /// Share of connections cut without an answer (0 to 1).
    #[arg(long, default_value_t = 0.0)]
    pub drop_rate: f64,
    /// Running executions allowed per user, overriding the world's quotas.
    #[arg(long)]
    pub quota: Option<u32>,
    /// Share of executions that end `ExecutionFailed` (0 to 1).
    #[arg(long, default_value_t = 0.0)]
    pub failure_rate: f64,
    /// Failures to inject, as KIND=RATE items separated by commas, e.g.
    /// `application=0.05,input_download=0.05,held=0.02` (a wrong kind lists them all). An
    /// execution draws at most one execution kind (their rates add up to 1 at most); a launch
    /// draws `saturated` or `engine_error`; an upload draws `slow_upload`. Reproducible with
    /// --seed.
    #[arg(long, value_name = "SPEC", default_value = "", value_parser = FailureMix::parse)]
    pub failures: FailureMix,
    /// Seed of every random choice: the same seed replays the same faults.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Stage an outage: from START after the sandbox starts, for DURATION, every connection
    /// is cut or answered with an HTML 503 page (e.g. `30s:1m`).
    #[arg(long, value_name = "START:DURATION", value_parser = parse_outage)]
    pub outage: Option<(Duration, Duration)>,
    /// Most jobs per execution (VIP's unpublished `maxJobsPerWorkflow`; default: the world's, 500).
    #[arg(long, value_name = "N")]
    pub max_jobs: Option<usize>,
    /// The platform's cap of active (Running + Ready) executions across all users; a launch
    /// beyond it is refused with 400/2000, as VIP's `simulation.max.platfrom` does.
    #[arg(long, value_name = "N", default_value_t = 35)]
    pub platform_max: usize,
    /// VIP's direct-transfer cap (`maxSizeDirectTransfer` in `GET /platform`): larger files
    /// are refused by `?action=content`. Bytes, or with a unit: `15MB`, `2GiB`.
    #[arg(long, value_name = "BYTES", default_value = "15000000", value_parser = parse_bytes)]
    pub max_download_size: u64,
    /// Append every request to FILE as it is answered, one JSON object a line (method, path,
    /// query, status, and `injected`: the failure it caused), and every injected failure with
    /// its execution and jobs (`{"injection": …}`): the truth a client's verdicts can be
    /// compared with. Keys are never written.
    #[arg(long, value_name = "FILE")]
    pub request_log: Option<PathBuf>,
}

/// Bytes, plain (`15000000`) or with a decimal (`kB`, `MB`, `GB`, `TB`) or binary (`KiB`,
/// `MiB`, `GiB`, `TiB`) unit; a fraction is allowed with a unit (`1.5GB`).
fn parse_bytes(text: &str) -> Result<u64, String> {
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let unit_size: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "m" | "mb" => 1_000_000,
        "g" | "gb" => 1_000_000_000,
        "t" | "tb" => 1_000_000_000_000,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        "tib" => 1 << 40,
        _ => {
            return Err(format!(
                "`{text}`: unknown unit `{}`; write bytes, or e.g. 15MB, 2GiB",
                unit.trim()
            ));
        }
    };
    let bad = || format!("`{text}`: write a number of bytes, or e.g. 15MB, 2GiB");
    if unit_size == 1 || !number.contains('.') {
        let whole: u64 = number.parse().map_err(|_| bad())?;
        return whole.checked_mul(unit_size).ok_or_else(bad);
    }
    let value: f64 = number.parse().map_err(|_| bad())?;
    #[allow(clippy::cast_precision_loss)]
    let bytes = (value * unit_size as f64).round();
    // Checked against u64's range first, so the cast below cannot wrap.
    #[allow(clippy::cast_precision_loss)]
    if !bytes.is_finite() || bytes < 0.0 || bytes >= u64::MAX as f64 {
        return Err(bad());
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    Ok(bytes as u64)
}

fn parse_outage(text: &str) -> Result<(Duration, Duration), String> {
    let (start, length) = text
        .split_once(':')
        .ok_or_else(|| format!("`{text}`: write START:DURATION, e.g. 30s:1m"))?;
    Ok((parse_duration(start)?, parse_duration(length)?))
}

impl SandboxArgs {
    /// The sandbox configuration these options describe.
    pub fn config(&self) -> Result<Config, String> {
        for (flag, rate) in [
            ("--error-rate", self.error_rate),
            ("--drop-rate", self.drop_rate),
            ("--failure-rate", self.failure_rate),
        ] {
            if !(0.0..=1.0).contains(&rate) {
                return Err(format!("{flag} must be between 0 and 1, not {rate}"));
            }
        }
        if self.platform_max == 0 {
            return Err("--platform-max must be at least 1: with 0 no run could start".into());
        }
        let world = match &self.world {
            Some(path) => World::load(path)?,
            None => default_world(),
        };
        Ok(Config {
            world,
            exec_duration: self.exec_duration,
            latency: self.latency,
            error_rate: self.error_rate,
            drop_rate: self.drop_rate,
            quota: self.quota,
            failure_rate: self.failure_rate,
            failures: self.failures.clone(),
            seed: self.seed,
            outage: self.outage,
            max_jobs_per_workflow: self.max_jobs,
            platform_max: self.platform_max,
            max_size_direct_transfer: self.max_download_size,
            ..Config::default()
        })
    }
}

/// What the banner says of the failures injected.
fn describe_failures(config: &Config) -> String {
    let mut parts = Vec::new();
    if config.failure_rate > 0.0 {
        parts.push(format!(
            "application={} (--failure-rate)",
            config.failure_rate
        ));
    }
    if !config.failures.is_empty() {
        parts.push(config.failures.to_string());
    }
    if parts.is_empty() {
        "failures: none\n".to_owned()
    } else {
        format!("failures: {}  seed: {}\n", parts.join(", "), config.seed)
    }
}

/// What the banner says after its first line.
fn describe(world: &World, quota: Option<u32>) -> String {
    let mut out = String::from("users:\n");
    for u in &world.users {
        let _ = writeln!(
            out,
            "  {}  key: {}  password: {}  level: {:?}  quota: {}  groups: {}",
            u.email,
            u.api_key,
            u.password,
            u.level,
            quota.unwrap_or(u.quota),
            u.groups.join(", ")
        );
    }
    out.push_str("pipelines:\n");
    for p in &world.pipelines {
        let _ = writeln!(
            out,
            "  {}  groups: {}{}",
            p.id,
            p.groups.join(", "),
            if p.visible { "" } else { "  (hidden)" }
        );
    }
    out
}

/// Serves until Ctrl-C. Refuses a non-loopback listen address (the sandbox is for this
/// machine only). Prints first `vip-run sandbox: serving VIP's REST API at
/// http://IP:PORT/rest` (the real bound port), then the users with their keys and groups
/// and the pipelines, then flushes stdout.
pub async fn run(args: &SandboxArgs) -> Result<(), String> {
    if !args.listen.ip().is_loopback() {
        return Err(format!(
            "--listen {}: the sandbox only listens on loopback (127.0.0.1 or ::1); it has public keys",
            args.listen
        ));
    }
    let config = args.config()?;
    let quota = config.quota;
    let failures = describe_failures(&config);
    let sandbox = Sandbox::start(config, args.listen)
        .await
        .map_err(|e| format!("cannot serve the sandbox on {}: {e}", args.listen))?;
    let mut stdout = std::io::stdout().lock();
    let banner = format!(
        "vip-run sandbox: serving VIP's REST API at {}\n{}{failures}press Ctrl-C to stop\n",
        sandbox.base_url(),
        describe(sandbox.world(), quota)
    );
    let written = stdout
        .write_all(banner.as_bytes())
        .and_then(|()| stdout.flush());
    drop(stdout);
    if let Err(e) = written {
        sandbox.shutdown().await;
        return Err(format!("cannot write to stdout: {e}"));
    }
    let mut log = match &args.request_log {
        Some(path) => Some(
            RequestLog::create(path)
                .map_err(|e| format!("--request-log {}: {e}", path.display()))?,
        ),
        None => None,
    };
    let waited = match log.as_mut() {
        Some(log) => {
            let stop = stop_signal();
            tokio::pin!(stop);
            loop {
                tokio::select! {
                    r = &mut stop => break r,
                    () = tokio::time::sleep(Duration::from_millis(200)) => {
                        if let Err(e) = log.append(&sandbox) {
                            eprintln!("vip-run sandbox: cannot write the request log: {e}");
                        }
                    }
                }
            }
        }
        None => stop_signal().await,
    };
    if let Some(log) = log.as_mut() {
        let _ = log.append(&sandbox);
    }
    sandbox.shutdown().await;
    waited.map_err(|e| format!("cannot wait for Ctrl-C: {e}"))
}

/// `--request-log`: what is written so far, and the file.
struct RequestLog {
    file: std::fs::File,
    requests: usize,
    injections: usize,
}

impl RequestLog {
    fn create(path: &std::path::Path) -> std::io::Result<Self> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        Ok(Self {
            file,
            requests: 0,
            injections: 0,
        })
    }

    /// Appends the requests and injections logged since the last call.
    fn append(&mut self, sandbox: &Sandbox) -> std::io::Result<()> {
        let mut text = String::new();
        let requests = sandbox.requests();
        for (i, r) in requests.iter().enumerate().skip(self.requests) {
            let line = serde_json::json!({
                "request": i,
                "method": r.method,
                "path": r.path,
                "query": r.query,
                "status": r.status,
                "dropped": r.dropped,
                "injected": r.injected,
            });
            let _ = writeln!(text, "{line}");
        }
        self.requests = requests.len();
        let injected = sandbox.injected();
        for inj in injected.iter().skip(self.injections) {
            let line = serde_json::json!({ "injection": inj });
            let _ = writeln!(text, "{line}");
        }
        self.injections = injected.len();
        self.file.write_all(text.as_bytes())?;
        self.file.flush()
    }
}

/// Ctrl-C (SIGINT), or SIGTERM where there is one (what `kill`, systemd and CI send).
async fn stop_signal() -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate())?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r,
            _ = term.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: SandboxArgs,
    }

    #[test]
    fn options_parse_and_rates_are_checked() {
        let cli = Cli::try_parse_from(["x", "--exec-duration", "200ms", "--seed", "3"]).unwrap();
        assert_eq!(cli.args.exec_duration, Duration::from_millis(200));
        assert_eq!(cli.args.config().unwrap().seed, 3);
        let cli = Cli::try_parse_from(["x", "--drop-rate", "1.5"]).unwrap();
        assert!(cli.args.config().unwrap_err().contains("--drop-rate"));
        assert!(Cli::try_parse_from(["x", "--latency", "fast"]).is_err());
        let cli = Cli::try_parse_from(["x", "--outage", "2s:1m"]).unwrap();
        assert_eq!(
            cli.args.config().unwrap().outage,
            Some((Duration::from_secs(2), Duration::from_secs(60)))
        );
        assert!(Cli::try_parse_from(["x", "--outage", "2s"]).is_err());
    }

    #[test]
    fn failures_parse_and_show_in_the_banner() {
        let config = Cli::try_parse_from(["x"]).unwrap().args.config().unwrap();
        assert!(config.failures.is_empty());
        assert_eq!(describe_failures(&config), "failures: none\n");
        let cli = Cli::try_parse_from([
            "x",
            "--failures",
            "held=0.02,application=0.05",
            "--seed",
            "4",
        ])
        .unwrap();
        let config = cli.args.config().unwrap();
        assert_eq!(
            config.failures,
            FailureMix::parse("application=0.05,held=0.02").unwrap()
        );
        assert_eq!(
            describe_failures(&config),
            "failures: application=0.05,held=0.02  seed: 4\n"
        );
        let err = Cli::try_parse_from(["x", "--failures", "explode=0.1"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown failure kind `explode`"), "{err}");
    }

    #[test]
    fn caps_have_vips_defaults_and_take_units() {
        let config = Cli::try_parse_from(["x"]).unwrap().args.config().unwrap();
        assert_eq!(
            (config.platform_max, config.max_size_direct_transfer),
            (35, 15_000_000)
        );
        let cli = Cli::try_parse_from(["x", "--platform-max", "3", "--max-download-size", "2GiB"])
            .unwrap();
        let config = cli.args.config().unwrap();
        assert_eq!(
            (config.platform_max, config.max_size_direct_transfer),
            (3, 2 << 30)
        );
        for (text, bytes) in [
            ("1000", 1000),
            ("15MB", 15_000_000),
            ("1.5 GB", 1_500_000_000),
            ("64KiB", 65_536),
            ("1TiB", 1 << 40),
        ] {
            assert_eq!(parse_bytes(text), Ok(bytes), "{text}");
        }
        for bad in [
            "",
            "MB",
            "12XB",
            "-1",
            "1.5",
            "99999999999999999999",
            "1e3MB",
        ] {
            assert!(parse_bytes(bad).is_err(), "{bad}");
        }
        assert!(
            parse_bytes("3 parsecs")
                .unwrap_err()
                .contains("unknown unit `parsecs`")
        );
        let cli = Cli::try_parse_from(["x", "--platform-max", "0"]).unwrap();
        assert!(cli.args.config().unwrap_err().contains("--platform-max"));
    }

    #[tokio::test]
    async fn non_loopback_addresses_are_refused() {
        let cli = Cli::try_parse_from(["x", "--listen", "0.0.0.0:0"]).unwrap();
        assert!(run(&cli.args).await.unwrap_err().contains("loopback"));
    }

    #[test]
    fn the_banner_lists_users_and_pipelines() {
        let text = describe(&default_world(), None);
        assert!(text.contains("demo@sandbox.local  key: sandbox-demo-key"));
        assert!(text.contains("CQUEST/0.5  groups: CQUEST  (hidden)"));
    }
}

//! The command line as clap parses it: a faithful, low-level form (the first of ripgrep's two
//! stages). The second stage, validated settings, is built from it before any work starts;
//! this module knows nothing of that stage, so the dependency points one way.
//!
//! Options that apply to every command are shown under their own heading, so each command's
//! help leads with its own options.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::exit_code;
use crate::manifest;
use crate::report::OutputFormat;

/// The help heading of the options every command takes.
const GLOBAL: &str = "Global options";

/// Run declarative YAML recipes on VIP, the Virtual Imaging Platform.
#[derive(Debug, Parser)]
#[command(
    name = "vip-run",
    version,
    about,
    long_about = None,
    override_usage = "vip-run [OPTIONS] <COMMAND>\n       vip-run [OPTIONS] MANIFEST...    (short for `vip-run run MANIFEST...`)",
    after_help = exit_code::TABLE
)]
pub struct Cli {
    /// How to print results: `human`, or `json` (one object per line on stdout).
    #[arg(long, global = true, help_heading = GLOBAL, value_enum, default_value_t = OutputFormat::Human)]
    pub output: OutputFormat,
    /// Quiet: no progress, no warnings, no summary of a run or download that went well (so a
    /// cron job that succeeds prints nothing); errors and failures are still printed, and so is
    /// what a command is for (`status`'s table, `--output json`).
    #[arg(short, long, global = true, help_heading = GLOBAL, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Print nothing when the command ends well (exit 0), and everything it would have printed
    /// (progress lines, warnings, the summary) when it does not, in order: for cron and
    /// timers, after moreutils' `chronic`.
    #[arg(long, global = true, help_heading = GLOBAL, conflicts_with = "quiet")]
    pub chronic: bool,
    /// Say more on stderr: `-v` each retry's reason and the run's decisions, `-vv` every call to VIP.
    #[arg(short, long, global = true, help_heading = GLOBAL, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// VIP's REST base URL (default: the manifest's `server`, else VIP's public server).
    #[arg(long, global = true, help_heading = GLOBAL, value_name = "URL")]
    pub server: Option<String>,
    /// Use a built-in simulator of VIP on this machine instead of a server (offline).
    #[arg(long, global = true, help_heading = GLOBAL, conflicts_with = "server")]
    pub sandbox: bool,
    /// Read the API key from this environment variable (overrides the manifest).
    #[arg(
        long,
        global = true, help_heading = GLOBAL,
        value_name = "NAME",
        conflicts_with = "api_key_file"
    )]
    pub api_key_env: Option<String>,
    /// Read the API key from this file (overrides the manifest).
    #[arg(long, global = true, help_heading = GLOBAL, value_name = "PATH")]
    pub api_key_file: Option<PathBuf>,
    /// Time allowed to connect to VIP.
    #[arg(long, global = true, help_heading = GLOBAL, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub connect_timeout: Duration,
    /// Time allowed for one call to VIP (transfers excepted).
    #[arg(long, global = true, help_heading = GLOBAL, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    pub request_timeout: Duration,
    /// Progress on stderr: a bar on a terminal, plain lines otherwise (`auto`), or as said.
    #[arg(long, global = true, help_heading = GLOBAL, value_enum, default_value_t = crate::report::progress::Progress::Auto)]
    pub progress: crate::report::progress::Progress,
    /// Also write a `JUnit` XML report, one test case per item (`run` and `download` only;
    /// FILE's folder must exist).
    #[arg(long, global = true, help_heading = GLOBAL, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Retries of a failed call that is safe to repeat (never a launch).
    #[arg(long, global = true, help_heading = GLOBAL, value_name = "N", default_value_t = 5)]
    pub max_retries: usize,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run manifests: check, upload, launch, monitor, download (the default command).
    Run(RunArgs),
    /// Show what a run would do (uploads, launches, reuses, downloads); changes nothing.
    Plan(PlanArgs),
    /// Show the manifest's items and their executions' statuses, refreshed from VIP; with
    /// several manifests, one line each (as `recipes`).
    ///
    /// Exits 1 when any item's execution failed, was killed or timed out, 0 otherwise (also
    /// while executions are still running).
    Status(StatusArgs),
    /// Kill the manifest's queued and running executions on VIP.
    Cancel(CancelArgs),
    /// Download the outputs of finished items.
    Download(DownloadArgs),
    /// Write the batch's HTML report and trace again from the state (offline, no key).
    Report(OneManifest),
    /// Print an item's execution output from VIP (without `--item`: the failed items').
    Logs(LogsArgs),
    /// Delete on VIP what this manifest put there: uploaded inputs, downloaded results.
    Clean(CleanArgs),
    /// Merge the table each finished item returned into the study tables `collect:` names.
    ///
    /// Offline: reads the run's state and the downloaded results. Exits 0 when the tables are
    /// written, 1 when a finished item had no file to merge (the table is written without
    /// it) or the files' columns disagree (nothing is written), 2 when the manifest has no
    /// `collect:`.
    Collect(OneManifest),
    /// Check manifests: offline, and with `--online` against VIP (key, group, pipeline, inputs).
    Validate(ValidateArgs),
    /// Check the API key and list your groups.
    Whoami,
    /// List the pipelines you can run (optionally those whose id contains QUERY).
    Pipelines {
        /// Part of a pipeline id, case-insensitive.
        query: Option<String>,
    },
    /// Show a pipeline's parameters.
    Pipeline {
        /// The pipeline, as `Name/version`.
        id: String,
    },
    /// Write a commented starter manifest for a pipeline.
    Init(InitArgs),
    /// Record each manifest's pipeline descriptor, as VIP serves it, in `vip-run.lock`.
    Lock(LockArgs),
    /// Write a systemd `.service` and `.timer` that run the manifest on a schedule.
    Systemd(SystemdArgs),
    /// List every recipe this machine has run: its last run, its state, its items (offline).
    Recipes,
    /// Serve the VIP simulator on this machine until interrupted.
    Sandbox(crate::sandbox::serve::SandboxArgs),
    /// Print the manifest JSON Schema (draft-07).
    Schema,
    /// Print a shell completion script.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff), e.g. `vip-run man > vip-run.1`.
    Man,
}

impl Command {
    /// The command's name, as typed.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Run(_) => "run",
            Self::Plan(_) => "plan",
            Self::Status(_) => "status",
            Self::Cancel(_) => "cancel",
            Self::Download(_) => "download",
            Self::Report(_) => "report",
            Self::Logs(_) => "logs",
            Self::Clean(_) => "clean",
            Self::Collect(_) => "collect",
            Self::Validate(_) => "validate",
            Self::Whoami => "whoami",
            Self::Pipelines { .. } => "pipelines",
            Self::Pipeline { .. } => "pipeline",
            Self::Init(_) => "init",
            Self::Lock(_) => "lock",
            Self::Systemd(_) => "systemd",
            Self::Recipes => "recipes",
            Self::Sandbox(_) => "sandbox",
            Self::Schema => "schema",
            Self::Completions { .. } => "completions",
            Self::Man => "man",
        }
    }

    /// Whether the command writes a `JUnit` report, so takes `--junit`.
    pub fn writes_junit(&self) -> bool {
        matches!(self, Self::Run(_) | Self::Download(_))
    }
}

/// Options shared by the commands that act on a manifest's executions.
#[derive(Debug, Clone, clap::Args)]
pub struct ManifestArgs {
    /// Keep run state here instead of `.vip-run/` next to the manifest.
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Wait this long for another run of the same manifest to finish (default: do not wait).
    #[arg(long, value_name = "DURATION", default_value = "0s", value_parser = crate::duration::parse)]
    pub lock_wait: Duration,
    /// Allow more items than the default limit (10,000).
    #[arg(long, value_name = "N", default_value_t = manifest::DEFAULT_MAX_ITEMS, value_parser = parse_max_items)]
    pub max_items: usize,
}

/// `run`.
#[derive(Debug, clap::Args)]
#[allow(clippy::struct_excessive_bools)] // each bool is one flag of the command line
pub struct RunArgs {
    /// The manifests to run, one after the other.
    #[arg(required = true, value_name = "MANIFEST")]
    pub manifests: Vec<PathBuf>,
    /// Return once everything that can be launched now is launched.
    #[arg(long)]
    pub detach: bool,
    /// Wait out VIP being unreachable this long before stopping with exit 5 (overrides
    /// `execution.max_outage`; default 1h).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub max_outage: Option<Duration>,
    /// Accept the pipeline's new descriptor when it changed on VIP since `vip-run.lock`.
    #[arg(long, conflicts_with = "locked")]
    pub update_lock: bool,
    /// Fail when `vip-run.lock` is missing or stale instead of writing it (for CI and cron).
    #[arg(long)]
    pub locked: bool,
    /// Uploads and downloads at once, 1 to 32 (overrides `execution.transfers`; default 4).
    #[arg(long, value_name = "N", value_parser = parse_transfers)]
    pub transfers: Option<u32>,
    /// When another vip-run is running the manifest (after `--lock-wait`): skip it (one
    /// line, exit 0) or fail (exit 7).
    #[arg(long, value_enum, value_name = "WHAT", default_value_t = crate::ops::IfRunning::Skip)]
    pub if_running: crate::ops::IfRunning,
    /// Launch again, once, the item KEY (after its execution ended, even finished), or with
    /// `failed` every item whose execution failed, was killed or timed out, whatever
    /// `execution.retries` says. Repeatable. `plan --relaunch` shows what it would do.
    #[arg(long, value_name = "KEY|failed")]
    pub relaunch: Vec<String>,
    /// Tell this channel of the run, instead of the manifest's `notify:`, with the kind's
    /// default events: `healthchecks=URL` (start, end), `webhook=URL`, `slack=URL`,
    /// `mattermost=URL` (failure, stall), where URL may be `env:NAME` (a variable holding
    /// it, kept out of `ps`); or `email=ADDRESS[,ADDRESS…]` (failure, stall) through the
    /// relay that `VIP_RUN_SMTP_HOST`, `VIP_RUN_SMTP_FROM` and optionally `VIP_RUN_SMTP_PORT`,
    /// `VIP_RUN_SMTP_STARTTLS=false`, `VIP_RUN_SMTP_USERNAME` and `VIP_RUN_SMTP_PASSWORD` name.
    /// Repeatable.
    #[arg(long, value_name = "KIND=TARGET", value_parser = parse_notify, conflicts_with = "no_notify")]
    pub notify: Vec<NotifyArg>,
    /// Tell no one of this run, whatever the manifest's `notify:` says (what earlier runs
    /// could not send waits for a later run).
    #[arg(long)]
    pub no_notify: bool,
    /// Executions of this manifest's account queued or running at once, over every run on
    /// this machine (default: the account's `limit` file in the registry, else what VIP's
    /// first refusal reveals). `max_parallel` still bounds each run.
    #[arg(long, value_name = "N", value_parser = parse_account_limit)]
    pub account_limit: Option<usize>,
    /// Share neither the account's quota nor this run's record with the other runs of this
    /// machine (each run then meets VIP's refusals on its own, as before the registry).
    #[arg(long, conflicts_with = "account_limit")]
    pub no_account_registry: bool,
    #[command(flatten)]
    pub common: ManifestArgs,
}

/// `status`.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// The manifests: one shows its items; several, one line each.
    #[arg(required = true, value_name = "MANIFEST")]
    pub manifests: Vec<PathBuf>,
    #[command(flatten)]
    pub common: ManifestArgs,
}

/// What `--notify` names: a kind of channel and its target, as typed (checked by clap).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyArg {
    /// `healthchecks`, `webhook`, `slack`, `mattermost` or `email`.
    pub kind: &'static str,
    /// A URL, `env:NAME`, or addresses separated by commas.
    pub target: String,
}

/// The kinds `--notify` takes.
pub const NOTIFY_KINDS: [&str; 5] = ["healthchecks", "webhook", "slack", "mattermost", "email"];

/// `--notify KIND=TARGET`.
fn parse_notify(text: &str) -> Result<NotifyArg, String> {
    let kinds = NOTIFY_KINDS.join(", ");
    let Some((kind, target)) = text.split_once('=') else {
        return Err(format!("give KIND=TARGET, KIND one of {kinds}"));
    };
    let Some(kind) = NOTIFY_KINDS.iter().find(|k| **k == kind) else {
        let hint = manifest::suggest::did_you_mean(kind, NOTIFY_KINDS)
            .map(|s| format!("did you mean `{s}`? "))
            .unwrap_or_default();
        return Err(format!(
            "`{kind}` is not a kind of channel; {hint}the kinds are {kinds}"
        ));
    };
    let target = target.trim();
    if *kind == "email" {
        for address in target.split(',') {
            if !manifest::notify::is_mailbox(address) {
                return Err(format!("`{}` is not a mail address", address.trim()));
            }
        }
    } else if let Some(name) = target.strip_prefix("env:") {
        if !manifest::expand::is_identifier(name) {
            return Err(format!("`{name}` is not an environment variable's name"));
        }
    } else if let Err(problem) = manifest::notify::url_problem(target) {
        // Not quoted: the URL may be a hook's secret.
        return Err(format!("the {kind} URL {problem}"));
    }
    Ok(NotifyArg {
        kind,
        target: target.to_owned(),
    })
}

/// `download`.
#[derive(Debug, clap::Args)]
pub struct DownloadArgs {
    /// The manifest.
    #[arg(value_name = "MANIFEST")]
    pub manifest: PathBuf,
    /// Downloads at once, 1 to 32 (overrides `execution.transfers`; default 4).
    #[arg(long, value_name = "N", value_parser = parse_transfers)]
    pub transfers: Option<u32>,
    /// When another vip-run is running the manifest (after `--lock-wait`): skip it (one
    /// line, exit 0) or fail (exit 7).
    #[arg(long, value_enum, value_name = "WHAT", default_value_t = crate::ops::IfRunning::Skip)]
    pub if_running: crate::ops::IfRunning,
    #[command(flatten)]
    pub common: ManifestArgs,
}

/// `lock`.
#[derive(Debug, clap::Args)]
pub struct LockArgs {
    /// The manifests whose pipelines to lock.
    #[arg(required = true, value_name = "MANIFEST")]
    pub manifests: Vec<PathBuf>,
}

/// `plan`.
#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    /// The manifest.
    #[arg(value_name = "MANIFEST")]
    pub manifest: PathBuf,
    /// Exit 0 when there is nothing to do, 2 when there are changes, 1 on error.
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// What `run --relaunch KEY|failed` would relaunch.
    #[arg(long, value_name = "KEY|failed")]
    pub relaunch: Vec<String>,
    #[command(flatten)]
    pub common: ManifestArgs,
}

/// `collect`, `report`.
#[derive(Debug, clap::Args)]
pub struct OneManifest {
    /// The manifest.
    #[arg(value_name = "MANIFEST")]
    pub manifest: PathBuf,
    #[command(flatten)]
    pub common: ManifestArgs,
}

/// `cancel`.
#[derive(Debug, clap::Args)]
pub struct CancelArgs {
    /// The manifest.
    #[arg(value_name = "MANIFEST")]
    pub manifest: PathBuf,
    /// Only this item (its key, as `status` shows it).
    #[arg(long, value_name = "KEY")]
    pub item: Option<String>,
    #[command(flatten)]
    pub common: ManifestArgs,
}

/// `systemd`.
#[derive(Debug, clap::Args)]
pub struct SystemdArgs {
    /// The manifest.
    #[arg(value_name = "MANIFEST")]
    pub manifest: PathBuf,
    /// The API key file systemd hands the service (`LoadCredential=`); default: the
    /// manifest's `api_key: { file: … }`.
    #[arg(long, value_name = "PATH")]
    pub key_file: Option<PathBuf>,
    /// When to run, as systemd's `OnCalendar=` (`hourly`, `daily`, `*-*-* 02:00`…).
    #[arg(long, value_name = "SPEC", default_value = "hourly")]
    pub on_calendar: String,
    /// A random delay of up to this much before each start (`RandomizedDelaySec=`).
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = crate::duration::parse)]
    pub randomized_delay: Duration,
    /// Where to write the two files.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub dir: PathBuf,
}

/// `logs`.
#[derive(Debug, clap::Args)]
pub struct LogsArgs {
    /// The manifest.
    #[arg(value_name = "MANIFEST")]
    pub manifest: PathBuf,
    /// This item (its key, as `status` shows it); default: every failed item.
    #[arg(long, value_name = "KEY")]
    pub item: Option<String>,
    /// Only this job of the execution (an invocation id, as in VIP's `jobs`).
    #[arg(long, value_name = "ID")]
    pub job: Option<u64>,
    /// Standard error instead of standard output.
    #[arg(long)]
    pub stderr: bool,
    #[command(flatten)]
    pub common: ManifestArgs,
}

/// `clean`.
#[derive(Debug, clap::Args)]
#[allow(clippy::struct_excessive_bools)] // each bool is one flag of the command line
pub struct CleanArgs {
    /// The manifest.
    #[arg(value_name = "MANIFEST")]
    pub manifest: PathBuf,
    /// Delete the manifest's uploaded inputs folder.
    #[arg(long)]
    pub inputs: bool,
    /// Delete the results folders of items whose outputs are downloaded and size-checked.
    #[arg(long)]
    pub results: bool,
    /// Also delete the items' finished executions on VIP (the run then starts afresh).
    #[arg(long)]
    pub executions: bool,
    /// Do not ask: required when not at a terminal.
    #[arg(long, short = 'y')]
    pub yes: bool,
    #[command(flatten)]
    pub common: ManifestArgs,
}

/// `validate`.
#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    /// The manifests to check.
    #[arg(required = true, value_name = "MANIFEST")]
    pub manifests: Vec<PathBuf>,
    /// Allow more items than the default limit (10,000).
    #[arg(long, value_name = "N", default_value_t = manifest::DEFAULT_MAX_ITEMS, value_parser = parse_max_items)]
    pub max_items: usize,
    /// Also check against VIP: the key, the group, the pipeline, every input.
    #[arg(long)]
    pub online: bool,
    /// Require a current entry for each manifest in its folder's `vip-run.lock` (offline): a
    /// manifest missing from the lock, or locked for another pipeline, is invalid.
    #[arg(long, conflicts_with = "online")]
    pub locked: bool,
}

/// `init`.
#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// The pipeline, as `Name/version` (`vip-run pipelines` lists them).
    pub pipeline_id: String,
    /// Write the manifest to this file instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output_file: Option<PathBuf>,
    /// Replace FILE if it exists.
    #[arg(long, requires = "output_file")]
    pub force: bool,
}

/// A duration on the command line: more than zero.
fn parse_duration(text: &str) -> Result<Duration, String> {
    match crate::duration::parse(text) {
        Ok(d) if d.is_zero() => Err("must be more than 0".into()),
        other => other,
    }
}

/// `--max-items`: the one parser for every command that takes it.
fn parse_transfers(text: &str) -> Result<u32, String> {
    let max = manifest::MAX_TRANSFERS;
    match text.parse::<u32>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(format!("`{text}`: give a whole number from 1 to {max}")),
    }
}

/// `--account-limit`: at least one execution, or no run could ever launch.
fn parse_account_limit(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("`{text}`: give a whole number from 1")),
    }
}

fn parse_max_items(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("`{text}` is not a whole number")),
    }
}

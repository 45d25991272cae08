//! From the parsed command line to validated [`Settings`] (the second of ripgrep's two
//! stages). Everything clap can refuse (conflicts, zero counts, malformed durations) it has
//! refused already; this gathers what each command needs into one value, one function per
//! kind of command, each deciding every setting once so that no flag travels further as an
//! argument of its own.

use std::path::Path;

use crate::error::Error;
use crate::manifest::LoadOptions;
use crate::ops::registry::Registry;
use crate::ops::{
    ConnectOptions, ExecutionOverrides, IfRunning, LockPolicy, NotifyChoice, Settings, StateOptions,
};
use crate::report::progress::Progress;

use super::args::{Cli, DownloadArgs, ManifestArgs, PlanArgs, RunArgs, ValidateArgs};

/// What clap cannot check: refuses, before any work starts, an option that would be ignored or
/// would fail only at the end of a run.
pub fn check(cli: &Cli) -> Result<(), Error> {
    if let Some(file) = &cli.junit {
        let shown = file.display();
        if !cli.command.writes_junit() {
            return Err(Error::Usage(format!(
                "--junit {shown}: `{}` writes no JUnit report (only `run` and `download` do)",
                cli.command.name()
            )));
        }
        // Found missing only after hours of running, the report would be lost; made
        // silently, a typo in the folder's name would put it where nobody looks.
        let folder = file.parent().filter(|p| !p.as_os_str().is_empty());
        if let Some(folder) = folder.filter(|f| !f.is_dir()) {
            return Err(Error::Usage(format!(
                "--junit {shown}: folder {} does not exist; create it first",
                folder.display()
            )));
        }
        if file.is_dir() || file.as_os_str().is_empty() || file.ends_with(Path::new("..")) {
            return Err(Error::Usage(format!(
                "--junit {shown}: give a file name, not a folder"
            )));
        }
    }
    Ok(())
}

/// The settings of a command that opens no manifest's run files (`whoami`, `pipelines`,
/// `pipeline`, `init`, `lock`): what every command shares.
pub fn global(cli: &Cli) -> Settings {
    Settings {
        connect: ConnectOptions {
            server: cli.server.clone(),
            sandbox: cli.sandbox,
            api_key_env: cli.api_key_env.clone(),
            api_key_file: cli.api_key_file.clone(),
            connect_timeout: Some(cli.connect_timeout),
            request_timeout: Some(cli.request_timeout),
            max_retries: Some(cli.max_retries),
        },
        output: cli.output,
        // Under `-q` a run that goes well prints nothing at all, even in a pipe or a log:
        // cron mails whatever a job prints, and a mail per run hides the one that matters.
        progress: match cli.progress {
            _ if cli.quiet => Progress::None,
            // Held back, to be read in a mail or a log if at all: lines, never a bar.
            Progress::Auto | Progress::Bar if cli.chronic => Progress::Plain,
            p => p,
        },
        quiet: cli.quiet,
        junit: cli.junit.clone(),
        verbose: cli.verbose > 0 && !cli.quiet,
        overrides: ExecutionOverrides::default(),
        load: LoadOptions::default(),
        state: StateOptions::default(),
        detach: false,
        lock_policy: LockPolicy::default(),
        relaunch: Vec::new(),
        notify: NotifyChoice::default(),
        registry: Registry::locate(
            std::env::var_os("VIP_RUN_STATE_HOME"),
            std::env::var_os("XDG_STATE_HOME"),
            std::env::var_os("HOME"),
            &std::env::current_dir().unwrap_or_default(),
        ),
        account_limit: None,
    }
}

/// `validate`: [`global`] and `--max-items`.
pub fn validate(cli: &Cli, args: &ValidateArgs) -> Settings {
    Settings {
        load: LoadOptions {
            max_items: args.max_items,
        },
        ..global(cli)
    }
}

/// A command on a manifest's run files (`plan`, `status`, `cancel`, `logs`, `clean`):
/// [`global`], where the run state lives, how long to wait for another run of the manifest,
/// and `--max-items`.
pub fn on_manifest(cli: &Cli, common: &ManifestArgs) -> Settings {
    Settings {
        load: LoadOptions {
            max_items: common.max_items,
        },
        state: StateOptions {
            state_dir: common.state_dir.clone(),
            lock_wait: common.lock_wait,
            // The commands that take no `--if-running` (`cancel`, `clean`) are asked for by
            // someone waiting for them: they say they are busy.
            if_running: IfRunning::Fail,
        },
        ..global(cli)
    }
}

/// `run`: [`on_manifest`], the command line's word on the manifest's `execution`
/// (`--transfers`, `--max-outage`), `--detach`, what to do with `vip-run.lock`
/// (`--update-lock`, `--locked`; clap refuses both at once), who is told (`--notify`,
/// `--no-notify`; an e-mail's relay from the environment), and the account's share of the
/// registry (`--account-limit`; none with `--no-account-registry` or `--sandbox`).
pub fn run(cli: &Cli, args: &RunArgs) -> Result<Settings, Error> {
    let common = with_if_running(on_manifest(cli, &args.common), args.if_running);
    Ok(Settings {
        notify: notify(args, |name| std::env::var(name).ok())?,
        registry: common
            .registry
            .clone()
            .filter(|_| !args.no_account_registry && !cli.sandbox),
        account_limit: args.account_limit,
        overrides: ExecutionOverrides {
            transfers: args.transfers,
            max_outage: args.max_outage,
        },
        detach: args.detach,
        relaunch: args.relaunch.clone(),
        lock_policy: match (args.update_lock, args.locked) {
            (true, _) => LockPolicy::Update,
            (_, true) => LockPolicy::Locked,
            _ => LockPolicy::Write,
        },
        ..common
    })
}

/// The variables naming `--notify email=…`'s relay.
pub const SMTP_HOST: &str = "VIP_RUN_SMTP_HOST";
pub const SMTP_PORT: &str = "VIP_RUN_SMTP_PORT";
pub const SMTP_STARTTLS: &str = "VIP_RUN_SMTP_STARTTLS";
pub const SMTP_FROM: &str = "VIP_RUN_SMTP_FROM";
pub const SMTP_USERNAME: &str = "VIP_RUN_SMTP_USERNAME";
/// Read when a mail is sent, as `password_env` is.
pub const SMTP_PASSWORD: &str = "VIP_RUN_SMTP_PASSWORD";

/// Who a run tells: `--no-notify`, `--notify`'s channels (each with its kind's default
/// events, an e-mail's relay read from `env`), or the manifest's.
fn notify(args: &RunArgs, env: impl Fn(&str) -> Option<String>) -> Result<NotifyChoice, Error> {
    use crate::manifest::notify::WebhookFormat;
    use crate::manifest::notify::{ChannelKind, ChannelSpec, DEFAULT_SMTP_PORT, EmailSpec};
    use crate::manifest::secret_source::SecretSource;
    if args.no_notify {
        return Ok(NotifyChoice::Off);
    }
    if args.notify.is_empty() {
        return Ok(NotifyChoice::Manifest);
    }
    let usage = |m: String| Error::Usage(m);
    let mut channels = Vec::new();
    for arg in &args.notify {
        let url = || match arg.target.strip_prefix("env:") {
            Some(name) => SecretSource::Env(name.to_owned()),
            None => SecretSource::Inline(arg.target.clone().into()),
        };
        let kind = match arg.kind {
            "healthchecks" => ChannelKind::Healthchecks { url: url() },
            "email" => {
                let var = |name: &str| env(name).filter(|v| !v.trim().is_empty());
                let needed = |name: &str, what: &str| {
                    var(name).ok_or_else(|| {
                        usage(format!(
                            "--notify email=…: set {name} to {what} (the relay is read from VIP_RUN_SMTP_HOST, VIP_RUN_SMTP_FROM, and optionally VIP_RUN_SMTP_PORT, VIP_RUN_SMTP_STARTTLS, VIP_RUN_SMTP_USERNAME, VIP_RUN_SMTP_PASSWORD)"
                        ))
                    })
                };
                let host = needed(SMTP_HOST, "the SMTP relay's host")?
                    .trim()
                    .to_owned();
                let from = needed(SMTP_FROM, "the sender's address")?.trim().to_owned();
                if !crate::manifest::notify::is_mailbox(&from) {
                    return Err(usage(format!(
                        "{SMTP_FROM}: `{from}` is not a mail address"
                    )));
                }
                let port = match var(SMTP_PORT) {
                    None => DEFAULT_SMTP_PORT,
                    Some(p) => {
                        p.trim()
                            .parse::<u16>()
                            .ok()
                            .filter(|p| *p > 0)
                            .ok_or_else(|| {
                                usage(format!("{SMTP_PORT}: `{p}` is not a port (1 to 65535)"))
                            })?
                    }
                };
                let starttls = match var(SMTP_STARTTLS).as_deref().map(str::trim) {
                    None | Some("true" | "1" | "yes") => true,
                    Some("false" | "0" | "no") => false,
                    Some(other) => {
                        return Err(usage(format!(
                            "{SMTP_STARTTLS}: `{other}` is neither true nor false"
                        )));
                    }
                };
                let login = var(SMTP_USERNAME)
                    .map(|user| (user, SecretSource::Env(SMTP_PASSWORD.to_owned())));
                if login.is_some() && !starttls && !crate::vip::rules::is_loopback_host(&host) {
                    return Err(usage(format!(
                        "--notify email=…: {SMTP_STARTTLS}=false would send the SMTP password in clear to {host}; keep STARTTLS (sending in clear is for a relay on this machine)"
                    )));
                }
                ChannelKind::Email(EmailSpec {
                    host,
                    port,
                    starttls,
                    from,
                    to: arg.target.split(',').map(|t| t.trim().to_owned()).collect(),
                    login,
                })
            }
            kind => ChannelKind::Webhook {
                url: url(),
                format: match kind {
                    "slack" => WebhookFormat::Slack,
                    "mattermost" => WebhookFormat::Mattermost,
                    _ => WebhookFormat::Json,
                },
                headers: Vec::new(),
            },
        };
        channels.push(ChannelSpec {
            events: kind.default_events(),
            kind,
            origin: "--notify".into(),
        });
    }
    Ok(NotifyChoice::Given(channels))
}

/// `plan`: [`on_manifest`] and `--relaunch`.
pub fn plan(cli: &Cli, args: &PlanArgs) -> Settings {
    Settings {
        relaunch: args.relaunch.clone(),
        ..on_manifest(cli, &args.common)
    }
}

/// `download`: [`on_manifest`] and `--transfers` (over the manifest's `execution`).
pub fn download(cli: &Cli, args: &DownloadArgs) -> Settings {
    Settings {
        overrides: ExecutionOverrides {
            transfers: args.transfers,
            max_outage: None,
        },
        ..with_if_running(on_manifest(cli, &args.common), args.if_running)
    }
}

/// `settings` with `--if-running`.
fn with_if_running(mut settings: Settings, if_running: IfRunning) -> Settings {
    settings.state.if_running = if_running;
    settings
}

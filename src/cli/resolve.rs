//! From the parsed command line to validated [`Settings`] (the second of ripgrep's two
//! stages). Everything clap can refuse (conflicts, zero counts, malformed durations) it has
//! refused already; this gathers what each command needs into one value, one function per
//! kind of command, each deciding every setting once so that no flag travels further as an
//! argument of its own.

use std::path::Path;

use crate::error::Error;
use crate::manifest::LoadOptions;
use crate::ops::registry::Registry;
use crate::ops::{ConnectOptions, ExecutionOverrides, LockPolicy, Settings, StateOptions};
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
        progress: if cli.quiet {
            Progress::None
        } else {
            cli.progress
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
        },
        ..global(cli)
    }
}

/// `run`: [`on_manifest`], the command line's word on the manifest's `execution`
/// (`--transfers`, `--max-outage`), `--detach`, what to do with `vip-run.lock`
/// (`--update-lock`, `--locked`; clap refuses both at once), and the account's share of the
/// registry (`--account-limit`; none with `--no-account-registry` or `--sandbox`).
pub fn run(cli: &Cli, args: &RunArgs) -> Settings {
    let common = on_manifest(cli, &args.common);
    Settings {
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
    }
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
        ..on_manifest(cli, &args.common)
    }
}

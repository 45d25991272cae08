//! From the parsed command line to validated [`Settings`] (the second of ripgrep's two
//! stages). Everything clap can refuse (conflicts, zero counts, malformed durations) it has
//! refused already; this gathers what each command needs into one value.

use std::path::Path;

use crate::error::Error;
use crate::manifest::LoadOptions;
use crate::report::run::Progress;
use crate::run::{ConnectOptions, ExecutionOverrides, Settings, StateOptions};

use super::args::{Cli, ManifestArgs};

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

/// The settings for a command: `common` for the ones that act on a manifest's state,
/// `max_items` for `validate`.
pub fn build(cli: &Cli, common: Option<&ManifestArgs>, max_items: Option<usize>) -> Settings {
    build_with(cli, common, max_items, ExecutionOverrides::default())
}

/// [`build`] for `run` and `download`, whose command line may override the manifest's
/// `execution` settings (`--transfers`, `--max-outage`).
pub fn build_run(
    cli: &Cli,
    common: &ManifestArgs,
    transfers: Option<u32>,
    max_outage: Option<std::time::Duration>,
) -> Settings {
    build_with(
        cli,
        Some(common),
        None,
        ExecutionOverrides {
            transfers,
            max_outage,
        },
    )
}

fn build_with(
    cli: &Cli,
    common: Option<&ManifestArgs>,
    max_items: Option<usize>,
    overrides: ExecutionOverrides,
) -> Settings {
    let mut load = LoadOptions::default();
    if let Some(n) = common.map(|c| c.max_items).or(max_items) {
        load.max_items = n;
    }
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
        overrides,
        load,
        state: common.map_or_else(StateOptions::default, |c| StateOptions {
            state_dir: c.state_dir.clone(),
            lock_wait: c.lock_wait,
        }),
    }
}

//! The command line: arguments (parsed by clap), then dispatch to the commands.
//!
//! [`run`] is the library's entry point: it parses, runs the command, prints the one error
//! that ends it (commands print their own output and diagnostics) and returns the exit code.

mod discover;
mod init;
mod runs;
mod validate;

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use clap::{CommandFactory, Parser, Subcommand};

use crate::error::Error;
use crate::exit_code;
use crate::manifest;
use crate::report::OutputFormat;
use crate::run::ConnectOptions;

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
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Human)]
    pub output: OutputFormat,
    /// Print errors only: no summaries, no warnings.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Say more on stderr: `-v` each retry's reason and the run's decisions, `-vv` every call to VIP.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// VIP's REST base URL (default: the manifest's `server`, else VIP's public server).
    #[arg(long, global = true, value_name = "URL")]
    pub server: Option<String>,
    /// Use a built-in simulator of VIP on this machine instead of a server (offline).
    #[arg(long, global = true)]
    pub sandbox: bool,
    /// Read the API key from this environment variable (overrides the manifest).
    #[arg(
        long,
        global = true,
        value_name = "NAME",
        conflicts_with = "api_key_file"
    )]
    pub api_key_env: Option<String>,
    /// Read the API key from this file (overrides the manifest).
    #[arg(long, global = true, value_name = "PATH")]
    pub api_key_file: Option<PathBuf>,
    /// Time allowed to connect to VIP.
    #[arg(long, global = true, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub connect_timeout: Duration,
    /// Time allowed for one call to VIP (transfers excepted).
    #[arg(long, global = true, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    pub request_timeout: Duration,
    /// Progress on stderr: a bar on a terminal, plain lines otherwise (`auto`), or as said.
    #[arg(long, global = true, value_enum, default_value_t = crate::report::run::Progress::Auto)]
    pub progress: crate::report::run::Progress,
    /// Also write a `JUnit` XML report (one test case per item).
    #[arg(long, global = true, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Retries of a failed call that is safe to repeat (never a launch).
    #[arg(long, global = true, value_name = "N", default_value_t = 5)]
    pub max_retries: usize,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(args: &[&str]) -> Vec<String> {
        with_default_command(args.iter().map(OsString::from).collect())
            .into_iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn a_manifest_alone_means_run() {
        assert_eq!(with(&["vip-run", "s.yaml"]), ["vip-run", "run", "s.yaml"]);
        assert_eq!(
            with(&["vip-run", "--sandbox", "--output", "json", "s.yaml"]),
            ["vip-run", "--sandbox", "--output", "json", "run", "s.yaml"]
        );
        assert_eq!(
            with(&["vip-run", "--detach", "s.yaml"]),
            ["vip-run", "run", "--detach", "s.yaml"]
        );
        assert_eq!(
            with(&["vip-run", "--server=http://x", "s.yaml"]),
            ["vip-run", "--server=http://x", "run", "s.yaml"]
        );
        assert_eq!(
            with(&["vip-run", "status", "s.yaml"]),
            ["vip-run", "status", "s.yaml"]
        );
        assert_eq!(with(&["vip-run", "--help"]), ["vip-run", "--help"]);
        assert_eq!(
            with(&["vip-run", "stauts", "s.yaml"]),
            ["vip-run", "stauts", "s.yaml"]
        );
        assert_eq!(
            with(&["vip-run", "-vv", "whoami"]),
            ["vip-run", "-vv", "whoami"]
        );
        assert_eq!(
            with(&["vip-run", "-vv", "s.yaml"]),
            ["vip-run", "-vv", "run", "s.yaml"]
        );
        assert_eq!(with(&["vip-run"]), ["vip-run"]);
    }
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    match manifest::duration::parse(text) {
        Ok(d) if d.is_zero() => Err("must be more than 0".into()),
        other => other,
    }
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run manifests: check, upload, launch, monitor, download (the default command).
    Run(runs::RunArgs),
    /// Show what a run would do (uploads, launches, reuses, downloads); changes nothing.
    Plan(runs::OneManifest),
    /// Show the manifest's items and their executions' statuses, refreshed from VIP.
    Status(runs::OneManifest),
    /// Kill the manifest's queued and running executions on VIP.
    Cancel(runs::CancelArgs),
    /// Download the outputs of finished items.
    Download(runs::OneManifest),
    /// Check manifests: offline, and with `--online` against VIP (key, group, pipeline, inputs).
    Validate(validate::ValidateArgs),
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
    Init(init::InitArgs),
    /// Serve the VIP simulator on this machine until interrupted.
    Sandbox(crate::sandbox::cli::SandboxArgs),
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

impl Cli {
    /// What the command line says about reaching VIP.
    pub fn connect_options(&self) -> ConnectOptions {
        ConnectOptions {
            server: self.server.clone(),
            sandbox: self.sandbox,
            api_key_env: self.api_key_env.clone(),
            api_key_file: self.api_key_file.clone(),
            connect_timeout: Some(self.connect_timeout),
            request_timeout: Some(self.request_timeout),
            max_retries: Some(self.max_retries),
        }
    }
}

/// A runtime for the commands that talk to VIP.
fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(Error::Output)
}

/// Parses `args` (program name first), runs the command and returns the exit code.
pub fn run<I, T>(args: I) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args = with_default_command(args.into_iter().map(Into::into).collect());
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                exit_code::USAGE
            } else {
                exit_code::SUCCESS
            };
        }
    };
    init_logging(&cli);
    match dispatch(&cli) {
        Ok(code) => code,
        Err(e) => {
            // A closed stdout (`vip-run … | head`) is not worth a message.
            if !matches!(&e, Error::Output(io) if io.kind() == std::io::ErrorKind::BrokenPipe) {
                eprintln!("error: {e}");
                if let Some(help) = e.help() {
                    eprintln!("  help: {help}");
                }
            }
            e.exit_code()
        }
    }
}

/// `vip-run MANIFEST…` means `vip-run run MANIFEST…`: inserts `run` before the first
/// argument that is neither a global option (with its value) nor a command; `run`'s own
/// options (`--detach`…) may come before the manifest too.
fn with_default_command(mut args: Vec<OsString>) -> Vec<OsString> {
    let command = Cli::command();
    let mut globals: Vec<(String, bool)> = Vec::new();
    for arg in command.get_arguments().filter(|a| a.is_global_set()) {
        let takes_value = arg.get_action().takes_values();
        if let Some(long) = arg.get_long() {
            globals.push((format!("--{long}"), takes_value));
        }
        if let Some(short) = arg.get_short() {
            globals.push((format!("-{short}"), takes_value));
        }
    }
    let commands: Vec<String> = command
        .get_subcommands()
        .flat_map(|c| {
            std::iter::once(c.get_name().to_owned()).chain(c.get_all_aliases().map(str::to_owned))
        })
        .chain(["help".to_owned()])
        .collect();
    let mut i = 1;
    while i < args.len() {
        let arg = args[i].to_string_lossy().into_owned();
        if arg == "--" || matches!(arg.as_str(), "-h" | "--help" | "-V" | "--version") {
            break;
        }
        if arg.starts_with('-') {
            let name = arg.split('=').next().unwrap_or(&arg);
            if let Some((_, takes_value)) = globals.iter().find(|(g, _)| g == name) {
                i += if *takes_value && !arg.contains('=') {
                    2
                } else {
                    1
                };
                continue;
            }
            // A cluster of short global flags (`-vv`, `-qv`).
            let cluster = !arg.starts_with("--")
                && arg.len() > 2
                && arg.strip_prefix('-').is_some_and(|flags| {
                    flags
                        .chars()
                        .all(|c| globals.iter().any(|(g, v)| !v && *g == format!("-{c}")))
                });
            if cluster {
                i += 1;
                continue;
            }
            // An option of `run` itself, before the manifest.
            args.insert(i, "run".into());
            break;
        }
        // A word that names no file and looks like no file (`stauts`) is a mistyped command:
        // clap says so, with a suggestion, rather than "no such manifest".
        let looks_like_file = arg.contains(['.', '/']) || std::path::Path::new(&arg).exists();
        if !commands.contains(&arg) && looks_like_file {
            args.insert(i, "run".into());
        }
        break;
    }
    args
}

/// Logs go to stderr: warnings (a retry, say) unless `-q`, more with `-v`, every call with
/// `-vv`. They name calls by method and path; the key is never in either.
fn init_logging(cli: &Cli) {
    let level = match (cli.quiet, cli.verbose) {
        (true, _) => tracing::Level::ERROR,
        (false, 0) => tracing::Level::WARN,
        (false, 1) => tracing::Level::INFO,
        (false, _) => tracing::Level::DEBUG,
    };
    let _ = tracing_subscriber::fmt()
        // Above the progress bars while they are drawn, not through them.
        .with_writer(crate::report::run::log_writer)
        .with_max_level(level)
        .with_target(false)
        .without_time()
        .with_level(true)
        // Plain: colouring log levels would need tracing-subscriber's `ansi` feature, and
        // asking for colour without it prints the library's own warning on every run.
        .with_ansi(false)
        .try_init();
}

fn ok(result: Result<(), Error>) -> Result<i32, Error> {
    result.map(|()| exit_code::SUCCESS)
}

fn dispatch(cli: &Cli) -> Result<i32, Error> {
    match &cli.command {
        Command::Run(args) => runtime()?.block_on(runs::run(cli, args)),
        Command::Plan(args) => runtime()?.block_on(runs::plan(cli, args)),
        Command::Status(args) => runtime()?.block_on(runs::status(cli, args)),
        Command::Cancel(args) => runtime()?.block_on(runs::cancel(cli, args)),
        Command::Download(args) => runtime()?.block_on(runs::download(cli, args)),
        Command::Validate(args) => ok(validate::run(cli, args)),
        Command::Whoami => ok(runtime()?.block_on(discover::whoami(cli))),
        Command::Pipelines { query } => {
            ok(runtime()?.block_on(discover::pipelines(cli, query.as_deref())))
        }
        Command::Pipeline { id } => ok(runtime()?.block_on(discover::pipeline(cli, id))),
        Command::Init(args) => ok(runtime()?.block_on(init::run(cli, args))),
        Command::Sandbox(args) => ok(runtime()?
            .block_on(crate::sandbox::cli::run(args))
            .map_err(Error::Sandbox)),
        Command::Schema => {
            std::io::stdout().write_all(crate::schema::manifest_schema().as_bytes())?;
            Ok(exit_code::SUCCESS)
        }
        Command::Completions { shell } => {
            clap_complete::generate(
                *shell,
                &mut Cli::command(),
                "vip-run",
                &mut std::io::stdout(),
            );
            Ok(exit_code::SUCCESS)
        }
        Command::Man => {
            clap_mangen::Man::new(Cli::command()).render(&mut std::io::stdout())?;
            Ok(exit_code::SUCCESS)
        }
    }
}

//! The command line: clap parses (`args`), `resolve` turns what it parsed into validated
//! settings, and each command's file in `commands` calls its flow in `run` and its renderer in
//! `report`. [`main`] is the library's entry point: it parses, runs the command, prints the
//! one error that ends it, and returns the exit code.

mod args;
mod commands;
mod resolve;

use std::ffi::OsString;
use std::io::Write;

use clap::{CommandFactory, Parser};

use crate::error::Error;
use crate::exit_code;
use crate::report;

pub use args::{Cli, Command};

/// Parses `args` (program name first), runs the command and returns the exit code.
pub fn main<I, T>(args: I) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args = with_default_command(args.into_iter().map(Into::into).collect());
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            if !e.use_stderr() {
                return exit_code::SUCCESS;
            }
            if asks_for_json(&args) {
                // Even a command line clap refuses ends JSON output with its summary.
                let text = e.render().to_string();
                let message = text.lines().next().unwrap_or_default();
                let mut stdout = std::io::stdout().lock();
                let _ = report::failure::render_json(
                    &mut stdout,
                    command_in(&args).as_deref(),
                    exit_code::USAGE,
                    message.strip_prefix("error: ").unwrap_or(message),
                    Some("`vip-run --help` lists the commands and options"),
                );
            }
            return exit_code::USAGE;
        }
    };
    init_logging(&cli);
    if cli.chronic {
        report::chronic::hold();
    }
    let code = run_command(&cli);
    report::chronic::release(code != exit_code::SUCCESS);
    code
}

/// Runs the parsed command line: the exit code, the error that ended it printed.
fn run_command(cli: &Cli) -> i32 {
    match resolve::check(cli).and_then(|()| dispatch(cli)) {
        Ok(code) => code,
        Err(e) => {
            // A closed stdout (`vip-run … | head`) is not worth a message.
            if !matches!(&e, Error::Output(io) if io.kind() == std::io::ErrorKind::BrokenPipe) {
                report::to_stderr(&format!("error: {e}"));
                let help = e.help();
                if let Some(help) = &help {
                    report::to_stderr(&format!("  help: {help}"));
                }
                if cli.output == report::OutputFormat::Json {
                    // A script reading stdout learns how the command ended there too, not
                    // only from stderr, which it may not keep.
                    let _ = report::failure::render_json(
                        &mut report::chronic::HeldStdout,
                        Some(cli.command.name()),
                        e.exit_code(),
                        &e.to_string(),
                        help.as_deref(),
                    );
                }
            }
            e.exit_code()
        }
    }
}

/// Whether `args`, which clap refused, ask for `--output json`.
fn asks_for_json(args: &[OsString]) -> bool {
    args.iter()
        .zip(args.iter().skip(1).map(Some).chain([None]))
        .any(|(arg, next)| {
            arg == "--output=json" || (arg == "--output" && next.is_some_and(|n| n == "json"))
        })
}

/// The command `args` name, when one of them is a command's name.
fn command_in(args: &[OsString]) -> Option<String> {
    let cli = Cli::command();
    args.iter().skip(1).find_map(|a| {
        cli.get_subcommands()
            .find(|c| a == c.get_name())
            .map(|c| c.get_name().to_owned())
    })
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
        .with_writer(crate::report::progress::log_writer)
        .with_max_level(level)
        .with_target(false)
        .without_time()
        .with_level(true)
        // Plain: colouring log levels would need tracing-subscriber's `ansi` feature, and
        // asking for colour without it prints the library's own warning on every run.
        .with_ansi(false)
        .try_init();
}

/// Runs the command: one line each, the command's own steps being in its file in `commands`.
fn dispatch(cli: &Cli) -> Result<i32, Error> {
    let mut stdout = std::io::stdout().lock();
    let mut held = report::chronic::HeldStdout;
    let out: &mut dyn Write = if cli.chronic { &mut held } else { &mut stdout };
    match &cli.command {
        Command::Run(args) => commands::run::exec(cli, args, out),
        Command::Plan(args) => commands::plan::exec(cli, args, out),
        Command::Status(args) => commands::status::exec(cli, args, out),
        Command::Cancel(args) => commands::cancel::exec(cli, args, out),
        Command::Download(args) => commands::download::exec(cli, args, out),
        Command::Report(args) => commands::report::exec(cli, args, out),
        Command::Logs(args) => commands::logs::exec(cli, args, out),
        Command::Clean(args) => commands::clean::exec(cli, args, out),
        Command::Collect(args) => commands::collect::exec(cli, args, out),
        Command::Validate(args) => commands::validate::exec(cli, args, out),
        Command::Whoami => commands::whoami::exec(cli, out),
        Command::Pipelines { query } => commands::pipelines::exec(cli, query.as_deref(), out),
        Command::Pipeline { id } => commands::pipeline::exec(cli, id, out),
        Command::Lock(args) => commands::lock::exec(cli, args, out),
        Command::Init(args) => commands::init::exec(cli, args, out),
        Command::Systemd(args) => commands::systemd::exec(cli, args, out),
        Command::Recipes => commands::recipes::exec(cli, out),
        Command::Sandbox(args) => commands::sandbox::exec(args),
        Command::Schema => commands::schema::exec(out),
        Command::Completions { shell } => commands::completions::exec(*shell, out),
        Command::Man => commands::man::exec(out),
    }
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

//! The command line: clap parses ([`args`]), [`resolve`] validates, then each command calls
//! `run` for its flow and `report` for its output. [`run`] is the library's entry point: it
//! parses, runs the command, prints the one error that ends it, and returns the exit code.

mod args;
mod man;
mod resolve;

use std::ffi::OsString;
use std::io::Write;

use clap::{CommandFactory, Parser};

use crate::error::Error;
use crate::exit_code;
use crate::report;
use crate::run as flow;

pub use args::{Cli, Command};

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
    match resolve::check(&cli).and_then(|()| dispatch(&cli)) {
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
                    let mut stdout = std::io::stdout().lock();
                    let _ = report::failure::render_json(
                        &mut stdout,
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

/// The command that picks up a stopped run of `manifest`, for the summary's hint: the options
/// that decide which VIP, which key, which state and which items it finds, so that following
/// the hint reaches the same executions (without `--server`, it would go to VIP's public
/// server).
fn again(cli: &Cli, common: &args::ManifestArgs, manifest: &std::path::Path) -> String {
    let word = |w: &str| report::text::shell_word(w);
    let path = |p: &std::path::Path| word(&p.to_string_lossy());
    let mut words = vec!["vip-run".to_owned()];
    if cli.sandbox {
        words.push("--sandbox".into());
    }
    if let Some(server) = &cli.server {
        words.extend(["--server".into(), word(server)]);
    }
    if let Some(name) = &cli.api_key_env {
        words.extend(["--api-key-env".into(), word(name)]);
    }
    if let Some(file) = &cli.api_key_file {
        words.extend(["--api-key-file".into(), path(file)]);
    }
    if let Some(dir) = &common.state_dir {
        words.extend(["--state-dir".into(), path(dir)]);
    }
    // Without it, a manifest over the default limit would not even load.
    if common.max_items != crate::manifest::DEFAULT_MAX_ITEMS {
        words.extend(["--max-items".into(), common.max_items.to_string()]);
    }
    words.push(path(manifest));
    words.join(" ")
}

fn dispatch(cli: &Cli) -> Result<i32, Error> {
    let mut stdout = std::io::stdout().lock();
    let out: &mut dyn Write = &mut stdout;
    let format = cli.output;
    match &cli.command {
        Command::Run(args) => {
            let s = resolve::run(cli, args);
            runtime()?.block_on(async {
                let interrupt = flow::Interrupt::on_ctrl_c();
                let mut code = exit_code::SUCCESS;
                for path in &args.manifests {
                    let finished = flow::execute(&s, path, &interrupt, &args.relaunch).await?;
                    let again = again(cli, &args.common, path);
                    report::summary::render(out, &finished, format, cli.quiet, &again)?;
                    code = code.max(finished.exit_code());
                    if finished.summary.interrupted {
                        break;
                    }
                }
                Ok(code)
            })
        }
        Command::Plan(args) => {
            let s = resolve::on_manifest(cli, &args.common);
            match runtime()?.block_on(flow::plan(&s, &args.manifest, &args.relaunch)) {
                Ok(preview) => {
                    report::plan::render(out, &preview, format)?;
                    Ok(if args.detailed_exitcode && preview.changes() > 0 {
                        exit_code::PLAN_CHANGES
                    } else {
                        exit_code::SUCCESS
                    })
                }
                // --detailed-exitcode: 1 for any error.
                Err(e) if args.detailed_exitcode => Err(Error::Detailed(Box::new(e))),
                Err(e) => Err(e),
            }
        }
        Command::Status(args) => {
            let s = resolve::on_manifest(cli, &args.common);
            let status = runtime()?.block_on(flow::status(&s, &args.manifest))?;
            report::status::render(out, &status, format)?;
            Ok(if status.any_failed() {
                exit_code::FAILED
            } else {
                exit_code::SUCCESS
            })
        }
        Command::Cancel(args) => {
            let s = resolve::on_manifest(cli, &args.common);
            let cancelled =
                runtime()?.block_on(flow::cancel(&s, &args.manifest, args.item.as_deref()))?;
            report::cancel::render(out, &cancelled, format, cli.quiet)?;
            Ok(exit_code::SUCCESS)
        }
        Command::Download(args) => {
            let s = resolve::download(cli, args);
            let finished = runtime()?.block_on(flow::download(&s, &args.manifest))?;
            let again = again(cli, &args.common, &args.manifest);
            report::summary::render(out, &finished, format, cli.quiet, &again)?;
            Ok(finished.exit_code())
        }
        Command::Logs(args) => {
            let s = resolve::on_manifest(cli, &args.common);
            let logs = runtime()?.block_on(flow::logs(
                &s,
                &args.manifest,
                args.item.as_deref(),
                args.job,
                args.stderr,
            ))?;
            report::logs::render(out, &logs, format)?;
            Ok(exit_code::SUCCESS)
        }
        Command::Clean(args) => {
            let s = resolve::on_manifest(cli, &args.common);
            let what = flow::clean::What::from_flags(args.inputs, args.results, args.executions);
            let cleaned =
                runtime()?.block_on(flow::clean(&s, &args.manifest, what, &mut |plan| {
                    report::clean::render_plan(&mut *out, plan, format)?;
                    flow::clean::confirm(plan, args.yes)
                }))?;
            report::clean::render_done(out, &cleaned, format)?;
            Ok(exit_code::SUCCESS)
        }
        Command::Validate(args) => {
            let s = resolve::validate(cli, args);
            runtime()?.block_on(flow::validate(
                &s,
                &args.manifests,
                args.online,
                args.locked,
                out,
            ))?;
            Ok(exit_code::SUCCESS)
        }
        Command::Whoami => {
            let s = resolve::global(cli);
            let identity = runtime()?.block_on(flow::whoami(&s))?;
            report::whoami::render(out, &identity, format)?;
            Ok(exit_code::SUCCESS)
        }
        Command::Pipelines { query } => {
            let s = resolve::global(cli);
            let list = runtime()?.block_on(flow::pipelines(&s, query.as_deref()))?;
            report::pipelines::render(out, &list, query.as_deref(), format)?;
            Ok(exit_code::SUCCESS)
        }
        Command::Pipeline { id } => {
            let s = resolve::global(cli);
            let (pipeline, descriptor) = runtime()?.block_on(flow::pipeline(&s, id))?;
            report::pipeline::render(out, &pipeline, &descriptor, format)?;
            Ok(exit_code::SUCCESS)
        }
        Command::Lock(args) => {
            let s = resolve::global(cli);
            let done = runtime()?.block_on(flow::lockfile::lock(&s, &args.manifests))?;
            report::lock::render(out, &done, format)?;
            Ok(exit_code::SUCCESS)
        }
        Command::Init(args) => {
            let s = resolve::global(cli);
            flow::init::check_starter_target(args.output_file.as_deref(), args.force)?;
            let (groups, pipeline, descriptor) =
                runtime()?.block_on(flow::init::starter_inputs(&s, &args.pipeline_id))?;
            let text = report::init::starter(&pipeline, &descriptor, &groups);
            match &args.output_file {
                None => {
                    out.write_all(text.as_bytes())?;
                    out.flush()?;
                }
                Some(path) => {
                    flow::init::write_starter(path, &text)?;
                    if !cli.quiet {
                        report::to_stderr(&format!(
                            "wrote {}: fill in the CHANGE-ME values, then `vip-run validate --online {}`",
                            path.display(),
                            path.display()
                        ));
                    }
                }
            }
            Ok(exit_code::SUCCESS)
        }
        Command::Sandbox(args) => {
            runtime()?
                .block_on(crate::sandbox::serve::run(args))
                .map_err(Error::Sandbox)?;
            Ok(exit_code::SUCCESS)
        }
        Command::Schema => {
            out.write_all(crate::manifest::schema::manifest_schema().as_bytes())?;
            Ok(exit_code::SUCCESS)
        }
        Command::Completions { shell } => {
            // Into memory first: the generator panics when its writer fails (`| head`).
            let mut script = Vec::new();
            clap_complete::generate(*shell, &mut Cli::command(), "vip-run", &mut script);
            out.write_all(&script)?;
            out.flush()?;
            Ok(exit_code::SUCCESS)
        }
        Command::Man => {
            man::render(out)?;
            Ok(exit_code::SUCCESS)
        }
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

    /// The hint's command for the `run` that `args` (after the program name) make.
    fn hint(args: &[&str]) -> String {
        let cli = Cli::try_parse_from(with(&[&["vip-run"], args].concat())).unwrap();
        let Command::Run(run) = &cli.command else {
            panic!("not a run: {args:?}");
        };
        again(&cli, &run.common, &run.manifests[0])
    }

    #[test]
    fn the_resume_hint_repeats_what_finds_the_same_executions() {
        assert_eq!(hint(&["s.yaml"]), "vip-run s.yaml");
        assert_eq!(
            hint(&[
                "--server",
                "http://h/rest",
                "run",
                "--state-dir",
                "my state",
                "s.yaml"
            ]),
            "vip-run --server http://h/rest --state-dir 'my state' s.yaml"
        );
        assert_eq!(
            hint(&[
                "--sandbox",
                "--api-key-env",
                "K",
                "--max-items",
                "20000",
                "s.yaml"
            ]),
            "vip-run --sandbox --api-key-env K --max-items 20000 s.yaml"
        );
        assert_eq!(
            hint(&["-q", "--transfers", "8", "--detach", "s.yaml"]),
            "vip-run s.yaml"
        );
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

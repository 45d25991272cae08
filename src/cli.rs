//! The command line: arguments (parsed by clap), then dispatch to the commands.
//!
//! [`run`] is the library's entry point: it parses, runs the command, prints the one error
//! that ends it (commands print their own output and diagnostics) and returns the exit code.

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;

use clap::{CommandFactory, Parser, Subcommand};

use crate::error::Error;
use crate::exit_code;
use crate::manifest::{self, LoadOptions};
use crate::report::{self, OutputFormat};

/// Run declarative YAML recipes on VIP, the Virtual Imaging Platform.
#[derive(Debug, Parser)]
#[command(name = "vip-run", version, about, long_about = None, after_help = exit_code::TABLE)]
pub struct Cli {
    /// How to print results: `human`, or `json` (one object per line on stdout).
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Human)]
    pub output: OutputFormat,
    /// Print errors only: no summaries, no warnings.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check manifests offline: schema, templates, expansion, VIP's rules, local files.
    Validate(ValidateArgs),
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

/// `validate`.
#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    /// The manifests to check.
    #[arg(required = true, value_name = "MANIFEST")]
    pub manifests: Vec<PathBuf>,
    /// Allow more items than the default limit (10,000).
    #[arg(long, value_name = "N", default_value_t = manifest::validate::DEFAULT_MAX_ITEMS)]
    pub max_items: usize,
}

/// Parses `args` (program name first), runs the command and returns the exit code.
pub fn run<I, T>(args: I) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
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
    match dispatch(&cli) {
        Ok(()) => exit_code::SUCCESS,
        Err(e) => {
            // A closed stdout (`vip-run … | head`) is not worth a message.
            if !matches!(&e, Error::Output(io) if io.kind() == std::io::ErrorKind::BrokenPipe) {
                eprintln!("error: {e}");
            }
            e.exit_code()
        }
    }
}

fn dispatch(cli: &Cli) -> Result<(), Error> {
    match &cli.command {
        Command::Validate(args) => validate(cli, args),
        Command::Schema => {
            std::io::stdout().write_all(crate::schema::manifest_schema().as_bytes())?;
            Ok(())
        }
        Command::Completions { shell } => {
            clap_complete::generate(
                *shell,
                &mut Cli::command(),
                "vip-run",
                &mut std::io::stdout(),
            );
            Ok(())
        }
        Command::Man => {
            clap_mangen::Man::new(Cli::command()).render(&mut std::io::stdout())?;
            Ok(())
        }
    }
}

fn validate(cli: &Cli, args: &ValidateArgs) -> Result<(), Error> {
    if args.max_items == 0 {
        return Err(Error::Usage("--max-items must be at least 1".into()));
    }
    let options = LoadOptions {
        max_items: args.max_items,
    };
    let fancy = report::stderr_is_fancy();
    let mut stdout = std::io::stdout().lock();
    let mut invalid = Vec::new();
    for path in &args.manifests {
        let shown = path.display().to_string();
        match manifest::load(path, &options) {
            Ok(v) => {
                if !cli.quiet {
                    for w in &v.warnings {
                        eprint!("{}", report::diagnostics::render(w, fancy, &v.secrets));
                    }
                }
                let text = match cli.output {
                    OutputFormat::Json => report::validate::json_valid(&shown, &v) + "\n",
                    OutputFormat::Human if cli.quiet => String::new(),
                    OutputFormat::Human => report::validate::human(&shown, &v),
                };
                stdout.write_all(text.as_bytes())?;
            }
            Err(errors) => {
                let secrets = secrets_of(path);
                for d in &errors.diagnostics {
                    if d.is_error() || !cli.quiet {
                        eprint!("{}", report::diagnostics::render(d, fancy, &secrets));
                    }
                }
                if cli.output == OutputFormat::Json {
                    let line =
                        report::validate::json_invalid(&shown, &errors.diagnostics, &secrets);
                    writeln!(stdout, "{line}")?;
                }
                invalid.push(errors.to_string());
            }
        }
        stdout.flush()?;
    }
    match invalid.len() {
        0 => Ok(()),
        1 if args.manifests.len() == 1 => Err(Error::InvalidManifests(invalid.remove(0))),
        n => Err(Error::InvalidManifests(format!(
            "{n} of {} manifests are invalid",
            args.manifests.len()
        ))),
    }
}

/// Secrets to scrub from an invalid manifest's diagnostics (its text is read again: the
/// load failed, and may have failed before the secrets were known).
fn secrets_of(path: &std::path::Path) -> Vec<String> {
    std::fs::read(path)
        .map(|b| manifest::secrets::mask(&String::from_utf8_lossy(&b)).1)
        .unwrap_or_default()
}

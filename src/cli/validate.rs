//! `vip-run validate`: offline checks, and with `--online` the pre-flight against VIP.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::manifest::{self, LoadOptions, ManifestDiagnostic, Validated};
use crate::report::{self, OutputFormat};
use crate::run::Connection;
use crate::run::preflight::{self, PreflightError};

use super::Cli;

/// `validate`.
#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    /// The manifests to check.
    #[arg(required = true, value_name = "MANIFEST")]
    pub manifests: Vec<PathBuf>,
    /// Allow more items than the default limit (10,000).
    #[arg(long, value_name = "N", default_value_t = manifest::DEFAULT_MAX_ITEMS)]
    pub max_items: usize,
    /// Also check against VIP: the key, the group, the pipeline, every input.
    #[arg(long)]
    pub online: bool,
}

/// Secrets to scrub from an invalid manifest's diagnostics (its text is read again: the
/// load failed, and may have failed before the secrets were known).
fn secrets_of(path: &Path) -> Vec<String> {
    std::fs::read(path)
        .map(|b| manifest::secrets::mask(&String::from_utf8_lossy(&b)).1)
        .unwrap_or_default()
}

fn print_diagnostics(cli: &Cli, diagnostics: &[ManifestDiagnostic], secrets: &[String]) {
    let fancy = report::stderr_is_fancy();
    for d in diagnostics {
        if d.is_error() || !cli.quiet {
            eprint!("{}", report::diagnostics::render(d, fancy, secrets));
        }
    }
}

/// Runs `validate`.
pub fn run(cli: &Cli, args: &ValidateArgs) -> Result<(), Error> {
    if args.max_items == 0 {
        return Err(Error::Usage("--max-items must be at least 1".into()));
    }
    let options = LoadOptions {
        max_items: args.max_items,
    };
    let runtime = if args.online {
        Some(super::runtime()?)
    } else {
        None
    };
    let mut stdout = std::io::stdout().lock();
    let mut invalid = Vec::new();
    let mut worst: Option<Error> = None;
    for path in &args.manifests {
        let shown = path.display().to_string();
        let v = match manifest::load(path, &options) {
            Ok(v) => v,
            Err(errors) => {
                let secrets = secrets_of(path);
                print_diagnostics(cli, &errors.diagnostics, &secrets);
                if cli.output == OutputFormat::Json {
                    let line =
                        report::validate::json_invalid(&shown, &errors.diagnostics, &secrets);
                    writeln!(stdout, "{line}")?;
                }
                invalid.push(errors.to_string());
                continue;
            }
        };
        print_diagnostics(cli, &v.warnings, &v.secrets);
        let online = match &runtime {
            Some(rt) => match rt.block_on(check_online(cli, &v)) {
                Ok(summary) => Some(summary),
                Err(OnlineFailure::Problems(diagnostics, access)) => {
                    print_diagnostics(cli, &diagnostics, &v.secrets);
                    if cli.output == OutputFormat::Json {
                        let line = report::validate::json_invalid(&shown, &diagnostics, &v.secrets);
                        writeln!(stdout, "{line}")?;
                    }
                    let n = diagnostics.iter().filter(|d| d.is_error()).count();
                    let message = format!(
                        "{shown} failed the checks against VIP: {n} problem{}",
                        if n == 1 { "" } else { "s" }
                    );
                    if access || !matches!(worst, Some(Error::Preflight { access: true, .. })) {
                        worst = Some(Error::Preflight { message, access });
                    }
                    continue;
                }
                Err(OnlineFailure::Fatal(e)) => return Err(e),
            },
            None => None,
        };
        let text = match cli.output {
            OutputFormat::Json => report::validate::json_valid(&shown, &v, online.as_ref()) + "\n",
            OutputFormat::Human if cli.quiet => String::new(),
            OutputFormat::Human => report::validate::human(&shown, &v, online.as_ref()),
        };
        stdout.write_all(text.as_bytes())?;
        stdout.flush()?;
    }
    if let Some(e) = worst {
        return Err(e);
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

enum OnlineFailure {
    Problems(Vec<ManifestDiagnostic>, bool),
    Fatal(Error),
}

async fn check_online(cli: &Cli, v: &Validated) -> Result<report::validate::Online, OnlineFailure> {
    let conn = Connection::open(&cli.connect_options(), Some(v))
        .await
        .map_err(OnlineFailure::Fatal)?;
    let result = preflight::check(v, &conn).await;
    let summary = match result {
        Ok(p) => {
            print_diagnostics(cli, &p.warnings, &v.secrets);
            Ok(report::validate::Online {
                server: conn.server.clone(),
                key_source: conn.key_source.clone(),
                groups: p.groups,
                parameters: p.pipeline.parameters.len(),
                vip_paths_checked: p.vip_paths_checked,
            })
        }
        Err(PreflightError::Problems {
            diagnostics,
            access,
        }) => Err(OnlineFailure::Problems(diagnostics, access)),
        Err(PreflightError::Fatal(e)) => Err(OnlineFailure::Fatal(e)),
    };
    conn.close().await;
    summary
}

//! One file per command, named after it, as its flow in `run` and its renderer in `report` are
//! (cargo's `commands/<name>.rs`): each `exec` builds the command's settings (`resolve`), calls
//! its flow, hands the outcome to its renderer, and says the exit code.

pub mod cancel;
pub mod clean;
pub mod collect;
pub mod completions;
pub mod download;
pub mod init;
pub mod lock;
pub mod logs;
pub mod man;
pub mod pipeline;
pub mod pipelines;
pub mod plan;
pub mod recipes;
pub mod report;
pub mod run;
pub mod sandbox;
pub mod schema;
pub mod status;
pub mod systemd;
pub mod validate;
pub mod whoami;

use std::path::Path;

use crate::cli::args::{Cli, ManifestArgs};
use crate::error::Error;
use crate::report::text::shell_word;

/// A runtime for the commands that talk to VIP.
fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(Error::Output)
}

/// The command that picks up a stopped run of `manifest` (`run`, `download`), for the
/// summary's hint: the options that decide which VIP, which key, which state and which items
/// it finds, so that following the hint reaches the same executions (without `--server`, it
/// would go to VIP's public server).
fn resume_hint(cli: &Cli, common: &ManifestArgs, manifest: &Path) -> String {
    let path = |p: &Path| shell_word(&p.to_string_lossy());
    let mut words = vec!["vip-run".to_owned()];
    if cli.sandbox {
        words.push("--sandbox".into());
    }
    if let Some(server) = &cli.server {
        words.extend(["--server".into(), shell_word(server)]);
    }
    if let Some(name) = &cli.api_key_env {
        words.extend(["--api-key-env".into(), shell_word(name)]);
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

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::args::Command;

    /// The hint's command for the `run` that `args` (after the program name) make.
    fn hint(args: &[&str]) -> String {
        let cli = Cli::try_parse_from([&["vip-run"], args].concat()).unwrap();
        let Command::Run(run) = &cli.command else {
            panic!("not a run: {args:?}");
        };
        resume_hint(&cli, &run.common, &run.manifests[0])
    }

    #[test]
    fn the_resume_hint_repeats_what_finds_the_same_executions() {
        assert_eq!(hint(&["run", "s.yaml"]), "vip-run s.yaml");
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
                "run",
                "--max-items",
                "20000",
                "s.yaml"
            ]),
            "vip-run --sandbox --api-key-env K --max-items 20000 s.yaml"
        );
        assert_eq!(
            hint(&["-q", "run", "--transfers", "8", "--detach", "s.yaml"]),
            "vip-run s.yaml"
        );
    }
}

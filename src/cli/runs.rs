//! The commands that act on a manifest's executions: run (the default), plan, status,
//! cancel and download.

use std::fmt::Write as _;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::json;

use crate::error::Error;
use crate::exit_code;
use crate::manifest::{self, LoadOptions, ManifestDiagnostic, Validated, ValueKind};
use crate::report::run::{Reporter, junit};
use crate::report::{self, OutputFormat};
use crate::run::engine::{self, Interrupt, Outcome, Paths, RunOptions, Runner, Summary};
use crate::run::lock::RunLock;
use crate::run::preflight::{self, PreflightError};
use crate::run::state::State;
use crate::run::{Connection, time};
use crate::vip::wire::ExecutionStatus;

use super::Cli;

/// Options shared by the commands that act on a manifest's executions.
#[derive(Debug, Clone, clap::Args)]
pub struct ManifestArgs {
    /// Keep run state here instead of `.vip-run/` next to the manifest.
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Wait this long for another run of the same manifest to finish (default: do not wait).
    #[arg(long, value_name = "DURATION", default_value = "0s", value_parser = crate::manifest::duration::parse)]
    pub lock_wait: Duration,
    /// Allow more items than the default limit (10,000).
    #[arg(long, value_name = "N", default_value_t = manifest::validate::DEFAULT_MAX_ITEMS)]
    pub max_items: usize,
}

/// `run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The manifests to run, one after the other.
    #[arg(required = true, value_name = "MANIFEST")]
    pub manifests: Vec<PathBuf>,
    /// Return once everything that can be launched now is launched.
    #[arg(long)]
    pub detach: bool,
    #[command(flatten)]
    pub common: ManifestArgs,
}

/// `plan`, `status`, `download`.
#[derive(Debug, clap::Args)]
pub struct OneManifest {
    /// The manifest.
    #[arg(value_name = "MANIFEST")]
    pub manifest: PathBuf,
    /// With `plan`: exit 0 when there is nothing to do, 2 when there are changes, 1 on error.
    #[arg(long)]
    pub detailed_exitcode: bool,
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

fn load(cli: &Cli, path: &Path, common: &ManifestArgs) -> Result<Validated, Error> {
    let options = LoadOptions {
        max_items: common.max_items,
    };
    let fancy = report::stderr_is_fancy();
    match manifest::load(path, &options) {
        Ok(v) => {
            if !cli.quiet {
                for w in &v.warnings {
                    eprint!("{}", report::diagnostics::render(w, fancy, &v.secrets));
                }
            }
            Ok(v)
        }
        Err(errors) => {
            let secrets = std::fs::read(path)
                .map(|b| manifest::secrets::mask(&String::from_utf8_lossy(&b)).1)
                .unwrap_or_default();
            for d in &errors.diagnostics {
                if d.is_error() || !cli.quiet {
                    eprint!("{}", report::diagnostics::render(d, fancy, &secrets));
                }
            }
            Err(Error::InvalidManifests(errors.to_string()))
        }
    }
}

fn print_problems(cli: &Cli, v: &Validated, diagnostics: &[ManifestDiagnostic]) {
    let fancy = report::stderr_is_fancy();
    for d in diagnostics {
        if d.is_error() || !cli.quiet {
            eprint!("{}", report::diagnostics::render(d, fancy, &v.secrets));
        }
    }
}

/// Pre-flight, printing problems; the error carries the exit code.
async fn preflight(
    cli: &Cli,
    v: &Validated,
    conn: &Connection,
) -> Result<preflight::Preflight, Error> {
    match preflight::check(v, conn).await {
        Ok(p) => {
            print_problems(cli, v, &p.warnings);
            Ok(p)
        }
        Err(PreflightError::Problems {
            diagnostics,
            access,
        }) => {
            print_problems(cli, v, &diagnostics);
            let n = diagnostics.iter().filter(|d| d.is_error()).count();
            Err(Error::Preflight {
                message: format!(
                    "{} failed the checks against VIP: {n} problem{}; nothing was uploaded or launched",
                    v.file.display,
                    if n == 1 { "" } else { "s" }
                ),
                access,
            })
        }
        Err(PreflightError::Fatal(e)) => Err(e),
    }
}

fn interrupt_on_ctrl_c() -> Interrupt {
    let interrupt = Interrupt::default();
    let flag = interrupt.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            flag.set();
            eprintln!(
                "\ninterrupted: no more launches; saving state (Ctrl-C again to quit at once)"
            );
        }
        if tokio::signal::ctrl_c().await.is_ok() {
            // The one exit outside `main`: a second Ctrl-C means "now". The state on disk
            // is consistent, since every write of it is atomic.
            std::process::exit(exit_code::INTERRUPTED);
        }
    });
    interrupt
}

/// `vip-run MANIFEST...` / `vip-run run MANIFEST...`.
pub async fn run(cli: &Cli, args: &RunArgs) -> Result<i32, Error> {
    let interrupt = interrupt_on_ctrl_c();
    let mut code = exit_code::SUCCESS;
    for path in &args.manifests {
        let v = load(cli, path, &args.common)?;
        let conn = Connection::open(&cli.connect_options(), Some(&v)).await?;
        let result = run_one(cli, args, &v, &conn, &interrupt).await;
        conn.close().await;
        let summary = result?;
        let this = if summary.interrupted {
            exit_code::INTERRUPTED
        } else if summary.any_failed() {
            exit_code::FAILED
        } else {
            exit_code::SUCCESS
        };
        code = code.max(this);
        if summary.interrupted {
            break;
        }
    }
    Ok(code)
}

async fn run_one(
    cli: &Cli,
    args: &RunArgs,
    v: &Validated,
    conn: &Connection,
    interrupt: &Interrupt,
) -> Result<Summary, Error> {
    let paths = Paths::new(v, args.common.state_dir.as_deref(), cli.sandbox);
    let _lock = RunLock::acquire(&paths.lock, args.common.lock_wait).map_err(Error::Locked)?;
    let pre = preflight(cli, v, conn).await?;
    let cap = pre
        .platform
        .as_ref()
        .and_then(|p| p.max_size_direct_transfer);
    let mut reporter = Reporter::new(cli.output, cli.progress, v.items.len());
    let runner = Runner::new(
        v,
        conn,
        paths.clone(),
        &mut reporter,
        interrupt.clone(),
        cap,
    )?;
    let options = RunOptions {
        detach: args.detach,
        download_only: false,
    };
    let summary = runner.run(&options).await?;
    reporter.finish();
    finish(cli, v, &paths, &summary, "run")?;
    Ok(summary)
}

/// Prints the summary (human on stdout, or the JSON summary object) and writes the `JUnit` file.
fn finish(
    cli: &Cli,
    v: &Validated,
    paths: &Paths,
    summary: &Summary,
    what: &str,
) -> Result<(), Error> {
    if let Some(file) = &cli.junit {
        crate::run::state::write_atomically(file, junit(&v.name, &summary.junit).as_bytes())
            .map_err(Error::State)?;
    }
    let count =
        |f: &dyn Fn(&Outcome) -> bool| summary.outcomes.iter().filter(|(_, o)| f(o)).count();
    let finished = count(&|o| matches!(o, Outcome::Done | Outcome::DoneWithProblems(_)));
    let failed = count(&|o| matches!(o, Outcome::Failed(_)));
    let timed_out = count(&|o| *o == Outcome::TimedOut);
    let in_progress = count(&|o| *o == Outcome::InProgress);
    let not_launched = count(&|o| *o == Outcome::NotLaunched);
    let mut out = std::io::stdout().lock();
    match cli.output {
        OutputFormat::Json => {
            let items: Vec<_> = summary
                .outcomes
                .iter()
                .map(|(k, o)| {
                    let (result, detail) = match o {
                        Outcome::Done => ("finished", None),
                        Outcome::DoneWithProblems(p) => ("finished", Some(p.clone())),
                        Outcome::Failed(why) => ("failed", Some(why.clone())),
                        Outcome::TimedOut => ("timed_out", None),
                        Outcome::InProgress => ("in_progress", None),
                        Outcome::NotLaunched => ("not_launched", None),
                    };
                    json!({"item": k, "result": result, "detail": detail})
                })
                .collect();
            let record = json!({
                "event": "summary",
                "command": what,
                "manifest": v.file.display,
                "items": summary.outcomes.len(),
                "finished": finished,
                "failed": failed,
                "timed_out": timed_out,
                "in_progress": in_progress,
                "not_launched": not_launched,
                "interrupted": summary.interrupted,
                "state": paths.state.display().to_string(),
                "record": paths.record.display().to_string(),
                "results": items,
                "at": time::rfc3339(time::now_ms()),
            });
            writeln!(out, "{record}")?;
        }
        OutputFormat::Human if cli.quiet && !summary.any_failed() => {}
        OutputFormat::Human => {
            let mut text = format!(
                "{}: {} item{}: {finished} finished, {failed} failed, {timed_out} timed out, {in_progress} in progress, {not_launched} not launched\n",
                v.file.display,
                summary.outcomes.len(),
                if summary.outcomes.len() == 1 { "" } else { "s" }
            );
            for (key, outcome) in &summary.outcomes {
                match outcome {
                    Outcome::Failed(why) => {
                        let _ = writeln!(
                            text,
                            "  {key}: FAILED: {}",
                            why.lines().next().unwrap_or("")
                        );
                        for line in why.lines().skip(1) {
                            let _ = writeln!(text, "    | {line}");
                        }
                    }
                    Outcome::TimedOut => {
                        let _ = writeln!(text, "  {key}: TIMED OUT");
                    }
                    Outcome::DoneWithProblems(p) => {
                        let _ = writeln!(text, "  {key}: finished, but: {p}");
                    }
                    _ => {}
                }
            }
            if cli.sandbox && (summary.interrupted || in_progress > 0) {
                // The in-process simulator stopped with this command: there is nothing left
                // to pick up, and the same command without `--sandbox` would go to VIP.
                let _ = writeln!(
                    text,
                    "the sandbox stopped with this command{}; run `vip-run --sandbox {}` again to start over",
                    match in_progress {
                        0 => String::new(),
                        1 => ", and its running execution with it".to_owned(),
                        n => format!(", and its {n} running executions with it"),
                    },
                    v.file.display
                );
            } else if summary.interrupted || in_progress > 0 {
                let _ = writeln!(
                    text,
                    "{in_progress} execution{} still running on VIP; run `vip-run {}` again to pick {} up",
                    if in_progress == 1 { " is" } else { "s are" },
                    v.file.display,
                    if in_progress == 1 { "it" } else { "them" }
                );
            }
            let _ = writeln!(text, "run record: {}", paths.record.display());
            out.write_all(text.as_bytes())?;
        }
    }
    out.flush()?;
    Ok(())
}

/// `download MANIFEST`: outputs of finished items only.
pub async fn download(cli: &Cli, args: &OneManifest) -> Result<i32, Error> {
    let v = load(cli, &args.manifest, &args.common)?;
    let conn = Connection::open(&cli.connect_options(), Some(&v)).await?;
    let result = async {
        let paths = Paths::new(&v, args.common.state_dir.as_deref(), cli.sandbox);
        let _lock = RunLock::acquire(&paths.lock, args.common.lock_wait).map_err(Error::Locked)?;
        let platform = conn
            .client
            .platform()
            .await
            .map_err(|e| super::discover::key_error(e, &conn))?;
        let interrupt = interrupt_on_ctrl_c();
        let mut reporter = Reporter::new(cli.output, cli.progress, v.items.len());
        let runner = Runner::new(
            &v,
            &conn,
            paths.clone(),
            &mut reporter,
            interrupt,
            platform.max_size_direct_transfer,
        )?;
        let summary = runner
            .run(&RunOptions {
                detach: false,
                download_only: true,
            })
            .await?;
        reporter.finish();
        finish(cli, &v, &paths, &summary, "download")?;
        Ok::<_, Error>(if summary.interrupted {
            exit_code::INTERRUPTED
        } else {
            exit_code::SUCCESS
        })
    }
    .await;
    conn.close().await;
    result
}

/// `cancel MANIFEST [--item KEY]`.
pub async fn cancel(cli: &Cli, args: &CancelArgs) -> Result<i32, Error> {
    let v = load(cli, &args.manifest, &args.common)?;
    if let Some(key) = &args.item
        && !v.items.iter().any(|i| &i.key == key)
    {
        let keys: Vec<&str> = v.items.iter().map(|i| i.key.as_str()).collect();
        let hint = crate::manifest::suggest::did_you_mean(key, keys.iter().copied()).map_or_else(
            || format!("the items are: {}", keys.join(", ")),
            |s| format!("did you mean `{s}`?"),
        );
        return Err(Error::Usage(format!(
            "{} has no item `{key}`; {hint}",
            v.file.display
        )));
    }
    let conn = Connection::open(&cli.connect_options(), Some(&v)).await?;
    let result = async {
        let paths = Paths::new(&v, args.common.state_dir.as_deref(), cli.sandbox);
        let _lock = RunLock::acquire(&paths.lock, args.common.lock_wait).map_err(Error::Locked)?;
        let mut reporter = Reporter::new(cli.output, cli.progress, v.items.len());
        let mut runner = Runner::new(&v, &conn, paths, &mut reporter, Interrupt::default(), None)?;
        runner.prepare().await.map_err(|e| match e {
            Error::Vip(e) => super::discover::key_error(e, &conn),
            other => other,
        })?;
        runner.refresh().await?;
        let killed = runner.cancel(args.item.as_deref()).await?;
        Ok::<_, Error>(killed)
    }
    .await;
    conn.close().await;
    let killed = result?;
    if cli.output == OutputFormat::Human && !cli.quiet {
        if killed.is_empty() {
            println!(
                "nothing to cancel: no execution of {} is queued or running",
                v.file.display
            );
        } else {
            println!(
                "killed {} execution{}",
                killed.len(),
                if killed.len() == 1 { "" } else { "s" }
            );
        }
    }
    Ok(exit_code::SUCCESS)
}

/// `status MANIFEST`.
pub async fn status(cli: &Cli, args: &OneManifest) -> Result<i32, Error> {
    let v = load(cli, &args.manifest, &args.common)?;
    let conn = Connection::open(&cli.connect_options(), Some(&v)).await?;
    let result = async {
        let paths = Paths::new(&v, args.common.state_dir.as_deref(), cli.sandbox);
        // Read-only: no lock, nothing saved.
        let mut reporter = Reporter::new(cli.output, report::run::Progress::None, v.items.len());
        let mut runner = Runner::new(
            &v,
            &conn,
            paths.clone(),
            &mut reporter,
            Interrupt::default(),
            None,
        )?;
        runner.prepare_read_only().await.map_err(|e| match e {
            Error::Vip(e) => super::discover::key_error(e, &conn),
            other => other,
        })?;
        runner.refresh_read_only().await?;
        Ok::<_, Error>(runner.current_executions())
    }
    .await;
    conn.close().await;
    let current = result?;
    let mut out = std::io::stdout().lock();
    let by_key: std::collections::HashMap<&str, &crate::run::state::Attempt> =
        current.iter().map(|(k, a)| (k.as_str(), a)).collect();
    match cli.output {
        OutputFormat::Json => {
            for item in &v.items {
                let a = by_key.get(item.key.as_str());
                let record = json!({
                    "item": item.key,
                    "execution_name": a.map_or(item.execution_name.as_str(), |a| a.name.as_str()),
                    "execution": a.map(|a| a.execution_id.as_str()),
                    "status": a.map_or("NotLaunched", |a| if a.timed_out { "TimedOut" } else { a.status.as_str() }),
                    "launched_at": a.map(|a| time::rfc3339(a.launched_at)),
                });
                writeln!(out, "{record}")?;
            }
        }
        OutputFormat::Human => {
            let w = v
                .items
                .iter()
                .map(|i| i.key.chars().count())
                .max()
                .unwrap_or(4)
                .max(4);
            let mut text = format!(
                "{:w$}  {:16}  {:24}  LAUNCHED\n",
                "ITEM", "STATUS", "EXECUTION"
            );
            for item in &v.items {
                let (status, id, at) = by_key.get(item.key.as_str()).map_or(
                    ("not launched".to_owned(), "-".to_owned(), "-".to_owned()),
                    |a| {
                        (
                            if a.timed_out {
                                format!("{} (timed out)", a.status)
                            } else {
                                a.status.clone()
                            },
                            a.execution_id.clone(),
                            time::rfc3339(a.launched_at),
                        )
                    },
                );
                let _ = writeln!(text, "{:w$}  {status:16}  {id:24}  {at}", item.key);
            }
            out.write_all(text.as_bytes())?;
        }
    }
    out.flush()?;
    Ok(exit_code::SUCCESS)
}

/// `plan MANIFEST`: what a run would do, changing nothing.
pub async fn plan(cli: &Cli, args: &OneManifest) -> Result<i32, Error> {
    let v = load(cli, &args.manifest, &args.common)?;
    let conn = Connection::open(&cli.connect_options(), Some(&v)).await?;
    let result = plan_actions(cli, &v, &conn, args).await;
    conn.close().await;
    let actions = match result {
        Ok(a) => a,
        Err(e) if args.detailed_exitcode => {
            // --detailed-exitcode: 1 for any error.
            eprintln!("error: {e}");
            return Ok(exit_code::FAILED);
        }
        Err(e) => return Err(e),
    };
    let changes = actions.iter().filter(|a| a.change).count();
    let mut out = std::io::stdout().lock();
    match cli.output {
        OutputFormat::Json => {
            for a in &actions {
                writeln!(
                    out,
                    "{}",
                    json!({"action": a.verb, "item": a.item, "detail": a.detail, "change": a.change})
                )?;
            }
            writeln!(
                out,
                "{}",
                json!({"event": "summary", "command": "plan", "changes": changes, "actions": actions.len()})
            )?;
        }
        OutputFormat::Human => {
            let mut text = String::new();
            for a in &actions {
                let _ = writeln!(
                    text,
                    "{} {:9} {}{}",
                    if a.change { "+" } else { " " },
                    a.verb,
                    a.item
                        .as_deref()
                        .map(|i| format!("{i}: "))
                        .unwrap_or_default(),
                    a.detail
                );
            }
            let _ = writeln!(
                text,
                "{}: {changes} change{} to make",
                v.file.display,
                if changes == 1 { "" } else { "s" }
            );
            out.write_all(text.as_bytes())?;
        }
    }
    out.flush()?;
    Ok(if args.detailed_exitcode && changes > 0 {
        2
    } else {
        exit_code::SUCCESS
    })
}

struct Action {
    verb: &'static str,
    item: Option<String>,
    detail: String,
    change: bool,
}

async fn plan_actions(
    cli: &Cli,
    v: &Validated,
    conn: &Connection,
    args: &OneManifest,
) -> Result<Vec<Action>, Error> {
    let _ = preflight(cli, v, conn).await?;
    let paths = Paths::new(v, args.common.state_dir.as_deref(), cli.sandbox);
    let state = State::load(&paths.state).map_err(Error::State)?;
    let mut reporter = Reporter::new(cli.output, report::run::Progress::None, v.items.len());
    let mut runner = Runner::new(v, conn, paths, &mut reporter, Interrupt::default(), None)?;
    runner.prepare_read_only().await?;
    runner.refresh_read_only().await?;
    let mut actions = Vec::new();
    // Uploads.
    let root = engine::inputs_root(v);
    let mut seen = std::collections::BTreeSet::new();
    for item in &v.items {
        for wire in item.inputs.values() {
            for value in wire.values() {
                if let ValueKind::LocalFile { path, size, upload } = &value.kind {
                    let remote = format!("{root}/{upload}");
                    if !seen.insert(remote.clone()) {
                        continue;
                    }
                    let sha = engine::file_sha256(path)
                        .await
                        .map_err(|e| Error::State(e.to_string()))?;
                    let known = state
                        .as_ref()
                        .and_then(|s| s.uploads.get(&remote))
                        .is_some_and(|u| u.size == *size && u.sha256 == sha);
                    let props = conn.client.properties(&remote).await?;
                    let current = known && props.exists && props.size == Some(*size);
                    actions.push(Action {
                        verb: if current { "keep" } else { "upload" },
                        item: None,
                        detail: format!("{} → {remote}", path.display()),
                        change: !current,
                    });
                }
            }
        }
    }
    let current: std::collections::HashMap<String, crate::run::state::Attempt> =
        runner.current_executions().into_iter().collect();
    for item in &v.items {
        match current.get(&item.key) {
            None => actions.push(Action {
                verb: "launch",
                item: Some(item.key.clone()),
                detail: item.execution_name.clone(),
                change: true,
            }),
            Some(a) => {
                let status: ExecutionStatus = serde_json::from_value(json!(a.status))
                    .unwrap_or(ExecutionStatus::Other(a.status.clone()));
                let failed = matches!(
                    status,
                    ExecutionStatus::ExecutionFailed | ExecutionStatus::InitializationFailed
                );
                let attempts = runner.attempt_count(&item.key);
                if failed && attempts <= v.execution.retries as usize {
                    actions.push(Action {
                        verb: "relaunch",
                        item: Some(item.key.clone()),
                        detail: format!(
                            "{} failed; retry {attempts} of {}",
                            a.execution_id, v.execution.retries
                        ),
                        change: true,
                    });
                } else if status == ExecutionStatus::Finished
                    && item.download.is_some()
                    && !runner.outputs_complete(&item.key)
                {
                    actions.push(Action {
                        verb: "download",
                        item: Some(item.key.clone()),
                        detail: format!(
                            "outputs of {} into {}",
                            a.execution_id,
                            item.download
                                .as_ref()
                                .map(|d| d.display().to_string())
                                .unwrap_or_default()
                        ),
                        change: true,
                    });
                } else {
                    actions.push(Action {
                        verb: "reuse",
                        item: Some(item.key.clone()),
                        detail: format!(
                            "{} ({}{})",
                            a.execution_id,
                            a.status,
                            if a.timed_out { ", timed out" } else { "" }
                        ),
                        change: false,
                    });
                }
            }
        }
    }
    Ok(actions)
}

//! `logs MANIFEST [--item KEY] [--job ID] [--stderr]`: an item's execution output from VIP,
//! and the one way logs are fetched, which the runner also uses to keep a failed item's
//! logs next to its results.
//!
//! VIP's whole-execution log routes answer only for a single job (with several they answer a
//! sentence, docs/vip.md#executions), so an execution with several jobs is read job by job.

use std::path::Path;

use crate::error::Error;
use crate::report::log_text::{LogSection, Logs};
use crate::vip::wire::Execution;
use crate::vip::{Client, LogStream, VipError};

use super::Settings;
use super::access::explain_error;
use super::runner::Runner;
use super::session::{open, with_connection};

/// One log of an execution: the job (with its task status) when it is one job's, and the
/// text (`None`: VIP has none).
pub struct Fetched {
    /// Invocation id and task status, for one job's log.
    pub job: Option<(String, String)>,
    /// The log.
    pub text: Option<String>,
}

/// The logs of `e` on `stream`: the execution's own when it has at most one job, else each
/// job's (only `job` when given).
pub async fn fetch(
    client: &Client,
    e: &Execution,
    stream: LogStream,
    job: Option<u64>,
) -> Result<Vec<Fetched>, VipError> {
    if job.is_none() && e.jobs.len() <= 1 {
        return Ok(vec![Fetched {
            job: None,
            text: client.log(&e.identifier, stream).await?,
        }]);
    }
    let mut out = Vec::new();
    for (id, j) in &e.jobs {
        let Ok(n) = id.parse::<u64>() else { continue };
        if job.is_some_and(|wanted| wanted != n) {
            continue;
        }
        // A task without a log file is a 400 (docs/vip.md#executions): no log, not a failure.
        let text = match client.job_log(&e.identifier, n, stream).await {
            Ok(t) => t,
            Err(err) if err.code() == Some(8000) => None,
            Err(err) => return Err(err),
        };
        out.push(Fetched {
            job: Some((id.clone(), j.status.clone())),
            text,
        });
    }
    Ok(out)
}

/// Whether an execution's status counts as failed for `logs` without `--item`.
fn failed(status: &str) -> bool {
    matches!(
        status,
        "ExecutionFailed" | "InitializationFailed" | "Killed" | "Unknown"
    )
}

/// `logs MANIFEST`: the logs of `item` (else of the failed items), of `job` when given.
pub async fn logs(
    settings: &Settings,
    path: &Path,
    item: Option<&str>,
    job: Option<u64>,
    stderr: bool,
) -> Result<Logs, Error> {
    let (v, paths) = open(settings, path, false)?;
    super::session::check_item(&v, item)?;
    let stream = if stderr {
        LogStream::Stderr
    } else {
        LogStream::Stdout
    };
    let sections = with_connection(settings, Some(&v), async |conn| {
        let mut runner = Runner::read_only(&v, conn, paths)?;
        runner.prepare().await.map_err(|e| explain_error(e, conn))?;
        runner.refresh().await?;
        let current = runner.current_executions();
        let chosen: Vec<_> = match item {
            Some(key) => {
                let Some(found) = current.iter().find(|(k, _)| k == key) else {
                    return Err(Error::Usage(format!(
                        "item `{key}` has no execution on VIP yet: run `vip-run {}` first",
                        v.file.display
                    )));
                };
                vec![found.clone()]
            }
            None => current
                .into_iter()
                .filter(|(_, a)| failed(&a.status) || a.timed_out)
                .collect(),
        };
        let mut sections = Vec::new();
        for (key, attempt) in chosen {
            let e = conn
                .client
                .execution(&attempt.execution_id)
                .await
                .map_err(|e| explain_error(e.into(), conn))?;
            if let Some(n) = job
                && !e.jobs.contains_key(&n.to_string())
            {
                let ids: Vec<&str> = e.jobs.keys().map(String::as_str).collect();
                return Err(Error::Usage(format!(
                    "execution {} of item `{key}` has no job {n}; {}",
                    e.identifier,
                    if ids.is_empty() {
                        "it has no jobs yet".to_owned()
                    } else {
                        format!("its jobs are: {}", ids.join(", "))
                    }
                )));
            }
            let status = e.status.to_string();
            for f in fetch(&conn.client, &e, stream, job)
                .await
                .map_err(|e| explain_error(e.into(), conn))?
            {
                let (job, job_status) = f.job.map_or((None, None), |(j, s)| (Some(j), Some(s)));
                sections.push(LogSection {
                    item: key.clone(),
                    execution: e.identifier.clone(),
                    status: status.clone(),
                    job,
                    job_status,
                    text: f.text,
                });
            }
        }
        Ok(sections)
    })
    .await?;
    Ok(Logs {
        manifest: v.file.display.clone(),
        stream: if stderr { "stderr" } else { "stdout" },
        failed_only: item.is_none(),
        sections,
    })
}

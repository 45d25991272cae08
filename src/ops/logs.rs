//! `logs MANIFEST [--item KEY] [--job ID] [--stderr]`: an item's execution output from VIP,
//! read the one way logs are fetched (the tracker's `fetch_logs`, which also keeps a failed
//! item's logs next to its results): job by job when an execution has several, since VIP's
//! whole-execution log routes answer only for a single job (docs/vip.md#executions).

use std::path::Path;

use crate::error::Error;
use crate::report::logs::{LogSection, Logs};
use crate::vip::LogStream;

use super::Settings;
use super::access::explain_error;
use super::runner::tracker::fetch_logs;
use super::session::{Access, Session};

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
    let session = Session::open(settings, path, Access::Read)?;
    let v = &session.manifest;
    super::session::check_item(v, item)?;
    let stream = if stderr {
        LogStream::Stderr
    } else {
        LogStream::Stdout
    };
    let sections = session
        .connect(async |conn| {
            let current = session.look(conn, true).await?.current_executions();
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
                for f in fetch_logs(&conn.client, &e, stream, job)
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

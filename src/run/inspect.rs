//! `status` and `cancel`: the manifest's executions as VIP has them now, and killing them on
//! purpose. `status` reads only (no lock, nothing saved); `cancel` holds the lock and saves.

use std::path::Path;

use crate::error::Error;
use std::collections::HashMap;

use crate::report::cancel::Cancelled;
use crate::report::status::{Row, Status};

use super::Settings;
use super::access::explain_error;
use super::interrupt::Interrupt;
use super::lock::RunLock;
use super::runner::Runner;
use super::session::{open, with_connection};
use super::state::Attempt;

/// `status MANIFEST`, refreshed from VIP.
pub async fn status(settings: &Settings, path: &Path) -> Result<Status, Error> {
    let (v, paths) = open(settings, path, false)?;
    let current = with_connection(settings, Some(&v), async |conn| {
        let mut runner = Runner::read_only(&v, conn, paths)?;
        runner.prepare().await.map_err(|e| explain_error(e, conn))?;
        runner.refresh().await?;
        let home: HashMap<String, bool> = v
            .items
            .iter()
            .filter_map(|i| runner.home(i).map(|h| (i.key.clone(), h)))
            .collect();
        Ok((runner.current_executions(), home))
    })
    .await?;
    let (current, home) = current;
    let by_key: HashMap<&str, &Attempt> = current.iter().map(|(k, a)| (k.as_str(), a)).collect();
    let rows = v
        .items
        .iter()
        .map(|item| {
            let a = by_key.get(item.key.as_str());
            Row {
                item: item.key.clone(),
                execution_name: a.map_or_else(|| item.execution_name.clone(), |a| a.name.clone()),
                execution: a.map(|a| a.execution_id.clone()),
                status: a.map(|a| a.status.clone()),
                timed_out: a.is_some_and(|a| a.timed_out),
                launched_at: a.map(|a| a.launched_at),
                home: home.get(&item.key).copied(),
            }
        })
        .collect();
    Ok(Status { rows })
}

/// `cancel MANIFEST [--item KEY]`: kills the manifest's queued and running executions.
pub async fn cancel(
    settings: &Settings,
    path: &Path,
    item: Option<&str>,
) -> Result<Cancelled, Error> {
    let (v, paths) = open(settings, path, false)?;
    super::session::check_item(&v, item)?;
    let killed = with_connection(settings, Some(&v), async |conn| {
        let _lock = RunLock::acquire(&paths.lock, settings.state.lock_wait)?;
        let mut reporter = settings.reporter(v.items.len());
        let mut runner =
            Runner::tending(&v, conn, paths, &mut reporter, Interrupt::default(), None)?;
        runner.prepare().await.map_err(|e| explain_error(e, conn))?;
        runner.refresh().await?;
        let killed = runner.cancel(item).await?;
        let not_launched: Vec<String> = v
            .items
            .iter()
            .filter(|i| item.is_none_or(|k| k == i.key))
            .filter(|i| {
                runner
                    .state()
                    .items()
                    .get(&i.key)
                    .is_none_or(|s| s.attempts.is_empty())
            })
            .map(|i| i.key.clone())
            .collect();
        Ok((killed, not_launched))
    })
    .await?;
    let (killed, not_launched) = killed;
    Ok(Cancelled {
        manifest: v.file.display.clone(),
        killed,
        not_launched,
    })
}

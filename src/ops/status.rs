//! `status`: the manifest's executions as VIP has them now. It reads only: no lock, nothing
//! saved.

use std::collections::HashMap;
use std::path::Path;

use crate::error::Error;
use crate::report::status::{Row, Status};

use super::Settings;
use super::session::{Access, Session};
use super::state::Attempt;

/// `status MANIFEST`, refreshed from VIP.
pub async fn status(settings: &Settings, path: &Path) -> Result<Status, Error> {
    let session = Session::open(settings, path, Access::Read)?;
    let v = &session.manifest;
    let current = session
        .connect(async |conn| {
            let tracker = session.look(conn, true).await?;
            let home: HashMap<String, bool> = v
                .items
                .iter()
                .filter_map(|i| tracker.home(i).map(|h| (i.key.clone(), h)))
                .collect();
            let notes: HashMap<String, (Option<String>, Option<&str>)> = v
                .items
                .iter()
                .map(|i| {
                    (
                        i.key.clone(),
                        (tracker.retry_note(&i.key), tracker.not_retried(&i.key)),
                    )
                })
                .collect();
            let notes: HashMap<String, (Option<String>, Option<String>)> = notes
                .into_iter()
                .map(|(k, (r, n))| (k, (r, n.map(str::to_owned))))
                .collect();
            Ok((tracker.current_executions(), home, notes))
        })
        .await?;
    let (current, home, mut notes) = current;
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
                failure: a.and_then(|a| a.failure.clone()),
                retried: notes.get_mut(&item.key).and_then(|n| n.0.take()),
                not_retried: notes.get_mut(&item.key).and_then(|n| n.1.take()),
                observed: a.map(|a| super::report::batch_attempt(a, 0)),
            }
        })
        .collect();
    Ok(Status { rows })
}

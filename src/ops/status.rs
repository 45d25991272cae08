//! `status`: the manifest's executions as VIP has them now; over several manifests, one
//! line each, as `recipes` shows them. It reads only: no lock, nothing saved.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::report::recipes::{Counts, Line, State};
use crate::report::status::{Row, Status};

use super::Settings;
use super::registry::recipe;
use super::session::{Access, Session};
use super::state::Attempt;

/// `status MANIFEST`, refreshed from VIP.
pub async fn status(settings: &Settings, path: &Path) -> Result<Status, Error> {
    Ok(read(settings, path).await?.1)
}

/// `status MANIFEST…` over several manifests: one line each, as `recipes` shows them (the
/// last run this machine recorded, and the state it is in), with the items counted as VIP
/// has them now; and whether any item's execution failed.
pub async fn status_lines(
    settings: &Settings,
    paths: &[PathBuf],
) -> Result<Vec<(Line, bool)>, Error> {
    let mut lines = Vec::new();
    for path in paths {
        let (name, status) = read(settings, path).await?;
        let counts = Counts::of_rows(&status.rows);
        let recorded = settings.registry.as_ref().and_then(|r| {
            let manifest = recipe::absolute(path);
            r.recipe(&manifest)
                .map(|record| record.line(r.recipe_running(&manifest)))
        });
        let line = Line {
            manifest: path.display().to_string(),
            counts: Some(counts),
            ..recorded.unwrap_or(Line {
                name,
                manifest: String::new(),
                state: State::NotRecorded,
                server: None,
                pipeline: None,
                started: None,
                ended: None,
                exit_code: None,
                counts: None,
            })
        };
        lines.push((line, status.any_failed()));
    }
    Ok(lines)
}

/// The manifest's name, and its status refreshed from VIP.
async fn read(settings: &Settings, path: &Path) -> Result<(String, Status), Error> {
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
    Ok((v.name.clone(), Status { rows }))
}

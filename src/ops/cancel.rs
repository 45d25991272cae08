//! `cancel`: kills the manifest's queued and running executions on purpose, under the
//! manifest's lock, and saves what it did.

use std::path::Path;

use crate::error::Error;
use crate::report::cancel::Cancelled;

use super::Settings;
use super::access::explain_error;
use super::runner::Tracker;
use super::runner::sink::Sink;
use super::session::{Access, Session, check_item};

/// `cancel MANIFEST [--item KEY]`: kills the manifest's queued and running executions.
pub async fn cancel(
    settings: &Settings,
    path: &Path,
    item: Option<&str>,
) -> Result<Cancelled, Error> {
    let session = Session::open(settings, path, Access::Exclusive)?;
    let v = &session.manifest;
    check_item(v, item)?;
    let killed = session
        .connect(async |conn| {
            let mut reporter = settings.reporter(v.items.len());
            let paths = session.paths.clone();
            let mut sink = Sink::to(&mut reporter);
            let mut tracker = Tracker::tend(v, conn, paths)?;
            tracker
                .prepare(&mut sink)
                .await
                .map_err(|e| explain_error(e, conn))?;
            tracker.refresh(&mut sink).await?;
            let killed = tracker.cancel(&mut sink, item).await?;
            let not_launched: Vec<String> = v
                .items
                .iter()
                .filter(|i| item.is_none_or(|k| k == i.key))
                .filter(|i| {
                    tracker
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

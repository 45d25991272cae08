//! `download`: the outputs of a manifest's finished items, under the manifest's lock; it
//! launches nothing and waits for nothing, and leaves a summary, the run record and (with
//! `--junit`) a report, as `run` does.

use std::path::Path;

use crate::error::Error;
use crate::report::summary::Finished;

use super::Settings;
use super::access::explain;
use super::interrupt::Interrupt;
use super::runner::Runner;
use super::session::{Access, Session};

/// `download MANIFEST`: the outputs of finished items only; waits for nothing.
pub async fn download(settings: &Settings, path: &Path) -> Result<Finished, Error> {
    let session = Session::open(settings, path, Access::Record)?;
    let (v, paths) = (&session.manifest, &session.paths);
    let ended = session
        .connect(async |conn| {
            super::disk::check_before(v, &paths.dir, settings.sandbox())?;
            let platform = conn.client.platform().await.map_err(|e| explain(e, conn))?;
            let interrupt = Interrupt::on_ctrl_c();
            let mut reporter = settings.reporter(v.items.len());
            let runner = Runner::tending(
                v,
                conn,
                paths.clone(),
                &mut reporter,
                interrupt,
                platform.max_size_direct_transfer,
            )?;
            let summary = runner.drive(false).await?;
            reporter.finish();
            super::finish::finish(&session, "download", conn, summary)
        })
        .await;
    super::finish::or_skip(&session, "download", ended)
}

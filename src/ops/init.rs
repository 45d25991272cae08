//! `init`: a starter manifest for a pipeline, from what the key gives access to (the caller's
//! groups, the pipeline and its descriptor), written to the file asked for or handed back for
//! stdout. The text is `report::init`'s.

use std::path::Path;

use crate::error::Error;
use crate::files::write_atomically;
use crate::report::init::{Starter, starter};

use super::Settings;
use super::access::explain;
use super::pipeline::{check_id_shape, fetch};
use super::session::with_connection;

/// `init ID [--output-file FILE [--force]]`: the starter manifest for pipeline `id`, written
/// to `file` when given (atomically). An existing `file` is refused without `force`, and a
/// malformed id refused, before any call to VIP.
pub async fn init(
    settings: &Settings,
    id: &str,
    file: Option<&Path>,
    force: bool,
) -> Result<Starter, Error> {
    if let Some(path) = file.filter(|p| p.exists() && !force) {
        return Err(Error::Usage(format!(
            "{} exists; add --force to replace it",
            path.display()
        )));
    }
    check_id_shape(id)?;
    let (groups, pipeline, descriptor) = with_connection(settings, None, async |conn| {
        let groups = conn.client.groups().await.map_err(|e| explain(e, conn))?;
        let (pipeline, descriptor) = fetch(conn, id).await?;
        Ok((groups, pipeline, descriptor))
    })
    .await?;
    let text = starter(&pipeline, &descriptor, &groups);
    if let Some(path) = file {
        write_atomically(path, text.as_bytes())?;
    }
    Ok(Starter {
        text,
        file: file.map(Path::to_path_buf),
    })
}

//! `init`: what a starter manifest for a pipeline needs (the caller's groups, the pipeline and
//! its descriptor), and writing it. The text is `report::init`'s.

use std::path::Path;

use crate::error::Error;
use crate::files::write_atomically;
use crate::vip::wire::{Descriptor, Pipeline};

use super::Settings;
use super::access::explain;
use super::pipeline::{check_id_shape, fetch};
use super::session::with_connection;

/// What `init` needs: the caller's groups, the pipeline and its descriptor.
pub async fn starter_inputs(
    settings: &Settings,
    id: &str,
) -> Result<(Vec<String>, Pipeline, Descriptor), Error> {
    check_id_shape(id)?;
    with_connection(settings, None, async |conn| {
        let groups = conn.client.groups().await.map_err(|e| explain(e, conn))?;
        let (pipeline, descriptor) = fetch(conn, id).await?;
        Ok((groups, pipeline, descriptor))
    })
    .await
}

/// Writes a starter manifest to `path`, atomically.
pub fn write_starter(path: &Path, text: &str) -> Result<(), Error> {
    Ok(write_atomically(path, text.as_bytes())?)
}

/// Refuses early to overwrite `path` without `force` (before any call to VIP).
pub fn check_starter_target(path: Option<&Path>, force: bool) -> Result<(), Error> {
    match path {
        Some(p) if p.exists() && !force => Err(Error::Usage(format!(
            "{} exists; add --force to replace it",
            p.display()
        ))),
        _ => Ok(()),
    }
}

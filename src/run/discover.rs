//! `whoami`, `pipelines`, `pipeline` and `init`: what the key gives access to, fetched with
//! VIP's refusals turned into errors users understand. Rendering is `report`'s.

use std::path::Path;

use crate::error::Error;
use crate::files::write_atomically;
use crate::manifest::suggest;
use crate::report::whoami::Identity;
use crate::vip::wire::{Descriptor, Pipeline};
use crate::vip::{Meaning, VipError};

use super::access::explain;
use super::session::with_connection;
use super::{Connection, Settings};

/// `whoami`: checks the key and lists the caller's groups.
pub async fn whoami(settings: &Settings) -> Result<Identity, Error> {
    with_connection(settings, None, async |conn| {
        let mut groups = conn.client.groups().await.map_err(|e| explain(e, conn))?;
        let pipelines = conn
            .client
            .pipelines()
            .await
            .map_err(|e| explain(e, conn))?;
        groups.sort();
        Ok(Identity {
            server: conn.server.clone(),
            key_source: conn.key_source.clone(),
            groups,
            pipelines: pipelines.len(),
        })
    })
    .await
}

/// `pipelines [QUERY]`: the pipelines the caller can run whose id contains `query`, sorted.
pub async fn pipelines(settings: &Settings, query: Option<&str>) -> Result<Vec<Pipeline>, Error> {
    let mut list = with_connection(settings, None, async |conn| {
        conn.client.pipelines().await.map_err(|e| explain(e, conn))
    })
    .await?;
    if let Some(q) = query {
        let q = q.to_lowercase();
        list.retain(|p| p.identifier.to_lowercase().contains(&q));
    }
    list.sort_by(|a, b| a.identifier.cmp(&b.identifier));
    Ok(list)
}

/// Refuses a malformed pipeline id before any call to VIP (the key is not even read).
fn check_id_shape(id: &str) -> Result<(), Error> {
    match crate::vip::rules::pipeline_id_problem(id) {
        Some(problem) => Err(Error::Usage(format!(
            "`{id}`: {problem}; `vip-run pipelines` lists the ids you can run"
        ))),
        None => Ok(()),
    }
}

/// `pipeline ID`: the pipeline and its Boutiques descriptor.
pub async fn pipeline(settings: &Settings, id: &str) -> Result<(Pipeline, Descriptor), Error> {
    check_id_shape(id)?;
    with_connection(settings, None, async |conn| fetch(conn, id).await).await
}

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

/// Fetches a pipeline and its descriptor, turning VIP's refusals into plain errors.
async fn fetch(conn: &Connection, id: &str) -> Result<(Pipeline, Descriptor), Error> {
    let pipeline = match conn.client.pipeline(id).await {
        Ok(p) => p,
        Err(e) => return Err(pipeline_error(e, conn, id).await),
    };
    let descriptor = conn.client.descriptor(id).await.map_err(Error::Vip)?;
    Ok((pipeline, descriptor))
}

async fn pipeline_error(e: VipError, conn: &Connection, id: &str) -> Error {
    match e.meaning() {
        Meaning::NotInGroup => Error::Access {
            message: format!(
                "you are not a member of the application group that gives access to {id}"
            ),
            help: Some("join it in the VIP portal (My Account → Groups)".into()),
        },
        Meaning::UnknownPipeline | Meaning::InvalidPipelineId => {
            let known = conn.client.pipelines().await.unwrap_or_default();
            let close = suggest::closest(id, known.iter().map(|p| p.identifier.as_str()), 3);
            Error::Usage(if close.is_empty() {
                format!(
                    "pipeline `{id}` does not exist on {} or is not available to you; `vip-run pipelines` lists the ones you can run",
                    conn.server
                )
            } else {
                format!(
                    "pipeline `{id}` does not exist on {} or is not available to you; did you mean {}?",
                    conn.server,
                    close
                        .iter()
                        .map(|c| format!("`{c}`"))
                        .collect::<Vec<_>>()
                        .join(" or ")
                )
            })
        }
        Meaning::Other if matches!(e, VipError::Config(_)) => Error::Usage(e.to_string()),
        _ => explain(e, conn),
    }
}

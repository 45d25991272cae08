//! `pipeline ID`: a pipeline and its Boutiques descriptor, fetched with VIP's refusals (no such
//! pipeline, not in its group) turned into errors users understand; `init` fetches the same
//! way. Rendering is `report::pipeline`'s.

use crate::error::Error;
use crate::manifest::suggest;
use crate::vip::wire::{Descriptor, Pipeline};
use crate::vip::{Meaning, VipError};

use super::access::explain;
use super::session::with_connection;
use super::{Connection, Settings};

/// Refuses a malformed pipeline id before any call to VIP (the key is not even read).
pub(super) fn check_id_shape(id: &str) -> Result<(), Error> {
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

/// Fetches a pipeline and its descriptor, turning VIP's refusals into plain errors.
pub(super) async fn fetch(conn: &Connection, id: &str) -> Result<(Pipeline, Descriptor), Error> {
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

//! `/pipelines…`: the catalogue as each caller may see it, one pipeline by path or by query,
//! and its Boutiques descriptor (docs/vip.md#pipelines), with VIP's errors for unknown, hidden
//! and forbidden pipelines.

use axum::http::Method;

use super::{Outcome, Query, json, method_not_allowed, url_decode};
use crate::sandbox::errors::ApiError;
use crate::sandbox::world::{PipelineDef, World};

/// Routes `/pipelines/{rest…}`; `user` is `None` only on the public listing.
pub(super) fn route(
    world: &World,
    user: Option<usize>,
    rest: &[&str],
    method: &Method,
    query: &Query,
    raw_query: Option<&str>,
) -> Outcome {
    let me = user.unwrap_or(usize::MAX);
    match rest {
        [] if *method == Method::GET => pipelines(world, user, query, raw_query),
        id @ [_, ..] if *method == Method::GET => {
            let id = url_decode(&id.join("/")).ok_or_else(ApiError::generic)?;
            let pipeline = find_pipeline(world, me, &id)?;
            if query.get("format") == Some("boutiques") {
                Ok(json(&pipeline.descriptor))
            } else {
                Ok(json(&pipeline.detail(&id)))
            }
        }
        _ => Err(method_not_allowed()),
    }
}

fn pipelines(
    world: &World,
    user: Option<usize>,
    query: &Query,
    raw_query: Option<&str>,
) -> Outcome {
    if raw_query == Some("public") {
        let list: Vec<_> = world
            .pipelines
            .iter()
            .filter(|p| p.visible && p.groups.iter().any(|g| world.is_public(g)))
            .map(PipelineDef::summary)
            .collect();
        return Ok(json(&list));
    }
    let me = user.ok_or_else(ApiError::insufficient_auth)?;
    if let Some(id) = query.get("pipelineId") {
        let id = url_decode(id).ok_or_else(ApiError::generic)?;
        // The query form always answers the Pipeline, even with `format=boutiques`.
        return Ok(json(&find_pipeline(world, me, &id)?.detail(&id)));
    }
    let user = &world.users[me];
    let list: Vec<_> = world
        .pipelines
        .iter()
        .filter(|p| p.visible && world.may_use(user, p))
        .map(PipelineDef::summary)
        .collect();
    Ok(json(&list))
}

/// 8005 without a `/`, 8007 unknown or hidden, 8008 not in the application group.
fn find_pipeline<'w>(world: &'w World, me: usize, id: &str) -> Result<&'w PipelineDef, ApiError> {
    if !id.contains('/') {
        return Err(ApiError::coded(8005, &[id]));
    }
    let pipeline = world
        .pipeline(id)
        .filter(|p| p.visible)
        .ok_or_else(|| ApiError::coded(8007, &[id]))?;
    if !world.may_use(&world.users[me], pipeline) {
        return Err(ApiError::coded(8008, &[id]));
    }
    Ok(pipeline)
}

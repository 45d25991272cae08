//! `/executions…`: launching, listing, reading, renaming, killing and deleting executions, and
//! their logs and results, as VIP routes them (docs/vip.md#execution, #executions, #reconcile).
//! What an execution is and how it moves lives in the scheduler; this is only its HTTP face.

use std::time::Instant;

use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use axum::response::IntoResponse;

use super::{Outcome, Query, json, json_body, lock, method_not_allowed, text};
use crate::sandbox::Shared;
use crate::sandbox::data::DataTree;
use crate::sandbox::errors::{ApiError, NAME_CAUSE};
use crate::sandbox::failures::{FailureKind, Injection};
use crate::sandbox::log::Incoming;
use crate::sandbox::submit::{self, Load};
use crate::vip::rules;
use crate::vip::wire::{DeleteExecution, PathProperties};

/// VIP's cap on `GET /executions?limit=`.
const LIST_CAP: i64 = 500;

/// Routes `/executions/{rest…}`.
pub(super) async fn route(
    shared: &Shared,
    me: usize,
    rest: &[&str],
    parts: &Parts,
    query: &Query,
    incoming: &mut Incoming,
    injected: &mut Option<Injection>,
) -> Outcome {
    let world = &shared.world;
    let method = &parts.method;
    match rest {
        [] => match *method {
            Method::GET => list_executions(shared, me, query),
            Method::POST => create_execution(shared, me, parts, incoming, injected).await,
            _ => Err(method_not_allowed()),
        },
        ["count"] => {
            if *method != Method::GET {
                return Err(method_not_allowed());
            }
            if query.has("studyIdentifier") {
                return Err(ApiError::generic());
            }
            Ok(text(lock(&shared.scheduler).count(me).to_string()))
        }
        [id] => match *method {
            // The route has no method restriction: DELETE is served as a GET.
            Method::GET | Method::DELETE => {
                let scheduler = lock(&shared.scheduler);
                let index = scheduler.find(id, me)?;
                Ok(json(&scheduler.execution(index, world, Instant::now())))
            }
            Method::PUT => rename_execution(shared, me, id, parts, incoming).await,
            _ => Err(method_not_allowed()),
        },
        [id, "results"] if *method == Method::GET => {
            let scheduler = lock(&shared.scheduler);
            let index = scheduler.find(id, me)?;
            let user = &world.users[me];
            let results: Vec<_> = scheduler
                .returned_paths(index)
                .iter()
                .map(|p| match shared.data.locate(me, user, p) {
                    Ok(located) => DataTree::properties(&located, user),
                    Err(_) => PathProperties::missing(p),
                })
                .collect();
            Ok(json(&results))
        }
        [id, stream @ ("stdout" | "stderr")] if *method == Method::GET => {
            let scheduler = lock(&shared.scheduler);
            let index = scheduler.find(id, me)?;
            Ok(text(scheduler.log(
                index,
                world,
                Instant::now(),
                *stream == "stderr",
            )?))
        }
        [id, "jobs", job, stream @ ("stdout" | "stderr")] if *method == Method::GET => {
            let job: u64 = job
                .parse()
                .map_err(|_| ApiError::spring(StatusCode::BAD_REQUEST))?;
            let scheduler = lock(&shared.scheduler);
            let index = scheduler.find(id, me)?;
            Ok(text(scheduler.job_log(
                index,
                job,
                world,
                Instant::now(),
                *stream == "stderr",
            )?))
        }
        [id, "kill"] if *method == Method::PUT => {
            let mut scheduler = lock(&shared.scheduler);
            let index = scheduler.find(id, me)?;
            scheduler.kill(index, world, &shared.data, Instant::now());
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        [id, "delete"] if *method == Method::PUT => {
            let bytes = json_body(parts, incoming).await?;
            let body: DeleteExecution = serde_json::from_slice(&bytes)
                .map_err(|_| ApiError::spring(StatusCode::BAD_REQUEST))?;
            let delete_files = body
                .delete_files
                .ok_or_else(|| ApiError::null_field("deleteFiles"))?;
            let mut scheduler = lock(&shared.scheduler);
            let index = scheduler.find(id, me)?;
            scheduler.delete(index, delete_files, world, &shared.data)?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        [_, "play"] if *method == Method::PUT => Err(ApiError::coded(8001, &["playExecution"])),
        _ => Err(ApiError::spring(
            if matches!(
                rest.get(1),
                Some(&("results" | "stdout" | "stderr" | "kill" | "delete" | "play" | "jobs"))
            ) {
                StatusCode::METHOD_NOT_ALLOWED
            } else {
                StatusCode::NOT_FOUND
            },
        )),
    }
}

fn list_executions(shared: &Shared, me: usize, query: &Query) -> Outcome {
    if query.has("offset") || query.has("studyIdentifier") {
        return Err(ApiError::generic());
    }
    let limit = match query.get("limit") {
        None => LIST_CAP,
        Some(v) => v
            .trim()
            .parse::<i64>()
            .map_err(|_| ApiError::spring(StatusCode::BAD_REQUEST))?,
    };
    if !(0..=LIST_CAP).contains(&limit) {
        return Err(ApiError::generic());
    }
    let limit = usize::try_from(limit).unwrap_or(0);
    let listed = lock(&shared.scheduler).list(me, limit, &shared.world);
    let extra = lock(&shared.extra_listed).clone();
    if extra.is_empty() {
        return Ok(json(&listed));
    }
    let mut entries = extra;
    entries.extend(
        listed
            .iter()
            .map(|e| serde_json::to_value(e).expect("executions serialise")),
    );
    entries.truncate(limit);
    Ok(json(&entries))
}

/// `POST /executions`: VIP's checks, then the engine, which may refuse the launch
/// (`saturated`, `engine_error`: drawn for every POST, applied only to a launch that passed
/// the checks, since VIP reaches its engine last), then the run, with any failure it carries.
async fn create_execution(
    shared: &Shared,
    me: usize,
    parts: &Parts,
    incoming: &mut Incoming,
    injected: &mut Option<Injection>,
) -> Outcome {
    let signal = lock(&shared.signals).launch();
    let bytes = json_body(parts, incoming).await?;
    let parsed = submit::parse_body(&bytes)?;
    let world = &shared.world;
    let mut scheduler = lock(&shared.scheduler);
    let now = Instant::now();
    scheduler.advance(now, world, &shared.data);
    let (platform, user) = scheduler.load(me);
    let load = Load {
        platform,
        platform_max: scheduler.platform_max(),
        user,
        user_quota: scheduler.quota_of(world, me),
    };
    let launch = submit::check(world, &shared.data, me, parsed, load)?;
    if let Some(kind) = scheduler.refusal(&launch, world).or(signal) {
        *injected = Some(Injection {
            at_request: 0,
            kind,
            execution_id: None,
            name: Some(launch.name),
            path: None,
            output: None,
            jobs: Vec::new(),
        });
        return Err(if kind == FailureKind::Saturated {
            ApiError::saturated()
        } else {
            ApiError::engine_error()
        });
    }
    let index = scheduler.create(launch, me, world, now);
    *injected = scheduler.injection(index);
    Ok(json(&scheduler.execution(index, world, now)))
}

async fn rename_execution(
    shared: &Shared,
    me: usize,
    id: &str,
    parts: &Parts,
    incoming: &mut Incoming,
) -> Outcome {
    // No body at all: VIP's controller answers 400/8000 (Spring's 415 comes only when a
    // body of another type is sent).
    let bytes = if super::is_json(&parts.headers) {
        json_body(parts, incoming).await?
    } else {
        let bytes = incoming
            .read_all(super::JSON_CAP)
            .await
            .map_err(|_| ApiError::spring(StatusCode::BAD_REQUEST))?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::generic());
        }
        return Err(ApiError::spring(StatusCode::UNSUPPORTED_MEDIA_TYPE));
    };
    let (name, _, _, _) = submit::parse_body(&bytes)?;
    let timeout = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|v| v.get("timeout").and_then(serde_json::Value::as_f64))
        .unwrap_or(0.0);
    let world = &shared.world;
    let mut scheduler = lock(&shared.scheduler);
    let index = scheduler.find(id, me)?;
    if timeout > 0.0 {
        return Err(ApiError::generic());
    }
    if !rules::is_valid_execution_name(&name) {
        return Err(ApiError::coded(8019, &[NAME_CAUSE]));
    }
    scheduler.rename(index, name);
    Ok(json(&scheduler.execution(index, world, Instant::now())))
}

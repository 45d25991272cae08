//! `/path/…`: the data namespace over HTTP (docs/vip.md#data): existence, properties,
//! listings, streamed downloads (after the grid's staging delay), raw and base64 uploads,
//! and queued deletions. Who may touch which path is decided by the data tree.

use axum::body::Body;
use axum::http::request::Parts;
use axum::http::{Method, StatusCode, header};
use axum::response::IntoResponse;
use base64::Engine as _;
use tokio::io::AsyncWriteExt;

use super::{JSON_CAP, Outcome, Query, json, lock, method_not_allowed};
use crate::sandbox::Shared;
use crate::sandbox::data::{self, Area, DataTree};
use crate::sandbox::errors::ApiError;
use crate::sandbox::failures::{FailureKind, Injection};
use crate::sandbox::log::{Incoming, ReadError};
use crate::vip::rules;
use crate::vip::wire::{Base64Upload, Exists};

/// How long after its "too long" answer a `slow_upload`'s file arrives.
const LATE_ARRIVAL: std::time::Duration = std::time::Duration::from_millis(300);

/// How long VIP waits for grid staging before giving up.
const STAGING_LIMIT: std::time::Duration = std::time::Duration::from_secs(45);

/// Routes `/path{vip}` by method and `action`.
pub(super) async fn route(
    shared: &Shared,
    me: usize,
    vip: &str,
    parts: &Parts,
    query: &Query,
    incoming: &mut Incoming,
    injected: &mut Option<Injection>,
) -> Outcome {
    let world = &shared.world;
    let user = &world.users[me];
    match parts.method {
        Method::GET => {
            let action = query.get("action");
            if !matches!(
                action,
                Some("exists" | "properties" | "list" | "content" | "md5")
            ) {
                return Err(ApiError::spring(StatusCode::BAD_REQUEST));
            }
            let located = shared.data.locate(me, user, vip)?;
            match action {
                Some("exists") => Ok(json(&Exists {
                    exists: DataTree::exists(&located),
                })),
                Some("properties") => Ok(json(&DataTree::properties(&located, user))),
                Some("list") => Ok(json(&DataTree::list(&located, user)?)),
                Some("content") => download(shared, &located).await,
                _ => Err(ApiError::generic()),
            }
        }
        Method::PUT => upload(shared, me, vip, parts, incoming, injected).await,
        Method::DELETE => {
            let located = shared.data.locate_writable(me, user, vip)?;
            if !DataTree::exists(&located) {
                return Err(ApiError::generic());
            }
            let Some(path) = located.fs else {
                return Err(ApiError::coded(8013, &[vip]));
            };
            let delay = world.data.delete_delay;
            if delay.is_zero() {
                remove(&path).map_err(|_| ApiError::generic())?;
            } else {
                // VIP answers once the deletion is queued; the path lingers meanwhile.
                tokio::spawn(async move {
                    tokio::time::sleep(delay).await;
                    let _ = remove(&path);
                });
            }
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        _ => Err(method_not_allowed()),
    }
}

fn remove(path: &std::path::Path) -> std::io::Result<()> {
    if std::fs::symlink_metadata(path)?.is_dir() {
        std::fs::remove_dir_all(path)
    } else {
        std::fs::remove_file(path)
    }
}

async fn download(shared: &Shared, located: &data::Located) -> Outcome {
    let staging = shared.world.data.staging_delay;
    if !staging.is_zero() {
        tokio::time::sleep(staging.min(STAGING_LIMIT)).await;
        if staging > STAGING_LIMIT {
            return Err(ApiError::generic());
        }
    }
    let Some(path) = &located.fs else {
        return Err(ApiError::generic());
    };
    let file = tokio::fs::File::open(path)
        .await
        .map_err(|_| ApiError::generic())?;
    let meta = file.metadata().await.map_err(|_| ApiError::generic())?;
    if !meta.is_file() || meta.len() > shared.config.max_size_direct_transfer {
        return Err(ApiError::generic());
    }
    let body = Body::from_stream(tokio_util::io::ReaderStream::with_capacity(
        file,
        256 * 1024,
    ));
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
            (header::CONTENT_LENGTH, meta.len().to_string()),
        ],
        body,
    )
        .into_response())
}

static NEXT_UPLOAD: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// `PUT /path/…`: raw bytes streamed to disk (an empty body makes a directory), or a base64
/// `File` in `application/carmin+json`. The last segment is sanitised (docs/vip.md#sanitising).
/// A raw upload that brought bytes draws `slow_upload`: answered "too long" at once, its
/// file arrives, whole, [`LATE_ARRIVAL`] later (docs/vip.md#upload).
async fn upload(
    shared: &Shared,
    me: usize,
    vip: &str,
    parts: &Parts,
    incoming: &mut Incoming,
    injected: &mut Option<Injection>,
) -> Outcome {
    let user = &shared.world.users[me];
    let data = &shared.data;
    let segments = data::normalise(vip).ok_or_else(|| ApiError::coded(8013, &[vip]))?;
    data.locate_writable(me, user, vip)?;
    let (last, parents) = segments
        .split_last()
        .ok_or_else(|| ApiError::coded(8013, &[vip]))?;
    let name = rules::sanitize_upload_name(last);
    if name.is_empty() || name == "." || name == ".." {
        return Err(ApiError::generic());
    }
    let parent_vip = format!("/{}", parents.join("/"));
    let target = data.locate_writable(me, user, &format!("{parent_vip}/{name}"))?;
    let parent = data.locate(me, user, &parent_vip)?;
    let (Some(target_fs), Some(parent_fs)) = (target.fs, parent.fs) else {
        return Err(ApiError::coded(8013, &[vip]));
    };
    if parent.area == Area::Root || !parent_fs.is_dir() {
        return Err(ApiError::generic());
    }
    let carmin_json = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.to_ascii_lowercase()
                .starts_with("application/carmin+json")
        });
    if carmin_json {
        let bytes = incoming
            .read_all(JSON_CAP)
            .await
            .map_err(|_| ApiError::spring(StatusCode::BAD_REQUEST))?;
        let body: Base64Upload = serde_json::from_slice(&bytes)
            .map_err(|_| ApiError::spring(StatusCode::BAD_REQUEST))?;
        let kind = body.kind.ok_or_else(ApiError::internal)?;
        if !kind.eq_ignore_ascii_case("File") {
            return Err(ApiError::generic());
        }
        let content = body.base64_content.ok_or_else(ApiError::internal)?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(content.trim())
            .map_err(|_| ApiError::generic())?;
        if target_fs.is_dir() {
            return Err(ApiError::generic());
        }
        tokio::fs::write(&target_fs, bytes)
            .await
            .map_err(|_| ApiError::generic())?;
        return Ok(StatusCode::CREATED.into_response());
    }
    // Raw: stream into a hidden file next to the target, then rename.
    let temp = parent_fs.join(format!(
        ".vip-run-upload-{}-{}",
        std::process::id(),
        NEXT_UPLOAD.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    let written = stream_to(&temp, incoming).await;
    let outcome = match written {
        Ok(0) => {
            let _ = tokio::fs::remove_file(&temp).await;
            // Mkdir on an existing directory is open on VIP (docs/vip.md#data): accepted here.
            if target_fs.is_dir() {
                Ok(())
            } else {
                tokio::fs::create_dir(&target_fs).await.map_err(|_| ())
            }
        }
        Ok(_) if target_fs.is_dir() => Err(()),
        Ok(_) if lock(&shared.signals).upload() => {
            // The transfer goes on behind VIP's answer: the file lands a little later.
            tokio::spawn(async move {
                tokio::time::sleep(LATE_ARRIVAL).await;
                let _ = tokio::fs::rename(&temp, &target_fs).await;
            });
            *injected = Some(Injection {
                at_request: 0,
                kind: FailureKind::SlowUpload,
                execution_id: None,
                name: None,
                path: Some(target.vip),
                output: None,
                jobs: Vec::new(),
            });
            return Err(ApiError::too_long());
        }
        Ok(_) => tokio::fs::rename(&temp, &target_fs).await.map_err(|_| ()),
        Err(()) => Err(()),
    };
    if outcome.is_err() {
        let _ = tokio::fs::remove_file(&temp).await;
        return Err(ApiError::generic());
    }
    Ok(StatusCode::CREATED.into_response())
}

async fn stream_to(path: &std::path::Path, incoming: &mut Incoming) -> Result<u64, ()> {
    let mut file = tokio::fs::File::create(path).await.map_err(|_| ())?;
    let mut total = 0u64;
    while let Some(chunk) = incoming.chunk().await {
        let chunk = chunk.map_err(|_: ReadError| ())?;
        file.write_all(&chunk).await.map_err(|_| ())?;
        total += chunk.len() as u64;
    }
    file.flush().await.map_err(|_| ())?;
    Ok(total)
}

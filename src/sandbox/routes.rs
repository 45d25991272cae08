//! The HTTP face of the sandbox: one handler that sees every request raw, the way VIP's
//! stack does (Tomcat refuses encoded slashes, the raw URI is decoded once, the API-key
//! filter runs before routing, Spring answers routing and parsing problems), then routes it
//! to the endpoint of vip-api.md §4. Faults, latency and the request log wrap it all.

use std::fmt::Write as _;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use percent_encoding::percent_decode_str;
use serde::Serialize;
use sha2::Digest as _;
use tokio::io::AsyncWriteExt;

use super::Shared;
use super::data::{self, Area, DataTree};
use super::errors::{ApiError, CODES};
use super::faults::Fault;
use super::log::{self, Incoming, LoggedRequest, ReadError};
use super::net::ConnInfo;
use super::submit::{self, Load};
use super::world::World;
use crate::vip::rules;
use crate::vip::wire::{
    AuthenticateRequest, AuthenticateResponse, Base64Upload, DeleteExecution, ErrorBody, Exists,
    Platform,
};

/// The API's mount point.
const PREFIX: &str = "/rest";

/// The most a JSON body may weigh (base64 uploads included).
const JSON_CAP: usize = 256 * 1024 * 1024;

/// VIP's cap on `GET /executions?limit=`.
const LIST_CAP: i64 = 500;

/// How long VIP waits for grid staging before giving up.
const STAGING_LIMIT: std::time::Duration = std::time::Duration::from_secs(45);

type Outcome = Result<Response, ApiError>;

/// Locks a mutex, surviving a panic elsewhere (a bad request must never stop the server).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new().fallback(handle).with_state(shared)
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(conn): ConnectInfo<ConnInfo>,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let mut incoming = Incoming::new(body);
    let fault = lock(&shared.faults).decide();
    if !shared.config.latency.is_zero() {
        tokio::time::sleep(shared.config.latency).await;
    }
    let response = match fault {
        Fault::None => Some(serve(&shared, &parts, &mut incoming).await),
        Fault::Error(error) => Some(error.into_response()),
        Fault::DropBefore => None,
        Fault::DropAfter => {
            let _ = serve(&shared, &parts, &mut incoming).await;
            None
        }
    };
    incoming.drain().await;
    let (body_len, body_sha256) = incoming.digest();
    lock(&shared.log).push(LoggedRequest {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        headers: log::redacted_headers(&parts.headers),
        body_len,
        body_sha256,
        status: response.as_ref().map_or(0, |r| r.status().as_u16()),
        dropped: response.is_none(),
    });
    if let Some(response) = response {
        response
    } else {
        // The connection can neither read nor write any more: this is never sent.
        conn.kill();
        StatusCode::INTERNAL_SERVER_ERROR.into_response()
    }
}

async fn serve(shared: &Shared, parts: &Parts, incoming: &mut Incoming) -> Response {
    dispatch(shared, parts, incoming)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

/// A parsed query string (`+` is a space in queries, unlike paths).
struct Query(Vec<(String, String)>);

impl Query {
    fn parse(raw: Option<&str>) -> Self {
        let decode = |s: &str| {
            percent_decode_str(&s.replace('+', " "))
                .decode_utf8_lossy()
                .into_owned()
        };
        Self(
            raw.unwrap_or("")
                .split('&')
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let (k, v) = p.split_once('=').unwrap_or((p, ""));
                    (decode(k), decode(v))
                })
                .collect(),
        )
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn has(&self, key: &str) -> bool {
        self.0.iter().any(|(k, _)| k == key)
    }
}

/// Java's `URLDecoder.decode`: VIP's second decoding of pipeline ids.
fn url_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = s.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

fn json<T: Serialize>(value: &T) -> Response {
    axum::Json(value).into_response()
}

fn text(body: String) -> Response {
    ([(header::CONTENT_TYPE, "text/plain;charset=UTF-8")], body).into_response()
}

fn method_not_allowed() -> ApiError {
    ApiError::spring(StatusCode::METHOD_NOT_ALLOWED)
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            let v = v.to_ascii_lowercase();
            v.starts_with("application/json") || v.contains("+json")
        })
}

/// A `@RequestBody`: Spring wants a JSON content type and a non-empty body.
async fn json_body(parts: &Parts, incoming: &mut Incoming) -> Result<Vec<u8>, ApiError> {
    if !is_json(&parts.headers) {
        return Err(ApiError::spring(StatusCode::UNSUPPORTED_MEDIA_TYPE));
    }
    let bytes = incoming
        .read_all(JSON_CAP)
        .await
        .map_err(|_| ApiError::spring(StatusCode::BAD_REQUEST))?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::spring(StatusCode::BAD_REQUEST));
    }
    Ok(bytes)
}

/// The routes that need no key (§2.1).
fn is_public(segments: &[&str], method: &Method, raw_query: Option<&str>) -> bool {
    match segments {
        [
            "platform" | "authenticate" | "session" | "register" | "reset-password"
            | "publications",
            ..,
        ] => true,
        ["pipelines"] => *method == Method::GET && raw_query == Some("public"),
        _ => false,
    }
}

async fn dispatch(shared: &Shared, parts: &Parts, incoming: &mut Incoming) -> Outcome {
    let raw = parts.uri.path();
    let Some(rest) = raw
        .strip_prefix(PREFIX)
        .filter(|r| r.is_empty() || r.starts_with('/'))
    else {
        return Err(ApiError::Page {
            status: StatusCode::NOT_FOUND,
            content_type: "text/html;charset=utf-8",
            body: "<!doctype html><html lang=\"en\"><head><title>HTTP Status 404 \u{2013} Not Found</title></head><body><h1>HTTP Status 404 \u{2013} Not Found</h1></body></html>".into(),
        });
    };
    // Tomcat refuses encoded slashes (and backslashes) before anything else runs.
    let lower = rest.to_ascii_lowercase();
    if lower.contains("%2f") || lower.contains("%5c") {
        return Err(ApiError::tomcat_bad_request());
    }
    let decoded = percent_decode_str(rest)
        .decode_utf8()
        .map_err(|_| ApiError::tomcat_bad_request())?
        .into_owned();
    let segments: Vec<&str> = decoded.split('/').filter(|s| !s.is_empty()).collect();
    let world = &shared.world;

    // The API-key filter: a wrong key fails everywhere, a missing one only where needed.
    let user = match parts.headers.get("apikey") {
        Some(value) if !value.is_empty() => {
            let key = value.to_str().map_err(|_| ApiError::bad_credentials())?;
            Some(
                world
                    .user_by_key(key)
                    .ok_or_else(ApiError::bad_credentials)?,
            )
        }
        _ => None,
    };
    let method = &parts.method;
    let query = Query::parse(parts.uri.query());
    if user.is_none() && !is_public(&segments, method, parts.uri.query()) {
        return Err(ApiError::insufficient_auth());
    }
    if user.is_some() {
        let mut engine = lock(&shared.engine);
        engine.advance(Instant::now(), world, &shared.data);
    }
    let me = user.unwrap_or(usize::MAX);

    match segments.as_slice() {
        ["platform"] => Ok(platform(shared)),
        ["authenticate"] => authenticate(world, parts, incoming, false).await,
        ["session"] => authenticate(world, parts, incoming, true).await,
        ["publications"] if *method == Method::GET => Ok(json(&Vec::<()>::new())),
        // Account creation and password resets are not simulated.
        ["register" | "reset-password"] => Err(ApiError::generic()),
        ["externalPlatforms"] if *method == Method::GET => Ok(json(&external_platforms(world))),
        ["pipelines"] if *method == Method::GET => {
            pipelines(world, user, &query, parts.uri.query())
        }
        ["pipelines", id @ ..] if *method == Method::GET => {
            let id = url_decode(&id.join("/")).ok_or_else(ApiError::generic)?;
            let pipeline = find_pipeline(world, me, &id)?;
            if query.get("format") == Some("boutiques") {
                Ok(json(&pipeline.descriptor))
            } else {
                Ok(json(&pipeline.detail(&id)))
            }
        }
        ["pipelines", ..] => Err(method_not_allowed()),
        ["executions"] => match *method {
            Method::GET => list_executions(shared, me, &query),
            Method::POST => create_execution(shared, me, parts, incoming).await,
            _ => Err(method_not_allowed()),
        },
        ["executions", "count"] => {
            if *method != Method::GET {
                return Err(method_not_allowed());
            }
            if query.has("studyIdentifier") {
                return Err(ApiError::generic());
            }
            Ok(text(lock(&shared.engine).count(me).to_string()))
        }
        ["executions", id] => match *method {
            // The route has no method restriction: DELETE is served as a GET.
            Method::GET | Method::DELETE => {
                let engine = lock(&shared.engine);
                let index = engine.find(id, me)?;
                Ok(json(&engine.execution(index, world, Instant::now())))
            }
            Method::PUT => rename_execution(shared, me, id, parts, incoming).await,
            _ => Err(method_not_allowed()),
        },
        ["executions", id, "results"] if *method == Method::GET => {
            let engine = lock(&shared.engine);
            let index = engine.find(id, me)?;
            let user = &world.users[me];
            let results: Vec<_> = engine
                .returned_paths(index)
                .iter()
                .map(|p| match shared.data.locate(me, user, p) {
                    Ok(located) => DataTree::properties(&located, user),
                    Err(_) => crate::vip::wire::PathProperties::missing(p),
                })
                .collect();
            Ok(json(&results))
        }
        ["executions", id, stream @ ("stdout" | "stderr")] if *method == Method::GET => {
            let engine = lock(&shared.engine);
            let index = engine.find(id, me)?;
            Ok(text(engine.log(
                index,
                world,
                Instant::now(),
                *stream == "stderr",
            )?))
        }
        [
            "executions",
            id,
            "jobs",
            job,
            stream @ ("stdout" | "stderr"),
        ] if *method == Method::GET => {
            let job: u64 = job
                .parse()
                .map_err(|_| ApiError::spring(StatusCode::BAD_REQUEST))?;
            let engine = lock(&shared.engine);
            let index = engine.find(id, me)?;
            Ok(text(engine.job_log(
                index,
                job,
                world,
                Instant::now(),
                *stream == "stderr",
            )?))
        }
        ["executions", id, "kill"] if *method == Method::PUT => {
            let mut engine = lock(&shared.engine);
            let index = engine.find(id, me)?;
            engine.kill(index, world, &shared.data, Instant::now());
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        ["executions", id, "delete"] if *method == Method::PUT => {
            let bytes = json_body(parts, incoming).await?;
            let body: DeleteExecution = serde_json::from_slice(&bytes)
                .map_err(|_| ApiError::spring(StatusCode::BAD_REQUEST))?;
            let delete_files = body
                .delete_files
                .ok_or_else(|| ApiError::null_field("deleteFiles"))?;
            let mut engine = lock(&shared.engine);
            let index = engine.find(id, me)?;
            engine.delete(index, delete_files, world, &shared.data)?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        ["executions", _, "play"] if *method == Method::PUT => {
            Err(ApiError::coded(8001, &["playExecution"]))
        }
        ["executions", ..] => Err(ApiError::spring(
            if matches!(
                segments.get(2),
                Some(&("results" | "stdout" | "stderr" | "kill" | "delete" | "play" | "jobs"))
            ) {
                StatusCode::METHOD_NOT_ALLOWED
            } else {
                StatusCode::NOT_FOUND
            },
        )),
        ["path", ..] => {
            // The VIP path is what follows `/path`, slashes and dots as sent.
            let vip = decoded
                .trim_start_matches('/')
                .strip_prefix("path")
                .unwrap_or("");
            data_route(shared, me, vip, parts, &query, incoming).await
        }
        _ => Err(ApiError::spring(StatusCode::NOT_FOUND)),
    }
}

fn platform(shared: &Shared) -> Response {
    json(&Platform {
        platform_name: Some("VIP".into()),
        api_error_codes_and_messages: CODES
            .iter()
            .map(|(code, template)| ErrorBody {
                error_code: *code,
                error_message: (*template).to_owned(),
            })
            .collect(),
        supported_transfer_protocols: vec!["https".into()],
        supported_modules: vec!["Processing".into(), "Data".into()],
        default_limit_list_executions: Some(500),
        email: Some("vip-support@creatis.insa-lyon.fr".into()),
        platform_description: Some(
            "Virtual Imaging Platform (vip-run sandbox: a local simulator)".into(),
        ),
        min_authorized_execution_timeout: None,
        max_authorized_execution_timeout: None,
        unsupported_methods: vec!["playExecution".into()],
        max_size_direct_transfer: Some(shared.config.max_size_direct_transfer),
        default_study: None,
        supported_api_version: Some("0.3".into()),
        oidc_login_providers: Vec::new(),
    })
}

async fn authenticate(
    world: &World,
    parts: &Parts,
    incoming: &mut Incoming,
    session: bool,
) -> Outcome {
    if parts.method != Method::POST {
        return Err(method_not_allowed());
    }
    let bytes = json_body(parts, incoming).await?;
    let body: AuthenticateRequest =
        serde_json::from_slice(&bytes).map_err(|_| ApiError::spring(StatusCode::BAD_REQUEST))?;
    let username = body
        .username
        .ok_or_else(|| ApiError::null_field("username"))?;
    let password = body
        .password
        .ok_or_else(|| ApiError::null_field("password"))?;
    let user = world
        .users
        .iter()
        .find(|u| u.email == username && u.password == password)
        .ok_or_else(ApiError::wrong_password)?;
    Ok(json(&if session {
        // The portal's cookie session: a token derived from the key, never the key.
        let digest = sha2::Sha256::digest(format!("session:{}", user.api_key).as_bytes());
        AuthenticateResponse {
            http_header: "vip-cookie-session".into(),
            http_header_value: digest.iter().take(16).fold(String::new(), |mut s, b| {
                let _ = write!(s, "{b:02x}");
                s
            }),
        }
    } else {
        AuthenticateResponse {
            http_header: "apikey".into(),
            http_header_value: user.api_key.clone(),
        }
    }))
}

#[derive(Serialize)]
struct ExternalPlatformJson<'a> {
    identifier: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    description: Option<&'a str>,
    url: Option<&'a str>,
}

fn external_platforms(world: &World) -> Vec<ExternalPlatformJson<'_>> {
    world
        .external_platforms
        .iter()
        .map(|p| ExternalPlatformJson {
            identifier: &p.identifier,
            kind: &p.kind,
            description: p.description.as_deref(),
            url: p.url.as_deref(),
        })
        .collect()
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
            .map(super::world::PipelineDef::summary)
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
        .map(super::world::PipelineDef::summary)
        .collect();
    Ok(json(&list))
}

/// 8005 without a `/`, 8007 unknown or hidden, 8008 not in the application group.
fn find_pipeline<'w>(
    world: &'w World,
    me: usize,
    id: &str,
) -> Result<&'w super::world::PipelineDef, ApiError> {
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
    Ok(json(&lock(&shared.engine).list(me, limit, &shared.world)))
}

async fn create_execution(
    shared: &Shared,
    me: usize,
    parts: &Parts,
    incoming: &mut Incoming,
) -> Outcome {
    let bytes = json_body(parts, incoming).await?;
    let parsed = submit::parse_body(&bytes)?;
    let world = &shared.world;
    let mut engine = lock(&shared.engine);
    let now = Instant::now();
    engine.advance(now, world, &shared.data);
    let (platform, user) = engine.load(me);
    let load = Load {
        platform,
        platform_max: engine.platform_max(),
        user,
        user_quota: engine.quota_of(world, me),
    };
    let launch = submit::check(world, &shared.data, me, parsed, load)?;
    let index = engine.create(launch, me, world, now);
    Ok(json(&engine.execution(index, world, now)))
}

async fn rename_execution(
    shared: &Shared,
    me: usize,
    id: &str,
    parts: &Parts,
    incoming: &mut Incoming,
) -> Outcome {
    let bytes = json_body(parts, incoming).await?;
    let (name, _, _, _) = submit::parse_body(&bytes)?;
    let timeout = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|v| v.get("timeout").and_then(serde_json::Value::as_f64))
        .unwrap_or(0.0);
    let world = &shared.world;
    let mut engine = lock(&shared.engine);
    let index = engine.find(id, me)?;
    if timeout > 0.0 {
        return Err(ApiError::generic());
    }
    if !rules::is_valid_execution_name(&name) {
        return Err(ApiError::coded(8019, &[super::errors::NAME_CAUSE]));
    }
    engine.rename(index, name);
    Ok(json(&engine.execution(index, world, Instant::now())))
}

async fn data_route(
    shared: &Shared,
    me: usize,
    vip: &str,
    parts: &Parts,
    query: &Query,
    incoming: &mut Incoming,
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
        Method::PUT => upload(shared, me, vip, parts, incoming).await,
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

/// `PUT /path/…`: raw bytes streamed to disk (an empty body makes a directory), or a
/// base64 `File` in `application/carmin+json`. The last segment is sanitised (§9.2).
async fn upload(
    shared: &Shared,
    me: usize,
    vip: &str,
    parts: &Parts,
    incoming: &mut Incoming,
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
            // Mkdir on an existing directory is open on VIP (§4.7): accepted here.
            if target_fs.is_dir() {
                Ok(())
            } else {
                tokio::fs::create_dir(&target_fs).await.map_err(|_| ())
            }
        }
        Ok(_) if target_fs.is_dir() => Err(()),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipeline_ids_are_decoded_like_javas_urldecoder() {
        assert_eq!(url_decode("a+b%2Fc").unwrap(), "a b/c");
        assert!(url_decode("50%").is_none());
        assert!(url_decode("%zz").is_none());
    }

    #[test]
    fn only_vips_public_routes_skip_the_key() {
        assert!(is_public(&["platform"], &Method::PUT, None));
        assert!(is_public(&["pipelines"], &Method::GET, Some("public")));
        assert!(!is_public(&["pipelines"], &Method::GET, Some("public=1")));
        assert!(!is_public(&["executions"], &Method::GET, None));
    }
}

//! The HTTP face of the sandbox: one handler that sees every request raw, the way VIP's
//! stack does (Tomcat refuses encoded slashes, the raw URI is decoded once, the API-key
//! filter runs before routing, Spring answers routing and parsing problems), then routes it
//! to its endpoint (docs/vip.md#endpoints). Faults, latency and the request log wrap it all;
//! a failure a route injects is recorded with the request's log entry.
//!
//! This file owns that outer layer and the small request and response helpers every route
//! shares; each resource's endpoints live in their own file: `platform` (the routes that
//! need no key), `pipelines`, `executions`, and `namespace` (the data namespace, `/path/…`).

mod executions;
mod namespace;
mod pipelines;
mod platform;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use percent_encoding::percent_decode_str;
use serde::Serialize;

use super::Shared;
use super::errors::ApiError;
use super::failures::Injection;
use super::faults::Fault;
use super::log::{self, Incoming, LoggedRequest};
use super::net::ConnInfo;

/// The API's mount point.
const PREFIX: &str = "/rest";

/// The most a JSON body may weigh (base64 uploads included).
const JSON_CAP: usize = 256 * 1024 * 1024;

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
    let arrived = Instant::now();
    let (parts, body) = request.into_parts();
    let mut incoming = Incoming::new(body, shared.config.digest_bodies);
    let in_flight = InFlight::enter(&shared.in_flight);
    let is_transfer = parts.uri.path().starts_with("/rest/path/")
        && ((parts.method == axum::http::Method::PUT
            && parts
                .headers
                .get(axum::http::header::CONTENT_LENGTH)
                .is_some_and(|l| l.as_bytes() != b"0"))
            || parts.uri.query() == Some("action=content"));
    let transfer = is_transfer.then(|| InFlight::enter(&shared.transfers_in_flight));
    let fault = if shared.in_outage(Instant::now()) {
        lock(&shared.faults).during_outage()
    } else {
        lock(&shared.faults).decide()
    };
    if !shared.config.latency.is_zero() {
        tokio::time::sleep(shared.config.latency).await;
    }
    let mut injected: Option<Injection> = None;
    let response = match fault {
        Fault::None => Some(serve(&shared, &parts, &mut incoming, &mut injected).await),
        Fault::Error(error) => Some(error.into_response()),
        Fault::DropBefore => None,
        Fault::DropAfter => {
            let _ = serve(&shared, &parts, &mut incoming, &mut injected).await;
            None
        }
    };
    incoming.drain().await;
    let (body_len, body_sha256) = incoming.digest();
    let mut log = lock(&shared.log);
    if let Some(injection) = &mut injected {
        injection.at_request = log.len();
    }
    log.push(LoggedRequest {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        headers: log::redacted_headers(&parts.headers),
        body_len,
        body_sha256,
        status: response.as_ref().map_or(0, |r| r.status().as_u16()),
        dropped: response.is_none(),
        in_flight: in_flight.most(),
        transfers_in_flight: transfer.as_ref().map_or(0, InFlight::most),
        handled: arrived.elapsed(),
        injected: injected.as_ref().map(|i| i.kind.to_string()),
    });
    if let Some(injection) = injected {
        lock(&shared.injected).push(injection);
    }
    drop(log);
    drop(transfer);
    drop(in_flight);
    if let Some(response) = response {
        response
    } else {
        // The connection can neither read nor write any more: this is never sent.
        conn.kill();
        StatusCode::INTERNAL_SERVER_ERROR.into_response()
    }
}

/// One request counted in a counter of [`Shared`] (`in_flight`, `transfers_in_flight`)
/// while it is handled; it tells the most seen at once, at its start or at its end.
struct InFlight<'a> {
    count: &'a AtomicUsize,
    at_start: usize,
}

impl<'a> InFlight<'a> {
    fn enter(count: &'a AtomicUsize) -> Self {
        let at_start = count.fetch_add(1, Ordering::SeqCst) + 1;
        Self { count, at_start }
    }

    /// The requests in flight at its start or at its end, whichever is more.
    fn most(&self) -> usize {
        self.at_start.max(self.count.load(Ordering::SeqCst))
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.count.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Answers one request; `injected` receives the failure it injected, if any.
async fn serve(
    shared: &Shared,
    parts: &Parts,
    incoming: &mut Incoming,
    injected: &mut Option<Injection>,
) -> Response {
    dispatch(shared, parts, incoming, injected)
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

/// The routes that need no key (docs/vip.md#auth).
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

async fn dispatch(
    shared: &Shared,
    parts: &Parts,
    incoming: &mut Incoming,
    injected: &mut Option<Injection>,
) -> Outcome {
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
        let mut scheduler = lock(&shared.scheduler);
        scheduler.advance(Instant::now(), world, &shared.data);
    }
    let me = user.unwrap_or(usize::MAX);

    match segments.as_slice() {
        ["platform"] => Ok(platform::platform(shared)),
        ["authenticate"] => platform::authenticate(world, parts, incoming, false).await,
        ["session"] => platform::authenticate(world, parts, incoming, true).await,
        ["publications"] if *method == Method::GET => Ok(json(&Vec::<()>::new())),
        // Account creation and password resets are not simulated.
        ["register" | "reset-password"] => Err(ApiError::generic()),
        ["externalPlatforms"] if *method == Method::GET => {
            Ok(json(&platform::external_platforms(world)))
        }
        ["pipelines", tail @ ..] => {
            pipelines::route(world, user, tail, method, &query, parts.uri.query())
        }
        ["executions", tail @ ..] => {
            executions::route(shared, me, tail, parts, &query, incoming, injected).await
        }
        ["path", ..] => {
            // The VIP path is what follows `/path`, slashes and dots as sent.
            let vip = decoded
                .trim_start_matches('/')
                .strip_prefix("path")
                .unwrap_or("");
            namespace::route(shared, me, vip, parts, &query, incoming, injected).await
        }
        _ => Err(ApiError::spring(StatusCode::NOT_FOUND)),
    }
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

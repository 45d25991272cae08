//! The VIP client: how to reach VIP (its config and the checks on the server URL), and the
//! one place a request is built and its answer turned into a result or a [`VipError`]. The
//! typed methods, one per call of VIP's REST dialect (docs/vip.md), are in the `calls`
//! module; retries are decided in [`super::retry`]; streamed file transfers live in the
//! `transfer` module. Both build on this one, which knows neither.
//!
//! Every call has a connect timeout and a request timeout; downloads get a longer one,
//! because VIP stages files from the grid before the first byte (up to 45 s).
//!
//! Answers are read leniently where VIP (or another CARMIN server) may vary: one entry of
//! `GET /executions` that does not decode is skipped (with a note under `-v`), never fatal.
//! An answer that is not VIP's API at all (an HTML page from a captive portal or a wrong
//! `--server`) names the call and says what came back.
//!
//! The client counts the answers it hears from the server itself (any status below 500), and
//! since when every call has failed ([`super::health`]), so a run can tell an outage from
//! one item's trouble.
//!
//! Every request sent (each retry too) is counted by kind (`GET /executions/{id}`,
//! `PUT /path (upload)`…), so `-v` can say what a run cost.
//!
//! The key travels only in the `apikey` header, marked sensitive; redirects are never
//! followed (so the key cannot be carried to another origin), and plain `http` is refused
//! except to loopback addresses.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::encode;
use super::health::Health;
pub use super::retry::RetryPolicy;
use super::retry::{Class, Retrier};
use super::vip_error::{TransportKind, VipError};

/// VIP's limit on `GET /executions?limit=`.
pub const MAX_LIST_LIMIT: u32 = 500;

/// Told of every chunk of an upload or a download, with its size (for byte progress bars).
pub type OnBytes = std::sync::Arc<dyn Fn(u64) + Send + Sync>;

/// How to reach VIP.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The REST base URL, e.g. `https://vip.creatis.insa-lyon.fr/rest`.
    pub base_url: String,
    /// Time allowed to connect.
    pub connect_timeout: Duration,
    /// Time allowed for a whole call (uploads and downloads excepted).
    pub request_timeout: Duration,
    /// Time allowed between two reads of a transfer (VIP may stage a file for 45 s first).
    pub transfer_read_timeout: Duration,
    /// Retries.
    pub retry: RetryPolicy,
}

impl ClientConfig {
    /// Defaults for `base_url`.
    pub fn new(base_url: &str) -> Self {
        Self {
            base_url: base_url.trim_end_matches('/').to_owned(),
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
            transfer_read_timeout: Duration::from_secs(90),
            retry: RetryPolicy::default(),
        }
    }
}

/// A VIP client for one user.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    /// For uploads and downloads: a read timeout instead of a whole-call one.
    pub(super) transfer: reqwest::Client,
    pub(super) base: String,
    pub(super) key: HeaderValue,
    /// The retry policy, and what every clone heard from the server (see `health`).
    pub(super) retry: Retrier,
    /// Requests sent, by kind, by every clone.
    calls: Arc<std::sync::Mutex<BTreeMap<String, u64>>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base)
            .field("key", &"(redacted)")
            .finish_non_exhaustive()
    }
}

/// Checks a base URL: https, or http to loopback; no credentials, query or fragment.
pub fn check_base_url(url: &str) -> Result<reqwest::Url, VipError> {
    let parsed = reqwest::Url::parse(url)
        .map_err(|e| VipError::Config(format!("`{url}` is not a valid server URL: {e}")))?;
    let host = parsed.host_str().unwrap_or("");
    match parsed.scheme() {
        "https" => {}
        "http" if super::rules::is_loopback_host(host) => {}
        "http" => {
            return Err(VipError::Config(format!(
                "refusing plain http to {host}: the API key travels in every request, use https (http is allowed for loopback test servers only)"
            )));
        }
        other => {
            return Err(VipError::Config(format!(
                "`{url}`: the server URL must be https, not {other}"
            )));
        }
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(VipError::Config(
            "the server URL must not hold credentials; the key is sent in a header".into(),
        ));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(VipError::Config(format!(
            "`{url}`: the server URL must not have a query or fragment"
        )));
    }
    Ok(parsed)
}

/// The variable naming the certificate authorities to trust instead of the system's: read
/// on Linux and the BSDs by `rustls-native-certs`, which reqwest's verifier
/// (`rustls-platform-verifier`) loads its roots from. (macOS and Windows ask their own
/// stores, which is where a private authority is added there.)
pub const CERT_FILE_VARIABLE: &str = "SSL_CERT_FILE";

/// Refuses an `SSL_CERT_FILE` that cannot work: every https call would fail on the
/// certificate, with no word about the file. One that is set is used alone (the system's
/// authorities are then not read), so it must be readable and hold a PEM certificate.
fn check_cert_file() -> Result<(), VipError> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let Some(path) = std::env::var_os(CERT_FILE_VARIABLE) else {
        return Ok(());
    };
    let shown = std::path::Path::new(&path).display().to_string();
    let certificates = CertificateDer::pem_file_iter(&path)
        .map_err(|e| {
            VipError::Config(format!(
                "{CERT_FILE_VARIABLE} names {shown}, which cannot be read ({e}): point it at a PEM file of the certificate authorities to trust, or unset it"
            ))
        })?
        .flatten()
        .count();
    if certificates == 0 {
        return Err(VipError::Config(format!(
            "{CERT_FILE_VARIABLE} names {shown}, which holds no PEM certificate (-----BEGIN CERTIFICATE-----): point it at the certificate authorities to trust, or unset it"
        )));
    }
    Ok(())
}

pub(super) fn transport_error(operation: &str, e: &reqwest::Error) -> VipError {
    if let Some(mut problem) = certificate_problem(e) {
        if let Some(path) = std::env::var_os(CERT_FILE_VARIABLE) {
            problem = format!(
                "{problem} (the authorities trusted are those of {CERT_FILE_VARIABLE}={})",
                std::path::Path::new(&path).display()
            );
        }
        return VipError::Certificate {
            operation: operation.to_owned(),
            host: e
                .url()
                .and_then(reqwest::Url::host_str)
                .unwrap_or("the server")
                .to_owned(),
            problem,
        };
    }
    let kind = if e.is_timeout() {
        TransportKind::Timeout
    } else if e.is_connect() {
        TransportKind::Connect(root_cause(e))
    } else {
        TransportKind::Broken(root_cause(e))
    };
    VipError::Transport {
        operation: operation.to_owned(),
        kind,
    }
}

/// What is wrong with the server's certificate, when `e` is rustls refusing it somewhere in
/// its chain of causes (reqwest → hyper → an `io::Error` of the connector, wrapping the TLS
/// stream's own `io::Error`, wrapping rustls's). An `io::Error` hides what it wraps from
/// `source()` (it gives the wrapped error's own source), so each one is opened with `get_ref`.
fn certificate_problem(e: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut next = Some(e);
    while let Some(error) = next {
        let mut inner = error;
        while let Some(wrapped) = inner
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
        {
            inner = wrapped;
        }
        for candidate in [error, inner] {
            if let Some(rustls::Error::InvalidCertificate(why)) =
                candidate.downcast_ref::<rustls::Error>()
            {
                return Some(describe_certificate(why));
            }
        }
        next = error.source();
    }
    None
}

/// A certificate problem in words, rustls's own words after them where they say more.
fn describe_certificate(why: &rustls::CertificateError) -> String {
    use rustls::CertificateError as C;
    let day = |secs: u64| {
        let (y, m, d, ..) = crate::time::utc_parts(i64::try_from(secs).unwrap_or(i64::MAX));
        format!("{y:04}-{m:02}-{d:02}")
    };
    match why {
        C::UnknownIssuer => "it is signed by an authority this machine does not trust (a private or self-signed certificate authority?)".into(),
        C::Expired => "it has expired".into(),
        C::ExpiredContext { not_after, .. } => format!("it expired on {}", day(not_after.as_secs())),
        C::NotValidYet => "it is not valid yet (is this machine's clock right?)".into(),
        C::NotValidYetContext { not_before, .. } => format!(
            "it is not valid before {} (is this machine's clock right?)",
            day(not_before.as_secs())
        ),
        C::NotValidForName | C::NotValidForNameContext { .. } => {
            format!("it was issued for another name ({why})")
        }
        C::Revoked => "it has been revoked".into(),
        C::BadSignature => "its signature does not verify".into(),
        other => other.to_string(),
    }
}

fn root_cause(e: &dyn std::error::Error) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

/// A request to send: method, path (already encoded) and query, body.
pub(super) struct Call<'a> {
    pub(super) method: Method,
    pub(super) path: String,
    pub(super) query: &'a [(&'a str, &'a str)],
    pub(super) body: Option<Vec<u8>>,
    pub(super) content_type: Option<&'static str>,
    pub(super) class: Class,
}

impl Call<'_> {
    fn operation(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

impl Client {
    /// A client for `config`, sending `key`.
    pub fn new(config: &ClientConfig, key: &SecretString) -> Result<Self, VipError> {
        if check_base_url(&config.base_url)?.scheme() == "https" {
            check_cert_file()?;
        }
        // Installing the process-wide TLS provider fails harmlessly when one is already set.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut key = HeaderValue::from_str(key.expose_secret()).map_err(|_| {
            VipError::Config("the API key contains characters a header cannot carry".into())
        })?;
        key.set_sensitive(true);
        let mut headers = HeaderMap::new();
        headers.insert(
            reqwest::header::USER_AGENT,
            HeaderValue::from_static(concat!("vip-run/", env!("CARGO_PKG_VERSION"))),
        );
        let build = |timeout: Option<Duration>| {
            let mut builder = reqwest::Client::builder()
                .default_headers(headers.clone())
                .redirect(reqwest::redirect::Policy::none())
                .connect_timeout(config.connect_timeout)
                .https_only(false);
            builder = match timeout {
                Some(t) => builder.timeout(t),
                None => builder.read_timeout(config.transfer_read_timeout),
            };
            builder
                .build()
                .map_err(|e| VipError::Config(format!("cannot set up HTTP: {}", root_cause(&e))))
        };
        Ok(Self {
            http: build(Some(config.request_timeout))?,
            transfer: build(None)?,
            base: config.base_url.trim_end_matches('/').to_owned(),
            key,
            retry: Retrier {
                policy: config.retry.clone(),
                health: Arc::new(Health::default()),
            },
            calls: Arc::default(),
        })
    }

    /// How many answers the server itself gave so far (any status below 500: a 4xx is VIP
    /// speaking; a 5xx may be a proxy in front of it). Unchanged over a while: an outage.
    pub fn answers_heard(&self) -> u64 {
        self.retry.health.answers_heard()
    }

    /// What this client (and every clone) heard from the server over time.
    pub fn health(&self) -> &Health {
        &self.retry.health
    }

    /// Notes an answer with `status`.
    pub(super) fn hear(&self, status: reqwest::StatusCode) {
        if status.as_u16() < 500 {
            self.retry.health.heard();
        }
    }

    /// The requests sent so far, by kind (each retry counts), in kind order.
    pub fn calls(&self) -> Vec<(String, u64)> {
        self.calls
            .lock()
            .map(|c| c.iter().map(|(k, n)| (k.clone(), *n)).collect())
            .unwrap_or_default()
    }

    /// Counts one request of `kind`.
    pub(super) fn count(&self, kind: String) {
        if let Ok(mut calls) = self.calls.lock() {
            *calls.entry(kind).or_default() += 1;
        }
    }

    /// The base URL.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    async fn send_once(&self, call: &Call<'_>) -> Result<reqwest::Response, VipError> {
        let url = format!("{}{}{}", self.base, call.path, encode::query(call.query));
        let mut request = self
            .http
            .request(call.method.clone(), &url)
            .header("apikey", self.key.clone());
        if let Some(body) = &call.body {
            request = request.body(body.clone());
        }
        if let Some(ct) = call.content_type {
            request = request.header(CONTENT_TYPE, ct);
        }
        let operation = call.operation();
        self.count(call_kind(
            call.method.as_str(),
            &call.path,
            call.query,
            call.body.as_ref().is_some_and(Vec::is_empty),
        ));
        let started = std::time::Instant::now();
        let response = request
            .send()
            .await
            .map_err(|e| transport_error(&operation, &e));
        match &response {
            Ok(r) => tracing::debug!(
                "{operation} → {} in {} ms",
                r.status().as_u16(),
                started.elapsed().as_millis()
            ),
            Err(e) => tracing::debug!("{e}"),
        }
        let response = response?;
        self.hear(response.status());
        check_status(&operation, response).await
    }

    /// Sends `call`, retrying as its class allows; returns the successful response.
    async fn send(&self, call: Call<'_>) -> Result<reqwest::Response, VipError> {
        self.retry.run(call.class, || self.send_once(&call)).await
    }

    pub(super) async fn json<T: DeserializeOwned>(&self, call: Call<'_>) -> Result<T, VipError> {
        let operation = call.operation();
        let response = self.send(call).await?;
        let bytes = response
            .bytes()
            .await
            .map_err(|e| transport_error(&operation, &e))?;
        serde_json::from_slice(&bytes).map_err(|e| VipError::not_api(&operation, &bytes, &e))
    }

    pub(super) async fn text(&self, call: Call<'_>) -> Result<String, VipError> {
        let operation = call.operation();
        let response = self.send(call).await?;
        response
            .text()
            .await
            .map_err(|e| transport_error(&operation, &e))
    }

    pub(super) async fn empty(&self, call: Call<'_>) -> Result<(), VipError> {
        self.send(call).await.map(drop)
    }

    pub(super) fn get<'a>(path: String, query: &'a [(&'a str, &'a str)]) -> Call<'a> {
        Call {
            method: Method::GET,
            path,
            query,
            body: None,
            content_type: None,
            class: Class::Read,
        }
    }

    pub(super) fn put_json<'a, B: Serialize>(path: String, body: &B) -> Call<'a> {
        Call {
            method: Method::PUT,
            path,
            query: &[],
            body: Some(serde_json::to_vec(body).expect("request bodies serialise")),
            content_type: Some("application/json"),
            class: Class::IdempotentWrite,
        }
    }
}

/// The kind of a request, for counting: the path with identifiers replaced by `{id}` (and
/// the data namespace as `/path`), and the query's `action` or `format` (other query keys by
/// name). `empty_put` tells a mkdir from an upload.
pub fn call_kind(method: &str, path: &str, query: &[(&str, &str)], empty_put: bool) -> String {
    let template = if path.starts_with("/path/") || path == "/path" {
        match (method, empty_put) {
            ("PUT", true) => "/path (mkdir)".to_owned(),
            ("PUT", false) => "/path (upload)".to_owned(),
            _ => "/path".to_owned(),
        }
    } else {
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let shown: Vec<&str> = segments
            .iter()
            .enumerate()
            .map(|(i, s)| match (segments[0], i) {
                ("executions", 1) if *s != "count" => "{id}",
                ("executions", 3) if segments.get(2) == Some(&"jobs") => "{job}",
                ("pipelines", 1..) => "{id}",
                _ => s,
            })
            .collect();
        let mut t = format!("/{}", shown.join("/"));
        if t.ends_with("{id}/{id}") {
            t.truncate(t.len() - "/{id}".len());
        }
        t
    };
    let asked: Vec<String> = query
        .iter()
        .map(|(k, v)| match *k {
            "action" | "format" => format!("{k}={v}"),
            _ => (*k).to_owned(),
        })
        .collect();
    if asked.is_empty() {
        format!("{method} {template}")
    } else {
        format!("{method} {template} ?{}", asked.join("&"))
    }
}

pub(super) async fn check_status(
    operation: &str,
    response: reqwest::Response,
) -> Result<reqwest::Response, VipError> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    if status.is_redirection() {
        let target = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("elsewhere")
            .to_owned();
        return Err(VipError::Api {
            operation: operation.to_owned(),
            status: status.as_u16(),
            code: None,
            message: format!(
                "the server redirects to {target}; redirects are not followed (they could carry the key elsewhere): use the final URL as --server"
            ),
        });
    }
    let body = response.bytes().await.unwrap_or_default();
    Err(VipError::from_response(operation, status.as_u16(), &body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_only_to_loopback() {
        assert!(check_base_url("https://vip.creatis.insa-lyon.fr/rest").is_ok());
        assert!(check_base_url("http://127.0.0.1:8080/rest").is_ok());
        assert!(check_base_url("http://localhost:1/rest").is_ok());
        assert!(check_base_url("http://[::1]:1/rest").is_ok());
        assert!(check_base_url("http://vip.example.org/rest").is_err());
        assert!(check_base_url("ftp://x/rest").is_err());
        assert!(check_base_url("https://user:pw@x/rest").is_err());
        assert!(check_base_url("not a url").is_err());
    }

    #[test]
    fn a_refused_certificate_is_found_under_the_io_errors_that_wrap_it() {
        // As hyper hands it over: the connector's io::Error around the TLS stream's.
        let tls = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let wrapped =
            std::io::Error::other(std::io::Error::new(std::io::ErrorKind::InvalidData, tls));
        let problem = certificate_problem(&wrapped).expect("found");
        assert!(
            problem.contains("an authority this machine does not trust"),
            "{problem}"
        );
        // Another TLS failure is no certificate problem (it stays a transport error).
        let other = std::io::Error::other(rustls::Error::DecryptError);
        assert_eq!(certificate_problem(&other), None);
        assert_eq!(certificate_problem(&std::io::Error::other("reset")), None);
    }

    #[test]
    fn certificate_problems_in_words() {
        use rustls::CertificateError as C;
        use rustls::pki_types::UnixTime;
        let expired = describe_certificate(&C::ExpiredContext {
            time: UnixTime::since_unix_epoch(std::time::Duration::from_secs(1_700_000_000)),
            not_after: UnixTime::since_unix_epoch(std::time::Duration::from_secs(1_600_000_000)),
        });
        assert_eq!(expired, "it expired on 2020-09-13");
        assert!(describe_certificate(&C::NotValidYet).contains("clock"));
        assert!(describe_certificate(&C::NotValidForName).contains("another name"));
        assert_eq!(describe_certificate(&C::Revoked), "it has been revoked");
    }

    #[test]
    fn calls_are_counted_by_kind_not_by_identifier() {
        for ((method, path, query, empty), kind) in [
            (
                ("GET", "/executions/wf-1", &[][..], false),
                "GET /executions/{id}",
            ),
            (
                ("GET", "/executions", &[("limit", "500")][..], false),
                "GET /executions ?limit",
            ),
            (
                ("GET", "/executions/count", &[][..], false),
                "GET /executions/count",
            ),
            (
                ("GET", "/executions/wf-1/jobs/3/stderr", &[][..], false),
                "GET /executions/{id}/jobs/{job}/stderr",
            ),
            (
                ("PUT", "/executions/wf-1/kill", &[][..], false),
                "PUT /executions/{id}/kill",
            ),
            (
                (
                    "GET",
                    "/pipelines/Hello/1.0",
                    &[("format", "boutiques")][..],
                    false,
                ),
                "GET /pipelines/{id} ?format=boutiques",
            ),
            (
                ("GET", "/path/vip/Home/a", &[("action", "list")][..], false),
                "GET /path ?action=list",
            ),
            (
                (
                    "GET",
                    "/path/vip/Home/a",
                    &[("action", "content")][..],
                    false,
                ),
                "GET /path ?action=content",
            ),
            (
                ("PUT", "/path/vip/Home/a", &[][..], true),
                "PUT /path (mkdir)",
            ),
            (
                ("PUT", "/path/vip/Home/a", &[][..], false),
                "PUT /path (upload)",
            ),
            (
                ("DELETE", "/path/vip/Home/a", &[][..], false),
                "DELETE /path",
            ),
            (("POST", "/executions", &[][..], false), "POST /executions"),
        ] {
            assert_eq!(call_kind(method, path, query, empty), kind, "{path}");
        }
    }
}

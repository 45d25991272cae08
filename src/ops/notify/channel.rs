//! One channel, ready to send: its checked spec, its id (how the spool names it without a
//! secret), its label (how messages name it), and one attempt at sending a notice through
//! it. Secrets are read at each attempt, so a notice from the spool goes where the channel
//! points now.

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use super::ATTEMPT_TIMEOUT;
use super::delivery_error::DeliveryError;
use super::redact::{scrub, shown_url};
use crate::manifest::notify::{ChannelKind, ChannelSpec, NotifyEvent, WebhookFormat};
use crate::manifest::secret_source::{SecretError, SecretSource};
use crate::report::notice::Notice;

/// A channel of this run.
#[derive(Debug)]
pub(crate) struct Channel {
    pub(crate) spec: ChannelSpec,
    /// A digest of what the channel is (its kind and where its secrets come from, never
    /// the secrets): the spool's name for it.
    pub(crate) id: String,
    /// How messages name it: `webhook $SLACK_URL`, `healthchecks https://hc-ping.com/…`.
    pub(crate) label: String,
}

impl Channel {
    pub(crate) fn new(spec: ChannelSpec) -> Self {
        let (identity, label) = describe(&spec.kind);
        let digest = Sha256::digest(format!("{}\0{identity}", spec.kind.name()).as_bytes());
        let id = format!(
            "{:016x}",
            u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"))
        );
        Self {
            label: format!("{} {label}", spec.kind.name()),
            spec,
            id,
        }
    }

    /// Sends `notice` once.
    pub(crate) async fn send(
        &self,
        http: &reqwest::Client,
        notice: &Notice,
    ) -> Result<(), DeliveryError> {
        match &self.spec.kind {
            ChannelKind::Healthchecks { url } => {
                let url = url.read()?;
                let target = ping_url(url.expose_secret(), notice)?;
                post(
                    http,
                    &url,
                    target,
                    &HeaderMap::new(),
                    notice.text().into_bytes(),
                    "text/plain; charset=utf-8",
                )
                .await
            }
            ChannelKind::Webhook {
                url,
                format,
                headers,
            } => {
                let url = url.read()?;
                let target = parse(url.expose_secret())?;
                let body = match format {
                    WebhookFormat::Json => notice.document(),
                    WebhookFormat::Slack | WebhookFormat::Mattermost => notice.chat(),
                };
                let headers = extra_headers(headers)?;
                post(
                    http,
                    &url,
                    target,
                    &headers,
                    body.to_string().into_bytes(),
                    "application/json",
                )
                .await
            }
            ChannelKind::Email(spec) => super::mail::send(spec, notice).await,
        }
    }
}

/// What identifies a channel across runs, and its label: never a secret (an inline URL is
/// identified by its digest, and shown as `scheme://host/…`).
fn describe(kind: &ChannelKind) -> (String, String) {
    let source = |s: &SecretSource| match s {
        SecretSource::Inline(url) => (
            format!("{:x}", Sha256::digest(url.expose_secret().as_bytes())),
            shown_url(url.expose_secret()),
        ),
        other => (other.describe(), other.describe()),
    };
    match kind {
        ChannelKind::Healthchecks { url } => source(url),
        ChannelKind::Webhook { url, format, .. } => {
            let (id, label) = source(url);
            let label = match format {
                WebhookFormat::Json => label,
                other => format!("{label} ({})", other.name()),
            };
            (format!("{id}\0{}", format.name()), label)
        }
        ChannelKind::Email(e) => (
            format!("{}:{}\0{}\0{}", e.host, e.port, e.from, e.to.join(",")),
            format!("to {} via {}:{}", e.to.join(", "), e.host, e.port),
        ),
    }
}

fn parse(url: &str) -> Result<reqwest::Url, DeliveryError> {
    crate::manifest::notify::url_problem(url).map_err(DeliveryError::Url)?;
    reqwest::Url::parse(url.trim()).map_err(|_| DeliveryError::Url("is not a URL"))
}

/// Where healthchecks wants this notice: `/start`, the URL itself on success,
/// `/<exit code>` on failure, `/log` for a stall; with the run's id as `rid`, so the start
/// and the end of one run are paired.
fn ping_url(url: &str, notice: &Notice) -> Result<reqwest::Url, DeliveryError> {
    let mut target = parse(url)?;
    let suffix = match (notice.event, &notice.end) {
        (NotifyEvent::Start, _) => Some("start".to_owned()),
        (NotifyEvent::Stall, _) => Some("log".to_owned()),
        (_, Some(end)) if end.exit_code != 0 => Some(end.exit_code.to_string()),
        _ => None,
    };
    if let Some(suffix) = suffix {
        target
            .path_segments_mut()
            .map_err(|()| DeliveryError::Url("cannot take a path"))?
            .pop_if_empty()
            .push(&suffix);
    }
    target.query_pairs_mut().append_pair("rid", &notice.run.id);
    Ok(target)
}

fn extra_headers(headers: &[(String, String)]) -> Result<HeaderMap, DeliveryError> {
    let mut map = HeaderMap::new();
    for (name, variable) in headers {
        let value = SecretSource::Env(variable.clone()).read()?;
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| DeliveryError::Refused(format!("`{name}` is not a header name")))?;
        let mut value = HeaderValue::from_str(value.expose_secret()).map_err(|_| {
            DeliveryError::Secret(SecretError::File {
                path: format!("${variable}"),
                reason: "holds characters a header cannot carry".into(),
            })
        })?;
        value.set_sensitive(true);
        map.insert(name, value);
    }
    Ok(map)
}

async fn post(
    http: &reqwest::Client,
    secret: &SecretString,
    target: reqwest::Url,
    headers: &HeaderMap,
    body: Vec<u8>,
    content_type: &'static str,
) -> Result<(), DeliveryError> {
    let shown = shown_url(target.as_str());
    let answer = http
        .post(target)
        .headers(headers.clone())
        .header(reqwest::header::CONTENT_TYPE, content_type)
        .body(body)
        .send()
        .await
        .map_err(|e| transport(&e, secret))?;
    let status = answer.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(DeliveryError::Status {
            shown,
            status: status.as_u16(),
        })
    }
}

/// A transport failure in words, without the URL reqwest puts in its own message.
fn transport(e: &reqwest::Error, secret: &SecretString) -> DeliveryError {
    if e.is_timeout() {
        return DeliveryError::Timeout(ATTEMPT_TIMEOUT.as_secs());
    }
    let mut cause: &dyn std::error::Error = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    let what = if e.is_connect() {
        "cannot connect"
    } else {
        "the connection failed"
    };
    DeliveryError::Transport(scrub(
        &format!("{what}: {cause}"),
        &[secret.expose_secret()],
    ))
}

//! `notify:` as checked: the channels a run tells, what each is told, and where their
//! secrets come from (read only when a notice is sent).
//!
//! The command line's `--notify` builds the same types, so a run handles one kind of channel
//! wherever it was configured.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::secret_source::SecretSource;
use crate::vip::rules::is_loopback_host;

/// What a channel can be told.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotifyEvent {
    /// The run began (it holds the manifest's lock).
    Start,
    /// The run ended, whatever its exit code.
    End,
    /// The run ended with a non-zero exit code.
    Failure,
    /// An execution ended as stalled (the watchdog killed it, or VIP lost track of it), as
    /// it happens.
    Stall,
}

/// Every event, in the order they are documented.
pub const EVENTS: [NotifyEvent; 4] = [
    NotifyEvent::Start,
    NotifyEvent::End,
    NotifyEvent::Failure,
    NotifyEvent::Stall,
];

impl NotifyEvent {
    /// The name in manifests and payloads.
    pub fn name(self) -> &'static str {
        match self {
            Self::Start => "start",
            Self::End => "end",
            Self::Failure => "failure",
            Self::Stall => "stall",
        }
    }
}

impl fmt::Display for NotifyEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for NotifyEvent {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        EVENTS.into_iter().find(|e| e.name() == s).ok_or(())
    }
}

/// How a webhook's body is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookFormat {
    /// The `vip-run.notify/1` JSON document.
    Json,
    /// `{"text": …}`, as Slack's incoming webhooks take it.
    Slack,
    /// `{"text": …}`, as Mattermost's incoming webhooks take it.
    Mattermost,
}

/// The formats, by name.
pub const WEBHOOK_FORMATS: [(&str, WebhookFormat); 3] = [
    ("json", WebhookFormat::Json),
    ("slack", WebhookFormat::Slack),
    ("mattermost", WebhookFormat::Mattermost),
];

impl WebhookFormat {
    /// The name in manifests.
    pub fn name(self) -> &'static str {
        WEBHOOK_FORMATS
            .iter()
            .find(|(_, f)| *f == self)
            .map_or("json", |(n, _)| n)
    }
}

/// An e-mail channel's relay, sender and recipients.
#[derive(Debug, Clone)]
pub struct EmailSpec {
    /// The relay's host.
    pub host: String,
    /// Its port.
    pub port: u16,
    /// Whether STARTTLS is required (else mail goes in clear).
    pub starttls: bool,
    /// The sender, as written (an address, or `Name <address>`).
    pub from: String,
    /// The recipients, as written.
    pub to: Vec<String>,
    /// The login, if any, and where its password comes from.
    pub login: Option<(String, SecretSource)>,
}

/// The SMTP submission port, where STARTTLS is the rule.
pub const DEFAULT_SMTP_PORT: u16 = 587;

/// What a channel is.
#[derive(Debug, Clone)]
pub enum ChannelKind {
    /// A healthchecks-style ping URL.
    Healthchecks {
        /// Where the URL comes from.
        url: SecretSource,
    },
    /// A webhook.
    Webhook {
        /// Where the URL comes from.
        url: SecretSource,
        /// Its body's form.
        format: WebhookFormat,
        /// Extra headers: name → the variable holding the value.
        headers: Vec<(String, String)>,
    },
    /// A mail through a relay.
    Email(EmailSpec),
}

impl ChannelKind {
    /// The kind's name in manifests (`healthchecks`, `webhook`, `email`).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Healthchecks { .. } => "healthchecks",
            Self::Webhook { .. } => "webhook",
            Self::Email(_) => "email",
        }
    }

    /// What a channel of this kind is told when its `events` are not given: a ping is a
    /// heartbeat (start, then the end with its exit code); a message or a mail is for what
    /// needs a person (a failed run, a stall), since one per successful cron run is noise.
    pub fn default_events(&self) -> Vec<NotifyEvent> {
        match self {
            Self::Healthchecks { .. } => vec![NotifyEvent::Start, NotifyEvent::End],
            Self::Webhook { .. } | Self::Email(_) => {
                vec![NotifyEvent::Failure, NotifyEvent::Stall]
            }
        }
    }
}

/// One channel, checked.
#[derive(Debug, Clone)]
pub struct ChannelSpec {
    /// What it is.
    pub kind: ChannelKind,
    /// What it is told, in [`EVENTS`] order.
    pub events: Vec<NotifyEvent>,
    /// Where it was configured, for messages: `notify[2]` in the manifest, `--notify` on the
    /// command line.
    pub origin: String,
}

impl ChannelSpec {
    /// Whether the channel is told `event`.
    pub fn wants(&self, event: NotifyEvent) -> bool {
        self.events.contains(&event)
    }
}

/// Whether `url` is an http(s) URL with a host, saying why not (without quoting it: it may be
/// a secret), and warning when it would cross the network in clear.
pub fn url_problem(url: &str) -> Result<Option<&'static str>, &'static str> {
    let parsed = reqwest::Url::parse(url.trim()).map_err(|_| "is not a URL")?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err("must start with https:// (or http://)");
    }
    let host = parsed.host_str().unwrap_or("");
    if host.is_empty() {
        return Err("has no host");
    }
    Ok((parsed.scheme() == "http" && !is_loopback_host(host))
        .then_some("uses plain http: the notice, and the URL's token, cross the network in clear"))
}

/// Whether `text` is an address (or `Name <address>`) a mail can carry.
pub fn is_mailbox(text: &str) -> bool {
    text.trim().parse::<lettre::message::Mailbox>().is_ok()
}

//! `notify:`: each channel's URL or relay, its secrets' sources and its events, checked
//! offline (no secret is read here: an unset variable is found when a notice is sent).
//!
//! A URL written in the manifest is never quoted in a message: a webhook's URL is its
//! password, and a ping URL's token is one too.

use std::path::Path;

use secrecy::{ExposeSecret, SecretString};
use serde_saphyr::{Location, Spanned};

use super::findings::Findings;
use crate::manifest::expand::is_identifier;
use crate::manifest::model::{Channel, Email, Manifest};
use crate::manifest::notify::{
    ChannelKind, ChannelSpec, DEFAULT_SMTP_PORT, EVENTS, EmailSpec, NotifyEvent, WEBHOOK_FORMATS,
    WebhookFormat, is_mailbox, url_problem,
};
use crate::manifest::secret_source::SecretSource;
use crate::manifest::suggest::did_you_mean;
use crate::vip::rules::is_loopback_host;

/// The channels of `m`'s `notify:`, relative paths taken from `dir`; a channel with an
/// error is left out (the caller sees the error).
pub(super) fn check(out: &mut Findings, m: &Manifest, dir: &Path) -> Vec<ChannelSpec> {
    let Some(channels) = &m.notify else {
        return Vec::new();
    };
    let mut specs = Vec::new();
    for (index, channel) in channels.value.iter().enumerate() {
        let at = channel.referenced;
        let origin = format!("notify[{}]", index + 1);
        let (kind, events) = match &channel.value {
            Channel::Healthchecks(h) => (
                url_source(
                    out,
                    "healthchecks",
                    at,
                    dir,
                    (&h.url, &h.url_env, &h.url_file),
                )
                .map(|url| ChannelKind::Healthchecks { url }),
                &h.events,
            ),
            Channel::Webhook(w) => {
                if let Some(url) = &w.url {
                    out.warn(
                        url.referenced,
                        "the webhook's URL is written in the manifest, which is usually version-controlled",
                        "a hook's URL is its password: `url_env: NAME` or `url_file: PATH` keeps it out of git",
                    );
                }
                let url = url_source(out, "webhook", at, dir, (&w.url, &w.url_env, &w.url_file));
                let format = webhook_format(out, w.format.as_ref());
                let headers = headers(out, w.headers_env.as_ref());
                (
                    url.zip(format).map(|(url, format)| ChannelKind::Webhook {
                        url,
                        format,
                        headers,
                    }),
                    &w.events,
                )
            }
            Channel::Email(e) => (email(out, e, dir).map(ChannelKind::Email), &e.events),
        };
        let events = match events {
            Some(list) => event_names(out, list),
            None => kind.as_ref().map(ChannelKind::default_events),
        };
        if let (Some(kind), Some(events)) = (kind, events) {
            specs.push(ChannelSpec {
                kind,
                events,
                origin,
            });
        }
    }
    specs
}

type UrlFields<'m> = (
    &'m Option<Spanned<SecretString>>,
    &'m Option<Spanned<String>>,
    &'m Option<Spanned<String>>,
);

/// Exactly one of `url`, `url_env`, `url_file`; an inline URL is checked as a URL.
fn url_source(
    out: &mut Findings,
    kind: &str,
    at: Location,
    dir: &Path,
    (url, env, file): UrlFields<'_>,
) -> Option<SecretSource> {
    let given =
        usize::from(url.is_some()) + usize::from(env.is_some()) + usize::from(file.is_some());
    if given != 1 {
        let (message, label) = if given == 0 {
            (format!("the {kind} channel has no URL"), "no URL")
        } else {
            (
                format!("the {kind} channel gives its URL more than once"),
                "several URLs",
            )
        };
        out.error(
            at,
            message,
            label,
            "give one of `url_env: NAME` (a variable holding the URL), `url_file: PATH` or `url: https://…`",
        );
        return None;
    }
    if let Some(url) = url {
        return check_url(out, kind, url.referenced, url.value.expose_secret())
            .then(|| SecretSource::Inline(url.value.clone()));
    }
    if let Some(env) = env {
        return variable(out, env, "url_env").then(|| SecretSource::Env(env.value.clone()));
    }
    file.as_ref().map(|f| SecretSource::file(&f.value, dir))
}

fn check_url(out: &mut Findings, kind: &str, at: Location, url: &str) -> bool {
    match url_problem(url) {
        Ok(warning) => {
            if let Some(warning) = warning {
                out.warn(at, format!("the {kind} URL {warning}"), "use https");
            }
            true
        }
        Err(problem) => {
            out.error(
                at,
                format!("the {kind} URL {problem}"),
                "not an http(s) URL",
                "give the full URL, e.g. `https://hc-ping.com/<uuid>` or `https://hooks.slack.com/services/…`",
            );
            false
        }
    }
}

/// Whether `name` is a valid environment variable's name.
fn variable(out: &mut Findings, name: &Spanned<String>, key: &str) -> bool {
    if is_identifier(&name.value) {
        return true;
    }
    out.error(
        name.referenced,
        format!("`{}` is not a valid environment variable name", name.value),
        "invalid variable name",
        format!("`{key}` names the variable that holds the value: letters, digits and `_`, e.g. `{key}: SLACK_WEBHOOK_URL`"),
    );
    false
}

fn webhook_format(out: &mut Findings, format: Option<&Spanned<String>>) -> Option<WebhookFormat> {
    let Some(format) = format else {
        return Some(WebhookFormat::Json);
    };
    let name = format.value.trim();
    if let Some((_, f)) = WEBHOOK_FORMATS.iter().find(|(n, _)| *n == name) {
        return Some(*f);
    }
    let names = WEBHOOK_FORMATS.map(|(n, _)| n);
    let help = match did_you_mean(name, names) {
        Some(s) => format!("did you mean `{s}`? The formats are: {}", names.join(", ")),
        None => format!("the formats are: {}", names.join(", ")),
    };
    out.error(
        format.referenced,
        format!("unknown webhook format `{name}`"),
        "not a format",
        help,
    );
    None
}

fn headers(
    out: &mut Findings,
    headers: Option<&Spanned<indexmap::IndexMap<String, Spanned<String>>>>,
) -> Vec<(String, String)> {
    let Some(headers) = headers else {
        return Vec::new();
    };
    let mut list = Vec::new();
    for (name, var) in &headers.value {
        if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
            out.error(
                headers.referenced,
                format!("`{name}` is not an HTTP header name"),
                "not a header name",
                "e.g. `headers_env: { Authorization: HOOK_AUTH }`",
            );
        } else if variable(out, var, "headers_env") {
            list.push((name.clone(), var.value.clone()));
        }
    }
    list
}

fn event_names(
    out: &mut Findings,
    list: &Spanned<Vec<Spanned<String>>>,
) -> Option<Vec<NotifyEvent>> {
    let names = EVENTS.map(NotifyEvent::name);
    if list.value.is_empty() {
        out.error(
            list.referenced,
            "a channel with no events is never told anything",
            "no events",
            format!("list some of {}, or remove the channel", names.join(", ")),
        );
        return None;
    }
    let mut events = Vec::new();
    let mut ok = true;
    for name in &list.value {
        if let Ok(e) = name.value.trim().parse::<NotifyEvent>() {
            events.push(e);
        } else {
            ok = false;
            let other = name.value.trim();
            let help = match did_you_mean(other, names) {
                Some(s) => format!("did you mean `{s}`? The events are: {}", names.join(", ")),
                None => format!("the events are: {}", names.join(", ")),
            };
            out.error(
                name.referenced,
                format!("unknown event `{other}`"),
                "not an event",
                help,
            );
        }
    }
    events.sort();
    events.dedup();
    ok.then_some(events)
}

fn email(out: &mut Findings, e: &Email, dir: &Path) -> Option<EmailSpec> {
    let mut ok = true;
    if let Some(p) = &e.password {
        ok = false;
        out.error(
            p.referenced,
            "a password is never written in the manifest",
            "password",
            "the manifest is usually version-controlled: `password_env: NAME` (a variable holding it) or `password_file: PATH`",
        );
    }
    let host = e.host.value.trim();
    if host.is_empty() || (host.contains(['/', ' ', ':']) && !host.starts_with('[')) {
        ok = false;
        out.error(
            e.host.referenced,
            format!("`{host}` is not a host name"),
            "not a host",
            "the relay's name or address alone, e.g. `smtp.example.org`; the port goes in `port`",
        );
    }
    let port = match &e.port {
        None => DEFAULT_SMTP_PORT,
        Some(p) => {
            if let Ok(port) = u16::try_from(p.value)
                && port > 0
            {
                port
            } else {
                ok = false;
                out.error(
                    p.referenced,
                    format!("port must be between 1 and 65535, not {}", p.value),
                    "out of range",
                    "587 is the submission port, with STARTTLS",
                );
                DEFAULT_SMTP_PORT
            }
        }
    };
    for address in std::iter::once(&e.from).chain(e.to.value.iter()) {
        if !is_mailbox(&address.value) {
            ok = false;
            out.error(
                address.referenced,
                format!("`{}` is not a mail address", address.value),
                "not an address",
                "write `name@example.org`, or `Name <name@example.org>`",
            );
        }
    }
    if e.to.value.is_empty() {
        ok = false;
        out.error(
            e.to.referenced,
            "`to` lists no recipient",
            "empty",
            "e.g. `to: [you@example.org]`",
        );
    }
    let password = match (&e.password_env, &e.password_file) {
        (Some(_), Some(f)) => {
            ok = false;
            out.error(
                f.referenced,
                "give the password once: `password_env` or `password_file`",
                "second source",
                "remove one of them",
            );
            None
        }
        (Some(env), None) => {
            ok &= variable(out, env, "password_env");
            Some(SecretSource::Env(env.value.clone()))
        }
        (None, Some(file)) => Some(SecretSource::file(&file.value, dir)),
        (None, None) => None,
    };
    let login = match (&e.username, password) {
        (Some(user), Some(password)) => Some((user.value.clone(), password)),
        (None, None) => None,
        // An inline password was refused above already.
        (Some(_), None) if e.password.is_some() => None,
        (Some(user), None) => {
            ok = false;
            out.error(
                user.referenced,
                "a user name without a password",
                "no password",
                "add `password_env: NAME` (a variable holding it) or `password_file: PATH`",
            );
            None
        }
        (None, Some(_)) => {
            ok = false;
            out.error(
                e.host.referenced,
                "a password without a user name",
                "no username",
                "add `username: …`, the login the relay expects",
            );
            None
        }
    };
    let starttls = e.starttls.as_ref().is_none_or(|s| s.value);
    if let Some(s) = e.starttls.as_ref().filter(|s| !s.value) {
        if login.is_some() && !is_loopback_host(host) {
            ok = false;
            out.error(
                s.referenced,
                "the SMTP password would cross the network in clear",
                "starttls: false",
                "keep STARTTLS (remove `starttls: false`); sending in clear is for a relay on this machine",
            );
        } else {
            out.warn(
                s.referenced,
                "mail is sent in clear (starttls: false)",
                "only for a relay on this machine or a network you trust",
            );
        }
    }
    ok.then(|| EmailSpec {
        host: host.to_owned(),
        port,
        starttls,
        from: e.from.value.trim().to_owned(),
        to: e
            .to
            .value
            .iter()
            .map(|t| t.value.trim().to_owned())
            .collect(),
        login,
    })
}

//! What can go wrong talking to VIP, and what it means to a user.
//!
//! VIP answers errors as `{"errorCode","errorMessage"}` (in either key order when other
//! servers answer), often under HTTP 400 whatever the cause, and proxies answer HTML pages.
//! The code is taken from `errorCode`, never from the text; the text loses its
//! ` (Error code N)` suffix before display.

use std::fmt;

/// A failed call.
#[derive(Debug, Clone, thiserror::Error)]
pub enum VipError {
    /// VIP (or something in front of it) answered with an error status.
    #[error("{operation}: {}", describe_api(*status, *code, message))]
    Api {
        /// What was being done (e.g. `GET /pipelines`).
        operation: String,
        /// The HTTP status.
        status: u16,
        /// VIP's `errorCode`, when the body was VIP's JSON.
        code: Option<i64>,
        /// VIP's message without its suffix, or a short excerpt of a non-JSON body.
        message: String,
    },
    /// No answer: connection refused or cut, or a timeout.
    #[error("{operation}: {kind}")]
    Transport {
        /// What was being done.
        operation: String,
        /// What happened.
        kind: TransportKind,
    },
    /// An answer that is not what VIP sends.
    #[error("{operation} answered {detail}, not VIP's API: check --server")]
    Decode {
        /// What was being done.
        operation: String,
        /// What was wrong.
        detail: String,
    },
    /// The server's TLS certificate was refused while connecting. No call can succeed until
    /// it is trusted (or the server fixes it), so it is never retried.
    #[error("{operation}: the TLS certificate of {host} was refused: {problem}")]
    Certificate {
        /// What was being done.
        operation: String,
        /// The server's host, as the URL names it.
        host: String,
        /// What is wrong with the certificate, in words.
        problem: String,
    },
    /// A local problem (a file to upload or to write).
    #[error("{operation}: {detail}")]
    Local {
        /// What was being done.
        operation: String,
        /// What went wrong.
        detail: String,
    },
    /// The client cannot be built as asked (bad URL, plain http to a remote host…).
    #[error("{0}")]
    Config(String),
}

/// Why there was no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransportKind {
    /// The connection could not be made.
    Connect(String),
    /// No answer within the time allowed.
    Timeout,
    /// The connection broke while sending or receiving.
    Broken(String),
}

impl fmt::Display for TransportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Connect(why) => write!(f, "cannot connect to the server ({why})"),
            Self::Timeout => f.write_str("the server did not answer in time"),
            Self::Broken(why) => write!(f, "the connection broke ({why})"),
        }
    }
}

fn describe_api(status: u16, code: Option<i64>, message: &str) -> String {
    match code {
        Some(code) => format!("{message} (HTTP {status}, VIP error {code})"),
        None if message.is_empty() => format!("HTTP {status}"),
        None => format!("HTTP {status}: {message}"),
    }
}

/// What an error means, in the user's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Meaning {
    /// 401/8002: the key is wrong.
    BadKey,
    /// 401/8003: no key reached the server.
    NoKey,
    /// 401/8004 or another 401.
    AuthFailed,
    /// 8005.
    InvalidPipelineId,
    /// 8007: unknown or hidden pipeline.
    UnknownPipeline,
    /// 8008: not in the pipeline's application group.
    NotInGroup,
    /// 8009: a value VIP refuses.
    InvalidInput,
    /// 8018: a required input is missing.
    MissingInput,
    /// 8019: an execution name VIP refuses.
    InvalidName,
    /// 8013: a data path the caller may not use.
    DataAccess,
    /// 8015: the execution was deleted.
    Gone,
    /// 2001: the caller's quota of running executions is full (wait).
    QuotaFull,
    /// 2000: the platform is full (wait).
    PlatformFull,
    /// 2003: VIP's execution engine is saturated (wait, like a full quota). **(open)**: see
    /// [`VipError::meaning`] for what is assumed.
    EngineSaturated,
    /// 2004: VIP could not start the execution on its engine; VIP's support must look.
    LaunchFailed,
    /// 8000 and other codes: see docs/vip.md#generic-8000 for what it may hide.
    Generic,
    /// 5xx, HTML pages, no answer: the server is failing.
    ServerFailing,
    /// The server's TLS certificate is not trusted: nothing a retry or a wait fixes.
    UntrustedCertificate,
    /// Anything else (a local problem, an odd answer).
    Other,
}

impl VipError {
    /// Builds the error for a non-success answer with `body`.
    pub fn from_response(operation: &str, status: u16, body: &[u8]) -> Self {
        let (code, message) = match serde_json::from_slice::<serde_json::Value>(body) {
            Ok(value) => {
                let code = value.get("errorCode").and_then(serde_json::Value::as_i64);
                let message = value
                    .get("errorMessage")
                    .and_then(serde_json::Value::as_str)
                    .map_or_else(|| excerpt(body), strip_suffix);
                (code, message)
            }
            Err(_) => (None, excerpt(body)),
        };
        Self::Api {
            operation: operation.to_owned(),
            status,
            code,
            message,
        }
    }

    /// The error for an answer to `operation` that does not decode: it says what came back
    /// (an HTML page and its title, an empty body, or other text).
    pub fn not_api(operation: &str, body: &[u8], why: &dyn fmt::Display) -> Self {
        let text = String::from_utf8_lossy(body);
        let trimmed = text.trim_start();
        let detail = if trimmed.is_empty() {
            "an empty body".to_owned()
        } else if trimmed.starts_with('<') {
            let title = excerpt(body);
            if trimmed.to_ascii_lowercase().contains("<title>") && !title.is_empty() {
                format!("an HTML page (\"{title}\")")
            } else {
                "an HTML page".to_owned()
            }
        } else {
            format!("something vip-run cannot read ({why}: {})", excerpt(body))
        };
        Self::Decode {
            operation: operation.to_owned(),
            detail,
        }
    }

    /// The message the server gave, if it answered with an error.
    pub fn server_message(&self) -> Option<&str> {
        match self {
            Self::Api { message, .. } if !message.is_empty() => Some(message),
            _ => None,
        }
    }

    /// VIP's error code, if VIP gave one.
    pub fn code(&self) -> Option<i64> {
        match self {
            Self::Api { code, .. } => *code,
            _ => None,
        }
    }

    /// For a 2001 (the caller's quota is full): how many running executions VIP counted,
    /// from its message (`…You already have 3 running executions.`), the one place VIP says
    /// it. The code says what the error is; the number is read from the text only for this
    /// figure, and a message worded otherwise gives `None`.
    pub fn running_executions(&self) -> Option<usize> {
        let Self::Api {
            code: Some(2001),
            message,
            ..
        } = self
        else {
            return None;
        };
        let (_, after) = message.split_once("You already have ")?;
        after
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .and_then(|n| n.parse().ok())
    }

    /// The HTTP status, if there was an answer.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// What the error means.
    ///
    /// 2003 and 2004 are **(open)**: VIP-portal 4.6 (docs/vip.md#errors) stops at 2002.
    /// VIP-portal's later sources name them `ENGINE_SATURATED` (the engine answered 503 to
    /// the submission, before VIP records any execution) and `LAUNCH_ERROR` (an unexpected
    /// failure while submitting; VIP then disables that engine and mails its admins). So
    /// 2003 is read as "nothing was created, launch again later" (waited like 2001), and 2004
    /// as "this launch failed, support must look" (the item fails, not retried in this run).
    /// Both readings are safe if wrong: a 2003 wait is bounded like the quota's (a slot
    /// freed, `--detach`, Ctrl-C), and should a 2003 or a 2004 have created an execution
    /// after all, it is found by its name before the item is launched again (the next
    /// launch after a 2003, the next run after a 2004: `ops::runner::launcher`,
    /// `ops::runner::tracker::adopt`), so nothing runs twice. Any other 2xxx (VIP's
    /// application module: 2005–2007 in those sources refuse a descriptor or an input) is
    /// [`Meaning::Generic`]: that item's launch fails, in VIP's words, and the others go on.
    pub fn meaning(&self) -> Meaning {
        match self {
            Self::Api { status, code, .. } => match (status, code) {
                (401, Some(8002)) => Meaning::BadKey,
                (401, Some(8003)) => Meaning::NoKey,
                // A 403 without VIP's code: a filter or proxy refused; what it said is kept.
                (401, _) | (403, None) => Meaning::AuthFailed,
                (_, Some(8005)) => Meaning::InvalidPipelineId,
                (_, Some(8007)) => Meaning::UnknownPipeline,
                (_, Some(8008)) => Meaning::NotInGroup,
                (_, Some(8009)) => Meaning::InvalidInput,
                (_, Some(8018)) => Meaning::MissingInput,
                (_, Some(8019)) => Meaning::InvalidName,
                (_, Some(8013)) => Meaning::DataAccess,
                (_, Some(8015)) => Meaning::Gone,
                (_, Some(2001)) => Meaning::QuotaFull,
                (_, Some(2000)) => Meaning::PlatformFull,
                (_, Some(2003)) => Meaning::EngineSaturated,
                (_, Some(2004)) => Meaning::LaunchFailed,
                (s, _) if *s >= 500 => Meaning::ServerFailing,
                (_, None) => Meaning::ServerFailing,
                _ => Meaning::Generic,
            },
            // An answer that is not VIP's API: a portal, a proxy, or the wrong server. Exit 5,
            // not 1 (which means an item failed); `run` waits it out like an outage.
            Self::Transport { .. } | Self::Decode { .. } => Meaning::ServerFailing,
            Self::Certificate { .. } => Meaning::UntrustedCertificate,
            Self::Local { .. } | Self::Config(_) => Meaning::Other,
        }
    }

    /// Whether the failure is about credentials, groups or permissions (exit code 4).
    pub fn is_access_problem(&self) -> bool {
        matches!(
            self.meaning(),
            Meaning::BadKey
                | Meaning::NoKey
                | Meaning::AuthFailed
                | Meaning::NotInGroup
                | Meaning::DataAccess
        )
    }

    /// Whether VIP could not be reached or kept failing (exit code 5).
    pub fn is_unreachable(&self) -> bool {
        self.meaning() == Meaning::ServerFailing
    }
}

/// VIP's support address, as `GET /platform` gives it (docs/vip.md#platform).
pub const SUPPORT: &str = "vip-support@creatis.insa-lyon.fr";

/// Removes VIP's ` (Error code N)` suffix.
pub fn strip_suffix(message: &str) -> String {
    let trimmed = message.trim_end();
    if let Some(start) = trimmed.rfind(" (Error code ") {
        let tail = &trimmed[start + " (Error code ".len()..];
        if tail.ends_with(')') && tail[..tail.len() - 1].chars().all(|c| c.is_ascii_digit()) {
            return trimmed[..start].trim_end().to_owned();
        }
    }
    trimmed.to_owned()
}

/// A short, single-line excerpt of a non-JSON body (an HTML proxy page, say).
fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = if let (Some(start), Some(end)) = (text.find("<title>"), text.find("</title>")) {
        text[start + 7..end].to_string()
    } else {
        text.into_owned()
    };
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() > 120 {
        format!("{}…", flat.chars().take(120).collect::<String>())
    } else {
        flat
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_vip_bodies_in_any_order_and_strips_the_suffix() {
        let e = VipError::from_response(
            "GET /x",
            400,
            br#"{"errorMessage":"The CQUEST/9.9 pipeline does not exists or cannot be used (Error code 8007)","errorCode":8007}"#,
        );
        assert_eq!(e.code(), Some(8007));
        assert_eq!(e.meaning(), Meaning::UnknownPipeline);
        assert!(
            e.to_string()
                .contains("does not exists or cannot be used (HTTP 400, VIP error 8007)")
        );
        assert!(!e.to_string().contains("(Error code"));
    }

    #[test]
    fn html_pages_and_empty_bodies_are_server_failures() {
        let e = VipError::from_response(
            "GET /x",
            502,
            b"<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>",
        );
        assert_eq!(e.meaning(), Meaning::ServerFailing);
        assert!(e.to_string().contains("HTTP 502: 502 Bad Gateway"));
        let e = VipError::from_response("GET /x", 503, b"");
        assert_eq!(e.to_string(), "GET /x: HTTP 503");
    }

    #[test]
    fn html_where_json_was_expected_names_the_call() {
        let e = VipError::not_api(
            "GET /pipelines",
            b"<!doctype html><html><head><title>Wi-Fi login</title></head></html>",
            &"expected value",
        );
        assert_eq!(
            e.to_string(),
            "GET /pipelines answered an HTML page (\"Wi-Fi login\"), not VIP's API: check --server"
        );
        assert!(e.is_unreachable());
    }

    #[test]
    fn auth_codes_mean_what_vip_says() {
        let bad = VipError::from_response(
            "GET /pipelines",
            401,
            br#"{"errorCode":8002,"errorMessage":"Bad credentials"}"#,
        );
        assert_eq!(bad.meaning(), Meaning::BadKey);
        assert!(bad.is_access_problem());
        let none = VipError::from_response(
            "GET /pipelines",
            401,
            br#"{"errorCode":8003,"errorMessage":"Full authentication is required"}"#,
        );
        assert_eq!(none.meaning(), Meaning::NoKey);
        let quota = VipError::from_response("POST /executions", 400, br#"{"errorCode":2001,"errorMessage":"Max number of running executions reached.You already have 1 running executions. (Error code 2001)"}"#);
        assert_eq!(quota.meaning(), Meaning::QuotaFull);
        assert_eq!(quota.running_executions(), Some(1));
        let reworded = VipError::from_response(
            "POST /executions",
            400,
            br#"{"errorCode":2001,"errorMessage":"Quota reached (Error code 2001)"}"#,
        );
        assert_eq!(reworded.running_executions(), None);
        assert_eq!(none.running_executions(), None);
    }

    #[test]
    fn the_engines_codes_wait_or_fail_and_other_2xxx_are_refusals() {
        let launch = |body: &[u8]| VipError::from_response("POST /executions", 400, body);
        let saturated = launch(
            br#"{"errorCode":2003,"errorMessage":"The execution engine is saturated, please try again later (Error code 2003)"}"#,
        );
        assert_eq!(saturated.meaning(), Meaning::EngineSaturated);
        assert!(!saturated.is_unreachable() && !saturated.is_access_problem());
        let failed = launch(
            br#"{"errorCode":2004,"errorMessage":"Error while launching the execution on the engine (Error code 2004)"}"#,
        );
        assert_eq!(failed.meaning(), Meaning::LaunchFailed);
        assert!(!failed.to_string().contains("(Error code"));
        let later = launch(
            br#"{"errorCode":2007,"errorMessage":"The workflow could not be launched. Reason : x (Error code 2007)"}"#,
        );
        assert_eq!(later.meaning(), Meaning::Generic);
    }

    #[test]
    fn an_untrusted_certificate_is_neither_an_outage_nor_an_access_problem() {
        let e = VipError::Certificate {
            operation: "GET /pipelines".into(),
            host: "vip.example.org".into(),
            problem: "it has expired".into(),
        };
        assert_eq!(e.meaning(), Meaning::UntrustedCertificate);
        assert!(!e.is_unreachable(), "never waited out as an outage");
        assert!(!e.is_access_problem());
        assert_eq!(
            e.to_string(),
            "GET /pipelines: the TLS certificate of vip.example.org was refused: it has expired"
        );
    }
}

//! VIP's error responses, wire-exact (docs/vip.md#auth, #errors): the code table with its raw
//! templates (also published by `/platform`), the ` (Error code N)` suffix with `<br />`
//! removed, the suffix-less Spring-level and authentication bodies, and the non-JSON pages
//! that Tomcat and proxies send.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::vip::wire::ErrorBody;

/// Every code VIP publishes, with its raw template (`{}` kept), in VIP's order.
pub(crate) const CODES: &[(i64, &str)] = &[
    (8000, "An error has been encountered on the VIP API"),
    (8001, "The {} method is not implemented in the VIP API"),
    (8002, "Bad credentials"),
    (
        8003,
        "The error message for 'insufficient auth' cannot be known in advance",
    ),
    (
        8004,
        "The error message for 'authentication error' cannot be known in advance",
    ),
    (8005, "The {} pipeline identifier is not valid"),
    (
        8006,
        "The error message for 'application not found' cannot be known in advance",
    ),
    (8007, "The {} pipeline does not exists or cannot be used"),
    (8008, "Not allowed to access pipeline {}"),
    (8009, "Input field '{}' is not valid. Cause : {}"),
    (8010, "The date {} have a wrong format (needed : {})"),
    (8011, "The service {} is unknown, only 'vip' is possible"),
    (8012, "Country unknown : {}"),
    (8013, "Unauthorized data access to : {}"),
    (8014, "The login process encountered an error"),
    (8015, "No execution available with this id : {}"),
    (8016, "There is no example with the id : {}"),
    (8017, "The pipeline is not compatible with boutiques : {}"),
    (8018, "Input field '{}' is missing"),
    (8019, "The execution name is not valid : Cause {}"),
    (8020, "The execution could not be submitted : Cause {}"),
    (
        2000,
        "Max number of running executions reached on the platform.",
    ),
    (
        2001,
        "Max number of running executions reached.<br />You already have {} running executions.",
    ),
    (2002, "Error getting application descriptor for {}."),
];

/// The text of Spring-level 8000s, without a suffix.
pub(crate) const GENERIC: &str = "An error has been encountered on the VIP API";

/// The cause VIP gives for a forbidden character in an input value.
pub(crate) const INPUT_CHARS_CAUSE: &str = r"Authorized characters are 0-9.,A-Za-z-+@/_(): \[\]?&=";

/// The cause VIP gives for a bad execution name (its trailing space is VIP's).
pub(crate) const NAME_CAUSE: &str = "Authorized characters are 0-9A-Za-z-_ ";

/// An answer other than success, as VIP (or what stands in front of it) would send it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ApiError {
    /// A JSON error body.
    Json {
        status: StatusCode,
        code: i64,
        message: String,
        /// Authentication failures from the API-key filter carry `WWW-Authenticate`.
        challenge: bool,
    },
    /// A non-JSON page (Tomcat's encoded-slash refusal, a proxy's 502/503).
    Page {
        status: StatusCode,
        content_type: &'static str,
        body: String,
    },
}

/// Fills `{}` in order with `params`, drops `<br />`, and appends the suffix.
fn coded_message(code: i64, params: &[&str]) -> String {
    let template = CODES
        .iter()
        .find(|(c, _)| *c == code)
        .map_or(GENERIC, |(_, t)| t);
    let mut out = String::new();
    let mut rest = template;
    let mut params = params.iter();
    while let Some(at) = rest.find("{}") {
        out.push_str(&rest[..at]);
        out.push_str(params.next().copied().unwrap_or("{}"));
        rest = &rest[at + 2..];
    }
    out.push_str(rest);
    format!("{} (Error code {code})", out.replace("<br />", ""))
}

impl ApiError {
    /// A coded API error: 400, template, suffix.
    pub(crate) fn coded(code: i64, params: &[&str]) -> Self {
        Self::Json {
            status: StatusCode::BAD_REQUEST,
            code,
            message: coded_message(code, params),
            challenge: false,
        }
    }

    /// A business failure whose real reason VIP loses (docs/vip.md#generic-8000): 400, 8000,
    /// suffix.
    pub(crate) fn generic() -> Self {
        Self::coded(8000, &[])
    }

    /// The engine's refusal of a workflow over its `maxJobsPerWorkflow` (docs/vip.md#lists).
    /// Whether VIP sends it as a launch error or as `ExecutionFailed` later is **(open)**; the
    /// sandbox refuses at launch, the reading a client must handle before anything runs: 400,
    /// 8000, the engine's text, suffix.
    pub(crate) fn too_many_jobs(max: usize, got: usize) -> Self {
        Self::Json {
            status: StatusCode::BAD_REQUEST,
            code: 8000,
            message: format!("Too many jobs (max:{max}, got:{got}) (Error code 8000)"),
            challenge: false,
        }
    }

    /// The engine refused a launch because it is saturated: 400/2003. **(open)**: VIP's
    /// published table stops at 2002 (docs/vip.md#errors); the sandbox assumes a code 2003
    /// with this text, so that a client meets a refusal that created nothing and is worth a
    /// later retry (docs/vip.md#not-in-the-reference).
    pub(crate) fn saturated() -> Self {
        Self::Json {
            status: StatusCode::BAD_REQUEST,
            code: 2003,
            message: "The execution engine is saturated, please try again later (Error code 2003)"
                .into(),
            challenge: false,
        }
    }

    /// The engine failed to launch the workflow: 400/2004. **(open)**, as 2003: the code and
    /// the text are the sandbox's assumption; nothing was created.
    pub(crate) fn engine_error() -> Self {
        Self::Json {
            status: StatusCode::BAD_REQUEST,
            code: 2004,
            message: "Error while launching the execution on the engine (Error code 2004)".into(),
            challenge: false,
        }
    }

    /// An upload whose grid transfer outlasted VIP's wait: 400/8000 with VIP's text, while
    /// the transfer goes on (docs/vip.md#upload). **(open)**: that VIP keeps this text rather
    /// than the generic one is the sandbox's assumption.
    pub(crate) fn too_long() -> Self {
        Self::Json {
            status: StatusCode::BAD_REQUEST,
            code: 8000,
            message: "Aborting operation : too long (Error code 8000)".into(),
            challenge: false,
        }
    }

    /// An unexpected runtime exception (a null pointer…): 500, 8000, suffix.
    pub(crate) fn internal() -> Self {
        Self::Json {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: 8000,
            message: coded_message(8000, &[]),
            challenge: false,
        }
    }

    /// A Spring-level refusal (malformed JSON, wrong method, unknown action, a non-integer
    /// where an integer is expected): Spring's status, 8000, no suffix.
    pub(crate) fn spring(status: StatusCode) -> Self {
        Self::Json {
            status,
            code: 8000,
            message: GENERIC.into(),
            challenge: false,
        }
    }

    /// A wrong key: 401/8002, raw message, `WWW-Authenticate`.
    pub(crate) fn bad_credentials() -> Self {
        Self::Json {
            status: StatusCode::UNAUTHORIZED,
            code: 8002,
            message: "Bad credentials".into(),
            challenge: true,
        }
    }

    /// No credentials on a protected route: 401/8003, Spring's text, `WWW-Authenticate`.
    pub(crate) fn insufficient_auth() -> Self {
        Self::Json {
            status: StatusCode::UNAUTHORIZED,
            code: 8003,
            message: "Full authentication is required to access this resource".into(),
            challenge: true,
        }
    }

    /// A wrong password on `/authenticate`: 401/8002 *with* the suffix, no challenge.
    pub(crate) fn wrong_password() -> Self {
        Self::Json {
            status: StatusCode::UNAUTHORIZED,
            code: 8002,
            message: coded_message(8002, &[]),
            challenge: false,
        }
    }

    /// 8009 for a field that must not be null.
    pub(crate) fn null_field(field: &str) -> Self {
        Self::coded(8009, &[field, "must not be null"])
    }

    /// Tomcat's refusal of an encoded slash or backslash, before Spring sees the request.
    pub(crate) fn tomcat_bad_request() -> Self {
        Self::Page {
            status: StatusCode::BAD_REQUEST,
            content_type: "text/html;charset=utf-8",
            body: "<!doctype html><html lang=\"en\"><head><title>HTTP Status 400 \u{2013} Bad Request</title></head><body><h1>HTTP Status 400 \u{2013} Bad Request</h1></body></html>".into(),
        }
    }

    /// A reverse proxy's error page.
    pub(crate) fn proxy_page(status: StatusCode) -> Self {
        let title = match status.as_u16() {
            502 => "502 Bad Gateway",
            503 => "503 Service Temporarily Unavailable",
            _ => "504 Gateway Time-out",
        };
        Self::Page {
            status,
            content_type: "text/html",
            body: format!(
                "<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
            ),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            Self::Json {
                status,
                code,
                message,
                challenge,
            } => {
                let body = ErrorBody {
                    error_code: code,
                    error_message: message,
                };
                let mut response = (status, axum::Json(body)).into_response();
                if challenge {
                    response.headers_mut().insert(
                        header::WWW_AUTHENTICATE,
                        HeaderValue::from_static("header; header-name=apikey"),
                    );
                }
                response
            }
            Self::Page {
                status,
                content_type,
                body,
            } => (status, [(header::CONTENT_TYPE, content_type)], body).into_response(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_carry_the_suffix_without_html() {
        assert_eq!(
            coded_message(2001, &["1"]),
            "Max number of running executions reached.You already have 1 running executions. (Error code 2001)"
        );
        assert_eq!(
            coded_message(8019, &[NAME_CAUSE]),
            "The execution name is not valid : Cause Authorized characters are 0-9A-Za-z-_  (Error code 8019)"
        );
        assert_eq!(
            coded_message(8009, &["data_file", INPUT_CHARS_CAUSE]),
            r"Input field 'data_file' is not valid. Cause : Authorized characters are 0-9.,A-Za-z-+@/_(): \[\]?&= (Error code 8009)"
        );
    }

    #[test]
    fn vip_publishes_24_codes() {
        assert_eq!(CODES.len(), 24);
    }
}

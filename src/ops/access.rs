//! One explanation of access problems (a rejected or missing key, a key the server could not
//! check), used by pre-flight and by the discovery commands alike, so the two never drift.

use crate::error::Error;
use crate::vip::{Meaning, VipError};

use super::Connection;

/// The access error users understand for `e`, if it is about the key.
pub fn key_problem(e: &VipError, conn: &Connection) -> Option<Error> {
    let (message, help) = match e.meaning() {
        Meaning::BadKey => (
            format!(
                "the API key from {} was rejected by {}",
                conn.key_source, conn.server
            ),
            "check the key in the VIP portal (My Account → API key); a key for another VIP instance does not work here",
        ),
        Meaning::NoKey => (
            format!(
                "no API key reached {} (the key from {} was sent)",
                conn.server, conn.key_source
            ),
            "a proxy may be stripping the `apikey` header",
        ),
        // An unexpected 401/403: what the server said is the best clue, so it is kept.
        Meaning::AuthFailed => (
            format!(
                "{} refused the API key from {} (HTTP {}){}",
                conn.server,
                conn.key_source,
                e.status().unwrap_or(401),
                e.server_message()
                    .map(|m| format!(": the server said \"{m}\""))
                    .unwrap_or_default()
            ),
            "if the server's message does not say what to do, try again later; if it persists, contact VIP support with that message",
        ),
        _ => return None,
    };
    Some(Error::Access {
        message,
        help: Some(help.to_owned()),
    })
}

/// `e` as an access error when it is about the key, else as it is.
pub fn explain(e: VipError, conn: &Connection) -> Error {
    key_problem(&e, conn).unwrap_or(Error::Vip(e))
}

/// [`explain`] for errors already lifted to [`Error`].
pub fn explain_error(e: Error, conn: &Connection) -> Error {
    match e {
        Error::Vip(e) => explain(e, conn),
        other => other,
    }
}

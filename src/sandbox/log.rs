//! The request log tests assert on (method, raw path, headers without the key, a digest of
//! the body, the answer's status), and the request-body reader that feeds its digest while
//! the body streams through (uploads are never held in memory).

use axum::body::{Body, BodyDataStream, Bytes};
use axum::http::HeaderMap;
use futures_util::StreamExt;
use sha2::{Digest, Sha256};

/// One request as the sandbox saw it.
#[derive(Debug, Clone)]
pub struct LoggedRequest {
    /// `GET`, `PUT`…
    pub method: String,
    /// The raw path as received, e.g. `/rest/executions`.
    pub path: String,
    /// The raw query string, if any.
    pub query: Option<String>,
    /// Lower-case names; the `apikey` (and `authorization`) values are `(redacted)`.
    pub headers: Vec<(String, String)>,
    /// Bytes of request body received.
    pub body_len: u64,
    /// Hex SHA-256 of the request body (empty when the sandbox was told not to hash bodies:
    /// [`crate::sandbox::Config::digest_bodies`]).
    pub body_sha256: String,
    /// The status answered; 0 when the connection was dropped instead.
    pub status: u16,
    /// Whether the connection was cut without an answer.
    pub dropped: bool,
    /// The most requests handled at once while this one was (itself included): tells
    /// whether transfers overlapped.
    pub in_flight: usize,
    /// For an upload (a `PUT` with a body) or a download (`?action=content`): the most
    /// transfers handled at once while this one was (itself included); 0 for other calls.
    pub transfers_in_flight: usize,
    /// How long the sandbox took over it, from its arrival until its body was read and it
    /// was answered (the response's own body, a download's, streams afterwards): for an
    /// upload, the transfer as the server saw it, whatever the client.
    pub handled: std::time::Duration,
    /// The failure this request caused, by kind name (`held`, `saturated`…): the launch
    /// that created a run with an injected failure, or the launch or upload refused. The
    /// matching [`crate::sandbox::Injection`] has this request's index.
    pub injected: Option<String>,
}

/// What the log keeps of a header map: never a credential.
pub(crate) fn redacted_headers(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(name, value)| {
            let name = name.as_str().to_ascii_lowercase();
            let value = if matches!(name.as_str(), "apikey" | "authorization" | "cookie") {
                "(redacted)".to_owned()
            } else {
                String::from_utf8_lossy(value.as_bytes()).into_owned()
            };
            (name, value)
        })
        .collect()
}

/// Why a body could not be read whole.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// Bigger than the cap.
    TooLarge,
    /// The client went away.
    Broken,
}

/// A request body being read, hashed on the way.
pub(crate) struct Incoming {
    stream: BodyDataStream,
    hasher: Option<Sha256>,
    len: u64,
}

impl Incoming {
    /// `body`, hashed as it is read when `digest` says so.
    pub(crate) fn new(body: Body, digest: bool) -> Self {
        Self {
            stream: body.into_data_stream(),
            hasher: digest.then(Sha256::new),
            len: 0,
        }
    }

    /// The next chunk; `None` at the end; `Some(Err)` if the client went away.
    pub(crate) async fn chunk(&mut self) -> Option<Result<Bytes, ReadError>> {
        match self.stream.next().await? {
            Ok(bytes) => {
                if let Some(h) = &mut self.hasher {
                    h.update(&bytes);
                }
                self.len += bytes.len() as u64;
                Some(Ok(bytes))
            }
            Err(_) => Some(Err(ReadError::Broken)),
        }
    }

    /// The whole body, for JSON endpoints.
    pub(crate) async fn read_all(&mut self, cap: usize) -> Result<Vec<u8>, ReadError> {
        let mut out = Vec::new();
        while let Some(chunk) = self.chunk().await {
            let chunk = chunk?;
            if out.len() + chunk.len() > cap {
                return Err(ReadError::TooLarge);
            }
            out.extend_from_slice(&chunk);
        }
        Ok(out)
    }

    /// Reads whatever is left, so the digest covers the whole body.
    pub(crate) async fn drain(&mut self) {
        while let Some(Ok(_)) = self.chunk().await {}
    }

    /// Bytes read and their hex SHA-256 (empty when not hashed).
    pub(crate) fn digest(self) -> (u64, String) {
        let Some(hasher) = self.hasher else {
            return (self.len, String::new());
        };
        let digest = hasher.finalize();
        let mut hex = String::with_capacity(64);
        for byte in digest {
            use std::fmt::Write as _;
            let _ = write!(hex, "{byte:02x}");
        }
        (self.len, hex)
    }
}

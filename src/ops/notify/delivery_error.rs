//! Why a notice did not reach its channel, and whether trying again within the run may help.
//! Never holds a secret: URLs are shown as `scheme://host/…`, and the text of a library's
//! error is scrubbed of the channel's secrets before it is kept here.

use crate::manifest::secret_source::SecretError;

/// A failed delivery.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum DeliveryError {
    /// The channel's URL or password could not be read (set it for the next run).
    #[error("{0}")]
    Secret(#[from] SecretError),
    /// The URL read is not one a notice can be sent to.
    #[error("its URL {0}")]
    Url(&'static str),
    /// The receiver answered with an HTTP error.
    #[error("{shown} answered HTTP {status}")]
    Status {
        /// The receiver, as `scheme://host/…`.
        shown: String,
        /// Its status.
        status: u16,
    },
    /// No answer within the attempt's time.
    #[error("no answer within {0} s")]
    Timeout(u64),
    /// The connection failed or broke, or the relay answered with a transient error.
    #[error("{0}")]
    Transport(String),
    /// The relay refused the mail for good, or it could not be written.
    #[error("{0}")]
    Refused(String),
}

impl DeliveryError {
    /// Whether another attempt within the run may succeed: a receiver down, slow or
    /// overloaded may come back; a refusal, a bad URL or a missing secret will not.
    pub(crate) fn retryable(&self) -> bool {
        match self {
            Self::Status { status, .. } => *status >= 500 || matches!(status, 408 | 429),
            Self::Timeout(_) | Self::Transport(_) => true,
            Self::Secret(_) | Self::Url(_) | Self::Refused(_) => false,
        }
    }
}

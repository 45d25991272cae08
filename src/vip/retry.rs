//! Which calls to VIP are tried again, how long to wait between tries, and the loop that does
//! it: one policy for every call, so a launch can never be retried by accident and a retry is
//! never silent.
//!
//! The retry policy, by request class:
//!
//! | class | examples | retried on | never retried |
//! |---|---|---|---|
//! | read | every `GET` | connection errors, timeouts, 500, 502, 503, 504 | 4xx |
//! | idempotent write | mkdir, kill, rename, delete, uploads (the file is re-read) | connection errors, timeouts, 500, 502, 503, 504 | 4xx |
//! | launch | `POST /executions` | nothing: an ambiguous failure is resolved by looking the execution up by name | everything |
//!
//! Delays grow exponentially from [`RetryPolicy::first_delay`] (×2, with jitter) up to
//! [`RetryPolicy::max_delay`], for at most [`RetryPolicy::attempts`] attempts and at most
//! [`RetryPolicy::budget`] of waiting per call.
//!
//! Idempotent writes are retried on 500 too: VIP answers 500/8000 for its unexpected
//! exceptions, which are transient more often than not, and sending the same bytes to the
//! same path (or the same kill, rename, delete) again is safe.
//!
//! The jitter is random per process and per call: backon without its `std` feature seeds its
//! generator with a constant, so a fleet of cron jobs would retry in lockstep. The seed comes
//! from the standard library's per-process random hasher keys.
//!
//! These are the bounded retries of one call; `run` also waits out whole outages above them
//! (`execution.max_outage`, see `ops::runner::trouble`): once every call has been failing for
//! a while, a run's calls stop retrying and leave the outage to it (see [`super::health`]).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};

use super::health::Health;
use super::vip_error::VipError;

/// How calls are retried.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub attempts: usize,
    /// The first wait.
    pub first_delay: Duration,
    /// The longest wait.
    pub max_delay: Duration,
    /// The most waiting one call may do, in all.
    pub budget: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 6,
            first_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            budget: Duration::from_secs(120),
        }
    }
}

impl RetryPolicy {
    fn backoff(&self) -> ExponentialBuilder {
        ExponentialBuilder::default()
            .with_min_delay(self.first_delay)
            .with_max_delay(self.max_delay)
            .with_max_times(self.attempts.saturating_sub(1))
            .with_total_delay(Some(self.budget))
            .with_jitter()
            .with_jitter_seed(random_seed())
    }
}

/// A client's retries: its policy, and what the client heard lately (a call stops retrying
/// once its caller waits out outages itself and every call has been failing long enough).
#[derive(Debug, Clone)]
pub(super) struct Retrier {
    pub(super) policy: RetryPolicy,
    pub(super) health: Arc<Health>,
}

impl Retrier {
    /// Runs `attempt` as [`RetryPolicy::run`] does, noting each failure that looks like an
    /// outage, and handing a long one over to the caller instead of retrying it.
    pub(super) async fn run<T, F, Fut>(&self, class: Class, attempt: F) -> Result<T, VipError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, VipError>>,
    {
        let mut attempt = attempt;
        let health = &self.health;
        let mut noted = || {
            let call = attempt();
            async move {
                let result = call.await;
                if let Err(e) = &result
                    && e.is_unreachable()
                {
                    health.failed();
                }
                result
            }
        };
        if class == Class::Launch {
            return noted().await;
        }
        noted
            .retry(self.policy.backoff())
            .when(|e| class.retries(e) && !health.hands_over())
            .notify(retrying)
            .await
    }
}

/// A seed that differs between processes and between calls: the standard library keys each
/// `RandomState` from the OS's randomness (then per thread, incrementally).
fn random_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    hasher.finish()
}

/// Which retries a request may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Class {
    Read,
    IdempotentWrite,
    Launch,
}

impl Class {
    fn retries(self, error: &VipError) -> bool {
        match (self, error) {
            (Self::Launch, _) => false,
            (_, VipError::Transport { .. }) => true,
            (Self::Read | Self::IdempotentWrite, VipError::Api { status, .. }) => {
                matches!(status, 500 | 502 | 503 | 504)
            }
            _ => false,
        }
    }
}

/// Says that a call failed and will be tried again: a retry is never silent.
fn retrying(error: &VipError, wait: Duration) {
    tracing::warn!("{error}; trying again in {:.1} s", wait.as_secs_f64());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vip::vip_error::TransportKind;

    #[test]
    fn retry_classes() {
        let api = |status| VipError::Api {
            operation: "x".into(),
            status,
            code: None,
            message: String::new(),
        };
        let cut = VipError::Transport {
            operation: "x".into(),
            kind: TransportKind::Timeout,
        };
        assert!(Class::Read.retries(&api(500)));
        assert!(Class::Read.retries(&api(503)));
        assert!(!Class::Read.retries(&api(400)));
        assert!(Class::IdempotentWrite.retries(&api(500)));
        assert!(!Class::IdempotentWrite.retries(&api(400)));
        assert!(Class::IdempotentWrite.retries(&api(502)));
        assert!(Class::IdempotentWrite.retries(&cut));
        assert!(!Class::Launch.retries(&cut));
        assert!(!Class::Launch.retries(&api(503)));
    }

    #[test]
    fn seeds_differ_between_calls() {
        assert_ne!(random_seed(), random_seed());
    }
}

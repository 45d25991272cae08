//! What the client has heard from VIP over time, shared by every clone of a client: how
//! many answers the server itself gave, and since when every call has been failing.
//!
//! A run tells an outage from one item's trouble with it. Rounds of the run's loop alone
//! cannot: one call's own retries (about 15 s with the default policy) can absorb most of a
//! one-minute outage, so that the round which hears VIP again never saw a round of silence.
//! Failures are therefore tracked across calls, in time: "failing since 10:02:13" starts at
//! the first failed attempt after an answer and ends at the next answer.
//!
//! A runner that waits out outages itself (`run`) asks the client to stop retrying a call
//! once every call has been failing for [`Health::wait_out_after`]: the outage is then
//! handed to the run's own waiting (capped backoff, one line when it starts and one when it
//! ends), instead of being spent silently inside each call's retries. Short commands never
//! set it and keep their bounded retries.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A spell in which every call failed, from its first failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failing {
    /// When the first failed attempt was seen.
    pub since: Instant,
    /// The same, in epoch milliseconds (for the line the user reads).
    pub since_ms: i64,
}

/// Shared by every clone of a client.
#[derive(Debug, Default)]
pub struct Health {
    heard: AtomicU64,
    failing: Mutex<Option<Failing>>,
    /// Milliseconds of failing after which calls stop retrying; 0: never.
    hand_over_ms: AtomicU64,
}

impl Health {
    /// Notes an answer from the server itself: whatever was failing is over.
    pub(super) fn heard(&self) {
        self.heard.fetch_add(1, Ordering::Relaxed);
        *self.lock() = None;
    }

    /// Notes an attempt that failed the way an outage does (no answer, or a 5xx).
    pub(super) fn failed(&self) {
        self.lock().get_or_insert_with(|| Failing {
            since: Instant::now(),
            since_ms: crate::time::now_ms(),
        });
    }

    /// Answers heard so far.
    pub fn answers_heard(&self) -> u64 {
        self.heard.load(Ordering::Relaxed)
    }

    /// Since when every call has failed, if the last attempt failed.
    pub fn failing_since(&self) -> Option<Failing> {
        *self.lock()
    }

    /// From now on, a call stops retrying once every call has been failing for `after`.
    pub fn wait_out_after(&self, after: Duration) {
        let ms = u64::try_from(after.as_millis()).unwrap_or(u64::MAX).max(1);
        self.hand_over_ms.store(ms, Ordering::Relaxed);
    }

    /// Whether a call should stop retrying and leave the outage to its caller.
    pub(super) fn hands_over(&self) -> bool {
        let ms = self.hand_over_ms.load(Ordering::Relaxed);
        ms != 0
            && self
                .failing_since()
                .is_some_and(|f| f.since.elapsed() >= Duration::from_millis(ms))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Failing>> {
        // A panic while holding this lock leaves a plain value: still usable.
        self.failing
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failing_starts_at_the_first_failure_and_ends_at_an_answer() {
        let h = Health::default();
        assert_eq!(h.failing_since(), None);
        h.failed();
        let first = h.failing_since().expect("failing");
        h.failed();
        assert_eq!(h.failing_since(), Some(first), "the spell keeps its start");
        assert!(!h.hands_over(), "never hands over unless asked");
        h.wait_out_after(Duration::from_millis(1));
        std::thread::sleep(Duration::from_millis(5));
        assert!(h.hands_over());
        h.heard();
        assert_eq!(h.failing_since(), None);
        assert!(!h.hands_over());
        assert_eq!(h.answers_heard(), 1);
    }

    #[test]
    fn hands_over_only_after_the_given_time() {
        let h = Health::default();
        h.wait_out_after(Duration::from_secs(3600));
        h.failed();
        assert!(!h.hands_over());
    }
}

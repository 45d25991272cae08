//! One channel's queue of notices and the task that sends them, in order, so that a ping's
//! `/start` always reaches healthchecks before the same run's end.
//!
//! Each notice gets [`ATTEMPTS`] attempts of at most [`ATTEMPT_TIMEOUT`] each, a jittered
//! wait between them (a fleet of cron jobs does not retry in step), and no second attempt
//! when trying again cannot help (a refusal, a missing secret). A notice that still fails
//! stays at the head of the queue: the task waits for the next notice, then tries the head
//! again first. Nothing here ever blocks the run: [`Outbox::post`] only queues, and the run's
//! end waits for the task at most until a deadline, after which what is left goes to the
//! spool.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rand::{Rng, SeedableRng};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::ATTEMPT_TIMEOUT;
use super::channel::Channel;
use super::delivery_error::DeliveryError;
use crate::manifest::notify::NotifyEvent;
use crate::report::notice::Notice;

/// Attempts per notice within a run.
pub(crate) const ATTEMPTS: u32 = 3;
/// The wait before the second attempt (doubled before the third), before jitter.
const BACKOFF: Duration = Duration::from_secs(1);
/// Most stall notices a channel gets in one run: past them, the run's end says the rest.
const MAX_STALL_NOTICES: usize = 20;

/// A notice on its way to one channel.
#[derive(Debug, Clone)]
pub(crate) struct Letter {
    pub(crate) notice: Notice,
    /// The spool file it came from, when an earlier run could not send it.
    pub(crate) file: Option<PathBuf>,
    /// The runs that tried it before this one.
    pub(crate) tries: u32,
    /// Why this run's attempt failed, once it tried.
    pub(crate) failed: Option<String>,
}

impl Letter {
    pub(crate) fn new(notice: Notice) -> Self {
        Self {
            notice,
            file: None,
            tries: 0,
            failed: None,
        }
    }
}

#[derive(Default)]
struct Shared {
    queue: Mutex<VecDeque<Letter>>,
    wake: Notify,
    closed: AtomicBool,
    stalls: AtomicUsize,
}

impl Shared {
    fn queue(&self) -> std::sync::MutexGuard<'_, VecDeque<Letter>> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One channel's queue and its sending task.
pub(crate) struct Outbox {
    pub(crate) channel: Arc<Channel>,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl Outbox {
    /// Starts the channel's task (on the current tokio runtime).
    pub(crate) fn open(channel: Arc<Channel>, http: reqwest::Client) -> Self {
        let shared = Arc::new(Shared::default());
        let task = tokio::spawn(work(Arc::clone(&channel), http, Arc::clone(&shared)));
        Self {
            channel,
            shared,
            task,
        }
    }

    /// Queues `letter`. A stall queued behind others folds into the stall before it (one
    /// message for stalls close together), and past [`MAX_STALL_NOTICES`] is left to the
    /// run's end.
    pub(crate) fn post(&self, letter: Letter) {
        let stall = letter.notice.event == NotifyEvent::Stall && letter.file.is_none();
        if stall && self.shared.stalls.fetch_add(1, Ordering::Relaxed) >= MAX_STALL_NOTICES {
            tracing::info!(
                "notify: {}: more than {MAX_STALL_NOTICES} stalls in this run; the run's end tells the rest",
                self.channel.label
            );
            return;
        }
        let mut queue = self.shared.queue();
        // Not the head: it may be on its way.
        let back = (queue.len() >= 2)
            .then(|| queue.back_mut())
            .flatten()
            .filter(|b| {
                b.notice.event == NotifyEvent::Stall && b.file.is_none() && b.failed.is_none()
            });
        match back {
            Some(back) if stall => back.notice.absorb(&letter.notice),
            _ => queue.push_back(letter),
        }
        drop(queue);
        self.shared.wake.notify_one();
    }

    /// No more letters: the task ends once the queue is sent, or its head failed again.
    pub(crate) fn close(&self) {
        self.shared.closed.store(true, Ordering::SeqCst);
        self.shared.wake.notify_one();
    }

    /// Waits for the task until `deadline`, stopping it then; the letters not sent.
    pub(crate) async fn finish(self, deadline: Instant) -> (Arc<Channel>, Vec<Letter>) {
        let mut task = self.task;
        if tokio::time::timeout_at(deadline, &mut task).await.is_err() {
            task.abort();
            let _ = task.await;
        }
        let left = std::mem::take(&mut *self.shared.queue()).into();
        (self.channel, left)
    }
}

async fn work(channel: Arc<Channel>, http: reqwest::Client, shared: Arc<Shared>) {
    loop {
        let head = shared.queue().front_mut().map(|l| {
            // Counted as tried even if the run ends during the attempt.
            l.failed = Some("the run ended before it could be sent".into());
            l.notice.clone()
        });
        let Some(notice) = head else {
            if shared.closed.load(Ordering::SeqCst) {
                return;
            }
            shared.wake.notified().await;
            continue;
        };
        let event = notice.event;
        match deliver(&channel, &http, &notice).await {
            Ok(()) => {
                let sent = shared.queue().pop_front();
                if let Some(file) = sent.and_then(|l| l.file) {
                    let _ = std::fs::remove_file(file);
                }
                tracing::info!("notify: {}: told of the {event}", channel.label);
            }
            Err(e) => {
                if let Some(head) = shared.queue().front_mut() {
                    head.failed = Some(e.to_string());
                }
                tracing::warn!(
                    "notify: could not tell {} of the {event}: {e}; kept for the next run",
                    channel.label
                );
                if shared.closed.load(Ordering::SeqCst) {
                    return;
                }
                shared.wake.notified().await;
            }
        }
    }
}

/// Sends `notice` through `channel`, trying again while it may help.
async fn deliver(
    channel: &Channel,
    http: &reqwest::Client,
    notice: &Notice,
) -> Result<(), DeliveryError> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(super::random_u64());
    let mut attempt = 1;
    loop {
        let result = tokio::time::timeout(ATTEMPT_TIMEOUT, channel.send(http, notice))
            .await
            .unwrap_or(Err(DeliveryError::Timeout(ATTEMPT_TIMEOUT.as_secs())));
        match result {
            Ok(()) => return Ok(()),
            Err(e) if !e.retryable() || attempt == ATTEMPTS => return Err(e),
            Err(e) => {
                let wait = BACKOFF
                    .saturating_mul(1 << (attempt - 1))
                    .mul_f64(rng.random_range(0.5..1.5));
                tracing::info!(
                    "notify: {}, {}: {e}; trying again in {:.1} s",
                    channel.label,
                    notice.event,
                    wait.as_secs_f64()
                );
                tokio::time::sleep(wait).await;
                attempt += 1;
            }
        }
    }
}

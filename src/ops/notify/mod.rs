//! Notifications: telling a run's channels (`notify:`, or `--notify`) that it started, that
//! it ended and how, and that an execution stalled, without ever failing, blocking or slowing
//! the run beyond a bound.
//!
//! A [`Notifier`] belongs to one manifest's run. [`Notifier::begin`], called once the run
//! holds the manifest's lock, queues what earlier runs could not send (the spool), then the
//! start. During the run it is one more output of the loop's events (a
//! [`Listener`]): an item that ends as stalled is queued as it happens. [`Notifier::end`]
//! queues the end (a `failure` to channels that listen for failures, when the exit code is
//! not 0), waits for the channels at most [`END_BOUND`], and keeps in the spool what is left.
//! Each channel sends from its own queue and task (`outbox`), in order, with a timeout and
//! a few jittered attempts per notice; nothing the run does waits for them but that end.
//!
//! A run that finds another run of the manifest under way sends nothing (that run tells);
//! one that stops before it holds the lock (a key that cannot be read) tells its end alone.
//!
//! The files: `channel` (one channel, one attempt), `mail` (SMTP), `outbox` (a channel's
//! queue and retries), `spool` (what the next run sends), `redact` (URLs as messages show
//! them), `delivery_error`.

mod channel;
mod delivery_error;
mod mail;
mod outbox;
mod redact;
mod spool;

use std::sync::Arc;
use std::time::Duration;

use channel::Channel;
use outbox::{Letter, Outbox};
use spool::Spool;

use super::paths::Paths;
use super::runner::sink::Listener;
use crate::error::{Error, ExclusiveError};
use crate::manifest::Validated;
use crate::manifest::notify::{ChannelSpec, NotifyEvent};
use crate::report::notice::{ItemNote, Notice, RunFacts};
use crate::report::progress::{End, Event};
use crate::report::summary::Finished;
use crate::vip::failure::FailureClass;

/// One attempt's time, for HTTP and SMTP alike.
pub(crate) const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// The longest a run's end waits for its notifications: past it, what is left is kept for
/// the next run, so a receiver that is down or hangs adds at most this to a run.
pub const END_BOUND: Duration = Duration::from_secs(15);

/// The notifications of one manifest's run.
pub struct Notifier {
    run: RunFacts,
    channels: Vec<Arc<Channel>>,
    outboxes: Vec<Outbox>,
    spool: Spool,
    /// The run holds the lock and told its start.
    begun: bool,
    /// Secrets of the manifest, scrubbed from an error a notice quotes.
    secrets: Vec<String>,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier")
            .field("channels", &self.channels.len())
            .field("begun", &self.begun)
            .finish_non_exhaustive()
    }
}

impl Notifier {
    /// The notifications of `v`'s run, through `channels`, with its files in `paths`.
    pub fn new(v: &Validated, paths: &Paths, channels: Vec<ChannelSpec>, server: &str) -> Self {
        Self {
            run: RunFacts {
                id: run_id(),
                started_at: crate::time::now_ms(),
                manifest: v.file.display.clone(),
                name: v.name.clone(),
                pipeline: v.pipeline_id.clone(),
                server: server.to_owned(),
                host: hostname(),
                items: v.items.len(),
            },
            channels: channels
                .into_iter()
                .map(|c| Arc::new(Channel::new(c)))
                .collect(),
            outboxes: Vec::new(),
            spool: Spool::new(&paths.dir),
            begun: false,
            secrets: v.secrets.clone(),
        }
    }

    /// The run holds the manifest's lock, on `server`: queues what earlier runs could not
    /// send, oldest first, then the start.
    pub fn begin(&mut self, server: &str) {
        if self.channels.is_empty() {
            return;
        }
        server.clone_into(&mut self.run.server);
        self.begun = true;
        self.open();
        let ids: Vec<&str> = self.channels.iter().map(|c| c.id.as_str()).collect();
        let mut pending = self.spool.take(&ids, crate::time::now_ms());
        let start = Notice::start(self.run.clone(), self.run.started_at);
        for outbox in &self.outboxes {
            let earlier = pending.remove(&outbox.channel.id).unwrap_or_default();
            if !earlier.is_empty() {
                tracing::info!(
                    "notify: {}: {} notice(s) an earlier run could not send",
                    outbox.channel.label,
                    earlier.len()
                );
            }
            for letter in earlier {
                outbox.post(letter);
            }
            if outbox.channel.spec.wants(NotifyEvent::Start) {
                outbox.post(Letter::new(start.clone()));
            }
        }
    }

    /// The run ended with `result`: queues its end, waits for the channels at most
    /// [`END_BOUND`], and keeps what is left for the next run.
    pub async fn end(mut self, result: &Result<Finished, Error>) {
        if self.channels.is_empty()
            || (!self.begun && matches!(result, Err(Error::Exclusive(ExclusiveError::Held { .. }))))
        {
            return;
        }
        self.open();
        let now = crate::time::now_ms();
        let notice = match result {
            Ok(f) => Notice::end(
                self.run.clone(),
                now,
                f.exit_code(),
                Some(&f.summary.outcomes),
                None,
                // Absolute: a notice is read away from the folder the run started in.
                f.report
                    .as_ref()
                    .map(|r| crate::files::absolute(r))
                    .map(|r| r.display().to_string()),
            ),
            Err(e) => Notice::end(
                self.run.clone(),
                now,
                e.exit_code(),
                None,
                Some(crate::manifest::secrets::scrub(
                    &e.to_string(),
                    &self.secrets,
                )),
                None,
            ),
        };
        for outbox in &self.outboxes {
            let spec = &outbox.channel.spec;
            if notice.failed() && spec.wants(NotifyEvent::Failure) {
                outbox.post(Letter::new(notice.told_as(NotifyEvent::Failure)));
            } else if spec.wants(NotifyEvent::End) {
                outbox.post(Letter::new(notice.clone()));
            }
            outbox.close();
        }
        let deadline = tokio::time::Instant::now() + END_BOUND;
        let left = futures_util::future::join_all(
            std::mem::take(&mut self.outboxes)
                .into_iter()
                .map(|o| o.finish(deadline)),
        )
        .await;
        for (channel, letters) in left {
            if !letters.is_empty() {
                self.spool.keep(&channel.id, &channel.label, letters);
            }
        }
    }

    /// Starts each channel's task, once.
    fn open(&mut self) {
        if !self.outboxes.is_empty() {
            return;
        }
        // Installing the process-wide TLS provider fails harmlessly when one is set.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(ATTEMPT_TIMEOUT)
            .connect_timeout(ATTEMPT_TIMEOUT)
            // A redirect could carry the notice, or a hook's token, elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("vip-run/", env!("CARGO_PKG_VERSION")))
            .build();
        match http {
            Ok(http) => {
                self.outboxes = self
                    .channels
                    .iter()
                    .map(|c| Outbox::open(Arc::clone(c), http.clone()))
                    .collect();
            }
            Err(e) => tracing::warn!("notify: cannot set up HTTP, nothing is sent: {e}"),
        }
    }
}

/// An item that ends as stalled is told as it happens, to the channels that listen for
/// stalls: a relaunch may mend it, but a grid that holds jobs is worth knowing of early.
impl Listener for Notifier {
    fn event(&mut self, event: &Event) {
        let Event::ItemFinished {
            item,
            end,
            execution,
            class: Some(FailureClass::Stalled),
            exit_code,
        } = event
        else {
            return;
        };
        let headline = match end {
            End::Failed {
                headline,
                retry,
                explain,
            } if explain.is_empty() => format!("{headline}, {retry}"),
            End::Failed {
                headline,
                retry,
                explain,
            } => format!("{headline}, {retry} ({explain})"),
            other => other.to_string(),
        };
        let notice = Notice::stall(
            self.run.clone(),
            crate::time::now_ms(),
            ItemNote {
                key: item.clone(),
                class: Some(FailureClass::Stalled),
                exit_code: *exit_code,
                headline,
                execution: execution.clone(),
            },
        );
        for outbox in &self.outboxes {
            if outbox.channel.spec.wants(NotifyEvent::Stall) {
                outbox.post(Letter::new(notice.clone()));
            }
        }
    }
}

/// 64 random bits: the standard library's per-process hash keys, which the OS seeds
/// (enough for a run's id and a retry's jitter; nothing here is a secret).
fn random_u64() -> u64 {
    use std::hash::BuildHasher;
    std::collections::hash_map::RandomState::new().hash_one(crate::time::now_ms())
}

/// A random (version 4) UUID: healthchecks pairs a run's start and end by it (`rid`).
fn run_id() -> String {
    let (a, b) = (random_u64(), random_u64());
    let hex = format!(
        "{:016x}{:016x}",
        (a & 0xffff_ffff_ffff_0fff) | 0x4000,
        (b & 0x3fff_ffff_ffff_ffff) | 0x8000_0000_0000_0000
    );
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// This machine's name, for the notices and the mail's greeting.
fn hostname() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_are_version_4_uuids() {
        let id = run_id();
        assert_eq!(id.len(), 36, "{id}");
        assert_eq!(&id[14..15], "4", "{id}");
        assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"), "{id}");
        assert_ne!(run_id(), run_id());
    }
}

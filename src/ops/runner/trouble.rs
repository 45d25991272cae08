//! Trouble that must not end an unattended run: one item's calls failing (its upload, its
//! launch look-up, its download) park that item, which is tried again later in the same run
//! while the others go on; and an outage (nothing at all heard from VIP for a round) is
//! waited out with capped backoff, one line when it starts and one when it ends, for up to
//! `execution.max_outage` / `--max-outage`, after which the run stops with exit 5 and a
//! saved state the next run resumes from.
//!
//! An outage is told from an item's trouble by the client's count of answers heard: a round
//! of the run's loop in which calls failed and nothing at all was heard is an outage, and the
//! parks of that round are not held against the items (VIP was down, not their calls). So
//! that one call's retries cannot swallow an outage (and its two lines), calls stop retrying
//! once every call has been failing for [`HAND_OVER`] (`vip::health`), and the outage is
//! dated from the first of those failures.
//!
//! An item parked [`MAX_ITEM_TRIES`] times is given up on for this run: it is reported as
//! blocked, with the reason, once nothing else can progress.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::ops::interrupt::Interrupt;
use crate::time;
use crate::vip::{Client, VipError};

use super::sink::Sink;

/// Parks before an item is given up on for this run.
pub(crate) const MAX_ITEM_TRIES: u32 = 5;
/// The first wait of a parked item; doubled per park.
const ITEM_FIRST_WAIT: Duration = Duration::from_secs(2);
/// The longest wait of a parked item.
const ITEM_MAX_WAIT: Duration = Duration::from_secs(60);
/// The first wait of an outage; doubled per try.
const OUTAGE_FIRST_WAIT: Duration = Duration::from_secs(2);
/// The longest wait between two tries during an outage ("at most a few minutes").
const OUTAGE_MAX_WAIT: Duration = Duration::from_secs(120);

/// How long every call may fail before a call stops retrying and the outage is the run's
/// to wait out: past the blips a call's retries are for (the default policy retries for
/// about 15 s), short of the minute-long outages a run must tell and wait out.
pub(crate) const HAND_OVER: Duration = Duration::from_secs(10);

/// Whether `e` is trouble a run waits out (anything but a problem with the key, the groups or
/// the permissions, a configuration that cannot work, or a server certificate this machine
/// does not trust, which no waiting fixes: the run stops at once and says why).
pub(crate) fn is_trouble(e: &Error) -> Option<&VipError> {
    match e {
        Error::Vip(v)
            if !v.is_access_problem()
                && !matches!(v, VipError::Config(_) | VipError::Certificate { .. }) =>
        {
            Some(v)
        }
        _ => None,
    }
}

/// What waiting out an outage needs: the client (whether anything was heard), where to say
/// it, Ctrl-C, and how long an outage may last (`execution.max_outage` / `--max-outage`).
pub(crate) struct Waiting<'w> {
    pub(crate) client: &'w Client,
    pub(crate) sink: &'w Sink<'w>,
    pub(crate) interrupt: &'w Interrupt,
    pub(crate) at_most: Duration,
}

/// One item (or one input file) waiting after a failure.
#[derive(Debug, Clone)]
pub(crate) struct Parked {
    /// What failed, as the user reads it.
    pub(crate) reason: String,
    /// Parks so far.
    pub(crate) tries: u32,
    /// Not to be tried before this.
    pub(crate) until: Instant,
    /// Whether the failure was VIP failing or unreachable (exit 5), not a refusal.
    pub(crate) unreachable: bool,
}

impl Parked {
    /// Given up on for this run.
    pub(crate) fn given_up(&self) -> bool {
        self.tries >= MAX_ITEM_TRIES
    }
}

/// An outage under way.
#[derive(Debug, Clone)]
struct Outage {
    since: Instant,
    since_ms: i64,
    next_wait: Duration,
}

/// The run's trouble: parked items and inputs, and the outage, if any.
#[derive(Debug, Default)]
pub(crate) struct Trouble {
    /// Item key → its park.
    pub(crate) items: HashMap<String, Parked>,
    /// Remote input path → its park (the items using it wait too).
    pub(crate) uploads: HashMap<String, Parked>,
    outage: Option<Outage>,
    /// This round: when it started, answers heard before it, the keys parked in it, and
    /// the last failure.
    round_started: Option<(Instant, i64, u64)>,
    parked_this_round: Vec<(bool, String)>,
    last_failure: Option<VipError>,
}

fn park_in(map: &mut HashMap<String, Parked>, key: &str, e: &VipError) -> Parked {
    let entry = map.entry(key.to_owned()).or_insert_with(|| Parked {
        reason: String::new(),
        tries: 0,
        until: Instant::now(),
        unreachable: false,
    });
    entry.tries += 1;
    entry.reason = e.to_string();
    entry.unreachable = e.is_unreachable();
    let wait = ITEM_FIRST_WAIT
        .saturating_mul(1 << (entry.tries - 1).min(16))
        .min(ITEM_MAX_WAIT);
    entry.until = Instant::now() + wait;
    entry.clone()
}

/// `10:02:13 UTC` for epoch milliseconds.
fn clock(ms: i64) -> String {
    let (_, _, _, h, m, s) = time::utc_parts(ms.div_euclid(1000));
    format!("{h:02}:{m:02}:{s:02} UTC")
}

impl Trouble {
    /// Parks `key` after `e` (what it was doing: `what`); says so.
    pub(crate) fn park_item(&mut self, sink: &Sink<'_>, key: &str, what: &str, e: &VipError) {
        let parked = park_in(&mut self.items, key, e);
        self.parked_this_round.push((false, key.to_owned()));
        self.last_failure = Some(e.clone());
        sink.note(&format!(
            "{key}: {what} failed ({e}); {}",
            if parked.given_up() {
                "giving up on it for this run".to_owned()
            } else {
                format!(
                    "trying it again in {} while the others go on",
                    crate::duration::format(parked.until - Instant::now())
                )
            }
        ));
    }

    /// Parks the input uploaded to `remote` after `e`.
    pub(crate) fn park_upload(&mut self, sink: &Sink<'_>, remote: &str, e: &VipError) {
        let parked = park_in(&mut self.uploads, remote, e);
        self.parked_this_round.push((true, remote.to_owned()));
        self.last_failure = Some(e.clone());
        sink.note(&format!(
            "uploading {remote} failed ({e}); {}",
            if parked.given_up() {
                "the items that need it are blocked for this run".to_owned()
            } else {
                format!(
                    "trying again in {}",
                    crate::duration::format(parked.until - Instant::now())
                )
            }
        ));
    }

    /// Notes a failed call that parks nothing (a poll): it counts for telling an outage.
    pub(crate) fn failed_call(&mut self, e: &VipError) {
        tracing::info!("{e}; trying again on the next round");
        self.last_failure = Some(e.clone());
    }

    /// Whether `key` waits (parked, and not due yet or given up).
    pub(crate) fn item_waits(&self, key: &str) -> bool {
        self.items
            .get(key)
            .is_some_and(|p| p.given_up() || p.until > Instant::now())
    }

    /// Whether the item's upload `remote` has been given up on, or is not due again yet.
    pub(crate) fn upload_waits(&self, remote: &str) -> bool {
        self.uploads.contains_key(remote)
    }

    /// The uploads due for another try.
    pub(crate) fn uploads_due(&self) -> bool {
        self.uploads
            .values()
            .any(|p| !p.given_up() && p.until <= Instant::now())
    }

    /// Why `key` is blocked for this run, if it is: (reason, whether VIP was unreachable).
    pub(crate) fn blocked(&self, key: &str, uploads: &[String]) -> Option<(String, bool)> {
        if let Some(p) = self.items.get(key).filter(|p| p.given_up()) {
            return Some((p.reason.clone(), p.unreachable));
        }
        uploads.iter().find_map(|r| {
            self.uploads.get(r).filter(|p| p.given_up()).map(|p| {
                (
                    format!("its input {r} could not be uploaded: {}", p.reason),
                    p.unreachable,
                )
            })
        })
    }

    /// Forgets `key`'s park after a success.
    pub(crate) fn unpark_item(&mut self, key: &str) {
        self.items.remove(key);
    }

    /// Starts a round of the loop.
    pub(crate) fn round_start(&mut self, client: &Client) {
        self.round_started = Some((Instant::now(), time::now_ms(), client.answers_heard()));
        self.parked_this_round.clear();
        self.last_failure = None;
    }

    /// Ends a round: an outage starts (or goes on) when calls failed and nothing was heard,
    /// and is waited out; it ends when something is heard again. Errors once the outage has
    /// lasted longer than `at_most`.
    pub(crate) async fn round_end(&mut self, at: &Waiting<'_>) -> Result<(), Error> {
        let Some((started, started_ms, heard_before)) = self.round_started.take() else {
            return Ok(());
        };
        let heard = at.client.answers_heard() > heard_before;
        if heard {
            if let Some(outage) = self.outage.take() {
                at.sink.note(&format!(
                    "VIP answers again (unreachable from {} for {})",
                    clock(outage.since_ms),
                    crate::duration::format(round_to_seconds(outage.since.elapsed()))
                ));
            }
            return Ok(());
        }
        let Some(failure) = self.last_failure.take() else {
            return Ok(());
        };
        // Nothing got through: VIP is down, not these items' calls. Their parks do not count.
        for (upload, key) in std::mem::take(&mut self.parked_this_round) {
            let map = if upload {
                &mut self.uploads
            } else {
                &mut self.items
            };
            if let Some(p) = map.get_mut(&key) {
                p.tries -= 1;
                if p.tries == 0 {
                    map.remove(&key);
                }
            }
        }
        self.wait_out(at, started, started_ms, &failure).await
    }

    /// Waits out an outage that started at `started`, or stops the run past `at.at_most`.
    pub(crate) async fn wait_out(
        &mut self,
        at: &Waiting<'_>,
        started: Instant,
        started_ms: i64,
        failure: &VipError,
    ) -> Result<(), Error> {
        let first = self.outage.is_none();
        // The outage began with the first of the failures (perhaps in a call's retries,
        // before this round), not with the round that heard nothing.
        let (started, started_ms) = match at.client.health().failing_since() {
            Some(f) if f.since < started => (f.since, f.since_ms),
            _ => (started, started_ms),
        };
        let outage = self.outage.get_or_insert(Outage {
            since: started,
            since_ms: started_ms,
            next_wait: OUTAGE_FIRST_WAIT,
        });
        let lasted = outage.since.elapsed();
        let since_ms = outage.since_ms;
        if lasted >= at.at_most {
            return Err(Error::Outage {
                message: format!(
                    "VIP unreachable since {} ({}), longer than the {} allowed (execution.max_outage / --max-outage): stopping",
                    clock(since_ms),
                    crate::duration::format(round_to_seconds(lasted)),
                    crate::duration::format(at.at_most)
                ),
                last: failure.to_string(),
            });
        }
        let wait = outage
            .next_wait
            .min(at.at_most.saturating_sub(lasted))
            .max(Duration::from_millis(100));
        outage.next_wait = (outage.next_wait * 2).min(OUTAGE_MAX_WAIT);
        let line = format!(
            "VIP unreachable since {} ({failure}); next try in {}",
            clock(since_ms),
            crate::duration::format(round_to_seconds(wait))
        );
        if first {
            at.sink.note(&line);
        } else {
            tracing::info!("{line}");
        }
        at.interrupt.sleep(wait).await;
        // Whatever was parked is tried as soon as VIP is back.
        let now = Instant::now();
        for p in self.items.values_mut().chain(self.uploads.values_mut()) {
            if !p.given_up() {
                p.until = p.until.min(now);
            }
        }
        Ok(())
    }

    /// Whether the parked upload to `remote` is due for another try.
    pub(crate) fn upload_due(&self, remote: &str) -> bool {
        self.uploads
            .get(remote)
            .is_some_and(|p| !p.given_up() && p.until <= Instant::now())
    }

    /// Forgets the park of the upload to `remote` (sent, or found on VIP).
    pub(crate) fn unpark_upload(&mut self, remote: &str) {
        self.uploads.remove(remote);
    }
}

fn round_to_seconds(d: Duration) -> Duration {
    Duration::from_secs(d.as_secs().max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parks_back_off_and_give_up() {
        let mut map = HashMap::new();
        let e = VipError::Api {
            operation: "GET /x".into(),
            status: 500,
            code: Some(8000),
            message: "boom".into(),
        };
        let first = park_in(&mut map, "a", &e);
        assert!(first.unreachable && !first.given_up());
        let mut last = first;
        for _ in 1..MAX_ITEM_TRIES {
            last = park_in(&mut map, "a", &e);
        }
        assert!(last.given_up());
        assert!(last.until - Instant::now() <= ITEM_MAX_WAIT);
        assert_eq!(clock(0), "00:00:00 UTC");
    }
}

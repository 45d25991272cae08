//! Launching: the item's own results folder, its inputs as VIP receives them, and the one
//! `POST /executions` that is never retried blindly (quota refusals and a saturated engine
//! wait; an engine that failed to start it fails the item, with VIP's support to contact; an
//! ambiguous failure is resolved by name).
//!
//! Items are launched in batches of up to [`CALLS_AT_ONCE`], side by side: each launch is
//! its POST, after its results folder (made beside the item's uploads by
//! `prepare_results`, else just before), and paying VIP's latency once per batch rather
//! than once or twice per item is most of a batch's wall time at VIP's distance. A batch is
//! sent whole and its answers are then taken in manifest order, on the loop, exactly as one
//! launch's answer is. Once VIP has said the quota (or the platform) is full, the number of
//! this run's executions running then is taken as the cap (raised whenever VIP takes more):
//! a batch fills the room under it, and at the cap one launch at a time tries, so a full
//! quota costs one refused call per try, not a batch of them. That cap is this run's; the
//! account's, shared with the other runs of the machine, is the loop's `share` to keep, and
//! a 2001 refusal is handed to it ([`Launcher::take_quota_refusal`]) to learn from.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use futures_util::StreamExt;

use crate::error::Error;
use crate::manifest::{Item, Validated};
use crate::ops::Connection;
use crate::ops::interrupt::Interrupt;
use crate::report::progress::{End, Event, Wait};
use crate::time;
use crate::vip::vip_error::SUPPORT;
use crate::vip::wire::{CreateExecution, Execution};
use crate::vip::{Client, Meaning, VipError};

use super::sink::Sink;
use super::tracker::Tracker;
use super::transfers::Transfers;
use super::transfers::folders::{CALLS_AT_ONCE, Folders};
use super::trouble::Trouble;
use super::{QUOTA_WAIT, attempt_name, results_dir};

/// The launches: the quota's waits, and launches whose answer was lost.
#[derive(Default)]
pub(crate) struct Launcher {
    /// Not to launch before this: VIP said the quota (or the platform) was full.
    pub(crate) quota_until: Option<Instant>,
    /// Whether the wait for the quota was told (once per wait).
    waiting_reported: bool,
    /// How many of this run's executions were running when VIP last refused a launch for a
    /// full quota (or platform): batches of launches stay under it.
    quota_cap: Option<usize>,
    /// Item key → (execution name, when submitted) of a launch whose answer was lost and
    /// whose look-up by name failed too, or that VIP refused with 2003 (open: see
    /// `VipError::meaning`): looked up again before any new launch.
    unresolved: HashMap<String, (String, i64)>,
    /// Results folders being made ahead of their launches (see `prepare_results`), and
    /// those asked for so far.
    preparing: tokio::task::JoinSet<()>,
    prepared: HashSet<String>,
    /// VIP refused a launch of the last batch for the account's full quota (2001).
    quota_refused: Option<QuotaRefused>,
}

/// A launch VIP refused because the account's quota is full (2001).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct QuotaRefused {
    /// How many running executions VIP counted, when its message said.
    pub(crate) vip_count: Option<usize>,
}

/// Whether `item` needs a launch and nothing holds it back now (a park, an input not
/// uploaded yet).
pub(crate) fn may_launch_now(
    tracker: &Tracker<'_>,
    trouble: &Trouble,
    transfers: &Transfers,
    item: &Item,
) -> bool {
    tracker.needs_launch(item)
        && !trouble.item_waits(&item.key)
        && tracker
            .item_uploads(item)
            .iter()
            .all(|r| !trouble.upload_waits(r) && transfers.pool.on_vip.contains(r))
}

/// Whether `item` is given up on for this run.
pub(crate) fn is_blocked(tracker: &Tracker<'_>, trouble: &Trouble, item: &Item) -> bool {
    trouble
        .blocked(&item.key, &tracker.item_uploads(item))
        .is_some()
}

impl Launcher {
    /// Whether VIP refused a launch since the last call for the account's full quota (2001),
    /// and with what count.
    pub(crate) fn take_quota_refusal(&mut self) -> Option<QuotaRefused> {
        self.quota_refused.take()
    }

    /// How many launches may go in the next batch, `room` being the free slots of
    /// `max_parallel`.
    pub(crate) fn launch_batch(&self, room: usize, running: usize) -> usize {
        let under_cap = self
            .quota_cap
            .map_or(CALLS_AT_ONCE, |cap| cap.saturating_sub(running).max(1));
        room.min(CALLS_AT_ONCE).min(under_cap)
    }

    /// Launches the items at manifest positions `batch` side by side (see the module's
    /// comment); the answer for each, in order, as [`Self::launch`] gives it.
    pub(crate) async fn launch_all(
        &mut self,
        tracker: &mut Tracker<'_>,
        folders: &Arc<Folders>,
        sink: &mut Sink<'_>,
        batch: &[usize],
    ) -> Vec<Result<bool, Error>> {
        let v = tracker.manifest();
        let conn = tracker.connection();
        let mut answers: Vec<Option<Result<bool, Error>>> = batch.iter().map(|_| None).collect();
        let mut sends = Vec::new();
        for (n, &i) in batch.iter().enumerate() {
            let item = &v.items[i];
            if self.unresolved.contains_key(&item.key) {
                // A lost launch is looked up first: alone, as ever.
                answers[n] = Some(self.launch(tracker, folders, sink, item).await);
            } else {
                let (name, body) = submission(tracker, item);
                sends.push((n, name, body));
            }
        }
        let sent: Vec<_> = futures_util::stream::iter(sends.iter())
            .map(|(_, _, body)| submit(&conn.client, folders, body))
            .buffered(CALLS_AT_ONCE)
            .collect()
            .await;
        let mut refused = false;
        for ((n, name, _), sent) in sends.into_iter().zip(sent) {
            let item = &v.items[batch[n]];
            answers[n] = Some(match sent {
                Ok(sent) => {
                    let answer = self.submitted(tracker, sink, item, name, sent).await;
                    refused |= matches!(answer, Ok(false));
                    answer
                }
                Err(e) => Err(e),
            });
        }
        let running = tracker.lifecycle().indexes().running();
        if refused {
            self.quota_cap = Some(running);
        } else if self.quota_cap.is_some_and(|cap| running > cap) {
            // VIP took more than the cap it set before (others' executions ended meanwhile).
            self.quota_cap = Some(running);
        }
        answers
            .into_iter()
            .map(|a| a.expect("every item of the batch answered"))
            .collect()
    }

    /// Makes the results folders of the next items to launch while their inputs are still
    /// on their way (each input on VIP, or queued or in flight in the pool), so that each
    /// launch then costs its `POST` alone (not a mkdir, then the `POST`, one round trip after
    /// the other). Only for as many items as may launch now (`max_parallel` less what runs),
    /// not while VIP says the quota is full, at most [`CALLS_AT_ONCE`] folders at a time, and
    /// each folder once (the launch's own `ensure` finds it made, or waits for it). No call
    /// is added: the launch would make the folder anyway. A folder that fails here is made
    /// again by the launch, which says why if it fails again.
    pub(crate) fn prepare_results(
        &mut self,
        tracker: &Tracker<'_>,
        trouble: &Trouble,
        transfers: &Transfers,
        interrupt: &Interrupt,
    ) {
        while self.preparing.try_join_next().is_some() {}
        if interrupt.is_set() || self.quota_until.is_some() || !transfers.pool.any_uploads() {
            return;
        }
        let v: &Validated = tracker.manifest();
        let indexes = tracker.lifecycle().indexes();
        let mut room = (v.execution.max_parallel as usize).saturating_sub(indexes.running());
        let mut ready = Vec::new();
        for &i in &indexes.queue {
            if room == 0 || self.preparing.len() + ready.len() >= CALLS_AT_ONCE {
                break;
            }
            let item = &v.items[i];
            if !tracker.needs_launch(item)
                || trouble.item_waits(&item.key)
                || is_blocked(tracker, trouble, item)
            {
                continue;
            }
            room -= 1;
            if may_launch_now(tracker, trouble, transfers, item) {
                // Launched this round: its launch makes the folder.
                continue;
            }
            if !tracker
                .item_uploads(item)
                .iter()
                .all(|r| transfers.pool.on_vip.contains(r) || transfers.pool.uploading(r))
            {
                // An input parked after a failure, or not queued yet: not launched soon.
                continue;
            }
            let dir = results_dir(item, &attempt_name(item, tracker.attempt_count(&item.key)));
            if !self.prepared.contains(&dir) {
                ready.push(dir);
            }
        }
        let conn: &Connection = tracker.connection();
        for dir in ready {
            self.prepared.insert(dir.clone());
            let (client, folders) = (conn.client.clone(), Arc::clone(&transfers.folders));
            self.preparing.spawn(async move {
                let _ = folders.ensure(&client, &dir).await;
            });
        }
    }

    /// Launches `item`; returns false when the quota says to wait. A launch whose answer was
    /// lost, and whose look-up failed too, is looked up again first: a failed call here parks
    /// the item, and the item must not be launched twice.
    async fn launch(
        &mut self,
        tracker: &mut Tracker<'_>,
        folders: &Folders,
        sink: &mut Sink<'_>,
        item: &Item,
    ) -> Result<bool, Error> {
        if let Some((lost, since)) = self.unresolved.get(&item.key).cloned() {
            let found = find_by_name(tracker, &lost, since).await?;
            self.unresolved.remove(&item.key);
            if let Some(execution) = found {
                self.record_launch(tracker, sink, item, lost, since, &execution)?;
                return Ok(true);
            }
        }
        let (name, body) = submission(tracker, item);
        let sent = submit(&tracker.connection().client, folders, &body).await?;
        self.submitted(tracker, sink, item, name, sent).await
    }

    /// Takes VIP's answer to `item`'s launch named `name`, sent at `submitted` (epoch ms).
    async fn submitted(
        &mut self,
        tracker: &mut Tracker<'_>,
        sink: &mut Sink<'_>,
        item: &Item,
        name: String,
        (submitted, answer): (i64, Result<Execution, VipError>),
    ) -> Result<bool, Error> {
        let execution = match answer {
            Ok(e) => Some(e),
            Err(e)
                if matches!(
                    e.meaning(),
                    Meaning::QuotaFull | Meaning::PlatformFull | Meaning::EngineSaturated
                ) =>
            {
                // Nothing was created (VIP checks its caps, and its engine refuses a
                // saturated submission, before recording an execution): launch again later,
                // like any refusal for a full quota. 2003 is (open, see `VipError::meaning`):
                // its next launch looks the name up first, as after a lost answer, so that
                // even a VIP that recorded it runs it once.
                if e.meaning() == Meaning::EngineSaturated {
                    self.unresolved
                        .insert(item.key.clone(), (name.clone(), submitted));
                }
                if e.meaning() == Meaning::QuotaFull {
                    self.quota_refused = Some(QuotaRefused {
                        vip_count: e.running_executions(),
                    });
                }
                self.quota_until = Some(Instant::now() + QUOTA_WAIT);
                if self.waiting_reported {
                    return Ok(false);
                }
                self.waiting_reported = true;
                match e.meaning() {
                    Meaning::QuotaFull => sink.emit(&Event::Waiting {
                        item: item.key.clone(),
                        reason: Wait::QuotaFull,
                    }),
                    Meaning::PlatformFull => sink.emit(&Event::Waiting {
                        item: item.key.clone(),
                        reason: Wait::PlatformFull,
                    }),
                    _ => sink.emit(&Event::Waiting {
                        item: item.key.clone(),
                        reason: Wait::EngineSaturated,
                    }),
                }
                return Ok(false);
            }
            Err(e) if e.meaning() == Meaning::LaunchFailed => {
                // VIP's engine failed to start it (2004, see `VipError::meaning`): this item
                // fails, not retried in this run (VIP disables that engine and tells its
                // admins), and the others go on. A later run tries it again, after looking
                // its name up.
                let support = support_address(tracker).await;
                let vip = format!(
                    "{e}; VIP could not start the execution: contact VIP support ({support}), naming the execution {name}"
                );
                tracker.record_refusal(&item.key, End::refusal(&vip));
                sink.emit(&Event::ItemFinished {
                    item: item.key.clone(),
                    end: End::Refused { vip },
                    execution: None,
                    class: Some(crate::vip::failure::FailureClass::Platform),
                    exit_code: None,
                });
                return Ok(true);
            }
            Err(e) if e.is_unreachable() => {
                // Ambiguous: the execution may exist. Look it up by name before anything else;
                // until that look-up succeeds, the item is not launched again.
                self.unresolved
                    .insert(item.key.clone(), (name.clone(), submitted));
                let found = find_by_name(tracker, &name, submitted).await?;
                self.unresolved.remove(&item.key);
                found
            }
            Err(e) => {
                let vip = e.to_string();
                tracker.record_refusal(&item.key, End::refusal(&vip));
                sink.emit(&Event::ItemFinished {
                    item: item.key.clone(),
                    end: End::Refused { vip },
                    execution: None,
                    class: None,
                    exit_code: None,
                });
                return Ok(true);
            }
        };
        let Some(execution) = execution else {
            // Not created: the next cycle launches again.
            sink.note(&format!(
                "{}: the launch did not reach VIP; trying again",
                item.key
            ));
            return Ok(true);
        };
        self.record_launch(tracker, sink, item, name, submitted, &execution)?;
        Ok(true)
    }

    /// Records `execution` as `item`'s new attempt, named `name`, submitted at `submitted`.
    fn record_launch(
        &mut self,
        tracker: &mut Tracker<'_>,
        sink: &mut Sink<'_>,
        item: &Item,
        name: String,
        submitted: i64,
        execution: &Execution,
    ) -> Result<(), Error> {
        tracker.record_launch(&item.key, name.clone(), submitted, execution)?;
        self.waiting_reported = false;
        sink.emit(&Event::Launched {
            item: item.key.clone(),
            execution: execution.identifier.clone(),
            name,
        });
        Ok(())
    }
}

/// The name and the body of `item`'s next launch.
fn submission(tracker: &Tracker<'_>, item: &Item) -> (String, CreateExecution) {
    let attempt = tracker.attempt_count(&item.key);
    let name = attempt_name(item, attempt);
    let body = CreateExecution {
        name: Some(name.clone()),
        pipeline_identifier: Some(tracker.manifest().pipeline_id.clone()),
        input_values: Some(tracker.wire_inputs(item)),
        results_location: Some(results_dir(item, &name)),
    };
    (name, body)
}

/// Where VIP's support is reached: the address `GET /platform` gives (another VIP instance
/// has its own), else VIP's.
async fn support_address(tracker: &Tracker<'_>) -> String {
    match tracker.connection().client.platform().await {
        Ok(platform) => platform
            .email
            .filter(|e| e.contains('@'))
            .unwrap_or_else(|| SUPPORT.to_owned()),
        Err(_) => SUPPORT.to_owned(),
    }
}

/// After an ambiguous launch: the execution named `name` created since `since`, if any.
async fn find_by_name(
    tracker: &Tracker<'_>,
    name: &str,
    since: i64,
) -> Result<Option<Execution>, Error> {
    // Allow for clock skew between this machine and VIP.
    let skew = 10 * 60 * 1000;
    // One call (the client retries it): when VIP stays unreachable the error parks the
    // item, whose next launch looks the name up again first (`unresolved`), so a long
    // look-up loop here would only hide an outage from the run's rounds.
    match tracker.connection().client.executions(50).await {
        Ok(list) => Ok(list.into_iter().find(|e| {
            e.name == name
                && e.pipeline_identifier == tracker.manifest().pipeline_id
                && e.start_date.is_none_or(|d| d >= since - skew)
        })),
        Err(e) if e.is_unreachable() => Err(Error::Vip(VipError::Transport {
            operation: "GET /executions".into(),
            kind: crate::vip::TransportKind::Broken(format!(
                "cannot tell whether the last launch reached VIP: {e}"
            )),
        })),
        Err(e) => Err(e.into()),
    }
}

/// Sends one launch: its results folder made if missing, then the POST. Returns when the
/// POST was sent (epoch ms) and VIP's answer; an error making the folder means no POST.
async fn submit(
    client: &Client,
    folders: &Folders,
    body: &CreateExecution,
) -> Result<(i64, Result<Execution, VipError>), Error> {
    if let Some(results) = &body.results_location {
        folders.ensure(client, results).await?;
    }
    let submitted = time::now_ms();
    Ok((submitted, client.create_execution(body).await))
}

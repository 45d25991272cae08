//! The run's loop: launch what may be launched, poll, download what finished, until every
//! item is settled (or the run detaches, or Ctrl-C). Uploads and downloads run in the pool
//! meanwhile: a round starts when one ends (so an item is launched as soon as its own inputs
//! are on VIP), and otherwise at the poll's pace; it never spins. In a `run`, each round's trouble is
//! sorted by `trouble`: an item whose calls fail is parked while the others go on, and a
//! round in which nothing was heard from VIP is an outage, waited out. A launch also needs
//! one of the account's slots on this machine (`share`): the room for launches is the least
//! of `max_parallel`'s and the account's; a run waiting for a slot looks again every
//! [`SLOT_CHECK`], a few local file locks.

use std::time::{Duration, Instant};

use crate::error::Error;

use super::share::SLOT_CHECK;
use super::trouble::is_trouble;
use super::{FIRST_POLL, Outcome, Runner, Summary, record};

impl Runner<'_> {
    /// Runs to the end (or, with `detach`, until everything that can be launched now is
    /// launched; or to Ctrl-C). A tending runner (`download`) fetches what is finished now
    /// and does not wait for the rest.
    pub async fn drive(mut self, detach: bool) -> Result<Summary, Error> {
        let download_only = !self.launches;
        self.take_up().await?;
        // Executions taken up (adopted) hold the account's slots as launched ones do.
        self.share.tell_trouble(&mut self.sink);
        self.share
            .hold(&mut self.sink, self.tracker.running_count());
        let mut delay = FIRST_POLL;
        let mut first_round = true;
        // Polls keep their own pace: a transfer ending starts a round (to launch what it
        // allows) without polling sooner.
        let mut next_poll = Instant::now();
        let v = self.tracker.manifest();
        loop {
            if self.interrupt.is_set() || self.disk.is_some() {
                break;
            }
            self.trouble.round_start(&self.tracker.connection().client);
            // An `Unknown` whose grace ran out frees its slot and may be launched again.
            self.tracker.touch_lost();
            self.collect_transfers()?;
            // The disk refused a write: nothing more is launched or fetched (exit 6).
            if self.disk.is_some() {
                break;
            }
            if !download_only && first_round {
                self.upload_inputs().await?;
            } else if !download_only && self.trouble.uploads_due() {
                self.retry_uploads().await?;
            }
            self.start_transfers();
            first_round = false;
            self.share.round_start();
            // Launch what may be launched: the queue in manifest order, each item looked at
            // at most once a round, and nothing looked at while every slot is taken.
            if !download_only
                && self
                    .launcher
                    .quota_until
                    .is_none_or(|t| Instant::now() >= t)
            {
                self.launcher.quota_until = None;
                let mut from = 0;
                'launching: loop {
                    let running = self.tracker.running_count();
                    let room = (v.execution.max_parallel as usize).saturating_sub(running);
                    if self.interrupt.is_set() || room == 0 {
                        break;
                    }
                    let mut batch = Vec::new();
                    while batch.len() < self.launcher.launch_batch(room, running)
                        && let Some(i) = self.next_launchable(from)
                    {
                        from = i + 1;
                        batch.push(i);
                    }
                    if batch.is_empty() {
                        break;
                    }
                    // As many launches as the account's slots on this machine allow.
                    let first = &v.items[batch[0]].key;
                    let granted = self.share.reserve(&mut self.sink, first, batch.len());
                    let short = granted < batch.len();
                    batch.truncate(granted);
                    if batch.is_empty() {
                        break;
                    }
                    let answers = self
                        .launcher
                        .launch_all(
                            &mut self.tracker,
                            &self.transfers.folders,
                            &mut self.sink,
                            &batch,
                        )
                        .await;
                    let mut stop = false;
                    for (&i, launched) in batch.iter().zip(answers) {
                        let item = &v.items[i];
                        self.tracker.touch(&item.key);
                        match launched {
                            Ok(true) => self.trouble.unpark_item(&item.key),
                            Ok(false) => stop = true,
                            Err(e) if is_trouble(&e).is_some() => {
                                let why = is_trouble(&e).expect("checked").clone();
                                self.trouble
                                    .park_item(&self.sink, &item.key, "launching it", &why);
                                // VIP failing or unreachable after the call's retries is
                                // seldom this item's alone: stop launching for this round
                                // rather than spend the retries of every other item on it, so
                                // a round of an outage stays short and is recognised as one.
                                stop |= why.is_unreachable();
                            }
                            Err(e) => return Err(e),
                        }
                    }
                    // The slots of launches that did not happen go back; VIP's answers
                    // teach the account's limit.
                    let now_running = self.tracker.running_count();
                    let refused = self.launcher.take_quota_refusal();
                    let launched = now_running > running;
                    if self
                        .share
                        .settle(&mut self.sink, now_running, refused, launched)
                    {
                        // The account's slots here explain the refusal: the run waits for one
                        // of them, in the account's queue, not for VIP's quota wait.
                        self.launcher.quota_until = None;
                    }
                    if stop || short {
                        break 'launching;
                    }
                }
            }
            if !self.share.is_full() {
                // Waiting for no slot: the run leaves the account's queue.
                self.share.idle();
            }
            if !download_only {
                self.launcher.prepare_results(
                    &self.tracker,
                    &self.trouble,
                    &self.transfers,
                    &self.interrupt,
                );
            }
            let waiting_to_launch = !download_only
                && self.tracker.lifecycle().indexes().queue.iter().any(|&i| {
                    let item = &v.items[i];
                    self.tracker.needs_launch(item) && !self.is_blocked(item)
                });
            if detach
                && (!waiting_to_launch
                    || self.launcher.quota_until.is_some()
                    || self.share.is_full()
                    || self.tracker.running_count() >= v.execution.max_parallel as usize)
            {
                break;
            }
            let poll_due = Instant::now() >= next_poll;
            let running_before = self.tracker.running_count();
            let changed = poll_due
                && self
                    .tracker
                    .poll(&mut self.sink, self.launches.then_some(&mut self.trouble))
                    .await?;
            if self.tracker.running_count() < running_before {
                // A slot freed up: the quota may allow a launch now.
                self.launcher.quota_until = None;
            }
            // The slots of executions that ended go back to the account's other runs.
            self.share
                .hold(&mut self.sink, self.tracker.running_count());
            // Download what finished (the finished items not handled yet, in manifest order):
            // queued for the pool, the item said finished when its download is recorded.
            let mut from = 0;
            while let Some(i) = self
                .tracker
                .lifecycle()
                .indexes()
                .finished
                .range(from..)
                .next()
                .copied()
            {
                from = i + 1;
                if self.interrupt.is_set() {
                    break;
                }
                let item = &v.items[i];
                if self.trouble.item_waits(&item.key) || self.transfers.pool.downloading(&item.key)
                {
                    continue;
                }
                if self.tracker.needs_download(item) {
                    self.queue_download(i);
                } else {
                    self.item_home(i)?;
                }
            }
            self.start_transfers();
            // `download` fetches what is finished now; it does not wait for the rest.
            if download_only {
                self.finish_transfers().await?;
                break;
            }
            // Settled for good items are left out: only the others can keep the run going.
            let done = self.transfers.pool.idle()
                && self
                    .tracker
                    .lifecycle()
                    .indexes()
                    .unsettled
                    .iter()
                    .all(|&i| {
                        let item = &v.items[i];
                        match self.tracker.outcome_of(item, &self.trouble) {
                            Outcome::InProgress => false,
                            Outcome::NotLaunched => download_only,
                            Outcome::Failed(_) | Outcome::TimedOut => {
                                !self.tracker.needs_launch(item)
                            }
                            // Finished, its download parked after a failure: tried again when
                            // the park ends (given up on, it is `Blocked`). A park that ended
                            // after this round's downloads were queued leaves the item among the
                            // finished not handled yet: the next round fetches it.
                            Outcome::Done
                            | Outcome::DoneWithProblems(_)
                            | Outcome::NotDownloaded(_) => {
                                !self.trouble.item_waits(&item.key)
                                    && !self.tracker.lifecycle().indexes().finished.contains(&i)
                                    && !self.transfers.pool.downloading(&item.key)
                            }
                            // Given up on for this run (blocked, parked too often).
                            Outcome::Blocked { .. } => true,
                        }
                    });
            if done {
                break;
            }
            // Nothing heard from VIP this round: waited out here, or the run stops (exit 5).
            self.round_end().await?;
            let running = self.tracker.running_count();
            self.sink.status_line(&format!("{running} running"));
            if poll_due {
                let ceiling = self.tracker.poll_ceiling();
                delay = if changed {
                    FIRST_POLL
                } else {
                    (delay * 3 / 2).min(ceiling)
                };
                next_poll = Instant::now() + delay;
            }
            let until_poll = next_poll.saturating_duration_since(Instant::now());
            let wait = match self.launcher.quota_until {
                Some(t) => until_poll.min(
                    t.saturating_duration_since(Instant::now())
                        .max(Duration::from_millis(100)),
                ),
                None => until_poll,
            };
            let wait = if self.share.is_full() {
                wait.min(SLOT_CHECK)
            } else {
                wait
            };
            self.wait_for_transfers(wait).await;
        }
        if self.interrupt.is_set() || self.disk.is_some() {
            self.abort_transfers().await?;
        } else {
            // `--detach`: what is in flight or queued is seen through and recorded.
            self.finish_transfers().await?;
        }
        self.tracker.save()?;
        let interrupted = self.interrupt.is_set();
        let outcomes = self.tracker.outcomes(&self.trouble);
        record::write_record(&self.tracker, &outcomes)?;
        let junit = record::junit_cases(&self.tracker, &outcomes);
        let retried = outcomes
            .iter()
            .filter_map(|(k, _)| self.tracker.retry_note(k).map(|r| (k.clone(), r)))
            .collect();
        Ok(Summary {
            outcomes,
            junit,
            interrupted,
            disk: self.disk.take(),
            retried,
        })
    }
}

//! The run's loop: launch what may be launched, poll, download what finished, until every
//! item is settled (or the run detaches, or Ctrl-C). Uploads and downloads run in the pool
//! meanwhile: a round starts when one ends (so an item is launched as soon as its own inputs
//! are on VIP), and otherwise at the poll's pace; it never spins. In a `run`, each round's trouble is
//! sorted by `trouble`: an item whose calls fail is parked while the others go on, and a
//! round in which nothing was heard from VIP is an outage, waited out.

use std::time::{Duration, Instant};

use crate::error::Error;
use crate::manifest::Item;
use crate::report::run::Event;

use super::lifecycle::Phase;
use super::{FIRST_POLL, Mode, Outcome, Runner, Summary, pool, results_dir};

impl Runner<'_> {
    /// Takes up what is on VIP (see `adopt`); in a `run`, an outage here is waited out like
    /// any other.
    async fn take_up(&mut self) -> Result<(), Error> {
        let (started, started_ms) = (Instant::now(), crate::time::now_ms());
        loop {
            match self.prepare().await {
                Ok(()) => return Ok(()),
                Err(e) if self.waits_out_trouble() && Self::is_trouble(&e).is_some() => {
                    let why = Self::is_trouble(&e).expect("checked").clone();
                    self.wait_out(started, started_ms, &why).await?;
                    if self.interrupt.is_set() {
                        return Ok(());
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Whether `item` is given up on for this run.
    pub(super) fn is_blocked(&self, item: &Item) -> bool {
        self.blocked(&item.key, &self.item_uploads(item)).is_some()
    }

    /// Whether `item` needs a launch and nothing holds it back now (a park, an input not
    /// uploaded yet).
    pub(super) fn may_launch_now(&self, item: &Item) -> bool {
        self.needs_launch(item)
            && !self.item_waits(&item.key)
            && self
                .item_uploads(item)
                .iter()
                .all(|r| !self.upload_waits(r) && self.pool.on_vip.contains(r))
    }

    /// `item` (at manifest position `i`) is settled for this run: said once.
    pub(super) fn item_home(&mut self, i: usize) {
        let item = &self.v.items[i];
        let home = match self.home_proof(item) {
            Some(proof) => Phase::Home(proof),
            None => Phase::NotDownloaded,
        };
        self.advance(i, home);
        // Settled: what the poll kept for its download is not needed any more.
        if let Some(a) = self.current(&item.key) {
            let id = a.execution_id.clone();
            self.returned.remove(&id);
        }
        let result = match self.outcome_of(item) {
            Outcome::DoneWithProblems(p) => {
                format!("finished; not all outputs downloaded: {p}")
            }
            _ => "finished".to_owned(),
        };
        self.emit(&Event::ItemFinished {
            item: item.key.clone(),
            result,
            execution: self.current(&item.key).map(|a| a.execution_id.clone()),
        });
    }

    /// Queues the download of `item`'s outputs (at manifest position `i`).
    fn queue_download(&mut self, i: usize, item: &Item) {
        let (Some(folder), Some(attempt)) = (item.download.clone(), self.current(&item.key)) else {
            return;
        };
        let (execution_id, results) = (
            attempt.execution_id.clone(),
            results_dir(item, &attempt.name),
        );
        let job = pool::DownloadJob {
            key: item.key.clone(),
            index: i,
            returned: self.returned.remove(&execution_id),
            execution_id,
            folder,
            results,
            previous: self.item_state(&item.key).outputs.clone(),
            verify: self.mode == Mode::Tend,
            aside: self
                .paths
                .superseded
                .join(crate::manifest::identity::safe_key(&item.key)),
            owner: std::sync::Arc::clone(&self.owner),
        };
        self.pool.queue_download(job);
        self.advance(i, Phase::Downloading);
    }

    /// Runs to the end (or, with `detach`, until everything that can be launched now is
    /// launched; or to Ctrl-C). A tending runner (`download`) fetches what is finished now
    /// and does not wait for the rest.
    pub async fn run(mut self, detach: bool) -> Result<Summary, Error> {
        let download_only = self.mode != Mode::Launch;
        self.take_up().await?;
        let mut delay = FIRST_POLL;
        let mut first_round = true;
        // Polls keep their own pace: a transfer ending starts a round (to launch what it
        // allows) without polling sooner.
        let mut next_poll = Instant::now();
        let v = self.v;
        loop {
            if self.interrupt.is_set() || self.disk.is_some() {
                break;
            }
            self.round_start();
            // An `Unknown` whose grace ran out frees its slot and may be launched again.
            self.touch_lost();
            self.collect_transfers()?;
            // The disk refused a write: nothing more is launched or fetched (exit 6).
            if self.disk.is_some() {
                break;
            }
            if !download_only && first_round {
                self.upload_inputs().await?;
            } else if !download_only && self.uploads_due() {
                self.retry_uploads().await?;
            }
            self.start_transfers();
            first_round = false;
            // Launch what may be launched: the queue in manifest order, each item looked at
            // at most once a round, and nothing looked at while every slot is taken.
            if !download_only && self.quota_until.is_none_or(|t| Instant::now() >= t) {
                self.quota_until = None;
                let mut from = 0;
                'launching: loop {
                    let room = (self.v.execution.max_parallel as usize)
                        .saturating_sub(self.running_count());
                    if self.interrupt.is_set() || room == 0 {
                        break;
                    }
                    let mut batch = Vec::new();
                    while batch.len() < self.launch_batch(room)
                        && let Some(i) = self.next_launchable(from)
                    {
                        from = i + 1;
                        batch.push(i);
                    }
                    if batch.is_empty() {
                        break;
                    }
                    let answers = self.launch_all(&batch).await;
                    let mut stop = false;
                    for (&i, launched) in batch.iter().zip(answers) {
                        let item = &v.items[i];
                        self.touch(&item.key);
                        match launched {
                            Ok(true) => self.unpark_item(&item.key),
                            Ok(false) => stop = true,
                            Err(e)
                                if self.waits_out_trouble() && Self::is_trouble(&e).is_some() =>
                            {
                                let why = Self::is_trouble(&e).expect("checked").clone();
                                self.park_item(&item.key, "launching it", &why);
                                // VIP failing or unreachable after the call's retries is
                                // seldom this item's alone: stop launching for this round
                                // rather than spend the retries of every other item on it, so
                                // a round of an outage stays short and is recognised as one.
                                stop |= why.is_unreachable();
                            }
                            Err(e) => return Err(e),
                        }
                    }
                    if stop {
                        break 'launching;
                    }
                }
            }
            if !download_only {
                self.prepare_results();
            }
            let waiting_to_launch = !download_only
                && self.life.indexes().queue.iter().any(|&i| {
                    let item = &v.items[i];
                    self.needs_launch(item) && !self.is_blocked(item)
                });
            if detach
                && (!waiting_to_launch
                    || self.quota_until.is_some()
                    || self.running_count() >= self.v.execution.max_parallel as usize)
            {
                break;
            }
            let poll_due = Instant::now() >= next_poll;
            let running_before = self.running_count();
            let changed = poll_due && self.poll().await?;
            if self.running_count() < running_before {
                // A slot freed up: the quota may allow a launch now.
                self.quota_until = None;
            }
            // Download what finished (the finished items not handled yet, in manifest order):
            // queued for the pool, the item said finished when its download is recorded.
            let mut from = 0;
            while let Some(i) = self.life.indexes().finished.range(from..).next().copied() {
                from = i + 1;
                if self.interrupt.is_set() {
                    break;
                }
                let item = &v.items[i];
                if self.item_waits(&item.key) || self.pool.downloading(&item.key) {
                    continue;
                }
                if self.needs_download(item) {
                    self.queue_download(i, item);
                } else {
                    self.item_home(i);
                }
            }
            self.start_transfers();
            // `download` fetches what is finished now; it does not wait for the rest.
            if download_only {
                self.finish_transfers().await?;
                break;
            }
            // Settled for good items are left out: only the others can keep the run going.
            let done = self.pool.idle()
                && self.life.indexes().unsettled.iter().all(|&i| {
                    let item = &v.items[i];
                    match self.outcome_of(item) {
                        Outcome::InProgress => false,
                        Outcome::NotLaunched => download_only,
                        Outcome::Failed(_) => !self.needs_launch(item),
                        // Finished, its download parked after a failure: tried again when
                        // the park ends (given up on, it is `Blocked`). A park that ended
                        // after this round's downloads were queued leaves the item among the
                        // finished not handled yet: the next round fetches it.
                        Outcome::Done
                        | Outcome::DoneWithProblems(_)
                        | Outcome::NotDownloaded(_) => {
                            !self.item_waits(&item.key)
                                && !self.life.indexes().finished.contains(&i)
                                && !self.pool.downloading(&item.key)
                        }
                        // Given up on for this run (blocked, parked too often).
                        _ => true,
                    }
                });
            if done {
                break;
            }
            // Nothing heard from VIP this round: waited out here, or the run stops (exit 5).
            self.round_end().await?;
            let running = self.running_count();
            self.status_line(&format!("{running} running"));
            if poll_due {
                let ceiling = self.poll_ceiling();
                delay = if changed {
                    FIRST_POLL
                } else {
                    (delay * 3 / 2).min(ceiling)
                };
                next_poll = Instant::now() + delay;
            }
            let until_poll = next_poll.saturating_duration_since(Instant::now());
            let wait = match self.quota_until {
                Some(t) => until_poll.min(
                    t.saturating_duration_since(Instant::now())
                        .max(Duration::from_millis(100)),
                ),
                None => until_poll,
            };
            self.wait_for_transfers(wait).await;
        }
        if self.interrupt.is_set() || self.disk.is_some() {
            self.abort_transfers().await?;
        } else {
            // `--detach`: what is in flight or queued is seen through and recorded.
            self.finish_transfers().await?;
        }
        self.save()?;
        let interrupted = self.interrupt.is_set();
        let outcomes = self.outcomes();
        self.write_record(&outcomes)?;
        let junit = self.junit_cases(&outcomes);
        Ok(Summary {
            outcomes,
            junit,
            interrupted,
            disk: self.disk.take(),
        })
    }
}

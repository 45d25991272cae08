//! Watching executions: one list call per cycle for everything active (VIP's list is most
//! recent first), status changes recorded with when they were seen, job counts, the end of a
//! failure's standard error, the per-execution time limit, and cancelling on purpose.
//!
//! The reads of one execution each (those beyond VIP's list, and the full execution of one
//! whose status moved, for its jobs and files) go side by side, [`CALLS_AT_ONCE`] at a time;
//! what they say is then taken in order, on the loop. A finished execution's files, read
//! here, are kept for its download, so the download does not ask for them again.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures_util::StreamExt;

use crate::error::Error;
use crate::report::run::Event;
use crate::time;
use crate::vip::wire::{Execution, ExecutionStatus, JobClass};
use crate::vip::{Client, LogStream, Meaning, VipError};

use super::folders::CALLS_AT_ONCE;
use super::{FIRST_POLL, LIST_THRESHOLD, Mode, Runner, jobs_counts, stderr_tail};

impl Runner<'_> {
    /// The longest wait between polls: a tenth of the age of the oldest active execution,
    /// within `FIRST_POLL..poll_interval`. Hours-long VIP runs are polled every
    /// `poll_interval`; a short run's end is noticed within 10% of its duration.
    pub(super) fn poll_ceiling(&self) -> Duration {
        let interval = self.v.execution.poll_interval.max(FIRST_POLL);
        let now = time::now_ms();
        let oldest = self
            .life
            .indexes()
            .active
            .keys()
            .filter_map(|k| self.current(k))
            .map(|a| now - a.launched_at)
            .max()
            .unwrap_or(0);
        (Duration::from_millis(u64::try_from(oldest).unwrap_or(0)) / 10).clamp(FIRST_POLL, interval)
    }

    /// Refreshes every active execution's status; returns whether anything changed.
    pub(super) async fn poll(&mut self) -> Result<bool, Error> {
        let active = self.active(None);
        if active.is_empty() {
            return Ok(false);
        }
        let mut fresh: HashMap<String, Execution> = HashMap::new();
        // What this poll costs: list calls, then calls for one execution each.
        let (mut lists, mut singles) = (0, 0);
        if active.len() > LIST_THRESHOLD {
            lists += 1;
            // One call for up to 500 executions (VIP's list is most recent first). A failed
            // list is tried again next round (a `run`), or ends a short command.
            match self
                .conn
                .client
                .executions(crate::vip::client::MAX_LIST_LIMIT)
                .await
            {
                Ok(list) => {
                    for e in list {
                        fresh.insert(e.identifier.clone(), e);
                    }
                }
                Err(e) if self.waits_out_trouble() && !e.is_access_problem() => {
                    self.failed_call(&e);
                    self.say_poll_cost(active.len(), lists, singles);
                    return Ok(false);
                }
                Err(e) => return Err(e.into()),
            }
        }
        // Beyond VIP's list (500 executions, no offset), one call per execution is all VIP
        // allows.
        let beyond: Vec<String> = active
            .iter()
            .filter(|(_, id)| !fresh.contains_key(id))
            .map(|(_, id)| id.clone())
            .collect();
        singles += beyond.len();
        let mut read_alone = read_executions(&self.conn.client, beyond).await;
        // Job counts and files come with the full execution; the list's summaries have
        // none. An execution made of several jobs (a list given to a parameter) is asked for
        // its jobs every round while it runs, so per-job progress shows: one call more per
        // such execution, none for the others.
        let wanted: Vec<String> = active
            .iter()
            .filter(|(key, id)| {
                fresh.get(id).is_some_and(|summary| {
                    let status = &summary.status;
                    summary.jobs.is_empty()
                        && (status.is_terminal()
                            || (*status == ExecutionStatus::Running && self.has_lists(key))
                            || self
                                .current(key)
                                .is_some_and(|a| a.status != status.as_str()))
                })
            })
            .map(|(_, id)| id.clone())
            .collect();
        singles += wanted.len();
        let mut full_of: HashMap<String, Execution> = read_executions(&self.conn.client, wanted)
            .await
            .into_iter()
            .filter_map(|(id, read)| read.ok().map(|e| (id, e)))
            .collect();
        let mut changed = false;
        let polled = active.len();
        for (key, id) in active {
            let (full, read_whole) = match fresh.remove(&id) {
                Some(summary) => match full_of.remove(&id) {
                    Some(whole) => (whole, true),
                    None => (summary, false),
                },
                None => match read_alone.remove(&id).expect("read") {
                    Ok(e) => (e, true),
                    Err(e) if e.meaning() == Meaning::Gone => {
                        self.mark(&key, "Killed");
                        self.emit(&Event::Warning {
                            message: format!("{key}: execution {id} was deleted on VIP"),
                        });
                        changed = true;
                        continue;
                    }
                    // This execution's status is asked again next round.
                    Err(e) if self.waits_out_trouble() && !e.is_access_problem() => {
                        self.failed_call(&e);
                        continue;
                    }
                    Err(e) => return Err(e.into()),
                },
            };
            let status = full.status.clone();
            if super::decide::is_lost(&status) {
                self.unknown_since
                    .entry(id.clone())
                    .or_insert_with(Instant::now);
            }
            if status.is_terminal()
                && read_whole
                && self.item_of(&key).is_some_and(|i| i.download.is_some())
            {
                // Its files, for the download (see `drive`), which takes them out again: an
                // item that downloads nothing keeps nothing here.
                if let Some(files) = &full.returned_files {
                    self.returned.insert(id.clone(), files.clone());
                }
            }
            let now = time::now_ms();
            // Only a change is written down (and journaled).
            let is_new = self
                .current(&key)
                .is_some_and(|a| a.status != status.as_str());
            let (done, failed, total) = jobs_counts(&full);
            let jobs_moved = total > 1
                && self.jobs_seen.insert(key.clone(), (done, failed)) != Some((done, failed));
            let status_event = || Event::Status {
                item: key.clone(),
                execution: id.clone(),
                status: status.to_string(),
                jobs_done: done,
                jobs_failed: failed,
                jobs_total: total,
            };
            if jobs_moved && !is_new {
                self.emit(&status_event());
            }
            if is_new {
                let state = self.state.item_mut(&key).expect("reconciled");
                state
                    .attempts
                    .last_mut()
                    .expect("active")
                    .observe(status.as_str(), now);
                changed = true;
                self.dirty = true;
                self.emit(&status_event());
                if matches!(
                    status,
                    ExecutionStatus::ExecutionFailed
                        | ExecutionStatus::InitializationFailed
                        | ExecutionStatus::Killed
                ) {
                    let tail = self.failure_log(&id, &full).await;
                    let logs = self.keep_failure_logs(&key, &full).await;
                    let state = self.state.item_mut(&key).expect("reconciled");
                    let attempt = state.attempts.last_mut().expect("active");
                    attempt.stderr_tail = tail;
                    attempt.logs = logs;
                }
            }
            // The time limit.
            let timeout = i64::try_from(self.v.execution.timeout.as_millis()).unwrap_or(i64::MAX);
            let over = self.current(&key).is_some_and(|a| {
                !a.status.is_empty()
                    && !Self::status_of(a).is_terminal()
                    && now - a.launched_at > timeout
            });
            if over {
                let state = self.state.item_mut(&key).expect("reconciled");
                state.attempts.last_mut().expect("active").timed_out = true;
                self.dirty = true;
                changed = true;
                if self.v.execution.kill_on_timeout
                    && self.mode != Mode::ReadOnly
                    && let Err(e) = self.conn.client.kill(&id).await
                {
                    self.emit(&Event::Warning {
                        message: format!("{key}: could not kill {id}: {e}"),
                    });
                }
                self.emit(&Event::ItemFinished {
                    item: key.clone(),
                    result: format!(
                        "timed out after {}{}",
                        crate::duration::format(self.v.execution.timeout),
                        if self.v.execution.kill_on_timeout {
                            ", killed"
                        } else {
                            ", left running on VIP"
                        }
                    ),
                    execution: Some(id.clone()),
                });
            }
            if is_new || over {
                self.touch(&key);
            }
        }
        self.say_poll_cost(polled, lists, singles);
        self.save_if_dirty()?;
        Ok(changed)
    }

    /// Whether `key`'s inputs hold a list, so its execution may have several jobs.
    fn has_lists(&self, key: &str) -> bool {
        self.item_of(key).is_some_and(|i| {
            i.inputs
                .values()
                .any(|w| matches!(w, crate::manifest::InputWire::List(_)))
        })
    }

    /// The item whose key is `key`.
    fn item_of(&self, key: &str) -> Option<&crate::manifest::Item> {
        self.life.position(key).and_then(|i| self.v.items.get(i))
    }

    /// Says under `-v` what a poll costs in calls, when that changes.
    fn say_poll_cost(&mut self, active: usize, lists: usize, singles: usize) {
        if self.poll_cost != Some((lists, singles)) {
            self.poll_cost = Some((lists, singles));
            tracing::info!(
                "polling {active} active executions costs {} calls a cycle: {lists} list, {singles} for one execution each",
                lists + singles
            );
        }
    }

    pub(super) fn mark(&mut self, key: &str, status: &str) {
        if let Some(a) = self.state.item_mut(key).and_then(|s| s.attempts.last_mut()) {
            a.observe(status, time::now_ms());
            self.dirty = true;
        }
        self.touch(key);
    }

    /// The end of the failed jobs' standard error.
    pub(super) async fn failure_log(&self, id: &str, e: &Execution) -> Option<String> {
        let failed: Vec<u64> = e
            .jobs
            .iter()
            .filter(|(_, j)| j.class() == JobClass::Failed)
            .filter_map(|(k, _)| k.parse().ok())
            .collect();
        if let Some(first) = failed.first()
            && let Ok(Some(text)) = self
                .conn
                .client
                .job_log(id, *first, LogStream::Stderr)
                .await
        {
            return Some(stderr_tail(&text));
        }
        match self.conn.client.log(id, LogStream::Stderr).await {
            Ok(Some(text)) => Some(stderr_tail(&text)),
            _ => None,
        }
    }

    /// Refreshes the statuses of the active executions (for `status`).
    pub async fn refresh(&mut self) -> Result<(), Error> {
        self.poll().await.map(drop)
    }

    /// Kills the active executions (of `only` when given); returns what was killed.
    pub async fn cancel(&mut self, only: Option<&str>) -> Result<Vec<(String, String)>, Error> {
        if self.mode == Mode::ReadOnly {
            return Ok(Vec::new());
        }
        let targets = self.active(only);
        for (key, id) in &targets {
            self.conn.client.kill(id).await?;
            self.mark(key, "Killed");
            self.emit(&Event::ItemFinished {
                item: key.clone(),
                result: "killed".into(),
                execution: Some(id.clone()),
            });
        }
        self.save()?;
        Ok(targets)
    }
}

/// Reads each execution of `ids`, [`CALLS_AT_ONCE`] at a time.
async fn read_executions(
    client: &Client,
    ids: Vec<String>,
) -> HashMap<String, Result<Execution, VipError>> {
    futures_util::stream::iter(ids)
        .map(|id| async move {
            let read = client.execution(&id).await;
            (id, read)
        })
        .buffer_unordered(CALLS_AT_ONCE)
        .collect()
        .await
}

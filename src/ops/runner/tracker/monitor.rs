//! Watching executions: one list call per cycle for everything active (VIP's list is most
//! recent first), status changes recorded with when they were seen, job counts, the end of a
//! failure's standard error, the per-execution time limit, and cancelling on purpose.
//!
//! The reads of one execution each (those beyond VIP's list, and the full execution of one
//! whose status moved, for its jobs and files) go side by side, [`CALLS_AT_ONCE`] at a time;
//! what they say is then taken in order, on the loop. A finished execution's files, read
//! here, are kept for its download, so the download does not ask for them again.
//!
//! A failed item's logs are kept next to its results (`<download>/logs/<execution>/`, or
//! `.vip-run/<name>/logs/<key>/` for items that download nothing), best effort: a failure to
//! read or write them is a warning. [`fetch_logs`] is the one way logs are read, shared with
//! the `logs` command: VIP's whole-execution log routes answer only for a single job
//! (docs/vip.md#executions), so an execution with several jobs is read job by job.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use futures_util::StreamExt;

use crate::error::Error;
use crate::files::write_atomically;
use crate::report::progress::{End, Event};
use crate::time;
use crate::vip::wire::{Execution, ExecutionStatus, JobClass};
use crate::vip::{Client, LogStream, Meaning, VipError};

use super::{Purpose, Tracker, verdict};
use crate::ops::runner::sink::Sink;
use crate::ops::runner::transfers::folders::CALLS_AT_ONCE;
use crate::ops::runner::trouble::Trouble;
use crate::ops::runner::{FIRST_POLL, LIST_THRESHOLD, jobs_counts, stderr_tail};
use crate::ops::state::Verdict;
use crate::vip::failure::FailureClass;

impl Tracker<'_> {
    /// The longest wait between polls: a tenth of the age of the oldest active execution,
    /// within `FIRST_POLL..poll_interval`. Hours-long VIP runs are polled every
    /// `poll_interval`; a short run's end is noticed within 10% of its duration.
    pub(crate) fn poll_ceiling(&self) -> Duration {
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

    /// Refreshes every active execution's status; returns whether anything changed. With
    /// `trouble` (a `run`), a failed call is noted there and asked again next round;
    /// without, it ends the command.
    pub(crate) async fn poll(
        &mut self,
        sink: &mut Sink<'_>,
        mut trouble: Option<&mut Trouble>,
    ) -> Result<bool, Error> {
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
                Err(e)
                    if !e.is_access_problem()
                        && let Some(t) = trouble.as_deref_mut() =>
                {
                    t.failed_call(&e);
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
        // The watchdog reads the jobs of running executions: the few read longest ago every
        // round ([`WATCH_PER_POLL`], [`WATCH_ROUND`]: a small batch is watched every round at
        // a bounded cost), and any not read for `watch_period` (a big one, within it).
        let now_instant = Instant::now();
        for (_, id) in &active {
            self.jobs_read.entry(id.clone()).or_insert(now_instant);
        }
        let watch_period = self.watch_period();
        let rotate = self
            .watch_round
            .is_none_or(|t| now_instant.duration_since(t) >= WATCH_ROUND);
        if rotate {
            self.watch_round = Some(now_instant);
        }
        let watched: std::collections::HashSet<String> = if self.purpose == Purpose::Read {
            std::collections::HashSet::new()
        } else {
            let mut running: Vec<(Instant, &String)> = active
                .iter()
                .filter(|(_, id)| {
                    fresh
                        .get(id)
                        .is_some_and(|s| s.status == ExecutionStatus::Running)
                })
                .filter_map(|(_, id)| self.jobs_read.get(id).map(|t| (*t, id)))
                .collect();
            running.sort();
            running
                .into_iter()
                .enumerate()
                .filter(|(n, (t, _))| {
                    (rotate && *n < WATCH_PER_POLL)
                        || now_instant.duration_since(*t) >= watch_period
                })
                .map(|(_, (_, id))| id.clone())
                .collect()
        };
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
                            || (*status == ExecutionStatus::Running
                                && (self.has_lists(key) || watched.contains(id.as_str())))
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
                    // Cleaned on VIP (8015): gone with its files; relaunched only on request.
                    // Recorded as VIP's own word for it (`Cleaned`, which its API never
                    // shows): not a status vip-run saw, and not a kill.
                    Err(e) if e.meaning() == Meaning::Gone => {
                        self.mark(&key, "Cleaned");
                        let verdict = Verdict::of(
                            FailureClass::Cleaned,
                            format!(
                                "execution {id} was cleaned (deleted) on VIP before this run saw it end; `vip-run run --relaunch {key}` launches it again"
                            ),
                        );
                        self.fail(sink, &key, &id, verdict)?;
                        changed = true;
                        continue;
                    }
                    // This execution's status is asked again next round.
                    Err(e)
                        if !e.is_access_problem()
                            && let Some(t) = trouble.as_deref_mut() =>
                    {
                        t.failed_call(&e);
                        continue;
                    }
                    Err(e) => return Err(e.into()),
                },
            };
            let status = full.status.clone();
            // An end is judged on the whole execution (its jobs and files): read again next
            // round if only the list's summary came.
            if status.is_terminal() && !read_whole {
                continue;
            }
            if status.is_terminal() {
                self.jobs_read.remove(&id);
            } else if read_whole {
                self.jobs_read.insert(id.clone(), Instant::now());
            }
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
            // The jobs as last seen, for the trace: written down when they change.
            if total > 0
                && let Some(a) = self.current(&key)
                && a.jobs != Some((done, failed, total))
                && self.purpose != Purpose::Read
            {
                let state = self.state.item_mut(&key).expect("reconciled");
                state.attempts.last_mut().expect("active").jobs = Some((done, failed, total));
                self.dirty = true;
            }
            let status_event = || Event::Status {
                item: key.clone(),
                execution: id.clone(),
                status: status.to_string(),
                jobs_done: done,
                jobs_failed: failed,
                jobs_total: total,
            };
            if jobs_moved && !is_new {
                sink.emit(&status_event());
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
                sink.emit(&status_event());
                let verdict = verdict::judge_end(
                    self.item_of(&key),
                    self.descriptor.as_ref(),
                    &self.required_outputs,
                    &full,
                );
                if let Some(verdict) = verdict {
                    self.keep_failure(sink, &key, &full).await;
                    self.fail(sink, &key, &id, verdict)?;
                }
            }
            // The watchdog: an execution that no longer moves is killed, as stalled.
            if status == ExecutionStatus::Running && read_whole && self.purpose != Purpose::Read {
                let digest = verdict::jobs_digest(&full);
                let state = self.state.item_mut(&key).expect("reconciled");
                let attempt = state.attempts.last_mut().expect("active");
                if attempt.jobs_seen.as_ref().map(|(d, _)| d) != Some(&digest) {
                    attempt.jobs_seen = Some((digest, now));
                    self.dirty = true;
                }
                let stalled = self.current(&key).and_then(|a| {
                    verdict::watchdog(
                        self.item_of(&key),
                        self.descriptor.as_ref(),
                        a,
                        &full,
                        now,
                        self.v.execution.stalled_after,
                    )
                });
                if let Some(verdict) = stalled {
                    if let Err(e) = self.conn.client.kill(&id).await {
                        sink.emit(&Event::Warning {
                            message: format!("{key}: could not kill the stalled {id}: {e}"),
                        });
                    }
                    self.mark(&key, "Killed");
                    self.keep_failure(sink, &key, &full).await;
                    self.fail(sink, &key, &id, verdict)?;
                    changed = true;
                    continue;
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
                let killed = self.v.execution.kill_on_timeout;
                let state = self.state.item_mut(&key).expect("reconciled");
                let attempt = state.attempts.last_mut().expect("active");
                attempt.timed_out = true;
                attempt.failure = Some(Verdict::of(
                    FailureClass::TimedOut,
                    format!(
                        "over execution.timeout ({}), which VIP does not enforce: {}",
                        crate::duration::format(self.v.execution.timeout),
                        if killed {
                            "killed"
                        } else {
                            "left running on VIP (kill_on_timeout: false)"
                        }
                    ),
                ));
                self.dirty = true;
                changed = true;
                if killed && self.purpose != Purpose::Read {
                    match self.conn.client.kill(&id).await {
                        Ok(()) => self.mark(&key, "Killed"),
                        Err(e) => sink.emit(&Event::Warning {
                            message: format!("{key}: could not kill {id}: {e}"),
                        }),
                    }
                }
                sink.emit(&Event::ItemFinished {
                    item: key.clone(),
                    end: End::TimedOut {
                        after: self.v.execution.timeout,
                        killed,
                        retry: self.not_retried(&key).unwrap_or("to be relaunched"),
                    },
                    execution: Some(id.clone()),
                    class: Some(FailureClass::TimedOut),
                    exit_code: None,
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

    /// How often, at least, the watchdog reads a running execution's jobs: a twelfth of
    /// `execution.stalled_after`, between 1 s and 10 min (a held execution among many is
    /// caught within ten minutes at the default; see [`WATCH_PER_POLL`] for few).
    fn watch_period(&self) -> Duration {
        (self.v.execution.stalled_after / 12)
            .clamp(Duration::from_secs(1), Duration::from_secs(600))
    }

    /// Keeps the end of `e`'s standard error and its logs, for `key`'s failed execution.
    async fn keep_failure(&mut self, sink: &mut Sink<'_>, key: &str, e: &Execution) {
        let tail = self.failure_log(&e.identifier, e).await;
        let logs = self.keep_failure_logs(sink, key, e).await;
        if let Some(attempt) = self.state.item_mut(key).and_then(|s| s.attempts.last_mut()) {
            attempt.stderr_tail = tail;
            attempt.logs = logs;
            self.dirty = true;
        }
    }

    /// Records `verdict` on `key`'s execution `id` and tells it (with whether it will be
    /// relaunched).
    pub(crate) fn fail(
        &mut self,
        sink: &mut Sink<'_>,
        key: &str,
        id: &str,
        verdict: Verdict,
    ) -> Result<(), Error> {
        let (class, exit_code) = (verdict.class, verdict.exit_code);
        let headline = verdict.headline();
        let explain = verdict.explain();
        if let Some(a) = self.state.item_mut(key).and_then(|s| s.attempts.last_mut()) {
            a.failure = Some(verdict);
            self.dirty = true;
        }
        self.touch(key);
        let retry = match self.not_retried(key) {
            Some(why) => why.to_owned(),
            None if self.purpose == Purpose::Launch => "to be relaunched".to_owned(),
            None => "relaunched by the next run".to_owned(),
        };
        sink.emit(&Event::ItemFinished {
            item: key.to_owned(),
            end: End::Failed {
                headline,
                retry,
                explain,
            },
            execution: Some(id.to_owned()),
            class: Some(class),
            exit_code,
        });
        self.save_if_dirty()
    }

    /// Whether `key`'s inputs hold a list, so its execution may have several jobs.
    fn has_lists(&self, key: &str) -> bool {
        self.item_of(key).is_some_and(|i| {
            i.inputs
                .values()
                .any(|w| matches!(w, crate::manifest::InputWire::List(_)))
        })
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

    fn mark(&mut self, key: &str, status: &str) {
        if let Some(a) = self.state.item_mut(key).and_then(|s| s.attempts.last_mut()) {
            a.observe(status, time::now_ms());
            self.dirty = true;
        }
        self.touch(key);
    }

    /// The end of the failed jobs' standard error.
    async fn failure_log(&self, id: &str, e: &Execution) -> Option<String> {
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

    /// Refreshes the statuses of the active executions (for `status`, `plan`, `logs`,
    /// `cancel`): a failed call ends the command.
    pub(crate) async fn refresh(&mut self, sink: &mut Sink<'_>) -> Result<(), Error> {
        self.poll(sink, None).await.map(drop)
    }

    /// Kills the active executions (of `only` when given); returns what was killed.
    pub(crate) async fn cancel(
        &mut self,
        sink: &mut Sink<'_>,
        only: Option<&str>,
    ) -> Result<Vec<(String, String)>, Error> {
        if self.purpose == Purpose::Read {
            return Ok(Vec::new());
        }
        let targets = self.active(only);
        for (key, id) in &targets {
            self.conn.client.kill(id).await?;
            self.mark(key, "Killed");
            if let Some(a) = self.state.item_mut(key).and_then(|s| s.attempts.last_mut()) {
                a.failure = Some(Verdict::of(
                    FailureClass::Killed,
                    "killed on purpose by `vip-run cancel`",
                ));
            }
            sink.emit(&Event::ItemFinished {
                item: key.clone(),
                end: End::Killed,
                execution: Some(id.clone()),
                class: Some(FailureClass::Killed),
                exit_code: None,
            });
        }
        self.save()?;
        Ok(targets)
    }
}

/// Running executions whose jobs the watchdog reads every [`WATCH_ROUND`] beyond VIP's list,
/// those read longest ago first: a batch of eight or fewer is watched every round, and a held
/// execution in it is killed within half a minute, at eight calls a round at most.
const WATCH_PER_POLL: usize = 8;

/// How often the watchdog's round comes: VIP's own poll interval, so a fast poll (a test's,
/// a benchmark's) does not multiply the reads.
const WATCH_ROUND: Duration = Duration::from_secs(30);

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

impl Tracker<'_> {
    /// Saves the logs of `e`, the failed execution of item `key`; returns their folder.
    async fn keep_failure_logs(
        &self,
        sink: &mut Sink<'_>,
        key: &str,
        e: &Execution,
    ) -> Option<PathBuf> {
        let item = self.v.items.iter().find(|i| i.key == key)?;
        let base = item
            .download
            .as_ref()
            .map_or_else(|| self.paths.dir.join("logs").join(key), |d| d.join("logs"));
        // Execution names are vip-run's own (`<name>-<key>-<fp6>`), but they come back from
        // VIP: keep only characters that cannot leave the folder.
        let folder: String = e
            .name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let dir = base.join(folder);
        let mut written = 0usize;
        for stream in [LogStream::Stdout, LogStream::Stderr] {
            let name = if stream == LogStream::Stdout {
                "stdout"
            } else {
                "stderr"
            };
            let logs = match fetch_logs(&self.conn.client, e, stream, None).await {
                Ok(logs) => logs,
                Err(err) => {
                    sink.emit(&Event::Warning {
                        message: format!(
                            "{key}: could not read the {name} of {}: {err}",
                            e.identifier
                        ),
                    });
                    return None;
                }
            };
            for log in logs {
                let Some(text) = log.text else { continue };
                let file = match &log.job {
                    Some((job, _)) => dir.join(format!("job-{job}.{name}.txt")),
                    None => dir.join(format!("{name}.txt")),
                };
                let saved = std::fs::create_dir_all(&dir)
                    .map_err(|err| err.to_string())
                    .and_then(|()| {
                        write_atomically(&file, text.as_bytes()).map_err(|err| err.to_string())
                    });
                match saved {
                    Ok(()) => written += 1,
                    Err(err) => {
                        sink.emit(&Event::Warning {
                            message: format!("{key}: could not save {}: {err}", file.display()),
                        });
                        return None;
                    }
                }
            }
        }
        (written > 0).then_some(dir)
    }
}

/// One log of an execution: the job (with its task status) when it is one job's, and the
/// text (`None`: VIP has none).
pub(crate) struct Fetched {
    /// Invocation id and task status, for one job's log.
    pub(crate) job: Option<(String, String)>,
    /// The log.
    pub(crate) text: Option<String>,
}

/// The logs of `e` on `stream`: the execution's own when it has at most one job, else each
/// job's (only `job` when given).
pub(crate) async fn fetch_logs(
    client: &Client,
    e: &Execution,
    stream: LogStream,
    job: Option<u64>,
) -> Result<Vec<Fetched>, VipError> {
    if job.is_none() && e.jobs.len() <= 1 {
        return Ok(vec![Fetched {
            job: None,
            text: client.log(&e.identifier, stream).await?,
        }]);
    }
    let mut out = Vec::new();
    for (id, j) in &e.jobs {
        let Ok(n) = id.parse::<u64>() else { continue };
        if job.is_some_and(|wanted| wanted != n) {
            continue;
        }
        // A task without a log file is a 400 (docs/vip.md#executions): no log, not a failure.
        let text = match client.job_log(&e.identifier, n, stream).await {
            Ok(t) => t,
            Err(err) if err.code() == Some(8000) => None,
            Err(err) => return Err(err),
        };
        out.push(Fetched {
            job: Some((id.clone(), j.status.clone())),
            text,
        });
    }
    Ok(out)
}

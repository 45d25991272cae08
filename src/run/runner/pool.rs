//! The transfers in flight: up to `execution.transfers` uploads and downloads at once, each
//! a task of its own on the runtime, started by the loop while slots are free and collected
//! by it as they end.
//!
//! A task only moves bytes and asks VIP about them; what it did is recorded in the state by
//! the loop, on the loop's task (the state is not shared between tasks), when the task is
//! collected. So an upload counts only once it is complete and recorded, and a run killed
//! anywhere resumes from what was recorded: an upload not recorded is sent again (its file
//! at VIP replaced), and a download is written to `.part` and renamed by its task, a
//! `.part` being removed whenever its task ends without the rename (an error, or Ctrl-C
//! aborting it).
//!
//! `execution.transfers` bounds the bytes in motion: a task holds one of that many permits
//! while its file's bytes move (the `PUT`, the content `GET`), not while it asks VIP about
//! the file (an upload's size check, a download's listing). Up to [`CALLS_AT_ONCE`] tasks
//! more than that are started, so those calls, paid in latency rather than bandwidth, do
//! not hold back the next file's bytes.
//!
//! Uploads go before downloads when both wait for a slot: an upload holds back a launch.
//! An item's outputs are fetched by one task, side by side within it (see `fetch`).

use std::collections::{HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;

use crate::error::Error;
use crate::report::run::{Event, Reporter};
use crate::run::state::{Output, Upload};
use crate::time;

use super::Runner;
use super::fetch::{Fetch, fetch_item};
use super::folders::CALLS_AT_ONCE;
use super::lifecycle::Phase;
use super::upload::send_file;

/// A file to send.
#[derive(Debug, Clone)]
pub(super) struct UploadJob {
    pub(super) remote: String,
    pub(super) local: PathBuf,
    pub(super) size: u64,
    /// The file's modification time when it was queued (recorded with its hash).
    pub(super) mtime: Option<i64>,
    /// Whether something is at `remote` already (deleted first).
    pub(super) replace: bool,
    /// The file's SHA-256 when already known for this very size and time (hashed when the
    /// manifest was identified): the send then does not hash it again.
    pub(super) sha: Option<String>,
}

/// An item whose outputs to fetch.
#[derive(Debug, Clone)]
pub(super) struct DownloadJob {
    pub(super) key: String,
    /// The item's position in the manifest.
    pub(super) index: usize,
    pub(super) execution_id: String,
    /// The files VIP returned, when the poll that saw the execution end read them.
    pub(super) returned: Option<indexmap::IndexMap<String, Vec<String>>>,
    pub(super) folder: PathBuf,
    pub(super) results: String,
    /// The outputs recorded for this item so far (any execution): those of this execution
    /// that are still on disk are kept, the others moved aside.
    pub(super) previous: Vec<crate::run::state::Output>,
    /// Hash every kept output again (`download`), not only those whose size or time moved.
    pub(super) verify: bool,
    /// Where this item's earlier outputs are moved aside.
    pub(super) aside: PathBuf,
    /// Who the download folder is marked as belonging to.
    pub(super) owner: std::sync::Arc<crate::run::disk::Owner>,
}

/// A transfer that ended.
pub(super) enum Done {
    Upload {
        job: UploadJob,
        /// The SHA-256 of what was sent.
        result: Result<String, Error>,
    },
    Download {
        job: DownloadJob,
        result: Result<Vec<Output>, Error>,
    },
}

/// The transfers queued and in flight.
pub(super) struct Pool {
    /// Transfers at once.
    limit: usize,
    /// `limit` permits: one is held while a file's bytes move.
    bytes: Arc<Semaphore>,
    tasks: JoinSet<Done>,
    uploads: VecDeque<UploadJob>,
    downloads: VecDeque<DownloadJob>,
    /// Remote paths queued or in flight.
    busy_uploads: HashSet<String>,
    /// Item keys whose download is queued or in flight.
    busy_items: HashSet<String>,
    /// Remote paths known on VIP with the content the state records, this run: an item is
    /// launched only once all its inputs are here.
    pub(super) on_vip: HashSet<String>,
    /// Ended while the loop waited, recorded at the next round.
    ended: Vec<Done>,
    /// What download tasks tell as they go (a file downloaded…), emitted by the loop.
    events_tx: mpsc::UnboundedSender<Event>,
    events: mpsc::UnboundedReceiver<Event>,
}

impl Pool {
    pub(super) fn new(limit: usize) -> Self {
        let (events_tx, events) = mpsc::unbounded_channel();
        Self {
            limit: limit.max(1),
            bytes: Arc::new(Semaphore::new(limit.max(1))),
            tasks: JoinSet::new(),
            uploads: VecDeque::new(),
            downloads: VecDeque::new(),
            busy_uploads: HashSet::new(),
            busy_items: HashSet::new(),
            on_vip: HashSet::new(),
            ended: Vec::new(),
            events_tx,
            events,
        }
    }

    /// Nothing queued, in flight or waiting to be recorded.
    pub(super) fn idle(&self) -> bool {
        self.tasks.is_empty()
            && self.uploads.is_empty()
            && self.downloads.is_empty()
            && self.ended.is_empty()
    }

    /// Whether the upload to `remote` is queued or in flight.
    pub(super) fn uploading(&self, remote: &str) -> bool {
        self.busy_uploads.contains(remote)
    }

    /// Whether any upload is queued or in flight.
    pub(super) fn any_uploads(&self) -> bool {
        !self.busy_uploads.is_empty()
    }

    /// Whether `key`'s download is queued or in flight.
    pub(super) fn downloading(&self, key: &str) -> bool {
        self.busy_items.contains(key)
    }

    pub(super) fn queue_upload(&mut self, job: UploadJob) {
        if self.busy_uploads.insert(job.remote.clone()) {
            self.uploads.push_back(job);
        }
    }

    pub(super) fn queue_download(&mut self, job: DownloadJob) {
        if self.busy_items.insert(job.key.clone()) {
            self.downloads.push_back(job);
        }
    }
}

/// What woke the loop's wait.
enum Woke {
    Ended(Box<Done>),
    Told(Event),
    Time,
}

impl Runner<'_> {
    /// Starts queued transfers while slots are free (none after Ctrl-C).
    pub(super) fn start_transfers(&mut self) {
        while self.pool.tasks.len() < self.pool.limit + CALLS_AT_ONCE && !self.interrupt.is_set() {
            let bar = self.reporter.as_deref_mut().and_then(Reporter::byte_bar);
            let client = self.conn.client.clone();
            let bytes = Arc::clone(&self.pool.bytes);
            let label = if let Some(job) = self.pool.uploads.pop_front() {
                let label = format!("uploading {}", job.local.display());
                self.pool.tasks.spawn(async move {
                    let result = send_file(&client, &bytes, &job, bar).await;
                    Done::Upload { job, result }
                });
                label
            } else if let Some(job) = self.pool.downloads.pop_front() {
                let label = format!("downloading {}", job.key);
                let fetch = Fetch {
                    client,
                    cap: self.cap,
                    extract: self.v.extract,
                    events: self.pool.events_tx.clone(),
                    bar,
                    bytes,
                };
                self.pool.tasks.spawn(async move {
                    let result = fetch_item(&fetch, &job).await;
                    Done::Download { job, result }
                });
                label
            } else {
                break;
            };
            let in_flight = self.pool.tasks.len();
            if let Some(r) = self.reporter.as_deref_mut() {
                r.transfers_in_flight(in_flight, &label);
            }
        }
    }

    /// Records the transfers that ended (without waiting for any) and emits what the tasks
    /// told; then fills the slots they freed.
    pub(super) fn collect_transfers(&mut self) -> Result<(), Error> {
        while let Ok(event) = self.pool.events.try_recv() {
            self.emit(&event);
        }
        while let Some(joined) = self.pool.tasks.try_join_next() {
            self.pool.ended.push(unwrap_task(joined));
        }
        for done in std::mem::take(&mut self.pool.ended) {
            self.record_transfer(done)?;
        }
        let in_flight = self.pool.tasks.len();
        if let Some(r) = self.reporter.as_deref_mut() {
            r.transfers_in_flight(in_flight, "");
        }
        self.start_transfers();
        Ok(())
    }

    /// Waits `wait`, or less: until a transfer ends (so what it allows starts promptly) or
    /// Ctrl-C. What tasks tell meanwhile is emitted as it comes.
    pub(super) async fn wait_for_transfers(&mut self, wait: Duration) {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let woke = {
                let Pool { tasks, events, .. } = &mut self.pool;
                let interrupt = &self.interrupt;
                tokio::select! {
                    Some(joined) = tasks.join_next(), if !tasks.is_empty() => {
                        Woke::Ended(Box::new(unwrap_task(joined)))
                    }
                    Some(event) = events.recv() => Woke::Told(event),
                    () = interrupt.sleep(deadline.saturating_duration_since(tokio::time::Instant::now())) => Woke::Time,
                }
            };
            match woke {
                Woke::Ended(done) => {
                    self.pool.ended.push(*done);
                    return;
                }
                Woke::Told(event) => self.emit(&event),
                Woke::Time => return,
            }
        }
    }

    /// Runs what is queued to the end, recording each transfer as it ends (`download`,
    /// `--detach`, the end of a run).
    pub(super) async fn finish_transfers(&mut self) -> Result<(), Error> {
        loop {
            self.collect_transfers()?;
            if self.pool.idle() || self.interrupt.is_set() {
                return Ok(());
            }
            self.wait_for_transfers(Duration::from_secs(3600)).await;
        }
    }

    /// After Ctrl-C: records what ended, aborts the rest (their `.part` files go with them;
    /// an upload cut short was never recorded, so it is sent again by the next run).
    pub(super) async fn abort_transfers(&mut self) -> Result<(), Error> {
        while let Some(joined) = self.pool.tasks.try_join_next() {
            self.pool.ended.push(unwrap_task(joined));
        }
        for done in std::mem::take(&mut self.pool.ended) {
            self.record_transfer(done)?;
        }
        self.pool.tasks.shutdown().await;
        while let Ok(event) = self.pool.events.try_recv() {
            self.emit(&event);
        }
        if let Some(r) = self.reporter.as_deref_mut() {
            r.transfers_in_flight(0, "");
        }
        Ok(())
    }

    /// Records one ended transfer in the state; a failure parks its input or item in a
    /// `run` (one item's trouble must not stop the others), or ends other commands.
    fn record_transfer(&mut self, done: Done) -> Result<(), Error> {
        match done {
            Done::Upload { job, result } => {
                self.pool.busy_uploads.remove(&job.remote);
                match result {
                    Ok(sha256) => {
                        self.state.record_upload(
                            &job.remote,
                            Upload {
                                local: job.local.clone(),
                                size: job.size,
                                sha256,
                                mtime: job.mtime,
                                at: time::rfc3339(time::now_ms()),
                            },
                        );
                        self.dirty = true;
                        self.save()?;
                        self.trouble.uploads.remove(&job.remote);
                        self.pool.on_vip.insert(job.remote.clone());
                        self.emit(&Event::Uploaded {
                            local: job.local.display().to_string(),
                            remote: job.remote,
                            size: job.size,
                        });
                    }
                    Err(e) if self.waits_out_trouble() && Self::is_trouble(&e).is_some() => {
                        let vip = Self::is_trouble(&e).expect("checked").clone();
                        self.park_upload(&job.remote, &vip);
                    }
                    // VIP kept part of the file: sent again (after a delete) on the next try.
                    Err(e @ Error::UploadIncomplete { .. }) if self.waits_out_trouble() => {
                        let vip = crate::vip::VipError::Local {
                            operation: format!("PUT {}", job.remote),
                            detail: e.to_string(),
                        };
                        self.park_upload(&job.remote, &vip);
                    }
                    Err(e) => return Err(e),
                }
            }
            Done::Download { job, result } => {
                self.pool.busy_items.remove(&job.key);
                match result {
                    Ok(outputs) => {
                        let state = self.state.item_mut(&job.key).expect("reconciled");
                        state.outputs = outputs;
                        self.dirty = true;
                        self.save()?;
                        self.unpark_item(&job.key);
                        self.item_home(job.index);
                    }
                    // This machine's problem, not VIP's: nothing to wait out. The item is
                    // not home, launching stops, and the run ends (exit 6).
                    Err(e @ Error::Disk { .. }) => {
                        let why = e.to_string();
                        self.emit(&Event::NotDownloaded {
                            item: job.key.clone(),
                            remote: job.results.clone(),
                            reason: why.clone(),
                        });
                        self.not_home.insert(job.key.clone(), why.clone());
                        self.advance(job.index, Phase::NotDownloaded);
                        if self.disk.is_none() {
                            self.disk = Some(why);
                        }
                    }
                    Err(e) if self.waits_out_trouble() && Self::is_trouble(&e).is_some() => {
                        let why = Self::is_trouble(&e).expect("checked").clone();
                        self.park_item(&job.key, "downloading its outputs", &why);
                        // Fetched again when the park ends.
                        self.advance(job.index, Phase::Finished);
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(())
    }
}

/// A task's result; a task that panicked passes its panic on (it is a bug, not trouble).
fn unwrap_task(joined: Result<Done, tokio::task::JoinError>) -> Done {
    match joined {
        Ok(done) => done,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => panic!("a transfer was cancelled while still counted: {e}"),
    }
}

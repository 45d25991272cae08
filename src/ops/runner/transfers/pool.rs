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
//! the file (an upload's size check, a download's listing). Up to `folders::CALLS_AT_ONCE` tasks
//! more than that are started, so those calls, paid in latency rather than bandwidth, do
//! not hold back the next file's bytes.
//!
//! Uploads go before downloads when both wait for a slot: an upload holds back a launch.
//! An item's outputs are fetched by one task, side by side within it (see `fetch`).

use std::collections::{HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;

use crate::error::Error;
use crate::ops::state::Output;
use crate::report::progress::Event;

/// A file to send.
#[derive(Debug, Clone)]
pub(crate) struct UploadJob {
    pub(crate) remote: String,
    pub(crate) local: PathBuf,
    pub(crate) size: u64,
    /// The file's modification time when it was queued (recorded with its hash).
    pub(crate) mtime: Option<i64>,
    /// Whether something is at `remote` already (deleted first).
    pub(crate) replace: bool,
    /// The file's SHA-256 when already known for this very size and time (hashed when the
    /// manifest was identified): the send then does not hash it again.
    pub(crate) sha: Option<String>,
}

/// An item whose outputs to fetch.
#[derive(Debug, Clone)]
pub(crate) struct DownloadJob {
    pub(crate) key: String,
    /// The item's position in the manifest.
    pub(crate) index: usize,
    pub(crate) execution_id: String,
    /// The files VIP returned, when the poll that saw the execution end read them.
    pub(crate) returned: Option<indexmap::IndexMap<String, Vec<String>>>,
    pub(crate) folder: PathBuf,
    pub(crate) results: String,
    /// The outputs recorded for this item so far (any execution): those of this execution
    /// that are still on disk are kept, the others moved aside.
    pub(crate) previous: Vec<crate::ops::state::Output>,
    /// Hash every kept output again (`download`), not only those whose size or time moved.
    pub(crate) verify: bool,
    /// Where this item's earlier outputs are moved aside.
    pub(crate) aside: PathBuf,
    /// Who the download folder is marked as belonging to.
    pub(crate) owner: std::sync::Arc<crate::ops::disk::Owner>,
}

/// A transfer that ended.
pub(crate) enum Done {
    Upload {
        job: UploadJob,
        /// When its task started (epoch ms).
        started: i64,
        /// The SHA-256 of what was sent.
        result: Result<String, Error>,
    },
    Download {
        job: DownloadJob,
        /// When its task started (epoch ms).
        started: i64,
        result: Result<Vec<Output>, Error>,
    },
}

/// The transfers queued and in flight.
pub(crate) struct Pool {
    /// Transfers at once.
    pub(super) limit: usize,
    /// `limit` permits: one is held while a file's bytes move.
    pub(super) bytes: Arc<Semaphore>,
    pub(super) tasks: JoinSet<Done>,
    pub(super) uploads: VecDeque<UploadJob>,
    pub(super) downloads: VecDeque<DownloadJob>,
    /// Remote paths queued or in flight.
    busy_uploads: HashSet<String>,
    /// Item keys whose download is queued or in flight.
    busy_items: HashSet<String>,
    /// Remote paths known on VIP with the content the state records, this run: an item is
    /// launched only once all its inputs are here.
    pub(crate) on_vip: HashSet<String>,
    /// Ended while the loop waited, recorded at the next round.
    pub(super) ended: Vec<Done>,
    /// What download tasks tell as they go (a file downloaded…), emitted by the loop.
    pub(super) events_tx: mpsc::UnboundedSender<Event>,
    pub(super) events: mpsc::UnboundedReceiver<Event>,
}

impl Pool {
    pub(crate) fn new(limit: usize) -> Self {
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
    pub(crate) fn idle(&self) -> bool {
        self.tasks.is_empty()
            && self.uploads.is_empty()
            && self.downloads.is_empty()
            && self.ended.is_empty()
    }

    /// Whether the upload to `remote` is queued or in flight.
    pub(crate) fn uploading(&self, remote: &str) -> bool {
        self.busy_uploads.contains(remote)
    }

    /// Whether any upload is queued or in flight.
    pub(crate) fn any_uploads(&self) -> bool {
        !self.busy_uploads.is_empty()
    }

    /// Whether `key`'s download is queued or in flight.
    pub(crate) fn downloading(&self, key: &str) -> bool {
        self.busy_items.contains(key)
    }

    pub(crate) fn queue_upload(&mut self, job: UploadJob) {
        if self.busy_uploads.insert(job.remote.clone()) {
            self.uploads.push_back(job);
        }
    }

    pub(crate) fn queue_download(&mut self, job: DownloadJob) {
        if self.busy_items.insert(job.key.clone()) {
            self.downloads.push_back(job);
        }
    }

    /// The upload to `remote` ended and is being recorded.
    pub(crate) fn upload_ended(&mut self, remote: &str) {
        self.busy_uploads.remove(remote);
    }

    /// `key`'s download ended and is being recorded.
    pub(crate) fn download_ended(&mut self, key: &str) {
        self.busy_items.remove(key);
    }
}

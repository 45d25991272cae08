//! What the loop does with its parts, one step each: take up what is on VIP, decide and
//! queue the uploads, record the transfers that ended, fetch or settle a finished item, and
//! the round's end (an outage waited out).

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use indexmap::IndexMap;

use crate::error::Error;
use crate::ops::state::{Upload, Verdict};
use crate::report::progress::{End, Event};
use crate::time;
use crate::vip::VipError;
use crate::vip::failure::FailureClass;
use crate::vip::wire::PathProperties;

use super::launcher::may_launch_now;
use super::tracker::lifecycle::Phase;
use super::tracker::{UploadNeed, verdict};
use super::transfers::folders::{CALLS_AT_ONCE, parent_of};
use super::transfers::pool::{Done, DownloadJob, UploadJob};
use super::trouble::{Waiting, is_trouble};
use super::{Outcome, Runner, results_dir};

impl Runner<'_> {
    /// Takes up what is on VIP (see the tracker's `adopt`); in a `run`, an outage here is
    /// waited out like any other.
    pub(super) async fn take_up(&mut self) -> Result<(), Error> {
        let (started, started_ms) = (Instant::now(), time::now_ms());
        loop {
            match self.tracker.prepare(&mut self.sink).await {
                Ok(()) => return Ok(()),
                Err(e) if self.launches && is_trouble(&e).is_some() => {
                    let why = is_trouble(&e).expect("checked").clone();
                    self.wait_out(started, started_ms, &why).await?;
                    if self.interrupt.is_set() {
                        return Ok(());
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Waits out an outage that started at `started`; past `max_outage`, saves the state
    /// and stops the run.
    async fn wait_out(
        &mut self,
        started: Instant,
        started_ms: i64,
        failure: &VipError,
    ) -> Result<(), Error> {
        let waiting = Waiting {
            client: &self.tracker.connection().client,
            sink: &self.sink,
            interrupt: &self.interrupt,
            at_most: self.max_outage,
        };
        let waited = self
            .trouble
            .wait_out(&waiting, started, started_ms, failure)
            .await;
        if waited.is_err() {
            self.tracker.save()?;
        }
        waited
    }

    /// Ends a round of the loop: nothing heard from VIP is an outage, waited out (see
    /// `trouble`); past `max_outage`, the state is saved and the run stops.
    pub(super) async fn round_end(&mut self) -> Result<(), Error> {
        let waiting = Waiting {
            client: &self.tracker.connection().client,
            sink: &self.sink,
            interrupt: &self.interrupt,
            at_most: self.max_outage,
        };
        let ended = self.trouble.round_end(&waiting).await;
        if ended.is_err() {
            self.tracker.save()?;
        }
        ended
    }

    /// Whether `item` is given up on for this run.
    pub(super) fn is_blocked(&self, item: &crate::manifest::Item) -> bool {
        super::launcher::is_blocked(&self.tracker, &self.trouble, item)
    }

    /// The first item at or after manifest position `from` that may be launched now.
    pub(super) fn next_launchable(&self, from: usize) -> Option<usize> {
        let v = self.tracker.manifest();
        self.tracker
            .lifecycle()
            .indexes()
            .queue
            .range(from..)
            .copied()
            .find(|&i| may_launch_now(&self.tracker, &self.trouble, &self.transfers, &v.items[i]))
    }

    /// `item` (at manifest position `i`) is settled for this run: said once.
    pub(super) fn item_home(&mut self, i: usize) -> Result<(), Error> {
        let item = &self.tracker.manifest().items[i];
        // Home, but without a file `results.expect` names: a failure of its own.
        if let Some(folder) = &item.download {
            let missing = verdict::missing_on_disk(item, folder);
            if !missing.is_empty()
                && let Some(a) = self.tracker.current(&item.key)
            {
                let id = a.execution_id.clone();
                let mut v = Verdict::of(
                    FailureClass::OutputsMissing,
                    format!(
                        "its downloaded results in {} lack what results.expect names",
                        folder.display()
                    ),
                );
                v.missing = missing;
                return self.tracker.fail(&mut self.sink, &item.key, &id, v);
            }
        }
        let home = match self.tracker.home_proof(item) {
            Some(proof) => Phase::Home(proof),
            None => Phase::NotDownloaded,
        };
        self.tracker.advance(i, home);
        // Settled: what the poll kept for its download is not needed any more.
        if let Some(a) = self.tracker.current(&item.key) {
            let id = a.execution_id.clone();
            self.tracker.take_returned(&id);
        }
        let problems = match self.tracker.outcome_of(item, &self.trouble) {
            Outcome::DoneWithProblems(p) => Some(p),
            _ => None,
        };
        let execution = self
            .tracker
            .current(&item.key)
            .map(|a| a.execution_id.clone());
        self.sink.emit(&Event::ItemFinished {
            item: item.key.clone(),
            end: End::Finished { problems },
            execution,
            class: None,
            exit_code: None,
        });
        Ok(())
    }

    /// Queues the download of `item`'s outputs (at manifest position `i`).
    pub(super) fn queue_download(&mut self, i: usize) {
        let item = &self.tracker.manifest().items[i];
        let (Some(folder), Some(attempt)) =
            (item.download.clone(), self.tracker.current(&item.key))
        else {
            return;
        };
        let (execution_id, results) = (
            attempt.execution_id.clone(),
            results_dir(item, &attempt.name),
        );
        let job = DownloadJob {
            key: item.key.clone(),
            index: i,
            returned: self.tracker.take_returned(&execution_id),
            execution_id,
            folder,
            results,
            previous: self.tracker.state().items()[&item.key].outputs.clone(),
            // `download` hashes every kept output again, not only those whose size or
            // time moved.
            verify: !self.launches,
            aside: self
                .tracker
                .paths()
                .superseded
                .join(crate::manifest::identity::safe_key(&item.key)),
            owner: Arc::clone(&self.transfers.owner),
        };
        self.transfers.pool.queue_download(job);
        self.tracker.advance(i, Phase::Downloading);
    }

    /// Starts queued transfers while slots are free.
    pub(super) fn start_transfers(&mut self) {
        let client = &self.tracker.connection().client;
        self.transfers
            .start(&mut self.sink, client, &self.interrupt);
    }

    /// Records the transfers that ended (without waiting for any) and tells what the tasks
    /// told; then fills the slots they freed.
    pub(super) fn collect_transfers(&mut self) -> Result<(), Error> {
        for done in self.transfers.ended(&mut self.sink) {
            self.record_transfer(done)?;
        }
        let in_flight = self.transfers.in_flight();
        self.sink.transfers_in_flight(in_flight, "");
        self.start_transfers();
        Ok(())
    }

    /// Waits `wait`, or less: until a transfer ends, or Ctrl-C.
    pub(super) async fn wait_for_transfers(&mut self, wait: Duration) {
        self.transfers
            .wait(&mut self.sink, &self.interrupt, wait)
            .await;
    }

    /// Runs what is queued to the end, recording each transfer as it ends (`download`,
    /// `--detach`, the end of a run).
    pub(super) async fn finish_transfers(&mut self) -> Result<(), Error> {
        loop {
            self.collect_transfers()?;
            if self.transfers.pool.idle() || self.interrupt.is_set() {
                return Ok(());
            }
            self.wait_for_transfers(Duration::from_secs(3600)).await;
        }
    }

    /// After Ctrl-C (or a disk that refused a write): records what ended, aborts the rest.
    pub(super) async fn abort_transfers(&mut self) -> Result<(), Error> {
        for done in self.transfers.abort(&mut self.sink).await {
            self.record_transfer(done)?;
        }
        Ok(())
    }

    /// Decides each input the items need from the state and one listing of its folder (the
    /// folders made if missing), and queues those to send; the transfers run in the pool.
    /// The folders are asked about side by side, [`CALLS_AT_ONCE`] at a time, and a folder's
    /// files are decided (and their transfers started) as soon as it is ready: VIP's latency
    /// is paid once per batch of folders, not once per file. In a `run`, a folder whose calls
    /// keep failing parks its inputs (tried again by [`Self::retry_uploads`]) and the others
    /// go on; elsewhere the failure ends the command.
    pub(super) async fn upload_inputs(&mut self) -> Result<(), Error> {
        let needed = self.tracker.launch_inputs();
        let files = self.tracker.inputs_in_item_order();
        self.tracker.note_remote_inputs();
        let mut by_dir: IndexMap<String, Vec<(String, PathBuf, u64)>> = IndexMap::new();
        for (remote, local, size) in files {
            if needed.contains(&remote) {
                by_dir
                    .entry(parent_of(&remote).to_owned())
                    .or_default()
                    .push((remote, local, size));
            } else {
                // Not sent, but a change is still worth saying.
                self.tracker
                    .check_changed(&mut self.sink, &remote, &local, size)
                    .await?;
            }
        }
        let conn = self.tracker.connection();
        let (client, folders) = (&conn.client, Arc::clone(&self.transfers.folders));
        let mut ready = futures_util::stream::iter(by_dir.keys().cloned().collect::<Vec<_>>())
            .map(|dir| {
                let folders = Arc::clone(&folders);
                async move {
                    let listed = folders.listed(client, &dir).await;
                    (dir, listed)
                }
            })
            .buffered(CALLS_AT_ONCE);
        while let Some((dir, listed)) = ready.next().await {
            if self.interrupt.is_set() {
                break;
            }
            let files = by_dir.swap_remove(&dir).unwrap_or_default();
            match listed {
                Ok(()) => {
                    for (remote, local, size) in files {
                        // Never a call here: the folders still in `ready` are not polled
                        // meanwhile, and one may hold a folder's lock.
                        let entry = folders.listed_already(&remote);
                        self.decide_upload(&needed, remote, local, size, entry.as_ref())
                            .await?;
                    }
                    // Records the transfers that ended meanwhile, so their slots go to the
                    // next files while later folders are still being made (no call here
                    // either: it saves and reports).
                    self.collect_transfers()?;
                }
                Err(e) if self.launches && is_trouble(&e).is_some() => {
                    let vip = is_trouble(&e).expect("checked").clone();
                    for (remote, ..) in files {
                        self.trouble.park_upload(&self.sink, &remote, &vip);
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Queues again the parked uploads that are due, each asked about alone: after a failure
    /// VIP may hold part of the file (docs/vip.md#upload).
    pub(super) async fn retry_uploads(&mut self) -> Result<(), Error> {
        let needed = self.tracker.launch_inputs();
        let client = &self.tracker.connection().client;
        for (remote, local, size) in self.tracker.inputs_in_item_order() {
            if self.interrupt.is_set() {
                break;
            }
            if !self.trouble.upload_due(&remote) || self.transfers.pool.uploading(&remote) {
                continue;
            }
            let asked = match self
                .transfers
                .folders
                .ensure(client, parent_of(&remote))
                .await
            {
                Ok(()) => client.properties(&remote).await.map_err(Error::from),
                Err(e) => Err(e),
            };
            match asked {
                Ok(on_vip) => {
                    self.decide_upload(&needed, remote, local, size, Some(&on_vip))
                        .await?;
                }
                Err(e) if self.launches && is_trouble(&e).is_some() => {
                    let vip = is_trouble(&e).expect("checked").clone();
                    self.trouble.park_upload(&self.sink, &remote, &vip);
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Keeps the input at `remote` (VIP has it unchanged) or queues it to be sent.
    async fn decide_upload(
        &mut self,
        needed: &HashSet<String>,
        remote: String,
        local: PathBuf,
        size: u64,
        on_vip: Option<&PathProperties>,
    ) -> Result<(), Error> {
        let (sha, mtime) = self
            .tracker
            .check_changed(&mut self.sink, &remote, &local, size)
            .await?;
        match self
            .tracker
            .upload_need(needed, &remote, size, sha.as_deref(), on_vip)
        {
            UploadNeed::NotNeeded => {}
            UploadNeed::Keep => {
                self.trouble.unpark_upload(&remote);
                self.transfers.pool.on_vip.insert(remote.clone());
                self.sink.emit(&Event::UploadSkipped {
                    local: local.display().to_string(),
                    remote,
                });
            }
            UploadNeed::Upload { replace } => {
                let sha = self
                    .tracker
                    .identified(&remote)
                    .filter(|c| c.size == size && c.mtime.is_some() && c.mtime == mtime)
                    .map(|c| c.sha256.clone());
                self.transfers.pool.queue_upload(UploadJob {
                    remote,
                    local,
                    size,
                    mtime,
                    replace,
                    sha,
                });
            }
        }
        Ok(())
    }

    /// Records one ended transfer in the state; a failure parks its input or item in a
    /// `run` (one item's trouble must not stop the others), or ends other commands.
    fn record_transfer(&mut self, done: Done) -> Result<(), Error> {
        match done {
            Done::Upload {
                job,
                started,
                result,
            } => {
                self.transfers.pool.upload_ended(&job.remote);
                match result {
                    Ok(sha256) => {
                        self.tracker.record_upload(
                            &job.remote,
                            Upload {
                                local: job.local.clone(),
                                size: job.size,
                                sha256,
                                mtime: job.mtime,
                                at: time::rfc3339(time::now_ms()),
                                span: Some((started, time::now_ms())),
                            },
                        )?;
                        self.trouble.unpark_upload(&job.remote);
                        self.transfers.pool.on_vip.insert(job.remote.clone());
                        self.sink.emit(&Event::Uploaded {
                            local: job.local.display().to_string(),
                            remote: job.remote,
                            size: job.size,
                        });
                    }
                    Err(e) if self.launches && is_trouble(&e).is_some() => {
                        let vip = is_trouble(&e).expect("checked").clone();
                        self.trouble.park_upload(&self.sink, &job.remote, &vip);
                    }
                    // VIP kept part of the file: sent again (after a delete) on the next try.
                    Err(e @ Error::UploadIncomplete { .. }) if self.launches => {
                        let vip = crate::vip::VipError::Local {
                            operation: format!("PUT {}", job.remote),
                            detail: e.to_string(),
                        };
                        self.trouble.park_upload(&self.sink, &job.remote, &vip);
                    }
                    Err(e) => return Err(e),
                }
            }
            Done::Download {
                job,
                started,
                result,
            } => {
                self.transfers.pool.download_ended(&job.key);
                match result {
                    Ok(outputs) => {
                        let span = (started, time::now_ms());
                        self.tracker.record_outputs(
                            &job.key,
                            outputs,
                            Some((&job.execution_id, span)),
                        )?;
                        self.trouble.unpark_item(&job.key);
                        self.item_home(job.index)?;
                    }
                    // This machine's problem, not VIP's: nothing to wait out. The item is
                    // not home, launching stops, and the run ends (exit 6).
                    Err(e @ Error::Disk { .. }) => {
                        let why = e.to_string();
                        self.sink.emit(&Event::NotDownloaded {
                            item: job.key.clone(),
                            remote: job.results.clone(),
                            reason: why.clone(),
                        });
                        self.tracker.record_not_home(&job.key, why.clone());
                        self.tracker.advance(job.index, Phase::NotDownloaded);
                        if self.disk.is_none() {
                            self.disk = Some(why);
                        }
                    }
                    Err(e) if self.launches && is_trouble(&e).is_some() => {
                        let why = is_trouble(&e).expect("checked").clone();
                        self.trouble.park_item(
                            &self.sink,
                            &job.key,
                            "downloading its outputs",
                            &why,
                        );
                        // Fetched again when the park ends.
                        self.tracker.advance(job.index, Phase::Finished);
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(())
    }
}

//! Uploading the inputs once by content: a file already on VIP with the same size and
//! SHA-256 (as recorded when it was sent) is not sent again; a changed file is re-sent, and
//! items launched with its earlier content are named. What VIP has is read from one listing
//! of each inputs folder, not asked file by file; the files to send are queued for the
//! transfer pool (`pool`), and each is hashed while it is sent (one read). An upload that still fails after its
//! retries parks that input (and the items that use it) in a `run`; the others go on.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures_util::StreamExt;
use indexmap::IndexMap;

use tokio::sync::Semaphore;

use crate::error::Error;
use crate::files::FileError;
use crate::manifest::ValueKind;
use crate::report::run::{ByteBar, Event};
use crate::vip::client::Client;
use crate::vip::wire::PathProperties;

use super::folders::{CALLS_AT_ONCE, Listing, listing_of, parent_of};
use super::pool::UploadJob;
use super::{Runner, UploadNeed, inputs_root};

/// The names under the inputs folder of `item`'s local inputs, as VIP stores them.
pub(super) fn local_uploads(item: &crate::manifest::Item) -> impl Iterator<Item = &str> {
    item.inputs
        .values()
        .flat_map(crate::manifest::InputWire::values)
        .filter_map(|v| match &v.kind {
            ValueKind::LocalFile { upload, .. } => Some(upload.as_str()),
            _ => None,
        })
}

impl Runner<'_> {
    /// Remote path → (local file, size) of every local input, in path order.
    pub(super) fn local_inputs(&self) -> BTreeMap<String, (PathBuf, u64)> {
        let root = inputs_root(self.v);
        let mut files = BTreeMap::new();
        for item in &self.v.items {
            for wire in item.inputs.values() {
                for value in wire.values() {
                    if let ValueKind::LocalFile { path, size, upload } = &value.kind {
                        files
                            .entry(format!("{root}/{upload}"))
                            .or_insert((path.clone(), *size));
                    }
                }
            }
        }
        files
    }

    /// The remote paths of `item`'s local inputs.
    pub(super) fn item_uploads(&self, item: &crate::manifest::Item) -> Vec<String> {
        let root = inputs_root(self.v);
        local_uploads(item)
            .map(|upload| format!("{root}/{upload}"))
            .collect()
    }

    /// Where each local input goes on VIP, known before anything is sent (for adoption).
    pub(super) fn note_remote_inputs(&mut self) {
        for (remote, (local, _)) in self.local_inputs() {
            self.remote_inputs.insert(local, remote);
        }
    }

    /// What is known of `local`'s content without sending it, and its modification time:
    /// the hash recorded at `remote` when the state's record has the file's size and time
    /// (no re-read of big files); the file hashed when the size matches but the time does not
    /// (a touched file may be unchanged); `None` when the file must be sent anyway (no record,
    /// or another size), to be hashed while it is sent.
    async fn known_sha(
        &self,
        remote: &str,
        local: &Path,
        size: u64,
    ) -> Result<(Option<String>, Option<i64>), Error> {
        let mtime = crate::files::modified_ms(local);
        // Hashed when the manifest was identified, and unchanged since: no read.
        if let Some(c) = self
            .identified(remote)
            .filter(|c| c.size == size && c.mtime.is_some() && c.mtime == mtime)
        {
            return Ok((Some(c.sha256.clone()), mtime));
        }
        let sha = match self.state.uploads().get(remote) {
            Some(u) if u.size == size && u.mtime.is_some() && u.mtime == mtime => {
                Some(u.sha256.clone())
            }
            // Off the runtime's threads: a big file takes a while.
            Some(u) if u.size == size => {
                let path = local.to_path_buf();
                let hashed = tokio::task::spawn_blocking(move || crate::files::sha256(&path))
                    .await
                    .expect("hashing a file does not panic");
                Some(hashed.map_err(FileError::on("read", local))?.1)
            }
            _ => None,
        };
        Ok((sha, mtime))
    }

    /// What identifying the manifest learnt of the file uploaded to `remote`.
    fn identified(&self, remote: &str) -> Option<&crate::manifest::Content> {
        let rel = remote
            .strip_prefix(&inputs_root(self.v))?
            .strip_prefix('/')?;
        self.v.content.get(rel)
    }

    /// The remote paths of the inputs of items still to launch: after a `clean`, the inputs
    /// of items already home are not sent again.
    fn launch_inputs(&self) -> HashSet<String> {
        let mut needed = HashSet::new();
        if !self.launches_pending() {
            return needed;
        }
        for item in self.v.items.iter().filter(|i| self.needs_launch(i)) {
            needed.extend(self.item_uploads(item));
        }
        needed
    }

    /// Whether the file with `size` (and `sha`, when known) must be sent to `remote`, where
    /// VIP has `on_vip`: the one rule `run` follows and `plan` shows. Inputs are needed only
    /// by items still to launch.
    fn upload_need(
        &self,
        needed: &HashSet<String>,
        remote: &str,
        size: u64,
        sha: Option<&str>,
        on_vip: Option<&PathProperties>,
    ) -> UploadNeed {
        if !needed.contains(remote) {
            return UploadNeed::NotNeeded;
        }
        let known = sha.is_some_and(|sha| {
            self.state
                .uploads()
                .get(remote)
                .is_some_and(|u| u.size == size && u.sha256 == sha)
        });
        let on_vip = on_vip.filter(|p| p.exists);
        if known && on_vip.is_some_and(|p| p.size == Some(size)) {
            UploadNeed::Keep
        } else {
            UploadNeed::Upload {
                replace: on_vip.is_some(),
            }
        }
    }

    /// What a run would do with each local input: (local file, remote path, need). Read
    /// only: one listing per folder of inputs that exists; nothing is created.
    pub async fn planned_uploads(&self) -> Result<Vec<(PathBuf, String, UploadNeed)>, Error> {
        let mut planned = Vec::new();
        let needed = self.launch_inputs();
        let mut listings: HashMap<String, Option<Listing>> = HashMap::new();
        for (remote, (local, size)) in self.local_inputs() {
            let (sha, _) = self.known_sha(&remote, &local, size).await?;
            let dir = parent_of(&remote).to_owned();
            if needed.contains(&remote) && !listings.contains_key(&dir) {
                let client = &self.conn.client;
                let listing = if client.exists(&dir).await? {
                    Some(listing_of(client.list(&dir).await?))
                } else {
                    None
                };
                listings.insert(dir.clone(), listing);
            }
            let entry = listings
                .get(&dir)
                .and_then(Option::as_ref)
                .and_then(|l| l.get(&remote));
            let need = self.upload_need(&needed, &remote, size, sha.as_deref(), entry);
            planned.push((local, remote, need));
        }
        Ok(planned)
    }

    /// The local inputs in the order the items use them (manifest order), each once: the
    /// first item's inputs are sent first, so it is launched first.
    fn inputs_in_item_order(&self) -> Vec<(String, PathBuf, u64)> {
        let files = self.local_inputs();
        let mut seen = HashSet::new();
        self.v
            .items
            .iter()
            .flat_map(|item| self.item_uploads(item))
            .filter(|remote| seen.insert(remote.clone()))
            .filter_map(|remote| {
                let (local, size) = files.get(&remote)?.clone();
                Some((remote, local, size))
            })
            .collect()
    }

    /// Decides each input the items need from the state and one listing of its folder (the
    /// folders made if missing), and queues those to send; the transfers run in the pool.
    /// The folders are asked about side by side, [`CALLS_AT_ONCE`] at a time, and a folder's
    /// files are decided (and their transfers started) as soon as it is ready: VIP's latency
    /// is paid once per batch of folders, not once per file. In a `run`, a folder whose calls
    /// keep failing parks its inputs (tried again by [`Self::retry_uploads`]) and the others
    /// go on; elsewhere the failure ends the command.
    pub(super) async fn upload_inputs(&mut self) -> Result<(), Error> {
        let needed = self.launch_inputs();
        let files = self.inputs_in_item_order();
        let mut by_dir: IndexMap<String, Vec<(String, PathBuf, u64)>> = IndexMap::new();
        for (remote, local, size) in files {
            self.remote_inputs.insert(local.clone(), remote.clone());
            if needed.contains(&remote) {
                by_dir
                    .entry(parent_of(&remote).to_owned())
                    .or_default()
                    .push((remote, local, size));
            } else {
                // Not sent, but a change is still worth saying.
                self.check_changed(&remote, &local, size).await?;
            }
        }
        let conn = self.conn;
        let (client, folders) = (&conn.client, Arc::clone(&self.folders));
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
                Err(e) if self.waits_out_trouble() && Self::is_trouble(&e).is_some() => {
                    let vip = Self::is_trouble(&e).expect("checked").clone();
                    for (remote, ..) in files {
                        self.park_upload(&remote, &vip);
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
        let needed = self.launch_inputs();
        for (remote, local, size) in self.inputs_in_item_order() {
            if self.interrupt.is_set() {
                break;
            }
            let due = self
                .trouble
                .uploads
                .get(&remote)
                .is_some_and(|p| !p.given_up() && p.until <= std::time::Instant::now());
            if !due || self.pool.uploading(&remote) {
                continue;
            }
            let asked = match self
                .folders
                .ensure(&self.conn.client, parent_of(&remote))
                .await
            {
                Ok(()) => self
                    .conn
                    .client
                    .properties(&remote)
                    .await
                    .map_err(Error::from),
                Err(e) => Err(e),
            };
            match asked {
                Ok(on_vip) => {
                    self.decide_upload(&needed, remote, local, size, Some(&on_vip))
                        .await?;
                }
                Err(e) if self.waits_out_trouble() && Self::is_trouble(&e).is_some() => {
                    let vip = Self::is_trouble(&e).expect("checked").clone();
                    self.park_upload(&remote, &vip);
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// What is known of `local`'s content (see [`Self::known_sha`]); a file that changed
    /// since it was uploaded to `remote` is named with the items that used it.
    async fn check_changed(
        &mut self,
        remote: &str,
        local: &Path,
        size: u64,
    ) -> Result<(Option<String>, Option<i64>), Error> {
        let (sha, mtime) = self.known_sha(remote, local, size).await?;
        if let Some(u) = self
            .state
            .uploads()
            .get(remote)
            .filter(|u| u.size != size || sha.as_ref().is_some_and(|s| *s != u.sha256))
        {
            let at = u.at.clone();
            self.warn_changed_input(local, &at);
        }
        Ok((sha, mtime))
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
        let (sha, mtime) = self.check_changed(&remote, &local, size).await?;
        match self.upload_need(needed, &remote, size, sha.as_deref(), on_vip) {
            UploadNeed::NotNeeded => {}
            UploadNeed::Keep => {
                self.trouble.uploads.remove(&remote);
                self.pool.on_vip.insert(remote.clone());
                self.emit(&Event::UploadSkipped {
                    local: local.display().to_string(),
                    remote,
                });
            }
            UploadNeed::Upload { replace } => {
                let sha = self
                    .identified(&remote)
                    .filter(|c| c.size == size && c.mtime.is_some() && c.mtime == mtime)
                    .map(|c| c.sha256.clone());
                self.pool.queue_upload(UploadJob {
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

    /// Says which items keep executions launched with an earlier content of `local`.
    fn warn_changed_input(&mut self, local: &Path, uploaded_at: &str) {
        let affected: Vec<String> = self
            .v
            .items
            .iter()
            .filter(|i| {
                i.inputs.values().any(|w| {
                    w.values().iter().any(
                        |v| matches!(&v.kind, ValueKind::LocalFile { path, .. } if path == local),
                    )
                })
            })
            .filter(|i| {
                self.state
                    .items()
                    .get(&i.key)
                    .is_some_and(|s| !s.attempts.is_empty())
            })
            .map(|i| i.key.clone())
            .collect();
        if !affected.is_empty() {
            self.emit(&Event::Warning {
                message: format!(
                    "{} changed since it was uploaded ({uploaded_at}); items {} keep their executions, which used the earlier content (inputs are identified by path): rename the file to run them again",
                    local.display(),
                    affected.join(", ")
                ),
            });
        }
    }
}

/// Sends one file (a transfer task): VIP's copy deleted first when it is to be replaced
/// (VIP does not overwrite reliably), the file streamed and hashed in the same pass while
/// one of the pool's `bytes` permits is held, then the size VIP stored checked (the one call
/// besides the transfer). Returns the SHA-256.
pub(super) async fn send_file(
    client: &Client,
    bytes: &Semaphore,
    job: &UploadJob,
    bar: Option<ByteBar>,
) -> Result<String, Error> {
    if job.replace {
        client.delete_path(&job.remote).await?;
    }
    let sha = {
        let _moving = bytes.acquire().await.expect("the pool never closes it");
        if let Some(bar) = &bar {
            bar.grow(job.size);
        }
        let on_bytes = bar.as_ref().map(ByteBar::on_bytes);
        match &job.sha {
            // Hashed already: sent without hashing again, then checked unchanged (same size
            // and time), so the recorded hash is of what was sent.
            Some(sha) => {
                client
                    .upload_known(&job.local, &job.remote, on_bytes)
                    .await?;
                let now = std::fs::metadata(&job.local).ok();
                if now.as_ref().map(std::fs::Metadata::len) != Some(job.size)
                    || now.as_ref().and_then(crate::files::mtime_ms) != job.mtime
                {
                    return Err(Error::Vip(crate::vip::VipError::Local {
                        operation: format!("PUT {}", job.remote),
                        detail: format!(
                            "{} changed while it was sent; it is sent again",
                            job.local.display()
                        ),
                    }));
                }
                sha.clone()
            }
            None => {
                client
                    .upload_with_progress(&job.local, &job.remote, on_bytes)
                    .await?
            }
        }
    };
    let check = client.properties(&job.remote).await?;
    if check.size != Some(job.size) {
        return Err(Error::UploadIncomplete {
            local: job.local.display().to_string(),
            size: job.size,
            stored: check.size.unwrap_or(0),
            remote: job.remote.clone(),
        });
    }
    Ok(sha)
}

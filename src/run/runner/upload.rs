//! Uploading the inputs once by content: a file already on VIP with the same size and
//! SHA-256 (as recorded when it was sent) is not sent again; a changed file is re-sent, and
//! items launched with its earlier content are named. An upload that still fails after its
//! retries parks that input (and the items that use it) in a `run`; the others go on.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;

use crate::error::Error;
use crate::files::FileError;
use crate::manifest::ValueKind;
use crate::manifest::expand::hex;
use crate::report::run::Event;
use crate::run::state::Upload;
use crate::time;

use super::{Runner, UploadNeed, inputs_root};

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
        item.inputs
            .values()
            .flat_map(crate::manifest::InputWire::values)
            .filter_map(|v| match &v.kind {
                ValueKind::LocalFile { upload, .. } => Some(format!("{root}/{upload}")),
                _ => None,
            })
            .collect()
    }

    /// Where each local input goes on VIP, known before anything is sent (for adoption).
    pub(super) fn note_remote_inputs(&mut self) {
        for (remote, (local, _)) in self.local_inputs() {
            self.remote_inputs.insert(local, remote);
        }
    }

    /// The SHA-256 of `local` and its modification time. Unchanged size and time: the hash
    /// recorded at `remote` stands (no re-read of big files).
    async fn content_hash(
        &self,
        remote: &str,
        local: &Path,
        size: u64,
    ) -> Result<(String, Option<i64>), Error> {
        let mtime = modified_ms(local);
        let sha = match self.state.uploads().get(remote) {
            Some(u) if u.size == size && u.mtime.is_some() && u.mtime == mtime => u.sha256.clone(),
            _ => file_sha256(local)
                .await
                .map_err(FileError::on("read", local))?,
        };
        Ok((sha, mtime))
    }

    /// The remote paths of the inputs of items still to launch: after a `clean`, the inputs
    /// of items already home are not sent again.
    fn launch_inputs(&self) -> HashSet<String> {
        let root = inputs_root(self.v);
        let mut needed = HashSet::new();
        if !self.launches_pending() {
            return needed;
        }
        for item in self.v.items.iter().filter(|i| self.needs_launch(i)) {
            for wire in item.inputs.values() {
                for value in wire.values() {
                    if let ValueKind::LocalFile { upload, .. } = &value.kind {
                        needed.insert(format!("{root}/{upload}"));
                    }
                }
            }
        }
        needed
    }

    /// Whether the file with `size` and `sha` must be sent to `remote`: the one rule `run`
    /// follows and `plan` shows. Inputs are needed only by items still to launch.
    async fn upload_need(
        &self,
        needed: &HashSet<String>,
        remote: &str,
        size: u64,
        sha: &str,
    ) -> Result<UploadNeed, Error> {
        if !needed.contains(remote) {
            return Ok(UploadNeed::NotNeeded);
        }
        let known = self
            .state
            .uploads()
            .get(remote)
            .is_some_and(|u| u.size == size && u.sha256 == sha);
        let on_vip = self.conn.client.properties(remote).await?;
        Ok(if known && on_vip.exists && on_vip.size == Some(size) {
            UploadNeed::Keep
        } else {
            UploadNeed::Upload {
                replace: on_vip.exists,
            }
        })
    }

    /// What a run would do with each local input: (local file, remote path, need).
    pub async fn planned_uploads(&self) -> Result<Vec<(PathBuf, String, UploadNeed)>, Error> {
        let mut planned = Vec::new();
        let needed = self.launch_inputs();
        for (remote, (local, size)) in self.local_inputs() {
            let (sha, _) = self.content_hash(&remote, &local, size).await?;
            let need = self.upload_need(&needed, &remote, size, &sha).await?;
            planned.push((local, remote, need));
        }
        Ok(planned)
    }

    /// Uploads the local files the items need, skipping those already on VIP unchanged. In a
    /// `run`, a file whose calls keep failing is parked (tried again by [`Self::retry_uploads`])
    /// and the others go on; elsewhere the failure ends the command.
    pub(super) async fn upload_inputs(&mut self) -> Result<(), Error> {
        self.upload_some(false).await
    }

    /// Tries again the parked uploads that are due.
    pub(super) async fn retry_uploads(&mut self) -> Result<(), Error> {
        self.upload_some(true).await
    }

    async fn upload_some(&mut self, only_parked: bool) -> Result<(), Error> {
        let needed = self.launch_inputs();
        for (remote, (local, size)) in self.local_inputs() {
            self.remote_inputs.insert(local.clone(), remote.clone());
            if self.interrupt.is_set() {
                continue;
            }
            if only_parked
                && !self
                    .trouble
                    .uploads
                    .get(&remote)
                    .is_some_and(|p| !p.given_up() && p.until <= std::time::Instant::now())
            {
                continue;
            }
            match self.upload_one(&needed, &remote, &local, size).await {
                Ok(()) => {
                    self.trouble.uploads.remove(&remote);
                }
                Err(e) if self.waits_out_trouble() && Self::is_trouble(&e).is_some() => {
                    let vip = Self::is_trouble(&e).expect("checked").clone();
                    self.park_upload(&remote, &vip);
                }
                // VIP kept part of the file: sent again (after a delete) on the next try.
                Err(e @ Error::UploadIncomplete { .. }) if self.waits_out_trouble() => {
                    let vip = crate::vip::VipError::Local {
                        operation: format!("PUT {remote}"),
                        detail: e.to_string(),
                    };
                    self.park_upload(&remote, &vip);
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Uploads one local file unless VIP has it unchanged.
    async fn upload_one(
        &mut self,
        needed: &HashSet<String>,
        remote: &str,
        local: &Path,
        size: u64,
    ) -> Result<(), Error> {
        let root = inputs_root(self.v);
        let remote = remote.to_owned();
        let local = local.to_path_buf();
        let (sha, mtime) = self.content_hash(&remote, &local, size).await?;
        if let Some(u) = self
            .state
            .uploads()
            .get(&remote)
            .filter(|u| u.sha256 != sha)
        {
            let at = u.at.clone();
            self.warn_changed_input(&local, &at);
        }
        let shown = local.display().to_string();
        match self.upload_need(needed, &remote, size, &sha).await? {
            UploadNeed::NotNeeded => return Ok(()),
            UploadNeed::Keep => {
                self.emit(&Event::UploadSkipped {
                    local: shown,
                    remote,
                });
                return Ok(());
            }
            UploadNeed::Upload { replace: true } => {
                // Different content (or a partial upload): VIP does not overwrite reliably.
                self.conn.client.delete_path(&remote).await?;
            }
            UploadNeed::Upload { replace: false } => {}
        }
        let parent = remote
            .rsplit_once('/')
            .map_or(root.as_str(), |(p, _)| p)
            .to_owned();
        self.conn.client.mkdir_p(&parent).await?;
        let bar = self.transfer_bar(&format!("uploading {shown}"), size);
        let on_bytes = bar.as_ref().map(|(_, f)| f.clone());
        let sent = self
            .conn
            .client
            .upload_with_progress(&local, &remote, on_bytes)
            .await;
        if let Some((bar, _)) = bar {
            bar.finish_and_clear();
        }
        sent?;
        let check = self.conn.client.properties(&remote).await?;
        if check.size != Some(size) {
            return Err(Error::UploadIncomplete {
                local: shown,
                size,
                stored: check.size.unwrap_or(0),
                remote,
            });
        }
        self.state.record_upload(
            &remote,
            Upload {
                local: local.clone(),
                size,
                sha256: sha,
                mtime,
                at: time::rfc3339(time::now_ms()),
            },
        );
        self.dirty = true;
        self.save()?;
        self.emit(&Event::Uploaded {
            local: shown,
            remote,
            size,
        });
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

/// SHA-256 of a local file, streamed.
pub async fn file_sha256(path: &Path) -> std::io::Result<String> {
    let mut file = tokio::fs::File::open(path).await?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}
/// A file's modification time, in epoch milliseconds.
fn modified_ms(path: &Path) -> Option<i64> {
    let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok()?;
    let since = modified.duration_since(std::time::UNIX_EPOCH).ok()?;
    i64::try_from(since.as_millis()).ok()
}

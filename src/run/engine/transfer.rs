//! Moving files: uploading the inputs once by content, downloading the outputs safely
//! (each below the item's folder, streamed to `.part`, size-checked, renamed; tarballs
//! unpacked without letting an entry out).

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;

use crate::error::Error;
use crate::manifest::expand::hex;
use crate::manifest::{Item, ValueKind};
use crate::report::run::Event;
use crate::vip::wire::ExecutionStatus;

use super::{Runner, inputs_root, results_dir};
use crate::run::extract;
use crate::run::state::{Output, Upload};
use crate::run::time;

impl Runner<'_> {
    /// Uploads the local files the items need, skipping those already on VIP unchanged.
    pub(super) async fn upload_inputs(&mut self) -> Result<(), Error> {
        let root = inputs_root(self.v);
        let mut files: BTreeMap<String, (PathBuf, u64)> = BTreeMap::new();
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
        // Items that are all launched already need no uploads.
        let pending = self.v.items.iter().any(|i| self.needs_launch(i));
        for (remote, (local, size)) in files {
            self.remote_inputs.insert(local.clone(), remote.clone());
            if self.interrupt.is_set() {
                continue;
            }
            let mtime = modified_ms(&local);
            let recorded = self.state.uploads.get(&remote).cloned();
            // Unchanged size and time: the recorded hash stands (no re-read of big files).
            let sha = match &recorded {
                Some(u) if u.size == size && u.mtime.is_some() && u.mtime == mtime => {
                    u.sha256.clone()
                }
                _ => file_sha256(&local)
                    .await
                    .map_err(|e| Error::State(format!("cannot read {}: {e}", local.display())))?,
            };
            if let Some(u) = recorded.as_ref().filter(|u| u.sha256 != sha) {
                self.warn_changed_input(&local, &u.at);
            }
            if !pending {
                continue;
            }
            let known = self
                .state
                .uploads
                .get(&remote)
                .is_some_and(|u| u.size == size && u.sha256 == sha);
            let on_vip = self.conn.client.properties(&remote).await?;
            let shown = local.display().to_string();
            if known && on_vip.exists && on_vip.size == Some(size) {
                self.emit(&Event::UploadSkipped {
                    local: shown,
                    remote,
                });
                continue;
            }
            if on_vip.exists {
                // Different content (or a partial upload): VIP does not overwrite reliably.
                self.conn.client.delete_path(&remote).await?;
            }
            let parent = remote
                .rsplit_once('/')
                .map_or(root.as_str(), |(p, _)| p)
                .to_owned();
            self.conn.client.mkdir_p(&parent).await?;
            let bar = self.reporter.transfer(&format!("uploading {shown}"), size);
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
                return Err(Error::State(format!(
                    "VIP stored {} bytes of {shown} ({size} bytes) at {remote}; run again to re-upload",
                    check.size.unwrap_or(0)
                )));
            }
            self.state.uploads.insert(
                remote.clone(),
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
                    .items
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

    /// Downloads the outputs of `item`'s finished execution that are not on disk yet.
    pub(super) async fn download(&mut self, item: &Item) -> Result<(), Error> {
        let Some(folder) = item.download.clone() else {
            return Ok(());
        };
        let Some(attempt) = self.current(&item.key).cloned() else {
            return Ok(());
        };
        if Self::status_of(&attempt) != ExecutionStatus::Finished {
            return Ok(());
        }
        let state = self.item_state(&item.key);
        if !state.outputs.is_empty() && state.outputs.iter().all(|o| o.done || o.problem.is_some())
        {
            // Re-check the disk: a deleted local file is fetched again.
            if state
                .outputs
                .iter()
                .all(|o| !o.done || o.local.as_ref().is_some_and(|l| file_size(l) == o.size))
            {
                return Ok(());
            }
        }
        let execution = self.conn.client.execution(&attempt.execution_id).await?;
        let results = results_dir(item, &attempt.name);
        let mut outputs = Vec::new();
        for paths in execution.returned_files.unwrap_or_default().values() {
            for remote in paths {
                outputs.push(self.fetch_output(item, &folder, &results, remote).await?);
                if self.interrupt.is_set() {
                    break;
                }
            }
        }
        let state = self.state.items.get_mut(&item.key).expect("reconciled");
        state.outputs = outputs;
        self.dirty = true;
        self.save()
    }

    /// Reports an output that stays on VIP, and records why.
    fn not_downloaded(
        &mut self,
        key: &str,
        remote: &str,
        local: Option<PathBuf>,
        size: Option<u64>,
        shown: String,
        why: String,
    ) -> Output {
        self.emit(&Event::NotDownloaded {
            item: key.to_owned(),
            remote: remote.to_owned(),
            reason: shown,
        });
        Output {
            remote: remote.to_owned(),
            size,
            local,
            done: false,
            problem: Some(why),
        }
    }

    async fn fetch_output(
        &mut self,
        item: &Item,
        folder: &Path,
        results: &str,
        remote: &str,
    ) -> Result<Output, Error> {
        let key = item.key.clone();
        let local = match local_output_path(folder, results, remote) {
            Ok(p) => p,
            Err(why) => {
                let shown = format!("refused: {why}");
                return Ok(self.not_downloaded(&key, remote, None, None, shown, why));
            }
        };
        let props = self.conn.client.properties(remote).await?;
        if props.is_directory == Some(true) {
            let why = "a folder: VIP cannot send folders; list it in the VIP portal".to_owned();
            return Ok(self.not_downloaded(&key, remote, Some(local), None, why.clone(), why));
        }
        let size = props.size;
        if let (Some(size), Some(cap)) = (size, self.cap)
            && size > cap
        {
            let why = format!(
                "{} is over VIP's direct-transfer limit of {}: download it from the VIP portal",
                crate::report::validate::human_bytes(size),
                crate::report::validate::human_bytes(cap)
            );
            return Ok(self.not_downloaded(
                &key,
                remote,
                Some(local),
                Some(size),
                why.clone(),
                why,
            ));
        }
        if size.is_some() && file_size(&local) == size {
            return Ok(Output {
                remote: remote.to_owned(),
                size,
                local: Some(local),
                done: true,
                problem: None,
            });
        }
        if let Some(parent) = local.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| Error::State(format!("cannot create {}: {e}", parent.display())))?;
        }
        let part = local.with_file_name(format!(
            "{}.part",
            local
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        ));
        let bar = self.reporter.transfer(
            &format!("downloading {}", local.display()),
            size.unwrap_or(0),
        );
        let on_bytes = bar.as_ref().map(|(_, f)| f.clone());
        let received = self
            .conn
            .client
            .download_with_progress(remote, &part, on_bytes)
            .await;
        if let Some((bar, _)) = bar {
            bar.finish_and_clear();
        }
        let written = received?;
        if size.is_some_and(|s| s != written) {
            let _ = std::fs::remove_file(&part);
            let why = format!(
                "received {written} bytes of {}: run again to retry",
                size.unwrap_or(0)
            );
            return Ok(self.not_downloaded(&key, remote, Some(local), size, why.clone(), why));
        }
        std::fs::rename(&part, &local)
            .map_err(|e| Error::State(format!("cannot write {}: {e}", local.display())))?;
        self.emit(&Event::Downloaded {
            item: key.clone(),
            remote: remote.to_owned(),
            local: local.display().to_string(),
            size: written,
        });
        if self.v.extract && extract::is_tarball(&local.to_string_lossy()) {
            match extract::extract(&local) {
                Ok(done) => self.emit(&Event::Extracted {
                    item: key,
                    archive: local.display().to_string(),
                    folder: done.folder.display().to_string(),
                    files: done.files,
                    refused: done.refused,
                }),
                Err(why) => self.emit(&Event::Warning {
                    message: format!("{key}: {why}"),
                }),
            }
        }
        Ok(Output {
            remote: remote.to_owned(),
            size: Some(written),
            local: Some(local),
            done: true,
            problem: None,
        })
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

/// The local path for an output, or why it is refused: the output's path below the
/// execution's results folder, without VIP's timestamp folder; nothing may climb out.
pub fn local_output_path(
    download: &Path,
    results_dir: &str,
    remote: &str,
) -> Result<PathBuf, String> {
    let rel = remote
        .strip_prefix(results_dir)
        .and_then(|r| r.strip_prefix('/'))
        .ok_or_else(|| {
            format!("`{remote}` is outside the execution's results folder {results_dir}")
        })?;
    let mut parts: Vec<&str> = rel.split('/').filter(|s| !s.is_empty()).collect();
    if parts.len() > 1 && is_vip_timestamp(parts[0]) {
        parts.remove(0);
    }
    let mut out = download.to_path_buf();
    for part in &parts {
        let component = Path::new(part).components().next();
        if parts.is_empty()
            || *part == "."
            || *part == ".."
            || part.contains('\\')
            || part.contains('\0')
            || !matches!(component, Some(Component::Normal(_)))
        {
            return Err(format!("`{remote}` has an unsafe path segment `{part}`"));
        }
        out.push(part);
    }
    if parts.is_empty() {
        return Err(format!("`{remote}` names the results folder itself"));
    }
    Ok(out)
}

/// Whether `segment` is VIP's per-run folder name, `dd-MM-yyyy_HH:mm:ss`.
fn is_vip_timestamp(segment: &str) -> bool {
    let b = segment.as_bytes();
    b.len() == 19
        && b.iter().enumerate().all(|(i, c)| match i {
            2 | 5 => *c == b'-',
            10 => *c == b'_',
            13 | 16 => *c == b':',
            _ => c.is_ascii_digit(),
        })
}

/// A file's modification time, in epoch milliseconds.
fn modified_ms(path: &Path) -> Option<i64> {
    let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok()?;
    let since = modified.duration_since(std::time::UNIX_EPOCH).ok()?;
    i64::try_from(since.as_millis()).ok()
}

pub(super) fn file_size(path: &Path) -> Option<u64> {
    std::fs::metadata(path)
        .ok()
        .filter(std::fs::Metadata::is_file)
        .map(|m| m.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_land_below_the_download_folder_or_nowhere() {
        let dl = Path::new("/d");
        let r = "/vip/Home/vip-run/s/s-main-abc";
        assert_eq!(
            local_output_path(
                dl,
                r,
                "/vip/Home/vip-run/s/s-main-abc/28-11-2026_06:17:02/hello.txt"
            )
            .unwrap(),
            PathBuf::from("/d/hello.txt")
        );
        assert_eq!(
            local_output_path(
                dl,
                r,
                "/vip/Home/vip-run/s/s-main-abc/28-11-2026_06:17:02/001/results.tgz"
            )
            .unwrap(),
            PathBuf::from("/d/001/results.tgz")
        );
        assert!(local_output_path(dl, r, "/vip/Home/elsewhere/x").is_err());
        assert!(local_output_path(dl, r, "/vip/Home/vip-run/s/s-main-abc/../../x").is_err());
        assert!(local_output_path(dl, r, "/vip/Home/vip-run/s/s-main-abc/a/./b").is_err());
        assert!(local_output_path(dl, r, "/vip/Home/vip-run/s/s-main-abc-other/x").is_err());
    }

    #[test]
    fn vip_timestamps_are_recognised() {
        assert!(is_vip_timestamp("02-02-2026_09:21:23"));
        assert!(!is_vip_timestamp("001"));
        assert!(!is_vip_timestamp("02-02-2026-09:21:23"));
    }
}

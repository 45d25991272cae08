//! Downloading the outputs safely, on a transfer task of its own (see `pool`): each below
//! the item's folder, streamed to `.part`, size-checked, renamed; tarballs unpacked without
//! letting an entry out; outputs VIP cannot send (folders, files over the direct-transfer cap)
//! reported with their VIP path.

use std::collections::{HashMap, HashSet};
use std::path::{Component, Path, PathBuf};

use futures_util::StreamExt;
use tokio::sync::mpsc::UnboundedSender;

use crate::error::Error;
use crate::ops::extract;
use crate::ops::state::Output;
use crate::report::progress::{ByteBar, Event};
use crate::report::text::human_bytes;
use crate::vip::VipError;
use crate::vip::client::Client;
use crate::vip::wire::PathProperties;

use super::folders::{CALLS_AT_ONCE, Listing, listing_of, parent_of};
use super::pool::DownloadJob;

/// What a download task needs (it runs apart from the loop, on its own task).
pub(crate) struct Fetch {
    pub(crate) client: Client,
    /// VIP's direct-transfer cap.
    pub(crate) cap: Option<u64>,
    /// `results.extract`.
    pub(crate) extract: bool,
    /// Where the task tells what it did, file by file.
    pub(crate) events: UnboundedSender<Event>,
    pub(crate) bar: Option<ByteBar>,
    /// The pool's permits: one is held while a file's bytes move.
    pub(crate) bytes: std::sync::Arc<tokio::sync::Semaphore>,
}

/// Fetches the outputs of `job`'s finished execution that are not on disk yet (a deleted local
/// file is fetched again). Sizes come from one listing per folder of outputs (in practice one
/// per item), not a call per file (docs/vip.md#properties, #download). The files VIP returned
/// are asked for unless the poll that saw the execution end read them.
pub(crate) async fn fetch_item(f: &Fetch, job: &DownloadJob) -> Result<Vec<Output>, Error> {
    let returned = match &job.returned {
        Some(files) => files.clone(),
        None => f
            .client
            .execution(&job.execution_id)
            .await?
            .returned_files
            .unwrap_or_default(),
    };
    let remotes: Vec<String> = returned.into_values().flatten().collect();
    // Another execution's outputs (an earlier launch of this item) never mix with this
    // one's: moved aside first, into the state folder.
    job.owner.claim(&job.folder)?;
    set_aside_earlier(job)?;
    if remotes.is_empty() {
        // Recorded, so the item is not fetched again and again; said as a problem, since
        // `Finished` with nothing returned proves no result.
        let why = "VIP returned no output files for this execution".to_owned();
        return Ok(vec![f.not_downloaded(
            job,
            &job.results,
            None,
            None,
            why.clone(),
            why,
        )]);
    }
    // Where each output goes; those refused are said at once. Outputs bound for a file
    // another output goes to wait for the side-by-side fetches, then go one by one, as
    // before: two writers never share a `.part`.
    let mut wanted = Vec::new();
    let mut after = Vec::new();
    let mut outputs: Vec<Option<Output>> = Vec::new();
    let mut bound: HashSet<PathBuf> = HashSet::new();
    for remote in remotes {
        match local_output_path(&job.folder, &job.results, &remote) {
            Ok(local) => {
                let queue = if bound.insert(local.clone()) {
                    &mut wanted
                } else {
                    &mut after
                };
                queue.push((outputs.len(), remote, local));
                outputs.push(None);
            }
            Err(why) => {
                let shown = format!("refused: {why}");
                outputs.push(Some(f.not_downloaded(
                    job,
                    &remote,
                    None,
                    None,
                    shown,
                    why.to_string(),
                )));
            }
        }
    }
    // One listing per folder of outputs, made by the first of its files to need it while
    // other files already download: a listing holds no transfer permit, so the two overlap.
    // A folder VIP will not list (a path it does not know) leaves each of its files to be
    // asked about alone.
    let listed: HashMap<String, tokio::sync::OnceCell<Option<Listing>>> = wanted
        .iter()
        .chain(&after)
        .map(|(_, remote, _)| (parent_of(remote).to_owned(), tokio::sync::OnceCell::new()))
        .collect();
    let one = |(n, remote, local): (usize, String, PathBuf)| {
        let listed = &listed;
        async move {
            let dir = parent_of(&remote);
            let listing = listed[dir]
                .get_or_init(|| async { f.client.list(dir).await.ok().map(listing_of) })
                .await;
            let props = match listing.as_ref().and_then(|l| l.get(&remote)) {
                Some(p) => p.clone(),
                None => f.client.properties(&remote).await?,
            };
            f.fetch_output(job, &remote, local, &props)
                .await
                .map(|o| (n, o))
        }
    };
    // The files side by side too: the pool's permits bound the bytes in motion, so an
    // execution of many jobs (many small outputs) is not fetched one latency at a time.
    let mut fetched = futures_util::stream::iter(wanted)
        .map(one)
        .buffered(CALLS_AT_ONCE);
    while let Some(done) = fetched.next().await {
        let (n, output) = done?;
        outputs[n] = Some(output);
    }
    drop(fetched);
    for next in after {
        let (n, output) = one(next).await?;
        outputs[n] = Some(output);
    }
    Ok(outputs.into_iter().flatten().collect())
}

/// A `.part` file that goes away unless it was renamed: when its download fails, and when
/// its task is aborted (Ctrl-C).
struct PartFile {
    path: PathBuf,
    kept: bool,
}

impl Drop for PartFile {
    fn drop(&mut self) {
        if !self.kept {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

impl Fetch {
    fn tell(&self, event: Event) {
        let _ = self.events.send(event);
    }

    /// Reports an output that stays on VIP, and records why.
    fn not_downloaded(
        &self,
        job: &DownloadJob,
        remote: &str,
        local: Option<PathBuf>,
        size: Option<u64>,
        shown: String,
        why: String,
    ) -> Output {
        self.tell(Event::NotDownloaded {
            item: job.key.clone(),
            remote: remote.to_owned(),
            reason: shown,
        });
        Output {
            execution: Some(job.execution_id.clone()),
            remote: remote.to_owned(),
            size,
            local,
            done: false,
            problem: Some(why),
            sha256: None,
            mtime: None,
        }
    }

    async fn fetch_output(
        &self,
        job: &DownloadJob,
        remote: &str,
        local: PathBuf,
        props: &PathProperties,
    ) -> Result<Output, Error> {
        let key = job.key.clone();
        if props.is_directory == Some(true) {
            let why = "a folder: VIP cannot send folders; list it in the VIP portal".to_owned();
            return Ok(self.not_downloaded(job, remote, Some(local), None, why.clone(), why));
        }
        let size = props.size;
        if let (Some(size), Some(cap)) = (size, self.cap)
            && size > cap
        {
            let why = format!(
                "{} is over VIP's direct-transfer limit of {}: download it from the VIP portal",
                human_bytes(size),
                human_bytes(cap)
            );
            return Ok(self.not_downloaded(job, remote, Some(local), Some(size), why.clone(), why));
        }
        if let Some(kept) = kept_output(job, remote, &local, size)? {
            return Ok(kept);
        }
        if let Some(parent) = local.parent() {
            std::fs::create_dir_all(parent).map_err(|e| Error::disk("create", parent, &e))?;
        }
        let mut part = PartFile {
            path: local.with_file_name(format!(
                "{}.part",
                local
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            )),
            kept: false,
        };
        let (written, sha256) = {
            let _moving = self
                .bytes
                .acquire()
                .await
                .expect("the pool never closes it");
            if let Some(bar) = &self.bar {
                bar.grow(size.unwrap_or(0));
            }
            match self
                .client
                .download_with_progress(
                    remote,
                    &part.path,
                    self.bar.as_ref().map(ByteBar::on_bytes),
                )
                .await
            {
                Ok(done) => done,
                // The only local step of a download is writing the `.part` file.
                Err(VipError::Local { detail, .. }) => {
                    return Err(Error::Disk {
                        path: part.path.clone(),
                        detail,
                    });
                }
                Err(e) => return Err(e.into()),
            }
        };
        if size.is_some_and(|s| s != written) {
            // A cut transfer, not a property of the output: tried again like one.
            return Err(Error::Vip(VipError::Transport {
                operation: format!("GET {remote}"),
                kind: crate::vip::TransportKind::Broken(format!(
                    "received {written} bytes of {}",
                    size.unwrap_or(0)
                )),
            }));
        }
        // Whatever stands at the output's place and is not this execution's output (a
        // file the person put there, an earlier run's) is moved aside, never overwritten.
        if local.exists() {
            set_aside(&local, &job.aside.join("replaced"), &job.folder)?;
        }
        std::fs::rename(&part.path, &local).map_err(|e| Error::disk("write", &local, &e))?;
        part.kept = true;
        self.tell(Event::Downloaded {
            item: key.clone(),
            remote: remote.to_owned(),
            local: local.display().to_string(),
            size: written,
        });
        if self.extract && extract::is_tarball(&local.to_string_lossy()) {
            match extract::extract(&local) {
                Ok(done) => self.tell(Event::Extracted {
                    item: key,
                    archive: local.display().to_string(),
                    folder: done.folder.display().to_string(),
                    files: done.files,
                    refused: done.refused,
                }),
                Err(why) => self.tell(Event::Warning {
                    message: format!("{key}: {why}"),
                }),
            }
        }
        let mtime = crate::files::modified_ms(&local);
        Ok(Output {
            execution: Some(job.execution_id.clone()),
            remote: remote.to_owned(),
            size: Some(written),
            local: Some(local),
            done: true,
            problem: None,
            sha256: Some(sha256),
            mtime,
        })
    }
}

/// The output at `remote` as already home, when it is: recorded for this very execution,
/// with a SHA-256, and the file on disk still holds those bytes (its size and modification
/// time unchanged, or, when they changed or `download` verifies, hashed again). An output of
/// this execution recorded at another place (`results.download` changed) is moved to
/// `local` when it checks out. `None`: fetch it.
fn kept_output(
    job: &DownloadJob,
    remote: &str,
    local: &Path,
    size: Option<u64>,
) -> Result<Option<Output>, Error> {
    let Some(before) = job.previous.iter().find(|o| {
        o.remote == remote
            && o.done
            && o.execution.as_deref() == Some(job.execution_id.as_str())
            && o.sha256.is_some()
    }) else {
        return Ok(None);
    };
    let Some(was) = before.local.as_deref() else {
        return Ok(None);
    };
    let Some(meta) = std::fs::metadata(was)
        .ok()
        .filter(std::fs::Metadata::is_file)
    else {
        return Ok(None);
    };
    if Some(meta.len()) != before.size || (size.is_some() && before.size != size) {
        return Ok(None);
    }
    let unchanged =
        !job.verify && before.mtime.is_some() && crate::files::mtime_ms(&meta) == before.mtime;
    if !unchanged {
        let (_, sha) = crate::files::sha256(was).map_err(|e| Error::disk("read", was, &e))?;
        if Some(&sha) != before.sha256.as_ref() {
            return Ok(None);
        }
    }
    if was != local {
        if local.exists() {
            return Ok(None);
        }
        if let Some(parent) = local.parent() {
            std::fs::create_dir_all(parent).map_err(|e| Error::disk("create", parent, &e))?;
        }
        std::fs::rename(was, local).map_err(|e| Error::disk("write", local, &e))?;
    }
    Ok(Some(Output {
        local: Some(local.to_path_buf()),
        mtime: crate::files::modified_ms(local),
        ..before.clone()
    }))
}

/// Moves aside the outputs recorded for `job`'s item from another execution, with the
/// folders their tarballs were unpacked into: into `<state>/superseded/<item>/<execution>/`.
fn set_aside_earlier(job: &DownloadJob) -> Result<(), Error> {
    for o in &job.previous {
        if o.execution.as_deref() == Some(job.execution_id.as_str()) {
            continue;
        }
        let Some(local) = o.local.as_deref() else {
            continue;
        };
        let into = job.aside.join(o.execution.as_deref().unwrap_or("earlier"));
        if local.exists() {
            set_aside(local, &into, &job.folder)?;
        }
        if extract::is_tarball(&local.to_string_lossy()) {
            let unpacked = extract::target_folder(local);
            if unpacked.is_dir() {
                set_aside(&unpacked, &into, &job.folder)?;
            }
        }
    }
    Ok(())
}

/// Moves `path` (a file or a folder) below `into`, at its place relative to `folder` (or by
/// its name when it lies elsewhere). Nothing is deleted; a name taken there gets a suffix.
fn set_aside(path: &Path, into: &Path, folder: &Path) -> Result<(), Error> {
    let rel = path
        .strip_prefix(folder)
        .ok()
        .filter(|r| !r.as_os_str().is_empty())
        .map_or_else(
            || PathBuf::from(path.file_name().unwrap_or_default()),
            Path::to_path_buf,
        );
    let mut target = into.join(&rel);
    let mut n = 1;
    while target.exists() {
        target = into.join(format!("{}.{n}", rel.display()));
        n += 1;
    }
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent).map_err(|e| Error::disk("create", parent, &e))?;
    }
    match std::fs::rename(path, &target) {
        Ok(()) => Ok(()),
        // Another file system: removed rather than left to mix with the new outputs.
        Err(e) if e.kind() == std::io::ErrorKind::CrossesDevices => {
            if path.is_dir() {
                std::fs::remove_dir_all(path).map_err(|e| Error::disk("remove", path, &e))
            } else {
                std::fs::remove_file(path).map_err(|e| Error::disk("remove", path, &e))
            }
        }
        Err(e) => Err(Error::disk("move aside", path, &e)),
    }
}

/// Why an output's path is refused (a hostile or confused server cannot write outside the
/// item's folder).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefusedPath {
    /// Not below the execution's results folder.
    #[error("`{remote}` is outside the execution's results folder {results_dir}")]
    Outside {
        /// The output's VIP path.
        remote: String,
        /// The execution's results folder.
        results_dir: String,
    },
    /// A segment that could climb out or confuse the file system.
    #[error("`{remote}` has an unsafe path segment `{part}`")]
    UnsafeSegment {
        /// The output's VIP path.
        remote: String,
        /// The segment.
        part: String,
    },
    /// The results folder itself.
    #[error("`{remote}` names the results folder itself")]
    Folder {
        /// The output's VIP path.
        remote: String,
    },
}

/// The local path for an output, or why it is refused: the output's path below the
/// execution's results folder, without VIP's timestamp folder; nothing may climb out.
pub fn local_output_path(
    download: &Path,
    results_dir: &str,
    remote: &str,
) -> Result<PathBuf, RefusedPath> {
    let rel = remote
        .strip_prefix(results_dir)
        .and_then(|r| r.strip_prefix('/'))
        .ok_or_else(|| RefusedPath::Outside {
            remote: remote.to_owned(),
            results_dir: results_dir.to_owned(),
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
            return Err(RefusedPath::UnsafeSegment {
                remote: remote.to_owned(),
                part: (*part).to_owned(),
            });
        }
        out.push(part);
    }
    if parts.is_empty() {
        return Err(RefusedPath::Folder {
            remote: remote.to_owned(),
        });
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

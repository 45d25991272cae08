//! Downloading the outputs safely: each below the item's folder, streamed to `.part`,
//! size-checked, renamed; tarballs unpacked without letting an entry out; outputs VIP cannot
//! send (folders, files over the direct-transfer cap) reported with their VIP path.

use std::path::{Component, Path, PathBuf};

use crate::error::Error;
use crate::files::FileError;
use crate::manifest::Item;
use crate::report::run::Event;
use crate::report::text::human_bytes;
use crate::run::extract;
use crate::run::state::Output;

use super::{Runner, results_dir};

impl Runner<'_> {
    /// Downloads the outputs of `item`'s finished execution that are not on disk yet (a
    /// deleted local file is fetched again): see [`Runner::needs_download`].
    pub(super) async fn download(&mut self, item: &Item) -> Result<(), Error> {
        if !self.needs_download(item) {
            return Ok(());
        }
        let (Some(folder), Some(attempt)) =
            (item.download.clone(), self.current(&item.key).cloned())
        else {
            return Ok(());
        };
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
        let state = self.state.item_mut(&item.key).expect("reconciled");
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
                return Ok(self.not_downloaded(&key, remote, None, None, shown, why.to_string()));
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
                human_bytes(size),
                human_bytes(cap)
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
            std::fs::create_dir_all(parent).map_err(FileError::on("create", parent))?;
        }
        let part = local.with_file_name(format!(
            "{}.part",
            local
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        ));
        let bar = self.transfer_bar(
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
        if received.is_err() {
            // Started over on the next try; never left behind.
            let _ = std::fs::remove_file(&part);
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
        std::fs::rename(&part, &local).map_err(FileError::on("write", &local))?;
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

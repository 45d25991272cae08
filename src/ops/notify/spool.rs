//! The notices a run could not send, kept in the state folder
//! (`.vip-run/<name>/notify/pending/*.json`, one file each) for the next run to send before
//! its own start, oldest first.
//!
//! A file names its channel by id (a digest of what the channel is, never its secrets) and
//! holds the notice, which holds no secret either; the secret is read again when it is sent.
//! A notice is dropped, with a line that says so, after [`MAX_TRIES`] runs that failed to send
//! it or [`MAX_AGE_MS`]: a week-old "run started" helps nobody. A notice for a channel this
//! run does not have (a `--notify` run, a channel since removed) is left for a run that has
//! it, until it is too old.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::outbox::Letter;
use crate::report::notice::Notice;

/// Runs that may fail to send a notice before it is dropped.
pub(crate) const MAX_TRIES: u32 = 5;
/// How old a notice may get before it is dropped.
pub(crate) const MAX_AGE_MS: i64 = 7 * 24 * 3600 * 1000;
/// Most notices kept: past them, the oldest go.
const MAX_PENDING: usize = 200;

/// One pending notice, as written.
#[derive(Debug, Serialize, Deserialize)]
struct Pending {
    /// The channel's id.
    channel: String,
    /// How messages named the channel (never a secret).
    label: String,
    /// Runs that tried to send it.
    tries: u32,
    /// Why the last one failed.
    last_error: Option<String>,
    notice: Notice,
}

/// The pending notices' folder.
#[derive(Debug, Clone)]
pub(crate) struct Spool {
    dir: PathBuf,
}

impl Spool {
    /// The spool of the run whose files are in `state_dir`.
    pub(crate) fn new(state_dir: &Path) -> Self {
        Self {
            dir: state_dir.join("notify").join("pending"),
        }
    }

    /// The pending notices of the channels `ids` names, oldest first, by channel id; the
    /// others are left, but dropped once too old.
    pub(crate) fn take(&self, ids: &[&str], now: i64) -> HashMap<String, Vec<Letter>> {
        let mut found: HashMap<String, Vec<Letter>> = HashMap::new();
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return found;
        };
        let mut files: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        // Named by the notice's time: the name's order is the notices'.
        files.sort();
        for file in files {
            let pending = std::fs::read(&file)
                .ok()
                .and_then(|b| serde_json::from_slice::<Pending>(&b).ok());
            let Some(p) = pending else {
                tracing::warn!(
                    "notify: {} is not a pending notice vip-run can read; removed",
                    file.display()
                );
                let _ = std::fs::remove_file(&file);
                continue;
            };
            if now - p.notice.at > MAX_AGE_MS {
                drop_notice(&file, &p, "older than a week");
                continue;
            }
            if ids.contains(&p.channel.as_str()) {
                found.entry(p.channel.clone()).or_default().push(Letter {
                    notice: p.notice,
                    file: Some(file),
                    tries: p.tries,
                    failed: None,
                });
            }
        }
        found
    }

    /// Keeps `left`, the letters a run could not send to the channel `id` (`label`): those
    /// it tried count one more try; those it did not are kept as they were.
    pub(crate) fn keep(&self, id: &str, label: &str, left: Vec<Letter>) {
        for letter in left {
            let tries = letter.tries + u32::from(letter.failed.is_some());
            let pending = Pending {
                channel: id.to_owned(),
                label: label.to_owned(),
                tries,
                last_error: letter.failed.clone(),
                notice: letter.notice,
            };
            let file = letter.file.unwrap_or_else(|| {
                self.dir.join(format!(
                    "{:013}-{}-{}-{:08x}.json",
                    pending.notice.at,
                    pending.notice.event,
                    id,
                    super::random_u64() & 0xffff_ffff
                ))
            });
            if tries >= MAX_TRIES {
                drop_notice(&file, &pending, &format!("{tries} runs could not send it"));
                continue;
            }
            if letter.failed.is_none() && file.exists() {
                continue;
            }
            let written = serde_json::to_vec_pretty(&pending)
                .map_err(std::io::Error::other)
                .and_then(|bytes| {
                    crate::files::write_atomically(&file, &bytes).map_err(std::io::Error::other)
                });
            if let Err(e) = written {
                tracing::warn!(
                    "notify: the {} notice for {label} is lost: cannot keep it in {}: {e}",
                    pending.notice.event,
                    self.dir.display()
                );
            }
        }
        self.trim();
    }

    /// Drops the oldest notices past [`MAX_PENDING`].
    fn trim(&self) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        let mut files: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        files.sort();
        let excess = files.len().saturating_sub(MAX_PENDING);
        for file in &files[..excess] {
            tracing::error!(
                "notify: more than {MAX_PENDING} notices wait to be sent; dropped the oldest, {}",
                file.display()
            );
            let _ = std::fs::remove_file(file);
        }
    }
}

/// Drops a pending notice for good, saying so even under `-q`: a notice nobody will get.
fn drop_notice(file: &Path, p: &Pending, why: &str) {
    tracing::error!(
        "notify: dropped the {} notice of {} for {} ({why}; last error: {})",
        p.notice.event,
        crate::time::rfc3339(p.notice.at),
        p.label,
        p.last_error.as_deref().unwrap_or("none")
    );
    let _ = std::fs::remove_file(file);
}

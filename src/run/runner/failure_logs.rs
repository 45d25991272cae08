//! Keeping a failed item's logs next to its results (`<download>/logs/<execution>/`), so a
//! cron batch's failures can be read later without VIP: stdout and stderr of the execution,
//! or of each job when it has several (`job-<id>.stdout.txt`).
//!
//! Items that download nothing keep theirs under the run folder (`.vip-run/<name>/logs/<key>/`).
//! Fetching logs is best effort: a failure to read or write them is a warning, never a
//! failed run.

use std::path::PathBuf;

use crate::files::write_atomically;
use crate::report::run::Event;
use crate::run::logs::fetch;
use crate::vip::LogStream;
use crate::vip::wire::Execution;

use super::Runner;

impl Runner<'_> {
    /// Saves the logs of `e`, the failed execution of item `key`; returns their folder.
    pub(super) async fn keep_failure_logs(&mut self, key: &str, e: &Execution) -> Option<PathBuf> {
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
            let logs = match fetch(&self.conn.client, e, stream, None).await {
                Ok(logs) => logs,
                Err(err) => {
                    self.emit(&Event::Warning {
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
                        self.emit(&Event::Warning {
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

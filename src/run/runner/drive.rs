//! The run's loop: launch what may be launched, poll, download what finished, until every
//! item is settled (or the run detaches, or Ctrl-C).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::manifest::Item;
use crate::report::run::Event;
use crate::vip::wire::ExecutionStatus;

use super::{FIRST_POLL, Mode, Outcome, Runner, Summary};

impl Runner<'_> {
    /// Runs to the end (or, with `detach`, until everything that can be launched now is
    /// launched; or to Ctrl-C). A tending runner (`download`) fetches what is finished now
    /// and does not wait for the rest.
    pub async fn run(mut self, detach: bool) -> Result<Summary, Error> {
        let download_only = self.mode != Mode::Launch;
        self.prepare().await?;
        if !download_only {
            self.upload_inputs().await?;
        }
        let mut delay = FIRST_POLL;
        let mut downloaded: HashMap<String, bool> = HashMap::new();
        loop {
            if self.interrupt.is_set() {
                break;
            }
            // Launch what may be launched.
            if !download_only && self.quota_until.is_none_or(|t| Instant::now() >= t) {
                self.quota_until = None;
                let items: Vec<&Item> = self
                    .v
                    .items
                    .iter()
                    .filter(|i| self.needs_launch(i))
                    .collect();
                for item in items {
                    if self.interrupt.is_set()
                        || self.running_count() >= self.v.execution.max_parallel as usize
                    {
                        break;
                    }
                    if !self.launch(item).await? {
                        break;
                    }
                }
            }
            let waiting_to_launch =
                !download_only && self.v.items.iter().any(|i| self.needs_launch(i));
            if detach
                && (!waiting_to_launch
                    || self.quota_until.is_some()
                    || self.running_count() >= self.v.execution.max_parallel as usize)
            {
                break;
            }
            let running_before = self.running_count();
            let changed = self.poll().await?;
            if self.running_count() < running_before {
                // A slot freed up: the quota may allow a launch now.
                self.quota_until = None;
            }
            // Download what finished.
            for item in &self.v.items {
                if self.interrupt.is_set() {
                    break;
                }
                let finished = self
                    .current(&item.key)
                    .is_some_and(|a| Self::status_of(a) == ExecutionStatus::Finished);
                if finished && !downloaded.get(&item.key).copied().unwrap_or(false) {
                    if self.needs_download(item) {
                        self.download(item).await?;
                    }
                    downloaded.insert(item.key.clone(), true);
                    let outcome = self
                        .outcomes()
                        .into_iter()
                        .find(|(k, _)| k == &item.key)
                        .map(|(_, o)| o);
                    let result = match outcome {
                        Some(Outcome::DoneWithProblems(p)) => {
                            format!("finished; not all outputs downloaded: {p}")
                        }
                        _ => "finished".to_owned(),
                    };
                    self.emit(&Event::ItemFinished {
                        item: item.key.clone(),
                        result,
                        execution: self.current(&item.key).map(|a| a.execution_id.clone()),
                    });
                }
            }
            let outcomes = self.outcomes();
            let done = outcomes.iter().all(|(k, o)| {
                let item = self
                    .v
                    .items
                    .iter()
                    .find(|i| &i.key == k)
                    .expect("same items");
                match o {
                    Outcome::InProgress => false,
                    Outcome::NotLaunched => download_only,
                    Outcome::Failed(_) => !self.needs_launch(item),
                    _ => true,
                }
            });
            if done {
                break;
            }
            // `download` fetches what is finished now; it does not wait for the rest.
            if download_only {
                break;
            }
            let running = self.running_count();
            self.status_line(&format!("{running} running"));
            let ceiling = self.poll_ceiling();
            delay = if changed {
                FIRST_POLL
            } else {
                (delay * 3 / 2).min(ceiling)
            };
            let wait = match self.quota_until {
                Some(t) => delay.min(
                    t.saturating_duration_since(Instant::now())
                        .max(Duration::from_millis(100)),
                ),
                None => delay,
            };
            self.interrupt.sleep(wait).await;
        }
        self.save()?;
        let interrupted = self.interrupt.is_set();
        let outcomes = self.outcomes();
        self.write_record(&outcomes)?;
        let junit = self.junit_cases(&outcomes);
        Ok(Summary {
            outcomes,
            junit,
            interrupted,
        })
    }
}

//! What the run does next with each item, decided in one place: `run` acts on it and `plan`
//! shows it, so the two cannot drift apart. Launches (first, or a retry of a failure within
//! `execution.retries`), downloads (a finished execution whose outputs are not all on disk),
//! and each item's outcome.

use crate::manifest::Item;
use crate::vip::wire::ExecutionStatus;

use super::lifecycle::{HomeProof, Lifecycle, Phase};
use super::{Mode, Outcome, Runner, UNKNOWN_GRACE};
use crate::run::state::Attempt;

/// Whether `status` means VIP lost track: `Unknown`, or a status vip-run does not know,
/// which is treated the same (waited out for a grace period, then a failure).
pub(super) fn is_lost(status: &ExecutionStatus) -> bool {
    matches!(status, ExecutionStatus::Unknown | ExecutionStatus::Other(_))
}

/// What a run does next with an item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Launch it: `attempt` 0 is the first launch, more is a retry of a failure.
    Launch {
        /// The attempt (0-based), also the count of executions launched so far.
        attempt: usize,
    },
    /// Download the outputs of its finished execution.
    Download,
    /// Keep its current execution: watch it, or nothing (finished, failed for good…).
    Keep,
}

/// What a run does with a local input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadNeed {
    /// Nothing: no item that uses inputs is waiting to be launched.
    NotNeeded,
    /// It is on VIP with the same size and content as recorded.
    Keep,
    /// Send it; `replace` when a different (or partial) file is at its path.
    Upload {
        /// Whether something is at the path already (deleted first).
        replace: bool,
    },
}

impl Runner<'_> {
    /// What the run does next with `item`: the rule `run` follows and `plan` shows.
    pub fn next(&self, item: &Item) -> Next {
        if self.needs_launch(item) {
            return Next::Launch {
                attempt: self.attempt_count(&item.key),
            };
        }
        if self.needs_download(item) {
            return Next::Download;
        }
        Next::Keep
    }

    /// Whether `item`'s execution finished and some of its outputs are not home (see
    /// [`Self::outputs_complete`]); `download` looks at every finished item, and checks
    /// what is on disk byte for byte.
    pub(super) fn needs_download(&self, item: &Item) -> bool {
        item.download.is_some()
            && self
                .current(&item.key)
                .is_some_and(|a| Self::status_of(a) == ExecutionStatus::Finished)
            && (self.mode == Mode::Tend || !self.outputs_complete(item))
    }

    /// Whether any item waits for a launch (first, or a retry).
    pub(super) fn launches_pending(&self) -> bool {
        self.life
            .indexes()
            .queue
            .iter()
            .any(|&i| self.needs_launch(&self.v.items[i]))
    }

    /// Whether `item` needs a (new) launch: never launched, or failed with retries left.
    pub(super) fn needs_launch(&self, item: &Item) -> bool {
        if self.mode == Mode::Tend {
            return false;
        }
        if self.launch_error.contains_key(&item.key) {
            return false;
        }
        if self.relaunch_pending(item) {
            return true;
        }
        let state = self.item_state(&item.key);
        match state.attempts.last() {
            None => true,
            Some(a) if a.timed_out => false,
            Some(a) => {
                let status = Self::status_of(a);
                let failed = matches!(
                    status,
                    ExecutionStatus::ExecutionFailed | ExecutionStatus::InitializationFailed
                ) || (is_lost(&status) && self.unknown_expired(&a.execution_id));
                failed && state.attempts.len() <= self.v.execution.retries as usize
            }
        }
    }

    /// Whether `--relaunch` asks for `item` to be launched again and it has not been yet
    /// in this run: an item named, once its execution ended (or timed out); with `failed`,
    /// an item whose execution failed, was killed or timed out.
    pub fn relaunch_pending(&self, item: &Item) -> bool {
        if self.relaunch.is_empty() || self.relaunched.contains(&item.key) {
            return false;
        }
        let Some(a) = self.current(&item.key) else {
            return false;
        };
        let status = Self::status_of(a);
        let ended = a.timed_out || status.is_terminal();
        let failed = a.timed_out
            || matches!(
                status,
                ExecutionStatus::ExecutionFailed
                    | ExecutionStatus::InitializationFailed
                    | ExecutionStatus::Killed
            );
        self.relaunch
            .iter()
            .any(|s| (s == &item.key && ended) || (s == crate::run::RELAUNCH_FAILED && failed))
    }

    pub(super) fn unknown_expired(&self, id: &str) -> bool {
        self.unknown_since
            .get(id)
            .is_some_and(|t| t.elapsed() >= UNKNOWN_GRACE)
    }

    pub(super) fn is_active(a: &Attempt) -> bool {
        !a.timed_out && !Self::status_of(a).is_terminal()
    }

    /// Whether every output of `item`'s current execution is home (see [`HomeProof`]).
    pub(super) fn outputs_complete(&self, item: &Item) -> bool {
        self.home_proof(item).is_some()
    }

    /// That `item`'s outputs are home, when they are: recorded for its current execution, at
    /// the place `results.download` gives now, with their SHA-256, and the files there still
    /// of that size and modification time (a file whose time moved is hashed again by the
    /// download, and fetched again if it differs); or reported as ones VIP cannot send.
    /// Outputs of another execution never count.
    pub(super) fn home_proof(&self, item: &Item) -> Option<HomeProof> {
        let current = self.current(&item.key)?;
        HomeProof::check(
            self.state.items().get(&item.key)?,
            &current.execution_id,
            item.download.as_deref(),
        )
    }

    /// For `item` finished on VIP with outputs to download: whether they are all home
    /// (`status`); `None` when it is not finished or downloads nothing.
    pub fn home(&self, item: &Item) -> Option<bool> {
        let finished = self
            .current(&item.key)
            .is_some_and(|a| Self::status_of(a) == ExecutionStatus::Finished);
        (finished && item.download.is_some()).then(|| self.outputs_complete(item))
    }

    /// How many executions were launched for `key`.
    pub(super) fn attempt_count(&self, key: &str) -> usize {
        self.state.items().get(key).map_or(0, |s| s.attempts.len())
    }

    /// Each item's outcome now (O(N): at the end of a run).
    pub(super) fn outcomes(&self) -> Vec<(String, Outcome)> {
        self.v
            .items
            .iter()
            .map(|item| (item.key.clone(), self.outcome_of(item)))
            .collect()
    }

    /// `item`'s outcome now.
    pub(super) fn outcome_of(&self, item: &Item) -> Outcome {
        if let Some(e) = self.launch_error.get(&item.key) {
            return Outcome::Failed(e.clone());
        }
        if let Some((why, unreachable)) = self.blocked(&item.key, &self.item_uploads(item)) {
            return Outcome::Blocked { why, unreachable };
        }
        let state = self.item_state(&item.key);
        match state.attempts.last() {
            None => Outcome::NotLaunched,
            Some(a) if a.timed_out => Outcome::TimedOut,
            Some(a) => match Self::status_of(a) {
                ExecutionStatus::Finished if self.home(item) == Some(false) => {
                    Outcome::NotDownloaded(self.not_home.get(&item.key).cloned().unwrap_or_else(
                        || "its outputs are not on disk yet (or changed there)".to_owned(),
                    ))
                }
                ExecutionStatus::Finished => {
                    let problems: Vec<&str> = state
                        .outputs
                        .iter()
                        .filter_map(|o| o.problem.as_deref())
                        .collect();
                    if problems.is_empty() {
                        Outcome::Done
                    } else {
                        Outcome::DoneWithProblems(problems.join("; "))
                    }
                }
                s if s.is_terminal() => Outcome::Failed(format!(
                    "{s}{}{}",
                    a.logs
                        .as_ref()
                        .map(|l| format!(" (logs in {})", l.display()))
                        .unwrap_or_default(),
                    a.stderr_tail
                        .as_deref()
                        .map(|t| format!("\n{t}"))
                        .unwrap_or_default()
                )),
                s if is_lost(&s) && self.unknown_expired(&a.execution_id) => {
                    Outcome::Failed(format!("VIP lost track of the execution ({s})"))
                }
                _ => Outcome::InProgress,
            },
        }
    }
}

impl Runner<'_> {
    /// `item`'s phase as its state says now: at the start, and after VIP told something of it
    /// (a launch, a status, a time limit) or the run decided something (a refused launch, a
    /// grace period run out). What the run did with a finished item's outputs is not in the
    /// state's attempts: [`Self::touch`] keeps those phases.
    fn phase_now(&self, item: &Item) -> Phase {
        if self.launch_error.contains_key(&item.key) {
            return Phase::Refused;
        }
        let current = self.current(&item.key);
        if self.needs_launch(item) {
            return match current.filter(|a| Self::is_active(a)) {
                // Lost for longer than the grace period, with a retry left.
                Some(a) => Phase::LostGivenUp {
                    execution: a.execution_id.clone(),
                    retry: true,
                },
                None => Phase::Pending,
            };
        }
        let Some(a) = current else {
            return Phase::NotLaunched;
        };
        if a.timed_out {
            return Phase::TimedOut;
        }
        let execution = a.execution_id.clone();
        match Self::status_of(a) {
            ExecutionStatus::Finished => Phase::Finished,
            s if s.is_terminal() => Phase::Failed,
            s if is_lost(&s) && self.unknown_expired(&execution) => Phase::LostGivenUp {
                execution,
                retry: false,
            },
            s if is_lost(&s) => Phase::Lost { execution },
            _ => Phase::Active { execution },
        }
    }

    /// Starts every item's phase from the state: O(N), once the state holds every item.
    pub(super) fn start_lifecycle(&mut self) {
        let v = self.v;
        let keys = v.items.iter().map(|i| i.key.clone()).collect();
        self.life = Lifecycle::start(keys, |i| self.phase_now(&v.items[i]));
    }

    /// Moves the item at `i` to `to` (see [`Lifecycle::go`]). A transition the lifecycle does
    /// not have is a bug: it stops a debug build, and is logged and refused otherwise.
    pub(super) fn advance(&mut self, i: usize, to: Phase) {
        if let Err(e) = self.life.go(i, to) {
            debug_assert!(false, "{e}");
            tracing::error!("{e}");
        }
    }

    /// Brings `key`'s phase up to date after its state changed.
    pub(super) fn touch(&mut self, key: &str) {
        // An item not in the lifecycle yet (before `prepare`) has no phase.
        let Some(i) = self.life.position(key) else {
            return;
        };
        let now = self.phase_now(&self.v.items[i]);
        if now == Phase::Finished
            && matches!(
                self.life.phase(i),
                Phase::Downloading | Phase::Home(_) | Phase::NotDownloaded
            )
        {
            return;
        }
        self.advance(i, now);
    }

    /// Looks again at the items VIP lost track of: their grace period runs out with no
    /// event, and then they take no slot and may be launched again.
    pub(super) fn touch_lost(&mut self) {
        let lost: Vec<String> = self.life.indexes().lost.iter().cloned().collect();
        for key in lost {
            self.touch(&key);
        }
    }

    /// Executions taking a slot of `max_parallel` (an `Unknown` one given up on does not).
    pub(super) fn running_count(&self) -> usize {
        self.life.indexes().running()
    }

    /// (item key, execution id) of the queued and running executions (of `only`, if given).
    pub(super) fn active(&self, only: Option<&str>) -> Vec<(String, String)> {
        let active = &self.life.indexes().active;
        match only {
            Some(k) => active
                .get_key_value(k)
                .map(|(k, id)| (k.clone(), id.clone()))
                .into_iter()
                .collect(),
            None => active
                .iter()
                .map(|(k, id)| (k.clone(), id.clone()))
                .collect(),
        }
    }

    /// The first item at or after manifest position `from` that may be launched now.
    pub(super) fn next_launchable(&self, from: usize) -> Option<usize> {
        self.life
            .indexes()
            .queue
            .range(from..)
            .copied()
            .find(|&i| self.may_launch_now(&self.v.items[i]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_vip_run_does_not_know_is_treated_like_unknown() {
        for (text, lost) in [
            ("Unknown", true),
            ("Paused", true),
            ("", true),
            ("Running", false),
            ("Ready", false),
            ("Finished", false),
            ("ExecutionFailed", false),
        ] {
            let status = ExecutionStatus::from(text);
            assert_eq!(is_lost(&status), lost, "{text}");
        }
    }
}

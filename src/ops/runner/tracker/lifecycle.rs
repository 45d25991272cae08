//! Each item's phase in this run, held in one place and changed in one place.
//!
//! A [`Lifecycle`] holds one [`Phase`] per item of the manifest and the indexes the run's loop
//! reads instead of walking every item (the launch queue, the executions to poll, those VIP
//! lost track of, the finished items to fetch, the items whose outcome can still change).
//! [`Lifecycle::go`] is the only way a phase changes: it refuses a transition the diagram in
//! `docs/architecture.md` does not have, writes the change to the log (`-vv`), and keeps the
//! indexes equal to what the phases say, so nothing is kept in step by hand.
//!
//! Where the phase comes from: at the start of a command, and after each change VIP reports
//! (a launch, a status, a time limit), from the item's state (`Tracker::phase_now`); in between,
//! from what the run itself did (a download queued, recorded, refused). `Home` needs a
//! [`HomeProof`], which only a look at the recorded outputs and the files on disk gives: a
//! phase cannot say "home" while the outputs are not.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::path::Path;

use crate::ops::state::ItemState;

/// Where an item is in this run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Needs a launch: never launched, failed with a retry left, or `--relaunch`ed. Whether
    /// its inputs are on VIP yet, and whether the quota allows it now, is the launcher's to
    /// see; it stays `Pending` until VIP has the execution.
    Pending,
    /// Launched; VIP has it queued or running.
    Active {
        /// The execution on VIP.
        execution: String,
    },
    /// Launched, and VIP lost track of it (`Unknown`, or a status vip-run does not know):
    /// waited out for a grace period.
    Lost {
        /// The execution on VIP.
        execution: String,
    },
    /// VIP lost track of it for longer than the grace period: it takes no slot, is still
    /// polled (it may come back), and is launched again when a retry is left.
    LostGivenUp {
        /// The execution on VIP.
        execution: String,
        /// Whether a retry is left (it is in the launch queue).
        retry: bool,
    },
    /// Finished on VIP; its outputs not looked at yet in this run.
    Finished,
    /// Finished; its outputs are being fetched.
    Downloading,
    /// Finished and its outputs are home (or it has none to fetch): settled.
    Home(HomeProof),
    /// Finished, but this machine refused to store its outputs (exit 6): settled for this
    /// run; the next run or `download` fetches them.
    NotDownloaded,
    /// Failed or killed on VIP with no retry left: settled.
    Failed,
    /// Over `execution.timeout`: settled for this run (the next command looks again).
    TimedOut,
    /// VIP refused the launch itself: settled.
    Refused,
    /// Never launched, in a command that does not launch (`download`, `cancel`): settled.
    NotLaunched,
}

/// That an item's outputs are home: every output of its current execution recorded for that
/// execution below the download folder, with its SHA-256, and the file still of the recorded
/// size and modification time (or an output VIP cannot send, recorded as such); or an item
/// that downloads nothing. Only [`HomeProof::check`] makes one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HomeProof(());

impl HomeProof {
    /// Looks at `state`'s outputs for `execution` (the item's current one) and the files on
    /// disk below `folder` (`results.download`; `None`: nothing to download).
    pub(crate) fn check(
        state: &ItemState,
        execution: &str,
        folder: Option<&Path>,
    ) -> Option<HomeProof> {
        let Some(folder) = folder else {
            return Some(HomeProof(()));
        };
        let home = !state.outputs.is_empty()
            && state.outputs.iter().all(|o| {
                o.execution.as_deref() == Some(execution)
                    && (o.problem.is_some()
                        || (o.done
                            && o.sha256.is_some()
                            && o.mtime.is_some()
                            && o.local.as_ref().is_some_and(|l| {
                                // One `stat` for the size and the time.
                                l.starts_with(folder)
                                    && std::fs::metadata(l).is_ok_and(|m| {
                                        m.is_file()
                                            && Some(m.len()) == o.size
                                            && crate::files::mtime_ms(&m) == o.mtime
                                    })
                            })))
            });
        home.then_some(HomeProof(()))
    }
}

impl Phase {
    /// The phase's name, as the log and the diagram say it.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Phase::Pending => "pending",
            Phase::Active { .. } => "active",
            Phase::Lost { .. } => "lost",
            Phase::LostGivenUp { .. } => "lost-given-up",
            Phase::Finished => "finished",
            Phase::Downloading => "downloading",
            Phase::Home(_) => "home",
            Phase::NotDownloaded => "not-downloaded",
            Phase::Failed => "failed",
            Phase::TimedOut => "timed-out",
            Phase::Refused => "refused",
            Phase::NotLaunched => "not-launched",
        }
    }

    /// The execution VIP has for the item, while it is watched.
    fn execution(&self) -> Option<&str> {
        match self {
            Phase::Active { execution }
            | Phase::Lost { execution }
            | Phase::LostGivenUp { execution, .. } => Some(execution),
            _ => None,
        }
    }

    /// A phase that follows what VIP says of the item's execution (or that it needs one).
    fn follows_vip(&self) -> bool {
        matches!(
            self,
            Phase::Pending
                | Phase::Active { .. }
                | Phase::Lost { .. }
                | Phase::LostGivenUp { .. }
                | Phase::Finished
                | Phase::Failed
                | Phase::TimedOut
        )
    }

    /// Whether the item is in the launch queue in this phase.
    fn queued(&self) -> bool {
        matches!(
            self,
            Phase::Pending | Phase::LostGivenUp { retry: true, .. }
        )
    }

    /// Whether the diagram has an arrow from `self` to `to`. A new execution comes only
    /// from a launch, a launch only from the queue, and a new execution takes the item out of it.
    fn may_go_to(&self, to: &Phase) -> bool {
        use Phase::{
            Active, Downloading, Failed, Finished, Home, Lost, LostGivenUp, NotDownloaded, Pending,
            Refused, TimedOut,
        };
        if let Some(new) = to.execution()
            && self.execution() != Some(new)
            && (!self.queued() || matches!(to, Phase::LostGivenUp { .. }))
        {
            // A new execution is not given up on before its grace period.
            return false;
        }
        match (self, to) {
            // Launched, refused, or found on VIP after an ambiguous launch (in any state).
            (Pending, to) => to.follows_vip() || *to == Refused,
            // What VIP says, or what the run decides of it (a time limit, a retry).
            (Active { .. } | Lost { .. } | LostGivenUp { .. }, to) => to.follows_vip(),
            // Fetched, found home already, or launched again (`--relaunch`); a download
            // recorded, refused by the disk, or parked after a failure (fetched again); a
            // failure launched again (a retry, `--relaunch`).
            // Home, but without a file `results.expect` names: failed (or relaunched).
            (
                Finished | Downloading,
                Downloading | Home(_) | NotDownloaded | Pending | Finished | Failed,
            )
            | (Failed | TimedOut, Pending) => true,
            // Settled for this run (home, not downloaded, refused, not launched): nothing
            // moves them; a new command starts from the state.
            _ => false,
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A transition the lifecycle does not have: a bug in the caller, refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Impossible {
    pub(crate) item: String,
    pub(crate) from: &'static str,
    pub(crate) to: &'static str,
}

impl fmt::Display for Impossible {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: no transition from {} to {}",
            self.item, self.from, self.to
        )
    }
}

/// What the loop reads, derived from the phases only (see [`Indexes::of`]).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Indexes {
    /// Items that need a launch, by manifest position.
    pub(crate) queue: BTreeSet<usize>,
    /// Item key → execution of the items VIP has (queued, running or lost), by key (the
    /// order polls and cancels have always gone in).
    pub(crate) active: BTreeMap<String, String>,
    /// Keys of the active items VIP lost track of.
    pub(crate) lost: BTreeSet<String>,
    /// Items finished on VIP whose outputs were not looked at yet, by manifest position.
    pub(crate) finished: BTreeSet<usize>,
    /// Items whose outcome may still change in this run, by manifest position.
    pub(crate) unsettled: BTreeSet<usize>,
    /// Active items given up on (they take no slot).
    given_up: usize,
}

impl Indexes {
    /// The indexes of `phases` (`keys[i]` is the key of the item at position `i`), computed
    /// from scratch.
    pub(crate) fn of(keys: &[String], phases: &[Phase]) -> Self {
        let mut ix = Self::default();
        for (i, phase) in phases.iter().enumerate() {
            ix.enter(i, &keys[i], phase);
        }
        ix
    }

    /// Adds the item at `i` to the indexes its `phase` puts it in.
    fn enter(&mut self, i: usize, key: &str, phase: &Phase) {
        match phase {
            Phase::Pending => {
                self.queue.insert(i);
                self.unsettled.insert(i);
            }
            Phase::Active { execution } => {
                self.active.insert(key.to_owned(), execution.clone());
                self.unsettled.insert(i);
            }
            Phase::Lost { execution } => {
                self.active.insert(key.to_owned(), execution.clone());
                self.lost.insert(key.to_owned());
                self.unsettled.insert(i);
            }
            Phase::LostGivenUp { execution, retry } => {
                self.active.insert(key.to_owned(), execution.clone());
                self.lost.insert(key.to_owned());
                self.unsettled.insert(i);
                self.given_up += 1;
                if *retry {
                    self.queue.insert(i);
                }
            }
            Phase::Finished => {
                self.finished.insert(i);
            }
            Phase::Downloading
            | Phase::Home(_)
            | Phase::NotDownloaded
            | Phase::Failed
            | Phase::TimedOut
            | Phase::Refused
            | Phase::NotLaunched => {}
        }
    }

    /// Takes the item at `i` out of the indexes its `phase` put it in.
    fn leave(&mut self, i: usize, key: &str, phase: &Phase) {
        self.queue.remove(&i);
        self.unsettled.remove(&i);
        self.finished.remove(&i);
        if phase.execution().is_some() {
            self.active.remove(key);
            self.lost.remove(key);
        }
        if matches!(phase, Phase::LostGivenUp { .. }) {
            self.given_up -= 1;
        }
    }

    /// The executions taking a slot of `max_parallel` (one given up on does not).
    pub(crate) fn running(&self) -> usize {
        self.active.len() - self.given_up
    }
}

/// Every item's phase, and the indexes (see the module's comment).
#[derive(Debug, Default)]
pub(crate) struct Lifecycle {
    keys: Vec<String>,
    pos: HashMap<String, usize>,
    phases: Vec<Phase>,
    ix: Indexes,
}

impl Lifecycle {
    /// The lifecycle of the items `keys` (in manifest order), each starting at `phase_of`
    /// its position.
    pub(crate) fn start(keys: Vec<String>, phase_of: impl FnMut(usize) -> Phase) -> Self {
        let phases: Vec<Phase> = (0..keys.len()).map(phase_of).collect();
        let ix = Indexes::of(&keys, &phases);
        let pos = keys
            .iter()
            .enumerate()
            .map(|(i, k)| (k.clone(), i))
            .collect();
        Self {
            keys,
            pos,
            phases,
            ix,
        }
    }

    /// The position of the item `key`, once the lifecycle has started.
    pub(crate) fn position(&self, key: &str) -> Option<usize> {
        self.pos.get(key).copied()
    }

    /// The phase of the item at `i`.
    pub(crate) fn phase(&self, i: usize) -> &Phase {
        &self.phases[i]
    }

    /// The indexes.
    pub(crate) fn indexes(&self) -> &Indexes {
        &self.ix
    }

    /// Moves the item at `i` to `to`: the one place a phase changes. Refuses a transition the
    /// lifecycle does not have (the phase stays); returns whether the phase changed.
    pub(crate) fn go(&mut self, i: usize, to: Phase) -> Result<bool, Impossible> {
        let from = &self.phases[i];
        if *from == to {
            return Ok(false);
        }
        if !from.may_go_to(&to) {
            return Err(Impossible {
                item: self.keys[i].clone(),
                from: from.name(),
                to: to.name(),
            });
        }
        tracing::debug!("{}: {from} → {to}", self.keys[i]);
        let key = &self.keys[i];
        self.ix.leave(i, key, from);
        self.ix.enter(i, key, &to);
        self.phases[i] = to;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn phase(n: u8, retry: bool) -> Phase {
        let execution = format!("e{n}");
        match n % 12 {
            0 => Phase::Pending,
            1 => Phase::Active { execution },
            2 => Phase::Lost { execution },
            3 => Phase::LostGivenUp { execution, retry },
            4 => Phase::Finished,
            5 => Phase::Downloading,
            6 => Phase::Home(HomeProof(())),
            7 => Phase::NotDownloaded,
            8 => Phase::Failed,
            9 => Phase::TimedOut,
            10 => Phase::Refused,
            _ => Phase::NotLaunched,
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Random transitions, possible or not: the indexes always equal a recomputation
        /// from the phases, no item is lost, an impossible transition changes nothing, and an
        /// item is never launched (in the queue) while VIP has it (taking a slot).
        #[test]
        fn indexes_follow_the_phases(
            start in proptest::collection::vec(0u8..12, 1..12),
            moves in proptest::collection::vec((0usize..12, 0u8..48, any::<bool>()), 0..200),
        ) {
            let keys: Vec<String> = (0..start.len()).map(|i| format!("item-{i}")).collect();
            let mut life = Lifecycle::start(keys.clone(), |i| phase(start[i], i % 2 == 0));
            let mut launches = vec![0usize; keys.len()];
            let mut queued = vec![0usize; keys.len()];
            for (i, to, retry) in moves {
                let i = i % keys.len();
                let before = life.phase(i).clone();
                let to = phase(to, retry);
                let was_queued = life.indexes().queue.contains(&i);
                match life.go(i, to.clone()) {
                    Ok(changed) => {
                        if changed && to.queued() && !before.queued() {
                            queued[i] += 1;
                        }
                        prop_assert_eq!(life.phase(i), &to);
                        if to.execution().is_some() && to.execution() != before.execution() {
                            // A launch (a new execution): only from the queue.
                            prop_assert!(was_queued, "{} launched from {}", keys[i], before);
                            launches[i] += 1;
                        }
                    }
                    Err(e) => {
                        prop_assert_eq!(life.phase(i), &before, "{}", e);
                        prop_assert!(!before.may_go_to(&to));
                    }
                }
                prop_assert_eq!(life.indexes(), &Indexes::of(&keys, &life.phases));
                prop_assert_eq!(life.phases.len(), keys.len());
                for (k, pos) in &life.pos {
                    prop_assert_eq!(&keys[*pos], k);
                }
                let ix = life.indexes();
                for &q in &ix.queue {
                    // In the queue and taking a slot at once would launch it twice.
                    prop_assert!(
                        !ix.active.contains_key(&keys[q])
                            || matches!(life.phase(q), Phase::LostGivenUp { .. }),
                        "{} queued while running", keys[q]
                    );
                }
                prop_assert!(ix.running() <= ix.active.len());
                // Each launch took the item out of the queue it had entered.
                for n in 0..keys.len() {
                    let at_start = usize::from(phase(start[n], n % 2 == 0).queued());
                    prop_assert!(launches[n] <= queued[n] + at_start, "{} launched twice", keys[n]);
                }
            }
        }
    }

    #[test]
    fn settled_phases_stay_settled_and_home_needs_its_proof() {
        let keys = vec!["a".to_owned()];
        let mut life = Lifecycle::start(keys, |_| Phase::Finished);
        assert_eq!(life.go(0, Phase::Downloading), Ok(true));
        assert_eq!(life.go(0, Phase::NotDownloaded), Ok(true));
        let refused = life.go(0, Phase::Pending).expect_err("settled");
        assert_eq!(
            refused.to_string(),
            "a: no transition from not-downloaded to pending"
        );
        // No outputs recorded: not home.
        let state = ItemState::default();
        assert_eq!(
            HomeProof::check(&state, "e1", Some(Path::new("results"))),
            None
        );
        assert!(HomeProof::check(&state, "e1", None).is_some());
    }
}

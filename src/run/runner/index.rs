//! The loop's indexes, so a cycle costs what changed rather than the number of items:
//! the items waiting for a launch (in manifest order), the active executions,
//! the active ones VIP lost track of (their grace period runs out without an event), the
//! finished items not handled yet in this run, and the items not settled for good.
//!
//! They are derived from the state, never a second source of truth: built in O(N) by `prepare`
//! (once the state holds every item), and brought up to date for one item with
//! [`Runner::touch`] wherever that item's state (or its launch error) changes. The launch
//! queue and the finished set are checked again with the rules in `decide` before anything
//! is done, so an extra entry costs a look, never a wrong action; `unsettled` holds every
//! item whose outcome can still change (trouble and time are looked at each cycle, for
//! those items only).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use crate::manifest::Item;
use crate::vip::wire::ExecutionStatus;

use super::{Mode, Runner};

/// The indexes (see the module's doc).
#[derive(Debug, Default)]
pub(super) struct Index {
    /// Item key → its position in the manifest.
    pub(super) pos: HashMap<String, usize>,
    /// Items that need a launch (first, or a retry), by manifest position.
    pub(super) queue: BTreeSet<usize>,
    /// Item key → execution id of the queued and running executions, by key (the order
    /// polls and cancels have always gone in).
    pub(super) active: BTreeMap<String, String>,
    /// Keys of active executions whose status says VIP lost track (`Unknown` or unknown).
    pub(super) lost: BTreeSet<String>,
    /// Finished items not handled yet in this run, by manifest position.
    pub(super) finished: BTreeSet<usize>,
    /// Finished items handled in this run (downloaded, their end reported).
    handled: HashSet<usize>,
    /// Items whose outcome may still change in this run, by manifest position: the end
    /// condition looks at these only (the others are settled whatever happens).
    pub(super) unsettled: BTreeSet<usize>,
}

fn put<T: Ord>(set: &mut BTreeSet<T>, value: T, member: bool) {
    if member {
        set.insert(value);
    } else {
        set.remove(&value);
    }
}

impl Runner<'_> {
    /// Builds the indexes from the state: O(N), once at the start.
    pub(super) fn rebuild_index(&mut self) {
        let handled = std::mem::take(&mut self.index.handled);
        self.index = Index {
            pos: self
                .v
                .items
                .iter()
                .enumerate()
                .map(|(i, item)| (item.key.clone(), i))
                .collect(),
            handled,
            ..Index::default()
        };
        let v = self.v;
        for item in &v.items {
            self.touch(&item.key);
        }
    }

    /// Brings the indexes up to date for `key` after its state changed.
    pub(super) fn touch(&mut self, key: &str) {
        // An item the state does not hold yet (before `prepare`) is in no index.
        let Some(&i) = self
            .index
            .pos
            .get(key)
            .filter(|_| self.state.items().contains_key(key))
        else {
            return;
        };
        let v = self.v;
        let item = &v.items[i];
        let needs_launch = self.needs_launch(item);
        let settled = self.settled_for_good(item);
        let current = self.current(key);
        let active = current
            .filter(|a| Self::is_active(a))
            .map(|a| (a.execution_id.clone(), Self::status_of(a)));
        let finished = current.is_some_and(|a| Self::status_of(a) == ExecutionStatus::Finished)
            && !self.index.handled.contains(&i);
        let ix = &mut self.index;
        put(&mut ix.queue, i, needs_launch);
        put(&mut ix.unsettled, i, !settled);
        put(&mut ix.finished, i, finished);
        if let Some((id, status)) = active {
            put(
                &mut ix.lost,
                key.to_owned(),
                super::decide::is_lost(&status),
            );
            ix.active.insert(key.to_owned(), id);
        } else {
            ix.lost.remove(key);
            ix.active.remove(key);
        }
    }

    /// Re-reads the items VIP lost track of: their grace period runs out with no event, and
    /// then they take no slot and may be launched again.
    pub(super) fn touch_lost(&mut self) {
        let lost: Vec<String> = self.index.lost.iter().cloned().collect();
        for key in lost {
            self.touch(&key);
        }
    }

    /// Records that the finished item at `i` was handled in this run.
    pub(super) fn mark_handled(&mut self, i: usize) {
        self.index.finished.remove(&i);
        self.index.handled.insert(i);
    }

    /// Whether `item`'s outcome is settled whatever else happens in this run (the end
    /// condition in `drive` holds for it): refused at launch, timed out, finished, failed
    /// with no retry left, or not launched in a command that never launches.
    fn settled_for_good(&self, item: &Item) -> bool {
        if self.launch_error.contains_key(&item.key) {
            return true;
        }
        if self.relaunch_pending(item) {
            return false;
        }
        match self.current(&item.key) {
            None => self.mode != Mode::Launch,
            Some(a) if a.timed_out => true,
            Some(a) => {
                let status = Self::status_of(a);
                status == ExecutionStatus::Finished
                    || (status.is_terminal() && !self.needs_launch(item))
            }
        }
    }

    /// Executions taking a slot of `max_parallel` (an `Unknown` one given up on does not).
    pub(super) fn running_count(&self) -> usize {
        let expired = self
            .index
            .lost
            .iter()
            .filter_map(|k| self.index.active.get(k))
            .filter(|id| self.unknown_expired(id))
            .count();
        self.index.active.len() - expired
    }

    /// (item key, execution id) of the queued and running executions (of `only`, if given).
    pub(super) fn active(&self, only: Option<&str>) -> Vec<(String, String)> {
        match only {
            Some(k) => self
                .index
                .active
                .get_key_value(k)
                .map(|(k, id)| (k.clone(), id.clone()))
                .into_iter()
                .collect(),
            None => self
                .index
                .active
                .iter()
                .map(|(k, id)| (k.clone(), id.clone()))
                .collect(),
        }
    }

    /// The first item at or after manifest position `from` that may be launched now.
    pub(super) fn next_launchable(&self, from: usize) -> Option<usize> {
        self.index
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
    fn put_adds_and_removes() {
        let mut set = BTreeSet::new();
        put(&mut set, 3, true);
        put(&mut set, 1, true);
        put(&mut set, 3, false);
        assert_eq!(set.into_iter().collect::<Vec<_>>(), vec![1]);
    }
}

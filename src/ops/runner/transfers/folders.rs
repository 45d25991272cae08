//! Folders on VIP as this run knows them, so that each is created once per run and nothing
//! is asked about file by file: a folder is made top-down, only when one listing of its
//! parent says it is not there, and a folder's listing is asked once and kept (a folder this
//! run made is known empty without asking).
//!
//! Several folders are prepared at once (an item's results folder while others launch, the
//! inputs' folders side by side), so what is known sits behind a lock, and each folder has an
//! async lock of its own: two calls that need the same folder make it (or list it) once, the
//! second waiting for the first. No call holds two of these locks at once, so none can wait
//! on another in a cycle.
//!
//! What a listing says stays true while the run goes on: the run lock keeps other runs of
//! the manifest out, and what this run adds to a listed folder it notes itself.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use crate::error::Error;
use crate::vip::wire::PathProperties;
use crate::vip::{Client, VipError};

/// A folder's entries, by path.
pub(crate) type Listing = HashMap<String, PathProperties>;

/// How many calls about folders (listings, mkdirs) and executions (launches, status reads)
/// a run has in flight at once, besides the transfers: enough that VIP's latency is paid
/// once for a batch rather than once per item, few enough to stay a polite client (the
/// Python client downloads with 10 threads).
pub(crate) const CALLS_AT_ONCE: usize = 8;

/// The folders known to exist, each with its entries once they are known.
#[derive(Debug, Default)]
pub(crate) struct Folders {
    known: Mutex<HashMap<String, Option<Listing>>>,
    /// One lock per folder being made or listed.
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// Whether `path` is `/vip` or one of its direct children (`/vip/Home`, a group's folder),
/// which exist and cannot be created.
fn is_root(path: &str) -> bool {
    path.split('/').filter(|s| !s.is_empty()).count() <= 2
}

/// The top folder (`/vip/Home`, a group's) that holds `path`: the one whose listing making
/// `path` starts from when nothing is known of the folders between (see [`Folders::ensure`]).
pub(crate) fn root_of(path: &str) -> &str {
    let mut at = path.trim_end_matches('/');
    while !is_root(at) {
        at = parent_of(at);
    }
    at
}

/// The folder holding `path`.
pub(crate) fn parent_of(path: &str) -> &str {
    path.rsplit_once('/').map_or("/vip", |(p, _)| p)
}

/// A listing keyed by path (without a trailing slash, as vip-run writes paths).
pub(crate) fn listing_of(entries: Vec<PathProperties>) -> Listing {
    entries
        .into_iter()
        .map(|e| (e.path.trim_end_matches('/').to_owned(), e))
        .collect()
}

impl Folders {
    fn known(&self) -> std::sync::MutexGuard<'_, HashMap<String, Option<Listing>>> {
        self.known.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn lock_of(&self, path: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.locks.lock().unwrap_or_else(PoisonError::into_inner);
        locks.entry(path.to_owned()).or_default().clone()
    }

    fn is_known(&self, path: &str) -> bool {
        self.known().contains_key(path)
    }

    /// Notes `listing` as what the folder `dir`, known to exist, holds (read before the
    /// run started), unless this run knows it already.
    pub(crate) fn prime(&self, dir: &str, listing: Listing) {
        self.known()
            .entry(dir.trim_end_matches('/').to_owned())
            .or_insert(Some(listing));
    }

    /// Makes sure the folder `path` is on VIP: nothing when known; else its missing
    /// ancestors and itself are made top-down, each after one listing of its parent says it
    /// is not there (whether mkdir on an existing folder fails on VIP is open,
    /// docs/vip.md#data: never asking it is safe on both readings).
    pub(crate) async fn ensure(&self, client: &Client, path: &str) -> Result<(), Error> {
        let path = path.trim_end_matches('/');
        let mut missing = Vec::new();
        let mut at = path;
        while !self.is_known(at) && !is_root(at) {
            missing.push(at.to_owned());
            at = parent_of(at);
        }
        if is_root(at) {
            self.known().entry(at.to_owned()).or_insert(None);
        }
        for dir in missing.into_iter().rev() {
            let up = parent_of(&dir).to_owned();
            let entry = self.entry(client, &up, &dir).await?;
            let lock = self.lock_of(&dir);
            let _made_once = lock.lock().await;
            if self.is_known(&dir) {
                // Made (or found) by another call meanwhile.
                continue;
            }
            match entry {
                Some(entry) if entry.is_directory != Some(false) => {
                    self.known().insert(dir, None);
                }
                Some(_) => {
                    return Err(VipError::Local {
                        operation: format!("PUT {dir}"),
                        detail: "a file is on VIP where vip-run needs a folder: move it away"
                            .into(),
                    }
                    .into());
                }
                None => {
                    client.mkdir(&dir).await?;
                    let mut known = self.known();
                    if let Some(Some(listing)) = known.get_mut(&up) {
                        listing.insert(dir.clone(), folder_entry(&dir));
                    }
                    known.insert(dir, Some(Listing::new()));
                }
            }
        }
        Ok(())
    }

    /// What VIP has at `path` in `dir`, a folder known to exist, from its one listing of
    /// the run.
    pub(crate) async fn entry(
        &self,
        client: &Client,
        dir: &str,
        path: &str,
    ) -> Result<Option<PathProperties>, Error> {
        let lock = self.lock_of(dir);
        let _listed_once = lock.lock().await;
        if !matches!(self.known().get(dir), Some(Some(_))) {
            let listing = listing_of(client.list(dir).await?);
            let mut known = self.known();
            let kept = known.entry(dir.to_owned()).or_insert(None);
            match kept {
                // What this run noted meanwhile stays (it is newer than the listing).
                Some(noted) => {
                    for (k, v) in listing {
                        noted.entry(k).or_insert(v);
                    }
                }
                None => *kept = Some(listing),
            }
        }
        Ok(self.known()[dir]
            .as_ref()
            .and_then(|listing| listing.get(path))
            .cloned())
    }

    /// Makes sure the folder `dir` is on VIP and its listing known.
    pub(crate) async fn listed(&self, client: &Client, dir: &str) -> Result<(), Error> {
        self.ensure(client, dir).await?;
        self.entry(client, dir, dir).await.map(drop)
    }

    /// What VIP has at `remote`, from the listing of its folder already read (see
    /// [`Self::listed`]); no call, no wait.
    pub(crate) fn listed_already(&self, remote: &str) -> Option<PathProperties> {
        self.known()
            .get(parent_of(remote))
            .and_then(Option::as_ref)
            .and_then(|listing| listing.get(remote))
            .cloned()
    }
}

/// The entry of a folder this run made.
fn folder_entry(dir: &str) -> PathProperties {
    PathProperties {
        path: dir.to_owned(),
        last_modification_date: None,
        is_directory: Some(true),
        exists: true,
        size: None,
        execution_id: None,
        mime_type: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roots_are_never_created() {
        assert!(is_root("/vip"));
        assert!(is_root("/vip/Home"));
        assert!(is_root("/vip/Demo (group)"));
        assert!(!is_root("/vip/Home/vip-run"));
        assert_eq!(parent_of("/vip/Home/vip-run/x"), "/vip/Home/vip-run");
        assert_eq!(root_of("/vip/Home/vip-run/x/inputs"), "/vip/Home");
        assert_eq!(root_of("/vip/Demo (group)/results/"), "/vip/Demo (group)");
        assert_eq!(root_of("/vip/Home"), "/vip/Home");
    }
}

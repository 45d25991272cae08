//! Folders on VIP as this run knows them, so that each is created once per run and nothing
//! is asked about file by file: a folder is made top-down, only when one listing of its
//! parent says it is not there, and a folder's listing is asked once and kept (a folder this
//! run made is known empty without asking).
//!
//! What a listing says stays true while the run goes on: the run lock keeps other runs of
//! the manifest out, and what this run adds to a listed folder it notes itself.

use std::collections::HashMap;

use crate::error::Error;
use crate::vip::VipError;
use crate::vip::wire::PathProperties;

use super::Runner;

/// A folder's entries, by path.
pub(super) type Listing = HashMap<String, PathProperties>;

/// The folders known to exist, each with its entries once they are known.
#[derive(Debug, Default)]
pub(super) struct Folders {
    known: HashMap<String, Option<Listing>>,
}

/// Whether `path` is `/vip` or one of its direct children (`/vip/Home`, a group's folder),
/// which exist and cannot be created.
fn is_root(path: &str) -> bool {
    path.split('/').filter(|s| !s.is_empty()).count() <= 2
}

/// The folder holding `path`.
pub(super) fn parent_of(path: &str) -> &str {
    path.rsplit_once('/').map_or("/vip", |(p, _)| p)
}

/// A listing keyed by path (without a trailing slash, as vip-run writes paths).
pub(super) fn listing_of(entries: Vec<PathProperties>) -> Listing {
    entries
        .into_iter()
        .map(|e| (e.path.trim_end_matches('/').to_owned(), e))
        .collect()
}

impl Runner<'_> {
    /// Makes sure the folder `path` is on VIP: nothing when known; else its missing
    /// ancestors and itself are made top-down, each after one listing of its parent says it
    /// is not there (whether mkdir on an existing folder fails on VIP is open, vip-api.md
    /// §4.7: never asking it is safe on both readings).
    pub(super) async fn ensure_dir(&mut self, path: &str) -> Result<(), Error> {
        let path = path.trim_end_matches('/');
        let mut missing = Vec::new();
        let mut at = path;
        while !self.folders.known.contains_key(at) && !is_root(at) {
            missing.push(at.to_owned());
            at = parent_of(at);
        }
        if is_root(at) {
            self.folders.known.entry(at.to_owned()).or_insert(None);
        }
        for dir in missing.into_iter().rev() {
            let up = parent_of(&dir).to_owned();
            match self.listing(&up).await?.get(&dir).cloned() {
                Some(entry) if entry.is_directory != Some(false) => {
                    self.folders.known.insert(dir, None);
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
                    self.conn.client.mkdir(&dir).await?;
                    if let Some(Some(listing)) = self.folders.known.get_mut(&up) {
                        listing.insert(
                            dir.clone(),
                            PathProperties {
                                path: dir.clone(),
                                last_modification_date: None,
                                is_directory: Some(true),
                                exists: true,
                                size: None,
                                execution_id: None,
                                mime_type: None,
                            },
                        );
                    }
                    self.folders.known.insert(dir, Some(Listing::new()));
                }
            }
        }
        Ok(())
    }

    /// The entries of `dir`, a folder known to exist: listed once per run.
    pub(super) async fn listing(&mut self, dir: &str) -> Result<&Listing, Error> {
        if !matches!(self.folders.known.get(dir), Some(Some(_))) {
            let listing = listing_of(self.conn.client.list(dir).await?);
            self.folders.known.insert(dir.to_owned(), Some(listing));
        }
        Ok(self.folders.known[dir].as_ref().expect("just listed"))
    }

    /// What VIP has at `remote`, from one listing of its folder (made if missing).
    pub(super) async fn listed_entry(
        &mut self,
        remote: &str,
    ) -> Result<Option<PathProperties>, Error> {
        let dir = parent_of(remote).to_owned();
        self.ensure_dir(&dir).await?;
        Ok(self.listing(&dir).await?.get(remote).cloned())
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
    }
}

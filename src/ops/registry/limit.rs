//! An account's limit of running executions on this machine, and where it comes from:
//! `--account-limit`, else the account folder's `limit` file (a whole number someone wrote
//! there), else what VIP's refusals revealed (`learned.json`, written by the runs). Set
//! limits are read once, when a run starts; the learned one is read again at every
//! reservation, so a limit one run learns holds for every other run at once.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::files::write_atomically;

/// The file in which a person sets an account's limit.
pub const SET_FILE: &str = "limit";
/// The file in which runs record the limit VIP's refusals revealed.
const LEARNED_FILE: &str = "learned.json";

/// Where the limit in force comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitSource {
    /// `--account-limit`.
    Flag,
    /// The account folder's `limit` file.
    File,
    /// VIP's refusals (`learned.json`).
    Learned,
}

/// The limit in force: how many executions of the account may be queued or running at once,
/// counted over the runs of this machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// The number.
    pub value: usize,
    /// Where it comes from.
    pub source: LimitSource,
}

impl std::fmt::Display for Limit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let from = match self.source {
            LimitSource::Flag => "set by --account-limit",
            LimitSource::File => "set in the account's limit file",
            LimitSource::Learned => "learned from VIP's refusals",
        };
        write!(f, "{} ({from})", self.value)
    }
}

/// What a run recorded when VIP's refusal (or its acceptance of more) showed the limit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Learned {
    /// The limit.
    pub(super) limit: usize,
    /// When (RFC 3339).
    pub(super) at: String,
    /// What showed it: `refused` (VIP's 2001) or `accepted` (VIP took more than the limit).
    pub(super) by: String,
    /// VIP's own count of running executions in its refusal, when it gave one.
    pub(super) vip_count: Option<usize>,
    /// The slots held on this machine for the account then.
    pub(super) held: usize,
}

/// The limit set in `dir`'s `limit` file, if there is one; an error naming the file when it
/// holds anything but a whole number from 1 (a limit someone meant to set and mistyped
/// would otherwise be ignored without a word).
pub(super) fn read_set(dir: &Path) -> Result<Option<usize>, String> {
    let path = dir.join(SET_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    match text.trim().parse::<usize>() {
        Ok(n) if n > 0 => Ok(Some(n)),
        _ => Err(format!(
            "{}: `{}` is not a limit of running executions; write a whole number from 1, or remove the file",
            path.display(),
            text.trim()
        )),
    }
}

/// The limit recorded in `dir`, if any (an unreadable record counts as none: the next
/// refusal records it again).
pub(super) fn read_learned(dir: &Path) -> Option<Learned> {
    let bytes = std::fs::read(dir.join(LEARNED_FILE)).ok()?;
    serde_json::from_slice::<Learned>(&bytes)
        .ok()
        .filter(|l| l.limit > 0)
}

/// Records `learned` in `dir`.
pub(super) fn write_learned(dir: &Path, learned: &Learned) -> Result<(), crate::files::FileError> {
    let mut bytes = serde_json::to_vec_pretty(learned).expect("a record serialises");
    bytes.push(b'\n');
    write_atomically(&dir.join(LEARNED_FILE), &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_limit_is_a_whole_number_or_an_error_naming_its_file() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_set(dir.path()), Ok(None));
        std::fs::write(dir.path().join(SET_FILE), "3\n").unwrap();
        assert_eq!(read_set(dir.path()), Ok(Some(3)));
        for bad in ["0", "two", "-1", ""] {
            std::fs::write(dir.path().join(SET_FILE), bad).unwrap();
            let err = read_set(dir.path()).unwrap_err();
            assert!(
                err.contains("limit") && err.contains("whole number"),
                "{err}"
            );
        }
    }

    #[test]
    fn a_learned_limit_is_read_back_and_a_broken_record_is_none() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_learned(dir.path()), None);
        let learned = Learned {
            limit: 2,
            at: "2026-12-06T10:00:00Z".into(),
            by: "refused".into(),
            vip_count: Some(2),
            held: 1,
        };
        write_learned(dir.path(), &learned).unwrap();
        assert_eq!(read_learned(dir.path()), Some(learned));
        std::fs::write(dir.path().join(LEARNED_FILE), "{").unwrap();
        assert_eq!(read_learned(dir.path()), None);
    }
}

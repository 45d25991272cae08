//! One account's slots on this machine, as one run holds them: one slot per execution of the
//! run's own that is queued or running on VIP (launched or adopted), taken before its launch
//! and given back when it ends, or when the run exits (the OS gives back the slots of a run
//! that dies, even by `kill -9`).
//!
//! A slot is a lock file, `slot-<n>.lock`; counting the slots held is trying each file.
//! Counting and taking happen under `slots.lock`, held for an instant, so two runs never
//! both take the last free slot. Under a limit, a run that finds no free slot takes a place
//! in the queue (`wait-<n>.lock`, with the time it started waiting and the slots it holds):
//! a slot that comes free goes to the waiting run that holds the fewest, then to the one
//! that waited longest, and a run that gives a slot back goes to the back. So one recipe's
//! next launch does not always beat the other's to the slot its own execution just gave
//! back, and recipes share a limit above one evenly.
//!
//! The limit, when none is set, is learned: at VIP's 2001 refusal it is VIP's count of the
//! account's running executions, which its message gives (else the slots held then); when
//! VIP takes more than the limit at once, it is raised. Before the first refusal there is no
//! limit on the machine, only each run's `max_parallel`.

use std::fs::File;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::files::FileError;
use crate::time;

use super::limit::{self, Learned, Limit, LimitSource};
use super::{Account, Registry, try_lock, write_holder};

/// How long to wait for `slots.lock`, held by another run for an instant; past it (a run
/// stopped by a debugger or SIGSTOP while holding it) counting goes on without it, at worst
/// one refusal from VIP, which is waited out.
const GUARD_WAIT: Duration = Duration::from_secs(2);

/// Slot files.
const SLOT: &str = "slot";
/// Queue files.
const WAIT: &str = "wait";

/// A lock file held: its number and the open file, whose lock is released when it is
/// dropped.
#[derive(Debug)]
struct Held {
    n: usize,
    file: File,
}

impl Drop for Held {
    fn drop(&mut self) {
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
    }
}

/// This run's slots of one account.
#[derive(Debug)]
pub struct Slots {
    dir: PathBuf,
    /// The limit set by `--account-limit` or the `limit` file, decided when the run started.
    set: Option<Limit>,
    held: Vec<Held>,
    /// Its place in the queue, and since when (epoch ns: two runs of one machine never
    /// queue in the same nanosecond), while it waits for a slot.
    ticket: Option<(Held, i64)>,
}

/// What a reservation found and took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reserved {
    /// Slots taken for the launches asked for.
    pub granted: usize,
    /// Slots held on this machine for the account before it, this run's included.
    pub held: usize,
    /// This run's own among them.
    pub ours: usize,
    /// The limit in force, if any.
    pub limit: Option<Limit>,
}

impl Slots {
    /// The slots of `account` in `registry`, with `flag` (`--account-limit`) over the
    /// account's `limit` file. The folder is made, with an `account.json` that says whose it
    /// is; `Err(Ok(..))` when it cannot be, `Err(Err(message))` when the `limit` file holds
    /// no limit.
    pub fn open(
        registry: &Registry,
        account: &Account,
        flag: Option<usize>,
    ) -> Result<Self, Result<FileError, String>> {
        let dir = registry.account_dir(account);
        std::fs::create_dir_all(&dir).map_err(|e| Ok(FileError::on("create", &dir)(e)))?;
        let about = dir.join("account.json");
        if !about.exists() {
            let text = serde_json::json!({
                "server": account.server,
                "key": account.fingerprint,
                "created_at": time::rfc3339(time::now_ms()),
            });
            crate::files::write_atomically(&about, format!("{text:#}\n").as_bytes()).map_err(Ok)?;
        }
        let set = match flag {
            Some(value) => Some(Limit {
                value,
                source: LimitSource::Flag,
            }),
            None => limit::read_set(&dir).map_err(Err)?.map(|value| Limit {
                value,
                source: LimitSource::File,
            }),
        };
        Ok(Self {
            dir,
            set,
            held: Vec::new(),
            ticket: None,
        })
    }

    /// The account's folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The limit in force: the one set, else the one learned, else none.
    pub fn limit(&self) -> Option<Limit> {
        self.set.or_else(|| {
            limit::read_learned(&self.dir).map(|l| Limit {
                value: l.limit,
                source: LimitSource::Learned,
            })
        })
    }

    /// How many slots this run holds.
    #[cfg(test)]
    fn ours(&self) -> usize {
        self.held.len()
    }

    /// Takes up to `want` slots for launches, as many as the limit leaves free after the
    /// runs ahead in the queue; short of `want`, the run takes (or keeps) its place in the
    /// queue, else leaves it.
    pub fn reserve(&mut self, want: usize) -> std::io::Result<Reserved> {
        let _guard = self.guard()?;
        let limit = self.limit();
        let ours = self.held.len();
        let (free, others) = self.scan()?;
        let held = ours + others;
        let mut room = limit
            .map_or(want, |l| l.value.saturating_sub(held))
            .min(want);
        if room > 0 && limit.is_some() {
            room = room.saturating_sub(self.waiting_ahead()?);
        }
        let granted = self.take(free, room)?;
        // Served, the run goes to the back of the queue: one whose max_parallel is above the
        // limit always wants more than it holds, and with its first place kept would be
        // served first forever (so does a run that gives a slot back: `hold`).
        if granted > 0 {
            self.ticket = None;
        }
        if granted < want {
            self.queue()?;
        }
        Ok(Reserved {
            granted,
            held,
            ours,
            limit,
        })
    }

    /// Holds exactly one slot per execution of this run's that is queued or running on VIP
    /// (`running`): the slots of executions that ended, or of launches VIP refused, are given
    /// back; executions found on VIP (adopted, or a lost launch found by name) take slots
    /// whatever the limit, since they exist.
    pub fn hold(&mut self, running: usize) -> std::io::Result<()> {
        if self.held.len() > running {
            self.held.truncate(running);
            // A run that gives a slot back goes to the back of the queue, whatever place it
            // had while it waited for more than it held: the slot is for the others first.
            if self.ticket.take().is_some() {
                let _guard = self.guard()?;
                self.queue()?;
            }
        } else if self.held.len() < running {
            let _guard = self.guard()?;
            let (free, _) = self.scan()?;
            let want = running - self.held.len();
            self.take(free, want)?;
            if self.ticket.is_some() {
                self.queue()?;
            }
        }
        Ok(())
    }

    /// Leaves the queue: the run wants no slot now.
    pub fn stop_waiting(&mut self) {
        self.ticket = None;
    }

    /// After VIP refused a launch for a full quota (2001), with `vip_count` running
    /// executions by its message when it said: records the limit this shows (VIP's count,
    /// else the slots held now, at least 1). Returns the limit when it changed, and whether
    /// the slots held on this machine fill the limit in force (so the refusal is explained
    /// by them, and a slot given back is worth waiting for rather than VIP's quota). Call it
    /// once the refused launches' slots are given back ([`Slots::hold`]).
    pub fn learn_refusal(
        &mut self,
        vip_count: Option<usize>,
    ) -> std::io::Result<(Option<usize>, bool)> {
        let _guard = self.guard()?;
        let (free, others) = self.scan()?;
        drop(free);
        let held = self.held.len() + others;
        let learned = self.record(vip_count.unwrap_or(held).max(1), "refused", vip_count, held)?;
        let full = self.limit().is_some_and(|l| held >= l.value);
        Ok((learned, full))
    }

    /// After VIP took launches: when more slots are held on this machine than the limit
    /// learned, VIP allows more, and the limit is raised to them.
    pub fn learn_accepted(&mut self) -> std::io::Result<Option<usize>> {
        let Some(known) = limit::read_learned(&self.dir) else {
            // Nothing learned yet: the first refusal says the limit.
            return Ok(None);
        };
        let _guard = self.guard()?;
        let (free, others) = self.scan()?;
        drop(free);
        let held = self.held.len() + others;
        if held <= known.limit {
            return Ok(None);
        }
        self.record(held, "accepted", None, held)
    }

    /// Records `limit` as learned, unless it is the one recorded already.
    fn record(
        &self,
        limit: usize,
        by: &str,
        vip_count: Option<usize>,
        held: usize,
    ) -> std::io::Result<Option<usize>> {
        if limit::read_learned(&self.dir).is_some_and(|l| l.limit == limit) {
            return Ok(None);
        }
        let learned = Learned {
            limit,
            at: time::rfc3339(time::now_ms()),
            by: by.to_owned(),
            vip_count,
            held,
        };
        limit::write_learned(&self.dir, &learned).map_err(|e| e.source)?;
        Ok(Some(limit))
    }

    /// `slots.lock`, held while counting and taking (see [`GUARD_WAIT`]).
    fn guard(&self) -> std::io::Result<Option<File>> {
        let deadline = Instant::now() + GUARD_WAIT;
        loop {
            if let Some(file) = try_lock(&self.dir.join("slots.lock"))? {
                return Ok(Some(file));
            }
            if Instant::now() >= deadline {
                tracing::debug!("slots.lock held for over {GUARD_WAIT:?}: counting without it");
                return Ok(None);
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// The numbers of the `kind` lock files in the folder.
    fn numbers(&self, kind: &str) -> std::io::Result<Vec<usize>> {
        let prefix = format!("{kind}-");
        let mut numbers: Vec<usize> = std::fs::read_dir(&self.dir)?
            .filter_map(|e| {
                let name = e.ok()?.file_name();
                name.to_str()?
                    .strip_prefix(&prefix)?
                    .strip_suffix(".lock")?
                    .parse()
                    .ok()
            })
            .collect();
        numbers.sort_unstable();
        Ok(numbers)
    }

    fn path(&self, kind: &str, n: usize) -> PathBuf {
        self.dir.join(format!("{kind}-{n}.lock"))
    }

    /// The slot files other runs do not hold (locked by this call, in passing), and how
    /// many they hold.
    fn scan(&self) -> std::io::Result<(Vec<Held>, usize)> {
        let mut free = Vec::new();
        let mut others = 0;
        for n in self.numbers(SLOT)? {
            if self.held.iter().any(|h| h.n == n) {
                continue;
            }
            match try_lock(&self.path(SLOT, n))? {
                Some(file) => free.push(Held { n, file }),
                None => others += 1,
            }
        }
        Ok((free, others))
    }

    /// Keeps `want` slots: first among `free` (the others are let go), then new files.
    fn take(&mut self, free: Vec<Held>, want: usize) -> std::io::Result<usize> {
        let mut taken = 0;
        let mut next = free.iter().map(|h| h.n + 1).max().unwrap_or(0);
        for mut h in free {
            if taken < want {
                write_holder(&mut h.file, "");
                self.held.push(h);
                taken += 1;
            }
        }
        next = next.max(self.numbers(SLOT)?.last().map_or(0, |n| n + 1));
        while taken < want {
            if let Some(mut file) = try_lock(&self.path(SLOT, next))? {
                write_holder(&mut file, "");
                self.held.push(Held { n: next, file });
                taken += 1;
            }
            next += 1;
        }
        Ok(taken)
    }

    /// Takes a place in the queue (or, holding one, says again how many slots this run
    /// holds, which others read with the time it started waiting).
    fn queue(&mut self) -> std::io::Result<()> {
        let held = self.held.len();
        if let Some((ticket, since)) = self.ticket.as_mut() {
            write_holder(&mut ticket.file, &format!("{since} {held} "));
            return Ok(());
        }
        let since = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
        let mut n = 0;
        loop {
            if let Some(mut file) = try_lock(&self.path(WAIT, n))? {
                // The time and the slots held first: others read them to know who is ahead.
                write_holder(&mut file, &format!("{since} {held} "));
                self.ticket = Some((Held { n, file }, since));
                return Ok(());
            }
            n += 1;
        }
    }

    /// How many runs in the queue come before this one: those that hold fewer slots, then
    /// those that hold as many and waited longer (every run holding as many or fewer, when
    /// this one is not in the queue). A slot that comes free thus goes to the run with the
    /// fewest, so recipes share the limit evenly, and among equals to the first in line.
    fn waiting_ahead(&self) -> std::io::Result<usize> {
        let held = self.held.len();
        let mine = self
            .ticket
            .as_ref()
            .map_or((held, i64::MAX, usize::MAX), |(h, since)| {
                (held, *since, h.n)
            });
        let mut ahead = 0;
        for n in self.numbers(WAIT)? {
            if n == mine.2 {
                continue;
            }
            let path = self.path(WAIT, n);
            if try_lock(&path)?.is_some() {
                // Nobody waits there (a run that stopped waiting, or died).
                continue;
            }
            let mut text = String::new();
            let _ = File::open(&path).and_then(|mut f| f.read_to_string(&mut text));
            let mut words = text.split_whitespace();
            let since = words.next().and_then(|t| t.parse::<i64>().ok());
            let theirs = words.next().and_then(|t| t.parse::<usize>().ok());
            // A place not written yet was taken an instant ago: behind this one.
            let (Some(since), Some(theirs)) = (since, theirs) else {
                continue;
            };
            if (theirs, since, n) < mine {
                ahead += 1;
            }
        }
        Ok(ahead)
    }
}

#[cfg(test)]
mod tests {
    use secrecy::SecretString;

    use super::*;

    fn open(dir: &Path, flag: Option<usize>) -> Slots {
        let account = Account::of("http://vip/rest", &SecretString::from("k"));
        Slots::open(&Registry::at(dir.to_path_buf()), &account, flag).unwrap()
    }

    #[test]
    fn without_a_limit_every_launch_gets_a_slot_and_the_holders_are_counted() {
        let dir = tempfile::tempdir().unwrap();
        let (mut a, mut b) = (open(dir.path(), None), open(dir.path(), None));
        assert_eq!(a.reserve(2).unwrap().granted, 2);
        let r = b.reserve(3).unwrap();
        assert_eq!((r.granted, r.held, r.ours, r.limit), (3, 2, 0, None));
        assert!(a.dir().join("account.json").is_file());
    }

    #[test]
    fn under_a_limit_the_slots_are_shared_and_come_back_when_given_up_or_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let (mut a, mut b) = (open(dir.path(), Some(2)), open(dir.path(), Some(2)));
        assert_eq!(a.reserve(1).unwrap().granted, 1);
        // Short of what it asked for, `b` waits in the queue.
        assert_eq!(b.reserve(5).unwrap().granted, 1);
        let r = a.reserve(1).unwrap();
        assert_eq!((r.granted, r.held, r.ours), (0, 2, 1));
        // The slot `b` gives back is its own again: it waited first.
        b.hold(0).unwrap();
        assert_eq!(a.reserve(1).unwrap().granted, 0);
        assert_eq!(b.reserve(1).unwrap().granted, 1);
        // A run that ends gives its slots back.
        drop(a);
        assert_eq!(b.reserve(2).unwrap().granted, 1);
        assert_eq!(b.ours(), 2);
    }

    #[test]
    fn the_run_that_waited_longest_gets_the_slot_that_comes_free() {
        let dir = tempfile::tempdir().unwrap();
        let mut a = open(dir.path(), Some(1));
        let mut b = open(dir.path(), Some(1));
        assert_eq!(a.reserve(1).unwrap().granted, 1);
        assert_eq!(b.reserve(1).unwrap().granted, 0);
        std::thread::sleep(Duration::from_millis(5));
        // `a`'s execution ended: its next launch queues behind `b`.
        a.hold(0).unwrap();
        assert_eq!(a.reserve(1).unwrap().granted, 0);
        assert_eq!(b.reserve(1).unwrap().granted, 1);
        b.hold(0).unwrap();
        assert_eq!(b.reserve(1).unwrap().granted, 0);
        assert_eq!(a.reserve(1).unwrap().granted, 1);
        // A run that stops waiting leaves the queue.
        b.stop_waiting();
        a.hold(0).unwrap();
        assert_eq!(a.reserve(1).unwrap().granted, 1);
    }

    #[test]
    fn a_run_that_always_wants_more_than_it_holds_still_takes_its_turn() {
        let dir = tempfile::tempdir().unwrap();
        let mut greedy = open(dir.path(), Some(1));
        let mut other = open(dir.path(), Some(1));
        // `greedy` (max_parallel 4) is served one slot and waits for more.
        assert_eq!(greedy.reserve(4).unwrap().granted, 1);
        assert_eq!(other.reserve(1).unwrap().granted, 0);
        // Its execution ended: the slot it gives back is `other`'s, which waited with none.
        greedy.hold(0).unwrap();
        assert_eq!(greedy.reserve(4).unwrap().granted, 0);
        assert_eq!(other.reserve(1).unwrap().granted, 1);
    }

    #[test]
    fn adopted_executions_hold_slots_beyond_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let (mut a, mut b) = (open(dir.path(), Some(1)), open(dir.path(), Some(1)));
        assert_eq!(a.reserve(1).unwrap().granted, 1);
        b.hold(2).unwrap();
        assert_eq!(b.ours(), 2);
        let r = a.reserve(1).unwrap();
        assert_eq!((r.granted, r.held), (0, 3));
    }

    #[test]
    fn a_refusal_records_the_limit_for_every_run_and_more_taken_raises_it() {
        let dir = tempfile::tempdir().unwrap();
        let (mut a, mut b) = (open(dir.path(), None), open(dir.path(), None));
        assert_eq!(a.reserve(1).unwrap().granted, 1);
        assert_eq!(b.reserve(1).unwrap().granted, 1);
        // VIP refused `b`'s launch: its slot goes back, and the one left held is the limit.
        b.hold(0).unwrap();
        assert_eq!(b.learn_refusal(None).unwrap(), (Some(1), true));
        assert_eq!(b.learn_refusal(None).unwrap(), (None, true));
        let limit = a.limit().unwrap();
        assert_eq!((limit.value, limit.source), (1, LimitSource::Learned));
        assert_eq!(b.reserve(1).unwrap().granted, 0);
        // VIP's own count wins over the slots held (an execution of a killed run, say).
        // (Not explained by this machine's slots: one of two.)
        assert_eq!(b.learn_refusal(Some(2)).unwrap(), (Some(2), false));
        assert_eq!(b.reserve(1).unwrap().granted, 1);
        // Set higher, and taken by VIP: the learned limit follows.
        let mut c = open(dir.path(), Some(5));
        assert_eq!(c.reserve(1).unwrap().granted, 1);
        assert_eq!(c.learn_accepted().unwrap(), Some(3));
        assert_eq!(a.limit().unwrap().value, 3);
    }

    #[test]
    fn a_limit_file_is_read_and_the_flag_wins_over_it() {
        let dir = tempfile::tempdir().unwrap();
        let account = Account::of("http://vip/rest", &SecretString::from("k"));
        let registry = Registry::at(dir.path().to_path_buf());
        let folder = registry.account_dir(&account);
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(folder.join(limit::SET_FILE), "4").unwrap();
        let slots = Slots::open(&registry, &account, None).unwrap();
        assert_eq!(
            slots.limit().map(|l| (l.value, l.source)),
            Some((4, LimitSource::File))
        );
        let slots = Slots::open(&registry, &account, Some(2)).unwrap();
        assert_eq!(
            slots.limit().map(|l| (l.value, l.source)),
            Some((2, LimitSource::Flag))
        );
        std::fs::write(folder.join(limit::SET_FILE), "many").unwrap();
        let err = Slots::open(&registry, &account, None)
            .unwrap_err()
            .unwrap_err();
        assert!(err.contains("many"), "{err}");
    }
}

//! This run's share of its account's quota on this machine (`ops::registry`): how many
//! launches the account's other runs leave room for, besides `max_parallel`; the slots given
//! back as this run's executions end; the limit VIP's answers show, learned for every run;
//! the wait, told once. Off (`--no-account-registry`, `--sandbox`, no state folder), every
//! launch is left to `max_parallel` and VIP, as before the registry. A registry that fails
//! is said once and left out: nothing in it is needed for the run to be right.

use std::time::Duration;

use crate::error::Error;
use crate::ops::registry::{Account, Registry, Slots};
use crate::report::progress::{Event, Wait};

use super::launcher::QuotaRefused;
use super::sink::Sink;

/// How often a run that waits for one of the account's slots looks again. The look is a few
/// local file locks, not a call; a second keeps a slot another run gave back from standing
/// idle for a whole poll interval.
pub(crate) const SLOT_CHECK: Duration = Duration::from_secs(1);

/// The run's slots, and what it told of them.
#[derive(Debug, Default)]
pub(crate) struct AccountShare {
    slots: Option<Slots>,
    /// Why the registry is left out, not said yet.
    trouble: Option<String>,
    /// Whether the current wait for a slot was told.
    told: bool,
    /// The last reservation found no slot free.
    full: bool,
}

impl AccountShare {
    /// The share of `account` in `registry` (`None`: off), `limit` being `--account-limit`.
    /// A `limit` file that holds no limit stops the run before anything is launched (exit
    /// 2); a registry that cannot be written is said at the first round, and left out.
    pub(crate) fn open(
        registry: Option<&Registry>,
        account: &Account,
        limit: Option<usize>,
    ) -> Result<Self, Error> {
        let Some(registry) = registry else {
            return Ok(Self::default());
        };
        match Slots::open(registry, account, limit) {
            Ok(slots) => Ok(Self {
                slots: Some(slots),
                ..Self::default()
            }),
            Err(Err(message)) => Err(Error::Usage(message)),
            Err(Ok(e)) => Ok(Self {
                trouble: Some(e.to_string()),
                ..Self::default()
            }),
        }
    }

    /// Says, once, why the registry is left out.
    pub(crate) fn tell_trouble(&mut self, sink: &mut Sink<'_>) {
        if let Some(why) = self.trouble.take() {
            sink.emit(&Event::Warning {
                message: format!(
                    "the account registry cannot be used ({why}); this run shares no quota with the other runs of this machine"
                ),
            });
        }
    }

    /// How many of `want` launches may go now (slots taken for them); with none, the wait
    /// is told once, naming `first`, the item that would have launched.
    pub(crate) fn reserve(&mut self, sink: &mut Sink<'_>, first: &str, want: usize) -> usize {
        let Some(slots) = self.slots.as_mut() else {
            return want;
        };
        match slots.reserve(want) {
            Ok(r) => {
                self.full = r.granted < want;
                if r.granted > 0 {
                    self.told = false;
                } else if !self.told {
                    self.told = true;
                    sink.emit(&Event::Waiting {
                        item: first.to_owned(),
                        reason: Wait::AccountFull {
                            held: r.held,
                            limit: r.limit.map_or(r.held, |l| l.value),
                            ours: r.ours,
                        },
                    });
                }
                r.granted
            }
            Err(e) => {
                self.give_up(sink, &e);
                want
            }
        }
    }

    /// After a batch of launches, `running` executions of this run's being queued or running
    /// on VIP: the slots of the launches that did not happen go back, and VIP's answers teach
    /// the limit (`refused`: a 2001; `launched`: VIP took some). Returns whether a refusal is
    /// explained by the slots of this machine's runs, all taken: the run then waits for one
    /// of them to come back (looked at every [`SLOT_CHECK`], and first in line, having
    /// waited), not for VIP's quota wait, so the account's runs take turns.
    pub(crate) fn settle(
        &mut self,
        sink: &mut Sink<'_>,
        running: usize,
        refused: Option<QuotaRefused>,
        launched: bool,
    ) -> bool {
        let Some(slots) = self.slots.as_mut() else {
            return false;
        };
        let mut explained = false;
        let learned = slots.hold(running).and_then(|()| match refused {
            Some(r) => slots.learn_refusal(r.vip_count).map(|(learned, full)| {
                explained = full;
                learned
            }),
            None if launched => slots.learn_accepted(),
            None => Ok(None),
        });
        if explained {
            self.full = true;
        }
        match learned {
            Ok(Some(limit)) => sink.note(&format!(
                "this account runs at most {limit} execution{} at once, as VIP {}; every run of it on this machine keeps to that (recorded in {})",
                if limit == 1 { "" } else { "s" },
                if refused.is_some() {
                    "said refusing a launch"
                } else {
                    "took that many"
                },
                slots.dir().display()
            )),
            Ok(None) => {}
            Err(e) => {
                self.give_up(sink, &e);
                explained = false;
            }
        }
        explained
    }

    /// Holds one slot per execution of this run's queued or running on VIP (`running`):
    /// after a poll, and after taking up what is on VIP.
    pub(crate) fn hold(&mut self, sink: &mut Sink<'_>, running: usize) {
        if let Some(Err(e)) = self.slots.as_mut().map(|s| s.hold(running)) {
            self.give_up(sink, &e);
        }
    }

    /// A round starts: whether the account is full is seen again, if the round launches.
    pub(crate) fn round_start(&mut self) {
        self.full = false;
    }

    /// The run launches nothing now: it leaves the queue for a slot.
    pub(crate) fn idle(&mut self) {
        self.full = false;
        if let Some(slots) = self.slots.as_mut() {
            slots.stop_waiting();
        }
    }

    /// Whether the last reservation found fewer slots free than the launches waiting.
    pub(crate) fn is_full(&self) -> bool {
        self.full
    }

    /// Leaves the registry out for the rest of the run (its slots given back), saying why.
    fn give_up(&mut self, sink: &mut Sink<'_>, e: &std::io::Error) {
        if let Some(slots) = self.slots.take() {
            self.trouble = Some(format!("{}: {e}", slots.dir().display()));
            self.full = false;
            self.tell_trouble(sink);
        }
    }
}

//! Ctrl-C and SIGTERM, as the run sees them: the first stops launches and lets the run save
//! and report; a second one exits at once (the state on disk is consistent, since every write
//! of it is atomic). SIGTERM is what `timeout`, systemd and batch schedulers send before they
//! kill: treated like Ctrl-C, a cron job stopped that way leaves its state, run record and
//! report behind, and says so in its exit code (143 rather than 130).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::time::{Duration, Instant};

use crate::exit_code;

/// Ctrl-C or SIGTERM, as seen by the run loop.
#[derive(Debug, Clone, Default)]
pub struct Interrupt(Arc<AtomicBool>);

/// The exit code of the first signal received, 0 before any: process-wide, because the
/// command that reports the exit code is not always the one that made the [`Interrupt`]
/// (`download` makes its own).
static FIRST_SIGNAL: AtomicI32 = AtomicI32::new(0);

/// The exit code an interrupted run ends with: [`exit_code::TERMINATED`] when SIGTERM stopped
/// it, [`exit_code::INTERRUPTED`] otherwise.
pub fn exit_code() -> i32 {
    match FIRST_SIGNAL.load(Ordering::SeqCst) {
        0 => exit_code::INTERRUPTED,
        code => code,
    }
}

impl Interrupt {
    /// Whether Ctrl-C was pressed (or SIGTERM received).
    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    /// Marks the run interrupted.
    pub fn set(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Sleeps `d`, waking early on Ctrl-C.
    pub async fn sleep(&self, d: Duration) {
        let deadline = Instant::now() + d;
        while !self.is_set() && Instant::now() < deadline {
            tokio::time::sleep((deadline - Instant::now()).min(Duration::from_millis(100))).await;
        }
    }

    /// An interrupt set by Ctrl-C or SIGTERM (needs a Tokio runtime): the first is reported
    /// on stderr and sets it; a second exits with its signal's code ([`exit_code::INTERRUPTED`]
    /// or [`exit_code::TERMINATED`]).
    pub fn on_ctrl_c() -> Self {
        let interrupt = Self::default();
        let flag = interrupt.clone();
        // Listening starts here, not in the task: a signal sent between this call and the
        // task's first poll would otherwise take its default action and end the process.
        let mut signals = Signals::listen();
        tokio::spawn(async move {
            if let Some(code) = signals.next().await {
                let _ = FIRST_SIGNAL.compare_exchange(0, code, Ordering::SeqCst, Ordering::SeqCst);
                flag.set();
                let (what, again) = if code == exit_code::TERMINATED {
                    ("terminated (SIGTERM)", "a second signal quits at once")
                } else {
                    ("interrupted", "Ctrl-C again to quit at once")
                };
                // Above the bar, so no frozen bar is left over the notice.
                crate::report::progress::eprintln_above_bars(&format!(
                    "\n{what}: no more launches; saving state ({again})"
                ));
            }
            if let Some(code) = signals.next().await {
                // The one exit outside `main`: a second signal means "now". Under
                // `--chronic`, what was held is said first: the run did not end well.
                crate::report::chronic::release(true);
                std::process::exit(code);
            }
        });
        interrupt
    }
}

/// The signals that stop a run, each yielding the exit code it means.
struct Signals {
    #[cfg(unix)]
    int: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    term: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    /// Starts listening. A signal that cannot be listened to (never expected) keeps its
    /// default action, which is what happened before this listener existed.
    fn listen() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Self {
                int: signal(SignalKind::interrupt()).ok(),
                term: signal(SignalKind::terminate()).ok(),
            }
        }
        #[cfg(not(unix))]
        {
            Self {}
        }
    }

    /// The next signal's exit code; `None` when none can come.
    async fn next(&mut self) -> Option<i32> {
        #[cfg(unix)]
        {
            let Self { int, term } = self;
            let int = async {
                match int {
                    Some(s) => s.recv().await,
                    None => std::future::pending().await,
                }
            };
            let term = async {
                match term {
                    Some(s) => s.recv().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                Some(()) = int => Some(exit_code::INTERRUPTED),
                Some(()) = term => Some(exit_code::TERMINATED),
                else => None,
            }
        }
        #[cfg(not(unix))]
        {
            tokio::signal::ctrl_c()
                .await
                .ok()
                .map(|()| exit_code::INTERRUPTED)
        }
    }
}

//! Ctrl-C, as the run sees it: the first press stops launches and lets the run save and
//! report; a second one exits at once (the state on disk is consistent, since every write of
//! it is atomic).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::exit_code;

/// Ctrl-C, as seen by the run loop.
#[derive(Debug, Clone, Default)]
pub struct Interrupt(Arc<AtomicBool>);

impl Interrupt {
    /// Whether Ctrl-C was pressed.
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

    /// An interrupt set by Ctrl-C (needs a Tokio runtime): the first press is reported on
    /// stderr and sets it; a second exits with [`exit_code::INTERRUPTED`].
    pub fn on_ctrl_c() -> Self {
        let interrupt = Self::default();
        let flag = interrupt.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                flag.set();
                // Above the bar, so no frozen bar is left over the notice.
                crate::report::run::eprintln_above_bars(
                    "\ninterrupted: no more launches; saving state (Ctrl-C again to quit at once)",
                );
            }
            if tokio::signal::ctrl_c().await.is_ok() {
                // The one exit outside `main`: a second Ctrl-C means "now".
                std::process::exit(exit_code::INTERRUPTED);
            }
        });
        interrupt
    }
}

//! Transfers: jobs in, finished transfers out. The loop queues uploads and downloads; they run
//! as tasks of their own, `execution.transfers` moving bytes at once (`pool`), and the loop
//! takes what ended and records it (a transfer never touches the state). Also here: what a
//! download and an upload do (`fetch`, `upload`), and the folders on VIP, each made and
//! listed once per run (`folders`).

use std::sync::Arc;
use std::time::Duration;

use crate::ops::disk::Owner;
use crate::ops::interrupt::Interrupt;
use crate::report::progress::Event;
use crate::vip::Client;

use super::sink::Sink;

pub(crate) mod fetch;
pub(crate) mod folders;
pub(crate) mod pool;
mod upload;

use fetch::{Fetch, fetch_item};
use folders::{CALLS_AT_ONCE, Folders};
use pool::{Done, Pool};
use upload::send_file;

/// The run's transfers, and what they need.
pub(crate) struct Transfers {
    /// The uploads and downloads queued and in flight.
    pub(crate) pool: Pool,
    /// Folders known on VIP, and their listings (each folder made once per run).
    pub(crate) folders: Arc<Folders>,
    /// The marker written in each download folder (see `ops::disk`).
    pub(crate) owner: Arc<Owner>,
    /// VIP's direct-transfer cap.
    cap: Option<u64>,
    /// `results.extract`.
    extract: bool,
}

/// What woke the loop's wait.
enum Woke {
    Ended(Box<Done>),
    Told(Event),
    Time,
}

impl Transfers {
    /// `limit` transfers at once; downloads within `cap`, unpacked when `extract`, into folders
    /// marked as `owner`'s.
    pub(crate) fn new(limit: usize, cap: Option<u64>, extract: bool, owner: Owner) -> Self {
        Self {
            pool: Pool::new(limit),
            folders: Arc::default(),
            owner: Arc::new(owner),
            cap,
            extract,
        }
    }

    /// Starts queued transfers while slots are free (none after Ctrl-C).
    pub(crate) fn start(&mut self, sink: &mut Sink<'_>, client: &Client, interrupt: &Interrupt) {
        let pool = &mut self.pool;
        while pool.tasks.len() < pool.limit + CALLS_AT_ONCE && !interrupt.is_set() {
            let bar = sink.byte_bar();
            let client = client.clone();
            let bytes = Arc::clone(&pool.bytes);
            let started = crate::time::now_ms();
            let label = if let Some(job) = pool.uploads.pop_front() {
                let label = format!("uploading {}", job.local.display());
                pool.tasks.spawn(async move {
                    let result = send_file(&client, &bytes, &job, bar).await;
                    Done::Upload {
                        job,
                        started,
                        result,
                    }
                });
                label
            } else if let Some(job) = pool.downloads.pop_front() {
                let label = format!("downloading {}", job.key);
                let fetch = Fetch {
                    client,
                    cap: self.cap,
                    extract: self.extract,
                    events: pool.events_tx.clone(),
                    bar,
                    bytes,
                };
                pool.tasks.spawn(async move {
                    let result = fetch_item(&fetch, &job).await;
                    Done::Download {
                        job,
                        started,
                        result,
                    }
                });
                label
            } else {
                break;
            };
            sink.transfers_in_flight(pool.tasks.len(), &label);
        }
    }

    /// The transfers that ended (without waiting for any), after telling `sink` what the
    /// tasks told.
    pub(crate) fn ended(&mut self, sink: &mut Sink<'_>) -> Vec<Done> {
        while let Ok(event) = self.pool.events.try_recv() {
            sink.emit(&event);
        }
        while let Some(joined) = self.pool.tasks.try_join_next() {
            self.pool.ended.push(unwrap_task(joined));
        }
        std::mem::take(&mut self.pool.ended)
    }

    /// Transfers in flight.
    pub(crate) fn in_flight(&self) -> usize {
        self.pool.tasks.len()
    }

    /// Waits `wait`, or less: until a transfer ends (so what it allows starts promptly) or
    /// Ctrl-C. What tasks tell meanwhile is told to `sink` as it comes.
    pub(crate) async fn wait(
        &mut self,
        sink: &mut Sink<'_>,
        interrupt: &Interrupt,
        wait: Duration,
    ) {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let woke = {
                let Pool { tasks, events, .. } = &mut self.pool;
                tokio::select! {
                    Some(joined) = tasks.join_next(), if !tasks.is_empty() => {
                        Woke::Ended(Box::new(unwrap_task(joined)))
                    }
                    Some(event) = events.recv() => Woke::Told(event),
                    () = interrupt.sleep(deadline.saturating_duration_since(tokio::time::Instant::now())) => Woke::Time,
                }
            };
            match woke {
                Woke::Ended(done) => {
                    self.pool.ended.push(*done);
                    return;
                }
                Woke::Told(event) => sink.emit(&event),
                Woke::Time => return,
            }
        }
    }

    /// After Ctrl-C: what ended, to be recorded; the rest is aborted (their `.part` files go
    /// with them; an upload cut short was never recorded, so it is sent again by the next
    /// run).
    pub(crate) async fn abort(&mut self, sink: &mut Sink<'_>) -> Vec<Done> {
        while let Some(joined) = self.pool.tasks.try_join_next() {
            self.pool.ended.push(unwrap_task(joined));
        }
        let ended = std::mem::take(&mut self.pool.ended);
        self.pool.tasks.shutdown().await;
        while let Ok(event) = self.pool.events.try_recv() {
            sink.emit(&event);
        }
        sink.transfers_in_flight(0, "");
        ended
    }
}

/// A task's result; a task that panicked passes its panic on (it is a bug, not trouble).
fn unwrap_task(joined: Result<Done, tokio::task::JoinError>) -> Done {
    match joined {
        Ok(done) => done,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => panic!("a transfer was cancelled while still counted: {e}"),
    }
}

//! Where the loop's parts send what they have to tell: typed events (the bar or the plain
//! lines, the JSON events), notes for the person at the terminal, and the transfers' byte
//! counts. A part never prints; it hands its events to the sink it is given, and a tracker
//! that only reads is given none.

use crate::report::progress::{ByteBar, Event, Reporter};

/// The reporter, when there is one.
pub(crate) struct Sink<'r> {
    reporter: Option<&'r mut Reporter>,
}

impl<'r> Sink<'r> {
    /// Tells `reporter`.
    pub(crate) fn to(reporter: &'r mut Reporter) -> Self {
        Self {
            reporter: Some(reporter),
        }
    }

    /// Tells no one (a tracker that reads).
    pub(crate) fn none() -> Self {
        Self { reporter: None }
    }

    /// A typed event.
    pub(crate) fn emit(&mut self, event: &Event) {
        if let Some(r) = self.reporter.as_deref_mut() {
            r.event(event);
        }
    }

    /// Says something to the person at the terminal (not an event).
    pub(crate) fn note(&self, text: &str) {
        if let Some(r) = self.reporter.as_deref() {
            r.note(text);
        }
    }

    /// The line under the bar (or nothing, without a terminal).
    pub(crate) fn status_line(&self, text: &str) {
        if let Some(r) = self.reporter.as_deref() {
            r.status_line(text);
        }
    }

    /// A bar for the bytes of one transfer, when there is a terminal.
    pub(crate) fn byte_bar(&mut self) -> Option<ByteBar> {
        self.reporter.as_deref_mut().and_then(Reporter::byte_bar)
    }

    /// How many transfers are in flight, and what the last one started is.
    pub(crate) fn transfers_in_flight(&mut self, count: usize, label: &str) {
        if let Some(r) = self.reporter.as_deref_mut() {
            r.transfers_in_flight(count, label);
        }
    }
}

//! Where the loop's parts send what they have to tell: typed events (the bar or the plain
//! lines, the JSON events, and any other output that listens, such as notifications), notes
//! for the person at the terminal, and the transfers' byte counts. A part never prints; it
//! hands its events to the sink it is given, and a tracker that only reads is given none.

use crate::report::progress::{ByteBar, Event, Reporter};

/// An output fed by the loop's events besides the reporter: a new output is a new
/// listener, never a new branch in the loop.
pub(crate) trait Listener {
    /// Something happened.
    fn event(&mut self, event: &Event);
}

/// The reporter, when there is one, and the listeners.
pub(crate) struct Sink<'r> {
    reporter: Option<&'r mut Reporter>,
    /// Owning what they need (`'static`), so that the sink stays covariant in `'r` as the
    /// parts that borrow it expect.
    listeners: Vec<&'r mut (dyn Listener + 'static)>,
}

impl<'r> Sink<'r> {
    /// Tells `reporter`.
    pub(crate) fn to(reporter: &'r mut Reporter) -> Self {
        Self {
            reporter: Some(reporter),
            listeners: Vec::new(),
        }
    }

    /// Tells no one (a tracker that reads).
    pub(crate) fn none() -> Self {
        Self {
            reporter: None,
            listeners: Vec::new(),
        }
    }

    /// Also tells `listener` every event.
    pub(crate) fn also(&mut self, listener: &'r mut (dyn Listener + 'static)) {
        self.listeners.push(listener);
    }

    /// A typed event.
    pub(crate) fn emit(&mut self, event: &Event) {
        if let Some(r) = self.reporter.as_deref_mut() {
            r.event(event);
        }
        for l in &mut self.listeners {
            l.event(event);
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

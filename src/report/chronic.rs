//! `--chronic`: everything the command prints is held back, and printed only when it did not
//! end well (exit code other than 0), in the order it was written, after moreutils' `chronic`.
//! A cron job that went well then mails nothing, and one that did not mails its whole story
//! (progress lines, warnings, the summary), not only the `-q` summary of its failures.
//!
//! Every line for stderr goes through [`super::write_stderr`] (and the log writer through
//! it), and the command's stdout is handed a [`HeldStdout`]: both land here while holding.

use std::io::Write;
use std::sync::Mutex;

/// Where a held chunk goes when released.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stream {
    Stdout,
    Stderr,
}

/// What was written to which stream, in order.
type Chunks = Vec<(Stream, Vec<u8>)>;

/// The chunks written while holding; `None` when not holding.
static HELD: Mutex<Option<Chunks>> = Mutex::new(None);

/// Starts holding back what is printed.
pub fn hold() {
    if let Ok(mut held) = HELD.lock() {
        held.get_or_insert_with(Vec::new);
    }
}

/// Keeps `bytes` for stderr when holding; `false` when not (print them).
pub(crate) fn keep_stderr(bytes: &[u8]) -> bool {
    keep(Stream::Stderr, bytes)
}

fn keep(stream: Stream, bytes: &[u8]) -> bool {
    match HELD.lock() {
        Ok(mut held) => match held.as_mut() {
            Some(chunks) => {
                chunks.push((stream, bytes.to_vec()));
                true
            }
            None => false,
        },
        Err(_) => false,
    }
}

/// Stops holding: prints what was held when `print` (the command did not end well), in the
/// order it was written, else drops it.
pub fn release(print: bool) {
    let chunks = HELD.lock().ok().and_then(|mut h| h.take());
    let Some(chunks) = chunks.filter(|_| print) else {
        return;
    };
    let (mut out, mut err) = (std::io::stdout().lock(), std::io::stderr().lock());
    for (stream, bytes) in chunks {
        // A closed stream swallows what is left for it, as it would have unheld.
        let _ = match stream {
            Stream::Stdout => out.write_all(&bytes).and_then(|()| out.flush()),
            Stream::Stderr => err.write_all(&bytes).and_then(|()| err.flush()),
        };
    }
}

/// The command's stdout while holding: what is written is kept, in order with stderr's.
pub struct HeldStdout;

impl Write for HeldStdout {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if !keep(Stream::Stdout, buf) {
            let mut out = std::io::stdout().lock();
            out.write_all(buf)?;
            out.flush()?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_in_order_and_drops_or_prints_on_release() {
        hold();
        assert!(keep_stderr(b"a\n"));
        let _ = HeldStdout.write_all(b"b\n");
        let held: Chunks = HELD.lock().unwrap().clone().unwrap();
        assert_eq!(
            held,
            vec![
                (Stream::Stderr, b"a\n".to_vec()),
                (Stream::Stdout, b"b\n".to_vec())
            ]
        );
        release(false);
        assert!(HELD.lock().unwrap().is_none());
        assert!(!keep_stderr(b"c\n"), "not holding after release");
    }
}

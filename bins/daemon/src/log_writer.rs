//! Where the daemons' log lines go: a thread of their own writes them to
//! stderr, so that a log reader that went away (EPIPE), stopped reading (a
//! full pipe) or a non-blocking stderr (EAGAIN) never stops or kills the
//! threads that serve clients.
//!
//! The queue is `tracing_appender::non_blocking` in lossy mode: when the
//! writer thread cannot keep up (or is stuck in a write to a full pipe),
//! further lines are dropped, not waited for. A write that fails loses its
//! line too. Both are counted ([`lost_lines`]), and the first line that
//! gets through again is preceded by a note of how many were lost.

use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use tracing_appender::non_blocking::{ErrorCounter, NonBlocking, NonBlockingBuilder, WorkerGuard};

/// Lines queued for the writer thread at most (about 4 MiB of typical
/// lines); more are dropped and counted.
pub const QUEUE_LINES: usize = 16_384;

/// Lines lost so far, for the note and [`lost_lines`].
#[derive(Debug)]
pub(crate) struct Counters {
    /// Writes to stderr that failed.
    failed: AtomicU64,
    /// Lines dropped because the queue was full.
    queue: OnceLock<ErrorCounter>,
}

impl Counters {
    pub(crate) const fn new() -> Self {
        Counters {
            failed: AtomicU64::new(0),
            queue: OnceLock::new(),
        }
    }

    fn lost(&self) -> u64 {
        let queued = self.queue.get().map_or(0, |c| c.dropped_lines() as u64);
        self.failed.load(Ordering::Relaxed) + queued
    }
}

static COUNTERS: Counters = Counters::new();
/// Flushes the queue when taken and dropped (see [`flush`]).
static GUARD: Mutex<Option<WorkerGuard>> = Mutex::new(None);

/// Log lines lost since the start: the queue was full, or stderr refused
/// them (closed pipe, EAGAIN...).
pub fn lost_lines() -> u64 {
    COUNTERS.lost()
}

/// The writer thread's end: each line is written whole or lost (and
/// counted); errors never reach the caller, so nothing ever retries,
/// blocks on, or panics about a log line.
#[derive(Debug)]
pub(crate) struct Lossy<W> {
    inner: W,
    counters: &'static Counters,
    /// Losses already told about in a note.
    reported: u64,
}

impl<W: Write> Lossy<W> {
    pub(crate) fn new(inner: W, counters: &'static Counters) -> Self {
        Lossy {
            inner,
            counters,
            reported: 0,
        }
    }
}

impl<W: Write> Write for Lossy<W> {
    fn write(&mut self, line: &[u8]) -> io::Result<usize> {
        let lost = self.counters.lost();
        let written = if lost > self.reported {
            let note = format!(
                "log: {} line(s) lost: stderr was closed, full or not read fast enough\n",
                lost - self.reported
            );
            let ok = self.inner.write_all(note.as_bytes()).is_ok();
            if ok {
                self.reported = lost;
            }
            ok && self.inner.write_all(line).is_ok()
        } else {
            self.inner.write_all(line).is_ok()
        };
        if !written {
            self.counters.failed.fetch_add(1, Ordering::Relaxed);
        }
        Ok(line.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        let _ = self.inner.flush();
        Ok(())
    }
}

/// The writer for tracing: lines queued for a thread that writes them to
/// stderr.
pub(crate) fn stderr() -> NonBlocking {
    let (writer, guard) = NonBlockingBuilder::default()
        .lossy(true)
        .buffered_lines_limit(QUEUE_LINES)
        .thread_name("log-writer")
        .finish(Lossy::new(io::stderr(), &COUNTERS));
    let _ = COUNTERS.queue.set(writer.error_counter());
    if let Ok(mut g) = GUARD.lock() {
        *g = Some(guard);
    }
    writer
}

/// Writes out the lines still queued (waiting about a second at most, in
/// case stderr is stuck); later lines are lost. For the end of `main`.
pub fn flush() {
    let guard = GUARD.lock().ok().and_then(|mut g| g.take());
    drop(guard);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fails while `broken`, like a pipe whose reader went away.
    struct Pipe {
        got: Vec<u8>,
        broken: bool,
    }

    impl Write for Pipe {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            if self.broken {
                return Err(io::Error::from(io::ErrorKind::BrokenPipe));
            }
            self.got.extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Err(io::Error::from(io::ErrorKind::BrokenPipe))
        }
    }

    #[test]
    fn failed_writes_are_counted_and_reported_when_writing_works_again() {
        let counters: &'static Counters = Box::leak(Box::new(Counters::new()));
        let mut w = Lossy::new(
            Pipe {
                got: Vec::new(),
                broken: false,
            },
            counters,
        );
        assert_eq!(w.write(b"one\n").unwrap(), 4);
        w.inner.broken = true;
        for _ in 0..3 {
            // Never an error to the caller, never a panic.
            assert_eq!(w.write(b"lost\n").unwrap(), 5);
            assert!(w.flush().is_ok());
        }
        assert_eq!(counters.lost(), 3);
        w.inner.broken = false;
        assert_eq!(w.write(b"two\n").unwrap(), 4);
        assert_eq!(w.write(b"three\n").unwrap(), 6);
        let text = String::from_utf8(w.inner.got.clone()).unwrap();
        assert_eq!(
            text,
            "one\nlog: 3 line(s) lost: stderr was closed, full or not read fast enough\n\
             two\nthree\n"
        );
        assert_eq!(counters.lost(), 3, "a count, not reset by the note");
    }
}

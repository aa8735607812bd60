//! Where log lines go: gathered in memory and written out by a thread of their own, at
//! most every [`FLUSH_EVERY`], instead of one `write` system call per line on the
//! request's thread.
//!
//! A server logs a line for every token it issues. Written one by one to stderr, those
//! lines cost `client_credentials` 13-46 % of its rate in the benchmark
//! (`keyhaven-bench --log text`), the system call more than the formatting. Gathered, they
//! cost one `write` per [`FLUSH_EVERY`].
//!
//! A line waits at most [`FLUSH_EVERY`] (plus the time to write the ones before it). Memory
//! is bounded: past [`HOLD_AT_MOST`] bytes waiting (the reader of stderr stopped reading),
//! the line's writer writes everything out itself, so the server slows down with its log
//! rather than losing lines or growing without bound. Lines still waiting when the process
//! exits are written by [`Guard`]'s drop; a process killed outright loses at most the last
//! [`FLUSH_EVERY`] of them.

use std::io::{self, Write};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use tracing_subscriber::fmt::MakeWriter;

/// How long a line may wait before it is written.
pub const FLUSH_EVERY: Duration = Duration::from_millis(50);
/// How many bytes of lines may wait: 1 MiB, a few thousand lines.
pub const HOLD_AT_MOST: usize = 1 << 20;

/// Hands out writers for [`tracing_subscriber::fmt`] that append to the shared buffer.
#[derive(Clone)]
pub struct Gathered {
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<State>,
    /// Signalled when a line comes to an empty buffer, and when the guard is dropped: an
    /// idle server's writer sleeps until then rather than waking every interval.
    wake: Condvar,
    sink: Mutex<Box<dyn Write + Send>>,
}

struct State {
    waiting: Vec<u8>,
    closed: bool,
}

/// Writes what is still waiting and stops the writing thread when dropped: hold it for
/// as long as the process logs.
pub struct Guard {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

/// Starts the thread that writes gathered lines to `sink`: a line and those that follow
/// it within [`FLUSH_EVERY`] in one write.
pub fn gather(sink: impl Write + Send + 'static) -> io::Result<(Gathered, Guard)> {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            waiting: Vec::new(),
            closed: false,
        }),
        wake: Condvar::new(),
        sink: Mutex::new(Box::new(sink)),
    });
    let thread = std::thread::Builder::new()
        .name("log-writer".into())
        .spawn({
            let shared = Arc::clone(&shared);
            move || shared.write_until_closed()
        })?;
    Ok((
        Gathered {
            shared: Arc::clone(&shared),
        },
        Guard {
            shared,
            thread: Some(thread),
        },
    ))
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn write_until_closed(&self) {
        // Swapped with the waiting buffer, so that both keep their capacity.
        let mut taken = Vec::new();
        loop {
            let state = self.state();
            let state = self
                .wake
                .wait_while(state, |s| s.waiting.is_empty() && !s.closed)
                .unwrap_or_else(PoisonError::into_inner);
            // A line came: the ones that follow it within the interval go out with it.
            let (mut state, _) = self
                .wake
                .wait_timeout_while(state, FLUSH_EVERY, |s| !s.closed)
                .unwrap_or_else(PoisonError::into_inner);
            std::mem::swap(&mut state.waiting, &mut taken);
            let closed = state.closed;
            // The sink before letting go of the buffer, as a line's writer past the bound
            // takes them: lines reach the sink in the order they were logged.
            let mut sink = self.sink();
            drop(state);
            write_to(&mut sink, &taken);
            drop(sink);
            taken.clear();
            if closed {
                return;
            }
        }
    }

    fn sink(&self) -> MutexGuard<'_, Box<dyn Write + Send>> {
        self.sink.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn write_to(sink: &mut Box<dyn Write + Send>, lines: &[u8]) {
    if lines.is_empty() {
        return;
    }
    // Nowhere to report a log that cannot be written.
    let _ = sink.write_all(lines).and_then(|()| sink.flush());
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.shared.state().closed = true;
        self.shared.wake.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// One line's writer: `tracing_subscriber::fmt` formats a whole line and then writes it
/// with one `write_all`.
pub struct Line<'a> {
    shared: &'a Shared,
}

impl<'a> MakeWriter<'a> for Gathered {
    type Writer = Line<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        Line {
            shared: &self.shared,
        }
    }
}

impl Write for Line<'_> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let mut state = self.shared.state();
        if state.closed {
            // After the guard: nothing will write it later.
            write_to(&mut self.shared.sink(), bytes);
            return Ok(bytes.len());
        }
        if state.waiting.is_empty() {
            self.shared.wake.notify_one();
        }
        state.waiting.extend_from_slice(bytes);
        if state.waiting.len() >= HOLD_AT_MOST {
            // Written here, holding the buffer, so that the other lines wait for the sink.
            write_to(&mut self.shared.sink(), &state.waiting);
            state.waiting.clear();
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    /// A sink the test can read, which counts the writes it was given.
    #[derive(Clone, Default)]
    struct Recorded(Arc<Mutex<(Vec<u8>, usize)>>);

    impl Write for Recorded {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            let mut recorded = self.0.lock().expect("lock");
            recorded.0.extend_from_slice(bytes);
            recorded.1 += 1;
            Ok(bytes.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Recorded {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().expect("lock").0.clone()).expect("utf-8")
        }

        fn writes(&self) -> usize {
            self.0.lock().expect("lock").1
        }
    }

    fn log(gathered: &Gathered, line: &str) {
        gathered
            .make_writer()
            .write_all(line.as_bytes())
            .expect("write");
    }

    #[test]
    fn lines_are_written_in_order_in_one_write_within_the_interval() {
        let sink = Recorded::default();
        let (gathered, _guard) = gather(sink.clone()).expect("thread");
        let lines: Vec<String> = (0..100).map(|i| format!("line {i}\n")).collect();
        for line in &lines {
            log(&gathered, line);
        }
        let deadline = Instant::now() + FLUSH_EVERY * 20;
        while sink.text().len() < lines.concat().len() && Instant::now() < deadline {
            std::thread::sleep(FLUSH_EVERY / 5);
        }
        assert_eq!(sink.text(), lines.concat());
        // One or two (the interval may fall between the lines); a slow machine may add one.
        assert!(sink.writes() < 10, "{} writes for 100 lines", sink.writes());
    }

    #[test]
    fn dropping_the_guard_writes_what_waits_and_later_lines_go_straight_out() {
        let sink = Recorded::default();
        let (gathered, guard) = gather(sink.clone()).expect("thread");
        log(&gathered, "before exit\n");
        drop(guard);
        assert_eq!(sink.text(), "before exit\n");
        log(&gathered, "after\n");
        assert_eq!(sink.text(), "before exit\nafter\n");
    }

    #[test]
    fn past_the_bound_the_writer_writes_out_itself() {
        let sink = Recorded::default();
        let (gathered, _guard) = gather(sink.clone()).expect("thread");
        let line = "x".repeat(HOLD_AT_MOST);
        // The writing thread may not have run yet: the line's own writer wrote it.
        log(&gathered, &line);
        assert_eq!(sink.text().len(), HOLD_AT_MOST);
    }
}

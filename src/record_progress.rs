//! The progress line of `kinect-record`: messages, MB, messages per second, drops and losses.
//! Redrawn in place on a terminal; elsewhere (a log file) written as a line every
//! [`PROGRESS_LOG_EVERY`].

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// How often the line is redrawn on a terminal.
pub const PROGRESS_EVERY: Duration = Duration::from_millis(500);
/// How often it is written as a line when stderr is not a terminal.
pub const PROGRESS_LOG_EVERY: Duration = Duration::from_secs(10);

/// What the line shows, summed over every stream recorded.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RecordTotals {
    /// Messages written.
    pub messages: u64,
    /// Bytes of those messages.
    pub bytes: u64,
    /// Messages the recorder could not keep up with (its queue was full).
    pub dropped: u64,
    /// Frames the server produced that never arrived (gaps in sequence numbers).
    pub lost: u64,
}

/// The progress line on stderr.
#[derive(Debug)]
pub struct Progress {
    quiet: bool,
    terminal: bool,
    started: Instant,
    last_shown: Instant,
    last_messages: u64,
    shown: bool,
}

impl Progress {
    /// A line that shows nothing when `quiet`.
    pub fn new(quiet: bool) -> Self {
        let now = Instant::now();
        Self {
            quiet,
            terminal: std::io::stderr().is_terminal(),
            started: now,
            last_shown: now,
            last_messages: 0,
            shown: false,
        }
    }

    /// Shows `totals` if the line is due at `now`.
    pub fn show(&mut self, now: Instant, totals: &RecordTotals) {
        let every = if self.terminal {
            PROGRESS_EVERY
        } else {
            PROGRESS_LOG_EVERY
        };
        if self.quiet || now < self.last_shown + every {
            return;
        }
        let line = line(
            now.duration_since(self.started),
            now.duration_since(self.last_shown),
            totals,
            self.last_messages,
        );
        let mut err = std::io::stderr().lock();
        // Progress is a courtesy: a closed stderr must not stop the recording.
        let _ = if self.terminal {
            write!(err, "\r{line}\x1b[K")
        } else {
            writeln!(err, "kinect-record: {line}")
        };
        self.shown = true;
        self.last_shown = now;
        self.last_messages = totals.messages;
    }

    /// Ends the redrawn line, so that what follows starts on a line of its own.
    pub fn finish(&mut self) {
        if self.shown && self.terminal {
            let _ = writeln!(std::io::stderr());
        }
    }
}

/// The text of the line: `elapsed` since the start, the rate over `since_last` (the time since
/// the line was last shown, when `last_messages` had been written).
fn line(
    elapsed: Duration,
    since_last: Duration,
    totals: &RecordTotals,
    last_messages: u64,
) -> String {
    let rate =
        totals.messages.saturating_sub(last_messages) as f64 / since_last.as_secs_f64().max(1e-9);
    format!(
        "{:>6.1} s  {} messages  {:.1} MB  {rate:.1}/s  {} dropped  {} lost",
        elapsed.as_secs_f64(),
        totals.messages,
        totals.bytes as f64 / 1e6,
        totals.dropped,
        totals.lost,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_shows_totals_and_the_rate_since_it_was_last_shown() {
        let totals = RecordTotals {
            messages: 130,
            bytes: 12_340_000,
            dropped: 2,
            lost: 5,
        };
        let text = line(
            Duration::from_secs(4),
            Duration::from_millis(500),
            &totals,
            100,
        );
        assert_eq!(
            text,
            "   4.0 s  130 messages  12.3 MB  60.0/s  2 dropped  5 lost"
        );
    }
}

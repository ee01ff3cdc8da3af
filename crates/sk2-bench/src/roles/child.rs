//! The protocol every child role speaks with the orchestrator on its standard streams: commands
//! read from stdin, lines said on stdout, pacing, and a subscriber's measuring [`Window`] with the
//! [`Summary`] it prints.

use std::io::{BufRead, Write};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

use crate::histogram::Histogram;
use crate::procfs;

/// How often a blocked receive wakes up to look at stdin commands.
pub const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// Lines of stdin, read on their own thread; the channel disconnects at end of input.
pub(crate) fn stdin_lines() -> mpsc::Receiver<String> {
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    receiver
}

/// Writes one line to stdout, at once (the orchestrator waits for it).
pub(crate) fn say(line: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")?;
    out.flush()?;
    Ok(())
}

/// Sleeps until `next_tick`, then moves it one `period` on. A loop calling this runs at
/// 1/`period` per second on average without drifting; after falling more than a period behind
/// (descheduled), it skips ahead rather than bursting to catch up.
pub(crate) fn pace(next_tick: &mut Instant, period: Duration) {
    let now = Instant::now();
    if *next_tick > now {
        std::thread::sleep(*next_tick - now);
    } else if now - *next_tick > period {
        *next_tick = now;
    }
    *next_tick += period;
}

/// Waits until a `stop` line, end of stdin, or `deadline`.
pub(crate) fn wait_for_stop(commands: &mpsc::Receiver<String>, deadline: Instant) {
    while Instant::now() < deadline {
        match commands.recv_timeout(POLL_INTERVAL) {
            Ok(line) if line == "stop" => break,
            Ok(_) | Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
}

/// Records one decoded frame: its (unwrapped) sequence number and its latency.
pub(crate) fn count(summary: &mut Summary, sequence: u64, latency_ns: u64) {
    if let Some(last) = summary.last_sequence {
        summary.gaps += sequence.saturating_sub(last + 1);
    }
    summary.first_sequence.get_or_insert(sequence);
    summary.last_sequence = Some(sequence);
    summary.frames += 1;
    summary.latency_ns.record(latency_ns);
}

/// What a subscriber saw between `start` and `stop`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Summary {
    /// Frames decoded.
    pub frames: u64,
    /// Frames missing between the first and last one received (sequence gaps).
    pub gaps: u64,
    /// First and last sequence number received.
    pub first_sequence: Option<u64>,
    /// Last sequence number received.
    pub last_sequence: Option<u64>,
    /// Capture-to-decoded-array latency, ns.
    pub latency_ns: Histogram,
    /// This process's user + system CPU seconds during the window.
    pub cpu_seconds: f64,
    /// Wall time spent decoding (message to array), summed, ns.
    pub decode_ns: u64,
    /// Messages that did not decode.
    pub errors: u64,
    /// Length of the window, s.
    pub window_seconds: f64,
}

/// A subscriber's measuring window and its protocol on stdin/stdout: `ready` once the first frame
/// is decoded, counting from a `start` line, the summary at `stop` (or when stdin ends).
pub(crate) struct Window {
    /// What was counted since `start`.
    pub(crate) summary: Summary,
    ready: bool,
    counting: bool,
    started_at: Instant,
    cpu_at_start: f64,
}

impl Window {
    pub(crate) fn new() -> Self {
        Self {
            summary: Summary::default(),
            ready: false,
            counting: false,
            started_at: Instant::now(),
            cpu_at_start: 0.0,
        }
    }

    /// Applies the waiting command, if any; `false` once the subscriber must stop.
    pub(crate) fn obey(&mut self, commands: &mpsc::Receiver<String>) -> Result<bool> {
        match commands.try_recv() {
            Ok(line) if line == "start" => {
                self.summary = Summary::default();
                self.counting = true;
                self.started_at = Instant::now();
                self.cpu_at_start = procfs::own_cpu_seconds()?;
                Ok(true)
            }
            Ok(line) if line == "stop" => Ok(false),
            Ok(line) => bail!("unknown command {line:?}"),
            Err(mpsc::TryRecvError::Disconnected) => Ok(false),
            Err(mpsc::TryRecvError::Empty) => Ok(true),
        }
    }

    /// Notes a decoded frame: says `ready` after the first; whether this one is to be counted.
    pub(crate) fn decoded(&mut self) -> Result<bool> {
        if !self.ready {
            say("ready")?;
            self.ready = true;
        }
        Ok(self.counting)
    }

    /// Closes the window and prints the summary.
    pub(crate) fn finish(mut self) -> Result<()> {
        if self.counting {
            self.summary.cpu_seconds = procfs::own_cpu_seconds()? - self.cpu_at_start;
            self.summary.window_seconds = self.started_at.elapsed().as_secs_f64();
        }
        say(&format!(
            "summary {}",
            serde_json::to_string(&self.summary)?
        ))
    }
}

//! The orchestrator: starts the publisher and subscriber processes for each scenario, measures
//! the publisher from outside through `/proc`, gathers the subscribers' summaries, prints a table.
//!
//! Every child is owned by a `Children` guard: on every exit path (success, error, panic) the
//! guard closes the children's stdin (their signal to stop), waits briefly, then kills and reaps
//! them. A child whose orchestrator died sees end of stdin and exits by itself.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::frames::Input;
use crate::histogram::Histogram;
use crate::procfs;
use crate::roles::{Stack, Summary};

/// How long a child may take to bind, connect and decode its first frame. Generous because 100+
/// processes start at once on a 2-core machine shared with other work.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);
/// How long children get to exit after their stdin closes, before they are killed.
const EXIT_GRACE: Duration = Duration::from_secs(3);
/// The same when the run was interrupted: whoever stopped it wants it gone within a second, and
/// an interrupted scenario's figures are thrown away anyway.
const INTERRUPTED_EXIT_GRACE: Duration = Duration::from_millis(300);
/// Sent in place of a line when a child's stdout closes (it exited or crashed): cannot be a real
/// line, since lines never contain a NUL.
const END_OF_OUTPUT: &str = "\0eof";
/// Extra run time a child allows itself beyond the scenario, before stopping on its own.
const CHILD_SLACK_SECONDS: f64 = 120.0;

/// How often a wait looks at the stop flag: an interrupted run ends within about this.
const STOP_POLL: Duration = Duration::from_millis(50);

/// The run was stopped from outside (SIGINT or SIGTERM) before the scenario ended.
#[derive(Debug, Clone, Copy)]
pub struct Interrupted;

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("interrupted")
    }
}

impl std::error::Error for Interrupted {}

/// One measured configuration.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Row label: `latency`, `throughput`, `capacity`, `stalled`.
    pub kind: &'static str,
    /// Wire format.
    pub stack: Stack,
    /// Frame source.
    pub input: Input,
    /// Subscribers that read and decode every frame.
    pub subscribers: usize,
    /// Subscribers that subscribe and never read.
    pub stalled: usize,
    /// Publisher rate, frames/s; 0 = as fast as it goes.
    pub rate_fps: f64,
    /// Measurement window.
    pub window: Duration,
}

/// What one scenario measured.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The scenario.
    pub scenario: Scenario,
    /// Frames the publisher sent during the window (widest sequence range any subscriber saw).
    pub published: u64,
    /// Frames decoded, summed over subscribers.
    pub received: u64,
    /// Sequence gaps, summed over subscribers.
    pub drops: u64,
    /// Subscribers that saw at least one gap.
    pub subscribers_with_drops: usize,
    /// Pooled latency of all subscribers, ns.
    pub latency_ns: Histogram,
    /// Frames/s decoded by the slowest subscriber.
    pub fps_min: f64,
    /// Publisher user+sys CPU seconds per 1000 published frames.
    pub server_cpu_per_1000: f64,
    /// Publisher peak resident set (VmHWM), MiB.
    pub server_peak_rss_mib: f64,
    /// Largest publisher VmRSS sampled during the window, MiB.
    pub server_rss_sampled_mib: f64,
    /// Subscriber CPU per decoded frame, ms (mean over subscribers).
    pub client_cpu_ms_per_frame: f64,
    /// Wall time of decode (message to array) per frame, ms (mean).
    pub decode_ms_per_frame: f64,
    /// Messages that failed to decode.
    pub errors: u64,
}

struct ChildProcess {
    name: String,
    child: Child,
    stdin: Option<ChildStdin>,
}

/// Owns child processes; kills and reaps whatever is left when dropped.
struct Children<'stop> {
    processes: Vec<ChildProcess>,
    /// Set when the run is interrupted: the children then get less time to exit.
    stop: &'stop AtomicBool,
    lines: mpsc::Receiver<(usize, String)>,
    sender: mpsc::Sender<(usize, String)>,
}

impl<'stop> Children<'stop> {
    fn new(stop: &'stop AtomicBool) -> Self {
        let (sender, lines) = mpsc::channel();
        Self {
            processes: Vec::new(),
            stop,
            lines,
            sender,
        }
    }

    /// Starts `exe args`; its stdout lines arrive on `self.lines` tagged with the returned index.
    fn spawn(&mut self, name: String, exe: &PathBuf, args: &[String]) -> Result<usize> {
        let mut child = Command::new(exe)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("starting {name}"))?;
        let index = self.processes.len();
        let stdout = child.stdout.take().context("child has no stdout")?;
        let stdin = child.stdin.take();
        let sender = self.sender.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if sender.send((index, line)).is_err() {
                    return;
                }
            }
            let _ = sender.send((index, END_OF_OUTPUT.to_owned()));
        });
        self.processes.push(ChildProcess { name, child, stdin });
        Ok(index)
    }

    fn pid(&self, index: usize) -> u32 {
        self.processes[index].child.id()
    }

    fn tell(&mut self, index: usize, line: &str) -> Result<()> {
        let process = &mut self.processes[index];
        let stdin = process.stdin.as_mut().context("stdin already closed")?;
        writeln!(stdin, "{line}").with_context(|| format!("writing to {}", process.name))?;
        stdin.flush()?;
        Ok(())
    }

    /// Waits for one line from each of `from` matching `prefix`; returns the rest of each line.
    fn expect(
        &mut self,
        from: &[usize],
        prefix: &str,
        timeout: Duration,
    ) -> Result<Vec<(usize, String)>> {
        let stop = self.stop;
        let deadline = Instant::now() + timeout;
        let mut pending: Vec<usize> = from.to_vec();
        let mut got = Vec::new();
        while !pending.is_empty() {
            if stop.load(Ordering::SeqCst) {
                return Err(Interrupted.into());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            let (index, line) = match self.lines.recv_timeout(left.min(STOP_POLL)) {
                Ok(received) => received,
                Err(mpsc::RecvTimeoutError::Timeout) if !left.is_zero() => continue,
                Err(_) => {
                    let names: Vec<&str> = pending
                        .iter()
                        .take(5)
                        .map(|&i| self.processes[i].name.as_str())
                        .collect();
                    bail!(
                        "timed out waiting for `{prefix}` from {} process(es): {names:?}",
                        pending.len()
                    );
                }
            };
            if line == END_OF_OUTPUT && pending.contains(&index) {
                bail!(
                    "{} exited before saying `{prefix}` (its error is above)",
                    self.processes[index].name
                );
            }
            if let Some(rest) = line.strip_prefix(prefix) {
                if let Some(at) = pending.iter().position(|&i| i == index) {
                    pending.swap_remove(at);
                    got.push((index, rest.trim().to_owned()));
                }
            }
            // Any other line (a late `ready`, say) is not what we wait for: skip it.
        }
        Ok(got)
    }
}

impl Drop for Children<'_> {
    fn drop(&mut self) {
        // Closing stdin is the polite stop; every child exits on end of input.
        for process in &mut self.processes {
            process.stdin = None;
        }
        let grace = if self.stop.load(Ordering::SeqCst) {
            INTERRUPTED_EXIT_GRACE
        } else {
            EXIT_GRACE
        };
        let deadline = Instant::now() + grace;
        for process in &mut self.processes {
            loop {
                match process.child.try_wait() {
                    Ok(Some(_)) => break,
                    Ok(None) if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(10))
                    }
                    _ => {
                        let _ = process.child.kill();
                        let _ = process.child.wait();
                        break;
                    }
                }
            }
        }
    }
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// Runs one scenario with child processes of `exe` (this binary). Setting `stop` ends it early
/// with an [`Interrupted`] error, its children stopped and reaped.
pub fn run(exe: &PathBuf, scenario: &Scenario, stop: &AtomicBool) -> Result<Outcome> {
    let window_s = scenario.window.as_secs_f64();
    let max_seconds = (window_s + CHILD_SLACK_SECONDS).to_string();
    let input = match &scenario.input {
        Input::Mock => "mock".to_owned(),
        Input::Corpus(dir) => format!("corpus:{}", dir.display()),
    };
    let mut children = Children::new(stop);
    let publisher = children.spawn(
        "publisher".into(),
        exe,
        &[
            "publish".into(),
            "--stack".into(),
            scenario.stack.to_string(),
            "--input".into(),
            input,
            "--rate".into(),
            scenario.rate_fps.to_string(),
            "--max-seconds".into(),
            max_seconds.clone(),
        ],
    )?;
    let endpoint = children
        .expect(&[publisher], "endpoint", STARTUP_TIMEOUT)?
        .pop()
        .context("no endpoint")?
        .1;
    let mut readers = Vec::new();
    let mut all = Vec::new();
    for i in 0..scenario.subscribers + scenario.stalled {
        let stall = i >= scenario.subscribers;
        let mut args = vec![
            "subscribe".into(),
            "--stack".into(),
            scenario.stack.to_string(),
            "--endpoint".into(),
            endpoint.clone(),
            "--max-seconds".into(),
            max_seconds.clone(),
        ];
        if stall {
            args.push("--stall".into());
        }
        let index = children.spawn(format!("subscriber {i}"), exe, &args)?;
        if !stall {
            readers.push(index);
        }
        all.push(index);
    }
    children.expect(&all, "ready", STARTUP_TIMEOUT)?;

    let server_pid = children.pid(publisher);
    let cpu_start = procfs::cpu_seconds(server_pid)?;
    for &index in &all {
        children.tell(index, "start")?;
    }
    let started = Instant::now();
    let mut rss_max_kib = 0;
    // Sample the server's memory through the window (the stalled-subscriber check needs the
    // curve, not just the end point).
    let sample_every = Duration::from_millis(100);
    while started.elapsed() < scenario.window {
        if stop.load(Ordering::SeqCst) {
            return Err(Interrupted.into());
        }
        let (rss, _) = procfs::rss_kib(server_pid)?;
        rss_max_kib = rss_max_kib.max(rss);
        std::thread::sleep(sample_every.min(scenario.window.saturating_sub(started.elapsed())));
    }
    let cpu_used = procfs::cpu_seconds(server_pid)? - cpu_start;
    let (rss, hwm) = procfs::rss_kib(server_pid)?;
    rss_max_kib = rss_max_kib.max(rss);
    for &index in &all {
        children.tell(index, "stop")?;
    }
    let summaries = children.expect(&readers, "summary", STARTUP_TIMEOUT)?;
    drop(children);

    let mut outcome = Outcome {
        scenario: scenario.clone(),
        published: 0,
        received: 0,
        drops: 0,
        subscribers_with_drops: 0,
        latency_ns: Histogram::new(),
        fps_min: f64::INFINITY,
        server_cpu_per_1000: 0.0,
        server_peak_rss_mib: mib(hwm),
        server_rss_sampled_mib: mib(rss_max_kib),
        client_cpu_ms_per_frame: 0.0,
        decode_ms_per_frame: 0.0,
        errors: 0,
    };
    let (mut first, mut last) = (u64::MAX, 0);
    let mut client_cpu = 0.0;
    let mut decode_ns = 0u64;
    for (_, json) in &summaries {
        let summary: Summary =
            serde_json::from_str(json).context("bad summary from a subscriber")?;
        outcome.received += summary.frames;
        outcome.drops += summary.gaps;
        outcome.errors += summary.errors;
        outcome.subscribers_with_drops += usize::from(summary.gaps > 0);
        outcome.latency_ns.merge(&summary.latency_ns);
        let fps = summary.frames as f64 / summary.window_seconds.max(1e-9);
        outcome.fps_min = outcome.fps_min.min(fps);
        client_cpu += summary.cpu_seconds;
        decode_ns += summary.decode_ns;
        if let (Some(a), Some(b)) = (summary.first_sequence, summary.last_sequence) {
            first = first.min(a);
            last = last.max(b);
        }
    }
    if summaries.is_empty() {
        outcome.fps_min = 0.0;
    }
    if last >= first && first != u64::MAX {
        outcome.published = last - first + 1;
    }
    if outcome.published > 0 {
        outcome.server_cpu_per_1000 = cpu_used / outcome.published as f64 * 1000.0;
    }
    if outcome.received > 0 {
        outcome.client_cpu_ms_per_frame = client_cpu / outcome.received as f64 * 1e3;
        outcome.decode_ms_per_frame = decode_ns as f64 / outcome.received as f64 / 1e6;
    }
    Ok(outcome)
}

fn ms(ns: Option<u64>) -> f64 {
    ns.map_or(f64::NAN, |ns| ns as f64 / 1e6)
}

fn with_ratio(value: f64, base: Option<f64>, decimals: usize) -> String {
    match base {
        Some(base) if base > 0.0 && value.is_finite() => {
            format!("{value:.decimals$} ({:.2}x)", value / base)
        }
        _ => format!("{value:.decimals$}"),
    }
}

/// The result table in Markdown; each figure of a non-baseline row also as a ratio to the
/// baseline row of the same scenario.
pub fn table(outcomes: &[Outcome]) -> String {
    let mut out = String::new();
    out.push_str(
        "| scenario | stack | input | subs (+stalled) | rate fps | published | drops (subs with drops) \
         | p50 ms | p99 ms | max ms | fps (slowest sub) | server CPU s/1000 fr | server RSS MiB: peak / max in window \
         | client CPU ms/fr | decode ms/fr |\n",
    );
    out.push_str("|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for outcome in outcomes {
        let s = &outcome.scenario;
        let base = outcomes.iter().find(|o| {
            o.scenario.stack == Stack::Raw
                && o.scenario.kind == s.kind
                && o.scenario.subscribers == s.subscribers
                && o.scenario.input == s.input
                && s.stack != Stack::Raw
        });
        let b = |f: fn(&Outcome) -> f64| base.map(f);
        let p50 = ms(outcome.latency_ns.quantile(0.5));
        let p99 = ms(outcome.latency_ns.quantile(0.99));
        let max = if outcome.received > 0 {
            ms(Some(outcome.latency_ns.max()))
        } else {
            f64::NAN
        };
        let rss = format!(
            "{:.1} / {:.1}",
            outcome.server_peak_rss_mib, outcome.server_rss_sampled_mib
        );
        let rate = if s.rate_fps > 0.0 {
            format!("{}", s.rate_fps)
        } else {
            "max".into()
        };
        let subs = if s.stalled > 0 {
            format!("{} (+{})", s.subscribers, s.stalled)
        } else {
            s.subscribers.to_string()
        };
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} ({}) | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            s.kind,
            s.stack,
            s.input,
            subs,
            rate,
            outcome.published,
            outcome.drops,
            outcome.subscribers_with_drops,
            with_ratio(p50, b(|o| ms(o.latency_ns.quantile(0.5))), 2),
            with_ratio(p99, b(|o| ms(o.latency_ns.quantile(0.99))), 2),
            with_ratio(max, b(|o| ms(Some(o.latency_ns.max()))), 2),
            with_ratio(outcome.fps_min, b(|o| o.fps_min), 0),
            with_ratio(outcome.server_cpu_per_1000, b(|o| o.server_cpu_per_1000), 2),
            rss,
            with_ratio(
                outcome.client_cpu_ms_per_frame,
                b(|o| o.client_cpu_ms_per_frame),
                2
            ),
            with_ratio(outcome.decode_ms_per_frame, b(|o| o.decode_ms_per_frame), 3),
        ));
    }
    out
}

//! A program started the way scripts start services: as a background job of a non-interactive
//! shell, `sh -c 'PROGRAM ARGS... & echo $!; wait'`.
//!
//! Such a job starts with SIGINT (and SIGQUIT) *ignored*: POSIX shells without job control do
//! that for asynchronous commands. A tool that leaves SIGINT at its default action then survives
//! `kill -INT` for good. [`BackgroundJob`] lets a test send the job a signal and measure how long
//! it takes to exit, and with which status.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

/// A program running as a background job of `sh`, its stdout and stderr read line by line.
#[derive(Debug)]
pub struct BackgroundJob {
    shell: Child,
    /// The program's process id (the shell's `$!`).
    pub pid: u32,
    lines: Receiver<String>,
    /// Lines the program printed before the shell's pid line, read by [`BackgroundJob::start`]
    /// and still to be offered to [`BackgroundJob::wait_for_line`]: the two race for the pipe.
    early: VecDeque<String>,
    /// Every line seen so far (for failure messages).
    pub transcript: Vec<String>,
}

/// How a signalled job ended.
#[derive(Debug, Clone, Copy)]
pub struct Stopped {
    /// The program's exit status, as the shell's `wait` reported it.
    pub status: ExitStatus,
    /// From sending the signal to the program's exit (as seen by its shell).
    pub elapsed: Duration,
}

impl BackgroundJob {
    /// Starts `program args...` in the background of `sh -c`, its stderr merged into stdout, and
    /// reads its pid. Panics when the shell cannot start (`sh` is always there).
    pub fn start(program: &str, args: &[&str]) -> Self {
        // "$@" keeps every argument as given; `2>&1` so one reader sees both streams.
        let script = "\"$0\" \"$@\" 2>&1 & echo \"pid $!\"; wait $!";
        let mut shell = Command::new("sh")
            .args(["-c", script, program])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("sh starts");
        let stdout = shell.stdout.take().expect("stdout is piped");
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        let mut job = Self {
            shell,
            pid: 0,
            lines,
            early: VecDeque::new(),
            transcript: Vec::new(),
        };
        job.read_pid();
        job
    }

    /// Reads the shell's `pid N` line, keeping the program's lines that came before it.
    fn read_pid(&mut self) {
        let mut program_lines = Vec::new();
        let line = self
            .wait_for_line(Duration::from_secs(10), |line| {
                let is_pid = line.starts_with("pid ");
                if !is_pid {
                    program_lines.push(line.to_owned());
                }
                is_pid
            })
            .unwrap_or_else(|| panic!("no pid from the shell: {:?}", self.transcript));
        self.pid = line["pid ".len()..].trim().parse().expect("$! is a number");
        self.early = program_lines.into();
    }

    /// Waits up to `timeout` for a line matching `wanted`; returns it, or `None` on timeout or
    /// when the output ended.
    pub fn wait_for_line(
        &mut self,
        timeout: Duration,
        mut wanted: impl FnMut(&str) -> bool,
    ) -> Option<String> {
        while let Some(line) = self.early.pop_front() {
            if wanted(&line) {
                return Some(line);
            }
        }
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.transcript.push(line.clone());
                    if wanted(&line) {
                        return Some(line);
                    }
                }
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => return None,
            }
        }
    }

    /// Whether SIGINT was ignored in the program when it started: read from `/proc` (the
    /// program's own handler replaces the disposition later, so call it early, or on a program
    /// that does not handle SIGINT). `None` where `/proc` cannot say.
    pub fn sigint_ignored(&self) -> Option<bool> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid)).ok()?;
        let mask = status
            .lines()
            .find_map(|line| line.strip_prefix("SigIgn:"))?;
        let mask = u64::from_str_radix(mask.trim(), 16).ok()?;
        Some(mask & (1 << (2 - 1)) != 0) // SIGINT is signal 2: bit 1
    }

    /// Sends `signal` (`INT`, `TERM`, ...) to the program with the shell's built-in `kill` (no
    /// procps needed) and waits up to `timeout` for it to exit. `None` if it did not (it is
    /// then killed when the job is dropped).
    pub fn signal_and_wait(&mut self, signal: &str, timeout: Duration) -> Option<Stopped> {
        let sent = Instant::now();
        let kill = Command::new("sh")
            .args(["-c", &format!("kill -{signal} {}", self.pid)])
            .status()
            .expect("sh runs kill");
        assert!(kill.success(), "kill -{signal} {} failed", self.pid);
        while sent.elapsed() < timeout {
            // The shell's `wait $!` returns, and the shell exits, when the program has exited.
            if let Some(status) = self.shell.try_wait().expect("the shell can be waited for") {
                let elapsed = sent.elapsed();
                // Collect the rest of the output for the caller's messages.
                while let Ok(line) = self.lines.recv_timeout(Duration::from_millis(200)) {
                    self.transcript.push(line);
                }
                return Some(Stopped { status, elapsed });
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        None
    }
}

impl Drop for BackgroundJob {
    fn drop(&mut self) {
        if self.shell.try_wait().ok().flatten().is_none() {
            let _ = Command::new("sh")
                .args(["-c", &format!("kill -KILL {}", self.pid)])
                .status();
            let _ = self.shell.kill();
            let _ = self.shell.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_the_program_prints_before_the_shells_pid_line_are_still_found() {
        let (sender, lines) = mpsc::channel();
        let shell = Command::new("sh").args(["-c", "exit 0"]).spawn().unwrap();
        let mut job = BackgroundJob {
            shell,
            pid: 0,
            lines,
            early: VecDeque::new(),
            transcript: Vec::new(),
        };
        for line in ["ready", "pid 4242", "later"] {
            sender.send(line.to_owned()).unwrap();
        }
        job.read_pid();
        assert_eq!(job.pid, 4242);
        let found = job.wait_for_line(Duration::from_millis(10), |line| line == "ready");
        assert_eq!(found.as_deref(), Some("ready"));
        let found = job.wait_for_line(Duration::from_millis(10), |line| line == "later");
        assert_eq!(found.as_deref(), Some("later"));
        assert_eq!(job.transcript, ["ready", "pid 4242", "later"]);
        // The shell has exited, so dropping the job signals nothing (4242 is not ours).
        job.shell.wait().unwrap();
    }

    #[test]
    fn a_background_job_starts_with_sigint_ignored_and_survives_kill_int() {
        // `sleep` leaves SIGINT as it found it: this is the trap the tools must avoid.
        let mut job = BackgroundJob::start("sleep", &["30"]);
        // `$!` is known as soon as the shell forks: the child sets the disposition just after.
        let deadline = Instant::now() + Duration::from_secs(5);
        while job.sigint_ignored() != Some(true) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(job.sigint_ignored(), Some(true));
        assert!(job
            .signal_and_wait("INT", Duration::from_millis(300))
            .is_none());
        let stopped = job
            .signal_and_wait("TERM", Duration::from_secs(5))
            .expect("sleep dies of SIGTERM");
        assert!(!stopped.status.success());
    }
}

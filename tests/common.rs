//! Helpers shared by the test binaries of this package (each uses part of them).
#![allow(dead_code)]

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long `kinect-server` may take to print its control endpoint (a debug build on a loaded
/// machine takes seconds).
pub const SERVER_STARTUP_TIMEOUT: Duration = Duration::from_secs(20);

/// Takes `child`'s piped stdout and forwards it, line by line, into the returned channel from a
/// thread of its own, so that tests can wait for a line with a timeout.
pub fn stdout_lines(child: &mut Child) -> mpsc::Receiver<String> {
    let stdout = child.stdout.take().expect("the child's stdout is piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// A running `kinect-server` on 127.0.0.1 without mDNS, killed (SIGKILL) when dropped.
pub struct KinectServer {
    child: Child,
    /// The control endpoint it printed (`control: ...`).
    pub control: String,
    /// The lines it printed after that one (device lines, ...), as they come.
    pub lines: mpsc::Receiver<String>,
    stderr: Option<JoinHandle<String>>,
}

impl KinectServer {
    /// Starts `kinect-server --no-announce --bind 127.0.0.1` with `args` and waits for its control
    /// endpoint; fails the test, with what it wrote on stderr, if it ends or stays silent.
    pub fn start(args: &[&str]) -> Self {
        Self::start_with_env(args, &[])
    }

    /// [`KinectServer::start`] with environment variables (`XDG_CONFIG_HOME` for keys, say).
    pub fn start_with_env<A: AsRef<OsStr>>(args: &[A], env: &[(&str, &OsStr)]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_kinect-server"))
            .args(["--no-announce", "--bind", "127.0.0.1"])
            .args(args)
            .env("RUST_LOG", "warn")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kinect-server starts");
        // Drained on a thread so that the server never blocks on a full pipe.
        let mut stderr = child.stderr.take().expect("piped");
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        let lines = stdout_lines(&mut child);
        let mut server = Self {
            child,
            control: String::new(),
            lines,
            stderr: Some(stderr),
        };
        let deadline = Instant::now() + SERVER_STARTUP_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match server.lines.recv_timeout(left) {
                Ok(line) => {
                    if let Some(control) = line.strip_prefix("control: ") {
                        server.control = control.to_owned();
                        return server;
                    }
                }
                Err(_) => {
                    let _ = server.child.kill();
                    let status = server.child.wait().expect("waited for");
                    panic!(
                        "kinect-server ({status}) printed no control endpoint: {}",
                        server.stderr()
                    );
                }
            }
        }
    }

    /// Kills the server (SIGKILL: no clean shutdown of any socket) and waits for it to end.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Its process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// What it wrote on stderr, once it has ended.
    fn stderr(&mut self) -> String {
        self.stderr
            .take()
            .and_then(|thread| thread.join().ok())
            .unwrap_or_default()
    }
}

impl Drop for KinectServer {
    fn drop(&mut self) {
        self.kill();
    }
}

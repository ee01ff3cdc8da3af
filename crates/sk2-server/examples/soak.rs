//! Soak test: a `kinect-server` process with a noisy mock Kinect at 30 fps and 20 subscribers,
//! for a configurable time, watching the server's memory and file descriptors and every frame.
//!
//! Run it through `scripts/soak.sh` (which builds the server and this program), or directly:
//!
//! ```text
//! cargo run -p sk2-server --example soak -- --server target/debug/kinect-server --seconds 60
//! ```
//!
//! Every `--sample-seconds` it reads the server's `VmRSS` and counts `/proc/<pid>/fd`. The first
//! sample after `--warmup-seconds` is the baseline; the run fails if a later sample exceeds it by
//! more than `--max-rss-growth-mib` or `--max-fd-growth`, or if any subscriber lost a frame that
//! the others on its endpoint received (all subscribers read as fast as they can, so none may
//! miss one). Half the subscribers read `depth_v2` (RVL), whose header carries the frame's
//! sequence number: an exact check. The other half read the original `depth`, which carries no
//! number, so frames are told apart by a hash of their bytes; the mock can repeat a picture, so
//! there a lost frame that equals another one goes unnoticed. Prints one line per sample and a
//! verdict; exits 1 on failure.

use std::collections::{hash_map::DefaultHasher, HashSet};
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use clap::Parser;
use sk2_proto::control::{Reply, Request, ENDPOINT_DEPTH};
use sk2_proto::depth_v2::{self, ENDPOINT_DEPTH_V2};

/// Settings, each with the default the CI run uses.
#[derive(Debug, Parser)]
#[command(
    name = "soak",
    about = "Soak test: a kinect-server, 20 subscribers, its memory and descriptors watched"
)]
struct Settings {
    /// The `kinect-server` binary to run.
    #[arg(long, default_value = "target/debug/kinect-server")]
    server: PathBuf,
    /// Length of the run after the warm-up, s (CI: 60 s; docs/reliability.md: an hour).
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// Time before the baseline sample, s: threads, pools and socket buffers reach their steady
    /// size.
    #[arg(long, default_value_t = 10)]
    warmup_seconds: u64,
    /// Interval between samples, s.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
    sample_seconds: u64,
    /// Subscribers, each with its own ZeroMQ context (and so its own I/O thread); at least 2, so
    /// that each frame one subscriber loses is seen by another.
    #[arg(long, default_value_t = 20, value_parser = at_least_two)]
    subscribers: usize,
    /// Frame rate of the mock sensor.
    #[arg(long, default_value_t = 30.0)]
    fps: f64,
    /// Allowed RSS growth over the baseline, MiB. At 30 fps a leak of one 140 KB frame a second
    /// would pass it after 4 minutes, a leak of every frame after 8 seconds.
    #[arg(long, default_value_t = 32)]
    max_rss_growth_mib: u64,
    /// Allowed growth in open descriptors over the baseline: none should appear while the set
    /// of peers is fixed; the slack covers libzmq's reconnect timers and the log file.
    #[arg(long, default_value_t = 4)]
    max_fd_growth: usize,
}

fn at_least_two(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(count) if count >= 2 => Ok(count),
        Ok(count) => Err(format!("at least 2, got {count}")),
        Err(error) => Err(error.to_string()),
    }
}

/// The subscriber's receive high-water mark: large, so that libzmq's I/O thread keeps draining
/// the connection while the subscriber's own thread is descheduled on a busy machine; what is
/// measured is whether the *server* drops frames for a subscriber that keeps up.
const SUBSCRIBER_RCVHWM: i32 = 1000;

/// How long the server may take to answer its first `who`.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);

fn main() {
    // Usage errors (and `--help`) are clap's: one message and exit code 2, before any FAIL.
    if let Err(error) = run(Settings::parse()) {
        eprintln!("soak: FAIL: {error:#}");
        std::process::exit(1);
    }
}

/// Kills the server when the soak ends, however it ends.
struct ServerProcess(Child);

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn run(settings: Settings) -> Result<()> {
    let control_port = free_port()?;
    let child = Command::new(&settings.server)
        .args([
            "--bind",
            "127.0.0.1",
            "--no-announce",
            "--mock-mode",
            "realistic",
        ])
        .args(["--control-port", &control_port.to_string()])
        .args(["--fps", &settings.fps.to_string()])
        // Every subscriber connects from 127.0.0.1: lift the per-address share above their count.
        .args([
            "--max-peers-per-address",
            &settings.subscribers.max(8).to_string(),
        ])
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {}", settings.server.display()))?;
    let mut server = ServerProcess(child);
    let pid = server.0.id();
    let (depth, depth_v2) = depth_endpoints(control_port)?;
    println!(
        "soak: server pid {pid}, {depth} and {depth_v2}, {} subscribers, {} s after {} s warm-up",
        settings.subscribers, settings.seconds, settings.warmup_seconds
    );

    let stop = Arc::new(AtomicBool::new(false));
    let subscribers: Vec<_> = (0..settings.subscribers)
        .map(|index| {
            let stop = Arc::clone(&stop);
            let endpoint = if index % 2 == 0 { &depth } else { &depth_v2 }.clone();
            let v2 = index % 2 == 1;
            thread::spawn(move || subscribe(&endpoint, v2, &stop))
        })
        .collect();

    let start = Instant::now();
    let end = start + Duration::from_secs(settings.warmup_seconds + settings.seconds);
    let mut baseline: Option<(u64, usize)> = None;
    let mut failure = None;
    while Instant::now() < end && failure.is_none() {
        thread::sleep(Duration::from_secs(settings.sample_seconds));
        let (rss, fds) = (rss_bytes(pid)?, open_fds(pid)?);
        let at = start.elapsed().as_secs();
        println!("soak: t={at:>5} s  rss={:>7} KiB  fds={fds}", rss / 1024);
        match baseline {
            None if at >= settings.warmup_seconds => baseline = Some((rss, fds)),
            None => {}
            Some((base_rss, base_fds)) => {
                if rss > base_rss + (settings.max_rss_growth_mib << 20) {
                    failure = Some(format!(
                        "RSS grew from {} KiB to {} KiB (bound: +{} MiB)",
                        base_rss / 1024,
                        rss / 1024,
                        settings.max_rss_growth_mib
                    ));
                } else if fds > base_fds + settings.max_fd_growth {
                    failure = Some(format!(
                        "descriptors grew from {base_fds} to {fds} (bound: +{})",
                        settings.max_fd_growth
                    ));
                }
            }
        }
        if let Some(status) = server.0.try_wait()? {
            bail!("the server exited during the soak: {status}");
        }
    }
    stop.store(true, Ordering::Release);
    let received: Vec<Vec<u64>> = subscribers
        .into_iter()
        .map(|handle| {
            handle
                .join()
                .map_err(|_| anyhow::anyhow!("a subscriber panicked"))?
        })
        .collect::<Result<_>>()?;
    if let Some(failure) = failure {
        bail!(failure);
    }
    let (sk2_group, v2_group): (Vec<_>, Vec<_>) = received
        .into_iter()
        .enumerate()
        .partition(|(index, _)| index % 2 == 0);
    let strip =
        |group: Vec<(usize, Vec<u64>)>| group.into_iter().map(|(_, ids)| ids).collect::<Vec<_>>();
    let sk2_frames = check_no_loss(&strip(sk2_group)).context("depth")?;
    let v2_frames = check_no_loss(&strip(v2_group)).context("depth_v2")?;
    println!(
        "soak: PASS: {sk2_frames} depth and {v2_frames} depth_v2 frames reached every subscriber of \
         their endpoint, none lost; memory and descriptors within bounds"
    );
    Ok(())
}

/// A port that was free a moment ago (the server binds it right after).
fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Asks the server `who` until it answers, and returns its first device's `depth` and
/// `depth_v2` endpoints (with the advertised host replaced by 127.0.0.1).
fn depth_endpoints(control_port: u16) -> Result<(String, String)> {
    let context = zmq::Context::new();
    let deadline = Instant::now() + STARTUP_TIMEOUT;
    loop {
        ensure!(Instant::now() < deadline, "the server never answered who");
        let socket = context.socket(zmq::REQ)?;
        socket.set_linger(0)?;
        socket.set_rcvtimeo(1000)?;
        socket.connect(&format!("tcp://127.0.0.1:{control_port}"))?;
        socket.send_multipart(Request::Who.encode(), 0)?;
        let Ok(frames) = socket.recv_multipart(0) else {
            continue;
        };
        let Reply::Me(me) = Reply::decode(&frames)? else {
            bail!("who got {frames:?}");
        };
        let Some(device) = me.devices.first() else {
            thread::sleep(Duration::from_millis(200));
            continue;
        };
        let local = |name: &str| -> Result<String> {
            let endpoint = device
                .endpoint(name)
                .with_context(|| format!("the device offers no {name}"))?;
            let port = endpoint.rsplit(':').next().context("no port")?;
            Ok(format!("tcp://127.0.0.1:{port}"))
        };
        return Ok((local(ENDPOINT_DEPTH)?, local(ENDPOINT_DEPTH_V2)?));
    }
}

/// Receives until `stop`, returning an id of every message in arrival order: the sequence number
/// of a `depth_v2` message (`v2`), or the hash of a `depth` message.
fn subscribe(endpoint: &str, v2: bool, stop: &AtomicBool) -> Result<Vec<u64>> {
    let context = zmq::Context::new();
    let socket = context.socket(zmq::SUB)?;
    socket.set_rcvhwm(SUBSCRIBER_RCVHWM)?;
    socket.set_rcvtimeo(200)?;
    socket.set_linger(0)?;
    socket.set_subscribe(b"")?;
    socket.connect(endpoint)?;
    let mut hashes = Vec::new();
    while !stop.load(Ordering::Acquire) {
        match socket.recv_bytes(0) {
            Ok(message) if v2 => hashes.push(depth_v2::decode_header(&message)?.sequence),
            Ok(message) => {
                let mut hasher = DefaultHasher::new();
                message.hash(&mut hasher);
                hashes.push(hasher.finish());
            }
            Err(zmq::Error::EAGAIN) => {}
            Err(error) => return Err(error.into()),
        }
    }
    Ok(hashes)
}

/// Every subscriber must hold the same frames between the first and the last frame that all of
/// them received (before it, some had not connected yet; after it, some had stopped). Returns
/// how many frames that common stretch holds.
fn check_no_loss(received: &[Vec<u64>]) -> Result<usize> {
    let mut common: HashSet<u64> = received[0].iter().copied().collect();
    for hashes in &received[1..] {
        let theirs: HashSet<u64> = hashes.iter().copied().collect();
        common.retain(|hash| theirs.contains(hash));
    }
    let first = received[0]
        .iter()
        .find(|hash| common.contains(hash))
        .context("no frame reached every subscriber")?;
    let last = received[0]
        .iter()
        .rev()
        .find(|hash| common.contains(hash))
        .context("no frame reached every subscriber")?;
    let stretches = received
        .iter()
        .map(|hashes| {
            let from = hashes.iter().position(|h| h == first);
            let to = hashes.iter().rposition(|h| h == last);
            match (from, to) {
                (Some(from), Some(to)) if from <= to => Ok(&hashes[from..=to]),
                _ => bail!("a subscriber got the common frames out of order"),
            }
        })
        .collect::<Result<Vec<_>>>()?;
    // Every frame any subscriber got inside the stretch was published to all of them.
    let published: HashSet<u64> = stretches.iter().flat_map(|s| s.iter().copied()).collect();
    let mut losses = Vec::new();
    for (index, stretch) in stretches.iter().enumerate() {
        let got: HashSet<u64> = stretch.iter().copied().collect();
        let lost = published.len() - got.len();
        if lost > 0 {
            losses.push(format!("subscriber {index} lost {lost}"));
        }
    }
    ensure!(
        losses.is_empty(),
        "of {} frames published in the common stretch: {}",
        published.len(),
        losses.join(", ")
    );
    ensure!(
        published.len() >= 10,
        "only {} frames in common: the run proves nothing",
        published.len()
    );
    Ok(published.len())
}

fn rss_bytes(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .context("no VmRSS")?
        .split_whitespace()
        .next()
        .context("bad VmRSS")?
        .parse()?;
    Ok(kib * 1024)
}

fn open_fds(pid: u32) -> Result<usize> {
    Ok(std::fs::read_dir(format!("/proc/{pid}/fd"))?.count())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::error::ErrorKind;

    #[test]
    fn the_flags_of_scripts_soak_sh_parse_and_the_rest_keep_their_defaults() {
        let settings = Settings::try_parse_from([
            "soak",
            "--server",
            "target/release/kinect-server",
            "--seconds",
            "3600",
            "--subscribers",
            "50",
            "--max-rss-growth-mib",
            "16",
        ])
        .unwrap();
        assert_eq!(
            settings.server,
            PathBuf::from("target/release/kinect-server")
        );
        assert_eq!(settings.seconds, 3600);
        assert_eq!(settings.subscribers, 50);
        assert_eq!(settings.max_rss_growth_mib, 16);
        assert_eq!(settings.warmup_seconds, 10);
        assert_eq!(settings.max_fd_growth, 4);
    }

    #[test]
    fn help_is_help_and_bad_values_or_unknown_flags_are_usage_errors() {
        let kind = |args: &[&str]| Settings::try_parse_from(args).unwrap_err().kind();
        assert_eq!(kind(&["soak", "--help"]), ErrorKind::DisplayHelp);
        assert_eq!(
            kind(&["soak", "--seconds", "soon"]),
            ErrorKind::ValueValidation
        );
        assert_eq!(
            kind(&["soak", "--subscribers", "1"]),
            ErrorKind::ValueValidation
        );
        assert_eq!(
            kind(&["soak", "--sample-seconds", "0"]),
            ErrorKind::ValueValidation
        );
        assert_eq!(kind(&["soak", "--seconds"]), ErrorKind::InvalidValue);
        assert_eq!(kind(&["soak", "--secs", "5"]), ErrorKind::UnknownArgument);
    }
}

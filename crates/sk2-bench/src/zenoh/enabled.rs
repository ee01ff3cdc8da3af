//! The Zenoh roles and the fan-out measurement, in a build with the `zenoh` feature.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use sk2_client::zenoh::{ZenohClient, ZenohConfig, ZenohMode};
use sk2_client::SubscriptionConfig;
use sk2_proto::depth_v2::Codec;
use sk2_proto::zenoh_keys::depth_key;
use sk2_zenoh::{Bridge, BridgeConfig};
use zenoh::Wait;

use super::{FanoutRow, BENCH_SERVER_ID};
use crate::frames::Input;
use crate::roles::{self, Stack, Summary, POLL_INTERVAL, RCVHWM_FRAMES};

/// How long a subscriber waits for the bridge's `me`, and the orchestrator for a child's line.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);
/// Extra run time a fan-out child allows itself beyond the window.
const CHILD_SLACK_SECONDS: f64 = 120.0;

fn codec_of(stack: Stack) -> Result<Codec> {
    match stack {
        Stack::Zenoh(codec) => Ok(codec),
        other => bail!("{other} is not a Zenoh stack"),
    }
}

/// A loopback TCP port free a moment ago (Zenoh's port 0 would be free too, but the chosen port
/// cannot be read back through Zenoh's stable API).
fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// The publisher role of `zenoh-v2-<codec>`: server, bridge, and the bridge's Zenoh endpoint on
/// stdout. The bridge listens on a loopback port, or connects to `connect` (a router).
pub fn serve(
    stack: Stack,
    input: &Input,
    rate_fps: f64,
    max_seconds: f64,
    connect: Option<&str>,
) -> Result<()> {
    let codec = codec_of(stack)?;
    let mut server = crate::real::bench_server(Stack::Zenoh(codec), input, rate_fps)?;
    let control = server
        .control_endpoint()
        .context("server has no control endpoint")?;
    let (zenoh, endpoint) = match connect {
        Some(router) => (
            ZenohConfig::default().with_connect(&[router.to_owned()])?,
            router.to_owned(),
        ),
        None => {
            let endpoint = format!("tcp/127.0.0.1:{}", free_port()?);
            (
                ZenohConfig::default().with_listen(std::slice::from_ref(&endpoint))?,
                endpoint,
            )
        }
    };
    let bridge = Bridge::start(
        BridgeConfig::new(control)
            .with_server_id(Some(BENCH_SERVER_ID.to_owned()))
            .with_zenoh(zenoh),
    )?;
    roles::say(&format!("endpoint {endpoint}"))?;
    crate::real::serve_until_stdin_closes(max_seconds);
    bridge.stop();
    server.stop();
    Ok(())
}

/// The subscriber role of `zenoh-v2-<codec>`, connected to the Zenoh endpoint `endpoint` (the
/// bridge, or a router in front of it).
pub fn subscribe(stack: Stack, endpoint: &str, stall: bool, max_seconds: f64) -> Result<()> {
    codec_of(stack)?;
    let config = ZenohConfig::default()
        .with_mode(ZenohMode::Client)
        .with_connect(&[endpoint.to_owned()])?;
    let client = ZenohClient::open(&config)?;
    let commands = roles::stdin_lines();
    let deadline = Instant::now() + Duration::from_secs_f64(max_seconds);
    // The bridge may not have declared the server yet: ask until it answers.
    let started = Instant::now();
    let me = loop {
        match client.me(BENCH_SERVER_ID, Duration::from_secs(2)) {
            Ok(me) => break me,
            Err(error) if started.elapsed() > STARTUP_TIMEOUT => {
                return Err(error).context("no `me` from the bridge");
            }
            Err(_) => continue,
        }
    };
    let device = me.devices.first().context("the server has no device")?;

    if stall {
        // Blocks Zenoh's receiving task in the callback at the first sample: this session stops
        // reading its socket, as a frozen application would.
        let (never_tx, never) = crossbeam_channel::bounded::<()>(0);
        let _subscriber = client
            .session()
            .declare_subscriber(depth_key(BENCH_SERVER_ID, &device.id, "depth_v2"))
            .callback(move |_sample| {
                let _ = never.recv();
            })
            .wait()
            .map_err(|error| anyhow::anyhow!("{error}"))?;
        roles::say("ready")?;
        roles::wait_for_stop(&commands, deadline);
        drop(never_tx);
        return roles::Window::new().finish();
    }
    let subscription = client.subscribe_device(
        BENCH_SERVER_ID,
        device,
        &SubscriptionConfig::default().with_rcvhwm(RCVHWM_FRAMES),
    )?;
    crate::real::measure(stack, true, &subscription, &commands, deadline)
}

/// A Zenoh router on `listen` until stdin closes; prints `ready`.
pub fn route(listen: &str, max_seconds: f64) -> Result<()> {
    let config = ZenohConfig::default()
        .with_mode(ZenohMode::Router)
        .with_listen(&[listen.to_owned()])?;
    let session = sk2_zenoh::start_node(&config)?;
    roles::say("ready")?;
    let commands = roles::stdin_lines();
    roles::wait_for_stop(
        &commands,
        Instant::now() + Duration::from_secs_f64(max_seconds),
    );
    drop(session);
    Ok(())
}

/// Runs, for each count of `counts`, a server with its bridge and that many subscribers, once
/// with every subscriber a peer of the bridge and once through a router, and counts the bytes
/// the server process sends on TCP over `window`.
pub fn fanout(
    exe: &Path,
    codec: Codec,
    counts: &[usize],
    window: Duration,
    stop: &AtomicBool,
) -> Result<Vec<FanoutRow>> {
    let mut rows = Vec::new();
    for through_router in [false, true] {
        for &subscribers in counts {
            eprintln!(
                "kinect-bench: fanout zenoh-v2-{codec} subs={subscribers} router={through_router} \
                 window={window:?}"
            );
            rows.push(fanout_one(
                exe,
                codec,
                subscribers,
                through_router,
                window,
                stop,
            )?);
        }
    }
    Ok(rows)
}

fn fanout_one(
    exe: &Path,
    codec: Codec,
    subscribers: usize,
    through_router: bool,
    window: Duration,
    stop: &AtomicBool,
) -> Result<FanoutRow> {
    let stack = Stack::Zenoh(codec).to_string();
    let max_seconds = (window.as_secs_f64() + CHILD_SLACK_SECONDS).to_string();
    let mut children = Children::default();
    let relay_port = free_port()?;
    // Where the subscribers connect: the router, or the relay in front of the server.
    let (relay, server_bytes, subscriber_port) = if through_router {
        // server -> relay -> router <- subscribers: the server's bytes go out towards the router.
        let router_port = free_port()?;
        let router = children.spawn(
            exe,
            &[
                "zenoh-route",
                "--listen",
                &format!("tcp/127.0.0.1:{router_port}"),
            ],
            &max_seconds,
        )?;
        children.expect(router, "ready")?;
        let relay = Relay::start(relay_port, router_port)?;
        let counter = Arc::clone(&relay.sent_by_connector);
        let publisher = children.spawn(
            exe,
            &[
                "zenoh-serve",
                "--stack",
                &stack,
                "--connect",
                &format!("tcp/127.0.0.1:{relay_port}"),
            ],
            &max_seconds,
        )?;
        children.expect(publisher, "endpoint")?;
        (relay, counter, router_port)
    } else {
        // subscribers -> relay -> server: the server's bytes go back through the relay.
        let publisher = children.spawn(exe, &["zenoh-serve", "--stack", &stack], &max_seconds)?;
        let endpoint = children.expect(publisher, "endpoint")?;
        let port: u16 = endpoint
            .rsplit(':')
            .next()
            .and_then(|port| port.parse().ok())
            .context("bad endpoint from the publisher")?;
        let relay = Relay::start(relay_port, port)?;
        let counter = Arc::clone(&relay.sent_by_acceptor);
        (relay, counter, relay_port)
    };
    for _ in 0..subscribers {
        children.spawn(
            exe,
            &[
                "subscribe",
                "--stack",
                &stack,
                "--endpoint",
                &format!("tcp/127.0.0.1:{subscriber_port}"),
            ],
            &max_seconds,
        )?;
    }
    let readers: Vec<usize> = (children.len() - subscribers..children.len()).collect();
    for &reader in &readers {
        children.expect(reader, "ready")?;
    }
    // Joining takes a moment (declarations, matching); then count over the window.
    std::thread::sleep(Duration::from_secs(1));
    for &reader in &readers {
        children.tell(reader, "start")?;
    }
    let bytes_start = server_bytes.load(Ordering::Relaxed);
    let started = Instant::now();
    while started.elapsed() < window {
        if stop.load(Ordering::SeqCst) {
            bail!(crate::harness::Interrupted);
        }
        std::thread::sleep(POLL_INTERVAL);
    }
    let bytes = server_bytes.load(Ordering::Relaxed) - bytes_start;
    let mut row = FanoutRow {
        subscribers,
        through_router,
        frames: 0,
        server_bytes: bytes,
        fps_min: f64::INFINITY,
    };
    let (mut first, mut last) = (u64::MAX, 0);
    for &reader in &readers {
        children.tell(reader, "stop")?;
        let json = children.expect(reader, "summary")?;
        let summary: Summary = serde_json::from_str(&json).context("bad summary")?;
        if let (Some(a), Some(b)) = (summary.first_sequence, summary.last_sequence) {
            first = first.min(a);
            last = last.max(b);
        }
        row.fps_min = row
            .fps_min
            .min(summary.frames as f64 / summary.window_seconds.max(1e-9));
    }
    if last >= first && first != u64::MAX {
        row.frames = last - first + 1;
    }
    drop(children);
    drop(relay);
    Ok(row)
}

/// Child processes of this binary, talked to through stdin and stdout lines; killed on drop.
#[derive(Default)]
struct Children {
    processes: Vec<(Child, Option<ChildStdin>, mpsc::Receiver<String>)>,
}

impl Children {
    fn len(&self) -> usize {
        self.processes.len()
    }

    fn spawn(&mut self, exe: &Path, args: &[&str], max_seconds: &str) -> Result<usize> {
        let mut child = Command::new(exe)
            .args(args)
            .args(["--max-seconds", max_seconds])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("starting {args:?}"))?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().context("child stdout")?;
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        self.processes.push((child, stdin, lines));
        Ok(self.processes.len() - 1)
    }

    /// Waits for child `index`'s line starting with `word`; returns the rest of it.
    fn expect(&mut self, index: usize, word: &str) -> Result<String> {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        let (_, _, lines) = &self.processes[index];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = lines
                .recv_timeout(left)
                .with_context(|| format!("child {index} never said {word:?}"))?;
            if let Some(rest) = line.strip_prefix(word) {
                return Ok(rest.trim().to_owned());
            }
        }
    }

    fn tell(&mut self, index: usize, line: &str) -> Result<()> {
        let stdin = self.processes[index].1.as_mut().context("child stdin")?;
        writeln!(stdin, "{line}")?;
        stdin.flush()?;
        Ok(())
    }
}

impl Drop for Children {
    fn drop(&mut self) {
        for (_, stdin, _) in &mut self.processes {
            drop(stdin.take());
        }
        let deadline = Instant::now() + Duration::from_secs(3);
        for (child, _, _) in &mut self.processes {
            while Instant::now() < deadline && matches!(child.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A loopback TCP relay from `listen_port` to `target_port` that counts the bytes each side sends.
struct Relay {
    /// Bytes sent by whoever connected to the relay (towards the target).
    sent_by_connector: Arc<AtomicU64>,
    /// Bytes sent by the target (towards whoever connected).
    sent_by_acceptor: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl Relay {
    fn start(listen_port: u16, target_port: u16) -> Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", listen_port))?;
        listener.set_nonblocking(true)?;
        let relay = Self {
            sent_by_connector: Arc::default(),
            sent_by_acceptor: Arc::default(),
            stop: Arc::default(),
        };
        let (up, down, stop) = (
            Arc::clone(&relay.sent_by_connector),
            Arc::clone(&relay.sent_by_acceptor),
            Arc::clone(&relay.stop),
        );
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let Ok((inbound, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                };
                let _ = inbound.set_nonblocking(false);
                let Ok(outbound) = TcpStream::connect(("127.0.0.1", target_port)) else {
                    continue;
                };
                for (from, to, counter) in [
                    (inbound.try_clone(), outbound.try_clone(), Arc::clone(&up)),
                    (outbound.try_clone(), inbound.try_clone(), Arc::clone(&down)),
                ] {
                    let (Ok(from), Ok(to)) = (from, to) else {
                        continue;
                    };
                    std::thread::spawn(move || pump(from, to, &counter));
                }
            }
        });
        Ok(relay)
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Copies `from` to `to` until either closes, counting the bytes.
fn pump(mut from: TcpStream, mut to: TcpStream, counter: &AtomicU64) {
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        match from.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to.write_all(&buffer[..n]).is_err() {
                    break;
                }
                counter.fetch_add(n as u64, Ordering::Relaxed);
            }
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

//! Hostile peers on loopback against a real server (docs/reliability.md, "Hostile peers"): a
//! flood of malformed requests, a frame header announcing 1 TiB, peers that never read, and a
//! storm of connections. In each case the server must keep serving the well-behaved client.
//!
//! The tests run one at a time (see [`serial`]): they want the CPU of a small machine to
//! themselves. The one that counts the process's file descriptors runs in a process of its own
//! ([`sk2_testkit::alone_in_process`]), away from the other tests of the binary.
//!
//! Shared here: the server and client helpers and [`RawPeer`]. By topic: [`malformed`] input,
//! [`slow_readers`] (peers that never read), and [`connections`] (refusal past the limit and a
//! storm of connections).

mod connections;
mod malformed;
mod slow_readers;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use sk2_proto::control::{Reply, Request, TYPE_PING};
use sk2_server::{Config, Server};

use crate::common::horde::{zmtp_greeting, zmtp_ready};

/// How long the well-behaved client waits for each pong. Stricter than the original client's
/// 5 s, so that a server that merely limps along under attack fails the test.
const PING_TIMEOUT: Duration = Duration::from_secs(1);

/// Serialises the tests of this module and of `fair_peers` (see the module docs), and the test
/// of a server with 64 sensors (`limits`).
pub(crate) fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn config() -> Config {
    let mut config = Config::default();
    config.bind_host = "127.0.0.1".into();
    config.announce = false;
    config
}

/// A started server on loopback with the given sensors, and its control port.
fn start_server(sensors: Vec<Box<dyn sk2_proto::Sensor>>) -> Result<(Server, u16)> {
    let mut server = Server::new(config());
    for sensor in sensors {
        server.add_sensor(sensor)?;
    }
    server.start()?;
    let endpoint = server.control_endpoint().context("no control endpoint")?;
    Ok((server, port_of(&endpoint)?))
}

fn port_of(endpoint: &str) -> Result<u16> {
    let (_, port) = endpoint
        .rsplit_once(':')
        .with_context(|| format!("no port in {endpoint}"))?;
    Ok(port.trim_end_matches('/').parse()?)
}

/// A REQ socket to the control port that fails a request after [`PING_TIMEOUT`].
fn control_client(context: &zmq::Context, port: u16) -> Result<zmq::Socket> {
    let socket = context.socket(zmq::REQ)?;
    socket.set_rcvtimeo(PING_TIMEOUT.as_millis() as i32)?;
    socket.set_sndtimeo(PING_TIMEOUT.as_millis() as i32)?;
    socket.set_linger(0)?;
    socket.connect(&format!("tcp://127.0.0.1:{port}"))?;
    Ok(socket)
}

/// One ping; an error if no pong comes within [`PING_TIMEOUT`].
fn ping(socket: &zmq::Socket) -> Result<Duration> {
    let start = Instant::now();
    socket.send_multipart(Request::Ping.encode(), 0)?;
    let frames = socket
        .recv_multipart(0)
        .context("no pong within the timeout")?;
    ensure!(
        Reply::decode(&frames)? == Reply::Pong,
        "expected a pong, got {frames:?}"
    );
    Ok(start.elapsed())
}

/// A well-behaved client pinging in a loop on its own thread until `stop` is set. It returns
/// the number of pongs and the slowest one, or the first failure.
fn spawn_pinger(port: u16, stop: Arc<AtomicBool>) -> thread::JoinHandle<Result<(usize, Duration)>> {
    thread::spawn(move || {
        let context = zmq::Context::new();
        let socket = control_client(&context, port)?;
        let (mut pongs, mut slowest) = (0, Duration::ZERO);
        while !stop.load(Ordering::Acquire) {
            slowest = slowest.max(ping(&socket).with_context(|| format!("after {pongs} pongs"))?);
            pongs += 1;
            thread::sleep(Duration::from_millis(5));
        }
        Ok((pongs, slowest))
    })
}

fn join_pinger(pinger: thread::JoinHandle<Result<(usize, Duration)>>) -> Result<usize> {
    let (pongs, slowest) = pinger
        .join()
        .map_err(|_| anyhow::anyhow!("pinger panicked"))??;
    eprintln!("{pongs} pongs during the attack, the slowest in {slowest:?}");
    ensure!(pongs >= 5, "only {pongs} pongs during the attack");
    ensure!(slowest < PING_TIMEOUT, "slowest pong took {slowest:?}");
    Ok(pongs)
}

/// A hand-written ZMTP 3.0 peer (RFC 23, NULL mechanism) on a plain TCP stream, so that a test can
/// send bytes no libzmq socket would send.
struct RawPeer {
    stream: TcpStream,
}

impl RawPeer {
    /// Connects and completes the greeting and the READY handshake as `socket_type`.
    fn connect(port: u16, socket_type: &str) -> Result<Self> {
        let (peer, flags, body) = Self::handshake(port, socket_type)?;
        ensure!(
            flags & 0x04 != 0 && body.get(1..6) == Some(&b"READY"[..]),
            "expected READY, got flags {flags:#x} {body:02x?}"
        );
        Ok(peer)
    }

    /// Exchanges greetings, sends READY as `socket_type`, and returns the server's answer (a
    /// command frame: READY when admitted, ERROR when refused) with its flags.
    fn handshake(port: u16, socket_type: &str) -> Result<(Self, u8, Vec<u8>)> {
        let mut stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        stream.write_all(&zmtp_greeting())?;
        let mut theirs = [0u8; 64];
        stream.read_exact(&mut theirs)?;
        ensure!(
            theirs[0] == 0xFF && theirs[9] == 0x7F && theirs[10] == 3,
            "not a ZMTP 3 greeting: {theirs:02x?}"
        );
        let mut peer = Self { stream };
        peer.write_frame(0x04, &zmtp_ready(socket_type))?; // 0x04: a command
        let (flags, body) = peer.read_frame()?;
        Ok((peer, flags, body))
    }

    /// Writes one short frame (flags: 0x01 more, 0x04 command).
    fn write_frame(&mut self, flags: u8, body: &[u8]) -> Result<()> {
        let len = u8::try_from(body.len()).context("short frames only")?;
        self.stream.write_all(&[flags, len])?;
        self.stream.write_all(body)?;
        Ok(())
    }

    fn read_frame(&mut self) -> Result<(u8, Vec<u8>)> {
        let mut flags = [0u8; 1];
        self.stream.read_exact(&mut flags)?;
        let len = if flags[0] & 0x02 != 0 {
            let mut len = [0u8; 8];
            self.stream.read_exact(&mut len)?;
            usize::try_from(u64::from_be_bytes(len))?
        } else {
            let mut len = [0u8; 1];
            self.stream.read_exact(&mut len)?;
            usize::from(len[0])
        };
        ensure!(len <= 1 << 20, "frame of {len} bytes");
        let mut body = vec![0; len];
        self.stream.read_exact(&mut body)?;
        Ok((flags[0], body))
    }

    /// Sends a ping the way a REQ socket does (empty delimiter, then the message) and reads the
    /// reply: proof that the handshake above is real ZMTP.
    fn ping(&mut self) -> Result<Reply> {
        self.write_frame(0x01, &[])?;
        self.write_frame(0x00, &[TYPE_PING])?;
        let mut frames = Vec::new();
        loop {
            let (flags, body) = self.read_frame()?;
            frames.push(body);
            if flags & 0x01 == 0 {
                break;
            }
        }
        ensure!(
            frames.first().is_some_and(Vec::is_empty),
            "no delimiter: {frames:?}"
        );
        Ok(Reply::decode(&frames[1..])?)
    }

    /// True once the server has closed the connection (end of stream or reset) within `timeout`.
    fn closed_within(&mut self, timeout: Duration) -> Result<bool> {
        self.stream.set_read_timeout(Some(timeout))?;
        let mut buffer = [0u8; 4096];
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            match self.stream.read(&mut buffer) {
                Ok(0) => return Ok(true),
                Ok(_) => continue,
                Err(error) if error.kind() == ErrorKind::ConnectionReset => return Ok(true),
                Err(error)
                    if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
                {
                    return Ok(false)
                }
                Err(error) => return Err(error.into()),
            }
        }
        Ok(false)
    }
}

//! Hostile peers on loopback against a real server (docs/reliability.md, "Hostile peers"): a
//! flood of malformed requests, a frame header announcing 1 TiB, peers that never read, and a
//! storm of connections. In each case the server must keep serving the well-behaved client.
//!
//! The tests run one at a time (see [`serial`]): they want the CPU of a small machine to
//! themselves. The one that counts the process's file descriptors runs in a process of its own
//! ([`sk2_testkit::alone_in_process`]), away from the other tests of the binary.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use sk2_proto::control::{Reply, Request, CODE_BAD_REQUEST, TYPE_PING};
use sk2_server::{Config, Server, DEFAULT_DEPTH_SNDHWM};

/// How long the well-behaved client waits for each pong. Stricter than the original client's
/// 5 s, so that a server that merely limps along under attack fails the test.
const PING_TIMEOUT: Duration = Duration::from_secs(1);

/// Malformed requests the flooding client sends: enough to show memory and latency stay flat.
const FLOOD_REQUESTS: usize = 10_000;

/// Connections the connection-storm peer opens and closes.
const CONNECTION_STORM: usize = 1_000;

/// Descriptors the process may hold above its baseline after the storm: libzmq closes sessions
/// asynchronously, and the well-behaved client's own socket is open.
const FD_SLACK: usize = 8;

/// Serialises the tests of this file and of `fair_peers` (see the module docs).
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

/// The malformed requests of protocol.md, section 3, one of each kind, cycled through by the flood.
fn malformed_requests() -> Vec<Vec<Vec<u8>>> {
    vec![
        vec![vec![0x7f]],                                 // unknown type
        vec![vec![0x01, 0x01]],                           // 2-byte type frame
        vec![vec![]],                                     // empty type frame
        vec![vec![0x01], b"{}".to_vec(), b"{}".to_vec()], // 3 frames
        vec![vec![0x03], vec![0xff, 0xfe]],               // invalid UTF-8
        vec![vec![0x03], b"{\"unterminated".to_vec()],    // invalid JSON
        vec![vec![0x02]],                                 // pong sent by a client
        vec![vec![0x04], br#"{"version":1}"#.to_vec()],   // me sent by a client
    ]
}

#[test]
fn ten_thousand_malformed_requests_each_get_one_400_while_pings_keep_getting_pongs() -> Result<()> {
    let _serial = serial();
    let (server, port) = start_server(Vec::new())?;
    let stop = Arc::new(AtomicBool::new(false));
    let pinger = spawn_pinger(port, Arc::clone(&stop));

    // A DEALER pipelines requests without waiting for replies, as fast as libzmq takes them. To
    // a REP socket each request is an empty delimiter frame and then the message.
    let context = zmq::Context::new();
    let flood = context.socket(zmq::DEALER)?;
    flood.set_linger(0)?;
    flood.connect(&format!("tcp://127.0.0.1:{port}"))?;
    let requests = malformed_requests();
    let (mut sent, mut replies) = (0, 0);
    // Requests in flight at most. The server drops replies a peer leaves unread past the pipes'
    // high-water marks (that is how a never-reading peer is kept from costing memory, tested
    // below), so "one reply each" holds for a flood that keeps reading; 100 pipelined requests
    // keep the server's queue full all the same.
    const MAX_IN_FLIGHT: usize = 100;
    let deadline = Instant::now() + Duration::from_secs(120);
    while replies < FLOOD_REQUESTS {
        ensure!(
            Instant::now() < deadline,
            "{replies} replies to {sent} requests"
        );
        let events = if sent < FLOOD_REQUESTS && sent - replies < MAX_IN_FLIGHT {
            zmq::POLLIN | zmq::POLLOUT
        } else {
            zmq::POLLIN
        };
        let mut items = [flood.as_poll_item(events)];
        zmq::poll(&mut items, 1000)?;
        if items[0].is_writable() && sent < FLOOD_REQUESTS && sent - replies < MAX_IN_FLIGHT {
            let mut message = vec![Vec::new()];
            message.extend(requests[sent % requests.len()].iter().cloned());
            flood.send_multipart(message, 0)?;
            sent += 1;
        }
        if items[0].is_readable() {
            let frames = flood.recv_multipart(0)?;
            ensure!(
                frames.first().is_some_and(Vec::is_empty),
                "no delimiter: {frames:?}"
            );
            match Reply::decode(&frames[1..])? {
                Reply::Error(error) if error.code == Some(CODE_BAD_REQUEST) => replies += 1,
                other => bail!("reply {replies}: expected a 400 error, got {other:?}"),
            }
        }
    }
    // Exactly one reply each: nothing more arrives.
    ensure!(
        flood.poll(zmq::POLLIN, 300)? == 0,
        "a request got more than one reply"
    );
    stop.store(true, Ordering::Release);
    join_pinger(pinger)?;
    drop(server);
    Ok(())
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
        let mut greeting = [0u8; 64];
        greeting[0] = 0xFF; // signature: 0xFF, 8 bytes of padding, 0x7F
        greeting[9] = 0x7F;
        greeting[10] = 3; // version 3.0
        greeting[12..16].copy_from_slice(b"NULL"); // mechanism, zero-padded to 20 bytes
        stream.write_all(&greeting)?;
        let mut theirs = [0u8; 64];
        stream.read_exact(&mut theirs)?;
        ensure!(
            theirs[0] == 0xFF && theirs[9] == 0x7F && theirs[10] == 3,
            "not a ZMTP 3 greeting: {theirs:02x?}"
        );
        let mut ready = vec![5];
        ready.extend_from_slice(b"READY");
        ready.push(11);
        ready.extend_from_slice(b"Socket-Type");
        ready.extend_from_slice(&(socket_type.len() as u32).to_be_bytes());
        ready.extend_from_slice(socket_type.as_bytes());
        let mut peer = Self { stream };
        peer.write_frame(0x04, &ready)?; // 0x04: a command
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

#[test]
fn a_frame_header_announcing_one_tebibyte_gets_the_peer_dropped_and_the_server_keeps_serving(
) -> Result<()> {
    let _serial = serial();
    let (server, port) = start_server(Vec::new())?;
    let mut peer = RawPeer::connect(port, "REQ")?;
    ensure!(peer.ping()? == Reply::Pong, "the raw peer's ping failed");

    // Delimiter, then a frame whose 8-byte length says 2^40 bytes, and a few of them.
    peer.write_frame(0x01, &[])?;
    peer.stream.write_all(&[0x02])?; // 0x02: long frame, last of the message
    peer.stream.write_all(&(1u64 << 40).to_be_bytes())?;
    peer.stream.write_all(&[0x01; 1024])?;
    ensure!(
        peer.closed_within(Duration::from_secs(5))?,
        "the server kept the connection of a peer announcing a 1 TiB frame"
    );

    let context = zmq::Context::new();
    let client = control_client(&context, port)?;
    for _ in 0..3 {
        ping(&client)?;
    }
    drop(server);
    Ok(())
}

/// docs/protocol.md, 7.1: a peer past the limit gets, instead of READY, the ERROR command whose
/// body is `05 45 52 52 4F 52 03 34 30 30`, then the connection closes.
#[test]
fn a_control_peer_past_the_limit_gets_the_error_command_of_the_spec_and_is_disconnected(
) -> Result<()> {
    let _serial = serial();
    let mut config = config();
    config.max_control_peers = 1;
    let mut server = Server::new(config);
    server.start()?;
    let port = port_of(&server.control_endpoint().context("no control endpoint")?)?;
    let mut admitted = RawPeer::connect(port, "REQ")?;
    ensure!(matches!(admitted.ping()?, Reply::Pong), "no pong");

    let (mut refused, flags, body) = RawPeer::handshake(port, "REQ")?;
    ensure!(flags == 0x04, "not a short command frame: {flags:#x}");
    ensure!(
        body == [0x05, 0x45, 0x52, 0x52, 0x4F, 0x52, 0x03, 0x34, 0x30, 0x30],
        "not ERROR 400: {body:02x?}"
    );
    ensure!(
        refused.closed_within(Duration::from_secs(2))?,
        "the refused peer's connection stayed open"
    );
    ensure!(server.refused_control_peers() == 1);
    ensure!(
        matches!(admitted.ping()?, Reply::Pong),
        "the admitted peer lost its pongs"
    );
    Ok(())
}

#[test]
fn a_control_peer_that_never_reads_its_replies_does_not_hold_up_other_clients() -> Result<()> {
    let _serial = serial();
    let (server, port) = start_server(Vec::new())?;
    let stop = Arc::new(AtomicBool::new(false));
    let pinger = spawn_pinger(port, Arc::clone(&stop));

    // `who` gets the largest reply; the peer asks again and again and reads nothing.
    let context = zmq::Context::new();
    let greedy = context.socket(zmq::DEALER)?;
    greedy.set_linger(0)?;
    greedy.set_sndtimeo(0)?;
    greedy.connect(&format!("tcp://127.0.0.1:{port}"))?;
    let until = Instant::now() + Duration::from_secs(2);
    let mut sent = 0usize;
    while Instant::now() < until {
        match greedy.send_multipart([Vec::new(), vec![0x03]], zmq::DONTWAIT) {
            Ok(()) => sent += 1,
            Err(zmq::Error::EAGAIN) => thread::sleep(Duration::from_millis(1)),
            Err(error) => return Err(error.into()),
        }
    }
    ensure!(sent > 100, "only {sent} requests went out");
    stop.store(true, Ordering::Release);
    join_pinger(pinger)?;
    drop(server);
    Ok(())
}

/// A sensor the test drives by hand: each [`push`] delivers one noisy 512 x 424 frame
/// (about 300 KB in sk2, so a few fill any socket buffer) whose first two pixels carry its
/// number, so a subscriber can tell exactly which frames it got.
struct HandSensor {
    sink: Arc<Mutex<Option<sk2_proto::FrameSink>>>,
}

impl sk2_proto::Sensor for HandSensor {
    fn id(&self) -> &str {
        "0123456789abcdef0123456789abcdef"
    }
    fn shape(&self) -> (usize, usize) {
        (512, 424)
    }
    fn start(&mut self, sink: sk2_proto::FrameSink) -> Result<(), sk2_proto::SensorError> {
        *self
            .sink
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(sink);
        Ok(())
    }
    fn stop(&mut self) {
        self.sink
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
    }
}

/// Delivers frame number `number` (below 2^24) through `sink`.
fn push(sink: &Mutex<Option<sk2_proto::FrameSink>>, number: u64) {
    let mut state = number.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut depth_mm: Vec<u16> = (0..512 * 424)
        .map(|_| {
            // xorshift64: noise that LZ4 cannot shrink much.
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % 4096) as u16
        })
        .collect();
    depth_mm[0] = (number & 0xFFF) as u16;
    depth_mm[1] = ((number >> 12) & 0xFFF) as u16;
    let frame = sk2_proto::CapturedFrame {
        depth: sk2_proto::DepthFrame::new(512, 424, depth_mm).expect("valid shape"),
        sequence: number,
        device_timestamp: number,
        capture_time_ns: sk2_proto::sensor::unix_time_ns(),
    };
    if let Some(sink) = sink
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .as_mut()
    {
        sink(frame);
    }
}

/// The number [`push`] wrote into a received message.
fn number_of(message: &[u8]) -> Result<u64> {
    let frame = sk2_proto::sk2::decode(message, 512, 424)?;
    Ok(u64::from(frame.depth_mm()[0]) | u64::from(frame.depth_mm()[1]) << 12)
}

/// Frames sent while two subscribers do not read.
const FRAMES_WHILE_STUCK: u64 = 150;

/// Most frames a subscriber that stopped reading can find waiting when it reads again, for
/// messages of at least `message_len` bytes: the server's queue for it (`DEFAULT_DEPTH_SNDHWM`),
/// its own one-message queue, and what the kernel holds in between: the server's TCP send
/// buffer, which Linux grows up to the third field of `tcp_wmem` (4 MiB by default), plus a
/// partial frame on each side.
fn stuck_backlog_bound(message_len: usize) -> Result<usize> {
    let tcp_wmem = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_wmem")?;
    let send_buffer_max: usize = tcp_wmem
        .split_whitespace()
        .nth(2)
        .context("tcp_wmem has three fields")?
        .parse()?;
    Ok(DEFAULT_DEPTH_SNDHWM as usize + 1 + send_buffer_max.div_ceil(message_len) + 2)
}

#[test]
fn a_subscriber_that_never_reads_gets_a_bounded_queue_and_others_get_every_frame() -> Result<()> {
    let _serial = serial();
    let sink = Arc::new(Mutex::new(None));
    let sensor = HandSensor {
        sink: Arc::clone(&sink),
    };
    let (server, _) = start_server(vec![Box::new(sensor)])?;
    let me = server.me();
    let depth = me.devices[0]
        .endpoint(sk2_proto::control::ENDPOINT_DEPTH)
        .context("no depth endpoint")?;
    let depth_port = port_of(depth)?;
    let context = zmq::Context::new();

    // A raw peer that subscribes to everything and then never reads another byte.
    let mut raw_stuck = RawPeer::connect(depth_port, "SUB")?;
    raw_stuck.write_frame(0x00, &[0x01])?; // ZMTP 3.0 subscription: 0x01 + empty topic

    // A libzmq subscriber that does not read until the end, with tiny buffers, so that what
    // piles up for it is the server's queue.
    let stuck = context.socket(zmq::SUB)?;
    stuck.set_rcvbuf(4096)?;
    stuck.set_rcvhwm(1)?;
    stuck.set_subscribe(b"")?;
    stuck.connect(&format!("tcp://127.0.0.1:{depth_port}"))?;

    // The good subscriber reads on its own thread until two seconds pass without a frame.
    let good = context.socket(zmq::SUB)?;
    good.set_rcvtimeo(2000)?;
    good.set_subscribe(b"")?;
    good.connect(&format!("tcp://127.0.0.1:{depth_port}"))?;
    // Subscriptions travel asynchronously: wait until all three subscribers receive.
    let mut warm_up = 0;
    while good.recv_bytes(zmq::DONTWAIT).is_err() {
        ensure!(warm_up < 500, "the good subscriber never got a frame");
        push(&sink, 0);
        warm_up += 1;
        thread::sleep(Duration::from_millis(10));
    }
    thread::sleep(Duration::from_millis(200));
    while good.recv_bytes(zmq::DONTWAIT).is_ok() {}
    let good_reader = thread::spawn(move || -> Result<(Vec<u64>, usize)> {
        let (mut numbers, mut smallest) = (Vec::new(), usize::MAX);
        while let Ok(message) = good.recv_bytes(0) {
            numbers.push(number_of(&message)?);
            smallest = smallest.min(message.len());
        }
        Ok((numbers, smallest))
    });
    let published_before = server.stats()[0].published;
    let mut stuck_backlog_before = Vec::new();
    for number in 1..=FRAMES_WHILE_STUCK {
        push(&sink, number);
        // About 40 fps: a debug-built encoder pool on a busy machine still keeps up, so the
        // server drops (almost) nothing itself.
        thread::sleep(Duration::from_millis(25));
    }
    let (good_numbers, smallest_message) = good_reader
        .join()
        .map_err(|_| anyhow::anyhow!("reader panicked"))??;
    let bound = stuck_backlog_bound(smallest_message)?;
    let stats = server.stats();
    let published = stats[0].published - published_before;

    stuck.set_rcvtimeo(1000)?;
    while let Ok(message) = stuck.recv_bytes(0) {
        stuck_backlog_before.push(number_of(&message)?);
    }
    eprintln!(
        "published {published}; the good subscriber got {}; the stuck one found {} waiting \
         (bound {bound}): {:?}",
        good_numbers.len(),
        stuck_backlog_before.len(),
        stuck_backlog_before
    );
    ensure!(
        published >= FRAMES_WHILE_STUCK / 2,
        "only {published} of {FRAMES_WHILE_STUCK} frames published ({stats:?})"
    );
    ensure!(
        good_numbers.len() as u64 == published,
        "the good subscriber got {} of {published} frames",
        good_numbers.len()
    );
    ensure!(
        good_numbers.windows(2).all(|pair| pair[0] < pair[1]),
        "frames out of order"
    );
    ensure!(
        published as usize > 3 * bound,
        "{published} frames are too few to tell a bounded queue (at most {bound}) from none"
    );
    ensure!(
        stuck_backlog_before.len() <= bound,
        "{} frames were queued for a subscriber that did not read (bound {bound})",
        stuck_backlog_before.len()
    );
    drop(raw_stuck);
    drop(server);
    Ok(())
}

/// Open file descriptors of this process (Linux).
fn open_fds() -> Result<usize> {
    Ok(std::fs::read_dir("/proc/self/fd")?.count())
}

#[test]
fn a_thousand_connections_opened_and_closed_leave_no_descriptors_behind() -> Result<()> {
    if !sk2_testkit::alone_in_process(
        "a_thousand_connections_opened_and_closed_leave_no_descriptors_behind",
    ) {
        return Ok(());
    }
    let _serial = serial();
    let (server, port) = start_server(Vec::new())?;
    let context = zmq::Context::new();
    let client = control_client(&context, port)?;
    ping(&client)?;
    let baseline = open_fds()?;

    for i in 0..CONNECTION_STORM {
        let mut stream =
            TcpStream::connect(("127.0.0.1", port)).with_context(|| format!("connection {i}"))?;
        // Every other peer leaves in the middle of the greeting.
        if i % 2 == 0 {
            stream.write_all(&[0xFF, 0, 0, 0])?;
        }
    }
    ping(&client)?;

    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let fds = open_fds()?;
        if fds <= baseline + FD_SLACK {
            eprintln!("{fds} descriptors open after the storm, {baseline} before");
            break;
        }
        ensure!(
            Instant::now() < deadline,
            "{fds} descriptors open, {baseline} before the storm"
        );
        thread::sleep(Duration::from_millis(50));
    }
    ping(&client)?;
    drop(server);
    Ok(())
}

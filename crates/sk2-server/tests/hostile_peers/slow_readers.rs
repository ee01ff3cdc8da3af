//! Peers that never read: a control peer that leaves its replies unread, and a subscriber that
//! stops reading frames.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use sk2_server::DEFAULT_DEPTH_SNDHWM;

use super::{join_pinger, port_of, serial, spawn_pinger, start_server, RawPeer};

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

    // The good subscriber reads on its own thread until it has the last frame, or two seconds
    // pass without one (when the server dropped the last frame).
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
            let number = number_of(&message)?;
            numbers.push(number);
            smallest = smallest.min(message.len());
            if number == FRAMES_WHILE_STUCK {
                break;
            }
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

//! The depth channel on the wire: frames arrive at the configured rate, decode to the exact mock
//! content, in sequence order; a slow subscriber neither slows the others nor grows memory.

use crate::common;

use std::time::{Duration, Instant};

use common::{depth_endpoint, local_config, sub};
use sk2_mock::{MockConfig, MockKinect, MockMode};
use sk2_proto::{sk2, DepthFrame, KINECT_V2_HEIGHT_PX, KINECT_V2_WIDTH_PX};
use sk2_server::Server;
use sk2_testkit::wait_until;

/// Finds the sequence of `frame`: the first one after `after` whose mock frame it equals.
/// (Consecutive plain frames can be equal when the sphere does not move, hence "first".)
///
/// The candidate is found cheaply from where the sphere's centre (500 mm) is on the middle row,
/// by the original mock's formula `dx = trunc(sin(t) * 100)`, `t = sequence / 30`; then the whole
/// frame must equal the mock's frame of that sequence.
fn sequence_of(mock: &MockKinect, frame: &DepthFrame, after: Option<u64>) -> Option<u64> {
    let centre_col = frame
        .row(KINECT_V2_HEIGHT_PX / 2)
        .iter()
        .position(|&v| v == 500)?;
    let dx = centre_col as i64 - (KINECT_V2_WIDTH_PX / 2) as i64;
    let start = after.map_or(0, |s| s + 1);
    let swing = |s: u64| ((s as f64 / 30.0).sin() * 100.0).trunc() as i64;
    let sequence = (start..start + 300).find(|&s| swing(s) == dx)?;
    (mock.frame(sequence) == *frame).then_some(sequence)
}

/// How long a test waits for the server's counters to show what it expects. Generous: they get
/// there in a fraction of a second, and the deadline only bounds a failure on a loaded machine.
const STATS_TIMEOUT: Duration = Duration::from_secs(20);

fn decode(message: &[u8]) -> DepthFrame {
    sk2::decode(message, KINECT_V2_WIDTH_PX, KINECT_V2_HEIGHT_PX).unwrap()
}

#[test]
fn a_subscriber_receives_exact_mock_frames_in_sequence_at_the_configured_rate() {
    const FPS: f64 = 20.0;
    let config = MockConfig::default().with_fps(Some(FPS));
    let reference = MockKinect::new(config.clone());
    let mut server = Server::new(local_config());
    server
        .add_sensor(Box::new(MockKinect::new(config)))
        .unwrap();
    server.start().unwrap();
    let context = zmq::Context::new();
    let socket = sub(&context, &depth_endpoint(&server));

    // The first message may come from any sequence (the subscription takes a moment).
    let mut last = sequence_of(&reference, &decode(&socket.recv_bytes(0).unwrap()), None);
    assert!(last.is_some(), "the first frame is a mock frame");
    let started = Instant::now();
    let mut received = 0u32;
    while started.elapsed() < Duration::from_secs(2) {
        let message = socket.recv_bytes(0).unwrap();
        assert_eq!(&message[..4], &[0x00, 0xF8, 0x04, 0x00], "sk2 size prefix");
        let frame = decode(&message);
        assert!(frame.depth_mm().iter().all(|&v| (500..=832).contains(&v)));
        let sequence = sequence_of(&reference, &frame, last);
        assert!(
            sequence.is_some(),
            "frame {received} after {last:?} is the next mock frame"
        );
        last = sequence;
        received += 1;
    }
    let rate = f64::from(received) / started.elapsed().as_secs_f64();
    assert!(
        // Never faster than configured; at least half of it even on a loaded machine.
        (FPS * 0.5..=FPS * 1.1).contains(&rate),
        "{received} frames in 2 s: {rate:.1} fps"
    );
    // Stopping drains the pipeline, so the counters below are final and consistent.
    server.stop();
    let stats = &server.stats()[0];
    assert!(stats.captured >= stats.published && stats.published >= u64::from(received));
    assert_eq!(stats.encoded, stats.published + stats.dropped_stale);
    // Nobody subscribed to depth_v2: it was never encoded.
    assert_eq!(stats.depth_v2_messages, 0);
    assert_eq!(stats.depth_messages, stats.published);
    assert!(stats.bytes_published > 0);
}

#[test]
fn every_frame_goes_out_once_whatever_the_number_of_subscribers() {
    let mut server = Server::new(local_config());
    server.add_sensor(Box::new(common::mock(30.0))).unwrap();
    server.start().unwrap();
    let context = zmq::Context::new();
    let endpoint = depth_endpoint(&server);
    let subscribers: Vec<_> = (0..3).map(|_| sub(&context, &endpoint)).collect();
    for socket in &subscribers {
        socket.recv_bytes(0).unwrap();
    }
    // Half a second's worth of frames out to all three.
    wait_until("15 frames published", STATS_TIMEOUT, || {
        server.stats()[0].published >= 15
    });
    let stats = &server.stats()[0];
    // One encode per frame, not one per subscriber.
    assert!(stats.encoded <= stats.captured, "{stats:?}");
    assert!(stats.published <= stats.encoded, "{stats:?}");
}

#[test]
fn an_unthrottled_sensor_is_never_blocked_and_its_excess_frames_are_dropped_and_counted() {
    let mut config = local_config();
    config.workers = 1;
    let mut server = Server::new(config);
    let mock = MockKinect::new(
        MockConfig::default()
            .with_fps(None)
            .with_mode(MockMode::Realistic),
    );
    server.add_sensor(Box::new(mock)).unwrap();
    server.start().unwrap();
    let context = zmq::Context::new();
    // A subscriber, or the frames would not be encoded at all.
    let _watcher = sub(&context, &depth_endpoint(&server));
    wait_until("a frame dropped for a busy encoder", STATS_TIMEOUT, || {
        server.stats()[0].dropped_busy > 0
    });
    server.stop();
    let stats = &server.stats()[0];
    // Realistic frames take the generator a few ms and the (debug-built) encoder longer: with
    // one worker, frames arrive faster than they are encoded, so some must have been dropped.
    assert!(stats.captured > 0);
    assert!(stats.dropped_busy > 0, "{stats:?}");
    assert_eq!(
        stats.captured,
        stats.published + stats.dropped() + stats.unwatched,
        "every captured frame is published, unwatched or counted as dropped: {stats:?}"
    );
}

/// Resident set size of this process, in KiB.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Bound on the growth of this process's memory while a subscriber stalls for
/// [`SLOW_SUBSCRIBER_WINDOW`]: the server holds at most `depth_sndhwm` frames for it, a few MB;
/// without that bound the stalled subscriber's queue would grow by every frame sent (about 300
/// frames, ~40 MB here).
const SLOW_SUBSCRIBER_RSS_GROWTH_BOUND_KIB: u64 = 16 * 1024;
/// How long the slow subscriber stalls while memory is measured: 300 frames at 100 fps, as many
/// as 10 s at the sensor's 30 fps, so the unbounded queue would grow as much, sooner.
const SLOW_SUBSCRIBER_WINDOW: Duration = Duration::from_secs(3);

/// Runs in a process of its own: it measures the process's memory, which tests running beside it
/// would change.
#[test]
fn slow_subscriber_does_not_slow_a_fast_one_or_grow_server_memory() {
    if !sk2_testkit::alone_in_process(
        "slow_subscriber_does_not_slow_a_fast_one_or_grow_server_memory",
    ) {
        return;
    }
    const FPS: f64 = 100.0;
    let mut server = Server::new(local_config());
    let mock = MockKinect::new(
        MockConfig::default()
            .with_fps(Some(FPS))
            .with_mode(MockMode::Realistic),
    );
    server.add_sensor(Box::new(mock)).unwrap();
    server.start().unwrap();
    let context = zmq::Context::new();
    let endpoint = depth_endpoint(&server);
    // The slow subscriber never reads; its own queue is kept to one message so that the backlog
    // lands on the server side, which is what this test measures.
    let slow = sub(&context, &endpoint);
    slow.set_rcvhwm(1).unwrap();
    slow.set_rcvbuf(64 * 1024).unwrap();
    let fast = sub(&context, &endpoint);
    fast.recv_bytes(0).unwrap();
    // Let the slow subscriber's TCP buffers fill before measuring.
    let mut received = 0u64;
    let warm_up = Instant::now();
    while warm_up.elapsed() < Duration::from_secs(1) {
        fast.recv_bytes(0).unwrap();
    }
    let rss_before = rss_kib();
    let before = server.stats()[0].clone();
    let started = Instant::now();
    let mut message_bytes = 0;
    while started.elapsed() < SLOW_SUBSCRIBER_WINDOW {
        message_bytes = fast.recv_bytes(0).unwrap().len();
        received += 1;
    }
    let after = server.stats()[0].clone();
    let rss_after = rss_kib();
    let published = after.published - before.published;
    let growth = rss_after.saturating_sub(rss_before);
    eprintln!(
        "slow subscriber: fast got {received} of {published} published frames \
         ({message_bytes} B each); RSS {rss_before} -> {rss_after} KiB (+{growth} KiB)"
    );
    let window_s = SLOW_SUBSCRIBER_WINDOW.as_secs_f64();
    assert!(
        published >= (FPS * window_s * 0.5) as u64,
        "{published} frames published in {window_s} s"
    );
    // A frame or two may sit in flight at either end of the window.
    assert!(
        received * 100 >= (published - 2) * 95,
        "{received} of {published}"
    );
    assert!(
        growth < SLOW_SUBSCRIBER_RSS_GROWTH_BOUND_KIB,
        "RSS grew by {growth} KiB while a subscriber stalled"
    );
    drop(slow);
}

//! The data plane: sensor sink -> encoder pool -> one publisher thread per sensor -> XPUB sockets.
//!
//! ```text
//! sensor thread            encoder pool (N threads)          publisher thread (owns the sockets)
//!   sink: watched? ------> encode once per watched ------> newer than the last? send the same
//!         in flight < N+1?  endpoint: sk2 for `depth`,     bytes to every subscriber of `depth`
//!         else drop (busy)  depth_v2 for `depth_v2`         and `depth_v2`; else drop (stale)
//! ```
//!
//! Every queue here drops rather than blocks: the sensor must never wait (protocol.md 4.1),
//! and the newest frame is the one worth having. Every drop is counted in [`Counters`].
//!
//! The depth sockets are XPUBs: they behave as PUBs for subscribers, and also tell the publisher
//! which endpoints have subscribers, so a frame nobody watches is not encoded at all.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender, TrySendError};
use sk2_proto::depth_v2::{self, Codec};
use sk2_proto::{sk2, CapturedFrame, FrameSink};

use crate::in_flight::InFlightSlot;
use crate::stats::Counters;
use crate::thread::ServerThread;

/// How often an idle publisher reads its sockets' subscription messages: bounds the delay
/// between a client subscribing and the first frame being encoded for it.
pub(crate) const SUBSCRIPTION_POLL_INTERVAL: Duration = Duration::from_millis(20);

/// Logs one drop in this many at debug level, so a flood of drops does not flood the log.
const LOG_EVERY_NTH_DROP: u64 = 10;

/// One frame for the encoder pool, with the pipe it belongs to and its in-flight slot.
pub(crate) struct Job {
    frame: CapturedFrame,
    pipe: Arc<Pipe>,
    slot: InFlightSlot,
}

/// One encoded frame on its way to the publisher thread: a message per watched endpoint, and
/// the frame's in-flight slot.
pub(crate) struct Encoded {
    sequence: u64,
    depth: Option<Vec<u8>>,
    depth_v2: Option<Vec<u8>>,
    slot: InFlightSlot,
}

/// Whether each endpoint of a sensor has at least one subscriber, as its XPUB socket reports.
#[derive(Debug, Default)]
struct Watched {
    depth: AtomicBool,
    depth_v2: AtomicBool,
}

/// The per-sensor state shared by its sink, the encoders and its publisher.
pub(crate) struct Pipe {
    counters: Arc<Counters>,
    /// Frames accepted by the sink and not yet taken by the publisher (or dropped): the places
    /// taken by [`InFlightSlot`]s. The publisher gives a frame's place back as it receives it,
    /// so the publisher's queue, which holds `max_in_flight` frames, can never be full.
    in_flight: Arc<AtomicUsize>,
    /// Most frames in flight before the sink drops new ones: workers + 1, as the original.
    max_in_flight: usize,
    /// The `depth_v2` codec; `None` when the endpoint is not offered.
    codec: Option<Codec>,
    watched: Arc<Watched>,
    to_publisher: Sender<Encoded>,
}

impl Pipe {
    fn wants_depth(&self) -> bool {
        self.watched.depth.load(Ordering::Acquire)
    }

    fn wants_depth_v2(&self) -> Option<Codec> {
        self.codec
            .filter(|_| self.watched.depth_v2.load(Ordering::Acquire))
    }
}

/// The shared encoder threads of a server.
pub(crate) struct EncoderPool {
    jobs: Sender<Job>,
    threads: Vec<ServerThread>,
}

impl EncoderPool {
    /// Starts `workers` encoder threads. The job queue holds `queue` frames; the per-sensor
    /// in-flight limit is what normally bounds it, the queue size is a backstop.
    pub(crate) fn start(workers: usize, queue: usize) -> std::io::Result<Self> {
        let (jobs, receiver) = crossbeam_channel::bounded::<Job>(queue.max(1));
        let threads = (0..workers.max(1))
            .map(|index| {
                let receiver = receiver.clone();
                ServerThread::spawn(format!("sk2-encode-{index}"), move || {
                    encode_loop(&receiver)
                })
            })
            .collect::<std::io::Result<Vec<_>>>()?;
        Ok(Self { jobs, threads })
    }

    /// A sink for a sensor that feeds this pool.
    pub(crate) fn sink(&self, pipe: Arc<Pipe>) -> FrameSink {
        let jobs = self.jobs.clone();
        Box::new(move |frame: CapturedFrame| {
            let counters = &pipe.counters;
            Counters::add(&counters.captured, 1);
            if !pipe.wants_depth() && pipe.wants_depth_v2().is_none() {
                Counters::add(&counters.unwatched, 1);
                return;
            }
            let Some(slot) = InFlightSlot::try_take(&pipe.in_flight, pipe.max_in_flight) else {
                drop_busy(counters, frame.sequence);
                return;
            };
            let sequence = frame.sequence;
            let job = Job {
                frame,
                pipe: Arc::clone(&pipe),
                slot,
            };
            // The refused job, and its slot with it, is dropped here.
            if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) = jobs.try_send(job) {
                drop_busy(counters, sequence);
            }
        })
    }

    /// Stops the workers once the queued jobs are done, waiting at most `timeout` for each.
    pub(crate) fn stop(self, timeout: Duration) {
        drop(self.jobs);
        for thread in self.threads {
            thread.join_within(timeout);
        }
    }
}

fn drop_busy(counters: &Counters, sequence: u64) {
    let dropped = Counters::add(&counters.dropped_busy, 1);
    if dropped % LOG_EVERY_NTH_DROP == 1 {
        tracing::debug!(sequence, dropped, "encoders busy: frame dropped");
    }
}

fn encode_loop(jobs: &Receiver<Job>) {
    // Reused between frames: the sk2 packing buffer is 1.5 bytes per pixel.
    let mut raw = Vec::new();
    while let Ok(Job { frame, pipe, slot }) = jobs.recv() {
        let counters = &pipe.counters;
        // Each endpoint's message is encoded once, whatever its number of subscribers.
        let mut sk2_failed = false;
        let depth = if pipe.wants_depth() {
            match sk2::encode_with(&frame.depth, &mut raw) {
                Ok(message) => Some(message),
                Err(error) => {
                    sk2_failed = true;
                    let count = Counters::add(&counters.sk2_encode_errors, 1);
                    if count % LOG_EVERY_NTH_DROP == 1 {
                        tracing::warn!(%error, count, "cannot encode frame for depth");
                    }
                    None
                }
            }
        } else {
            None
        };
        let depth_v2 = pipe
            .wants_depth_v2()
            .map(|codec| depth_v2::encode(&frame, codec));
        if depth.is_none() && depth_v2.is_none() {
            // sk2 could not encode it, or the last subscriber left since the sink looked.
            let counter = if sk2_failed {
                &counters.dropped_encode_error
            } else {
                &counters.unwatched
            };
            Counters::add(counter, 1);
            // Dropping the job's slot gives its place back.
            continue;
        }
        Counters::add(&counters.encoded, 1);
        let encoded = Encoded {
            sequence: frame.sequence,
            depth,
            depth_v2,
            slot,
        };
        // The publisher's queue holds max_in_flight frames, as many as can be in flight, so it
        // is never full; it is disconnected when the sensor is being removed (and the refused
        // frame's slot is dropped with it).
        if pipe.to_publisher.try_send(encoded).is_err() {
            Counters::add(&counters.dropped_closing, 1);
            tracing::trace!(sequence = frame.sequence, "publisher gone: frame dropped");
        }
    }
}

/// The sockets of one sensor, bound, for its publisher thread to own.
pub(crate) struct Sockets {
    /// XPUB for `depth` (sk2).
    pub(crate) depth: zmq::Socket,
    /// XPUB for `depth_v2`, with its codec, when offered.
    pub(crate) depth_v2: Option<(zmq::Socket, Codec)>,
}

/// A running publisher: its thread owns the sensor's sockets.
pub(crate) struct Publisher {
    stop: Option<Sender<()>>,
    thread: Option<ServerThread>,
}

impl Publisher {
    /// Starts a publisher thread for `sockets` and returns it with the pipe the sensor's sink and
    /// the encoders use.
    pub(crate) fn start(
        name: String,
        sockets: Sockets,
        counters: Arc<Counters>,
        max_in_flight: usize,
    ) -> std::io::Result<(Self, Arc<Pipe>)> {
        let (to_publisher, encoded) = crossbeam_channel::bounded(max_in_flight.max(1));
        let (stop, stopped) = crossbeam_channel::bounded::<()>(0);
        let watched = Arc::new(Watched::default());
        let pipe = Arc::new(Pipe {
            counters: Arc::clone(&counters),
            in_flight: Arc::default(),
            max_in_flight: max_in_flight.max(1),
            codec: sockets.depth_v2.as_ref().map(|(_, codec)| *codec),
            watched: Arc::clone(&watched),
            to_publisher,
        });
        let thread = ServerThread::spawn(name, move || {
            let mut publisher = PublishLoop {
                sockets,
                counters,
                watched,
                depth_topics: HashSet::new(),
                depth_v2_topics: HashSet::new(),
                last_published: None,
            };
            publisher.run(&encoded, &stopped);
        })?;
        Ok((
            Self {
                stop: Some(stop),
                thread: Some(thread),
            },
            pipe,
        ))
    }

    /// Stops the thread (which closes the sockets, with the linger they were given) and waits at
    /// most `timeout` for it.
    pub(crate) fn stop(&mut self, timeout: Duration) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            thread.join_within(timeout);
        }
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        self.stop(Duration::from_secs(1));
    }
}

struct PublishLoop {
    sockets: Sockets,
    counters: Arc<Counters>,
    watched: Arc<Watched>,
    /// Topics subscribed on each socket. Without `XPUB_VERBOSE`, libzmq reports a topic's first
    /// subscription and its last unsubscription (also when a subscriber disconnects), so a set
    /// is exact.
    depth_topics: HashSet<Vec<u8>>,
    depth_v2_topics: HashSet<Vec<u8>>,
    last_published: Option<u64>,
}

impl PublishLoop {
    fn run(&mut self, encoded: &Receiver<Encoded>, stopped: &Receiver<()>) {
        loop {
            self.read_subscriptions();
            let next = crossbeam_channel::select! {
                recv(encoded) -> message => match message {
                    Ok(message) => message,
                    Err(_) => return,
                },
                recv(stopped) -> _ => {
                    // Publish what the encoders finished before the stop, then end.
                    while let Ok(next) = encoded.try_recv() {
                        self.publish(next);
                    }
                    return;
                }
                default(SUBSCRIPTION_POLL_INTERVAL) => continue,
            };
            self.publish(next);
        }
    }

    fn read_subscriptions(&mut self) {
        update_topics(&self.sockets.depth, &mut self.depth_topics);
        self.watched
            .depth
            .store(!self.depth_topics.is_empty(), Ordering::Release);
        if let Some((socket, _)) = &self.sockets.depth_v2 {
            update_topics(socket, &mut self.depth_v2_topics);
            self.watched
                .depth_v2
                .store(!self.depth_v2_topics.is_empty(), Ordering::Release);
        }
    }

    fn publish(&mut self, encoded: Encoded) {
        let Encoded {
            sequence,
            depth,
            depth_v2,
            slot,
        } = encoded;
        // Received: the frame no longer needs a place in the publisher's queue.
        drop(slot);
        let counters = &self.counters;
        if self.last_published.is_some_and(|last| sequence <= last) {
            let dropped = Counters::add(&counters.dropped_stale, 1);
            tracing::trace!(
                sequence,
                dropped,
                "older than the last frame published: dropped"
            );
            return;
        }
        let mut sent = false;
        if let Some(message) = depth {
            let bytes = message.len() as u64;
            if send(&self.sockets.depth, message, sequence) {
                Counters::add(&counters.depth_messages, 1);
                Counters::add(&counters.depth_bytes, bytes);
                Counters::add(&counters.bytes_published, bytes);
                sent = true;
            }
        }
        if let (Some(message), Some((socket, _))) = (depth_v2, &self.sockets.depth_v2) {
            let bytes = message.len() as u64;
            if send(socket, message, sequence) {
                Counters::add(&counters.depth_v2_messages, 1);
                Counters::add(&counters.depth_v2_bytes, bytes);
                Counters::add(&counters.bytes_published, bytes);
                sent = true;
            }
        }
        if sent {
            self.last_published = Some(sequence);
            Counters::add(&counters.published, 1);
        }
    }
}

/// Sends one message. (X)PUB never blocks: at the high-water mark libzmq drops the message for
/// that subscriber only. The encoded buffer is handed to libzmq as it is (no copy); libzmq
/// shares it between every subscriber's queue and frees it after the last send.
pub(crate) fn send(socket: &zmq::Socket, message: Vec<u8>, sequence: u64) -> bool {
    let bytes = message.len();
    match socket.send(zmq::Message::from(message), zmq::DONTWAIT) {
        Ok(()) => {
            tracing::trace!(sequence, bytes, "frame published");
            true
        }
        Err(error) => {
            tracing::warn!(%error, sequence, "cannot publish frame");
            false
        }
    }
}

/// Applies the subscription messages waiting on an XPUB socket: `0x01 topic` subscribes,
/// `0x00 topic` unsubscribes.
pub(crate) fn update_topics(socket: &zmq::Socket, topics: &mut HashSet<Vec<u8>>) {
    while let Ok(message) = socket.recv_bytes(zmq::DONTWAIT) {
        match message.split_first() {
            Some((1, topic)) => {
                topics.insert(topic.to_vec());
            }
            Some((0, topic)) => {
                topics.remove(topic);
            }
            _ => tracing::debug!(bytes = message.len(), "ignored a malformed subscription"),
        }
    }
}

#[cfg(test)]
mod tests {
    use sk2_proto::DepthFrame;

    use super::*;

    /// A pipe whose publisher queue is returned to the test, with `depth` watched.
    fn pipe(max_in_flight: usize) -> (Arc<Pipe>, Receiver<Encoded>) {
        let (to_publisher, encoded) = crossbeam_channel::bounded(max_in_flight);
        let watched = Arc::new(Watched::default());
        watched.depth.store(true, Ordering::Release);
        let pipe = Arc::new(Pipe {
            counters: Arc::default(),
            in_flight: Arc::default(),
            max_in_flight,
            codec: None,
            watched,
            to_publisher,
        });
        (pipe, encoded)
    }

    fn frame(width: usize, sequence: u64) -> CapturedFrame {
        CapturedFrame {
            depth: DepthFrame::new(width, 2, vec![1000; width * 2]).unwrap(),
            sequence,
            device_timestamp: sequence,
            capture_time_ns: sequence,
        }
    }

    fn in_flight(pipe: &Pipe) -> usize {
        pipe.in_flight.load(Ordering::Acquire)
    }

    /// Runs one encoder over `frames` fed through a sink, until every job is done.
    fn encode_through_sink(pipe: &Arc<Pipe>, frames: Vec<CapturedFrame>) {
        let pool = EncoderPool::start(1, 8).unwrap();
        let mut sink = pool.sink(Arc::clone(pipe));
        for frame in frames {
            sink(frame);
        }
        drop(sink);
        pool.stop(Duration::from_secs(5));
    }

    #[test]
    fn a_frame_that_fails_to_encode_gives_its_slot_back() {
        let (pipe, encoded) = pipe(2);
        // sk2 needs an even width: both frames fail to encode.
        encode_through_sink(&pipe, vec![frame(3, 0), frame(3, 1)]);
        assert_eq!(in_flight(&pipe), 0);
        assert_eq!(
            pipe.counters.dropped_encode_error.load(Ordering::Relaxed),
            2
        );
        assert!(encoded.try_recv().is_err());
    }

    #[test]
    fn a_frame_dropped_because_its_publisher_is_gone_gives_its_slot_back() {
        let (pipe, encoded) = pipe(2);
        drop(encoded);
        encode_through_sink(&pipe, vec![frame(4, 0)]);
        assert_eq!(in_flight(&pipe), 0);
        assert_eq!(pipe.counters.dropped_closing.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn frames_left_in_the_publisher_queue_at_shutdown_give_their_slots_back() {
        let (pipe, encoded) = pipe(2);
        encode_through_sink(&pipe, vec![frame(4, 0), frame(4, 1)]);
        assert_eq!(in_flight(&pipe), 2, "encoded frames wait for the publisher");
        // The sink refuses a third frame while both places are taken.
        let pool = EncoderPool::start(1, 8).unwrap();
        pool.sink(Arc::clone(&pipe))(frame(4, 2));
        pool.stop(Duration::from_secs(5));
        assert_eq!(pipe.counters.dropped_busy.load(Ordering::Relaxed), 1);
        // The publisher ends without taking them; once the sensor's sink is gone too, the
        // queue is dropped with its frames, and their places are given back.
        let places = Arc::clone(&pipe.in_flight);
        drop(encoded);
        drop(pipe);
        assert_eq!(places.load(Ordering::Acquire), 0);
    }
}

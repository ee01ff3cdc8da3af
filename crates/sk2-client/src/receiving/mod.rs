//! The receiving thread shared by [`Subscription`](crate::Subscription) and
//! [`RawSubscription`](crate::RawSubscription): it owns the SUB socket on a device's depth
//! endpoint, decodes (or only checks) what arrives, queues it, and keeps the counters.
//!
//! A server that already has as many subscribers as it allows refuses the connection during the
//! handshake (docs/protocol.md, "Peer limits"); libzmq would then never retry, so the receiving
//! thread watches for that refusal (a socket monitor), counts it in
//! [`SubscriptionStats::refused`] and connects again after a growing pause.
//!
//! This module is below the handles: it knows nothing of them, they build on it.

mod output;
mod received;
mod stats;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use sk2_proto::depth_v2::{self, FrameHeader};
use sk2_proto::id::short_id;
use sk2_proto::{sk2, DepthFrame};

use crate::backoff::Backoff;
use crate::config::SubscriptionConfig;
use crate::endpoint::zmq_address;
use crate::error::ClientError;
pub(crate) use output::{MessageSink, Output};
pub use received::{EndpointKind, RawMessage, RawStreamMessage, ReceivedFrame};
pub(crate) use stats::Counters;
pub use stats::SubscriptionStats;

/// Largest depth message accepted (ZeroMQ `MAXMSGSIZE`). A 512 x 424 `depth` message is at most
/// about 330 KB even when LZ4 cannot compress; 16 MiB leaves room for larger sensors and lossless
/// codecs while refusing a hostile multi-GB message before it is buffered.
pub const MAX_DEPTH_MESSAGE_BYTES: i64 = 16 * 1024 * 1024;
/// How often the receiving thread checks whether it should stop.
const STOP_POLL: Duration = Duration::from_millis(50);
/// First pause before connecting again after the server refused the subscription (it was full);
/// doubles up to [`REFUSED_RETRY_MAX`]. A slot frees when another subscriber leaves, which no
/// message announces, so the client polls, gently.
pub const REFUSED_RETRY_INITIAL: Duration = Duration::from_millis(250);
/// Longest pause between attempts to get into a full server.
pub const REFUSED_RETRY_MAX: Duration = Duration::from_secs(4);
/// Numbers the monitor endpoints of the subscriptions of a process (inproc names are per
/// context, and contexts may be shared).
static NEXT_MONITOR: AtomicU64 = AtomicU64::new(0);

/// A started receiving thread, for its subscription to keep: what both kinds of subscription
/// report about it, and the stopping of it. Dropping it tells the thread to stop and waits for it.
#[derive(Debug)]
pub(crate) struct ReceiverThread {
    device_id: String,
    endpoint: String,
    counters: Arc<Counters>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl ReceiverThread {
    /// A thread started by another transport (Zenoh) that keeps the same counters and stops on
    /// the same flag.
    #[cfg(feature = "zenoh")]
    pub(crate) fn new(
        device_id: String,
        endpoint: String,
        counters: Arc<Counters>,
        stop: Arc<AtomicBool>,
        thread: JoinHandle<()>,
    ) -> Self {
        Self {
            device_id,
            endpoint,
            counters,
            stop,
            thread: Some(thread),
        }
    }

    /// The device the thread reads.
    pub(crate) fn device_id(&self) -> &str {
        &self.device_id
    }

    /// The resolved address the socket connected to.
    pub(crate) fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// A snapshot of the counters.
    pub(crate) fn stats(&self) -> SubscriptionStats {
        self.counters.snapshot()
    }
}

impl Drop for ReceiverThread {
    /// Tells the thread to stop and waits for it.
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                tracing::warn!(device = %short_id(&self.device_id), "depth thread panicked");
            }
        }
    }
}

/// The receiving thread: owns the SUB socket, decodes, queues.
pub(crate) struct Receiving {
    socket: zmq::Socket,
    /// Reports the server's refusals of `socket`'s connection.
    monitor: zmq::Socket,
    /// The address `socket` connects to.
    endpoint: String,
    /// When to connect again after a refusal.
    retry: Option<Instant>,
    /// Pauses between attempts to get into a full server.
    retry_backoff: Backoff,
    device_id: String,
    kind: EndpointKind,
    shape: (usize, usize),
    /// Sequence number of the last `depth_v2` frame, to count gaps.
    last_sequence: Option<u64>,
    output: Output,
    counters: Arc<Counters>,
    stop: Arc<AtomicBool>,
}

impl Receiving {
    /// Connects a SUB socket to `device_id`'s endpoint of `kind` at `address` and starts the
    /// thread that receives on it into `output`.
    pub(crate) fn start(
        context: &zmq::Context,
        device_id: &str,
        kind: EndpointKind,
        address: SocketAddr,
        config: &SubscriptionConfig,
        output: Output,
    ) -> Result<ReceiverThread, ClientError> {
        let socket = context.socket(zmq::SUB)?;
        socket.set_linger(0)?;
        socket.set_rcvhwm(config.rcvhwm)?;
        socket.set_maxmsgsize(MAX_DEPTH_MESSAGE_BYTES)?;
        socket.set_ipv6(address.is_ipv6())?;
        socket.set_subscribe(b"")?;
        if let Some(curve) = &config.curve {
            curve.apply(&socket)?;
        }
        let zmq_endpoint = zmq_address(address);
        // Only refusals are watched: the server said no during the handshake (ZAP status 400).
        let monitor_address = format!(
            "inproc://sk2-subscription-monitor-{}",
            NEXT_MONITOR.fetch_add(1, Ordering::Relaxed)
        );
        socket.monitor(
            &monitor_address,
            zmq::SocketEvent::HANDSHAKE_FAILED_AUTH as i32,
        )?;
        let monitor = context.socket(zmq::PAIR)?;
        monitor.set_linger(0)?;
        monitor.connect(&monitor_address)?;
        socket.connect(&zmq_endpoint)?;

        let counters = Arc::new(Counters {
            dropped: output.dropped_counter(),
            ..Counters::default()
        });
        let stop = Arc::new(AtomicBool::new(false));
        let mut receiver = Receiving {
            socket,
            monitor,
            endpoint: zmq_endpoint.clone(),
            retry: None,
            retry_backoff: Backoff::new(REFUSED_RETRY_INITIAL, REFUSED_RETRY_MAX),
            device_id: device_id.to_owned(),
            kind,
            shape: config.depth_shape,
            last_sequence: None,
            output,
            counters: Arc::clone(&counters),
            stop: Arc::clone(&stop),
        };
        let thread = std::thread::Builder::new()
            .name(format!(
                "sk2-{} {}",
                kind.endpoint_name(),
                short_id(device_id)
            ))
            .spawn(move || receiver.run())
            .map_err(|error| ClientError::Thread(error.to_string()))?;
        tracing::debug!(device = %short_id(device_id), endpoint = %zmq_endpoint, ?kind, "subscribed");
        Ok(ReceiverThread {
            device_id: device_id.to_owned(),
            endpoint: zmq_endpoint,
            counters,
            stop,
            thread: Some(thread),
        })
    }

    fn run(&mut self) {
        let mut raw = Vec::new();
        while !self.stop.load(Ordering::Relaxed) {
            let mut items = [
                self.socket.as_poll_item(zmq::POLLIN),
                self.monitor.as_poll_item(zmq::POLLIN),
            ];
            match zmq::poll(&mut items, STOP_POLL.as_millis() as i64) {
                Ok(_) | Err(zmq::Error::EINTR) => {}
                Err(error) => {
                    tracing::warn!(%error, device = %short_id(&self.device_id), "depth socket failed");
                    return;
                }
            }
            let (message_waiting, refused) = (items[0].is_readable(), items[1].is_readable());
            if refused {
                self.note_refusal();
            }
            self.retry_if_due();
            if !message_waiting {
                continue;
            }
            // Take everything waiting and decode only the newest: when decoding is slower than
            // the sensor, older messages would only add latency (and, once libzmq's queue is full,
            // pile up in kernel TCP buffers where no high-water mark limits them).
            let mut newest = None;
            loop {
                match self.socket.recv_multipart(zmq::DONTWAIT) {
                    Ok(message) => {
                        self.counters.received.fetch_add(1, Ordering::Relaxed);
                        self.count_gap_of(&message);
                        if matches!(self.output, Output::Raw(_) | Output::RawStream(_)) {
                            self.deliver_raw(message);
                            continue;
                        }
                        if newest.replace(message).is_some() {
                            self.counters.skipped.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Err(zmq::Error::EAGAIN) => break,
                    Err(error) => {
                        tracing::warn!(%error, device = %short_id(&self.device_id), "depth socket failed");
                        return;
                    }
                }
            }
            let Some(message) = newest else { continue };
            self.retry_backoff.reset();
            let received_at = Instant::now();
            if let Output::Sink(sink) = &mut self.output {
                let delivered = match message.as_slice() {
                    [single] => sink.deliver(&self.device_id, single, received_at),
                    other => Err(format!("expected 1 frame, got {}", other.len())),
                };
                let counter = match delivered {
                    Ok(()) => &self.counters.decoded,
                    Err(error) => {
                        tracing::debug!(%error, device = %short_id(&self.device_id), kind = ?self.kind, "undecodable message");
                        &self.counters.decode_errors
                    }
                };
                counter.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            let decoded = match message.as_slice() {
                [single] => self.decode(single, &mut raw),
                other => Err(format!("expected 1 frame, got {}", other.len())),
            };
            let (depth, header) = match decoded {
                Ok(decoded) => decoded,
                Err(error) => {
                    self.counters.decode_errors.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(%error, device = %short_id(&self.device_id), "undecodable depth message");
                    continue;
                }
            };
            self.counters.decoded.fetch_add(1, Ordering::Relaxed);
            tracing::trace!(device = %short_id(&self.device_id), "depth frame");
            if let Output::Decoded(frames) = &self.output {
                frames.send(ReceivedFrame {
                    device_id: self.device_id.clone(),
                    depth,
                    header,
                    received_at,
                });
            }
        }
    }

    /// Queues a message as received, once its header checks out.
    fn deliver_raw(&mut self, message: Vec<Vec<u8>>) {
        self.retry_backoff.reset();
        let received_at = Instant::now();
        let received_time_ns = sk2_proto::sensor::unix_time_ns();
        let bytes = match <[Vec<u8>; 1]>::try_from(message) {
            Ok([bytes]) => bytes,
            Err(other) => {
                return self.count_bad_raw(&format!("expected 1 frame, got {}", other.len()))
            }
        };
        let device_id = self.device_id.clone();
        let delivered = match &self.output {
            Output::Raw(messages) => depth_v2::decode_header(&bytes)
                .map(|header| {
                    messages.send(RawMessage {
                        device_id,
                        header,
                        bytes,
                        received_at,
                        received_time_ns,
                    })
                })
                .map_err(|error| error.to_string()),
            Output::RawStream(messages) => self.kind.stamp_of(&bytes).map(|stamp| {
                messages.send(RawStreamMessage {
                    device_id,
                    kind: self.kind,
                    sequence: stamp.map(|(sequence, _)| sequence),
                    capture_time_ns: stamp.map(|(_, capture_time_ns)| capture_time_ns),
                    bytes,
                    received_at,
                    received_time_ns,
                })
            }),
            Output::Decoded(_) | Output::Sink(_) => return,
        };
        match delivered {
            Ok(()) => {
                self.counters.decoded.fetch_add(1, Ordering::Relaxed);
            }
            Err(error) => self.count_bad_raw(&error),
        }
    }

    fn count_bad_raw(&self, error: &str) {
        self.counters.decode_errors.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(%error, device = %short_id(&self.device_id), kind = ?self.kind, "bad message");
    }

    /// Reads the refusals the monitor reported and schedules the next attempt.
    fn note_refusal(&mut self) {
        let mut refusals = 0;
        while self.monitor.recv_multipart(zmq::DONTWAIT).is_ok() {
            refusals += 1;
        }
        if refusals == 0 {
            return;
        }
        let total = self.counters.refused.fetch_add(refusals, Ordering::Relaxed) + refusals;
        let pause = self.retry_backoff.next_pause();
        tracing::info!(
            device = %short_id(&self.device_id),
            endpoint = %self.endpoint,
            refused = total,
            retry_in = ?pause,
            "the server has as many subscribers as it allows; will try again"
        );
        self.retry = Some(Instant::now() + pause);
    }

    /// Connects again once the pause after a refusal is over (libzmq never retries a connection
    /// the server refused).
    fn retry_if_due(&mut self) {
        if self.retry.is_some_and(|at| Instant::now() >= at) {
            self.retry = None;
            // The refused connection may already be gone (ENOENT): connect either way.
            let _ = self.socket.disconnect(&self.endpoint);
            if let Err(error) = self.socket.connect(&self.endpoint) {
                tracing::warn!(%error, endpoint = %self.endpoint, "cannot connect again");
            }
        }
    }

    fn decode(
        &self,
        message: &[u8],
        raw: &mut Vec<u8>,
    ) -> Result<(DepthFrame, Option<FrameHeader>), String> {
        match self.kind {
            EndpointKind::Depth => sk2::decode_with(message, self.shape.0, self.shape.1, raw)
                .map(|depth| (depth, None))
                .map_err(|error| error.to_string()),
            EndpointKind::DepthV2 => depth_v2::decode(message)
                .map(|(header, depth)| (depth, Some(header)))
                .map_err(|error| error.to_string()),
            // Their subscriptions deliver through Output::Sink, never here.
            EndpointKind::Ir | EndpointKind::Color => Err(format!("{:?} is not depth", self.kind)),
        }
    }

    /// Counts the frames missing before this message (for endpoints with sequence numbers), from
    /// its header alone: every received message counts, decoded or skipped, so `lost` is what
    /// never reached this client.
    fn count_gap_of(&mut self, message: &[Vec<u8>]) {
        let [single] = message else { return };
        if let Ok(Some((sequence, _))) = self.kind.stamp_of(single) {
            self.counters.count_gap(&mut self.last_sequence, sequence);
        }
    }
}

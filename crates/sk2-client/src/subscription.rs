//! Depth subscriptions: a ZeroMQ SUB socket on a device's depth endpoint, decoded on a background
//! thread.
//!
//! A device offering `depth_v2` (lossless, with sequence number, timestamps and shape; see
//! `docs/protocol.md, section 5`) is read there; otherwise the original `depth` endpoint (section
//! 4 there: lossy 12-bit packing, implicit 512 x 424 shape, no metadata) is used.
//!
//! Data plane rule: the newest frame wins. The SUB socket's receive high-water mark is small; the
//! decoding thread takes every waiting message and decodes only the newest (the others are counted
//! in [`SubscriptionStats::skipped`]); decoded frames wait in a bounded queue, and when the
//! application is slower than the sensor the oldest queued frame is dropped and counted
//! ([`SubscriptionStats::dropped`]). Memory stays bounded by `queue_len + rcvhwm` frames whatever
//! the application does.
//!
//! A server that already has as many subscribers as it allows refuses the connection during the
//! handshake (docs/protocol.md, "Peer limits"); libzmq would then never retry, so the receiving
//! thread watches for that refusal (a socket monitor), counts it in
//! [`SubscriptionStats::refused`] and connects again after a growing pause.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use sk2_proto::control::ENDPOINT_DEPTH;
use sk2_proto::depth_v2::{self, FrameHeader, ENDPOINT_DEPTH_V2};
use sk2_proto::{sk2, DepthFrame, Device};

use crate::backoff::Backoff;
use crate::config::SubscriptionConfig;
use crate::drop_oldest::DropOldest;
use crate::endpoint::zmq_address;
use crate::error::ClientError;

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

/// Which endpoint kind a subscription reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum EndpointKind {
    /// The original `depth` format (lossy above 4095 mm, no metadata).
    Depth,
    /// `depth_v2`: lossless, with header.
    DepthV2,
}

/// One decoded depth frame.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ReceivedFrame {
    /// The device that produced it.
    pub device_id: String,
    /// The image; [`DepthFrame::into_array`] gives an `ndarray::Array2<u16>` of shape (424, 512).
    pub depth: DepthFrame,
    /// The `depth_v2` header (codec, sequence, timestamps); `None` for the original `depth`.
    pub header: Option<FrameHeader>,
    /// When the message arrived at this client.
    pub received_at: Instant,
}

impl ReceivedFrame {
    /// The sensor's frame counter, when the endpoint carries one (`depth` does not).
    pub fn sequence(&self) -> Option<u64> {
        self.header.map(|header| header.sequence)
    }

    /// When the server captured the frame, in ns since the Unix epoch, if the endpoint says.
    pub fn capture_time_ns(&self) -> Option<u64> {
        self.header.map(|header| header.capture_time_ns)
    }

    /// Capture to now, by the two hosts' wall clocks (meaningful when they are synchronised).
    pub fn latency(&self) -> Option<Duration> {
        let captured = self.capture_time_ns()?;
        let now = sk2_proto::sensor::unix_time_ns();
        Some(Duration::from_nanos(now.saturating_sub(captured)))
    }
}

/// Counters of a subscription, for fps / drop displays.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SubscriptionStats {
    /// Messages received from the socket.
    pub received: u64,
    /// Frames decoded and queued.
    pub decoded: u64,
    /// Decoded frames dropped because the application did not take them in time (oldest first).
    pub dropped: u64,
    /// Messages skipped without decoding because a newer one was already waiting (the decoder
    /// is slower than the sensor).
    pub skipped: u64,
    /// Messages that could not be decoded.
    pub decode_errors: u64,
    /// Frames the sensor produced that never reached this client (dropped by the server or a
    /// high-water mark), from gaps in sequence numbers; only for endpoints that carry them.
    /// Messages received but skipped are not in this count.
    pub lost: u64,
    /// Times the server refused the connection because it had as many subscribers as it allows
    /// (the subscription keeps trying, see [`REFUSED_RETRY_MAX`]).
    pub refused: u64,
}

#[derive(Debug, Default)]
struct Counters {
    received: AtomicU64,
    decoded: AtomicU64,
    /// Shared with the frame queue, which counts what it drops.
    dropped: Arc<AtomicU64>,
    skipped: AtomicU64,
    decode_errors: AtomicU64,
    lost: AtomicU64,
    refused: AtomicU64,
}

/// The depth endpoint to read of `device`: `depth_v2` when offered and preferred, else the
/// original `depth`. Returns its kind and the endpoint as the server advertised it.
pub(crate) fn depth_endpoint<'a>(
    device: &'a Device,
    config: &SubscriptionConfig,
) -> Result<(EndpointKind, &'a str), ClientError> {
    let v2 = device
        .endpoint(ENDPOINT_DEPTH_V2)
        .filter(|_| config.prefer_depth_v2);
    match (v2, device.endpoint(ENDPOINT_DEPTH)) {
        (Some(v2), _) => Ok((EndpointKind::DepthV2, v2)),
        (None, Some(depth)) => Ok((EndpointKind::Depth, depth)),
        (None, None) => Err(ClientError::NoDepthEndpoint(device.id.clone())),
    }
}

/// A live subscription to one device's depth frames. Dropping it (or [`Subscription::unsubscribe`])
/// stops the thread and closes the socket.
#[derive(Debug)]
pub struct Subscription {
    device_id: String,
    endpoint: String,
    kind: EndpointKind,
    frames: Receiver<ReceivedFrame>,
    counters: Arc<Counters>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Subscription {
    /// Opens a subscription to `device_id`'s endpoint of `kind`, at `address` (already resolved
    /// by the caller, see [`depth_endpoint`]).
    pub(crate) fn open(
        context: &zmq::Context,
        device_id: &str,
        kind: EndpointKind,
        address: SocketAddr,
        config: &SubscriptionConfig,
    ) -> Result<Self, ClientError> {
        let socket = context.socket(zmq::SUB)?;
        socket.set_linger(0)?;
        socket.set_rcvhwm(config.rcvhwm)?;
        socket.set_maxmsgsize(MAX_DEPTH_MESSAGE_BYTES)?;
        socket.set_ipv6(address.is_ipv6())?;
        socket.set_subscribe(b"")?;
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

        let (frames_tx, frames) = DropOldest::new(config.queue_len);
        let counters = Arc::new(Counters {
            dropped: frames_tx.dropped_counter(),
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
            frames: frames_tx,
            counters: Arc::clone(&counters),
            stop: Arc::clone(&stop),
        };
        let thread = std::thread::Builder::new()
            .name(format!("sk2-depth {device_id}"))
            .spawn(move || receiver.run())
            .map_err(|error| ClientError::Thread(error.to_string()))?;
        tracing::debug!(device = %device_id, endpoint = %zmq_endpoint, ?kind, "subscribed");
        Ok(Self {
            device_id: device_id.to_owned(),
            endpoint: zmq_endpoint,
            kind,
            frames,
            counters,
            stop,
            thread: Some(thread),
        })
    }

    /// The device this subscription reads.
    pub fn device_id(&self) -> &str {
        &self.device_id
    }

    /// The resolved address the socket connected to.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Which endpoint kind this subscription reads.
    pub fn kind(&self) -> EndpointKind {
        self.kind
    }

    /// Waits for the next frame. Fails only once the subscription's thread has ended.
    pub fn recv(&self) -> Result<ReceivedFrame, ClientError> {
        self.frames.recv().map_err(|_| ClientError::ConnectionLost)
    }

    /// Waits up to `timeout` for the next frame.
    pub fn recv_timeout(&self, timeout: Duration) -> Option<ReceivedFrame> {
        self.frames.recv_timeout(timeout).ok()
    }

    /// The next frame if one is waiting.
    pub fn try_recv(&self) -> Option<ReceivedFrame> {
        self.frames.try_recv().ok()
    }

    /// The queue of decoded frames, for `crossbeam_channel::select!` over many subscriptions.
    pub fn frames(&self) -> &Receiver<ReceivedFrame> {
        &self.frames
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> SubscriptionStats {
        let c = &self.counters;
        SubscriptionStats {
            received: c.received.load(Ordering::Relaxed),
            decoded: c.decoded.load(Ordering::Relaxed),
            dropped: c.dropped.load(Ordering::Relaxed),
            skipped: c.skipped.load(Ordering::Relaxed),
            decode_errors: c.decode_errors.load(Ordering::Relaxed),
            lost: c.lost.load(Ordering::Relaxed),
            refused: c.refused.load(Ordering::Relaxed),
        }
    }

    /// Stops receiving and closes the socket; returns once it is closed.
    pub fn unsubscribe(mut self) {
        self.close();
    }

    fn close(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                tracing::warn!(device = %self.device_id, "depth thread panicked");
            }
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.close();
    }
}

impl Iterator for Subscription {
    type Item = ReceivedFrame;

    /// Blocks for the next frame; `None` once the subscription has ended.
    fn next(&mut self) -> Option<ReceivedFrame> {
        self.recv().ok()
    }
}

/// The receiving thread: owns the SUB socket, decodes, queues.
struct Receiving {
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
    /// Decoded frames for the application; when it falls behind, the oldest is dropped and
    /// counted in [`SubscriptionStats::dropped`].
    frames: DropOldest<ReceivedFrame>,
    counters: Arc<Counters>,
    stop: Arc<AtomicBool>,
}

impl Receiving {
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
                    tracing::warn!(%error, device = %self.device_id, "depth socket failed");
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
                        if newest.replace(message).is_some() {
                            self.counters.skipped.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Err(zmq::Error::EAGAIN) => break,
                    Err(error) => {
                        tracing::warn!(%error, device = %self.device_id, "depth socket failed");
                        return;
                    }
                }
            }
            let Some(message) = newest else { continue };
            self.retry_backoff.reset();
            let received_at = Instant::now();
            let decoded = match message.as_slice() {
                [single] => self.decode(single, &mut raw),
                other => Err(format!("expected 1 frame, got {}", other.len())),
            };
            let (depth, header) = match decoded {
                Ok(decoded) => decoded,
                Err(error) => {
                    self.counters.decode_errors.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(%error, device = %self.device_id, "undecodable depth message");
                    continue;
                }
            };
            self.counters.decoded.fetch_add(1, Ordering::Relaxed);
            tracing::trace!(device = %self.device_id, "depth frame");
            self.frames.send(ReceivedFrame {
                device_id: self.device_id.clone(),
                depth,
                header,
                received_at,
            });
        }
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
            device = %self.device_id,
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
        }
    }

    /// Counts the frames missing before this message (for endpoints with sequence numbers), from
    /// its header alone: every received message counts, decoded or skipped, so `lost` is what
    /// never reached this client.
    fn count_gap_of(&mut self, message: &[Vec<u8>]) {
        if let (EndpointKind::DepthV2, [single]) = (self.kind, message) {
            if let Ok(header) = depth_v2::decode_header(single) {
                self.count_gap(header.sequence);
            }
        }
    }

    /// Frames missing between the last sequence number and this one were lost on the way (dropped
    /// by the server's encoder pool or a high-water mark). A smaller number means the sensor
    /// restarted: start counting again.
    fn count_gap(&mut self, sequence: u64) {
        if let Some(last) = self.last_sequence {
            if sequence > last {
                let lost = sequence - last - 1;
                self.counters.lost.fetch_add(lost, Ordering::Relaxed);
            }
        }
        self.last_sequence = Some(sequence);
    }
}

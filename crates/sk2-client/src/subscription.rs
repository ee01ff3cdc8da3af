//! Depth subscriptions: a ZeroMQ SUB socket on a device's depth endpoint, decoded on a background
//! thread.
//!
//! A device offering `depth_v2` (lossless, with sequence number, timestamps and shape; see
//! `docs/protocol.md, section 5`) is read there; otherwise the original `depth` endpoint (reference
//! section 4: lossy 12-bit packing, implicit 512 x 424 shape, no metadata) is used.
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

use crossbeam_channel::{bounded, Receiver, Sender, TrySendError};
use sk2_proto::control::ENDPOINT_DEPTH;
use sk2_proto::depth_v2::{self, FrameHeader, ENDPOINT_DEPTH_V2};
use sk2_proto::{sk2, DepthFrame, Device, KINECT_V2_HEIGHT_PX, KINECT_V2_WIDTH_PX};

use crate::client::ClientConfig;
use crate::endpoint::{resolve_endpoint, zmq_address, Endpoint};
use crate::error::ClientError;

/// Default number of decoded frames waiting for the application. Small: a viewer wants the latest
/// frame, and each 512 x 424 frame is 424 KiB.
pub const DEFAULT_QUEUE_LEN: usize = 4;
/// Default receive high-water mark of the SUB socket, in messages. libzmq's default of 1000 would
/// let hundreds of MB of compressed frames pile up behind a slow decoder.
pub const DEFAULT_RCVHWM: i32 = 4;
/// Largest depth message accepted (ZeroMQ `MAXMSGSIZE`). A 512 x 424 `depth` message is at most
/// about 330 KB even when LZ4 cannot compress; 16 MiB leaves room for larger sensors and lossless
/// codecs while refusing a hostile multi-GB message before it is buffered.
pub const MAX_DEPTH_MESSAGE_BYTES: i64 = 16 * 1024 * 1024;
/// Default number of undecoded messages a [`RawSubscription`] keeps for the application: about 8 s
/// at 30 fps (some 25 MB of MEDHUF frames), so a recorder rides out a disk that stalls for seconds
/// without losing a frame.
pub const DEFAULT_RAW_QUEUE_LEN: usize = 256;
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

/// How a [`Subscription`] behaves.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SubscriptionConfig {
    /// Decoded frames kept for the application; when full, the oldest is dropped.
    pub queue_len: usize,
    /// Receive high-water mark of the SUB socket, in messages.
    pub rcvhwm: i32,
    /// `(width, height)` of `depth` frames, which carry no shape (the original's 512 x 424).
    pub depth_shape: (usize, usize),
    /// Read `depth_v2` when the device offers it (lossless, with metadata); `false` forces the
    /// original `depth` endpoint.
    pub prefer_depth_v2: bool,
}

impl Default for SubscriptionConfig {
    fn default() -> Self {
        Self {
            queue_len: DEFAULT_QUEUE_LEN,
            rcvhwm: DEFAULT_RCVHWM,
            depth_shape: (KINECT_V2_WIDTH_PX, KINECT_V2_HEIGHT_PX),
            prefer_depth_v2: true,
        }
    }
}

impl SubscriptionConfig {
    /// Sets the queue length (at least 1).
    pub fn queue_len(mut self, frames: usize) -> Self {
        self.queue_len = frames.max(1);
        self
    }

    /// Sets the shape assumed for `depth` frames.
    pub fn depth_shape(mut self, width: usize, height: usize) -> Self {
        self.depth_shape = (width, height);
        self
    }

    /// Chooses whether `depth_v2` is preferred when offered.
    pub fn prefer_depth_v2(mut self, prefer: bool) -> Self {
        self.prefer_depth_v2 = prefer;
        self
    }
}

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
pub struct Frame {
    /// The device that produced it.
    pub device_id: String,
    /// The image; [`DepthFrame::into_array`] gives an `ndarray::Array2<u16>` of shape (424, 512).
    pub depth: DepthFrame,
    /// The `depth_v2` header (codec, sequence, timestamps); `None` for the original `depth`.
    pub header: Option<FrameHeader>,
    /// When the message arrived at this client.
    pub received_at: Instant,
}

impl Frame {
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

/// One `depth_v2` message exactly as the server sent it, not decoded: what a recorder stores.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RawMessage {
    /// The device that produced it.
    pub device_id: String,
    /// Its header, checked (docs/protocol.md, section 5.4); the payload is not decoded.
    pub header: FrameHeader,
    /// The whole message, header and payload, byte for byte.
    pub bytes: Vec<u8>,
    /// When the message arrived at this client.
    pub received_at: Instant,
    /// When the message arrived, by this host's wall clock, in ns since the Unix epoch.
    pub received_time_ns: u64,
}

/// Counters of a subscription, for fps / drop displays.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SubscriptionStats {
    /// Messages received from the socket.
    pub received: u64,
    /// Frames decoded and queued (for a [`RawSubscription`]: messages whose header checked out,
    /// queued undecoded).
    pub decoded: u64,
    /// Queued frames (or raw messages) dropped because the application did not take them in
    /// time (oldest first).
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
    dropped: AtomicU64,
    skipped: AtomicU64,
    decode_errors: AtomicU64,
    lost: AtomicU64,
    refused: AtomicU64,
}

/// A live subscription to one device's depth frames. Dropping it (or [`Subscription::unsubscribe`])
/// stops the thread and closes the socket.
#[derive(Debug)]
pub struct Subscription {
    device_id: String,
    endpoint: String,
    kind: EndpointKind,
    frames: Receiver<Frame>,
    counters: Arc<Counters>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Subscription {
    /// Opens a subscription to `device`, whose endpoints are resolved like the control endpoint:
    /// a depth endpoint naming the same host as `control` reuses `control_address`.
    pub(crate) fn open(
        context: &zmq::Context,
        device: &Device,
        control: &Endpoint,
        control_address: SocketAddr,
        client: &ClientConfig,
    ) -> Result<Self, ClientError> {
        let config = &client.subscription;
        let v2 = device
            .endpoint(ENDPOINT_DEPTH_V2)
            .filter(|_| config.prefer_depth_v2);
        let (kind, advertised) = match (v2, device.endpoint(ENDPOINT_DEPTH)) {
            (Some(v2), _) => (EndpointKind::DepthV2, v2),
            (None, Some(depth)) => (EndpointKind::Depth, depth),
            (None, None) => return Err(ClientError::NoDepthEndpoint(device.id.clone())),
        };
        let socket = DepthSocket::connect(context, advertised, control, control_address, client)?;
        let (tx, frames) = bounded(config.queue_len.max(1));
        let output = Output::Decoded {
            tx,
            oldest: frames.clone(),
        };
        let receiving = Receiving::start(socket, device, kind, config.depth_shape, output)?;
        Ok(Self {
            device_id: device.id.clone(),
            endpoint: receiving.endpoint,
            kind,
            frames,
            counters: receiving.counters,
            stop: receiving.stop,
            thread: Some(receiving.thread),
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
    pub fn recv(&self) -> Result<Frame, ClientError> {
        self.frames.recv().map_err(|_| ClientError::ConnectionLost)
    }

    /// Waits up to `timeout` for the next frame.
    pub fn recv_timeout(&self, timeout: Duration) -> Option<Frame> {
        self.frames.recv_timeout(timeout).ok()
    }

    /// The next frame if one is waiting.
    pub fn try_recv(&self) -> Option<Frame> {
        self.frames.try_recv().ok()
    }

    /// The queue of decoded frames, for `crossbeam_channel::select!` over many subscriptions.
    pub fn frames(&self) -> &Receiver<Frame> {
        &self.frames
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> SubscriptionStats {
        self.counters.snapshot()
    }

    /// Stops receiving and closes the socket; returns once it is closed.
    pub fn unsubscribe(mut self) {
        self.close();
    }

    fn close(&mut self) {
        stop_thread(&self.stop, &mut self.thread, &self.device_id);
    }
}

/// Every `depth_v2` message of one device, exactly as received and not decoded: for recorders.
///
/// Unlike [`Subscription`], nothing is skipped: every message whose header checks out is queued
/// (a bad one is counted in [`SubscriptionStats::decode_errors`]), and only when the application
/// falls [`DEFAULT_RAW_QUEUE_LEN`] messages behind is the oldest dropped and counted
/// ([`SubscriptionStats::dropped`]). Dropping it (or [`RawSubscription::unsubscribe`]) stops the
/// thread and closes the socket.
#[derive(Debug)]
pub struct RawSubscription {
    device_id: String,
    endpoint: String,
    messages: Receiver<RawMessage>,
    counters: Arc<Counters>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl RawSubscription {
    /// Opens a raw subscription to `device`'s `depth_v2` endpoint (resolved as in
    /// [`Subscription`]); a device without one is [`ClientError::NoDepthEndpoint`].
    pub(crate) fn open(
        context: &zmq::Context,
        device: &Device,
        control: &Endpoint,
        control_address: SocketAddr,
        client: &ClientConfig,
    ) -> Result<Self, ClientError> {
        let advertised = device
            .endpoint(ENDPOINT_DEPTH_V2)
            .ok_or_else(|| ClientError::NoDepthEndpoint(device.id.clone()))?;
        let socket = DepthSocket::connect(context, advertised, control, control_address, client)?;
        let (tx, messages) = bounded(DEFAULT_RAW_QUEUE_LEN);
        let output = Output::Raw {
            tx,
            oldest: messages.clone(),
        };
        let shape = client.subscription.depth_shape;
        let receiving = Receiving::start(socket, device, EndpointKind::DepthV2, shape, output)?;
        Ok(Self {
            device_id: device.id.clone(),
            endpoint: receiving.endpoint,
            messages,
            counters: receiving.counters,
            stop: receiving.stop,
            thread: Some(receiving.thread),
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

    /// Waits up to `timeout` for the next message.
    pub fn recv_timeout(&self, timeout: Duration) -> Option<RawMessage> {
        self.messages.recv_timeout(timeout).ok()
    }

    /// The queue of messages, for `crossbeam_channel::select!` over many subscriptions.
    pub fn messages(&self) -> &Receiver<RawMessage> {
        &self.messages
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> SubscriptionStats {
        self.counters.snapshot()
    }

    /// Stops receiving and closes the socket; returns once it is closed.
    pub fn unsubscribe(mut self) {
        stop_thread(&self.stop, &mut self.thread, &self.device_id);
    }
}

impl Drop for RawSubscription {
    fn drop(&mut self) {
        stop_thread(&self.stop, &mut self.thread, &self.device_id);
    }
}

impl Counters {
    fn snapshot(&self) -> SubscriptionStats {
        SubscriptionStats {
            received: self.received.load(Ordering::Relaxed),
            decoded: self.decoded.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            skipped: self.skipped.load(Ordering::Relaxed),
            decode_errors: self.decode_errors.load(Ordering::Relaxed),
            lost: self.lost.load(Ordering::Relaxed),
            refused: self.refused.load(Ordering::Relaxed),
        }
    }
}

/// Tells a receiving thread to stop and waits for it.
fn stop_thread(stop: &AtomicBool, thread: &mut Option<JoinHandle<()>>, device_id: &str) {
    stop.store(true, Ordering::Relaxed);
    if let Some(thread) = thread.take() {
        if thread.join().is_err() {
            tracing::warn!(device = %device_id, "depth thread panicked");
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.close();
    }
}

impl Iterator for Subscription {
    type Item = Frame;

    /// Blocks for the next frame; `None` once the subscription has ended.
    fn next(&mut self) -> Option<Frame> {
        self.recv().ok()
    }
}

/// A SUB socket connected to a depth endpoint, with the monitor that reports refusals.
struct DepthSocket {
    socket: zmq::Socket,
    monitor: zmq::Socket,
    /// The resolved address `socket` connects to.
    endpoint: String,
}

impl DepthSocket {
    /// Connects to the `advertised` endpoint, resolved like the control endpoint: a depth
    /// endpoint naming the same host as `control` reuses `control_address`.
    fn connect(
        context: &zmq::Context,
        advertised: &str,
        control: &Endpoint,
        control_address: SocketAddr,
        client: &ClientConfig,
    ) -> Result<Self, ClientError> {
        let config = &client.subscription;
        let endpoint: Endpoint = advertised.parse()?;
        let address = if endpoint.same_host(control) {
            SocketAddr::new(control_address.ip(), endpoint.port)
        } else {
            resolve_endpoint(
                &endpoint,
                &client.host_addresses,
                client.resolve_local_names,
            )?
        };
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

        Ok(Self {
            socket,
            monitor,
            endpoint: zmq_endpoint,
        })
    }
}

/// Where the receiving thread puts what it receives.
enum Output {
    /// Decoded frames; only the newest waiting message is decoded.
    Decoded {
        tx: Sender<Frame>,
        /// A handle on the same queue, to drop the oldest frame when it is full.
        oldest: Receiver<Frame>,
    },
    /// Every `depth_v2` message, undecoded.
    Raw {
        tx: Sender<RawMessage>,
        /// A handle on the same queue, to drop the oldest message when it is full.
        oldest: Receiver<RawMessage>,
    },
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
    /// Pause before the next attempt after a refusal.
    retry_pause: Duration,
    device_id: String,
    kind: EndpointKind,
    shape: (usize, usize),
    /// Sequence number of the last `depth_v2` frame, to count gaps.
    last_sequence: Option<u64>,
    output: Output,
    counters: Arc<Counters>,
    stop: Arc<AtomicBool>,
}

/// A started receiving thread, for its subscription to keep.
struct Started {
    endpoint: String,
    counters: Arc<Counters>,
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

impl Receiving {
    /// Starts the thread that receives on `socket` into `output`.
    fn start(
        socket: DepthSocket,
        device: &Device,
        kind: EndpointKind,
        shape: (usize, usize),
        output: Output,
    ) -> Result<Started, ClientError> {
        let counters = Arc::new(Counters::default());
        let stop = Arc::new(AtomicBool::new(false));
        let endpoint = socket.endpoint.clone();
        let mut receiver = Receiving {
            socket: socket.socket,
            monitor: socket.monitor,
            endpoint: socket.endpoint,
            retry: None,
            retry_pause: REFUSED_RETRY_INITIAL,
            device_id: device.id.clone(),
            kind,
            shape,
            last_sequence: None,
            output,
            counters: Arc::clone(&counters),
            stop: Arc::clone(&stop),
        };
        let thread = std::thread::Builder::new()
            .name(format!("sk2-depth {}", device.id))
            .spawn(move || receiver.run())
            .map_err(|error| ClientError::Thread(error.to_string()))?;
        tracing::debug!(device = %device.id, %endpoint, ?kind, "subscribed");
        Ok(Started {
            endpoint,
            counters,
            stop,
            thread,
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
                        if matches!(self.output, Output::Raw { .. }) {
                            self.deliver_raw(message);
                            continue;
                        }
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
            self.retry_pause = REFUSED_RETRY_INITIAL;
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
            self.push(Frame {
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
        tracing::info!(
            device = %self.device_id,
            endpoint = %self.endpoint,
            refused = total,
            retry_in = ?self.retry_pause,
            "the server has as many subscribers as it allows; will try again"
        );
        self.retry = Some(Instant::now() + self.retry_pause);
        self.retry_pause = (self.retry_pause * 2).min(REFUSED_RETRY_MAX);
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

    /// Queues a message as received, once its header checks out.
    fn deliver_raw(&mut self, message: Vec<Vec<u8>>) {
        self.retry_pause = REFUSED_RETRY_INITIAL;
        let received_at = Instant::now();
        let received_time_ns = sk2_proto::sensor::unix_time_ns();
        let Output::Raw { tx, oldest } = &self.output else {
            return;
        };
        let checked = match <[Vec<u8>; 1]>::try_from(message) {
            Ok([bytes]) => depth_v2::decode_header(&bytes)
                .map(|header| (header, bytes))
                .map_err(|error| error.to_string()),
            Err(other) => Err(format!("expected 1 frame, got {}", other.len())),
        };
        match checked {
            Ok((header, bytes)) => {
                self.counters.decoded.fetch_add(1, Ordering::Relaxed);
                let message = RawMessage {
                    device_id: self.device_id.clone(),
                    header,
                    bytes,
                    received_at,
                    received_time_ns,
                };
                push_dropping_oldest(tx, oldest, message, &self.counters);
            }
            Err(error) => {
                self.counters.decode_errors.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(%error, device = %self.device_id, "bad depth_v2 message");
            }
        }
    }

    /// Queues a frame; if the queue is full, drops the oldest one and counts it.
    fn push(&self, frame: Frame) {
        if let Output::Decoded { tx, oldest } = &self.output {
            push_dropping_oldest(tx, oldest, frame, &self.counters);
        }
    }
}

/// Queues `item`; if the queue is full, drops the oldest one and counts it.
fn push_dropping_oldest<T>(tx: &Sender<T>, oldest: &Receiver<T>, item: T, counters: &Counters) {
    let mut item = item;
    loop {
        match tx.try_send(item) {
            Ok(()) => return,
            Err(TrySendError::Full(back)) => {
                if oldest.try_recv().is_ok() {
                    counters.dropped.fetch_add(1, Ordering::Relaxed);
                }
                item = back;
            }
            Err(TrySendError::Disconnected(_)) => return,
        }
    }
}

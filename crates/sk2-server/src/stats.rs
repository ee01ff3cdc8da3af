//! Per-sensor counters, and those of its `ir_v2` and `color` streams: updated lock-free on the
//! data path, read as [`SensorStats`] and [`StreamStats`] snapshots.

use std::sync::atomic::{AtomicU64, Ordering};

use std::sync::Arc;

use crate::admission::PeerCounters;

/// What happened to one sensor's frames since it was attached. Every frame captured is, in the
/// end, published, unwatched, or dropped for one of the reasons below (a few may be in flight).
///
/// ZeroMQ's own per-subscriber drops (a subscriber whose queue is full, see
/// [`crate::Config::depth_sndhwm`]) are not visible to the server and not counted here.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SensorStats {
    /// The sensor's id.
    pub id: String,
    /// Frames the sensor delivered.
    pub captured: u64,
    /// Frames encoded into `depth` messages.
    pub encoded: u64,
    /// Dropped on arrival: `workers + 1` frames of this sensor were already being encoded.
    pub dropped_busy: u64,
    /// Dropped after encoding: a newer frame had already been published (workers finish out of
    /// order; subscribers always see increasing sequence numbers).
    pub dropped_stale: u64,
    /// Dropped because the frame could not be encoded for any watched endpoint (for example an
    /// odd width, which sk2 cannot pack, with nobody on `depth_v2`). The original published an
    /// empty message instead; we publish nothing.
    pub dropped_encode_error: u64,
    /// Frames the sk2 encoder refused (counted even when `depth_v2` still carried the frame).
    pub sk2_encode_errors: u64,
    /// Not encoded because no endpoint of the sensor had a subscriber: not a loss, nobody
    /// was watching.
    pub unwatched: u64,
    /// Dropped because the sensor was being removed or the server stopping while the frame was
    /// being encoded.
    pub dropped_closing: u64,
    /// Frames handed to the sockets (one message per watched endpoint, whatever the number of
    /// subscribers).
    pub published: u64,
    /// Bytes of those messages, on all endpoints.
    pub bytes_published: u64,
    /// Messages sent on `depth` (sk2).
    pub depth_messages: u64,
    /// Bytes sent on `depth`.
    pub depth_bytes: u64,
    /// Messages sent on `depth_v2`.
    pub depth_v2_messages: u64,
    /// Bytes sent on `depth_v2`.
    pub depth_v2_bytes: u64,
    /// Subscribers refused on `depth` or `depth_v2` because [`crate::Config::max_subscribers`]
    /// were already connected to that endpoint.
    pub refused_subscribers: u64,
    /// Idle subscribers (or peers that never subscribed) closed on `depth` or `depth_v2` to make
    /// room for a newcomer.
    pub evicted_subscribers: u64,
    /// The `ir_v2` stream, counted apart from depth (all zero when the sensor offers no IR).
    pub ir: StreamStats,
    /// The `color` stream, counted apart from depth (all zero when the sensor offers no colour).
    pub color: StreamStats,
    /// Peers refused by CurveZMQ on `depth` or `depth_v2` (secure server only): no CURVE, the
    /// wrong server key, or a client key that is not authorised.
    pub unauthorised_subscribers: u64,
}

impl SensorStats {
    /// All frames dropped by the server, whatever the reason.
    pub fn dropped(&self) -> u64 {
        self.dropped_busy + self.dropped_stale + self.dropped_encode_error + self.dropped_closing
    }
}

/// The live counters behind [`SensorStats`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) captured: AtomicU64,
    pub(crate) encoded: AtomicU64,
    pub(crate) dropped_busy: AtomicU64,
    pub(crate) dropped_stale: AtomicU64,
    pub(crate) dropped_encode_error: AtomicU64,
    pub(crate) dropped_closing: AtomicU64,
    pub(crate) sk2_encode_errors: AtomicU64,
    pub(crate) unwatched: AtomicU64,
    pub(crate) published: AtomicU64,
    pub(crate) bytes_published: AtomicU64,
    pub(crate) depth_messages: AtomicU64,
    pub(crate) depth_bytes: AtomicU64,
    pub(crate) depth_v2_messages: AtomicU64,
    pub(crate) depth_v2_bytes: AtomicU64,
    /// Shared with the gatekeeper thread, which counts refusals and evictions.
    pub(crate) subscribers: PeerCounters,
    /// Shared with the `ir_v2` sink and publisher.
    pub(crate) ir: Arc<StreamCounters>,
    /// Shared with the `color` sink and publisher.
    pub(crate) color: Arc<StreamCounters>,
}

impl Counters {
    pub(crate) fn add(counter: &AtomicU64, amount: u64) -> u64 {
        counter.fetch_add(amount, Ordering::Relaxed) + amount
    }

    pub(crate) fn snapshot(&self, id: &str) -> SensorStats {
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        SensorStats {
            id: id.to_owned(),
            captured: read(&self.captured),
            encoded: read(&self.encoded),
            dropped_busy: read(&self.dropped_busy),
            dropped_stale: read(&self.dropped_stale),
            dropped_encode_error: read(&self.dropped_encode_error),
            dropped_closing: read(&self.dropped_closing),
            sk2_encode_errors: read(&self.sk2_encode_errors),
            unwatched: read(&self.unwatched),
            published: read(&self.published),
            bytes_published: read(&self.bytes_published),
            depth_messages: read(&self.depth_messages),
            depth_bytes: read(&self.depth_bytes),
            depth_v2_messages: read(&self.depth_v2_messages),
            depth_v2_bytes: read(&self.depth_v2_bytes),
            refused_subscribers: read(&self.subscribers.refused),
            evicted_subscribers: read(&self.subscribers.evicted),
            ir: self.ir.snapshot(),
            color: self.color.snapshot(),
            unauthorised_subscribers: read(&self.subscribers.unauthorised),
        }
    }
}

/// What happened to one extra stream's frames (`ir_v2` or `color`) since the sensor was attached.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StreamStats {
    /// Frames the sensor delivered on this stream.
    pub captured: u64,
    /// Not queued because nobody was subscribed: not a loss.
    pub unwatched: u64,
    /// Dropped on arrival: the stream's queue was full (its publisher was still busy).
    pub dropped_busy: u64,
    /// Messages handed to the socket.
    pub published: u64,
    /// Bytes of those messages.
    pub bytes_published: u64,
}

/// The live counters behind [`StreamStats`].
#[derive(Debug, Default)]
pub(crate) struct StreamCounters {
    pub(crate) captured: AtomicU64,
    pub(crate) unwatched: AtomicU64,
    pub(crate) dropped_busy: AtomicU64,
    pub(crate) published: AtomicU64,
    pub(crate) bytes_published: AtomicU64,
}

impl StreamCounters {
    pub(crate) fn snapshot(&self) -> StreamStats {
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        StreamStats {
            captured: read(&self.captured),
            unwatched: read(&self.unwatched),
            dropped_busy: read(&self.dropped_busy),
            published: read(&self.published),
            bytes_published: read(&self.bytes_published),
        }
    }
}

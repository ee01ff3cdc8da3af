//! Where the receiving thread puts what it receives: a queue of decoded frames, of raw
//! messages, or a [`MessageSink`] that decodes and queues another stream's messages.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Instant;

use super::received::{RawMessage, RawStreamMessage, ReceivedFrame};
use crate::drop_oldest::DropOldest;

/// Where the receiving thread puts what it receives; when the application falls behind, the
/// oldest is dropped and counted in [`SubscriptionStats::dropped`].
pub(crate) enum Output {
    /// Decoded frames; only the newest waiting message is decoded.
    Decoded(DropOldest<ReceivedFrame>),
    /// Every `depth_v2` message, undecoded.
    Raw(DropOldest<RawMessage>),
    /// Every message of the subscription's stream, undecoded.
    RawStream(DropOldest<RawStreamMessage>),
    /// Another stream's messages, decoded and queued by the sink; only the newest waiting
    /// message is decoded.
    Sink(Box<dyn MessageSink>),
}

impl Output {
    pub(super) fn dropped_counter(&self) -> Arc<AtomicU64> {
        match self {
            Output::Decoded(queue) => queue.dropped_counter(),
            Output::Raw(queue) => queue.dropped_counter(),
            Output::RawStream(queue) => queue.dropped_counter(),
            Output::Sink(sink) => sink.dropped_counter(),
        }
    }
}

/// Decodes one stream's messages and queues the result, for the image subscriptions (which
/// build on this module, not it on them).
pub(crate) trait MessageSink: Send {
    /// Decodes `message` and queues it, or says why it cannot be decoded.
    fn deliver(
        &mut self,
        device_id: &str,
        message: &[u8],
        received_at: Instant,
    ) -> Result<(), String>;

    /// The queue's count of frames dropped because the application did not take them in time.
    fn dropped_counter(&self) -> Arc<AtomicU64>;
}

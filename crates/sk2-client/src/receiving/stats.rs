//! A subscription's counters: kept lock-free by the receiving thread ([`Counters`]), read as
//! [`SubscriptionStats`] snapshots.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Counters of a subscription, for fps / drop displays.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SubscriptionStats {
    /// Messages received from the socket.
    pub received: u64,
    /// Frames decoded and queued (for a [`RawSubscription`](crate::RawSubscription): messages
    /// whose header checked out, queued undecoded).
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
    /// (the subscription keeps trying, see
    /// [`REFUSED_RETRY_MAX`](crate::REFUSED_RETRY_MAX)).
    pub refused: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) received: AtomicU64,
    pub(crate) decoded: AtomicU64,
    /// Shared with the frame queue, which counts what it drops.
    pub(crate) dropped: Arc<AtomicU64>,
    pub(crate) skipped: AtomicU64,
    pub(crate) decode_errors: AtomicU64,
    pub(crate) lost: AtomicU64,
    pub(crate) refused: AtomicU64,
}

impl Counters {
    /// Frames missing between the `last` sequence number and `sequence` were lost on the way
    /// (dropped by the server's encoder pool or a high-water mark). A smaller number means the
    /// sensor restarted: counting starts again. `last` becomes `sequence`.
    pub(crate) fn count_gap(&self, last: &mut Option<u64>, sequence: u64) {
        if let Some(before) = *last {
            if sequence > before {
                self.lost
                    .fetch_add(sequence - before - 1, Ordering::Relaxed);
            }
        }
        *last = Some(sequence);
    }

    pub(crate) fn snapshot(&self) -> SubscriptionStats {
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

//! [`DropOldest`]: the sending side of a bounded queue where the newest item always gets in.
//!
//! Data plane rule: a reader that falls behind must never block the thread that produces, nor
//! make memory grow. When the queue is full, the oldest waiting item is taken out to make room,
//! and counted.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crossbeam_channel::{bounded, Receiver, Sender, TrySendError};

/// A bounded crossbeam sender that drops the oldest queued item when the queue is full. Clones
/// send into the same queue and share the drop count.
#[derive(Debug)]
pub(crate) struct DropOldest<T> {
    tx: Sender<T>,
    /// A handle on the same queue, to take the oldest item out when it is full.
    oldest: Receiver<T>,
    dropped: Arc<AtomicU64>,
}

// Not derived: a derive would ask `T: Clone`, which the channel ends do not need.
impl<T> Clone for DropOldest<T> {
    fn clone(&self) -> Self {
        Self {
            tx: self.tx.clone(),
            oldest: self.oldest.clone(),
            dropped: Arc::clone(&self.dropped),
        }
    }
}

impl<T> DropOldest<T> {
    /// A queue of `capacity` items (at least 1): the sender, and the receiver to give readers.
    pub(crate) fn new(capacity: usize) -> (Self, Receiver<T>) {
        let (tx, rx) = bounded(capacity.max(1));
        let sender = Self {
            tx,
            oldest: rx.clone(),
            dropped: Arc::new(AtomicU64::new(0)),
        };
        (sender, rx)
    }

    /// Queues `item`, dropping (and counting) the oldest waiting item first if the queue is full.
    /// Never blocks.
    pub(crate) fn send(&self, item: T) {
        let mut item = item;
        loop {
            match self.tx.try_send(item) {
                Ok(()) => return,
                Err(TrySendError::Full(back)) => {
                    // A reader may have emptied the queue meanwhile: then nothing was dropped.
                    if self.oldest.try_recv().is_ok() {
                        self.dropped.fetch_add(1, Ordering::Relaxed);
                    }
                    item = back;
                }
                // Cannot happen while we hold a receiver, but never loop on it.
                Err(TrySendError::Disconnected(_)) => return,
            }
        }
    }

    /// The drop counter, to read from another thread (it counts on after `self` moves).
    pub(crate) fn dropped_counter(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.dropped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_queue_loses_its_oldest_item_and_counts_it() {
        let (sink, rx) = DropOldest::new(2);
        let dropped = sink.dropped_counter();
        for item in 1..=5 {
            sink.send(item);
        }
        assert_eq!(rx.try_iter().collect::<Vec<_>>(), [4, 5]);
        assert_eq!(dropped.load(Ordering::Relaxed), 3);
        sink.send(6);
        assert_eq!(rx.try_recv(), Ok(6));
        assert_eq!(dropped.load(Ordering::Relaxed), 3);
    }
}

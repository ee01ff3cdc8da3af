//! [`Feed`]: what every subscription handle holds (the receiving thread and the queue it fills),
//! and the methods the handles share, written once: [`handle_methods!`] (device, endpoint,
//! counters, unsubscribe) and [`frame_methods!`] (taking frames from the queue).
//!
//! The handles ([`Subscription`](crate::Subscription), [`ImageSubscription`](crate::ImageSubscription),
//! [`RawSubscription`](crate::RawSubscription)) keep their own public types and documentation;
//! the macros give each the same inherent methods over its `feed` field, so that a user needs no
//! trait in scope and the Python binding wraps them as before.

use std::net::SocketAddr;
use std::time::Duration;

use crossbeam_channel::Receiver;

use crate::config::SubscriptionConfig;
use crate::drop_oldest::DropOldest;
use crate::error::ClientError;
use crate::receiving::{EndpointKind, Output, ReceiverThread, Receiving, SubscriptionStats};

/// A started receiving thread and the queue of what it delivers (`T`: a frame or a message).
#[derive(Debug)]
pub(crate) struct Feed<T> {
    /// Declared first so that dropping stops the thread before its queue goes.
    receiving: ReceiverThread,
    queue: Receiver<T>,
}

impl<T> Feed<T> {
    /// Connects to `device_id`'s endpoint of `kind` at `address` and starts the thread that
    /// receives into a queue of [`SubscriptionConfig::queue_len`]; `output` says what the thread
    /// puts in the queue (decoded frames, raw messages, or what a sink makes of them).
    pub(crate) fn open(
        context: &zmq::Context,
        device_id: &str,
        kind: EndpointKind,
        address: SocketAddr,
        config: &SubscriptionConfig,
        output: impl FnOnce(DropOldest<T>) -> Output,
    ) -> Result<Self, ClientError> {
        let (queue_tx, queue) = DropOldest::new(config.queue_len);
        let receiving =
            Receiving::start(context, device_id, kind, address, config, output(queue_tx))?;
        Ok(Self::from_parts(receiving, queue))
    }

    /// A feed over a thread already started (by [`Feed::open`], or by another transport).
    pub(crate) fn from_parts(receiving: ReceiverThread, queue: Receiver<T>) -> Self {
        Self { receiving, queue }
    }

    pub(crate) fn device_id(&self) -> &str {
        self.receiving.device_id()
    }

    pub(crate) fn endpoint(&self) -> &str {
        self.receiving.endpoint()
    }

    pub(crate) fn stats(&self) -> SubscriptionStats {
        self.receiving.stats()
    }

    /// The next item; fails only once the thread has ended (it holds the queue's sender).
    pub(crate) fn recv(&self) -> Result<T, ClientError> {
        self.queue.recv().map_err(|_| ClientError::ConnectionLost)
    }

    pub(crate) fn recv_timeout(&self, timeout: Duration) -> Option<T> {
        self.queue.recv_timeout(timeout).ok()
    }

    pub(crate) fn try_recv(&self) -> Option<T> {
        self.queue.try_recv().ok()
    }

    pub(crate) fn queue(&self) -> &Receiver<T> {
        &self.queue
    }
}

/// The public methods every subscription handle has, over its `feed: Feed<_>` field.
macro_rules! handle_methods {
    () => {
        /// The device this subscription reads.
        pub fn device_id(&self) -> &str {
            self.feed.device_id()
        }

        /// The resolved address the socket connected to.
        pub fn endpoint(&self) -> &str {
            self.feed.endpoint()
        }

        /// A snapshot of the counters.
        pub fn stats(&self) -> $crate::receiving::SubscriptionStats {
            self.feed.stats()
        }

        /// Stops receiving and closes the socket; returns once it is closed.
        pub fn unsubscribe(self) {
            drop(self);
        }
    };
}

/// The public methods of a handle whose feed delivers frames of type `$frame`.
macro_rules! frame_methods {
    ($frame:ty) => {
        /// Waits for the next frame. Fails only once the subscription's thread has ended.
        pub fn recv(&self) -> Result<$frame, $crate::error::ClientError> {
            self.feed.recv()
        }

        /// Waits up to `timeout` for the next frame.
        pub fn recv_timeout(&self, timeout: ::std::time::Duration) -> Option<$frame> {
            self.feed.recv_timeout(timeout)
        }

        /// The next frame if one is waiting.
        pub fn try_recv(&self) -> Option<$frame> {
            self.feed.try_recv()
        }

        /// The queue of decoded frames, for `crossbeam_channel::select!` over many
        /// subscriptions.
        pub fn frames(&self) -> &::crossbeam_channel::Receiver<$frame> {
            self.feed.queue()
        }
    };
}

pub(crate) use {frame_methods, handle_methods};

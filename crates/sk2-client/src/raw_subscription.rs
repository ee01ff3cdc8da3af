//! [`RawSubscription`]: the recorder's variant of a [`Subscription`](crate::Subscription): every
//! `depth_v2` message, undecoded, byte for byte, in a longer queue, with the same counters.

use std::net::SocketAddr;
use std::time::Duration;

use crossbeam_channel::Receiver;

use crate::config::SubscriptionConfig;
use crate::drop_oldest::DropOldest;
use crate::error::ClientError;
use crate::receiving::{
    EndpointKind, Output, RawMessage, ReceiverThread, Receiving, SubscriptionStats,
};

/// Undecoded messages a [`RawSubscription`] keeps for the application: about 8 s at 30 fps (some
/// 25 MB of MEDHUF frames), so a recorder rides out a disk that stalls for seconds without losing
/// a frame.
pub const DEFAULT_RAW_QUEUE_LEN: usize = 256;

/// Every `depth_v2` message of one device, exactly as received and not decoded: for recorders.
///
/// Unlike [`Subscription`](crate::Subscription), nothing is skipped: every message whose header checks out is queued
/// (a bad one is counted in [`SubscriptionStats::decode_errors`]), and only when the application
/// falls [`DEFAULT_RAW_QUEUE_LEN`] messages behind is the oldest dropped and counted
/// ([`SubscriptionStats::dropped`]). Dropping it (or [`RawSubscription::unsubscribe`]) stops the
/// thread and closes the socket.
#[derive(Debug)]
pub struct RawSubscription {
    /// Declared first so that dropping stops the thread before its queue goes.
    receiving: ReceiverThread,
    messages: Receiver<RawMessage>,
}

impl RawSubscription {
    /// Opens a raw subscription to `device_id`'s `depth_v2` endpoint at `address` (resolved by
    /// the caller).
    pub(crate) fn open(
        context: &zmq::Context,
        device_id: &str,
        address: SocketAddr,
        config: &SubscriptionConfig,
    ) -> Result<Self, ClientError> {
        let (messages_tx, messages) = DropOldest::new(DEFAULT_RAW_QUEUE_LEN);
        let receiving = Receiving::start(
            context,
            device_id,
            EndpointKind::DepthV2,
            address,
            config,
            Output::Raw(messages_tx),
        )?;
        Ok(Self {
            receiving,
            messages,
        })
    }

    /// The device this subscription reads.
    pub fn device_id(&self) -> &str {
        self.receiving.device_id()
    }

    /// The resolved address the socket connected to.
    pub fn endpoint(&self) -> &str {
        self.receiving.endpoint()
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
        self.receiving.stats()
    }

    /// Stops receiving and closes the socket; returns once it is closed.
    pub fn unsubscribe(self) {
        drop(self);
    }
}

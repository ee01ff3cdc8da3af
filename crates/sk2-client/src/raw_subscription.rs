//! [`RawSubscription`]: the recorder's variant of a [`Subscription`](crate::Subscription): every
//! `depth_v2` message, undecoded, byte for byte, in a longer queue, with the same counters.

use std::net::SocketAddr;
use std::time::Duration;

use crossbeam_channel::Receiver;

use crate::config::SubscriptionConfig;
use crate::error::ClientError;
use crate::feed::{handle_methods, Feed};
use crate::receiving::{EndpointKind, Output, RawMessage};

/// Undecoded messages a [`RawSubscription`] keeps for the application: about 8 s at 30 fps (some
/// 25 MB of MEDHUF frames), so a recorder rides out a disk that stalls for seconds without losing
/// a frame.
pub const DEFAULT_RAW_QUEUE_LEN: usize = 256;

/// Every `depth_v2` message of one device, exactly as received and not decoded: for recorders.
///
/// Unlike [`Subscription`](crate::Subscription), nothing is skipped: every message whose header
/// checks out is queued (a bad one is counted in
/// [`SubscriptionStats::decode_errors`](crate::SubscriptionStats::decode_errors)), and only when
/// the application falls [`DEFAULT_RAW_QUEUE_LEN`] messages behind is the oldest dropped and
/// counted ([`SubscriptionStats::dropped`](crate::SubscriptionStats::dropped)). Dropping it (or
/// [`RawSubscription::unsubscribe`]) stops the thread and closes the socket.
#[derive(Debug)]
pub struct RawSubscription {
    feed: Feed<RawMessage>,
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
        let config = config.clone().with_queue_len(DEFAULT_RAW_QUEUE_LEN);
        let kind = EndpointKind::DepthV2;
        let feed = Feed::open(context, device_id, kind, address, &config, Output::Raw)?;
        Ok(Self { feed })
    }

    handle_methods!();

    /// Waits up to `timeout` for the next message.
    pub fn recv_timeout(&self, timeout: Duration) -> Option<RawMessage> {
        self.feed.recv_timeout(timeout)
    }

    /// The queue of messages, for `crossbeam_channel::select!` over many subscriptions.
    pub fn messages(&self) -> &Receiver<RawMessage> {
        self.feed.queue()
    }
}

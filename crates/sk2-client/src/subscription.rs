//! [`Subscription`]: a device's depth frames, decoded on a background thread (see the
//! `receiving` module, which it shares with [`RawSubscription`](crate::RawSubscription)).
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
//! [`SubscriptionStats::skipped`]: crate::SubscriptionStats::skipped
//! [`SubscriptionStats::dropped`]: crate::SubscriptionStats::dropped

#[cfg(feature = "zenoh")]
use crossbeam_channel::Receiver;
use sk2_proto::control::ENDPOINT_DEPTH;
use sk2_proto::depth_v2::ENDPOINT_DEPTH_V2;
use sk2_proto::Device;

use crate::config::SubscriptionConfig;
use crate::error::ClientError;
use crate::feed::{frame_methods, handle_methods, Feed};
#[cfg(feature = "zenoh")]
use crate::receiving::ReceiverThread;
use crate::receiving::{EndpointKind, ReceivedFrame};

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
    feed: Feed<ReceivedFrame>,
    kind: EndpointKind,
}

impl Subscription {
    /// A subscription to the endpoint of `kind` that `feed` reads, whose thread decodes into it
    /// (for a ZeroMQ subscription, [`Feed::open`] with
    /// [`Output::Decoded`](crate::receiving::Output::Decoded)).
    pub(crate) fn new(feed: Feed<ReceivedFrame>, kind: EndpointKind) -> Self {
        Self { feed, kind }
    }

    /// A subscription over a thread that another transport (Zenoh) started.
    #[cfg(feature = "zenoh")]
    pub(crate) fn from_parts(
        receiving: ReceiverThread,
        kind: EndpointKind,
        frames: Receiver<ReceivedFrame>,
    ) -> Self {
        Self::new(Feed::from_parts(receiving, frames), kind)
    }

    handle_methods!();

    /// Which endpoint kind this subscription reads.
    pub fn kind(&self) -> EndpointKind {
        self.kind
    }

    frame_methods!(ReceivedFrame);
}

impl Iterator for Subscription {
    type Item = ReceivedFrame;

    /// Blocks for the next frame; `None` once the subscription has ended.
    fn next(&mut self) -> Option<ReceivedFrame> {
        self.recv().ok()
    }
}

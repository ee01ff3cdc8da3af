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

use std::net::SocketAddr;
use std::time::Duration;

use crossbeam_channel::Receiver;
use sk2_proto::control::ENDPOINT_DEPTH;
use sk2_proto::depth_v2::ENDPOINT_DEPTH_V2;
use sk2_proto::Device;

use crate::config::SubscriptionConfig;
use crate::drop_oldest::DropOldest;
use crate::error::ClientError;
use crate::receiving::{
    EndpointKind, Output, ReceivedFrame, ReceiverThread, Receiving, SubscriptionStats,
};

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
    /// Declared first so that dropping stops the thread before its queue goes.
    receiving: ReceiverThread,
    kind: EndpointKind,
    frames: Receiver<ReceivedFrame>,
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
        let (frames_tx, frames) = DropOldest::new(config.queue_len);
        let receiving = Receiving::start(
            context,
            device_id,
            kind,
            address,
            config,
            Output::Decoded(frames_tx),
        )?;
        Ok(Self {
            receiving,
            kind,
            frames,
        })
    }

    /// A subscription over a thread that another transport (Zenoh) started.
    #[cfg(feature = "zenoh")]
    pub(crate) fn from_parts(
        receiving: ReceiverThread,
        kind: EndpointKind,
        frames: Receiver<ReceivedFrame>,
    ) -> Self {
        Self {
            receiving,
            kind,
            frames,
        }
    }

    /// The device this subscription reads.
    pub fn device_id(&self) -> &str {
        self.receiving.device_id()
    }

    /// The resolved address the socket connected to.
    pub fn endpoint(&self) -> &str {
        self.receiving.endpoint()
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
        self.receiving.stats()
    }

    /// Stops receiving and closes the socket; returns once it is closed.
    pub fn unsubscribe(self) {
        drop(self);
    }
}

impl Iterator for Subscription {
    type Item = ReceivedFrame;

    /// Blocks for the next frame; `None` once the subscription has ended.
    fn next(&mut self) -> Option<ReceivedFrame> {
        self.recv().ok()
    }
}

//! [`FollowedDepth`]: a depth subscription that a network source (direct or over Zenoh) follows
//! for the hub, and the forwarding of its newest frame.

use crossbeam_channel::Receiver;
use sk2_client::{ReceivedFrame, Subscription};

use crate::hub::{Hub, SourceFrame, SourceKey};

/// A sensor's depth subscription and the client's `lost` count already passed to the hub.
pub(crate) struct FollowedDepth {
    subscription: Subscription,
    lost_reported: u64,
}

impl FollowedDepth {
    pub(crate) fn new(subscription: Subscription) -> Self {
        Self {
            subscription,
            lost_reported: 0,
        }
    }

    /// The subscription's queue, for the source's `Select`.
    pub(crate) fn frames(&self) -> &Receiver<ReceivedFrame> {
        self.subscription.frames()
    }

    /// Publishes the newest waiting frame under `key` (older waiting ones are skipped), with the
    /// client's own figures: its latency, and the frames it counted as lost since the last one.
    pub(crate) fn forward(&mut self, key: &SourceKey, hub: &Hub) {
        let Some(frame) = self.subscription.frames().try_iter().last() else {
            return;
        };
        let lost = self.subscription.stats().lost;
        let newly_lost = lost.saturating_sub(self.lost_reported);
        self.lost_reported = lost;
        hub.publish(
            key,
            SourceFrame {
                sensor_sequence: frame.sequence(),
                capture_time_ns: frame.capture_time_ns(),
                latency: frame.latency(),
                lost: newly_lost,
                depth: frame.depth,
            },
        );
    }
}

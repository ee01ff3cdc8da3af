//! The receiving side of a Zenoh subscription: Zenoh's callback only queues the payload (it must
//! never block Zenoh's own threads, which carry every other subscription of the session too); a
//! thread of the subscription decodes the newest waiting message and queues the frame, with the
//! same counters and the same newest-wins rule as a ZeroMQ subscription.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use sk2_proto::depth_v2;
use sk2_proto::id::short_id;
use sk2_proto::sk2;

use crate::config::SubscriptionConfig;
use crate::drop_oldest::DropOldest;
use crate::error::ClientError;
use crate::receiving::{Counters, EndpointKind, ReceivedFrame, ReceiverThread};
use crate::subscription::Subscription;
use crate::MAX_DEPTH_MESSAGE_BYTES;

/// How often the thread checks whether it should stop.
const STOP_POLL: Duration = Duration::from_millis(50);

/// Subscribes `session` to `key`, where `device_id`'s messages of `kind` are published, and
/// starts the thread that decodes them.
pub(crate) fn subscribe(
    session: &::zenoh::Session,
    key: String,
    device_id: &str,
    kind: EndpointKind,
    config: &SubscriptionConfig,
) -> Result<Subscription, ClientError> {
    use ::zenoh::Wait;

    let (frames_tx, frames) = DropOldest::new(config.queue_len);
    let counters = Arc::new(Counters {
        dropped: frames_tx.dropped_counter(),
        ..Counters::default()
    });
    // The inbox plays the SUB socket's receive high-water mark: when the decoder falls behind,
    // the oldest waiting message makes room and is counted as skipped.
    let (inbox_tx, inbox) = DropOldest::new(usize::try_from(config.rcvhwm).unwrap_or(1).max(1));
    let skipped_in_inbox = inbox_tx.dropped_counter();
    let callback_counters = Arc::clone(&counters);
    let subscriber = session
        .declare_subscriber(key.clone())
        .callback(move |sample: ::zenoh::sample::Sample| {
            callback_counters.received.fetch_add(1, Ordering::Relaxed);
            let payload = sample.payload();
            if payload.len() as u64 > MAX_DEPTH_MESSAGE_BYTES as u64 {
                callback_counters
                    .decode_errors
                    .fetch_add(1, Ordering::Relaxed);
                return;
            }
            inbox_tx.send(payload.to_bytes().into_owned());
        })
        .wait()
        .map_err(|error| ClientError::Zenoh(format!("cannot subscribe to {key}: {error}")))?;

    let stop = Arc::new(AtomicBool::new(false));
    let mut decoder = Decoder {
        device_id: device_id.to_owned(),
        kind,
        shape: config.depth_shape,
        last_sequence: None,
        frames: frames_tx,
        counters: Arc::clone(&counters),
        skipped_in_inbox,
    };
    let thread_stop = Arc::clone(&stop);
    let thread = std::thread::Builder::new()
        .name(format!("sk2-zenoh {}", short_id(device_id)))
        .spawn(move || {
            // The subscriber lives as long as the thread: undeclared when the thread ends.
            let _subscriber = subscriber;
            decoder.run(&inbox, &thread_stop);
        })
        .map_err(|error| ClientError::Thread(error.to_string()))?;
    tracing::debug!(device = %short_id(device_id), %key, ?kind, "subscribed over Zenoh");
    let receiving = ReceiverThread::new(device_id.to_owned(), key, counters, stop, thread);
    Ok(Subscription::from_parts(receiving, kind, frames))
}

/// The subscription's thread: decodes, counts, queues.
struct Decoder {
    device_id: String,
    kind: EndpointKind,
    shape: (usize, usize),
    last_sequence: Option<u64>,
    frames: DropOldest<ReceivedFrame>,
    counters: Arc<Counters>,
    /// Messages the inbox dropped for newer ones (moved into `skipped`).
    skipped_in_inbox: Arc<AtomicU64>,
}

impl Decoder {
    fn run(&mut self, inbox: &Receiver<Vec<u8>>, stop: &AtomicBool) {
        let mut scratch = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            let Ok(first) = inbox.recv_timeout(STOP_POLL) else {
                self.note_inbox_skips();
                continue;
            };
            // Take everything waiting and decode only the newest, as the ZeroMQ path does; but
            // anyone may publish on a Zenoh key, so a message whose header is already invalid is
            // counted as an error at once and never takes a valid frame's place.
            let mut newest = None;
            for message in std::iter::once(first).chain(inbox.try_iter()) {
                if !self.header_checks_out(&message) {
                    continue;
                }
                if newest.replace(message).is_some() {
                    self.counters.skipped.fetch_add(1, Ordering::Relaxed);
                }
            }
            self.note_inbox_skips();
            let Some(newest) = newest else { continue };
            let received_at = Instant::now();
            let decoded = match self.kind {
                EndpointKind::Depth => {
                    sk2::decode_with(&newest, self.shape.0, self.shape.1, &mut scratch)
                        .map(|depth| (depth, None))
                        .map_err(|error| error.to_string())
                }
                EndpointKind::DepthV2 => depth_v2::decode(&newest)
                    .map(|(header, depth)| (depth, Some(header)))
                    .map_err(|error| error.to_string()),
                // The bridge publishes depth streams only; a Zenoh subscription is never opened
                // on these, and if it were, every message is counted as undecodable.
                EndpointKind::Ir | EndpointKind::Color => {
                    Err("the Zenoh key space carries depth streams only".to_owned())
                }
            };
            match decoded {
                Ok((depth, header)) => {
                    self.counters.decoded.fetch_add(1, Ordering::Relaxed);
                    self.frames.send(ReceivedFrame {
                        device_id: self.device_id.clone(),
                        depth,
                        header,
                        received_at,
                    });
                }
                Err(error) => {
                    self.counters.decode_errors.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(%error, device = %short_id(&self.device_id), "undecodable depth message on Zenoh");
                }
            }
        }
    }

    fn note_inbox_skips(&self) {
        let skipped = self.skipped_in_inbox.swap(0, Ordering::Relaxed);
        if skipped > 0 {
            self.counters.skipped.fetch_add(skipped, Ordering::Relaxed);
        }
    }

    /// For `depth_v2`, checks the header (docs/protocol.md section 5.4), counting a bad one as a
    /// decode error, and counts the frames missing before this message (see the ZeroMQ path: a
    /// smaller sequence number means the sensor restarted). `depth` has no header: always true.
    fn header_checks_out(&mut self, message: &[u8]) -> bool {
        if self.kind != EndpointKind::DepthV2 {
            return true;
        }
        let Ok(header) = depth_v2::decode_header(message) else {
            self.counters.decode_errors.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(device = %short_id(&self.device_id), bytes = message.len(), "bad depth_v2 header on Zenoh");
            return false;
        };
        self.counters
            .count_gap(&mut self.last_sequence, header.sequence);
        true
    }
}

//! The in-flight budget of a sensor: at most `workers + 1` frames between its sink and its
//! publisher, each holding an [`InFlightSlot`].

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// One of a sensor's `max_in_flight` places for a frame between its sink and its publisher.
/// It travels with the frame (a job for the encoders, then an encoded frame for the
/// publisher) and gives its place back when dropped, wherever the frame ends: published,
/// dropped by an encoder, refused by a full queue, or left in a queue at shutdown. So no path
/// can leak a place or give one back twice.
pub(crate) struct InFlightSlot {
    in_flight: Arc<AtomicUsize>,
}

impl InFlightSlot {
    /// Takes a place if fewer than `max` are taken.
    pub(crate) fn try_take(in_flight: &Arc<AtomicUsize>, max: usize) -> Option<Self> {
        in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |taken| {
                (taken < max).then_some(taken + 1)
            })
            .ok()
            .map(|_| Self {
                in_flight: Arc::clone(in_flight),
            })
    }
}

impl Drop for InFlightSlot {
    fn drop(&mut self) {
        self.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_refused_past_the_limit_and_given_back_when_dropped() {
        let in_flight = Arc::new(AtomicUsize::new(0));
        let first = InFlightSlot::try_take(&in_flight, 2).unwrap();
        let second = InFlightSlot::try_take(&in_flight, 2).unwrap();
        assert!(InFlightSlot::try_take(&in_flight, 2).is_none());
        assert_eq!(in_flight.load(Ordering::Acquire), 2);
        drop(first);
        let third = InFlightSlot::try_take(&in_flight, 2).unwrap();
        drop((second, third));
        assert_eq!(in_flight.load(Ordering::Acquire), 0);
    }
}

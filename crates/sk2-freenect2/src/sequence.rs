//! Turning the device's 32-bit counters into the protocol's 64-bit ones, and the sensor id.

/// The largest forward jump of the device's frame counter taken as frames really lost: one
/// minute at 30 fps. A bigger jump (or a step backwards) means the counter was reset, not that
/// frames were lost, so the sequence then just moves on by one instead of inventing a huge gap.
pub const MAX_PLAUSIBLE_SEQUENCE_GAP: u32 = 30 * 60;

/// Maps libfreenect2's per-frame `sequence` and `timestamp` (both `u32`, wrapping) onto
/// [`sk2_proto::CapturedFrame`]'s `u64` fields: `sequence` starts at 0 with the first frame and
/// grows by the device counter's step, so frames the driver or the listener dropped show up as
/// gaps; `device_timestamp` is the device's ticks (0.125 ms) unwrapped past 2^32.
#[derive(Debug, Default, Clone)]
pub struct SequenceTracker {
    last: Option<(u32, u32)>,
    sequence: u64,
    timestamp: u64,
}

impl SequenceTracker {
    /// A tracker that has seen no frame.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes the next frame's device counters; returns `(sequence, device_timestamp)`.
    pub fn next(&mut self, device_sequence: u32, device_timestamp: u32) -> (u64, u64) {
        match self.last {
            None => {
                self.sequence = 0;
                self.timestamp = u64::from(device_timestamp);
            }
            Some((last_sequence, last_timestamp)) => {
                let step = device_sequence.wrapping_sub(last_sequence);
                let step = if (1..=MAX_PLAUSIBLE_SEQUENCE_GAP).contains(&step) {
                    step
                } else {
                    1
                };
                self.sequence += u64::from(step);
                // Timestamps only move forward; a wrap of the u32 is a forward step.
                self.timestamp += u64::from(device_timestamp.wrapping_sub(last_timestamp));
            }
        }
        self.last = Some((device_sequence, device_timestamp));
        (self.sequence, self.timestamp)
    }

    /// How many frames the device numbered but this tracker never saw, so far.
    pub fn gaps(&self, frames_seen: u64) -> u64 {
        match self.last {
            None => 0,
            Some(_) => (self.sequence + 1).saturating_sub(frames_seen),
        }
    }
}

/// The protocol id of the Kinect v2 with this serial: 32 lowercase hex digits, like the ids the
/// original server gives its sensors, and stable across restarts and hosts so that clients can
/// remember a device. It is the 128-bit FNV-1a hash of `"libfreenect2:" + serial`.
pub fn sensor_id(serial: &str) -> String {
    let hash = fnv1a_128(b"libfreenect2:".iter().chain(serial.as_bytes()).copied());
    format!("{hash:032x}")
}

/// 128-bit FNV-1a (<http://www.isthe.com/chongo/tech/comp/fnv/>): tiny, stable, well known.
fn fnv1a_128(bytes: impl Iterator<Item = u8>) -> u128 {
    const FNV_OFFSET: u128 = 0x6c62272e07bb014262b821756295c58d;
    const FNV_PRIME: u128 = 0x0000000001000000000000000000013b;
    bytes.fold(FNV_OFFSET, |hash, byte| {
        (hash ^ u128::from(byte)).wrapping_mul(FNV_PRIME)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_starts_at_zero_and_follows_the_device_counter_across_its_wrap() {
        let mut tracker = SequenceTracker::new();
        assert_eq!(tracker.next(u32::MAX - 1, 100), (0, 100));
        assert_eq!(tracker.next(u32::MAX, 367), (1, 367));
        // The device counter wraps; two frames were lost on the way (0 and 1).
        assert_eq!(tracker.next(2, 1167), (4, 1167));
        assert_eq!(tracker.gaps(3), 2);
    }

    #[test]
    fn timestamps_unwrap_past_u32() {
        let mut tracker = SequenceTracker::new();
        tracker.next(0, u32::MAX - 10);
        assert_eq!(tracker.next(1, 256).1, u64::from(u32::MAX) + 257);
    }

    #[test]
    fn a_counter_reset_moves_on_by_one_instead_of_inventing_a_gap() {
        let mut tracker = SequenceTracker::new();
        tracker.next(5000, 0);
        assert_eq!(tracker.next(3, 267).0, 1);
        assert_eq!(tracker.next(3 + MAX_PLAUSIBLE_SEQUENCE_GAP + 1, 534).0, 2);
        assert_eq!(tracker.next(3 + MAX_PLAUSIBLE_SEQUENCE_GAP + 1, 800).0, 3);
        assert_eq!(tracker.gaps(4), 0);
    }

    #[test]
    fn sensor_ids_are_32_hex_digits_stable_and_distinct() {
        let id = sensor_id("003943241347");
        assert_eq!(id.len(), 32);
        assert!(id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
        assert_eq!(id, sensor_id("003943241347"));
        assert_ne!(id, sensor_id("003943241348"));
        // Pinned, so that a change of the hash (which would rename every device) fails a test.
        assert_eq!(id, "1d12e97f7df50f8a6ab82ae755601ada");
    }

    #[test]
    fn fnv1a_128_matches_the_published_test_vectors() {
        assert_eq!(fnv1a_128("".bytes()), 0x6c62272e07bb014262b821756295c58d);
        assert_eq!(fnv1a_128("a".bytes()), 0xd228cb696f1a8caf78912b704e4a8964);
    }
}

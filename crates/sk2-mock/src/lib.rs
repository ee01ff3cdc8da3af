//! Simulated depth sensors for streamkinect2: no hardware needed for tests, demos and benchmarks.
//!
//! * [`MockKinect`]: the original's mock picture (a wall and a sphere that swings left and right,
//!   docs/protocol.md and the reference, section 6) in [`MockMode::Plain`], or, in
//!   [`MockMode::Realistic`], a room with sensor-like noise that grows with distance, holes of `0`
//!   and far values up to 8000 mm, so codecs and the lossy 12-bit path are exercised honestly.
//! * [`ReplaySensor`]: plays a directory of recorded `.u16` frames in a loop.
//! * [`RecordingSensor`]: plays a sensor of an MCAP recording made by `kinect-record`, at its
//!   recorded pace (or faster, or in a loop), with its recorded sequence numbers and gaps.
//!
//! Both implement [`sk2_proto::Sensor`]: each runs one capture thread that produces frames at a
//! chosen rate (or as fast as it can) and hands them to the sink. The sink is called on that thread
//! and must return at once; the sensor never waits for a consumer.
//!
//! Mock frames are pure functions of `(config, sequence)`: [`MockKinect::frame`] gives the exact
//! frame a running mock delivers with that sequence number, so tests can check every pixel.
//!
//! ```
//! use sk2_mock::{MockConfig, MockKinect};
//! use sk2_proto::Sensor;
//!
//! let mock = MockKinect::new(MockConfig::default());
//! assert_eq!(mock.id().len(), 32);
//! let first = mock.frame(0);
//! assert_eq!((first.width(), first.height()), (512, 424));
//! ```

mod capture;
mod mock;
mod recording;
mod replay;

pub use mock::{MockConfig, MockKinect, MockMode, ParseMockModeError};
pub use recording::{PlaybackConfig, RecordedSensor, RecordingSensor};
pub use replay::{ReplayError, ReplaySensor, MAX_REPLAY_BYTES};

/// The mock's default frame rate: the Kinect v2 depth camera runs at 30 fps.
pub const DEFAULT_FPS: f64 = 30.0;

/// A new random sensor id: 32 lowercase hex characters (128 bits), as the original uses.
///
/// Random rather than derived from the seed: two mocks with the same seed (the same pictures) must
/// still be two devices to a client.
pub fn random_id() -> String {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    // RandomState is seeded from the OS once per thread and then incremented; mixing in a process
    // counter and the time keeps two ids from one thread apart even so.
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut halves = [0u64; 2];
    for (i, half) in halves.iter_mut().enumerate() {
        let mut hasher = RandomState::new().build_hasher();
        hasher.write_u64(count);
        hasher.write_u64(sk2_proto::sensor::unix_time_ns());
        hasher.write_usize(i);
        *half = hasher.finish();
    }
    format!("{:016x}{:016x}", halves[0], halves[1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_32_lowercase_hex_and_unique() {
        let ids: std::collections::HashSet<String> = (0..1000).map(|_| random_id()).collect();
        assert_eq!(ids.len(), 1000);
        for id in &ids {
            assert_eq!(id.len(), 32);
            assert!(id
                .chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)));
        }
    }
}

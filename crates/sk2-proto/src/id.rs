//! Random identifiers, as the original makes them: 32 lowercase hex digits (128 bits), for sensor
//! ids and default server names (`Kinect <32 hex digits>`).

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

/// A new random id: 32 lowercase hex digits.
///
/// The randomness is the standard library's per-process hash keys (seeded from the operating
/// system), mixed with a process counter and the clock, so two ids made one after the other on the
/// same thread still differ. Not for secrets: only for names that must not collide.
pub fn random_hex_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut halves = [0u64; 2];
    for (i, half) in halves.iter_mut().enumerate() {
        let mut hasher = RandomState::new().build_hasher();
        hasher.write_u64(count);
        hasher.write_u64(crate::sensor::unix_time_ns());
        hasher.write_usize(i);
        *half = hasher.finish();
    }
    format!("{:016x}{:016x}", halves[0], halves[1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_32_lowercase_hex_digits_and_unique() {
        let ids: std::collections::HashSet<String> = (0..1000).map(|_| random_hex_id()).collect();
        assert_eq!(ids.len(), 1000);
        for id in &ids {
            assert_eq!(id.len(), 32);
            assert!(id
                .chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)));
        }
    }
}

//! Random identifiers, as the original makes them: 32 lowercase hex digits (128 bits), for sensor
//! ids (and the original's default server names, `Kinect <32 hex digits>`), and their short form
//! for places with little room.

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

/// Hex digits an id is cut to where room is short (tables, lists, log lines): 32 bits, enough to
/// tell apart the few sensors one person sees.
pub const SHORT_ID_LEN: usize = 8;

/// The first [`SHORT_ID_LEN`] characters of `id` (all of it when shorter), for tables, lists and
/// log lines; full ids stay in JSON output and APIs. Cut on a character boundary, so any text id
/// works.
///
/// ```
/// assert_eq!(sk2_proto::id::short_id("b7ce2bfbd0dd4aa64f68ba0fb890afd8"), "b7ce2bfb");
/// assert_eq!(sk2_proto::id::short_id("cam0"), "cam0");
/// ```
pub fn short_id(id: &str) -> &str {
    match id.char_indices().nth(SHORT_ID_LEN) {
        Some((end, _)) => &id[..end],
        None => id,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_ids_are_the_first_eight_characters() {
        assert_eq!(short_id("0123456789abcdef"), "01234567");
        assert_eq!(short_id("01234567"), "01234567");
        assert_eq!(short_id(""), "");
        assert_eq!(
            short_id("\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}"),
            "\u{e9}".repeat(8)
        );
    }

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

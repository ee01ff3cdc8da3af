//! The latency histogram that subscribers ship to the orchestrator: an HDR histogram
//! (`hdrhistogram`) with the exact maximum beside it.
//!
//! Every subscriber process records one value per frame. Shipping every sample from 100
//! subscribers would work, but a histogram is bounded whatever the run length, and merging
//! histograms gives the pooled percentiles across subscribers exactly as if the samples had been
//! pooled (up to the bucket width).
//!
//! Values are kept to [`SIGNIFICANT_DIGITS`] significant decimal digits: a reported quantile is the
//! lower bound of its bucket, at most 1/128 (0.8 %) below the truth, finer than run-to-run noise.
//! On the wire (one JSON line per subscriber) a histogram is its non-empty buckets as
//! `[value, count]` pairs, so its size follows the spread of the values, not the range.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Significant decimal digits kept: 2 gives buckets 1/128 of their value wide. Recording costs
/// ~10 ns and the counts ~37 KiB per histogram, whatever the number of values.
pub const SIGNIFICANT_DIGITS: u8 = 2;
/// The largest value recorded as itself (one hour in nanoseconds); larger values count as this.
/// The exact maximum is kept apart, so `max` is right even then.
pub const HIGHEST_TRACKABLE: u64 = 3_600_000_000_000;

/// Counts of values (nanoseconds, in this crate) in buckets of [`SIGNIFICANT_DIGITS`] digits.
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    counts: hdrhistogram::Histogram<u64>,
    max: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self::new()
    }
}

impl Histogram {
    /// An empty histogram.
    pub fn new() -> Self {
        // Cannot fail: the bounds are constants that satisfy 1 <= low, 2 * low <= high, and
        // digits <= 5.
        let counts =
            hdrhistogram::Histogram::new_with_bounds(1, HIGHEST_TRACKABLE, SIGNIFICANT_DIGITS)
                .unwrap();
        Self { counts, max: 0 }
    }

    /// Records one value.
    pub fn record(&mut self, value: u64) {
        self.counts.saturating_record(value);
        self.max = self.max.max(value);
    }

    /// Adds every value of `other`.
    pub fn merge(&mut self, other: &Histogram) {
        // Cannot fail: both have the same bounds, so every value of `other` fits.
        self.counts.add(&other.counts).unwrap();
        self.max = self.max.max(other.max);
    }

    /// Number of values recorded.
    pub fn count(&self) -> u64 {
        self.counts.len()
    }

    /// The largest value recorded, exactly (0 when empty).
    pub fn max(&self) -> u64 {
        self.max
    }

    /// The value at quantile `q` in `0.0..=1.0` (lower bound of its bucket), or `None` when empty:
    /// the smallest value with at least `q` of all values at or below it.
    pub fn quantile(&self, q: f64) -> Option<u64> {
        if self.counts.is_empty() {
            return None;
        }
        let value = self.counts.value_at_quantile(q.clamp(0.0, 1.0));
        Some(self.counts.lowest_equivalent(value).min(self.max))
    }
}

/// The wire form: non-empty buckets as `(a value in the bucket, count)`, and the exact maximum.
#[derive(Serialize, Deserialize)]
struct Wire {
    buckets: Vec<(u64, u64)>,
    max: u64,
}

impl Serialize for Histogram {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let buckets = self
            .counts
            .iter_recorded()
            .map(|bucket| (bucket.value_iterated_to(), bucket.count_at_value()))
            .collect();
        Wire {
            buckets,
            max: self.max,
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Histogram {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let wire = Wire::deserialize(deserializer)?;
        let mut histogram = Histogram::new();
        for (value, count) in wire.buckets {
            histogram.counts.saturating_record_n(value, count);
        }
        histogram.max = wire.max;
        Ok(histogram)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_quantile_is_within_one_hundred_twenty_eighth_below_the_value() {
        let mut value = 1u64;
        while value < 1 << 40 {
            for v in [value, value + 1, value * 3 / 2] {
                let mut histogram = Histogram::new();
                histogram.record(v);
                let low = histogram.quantile(0.5).unwrap();
                assert!(low <= v, "{v}: bound {low}");
                assert!((v - low) as f64 <= v as f64 / 128.0, "{v}: bound {low}");
            }
            value = value * 2 + 1;
        }
        // Small values are exact.
        for v in 0..=128 {
            let mut histogram = Histogram::new();
            histogram.record(v);
            assert_eq!(histogram.quantile(1.0), Some(v));
        }
    }

    #[test]
    fn quantiles_of_one_to_a_thousand_are_the_expected_ranks() {
        let mut histogram = Histogram::new();
        for v in (1..=1000).rev() {
            histogram.record(v * 1000);
        }
        let p50 = histogram.quantile(0.5).unwrap();
        assert!((496_000..=500_000).contains(&p50), "{p50}");
        let p99 = histogram.quantile(0.99).unwrap();
        assert!((982_000..=990_000).contains(&p99), "{p99}");
        assert_eq!(histogram.max(), 1_000_000);
        assert_eq!(histogram.count(), 1000);
        assert_eq!(Histogram::new().quantile(0.5), None);
    }

    #[test]
    fn a_value_past_the_range_counts_at_the_top_and_keeps_its_exact_maximum() {
        let mut histogram = Histogram::new();
        histogram.record(u64::MAX);
        assert_eq!(histogram.count(), 1);
        assert_eq!(histogram.max(), u64::MAX);
        let top = histogram.quantile(1.0).unwrap();
        let top_bucket = HIGHEST_TRACKABLE / 128 * 127..=HIGHEST_TRACKABLE;
        assert!(top_bucket.contains(&top), "{top}");
    }

    #[test]
    fn merging_equals_recording_everything_in_one() {
        let (mut a, mut b, mut all) = (Histogram::new(), Histogram::new(), Histogram::new());
        for v in 0..5000u64 {
            let value = v * v % 100_003;
            if v % 3 == 0 { &mut a } else { &mut b }.record(value);
            all.record(value);
        }
        a.merge(&b);
        assert_eq!(a, all);
        let json = serde_json::to_string(&a).unwrap();
        let back = serde_json::from_str::<Histogram>(&json).unwrap();
        assert_eq!(back, all);
        for q in [0.0, 0.5, 0.9, 0.99, 1.0] {
            assert_eq!(back.quantile(q), all.quantile(q), "{q}");
        }
    }
}

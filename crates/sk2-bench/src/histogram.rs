//! A compact log-linear latency histogram that subscribers ship to the orchestrator.
//!
//! Every subscriber process records one value per frame. Shipping every sample from 100
//! subscribers would work, but a histogram is bounded whatever the run length, and merging
//! histograms gives the pooled percentiles across subscribers exactly as if the samples had been
//! pooled (up to the bucket width).
//!
//! Values below [`LINEAR_LIMIT`] get one bucket each; above, each power of two is cut into
//! [`SUB_BUCKETS`] equal buckets, so a reported value is at most 1/64 (1.6 %) below the truth.

use serde::{Deserialize, Serialize};

/// Sub-buckets per power of two: a relative resolution of 1/64, finer than run-to-run noise.
pub const SUB_BUCKETS: u64 = 64;
/// Values below this get one bucket each (exact).
pub const LINEAR_LIMIT: u64 = 2 * SUB_BUCKETS;

/// Counts of values (nanoseconds, in this crate) in log-linear buckets.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Histogram {
    /// `(bucket index, count)` pairs with a non-zero count, sorted by index.
    buckets: Vec<(u32, u64)>,
    count: u64,
    max: u64,
}

/// The bucket a value falls in.
fn bucket_of(value: u64) -> u32 {
    if value < LINEAR_LIMIT {
        return value as u32;
    }
    let msb = 63 - value.leading_zeros(); // >= 7 since value >= 128
    let shift = msb - 6; // keep the top 7 bits: mantissa in 64..128
    let mantissa = value >> shift; // 64..=127
    (LINEAR_LIMIT + u64::from(shift - 1) * SUB_BUCKETS + (mantissa - SUB_BUCKETS)) as u32
}

/// The smallest value of a bucket.
fn lower_bound(bucket: u32) -> u64 {
    let bucket = u64::from(bucket);
    if bucket < LINEAR_LIMIT {
        return bucket;
    }
    let shift = (bucket - LINEAR_LIMIT) / SUB_BUCKETS + 1;
    let mantissa = (bucket - LINEAR_LIMIT) % SUB_BUCKETS + SUB_BUCKETS;
    mantissa << shift
}

impl Histogram {
    /// An empty histogram.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records one value.
    pub fn record(&mut self, value: u64) {
        let bucket = bucket_of(value);
        match self.buckets.binary_search_by_key(&bucket, |&(b, _)| b) {
            Ok(at) => self.buckets[at].1 += 1,
            Err(at) => self.buckets.insert(at, (bucket, 1)),
        }
        self.count += 1;
        self.max = self.max.max(value);
    }

    /// Adds every value of `other`.
    pub fn merge(&mut self, other: &Histogram) {
        for &(bucket, count) in &other.buckets {
            match self.buckets.binary_search_by_key(&bucket, |&(b, _)| b) {
                Ok(at) => self.buckets[at].1 += count,
                Err(at) => self.buckets.insert(at, (bucket, count)),
            }
        }
        self.count += other.count;
        self.max = self.max.max(other.max);
    }

    /// Number of values recorded.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The largest value recorded, exactly (0 when empty).
    pub fn max(&self) -> u64 {
        self.max
    }

    /// The value at quantile `q` in `0.0..=1.0` (lower bound of its bucket), or `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<u64> {
        if self.count == 0 {
            return None;
        }
        // The rank of the wanted value, 1-based: the smallest value with at least q of all values
        // at or below it.
        let rank = ((q.clamp(0.0, 1.0) * self.count as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for &(bucket, count) in &self.buckets {
            seen += count;
            if seen >= rank {
                return Some(lower_bound(bucket).min(self.max));
            }
        }
        Some(self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_lands_in_a_bucket_whose_bound_is_within_one_sixty_fourth() {
        let mut value = 1u64;
        while value < 1 << 40 {
            for v in [value, value + 1, value * 3 / 2] {
                let low = lower_bound(bucket_of(v));
                assert!(low <= v, "{v}: bound {low}");
                assert!((v - low) as f64 <= v as f64 / 64.0, "{v}: bound {low}");
                // Buckets are monotonic: the next bucket starts above the value.
                assert!(lower_bound(bucket_of(v) + 1) > v);
            }
            value = value * 2 + 1;
        }
        assert_eq!(bucket_of(127), 127);
        assert_eq!(lower_bound(bucket_of(128)), 128);
    }

    #[test]
    fn quantiles_of_one_to_a_thousand_are_the_expected_ranks() {
        let mut histogram = Histogram::new();
        for v in (1..=1000).rev() {
            histogram.record(v * 1000);
        }
        let p50 = histogram.quantile(0.5).unwrap();
        assert!((492_000..=500_000).contains(&p50), "{p50}");
        let p99 = histogram.quantile(0.99).unwrap();
        assert!((975_000..=990_000).contains(&p99), "{p99}");
        assert_eq!(histogram.max(), 1_000_000);
        assert_eq!(histogram.count(), 1000);
        assert_eq!(Histogram::new().quantile(0.5), None);
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
        assert_eq!(serde_json::from_str::<Histogram>(&json).unwrap(), all);
    }
}

//! Counting and logging the peers CurveZMQ refuses: at most one line per address per
//! [`UNAUTHORISED_LOG_INTERVAL`], with a bounded memory of addresses.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::time::Instant;

use super::guard::Guard;
use super::limits::UNAUTHORISED_LOG_INTERVAL;

/// Addresses remembered for rate-limiting. A flood from more addresses than this within one
/// interval logs nothing new for the others until the oldest expire (all are still counted).
const REMEMBERED_ADDRESSES: usize = 4096;

/// When each address was last logged.
#[derive(Debug, Default)]
pub(super) struct UnauthorisedLog {
    last_logged: HashMap<Option<IpAddr>, Instant>,
}

impl UnauthorisedLog {
    /// Counts a refused peer of `guard` from `peer` (`None`: its address was not known) and logs
    /// it unless its address was logged within the interval.
    pub(super) fn refused(&mut self, guard: &Guard, peer: Option<IpAddr>, why: &str) {
        let total = guard.counters.unauthorised.fetch_add(1, Ordering::Relaxed) + 1;
        if self.should_log(peer, Instant::now()) {
            tracing::warn!(
                role = guard.role,
                peer = %peer.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string()),
                unauthorised_so_far = total,
                "peer refused by CurveZMQ: {why} (logged once a minute per address)"
            );
        }
    }

    fn should_log(&mut self, peer: Option<IpAddr>, now: Instant) -> bool {
        let fresh = |last: &Instant| now.duration_since(*last) < UNAUTHORISED_LOG_INTERVAL;
        if self.last_logged.get(&peer).is_some_and(fresh) {
            return false;
        }
        if self.last_logged.len() >= REMEMBERED_ADDRESSES {
            self.last_logged.retain(|_, last| fresh(last));
            if self.last_logged.len() >= REMEMBERED_ADDRESSES {
                return false;
            }
        }
        self.last_logged.insert(peer, now);
        true
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn each_address_is_logged_at_most_once_per_interval_and_memory_stays_bounded() {
        let mut log = UnauthorisedLog::default();
        let start = Instant::now();
        let a = Some("10.0.0.1".parse().unwrap());
        let b = Some("10.0.0.2".parse().unwrap());
        assert!(log.should_log(a, start));
        assert!(!log.should_log(a, start + Duration::from_secs(30)));
        assert!(log.should_log(b, start + Duration::from_secs(30)));
        assert!(log.should_log(a, start + UNAUTHORISED_LOG_INTERVAL));
        for i in 0..(REMEMBERED_ADDRESSES as u32 * 2) {
            let peer = Some(IpAddr::from(i.to_be_bytes()));
            log.should_log(peer, start + UNAUTHORISED_LOG_INTERVAL);
        }
        assert!(log.last_logged.len() <= REMEMBERED_ADDRESSES);
    }
}

//! The gatekeeper's limits: the caps of a guarded socket, the counters of the peers it refused
//! or evicted, and the times that bound a handshake, an eviction and the logging of refusals.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

/// Time a new peer has to complete the ZMTP handshake on a guarded socket before libzmq closes
/// its connection (libzmq's default is 30 s). A connection counts against the limit from the
/// moment it is accepted, so this is how long a peer that connects and sends nothing can hold a
/// slot. A real handshake takes a few round trips: milliseconds, even on Wi-Fi.
pub(crate) const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a peer must have been idle (sent and acknowledged nothing) before a newcomer may take
/// its slot. A real client completes its handshake within milliseconds and a subscriber
/// acknowledges a frame every 33 ms at 30 fps, so only peers that are truly idle qualify; and
/// peers that were just admitted cannot be evicted by the next newcomer, so a socket full of
/// active peers refuses newcomers rather than churning.
pub(crate) const EVICTABLE_IDLE: Duration = Duration::from_secs(1);

/// At most one log line per guarded socket in this interval about refused peers.
pub(super) const REFUSAL_LOG_INTERVAL: Duration = Duration::from_secs(5);

/// At most one log line per source address in this interval about unauthorised peers (a client
/// with the wrong keys retries every few hundred milliseconds).
pub(super) const UNAUTHORISED_LOG_INTERVAL: Duration = Duration::from_secs(60);

/// Counters of one guarded socket (or of several: the two depth endpoints of a sensor share).
#[derive(Debug, Clone, Default)]
pub(crate) struct PeerCounters {
    /// Peers refused during the handshake, or closed at once because their address was full.
    pub(crate) refused: Arc<AtomicU64>,
    /// Idle peers closed to make room for a newcomer.
    pub(crate) evicted: Arc<AtomicU64>,
    /// Peers refused by CurveZMQ: no CURVE, the wrong server key, or a client key not authorised.
    pub(crate) unauthorised: Arc<AtomicU64>,
}

/// The caps of one guarded socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Caps {
    /// Most connections in all.
    pub(crate) limit: usize,
    /// Most connections from one source address.
    pub(crate) per_address: usize,
}

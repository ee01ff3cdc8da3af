//! The peer table of one guarded socket: its connections, the caps it keeps, and the choice of
//! the connection to close when a newcomer needs room (module docs of [`super`]).

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::time::Instant;

use super::limits::{Caps, PeerCounters, EVICTABLE_IDLE, REFUSAL_LOG_INTERVAL};
use crate::connection::{Connection, Ends};
use crate::security::AuthorizedClients;

/// One guarded socket, as the gatekeeper thread sees it.
pub(super) struct Guard {
    pub(super) domain: String,
    pub(super) role: &'static str,
    pub(super) caps: Caps,
    /// Reads the socket's monitor events.
    pub(super) monitor: zmq::Socket,
    /// The socket's TCP connections now open, by descriptor, with their ends when known (`None`:
    /// the connection was already gone when its `ACCEPTED` event was read).
    pub(super) connected: BTreeMap<u32, Option<Ends>>,
    /// Connections the gatekeeper shut down whose `DISCONNECTED` has not come yet: not counted.
    pub(super) closing: BTreeSet<u32>,
    pub(super) counters: PeerCounters,
    pub(super) last_refusal_log: Option<Instant>,
    pub(super) last_eviction_log: Option<Instant>,
    /// On a secure server with a list of authorised clients: their public keys.
    pub(super) authorized_clients: Option<AuthorizedClients>,
    /// Failed CURVE handshakes reported whose `DISCONNECTED` has not come yet.
    pub(super) failed_handshakes: u32,
}

/// The address a peer is counted under: IPv4 peers of a dual-stack socket as IPv4.
fn source(ends: &Ends) -> IpAddr {
    ends.peer.ip().to_canonical()
}

impl Guard {
    /// Connections now counted: open, and not being closed by the gatekeeper.
    pub(super) fn counted(&self) -> usize {
        self.connected.len().saturating_sub(self.closing.len())
    }

    /// Connections now counted from `address`.
    pub(super) fn held_by(&self, address: IpAddr) -> usize {
        self.connected
            .iter()
            .filter(|(fd, ends)| {
                !self.closing.contains(fd) && ends.is_some_and(|ends| source(&ends) == address)
            })
            .count()
    }

    /// Records a new connection and keeps the caps (module docs).
    pub(super) fn accepted(&mut self, fd: u32, listener_port: Option<u16>) {
        // Ends on another port than the listener's: the number already names another socket.
        let ends = Connection::open(fd)
            .map(|(_, ends)| ends)
            .filter(|ends| listener_port.map_or(true, |port| ends.local.port() == port));
        self.closing.remove(&fd);
        self.connected.insert(fd, ends);
        let Some(ends) = ends else {
            return;
        };
        let address = source(&ends);
        if self.held_by(address) > self.caps.per_address {
            match self.longest_idle(Some(address)) {
                Some(victim) => self.evict(victim, "its address holds as many peers as it may"),
                None => self.close_newcomer(fd, ends),
            }
        } else if self.counted() > self.caps.limit {
            // If nobody is idle, the newcomer goes on to its handshake and is refused there.
            if let Some(victim) = self.longest_idle(None) {
                self.evict(victim, "the socket is full");
            }
        }
    }

    /// The connection to close to make room: one idle for at least [`EVICTABLE_IDLE`], from
    /// `address` if given, else from the address holding the most connections, the longest-idle
    /// first. `None` if no connection qualifies.
    fn longest_idle(&self, address: Option<IpAddr>) -> Option<(u32, Ends)> {
        let mut holdings: BTreeMap<IpAddr, usize> = BTreeMap::new();
        for (fd, ends) in &self.connected {
            if let (false, Some(ends)) = (self.closing.contains(fd), ends) {
                *holdings.entry(source(ends)).or_default() += 1;
            }
        }
        self.connected
            .iter()
            .filter(|(fd, _)| !self.closing.contains(fd))
            .filter_map(|(&fd, ends)| ends.map(|ends| (fd, ends)))
            .filter(|(_, ends)| address.map_or(true, |address| source(ends) == address))
            .filter_map(|(fd, ends)| {
                let idle = Connection::inspect(fd, ends)?.idle()?;
                (idle >= EVICTABLE_IDLE).then_some(((holdings[&source(&ends)], idle), (fd, ends)))
            })
            .max_by_key(|(rank, _)| *rank)
            .map(|(_, victim)| victim)
    }

    /// Shuts down connection `fd` if it still has `ends`; true if it did.
    fn shut_down(&mut self, fd: u32, ends: Ends) -> bool {
        let done = Connection::inspect(fd, ends).is_some_and(|connection| connection.shut_down());
        if done {
            self.closing.insert(fd);
        }
        done
    }

    fn evict(&mut self, (fd, ends): (u32, Ends), why: &str) {
        if !self.shut_down(fd, ends) {
            return;
        }
        let total = self.counters.evicted.fetch_add(1, Ordering::Relaxed) + 1;
        if should_log(&mut self.last_eviction_log) {
            tracing::info!(
                role = self.role,
                peer = %ends.peer,
                evicted_so_far = total,
                "idle peer closed to make room for a newcomer: {why}"
            );
        }
    }

    fn close_newcomer(&mut self, fd: u32, ends: Ends) {
        if self.shut_down(fd, ends) {
            self.refused(
                &ends.peer.ip().to_string(),
                "its address holds as many peers as it may",
            );
        }
    }

    /// Counts a refusal and logs it (at most once per [`REFUSAL_LOG_INTERVAL`]).
    pub(super) fn refused(&mut self, peer: &str, why: &str) {
        let total = self.counters.refused.fetch_add(1, Ordering::Relaxed) + 1;
        if should_log(&mut self.last_refusal_log) {
            tracing::warn!(
                role = self.role,
                limit = self.caps.limit,
                per_address = self.caps.per_address,
                peer,
                refused_so_far = total,
                "peer refused: {why}"
            );
        }
    }
}

/// True (and `last` set to now) if no line was logged in the last [`REFUSAL_LOG_INTERVAL`].
fn should_log(last: &mut Option<Instant>) -> bool {
    let now = Instant::now();
    if last.is_some_and(|last| now.duration_since(last) < REFUSAL_LOG_INTERVAL) {
        return false;
    }
    *last = Some(now);
    true
}

/// A guard with caps `limit` and `per_address` and connections `fd -> ends` (none of them
/// real descriptors: nothing is evicted).
#[cfg(test)]
pub(super) fn guard_with(
    limit: usize,
    per_address: usize,
    connected: &[(u32, Option<Ends>)],
) -> (
    BTreeMap<String, Guard>,
    std::sync::Arc<std::sync::atomic::AtomicU64>,
) {
    let context = zmq::Context::new();
    let counters = PeerCounters::default();
    let refused = std::sync::Arc::clone(&counters.refused);
    let guard = Guard {
        domain: "d".into(),
        role: "depth",
        caps: Caps { limit, per_address },
        monitor: context.socket(zmq::PAIR).unwrap(),
        connected: connected.iter().copied().collect(),
        closing: BTreeSet::new(),
        counters,
        last_refusal_log: None,
        last_eviction_log: None,
        authorized_clients: None,
        failed_handshakes: 0,
    };
    (BTreeMap::from([("d".to_owned(), guard)]), refused)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn the_victim_is_the_longest_idle_connection_of_the_address_holding_the_most() {
        use std::net::{TcpListener, TcpStream};
        use std::os::fd::AsRawFd;
        // Real connections: two from 127.0.0.1 idle for a while, one fresh from the same address.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let accept = || {
            let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
            let (server, _) = listener.accept().unwrap();
            (client, server)
        };
        let (_c1, old) = accept();
        std::thread::sleep(Duration::from_millis(300));
        let (_c2, younger) = accept();
        std::thread::sleep(EVICTABLE_IDLE);
        let (_c3, fresh) = accept();
        let fd = |s: &TcpStream| u32::try_from(s.as_raw_fd()).unwrap();
        let tracked = |s: &TcpStream| {
            (
                fd(s),
                Some(Ends {
                    local: s.local_addr().unwrap(),
                    peer: s.peer_addr().unwrap(),
                }),
            )
        };
        let (mut guards, _) =
            guard_with(3, 3, &[tracked(&old), tracked(&younger), tracked(&fresh)]);
        let guard = guards.get_mut("d").unwrap();
        let victim = guard.longest_idle(None).expect("two idle connections");
        assert_eq!(victim.0, fd(&old));
        // Once it is being closed, the next longest-idle; the fresh one never qualifies.
        guard.closing.insert(fd(&old));
        assert_eq!(guard.longest_idle(None).unwrap().0, fd(&younger));
        guard.closing.insert(fd(&younger));
        assert!(guard.longest_idle(None).is_none());
        // Another address's connections are not candidates when an address is named.
        guard.closing.clear();
        assert!(guard
            .longest_idle(Some("127.0.0.2".parse().unwrap()))
            .is_none());
    }
}

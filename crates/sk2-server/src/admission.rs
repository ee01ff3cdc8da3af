//! Admission control: fair caps on the peers connected to each server socket.
//!
//! Each guarded socket has two caps: at most `limit` connections in all, and at most
//! `per_address` from any one source address. Both count every TCP connection, from the moment it
//! is accepted, whether or not the peer has spoken yet. They are kept fairly (docs/reliability.md,
//! "Fair admission"):
//!
//! - a connection from an address that already holds `per_address` connections replaces that
//!   address's longest-idle connection if one has been idle for [`EVICTABLE_IDLE`]; otherwise it
//!   is closed at once, before the handshake. One address cannot take more than its share, and
//!   a flood of connections from it costs the server a descriptor for microseconds each;
//! - a connection that finds the socket full replaces the longest-idle connection (idle for at
//!   least [`EVICTABLE_IDLE`]) of the address holding the most connections. If every peer is
//!   active, the newcomer is refused during its handshake, as protocol.md 7.1 describes.
//!
//! So idle and silent peers hold a slot only until someone needs it and they have been idle for a
//! second, and a peer that never speaks is closed by the handshake timeout in any case. Idleness
//! is the kernel's (time since the peer last sent or acknowledged data), and a connection is
//! closed with `shutdown(2)` on a checked duplicate of its descriptor, so that libzmq ends it as
//! it ends any connection the network closes (see [`crate::connection`]).
//!
//! libzmq has no per-socket connection limit, but it has two hooks that together make one:
//!
//! - a **socket monitor** reports every TCP connection the socket accepts (`ACCEPTED`, with the
//!   file descriptor) and every one that ends (`DISCONNECTED`, same descriptor), so the
//!   gatekeeper knows how many peers each socket has right now;
//! - **ZAP** (ZeroMQ RFC 27): a socket with a ZAP domain asks the handler bound at
//!   `inproc://zeromq.zap.01` of its context to approve each new peer during the ZMTP
//!   handshake, before any message flows. The gatekeeper answers `200` while the socket is
//!   within its limit and `400` past it.
//!
//! ```text
//!   peer --TCP--> guarded socket --ACCEPTED fd / DISCONNECTED fd--> monitor PAIR --+
//!                      |                                                           v
//!                      +--ZAP request (domain, address)--> REP zeromq.zap.01 --> gatekeeper
//!                      <--------------- "200" (admit) or "400" (refuse) ----------- thread
//! ```
//!
//! The `ACCEPTED` event of a connection is queued before its ZAP request exists, and the
//! gatekeeper reads every monitor before it answers, so the connection under review is already
//! counted: it is admitted when both counts are at most their caps. A refused peer gets a ZMTP `ERROR`
//! command and is disconnected; libzmq does not reconnect after that on its own (our client
//! retries with a backoff; an original Python client stays refused until it reconnects).
//!
//! Every guarded socket keeps working if the gatekeeper thread is gone: libzmq then admits peers
//! without asking (ZAP is only enforced when a handler is bound).

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};

use crate::connection::{Connection, Ends};
use crate::thread::ServerThread;
use crate::ServerError;

/// Where libzmq sends ZAP requests (RFC 27): fixed by the library, one handler per context.
const ZAP_ENDPOINT: &str = "inproc://zeromq.zap.01";

/// How often the gatekeeper looks at the shutdown flag and new guards while idle.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// Monitor events one socket may queue before the gatekeeper reads them. Each is a few dozen
/// bytes; a peer opening and closing 1,000 connections makes 2,000. A lost event would leave a
/// count wrong for good, so this is generous rather than tight.
const MONITOR_QUEUE_EVENTS: i32 = 100_000;

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
const REFUSAL_LOG_INTERVAL: Duration = Duration::from_secs(5);

/// The ZAP status of a refused peer: "400 = the client is not authorised" (RFC 27).
const ZAP_REFUSED: &[u8] = b"400";
const ZAP_ADMITTED: &[u8] = b"200";
/// The ZAP status for a request the handler cannot read (RFC 27: internal error).
const ZAP_MALFORMED: &[u8] = b"500";

/// Counters of one guarded socket (or of several: the two depth endpoints of a sensor share).
#[derive(Debug, Clone, Default)]
pub(crate) struct PeerCounters {
    /// Peers refused during the handshake, or closed at once because their address was full.
    pub(crate) refused: Arc<AtomicU64>,
    /// Idle peers closed to make room for a newcomer.
    pub(crate) evicted: Arc<AtomicU64>,
}

/// The caps of one guarded socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Caps {
    /// Most connections in all.
    pub(crate) limit: usize,
    /// Most connections from one source address.
    pub(crate) per_address: usize,
}

/// The thread that admits or refuses peers of every guarded socket of one server.
pub(crate) struct Gatekeeper {
    guards: Sender<Guard>,
    shutdown: Arc<AtomicBool>,
    thread: ServerThread,
    next_id: u64,
}

/// One guarded socket, as the gatekeeper thread sees it.
struct Guard {
    domain: String,
    role: &'static str,
    caps: Caps,
    /// Reads the socket's monitor events.
    monitor: zmq::Socket,
    /// The socket's TCP connections now open, by descriptor, with their ends when known (`None`:
    /// the connection was already gone when its `ACCEPTED` event was read).
    connected: BTreeMap<u32, Option<Ends>>,
    /// Connections the gatekeeper shut down whose `DISCONNECTED` has not come yet: not counted.
    closing: BTreeSet<u32>,
    counters: PeerCounters,
    last_refusal_log: Option<Instant>,
    last_eviction_log: Option<Instant>,
}

impl Gatekeeper {
    /// Binds the ZAP handler of `context` and starts the thread.
    pub(crate) fn start(context: &zmq::Context) -> Result<Self, ServerError> {
        let zap = context.socket(zmq::REP)?;
        zap.set_linger(0)?;
        zap.bind(ZAP_ENDPOINT)?;
        let (guards, new_guards) = crossbeam_channel::unbounded();
        let shutdown = Arc::new(AtomicBool::new(false));
        let stop = Arc::clone(&shutdown);
        let thread = ServerThread::spawn("sk2-admission".into(), move || {
            serve(&zap, &new_guards, &stop);
        })?;
        Ok(Self {
            guards,
            shutdown,
            thread,
            next_id: 0,
        })
    }

    /// Keeps the peers of `socket` within `caps`, counting refusals and evictions in `counters`.
    ///
    /// Call it before `socket` binds: connections accepted earlier would not be counted.
    pub(crate) fn guard(
        &mut self,
        context: &zmq::Context,
        socket: &zmq::Socket,
        role: &'static str,
        caps: Caps,
        counters: PeerCounters,
    ) -> Result<(), ServerError> {
        self.next_id += 1;
        let domain = format!("sk2-{role}-{}", self.next_id);
        let address = format!("inproc://sk2-admission-{}", self.next_id);
        let events = zmq::SocketEvent::ACCEPTED as i32
            | zmq::SocketEvent::DISCONNECTED as i32
            | zmq::SocketEvent::MONITOR_STOPPED as i32;
        socket.monitor(&address, events)?;
        let monitor = context.socket(zmq::PAIR)?;
        monitor.set_linger(0)?;
        monitor.set_rcvhwm(MONITOR_QUEUE_EVENTS)?;
        monitor.connect(&address)?;
        socket.set_zap_domain(&domain)?;
        socket
            .set_handshake_ivl(i32::try_from(HANDSHAKE_TIMEOUT.as_millis()).unwrap_or(i32::MAX))?;
        let guard = Guard {
            domain,
            role,
            caps,
            monitor,
            connected: BTreeMap::new(),
            closing: BTreeSet::new(),
            counters,
            last_refusal_log: None,
            last_eviction_log: None,
        };
        // The thread only ends after `stop`, which takes `self`: the channel is open.
        self.guards
            .send(guard)
            .map_err(|_| ServerError::Thread(std::io::Error::other("gatekeeper thread ended")))
    }

    /// Stops the thread (closing its sockets, so the context can end).
    pub(crate) fn stop(self, timeout: Duration) {
        self.shutdown.store(true, Ordering::Release);
        self.thread.join_within(timeout);
    }
}

/// The gatekeeper thread: answers ZAP requests from what the monitors say.
fn serve(zap: &zmq::Socket, new_guards: &Receiver<Guard>, shutdown: &AtomicBool) {
    let mut guards: BTreeMap<String, Guard> = BTreeMap::new();
    let timeout_ms = i64::try_from(POLL_INTERVAL.as_millis()).unwrap_or(50);
    while !shutdown.load(Ordering::Acquire) {
        let ready = {
            let mut items = Vec::with_capacity(1 + guards.len());
            items.push(zap.as_poll_item(zmq::POLLIN));
            items.extend(guards.values().map(|g| g.monitor.as_poll_item(zmq::POLLIN)));
            match zmq::poll(&mut items, timeout_ms) {
                Ok(ready) => ready,
                Err(zmq::Error::ETERM) => return,
                Err(error) => {
                    tracing::warn!(%error, "admission poll failed");
                    0
                }
            }
        };
        catch_up(&mut guards, new_guards);
        if ready == 0 {
            continue;
        }
        loop {
            match zap.recv_multipart(zmq::DONTWAIT) {
                Ok(request) => {
                    // A guard registered and a monitor event queued just before this request
                    // must count: catch up again (cheap when nothing is waiting).
                    catch_up(&mut guards, new_guards);
                    let reply = answer(&request, &mut guards);
                    if let Err(error) = zap.send_multipart(reply, 0) {
                        tracing::warn!(%error, "cannot answer a ZAP request");
                    }
                }
                Err(zmq::Error::EAGAIN) => break,
                Err(zmq::Error::ETERM) => return,
                Err(error) => {
                    tracing::warn!(%error, "cannot read a ZAP request");
                    break;
                }
            }
        }
    }
}

/// Takes in the guards registered since the last call, then applies every waiting monitor event:
/// what the gatekeeper must know before it answers a ZAP request.
fn catch_up(guards: &mut BTreeMap<String, Guard>, new_guards: &Receiver<Guard>) {
    for guard in new_guards.try_iter() {
        guards.insert(guard.domain.clone(), guard);
    }
    read_monitors(guards);
}

/// Applies every waiting monitor event; forgets the guards of sockets that closed.
fn read_monitors(guards: &mut BTreeMap<String, Guard>) {
    guards.retain(|_, guard| loop {
        let event = match guard.monitor.recv_multipart(zmq::DONTWAIT) {
            Ok(frames) => MonitorEvent::parse(&frames),
            Err(zmq::Error::EAGAIN) => return true,
            Err(_) => return false,
        };
        match event {
            Some(MonitorEvent::Accepted { fd, port }) => guard.accepted(fd, port),
            Some(MonitorEvent::Disconnected(fd)) => {
                guard.connected.remove(&fd);
                guard.closing.remove(&fd);
            }
            Some(MonitorEvent::Stopped) => return false,
            None => {}
        }
    })
}

/// The address a peer is counted under: IPv4 peers of a dual-stack socket as IPv4.
fn source(ends: &Ends) -> IpAddr {
    ends.peer.ip().to_canonical()
}

impl Guard {
    /// Connections now counted: open, and not being closed by the gatekeeper.
    fn counted(&self) -> usize {
        self.connected.len().saturating_sub(self.closing.len())
    }

    /// Connections now counted from `address`.
    fn held_by(&self, address: IpAddr) -> usize {
        self.connected
            .iter()
            .filter(|(fd, ends)| {
                !self.closing.contains(fd) && ends.is_some_and(|ends| source(&ends) == address)
            })
            .count()
    }

    /// Records a new connection and keeps the caps (module docs).
    fn accepted(&mut self, fd: u32, listener_port: Option<u16>) {
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
    fn refused(&mut self, peer: &str, why: &str) {
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

/// A monitor event the gatekeeper acts on.
#[derive(Debug, PartialEq, Eq)]
enum MonitorEvent {
    /// A connection was accepted: its descriptor, and the port of the listener (from the event's
    /// endpoint, `tcp://host:port`).
    Accepted {
        fd: u32,
        port: Option<u16>,
    },
    Disconnected(u32),
    Stopped,
}

impl MonitorEvent {
    /// Parses libzmq's two-frame event: `u16 event id, u32 value` (native byte order) then the
    /// endpoint. Anything else (events not asked for, a malformed message) is `None`.
    fn parse(frames: &[Vec<u8>]) -> Option<Self> {
        let head: &[u8; 6] = frames.first()?.as_slice().try_into().ok()?;
        let event = u16::from_ne_bytes([head[0], head[1]]);
        let value = u32::from_ne_bytes([head[2], head[3], head[4], head[5]]);
        match zmq::SocketEvent::from_raw(event) {
            zmq::SocketEvent::ACCEPTED => {
                let port = frames
                    .get(1)
                    .and_then(|endpoint| std::str::from_utf8(endpoint).ok())
                    .and_then(|endpoint| endpoint.rsplit(':').next())
                    .and_then(|port| port.parse().ok());
                Some(Self::Accepted { fd: value, port })
            }
            zmq::SocketEvent::DISCONNECTED => Some(Self::Disconnected(value)),
            zmq::SocketEvent::MONITOR_STOPPED => Some(Self::Stopped),
            _ => None,
        }
    }
}

/// The ZAP reply to `request` (RFC 27: version, request id, status code, status text, user id,
/// metadata).
fn answer(request: &[Vec<u8>], guards: &mut BTreeMap<String, Guard>) -> Vec<Vec<u8>> {
    let reply = |version: &[u8], id: &[u8], status: &[u8], text: String| {
        vec![
            version.to_vec(),
            id.to_vec(),
            status.to_vec(),
            text.into_bytes(),
            Vec::new(),
            Vec::new(),
        ]
    };
    let [version, id, domain, address, ..] = request else {
        let id = request.get(1).map_or(&[][..], Vec::as_slice);
        return reply(b"1.0", id, ZAP_MALFORMED, "malformed ZAP request".into());
    };
    let Some(guard) = std::str::from_utf8(domain)
        .ok()
        .and_then(|domain| guards.get_mut(domain))
    else {
        // Not a socket we guard (or one already closed): nothing to enforce.
        return reply(version, id, ZAP_ADMITTED, "OK".into());
    };
    // The connection under review was accepted, hence counted, before its request was sent.
    let peer = String::from_utf8_lossy(address).into_owned();
    let peers = guard.counted();
    let from_address = peer
        .parse::<IpAddr>()
        .map_or(0, |ip| guard.held_by(ip.to_canonical()));
    let why = if peers > guard.caps.limit {
        format!("too many peers: {} allows {}", guard.role, guard.caps.limit)
    } else if from_address > guard.caps.per_address {
        format!(
            "too many peers from {peer}: {} allows {} per address",
            guard.role, guard.caps.per_address
        )
    } else {
        return reply(version, id, ZAP_ADMITTED, "OK".into());
    };
    guard.refused(&peer, &why);
    reply(version, id, ZAP_REFUSED, why)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: u16, value: u32) -> Vec<Vec<u8>> {
        let mut head = id.to_ne_bytes().to_vec();
        head.extend_from_slice(&value.to_ne_bytes());
        vec![head, b"tcp://127.0.0.1:5555".to_vec()]
    }

    #[test]
    fn monitor_events_are_parsed_from_libzmq_two_frame_layout() {
        assert_eq!(
            MonitorEvent::parse(&event(0x0020, 17)),
            Some(MonitorEvent::Accepted {
                fd: 17,
                port: Some(5555)
            })
        );
        assert_eq!(
            MonitorEvent::parse(&[event(0x0020, 17)[0].clone()]),
            Some(MonitorEvent::Accepted { fd: 17, port: None })
        );
        assert_eq!(
            MonitorEvent::parse(&event(0x0200, 17)),
            Some(MonitorEvent::Disconnected(17))
        );
        assert_eq!(
            MonitorEvent::parse(&event(0x0400, 0)),
            Some(MonitorEvent::Stopped)
        );
        assert_eq!(MonitorEvent::parse(&event(0x0008, 3)), None);
        assert_eq!(MonitorEvent::parse(&[vec![1, 2, 3]]), None);
        assert_eq!(MonitorEvent::parse(&[]), None);
    }

    /// Ends of a connection from `peer` (an IPv4 address) to port 5555.
    fn ends(peer: &str, port: u16) -> Option<Ends> {
        Some(Ends {
            local: "127.0.0.1:5555".parse().unwrap(),
            peer: std::net::SocketAddr::new(peer.parse().unwrap(), port),
        })
    }

    /// A guard with caps `limit` and `per_address` and connections `fd -> ends` (none of them
    /// real descriptors: nothing is evicted).
    fn guard_with(
        limit: usize,
        per_address: usize,
        connected: &[(u32, Option<Ends>)],
    ) -> (BTreeMap<String, Guard>, Arc<AtomicU64>) {
        let context = zmq::Context::new();
        let counters = PeerCounters::default();
        let refused = Arc::clone(&counters.refused);
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
        };
        (BTreeMap::from([("d".to_owned(), guard)]), refused)
    }

    fn request(domain: &str) -> Vec<Vec<u8>> {
        [
            b"1.0".as_slice(),
            b"7",
            domain.as_bytes(),
            b"10.0.0.9",
            b"",
            b"NULL",
        ]
        .map(<[u8]>::to_vec)
        .to_vec()
    }

    #[test]
    fn a_peer_is_admitted_up_to_the_limit_and_refused_with_400_past_it() {
        // Two connections counted, one of them the peer under review: within a limit of 2.
        let (mut guards, refused) = guard_with(2, 8, &[(10, None), (11, None)]);
        let reply = answer(&request("d"), &mut guards);
        assert_eq!(
            reply[..3],
            [b"1.0".to_vec(), b"7".to_vec(), b"200".to_vec()]
        );
        assert_eq!(reply.len(), 6);
        // A third: refused, counted, and told why.
        guards.get_mut("d").unwrap().connected.insert(12, None);
        let reply = answer(&request("d"), &mut guards);
        assert_eq!(reply[2], b"400");
        assert_eq!(reply[3], b"too many peers: depth allows 2");
        assert_eq!(refused.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn unknown_domains_are_admitted_and_malformed_requests_get_500() {
        let (mut guards, refused) = guard_with(0, 0, &[(1, None), (2, None), (3, None)]);
        assert_eq!(answer(&request("other"), &mut guards)[2], b"200");
        assert_eq!(answer(&[b"1.0".to_vec()], &mut guards)[2], b"500");
        assert_eq!(refused.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn a_peer_from_an_address_past_its_share_is_refused_while_others_are_admitted() {
        let (mut guards, refused) = guard_with(
            10,
            2,
            &[
                (1, ends("10.0.0.9", 4001)),
                (2, ends("10.0.0.9", 4002)),
                (3, ends("10.0.0.9", 4003)),
                (4, ends("10.0.0.7", 4001)),
            ],
        );
        // 10.0.0.9 holds three connections (the one under review included): past 2.
        let reply = answer(&request("d"), &mut guards);
        assert_eq!(reply[2], b"400");
        assert_eq!(
            reply[3],
            b"too many peers from 10.0.0.9: depth allows 2 per address"
        );
        assert_eq!(refused.load(Ordering::Relaxed), 1);
        // 10.0.0.7 holds one.
        let mut other = request("d");
        other[3] = b"10.0.0.7".to_vec();
        assert_eq!(answer(&other, &mut guards)[2], b"200");
        // A connection being closed by the gatekeeper no longer counts.
        guards.get_mut("d").unwrap().closing.insert(3);
        assert_eq!(answer(&request("d"), &mut guards)[2], b"200");
    }

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

//! Admission control: a cap on the number of peers connected to each server socket.
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
//! counted: it is admitted when the count is at most the limit. A refused peer gets a ZMTP `ERROR`
//! command and is disconnected; libzmq does not reconnect after that on its own (our client
//! retries with a backoff; an original Python client stays refused until it reconnects).
//!
//! Every guarded socket keeps working if the gatekeeper thread is gone: libzmq then admits peers
//! without asking (ZAP is only enforced when a handler is bound).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};

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

/// At most one log line per guarded socket in this interval about refused peers.
const REFUSAL_LOG_INTERVAL: Duration = Duration::from_secs(5);

/// The ZAP status of a refused peer: "400 = the client is not authorised" (RFC 27).
const ZAP_REFUSED: &[u8] = b"400";
const ZAP_ADMITTED: &[u8] = b"200";
/// The ZAP status for a request the handler cannot read (RFC 27: internal error).
const ZAP_MALFORMED: &[u8] = b"500";

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
    limit: usize,
    /// Reads the socket's monitor events.
    monitor: zmq::Socket,
    /// File descriptors of the socket's TCP connections now open.
    connected: BTreeSet<u32>,
    refused: Arc<AtomicU64>,
    last_refusal_log: Option<Instant>,
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

    /// Caps the number of peers of `socket` at `limit`; refusals are added to `refused`.
    ///
    /// Call it before `socket` binds: connections accepted earlier would not be counted.
    pub(crate) fn guard(
        &mut self,
        context: &zmq::Context,
        socket: &zmq::Socket,
        role: &'static str,
        limit: usize,
        refused: Arc<AtomicU64>,
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
            limit,
            monitor,
            connected: BTreeSet::new(),
            refused,
            last_refusal_log: None,
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
            Some(MonitorEvent::Accepted(fd)) => {
                guard.connected.insert(fd);
            }
            Some(MonitorEvent::Disconnected(fd)) => {
                guard.connected.remove(&fd);
            }
            Some(MonitorEvent::Stopped) => return false,
            None => {}
        }
    })
}

/// A monitor event the gatekeeper acts on.
#[derive(Debug, PartialEq, Eq)]
enum MonitorEvent {
    Accepted(u32),
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
            zmq::SocketEvent::ACCEPTED => Some(Self::Accepted(value)),
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
    let peers = guard.connected.len();
    if peers <= guard.limit {
        return reply(version, id, ZAP_ADMITTED, "OK".into());
    }
    let total = guard.refused.fetch_add(1, Ordering::Relaxed) + 1;
    let now = Instant::now();
    if !guard
        .last_refusal_log
        .is_some_and(|last| now.duration_since(last) < REFUSAL_LOG_INTERVAL)
    {
        guard.last_refusal_log = Some(now);
        tracing::warn!(
            role = guard.role,
            limit = guard.limit,
            peer = %String::from_utf8_lossy(address),
            refused_so_far = total,
            "peer refused: the socket has as many peers as it may"
        );
    }
    let text = format!("too many peers: {} allows {}", guard.role, guard.limit);
    reply(version, id, ZAP_REFUSED, text)
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
            Some(MonitorEvent::Accepted(17))
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

    fn guard_with(limit: usize, connected: &[u32]) -> (BTreeMap<String, Guard>, Arc<AtomicU64>) {
        let context = zmq::Context::new();
        let refused = Arc::new(AtomicU64::new(0));
        let guard = Guard {
            domain: "d".into(),
            role: "depth",
            limit,
            monitor: context.socket(zmq::PAIR).unwrap(),
            connected: connected.iter().copied().collect(),
            refused: Arc::clone(&refused),
            last_refusal_log: None,
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
        let (mut guards, refused) = guard_with(2, &[10, 11]);
        let reply = answer(&request("d"), &mut guards);
        assert_eq!(
            reply[..3],
            [b"1.0".to_vec(), b"7".to_vec(), b"200".to_vec()]
        );
        assert_eq!(reply.len(), 6);
        // A third: refused, counted, and told why.
        guards.get_mut("d").unwrap().connected.insert(12);
        let reply = answer(&request("d"), &mut guards);
        assert_eq!(reply[2], b"400");
        assert_eq!(reply[3], b"too many peers: depth allows 2");
        assert_eq!(refused.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn unknown_domains_are_admitted_and_malformed_requests_get_500() {
        let (mut guards, refused) = guard_with(0, &[1, 2, 3]);
        assert_eq!(answer(&request("other"), &mut guards)[2], b"200");
        assert_eq!(answer(&[b"1.0".to_vec()], &mut guards)[2], b"500");
        assert_eq!(refused.load(Ordering::Relaxed), 0);
    }
}

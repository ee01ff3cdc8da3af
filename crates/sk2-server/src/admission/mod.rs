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
//! On a secure server (CurveZMQ, docs/security.md) the gatekeeper also refuses, with `400`, a
//! client whose CURVE public key (in the ZAP request) is not among the authorised keys, if the
//! server has such a list; and it counts the peers whose handshake failed before any ZAP request
//! (no CURVE at all, or the wrong server key): libzmq reports those as `HANDSHAKE_FAILED_PROTOCOL`
//! on the monitor, followed by the `DISCONNECTED` of their connection, which names the address.
//! Such peers are refused before they can send a message, and are logged at most once per
//! [`UNAUTHORISED_LOG_INTERVAL`] per address.
//!
//! Every guarded socket keeps working if the gatekeeper thread is gone: libzmq then admits peers
//! without asking (ZAP is only enforced when a handler is bound).

mod guard;
mod limits;
mod monitor;
mod unauthorised;
mod zap;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};

use crate::security::Curve;
use crate::thread::ServerThread;
use crate::ServerError;
use guard::Guard;
pub(crate) use limits::{Caps, PeerCounters, HANDSHAKE_TIMEOUT};
use monitor::MonitorEvent;
use unauthorised::UnauthorisedLog;

/// Where libzmq sends ZAP requests (RFC 27): fixed by the library, one handler per context.
const ZAP_ENDPOINT: &str = "inproc://zeromq.zap.01";

/// How often the gatekeeper looks at the shutdown flag and new guards while idle.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// Monitor events one socket may queue before the gatekeeper reads them. Each is a few dozen
/// bytes; a peer opening and closing 1,000 connections makes 2,000. A lost event would leave a
/// count wrong for good, so this is generous rather than tight.
const MONITOR_QUEUE_EVENTS: i32 = 100_000;

/// The thread that admits or refuses peers of every guarded socket of one server.
pub(crate) struct Gatekeeper {
    guards: Sender<Guard>,
    shutdown: Arc<AtomicBool>,
    thread: ServerThread,
    next_id: u64,
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
        curve: Option<&Curve>,
    ) -> Result<(), ServerError> {
        self.next_id += 1;
        let domain = format!("sk2-{role}-{}", self.next_id);
        let address = format!("inproc://sk2-admission-{}", self.next_id);
        let mut events = zmq::SocketEvent::ACCEPTED as i32
            | zmq::SocketEvent::DISCONNECTED as i32
            | zmq::SocketEvent::MONITOR_STOPPED as i32;
        if curve.is_some() {
            events |= zmq::SocketEvent::HANDSHAKE_FAILED_PROTOCOL as i32;
        }
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
            authorized_clients: curve.and_then(|curve| curve.authorized_clients.clone()),
            failed_handshakes: 0,
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
    let mut unauthorised = UnauthorisedLog::default();
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
        catch_up(&mut guards, new_guards, &mut unauthorised);
        if ready == 0 {
            continue;
        }
        loop {
            match zap.recv_multipart(zmq::DONTWAIT) {
                Ok(request) => {
                    // A guard registered and a monitor event queued just before this request
                    // must count: catch up again (cheap when nothing is waiting).
                    catch_up(&mut guards, new_guards, &mut unauthorised);
                    let reply = zap::answer(&request, &mut guards, &mut unauthorised);
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
fn catch_up(
    guards: &mut BTreeMap<String, Guard>,
    new_guards: &Receiver<Guard>,
    unauthorised: &mut UnauthorisedLog,
) {
    for guard in new_guards.try_iter() {
        guards.insert(guard.domain.clone(), guard);
    }
    read_monitors(guards, unauthorised);
}

/// Applies every waiting monitor event; forgets the guards of sockets that closed.
fn read_monitors(guards: &mut BTreeMap<String, Guard>, unauthorised: &mut UnauthorisedLog) {
    guards.retain(|_, guard| loop {
        let event = match guard.monitor.recv_multipart(zmq::DONTWAIT) {
            Ok(frames) => MonitorEvent::parse(&frames),
            Err(zmq::Error::EAGAIN) => return true,
            Err(_) => return false,
        };
        match event {
            Some(MonitorEvent::Accepted { fd, port }) => guard.accepted(fd, port),
            Some(MonitorEvent::Disconnected(fd)) => {
                let ends = guard.connected.remove(&fd).flatten();
                guard.closing.remove(&fd);
                // libzmq reports a failed handshake, then at once the end of that connection.
                if guard.failed_handshakes > 0 {
                    guard.failed_handshakes -= 1;
                    let peer = ends.map(|ends| ends.peer.ip().to_canonical());
                    unauthorised.refused(guard, peer, "no CURVE, or the wrong server key");
                }
            }
            Some(MonitorEvent::HandshakeFailed) => {
                // Bounded: each is consumed by the DISCONNECTED that follows it.
                guard.failed_handshakes = guard.failed_handshakes.saturating_add(1).min(64);
            }
            Some(MonitorEvent::Stopped) => return false,
            None => {}
        }
    })
}

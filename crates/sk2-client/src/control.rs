//! The control thread: owns a [`Client`](crate::Client)'s ZeroMQ REQ socket to the server's control
//! endpoint (docs/protocol.md, section 3).
//!
//! It sends `who` at once and then every [`ClientConfig::heartbeat`]; application requests
//! (`ping`, `who`) reach it through a bounded channel and are strictly serialised, as REQ requires.
//!
//! Unlike the original (docs/protocol.md, section 8, items 1 and 2):
//!
//! * each request's response deadline belongs to that request alone and ends with its reply, so an
//!   answered request can never time out a later one;
//! * after a timeout the REQ socket is closed and a fresh one opened (the ZeroMQ guide's "Lazy
//!   Pirate" pattern), the timed-out request fails with [`ClientError::Timeout`], requests queued
//!   behind it fail with [`ClientError::ConnectionLost`], [`ClientEvent::Disconnected`] is
//!   reported, and the thread keeps probing with `who` (with backoff) until the server answers,
//!   when it reports [`ClientEvent::Connected`] again;
//! * a handshake that fails (a secure server and an open client, or the reverse, or the wrong
//!   server key: docs/security.md) fails the request at once with [`ClientError::Handshake`], and
//!   [`Client::wait_connected`](crate::Client::wait_connected) returns that error instead of
//!   waiting out its timeout; the thread keeps retrying with backoff.

use std::collections::{BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TryRecvError};
use sk2_proto::control::{Reply, Request, MAX_CONTROL_MESSAGE_BYTES};
use sk2_proto::Me;

use crate::backoff::Backoff;
use crate::config::ClientConfig;
use crate::curve::{CurveClient, HandshakeWatch};
use crate::drop_oldest::DropOldest;
use crate::endpoint::zmq_address;
use crate::error::ClientError;

/// How often a control thread waiting for a reply looks at its command queue, to notice a close
/// request promptly and queue new requests.
const POLL_SLICE: Duration = Duration::from_millis(20);
/// libzmq's own TCP reconnection interval for the REQ socket: a restarted server is reached within
/// this time once it listens again.
const ZMQ_RECONNECT_IVL_MS: i32 = 100;

/// Something that happened to a [`Client`](crate::Client)'s connection. Read them from
/// [`Client::events`](crate::Client::events).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientEvent {
    /// The server answered `who`: the client is connected. Fires once per connection.
    Connected {
        /// The server's name from its `me`.
        name: String,
    },
    /// The connection ended. Fires once per connection.
    Disconnected {
        /// Why.
        reason: DisconnectReason,
    },
    /// The server's name, learnt from its first `me` or changed since.
    NameLearnt(String),
    /// A device id appeared in the server's `me`.
    DeviceAdded(String),
    /// A device id that was in the previous `me` is gone.
    DeviceRemoved(String),
    /// An attempt to connect or reconnect got no answer in time; the client keeps trying.
    /// A browser can use this to re-verify a discovered server (see [`crate::Browser::verify`]).
    Unreachable,
}

/// Why a connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DisconnectReason {
    /// The application called [`Client::disconnect`](crate::Client::disconnect) or dropped the
    /// client.
    Closed,
    /// A request got no reply within the response timeout.
    Timeout,
}

/// Connection state shared between the application's handle and the control thread.
#[derive(Debug, Default)]
pub(crate) struct State {
    pub(crate) connected: bool,
    pub(crate) me: Option<Me>,
    /// Why the last handshake failed, until the server answers again.
    pub(crate) handshake_failure: Option<ClientError>,
}

#[derive(Debug, Default)]
pub(crate) struct Shared {
    state: Mutex<State>,
    pub(crate) changed: Condvar,
}

impl Shared {
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        // A poisoned lock means a thread panicked while holding it; the state is plain data and
        // still consistent enough to read, so keep going rather than spread the panic.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// An application request with the channel its answer goes to.
pub(crate) enum Command {
    Ping(Sender<Result<Duration, ClientError>>),
    Who(Sender<Result<Me, ClientError>>),
}

impl Command {
    pub(crate) fn request(&self) -> Request {
        match self {
            Command::Ping(_) => Request::Ping,
            Command::Who(_) => Request::Who,
        }
    }

    fn fail(self, error: ClientError) {
        // The caller may have given up waiting; then nobody needs the answer.
        match self {
            Command::Ping(reply) => drop(reply.send(Err(error))),
            Command::Who(reply) => drop(reply.send(Err(error))),
        }
    }
}

/// What the application's handle tells the control thread, in one channel so the thread waits on
/// a single queue.
pub(crate) enum ToControl {
    /// Send this request.
    Command(Command),
    /// Close the connection and end the thread.
    Close,
}

impl std::fmt::Debug for ToControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ToControl::Command(command) => write!(f, "{:?}", command.request()),
            ToControl::Close => f.write_str("Close"),
        }
    }
}

/// What a request's wait ended with.
enum Outcome {
    Reply(Reply, Duration),
    Timeout,
    /// The handshake failed, for this reason.
    HandshakeFailed(String),
    Closed,
}

/// The control thread's state. Owns the REQ socket.
pub(crate) struct Control {
    pub(crate) context: zmq::Context,
    pub(crate) address: SocketAddr,
    pub(crate) config: ClientConfig,
    pub(crate) shared: Arc<Shared>,
    /// Events for the application; one that never reads loses the oldest instead of growing
    /// memory.
    pub(crate) events: DropOldest<ClientEvent>,
    pub(crate) commands: Receiver<ToControl>,
    /// CurveZMQ keys of the REQ socket; `None`: open.
    curve: Option<CurveClient>,
    /// Application requests received while another request was in flight.
    queued: VecDeque<Command>,
    /// Device ids of the last `me`, for diffing; `None` before the first.
    devices: Option<BTreeSet<String>>,
    name: Option<String>,
}

impl Control {
    /// The state of a control thread that will connect to `address`.
    pub(crate) fn new(
        context: zmq::Context,
        address: SocketAddr,
        config: ClientConfig,
        shared: Arc<Shared>,
        events: DropOldest<ClientEvent>,
        commands: Receiver<ToControl>,
        curve: Option<CurveClient>,
    ) -> Self {
        Self {
            context,
            address,
            config,
            shared,
            events,
            commands,
            curve,
            queued: VecDeque::new(),
            devices: None,
            name: None,
        }
    }

    /// The thread's body: connects, serves requests and heartbeats, reconnects, until closed.
    pub(crate) fn run(&mut self) {
        let mut backoff = Backoff::new(
            self.config.reconnect_backoff_initial,
            self.config.reconnect_backoff_max,
        );
        'connection: loop {
            let (socket, watch) = match self.open() {
                Ok(opened) => opened,
                Err(error) => {
                    tracing::warn!(%error, "cannot open the control socket");
                    if self.pause(backoff.next_pause()) {
                        break 'connection;
                    }
                    continue;
                }
            };
            // Probe (or first contact): `who` at once.
            let mut next_heartbeat = Instant::now();
            loop {
                let command = if !self.connected() {
                    None
                } else if let Some(command) = self.queued.pop_front() {
                    Some(command)
                } else {
                    let now = Instant::now();
                    if now < next_heartbeat {
                        match self.commands.recv_timeout(next_heartbeat - now) {
                            Ok(ToControl::Command(command)) => Some(command),
                            Ok(ToControl::Close) | Err(RecvTimeoutError::Disconnected) => {
                                break 'connection;
                            }
                            Err(RecvTimeoutError::Timeout) => continue,
                        }
                    } else {
                        None
                    }
                };
                let request = command.as_ref().map_or(Request::Who, Command::request);
                if command.is_none() {
                    next_heartbeat = Instant::now() + self.config.heartbeat;
                }
                match self.exchange(&socket, &watch, &request) {
                    Outcome::Closed => {
                        if let Some(command) = command {
                            command.fail(ClientError::ConnectionLost);
                        }
                        break 'connection;
                    }
                    Outcome::Timeout => {
                        let timeout = self.config.request_timeout;
                        if let Some(command) = command {
                            command.fail(ClientError::Timeout(timeout));
                        }
                        self.fail_queued(ClientError::ConnectionLost);
                        // Lazy Pirate: this REQ socket is stuck waiting for a reply that may never
                        // come; drop it (linger 0) and start again with a fresh one.
                        drop(socket);
                        if self.connected() {
                            tracing::info!(address = %self.address, ?timeout, "server stopped answering");
                            self.set_disconnected(DisconnectReason::Timeout);
                            // The first reattempt goes at once: the server may just have restarted.
                            backoff.reset();
                        } else {
                            self.emit(ClientEvent::Unreachable);
                            if self.pause(backoff.next_pause()) {
                                break 'connection;
                            }
                        }
                        continue 'connection;
                    }
                    Outcome::HandshakeFailed(reason) => {
                        let error = ClientError::Handshake {
                            endpoint: zmq_address(self.address),
                            reason,
                        };
                        // Returned to the waiting request and to `wait_connected`: not logged above debug.
                        tracing::debug!(%error, "cannot talk to the server");
                        if let Some(command) = command {
                            command.fail(error.clone());
                        }
                        self.fail_queued(error.clone());
                        drop(socket);
                        {
                            let mut state = self.shared.lock();
                            state.handshake_failure = Some(error);
                            self.shared.changed.notify_all();
                        }
                        if self.connected() {
                            self.set_disconnected(DisconnectReason::Timeout);
                        }
                        self.emit(ClientEvent::Unreachable);
                        if self.pause(backoff.next_pause()) {
                            break 'connection;
                        }
                        continue 'connection;
                    }
                    Outcome::Reply(reply, rtt) => {
                        self.answer(command, reply, rtt);
                        if self.connected() {
                            backoff.reset();
                        } else if self.pause(backoff.next_pause()) {
                            // The server answers but not with a usable `me`: do not hammer it.
                            break 'connection;
                        }
                    }
                }
            }
        }
        self.fail_queued(ClientError::ConnectionLost);
        if self.connected() {
            self.set_disconnected(DisconnectReason::Closed);
        }
    }

    fn open(&self) -> Result<(zmq::Socket, HandshakeWatch), zmq::Error> {
        let socket = self.context.socket(zmq::REQ)?;
        // Never let a closed socket hold the thread or the process: unsent requests are moot.
        socket.set_linger(0)?;
        socket.set_maxmsgsize(MAX_CONTROL_MESSAGE_BYTES as i64)?;
        socket.set_reconnect_ivl(ZMQ_RECONNECT_IVL_MS)?;
        socket.set_ipv6(self.address.is_ipv6())?;
        if let Some(curve) = &self.curve {
            curve.apply(&socket)?;
        }
        let watch = HandshakeWatch::start(&self.context, &socket, self.curve.is_some())?;
        socket.connect(&zmq_address(self.address))?;
        Ok((socket, watch))
    }

    fn connected(&self) -> bool {
        self.shared.lock().connected
    }

    /// Sends one request and waits for its reply until the request's own deadline, queueing any
    /// application requests that arrive meanwhile.
    fn exchange(
        &mut self,
        socket: &zmq::Socket,
        watch: &HandshakeWatch,
        request: &Request,
    ) -> Outcome {
        let sent_at = Instant::now();
        // This deadline is local to this one request: it ends with the reply (the original's
        // timer outlived its request and could time out a later one).
        let deadline = sent_at + self.config.request_timeout;
        if let Err(error) = socket.send_multipart(request.encode(), zmq::DONTWAIT) {
            // A REQ socket with no connected peer yet still queues; a failure here means the
            // socket is unusable, which we treat like a timeout: reopen it.
            tracing::debug!(%error, "cannot send a request");
            return Outcome::Timeout;
        }
        loop {
            let now = Instant::now();
            if now >= deadline {
                return Outcome::Timeout;
            }
            let slice = (deadline - now).min(POLL_SLICE);
            let mut items = [socket.as_poll_item(zmq::POLLIN), watch.as_poll_item()];
            let polled = zmq::poll(&mut items, slice.as_millis().max(1) as i64);
            if items[1].is_readable() {
                if let Some(reason) = watch.failure() {
                    return Outcome::HandshakeFailed(reason);
                }
            }
            match polled.map(|_| items[0].is_readable()) {
                Ok(true) => match socket.recv_multipart(zmq::DONTWAIT) {
                    Ok(frames) => {
                        let rtt = sent_at.elapsed();
                        return match Reply::decode(&frames) {
                            Ok(reply) => Outcome::Reply(reply, rtt),
                            Err(error) => Outcome::Reply(
                                Reply::Error(sk2_proto::ErrorPayload {
                                    code: None,
                                    reason: format!("undecodable reply: {error}"),
                                }),
                                rtt,
                            ),
                        };
                    }
                    Err(zmq::Error::EAGAIN) => {}
                    Err(error) => {
                        tracing::debug!(%error, "cannot receive a reply");
                        return Outcome::Timeout;
                    }
                },
                Ok(false) | Err(zmq::Error::EINTR) => {}
                Err(error) => {
                    tracing::debug!(%error, "cannot poll the control socket");
                    return Outcome::Timeout;
                }
            }
            if self.drain_commands() {
                return Outcome::Closed;
            }
        }
    }

    /// Moves waiting application requests into `queued` (or fails them while not connected).
    /// Returns true when the application asked to close.
    fn drain_commands(&mut self) -> bool {
        loop {
            match self.commands.try_recv() {
                Ok(ToControl::Command(command)) => {
                    if self.connected() {
                        self.queued.push_back(command);
                    } else {
                        command.fail(ClientError::NotConnected);
                    }
                }
                Ok(ToControl::Close) | Err(TryRecvError::Disconnected) => return true,
                Err(TryRecvError::Empty) => return false,
            }
        }
    }

    /// Sleeps for `pause` while failing application requests (we are not connected).
    /// Returns true when the application asked to close.
    fn pause(&mut self, pause: Duration) -> bool {
        let until = Instant::now() + pause;
        loop {
            let now = Instant::now();
            if now >= until {
                return false;
            }
            match self.commands.recv_timeout(until - now) {
                Ok(ToControl::Command(command)) => command.fail(ClientError::NotConnected),
                Ok(ToControl::Close) | Err(RecvTimeoutError::Disconnected) => return true,
                Err(RecvTimeoutError::Timeout) => return false,
            }
        }
    }

    fn fail_queued(&mut self, error: ClientError) {
        for command in self.queued.drain(..) {
            command.fail(error.clone());
        }
    }

    fn answer(&mut self, command: Option<Command>, reply: Reply, rtt: Duration) {
        if let Reply::Me(me) = &reply {
            self.learn(me.clone());
        } else if !self.connected() {
            // Only `who` is sent while not connected, so this is a server answering `who` wrongly.
            tracing::warn!(?reply, "the server answered `who` without a `me`");
        }
        let Some(command) = command else { return };
        match (command, reply) {
            (Command::Ping(tx), Reply::Pong) => drop(tx.send(Ok(rtt))),
            (Command::Who(tx), Reply::Me(me)) => drop(tx.send(Ok(me))),
            (command, Reply::Error(error)) => command.fail(ClientError::Server {
                code: error.code,
                reason: error.reason,
            }),
            (command, other) => {
                let request = command.request();
                command.fail(ClientError::BadReply(format!(
                    "expected the reply to {request:?}, got {other:?}"
                )));
            }
        }
    }

    /// Takes in a `me`: connects if not yet connected, reports name changes and device diffs.
    fn learn(&mut self, me: Me) {
        let was_connected = {
            let mut state = self.shared.lock();
            let was = state.connected;
            state.connected = true;
            state.me = Some(me.clone());
            state.handshake_failure = None;
            self.shared.changed.notify_all();
            was
        };
        if !was_connected {
            tracing::info!(address = %self.address, name = %me.name, "connected");
            self.emit(ClientEvent::Connected {
                name: me.name.clone(),
            });
        }
        if self.name.as_deref() != Some(me.name.as_str()) {
            self.name = Some(me.name.clone());
            self.emit(ClientEvent::NameLearnt(me.name.clone()));
        }
        let now: BTreeSet<String> = me.devices.iter().map(|d| d.id.clone()).collect();
        let before = self.devices.take().unwrap_or_default();
        for id in before.difference(&now) {
            self.emit(ClientEvent::DeviceRemoved(id.clone()));
        }
        for id in now.difference(&before) {
            self.emit(ClientEvent::DeviceAdded(id.clone()));
        }
        self.devices = Some(now);
    }

    fn emit(&self, event: ClientEvent) {
        tracing::debug!(?event, "client event");
        self.events.send(event);
    }

    fn set_disconnected(&self, reason: DisconnectReason) {
        {
            let mut state = self.shared.lock();
            state.connected = false;
            self.shared.changed.notify_all();
        }
        self.emit(ClientEvent::Disconnected { reason });
    }
}

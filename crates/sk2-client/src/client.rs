//! The control client: a ZeroMQ REQ socket to a server's control endpoint (reference section 3).
//!
//! One background thread owns the REQ socket. It sends `who` at once and then every
//! [`ClientConfig::heartbeat`]; application requests (`ping`, `who`) reach it through a bounded
//! channel and are strictly serialised, as REQ requires.
//!
//! Unlike the original (reference section 7, bugs 1 and 2):
//!
//! * each request's response deadline belongs to that request alone and ends with its reply, so an
//!   answered request can never time out a later one;
//! * after a timeout the REQ socket is closed and a fresh one opened (the ZeroMQ guide's "Lazy
//!   Pirate" pattern), the timed-out request fails with [`ClientError::Timeout`], requests queued
//!   behind it fail with [`ClientError::ConnectionLost`], [`ClientEvent::Disconnected`] is
//!   reported, and the client keeps probing with `who` (with backoff) until the server answers,
//!   when it reports [`ClientEvent::Connected`] again.

use std::collections::{BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, Sender, TryRecvError};
use sk2_proto::control::{Reply, Request, MAX_CONTROL_MESSAGE_BYTES};
use sk2_proto::Me;

use crate::endpoint::{resolve_endpoint, zmq_address, Endpoint, HostAddresses};
use crate::error::ClientError;
use crate::subscription::{RawSubscription, Subscription, SubscriptionConfig};

/// Default heartbeat period: the original sends `who` every 10 s.
pub const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(10);
/// Default response timeout: the original gives every request 5 s.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Default first pause between failed reconnection attempts; it doubles up to the maximum.
pub const DEFAULT_RECONNECT_BACKOFF_INITIAL: Duration = Duration::from_millis(100);
/// Default longest pause between reconnection attempts. Short, because a restarted server should
/// be found again within a couple of seconds; each attempt costs one tiny `who` message.
pub const DEFAULT_RECONNECT_BACKOFF_MAX: Duration = Duration::from_secs(1);
/// Default capacity of the event queue. Events only come from changes (connect, devices), so a
/// reader that keeps up never sees it full; one that never reads loses the oldest events instead of
/// growing memory.
pub const DEFAULT_EVENT_QUEUE_LEN: usize = 256;
/// Application requests waiting for the control thread. Requests are serialised anyway; a caller
/// beyond this many waits (control plane: bounded queues that wait).
const COMMAND_QUEUE_LEN: usize = 64;
/// How often a control thread waiting for a reply looks at its command queue, to notice a close
/// request promptly and queue new requests.
const POLL_SLICE: Duration = Duration::from_millis(20);
/// libzmq's own TCP reconnection interval for the REQ socket: a restarted server is reached within
/// this time once it listens again.
const ZMQ_RECONNECT_IVL_MS: i32 = 100;

/// How a [`Client`] behaves. `Default` gives the original's timings.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClientConfig {
    /// Period of the `who` heartbeat, which also refreshes the device list.
    pub heartbeat: Duration,
    /// How long a request may wait for its reply before the server is declared gone.
    pub request_timeout: Duration,
    /// First pause after a failed reconnection attempt.
    pub reconnect_backoff_initial: Duration,
    /// Longest pause between reconnection attempts.
    pub reconnect_backoff_max: Duration,
    /// Addresses for host names the system resolver may not know, such as the `.local` name of a
    /// server found by mDNS (see [`crate::ServerInfo::host_addresses`]).
    pub host_addresses: HostAddresses,
    /// Ask mDNS for `.local` host names that neither `host_addresses` nor the system resolver
    /// know (multicast on the local network; see [`crate::browser::resolve_local_host`]).
    pub resolve_local_names: bool,
    /// Capacity of the event queue; when full the oldest event is dropped.
    pub event_queue_len: usize,
    /// How subscriptions made by this client behave.
    pub subscription: SubscriptionConfig,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            heartbeat: DEFAULT_HEARTBEAT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            reconnect_backoff_initial: DEFAULT_RECONNECT_BACKOFF_INITIAL,
            reconnect_backoff_max: DEFAULT_RECONNECT_BACKOFF_MAX,
            host_addresses: HostAddresses::new(),
            resolve_local_names: true,
            event_queue_len: DEFAULT_EVENT_QUEUE_LEN,
            subscription: SubscriptionConfig::default(),
        }
    }
}

impl ClientConfig {
    /// Sets the heartbeat period.
    pub fn heartbeat(mut self, period: Duration) -> Self {
        self.heartbeat = period;
        self
    }

    /// Sets the response timeout.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Sets the host name map used to resolve endpoints.
    pub fn host_addresses(mut self, hosts: HostAddresses) -> Self {
        self.host_addresses = hosts;
        self
    }

    /// Sets how subscriptions behave.
    pub fn subscription(mut self, config: SubscriptionConfig) -> Self {
        self.subscription = config;
        self
    }
}

/// Something that happened to a [`Client`]'s connection. Read them from [`Client::events`].
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
    /// The application called [`Client::disconnect`] or dropped the client.
    Closed,
    /// A request got no reply within the response timeout.
    Timeout,
}

/// Connection state shared between the application's handle and the control thread.
#[derive(Debug, Default)]
struct State {
    connected: bool,
    me: Option<Me>,
}

#[derive(Debug, Default)]
struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A poisoned lock means a thread panicked while holding it; the state is plain data and
        // still consistent enough to read, so keep going rather than spread the panic.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

enum Command {
    Ping(Sender<Result<Duration, ClientError>>),
    Who(Sender<Result<Me, ClientError>>),
}

impl Command {
    fn request(&self) -> Request {
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

/// A connection to one server's control endpoint.
///
/// ```no_run
/// use std::time::Duration;
/// use sk2_client::{Client, ClientConfig};
///
/// let client = Client::connect_blocking("tcp://localhost:40949", ClientConfig::default(),
///                                        Duration::from_secs(5))?;
/// println!("{} answers in {:?}", client.name().unwrap_or_default(), client.ping()?);
/// for device in client.me().map(|me| me.devices).unwrap_or_default() {
///     let frames = client.subscribe(&device.id)?;
///     let frame = frames.recv()?;
///     println!("{}: {}x{}", frame.device_id, frame.depth.width(), frame.depth.height());
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Client {
    endpoint: Endpoint,
    config: ClientConfig,
    context: zmq::Context,
    shared: Arc<Shared>,
    events_tx: Sender<ClientEvent>,
    events_rx: Receiver<ClientEvent>,
    /// The control endpoint's address, resolved once by `connect`.
    address: Option<SocketAddr>,
    worker: Option<Worker>,
}

#[derive(Debug)]
struct Worker {
    commands: Sender<CommandBox>,
    thread: JoinHandle<()>,
}

/// Commands plus the close signal, in one channel so the thread waits on a single queue.
enum CommandBox {
    Do(Command),
    Close,
}

impl std::fmt::Debug for CommandBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CommandBox::Do(command) => write!(f, "{:?}", command.request()),
            CommandBox::Close => f.write_str("Close"),
        }
    }
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("endpoint", &self.endpoint)
            .field("connected", &self.is_connected())
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client for the control endpoint `endpoint` (`tcp://host:port`), not yet connected.
    pub fn new(endpoint: &str, config: ClientConfig) -> Result<Self, ClientError> {
        let endpoint: Endpoint = endpoint.parse()?;
        let (events_tx, events_rx) = bounded(config.event_queue_len.max(1));
        Ok(Self {
            endpoint,
            config,
            context: zmq::Context::new(),
            shared: Arc::new(Shared::default()),
            events_tx,
            events_rx,
            address: None,
            worker: None,
        })
    }

    /// [`Client::new`] then [`Client::connect`]: returns at once; watch [`Client::events`] or call
    /// [`Client::wait_connected`].
    pub fn connect_to(endpoint: &str, config: ClientConfig) -> Result<Self, ClientError> {
        let mut client = Self::new(endpoint, config)?;
        client.connect()?;
        Ok(client)
    }

    /// The easy way: connects and waits until the server has answered, or fails after `timeout`.
    pub fn connect_blocking(
        endpoint: &str,
        config: ClientConfig,
        timeout: Duration,
    ) -> Result<Self, ClientError> {
        let client = Self::connect_to(endpoint, config)?;
        client.wait_connected(timeout)?;
        Ok(client)
    }

    /// Starts the control thread: it sends `who` at once and reports
    /// [`ClientEvent::Connected`] when the server answers. Does nothing if already started.
    /// Fails only if the endpoint's host cannot be resolved or a thread cannot start.
    pub fn connect(&mut self) -> Result<(), ClientError> {
        if self.worker.is_some() {
            return Ok(());
        }
        let address = resolve_endpoint(
            &self.endpoint,
            &self.config.host_addresses,
            self.config.resolve_local_names,
        )?;
        self.address = Some(address);
        let (commands, commands_rx) = bounded(COMMAND_QUEUE_LEN);
        let mut control = Control {
            context: self.context.clone(),
            address,
            config: self.config.clone(),
            shared: Arc::clone(&self.shared),
            events: EventSink {
                tx: self.events_tx.clone(),
                rx: self.events_rx.clone(),
            },
            commands: commands_rx,
            queued: VecDeque::new(),
            devices: None,
            name: None,
        };
        let thread = std::thread::Builder::new()
            .name(format!("sk2-control {}", self.endpoint))
            .spawn(move || control.run())
            .map_err(|error| ClientError::Thread(error.to_string()))?;
        self.worker = Some(Worker { commands, thread });
        Ok(())
    }

    /// Closes the connection: requests waiting fail, the socket is closed, and
    /// [`ClientEvent::Disconnected`] fires if the client was connected. Does nothing if not started.
    pub fn disconnect(&mut self) {
        if let Some(worker) = self.worker.take() {
            // If the thread already ended, the send fails and the join returns at once.
            let _ = worker.commands.send(CommandBox::Close);
            if worker.thread.join().is_err() {
                tracing::warn!(endpoint = %self.endpoint, "control thread panicked");
            }
        }
        let mut state = self.shared.lock();
        state.connected = false;
        self.shared.changed.notify_all();
    }

    /// The control endpoint as given.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// True while the server answers.
    pub fn is_connected(&self) -> bool {
        self.shared.lock().connected
    }

    /// Waits until connected; returns the server's `me`.
    pub fn wait_connected(&self, timeout: Duration) -> Result<Me, ClientError> {
        let deadline = Instant::now() + timeout;
        let mut state = self.shared.lock();
        loop {
            if state.connected {
                if let Some(me) = &state.me {
                    return Ok(me.clone());
                }
            }
            let now = Instant::now();
            if now >= deadline || self.worker.is_none() {
                return Err(ClientError::ConnectTimeout {
                    endpoint: self.endpoint.to_string(),
                    after: timeout,
                });
            }
            state = self
                .shared
                .changed
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .0;
        }
    }

    /// The event queue. Every clone of the receiver shares the same queue: each event goes to one
    /// reader.
    pub fn events(&self) -> Receiver<ClientEvent> {
        self.events_rx.clone()
    }

    /// The server's latest `me` (from the last heartbeat), if it has answered.
    pub fn me(&self) -> Option<Me> {
        self.shared.lock().me.clone()
    }

    /// The server's name, once learnt.
    pub fn name(&self) -> Option<String> {
        self.shared.lock().me.as_ref().map(|me| me.name.clone())
    }

    /// Sends `ping` and returns the round-trip time (measured from sending to the reply, not
    /// counting time spent queued behind other requests).
    pub fn ping(&self) -> Result<Duration, ClientError> {
        let (tx, rx) = bounded(1);
        self.submit(Command::Ping(tx))?;
        rx.recv().unwrap_or(Err(ClientError::ConnectionLost))
    }

    /// Sends `who` and returns the fresh `me` (which also updates [`Client::me`] and fires device
    /// events).
    pub fn who(&self) -> Result<Me, ClientError> {
        let (tx, rx) = bounded(1);
        self.submit(Command::Who(tx))?;
        rx.recv().unwrap_or(Err(ClientError::ConnectionLost))
    }

    /// Subscribes to a device's depth frames. The device must be in the server's `me`; if it is not
    /// in the latest one, a fresh `who` is asked before failing with [`ClientError::UnknownDevice`].
    pub fn subscribe(&self, device_id: &str) -> Result<Subscription, ClientError> {
        if !self.is_connected() {
            return Err(ClientError::NotConnected);
        }
        let me = match self.me().filter(|me| me.device(device_id).is_some()) {
            Some(me) => me,
            None => self.who()?,
        };
        let device = me
            .device(device_id)
            .ok_or_else(|| ClientError::UnknownDevice(device_id.to_owned()))?;
        let control_address = self.address.ok_or(ClientError::NotConnected)?;
        Subscription::open(
            &self.context,
            device,
            &self.endpoint,
            control_address,
            &self.config,
        )
    }

    /// Subscribes to every `depth_v2` message of a device exactly as received, undecoded (see
    /// [`RawSubscription`]): what a recorder stores. The device must be in the server's `me`
    /// and offer `depth_v2`.
    pub fn subscribe_raw(&self, device_id: &str) -> Result<RawSubscription, ClientError> {
        if !self.is_connected() {
            return Err(ClientError::NotConnected);
        }
        let me = match self.me().filter(|me| me.device(device_id).is_some()) {
            Some(me) => me,
            None => self.who()?,
        };
        let device = me
            .device(device_id)
            .ok_or_else(|| ClientError::UnknownDevice(device_id.to_owned()))?;
        let control_address = self.address.ok_or(ClientError::NotConnected)?;
        RawSubscription::open(
            &self.context,
            device,
            &self.endpoint,
            control_address,
            &self.config,
        )
    }

    fn submit(&self, command: Command) -> Result<(), ClientError> {
        if !self.is_connected() {
            return Err(ClientError::NotConnected);
        }
        let worker = self.worker.as_ref().ok_or(ClientError::NotConnected)?;
        worker
            .commands
            .send(CommandBox::Do(command))
            .map_err(|_| ClientError::NotConnected)
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.disconnect();
    }
}

/// Sends events; when the queue is full, drops the oldest so the newest always gets in.
struct EventSink {
    tx: Sender<ClientEvent>,
    rx: Receiver<ClientEvent>,
}

impl EventSink {
    fn emit(&self, event: ClientEvent) {
        tracing::debug!(?event, "client event");
        let mut event = event;
        loop {
            match self.tx.try_send(event) {
                Ok(()) => return,
                Err(crossbeam_channel::TrySendError::Full(back)) => {
                    let _ = self.rx.try_recv();
                    event = back;
                }
                // Cannot happen while we hold a receiver, but never loop on it.
                Err(crossbeam_channel::TrySendError::Disconnected(_)) => return,
            }
        }
    }
}

/// What a request's wait ended with.
enum Outcome {
    Reply(Reply, Duration),
    Timeout,
    Closed,
}

/// The control thread's state. Owns the REQ socket.
struct Control {
    context: zmq::Context,
    address: SocketAddr,
    config: ClientConfig,
    shared: Arc<Shared>,
    events: EventSink,
    commands: Receiver<CommandBox>,
    /// Application requests received while another request was in flight.
    queued: VecDeque<Command>,
    /// Device ids of the last `me`, for diffing; `None` before the first.
    devices: Option<BTreeSet<String>>,
    name: Option<String>,
}

impl Control {
    fn run(&mut self) {
        let mut backoff = self.config.reconnect_backoff_initial;
        'connection: loop {
            let socket = match self.open() {
                Ok(socket) => socket,
                Err(error) => {
                    tracing::warn!(%error, "cannot open the control socket");
                    if self.pause(backoff) {
                        break 'connection;
                    }
                    backoff = (backoff * 2).min(self.config.reconnect_backoff_max);
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
                            Ok(CommandBox::Do(command)) => Some(command),
                            Ok(CommandBox::Close) | Err(RecvTimeoutError::Disconnected) => {
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
                match self.exchange(&socket, &request) {
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
                            backoff = self.config.reconnect_backoff_initial;
                        } else {
                            self.events.emit(ClientEvent::Unreachable);
                            if self.pause(backoff) {
                                break 'connection;
                            }
                            backoff = (backoff * 2).min(self.config.reconnect_backoff_max);
                        }
                        continue 'connection;
                    }
                    Outcome::Reply(reply, rtt) => {
                        self.answer(command, reply, rtt);
                        if self.connected() {
                            backoff = self.config.reconnect_backoff_initial;
                        } else {
                            // The server answers but not with a usable `me`: do not hammer it.
                            if self.pause(backoff) {
                                break 'connection;
                            }
                            backoff = (backoff * 2).min(self.config.reconnect_backoff_max);
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

    fn open(&self) -> Result<zmq::Socket, zmq::Error> {
        let socket = self.context.socket(zmq::REQ)?;
        // Never let a closed socket hold the thread or the process: unsent requests are moot.
        socket.set_linger(0)?;
        socket.set_maxmsgsize(MAX_CONTROL_MESSAGE_BYTES as i64)?;
        socket.set_reconnect_ivl(ZMQ_RECONNECT_IVL_MS)?;
        socket.set_ipv6(self.address.is_ipv6())?;
        socket.connect(&zmq_address(self.address))?;
        Ok(socket)
    }

    fn connected(&self) -> bool {
        self.shared.lock().connected
    }

    /// Sends one request and waits for its reply until the request's own deadline, queueing any
    /// application requests that arrive meanwhile.
    fn exchange(&mut self, socket: &zmq::Socket, request: &Request) -> Outcome {
        let sent_at = Instant::now();
        // This deadline is local to this one request: it ends with the reply (bug 1 of the
        // original was a timer that outlived its request).
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
            match socket.poll(zmq::POLLIN, slice.as_millis().max(1) as i64) {
                Ok(n) if n > 0 => match socket.recv_multipart(zmq::DONTWAIT) {
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
                Ok(_) | Err(zmq::Error::EINTR) => {}
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
                Ok(CommandBox::Do(command)) => {
                    if self.connected() {
                        self.queued.push_back(command);
                    } else {
                        command.fail(ClientError::NotConnected);
                    }
                }
                Ok(CommandBox::Close) | Err(TryRecvError::Disconnected) => return true,
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
                Ok(CommandBox::Do(command)) => command.fail(ClientError::NotConnected),
                Ok(CommandBox::Close) | Err(RecvTimeoutError::Disconnected) => return true,
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
            self.shared.changed.notify_all();
            was
        };
        if !was_connected {
            tracing::info!(address = %self.address, name = %me.name, "connected");
            self.events.emit(ClientEvent::Connected {
                name: me.name.clone(),
            });
        }
        if self.name.as_deref() != Some(me.name.as_str()) {
            self.name = Some(me.name.clone());
            self.events.emit(ClientEvent::NameLearnt(me.name.clone()));
        }
        let now: BTreeSet<String> = me.devices.iter().map(|d| d.id.clone()).collect();
        let before = self.devices.take().unwrap_or_default();
        for id in before.difference(&now) {
            self.events.emit(ClientEvent::DeviceRemoved(id.clone()));
        }
        for id in now.difference(&before) {
            self.events.emit(ClientEvent::DeviceAdded(id.clone()));
        }
        self.devices = Some(now);
    }

    fn set_disconnected(&self, reason: DisconnectReason) {
        {
            let mut state = self.shared.lock();
            state.connected = false;
            self.shared.changed.notify_all();
        }
        self.events.emit(ClientEvent::Disconnected { reason });
    }
}

//! [`Client`]: the application's handle on a connection to one server's control endpoint.
//!
//! The connection itself lives on a control thread ([`crate::control`]), which owns the REQ
//! socket; the handle sends it requests through a bounded queue and reads the state it shares.

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, Sender};
use sk2_proto::depth_v2::ENDPOINT_DEPTH_V2;
use sk2_proto::{Device, Me};

use crate::config::{ClientConfig, SubscriptionConfig};
use crate::control::{ClientEvent, Command, Control, Shared, ToControl};
use crate::curve::CurveClient;
use crate::drop_oldest::DropOldest;
use crate::endpoint::{resolve_endpoint, Endpoint};
use crate::error::ClientError;
use crate::feed::Feed;
use crate::raw_subscription::RawSubscription;
use crate::receiving::{EndpointKind, Output};
use crate::subscription::{depth_endpoint, Subscription};

/// Application requests waiting for the control thread. Requests are serialised anyway; a caller
/// beyond this many waits (control plane: bounded queues that wait).
const COMMAND_QUEUE_LEN: usize = 64;

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
    events: Receiver<ClientEvent>,
    /// The sending side of `events`, handed to each control thread in turn (events of all of the
    /// client's connections go to the one queue the application reads).
    events_sink: DropOldest<ClientEvent>,
    /// The control endpoint's address, resolved once by `connect`.
    address: Option<SocketAddr>,
    control: Option<ControlThread>,
    /// CurveZMQ keys of every socket, from the config; `None`: open.
    curve: Option<CurveClient>,
}

/// The running control thread and the queue to it.
#[derive(Debug)]
struct ControlThread {
    commands: Sender<ToControl>,
    thread: JoinHandle<()>,
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
        let curve = CurveClient::from_keys(config.server_key, config.client_keys.as_ref())?;
        let (events_sink, events) = DropOldest::new(config.event_queue_len);
        Ok(Self {
            curve,
            endpoint,
            config,
            context: zmq::Context::new(),
            shared: Arc::new(Shared::default()),
            events,
            events_sink,
            address: None,
            control: None,
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
        if self.control.is_some() {
            return Ok(());
        }
        let address = resolve_endpoint(
            &self.endpoint,
            &self.config.host_addresses,
            self.config.resolve_local_names,
        )?;
        self.address = Some(address);
        let (commands, commands_rx) = bounded(COMMAND_QUEUE_LEN);
        let mut control = Control::new(
            self.context.clone(),
            address,
            self.config.clone(),
            Arc::clone(&self.shared),
            self.events_sink.clone(),
            commands_rx,
            self.curve.clone(),
        );
        let thread = std::thread::Builder::new()
            .name(format!("sk2-control {}", self.endpoint))
            .spawn(move || control.run())
            .map_err(|error| ClientError::Thread(error.to_string()))?;
        self.control = Some(ControlThread { commands, thread });
        Ok(())
    }

    /// Closes the connection: requests waiting fail, the socket is closed, and
    /// [`ClientEvent::Disconnected`] fires if the client was connected. Does nothing if not started.
    pub fn disconnect(&mut self) {
        if let Some(control) = self.control.take() {
            // If the thread already ended, the send fails and the join returns at once.
            let _ = control.commands.send(ToControl::Close);
            if control.thread.join().is_err() {
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

    /// Why the last handshake with the server failed ([`ClientError::Handshake`]: a secure
    /// server and no key, a wrong key, ...), until the server answers again.
    pub fn handshake_failure(&self) -> Option<ClientError> {
        self.shared.lock().handshake_failure.clone()
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
            if let Some(error) = &state.handshake_failure {
                return Err(error.clone());
            }
            if now >= deadline || self.control.is_none() {
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
        self.events.clone()
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
        self.subscribe_with(device_id, self.config.subscription.clone())
    }

    /// Like [`Client::subscribe`], with this subscription's own settings instead of the client's
    /// [`ClientConfig::subscription`] (for example `with_prefer_depth_v2(false)` to read the original
    /// `depth` endpoint beside a `depth_v2` subscription).
    pub fn subscribe_with(
        &self,
        device_id: &str,
        mut config: SubscriptionConfig,
    ) -> Result<Subscription, ClientError> {
        config.curve = self.curve.clone();
        let (kind, address) =
            self.depth_address(device_id, |device| depth_endpoint(device, &config))?;
        let feed = Feed::open(
            &self.context,
            device_id,
            kind,
            address,
            &config,
            Output::Decoded,
        )?;
        Ok(Subscription::new(feed, kind))
    }

    /// Subscribes to every `depth_v2` message of a device exactly as received, undecoded (see
    /// [`RawSubscription`]): what a recorder stores. The device must be in the server's `me` and
    /// offer `depth_v2`, else [`ClientError::NoDepthEndpoint`].
    pub fn subscribe_raw(&self, device_id: &str) -> Result<RawSubscription, ClientError> {
        let (_, address) = self.depth_address(device_id, |device| {
            device
                .endpoint(ENDPOINT_DEPTH_V2)
                .map(|endpoint| (EndpointKind::DepthV2, endpoint))
                .ok_or_else(|| ClientError::NoDepthEndpoint(device.id.clone()))
        })?;
        let mut config = self.config.subscription.clone();
        config.curve = self.curve.clone();
        RawSubscription::open(&self.context, device_id, address, &config)
    }

    /// The address of the depth endpoint `pick` chooses for `device_id`. The device must be in
    /// the server's `me`; if it is not in the latest one, a fresh `who` is asked before failing
    /// with [`ClientError::UnknownDevice`].
    pub(crate) fn depth_address(
        &self,
        device_id: &str,
        pick: impl FnOnce(&Device) -> Result<(EndpointKind, &str), ClientError>,
    ) -> Result<(EndpointKind, SocketAddr), ClientError> {
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
        let (kind, advertised) = pick(device)?;
        let endpoint: Endpoint = advertised.parse()?;
        // A depth endpoint on the control endpoint's host reuses its address: the name resolved
        // once already (possibly through mDNS), and the server is known to answer there.
        let address = if endpoint.same_host(&self.endpoint) {
            SocketAddr::new(control_address.ip(), endpoint.port)
        } else {
            resolve_endpoint(
                &endpoint,
                &self.config.host_addresses,
                self.config.resolve_local_names,
            )?
        };
        Ok((kind, address))
    }

    fn submit(&self, command: Command) -> Result<(), ClientError> {
        if !self.is_connected() {
            return Err(ClientError::NotConnected);
        }
        let control = self.control.as_ref().ok_or(ClientError::NotConnected)?;
        control
            .commands
            .send(ToControl::Command(command))
            .map_err(|_| ClientError::NotConnected)
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.disconnect();
    }
}

/// What the other subscription handles (`image_subscription`) need of a client.
impl Client {
    /// The ZeroMQ context the client's sockets share.
    pub(crate) fn context(&self) -> &zmq::Context {
        &self.context
    }

    /// The client's default subscription settings.
    pub(crate) fn subscription_config(&self) -> &SubscriptionConfig {
        &self.config.subscription
    }

    /// The client's CurveZMQ keys, which every socket it opens uses; `None` for an open client.
    pub(crate) fn curve(&self) -> Option<&CurveClient> {
        self.curve.as_ref()
    }
}

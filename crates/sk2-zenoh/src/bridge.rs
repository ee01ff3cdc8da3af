//! [`Bridge`]: one thread that follows a server through a [`Client`] and keeps its Zenoh
//! declarations (token, `me` queryable, one publisher per sensor) in step with it.
//!
//! Every queue on the way is bounded and drops rather than waits: the server's PUB socket drops
//! for a slow bridge (its high-water mark), the bridge's subscriptions keep a few messages
//! (dropping the oldest, counted), and Zenoh's publishers use congestion control *drop*, so a
//! stalled Zenoh link costs the bridge no memory and no time.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Select};
use sk2_client::zenoh::ZenohConfig;
use sk2_client::{Client, ClientConfig, ClientEvent, Endpoint, SubscriptionConfig};
use sk2_proto::control::{Reply, ENDPOINT_DEPTH};
use sk2_proto::depth_v2::ENDPOINT_DEPTH_V2;
use sk2_proto::id::short_id;
use sk2_proto::zenoh_keys::{depth_key, me_key, server_key};
use sk2_proto::Me;
use zenoh::qos::CongestionControl;
use zenoh::Wait;

use crate::error::BridgeError;
use crate::forward::{resolve_depth, DepthReader, Source, SourceStats};

/// How often the bridge looks at Zenoh's matching status (to start or stop reading a sensor) when
/// nothing else wakes it: the delay before a new Zenoh subscriber's first frame, at most.
pub const TICK: Duration = Duration::from_millis(100);
/// The bridge's `who` heartbeat: a restarted or vanished server is noticed within this plus the
/// request timeout, and its liveliness token withdrawn (the client library's 10 s default suits
/// an interactive client, not a relay others depend on).
pub const DEFAULT_BRIDGE_HEARTBEAT: Duration = Duration::from_secs(1);
/// The bridge's request timeout (see [`DEFAULT_BRIDGE_HEARTBEAT`]).
const BRIDGE_REQUEST_TIMEOUT: Duration = Duration::from_secs(2);
/// Pause before trying again to read a sensor whose subscription failed.
const RETRY_AFTER: Duration = Duration::from_secs(1);
/// Messages a `depth_v2` subscription of the bridge keeps: a few frames, as any subscriber.
const BRIDGE_QUEUE_LEN: usize = 4;
/// How long `stop` waits for the thread.
const JOIN_TIMEOUT: Duration = Duration::from_secs(2);

/// What a bridge connects to, and how it names the server in Zenoh.
#[derive(Debug, Clone)]
pub struct BridgeConfig {
    /// The server's control endpoint, `tcp://host:port`.
    pub upstream: String,
    /// The server's id in Zenoh keys; `None`: the name in its first `me`.
    pub server_id: Option<String>,
    /// The Zenoh session's configuration.
    pub zenoh: ZenohConfig,
    /// The control client's settings (heartbeat, host addresses, subscriptions).
    pub client: ClientConfig,
}

impl BridgeConfig {
    /// A bridge for the server at `upstream`, with the default Zenoh configuration (peer, no
    /// multicast scouting, not listening: set [`BridgeConfig::zenoh`]).
    pub fn new(upstream: impl Into<String>) -> Self {
        Self {
            upstream: upstream.into(),
            server_id: None,
            zenoh: ZenohConfig::default(),
            client: ClientConfig::default()
                .with_heartbeat(DEFAULT_BRIDGE_HEARTBEAT)
                .with_request_timeout(BRIDGE_REQUEST_TIMEOUT)
                .with_subscription(SubscriptionConfig::default().with_queue_len(BRIDGE_QUEUE_LEN)),
        }
    }

    /// Sets [`BridgeConfig::server_id`].
    pub fn with_server_id(mut self, id: Option<String>) -> Self {
        self.server_id = id;
        self
    }

    /// Sets [`BridgeConfig::zenoh`].
    pub fn with_zenoh(mut self, zenoh: ZenohConfig) -> Self {
        self.zenoh = zenoh;
        self
    }

    /// Sets [`BridgeConfig::client`].
    pub fn with_client(mut self, client: ClientConfig) -> Self {
        self.client = client;
        self
    }
}

/// Counters of a bridge.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BridgeStats {
    /// Messages published on Zenoh.
    pub published: u64,
    /// Bytes of those messages (Zenoh's own framing not counted).
    pub published_bytes: u64,
    /// Messages Zenoh refused to take (the session is closing).
    pub publish_errors: u64,
    /// Frames the server produced that never reached the bridge (gaps in `depth_v2` sequence
    /// numbers).
    pub upstream_lost: u64,
    /// Malformed messages from the server, skipped.
    pub upstream_errors: u64,
    /// Messages dropped in the bridge because its thread did not take them in time.
    pub dropped: u64,
    /// Times the server answered after not answering (1 after the first connection).
    pub connects: u64,
    /// Sensors being read now (those Zenoh has subscribers for).
    pub reading: u64,
}

#[derive(Debug, Default)]
struct Counters {
    published: AtomicU64,
    published_bytes: AtomicU64,
    publish_errors: AtomicU64,
    connects: AtomicU64,
    reading: AtomicU64,
    /// Totals of sources already closed.
    retired: Mutex<SourceStats>,
    /// Totals of the sources open now, as last seen by the thread.
    live: Mutex<SourceStats>,
}

/// A running bridge. Dropping it (or [`Bridge::stop`]) withdraws its declarations and closes its
/// Zenoh session and its client.
#[derive(Debug)]
pub struct Bridge {
    counters: Arc<Counters>,
    server_id: Arc<Mutex<Option<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Bridge {
    /// Opens the Zenoh session, connects to the server and starts following it. Returns once the
    /// session is open (the server may not have answered yet: the bridge keeps trying).
    pub fn start(config: BridgeConfig) -> Result<Self, BridgeError> {
        if config.server_id.as_deref() == Some("") {
            return Err(BridgeError::ServerId(String::new()));
        }
        let upstream: Endpoint = config
            .upstream
            .parse()
            .map_err(sk2_client::ClientError::from)?;
        let session = config.zenoh.open()?;
        let client = Client::connect_to(&config.upstream, config.client.clone())?;
        let counters = Arc::new(Counters::default());
        let server_id = Arc::new(Mutex::new(config.server_id.clone()));
        let stop = Arc::new(AtomicBool::new(false));
        let mut running = Running {
            session,
            events: client.events(),
            client,
            upstream,
            config,
            server_id: Arc::clone(&server_id),
            me_payload: Arc::default(),
            presence: None,
            forwards: BTreeMap::new(),
            context: zmq::Context::new(),
            counters: Arc::clone(&counters),
        };
        let thread_stop = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("sk2-bridge".to_owned())
            .spawn(move || running.run(&thread_stop))
            .map_err(|error| BridgeError::Thread(error.to_string()))?;
        Ok(Self {
            counters,
            server_id,
            stop,
            thread: Some(thread),
        })
    }

    /// The server's id in Zenoh keys, once known (given, or learnt from the first `me`).
    pub fn server_id(&self) -> Option<String> {
        lock(&self.server_id).clone()
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> BridgeStats {
        let counters = &self.counters;
        let (retired, live) = (*lock(&counters.retired), *lock(&counters.live));
        BridgeStats {
            published: counters.published.load(Ordering::Relaxed),
            published_bytes: counters.published_bytes.load(Ordering::Relaxed),
            publish_errors: counters.publish_errors.load(Ordering::Relaxed),
            upstream_lost: retired.lost + live.lost,
            upstream_errors: retired.errors + live.errors,
            dropped: retired.dropped + live.dropped,
            connects: counters.connects.load(Ordering::Relaxed),
            reading: counters.reading.load(Ordering::Relaxed),
        }
    }

    /// Withdraws the token and the queryable, closes the session and the client.
    pub fn stop(mut self) {
        self.shut_down();
    }

    fn shut_down(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let deadline = Instant::now() + JOIN_TIMEOUT;
            while !thread.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            if thread.is_finished() {
                let _ = thread.join();
            } else {
                tracing::warn!("the bridge thread did not stop in time; left behind");
            }
        }
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        self.shut_down();
    }
}

/// One sensor: its publisher, and its source while Zenoh watches it.
struct Forward {
    publisher: zenoh::pubsub::Publisher<'static>,
    /// `depth_v2`, or `depth` for a sensor that offers only that.
    endpoint: &'static str,
    source: Option<Source>,
    retry_at: Option<Instant>,
}

/// What the bridge declares for the server while it answers.
struct Presence {
    _token: zenoh::liveliness::LivelinessToken,
    _queryable: zenoh::query::Queryable<()>,
}

/// The bridge thread's state.
struct Running {
    session: zenoh::Session,
    client: Client,
    events: Receiver<ClientEvent>,
    upstream: Endpoint,
    config: BridgeConfig,
    server_id: Arc<Mutex<Option<String>>>,
    /// The `me` JSON the queryable answers.
    me_payload: Arc<Mutex<Vec<u8>>>,
    presence: Option<Presence>,
    forwards: BTreeMap<String, Forward>,
    /// For the `depth` readers' sockets.
    context: zmq::Context,
    counters: Arc<Counters>,
}

impl Running {
    fn run(&mut self, stop: &AtomicBool) {
        while !stop.load(Ordering::Relaxed) {
            {
                let mut select = Select::new();
                select.recv(&self.events);
                for forward in self.forwards.values() {
                    if let Some(source) = &forward.source {
                        source.register(&mut select);
                    }
                }
                let _ = select.ready_timeout(TICK);
            }
            while let Ok(event) = self.events.try_recv() {
                self.handle(event);
            }
            self.follow_matching();
            self.forward_messages();
            self.update_live_stats();
        }
        // Withdrawn in this order: token and queryable first (subscribers see the server go),
        // then the publishers, then the session closes.
        self.presence = None;
        self.close_sources();
        self.forwards.clear();
        if let Err(error) = self.session.close().wait() {
            tracing::debug!(%error, "closing the Zenoh session");
        }
    }

    fn handle(&mut self, event: ClientEvent) {
        match event {
            ClientEvent::Connected { name } => {
                self.counters.connects.fetch_add(1, Ordering::Relaxed);
                tracing::info!(upstream = %self.config.upstream, %name, "server answers");
                // A restarted server has new depth endpoints: read them afresh.
                self.close_sources();
                self.refresh();
            }
            ClientEvent::NameLearnt(_)
            | ClientEvent::DeviceAdded(_)
            | ClientEvent::DeviceRemoved(_) => self.refresh(),
            ClientEvent::Disconnected { reason } => {
                tracing::info!(upstream = %self.config.upstream, ?reason, "server lost; withdrawing it from Zenoh");
                self.presence = None;
                self.close_sources();
            }
            other => tracing::debug!(?other, "client event"),
        }
    }

    /// Takes the server's latest `me`: declares the server if it is not yet, and a publisher per
    /// sensor; forgets sensors that went.
    fn refresh(&mut self) {
        let Some(me) = self.client.me() else { return };
        let server_id = {
            let mut id = lock(&self.server_id);
            id.get_or_insert_with(|| me.name.clone()).clone()
        };
        *lock(&self.me_payload) = me_json(&me);
        if self.presence.is_none() {
            match self.declare_presence(&server_id) {
                Ok(presence) => self.presence = Some(presence),
                Err(error) => tracing::warn!(%error, "cannot declare the server on Zenoh"),
            }
        }
        let mut wanted = BTreeMap::new();
        for device in &me.devices {
            let endpoint = if device.endpoint(ENDPOINT_DEPTH_V2).is_some() {
                ENDPOINT_DEPTH_V2
            } else if device.endpoint(ENDPOINT_DEPTH).is_some() {
                ENDPOINT_DEPTH
            } else {
                continue;
            };
            wanted.insert(device.id.clone(), endpoint);
        }
        let gone: Vec<String> = self
            .forwards
            .iter()
            .filter(|(id, forward)| wanted.get(*id) != Some(&forward.endpoint))
            .map(|(id, _)| id.clone())
            .collect();
        for id in gone {
            if let Some(mut forward) = self.forwards.remove(&id) {
                self.retire(&mut forward);
            }
        }
        for (id, endpoint) in wanted {
            if self.forwards.contains_key(&id) {
                continue;
            }
            let key = depth_key(&server_id, &id, endpoint);
            match self
                .session
                .declare_publisher(key.clone())
                .congestion_control(CongestionControl::Drop)
                .wait()
            {
                Ok(publisher) => {
                    tracing::info!(%key, "publishing");
                    self.forwards.insert(
                        id,
                        Forward {
                            publisher,
                            endpoint,
                            source: None,
                            retry_at: None,
                        },
                    );
                }
                Err(error) => tracing::warn!(%error, %key, "cannot declare a publisher"),
            }
        }
    }

    fn declare_presence(&self, server_id: &str) -> zenoh::Result<Presence> {
        let token = self
            .session
            .liveliness()
            .declare_token(server_key(server_id))
            .wait()?;
        let payload = Arc::clone(&self.me_payload);
        let queryable = self
            .session
            .declare_queryable(me_key(server_id))
            .callback(move |query: zenoh::query::Query| {
                let json = lock(&payload).clone();
                if let Err(error) = query.reply(query.key_expr().clone(), json).wait() {
                    tracing::debug!(%error, "cannot answer a `me` query");
                }
            })
            .wait()?;
        tracing::info!(key = %server_key(server_id), "server declared on Zenoh");
        Ok(Presence {
            _token: token,
            _queryable: queryable,
        })
    }

    /// Reads the sensors Zenoh has subscribers for, and stops reading the others.
    fn follow_matching(&mut self) {
        let connected = self.presence.is_some() && self.client.is_connected();
        let ids: Vec<String> = self.forwards.keys().cloned().collect();
        for id in ids {
            let Some(forward) = self.forwards.get_mut(&id) else {
                continue;
            };
            let matching = forward
                .publisher
                .matching_status()
                .wait()
                .is_ok_and(|status| status.matching());
            if !(matching && connected) {
                if forward.source.is_some() {
                    tracing::debug!(device = %short_id(&id), "no Zenoh subscriber: stop reading");
                    let mut forward = self.forwards.remove(&id).expect("present");
                    self.retire(&mut forward);
                    self.forwards.insert(id, forward);
                }
                continue;
            }
            if forward.source.is_some() || forward.retry_at.is_some_and(|at| Instant::now() < at) {
                continue;
            }
            let endpoint = forward.endpoint;
            match self.open_source(&id, endpoint) {
                Ok(source) => {
                    tracing::info!(device = %short_id(&id), endpoint, "Zenoh has subscribers: reading");
                    if let Some(forward) = self.forwards.get_mut(&id) {
                        forward.source = Some(source);
                        forward.retry_at = None;
                    }
                    self.counters.reading.fetch_add(1, Ordering::Relaxed);
                }
                Err(error) => {
                    tracing::warn!(device = %short_id(&id), %error, "cannot read the sensor; retrying");
                    if let Some(forward) = self.forwards.get_mut(&id) {
                        forward.retry_at = Some(Instant::now() + RETRY_AFTER);
                    }
                }
            }
        }
    }

    fn open_source(&self, id: &str, endpoint: &str) -> Result<Source, String> {
        if endpoint == ENDPOINT_DEPTH_V2 {
            return self
                .client
                .subscribe_raw(id)
                .map(Source::V2)
                .map_err(|error| error.to_string());
        }
        let me = self.client.me().ok_or("the server has not answered")?;
        let advertised = me
            .device(id)
            .and_then(|device| device.endpoint(ENDPOINT_DEPTH))
            .ok_or("the sensor has no depth endpoint")?;
        let address = resolve_depth(
            advertised,
            &self.upstream,
            &self.config.client.host_addresses,
            self.config.client.resolve_local_names,
        )?;
        DepthReader::start(&self.context, id, address).map(Source::Depth)
    }

    fn forward_messages(&self) {
        for forward in self.forwards.values() {
            let Some(source) = &forward.source else {
                continue;
            };
            source.drain(|bytes| {
                let len = bytes.len() as u64;
                match forward.publisher.put(bytes).wait() {
                    Ok(()) => {
                        self.counters.published.fetch_add(1, Ordering::Relaxed);
                        self.counters
                            .published_bytes
                            .fetch_add(len, Ordering::Relaxed);
                    }
                    Err(error) => {
                        self.counters.publish_errors.fetch_add(1, Ordering::Relaxed);
                        tracing::debug!(%error, "Zenoh refused a message");
                    }
                }
            });
        }
    }

    fn close_sources(&mut self) {
        let mut forwards = std::mem::take(&mut self.forwards);
        for forward in forwards.values_mut() {
            self.retire(forward);
        }
        self.forwards = forwards;
    }

    /// Stops reading `forward`'s sensor, keeping its counts.
    fn retire(&self, forward: &mut Forward) {
        if let Some(source) = forward.source.take() {
            let stats = source.stats();
            let mut retired = lock(&self.counters.retired);
            retired.lost += stats.lost;
            retired.errors += stats.errors;
            retired.dropped += stats.dropped;
            self.counters.reading.fetch_sub(1, Ordering::Relaxed);
        }
    }

    fn update_live_stats(&self) {
        let mut live = SourceStats::default();
        for source in self.forwards.values().filter_map(|f| f.source.as_ref()) {
            let stats = source.stats();
            live.lost += stats.lost;
            live.errors += stats.errors;
            live.dropped += stats.dropped;
        }
        *lock(&self.counters.live) = live;
    }
}

/// The JSON payload of a `me` reply (docs/protocol.md section 3), as the queryable answers it.
fn me_json(me: &Me) -> Vec<u8> {
    // A `me` reply is the type frame then the JSON frame.
    Reply::Me(me.clone()).encode().pop().unwrap_or_default()
}

/// Locks a mutex whose data stays valid even if a holder panicked (plain counters and bytes).
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

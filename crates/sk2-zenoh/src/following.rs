//! The bridge thread: follows the server's events and Zenoh's matching status, keeps the
//! declarations (token, `me` queryable, one publisher per sensor) in step with the server, and
//! forwards each watched sensor's messages.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Select};
use sk2_client::{Client, ClientEvent, Endpoint};
use sk2_proto::control::{Reply, ENDPOINT_DEPTH};
use sk2_proto::depth_v2::ENDPOINT_DEPTH_V2;
use sk2_proto::id::short_id;
use sk2_proto::zenoh_keys::{depth_key, me_key, server_key};
use sk2_proto::Me;
use zenoh::qos::CongestionControl;
use zenoh::Wait;

use crate::config::BridgeConfig;
use crate::forward::{resolve_depth, DepthReader, Source, SourceStats};

/// How often the bridge looks at Zenoh's matching status (to start or stop reading a sensor) when
/// nothing else wakes it: the delay before a new Zenoh subscriber's first frame, at most.
pub const TICK: Duration = Duration::from_millis(100);
/// Pause before trying again to read a sensor whose subscription failed.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// The bridge's live counters, read by [`Bridge::stats`](crate::Bridge::stats).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) published: AtomicU64,
    pub(crate) published_bytes: AtomicU64,
    pub(crate) publish_errors: AtomicU64,
    pub(crate) connects: AtomicU64,
    pub(crate) reading: AtomicU64,
    /// Totals of sources already closed.
    pub(crate) retired: Mutex<SourceStats>,
    /// Totals of the sources open now, as last seen by the thread.
    pub(crate) live: Mutex<SourceStats>,
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
pub(crate) struct Running {
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
    /// The state of a bridge thread that has not run yet: `session` open, `client` connecting to
    /// `upstream`.
    pub(crate) fn new(
        session: zenoh::Session,
        client: Client,
        upstream: Endpoint,
        config: BridgeConfig,
        server_id: Arc<Mutex<Option<String>>>,
        counters: Arc<Counters>,
    ) -> Self {
        Self {
            session,
            events: client.events(),
            client,
            upstream,
            config,
            server_id,
            me_payload: Arc::default(),
            presence: None,
            forwards: BTreeMap::new(),
            context: zmq::Context::new(),
            counters,
        }
    }

    /// Follows the server until `stop` is set, then withdraws everything and closes the session.
    pub(crate) fn run(&mut self, stop: &AtomicBool) {
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
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

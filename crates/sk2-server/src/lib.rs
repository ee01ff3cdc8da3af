//! The streamkinect2 server: a control endpoint, one frame-dropping depth publisher per sensor,
//! and an mDNS announcement, wire-compatible with the Python streamkinect2 of 2014.
//!
//! ```text
//!                    +-------------------- Server ---------------------+
//! client REQ <-----> | control thread: REP socket (who / me / ping)     |
//!                    |                                                  |
//! sensor thread ---> | sink --> encoder pool --> publisher thread:      | ---> SUB clients
//!   (never blocked)  |  (drops when workers+1     per sensor, XPUB      |      (depth: sk2,
//!                    |   frames are in flight;    `depth` + XPUB        |       depth_v2:
//!                    |   skips unwatched frames)  `depth_v2`            |       lossless)
//! IR sink ---------> | queue (2) --> IR publisher: ir_v2 encode, XPUB   | ---> ir_v2
//! colour sink -----> | queue (2) --> colour publisher: header, XPUB     | ---> color (JPEG)
//!                    |                                                  |
//!                    | announcer: <name>._kinect2._tcp.local. (mDNS)     |
//!                    | gatekeeper: admits at most max_subscribers per    |
//!                    |   depth endpoint, max_control_peers on control,   |
//!                    |   max_peers_per_address from one address; evicts  |
//!                    |   the longest-idle peer to make room              |
//!                    +--------------------------------------------------+
//! ```
//!
//! Each sensor gets `depth` (the original 12-bit + LZ4 format, byte-compatible) and, unless
//! [`Config::codec`] is `None`, `depth_v2` (exact frames with shape, sequence and timestamps,
//! [`sk2_proto::depth_v2`]). A sensor that offers infrared or colour also gets `ir_v2`
//! ([`Config::ir_codec`]) and `color` ([`Config::color`]), each with its own queue, thread and
//! socket, so neither can hold depth back; and its calibration goes into `me`. A frame is
//! encoded once per endpoint that has subscribers, and not at all when nobody watches.
//!
//! The server is generic over [`sk2_proto::Sensor`]: it never knows whether a sensor is a mock, a
//! replay or a Kinect. Each ZeroMQ socket is owned by one thread; threads talk through bounded
//! channels that drop frames (counted in [`SensorStats`]) rather than block.
//!
//! ```no_run
//! use sk2_server::{Config, Server};
//! # fn sensor() -> Box<dyn sk2_proto::Sensor> { unimplemented!() }
//!
//! let config = Config::default()
//!     .with_bind_host("127.0.0.1")
//!     .with_announce(false);
//! let mut server = Server::new(config);
//! let id = server.add_sensor(sensor())?;
//! server.start()?;
//! println!("control endpoint: {}", server.control_endpoint().unwrap_or_default());
//! println!("{:?}", server.stats());
//! server.remove_sensor(&id)?;
//! server.stop();
//! # Ok::<(), sk2_server::ServerError>(())
//! ```

//!
//! The crate's modules: `config` ([`Config`] and the defaults of its limits), `error`
//! ([`ServerError`]), `running` (the attached sensors and what a running server holds: starting
//! and stopping a sensor with its sockets and publishers), `sockets` (socket options, peer limits,
//! binding, advertised host names), `control` (the control thread), `pipeline` (sink, encoder
//! pool, publishers), `streams` (the `ir_v2` and `color` sinks and publishers), `in_flight` (a
//! sensor's budget of frames in flight, as slots that free themselves), `admission` (the
//! gatekeeper enforcing peer limits fairly), `connection` (inspecting and closing one of libzmq's
//! connections by descriptor), `security` (CurveZMQ), `announce` (mDNS), `stats` and `thread`.

mod admission;
mod announce;
mod config;
mod connection;
mod control;
mod error;
mod in_flight;
mod pipeline;
mod running;
mod security;
mod sockets;
mod stats;
mod streams;
mod thread;

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use sk2_proto::control::{Reply, MAX_CONTROL_MESSAGE_BYTES};
use sk2_proto::depth_v2::DEVICE_CODEC_KEY;
use sk2_proto::discovery::{TXT_CODEC, TXT_SECURE, TXT_SERVER_KEY, TXT_VERSION};
use sk2_proto::ir_v2::{self, ENDPOINT_IR_V2};
use sk2_proto::{Device, Me, Sensor};

pub use announce::SERVICE_TYPE;
pub use config::{
    default_name, Config, DEFAULT_DEPTH_SNDHWM, DEFAULT_LINGER, DEFAULT_MAX_CONTROL_PEERS,
    DEFAULT_MAX_PEERS_PER_ADDRESS, DEFAULT_MAX_SUBSCRIBERS, DEFAULT_MAX_WORKERS,
    DEFAULT_STATS_INTERVAL,
};
pub use error::ServerError;
pub use security::{curve_available, AuthorizedClients, Curve};
pub use sk2_proto::curve::{KeyPair, PublicKey, SecretKey};
pub use sk2_proto::depth_v2::Codec;
pub use sockets::{
    CONTROL_RCVHWM, CONTROL_SNDHWM, MAX_SECURE_SUBSCRIPTION_BYTES, MAX_SUBSCRIPTION_BYTES,
};
pub use stats::{SensorStats, StreamStats};
pub use streams::STREAM_QUEUE_FRAMES;

use admission::{Gatekeeper, PeerCounters};
use announce::Announcer;
use control::{lock, ControlShared};
use pipeline::EncoderPool;
use running::{start_sensor, stop_sensor, Attached, Running, JOIN_TIMEOUT};
use sockets::{advertised_host, hostname_of_machine};
use stats::Counters;
use thread::ServerThread;

/// A streamkinect2 server. Not running until [`Server::start`]; stopped by [`Server::stop`] or
/// when dropped.
pub struct Server {
    config: Config,
    sensors: Vec<Attached>,
    /// `(id, counters)` of every attached sensor, shared with the control thread's stats log.
    registry: Arc<Registry>,
    control: Arc<ControlShared>,
    /// Peers refused and evicted by the control endpoint's caps, since the server was created.
    control_peers: PeerCounters,
    running: Option<Running>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("name", &self.config.name)
            .field("running", &self.is_running())
            .field("control_endpoint", &self.control_endpoint())
            .field(
                "sensors",
                &self.sensors.iter().map(|s| &s.id).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

/// `(id, counters)` of the attached sensors, in the order they were added.
type Registry = Mutex<Vec<(String, Arc<Counters>)>>;

impl Server {
    /// A stopped server with no sensors.
    pub fn new(config: Config) -> Self {
        let mut me = Me::new(config.name.clone(), String::new());
        // No endpoint exists before start.
        me.endpoints.clear();
        let control = Arc::new(ControlShared {
            me: Mutex::new(me),
            shutdown: Default::default(),
        });
        Self {
            config,
            sensors: Vec::new(),
            registry: Arc::default(),
            control,
            control_peers: PeerCounters::default(),
            running: None,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Whether [`Server::start`] succeeded and [`Server::stop`] has not been called since.
    pub fn is_running(&self) -> bool {
        self.running.is_some()
    }

    /// The advertised control endpoint (`tcp://host:port`) while running.
    pub fn control_endpoint(&self) -> Option<String> {
        self.running.as_ref().map(|r| r.control_endpoint.clone())
    }

    /// What the server answers to `who` now. Before start, the endpoints are empty.
    pub fn me(&self) -> Me {
        lock(&self.control.me).clone()
    }

    /// Peers the control endpoint refused because [`Config::max_control_peers`] were connected,
    /// or [`Config::max_peers_per_address`] from their address.
    pub fn refused_control_peers(&self) -> u64 {
        self.control_peers.refused.load(Ordering::Relaxed)
    }

    /// Idle control peers closed to make room for a newcomer.
    pub fn evicted_control_peers(&self) -> u64 {
        self.control_peers.evicted.load(Ordering::Relaxed)
    }

    /// Control peers refused by CurveZMQ (secure server only): no CURVE, the wrong server key, or
    /// a client key that is not authorised.
    pub fn unauthorised_control_peers(&self) -> u64 {
        self.control_peers.unauthorised.load(Ordering::Relaxed)
    }

    /// The counters of every attached sensor, in the order they were added.
    pub fn stats(&self) -> Vec<SensorStats> {
        snapshot(&self.registry)
    }

    /// Attaches a sensor; if the server runs, starts streaming it at once. Returns its id.
    pub fn add_sensor(&mut self, sensor: Box<dyn Sensor>) -> Result<String, ServerError> {
        let id = sensor.id().to_owned();
        if self.sensors.iter().any(|s| s.id == id) {
            return Err(ServerError::DuplicateSensor(id));
        }
        let calibration = sensor.calibration();
        let mut attached = Attached {
            id: id.clone(),
            sensor,
            counters: Arc::default(),
            publisher: None,
            stream_publishers: Vec::new(),
            endpoints: BTreeMap::new(),
            calibration,
        };
        if let Some(running) = &mut self.running {
            start_sensor(&self.config, running, &mut attached)?;
        }
        self.sensors.push(attached);
        if let Err(error) = self.publish_me() {
            if let Some(mut refused) = self.sensors.pop() {
                stop_sensor(&mut refused);
            }
            return Err(error);
        }
        let counters = Arc::clone(&self.sensors[self.sensors.len() - 1].counters);
        lock(&self.registry).push((id.clone(), counters));
        tracing::info!(sensor = %sk2_proto::id::short_id(&id), "sensor added");
        Ok(id)
    }

    /// Stops and detaches a sensor, closing its depth endpoint. Returns the sensor.
    pub fn remove_sensor(&mut self, id: &str) -> Result<Box<dyn Sensor>, ServerError> {
        let index = self
            .sensors
            .iter()
            .position(|s| s.id == id)
            .ok_or_else(|| ServerError::UnknownSensor(id.to_owned()))?;
        let mut attached = self.sensors.remove(index);
        lock(&self.registry).retain(|(other, _)| other != id);
        self.publish_smaller_me();
        stop_sensor(&mut attached);
        tracing::info!(sensor = %sk2_proto::id::short_id(id), "sensor removed");
        Ok(attached.sensor)
    }

    /// Binds the control socket and every sensor's depth socket, starts the sensors and the
    /// threads, and announces the server (if configured).
    pub fn start(&mut self) -> Result<(), ServerError> {
        if self.running.is_some() {
            return Err(ServerError::AlreadyRunning);
        }
        if self.config.curve.is_some() && !security::curve_available() {
            return Err(ServerError::CurveUnavailable);
        }
        let context = zmq::Context::new();
        let mut gatekeeper = Gatekeeper::start(&context)?;
        let (control_socket, control_port) =
            sockets::control_socket(&context, &mut gatekeeper, &self.config, &self.control_peers)?;
        let host = advertised_host(&self.config);
        let control_endpoint = format!("tcp://{host}:{control_port}");
        let pool = EncoderPool::start(self.config.workers, jobs_queue(self.config.workers))?;

        self.control.shutdown.store(false, Ordering::Release);
        lock(&self.control.me).endpoints =
            Me::new(self.config.name.clone(), control_endpoint.clone()).endpoints;
        let shared = Arc::clone(&self.control);
        let registry = Arc::clone(&self.registry);
        let stats_interval = self.config.stats_interval;
        let control_thread = ServerThread::spawn("sk2-control".into(), move || {
            let stats = move || snapshot(&registry);
            control::serve(&control_socket, &shared, &stats, stats_interval);
        })?;
        let mut running = Running {
            context,
            control_endpoint,
            control_thread,
            gatekeeper,
            host,
            pool,
            announcer: None,
            next_depth_offset: 0,
        };
        let mut result = Ok(());
        for attached in &mut self.sensors {
            result = start_sensor(&self.config, &mut running, attached);
            if result.is_err() {
                break;
            }
        }
        self.running = Some(running);
        if result.is_ok() {
            // Before start the endpoints were empty: only now is the full size known.
            result = self.publish_me();
        }
        if result.is_ok() && self.config.announce {
            let name = self.config.name.clone();
            // Informative TXT keys: browsers need none of them (the original's TXT is empty).
            let mut txt = vec![(
                TXT_VERSION,
                sk2_proto::control::PROTOCOL_VERSION.to_string(),
            )];
            if let Some(codec) = self.config.codec {
                txt.push((TXT_CODEC, codec.name().to_owned()));
            }
            if let Some(curve) = &self.config.curve {
                txt.push((TXT_SECURE, "1".to_owned()));
                txt.push((TXT_SERVER_KEY, curve.keys.public.to_z85()));
            }
            result = hostname_of_machine()
                .and_then(|host| {
                    Announcer::register(
                        &name,
                        &host,
                        control_port,
                        self.config.interface.as_deref(),
                        &txt,
                    )
                })
                .map(|announcer| {
                    if let Some(running) = &mut self.running {
                        running.announcer = Some(announcer);
                    }
                });
        }
        if let Err(error) = result {
            self.stop();
            return Err(error);
        }
        tracing::info!(
            name = %self.config.name,
            control = %self.control_endpoint().unwrap_or_default(),
            sensors = self.sensors.len(),
            secure = self.config.curve.is_some(),
            "server started"
        );
        Ok(())
    }

    /// Stops sensors, unregisters from mDNS, closes every socket (with the configured linger) and
    /// joins the threads. Stopping a stopped server does nothing.
    pub fn stop(&mut self) {
        let Some(running) = self.running.take() else {
            return;
        };
        for attached in &mut self.sensors {
            attached.sensor.stop();
        }
        if let Some(announcer) = running.announcer {
            announcer.unregister();
        }
        self.control.shutdown.store(true, Ordering::Release);
        running.control_thread.join_within(JOIN_TIMEOUT);
        // The encoders finish the frames they hold, the publishers send them, then close.
        running.pool.stop(JOIN_TIMEOUT);
        for attached in &mut self.sensors {
            stop_sensor(attached);
        }
        // Last: the context cannot end while the gatekeeper's sockets are open.
        running.gatekeeper.stop(JOIN_TIMEOUT);
        drop(running.context);
        lock(&self.control.me).endpoints.clear();
        self.publish_smaller_me();
        tracing::info!(name = %self.config.name, "server stopped");
    }

    /// [`Server::publish_me`] after a sensor or the endpoints went: a `me` that only shrank fits
    /// as the one before did, so an error here is only logged.
    fn publish_smaller_me(&self) {
        if let Err(error) = self.publish_me() {
            tracing::error!(%error, "the `me` reply was not updated");
        }
    }

    /// Rebuilds the `me` reply from the attached sensors and hands it to the control thread;
    /// an error, and the previous `me` kept, when it would not fit in a control message.
    fn publish_me(&self) -> Result<(), ServerError> {
        let devices = self
            .sensors
            .iter()
            .map(|attached| Device {
                id: attached.id.clone(),
                endpoints: attached.endpoints.clone(),
            })
            .collect();
        let device_keys = self
            .sensors
            .iter()
            .filter(|attached| !attached.endpoints.is_empty())
            .map(|attached| {
                let mut keys = BTreeMap::new();
                if let Some(codec) = self.config.codec {
                    keys.insert(DEVICE_CODEC_KEY.to_owned(), codec.name().to_owned());
                }
                if let Some(codec) = self.config.ir_codec {
                    if attached.endpoints.contains_key(ENDPOINT_IR_V2) {
                        keys.insert(ir_v2::DEVICE_CODEC_KEY.to_owned(), codec.name().to_owned());
                    }
                }
                (attached.id.clone(), keys)
            })
            .filter(|(_, keys)| !keys.is_empty())
            .collect();
        let calibrations = self
            .sensors
            .iter()
            .filter_map(|attached| Some((attached.id.clone(), attached.calibration?)))
            .collect();
        let mut me = lock(&self.control.me);
        let candidate = Me {
            devices,
            device_keys,
            calibrations,
            ..me.clone()
        };
        let bytes = Reply::Me(candidate.clone())
            .encode()
            .iter()
            .map(Vec::len)
            .max()
            .unwrap_or(0);
        if bytes > MAX_CONTROL_MESSAGE_BYTES {
            return Err(ServerError::MeTooLarge {
                sensors: candidate.devices.len(),
                bytes,
                limit: MAX_CONTROL_MESSAGE_BYTES,
            });
        }
        *me = candidate;
        Ok(())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

fn snapshot(registry: &Registry) -> Vec<SensorStats> {
    lock(registry)
        .iter()
        .map(|(id, counters)| counters.snapshot(id))
        .collect()
}

/// The encoder queue: room for every sensor's in-flight frames for a generous number of sensors;
/// the per-sensor limit is what normally applies.
fn jobs_queue(workers: usize) -> usize {
    const SENSORS_PLANNED_FOR: usize = 16;
    (workers.max(1) + 1) * SENSORS_PLANNED_FOR
}

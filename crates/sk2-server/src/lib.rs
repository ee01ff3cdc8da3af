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
//!                    |                                                  |
//!                    | announcer: <name>._kinect2._tcp.local. (mDNS)     |
//!                    | gatekeeper: admits at most max_subscribers per    |
//!                    |   depth endpoint, max_control_peers on control    |
//!                    +--------------------------------------------------+
//! ```
//!
//! Each sensor gets `depth` (the original 12-bit + LZ4 format, byte-compatible) and, unless
//! [`Config::codec`] is `None`, `depth_v2` (exact frames with shape, sequence and timestamps,
//! [`sk2_proto::depth_v2`]). A frame is encoded once per endpoint that has subscribers, and not
//! at all when nobody watches.
//!
//! The server is generic over [`sk2_proto::Sensor`]: it never knows whether a sensor is a mock, a
//! replay or a Kinect. Each ZeroMQ socket is owned by one thread; threads talk through bounded
//! channels that drop frames (counted in [`SensorStats`]) rather than block.
//!
//! ```no_run
//! use sk2_server::{Config, Server};
//! # fn sensor() -> Box<dyn sk2_proto::Sensor> { unimplemented!() }
//!
//! let mut config = Config::default();
//! config.bind_host = "127.0.0.1".into();
//! config.announce = false;
//! let mut server = Server::new(config);
//! let id = server.add_sensor(sensor())?;
//! server.start()?;
//! println!("control endpoint: {}", server.control_endpoint().unwrap_or_default());
//! println!("{:?}", server.stats());
//! server.remove_sensor(&id)?;
//! server.stop();
//! # Ok::<(), sk2_server::ServerError>(())
//! ```

mod admission;
mod announce;
mod connection;
mod control;
mod pipeline;
mod stats;
mod thread;

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sk2_proto::control::{ENDPOINT_DEPTH, MAX_CONTROL_MESSAGE_BYTES};
use sk2_proto::depth_v2::{DEVICE_CODEC_KEY, ENDPOINT_DEPTH_V2};
use sk2_proto::{Device, Me, Sensor, SensorError};

pub use announce::SERVICE_TYPE;
pub use sk2_proto::depth_v2::Codec;
pub use stats::SensorStats;

use admission::{Caps, Gatekeeper, PeerCounters};
use announce::Announcer;
use control::{lock, ControlShared};
use pipeline::{EncoderPool, Publisher, Sockets};
use stats::Counters;
use thread::Worker;

/// Default `SNDHWM` of depth PUB sockets, in messages per subscriber.
///
/// libzmq's default of 1000 would let a slow subscriber hold hundreds of megabytes of frames
/// (protocol.md 4.1). Four frames are about 130 ms at 30 fps: enough to ride out a hiccup of
/// the network, small enough that a stalled subscriber costs at most four frames of memory
/// (at most ~2.6 MB for incompressible 512 x 424 frames) and loses frames instead.
pub const DEFAULT_DEPTH_SNDHWM: i32 = 4;

/// `MAXMSGSIZE` of depth PUB sockets. PUB sockets read subscription messages from the network:
/// a subscription is one byte plus a topic, and clients of this protocol subscribe to everything
/// (an empty topic). 256 bytes allows any sane topic and refuses a peer that sends megabytes.
pub const MAX_SUBSCRIPTION_BYTES: i64 = 256;

/// Default most peers on each depth endpoint (per sensor, `depth` and `depth_v2` counted
/// apart); more are refused during the ZMTP handshake (see [`Config::max_subscribers`]).
///
/// Each subscriber costs a TCP connection (a file descriptor, kernel buffers) and a queue of up to
/// [`DEFAULT_DEPTH_SNDHWM`] frames that libzmq shares between subscribers. 100 subscribers per
/// endpoint were measured without drops (docs/performance.md), and with two endpoints per sensor
/// they stay well inside the usual limit of 1024 open files.
pub const DEFAULT_MAX_SUBSCRIBERS: usize = 100;

/// Default most peers on the control endpoint (browsers and clients); more are refused during
/// the ZMTP handshake (see [`Config::max_control_peers`]). With [`CONTROL_RCVHWM`] and
/// [`CONTROL_SNDHWM`] this bounds what control peers can make the server hold (next to kernel
/// buffers): 64 x (8 requests x 64 KiB + 128 replies x a few KiB), a few dozen MiB at worst.
pub const DEFAULT_MAX_CONTROL_PEERS: usize = 64;

/// Default most connections from one source address on each guarded endpoint (control, and each
/// depth endpoint apart); see [`Config::max_peers_per_address`].
///
/// Eight viewers of one sensor, or eight tools on one machine talking to the control endpoint, is
/// already unusual; eight is also small enough that peers from one address hold at most an eighth
/// of the control endpoint's slots, so a flood from a few addresses cannot fill it (a newcomer
/// from another address evicts an idle peer of the address that holds the most).
pub const DEFAULT_MAX_PEERS_PER_ADDRESS: usize = 8;

/// `RCVHWM` of the control socket, in requests per peer. A well-behaved client has one request in
/// flight (REQ); a peer that pipelines more waits in TCP once 8 are queued, instead of libzmq's
/// default of 1000 x [`MAX_CONTROL_MESSAGE_BYTES`] (64 MiB) per peer.
pub const CONTROL_RCVHWM: i32 = 8;

/// `SNDHWM` of the control socket, in replies per peer. Past it, replies to a peer that does not
/// read them are dropped (a REP socket never blocks on one peer). 128 lets a client pipeline
/// 100 requests (the hostile-peer test does) and still get every reply.
pub const CONTROL_SNDHWM: i32 = 128;

/// Default time a closing socket may spend sending what it still holds: bounded so that shutdown
/// finishes promptly even with a stalled peer, long enough for a last reply on loopback or LAN.
pub const DEFAULT_LINGER: Duration = Duration::from_millis(100);

/// Default interval between the periodic info-level log lines of the counters.
pub const DEFAULT_STATS_INTERVAL: Duration = Duration::from_secs(10);

/// Most encoder threads by default: sk2 encoding of a Kinect v2 frame takes about a millisecond,
/// so a few threads keep up with many sensors and leave the other cores to the application.
pub const DEFAULT_MAX_WORKERS: usize = 4;

/// Time `stop` waits for each thread to end before leaving it behind with a warning.
const JOIN_TIMEOUT: Duration = Duration::from_millis(500);

/// How a [`Server`] is set up. Start from [`Config::default`] and change fields.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Config {
    /// Human-readable name: the mDNS instance name and the `name` in `me`.
    /// Default: `Kinect <32 hex digits>`, like the original's `Kinect <uuid4>`.
    pub name: String,
    /// Address every socket binds to: an IPv4 address, or `0.0.0.0` / `*` for all interfaces.
    pub bind_host: String,
    /// TCP port of the control (REP) socket; `0` picks a free port.
    pub control_port: u16,
    /// TCP port of the first depth endpoint, the next ones counting up from it; `0` picks free
    /// ports.
    pub depth_port: u16,
    /// Host name put into advertised endpoints. `None`: `<hostname>.local` when announcing,
    /// otherwise `localhost` for a loopback bind address, the host name for `0.0.0.0`, and the
    /// bind address itself for any other.
    pub advertise_host: Option<String>,
    /// Announce the server over mDNS.
    pub announce: bool,
    /// Announce only on this network interface (e.g. `eth0`); `None`: on all.
    pub interface: Option<String>,
    /// Encoder threads. A sensor may have `workers + 1` frames in flight; more are dropped.
    pub workers: usize,
    /// Codec of the lossless `depth_v2` endpoint offered next to `depth` for every sensor, and
    /// advertised under the device key `codec` in `me`; `None`: only `depth`, as the original.
    pub codec: Option<Codec>,
    /// `SNDHWM` of the depth PUB sockets; see [`DEFAULT_DEPTH_SNDHWM`].
    pub depth_sndhwm: i32,
    /// `LINGER` of every socket; see [`DEFAULT_LINGER`].
    pub linger: Duration,
    /// Interval between info-level log lines of the counters.
    pub stats_interval: Duration,
    /// Most subscribers on each depth endpoint; see [`DEFAULT_MAX_SUBSCRIBERS`]. Subscribers past
    /// it are refused (counted in [`SensorStats::refused_subscribers`]) until one leaves.
    pub max_subscribers: usize,
    /// Most peers on the control endpoint; see [`DEFAULT_MAX_CONTROL_PEERS`]. Peers past it are
    /// refused (counted by [`Server::refused_control_peers`]).
    pub max_control_peers: usize,
    /// Most connections from one source address on each endpoint; see
    /// [`DEFAULT_MAX_PEERS_PER_ADDRESS`]. A connection past it evicts that address's longest-idle
    /// peer, or is closed at once if none has been idle for a second (counted with the refusals).
    pub max_peers_per_address: usize,
}

impl Config {
    /// Sets [`Config::max_peers_per_address`].
    #[must_use]
    pub fn with_max_peers_per_address(mut self, max_peers_per_address: usize) -> Self {
        self.max_peers_per_address = max_peers_per_address;
        self
    }
}

impl Default for Config {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Self {
            name: format!("Kinect {}", random_hex()),
            bind_host: "0.0.0.0".into(),
            control_port: 0,
            depth_port: 0,
            advertise_host: None,
            announce: true,
            interface: None,
            workers: cores.clamp(1, DEFAULT_MAX_WORKERS),
            codec: Some(Codec::default()),
            depth_sndhwm: DEFAULT_DEPTH_SNDHWM,
            linger: DEFAULT_LINGER,
            stats_interval: DEFAULT_STATS_INTERVAL,
            max_subscribers: DEFAULT_MAX_SUBSCRIBERS,
            max_control_peers: DEFAULT_MAX_CONTROL_PEERS,
            max_peers_per_address: DEFAULT_MAX_PEERS_PER_ADDRESS,
        }
    }
}

/// Why the server could not do what was asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// A socket could not bind: the port is in use, or the address is not local.
    #[error("cannot bind the {role} socket to {endpoint}: {source}")]
    Bind {
        /// `control`, `depth` or `depth_v2`.
        role: &'static str,
        /// The address tried.
        endpoint: String,
        /// libzmq's reason.
        source: zmq::Error,
    },
    /// Any other ZeroMQ failure (creating a socket, setting an option).
    #[error("zeromq: {0}")]
    Zmq(#[from] zmq::Error),
    /// A sensor with this id is already attached.
    #[error("a sensor with id {0} is already attached")]
    DuplicateSensor(String),
    /// No sensor with this id is attached.
    #[error("no sensor with id {0}")]
    UnknownSensor(String),
    /// The sensor refused to start.
    #[error(transparent)]
    Sensor(#[from] SensorError),
    /// The mDNS announcement failed.
    #[error("cannot announce over mDNS: {0}")]
    Announce(String),
    /// `start` on a running server.
    #[error("the server is already running")]
    AlreadyRunning,
    /// A thread could not be started.
    #[error("cannot start a thread: {0}")]
    Thread(#[from] std::io::Error),
    /// The machine's host name, needed for advertised endpoints and mDNS, is unavailable.
    #[error("cannot read the host name: {0}")]
    Hostname(std::io::Error),
}

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

struct Attached {
    id: String,
    sensor: Box<dyn Sensor>,
    counters: Arc<Counters>,
    /// Set while the server runs.
    publisher: Option<Publisher>,
    /// Advertised endpoints, set while the server runs.
    endpoints: BTreeMap<String, String>,
}

struct Running {
    context: zmq::Context,
    control_endpoint: String,
    control_thread: Worker,
    /// Admits or refuses peers of every socket, to enforce the peer limits.
    gatekeeper: Gatekeeper,
    /// Host name in advertised endpoints.
    host: String,
    pool: EncoderPool,
    announcer: Option<Announcer>,
    /// Offset from `config.depth_port` of the next depth socket.
    next_depth_offset: u16,
}

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
        let mut attached = Attached {
            id: id.clone(),
            sensor,
            counters: Arc::default(),
            publisher: None,
            endpoints: BTreeMap::new(),
        };
        if let Some(running) = &mut self.running {
            start_sensor(&self.config, running, &mut attached)?;
        }
        lock(&self.registry).push((id.clone(), Arc::clone(&attached.counters)));
        self.sensors.push(attached);
        self.publish_me();
        tracing::info!(sensor = %id, "sensor added");
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
        self.publish_me();
        stop_sensor(&mut attached);
        tracing::info!(sensor = %id, "sensor removed");
        Ok(attached.sensor)
    }

    /// Binds the control socket and every sensor's depth socket, starts the sensors and the
    /// threads, and announces the server (if configured).
    pub fn start(&mut self) -> Result<(), ServerError> {
        if self.running.is_some() {
            return Err(ServerError::AlreadyRunning);
        }
        let context = zmq::Context::new();
        let mut gatekeeper = Gatekeeper::start(&context)?;
        let control_socket = context.socket(zmq::REP)?;
        control_socket.set_maxmsgsize(MAX_CONTROL_MESSAGE_BYTES as i64)?;
        control_socket.set_rcvhwm(CONTROL_RCVHWM)?;
        control_socket.set_sndhwm(CONTROL_SNDHWM)?;
        control_socket.set_linger(linger_ms(self.config.linger))?;
        // Before binding, so that every connection is counted.
        gatekeeper.guard(
            &context,
            &control_socket,
            "control",
            Caps {
                limit: self.config.max_control_peers,
                per_address: self.config.max_peers_per_address,
            },
            self.control_peers.clone(),
        )?;
        let control_port = bind(
            &control_socket,
            &self.config.bind_host,
            self.config.control_port,
            "control",
        )?;
        let host = advertised_host(&self.config);
        let control_endpoint = format!("tcp://{host}:{control_port}");
        let pool = EncoderPool::start(self.config.workers, jobs_queue(self.config.workers))?;

        self.control.shutdown.store(false, Ordering::Release);
        lock(&self.control.me).endpoints =
            Me::new(self.config.name.clone(), control_endpoint.clone()).endpoints;
        let shared = Arc::clone(&self.control);
        let registry = Arc::clone(&self.registry);
        let stats_interval = self.config.stats_interval;
        let control_thread = Worker::spawn("sk2-control".into(), move || {
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
        self.publish_me();
        if result.is_ok() && self.config.announce {
            let name = self.config.name.clone();
            // Informative TXT keys: browsers need none of them (the original's TXT is empty).
            let mut txt = vec![("version", sk2_proto::control::PROTOCOL_VERSION.to_string())];
            if let Some(codec) = self.config.codec {
                txt.push((DEVICE_CODEC_KEY, codec.name().to_owned()));
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
        self.publish_me();
        tracing::info!(name = %self.config.name, "server stopped");
    }

    /// Rebuilds the device list of `me` from the attached sensors.
    fn publish_me(&self) {
        let devices = self
            .sensors
            .iter()
            .map(|attached| Device {
                id: attached.id.clone(),
                endpoints: attached.endpoints.clone(),
            })
            .collect();
        let device_keys = match self.config.codec {
            Some(codec) => self
                .sensors
                .iter()
                .filter(|attached| !attached.endpoints.is_empty())
                .map(|attached| {
                    let keys =
                        BTreeMap::from([(DEVICE_CODEC_KEY.to_owned(), codec.name().to_owned())]);
                    (attached.id.clone(), keys)
                })
                .collect(),
            None => BTreeMap::new(),
        };
        let mut me = lock(&self.control.me);
        me.devices = devices;
        me.device_keys = device_keys;
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Binds the sensor's depth sockets, starts its publisher thread, then the sensor.
fn start_sensor(
    config: &Config,
    running: &mut Running,
    attached: &mut Attached,
) -> Result<(), ServerError> {
    let counters = &attached.counters.subscribers;
    let (depth, depth_port) = depth_socket(config, running, "depth", counters)?;
    let depth_v2 = match config.codec {
        Some(codec) => Some((depth_socket(config, running, "depth_v2", counters)?, codec)),
        None => None,
    };
    let mut endpoints = BTreeMap::from([(
        ENDPOINT_DEPTH.to_owned(),
        format!("tcp://{}:{depth_port}", running.host),
    )]);
    if let Some(((_, port), _)) = &depth_v2 {
        endpoints.insert(
            ENDPOINT_DEPTH_V2.to_owned(),
            format!("tcp://{}:{port}", running.host),
        );
    }
    let sockets = Sockets {
        depth,
        depth_v2: depth_v2.map(|((socket, _), codec)| (socket, codec)),
    };
    let short_id = attached.id.get(..8).unwrap_or(&attached.id);
    let (publisher, pipe) = Publisher::start(
        format!("sk2-publish-{short_id}"),
        sockets,
        Arc::clone(&attached.counters),
        config.workers.max(1) + 1,
    )?;
    attached.publisher = Some(publisher);
    attached
        .sensor
        .start(running.pool.sink(pipe))
        .inspect_err(|_| {
            stop_sensor(attached);
        })?;
    attached.endpoints = endpoints;
    Ok(())
}

/// A bound depth XPUB socket and its port. XPUB rather than PUB: it reports subscriptions, so
/// frames nobody watches are not encoded.
fn depth_socket(
    config: &Config,
    running: &mut Running,
    role: &'static str,
    counters: &PeerCounters,
) -> Result<(zmq::Socket, u16), ServerError> {
    let socket = running.context.socket(zmq::XPUB)?;
    socket.set_sndhwm(config.depth_sndhwm)?;
    // An XPUB reads subscription messages from the network.
    socket.set_maxmsgsize(MAX_SUBSCRIPTION_BYTES)?;
    socket.set_linger(linger_ms(config.linger))?;
    // Before binding, so that every connection is counted.
    running.gatekeeper.guard(
        &running.context,
        &socket,
        role,
        Caps {
            limit: config.max_subscribers,
            per_address: config.max_peers_per_address,
        },
        counters.clone(),
    )?;
    let port = if config.depth_port == 0 {
        0
    } else {
        let port = config.depth_port.saturating_add(running.next_depth_offset);
        running.next_depth_offset = running.next_depth_offset.saturating_add(1);
        port
    };
    let port = bind(&socket, &config.bind_host, port, role)?;
    Ok((socket, port))
}

fn stop_sensor(attached: &mut Attached) {
    attached.sensor.stop();
    if let Some(mut publisher) = attached.publisher.take() {
        publisher.stop(JOIN_TIMEOUT);
    }
    attached.endpoints.clear();
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

fn linger_ms(linger: Duration) -> i32 {
    i32::try_from(linger.as_millis()).unwrap_or(i32::MAX)
}

/// Binds `socket` to `tcp://host:port` (`port` 0: any free port) and returns the port bound.
fn bind(
    socket: &zmq::Socket,
    host: &str,
    port: u16,
    role: &'static str,
) -> Result<u16, ServerError> {
    let host = if host == "0.0.0.0" { "*" } else { host };
    let endpoint = if port == 0 {
        format!("tcp://{host}:*")
    } else {
        format!("tcp://{host}:{port}")
    };
    socket.bind(&endpoint).map_err(|source| ServerError::Bind {
        role,
        endpoint: endpoint.clone(),
        source,
    })?;
    let bound = socket
        .get_last_endpoint()?
        .ok()
        .and_then(|last| last.rsplit(':').next().and_then(|p| p.parse().ok()));
    bound.ok_or(ServerError::Bind {
        role,
        endpoint,
        source: zmq::Error::EINVAL,
    })
}

/// The host name clients should use in advertised endpoints (see [`Config::advertise_host`]).
fn advertised_host(config: &Config) -> String {
    if let Some(host) = &config.advertise_host {
        return host.clone();
    }
    let machine = hostname_of_machine().unwrap_or_else(|_| "localhost".into());
    if config.announce {
        return format!("{machine}.local");
    }
    match config.bind_host.parse::<std::net::IpAddr>() {
        Ok(ip) if ip.is_loopback() => "localhost".into(),
        Ok(ip) if ip.is_unspecified() => machine,
        _ if config.bind_host == "*" => machine,
        _ => config.bind_host.clone(),
    }
}

fn hostname_of_machine() -> Result<String, ServerError> {
    hostname::get()
        .map_err(ServerError::Hostname)
        .map(|name| name.to_string_lossy().into_owned())
}

/// 32 random lowercase hex digits, for default names.
fn random_hex() -> String {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    let mut halves = [0u64; 2];
    for (i, half) in halves.iter_mut().enumerate() {
        let mut hasher = RandomState::new().build_hasher();
        hasher.write_u64(sk2_proto::sensor::unix_time_ns());
        hasher.write_usize(i);
        *half = hasher.finish();
    }
    format!("{:016x}{:016x}", halves[0], halves[1])
}

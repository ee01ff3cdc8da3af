//! A small, controllable fake server for the client's tests: a REP thread speaking the control
//! protocol through `sk2_proto::control`, and PUB sockets publishing `sk2` frames. It can delay
//! replies, go silent, and change its device list at will.

#![allow(dead_code)] // each test file uses a different part of it

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use sk2_proto::control::{Reply, Request, ENDPOINT_DEPTH};
use sk2_proto::{sk2, DepthFrame, Device, ErrorPayload, Me};

#[derive(Debug, Default)]
pub struct FakeState {
    pub name: String,
    pub devices: Vec<Device>,
    /// Delay before answering each next request, first first; empty = answer at once.
    pub delays: VecDeque<Duration>,
    /// Answer `ping` with an `error` reply.
    pub refuse_pings: bool,
    /// Do not answer at all until cleared.
    pub silent: bool,
    pub requests: Vec<Request>,
    /// Calibrations sent in `me`, by device id.
    pub calibrations: BTreeMap<String, sk2_proto::calibration::Calibration>,
}

pub struct FakeServer {
    pub port: u16,
    /// The host name the server puts in its endpoints (the original reverse-resolves its address).
    pub host: String,
    bind_ip: String,
    pub context: zmq::Context,
    pub state: Arc<Mutex<FakeState>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    publishers: BTreeMap<String, zmq::Socket>,
    publishers_v2: BTreeMap<String, zmq::Socket>,
    pub answered: Arc<AtomicUsize>,
}

static NEXT_ID: AtomicUsize = AtomicUsize::new(0);

impl FakeServer {
    /// Starts on a random port of 127.0.0.1.
    pub fn start(name: &str) -> Self {
        Self::start_on(name, 0)
    }

    /// Starts on `port` (0 = random), retrying briefly in case the port is still being released.
    pub fn start_on(name: &str, port: u16) -> Self {
        Self::start_with(name, "127.0.0.1", port, "localhost")
    }

    /// Starts bound to `bind_ip`, advertising its endpoints under the host name `host`.
    pub fn start_with(name: &str, bind_ip: &str, port: u16, host: &str) -> Self {
        let context = zmq::Context::new();
        let rep = context.socket(zmq::REP).unwrap();
        rep.set_linger(0).unwrap();
        let address = if port == 0 {
            format!("tcp://{bind_ip}:*")
        } else {
            format!("tcp://{bind_ip}:{port}")
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        while let Err(error) = rep.bind(&address) {
            assert!(Instant::now() < deadline, "cannot bind {address}: {error}");
            std::thread::sleep(Duration::from_millis(50));
        }
        let port = port_of(&rep);
        let state = Arc::new(Mutex::new(FakeState {
            name: name.to_owned(),
            ..FakeState::default()
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let answered = Arc::new(AtomicUsize::new(0));
        let thread = {
            let state = Arc::clone(&state);
            let stop = Arc::clone(&stop);
            let answered = Arc::clone(&answered);
            let control = format!("tcp://{host}:{port}");
            std::thread::spawn(move || serve(rep, control, state, stop, answered))
        };
        Self {
            port,
            host: host.to_owned(),
            bind_ip: bind_ip.to_owned(),
            context,
            state,
            stop,
            thread: Some(thread),
            publishers: BTreeMap::new(),
            publishers_v2: BTreeMap::new(),
            answered,
        }
    }

    /// The control endpoint as the original advertises it for 127.0.0.1: with a host name.
    pub fn endpoint(&self) -> String {
        format!("tcp://{}:{}", self.host, self.port)
    }

    pub fn state(&self) -> std::sync::MutexGuard<'_, FakeState> {
        self.state.lock().unwrap()
    }

    /// A PUB socket bound to a random port of the fake's address, and that port.
    fn bound_publisher(&self) -> (zmq::Socket, u16) {
        let publisher = self.context.socket(zmq::PUB).unwrap();
        publisher.set_linger(0).unwrap();
        publisher
            .bind(&format!("tcp://{}:*", self.bind_ip))
            .unwrap();
        let port = port_of(&publisher);
        (publisher, port)
    }

    /// Adds a device with a PUB socket on a random port; returns its id.
    pub fn add_device(&mut self) -> String {
        let id = format!("{:032x}", NEXT_ID.fetch_add(1, Ordering::Relaxed) + 0xabc0);
        let (publisher, port) = self.bound_publisher();
        self.publishers.insert(id.clone(), publisher);
        self.state().devices.push(Device {
            id: id.clone(),
            endpoints: BTreeMap::from([(
                ENDPOINT_DEPTH.to_owned(),
                format!("tcp://{}.:{port}", self.host),
            )]),
        });
        id
    }

    /// Adds a device offering both `depth` and `depth_v2`, each on its own PUB socket.
    pub fn add_device_v2(&mut self) -> String {
        let id = self.add_device();
        let (publisher, port) = self.bound_publisher();
        self.publishers_v2.insert(id.clone(), publisher);
        let host = self.host.clone();
        let mut state = self.state();
        let device = state.devices.iter_mut().find(|d| d.id == id).unwrap();
        device.endpoints.insert(
            sk2_proto::depth_v2::ENDPOINT_DEPTH_V2.to_owned(),
            format!("tcp://{host}:{port}"),
        );
        drop(state);
        id
    }

    /// Publishes one frame on the device's `depth_v2` endpoint.
    pub fn publish_v2(&self, id: &str, frame: &sk2_proto::CapturedFrame) {
        let message = sk2_proto::depth_v2::encode(frame, sk2_proto::depth_v2::Codec::Rvl);
        self.publishers_v2[id].send(message, 0).unwrap();
    }

    pub fn remove_device(&mut self, id: &str) {
        self.publishers_v2.remove(id);
        self.publishers.remove(id);
        self.state().devices.retain(|device| device.id != id);
    }

    /// Publishes one frame on the device's depth endpoint.
    pub fn publish(&self, id: &str, frame: &DepthFrame) {
        let message = sk2::encode(frame).unwrap();
        self.publish_raw(id, &message);
    }

    pub fn publish_raw(&self, id: &str, message: &[u8]) {
        self.publishers[id].send(message, 0).unwrap();
    }

    /// Watches the device's PUB socket: returns a PAIR socket receiving libzmq monitor events.
    pub fn monitor(&self, id: &str) -> zmq::Socket {
        let address = format!("inproc://monitor-{id}");
        self.publishers[id]
            .monitor(&address, zmq::SocketEvent::ALL as i32)
            .unwrap();
        let pair = self.context.socket(zmq::PAIR).unwrap();
        pair.connect(&address).unwrap();
        pair
    }

    /// Closes every socket, like a server that stopped.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            thread.join().unwrap();
        }
        self.publishers.clear();
        self.publishers_v2.clear();
    }

    pub fn requests(&self) -> Vec<Request> {
        self.state().requests.clone()
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Waits for the next monitor event of one of `wanted` kinds, up to `timeout`.
pub fn wait_monitor_event(
    monitor: &zmq::Socket,
    wanted: &[zmq::SocketEvent],
    timeout: Duration,
) -> Option<zmq::SocketEvent> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if monitor.poll(zmq::POLLIN, 50).unwrap() == 0 {
            continue;
        }
        let frames = monitor.recv_multipart(0).unwrap();
        let event = zmq::SocketEvent::from_raw(u16::from_le_bytes([frames[0][0], frames[0][1]]));
        if wanted.contains(&event) {
            return Some(event);
        }
    }
    None
}

fn port_of(socket: &zmq::Socket) -> u16 {
    let endpoint = socket.get_last_endpoint().unwrap().unwrap();
    endpoint.rsplit(':').next().unwrap().parse().unwrap()
}

fn serve(
    rep: zmq::Socket,
    control: String,
    state: Arc<Mutex<FakeState>>,
    stop: Arc<AtomicBool>,
    answered: Arc<AtomicUsize>,
) {
    while !stop.load(Ordering::Relaxed) {
        if rep.poll(zmq::POLLIN, 20).unwrap() == 0 {
            continue;
        }
        let frames = rep.recv_multipart(0).unwrap();
        let request = Request::decode(&frames);
        let delay = {
            let mut state = state.lock().unwrap();
            if let Ok(request) = &request {
                state.requests.push(request.clone());
            }
            state.delays.pop_front().unwrap_or_default()
        };
        let until = Instant::now() + delay;
        while Instant::now() < until || state.lock().unwrap().silent {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let reply = {
            let state = state.lock().unwrap();
            match request {
                Ok(Request::Ping) if state.refuse_pings => {
                    Reply::Error(ErrorPayload::bad_request("no pings today"))
                }
                Ok(Request::Ping) => Reply::Pong,
                Ok(Request::Who) => {
                    let mut me = Me::new(state.name.clone(), control.clone());
                    me.devices = state.devices.clone();
                    me.calibrations = state.calibrations.clone();
                    Reply::Me(me)
                }
                Ok(_) => Reply::Error(ErrorPayload::bad_request("unknown request")),
                Err(error) => Reply::Error(ErrorPayload::bad_request(error.to_string())),
            }
        };
        rep.send_multipart(reply.encode(), 0).unwrap();
        answered.fetch_add(1, Ordering::Relaxed);
    }
}

/// A 512 x 424 test image whose every pixel is distinct-ish and below 4096 mm (so `sk2` keeps it).
pub fn test_frame(seed: u16) -> DepthFrame {
    let (width, height) = (512, 424);
    let depth = (0..width * height)
        .map(|i| ((i as u32 * 7 + u32::from(seed) * 13) % 4096) as u16)
        .collect();
    DepthFrame::new(width, height, depth).unwrap()
}

/// A client config that notices a dead or silent server within a second: heartbeats every 200 ms,
/// requests time out after 500 ms.
pub fn fast() -> sk2_client::ClientConfig {
    sk2_client::ClientConfig::default()
        .with_heartbeat(Duration::from_millis(200))
        .with_request_timeout(Duration::from_millis(500))
}

/// Waits for an event matching `predicate`, returning the events seen before it too.
pub fn wait_for<T: std::fmt::Debug>(
    events: &crossbeam_channel::Receiver<T>,
    timeout: Duration,
    mut predicate: impl FnMut(&T) -> bool,
) -> Result<(T, Vec<T>), Vec<T>> {
    let deadline = Instant::now() + timeout;
    let mut seen = Vec::new();
    loop {
        let now = Instant::now();
        if now >= deadline {
            return Err(seen);
        }
        match events.recv_timeout(deadline - now) {
            Ok(event) if predicate(&event) => return Ok((event, seen)),
            Ok(event) => seen.push(event),
            Err(_) => return Err(seen),
        }
    }
}

/// Everything in the queue within `settle`.
pub fn drain<T>(events: &crossbeam_channel::Receiver<T>, settle: Duration) -> Vec<T> {
    let mut all = Vec::new();
    while let Ok(event) = events.recv_timeout(settle) {
        all.push(event);
    }
    all
}

/// Announces a server over mDNS the way the original does: SRV to `host`, an A record, empty TXT.
/// Only ever call this inside a private network namespace.
pub fn announce(name: &str, host: &str, ip: &str, port: u16) -> mdns_sd::ServiceDaemon {
    assert!(
        std::env::var_os(sk2_testkit::NETNS_ENV).is_some()
            || std::env::var_os("SK2_IN_TEST_NETNS").is_some(),
        "mDNS announcements only inside a private network namespace"
    );
    let daemon = mdns_sd::ServiceDaemon::new().unwrap();
    let info = mdns_sd::ServiceInfo::new(
        sk2_client::SERVICE_TYPE,
        name,
        host,
        ip,
        port,
        &[] as &[(&str, &str)],
    )
    .unwrap();
    daemon.register(info).unwrap();
    daemon
}

/// A captured frame with depths across the whole Kinect range, 0 to 8000 mm: the original
/// `depth` format loses everything from 4096 mm up, `depth_v2` must not.
pub fn captured_frame(sequence: u64) -> sk2_proto::CapturedFrame {
    let (width, height) = (512, 424);
    let depth = (0..width * height)
        .map(|i| ((i as u64 * 31 + sequence * 17) % 8001) as u16)
        .collect();
    sk2_proto::CapturedFrame {
        depth: DepthFrame::new(width, height, depth).unwrap(),
        sequence,
        device_timestamp: sequence * 333,
        capture_time_ns: sk2_proto::sensor::unix_time_ns(),
    }
}

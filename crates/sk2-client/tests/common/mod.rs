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
}

pub struct FakeServer {
    pub port: u16,
    pub context: zmq::Context,
    pub state: Arc<Mutex<FakeState>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    publishers: BTreeMap<String, zmq::Socket>,
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
        let context = zmq::Context::new();
        let rep = context.socket(zmq::REP).unwrap();
        rep.set_linger(0).unwrap();
        let address = if port == 0 {
            "tcp://127.0.0.1:*".to_owned()
        } else {
            format!("tcp://127.0.0.1:{port}")
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
            std::thread::spawn(move || serve(rep, port, state, stop, answered))
        };
        Self {
            port,
            context,
            state,
            stop,
            thread: Some(thread),
            publishers: BTreeMap::new(),
            answered,
        }
    }

    /// The control endpoint as the original advertises it for 127.0.0.1: with a host name.
    pub fn endpoint(&self) -> String {
        format!("tcp://localhost:{}", self.port)
    }

    pub fn state(&self) -> std::sync::MutexGuard<'_, FakeState> {
        self.state.lock().unwrap()
    }

    /// Adds a device with a PUB socket on a random port; returns its id.
    pub fn add_device(&mut self) -> String {
        let id = format!("{:032x}", NEXT_ID.fetch_add(1, Ordering::Relaxed) + 0xabc0);
        let publisher = self.context.socket(zmq::PUB).unwrap();
        publisher.set_linger(0).unwrap();
        publisher.bind("tcp://127.0.0.1:*").unwrap();
        let port = port_of(&publisher);
        self.publishers.insert(id.clone(), publisher);
        self.state().devices.push(Device {
            id: id.clone(),
            endpoints: BTreeMap::from([(
                ENDPOINT_DEPTH.to_owned(),
                format!("tcp://localhost.:{port}"),
            )]),
        });
        id
    }

    pub fn remove_device(&mut self, id: &str) {
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
    port: u16,
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
                    let mut me = Me::new(state.name.clone(), format!("tcp://localhost:{port}"));
                    me.devices = state.devices.clone();
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

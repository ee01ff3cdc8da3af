//! The real stack: `sk2-server` in the server process and `sk2-client` in each subscriber.
//!
//! The server streams from a [`BenchSensor`], which replays the same templates as the plain
//! publisher at the scenario's rate and stamps sequence and capture time into the watermark
//! pixels (see [`crate::frames`]): the `depth` (sk2) message carries neither, and the server adds
//! nothing, so the watermark is how a subscriber knows which frame it got and when it was captured.
//! The capture time is taken by the sensor thread just before it hands the frame to the server's
//! sink, as a real driver's timestamp would be.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use sk2_client::{Client, ClientConfig, KeyPair, PublicKey, SecretKey, SubscriptionConfig};
use sk2_proto::color::ENDPOINT_COLOR;
use sk2_proto::control::ENDPOINT_DEPTH;
use sk2_proto::depth_v2::ENDPOINT_DEPTH_V2;
use sk2_proto::ir_v2::ENDPOINT_IR_V2;
use sk2_proto::sensor::unix_time_ns;
use sk2_proto::{
    CapturedColorFrame, CapturedFrame, CapturedIrFrame, DepthFrame, FrameSink, IrFrame, JpegImage,
    Sensor, SensorError, StreamSinks, Streams,
};

use crate::frames::{self, Input};
use crate::roles::{self, Stack, POLL_INTERVAL, RCVHWM_FRAMES};

/// How long a subscriber waits for the server's `me`: generous, 100+ clients start at once.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(60);

/// A sensor that replays templates at a fixed rate with the watermark stamped in; optionally
/// infrared and colour templates beside the depth ones, delivered after each depth frame.
#[derive(Debug)]
pub struct BenchSensor {
    templates: Arc<Vec<DepthFrame>>,
    ir: Arc<Vec<IrFrame>>,
    color: Arc<Vec<JpegImage>>,
    rate_fps: f64,
    running: Option<(Arc<AtomicBool>, JoinHandle<()>)>,
}

impl BenchSensor {
    /// A sensor over `templates` (at least one) at `rate_fps` frames/s (0: unpaced).
    pub fn new(templates: Vec<DepthFrame>, rate_fps: f64) -> Self {
        Self {
            templates: Arc::new(templates),
            ir: Arc::default(),
            color: Arc::default(),
            rate_fps,
            running: None,
        }
    }

    /// Also offers infrared, cycling through `ir` (empty: none).
    pub fn with_ir(mut self, ir: Vec<IrFrame>) -> Self {
        self.ir = Arc::new(ir);
        self
    }

    /// Also offers colour, cycling through `color` (empty: none).
    pub fn with_color(mut self, color: Vec<JpegImage>) -> Self {
        self.color = Arc::new(color);
        self
    }
}

impl Sensor for BenchSensor {
    fn id(&self) -> &str {
        "0000000000000000000000000000be4c"
    }

    fn shape(&self) -> (usize, usize) {
        self.templates
            .first()
            .map_or((0, 0), |frame| (frame.width(), frame.height()))
    }

    fn start(&mut self, sink: FrameSink) -> Result<(), SensorError> {
        self.start_streams(StreamSinks::depth_only(sink))
    }

    fn streams(&self) -> Streams {
        Streams::new(!self.ir.is_empty(), !self.color.is_empty())
    }

    fn start_streams(&mut self, sinks: StreamSinks) -> Result<(), SensorError> {
        if self.running.is_some() {
            return Err(SensorError::AlreadyStarted(self.id().to_owned()));
        }
        let StreamSinks {
            depth: mut sink,
            ir: mut ir_sink,
            color: mut color_sink,
        } = sinks;
        let (ir, color) = (Arc::clone(&self.ir), Arc::clone(&self.color));
        let stop = Arc::new(AtomicBool::new(false));
        let templates = Arc::clone(&self.templates);
        // 0 fps: as fast as the thread goes (the server's sink drops what its encoders cannot take).
        let period = (self.rate_fps > 0.0).then(|| Duration::from_secs_f64(1.0 / self.rate_fps));
        let stopping = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut next_tick = Instant::now();
            for sequence in 0u64.. {
                if stopping.load(Ordering::Relaxed) {
                    break;
                }
                if let Some(period) = period {
                    roles::pace(&mut next_tick, period);
                }
                // A driver hands over a fresh buffer per frame; the clone stands for that.
                let mut depth = templates[sequence as usize % templates.len()].clone();
                let capture_time_ns = unix_time_ns();
                frames::stamp(depth.depth_mm_mut(), sequence, capture_time_ns);
                sink(CapturedFrame {
                    depth,
                    sequence,
                    device_timestamp: capture_time_ns,
                    capture_time_ns,
                });
                // Infrared and colour of the same instant: copies of ready frames, as a driver
                // hands over its buffers.
                if let (Some(ir_sink), false) = (&mut ir_sink, ir.is_empty()) {
                    ir_sink(CapturedIrFrame {
                        ir: ir[sequence as usize % ir.len()].clone(),
                        sequence,
                        device_timestamp: capture_time_ns,
                        capture_time_ns,
                    });
                }
                if let (Some(color_sink), false) = (&mut color_sink, color.is_empty()) {
                    color_sink(CapturedColorFrame {
                        jpeg: color[sequence as usize % color.len()].clone(),
                        sequence,
                        device_timestamp: capture_time_ns,
                        capture_time_ns,
                    });
                }
            }
        });
        self.running = Some((stop, thread));
        Ok(())
    }

    fn stop(&mut self) {
        if let Some((stop, thread)) = self.running.take() {
            stop.store(true, Ordering::Relaxed);
            let _ = thread.join();
        }
    }
}

impl Drop for BenchSensor {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The key pair of the `server-sk2-curve` stack: the server example of libzmq's zmq_curve(7)
/// manual. Public knowledge, so only for this loopback benchmark: it saves passing a key from the
/// server process to its subscribers, and the cost of CURVE does not depend on the key.
const BENCH_SERVER_PUBLIC_KEY: &str = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7";
const BENCH_SERVER_SECRET_KEY: &str = "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6";

fn bench_server_keys() -> Result<KeyPair> {
    Ok(KeyPair {
        public: PublicKey::from_z85(BENCH_SERVER_PUBLIC_KEY)?,
        secret: SecretKey::from_z85(BENCH_SERVER_SECRET_KEY)?,
    })
}

/// Peer limits of the benchmarked server: above any subscriber count the bench runs.
const BENCH_PEER_LIMIT: usize = 10_000;

/// Runs an `sk2-server` on loopback with one [`BenchSensor`] until stdin closes or `max_seconds`.
/// Prints `endpoint <control endpoint>`.
pub fn serve(stack: Stack, input: &Input, rate_fps: f64, max_seconds: f64) -> Result<()> {
    let mut server = bench_server(stack, input, rate_fps)?;
    let endpoint = server
        .control_endpoint()
        .context("server has no control endpoint")?;
    roles::say(&format!("endpoint {endpoint}"))?;
    serve_until_stdin_closes(max_seconds);
    server.stop();
    Ok(())
}

/// Returns when stdin closes or `max_seconds` have passed, while the caller's server (and
/// bridge) serve on their own threads. Lines on stdin, `stop` too, are passed over: a serving
/// role is stopped by closing its stdin, unlike the measuring roles, which stop on a `stop` line
/// and then report (`roles::wait_for_stop`).
pub(crate) fn serve_until_stdin_closes(max_seconds: f64) {
    let commands = roles::stdin_lines();
    let deadline = Instant::now() + Duration::from_secs_f64(max_seconds);
    while Instant::now() < deadline {
        if let Err(mpsc::RecvTimeoutError::Disconnected) = commands.recv_timeout(POLL_INTERVAL) {
            break;
        }
    }
}

/// A started `sk2-server` on loopback streaming `input` at `rate_fps` from one [`BenchSensor`],
/// set up as `stack` asks: `server-sk2` runs the server as the original (no `depth_v2` offered),
/// `server-v2-*` and `zenoh-v2-*` with that codec; the IR and colour stacks offer their stream
/// beside depth (whose endpoints nobody reads); `server-sk2-curve` with CurveZMQ.
pub(crate) fn bench_server(
    stack: Stack,
    input: &Input,
    rate_fps: f64,
) -> Result<sk2_server::Server> {
    let mut sensor = BenchSensor::new(frames::load(input)?, rate_fps);
    let (codec, ir_codec, curve) = match stack {
        Stack::Server(codec) => (codec, None, None),
        Stack::Zenoh(codec) => (Some(codec), None, None),
        Stack::ServerCurve => (
            None,
            None,
            Some(sk2_server::Curve::new(bench_server_keys()?)),
        ),
        Stack::ServerIr(ir_codec) => {
            sensor = sensor.with_ir(frames::ir_templates());
            (None, Some(ir_codec), None)
        }
        Stack::ServerColor => {
            sensor = sensor.with_color(frames::color_templates());
            (None, None, None)
        }
        _ => anyhow::bail!("{stack} is not a server stack"),
    };
    // The capacity rows measure how many subscribers the server can feed, so the peer limits (a
    // protection for production, 100 subscribers and 64 control peers by default) must not cap
    // the count first. Every subscriber process is also a control peer, and all of them come
    // from 127.0.0.1.
    let config = sk2_server::Config::default()
        .with_codec(codec)
        .with_ir_codec(ir_codec)
        .with_bind_host("127.0.0.1")
        .with_announce(false)
        .with_stats_interval(Duration::from_secs(3600))
        .with_max_subscribers(BENCH_PEER_LIMIT)
        .with_max_control_peers(BENCH_PEER_LIMIT)
        .with_max_peers_per_address(BENCH_PEER_LIMIT)
        .with_curve(curve);
    let mut server = sk2_server::Server::new(config);
    server.add_sensor(Box::new(sensor))?;
    server.start()?;
    Ok(server)
}

/// A subscriber through `sk2-client` (on `depth_v2` for `server-v2-*`, else `depth`); `stall`
/// connects a raw SUB socket to that endpoint and never reads it (the client library always
/// drains its socket, so it cannot stall by itself).
pub fn subscribe(stack: Stack, endpoint: &str, stall: bool, max_seconds: f64) -> Result<()> {
    if let Some(name) = match stack {
        Stack::ServerIr(_) => Some(ENDPOINT_IR_V2),
        Stack::ServerColor => Some(ENDPOINT_COLOR),
        _ => None,
    } {
        return subscribe_raw(stack, endpoint, name, stall, max_seconds);
    }
    let v2 = matches!(stack, Stack::Server(Some(_)));
    let mut config = ClientConfig::default()
        .with_subscription(SubscriptionConfig::default().with_prefer_depth_v2(v2));
    if stack == Stack::ServerCurve {
        config = config.with_server_key(bench_server_keys()?.public);
    }
    let client = Client::connect_blocking(endpoint, config, CONNECT_TIMEOUT)
        .with_context(|| format!("connecting to {endpoint}"))?;
    let me = client.me().context("no `me` from the server")?;
    let device = me.devices.first().context("the server has no device")?;
    let commands = roles::stdin_lines();
    let deadline = Instant::now() + Duration::from_secs_f64(max_seconds);

    if stall {
        let name = if v2 {
            ENDPOINT_DEPTH_V2
        } else {
            ENDPOINT_DEPTH
        };
        let depth = device
            .endpoint(name)
            .with_context(|| format!("device has no {name} endpoint"))?;
        let context = zmq::Context::new();
        let socket = context.socket(zmq::SUB)?;
        socket.set_rcvhwm(RCVHWM_FRAMES)?;
        socket.set_linger(0)?;
        if stack == Stack::ServerCurve {
            let client = zmq::CurveKeyPair::new()?;
            socket.set_curve_serverkey(&bench_server_keys()?.public.0)?;
            socket.set_curve_publickey(&client.public_key)?;
            socket.set_curve_secretkey(&client.secret_key)?;
        }
        socket.connect(depth)?;
        socket.set_subscribe(b"")?;
        roles::say("ready")?;
        roles::wait_for_stop(&commands, deadline);
        // Never counts: its summary is the empty one.
        return roles::Window::new().finish();
    }

    let subscription = client.subscribe(&device.id)?;
    measure(stack, v2, &subscription, &commands, deadline)
}

/// The subscriber's measuring loop over a subscription of either transport: counts decoded
/// frames between `start` and `stop`, then prints the summary.
pub(crate) fn measure(
    stack: Stack,
    v2: bool,
    subscription: &sk2_client::Subscription,
    commands: &mpsc::Receiver<String>,
    deadline: Instant,
) -> Result<()> {
    let mut window = roles::Window::new();
    while Instant::now() < deadline && window.obey(commands)? {
        let Some(frame) = subscription.recv_timeout(POLL_INTERVAL) else {
            continue;
        };
        // depth_v2 carries sequence and capture time in its header; for sk2, the watermark.
        let stamp = match frame.header {
            Some(header) => Some((header.sequence, header.capture_time_ns)),
            None => frames::read_stamp(frame.depth.depth_mm())
                .map(|(sequence, time)| (u64::from(sequence), time)),
        };
        let Some((sequence, capture_time_ns)) = stamp else {
            window.summary.errors += 1;
            continue;
        };
        if v2 != frame.header.is_some() {
            anyhow::bail!("the client subscribed to the wrong endpoint for {stack}");
        }
        let received_at = frame.received_at;
        // The measured end point: an ndarray the application can use.
        let array = std::hint::black_box(frame.depth.into_array());
        let now_ns = unix_time_ns();
        drop(array);
        if !window.decoded()? {
            continue;
        }
        let summary = &mut window.summary;
        let sequence = if v2 {
            sequence
        } else {
            roles::unwrap_sequence32(summary.last_sequence, sequence as u32)
        };
        roles::count(summary, sequence, now_ns.saturating_sub(capture_time_ns));
        // Message arrival to array in the application: the client's decode plus its queue.
        summary.decode_ns += received_at.elapsed().as_nanos() as u64;
    }
    window.finish()
}

/// A subscriber to the `ir_v2` or `color` endpoint (`name`) of the server at `control`: the
/// endpoint comes from `me` through `sk2-client`, the frames through a plain SUB socket decoded
/// with sk2-proto, as the plain-PUB stacks do.
fn subscribe_raw(
    stack: Stack,
    control: &str,
    name: &str,
    stall: bool,
    max_seconds: f64,
) -> Result<()> {
    let client = Client::connect_blocking(control, ClientConfig::default(), CONNECT_TIMEOUT)
        .with_context(|| format!("connecting to {control}"))?;
    let me = client.me().context("no `me` from the server")?;
    let endpoint = me
        .devices
        .first()
        .and_then(|device| device.endpoint(name))
        .with_context(|| format!("the server's device has no {name} endpoint"))?
        .to_owned();
    drop(client);
    roles::subscribe(&roles::SubscriberOptions {
        stack,
        endpoint,
        stall,
        max_seconds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bench_sensor_stamps_consecutive_sequences_and_stops() {
        let templates = vec![frames::mock_frame(1, 0), frames::mock_frame(1, 1)];
        let mut sensor = BenchSensor::new(templates.clone(), 200.0);
        assert_eq!(sensor.shape(), (512, 424));
        let (sender, frames_out) = mpsc::sync_channel(64);
        sensor
            .start(Box::new(move |frame| {
                let _ = sender.try_send(frame);
            }))
            .unwrap();
        assert!(matches!(
            sensor.start(Box::new(|_| {})),
            Err(SensorError::AlreadyStarted(_))
        ));
        let got: Vec<CapturedFrame> = (0..3)
            .map(|_| frames_out.recv_timeout(Duration::from_secs(10)).unwrap())
            .collect();
        sensor.stop();
        for (i, frame) in got.iter().enumerate() {
            assert_eq!(frame.sequence, i as u64);
            let (sequence, time) = frames::read_stamp(frame.depth.depth_mm()).unwrap();
            assert_eq!(
                (u64::from(sequence), time),
                (i as u64, frame.capture_time_ns)
            );
            // Only the watermark pixels differ from the template.
            let template = &templates[i % 2];
            assert_eq!(
                frame.depth.depth_mm()[frames::WATERMARK_PIXELS..],
                template.depth_mm()[frames::WATERMARK_PIXELS..]
            );
        }
        assert!(got[1].capture_time_ns > got[0].capture_time_ns);
        // Stopped: nothing more arrives once the queue is drained.
        while frames_out.try_recv().is_ok() {}
        assert!(frames_out.recv_timeout(Duration::from_millis(100)).is_err());
    }
}

//! `kinect-server`: stream depth frames from simulated or recorded sensors, as streamkinect2 did.
//!
//! With no flags: one mock sensor at 30 fps, announced over mDNS, on random ports. Prints the
//! server name and its endpoints, then serves until Ctrl-C or SIGTERM. `--source freenect2`
//! streams a real Kinect v2 (build with `--features freenect2`; docs/freenect2.md);
//! `--source replay --replay-file X.mcap` plays a `kinect-record` recording (docs/recording.md).
//! `--secure` encrypts and authenticates every connection with CurveZMQ (docs/security.md).

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::{Parser, ValueEnum};
use sk2_mock::{MockConfig, MockKinect, MockMode, PlaybackConfig, RecordingSensor, ReplaySensor};
use sk2_proto::Sensor;
use sk2_server::{Codec, Config, Curve, Server};
use streamkinect2::zenoh_flags::ZenohFlags;
use streamkinect2::{authorized_keys, keys};

#[derive(Parser, Debug)]
#[command(
    name = "kinect-server",
    version,
    about = "Serve depth frames over ZeroMQ, announced over mDNS (streamkinect2 protocol)"
)]
struct Args {
    /// Server name (mDNS instance name). Default: `Kinect on <host name>`.
    #[arg(long)]
    name: Option<String>,
    /// Address to bind every socket to (`0.0.0.0` for all interfaces).
    #[arg(long, default_value = "0.0.0.0")]
    bind: String,
    /// Control (REP) port; 0 picks a free one.
    #[arg(long, default_value_t = 0)]
    control_port: u16,
    /// First depth (PUB) port, the next sensors counting up; 0 picks free ones.
    #[arg(long, default_value_t = 0)]
    depth_port: u16,
    /// Host name to put into advertised endpoints (default: `<hostname>.local` when announcing).
    #[arg(long)]
    advertise_host: Option<String>,
    /// Where frames come from.
    #[arg(long, value_enum, default_value_t = Source::Mock)]
    source: Source,
    /// Number of mock sensors (with `--source mock`).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(0..=64))]
    sensors: u16,
    /// Mock picture: `plain` (the original's) or `realistic` (noise, holes, far values).
    #[arg(long, default_value = "plain")]
    mock_mode: MockMode,
    /// Seed of the realistic mock's noise.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Frames per second of each sensor; 0 means as fast as possible.
    #[arg(long, default_value_t = 30.0)]
    fps: f64,
    /// Serial number of the Kinect v2 to open (with `--source freenect2`; default: the first).
    #[arg(long)]
    serial: Option<String>,
    /// libfreenect2 packet pipeline (with `--source freenect2`): cpu, opengl, opencl or cuda.
    #[arg(long, default_value = "cpu")]
    pipeline: String,
    /// Directory of `<name>-<W>x<H>.u16` frames to replay (with `--source replay`).
    #[arg(long)]
    replay_dir: Option<PathBuf>,
    /// With `--source replay`: only the files of this shape, `<W>x<H>` (e.g. `512x424`).
    #[arg(long, value_parser = parse_shape)]
    replay_shape: Option<(usize, usize)>,
    /// MCAP recording to replay (with `--source replay`), made by `kinect-record`: one sensor per
    /// recorded sensor, at the recorded pace, with the recorded sequence numbers.
    #[arg(long, conflicts_with = "replay_dir")]
    replay_file: Option<PathBuf>,
    /// With `--replay-file`: playback speed against the recorded pace (2.0 is twice as fast).
    #[arg(long, default_value_t = 1.0)]
    rate: f64,
    /// With `--replay-file`: start again from the first frame after the last, forever.
    #[arg(long = "loop")]
    looping: bool,
    /// Do not announce over mDNS.
    #[arg(long)]
    no_announce: bool,
    /// Announce only on this network interface.
    #[arg(long)]
    interface: Option<String>,
    /// Encoder threads (default: the number of cores, at most 4).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=64))]
    workers: Option<u16>,
    /// Codec of the lossless `depth_v2` endpoint (raw, rvl, medans, medhuf), or `none` to offer only the
    /// original `depth` endpoint.
    #[arg(long, default_value_t = CodecChoice(Some(Codec::default())))]
    codec: CodecChoice,
    /// Codec of the `ir_v2` endpoint of sensors that deliver infrared (raw, rvl, medans,
    /// medhuf), or `none` to offer no `ir_v2`.
    #[arg(long, default_value_t = CodecChoice(Some(sk2_proto::ir_v2::DEFAULT_CODEC)))]
    ir_codec: CodecChoice,
    /// Offer no `color` endpoint (the mock then draws and encodes no colour).
    #[arg(long)]
    no_color: bool,
    /// `SNDHWM` of depth sockets, in frames per subscriber.
    #[arg(long, default_value_t = sk2_server::DEFAULT_DEPTH_SNDHWM, value_parser = clap::value_parser!(i32).range(1..=1000))]
    depth_sndhwm: i32,
    /// Most subscribers on each depth endpoint; more are refused until one leaves.
    #[arg(long, default_value_t = sk2_server::DEFAULT_MAX_SUBSCRIBERS as u32, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    max_subscribers: u32,
    /// Most peers (clients and browsers) on the control endpoint; more are refused until one
    /// leaves.
    #[arg(long, default_value_t = sk2_server::DEFAULT_MAX_CONTROL_PEERS as u32, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    max_control_peers: u32,
    /// Most connections from one source address on each endpoint (control, and each depth
    /// endpoint apart); past it, the address's longest-idle peer is closed, or the newcomer if
    /// none has been idle for a second.
    #[arg(long, default_value_t = sk2_server::DEFAULT_MAX_PEERS_PER_ADDRESS as u32, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    max_peers_per_address: u32,
    /// Also publish every sensor on Zenoh, from a bridge in this process (docs/distributed.md;
    /// needs a build with `--features zenoh`).
    #[arg(long)]
    zenoh: bool,
    /// With --zenoh: the server's id in Zenoh keys (default: the server name).
    #[arg(long, value_name = "ID", requires = "zenoh")]
    zenoh_server_id: Option<String>,
    #[command(flatten)]
    zenoh_flags: ZenohFlags,
    /// Encrypt and authenticate every connection with CurveZMQ (docs/security.md). Clients need
    /// the server's public key; the original (2014) clients cannot connect.
    #[arg(long)]
    secure: bool,
    /// With --secure: the server's secret key file (default:
    /// `$XDG_CONFIG_HOME/streamkinect2/server.key_secret`, made by `kinect-keygen`).
    #[arg(long, requires = "secure")]
    key_file: Option<PathBuf>,
    /// With --secure: admit only the clients whose public key is in a `*.key` file of this
    /// directory, looked at again every 2 s while the server runs (a removed file refuses that
    /// client from its next connection on); without it, any client that knows the server's key.
    #[arg(long, requires = "secure")]
    authorized_keys: Option<PathBuf>,
}

/// `--codec`, `--ir-codec`: a `u16` codec name, or `none`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct CodecChoice(Option<Codec>);

impl std::str::FromStr for CodecChoice {
    type Err = sk2_proto::depth_v2::UnknownCodecName;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        if name.eq_ignore_ascii_case("none") {
            Ok(Self(None))
        } else {
            name.parse().map(|codec| Self(Some(codec)))
        }
    }
}

impl std::fmt::Display for CodecChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(codec) => write!(f, "{codec}"),
            None => f.write_str("none"),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Source {
    /// Simulated Kinect v2 frames.
    Mock,
    /// A recording from `--replay-file` (MCAP), or `.u16` frames from `--replay-dir` in a loop.
    Replay,
    /// A real Kinect v2 through libfreenect2 (needs a build with `--features freenect2`).
    Freenect2,
}

fn main() {
    streamkinect2::init_logging("info");
    if let Err(error) = run(Args::parse()) {
        eprintln!("kinect-server: {error:#}");
        std::process::exit(1);
    }
}

fn run(args: Args) -> Result<()> {
    if !(args.fps.is_finite() && args.fps >= 0.0) {
        bail!("--fps must be a number >= 0, got {}", args.fps);
    }
    if args.zenoh_flags.any() && !args.zenoh {
        bail!("the --zenoh-* flags configure --zenoh, which is not given");
    }
    if args.zenoh && cfg!(not(feature = "zenoh")) {
        bail!(streamkinect2::zenoh_flags::NOT_BUILT);
    }
    let fps = (args.fps > 0.0).then_some(args.fps);
    let curve = curve(&args)?;
    let sensors = sensors(&args, fps)?;

    let mut config = Config::default()
        .with_bind_host(args.bind)
        .with_control_port(args.control_port)
        .with_depth_port(args.depth_port)
        .with_advertise_host(args.advertise_host)
        .with_announce(!args.no_announce)
        .with_interface(args.interface)
        .with_depth_sndhwm(args.depth_sndhwm)
        .with_max_subscribers(usize::try_from(args.max_subscribers).unwrap_or(usize::MAX))
        .with_max_control_peers(usize::try_from(args.max_control_peers).unwrap_or(usize::MAX))
        .with_max_peers_per_address(
            usize::try_from(args.max_peers_per_address).unwrap_or(usize::MAX),
        )
        .with_codec(args.codec.0)
        .with_ir_codec(args.ir_codec.0)
        .with_color(!args.no_color)
        .with_curve(curve.clone());
    // Without these flags, the defaults stand (`Kinect on <host name>`, workers from the core
    // count).
    if let Some(name) = args.name {
        config = config.with_name(name);
    }
    if let Some(workers) = args.workers {
        config = config.with_workers(usize::from(workers));
    }

    let stop = streamkinect2::stop_signal()?;
    let bind = config.bind_host.clone();

    let mut server = Server::new(config);
    for sensor in sensors {
        server.add_sensor(sensor)?;
    }
    server.start().context("starting the server")?;
    let authorized = curve.as_ref().and_then(|c| c.authorized_clients.clone());
    if let (Some(dir), Some(clients)) = (&args.authorized_keys, authorized) {
        authorized_keys::watch(dir.clone(), clients, authorized_keys::WATCH_INTERVAL)?;
    }
    let me = server.me();
    #[allow(unused_mut)] // pushed to with --features zenoh
    let mut banner = vec![
        format!("name: {}", me.name),
        format!("control: {}", server.control_endpoint().unwrap_or_default()),
    ];
    if let Some(curve) = &curve {
        let admits = match &curve.authorized_clients {
            Some(keys) => format!("only the {} authorised client keys", keys.keys().len()),
            None => "any client that knows the server key".to_owned(),
        };
        banner.push(format!(
            "secure: CurveZMQ, {admits}; the original (2014) clients cannot connect"
        ));
        banner.push(format!("server key: {}", curve.keys.public));
    }
    for device in &me.devices {
        // `depth` first: scripts read the first device line as the original endpoint.
        let (original, others): (Vec<_>, Vec<_>) = device
            .endpoints
            .iter()
            .partition(|(kind, _)| kind.as_str() == sk2_proto::control::ENDPOINT_DEPTH);
        for (kind, endpoint) in original.into_iter().chain(others) {
            banner.push(format!("device {} {kind}: {endpoint}", device.id));
        }
        if let Some(keys) = me.device_keys.get(&device.id) {
            for (key, value) in keys {
                banner.push(format!("device {} {key}: {value}", device.id));
            }
        }
    }
    #[cfg(feature = "zenoh")]
    let bridge = if args.zenoh {
        let bridge = zenoh_bridge(
            &server,
            &bind,
            args.zenoh_server_id.clone(),
            &args.zenoh_flags,
        )?;
        banner.push(format!(
            "zenoh: kinect2/{}",
            sk2_proto::zenoh_keys::encode_chunk(&bridge.server_id().unwrap_or_default())
        ));
        Some(bridge)
    } else {
        None
    };
    #[cfg(not(feature = "zenoh"))]
    let _ = &bind;
    streamkinect2::print_banner(banner);

    let _ = stop.recv();
    tracing::info!("shutting down");
    #[cfg(feature = "zenoh")]
    if let Some(bridge) = bridge {
        bridge.stop();
    }
    server.stop();
    Ok(())
}

/// A bridge in this process, reading the server's own endpoints over loopback (or the bind
/// address), as any subscriber would: one encode serves both transports, and the bridge is the same
/// as `kinect-zenoh` in front of another server.
#[cfg(feature = "zenoh")]
fn zenoh_bridge(
    server: &Server,
    bind: &str,
    server_id: Option<String>,
    flags: &ZenohFlags,
) -> Result<sk2_zenoh::Bridge> {
    use std::net::{IpAddr, Ipv4Addr};

    let control: sk2_client::Endpoint = server
        .control_endpoint()
        .context("the server has no control endpoint")?
        .parse()?;
    // The advertised host (`<host>.local`, the machine's name) need not resolve here without
    // mDNS: reach the sockets where they are bound.
    let ip = match bind.parse::<IpAddr>() {
        Ok(ip) if !ip.is_unspecified() => ip,
        _ => IpAddr::V4(Ipv4Addr::LOCALHOST),
    };
    let mut hosts = sk2_client::HostAddresses::new();
    hosts.insert(&control.host, ip);
    let upstream = sk2_client::zmq_address(std::net::SocketAddr::new(ip, control.port));
    let defaults = sk2_zenoh::BridgeConfig::new(upstream);
    let client = defaults.client.clone().with_host_addresses(hosts);
    let config = defaults
        .with_server_id(server_id.or_else(|| Some(server.config().name.clone())))
        .with_zenoh(flags.config(sk2_client::zenoh::ZenohMode::Peer)?)
        .with_client(client);
    Ok(sk2_zenoh::Bridge::start(config)?)
}

/// The CurveZMQ set-up `--secure` asks for, its key files read and checked now, so that a bad one
/// stops the server before it starts.
fn curve(args: &Args) -> Result<Option<Curve>> {
    if !args.secure {
        return Ok(None);
    }
    let key_file = match &args.key_file {
        Some(path) => path.clone(),
        None => keys::secret_file(&keys::key_dir()?, keys::SERVER_KEY_NAME),
    };
    let pair = keys::read_key_pair(&key_file)?;
    let authorized = args
        .authorized_keys
        .as_deref()
        .map(authorized_keys::read)
        .transpose()?;
    Ok(Some(Curve::new(pair).with_authorized_clients(authorized)))
}

fn sensors(args: &Args, fps: Option<f64>) -> Result<Vec<Box<dyn Sensor>>> {
    if args.replay_file.is_none() && (args.looping || args.rate != 1.0) {
        bail!("--rate and --loop only apply to --replay-file");
    }
    if args.source != Source::Freenect2 && (args.serial.is_some() || args.pipeline != "cpu") {
        bail!("--serial and --pipeline only apply to --source freenect2");
    }
    match args.source {
        Source::Mock => Ok((0..args.sensors)
            .map(|index| {
                let config = MockConfig::default()
                    .with_fps(fps)
                    .with_mode(args.mock_mode)
                    .with_seed(args.seed.wrapping_add(u64::from(index)));
                Box::new(MockKinect::new(config)) as Box<dyn Sensor>
            })
            .collect()),
        Source::Replay if args.replay_file.is_some() => recording_sensors(args),
        Source::Replay => {
            let dir = args
                .replay_dir
                .as_ref()
                .context("--source replay needs --replay-file FILE.mcap or --replay-dir DIR")?;
            let replay = ReplaySensor::open_shape(dir, fps, args.replay_shape)?;
            Ok(vec![Box::new(replay)])
        }
        Source::Freenect2 => freenect2_sensor(args),
    }
}

/// One sensor per recorded sensor of `--replay-file`. `--fps` does not apply: a recording plays
/// at its recorded pace times `--rate`.
fn recording_sensors(args: &Args) -> Result<Vec<Box<dyn Sensor>>> {
    let Some(path) = &args.replay_file else {
        bail!("--source replay needs --replay-file FILE.mcap or --replay-dir DIR");
    };
    let playback = PlaybackConfig {
        rate: args.rate,
        looping: args.looping,
    };
    let sensors = RecordingSensor::open_all(path, playback)?;
    let mut boxed: Vec<Box<dyn Sensor>> = Vec::with_capacity(sensors.len());
    for sensor in sensors {
        let recorded = sensor.recorded();
        tracing::info!(
            topic = %recorded.channel.topic,
            frames = recorded.frames,
            first_sequence = recorded.sequences.0,
            last_sequence = recorded.sequences.1,
            "replaying a recorded sensor"
        );
        if sensor.truncated() {
            tracing::warn!(
                file = %path.display(),
                "the recording was not closed (recorder killed?): playing its complete frames"
            );
        }
        boxed.push(Box::new(sensor));
    }
    Ok(boxed)
}

/// The Kinect v2 named by `--serial` (or the first one), opened now so that a missing device is
/// reported before the server starts. It streams at the device's own 30 fps (`--fps` is ignored).
#[cfg(feature = "freenect2")]
fn freenect2_sensor(args: &Args) -> Result<Vec<Box<dyn Sensor>>> {
    use sk2_freenect2::{Freenect2Sensor, OpenOptions, Pipeline};

    let pipeline: Pipeline = args.pipeline.parse()?;
    let options = OpenOptions {
        serial: args.serial.clone(),
        pipeline,
        ..OpenOptions::default()
    };
    let sensor = Freenect2Sensor::open(&options)?;
    tracing::info!(serial = sensor.serial(), %pipeline, "streaming a Kinect v2");
    Ok(vec![Box::new(sensor)])
}

#[cfg(not(feature = "freenect2"))]
fn freenect2_sensor(_args: &Args) -> Result<Vec<Box<dyn Sensor>>> {
    bail!(
        "this kinect-server was built without libfreenect2 support; rebuild with \
         `cargo build --release --features freenect2` (see docs/freenect2.md)"
    )
}

/// `512x424` -> `(512, 424)`.
fn parse_shape(text: &str) -> Result<(usize, usize), String> {
    let parse = |part: &str| part.parse::<usize>().ok().filter(|&n| n > 0);
    text.split_once('x')
        .and_then(|(width, height)| Some((parse(width)?, parse(height)?)))
        .ok_or_else(|| format!("expected <W>x<H> such as 512x424, got {text:?}"))
}

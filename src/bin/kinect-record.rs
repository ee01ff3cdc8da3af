//! `kinect-record`: record a server's depth frames (and with `--ir`, `--color` its infrared and
//! colour) into an MCAP file (docs/recording.md).
//!
//! Finds a server over mDNS (or takes `--connect tcp://host:port`), subscribes to one sensor
//! (`--sensor`) or all of them, and writes every `depth_v2` (`ir_v2`, `color`) message exactly as
//! received, with the server's `me` reply as metadata. `--foxglove` writes Foxglove's image
//! messages instead (`foxglove.RawImage`, `foxglove.CompressedImage`), which Foxglove opens
//! without plugins. Stops after `--duration` or `--frames`, on Ctrl-C or SIGTERM,
//! or when the server goes away, and then closes the file (summary and index). A full disk stops
//! the recording with an error; the file then reads up to its last complete chunk, as it does
//! after a SIGKILL, because a chunk is written out at least every `--flush-interval`.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use clap::Parser;
use crossbeam_channel::{Receiver, Select};
use sk2_client::{
    Browser, Client, ClientConfig, ClientEvent, EndpointKind, RawStreamMessage,
    RawStreamSubscription,
};
use sk2_proto::depth_v2::ENDPOINT_DEPTH_V2;
use sk2_proto::{Me, Reply};
use sk2_record::{
    RecordFormat, RecordedStream, RecordingWriter, SensorChannel, WriteError, STATS_METADATA_NAME,
};
use streamkinect2::record_progress::{Progress, RecordTotals, PROGRESS_EVERY};

#[derive(Parser, Debug)]
#[command(
    name = "kinect-record",
    version,
    about = "Record depth (and infrared and colour) frames from a streamkinect2 server into an MCAP file"
)]
struct Args {
    /// The MCAP file to write (replaced if it exists).
    #[arg(short, long)]
    output: PathBuf,
    /// Control endpoint of the server (`tcp://host:port`); without it, find one over mDNS.
    #[arg(long)]
    connect: Option<String>,
    /// With mDNS: the name of the server to record (needed when several answer).
    #[arg(long)]
    server: Option<String>,
    /// Record only this sensor (its id, or a unique prefix of it); default: every sensor.
    #[arg(long)]
    sensor: Option<String>,
    /// Write Foxglove's image messages (zstd chunks) instead of the messages as received: depth
    /// and infrared as `foxglove.RawImage`, colour as `foxglove.CompressedImage`.
    #[arg(long)]
    foxglove: bool,
    /// Record each sensor's infrared too (`ir_v2` messages as received).
    #[arg(long)]
    ir: bool,
    /// Record each sensor's colour too (`color` messages: 1920 x 1080 JPEG files, 90 to 200 kB
    /// each from the mock).
    #[arg(long)]
    color: bool,
    /// Stop after this many seconds.
    #[arg(long)]
    duration: Option<f64>,
    /// Stop after this many messages (of all sensors and streams together).
    #[arg(long)]
    frames: Option<u64>,
    /// Seconds to wait for the server (connection and mDNS discovery).
    #[arg(long, default_value_t = 5.0)]
    timeout: f64,
    /// Longest time a frame stays in memory before its chunk is written: what a SIGKILL or a
    /// power cut can lose.
    #[arg(long, default_value_t = 1.0)]
    flush_interval: f64,
    /// No progress line.
    #[arg(short, long)]
    quiet: bool,
}

fn main() {
    streamkinect2::init_logging("warn");
    if let Err(error) = run(Args::parse()) {
        eprintln!("kinect-record: {error:#}");
        std::process::exit(1);
    }
}

fn seconds(value: f64, flag: &str) -> Result<Duration> {
    ensure!(
        value.is_finite() && value > 0.0,
        "{flag} must be a positive number of seconds, got {value}"
    );
    Ok(Duration::from_secs_f64(value))
}

fn run(args: Args) -> Result<()> {
    let timeout = seconds(args.timeout, "--timeout")?;
    let flush_interval = seconds(args.flush_interval, "--flush-interval")?;
    let duration = args
        .duration
        .map(|value| seconds(value, "--duration"))
        .transpose()?;
    let streams: Vec<RecordedStream> = [
        Some(RecordedStream::Depth),
        args.ir.then_some(RecordedStream::Ir),
        args.color.then_some(RecordedStream::Color),
    ]
    .into_iter()
    .flatten()
    .collect();

    let (stop_tx, stop_rx) = crossbeam_channel::bounded::<()>(1);
    ctrlc::set_handler(move || {
        let _ = stop_tx.try_send(());
    })
    .context("installing the Ctrl-C / SIGTERM handler")?;

    let endpoint = match &args.connect {
        Some(endpoint) => endpoint.clone(),
        None => discover(args.server.as_deref(), timeout)?,
    };
    let client = Client::connect_blocking(&endpoint, ClientConfig::default(), timeout)
        .with_context(|| format!("connecting to {endpoint}"))?;
    let me = client
        .wait_connected(timeout)
        .with_context(|| format!("waiting for {endpoint} to answer"))?;
    let devices = chosen_devices(&me, args.sensor.as_deref())?;

    let format = if args.foxglove {
        RecordFormat::FoxgloveRawImage
    } else {
        RecordFormat::DepthV2
    };
    let file = File::create(&args.output)
        .with_context(|| format!("creating {}", args.output.display()))?;
    let mut writer = RecordingWriter::new(BufWriter::new(file), format)
        .with_context(|| format!("starting {}", args.output.display()))?;
    let recorder = format!("kinect-record {}", env!("CARGO_PKG_VERSION"));
    writer.write_me(&me.name, &me_json(&me), &recorder)?;

    let mut sensors = Vec::new();
    for device in &devices {
        for &stream in &streams {
            let kind = endpoint_kind(stream);
            let subscription = client.subscribe_raw_stream(device, kind).with_context(|| {
                format!("subscribing to {} of sensor {device}", kind.endpoint_name())
            })?;
            sensors.push(Sensor {
                id: device.clone(),
                kind,
                channel: writer.add_stream(&me.name, device, stream)?,
                subscription,
                written: 0,
                rejected: 0,
            });
        }
    }
    eprintln!(
        "kinect-record: recording {} of {} sensor(s) of {:?} into {}",
        streams
            .iter()
            .map(|&stream| endpoint_kind(stream).endpoint_name())
            .collect::<Vec<_>>()
            .join(", "),
        devices.len(),
        me.name,
        args.output.display()
    );

    let limits = Limits {
        duration,
        frames: args.frames,
    };
    let mut session = Session {
        writer,
        sensors,
        progress: Progress::new(args.quiet),
        flush_interval,
    };
    let ending = session.record(&stop_rx, &client.events(), limits);
    session.progress.finish();
    let stats = session.stats();
    let written = session.writer.messages();
    let message_bytes = session.writer.message_bytes();
    for sensor in session.sensors.drain(..) {
        sensor.subscription.unsubscribe();
    }
    match ending {
        Ok(reason) => {
            session.writer.write_metadata(STATS_METADATA_NAME, stats)?;
            let out = session
                .writer
                .finish()
                .with_context(|| format!("closing {}", args.output.display()))?;
            let file = out
                .into_inner()
                .map_err(|error| error.into_error())
                .with_context(|| format!("closing {}", args.output.display()))?;
            file.sync_all()
                .with_context(|| format!("syncing {}", args.output.display()))?;
            eprintln!(
                "kinect-record: {reason}: {written} messages ({:.1} MB) in {}",
                message_bytes as f64 / 1e6,
                args.output.display()
            );
            Ok(())
        }
        Err(error) => {
            // The writer's state after a failed write is unknown; the summary is not attempted.
            // Everything up to the last complete chunk is readable without it.
            std::mem::forget(session.writer);
            Err(error).with_context(|| {
                format!(
                    "recording stopped after {written} messages; {} is readable up to its last \
                     complete chunk (kinect-server --source replay --replay-file plays it)",
                    args.output.display()
                )
            })
        }
    }
}

/// The control endpoint of the server found over mDNS: the one named `name`, or the only one.
fn discover(name: Option<&str>, timeout: Duration) -> Result<String> {
    let browser = Browser::new().context("starting mDNS discovery")?;
    let deadline = Instant::now() + timeout;
    loop {
        let servers = browser.servers();
        let matching: Vec<_> = servers
            .iter()
            .filter(|server| name.map_or(true, |name| server.name == name))
            .collect();
        match (matching.as_slice(), name) {
            ([server], _) => return Ok(server.control_endpoint()),
            ([_, _, ..], None) if Instant::now() >= deadline => bail!(
                "several servers answer ({}); choose one with --server NAME",
                servers
                    .iter()
                    .map(|server| format!("{:?}", server.name))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            _ if Instant::now() >= deadline => match name {
                Some(name) => bail!("no server named {name:?} found over mDNS in {timeout:?}"),
                None => {
                    bail!("no server found over mDNS in {timeout:?}; try --connect tcp://host:port")
                }
            },
            _ => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// The sensors to record: the one `--sensor` names (an id or a unique prefix), or every sensor
/// that offers `depth_v2` (only `depth_v2` carries sequence numbers and capture times).
fn chosen_devices(me: &Me, wanted: Option<&str>) -> Result<Vec<String>> {
    let offered: Vec<&str> = me
        .devices
        .iter()
        .filter(|device| device.endpoint(ENDPOINT_DEPTH_V2).is_some())
        .map(|device| device.id.as_str())
        .collect();
    ensure!(
        !offered.is_empty(),
        "{:?} offers no depth_v2 endpoint (started with --codec none?); kinect-record stores \
         depth_v2 messages",
        me.name
    );
    let Some(wanted) = wanted else {
        return Ok(offered.iter().map(|id| (*id).to_owned()).collect());
    };
    let matching: Vec<&str> = offered
        .iter()
        .copied()
        .filter(|id| id.starts_with(wanted))
        .collect();
    match matching.as_slice() {
        [one] => Ok(vec![(*one).to_owned()]),
        [] => bail!("no sensor {wanted:?} with depth_v2; the server has {offered:?}"),
        _ => bail!("{wanted:?} matches several sensors {matching:?}; give more of the id"),
    }
}

/// The endpoint a recorded stream is read from.
fn endpoint_kind(stream: RecordedStream) -> EndpointKind {
    match stream {
        RecordedStream::Ir => EndpointKind::Ir,
        RecordedStream::Color => EndpointKind::Color,
        _ => EndpointKind::DepthV2,
    }
}

/// The `me` reply as the server's JSON (the payload of its `me` reply).
fn me_json(me: &Me) -> String {
    let frames = Reply::Me(me.clone()).encode();
    frames
        .get(1)
        .map(|payload| String::from_utf8_lossy(payload).into_owned())
        .unwrap_or_default()
}

/// One recorded stream of one sensor.
struct Sensor {
    id: String,
    kind: EndpointKind,
    channel: SensorChannel,
    subscription: RawStreamSubscription,
    written: u64,
    /// Messages skipped because they were not valid messages of their stream (or, with
    /// `--foxglove`, did not decode).
    rejected: u64,
}

#[derive(Clone, Copy)]
struct Limits {
    duration: Option<Duration>,
    frames: Option<u64>,
}

struct Session {
    writer: RecordingWriter<BufWriter<File>>,
    sensors: Vec<Sensor>,
    progress: Progress,
    flush_interval: Duration,
}

impl Session {
    /// Writes messages until a limit, a signal or the server's departure; returns why it
    /// ended, or the write error that ended it.
    fn record(
        &mut self,
        stop: &Receiver<()>,
        events: &Receiver<ClientEvent>,
        limits: Limits,
    ) -> Result<&'static str> {
        let started = Instant::now();
        let mut last_flush = Instant::now();
        let receivers: Vec<Receiver<RawStreamMessage>> = self
            .sensors
            .iter()
            .map(|sensor| sensor.subscription.frames().clone())
            .collect();
        let mut select = Select::new();
        let stop_index = select.recv(stop);
        let events_index = select.recv(events);
        // Every receiver is registered; their indexes follow one another from the first.
        let sensor_indexes: Vec<usize> = receivers
            .iter()
            .map(|receiver| select.recv(receiver))
            .collect();
        let first_sensor = sensor_indexes.first().copied().unwrap_or(usize::MAX);
        loop {
            if limits
                .frames
                .is_some_and(|frames| self.writer.messages() >= frames)
            {
                return Ok("frame limit reached");
            }
            let now = Instant::now();
            if limits
                .duration
                .is_some_and(|duration| now >= started + duration)
            {
                return Ok("duration reached");
            }
            if now >= last_flush + self.flush_interval {
                self.writer.flush().context("writing a chunk")?;
                last_flush = now;
            }
            self.progress.show(now, &self.totals());
            let wait = PROGRESS_EVERY.min(self.flush_interval);
            let Ok(operation) = select.select_timeout(wait) else {
                continue;
            };
            match operation.index() {
                index if index == stop_index => {
                    let _ = operation.recv(stop);
                    return Ok("stopped");
                }
                index if index == events_index => {
                    if let Ok(ClientEvent::Disconnected { .. }) = operation.recv(events) {
                        return Ok("the server went away");
                    }
                }
                index => {
                    let sensor_index = index - first_sensor;
                    let Ok(message) = operation.recv(&receivers[sensor_index]) else {
                        return Ok("the subscription ended");
                    };
                    let sensor = &mut self.sensors[sensor_index];
                    match self.writer.write(
                        sensor.channel,
                        &message.bytes,
                        message.received_time_ns,
                    ) {
                        Ok(()) => sensor.written += 1,
                        // A message the server got wrong is skipped and counted, not fatal.
                        Err(
                            error @ (WriteError::BadMessage(_) | WriteError::BadColorMessage(_)),
                        ) => {
                            sensor.rejected += 1;
                            tracing::warn!(%error, sensor = %sensor.id, "skipped a bad message");
                        }
                        Err(error) => return Err(error).context("writing a frame"),
                    }
                }
            }
        }
    }

    /// Counters of every sensor and stream together.
    fn totals(&self) -> RecordTotals {
        let mut totals = RecordTotals {
            messages: self.writer.messages(),
            bytes: self.writer.message_bytes(),
            ..RecordTotals::default()
        };
        for sensor in &self.sensors {
            let stats = sensor.subscription.stats();
            totals.dropped += stats.dropped;
            totals.lost += stats.lost;
        }
        totals
    }

    /// The `streamkinect2.stats` metadata: per sensor and stream, what was received, written and
    /// lost (`<sensor>.<counter>` for depth, `<sensor>.ir_v2.<counter>` and
    /// `<sensor>.color.<counter>` for the others).
    fn stats(&self) -> BTreeMap<String, String> {
        let mut stats = BTreeMap::new();
        for sensor in &self.sensors {
            let counters = sensor.subscription.stats();
            let prefix = match sensor.kind {
                EndpointKind::DepthV2 => sensor.id.clone(),
                other => format!("{}.{}", sensor.id, other.endpoint_name()),
            };
            for (name, value) in [
                ("received", counters.received),
                ("written", sensor.written),
                ("rejected", sensor.rejected),
                ("dropped", counters.dropped),
                ("lost", counters.lost),
                ("refused", counters.refused),
            ] {
                stats.insert(format!("{prefix}.{name}"), value.to_string());
            }
        }
        stats
    }
}

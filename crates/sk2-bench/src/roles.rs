//! The two child roles: a publisher (the server side) and a subscriber.
//!
//! The orchestrator re-executes its own binary in these roles, so every process is a real,
//! separate process talking over loopback TCP. Children are driven through their standard streams:
//!
//! * publisher: prints `endpoint <zmq endpoint>` once bound, then publishes until its stdin closes;
//! * subscriber: prints `ready` once it has decoded a frame (a stalled one: once subscribed),
//!   starts counting at a `start` line on stdin, and at `stop` (or end of stdin) prints
//!   `summary <json>` and exits.
//!
//! End of stdin also means "the orchestrator is gone" (killed, crashed or interrupted), so no child
//! outlives it; every child also stops by itself after `--max-seconds`.

use std::io::{BufRead, Write};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use ndarray::Array2;
use serde::{Deserialize, Serialize};
use sk2_proto::depth_v2::{self, Codec};
use sk2_proto::sensor::unix_time_ns;
use sk2_proto::{
    color, ir_v2, sk2, CapturedColorFrame, CapturedFrame, CapturedIrFrame, DepthFrame,
    KINECT_V2_HEIGHT_PX, KINECT_V2_WIDTH_PX,
};

use crate::frames::{self, Input};
use crate::histogram::Histogram;
use crate::procfs;

/// Bytes of a raw 512 x 424 `u16` frame: the payload of the baseline.
pub const RAW_FRAME_BYTES: usize = KINECT_V2_WIDTH_PX * KINECT_V2_HEIGHT_PX * 2;
/// The baseline's prefix: sequence (u64 LE) then capture time in ns (u64 LE).
pub const RAW_PREFIX_BYTES: usize = 16;
/// Send high-water mark, in messages, per subscriber pipe: a few frames of slack for a subscriber
/// that is momentarily descheduled, and no more, so a stalled one costs at most this many frames
/// of memory (libzmq's default of 1000 would be 400 MB of raw frames).
pub const SNDHWM_FRAMES: i32 = 4;
/// Receive high-water mark, in messages: the same reasoning on the subscriber side.
pub const RCVHWM_FRAMES: i32 = 4;
/// Largest message a subscriber accepts: a raw frame plus headroom; anything bigger is hostile.
pub const MAX_MESSAGE_BYTES: i64 = 2 * 1024 * 1024;
/// How often a blocked receive wakes up to look at stdin commands.
pub const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// What travels between publisher and subscribers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Stack {
    /// Baseline: raw frames with a 16-byte sequence + capture-time prefix over plain PUB/SUB.
    Raw,
    /// The original sk2 codec (sk2-proto), encoded once per frame, over plain PUB/SUB; sequence
    /// and capture time travel in the watermark pixels.
    Sk2Pub,
    /// A `depth_v2` message (sk2-proto's header + the codec's payload), encoded once per frame,
    /// over plain PUB/SUB; sequence and capture time travel in the header.
    V2Pub(Codec),
    /// The real stack: `sk2-server` streaming from a bench sensor, `sk2-client` subscriptions.
    /// `None`: the original `depth` endpoint (sk2), sequence and capture time in the watermark
    /// pixels; `Some(codec)`: `depth_v2` with that codec, sequence and time from its header.
    Server(Option<Codec>),
    /// An `ir_v2` message of the mock's infrared (header + the codec's payload), encoded once per
    /// frame, over plain PUB/SUB.
    IrPub(Codec),
    /// A `color` message of the mock's 1080p JPEG (header + the JPEG as it is: the passthrough a
    /// Kinect v2's own JPEG gets), over plain PUB/SUB. Subscribers check the header and the
    /// JPEG's frame header; decoding JPEG to pixels is the client's and not measured here.
    ColorPub,
    /// `sk2-server` streaming a bench sensor's infrared on `ir_v2` with that codec (and depth
    /// beside it, unwatched); subscribers read `ir_v2`.
    ServerIr(Codec),
    /// `sk2-server` passing a bench sensor's JPEGs through on `color` (and depth beside it,
    /// unwatched); subscribers read `color`.
    ServerColor,
}

impl Stack {
    /// Whether the publisher is an `sk2-server` (the subscribers then start from its `me`).
    pub fn is_server(self) -> bool {
        matches!(
            self,
            Stack::Server(_) | Stack::ServerIr(_) | Stack::ServerColor
        )
    }

    /// Whether the stack carries depth (and so can replay a depth corpus).
    pub fn is_depth(self) -> bool {
        matches!(
            self,
            Stack::Raw | Stack::Sk2Pub | Stack::V2Pub(_) | Stack::Server(_)
        )
    }
}

impl std::fmt::Display for Stack {
    /// The name used on the command line and in the table: `raw`, `sk2-pub`, `v2-<codec>-pub`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stack::Raw => f.write_str("raw"),
            Stack::Sk2Pub => f.write_str("sk2-pub"),
            Stack::V2Pub(codec) => write!(f, "v2-{codec}-pub"),
            Stack::Server(None) => f.write_str("server-sk2"),
            Stack::Server(Some(codec)) => write!(f, "server-v2-{codec}"),
            Stack::IrPub(codec) => write!(f, "ir-{codec}-pub"),
            Stack::ColorPub => f.write_str("color-pub"),
            Stack::ServerIr(codec) => write!(f, "server-ir-{codec}"),
            Stack::ServerColor => f.write_str("server-color"),
        }
    }
}

impl std::str::FromStr for Stack {
    type Err = anyhow::Error;

    fn from_str(text: &str) -> Result<Self> {
        match text {
            "raw" => Ok(Stack::Raw),
            "sk2-pub" => Ok(Stack::Sk2Pub),
            "server-sk2" => Ok(Stack::Server(None)),
            "color-pub" => Ok(Stack::ColorPub),
            "server-color" => Ok(Stack::ServerColor),
            _ => text
                .strip_prefix("v2-")
                .and_then(|rest| rest.strip_suffix("-pub"))
                .and_then(|codec| codec.parse::<Codec>().ok())
                .map(Stack::V2Pub)
                .or_else(|| {
                    text.strip_prefix("server-v2-")
                        .and_then(|codec| codec.parse::<Codec>().ok())
                        .map(|codec| Stack::Server(Some(codec)))
                })
                .or_else(|| {
                    text.strip_prefix("ir-")
                        .and_then(|rest| rest.strip_suffix("-pub"))
                        .and_then(|codec| codec.parse::<Codec>().ok())
                        .map(Stack::IrPub)
                })
                .or_else(|| {
                    text.strip_prefix("server-ir-")
                        .and_then(|codec| codec.parse::<Codec>().ok())
                        .map(Stack::ServerIr)
                })
                .with_context(|| {
                    format!(
                        "unknown stack {text:?} (known: raw, sk2-pub, v2-<codec>-pub, server-sk2, \
                         server-v2-<codec>, ir-<codec>-pub, color-pub, server-ir-<codec>, \
                         server-color)"
                    )
                }),
        }
    }
}

/// Options of the publisher role.
#[derive(Debug, Clone)]
pub struct PublisherOptions {
    /// Wire format.
    pub stack: Stack,
    /// Frame source.
    pub input: Input,
    /// Frames per second; 0 publishes as fast as the encoder goes.
    pub rate_fps: f64,
    /// Hard limit on the run time.
    pub max_seconds: f64,
}

/// Lines of stdin, read on their own thread; the channel disconnects at end of input.
pub(crate) fn stdin_lines() -> mpsc::Receiver<String> {
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    receiver
}

/// Writes one line to stdout, at once (the orchestrator waits for it).
pub(crate) fn say(line: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")?;
    out.flush()?;
    Ok(())
}

/// Sleeps until `next_tick`, then moves it one `period` on. A loop calling this runs at
/// 1/`period` per second on average without drifting; after falling more than a period behind
/// (descheduled), it skips ahead rather than bursting to catch up.
pub(crate) fn pace(next_tick: &mut Instant, period: Duration) {
    let now = Instant::now();
    if *next_tick > now {
        std::thread::sleep(*next_tick - now);
    } else if now - *next_tick > period {
        *next_tick = now;
    }
    *next_tick += period;
}

/// Waits until a `stop` line, end of stdin, or `deadline`.
pub(crate) fn wait_for_stop(commands: &mpsc::Receiver<String>, deadline: Instant) {
    while Instant::now() < deadline {
        match commands.recv_timeout(POLL_INTERVAL) {
            Ok(line) if line == "stop" => break,
            Ok(_) | Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
}

/// Records one decoded frame: its (unwrapped) sequence number and its latency.
pub(crate) fn count(summary: &mut Summary, sequence: u64, latency_ns: u64) {
    if let Some(last) = summary.last_sequence {
        summary.gaps += sequence.saturating_sub(last + 1);
    }
    summary.first_sequence.get_or_insert(sequence);
    summary.last_sequence = Some(sequence);
    summary.frames += 1;
    summary.latency_ns.record(latency_ns);
}

/// Runs the publisher until stdin closes or `max_seconds` pass.
pub fn publish(options: &PublisherOptions) -> Result<()> {
    let templates = frames::load(&options.input)?;
    let ir_templates = match options.stack {
        Stack::IrPub(_) => frames::ir_templates(),
        _ => Vec::new(),
    };
    let color_templates = match options.stack {
        Stack::ColorPub => frames::color_templates(),
        _ => Vec::new(),
    };
    // Little-endian bytes of each template, made once: the baseline's per-frame work is one copy.
    let raw_templates: Vec<Vec<u8>> = templates
        .iter()
        .map(|frame| {
            frame
                .depth_mm()
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect()
        })
        .collect();
    let context = zmq::Context::new();
    let socket = context.socket(zmq::PUB)?;
    socket.set_sndhwm(SNDHWM_FRAMES)?;
    socket.set_linger(0)?;
    socket.bind("tcp://127.0.0.1:*")?;
    let endpoint = socket
        .get_last_endpoint()?
        .map_err(|_| anyhow::anyhow!("endpoint is not UTF-8"))?;
    say(&format!("endpoint {endpoint}"))?;

    let commands = stdin_lines();
    let deadline = Instant::now() + Duration::from_secs_f64(options.max_seconds);
    let period = (options.rate_fps > 0.0).then(|| Duration::from_secs_f64(1.0 / options.rate_fps));
    let mut next_tick = Instant::now();
    let mut packing = Vec::new();
    for sequence in 0u64.. {
        if Instant::now() >= deadline {
            break;
        }
        if let Err(mpsc::TryRecvError::Disconnected) = commands.try_recv() {
            break;
        }
        if let Some(period) = period {
            pace(&mut next_tick, period);
        }
        let index = sequence as usize % templates.len();
        let capture_time_ns = unix_time_ns();
        let message = match options.stack {
            Stack::Raw => {
                let mut message = Vec::with_capacity(RAW_PREFIX_BYTES + RAW_FRAME_BYTES);
                message.extend_from_slice(&sequence.to_le_bytes());
                message.extend_from_slice(&capture_time_ns.to_le_bytes());
                message.extend_from_slice(&raw_templates[index]);
                message
            }
            Stack::Sk2Pub | Stack::Server(_) | Stack::ServerIr(_) | Stack::ServerColor => {
                // A sensor hands over a fresh buffer per frame; the clone stands for that.
                let mut frame = templates[index].clone();
                frames::stamp(frame.depth_mm_mut(), sequence, capture_time_ns);
                sk2::encode_with(&frame, &mut packing)?
            }
            Stack::IrPub(codec) => {
                let captured = CapturedIrFrame {
                    ir: ir_templates[sequence as usize % ir_templates.len()].clone(),
                    sequence,
                    device_timestamp: capture_time_ns,
                    capture_time_ns,
                };
                ir_v2::encode(&captured, codec)
            }
            Stack::ColorPub => {
                let captured = CapturedColorFrame {
                    jpeg: color_templates[sequence as usize % color_templates.len()].clone(),
                    sequence,
                    device_timestamp: capture_time_ns,
                    capture_time_ns,
                };
                color::encode(&captured)
            }
            Stack::V2Pub(codec) => {
                let captured = CapturedFrame {
                    depth: templates[index].clone(),
                    sequence,
                    device_timestamp: capture_time_ns,
                    capture_time_ns,
                };
                depth_v2::encode(&captured, codec)
            }
        };
        // `From<Vec<u8>>` hands the buffer to libzmq without a copy; PUB then shares that one
        // message among all subscriber pipes (reference-counted), so it is never copied per
        // subscriber in user space.
        socket.send(zmq::Message::from(message), 0)?;
    }
    Ok(())
}

/// Options of the subscriber role.
#[derive(Debug, Clone)]
pub struct SubscriberOptions {
    /// Wire format.
    pub stack: Stack,
    /// Where to connect.
    pub endpoint: String,
    /// Subscribe, then never read: the slow consumer the server must survive.
    pub stall: bool,
    /// Hard limit on the run time.
    pub max_seconds: f64,
}

/// What a subscriber saw between `start` and `stop`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Summary {
    /// Frames decoded.
    pub frames: u64,
    /// Frames missing between the first and last one received (sequence gaps).
    pub gaps: u64,
    /// First and last sequence number received.
    pub first_sequence: Option<u64>,
    /// Last sequence number received.
    pub last_sequence: Option<u64>,
    /// Capture-to-decoded-array latency, ns.
    pub latency_ns: Histogram,
    /// This process's user + system CPU seconds during the window.
    pub cpu_seconds: f64,
    /// Wall time spent decoding (message to array), summed, ns.
    pub decode_ns: u64,
    /// Messages that did not decode.
    pub errors: u64,
    /// Length of the window, s.
    pub window_seconds: f64,
}

/// A subscriber's measuring window and its protocol on stdin/stdout: `ready` once the first frame
/// is decoded, counting from a `start` line, the summary at `stop` (or when stdin ends).
pub(crate) struct Window {
    /// What was counted since `start`.
    pub(crate) summary: Summary,
    ready: bool,
    counting: bool,
    started_at: Instant,
    cpu_at_start: f64,
}

impl Window {
    pub(crate) fn new() -> Self {
        Self {
            summary: Summary::default(),
            ready: false,
            counting: false,
            started_at: Instant::now(),
            cpu_at_start: 0.0,
        }
    }

    /// Applies the waiting command, if any; `false` once the subscriber must stop.
    pub(crate) fn obey(&mut self, commands: &mpsc::Receiver<String>) -> Result<bool> {
        match commands.try_recv() {
            Ok(line) if line == "start" => {
                self.summary = Summary::default();
                self.counting = true;
                self.started_at = Instant::now();
                self.cpu_at_start = procfs::own_cpu_seconds()?;
                Ok(true)
            }
            Ok(line) if line == "stop" => Ok(false),
            Ok(line) => bail!("unknown command {line:?}"),
            Err(mpsc::TryRecvError::Disconnected) => Ok(false),
            Err(mpsc::TryRecvError::Empty) => Ok(true),
        }
    }

    /// Notes a decoded frame: says `ready` after the first; whether this one is to be counted.
    pub(crate) fn decoded(&mut self) -> Result<bool> {
        if !self.ready {
            say("ready")?;
            self.ready = true;
        }
        Ok(self.counting)
    }

    /// Closes the window and prints the summary.
    pub(crate) fn finish(mut self) -> Result<()> {
        if self.counting {
            self.summary.cpu_seconds = procfs::own_cpu_seconds()? - self.cpu_at_start;
            self.summary.window_seconds = self.started_at.elapsed().as_secs_f64();
        }
        say(&format!(
            "summary {}",
            serde_json::to_string(&self.summary)?
        ))
    }
}

/// What a subscriber ends with: the pixels as an array, or (colour) a checked JPEG.
#[derive(Debug)]
// Held, not read, outside the tests: having it is the subscriber's measured end point.
#[allow(dead_code)]
enum Decoded {
    /// Depth or infrared, as the application gets them.
    Array(Array2<u16>),
    /// Bytes of a JPEG whose header and frame header were checked.
    Jpeg(usize),
}

/// Decodes one message into `(sequence, capture_time_ns, what the application gets)`.
fn decode(stack: Stack, message: &[u8], packing: &mut Vec<u8>) -> Result<(u64, u64, Decoded)> {
    match stack {
        Stack::IrPub(_) | Stack::ServerIr(_) => {
            let (header, frame) = ir_v2::decode(message)?;
            Ok((
                header.sequence,
                header.capture_time_ns,
                Decoded::Array(frame.into_array()),
            ))
        }
        Stack::ColorPub | Stack::ServerColor => {
            let (header, jpeg) = color::decode(message)?;
            Ok((
                header.sequence,
                header.capture_time_ns,
                Decoded::Jpeg(jpeg.len()),
            ))
        }
        _ => {
            let (sequence, capture, frame) = decode_depth(stack, message, packing)?;
            Ok((sequence, capture, Decoded::Array(frame.into_array())))
        }
    }
}

/// Decodes one depth message into `(sequence, capture_time_ns, frame)`.
fn decode_depth(
    stack: Stack,
    message: &[u8],
    packing: &mut Vec<u8>,
) -> Result<(u64, u64, DepthFrame)> {
    match stack {
        Stack::Raw => {
            ensure!(
                message.len() == RAW_PREFIX_BYTES + RAW_FRAME_BYTES,
                "raw message of {} bytes",
                message.len()
            );
            let (prefix, payload) = message.split_at(RAW_PREFIX_BYTES);
            let sequence = u64::from_le_bytes(prefix[..8].try_into()?);
            let capture = u64::from_le_bytes(prefix[8..].try_into()?);
            let frame =
                DepthFrame::from_le_bytes(KINECT_V2_WIDTH_PX, KINECT_V2_HEIGHT_PX, payload)?;
            Ok((sequence, capture, frame))
        }
        Stack::Sk2Pub | Stack::Server(_) => {
            let frame =
                sk2::decode_with(message, KINECT_V2_WIDTH_PX, KINECT_V2_HEIGHT_PX, packing)?;
            let (sequence, capture) =
                frames::read_stamp(frame.depth_mm()).context("frame too small for the stamp")?;
            Ok((u64::from(sequence), capture, frame))
        }
        Stack::V2Pub(_) => {
            let (header, frame) = depth_v2::decode(message)?;
            Ok((header.sequence, header.capture_time_ns, frame))
        }
        _ => bail!("{stack} carries no depth"),
    }
}

/// Turns the 32-bit watermark sequence into a monotonic u64, given the last one seen.
pub(crate) fn unwrap_sequence32(last: Option<u64>, sequence: u32) -> u64 {
    let Some(last) = last else {
        return u64::from(sequence);
    };
    let candidate = (last & !0xFFFF_FFFF) | u64::from(sequence);
    if candidate + (1 << 31) < last {
        candidate + (1 << 32)
    } else {
        candidate
    }
}

/// Runs a subscriber until `stop`, end of stdin, or `max_seconds`; prints its summary.
pub fn subscribe(options: &SubscriberOptions) -> Result<()> {
    let context = zmq::Context::new();
    let socket = context.socket(zmq::SUB)?;
    socket.set_rcvhwm(RCVHWM_FRAMES)?;
    socket.set_maxmsgsize(MAX_MESSAGE_BYTES)?;
    socket.set_rcvtimeo(POLL_INTERVAL.as_millis() as i32)?;
    socket.set_linger(0)?;
    socket.connect(&options.endpoint)?;
    socket.set_subscribe(b"")?;
    let commands = stdin_lines();
    let deadline = Instant::now() + Duration::from_secs_f64(options.max_seconds);

    if options.stall {
        // Connected and subscribed, and never reads: the publisher's pipe to us fills up.
        say("ready")?;
        wait_for_stop(&commands, deadline);
        // Never counts: its summary is the empty one.
        return Window::new().finish();
    }

    let mut packing = Vec::new();
    let mut window = Window::new();
    let mut message = zmq::Message::new();
    while Instant::now() < deadline && window.obey(&commands)? {
        match socket.recv(&mut message, 0) {
            Ok(()) => {}
            Err(zmq::Error::EAGAIN) => continue,
            Err(error) => return Err(error.into()),
        }
        let decode_start = Instant::now();
        let decoded = decode(options.stack, &message, &mut packing);
        let (sequence, capture_time_ns, frame) = match decoded {
            Ok(decoded) => decoded,
            Err(_) => {
                window.summary.errors += 1;
                continue;
            }
        };
        // The measured end point: an ndarray the application can use (colour: a checked JPEG).
        let decoded = std::hint::black_box(frame);
        let now_ns = unix_time_ns();
        let decode_ns = decode_start.elapsed().as_nanos() as u64;
        drop(decoded);
        if !window.decoded()? {
            continue;
        }
        let summary = &mut window.summary;
        let sequence = match options.stack {
            Stack::Sk2Pub | Stack::Server(_) => {
                unwrap_sequence32(summary.last_sequence, sequence as u32)
            }
            _ => sequence,
        };
        count(summary, sequence, now_ns.saturating_sub(capture_time_ns));
        summary.decode_ns += decode_ns;
    }
    window.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watermark_sequences_unwrap_past_two_to_the_thirty_two() {
        assert_eq!(unwrap_sequence32(None, 5), 5);
        assert_eq!(unwrap_sequence32(Some(5), 9), 9);
        assert_eq!(unwrap_sequence32(Some(0xFFFF_FFFE), 1), 0x1_0000_0001);
        assert_eq!(unwrap_sequence32(Some(0x1_0000_0003), 7), 0x1_0000_0007);
    }

    #[test]
    fn both_stacks_decode_what_the_publisher_builds() {
        let mut frame = frames::mock_frame(3, 1);
        let mut packing = Vec::new();
        let mut raw = Vec::new();
        raw.extend_from_slice(&42u64.to_le_bytes());
        raw.extend_from_slice(&777u64.to_le_bytes());
        raw.extend(frame.depth_mm().iter().flat_map(|v| v.to_le_bytes()));
        let (sequence, time, decoded) = decode_depth(Stack::Raw, &raw, &mut packing).unwrap();
        assert_eq!((sequence, time), (42, 777));
        assert_eq!(decoded, frame);
        assert!(decode(Stack::Raw, &raw[1..], &mut packing).is_err());

        frames::stamp(frame.depth_mm_mut(), 43, 778);
        let message = sk2::encode(&frame).unwrap();
        let (sequence, time, _) = decode(Stack::Sk2Pub, &message, &mut packing).unwrap();
        assert_eq!((sequence, time), (43, 778));
        assert!(decode(Stack::Sk2Pub, &message[..10], &mut packing).is_err());

        for codec in Codec::ALL.iter().copied() {
            let captured = CapturedFrame {
                depth: frame.clone(),
                sequence: 1 << 40,
                device_timestamp: 5,
                capture_time_ns: 779,
            };
            let message = depth_v2::encode(&captured, codec);
            let stack = Stack::V2Pub(codec);
            let (sequence, time, decoded) = decode_depth(stack, &message, &mut packing).unwrap();
            assert_eq!((sequence, time), (1 << 40, 779));
            assert_eq!(decoded, frame);
            assert_eq!(stack.to_string().parse::<Stack>().unwrap(), stack);
        }
        assert!("v2-nope-pub".parse::<Stack>().is_err());
    }

    #[test]
    fn the_ir_and_colour_stacks_decode_what_the_publisher_builds() {
        let mut packing = Vec::new();
        let ir = frames::ir_templates().swap_remove(0);
        let captured = CapturedIrFrame {
            ir: ir.clone(),
            sequence: 9,
            device_timestamp: 1,
            capture_time_ns: 780,
        };
        for stack in [Stack::IrPub(Codec::MedHuf), Stack::ServerIr(Codec::Rvl)] {
            let codec = match stack {
                Stack::IrPub(codec) | Stack::ServerIr(codec) => codec,
                _ => unreachable!("IR stacks only"),
            };
            let message = ir_v2::encode(&captured, codec);
            let (sequence, time, decoded) = decode(stack, &message, &mut packing).unwrap();
            assert_eq!((sequence, time), (9, 780));
            assert!(matches!(decoded, Decoded::Array(array) if array == ir.clone().into_array()));
            assert_eq!(stack.to_string().parse::<Stack>().unwrap(), stack);
        }
        let jpeg = frames::color_templates().swap_remove(0);
        let message = color::encode(&CapturedColorFrame {
            jpeg: jpeg.clone(),
            sequence: 10,
            device_timestamp: 1,
            capture_time_ns: 781,
        });
        for stack in [Stack::ColorPub, Stack::ServerColor] {
            let (sequence, time, decoded) = decode(stack, &message, &mut packing).unwrap();
            assert_eq!((sequence, time), (10, 781));
            assert!(matches!(decoded, Decoded::Jpeg(bytes) if bytes == jpeg.bytes().len()));
            assert_eq!(stack.to_string().parse::<Stack>().unwrap(), stack);
            assert!(decode(Stack::IrPub(Codec::Raw), &message, &mut packing).is_err());
        }
        assert!(decode(Stack::ColorPub, &message[..50], &mut packing).is_err());
    }
}

//! The publisher role: binds a PUB socket, says its endpoint, and publishes frames of the chosen
//! [`Stack`] until stdin closes or its time is up.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::Result;
use sk2_proto::depth_v2;
use sk2_proto::sensor::unix_time_ns;
use sk2_proto::{color, ir_v2, sk2, CapturedColorFrame, CapturedFrame, CapturedIrFrame};

use super::child::{pace, say, stdin_lines};
use super::stack::{Stack, RAW_FRAME_BYTES, RAW_PREFIX_BYTES, SNDHWM_FRAMES};
use crate::frames::{self, Input};

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
            Stack::Sk2Pub
            | Stack::Server(_)
            | Stack::ServerIr(_)
            | Stack::ServerColor
            | Stack::ServerCurve => {
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
            Stack::V2Pub(codec) | Stack::Zenoh(codec) => {
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

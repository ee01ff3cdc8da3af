//! The subscriber role: connects a SUB socket, decodes every message of its [`Stack`] into what
//! an application gets, and counts frames, gaps and latency inside the orchestrator's window.

use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use ndarray::Array2;
use sk2_proto::depth_v2;
use sk2_proto::sensor::unix_time_ns;
use sk2_proto::{color, ir_v2, sk2, DepthFrame, KINECT_V2_HEIGHT_PX, KINECT_V2_WIDTH_PX};

use super::child::{count, say, stdin_lines, wait_for_stop, Window, POLL_INTERVAL};
use super::stack::{Stack, MAX_MESSAGE_BYTES, RAW_FRAME_BYTES, RAW_PREFIX_BYTES, RCVHWM_FRAMES};
use crate::frames;

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
        Stack::Sk2Pub | Stack::Server(_) | Stack::ServerCurve => {
            let frame =
                sk2::decode_with(message, KINECT_V2_WIDTH_PX, KINECT_V2_HEIGHT_PX, packing)?;
            let (sequence, capture) =
                frames::read_stamp(frame.depth_mm()).context("frame too small for the stamp")?;
            Ok((u64::from(sequence), capture, frame))
        }
        Stack::V2Pub(_) | Stack::Zenoh(_) => {
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
            Stack::Sk2Pub | Stack::Server(_) | Stack::ServerCurve => {
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
    use sk2_proto::depth_v2::Codec;
    use sk2_proto::{CapturedColorFrame, CapturedFrame, CapturedIrFrame};

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

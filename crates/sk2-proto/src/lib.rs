//! The streamkinect2 protocol, version 1, and its depth codecs, as pure functions.
//!
//! This crate is the single place where bytes on the wire are produced and parsed. It does no I/O:
//! no sockets, no mDNS, no threads. Servers, clients, fuzzers and benchmarks all go through it, so
//! a format is written exactly once.
//!
//! * [`control`]: the control channel (REQ/REP): one type byte plus an optional UTF-8 JSON payload.
//! * [`sk2`]: the original depth encoding (12-bit packing + LZ4 block), byte-compatible with the
//!   Python streamkinect2 of 2014. Lossy at 4096 mm and above, by design of the original.
//! * [`depth_v2`]: the `depth_v2` endpoint: a 44-byte header (shape, sequence, timestamps, codec)
//!   then an exact payload; [`codec`] holds its lossless codecs (RVL, ...).
//! * [`ir_v2`]: the `ir_v2` endpoint: infrared amplitudes ([`IrFrame`]) in the `depth_v2` envelope.
//! * [`color`]: the `color` endpoint: JPEG colour frames in the `depth_v2` envelope;
//!   [`color_image`] decodes them to RGB `ndarray`s.
//! * [`calibration`]: depth and colour intrinsics and the depth-to-colour mapping, as libfreenect2
//!   reports them, carried in `me`; [`registration`] turns depth into point clouds and gives each
//!   point its colour, as libfreenect2's registration does.
//! * [`frame`]: [`DepthFrame`], a row-major image of `u16` millimetres, convertible to
//!   [`ndarray::Array2`] without copying; [`IrFrame`], the same for infrared amplitudes.
//! * [`curve`]: CurveZMQ keys as Z85 text and key files (opt-in encryption, `docs/security.md`).
//! * [`discovery`]: the mDNS service type and TXT keys that servers announce and clients browse.
//! * [`id`]: random 128-bit hex ids (sensor ids, default server names).
//! * [`zenoh_keys`]: the Zenoh key space a bridge publishes on (docs/distributed.md).
//! * [`sensor`]: the contract between a sensor (mock, replay, Kinect v2) and the server: which
//!   streams it offers, one sink per stream, its calibration.
//!
//! The normative description of every byte is `docs/protocol.md` at the repository root; the hex
//! examples there are golden tests in this crate.
//!
//! ```
//! use sk2_proto::{sk2, DepthFrame};
//!
//! let frame = DepthFrame::new(4, 2, vec![0x123, 0x456, 0x789, 0xABC, 1000, 2000, 3000, 5000])?;
//! let message = sk2::encode(&frame)?;
//! assert_eq!(&message[..4], &[0x0c, 0x00, 0x00, 0x00]); // uncompressed size, little-endian
//! let decoded = sk2::decode(&message, 4, 2)?;
//! // 5000 mm has bit 12 set, which the original format drops: it comes back as 5000 & 0x0FFF.
//! assert_eq!(decoded.depth_mm(), &[0x123, 0x456, 0x789, 0xABC, 1000, 2000, 3000, 904]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod calibration;
pub mod codec;
pub mod color;
pub mod color_image;
pub mod control;
pub mod curve;
pub mod depth_v2;
pub mod discovery;
pub mod frame;
pub mod id;
pub mod ir_v2;
pub mod registration;
pub mod sensor;
pub mod sk2;
pub mod zenoh_keys;

pub use calibration::{Calibration, ColorCameraParams, IrCameraParams};
pub use color::JpegImage;
pub use control::{Device, ErrorPayload, Me, Reply, Request};
pub use frame::{shape_from_file_name, DepthFrame, FrameError, IrFrame};
pub use sensor::{
    CapturedColorFrame, CapturedFrame, CapturedIrFrame, ColorSink, FrameSink, IrSink, Sensor,
    SensorError, StreamDemand, StreamSinks, Streams,
};

/// Width of a Kinect v2 depth image in pixels; the original protocol assumes it for `depth`.
pub const KINECT_V2_WIDTH_PX: usize = 512;
/// Height of a Kinect v2 depth image in pixels; the original protocol assumes it for `depth`.
pub const KINECT_V2_HEIGHT_PX: usize = 424;

//! The `depth_v2` endpoint: exact depth frames with their shape, sequence number and timestamps.
//!
//! A server that offers it lists the endpoint name [`ENDPOINT_DEPTH_V2`] next to `depth` in each
//! device record of `me` (and the codec name under the device key `"codec"`). Original clients
//! ignore endpoint names they do not know, so `depth` stays as it was. Each message is one ZeroMQ
//! frame: a fixed 44-byte header, then the payload of the codec named in the header.
//!
//! ```text
//! offset  size  field              value
//!      0     4  magic              "SKD2" (53 4B 44 32)
//!      4     1  header_version     1
//!      5     1  codec              codec id (see Codec): 0x00 raw, 0x01 RVL, 0x02 MEDANS,
//!                                    0x03 MEDHUF; 0x10 JPEG is colour only (crate::color)
//!      6     2  flags              0; a reader rejects any other value (room for later flags)
//!      8     4  width              pixels per row, u32 LE, >= 1
//!     12     4  height             rows, u32 LE, >= 1, width * height <= MAX_FRAME_PIXELS
//!     16     8  sequence           u64 LE, +1 per frame the sensor produced; gaps are drops
//!     24     8  device_timestamp   u64 LE, the device's own clock, in its own units
//!     32     8  capture_time_ns    u64 LE, host time of capture, ns since the Unix epoch
//!     40     4  payload_len        u32 LE, bytes after the header; must be all the rest
//!     44     -  payload            codec-specific, exactly payload_len bytes
//! ```
//!
//! Every integer is little-endian; every 8-byte field sits at a multiple of 8. A reader checks,
//! in this order and before it allocates anything: length >= 44, magic, version, codec id, flags,
//! shape within [`MAX_FRAME_PIXELS`], `payload_len` equal to the bytes present and within the
//! codec's bound for the shape. Only then does it allocate `width * height` pixels and decode,
//! and the codec must fill them exactly from exactly `payload_len` bytes. The normative copy of
//! this layout, with a complete example in hex, is `docs/protocol.md, section 5`.
//!
//! The same header carries the other streams of a sensor: [`crate::ir_v2`] (infrared amplitudes,
//! the same `u16` codecs) and [`crate::color`] (JPEG, codec id `0x10`). A `depth_v2` reader
//! refuses `0x10` as an unknown codec, so a colour message can never be mistaken for depth.

use std::fmt;
use std::str::FromStr;

use crate::codec::{self, CodecError};
use crate::frame::{checked_pixels, DepthFrame, MAX_FRAME_PIXELS};
use crate::sensor::CapturedFrame;

/// The endpoint name of this format in a device record of `me`.
pub const ENDPOINT_DEPTH_V2: &str = "depth_v2";
/// The device-record key under which a server names the codec it uses on `depth_v2`.
pub const DEVICE_CODEC_KEY: &str = "codec";
/// The first four bytes of every `depth_v2` message.
pub const MAGIC: [u8; 4] = *b"SKD2";
/// The header version this module writes and reads. A new header layout gets a new number.
pub const HEADER_VERSION: u8 = 1;
/// Size of the fixed header in bytes.
pub const HEADER_LEN: usize = 44;

/// How the payload encodes the pixels. The id byte is on the wire; the name is used by
/// `--codec` flags and the `"codec"` key in `me`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Codec {
    /// Id `0x00`, `"raw"`: the pixels as `u16` little-endian, row-major, uncompressed.
    /// For debugging and for links where CPU matters more than bandwidth.
    Raw,
    /// Id `0x01`, `"rvl"`: Wilson's RVL (see [`codec::rvl`]). Spoken by other depth tools.
    Rvl,
    /// Id `0x02`, `"medans"`: median prediction + context-modelled rANS (see [`codec::medans`]).
    /// About 1.5x smaller than RVL on time-of-flight frames; the smallest, not the fastest.
    MedAns,
    /// Id `0x03`, `"medhuf"`: planar prediction, run mode and Huffman codes in four streams
    /// (see [`codec::medhuf`]). Within a few percent of MEDANS's size on time-of-flight frames
    /// and under a millisecond each way for a Kinect v2 frame: the default.
    #[default]
    MedHuf,
}

impl Codec {
    /// Every codec, in id order.
    pub const ALL: &'static [Codec] = &[Codec::Raw, Codec::Rvl, Codec::MedAns, Codec::MedHuf];

    /// The id byte in the header.
    pub fn id(self) -> u8 {
        match self {
            Codec::Raw => 0x00,
            Codec::Rvl => 0x01,
            Codec::MedAns => 0x02,
            Codec::MedHuf => 0x03,
        }
    }

    /// The codec with this id byte, if this version knows it.
    pub fn from_id(id: u8) -> Option<Codec> {
        Codec::ALL.iter().copied().find(|codec| codec.id() == id)
    }

    /// The lowercase name used on the command line and in `me`.
    pub fn name(self) -> &'static str {
        match self {
            Codec::Raw => "raw",
            Codec::Rvl => "rvl",
            Codec::MedAns => "medans",
            Codec::MedHuf => "medhuf",
        }
    }

    /// The largest payload this codec produces for a frame of `pixels` pixels. A decoder
    /// rejects longer payloads before decoding.
    pub fn max_payload_len(self, pixels: usize) -> usize {
        match self {
            Codec::Raw => pixels * 2,
            Codec::Rvl => codec::rvl::max_encoded_len(pixels),
            Codec::MedAns => codec::medans::max_encoded_len(pixels),
            Codec::MedHuf => codec::medhuf::max_encoded_len(pixels),
        }
    }

    /// Appends the payload for `depth_mm`, rows of `width` pixels, to `out`.
    pub fn encode_payload(self, depth_mm: &[u16], width: usize, out: &mut Vec<u8>) {
        match self {
            Codec::Raw => {
                out.reserve(depth_mm.len() * 2);
                for depth in depth_mm {
                    out.extend_from_slice(&depth.to_le_bytes());
                }
            }
            Codec::Rvl => codec::rvl::encode(depth_mm, out),
            Codec::MedAns => codec::medans::encode(depth_mm, width, out),
            Codec::MedHuf => codec::medhuf::encode(depth_mm, width, out),
        }
    }

    /// Fills `depth_mm`, rows of `width` pixels, from exactly `payload`.
    pub fn decode_payload(
        self,
        payload: &[u8],
        width: usize,
        depth_mm: &mut [u16],
    ) -> Result<(), CodecError> {
        match self {
            Codec::Raw => {
                if payload.len() != depth_mm.len() * 2 {
                    return Err(CodecError::Corrupt("raw payload is not 2 bytes per pixel"));
                }
                for (depth, bytes) in depth_mm.iter_mut().zip(payload.chunks_exact(2)) {
                    *depth = u16::from_le_bytes([bytes[0], bytes[1]]);
                }
                Ok(())
            }
            Codec::Rvl => codec::rvl::decode(payload, depth_mm),
            Codec::MedAns => codec::medans::decode(payload, width, depth_mm),
            Codec::MedHuf => codec::medhuf::decode(payload, width, depth_mm),
        }
    }
}

impl fmt::Display for Codec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A codec name that is not one of [`Codec::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown codec {0:?}; known: {names}", names = known_names())]
pub struct UnknownCodecName(pub String);

fn known_names() -> String {
    Codec::ALL
        .iter()
        .map(|codec| codec.name())
        .collect::<Vec<_>>()
        .join(", ")
}

impl FromStr for Codec {
    type Err = UnknownCodecName;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Codec::ALL
            .iter()
            .copied()
            .find(|codec| codec.name().eq_ignore_ascii_case(name))
            .ok_or_else(|| UnknownCodecName(name.to_owned()))
    }
}

/// The fixed header of a `depth_v2` message (layout in the [module docs](self)), which the
/// `ir_v2` and `color` messages share: `C` is the family of codecs its codec byte names, [`Codec`]
/// for `u16` pixels ([`FrameHeader`]) or [`ColorCodec`](crate::color::ColorCodec) for colour
/// ([`ColorHeader`](crate::color::ColorHeader)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamHeader<C> {
    /// How the payload is encoded.
    pub codec: C,
    /// Pixels per row.
    pub width: u32,
    /// Rows.
    pub height: u32,
    /// Frame counter of the sensor (its own per stream); a gap means frames were dropped on the
    /// way.
    pub sequence: u64,
    /// The device's own timestamp, in the device's units.
    pub device_timestamp: u64,
    /// Host capture time in nanoseconds since the Unix epoch.
    pub capture_time_ns: u64,
    /// Bytes of payload after the header.
    pub payload_len: u32,
}

/// The fixed header of a `depth_v2` or `ir_v2` message.
pub type FrameHeader = StreamHeader<Codec>;

impl<C> StreamHeader<C> {
    /// Pixels in the frame (`width * height`; at most [`MAX_FRAME_PIXELS`] once decoded).
    pub fn pixels(&self) -> u64 {
        u64::from(self.width) * u64::from(self.height)
    }

    /// Appends the 44 header bytes to `out`, with `codec_id` (the id of `self.codec`) as the
    /// codec byte.
    pub(crate) fn write_with_codec_id(&self, codec_id: u8, out: &mut Vec<u8>) {
        out.extend_from_slice(&MAGIC);
        out.push(HEADER_VERSION);
        out.push(codec_id);
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(&self.width.to_le_bytes());
        out.extend_from_slice(&self.height.to_le_bytes());
        out.extend_from_slice(&self.sequence.to_le_bytes());
        out.extend_from_slice(&self.device_timestamp.to_le_bytes());
        out.extend_from_slice(&self.capture_time_ns.to_le_bytes());
        out.extend_from_slice(&self.payload_len.to_le_bytes());
    }
}

impl FrameHeader {
    /// Appends the 44 header bytes to `out`.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        self.write_with_codec_id(self.codec.id(), out);
    }
}

/// Why a `depth_v2` message could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DepthV2Error {
    /// The message is shorter than the 44-byte header.
    #[error("message of {0} bytes is shorter than the {HEADER_LEN}-byte depth_v2 header")]
    Truncated(usize),
    /// The message does not start with [`MAGIC`].
    #[error("bad magic {0:02x?}, expected \"SKD2\"")]
    BadMagic([u8; 4]),
    /// The header version is not [`HEADER_VERSION`].
    #[error("header version {0} is not supported (this reader knows {HEADER_VERSION})")]
    UnsupportedVersion(u8),
    /// The codec id is not one this version knows.
    #[error("unknown codec id 0x{0:02x}")]
    UnknownCodec(u8),
    /// The flags field is not 0.
    #[error("flags 0x{0:04x} are set; this version defines none")]
    UnknownFlags(u16),
    /// Width or height is 0, or the frame has more than [`MAX_FRAME_PIXELS`] pixels.
    #[error("frame shape {width}x{height} is outside 1..={max} pixels", max = MAX_FRAME_PIXELS)]
    BadShape {
        /// Width from the header.
        width: u32,
        /// Height from the header.
        height: u32,
    },
    /// `payload_len` is not the number of bytes after the header.
    #[error("header declares {declared} payload bytes, the message has {actual}")]
    PayloadLength {
        /// Declared in the header.
        declared: u32,
        /// Present after the header.
        actual: usize,
    },
    /// `payload_len` exceeds what the codec can produce for this shape.
    #[error("payload of {declared} bytes exceeds the codec's {max} for this shape")]
    PayloadTooLarge {
        /// Declared in the header.
        declared: u32,
        /// The codec's bound for the shape.
        max: usize,
    },
    /// The payload does not decode to exactly `width * height` pixels.
    #[error("corrupt {codec} payload: {source}")]
    Payload {
        /// The codec named in the header.
        codec: Codec,
        /// What the codec found wrong.
        source: CodecError,
    },
}

/// Encodes one captured frame as a complete `depth_v2` message (header + payload).
pub fn encode(frame: &CapturedFrame, codec: Codec) -> Vec<u8> {
    let mut out = Vec::new();
    encode_into(frame, codec, &mut out);
    out
}

/// Like [`encode`], but replaces the contents of `out`, so a long-running encoder can reuse it.
pub fn encode_into(frame: &CapturedFrame, codec: Codec, out: &mut Vec<u8>) {
    let depth = &frame.depth;
    let stamp = (
        frame.sequence,
        frame.device_timestamp,
        frame.capture_time_ns,
    );
    encode_u16_into(
        depth.depth_mm(),
        depth.width(),
        depth.height(),
        stamp,
        codec,
        out,
    );
}

/// Replaces `out` with a complete message: header (codec `codec`, this shape and
/// `(sequence, device_timestamp, capture_time_ns)`) then the payload of `pixels`. Shared by
/// `depth_v2` and `ir_v2`, whose messages differ only in what the pixels mean.
pub(crate) fn encode_u16_into(
    pixels: &[u16],
    width: usize,
    height: usize,
    (sequence, device_timestamp, capture_time_ns): (u64, u64, u64),
    codec: Codec,
    out: &mut Vec<u8>,
) {
    out.clear();
    out.resize(HEADER_LEN, 0);
    codec.encode_payload(pixels, width, out);
    // Frames have at most MAX_FRAME_PIXELS (2^24) pixels, so their width and height fit in
    // u32, and every codec's bound for 2^24 pixels (under 2^27 bytes) fits in u32.
    let header = FrameHeader {
        codec,
        width: u32::try_from(width).unwrap_or(u32::MAX),
        height: u32::try_from(height).unwrap_or(u32::MAX),
        sequence,
        device_timestamp,
        capture_time_ns,
        payload_len: u32::try_from(out.len() - HEADER_LEN).unwrap_or(u32::MAX),
    };
    let mut head = Vec::with_capacity(HEADER_LEN);
    header.write_to(&mut head);
    out[..HEADER_LEN].copy_from_slice(&head);
}

/// Reads and checks the header of a `depth_v2` message without decoding the payload: every
/// check of the [module docs](self) except the payload itself.
pub fn decode_header(message: &[u8]) -> Result<FrameHeader, DepthV2Error> {
    parse_header(message, Codec::from_id, Codec::max_payload_len)
}

/// The checks of the [module docs](self), in their order, for any family of codecs: `codec_of`
/// names the codec ids the caller's endpoint knows (others are [`DepthV2Error::UnknownCodec`]),
/// `max_payload_len` bounds a payload for a codec and a number of pixels.
pub(crate) fn parse_header<C: Copy>(
    message: &[u8],
    codec_of: impl Fn(u8) -> Option<C>,
    max_payload_len: impl Fn(C, usize) -> usize,
) -> Result<StreamHeader<C>, DepthV2Error> {
    let head: &[u8; HEADER_LEN] = message
        .first_chunk()
        .ok_or(DepthV2Error::Truncated(message.len()))?;
    let u32_at =
        |at: usize| u32::from_le_bytes([head[at], head[at + 1], head[at + 2], head[at + 3]]);
    let u64_at = |at: usize| {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(&head[at..at + 8]);
        u64::from_le_bytes(bytes)
    };
    let magic = [head[0], head[1], head[2], head[3]];
    if magic != MAGIC {
        return Err(DepthV2Error::BadMagic(magic));
    }
    if head[4] != HEADER_VERSION {
        return Err(DepthV2Error::UnsupportedVersion(head[4]));
    }
    let codec = codec_of(head[5]).ok_or(DepthV2Error::UnknownCodec(head[5]))?;
    let flags = u16::from_le_bytes([head[6], head[7]]);
    if flags != 0 {
        return Err(DepthV2Error::UnknownFlags(flags));
    }
    let (width, height) = (u32_at(8), u32_at(12));
    let pixels = shape_pixels(width, height).ok_or(DepthV2Error::BadShape { width, height })?;
    let payload_len = u32_at(40);
    let actual = message.len() - HEADER_LEN;
    if usize::try_from(payload_len).ok() != Some(actual) {
        return Err(DepthV2Error::PayloadLength {
            declared: payload_len,
            actual,
        });
    }
    let max = max_payload_len(codec, pixels);
    if actual > max {
        return Err(DepthV2Error::PayloadTooLarge {
            declared: payload_len,
            max,
        });
    }
    Ok(StreamHeader {
        codec,
        width,
        height,
        sequence: u64_at(16),
        device_timestamp: u64_at(24),
        capture_time_ns: u64_at(32),
        payload_len,
    })
}

/// Decodes a complete `depth_v2` message into its header and the exact frame.
pub fn decode(message: &[u8]) -> Result<(FrameHeader, DepthFrame), DepthV2Error> {
    let header = decode_header(message)?;
    let (width, height) = (header.width as usize, header.height as usize);
    // decode_header checked the shape against MAX_FRAME_PIXELS: this allocation is bounded.
    let mut depth_mm = vec![0u16; width * height];
    header
        .codec
        .decode_payload(&message[HEADER_LEN..], width, &mut depth_mm)
        .map_err(|source| DepthV2Error::Payload {
            codec: header.codec,
            source,
        })?;
    // Cannot fail in practice: the shape was checked and the codec filled exactly that many pixels.
    let frame = DepthFrame::new(width, height, depth_mm).map_err(|_| DepthV2Error::BadShape {
        width: header.width,
        height: header.height,
    })?;
    Ok((header, frame))
}

/// `width * height` if both are at least 1 and the product is within [`MAX_FRAME_PIXELS`].
fn shape_pixels(width: u32, height: u32) -> Option<usize> {
    checked_pixels(usize::try_from(width).ok()?, usize::try_from(height).ok()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codec_names_and_ids_round_trip() {
        for &codec in Codec::ALL {
            assert_eq!(Codec::from_id(codec.id()), Some(codec));
            assert_eq!(codec.to_string().parse::<Codec>(), Ok(codec));
            assert_eq!(codec.name().to_uppercase().parse::<Codec>(), Ok(codec));
        }
        assert!("lzma".parse::<Codec>().is_err());
        assert_eq!(Codec::from_id(0xFF), None);
    }

    #[test]
    fn header_is_44_bytes_with_aligned_u64_fields() {
        let mut out = Vec::new();
        FrameHeader {
            codec: Codec::Rvl,
            width: 1,
            height: 1,
            sequence: 0x0102_0304_0506_0708,
            device_timestamp: 0,
            capture_time_ns: 0,
            payload_len: 0,
        }
        .write_to(&mut out);
        assert_eq!(out.len(), HEADER_LEN);
        assert_eq!(&out[16..24], &[8, 7, 6, 5, 4, 3, 2, 1]);
    }
}

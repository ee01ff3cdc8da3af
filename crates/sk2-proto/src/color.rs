//! The `color` endpoint: colour frames as JPEG in the `depth_v2` envelope.
//!
//! A server lists the endpoint name [`ENDPOINT_COLOR`] in the device record of a sensor that
//! offers colour. Each message is one ZeroMQ frame: the 44-byte header of
//! [`depth_v2`], with codec id [`ColorCodec::Jpeg`] (`0x10`), then one complete
//! JPEG file (JFIF or Exif, baseline or progressive, as the sensor made it) as the payload.
//! `width` and `height` in the header are the image's own, and a reader checks that they equal the
//! frame header (SOFn segment) of the JPEG before it decodes anything, so the header bounds what a
//! decoder allocates (`width * height <= MAX_FRAME_PIXELS`). `sequence` counts colour frames on
//! their own: a Kinect v2 takes colour with a different camera and clock than depth.
//!
//! A `depth_v2` or `ir_v2` reader rejects codec id `0x10` as unknown, and a colour reader rejects
//! every other id, so the streams cannot be confused.
//!
//! Example: the header of a 2x1 JPEG, sequence 7, device timestamp 0x10, capture time 0x20, then
//! the first bytes of its payload up to the frame header (SOI, SOF0 with height 1 and width 2):
//!
//! ```text
//! 53 4b 44 32 01 10 00 00  02 00 00 00 01 00 00 00   "SKD2" v1 JPEG flags 0, width 2, height 1
//! 07 00 00 00 00 00 00 00  10 00 00 00 00 00 00 00   sequence 7, device_timestamp 0x10
//! 20 00 00 00 00 00 00 00  nn nn nn nn               capture_time_ns 0x20, payload_len
//! ff d8 ff c0 00 0b 08 00  01 00 02 01 01 11 00 ...  SOI; SOF0: 8 bits, height 1, width 2, ...
//! ```

use std::fmt;
use std::str::FromStr;

use crate::depth_v2::{self, DepthV2Error, HeaderFields, HEADER_LEN};
use crate::sensor::CapturedColorFrame;

/// The endpoint name of colour frames in a device record of `me`.
pub const ENDPOINT_COLOR: &str = "color";

/// How a colour payload is encoded. The id byte shares the header's codec field with the `u16`
/// codecs of [`depth_v2::Codec`]; colour ids start at `0x10` so the two sets never overlap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum ColorCodec {
    /// Id `0x10`, `"jpeg"`: one complete JPEG file. What a Kinect v2 itself produces.
    #[default]
    Jpeg,
}

impl ColorCodec {
    /// Every colour codec, in id order.
    pub const ALL: &'static [ColorCodec] = &[ColorCodec::Jpeg];

    /// The id byte in the header.
    pub fn id(self) -> u8 {
        match self {
            ColorCodec::Jpeg => 0x10,
        }
    }

    /// The colour codec with this id byte, if this version knows it.
    pub fn from_id(id: u8) -> Option<ColorCodec> {
        ColorCodec::ALL
            .iter()
            .copied()
            .find(|codec| codec.id() == id)
    }

    /// The lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            ColorCodec::Jpeg => "jpeg",
        }
    }

    /// The largest payload a reader accepts for an image of `pixels` pixels.
    ///
    /// JPEG has no hard bound; 6 bytes per pixel is libjpeg-turbo's worst case for 4:4:4 at any
    /// quality (`tjBufSize`), and 64 KiB leaves room for metadata segments. A Kinect v2 frame is
    /// 0.1 to 0.5 MB against a bound of 12.5 MB.
    pub fn max_payload_len(self, pixels: usize) -> usize {
        match self {
            ColorCodec::Jpeg => pixels.saturating_mul(6).saturating_add(64 * 1024),
        }
    }
}

impl fmt::Display for ColorCodec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ColorCodec {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        ColorCodec::ALL
            .iter()
            .copied()
            .find(|codec| codec.name().eq_ignore_ascii_case(name))
            .ok_or_else(|| format!("unknown colour codec {name:?}; known: jpeg"))
    }
}

/// Why bytes are not a JPEG whose size can be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JpegError {
    /// The bytes do not start with the SOI marker `ff d8`.
    #[error("not a JPEG: no start-of-image marker")]
    NotJpeg,
    /// A marker or segment runs past the end of the bytes.
    #[error("JPEG ends inside a marker segment")]
    Truncated,
    /// Bytes where a marker must be.
    #[error("JPEG has 0x{0:02x} where a marker must be")]
    ExpectedMarker(u8),
    /// The image data or its end comes before any frame header (SOFn).
    #[error("JPEG has no frame header before its image data")]
    NoFrameHeader,
    /// The frame header says 0 rows or columns (a height defined later by DNL is not supported).
    #[error("JPEG frame header declares a {width}x{height} image")]
    ZeroSize {
        /// Columns in the frame header.
        width: u16,
        /// Rows in the frame header.
        height: u16,
    },
}

/// `(width, height)` in pixels from the frame header (SOF0..SOF15) of a JPEG, read without
/// decoding: walks the marker segments from SOI up to the first frame header. Bytes after it
/// (the image data, trailing padding) are not looked at.
pub fn jpeg_shape(bytes: &[u8]) -> Result<(usize, usize), JpegError> {
    if bytes.get(..2) != Some(&[0xFF, 0xD8]) {
        return Err(JpegError::NotJpeg);
    }
    let mut at = 2;
    loop {
        match bytes.get(at) {
            None => return Err(JpegError::Truncated),
            Some(0xFF) => {}
            Some(&other) => return Err(JpegError::ExpectedMarker(other)),
        }
        // Any number of 0xFF fill bytes may precede a marker (ITU T.81, B.1.1.2).
        while bytes.get(at) == Some(&0xFF) {
            at += 1;
        }
        let marker = *bytes.get(at).ok_or(JpegError::Truncated)?;
        at += 1;
        match marker {
            // TEM and RSTn stand alone, without a length.
            0x01 | 0xD0..=0xD7 => continue,
            // A second SOI (d8), EOI (d9) or SOS (da, image data) before any frame header.
            0xD8..=0xDA => return Err(JpegError::NoFrameHeader),
            _ => {}
        }
        let length = match bytes.get(at..at + 2) {
            Some(&[high, low]) => usize::from(u16::from_be_bytes([high, low])),
            _ => return Err(JpegError::Truncated),
        };
        let segment = bytes
            .get(at..at + length)
            .filter(|_| length >= 2)
            .ok_or(JpegError::Truncated)?;
        // SOF0..SOF15 except DHT (c4), JPG (c8) and DAC (cc), which share the range.
        if matches!(marker, 0xC0..=0xCF) && !matches!(marker, 0xC4 | 0xC8 | 0xCC) {
            // length(2) precision(1) height(2) width(2) ...
            let (height, width) = match segment.get(3..7) {
                Some(&[h1, h0, w1, w0]) => {
                    (u16::from_be_bytes([h1, h0]), u16::from_be_bytes([w1, w0]))
                }
                _ => return Err(JpegError::Truncated),
            };
            if width == 0 || height == 0 {
                return Err(JpegError::ZeroSize { width, height });
            }
            return Ok((usize::from(width), usize::from(height)));
        }
        at += length;
    }
}

/// One JPEG image and its size, checked to agree.
#[derive(Clone, PartialEq, Eq)]
pub struct JpegImage {
    width: usize,
    height: usize,
    bytes: Vec<u8>,
}

impl JpegImage {
    /// Wraps a complete JPEG file, reading its size from its frame header (see [`jpeg_shape`]).
    pub fn new(bytes: Vec<u8>) -> Result<Self, JpegError> {
        let (width, height) = jpeg_shape(&bytes)?;
        Ok(Self {
            width,
            height,
            bytes,
        })
    }

    /// Width in pixels.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> usize {
        self.height
    }

    /// The JPEG file.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Gives back the JPEG file.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
}

impl fmt::Debug for JpegImage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JpegImage")
            .field("width", &self.width)
            .field("height", &self.height)
            .field("bytes", &self.bytes.len())
            .finish()
    }
}

/// The fixed header of a `color` message: the `depth_v2` layout with a colour codec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ColorHeader {
    /// How the payload is encoded.
    pub codec: ColorCodec,
    /// Image width in pixels.
    pub width: u32,
    /// Image height in pixels.
    pub height: u32,
    /// Colour frame counter of the sensor; a gap means colour frames were dropped on the way.
    pub sequence: u64,
    /// The device's own timestamp of the colour frame, in the device's units.
    pub device_timestamp: u64,
    /// Host capture time in nanoseconds since the Unix epoch.
    pub capture_time_ns: u64,
    /// Bytes of payload after the header.
    pub payload_len: u32,
}

/// Why a `color` message could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ColorError {
    /// The 44-byte header is malformed, names a codec that is not a colour codec, or the payload
    /// length is wrong (the same checks as `depth_v2`).
    #[error(transparent)]
    Envelope(#[from] DepthV2Error),
    /// The payload is not a JPEG whose size can be read.
    #[error("corrupt JPEG payload: {0}")]
    Jpeg(#[from] JpegError),
    /// The JPEG's own size differs from the header's.
    #[error("JPEG is {jpeg_width}x{jpeg_height} but the header says {width}x{height}")]
    ShapeMismatch {
        /// Width in the header.
        width: u32,
        /// Height in the header.
        height: u32,
        /// Width in the JPEG frame header.
        jpeg_width: usize,
        /// Height in the JPEG frame header.
        jpeg_height: usize,
    },
}

/// Encodes one colour frame as a complete `color` message (header + JPEG).
pub fn encode(frame: &CapturedColorFrame) -> Vec<u8> {
    let mut out = Vec::new();
    encode_into(frame, &mut out);
    out
}

/// Like [`encode`], but replaces the contents of `out`, so a long-running encoder can reuse it.
pub fn encode_into(frame: &CapturedColorFrame, out: &mut Vec<u8>) {
    let jpeg = &frame.jpeg;
    out.clear();
    out.reserve(HEADER_LEN + jpeg.bytes().len());
    // A JPEG is at most 65535 x 65535 pixels, so its width and height fit in u32; a payload
    // beyond 4 GiB cannot go in a ZeroMQ frame of a sane server anyway, and saturates here so
    // that every reader rejects it.
    let fields = HeaderFields {
        width: u32::try_from(jpeg.width()).unwrap_or(u32::MAX),
        height: u32::try_from(jpeg.height()).unwrap_or(u32::MAX),
        sequence: frame.sequence,
        device_timestamp: frame.device_timestamp,
        capture_time_ns: frame.capture_time_ns,
        payload_len: u32::try_from(jpeg.bytes().len()).unwrap_or(u32::MAX),
    };
    depth_v2::write_header(ColorCodec::Jpeg.id(), &fields, out);
    out.extend_from_slice(jpeg.bytes());
}

/// Reads and checks the header of a `color` message: the `depth_v2` checks with the colour
/// codecs, not yet the JPEG itself.
pub fn decode_header(message: &[u8]) -> Result<ColorHeader, ColorError> {
    let (codec, fields) =
        depth_v2::parse_header(message, ColorCodec::from_id, ColorCodec::max_payload_len)?;
    Ok(ColorHeader {
        codec,
        width: fields.width,
        height: fields.height,
        sequence: fields.sequence,
        device_timestamp: fields.device_timestamp,
        capture_time_ns: fields.capture_time_ns,
        payload_len: fields.payload_len,
    })
}

/// Reads a complete `color` message: its header and its JPEG payload, checked to be a JPEG of
/// exactly the header's size. Decoding the JPEG to pixels is the client's business; after this
/// check a decoder allocates at most `width * height` pixels.
pub fn decode(message: &[u8]) -> Result<(ColorHeader, &[u8]), ColorError> {
    let header = decode_header(message)?;
    let jpeg = &message[HEADER_LEN..];
    let (jpeg_width, jpeg_height) = jpeg_shape(jpeg)?;
    if u32::try_from(jpeg_width).ok() != Some(header.width)
        || u32::try_from(jpeg_height).ok() != Some(header.height)
    {
        return Err(ColorError::ShapeMismatch {
            width: header.width,
            height: header.height,
            jpeg_width,
            jpeg_height,
        });
    }
    Ok((header, jpeg))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SOI, then SOF0: length 11, 8 bits, height 1, width 2, one component (id 1, 1x1, table 0).
    const SKELETON: [u8; 15] = [
        0xFF, 0xD8, 0xFF, 0xC0, 0x00, 0x0B, 0x08, 0x00, 0x01, 0x00, 0x02, 0x01, 0x01, 0x11, 0x00,
    ];

    fn example() -> CapturedColorFrame {
        CapturedColorFrame {
            jpeg: JpegImage::new(SKELETON.to_vec()).unwrap(),
            sequence: 7,
            device_timestamp: 0x10,
            capture_time_ns: 0x20,
        }
    }

    #[test]
    fn the_documented_header_is_what_encode_writes() {
        let message = encode(&example());
        let expected_header: [u8; 44] = [
            0x53, 0x4b, 0x44, 0x32, 0x01, 0x10, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x01, 0x00,
            0x00, 0x00, 0x07, 0, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0, 0, 0, 0, 0, 0x20, 0, 0, 0, 0, 0,
            0, 0, 15, 0, 0, 0,
        ];
        assert_eq!(&message[..44], &expected_header);
        assert_eq!(&message[44..], &SKELETON);
        let (header, jpeg) = decode(&message).unwrap();
        assert_eq!(
            (header.codec, header.width, header.height),
            (ColorCodec::Jpeg, 2, 1)
        );
        assert_eq!((header.sequence, jpeg), (7, &SKELETON[..]));
    }

    #[test]
    fn depth_readers_refuse_colour_and_colour_readers_refuse_depth() {
        let message = encode(&example());
        assert_eq!(
            depth_v2::decode(&message).unwrap_err(),
            DepthV2Error::UnknownCodec(0x10)
        );
        let depth = crate::CapturedFrame {
            depth: crate::DepthFrame::new(2, 1, vec![1, 2]).unwrap(),
            sequence: 0,
            device_timestamp: 0,
            capture_time_ns: 0,
        };
        let depth_message = depth_v2::encode(&depth, depth_v2::Codec::Raw);
        assert_eq!(
            decode(&depth_message).unwrap_err(),
            ColorError::Envelope(DepthV2Error::UnknownCodec(0x00))
        );
    }

    #[test]
    fn a_jpeg_of_another_size_than_the_header_is_refused() {
        let mut message = encode(&example());
        message[8] = 3; // width 3 in the header; the JPEG says 2
        assert!(matches!(
            decode(&message),
            Err(ColorError::ShapeMismatch { jpeg_width: 2, .. })
        ));
    }

    #[test]
    fn jpeg_shape_skips_segments_and_fill_bytes_and_never_reads_past_the_end() {
        // SOI, an APP0 segment of 4 bytes, two fill bytes, then SOF2 (progressive) 640x480.
        let jpeg = [
            0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x04, 0xAA, 0xBB, 0xFF, 0xFF, 0xFF, 0xC2, 0x00, 0x0B,
            0x08, 0x01, 0xE0, 0x02, 0x80, 0x01, 0x01, 0x11, 0x00,
        ];
        assert_eq!(jpeg_shape(&jpeg), Ok((640, 480)));
        for end in 0..jpeg.len() {
            assert!(jpeg_shape(&jpeg[..end]).is_err(), "prefix of {end} bytes");
        }
        assert_eq!(jpeg_shape(b"GIF89a"), Err(JpegError::NotJpeg));
        // A DHT segment (c4) is not a frame header; SOS before any SOF is an error.
        assert_eq!(
            jpeg_shape(&[0xFF, 0xD8, 0xFF, 0xC4, 0x00, 0x02, 0xFF, 0xDA]),
            Err(JpegError::NoFrameHeader)
        );
        assert_eq!(
            jpeg_shape(&[0xFF, 0xD8, 0xFF, 0xC0, 0x00, 0x07, 0x08, 0x00, 0x00, 0x00, 0x02]),
            Err(JpegError::ZeroSize {
                width: 2,
                height: 0
            })
        );
        assert_eq!(
            jpeg_shape(&[0xFF, 0xD8, 0x00]),
            Err(JpegError::ExpectedMarker(0))
        );
        // A segment length below 2 cannot hold its own length field.
        assert_eq!(
            jpeg_shape(&[0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x01, 0xFF, 0xD9]),
            Err(JpegError::Truncated)
        );
    }
}

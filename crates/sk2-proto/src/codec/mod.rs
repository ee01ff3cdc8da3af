//! Lossless depth codecs: pure functions from pixels to bytes and back.
//!
//! Each codec is a pair `encode(depth_mm, out)` (appends to `out`, cannot fail) and
//! `decode(payload, depth_mm)` (fills a slice of exactly the frame's pixel count from exactly
//! `payload`, or returns a [`CodecError`]). The caller ([`crate::depth_v2`]) knows the shape from
//! the message header and has checked it against [`crate::frame::MAX_FRAME_PIXELS`] before it
//! allocates the output, so a decoder never allocates in proportion to what the payload claims.
//!
//! * [`rvl`]: Wilson's RVL (2017), run lengths of holes plus variable-length deltas.
//! * [`medans`]: median prediction, per-context static rANS, holes as their own symbol.
//! * [`medhuf`]: planar prediction, run mode, per-context Huffman codes in four bit streams.

pub mod medans;
pub mod medhuf;
pub mod rvl;

/// Why a codec payload could not be decoded. Every variant means the payload is corrupt or
/// belongs to another shape; none is a bug in the decoder.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// The payload ended before every pixel was decoded.
    #[error("payload ends before all {pixels} pixels are decoded")]
    Truncated {
        /// Pixels the frame has.
        pixels: usize,
    },
    /// The payload holds bytes after the last pixel (or non-zero padding).
    #[error("payload has {0} bytes (or non-zero padding) after the last pixel")]
    TrailingData(usize),
    /// A run length or count goes past the end of the frame.
    #[error("a run of {run} pixels at pixel {at} goes past the end of the {pixels}-pixel frame")]
    RunPastEnd {
        /// Length of the run.
        run: u64,
        /// Index of the first pixel of the run.
        at: usize,
        /// Pixels the frame has.
        pixels: usize,
    },
    /// A variable-length number is longer than any value the format can hold.
    #[error("variable-length number longer than {max_bits} bits")]
    NumberTooLong {
        /// Largest width the format allows here.
        max_bits: u32,
    },
    /// A decoded depth is outside `0..=65535` (or a hole where the format forbids one).
    #[error("decoded depth {value} at pixel {at} is outside the u16 range")]
    DepthOutOfRange {
        /// The out-of-range value.
        value: i64,
        /// Pixel index.
        at: usize,
    },
    /// A structural field of the payload is invalid (mode byte, table, section length).
    #[error("corrupt payload: {0}")]
    Corrupt(&'static str),
    /// The payload is larger than any encoding of a frame of this size can be.
    #[error("payload of {len} bytes exceeds the {max} bytes any {pixels}-pixel frame needs")]
    TooLarge {
        /// Payload length.
        len: usize,
        /// Largest possible payload for the frame size.
        max: usize,
        /// Pixels the frame has.
        pixels: usize,
    },
}

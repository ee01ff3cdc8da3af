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
mod model;
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

/// The first byte of a MEDANS or MEDHUF payload: the pixels are modelled (the codec's own
/// layout follows) ...
pub(crate) const MODE_MODELLED: u8 = 0;
/// ... or stored: 2 bytes per pixel, u16 little-endian, when modelling would not be smaller.
pub(crate) const MODE_STORED: u8 = 1;

/// The largest payload of a codec with a mode byte: the stored form of `pixels` pixels.
pub(crate) fn max_mode_payload_len(pixels: usize) -> usize {
    1 + 2 * pixels
}

/// Appends the stored form of `depth_mm`: [`MODE_STORED`], then the pixels as u16 LE.
pub(crate) fn store(depth_mm: &[u16], out: &mut Vec<u8>) {
    out.reserve(1 + depth_mm.len() * 2);
    out.push(MODE_STORED);
    for depth in depth_mm {
        out.extend_from_slice(&depth.to_le_bytes());
    }
}

/// Appends the payload of a codec with a mode byte: the modelled form, which `modelled`
/// appends (mode byte included), unless `depth_mm` is not a frame of rows of `width` pixels
/// or the modelled form would not be smaller than the stored one; then the stored form.
pub(crate) fn encode_by_mode(
    depth_mm: &[u16],
    width: usize,
    out: &mut Vec<u8>,
    modelled: impl FnOnce(&[u16], usize, &mut Vec<u8>),
) {
    let start_len = out.len();
    if width == 0 || depth_mm.is_empty() || depth_mm.len() % width != 0 {
        // Not a frame (DepthFrame never makes one); store it so the output is still exact.
        store(depth_mm, out);
        return;
    }
    modelled(depth_mm, width, out);
    if out.len() - start_len >= max_mode_payload_len(depth_mm.len()) {
        out.truncate(start_len);
        store(depth_mm, out);
    }
}

/// Decodes a payload that starts with a mode byte: checks its length against the stored
/// form, decodes the stored form itself and hands a modelled body to `modelled`, once it has
/// checked that `width` divides the pixel count. `unknown_mode` is the error for any other
/// mode byte.
pub(crate) fn decode_by_mode(
    payload: &[u8],
    width: usize,
    depth_mm: &mut [u16],
    unknown_mode: &'static str,
    modelled: impl FnOnce(&[u8], usize, &mut [u16]) -> Result<(), CodecError>,
) -> Result<(), CodecError> {
    let pixels = depth_mm.len();
    let max = max_mode_payload_len(pixels);
    if payload.len() > max {
        return Err(CodecError::TooLarge {
            len: payload.len(),
            max,
            pixels,
        });
    }
    let (&mode, body) = payload
        .split_first()
        .ok_or(CodecError::Truncated { pixels })?;
    match mode {
        MODE_STORED => {
            if body.len() != pixels * 2 {
                return Err(CodecError::Corrupt(
                    "stored payload is not 2 bytes per pixel",
                ));
            }
            for (depth, bytes) in depth_mm.iter_mut().zip(body.chunks_exact(2)) {
                *depth = u16::from_le_bytes([bytes[0], bytes[1]]);
            }
            Ok(())
        }
        MODE_MODELLED if width == 0 || pixels % width != 0 => Err(CodecError::Corrupt(
            "frame width does not divide the pixel count",
        )),
        MODE_MODELLED => modelled(body, width, depth_mm),
        _ => Err(CodecError::Corrupt(unknown_mode)),
    }
}

/// Checks that a stream of which `used_bits` were read ends exactly there: not past its end
/// (then it was truncated), no whole byte left over, padding bits zero.
pub(crate) fn check_stream_end(
    stream: &[u8],
    used_bits: usize,
    pixels: usize,
) -> Result<(), CodecError> {
    if used_bits > stream.len() * 8 {
        return Err(CodecError::Truncated { pixels });
    }
    let used_bytes = used_bits.div_ceil(8);
    let padding_set = used_bits % 8 != 0
        && stream
            .get(used_bytes - 1)
            .is_some_and(|&byte| byte >> (used_bits % 8) != 0);
    if used_bytes != stream.len() || padding_set {
        return Err(CodecError::TrailingData(stream.len() - used_bytes));
    }
    Ok(())
}

/// A pseudo-random sequence, so the tests need no dependency and fail the same way twice.
#[cfg(test)]
pub(crate) fn noise(seed: u32) -> impl FnMut() -> u32 {
    let mut state = seed;
    move || {
        state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        state >> 8
    }
}

/// What MEDANS and MEDHUF must both do, on the same frames.
#[cfg(test)]
mod mode_codec_tests {
    use super::*;

    type Encode = fn(&[u16], usize, &mut Vec<u8>);
    type Decode = fn(&[u8], usize, &mut [u16]) -> Result<(), CodecError>;
    const CODECS: [(&str, Encode, Decode); 2] = [
        ("medans", medans::encode, medans::decode),
        ("medhuf", medhuf::encode, medhuf::decode),
    ];

    /// Encodes with each codec, checks the bound and the round trip; the payload sizes.
    fn round_trip(depth: &[u16], width: usize) -> [usize; 2] {
        CODECS.map(|(name, encode, decode)| {
            let mut payload = Vec::new();
            encode(depth, width, &mut payload);
            assert!(payload.len() <= max_mode_payload_len(depth.len()), "{name}");
            let mut decoded = vec![0xEEEE; depth.len()];
            decode(&payload, width, &mut decoded).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(decoded, depth, "{name}");
            payload.len()
        })
    }

    #[test]
    fn a_smooth_frame_with_holes_compresses_and_round_trips() {
        let (width, height) = (64, 40);
        let depth: Vec<u16> = (0..width * height)
            .map(|i| {
                let (row, col) = (i / width, i % width);
                if (10..20).contains(&row) && col < 12 {
                    0
                } else {
                    (2000 + row * 7 + col * 3 + (i * 2654435761) % 3) as u16
                }
            })
            .collect();
        for len in round_trip(&depth, width) {
            assert!(len * 4 < depth.len() * 2, "{len} bytes");
        }
    }

    /// A full-size frame of depth-camera-like content: wide smooth areas, holes, far values,
    /// and many rare symbols.
    #[test]
    fn a_full_size_frame_with_rare_symbols_round_trips() {
        let (width, height) = (512, 424);
        let mut random = noise(7);
        let depth: Vec<u16> = (0..width * height)
            .map(|i| {
                let r = random();
                let (row, col) = (i / width, i % width);
                match r % 256 {
                    0 => 0,
                    1 => (r >> 8) as u16 | 1,
                    _ if row > 300 && col < 200 => 0,
                    _ if row < 100 => 1500,
                    _ => (1200 + row * 10 + col + (r % 4) as usize) as u16,
                }
            })
            .collect();
        for len in round_trip(&depth, width) {
            assert!(len < depth.len(), "{len} bytes");
        }
    }

    /// Both decoders count the bits they used from their readers' positions (no counter in the
    /// hot loop); a payload a byte short or a byte long must still be refused.
    #[test]
    fn a_payload_a_byte_short_or_long_is_an_error() {
        let width = 64;
        let mut random = noise(3);
        // Residuals of a few hundred: most pixels carry extra bits.
        let depth: Vec<u16> = (0..width * 48)
            .map(|i| (2000 + (i % width) * 5) as u16 + (random() % 300) as u16)
            .collect();
        for (name, encode, decode) in CODECS {
            let mut payload = Vec::new();
            encode(&depth, width, &mut payload);
            assert_eq!(payload[0], MODE_MODELLED, "{name}");
            let mut decoded = vec![0; depth.len()];
            decode(&payload, width, &mut decoded).unwrap();
            assert_eq!(decoded, depth, "{name}");
            let short = &payload[..payload.len() - 1];
            assert!(decode(short, width, &mut decoded).is_err(), "{name}");
            let mut long = payload.clone();
            long.push(0);
            assert_eq!(
                decode(&long, width, &mut decoded),
                Err(CodecError::TrailingData(1)),
                "{name}"
            );
        }
    }

    #[test]
    fn noise_falls_back_to_stored_and_extremes_round_trip() {
        let mut random = noise(1);
        let depth: Vec<u16> = (0..999).map(|_| random() as u16).collect();
        assert_eq!(round_trip(&depth, 37), [max_mode_payload_len(999); 2]);
        round_trip(&[0], 1);
        round_trip(&[u16::MAX], 1);
        round_trip(&[1, u16::MAX, 1, u16::MAX, 0, 1], 3);
        round_trip(&[1, u16::MAX, u16::MAX, 1, 1, u16::MAX, u16::MAX, 1], 4);
        round_trip(&vec![0; 5000], 100);
        round_trip(&vec![u16::MAX; 5001], 3);
        round_trip(&[5, 0, 0, 7, 0, 9, 1, 0, 3], 1);
    }
}

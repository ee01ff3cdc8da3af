//! RVL: run-length and variable-length coding of depth images (A. D. Wilson, "Fast Lossless Depth
//! Image Compression", ISS 2017). Exact for every `u16` value and every pixel count.
//!
//! The pixels are read row-major as one sequence and cut into alternating runs:
//!
//! ```text
//! repeat until every pixel is coded:
//!     Z = number of zeros (holes) that follow          -> vle(Z)
//!     N = number of non-zero pixels that follow        -> vle(N)
//!     for each of those N pixels d:                    -> vle(zigzag(d - previous))
//!         previous = d             (previous starts at 0 and skips holes)
//! zigzag(x) = 2x for x >= 0, -2x - 1 for x < 0          (as in Wilson's (x << 1) ^ (x >> 31))
//! ```
//!
//! `vle(v)` writes `v` in groups of 3 bits, least significant group first, each group in a nibble
//! whose bit 3 says "another group follows". Nibbles are packed 8 per 32-bit word, the first
//! nibble in the most significant position, and each word is stored little-endian. The last word
//! is padded with zero nibbles. So the payload length is always a multiple of 4.
//!
//! ```text
//! nibble:  | c | g2 g1 g0 |     c = 1: more groups follow;  g = 3 bits of the value
//! word:    | n0 | n1 | n2 | n3 | n4 | n5 | n6 | n7 |   n0 in bits 31..28, stored as u32 LE
//! ```
//!
//! Unlike Wilson's C code (signed `short`), depths are unsigned here, so deltas span
//! `-65535..=65535` and need up to 6 nibbles. The decoder checks every run against the frame
//! size and every depth against the `u16` range, and rejects non-zero padding and trailing words,
//! so one frame has exactly one valid payload.

use super::CodecError;

/// Bits a run length may have: a frame has at most [`crate::frame::MAX_FRAME_PIXELS`] (2^24)
/// pixels, and 8 groups of 3 bits cover it. Longer numbers are corrupt.
const MAX_RUN_GROUPS: u32 = 9;
/// Groups a zigzagged delta may have: 17 bits need 6 groups of 3.
const MAX_DELTA_GROUPS: u32 = 6;

/// An upper bound on the payload length for a frame of `pixels` pixels.
///
/// Each pixel costs at most 6 nibbles of delta; a run of `L >= 1` pixels costs at most `L`
/// nibbles of length; each of the at most `pixels + 1` (zero-run, non-zero-run) pairs may add two
/// one-nibble empty runs. That is at most `10 * pixels + 2` nibbles, rounded up to whole words.
pub fn max_encoded_len(pixels: usize) -> usize {
    (pixels * 10 + 2).div_ceil(8) * 4
}

struct NibbleWriter<'a> {
    out: &'a mut Vec<u8>,
    word: u32,
    nibbles: u32,
}

impl NibbleWriter<'_> {
    #[inline]
    fn put(&mut self, nibble: u32) {
        self.word = (self.word << 4) | nibble;
        self.nibbles += 1;
        if self.nibbles == 8 {
            self.out.extend_from_slice(&self.word.to_le_bytes());
            self.word = 0;
            self.nibbles = 0;
        }
    }

    #[inline]
    fn vle(&mut self, mut value: u32) {
        loop {
            let group = value & 7;
            value >>= 3;
            if value == 0 {
                self.put(group);
                return;
            }
            self.put(group | 8);
        }
    }

    fn finish(self) {
        if self.nibbles > 0 {
            let word = self.word << (4 * (8 - self.nibbles));
            self.out.extend_from_slice(&word.to_le_bytes());
        }
    }
}

/// Appends the RVL payload of `depth_mm` (row-major pixels) to `out`.
pub fn encode(depth_mm: &[u16], out: &mut Vec<u8>) {
    out.reserve(depth_mm.len());
    let mut writer = NibbleWriter {
        out,
        word: 0,
        nibbles: 0,
    };
    let mut previous = 0i32;
    let mut rest = depth_mm;
    while !rest.is_empty() {
        let zeros = rest.iter().take_while(|&&d| d == 0).count();
        rest = &rest[zeros..];
        let nonzeros = rest.iter().take_while(|&&d| d != 0).count();
        // Run lengths fit in u32: a DepthFrame has at most MAX_FRAME_PIXELS (2^24) pixels, and
        // even a longer slice is cut by the saturating conversion only in length, never in safety.
        writer.vle(u32::try_from(zeros).unwrap_or(u32::MAX));
        writer.vle(u32::try_from(nonzeros).unwrap_or(u32::MAX));
        for &depth in &rest[..nonzeros] {
            let delta = i32::from(depth) - previous;
            writer.vle(((delta << 1) ^ (delta >> 31)) as u32);
            previous = i32::from(depth);
        }
        rest = &rest[nonzeros..];
    }
    writer.finish();
}

struct NibbleReader<'a> {
    words: std::slice::ChunksExact<'a, u8>,
    word: u32,
    left: u32,
    pixels: usize,
}

impl NibbleReader<'_> {
    #[inline]
    fn get(&mut self) -> Result<u32, CodecError> {
        if self.left == 0 {
            let bytes = self.words.next().ok_or(CodecError::Truncated {
                pixels: self.pixels,
            })?;
            // chunks_exact(4) yields 4-byte slices only.
            self.word = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
            self.left = 8;
        }
        self.left -= 1;
        Ok((self.word >> (4 * self.left)) & 0xF)
    }

    #[inline]
    fn vle(&mut self, max_groups: u32) -> Result<u64, CodecError> {
        let mut value = 0u64;
        for group in 0..max_groups {
            let nibble = self.get()?;
            value |= u64::from(nibble & 7) << (3 * group);
            if nibble & 8 == 0 {
                return Ok(value);
            }
        }
        Err(CodecError::NumberTooLong {
            max_bits: 3 * max_groups,
        })
    }
}

/// Decodes an RVL `payload` into `depth_mm`, which must be exactly the frame's pixels.
///
/// Every byte of `payload` must be used: a payload for a smaller frame is [`CodecError::Truncated`],
/// one with extra words or non-zero padding is [`CodecError::TrailingData`].
pub fn decode(payload: &[u8], depth_mm: &mut [u16]) -> Result<(), CodecError> {
    let pixels = depth_mm.len();
    if payload.len() % 4 != 0 {
        return Err(CodecError::Corrupt(
            "RVL payload length is not a multiple of 4",
        ));
    }
    let max = max_encoded_len(pixels);
    if payload.len() > max {
        return Err(CodecError::TooLarge {
            len: payload.len(),
            max,
            pixels,
        });
    }
    let mut reader = NibbleReader {
        words: payload.chunks_exact(4),
        word: 0,
        left: 0,
        pixels,
    };
    let mut at = 0usize;
    let mut previous = 0i64;
    while at < pixels {
        for is_zero_run in [true, false] {
            let run = reader.vle(MAX_RUN_GROUPS)?;
            let end = usize::try_from(run)
                .ok()
                .and_then(|run| at.checked_add(run))
                .filter(|&end| end <= pixels)
                .ok_or(CodecError::RunPastEnd { run, at, pixels })?;
            if is_zero_run {
                depth_mm[at..end].fill(0);
            } else {
                for (offset, slot) in depth_mm[at..end].iter_mut().enumerate() {
                    let zigzag = reader.vle(MAX_DELTA_GROUPS)? as i64;
                    let depth = previous + ((zigzag >> 1) ^ -(zigzag & 1));
                    // A hole inside a non-zero run would decode, but the encoder never makes one;
                    // rejecting it keeps exactly one valid payload per frame.
                    *slot = u16::try_from(depth).ok().filter(|&d| d != 0).ok_or(
                        CodecError::DepthOutOfRange {
                            value: depth,
                            at: at + offset,
                        },
                    )?;
                    previous = depth;
                }
            }
            at = end;
        }
    }
    let padding = if reader.left > 0 {
        reader.word & ((1u32 << (4 * reader.left)) - 1)
    } else {
        0
    };
    let trailing = reader.words.len() * 4;
    if padding != 0 || trailing != 0 {
        return Err(CodecError::TrailingData(trailing));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(depth: &[u16]) -> Vec<u8> {
        let mut payload = Vec::new();
        encode(depth, &mut payload);
        assert!(payload.len() <= max_encoded_len(depth.len()));
        let mut decoded = vec![0xEEEE; depth.len()];
        decode(&payload, &mut decoded).unwrap();
        assert_eq!(decoded, depth);
        payload
    }

    #[test]
    fn wilsons_nibble_order_puts_the_first_nibble_in_the_top_bits() {
        // Z=0 (0), N=1 (1), zigzag(5)=10 = 0b1_010 -> groups 010 (more) then 001: nibbles A, 1.
        // Word nibbles 0,1,A,1 then padding: 0x01A10000, stored little-endian.
        assert_eq!(round_trip(&[5]), vec![0x00, 0x00, 0xA1, 0x01]);
    }

    #[test]
    fn extremes_round_trip() {
        round_trip(&[0]);
        round_trip(&[u16::MAX]);
        round_trip(&[u16::MAX, 1, u16::MAX, 0, 0, 1]);
        round_trip(&[0; 1000]);
        round_trip(&[u16::MAX; 999]);
    }

    #[test]
    fn worst_case_alternation_stays_within_the_bound() {
        let depth: Vec<u16> = (0..4001)
            .map(|i| match i % 4 {
                1 => u16::MAX,
                3 => 1,
                _ => 0,
            })
            .collect();
        round_trip(&depth);
        let depth: Vec<u16> = (0..4000)
            .map(|i| if i % 2 == 0 { 1 } else { u16::MAX })
            .collect();
        round_trip(&depth);
    }

    #[test]
    fn a_payload_for_fewer_pixels_is_truncated_and_one_for_more_has_trailing_data() {
        let mut payload = Vec::new();
        encode(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], &mut payload);
        let mut more = vec![0; 13];
        assert!(matches!(
            decode(&payload, &mut more),
            Err(CodecError::Truncated { .. } | CodecError::RunPastEnd { .. })
        ));
        let mut fewer = vec![0; 11];
        assert!(decode(&payload, &mut fewer).is_err());
        let mut extra = payload.clone();
        extra.extend_from_slice(&[0; 4]);
        let mut exact = vec![0; 12];
        assert_eq!(decode(&extra, &mut exact), Err(CodecError::TrailingData(4)));
    }
}

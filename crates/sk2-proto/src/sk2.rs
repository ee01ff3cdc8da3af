//! The original streamkinect2 depth format ("sk2"): 12-bit packing, then an LZ4 block.
//!
//! Every message on a `depth` endpoint is one ZeroMQ frame with no header (docs/protocol.md,
//! section 4). For a frame `d` of `H` rows by `W` columns (`W` even) of `u16` millimetres:
//!
//! ```text
//! high[i]   = (d[i] >> 4) & 0xFF                 bits 4..11, one byte per pixel
//! packed[k] = (d[2k] & 0xF) << 4 | d[2k+1] & 0xF  bits 0..3, even column in the HIGH nibble
//! raw       = high (W*H bytes) || packed (W*H/2 bytes)          both row-major
//!
//! message   +----------------------+---------------------------+
//!           | len(raw): u32 LE     | LZ4 block of raw          |
//!           +----------------------+---------------------------+
//!             4 bytes                the rest (no LZ4 frame header)
//! ```
//!
//! For 512 x 424, `len(raw)` is 325 632 = `0x0004F800`, so every message starts `00 F8 04 00`.
//!
//! **Lossy:** bits 12..15 are dropped, so a depth `v >= 4096` decodes as `v & 0x0FFF` (5000 mm
//! comes back as 904 mm). That is the original's format and it stays so for compatibility; the
//! exact formats live on other endpoint names.
//!
//! The shape is not in the message: the reader must know it (512 x 424 for the original).

use crate::frame::{checked_pixels, DepthFrame, FrameError};

/// Depths from this value up lose their top bits in this format.
pub const FIRST_LOSSY_DEPTH_MM: u16 = 1 << 12;

/// Why a frame could not be encoded or a message decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Sk2Error {
    /// The format packs two pixels per byte within a row, so the width must be even.
    #[error("width {0} is odd; the sk2 format needs an even width")]
    OddWidth(usize),
    /// The shape is empty or too large.
    #[error(transparent)]
    Shape(#[from] FrameError),
    /// The message is shorter than its 4-byte size prefix.
    #[error("message of {0} bytes is too short for the 4-byte size prefix")]
    Truncated(usize),
    /// The size prefix does not match the shape the reader expects. Checked before allocating.
    #[error(
        "message declares {declared} uncompressed bytes, a {width}x{height} frame needs {expected}"
    )]
    SizeMismatch {
        /// The size in the message's prefix.
        declared: u32,
        /// The size the expected shape needs.
        expected: usize,
        /// Expected width.
        width: usize,
        /// Expected height.
        height: usize,
    },
    /// The LZ4 block is corrupt or does not fill the declared size exactly.
    #[error("corrupt LZ4 block: {0}")]
    Lz4(String),
    /// LZ4 refused to compress. Cannot happen with the worst-case output buffer `encode` sizes;
    /// kept so that a future change in `lz4_flex` is an error, not a panic.
    #[error("LZ4 compression failed: {0}")]
    Compress(String),
}

/// Size in bytes of the packed (uncompressed) image of a `width` x `height` frame.
pub fn raw_len(width: usize, height: usize) -> usize {
    let pixels = width * height;
    pixels + pixels / 2
}

/// Pixels handled per step of the packing loops. A fixed-size block lets the compiler drop the
/// bounds checks and vectorise the nibble shuffles; 32 pixels fill two 128-bit registers of `u16`.
const PACK_BLOCK_PX: usize = 32;

/// Encodes a frame into one `depth` message.
pub fn encode(frame: &DepthFrame) -> Result<Vec<u8>, Sk2Error> {
    let mut raw = Vec::new();
    encode_with(frame, &mut raw)
}

thread_local! {
    /// LZ4's match-finder table (16 KiB), kept per thread so that an encoder does not allocate and
    /// zero a fresh one for every frame. `lz4_flex` clears it at the start of each block, so no
    /// state leaks between frames and the output does not depend on what was encoded before.
    static COMPRESS_TABLE: std::cell::RefCell<lz4_flex::block::CompressTable> =
        std::cell::RefCell::new(lz4_flex::block::CompressTable::large());
}

/// Like [`encode`], reusing `raw` as the scratch buffer so a long-running encoder does not
/// allocate for every frame.
///
/// `raw` holds the packed image followed by room for the worst-case LZ4 block; both parts are
/// overwritten, never zero-filled again once the buffer has grown to the frame's size. The
/// returned message is allocated at its exact size (one copy of the compressed bytes), so a
/// queue of messages holds no slack.
pub fn encode_with(frame: &DepthFrame, raw: &mut Vec<u8>) -> Result<Vec<u8>, Sk2Error> {
    if frame.width() % 2 != 0 {
        return Err(Sk2Error::OddWidth(frame.width()));
    }
    let packed_len = raw_len(frame.width(), frame.height());
    // `DepthFrame` caps a frame at MAX_FRAME_PIXELS (16 Mpx), so the packed size (24 MiB at most)
    // always fits the u32 prefix; the error is for a future, larger cap.
    let declared = u32::try_from(packed_len)
        .map_err(|_| Sk2Error::Compress(format!("{packed_len} bytes do not fit the u32 prefix")))?;
    let bound = lz4_flex::block::get_maximum_output_size(packed_len);
    raw.resize(packed_len + bound, 0);
    let (packed, block) = raw.split_at_mut(packed_len);
    pack_into(frame.depth_mm(), packed);
    let block_len = COMPRESS_TABLE
        .with(|table| {
            lz4_flex::block::compress_into_with_table(packed, block, &mut table.borrow_mut())
        })
        .map_err(|error| Sk2Error::Compress(error.to_string()))?;
    let mut message = Vec::with_capacity(4 + block_len);
    message.extend_from_slice(&declared.to_le_bytes());
    message.extend_from_slice(&block[..block_len]);
    Ok(message)
}

/// Packs the pixels (an even count, row-major with an even width) into `raw`, replacing its contents.
pub fn pack(depth_mm: &[u16], raw: &mut Vec<u8>) {
    // Resized, not cleared: a reused buffer of the right size is overwritten without a zero-fill.
    raw.resize(raw_len(depth_mm.len(), 1), 0);
    pack_into(depth_mm, raw);
}

/// Packs `depth_mm` (an even count) into `raw`, which must be exactly `raw_len` bytes.
fn pack_into(depth_mm: &[u16], raw: &mut [u8]) {
    let (high, low) = raw.split_at_mut(depth_mm.len());
    for (high, &depth) in high.iter_mut().zip(depth_mm) {
        *high = (depth >> 4) as u8;
    }
    // With an even width, the pairs (2k, 2k+1) of a row are exactly the pairs of the flat buffer.
    let mut low_blocks = low.chunks_exact_mut(PACK_BLOCK_PX / 2);
    let mut depth_blocks = depth_mm.chunks_exact(PACK_BLOCK_PX);
    for (low, depth) in (&mut low_blocks).zip(&mut depth_blocks) {
        for (k, low) in low.iter_mut().enumerate() {
            *low = (((depth[2 * k] & 0xF) << 4) | (depth[2 * k + 1] & 0xF)) as u8;
        }
    }
    for (low, pair) in low_blocks
        .into_remainder()
        .iter_mut()
        .zip(depth_blocks.remainder().chunks_exact(2))
    {
        *low = (((pair[0] & 0xF) << 4) | (pair[1] & 0xF)) as u8;
    }
}

/// Decodes one `depth` message of a frame of the given shape.
pub fn decode(message: &[u8], width: usize, height: usize) -> Result<DepthFrame, Sk2Error> {
    let mut raw = Vec::new();
    decode_with(message, width, height, &mut raw)
}

/// Like [`decode`], reusing `raw` as the decompression buffer.
pub fn decode_with(
    message: &[u8],
    width: usize,
    height: usize,
    raw: &mut Vec<u8>,
) -> Result<DepthFrame, Sk2Error> {
    if width % 2 != 0 {
        return Err(Sk2Error::OddWidth(width));
    }
    let pixels = checked_pixels(width, height)?;
    let expected = raw_len(width, height);
    let (prefix, block) = message
        .split_first_chunk::<4>()
        .ok_or(Sk2Error::Truncated(message.len()))?;
    let declared = u32::from_le_bytes(*prefix);
    // Compare before allocating: a message claiming 4 GiB is an error, not an allocation.
    if usize::try_from(declared).ok() != Some(expected) {
        return Err(Sk2Error::SizeMismatch {
            declared,
            expected,
            width,
            height,
        });
    }
    // Resized, not cleared: the block must fill all `expected` bytes (checked below), so stale
    // bytes from a previous frame never survive, and a reused buffer is not zero-filled.
    raw.resize(expected, 0);
    let written = lz4_flex::block::decompress_into(block, raw)
        .map_err(|error| Sk2Error::Lz4(error.to_string()))?;
    if written != expected {
        return Err(Sk2Error::Lz4(format!(
            "block holds {written} bytes, the prefix declares {expected}"
        )));
    }
    let depth_mm = unpack_to_vec(raw, pixels);
    // Cannot fail: `depth_mm` has exactly width * height values and the shape was checked above.
    Ok(DepthFrame::new(width, height, depth_mm)?)
}

/// Inverse of [`pack`]: `raw` must be `raw_len` bytes for `depth_mm.len()` pixels.
pub fn unpack(raw: &[u8], depth_mm: &mut [u16]) {
    let (high, low) = raw.split_at(depth_mm.len());
    let mut depth_blocks = depth_mm.chunks_exact_mut(PACK_BLOCK_PX);
    let mut high_blocks = high.chunks_exact(PACK_BLOCK_PX);
    let mut low_blocks = low.chunks_exact(PACK_BLOCK_PX / 2);
    for ((depth, high), low) in (&mut depth_blocks)
        .zip(&mut high_blocks)
        .zip(&mut low_blocks)
    {
        unpack_block(high, low, depth);
    }
    unpack_block(
        high_blocks.remainder(),
        low_blocks.remainder(),
        depth_blocks.into_remainder(),
    );
}

/// Unpacks `raw` into a new buffer of `pixels` values, block by block, without zero-filling it
/// first (a 512 x 424 frame would be 424 KiB of zeros written only to be overwritten).
fn unpack_to_vec(raw: &[u8], pixels: usize) -> Vec<u16> {
    let (high, low) = raw.split_at(pixels);
    let mut depth_mm = Vec::with_capacity(pixels);
    let mut block = [0u16; PACK_BLOCK_PX];
    let mut high_blocks = high.chunks_exact(PACK_BLOCK_PX);
    let mut low_blocks = low.chunks_exact(PACK_BLOCK_PX / 2);
    for (high, low) in (&mut high_blocks).zip(&mut low_blocks) {
        unpack_block(high, low, &mut block);
        depth_mm.extend_from_slice(&block);
    }
    let tail = &mut block[..high_blocks.remainder().len()];
    unpack_block(high_blocks.remainder(), low_blocks.remainder(), tail);
    depth_mm.extend_from_slice(tail);
    depth_mm
}

/// Unpacks one block: `depth` and `high` have the same (even) length, `low` half of it.
#[inline(always)]
fn unpack_block(high: &[u8], low: &[u8], depth: &mut [u16]) {
    for ((pair, high), &low) in depth.chunks_exact_mut(2).zip(high.chunks_exact(2)).zip(low) {
        pair[0] = (u16::from(high[0]) << 4) | u16::from(low >> 4);
        pair[1] = (u16::from(high[1]) << 4) | u16::from(low & 0xF);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_widths_are_rejected_both_ways() {
        let frame = DepthFrame::zeros(3, 2).unwrap();
        assert_eq!(encode(&frame), Err(Sk2Error::OddWidth(3)));
        assert_eq!(decode(&[0; 8], 3, 2), Err(Sk2Error::OddWidth(3)));
    }

    #[test]
    fn a_huge_declared_size_is_rejected_before_allocating() {
        let message = [0xFF, 0xFF, 0xFF, 0xFF, 0x00];
        assert!(matches!(
            decode(&message, 512, 424),
            Err(Sk2Error::SizeMismatch {
                declared: u32::MAX,
                ..
            })
        ));
    }
}

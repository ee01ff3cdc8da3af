//! MEDANS: a lossless depth codec built for time-of-flight frames (Kinect v2, Azure Kinect).
//!
//! Each pixel is predicted from its causal neighbours with the LOCO-I / JPEG-LS median edge
//! detector (MED); the prediction error, or the fact that the pixel is a hole, is one symbol
//! coded by a static rANS coder whose frequencies are chosen per frame for each of
//! [`CONTEXTS`] contexts. The context says how many neighbours are holes and, when none is, how
//! busy the neighbourhood is (the log2 of its local gradient). Large errors are split into a
//! symbol (their bit length) and raw extra bits, as in DEFLATE or zstd.
//!
//! ```text
//!   c b d      a = left, b = up, c = up-left, d = up-right (0 outside the image)
//!   a x        holes = how many of a, b, c, d are 0
//!
//! prediction  if a, b, c are all non-zero:  MED(a, b, c) = min(a,b) if c >= max(a,b),
//!                                                          max(a,b) if c <= min(a,b), else a+b-c
//!             else the first non-zero of a, b, d, c; else the last non-zero pixel coded; else 0
//! context     holes == 0: min(bit_length(|a-c| + |b-c| + |b-d|), 8)       -> 0..=8
//!             holes >= 1: 8 + holes                                        -> 9..=12
//! symbol      0 for a hole (x == 0); else 1 + token(zigzag(x - prediction))
//! token(v)    v < 16: v, no extra bits
//!             else with n = floor(log2 v) (4..=16): 16 + 2(n-4) + bit n-1 of v, and the
//!             n-1 low bits of v as extra bits                              -> tokens 0..=41
//! ```
//!
//! These rules come from the structure of depth images (holes cluster; noise grows with the
//! local gradient), not from fitting any particular frames: the only parameters are power-of-two
//! bucket edges.
//!
//! Payload (all integers little-endian):
//!
//! ```text
//! mode: u8             0x00 = modelled (below), 0x01 = stored: the pixels as u16 LE
//!                      (the encoder stores when modelling would not be smaller, e.g. noise)
//! tables, per context 0..CONTEXTS:
//!   used: u8           number of symbols with a frequency (0 = context never used, else
//!                      1..=SYMBOLS), then `used` frequencies as LEB128 varints, which must
//!                      add up to exactly 4096 (12-bit probabilities)
//! rans_len: u32        length of the rANS stream
//! rans: [u8; rans_len] rANS stream (32-bit state, byte renormalisation, L = 2^23): the initial
//!                      state as u32 LE, then the bytes the decoder pulls, in reading order.
//!                      The encoder coded the pixels in reverse so the decoder reads them in
//!                      raster order; after the last pixel the state must be exactly 2^23.
//! extra: [u8; ..]      extra bits of every token, in raster order, packed least significant
//!                      bit first; the last byte is padded with zero bits; no byte may be left
//! ```

use super::CodecError;

/// Number of contexts: 9 gradient buckets without holes around, 4 for 1..=4 hole neighbours.
pub const CONTEXTS: usize = 13;
/// Symbols: the hole plus 42 tokens (zigzag errors up to 2^17 - 1, enough for any u16 pair).
pub const SYMBOLS: usize = 43;
const SCALE_BITS: u32 = 12;
const SCALE: u32 = 1 << SCALE_BITS;
/// Lower bound of the rANS state (ryg's rans_byte): 2^23 leaves 8 bits for byte renormalisation.
const RANS_L: u32 = 1 << 23;
const MODE_MODELLED: u8 = 0;
const MODE_STORED: u8 = 1;
const HOLE: u8 = 0;

/// An upper bound on the payload for `pixels` pixels: the stored mode plus its mode byte.
pub fn max_encoded_len(pixels: usize) -> usize {
    1 + 2 * pixels
}

#[inline(always)]
fn bit_length(v: u32) -> u32 {
    32 - v.leading_zeros()
}

/// Context and prediction for a pixel whose left, up, up-left and up-right neighbours are
/// `a`, `b`, `c`, `d`; `last` is the last non-zero pixel coded. Encoder and decoder share it.
#[inline(always)]
fn model(a: u16, b: u16, c: u16, d: u16, last: u16) -> (usize, i32) {
    let (ai, bi, ci, di) = (i32::from(a), i32::from(b), i32::from(c), i32::from(d));
    let holes = (a == 0) as usize + (b == 0) as usize + (c == 0) as usize + (d == 0) as usize;
    let prediction = if a != 0 && b != 0 && c != 0 {
        let (lo, hi) = if ai < bi { (ai, bi) } else { (bi, ai) };
        if ci >= hi {
            lo
        } else if ci <= lo {
            hi
        } else {
            ai + bi - ci
        }
    } else if a != 0 {
        ai
    } else if b != 0 {
        bi
    } else if d != 0 {
        di
    } else if c != 0 {
        ci
    } else {
        i32::from(last)
    };
    let context = if holes == 0 {
        let gradient =
            (ai - ci).unsigned_abs() + (bi - ci).unsigned_abs() + (bi - di).unsigned_abs();
        bit_length(gradient).min(8) as usize
    } else {
        8 + holes
    };
    (context, prediction)
}

/// Symbol (without the hole offset), extra-bit count and extra bits of a zigzagged error.
#[inline(always)]
fn token(v: u32) -> (u8, u32, u32) {
    if v < 16 {
        (v as u8, 0, 0)
    } else {
        let n = bit_length(v) - 1;
        let token = 16 + 2 * (n - 4) + ((v >> (n - 1)) & 1);
        (token as u8, n - 1, v & ((1 << (n - 1)) - 1))
    }
}

/// Inverse of [`token`]: the zigzagged error from a token and its extra bits.
#[inline(always)]
fn untoken_bits(token: u32) -> u32 {
    if token < 16 {
        0
    } else {
        (token - 16) / 2 + 3
    }
}

/// Encoder-side rANS symbol with Alverson's reciprocal, so encoding needs no division.
#[derive(Clone, Copy, Default)]
struct EncSymbol {
    x_max: u32,
    rcp_freq: u32,
    bias: u32,
    cmpl_freq: u32,
    rcp_shift: u32,
}

impl EncSymbol {
    fn new(start: u32, freq: u32) -> Self {
        let x_max = ((RANS_L >> SCALE_BITS) << 8) * freq;
        let cmpl_freq = SCALE - freq;
        if freq < 2 {
            EncSymbol {
                x_max,
                rcp_freq: u32::MAX,
                bias: start + SCALE - 1,
                cmpl_freq,
                rcp_shift: 0,
            }
        } else {
            let mut shift = 0;
            while freq > (1u32 << shift) {
                shift += 1;
            }
            EncSymbol {
                x_max,
                rcp_freq: (1u64 << (shift + 31)).div_ceil(u64::from(freq)) as u32,
                bias: start,
                cmpl_freq,
                rcp_shift: shift - 1,
            }
        }
    }
}

/// Scales `counts` to frequencies adding up to [`SCALE`], keeping every seen symbol at >= 1.
fn normalize(counts: &[u32; SYMBOLS]) -> [u32; SYMBOLS] {
    let total: u64 = counts.iter().map(|&c| u64::from(c)).sum();
    let mut freqs = [0u32; SYMBOLS];
    if total == 0 {
        return freqs;
    }
    let mut sum = 0i64;
    for (freq, &count) in freqs.iter_mut().zip(counts) {
        if count > 0 {
            *freq = ((u64::from(count) * u64::from(SCALE) / total) as u32).max(1);
            sum += i64::from(*freq);
        }
    }
    // Rounding leaves the sum off by a little; take it from (or give it to) the largest
    // frequencies, never pushing one below 1. At most SYMBOLS symbols are >= 1, so the sum
    // is at least the number used and can always come down to SCALE.
    while sum != i64::from(SCALE) {
        let largest = (0..SYMBOLS).max_by_key(|&s| freqs[s]).unwrap_or(0);
        if sum < i64::from(SCALE) {
            freqs[largest] += (i64::from(SCALE) - sum) as u32;
            sum = i64::from(SCALE);
        } else {
            let excess = (sum - i64::from(SCALE)) as u32;
            let take = excess.min(freqs[largest] - 1).max(1);
            freqs[largest] -= take;
            sum -= i64::from(take);
        }
    }
    freqs
}

struct BitWriter<'a> {
    out: &'a mut Vec<u8>,
    acc: u64,
    bits: u32,
}

impl BitWriter<'_> {
    #[inline(always)]
    fn put(&mut self, value: u32, count: u32) {
        self.acc |= u64::from(value) << self.bits;
        self.bits += count;
        if self.bits >= 32 {
            self.out.extend_from_slice(&(self.acc as u32).to_le_bytes());
            self.acc >>= 32;
            self.bits -= 32;
        }
    }

    fn finish(self) {
        let bytes = self.bits.div_ceil(8) as usize;
        self.out.extend_from_slice(&self.acc.to_le_bytes()[..bytes]);
    }
}

fn write_varint(out: &mut Vec<u8>, mut value: u32) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Appends the MEDANS payload of a `width`-pixel-wide frame to `out`.
pub fn encode(depth_mm: &[u16], width: usize, out: &mut Vec<u8>) {
    let start_len = out.len();
    if width == 0 || depth_mm.is_empty() || depth_mm.len() % width != 0 {
        // Not a frame (DepthFrame never makes one); store it so the output is still exact.
        store(depth_mm, out);
        return;
    }
    let pixels = depth_mm.len();
    // Pass 1: context and symbol of every pixel, their histograms, and the extra bits.
    let mut coded: Vec<u8> = Vec::with_capacity(pixels * 2);
    let mut counts = [[0u32; SYMBOLS]; CONTEXTS];
    let mut extra = Vec::with_capacity(pixels / 2);
    {
        let mut bits = BitWriter {
            out: &mut extra,
            acc: 0,
            bits: 0,
        };
        let mut last = 0u16;
        let zero_row = vec![0u16; width + 2];
        let mut up = zero_row.clone();
        for row in depth_mm.chunks_exact(width) {
            let mut a = 0u16;
            let mut c = 0u16;
            for (col, &x) in row.iter().enumerate() {
                let b = up[col + 1];
                let d = up[col + 2];
                let (context, prediction) = model(a, b, c, d, last);
                let symbol = if x == 0 {
                    HOLE
                } else {
                    let error = i32::from(x) - prediction;
                    let zigzag = ((error << 1) ^ (error >> 31)) as u32;
                    let (token, count, value) = token(zigzag);
                    if count > 0 {
                        bits.put(value, count);
                    }
                    last = x;
                    token + 1
                };
                counts[context][symbol as usize] += 1;
                coded.push(context as u8);
                coded.push(symbol);
                a = x;
                c = b;
            }
            up[1..=width].copy_from_slice(row);
        }
        bits.finish();
    }
    // Tables.
    let mut enc = vec![EncSymbol::default(); CONTEXTS * SYMBOLS];
    out.push(MODE_MODELLED);
    for (context, counts) in counts.iter().enumerate() {
        let freqs = normalize(counts);
        let used = freqs
            .iter()
            .rposition(|&f| f > 0)
            .map_or(0, |last| last + 1);
        out.push(used as u8);
        let mut start = 0;
        for (symbol, &freq) in freqs[..used].iter().enumerate() {
            write_varint(out, freq);
            if freq > 0 {
                enc[context * SYMBOLS + symbol] = EncSymbol::new(start, freq);
            }
            start += freq;
        }
    }
    // Pass 2: rANS in reverse, emitting bytes backwards (reversed at the end).
    let mut rans = Vec::with_capacity(pixels / 2 + 8);
    let mut x = RANS_L;
    for pair in coded.chunks_exact(2).rev() {
        let symbol = &enc[pair[0] as usize * SYMBOLS + pair[1] as usize];
        while x >= symbol.x_max {
            rans.push(x as u8);
            x >>= 8;
        }
        let q = ((u64::from(x) * u64::from(symbol.rcp_freq)) >> 32) as u32 >> symbol.rcp_shift;
        x = x + symbol.bias + q * symbol.cmpl_freq;
    }
    rans.extend_from_slice(&x.to_be_bytes());
    rans.reverse();
    // The rANS stream of a frame within MAX_FRAME_PIXELS is at most 2 bytes per pixel: u32.
    out.extend_from_slice(&u32::try_from(rans.len()).unwrap_or(u32::MAX).to_le_bytes());
    out.extend_from_slice(&rans);
    out.extend_from_slice(&extra);
    if out.len() - start_len >= max_encoded_len(pixels) {
        out.truncate(start_len);
        store(depth_mm, out);
    }
}

fn store(depth_mm: &[u16], out: &mut Vec<u8>) {
    out.reserve(1 + depth_mm.len() * 2);
    out.push(MODE_STORED);
    for depth in depth_mm {
        out.extend_from_slice(&depth.to_le_bytes());
    }
}

struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    fn byte(&mut self) -> Result<u8, CodecError> {
        let byte = *self
            .bytes
            .get(self.at)
            .ok_or(CodecError::Corrupt("payload ends inside the tables"))?;
        self.at += 1;
        Ok(byte)
    }

    fn varint(&mut self) -> Result<u32, CodecError> {
        let mut value = 0u32;
        for shift in [0, 7] {
            let byte = self.byte()?;
            value |= u32::from(byte & 0x7F) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(CodecError::Corrupt("frequency varint longer than 2 bytes"))
    }
}

/// Reader of the extra-bits section, least significant bit first.
struct BitReader<'a> {
    bytes: &'a [u8],
    at: usize,
    acc: u64,
    bits: u32,
}

impl BitReader<'_> {
    #[inline(always)]
    fn get(&mut self, count: u32) -> Option<u32> {
        if self.bits < count {
            if let Some(chunk) = self.bytes.get(self.at..self.at + 8) {
                let mut word = [0u8; 8];
                word.copy_from_slice(chunk);
                self.acc |= u64::from_le_bytes(word) << self.bits;
                let taken = (63 - self.bits) / 8;
                self.at += taken as usize;
                self.bits += taken * 8;
            } else {
                while self.bits < count {
                    let &byte = self.bytes.get(self.at)?;
                    self.acc |= u64::from(byte) << self.bits;
                    self.at += 1;
                    self.bits += 8;
                }
            }
        }
        let value = (self.acc & ((1u64 << count) - 1)) as u32;
        self.acc >>= count;
        self.bits -= count;
        Some(value)
    }
}

/// Decodes a MEDANS `payload` into `depth_mm`, a frame `width` pixels wide.
pub fn decode(payload: &[u8], width: usize, depth_mm: &mut [u16]) -> Result<(), CodecError> {
    let pixels = depth_mm.len();
    let max = max_encoded_len(pixels);
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
        MODE_MODELLED => decode_modelled(body, width, depth_mm),
        _ => Err(CodecError::Corrupt("unknown MEDANS mode byte")),
    }
}

/// Decoder table entry per 12-bit slot: symbol (8 bits) | freq - 1 (12 bits) | slot - start (12).
const EMPTY_SLOT: u32 = u32::MAX;

fn decode_modelled(body: &[u8], width: usize, depth_mm: &mut [u16]) -> Result<(), CodecError> {
    let pixels = depth_mm.len();
    if width == 0 || pixels % width != 0 {
        return Err(CodecError::Corrupt(
            "frame width does not divide the pixel count",
        ));
    }
    let mut cursor = Cursor { bytes: body, at: 0 };
    let mut slots = vec![EMPTY_SLOT; CONTEXTS << SCALE_BITS];
    for context in 0..CONTEXTS {
        let used = usize::from(cursor.byte()?);
        if used > SYMBOLS {
            return Err(CodecError::Corrupt("table lists more symbols than exist"));
        }
        if used == 0 {
            continue;
        }
        let table = &mut slots[context << SCALE_BITS..(context + 1) << SCALE_BITS];
        let mut start = 0u32;
        for symbol in 0..used as u32 {
            let freq = cursor.varint()?;
            if freq == 0 {
                continue;
            }
            if start + freq > SCALE {
                return Err(CodecError::Corrupt("frequencies add up to more than 4096"));
            }
            for (offset, slot) in table[start as usize..(start + freq) as usize]
                .iter_mut()
                .enumerate()
            {
                *slot = (symbol << 24) | ((freq - 1) << 12) | offset as u32;
            }
            start += freq;
        }
        if start != SCALE {
            return Err(CodecError::Corrupt("frequencies do not add up to 4096"));
        }
    }
    let rest = &body[cursor.at..];
    let (len, rest) = rest
        .split_first_chunk::<4>()
        .ok_or(CodecError::Corrupt("payload ends before the rANS length"))?;
    let rans_len = u32::from_le_bytes(*len) as usize;
    if rans_len < 4 || rans_len > rest.len() {
        return Err(CodecError::Corrupt("rANS length outside the payload"));
    }
    let (rans, extra) = rest.split_at(rans_len);
    let mut x = u32::from_le_bytes([rans[0], rans[1], rans[2], rans[3]]);
    let mut rans_at = 4usize;
    let mut bits = BitReader {
        bytes: extra,
        at: 0,
        acc: 0,
        bits: 0,
    };
    let truncated = CodecError::Truncated { pixels };
    let mut last = 0u16;
    let mut up = vec![0u16; width + 2];
    for (row_index, row) in depth_mm.chunks_exact_mut(width).enumerate() {
        let mut a = 0u16;
        let mut c = 0u16;
        for (col, out) in row.iter_mut().enumerate() {
            let b = up[col + 1];
            let d = up[col + 2];
            let (context, prediction) = model(a, b, c, d, last);
            let slot = x & (SCALE - 1);
            let entry = slots[(context << SCALE_BITS) | slot as usize];
            if entry == EMPTY_SLOT {
                return Err(CodecError::Corrupt("symbol in a context without a table"));
            }
            let freq = ((entry >> 12) & 0xFFF) + 1;
            x = freq * (x >> SCALE_BITS) + (entry & 0xFFF);
            while x < RANS_L {
                let &byte = rans.get(rans_at).ok_or(CodecError::Truncated { pixels })?;
                x = (x << 8) | u32::from(byte);
                rans_at += 1;
            }
            let symbol = entry >> 24;
            let value = if symbol == u32::from(HOLE) {
                0
            } else {
                let token = symbol - 1;
                let count = untoken_bits(token);
                let zigzag = if count == 0 {
                    token
                } else {
                    let low = bits.get(count).ok_or(truncated.clone())?;
                    ((2 | (token & 1)) << count) | low
                };
                let error = ((zigzag >> 1) as i32) ^ -((zigzag & 1) as i32);
                let depth = prediction + error;
                if !(1..=i32::from(u16::MAX)).contains(&depth) {
                    return Err(CodecError::DepthOutOfRange {
                        value: i64::from(depth),
                        at: row_index * width + col,
                    });
                }
                last = depth as u16;
                depth as u16
            };
            *out = value;
            a = value;
            c = b;
        }
        up[1..=width].copy_from_slice(row);
    }
    if x != RANS_L || rans_at != rans.len() {
        return Err(CodecError::Corrupt(
            "rANS stream does not end where the frame ends",
        ));
    }
    // Whole bytes left unread, or set padding bits, mean the extra-bits section is not this frame's.
    let unread_bytes = extra.len() - bits.at;
    if unread_bytes > 0 || bits.bits >= 8 || bits.acc != 0 {
        return Err(CodecError::TrailingData(
            unread_bytes + (bits.bits / 8) as usize,
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(depth: &[u16], width: usize) -> usize {
        let mut payload = Vec::new();
        encode(depth, width, &mut payload);
        assert!(payload.len() <= max_encoded_len(depth.len()));
        let mut decoded = vec![0xEEEE; depth.len()];
        decode(&payload, width, &mut decoded).unwrap();
        assert_eq!(decoded, depth);
        payload.len()
    }

    #[test]
    fn tokens_invert_for_every_zigzag_value() {
        for v in 0..(1u32 << 17) {
            let (token, count, low) = token(v);
            let token = u32::from(token);
            assert!(token < SYMBOLS as u32 - 1);
            assert_eq!(untoken_bits(token), count);
            let back = if count == 0 {
                token
            } else {
                ((2 | (token & 1)) << count) | low
            };
            assert_eq!(back, v);
        }
    }

    #[test]
    fn normalized_frequencies_add_up_and_keep_rare_symbols() {
        let mut counts = [0u32; SYMBOLS];
        counts[0] = 1_000_000;
        for count in counts.iter_mut().skip(1) {
            *count = 1;
        }
        let freqs = normalize(&counts);
        assert_eq!(freqs.iter().sum::<u32>(), SCALE);
        assert!(freqs.iter().all(|&f| f >= 1));
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
        let len = round_trip(&depth, width);
        assert!(len * 4 < depth.len() * 2, "{len} bytes");
    }

    #[test]
    fn noise_falls_back_to_stored_and_extremes_round_trip() {
        let mut state = 1u32;
        let noise: Vec<u16> = (0..999)
            .map(|_| {
                state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
                (state >> 8) as u16
            })
            .collect();
        assert_eq!(round_trip(&noise, 37), max_encoded_len(999));
        round_trip(&[0], 1);
        round_trip(&[u16::MAX], 1);
        round_trip(&[1, u16::MAX, 1, u16::MAX, 0, 1], 3);
        round_trip(&vec![0; 5000], 100);
        round_trip(&vec![u16::MAX; 5001], 3);
    }
}

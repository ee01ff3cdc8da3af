//! MEDANS: a lossless depth codec built for time-of-flight frames (Kinect v2, Azure Kinect).
//!
//! Each pixel is predicted from its causal neighbours with the LOCO-I / JPEG-LS median edge
//! detector (MED); the prediction error, or the fact that the pixel is a hole, is one symbol
//! coded by a static rANS coder whose frequencies are chosen per frame for each of
//! [`CONTEXTS`] contexts. The context says how many neighbours are holes and, when none is, how
//! busy the row above is (the log2 of its local gradient). Large errors are split into a symbol
//! (their bit length) and raw extra bits, as in DEFLATE or zstd.
//!
//! ```text
//!   c b d e    a = left, b = up, c = up-left, d = up-right, e = two right of b
//!   a x        (0 outside the image); holes = how many of a, b, c, d are 0
//!
//! prediction  if a, b, c are all non-zero: MED = clamp(a + b - c, min(a,b), max(a,b))
//!             else the first non-zero of a, b, d, c; else the last non-zero pixel coded; else 0
//! context     holes == 0: min(bit_length(|b-c| + |b-d| + (e != 0 ? |d-e| : 0)), 8)  -> 0..=8
//!             holes >= 1: 8 + holes                                                 -> 9..=12
//! symbol      0 for a hole (x == 0); else 1 + token(zigzag(x - prediction))
//! token(v)    v < 16: v, no extra bits
//!             else with n = floor(log2 v) (4..=16): 16 + 2(n-4) + bit n-1 of v, and the
//!             n-1 low bits of v as extra bits                                       -> 0..=41
//! ```
//!
//! The context looks at `a` only to know whether it is a hole, never at its depth: so the
//! decoder can find the next context as soon as it knows the current symbol, without waiting
//! for the depth, which keeps its dependency chain short. The rules come from the structure of
//! depth images (holes cluster; noise grows with the local gradient), not from fitting any
//! particular frames: the only parameters are power-of-two bucket edges.
//!
//! Payload (all integers little-endian):
//!
//! ```text
//! mode: u8             0x00 = modelled (below), 0x01 = stored: the pixels as u16 LE
//!                      (the encoder stores when modelling would not be smaller, e.g. noise)
//! tables, per context 0..CONTEXTS:
//!   used: u8           number of symbols listed (0 = context never used, else 1..=SYMBOLS),
//!                      then `used` frequencies as LEB128 varints (at most 2 bytes each), which
//!                      must add up to exactly 2^SCALE_BITS = 2048
//! rans_len: u32        length of the rANS stream in bytes (even)
//! rans: [u8; rans_len] two interleaved rANS coders (states in [2^15, 2^31), 16-bit
//!                      renormalisation); pixel i uses coder i % 2. The stream starts with the initial
//!                      states of coder 0 then coder 1 (u32 LE each), then the u16 LE words the
//!                      decoder pulls, in reading order (the encoder coded the pixels in reverse).
//!                      After the last pixel both states must be exactly 2^15.
//! extra: [u8; ..]      extra bits of every token, in raster order, packed least significant
//!                      bit first; the last byte is padded with zero bits; no byte may be left
//! ```

use super::model::{fallback, gradient_bucket, symbol_table, token, up_gradient, up_holes, TOKENS};
use super::{
    check_stream_end, decode_by_mode, encode_by_mode, max_mode_payload_len, CodecError,
    MODE_MODELLED,
};

/// Number of contexts: 9 gradient buckets without holes around, 4 for 1..=4 hole neighbours.
pub const CONTEXTS: usize = 13;
/// Symbols: the hole plus 42 tokens (zigzag errors up to 2^17 - 1, enough for any u16 pair).
pub const SYMBOLS: usize = 1 + TOKENS;
/// Probability resolution. 11 bits keep the decoder's slot table (13 x 2048 x 4 bytes) small
/// enough to stay in cache while costing well under 1% against exact frequencies.
pub const SCALE_BITS: u32 = 11;
const SCALE: u32 = 1 << SCALE_BITS;
/// Lower bound of each rANS state: with 16-bit renormalisation a state stays in [2^15, 2^31),
/// so one read per symbol is always enough, and the encoder's 32-bit reciprocals are exact
/// (they need states below 2^31).
const RANS_L: u32 = 1 << 15;
const HOLE: u8 = 0;
/// Encoder tables indexed by `context << 6 | symbol`: room for 16 contexts of 64 symbols.
const ENC_SLOTS: usize = 16 * 64;
/// Bytes of zeros after the decoder's copies of the streams, so its reads need no bounds branch.
const READ_PADDING: usize = 8;

/// An upper bound on the payload for `pixels` pixels: the stored mode plus its mode byte.
pub fn max_encoded_len(pixels: usize) -> usize {
    max_mode_payload_len(pixels)
}

/// What the row above says about each pixel of the current row. Encoder and decoder fill it
/// before coding the row, in loops without dependencies between pixels (which the compiler
/// can vectorise), so the per-pixel work left is what depends on the left neighbour `a`.
#[derive(Default)]
struct RowModel {
    /// Per column: the context if `a` is not a hole (low byte) and if it is (high byte).
    contexts: Vec<[u8; 2]>,
    /// Per column: the first non-zero of `b`, `d`, `c`, or 0: the prediction if `a` is a hole.
    fallback: Vec<u16>,
    /// Per column: `b | c << 16` if both are valid, else 0. With `b = c = 0` the median
    /// predictor gives exactly `a`, which is the rule when `b` or `c` is a hole: so the
    /// prediction for a valid `a` needs no branch, and one load brings both neighbours.
    med: Vec<u32>,
}

impl RowModel {
    fn new(width: usize) -> Self {
        RowModel {
            contexts: vec![[0; 2]; width],
            fallback: vec![0; width],
            med: vec![0; width],
        }
    }

    /// Fills the model from `up`, the row above padded with one 0 on the left and two on the
    /// right (`width + 3` values).
    fn prepare(&mut self, up: &[u16]) {
        let width = self.contexts.len();
        let (c, b, d, e) = (
            &up[..width],
            &up[1..=width],
            &up[2..width + 2],
            &up[3..width + 3],
        );
        for (((((contexts, &c), &b), &d), &e), fallback_of_column) in self
            .contexts
            .iter_mut()
            .zip(c)
            .zip(b)
            .zip(d)
            .zip(e)
            .zip(&mut self.fallback)
        {
            // All in u16 lanes (8 per SSE register).
            let holes = up_holes(b, c, d);
            let bucket = gradient_bucket(up_gradient(b, c, d, e));
            let (bucket, holes) = (bucket as u8, holes as u8);
            let context = if holes == 0 { bucket } else { 8 + holes };
            *contexts = [context, 9 + holes];
            *fallback_of_column = fallback(b, c, d);
        }
        // A separate loop: folded into the one above, the 32-bit lanes stop it vectorising.
        // (Packing `fallback` in as well, in 64-bit lanes, made this function cost 1.7x.)
        for ((med, &c), &b) in self.med.iter_mut().zip(c).zip(b) {
            let both = b != 0 && c != 0;
            *med = if both {
                u32::from(b) | u32::from(c) << 16
            } else {
                0
            };
        }
    }
}

/// The median prediction of a valid pixel from its left neighbour `a` and the row model's
/// `med` word for its column (`b | c << 16`, or 0, which makes the prediction `a`).
#[inline(always)]
fn predict_valid(a: u16, med: u32) -> i32 {
    let (a, b, c) = (i32::from(a), (med & 0xFFFF) as i32, (med >> 16) as i32);
    // max/min rather than clamp: clamp checks its bounds' order, which holds here.
    (a + b - c).max(a.min(b)).min(a.max(b))
}

/// The prediction of a pixel whose left neighbour is a hole: the row model's `fallback`, or
/// `last`, the last non-zero pixel coded, if the row above has no valid neighbour either.
#[inline(always)]
fn predict_after_hole(fallback: u16, last: u16) -> i32 {
    i32::from(if fallback != 0 { fallback } else { last })
}

/// Per symbol: (extra-bit count, zigzag value with the extra bits zero, mask of the extra
/// bits). Symbol 0 is the hole, symbol `s` above it token `s - 1`.
const SYMBOL_TABLE: [(u32, u32, u32); 64] = symbol_table(1);

/// Encoder-side rANS symbol with Alverson's reciprocal, so encoding needs no division
/// (F. Giesen's rans_byte.h formulation).
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
        // At most 2^(15 - 11 + 16) * 2^11 = 2^31: fits.
        let x_max = ((RANS_L >> SCALE_BITS) << 16) * freq;
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

    /// Codes this symbol into state `x`. The renormalisation word is always written just
    /// below `*pos` in `words` (which is filled from the end), and `*pos` moves down only when
    /// the word is needed: no unpredictable branch. `*pos >= 1` is the caller's invariant.
    #[inline(always)]
    fn put(&self, x: &mut u32, words: &mut [u16], pos: &mut usize) {
        let emit = *x >= self.x_max;
        words[*pos - 1] = *x as u16;
        *pos -= usize::from(emit);
        *x = if emit { *x >> 16 } else { *x };
        let q = ((u64::from(*x) * u64::from(self.rcp_freq)) >> 32) as u32 >> self.rcp_shift;
        *x = x
            .wrapping_add(self.bias)
            .wrapping_add(q.wrapping_mul(self.cmpl_freq));
    }
}

/// Scales `counts` to frequencies adding up to [`SCALE`], keeping every seen symbol at >= 1.
fn normalize(counts: &[u32]) -> [u32; SYMBOLS] {
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
    // frequencies, never pushing one below 1. At most SYMBOLS (< SCALE) symbols are used, so
    // the sum can always come down to SCALE.
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

/// Writes bits least significant first into a buffer sized in advance, without branches.
struct BitWriter {
    buf: Vec<u8>,
    at: usize,
    acc: u64,
    bits: u32,
}

impl BitWriter {
    fn with_capacity(bytes: usize) -> Self {
        BitWriter {
            buf: vec![0; bytes + 8],
            at: 0,
            acc: 0,
            bits: 0,
        }
    }

    /// `count` <= 16 and `value < 2^count`; the buffer must have 8 bytes beyond the data.
    #[inline(always)]
    fn put(&mut self, value: u32, count: u32) {
        self.acc |= u64::from(value) << self.bits;
        self.bits += count;
        let whole = (self.bits >> 3) as usize;
        self.buf[self.at..self.at + 8].copy_from_slice(&self.acc.to_le_bytes());
        self.at += whole;
        // whole <= 3 (bits < 8 + 16), so the shift is below 64.
        self.acc >>= whole * 8;
        self.bits &= 7;
    }

    fn finish(mut self) -> Vec<u8> {
        let end = self.at + self.bits.div_ceil(8) as usize;
        self.buf.truncate(end);
        self.buf
    }
}

fn write_varint(out: &mut Vec<u8>, mut value: u32) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Appends the MEDANS payload of a frame of rows of `width` pixels to `out`.
pub fn encode(depth_mm: &[u16], width: usize, out: &mut Vec<u8>) {
    encode_by_mode(depth_mm, width, out, encode_modelled);
}

/// The modelled payload (see [`encode`]) of a frame of rows of `width` pixels.
fn encode_modelled(depth_mm: &[u16], width: usize, out: &mut Vec<u8>) {
    let pixels = depth_mm.len();
    // Pass 1: context * 64 + symbol of every pixel, their histograms, and the extra bits.
    // Tables indexed that way have room for 16 contexts, so a masked index needs no check.
    let mut coded = vec![0u16; pixels];
    // Two histograms, for alternate pixels: neighbours often share a symbol, and one counter
    // incremented twice in a row makes each increment wait for the previous store.
    let mut counts = vec![0u32; 2 * ENC_SLOTS];
    let mut half = 0usize;
    // At most 15 extra bits per pixel.
    let mut bits = BitWriter::with_capacity(pixels * 2);
    let mut last = 0u16;
    let mut up = vec![0u16; width + 3];
    let mut model = RowModel::new(width);
    for (row, coded) in depth_mm
        .chunks_exact(width)
        .zip(coded.chunks_exact_mut(width))
    {
        model.prepare(&up);
        let mut a = 0u16;
        for ((((&x, slot), contexts), &fallback), &med) in row
            .iter()
            .zip(coded.iter_mut())
            .zip(&model.contexts)
            .zip(&model.fallback)
            .zip(&model.med)
        {
            let context = contexts[usize::from(a == 0)];
            let symbol = if x == 0 {
                HOLE
            } else {
                let prediction = if a == 0 {
                    predict_after_hole(fallback, last)
                } else {
                    predict_valid(a, med)
                };
                let error = i32::from(x) - prediction;
                let zigzag = ((error << 1) ^ (error >> 31)) as u32;
                let (token, count, value) = token(zigzag);
                if count != 0 {
                    bits.put(value, count);
                }
                last = x;
                token + 1
            };
            let index = ((usize::from(context) << 6) | usize::from(symbol)) & (ENC_SLOTS - 1);
            counts[(index | half) & (2 * ENC_SLOTS - 1)] += 1;
            half ^= ENC_SLOTS;
            *slot = index as u16;
            a = x;
        }
        up[1..=width].copy_from_slice(row);
    }
    let extra = bits.finish();
    let (counts, odd) = counts.split_at_mut(ENC_SLOTS);
    for (count, &odd) in counts.iter_mut().zip(odd.iter()) {
        *count += odd;
    }
    // Tables.
    let mut enc = vec![EncSymbol::default(); ENC_SLOTS];
    out.push(MODE_MODELLED);
    for (context, counts) in counts.chunks_exact(64).take(CONTEXTS).enumerate() {
        let freqs = normalize(&counts[..SYMBOLS]);
        let used = freqs
            .iter()
            .rposition(|&f| f > 0)
            .map_or(0, |last| last + 1);
        out.push(used as u8);
        let mut start = 0;
        for (symbol, &freq) in freqs[..used].iter().enumerate() {
            write_varint(out, freq);
            if freq > 0 {
                enc[context * 64 + symbol] = EncSymbol::new(start, freq);
            }
            start += freq;
        }
    }
    // Pass 2: two interleaved rANS coders, pixels in reverse, filling `rans` from its end so
    // the decoder reads forward. At most one 16-bit word per pixel, plus a spare slot: `put`
    // writes below `pos` before it knows whether the word is kept. The states go out apart.
    let mut rans = vec![0u16; pixels + 1];
    let mut pos = rans.len();
    let (mut x0, mut x1) = (RANS_L, RANS_L);
    let mut paired = &coded[..];
    if pixels % 2 == 1 {
        // The last pixel has an even index: coder 0.
        enc[usize::from(coded[pixels - 1]) & (ENC_SLOTS - 1)].put(&mut x0, &mut rans, &mut pos);
        paired = &coded[..pixels - 1];
    }
    for pair in paired.chunks_exact(2).rev() {
        enc[usize::from(pair[1]) & (ENC_SLOTS - 1)].put(&mut x1, &mut rans, &mut pos);
        enc[usize::from(pair[0]) & (ENC_SLOTS - 1)].put(&mut x0, &mut rans, &mut pos);
    }
    let words = &rans[pos..];
    let rans_len = 8 + 2 * words.len();
    // The rANS stream of a frame within MAX_FRAME_PIXELS is at most ~2 bytes per pixel: u32.
    out.extend_from_slice(&u32::try_from(rans_len).unwrap_or(u32::MAX).to_le_bytes());
    out.extend_from_slice(&x0.to_le_bytes());
    out.extend_from_slice(&x1.to_le_bytes());
    out.extend(words.iter().flat_map(|word| word.to_le_bytes()));
    out.extend_from_slice(&extra);
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

/// Decodes a MEDANS `payload` into `depth_mm`, a frame of rows of `width` pixels.
pub fn decode(payload: &[u8], width: usize, depth_mm: &mut [u16]) -> Result<(), CodecError> {
    decode_by_mode(
        payload,
        width,
        depth_mm,
        "unknown MEDANS mode byte",
        decode_modelled,
    )
}

/// Slot tables hold room for 16 contexts and symbol tables 64 symbols per context (powers of
/// two, so a masked index needs no bounds check); the entries beyond [`CONTEXTS`] and
/// [`SYMBOLS`] stay empty.
const SLOTS: usize = 16 << SCALE_BITS;
const SYMBOL_SLOTS: usize = 16 * 64;
/// The symbol every slot of an unused context maps to: its entry is [`NO_SYMBOL`].
const UNUSED_SYMBOL: u8 = 63;
const NO_SYMBOL: u32 = u32::MAX;

/// The decoder's tables: per context, the symbol of each 11-bit slot (1 byte per slot, so all
/// of them stay in the L1 cache), indexed `slot << 4 | context`; and per (context, symbol)
/// `freq << 16 | start`. (One table giving symbol, frequency and start in one load needs 4
/// bytes per slot, 128 KiB: it fell out of the L1 cache, and decoding got a third slower.)
///
/// Both in one allocation, so that the hot loop needs one base register for them.
struct Tables {
    slot_symbol: [u8; SLOTS],
    symbol_range: [u32; SYMBOL_SLOTS],
}

/// Reads the frequency tables of the payload.
fn read_tables(cursor: &mut Cursor<'_>) -> Result<Box<Tables>, CodecError> {
    // 36 KiB, a fixed size: small enough for any stack should the optimiser not build it in
    // place on the heap.
    let mut tables = Box::new(Tables {
        slot_symbol: [UNUSED_SYMBOL; SLOTS],
        symbol_range: [NO_SYMBOL; SYMBOL_SLOTS],
    });
    let Tables {
        slot_symbol,
        symbol_range,
    } = &mut *tables;
    for context in 0..CONTEXTS {
        let used = usize::from(cursor.byte()?);
        if used > SYMBOLS {
            return Err(CodecError::Corrupt("table lists more symbols than exist"));
        }
        if used == 0 {
            continue;
        }
        let mut start = 0u32;
        for symbol in 0..used {
            let freq = cursor.varint()?;
            if freq == 0 {
                continue;
            }
            if start + freq > SCALE {
                return Err(CodecError::Corrupt(
                    "frequencies add up to more than the scale",
                ));
            }
            for slot in start as usize..(start + freq) as usize {
                slot_symbol[(slot << 4 | context) & (SLOTS - 1)] = symbol as u8;
            }
            symbol_range[context * 64 + symbol] = (freq << 16) | start;
            start += freq;
        }
        if start != SCALE {
            return Err(CodecError::Corrupt(
                "frequencies do not add up to the scale",
            ));
        }
    }
    Ok(tables)
}

/// The decoder's state between rows: two interleaved rANS coders (pixel i uses `x0` when it
/// comes; the states swap after every pixel) reading `words` from `word_at`; the extra-bit
/// reader, whose `acc` holds `acc_bits` unused bits and `extra_at` counts the bytes taken into
/// `acc`, also past the end of the stream (read as zeros), so that `extra_at * 8 - acc_bits`
/// is the number of bits used, with no separate counter in the loop; and `last`, the last
/// non-zero pixel decoded.
struct Decoder {
    x0: u32,
    x1: u32,
    word_at: usize,
    acc: u64,
    acc_bits: u32,
    extra_at: usize,
    last: u16,
}

/// Why a row could not be decoded.
enum RowError {
    /// A slot of a context that has no table.
    NoTable,
    /// A depth outside 1..=65535, and its column.
    Depth(i32, usize),
}

impl Decoder {
    /// Decodes one row. `words` must hold at least one word per pixel of the row past
    /// `word_at` and `extra_buf` [`READ_PADDING`] bytes past the extra-bit stream (the caller
    /// pads both with zeros and checks afterwards that no padding was used). Its own function,
    /// not inlined: so that its loop keeps its state in registers (inlined into its caller,
    /// it reloaded a dozen values from the stack on every pixel).
    #[inline(never)]
    fn decode_row(
        &mut self,
        tables: &Tables,
        model: &RowModel,
        words: &[u16],
        extra_buf: &[u8],
        row: &mut [u16],
    ) -> Result<(), RowError> {
        let Decoder {
            mut x0,
            mut x1,
            mut word_at,
            mut acc,
            mut acc_bits,
            mut extra_at,
            mut last,
        } = *self;
        let extra_len = extra_buf.len() - READ_PADDING;
        let mut a = 0u16;
        // Known from the symbol alone, before the depth is computed: keeps the chain from one
        // symbol to the next context short.
        let mut a_is_hole = true;
        for (column, (((out, contexts), &fallback), &med)) in row
            .iter_mut()
            .zip(&model.contexts)
            .zip(&model.fallback)
            .zip(&model.med)
            .enumerate()
        {
            // The context is known before the state is: pick it first, then look the slot up
            // once. (Looking the slot up in both contexts and picking the symbol after, to keep
            // the load off the chain from one symbol to the next, compiled to the same chain,
            // since LLVM selects the address and loads once, with more instructions.)
            let context = usize::from(if a_is_hole { contexts[1] } else { contexts[0] });
            let slot = x0 & (SCALE - 1);
            let symbol =
                usize::from(tables.slot_symbol[((slot as usize) << 4 | context) & (SLOTS - 1)]);
            let range = tables.symbol_range[(context * 64 + symbol) & (SYMBOL_SLOTS - 1)];
            if range == NO_SYMBOL {
                return Err(RowError::NoTable);
            }
            let mut x = (range >> 16) * (x0 >> SCALE_BITS) + slot - (range & 0xFFFF);
            // Branchless: whether a word is needed is a coin toss for the branch predictor.
            // Shifts by 0 or 16 rather than a mask: LLVM turned the mask into a branch.
            let word = u32::from(words[word_at]);
            let refill = u32::from(x < RANS_L);
            let shift = refill << 4;
            x = (x << shift) | (word >> (16 - shift));
            word_at += refill as usize;
            x0 = x1;
            x1 = x;
            // Extra bits: keep at least 16 bits in the buffer (a token has at most 15), then
            // take what the token needs.
            if acc_bits < 16 {
                let at = extra_at.min(extra_len);
                let mut chunk = [0u8; 8];
                chunk.copy_from_slice(&extra_buf[at..at + 8]);
                acc |= u64::from_le_bytes(chunk) << acc_bits;
                extra_at += ((63 - acc_bits) >> 3) as usize;
                acc_bits |= 56;
            }
            let (count, base, mask) = SYMBOL_TABLE[symbol & 63];
            let low = acc as u32 & mask;
            acc >>= count;
            acc_bits -= count;
            let zigzag = base | low;
            let error = ((zigzag >> 1) as i32) ^ -((zigzag & 1) as i32);
            a_is_hole = symbol == usize::from(HOLE);
            a = if a_is_hole {
                0
            } else {
                let prediction = if a == 0 {
                    predict_after_hole(fallback, last)
                } else {
                    predict_valid(a, med)
                };
                let depth = prediction + error;
                // One comparison for 1..=65535.
                if (depth - 1) as u32 >= u32::from(u16::MAX) {
                    return Err(RowError::Depth(depth, column));
                }
                last = depth as u16;
                depth as u16
            };
            *out = a;
        }
        *self = Decoder {
            x0,
            x1,
            word_at,
            acc,
            acc_bits,
            extra_at,
            last,
        };
        Ok(())
    }
}

/// Decodes a modelled body (the payload after its mode byte) into `depth_mm`, whose pixel
/// count `width` divides.
fn decode_modelled(body: &[u8], width: usize, depth_mm: &mut [u16]) -> Result<(), CodecError> {
    let pixels = depth_mm.len();
    let mut cursor = Cursor { bytes: body, at: 0 };
    let tables = read_tables(&mut cursor)?;
    let (len, rest) = body[cursor.at..]
        .split_first_chunk::<4>()
        .ok_or(CodecError::Corrupt("payload ends before the rANS length"))?;
    let rans_len = u32::from_le_bytes(*len) as usize;
    if rans_len < 8 || rans_len % 2 != 0 || rans_len > rest.len() {
        return Err(CodecError::Corrupt(
            "rANS length outside the payload or odd",
        ));
    }
    let (rans, extra) = rest.split_at(rans_len);
    // Copies with zero padding, so the hot loop reads without bounds branches; reading into
    // the padding means the stream was too short, which the checks after the loop catch.
    // The words after the two states, plus one row of zero words: a row reads at most one
    // word per pixel, and each row starts only if the words were not already exhausted.
    let word_count = (rans_len - 8) / 2;
    let mut words: Vec<u16> = Vec::with_capacity(word_count + width + 1);
    words.extend(
        rans[8..]
            .chunks_exact(2)
            .map(|pair| u16::from_le_bytes([pair[0], pair[1]])),
    );
    words.resize(word_count + width + 1, 0);
    let mut extra_buf = Vec::with_capacity(extra.len() + READ_PADDING);
    extra_buf.extend_from_slice(extra);
    extra_buf.resize(extra.len() + READ_PADDING, 0);

    let mut decoder = Decoder {
        x0: u32::from_le_bytes([rans[0], rans[1], rans[2], rans[3]]),
        x1: u32::from_le_bytes([rans[4], rans[5], rans[6], rans[7]]),
        word_at: 0,
        acc: 0,
        acc_bits: 0,
        extra_at: 0,
        last: 0,
    };
    let mut up = vec![0u16; width + 3];
    let mut model = RowModel::new(width);
    for (row_index, row) in depth_mm.chunks_exact_mut(width).enumerate() {
        if decoder.word_at > word_count {
            return Err(CodecError::Truncated { pixels });
        }
        model.prepare(&up);
        decoder
            .decode_row(&tables, &model, &words, &extra_buf, row)
            .map_err(|error| match error {
                RowError::NoTable => CodecError::Corrupt("symbol in a context without a table"),
                RowError::Depth(value, column) => CodecError::DepthOutOfRange {
                    value: i64::from(value),
                    at: row_index * width + column,
                },
            })?;
        up[1..=width].copy_from_slice(row);
    }
    let Decoder {
        x0,
        x1,
        word_at,
        acc_bits,
        extra_at,
        ..
    } = decoder;
    let extra_bits_used = extra_at * 8 - acc_bits as usize;
    if word_at > word_count || extra_bits_used > extra.len() * 8 {
        return Err(CodecError::Truncated { pixels });
    }
    if x0 != RANS_L || x1 != RANS_L || word_at != word_count {
        return Err(CodecError::Corrupt(
            "rANS stream does not end where the frame ends",
        ));
    }
    // Whole bytes left unread, or set padding bits, mean the extra bits are not this frame's.
    check_stream_end(extra, extra_bits_used, pixels)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalized_frequencies_add_up_and_keep_rare_symbols() {
        let mut counts = vec![0u32; SYMBOLS];
        counts[0] = 1_000_000;
        for count in counts.iter_mut().skip(1) {
            *count = 1;
        }
        let freqs = normalize(&counts);
        assert_eq!(freqs.iter().sum::<u32>(), SCALE);
        assert!(freqs.iter().all(|&f| f >= 1));
    }
}

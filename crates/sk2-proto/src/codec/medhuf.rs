//! MEDHUF: planar prediction, a run mode and static Huffman codes, built to code and decode a
//! Kinect v2 frame in under a millisecond on one core while staying well ahead of RVL.
//!
//! Where MEDANS (see [`super::medans`]) spends its time is decided by a few dependency chains,
//! and MEDHUF is laid out to keep each one short (the context rules and tokens both codecs
//! share live in the codec module's private `model`):
//!
//! * the **planar** prediction `a + b - c`, modulo 2^16 (JPEG-LS's median rule clamps it
//!   between `a` and `b`, and each clamp is a compare and a conditional move on the chain from
//!   one depth to the next: about 8 cycles a pixel instead of 2);
//! * **contexts from the row above only**, so that all symbols of a row are read in a first
//!   pass and the depths computed in a second, each a short loop;
//! * **canonical Huffman codes** of at most [`MAX_CODE_LEN`] bits, each code directly followed by
//!   its extra bits, so one table load gives a symbol's value and length;
//! * **four bit streams** taking a row's symbols in turn, so four chains from one code to the
//!   next run side by side;
//! * a **run mode**, as in JPEG-LS: one symbol for a stretch of holes under holes, or of exact
//!   predictions under a flat row (the flat areas of quantised sensors).
//!
//! ```text
//!   c b d e    b = up, c = up-left, d = up-right, e = two right of b (0 outside the image)
//!   a x        a = left
//!
//! prediction  a valid, b and c valid: a + b - c modulo 2^16
//!             a valid, b or c a hole: a
//!             a a hole: the first non-zero of b, d, c; else the last non-zero pixel before
//!             x in raster order; else 0
//! error       x - prediction modulo 2^16, as a signed 16-bit number e (exact: the decoder
//!             adds it back modulo 2^16)
//! value       0 for a hole (x == 0); else 1 + zigzag(e), zigzag(e) = 2e for e >= 0,
//!             -2e - 1 for e < 0 (so 1 is an exact prediction; at most 65536)
//! symbol      for a value v: v < 16: v, no extra bits; else with n = floor(log2 v) (4..=16):
//!             16 + 2(n - 4) + bit n-1 of v, and the n - 1 low bits of v as extra bits
//!             (symbols 0..=41)
//! context     up holes = how many of b, c, d are 0
//!             none: min(bit_length(|b-c| + |b-d| + (e != 0 ? |d-e| : 0)), 8)    -> 0..=8
//!             else: 8 + up holes                                                -> 9..=11
//! run mode    where b == c == d and the value of the previous pixel of the row (0, a hole,
//!             before column 0) is 0 if b == 0, or 1 if b != 0: one symbol in context RUN
//!             (12) for the value 1 + n, n >= 0 the number of pixels from here on whose value
//!             is that same one, to at most the end of the row. If the row goes on, the value
//!             of the next pixel (which differs) follows in context INTERRUPT (13).
//! streams     the row's symbols in slots: one per pixel, one for a run and its interrupting
//!             pixel; slot k of a row (k from 0) goes to stream k % 4
//! ```
//!
//! Payload (integers little-endian):
//!
//! ```text
//! mode: u8             0x00 = modelled (below), 0x01 = stored: the pixels as u16 LE
//!                      (the encoder stores when modelling would not be smaller, e.g. noise)
//! tables, per context 0..CONTEXTS:
//!   used: u8           number of symbols described (0 = context unused, else 1..=SYMBOLS),
//!                      then ceil(used / 2) bytes of 4-bit entries, low nibble first, one per
//!                      symbol: 0 = symbol absent, else its code length + 1 (0..=9); a last
//!                      unused nibble is 0. The code must be complete (Kraft's sum exactly
//!                      1); a single symbol has length 0 (no bits). Codes are canonical
//!                      (DEFLATE's rule: shorter codes first, then by symbol).
//! lengths: [u32; 3]    byte lengths of streams 0, 1 and 2
//! streams 0..=3        stream 3 runs to the end of the payload. Each holds its symbols in
//!                      coding order: the code, first bit first, then the extra bits, least
//!                      significant first; bits fill each byte from its least significant
//!                      bit; the last byte is padded with zero bits and no whole byte is left.
//! ```

use super::model::{fallback, gradient_bucket, symbol_table, up_gradient, up_holes, TOKENS};
use super::{
    check_stream_end, decode_by_mode, encode_by_mode, max_mode_payload_len, CodecError,
    MODE_MODELLED,
};

/// Contexts: 0..=11 from the row above, then 12 for run lengths and 13 for the pixel that ends a
/// run before the end of its row.
pub const CONTEXTS: usize = 14;
/// The context of run lengths.
const RUN: usize = 12;
/// The context of the pixel that ends a run before the end of its row.
const INTERRUPT: usize = 13;
/// Symbols: the tokens of values up to 2^17 - 1 (they are at most 2^16).
pub const SYMBOLS: usize = TOKENS;
/// Per symbol: (extra-bit count, value with the extra bits zero, mask of the extra bits).
/// Symbol `s` is token `s`: MEDHUF codes values, which hold the hole as 0.
const SYMBOL_TABLE: [(u32, u32, u32); 64] = symbol_table(0);
/// Longest code. 9 bits make 512-entry tables, 2 KiB per context, all of them in the L1
/// cache; measured on the corpus, limiting codes to 9 bits costs under 1% against 12.
pub const MAX_CODE_LEN: u32 = 9;
const TABLE_SLOTS: usize = 1 << MAX_CODE_LEN;
/// Decoder table size: room for 16 contexts, so a masked index needs no bounds check.
const TABLE_LEN: usize = 16 << MAX_CODE_LEN;
/// Bit streams, taking the slots of a row in turn.
const STREAMS: usize = 4;
/// Bytes of zeros after the decoder's copy of the streams, so that a reader can always load
/// 8 bytes.
const READ_PADDING: usize = 8;
/// Bits 14 and 15 of the row model's context word: [`FLAT`] if the row above is flat there
/// (`b == c == d`), and then [`FLAT_VALID`] if it is not a hole. The decoder's table index
/// masks them off.
const FLAT: u16 = 1 << 15;
const FLAT_VALID: u16 = 1 << 14;
/// `(1 << count) - 1` for every extra-bit count, by table: one load instead of three
/// instructions on the decoder's busiest path.
const LOW_MASKS: [u32; 32] = {
    let mut masks = [0u32; 32];
    let mut count = 1;
    while count < 32 {
        masks[count] = (1u32 << count) - 1;
        count += 1;
    }
    masks
};

/// An upper bound on the payload for `pixels` pixels: the stored mode plus its mode byte.
pub fn max_encoded_len(pixels: usize) -> usize {
    max_mode_payload_len(pixels)
}

/// What the row above says about each column of the current row. Filled before the row is
/// coded, by one loop in 16-bit lanes without dependencies between columns, which the compiler
/// vectorises.
struct RowModel {
    /// The context, shifted to index the decoder's table (`context << MAX_CODE_LEN`), with
    /// the [`FLAT`] and [`FLAT_VALID`] bits: a run starts where `context >> 14` is 2 + the
    /// previous value of the row (which can only be 0 or 1 there).
    context: Vec<u16>,
    /// `b - c` modulo 2^16 if both are valid, else 0: the prediction is `a + gradient`.
    gradient: Vec<u16>,
    /// The first non-zero of `b`, `d`, `c`, or 0: the prediction if `a` is a hole.
    fallback: Vec<u16>,
}

impl RowModel {
    fn new(width: usize) -> Self {
        RowModel {
            context: vec![0; width],
            gradient: vec![0; width],
            fallback: vec![0; width],
        }
    }

    /// Fills the model from `up`, the row above padded with one 0 on the left and two on the
    /// right (`width + 3` values).
    fn prepare(&mut self, up: &[u16]) {
        prepare_row_model(self, up);
    }

    /// Whether a run starts at a column whose context word is `context`, after a pixel of value
    /// `previous` (or of symbol `previous`: for the values 0 and 1, the only ones that start
    /// runs, the symbol is the value, and every other value or symbol is above 1).
    #[inline(always)]
    fn starts_run(context: u16, previous: u32) -> bool {
        u32::from(context >> 14) == previous + 2
    }
}

/// [`RowModel::prepare`], compiled also for newer x86-64 processors (AVX2: twice the lanes)
/// and picked at run time.
#[multiversion::multiversion(targets("x86_64+avx+avx2+bmi1+bmi2+lzcnt+popcnt"))]
fn prepare_row_model(model: &mut RowModel, up: &[u16]) {
    let width = model.context.len();

    let (c, b, d, e) = (
        &up[..width],
        &up[1..=width],
        &up[2..width + 2],
        &up[3..width + 3],
    );
    for ((((((context, gradient), fallback_of_column), &c), &b), &d), &e) in model
        .context
        .iter_mut()
        .zip(model.gradient.iter_mut())
        .zip(model.fallback.iter_mut())
        .zip(c)
        .zip(b)
        .zip(d)
        .zip(e)
    {
        let holes = up_holes(b, c, d);
        let bucket = gradient_bucket(up_gradient(b, c, d, e));
        let flat = if b == c && b == d {
            FLAT | if b != 0 { FLAT_VALID } else { 0 }
        } else {
            0
        };
        *context = flat | if holes == 0 { bucket } else { 8 + holes } << MAX_CODE_LEN;
        *gradient = if b != 0 && c != 0 {
            b.wrapping_sub(c)
        } else {
            0
        };
        *fallback_of_column = fallback(b, c, d);
    }
}

/// A token: a value's `symbol | extra bits << 10`; an item adds `context << 6`.
///
/// Computed without a bit scan, a variable shift or a conversion back from float, so that a
/// loop of them vectorises: for `v >= 16` the float `v` (exact below 2^24) has exponent
/// `n + 127` and, as its top mantissa bit, bit `n - 1` of `v`; so its bits shifted right by 22
/// are `2n + 254 + that bit`, which is the symbol plus 246. The extra bits are the bits of `v`
/// below bit `n - 1`: `v >> 2` smeared rightwards is their mask.
#[inline(always)]
fn token_of(value: u32) -> u32 {
    // Through i32, which SSE2 converts in one instruction (values are below 2^17).
    let float = value as i32 as f32;
    let symbol = (float.to_bits() >> 22).wrapping_sub(246);
    let mut mask = value >> 2;
    mask |= mask >> 1;
    mask |= mask >> 2;
    mask |= mask >> 4;
    mask |= mask >> 8;
    let large = symbol | (value & mask) << 10;
    if value < 16 {
        value
    } else {
        large
    }
}

/// Appends the MEDHUF payload of a frame of rows of `width` pixels to `out`.
pub fn encode(depth_mm: &[u16], width: usize, out: &mut Vec<u8>) {
    encode_by_mode(depth_mm, width, out, |depth_mm, width, out| {
        let pixels = depth_mm.len();
        ITEMS.with_borrow_mut(|items| {
            for stream in items.iter_mut() {
                stream.clear();
                stream.reserve(pixels.div_ceil(STREAMS) + pixels / width);
            }
            encode_modelled(depth_mm, width, items, out);
        });
    });
}

thread_local! {
    /// The encoder's item buffers (about 4 bytes per pixel), kept from one frame to the next
    /// on each thread that encodes: allocated afresh for each frame, their pages were
    /// faulted in again every time, which cost more than the coding.
    static ITEMS: std::cell::RefCell<[Vec<u32>; STREAMS]> = std::cell::RefCell::default();
}

/// The modelled payload: see [`encode`]. `items` are empty buffers.
#[multiversion::multiversion(targets("x86_64+avx+avx2+bmi1+bmi2+lzcnt+popcnt"))]
fn encode_modelled(
    depth_mm: &[u16],
    width: usize,
    items: &mut [Vec<u32>; STREAMS],
    out: &mut Vec<u8>,
) {
    let [items0, items1, items2, items3] = items;
    let mut tokens = vec![0u32; width];
    let mut last = 0u16;
    let mut up = vec![0u16; width + 3];
    let mut model = RowModel::new(width);
    for row in depth_mm.chunks_exact(width) {
        model.prepare(&up);
        row_tokens(row, &model, &mut tokens);
        let (tokens, context) = (&tokens[..width], &model.context[..width]);
        let mut previous = 0u32;
        let mut column = 0;
        // One slot into `$items`: four named vectors rather than an array indexed by the slot,
        // as in the decoder. A value of 0 or 1 (the only ones that start runs) is its token.
        macro_rules! slot {
            ($items:ident) => {{
                if column >= width {
                    break;
                }
                let key = context[column];
                let token = if RowModel::starts_run(key, previous) {
                    let run = tokens[column..]
                        .iter()
                        .take_while(|&&t| t == previous)
                        .count();
                    $items.push(token_of(run as u32 + 1) | (RUN as u32) << 6);
                    column += run;
                    if column == width {
                        break;
                    }
                    let token = if previous == 0 && model.fallback[column] == 0 {
                        // After holes, under holes: the only pixels predicted from the last
                        // non-zero pixel, which the token loop took as 0.
                        let before = row[..column].iter().rev().find(|&&x| x != 0);
                        token_of(value_of_pixel(row[column], 0, 0, *before.unwrap_or(&last)))
                    } else {
                        tokens[column]
                    };
                    $items.push(token | (INTERRUPT as u32) << 6);
                    token
                } else {
                    let token = tokens[column];
                    $items.push(token | u32::from(key >> MAX_CODE_LEN & 0xF) << 6);
                    token
                };
                previous = token & 63;
                column += 1;
            }};
        }
        loop {
            slot!(items0);
            slot!(items1);
            slot!(items2);
            slot!(items3);
        }
        if let Some(&x) = row.iter().rev().find(|&&x| x != 0) {
            last = x;
        }
        up[1..=width].copy_from_slice(row);
    }
    // Histograms per context, one per stream (a counter incremented twice in a row waits on
    // its own store), then added up.
    let mut counts = vec![[0u32; 1024]; STREAMS];
    for (counts, items) in counts.iter_mut().zip(items.iter()) {
        for &item in items {
            counts[item as usize & 1023] += 1;
        }
    }
    let mut total = [0u32; 1024];
    for counts in &counts {
        for (total, &count) in total.iter_mut().zip(counts) {
            *total += count;
        }
    }
    // Tables: per context, code lengths, then the codes as the bit writer wants them.
    out.push(MODE_MODELLED);
    // Per `context << 6 | symbol`: reversed code | code length << 16 | extra-bit count << 24.
    let mut codes = [0u32; 1024];
    for (context, counts) in total.chunks_exact(64).take(CONTEXTS).enumerate() {
        let lengths = code_lengths(&counts[..SYMBOLS]);
        let used = lengths
            .iter()
            .rposition(|&length| length != ABSENT)
            .map_or(0, |last| last + 1);
        out.push(used as u8);
        for pair in lengths[..used].chunks(2) {
            let nibble = |length: u8| if length == ABSENT { 0 } else { length + 1 };
            out.push(nibble(pair[0]) | pair.get(1).map_or(0, |&l| nibble(l)) << 4);
        }
        for (symbol, code) in canonical_codes(&lengths) {
            let count = SYMBOL_TABLE[symbol].0;
            codes[context << 6 | symbol] = code.bits | code.len << 16 | count << 24;
        }
    }
    // Pass 2: the bit streams, straight into `out`: their exact sizes follow from the
    // histograms and the code lengths.
    let sizes: [usize; STREAMS] = std::array::from_fn(|stream| {
        let bits: u64 = counts[stream]
            .iter()
            .zip(&codes)
            .map(|(&count, &code)| u64::from(count) * u64::from((code >> 16 & 0xFF) + (code >> 24)))
            .sum();
        bits.div_ceil(8) as usize
    });
    for &size in &sizes[..STREAMS - 1] {
        // A frame within MAX_FRAME_PIXELS has streams far below 4 GiB.
        out.extend_from_slice(&u32::try_from(size).unwrap_or(u32::MAX).to_le_bytes());
    }
    let mut start = out.len();
    let end = start + sizes.iter().sum::<usize>();
    // 8 bytes of room: the writer stores whole words.
    out.resize(end + 8, 0);
    for (items, size) in items.iter().zip(sizes) {
        write_stream(items, &codes, &mut out[start..start + size + 8]);
        start += size;
    }
    out.truncate(end);
}

/// Fills `tokens` with the tokens of `row`, in loops without branches, which the compiler
/// vectorises (its own function, so that the compiler knows `tokens` aliases nothing). A
/// pixel predicted from the last non-zero pixel (valid, after a hole, under holes) gets a
/// token as if that were 0: the slot loop mends it, as it is always a run's interrupting
/// pixel.
#[inline(never)]
#[multiversion::multiversion(targets("x86_64+avx+avx2+bmi1+bmi2+lzcnt+popcnt"))]
fn row_tokens(row: &[u16], model: &RowModel, tokens: &mut [u32]) {
    let width = row.len();
    let (gradient, fallback, tokens) = (
        &model.gradient[..width],
        &model.fallback[..width],
        &mut tokens[..width],
    );
    // The left neighbour of column i is row[i - 1], read at an offset (no shifted copy), and 0
    // for column 0.
    tokens[0] = value_of_pixel(row[0], 0, gradient[0], fallback[0]);
    for ((((&x, &a), token), &gradient), &fallback) in row[1..]
        .iter()
        .zip(&row[..width - 1])
        .zip(tokens[1..].iter_mut())
        .zip(&gradient[1..])
        .zip(&fallback[1..])
    {
        *token = value_of_pixel(x, a, gradient, fallback);
    }
    for token in tokens.iter_mut() {
        *token = token_of(*token);
    }
}

/// The value of pixel `x` with left neighbour `a`, the row model's `gradient`, and `fallback`,
/// the prediction if `a` is a hole: the row model's (0 where the row above has no valid
/// neighbour, mended after [`row_tokens`]), or the last non-zero pixel in that mending.
#[inline(always)]
fn value_of_pixel(x: u16, a: u16, gradient: u16, fallback: u16) -> u32 {
    // Selections by masks: written as `if`, they compiled to branches.
    let a_valid = 0u16.wrapping_sub(u16::from(a != 0));
    let prediction = fallback ^ ((fallback ^ a.wrapping_add(gradient)) & a_valid);
    let error = x.wrapping_sub(prediction) as i16;
    let zigzag = ((error << 1) ^ (error >> 15)) as u16;
    (u32::from(zigzag) + 1) * u32::from(x != 0)
}

/// Writes a stream of items with their codes from `codes` (see [`encode`]) into `out`, which
/// holds the stream's exact size plus 8 bytes: per item, its code then its extra bits, least
/// significant bit first, each byte filled from bit 0.
#[inline(never)]
#[multiversion::multiversion(targets("x86_64+avx+avx2+bmi1+bmi2+lzcnt+popcnt"))]
fn write_stream(items: &[u32], codes: &[u32; 1024], out: &mut [u8]) {
    let (mut at, mut acc, mut bits) = (0usize, 0u64, 0u32);
    for &item in items {
        let code = codes[(item & 1023) as usize];
        let len = code >> 16 & 0xFF;
        acc |= u64::from((code & 0xFFFF) | (item >> 10) << len) << bits;
        bits += len + (code >> 24);
        if let Some(bytes) = out.get_mut(at..at + 8) {
            bytes.copy_from_slice(&acc.to_le_bytes());
        }
        // At most 7 + 24 bits are pending: whole bytes leave, the rest stays in `acc`.
        let whole = bits / 8;
        at += whole as usize;
        acc >>= whole * 8;
        bits %= 8;
    }
    debug_assert_eq!(at + bits.div_ceil(8) as usize + 8, out.len());
}

/// A symbol absent from a context's code.
const ABSENT: u8 = u8::MAX;

/// Huffman code lengths for `counts` (one per symbol), at most [`MAX_CODE_LEN`]; [`ABSENT`]
/// for symbols never seen, 0 for the only symbol of a context that has one.
fn code_lengths(counts: &[u32]) -> [u8; SYMBOLS] {
    let mut lengths = [ABSENT; SYMBOLS];
    // Leaves by weight (then symbol, so the result does not depend on the sort's stability).
    let mut leaves: Vec<(u32, usize)> = counts
        .iter()
        .enumerate()
        .filter(|&(_, &count)| count > 0)
        .map(|(symbol, &count)| (count, symbol))
        .collect();
    leaves.sort_unstable();
    let n = leaves.len();
    match n {
        0 => return lengths,
        1 => {
            lengths[leaves[0].1] = 0;
            return lengths;
        }
        _ => {}
    }
    // Huffman's construction with two queues: leaves in weight order, then internal nodes,
    // which are made in weight order too. Node k < n is leaf k; node n + j is merge j.
    let mut weight: Vec<u64> = leaves.iter().map(|&(count, _)| u64::from(count)).collect();
    weight.resize(2 * n - 1, 0);
    let mut parent = vec![0usize; 2 * n - 1];
    let (mut next_leaf, mut next_node) = (0, n);
    for node in n..2 * n - 1 {
        let mut take = || {
            let leaf_first =
                next_leaf < n && (next_node >= node || weight[next_leaf] <= weight[next_node]);
            if leaf_first {
                next_leaf += 1;
                next_leaf - 1
            } else {
                next_node += 1;
                next_node - 1
            }
        };
        let (first, second) = (take(), take());
        weight[node] = weight[first] + weight[second];
        parent[first] = node;
        parent[second] = node;
    }
    let mut depth = vec![0u32; 2 * n - 1];
    for node in (0..2 * n - 2).rev() {
        depth[node] = depth[parent[node]] + 1;
    }
    let mut len: Vec<u32> = depth[..n].iter().map(|&d| d.min(MAX_CODE_LEN)).collect();
    // Clamped codes may overflow the Kraft sum (in units of 2^-MAX_CODE_LEN): lengthen the
    // rarest codes that can still grow until it fits, then give any room left back to the
    // most frequent codes.
    let kraft = |len: &[u32]| len.iter().map(|&l| 1u32 << (MAX_CODE_LEN - l)).sum::<u32>();
    let mut sum = kraft(&len);
    while sum > 1 << MAX_CODE_LEN {
        // `leaves` is in weight order: the first growable one is the rarest.
        let leaf = (0..n)
            .find(|&leaf| len[leaf] < MAX_CODE_LEN)
            .expect("n <= SYMBOLS codes of MAX_CODE_LEN bits always fit");
        len[leaf] += 1;
        sum -= 1 << (MAX_CODE_LEN - len[leaf]);
    }
    for leaf in (0..n).rev() {
        while len[leaf] > 1 && sum + (1 << (MAX_CODE_LEN - len[leaf])) <= 1 << MAX_CODE_LEN {
            sum += 1 << (MAX_CODE_LEN - len[leaf]);
            len[leaf] -= 1;
        }
    }
    // The decoder wants a complete code. Room left is a multiple of a longest code's share
    // (every share is), so shortening a longest code always fits.
    while sum < 1 << MAX_CODE_LEN {
        let longest = (0..n).max_by_key(|&leaf| len[leaf]).unwrap_or(0);
        sum += 1 << (MAX_CODE_LEN - len[longest]);
        len[longest] -= 1;
    }
    for (&(_, symbol), &len) in leaves.iter().zip(&len) {
        lengths[symbol] = len as u8;
    }
    lengths
}

/// A code as the bit stream holds it: `len` bits, first bit in bit 0.
struct Code {
    bits: u32,
    len: u32,
}

/// The canonical codes of `lengths` (DEFLATE's rule), bit-reversed, for the symbols present.
/// The lengths must satisfy Kraft's inequality.
fn canonical_codes(lengths: &[u8; SYMBOLS]) -> impl Iterator<Item = (usize, Code)> + '_ {
    let mut per_length = [0u32; MAX_CODE_LEN as usize + 2];
    for &length in lengths.iter().filter(|&&l| l != ABSENT && l != 0) {
        per_length[usize::from(length)] += 1;
    }
    let mut next = [0u32; MAX_CODE_LEN as usize + 2];
    for length in 1..=MAX_CODE_LEN as usize {
        next[length + 1] = (next[length] + per_length[length]) << 1;
    }
    lengths
        .iter()
        .enumerate()
        .filter(|&(_, &length)| length != ABSENT)
        .map(move |(symbol, &length)| {
            let len = u32::from(length);
            let code = next[len as usize];
            next[len as usize] += 1;
            let bits = if len == 0 {
                0
            } else {
                code.reverse_bits() >> (32 - len)
            };
            (symbol, Code { bits, len })
        })
}

/// Decodes a MEDHUF `payload` into `depth_mm`, a frame of rows of `width` pixels.
pub fn decode(payload: &[u8], width: usize, depth_mm: &mut [u16]) -> Result<(), CodecError> {
    decode_by_mode(
        payload,
        width,
        depth_mm,
        "unknown MEDHUF mode byte",
        decode_modelled,
    )
}

/// Reads the code lengths and builds the decoder's table: per context, per value of the next
/// [`MAX_CODE_LEN`] bits, `code length | extra-bit count << 4 | base << 9`, where `base` is the
/// symbol's value with its extra bits zero. Codes must be complete, so every entry of a used
/// context is a code's; an unused context (which no valid stream reads) decodes as holes of 0
/// bits. Returns the table and the number of bytes read.
fn read_tables(body: &[u8]) -> Result<(Box<[u32; TABLE_LEN]>, usize), CodecError> {
    let mut table = Box::new([0; TABLE_LEN]);
    let mut at = 0;
    for context in 0..CONTEXTS {
        let used = usize::from(
            *body
                .get(at)
                .ok_or(CodecError::Corrupt("payload ends inside the tables"))?,
        );
        at += 1;
        if used > SYMBOLS {
            return Err(CodecError::Corrupt("more symbols than the alphabet has"));
        }
        let packed = body
            .get(at..at + used.div_ceil(2))
            .ok_or(CodecError::Corrupt("payload ends inside the tables"))?;
        at += packed.len();
        let mut lengths = [ABSENT; SYMBOLS];
        let mut kraft = 0u32;
        let mut present = 0;
        for (symbol, length) in lengths.iter_mut().enumerate().take(used) {
            let nibble = (packed[symbol / 2] >> (4 * (symbol % 2))) & 0xF;
            if nibble == 0 {
                continue;
            }
            let len = u32::from(nibble - 1);
            if len > MAX_CODE_LEN {
                return Err(CodecError::Corrupt("code longer than the longest allowed"));
            }
            *length = len as u8;
            kraft += 1 << (MAX_CODE_LEN - len);
            present += 1;
        }
        if used % 2 == 1 && packed[used / 2] >> 4 != 0 {
            return Err(CodecError::Corrupt(
                "non-zero padding nibble in a code table",
            ));
        }
        // Complete: Kraft's sum exactly 1, which also allows a length of 0 only for a single
        // symbol.
        if present > 0 && kraft != 1 << MAX_CODE_LEN {
            return Err(CodecError::Corrupt(
                "code lengths do not form a complete prefix code",
            ));
        }
        for (symbol, code) in canonical_codes(&lengths) {
            let (count, base, _) = SYMBOL_TABLE[symbol];
            let entry = code.len | count << 4 | base << 9;
            let first = context << MAX_CODE_LEN;
            for high in 0..TABLE_SLOTS >> code.len {
                table[first | (code.bits as usize) | high << code.len] = entry;
            }
        }
    }
    Ok((table, at))
}

/// Takes the symbol at bit `*pos` of `buf` from the table of the context whose index is
/// `context` (already shifted): its value. Reading by position keeps the chain from one code
/// to the next short: position, load, table, position. Past the end of `buf` (only a corrupt
/// stream gets there) it reads zeros; the caller checks the bits used.
#[inline(always)]
fn take(pos: &mut usize, table: &[u32; TABLE_LEN], buf: &[u8], context: usize) -> u32 {
    let at = *pos / 8;
    let word = buf.get(at..at + 8).map_or(0, |bytes| {
        u64::from_le_bytes(bytes.try_into().unwrap_or([0; 8]))
    });
    let peek = word >> (*pos % 8);
    let entry = table[(context | (peek as usize & (TABLE_SLOTS - 1))) & (TABLE_LEN - 1)];
    let len = entry & 0xF;
    let count = (entry >> 4) & 0x1F;
    let low = (peek >> len) as u32 & LOW_MASKS[count as usize];
    *pos += (len + count) as usize;
    (entry >> 9) + low
}

/// The first pass over a row: each column's value into `values`, reading the four streams
/// at `positions`. Its own function, not inlined, so that its loop keeps its state in
/// registers. On a run past the end of the row, returns `Err`.
#[inline(never)]
#[multiversion::multiversion(targets("x86_64+avx+avx2+bmi1+bmi2+lzcnt+popcnt"))]
fn decode_values(
    positions: &mut [usize; STREAMS],
    table: &[u32; TABLE_LEN],
    buf: &[u8],
    model: &RowModel,
    values: &mut [u32],
) -> Result<(), ()> {
    let width = values.len();
    // Cut to the row's width, so that `column < width` is all the bounds checks need.
    let context = &model.context[..width];
    let [mut p0, mut p1, mut p2, mut p3] = *positions;
    let mut previous = 0u32;
    let mut column = 0;
    // One slot read at `$pos`: the slots take the streams in turn, so each stream has its own
    // named position, in a register.
    macro_rules! slot {
        ($pos:ident) => {{
            if column >= width {
                break Ok(());
            }
            let key = context[column];
            if RowModel::starts_run(key, previous) {
                // The value of a run of n is n + 1: the hole symbol, 0, makes a run of -1,
                // which is too long, as is any run past the end of the row.
                let run = take(&mut $pos, table, buf, RUN << MAX_CODE_LEN).wrapping_sub(1) as usize;
                if run > width - column {
                    break Err(());
                }
                values[column..column + run].fill(previous);
                column += run;
                if column < width {
                    previous = take(&mut $pos, table, buf, INTERRUPT << MAX_CODE_LEN);
                    values[column] = previous;
                    column += 1;
                }
            } else {
                previous = take(&mut $pos, table, buf, usize::from(key));
                values[column] = previous;
                column += 1;
            }
        }};
    }
    let result = loop {
        slot!(p0);
        slot!(p1);
        slot!(p2);
        slot!(p3);
    };
    *positions = [p0, p1, p2, p3];
    result
}

/// The second pass over a row: the depths from the values of the first. `last` is the last
/// non-zero depth before the row, and after it. On a depth outside 1..=65535, returns it and
/// its column.
#[inline(never)]
#[multiversion::multiversion(targets("x86_64+avx+avx2+bmi1+bmi2+lzcnt+popcnt"))]
fn decode_depths(
    values: &[u32],
    model: &RowModel,
    last: &mut u16,
    row: &mut [u16],
) -> Result<(), (i32, usize)> {
    let mut a = 0u16;
    let mut previous_valid = *last;
    for (column, (((&value, &gradient), &fallback), out)) in values
        .iter()
        .zip(&model.gradient)
        .zip(&model.fallback)
        .zip(row.iter_mut())
        .enumerate()
    {
        a = if value == 0 {
            0
        } else {
            let prediction = if a == 0 {
                if fallback != 0 {
                    fallback
                } else {
                    previous_valid
                }
            } else {
                a.wrapping_add(gradient)
            };
            let zigzag = (value - 1) as u16;
            let error = (zigzag >> 1) ^ (zigzag & 1).wrapping_neg();
            let depth = prediction.wrapping_add(error);
            // A valid pixel's value is never 0 (that is the hole's); nor above 65536.
            if depth == 0 || value > 1 << 16 {
                return Err((i32::from(depth), column));
            }
            previous_valid = depth;
            depth
        };
        *out = a;
    }
    *last = previous_valid;
    Ok(())
}

/// Decodes a modelled body (the payload after its mode byte) into `depth_mm`, whose pixel
/// count `width` divides.
fn decode_modelled(body: &[u8], width: usize, depth_mm: &mut [u16]) -> Result<(), CodecError> {
    let pixels = depth_mm.len();
    let (table, tables_len) = read_tables(body)?;
    let mut rest = &body[tables_len..];
    let mut lengths = [0usize; STREAMS];
    for length in &mut lengths[..STREAMS - 1] {
        let (bytes, tail) = rest.split_first_chunk::<4>().ok_or(CodecError::Corrupt(
            "payload ends inside the stream lengths",
        ))?;
        *length = u32::from_le_bytes(*bytes) as usize;
        rest = tail;
    }
    let listed: usize = lengths[..STREAMS - 1].iter().sum();
    if listed > rest.len() {
        return Err(CodecError::Corrupt("stream lengths exceed the payload"));
    }
    lengths[STREAMS - 1] = rest.len() - listed;
    // A copy with zero padding, so that a reader can always load 8 bytes.
    let mut buf = Vec::with_capacity(rest.len() + READ_PADDING);
    buf.extend_from_slice(rest);
    buf.resize(rest.len() + READ_PADDING, 0);
    let mut starts = [0usize; STREAMS];
    for stream in 1..STREAMS {
        starts[stream] = starts[stream - 1] + lengths[stream - 1];
    }
    let mut positions = starts.map(|start| start * 8);
    let mut last = 0u16;
    let mut values = vec![0u32; width];
    let mut up = vec![0u16; width + 3];
    let mut model = RowModel::new(width);
    for (row_index, row) in depth_mm.chunks_exact_mut(width).enumerate() {
        model.prepare(&up);
        decode_values(&mut positions, &table, &buf, &model, &mut values)
            .map_err(|()| CodecError::Corrupt("a run past the end of its row"))?;
        decode_depths(&values, &model, &mut last, row).map_err(|(value, column)| {
            CodecError::DepthOutOfRange {
                value: i64::from(value),
                at: row_index * width + column,
            }
        })?;
        up[1..=width].copy_from_slice(row);
    }
    for ((&position, &start), &length) in positions.iter().zip(&starts).zip(&lengths) {
        check_stream_end(&rest[start..start + length], position - start * 8, pixels)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::noise;
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
    fn tokens_are_the_bit_scan_tokens_for_every_value() {
        for value in 0..=(1u32 << 16) {
            let (symbol, count, extra) = super::super::model::token(value);
            assert_eq!(token_of(value), u32::from(symbol) | extra << 10, "{value}");
            let (table_count, base, _) = SYMBOL_TABLE[usize::from(symbol)];
            assert_eq!((table_count, base | extra), (count, value), "{value}");
            assert!(usize::from(symbol) < SYMBOLS);
        }
    }

    #[test]
    fn code_lengths_are_complete_prefix_codes_of_at_most_9_bits() {
        let mut random = noise(5);
        let geometric: Vec<u32> = (0..SYMBOLS as u32).map(|s| 1 << (30 - s.min(30))).collect();
        let mut one_and_rare = vec![1u32; SYMBOLS];
        one_and_rare[3] = 1_000_000;
        let cases = [
            geometric,
            one_and_rare,
            vec![7; SYMBOLS],
            (0..SYMBOLS).map(|_| random() % 1000).collect(),
            (0..SYMBOLS).map(|s| u32::from(s % 3 == 0) * 5).collect(),
            (0..SYMBOLS).map(|s| u32::from(s == 17)).collect(),
            (0..SYMBOLS).map(|s| u32::from(s == 1 || s == 40)).collect(),
        ];
        for counts in &cases {
            let lengths = code_lengths(counts);
            let present: Vec<usize> = (0..SYMBOLS).filter(|&s| counts[s] > 0).collect();
            for symbol in 0..SYMBOLS {
                assert_eq!(lengths[symbol] != ABSENT, counts[symbol] > 0, "{counts:?}");
            }
            if present.len() == 1 {
                assert_eq!(lengths[present[0]], 0);
                continue;
            }
            let kraft: u32 = present
                .iter()
                .map(|&s| {
                    assert!((1..=MAX_CODE_LEN).contains(&u32::from(lengths[s])));
                    1 << (MAX_CODE_LEN - u32::from(lengths[s]))
                })
                .sum();
            assert_eq!(kraft, 1 << MAX_CODE_LEN, "{counts:?}");
        }
    }

    /// Flat steps, as a disparity-quantised sensor gives: long runs of exact predictions under
    /// flat rows, which run mode codes with a symbol per run rather than a bit per pixel.
    #[test]
    fn flat_steps_are_coded_as_runs() {
        let (width, height) = (320, 60);
        let depth: Vec<u16> = (0..width * height)
            .map(|i| 1000 + 25 * (i % width / 40) as u16)
            .collect();
        let len = round_trip(&depth, width);
        assert!(
            len * 8 < depth.len() / 8,
            "{len} bytes: under a bit per 8 pixels"
        );
    }

    /// Pixels after holes under holes are predicted from the last non-zero pixel before them,
    /// which may be rows back; the encoder mends these after its vectorised pass.
    #[test]
    fn pixels_after_holes_under_holes_round_trip() {
        let width = 16;
        let mut depth = vec![0u16; width * 6];
        depth[3] = 1500; // the last non-zero pixel for all that follow
        depth[2 * width + 9] = 1502; // after holes, under holes
        depth[2 * width + 10] = 1502;
        depth[4 * width] = 1499; // column 0, under holes, two rows on
        depth[5 * width + 15] = 7; // the last column
        round_trip(&depth, width);
        // And many of them, at random, in a full-size frame.
        let mut random = noise(9);
        let depth: Vec<u16> = (0..512 * 424)
            .map(|_| {
                if random() % 16 == 0 {
                    (random() % 8000) as u16 + 1
                } else {
                    0
                }
            })
            .collect();
        round_trip(&depth, 512);
    }

    #[test]
    fn incomplete_codes_and_runs_past_the_row_are_errors() {
        // 8 x 8 pixels: a payload must stay below the stored size, 129 bytes.
        let mut decoded = vec![0u16; 64];
        // Context 0 with two symbols of 2 bits each: a Kraft sum of 1/2.
        let mut payload = vec![MODE_MODELLED, 2, 0x33];
        payload.extend(std::iter::repeat_n(0, CONTEXTS - 1));
        payload.extend_from_slice(&[0; 12]);
        assert_eq!(
            decode(&payload, 8, &mut decoded),
            Err(CodecError::Corrupt(
                "code lengths do not form a complete prefix code"
            ))
        );
        // Only the run context, with one symbol of 0 bits: symbol 20, the value 64 plus 5
        // extra bits, a run of at least 63, past the end of a row of 8 (column 0 of the first
        // row is under holes after a hole, so it starts a run).
        let mut payload = vec![MODE_MODELLED];
        for context in 0..CONTEXTS {
            if context == RUN {
                payload.extend_from_slice(&[21, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01]);
            } else {
                payload.push(0);
            }
        }
        payload.extend_from_slice(&[0; 12]);
        assert_eq!(
            decode(&payload, 8, &mut decoded),
            Err(CodecError::Corrupt("a run past the end of its row"))
        );
    }
}

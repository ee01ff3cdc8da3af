//! The context model MEDANS and MEDHUF share: what the row above says about a pixel (its hole
//! count, how busy it is, the fallback prediction) and how a value becomes a token with extra
//! bits.
//!
//! ```text
//!   c b d e    b = up, c = up-left, d = up-right, e = two right of b (0 outside the image)
//!   a x        a = left
//!
//! up holes    how many of b, c, d are 0                                        -> 0..=3
//! gradient    |b-c| + |b-d| + (e != 0 ? |d-e| : 0), saturating at 65535
//! bucket      min(bit_length(gradient), 8)                                     -> 0..=8
//! fallback    the first non-zero of b, d, c; else 0
//! token(v)    v < 16: v, no extra bits
//!             else with n = floor(log2 v) (4..=16): 16 + 2(n-4) + bit n-1 of v, and the
//!             n-1 low bits of v as extra bits                                  -> 0..=41
//! ```
//!
//! Every function here is `#[inline(always)]`: the codecs call them inside loops over a row
//! that the compiler must still be able to vectorise.

/// Tokens: values up to 2^17 - 1 (enough for the zigzag of any difference of two u16).
pub(super) const TOKENS: usize = 42;

/// The number of significant bits of `v` (0 for 0).
#[inline(always)]
pub(super) fn bit_length(v: u32) -> u32 {
    32 - v.leading_zeros()
}

/// How many of the up neighbours `b`, `c`, `d` are holes.
#[inline(always)]
pub(super) fn up_holes(b: u16, c: u16, d: u16) -> u16 {
    u16::from(b == 0) + u16::from(c == 0) + u16::from(d == 0)
}

/// How busy the row above is around a pixel: `|b-c| + |b-d| + |d-e|` (the last term only if
/// `e` is valid), in u16 lanes (8 per SSE register). It saturates at 65535, which changes no
/// bucket since the largest bucket edge is 128.
#[inline(always)]
pub(super) fn up_gradient(b: u16, c: u16, d: u16, e: u16) -> u16 {
    let far = if e != 0 { d.abs_diff(e) } else { 0 };
    b.abs_diff(c)
        .saturating_add(b.abs_diff(d))
        .saturating_add(far)
}

/// min(bit_length(gradient), 8), without a bit scan (which does not vectorise): the exponent
/// of the gradient clamped to 255 as a float (exact below 2^24) minus the bias less one; 0 has
/// exponent 0, which saturates to bucket 0. Eight comparisons took a third more of the row
/// model's instructions.
#[inline(always)]
pub(super) fn gradient_bucket(gradient: u16) -> u16 {
    let clamped = f32::from(gradient.min(255));
    ((clamped.to_bits() >> 23) as u16).saturating_sub(126)
}

/// The prediction of a pixel whose left neighbour is a hole: the first non-zero of `b`, `d`,
/// `c`, or 0 if all three are holes.
#[inline(always)]
pub(super) fn fallback(b: u16, c: u16, d: u16) -> u16 {
    if b != 0 {
        b
    } else if d != 0 {
        d
    } else {
        c
    }
}

/// Token, extra-bit count and extra bits of a value `v` (below 2^17).
/// Computes the large-value form for every `v` (with `n` at least 4) and selects, so that the
/// choice is a conditional move, not a branch the predictor would miss on noisy pixels.
#[inline(always)]
pub(super) fn token(v: u32) -> (u8, u32, u32) {
    let n = bit_length(v | 16) - 1;
    let large = 16 + 2 * (n - 4) + ((v >> (n - 1)) & 1);
    let is_large = v >= 16;
    let token = if is_large { large } else { v };
    let count = if is_large { n - 1 } else { 0 };
    let extra = if is_large {
        v & ((1 << (n - 1)) - 1)
    } else {
        0
    };
    (token as u8, count, extra)
}

/// A codec's symbol table: entry `first_symbol + t` holds, for token `t` of [`TOKENS`], (its
/// extra-bit count, its value with the extra bits zero, the mask of its extra bits); entries
/// below `first_symbol` (MEDANS's hole symbol) and past the tokens are zero. The table has 64
/// entries so that `symbol & 63` indexes it without a bounds check.
pub(super) const fn symbol_table(first_symbol: usize) -> [(u32, u32, u32); 64] {
    let mut table = [(0u32, 0u32, 0u32); 64];
    let mut token = 0;
    while token < TOKENS {
        let t = token as u32;
        table[first_symbol + token] = if t < 16 {
            (0, t, 0)
        } else {
            let count = (t - 16) / 2 + 3;
            (count, (2 | (t & 1)) << count, (1 << count) - 1)
        };
        token += 1;
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_invert_through_the_symbol_table_for_every_value() {
        let table = symbol_table(0);
        for v in 0..(1u32 << 17) {
            let (token, count, extra) = token(v);
            assert!(usize::from(token) < TOKENS, "{v}");
            let (table_count, base, mask) = table[usize::from(token)];
            assert_eq!(table_count, count, "{v}");
            assert_eq!(mask, (1 << count) - 1, "{v}");
            assert_eq!(base | extra, v, "{v}");
        }
    }

    #[test]
    fn a_symbol_table_with_a_hole_symbol_is_the_token_table_one_entry_up() {
        let (tokens, with_hole) = (symbol_table(0), symbol_table(1));
        assert_eq!(with_hole[0], (0, 0, 0));
        assert_eq!(with_hole[1..=TOKENS], tokens[..TOKENS]);
    }

    #[test]
    fn the_gradient_bucket_is_the_bit_length_capped_at_8_for_every_gradient() {
        for gradient in 0..=u16::MAX {
            let expected = bit_length(u32::from(gradient)).min(8);
            assert_eq!(u32::from(gradient_bucket(gradient)), expected, "{gradient}");
        }
    }

    #[test]
    fn the_up_gradient_ignores_a_hole_two_to_the_right_and_saturates() {
        assert_eq!(up_gradient(10, 7, 14, 0), 3 + 4);
        assert_eq!(up_gradient(10, 7, 14, 20), 3 + 4 + 6);
        assert_eq!(up_gradient(u16::MAX, 0, 0, 0), u16::MAX);
    }

    #[test]
    fn the_fallback_is_the_first_valid_of_up_up_right_up_left() {
        assert_eq!(fallback(5, 6, 7), 5);
        assert_eq!(fallback(0, 6, 7), 7);
        assert_eq!(fallback(0, 6, 0), 6);
        assert_eq!(fallback(0, 0, 0), 0);
        assert_eq!(up_holes(0, 6, 0), 2);
    }
}

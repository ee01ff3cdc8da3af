#!/usr/bin/env python3
"""A MEDHUF decoder written from docs/codecs.md ("MEDHUF (0x03)") alone, not from the Rust code.

It checks that the page says enough to decode the format: tests/medhuf_reference.rs encodes
frames with sk2-proto and compares what this script decodes with the frames.

usage: medhuf_decode.py PAYLOAD WIDTH HEIGHT OUT
  PAYLOAD  a file holding one MEDHUF payload (no depth_v2 header)
  OUT      where to write the pixels, u16 little-endian, row by row
"""
import struct
import sys

CONTEXTS = 14
RUN, INTERRUPT = 12, 13
MAX_CODE_LEN = 9


def symbol_base_and_extra_bits(symbol):
    """symbol(v): v < 16 is itself; else 16 + 2(n-4) + bit n-1 of v, with n-1 extra bits."""
    if symbol < 16:
        return symbol, 0
    n = (symbol - 16) // 2 + 4
    bit = (symbol - 16) % 2
    return (1 << n) | (bit << (n - 1)), n - 1


class Bits:
    """Bits fill each byte from bit 0."""

    def __init__(self, data):
        self.data = data
        self.pos = 0

    def bit(self):
        byte = self.data[self.pos >> 3] if (self.pos >> 3) < len(self.data) else None
        if byte is None:
            raise ValueError("stream ends early")
        self.pos += 1
        return (byte >> ((self.pos - 1) & 7)) & 1

    def check_end(self):
        used = (self.pos + 7) // 8
        if used != len(self.data):
            raise ValueError("stream has bytes left over")
        if self.pos % 8 and self.data[-1] >> (self.pos % 8):
            raise ValueError("non-zero padding")


def read_tables(payload, at):
    tables = []
    for _ in range(CONTEXTS):
        used = payload[at]
        at += 1
        packed = payload[at:at + (used + 1) // 2]
        at += (used + 1) // 2
        lengths = {}
        for symbol in range(used):
            nibble = (packed[symbol // 2] >> (4 * (symbol % 2))) & 0xF
            if nibble:
                lengths[symbol] = nibble - 1
        codes = {}
        if len(lengths) == 1:
            (symbol, length), = lengths.items()
            assert length == 0
            codes[(0, 0)] = symbol
        elif lengths:
            if sum(2.0 ** -length for length in lengths.values()) != 1.0:
                raise ValueError("incomplete code")
            code = 0
            for length in range(1, MAX_CODE_LEN + 1):
                for symbol in sorted(s for s, l in lengths.items() if l == length):
                    codes[(length, code)] = symbol
                    code += 1
                code <<= 1
        tables.append(codes)
    return tables, at


def read_value(bits, codes):
    """A code, first code bit first, then its extra bits, least significant first."""
    length, code = 0, 0
    while (length, code) not in codes:
        if length > MAX_CODE_LEN:
            raise ValueError("no such code")
        code = (code << 1) | bits.bit()
        length += 1
    base, extra_bits = symbol_base_and_extra_bits(codes[(length, code)])
    extra = 0
    for i in range(extra_bits):
        extra |= bits.bit() << i
    return base + extra


def decode(payload, width, height):
    if payload[0] == 1:
        return list(struct.unpack("<%dH" % (width * height), payload[1:]))
    assert payload[0] == 0
    tables, at = read_tables(payload, 1)
    lengths = struct.unpack("<3I", payload[at:at + 12])
    at += 12
    streams = []
    for length in lengths:
        streams.append(Bits(payload[at:at + length]))
        at += length
    streams.append(Bits(payload[at:]))

    pixels, up, last = [], [0] * width, 0
    for _ in range(height):
        def above(i):
            return up[i] if 0 <= i < width else 0

        # First the values of the row, slot by slot.
        values, previous, i, slot = [], 0, 0, 0
        while i < width:
            bits = streams[slot % 4]
            slot += 1
            b, c, d, e = above(i), above(i - 1), above(i + 1), above(i + 2)
            if b == c == d and previous == (0 if b == 0 else 1):
                n = read_value(bits, tables[RUN]) - 1
                if n < 0 or i + n > width:
                    raise ValueError("bad run")
                values += [previous] * n
                i += n
                if i < width:
                    previous = read_value(bits, tables[INTERRUPT])
                    values.append(previous)
                    i += 1
                continue
            holes = (b == 0) + (c == 0) + (d == 0)
            if holes:
                context = 8 + holes
            else:
                gradient = abs(b - c) + abs(b - d) + (abs(d - e) if e != 0 else 0)
                context = min(gradient.bit_length(), 8)
            previous = read_value(bits, tables[context])
            values.append(previous)
            i += 1
        # Then the depths.
        row = []
        for i, value in enumerate(values):
            if value == 0:
                row.append(0)
                continue
            a, b, c, d = (row[i - 1] if i else 0), above(i), above(i - 1), above(i + 1)
            if a:
                prediction = (a + b - c) % 65536 if b and c else a
            else:
                prediction = next((p for p in (b, d, c) if p), last)
            z = value - 1
            error = z // 2 if z % 2 == 0 else -(z + 1) // 2
            x = (prediction + error) % 65536
            if x == 0:
                raise ValueError("a valid pixel decoded as 0")
            row.append(x)
            last = x
        pixels += row
        up = row
    for bits in streams:
        bits.check_end()
    return pixels


def main():
    path, width, height, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    with open(path, "rb") as f:
        payload = f.read()
    pixels = decode(payload, width, height)
    with open(out, "wb") as f:
        f.write(struct.pack("<%dH" % len(pixels), *pixels))


if __name__ == "__main__":
    main()

"""A binary range coder for numba kernels: bits with 16-bit probabilities <-> bytes.

LZMA's design (a 32-bit range, a 64-bit low and one cached byte that absorbs carries), in
integer arithmetic only, so encoder and decoder agree on any machine. A probability is
p1 = P(bit == 1) * 2**16, in 1..2**16 - 1; every decision narrows the range to
floor(range / 2**16) * p1 (bit 1) or the rest (bit 0), so neither side can get a zero
interval. The coder state lives in small int64 arrays so that a kernel coding one step can
hand it to the next (inside a kernel, in registers):
- encoder: low, range, cache, pending bytes, output position (ENCODER_POSITION);
- decoder: code, range, input position (DECODER_POSITION). Reading past the end yields zero
  bytes and still advances the position: a damaged stream decodes to garbage that the
  caller's checks reject, never out of bounds.
"""

from __future__ import annotations

import numpy as np
from numba import njit

PROB_BITS = 16
HALF = 1 << (PROB_BITS - 1)  # a raw bit
TOP = 1 << 24  # the range is renormalized (one byte shifted out) below this
FULL_RANGE = (1 << 32) - 1
ENCODER_POSITION = 4  # index of the bytes written so far in the encoder state
DECODER_POSITION = 2  # index of the bytes read so far in the decoder state
INIT_BYTES = 5  # the decoder primes its code with this many bytes
FLUSH_SHIFTS = 5  # the encoder's final shifts: every pending byte of low goes out


def new_encoder() -> np.ndarray:
    """Encoder state: low, range, cache byte, pending byte count, output position."""
    return np.array([0, FULL_RANGE, 0, 1, 0], np.int64)


# A kernel loads the state into registers (a tuple of its fields: encoder_registers,
# decoder_registers), codes its decisions on them and stores them back (save_registers):
# numba keeps a tuple of scalars in CPU registers, where array fields would be reloaded
# after every byte written (about 20 % of the encoder's time).
@njit(cache=True, inline="always")
def encoder_registers(st):
    return st[0], st[1], st[2], st[3], st[ENCODER_POSITION]


@njit(cache=True, inline="always")
def decoder_registers(st):
    return st[0], st[1], st[DECODER_POSITION]


@njit(cache=True, inline="always")
def save_registers(st, registers):
    for i in range(len(registers)):
        st[i] = registers[i]


@njit(cache=True, inline="always")
def _shift_low(registers, out):
    low, rng, cache, pending, pos = registers
    if low < 0xFF000000 or low > 0xFFFFFFFF:
        carry = low >> 32
        byte = cache
        while True:  # the cached byte, then the pending 0xFF bytes, each plus the carry
            out[pos] = (byte + carry) & 0xFF
            pos += 1
            byte = 0xFF
            pending -= 1
            if pending == 0:
                break
        cache = (low >> 24) & 0xFF
    return (low & 0x00FFFFFF) << 8, rng, cache, pending + 1, pos


@njit(cache=True, inline="always")
def encode_bit(registers, out, bit, p1):
    """Code one decision; `out` must have room for the bytes it may emit. Returns the new
    registers."""
    low, rng, cache, pending, pos = registers
    bound = (rng >> PROB_BITS) * p1
    if bit:
        rng = bound
    else:
        low += bound
        rng -= bound
    while rng < TOP:
        low, rng, cache, pending, pos = _shift_low((low, rng << 8, cache, pending, pos), out)
    return low, rng, cache, pending, pos


@njit(cache=True)
def flush(st, out):
    """Emit the last bytes; the stream is complete after this."""
    registers = encoder_registers(st)
    for _ in range(FLUSH_SHIFTS):
        registers = _shift_low(registers, out)
    save_registers(st, registers)


@njit(cache=True, inline="always")
def _next_byte(data, pos):
    return np.int64(data[pos]) if pos < data.size else np.int64(0)


@njit(cache=True)
def start_decoder(data):
    """Decoder state primed with the stream's first bytes."""
    st = np.zeros(DECODER_POSITION + 1, np.int64)
    st[1] = FULL_RANGE
    for pos in range(INIT_BYTES):
        st[0] = ((st[0] << 8) | _next_byte(data, pos)) & FULL_RANGE
    st[DECODER_POSITION] = INIT_BYTES
    return st


@njit(cache=True, inline="always")
def decode_bit(registers, data, p1):
    """Decode one decision coded with probability p1: (bit, new registers)."""
    code, rng, pos = registers
    bound = (rng >> PROB_BITS) * p1
    if code < bound:
        rng = bound
        bit = 1
    else:
        code -= bound
        rng -= bound
        bit = 0
    while rng < TOP:
        rng <<= 8
        code = ((code << 8) | _next_byte(data, pos)) & FULL_RANGE
        pos += 1
    return bit, (code, rng, pos)

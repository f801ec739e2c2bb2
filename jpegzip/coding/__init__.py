"""Entropy coding of quantized DCT coefficients with fixed per-context tables."""

from .streams import ContextModel, ContextSession, decode_planes, encode_planes, iter_symbols
from .symbols import ALPHABET

__all__ = [
    "ALPHABET",
    "ContextModel",
    "ContextSession",
    "decode_planes",
    "encode_planes",
    "iter_symbols",
]

"""zstd with the shipped header dictionary: how a .jrz stores a JPEG's header bytes.

A JPEG's bytes outside its entropy-coded data (markers, tables, metadata) are a few hundred
bytes that zstd alone barely shrinks, yet most of them are standard: the Huffman tables of
T.81 Annex K, the IJG quantization tables at each quality, JFIF headers. Against a
dictionary holding those, the header of a libjpeg file codes in about 30 bytes instead of
about 450 (0.6 points of savings on a Kodak q75 file).

The dictionary (weights/headers-v1.zdict, built by ``python -m jpegzip.training.fit_header_dict``)
is part of the format: a .jrz whose header section is named ``raw-d1`` can only be read
with these exact bytes, so the loader checks their SHA-256, and a rebuilt dictionary must
ship under a new file name and section name. Files written before the dictionary hold the
same bytes in plain zstd, in a section named ``raw``; they still decode.
"""

from __future__ import annotations

import functools
import hashlib
from importlib.resources import files

import zstandard

from . import container
from .errors import ContainerError

DICTIONARY_FILE = "headers-v1.zdict"
DICTIONARY_SHA256 = "bab91615e35070c18777bdf3b1249cc44a112444d42c996f00b623a4b083e6e4"
RAW_SECTION = "raw-d1"  # the header bytes, compressed against this dictionary
LEGACY_RAW_SECTION = "raw"  # the header bytes in plain zstd (files written before it)
_LEVEL = 19


@functools.cache
def _dictionary_bytes() -> bytes:
    data = (files("jpegzip.weights") / DICTIONARY_FILE).read_bytes()
    if hashlib.sha256(data).hexdigest() != DICTIONARY_SHA256:
        raise RuntimeError(f"weights/{DICTIONARY_FILE} is not the dictionary this jpegzip "
                           "was built with: reinstall jpegzip")
    return data


def _dictionary() -> zstandard.ZstdCompressionDict:
    return zstandard.ZstdCompressionDict(_dictionary_bytes(),
                                         dict_type=zstandard.DICT_TYPE_RAWCONTENT)


@functools.cache
def _compression_dictionary() -> zstandard.ZstdCompressionDict:
    dictionary = _dictionary()
    dictionary.precompute_compress(level=_LEVEL)  # once, not per file (a 20 ms digest)
    return dictionary


def compress(data: bytes) -> bytes:
    """One zstd frame of ``data`` against the dictionary (no zstd checksum: the container's
    CRC-32 and the original's SHA-256 already cover it)."""
    compressor = zstandard.ZstdCompressor(level=_LEVEL, dict_data=_compression_dictionary(),
                                          write_checksum=False)
    return compressor.compress(data)


def decompress(data: bytes, limit: int, what: str) -> bytes:
    """Inverse of ``compress``, never producing more than ``limit`` bytes (ContainerError)."""
    decompressor = zstandard.ZstdDecompressor(dict_data=_dictionary())
    return container.unzstd(data, limit, what, decompressor)


def header_bytes(sections: dict[str, bytes], limit: int) -> bytes:
    """The JPEG's bytes outside its entropy-coded data, from whichever header section the
    .jrz holds (exactly one; never more than ``limit`` bytes, else ContainerError)."""
    present = [name for name in (RAW_SECTION, LEGACY_RAW_SECTION) if name in sections]
    if len(present) != 1:
        raise ContainerError("missing section: raw" if not present
                             else "two header sections: raw and raw-d1")
    if present[0] == LEGACY_RAW_SECTION:
        return container.unzstd(sections[LEGACY_RAW_SECTION], limit, "raw section")
    return decompress(sections[RAW_SECTION], limit, "raw section")

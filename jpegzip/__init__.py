"""jpegzip: recompress JPEG files losslessly into smaller .jrz files.

    import jpegzip
    packed = jpegzip.compress(jpeg_bytes)
    assert jpegzip.decompress(packed) == jpeg_bytes

Only public names live here; they load lazily so that importing jpegzip stays cheap.
"""

from __future__ import annotations

from .errors import JpegzipError

__all__ = ["JpegzipError", "compress", "decompress"]


def __getattr__(name: str):
    if name in ("compress", "decompress"):
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'jpegzip' has no attribute {name!r}")

"""jpegzip: recompress JPEG files into smaller .jrz files, losslessly or to a target size.

    import jpegzip
    packed = jpegzip.compress(jpeg_bytes)
    assert jpegzip.decompress(packed) == jpeg_bytes
    smaller = jpegzip.compress(jpeg_bytes, rate=0.9)  # lossy: decodes to a new, smaller JPEG

    codec = jpegzip.Codec()              # keeps the model loaded; thread-safe; picklable
    jpegzip.compress_file("a.jpg", "a.jrz")
    jpegzip.inspect(open("a.jrz", "rb").read())["image"]

Only public names live here; they load lazily so that importing jpegzip stays cheap.
"""

from __future__ import annotations

from .errors import JpegzipError

__all__ = [
    "Codec",
    "JpegzipError",
    "Options",
    "Result",
    "compress",
    "compress_file",
    "compress_with_result",
    "decompress",
    "decompress_file",
    "inspect",
    "verify",
]
_FROM_API = {
    "Codec",
    "Result",
    "compress",
    "compress_file",
    "compress_with_result",
    "decompress",
    "decompress_file",
    "verify",
}


def __getattr__(name: str):
    if name in _FROM_API:
        from . import api

        return getattr(api, name)
    if name == "Options":
        from .options import Options

        return Options
    if name == "inspect":
        from .inspection import inspect

        return inspect
    raise AttributeError(f"module 'jpegzip' has no attribute {name!r}")

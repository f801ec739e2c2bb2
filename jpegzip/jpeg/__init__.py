"""The JPEG layer: bytes <-> JpegRecord, bit-exact. Knows nothing of models or files."""

from .reader import read_jpeg, read_layout
from .record import JpegRecord, ScanSideInfo, pack_side_info, split_planes, unpack_side_info
from .writer import write_jpeg

__all__ = [
    "JpegRecord",
    "ScanSideInfo",
    "pack_side_info",
    "read_jpeg",
    "read_layout",
    "split_planes",
    "unpack_side_info",
    "write_jpeg",
]

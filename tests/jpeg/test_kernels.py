"""The scan kernels compile lazily: the first run after install pays only for its kinds of scans."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from jpegzip.jpeg.scan_decode import MODE_SEQUENTIAL

from .conftest import pillow_jpeg, synthetic_photo

_ROUND_TRIP = """
import json, sys
from jpegzip.jpeg import read_jpeg, scan_decode, scan_encode, write_jpeg
data = open(sys.argv[1], "rb").read()
assert write_jpeg(read_jpeg(data)) == data
print(json.dumps({
    "decoders": [mode for mode, kernel in scan_decode._DECODERS.items() if kernel.signatures],
    "encoders": [mode for mode, kernel in scan_encode._ENCODERS.items() if kernel.signatures],
    "eob_run_helpers": len(scan_encode._eob_run.signatures + scan_encode._put_bit_list.signatures),
}))
"""


def test_a_baseline_file_compiles_no_progressive_code(tmp_path):
    """With an empty numba cache, a baseline file compiles the sequential kernels alone, and
    numba drops the progressive branches within them (their helpers stay uncompiled)."""
    path = tmp_path / "baseline.jpg"
    path.write_bytes(pillow_jpeg(synthetic_photo(32, 24), quality=80))
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba")}
    result = subprocess.run([sys.executable, "-c", _ROUND_TRIP, str(path)], env=env,
                            capture_output=True, text=True, check=True)  # fmt: skip
    compiled = json.loads(result.stdout)
    sequential_only = {"decoders": [MODE_SEQUENTIAL], "encoders": [MODE_SEQUENTIAL]}
    assert compiled == {**sequential_only, "eob_run_helpers": 0}

"""What a process imports, and when: a worker sets its thread limits before the numeric
libraries load (they read them once, as they load), and asking for device cuda where no
CUDA driver is does not import torch. Each check runs in a fresh interpreter outside the
checkout (python -c puts its working folder first on sys.path)."""

from __future__ import annotations

import ctypes
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import jpegzip

PACKAGE_PARENT = str(Path(jpegzip.__file__).resolve().parents[1])
HEAVY = ("numpy", "numba", "torch")


def loaded_after(code: str, cwd: Path) -> list[str]:
    """The heavy modules a fresh interpreter holds after running ``code``."""
    done = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys, json\n"
         f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"],
        cwd=cwd, env=os.environ | {"PYTHONPATH": PACKAGE_PARENT},
        capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    return json.loads(done.stdout.splitlines()[-1])


def test_a_worker_reaches_its_thread_limits_before_numpy(tmp_path):
    # What the fork server (jpegzip.warm_server) and a spawned worker import before
    # workers.prepare_process sets OMP_NUM_THREADS and the like.
    assert loaded_after("import jpegzip.workers, jpegzip.batch, jpegzip.cli", tmp_path) == []


def test_device_cuda_without_a_driver_does_not_import_torch(tmp_path):
    try:
        ctypes.CDLL("libcuda.so.1")
        pytest.skip("a CUDA driver is here: torch is asked")
    except OSError:
        pass
    code = (
        "from jpegzip.errors import BadOption\nfrom jpegzip.options import Options\n"
        "try:\n    Options(device='cuda')\nexcept BadOption:\n    pass\n"
        "else:\n    raise SystemExit('device cuda was accepted')"
    )
    assert loaded_after(code, tmp_path) == []

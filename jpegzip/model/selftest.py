"""Known-answer self-test of the integer network, once per process, network and device.

The network must give the same integers everywhere (net.py): one wrong output and a .jrz
decodes nowhere else. So before the codec first runs a shipped network on a device (and
dtype), it runs it on fixed inputs and compares each group's outputs, by SHA-256, with the
answers stored with the weights (weights/selftest.json, by the weights' name). On CUDA a
mismatch warns and falls back to the CPU; on the CPU it raises ModelNotAvailable: no .jrz
is made or decoded with wrong integers. A network without stored answers (not a shipped
model's: fitting, training) is not checked.

After shipping new weights: python -m jpegzip.model.selftest --write
"""

from __future__ import annotations

import hashlib
import json
import sys
import threading
import warnings
import weakref
from functools import cache
from importlib.resources import files
from pathlib import Path

import numpy as np

from ..errors import ModelNotAvailable
from .net import GROUPS, IntegerNet, input_count, remaining_row

SHAPE = (72, 70)  # blocks: two bands of rows, four tiles, one of them with nothing to code
ANSWERS = "selftest.json"

_lock = threading.RLock()  # a CUDA failure checks the CPU inside
# per network (weakly: a network that goes away takes its verdicts along): per (model id,
# device, dtype), the device to use, or the message of the error to raise
_verdicts: weakref.WeakKeyDictionary[IntegerNet, dict[tuple, tuple[str, str]]] = (
    weakref.WeakKeyDictionary())


def selftest_input(g: int) -> np.ndarray:
    """Group g's fixed input, (input_count(g), *SHAPE) uint8, from integer arithmetic only
    (the same bytes on every machine and numpy version, which np.random does not promise).
    Random bytes scaled by a level per channel and 8 x 8 patch and shifted right by 0..7 per
    patch: small values, as most features are, next to large ones, so that most hidden
    units see both sides of their threshold. A third of the blocks and two rectangles have
    nothing left to code (one covers a whole tile): the paths that skip them run too."""
    channels, (height, width) = input_count(g), SHAPE
    patches = (channels, -(-height // 8), -(-width // 8))
    value = _bytes(4 * g, channels * height * width).reshape(channels, height, width)
    level = _bytes(4 * g + 1, int(np.prod(patches))).reshape(patches)
    shift = _bytes(4 * g + 2, patches[1] * patches[2]).reshape(patches[1:]) >> 5
    level = np.repeat(np.repeat(level, 8, axis=1), 8, axis=2)[:, :height, :width]
    shift = np.repeat(np.repeat(shift, 8, axis=0), 8, axis=1)[:height, :width]
    features = ((value * level >> 8) >> shift).astype(np.uint8)
    remaining = 4 * (1 + value[remaining_row(g)] % 63)  # 4 x the nonzeros left, as coded
    remaining[_bytes(4 * g + 3, height * width).reshape(height, width) < 80] = 0
    remaining[5:20, 10:25] = 0
    remaining[40:, 30:] = 0  # all of the tile from (64, 64)
    features[remaining_row(g)] = remaining
    return features


def _bytes(stream: int, count: int) -> np.ndarray:
    """`count` bytes (as int64) of splitmix64 over a counter, one stream per number."""
    z = (np.arange(count, dtype=np.uint64) + np.uint64(stream << 32)) * np.uint64(
        0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z ^= z >> np.uint64(31)
    return (z >> np.uint64(56)).astype(np.int64)


def digests(net: IntegerNet, device: str = "cpu", dtype: str = "float32") -> dict[str, str]:
    """SHA-256 of each group's outputs (as the codec asks for them) on the fixed inputs."""
    return {f"g{g}": hashlib.sha256(net.run(g, selftest_input(g), device, dtype,
                                            coded_only=True).tobytes()).hexdigest()
            for g in range(len(GROUPS))}


def failing_groups(net: IntegerNet, answers: dict[str, str], device: str = "cpu",
                   dtype: str = "float32") -> list[int]:
    """The groups whose outputs do not match `answers` on `device`."""
    got = digests(net, device, dtype)
    return [g for g in range(len(GROUPS)) if answers.get(f"g{g}") != got[f"g{g}"]]


@cache
def stored_answers() -> dict[str, dict[str, str]]:
    """weights/selftest.json: weights name -> group -> SHA-256 of its outputs."""
    return json.loads((files("jpegzip.weights") / ANSWERS).read_text())


def answers_for(model_id: bytes) -> tuple[str, dict[str, str]] | None:
    """The shipped model's name and stored answers (None: not a shipped model's, or none
    stored)."""
    from . import shipped_names

    name = shipped_names().get(model_id)
    answers = stored_answers().get(name) if name is not None else None
    return None if answers is None else (name, answers)


def checked_device(net: IntegerNet, model_id: bytes, device: str, dtype: str) -> str:
    """The device to run `net` on instead of `device`: itself once the self-test has passed
    there (run the first time only; thread-safe), the CPU after a failure elsewhere (with a
    warning); a failure on the CPU raises ModelNotAvailable, every time."""
    known = answers_for(model_id)
    if known is None:
        return device
    name, answers = known
    with _lock:
        verdicts = _verdicts.setdefault(net, {})
        key = (model_id, device, dtype)
        if key not in verdicts:
            verdicts[key] = _verdict(net, model_id, name, answers, device, dtype)
        use, error = verdicts[key]
    if error:
        raise ModelNotAvailable(error)
    return use


def _verdict(net: IntegerNet, model_id: bytes, name: str, answers: dict[str, str],
             device: str, dtype: str) -> tuple[str, str]:
    try:
        failed = failing_groups(net, answers, device, dtype)
        problem = f"gives wrong outputs for groups {failed}" if failed else ""
    except Exception as error:  # a device that cannot run it at all
        if device == "cpu":
            raise
        problem = f"cannot run ({type(error).__name__}: {error})"
    if not problem:
        return device, ""
    what = f"the self-test of model {name}'s network on {device} ({dtype}) failed: it {problem}"
    if device == "cpu":
        return device, f"{what}; refusing to code with wrong integers"
    warnings.warn(f"jpegzip: {what}; using the CPU instead", RuntimeWarning, stacklevel=3)
    return checked_device(net, model_id, "cpu", dtype), ""


def main(argv: list[str] | None = None) -> int:
    """Print the answers of every shipped learned model, computed on the CPU (--write: store
    them in weights/selftest.json). Exit status 1 where they differ from the stored ones."""
    from . import load_model, shipped_names
    from .learned import LearnedModel

    argv = sys.argv[1:] if argv is None else argv
    answers = {}
    for model_id, name in shipped_names().items():
        model = load_model(model_id)
        if isinstance(model, LearnedModel):
            answers[name] = digests(model.net)
    text = json.dumps(answers, indent=1, sort_keys=True) + "\n"
    if "--write" in argv:
        Path(str(files("jpegzip.weights") / ANSWERS)).write_text(text)
        stored_answers.cache_clear()
    print(text, end="")
    return 0 if answers == stored_answers() else 1


if __name__ == "__main__":
    sys.exit(main())

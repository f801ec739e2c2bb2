"""A seeded mutation fuzzer for jpegzip: hostile JPEGs and .jrz files, each checked in a worker
process under a memory limit and a time limit.

Seeds are small JPEGs (tests/data and, when present, ../shared/corpus/edge) and .jrz files
made from them (stored, and lossless through the model even where that does not pay).
Each case applies one to three mutations (``mutations.py``) to a seed, chosen by a
``random.Random`` seeded with (campaign seed, case index), so any case can be made again
from its index. The oracle (``check``) is the contract of the library:

- compress either refuses cleanly (a JpegzipError) or returns a .jrz that decompresses to
  exactly the input;
- decompress either fails cleanly (ContainerError, ModelNotAvailable, LimitExceeded) or
  returns bytes of the length and SHA-256 its header records; ``inspect`` likewise;
- no case takes longer than the time limit (``hang``) or more memory than the limit
  (``memory``: a MemoryError, or a worker killed by the limit).

Used by tests/test_fuzz.py (a short fixed run) and benchmarks/fuzz.py (long runs). The worker
protocol is length-prefixed bytes in, one JSON line out: nothing is unpickled.
"""

from __future__ import annotations

import json
import os
import random
import select
import signal
import struct
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from mutations import mutate

TESTS = Path(__file__).resolve().parent
REPOSITORY = TESTS.parent
EDGE_CORPUS = REPOSITORY.parent / "shared" / "corpus" / "edge"
FIXTURE_FOLDERS = (TESTS / "data" / "jpeg", TESTS / "data" / "crashers")
CRASHERS = TESTS / "data" / "crashers"

MEMORY_LIMIT = 3 << 30  # address space of a worker (the library needs ~0.3 GiB to start)
TIME_LIMIT = 30.0  # seconds per case
BAD = ("crash", "wrong", "hang", "memory")  # outcomes that are bugs
_FRAME = struct.Struct("<cI")  # kind (b"j" JPEG, b"z" .jrz), length; then the bytes
_KINDS = {"jpeg": b"j", "jrz": b"z"}
_STARTUP_LIMIT = 300.0  # a cold worker compiles or loads the numba kernels


@dataclass(frozen=True)
class Seed:
    """One input to mutate: ``kind`` is "jpeg" or "jrz"."""

    name: str
    kind: str
    data: bytes


@dataclass(frozen=True)
class Case:
    """One mutated input, reproducible from (campaign seed, index)."""

    index: int
    seed: str
    kind: str
    mutations: tuple[str, ...]
    data: bytes


@dataclass
class Summary:
    """What a campaign did: counts per outcome and per kind of input, the bad cases, the
    time it took."""

    cases: int = 0
    seconds: float = 0.0
    outcomes: Counter = field(default_factory=Counter)
    kinds: Counter = field(default_factory=Counter)
    failures: list[dict] = field(default_factory=list)

    @property
    def bad(self) -> int:
        return sum(self.outcomes[name] for name in BAD)

    def merge(self, other: Summary) -> None:
        """Add another part of the same campaign."""
        self.cases += other.cases
        self.seconds += other.seconds
        self.outcomes.update(other.outcomes)
        self.kinds.update(other.kinds)
        self.failures += other.failures


# --- seeds ---------------------------------------------------------------------------------


def jpeg_seeds(max_bytes: int, corpus: bool = True) -> list[Seed]:
    """The small JPEG-like files of tests/data (and of the edge corpus, when present), sorted
    so that a campaign is the same on every machine that has the same files."""
    folders = list(FIXTURE_FOLDERS) + ([EDGE_CORPUS] if corpus and EDGE_CORPUS.is_dir() else [])
    seeds = []
    for folder in folders:
        for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix != ".md"):
            if path.stat().st_size <= max_bytes:
                name = str(path.relative_to(folder.parent))
                seeds.append(
                    Seed(name, "jrz" if path.suffix == ".jrz" else "jpeg", path.read_bytes())
                )
    return seeds


def jrz_seeds(jpegs: list[Seed]) -> list[Seed]:
    """.jrz files of the JPEG seeds: as compress writes them, and through the model
    (lossless) wherever the JPEG layer takes the file, so the coefficient decoder is fuzzed."""
    from jpegzip import api, codec, container
    from jpegzip.container import Container, Mode
    from jpegzip.errors import JpegzipError

    seeds = []
    for seed in jpegs:
        if seed.kind != "jpeg":
            seeds.append(seed)
            continue
        try:
            packed = api.compress(seed.data)
        except JpegzipError:
            continue
        seeds.append(Seed(seed.name + ".jrz", "jrz", packed))
        if container.read(packed).mode is Mode.LOSSLESS:
            continue
        try:
            sections = codec.encode_lossless(seed.data)
        except JpegzipError:
            continue
        digest = container.sha256(seed.data)
        lossless = Container(Mode.LOSSLESS, codec.model_id(), len(seed.data), digest, sections)
        seeds.append(Seed(seed.name + ".lossless.jrz", "jrz", container.write(lossless)))
    return seeds


def make_case(seeds: list[Seed], campaign: int, index: int) -> Case:
    """Case ``index`` of a campaign: a seed and its mutations, from a per-case generator."""
    rng = random.Random(f"{campaign}/{index}")
    seed = rng.choice(seeds)
    donors = [other.data for other in seeds if other.kind == seed.kind]
    data, names = mutate(rng, seed.data, seed.kind, donors)
    return Case(index, seed.name, seed.kind, tuple(names), data)


# --- the oracle ----------------------------------------------------------------------------


def check(kind: str, data: bytes) -> tuple[str, str]:
    """Run one input through the library; (outcome, detail). Outcomes: "lossless",
    "stored", "refused" (a clean error), "decoded", or one of BAD."""
    try:
        return _check_jpeg(data) if kind == "jpeg" else _check_jrz(data)
    except MemoryError:
        return "memory", "MemoryError"
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as error:  # anything else escaping the library is a bug
        return "crash", _describe(error)


def _check_jpeg(data: bytes) -> tuple[str, str]:
    from jpegzip import api
    from jpegzip.errors import JpegzipError

    try:
        packed, result = api.compress_with_result(data)
    except JpegzipError as error:
        return "refused", error.code
    try:
        back = api.decompress(packed)
    except JpegzipError as error:
        return "wrong", f"compress gave a .jrz that does not decode: {error.code}: {error}"
    if back != data:
        return "wrong", "compress gave a .jrz that decodes to other bytes"
    return result.mode, result.stored_reason or ""


def _check_jrz(data: bytes) -> tuple[str, str]:
    from jpegzip import api, container
    from jpegzip.errors import ContainerError, LimitExceeded, ModelNotAvailable
    from jpegzip.inspection import inspect

    clean = (ContainerError, ModelNotAvailable, LimitExceeded)
    try:
        inspect(data)
    except clean:
        pass
    try:
        output = api.decompress(data)
    except clean as error:
        return "refused", error.code
    header = container.read(data)  # it decoded, so the header is well formed
    if len(output) != header.original_length or not container.digest_matches(
            header.original_sha256, output):
        return "wrong", "decompress returned bytes that do not match the header"
    return "decoded", ""


def _describe(error: BaseException) -> str:
    """Type, message and the innermost jpegzip frame: enough to tell two bugs apart."""
    frames = [f for f in traceback.extract_tb(error.__traceback__) if "jpegzip" in f.filename]
    where = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
    message = " ".join(str(error).split())[:200]
    return f"{type(error).__name__}{where}: {message}"


# --- the worker process --------------------------------------------------------------------


class Worker:
    """A subprocess that checks one case at a time under the memory limit; restarted after
    a hang (killed) or a death.

    ``boundscheck`` compiles the numba kernels with bounds checks (in a cache folder of
    their own, so the first start compiles for a minute or two): an out-of-bounds access,
    which would otherwise corrupt memory silently, then raises IndexError, a crash.
    """

    def __init__(
        self, memory: int = MEMORY_LIMIT, time_limit: float = TIME_LIMIT, boundscheck: bool = False
    ) -> None:
        self.memory, self.time_limit, self.boundscheck = memory, time_limit, boundscheck
        self.process: subprocess.Popen | None = None

    def check(self, case: Case) -> tuple[str, str]:
        if self.process is None:
            self.start()
        assert self.process is not None and self.process.stdin and self.process.stdout
        try:
            self.process.stdin.write(_FRAME.pack(_KINDS[case.kind], len(case.data)) + case.data)
            self.process.stdin.flush()
        except BrokenPipeError:
            return self._died()
        ready, _, _ = select.select([self.process.stdout], [], [], self.time_limit)
        if not ready:
            self.close()
            return "hang", f"no answer within {self.time_limit:g} s"
        line = self.process.stdout.readline()
        if not line:
            return self._died()
        answer = json.loads(line)
        return answer["outcome"], answer["detail"]

    def start(self) -> None:
        """Start the process and wait until it has loaded the library."""
        environment = {**os.environ, "NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
        if self.boundscheck:
            cache = Path(tempfile.gettempdir()) / "jpegzip-fuzz-numba-boundscheck"
            environment.update(NUMBA_BOUNDSCHECK="1", NUMBA_CACHE_DIR=str(cache))
        command = [sys.executable, str(Path(__file__)), "--worker", str(self.memory)]
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=environment
        )
        assert self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], _STARTUP_LIMIT)
        if not ready or self.process.stdout.readline() != b"ready\n":
            self.close()
            raise RuntimeError("the fuzz worker did not start")

    def _died(self) -> tuple[str, str]:
        assert self.process is not None
        status = self.process.wait()
        self.process = None
        if status < 0:  # killed by a signal: SIGSEGV/SIGABRT are crashes; SIGKILL is memory
            name = signal.Signals(-status).name
            return ("memory" if name == "SIGKILL" else "crash"), f"worker killed by {name}"
        return "crash", f"worker exited with status {status}"

    def close(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def _serve(memory: int) -> None:
    """Worker main loop: frames in on stdin, one JSON line out per frame on the real stdout
    (fd 1 is pointed at stderr, so that nothing the library prints can garble answers)."""
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    answers = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    _warm_up()
    answers.write(b"ready\n")
    answers.flush()
    frames = sys.stdin.buffer
    while header := frames.read(_FRAME.size):
        kind, length = _FRAME.unpack(header)
        data = frames.read(length)
        outcome, detail = check("jpeg" if kind == b"j" else "jrz", data)
        answers.write(json.dumps({"outcome": outcome, "detail": detail}).encode() + b"\n")
        answers.flush()


def _warm_up() -> None:
    """Compile before the first case what a case may need: the codec (api.warm_up) and the
    progressive scan kernels (a first compile of those inside a case can outlast the time
    limit on a loaded machine, and would read as a hang)."""
    import io

    from PIL import Image

    from jpegzip import api

    api.warm_up()
    progressive = io.BytesIO()
    Image.new("RGB", (32, 32), (90, 140, 200)).save(progressive, "JPEG", progressive=True)
    api.decompress(api.compress(progressive.getvalue(), device="cpu"))


# --- campaigns -----------------------------------------------------------------------------


def cases(seeds: list[Seed], campaign: int, first: int = 0) -> Iterator[Case]:
    """Cases ``first``, ``first`` + 1, ... of a campaign, endlessly."""
    index = first
    while True:
        yield make_case(seeds, campaign, index)
        index += 1


def run(
    seeds: list[Seed],
    campaign: int,
    count: int | None = None,
    seconds: float | None = None,
    worker: Worker | None = None,
    on_bad: Callable[[Case, str, str], None] | None = None,
    first: int = 0,
) -> Summary:
    """Check ``count`` cases from case ``first`` on (or as many as fit in ``seconds``) in
    one worker process."""
    summary = Summary()
    started = time.monotonic()
    own = worker is None
    worker = worker or Worker()
    try:
        for case in cases(seeds, campaign, first):
            if summary.cases == count or (
                seconds is not None and time.monotonic() - started >= seconds
            ):
                break
            outcome, detail = worker.check(case)
            summary.cases += 1
            summary.outcomes[outcome] += 1
            summary.kinds[case.kind] += 1
            if outcome in BAD:
                summary.failures.append(
                    {"index": case.index, "seed": case.seed, "mutations": list(case.mutations),
                     "outcome": outcome, "detail": detail}
                )  # fmt: skip
                if on_bad is not None:
                    on_bad(case, outcome, detail)
    finally:
        if own:
            worker.close()
    summary.seconds = time.monotonic() - started
    return summary


if __name__ == "__main__" and sys.argv[1:2] == ["--worker"]:
    _serve(int(sys.argv[2]))

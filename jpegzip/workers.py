"""A pool of worker processes that start once, stay busy, and stop without leaving debris.

Each worker loads the model once (``api.warm_up``) and then converts file after file; a
couple of tasks wait per worker, so a batch of small files is not dominated by start-up and
an interrupt is not held up by a long queue. Stopping: Ctrl-C reaches the parent only
(workers ignore SIGINT); the parent sends each worker SIGTERM, on which a busy worker unwinds
through the atomic write's cleanup (no temporary file survives) and an idle one exits.
Knows nothing of files: it calls a picklable function on picklable items.
"""

from __future__ import annotations

import importlib.machinery
import itertools
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from . import api

Item = TypeVar("Item")
_TASKS_PER_WORKER = 2
_EXIT_TERMINATED = 128 + signal.SIGTERM
_busy = False  # in a worker: set while it works on an item, read by its SIGTERM handler


def run_in_pool(
    function: Callable[..., Any],
    items: Iterable[Item],
    extra: tuple,
    workers: int,
    record: Callable[[Any], None],
    lost: Callable[[Item], None],
) -> None:
    """``record(function(item, *extra))`` for every item, in completion order, in ``workers``
    processes. Items held by a worker that died are passed to ``lost`` and a fresh pool takes
    the rest. An exception (KeyboardInterrupt included) stops every worker, then propagates."""
    queue: Iterator[Item] = iter(items)
    while True:
        broken, unsent = _run_one_pool(function, queue, extra, workers, record)
        for item in broken:
            lost(item)
        if not broken and not unsent:
            return
        queue = itertools.chain(unsent, queue)


def _run_one_pool(
    function: Callable[..., Any],
    queue: Iterator[Item],
    extra: tuple,
    workers: int,
    record: Callable[[Any], None],
) -> tuple[list[Item], list[Item]]:
    """Run items from ``queue`` until it is empty or the pool breaks; returns the items that
    were in a broken pool and the one a broken pool refused before it started (both empty
    when all went well)."""
    executor = ProcessPoolExecutor(workers, _process_context(), initializer=_start_worker)
    pending: dict[Future, Item] = {}
    broken: list[Item] = []
    unsent: list[Item] = []

    def submit(count: int) -> None:
        for item in itertools.islice(queue, count):
            try:
                pending[executor.submit(_call, function, item, extra)] = item
            except BrokenProcessPool:  # a worker died since the last completion was seen
                unsent.append(item)
                return

    try:
        submit(workers * _TASKS_PER_WORKER)
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                item = pending.pop(future)
                try:
                    record(future.result())
                except BrokenProcessPool:
                    broken.append(item)
                if not broken and not unsent:
                    submit(1)
    except BaseException:
        _stop_workers(executor)
        raise
    finally:
        executor.shutdown(wait=True, cancel_futures=True)
    return broken, unsent


def _process_context():
    """forkserver where there is one: its server warms up once (``jpegzip.warm_server``) and
    every worker forks from it ready to work, and a threaded parent is never forked.
    Elsewhere, or where the server would import another jpegzip, spawn, and each worker
    warms up on its own."""
    if "forkserver" not in multiprocessing.get_all_start_methods() or _shadowed_here():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["jpegzip.warm_server"])
    return context


def _shadowed_here() -> bool:
    """Whether the working folder holds a jpegzip other than this process's (a source
    checkout, with the package installed normally). The fork server is started with
    ``python -c``, which puts the working folder first on its sys.path, and before
    CPython 3.12.8 / 3.13.1 (gh-117378) it never took the parent's: its preload would
    import that jpegzip, and every worker would inherit it. Spawned workers take the
    parent's sys.path before they import anything."""
    package = __name__.rpartition(".")[0]
    found = importlib.machinery.PathFinder.find_spec(package, [os.getcwd()])
    if found is None or found.loader is None:  # nothing, or a plain folder of that name
        return False

    def places(paths: Iterable[str] | None) -> list[str]:
        return sorted(os.path.realpath(path) for path in paths or ())

    return places(found.submodule_search_locations) != places(sys.modules[package].__path__)


def _stop_workers(executor: ProcessPoolExecutor) -> None:
    terminate = getattr(executor, "terminate_workers", None)  # Python 3.14+
    if terminate is not None:
        terminate()
        return
    for process in list((getattr(executor, "_processes", None) or {}).values()):
        if process.is_alive():
            process.terminate()


def prepare_process() -> None:
    """One thread per process for the numeric libraries (the pool is the parallelism), then
    load the codec, model and kernels. Idempotent; never raises. The limits count because
    nothing a worker imports before this loads numpy or numba, which read them as they
    load (tests/test_process_imports.py)."""
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ.setdefault(name, "1")
    # torch.cuda.is_available() through NVML: asking does not initialise CUDA, so a forked
    # worker can still use the GPU (--device auto).
    os.environ.setdefault("PYTORCH_NVML_BASED_CUDA_CHECK", "1")
    api.warm_up()


def _start_worker() -> None:
    """Once per worker: leave Ctrl-C to the parent, stop cleanly on SIGTERM, be warm."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _on_terminate)
    prepare_process()


def _on_terminate(signum: int, frame: object) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if _busy:
        raise KeyboardInterrupt  # unwinds through the atomic write's cleanup
    os._exit(_EXIT_TERMINATED)


def _call(function: Callable[..., Any], item: Any, extra: tuple) -> Any:
    global _busy
    _busy = True
    try:
        return function(item, *extra)
    except KeyboardInterrupt:
        os._exit(_EXIT_TERMINATED)  # stopped by the parent; the cleanup has run
    finally:
        _busy = False

"""``jpegzip cluster compress|decompress SRC DST``: one folder tree, converted on a Dask cluster.

A sub-app of the ``jpegzip`` command (cli.py registers it). At import it needs typer only,
so ``jpegzip --help`` never loads dask; the engine (``jpegzip.cluster``: dask, fsspec) is
imported when a command runs, and its absence is a one-line error naming the extra to
install. Output, progress, summary and exit statuses are the local batch's (0, 1, 2, 3, 130).
"""

from __future__ import annotations

import signal
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from .cli_shared import (
    EXAMPLES,
    EXIT_FAILED,
    EXIT_HELP,
    EXIT_INTERRUPTED,
    Bpp,
    Debug,
    Device,
    Json,
    Level,
    MaxCoefficients,
    MaxInputSize,
    Psnr,
    Quiet,
    Rate,
    Verbose,
    finish_batch,
    make_options,
    parse_level,
    stderr_console,
)
from .limits import MAX_COEFFICIENTS, MAX_INPUT_BYTES
from .options import DEFAULT_LEVEL

if TYPE_CHECKING:
    from types import ModuleType

    from rich.console import Console

    from .options import Options

app = typer.Typer(
    name="cluster",
    help="Convert a whole folder tree on a Dask cluster (needs: pip install 'jpegzip[cluster]').",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    rich_markup_mode=None,
)

Source = Annotated[
    str,
    typer.Argument(
        help="The folder to convert: a path or an fsspec URL (s3://bucket/photos, gs://..., "
        "memory://...). Its whole tree is taken.",
        metavar="SRC",
        show_default=False,
    ),
]
Destination = Annotated[
    str,
    typer.Argument(
        help="The folder for the outputs (mirroring SRC) and the manifest; may be SRC.",
        metavar="DST",
        show_default=False,
    ),
]
Scheduler = Annotated[
    str | None,
    typer.Option(
        metavar="ADDRESS",
        help="The Dask scheduler to use (tcp://host:8786). Default: start a LocalCluster here.",
        show_default=False,
    ),
]
SchedulerFile = Annotated[
    str | None,
    typer.Option(
        metavar="FILE",
        help="Read the scheduler's address from this file (dask-jobqueue, dask-mpi).",
        show_default=False,
    ),
]
Workers = Annotated[
    int | None,
    typer.Option(
        "--workers",
        "-j",
        min=1,
        metavar="N",
        help="Worker processes of the LocalCluster, one thread each. Default: one per core.",
        show_default=False,
    ),
]
FilesPerTask = Annotated[
    int | None,
    typer.Option(
        min=1,
        metavar="N",
        help="Files per Dask task. Default: about 8 tasks per worker thread, 1 to 64 files each.",
        show_default=False,
    ),
]
Overwrite = Annotated[
    bool, typer.Option("--force", "-f", help="Overwrite existing outputs; trust no manifest.")
]
Recheck = Annotated[
    bool,
    typer.Option(
        "--recheck",
        help="Verify every existing output by decoding it, rather than trusting the manifest.",
    ),
]
_EXTRA = "pip install 'jpegzip[cluster]'"


@app.command(
    epilog=EXAMPLES + "  jpegzip cluster compress photos/ archive/                # LocalCluster\n"
    "  jpegzip cluster compress s3://bucket/photos s3://bucket/archive "
    "--scheduler tcp://head:8786\n"
    "  jpegzip cluster compress photos/ archive/ --scheduler-file scheduler.json --json\n"
    "  jpegzip cluster compress photos/ archive/ --rate 0.9          # lossy, as compress\n\n"
    + EXIT_HELP
)
def compress(
    source: Source,
    destination: Destination,
    scheduler: Scheduler = None,
    scheduler_file: SchedulerFile = None,
    workers: Workers = None,
    files_per_task: FilesPerTask = None,
    rate: Rate = 1.0,
    bpp: Bpp = None,
    psnr: Psnr = None,
    device: Device = "auto",
    level: Level = str(DEFAULT_LEVEL),
    max_input_size: MaxInputSize = MAX_INPUT_BYTES,
    max_coefficients: MaxCoefficients = MAX_COEFFICIENTS,
    force: Overwrite = False,
    recheck: Recheck = False,
    quiet: Quiet = False,
    verbose: Verbose = False,
    json_output: Json = False,
    debug: Debug = False,
) -> None:
    """Compress every JPEG under SRC into a .jrz under DST (verified before writing).

    Files that are not JPEGs are skipped; a rerun skips the outputs that the manifest
    (DST/jpegzip-manifest.jsonl) or a decode proves done for the same target, so a killed
    job resumes. Lossy targets (--rate below 1, --bpp, --psnr) work as in jpegzip compress.
    """
    options = make_options(
        rate=rate, bpp=bpp, psnr=psnr, device=device, level=parse_level(level),
        max_input_bytes=max_input_size, max_coefficients=max_coefficients,
    )  # fmt: skip
    cluster = (scheduler, scheduler_file, workers, files_per_task)
    flags = (force, recheck, quiet, verbose, json_output, debug)
    _run(True, source, destination, cluster, flags, options)


@app.command(
    epilog=EXAMPLES + "  jpegzip cluster decompress archive/ photos/\n"
    "  jpegzip cluster decompress s3://bucket/archive restored/ --scheduler tcp://head:8786\n\n"
    + EXIT_HELP
)
def decompress(
    source: Source,
    destination: Destination,
    scheduler: Scheduler = None,
    scheduler_file: SchedulerFile = None,
    workers: Workers = None,
    files_per_task: FilesPerTask = None,
    device: Device = "auto",
    max_input_size: MaxInputSize = MAX_INPUT_BYTES,
    max_coefficients: MaxCoefficients = MAX_COEFFICIENTS,
    force: Overwrite = False,
    recheck: Recheck = False,
    quiet: Quiet = False,
    verbose: Verbose = False,
    json_output: Json = False,
    debug: Debug = False,
) -> None:
    """Decompress every .jrz under SRC back into its original JPEG under DST."""
    options = make_options(
        device=device, max_input_bytes=max_input_size, max_coefficients=max_coefficients
    )
    cluster = (scheduler, scheduler_file, workers, files_per_task)
    flags = (force, recheck, quiet, verbose, json_output, debug)
    _run(False, source, destination, cluster, flags, options)


def _run(
    compressing: bool,
    source: str,
    destination: str,
    cluster: tuple[str | None, str | None, int | None, int | None],
    flags: tuple[bool, bool, bool, bool, bool, bool],
    options: Options,
) -> None:
    """Check the flags, plan, connect, run with progress, summarise, exit."""
    from . import display
    from .batch import describe_error
    from .errors import JpegzipError

    scheduler, scheduler_file, workers, files_per_task = cluster
    force, recheck, quiet, verbose, json_output, debug = flags
    if quiet and verbose:
        raise typer.BadParameter("choose one of --quiet and --verbose", param_hint="'-q' / '-v'")
    if workers is not None and (scheduler or scheduler_file):
        raise typer.BadParameter("is for the LocalCluster, not with --scheduler", param_hint="'-j'")
    console = stderr_console()
    engine = _engine(console)
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # SIGTERM stops like Ctrl-C
    try:
        job = engine.new_job(source, destination, compressing, options, force)
    except (ValueError, ImportError) as error:  # an unknown protocol, a missing fsspec driver
        raise typer.BadParameter(str(error), param_hint="SRC / DST") from None
    where = source  # what a failure of the whole job is about: the listing, ...
    try:
        plan = engine.plan(job, recheck)
        where = scheduler or scheduler_file or "LocalCluster"  # ... the scheduler, ...
        with engine.connect(scheduler, scheduler_file, workers) as client:
            where = destination  # ... or the manifest
            if not quiet and (verbose or console.is_terminal):
                console.print(f"dask dashboard: {client.dashboard_link}", highlight=False)
            with display.Progress(console, plan, compressing, quiet, verbose, debug) as progress:
                report = engine.run(plan, client, progress.show, files_per_task)
    except KeyboardInterrupt:  # outside the run (listing, starting the cluster)
        display.print_interrupted(console, None)
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except (JpegzipError, OSError) as error:
        _fail(console, where, *describe_error(error, where))
    if progress.wants_summary():
        display.print_summary(console, report)
    finish_batch(console, report, json_output)


def _engine(console: Console) -> ModuleType:
    """The cluster engine, or a one-line error when the extra is not installed."""
    try:
        from . import cluster
    except ImportError as error:
        message = f"needs the cluster extra: {_EXTRA} ({error})"
        _fail(console, "cluster", "missing-dependency", message)
    return cluster


def _fail(console: Console, where: str, code: str, message: str) -> NoReturn:
    """``jpegzip: <where>: <message> [<code>]`` for a failure of the whole job; exit 1."""
    from . import display

    display.print_error(console, where, message, code)
    raise typer.Exit(EXIT_FAILED)

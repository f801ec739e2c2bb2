"""What the local commands (cli.py) and the cluster ones (cluster_cli.py) share, declared
once so their flags, help, output and exit statuses read the same: the options, the
console, the exit statuses and the closing JSON answer. Neither command module imports
the other's internals."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from .errors import BadOption
from .options import Options

if TYPE_CHECKING:
    from .batch import Report

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="Print errors only.")]
Verbose = Annotated[
    bool, typer.Option("--verbose", "-v", help="A line per file, and the summary, always.")
]
Json = Annotated[bool, typer.Option("--json", help="Write a JSON report to stdout.")]
Debug = Annotated[bool, typer.Option("--debug", help="Show a traceback when a file fails.")]
Rate = Annotated[
    float,
    typer.Option(
        metavar="R",
        help="Target size as a fraction of the lossless size, in (0, 1]; 1.0 is lossless. "
        "Below 1.0 the .jrz decompresses to a new, smaller JPEG (lossy).",
    ),
]
Bpp = Annotated[
    float | None,
    typer.Option(metavar="B", help="Lossy: target size in bits per pixel (instead of --rate)."),
]
Psnr = Annotated[
    float | None,
    typer.Option(
        metavar="DB",
        help="Lossy: the smallest file whose pixels stay at least DB dB PSNR from the "
        "original's (instead of --rate).",
    ),
]
Device = Annotated[
    str,
    typer.Option(
        metavar="[auto|cpu|cuda]",
        help="Where the learned model's network runs (auto: CUDA when torch sees a GPU). "
        "Every device gives the same bytes.",
    ),
]

Level = Annotated[
    str,
    typer.Option(
        "--level",
        "-l",
        metavar="[1|2|max]",
        help="Compression level. 1: fastest, no network (Kodak q75 20.9 % smaller, camera "
        "photos 23.3 %; 1.6-1.9x as fast as 2). 2 (default): the learned model (22.5 %, "
        "24.0 %). max: the highest level. Lepton: 19.4 %, 22.3 %, 10-16x faster. "
        "Decompression reads the level from the .jrz.",
    ),
]



def parse_level(text: str) -> int | str:
    """``--level``'s text as Options takes it: a number, or "max"."""
    return int(text) if text.strip().isdigit() else text.strip().lower()


def make_options(**fields: Any) -> Options:
    """The options from the flags of a command; a value Options refuses is a usage error
    (exit 2) that names those flags."""
    try:
        return Options(**fields)
    except BadOption as error:
        flags = " / ".join(f"'--{name.replace('_', '-')}'" for name in fields)
        raise typer.BadParameter(str(error), param_hint=flags) from None


EXAMPLES = "\b\nExamples:\n"


def stderr_console() -> Console:
    """Human output: stderr, no highlighting, long lines kept whole."""
    return Console(stderr=True, soft_wrap=True, highlight=False)


def exit_status(report: Report) -> int:
    """A batch's exit status: 130 if interrupted, 1 if any file failed, else 0."""
    from .batch import Status

    if report.interrupted:
        return EXIT_INTERRUPTED
    return EXIT_FAILED if report.count(Status.FAILED) else 0


def finish(data: Any, status: int) -> None:
    """Write the JSON answer (if any) to stdout and exit with ``status``."""
    if data is not None:
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
        sys.stdout.flush()
    raise typer.Exit(status)

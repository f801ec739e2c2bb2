"""What the local commands (cli.py) and the cluster ones (cluster_cli.py) share, declared
once so their flags, help, output and exit statuses read the same: the options, the
console, the exit statuses and the end of a batch. Neither command module imports the
other's internals."""

from __future__ import annotations

import json
import re
import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from .errors import BadOption
from .limits import MAX_COEFFICIENTS, MAX_INPUT_BYTES
from .options import DEFAULT, Options

if TYPE_CHECKING:
    from typing import NoReturn

    from .batch import Report

EXIT_FAILED = 1  # a file failed (the others went on)
EXIT_USAGE = 2  # bad usage (Click's own)
EXIT_INTERNAL_ERROR = 3  # a bug in jpegzip met a file: stored whole, or left as it was
EXIT_INTERRUPTED = 130  # Ctrl-C or SIGTERM
EXIT_HELP = (
    "Exit status: 0 when every file was converted, stored or skipped; 1 when a file failed; "
    "2 for bad usage; 3 when a file met an internal error (a bug in jpegzip: the file was "
    "stored whole, or left as it was; please report it), before 1; 130 when interrupted."
)

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
_SIZE = re.compile(r"\s*(\d+(?:\.\d*)?)\s*(?:([KMGT])(I?B)?|B)?\s*", re.IGNORECASE)
_UNITS = "KMGT"


def parse_size(text: str | int) -> int:
    """A size as the limit flags take it: a number, or one with K, M, G or T (powers of
    1024; KiB... too) or KB, MB, GB, TB (powers of 1000): 300M, 1.5G, 500000000."""
    if isinstance(text, int):  # a default
        return text
    match = _SIZE.fullmatch(text)
    if match is None:
        raise typer.BadParameter(f"{text!r} is not a size (for example 300M, 2G, 500000000)")
    number, unit, tail = match.groups()
    base = 1000 if tail is not None and tail.upper() == "B" else 1024
    size = int(float(number) * base ** (_UNITS.index(unit.upper()) + 1 if unit else 0))
    if size < 1:
        raise typer.BadParameter(f"{text!r} is less than 1")
    return size


def show_size(size: int) -> str:
    """A size as the flags take it, shortest first: 256M for 268435456."""
    for power in range(len(_UNITS), 0, -1):
        if size % 1024**power == 0:
            return f"{size // 1024**power}{_UNITS[power - 1]}"
    return str(size)


MaxInputSize = Annotated[
    int,
    typer.Option(
        "--max-input-size",
        metavar="SIZE",
        parser=parse_size,
        help="The largest input taken, JPEG or .jrz (nor a .jrz whose original is larger): "
        "bytes, or with K, M, G (powers of 1024) or KB, MB, GB (powers of 1000). "
        f"Default: {show_size(MAX_INPUT_BYTES)}.",
        show_default=False,
    ),
]
MaxCoefficients = Annotated[
    int,
    typer.Option(
        "--max-coefficients",
        metavar="N",
        parser=parse_size,
        help="The most DCT coefficients (64 per 8x8 block) an image may hold; a larger JPEG "
        "is stored whole, a .jrz of one refused. Same suffixes as --max-input-size. "
        f"Default: {show_size(MAX_COEFFICIENTS)} (16384 x 16384 in grayscale, about 180 MP "
        "in 4:2:0).",
        show_default=False,
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
        help="Compression level. 1: fastest, no network (Kodak q75 21.1 % smaller, camera "
        "photos 23.3 %; 1.6-1.9x as fast as 2). 2 (default): the learned model (22.7 %, "
        "24.0 %). max: the highest level. Lepton: 19.4 %, 22.3 %, 6-13x faster to compress. "
        "Decompression reads the level from the .jrz.",
    ),
]



def parse_level(text: str) -> int | str:
    """``--level``'s text as Options takes it: a number, or "max"."""
    return int(text) if text.strip().isdigit() else text.strip().lower()


def make_options(**fields: Any) -> Options:
    """The options from the flags of a command; a value Options refuses is a usage error
    (exit 2) that names the flags given (all of them, if they were all defaults)."""
    try:
        return Options(**fields)
    except BadOption as error:
        given = [name for name, value in fields.items() if value != getattr(DEFAULT, name)]
        flags = " / ".join(f"'--{_FLAG_OF.get(name, name)}'" for name in given or fields)
        raise typer.BadParameter(str(error), param_hint=flags) from None


_FLAG_OF = {"max_input_bytes": "max-input-size", "max_coefficients": "max-coefficients"}


EXAMPLES = "\b\nExamples:\n"


def stderr_console() -> Console:
    """Human output: stderr, no highlighting, long lines kept whole."""
    return Console(stderr=True, soft_wrap=True, highlight=False)


def exit_status(report: Report) -> int:
    """A batch's exit status: 130 if interrupted, 3 if a file met an internal error, 1 if
    any file failed, else 0."""
    from .batch import Status

    if report.interrupted:
        return EXIT_INTERRUPTED
    if report.summary()["internal_errors"]:
        return EXIT_INTERNAL_ERROR
    return EXIT_FAILED if report.count(Status.FAILED) else 0


def finish_batch(console: Console, report: Report, json_output: bool) -> NoReturn:
    """The end of a batch, local or on a cluster: the closing lines (internal errors, an
    interrupt), the JSON answer (with ``--json``), the exit status."""
    from . import display

    status = exit_status(report)
    display.print_internal_errors(console, report)
    if report.interrupted:
        display.print_interrupted(console, report)
    finish({**report.to_json(), "exit_status": status} if json_output else None, status)


def finish(data: Any, status: int) -> NoReturn:
    """Write the JSON answer (if any) to stdout and exit with ``status``."""
    if data is not None:
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
        sys.stdout.flush()
    raise typer.Exit(status)

"""The ``jpegzip`` command: arguments -> a batch (or one stream) -> progress, lines, summary.

Human output goes to stderr, data to stdout (``--json``, or the converted bytes of ``-``).
Exit statuses: cli_shared.EXIT_HELP (--help shows it). Everything heavy (the
codec, numba, the model, the batch machinery) is imported only once a command runs, so
``--help`` and ``--version`` start fast.
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

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
    finish,
    finish_batch,
    make_options,
    parse_level,
    stderr_console,
)
from .cluster_cli import app as cluster_app
from .errors import BadOption
from .limits import MAX_COEFFICIENTS, MAX_INPUT_BYTES
from .options import DEFAULT_LEVEL

if TYPE_CHECKING:
    from .batch import Report
    from .options import Options

app = typer.Typer(
    name="jpegzip",
    help="Make JPEG files smaller, losslessly: .jpg -> .jrz -> the same .jpg, byte for byte.",
    epilog=EXIT_HELP,
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    rich_markup_mode=None,
)
app.add_typer(cluster_app, name="cluster")  # typer only at import: dask loads when it runs

STREAM = "-"

Inputs = Annotated[
    list[str],
    typer.Argument(
        help="Files, folders (with -r) or glob patterns; - for stdin.",
        metavar="FILE",
        show_default=False,
    ),
]
Output = Annotated[
    str | None,
    typer.Option(
        "--output",
        "-o",
        help="Output file (one input; - for stdout), or a folder: an existing one, one ending "
        "in /, or one for several inputs; folders walked with -r are mirrored in it. "
        "Default: next to each input.",
        metavar="PATH",
        show_default=False,
    ),
]
Recursive = Annotated[
    bool, typer.Option("--recursive", "-r", help="Convert the files in folders, and below.")
]
Jobs = Annotated[
    int | None,
    typer.Option(
        "--jobs",
        "-j",
        min=1,
        metavar="N",
        help="Worker processes. Default: one per core. A large photo (from ~8 MP) is also "
        "coded in parts on several threads; workers and threads share the cores.",
        show_default=False,
    ),
]
Force = Annotated[bool, typer.Option("--force", "-f", help="Overwrite existing output files.")]
Keep = Annotated[
    bool,
    typer.Option(
        "--keep/--rm",
        help="Keep the inputs (default), or remove each one once its output is written, "
        "synced and verified from disk.",
    ),
]


def _show_version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            number = version("jpegzip")
        except PackageNotFoundError:
            number = "unknown (not installed)"
        typer.echo(f"jpegzip {number}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_show_version, is_eager=True, help="Show the version and exit."
        ),
    ] = False,
) -> None:
    """Make JPEG files smaller, losslessly: .jpg -> .jrz -> the same .jpg, byte for byte."""


@app.command(
    epilog=EXAMPLES + "  jpegzip compress photo.jpg                   # writes photo.jrz\n"
    "  jpegzip compress *.jpg -o archive/           # writes archive/*.jrz\n"
    "  jpegzip compress -r photos/ -o archive/ -j 4 --json > report.json\n"
    "  jpegzip compress -r photos/ --rm             # replaces each .jpg by a verified .jrz\n"
    "  cat photo.jpg | jpegzip compress - > photo.jrz\n"
    "  jpegzip compress photo.jpg --rate 0.9         # lossy: 90 % of the lossless size\n"
    "  jpegzip compress photo.jpg --psnr 42          # lossy: smallest file at 42 dB\n"
    "  jpegzip compress -r photos/ --level 1         # fastest level\n\n" + EXIT_HELP
)
def compress(
    files: Inputs,
    output: Output = None,
    recursive: Recursive = False,
    jobs: Jobs = None,
    force: Force = False,
    keep: Keep = True,
    quiet: Quiet = False,
    verbose: Verbose = False,
    json_output: Json = False,
    debug: Debug = False,
    rate: Rate = 1.0,
    bpp: Bpp = None,
    psnr: Psnr = None,
    device: Device = "auto",
    level: Level = str(DEFAULT_LEVEL),
    max_input_size: MaxInputSize = MAX_INPUT_BYTES,
    max_coefficients: MaxCoefficients = MAX_COEFFICIENTS,
) -> None:
    """Compress JPEG files into .jrz files, losslessly by default (verified before writing).

    Files found in folders that are not JPEGs are skipped with a warning; a rerun skips the
    outputs that already exist and verify, so an interrupted batch resumes.

    Lossy (--rate below 1, --bpp or --psnr): the .jrz decompresses to a new baseline JPEG
    with the original's metadata, as close to the original's pixels as the size allows;
    the original cannot be recovered from it, so --rm is refused. A file lossy mode cannot
    improve on (or with data after its end, like an MPO) keeps its lossless .jrz, and says
    why. A rerun skips the lossy outputs made from the same source for the same target,
    and the lossless ones lossy mode keeps.
    """
    options = make_options(
        rate=rate, bpp=bpp, psnr=psnr, device=device, level=parse_level(level),
        max_input_bytes=max_input_size, max_coefficients=max_coefficients,
    )  # fmt: skip
    if options.target is not None and not keep:
        raise typer.BadParameter(
            "lossy output cannot give the original back: keep the originals", param_hint="'--rm'"
        )
    flags = (recursive, jobs, force, keep, quiet, verbose, json_output, debug)
    _convert(True, files, output, *flags, options)


@app.command(
    epilog=EXAMPLES + "  jpegzip decompress photo.jrz                 # writes photo.jpg\n"
    "  jpegzip decompress photo.jrz -o out.jpg      # writes out.jpg\n"
    "  jpegzip decompress -r archive/ -o photos/    # mirrors archive/ as JPEGs\n"
    "  jpegzip decompress - < photo.jrz > photo.jpg\n\n" + EXIT_HELP
)
def decompress(
    files: Inputs,
    output: Output = None,
    recursive: Recursive = False,
    jobs: Jobs = None,
    force: Force = False,
    keep: Keep = True,
    quiet: Quiet = False,
    verbose: Verbose = False,
    json_output: Json = False,
    debug: Debug = False,
    device: Device = "auto",
    max_input_size: MaxInputSize = MAX_INPUT_BYTES,
    max_coefficients: MaxCoefficients = MAX_COEFFICIENTS,
) -> None:
    """Decompress .jrz files back into the original JPEGs, byte for byte.

    Walking a folder (-r) takes its .jrz files only.
    """
    options = make_options(
        device=device, max_input_bytes=max_input_size, max_coefficients=max_coefficients
    )
    flags = (recursive, jobs, force, keep, quiet, verbose, json_output, debug)
    _convert(False, files, output, *flags, options)


@app.command(
    epilog=EXAMPLES
    + "  jpegzip info photo.jrz\n  jpegzip info archive/*.jrz --json | jq '.[].mode'"
)
def info(
    files: Annotated[
        list[Path], typer.Argument(help=".jrz files.", metavar="FILE", show_default=False)
    ],
    json_output: Json = False,
    debug: Debug = False,
) -> None:
    """Describe .jrz files: mode, sizes, checksum, image, metadata kinds, model (no decoding)."""
    from . import api, display
    from .inspection import inspect

    console = stderr_console()
    answers, failed = [], False
    for path in files:
        try:
            facts = {"file": str(path), **inspect(api.read_input(path))}
        except Exception as error:
            answers.append(_error_answer(console, path, error, debug))
            failed = True
            continue
        answers.append(facts)
        if not json_output:
            display.print_info(console, facts)
    finish(answers if json_output else None, EXIT_FAILED if failed else 0)


@app.command(
    epilog=EXAMPLES + "  jpegzip verify photo.jrz\n  jpegzip verify photo.jrz photo.jpg --json"
)
def verify(
    file: Annotated[
        Path, typer.Argument(help="The .jrz to check.", metavar="FILE", show_default=False)
    ],
    original: Annotated[
        Path | None,
        typer.Argument(
            help="The original JPEG to compare with.", metavar="ORIGINAL", show_default=False
        ),
    ] = None,
    json_output: Json = False,
    debug: Debug = False,
) -> None:
    """Decode a .jrz fully and check every checksum (and that it equals ORIGINAL, if given)."""
    from . import api

    console = stderr_console()
    try:
        expected = api.read_input(original) if original is not None else None
        result = api.verify(api.read_input(file), expected)
    except Exception as error:
        answer = _error_answer(console, file, error, debug)
        finish({**answer, "ok": False} if json_output else None, EXIT_FAILED)
    answer = {
        "file": str(file),
        "ok": True,
        "mode": result.mode,
        "original_size": result.bytes_out,
        "original_sha256": result.original_sha256.hex(),
        "original": None if original is None else str(original),
        "matches_original": None if original is None else True,
    }
    compared = f"; identical to {original}" if original is not None else ""
    console.print(
        f"{file}: OK, {result.mode}, decodes to {result.bytes_out} bytes "
        f"with the recorded SHA-256{compared}"
    )
    finish(answer if json_output else None, 0)


# --- compress / decompress -----------------------------------------------------------------


def _convert(
    compressing: bool,
    inputs: list[str],
    output: str | None,
    recursive: bool,
    jobs: int | None,
    force: bool,
    keep: bool,
    quiet: bool,
    verbose: bool,
    json_output: bool,
    debug: bool,
    options: Options,
) -> None:
    """Plan, run with progress, print the summary, exit with the batch's status."""
    from . import api, batch, display

    if quiet and verbose:
        raise typer.BadParameter("choose one of --quiet and --verbose", param_hint="'-q' / '-v'")
    console = stderr_console()
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # SIGTERM stops like Ctrl-C
    if not quiet and api.kernels_cold():
        console.print("jpegzip: first run since install: compiling the codec for this "
                      "machine (once, about 20 seconds)")
    try:
        if STREAM in inputs or output == STREAM:
            stream = _Stream(compressing, inputs, output, recursive, force, keep, json_output)
            report = stream.run(options, debug)
        else:
            try:
                plan = batch.plan(inputs, output, recursive, compressing)
            except BadOption as error:
                raise typer.BadParameter(str(error), param_hint="'-o'") from None
            workers = jobs or batch.default_jobs()
            settings = batch.Settings(compressing, force, not keep, workers, options)
            with display.Progress(console, plan, compressing, quiet, verbose, debug) as progress:
                report = batch.run(plan, settings, progress.show)
            if progress.wants_summary():
                display.print_summary(console, report)
    except KeyboardInterrupt:  # outside the batch (walking the folders, reading stdin)
        display.print_interrupted(console, None)
        raise typer.Exit(EXIT_INTERRUPTED) from None
    finish_batch(console, report, json_output)


class _Stream:
    """One input (a file or stdin) to one output (a file or stdout): ``-`` on either side."""

    def __init__(
        self,
        compressing: bool,
        inputs: list[str],
        output: str | None,
        recursive: bool,
        force: bool,
        keep: bool,
        json_output: bool,
    ) -> None:
        self.to_stdout = output in (None, STREAM)
        if len(inputs) != 1 or recursive or not keep:
            raise typer.BadParameter("- takes exactly one input, without -r or --rm")
        if self.to_stdout and json_output:
            raise typer.BadParameter("--json needs stdout; write the output with -o FILE")
        if self.to_stdout and sys.stdout.isatty() and not force:
            raise typer.BadParameter("refusing to write binary data to a terminal (use -o FILE)")
        if inputs[0] == STREAM and sys.stdin.isatty():
            raise typer.BadParameter("refusing to read binary data from a terminal")
        self.compressing, self.source, self.force = compressing, inputs[0], force
        self.name = "<stdin>" if self.source == STREAM else self.source
        self.target = "<stdout>" if self.to_stdout else str(output)

    def run(self, options: Options, debug: bool) -> Report:
        from . import api, batch, display

        try:
            source = sys.stdin.buffer if self.source == STREAM else self.source
            data = api.read_input(source, options)
            if self.compressing:
                converted, result = api.compress_with_result(data, options)
            else:
                converted, result = api.decompress_with_result(data, options)
            if self.to_stdout:
                sys.stdout.buffer.write(converted)
                sys.stdout.buffer.flush()
            else:
                api.save(self.target, converted, self.force)  # atomic, like every output
            outcome = batch.Outcome.converted(self.name, self.target, result, self.compressing)
        except Exception as error:
            outcome = batch.Outcome.failed(self.name, self.target, error, _trace(error))
        report = batch.Report(self.compressing, planned=1, outcomes=[outcome])
        lines = not self.to_stdout  # a pipe stays quiet unless something fails
        display.print_outcome(stderr_console(), outcome, self.compressing, False, lines, debug)
        return report


def _error_answer(console: Console, path: Path, error: Exception, debug: bool) -> dict:
    """Print a one-line error for one file of info/verify; its JSON form."""
    from . import display
    from .batch import Outcome

    outcome = Outcome.failed(str(path), None, error, _trace(error))
    display.print_outcome(console, outcome, False, False, False, debug)
    return {"file": str(path), "error": {"code": outcome.code, "message": outcome.message}}


def _trace(error: BaseException) -> str | None:
    """A bug's traceback, kept for --debug; None for the errors jpegzip expects."""
    import traceback

    from .errors import JpegzipError

    if isinstance(error, (JpegzipError, OSError)):
        return None
    return "".join(traceback.format_exception(error))



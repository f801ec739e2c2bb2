"""The ``jpegzip`` command: arguments -> api calls per file -> one line per file on stderr.

stdout stays free for data. Exit status: 0 when every file succeeded, 1 when any failed,
2 for bad usage (Click's own), 130 when interrupted. The codec is imported only once a
file is processed, so ``--help`` and ``--version`` start fast.
"""

from __future__ import annotations

import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.text import Text

from .errors import JpegzipError, OutputExists

if TYPE_CHECKING:
    from .api import Result

app = typer.Typer(
    name="jpegzip",
    help="Make JPEG files smaller, losslessly: .jpg -> .jrz -> the same .jpg, byte for byte.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
    rich_markup_mode=None,
)

_EXIT_FAILED = 1
_EXIT_INTERRUPTED = 130

Files = Annotated[list[Path], typer.Argument(help="Files to convert.", show_default=False)]
Output = Annotated[
    Path | None,
    typer.Option(
        "--output",
        "-o",
        help="Output file, or an existing folder to put the outputs in "
        "(must be a folder when several files are given). Default: next to each input.",
        show_default=False,
    ),
]
Force = Annotated[bool, typer.Option("--force", "-f", help="Overwrite existing output files.")]
Debug = Annotated[bool, typer.Option("--debug", help="Show a traceback when a file fails.")]


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
    epilog="\b\nExamples:\n"
    "  jpegzip compress photo.jpg              # writes photo.jrz\n"
    "  jpegzip compress *.jpg -o archive/      # writes archive/*.jrz"
)
def compress(files: Files, output: Output = None, force: Force = False, debug: Debug = False):
    """Compress JPEG files into .jrz files, losslessly (verified before writing)."""
    _run(files, output, force, debug, compressing=True)


@app.command(
    epilog="\b\nExamples:\n"
    "  jpegzip decompress photo.jrz            # writes photo.jpg\n"
    "  jpegzip decompress photo.jrz -o out.jpg # writes out.jpg"
)
def decompress(files: Files, output: Output = None, force: Force = False, debug: Debug = False):
    """Decompress .jrz files back into the original JPEGs, byte for byte."""
    _run(files, output, force, debug, compressing=False)


def _run(files: list[Path], output: Path | None, force: bool, debug: bool, compressing: bool):
    """Convert each file, report each on one line, and exit with the batch's status."""
    from . import api  # the codec behind it loads lazily, on the first file

    convert = api.compress_file if compressing else api.decompress_file
    suffix = ".jrz" if compressing else ".jpg"
    if output is not None and len(files) > 1 and not output.is_dir():
        raise typer.BadParameter(
            "must be an existing folder when several files are given", param_hint="'-o'"
        )
    console = Console(stderr=True, soft_wrap=True, highlight=False)
    failures = 0
    for source in files:
        try:
            destination = _destination(source, output, suffix)
            result = convert(source, destination, force=force)
        except KeyboardInterrupt:
            _print_error(console, source, "interrupted", "interrupted")
            raise typer.Exit(_EXIT_INTERRUPTED) from None
        except Exception as error:  # one bad file never stops the batch
            failures += 1
            message, code = _describe(error, source)
            _print_error(console, source, message, code)
            if debug:
                traceback.print_exc()
        else:
            _print_result(console, source, destination, result, compressing)
    if failures:
        raise typer.Exit(_EXIT_FAILED)


def _destination(source: Path, output: Path | None, suffix: str) -> Path:
    if output is None:
        return source.with_suffix(suffix)
    if output.is_dir():
        return output / source.with_suffix(suffix).name
    return output


def _describe(error: Exception, source: Path) -> tuple[str, str]:
    """The one-line message and stable code shown for a failed file."""
    if isinstance(error, OutputExists):
        return f"{error} (use --force to overwrite)", error.code
    if isinstance(error, JpegzipError):
        return str(error), error.code
    if isinstance(error, OSError):
        message = error.strerror or str(error)
        if error.filename is not None and str(error.filename) != str(source):
            message = f"{message}: {error.filename}"
        return message, "io-error"
    return (
        f"internal error: {type(error).__name__}: {error} (rerun with --debug for a traceback)",
        "internal-error",
    )


def _print_error(console: Console, source: Path, message: str, code: str) -> None:
    message = " ".join(message.split())  # one line, whatever the exception's text holds
    line = Text.assemble(("jpegzip: ", "bold red"), f"{source}: {message} [{code}]")
    console.print(line)


def _print_result(
    console: Console, source: Path, destination: Path, result: Result, compressing: bool
) -> None:
    sizes = f"{result.bytes_in} -> {result.bytes_out} bytes"
    if result.mode == "stored" and result.stored_reason:
        mode = Text(f"stored ({result.stored_reason})", style="yellow")
    else:
        mode = Text(result.mode, style="green" if result.mode == "lossless" else "yellow")
    parts = [f"{source} -> {destination}: {sizes}, "]
    if compressing:
        parts.append(f"{_savings(result.bytes_in, result.bytes_out)}, ")
    console.print(Text.assemble(*parts, mode))


def _savings(bytes_in: int, bytes_out: int) -> str:
    saved = 100.0 * (bytes_in - bytes_out) / bytes_in
    return f"{saved:.1f}% smaller" if saved >= 0 else f"{-saved:.1f}% larger"

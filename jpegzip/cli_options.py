"""Command-line options shared by the local commands (cli.py) and the cluster ones
(cluster_cli.py), declared once so their flags and help read the same."""

from __future__ import annotations

from typing import Annotated

import typer

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
        "Below 1.0 (jpegzip compress only, not on a cluster) the .jrz decompresses to a new, "
        "smaller JPEG (lossy).",
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
        help="Compression level. 1: fastest, no network (Kodak q75: 21.0 % smaller, about "
        "twice as fast as 2). 2 (default): the learned model (22.5 %). max: the highest "
        "level. Decompression reads the level from the .jrz.",
    ),
]



def parse_level(text: str) -> int | str:
    """``--level``'s text as Options takes it: a number, or "max"."""
    return int(text) if text.strip().isdigit() else text.strip().lower()


EXAMPLES = "\b\nExamples:\n"

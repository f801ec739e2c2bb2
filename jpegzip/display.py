"""What the jpegzip command shows on stderr: progress, one line per file, summary, info.

The presentation half of the command line (cli.py parses and exits): a rich progress bar on
a terminal, plain lines otherwise, a one-line error per failed file, a summary table.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.text import Text

from .batch import Outcome, Report, Status

if TYPE_CHECKING:
    from .batch import Plan

_SUMMARY_COLUMNS = ("files", "done", "stored", "skipped", "failed", "in", "out", "saved")
_HINTS = {
    "output-exists": " (use --force to overwrite)",
    "internal-error": " (rerun with --debug for a traceback)",
    "limit-exceeded": " (raise it with --max-input-size)",
}


class Progress:
    """What the user sees while a batch runs: a progress bar on a terminal, plain lines
    otherwise (or with -v); failures always; warnings unless -q."""

    def __init__(
        self,
        console: Console,
        plan: Plan,
        compressing: bool,
        quiet: bool,
        verbose: bool,
        debug: bool,
    ) -> None:
        self.console, self.compressing = console, compressing
        self.quiet, self.verbose, self.debug = quiet, verbose, debug
        self.files = len(plan.tasks) + len(plan.problems)
        self.sizes = {str(task.source): task.size for task in plan.tasks}
        self.bar = None
        if console.is_terminal and not quiet and self.files > 1:
            from rich import progress as bar

            self.bar = bar.Progress(
                bar.TextColumn("{task.fields[done]}/{task.fields[files]} files"),
                bar.BarColumn(),
                bar.DownloadColumn(),
                bar.TransferSpeedColumn(),
                bar.TimeRemainingColumn(),
                console=console,
                transient=True,
            )
            total = sum(self.sizes.values()) or 1
            self.task = self.bar.add_task("", total=total, done=0, files=self.files)

    def __enter__(self) -> Progress:
        if self.bar is not None:
            self.bar.start()
        return self

    def __exit__(self, *exc_info) -> None:
        if self.bar is not None:
            self.bar.stop()

    def show(self, outcome: Outcome) -> None:
        """Called by the batch for each finished file."""
        if self.bar is not None:
            done = self.bar.tasks[0].fields["done"] + 1
            self.bar.update(self.task, advance=self.sizes.get(outcome.source, 0), done=done)
        lines = self.verbose or (self.bar is None and not self.quiet)
        print_outcome(self.console, outcome, self.compressing, self.quiet, lines, self.debug)

    def wants_summary(self) -> bool:
        """A table at the end: after a progress bar, or with -v; never for one file."""
        return not self.quiet and self.files > 1 and (self.bar is not None or self.verbose)


def print_outcome(
    console: Console, outcome: Outcome, compressing: bool, quiet: bool, lines: bool, debug: bool
) -> None:
    """Failures and files stored after an internal error always; skipped non-JPEGs unless
    quiet; everything else with ``lines``."""
    if outcome.status is Status.FAILED:
        print_error(console, outcome.source, outcome.message or "", outcome.code or "error")
        if debug and outcome.trace:
            console.print(outcome.trace, markup=False, highlight=False, end="")
    elif outcome.internal_error:  # kept safe, and loud: a bug to report
        line = outcome_line(outcome, compressing)
        note = (": a bug in jpegzip (please report it); the file is safe, and a rerun with "
                "--force redoes it [internal-error]")  # a plain rerun finds it done
        console.print(Text.assemble(("jpegzip: warning: ", "bold yellow"), line, note))
    elif outcome.status is Status.SKIPPED and outcome.reason == "not-jpeg":
        if not quiet:
            warning = f"jpegzip: warning: {outcome.source}: not a JPEG, skipped"
            console.print(Text(warning, style="yellow"))
    elif lines:
        console.print(outcome_line(outcome, compressing))


def outcome_line(outcome: Outcome, compressing: bool) -> Text:
    """``photo.jpg -> photo.jrz: 812345 -> 640000 bytes, 21.2% smaller, lossless``."""
    head = f"{outcome.source} -> {outcome.destination}: "
    if outcome.mode is None:
        return Text(head + "already done (the output verifies), skipped", style="dim")
    parts = [head, f"{outcome.bytes_in} -> {outcome.bytes_out} bytes, "]
    if compressing:
        parts.append(f"{savings(outcome.bytes_in, outcome.bytes_out)}, ")
    if outcome.reason:
        parts.append(Text(f"stored ({outcome.reason})", style="yellow"))
    else:
        parts.append(Text(outcome.mode, style="green" if outcome.mode == "lossless" else "yellow"))
    if outcome.lossy:
        parts.append(f" ({describe_lossy(outcome.lossy)})")
    if outcome.note:
        parts.append(Text(f" ({outcome.note})", style="yellow"))
    return Text.assemble(*parts)


def describe_lossy(lossy: dict[str, Any]) -> str:
    """``0.845 of lossless, 0.599 bpp, PSNR 42.04 dB`` (no PSNR: the pixels are identical)."""
    quality = "pixels identical" if lossy["psnr_db"] is None else f"PSNR {lossy['psnr_db']:.2f} dB"
    return (
        f"{lossy['fraction_of_lossless']:.3f} of lossless, "
        f"{lossy['bits_per_pixel']:.3f} bpp, {quality}"
    )


def print_summary(console: Console, report: Report) -> None:
    """The table at the end of a batch: counts per status, bytes, savings; time and speed
    in its title (the table fits 80 columns)."""
    from rich import box
    from rich.filesize import decimal
    from rich.table import Table

    summary = report.summary()
    speed = decimal(int(report.bytes_in / max(report.seconds, 1e-9)))
    title = f"jpegzip {report.to_json()['command']}: {report.seconds:.1f} s, {speed}/s"
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD)
    for column in _SUMMARY_COLUMNS:
        table.add_column(column, justify="right", no_wrap=True)
    saved = summary["savings_percent"]
    table.add_row(
        str(summary["files"]),
        *(str(summary[status.value]) for status in Status),
        decimal(summary["bytes_in"]),
        decimal(summary["bytes_out"]),
        "-" if saved is None else f"{saved:.1f}%",
    )
    console.print(table)


# --- info / verify / shared ----------------------------------------------------------------


def print_info(console: Console, facts: dict[str, Any]) -> None:
    """``jpegzip info`` for one file: a name line, then one indented line per fact."""
    model = ""
    if facts["model_id"]:
        name = facts.get("model_name") or "not in this jpegzip"
        level = f"level {facts['level']}, " if facts.get("level") else ""
        model = f" ({level}model {name}, {facts['model_id'][:12]})"
    rows = [
        ("mode", f"{facts['mode']}{model}"),
        (
            "sizes",
            f"{facts['original_size']} -> {facts['size']} bytes, "
            f"{savings(facts['original_size'], facts['size'])}",
        ),
        (
            "decodes to" if facts["lossy"] else "original",
            f"SHA-256 {facts['original_sha256']}",
        ),
        ("image", describe_image(facts["image"]) or f"unknown ({facts['image_note']})"),
        (
            "metadata",
            ", ".join(f"{m['kind']} ({m['bytes']} bytes)" for m in facts["metadata"]) or "none",
        ),
    ]
    if facts["lossy"]:
        lossy = facts["lossy"]
        target = f"asked {lossy['target']} {lossy['target_value']:g}"
        rows.append(("lossy", f"{describe_lossy(lossy)} ({target})"))
        rows.append(("source", f"{lossy['source_size']} bytes, SHA-256 {lossy['source_sha256']}"))
    if facts["trailing_bytes"]:
        rows.append(("trailing", f"{facts['trailing_bytes']} bytes after the end of the image"))
    console.print(facts["file"], highlight=False)
    for label, value in rows:
        console.print(f"  {label:<10} {value}", highlight=False)


def describe_image(image: dict[str, Any] | None) -> str | None:
    """``768x512, 3 components, 2x2,1x1,1x1 (4:2:0), baseline, 1 scan(s)``."""
    if image is None:
        return None
    sampling = image["sampling"] + (f" ({image['subsampling']})" if image["subsampling"] else "")
    return (
        f"{image['width']}x{image['height']}, {image['components']} components, "
        f"{sampling}, {image['coding']}, {image['scans']} scan(s)"
    )


def print_internal_errors(console: Console, report: Report) -> None:
    """After a batch of several files, if any met an internal error: how many (each line
    said so), and that they are safe."""
    count = report.summary()["internal_errors"]
    if count and report.planned > 1:
        message = (
            f"{count} of {report.planned} files met an internal error, a bug in jpegzip (see "
            "their lines): each was stored whole or left as it was [internal-error]"
        )
        console.print(Text.assemble(("jpegzip: ", "bold red"), message))


def print_interrupted(console: Console, report: Report | None) -> None:
    """The last line after Ctrl-C or SIGTERM: how far the batch got."""
    where = ""
    if report is not None:
        where = f" after {len(report.outcomes)} of {report.planned} files"
    message = f"interrupted{where}; no partial files left [interrupted]"
    console.print(Text.assemble(("jpegzip: ", "bold red"), message))


def print_error(console: Console, source: str, message: str, code: str) -> None:
    """``jpegzip: <file>: <message> [<code>]``, on one line whatever the message holds."""
    hint = _HINTS.get(code, "")
    if code == "limit-exceeded" and "coefficients" in message:  # the image's, not the file's
        hint = " (raise it with --max-coefficients)"
    prefix = "internal error: " if code == "internal-error" else ""
    line = " ".join(f"{source}: {prefix}{message}{hint} [{code}]".split())
    console.print(Text.assemble(("jpegzip: ", "bold red"), line))


def savings(bytes_in: int, bytes_out: int) -> str:
    """``21.2% smaller`` (or larger: a stored file can grow by a few bytes)."""
    if not bytes_in:
        return "empty input"
    saved = 100.0 * (bytes_in - bytes_out) / bytes_in
    return f"{saved:.1f}% smaller" if saved >= 0 else f"{-saved:.1f}% larger"

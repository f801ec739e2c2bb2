"""Exception hierarchy. Every class has a stable ``code``; codes are never reused."""

from __future__ import annotations


class JpegzipError(Exception):
    """Root of every error jpegzip raises on purpose."""

    code = "error"


class NotJpegError(JpegzipError):
    """The input is not a JPEG at all (empty, no SOI marker)."""

    code = "not-jpeg"


class ContainerError(JpegzipError):
    """A .jrz failed one of its checks (magic, version, length, checksum)."""

    code = "bad-container"


class ModelNotAvailable(JpegzipError):
    """The .jrz was coded with weights that are not installed."""

    code = "model-not-available"


class LimitExceeded(JpegzipError):
    """The input claims more than the configured limits allow."""

    code = "limit-exceeded"


class Unsupported(JpegzipError):
    """Internal signal: this JPEG cannot go through the model; store it whole.

    ``reason`` is a short stable slug shown to users as ``stored (<reason>)``.
    """

    code = "unsupported"

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class VerificationFailed(JpegzipError):
    """Internal signal: decoding our own output did not give the input back."""

    code = "verification-failed"


class OutputExists(JpegzipError):
    """The output file already exists (or is the input) and overwriting was not asked for."""

    code = "output-exists"


class BadOption(JpegzipError, ValueError):
    """An option has a value jpegzip does not accept (a rate outside (0, 1], an unknown device)."""

    code = "bad-option"


class WorkerDied(JpegzipError):
    """A worker process died (killed, out of memory) while it held this file."""

    code = "worker-died"

"""What a lossy compress aims at. Light on purpose: options import it for every run."""

from __future__ import annotations

from dataclasses import dataclass

TARGET_KINDS = ("rate", "bpp", "psnr")


@dataclass(frozen=True)
class Target:
    """What a lossy compress aims at: ``rate`` (a fraction of this file's lossless .jrz
    size), ``bpp`` (bits of .jrz per pixel) or ``psnr`` (the smallest file whose pixels
    stay at least this many dB from the original's)."""

    kind: str
    value: float

    def goal_bytes(self, lossless_size: int, pixels: int) -> float:
        """The .jrz size aimed at (size targets only)."""
        if self.kind == "rate":
            return self.value * lossless_size
        if self.kind == "bpp":
            return self.value * pixels / 8
        raise ValueError(f"{self.kind} is not a size target")

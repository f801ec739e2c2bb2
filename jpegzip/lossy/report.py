"""What a lossy .jrz records about how it was made (its ``lossy`` section, JSON)."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from typing import Any

from ..errors import ContainerError
from .target import TARGET_KINDS


@dataclass(frozen=True)
class LossyReport:
    """The target asked for, the original's lossless .jrz size (so a .jrz's size says what
    fraction of lossless it reached), the PSNR against the original's pixels (None: the
    pixels are identical), the pixel count, and the original JPEG's length and SHA-256."""

    target: str
    target_value: float
    lossless_size: int
    psnr_db: float | None
    pixels: int
    source_length: int
    source_sha256: str

    def fraction_of_lossless(self, jrz_size: int) -> float:
        return jrz_size / self.lossless_size

    def bits_per_pixel(self, jrz_size: int) -> float:
        return 8 * jrz_size / self.pixels

    def summary(self, jrz_size: int) -> dict[str, Any]:
        """The figures a person reads: size as a fraction of lossless, bpp, PSNR."""
        return {
            "target": self.target,
            "target_value": self.target_value,
            "fraction_of_lossless": round(self.fraction_of_lossless(jrz_size), 4),
            "bits_per_pixel": round(self.bits_per_pixel(jrz_size), 4),
            "psnr_db": None if self.psnr_db is None else round(self.psnr_db, 2),
        }

    def to_bytes(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> LossyReport:
        """Parse a ``lossy`` section; anything malformed is a ContainerError."""
        try:
            fields = json.loads(data)
            report = cls(**fields)
            numbers_ok = (
                report.target in TARGET_KINDS
                and math.isfinite(report.target_value)
                and all(isinstance(v, int) and v > 0 for v in
                        (report.lossless_size, report.pixels, report.source_length))
                and (report.psnr_db is None or math.isfinite(report.psnr_db))
                and len(bytes.fromhex(report.source_sha256)) == 32
            )  # fmt: skip
        except (ValueError, TypeError) as error:
            raise ContainerError(f"lossy section: malformed ({error})") from None
        if not numbers_ok:
            raise ContainerError("lossy section: a field is out of range")
        return report


def psnr_field(psnr_db: float) -> float | None:
    """PSNR as the report stores it: None for identical pixels (JSON has no infinity)."""
    return None if math.isinf(psnr_db) else psnr_db

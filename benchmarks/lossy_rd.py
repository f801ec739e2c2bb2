"""Lossy rate-distortion: jpegzip --rate against what users can do today, on the same JPEGs.

For every JPEG: its lossless .jrz size and its Lepton size L, then size -> quality points
for five methods, quality measured against the ORIGINAL JPEG's decoded pixels (libjpeg,
jpeglib): PSNR over the RGB samples, SSIM on BT.601 luma.
  (a) jpegzip lossy: --rate r, the .jrz size;
  (a') the same search with the table ladder switched off (per-coefficient decisions only),
      the lossless .jrz of the JPEG it makes (a lossy .jrz minus its small report section);
  (b) the same coder on the file's table scaled uniformly (coefficients re-rounded, baseline
      JPEG written), then coded losslessly: the .jrz size;
  (c) decode, re-encode with libjpeg (Pillow; standard tables, same subsampling) at
      qualities below the original's, then Lepton: the .lep size;
  (d) JPEG XL lossy from the decoded pixels: the .jxl size.
Every tool runs single-threaded in this one process.

Example:
    python benchmarks/lossy_rd.py --markdown benchmarks/RESULTS.md \
        --json benchmarks/out/lossy_rd.json --plot benchmarks/lossy_rd.png
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import io
import itertools
import json
import math
import os
import shlex
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from benchlib import (
    DATA_DIR,
    SINGLE_THREAD_ENV,
    display_path,
    git_revision,
    list_files,
    load_average,
    machine_line,
    use_repo_checkout,
    write_section,
)

RATES = (0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.98)
SCALES = (1.1, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 4.0)
DISTANCES = (0.5, 0.7, 0.85, 1.0, 1.15, 1.3, 1.5, 1.7, 1.9, 2.1, 2.4, 2.7, 3.0, 3.4, 3.8, 4.5,
             6.0)  # dense where q75/q90 files land at 0.6-1.0 of the lossless size
REENCODE_STEPS = 12  # qualities from the original's minus 1 down to 40 % of it
SIZES_OF_L = (0.95, 0.9, 0.8, 0.7)
BD_RANGE = (0.6, 1.0)  # BD-rate uses the points at these fractions of the lossless size
BD_MIN_POINTS = 4  # a cubic fit
RATE_TOLERANCE = 0.03
PLOT_FROM = 0.65  # plot from this fraction of L (below it not every image is reached)
DEFAULT_SETS = ("kodak-q75", "kodak-q90")
METHODS = {
    "jpegzip": "(a) jpegzip lossy (--rate)",
    "decisions": "(a') the same, decisions only (no learned tables)",
    "scaled": "(b) table scaled, then jpegzip lossless",
    "reencode": "(c) decode + libjpeg re-encode, then Lepton",
    "jxl": "(d) JPEG XL lossy from pixels",
}
_SUBSAMPLING = {(1, 1): "4:4:4", (2, 1): "4:2:2", (2, 2): "4:2:0"}  # luma (h, v), chroma 1x1
_LUMA = np.array([0.299, 0.587, 0.114])  # ITU-R BT.601
_SSIM_TAPS = np.exp(-0.5 * ((np.arange(11) - 5) / 1.5) ** 2)  # Wang et al. 2004: 11 taps,
_SSIM_TAPS /= _SSIM_TAPS.sum()  # sigma 1.5, K1 0.01, K2 0.03
_C1, _C2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
SSIM_NOTE = ("SSIM: Gaussian window 11x11, sigma 1.5 (Wang et al. 2004), over the valid "
             "region of the BT.601 luma, in numpy")

# ----------------------------------------------------------------------------- quality


def luma(pixels: np.ndarray) -> np.ndarray:
    """BT.601 luma (float) of RGB pixels; grayscale as it is."""
    samples = pixels.reshape(pixels.shape[0], pixels.shape[1], -1).astype(np.float64)
    return samples @ _LUMA if samples.shape[2] == 3 else samples[:, :, 0]


def _blur(image: np.ndarray) -> np.ndarray:
    """Separable Gaussian filter, valid region only."""
    n = len(_SSIM_TAPS)
    rows = sum(w * image[i : image.shape[0] - n + 1 + i] for i, w in enumerate(_SSIM_TAPS))
    return sum(w * rows[:, i : rows.shape[1] - n + 1 + i] for i, w in enumerate(_SSIM_TAPS))


def ssim(reference: np.ndarray, other: np.ndarray) -> float:
    """Mean SSIM of two luma images (see SSIM_NOTE)."""
    mu_x, mu_y = _blur(reference), _blur(other)
    var_x = _blur(reference * reference) - mu_x**2
    var_y = _blur(other * other) - mu_y**2
    cov = _blur(reference * other) - mu_x * mu_y
    index = ((2 * mu_x * mu_y + _C1) * (2 * cov + _C2)
             / ((mu_x**2 + mu_y**2 + _C1) * (var_x + var_y + _C2)))
    return float(index.mean())


class Reference:
    """The original JPEG's decoded pixels, and the quality of other pixels against them."""

    def __init__(self, pixels: np.ndarray) -> None:
        self.pixels = pixels
        self.luma = luma(pixels)

    def point(self, setting: float, size: int, pixels: np.ndarray, **extra: Any) -> dict:
        """One rate-distortion point; PSNR None means identical pixels."""
        from jpegzip.lossy.quality import psnr
        from jpegzip.lossy.report import psnr_field

        pixels = pixels.reshape(self.pixels.shape)
        return {"setting": setting, "size": size,
                "psnr": psnr_field(psnr(self.pixels, pixels)),
                "ssim": ssim(self.luma, luma(pixels)), **extra}


# ----------------------------------------------------------------------------- methods


@functools.cache
def _libjpeg_luma_tables() -> dict[int, np.ndarray]:
    """libjpeg's luma table at each quality 1..100, as Pillow writes it."""
    from PIL import Image

    tables = {}
    for quality in range(1, 101):
        buffer = io.BytesIO()
        Image.new("L", (8, 8)).save(buffer, "JPEG", quality=quality)
        tables[quality] = np.array(Image.open(buffer).quantization[0])
    return tables


def libjpeg_quality(jpeg: bytes) -> int:
    """The libjpeg quality whose luma table is nearest the JPEG's."""
    from PIL import Image

    table = np.array(Image.open(io.BytesIO(jpeg)).quantization[0])
    tables = _libjpeg_luma_tables()
    return min(tables, key=lambda q: int(np.abs(tables[q] - table).sum()))


def reencode_qualities(original: int) -> list[int]:
    """About a dozen qualities from ``original - 1`` down to 40 % of it, denser at the top."""
    offsets = np.geomspace(1, 0.6 * original, REENCODE_STEPS)
    return sorted({max(1, round(original - o)) for o in offsets}, reverse=True)


def measure_image(data: bytes, lepton: Callable[[bytes], bytes]) -> dict[str, Any]:
    """Lossless and Lepton sizes of one JPEG and every method's points."""
    import imagecodecs
    from PIL import Image

    from jpegzip import api, codec, container
    from jpegzip.jpeg import read_jpeg
    from jpegzip.jpeg.baseline import write_baseline
    from jpegzip.lossy import Target
    from jpegzip.lossy.encoder import LosslessSizes
    from jpegzip.lossy.ladder import identity_ladder
    from jpegzip.lossy.quality import decoded_pixels
    from jpegzip.lossy.requantize import scale_tables
    from jpegzip.options import Options

    pixels = decoded_pixels(data)
    ref = Reference(pixels)
    lossless_jrz, result = api.compress_with_result(data, Options())
    lossless = len(lossless_jrz)
    exact = ref.point(1.0, lossless, pixels, mode=result.mode)
    points: dict[str, list[dict]] = {name: [] for name in METHODS}

    for rate in RATES:
        packed, result = api.compress_with_result(data, Options(rate=rate))
        point = ref.point(rate, len(packed), decoded_pixels(api.decompress(packed)),
                          mode=result.mode)
        if result.lossy is None or result.lossy.psnr_db != point["psnr"]:
            raise SystemExit(f"rate {rate}: the .jrz's own PSNR differs from the measured one")
        points["jpegzip"].append(point)
    points["jpegzip"].append(exact)

    coefficient_bytes = len(container.read(lossless_jrz).sections["coefficients"])
    sizes = LosslessSizes(lossless, coefficient_bytes)
    for rate in RATES:  # the learned ladder's ablation: the same search, tables unchanged
        lossy = codec.encode_lossy(data, Target("rate", rate), sizes, lossless - coefficient_bytes,
                                   Options(), ladder=identity_ladder())
        packed, result = api.compress_with_result(lossy.jpeg, Options())
        points["decisions"].append(
            ref.point(rate, len(packed), decoded_pixels(lossy.jpeg), mode=result.mode))
    points["decisions"].append(exact)

    record = read_jpeg(data)
    tables = [np.maximum(table, 1) for table in record.layout.quant_tables]
    for scale in SCALES:
        planes, new_tables = scale_tables(record.planes(), tables, scale)
        coefficients = np.concatenate([plane.reshape(-1, 64) for plane in planes])
        jpeg = write_baseline(record.layout, record.raw, coefficients, new_tables)
        packed, result = api.compress_with_result(jpeg, Options())
        points["scaled"].append(
            ref.point(scale, len(packed), decoded_pixels(jpeg), mode=result.mode))
    points["scaled"].append(exact)

    quality = libjpeg_quality(data)
    frame = record.layout.frame
    image = Image.fromarray(pixels.squeeze(axis=2) if pixels.shape[2:] == (1,) else pixels)
    save_options = {}
    if len(frame.components) == 3:
        save_options["subsampling"] = _SUBSAMPLING[frame.components[0].h,
                                                   frame.components[0].v]
    for q in reencode_qualities(quality):
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=q, **save_options)
        jpeg = buffer.getvalue()
        points["reencode"].append(ref.point(q, len(lepton(jpeg)), decoded_pixels(jpeg)))

    for distance in DISTANCES:
        coded = imagecodecs.jpegxl_encode(pixels.squeeze(), distance=distance, numthreads=1)
        points["jxl"].append(ref.point(
            distance, len(coded), imagecodecs.jpegxl_decode(coded, numthreads=1)))
    return {"bytes": len(data), "quality": quality, "lossless": lossless,
            "lepton": len(lepton(data)), "points": points}


# ----------------------------------------------------------------------------- analysis


def value_at(points: list[dict], key: str, size: float) -> float:
    """An image's ``key`` ("psnr" or "ssim") at ``size`` bytes: linear in (size, value)
    between the best settings (a point counts only if it beats every smaller one); the
    largest point's value above them; inf (exact) from the smallest size with identical
    pixels; nan below the smallest point."""
    exact_sizes = [p["size"] for p in points if p["psnr"] is None]
    if exact_sizes and size >= min(exact_sizes):
        return math.inf
    front: list[dict] = []
    for p in sorted((p for p in points if p["psnr"] is not None), key=lambda p: p["size"]):
        if not front or p[key] > front[-1][key]:
            front.append(p)
    if not front or size < front[0]["size"]:
        return math.nan
    return float(np.interp(size, [p["size"] for p in front], [p[key] for p in front]))


def bd_rate(test: list[dict], anchor: list[dict], lossless: int) -> float | None:
    """Bjontegaard delta rate (%) of ``test`` against ``anchor``: cubic fits of log rate
    against PSNR over the overlapping PSNR range, rates as fractions of ``lossless`` within
    BD_RANGE; negative: ``test`` needs fewer bits. None when a curve has too few points."""
    fits = []
    for points in (test, anchor):
        chosen = [(p["size"] / lossless, p["psnr"]) for p in points if p["psnr"] is not None
                  and BD_RANGE[0] <= p["size"] / lossless <= BD_RANGE[1]]
        if len({quality for _, quality in chosen}) < BD_MIN_POINTS:
            return None
        rate, quality = np.array(chosen).T
        fits.append((np.polyint(np.polyfit(quality, np.log(rate), 3)), quality.min(),
                     quality.max()))
    low, high = max(f[1] for f in fits), min(f[2] for f in fits)
    if low >= high:
        return None
    (test_fit, _, _), (anchor_fit, _, _) = fits
    area = (np.polyval(test_fit, high) - np.polyval(test_fit, low)
            - np.polyval(anchor_fit, high) + np.polyval(anchor_fit, low))
    return 100 * (math.exp(area / (high - low)) - 1)


def _mean_cell(values: list[float], digits: int) -> str:
    """Mean of the finite values, saying how many images were exact or not reached."""
    finite = [v for v in values if math.isfinite(v)]
    exact = sum(v == math.inf for v in values)
    missing = sum(math.isnan(v) for v in values)
    text = f"{np.mean(finite):.{digits}f}" if finite else "–"
    notes = [f"{count} {what}" for count, what in ((exact, "exact"), (missing, "not reached"))
             if count]
    return text + (f" ({', '.join(notes)})" if notes else "")


def summarize_set(name: str, images: dict[str, dict]) -> list[str]:
    """Markdown for one set: quality at fractions of L, BD-rates, rate control, monotony."""
    ratio = np.mean([im["lossless"] / im["lepton"] for im in images.values()])
    qualities = sorted({p["setting"] for im in images.values() for p in im["points"]["reencode"]},
                       reverse=True)
    lines = [f"### {name} ({len(images)} images)", "",
             f"jpegzip lossless = {ratio:.3f} L on average (L = Lepton size of the original); "
             f"(c) qualities {', '.join(map(str, qualities))}. "
             "Mean PSNR (dB) / SSIM at each size, best setting per image:", "",
              "| size | " + " | ".join(METHODS.values()) + " |",
              "|---|" + "---:|" * len(METHODS)]
    for fraction in SIZES_OF_L:
        cells = []
        for method in METHODS:
            psnr, ssim_ = (
                _mean_cell([value_at(im["points"][method], key, fraction * im["lepton"])
                            for im in images.values()], digits)
                for key, digits in (("psnr", 2), ("ssim", 4)))
            cells.append(f"{psnr} / {ssim_}")
        lines.append(f"| {fraction:.2f} L | " + " | ".join(cells) + " |")

    lines += ["", f"BD-rate of (a) against each method (PSNR; rates {BD_RANGE[0]:g}–"
              f"{BD_RANGE[1]:g} of the lossless size; negative: (a) needs fewer bits):", "",
              "| against | mean | median | images |", "|---|---:|---:|---:|"]
    for method in ("decisions", "scaled", "reencode", "jxl"):
        values = [bd_rate(im["points"]["jpegzip"], im["points"][method], im["lossless"])
                  for im in images.values()]
        found = [v for v in values if v is not None]
        stats = (f"{np.mean(found):+.1f} % | {np.median(found):+.1f} %" if found
                 else "– | –")
        lines.append(f"| {METHODS[method]} | {stats} | {len(found)} of {len(values)} |")

    errors = [p["size"] / (p["setting"] * im["lossless"]) - 1
              for im in images.values() for p in im["points"]["jpegzip"] if p["setting"] < 1]
    within = sum(abs(e) <= RATE_TOLERANCE for e in errors)
    worst = max(errors, key=abs)
    lines += ["", f"Rate control of (a): {within} of {len(errors)} (image, r) within "
              f"±{RATE_TOLERANCE:.0%} of r × lossless ({within / len(errors):.0%}); median "
              f"|error| {np.median(np.abs(errors)):.2%}, worst {worst:+.2%}."]

    drops = []
    for file, im in images.items():
        ordered = sorted(im["points"]["jpegzip"], key=lambda p: p["setting"])
        for lower, higher in itertools.pairwise(ordered):
            psnr_low = math.inf if lower["psnr"] is None else lower["psnr"]
            psnr_high = math.inf if higher["psnr"] is None else higher["psnr"]
            if psnr_high < psnr_low:
                drops.append(f"{file} r {lower['setting']:g} → {higher['setting']:g}: "
                             f"{psnr_low:.2f} → {psnr_high:.2f} dB")
    lines.append("PSNR of (a) rises with r on every image." if not drops else
                 f"PSNR of (a) falls as r grows in {len(drops)} place(s): " + "; ".join(drops)
                 + ".")
    odd = [f"{file} {method} {p['setting']:g}: {p['mode']}"
           for file, im in images.items() for method in ("jpegzip", "decisions", "scaled")
           for p in im["points"][method]
           if p["mode"] != ("lossy" if method == "jpegzip" and p["setting"] < 1 else "lossless")]
    if odd:
        lines.append("Unexpected .jrz modes: " + "; ".join(odd) + ".")
    return lines + [""]


def make_plot(sets: dict[str, dict[str, dict]], out: Path) -> None:
    """Mean PSNR against size / L for the four methods, one panel per set."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grid = np.linspace(PLOT_FROM, 1.0, 71)
    fig, axes = plt.subplots(1, len(sets), figsize=(6.5 * len(sets), 5), squeeze=False)
    for ax, (name, images) in zip(axes[0], sets.items(), strict=True):
        for method, label in METHODS.items():
            means = []
            for fraction in grid:
                values = [value_at(im["points"][method], "psnr", fraction * im["lepton"])
                          for im in images.values()]
                means.append(np.mean(values) if all(map(math.isfinite, values)) else np.nan)
            ax.plot(grid, means, label=label)
        ratio = np.mean([im["lossless"] / im["lepton"] for im in images.values()])
        ax.axvline(ratio, color="grey", linestyle=":", label="jpegzip lossless (mean)")
        ax.set_title(f"{name} ({len(images)} images)")
        ax.set_xlabel("size / L (L = Lepton size of the original)")
        ax.set_ylabel("mean PSNR vs the original's pixels (dB)")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("Lossy: mean PSNR at equal size (a line stops where an image is exact "
                 "or not reached)", fontsize=10)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)


# ---------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    parser.add_argument("--sets", nargs="+", default=list(DEFAULT_SETS),
                        help="folders of JPEGs, or names under benchmarks/data "
                             f"(default: {' '.join(DEFAULT_SETS)})")
    parser.add_argument("--limit", type=int, default=0, help="only the first N files per set")
    parser.add_argument("--markdown", type=Path,
                        help="refresh the 'lossy-rd' section of this Markdown file")
    parser.add_argument("--json", type=Path, help="write every point as JSON")
    parser.add_argument("--plot", type=Path, help="write a PNG plot")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.update(SINGLE_THREAD_ENV)
    use_repo_checkout()
    from importlib.metadata import version

    import imagecodecs
    from compare import load_codec
    from PIL import features

    lepton = load_codec("lepton")
    command = " ".join(["python", shlex.quote(display_path(sys.argv[0]))]
                       + [shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv)])
    load_start, started = load_average(), time.perf_counter()
    sets: dict[str, dict[str, dict]] = {}
    for name in args.sets:
        folder = Path(name) if Path(name).is_dir() else DATA_DIR / name
        files = list_files(folder)[: args.limit or None]
        images = sets.setdefault(folder.name, {})
        for i, path in enumerate(files):
            images[path.name] = measure_image(path.read_bytes(), lepton.compress)
            print(f"  [{folder.name} {i + 1}/{len(files)} {time.perf_counter() - started:6.0f}s]"
                  f" {path.name}", file=sys.stderr, flush=True)
    elapsed = time.perf_counter() - started
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"command": command, "seconds": elapsed,
                                         "sets": sets}, indent=1))
    if args.plot:
        make_plot(sets, args.plot)
    lines = [
        "## Lossy: rate-distortion against what users can do today", "",
        f"Written by `benchmarks/lossy_rd.py`; do not edit by hand. "
        f"{dt.date.today()}, {machine_line()}, load {load_start} at start, "
        f"{load_average()} at end, checkout {git_revision()}, {elapsed:.0f} s.",
        f"Command: `{command}`", "",
        "Quality against the original JPEG's pixels (libjpeg via jpeglib): PSNR over the RGB "
        f"samples; {SSIM_NOTE}. One process, one thread per tool.",
        f"- (a) `Options(rate=r)`, r = {', '.join(map(str, RATES))}: the lossy .jrz.",
        "- (a') the same targets, `codec.encode_lossy(..., ladder=identity_ladder())`: the "
        "learned tables switched off, decisions only; the lossless .jrz of its JPEG.",
        f"- (b) `scale_tables` at {', '.join(map(str, SCALES))} + `write_baseline`, then "
        "jpegzip lossless: the .jrz.",
        f"- (c) Pillow {version('Pillow')} (libjpeg-turbo {features.version('libjpeg_turbo')}) "
        f"at up to {REENCODE_STEPS} qualities from the original's minus 1 down to 40 % of it "
        "(listed per set), "
        f"same subsampling, then {lepton.version}.",
        f"- (d) {imagecodecs.jpegxl_version()} via imagecodecs {imagecodecs.__version__}, "
        f"distance {', '.join(map(str, DISTANCES))}, default effort, one thread.",
        "- Sizes at a fraction of L: each image's curve interpolated linearly in (size, "
        "value) between its best settings; above its largest setting, that setting's value; "
        "(a), (a') and (b) also hold the lossless .jrz as an exact point. Means are over the "
        "images "
        "neither exact nor out of reach (counted in brackets).", "",
    ]
    for name, images in sets.items():
        lines += summarize_set(name, images)
    if args.plot and args.markdown:
        lines += [f"![lossy rate-distortion]"
                  f"({os.path.relpath(args.plot, args.markdown.parent)})", ""]
    report = "\n".join(lines)
    print(report)
    if args.markdown:
        write_section(args.markdown, "lossy-rd", report)
    return 0


if __name__ == "__main__":
    sys.exit(main())

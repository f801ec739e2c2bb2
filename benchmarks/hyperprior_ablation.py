"""Ablation: the learned model with and without a hyperprior (learned latents y and z).

learned-v1 has no learned latents (docs/MODEL.md): the nonzero counts, coded first on a
coarse-to-fine lattice, are the hierarchy's top. This script measures what the brief's
hyperprior would add on top of the same group networks:
- baseline: jpegzip.training.train's group networks, trained on the training run's crops with its
  seed and recipe;
- hyperprior: the same networks, plus per component y = Ga(x) on a stride-2 block grid
  (`--channels` channels, from the log-magnitudes of all 63 AC coefficients), z = Ha(y)
  on a stride-4 grid; z coded with a factorized prior (a Gaussian per channel), y with
  p(y | z) (a Gaussian whose mean and scale Hs(z) gives); rounded y, upsampled to the
  block grid, is an extra input of every group network.
Both train for the same epochs (uniform noise for the latents' rates, rounding with
straight-through gradients for what the group networks see). A hyperprior trained from
scratch may learn to send nothing; two more runs check that: one with the latents' bits
left out of the loss (what their information could at most be worth), and one started
from that model and charged for them (a hyperprior that starts out using its latents).
A third latent variant, `tile`, replaces y and z by one small vector per 24 x 24-block
tile (the rounded mean of an analysis network over the tile, a Gaussian per channel for
its rate): far coarser, so nearly free to send.
Reported: the code length of the AC coefficients under each network's Laplace estimate,
plus for the hyperprior the bits of y and z, on held-out crops and on whole images.
These are the networks' estimates before the context tables; the hyper networks stay in
float (not frozen). Training data: the training run's data.npz (`--config`).

    python benchmarks/hyperprior_ablation.py train --variant baseline --epochs 8
    python benchmarks/hyperprior_ablation.py train --variant hyperprior --epochs 8
    python benchmarks/hyperprior_ablation.py train --variant hyperprior --epochs 8 \\
        --side-weight 0
    python benchmarks/hyperprior_ablation.py train --variant hyperprior --epochs 8 \\
        --warm-start
    python benchmarks/hyperprior_ablation.py train --variant tile --epochs 8
    python benchmarks/hyperprior_ablation.py report benchmarks/data/kodak-q75 \\
        benchmarks/data/kodak-q90 ../shared/corpus/edge/lepton --epochs 8 --write
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import functools
import math
import time
from pathlib import Path

from benchlib import (
    REPO_ROOT,
    display_path,
    git_revision,
    list_files,
    load_average,
    machine_line,
    use_repo_checkout,
    write_section,
)

STRIDE = 4  # y is on a stride-2 grid, z on a stride-4 grid
TILE = 24  # the tile latent: one vector per TILE x TILE blocks (a training crop)
TILE_CHANNELS = 4


def build(variant: str, width: int, channels: int):
    """The model of one variant: the group networks alone, with the hyperprior, or with
    the tile latent."""
    import torch
    from torch import nn

    from jpegzip.training import train

    if variant == "baseline":
        return train._torch_model(width)

    def analysis(last):
        """Ga: two 3x3 layers over the log-magnitudes of the 63 AC planes, then `last`."""
        return nn.Sequential(nn.Conv2d(63, width, 3, padding=1), nn.ReLU(),
                             nn.Conv2d(width, width, 3, padding=1), nn.ReLU(), last)

    class Hyperprior(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.groups = train._torch_model(width, extra_inputs=channels)
            self.analysis = analysis(nn.Conv2d(width, channels, 3, stride=2, padding=1))
            self.hyper_analysis = nn.Sequential(
                nn.Conv2d(channels, width, 3, padding=1), nn.ReLU(),
                nn.Conv2d(width, channels, 3, stride=2, padding=1))
            self.hyper_synthesis = nn.Sequential(
                nn.Upsample(scale_factor=2), nn.Conv2d(channels, width, 3, padding=1),
                nn.ReLU(), nn.Conv2d(width, 2 * channels, 3, padding=1))
            self.z_mean = nn.Parameter(torch.zeros(channels))
            self.z_log_scale = nn.Parameter(torch.zeros(channels))

    class TileLatent(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.groups = train._torch_model(width, extra_inputs=TILE_CHANNELS)
            self.analysis = analysis(nn.Conv2d(width, TILE_CHANNELS, 1))
            self.mean = nn.Parameter(torch.zeros(TILE_CHANNELS))
            self.log_scale = nn.Parameter(torch.full((TILE_CHANNELS,), 2.0))

    return Hyperprior() if variant == "hyperprior" else TileLatent()


def gaussian_bits(value, mean, log_scale):
    """Bits of integer (or noisy) values under a Gaussian discretized to unit bins."""
    import torch

    scale = torch.exp(log_scale).clamp_min(0.11)
    upper = 0.5 * torch.erfc(-(value + 0.5 - mean) / (scale * math.sqrt(2.0)))
    lower = 0.5 * torch.erfc(-(value - 0.5 - mean) / (scale * math.sqrt(2.0)))
    return -torch.log2((upper - lower).clamp_min(1e-9))


def _quantize(x, training: bool):
    """(value whose rate is counted, value the decoder sees): uniform noise in training
    for the rate, rounding with straight-through gradients for what is seen."""
    import torch

    seen = x + (torch.round(x) - x).detach()
    counted = x + torch.empty_like(x).uniform_(-0.5, 0.5) if training else torch.round(x)
    return counted, seen


def hyperprior_parts(model, features, targets, coded) -> tuple:
    """(bits of the coefficients under the group networks fed rounded y, bits of y and z,
    coded coefficient count)."""
    import torch

    from jpegzip.training import train

    magnitude = torch.log2(1.0 + targets.abs().float())
    y_counted, y_seen = _quantize(model.analysis(magnitude), model.training)
    z_counted, z_seen = _quantize(model.hyper_analysis(y_seen), model.training)
    mean, log_scale = model.hyper_synthesis(z_seen).chunk(2, dim=1)
    side = gaussian_bits(y_counted, mean, log_scale).sum() + gaussian_bits(
        z_counted, model.z_mean.view(1, -1, 1, 1), model.z_log_scale.view(1, -1, 1, 1)).sum()
    extra = torch.nn.functional.interpolate(y_seen, scale_factor=2.0, mode="nearest")
    bits, count = train.batch_bits(model.groups, features, targets, coded,
                                   extra=(extra + 128.0).clamp(0.0, 255.0))
    return bits, side, count


def baseline_parts(model, features, targets, coded) -> tuple:
    from jpegzip.training import train

    bits, count = train.batch_bits(model, features, targets, coded)
    return bits, 0.0, count


def tile_parts(model, features, targets, coded) -> tuple:
    """hyperprior_parts for the tile latent: the mean of the analysis over each tile
    (times 8), rounded, under a Gaussian per channel, fed to every group network."""
    import torch

    from jpegzip.training import train

    analysis = model.analysis(torch.log2(1.0 + targets.abs().float()))
    height, width = analysis.shape[-2:]
    pooled = 8.0 * torch.nn.functional.avg_pool2d(analysis, TILE, TILE, ceil_mode=True)
    counted, seen = _quantize(pooled, model.training)
    side = gaussian_bits(counted, model.mean.view(1, -1, 1, 1),
                         model.log_scale.view(1, -1, 1, 1)).sum()
    extra = seen.repeat_interleave(TILE, 2).repeat_interleave(TILE, 3)[..., :height, :width]
    bits, count = train.batch_bits(model.groups, features, targets, coded,
                                   extra=(extra + 128.0).clamp(0.0, 255.0))
    return bits, side, count


PARTS = {"baseline": baseline_parts, "hyperprior": hyperprior_parts, "tile": tile_parts}


def latent_bits(model, features, targets, coded, parts=hyperprior_parts,
                side_weight: float = 1.0) -> tuple:
    """All bits of a latent variant (coefficients and latents; the latter weighted by
    side_weight, which only training changes), coded count."""
    bits, side, count = parts(model, features, targets, coded)
    return bits + side_weight * side, count


def run_config(args):
    from jpegzip.training import train

    config = train.Config.load(args.config)
    return dataclasses.replace(config, epochs=args.epochs, threads=args.threads)


def checkpoint_path(args, variant: str, side_weight: float = 1.0, warm: bool = False) -> Path:
    weight = "" if side_weight == 1.0 else f"-w{side_weight:g}"
    start = "-warm" if warm else ""
    channels = TILE_CHANNELS if variant == "tile" else args.channels
    return Path(args.run_dir) / f"{variant}-{channels}c-{args.epochs}e{weight}{start}.pt"


def command_train(args) -> None:
    import torch

    from jpegzip.training import train

    config = run_config(args)
    torch.manual_seed(config.seed)
    train_set, valid_set = train._split(Path(config.run_dir) / "data.npz", config)
    model = build(args.variant, config.width, args.channels)
    Path(args.run_dir).mkdir(parents=True, exist_ok=True)
    if args.variant == "baseline":
        bits = train.batch_bits
    else:
        bits = functools.partial(latent_bits, parts=PARTS[args.variant],
                                 side_weight=args.side_weight)
    path = checkpoint_path(args, args.variant, args.side_weight, args.warm_start)
    if args.warm_start and not path.exists():  # the free-latent model's weights, new schedule
        free = checkpoint_path(args, "hyperprior", 0.0)
        model.load_state_dict(torch.load(free, weights_only=True)["model"])
    train.fit(model, bits, train_set, valid_set, config, path)


def readable(folder: Path) -> list[Path]:
    """The folder's JPEGs that jpeglib decodes to coefficients (the edge corpus holds some
    it does not)."""
    from jpegzip.training.fit_classic import read_planes

    out = []
    for path in list_files(folder):
        try:
            read_planes(path.read_bytes())
        except (OSError, ValueError):
            continue
        out.append(path)
    return out


def summed_parts(model, parts, batches) -> tuple[float, float, int]:
    """(bits, of which side information, coded coefficients) of `parts` over batches of
    (features, targets, coded)."""
    import torch

    total, side, count = 0.0, 0.0, 0
    with torch.no_grad():
        for batch in batches:
            bits, extra, n = parts(model, *batch)
            total += float(bits) + float(extra)
            side += float(extra)
            count += int(n)
    return total, side, count


def image_bits(model, parts, files: list[Path]) -> tuple[float, float, int, int]:
    """summed_parts over JPEG files, whole images (each component padded to a multiple of
    the latent stride, the padding not coded), and the files' bytes."""
    import numpy as np
    import torch

    from jpegzip.training import train
    from jpegzip.training.fit_classic import read_planes

    def batches():
        for path in files:
            for arrays in train.component_arrays(*read_planes(path.read_bytes())):
                h, w = arrays[0].shape[1:]
                pad = ((0, 0), (0, -h % STRIDE), (0, -w % STRIDE))
                yield [torch.from_numpy(np.pad(a, pad)[None]) for a in arrays]

    size = sum(path.stat().st_size for path in files)
    return (*summed_parts(model, parts, batches()), size)


def crop_bits(model, parts, crops, batch: int = 256) -> tuple[float, float, int, None]:
    """summed_parts over held-out training crops (no JPEG size)."""
    batches = ([a[start: start + batch] for a in crops]
               for start in range(0, len(crops[0]), batch))
    return (*summed_parts(model, parts, batches), None)


MODELS = (  # label, variant, weight of the latents' bits in training, warm start
    ("without", "baseline", 1.0, False),
    ("with hyperprior", "hyperprior", 1.0, False),
    ("latents free", "hyperprior", 0.0, False),
    ("warm", "hyperprior", 1.0, True),
    ("tile latent", "tile", 1.0, False))


def command_report(args) -> None:
    import torch

    from jpegzip.training import train

    config = run_config(args)
    torch.set_num_threads(config.threads)
    valid_set = train._split(Path(config.run_dir) / "data.npz", config)[1]
    started = time.time()
    sets = {f"{Path(folder).name} ({len(files)} files)": files
            for folder in args.sets for files in [readable(Path(folder))]}
    results = {}  # label -> data name -> (total, side, count, size)
    for label, variant, weight, warm in MODELS:
        path = checkpoint_path(args, variant, weight, warm)
        if not path.exists():
            continue
        model = build(variant, config.width, args.channels)
        model.load_state_dict(torch.load(path, weights_only=True)["model"])
        model.eval()
        parts = PARTS[variant]
        results[label] = {"held-out crops": crop_bits(model, parts, valid_set)}
        for name, files in sets.items():
            results[label][name] = image_bits(model, parts, files)
    rows = []
    for name, (total, _, count, size) in results["without"].items():
        base = total / count
        cells = [f"{base:.4f}"]
        for label in ("with hyperprior", "warm", "tile latent"):
            if label not in results:
                cells += ["-"] * 3
                continue
            total, side, _, _ = results[label][name]
            cells += [f"{total / count:.4f}", f"{100 * (total / count / base - 1):+.2f} %",
                      f"{100 * side / total:.2f} %"]
        if "latents free" in results:
            total, side, _, _ = results["latents free"][name]
            coefficients = (total - side) / count
            cells += [f"{coefficients:.4f}", f"{100 * (coefficients / base - 1):+.2f} %",
                      f"{side / count:.3f}"]
        else:
            cells += ["-"] * 3
        cells.append("" if size is None else f"{100 * base * count / 8 / size:.1f} %")
        rows.append(f"| {name} | {' | '.join(cells)} |")
    text = "\n".join([
        f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, {machine_line()}, load "
        f"{load_average()}, checkout {git_revision()}, {time.time() - started:.0f} s.",
        "Commands: `python benchmarks/hyperprior_ablation.py train --variant baseline|"
        f"hyperprior --epochs {args.epochs} --channels {args.channels} "
        "[--side-weight 0 | --warm-start]` and `--variant tile`, "
        "then `python benchmarks/hyperprior_ablation.py report "
        f"{' '.join(display_path(s) for s in args.sets)} --epochs {args.epochs} "
        f"--channels {args.channels} --write`.",
        "",
        "The group networks of learned-v1's recipe (same crops, seed and width, "
        f"{args.epochs} epochs each) without and with a hyperprior ({args.channels} "
        "latent channels on a stride-2 block grid, z on stride 4; see the script). "
        "Bits per coded AC coefficient under each network's Laplace estimate (before the "
        "context tables the product buckets it into). *With hyperprior*: y's and z's "
        "bits included, and their share; *warm-started*: the same, its training started "
        "from the latents-free model (so it starts out using its latents); *tile latent*: "
        f"instead of y and z, one {TILE_CHANNELS}-channel vector per {TILE} x {TILE}-block "
        "tile (the rounded mean of an analysis network over the tile, under a Gaussian per "
        "channel), its bits included. *Latents "
        "free*: the same model trained with "
        "y's and z's bits left out of the loss, its coefficient bits alone (what the "
        "latents' information could at most be worth) and what its latents would cost "
        "per coefficient. Last column: the baseline's AC bits as a share of the JPEG "
        "files' bits. Network-level code lengths overstate what reaches the file: "
        "docs/MODEL.md measures the tile latent through the context tables (no net gain).",
        "",
        "| data | without | with hyperprior | change | y, z share | warm-started | change "
        "| y, z share | tile latent | change | latent share | latents free: coefficients "
        "| change | y, z bits / coef | AC bits / JPEG bits |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        *rows,
    ])
    print(text)
    if args.write:
        write_section(REPO_ROOT / "benchmarks" / "RESULTS.md", "hyperprior-ablation",
                      "## Hyperprior ablation (learned latents y, z)\n\n" + text)


def main() -> None:
    use_repo_checkout()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["train", "report"])
    parser.add_argument("sets", nargs="*", type=Path, help="report: folders of JPEGs")
    parser.add_argument("--variant", choices=sorted(PARTS), default="hyperprior")
    parser.add_argument("--config", type=Path, default=REPO_ROOT / "configs" / "learned-v1.json",
                        help="training config whose run folder holds data.npz")
    parser.add_argument("--run-dir", default="runs/hyperprior-ablation")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--channels", type=int, default=8)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--side-weight", type=float, default=1.0,
                        help="train: weight of y and z's bits in the loss (0: the latents are "
                             "free, which bounds what their information is worth)")
    parser.add_argument("--warm-start", action="store_true",
                        help="train: start from the --side-weight 0 model's weights (a "
                             "hyperprior that has learned to use its latents, now charged "
                             "for them)")
    parser.add_argument("--write", action="store_true", help="update benchmarks/RESULTS.md")
    args = parser.parse_args()
    if args.warm_start and args.variant != "hyperprior":
        parser.error("--warm-start starts a hyperprior from the --side-weight 0 one")
    if args.command == "train":
        command_train(args)
    else:
        command_report(args)


if __name__ == "__main__":
    main()

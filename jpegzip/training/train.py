"""Train the learned context model: the group networks (net.py), then its tables.

    python -m jpegzip.training.train --config configs/learned-v2.json

Steps, each written to the run folder (`run_dir` in the config) so a later step can
resume from it:
1. data: crops of the training photos' coefficient planes (fit_classic's variants:
   libjpeg re-encodes at qualities 30-100, mostly 70-95, four subsamplings, plus the
   corpus JPEGs as they are), with every group's integer features (`data.npz`);
2. training: the networks in float with fake quantization (integer weights on a
   power-of-two grid per channel, activations rounded and clamped to 0..255, exactly the
   integer forward), minimising the bits of a discretized Laplace per coded coefficient;
   a checkpoint per epoch (`checkpoint.pt`, loaded with weights_only=True);
3. freezing: the integer network (`net.npz`) and what freezing costs on held-out crops;
4. tables: the context tables fitted with the frozen network (fit_classic), written with
   the network into the weights file (`out` in the config).
Never point it at kodak/ (the test set).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import time
from dataclasses import dataclass
from multiprocessing import Pool
from pathlib import Path

import numpy as np

from ..model import net as nt
from ..model.classic import ZIGZAG

CONFIG_KEYS = {
    "corpus": str, "run_dir": str, "out": str, "seed": int, "holdout": int,
    "variants": int, "png_variants": int, "crop": int, "crops_per_component": int,
    "width": int, "epochs": int, "batch": int, "learning_rate": float, "threads": int,
    "validation_fraction": float, "mix": list, "tables": list, "merge_bits": float,
}


@dataclass(frozen=True)
class Config:
    """A training run, read from a JSON file (every key required, see configs/)."""

    corpus: str
    run_dir: str
    out: str
    seed: int
    holdout: int
    variants: int
    png_variants: int
    crop: int
    crops_per_component: int
    width: int
    epochs: int
    batch: int
    learning_rate: float
    threads: int
    validation_fraction: float
    mix: list
    tables: list  # most tables per coding step: nonzero counts, AC, DC (fit_classic)
    merge_bits: float  # fit_classic --merge-bits

    @classmethod
    def load(cls, path: Path) -> Config:
        raw = json.loads(Path(path).read_text())
        unknown = set(raw) - set(CONFIG_KEYS)
        missing = set(CONFIG_KEYS) - set(raw)
        if unknown or missing:
            raise SystemExit(f"{path}: unknown keys {sorted(unknown)}, missing {sorted(missing)}")
        config = cls(**{key: CONFIG_KEYS[key](raw[key]) for key in CONFIG_KEYS})
        if "kodak" in str(Path(config.corpus).resolve()).lower():
            raise SystemExit("kodak/ is the test set; never train on it")
        return config


# ---------------------------------------------------------------- 1. data


def component_arrays(planes, quants, sampling) -> list[tuple[np.ndarray, np.ndarray,
                                                               np.ndarray]]:
    """Per component, over its whole block grid: (features of every group stacked, uint8;
    zigzag AC targets int16 (63, h, w); coded mask uint8 (63, h, w))."""
    luma_nnz = None
    out = []
    for c, plane in enumerate(planes):
        z = np.ascontiguousarray(np.moveaxis(plane, 2, 0)[ZIGZAG])  # (64, h, w) zigzag
        nnz = np.count_nonzero(z[1:], axis=0).astype(np.int64)
        if c == 0:
            luma_nnz = nnz
        luma = nt.luma_context(luma_nnz, sampling, c, nnz.shape)
        quant_zz = quants[c].astype(np.int64)[ZIGZAG]
        chroma = c in (1, 2)
        feats = np.concatenate([nt.group_features(g, z, nnz, quant_zz, chroma, luma)
                                for g in range(len(nt.GROUPS))]).astype(np.uint8)
        out.append((feats, z[1:], _coded_mask(z, nnz)))
    return out


def component_samples(planes, quants, sampling, crop: int, count: int,
                      rng: random.Random) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Random crop x crop windows of each component's arrays (component_arrays), padded
    with zeros where the component is smaller."""
    out = []
    for arrays in component_arrays(planes, quants, sampling):
        height, width = arrays[0].shape[1:]
        for _ in range(count):
            y0 = rng.randint(0, max(height - crop, 0))
            x0 = rng.randint(0, max(width - crop, 0))
            window = (slice(None), slice(y0, y0 + crop), slice(x0, x0 + crop))
            out.append(tuple(_pad(a[window], crop) for a in arrays))
    return out


def _coded_mask(z: np.ndarray, nnz: np.ndarray) -> np.ndarray:
    """1 where the coder sends the coefficient: its block still has nonzeros to come."""
    before = np.cumsum(z[1:] != 0, axis=0) - (z[1:] != 0)
    return (before < nnz[None]).astype(np.uint8)


def _pad(array: np.ndarray, crop: int) -> np.ndarray:
    out = np.zeros(array.shape[:1] + (crop, crop), array.dtype)
    out[:, : array.shape[1], : array.shape[2]] = array
    return out


def _job_samples(args) -> list:
    from .fit_classic import jpeg_bytes, read_planes

    index, job, crop, count, seed = args
    planes, quants, sampling = read_planes(jpeg_bytes(*job))
    return component_samples(planes, quants, sampling, crop, count,
                             random.Random(seed * 7919 + index))


def build_data(config: Config, path: Path) -> None:
    """Step 1: write the crops of every training variant to `path` (npz)."""
    from .fit_classic import corpus_files, pick_variants, source_quality

    jobs = []
    for i, photo in enumerate(corpus_files(Path(config.corpus), config.holdout)):
        pristine = photo.suffix.lower() not in (".jpg", ".jpeg")
        variants = config.png_variants if pristine else config.variants
        jobs += pick_variants(i, photo, variants, config.seed, source_quality(photo))
    tasks = [(i, job, config.crop, config.crops_per_component, config.seed)
             for i, job in enumerate(jobs)]
    samples = []
    with _progress() as progress, Pool(config.threads) as pool:
        task = progress.add_task("data", total=len(tasks))
        for part in pool.imap(_job_samples, tasks, chunksize=4):
            samples += part
            progress.advance(task)
    np.savez(path, features=np.stack([s[0] for s in samples]),
             targets=np.stack([s[1] for s in samples]),
             coded=np.stack([s[2] for s in samples]))


# ---------------------------------------------------------------- 2. training


def _torch_model(width: int, extra_inputs: int = 0):
    """The group networks in float with fake quantization; `extra_inputs` more input
    channels per group (for experiments that feed the networks side information)."""
    import torch
    from torch import nn

    class FakeQuantConv(nn.Module):
        """A convolution whose forward is the integer layer's, with straight-through
        gradients for the roundings."""

        def __init__(self, inputs: int, outputs: int, kernel: int) -> None:
            super().__init__()
            self.conv = nn.Conv2d(inputs, outputs, kernel, padding=kernel // 2)

        def exponent(self):
            peak = self.conv.weight.detach().abs().amax(dim=(1, 2, 3)).clamp_min(1e-8)
            return torch.ceil(torch.log2(peak / 127.0)).clamp(*nt.EXPONENTS)

        def forward(self, x):
            scale = torch.exp2(self.exponent())[:, None, None, None]
            weight = _round_ste(self.conv.weight / scale)
            bias = _round_ste(self.conv.bias / scale[:, 0, 0, 0]).clamp(-(1 << 22), 1 << 22)
            acc = nn.functional.conv2d(x, weight, bias, padding=self.conv.padding)
            y = acc * scale.view(1, -1, 1, 1)
            return _floor_half_ste(y).clamp(0, 255)

    class GroupNet(nn.Module):
        def __init__(self, g: int) -> None:
            super().__init__()
            lo, hi = nt.GROUPS[g]
            self.layers = nn.ModuleList([
                FakeQuantConv(nt.input_count(g) + extra_inputs, width, 3),
                FakeQuantConv(width, width, 3),
                FakeQuantConv(width, hi - lo, 1)])
            with torch.no_grad():  # start near t = T_ZERO (b = 1)
                self.layers[-1].conv.bias.fill_(float(nt.T_ZERO))

        def forward(self, x):
            for layer in self.layers:
                x = layer(x)
            return x

    return nn.ModuleList([GroupNet(g) for g in range(len(nt.GROUPS))])


def _round_ste(x):
    return x + (x.round() - x).detach()


def _floor_half_ste(x):
    import torch

    return x + (torch.floor(x + 0.5) - x).detach()


def laplace_bits(t, target):
    """Code length (bits) of integer targets under a discretized Laplace of scale
    2^((t - T_ZERO) / T_STEP), centred on zero."""
    import torch

    b = torch.exp2((t - nt.T_ZERO) / nt.T_STEP).clamp_min(1e-3)
    mag = target.abs()
    zero = torch.log(-torch.expm1(-0.5 / b))
    other = (math.log(0.5) - (mag - 0.5) / b + torch.log(-torch.expm1(-1.0 / b)))
    return -torch.where(mag == 0, zero, other) / math.log(2.0)


def _group_slices() -> list[tuple[slice, slice]]:
    """Per group: its channels in the stacked features and its frequencies in the targets."""
    out, start = [], 0
    for g, (lo, hi) in enumerate(nt.GROUPS):
        out.append((slice(start, start + nt.input_count(g)), slice(lo - 1, hi - 1)))
        start += nt.input_count(g)
    return out


def batch_bits(model, features, targets, coded, extra=None) -> tuple:
    """Total bits and coded coefficient count of one batch, over all groups; `extra`
    (float, batch x channels x h x w) is appended to every group's inputs."""
    import torch

    total = 0.0
    for g, (fs, ts) in enumerate(_group_slices()):
        inputs = features[:, fs].float()
        if extra is not None:
            inputs = torch.cat([inputs, extra], dim=1)
        t = model[g](inputs)
        bits = laplace_bits(t, targets[:, ts].float())
        total = total + (bits * coded[:, ts]).sum()
    return total, coded.sum()


def train(config: Config, data_path: Path, checkpoint: Path) -> None:
    """Step 2: fit the fake-quantized networks; a checkpoint after every epoch."""
    import torch

    torch.manual_seed(config.seed)
    train_set, valid_set = _split(data_path, config)
    fit(_torch_model(config.width), batch_bits, train_set, valid_set, config, checkpoint)


def fit(model, bits, train_set, valid_set, config: Config, checkpoint: Path) -> None:
    """Minimise bits(model, *batch) per coded coefficient with Adam and a one-cycle
    schedule over config.epochs; a checkpoint after every epoch, resumed from if present."""
    import torch

    torch.set_num_threads(config.threads)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    steps = config.epochs * math.ceil(len(train_set[0]) / config.batch)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, config.learning_rate, steps)
    first = 0
    if checkpoint.exists():
        state = torch.load(checkpoint, weights_only=True)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        first = int(state["epoch"])
    generator = torch.Generator().manual_seed(config.seed)
    with _progress() as progress:
        task = progress.add_task("train", total=steps, completed=first * steps // config.epochs)
        for epoch in range(first, config.epochs):
            order = torch.randperm(len(train_set[0]), generator=generator)
            for start in range(0, len(order), config.batch):
                pick = order[start: start + config.batch]
                total, count = bits(model, *(a[pick] for a in train_set))
                optimizer.zero_grad()
                (total / count).backward()
                optimizer.step()
                schedule.step()
                progress.advance(task)
            model.eval()
            valid = evaluate(model, valid_set, bits)
            model.train()
            progress.console.print(f"epoch {epoch + 1}: {valid:.4f} bits per coded coefficient")
            torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                        "schedule": schedule.state_dict(), "epoch": epoch + 1}, checkpoint)


def evaluate(model, data, bits=batch_bits, batch: int = 256) -> float:
    """Bits per coded coefficient of `model` over `data` (features, targets, coded)."""
    import torch

    total, count = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(data[0]), batch):
            part, n = bits(model, *(a[start: start + batch] for a in data))
            total += float(part)
            count += int(n)
    return total / max(count, 1)


def _split(data_path: Path, config: Config):
    import torch

    with np.load(data_path, allow_pickle=False) as data:
        arrays = [torch.from_numpy(data[k]) for k in ("features", "targets", "coded")]
    order = torch.randperm(len(arrays[0]), generator=torch.Generator().manual_seed(config.seed))
    cut = int(len(order) * config.validation_fraction)
    return [a[order[cut:]] for a in arrays], [a[order[:cut]] for a in arrays]


# ---------------------------------------------------------------- 3. freezing


def freeze(model) -> nt.IntegerNet:
    """The integer network that computes exactly the fake-quantized forward."""
    import torch

    groups = []
    with torch.no_grad():
        for group in model:
            layers = []
            for layer in group.layers:
                exponent = layer.exponent()
                scale = torch.exp2(exponent)
                weight = torch.round(layer.conv.weight / scale[:, None, None, None])
                bias = torch.round(layer.conv.bias / scale).clamp(-(1 << 22), 1 << 22)
                layers.append(nt.IntLayer(weight.numpy().astype(np.int64),
                                          bias.numpy().astype(np.int64),
                                          exponent.numpy().astype(np.int64)))
            groups.append(layers)
    return nt.IntegerNet(groups)


def freezing_cost(model, net: nt.IntegerNet, valid_set) -> tuple[float, float]:
    """Bits per coded coefficient on held-out crops: the float network without any
    quantization (same parameters), and the frozen integer network."""
    import torch

    features, targets, coded = valid_set
    float_bits = integer_bits = 0.0
    with torch.no_grad():
        for g, (fs, ts) in enumerate(_group_slices()):
            mask = coded[:, ts].float()
            x = features[:, fs].float()
            for layer in model[g].layers[:-1]:
                x = torch.relu(layer.conv(x))
            t = model[g].layers[-1].conv(x).clamp(0, 255)
            float_bits += float((laplace_bits(t, targets[:, ts].float()) * mask).sum())
            t_int = torch.stack([torch.from_numpy(net.run(g, f.numpy().astype(np.int64)))
                                 for f in features[:, fs]]).float()
            integer_bits += float((laplace_bits(t_int, targets[:, ts].float()) * mask).sum())
    count = float(coded.sum())
    return float_bits / count, integer_bits / count


# ---------------------------------------------------------------- driver


def _progress():
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    return Progress("[progress.description]{task.description}", BarColumn(),
                    MofNCompleteColumn(), TimeElapsedColumn())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, required=True, help="JSON file, see configs/")
    parser.add_argument("--stage", choices=["data", "train", "freeze", "tables", "all"],
                        default="all", help="run one step (the others must have run)")
    args = parser.parse_args(argv)
    config = Config.load(args.config)
    random.seed(config.seed)
    np.random.seed(config.seed)
    run = Path(config.run_dir)
    run.mkdir(parents=True, exist_ok=True)
    data_path, checkpoint, net_path = run / "data.npz", run / "checkpoint.pt", run / "net.npz"
    start = time.time()
    if args.stage in ("data", "all") and not data_path.exists():
        build_data(config, data_path)
    if args.stage in ("train", "all"):
        train(config, data_path, checkpoint)
    if args.stage in ("freeze", "all"):
        import torch

        model = _torch_model(config.width)
        model.load_state_dict(torch.load(checkpoint, weights_only=True)["model"])
        net = freeze(model)
        np.savez(net_path, **nt.net_arrays(net))
        valid = _split(data_path, config)[1]
        float_bits, integer_bits = freezing_cost(model, net, [a[:512] for a in valid])
        print(f"freezing: float {float_bits:.4f}, integer {integer_bits:.4f} bits per coded "
              f"coefficient ({100 * (integer_bits / float_bits - 1):+.2f} %); "
              f"{net.parameter_count()} parameters, {net.macs_per_block()} MACs per block")
    if args.stage in ("tables", "all"):
        from . import fit_classic

        fit_classic.main(["--corpus", config.corpus, "--out", config.out, "--net", str(net_path),
                          "--seed", str(config.seed), "--holdout", str(config.holdout),
                          "--workers", str(config.threads), "--variants", str(config.variants),
                          "--png-variants", str(config.png_variants),
                          "--mix", *(str(m) for m in config.mix),
                          "--tables", *(str(t) for t in config.tables),
                          "--merge-bits", str(config.merge_bits)])
    print(f"done in {time.time() - start:.0f} s")


if __name__ == "__main__":
    main()


"""Training: the config is checked, and the frozen integer network computes exactly what
the fake-quantized network trained on."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from jpegzip.model.net import GROUPS, input_count
from jpegzip.training import train


def test_frozen_network_equals_the_trained_forward():
    torch.manual_seed(4)
    model = train._torch_model(8)
    with torch.no_grad():  # spread the weights so that roundings and clamps all happen
        for parameter in model.parameters():
            parameter.mul_(6.0)
    net = train.freeze(model)
    rng = np.random.default_rng(4)
    for g in range(len(GROUPS)):
        features = rng.integers(0, 256, size=(input_count(g), 12, 13))
        with torch.no_grad():
            expected = model[g](torch.from_numpy(features).float()[None])[0].numpy()
        assert np.array_equal(net.run(g, features), expected.astype(np.uint8))


def test_laplace_bits_are_a_code_length():
    t = torch.full((2001,), 120.0)
    values = torch.arange(-1000, 1001).float()
    probabilities = torch.exp2(-train.laplace_bits(t, values))
    assert abs(float(probabilities.sum()) - 1.0) < 1e-4


def test_extra_inputs_reach_every_group_network():
    """batch_bits' side-information planes (the hyperprior ablation's y) are inputs of
    every group: changing them changes each group's code length."""
    torch.manual_seed(5)
    model = train._torch_model(8, extra_inputs=2)
    features = torch.randint(0, 256, (2, sum(input_count(g) for g in range(len(GROUPS))), 6, 6),
                             dtype=torch.uint8)
    targets = torch.randint(-3, 4, (2, 63, 6, 6), dtype=torch.int16)
    with torch.no_grad():
        for g, (lo, hi) in enumerate(GROUPS):
            coded = torch.zeros((2, 63, 6, 6), dtype=torch.uint8)
            coded[:, lo - 1: hi - 1] = 1
            low, count = train.batch_bits(model, features, targets, coded,
                                          extra=torch.zeros((2, 2, 6, 6)))
            high, _ = train.batch_bits(model, features, targets, coded,
                                       extra=torch.full((2, 2, 6, 6), 255.0))
            assert int(count) == 2 * 36 * (hi - lo)
            assert float(low) != float(high), f"group {g} ignores the extra inputs"


def config_dict(tmp_path) -> dict:
    return {"corpus": str(tmp_path), "run_dir": str(tmp_path / "run"),
            "out": str(tmp_path / "w.npz"), "seed": 1, "holdout": 0, "variants": 1,
            "png_variants": 1, "crop": 8, "crops_per_component": 1, "width": 8, "epochs": 1,
            "batch": 4, "learning_rate": 0.01, "threads": 1, "validation_fraction": 0.1,
            "mix": [4, 2], "tables": [8, 16, 12], "merge_bits": 2.0}


def test_config_is_checked(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps(config_dict(tmp_path)))
    assert train.Config.load(path).crop == 8
    path.write_text(json.dumps(config_dict(tmp_path) | {"typo": 1}))
    with pytest.raises(SystemExit, match="typo"):
        train.Config.load(path)
    kodak = tmp_path / "kodak"
    kodak.mkdir()
    path.write_text(json.dumps(config_dict(tmp_path) | {"corpus": str(kodak)}))
    with pytest.raises(SystemExit, match="test set"):
        train.Config.load(path)


def test_training_command_runs_end_to_end(tmp_path, make_jpeg):
    """`python -m jpegzip.training.train` on a tiny corpus: data, one epoch, freezing, tables; the
    weights it writes load as a learned model that codes a JPEG's planes exactly."""
    from jpegzip.coding import decode_planes, encode_planes
    from jpegzip.jpeg import read_jpeg
    from jpegzip.model import LearnedModel
    from jpegzip.model.weights import model_from_bytes

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for seed in range(3):
        (corpus / f"p{seed}.jpg").write_bytes(make_jpeg(width=96, height=80, seed=seed))
    path = tmp_path / "c.json"
    path.write_text(json.dumps(config_dict(tmp_path) | {"corpus": str(corpus)}))
    train.main(["--config", str(path)])
    run = tmp_path / "run"
    assert {"data.npz", "checkpoint.pt", "net.npz"} <= {p.name for p in run.iterdir()}
    model = model_from_bytes((tmp_path / "w.npz").read_bytes())
    assert isinstance(model, LearnedModel) and model.mix == [4, 2]
    record = read_jpeg(make_jpeg(width=64, height=48, seed=9), 1 << 24)
    planes = record.planes()
    quants = [np.maximum(t, 1) for t in record.layout.quant_tables]
    sampling = [(c.h, c.v) for c in record.layout.frame.components]
    coded = encode_planes(planes, quants, sampling, model)
    back = decode_planes(coded, [p.shape[:2] for p in planes], quants, sampling, model)
    assert all(np.array_equal(a, b) for a, b in zip(planes, back, strict=True))

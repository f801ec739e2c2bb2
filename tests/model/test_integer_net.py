"""The integer network on the CPU without torch: the same integers as an integer reference
and as torch's float64 path, a known-answer self-test per device, and a CPU codec that never
imports torch."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import threading
import warnings
from pathlib import Path

import numpy as np
import pytest

from jpegzip.errors import ModelNotAvailable
from jpegzip.model import LearnedModel, load_default_model, load_model, selftest, shipped_names
from jpegzip.model import learned as lm
from jpegzip.model import net as nt
from jpegzip.model.net import GROUPS, TILE, IntegerNet, IntLayer, input_count, remaining_row

SAMPLE = Path(__file__).parents[1] / "data" / "sample" / "kodim23.jpg"
SHAPES = [(23, 31), (70, 129), (1, 1), (3, 67), (130, 2)]


@pytest.fixture(scope="module")
def model() -> LearnedModel:
    model = load_default_model()
    assert isinstance(model, LearnedModel)
    return model


def random_features(g: int, shape: tuple[int, int], seed: int) -> np.ndarray:
    """Features in 0..255 with nothing left to code in a third of the blocks and in the
    right half (whole tiles, when the plane is wide enough)."""
    rng = np.random.default_rng(seed)
    features = rng.integers(0, 256, size=(input_count(g),) + shape).astype(np.uint8)
    remaining = features[remaining_row(g)]
    remaining[rng.random(shape) < 0.3] = 0
    remaining[:, shape[1] // 2:] = 0
    return features


def reference(net: IntegerNet, g: int, features: np.ndarray, coded_only: bool) -> np.ndarray:
    """The network in int64 arithmetic only, over the whole plane: a rounding that is a
    shift, then the blocks the codec does not read set to 0."""
    x = features.astype(np.int64)
    for layer in net.layers[g]:
        size = layer.weight.shape[-1]
        r = size // 2
        _, height, width = x.shape
        padded = np.pad(x, ((0, 0), (r, r), (r, r)))
        total = np.zeros((layer.weight.shape[0], height, width), np.int64)
        for dy in range(size):
            for dx in range(size):
                total += np.tensordot(layer.weight[:, :, dy, dx],
                                      padded[:, dy: dy + height, dx: dx + width], axes=1)
        total += layer.rounding_bias()[:, None, None]
        shift = layer.exponent[:, None, None]
        total = np.where(shift < 0, total >> np.maximum(-shift, 0), total << np.maximum(shift, 0))
        x = np.clip(total, 0, 255)
    remaining = features[remaining_row(g)] > 0
    wanted = remaining.copy()
    if not coded_only:
        for y in range(0, wanted.shape[0], TILE):
            for x0 in range(0, wanted.shape[1], TILE):
                wanted[y: y + TILE, x0: x0 + TILE] = remaining[y: y + TILE, x0: x0 + TILE].any()
    x[:, ~wanted] = 0
    return x.astype(np.uint8)


def with_weight(net: IntegerNet, g: int, i: int, index: tuple, value: int) -> IntegerNet:
    """A copy of the network with one weight changed."""
    layers = [[IntLayer(layer.weight.copy(), layer.bias, layer.exponent) for layer in group]
              for group in net.layers]
    layers[g][i].weight[index] = value
    return IntegerNet(layers)


def copy_of(net: IntegerNet) -> IntegerNet:
    """The same weights in a network of its own (its own self-test verdicts)."""
    return IntegerNet(net.layers)


@pytest.mark.parametrize("band", [nt.BAND, 5])
def test_numpy_gives_the_integer_reference(model, monkeypatch, band):
    """Any band height: each band computes just the blocks its outputs depend on."""
    monkeypatch.setattr(nt, "BAND", band)
    for g in range(len(GROUPS)):
        for s, shape in enumerate(SHAPES):
            features = random_features(g, shape, seed=10 * g + s)
            for coded_only in (False, True):
                expected = reference(model.net, g, features, coded_only)
                for dtype in ("float32", "float64"):
                    got = model.net.run(g, features, "cpu", dtype, coded_only=coded_only)
                    assert np.array_equal(got, expected), (g, shape, coded_only, dtype)


def test_threads_do_not_change_the_outputs(model, monkeypatch):
    monkeypatch.setattr(nt, "BAND", 16)
    for g in (0, 6):
        features = random_features(g, (100, 45), seed=g)
        one = model.net.run(g, features, threads=1, coded_only=True)
        assert np.array_equal(one, model.net.run(g, features, threads=3, coded_only=True))


def test_numpy_and_torch_agree_bit_for_bit_on_random_features(model):
    pytest.importorskip("torch")
    for g in range(len(GROUPS)):
        for s, shape in enumerate(SHAPES):
            features = random_features(g, shape, seed=100 + 10 * g + s)
            for coded_only in (False, True):
                ours = model.net.run(g, features, coded_only=coded_only)
                theirs = model.net.run(g, features, coded_only=coded_only, backend="torch")
                assert np.array_equal(ours, theirs), (g, shape, coded_only)


def test_numpy_and_torch_agree_bit_for_bit_on_a_real_file(model, monkeypatch):
    """The features the codec computes for a photo, recorded while it compresses."""
    pytest.importorskip("torch")
    import jpegzip

    recorded = []
    original = IntegerNet.run

    def recording(self, g, features, *args, **kwargs):
        recorded.append((self, g, features.copy()))
        return original(self, g, features, *args, **kwargs)

    monkeypatch.setattr(IntegerNet, "run", recording)
    jpegzip.compress(SAMPLE.read_bytes(), device="cpu")
    monkeypatch.setattr(IntegerNet, "run", original)
    coded = [(net, g, f) for net, g, f in recorded if f.shape[1:] != selftest.SHAPE]
    assert len({g for _, g, _ in coded}) == len(GROUPS)
    for net, g, features in coded:
        for coded_only in (False, True):
            ours = net.run(g, features, coded_only=coded_only)
            assert np.array_equal(ours, net.run(g, features, coded_only=coded_only,
                                                backend="torch"))
        assert np.array_equal(ours, reference(net, g, features, True))


def test_torch_path_leaves_torch_settings_alone(model):
    """A host application's TF32, cuDNN, thread and gradient settings stay as it set them,
    and cannot make the outputs inexact (float64 matmuls)."""
    torch = pytest.importorskip("torch")
    settings = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32,
                torch.backends.cudnn.enabled, torch.get_num_threads())
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    try:
        devices = ["cpu"] + (["cuda"] if lm.resolve_device("auto") == "cuda" else [])
        for device in devices:
            for g in (0, 6):
                features = random_features(g, (70, 129), seed=g)
                with torch.enable_grad():
                    got = model.net.run(g, features, device, backend="torch")
                    assert torch.is_grad_enabled()
                assert np.array_equal(got, model.net.run(g, features))
                assert torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32
                assert torch.backends.cudnn.enabled == settings[2]
                assert torch.get_num_threads() == settings[3]
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = settings[:2]


@pytest.mark.skipif(lm.resolve_device("auto") != "cuda", reason="needs a CUDA device")
def test_the_gpu_passes_the_selftest_and_agrees_with_numpy(model):
    answers = selftest.stored_answers()["learned-v2"]
    assert selftest.failing_groups(model.net, answers, "cuda") == []
    assert selftest.checked_device(model.net, model.model_id, "cuda", "float32") == "cuda"
    for g in range(len(GROUPS)):
        for s, shape in enumerate(SHAPES):
            features = random_features(g, shape, seed=200 + 10 * g + s)
            for coded_only in (False, True):
                assert np.array_equal(model.net.run(g, features, "cuda", coded_only=coded_only),
                                      model.net.run(g, features, coded_only=coded_only))


def test_selftest_answers_cover_every_shipped_learned_model_and_pass():
    learned = {name: load_model(model_id) for model_id, name in shipped_names().items()
               if isinstance(load_model(model_id), LearnedModel)}
    assert learned and set(learned) <= set(selftest.stored_answers())
    for name, model in learned.items():
        answers = selftest.stored_answers()[name]
        assert selftest.failing_groups(model.net, answers) == []
        assert selftest.failing_groups(model.net, answers, dtype="float64") == []
        assert selftest.checked_device(model.net, model.model_id, "cpu", "float32") == "cpu"
        for g in range(len(GROUPS)):  # the answers are the integer reference's
            features = selftest.selftest_input(g)
            expected = reference(model.net, g, features, coded_only=True)
            assert hashlib.sha256(expected.tobytes()).hexdigest() == answers[f"g{g}"]


def test_selftest_inputs_are_fixed_and_exercise_the_skips():
    features = selftest.selftest_input(3)
    assert features.shape == (input_count(3),) + selftest.SHAPE
    assert hashlib.sha256(features.tobytes()).hexdigest()[:16] == "6977faff9482939d"
    remaining = features[remaining_row(3)]
    assert 0.3 < (remaining == 0).mean() < 0.7
    assert not remaining[TILE:, TILE:].any() and remaining[TILE:, :TILE].any()


def test_selftest_catches_a_flipped_weight(model):
    """The largest weight of each group's first layer, and of each layer of group 0, negated:
    caught in that group alone. (Not every weight can be: one into a unit that never leaves 0
    on the fixed inputs changes nothing there; 93 % of random single weights are caught.)"""
    answers = selftest.stored_answers()["learned-v2"]
    flips = [(g, 0) for g in range(len(GROUPS))] + [(0, 1), (0, 2)]
    for g, i in flips:
        weight = model.net.layers[g][i].weight
        index = np.unravel_index(np.abs(weight).argmax(), weight.shape)
        bad = with_weight(model.net, g, i, index, -int(weight[index]))
        assert selftest.failing_groups(bad, answers) == [g], (g, i)
    for _ in range(2):  # raised every time, not only the first
        with pytest.raises(ModelNotAvailable, match="self-test .* on cpu .* groups \\[0\\]"):
            selftest.checked_device(bad, model.model_id, "cpu", "float32")
    coded = LearnedModel(model.probabilities, model.context_map, model.model_id, bad, model.mix)
    with pytest.raises(ModelNotAvailable, match="self-test"):
        coded.network(0, selftest.selftest_input(0))


def test_a_failing_gpu_falls_back_to_the_cpu_with_a_warning(model, monkeypatch):
    """Simulated: the network gives wrong integers on "cuda", or cannot run there."""
    original = IntegerNet.run

    def wrong(self, g, features, device="cpu", *args, **kwargs):
        out = original(self, g, features, "cpu", *args, **kwargs)
        return out ^ 1 if device == "cuda" else out

    def broken(self, g, features, device="cpu", *args, **kwargs):
        if device == "cuda":
            raise RuntimeError("CUDA error: no kernel image is available")
        return original(self, g, features, device, *args, **kwargs)

    for fake, why in ((wrong, "wrong outputs for groups \\[0, 1"), (broken, "cannot run")):
        monkeypatch.setattr(IntegerNet, "run", fake)
        net = copy_of(model.net)
        with pytest.warns(RuntimeWarning, match=f"on cuda .*{why}.*using the CPU"):
            assert selftest.checked_device(net, model.model_id, "cuda", "float32") == "cpu"
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # once only
            assert selftest.checked_device(net, model.model_id, "cuda", "float32") == "cpu"


def test_selftest_runs_once_per_network_and_device_across_threads(model, monkeypatch):
    net = copy_of(model.net)
    calls = []
    original = selftest.digests
    monkeypatch.setattr(selftest, "digests", lambda *a: calls.append(a[1:]) or original(*a))
    results = []
    threads = [threading.Thread(target=lambda: results.append(
        selftest.checked_device(net, model.model_id, "cpu", "float32"))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == ["cpu"] * 4 and calls == [("cpu", "float32")]
    selftest.checked_device(net, model.model_id, "cpu", "float64")
    assert calls == [("cpu", "float32"), ("cpu", "float64")]
    unknown = hashlib.sha256(b"not a shipped model").digest()  # no answers: not checked
    assert selftest.checked_device(net, unknown, "cpu", "float32") == "cpu"
    assert len(calls) == 2


def test_run_refuses_what_it_cannot_compute_exactly(model):
    features = random_features(0, (4, 4), seed=0).astype(np.int64)
    features[0, 0, 0] = 256
    with pytest.raises(ValueError, match="0..255"):
        model.net.run(0, features)
    with pytest.raises(ValueError, match="features"):
        model.net.run(1, random_features(0, (4, 4), seed=0))
    with pytest.raises(ValueError, match="backend"):
        model.net.run(0, random_features(0, (4, 4), seed=0), "cuda", backend="numpy")
    with pytest.raises(ValueError, match="float32 or float64"):
        model.net.run(0, random_features(0, (4, 4), seed=0), dtype="float16")


def test_auto_picks_the_cpu_without_importing_torch_where_no_gpu_can_be(monkeypatch):
    def no_torch() -> bool:
        raise AssertionError("torch was asked")

    monkeypatch.setattr(lm, "_torch_sees_cuda", no_torch)
    monkeypatch.setattr(lm.importlib.util, "find_spec", lambda name: None)
    assert lm.resolve_device("auto") == "cpu"
    with pytest.raises(RuntimeError, match="CUDA"):
        lm.resolve_device("cuda")
    monkeypatch.undo()
    monkeypatch.setattr(lm, "_torch_sees_cuda", no_torch)
    monkeypatch.setattr(lm.sys, "platform", "linux")
    monkeypatch.setattr(lm.glob, "glob", lambda pattern: [])
    assert lm.resolve_device("auto") == lm.resolve_device("cpu") == "cpu"
    monkeypatch.setattr(lm.glob, "glob", lambda pattern: ["/dev/nvidia0"])
    monkeypatch.setattr(lm, "_torch_sees_cuda", lambda: False)
    assert lm.resolve_device("auto") == "cpu"


CPU_ONLY = """
import sys
import jpegzip
from jpegzip.api import decompress_with_result
from jpegzip.model.learned import cuda_possible

data = open(sys.argv[1], "rb").read()
packed = jpegzip.compress(data, device="cpu")
assert decompress_with_result(packed, jpegzip.Options(device="cpu"))[0] == data
if not cuda_possible():  # where no GPU can be, auto is the CPU too
    assert jpegzip.decompress(jpegzip.compress(data)) == data
assert "jpegzip.model.selftest" in sys.modules  # the network ran (and was checked)
assert "torch" not in sys.modules, "torch was imported"
print("no torch", len(data), len(packed))
"""


def test_cpu_codec_never_imports_torch(tmp_path):
    # not from the checkout: "-c" puts the working folder first on sys.path, and the source
    # tree is not the installed package (its weights live elsewhere)
    done = subprocess.run([sys.executable, "-c", CPU_ONLY, str(SAMPLE)], capture_output=True,
                          text=True, timeout=600, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    words = done.stdout.split()
    assert words[:2] == ["no", "torch"] and int(words[3]) < int(words[2])

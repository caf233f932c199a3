"""The PyTorch peer of the benchmark (`python -m tfpose.bench --peer`).

The interleaving and ratio logic runs without torch (fake windows on a fake
clock); the peer itself -- the same network as tfpose's baseline, its
max-norm, its fused Adam, its timed windows -- only where torch is installed
(an optional extra, never needed by CI)."""

import statistics
import sys

import numpy as np
import pytest

import tfpose
from tfpose import bench


class FakeClock:
    """Windows of fixed work whose durations come from a script, in call order."""

    def __init__(self, durations):
        self.durations = {side: list(d) for side, d in durations.items()}
        self.calls = []

    def window(self, side, samples=6400):
        self.calls.append(side)
        return samples / self.durations[side].pop(0)


def test_interleaved_windows_take_medians_of_per_round_ratios():
    # Round 2 is slow for everyone (a neighbour's burst): interleaving keeps
    # each round's windows together, so the burst cancels in that round's ratio.
    durations = {"tfpose": [1.0, 1.1, 3.0, 0.9, 1.2],
                 "torch_default": [2.0, 1.9, 7.5, 2.1, 1.7],
                 "torch_fused": [1.5, 1.4, 2.5, 1.6, 1.3]}
    clock = FakeClock(durations)
    sides = {name: (lambda n=name: clock.window(n)) for name in durations}
    result = bench.interleaved_windows(
        sides, rounds=5, ratios={"tfpose_over_torch_default": ("tfpose", "torch_default"),
                                 "tfpose_over_torch_fused": ("tfpose", "torch_fused")})

    order = ["tfpose", "torch_default", "torch_fused"]
    assert clock.calls == (order + order[::-1]) * 2 + order  # reversed every other round
    rates = {n: [6400 / d for d in ds] for n, ds in durations.items()}
    assert set(result["windows"]) == set(rates)
    for name, r in rates.items():  # approx of a dict of lists: not in every pytest
        assert result["windows"][name] == pytest.approx(r)
    for name, r in rates.items():
        assert result["samples_per_s"][name] == pytest.approx(statistics.median(r))
    for torch_side in ("torch_default", "torch_fused"):
        per_round = [a / b for a, b in zip(rates["tfpose"], rates[torch_side])]
        key = f"tfpose_over_{torch_side}"
        assert result["ratios"][key] == pytest.approx(statistics.median(per_round))
        assert result["ratio_ranges"][key] == pytest.approx([min(per_round), max(per_round)])
        # The script is chosen so that the ratio of the medians would differ.
        of_medians = statistics.median(rates["tfpose"]) / statistics.median(rates[torch_side])
        assert abs(result["ratios"][key] - of_medians) > 0.01


def test_interleaved_windows_reject_bad_arguments():
    sides = {"a": lambda: 1.0, "b": lambda: 2.0}
    with pytest.raises(ValueError, match="rounds must be >= 1"):
        bench.interleaved_windows(sides, 0, {})
    with pytest.raises(ValueError, match="unknown sides c"):
        bench.interleaved_windows(sides, 1, {"a_over_c": ("a", "c")})


def test_require_torch_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # as if torch were not installed
    monkeypatch.delitem(sys.modules, "tfpose.bench_torch", raising=False)
    monkeypatch.delattr(tfpose, "bench_torch", raising=False)
    with pytest.raises(ValueError, match=r"needs torch.*pip install"):
        bench.require_torch()


# ---------------------------------------------------------------- torch only


@pytest.fixture(scope="module")
def bench_torch():
    pytest.importorskip("torch")
    from tfpose import bench_torch

    return bench_torch


def _frames(num_frames=512):
    from tfpose import data

    return data.synthetic_frames(num_frames, "human36m/sh")


def test_peer_is_the_same_network_as_the_tfpose_baseline(bench_torch):
    from tfpose.config import ModelConfig
    from tfpose.models import registry

    keras_model = registry.get("baseline").build(ModelConfig(), "human36m/sh")
    keras_model(np.zeros((2, 16, 2), np.float32))
    torch_model = bench_torch.Baseline(16, 17, width=1024, num_blocks=2, dropout=0.5)
    assert bench_torch.count_weights(torch_model) == keras_model.count_params()
    # Layer by layer: the same kernels (Keras [in, out] = torch's [out, in] transposed).
    keras_kernels = [tuple(v.shape) for v in keras_model.weights
                     if len(v.shape) == 2]
    torch_kernels = [tuple(m.weight.shape[::-1]) for m in torch_model.modules()
                     if isinstance(m, bench_torch.nn.Linear)]
    assert torch_kernels == keras_kernels
    keras_bn = sum(1 for v in keras_model.weights if "moving_mean" in v.path)
    assert keras_bn == sum(1 for m in torch_model.modules()
                           if isinstance(m, bench_torch.nn.BatchNorm1d)) == 5


def test_max_norm_matches_tfpose(bench_torch):
    import torch

    from tfpose import layers

    layer = torch.nn.Linear(6, 4)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor(np.random.default_rng(0).normal(0, 0.6, (4, 6)),
                                        dtype=torch.float32))
    before = layer.weight.detach().numpy().copy()
    norms = np.linalg.norm(before, axis=1)
    assert (norms > 1).any() and (norms < 1).any()  # both branches of the constraint
    bench_torch.apply_max_norm(layer)
    expected = layers.MaxNorm(1.0)(before.T)
    np.testing.assert_allclose(layer.weight.detach().numpy(), np.asarray(expected).T,
                               rtol=1e-6, atol=1e-7)


def test_peer_trainer_learns_and_keeps_max_norm(bench_torch):
    frames = _frames()
    trainer = bench_torch.PeerTrainer(frames.pose_2d, frames.pose_3d, 64, width=32,
                                      learning_rate=1e-2)
    losses = [float(trainer.step()) for _ in range(80)]
    assert np.mean(losses[-10:]) < 0.8 * np.mean(losses[:10])
    for m in trainer.model.modules():
        if isinstance(m, bench_torch.nn.Linear):
            norms = bench_torch.torch.linalg.vector_norm(m.weight.detach(), dim=1)
            assert float(norms.max()) <= 1.0 + 1e-5
    rate = trainer.window(0.05)
    assert rate > 0 and np.isfinite(trainer.loss)


def test_fused_adam_takes_the_same_steps_as_default_adam(bench_torch):
    if not bench_torch.fused_adam_supported():
        pytest.skip("this torch has no fused Adam on CPU")
    frames = _frames()
    weights = []
    for fused in (False, True):
        trainer = bench_torch.PeerTrainer(frames.pose_2d, frames.pose_3d, 64, fused=fused,
                                          width=32, seed=3)
        for _ in range(5):
            trainer.step()
        weights.append({name: p.detach().numpy().copy()
                        for name, p in trainer.model.named_parameters()})
    # The biases of the Linear layers that feed BatchNorm (".dense.bias") get gradients of
    # rounding-noise size (BatchNorm removes any shift), which Adam scales up to +-lr steps:
    # there the two kernels' last-bit differences show as up to 2e-4 (AMD EPYC), within a
    # fraction of one learning-rate step (1e-3). Every other weight: 1e-5.
    for name, a in weights[0].items():
        atol = 5e-4 if name.endswith(".dense.bias") else 1e-5
        np.testing.assert_allclose(a, weights[1][name], rtol=1e-4, atol=atol, err_msg=name)


def test_peer_trainer_rejects_bad_frames(bench_torch):
    frames = _frames(128)
    with pytest.raises(ValueError, match=r"pose_2d must be \[N, J2, 2\]"):
        bench_torch.PeerTrainer(frames.pose_3d, frames.pose_3d, 64)
    with pytest.raises(ValueError, match="batch_size must be in"):
        bench_torch.PeerTrainer(frames.pose_2d, frames.pose_3d, 256)


def test_peer_comparison_reports_both_sides(bench_torch):
    out = bench.peer_comparison(batch_sizes=(64,), rounds=1, seconds=0.1, width=32,
                                num_frames=1024)
    assert out["torch"] == bench_torch.torch.__version__ and out["torch_threads"] >= 1
    (row,) = out["rows"]
    torch_sides = ["torch_default"] + (["torch_fused"] if out["fused_adam_cpu"] else [])
    for side in ["tfpose"] + torch_sides:
        assert row[f"{side}_samples_per_s"] > 0
    for side in torch_sides:  # one round: the ratio is that round's
        assert row[f"tfpose_over_{side}"] == pytest.approx(
            row["windows"]["tfpose"][0] / row["windows"][side][0])


def test_bfloat16_peer_comparison_adds_an_autocast_peer(bench_torch):
    out = bench.peer_comparison(batch_sizes=(64,), rounds=1, seconds=0.1, width=32,
                                num_frames=1024, mixed_precision="bfloat16")
    assert out["tfpose_config"]["mixed_precision"] == "bfloat16"
    (row,) = out["rows"]
    # Always a bfloat16 peer: fused Adam where this torch has it on CPU, else its default.
    peer = "torch_fused_bfloat16" if out["fused_adam_cpu"] else "torch_default_bfloat16"
    assert row[f"{peer}_samples_per_s"] > 0
    assert row[f"tfpose_over_{peer}"] == pytest.approx(
        row["windows"]["tfpose"][0] / row["windows"][peer][0])


def test_autocast_peer_trains_in_bfloat16(bench_torch):
    frames = _frames()
    trainer = bench_torch.PeerTrainer(frames.pose_2d, frames.pose_3d, 64, width=32,
                                      learning_rate=1e-2, bfloat16=True)
    dtypes = []
    hook = trainer.model.register_forward_hook(lambda m, i, o: dtypes.append(o.dtype))
    losses = [float(trainer.step()) for _ in range(60)]
    hook.remove()
    assert dtypes[0] == bench_torch.torch.bfloat16  # the matmuls ran in bfloat16
    assert all(p.dtype == bench_torch.torch.float32 for p in trainer.model.parameters())
    assert np.mean(losses[-10:]) < 0.8 * np.mean(losses[:10])

"""The PyTorch peer of tfpose's baseline training step (``python -m tfpose.bench --peer``).

The same network as :class:`tfpose.models.baseline.Baseline` (Dense(width),
BatchNorm, ReLU, Dropout; ``num_blocks`` residual blocks of two such layers;
output Dense), He-normal kernels, max-norm 1 on every kernel after each
update, Adam at 1e-3 with tfpose's default exponential decay, and the same
per-step input work (a shuffled gather, z-score of the 2D input and of the
root-relative 3D target, MSE over the non-root joints), so that the samples/s
of the two libraries compare one training step with another.

PyTorch is an optional extra (``pip install -e ".[peer]"``; a CPU-only wheel:
``pip install torch --index-url https://download.pytorch.org/whl/cpu``): this
module needs it, nothing else in tfpose imports it.
"""

from __future__ import annotations

import inspect
import math
import os
import time
from typing import Dict, Optional

import numpy as np
import torch
from torch import nn

# Keras's defaults, which tfpose's layers and optimizer keep.
BN_MOMENTUM = 0.01  # Keras momentum 0.99: moving = 0.99 * moving + 0.01 * batch
BN_EPSILON = 1e-3
ADAM_EPSILON = 1e-7
# tfpose's default schedule: rate * 0.96 ** (step / 100_000).
LR_DECAY_RATE, LR_DECAY_STEPS = 0.96, 100_000
# Keras's he_normal: a normal truncated at 2 sigma, rescaled to keep the variance.
_TRUNCATED_STD_CORRECTION = 0.87962566103423978


def he_normal_(weight: torch.Tensor) -> None:
    """Keras's ``he_normal`` on a torch ``[out, in]`` weight (fan-in = in)."""
    std = math.sqrt(2.0 / weight.shape[1]) / _TRUNCATED_STD_CORRECTION
    nn.init.trunc_normal_(weight, 0.0, std, -2 * std, 2 * std)


def linear(in_features: int, out_features: int) -> nn.Linear:
    layer = nn.Linear(in_features, out_features)
    he_normal_(layer.weight)
    nn.init.zeros_(layer.bias)
    return layer


class LinearBlock(nn.Module):
    """Dense -> BatchNorm -> ReLU -> Dropout (tfpose.layers.LinearBlock)."""

    def __init__(self, in_features: int, width: int, dropout: float):
        super().__init__()
        self.dense = linear(in_features, width)
        self.bn = nn.BatchNorm1d(width, eps=BN_EPSILON, momentum=BN_MOMENTUM)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        return self.dropout(torch.relu(self.bn(self.dense(x))))


class ResidualBlock(nn.Module):
    """Two :class:`LinearBlock` s plus an identity skip (tfpose.layers.ResidualBlock)."""

    def __init__(self, width: int, dropout: float):
        super().__init__()
        self.block1 = LinearBlock(width, width, dropout)
        self.block2 = LinearBlock(width, width, dropout)

    def forward(self, x):
        return x + self.block2(self.block1(x))


class Baseline(nn.Module):
    """Martinez's network: [B, J2, 2] -> [B, J3, 3] (tfpose.models.baseline.Baseline)."""

    def __init__(self, num_joints_in: int = 16, num_joints_out: int = 17, width: int = 1024,
                 num_blocks: int = 2, dropout: float = 0.5):
        super().__init__()
        self.num_joints_out = num_joints_out
        self.input_block = LinearBlock(num_joints_in * 2, width, dropout)
        self.blocks = nn.Sequential(*[ResidualBlock(width, dropout) for _ in range(num_blocks)])
        self.output = linear(width, num_joints_out * 3)

    def forward(self, x):
        h = self.blocks(self.input_block(x.flatten(1)))
        return self.output(h).view(-1, self.num_joints_out, 3)


def count_weights(model: nn.Module) -> int:
    """Parameters plus BatchNorm moving statistics: what Keras's ``count_params`` counts."""
    stats = sum(m.running_mean.numel() + m.running_var.numel() for m in model.modules()
                if isinstance(m, nn.BatchNorm1d))
    return sum(p.numel() for p in model.parameters()) + stats


@torch.no_grad()
def apply_max_norm(model: nn.Module, max_value: float = 1.0) -> None:
    """Rescale each unit's incoming weights to norm <= ``max_value`` (tfpose.layers.MaxNorm)."""
    for m in model.modules():
        if isinstance(m, nn.Linear):
            norms = torch.linalg.vector_norm(m.weight, dim=1, keepdim=True)
            m.weight.mul_(max_value / norms.clamp(min=max_value))


def fused_adam_supported() -> bool:
    """Whether this torch build runs ``Adam(fused=True)`` on CPU tensors."""
    if "fused" not in inspect.signature(torch.optim.Adam).parameters:
        return False
    w = nn.Parameter(torch.zeros(2))
    try:
        opt = torch.optim.Adam([w], fused=True)
        w.grad = torch.ones(2)
        opt.step()
    except (RuntimeError, ValueError):
        return False
    return True


def environment() -> Dict:
    """What the torch rows ran on: version, intra-op threads, fused CPU Adam."""
    return {"torch": torch.__version__, "torch_threads": torch.get_num_threads(),
            "fused_adam_cpu": fused_adam_supported()}


class PeerTrainer:
    """The PyTorch baseline training on fixed frames, timed in windows.

    ``pose_2d`` [N, J2, 2] pixels and ``pose_3d`` [N, J3, 3] camera mm (joint 0
    the root); each step gathers a shuffled batch (reshuffled every epoch),
    normalises it and takes one Adam step plus the max-norm projection.
    """

    def __init__(self, pose_2d: np.ndarray, pose_3d: np.ndarray, batch_size: int,
                 fused: bool = False, width: int = 1024, num_blocks: int = 2,
                 dropout: float = 0.5, max_norm: bool = True, learning_rate: float = 1e-3,
                 seed: int = 0, num_threads: Optional[int] = None, bfloat16: bool = False):
        pose_2d = np.asarray(pose_2d, np.float32)
        pose_3d = np.asarray(pose_3d, np.float32)
        if pose_2d.ndim != 3 or pose_2d.shape[-1] != 2:
            raise ValueError(f"pose_2d must be [N, J2, 2], got shape {pose_2d.shape}")
        if pose_3d.ndim != 3 or pose_3d.shape[-1] != 3 or len(pose_3d) != len(pose_2d):
            raise ValueError(f"pose_3d must be [N, J3, 3] with N = {len(pose_2d)}, "
                             f"got shape {pose_3d.shape}")
        if not 0 < batch_size <= len(pose_2d):
            raise ValueError(f"batch_size must be in [1, {len(pose_2d)}] (the frames), "
                             f"got {batch_size}")
        torch.set_num_threads(num_threads or os.cpu_count())
        torch.manual_seed(seed)
        self.batch_size = int(batch_size)
        self.fused = bool(fused)
        self.bfloat16 = bool(bfloat16)  # torch.autocast: bfloat16 matmuls, float32 weights
        self.max_norm = bool(max_norm)
        self.pose_2d = torch.from_numpy(pose_2d)
        self.pose_3d = torch.from_numpy(pose_3d)
        rel = pose_3d - pose_3d[:, :1]
        std_3d = rel.std(0)
        self.mean_2d = torch.from_numpy(pose_2d.mean(0))
        self.std_2d = torch.from_numpy(pose_2d.std(0))
        self.mean_3d = torch.from_numpy(rel.mean(0) * (std_3d > 0))
        self.std_3d = torch.from_numpy(np.where(std_3d > 0, std_3d, 1.0).astype(np.float32))
        self.joint_mask = torch.ones(pose_3d.shape[1])
        self.joint_mask[0] = 0.0  # the root: always 0 once root-relative
        self.model = Baseline(pose_2d.shape[1], pose_3d.shape[1], width, num_blocks, dropout)
        self.model.train()
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=learning_rate,
                                          eps=ADAM_EPSILON, **({"fused": True} if fused else {}))
        self.schedule = torch.optim.lr_scheduler.ExponentialLR(
            self.optimizer, LR_DECAY_RATE ** (1.0 / LR_DECAY_STEPS))
        self.generator = torch.Generator().manual_seed(seed)
        self.order, self.position = None, len(pose_2d)
        self.loss = float("nan")

    def _batch(self):
        n = len(self.pose_2d)
        if self.position + self.batch_size > n:  # drop the remainder, like tfpose
            self.order, self.position = torch.randperm(n, generator=self.generator), 0
        idx = self.order[self.position:self.position + self.batch_size]
        self.position += self.batch_size
        x = (self.pose_2d[idx] - self.mean_2d) / self.std_2d
        y = self.pose_3d[idx]
        y = (y - y[:, :1] - self.mean_3d) / self.std_3d
        return x, y

    def step(self) -> torch.Tensor:
        """One training step; returns its loss (a detached tensor)."""
        x, y = self._batch()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bfloat16):
            out = self.model(x)
        per_joint = torch.square(out.float() - y).mean(-1)
        loss = ((per_joint * self.joint_mask).sum(-1) / self.joint_mask.sum()).mean()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.schedule.step()
        if self.max_norm:
            apply_max_norm(self.model)
        return loss.detach()

    def window(self, seconds: float, min_steps: int = 2) -> float:
        """Samples/s over at least ``seconds`` and ``min_steps`` steps (after one warm-up step
        the first time)."""
        if self.order is None:
            self.step()
        steps, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds or steps < min_steps:
            loss = self.step()
            steps += 1
        self.loss = float(loss)
        if not math.isfinite(self.loss):
            raise RuntimeError(f"torch peer: non-finite loss {self.loss} at batch "
                               f"{self.batch_size}")
        return steps * self.batch_size / (time.perf_counter() - start)

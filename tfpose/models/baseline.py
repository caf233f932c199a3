"""Martinez et al. 2017, "A simple yet effective baseline for 3D human pose
estimation": the fully connected lifting network both papers build on."""

from __future__ import annotations

import keras
from keras import ops

from tfpose import layers as L
from tfpose import skeleton as skeleton_lib
from tfpose.constructor_config import ConstructorConfig


def check_input_shape(input_shape, num_joints: int, dims: int, who: str) -> None:
    """Raise a clear error when a model gets the wrong joint layout."""
    tail = tuple(input_shape[-2:])
    if len(input_shape) != 3 or any(t is not None and int(t) != e
                                    for t, e in zip(tail, (num_joints, dims))):
        raise ValueError(f"{who} expects input [batch, {num_joints}, {dims}], "
                         f"got shape {tuple(input_shape)}")


@keras.saving.register_keras_serializable(package="tfpose")
class Baseline(ConstructorConfig, keras.Model):
    """Martinez's network: [B, J2, 2] -> [B, J3, 3].

    :class:`~tfpose.layers.Trunk` (Dense(width) BN act Dropout, ``num_blocks``
    residual blocks), then Dense(J3*3).
    Parameters at full width (1024, 2 blocks): 4,304,947 for h36m16 -> h36m17
    (SH input), 4,306,995 for h36m17 -> h36m17 (Martinez reports ~4-5M);
    4,296,749 for humaneva15 -> humaneva15. (BatchNorm moving statistics,
    4 x 1024 per BN layer, are included in these counts.)
    """

    def __init__(self, skeleton_in: str = "h36m17", skeleton_out: str = "h36m17",
                 width: int = 1024, num_blocks: int = 2, dropout: float = 0.5,
                 max_norm: bool = True, activation: str = "relu", fast_dropout: bool = False,
                 **kwargs):
        super().__init__(**kwargs)
        s_in, s_out = skeleton_lib.get(skeleton_in), skeleton_lib.get(skeleton_out)
        self.skeleton_in, self.skeleton_out = s_in.name, s_out.name
        self.num_joints_in, self.num_joints_out = s_in.num_joints, s_out.num_joints
        self.width = int(width)
        self.num_blocks = int(num_blocks)
        self.dropout = float(dropout)
        self.max_norm = bool(max_norm)
        self.activation = activation
        self.fast_dropout = bool(fast_dropout)
        self.trunk = L.Trunk(self.width, self.num_blocks, self.dropout, self.max_norm,
                             activation, self.fast_dropout, name="trunk")
        self.output_dense = L.dense(self.num_joints_out * 3, self.max_norm, name="output",
                                    dtype="float32")

    def build(self, input_shape):
        check_input_shape(input_shape, self.num_joints_in, 2, type(self).__name__)
        self.trunk.build((None, self.num_joints_in * 2))
        self.output_dense.build((None, self.width))

    def call(self, x, training=None):
        h = ops.reshape(ops.cast(x, "float32"), (-1, self.num_joints_in * 2))
        h = self.trunk(h, training=training)
        return ops.reshape(self.output_dense(h), (-1, self.num_joints_out, 3))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_joints_out, 3)

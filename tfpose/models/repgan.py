"""RepGAN: "A Synchronized Reprojection-based Model for 3D Human Pose
Estimation" -- a weakly supervised WGAN that lifts 2D to 3D by predicting
depth, with a reprojection network (3D -> 2D) trained synchronously and a
critic that sees the 3D pose, the 2D pose and the (weighted) KCS matrix.

2D and 3D use the same skeleton (the 3D pose is (x, y, z) with x, y taken
from the input), so ``skeleton_in`` must equal ``skeleton_out``.
"""

from __future__ import annotations

from typing import Optional

import keras
from keras import ops

from tfpose import layers as L
from tfpose import skeleton as skeleton_lib
from tfpose.models.baseline import check_input_shape


class _MLP(keras.Model):
    """Martinez-like body shared by the generator and the reprojector:
    [B, J, d_in] -> LinearBlock -> residual blocks -> Dense(out_dim)."""

    in_dims: int = 2
    out_dims: int = 1

    def __init__(self, skeleton: str = "h36m17", width: int = 1024, num_blocks: int = 2,
                 dropout: float = 0.5, max_norm: bool = True, activation: str = "leaky_relu",
                 fast_dropout: bool = False, **kwargs):
        super().__init__(**kwargs)
        skel = skeleton_lib.get(skeleton)
        self.skeleton = skel.name
        self.num_joints = skel.num_joints
        self.width = int(width)
        self.num_blocks = int(num_blocks)
        self.dropout_rate = float(dropout)
        self.max_norm = bool(max_norm)
        self.activation = activation
        self.fast_dropout = bool(fast_dropout)
        common = dict(dropout=self.dropout_rate, max_norm=self.max_norm, activation=activation,
                      fast_dropout=self.fast_dropout)
        self.input_block = L.LinearBlock(self.width, name="input_block", **common)
        self.blocks = [L.ResidualBlock(self.width, name=f"residual_{i}", **common)
                       for i in range(self.num_blocks)]
        self.output_dense = L.dense(self.num_joints * self.out_dims, self.max_norm, name="output",
                                    dtype="float32")

    def build(self, input_shape):
        check_input_shape(input_shape, self.num_joints, self.in_dims, type(self).__name__)
        self.input_block.build((None, self.num_joints * self.in_dims))
        for block in self.blocks:
            block.build((None, self.width))
        self.output_dense.build((None, self.width))

    def _forward(self, x, training):
        h = ops.reshape(ops.cast(x, "float32"), (-1, self.num_joints * self.in_dims))
        h = self.input_block(h, training=training)
        for block in self.blocks:
            h = block(h, training=training)
        return self.output_dense(h)

    def get_config(self):
        return {**super().get_config(), "skeleton": self.skeleton, "width": self.width,
                "num_blocks": self.num_blocks, "dropout": self.dropout_rate,
                "max_norm": self.max_norm, "activation": self.activation,
                "fast_dropout": self.fast_dropout}


@keras.saving.register_keras_serializable(package="tfpose")
class Generator(_MLP):
    """2D pose [B, J, 2] -> depth z [B, J] (RepGAN sec. 3.1, Fig. 2).

    Martinez-like with LeakyReLU: Dense(width) BN LReLU Dropout, 2 residual
    blocks, Dense(J). Full width, h36m17: 4,272,145 parameters (BN
    statistics included).
    """

    in_dims, out_dims = 2, 1

    def call(self, x, training=None):
        return self._forward(x, training)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_joints)


@keras.saving.register_keras_serializable(package="tfpose")
class Reprojector(_MLP):
    """3D pose [B, J, 3] -> 2D pose [B, J, 2] (RepGAN sec. 3.2): the
    generator's architecture with a single residual block. Full width,
    h36m17: 2,199,586 parameters (BN statistics included)."""

    in_dims, out_dims = 3, 2

    def __init__(self, skeleton: str = "h36m17", width: int = 1024, num_blocks: int = 1,
                 **kwargs):
        super().__init__(skeleton, width, num_blocks, **kwargs)

    def call(self, x, training=None):
        return ops.reshape(self._forward(x, training), (-1, self.num_joints, 2))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_joints, 2)


@keras.saving.register_keras_serializable(package="tfpose")
class Discriminator(keras.Model):
    """WGAN critic (RepGAN sec. 3.3, Fig. 3): ``[pose_3d, pose_2d] -> [B, 1]``.

    3D branch Dense + residual block, 2D branch Dense, KCS branch Dense on the
    flattened (w)KCS of the 3D pose (computed inside, so a gradient penalty
    on the 3D input flows through it); the three width-d features are
    concatenated and a Dense gives the score. ``kcs``: "wkcs" (paper),
    "kcs" (Table 5 ablation) or "none".

    No batch normalisation and no dropout: the critic is trained with a
    WGAN-GP gradient penalty, which needs each sample's score to depend on
    that sample alone (BN couples the batch and invalidates the per-sample
    gradient norm). Full width, h36m17, wKCS: 2,454,529 parameters.
    """

    def __init__(self, skeleton: str = "h36m17", width: int = 1024, kcs: str = "wkcs",
                 activation: str = "leaky_relu", max_norm: bool = False, **kwargs):
        super().__init__(**kwargs)
        skel = skeleton_lib.get(skeleton)
        self.skeleton = skel.name
        self.num_joints = skel.num_joints
        self.width = int(width)
        self.kcs = kcs
        self.activation = activation
        self.max_norm = bool(max_norm)
        self.kcs_layer = L.kcs_layer(kcs, skel.name)
        self.dense_3d = L.dense(self.width, self.max_norm, name="dense_3d")
        self.act_3d = L.activation_layer(activation, name="act_3d")
        self.residual_3d = L.ResidualBlock(self.width, dropout=0.0, use_batchnorm=False,
                                           max_norm=self.max_norm, activation=activation,
                                           name="residual_3d")
        self.dense_2d = L.dense(self.width, self.max_norm, name="dense_2d")
        self.act_2d = L.activation_layer(activation, name="act_2d")
        if self.kcs_layer is not None:
            self.dense_kcs = L.dense(self.width, self.max_norm, name="dense_kcs")
            self.act_kcs = L.activation_layer(activation, name="act_kcs")
        self.output_dense = L.dense(1, False, name="output", dtype="float32")

    def build(self, input_shape):
        shape_3d, shape_2d = input_shape
        check_input_shape(shape_3d, self.num_joints, 3, "Discriminator (3D input)")
        check_input_shape(shape_2d, self.num_joints, 2, "Discriminator (2D input)")
        feat = (None, self.width)
        self.dense_3d.build((None, self.num_joints * 3))
        self.residual_3d.build(feat)
        self.dense_2d.build((None, self.num_joints * 2))
        branches = 2
        if self.kcs_layer is not None:
            nb = self.kcs_layer.num_bones
            self.dense_kcs.build((None, nb * nb))
            branches = 3
        self.output_dense.build((None, branches * self.width))

    def call(self, inputs, training=None):
        pose_3d, pose_2d = inputs
        pose_3d = ops.cast(pose_3d, "float32")
        j = self.num_joints
        f3 = self.act_3d(self.dense_3d(ops.reshape(pose_3d, (-1, j * 3))))
        f3 = self.residual_3d(f3, training=training)
        f2 = self.act_2d(self.dense_2d(ops.reshape(ops.cast(pose_2d, "float32"), (-1, j * 2))))
        feats = [f3, f2]
        if self.kcs_layer is not None:
            nb = self.kcs_layer.num_bones
            k = ops.reshape(self.kcs_layer(pose_3d), (-1, nb * nb))
            feats.append(self.act_kcs(self.dense_kcs(k)))
        return self.output_dense(ops.concatenate(feats, axis=-1))

    def compute_output_shape(self, input_shape):
        return (input_shape[0][0], 1)

    def get_config(self):
        return {**super().get_config(), "skeleton": self.skeleton, "width": self.width,
                "kcs": self.kcs, "activation": self.activation, "max_norm": self.max_norm}


@keras.saving.register_keras_serializable(package="tfpose")
class RepGAN(keras.Model):
    """The RepGAN lifter: ``model(x2d)`` -> [B, J, 3] = (x, y from x2d, z).

    Owns ``generator``, ``reprojector`` and ``discriminator``; building the
    model builds all three so a ``.keras`` file carries every weight.
    Parameters at full width (h36m17, wKCS): generator 4,272,145,
    reprojector 2,199,586, discriminator 2,454,529 (KCS: same; none:
    2,190,337); total 8,926,260.
    ``skeleton`` may also be given as ``skeleton_in``/``skeleton_out`` (the
    other models' arguments); they must name the same skeleton.
    """

    def __init__(self, skeleton: Optional[str] = None, width: int = 1024,
                 num_blocks: int = 2, dropout: float = 0.5, kcs: str = "wkcs",
                 max_norm: bool = True, activation: str = "leaky_relu",
                 discriminator_width: Optional[int] = None,
                 skeleton_in: Optional[str] = None, skeleton_out: Optional[str] = None,
                 fast_dropout: bool = False, **kwargs):
        super().__init__(**kwargs)
        names = {skeleton_lib.get(n).name for n in (skeleton, skeleton_in, skeleton_out) if n}
        if len(names) > 1:
            raise ValueError("RepGAN lifts a 2D pose to the same skeleton in 3D (J2 == J3); "
                             f"got different skeletons {sorted(names)}")
        self.skeleton = names.pop() if names else "h36m17"
        self.num_joints = skeleton_lib.get(self.skeleton).num_joints
        self.width = int(width)
        self.num_blocks = int(num_blocks)
        self.dropout_rate = float(dropout)
        self.kcs = kcs
        self.max_norm = bool(max_norm)
        self.activation = activation
        self.discriminator_width = int(discriminator_width or width)
        self.fast_dropout = bool(fast_dropout)
        common = dict(dropout=self.dropout_rate, max_norm=self.max_norm, activation=activation,
                      fast_dropout=self.fast_dropout)
        self.generator = Generator(self.skeleton, self.width, self.num_blocks,
                                   name="generator", **common)
        self.reprojector = Reprojector(self.skeleton, self.width, 1, name="reprojector",
                                       **common)
        self.discriminator = Discriminator(self.skeleton, self.discriminator_width, kcs=kcs,
                                           activation=activation, name="discriminator")

    @property
    def skeleton_in(self) -> str:
        return self.skeleton

    @property
    def skeleton_out(self) -> str:
        return self.skeleton

    def build(self, input_shape):
        check_input_shape(input_shape, self.num_joints, 2, "RepGAN")
        j = self.num_joints
        self.generator.build((None, j, 2))
        self.reprojector.build((None, j, 3))
        self.discriminator.build([(None, j, 3), (None, j, 2)])

    def call(self, x, training=None):
        x = ops.cast(x, "float32")
        z = self.generator(x, training=training)
        return ops.concatenate([x, ops.expand_dims(z, -1)], axis=-1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_joints, 3)

    def get_config(self):
        return {**super().get_config(), "skeleton": self.skeleton, "width": self.width,
                "num_blocks": self.num_blocks, "dropout": self.dropout_rate, "kcs": self.kcs,
                "max_norm": self.max_norm, "activation": self.activation,
                "discriminator_width": self.discriminator_width,
                "fast_dropout": self.fast_dropout}

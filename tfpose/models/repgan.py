"""RepGAN: "A Synchronized Reprojection-based Model for 3D Human Pose
Estimation" -- a weakly supervised WGAN that lifts 2D to 3D by predicting
depth, with a reprojection network (3D -> 2D) trained synchronously and a
critic that sees the 3D pose, the 2D pose and the (weighted) KCS matrix.

2D and 3D use the same skeleton (the 3D pose is (x, y, z) with x, y taken
from the input, made root-relative by :func:`pose_from_depth`), so
``skeleton_in`` must equal ``skeleton_out``.
"""

from __future__ import annotations

from typing import Optional

import keras
from keras import ops

from tfpose import layers as L
from tfpose import skeleton as skeleton_lib
from tfpose.constructor_config import ConstructorConfig
from tfpose.models.baseline import check_input_shape


def pose_from_depth(pose_2d, depth, root: int):
    """RepGAN's 3D pose from a 2D pose and the generator's depth, root-relative.

    ``pose_2d`` [B, J, 2] and ``depth`` [B, J] -> (x, y, z) [B, J, 3] minus
    the root joint's (x, y, z), so the root is exactly the origin like every
    real (root-relative) 3D pose the critic sees. The generator's own root
    depth would otherwise be a free offset that only tells fakes from reals.
    """
    num_joints = pose_2d.shape[-2]
    if num_joints is not None and not 0 <= int(root) < int(num_joints):
        raise ValueError(f"pose_from_depth: root joint {root} is outside the pose's "
                         f"{num_joints} joints")
    pose = ops.concatenate([ops.cast(pose_2d, "float32"),
                            ops.expand_dims(ops.cast(depth, "float32"), -1)], axis=-1)
    return pose - pose[:, root:root + 1, :]


class _MLP(ConstructorConfig, keras.Model):
    """Martinez-like body shared by the generator and the reprojector:
    [B, J, d_in] -> :class:`~tfpose.layers.Trunk` -> Dense(J * d_out)."""

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
        self.dropout = float(dropout)
        self.max_norm = bool(max_norm)
        self.activation = activation
        self.fast_dropout = bool(fast_dropout)
        self.trunk = L.Trunk(self.width, self.num_blocks, self.dropout, self.max_norm,
                             activation, self.fast_dropout, name="trunk")
        self.output_dense = L.dense(self.num_joints * self.out_dims, self.max_norm, name="output",
                                    dtype="float32")

    def build(self, input_shape):
        check_input_shape(input_shape, self.num_joints, self.in_dims, type(self).__name__)
        self.trunk.build((None, self.num_joints * self.in_dims))
        self.output_dense.build((None, self.width))

    def _forward(self, x, training):
        h = ops.reshape(ops.cast(x, "float32"), (-1, self.num_joints * self.in_dims))
        return self.output_dense(self.trunk(h, training=training))


@keras.saving.register_keras_serializable(package="tfpose")
class Generator(_MLP):
    """2D pose [B, J, 2] -> depth z [B, J] (RepGAN sec. 3.1, Fig. 2).

    A trunk with LeakyReLU (Dense(width) BN LReLU Dropout, 2 residual
    blocks), then Dense(J). Full width, h36m17: 4,272,145 parameters (BN
    statistics included).
    """

    in_dims, out_dims = 2, 1

    def call(self, x, training=None):
        return self._forward(x, training)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_joints)


def root_scale_normalize(pose_2d, root: int):
    """A 2D pose root-centred and divided by its mean joint-to-root distance
    (RepGAN sec. 3.5; the same as ``RootScaleNormalizer.normalize_2d``, in
    Keras ops so it is differentiable inside a model)."""
    rel = pose_2d - pose_2d[:, root:root + 1, :]
    return rel / _mean_root_distance(rel)


def _mean_root_distance(rel):
    """[B, 1, 1]: the mean distance of a root-relative pose's other joints to the root."""
    dist = ops.sqrt(ops.sum(ops.square(rel), axis=-1) + 1e-12)  # the root contributes ~0
    scale = ops.sum(dist, axis=-1) / (ops.shape(dist)[-1] - 1)
    return ops.maximum(scale, 1e-6)[:, None, None]


def backproject(rays, depth, root: int):
    """RepGAN's 3D pose from camera rays and the generator's depth, by back-projection.

    ``rays`` [B, J, 2] are ``(u - c) / f`` of each joint; ``depth`` [B, J]
    is each joint's depth relative to the root in units of the 2D pose's
    size (the depth of a real pose normalised by
    ``RootScaleNormalizer.normalize_3d``). A joint at relative depth ``z``
    lies on its ray ``r``, so with ``x`` the root-centred, scaled 2D
    (:func:`root_scale_normalize`), ``t`` the root's ray and ``k`` the 2D
    size in ray units: ``xy = x + z * (t + k * x)`` -- exact for a pinhole
    camera: the true depth gives the true camera-frame pose, where taking
    ``x`` as the 3D x-y (:func:`pose_from_depth`) leaves the perspective in
    it (19 mm N-MPJPE on Human3.6M S8 with the true depth; 5 mm this way).
    Returns the pose root-relative and scaled like a real normalised pose.
    """
    rays = ops.cast(rays, "float32")
    rel = rays - rays[:, root:root + 1, :]
    k = _mean_root_distance(rel)
    x = rel / k
    depth = ops.cast(depth, "float32")
    z = ops.expand_dims(depth - depth[:, root:root + 1], -1)
    xy = x + z * (rays[:, root:root + 1, :] + k * x)  # root-relative: x, z are 0 at the root
    return ops.concatenate([xy, z], axis=-1) / _mean_root_distance(xy)


# How a RepGAN makes a 3D pose from its 2D input and depth (``RepGAN(geometry=...)``):
# backproject: input camera rays, back-projected (the critic's reals: camera-frame poses);
# backproject_hybrid: as backproject, reals built the same way from their own 2D's rays
#   and their depth (a detector's 2D noise is then in reals and fakes alike);
# hybrid: input root-scaled 2D, x-y kept (reals built the same way from their own 2D);
# mismatched: as hybrid, but the reals are camera-frame poses (before 2026-11-22).
GEOMETRIES = ("backproject", "backproject_hybrid", "hybrid", "mismatched")
BACKPROJECTING = ("backproject", "backproject_hybrid")


@keras.saving.register_keras_serializable(package="tfpose")
class Reprojector(_MLP):
    """3D pose [B, J, 3] -> 2D pose [B, J, 2] (RepGAN sec. 3.2): the
    generator's architecture with a single residual block. Full width,
    h36m17: 2,199,586 parameters (BN statistics included).

    With ``normalize_output`` its 2D is root-centred and scaled like every
    real 2D pose the critic sees (:func:`root_scale_normalize`): a raw output
    would let the critic tell fakes by a root offset or a size alone."""

    in_dims, out_dims = 3, 2

    def __init__(self, skeleton: str = "h36m17", width: int = 1024, num_blocks: int = 1,
                 normalize_output: bool = True, **kwargs):
        super().__init__(skeleton, width, num_blocks, **kwargs)
        self.normalize_output = bool(normalize_output)
        self.root = skeleton_lib.get(skeleton).root

    def call(self, x, training=None):
        pose_2d = ops.reshape(self._forward(x, training), (-1, self.num_joints, 2))
        return root_scale_normalize(pose_2d, self.root) if self.normalize_output else pose_2d

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_joints, 2)


@keras.saving.register_keras_serializable(package="tfpose")
class Discriminator(ConstructorConfig, keras.Model):
    """WGAN critic (RepGAN sec. 3.3, Fig. 3): ``[pose_3d, pose_2d] -> [B, 1]``.

    3D branch a one-block trunk (Dense + activation, residual block), 2D
    branch Dense, KCS branch Dense on the flattened (w)KCS of the 3D pose
    (computed inside, so a gradient penalty on the 3D input flows through
    it); the three width-d features are concatenated and a Dense gives the
    score. ``kcs``: "wkcs" (paper), "kcs" (Table 5 ablation) or "none".

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
        self.trunk_3d = L.Trunk(self.width, num_blocks=1, dropout=0.0, max_norm=self.max_norm,
                                activation=activation, use_batchnorm=False, name="trunk_3d")
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
        self.trunk_3d.build((None, self.num_joints * 3))
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
        f3 = self.trunk_3d(ops.reshape(pose_3d, (-1, j * 3)), training=training)
        f2 = self.act_2d(self.dense_2d(ops.reshape(ops.cast(pose_2d, "float32"), (-1, j * 2))))
        feats = [f3, f2]
        if self.kcs_layer is not None:
            nb = self.kcs_layer.num_bones
            k = ops.reshape(self.kcs_layer(pose_3d), (-1, nb * nb))
            feats.append(self.act_kcs(self.dense_kcs(k)))
        return self.output_dense(ops.concatenate(feats, axis=-1))

    def compute_output_shape(self, input_shape):
        return (input_shape[0][0], 1)



@keras.saving.register_keras_serializable(package="tfpose")
class RepGAN(ConstructorConfig, keras.Model):
    """The RepGAN lifter: ``model(x2d)`` -> [B, J, 3] = (x, y from x2d, z),
    root-relative (:func:`pose_from_depth`).

    Owns ``generator``, ``reprojector`` and ``discriminator``; building the
    model builds all three so a ``.keras`` file carries every weight.
    Parameters at full width (h36m17, wKCS): generator 4,272,145,
    reprojector 2,199,586, discriminator 2,454,529 (KCS: same; none:
    2,190,337); total 8,926,260.
    ``skeleton`` may also be given as ``skeleton_in``/``skeleton_out`` (the
    other models' arguments); they must name the same skeleton.
    """

    config_excluded = ("skeleton_in", "skeleton_out")  # aliases of ``skeleton``

    def __init__(self, skeleton: Optional[str] = None, width: int = 1024,
                 num_blocks: int = 2, dropout: float = 0.5, kcs: str = "wkcs",
                 max_norm: bool = True, activation: str = "leaky_relu",
                 discriminator_width: Optional[int] = None,
                 skeleton_in: Optional[str] = None, skeleton_out: Optional[str] = None,
                 fast_dropout: bool = False, normalize_reprojection: bool = True,
                 geometry: str = "mismatched", **kwargs):
        super().__init__(**kwargs)
        if geometry not in GEOMETRIES:
            raise ValueError(f"RepGAN geometry must be one of {', '.join(GEOMETRIES)}; "
                             f"got {geometry!r}")
        self.geometry = geometry
        names = {skeleton_lib.get(n).name for n in (skeleton, skeleton_in, skeleton_out) if n}
        if len(names) > 1:
            raise ValueError("RepGAN lifts a 2D pose to the same skeleton in 3D (J2 == J3); "
                             f"got different skeletons {sorted(names)}")
        self.skeleton = names.pop() if names else "h36m17"
        self.num_joints = skeleton_lib.get(self.skeleton).num_joints
        self.root = skeleton_lib.get(self.skeleton).root
        self.width = int(width)
        self.num_blocks = int(num_blocks)
        self.dropout = float(dropout)
        self.kcs = kcs
        self.max_norm = bool(max_norm)
        self.activation = activation
        self.discriminator_width = int(discriminator_width or width)
        self.fast_dropout = bool(fast_dropout)
        self.normalize_reprojection = bool(normalize_reprojection)
        common = dict(dropout=self.dropout, max_norm=self.max_norm, activation=activation,
                      fast_dropout=self.fast_dropout)
        self.generator = Generator(self.skeleton, self.width, self.num_blocks,
                                   name="generator", **common)
        self.reprojector = Reprojector(self.skeleton, self.width, 1, name="reprojector",
                                       normalize_output=self.normalize_reprojection, **common)
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
        parts = ((self.generator, (None, j, 2)), (self.reprojector, (None, j, 3)),
                 (self.discriminator, [(None, j, 3), (None, j, 2)]))
        for part, shape in parts:
            if not part.built:  # a part may have been called on its own first
                part.build(shape)

    def generator_input(self, x):
        """The generator's 2D input from the model's (camera rays are root-scaled first)."""
        x = ops.cast(x, "float32")
        return root_scale_normalize(x, self.root) if self.geometry in BACKPROJECTING else x

    def pose_from(self, x, depth):
        """The 3D pose from the model's input and the generator's depth."""
        if self.geometry in BACKPROJECTING:
            return backproject(x, depth, self.root)
        return pose_from_depth(ops.cast(x, "float32"), depth, self.root)

    def call(self, x, training=None):
        return self.pose_from(x, self.generator(self.generator_input(x), training=training))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_joints, 3)

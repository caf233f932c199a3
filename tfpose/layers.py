"""Custom Keras layers shared by the lifting models.

* :class:`LinearBlock` and :class:`ResidualBlock` -- the fully connected
  building blocks of Martinez et al. 2017 (Dense, BatchNorm, activation,
  Dropout; two of them plus a skip connection make a residual block).
* :class:`Trunk` -- Martinez's body (a LinearBlock, then residual blocks),
  the one trunk of every model (Martinez, ASN's basic network, RepGAN's
  generator, reprojector and critic 3D branch).
* :class:`MaxNorm` -- Martinez's max-norm weight constraint, per unit.
* :class:`FastDropout` -- Dropout whose mask costs a quarter of the random
  numbers (8 random bits per unit).
* :class:`RandomEnhancement` -- ASN's REM, ``y = x + Dropout(ReLU(x))``.
* :class:`AttentionModule` -- ASN's AM (eqs. 6-8), fusing 2D features into
  the refinement network's 3D feature.
* :class:`KCS` / :class:`WeightedKCS` -- RepGAN's (weighted) kinematic chain
  space matrix of a 3D pose.

Every layer implements ``get_config`` and is registered under the
``"tfpose"`` package, so models that use them round-trip through ``.keras``
files. All computations are plain tensor ops: graph- and XLA-safe.
"""

from __future__ import annotations

from typing import Optional, Sequence, Union

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from tfpose import skeleton as skeleton_lib
from tfpose.constructor_config import ConstructorConfig

ACTIVATIONS = ("relu", "leaky_relu")
# Slope of the negative part of LeakyReLU (the usual GAN value).
LEAKY_SLOPE = 0.2


def _skeleton(s) -> skeleton_lib.Skeleton:
    return s if isinstance(s, skeleton_lib.Skeleton) else skeleton_lib.get(s)


def _skeleton_name(s) -> str:
    return s.name if isinstance(s, skeleton_lib.Skeleton) else str(s)


def activation_layer(activation: str, name: Optional[str] = None) -> keras.layers.Layer:
    """``"relu"`` or ``"leaky_relu"`` (slope 0.2) as a layer."""
    if activation == "relu":
        return keras.layers.ReLU(name=name)
    if activation == "leaky_relu":
        return keras.layers.LeakyReLU(negative_slope=LEAKY_SLOPE, name=name)
    raise ValueError(f"unknown activation {activation!r}; known: {', '.join(ACTIVATIONS)}")


def dense(units: int, max_norm: bool = False, name: Optional[str] = None,
          dtype=None) -> keras.layers.Dense:
    """Dense layer with Kaiming (He normal) init, as in Martinez et al.

    ``max_norm`` adds Martinez's max-norm constraint: each unit's incoming
    weight vector is rescaled to norm <= 1 after every update (the common
    reading of their ``clip_by_norm(w, 1)``; it keeps the wide layers from
    blowing up under dropout). ``dtype="float32"`` keeps an output head in
    float32 under a mixed-precision policy (see ``tfpose.precision``).
    """
    return keras.layers.Dense(
        units,
        kernel_initializer="he_normal",
        bias_initializer="zeros",
        kernel_constraint=MaxNorm(1.0) if max_norm else None,
        name=name,
        dtype=dtype,
    )


@keras.saving.register_keras_serializable(package="tfpose")
class MaxNorm(keras.constraints.Constraint):
    """Rescale each unit's incoming weights (a kernel column) to norm <= ``max_value``.

    ``tf.clip_by_norm``'s formula per column, ``w * max / max(norm, max)``:
    exactly the identity for columns within the bound, where
    ``keras.constraints.MaxNorm`` multiplies every weight by ``norm / (eps +
    norm)`` on every step. The column norms come from one matrix-vector
    product instead of an axis-0 reduction, which was the slowest op of the
    constraint (it runs after every update of every wide kernel; profile in
    docs/PERFORMANCE.md).
    """

    def __init__(self, max_value: float = 1.0):
        self.max_value = float(max_value)

    def __call__(self, w):
        w = tf.convert_to_tensor(w)
        with tf.name_scope("max_norm"):
            if w.shape.rank == 2:
                squares = tf.matmul(tf.ones([1, tf.shape(w)[0]], w.dtype), tf.square(w))
            else:  # incoming weights are all axes but the last
                squares = tf.reduce_sum(tf.square(w), axis=tf.range(w.shape.rank - 1),
                                        keepdims=True)
            bound = tf.constant(self.max_value, w.dtype)
            return w * (bound / tf.maximum(tf.sqrt(squares), bound))

    def get_config(self):
        return {"max_value": self.max_value}


@keras.saving.register_keras_serializable(package="tfpose")
class FastDropout(keras.layers.Layer):
    """Inverted dropout with the mask drawn from 8 random bits per unit.

    ``keras.layers.Dropout`` draws one float32 uniform per unit; on a CPU the
    counter-based generator then dominates the layer's cost. This layer
    draws one 32-bit integer per *four* units, reads it as four bytes
    and keeps a unit when its byte is >= ``round(rate * 256)``: each unit is
    dropped independently with probability ``q = round(rate * 256) / 256``
    (exactly ``rate`` for 0.5, within 1/512 otherwise) and kept units are
    scaled by ``1 / (1 - q)``, so the expectation is unchanged.
    """

    def __init__(self, rate: float, seed: Optional[int] = None, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"dropout rate must be in [0, 1), got {rate}")
        self.rate = float(rate)
        self.seed = seed
        self.threshold = int(round(self.rate * 256))
        self.seed_generator = keras.random.SeedGenerator(seed) if self.threshold else None

    def call(self, x, training=None):
        if not training or not self.threshold:
            return x
        width = x.shape[-1]
        flat = tf.reshape(x, [-1, width])
        words = tf.random.stateless_uniform(
            [tf.shape(flat)[0], (width + 3) // 4], self.seed_generator.next(),
            minval=None, maxval=None, dtype=tf.uint32)
        noise = tf.reshape(tf.bitcast(words, tf.uint8), [tf.shape(flat)[0], -1])[:, :width]
        scale = 256.0 / (256 - self.threshold)
        mask = tf.cast(noise >= self.threshold, flat.dtype) * tf.cast(scale, flat.dtype)
        return tf.reshape(flat * mask, tf.shape(x))  # backward: one multiply by the mask

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


def dropout_layer(rate: float, fast: bool = False, name: Optional[str] = None):
    """``keras.layers.Dropout`` or :class:`FastDropout` (``train.py --fast_dropout``)."""
    return FastDropout(rate, name=name) if fast else keras.layers.Dropout(rate, name=name)


@keras.saving.register_keras_serializable(package="tfpose")
class RandomEnhancement(keras.layers.Layer):
    """ASN's Random Enhancement Module: ``y = x + Dropout(ReLU(x))``.

    The residual path keeps every feature intact while the dropped branch
    still injects Dropout's noise, so the joint constraints encoded in the
    first layer are not erased (ASN sec. 2.4). No weights.
    """

    def __init__(self, rate: float = 0.5, fast_dropout: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.rate = float(rate)
        self.fast_dropout = bool(fast_dropout)
        self.dropout = dropout_layer(self.rate, self.fast_dropout)

    def call(self, x, training=None):
        return x + self.dropout(ops.relu(x), training=training)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "fast_dropout": self.fast_dropout}


@keras.saving.register_keras_serializable(package="tfpose")
class LinearBlock(keras.layers.Layer):
    """Martinez's unit: Dense(width) -> BatchNorm -> activation -> Dropout.

    ``random_enhancement=True`` replaces activation + Dropout by ASN's REM
    (only used at the first layer of ASN's basic network). ``fast_dropout``
    picks :class:`FastDropout` over Keras's Dropout.
    """

    def __init__(self, width: int = 1024, dropout: float = 0.5, use_batchnorm: bool = True,
                 max_norm: bool = True, activation: str = "relu",
                 random_enhancement: bool = False, fast_dropout: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.fast_dropout = bool(fast_dropout)
        self.width = int(width)
        self.dropout_rate = float(dropout)
        self.use_batchnorm = bool(use_batchnorm)
        self.max_norm = bool(max_norm)
        self.activation = activation
        self.random_enhancement = bool(random_enhancement)
        self.dense = dense(self.width, self.max_norm, name="dense")
        self.bn = keras.layers.BatchNormalization(
            synchronized=True, name="bn") if self.use_batchnorm else None
        if self.random_enhancement:
            self.rem = RandomEnhancement(self.dropout_rate, self.fast_dropout, name="rem")
        else:
            self.act = activation_layer(activation, name="act")
            self.dropout = (dropout_layer(self.dropout_rate, self.fast_dropout, name="dropout")
                            if self.dropout_rate > 0 else None)

    def build(self, input_shape):
        self.dense.build(input_shape)
        if self.bn is not None:
            self.bn.build(tuple(input_shape[:-1]) + (self.width,))

    def call(self, x, training=None):
        x = self.dense(x)
        if self.bn is not None:
            x = self.bn(x, training=training)
        if self.random_enhancement:
            return self.rem(x, training=training)
        x = self.act(x)
        return x if self.dropout is None else self.dropout(x, training=training)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.width,)

    def get_config(self):
        return {**super().get_config(), "width": self.width, "dropout": self.dropout_rate,
                "use_batchnorm": self.use_batchnorm, "max_norm": self.max_norm,
                "activation": self.activation,
                "random_enhancement": self.random_enhancement, "fast_dropout": self.fast_dropout}


@keras.saving.register_keras_serializable(package="tfpose")
class ResidualBlock(keras.layers.Layer):
    """Martinez's residual block: two :class:`LinearBlock` s plus a skip.

    The input width must equal ``width`` (identity skip). The RepGAN critic
    uses ``use_batchnorm=False`` (a WGAN-GP critic must treat samples
    independently).
    """

    def __init__(self, width: int = 1024, dropout: float = 0.5, use_batchnorm: bool = True,
                 max_norm: bool = True, activation: str = "relu", fast_dropout: bool = False,
                 **kwargs):
        super().__init__(**kwargs)
        self.width = int(width)
        self.dropout_rate = float(dropout)
        self.use_batchnorm = bool(use_batchnorm)
        self.max_norm = bool(max_norm)
        self.activation = activation
        self.fast_dropout = bool(fast_dropout)
        common = dict(width=self.width, dropout=self.dropout_rate,
                      use_batchnorm=self.use_batchnorm, max_norm=self.max_norm,
                      activation=activation, fast_dropout=self.fast_dropout)
        self.block1 = LinearBlock(name="linear_1", **common)
        self.block2 = LinearBlock(name="linear_2", **common)

    def build(self, input_shape):
        if input_shape[-1] is not None and int(input_shape[-1]) != self.width:
            raise ValueError(f"ResidualBlock of width {self.width} got input width "
                             f"{input_shape[-1]}; the skip connection needs them equal")
        self.block1.build(input_shape)
        self.block2.build(input_shape)

    def call(self, x, training=None):
        y = self.block1(x, training=training)
        y = self.block2(y, training=training)
        return x + y

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "width": self.width, "dropout": self.dropout_rate,
                "use_batchnorm": self.use_batchnorm, "max_norm": self.max_norm,
                "activation": self.activation, "fast_dropout": self.fast_dropout}


@keras.saving.register_keras_serializable(package="tfpose")
class Trunk(ConstructorConfig, keras.layers.Layer):
    """Martinez's body: ``LinearBlock(width)`` then ``num_blocks`` residual blocks.

    ``trunk(x)`` maps [B, F] to the last feature [B, width];
    ``trunk(x, return_features=True)`` gives the 1 + ``num_blocks`` features
    [B, width] (the first layer's output, then each residual block's output):
    the 2D features ASN's Attention Module reads. ``random_enhancement`` puts
    ASN's REM at the first layer only; ``use_batchnorm=False`` with
    ``dropout=0`` is the RepGAN critic's 3D branch (Dense + activation, one
    residual block without BN or dropout).

    Sub-layers are ``input_block`` and the list ``blocks``; their variables
    come in that order (a checkpoint of ``list(model.variables)`` relies on it).
    """

    def __init__(self, width: int = 1024, num_blocks: int = 2, dropout: float = 0.5,
                 max_norm: bool = True, activation: str = "relu", fast_dropout: bool = False,
                 random_enhancement: bool = False, use_batchnorm: bool = True, **kwargs):
        super().__init__(**kwargs)
        if int(num_blocks) < 0:
            raise ValueError(f"Trunk num_blocks must be >= 0, got {num_blocks}")
        self.width = int(width)
        self.num_blocks = int(num_blocks)
        self.dropout = float(dropout)
        self.max_norm = bool(max_norm)
        self.activation = activation
        self.fast_dropout = bool(fast_dropout)
        self.random_enhancement = bool(random_enhancement)
        self.use_batchnorm = bool(use_batchnorm)
        common = dict(dropout=self.dropout, use_batchnorm=self.use_batchnorm,
                      max_norm=self.max_norm, activation=activation,
                      fast_dropout=self.fast_dropout)
        self.input_block = LinearBlock(self.width, random_enhancement=self.random_enhancement,
                                       name="input_block", **common)
        self.blocks = [ResidualBlock(self.width, name=f"residual_{i}", **common)
                       for i in range(self.num_blocks)]

    def build(self, input_shape):
        self.input_block.build(input_shape)
        for block in self.blocks:
            block.build(tuple(input_shape[:-1]) + (self.width,))

    def call(self, x, training=None, return_features=False):
        h = self.input_block(x, training=training)
        features = [h]
        for block in self.blocks:
            h = block(h, training=training)
            features.append(h)
        return features if return_features else h


@keras.saving.register_keras_serializable(package="tfpose")
class AttentionModule(keras.layers.Layer):
    """ASN's Attention Module (eqs. 6-8), fusing m 2D features into ``F*``.

    ``sim_i = w_i * ||F_i - F*||_2``   (per-sample scalar norm, w_i in R^D)
    ``att_i = 1 - sigmoid(sim_i)``     ([B, D])
    ``out   = F* + sum_i att_i * F_i``

    Called as ``layer(features, f_star)`` with ``features`` a list of m
    tensors [B, D] and ``f_star`` [B, D]. The learned vectors are stored as
    one (m, D) variable ``w``; row i is w_i.

    Initialisation: ``w = 0`` (default), so every attention starts at exactly
    0.5 -- each 2D feature enters at half strength whatever the scale of the
    feature distance (a 1024-d distance can be ~10-100, so random w would
    saturate the sigmoid and kill the gradient), and training then moves each
    channel's attention up or down. The norm uses ``sqrt(sum + 1e-12)`` so its
    gradient is finite when ``F_i == F*``.
    """

    def __init__(self, w_initializer="zeros", **kwargs):
        kwargs.setdefault("dtype", "float32")  # distances and sigmoids: float32 under mixed precision
        super().__init__(**kwargs)
        self.w_initializer = keras.initializers.get(w_initializer)

    def build(self, features_shape, f_star_shape):
        if not isinstance(features_shape, (list, tuple)) or not features_shape or \
                not isinstance(features_shape[0], (list, tuple)):
            raise ValueError("AttentionModule needs a list of 2D features, got shape "
                             f"{features_shape}")
        dim = int(f_star_shape[-1])
        for s in features_shape:
            if int(s[-1]) != dim:
                raise ValueError(f"AttentionModule: 2D feature width {s[-1]} differs "
                                 f"from the 3D feature width {dim}")
        self.num_features = len(features_shape)
        self.w = self.add_weight(name="w", shape=(self.num_features, dim),
                                 initializer=self.w_initializer, trainable=True)

    def call(self, features, f_star):
        out = f_star
        for i, f in enumerate(features):
            diff = f - f_star
            dist = ops.sqrt(ops.sum(ops.square(diff), axis=-1, keepdims=True) + 1e-12)
            sim = self.w[i] * dist                      # eq. 6, [B, D]
            att = 1.0 - ops.sigmoid(sim)                # eq. 7
            out = out + att * f                         # eq. 8
        return out

    def compute_output_shape(self, features_shape, f_star_shape):
        return f_star_shape

    def get_config(self):
        return {**super().get_config(),
                "w_initializer": keras.initializers.serialize(self.w_initializer)}


@keras.saving.register_keras_serializable(package="tfpose")
class KCS(keras.layers.Layer):
    """Kinematic chain space matrix (Wandt et al.; RepGAN eqs. 1-4).

    pose [B, J, 3] -> bones ``B = Y C`` [B, 3, b] (C: the skeleton's (J, b)
    incidence matrix, +1 child, -1 parent) -> ``KCS = B^T B`` [B, b, b].
    The diagonal holds squared bone lengths, the rest bone-pair dot products
    (angles); it is invariant to translating and rotating the pose.
    """

    def __init__(self, skeleton: Union[str, skeleton_lib.Skeleton] = "h36m17", **kwargs):
        kwargs.setdefault("dtype", "float32")  # squared bone lengths: float32 under mixed precision
        super().__init__(**kwargs)
        self.skeleton_name = _skeleton_name(skeleton)
        self._skel = _skeleton(skeleton)
        self.incidence = self._skel.incidence_matrix().astype(np.float32)  # (J, b)

    @property
    def num_bones(self) -> int:
        return self._skel.num_bones

    def bones(self, pose):
        """[B, J, 3] -> B = Y C as [B, 3, b]."""
        return ops.einsum("njc,jb->ncb", pose, ops.convert_to_tensor(self.incidence))

    def call(self, pose):
        b = self.bones(pose)
        return ops.einsum("nci,ncj->nij", b, b)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_bones, self.num_bones)

    def get_config(self):
        return {**super().get_config(), "skeleton": self.skeleton_name}


def kcs_weight_matrix(skeleton: Union[str, skeleton_lib.Skeleton]) -> np.ndarray:
    """RepGAN eq. 5: ``w_ij = 1`` if ``i == j`` or ``d_ij == 1``, else
    ``tanh(1 / (d_ij - 1))`` with ``d_ij`` the bone distance."""
    d = _skeleton(skeleton).bone_distance_matrix().astype(np.float64)
    w = np.ones_like(d)
    far = d > 1
    w[far] = np.tanh(1.0 / (d[far] - 1.0))
    return w.astype(np.float32)


@keras.saving.register_keras_serializable(package="tfpose")
class WeightedKCS(KCS):
    """RepGAN's weighted KCS: ``wKCS = W * KCS`` (elementwise, eq. 6).

    ``W`` (exposed as the numpy array ``weight_matrix``) down-weights the
    angle between bones that are far apart in the kinematic tree; it is a
    constant of the skeleton, not a trainable weight.
    """

    def __init__(self, skeleton: Union[str, skeleton_lib.Skeleton] = "h36m17", **kwargs):
        super().__init__(skeleton, **kwargs)
        self.weight_matrix = kcs_weight_matrix(self._skel)

    def call(self, pose):
        return super().call(pose) * ops.convert_to_tensor(self.weight_matrix)


def kcs_layer(kind: str, skeleton) -> Optional[KCS]:
    """``"wkcs"`` -> :class:`WeightedKCS`, ``"kcs"`` -> :class:`KCS`, ``"none"`` -> None."""
    if kind == "wkcs":
        return WeightedKCS(skeleton, name="wkcs")
    if kind == "kcs":
        return KCS(skeleton, name="kcs")
    if kind == "none":
        return None
    raise ValueError(f"unknown kcs {kind!r}; known: wkcs, kcs, none")


__all__: Sequence[str] = (
    "ACTIVATIONS", "activation_layer", "dense", "FastDropout", "dropout_layer",
    "RandomEnhancement", "LinearBlock",
    "ResidualBlock", "Trunk", "AttentionModule", "KCS", "WeightedKCS", "kcs_weight_matrix",
    "kcs_layer",
)

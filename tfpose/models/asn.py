"""ASN: "An Articulated Structure-aware Network for 3D Human Pose Estimation".

A Martinez basic network (optionally with REM at its first layer) regresses
a coarse pose; a refinement network re-estimates the hard joints (elbows,
wrists, knees, feet) from that pose, fused with the basic network's 2D
features by the Attention Module. The output keeps the basic network's
non-hard joints and the refined hard joints.
"""

from __future__ import annotations

from typing import Dict, Optional

import keras
import numpy as np
from keras import ops

from tfpose import layers as L
from tfpose import skeleton as skeleton_lib
from tfpose.config import ASN_VARIANTS as VARIANTS  # Table 2's rows, in order (one list)
from tfpose.constructor_config import ConstructorConfig
from tfpose.models.baseline import check_input_shape

_FUSION = {"basic": None, "basic+ref": None, "basic+ref+AM*": "dense",
           "basic+ref+AM": "attention", "basic+ref+AM+REM": "attention"}


@keras.saving.register_keras_serializable(package="tfpose")
class ASN(ConstructorConfig, keras.Model):
    """ASN: [B, J2, 2] -> [B, J3, 3] (final pose).

    ``variant`` (ASN Table 2): ``"basic"`` (Martinez), ``"basic+ref"``
    (refinement fed only the coarse pose), ``"basic+ref+AM*"`` (plus a plain
    Dense fusion of the last 2D feature: ``F* + Dense(F_last)``),
    ``"basic+ref+AM"`` (Attention Module over the m = 1 + num_blocks 2D
    features: the first layer's output and each residual block's output) and
    ``"basic+ref+AM+REM"`` (default; REM replaces the first layer's
    ReLU + Dropout).

    The refinement network is Dense(width) BN ReLU Dropout x2 -> F*, fusion,
    Dense(J3*3). Its non-hard outputs are wrapped in ``stop_gradient``: their
    values are kept (for inspection) but, as the paper prescribes, the
    refinement network back-propagates only hard-joint errors whatever loss
    is applied to ``refined``.

    Parameters at full width (1024, 2 blocks), h36m16 -> h36m17: basic
    4,304,947; basic+ref 5,468,262; basic+ref+AM* 6,517,862; basic+ref+AM
    5,471,334; basic+ref+AM+REM 5,471,334 (REM has no weights, AM adds
    3 x 1024). For h36m17 -> h36m17 add 2,048; humaneva15 -> humaneva15
    (full variant): 5,450,842. (BN moving statistics included.)
    """

    def __init__(self, skeleton_in: str = "h36m17", skeleton_out: str = "h36m17",
                 width: int = 1024, num_blocks: int = 2, dropout: float = 0.5,
                 max_norm: bool = True, activation: str = "relu",
                 variant: str = "basic+ref+AM+REM", fast_dropout: bool = False, **kwargs):
        super().__init__(**kwargs)
        if variant not in VARIANTS:
            raise ValueError(f"unknown ASN variant {variant!r}; known: {', '.join(VARIANTS)}")
        s_in, s_out = skeleton_lib.get(skeleton_in), skeleton_lib.get(skeleton_out)
        self.skeleton_in, self.skeleton_out = s_in.name, s_out.name
        self.num_joints_in, self.num_joints_out = s_in.num_joints, s_out.num_joints
        self.hard_mask = s_out.hard_joint_mask.astype(np.float32)  # (J3,)
        self.width = int(width)
        self.num_blocks = int(num_blocks)
        self.dropout = float(dropout)
        self.max_norm = bool(max_norm)
        self.activation = activation
        self.variant = variant
        self.use_refinement = variant != "basic"
        self.fusion = _FUSION[variant]
        self.use_rem = variant.endswith("+REM")

        self.fast_dropout = bool(fast_dropout)
        common = dict(dropout=self.dropout, max_norm=self.max_norm, activation=activation,
                      fast_dropout=self.fast_dropout)
        # Basic network (Martinez), REM at the first layer only.
        self.trunk = L.Trunk(self.width, self.num_blocks, random_enhancement=self.use_rem,
                             name="trunk", **common)
        self.basic_output = L.dense(self.num_joints_out * 3, self.max_norm,
                                    name="basic_output", dtype="float32")
        # Refinement network.
        if self.use_refinement:
            self.refine_blocks = [L.LinearBlock(self.width, name=f"refine_{i}", **common)
                                  for i in range(2)]
            if self.fusion == "attention":
                self.attention = L.AttentionModule(name="attention")
            elif self.fusion == "dense":
                self.fusion_dense = L.dense(self.width, self.max_norm, name="fusion_dense")
            self.refined_output = L.dense(self.num_joints_out * 3, self.max_norm,
                                          name="refined_output", dtype="float32")

    @property
    def refinement_layers(self):
        """The layers that make up the refinement network (fusion included)."""
        if not self.use_refinement:
            return []
        out = list(self.refine_blocks)
        if self.fusion == "attention":
            out.append(self.attention)
        elif self.fusion == "dense":
            out.append(self.fusion_dense)
        return out + [self.refined_output]

    def build(self, input_shape):
        check_input_shape(input_shape, self.num_joints_in, 2, type(self).__name__)
        feat = (None, self.width)
        self.trunk.build((None, self.num_joints_in * 2))
        self.basic_output.build(feat)
        if self.use_refinement:
            self.refine_blocks[0].build((None, self.num_joints_out * 3))
            self.refine_blocks[1].build(feat)
            if self.fusion == "attention":
                self.attention.build([feat] * (1 + self.num_blocks), feat)
            elif self.fusion == "dense":
                self.fusion_dense.build(feat)
            self.refined_output.build(feat)

    def call(self, x, training=None, return_parts=False):
        n3 = self.num_joints_out
        h = ops.reshape(ops.cast(x, "float32"), (-1, self.num_joints_in * 2))
        features = self.trunk(h, training=training, return_features=True)  # 2D features F_i
        basic_flat = self.basic_output(features[-1])
        basic = ops.reshape(basic_flat, (-1, n3, 3))
        if not self.use_refinement:
            parts = {"basic": basic, "refined": None, "pose_3d": basic}
            return parts if return_parts else basic

        r = basic_flat
        for block in self.refine_blocks:
            r = block(r, training=training)              # 3D feature F*
        if self.fusion == "attention":
            r = self.attention(features, r)
        elif self.fusion == "dense":
            r = r + self.fusion_dense(features[-1])
        refined = ops.reshape(self.refined_output(r), (-1, n3, 3))
        hard = ops.reshape(ops.convert_to_tensor(self.hard_mask), (1, n3, 1))
        # Only hard joints back-propagate into the refinement network.
        refined = hard * refined + (1.0 - hard) * ops.stop_gradient(refined)
        pose = hard * refined + (1.0 - hard) * basic
        if return_parts:
            return {"basic": basic, "refined": refined, "pose_3d": pose}
        return pose

    def call_parts(self, x, training=False) -> Dict[str, Optional[object]]:
        """``{"basic", "refined" (None for "basic"), "pose_3d"}``, each [B, J3, 3]."""
        return self(x, training=training, return_parts=True)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_joints_out, 3)

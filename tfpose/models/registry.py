"""What each model kind needs, in one place.

Every module that behaves differently per model (the training task, the
normaliser, the protocol-#1 metric, output units, which joints come out)
asks :func:`get` instead of comparing model names. A fourth model adds a
:class:`ModelSpec` here and its own files, nothing else.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Dict, Optional, Tuple

import keras

from tfpose import config as config_lib
from tfpose import image_mapping
from tfpose import normalization
from tfpose.models.asn import ASN
from tfpose.models.baseline import Baseline
from tfpose.models import repgan
from tfpose.models.repgan import RepGAN


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    kind: str
    model_class: type
    task: str  # "supervised" (2D -> 3D regression) | "adversarial" (RepGAN's WGAN)
    normalizer: str  # tfpose.normalization kind: "zscore" | "root_scale" (rays: see below)
    learning_rate: float  # the paper's Adam rate
    protocol1: str  # metric of protocol #1: "mpjpe" | "n_mpjpe" (no metric scale)
    units: str  # output units: "mm" | "normalized"
    lifts_input_joints: bool  # 3D joints = the 2D input's (else the dataset's 3D skeleton)
    # constructor arguments beyond skeletons, from the model config and the dataset
    kwargs: Callable[[config_lib.ModelConfig, str], Dict]
    supervised_loss: Optional[str] = None  # tfpose.losses.SUPERVISED_LOSSES key

    @property
    def scale_aligned(self) -> bool:
        """Predictions are compared after per-pose scale alignment (no metric scale)."""
        return self.protocol1 == "n_mpjpe"

    def skeletons(self, dataset: str) -> Tuple[str, str]:
        """(2D input skeleton, 3D output skeleton) of this model on ``dataset``."""
        skel_2d, skel_3d, _, _ = config_lib.check_dataset(dataset)
        return (skel_2d, skel_2d) if self.lifts_input_joints else (skel_2d, skel_3d)

    def model_kwargs(self, model: config_lib.ModelConfig, dataset: str) -> Dict:
        skel_2d, skel_3d = self.skeletons(dataset)
        if self.lifts_input_joints:
            return dict(skeleton=skel_2d, **self.kwargs(model, dataset))
        return dict(skeleton_in=skel_2d, skeleton_out=skel_3d, **self.kwargs(model, dataset))

    def create_normalizer(self, model: config_lib.ModelConfig, dataset: str, pose_2d=None,
                          pose_3d=None, root: int = 0) -> normalization.Normalizer:
        """The normaliser a new run of this model on ``dataset`` trains with: camera rays
        of the dataset's frame where the model back-projects, else :attr:`normalizer`."""
        if self.model_kwargs(model, dataset).get("geometry") in repgan.BACKPROJECTING:
            frame = image_mapping.frame_for({"dataset": dataset})
            return normalization.CameraRaysNormalizer(frame.focal_length,
                                                      frame.principal_point, root=root)
        return normalization.create(self.normalizer, pose_2d, pose_3d, root=root)

    def build(self, model: config_lib.ModelConfig, dataset: str) -> keras.Model:
        return self.model_class(**self.model_kwargs(model, dataset))


def _trunk_kwargs(m: config_lib.ModelConfig, dataset: str = "") -> Dict:
    return dict(width=m.width, num_blocks=m.num_blocks, dropout=m.dropout, max_norm=m.max_norm,
                fast_dropout=m.fast_dropout)


def repgan_geometry(m: config_lib.ModelConfig, dataset: str) -> str:
    """``--geometry``, or back-projection where the dataset's frame has a focal length."""
    if m.geometry is not None:
        if m.geometry in repgan.BACKPROJECTING and _focal_length(dataset) is None:
            raise ValueError(f"--geometry={m.geometry} needs the camera's focal length, which "
                             f"{dataset} does not give; use --geometry=hybrid")
        return m.geometry
    return "backproject" if _focal_length(dataset) is not None else "hybrid"


def _focal_length(dataset: str):
    frame = image_mapping.FRAMES.get(dataset.split("/")[0])
    return None if frame is None else frame.focal_length


def _repgan_kwargs(m: config_lib.ModelConfig, dataset: str) -> Dict:
    return dict(_trunk_kwargs(m), kcs=m.kcs, discriminator_width=m.critic_width,
                normalize_reprojection=m.normalize_reprojection,
                geometry=repgan_geometry(m, dataset))


SPECS: Dict[str, ModelSpec] = {spec.kind: spec for spec in (
    ModelSpec("baseline", Baseline, task="supervised", normalizer="zscore", learning_rate=1e-3,
              protocol1="mpjpe", units="mm", lifts_input_joints=False, kwargs=_trunk_kwargs,
              supervised_loss="mse"),
    ModelSpec("asn", ASN, task="supervised", normalizer="zscore", learning_rate=1e-3,
              protocol1="mpjpe", units="mm", lifts_input_joints=False,
              kwargs=lambda m, dataset: dict(_trunk_kwargs(m), variant=m.asn_variant),
              supervised_loss="asn"),
    ModelSpec("repgan", RepGAN, task="adversarial", normalizer="root_scale", learning_rate=8e-5,
              protocol1="n_mpjpe", units="normalized", lifts_input_joints=True,
              kwargs=_repgan_kwargs),
)}
assert tuple(SPECS) == config_lib.MODEL_KINDS, "config.MODEL_KINDS must list the registry's kinds"


def get(kind: str) -> ModelSpec:
    try:
        return SPECS[kind]
    except KeyError:
        raise ValueError(f"unknown model kind {kind!r}; known: {', '.join(SPECS)}") from None

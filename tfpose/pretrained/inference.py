"""The inference network of a pretrained model: built from ``model.json``, weights by key.

The network maps normalised 2D to normalised 3D (the normaliser sits
outside, as in training). For the supervised models (baseline, ASN) it is
the model itself; for RepGAN only the generator is kept, wrapped so that the
output is the root-relative pose ``RepGAN.pose_from(x, generator(x))``
(the critic and the reprojector only matter for training).

Weights are keyed by Keras variable paths (``baseline/trunk/input_block/
dense/kernel``); the layers are named explicitly, so the paths do not depend
on what else the process has built. Non-float variables (dropout seed
states) are not weights and are neither stored nor loaded.

Imports Keras and ``tfpose.models``, not the training code.
"""

from __future__ import annotations

import os
from typing import Dict, List, Tuple

import keras
import numpy as np

from tfpose import normalization
from tfpose import skeleton as skeleton_lib
from tfpose.models import registry
from tfpose.pretrained import (NORMALIZATION_FILE, WEIGHTS_FILE, PretrainedError, compact,
                               read_folder)


def keeps_generator_only(kind: str) -> bool:
    """Adversarial models (RepGAN) lift with their generator alone."""
    return registry.get(kind).task == "adversarial"


def build_model(description: Dict) -> keras.Model:
    """The inference network of ``description`` (``model.json``'s fields),
    built, with freshly initialised weights."""
    kind = description["model_kind"]
    spec = registry.get(kind)
    kwargs = dict(description["model_kwargs"])
    j2 = len(description["joint_names_2d"])
    try:
        if keeps_generator_only(kind):
            full = spec.model_class(**kwargs)  # builds no weights: only the generator is used
            inputs = keras.Input((j2, 2), name="keypoints_2d")
            outputs = full.pose_from(inputs, full.generator(full.generator_input(inputs)))
            return keras.Model(inputs, outputs, name=f"{kind}_lifter")
        model = spec.model_class(**kwargs, name=kind)
        model.build((None, j2, 2))
    except (TypeError, ValueError, KeyError) as e:
        raise PretrainedError(f"cannot build a {kind} from model_kwargs "
                              f"{description['model_kwargs']}: {e}") from None
    return model


def weight_variables(model: keras.Model) -> List:
    """The variables that are weights (float), in the model's order."""
    return [v for v in model.variables if "float" in str(v.dtype)]


def weight_arrays(model: keras.Model) -> Dict[str, np.ndarray]:
    """float32 values of the weights by variable path."""
    arrays = {}
    for v in weight_variables(model):
        if v.path in arrays:
            raise PretrainedError(f"two weights share the variable path {v.path!r}")
        arrays[v.path] = np.asarray(v.numpy(), np.float32)
    return arrays


def assign(model: keras.Model, arrays: Dict[str, np.ndarray], where: str) -> None:
    """Set the model's weights from ``arrays`` (by path); every weight must be
    there with its shape, and nothing else."""
    variables = weight_variables(model)
    paths = {v.path for v in variables}
    missing = sorted(paths - set(arrays))
    unexpected = sorted(set(arrays) - paths)
    if missing or unexpected:
        raise PretrainedError(f"{where} does not match the model: "
                              + "; ".join(p for p in (
                                  f"missing {', '.join(missing[:5])}" if missing else "",
                                  f"unexpected {', '.join(unexpected[:5])}" if unexpected else "")
                                  if p))
    for v in variables:
        value = arrays[v.path]
        if tuple(value.shape) != tuple(v.shape):
            raise PretrainedError(f"{where}: {v.path} has shape {list(value.shape)}, the model "
                                  f"needs {list(v.shape)}")
        v.assign(value)


def copy_from_trained(model: keras.Model, trained: keras.Model, kind: str) -> None:
    """Copy the weights of a trained ``kind`` model (a ``tfpose.training``
    task's ``.model``) into the inference network built for it, in order."""
    source = trained.generator if keeps_generator_only(kind) else trained
    src, dst = weight_variables(source), weight_variables(model)
    if [tuple(v.shape) for v in src] != [tuple(v.shape) for v in dst]:
        raise PretrainedError(f"the trained model's weights ({len(src)} arrays) do not match "
                              f"the inference network built from its description "
                              f"({len(dst)} arrays)")
    for s, d in zip(src, dst):
        d.assign(s.numpy())


class Pretrained:
    """A loaded pretrained model: the Keras network, its normaliser and metadata.

    Offers what ``tfpose.export`` and ``tfpose.training.predict`` read from a
    training task (``normalizer``, ``skeleton_2d/3d``, ``predict_normalized``,
    ``config``), so a shipped model exports like a model directory.
    """

    def __init__(self, folder: str, metadata: Dict, model: keras.Model,
                 normalizer: normalization.Normalizer):
        self.folder = folder
        self.metadata = metadata
        self.model = model
        self.normalizer = normalizer
        self.skeleton_2d = skeleton_lib.by_joint_names(metadata["joint_names_2d"])
        self.skeleton_3d = skeleton_lib.by_joint_names(metadata["joint_names_3d"])

    @property
    def name(self) -> str:
        return self.metadata.get("name") or os.path.basename(self.folder)

    @property
    def units(self) -> str:
        return self.metadata["units"]

    @property
    def config(self):
        """The training configuration (``tfpose.config.ExperimentConfig``)."""
        from tfpose.config import ExperimentConfig

        stored = (self.metadata.get("training") or {}).get("train_config")
        if not stored:
            raise PretrainedError(f"{self.folder}: metadata.json has no training.train_config")
        return ExperimentConfig.from_dict(stored)

    def predict_normalized(self, x):
        return self.model(x, training=False)

    def __repr__(self) -> str:
        return (f"Pretrained({self.name!r}, {self.metadata['model_kind']} on "
                f"{self.metadata['dataset']}, {self.skeleton_2d.num_joints} -> "
                f"{self.skeleton_3d.num_joints} joints, {self.units})")


def _skeletons_match(folder: str, description: Dict) -> Tuple[int, int]:
    try:
        s2 = skeleton_lib.by_joint_names(description["joint_names_2d"])
        s3 = skeleton_lib.by_joint_names(description["joint_names_3d"])
    except (KeyError, ValueError) as e:
        raise PretrainedError(f"{folder}: {e}") from None
    return s2.num_joints, s3.num_joints


def load_folder(folder: str) -> Pretrained:
    """Read, verify (sha256) and build the pretrained model in ``folder``."""
    description = read_folder(folder)
    _skeletons_match(folder, description)
    try:
        normalizer = normalization.Normalizer.load(os.path.join(folder, NORMALIZATION_FILE))
    except (ValueError, KeyError) as e:
        raise PretrainedError(f"{os.path.join(folder, NORMALIZATION_FILE)}: {e}") from None
    weights_path = os.path.join(folder, WEIGHTS_FILE)
    try:
        arrays = compact.decode(compact.load(weights_path))
    except compact.WeightsError as e:
        raise PretrainedError(str(e)) from None
    model = build_model(description)
    assign(model, arrays, weights_path)
    return Pretrained(folder, description, model, normalizer)

"""Pretrained models shipped inside the package: lift poses with no dataset and no training.

Each shipped model is a folder ``tfpose/pretrained/<name>/`` (package data,
so an installed wheel carries it; nothing is downloaded at run time)::

    model.json          what to build: kind, constructor arguments, joint names,
                        units, the training image frame, the weights' variables
    normalization.json  the training normalisation (tfpose.normalization)
    weights.npz         the inference network's variables, compact (float16
                        or int8 kernels), keyed by their Keras variable paths
    metadata.json       accuracy measured with these weights, compaction cost,
                        training command and config, commit, sha256 of the
                        three files above, licence note

``python -m tfpose.pretrained pack --model_dir=... --name=...`` writes a
folder from a trained model directory (``tfpose.pretrained.pack``);
``tfpose.serving.load(name)`` lifts with it. SavedModel and TFLite files are
made from a shipped model by ``python -m tfpose.export --pretrained=NAME``,
not shipped.

This module reads folders with the standard library and NumPy only; building
the network (:func:`load`) imports Keras and ``tfpose.models``, never the
training code.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from typing import Dict, List, Optional

ROOT_ENV = "TFPOSE_PRETRAINED_DIR"
MODEL_FILE = "model.json"
NORMALIZATION_FILE = "normalization.json"
WEIGHTS_FILE = "weights.npz"
METADATA_FILE = "metadata.json"
HASHED_FILES = (MODEL_FILE, NORMALIZATION_FILE, WEIGHTS_FILE)
FORMAT_VERSION = 1
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
REQUIRED_MODEL_FIELDS = ("model_kind", "model_kwargs", "dataset", "joint_names_2d",
                         "joint_names_3d", "units", "weights")
LICENCE_NOTES = {
    "human36m": ("Trained on Human3.6M (http://vision.imar.ro/human3.6m). The Human3.6M "
                 "licence allows research use only; these weights are derived from it and "
                 "may be used for non-commercial research under that licence. tfpose's own "
                 "licence does not extend to them."),
    "humaneva": ("Trained on HumanEva-I (http://humaneva.is.tue.mpg.de). Its licence allows "
                 "research use only; these weights are derived from it and may be used for "
                 "non-commercial research under that licence. tfpose's own licence does not "
                 "extend to them."),
}


class PretrainedError(ValueError):
    """A pretrained model that cannot be found, read or trusted; one line."""


def root(path: Optional[str] = None) -> str:
    """The folder holding the pretrained models: ``path``, else
    ``$TFPOSE_PRETRAINED_DIR``, else this package's folder."""
    return os.path.abspath(path or os.environ.get(ROOT_ENV) or os.path.dirname(__file__))


def is_model_folder(path: str) -> bool:
    return os.path.isfile(os.path.join(path, MODEL_FILE)) and \
        os.path.isfile(os.path.join(path, METADATA_FILE))


def available(root_dir: Optional[str] = None) -> List[str]:
    """Names of the pretrained models in :func:`root` (sorted)."""
    base = root(root_dir)
    if not os.path.isdir(base):
        return []
    return sorted(n for n in os.listdir(base)
                  if NAME_PATTERN.match(n) and is_model_folder(os.path.join(base, n)))


def describe_available(root_dir: Optional[str] = None) -> str:
    names = available(root_dir)
    return ("shipped models: " + ", ".join(names)) if names else \
        "no pretrained models are shipped yet (see docs/PRETRAINED.md)"


def folder(name: str, root_dir: Optional[str] = None) -> str:
    """The folder of the pretrained model ``name``."""
    if name in available(root_dir):
        return os.path.join(root(root_dir), name)
    raise PretrainedError(f"unknown pretrained model {name!r}; {describe_available(root_dir)}")


def check_name(name: str) -> str:
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise PretrainedError(f"bad pretrained model name {name!r}: use lower-case letters, "
                              f"digits, '.', '_' and '-' (e.g. asn-h36m-sh)")
    return name


def sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _read_json(path: str) -> Dict:
    try:
        with open(path) as f:
            obj = json.load(f)
    except FileNotFoundError:
        raise PretrainedError(f"{path} is missing") from None
    except (OSError, json.JSONDecodeError) as e:
        raise PretrainedError(f"{path} is not readable JSON: {e}") from None
    if not isinstance(obj, dict):
        raise PretrainedError(f"{path} must hold a JSON object, got {type(obj).__name__}")
    return obj


def verify(path: str, metadata: Dict) -> None:
    """Check every file listed in ``metadata["sha256"]`` against its hash."""
    hashes = metadata.get("sha256")
    if not isinstance(hashes, dict) or set(hashes) != set(HASHED_FILES):
        raise PretrainedError(f"{os.path.join(path, METADATA_FILE)} must list the sha256 of "
                              f"{', '.join(HASHED_FILES)}")
    for name in HASHED_FILES:
        file_path = os.path.join(path, name)
        if not os.path.isfile(file_path):
            raise PretrainedError(f"{file_path} is missing")
        got = sha256(file_path)
        if got != hashes[name]:
            raise PretrainedError(f"{file_path} is corrupted or was changed: sha256 {got[:16]}... "
                                  f"differs from {hashes[name][:16]}... in {METADATA_FILE} "
                                  f"(reinstall tfpose or pack the model again)")


def read_folder(path: str, check_hashes: bool = True) -> Dict:
    """The description of the model in folder ``path``: ``model.json`` and
    ``metadata.json`` merged (``folder`` added), after checking the files'
    sha256 (``check_hashes``)."""
    path = os.path.abspath(path)
    model = _read_json(os.path.join(path, MODEL_FILE))
    metadata = _read_json(os.path.join(path, METADATA_FILE))
    for where, d in ((MODEL_FILE, model), (METADATA_FILE, metadata)):
        version = d.get("format_version")
        if not isinstance(version, int) or version > FORMAT_VERSION:
            raise PretrainedError(f"{os.path.join(path, where)} has format_version {version!r}; "
                                  f"this tfpose reads versions up to {FORMAT_VERSION} "
                                  f"(upgrade tfpose)")
    missing = [k for k in REQUIRED_MODEL_FIELDS if k not in model]
    if missing:
        raise PretrainedError(f"{os.path.join(path, MODEL_FILE)} lacks {', '.join(missing)}")
    if check_hashes:
        verify(path, metadata)
    return {**metadata, **model, "folder": path}


def resolve(name_or_folder: str, root_dir: Optional[str] = None) -> str:
    """A model folder from a shipped name or a folder's path."""
    path = os.fspath(name_or_folder)
    if os.path.isdir(path) and is_model_folder(path):
        return os.path.abspath(path)
    return folder(path, root_dir)


def load(name_or_folder: str, root_dir: Optional[str] = None):
    """The shipped model ``name`` (or the model in a folder) as a
    :class:`tfpose.pretrained.inference.Pretrained`: ``.model`` (Keras:
    normalised 2D -> normalised 3D), ``.normalizer``, ``.metadata``.
    Files whose sha256 differs from ``metadata.json`` are refused."""
    from tfpose.pretrained import inference

    return inference.load_folder(resolve(name_or_folder, root_dir))


__all__ = ["PretrainedError", "available", "folder", "load", "read_folder", "resolve", "root",
           "verify", "LICENCE_NOTES", "ROOT_ENV"]

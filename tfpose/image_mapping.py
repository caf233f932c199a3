"""Keypoints from any image -> the pixel frame a model was trained in.

The baseline and ASN read absolute pixel positions (z-scored with the
training statistics), so they only understand keypoints from images like the
ones they were trained on: Human3.6M's 1000x1000 frames, whose four cameras
have a focal length of about 1147 px and a principal point near (514, 507).
Keypoints from a 1920x1080 or 640x480 video have to be mapped into that
frame first.

The mapping assumes the user's camera has its principal point at the image
centre and, unless its focal length is given, the same horizontal field of
view as the training cameras (47 degrees for Human3.6M); a point on the
optical axis lands on the training principal point and angles from the axis
are kept::

    s  = f_train / f_user          (f_user = w * f_train / W_train: s = W_train / w)
    u' = (u - w / 2) * s + cx_train
    v' = (v - h / 2) * s + cy_train

so one pose seen by such cameras at any resolution maps to the same training
pixels (tests/test_pretrained.py checks 640x480, 1000x1000 and 1920x1080).
RepGAN with ``geometry="mismatched"`` or ``"hybrid"`` normalises each pose
by its own root and 2D spread, which this similarity transform does not
change; with ``"backproject"`` (the Human3.6M default) or ``"backproject_hybrid"``
it reads camera rays
of this frame, so the mapping matters as for the baseline. NumPy only.
"""

from __future__ import annotations

import dataclasses
from typing import Dict, Optional, Sequence, Tuple

import numpy as np


@dataclasses.dataclass(frozen=True)
class TrainingFrame:
    """The image frame of a training set's 2D keypoints (pixels)."""

    width: int
    height: int
    principal_point: Tuple[float, float]
    focal_length: Optional[float]  # pixels; None where the dataset does not give it
    source: str = ""

    def to_dict(self) -> Dict:
        return {"width": self.width, "height": self.height,
                "principal_point": list(self.principal_point),
                "focal_length": self.focal_length, "source": self.source}

    @classmethod
    def from_dict(cls, d: Dict) -> "TrainingFrame":
        try:
            return cls(int(d["width"]), int(d["height"]),
                       tuple(float(c) for c in d["principal_point"]),
                       None if d.get("focal_length") is None else float(d["focal_length"]),
                       str(d.get("source", "")))
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"input_frame {d!r} is not a training frame "
                             f"(width, height, principal_point, focal_length): {e}") from None


# Means over the four cameras of the Human3.6M release (cameras.h5; the same
# intrinsics for every subject): c = (514.04, 506.70), f = (1147.34, 1146.24).
H36M_FRAME = TrainingFrame(1000, 1000, (514.04, 506.70), 1146.79,
                           "Human3.6M: 1000x1000 images, mean principal point and focal "
                           "length of its four cameras")
HUMANEVA_FRAME = TrainingFrame(640, 480, (320.0, 240.0), None,
                               "HumanEva-I: 640x480 images, centre (no intrinsics shipped)")
FRAMES = {"human36m": H36M_FRAME, "humaneva": HUMANEVA_FRAME}


def frame_for(metadata: Dict) -> TrainingFrame:
    """The training frame of a model: its metadata's ``input_frame``, else
    its dataset's (``human36m/...``, ``humaneva/...``)."""
    if metadata.get("input_frame"):
        return TrainingFrame.from_dict(metadata["input_frame"])
    family = str(metadata.get("dataset", "")).split("/")[0]
    if family not in FRAMES:
        raise ValueError(f"no known image frame for dataset {metadata.get('dataset')!r}; "
                         f"known: {', '.join(FRAMES)}")
    return FRAMES[family]


def check_image_size(image_size: Sequence[float]) -> Tuple[float, float]:
    try:
        w, h = (float(v) for v in image_size)
    except (TypeError, ValueError):
        raise ValueError(f"image_size must be (width, height) in pixels, got "
                         f"{image_size!r}") from None
    if not (w > 0 and h > 0 and np.isfinite(w) and np.isfinite(h)):
        raise ValueError(f"image_size must be two positive numbers, got {image_size!r}")
    return w, h


def scale_to_frame(image_size: Sequence[float], frame: TrainingFrame,
                   focal_length: Optional[float] = None) -> float:
    """Training pixels per image pixel (``s`` above)."""
    w, _ = check_image_size(image_size)
    if focal_length is None:
        return frame.width / w
    if not (focal_length > 0 and np.isfinite(focal_length)):
        raise ValueError(f"focal_length must be a positive number of pixels, got {focal_length}")
    if frame.focal_length is None:
        raise ValueError(f"the training frame ({frame.source or 'unknown'}) has no focal length; "
                         f"map by image size alone (focal_length=None)")
    return frame.focal_length / float(focal_length)


def to_training_frame(keypoints, image_size: Sequence[float], frame: TrainingFrame,
                      focal_length: Optional[float] = None) -> np.ndarray:
    """``[..., 2]`` pixels of a ``image_size = (w, h)`` image -> training pixels."""
    w, h = check_image_size(image_size)
    s = scale_to_frame((w, h), frame, focal_length)
    kp = np.asarray(keypoints, np.float64)
    centre = np.array([w / 2.0, h / 2.0])
    out = (kp - centre) * s + np.asarray(frame.principal_point, np.float64)
    return out.astype(np.float32)


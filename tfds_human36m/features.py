"""The example layout both builders write: one example per camera sequence.

``tfpose.data`` reads these feature names, so Human3.6M and HumanEva must
agree on them; only the joint counts differ.
"""

from __future__ import annotations

import numpy as np
import tensorflow_datasets as tfds

# Sequence tensors are stored as raw bytes: a build is several times faster
# than with TFDS's default float lists (same size) or zlib (barely smaller).
ENCODING = tfds.features.Encoding.BYTES


def sequence_features(j2: int, j3: int, image_doc: str) -> tfds.features.FeaturesDict:
    """Features of one sequence with ``j2`` 2D and ``j3`` 3D joints."""
    tensor = tfds.features.Tensor
    return tfds.features.FeaturesDict({
        "pose_2d": tensor(shape=(None, j2, 2), dtype=np.float32, encoding=ENCODING,
                          doc="2D keypoints, pixels"),
        "pose_3d": tensor(shape=(None, j3, 3), dtype=np.float32, encoding=ENCODING,
                          doc="3D joints, millimetres, camera frame, not root-relative"),
        "subject": tfds.features.Text(),
        "action": tfds.features.Text(doc="canonical action name"),
        "subaction": tfds.features.Text(),
        "camera_id": tfds.features.Text(),
        "camera_intrinsics": tensor(shape=(9,), dtype=np.float32,
                                    doc="fx, fy, cx, cy, k1, k2, k3, p1, p2"),
        "image_size": tensor(shape=(2,), dtype=np.int32, doc=image_doc),
        "fps": tfds.features.Scalar(dtype=np.float32),
    })

"""Compact storage of a network's weights: float16 or int8 kernels in one ``.npz``.

Kernels (arrays of rank >= 2, nearly all the bytes) are stored as

* ``float16`` -- half precision; or
* ``int8`` -- symmetric, one float32 scale per output column (last axis):
  ``w ~= q * scale``, ``q`` in [-127, 127], stored under ``key`` and
  ``key + SCALE_SUFFIX``.

Vectors (biases, batch-norm parameters and statistics) stay float32: they
are a fraction of a percent of the size, and float16 would lose small
variances. Loading gives float32 arrays again. NumPy only.
"""

from __future__ import annotations

import io
import zipfile
from typing import Dict

import numpy as np

PRECISIONS = ("float16", "int8")
SCALE_SUFFIX = "#scale"


class WeightsError(ValueError):
    """A weights file that does not hold what it should."""


def check_precision(precision: str) -> str:
    if precision not in PRECISIONS:
        raise WeightsError(f"unknown precision {precision!r}; expected one of "
                           f"{', '.join(PRECISIONS)}")
    return precision


def quantize_int8(w: np.ndarray):
    """(q int8, scale float32 per last-axis column) with ``q * scale ~= w``."""
    w = np.asarray(w, np.float32)
    axes = tuple(range(w.ndim - 1))
    peak = np.max(np.abs(w), axis=axes)
    scale = np.where(peak > 0, peak / 127.0, 1.0).astype(np.float32)
    q = np.clip(np.rint(w / scale), -127, 127).astype(np.int8)
    return q, scale


def encode(arrays: Dict[str, np.ndarray], precision: str) -> Dict[str, np.ndarray]:
    """float32 arrays by key -> the arrays to store."""
    check_precision(precision)
    stored: Dict[str, np.ndarray] = {}
    for key, value in arrays.items():
        if SCALE_SUFFIX in key:
            raise WeightsError(f"variable key {key!r} contains {SCALE_SUFFIX!r}")
        value = np.asarray(value, np.float32)
        if value.ndim < 2:
            stored[key] = value
        elif precision == "float16":
            stored[key] = value.astype(np.float16)
        else:
            stored[key], stored[key + SCALE_SUFFIX] = quantize_int8(value)
    return stored


def decode(stored: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
    """Stored arrays -> float32 arrays by key (int8 kernels times their scales)."""
    out: Dict[str, np.ndarray] = {}
    for key, value in stored.items():
        if key.endswith(SCALE_SUFFIX):
            continue
        if value.dtype == np.int8:
            scale = stored.get(key + SCALE_SUFFIX)
            if scale is None:
                raise WeightsError(f"int8 array {key!r} has no {key + SCALE_SUFFIX!r}")
            out[key] = value.astype(np.float32) * np.asarray(scale, np.float32)
        elif value.dtype in (np.float16, np.float32):
            out[key] = value.astype(np.float32)
        else:
            raise WeightsError(f"array {key!r} has dtype {value.dtype}; expected float16, "
                               f"float32 or int8")
    return out


def save(path: str, stored: Dict[str, np.ndarray]) -> None:
    """Write ``stored`` as a compressed ``.npz`` whose bytes depend only on
    the arrays (fixed member order and timestamps), so packing the same
    weights twice gives the same sha256."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for key in sorted(stored):
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.ascontiguousarray(stored[key]),
                                      allow_pickle=False)
            info = zipfile.ZipInfo(key + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, buf.getvalue())


def load(path: str) -> Dict[str, np.ndarray]:
    """The stored arrays of a weights file (no pickles)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        raise WeightsError(f"{path}: cannot read the weights ({e})") from None

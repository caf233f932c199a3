"""A million frames through ``python -m tfpose.predict`` in bounded memory
(docs/million_frames.py; the measured numbers are in docs/RELIABILITY.md)."""

from __future__ import annotations

import numpy as np

from conftest import load_script

# The output alone is 1e6 x 17 x 3 float32 (194 MiB) and the input 122 MiB;
# TensorFlow's import takes about 0.7 GiB. Whole-array copies per batch or an
# unbatched graph call would blow well past this.
PEAK_RSS_BOUND_MIB = 3072


def test_million_frames_lift_in_bounded_memory(synthetic_export, tmp_path):
    million_frames = load_script("docs/million_frames.py")
    _, export_dir = synthetic_export()
    result = million_frames.measure(str(export_dir), str(tmp_path), 1_000_000, "tflite")
    assert result["output_shape"] == [1_000_000, 17, 3]
    assert result["all_finite"]
    assert result["peak_rss_mib"] < PEAK_RSS_BOUND_MIB, result
    assert np.isfinite(result["wall_s"])

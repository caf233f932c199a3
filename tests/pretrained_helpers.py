"""Small synthetic models packed as pretrained models, shared by the test modules.

Packed once per test session into ``<basetemp>/tfpose_pretrained/root`` (a
marker file says the packing finished), so test_pretrained.py and
test_predict.py use the same folders.
"""

from __future__ import annotations

import shutil
import types

from conftest import make_synthetic_model_dir

BASELINE = "baseline-sh"  # baseline, human36m/sh (16 -> 17 joints, mm), float16
BASELINE_INT8 = "baseline-sh-int8"
REPGAN = "repgan-gt"  # RepGAN, human36m/gt (17 -> 17 joints, normalised), float16


def packed_models(tmp_path_factory, synthetic_export) -> types.SimpleNamespace:
    """``root`` (the pretrained root), ``baseline_dir``, ``repgan_dir`` (the
    source model directories) and the packed names."""
    base = tmp_path_factory.getbasetemp() / "tfpose_pretrained"
    root, repgan_dir = base / "root", base / "models" / "repgan-human36m_gt"
    baseline_dir = synthetic_export("baseline", "human36m/sh")[0]
    if not (base / "done").is_file():
        from tfpose.pretrained import pack

        shutil.rmtree(base, ignore_errors=True)
        make_synthetic_model_dir(str(repgan_dir), "repgan", "human36m/gt", width=32,
                                 num_frames=128)
        pack.pack(str(baseline_dir), BASELINE, "float16", root_dir=str(root), measure=False)
        pack.pack(str(baseline_dir), BASELINE_INT8, "int8", root_dir=str(root), measure=False)
        pack.pack(str(repgan_dir), REPGAN, "float16", root_dir=str(root), measure=False)
        (base / "done").touch()
    return types.SimpleNamespace(root=root, baseline_dir=baseline_dir, repgan_dir=repgan_dir,
                                 baseline=BASELINE, baseline_int8=BASELINE_INT8, repgan=REPGAN)

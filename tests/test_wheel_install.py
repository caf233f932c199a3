"""Issue #15: a built wheel, installed into a fresh virtual environment, lifts
the shipped example with every shipped model -- from a folder outside the
repository, with no ../shared and no TFPOSE_* variables.

The models are those of the source tree (``tfpose/pretrained/<name>/``).
While none ship, two small synthetic models (tests/pretrained_helpers.py: a
baseline in mm and a RepGAN, normalised) are packed into a copy of the tree
before the wheel is built, so that building, installing and lifting still run
for real; then only what a one-epoch synthetic model can promise is checked
(shape, finite, root at zero, the same numbers as the source tree's lifter),
not plausible bone lengths.

The virtual environment sees this interpreter's packages (TensorFlow is not
installed again) and gets the wheel with ``pip install --no-deps --no-index``;
nothing is downloaded.
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import sys
import types
import zipfile

import numpy as np
import pytest

from pretrained_helpers import BASELINE, REPGAN, packed_models
from tfpose import example_motion, pretrained, skeleton

REPO = pathlib.Path(__file__).resolve().parents[1]
SHIPPED = pretrained.available(str(REPO / "tfpose" / "pretrained"))
SYNTHETIC = (BASELINE, REPGAN)
MODELS = SHIPPED or list(SYNTHETIC)
# What setup.py packs: the packages and modules it names.
TREE = ("setup.py", "train.py", "evaluate.py", "tfpose", "tfds_human36m")
EXAMPLE_FILES = (f"tfpose/example_data/{example_motion.KEYPOINTS_FILE}",
                 f"tfpose/example_data/{example_motion.GROUND_TRUTH_FILE}")


def _run(cmd, **kwargs) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=300,
                          **kwargs)
    assert proc.returncode == 0, f"{' '.join(map(str, cmd))}:\n{proc.stderr[-4000:]}"
    return proc


def _clean_env() -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("TFPOSE_") and k not in ("PYTHONPATH", "PYTHONHOME")}
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    return env


def _site_packages(python: pathlib.Path) -> str:
    return _run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]) \
        .stdout.strip()


@pytest.fixture(scope="module")
def installed(tmp_path_factory, synthetic_export):
    """A copy of the source tree (plus synthetic models while none ship) ->
    a wheel -> a fresh virtual environment with it installed."""
    base = tmp_path_factory.mktemp("wheel_install")
    tree, dist, venv, outside = base / "tree", base / "dist", base / "venv", base / "elsewhere"
    for name in TREE:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, tree / name, ignore=shutil.ignore_patterns(
                "__pycache__", "*.pyc", "*.egg-info"))
        else:
            tree.mkdir(exist_ok=True)
            shutil.copy2(src, tree / name)
    if not SHIPPED:
        packed = packed_models(tmp_path_factory, synthetic_export)
        for name in SYNTHETIC:
            shutil.copytree(packed.root / name, tree / "tfpose" / "pretrained" / name)
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
          "--no-index", "-q", "-w", dist, tree], env=_clean_env())
    wheels = sorted(dist.glob("tfpose-*.whl"))
    assert len(wheels) == 1, wheels

    _run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", venv])
    python = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    if sys.prefix != sys.base_prefix:
        # Tests running in a virtual environment: "system" packages are that
        # environment's, appended after the new one's (whose tfpose comes first).
        import site

        (pathlib.Path(_site_packages(python)) / "_outer_env.pth").write_text(
            "import site; " + "; ".join(f"site.addsitedir({p!r})"
                                        for p in site.getsitepackages()) + "\n")
    # This interpreter's pip, run by the new environment's python, installs into it.
    _run([python, "-m", "pip", "install", "--no-deps", "--no-index", "-q", wheels[0]],
         env=_clean_env())
    outside.mkdir()
    return types.SimpleNamespace(tree=tree, wheel=wheels[0], python=python, cwd=outside,
                                 site_packages=pathlib.Path(_site_packages(python)))


def test_the_wheel_carries_the_example_and_every_model(installed):
    names = set(zipfile.ZipFile(installed.wheel).namelist())
    for path in EXAMPLE_FILES:
        assert path in names, path
    for model in MODELS:
        for f in pretrained.HASHED_FILES + (pretrained.METADATA_FILE,):
            assert f"tfpose/pretrained/{model}/{f}" in names, (model, f)
    assert not any("__pycache__" in n or n.startswith("tests/") for n in names)


def test_the_environment_imports_the_installed_copy(installed):
    assert not (installed.cwd.parent / "shared").exists()
    assert not str(installed.cwd.resolve()).startswith(str(REPO))
    probe = _run([installed.python, "-c",
                  "import json, tfpose, tfpose.pretrained as p, tfpose.example_motion as e; "
                  "print(json.dumps([tfpose.__file__, p.available(), e.keypoints_path()]))"],
                 cwd=installed.cwd, env=_clean_env())
    module, available, example = json.loads(probe.stdout.strip().splitlines()[-1])
    site = installed.site_packages.resolve()
    assert pathlib.Path(module).resolve().parent == site / "tfpose"
    assert pathlib.Path(example).resolve() == site / EXAMPLE_FILES[0]
    assert available == sorted(MODELS)


def _bone_lengths(poses: np.ndarray, skel: skeleton.Skeleton) -> dict:
    """The 8 limb bones' median lengths, by ASN Table 3 label."""
    return {label: float(np.median(np.linalg.norm(poses[:, c] - poses[:, p], axis=-1)))
            for label, (p, c) in skel.limb_bones.items()}


@pytest.mark.parametrize("name", MODELS)
def test_installed_predict_lifts_the_example(installed, name):
    example = installed.site_packages / EXAMPLE_FILES[0]
    out = installed.cwd / f"{name}.json"
    proc = _run([installed.python, "-m", "tfpose.predict", f"--model={name}",
                 f"--input={example}", "--layout=h36m17", "--image_size=1920x1080",
                 f"--output={out.name}"], cwd=installed.cwd, env=_clean_env())
    result = json.loads(out.read_text())
    assert proc.stdout.strip().splitlines()[-1] == \
        f"lifted 100 frames ({result['units']}) -> {out.name}"

    truth = example_motion.load()
    skel_3d = skeleton.by_joint_names(result["joint_names_3d"])
    poses = np.asarray(result["keypoints_3d"], np.float64)
    assert poses.shape == (100, skel_3d.num_joints, 3)
    assert np.isfinite(poses).all()
    scale = np.abs(poses).max()
    assert scale > 0
    np.testing.assert_allclose(poses[:, skel_3d.root], 0.0, atol=1e-6 * scale)
    # The 2D it lifted is the example's, in the model's joints, in image pixels.
    picked = [skeleton.H36M_17.index(n) for n in result["joint_names_2d"]]
    np.testing.assert_allclose(result["keypoints_2d"], truth["keypoints_2d"][:, picked],
                               atol=1e-3)
    # The installed package lifts as the source tree does with the same model.
    from tfpose import serving

    lifter = serving.load(name, pretrained_root=str(installed.tree / "tfpose" / "pretrained"))
    expected = lifter.lift(truth["keypoints_2d"], layout="h36m17", image_size=(1920, 1080))
    np.testing.assert_allclose(poses, expected, rtol=1e-4, atol=1e-4 * scale)

    if result["units"] == "mm" and name in SHIPPED:
        # A real model gives an adult's limbs: each within 0.6-1.5x of the
        # example's own, and all eight together within 25%.
        got = _bone_lengths(poses, skel_3d)
        want = _bone_lengths(truth["keypoints_3d"], skeleton.H36M_17)
        for label, length in got.items():
            assert 0.6 * want[label] < length < 1.5 * want[label], (label, length, want[label])
        assert sum(got.values()) == pytest.approx(sum(want[k] for k in got), rel=0.25)

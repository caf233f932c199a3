"""TFDS builder for HumanEva-I from the VideoPose3D npz preparation.

The npz files carry world-frame 3D in metres and per-camera 2D but neither
extrinsics nor intrinsics. Extrinsics are embedded (``humaneva_cameras``);
focal length and centre are fitted per (subject, camera) at build time from
the 3D/2D pairs with ``tfpose.camera.fit_pinhole`` (residual is logged).
"""

from __future__ import annotations

import dataclasses
import os
import re
from typing import Dict, Iterator, List, Optional, Tuple

import numpy as np
import tensorflow_datasets as tfds
from absl import logging

from tfds_human36m import humaneva_cameras as hec
from tfds_human36m import manual_dir as md
from tfds_human36m.features import sequence_features
from tfpose import camera as camera_lib
from tfpose.actions import HUMANEVA_ACTIONS

FILE_3D = "data_3d_humaneva15.npz"
FILE_2D = "data_2d_humaneva15_gt.npz"
SPLIT_PARTS = {"train": "Train", "validation": "Validate"}
NUM_JOINTS = 15
_SEQ_RE = re.compile(r"^(?P<action>\S+) (?P<sub>.+)$")  # "Walking 1 chunk0"
# Warn when the pinhole fit is this poor: the extrinsics do not match the 2D.
MAX_FIT_RESIDUAL_PX = 10.0


@dataclasses.dataclass(eq=False)
class HumanEvaConfig(tfds.core.BuilderConfig):
    """``subjects`` restricts the build; such a config needs its own name."""

    subjects: Optional[Tuple[str, ...]] = None


def restricted_config(two_d: str, subjects) -> HumanEvaConfig:
    if two_d != "gt":
        raise ValueError(f"humaneva has only the 'gt' config, got {two_d!r}")
    subjects = tuple(sorted(set(subjects)))
    unknown = [s for s in subjects if s not in hec.CAMERAS]
    if unknown or not subjects:
        raise ValueError(f"humaneva subjects must be among {tuple(hec.CAMERAS)}, got {subjects}")
    return HumanEvaConfig(name=f"gt_{'_'.join(subjects)}", subjects=subjects,
                          description=f"subjects {', '.join(subjects)} only")


class HumanEva(md.ManualDirFromEnv, tfds.core.GeneratorBasedBuilder):
    """HumanEva-I 2D-3D keypoint sequences (15 joints, 3 colour cameras).

    manual_dir falls back to ``$TFPOSE_HUMANEVA_DIR`` (``md.ManualDirFromEnv``)."""

    name = "humaneva"
    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Sequence examples, ground-truth 2D, fitted intrinsics."}
    BUILDER_CONFIGS = [HumanEvaConfig(name="gt", description="ground-truth 2D, 15 joints")]
    DEFAULT_CONFIG_NAME = "gt"
    MANUAL_DOWNLOAD_INSTRUCTIONS = f"""\
    Run VideoPose3D's prepare_data_humaneva.py, then put its outputs
      {FILE_3D}
      {FILE_2D}
    in manual_dir (--manual_dir / DownloadConfig(manual_dir=...)), or set
    $TFPOSE_HUMANEVA_DIR, or place them at <data_dir>/downloads/manual.
    """

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            features=sequence_features(NUM_JOINTS, NUM_JOINTS, "width, height (pixels)"),
            supervised_keys=("pose_2d", "pose_3d"),
            homepage="http://humaneva.is.tue.mpg.de/",
            disable_shuffling=True,
        )

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        root = os.fspath(md.manual_dir_of(dl_manager))
        path_3d = os.path.join(root, FILE_3D)
        path_2d = os.path.join(root, FILE_2D)
        pos3d = md.read_npz_dict(path_3d, "positions_3d")
        pos2d = md.read_npz_dict(path_2d, "positions_2d")
        wanted = self.builder_config.subjects or tuple(hec.CAMERAS)

        seqs = _pair_sequences(pos3d, pos2d, path_3d, path_2d, wanted)
        cameras = _fit_cameras(seqs)
        splits = {}
        for split, part in SPLIT_PARTS.items():
            plan = [s for s in seqs if s[0] == part]
            if plan:
                splits[split] = self._generate_examples(plan, cameras)
        if not splits:
            raise md.ManualDataError(f"{path_3d}: no sequences for subjects {wanted}")
        return splits

    def _generate_examples(self, plan, cameras) -> Iterator[Tuple[str, dict]]:
        for part, subject, seq_name, cam_seqs in plan:
            m = _SEQ_RE.match(seq_name)
            action, sub = m.group("action"), m.group("sub")
            for cam_id, x_cam, uv in cam_seqs:
                cam = cameras[(subject, cam_id)]
                yield f"{subject}/{action}/{sub}/{cam_id}", {
                    "pose_2d": uv.astype(np.float32),
                    "pose_3d": x_cam.astype(np.float32),
                    "subject": subject,
                    "action": action,
                    "subaction": sub,
                    "camera_id": cam_id,
                    "camera_intrinsics": cam.intrinsics,
                    "image_size": np.asarray(hec.IMAGE_SIZE, np.int32),
                    "fps": np.float32(hec.FPS),
                }


def _pair_sequences(pos3d, pos2d, path_3d, path_2d, wanted) -> List:
    """Validated ``(part, subject, sequence, [(camera, x_cam_mm, uv)])``."""
    out = []
    for key in sorted(pos3d):
        part, _, subject = key.partition("/")
        if part not in SPLIT_PARTS.values() or not subject:
            logging.warning("humaneva: ignoring %s entry %r (expected Train/<S> or Validate/<S>)",
                            path_3d, key)
            continue
        if subject not in wanted:
            continue
        if subject not in hec.CAMERAS:
            raise md.ManualDataError(f"{path_3d}: subject {key!r} has no embedded camera extrinsics")
        extr = hec.extrinsics(subject)
        cam_ids = [c[0] for c in hec.CAMERAS[subject]]
        for seq_name in sorted(pos3d[key]):
            where = f"{key} {seq_name!r}"
            m = _SEQ_RE.match(seq_name)
            if not m or m.group("action") not in HUMANEVA_ACTIONS:
                logging.warning("humaneva: skipping %s in %s: unknown action", where, path_3d)
                continue
            world = np.asarray(pos3d[key][seq_name])
            if world.ndim != 3 or world.shape[1:] != (NUM_JOINTS, 3):
                raise md.ManualDataError(f"{path_3d}: {where} should be (T, 15, 3), got {world.shape}")
            views = pos2d.get(key, {}).get(seq_name)
            if views is None:
                logging.warning("humaneva: skipping %s: no 2D in %s", where, path_2d)
                continue
            if len(views) != len(cam_ids):
                raise md.ManualDataError(
                    f"{path_2d}: {where} should hold {len(cam_ids)} camera views, got {len(views)}")
            cam_seqs = []
            for cam_id, uv in zip(cam_ids, views):
                if uv is None:
                    logging.warning("humaneva: skipping %s camera %s: no 2D in %s", where, cam_id, path_2d)
                    continue
                uv = np.asarray(uv)
                if uv.ndim != 3 or uv.shape[1:] != (NUM_JOINTS, 2):
                    raise md.ManualDataError(
                        f"{path_2d}: {where} camera {cam_id} should be (T, 15, 2), got {uv.shape}")
                if len(uv) != len(world):
                    raise md.ManualDataError(
                        f"frame-count mismatch for {where} camera {cam_id}: {path_3d} has "
                        f"{len(world)} 3D frames but {path_2d} has {len(uv)} 2D frames")
                R, T = extr[cam_id]
                x_cam = camera_lib.world_to_camera(world * 1000.0, R, T)  # metres -> mm
                cam_seqs.append((cam_id, x_cam, uv))
            if cam_seqs:
                out.append((part, subject, seq_name, cam_seqs))
    return out


def _fit_cameras(seqs) -> Dict[Tuple[str, str], camera_lib.Camera]:
    """Pinhole f, c per (subject, camera) over all of that subject's frames."""
    pairs: Dict[Tuple[str, str], List] = {}
    for _, subject, _, cam_seqs in seqs:
        for cam_id, x_cam, uv in cam_seqs:
            pairs.setdefault((subject, cam_id), []).append((x_cam, uv))
    cameras = {}
    for (subject, cam_id), items in sorted(pairs.items()):
        x = np.concatenate([a for a, _ in items])
        uv = np.concatenate([b for _, b in items])
        f, c, residual = camera_lib.fit_pinhole(x, uv)
        log = logging.warning if not residual <= MAX_FIT_RESIDUAL_PX else logging.info
        log("humaneva %s %s: fitted f=(%.1f, %.1f) c=(%.1f, %.1f) px, median residual %.2f px "
            "over %d frames", subject, cam_id, f[0], f[1], c[0], c[1], residual, len(x))
        R, T = hec.extrinsics(subject)[cam_id]
        w, h = hec.IMAGE_SIZE
        cameras[(subject, cam_id)] = camera_lib.Camera(id=cam_id, R=R, T=T, f=f, c=c, res_w=w, res_h=h)
    return cameras

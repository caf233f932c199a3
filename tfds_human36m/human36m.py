"""TFDS builder for Human3.6M from the 3d-pose-baseline h5 release.

One example per (subject, action, sub-action, camera) sequence: sequence
examples keep the build fast and small and keep temporal context for later
models; ``tfpose.data`` flattens them into frames. The whole input tree is
checked (file names, dataset names, shapes, frame counts) in
``_split_generators`` from HDF5 metadata only, so a bad copy fails before
anything is written; gaps of the release are skipped with a warning.
"""

from __future__ import annotations

import dataclasses
import os
import re
from typing import Dict, Iterator, List, Optional, Tuple

import numpy as np
import tensorflow_datasets as tfds
from absl import logging

from tfds_human36m import manual_dir as md
from tfds_human36m.features import sequence_features
from tfpose import camera as camera_lib
from tfpose import skeleton
from tfpose.actions import H36M_ACTIONS

SPLIT_SUBJECTS = {"train": ("S1", "S5", "S6", "S7", "S8"), "test": ("S9", "S11")}
ALL_SUBJECTS = SPLIT_SUBJECTS["train"] + SPLIT_SUBJECTS["test"]
ACTION_ALIASES = {"TakingPhoto": "Photo", "WalkingDog": "WalkDog"}
# (width, height): two of the four cameras record 1000x1002 frames.
IMAGE_SIZES = {"54138969": (1000, 1002), "55011271": (1000, 1000),
               "58860488": (1000, 1000), "60457274": (1000, 1002)}
FPS = 50.0

_POSE3D_RE = re.compile(r"^(?P<action>[A-Za-z]+)(?: (?P<sub>\d+))?\.h5$")
_SH_RE = re.compile(r"^(?P<action>[A-Za-z]+)(?:_(?P<sub>\d+))?\.(?P<cam>\w+)\.h5$")


def canonical_action(name: str) -> str:
    return ACTION_ALIASES.get(name, name)


def _subject_sort_key(s: str) -> int:
    return int(s[1:]) if s[1:].isdigit() else 10**6


@dataclasses.dataclass(eq=False)
class Human36mConfig(tfds.core.BuilderConfig):
    """``two_d``: "gt" (projected ground truth, 17 joints) or "sh" (Stacked
    Hourglass detections, 16 joints). ``subjects``: restrict the build (tests,
    quick experiments); such a config must have its own ``name``."""

    two_d: str = "gt"
    subjects: Optional[Tuple[str, ...]] = None


def restricted_config(two_d: str, subjects) -> Human36mConfig:
    """A config over some subjects only, named e.g. ``sh_S9_S11`` so that it
    never shares a directory with the full build."""
    subjects = tuple(sorted(set(subjects), key=_subject_sort_key))
    unknown = [s for s in subjects if s not in ALL_SUBJECTS]
    if unknown or not subjects:
        raise ValueError(f"human36m subjects must be among {ALL_SUBJECTS}, got {subjects}")
    return Human36mConfig(name=f"{two_d}_{'_'.join(subjects)}", two_d=two_d,
                          subjects=subjects,
                          description=f"{two_d} 2D, subjects {', '.join(subjects)} only")


@dataclasses.dataclass(frozen=True)
class _Sequence:
    subject: str
    action: str
    subaction: str
    pose3d_path: str
    num_frames: int
    # (camera, detections file or None for gt)
    cameras: Tuple[Tuple[camera_lib.Camera, Optional[str]], ...]


class Human36m(md.ManualDirFromEnv, tfds.core.GeneratorBasedBuilder):
    """Human3.6M 2D-3D keypoint sequences (3d-pose-baseline h5 release).

    manual_dir falls back to ``$TFPOSE_H36M_DIR`` (``md.ManualDirFromEnv``)."""

    name = "human36m"
    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Sequence examples, gt and sh 2D."}
    BUILDER_CONFIGS = [
        Human36mConfig(name="gt", two_d="gt",
                       description="2D = 3D ground truth projected with distortion, 17 joints"),
        Human36mConfig(name="sh", two_d="sh",
                       description="2D = Stacked Hourglass detections in h36m16 order, 16 joints"),
    ]
    DEFAULT_CONFIG_NAME = "gt"
    MANUAL_DOWNLOAD_INSTRUCTIONS = """\
    Unpack the 3d-pose-baseline release (h36m.zip) so that manual_dir holds
      cameras.h5
      S1/ S5/ S6/ S7/ S8/ S9/ S11/  each with MyPoses/3D_positions/*.h5
                                    and (config sh) StackedHourglass/*.h5
    and pass it as --manual_dir / DownloadConfig(manual_dir=...), or set
    $TFPOSE_H36M_DIR, or place it at <data_dir>/downloads/manual.
    """

    def _info(self) -> tfds.core.DatasetInfo:
        j2 = 16 if self.builder_config.two_d == "sh" else 17
        return self.dataset_info_from_configs(
            features=sequence_features(j2, 17, "width, height (pixels)"),
            supervised_keys=("pose_2d", "pose_3d"),
            homepage="http://vision.imar.ro/human3.6m/",
            disable_shuffling=True,  # sequence order is harmless; skips a copy
        )

    # -- planning --------------------------------------------------------

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        cfg = self.builder_config
        if cfg.two_d not in ("gt", "sh"):
            raise ValueError(f"human36m config {cfg.name!r}: two_d must be 'gt' or 'sh', got {cfg.two_d!r}")
        root = os.fspath(md.manual_dir_of(dl_manager))
        cameras_path = md.require_file(os.path.join(root, "cameras.h5"), "Human3.6M cameras file")
        try:
            cameras = camera_lib.load_h36m_cameras(cameras_path)
        except ValueError as e:
            raise md.ManualDataError(str(e)) from e
        wanted = cfg.subjects or ALL_SUBJECTS
        splits = {}
        for split, split_subjects in SPLIT_SUBJECTS.items():
            subjects = [s for s in split_subjects if s in wanted]
            if subjects:
                plan = [seq for s in subjects
                        for seq in _plan_subject(root, s, cameras, cfg.two_d)]
                splits[split] = self._generate_examples(plan)
        return splits

    def _generate_examples(self, plan: List[_Sequence]) -> Iterator[Tuple[str, dict]]:
        sh = self.builder_config.two_d == "sh"
        for seq in plan:
            world = _read_pose3d(seq.pose3d_path, seq.num_frames)
            for cam, det_path in seq.cameras:
                x_cam = cam.world_to_camera(world)
                if sh:
                    pose_2d = _read_detections(det_path, seq.num_frames, seq.pose3d_path)
                else:
                    pose_2d = cam.project(x_cam)
                yield f"{seq.subject}/{seq.action}/{seq.subaction}/{cam.id}", {
                    "pose_2d": pose_2d.astype(np.float32),
                    "pose_3d": x_cam.astype(np.float32),
                    "subject": seq.subject,
                    "action": seq.action,
                    "subaction": seq.subaction,
                    "camera_id": cam.id,
                    "camera_intrinsics": cam.intrinsics,
                    "image_size": np.asarray(IMAGE_SIZES.get(cam.id, (cam.res_w, cam.res_h)), np.int32),
                    "fps": np.float32(FPS),
                }


def _list_sequences(folder: str, pattern: re.Pattern, subject: str) -> Dict:
    """``{(action, subaction): {camera or None: path}}`` of the files in folder."""
    out: Dict[Tuple[str, str], Dict[Optional[str], str]] = {}
    for fname in sorted(os.listdir(folder)):
        m = pattern.match(fname)
        if not m:
            logging.warning("human36m %s: ignoring unexpected file %s", subject,
                            os.path.join(folder, fname))
            continue
        action = canonical_action(m.group("action"))
        if action not in H36M_ACTIONS:
            logging.warning("human36m %s: ignoring %s: unknown action %r", subject,
                            os.path.join(folder, fname), m.group("action"))
            continue
        cam = m.groupdict().get("cam")
        out.setdefault((action, m.group("sub") or "0"), {})[cam] = os.path.join(folder, fname)
    return out


def _plan_subject(root, subject, cameras, two_d) -> List[_Sequence]:
    """Validate one subject's files from metadata; list what to generate."""
    subj_dir = md.require_dir(os.path.join(root, subject), f"Human3.6M subject folder for {subject}")
    pose_dir = md.require_dir(os.path.join(subj_dir, "MyPoses", "3D_positions"),
                              f"{subject} 3D poses folder")
    sh_dir = os.path.join(subj_dir, "StackedHourglass")
    if two_d == "sh":
        md.require_dir(sh_dir, f"{subject} Stacked Hourglass detections folder")
    poses = _list_sequences(pose_dir, _POSE3D_RE, subject)
    dets = _list_sequences(sh_dir, _SH_RE, subject) if os.path.isdir(sh_dir) else {}
    cams = sorted((c for (s, _), c in cameras.items() if s == subject), key=lambda c: c.id)
    if not cams:
        raise md.ManualDataError(f"{os.path.join(root, 'cameras.h5')}: no cameras for {subject}")

    plan = []
    for action, sub in sorted(set(poses) | set(dets)):
        if (action, sub) not in poses:
            example = os.path.basename(next(iter(dets[(action, sub)].values())))
            logging.warning("human36m: skipping %s %s (subaction %s): no 3D file in %s, "
                            "though detections exist (e.g. %s)", subject, action, sub,
                            pose_dir, example)
            continue
        path = poses[(action, sub)][None]
        shape = md.h5_shape(path, "3D_positions")
        if len(shape) != 2 or shape[0] != 96:
            raise md.ManualDataError(
                f"{path}: '3D_positions' should be (96, T) (32 joints x xyz), got {shape}")
        num_frames = shape[1]
        seq_cams = []
        for cam in cams:
            det = dets.get((action, sub), {}).get(cam.id)
            if two_d == "sh":
                if det is None:
                    logging.warning("human36m/sh: skipping %s %s %s camera %s: no detections file in %s",
                                    subject, action, sub, cam.id, sh_dir)
                    continue
                dshape = md.h5_shape(det, "poses")
                if len(dshape) != 3 or dshape[1:] != (16, 2):
                    raise md.ManualDataError(f"{det}: 'poses' should be (T, 16, 2), got {dshape}")
                if dshape[0] != num_frames:
                    raise md.ManualDataError(
                        f"frame-count mismatch: {path} has {num_frames} 3D frames but "
                        f"{det} has {dshape[0]} detections")
            seq_cams.append((cam, det))
        if seq_cams:
            plan.append(_Sequence(subject, action, sub, path, num_frames, tuple(seq_cams)))
    if not plan:
        raise md.ManualDataError(f"no usable sequences for {subject} under {subj_dir}")
    return plan


def _read_pose3d(path: str, num_frames: int) -> np.ndarray:
    """(T, 17, 3) world millimetres from a (96, T) '3D_positions' dataset."""
    arr = md.read_h5(path, "3D_positions")
    if arr.shape != (96, num_frames):
        raise md.ManualDataError(f"{path}: '3D_positions' should be (96, {num_frames}), got {arr.shape}")
    return arr.T.reshape(num_frames, 32, 3)[:, list(skeleton.H36M_32_TO_17)]


def _read_detections(path: str, num_frames: int, pose3d_path: str) -> np.ndarray:
    arr = md.read_h5(path, "poses")
    if arr.shape != (num_frames, 16, 2):
        raise md.ManualDataError(
            f"{path}: 'poses' should be ({num_frames}, 16, 2) to match {pose3d_path}, got {arr.shape}")
    return skeleton.mpii_to_h36m16(arr)

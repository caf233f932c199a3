"""Input fuzzing of ``tfpose.predict`` and the exported ``serving_default``.

Hundreds of generated bad inputs (seeded: a failure names its case and
reproduces) go through the file readers, ``predict.run``, ``Lifter.lift``,
the raw SavedModel signature and, for a few, the CLI. Every one must end in
a one-line ``ValueError`` (the CLI: exit status 1 and a one-line stderr),
never a traceback, a hang or a partial output file.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import time
import zipfile
from typing import Callable, List, Tuple

import numpy as np
import pytest

from tfpose import predict

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
SEED = 17
MIN_CASES = 500
TIME_LIMIT_S = 60.0  # the whole in-process fuzz, CI on 2 cores


def _write(path: pathlib.Path, data) -> str:
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    path.write_bytes(data)
    return str(path)


def _npy_bytes(arr: np.ndarray) -> bytes:
    import io

    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=True)
    return buf.getvalue()


def _npz_bytes(**arrays) -> bytes:
    import io

    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _nested(depth: int, leaf="1") -> str:
    return "[" * depth + leaf + "]" * depth


def _bad_arrays(rng: np.random.Generator, j: int) -> List[Tuple[str, np.ndarray]]:
    """Arrays a file or ``lift`` may hold that are not ``[frames, j, 2]`` finite pixels."""
    f = int(rng.integers(1, 6))
    good = rng.uniform(0, 1000, (f, j, 2)).astype(np.float32)
    nan = good.copy()
    nan[rng.integers(f), rng.integers(j), rng.integers(2)] = np.nan
    inf = good.copy()
    inf[rng.integers(f), rng.integers(j), rng.integers(2)] = rng.choice([np.inf, -np.inf])
    huge = good.copy()
    huge[rng.integers(f), rng.integers(j), rng.integers(2)] = rng.choice([1e30, -1e30, 3e38])
    wrong_j = int(rng.choice([k for k in range(0, 40) if k != j]))
    return [
        ("rank0", np.float32(rng.normal())),
        ("rank1", rng.normal(size=int(rng.integers(0, 50))).astype(np.float32)),
        ("rank2", rng.normal(size=(f, j * 2)).astype(np.float32)),
        ("rank4", rng.normal(size=(f, j, 2, 1)).astype(np.float32)),
        ("rank5", rng.normal(size=(1, f, j, 2, 1)).astype(np.float32)),
        ("xyz", rng.normal(size=(f, j, 3)).astype(np.float32)),
        ("joints", rng.uniform(0, 1000, (f, wrong_j, 2)).astype(np.float32)),
        ("empty_frames", np.zeros((0, j, 2), np.float32)),
        ("empty_joints", np.zeros((f, 0, 2), np.float32)),
        ("complex", (good + 1j * good).astype(np.complex64)),
        ("strings", np.array([["a%d" % i] * 2 for i in range(j)] * f).reshape(f, j, 2)),
        ("bytes", np.full((f, j, 2), b"12", dtype="S2")),
        ("nan", nan),
        ("inf", inf),
        ("huge", huge),
        ("datetime", np.full((f, j, 2), np.datetime64("2020-01-01"))),
    ]


class Case:
    def __init__(self, name: str, call: Callable[[], object], output: str = ""):
        self.name, self.call, self.output = name, call, output


def _file_cases(rng, tmp: pathlib.Path, j: int, run: Callable) -> List[Case]:
    """Bad files through ``predict.run`` (and so read_keypoints / formats)."""
    cases: List[Case] = []
    counter = iter(range(10 ** 6))

    def add(name: str, ext: str, data, **kwargs):
        i = next(counter)
        path = _write(tmp / f"in{i}{ext}", data)
        out = str(tmp / f"out{i}{kwargs.pop('out_ext', '.npz')}")
        cases.append(Case(f"{name}{ext}#{i}", lambda: run(path, out, **kwargs), out))

    valid = rng.uniform(0, 1000, (8, j, 2)).astype(np.float32)
    valid_files = {
        ".npy": _npy_bytes(valid),
        ".npz": _npz_bytes(keypoints=valid),
        ".json": json.dumps({"keypoints": valid.tolist()}).encode(),
        ".csv": "\n".join(",".join(f"{v:.2f}" for v in row.ravel()) for row in valid).encode(),
    }
    coco = [{"image_id": k, "category_id": 1, "score": 0.9,
             "keypoints": rng.uniform(0, 500, 51).round(1).tolist()} for k in range(4)]
    openpose = {"version": 1.3, "people": [
        {"pose_keypoints_2d": rng.uniform(0, 500, 75).round(1).tolist()}]}
    detector_files = {"coco": json.dumps(coco).encode(), "openpose": json.dumps(openpose).encode()}

    for ext in (".npy", ".npz", ".json", ".csv"):
        for _ in range(30):  # random bytes, some with a valid-looking start
            head = valid_files[ext][:int(rng.integers(0, 20))] if rng.random() < 0.5 else b""
            add("random", ext, head + rng.bytes(int(rng.integers(1, 4000))))
        data = valid_files[ext]
        if ext == ".csv":  # cut inside a row, so that it is short (a cut after it is valid)
            first_row_end = data.index(b"\n")
            cuts = [i + 1 for i, c in enumerate(data) if c == ord(",") and i > first_row_end]
        else:
            cuts = list(range(1, len(data)))
        for cut in rng.choice(cuts, 20, replace=False):
            add("truncated", ext, data[:int(cut)])
        add("empty", ext, b"")
        add("whitespace", ext, b" \n\t\n")
    for name, data in detector_files.items():
        for _ in range(8):
            add(f"truncated_{name}", ".json", data[:int(rng.integers(1, len(data)))])
    for depth in (50, 65, 100, 999, 1000, 5000, 100000):
        add(f"nested{depth}", ".json", _nested(depth))
        add(f"nested_obj{depth}", ".json", '{"keypoints": ' + _nested(depth) + "}")
        add(f"nested_dict{depth}", ".json", '{"a": ' * depth + "1" + "}" * depth)
    for obj in ("1", '"keypoints"', "null", "true", "{}", "[]", "[[]]", "[[[]]]",
                '{"keypoints": null}', '{"keypoints": "abc"}', '{"keypoints": {"a": 1}}',
                '[[["1", "2"]]]', '[[[1, "x"]]]', "[[[1, 2], [3]]]", "[[[true, false]]]",
                '[[[{"x": 1}, 2]]]', "[[[1e999, 2]]]", "[[[NaN, 2]]]", "[[[Infinity, 1]]]",
                '{"people": 3}', '{"people": [1, 2]}', '{"people": [{"pose_keypoints_2d": "x"}]}',
                '{"people": [{"pose_keypoints_2d": [1, 2]}]}',
                '[{"keypoints": "abc", "image_id": 1}]', '[{"keypoints": [1, 2, 3]}]',
                '[{"keypoints": [' + ",".join(["1e30"] * 51) + '], "image_id": 0}]',
                '[{"keypoints": [' + ",".join(['"a"'] * 51) + '], "image_id": 0}]',
                '[{"keypoints": [' + ",".join(["NaN"] * 51) + '], "image_id": 0}]',
                '{"landmarks": "x"}', '{"frames": [{"landmarks": [[1, 2]]}]}',
                '[{"landmarks": [{"x": "a", "y": 1}]}]', "\ufeff[[[1, 2]]]"):
        add(f"json_value {obj[:40]!r}", ".json", obj)
    for text in ("a,b\n", "1,2,3\n", "1,2\n1,2,3,4\n", "x,y\n1,abc\n", "1,2\x00,3,4\n",
                 "\x00\x00\x00", '"1,2\n', "1e30," * 31 + "1e30\n", "nan," * 31 + "nan\n",
                 ",\n,\n", "1;2;3;4\n", "inf,1\n" * 3, "0x10,2\n", "1,2\n" * 3):
        add(f"csv_text {text[:40]!r}", ".csv", text)
    for name, arr in _bad_arrays(rng, j):
        kind = arr.dtype.kind
        add(f"npy_{name}", ".npy", _npy_bytes(arr))
        if kind not in "OM":
            add(f"npz_{name}", ".npz", _npz_bytes(keypoints=arr))
        if kind in "fc" and arr.ndim:
            add(f"json_{name}", ".json", json.dumps(np.real(arr).astype(float).tolist()
                                                    if kind == "f" else str(arr.tolist())))
    add("npy_object", ".npy", _npy_bytes(np.array([valid, None], dtype=object)))
    add("npz_two", ".npz", _npz_bytes(a=valid, b=valid))
    add("npz_none", ".npz", _npz_bytes())
    add("npz_wrong_member", ".npz", _npz_bytes(keypoints=valid)[:40] + b"\x00" * 100)
    add("npy_pickle", ".npy", _npy_bytes(np.array([{"a": 1}], dtype=object)))
    add("npy_fortran_huge_header", ".npy", b"\x93NUMPY\x01\x00\xff\xff" + b" " * 100)
    for ext in (".txt", "", ".NPY.gz", ".h5"):
        add("extension", ext, valid_files[".npy"])
    for bad_out in ("out.txt", "out", "out.npz/"):
        path = _write(tmp / f"ok{next(counter)}.npy", valid_files[".npy"])
        out = str(tmp) + os.sep + bad_out
        cases.append(Case(f"output {bad_out}", lambda p=path, o=out: run(p, o), out))
    for kwargs in ({"image_size": "0x0"}, {"image_size": "axb"}, {"image_size": "-5x10"},
                   {"image_size": "1e30x1e30"}, {"layout": "nonsense"}, {"layout": "coco17"},
                   {"format": "yaml"}, {"min_confidence": 0.5}, {"batch_size": 0},
                   {"fps": 0.0}, {"height_mm": -1.0}, {"focal_length": 1000.0},
                   {"format": "coco"}, {"format": "mediapipe"}, {"format": "openpose"}):
        i = next(counter)
        path = _write(tmp / f"kw{i}.npy", valid_files[".npy"])
        out = str(tmp / f"kw_out{i}.npz")
        cases.append(Case(f"kwargs {kwargs}", lambda p=path, o=out, k=kwargs: run(p, o, **k),
                          out))
    return cases


def _lift_cases(rng, lifter, j: int) -> List[Case]:
    """Bad values straight into ``Lifter.lift``."""
    cases = []
    for r in range(6):
        for name, arr in _bad_arrays(rng, j):
            if name == "empty_frames":
                continue  # lifts to [0, J3, 3] by contract
            policy = "raise" if name in ("nan", "inf") else ("propagate", "raise")[r % 2]
            cases.append(Case(f"lift {name} {policy}",
                              lambda a=arr, p=policy: lifter.lift(a, nan_policy=p)))
            if arr.ndim:
                cases.append(Case(f"lift list {name}",
                                  lambda a=arr.tolist(), p=policy: lifter.lift(a, nan_policy=p)))
    for value in ("keypoints", b"\x00\x01", None, {"a": 1}, [], [[]], [[[]]], [[[1, 2], [3]]],
                  [[["1", "x"]]], object(), [[[1 + 2j, 3]]], [[[None, None]]]):
        cases.append(Case(f"lift {value!r}", lambda v=value: lifter.lift(v)))
    for kwargs in ({"batch_size": 0}, {"batch_size": -3}, {"nan_policy": "ignore"},
                   {"layout": "what"}, {"image_size": (0, 0)}, {"focal_length": 10.0},
                   {"image_size": (1e30, 1e30)}, {"image_size": "axb"}):
        good = rng.uniform(0, 1000, (3, j, 2)).astype(np.float32)
        cases.append(Case(f"lift kwargs {kwargs}", lambda g=good, k=kwargs: lifter.lift(g, **k)))
    return cases


def _check_one_line_error(case: Case, failures: List[str]) -> None:
    try:
        case.call()
    except ValueError as e:  # PredictError, ExportError, FormatError, LayoutError
        text = str(e)
        if not text.strip() or "\n" in text.strip() or "Traceback" in text:
            failures.append(f"{case.name}: not a one-line message: {text[:300]!r}")
    except BaseException as e:  # noqa: BLE001 - a fuzz case must not escape any other way
        failures.append(f"{case.name}: {type(e).__name__}: {str(e)[:300]!r}")
    else:
        failures.append(f"{case.name}: accepted")
    if case.output and os.path.exists(case.output) and os.path.isfile(case.output):
        failures.append(f"{case.name}: left an output file {case.output}")


@pytest.fixture(scope="module")
def export_dir(synthetic_export):
    return str(synthetic_export()[1])


@pytest.fixture(scope="module")
def lifter(export_dir):
    from tfpose import serving

    return serving.load(export_dir)


def test_fuzz_predict_and_lift_end_in_one_line_errors(export_dir, lifter, tmp_path, monkeypatch):
    from tfpose import serving

    # predict.run loads the model per call; hand it the one loaded lifter.
    monkeypatch.setattr(serving, "load", lambda model, backend=None: lifter)
    rng = np.random.default_rng(SEED)
    j = lifter.num_joints_2d

    def run(path, out, **kwargs):
        return predict.run(export_dir, path, out, **kwargs)

    cases = _file_cases(rng, tmp_path, j, run) + _lift_cases(rng, lifter, j)
    start = time.perf_counter()
    failures: List[str] = []
    for case in cases:
        _check_one_line_error(case, failures)
    elapsed = time.perf_counter() - start
    assert not failures, f"{len(failures)} of {len(cases)} cases:\n" + "\n".join(failures)
    assert len(cases) >= MIN_CASES, len(cases)
    print(f"{len(cases)} fuzz cases in {elapsed:.1f} s")
    assert elapsed < TIME_LIMIT_S, f"{len(cases)} cases took {elapsed:.1f} s"


# --------------------------------------------------------------------------
# The raw SavedModel signature: TF's own errors for a bad tensor, NaN poses
# for non-finite keypoints (the export's documented contract).


def test_fuzz_raw_serving_signature(export_dir, lifter):
    import tensorflow as tf

    from tfpose import serving

    meta = serving.read_metadata(export_dir)
    loaded = tf.saved_model.load(os.path.join(export_dir, meta.get("files", {}).get(
        "saved_model", "saved_model")))
    fn = loaded.signatures[meta.get("signature_key", "serving_default")]
    name = next(iter(fn.structured_input_signature[1]))
    rng = np.random.default_rng(SEED + 1)
    j, j3 = lifter.num_joints_2d, lifter.num_joints_3d
    refused = 0
    for _ in range(5):
        for case, arr in _bad_arrays(rng, j):
            if case in ("nan", "inf", "huge", "empty_frames") or arr.dtype.kind in "MO":
                continue  # valid tensors, or none TF can make
            try:
                fn(**{name: tf.constant(arr)})
            except (TypeError, ValueError, tf.errors.InvalidArgumentError):
                refused += 1
            else:
                pytest.fail(f"the signature accepted {case} {arr.dtype} {arr.shape}")
    for kwargs in ({}, {"wrong_name": tf.zeros((1, j, 2))},
                   {name: tf.zeros((1, j, 2), tf.float64)}, {name: tf.zeros((1, j, 2), tf.int32)}):
        with pytest.raises((TypeError, ValueError, tf.errors.InvalidArgumentError)):
            fn(**kwargs)
        refused += 1
    assert refused >= 50

    # Non-finite keypoints poison exactly their own pose.
    for _ in range(20):
        f = int(rng.integers(2, 9))
        arr = rng.uniform(0, 1000, (f, j, 2)).astype(np.float32)
        bad = rng.choice(f, int(rng.integers(1, f)), replace=False)
        for b in bad:
            arr[b, rng.integers(j), rng.integers(2)] = rng.choice([np.nan, np.inf, -np.inf])
        out = fn(**{name: tf.constant(arr)})[next(iter(fn.structured_outputs))].numpy()
        assert out.shape == (f, j3, 3)
        poisoned = np.isnan(out).all(axis=(1, 2))
        assert sorted(np.flatnonzero(poisoned)) == sorted(bad)
        assert np.isfinite(np.delete(out, bad, axis=0)).all()


# --------------------------------------------------------------------------
# A few through the CLI: exit status 1, one stderr line, no output file.


def test_fuzz_cli_one_line_errors(export_dir, lifter, tmp_path):
    rng = np.random.default_rng(SEED + 2)
    j = lifter.num_joints_2d
    huge = rng.uniform(0, 1000, (4, j, 2)).astype(np.float32)
    huge[2, 1, 0] = 1e30
    inputs = {
        "random.npy": rng.bytes(300),
        "nested.json": _nested(100000).encode(),
        "complex.npy": _npy_bytes(np.ones((4, j, 2), np.complex64)),
        "huge.npy": _npy_bytes(huge),  # read fine, refused once the model is loaded
    }
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}
    for name, data in inputs.items():
        path = _write(tmp_path / name, data)
        out = tmp_path / f"{name}.out.npz"
        proc = subprocess.run([sys.executable, "-m", "tfpose.predict", f"--model={export_dir}",
                               f"--input={path}", f"--output={out}"], cwd=str(REPO_ROOT),
                              env=env, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 1, (name, proc.stderr[-2000:])
        errors = [line for line in proc.stderr.splitlines()
                  if line.startswith("tfpose.predict: error:")]
        assert len(errors) == 1 and path in errors[0], (name, proc.stderr[-2000:])
        assert "Traceback" not in proc.stderr, (name, proc.stderr[-2000:])
        assert not out.exists()

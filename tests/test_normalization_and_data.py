"""Normalisation round trips and the deterministic, resumable input pipeline."""

import numpy as np
import pytest
import tensorflow as tf

from tfpose import data, normalization


def _poses(n=200, j=17, seed=0):
    rng = np.random.default_rng(seed)
    p3 = rng.normal(size=(n, j, 3)).astype(np.float32) * 200 + [0, 0, 5000]
    p2 = (p3[..., :2] / p3[..., 2:] * 1150 + 500).astype(np.float32)
    return p2, p3


def test_zscore_round_trip_and_exact_root():
    p2, p3 = _poses()
    norm = normalization.ZScoreNormalizer.fit(p2, p3)
    x = norm.normalize_2d(p2).numpy()
    np.testing.assert_allclose(x.mean(0), 0, atol=1e-4)
    np.testing.assert_allclose(x.std(0), 1, atol=1e-3)
    y = norm.normalize_3d(p3).numpy()
    back = norm.denormalize_3d(y).numpy()
    np.testing.assert_allclose(back, p3 - p3[:, :1], atol=1e-2)
    # Whatever the network says at the root, the output root is the origin.
    noisy = norm.denormalize_3d(y + 5.0).numpy()
    assert (noisy[:, 0] == 0).all()
    assert (noisy[:, 1:] != back[:, 1:]).all()


def test_root_scale_is_invariant_to_scale_and_translation():
    p2, p3 = _poses()
    norm = normalization.RootScaleNormalizer()
    x = norm.normalize_2d(p2).numpy()
    dist = np.linalg.norm(x - x[:, :1], axis=-1)[:, 1:].mean(-1)
    np.testing.assert_allclose(dist, 1.0, rtol=1e-5)
    np.testing.assert_allclose(norm.normalize_2d(3 * p2 + 7).numpy(), x, atol=1e-5)
    y = norm.normalize_3d(p3).numpy()
    # 3D poses are scaled by their image-plane spread: x, y match the 2D scale.
    np.testing.assert_allclose(np.linalg.norm(y[..., :2], axis=-1)[:, 1:].mean(-1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("kind", ["zscore", "root_scale"])
def test_normalizer_save_load(tmp_path, kind):
    p2, p3 = _poses()
    norm = normalization.create(kind, p2, p3)
    norm.save(str(tmp_path / "n.json"))
    again = normalization.Normalizer.load(str(tmp_path / "n.json"))
    assert type(again) is type(norm)
    np.testing.assert_allclose(again.normalize_3d(p3), norm.normalize_3d(p3), atol=1e-6)


def test_unknown_kind_and_missing_stats_are_errors():
    with pytest.raises(ValueError, match="unknown normalizer 'gan'"):
        normalization.create("gan")
    with pytest.raises(ValueError, match="needs training poses"):
        normalization.create("zscore")


def _ids(ds):
    return np.concatenate([b.numpy() for b in ds])


def test_epoch_order_is_a_function_of_seed_and_epoch():
    a, b = data.epoch_order(100, 1, 0), data.epoch_order(100, 1, 0)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, data.epoch_order(100, 1, 1))
    assert sorted(a) == list(range(100))


def test_training_dataset_resume_and_replica_split():
    ids = np.arange(103, dtype=np.float32)

    def ident(x, seed):
        return x

    full = _ids(data.training_dataset([ids], ident, 10, seed=3, epoch=2))
    assert len(full) == 100 and len(set(full.tolist())) == 100  # drop remainder, no repeats
    resumed = _ids(data.training_dataset([ids], ident, 10, seed=3, epoch=2, skip_steps=4))
    np.testing.assert_array_equal(resumed, full[40:])

    class Ctx:  # two replicas fed by one pipeline, as MirroredStrategy does
        num_input_pipelines, input_pipeline_id, num_replicas_in_sync = 1, 0, 2

        def get_per_replica_batch_size(self, b):
            return b // 2

    split = list(data.training_dataset([ids], ident, 10, seed=3, epoch=2, input_context=Ctx()))
    assert all(len(b) == 5 for b in split)
    np.testing.assert_array_equal(np.concatenate([b.numpy() for b in split]), full)


def test_independent_columns_are_unpaired():
    ids = np.arange(64, dtype=np.float32)
    ds = data.training_dataset([ids], lambda a, b, seed: (a, b), 16, seed=0, epoch=0,
                               independent=[ids])
    a, b = (np.concatenate(x) for x in zip(*[(u.numpy(), v.numpy()) for u, v in ds]))
    assert sorted(b.tolist()) == list(range(64)) and not np.array_equal(a, b)


def test_too_few_frames_for_a_batch():
    with pytest.raises(ValueError, match="fewer than one batch"):
        data.training_dataset([np.zeros(5, np.float32)], lambda x, seed: x, 8, 0, 0)
    with pytest.raises(ValueError, match="unknown dataset"):
        data.check_dataset("human36m/cpn")


def test_frames_keep_joints_by_name():
    """GT 2D (17 joints) fed to a 16-joint SH model: the columns are picked by joint name."""
    from tfpose import skeleton

    n17, n16 = skeleton.H36M_17.joint_names, skeleton.H36M_16.joint_names
    pose = np.arange(17, dtype=np.float32)[None, :, None] * np.ones((2, 1, 3), np.float32)
    frames = data.Frames(pose_2d=pose[..., :2], pose_3d=pose, subject=np.array(["S9"] * 2),
                         action=np.array(["Walking"] * 2), camera_id=np.array(["c"] * 2),
                         sequence=np.zeros(2, np.int32), skeleton_2d="h36m17",
                         skeleton_3d="h36m17")
    sub = frames.with_2d_joints_of("h36m16")
    assert sub.skeleton_2d == "h36m16" and sub.pose_2d.shape == (2, 16, 2)
    assert sub.pose_3d is frames.pose_3d  # 3D untouched
    np.testing.assert_array_equal(sub.pose_2d[0, :, 0], [n17.index(n) for n in n16])
    assert frames.with_2d_joints_of("h36m17") is frames
    with pytest.raises(KeyError, match="Pelvis"):
        frames.with_2d_joints_of("humaneva15")


def test_batch_seeds_are_fixed_by_seed_epoch_and_rows():
    """Random augmentation draws from a per-batch seed: the same after a resume, new per epoch."""
    ids = np.arange(40, dtype=np.float32)

    def noise(x, seed):
        return tf.random.stateless_uniform(tf.shape(x), seed=seed)

    def draws(epoch, skip=0):
        return _ids(data.training_dataset([ids], noise, 10, seed=1, epoch=epoch,
                                          skip_steps=skip))

    full = draws(0)
    np.testing.assert_array_equal(draws(0, skip=2), full[20:])
    assert not np.allclose(draws(1), full)

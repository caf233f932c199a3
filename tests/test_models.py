"""Models: shapes for every skeleton, parameter counts at full width, ASN's
hard-joint routing and gradient isolation, RepGAN's parts and root-relative
output, config and .keras round trips and XLA."""

import inspect

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfpose import layers, losses, models, skeleton
from tfpose.constructor_config import ConstructorConfig

SMALL = 64  # width used where training-size widths are not needed
PAIRS = [("h36m16", "h36m17"), ("h36m17", "h36m17"), ("humaneva15", "humaneva15")]


def _x(num_joints, batch=4, seed=0):
    return np.random.default_rng(seed).normal(size=(batch, num_joints, 2)).astype(np.float32)


def _built(model, num_joints):
    model(_x(num_joints, batch=2), training=False)
    return model


def test_factory():
    assert isinstance(models.build("baseline", width=8), models.Baseline)
    assert isinstance(models.build("asn", width=8, variant="basic"), models.ASN)
    assert isinstance(models.build("repgan", width=8), models.RepGAN)
    with pytest.raises(ValueError, match="'martinez'.*baseline"):
        models.build("martinez")
    with pytest.raises(ValueError, match="variant"):
        models.ASN(variant="basic+AM")
    with pytest.raises(ValueError, match="same skeleton"):
        models.build("repgan", skeleton_in="h36m16", skeleton_out="h36m17")
    with pytest.raises(ValueError, match=r"\[batch, 16, 2\]"):
        models.Baseline("h36m16", "h36m17", width=8)(_x(17))


def test_critic_width_sets_only_the_critic():
    from tfpose.config import ExperimentConfig
    from tfpose.models import registry

    cfg = ExperimentConfig.from_flat(model="repgan", dataset="human36m/gt", width=32,
                                     critic_width=8)
    gan = registry.get("repgan").build(cfg.model, "human36m/gt")
    gan(_x(17))
    kernels = {v.path: v.shape for v in gan.discriminator.weights if v.path.endswith("kernel")}
    output = kernels.pop(next(p for p in kernels if p.endswith("discriminator/output/kernel")))
    assert tuple(output) == (3 * 8, 1)  # three width-8 features: 3D, 2D, wKCS
    assert kernels and all(shape[-1] == 8 for shape in kernels.values())
    assert all(32 in v.shape for v in gan.generator.weights if v.path.endswith("kernel"))
    with pytest.raises(ValueError, match="critic_width"):
        ExperimentConfig.from_flat(model="repgan", critic_width=0)


def test_num_blocks_sets_each_models_trunk():
    from tfpose.config import ExperimentConfig
    from tfpose.models import registry

    for kind in ("baseline", "asn", "repgan"):
        cfg = ExperimentConfig.from_flat(model=kind, dataset="human36m/gt", width=8,
                                         num_blocks=3)
        model = registry.get(kind).build(cfg.model, "human36m/gt")
        out = model(_x(17), training=False)
        assert out.shape[0] == 4 and out.shape[-1] == 3, kind
        trunk = model.generator.trunk if kind == "repgan" else model.trunk
        assert len(trunk.blocks) == 3, kind
    gan = registry.get("repgan").build(cfg.model, "human36m/gt")
    assert len(gan.reprojector.trunk.blocks) == 1  # the reprojector keeps one block
    default = ExperimentConfig.from_flat(model="baseline")
    assert len(registry.get("baseline").build(default.model, "human36m/gt").trunk.blocks) == 2
    with pytest.raises(ValueError, match="num_blocks"):
        ExperimentConfig.from_flat(model="asn", num_blocks=0)


def test_parameter_counts_at_full_width():
    counts = {}
    counts["baseline 16->17"] = _built(models.Baseline("h36m16", "h36m17"), 16).count_params()
    counts["baseline 17->17"] = _built(models.Baseline("h36m17", "h36m17"), 17).count_params()
    counts["baseline he->he"] = _built(models.Baseline("humaneva15", "humaneva15"),
                                       15).count_params()
    for v in models.ASN_VARIANTS:
        counts[f"asn {v} 16->17"] = _built(models.ASN("h36m16", "h36m17", variant=v),
                                           16).count_params()
    rep = _built(models.RepGAN("h36m17"), 17)
    counts["repgan generator"] = rep.generator.count_params()
    counts["repgan reprojector"] = rep.reprojector.count_params()
    counts["repgan discriminator"] = rep.discriminator.count_params()
    counts["repgan total"] = rep.count_params()
    for k, n in counts.items():
        print(f"{k:32s} {n:>10,d}")
    # Martinez reports ~4-5M parameters for 2 blocks of width 1024.
    assert counts["baseline 16->17"] == 4_304_947
    assert 4_000_000 < counts["baseline 17->17"] < 5_000_000
    # Only the input layer's fan-in changes with the input skeleton (Dense + BN
    # statistics are per output unit); the head's fan-out with the output one.
    assert counts["baseline 17->17"] == counts["baseline 16->17"] + 2 * 1024
    assert counts["baseline he->he"] == counts["baseline 16->17"] - 2 * 1024 - 2 * 3 * (1024 + 1)
    assert counts["asn basic 16->17"] == counts["baseline 16->17"]
    # Refinement: Dense(51->1024)+BN, Dense(1024->1024)+BN, Dense(1024->51).
    refine = (51 * 1024 + 1024) + 4 * 1024 + (1024 * 1024 + 1024) + 4 * 1024 + (1024 * 51 + 51)
    assert counts["asn basic+ref 16->17"] == counts["baseline 16->17"] + refine
    assert counts["asn basic+ref+AM 16->17"] == counts["asn basic+ref 16->17"] + 3 * 1024
    assert counts["asn basic+ref+AM+REM 16->17"] == counts["asn basic+ref+AM 16->17"]
    assert counts["asn basic+ref+AM* 16->17"] == counts["asn basic+ref 16->17"] + 1024 * 1025
    assert counts["repgan generator"] == 4_272_145
    assert counts["repgan reprojector"] == 2_199_586
    assert counts["repgan discriminator"] == 2_454_529
    # Critic: 3D trunk Dense(51) + residual block without BN, Dense(34),
    # Dense(16 * 16) on the wKCS, Dense(3 * 1024 -> 1).
    critic = ((51 + 1) * 1024 + 2 * (1024 + 1) * 1024 + (34 + 1) * 1024 + (256 + 1) * 1024
              + 3 * 1024 + 1)
    assert counts["repgan discriminator"] == critic
    assert counts["repgan total"] == 4_272_145 + 2_199_586 + 2_454_529


@pytest.mark.parametrize("kind", ["baseline", "asn"])
@pytest.mark.parametrize("pair", PAIRS)
def test_supervised_models_shapes(kind, pair):
    s_in, s_out = (skeleton.get(n) for n in pair)
    model = models.build(kind, skeleton_in=pair[0], skeleton_out=pair[1], width=SMALL)
    for training in (False, True):
        y = model(_x(s_in.num_joints), training=training)
        assert y.shape == (4, s_out.num_joints, 3) and y.dtype == tf.float32


@pytest.mark.parametrize("name", ["h36m17", "h36m16", "humaneva15"])
def test_repgan_shapes_and_parts(name):
    j = skeleton.get(name).num_joints
    model = models.RepGAN(name, width=SMALL)
    x = _x(j)
    y = model(x, training=False)
    assert y.shape == (4, j, 3)
    z = model.generator(x, training=False)
    assert z.shape == (4, j)
    assert model.generator.trunk.num_blocks == 2 and model.reprojector.trunk.num_blocks == 1
    assert model.reprojector(y, training=False).shape == (4, j, 2)
    assert model.discriminator([y, x]).shape == (4, 1)
    assert model.reprojector.num_blocks == 1 and model.generator.num_blocks == 2
    kinds = {type(layer).__name__ for layer in model.discriminator._flatten_layers()}
    assert "BatchNormalization" not in kinds and "Dropout" not in kinds
    assert "WeightedKCS" in kinds
    for kcs, expected in (("kcs", "KCS"), ("none", None)):
        d = models.Discriminator(name, width=SMALL, kcs=kcs)
        d([y, x])
        kinds = {type(layer).__name__ for layer in d._flatten_layers()}
        assert (expected in kinds) if expected else not (kinds & {"KCS", "WeightedKCS"})


@pytest.mark.parametrize("name", ["h36m17", "h36m16", "humaneva15"])
def test_repgan_output_is_root_relative(name):
    skel = skeleton.get(name)
    j, root = skel.num_joints, skel.root
    model = models.RepGAN(name, width=SMALL)
    x = _x(j, seed=3) + 5.0                     # the input's root is far from the origin
    z = model.generator(x, training=False).numpy()
    y = model(x, training=False).numpy()
    np.testing.assert_array_equal(y[:, root], 0.0)              # exactly, all three coords
    np.testing.assert_allclose(y[..., :2], x - x[:, root:root + 1], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(y[..., 2], z - z[:, root:root + 1], rtol=1e-6, atol=1e-6)
    assert np.abs(z[:, root]).max() > 0          # the generator's root depth was removed
    assert np.all(model(x, training=True).numpy()[:, root] == 0.0)


@pytest.mark.parametrize("name", ["h36m17", "humaneva15"])
def test_reprojected_2d_is_root_centred_and_scaled_like_real_2d(name):
    """The critic sees real 2D root-centred with mean joint-to-root distance 1;
    the reprojector's 2D must match on both, or it gives fakes away."""
    skel = skeleton.get(name)
    pose_3d = tf.constant(np.random.default_rng(5).normal(size=(4, skel.num_joints, 3)) + 3.0,
                          tf.float32)
    model = models.RepGAN(name, width=SMALL)
    out = model.reprojector(pose_3d, training=False).numpy()
    np.testing.assert_allclose(out[:, skel.root], 0.0, atol=1e-6)
    dist = np.linalg.norm(out, axis=-1).sum(-1) / (skel.num_joints - 1)
    np.testing.assert_allclose(dist, 1.0, rtol=1e-5)
    raw = models.RepGAN(name, width=SMALL, normalize_reprojection=False)
    assert raw.get_config()["normalize_reprojection"] is False
    raw_out = raw.reprojector(pose_3d, training=False).numpy()
    assert np.abs(raw_out[:, skel.root]).max() > 1e-3  # nothing forces the raw root to 0


def test_pose_from_depth_subtracts_any_root_joint():
    rng = np.random.default_rng(4)
    pose_2d = rng.normal(size=(3, 6, 2)).astype(np.float32)
    depth = rng.normal(size=(3, 6)).astype(np.float32)
    pose = models.pose_from_depth(pose_2d, depth, root=3).numpy()
    full = np.concatenate([pose_2d, depth[..., None]], axis=-1)
    np.testing.assert_allclose(pose, full - full[:, 3:4], rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(pose[:, 3], 0.0)
    xla = tf.function(lambda a, b: models.pose_from_depth(a, b, 3), jit_compile=True)
    np.testing.assert_allclose(xla(pose_2d, depth).numpy(), pose, rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match="root joint 6 .* 6 joints"):
        models.pose_from_depth(pose_2d, depth, root=6)


# Every model class with non-default values for every constructor argument it
# keeps, and the input that builds it.
NON_DEFAULT = [
    (models.Baseline, dict(skeleton_in="h36m16", skeleton_out="humaneva15", width=24,
                           num_blocks=3, dropout=0.25, max_norm=False, activation="leaky_relu",
                           fast_dropout=True), [(2, 16, 2)]),
    (models.ASN, dict(skeleton_in="humaneva15", skeleton_out="h36m17", width=24, num_blocks=1,
                      dropout=0.25, max_norm=False, activation="leaky_relu",
                      variant="basic+ref+AM*", fast_dropout=True), [(2, 15, 2)]),
    (models.RepGAN, dict(skeleton="humaneva15", width=24, num_blocks=3, dropout=0.25,
                         kcs="kcs", max_norm=False, activation="relu", discriminator_width=16,
                         fast_dropout=True), [(2, 15, 2)]),
    (models.Generator, dict(skeleton="h36m16", width=24, num_blocks=1, dropout=0.25,
                            max_norm=False, activation="relu", fast_dropout=True), [(2, 16, 2)]),
    (models.Reprojector, dict(skeleton="h36m16", width=24, num_blocks=2, dropout=0.25,
                              max_norm=False, activation="relu", fast_dropout=True),
     [(2, 16, 3)]),
    (models.Discriminator, dict(skeleton="h36m16", width=24, kcs="none", activation="relu",
                                max_norm=True), [(2, 16, 3), (2, 16, 2)]),
]


@pytest.mark.parametrize("cls, kwargs, shapes", NON_DEFAULT,
                         ids=[cls.__name__ for cls, _, _ in NON_DEFAULT])
def test_config_round_trips_every_constructor_argument(cls, kwargs, shapes):
    rng = np.random.default_rng(5)
    inputs = [rng.normal(size=s).astype(np.float32) for s in shapes]
    inputs = inputs[0] if len(inputs) == 1 else inputs
    model = cls(**kwargs)
    model(inputs, training=False)
    config = model.get_config()
    # The config holds exactly the constructor's arguments (plus Keras's own keys).
    params = [n for k in type(model).__mro__ if k.__module__.startswith("tfpose.models")
              and "__init__" in vars(k)
              for n in inspect.signature(k.__init__).parameters if n not in ("self", "kwargs")]
    aliases = {"skeleton_in", "skeleton_out"} if cls is models.RepGAN else set()
    expected = set(params) - aliases
    assert expected == set(config) - {"name", "trainable", "dtype"}
    for key, value in kwargs.items():
        assert config[key] == value, key
    clone = cls.from_config(config)
    clone(inputs, training=False)
    assert clone.get_config() == config
    assert clone.count_params() == model.count_params()
    assert [v.path.split("/", 1)[1] for v in clone.weights] == \
        [v.path.split("/", 1)[1] for v in model.weights]
    clone.set_weights(model.get_weights())
    np.testing.assert_array_equal(clone(inputs, training=False).numpy(),
                                  model(inputs, training=False).numpy())


def test_constructor_config_names_an_argument_the_object_does_not_keep():
    class Forgetful(ConstructorConfig, keras.layers.Layer):
        def __init__(self, width=3, depth=2, **kwargs):
            super().__init__(**kwargs)
            self.width = width

    assert Forgetful.config_arguments() == ["width", "depth"]
    with pytest.raises(AttributeError, match="'depth'"):
        Forgetful().get_config()
    assert models.Reprojector.config_arguments()[:3] == ["skeleton", "width", "num_blocks"]
    assert "fast_dropout" in models.Reprojector.config_arguments()  # from the parent's __init__
    assert isinstance(models.Baseline().trunk, layers.Trunk)


def _save_load_xla(model, x, tmp_path):
    ref = model(x, training=False).numpy()
    path = tmp_path / "x.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert type(loaded) is type(model)
    np.testing.assert_array_equal(loaded(x, training=False).numpy(), ref)
    assert loaded.get_config() == model.get_config()
    xla = tf.function(lambda t: model(t, training=False), jit_compile=True)
    np.testing.assert_allclose(xla(tf.constant(x)).numpy(), ref, rtol=1e-4, atol=1e-4)
    train = tf.function(lambda t: model(t, training=True), jit_compile=True)
    assert train(tf.constant(x)).shape == ref.shape
    return loaded


@pytest.mark.parametrize("variant", models.ASN_VARIANTS)
def test_asn_variants_round_trip_and_xla(variant, tmp_path):
    model = models.ASN("h36m16", "h36m17", width=32, variant=variant)
    x = _x(16)
    loaded = _save_load_xla(model, x, tmp_path)
    parts = loaded.call_parts(x)
    assert (parts["refined"] is None) == (variant == "basic")
    assert model.trunk.input_block.random_enhancement == variant.endswith("REM")
    parts_fn = tf.function(lambda t: model.call_parts(t, training=True), jit_compile=True)
    assert parts_fn(tf.constant(x))["pose_3d"].shape == (4, 17, 3)


@pytest.mark.parametrize("pair", [("h36m16", "h36m17"), ("humaneva15", "humaneva15")])
def test_baseline_round_trip_and_xla(pair, tmp_path):
    model = models.Baseline(*pair, width=SMALL)
    _save_load_xla(model, _x(skeleton.get(pair[0]).num_joints), tmp_path)


@pytest.mark.parametrize("name", ["h36m17", "humaneva15"])
def test_repgan_round_trip_keeps_all_parts(name, tmp_path):
    j = skeleton.get(name).num_joints
    model = models.RepGAN(skeleton=name, width=SMALL, kcs="wkcs")
    x = _x(j)
    loaded = _save_load_xla(model, x, tmp_path)
    y = model(x, training=False)
    np.testing.assert_array_equal(loaded.reprojector(y, training=False).numpy(),
                                  model.reprojector(y, training=False).numpy())
    np.testing.assert_array_equal(loaded.discriminator([y, x]).numpy(),
                                  model.discriminator([y, x]).numpy())
    assert len(loaded.weights) == len(model.weights)


def _asn_and_data(seed=0):
    keras.utils.set_random_seed(seed)
    model = models.ASN("h36m17", "h36m17", width=SMALL, variant="basic+ref+AM+REM")
    x = _x(17, batch=8, seed=seed)
    target = np.random.default_rng(seed + 1).normal(size=(8, 17, 3)).astype(np.float32)
    model(x)
    refine_vars = [v for layer in model.refinement_layers for v in layer.trainable_variables]
    return model, x, target, refine_vars


def test_asn_output_routes_hard_joints_from_refined():
    model, x, _, _ = _asn_and_data()
    parts = model.call_parts(x)
    hard = skeleton.get("h36m17").hard_joint_mask.astype(bool)
    pose, basic, refined = (parts[k].numpy() for k in ("pose_3d", "basic", "refined"))
    np.testing.assert_array_equal(pose[:, hard], refined[:, hard])
    np.testing.assert_array_equal(pose[:, ~hard], basic[:, ~hard])
    assert not np.allclose(refined[:, hard], basic[:, hard])
    np.testing.assert_array_equal(model(x).numpy(), pose)


def test_asn_refinement_learns_only_from_hard_joints():
    model, x, target, refine_vars = _asn_and_data()
    hard = skeleton.get("h36m17").hard_joint_mask
    assert len(refine_vars) == 2 * 4 + 1 + 2   # 2 x (kernel, bias, gamma, beta), AM w, output

    # A loss on the refined NON-hard joints gives the refinement no gradient.
    with tf.GradientTape() as tape:
        refined = model.call_parts(x, training=True)["refined"]
        loss = tf.reduce_sum(tf.square(refined - target) * (1.0 - hard)[None, :, None])
    for g in tape.gradient(loss, refine_vars):
        assert g is None or float(tf.reduce_max(tf.abs(g))) == 0.0

    # One forward pass (same dropout masks), two targets differing only at
    # non-hard joints: the ASN loss reaches every refinement weight (AM's w
    # included) and its gradient there is the same for both targets.
    moved = target.copy()
    moved[:, hard == 0] += 3.0
    with tf.GradientTape(persistent=True) as tape:
        parts = model.call_parts(x, training=True)
        loss_a = losses.asn_loss(target, parts, hard)["total"]
        loss_b = losses.asn_loss(moved, parts, hard)["total"]
    grads_a, grads_b = tape.gradient(loss_a, refine_vars), tape.gradient(loss_b, refine_vars)
    assert float(loss_a) != float(loss_b)
    assert all(g is not None and float(tf.reduce_sum(tf.abs(g))) > 0 for g in grads_a)
    for a, b in zip(grads_a, grads_b):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-7)


def test_asn_am_gets_every_2d_feature():
    model, x, target, _ = _asn_and_data()
    assert model.attention.w.shape == (1 + model.num_blocks, SMALL)
    # The L2 (hard-joint) loss reaches the basic network through the AM too.
    with tf.GradientTape() as tape:
        refined = model.call_parts(x, training=False)["refined"]
        loss = tf.reduce_sum(tf.square(refined - target))
    basic_vars = (model.trunk.input_block.trainable_variables
                  + model.trunk.blocks[-1].trainable_variables)
    assert all(g is not None for g in tape.gradient(loss, basic_vars))

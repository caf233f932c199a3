"""Custom layers: REM, AttentionModule (ASN eqs. 6-8), (w)KCS (RepGAN eqs. 1-6),
residual block, the Martinez trunk; checked against hand computations."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfpose import layers as L
from tfpose import skeleton


def _rotation(rng):
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    return (q * np.sign(np.linalg.det(q))).astype(np.float32)  # det +1


def test_max_norm_clips_each_column_like_clip_by_norm_and_leaves_the_rest_exact():
    rng = np.random.default_rng(0)
    w = rng.normal(0, 0.3, (12, 9)).astype(np.float32)
    w[:, 3] *= 10  # far over the bound
    w[:, 5] /= 10  # far under it
    norms = np.linalg.norm(w, axis=0)
    assert (norms > 1).sum() >= 2 and (norms < 1).sum() >= 2
    out = L.MaxNorm(1.0)(tf.constant(w)).numpy()
    for j in range(w.shape[1]):
        expected = tf.clip_by_norm(w[:, j], 1.0).numpy()
        np.testing.assert_allclose(out[:, j], expected, rtol=1e-6, atol=1e-7)
        if norms[j] < 1:  # bit-exact identity, not Keras's w * n / (eps + n)
            np.testing.assert_array_equal(out[:, j], w[:, j])
    np.testing.assert_allclose(np.linalg.norm(out, axis=0), np.minimum(norms, 1), rtol=1e-5)
    # Conv-style kernels: incoming weights are every axis but the last.
    k = rng.normal(0, 1, (3, 4, 5)).astype(np.float32)
    flat = L.MaxNorm(0.5)(tf.constant(k.reshape(12, 5))).numpy()
    np.testing.assert_allclose(L.MaxNorm(0.5)(tf.constant(k)).numpy().reshape(12, 5), flat,
                               rtol=1e-6)
    assert L.MaxNorm.from_config(L.MaxNorm(0.5).get_config()).max_value == 0.5


def test_rem_is_x_plus_relu_at_inference_and_has_no_weights():
    x = np.array([[-2.0, -0.5, 0.0, 0.5, 3.0]], np.float32)
    rem = L.RandomEnhancement(0.5)
    np.testing.assert_array_equal(rem(x, training=False).numpy(), x + np.maximum(x, 0))
    np.testing.assert_array_equal(L.RandomEnhancement(0.0)(x, training=True).numpy(),
                                  x + np.maximum(x, 0))
    assert rem.weights == [] and rem.count_params() == 0
    # In training the dropped branch is noisy but the identity path survives:
    # y - x is either 0 or relu(x) / (1 - rate).
    big = np.abs(np.random.default_rng(0).normal(size=(64, 32))).astype(np.float32) + 0.1
    d = rem(big, training=True).numpy() - big
    assert np.all(np.isclose(d, 0) | np.isclose(d, 2 * big, rtol=1e-5))
    assert L.RandomEnhancement.from_config(rem.get_config()).rate == 0.5


def test_attention_module_matches_hand_computed_eqs_6_to_8():
    rng = np.random.default_rng(1)
    f1, f2, fs = (rng.normal(size=(3, 4)).astype(np.float32) for _ in range(3))
    w = np.array([[0.5, -1.0, 2.0, 0.0], [0.1, 0.2, -0.3, 1.5]], np.float32)
    am = L.AttentionModule()
    am([f1, f2], fs)
    assert am.w.shape == (2, 4)
    np.testing.assert_array_equal(am.w.numpy(), 0)  # documented init: att = 0.5
    am.w.assign(w)

    def sigmoid(a):
        return 1 / (1 + np.exp(-a))
    expected = fs.copy()
    for i, f in enumerate((f1, f2)):
        dist = np.sqrt(((f - fs) ** 2).sum(axis=1, keepdims=True))   # (3, 1)
        sim = w[i][None, :] * dist                                     # eq. 6
        att = 1 - sigmoid(sim)                                         # eq. 7
        expected = expected + att * f                                  # eq. 8
    np.testing.assert_allclose(am([f1, f2], fs).numpy(), expected, rtol=1e-5, atol=1e-6)

    f1t, f2t, fst = (tf.constant(a) for a in (f1, f2, fs))
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([f1t, f2t, fst])
        loss = tf.reduce_sum(tf.square(am([f1t, f2t], fst)))
    for g in tape.gradient(loss, [am.w, f1t, f2t, fst]):
        assert g is not None and np.abs(g.numpy()).sum() > 0
    gw = tape.gradient(loss, am.w).numpy()
    assert np.all(np.abs(gw).sum(axis=1) > 0)  # both w_1 and w_2 learn


def test_attention_module_in_graph_and_xla_and_config():
    am = L.AttentionModule(name="am")
    fn = tf.function(lambda a, b, c: am([a, b], c), jit_compile=True)
    x = tf.random.normal((5, 8))
    assert fn(x, x + 1, x - 1).shape == (5, 8)
    clone = L.AttentionModule.from_config(am.get_config())
    assert isinstance(clone, L.AttentionModule)


def test_wkcs_weights_follow_bone_distances_fig4():
    s = skeleton.get("h36m17")
    d = s.bone_distance_matrix()
    assert (d == d.T).all()
    rhip = s.bones.index((s.index("Hip"), s.index("RHip")))
    assert (d[rhip] == 1).sum() == 3 and (d[rhip] == 5).sum() == 2
    layer = L.WeightedKCS("h36m17")
    w = layer.weight_matrix
    assert w.shape == (16, 16) and (w == w.T).all()
    for i in range(16):
        for j in range(16):
            want = 1.0 if (i == j or d[i, j] == 1) else np.tanh(1.0 / (d[i, j] - 1.0))
            assert w[i, j] == pytest.approx(want, abs=1e-7)
    # Distance 2 -> tanh(1) ~ 0.76, distance 5 -> tanh(1/4) ~ 0.245.
    far = np.where(d[rhip] == 5)[0]
    np.testing.assert_allclose(w[rhip, far], np.tanh(0.25), rtol=1e-6)
    layer(np.zeros((1, 17, 3), np.float32))
    assert layer.weights == [] and layer.count_params() == 0


@pytest.mark.parametrize("name", ["h36m17", "humaneva15"])
def test_kcs_diagonal_lengths_and_invariances(name):
    s = skeleton.get(name)
    rng = np.random.default_rng(2)
    pose = rng.normal(size=(4, s.num_joints, 3)).astype(np.float32)
    kcs, wkcs = L.KCS(name), L.WeightedKCS(name)
    k = kcs(pose).numpy()
    assert k.shape == (4, s.num_bones, s.num_bones)
    lengths = np.stack([np.linalg.norm(pose[:, c] - pose[:, p], axis=-1) for p, c in s.bones], 1)
    np.testing.assert_allclose(np.diagonal(k, axis1=1, axis2=2), lengths ** 2, rtol=1e-5)
    # Off-diagonal: dot products of bone vectors.
    (p0, c0), (p1, c1) = s.bones[0], s.bones[3]
    dot = ((pose[:, c0] - pose[:, p0]) * (pose[:, c1] - pose[:, p1])).sum(-1)
    np.testing.assert_allclose(k[:, 0, 3], dot, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(wkcs(pose).numpy(), k * wkcs.weight_matrix, rtol=1e-6)
    moved = pose + np.array([10.0, -3.0, 7.0], np.float32)
    rotated = pose @ _rotation(rng).T
    for layer in (kcs, wkcs):
        ref = layer(pose).numpy()
        np.testing.assert_allclose(layer(moved).numpy(), ref, rtol=1e-4, atol=1e-3)
        np.testing.assert_allclose(layer(rotated).numpy(), ref, rtol=1e-4, atol=1e-4)


def test_kcs_config_and_xla():
    layer = L.WeightedKCS("humaneva15")
    clone = L.WeightedKCS.from_config(layer.get_config())
    np.testing.assert_array_equal(clone.weight_matrix, layer.weight_matrix)
    x = tf.random.normal((3, 15, 3))
    np.testing.assert_allclose(tf.function(layer, jit_compile=True)(x).numpy(),
                               layer(x).numpy(), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="kcs"):
        L.kcs_layer("bogus", "h36m17")


def test_residual_block_is_martinez_block():
    block = L.ResidualBlock(16, dropout=0.5, activation="leaky_relu")
    x = np.random.default_rng(3).normal(size=(8, 16)).astype(np.float32)
    y = block(x, training=False).numpy()
    # Two Dense+BN (+ max-norm) pairs: 2 * (16*16 + 16 + 4*16) weights.
    assert block.count_params() == 2 * (16 * 16 + 16 + 4 * 16)
    # With the residual branch's last Dense zeroed the block is the identity.
    block.block2.dense.kernel.assign(np.zeros((16, 16), np.float32))
    block.block2.bn.beta.assign(np.zeros(16, np.float32))
    np.testing.assert_allclose(block(x, training=False).numpy(), x, atol=1e-6)
    assert y.shape == (8, 16)
    plain = L.ResidualBlock(16, use_batchnorm=False, max_norm=False)
    plain(x)
    assert plain.count_params() == 2 * (16 * 16 + 16)
    assert isinstance(block.block1.dense.kernel_constraint, L.MaxNorm)
    assert plain.block1.dense.kernel_constraint is None
    cfg = block.get_config()
    assert cfg["activation"] == "leaky_relu" and cfg["width"] == 16
    with pytest.raises(ValueError, match="skip"):
        L.ResidualBlock(16)(np.zeros((2, 8), np.float32))


def _layer_kinds(layer):
    return [type(sub).__name__ for sub in layer._flatten_layers(include_self=False)]


@pytest.mark.parametrize("num_blocks", [0, 1, 3])
def test_trunk_features_are_first_layer_then_each_residual_block(num_blocks):
    trunk = L.Trunk(16, num_blocks, dropout=0.5, activation="leaky_relu", name="trunk")
    x = np.random.default_rng(5).normal(size=(6, 10)).astype(np.float32)
    out = trunk(x, training=False)
    features = trunk(x, training=False, return_features=True)
    assert out.shape == (6, 16)
    assert len(features) == 1 + num_blocks and all(f.shape == (6, 16) for f in features)
    np.testing.assert_array_equal(features[-1].numpy(), out.numpy())
    expected = trunk.input_block(x, training=False)
    np.testing.assert_array_equal(features[0].numpy(), expected.numpy())
    for block, feature in zip(trunk.blocks, features[1:]):
        expected = block(expected, training=False)
        np.testing.assert_array_equal(feature.numpy(), expected.numpy())
    assert _layer_kinds(trunk).count("ResidualBlock") == num_blocks
    # Per LinearBlock: Dense + BN (gamma, beta, moving mean and variance).
    linear = 16 * 16 + 16 + 4 * 16
    assert trunk.count_params() == (10 * 16 + 16 + 4 * 16) + num_blocks * 2 * linear
    # Variables in a fixed order: the input block, then the residual blocks in turn.
    prefixes = [v.path.split("/")[1] for v in trunk.variables if "seed" not in v.path]
    order = ["input_block"] + [f"residual_{i}" for i in range(num_blocks)]
    assert sorted(set(prefixes), key=prefixes.index) == order
    with pytest.raises(ValueError, match="num_blocks"):
        L.Trunk(16, -1)


def test_trunk_puts_rem_at_the_first_layer_only():
    trunk = L.Trunk(16, 2, dropout=0.5, random_enhancement=True)
    trunk.build((None, 8))
    assert trunk.input_block.random_enhancement
    assert not any(b.random_enhancement for r in trunk.blocks for b in (r.block1, r.block2))
    assert _layer_kinds(trunk).count("RandomEnhancement") == 1
    # REM has no weights: same count as the plain trunk.
    plain = L.Trunk(16, 2, dropout=0.5)
    plain.build((None, 8))
    assert trunk.count_params() == plain.count_params()


def test_trunk_without_batchnorm_is_dense_act_then_plain_residual_blocks():
    """The RepGAN critic's 3D branch: no BN variables, no dropout, by hand."""
    trunk = L.Trunk(8, 1, dropout=0.0, max_norm=False, activation="leaky_relu",
                    use_batchnorm=False)
    x = np.random.default_rng(6).normal(size=(5, 6)).astype(np.float32)
    y = trunk(x, training=True).numpy()
    kinds = _layer_kinds(trunk)
    assert "BatchNormalization" not in kinds and "Dropout" not in kinds
    assert "FastDropout" not in kinds
    assert not any("bn" in v.path or "moving" in v.path for v in trunk.variables)
    assert trunk.count_params() == (6 * 8 + 8) + 2 * (8 * 8 + 8)

    def lrelu(a):
        return np.where(a > 0, a, L.LEAKY_SLOPE * a)

    def dense(layer, a):
        return a @ layer.kernel.numpy() + layer.bias.numpy()
    h = lrelu(dense(trunk.input_block.dense, x))
    r = trunk.blocks[0]
    h = h + lrelu(dense(r.block2.dense, lrelu(dense(r.block1.dense, h))))
    np.testing.assert_allclose(y, h, rtol=1e-5, atol=1e-5)


def test_trunk_config_round_trips_and_runs_under_xla():
    trunk = L.Trunk(12, 2, dropout=0.25, max_norm=False, activation="leaky_relu",
                    fast_dropout=True, random_enhancement=True, use_batchnorm=False, name="t")
    x = np.random.default_rng(7).normal(size=(4, 5)).astype(np.float32)
    ref = trunk(x, training=False).numpy()
    config = trunk.get_config()
    for key, value in dict(width=12, num_blocks=2, dropout=0.25, max_norm=False,
                           activation="leaky_relu", fast_dropout=True, random_enhancement=True,
                           use_batchnorm=False).items():
        assert config[key] == value, key
    clone = L.Trunk.from_config(config)
    clone(x)
    assert clone.get_config() == config
    clone.set_weights(trunk.get_weights())
    np.testing.assert_array_equal(clone(x, training=False).numpy(), ref)
    assert isinstance(clone.input_block.rem.dropout, L.FastDropout)
    xla = tf.function(lambda t: trunk(t, training=True, return_features=True), jit_compile=True)
    assert [f.shape for f in xla(tf.constant(x))] == [(4, 12)] * 3


@pytest.mark.parametrize("rate", [0.5, 0.25, 0.1])
def test_fast_dropout_drops_at_the_rate_and_keeps_the_expectation(rate):
    layer = L.FastDropout(rate, seed=4)
    x = tf.ones([512, 1000])  # a width that is not a multiple of 4
    y = layer(x, training=True).numpy()
    dropped = (y == 0).mean()
    q = round(rate * 256) / 256
    assert abs(dropped - q) < 0.005 and abs(q - rate) <= 1 / 512
    np.testing.assert_allclose(y[y != 0], 1 / (1 - q), rtol=1e-6)
    assert abs(y.mean() - 1.0) < 0.02
    # Units are dropped independently: no pattern shared between columns or rows.
    assert abs(np.corrcoef((y[:, :-1] == 0).ravel(), (y[:, 1:] == 0).ravel())[0, 1]) < 0.02
    assert not np.array_equal(y == 0, layer(x, training=True).numpy() == 0)  # fresh mask per call
    np.testing.assert_array_equal(layer(x, training=False), x)
    xla = tf.function(lambda t: layer(t, training=True), jit_compile=True)(x).numpy()
    assert abs((xla == 0).mean() - q) < 0.005
    assert L.FastDropout.from_config(layer.get_config()).rate == rate


def test_fast_dropout_in_blocks_and_models_round_trips():
    block = L.LinearBlock(16, dropout=0.5, fast_dropout=True)
    block.build((None, 8))
    assert isinstance(block.dropout, L.FastDropout)
    assert L.LinearBlock.from_config(block.get_config()).fast_dropout
    rem = L.LinearBlock(16, dropout=0.5, random_enhancement=True, fast_dropout=True)
    assert isinstance(rem.rem.dropout, L.FastDropout)
    assert isinstance(L.LinearBlock(16, dropout=0.5).dropout, keras.layers.Dropout)
    bf16 = L.FastDropout(0.5, seed=1, dtype="mixed_bfloat16")
    out = bf16(tf.ones([4, 64]), training=True)
    assert out.dtype == tf.bfloat16 and set(np.unique(out.numpy().astype(np.float32))) <= {0, 2}

"""FusedAdam does Keras's Adam arithmetic in one kernel."""

import keras
import numpy as np
import tensorflow as tf

from tfpose import optimizers


def _train(optimizer, steps=30):
    keras.utils.set_random_seed(3)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dense(3)])
    x = tf.random.stateless_normal([64, 8], [1, 2])
    y = tf.random.stateless_normal([64, 3], [3, 4])

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(model(x) - y))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    losses = [float(step()) for _ in range(steps)]
    return model, optimizer, losses


def test_fused_adam_matches_keras_adam():
    schedule = keras.optimizers.schedules.ExponentialDecay(1e-2, 10, 0.5)
    fused, f_opt, f_loss = _train(optimizers.adam(schedule, fused=True, beta_1=0.5))
    plain, p_opt, p_loss = _train(optimizers.adam(schedule, fused=False, beta_1=0.5))
    assert isinstance(f_opt, optimizers.FusedAdam) and not isinstance(p_opt, optimizers.FusedAdam)
    assert f_loss[-1] < 0.8 * f_loss[0]  # it does optimise
    for a, b in zip(fused.weights, plain.weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)
    for a, b in zip(f_opt.variables, p_opt.variables):  # moments and step count too
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-6)
    assert int(f_opt.iterations) == 30

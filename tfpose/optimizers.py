"""Adam with TensorFlow's fused update kernel (``train.py --fused_adam``).

Keras 3's Adam updates each weight with ~8 separate elementwise ops (m, v,
sqrt, divide, ...), each a full pass over the weight in memory, which shows
in the step time of the 4.3M-parameter lifting networks (README,
Performance). ``ResourceApplyAdam`` does the same update (Kingma & Ba with
the bias correction folded into the step size, epsilon outside the square
root, exactly Keras's formula) in one pass.
"""

from __future__ import annotations

import keras
import tensorflow as tf


def _resource(variable):
    """The tf.Variable behind a Keras variable (per device under a strategy)."""
    return variable.value if isinstance(variable, keras.Variable) else variable


@keras.saving.register_keras_serializable(package="tfpose")
class FusedAdam(keras.optimizers.Adam):
    """``keras.optimizers.Adam`` whose dense update is one fused kernel.

    Same variables, same checkpoint layout and the same arithmetic as the
    Keras optimizer (tests compare the two); AMSGrad and sparse gradients
    fall back to Keras's implementation.
    """

    def update_step(self, gradient, variable, learning_rate):
        if self.amsgrad or isinstance(gradient, tf.IndexedSlices):
            return super().update_step(gradient, variable, learning_rate)
        dtype = variable.dtype
        index = self._get_variable_index(variable)
        step = tf.cast(self.iterations + 1, dtype)
        beta_1 = tf.cast(self.beta_1, dtype)
        beta_2 = tf.cast(self.beta_2, dtype)
        tf.raw_ops.ResourceApplyAdam(
            var=_resource(variable).handle,
            m=_resource(self._momentums[index]).handle,
            v=_resource(self._velocities[index]).handle,
            beta1_power=tf.pow(beta_1, step), beta2_power=tf.pow(beta_2, step),
            lr=tf.cast(learning_rate, dtype), beta1=beta_1, beta2=beta_2,
            epsilon=tf.cast(self.epsilon, dtype), grad=tf.cast(gradient, dtype),
            use_locking=False)


def adam(learning_rate, fused: bool = True, **kwargs) -> keras.optimizers.Adam:
    """Adam, fused (default) or Keras's own."""
    cls = FusedAdam if fused else keras.optimizers.Adam
    return cls(learning_rate, **kwargs)

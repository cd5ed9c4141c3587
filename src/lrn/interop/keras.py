"""A Keras layer for TensorFlow's local response normalization on lrn's kernels.

:class:`LocalResponseNormalization` applies :func:`lrn.tf_lrn` (the semantics of
``tf.nn.local_response_normalization``: channels-last, window ``2 *
depth_radius + 1``, alpha not divided) and is registered with Keras as
``"lrn>LocalResponseNormalization"``: a model saved in the ``.keras`` format
reloads with ``keras.models.load_model`` in a fresh process (Keras imports this
module from the saved config).  It needs Keras's TensorFlow backend and is not
XLA-compilable (``supports_jit = False``, so ``model.compile(jit_compile="auto")``
leaves it out of XLA).  Importing this module imports Keras.
"""
import keras

from .. import _params
from .tf import tf_lrn

__all__ = ["LocalResponseNormalization"]


@keras.saving.register_keras_serializable(package="lrn")
class LocalResponseNormalization(keras.layers.Layer):
    """Keras layer: ``tf.nn.local_response_normalization`` over the last axis.

    Parameters
    ----------
    depth_radius : int
        Half-width of the window (>= 0); the window has ``2 * depth_radius + 1``
        channels.
    bias, alpha, beta : float
        TensorFlow's defaults 1, 1, 0.5; alpha is not divided by the window.
    **kwargs
        Keras layer arguments (``name``, ``dtype``, ...).

    Examples
    --------
    >>> import keras, numpy as np
    >>> from lrn.interop.keras import LocalResponseNormalization
    >>> layer = LocalResponseNormalization(depth_radius=1, alpha=1.0, beta=1.0)
    >>> np.round(np.asarray(layer(np.ones((1, 1, 1, 3), "float32"))).ravel(), 6)
    array([0.333333, 0.25    , 0.333333], dtype=float32)
    >>> LocalResponseNormalization.from_config(layer.get_config()).depth_radius
    1
    """

    supports_jit = False           # the kernels run through tf.numpy_function

    def __init__(self, depth_radius=5, bias=1.0, alpha=1.0, beta=0.5, **kwargs):
        if keras.backend.backend() != "tensorflow":
            raise ValueError(f"LocalResponseNormalization needs Keras's TensorFlow backend, "
                             f"got the {keras.backend.backend()!r} backend")
        super().__init__(**kwargs)
        self.depth_radius = _params.check_size(depth_radius, "depth_radius", minimum=0)
        self.bias = _params.check_real(bias, "bias")
        self.alpha = _params.check_real(alpha, "alpha")
        self.beta = _params.check_real(beta, "beta")

    def call(self, inputs):
        return tf_lrn(inputs, self.depth_radius, self.bias, self.alpha, self.beta)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "depth_radius": self.depth_radius, "bias": self.bias,
                "alpha": self.alpha, "beta": self.beta}

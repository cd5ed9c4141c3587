"""TensorFlow interop: ``tf.nn.local_response_normalization`` and its ``LRNGrad``
on the lrn kernels.

TensorFlow's LRN is channels-last (NHWC) with a symmetric window of
``2 * depth_radius + 1`` channels and alpha *not* divided by the window::

    sqr_sum[..., d] = sum(x[..., d - r : d + r + 1] ** 2)
    y = x / (bias + alpha * sqr_sum) ** beta

which is :func:`lrn.lrn` with ``size = 2r + 1``, ``alpha = alpha_tf * size`` and
``layout="NHWC"``.  Nothing here imports TensorFlow: the functions take and
return NumPy arrays (a ``tf.Tensor`` argument is read with ``.numpy()`` and the
result is then returned as a ``tf.Tensor``).
"""
from __future__ import annotations

from .. import _params
from .._api import lrn as _lrn
from .._api import lrn_backward as _lrn_backward
from .._typing import Array, ArrayInput

__all__ = ["tf_lrn", "tf_lrn_grad"]


def _lrn_params(depth_radius, bias, alpha, beta):
    """lrn.lrn parameters for TensorFlow's (depth_radius, bias, alpha, beta)."""
    r = _params.check_size(depth_radius, "depth_radius", minimum=0)
    size = 2 * r + 1
    return dict(size=size, alpha=_params.check_real(alpha, "alpha") * size,
                beta=_params.check_real(beta, "beta"), bias=_params.check_real(bias, "bias"))


def _is_tf(obj):
    return type(obj).__module__.startswith("tensorflow") and hasattr(obj, "numpy")


def _host(obj):
    """(array, is a tf.Tensor) for an array-like or an eager tf.Tensor."""
    if _is_tf(obj):
        return obj.numpy(), True
    return obj, False


def _wrap(result, as_tf):
    if as_tf:
        import tensorflow as tf
        return tf.convert_to_tensor(result)
    return result


def tf_lrn(x: ArrayInput, depth_radius: int = 5, bias: float = 1.0, alpha: float = 1.0,
           beta: float = 0.5, *, num_threads: int | None = None) -> Array:
    """Local response normalization with TensorFlow's signature and semantics.

    Same result as ``tf.nn.local_response_normalization(x, depth_radius, bias,
    alpha, beta)``: ``y = x / (bias + alpha * sqr_sum) ** beta`` where
    ``sqr_sum`` sums ``x**2`` over the ``2 * depth_radius + 1`` channels
    centred on each channel (last axis), zero padded; alpha is *not* divided
    by the window size.

    Parameters
    ----------
    x : array_like or tf.Tensor
        Channels-last input ``(N, H, W, C)`` (TensorFlow requires 4-D; any
        ``(N, *spatial, C)`` with ndim >= 2 works here).  float16, bfloat16
        (``ml_dtypes``; computed in float32), float32 or float64.
    depth_radius : int
        Half-width of the window (>= 0); the window has ``2 * depth_radius + 1``
        channels.
    bias, alpha, beta : float
        TensorFlow's defaults 1.0, 1.0, 0.5.
    num_threads : int, optional
        As in :func:`lrn.lrn`.

    Returns
    -------
    ndarray (or tf.Tensor when ``x`` is one)
        ``y``, same shape and dtype as ``x``.

    Examples
    --------
    >>> import numpy as np
    >>> from lrn import tf_lrn
    >>> x = np.ones((1, 1, 1, 3), dtype=np.float32)
    >>> tf_lrn(x, depth_radius=1, alpha=1.0, beta=1.0).ravel()   # 1 / (1 + #window)
    array([0.33333334, 0.25      , 0.33333334], dtype=float32)
    """
    params = _lrn_params(depth_radius, bias, alpha, beta)
    x, as_tf = _host(x)
    return _wrap(_lrn(x, **params, layout="NHWC", num_threads=num_threads), as_tf)


def tf_lrn_grad(input_grads: ArrayInput, input_image: ArrayInput, output_image: ArrayInput,
                depth_radius: int = 5, bias: float = 1.0, alpha: float = 1.0,
                beta: float = 0.5, *, num_threads: int | None = None) -> Array:
    """Gradient of :func:`tf_lrn`, with the inputs of TensorFlow's ``LRNGrad`` op.

    Parameters
    ----------
    input_grads : array_like or tf.Tensor
        Gradient of the loss with respect to the output of :func:`tf_lrn`.
    input_image : array_like or tf.Tensor
        The input of :func:`tf_lrn`.
    output_image : array_like or tf.Tensor
        The output of :func:`tf_lrn`.
    depth_radius, bias, alpha, beta
        As in :func:`tf_lrn`.
    num_threads : int, optional
        As in :func:`lrn.lrn`.

    Returns
    -------
    ndarray (or tf.Tensor when ``input_image`` is one)
        Gradient with respect to ``input_image``.

    Examples
    --------
    >>> import numpy as np
    >>> from lrn import tf_lrn, tf_lrn_grad
    >>> x = np.linspace(-1, 1, 24).reshape(1, 2, 2, 6)
    >>> y = tf_lrn(x, depth_radius=2)
    >>> dx = tf_lrn_grad(np.ones_like(x), x, y, depth_radius=2)
    >>> dx.shape, dx.dtype
    ((1, 2, 2, 6), dtype('float64'))
    """
    params = _lrn_params(depth_radius, bias, alpha, beta)
    dy, _ = _host(input_grads)
    x, as_tf = _host(input_image)
    y, _ = _host(output_image)
    dx = _lrn_backward(x, y, dy, **params, layout="NHWC", num_threads=num_threads)
    return _wrap(dx, as_tf)

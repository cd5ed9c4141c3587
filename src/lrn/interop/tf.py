"""TensorFlow interop: ``tf.nn.local_response_normalization`` and ``LRNGrad`` as
TensorFlow operations on the lrn kernels.

TensorFlow's LRN is channels-last (NHWC) with a symmetric window of
``2 * depth_radius + 1`` channels and alpha *not* divided by the window::

    sqr_sum[..., d] = sum(x[..., d - r : d + r + 1] ** 2)
    y = x / (bias + alpha * sqr_sum) ** beta

which is :func:`lrn.lrn` with ``size = 2r + 1``, ``alpha = alpha_tf * size`` and
``layout="NHWC"``.

:func:`tf_lrn` and :func:`tf_lrn_grad` are TensorFlow operations: they take what
TensorFlow's ops take (a ``tf.Tensor``, a ``tf.Variable``, a NumPy array, a
nested list), return a ``tf.Tensor``, run eagerly and inside ``tf.function``
(Keras runs every model there), keep the static shape, and are differentiable:

* first order (``tf.GradientTape``, ``tf.gradients``): the gradient of
  :func:`tf_lrn` is :func:`tf_lrn_grad`, lrn's backward kernel;
* the gradient of :func:`tf_lrn_grad` with respect to its three inputs (and so
  second and higher derivatives of :func:`tf_lrn`) is written in TensorFlow
  operations, which TensorFlow differentiates again (TensorFlow's own ``LRNGrad``
  has no gradient: a second derivative of ``tf.nn.local_response_normalization``
  raises ``LookupError``).

The kernels are called through ``tf.numpy_function``, so the operations run on
the host (a GPU tensor is copied) and cannot be compiled by XLA
(``jit_compile=True``) or saved into a SavedModel graph; Keras models using
:class:`lrn.interop.keras.LocalResponseNormalization` save and reload in the
``.keras`` format.  TensorFlow is imported when a function is first called
(``import lrn`` never imports it).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .. import _params
from .._api import lrn as _lrn
from .._api import lrn_backward as _lrn_backward
from .._typing import ArrayInput

__all__ = ["tf_lrn", "tf_lrn_grad"]

_DTYPES = ("float16", "bfloat16", "float32", "float64")
_INT64_MAX = 2**63 - 1


def _tf():
    try:
        import tensorflow as tf
    except ImportError as e:
        raise ImportError(
            "lrn.tf_lrn and lrn.tf_lrn_grad are TensorFlow operations and need TensorFlow: "
            "pip install 'lrnorm[tf]'.  Without it, lrn.lrn(x, 2*r + 1, alpha*(2*r + 1), beta, "
            "bias, layout='NHWC') computes the same on NumPy arrays") from e
    return tf


class _Op:
    """Checked TensorFlow parameters and the NumPy functions the graph calls."""

    def __init__(self, depth_radius, bias, alpha, beta, num_threads):
        self.radius = _params.check_size(depth_radius, "depth_radius", minimum=0)
        self.alpha = _params.check_real(alpha, "alpha")
        self.beta = _params.check_real(beta, "beta")
        self.bias = _params.check_real(bias, "bias")
        size = 2 * self.radius + 1
        try:
            scaled = self.alpha * size
        except OverflowError:          # a window beyond float range
            scaled = 0.0 if self.alpha == 0 else np.inf
        if not np.isfinite(scaled):
            shown = str(size)
            if len(shown) > 40:
                shown = f"{shown[:12]}... ({len(shown)} digits)"
            raise ValueError(f"`alpha` times the window (2 * depth_radius + 1 = {shown}) must "
                             f"be a finite number, got alpha {self.alpha!r}")
        self.lrn_params = dict(size=size, alpha=scaled, beta=self.beta,
                               bias=self.bias, layout="NHWC", num_threads=num_threads)
        self.checked = _params.make(**self.lrn_params)

    def check(self, tensor, name, backward):
        """The data checks lrn.lrn makes, made when the operation is built."""
        if tensor.dtype.name not in _DTYPES:
            raise TypeError(f"`{name}` must have dtype float16, bfloat16, float32 or float64, "
                            f"got {tensor.dtype.name}")
        rank = tensor.shape.rank
        if rank is not None and rank < 2:
            raise ValueError(f"`{name}` must have at least 2 dimensions (N, ..., C), got "
                             f"shape {tuple(tensor.shape)}")
        # across channels the coefficients' checks do not depend on the rank
        self.checked.resolve(np.dtype(tensor.dtype.as_numpy_dtype), rank or 4, backward)

    def forward(self, x):
        return _lrn(x, **self.lrn_params)

    def backward(self, dy, x, y):
        return _lrn_backward(x, y, dy, **self.lrn_params)


def _check_name(name, default):
    if name is None:
        return default
    if not isinstance(name, str):
        raise TypeError(f"`name` must be None or a string, got {name!r}")
    return name


def _tensor(tf, value, name, dtype_hint=None):
    """``value`` as TensorFlow's ops convert their inputs: a tensor as it is; other
    values prefer ``dtype_hint``, by default float32 unless their dtype is one of
    TensorFlow's LRN (so NumPy float16 stays float16, while float64 or integer
    arrays and Python lists become float32, as TensorFlow's LRN gives)."""
    own = getattr(value, "dtype", None)
    if isinstance(own, np.dtype) and (own.kind == "c" or own.itemsize > 8):
        # TensorFlow would drop the imaginary part, or round long doubles, silently
        raise TypeError(f"`{name}` must be a tf.Tensor or real data of at most 64 bits, "
                        f"got a {type(value).__name__} of dtype {own}")
    if dtype_hint is None:
        dtype_hint = own if str(own) in ("float16", "bfloat16") else tf.float32
    try:
        return tf.convert_to_tensor(value, dtype_hint=dtype_hint, name=name)
    except (TypeError, ValueError, NotImplementedError) as e:
        raise TypeError(f"`{name}` must be a tf.Tensor or convertible to one, got "
                        f"{type(value).__name__}: {e}") from e


def _call_kernel(tf, fn, inputs, like):
    if tf.executing_eagerly():       # no graph to build: the kernels on the tensors' memory
        return tf.convert_to_tensor(fn(*(t.numpy() for t in inputs)))
    out = tf.numpy_function(fn, inputs, like.dtype, stateful=False)
    out.set_shape(like.shape)
    return out


def _window_sum(tf, v, radius):
    """Sums of ``v`` over the window of each channel (last axis), zero padded, as a
    product with a band matrix: no subtraction, so no cancellation."""
    channels = tf.shape(v, out_type=tf.int64)[-1]
    reach = tf.minimum(channels - 1, min(radius, _INT64_MAX))
    band = tf.linalg.band_part(tf.ones(tf.stack([channels, channels]), v.dtype), reach, reach)
    return tf.einsum("...c,cd->...d", v, band)


def _grad_of_grad(tf, op, g, dy, x, y=None):
    """Gradients of ``dx = LRNGrad(dy, x, y)`` for the cotangent ``g`` of dx, in
    TensorFlow operations (which TensorFlow differentiates again), computed in
    float32 for float16/bfloat16 data.

    With ``s = bias + alpha W(x**2)`` (``W``: the window sum, symmetric), ``p =
    s**-beta`` and ``c = 2 alpha beta``: ``dx = dy p - c x W(dy y / s)``.  With
    ``y`` given: with respect to (dy, x, y), three independent inputs.  Without:
    ``y`` is the LRN of ``x``, recomputed here as ``x p`` so that every tensor
    used depends on (dy, x) through recorded operations, and the result is the
    gradient with respect to (dy, x) of ``dx(dy, x)``, the chain through ``y``
    included (``g_x + LRNGrad(g_y, x, y)``)."""
    dtype = x.dtype
    work = tf.float64 if dtype == tf.float64 else tf.float32
    g, dy, x = (tf.cast(t, work) for t in (g, dy, x))
    a, b, c = op.alpha, op.beta, 2.0 * op.alpha * op.beta
    s = op.bias + a * _window_sum(tf, x * x, op.radius)
    p = tf.pow(s, -b)
    chained = y is None
    y = x * p if chained else tf.cast(y, work)
    wxg = _window_sum(tf, x * g, op.radius)
    g_dy = g * p - c * (y / s) * wxg
    g_y = -c * (dy / s) * wxg
    g_s = -b * g * dy * p / s + c * wxg * dy * y / (s * s)
    g_x = (-c * g * _window_sum(tf, dy * y / s, op.radius)
           + 2.0 * a * x * _window_sum(tf, g_s, op.radius))
    if chained:
        g_x += g_y * p - c * x * _window_sum(tf, g_y * y / s, op.radius)
        return tf.cast(g_dy, dtype), tf.cast(g_x, dtype)
    return tuple(tf.cast(t, dtype) for t in (g_dy, g_x, g_y))


def _lrn_grad_op(tf, op, dy, x, y):
    """LRNGrad with three independent inputs (the public tf_lrn_grad)."""
    @tf.custom_gradient
    def lrn_grad(dy, x, y):
        return (_call_kernel(tf, op.backward, [dy, x, y], x),
                lambda g: _grad_of_grad(tf, op, g, dy, x, y))
    return lrn_grad(dy, x, y)


def _lrn_op(tf, op, x):
    """LRN, whose gradient is the backward kernel given the output ``y`` (not
    recorded on outer tapes: the gradient's own gradient recomputes it from x)."""
    @tf.custom_gradient
    def lrn_forward(x):
        y = _call_kernel(tf, op.forward, [x], x)

        @tf.custom_gradient
        def lrn_grad(dy, x):
            return (_call_kernel(tf, op.backward, [dy, x, y], x),
                    lambda g: _grad_of_grad(tf, op, g, dy, x))
        return y, lambda dy: lrn_grad(dy, x)
    return lrn_forward(x)


def tf_lrn(input: ArrayInput, depth_radius: int = 5, bias: float = 1, alpha: float = 1,
           beta: float = 0.5, name: str | None = None, *,
           num_threads: int | None = None) -> Any:
    """``tf.nn.local_response_normalization`` as a TensorFlow operation on lrn's kernels.

    Same signature, defaults and result as
    ``tf.nn.local_response_normalization(input, depth_radius, bias, alpha, beta,
    name)``: ``y = input / (bias + alpha * sqr_sum) ** beta`` where ``sqr_sum``
    sums ``input**2`` over the ``2 * depth_radius + 1`` channels centred on each
    channel (last axis), zero padded; alpha is *not* divided by the window size.
    Works eagerly and in ``tf.function``; differentiable to any order (the
    first-order gradient is lrn's backward kernel, :func:`tf_lrn_grad`).

    Parameters
    ----------
    input : tf.Tensor or convertible to one
        Channels-last ``(N, H, W, C)`` (TensorFlow requires 4-D; any ``(N, ...,
        C)`` with at least 2 dimensions works here).  A tensor's dtype is kept:
        float16, bfloat16 (computed in float32), float32 or float64 (TensorFlow:
        not float64).  Other values are converted as TensorFlow converts them
        (NumPy float64 and integer arrays, Python lists: float32).
    depth_radius : int
        Half-width of the window (>= 0).
    bias, alpha, beta : float
        TensorFlow's defaults 1, 1, 0.5.
    name : str, optional
        Name of the operation (default ``"LRN"``).
    num_threads : int, optional
        As in :func:`lrn.lrn` (results do not depend on it).

    Returns
    -------
    tf.Tensor
        Same shape and dtype as ``input`` (after conversion).

    Raises
    ------
    TypeError, ValueError
        When the operation is built (eagerly: at the call), naming the argument:
        a bad parameter, a dtype other than the four above, fewer than 2
        dimensions, or coefficients that do not fit the dtype's precision
        (:func:`lrn.lrn`'s rules).

    Examples
    --------
    >>> import numpy as np
    >>> import tensorflow as tf
    >>> from lrn import tf_lrn
    >>> x = tf.ones((1, 1, 1, 3))
    >>> y = tf_lrn(x, depth_radius=1, alpha=1.0, beta=1.0)   # 1 / (1 + #window)
    >>> np.round(y.numpy().ravel(), 6)
    array([0.333333, 0.25    , 0.333333], dtype=float32)
    >>> with tf.GradientTape() as tape:
    ...     tape.watch(x)
    ...     y = tf_lrn(x, depth_radius=1, alpha=1.0, beta=1.0)
    >>> tape.gradient(y, x).shape
    TensorShape([1, 1, 1, 3])
    """
    tf = _tf()
    op = _Op(depth_radius, bias, alpha, beta, num_threads)
    with tf.name_scope(_check_name(name, "LRN")) as scope:
        x = _tensor(tf, input, "input")
        op.check(x, "input", backward=False)
        return tf.identity(_lrn_op(tf, op, x), name=scope)


def tf_lrn_grad(input_grads: ArrayInput, input_image: ArrayInput, output_image: ArrayInput,
                depth_radius: int = 5, bias: float = 1, alpha: float = 1, beta: float = 0.5,
                name: str | None = None, *, num_threads: int | None = None) -> Any:
    """TensorFlow's ``LRNGrad`` (``tf.raw_ops.LRNGrad``) on lrn's backward kernel.

    ``tf.raw_ops.LRNGrad(input_grads, input_image, output_image, depth_radius,
    bias, alpha, beta, name)``: the gradient with respect to ``input_image`` of
    :func:`tf_lrn`, given the gradient ``input_grads`` of its output
    ``output_image``.  A TensorFlow operation like :func:`tf_lrn`, differentiable
    with respect to its three inputs (taken as independent), to any order.

    Parameters
    ----------
    input_grads, input_image, output_image : tf.Tensor or convertible to one
        The same shape and dtype (non-tensors are converted to
        ``input_image``'s dtype).
    depth_radius, bias, alpha, beta, name, num_threads
        As in :func:`tf_lrn` (``name`` defaults to ``"LRNGrad"``).

    Returns
    -------
    tf.Tensor
        Gradient with respect to ``input_image``.

    Examples
    --------
    >>> import numpy as np
    >>> import tensorflow as tf
    >>> from lrn import tf_lrn, tf_lrn_grad
    >>> x = tf.reshape(tf.linspace(-1.0, 1.0, 24), (1, 2, 2, 6))
    >>> y = tf_lrn(x, depth_radius=2)
    >>> dx = tf_lrn_grad(tf.ones_like(x), x, y, depth_radius=2)
    >>> want = tf.raw_ops.LRNGrad(input_grads=tf.ones_like(x), input_image=x, output_image=y,
    ...                           depth_radius=2, bias=1.0, alpha=1.0, beta=0.5)
    >>> bool(np.allclose(dx, want, rtol=1e-5, atol=1e-6))
    True
    """
    tf = _tf()
    op = _Op(depth_radius, bias, alpha, beta, num_threads)
    with tf.name_scope(_check_name(name, "LRNGrad")) as scope:
        x = _tensor(tf, input_image, "input_image")
        op.check(x, "input_image", backward=True)
        others = []
        for value, what in ((input_grads, "input_grads"), (output_image, "output_image")):
            t = _tensor(tf, value, what, x.dtype)
            if t.dtype != x.dtype:
                raise TypeError(f"`{what}` must have the dtype of `input_image` "
                                f"({x.dtype.name}), got {t.dtype.name}")
            if not t.shape.is_compatible_with(x.shape):
                raise ValueError(f"`{what}` must have the shape of `input_image` "
                                 f"{tuple(x.shape)}, got {tuple(t.shape)}")
            others.append(t)
        dy, y = others
        return tf.identity(_lrn_grad_op(tf, op, dy, x, y), name=scope)

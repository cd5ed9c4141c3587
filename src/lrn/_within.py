"""Within-channel LRN (Caffe ``WITHIN_CHANNEL``, oneDNN ``lrn_within_channel``).

The window of an element is an n x n (x n ...) box of its spatial neighbours
in the same channel, zero padded, with alpha divided by n ** (spatial axes).
The box sum is computed as one window sum per spatial axis (in place, by the
kernels' subtraction-free block method), so its cost does not grow with n.
Arrays here are C-contiguous in the compute dtype, in their full N-D shape.
"""
import math

import numpy as np


def _box_sums(kernels, a, size, pre, channels_last, num_threads):
    spatial = range(1, a.ndim - 1) if channels_last else range(2, a.ndim)
    for ax in spatial:
        shape = a.shape
        view = a.reshape(math.prod(shape[:ax]), shape[ax], math.prod(shape[ax + 1:]))
        kernels.box_sums(view, size, pre, num_threads)


def forward(kernels, x, y, scale, size, pre, alpha, beta, bias, channels_last, num_threads):
    """Write y (and scale unless None); the sums accumulate in one of them."""
    acc = y if scale is None else scale
    kernels.square(x.ravel(), acc.ravel(), num_threads)
    _box_sums(kernels, acc, size, pre, channels_last, num_threads)
    kernels.within_finish(x.ravel(), acc.ravel(), y.ravel(),
                          None if scale is None else scale.ravel(),
                          alpha / size ** (x.ndim - 2), beta, bias, num_threads)


def backward(kernels, x, y, dy, scale, dx, size, pre, alpha, beta, bias, channels_last,
             num_threads):
    """Write dx; the windows containing an element are its mirrored box."""
    alpha_n = alpha / size ** (x.ndim - 2)
    if scale is None:
        scale = np.empty_like(x)
        kernels.square(x.ravel(), scale.ravel(), num_threads)
        _box_sums(kernels, scale, size, pre, channels_last, num_threads)
        kernels.affine(scale.ravel(), alpha_n, bias, num_threads)
    kernels.grad_terms(dy.ravel(), y.ravel(), scale.ravel(), dx.ravel(), num_threads)
    _box_sums(kernels, dx, size, size - 1 - pre, channels_last, num_threads)
    kernels.grad_finish(x.ravel(), dy.ravel(), scale.ravel(), dx.ravel(),
                        2 * alpha_n * beta, beta, num_threads)


# -- the same on any array library (CuPy on the GPU) ---------------------------
# Whole-array operations: each axis's window sum adds the n shifted slices of a
# zero-padded copy (no running sum), so it is exact to (n - 1) ulp and keeps
# NaN/inf local, at n additions per element and axis rather than the kernels'
# three.  float16 is computed in float32.

def _sums_array(xp, a, size, pre, channels_last):
    spatial = range(1, a.ndim - 1) if channels_last else range(2, a.ndim)
    for ax in spatial:
        L = a.shape[ax]
        pad = [(0, 0)] * a.ndim
        pad[ax] = (pre, size - 1 - pre)
        p = xp.pad(a, pad)
        a = sum(p[(slice(None),) * ax + (slice(k, k + L),)] for k in range(size))
    return a


def _inv_pow_array(xp, s, beta):
    if beta == 0.75:
        r = 1 / xp.sqrt(s)
        return r * xp.sqrt(r)   # not 1/sqrt(s*sqrt(s)): s*sqrt(s) overflows
    if beta == 0.5:
        return 1 / xp.sqrt(s)
    return s ** -beta


def _wide(xp, a):
    return a.astype(xp.float32) if a.dtype == xp.float16 else a


def forward_array(xp, x, y, scale, size, pre, alpha, beta, bias, channels_last):
    """:func:`forward` with array operations of ``xp``; writes y (and scale)."""
    xw = _wide(xp, x)
    s = bias + (alpha / size ** (x.ndim - 2)) * _sums_array(xp, xw * xw, size, pre,
                                                            channels_last)
    y[...] = xw * _inv_pow_array(xp, s, beta)
    if scale is not None:
        scale[...] = s


def backward_array(xp, x, y, dy, scale, dx, size, pre, alpha, beta, bias, channels_last):
    """:func:`backward` with array operations of ``xp``; writes dx."""
    xw, yw, dyw = _wide(xp, x), _wide(xp, y), _wide(xp, dy)
    alpha_n = alpha / size ** (x.ndim - 2)
    if scale is None:
        s = bias + alpha_n * _sums_array(xp, xw * xw, size, pre, channels_last)
    else:
        s = _wide(xp, scale)
    t = _sums_array(xp, dyw * yw / s, size, size - 1 - pre, channels_last)
    dx[...] = dyw * _inv_pow_array(xp, s, beta) - (2 * alpha_n * beta) * xw * t

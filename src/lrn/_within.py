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

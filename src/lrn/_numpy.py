"""LRN in plain, vectorised NumPy: the peer the kernels are timed against and
the float64 check of ``python -m lrn``.  Window sums add shifted slices of a
zero-padded array (no running sum), so the cost grows with ``size``.
"""
import numpy as np


def _window_sum(v, size, pre, axis):
    """sum of v[c'] for c - pre <= c' <= c + size - 1 - pre, zero padded."""
    v = np.moveaxis(v, axis, -1)
    C = v.shape[-1]
    pad = np.zeros(v.shape[:-1] + (C + size - 1,), dtype=v.dtype)
    pad[..., pre:pre + C] = v
    out = pad[..., 0:C].copy()
    for k in range(1, size):
        out += pad[..., k:k + C]
    return np.moveaxis(out, -1, axis)


def lrn_numpy(x, size, alpha=1e-4, beta=0.75, bias=1.0, axis=1, pre=None):
    """(y, scale) of cross-channel LRN along ``axis``, in the dtype of ``x``."""
    pre = (size - 1) // 2 if pre is None else pre
    scale = bias + (alpha / size) * _window_sum(x * x, size, pre, axis)
    return x * scale ** -beta, scale


def lrn_backward_numpy(x, y, dy, scale, size, alpha=1e-4, beta=0.75, axis=1, pre=None):
    """dx of :func:`lrn_numpy`: the windows containing c are [c - post, c + pre]."""
    pre = (size - 1) // 2 if pre is None else pre
    t = _window_sum(dy * y / scale, size, size - 1 - pre, axis)
    return dy * scale ** -beta - (2 * alpha * beta / size) * x * t

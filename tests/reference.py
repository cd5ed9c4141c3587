"""Independent float64 NumPy reference for LRN (design.md section 1).

Written to be obviously correct, not fast:

* the forward pass is a direct window sum over the channel axis, one channel at a
  time, over the clipped window ``W(c) = [c - pre, c + post] & [0, C)``;
* the backward pass is the explicit Jacobian-transpose product
  ``dx[c] = sum_{c'} dy[c'] * d y[c'] / d x[c]`` where the derivative of ``y[c']``
  with respect to ``x[c]`` is written out from the chain rule and the membership
  ``c in W(c')`` is evaluated literally for every pair (c, c').  Nothing from the
  kernels' formulation (mirrored windows, prefix sums, ...) is reused.

Everything is computed in float64 on the exact values of the inputs (float16 and
float32 inputs are widened exactly).
"""
from fractions import Fraction

import numpy as np

LAYOUTS = ("NCHW", "NHWC")
CONVENTIONS = ("onnx", "torch")


def window_bounds(size, convention):
    """(pre, post) of the cross-channel window: W(c) = [c - pre, c + post]."""
    if convention == "onnx":
        pre = (size - 1) // 2
    elif convention == "torch":
        pre = size // 2
    else:
        raise ValueError(convention)
    post = size - 1 - pre
    return pre, post


def channel_axis(ndim, layout):
    if layout == "NCHW":
        return 1
    if layout == "NHWC":
        return ndim - 1
    raise ValueError(layout)


def _to_channels_last64(a, layout):
    """float64 copy of `a` with the channel axis moved last."""
    a = np.asarray(a)
    return np.moveaxis(a.astype(np.float64), channel_axis(a.ndim, layout), -1)


def _from_channels_last(a, ndim, layout):
    return np.ascontiguousarray(np.moveaxis(a, -1, channel_axis(ndim, layout)))


def ref_forward(x, size, alpha, beta, bias, layout="NCHW", convention="onnx"):
    """Return (y, scale) in float64, in the layout of `x`."""
    x = np.asarray(x)
    xl = _to_channels_last64(x, layout)
    C = xl.shape[-1]
    pre, post = window_bounds(size, convention)
    scale = np.empty_like(xl)
    for c in range(C):
        lo = max(0, c - pre)
        hi = min(C - 1, c + post)          # inclusive
        sq = np.zeros(xl.shape[:-1], dtype=np.float64)
        for cp in range(lo, hi + 1):       # plain direct sum, no subtraction
            sq = sq + xl[..., cp] * xl[..., cp]
        scale[..., c] = bias + (alpha / size) * sq
    with np.errstate(all="ignore"):
        y = xl * np.power(scale, -beta)
    return (_from_channels_last(y, x.ndim, layout),
            _from_channels_last(scale, x.ndim, layout))


def _in_window(c, cp, size, convention, C):
    """Literal test: is channel c in W(cp)?"""
    pre, post = window_bounds(size, convention)
    return 0 <= c < C and cp - pre <= c <= cp + post


def ref_backward(x, dy, size, alpha, beta, bias, layout="NCHW", convention="onnx",
                 return_terms=False):
    """dx = J^T dy in float64, J = d y / d x, written out term by term.

    y[c'] = x[c'] * s[c']**(-beta),   s[c'] = bias + alpha/n * sum_{c'' in W(c')} x[c'']^2

    d y[c'] / d x[c] = [c == c'] * s[c']**(-beta)
                       - beta * x[c'] * s[c']**(-beta - 1) * d s[c'] / d x[c]
    d s[c'] / d x[c] = [c in W(c')] * (2 * alpha / n) * x[c]

    With return_terms=True also returns a per-element magnitude
    ``|diagonal term| + sum_{c'} |off-diagonal contribution|`` that bounds the
    rounding a correct implementation may commit (for tolerances).
    """
    x = np.asarray(x)
    dy = np.asarray(dy)
    assert x.shape == dy.shape
    xl = _to_channels_last64(x, layout)
    dyl = _to_channels_last64(dy, layout)
    C = xl.shape[-1]
    _, scale = ref_forward(x, size, alpha, beta, bias, layout, convention)
    sl = _to_channels_last64(scale, layout)
    with np.errstate(all="ignore"):
        s_mb = np.power(sl, -beta)               # s^-beta
        s_mb1 = np.power(sl, -beta - 1.0)        # s^(-beta-1)
    dx = np.empty_like(xl)
    mag = np.empty_like(xl)
    with np.errstate(all="ignore"):
        for c in range(C):
            # every c' whose window W(c') contains c, decided pair by pair
            members = np.array([_in_window(c, cp, size, convention, C) for cp in range(C)])
            diag = dyl[..., c] * s_mb[..., c]                    # c' == c, d x[c]/d x[c] = 1
            ds_dx = (2.0 * alpha / size) * xl[..., c]            # d s[c'] / d x[c]
            off = (-beta * dyl[..., members] * xl[..., members] * s_mb1[..., members]
                   * ds_dx[..., None])                           # one column per such c'
            dx[..., c] = diag + off.sum(axis=-1)
            mag[..., c] = np.abs(diag) + np.abs(off).sum(axis=-1)
    dx = _from_channels_last(dx, x.ndim, layout)
    if return_terms:
        return dx, _from_channels_last(mag, x.ndim, layout)
    return dx


def caffe_backward_unmirrored(x, dy, size, alpha, beta, bias, layout="NCHW",
                              convention="onnx"):
    """The Caffe/Caffe2 formula: sums t over W(c) instead of the mirrored window.

    Correct for odd sizes, WRONG for even sizes.  Only used to show that the
    finite-difference test is able to detect that bug.
    """
    y, scale = ref_forward(x, size, alpha, beta, bias, layout, convention)
    yl = _to_channels_last64(y, layout)
    sl = _to_channels_last64(scale, layout)
    xl = _to_channels_last64(x, layout)
    dyl = _to_channels_last64(dy, layout)
    C = xl.shape[-1]
    pre, post = window_bounds(size, convention)
    t = dyl * yl / sl
    dx = np.empty_like(xl)
    for c in range(C):
        lo, hi = max(0, c - pre), min(C - 1, c + post)
        acc = t[..., lo:hi + 1].sum(axis=-1)
        dx[..., c] = (dyl[..., c] * sl[..., c] ** -beta
                      - (2.0 * alpha * beta / size) * xl[..., c] * acc)
    return _from_channels_last(dx, x.ndim, layout)


def make_shape(n, c, spatial, layout):
    """Array shape for batch n, channels c, spatial dims, in `layout`."""
    spatial = tuple(spatial)
    if layout == "NCHW":
        return (n, c) + spatial
    return (n,) + spatial + (c,)


# --------------------------------------------------------------------------- within-channel

def _ratio(a, n):
    """``a / n`` correctly rounded for any int ``n`` (``size ** d`` may be beyond float
    range: the ratio then underflows to 0 instead of raising OverflowError)."""
    return float(Fraction(a) / n)


def _to_channels_first64(a, layout):
    a = np.asarray(a)
    return np.moveaxis(a.astype(np.float64), channel_axis(a.ndim, layout), 1)


def _from_channels_first(a, layout):
    return np.ascontiguousarray(np.moveaxis(a, 1, channel_axis(a.ndim, layout)))


def ref_forward_within(x, size, alpha, beta, bias, layout="NCHW", convention="onnx"):
    """Within-channel LRN: box of size^d spatial neighbours (same `pre` rule on every
    spatial axis, zero padding), alpha divided by size**d.  Returns (y, scale)."""
    import itertools
    x = np.asarray(x)
    xf = _to_channels_first64(x, layout)            # (N, C, *spatial)
    spatial = xf.shape[2:]
    d = len(spatial)
    pre, post = window_bounds(size, convention)
    sq = np.zeros_like(xf)
    for pos in itertools.product(*(range(s) for s in spatial)):
        acc = np.zeros(xf.shape[:2])
        ranges = [range(max(0, p - pre), min(s - 1, p + post) + 1)
                  for p, s in zip(pos, spatial)]
        for q in itertools.product(*ranges):       # direct sum over the box
            v = xf[(slice(None), slice(None)) + q]
            acc = acc + v * v
        sq[(slice(None), slice(None)) + pos] = acc
    scale = bias + _ratio(alpha, size ** d) * sq
    with np.errstate(all="ignore"):
        y = xf * np.power(scale, -beta)
    return _from_channels_first(y, layout), _from_channels_first(scale, layout)


def ref_backward_within(x, dy, size, alpha, beta, bias, layout="NCHW", convention="onnx",
                        return_terms=False):
    """J^T dy for within-channel LRN with literal box membership, pair by pair."""
    import itertools
    x = np.asarray(x)
    xf = _to_channels_first64(x, layout)
    dyf = _to_channels_first64(dy, layout)
    N, C = xf.shape[:2]
    spatial = xf.shape[2:]
    d = len(spatial)
    pre, post = window_bounds(size, convention)
    _, scale = ref_forward_within(x, size, alpha, beta, bias, layout, convention)
    sf = _to_channels_first64(scale, layout)
    P = int(np.prod(spatial))
    xs, dys, ss = (a.reshape(N, C, P) for a in (xf, dyf, sf))
    positions = list(itertools.product(*(range(s) for s in spatial)))
    # member[p, q]: is position q inside the box W(p)?
    member = np.array([[all(pk - pre <= qk <= pk + post for pk, qk in zip(p, q))
                        for q in positions] for p in positions])
    with np.errstate(all="ignore"):
        g = dys * xs * np.power(ss, -beta - 1.0)           # dy[p] x[p] s[p]^(-beta-1)
        diag = dys * np.power(ss, -beta)
        coef = _ratio(2.0 * alpha, size ** d)
        off = -beta * coef * xs[..., None, :] * (g[..., :, None] * member)  # [.., p, q]
        dx = diag + off.sum(axis=-2)
        mag = np.abs(diag) + np.abs(off).sum(axis=-2)
    dx = _from_channels_first(dx.reshape(xf.shape), layout)
    if return_terms:
        return dx, _from_channels_first(mag.reshape(xf.shape), layout)
    return dx

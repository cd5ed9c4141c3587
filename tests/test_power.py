"""The power step ``x * scale ** -beta`` where ``scale ** -beta`` alone leaves the
floating-point range but the result does not (design §2), forward and backward, on every
CPU kernel build; tests/test_gpu.py runs the same cases on the GPU path.

The references are exact: rational arithmetic on the values the kernels see (the data,
``alpha / size`` and ``bias`` rounded to the computing precision), integer betas, one
rounding at the end.  The kernels round ``scale`` to the computing precision first, and
``scale ** -beta`` multiplies that rounding error by beta: hence the tolerance
(beta + 1) ulp.
"""
from fractions import Fraction

import numpy as np
import pytest

import lrn
from .helpers import poisoned
from .test_isa import build  # noqa: F401  (the fixture: every kernel build)

# (dtype, x, alpha, beta, bias): size 1, so alpha / size = alpha.
FORWARD = [
    (np.float32, 0.0, 1e-4, 3.0, 1e-30),      # 0, not 0 * 1e90 rounded through float
    (np.float32, 1e-5, 2e-4, 3.0, 0.0),       # 1.25e36 from s = 2e-14: s**-3 overflows float
    (np.float32, 0.0, 1e-4, 20.0, 1e-30),     # 0, not 0 * inf: 1e600 overflows double
    (np.float32, 65504.0, 1e4, 3.0, 1.0),     # 8.29e-37: s**-3 is below float's normal range
    (np.float64, 0.0, 1e-4, 3.0, 1e-110),     # 0, not 0 * inf = NaN
    (np.float64, 1e-300, 1e-4, 3.0, 1e-110),  # 1e30 from s**-3 = 1e330
    (np.float64, 1e150, 1e-300, 2.0, 1e200),  # 1e-250 from s**-2 = 1e-400
]
# (dtype, dy, beta, bias) with x = y = 0, so dx = dy * bias ** -beta.
BACKWARD = [
    (np.float32, 0.0, 20.0, 1e-30),
    (np.float32, 1.0, 3.0, 1e-12),
    (np.float64, 1e-300, 3.0, 1e-110),
    (np.float64, 1e150, 2.0, 1e200),
    (np.float64, 0.0, 3.0, 1e-110),
]


def exact_forward(dtype, x, alpha, beta, bias):
    """y = x * (bias + alpha x**2) ** -beta in rationals, from the rounded inputs."""
    x, alpha, bias = (Fraction(float(dtype(v))) for v in (x, alpha, bias))
    return float(x / (bias + alpha * x * x) ** int(beta))


def ulp_tolerance(dtype, beta):
    return (beta + 1) * np.finfo(dtype).eps


@pytest.mark.parametrize("case", FORWARD, ids=lambda c: f"{np.dtype(c[0]).name}-{c[1:]}")
def test_power_forward_representable(build, case):  # noqa: F811
    dtype, x0, alpha, beta, bias = case
    x = np.full((1, 1, 9), x0, dtype)   # a vector's worth and a tail
    for layout in ("NCHW", "NHWC"):
        y = lrn.lrn(x, 1, alpha, beta, bias, layout=layout, out=poisoned(x.shape, dtype))
        want = exact_forward(dtype, x0, alpha, beta, bias)
        assert np.isfinite(y).all()
        np.testing.assert_allclose(y.astype(np.float64), want, rtol=ulp_tolerance(dtype, beta),
                                   atol=0)


@pytest.mark.parametrize("case", BACKWARD, ids=lambda c: f"{np.dtype(c[0]).name}-{c[1:]}")
def test_power_backward_representable(build, case):  # noqa: F811
    dtype, dy0, beta, bias = case
    x = np.zeros((1, 1, 9), dtype)
    dy = np.full(x.shape, dy0, dtype)
    want = float(Fraction(float(dtype(dy0))) / Fraction(float(dtype(bias))) ** int(beta))
    scale = np.full(x.shape, bias, dtype)
    for given in (None, scale):
        dx = lrn.lrn_backward(x, x, dy, 1, 1e-4, beta, bias, scale=given,
                              out=poisoned(x.shape, dtype))
        assert np.isfinite(dx).all()
        np.testing.assert_allclose(dx.astype(np.float64), want,
                                   rtol=ulp_tolerance(dtype, beta), atol=0)


def test_power_ieee_cases_kept(build):  # noqa: F811
    """What the fallback must not change: a zero scale gives inf (or NaN for x = 0), a
    negative one NaN for a non-integer beta, an infinite x NaN or inf as pow gives."""
    with np.errstate(all="ignore"):
        y = lrn.lrn(np.array([[[1.0]], [[0.0]], [[2.0]]]), 1, 0.0, 3.0, 0.0)
        assert np.isposinf(y[0]).all() and np.isnan(y[1]).all() and np.isposinf(y[2]).all()
        y = lrn.lrn(np.array([[[1.0]]]), 1, 0.0, 2.5, -1.0)
        assert np.isnan(y).all()

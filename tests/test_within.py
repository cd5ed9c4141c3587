"""Within-channel LRN (region="within"): forward, scale and backward against the
float64 reference, finite differences, argument rules."""
import numpy as np
import pytest

import lrn
from .helpers import (DTYPES, assert_bwd_close, assert_fwd_close, dtype_id, fd_gradient,
                     make_shape, poisoned, random_params, random_x, rng_for)
from .reference import CONVENTIONS, LAYOUTS, ref_backward_within, ref_forward_within

SPECS = [(2, 3, (7,)), (2, 2, (5, 6)), (1, 3, (3, 4, 5)), (3, 1, (1, 4)), (1, 2, (2, 1, 1, 3))]


def _spec_id(spec):
    n, c, sp = spec
    return f"N{n}C{c}S{'x'.join(map(str, sp))}"


def _case(layout, dtype, size, convention, spec, params=None):
    n, c, spatial = spec
    rng = rng_for("within", layout, dtype_id(dtype), size, convention, spec)
    alpha, beta, bias = params if params is not None else random_params(rng)
    shape = make_shape(n, c, spatial, layout)
    x = random_x(rng, shape, dtype)
    dy = random_x(rng, shape, dtype, scale=1.0)
    return x, dy, (size, alpha * 3, beta, bias)


@pytest.mark.parametrize("spec", SPECS, ids=_spec_id)
@pytest.mark.parametrize("convention", CONVENTIONS)
@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 9])
@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_within_forward_backward(layout, dtype, size, convention, spec):
    x, dy, args = _case(layout, dtype, size, convention, spec)
    kw = dict(layout=layout, convention=convention, region="within")
    x_before = x.copy()
    yref, sref = ref_forward_within(x, *args, layout, convention)
    yo, so = poisoned(x.shape, dtype), poisoned(x.shape, dtype)
    res = lrn.lrn(x, *args, out=(yo, so), return_scale=True, **kw)
    assert res[0] is yo and res[1] is so
    assert_fwd_close(yo, yref, dtype)
    assert_fwd_close(so, sref, dtype, "scale")
    y = lrn.lrn(x, *args, **kw)
    assert y.flags.c_contiguous
    assert_fwd_close(y, yref, dtype)

    dxref, mag = ref_backward_within(x, dy, *args, layout, convention, return_terms=True)
    y_in, s_in = yref.astype(dtype), sref.astype(dtype)
    out = poisoned(x.shape, dtype)
    assert lrn.lrn_backward(x, y_in, dy, *args, out=out, **kw) is out
    assert_bwd_close(out, dxref, mag, dtype)
    assert_bwd_close(lrn.lrn_backward(x, y_in, dy, *args, scale=s_in, **kw), dxref, mag, dtype)
    np.testing.assert_array_equal(x, x_before)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("convention", CONVENTIONS)
@pytest.mark.parametrize("size", [2, 3, 4])
def test_within_backward_matches_fd(layout, convention, size):
    rng = np.random.default_rng(size)
    shape = make_shape(1, 2, (4, 3), layout)
    x = rng.standard_normal(shape)
    dy = rng.standard_normal(shape)
    args = (size, 4.0, 0.6, 1.0)
    kw = dict(layout=layout, convention=convention, region="within")
    fd = fd_gradient(lambda z: lrn.lrn(z, *args, **kw), x, dy)
    y = lrn.lrn(x, *args, **kw)
    np.testing.assert_allclose(lrn.lrn_backward(x, y, dy, *args, **kw), fd,
                               rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_within_noncontiguous_and_memoryview(layout):
    rng = np.random.default_rng(0)
    big = rng.standard_normal((2, 6, 9, 8))
    x = big[:, ::2, 1::2, ::-1]
    args = (3, 2.0, 0.75, 1.0)
    yref, sref = ref_forward_within(x, *args, layout)
    assert_fwd_close(lrn.lrn(x, *args, layout=layout, region="within"), yref, np.float64)
    xc = np.ascontiguousarray(x)
    xc.flags.writeable = False
    assert_fwd_close(lrn.lrn(memoryview(xc), *args, layout=layout, region="within"),
                     yref, np.float64)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=dtype_id)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_within_bitwise_across_threads(layout, dtype):
    rng = np.random.default_rng(1)
    x = rng.standard_normal(make_shape(2, 8, (33, 35), layout)).astype(dtype)
    dy = rng.standard_normal(x.shape).astype(dtype)
    args = (5, 2.0, 0.75, 1.0)
    kw = dict(layout=layout, region="within")
    r = {}
    for nt in (1, 2, -1):
        y, s = lrn.lrn(x, *args, return_scale=True, num_threads=nt, **kw)
        dx = lrn.lrn_backward(x, y, dy, *args, num_threads=nt, **kw)
        r[nt] = [a.tobytes() for a in (y, s, dx)]
    assert r[1] == r[2] == r[-1]


def test_within_needs_spatial_axis():
    x = np.ones((3, 4), np.float32)
    with pytest.raises(ValueError, match="`x"):
        lrn.lrn(x, 3, region="within")
    with pytest.raises(ValueError, match="`x"):
        lrn.lrn_backward(x, x, x, 3, region="within")


def test_within_float32_hard_magnitudes():
    """Every element within 1e-5 relative; loud and quiet patches side by side."""
    rng = np.random.default_rng(3)
    mags = np.where(np.arange(40) < 12, 1e3, 1e-3)
    x = (rng.choice([-1.0, 1.0], (1, 2, 40, 40)) * mags[None, None, :, None]
         * mags[None, None, None, :]).astype(np.float32)
    args = (5, 1e-4, 0.75, 1e-2)
    yref, sref = ref_forward_within(x, *args)
    y, s = lrn.lrn(x, *args, region="within", return_scale=True)
    assert (np.abs(y.astype(np.float64) - yref) / np.abs(yref)).max() <= 1e-5
    assert (np.abs(s.astype(np.float64) - sref) / np.abs(sref)).max() <= 1e-5


def test_within_nan_locality():
    x = np.random.default_rng(2).standard_normal((1, 2, 9, 9))
    x[0, 1, 4, 4] = np.nan
    y = lrn.lrn(x, 3, 2.0, region="within")
    bad = np.isnan(y)
    expected = np.zeros_like(bad)
    expected[0, 1, 3:6, 3:6] = True
    np.testing.assert_array_equal(bad, expected)

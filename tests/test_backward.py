"""Backward LRN (input gradient) against the float64 Jacobian-transpose reference
and against finite differences."""
import numpy as np
import pytest

import lrn
from .helpers import (BETAS, CROSS_SHAPES, SWEEP_SHAPES, DTYPES, SIZES, assert_bwd_close, dtype_id, fd_gradient,
                     make_shape, poisoned, random_params, random_x, resolve_size, rng_for,
                     shape_id)
from .reference import (CONVENTIONS, LAYOUTS, caffe_backward_unmirrored, ref_backward,
                       ref_forward)


def make_case(layout, dtype, size, convention, spec, params=None, extra_seed=()):
    n, c, spatial = spec
    size = resolve_size(size, c)
    rng = rng_for("bwd", layout, dtype_id(dtype), size, convention, spec, *extra_seed)
    alpha, beta, bias = params if params is not None else random_params(rng)
    shape = make_shape(n, c, spatial, layout)
    x = random_x(rng, shape, dtype)
    dy = random_x(rng, shape, dtype, scale=1.0)
    args = (size, alpha, beta, bias)
    yref, sref = ref_forward(x, *args, layout, convention)
    # y and scale as the forward pass would hand them over, in the data dtype
    y = yref.astype(dtype)
    s = sref.astype(dtype)
    dxref, mag = ref_backward(x, dy, *args, layout, convention, return_terms=True)
    return x, y, s, dy, args, dxref, mag


def check_backward(layout, dtype, size, convention, spec, params=None, extra_seed=()):
    x, y, s, dy, args, dxref, mag = make_case(layout, dtype, size, convention, spec, params,
                                              extra_seed)
    kw = dict(layout=layout, convention=convention)
    before = [a.copy() for a in (x, y, s, dy)]

    # 1. scale recomputed, poisoned out
    out = poisoned(x.shape, dtype)
    res = lrn.lrn_backward(x, y, dy, *args, out=out, **kw)
    assert res is out
    assert_bwd_close(out, dxref, mag, dtype)

    # 2. scale given, allocated result
    dx2 = lrn.lrn_backward(x, y, dy, *args, scale=s, **kw)
    assert isinstance(dx2, np.ndarray) and dx2.flags.c_contiguous
    assert_bwd_close(dx2, dxref, mag, dtype)
    # with scale given == recomputing it (float32-level tolerance, not bitwise)
    tol = {np.float16: 3e-3, np.float32: 3e-5, np.float64: 3e-5}[np.dtype(dtype).type]
    assert_bwd_close(dx2, out.astype(np.float64), mag, dtype, rtol=tol)

    for a, b in zip((x, y, s, dy), before):
        np.testing.assert_array_equal(a, b)   # inputs untouched


@pytest.mark.parametrize("spec", CROSS_SHAPES, ids=shape_id)
@pytest.mark.parametrize("convention", CONVENTIONS)
@pytest.mark.parametrize("size", SIZES, ids=str)
@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_backward_cross(layout, dtype, size, convention, spec):
    check_backward(layout, dtype, size, convention, spec)


@pytest.mark.parametrize("spec", SWEEP_SHAPES, ids=shape_id)
@pytest.mark.parametrize("convention", CONVENTIONS)
@pytest.mark.parametrize("size", [1, 4, 5, "gtC"], ids=str)
@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_backward_shapes(layout, dtype, size, convention, spec):
    check_backward(layout, dtype, size, convention, spec)


@pytest.mark.parametrize("size", [4, 5])
@pytest.mark.parametrize("convention", CONVENTIONS)
@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("beta", BETAS)
def test_backward_betas(beta, layout, dtype, convention, size):
    for bias in (1.0, 2.0, 0.5):
        check_backward(layout, dtype, size, convention, (2, 9, (4, 5)),
                       params=(1.9, beta, bias), extra_seed=(beta, bias))


@pytest.mark.parametrize("seed", range(16))
def test_backward_random(seed):
    rng = np.random.default_rng(2000 + seed)
    ndim_sp = int(rng.integers(0, 4))
    spec = (int(rng.integers(1, 4)), int(rng.integers(1, 20)),
            tuple(int(v) for v in rng.integers(1, 6, ndim_sp)))
    layout = str(rng.choice(LAYOUTS))
    convention = str(rng.choice(CONVENTIONS))
    dtype = DTYPES[int(rng.integers(0, 3))]
    size = int(rng.integers(1, 2 * spec[1] + 3))
    params = (float(rng.uniform(1e-3, 4.0)), float(rng.choice(BETAS + (0.3, 1.25))),
              float(rng.uniform(0.3, 3.0)))
    check_backward(layout, dtype, size, convention, spec, params=params, extra_seed=(seed,))


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("size", [3, 4])
def test_backward_negative_alpha(layout, dtype, size):
    rng = np.random.default_rng(size)
    shape = make_shape(2, 8, (3,), layout)
    x = rng.uniform(-1, 1, shape).astype(dtype)
    dy = rng.standard_normal(shape).astype(dtype)
    args = (size, -0.9, 0.75, 1.5)
    y = ref_forward(x, *args, layout)[0].astype(dtype)
    dxref, mag = ref_backward(x, dy, *args, layout, return_terms=True)
    assert_bwd_close(lrn.lrn_backward(x, y, dy, *args, layout=layout), dxref, mag, dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_backward_defaults(layout, dtype):
    rng = np.random.default_rng(5)
    shape = make_shape(2, 10, (3, 3), layout)
    x = (rng.standard_normal(shape) * 60).astype(dtype)
    dy = rng.standard_normal(shape).astype(dtype)
    args = (4, 1e-4, 0.75, 1.0)
    y = ref_forward(x, *args, layout)[0].astype(dtype)
    dxref, mag = ref_backward(x, dy, *args, layout, return_terms=True)
    assert_bwd_close(lrn.lrn_backward(x, y, dy, 4, layout=layout), dxref, mag, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=dtype_id)
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("convention", CONVENTIONS)
@pytest.mark.parametrize("size", [21, 64, 300])
def test_backward_large_channel_count(size, convention, layout, dtype):
    check_backward(layout, dtype, size, convention, (1, 300, (2,)), params=(2.5, 0.75, 1.0))


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("convention", CONVENTIONS)
@pytest.mark.parametrize("size", [50, 2**40, 2**40 + 1])
def test_backward_size_much_larger_than_channels(size, convention, layout, dtype):
    # a window far beyond the channels must not need scratch that grows with it
    check_backward(layout, dtype, size, convention, (2, 3, (4, 2)), params=(30.0, 0.75, 1.0))


def test_backward_pipeline_float32():
    """x -> lrn(return_scale) -> lrn_backward(scale=...) as a user would chain them."""
    rng = np.random.default_rng(9)
    x = rng.standard_normal((2, 16, 5, 5)).astype(np.float32)
    dy = rng.standard_normal(x.shape).astype(np.float32)
    args = (5, 2.0, 0.75, 1.0)
    y, s = lrn.lrn(x, *args, return_scale=True)
    dxref, mag = ref_backward(x, dy, *args, return_terms=True)
    assert_bwd_close(lrn.lrn_backward(x, y, dy, *args, scale=s), dxref, mag, np.float32)
    assert_bwd_close(lrn.lrn_backward(x, y, dy, *args), dxref, mag, np.float32)


# --------------------------------------------------------------------------- finite differences

@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("convention", CONVENTIONS)
@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 6, 8])
@pytest.mark.parametrize("beta", [0.75, 0.6])
def test_backward_matches_finite_differences(layout, convention, size, beta):
    """float64 package backward == central FD of the package forward.

    Even sizes are where the non-mirrored (Caffe) window is wrong; the
    companion test below shows this check rejects it.
    """
    rng = np.random.default_rng(100 * size + int(beta * 8))
    shape = make_shape(2, 7, (2,), layout)
    x = rng.standard_normal(shape)
    dy = rng.standard_normal(shape)
    args = (size, 1.7, beta, 1.0)
    kw = dict(layout=layout, convention=convention)
    fd = fd_gradient(lambda z: lrn.lrn(z, *args, **kw), x, dy)
    y, s = lrn.lrn(x, *args, return_scale=True, **kw)
    np.testing.assert_allclose(lrn.lrn_backward(x, y, dy, *args, **kw), fd,
                               rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(lrn.lrn_backward(x, y, dy, *args, scale=s, **kw), fd,
                               rtol=1e-6, atol=1e-8)
    if size % 2 == 0:
        wrong = caffe_backward_unmirrored(x, dy, *args, layout, convention)
        assert np.abs(wrong - fd).max() > 1e-3   # the same check would catch the Caffe bug


# --------------------------------------------------------------------------- inputs / outputs

def _case(layout, dtype, seed=4, size=4):
    rng = np.random.default_rng(seed)
    shape = make_shape(2, 7, (5, 4), layout)
    x = random_x(rng, shape, dtype)
    dy = random_x(rng, shape, dtype, scale=1.0)
    args = (size, 1.6, 0.75, 1.0)
    yref, sref = ref_forward(x, *args, layout)
    dxref, mag = ref_backward(x, dy, *args, layout, return_terms=True)
    return x, yref.astype(dtype), sref.astype(dtype), dy, args, dxref, mag


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("which", ["x", "y", "dy", "scale"])
def test_backward_inplace(which, layout, dtype):
    x, y, s, dy, args, dxref, mag = _case(layout, dtype)
    arrays = dict(x=x.copy(), y=y.copy(), dy=dy.copy(), scale=s.copy())
    target = arrays[which]
    res = lrn.lrn_backward(arrays["x"], arrays["y"], arrays["dy"], *args,
                           scale=arrays["scale"], layout=layout, out=target)
    assert res is target
    assert_bwd_close(target, dxref, mag, dtype)
    if which != "scale":   # also without scale (recomputed), out aliasing x / y / dy
        arrays = dict(x=x.copy(), y=y.copy(), dy=dy.copy())
        target = arrays[which]
        res = lrn.lrn_backward(arrays["x"], arrays["y"], arrays["dy"], *args,
                               layout=layout, out=target)
        assert res is target
        assert_bwd_close(target, dxref, mag, dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("kind", ["transposed", "strided", "negative_stride"])
def test_backward_noncontiguous_inputs(kind, layout, dtype):
    x, y, s, dy, args, dxref, mag = _case(layout, dtype)

    def nc(a):
        if kind == "transposed":
            # same logical array, stored in Fortran order
            return np.asfortranarray(a)
        if kind == "strided":
            big = np.zeros(tuple(2 * d for d in a.shape), a.dtype)
            v = big[tuple(slice(1, None, 2) for _ in a.shape)]
            v[...] = a
            return v
        big = np.ascontiguousarray(a[:, ::-1])
        return big[:, ::-1]

    xs, ys, ss, dys = nc(x), nc(y), nc(s), nc(dy)
    assert not xs.flags.c_contiguous
    np.testing.assert_array_equal(xs, x)
    dx = lrn.lrn_backward(xs, ys, dys, *args, layout=layout)
    assert_bwd_close(dx, dxref, mag, dtype)
    dx = lrn.lrn_backward(xs, ys, dys, *args, scale=ss, layout=layout)
    assert_bwd_close(dx, dxref, mag, dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_backward_readonly_and_memoryview(layout, dtype):
    x, y, s, dy, args, dxref, mag = _case(layout, dtype)
    for a in (x, y, s, dy):
        a.flags.writeable = False
    assert_bwd_close(lrn.lrn_backward(x, y, dy, *args, scale=s, layout=layout),
                     dxref, mag, dtype)
    dx = lrn.lrn_backward(memoryview(x), memoryview(y), memoryview(dy), *args,
                          scale=memoryview(s), layout=layout)
    assert isinstance(dx, np.ndarray)
    assert_bwd_close(dx, dxref, mag, dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_backward_noncontiguous_out(layout, dtype):
    x, y, s, dy, args, dxref, mag = _case(layout, dtype)
    sentinel = -7.25
    big = np.full((x.shape[0] * 2,) + x.shape[1:-1] + (x.shape[-1] * 3,), sentinel, dtype)
    out = big[::2, ..., 1::3]
    out[...] = np.nan
    assert lrn.lrn_backward(x, y, dy, *args, layout=layout, out=out) is out
    assert_bwd_close(out, dxref, mag, dtype)
    mask = np.ones(big.shape, bool)
    mask[::2, ..., 1::3] = False
    assert (big[mask] == sentinel).all()
    fo = np.asfortranarray(poisoned(x.shape, dtype))
    assert lrn.lrn_backward(x, y, dy, *args, scale=s, layout=layout, out=fo) is fo
    assert_bwd_close(fo, dxref, mag, dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("shape", [(0, 3, 4), (2, 0, 4), (2, 3, 0), (3, 0)])
def test_backward_zero_size(shape, dtype):
    z = np.zeros(shape, dtype)
    dx = lrn.lrn_backward(z, z, z, 3)
    assert dx.shape == shape and dx.dtype == np.dtype(dtype)
    dx = lrn.lrn_backward(z, z, z, 3, scale=z, layout="NHWC")
    assert dx.shape == shape and dx.dtype == np.dtype(dtype)

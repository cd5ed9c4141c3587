"""Forward (y and scale) and backward (input gradient) LRN on one grid,
parametrised by ``direction``, against the float64 reference (tests/reference.py):
the forward pass against the direct window sums, the backward pass against the
explicit Jacobian-transpose product and against finite differences.

Every output buffer starts full of NaN (``poisoned``), so an element the call
does not write fails the comparison.
"""
import importlib

import numpy as np
import pytest

import lrn

from .helpers import (BETAS, CROSS_SHAPES, DTYPES, SIZES, SWEEP_SHAPES, assert_bwd_close,
                      assert_fwd_close, dtype_id, fd_gradient, make_shape, poisoned,
                      random_params, random_x, resolve_size, rng_for, shape_id)
from .reference import (CONVENTIONS, LAYOUTS, caffe_backward_unmirrored, ref_backward,
                        ref_forward)

DIRECTIONS = ("forward", "backward")
direction = pytest.mark.parametrize("direction", DIRECTIONS)


class Case:
    """One problem: the data, the parameters and the reference results of one
    direction, with the call (``run``) and the comparison (``check``) of that
    direction."""

    def __init__(self, direction, layout, dtype, convention, x, args, dy=None):
        self.direction, self.layout, self.convention = direction, layout, convention
        self.dtype = np.dtype(dtype).type
        self.x, self.args, self.shape = x, args, x.shape
        yref, sref = ref_forward(x, *args, layout, convention)
        self.yref, self.sref = yref, sref
        if direction == "backward":
            self.dy = dy if dy is not None else random_x(rng_for("dy", x.shape), x.shape,
                                                         dtype, scale=1.0)
            # y and scale as the forward pass would hand them over, in the data dtype
            self.y, self.s = yref.astype(dtype), sref.astype(dtype)
            self.dxref, self.mag = ref_backward(x, self.dy, *args, layout, convention,
                                                return_terms=True)

    @property
    def forward(self):
        return self.direction == "forward"

    def inputs(self):
        """The input arrays by name (``scale`` included for the backward pass)."""
        if self.forward:
            return {"x": self.x}
        return {"x": self.x, "y": self.y, "dy": self.dy, "scale": self.s}

    def run(self, arrays=None, with_scale=True, **kw):
        """Call the direction on ``arrays`` (default: the case's inputs)."""
        a = dict(self.inputs(), **(arrays or {}))
        kw = dict(dict(layout=self.layout, convention=self.convention), **kw)
        if self.forward:
            return lrn.lrn(a["x"], *self.args, **kw)
        return lrn.lrn_backward(a["x"], a["y"], a["dy"], *self.args,
                                scale=a["scale"] if with_scale else None, **kw)

    def check(self, result, what=None):
        if self.forward:
            assert_fwd_close(result, self.yref, self.dtype, what or "y")
        else:
            assert_bwd_close(result, self.dxref, self.mag, self.dtype)


def make_case(direction, layout, dtype, size, convention, spec, params=None, extra_seed=()):
    n, c, spatial = spec
    size = resolve_size(size, c)
    rng = rng_for("fwd" if direction == "forward" else "bwd", layout, dtype_id(dtype), size,
                  convention, spec, *extra_seed)
    alpha, beta, bias = params if params is not None else random_params(rng)
    shape = make_shape(n, c, spatial, layout)
    x = random_x(rng, shape, dtype)
    dy = random_x(rng, shape, dtype, scale=1.0) if direction == "backward" else None
    return Case(direction, layout, dtype, convention, x, (size, alpha, beta, bias), dy)


def check_forward(case):
    dtype, shape = case.dtype, case.shape
    # 1. poisoned (y, scale) outputs, return_scale=True
    yo, so = poisoned(shape, dtype), poisoned(shape, dtype)
    res = case.run(out=(yo, so), return_scale=True)
    assert isinstance(res, tuple) and len(res) == 2
    assert res[0] is yo and res[1] is so
    case.check(yo, "y")
    assert_fwd_close(so, case.sref, dtype, "scale")
    # 2. freshly allocated output
    y = case.run()
    assert isinstance(y, np.ndarray)
    assert y.shape == shape and y.dtype == np.dtype(dtype) and y.flags.c_contiguous
    case.check(y, "y (allocated)")
    # 3. poisoned y-only out
    yo2 = poisoned(shape, dtype)
    assert case.run(out=yo2) is yo2
    case.check(yo2, "y (out=)")


def check_backward(case):
    dtype = case.dtype
    # 1. scale recomputed, poisoned out
    out = poisoned(case.shape, dtype)
    assert case.run(with_scale=False, out=out) is out
    case.check(out)
    # 2. scale given, allocated result
    dx2 = case.run()
    assert isinstance(dx2, np.ndarray) and dx2.flags.c_contiguous
    case.check(dx2)
    # with scale given == recomputing it (float32-level tolerance, not bitwise)
    tol = {np.float16: 3e-3, np.float32: 3e-5, np.float64: 3e-5}[dtype]
    assert_bwd_close(dx2, out.astype(np.float64), case.mag, dtype, rtol=tol)


def check(case):
    before = {k: v.copy() for k, v in case.inputs().items()}
    (check_forward if case.forward else check_backward)(case)
    for name, a in case.inputs().items():
        np.testing.assert_array_equal(a, before[name], err_msg=f"`{name}` was written")


def check_grid(direction, layout, dtype, size, convention, spec, params=None, extra_seed=()):
    check(make_case(direction, layout, dtype, size, convention, spec, params, extra_seed))


# --------------------------------------------------------------------------- the grid

@pytest.mark.parametrize("spec", CROSS_SHAPES, ids=shape_id)
@pytest.mark.parametrize("convention", CONVENTIONS)
@pytest.mark.parametrize("size", SIZES, ids=str)
@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("layout", LAYOUTS)
@direction
def test_cross(direction, layout, dtype, size, convention, spec):
    check_grid(direction, layout, dtype, size, convention, spec)


@pytest.mark.parametrize("spec", SWEEP_SHAPES, ids=shape_id)
@pytest.mark.parametrize("convention", CONVENTIONS)
@pytest.mark.parametrize("size", [1, 4, 5, "gtC"], ids=str)
@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("layout", LAYOUTS)
@direction
def test_shapes(direction, layout, dtype, size, convention, spec):
    check_grid(direction, layout, dtype, size, convention, spec)


@pytest.mark.parametrize("size", [4, 5])
@pytest.mark.parametrize("convention", CONVENTIONS)
@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("beta", BETAS)
@direction
def test_betas(direction, beta, layout, dtype, convention, size):
    """Every special-cased beta (0.75, 0.5, 1) and general ones, every bias."""
    for bias in (1.0, 2.0, 0.5):
        check_grid(direction, layout, dtype, size, convention, (2, 9, (4, 5)),
                   params=(1.9, beta, bias), extra_seed=(beta, bias))


@pytest.mark.parametrize("seed", range(16))
@direction
def test_random(direction, seed):
    rng = np.random.default_rng((1000 if direction == "forward" else 2000) + seed)
    ndim_sp = int(rng.integers(0, 4))
    spec = (int(rng.integers(1, 4)), int(rng.integers(1, 20)),
            tuple(int(v) for v in rng.integers(1, 6, ndim_sp)))
    layout = str(rng.choice(LAYOUTS))
    convention = str(rng.choice(CONVENTIONS))
    dtype = DTYPES[int(rng.integers(0, 3))]
    size = int(rng.integers(1, 2 * spec[1] + 3))
    params = (float(rng.uniform(1e-3, 4.0)), float(rng.choice(BETAS + (0.3, 1.25))),
              float(rng.uniform(0.3, 3.0)))
    check_grid(direction, layout, dtype, size, convention, spec, params=params,
               extra_seed=(seed,))


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=dtype_id)
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("convention", CONVENTIONS)
@pytest.mark.parametrize("size", [21, 64, 300, 301, 500])
@direction
def test_large_channel_count(direction, size, convention, layout, dtype):
    """C = 300: multi-block window paths; sizes spanning C and beyond."""
    spec = (2, 300, (3,)) if direction == "forward" else (1, 300, (2,))
    check_grid(direction, layout, dtype, size, convention, spec, params=(2.5, 0.75, 1.0))


@pytest.mark.parametrize("spec", [(2, 24, (1345,)), (1, 16, (65, 67))], ids=shape_id)
@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("convention", CONVENTIONS)
@pytest.mark.parametrize("size", [3, 5, 21])
@direction
def test_rows_longer_than_a_tile(direction, size, convention, dtype, spec):
    """Channels-first rows of several tiles that do not divide evenly (the remainder
    spread over the tiles, each longer than the rows' nominal tile)."""
    check_grid(direction, "NCHW", dtype, size, convention, spec, params=(2.5, 0.75, 1.0))


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("convention", CONVENTIONS)
@pytest.mark.parametrize("size", [50, 2**40, 2**40 + 1, 2**63])
@direction
def test_size_much_larger_than_channels(direction, size, convention, layout, dtype):
    # a window far beyond the channels must not need scratch that grows with it
    check_grid(direction, layout, dtype, size, convention, (2, 3, (4, 2)),
               params=(30.0, 0.75, 1.0))


# --------------------------------------------------------------------------- parameters

@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("layout", LAYOUTS)
@direction
def test_defaults(direction, layout, dtype):
    """alpha=1e-4, beta=0.75, bias=1.0 by default, convention onnx; large x so alpha matters."""
    rng = np.random.default_rng(7 if direction == "forward" else 5)
    shape = make_shape(2, 10, (3, 3), layout)
    x = (rng.standard_normal(shape) * 60).astype(dtype)
    dy = rng.standard_normal(shape).astype(dtype)
    case = Case(direction, layout, dtype, "onnx", x, (4, 1e-4, 0.75, 1.0), dy)
    assert (case.sref.max() - 1.0) > 0.1          # the alpha term is not negligible
    if direction == "forward":
        y, s = lrn.lrn(x, 4, layout=layout, return_scale=True)
        case.check(y)
        assert_fwd_close(s, case.sref, dtype, "scale")
        if layout == "NCHW":                       # default layout is NCHW
            case.check(lrn.lrn(x, 4))
    else:
        case.check(lrn.lrn_backward(x, case.y, dy, 4, layout=layout))
        if layout == "NCHW":
            case.check(lrn.lrn_backward(x, case.y, dy, 4, scale=case.s))


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("size", [3, 4])
@direction
def test_negative_alpha(direction, layout, dtype, size):
    """Excitatory LRN: alpha < 0 with bias large enough to keep scale > 0."""
    rng = np.random.default_rng(size)
    shape = make_shape(2, 8, (3,), layout)
    x = rng.uniform(-1, 1, shape).astype(dtype)
    dy = rng.standard_normal(shape).astype(dtype)
    case = Case(direction, layout, dtype, "onnx", x, (size, -0.9, 0.75, 1.5), dy)
    assert case.sref.min() > 0.5 and (np.abs(case.yref) > np.abs(x)).any()
    check(case)


def test_pipeline_float32():
    """x -> lrn(return_scale) -> lrn_backward(scale=...) as a user would chain them."""
    rng = np.random.default_rng(9)
    x = rng.standard_normal((2, 16, 5, 5)).astype(np.float32)
    dy = rng.standard_normal(x.shape).astype(np.float32)
    args = (5, 2.0, 0.75, 1.0)
    y, s = lrn.lrn(x, *args, return_scale=True)
    dxref, mag = ref_backward(x, dy, *args, return_terms=True)
    assert_bwd_close(lrn.lrn_backward(x, y, dy, *args, scale=s), dxref, mag, np.float32)
    assert_bwd_close(lrn.lrn_backward(x, y, dy, *args), dxref, mag, np.float32)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("convention", CONVENTIONS)
@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 6, 8])
@pytest.mark.parametrize("beta", [0.75, 0.6])
def test_backward_matches_finite_differences(layout, convention, size, beta):
    """float64 package backward == central FD of the package forward.

    Even sizes are where the non-mirrored (Caffe) window is wrong; the
    assertion at the end shows this check rejects it.
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


# --------------------------------------------------------------------------- inputs

def base_case(direction, layout, dtype, size=5, seed=4):
    rng = np.random.default_rng(seed)
    shape = make_shape(2, 7, (5, 4), layout)
    x = random_x(rng, shape, dtype)
    dy = random_x(rng, shape, dtype, scale=1.0)
    return Case(direction, layout, dtype, "onnx", x, (size, 1.6, 0.75, 1.0), dy)


def noncontiguous(a, kind, layout):
    """A non-C-contiguous view holding the values of ``a``."""
    ch = 1 if layout == "NCHW" else a.ndim - 1
    if kind == "transposed":      # stored in the other layout's order
        other = a.ndim - 1 if ch == 1 else 1
        return np.moveaxis(np.ascontiguousarray(np.moveaxis(a, ch, other)), other, ch)
    if kind == "strided":
        big = np.zeros(tuple(2 * d + 1 for d in a.shape), a.dtype)
        view = big[tuple(slice(1, None, 2) for _ in a.shape)]
    elif kind == "negative_stride":
        flip = tuple(slice(None, None, -1) if ax in (ch, a.ndim - 2) else slice(None)
                     for ax in range(a.ndim))
        return np.ascontiguousarray(a[flip])[flip]
    elif kind == "fortran":
        return np.asfortranarray(a)
    else:                         # channel_stride: only the channel axis is strided
        big = np.zeros(a.shape[:ch] + (2 * a.shape[ch],) + a.shape[ch + 1:], a.dtype)
        view = big[(slice(None),) * ch + (slice(None, None, 2),)]
    view[...] = a
    return view


@pytest.mark.parametrize("size", [4, 5])
@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("kind", ["transposed", "strided", "negative_stride", "fortran",
                                  "channel_stride"])
@direction
def test_noncontiguous_inputs(direction, kind, layout, dtype, size):
    case = base_case(direction, layout, dtype, size)
    views = {k: noncontiguous(a, kind, layout) for k, a in case.inputs().items()}
    for k, v in views.items():
        assert not v.flags.c_contiguous
        np.testing.assert_array_equal(v, case.inputs()[k])
    before = {k: v.copy() for k, v in views.items()}
    res = case.run(views, return_scale=True) if case.forward else case.run(views)
    if case.forward:
        y, s = res
        assert y.shape == case.shape and y.flags.c_contiguous
        case.check(y)
        assert_fwd_close(s, case.sref, dtype, "scale")
    else:
        case.check(res)
        case.check(case.run(views, with_scale=False))
    for k, v in views.items():
        np.testing.assert_array_equal(v, before[k])


@pytest.mark.parametrize("readonly", [False, True])
@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("layout", LAYOUTS)
@direction
def test_readonly_and_memoryview(direction, layout, dtype, readonly):
    case = base_case(direction, layout, dtype)
    if readonly:
        for a in case.inputs().values():
            a.flags.writeable = False
    case.check(case.run())
    res = case.run({k: memoryview(a) for k, a in case.inputs().items()})
    assert isinstance(res, np.ndarray)
    case.check(res)
    # read-only (or not) and non-contiguous at the same time
    flipped = {k: a[:, ::-1] for k, a in case.inputs().items()}
    sub = Case(direction, layout, dtype, "onnx", flipped["x"], case.args,
               flipped.get("dy"))
    sub.check(sub.run({k: a for k, a in flipped.items() if k in ("x", "dy")}))


class ArrayInterfaceOnly:
    """Exposes only __array_interface__ (not an ndarray, no buffer protocol)."""

    def __init__(self, a):
        self._a = a
        self.__array_interface__ = a.__array_interface__


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@direction
def test_array_interface_input(direction, dtype):
    case = base_case(direction, "NCHW", dtype)
    res = case.run({k: ArrayInterfaceOnly(a) for k, a in case.inputs().items()})
    assert isinstance(res, np.ndarray)
    case.check(res)


# --------------------------------------------------------------------------- outputs

@pytest.mark.parametrize("size", [4, 5])
@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("direction, which", [("forward", "x"), ("backward", "x"),
                                              ("backward", "y"), ("backward", "dy"),
                                              ("backward", "scale")])
def test_inplace(direction, which, layout, dtype, size):
    """``out`` is exactly one of the inputs (allowed across channels)."""
    case = base_case(direction, layout, dtype, size, seed=size)
    arrays = {k: a.copy() for k, a in case.inputs().items()}
    target = arrays[which]
    assert case.run(arrays, out=target) is target
    case.check(target, "in-place y")
    if case.forward:       # (x, scale) pair
        arrays = {"x": case.x.copy()}
        so = poisoned(case.shape, dtype)
        res = case.run(arrays, out=(arrays["x"], so), return_scale=True)
        assert res[0] is arrays["x"] and res[1] is so
        case.check(arrays["x"], "in-place y")
        assert_fwd_close(so, case.sref, dtype, "scale")
    elif which != "scale":  # also without scale (recomputed)
        arrays = {k: a.copy() for k, a in case.inputs().items()}
        target = arrays[which]
        assert case.run(arrays, with_scale=False, out=target) is target
        case.check(target)


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("layout", LAYOUTS)
@direction
def test_inplace_noncontiguous_view(direction, layout, dtype):
    """out=x where x is a strided view: only the view's elements change."""
    rng = np.random.default_rng(8)
    big = random_x(rng, (2, 12, 5, 8), dtype)
    index = ((slice(None), slice(None, None, 2), slice(None), slice(1, None, 2))
             if layout == "NCHW" else
             (slice(None), slice(1, None, 2), slice(None), slice(None, None, 2)))
    x = big[index]
    case = Case(direction, layout, dtype, "onnx", x.copy(), (4, 1.3, 0.75, 2.0))
    mask = np.ones(big.shape, bool)
    mask[index] = False
    outside = big[mask].copy()
    assert case.run({"x": x}, out=x) is x
    case.check(x, "in-place y")
    np.testing.assert_array_equal(big[mask], outside)


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("layout", LAYOUTS)
@direction
def test_noncontiguous_out(direction, layout, dtype):
    case = base_case(direction, layout, dtype)
    sentinel = -7.25
    shape = case.shape
    big = np.full((shape[0] * 2,) + shape[1:-1] + (shape[-1] * 3,), sentinel, dtype)
    big_s = np.full_like(big, sentinel)
    out, so = big[::2, ..., 1::3], big_s[::2, ..., 2::3]
    out[...] = np.nan
    so[...] = np.nan
    if case.forward:
        res = case.run(out=(out, so), return_scale=True)
        assert res[0] is out and res[1] is so
        assert_fwd_close(so, case.sref, dtype, "scale")
    else:
        assert case.run(with_scale=False, out=out) is out
    case.check(out)
    # nothing outside the views was written
    for b, index in ((big, 1), (big_s, 2)):
        mask = np.ones(b.shape, bool)
        mask[::2, ..., index::3] = False
        assert (b[mask] == sentinel).all()
    # Fortran-ordered out
    fo = np.asfortranarray(poisoned(shape, dtype))
    assert case.run(out=fo) is fo
    case.check(fo)


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
def test_return_scale_single_out(dtype):
    """return_scale=True with a single array `out`: y goes there, scale is allocated."""
    case = base_case("forward", "NCHW", dtype)
    yo = poisoned(case.shape, dtype)
    y, s = case.run(out=yo, return_scale=True)
    assert y is yo
    case.check(y)
    assert_fwd_close(s, case.sref, dtype, "scale")


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_return_scale_allocated(layout, dtype):
    case = base_case("forward", layout, dtype)
    res = case.run(return_scale=True)
    assert isinstance(res, tuple) and len(res) == 2
    y, s = res
    assert s.dtype == np.dtype(dtype) and s.shape == case.shape and s.flags.c_contiguous
    case.check(y)
    assert_fwd_close(s, case.sref, dtype, "scale")
    assert isinstance(case.run(return_scale=False), np.ndarray)


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("shape", [(0, 3, 4), (2, 0, 4), (2, 3, 0), (0, 0), (3, 0),
                                   (2, 3, 0, 5)])
@direction
def test_zero_size(direction, shape, layout, dtype):
    z = np.zeros(shape, dtype)
    if direction == "forward":
        y, s = lrn.lrn(z, 3, layout=layout, return_scale=True)
        assert y.shape == shape and s.shape == shape
        assert y.dtype == np.dtype(dtype) and s.dtype == np.dtype(dtype)
        results = [lrn.lrn(z, 3, layout=layout)]
    else:
        results = [lrn.lrn_backward(z, z, z, 3, layout=layout),
                   lrn.lrn_backward(z, z, z, 3, scale=z, layout=layout)]
    out = np.empty(shape, dtype)
    call = (lrn.lrn(z, 3, layout=layout, out=out) if direction == "forward"
            else lrn.lrn_backward(z, z, z, 3, layout=layout, out=out))
    assert call is out
    for r in results:
        assert r.shape == shape and r.dtype == np.dtype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float16], ids=dtype_id)
@pytest.mark.parametrize("n, pre", [(3, 0), (3, 2), (5, 0), (5, 1), (5, 3), (5, 4)])
def test_kernel_windows_off_centre(n, pre, dtype):
    """The kernels take any clipped window: a window of 3 or 5 rows not centred
    (which no convention gives: the grouped forward steps reuse rows of x of centred
    windows only), in every build this processor runs, against direct float64 sums."""
    from lrn import _cpu
    builds = [_cpu._kernels] + [importlib.import_module(f"lrn._kernels_{name}")
                                for name, runs in _cpu.ISA_BUILDS.items() if runs()]
    rng = np.random.default_rng(n * 10 + pre)
    shape = (2, 16, 37)
    x = rng.standard_normal(shape).astype(dtype)
    alpha_n, beta, bias = 0.5, 0.75, 1.0
    x64 = x.astype(np.float64)
    ref_s = np.full(shape, bias)
    for c in range(shape[1]):
        ref_s[:, c] += alpha_n * (x64[:, max(0, c - pre):c + n - pre] ** 2).sum(axis=1)
    for build in builds:
        call = build.Call(dict(n=n, pre=pre, alpha_n=alpha_n, beta=beta, bias=bias,
                               grad_coef=2 * alpha_n * beta, channels_last=False,
                               num_threads=1), shape, x.dtype, shape)
        y, s = poisoned(shape, dtype), poisoned(shape, dtype)
        assert call.forward(x, y, s, 1)
        assert_fwd_close(s, ref_s, dtype, f"scale ({build.__name__})")
        assert_fwd_close(y, x64 * ref_s ** -beta, dtype, f"y ({build.__name__})")

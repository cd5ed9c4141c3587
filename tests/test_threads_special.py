"""Thread-count determinism, element-wise accuracy on hard data, NaN/inf locality,
zero and negative scale."""
import numpy as np
import pytest
from threadpoolctl import threadpool_limits

import lrn
from lrn import _cpu, _params
from .helpers import DTYPES, assert_bwd_close, assert_fwd_close, dtype_id, make_shape
from .reference import CONVENTIONS, LAYOUTS, ref_backward, ref_forward, window_bounds

# --------------------------------------------------------------------------- threads

THREAD_SHAPES = [(2, 37, (41, 43)), (1, 16, (64, 64))]


def _bits(a):
    a = np.ascontiguousarray(a)
    return a.dtype, a.shape, a.tobytes()


@pytest.mark.parametrize("spec", THREAD_SHAPES, ids=lambda s: f"N{s[0]}C{s[1]}")
@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("size", [4, 5])
def test_bitwise_identical_across_thread_counts(size, layout, dtype, spec):
    n, c, sp = spec
    rng = np.random.default_rng(size)
    shape = make_shape(n, c, sp, layout)
    x = rng.standard_normal(shape).astype(dtype)
    dy = rng.standard_normal(shape).astype(dtype)
    args = (size, 1.1, 0.75, 1.0)
    results = {}
    for nt in (1, 2, -1, None):
        y, s = lrn.lrn(x, *args, layout=layout, return_scale=True, num_threads=nt)
        dx = lrn.lrn_backward(x, y, dy, *args, layout=layout, num_threads=nt)
        dxs = lrn.lrn_backward(x, y, dy, *args, scale=s, layout=layout, num_threads=nt)
        results[nt] = [_bits(a) for a in (y, s, dx, dxs)]
    for nt in (2, -1, None):
        for name, a, b in zip(("y", "scale", "dx", "dx(scale)"), results[1], results[nt]):
            assert a == b, f"{name} differs between num_threads=1 and {nt}"
    # and the single-threaded result is actually right (spot check, float64 ref)
    if spec == THREAD_SHAPES[0]:
        y1 = np.frombuffer(results[1][0][2], dtype).reshape(shape)
        assert_fwd_close(y1, ref_forward(x, *args, layout)[0], dtype)


@pytest.mark.parametrize("in_place", [False, True], ids=["apart", "in_place"])
@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("beta", [0.75, 0.5, 1.0, 0.6])
@pytest.mark.parametrize("size", [5, 11])
@pytest.mark.parametrize("shape", [(1, 96, 55, 55), (1, 256, 27, 27)], ids=["C96", "C256"])
def test_work_split_for_threads_gives_same_bits(shape, size, beta, dtype, in_place):
    """Few tiles: the channels-first passes split each tile into channel parts for the
    threads (one AlexNet image's second layer: one tile of 729 positions, two parts for
    2 threads), or, in place, the fused ones cut the tiles shorter (the first layer's
    backward pass: one tile of 3025 positions, two of 1520 for 2 threads); the bits
    must not follow, and every element must be written."""
    rng = np.random.default_rng(size)
    x = rng.standard_normal(shape).astype(dtype)
    dy = rng.standard_normal(shape).astype(dtype)
    args = (size, 1.1, beta, 1.0)
    call = _cpu.call(_params.make(*args).resolve(np.dtype(dtype), 4, backward=True),
                     np.dtype(dtype), shape)
    whole = call.work(False, 1)[0], call.work(True, 1)[0]
    assert call.work(False, 1)[1] == call.work(True, 1)[1] == 1
    fused = beta != 0.6 and dtype is not np.float64
    if in_place:
        if shape[1] == 96 and dtype is np.float32 and fused:
            assert call.work(False, 3, False) == (512, 1), "the forward tiles were not cut"
            # 4 tiles for 2 threads: nothing to cut (recut to 760 positions, every
            # vector of the tiles but the first straddled two cache lines)
            assert call.work(False, 2, False) == (768, 1)
        if shape[1] == 96 and size == 5 and fused:
            assert call.work(True, 2, False) == (1520, 1), "the backward tiles were not cut"
        assert call.work(False, 2, False)[1] == call.work(True, 2, False)[1] == 1
    elif shape[1] == 256:
        if dtype is not np.float16:   # (float16 forward rows are shorter: two tiles)
            assert call.work(False, 2) == (whole[0], 2), \
                "the forward tile was not split into channel parts"
        if dtype is not np.float16 or (fused and size == 5):   # (but half tiles widened whole)
            assert call.work(True, 2) == (whole[1], 2), \
                "the backward tile was not split into channel parts"

    def run(nt):
        if in_place:
            y = x.copy()
            lrn.lrn(y, *args, out=y, num_threads=nt)
            dx = dy.copy()
            lrn.lrn_backward(x, y, dx, *args, out=dx, num_threads=nt)
            return y, dx
        y = np.full_like(x, np.nan)
        s = np.full_like(x, np.nan)
        lrn.lrn(x, *args, out=(y, s), return_scale=True, num_threads=nt)
        dx = np.full_like(x, np.nan)
        lrn.lrn_backward(x, y, dy, *args, out=dx, num_threads=nt)
        dxs = np.full_like(x, np.nan)
        lrn.lrn_backward(x, y, dy, *args, scale=s, out=dxs, num_threads=nt)
        return y, dx, s, dxs

    runs = [run(nt) for nt in (1, 2, 3, 4)]
    for nt, other in zip((2, 3, 4), runs[1:]):
        for name, a, b in zip(("y", "dx", "scale", "dx(scale)"), runs[0], other):
            assert _bits(a) == _bits(b), f"{name} differs between num_threads=1 and {nt}"
    assert_fwd_close(runs[0][0], ref_forward(x, *args)[0], dtype)
    dxref, mag = ref_backward(x, dy, *args, return_terms=True)
    assert_bwd_close(runs[0][1], dxref, mag, dtype)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_threadpoolctl_limit_gives_same_bits(layout):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(make_shape(2, 24, (30, 31), layout)).astype(np.float32)
    ref = lrn.lrn(x, 5, 1.0, layout=layout, num_threads=1)
    with threadpool_limits(limits=1, user_api="openmp"):
        a = lrn.lrn(x, 5, 1.0, layout=layout)
    with threadpool_limits(limits=2, user_api="openmp"):
        b = lrn.lrn(x, 5, 1.0, layout=layout)
    assert a.tobytes() == ref.tobytes()
    assert b.tobytes() == ref.tobytes()


@pytest.mark.parametrize("nt", [1, 2, 3, 7, 64, -1, -2, np.int64(2)])
def test_num_threads_values_accepted(nt):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 9, 17, 5))
    dy = rng.standard_normal(x.shape)
    args = (3, 1.5, 0.75, 1.0)
    yref, sref = ref_forward(x, *args)
    y, s = lrn.lrn(x, *args, return_scale=True, num_threads=nt)
    assert_fwd_close(y, yref, np.float64)
    dxref, mag = ref_backward(x, dy, *args, return_terms=True)
    assert_bwd_close(lrn.lrn_backward(x, y, dy, *args, num_threads=nt), dxref, mag,
                     np.float64)


def test_num_threads_resolve_as_documented():
    # the count a call runs: None is OpenMP's default (threadpoolctl's limit
    # included), a negative number counts back from all processors, at least 1
    k = _cpu.kernels
    procs = k.num_procs()
    assert k.resolve_threads(None) == k.max_threads()
    with threadpool_limits(limits=2, user_api="openmp"):
        assert k.resolve_threads(None) == (2 if k.openmp_enabled() else k.max_threads())
    assert [k.resolve_threads(n) for n in (3, -1, -procs, -procs - 5)] == [3, procs, 1, 1]
    assert k.resolve_threads(np.int64(2)) == 2


# --------------------------------------------------------------------------- accuracy

def _rel_err(actual, expected):
    return np.abs(actual.astype(np.float64) - expected) / np.abs(expected)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("convention", CONVENTIONS)
@pytest.mark.parametrize("size", [2, 5, 11])
@pytest.mark.parametrize("pattern", ["alternating", "loud_then_quiet", "quiet_loud_quiet",
                                     "log_uniform"])
def test_float32_elementwise_accuracy_hard_magnitudes(pattern, size, convention, layout):
    """Every element within 1e-5 relative (a running add/subtract sum fails this)."""
    rng = np.random.default_rng(size)
    C, P = 96, 6
    if pattern == "alternating":
        mags = np.where(np.arange(C) % 2 == 0, 1e3, 1e-3)
    elif pattern == "loud_then_quiet":
        mags = np.where(np.arange(C) < 20, 1e3, 1e-3)
    elif pattern == "quiet_loud_quiet":
        mags = np.where((np.arange(C) >= 40) & (np.arange(C) < 43), 1e3, 1e-3)
    else:
        mags = 10.0 ** rng.uniform(-3, 3, C)
    signs = rng.choice([-1.0, 1.0], size=(2, C, P))
    jitter = rng.uniform(0.5, 1.5, size=(2, C, P))
    x = (signs * jitter * mags[None, :, None]).astype(np.float32)   # NCW
    if layout == "NHWC":
        x = np.ascontiguousarray(np.moveaxis(x, 1, -1))
    args = (size, 1e-4, 0.75, 1e-2)
    yref, sref = ref_forward(x, *args, layout, convention)
    y, s = lrn.lrn(x, *args, layout=layout, convention=convention, return_scale=True)
    ey, es = _rel_err(y, yref), _rel_err(s, sref)
    assert ey.max() <= 1e-5, f"y: max rel err {ey.max():.3g} at {np.unravel_index(ey.argmax(), ey.shape)}"
    assert es.max() <= 1e-5, f"scale: max rel err {es.max():.3g} at {np.unravel_index(es.argmax(), es.shape)}"


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("size", [5, 11, 64])
def test_float64_elementwise_accuracy_hard_magnitudes(size, layout):
    rng = np.random.default_rng(size)
    C = 150
    mags = np.where(np.arange(C) < 30, 1e6, 1e-6) * rng.uniform(0.5, 1.5, C)
    x = rng.choice([-1.0, 1.0], (2, C, 4)) * mags[None, :, None]
    if layout == "NHWC":
        x = np.ascontiguousarray(np.moveaxis(x, 1, -1))
    args = (size, 1e-4, 0.75, 1e-2)
    yref, sref = ref_forward(x, *args, layout)
    y, s = lrn.lrn(x, *args, layout=layout, return_scale=True)
    assert _rel_err(y, yref).max() <= 1e-11
    assert _rel_err(s, sref).max() <= 1e-11


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("size", [4, 5])
def test_float32_backward_hard_magnitudes(size, layout):
    rng = np.random.default_rng(size)
    C = 64
    mags = np.where(np.arange(C) % 2 == 0, 1e3, 1e-3)
    x = (rng.choice([-1.0, 1.0], (2, C, 5)) * mags[None, :, None]).astype(np.float32)
    dy = rng.standard_normal(x.shape).astype(np.float32)
    if layout == "NHWC":
        x = np.ascontiguousarray(np.moveaxis(x, 1, -1))
        dy = np.ascontiguousarray(np.moveaxis(dy, 1, -1))
    args = (size, 1e-4, 0.75, 1e-2)
    y = ref_forward(x, *args, layout)[0].astype(np.float32)
    dxref, mag = ref_backward(x, dy, *args, layout, return_terms=True)
    assert_bwd_close(lrn.lrn_backward(x, y, dy, *args, layout=layout), dxref, mag,
                     np.float32)


# --------------------------------------------------------------------------- NaN / inf

def _affected_channels(p, C, size, convention):
    """Channels c whose forward window W(c) contains channel p."""
    pre, post = window_bounds(size, convention)
    return [c for c in range(C) if c - pre <= p <= c + post]


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("convention", CONVENTIONS)
@pytest.mark.parametrize("size", [1, 4, 5, 11])
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf], ids=["nan", "inf", "-inf"])
@pytest.mark.parametrize("p", [0, 7, 15])
def test_special_value_locality_forward(p, value, size, convention, layout, dtype):
    C = 16
    rng = np.random.default_rng(p + size)
    xc = rng.standard_normal((2, C, 3))       # channels-first working copy
    xc[1, p, 2] = value
    x = xc if layout == "NCHW" else np.ascontiguousarray(np.moveaxis(xc, 1, -1))
    x = x.astype(dtype)
    args = (size, 1.2, 0.75, 1.0)
    y, s = lrn.lrn(x, *args, layout=layout, convention=convention, return_scale=True)
    yref, sref = ref_forward(x, *args, layout, convention)
    if layout == "NHWC":
        y, s, yref, sref = (np.moveaxis(a, -1, 1) for a in (y, s, yref, sref))
    affected = np.zeros(y.shape, bool)
    affected[1, _affected_channels(p, C, size, convention), 2] = True
    # outside the windows containing p: finite and correct
    assert np.isfinite(y[~affected].astype(np.float64)).all()
    assert np.isfinite(s[~affected].astype(np.float64)).all()
    assert_fwd_close(np.where(affected, 0, y).astype(dtype), np.where(affected, 0, yref), dtype)
    assert_fwd_close(np.where(affected, 0, s).astype(dtype), np.where(affected, 0, sref), dtype,
                     "scale")
    # inside: what IEEE arithmetic gives (scale NaN or +inf; y NaN at p, 0 elsewhere for inf)
    if np.isnan(value):
        assert np.isnan(y[affected].astype(np.float64)).all()
        assert np.isnan(s[affected].astype(np.float64)).all()
    else:
        np.testing.assert_array_equal(s[affected].astype(np.float64), np.inf)
        np.testing.assert_array_equal(y[affected].astype(np.float64), yref[affected])


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("convention", CONVENTIONS)
@pytest.mark.parametrize("size", [4, 5])
@pytest.mark.parametrize("value", [np.nan, np.inf], ids=["nan", "inf"])
def test_special_value_locality_backward(value, size, convention, layout, dtype):
    C, p = 16, 6
    rng = np.random.default_rng(size)
    xc = rng.standard_normal((2, C, 3))
    xc[0, p, 1] = value
    dyc = rng.standard_normal(xc.shape)
    if layout == "NHWC":
        xc, dyc = (np.ascontiguousarray(np.moveaxis(a, 1, -1)) for a in (xc, dyc))
    x, dy = xc.astype(dtype), dyc.astype(dtype)
    args = (size, 1.2, 0.75, 1.0)
    kw = dict(layout=layout, convention=convention)
    y, s = lrn.lrn(x, *args, return_scale=True, **kw)
    with np.errstate(all="ignore"):
        dxref, mag = ref_backward(x, dy, *args, layout, convention, return_terms=True)
    for scale in (None, s):
        dx = lrn.lrn_backward(x, y, dy, *args, scale=scale, **kw)
        d = dx.astype(np.float64)
        if layout == "NHWC":
            d_cf = np.moveaxis(d, -1, 1)
            ref_cf = np.moveaxis(dxref, -1, 1)
        else:
            d_cf, ref_cf = d, dxref
        # the gradient can depend on x[p] only through windows touching a window of p
        pre, post = window_bounds(size, convention)
        touched = np.zeros(d_cf.shape, bool)
        lo, hi = max(0, p - (pre + post)), min(C - 1, p + pre + post)
        touched[0, lo:hi + 1, 1] = True
        assert np.isfinite(d_cf[~touched]).all()
        ok = np.isfinite(dxref)
        assert_bwd_close(np.where(ok, d, 0).astype(dtype), np.where(ok, dxref, 0),
                         np.where(ok, mag, 0), dtype)
        assert not np.isfinite(d_cf[0, p, 1])       # the poisoned element itself
        if np.isnan(value):
            np.testing.assert_array_equal(np.isnan(d_cf), np.isnan(ref_cf))


# --------------------------------------------------------------------------- zero / negative scale

@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("beta", [0.75, 0.5, 1.0, 0.6])
def test_zero_bias_zero_input(beta, dtype):
    """bias = 0: windows of zeros give scale 0 -> IEEE (0 * inf = NaN), no crash;
    elements with scale > 0 are still correct."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 10, 4))
    x[:, 3:7, :] = 0.0
    x = x.astype(dtype)
    args = (1, 1.0, beta, 0.0)
    y, s = lrn.lrn(x, *args, return_scale=True)
    yref, sref = ref_forward(x, *args)
    pos = sref > 0
    assert_fwd_close(np.where(pos, s, 0).astype(dtype), np.where(pos, sref, 0), dtype, "scale")
    assert_fwd_close(np.where(pos, y, 0).astype(dtype), np.where(pos, yref, 0), dtype)
    assert (s[~pos] == 0).all()
    assert np.isnan(y[~pos].astype(np.float64)).all()     # 0 * 0**-beta = 0 * inf
    dx = lrn.lrn_backward(x, y, np.ones_like(x), *args, scale=s)
    assert dx.shape == x.shape


@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("beta", [0.75, 0.5, 1.0, 2.0, 0.6])
def test_negative_scale_no_crash(beta, dtype):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 10, 4)).astype(dtype)
    args = (3, 1e-3, beta, -1.0)       # scale < 0 everywhere
    y, s = lrn.lrn(x, *args, return_scale=True)
    sref = ref_forward(x, *args)[1]
    assert (sref < 0).all()
    assert_fwd_close(s, sref, dtype, "scale")      # scale itself is well defined
    assert y.shape == x.shape and y.dtype == np.dtype(dtype)
    dx = lrn.lrn_backward(x, y, np.ones_like(x), *args)
    assert dx.shape == x.shape

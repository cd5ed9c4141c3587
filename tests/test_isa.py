"""Every build of the kernels this processor runs: the portable one and, on
x86-64, the AVX2+FMA and AVX-512 ones.  The rest of the suite runs the build
lrn picks at import (the widest); this runs a compact sweep on every build
present, so the others are tested too."""
import ctypes
import importlib
import mmap
import sys

import numpy as np
import pytest

import lrn
from lrn import _api, _cpu
from .helpers import assert_bwd_close, assert_fwd_close, make_shape, poisoned
from .reference import ref_backward, ref_forward, window_bounds


def _builds():
    """The builds present that this processor runs, narrowest first."""
    names = ["lrn._kernels"]
    for name, runs_here in reversed(_cpu.ISA_BUILDS.items()):
        # asked first: importing a build this processor lacks the ISA of dies
        # (SIGILL: the AVX-512 module's initialisation is compiled for AVX-512 too)
        if not runs_here():
            continue
        try:
            importlib.import_module(f"lrn._kernels_{name}")
        except ImportError:
            continue
        names.append(f"lrn._kernels_{name}")
    return names


@pytest.fixture(params=_builds())
def build(request, monkeypatch):
    # lrn._cpu and lrn._api's fast path cache kernel calls, each made by the module
    # current then: emptied before and after, or a test would run the build whose
    # test ran first
    module = importlib.import_module(request.param)
    for clear in (_cpu.call.cache_clear, _api.cache_clear):
        clear()
    monkeypatch.setattr(_cpu, "kernels", module)
    yield module
    for clear in (_cpu.call.cache_clear, _api.cache_clear):
        clear()


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("size", [1, 2, 5, 8, 40])
@pytest.mark.parametrize("beta", [0.75, 0.5, 1.0, 0.6])
def test_forward_backward(build, layout, dtype, size, beta):
    rng = np.random.default_rng(size * 10 + int(beta * 4))
    shape = make_shape(3, 37, (5, 9), layout)
    x = (rng.standard_normal(shape) * 2).astype(dtype)
    dy = rng.standard_normal(shape).astype(dtype)
    kw = dict(size=size, alpha=1.3, beta=beta, bias=1.2, layout=layout, convention="torch")
    y, s = lrn.lrn(x, return_scale=True, out=(poisoned(shape, dtype), poisoned(shape, dtype)),
                   **kw)
    yr, sr = ref_forward(x, **kw)
    assert_fwd_close(y, yr, dtype)
    assert_fwd_close(s, sr, dtype, "scale")
    dxr, mag = ref_backward(x, dy, **kw, return_terms=True)
    for scale in (None, s):
        dx = lrn.lrn_backward(x, y, dy, scale=scale, out=poisoned(shape, dtype), **kw)
        assert_bwd_close(dx, dxr, mag, dtype)


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("size", [1, 3, 5, 8, 11])
def test_scratch_left_by_earlier_calls_is_never_read(build, layout, dtype, size):
    # a thread reuses its scratch from call to call without zeroing it
    # (csrc/lrn_platform.h): calls that leave NaN there, this problem's own
    # and a larger one's, must not change the next call's bits
    rng = np.random.default_rng(size)
    shape = make_shape(2, 29, (3, 7), layout)
    x = rng.standard_normal(shape).astype(dtype)
    dy = rng.standard_normal(shape).astype(dtype)
    nan = np.full(shape, np.nan, dtype)
    big = np.full(make_shape(1, 300, (2, 5), layout), np.nan, dtype)
    kw = dict(size=size, alpha=1.3, beta=0.75, bias=1.2, layout=layout, num_threads=1)

    def passes():
        y, s = lrn.lrn(x, return_scale=True, **kw)
        return (y, s, lrn.lrn_backward(x, y, dy, scale=s, **kw),
                lrn.lrn_backward(x, y, dy, **kw))
    clean = passes()
    for filler in (nan, big):
        lrn.lrn(filler, return_scale=True, **kw)
        lrn.lrn_backward(filler, filler, filler, **kw)
        lrn.lrn_backward(filler, filler, filler, scale=filler, **kw)
        for a, b in zip(clean, passes()):
            assert a.tobytes() == b.tobytes()


def test_threads_bitwise(build):
    x = np.random.default_rng(1).standard_normal((2, 37, 41, 43)).astype(np.float32)
    runs = [lrn.lrn(x, 5, 2.0, 0.75, 1.0, num_threads=t, return_scale=True) for t in (1, 2)]
    for a, b in zip(*runs):
        assert a.tobytes() == b.tobytes()


@pytest.mark.parametrize("beta", [0.75, 0.5])
def test_special_scales(build, beta):
    # zero, subnormal, tiny, huge and negative scales take the exact formulas;
    # each lane stands in a full 8-lane group of ordinary values, so the vector
    # path's fix-up is what is tested.  A subnormal bias is refused (it does not
    # fit float32 data), so subnormal scales come from bias 0 and alpha * x**2:
    # x = 2**-65 and 2**-70 give scale = x**2 = 2**-130 and 2**-140 exactly.
    cases = [(1.0, 0.0, 0.0), (2.0**-65, 1.0, 0.0), (2.0**-70, 1.0, 0.0),
             (2.0**-63, 1.0, 0.0), (1.0, 0.0, 3e38), (1.0, 0.0, -1.0)]
    for x0, alpha, bias in cases:
        x = np.full((1, 1, 16), x0, np.float32)
        y = lrn.lrn(x, 1, alpha=alpha, beta=beta, bias=bias)
        with np.errstate(all="ignore"):
            s = np.float64(np.float32(bias)) + alpha * x0 * x0
            want = x0 * s ** -beta if s >= 0 else np.nan
        np.testing.assert_allclose(y.ravel(), np.full(16, want, np.float32), rtol=3e-6)


@pytest.mark.parametrize("beta, bound", [(0.75, 4e-7), (0.5, 2.5e-7)])
def test_power_every_scale(build, beta, bound):
    # s ** -beta for every float32 scale in [1, 16): each mantissa at both
    # exponent parities of s and of s ** -0.5, which is all the hardware
    # reciprocal square root's table and the Newton step can vary with.  The
    # backward pass with x = 0, y = 0 and dy = 1 gives exactly dy * s ** -beta.
    # Measured on AMD Zen 4: 3.5e-7 and 2.0e-7 (AVX2 build), 3.2e-7 and 1.5e-7
    # (AVX-512), 2.4e-7 and 0.9e-7 (portable build, the exact formulas).
    worst = 0.0
    for first in range(0x3F800000, 0x41800000, 1 << 22):
        s = np.arange(first, first + (1 << 22), dtype=np.uint32).view(np.float32)
        s = s.reshape(1, 1, -1)
        zeros = np.zeros_like(s)
        dx = lrn.lrn_backward(zeros, zeros, np.ones_like(s), 1, 1e-4, beta, 1.0, scale=s)
        want = s.astype(np.float64) ** -beta
        worst = max(worst, float(np.max(np.abs(dx - want) / want)))
    assert worst < bound


@pytest.mark.parametrize("beta", [0.75, 0.5])
def test_special_scales_float64(build, beta):
    # double scales outside [2**-125, 2**125], where the float estimate of
    # the reciprocal square root is subnormal, zero or inf, take the exact
    # formulas, as do 0, inf, NaN and negative ones; each lane stands in a
    # vector of ordinary ones, and the edges themselves take the fast path.
    # Scale 0 through the forward pass (x = 1e-200, alpha 1, bias 0: x**2 is
    # 0, y = inf; the backward pass's terms are 0 / 0 there), the others
    # through the backward pass with x = 0, y = 0, dy = 1: dx = s ** -beta.
    x = np.ones((1, 1, 11))
    x[0, 0, 5] = 1e-200
    y = lrn.lrn(x, 1, alpha=1.0, beta=beta, bias=0.0).ravel()
    assert y[5] == np.inf and np.all(np.delete(y, 5) == 1.0)
    cases = [5e-324, 1e-300, 2.0**-126, 2.0**-125, 2.0**125, 2.0**126, 1e300, np.inf, np.nan,
             -1.0, -np.inf]
    for scale in cases:
        s = np.full((1, 1, 11), 3.0)
        s[0, 0, 5] = scale
        dx = lrn.lrn_backward(np.zeros_like(s), np.zeros_like(s), np.ones_like(s), 1, 1e-4,
                              beta, 1.0, scale=s).ravel()
        with np.errstate(all="ignore"):
            want = np.float64(scale) ** -beta if not scale < 0 else np.nan
        np.testing.assert_allclose(dx[5], want, rtol=1e-15)
        np.testing.assert_array_equal(np.delete(dx, 5), np.full(10, dx[0]))


@pytest.mark.parametrize("beta, bound", [(0.75, 1.5e-15), (0.5, 1e-15)])
def test_power_float64_scales(build, beta, bound):
    # s ** -beta on double scales: at both exponent parities, every float32
    # mantissa (which is all the float estimate of the reciprocal square
    # root can vary with) with random low bits; at the fast range's edges
    # (2**-125, 2**125) a sample.  The backward pass with x = 0, y = 0,
    # dy = 1 gives exactly s ** -beta; libm's pow is the reference (under an
    # ulp).  Measured on AMD Zen 4 against long double powers: 5.2e-16 and
    # 2.7e-16 (AVX2 build), 4.9e-16 and 2.3e-16 (AVX-512), 4.5e-16 and
    # 1.7e-16 (portable: the exact formulas).
    rng = np.random.default_rng(5)
    every = np.arange(1 << 23, dtype=np.uint64) << np.uint64(29)
    worst = 0.0
    for exponent, mantissas in ((0, every), (1, every), (-125, every[::97]), (124, every[::97])):
        bits = ((np.uint64(1023 + exponent) << np.uint64(52)) | mantissas
                | rng.integers(0, 1 << 29, mantissas.size, dtype=np.uint64))
        s = bits.view(np.float64).reshape(1, 1, -1)
        zeros = np.zeros_like(s)
        dx = lrn.lrn_backward(zeros, zeros, np.ones_like(s), 1, 1e-4, beta, 1.0, scale=s)
        want = s ** -beta
        worst = max(worst, float(np.max(np.abs(dx - want) / want)))
    assert worst < bound


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("region, size", [("across", 1), ("across", 2), ("across", 5),
                                          ("across", 8), ("across", 40), ("within", 1),
                                          ("within", 3), ("within", 5)])
@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("beta", [0.75, 0.5, 1.0, 0.6])
def test_backward_given_scale_equals_recomputed(build, layout, region, size, beta, dtype):
    # the backward pass takes its power from the scale whether it is given or
    # recomputed from x, so both give the same bits (a Dask backward, given
    # the forward's scale, equals an in-memory call that recomputes it)
    rng = np.random.default_rng(size)
    shape = make_shape(2, 37, (5, 11), layout)
    x = (rng.standard_normal(shape) * 2).astype(dtype)
    dy = rng.standard_normal(shape).astype(dtype)
    kw = dict(size=size, alpha=1.3, beta=beta, bias=1.2, layout=layout, region=region)
    y, s = lrn.lrn(x, return_scale=True, **kw)
    given = lrn.lrn_backward(x, y, dy, scale=s, out=poisoned(shape, dtype), **kw)
    recomputed = lrn.lrn_backward(x, y, dy, out=poisoned(shape, dtype), **kw)
    assert given.tobytes() == recomputed.tobytes()


@pytest.mark.parametrize("beta, bound", [(0.75, 4.5e-7), (0.5, 2.5e-7)])
def test_forward_power_every_square(build, beta, bound):
    # the forward pass's own power (sixteen lanes in the AVX-512 build) on
    # every float32 x in [1, 4): s = x ** 2 (alpha 1, bias 0, size 1) takes
    # every other scale in [1, 16).  Measured on AMD Zen 4: 3.8e-7 and 1.9e-7
    # (AVX2), 3.7e-7 and 1.7e-7 (AVX-512), 2.3e-7 and 3e-8 (portable).
    worst = 0.0
    for first in range(0x3F800000, 0x40800000, 1 << 22):
        x = np.arange(first, first + (1 << 22), dtype=np.uint32).view(np.float32)
        y = lrn.lrn(x.reshape(1, 1, -1), 1, 1.0, beta, 0.0).ravel()
        want = x * (x * x).astype(np.float64) ** -beta
        worst = max(worst, float(np.max(np.abs(y - want) / want)))
    assert worst < bound


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("beta", [0.75, 0.5, 1.0])
def test_lanes_do_not_depend_on_where_they_fall(build, dtype, beta):
    # a position computed in a row's full vectors or in its padded tail, at
    # any lane, gives the same bits: channels-first positions (a window of 5;
    # from 2 on, as one position per sample is run as channels-last) and
    # channels-last channels (a window of 1, so that any run of channels is a
    # problem of its own)
    rng = np.random.default_rng(7)
    x = (rng.standard_normal((2, 6, 53)) * 3).astype(dtype)
    kw = dict(alpha=1.3, beta=beta, bias=0.7, return_scale=True)
    cases = [(x, "NCHW", 5, 2), (x, "NHWC", 1, 1)]
    for data, layout, size, smallest in cases:
        whole = lrn.lrn(data, size, layout=layout, **kw)
        for k in range(smallest, data.shape[-1] + 1):
            part = lrn.lrn(np.ascontiguousarray(data[..., :k]), size, layout=layout, **kw)
            for a, b in zip(part, whole):
                assert a.tobytes() == np.ascontiguousarray(b[..., :k]).tobytes(), (layout, k)


@pytest.mark.parametrize("build", _builds()[1:], indirect=True)
@pytest.mark.parametrize("convention", ["onnx", "torch"])
def test_channels_last_windows_add_in_channel_order(build, convention):
    # the AVX2 and AVX-512 builds add a channels-last window of up to 8
    # channels in channel order from its first channel, whether the channels
    # fill several vectors or several positions share one (C up to the vector:
    # the windows moved into place by lane permutations): with alpha = size
    # and bias 0 the scale is that float32 sum itself; and the backward pass,
    # given that scale or recomputing it, gives the same bits
    rng = np.random.default_rng(5)
    for C in (1, 2, 3, 5, 7, 8, 9, 12, 16, 17, 24, 37):
        for size in (1, 2, 3, 4, 5, 8):
            x = (rng.standard_normal((2, 7, C)) * 3).astype(np.float32)
            dy = rng.standard_normal(x.shape).astype(np.float32)
            kw = dict(alpha=float(size), beta=0.75, bias=0.0, layout="NHWC",
                      convention=convention)
            y, scale = lrn.lrn(x, size, return_scale=True, **kw)
            given = lrn.lrn_backward(x, y, dy, size, scale=scale, **kw)
            assert given.tobytes() == lrn.lrn_backward(x, y, dy, size, **kw).tobytes()
            pre, _ = window_bounds(size, convention)
            padded = np.zeros((2, 7, C + size), np.float32)
            padded[..., pre:pre + C] = x * x
            want = padded[..., :C].copy()
            for j in range(1, size):
                want += padded[..., j:j + C]
            assert scale.tobytes() == want.tobytes(), (C, size)


@pytest.mark.parametrize("build", _builds()[1:], indirect=True)
@pytest.mark.parametrize("convention", ["onnx", "torch"])
@pytest.mark.parametrize("beta", [0.75, 0.5, 1.0])
@pytest.mark.parametrize("dtype", [np.float16, np.float32])
def test_channels_first_windows_do_not_depend_on_their_neighbours(build, convention, beta,
                                                                  dtype):
    # the AVX2 and AVX-512 builds complete the channels-first windows of
    # 3 or 5 rows that lie within the channels four rows at a time, their
    # squares in registers, and the others a row at a time from a ring of
    # squares: every complete window's y and scale are the bits of the same
    # n rows called on their own, whose one complete window a row step makes
    rng = np.random.default_rng(8)
    kw = dict(alpha=1.3, beta=beta, bias=0.7, convention=convention)
    for size in (2, 3, 4, 5):
        pre, post = window_bounds(size, convention)
        for C in (size, 8, 9, 12, 13, 21):
            for T in (1, 15, 16, 17, 40, 100):
                x = (rng.standard_normal((2, C, T)) * 2).astype(dtype)
                y, s = lrn.lrn(x, size, return_scale=True, **kw)
                for c in range(pre, C - post):
                    yc, sc = lrn.lrn(x[:, c - pre:c + post + 1].copy(), size,
                                     return_scale=True, **kw)
                    assert y[:, c].tobytes() == yc[:, pre].tobytes(), (size, C, T, c)
                    assert s[:, c].tobytes() == sc[:, pre].tobytes(), (size, C, T, c)


@pytest.mark.parametrize("build", _builds()[1:], indirect=True)
@pytest.mark.parametrize("dtype", [np.float16, np.float32])
def test_channels_first_in_place_gives_the_same_bits(build, dtype):
    # a grouped step (windows of 3 or 5 rows, and block windows) reads its
    # row c of x before it stores row c of y, and no later step of the group
    # reads a row that one before it stored: with out=x every row of x is
    # read before it is overwritten (the AVX-512 build reads all the group's
    # rows first)
    rng = np.random.default_rng(12)
    for size in (3, 5, 11, 21):
        for C in (9, 21, 30, 47):
            for T in (1, 17, 100):
                x = (rng.standard_normal((2, C, T)) * 2).astype(dtype)
                kw = dict(alpha=1.3, beta=0.75, bias=0.7)
                y, s = lrn.lrn(x, size, return_scale=True, **kw)
                inplace, scale = x.copy(), poisoned(x.shape, dtype)
                lrn.lrn(inplace, size, out=(inplace, scale), return_scale=True, **kw)
                assert inplace.tobytes() == y.tobytes(), (size, C, T)
                assert scale.tobytes() == s.tobytes(), (size, C, T)


def _at_the_end_of_memory(a):
    """``a`` copied so that its last byte is the last one of a page after which
    nothing may be read or written: touching anything past the array crashes."""
    page = mmap.PAGESIZE
    pages = -(-a.nbytes // page) + 1
    buf = mmap.mmap(-1, pages * page)
    guard = ctypes.addressof(ctypes.c_char.from_buffer(buf)) + (pages - 1) * page
    if ctypes.CDLL(None).mprotect(ctypes.c_void_p(guard), ctypes.c_size_t(page), 0) != 0:
        raise OSError("mprotect failed")
    out = np.frombuffer(buf, a.dtype, a.size, (pages - 1) * page - a.nbytes).reshape(a.shape)
    out[...] = a
    return out


@pytest.mark.skipif(sys.platform == "win32", reason="guard pages through POSIX mprotect")
@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("size, beta", [(5, 0.75), (5, 0.6), (11, 0.5)])
def test_rows_ending_where_memory_ends(build, layout, dtype, size, beta):
    # every array, inputs and outputs, ends where memory stops being readable
    # and writable, after a last row (channels-first) or position
    # (channels-last) of every length up to 40: the partial vectors at the
    # rows' ends (loads and stores under masks, half data's in pairs of
    # lanes) touch nothing past them, and give the bits of the same call on
    # ordinary arrays
    rng = np.random.default_rng(11)
    kw = dict(alpha=1.3, beta=beta, bias=0.7, layout=layout)
    for k in range(1, 41):
        x, dy = ((rng.standard_normal((2, 9, k)) * 2).astype(dtype) for _ in range(2))
        y, s = lrn.lrn(x, size, return_scale=True, **kw)
        dx = lrn.lrn_backward(x, y, dy, size, **kw)
        dx_given = lrn.lrn_backward(x, y, dy, size, scale=s, **kw)
        gx, gdy = _at_the_end_of_memory(x), _at_the_end_of_memory(dy)
        gy, gs, gdx, gdx_given = (_at_the_end_of_memory(poisoned(x.shape, dtype))
                                  for _ in range(4))
        lrn.lrn(gx, size, return_scale=True, out=(gy, gs), **kw)
        lrn.lrn_backward(gx, gy, gdy, size, out=gdx, **kw)
        lrn.lrn_backward(gx, gy, gdy, size, scale=gs, out=gdx_given, **kw)
        for got, want in [(gy, y), (gs, s), (gdx, dx), (gdx_given, dx_given)]:
            assert got.tobytes() == want.tobytes(), k


@pytest.mark.skipif(sys.platform == "win32", reason="guard pages through POSIX mprotect")
@pytest.mark.parametrize("dtype", [np.float16, np.float32])
def test_long_windows_ending_where_memory_ends(build, dtype):
    # channels-last windows over 8 channels past the block sums (the AVX-512
    # build's partial sums in registers load a position's vectors ahead of
    # its windows): a last position of C = 129-145 channels, every length of
    # a last partial vector, touches nothing past the arrays
    rng = np.random.default_rng(12)
    kw = dict(alpha=1.3, beta=0.75, bias=0.7, layout="NHWC")
    for C in range(129, 146):
        x = (rng.standard_normal((1, 2, C)) * 2).astype(dtype)
        for size in (9, 21, 31):
            y, s = lrn.lrn(x, size, return_scale=True, **kw)
            gx = _at_the_end_of_memory(x)
            gy, gs = (_at_the_end_of_memory(poisoned(x.shape, dtype)) for _ in range(2))
            lrn.lrn(gx, size, return_scale=True, out=(gy, gs), **kw)
            assert gy.tobytes() == y.tobytes() and gs.tobytes() == s.tobytes(), (C, size)


@pytest.mark.parametrize("build", _builds()[1:], indirect=True)
@pytest.mark.parametrize("dtype", [np.float16, np.float32])
@pytest.mark.parametrize("beta", [0.75, 0.5, 1.0, 0.6])
def test_long_windows_same_bits_in_either_layout(build, dtype, beta):
    # the AVX2 and AVX-512 builds sum a channels-last window of over 8
    # channels, of up to 128 channels, as the channels-first pass does, from
    # blocks of n channels, in the same order (eight positions at a time,
    # transposed into lanes): y and the scale are the same bits in either
    # layout.  Positions 1 to 19 (never
    # only whole groups of eight), channels fewer than n, C % 8 = 4 and 5;
    # both conventions put an even window's centre apart.
    rng = np.random.default_rng(3)
    for C, n, convention in [(1, 9, "onnx"), (12, 9, "torch"), (12, 40, "onnx"),
                             (37, 11, "onnx"), (37, 21, "torch"), (37, 16, "onnx")]:
        for S in (1, 7, 19):
            x = (rng.standard_normal((2, C, S)) * 3).astype(dtype)
            kw = dict(size=n, alpha=1.3, beta=beta, bias=0.7, convention=convention,
                      return_scale=True)
            first = lrn.lrn(x, **kw)
            last = lrn.lrn(np.ascontiguousarray(x.transpose(0, 2, 1)), layout="NHWC", **kw)
            for a, b in zip(first, last):
                assert a.tobytes() == np.ascontiguousarray(b.transpose(0, 2, 1)).tobytes(), (
                    C, n, S)


def _check_long_windows(shape, sizes, dtype, seed, beta=0.75, convention="onnx"):
    # channels-last, forward against the reference and in place, backward
    # with the scale given and recomputed (the same bits but where the given
    # scale is rounded to half)
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(shape) * 2).astype(dtype)
    dy = rng.standard_normal(shape).astype(dtype)
    for size in sizes:
        kw = dict(size=size, alpha=1.3, beta=beta, bias=1.2, layout="NHWC",
                  convention=convention)
        y, s = lrn.lrn(x, return_scale=True, out=(poisoned(shape, dtype), poisoned(shape, dtype)),
                       **kw)
        yr, sr = ref_forward(x, **kw)
        assert_fwd_close(y, yr, dtype)
        assert_fwd_close(s, sr, dtype, "scale")
        inplace = x.copy()
        lrn.lrn(inplace, out=inplace, **kw)
        assert inplace.tobytes() == y.tobytes(), size
        dxr, mag = ref_backward(x, dy, **kw, return_terms=True)
        given = lrn.lrn_backward(x, y, dy, scale=s, out=poisoned(shape, dtype), **kw)
        recomputed = lrn.lrn_backward(x, y, dy, out=poisoned(shape, dtype), **kw)
        assert_bwd_close(given, dxr, mag, dtype)
        assert_bwd_close(recomputed, dxr, mag, dtype)
        if dtype != np.float16:
            assert given.tobytes() == recomputed.tobytes()


@pytest.mark.parametrize("dtype", [np.float16, np.float32])
@pytest.mark.parametrize("C", [128, 129, 200])
def test_long_windows_either_side_of_the_block_sums(build, dtype, C):
    # channels-last windows over 8 channels take the block sums up to 128
    # channels and the power-of-two partial sums beyond (the AVX2 builds;
    # the portable one always the partial sums): both sides of the switch
    _check_long_windows((2, 11, C), (9, 21), dtype, C)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_partial_sums_on_every_level_count(build, dtype):
    # the partial sums (here 150 channels, past the block sums) of float
    # rows in the AVX2 builds take as few levels as leave a window at most
    # six rows (_channels_last.pxi's window_levels): one level (sizes 9, 12),
    # two (13, 22, 24), three (23, 31), four (64), and six with seven rows
    # (127); float64 and the portable build one level per binary digit
    _check_long_windows((2, 5, 150), (9, 12, 13, 22, 23, 24, 31, 64, 127), dtype, 7)


@pytest.mark.parametrize("dtype", [np.float16, np.float32])
@pytest.mark.parametrize("convention", ["onnx", "torch"])
@pytest.mark.parametrize("beta", [0.75, 0.5, 1.0])
def test_partial_sums_of_every_size_and_window_placement(build, dtype, convention, beta):
    # channels-last windows of 9 to 33 channels past the block sums, each
    # convention's centre (the AVX-512 build forms their partial sums in
    # registers where a window's rows lie within a vector either side, sizes
    # 9-31 but 24: its forward pass gives the bits of the row passes that the
    # backward pass recomputes the scale with); C leaves a last vector of 1
    # and of 6 lanes
    for C in (150, 257):
        _check_long_windows((2, 3, C), range(9, 34), dtype, C, beta, convention)


@pytest.mark.parametrize("cap", ["", "AVX512", "avx2", "baseline"])
def test_lrn_isa_caps_the_build(monkeypatch, cap):
    # the widest build present that this processor runs, at most the cap
    monkeypatch.setenv("LRN_ISA", cap)
    allowed = {"": _builds(), "AVX512": _builds(),
               "avx2": [n for n in _builds() if not n.endswith("avx512")],
               "baseline": ["lrn._kernels"]}[cap]
    assert _cpu._select_kernels().__name__ == allowed[-1]

"""GPU backend (CuPy): kernels against the float64 reference, through the public API and
directly; every kernel variant's CUDA source compiles.

GPU tests are marked ``gpu`` and skip cleanly without CuPy or a CUDA device.  The nvcc test
is not: it runs wherever ``nvcc`` is on PATH, so a syntax error shows up without a GPU.
"""
import os
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import lrn
from lrn import _cuda
from helpers import (CROSS_SHAPES, DTYPES, SIZES, SWEEP_SHAPES, assert_bwd_close,
                     assert_fwd_close, dtype_id, make_shape, random_params, random_x,
                     resolve_size, rng_for, shape_id)
from reference import CONVENTIONS, LAYOUTS, ref_backward, ref_forward, window_bounds

gpu = pytest.mark.gpu


# -- everywhere ----------------------------------------------------------------

def test_kernel_sources_cover_every_variant():
    names = [name for name, _, _ in _cuda.kernel_sources()]
    # direction x kernel (channels-first stream, channels-last tile) x dtype x index width
    assert len(names) == len(set(names)) == 2 * 2 * 3 * 2


def test_kernel_sources_compile_with_nvcc(tmp_path):
    nvcc = shutil.which("nvcc")
    if nvcc is None:
        pytest.skip("nvcc is not on PATH")

    def compile_ptx(variant):
        name, source, options = variant
        cu = tmp_path / f"{name}.cu"
        cu.write_text(source)
        # NVRTC's options (-std=...) mean the same to nvcc
        cmd = [nvcc, "--ptx", "-arch=sm_90", *options, str(cu), "-o", str(cu.with_suffix(".ptx"))]
        return name, subprocess.run(cmd, capture_output=True, text=True)

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        results = list(pool.map(compile_ptx, _cuda.kernel_sources()))
    failed = [f"--- {name} ---\n{run.stderr}" for name, run in results if run.returncode]
    assert not failed, "nvcc --ptx failed for:\n" + "\n".join(failed)


def test_device_info_is_one_line_or_none():
    info = _cuda.device_info()
    assert info is None or (isinstance(info, str) and info and "\n" not in info)


# -- GPU -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def cp():
    cupy = pytest.importorskip("cupy")
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except cupy.cuda.runtime.CUDARuntimeError as e:
        pytest.skip(f"no usable CUDA device: {e}")
    if count < 1:
        pytest.skip("no CUDA device")
    return cupy


def _pre(size, convention):
    return window_bounds(size, convention)[0]


def check_api(cp, layout, dtype, size, convention, spec):
    """lrn.lrn and lrn.lrn_backward on CuPy arrays against the reference."""
    n, c, spatial = spec
    size = resolve_size(size, c)
    rng = rng_for("gpu", layout, dtype_id(dtype), size, convention, spec)
    alpha, beta, bias = random_params(rng)
    shape = make_shape(n, c, spatial, layout)
    x = random_x(rng, shape, dtype)
    dy = random_x(rng, shape, dtype, scale=1.0)
    args = (size, alpha, beta, bias)
    kw = dict(layout=layout, convention=convention)
    yref, sref = ref_forward(x, *args, layout, convention)
    dxref, mag = ref_backward(x, dy, *args, layout, convention, return_terms=True)
    xg, dyg = cp.asarray(x), cp.asarray(dy)

    y, s = lrn.lrn(xg, *args, return_scale=True, **kw)
    assert isinstance(y, cp.ndarray) and isinstance(s, cp.ndarray)
    assert y.flags.c_contiguous and s.flags.c_contiguous
    assert_fwd_close(cp.asnumpy(y), yref, dtype, "y")
    assert_fwd_close(cp.asnumpy(s), sref, dtype, "scale")
    out = cp.full(shape, cp.nan, dtype=dtype)
    assert lrn.lrn(xg, *args, out=out, **kw) is out
    assert_fwd_close(cp.asnumpy(out), yref, dtype, "y (out=)")

    # y and scale as the forward pass hands them over, in the data dtype
    yg, sg = cp.asarray(yref.astype(dtype)), cp.asarray(sref.astype(dtype))
    dx = lrn.lrn_backward(xg, yg, dyg, *args, **kw)
    assert isinstance(dx, cp.ndarray) and dx.flags.c_contiguous
    assert_bwd_close(cp.asnumpy(dx), dxref, mag, dtype)
    out = cp.full(shape, cp.nan, dtype=dtype)
    assert lrn.lrn_backward(xg, yg, dyg, *args, scale=sg, out=out, **kw) is out
    assert_bwd_close(cp.asnumpy(out), dxref, mag, dtype)
    np.testing.assert_array_equal(cp.asnumpy(xg), x)   # input untouched


@gpu
@pytest.mark.parametrize("spec", CROSS_SHAPES, ids=shape_id)
@pytest.mark.parametrize("convention", CONVENTIONS)
@pytest.mark.parametrize("size", SIZES, ids=str)
@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_gpu_sizes(cp, layout, dtype, size, convention, spec):
    check_api(cp, layout, dtype, size, convention, spec)


@gpu
@pytest.mark.parametrize("spec", SWEEP_SHAPES + [(2, 40, (3, 5)), (1, 64, (2,))], ids=shape_id)
@pytest.mark.parametrize("convention", CONVENTIONS)
@pytest.mark.parametrize("size", [1, 4, 5, 19, "gtC"], ids=str)
@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_gpu_shapes(cp, layout, dtype, size, convention, spec):
    check_api(cp, layout, dtype, size, convention, spec)


# 3-D kernel views (channels-first (N, C, S), channels-last (N, S, C)) that between them take
# every launch path of _cuda._launch.
KERNEL_PATHS = [
    pytest.param((2, 9, 37), False, 5, id="stream"),
    pytest.param((1, 300, 2), False, 5, id="stream-chunks"),
    pytest.param((2, 120, 3), False, 40, id="stream-global-scratch-backward"),
    pytest.param((2, 120, 3), False, 101, id="stream-global-scratch"),
    pytest.param((3, 1, 7), False, 3, id="stream-C1"),
    pytest.param((4, 33, 1), False, 4, id="S1-tile"),
    pytest.param((2, 13, 5), True, 4, id="tile"),
    pytest.param((3, 700, 3), True, 2, id="tile-many-rows"),
    pytest.param((2, 4, 64), True, 130, id="tile-window-gt-C"),
    pytest.param((1, 3, 2100), True, 5, id="long-rows-stream"),
    pytest.param((1, 2, 2100), True, 101, id="long-rows-global-scratch"),
]


@gpu
@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("shape, channels_last, size", KERNEL_PATHS)
def test_kernels_direct(cp, shape, channels_last, size, dtype):
    """_cuda.forward / backward on 3-D views; in place equals out of place, bitwise."""
    layout = "NHWC" if channels_last else "NCHW"
    for convention in CONVENTIONS:
        pre = _pre(size, convention)
        rng = rng_for("gpu-direct", shape, channels_last, size, dtype_id(dtype), convention)
        alpha, beta, bias = random_params(rng)
        args = (size, pre, alpha, beta, bias, channels_last)
        x = random_x(rng, shape, dtype)
        dy = random_x(rng, shape, dtype, scale=1.0)
        yref, sref = ref_forward(x, size, alpha, beta, bias, layout, convention)
        dxref, mag = ref_backward(x, dy, size, alpha, beta, bias, layout, convention,
                                  return_terms=True)
        xg, dyg = cp.asarray(x), cp.asarray(dy)

        y, s = cp.full(shape, cp.nan, dtype=dtype), cp.full(shape, cp.nan, dtype=dtype)
        _cuda.forward(xg, y, s, *args)
        assert_fwd_close(cp.asnumpy(y), yref, dtype, "y")
        assert_fwd_close(cp.asnumpy(s), sref, dtype, "scale")
        y_only = cp.full(shape, cp.nan, dtype=dtype)
        _cuda.forward(xg, y_only, None, *args)
        cp.testing.assert_array_equal(y_only, y)
        inplace = xg.copy()
        _cuda.forward(inplace, inplace, None, *args)
        cp.testing.assert_array_equal(inplace, y)

        yg, sg = cp.asarray(yref.astype(dtype)), cp.asarray(sref.astype(dtype))
        for scale in (sg, None):
            dx = cp.full(shape, cp.nan, dtype=dtype)
            _cuda.backward(xg, yg, dyg, scale, dx, *args)
            assert_bwd_close(cp.asnumpy(dx), dxref, mag, dtype)
            inplace = dyg.copy()
            _cuda.backward(xg, yg, inplace, scale, inplace, *args)
            cp.testing.assert_array_equal(inplace, dx)


@gpu
@pytest.mark.parametrize("shape, channels_last", [((1, 100, 400_000), False),
                                                  ((1, 700, 2100), True)])
def test_kernels_direct_many_positions(cp, shape, channels_last):
    """More positions than threads while the running windows live in global scratch (size
    97): each thread loops over positions.  Checked on slices: positions are independent."""
    size, pre = 97, _pre(97, "onnx")
    layout = "NHWC" if channels_last else "NCHW"
    x = random_x(rng_for("gpu-many", channels_last), shape, np.float32)
    xg = cp.asarray(x)
    y, dx = cp.empty_like(xg), cp.empty_like(xg)
    _cuda.forward(xg, y, None, size, pre, 0.7, 0.75, 1.0, channels_last)
    _cuda.backward(xg, y, xg, None, dx, size, pre, 0.7, 0.75, 1.0, channels_last)   # dy = x
    positions = shape[1] if channels_last else shape[2]
    for lo in (0, positions - 3):
        sl = (slice(None), slice(lo, lo + 3)) if channels_last else (
            slice(None), slice(None), slice(lo, lo + 3))
        yref, _ = ref_forward(x[sl], size, 0.7, 0.75, 1.0, layout)
        dxref, mag = ref_backward(x[sl], x[sl], size, 0.7, 0.75, 1.0, layout, return_terms=True)
        assert_fwd_close(cp.asnumpy(y[sl]), yref, np.float32)
        assert_bwd_close(cp.asnumpy(dx[sl]), dxref, mag, np.float32)


@gpu
@pytest.mark.parametrize("layout", LAYOUTS)
def test_gpu_non_contiguous(cp, layout):
    rng = rng_for("gpu-noncontig", layout)
    base = random_x(rng, make_shape(2, 10, (6, 8), layout), np.float32)
    grad = random_x(rng, base.shape, np.float32, scale=1.0)
    views = (lambda a: a[:, :, ::2, 1::3], lambda a: a[..., ::-1], lambda a: a.swapaxes(1, 2))
    for view in views:
        x, dy = view(base), view(grad)
        xg, dyg = view(cp.asarray(base)), view(cp.asarray(grad))
        assert not xg.flags.c_contiguous
        yref, sref = ref_forward(x, 5, 0.8, 0.75, 1.0, layout)
        dxref, mag = ref_backward(x, dy, 5, 0.8, 0.75, 1.0, layout, return_terms=True)
        y, s = lrn.lrn(xg, 5, 0.8, 0.75, 1.0, layout=layout, return_scale=True)
        assert y.shape == x.shape and y.flags.c_contiguous
        assert_fwd_close(cp.asnumpy(y), yref, np.float32, "y")
        for scale in (None, cp.asfortranarray(s)):
            dx = lrn.lrn_backward(xg, cp.asfortranarray(y), dyg, 5, 0.8, 0.75, 1.0,
                                  scale=scale, layout=layout)
            assert dx.flags.c_contiguous
            assert_bwd_close(cp.asnumpy(dx), dxref, mag, np.float32)


def _affected(c, radius_before, radius_after, C):
    """Channels [c - radius_before, c + radius_after] & [0, C)."""
    return slice(max(0, c - radius_before), min(C, c + radius_after + 1))


@gpu
@pytest.mark.parametrize("bad", [np.nan, np.inf], ids=str)
@pytest.mark.parametrize("size, convention", [(5, "onnx"), (4, "onnx"), (4, "torch"), (30, "onnx")])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_gpu_special_values_stay_local(cp, layout, size, convention, bad):
    """A NaN/inf changes only the outputs whose window contains it; the rest is bitwise equal."""
    C, c, where = 48, 23, (1, 2)          # channel c of batch 1, spatial position 2
    shape = make_shape(2, C, (5,), layout)
    rng = rng_for("gpu-special", layout, size, convention, str(bad))
    x = random_x(rng, shape, np.float32)
    dy = random_x(rng, shape, np.float32, scale=1.0)
    xb = x.copy()
    channels = (lambda a: a[where[0], :, where[1]]) if layout == "NCHW" else (
        lambda a: a[where[0], where[1], :])
    channels(xb)[c] = bad
    pre, post = window_bounds(size, convention)
    kw = dict(layout=layout, convention=convention)

    def run(xh):
        xg = cp.asarray(xh)
        y, s = lrn.lrn(xg, size, 0.9, 0.75, 1.0, return_scale=True, **kw)
        dx = lrn.lrn_backward(xg, y, cp.asarray(dy), size, 0.9, 0.75, 1.0, **kw)
        return [cp.asnumpy(a) for a in (y, s, dx)]

    clean, dirty = run(x), run(xb)
    # y, scale at c' depend on x[c] when c' in [c - post, c + pre]; dx twice as far
    reach = [(post, pre), (post, pre), (post + pre, pre + post)]
    for name, a, b, (before, after) in zip(("y", "scale", "dx"), clean, dirty, reach):
        mask = np.zeros(shape, dtype=bool)
        channels(mask)[_affected(c, before, after, C)] = True
        np.testing.assert_array_equal(b[~mask], a[~mask], err_msg=f"{name} outside the window")
        if name == "scale":
            expect = np.nan if np.isnan(bad) else np.inf
            np.testing.assert_array_equal(b[mask], np.full(mask.sum(), expect, np.float32))
    if np.isnan(bad):
        y_window = np.zeros(shape, dtype=bool)
        channels(y_window)[_affected(c, post, pre, C)] = True
        assert np.isnan(dirty[0][y_window]).all()


@gpu
def test_gpu_bad_inputs(cp):
    shape = (2, 6, 3, 4)
    x = random_x(rng_for("gpu-bad"), shape, np.float32)
    xg = cp.asarray(x)
    y = lrn.lrn(xg, 5)
    with pytest.raises(TypeError, match=r"\by\b"):
        lrn.lrn_backward(xg, cp.asnumpy(y), xg, 5)
    with pytest.raises(TypeError, match=r"\bdy\b"):
        lrn.lrn_backward(xg, y, x, 5)
    with pytest.raises(TypeError, match=r"\bscale\b"):
        lrn.lrn_backward(xg, y, xg, 5, scale=x)
    with pytest.raises(TypeError, match=r"\bout\b"):
        lrn.lrn(xg, 5, out=np.empty(shape, np.float32))
    with pytest.raises(ValueError, match=r"\bout\b"):
        lrn.lrn(xg, 5, out=cp.empty((2, 6, 3, 5), np.float32))
    with pytest.raises(TypeError, match=r"\bout\b"):
        lrn.lrn(xg, 5, out=cp.empty(shape, np.float64))
    with pytest.raises(TypeError, match=r"\bx\b"):
        lrn.lrn(cp.zeros(shape, dtype=cp.int32), 5)
    with pytest.raises(ValueError, match=r"\bx\b"):
        lrn.lrn(cp.zeros(6, dtype=cp.float32), 5)
    with pytest.raises(ValueError, match=r"\bsize\b"):
        lrn.lrn(xg, 0)


@gpu
@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_gpu_empty(cp, layout, dtype):
    for spec in [(0, 4, (3,)), (2, 0, (3,)), (2, 4, (0,))]:
        xg = cp.zeros(make_shape(*spec, layout), dtype=dtype)
        y, s = lrn.lrn(xg, 3, return_scale=True, layout=layout)
        assert isinstance(y, cp.ndarray) and y.shape == xg.shape and y.dtype == xg.dtype
        dx = lrn.lrn_backward(xg, y, xg, 3, layout=layout)
        assert isinstance(dx, cp.ndarray) and dx.shape == xg.shape


@gpu
def test_gpu_current_stream(cp):
    """Kernels launch on CuPy's current stream (a non-blocking one here)."""
    x = random_x(rng_for("gpu-stream"), (4, 16, 32, 32), np.float32)
    yref, _ = ref_forward(x, 5, 0.5, 0.75, 1.0)
    stream = cp.cuda.Stream(non_blocking=True)
    with stream:
        xg = cp.asarray(x)
        y = lrn.lrn(xg, 5, 0.5, 0.75, 1.0)
        ynhwc = lrn.lrn(cp.ascontiguousarray(xg.transpose(0, 2, 3, 1)), 5, 0.5, 0.75, 1.0,
                        layout="NHWC")
    stream.synchronize()
    assert_fwd_close(cp.asnumpy(y), yref, np.float32)
    assert_fwd_close(cp.asnumpy(ynhwc), yref.transpose(0, 2, 3, 1), np.float32)


@gpu
def test_device_info_names_the_gpu(cp):
    info = _cuda.device_info()
    assert isinstance(info, str) and "compute capability" in info


@gpu
@pytest.mark.parametrize("layout", LAYOUTS)
def test_gpu_int64_indexing(cp, layout):
    """More than 2**31 - 1 elements (float16, 4 GiB per array) needs 64-bit indices."""
    C = 8
    S = 2**31 // C + 5
    shape = make_shape(1, C, (S,), layout)
    nbytes = C * S * 2
    if cp.cuda.runtime.memGetInfo()[0] < 4 * nbytes + (1 << 30):
        pytest.skip("not enough free GPU memory for four 4 GiB arrays")
    x = cp.empty(shape, dtype=cp.float16)
    gen = cp.random.default_rng(0)
    step = 1 << 24
    for lo in range(0, S, step):   # fill in pieces: no 8-byte temporary of the whole array
        sl = (slice(None), slice(None), slice(lo, lo + step)) if layout == "NCHW" else (
            slice(None), slice(lo, lo + step))
        x[sl] = gen.standard_normal(x[sl].shape, dtype=cp.float32)
    args = (5, 0.9, 0.75, 1.0)
    y = lrn.lrn(x, *args, layout=layout)
    dx = lrn.lrn_backward(x, y, x, *args, layout=layout)    # dy = x
    for lo in (0, S // 2, S - 1000):   # the last elements lie past 2**31
        sl = (slice(None), slice(None), slice(lo, lo + 1000)) if layout == "NCHW" else (
            slice(None), slice(lo, lo + 1000))
        xs = cp.asnumpy(x[sl])
        yref, _ = ref_forward(xs, *args, layout)
        dxref, mag = ref_backward(xs, xs, *args, layout, return_terms=True)
        assert_fwd_close(cp.asnumpy(y[sl]), yref, np.float16, "y")
        assert_bwd_close(cp.asnumpy(dx[sl]), dxref, mag, np.float16)


@gpu
@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("size", [2, 3, 5])
def test_gpu_within_channel(cp, layout, dtype, size):
    from reference import ref_backward_within, ref_forward_within

    shape = (2, 3, 6, 7) if layout == "NCHW" else (2, 6, 7, 3)
    rng = np.random.default_rng(size)
    x = (rng.standard_normal(shape) * 2).astype(dtype)
    dy = rng.standard_normal(shape).astype(dtype)
    kw = dict(size=size, alpha=0.9, beta=0.75, bias=1.3, layout=layout, region="within")
    y, s = lrn.lrn(cp.asarray(x), return_scale=True, **kw)
    assert isinstance(y, cp.ndarray) and y.dtype == dtype
    yr, sr = ref_forward_within(x, size, 0.9, 0.75, 1.3, layout=layout)
    assert_fwd_close(cp.asnumpy(y), yr, dtype)
    assert_fwd_close(cp.asnumpy(s), sr, dtype, "scale")
    dx = lrn.lrn_backward(cp.asarray(x), y, cp.asarray(dy), **kw)
    dxr, mag = ref_backward_within(x, dy, size, 0.9, 0.75, 1.3, layout=layout,
                                   return_terms=True)
    assert_bwd_close(cp.asnumpy(dx), dxr, mag, dtype)

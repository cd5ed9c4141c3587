"""GPU backend: kernels against the float64 reference, through the public API and directly;
every kernel variant's CUDA source compiles.

The GPU tests take the ``cp`` fixture, which runs each of them twice:

- ``cuda``: on CuPy and a CUDA device (skipped cleanly without them);
- ``emulated``: on a NumPy-backed stand-in for CuPy (``tests/gpu_emu``) whose ``RawModule``
  compiles the very CUDA sources ``lrn._gpu`` hands it with the host C++ compiler, so that
  the whole GPU path (``lrn._api`` -> ``lrn._gpu`` -> kernels) runs on any machine with a
  C++ compiler (skipped only without one).

Tests that need a real device's size or streams take ``cuda_cp`` (real CuPy only).  The
nvcc test runs wherever ``nvcc`` is on PATH, so a syntax error shows up without a GPU.
"""
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import lrn
from lrn import _gpu, _params
from .helpers import (CROSS_SHAPES, DTYPES, SIZES, SWEEP_SHAPES, assert_bwd_close,
                     assert_fwd_close, dtype_id, make_shape, random_params, random_x,
                     resolve_size, rng_for, shape_id)
from .reference import CONVENTIONS, LAYOUTS, ref_backward, ref_forward, window_bounds

gpu = pytest.mark.gpu
HERE = os.path.dirname(os.path.abspath(__file__))


# -- the two ways to run the GPU path -------------------------------------------

def _real_cupy():
    cupy = pytest.importorskip("cupy")
    if _emulated(cupy):
        pytest.skip("CuPy is the emulation stand-in")
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except cupy.cuda.runtime.CUDARuntimeError as e:
        pytest.skip(f"no usable CUDA device: {e}")
    if count < 1:
        pytest.skip("no CUDA device")
    return cupy


def _emulated(cupy):
    return cupy.__version__.endswith("emulated")


@pytest.fixture(scope="session")
def emulator_built():
    """The emulation, every kernel variant compiled (in parallel, once per session)."""
    from .gpu_emu import emulator

    if emulator.compiler() is None:
        pytest.skip("no C++ compiler for the GPU emulation")
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        list(pool.map(emulator.build, [code for _, code, _ in _gpu.kernel_sources()]))
    return emulator


@pytest.fixture
def emulated_cp(monkeypatch, emulator_built):
    """The CuPy stand-in as ``cupy``, for one test."""
    from .gpu_emu import fake_cupy

    monkeypatch.setitem(sys.modules, "cupy", fake_cupy)
    caches = (_gpu._module, _gpu._function)   # memoised per device id: not across the two
    for cache in caches:
        cache.cache_clear()
    yield fake_cupy
    for cache in caches:
        cache.cache_clear()


@pytest.fixture
def cuda_cp():
    return _real_cupy()


@pytest.fixture(params=["cuda", "emulated"])
def cp(request):
    if request.param == "cuda":
        return _real_cupy()
    return request.getfixturevalue("emulated_cp")


@pytest.fixture
def variants_used(monkeypatch):
    """The (kind, kernel name, dtype, index) of every kernel launched during the test."""
    used = set()
    original = _gpu._function

    def spy(device_id, name, kind, dtype, index):
        used.add((kind, name, dtype, index))
        return original(device_id, name, kind, dtype, index)

    monkeypatch.setattr(_gpu, "_function", spy)
    return used


# -- everywhere ----------------------------------------------------------------

KERNELS = {"window": {f"lrn_{k}_{b}" for k in ("forward_planes1", "forward_planes4",
                                              "backward_planes", "forward_rows")
                      for b in ("b075", "any")},
           "stream": {"lrn_forward", "lrn_backward"}, "tile": {"lrn_forward", "lrn_backward"}}


def test_kernel_sources_cover_every_variant():
    from .gpu_emu.emulator import kernel_names

    names = [name for name, _, _ in _gpu.kernel_sources()]
    # kernel file (window, channels-first stream, channels-last tile) x dtype x index width
    assert len(names) == len(set(names)) == 3 * 3 * 2
    for name, source, _ in _gpu.kernel_sources():
        assert set(kernel_names(source)) == KERNELS[name.split("_")[0]]
        assert "asm(" not in source   # nothing the host emulation could not compile


def test_cuda_sources_are_package_data():
    with open(os.path.join(HERE, os.pardir, "pyproject.toml")) as f:
        lines = [line for line in f if line.startswith("lrn = [")]   # package-data's line
    assert any('"cuda/*.cu"' in line and '"cuda/*.cuh"' in line for line in lines)
    assert {"lrn_common.cuh", "lrn_window.cu", "lrn_stream.cu", "lrn_tile.cu"} <= set(
        os.listdir(_gpu._CUDA_DIR))


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

    # Every file and dtype with int32 indices, and float16 (the dtype with the most code of
    # its own) with int64 too: the index width is one typedef, and the emulation tier
    # compiles and runs all 18 variants; nvcc takes 1.5 s of CPU a variant.
    variants = [v for v in _gpu.kernel_sources()
                if v[0].endswith("_int32") or "_float16_" in v[0]]
    assert len(variants) == 12, [v[0] for v in variants]
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        results = list(pool.map(compile_ptx, variants))
    failed = [f"--- {name} ---\n{run.stderr}" for name, run in results if run.returncode]
    assert not failed, "nvcc --ptx failed for:\n" + "\n".join(failed)
    ptx = (tmp_path / "stream_float16_int32.ptx").read_text()
    # libdevice's half conversions are inlined as the cvt instructions (round to nearest even)
    assert "cvt.rn.f16.f32" in ptx and "cvt.f32.f16" in ptx and "__nv_" not in ptx


def test_without_cupy(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)   # import cupy raises ImportError
    assert _gpu.info() is None
    with pytest.raises(TypeError, match=r"`dy` is a GPU array but CuPy is not installed"):
        _gpu.array_module("dy")


class _DLPackOnly:
    def __init__(self, device):
        self.device = device

    def __dlpack_device__(self):
        if self.device is None:
            raise RuntimeError("no device")
        return (self.device, 0)


@pytest.mark.parametrize("device, claimed", [(1, False), (2, True), (3, True), (13, True),
                                             (None, False)])
def test_holds_dlpack_devices(device, claimed):
    assert _gpu.holds(_DLPackOnly(device)) is claimed
    assert not _gpu.holds(np.zeros(3)) and not _gpu.holds([1.0])


def test_float16_is_a_gpu_dtype():
    """Regression: CuPy float16 arrays were once rejected; the dtype table allows them (and
    the float16 cases of the GPU tests run them end to end, on the emulation too)."""
    assert _params.check_dtype(np.dtype(np.float16), "x", gpu=True) == np.float16
    assert _gpu.work_dtype(np.dtype(np.float16), False) == np.float16
    assert _params.DTYPES["float16"][1] and not _params.DTYPES["bfloat16"][1]


# -- the emulation itself -------------------------------------------------------

def test_emulated_half_conversions_round_like_numpy(emulated_cp):
    from .gpu_emu import emulator

    to_half, to_float = emulator.half_conversions(_gpu.kernel_sources()[0][1])
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.standard_normal(50_000) * 10.0 ** rng.integers(-9, 6, 50_000),
                        [0.0, -0.0, np.inf, -np.inf, 65504.0, 65520.0, 2.0**-25, 2.0**-26]])
    x = x.astype(np.float32)
    with np.errstate(over="ignore"):
        half = x.astype(np.float16)
    np.testing.assert_array_equal(to_half(x), half.view(np.uint16))
    h = np.arange(2**16, dtype=np.uint16)
    np.testing.assert_array_equal(to_float(h), h.view(np.float16).astype(np.float32))


def test_emulated_launch_checks_its_arguments(emulated_cp):
    cupy = emulated_cp
    kernel = cupy.RawModule(code=_gpu._source("tile", "float32", "int32")).get_function(
        "lrn_forward")
    x = cupy.zeros((4, 8), np.float32)
    good = (x, x, None, np.int32(4), np.int32(8), np.int32(256), np.int32(1), np.int32(1),
            np.float32(1), np.float64(0.75), np.float32(1))
    kernel((1,), (256,), good)
    with pytest.raises(TypeError, match="argument sizes"):   # beta must be a double
        kernel((1,), (256,), good[:9] + (np.float32(0.75),) + good[10:])
    with pytest.raises(TypeError, match="NumPy scalar"):
        kernel((1,), (256,), good[:3] + (4,) + good[4:])
    with pytest.raises(ValueError, match="shared memory"):
        kernel((1,), (256,), good, shared_mem=64 * 1024)
    with pytest.raises(AttributeError):
        cupy.RawModule(code=_gpu._source("tile", "float32", "int32")).get_function("lrn")


# -- GPU: through the public API --------------------------------------------------

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


@gpu
@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_gpu_in_place_and_scale_out(cp, layout, dtype):
    """out=x (forward), out=dy (backward), out=(y, scale) and a non-contiguous out."""
    shape = make_shape(2, 11, (3, 2), layout)
    rng = rng_for("gpu-inplace", layout, dtype_id(dtype))
    x = random_x(rng, shape, dtype)
    dy = random_x(rng, shape, dtype, scale=1.0)
    args = (3, 0.9, 0.6, 1.0)
    yref, sref = ref_forward(x, *args, layout)
    dxref, mag = ref_backward(x, dy, *args, layout, return_terms=True)

    xg = cp.asarray(x)
    assert lrn.lrn(xg, *args, layout=layout, out=xg) is xg
    assert_fwd_close(cp.asnumpy(xg), yref, dtype, "y (in place)")
    pair = (cp.full(shape, cp.nan, dtype=dtype), cp.full(shape, cp.nan, dtype=dtype))
    y, s = lrn.lrn(cp.asarray(x), *args, layout=layout, out=pair, return_scale=True)
    assert y is pair[0] and s is pair[1]
    assert_fwd_close(cp.asnumpy(s), sref, dtype, "scale (out=)")
    strided = cp.full(shape[:-1] + (2 * shape[-1],), cp.nan, dtype=dtype)[..., ::2]
    assert lrn.lrn(cp.asarray(x), *args, layout=layout, out=strided) is strided
    assert_fwd_close(cp.asnumpy(strided), yref, dtype, "y (strided out=)")

    dyg = cp.asarray(dy)
    dx = lrn.lrn_backward(cp.asarray(x), y, dyg, *args, scale=s, layout=layout, out=dyg)
    assert dx is dyg
    assert_bwd_close(cp.asnumpy(dx), dxref, mag, dtype)
    with pytest.raises(ValueError, match="shares memory"):
        lrn.lrn(xg, *args, layout=layout, out=xg[::-1])


@gpu
@pytest.mark.parametrize("layout", LAYOUTS)
def test_gpu_general_beta_is_computed_in_double(cp, layout):
    """float32 data, beta 0.6: y = x * scale ** -beta in double, rounded once to float32
    (the emulation bitwise; a GPU's double pow is within 2 ulp: 1 float ulp allowed)."""
    shape = make_shape(2, 9, (4, 3), layout)
    x = random_x(rng_for("gpu-beta", layout), shape, np.float32) * 40
    y, s = lrn.lrn(cp.asarray(x), 3, 2.5, 0.6, 1.0, layout=layout, return_scale=True)
    y, s = cp.asnumpy(y), cp.asnumpy(s)
    expect = (x.astype(np.float64) * s.astype(np.float64) ** -0.6).astype(np.float32)
    ulps = np.abs(y.view(np.int32).astype(np.int64) - expect.view(np.int32))
    assert ulps.max() <= (0 if _emulated(cp) else 1)


@gpu
def test_gpu_power_representable(cp):
    """tests/test_power.py's cases: a power that overflows or underflows where the result
    does not, forward and backward, both kernel kinds (the CPU contract)."""
    from .test_power import BACKWARD, FORWARD, exact_forward, ulp_tolerance

    for dtype, x0, alpha, beta, bias in FORWARD:
        x = np.full((1, 1, 9), x0, dtype)
        for layout in LAYOUTS:
            y = cp.asnumpy(lrn.lrn(cp.asarray(x), 1, alpha, beta, bias, layout=layout))
            np.testing.assert_allclose(y.astype(np.float64),
                                       exact_forward(dtype, x0, alpha, beta, bias),
                                       rtol=ulp_tolerance(dtype, beta), atol=0)
    for dtype, dy0, beta, bias in BACKWARD:
        x = cp.asarray(np.zeros((1, 1, 9), dtype))
        dy = cp.asarray(np.full((1, 1, 9), dy0, dtype))
        want = exact_forward(dtype, dy0, 0.0, beta, bias)   # dx = dy * bias ** -beta
        for layout in LAYOUTS:
            dx = cp.asnumpy(lrn.lrn_backward(x, x, dy, 1, 1e-4, beta, bias, layout=layout))
            np.testing.assert_allclose(dx.astype(np.float64), want,
                                       rtol=ulp_tolerance(dtype, beta), atol=0)


@gpu
def test_gpu_foreign_arrays(emulated_cp):
    """CUDA arrays of other libraries: by ``__cuda_array_interface__`` or DLPack, no copy."""
    cp = emulated_cp
    x = random_x(rng_for("gpu-foreign"), (2, 7, 5), np.float32)
    yref, _ = ref_forward(x, 3, 0.8, 0.75, 1.0)
    for wrap in (cp.ForeignArray, cp.DLPackDevice):
        host = x.copy()
        y = lrn.lrn(wrap(host), 3, 0.8, 0.75, 1.0)
        assert isinstance(y, cp.ndarray)
        assert_fwd_close(cp.asnumpy(y), yref, np.float32)
        out = wrap(np.zeros_like(x))
        with pytest.raises(TypeError, match=r"`out` must be a .* array"):
            lrn.lrn(cp.asarray(x), 3, out=out)


def test_gpu_dlpack_refusal_is_a_type_error(emulated_cp):
    """A producer that refuses to export (PyTorch's BufferError for a tensor that requires
    grad) is a TypeError naming the argument, with the producer's reason."""
    class RequiresGrad(emulated_cp.DLPackDevice):
        def __dlpack__(self, **kwargs):
            raise BufferError("Can't export tensors that require gradient, use tensor.detach()")

    x = np.ones((1, 3, 2), np.float32)
    with pytest.raises(TypeError, match=r"`x` is a GPU array .* use tensor\.detach\(\)\); "
                                        r"for autograd, use lrn\.torch"):
        lrn.lrn(RequiresGrad(x), 3)
    with pytest.raises(TypeError, match=r"`dy` is a GPU array"):
        lrn.lrn_backward(emulated_cp.asarray(x), emulated_cp.asarray(x), RequiresGrad(x), 3)


@gpu
def test_gpu_foreign_array_streams_are_waited_for(emulated_cp):
    """A version-3 ``__cuda_array_interface__`` naming a stream: lrn's stream (CuPy's
    current one) waits for an event recorded on it, for every array argument; no wait
    for no stream, a None stream, version 2, or the current stream itself."""
    cp = emulated_cp
    x = random_x(rng_for("gpu-cai-stream"), (2, 7, 5), np.float32)
    y, scale = ref_forward(x, 3, 0.8, 0.75, 1.0)
    with cp.cuda.Stream(0x1000) as ours:
        got = lrn.lrn(cp.ForeignArray(x.copy(), stream=0xBEEF), 3, 0.8, 0.75, 1.0)
        assert [e.stream.ptr for e in ours.waited] == [0xBEEF]
        assert_fwd_close(cp.asnumpy(got), y, np.float32)
        ours.waited.clear()
        arrays = [cp.ForeignArray(a.astype(np.float32), stream=ptr)
                  for a, ptr in ((x, 0xA), (y, 0xB), (np.ones_like(x), 0xC), (scale, 1))]
        lrn.lrn_backward(*arrays[:3], 3, 0.8, 0.75, 1.0, scale=arrays[3])
        assert [e.stream.ptr for e in ours.waited] == [0xA, 0xB, 0xC, 1]
        ours.waited.clear()
        for kw in (dict(), dict(stream=None), dict(stream=0xBEEF, version=2),
                   dict(stream=0x1000)):
            lrn.lrn(cp.ForeignArray(x.copy(), **kw), 3)
        assert ours.waited == []


@gpu
def test_gpu_info(cp):
    info = _gpu.info()
    assert isinstance(info, str) and "compute capability" in info and "\n" not in info


# -- GPU: the kernels directly ------------------------------------------------------

# 3-D kernel views (channels-first (N, C, S), channels-last (N, S, C)) that between them take
# every launch path of _gpu._launch, with the kernels each takes ("kind:name" without the
# beta class) out of place (forward, backward) and in place (forward, backward).
KERNEL_PATHS = [
    pytest.param((2, 9, 36), False, 5, "planes4 planes stream stream", id="planes-vector"),
    pytest.param((2, 9, 37), False, 5, "planes1 planes stream stream", id="planes"),
    pytest.param((2, 20, 6), False, 8, "planes1 planes stream stream", id="planes-widest"),
    pytest.param((3, 1, 7), False, 3, "planes1 planes stream stream", id="planes-C1"),
    pytest.param((2, 9, 37), False, 9, "stream stream stream stream", id="stream"),
    pytest.param((1, 300, 2), False, 9, "stream stream stream stream", id="stream-chunks"),
    pytest.param((2, 120, 3), False, 40, "stream stream stream stream",
                 id="stream-global-scratch-backward"),
    pytest.param((2, 120, 3), False, 101, "stream stream stream stream",
                 id="stream-global-scratch"),
    pytest.param((4, 33, 1), False, 4, "rows tile tile tile", id="S1-rows"),
    pytest.param((2, 13, 5), True, 4, "rows tile tile tile", id="rows"),
    pytest.param((3, 700, 3), True, 2, "rows tile tile tile", id="rows-many"),
    pytest.param((3, 70, 12), True, 9, "tile tile tile tile", id="tile"),
    pytest.param((2, 4, 64), True, 130, "tile tile tile tile", id="tile-window-gt-C"),
    pytest.param((1, 3, 2100), True, 5, "rows stream stream stream", id="long-rows"),
    pytest.param((1, 2, 2100), True, 101, "stream stream stream stream",
                 id="long-rows-global-scratch"),
]
_KERNEL = {"planes4": ("window", "lrn_forward_planes4"),
           "planes1": ("window", "lrn_forward_planes1"),
           "planes": ("window", "lrn_backward_planes"), "rows": ("window", "lrn_forward_rows")}


def path_kernels(paths):
    """The (kind, name) of the four launches of a KERNEL_PATHS entry."""
    directions = ("forward", "backward") * 2
    return [_KERNEL.get(k, (k, f"lrn_{d}")) for k, d in zip(paths.split(), directions)]


def base_name(name):
    """A kernel's name without its beta class."""
    return name.removesuffix("_b075").removesuffix("_any")


@gpu
@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("shape, channels_last, size, paths", KERNEL_PATHS)
def test_kernels_direct(cp, monkeypatch, variants_used, shape, channels_last, size, paths,
                        dtype):
    """_gpu.forward / backward on 3-D views, with 32- and 64-bit indices, out of place and
    in place (equal bitwise where both take the same kernel file)."""
    layout = "NHWC" if channels_last else "NCHW"
    if _emulated(cp) and channels_last and shape[2] > _gpu._TILE:
        # rows longer than the tile, at a length whose reference is quick to compute
        monkeypatch.setattr(_gpu, "_TILE", 256)
        shape = shape[:2] + (300,)
    for k, convention in enumerate(CONVENTIONS):
        rng = rng_for("gpu-direct", shape, channels_last, size, dtype_id(dtype), convention)
        alpha, beta, bias = random_params(rng, beta=(0.75, 2.0)[k % 2])   # both beta classes
        p = _params.make(size, alpha, beta, bias, layout, convention).resolve(
            np.dtype(dtype), 3, backward=True)
        x = random_x(rng, shape, dtype)
        dy = random_x(rng, shape, dtype, scale=1.0)
        yref, sref = ref_forward(x, size, alpha, beta, bias, layout, convention)
        dxref, mag = ref_backward(x, dy, size, alpha, beta, bias, layout, convention,
                                  return_terms=True)
        xg, dyg = cp.asarray(x), cp.asarray(dy)
        for limit in (2**31, 0):   # 0: every launch takes the int64 variant
            monkeypatch.setattr(_gpu, "_INT32_LIMIT", limit)
            y, s = cp.full(shape, cp.nan, dtype=dtype), cp.full(shape, cp.nan, dtype=dtype)
            _gpu.forward(xg, y, s, p)
            assert_fwd_close(cp.asnumpy(y), yref, dtype, "y")
            assert_fwd_close(cp.asnumpy(s), sref, dtype, "scale")
            y_only = cp.full(shape, cp.nan, dtype=dtype)
            _gpu.forward(xg, y_only, None, p)
            cp.testing.assert_array_equal(y_only, y)
            inplace = xg.copy()
            _gpu.forward(inplace, inplace, None, p)
            check_in_place(cp, inplace, y, paths, 0, lambda a: assert_fwd_close(a, yref, dtype))

            yg, sg = cp.asarray(yref.astype(dtype)), cp.asarray(sref.astype(dtype))
            for scale in (sg, None):
                dx = cp.full(shape, cp.nan, dtype=dtype)
                _gpu.backward(xg, yg, dyg, scale, dx, p)
                assert_bwd_close(cp.asnumpy(dx), dxref, mag, dtype)
                inplace = dyg.copy()
                _gpu.backward(xg, yg, inplace, scale, inplace, p)
                check_in_place(cp, inplace, dx, paths, 1,
                               lambda a: assert_bwd_close(a, dxref, mag, dtype))
    assert {(kind, base_name(name), dt, i) for kind, name, dt, i in variants_used} == {
        (kind, name, np.dtype(dtype).name, i)
        for kind, name in path_kernels(paths) for i in ("int32", "int64")}
    window = {name for kind, name, _, _ in variants_used if kind == "window"}
    assert window == {base_name(n) + b for n in window for b in ("_b075", "_any")}


def check_in_place(cp, got, out_of_place, paths, direction, check_reference):
    """In place takes the stream or tile kernels; the window kernels group their sums
    differently, so where out of place took them the two agree to rounding (checked
    against the reference) rather than bitwise.  direction: 0 forward, 1 backward."""
    kernels = path_kernels(paths)
    if kernels[direction] == kernels[2 + direction]:
        cp.testing.assert_array_equal(got, out_of_place)
    else:
        check_reference(cp.asnumpy(got))


@gpu
def test_kernels_every_launch_path(emulated_cp, monkeypatch):
    """The launch paths KERNEL_PATHS are meant to take, seen from the launch arguments."""
    seen = []
    original = _gpu._function

    def spy(device_id, name, kind, dtype, index):
        kernel = original(device_id, name, kind, dtype, index)

        def launch(grid, block, args, shared_mem=0):
            scratch = kind == "stream" and args[5 if "backward" in name else 3] is not None
            seen.append((kind, name, scratch))
            kernel(grid, block, args, shared_mem=shared_mem)
        return launch

    monkeypatch.setattr(_gpu, "_function", spy)
    cp = emulated_cp
    for param in KERNEL_PATHS:
        shape, channels_last, size, paths = param.values
        p = _params.make(size, layout="NHWC" if channels_last else "NCHW").resolve(
            np.dtype(np.float32), 3, backward=True)
        x = cp.asarray(random_x(rng_for("paths"), shape, np.float32))
        y = cp.empty(shape, np.float32)
        seen.clear()
        _gpu.forward(x, y, None, p)
        _gpu.backward(x, y, x, None, cp.empty(shape, np.float32), p)
        _gpu.forward(x, x, None, p)
        _gpu.backward(x, y, x, None, x, p)
        assert [(kind, base_name(name)) for kind, name, _ in seen] == path_kernels(paths), \
            param.id
        assert any(scratch for *_, scratch in seen) == ("scratch" in param.id), param.id


@gpu
def test_index_width_counts_the_grid_stride(emulated_cp, monkeypatch, variants_used):
    """A stream thread's position index ends at the element count plus the grid's stride:
    64-bit indices once that passes 2**31 (it once counted the larger of the two only, so
    arrays of 2**30 to 2**31 positions overflowed int).  Seen with the limit scaled down."""
    p = _params.make(3).resolve(np.dtype(np.float32), 3, backward=True)
    x = emulated_cp.asarray(random_x(rng_for("index-width"), (1, 1, 3000), np.float32))
    for limit, index in ((6100, "int32"), (6000, "int64")):   # 3000 + 24 blocks x 128
        monkeypatch.setattr(_gpu, "_INT32_LIMIT", limit)
        variants_used.clear()
        _gpu.forward(x, x, None, p)   # in place: the stream kernel
        assert variants_used == {("stream", "lrn_forward", "float32", index)}


def test_index_width_counts_the_window_reach(emulated_cp, monkeypatch, variants_used):
    """A window kernel's offsets end at the element count plus one grid's stride plus
    (_CHUNK + 2 * _WINDOW) channels: 3000 + 3 blocks x 256 + 24 x 3000 = 75768 here."""
    p = _params.make(3, beta=0.75).resolve(np.dtype(np.float32), 3, backward=True)
    x = emulated_cp.asarray(random_x(rng_for("index-width"), (1, 1, 3000), np.float32))
    y = emulated_cp.empty(x.shape, np.float32)
    for limit, index in ((75769, "int32"), (75768, "int64")):
        monkeypatch.setattr(_gpu, "_INT32_LIMIT", limit)
        variants_used.clear()
        _gpu.forward(x, y, None, p)
        assert variants_used == {("window", "lrn_forward_planes4_b075", "float32", index)}


@gpu
@pytest.mark.parametrize("layout", LAYOUTS)
def test_window_kernels_unaligned_arrays(cp, variants_used, layout):
    """Arrays that do not start on 16 bytes (an offset view of a larger buffer) take the
    scalar loads; results as the reference."""
    shape = (2, 9, 4, 6) if layout == "NCHW" else (2, 4, 6, 9)
    rng = rng_for("gpu-unaligned", layout)
    x = random_x(rng, shape, np.float32)
    buffer = cp.full(x.size + 1, cp.nan, dtype=np.float32)
    xg = buffer[1:].reshape(shape)
    xg[...] = cp.asarray(x)
    assert xg.data.ptr % 16 != 0
    y = lrn.lrn(xg, 5, 0.5, 0.75, 1.0, layout=layout)
    assert_fwd_close(cp.asnumpy(y), ref_forward(x, 5, 0.5, 0.75, 1.0, layout)[0], np.float32)
    name = "lrn_forward_planes1_b075" if layout == "NCHW" else "lrn_forward_rows_b075"
    assert ("window", name, "float32", "int32") in variants_used


@gpu
@pytest.mark.parametrize("beta", [0.75, 0.5, 1.0, 0.7499999, 2.3])
def test_window_kernels_beta_class(cp, variants_used, beta):
    """beta = 0.75 takes the kernels compiled for it, any other beta the general ones."""
    x = random_x(rng_for("gpu-beta-class", beta), (2, 9, 5, 7), np.float32)
    dy = random_x(rng_for("gpu-beta-class-dy", beta), x.shape, np.float32, scale=1.0)
    xg = cp.asarray(x)
    y = lrn.lrn(xg, 5, 0.5, beta, 1.0)
    dx = lrn.lrn_backward(xg, y, cp.asarray(dy), 5, 0.5, beta, 1.0)
    assert_fwd_close(cp.asnumpy(y), ref_forward(x, 5, 0.5, beta, 1.0)[0], np.float32)
    dxref, mag = ref_backward(x, dy, 5, 0.5, beta, 1.0, return_terms=True)
    assert_bwd_close(cp.asnumpy(dx), dxref, mag, np.float32)
    suffix = "_b075" if beta == 0.75 else "_any"
    assert {name for _, name, _, _ in variants_used} == {
        "lrn_forward_planes1" + suffix, "lrn_backward_planes" + suffix}


@gpu
@pytest.mark.parametrize("shape, channels_last", [((1, 100, 400_000), False),
                                                  ((1, 700, 2100), True)])
def test_kernels_direct_many_positions(cuda_cp, shape, channels_last):
    """More positions than threads while the running windows live in global scratch (size
    97): each thread loops over positions.  Checked on slices: positions are independent."""
    check_many_positions(cuda_cp, shape, channels_last, 97)


@gpu
def test_kernels_many_positions_emulated(emulated_cp, monkeypatch):
    """The same on the emulation, at a size it runs quickly: 2 SMs x 8 blocks of threads."""
    monkeypatch.setattr(_gpu, "_SHARED_BYTES", 1024)   # the rings go to global scratch
    check_many_positions(emulated_cp, (1, 12, 5000), False, 5)


@gpu
@pytest.mark.parametrize("shape, channels_last", [((2, 19, 36), False), ((2, 19, 37), False),
                                                  ((3, 37, 19), True)])
def test_window_kernels_loop_over_the_grid(cp, monkeypatch, shape, channels_last):
    """Fewer blocks than the work needs (_MAX_GRID = 1): every thread loops over the
    grid."""
    monkeypatch.setattr(_gpu, "_MAX_GRID", 1)
    check_many_positions(cp, shape, channels_last, 5)


def check_many_positions(cp, shape, channels_last, size):
    layout = "NHWC" if channels_last else "NCHW"
    p = _params.make(size, 0.7, 0.75, 1.0, layout).resolve(np.dtype(np.float32), 3, True)
    x = random_x(rng_for("gpu-many", channels_last), shape, np.float32)
    xg = cp.asarray(x)
    y, dx = cp.empty(shape, np.float32), cp.empty(shape, np.float32)
    _gpu.forward(xg, y, None, p)
    _gpu.backward(xg, y, xg, None, dx, p)   # dy = x
    positions = shape[1] if channels_last else shape[2]
    for lo in (0, positions // 2, positions - 3):
        sl = (slice(None), slice(lo, lo + 3)) if channels_last else (
            slice(None), slice(None), slice(lo, lo + 3))
        yref, _ = ref_forward(x[sl], size, 0.7, 0.75, 1.0, layout)
        dxref, mag = ref_backward(x[sl], x[sl], size, 0.7, 0.75, 1.0, layout,
                                  return_terms=True)
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
def test_gpu_current_stream(cuda_cp):
    cp = cuda_cp
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


_SPIN = r"""
extern "C" __global__ void spin(long long cycles) {
    long long start = clock64();
    while (clock64() - start < cycles) { }
}
"""


class _Produced:
    """Another library's CUDA array whose work on it runs on ``stream``: it exports
    ``a`` by DLPack only, or by a version-3 ``__cuda_array_interface__`` naming
    ``stream``."""

    def __init__(self, a, stream, how):
        self.a, self.stream = a, stream
        if how == "cai":
            self.__cuda_array_interface__ = dict(a.__cuda_array_interface__, version=3,
                                                 stream=stream.ptr)
        else:
            self.__dlpack_device__ = a.__dlpack_device__

    def __dlpack__(self, **kwargs):   # the producer's current stream is its own
        with self.stream:
            return self.a.__dlpack__(**kwargs)


@gpu
@pytest.mark.parametrize("how", ["dlpack", "cai"])
def test_gpu_waits_for_the_producers_stream(cuda_cp, how):
    """An array written on the producer's stream behind a long kernel (NaN until then):
    lrn on another stream reads it only once written, by DLPack's stream handshake or
    the interface's stream."""
    cp = cuda_cp
    x = random_x(rng_for("gpu-producer"), (4, 16, 24, 24), np.float32)
    yref, _ = ref_forward(x, 5, 0.5, 0.75, 1.0)
    src = cp.asarray(x)
    a = cp.full(x.shape, cp.nan, dtype=cp.float32)
    cp.cuda.Device().synchronize()
    producer, consumer = cp.cuda.Stream(non_blocking=True), cp.cuda.Stream(non_blocking=True)
    with producer:
        cp.RawKernel(_SPIN, "spin")((1,), (1,), (np.int64(2 * 10**8),))   # ~0.1 s
        cp.copyto(a, src)
    with consumer:
        y = lrn.lrn(_Produced(a, producer, how), 5, 0.5, 0.75, 1.0)
    consumer.synchronize()
    assert_fwd_close(cp.asnumpy(y), yref, np.float32)


@gpu
@pytest.mark.parametrize("layout", LAYOUTS)
def test_gpu_int64_indexing(cuda_cp, layout):
    """More than 2**31 - 1 elements (float16, 4 GiB per array) needs 64-bit indices."""
    cp = cuda_cp
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
    from .reference import ref_backward_within, ref_forward_within

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


def test_emulated_blocks_meet_at_syncthreads(emulated_cp):
    """Threads of a block see each other's shared-memory writes after __syncthreads, blocks
    run apart; a block whose threads diverge at __syncthreads, or a write past the end of
    an array, is an error."""
    code = r"""
__shared__ float cell[64];
extern "C" __global__ void rotate(const float* x, float* y, int diverge) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    cell[threadIdx.x] = x[i];
    if (diverge && threadIdx.x == 0) return;
    __syncthreads();
    y[i] = cell[(threadIdx.x + 1) % blockDim.x] + 100 * gridDim.x;
}
extern "C" __global__ void spill(float* y, int n) { y[n + threadIdx.x] = 1; }
"""
    cp = emulated_cp
    kernel = cp.RawModule(code=code).get_function("rotate")
    x = cp.asarray(np.arange(128, dtype=np.float32))
    y = cp.zeros(128, np.float32)
    kernel((2,), (64,), (x, y, np.int32(0)))
    expect = np.roll(np.arange(128, dtype=np.float32).reshape(2, 64), -1, axis=1) + 200
    np.testing.assert_array_equal(cp.asnumpy(y), expect.ravel())
    with pytest.raises(RuntimeError, match="diverge"):
        kernel((2,), (64,), (x, y, np.int32(1)))
    spill = cp.RawModule(code=code).get_function("spill")
    spill((1,), (1,), (y, np.int32(127)))
    with pytest.raises(RuntimeError, match="out of bounds"):
        spill((1,), (2,), (y, np.int32(127)))


# -- coverage ------------------------------------------------------------------------

def test_gpu_backend_line_coverage(tmp_path, emulator_built, record_property):
    """The tests above, on the emulation, run >= 95% of the lines of lrn/_gpu.py: measured
    on them without their float64 cases (which ran no line the others missed: the same
    100%, in 70% of the time); a subset's coverage is a lower bound of the whole's."""
    pytest.importorskip("coverage")
    if os.environ.get("LRN_GPU_COVERAGE_RUN"):
        pytest.skip("inside the coverage run")
    data = tmp_path / "coverage.data"
    run = [sys.executable, "-m", "coverage", "run", f"--data-file={data}",
           "--include=*/lrn/_gpu.py", "-m", "pytest", "-q", "-p", "no:cacheprovider",
           os.path.join(HERE, "test_gpu.py"), "-k",
           "not nvcc and not cuda and not shapes and not float64"]
    # the lrn this process imported, wherever it comes from (installed, or a source tree)
    path = os.pathsep.join([os.path.dirname(os.path.dirname(lrn.__file__)),
                            os.environ.get("PYTHONPATH", "")])
    env = dict(os.environ, LRN_GPU_COVERAGE_RUN="1", PYTHONPATH=path)
    done = subprocess.run(run, capture_output=True, text=True, cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stdout[:6000] + done.stderr[-3000:]
    report = tmp_path / "coverage.json"
    subprocess.run([sys.executable, "-m", "coverage", "json", f"--data-file={data}",
                    "-o", str(report)], check=True, capture_output=True, cwd=tmp_path)
    import json

    files = json.loads(report.read_text())["files"]
    (name, entry), = files.items()
    percent = entry["summary"]["percent_covered"]
    # in the summary even under -q and pytest-xdist (tests/conftest.py): CI's log shows it
    record_property("ci_log", f"line coverage of {name} under the emulated GPU tests: "
                              f"{percent:.1f}% (missing lines {entry['missing_lines']})")
    assert percent >= 95, f"{percent:.1f}% < 95%; missing lines {entry['missing_lines']}"

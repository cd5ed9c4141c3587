"""GPU (CuPy) time of lrn forward/backward and the CuPy copy floors.

Every case skips (``NotImplementedError`` in ``setup``, asv's way of skipping) when CuPy,
a CUDA device, or lrn's GPU backend is absent.  ``lrn.lrn(cupy_array, ...)`` runs on the
GPU and returns a CuPy array; launches are asynchronous, so every timed call ends with a
stream synchronisation.
"""
import numpy as np

import lrn

from . import common
from .common import DTYPES, LAYOUTS, PARAMS, SEED, SHAPE_NAMES, SIZE

_state = {}   # per process: the cupy module and whether lrn accepts CuPy `out=`
_cache = {}   # per process: the latest inputs on the device


def _gpu():
    """(cupy, out_ok), or NotImplementedError saying what is missing."""
    if "error" in _state:
        raise NotImplementedError(_state["error"])
    if "cp" in _state:
        return _state["cp"], _state["out_ok"]
    try:
        try:
            import cupy as cp
        except Exception as e:  # ImportError, or a CuPy without its CUDA libraries
            raise NotImplementedError(f"CuPy is not available ({type(e).__name__}: {e})")
        try:
            if cp.cuda.runtime.getDeviceCount() < 1:
                raise NotImplementedError("no CUDA device")
        except cp.cuda.runtime.CUDARuntimeError as e:
            raise NotImplementedError(f"no usable CUDA device ({e})")
        probe = cp.ones((1, 3, 2, 2), dtype=cp.float32)
        try:
            got = lrn.lrn(probe, 3)
        except (TypeError, NotImplementedError) as e:
            raise NotImplementedError(f"lrn has no GPU backend in this build ({e})")
        if not isinstance(got, cp.ndarray):
            raise NotImplementedError("lrn.lrn(cupy array) did not return a CuPy array")
        try:
            lrn.lrn(probe, 3, out=cp.empty_like(probe))
            out_ok = True
        except (TypeError, ValueError):
            out_ok = False  # then the time includes CuPy's (pooled) allocation
    except NotImplementedError as e:
        _state["error"] = str(e)
        raise
    _state.update(cp=cp, out_ok=out_ok)
    return cp, out_ok


class _DeviceInputs:
    def __init__(self, cp, shape, layout, dtype):
        rng = np.random.default_rng(SEED)
        self.x = cp.asarray(common.random(rng, shape, dtype))
        self.dy = cp.asarray(common.random(rng, shape, dtype))
        self.y, self.scale = lrn.lrn(self.x, SIZE, **PARAMS, layout=layout, return_scale=True)
        self.bufs = {name: cp.zeros_like(self.x) for name in ("a", "b", "dx")}
        cp.cuda.get_current_stream().synchronize()


def _inputs(cp, shape_name, layout, dtype):
    key = (common.shape_of(shape_name, layout), layout, dtype)
    if key not in _cache:
        _cache.clear()
        _cache[key] = _DeviceInputs(cp, key[0], layout, dtype)
    return _cache[key]


def _release():
    """Return the pool's unused blocks (the cached inputs stay: asv re-runs setup per sample)."""
    if "cp" in _state:
        _state["cp"].get_default_memory_pool().free_all_blocks()


class GPUCopyFloor:
    """CuPy device-to-device copies: one array (forward's floor), two (backward's)."""

    params = [SHAPE_NAMES, DTYPES]
    param_names = ["shape", "dtype"]
    timeout = 300

    def setup(self, shape, dtype):
        self.cp, _ = _gpu()
        self.d = _inputs(self.cp, shape, "NCHW", dtype)
        self.sync = self.cp.cuda.get_current_stream().synchronize

    def teardown(self, shape, dtype):
        _release()

    def time_copy(self, shape, dtype):
        self.cp.copyto(self.d.bufs["a"], self.d.x)
        self.sync()

    def time_copy_4array(self, shape, dtype):
        self.cp.copyto(self.d.bufs["a"], self.d.x)
        self.cp.copyto(self.d.bufs["b"], self.d.dy)
        self.sync()


class GPU:
    """lrn on CuPy arrays: forward (with and without scale), backward (scale given or not)."""

    params = [SHAPE_NAMES, LAYOUTS, DTYPES]
    param_names = ["shape", "layout", "dtype"]
    timeout = 300

    def setup(self, shape, layout, dtype):
        self.cp, out_ok = _gpu()
        self.d = _inputs(self.cp, shape, layout, dtype)
        self.kw = dict(PARAMS, layout=layout)
        b = self.d.bufs
        self.out_y = b["a"] if out_ok else None
        self.out_ys = (b["a"], b["b"]) if out_ok else None
        self.out_dx = b["dx"] if out_ok else None
        self.sync = self.cp.cuda.get_current_stream().synchronize
        if not getattr(self.d, "warm", False):  # compile and load every kernel untimed
            for name in ("forward", "forward_scale", "backward", "backward_recompute"):
                getattr(self, "time_" + name)(shape, layout, dtype)
            self.d.warm = True

    def teardown(self, shape, layout, dtype):
        _release()

    def time_forward(self, shape, layout, dtype):
        lrn.lrn(self.d.x, SIZE, **self.kw, out=self.out_y)
        self.sync()

    def time_forward_scale(self, shape, layout, dtype):
        lrn.lrn(self.d.x, SIZE, **self.kw, return_scale=True, out=self.out_ys)
        self.sync()

    def time_backward(self, shape, layout, dtype):
        d = self.d
        lrn.lrn_backward(d.x, d.y, d.dy, SIZE, **self.kw, scale=d.scale, out=self.out_dx)
        self.sync()

    def time_backward_recompute(self, shape, layout, dtype):
        d = self.d
        lrn.lrn_backward(d.x, d.y, d.dy, SIZE, **self.kw, out=self.out_dx)
        self.sync()

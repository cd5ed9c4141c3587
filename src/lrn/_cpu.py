"""The CPU backend: the Cython kernels on NumPy arrays.

It picks the kernel build for this processor, resolves the thread count and
runs a :class:`lrn._params.Problem` on C-contiguous arrays in
:func:`work_dtype`, in their full N-D shape:

- across channels, the kernels see 3-D views, channels-first ``(N, C, S)`` or
  channels-last ``(1, N * S, C)`` (the positions of every sample in one axis,
  so that tiles span samples; a channels-first array with one position per
  sample is the same memory as a channels-last one);
- within channels, the box sum is one window sum per spatial axis, in place
  (:func:`box_sums`), then one element-wise pass.
"""
import functools
import importlib
import math
import os

import numpy as np

from . import _kernels
from ._params import is_narrow, promoted_dtype


# The ISA builds (module lrn._kernels_<name>), widest first, each with the test
# that this processor runs it, asked before the import: importing a build whose
# ISA the processor lacks dies with SIGILL (its module initialisation is
# compiled for that ISA too).
ISA_BUILDS = {"avx512": _kernels.cpu_has_avx512, "avx2": _kernels.cpu_has_avx2_fma}


def _select_kernels():
    """The widest build this CPU runs: AVX-512, AVX2+FMA, or the portable
    one; ``LRN_ISA=avx2`` or ``LRN_ISA=baseline`` caps it.  Every build
    gives results within the accuracy contract."""
    names = list(ISA_BUILDS)
    cap = os.environ.get("LRN_ISA", "").lower()
    if cap in names:
        names = names[names.index(cap):]
    elif cap == "baseline":
        names = []
    for name in names:
        if ISA_BUILDS[name]():
            try:
                return importlib.import_module(f"{__package__}._kernels_{name}")
            except ImportError:
                pass
    return _kernels


kernels = _select_kernels()
_HALF = np.dtype(np.float16)


def array_module(name="x"):
    return np


def as_array(obj, name):
    """``obj`` as an ndarray, or a TypeError naming ``name``.

    Arrays, buffer-protocol and ``__array_interface__`` objects are viewed
    without a copy; other array_like (nested lists and tuples, NumPy scalars)
    go through ``np.asarray``.  Bool and integer data are promoted to float
    (:func:`lrn._params.promoted_dtype`, a copy); other dtypes are left for
    the dtype check."""
    arr = obj
    if not isinstance(arr, np.ndarray):
        try:
            arr = np.asarray(obj)
        except (TypeError, ValueError) as e:     # ragged lists, failing __array__...
            raise TypeError(f"`{name}` must be array_like, got a {type(obj).__name__} "
                            f"NumPy cannot convert ({' '.join(str(e).split())})") from None
        if arr.dtype.hasobject:
            raise TypeError(f"`{name}` must be array_like of numbers, got "
                            f"{type(obj).__name__} {obj!r:.40}") from None
    dtype = promoted_dtype(arr.dtype)
    return arr if dtype == arr.dtype else arr.astype(dtype)


def work_dtype(dtype, within):
    """What the kernels read and write: float32/float64 as they are, float16
    across channels as its bits (computed in float32), the rest in float32;
    always in native byte order."""
    if dtype == _HALF and not within:
        return _HALF
    return np.dtype(np.float32) if is_narrow(dtype) else dtype.newbyteorder("=")


def info():
    """Facts of the kernel build for ``lrn.show_config()``."""
    return {
        "kernels": kernels.__name__.rpartition(".")[2],
        "openmp": kernels.openmp_enabled(),
        "max_threads": kernels.max_threads(),
        "processors": kernels.num_procs(),
        "compile_flags": kernels.compile_flags(),
    }


def _shape3(shape, channels_last):
    """The kernels' 3-D shape of an array and whether it is channels-last."""
    N = shape[0]
    C = shape[-1] if channels_last else shape[1]
    S = math.prod(shape[1:-1] if channels_last else shape[2:])
    if channels_last or S == 1:
        return (1, N * S, C), True
    return (N, C, S), False


@functools.lru_cache(maxsize=1024)
def call(p, dtype, shape):
    """The kernels' :class:`Call` of the across-channel problem ``p`` on
    C-contiguous arrays of ``dtype`` (a work dtype) and ``shape``: the 3-D
    view and the window clipped to its channels, converted once per problem
    and shape."""
    shape3, cl = _shape3(shape, p.channels_last)
    return kernels.Call(_problem(p, 0, p.window(shape3[2] if cl else shape3[1]), cl),
                        shape3, dtype, shape)


def direct(p, dtype, shape):
    """:func:`call` for arrays of ``dtype`` and ``shape`` when the kernels read
    them as they are (across channels, ``dtype`` its own work dtype), else
    None: what ``lrn._api``'s fast path caches."""
    if p.within or work_dtype(dtype, False) != dtype:
        return None
    return call(p, dtype, shape)


def _problem(p, threads, window=(1, 0), channels_last=False):
    """The kernels' ``Problem`` struct, as the dict Cython converts.  ``window``
    is ``(n, pre)`` clipped to the channel axis, which the kernels rely on;
    the within-channel passes leave it (``box_sums`` takes a window per axis)."""
    return {"n": window[0], "pre": window[1], "alpha_n": p.alpha_n, "beta": p.beta,
            "bias": p.bias, "grad_coef": p.grad_coef, "channels_last": channels_last,
            "num_threads": threads}


def forward(x, y, scale, p):
    """Write ``y`` (and ``scale`` unless None) for the problem ``p``."""
    threads = kernels.resolve_threads(p.num_threads)
    if p.within:
        acc = y if scale is None else scale
        kernels.square(x.ravel(), acc.ravel(), threads)
        _box_sums(acc, p, False, threads)
        kernels.within_finish(x.ravel(), acc.ravel(), y.ravel(),
                              None if scale is None else scale.ravel(), _problem(p, threads))
        return
    _ran(call(p, x.dtype, x.shape).forward(x, y, scale, threads))


def backward(x, y, dy, scale, dx, p):
    """Write ``dx``; ``scale`` None recomputes it."""
    threads = kernels.resolve_threads(p.num_threads)
    if p.within:
        problem = _problem(p, threads)
        if scale is None:
            scale = np.empty_like(x)
            kernels.square(x.ravel(), scale.ravel(), threads)
            _box_sums(scale, p, False, threads)
            kernels.affine(scale.ravel(), problem)
        kernels.grad_terms(dy.ravel(), y.ravel(), scale.ravel(), dx.ravel(), threads)
        _box_sums(dx, p, True, threads)
        kernels.grad_finish(x.ravel(), dy.ravel(), scale.ravel(), dx.ravel(), problem)
        return
    _ran(call(p, x.dtype, x.shape).backward(x, y, dy, scale, dx, threads))


def _ran(done):
    if not done:   # lrn._api checked the arrays: this is a bug, not a user error
        raise RuntimeError("lrn: the kernels refused arrays that lrn._api had accepted")


def _box_sums(a, p, mirrored, threads):
    """In place, the window sums of ``a`` along every spatial axis (the
    mirrored window for the backward pass's sums)."""
    for ax in p.window_axes(a.ndim):
        shape = a.shape
        n, pre = p.window(shape[ax], mirrored)
        view = a.reshape(math.prod(shape[:ax]), shape[ax], math.prod(shape[ax + 1:]))
        kernels.box_sums(view, n, pre, threads)

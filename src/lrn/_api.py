"""The public functions: check everything, pick the backend, run, finish.

``lrn`` and ``lrn_backward`` read the same way: the parameters
(:mod:`lrn._params`), then the arrays, the output buffers and whatever
depends on the data's dtype and ndim, all before anything is allocated at
input size or written; then the backend (:mod:`lrn._cpu` for host arrays,
:mod:`lrn._gpu` for CUDA arrays) runs on C-contiguous arrays in its work
dtype, and the result is copied to ``out`` or to the input's dtype where the
two differ.

Array types that are computed lazily (dask) register a handler with
:func:`register_lazy`; this module imports none of them.
"""
from __future__ import annotations

import functools
from typing import Literal, overload

import numpy as np

from . import _cpu, _gpu, _params
from ._typing import Array, ArrayInput, Convention, Layout, Region

_LAZY = []


def register_lazy(claims, forward, backward):
    """Send calls in which ``claims(array)`` holds for any array argument to
    ``forward`` (for :func:`lrn`) and ``backward`` (for :func:`lrn_backward`),
    which take the same arguments."""
    _LAZY.append((claims, forward, backward))


@functools.lru_cache(maxsize=1024, typed=True)
def _direct(size, alpha, beta, bias, layout, convention, region, num_threads, dtype, shape,
            backward):
    """``(call, num_threads)`` for host arrays of ``dtype`` and ``shape`` when
    every check of these arguments passes and the CPU kernels read such
    arrays as they are (:func:`lrn._cpu.direct`), else None.

    The fast path: what depends only on the arguments (and, with
    ``typed=True``, their types: ``size=True`` is not ``size=1``) is checked
    once per argument tuple; each call still checks its arrays
    (``Call.forward``/``backward``) and takes the general path, which raises
    where a check fails, whenever anything does not fit.
    """
    params = _params.make(size, alpha, beta, bias, layout, convention, region, num_threads)
    if dtype.type.__name__ not in _params.DTYPES or len(shape) < 2 or params.within:
        return None
    try:
        problem = params.resolve(dtype, len(shape), backward)
    except ValueError:   # the general path raises it
        return None
    call = _cpu.direct(problem, dtype, shape)
    return None if call is None else (call, params.num_threads)


# The fast path's last entry of each pass (index: backward), with the very
# argument objects it was made for: a loop or a layer passes the same objects
# on every call, and identity settles value and type (what _direct's typed key
# tells apart) in eight pointer comparisons, where _direct hashes eleven
# arguments and their types (0.1 against 0.55 us here).  The entry's Call
# still checks the arrays, dtype and shape included.
_last = [None, None]


def _recent(backward, size, alpha, beta, bias, layout, convention, region, num_threads):
    """The pass's last ``(call, num_threads)`` if made for these very objects, else None."""
    last = _last[backward]
    if (last is not None and last[0] is size and last[1] is alpha and last[2] is beta
            and last[3] is bias and last[4] is layout and last[5] is convention
            and last[6] is region and last[7] is num_threads):
        return last[8]
    return None


def _entry(backward, size, alpha, beta, bias, layout, convention, region, num_threads, x):
    """:func:`_direct` for these arguments and ``x``'s dtype and shape, kept as the
    pass's last entry."""
    try:
        direct = _direct(size, alpha, beta, bias, layout, convention, region, num_threads,
                         x.dtype, x.shape, backward)
    except TypeError:    # an unhashable argument, or a wrong type the general path names
        return None
    if direct is not None:
        _last[backward] = (size, alpha, beta, bias, layout, convention, region, num_threads,
                           direct)
    return direct


def cache_clear():
    """Forget the fast path's entries (the tests swap kernel builds)."""
    _direct.cache_clear()
    _last[:] = [None, None]


def _lazy(index, arrays):
    for entry in _LAZY:
        if any(a is not None and entry[0](a) for a in arrays):
            return entry[index]
    return None


def _backend(named):
    """The CPU or the GPU backend; all arrays must be on one side."""
    gpu = [name for name, a in named if a is not None and _gpu.holds(a)]
    if not gpu:
        return _cpu
    host = [name for name, a in named if a is not None and not _gpu.holds(a)]
    if host:
        raise TypeError(f"`{host[0]}` is a host array but `{gpu[0]}` is a GPU array; "
                        f"pass all arrays on the same device")
    _gpu.array_module(gpu[0])
    return _gpu


def _as_array(backend, obj, name):
    arr = backend.as_array(obj, name)
    _params.check_dtype(arr.dtype, name, backend is _gpu)
    return arr


def _check_like(backend, arr, name, x):
    """``arr`` (y, dy, scale) must match ``x`` in shape and dtype."""
    arr = _as_array(backend, arr, name)
    if arr.dtype != x.dtype:
        raise TypeError(f"`{name}` must have the dtype of `x` ({x.dtype}), got {arr.dtype}")
    if arr.shape != x.shape:
        raise ValueError(f"`{name}` must have the shape of `x` {x.shape}, got {arr.shape}")
    return arr


def _check_out(backend, out, name, x, inputs, may_alias):
    """A writable array matching ``x``; it may be exactly one of ``may_alias``
    but must not otherwise overlap any of ``inputs``."""
    xp = backend.array_module()
    if not isinstance(out, xp.ndarray):
        raise TypeError(f"`{name}` must be a {xp.__name__} array, got {type(out).__name__}")
    if out.dtype != x.dtype:
        raise TypeError(f"`{name}` must have dtype {x.dtype}, got {out.dtype}")
    if out.shape != x.shape:
        raise ValueError(f"`{name}` must have shape {x.shape}, got {out.shape}")
    if not getattr(out.flags, "writeable", True):
        raise ValueError(f"`{name}` must be writable, got a read-only array")
    for arg, arr in inputs:
        if (xp.may_share_memory(out, arr) and not (arg in may_alias and _same_view(out, arr))
                and xp.shares_memory(out, arr)):
            allowed = f" or exactly `{arg}`" if arg in may_alias else ""
            raise ValueError(f"`{name}` shares memory with `{arg}`; pass separate "
                             f"memory{allowed}")
    return out


def _same_view(a, b):
    return _address(a) == _address(b) and a.shape == b.shape and a.strides == b.strides


def _address(a):
    """The address of ``a``'s first element: ``ctypes.data`` for NumPy arrays
    (``a.data`` is a memoryview, which bfloat16 cannot export: ValueError),
    ``data.ptr`` for CuPy arrays."""
    return a.ctypes.data if isinstance(a, np.ndarray) else a.data.ptr


def _work(backend, a, within):
    """``a`` C-contiguous in the backend's work dtype (a copy only if needed)."""
    xp = backend.array_module()
    return xp.ascontiguousarray(a, dtype=backend.work_dtype(a.dtype, within))


def _target(backend, out, x, within):
    """(result, C-contiguous buffer the backend writes, whether to copy it over)."""
    work = backend.work_dtype(x.dtype, within)
    if out is not None and out.flags.c_contiguous and out.dtype == work:
        return out, out, False
    buf = backend.array_module().empty(x.shape, dtype=work)
    return (buf if out is None else out), buf, out is not None or work != x.dtype


def _finish(backend, result, buf, copy, dtype):
    """The result in ``dtype``: ``buf`` itself, or copied into ``result``."""
    if not copy:
        return result
    if result is buf:   # a narrow result without `out`
        return buf.astype(dtype)
    backend.array_module().copyto(result, buf, casting="unsafe")
    return result


def _split_out(out, return_scale):
    if return_scale and isinstance(out, tuple):
        if len(out) != 2:
            raise ValueError(f"`out` must be one array or a (y, scale) pair, "
                             f"got a tuple of {len(out)}")
        return out
    return out, None


def _forward_direct(x, out, return_scale, direct):
    """:func:`lrn` through a cached ``direct = (call, num_threads)``, or None
    when there is none or an array does not fit."""
    if direct is None:
        return None
    call, threads = direct
    if not return_scale:
        y = np.empty(x.shape, x.dtype) if out is None else out
        return y if call.forward(x, y, None, threads) else None
    if out is None:
        y, scale = np.empty(x.shape, x.dtype), np.empty(x.shape, x.dtype)
    elif type(out) is tuple and len(out) == 2:
        y, scale = out
    else:
        return None
    return (y, scale) if call.forward(x, y, scale, threads) else None


def _backward_direct(x, y, dy, scale, out, direct):
    """:func:`lrn_backward` through a cached ``direct``, or None when there is
    none or an array does not fit."""
    if direct is None:
        return None
    call, threads = direct
    dx = np.empty(x.shape, x.dtype) if out is None else out
    return dx if call.backward(x, y, dy, scale, dx, threads) else None


@overload
def lrn(x: ArrayInput, size: int, alpha: float = ..., beta: float = ..., bias: float = ..., *,
        layout: Layout = ..., convention: Convention = ..., region: Region = ...,
        out: Array | None = ..., return_scale: Literal[False] = ...,
        num_threads: int | None = ...) -> Array: ...
@overload
def lrn(x: ArrayInput, size: int, alpha: float = ..., beta: float = ..., bias: float = ..., *,
        layout: Layout = ..., convention: Convention = ..., region: Region = ...,
        out: tuple[Array, Array] | None = ..., return_scale: Literal[True],
        num_threads: int | None = ...) -> tuple[Array, Array]: ...


def lrn(x: ArrayInput, size: int, alpha: float = 1e-4, beta: float = 0.75, bias: float = 1.0, *,
        layout: Layout = "NCHW", convention: Convention = "onnx", region: Region = "across",
        out: Array | tuple[Array, Array] | None = None, return_scale: bool = False,
        num_threads: int | None = None) -> Array | tuple[Array, Array]:
    """Local Response Normalization across (or within) channels.

    ``scale = bias + alpha / size * sum(x[c']**2 for c' in W(c))`` and
    ``y = x * scale ** -beta``, where ``W(c) = [c - pre, c + size - 1 - pre]``
    clipped to the channels (zero padding).

    Parameters
    ----------
    x : array_like
        Input of shape ``(N, C, *spatial)`` (``layout="NCHW"``) or
        ``(N, *spatial, C)`` (``"NHWC"``), any number of spatial axes
        (2-D ``(N, C)`` included).  float16, float32 or float64; float16 is
        computed in float32, as is ml_dtypes' bfloat16.  An ndarray, a
        buffer-protocol or ``__array_interface__`` object is read without
        copying; other array_like (nested lists or tuples) go through
        ``np.asarray``.  Bool and integer data are promoted to float as
        NumPy's float functions (``np.sqrt``) promote them: bool, int8 and
        uint8 to float16, int16 and uint16 to float32, wider integers to
        float64; the result (and ``out``) has that dtype.  A CuPy (or other
        CUDA) array runs on the GPU, in its own dtype (float16/32/64 only:
        no promotion there); a ``dask.array.Array`` gives a lazy dask array
        (:mod:`lrn.dask`).
    size : int
        Window length in channels, >= 1, odd or even, may exceed C.
    alpha, beta, bias : float
        Parameters of the formula above (ONNX/Caffe2 defaults); alpha is
        divided by ``size``.  For data computed in float32 (float16, bfloat16,
        float32), ``alpha / size`` and ``bias`` must be 0 or normal float32
        numbers (a ``ValueError`` otherwise); ``beta`` is used as given.
    layout : {"NCHW", "NHWC"}
        Channels-first or channels-last.
    convention : {"onnx", "torch"}
        Where an even window sits: ``pre = (size - 1) // 2`` (ONNX, Caffe2,
        cuDNN) or ``size // 2`` (PyTorch).  Odd sizes agree.
    region : {"across", "within"}
        ``"across"`` channels, or ``"within"`` each channel: the window is a
        ``size`` x ``size`` (x ...) box of spatial neighbours, centred by the
        same ``pre`` rule on every spatial axis, and alpha is divided by
        ``size ** (number of spatial axes)`` (Caffe ``WITHIN_CHANNEL``, oneDNN).
    out : ndarray or (ndarray, ndarray), optional
        Where to write ``y`` (may be ``x`` itself, across channels), or
        ``(y, scale)`` with ``return_scale``.  Must have the shape and dtype
        of ``x``.
    return_scale : bool
        Also return ``scale`` (Caffe2's second output).
    num_threads : int, optional
        Threads: None for OpenMP's default, a negative number counts
        back from all processors (-1 = all).  Results do not depend on it.

    Returns
    -------
    y : ndarray, or (y, scale) when ``return_scale``

    Examples
    --------
    >>> import numpy as np, lrn
    >>> x = np.ones((1, 3, 2, 2), dtype=np.float32)
    >>> y = lrn.lrn(x, size=3, alpha=3.0, beta=1.0, bias=1.0)
    >>> y[0, :, 0, 0]   # scale = 1 + 3/3 * (number of channels in the window)
    array([0.33333334, 0.25      , 0.33333334], dtype=float32)

    Lists and integer data are array_like; integers are promoted as by ``np.sqrt``:

    >>> lrn.lrn([[1, 1, 1]], size=3, alpha=3.0, beta=1.0)
    array([[0.33333333, 0.25      , 0.33333333]])
    >>> lrn.lrn(np.ones((1, 3), dtype=np.int16), size=3).dtype
    dtype('float32')
    """
    if type(x) is np.ndarray and (return_scale is False or return_scale is True):
        y = _forward_direct(x, out, return_scale, _recent(
            False, size, alpha, beta, bias, layout, convention, region, num_threads))
        if y is None:
            y = _forward_direct(x, out, return_scale, _entry(
                False, size, alpha, beta, bias, layout, convention, region, num_threads, x))
        if y is not None:
            return y
    lazy = _lazy(1, (x,))
    if lazy is not None:
        return lazy(x, size, alpha, beta, bias, layout=layout, convention=convention,
                    region=region, out=out, return_scale=return_scale,
                    num_threads=num_threads)
    params = _params.make(size, alpha, beta, bias, layout, convention, region, num_threads)
    return_scale = _params.check_flag(return_scale, "return_scale")
    y_out, s_out = _split_out(out, return_scale)
    backend = _backend([("x", x), ("out", y_out), ("out[1]", s_out)])
    x = _as_array(backend, x, "x")
    _params.check_ndim(x.shape, params.within)
    problem = params.resolve(x.dtype, x.ndim)
    inputs = [("x", x)]
    if y_out is not None:
        y_out = _check_out(backend, y_out, "out", x, inputs, () if params.within else ("x",))
        inputs.append(("out[0]", y_out))
    if s_out is not None:
        s_out = _check_out(backend, s_out, "out[1]", x, inputs, ())

    y, y_buf, y_copy = _target(backend, y_out, x, params.within)
    s_buf = None
    if return_scale:
        s, s_buf, s_copy = _target(backend, s_out, x, params.within)
    backend.forward(_work(backend, x, params.within), y_buf, s_buf, problem)
    y = _finish(backend, y, y_buf, y_copy, x.dtype)
    if return_scale:
        return y, _finish(backend, s, s_buf, s_copy, x.dtype)
    return y


def lrn_backward(x: ArrayInput, y: ArrayInput, dy: ArrayInput, size: int, alpha: float = 1e-4,
                 beta: float = 0.75, bias: float = 1.0, *, scale: ArrayInput | None = None,
                 layout: Layout = "NCHW", convention: Convention = "onnx",
                 region: Region = "across", out: Array | None = None,
                 num_threads: int | None = None) -> Array:
    """Input gradient of :func:`lrn`.

    ``dx[c] = dy[c] * scale[c] ** -beta - 2 alpha beta / size * x[c] *
    sum(dy[c'] * y[c'] / scale[c'] for every c' whose window contains c)``.
    The windows containing ``c`` are ``[c - post, c + pre]``, the mirror of
    the forward window: for even sizes this is the true gradient (Caffe2's
    CPU NHWC gradient sums over the forward window instead, which is wrong
    there).

    Parameters
    ----------
    x, y, dy : array_like
        Forward input, forward output and gradient of the loss with respect
        to ``y``; same shape, and the same dtype once bool and integer data
        are promoted as in :func:`lrn`.
    size, alpha, beta, bias, layout, convention, region, num_threads
        As in :func:`lrn`; ``2 * alpha * beta / size`` must fit the compute
        precision too.
    scale : array_like, optional
        The ``scale`` that ``lrn(..., return_scale=True)`` returned; when
        absent it is recomputed from ``x``.
    out : ndarray, optional
        Where to write ``dx``; across channels it may be exactly ``x``, ``y``,
        ``dy`` or ``scale``.

    Returns
    -------
    dx : ndarray

    Examples
    --------
    >>> import numpy as np, lrn
    >>> x = np.linspace(-1, 1, 12, dtype=np.float64).reshape(2, 3, 2)
    >>> y, scale = lrn.lrn(x, size=3, alpha=0.5, return_scale=True)
    >>> dx = lrn.lrn_backward(x, y, np.ones_like(x), size=3, alpha=0.5, scale=scale)
    >>> dx.shape
    (2, 3, 2)
    """
    if type(x) is np.ndarray:
        dx = _backward_direct(x, y, dy, scale, out, _recent(
            True, size, alpha, beta, bias, layout, convention, region, num_threads))
        if dx is None:
            dx = _backward_direct(x, y, dy, scale, out, _entry(
                True, size, alpha, beta, bias, layout, convention, region, num_threads, x))
        if dx is not None:
            return dx
    lazy = _lazy(2, (x, y, dy, scale))
    if lazy is not None:
        return lazy(x, y, dy, size, alpha, beta, bias, scale=scale, layout=layout,
                    convention=convention, region=region, out=out, num_threads=num_threads)
    params = _params.make(size, alpha, beta, bias, layout, convention, region, num_threads)
    backend = _backend([("x", x), ("y", y), ("dy", dy), ("scale", scale), ("out", out)])
    x = _as_array(backend, x, "x")
    _params.check_ndim(x.shape, params.within)
    problem = params.resolve(x.dtype, x.ndim, backward=True)
    y = _check_like(backend, y, "y", x)
    dy = _check_like(backend, dy, "dy", x)
    inputs = [("x", x), ("y", y), ("dy", dy)]
    if scale is not None:
        scale = _check_like(backend, scale, "scale", x)
        inputs.append(("scale", scale))
    if out is not None:
        out = _check_out(backend, out, "out", x, inputs,
                         () if params.within else ("x", "y", "dy", "scale"))

    dx, buf, copy = _target(backend, out, x, params.within)

    def work(a):
        return None if a is None else _work(backend, a, params.within)
    backend.backward(work(x), work(y), work(dy), work(scale), buf, problem)
    return _finish(backend, dx, buf, copy, x.dtype)

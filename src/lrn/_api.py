"""The operator layer: validation, layout and dtype handling, dispatch.

Every check runs before anything is written.  The cross-channel kernels
then see C-contiguous 3-D views: channels-first ``(N, C, S)`` or
channels-last ``(1, N * S, C)`` (see ``_kernel_shape``).
"""
import math
import numbers
import operator
import os

import numpy as np

from . import _cuda, _dask, _kernels, _within

LAYOUTS = ("NCHW", "NHWC")
CONVENTIONS = ("onnx", "torch")
REGIONS = ("across", "within")
_NATIVE = (np.dtype(np.float32), np.dtype(np.float64))
_HALF = np.dtype(np.float16)


def _narrow(dtype):
    """float16, or ml_dtypes' bfloat16: stored narrow, computed in float32."""
    return dtype == _HALF or dtype.type.__name__ == "bfloat16"  # dtype.name is slow


def _select_kernels():
    """The AVX2+FMA build when the CPU has it (LRN_ISA=baseline forces the
    portable one); both give results within the accuracy contract."""
    if os.environ.get("LRN_ISA", "").lower() != "baseline" and _kernels.cpu_has_avx2_fma():
        try:
            from . import _kernels_avx2
            return _kernels_avx2
        except ImportError:
            pass
    return _kernels


kernels = _select_kernels()


# -- argument checks ---------------------------------------------------------

def _check_size(size, name="size"):
    if isinstance(size, bool) or not isinstance(size, numbers.Integral):
        raise TypeError(f"`{name}` must be a positive integer, got {size!r} "
                        f"of type {type(size).__name__}")
    size = operator.index(size)
    if size < 1:
        raise ValueError(f"`{name}` must be a positive integer, got {size}")
    return size


def _check_real(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"`{name}` must be a real number, got {value!r} "
                        f"of type {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"`{name}` must be finite, got {value}")
    return value


def _check_choice(value, name, choices):
    if not isinstance(value, str) or value not in choices:
        options = " or ".join(repr(c) for c in choices)
        raise ValueError(f"`{name}` must be {options}, got {value!r}")
    return value




def _check_flag(value, name):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"`{name}` must be True or False, got {value!r}")
    return bool(value)


def _resolve_threads(num_threads):
    """None -> OpenMP default; n > 0 -> n; n < 0 -> all processors + 1 + n."""
    if num_threads is None:
        return kernels.max_threads()
    if isinstance(num_threads, bool) or not isinstance(num_threads, numbers.Integral):
        raise TypeError(f"`num_threads` must be None or a nonzero integer, "
                        f"got {num_threads!r}")
    num_threads = operator.index(num_threads)
    if num_threads == 0:
        raise ValueError("`num_threads` must be None or a nonzero integer, got 0")
    if num_threads < 0:
        return max(1, kernels.num_procs() + 1 + num_threads)
    return num_threads


def _is_gpu_array(obj):
    if hasattr(obj, "__cuda_array_interface__"):
        return True
    device = getattr(obj, "__dlpack_device__", None)
    if device is None:
        return False
    try:
        kind = int(device()[0])
    except Exception:
        return False
    return kind in (2, 3, 13)  # kDLCUDA, kDLCUDAHost, kDLCUDAManaged


def _array_module(named):
    """NumPy, or CuPy when the arrays are on the GPU; all must be on one side."""
    gpu = [name for name, a in named if a is not None and _is_gpu_array(a)]
    if not gpu:
        return np
    host = [name for name, a in named if a is not None and not _is_gpu_array(a)]
    if host:
        raise TypeError(f"`{host[0]}` is a host array but `{gpu[0]}` is a GPU array; "
                        f"pass all arrays on the same device")
    try:
        import cupy
    except ImportError:
        raise TypeError(f"`{gpu[0]}` is a GPU array but CuPy is not installed "
                        f"(pip install 'lrn[gpu]')") from None
    return cupy


def _as_array(obj, name, xp):
    """An ndarray of ``xp`` viewing ``obj`` (no copy), or TypeError naming ``name``."""
    if xp is not np:
        if not isinstance(obj, xp.ndarray):
            obj = (xp.asarray(obj) if hasattr(obj, "__cuda_array_interface__")
                   else xp.from_dlpack(obj))
    elif not isinstance(obj, np.ndarray):
        if not hasattr(obj, "__array_interface__"):
            try:
                memoryview(obj)
            except TypeError:
                raise TypeError(f"`{name}` must be an array (an ndarray or an object "
                                f"with the buffer protocol), got "
                                f"{type(obj).__name__}") from None
        obj = np.asarray(obj)
    if obj.dtype not in _NATIVE and not (_narrow(obj.dtype) and xp is np):
        raise TypeError(f"`{name}` must have dtype float16, float32 or float64 "
                        f"(or bfloat16 on the CPU), got {obj.dtype}")
    return obj


def _check_like(arr, name, x, xp):
    """``arr`` (y, dy, scale) must match ``x`` in shape and dtype."""
    arr = _as_array(arr, name, xp)
    if arr.dtype != x.dtype:
        raise TypeError(f"`{name}` must have the dtype of `x` ({x.dtype}), "
                        f"got {arr.dtype}")
    if arr.shape != x.shape:
        raise ValueError(f"`{name}` must have the shape of `x` {x.shape}, "
                         f"got {arr.shape}")
    return arr


def _same_view(a, b):
    def ptr(v):
        return (getattr(v, "__cuda_array_interface__", None) or v.__array_interface__)["data"][0]
    return ptr(a) == ptr(b) and a.shape == b.shape and a.strides == b.strides


def _check_out(out, name, x, inputs, may_alias, xp):
    """A writable array matching ``x``; it may be exactly one of ``may_alias``
    but must not otherwise overlap any of ``inputs``."""
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


def _check_ndim(x, region):
    if x.ndim < 2:
        raise ValueError(f"`x` must have at least 2 dimensions (N, C, ...), "
                         f"got shape {x.shape}")
    if region == "within" and x.ndim < 3:
        raise ValueError(f"`x` must have a spatial axis for region='within', "
                         f"got shape {x.shape}")


# -- layout and dtype plumbing ----------------------------------------------
# The cross-channel kernels read and write float16 themselves (the CPU ones
# as uint16 bits); bfloat16, and float16 within channels, go through float32.

def _work_dtype(dtype, xp, within=False):
    if xp is not np or (dtype == _HALF and not within):
        return dtype
    return np.dtype(np.float32) if _narrow(dtype) else dtype


def _contiguous(a, xp, within=False):
    """C-contiguous in the kernel's dtype (a copy only if needed)."""
    return xp.ascontiguousarray(a, dtype=_work_dtype(a.dtype, xp, within))


def _kernel_shape(shape, channels_last):
    """The cross-channel kernels' 3-D view of an array, and whether it is
    channels-last: (N, C, S), or (1, N * S, C) -- the positions of every
    sample in one axis, so that tiles span samples.  A channels-first array
    with one position per sample is the same memory as a channels-last one."""
    N = shape[0]
    C = shape[-1] if channels_last else shape[1]
    S = math.prod(shape[1:-1] if channels_last else shape[2:])
    if channels_last or S == 1:
        return (1, N * S, C), True
    return (N, C, S), False


def _view3(a, shape3, xp):
    """C-contiguous view of ``a`` with the kernels' 3-D shape and dtype."""
    a = _contiguous(a, xp)
    if a.dtype == _HALF and xp is np:
        a = a.view(np.uint16)
    return a.reshape(shape3)


def _result(out, x, xp, within):
    """(final array, C-contiguous kernel target, needs copy back) for one output."""
    work = _work_dtype(x.dtype, xp, within)
    if out is not None and out.flags.c_contiguous and out.dtype == work:
        return out, out, False
    target = xp.empty(x.shape, dtype=work)
    return (target if out is None else out), target, out is not None or work != x.dtype


def _finish(final, target, copy_back, dtype, xp):
    """The result in ``dtype``: ``target`` itself, or copied into ``final``."""
    if copy_back:
        if final is target:  # a narrow result without `out`
            return target.astype(dtype)
        xp.copyto(final, target, casting="unsafe")
    return final


def _pre(size, convention):
    return (size - 1) // 2 if convention == "onnx" else size // 2


# -- public functions --------------------------------------------------------

def lrn(x, size, alpha=1e-4, beta=0.75, bias=1.0, *, layout="NCHW", convention="onnx",
        region="across", out=None, return_scale=False, num_threads=None):
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
        computed in float32, as is ml_dtypes' bfloat16.  Any buffer-protocol
        object is read without copying; a CuPy (or other CUDA) array runs on
        the GPU; a ``dask.array.Array`` gives a lazy dask array.
    size : int
        Window length in channels, >= 1, odd or even, may exceed C.
    alpha, beta, bias : float
        Parameters of the formula above (ONNX/Caffe2 defaults); alpha is
        divided by ``size``.
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
        Where to write ``y`` (may be ``x`` itself, across channels), or ``(y, scale)`` with
        ``return_scale``.  Must have the shape and dtype of ``x``.
    return_scale : bool
        Also return ``scale`` (Caffe2's second output).
    num_threads : int, optional
        OpenMP threads: None for the OpenMP default, a negative number counts
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
    """
    if _dask.is_dask(x):
        return _dask.lrn(x, size, alpha, beta, bias, layout=layout, convention=convention,
                         region=region, out=out, return_scale=return_scale,
                         num_threads=num_threads)
    size, alpha, beta, bias, channels_last, pre, within, nt = _check_params(
        size, alpha, beta, bias, layout, convention, region, num_threads)
    return_scale = _check_flag(return_scale, "return_scale")
    y_out = s_out = None
    if return_scale and isinstance(out, tuple):
        if len(out) != 2:
            raise ValueError(f"`out` must be one array or a (y, scale) pair, "
                             f"got a tuple of {len(out)}")
        y_out, s_out = out
    elif out is not None:
        y_out = out
    xp = _array_module([("x", x), ("out", y_out), ("out[1]", s_out)])
    x = _as_array(x, "x", xp)
    _check_ndim(x, region)
    inputs = [("x", x)]
    if y_out is not None:
        y_out = _check_out(y_out, "out", x, inputs, () if within else ("x",), xp)
        inputs.append(("out[0]", y_out))
    if s_out is not None:
        s_out = _check_out(s_out, "out[1]", x, inputs, (), xp)

    y, y_target, y_copy = _result(y_out, x, xp, within)
    s_target = None
    if return_scale:
        s, s_target, s_copy = _result(s_out, x, xp, within)
    if within and xp is np:
        _within.forward(kernels, _contiguous(x, xp, within), y_target, s_target, size, pre, alpha,
                        beta, bias, channels_last, nt)
    elif within:
        with x.device:
            _within.forward_array(xp, x, y_target, s_target, size, pre, alpha, beta, bias,
                                  channels_last)
    else:
        shape3, cl = _kernel_shape(x.shape, channels_last)
        args = (_view3(x, shape3, xp), _view3(y_target, shape3, xp),
                None if s_target is None else _view3(s_target, shape3, xp),
                size, pre, alpha, beta, bias, cl)
        if xp is np:
            kernels.forward(*args, nt)
        else:
            with x.device:  # the kernels are compiled and cached per device
                _cuda.forward(*args)
    y = _finish(y, y_target, y_copy, x.dtype, xp)
    if return_scale:
        return y, _finish(s, s_target, s_copy, x.dtype, xp)
    return y


def lrn_backward(x, y, dy, size, alpha=1e-4, beta=0.75, bias=1.0, *, scale=None,
                 layout="NCHW", convention="onnx", region="across", out=None,
                 num_threads=None):
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
        to ``y``; same shape and dtype.
    size, alpha, beta, bias, layout, convention, region, num_threads
        As in :func:`lrn`.
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
    if _dask.any_dask(x, y, dy, scale):
        return _dask.lrn_backward(x, y, dy, size, alpha, beta, bias, scale=scale,
                                  layout=layout, convention=convention, region=region,
                                  out=out, num_threads=num_threads)
    size, alpha, beta, bias, channels_last, pre, within, nt = _check_params(
        size, alpha, beta, bias, layout, convention, region, num_threads)
    xp = _array_module([("x", x), ("y", y), ("dy", dy), ("scale", scale), ("out", out)])
    x = _as_array(x, "x", xp)
    _check_ndim(x, region)
    y = _check_like(y, "y", x, xp)
    dy = _check_like(dy, "dy", x, xp)
    inputs = [("x", x), ("y", y), ("dy", dy)]
    if scale is not None:
        scale = _check_like(scale, "scale", x, xp)
        inputs.append(("scale", scale))
    if out is not None:
        out = _check_out(out, "out", x, inputs, () if within else ("x", "y", "dy", "scale"),
                         xp)

    dx, target, copy = _result(out, x, xp, within)
    if within and xp is np:
        def c(a):
            return _contiguous(a, xp, within)
        _within.backward(kernels, c(x), c(y), c(dy),
                         None if scale is None else c(scale), target, size, pre,
                         alpha, beta, bias, channels_last, nt)
    elif within:
        with x.device:
            _within.backward_array(xp, x, y, dy, scale, target, size, pre, alpha, beta, bias,
                                   channels_last)
    else:
        shape3, cl = _kernel_shape(x.shape, channels_last)

        def v(a):
            return _view3(a, shape3, xp)
        args = (v(x), v(y), v(dy), None if scale is None else v(scale), v(target),
                size, pre, alpha, beta, bias, cl)
        if xp is np:
            kernels.backward(*args, nt)
        else:
            with x.device:
                _cuda.backward(*args)
    return _finish(dx, target, copy, x.dtype, xp)


def _check_params(size, alpha, beta, bias, layout, convention, region, num_threads):
    size = _check_size(size)
    alpha = _check_real(alpha, "alpha")
    beta = _check_real(beta, "beta")
    bias = _check_real(bias, "bias")
    layout = _check_choice(layout, "layout", LAYOUTS)
    convention = _check_choice(convention, "convention", CONVENTIONS)
    region = _check_choice(region, "region", REGIONS)
    nt = _resolve_threads(num_threads)
    return (size, alpha, beta, bias, layout == "NHWC", _pre(size, convention),
            region == "within", nt)


def _gpu_info():
    """One line describing the GPU backend, or None when there is none."""
    return _cuda.device_info()

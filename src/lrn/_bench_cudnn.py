"""cuDNN's LRN (``cudnnLRNCrossChannelForward`` / ``Backward``) through ctypes, for the
GPU comparison of :mod:`lrn.benchmark` only: lrn itself never loads cuDNN.

Why ctypes: cuDNN's LRN is what TensorFlow and Caffe run on NVIDIA GPUs, and the
comparison should need nothing beyond the libcudnn that PyTorch or the nvidia-cudnn
wheel already ship (or the system's ``libcudnn.so.9``).

The mapping of lrn's parameters (cuDNN's documentation, "cudnnSetLRNDescriptor"):
``lrnN`` is the window size, ``lrnAlpha`` is divided by ``lrnN`` inside cuDNN (as lrn
divides ``alpha`` by ``size``), ``lrnBeta`` is beta, ``lrnK`` is the bias; so
``(size, alpha, beta, bias)`` pass through unchanged, within cuDNN's limits
(``1 <= lrnN <= 16``, ``lrnK >= 1e-5``, ``lrnBeta >= 0.01``).  The backward takes
``(y, dy, x)`` in that order and writes ``dx``.  Tensors are described by dims
``(N, C, *spatial)`` and strides, so channels-last data is NHWC by its strides.
"""
import ctypes
import glob
import os

# cudnnDataType_t: the data type of the tensors, which must be the arrays' dtype
DATA_TYPES = {"float32": 0, "float64": 1, "float16": 2}   # FLOAT, DOUBLE, HALF
CROSS_CHANNEL_DIM1 = 0                                      # cudnnLRNMode_t
MIN_N, MAX_N, MIN_K, MIN_BETA = 1, 16, 1e-5, 0.01           # CUDNN_LRN_MIN_N, ...
SONAME = "libcudnn.so.9"
_SUBLIBRARIES = ("libcudnn_graph.so.9", "libcudnn_ops.so.9")   # what the LRN calls need

_P = ctypes.c_void_p
_PP = ctypes.POINTER(ctypes.c_void_p)
_INTS = ctypes.POINTER(ctypes.c_int)
_SIGNATURES = {   # name: (restype, argtypes); every cudnnStatus_t is an int
    "cudnnGetVersion": (ctypes.c_size_t, []),
    "cudnnGetErrorString": (ctypes.c_char_p, [ctypes.c_int]),
    "cudnnCreate": (ctypes.c_int, [_PP]),
    "cudnnDestroy": (ctypes.c_int, [_P]),
    "cudnnSetStream": (ctypes.c_int, [_P, _P]),
    "cudnnCreateTensorDescriptor": (ctypes.c_int, [_PP]),
    "cudnnSetTensorNdDescriptor": (ctypes.c_int, [_P, ctypes.c_int, ctypes.c_int, _INTS,
                                                  _INTS]),
    "cudnnDestroyTensorDescriptor": (ctypes.c_int, [_P]),
    "cudnnCreateLRNDescriptor": (ctypes.c_int, [_PP]),
    "cudnnSetLRNDescriptor": (ctypes.c_int, [_P, ctypes.c_uint, ctypes.c_double,
                                             ctypes.c_double, ctypes.c_double]),
    "cudnnDestroyLRNDescriptor": (ctypes.c_int, [_P]),
    # (handle, normDesc, lrnMode, alpha, xDesc, x, beta, yDesc, y)
    "cudnnLRNCrossChannelForward": (ctypes.c_int, [_P, _P, ctypes.c_int, _P, _P, _P, _P,
                                                   _P, _P]),
    # (handle, normDesc, lrnMode, alpha, yDesc, y, dyDesc, dy, xDesc, x, beta, dxDesc, dx)
    "cudnnLRNCrossChannelBackward": (ctypes.c_int, [_P, _P, ctypes.c_int, _P, _P, _P, _P,
                                                    _P, _P, _P, _P, _P, _P]),
}


class Unavailable(Exception):
    """cuDNN cannot be loaded here; the message is the bench's "absent" line."""


class CudnnError(RuntimeError):
    """A cuDNN call returned a status other than CUDNN_STATUS_SUCCESS."""


def candidates():
    """Where to look for libcudnn, in order: the soname, then the nvidia-cudnn wheel and
    torch/lib.  PyTorch is imported first where it is installed: a CUDA build links its
    own libcudnn, which the soname then names, so that one process never holds two
    copies (a second one would also take the first one's sub-libraries); without
    PyTorch the soname is the loader's (the system's) libcudnn."""
    found = [SONAME]
    try:
        import nvidia.cudnn
        found += [os.path.join(d, "lib", SONAME) for d in nvidia.cudnn.__path__]
    except ImportError:
        pass
    try:
        import torch
        found += glob.glob(os.path.join(os.path.dirname(torch.__file__), "lib", SONAME))
    except Exception:   # noqa: BLE001 - not installed, or its CUDA libraries do not load
        pass
    return found


def _open(path):
    """Load libcudnn; for a file path, its sub-libraries first (global symbols), so that
    the cuDNN 9 shim's later ``dlopen`` of them by soname finds them loaded."""
    if os.path.isabs(path):
        if not os.path.exists(path):
            raise OSError(f"{path}: no such file")
        for name in _SUBLIBRARIES:
            sub = os.path.join(os.path.dirname(path), name)
            if os.path.exists(sub):
                ctypes.CDLL(sub, mode=ctypes.RTLD_GLOBAL)
    return ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)


def load(paths=None):
    """``(library, path)``: the first libcudnn of ``paths`` (default :func:`candidates`)
    that loads and has every function used here, with their ctypes signatures declared;
    :class:`Unavailable` ("cuDNN not installed ...") when none does."""
    tried = []
    for path in candidates() if paths is None else paths:
        try:
            lib = _open(path)
            for name, (restype, argtypes) in _SIGNATURES.items():
                fn = getattr(lib, name)
                fn.restype, fn.argtypes = restype, argtypes
        except (OSError, AttributeError) as e:
            tried.append(f"{path}: {e}")
            continue
        return lib, path
    raise Unavailable("cuDNN not installed (" + "; ".join(tried) + ")")


def version(lib):
    """cuDNN's version as "major.minor.patch" (cudnnGetVersion: 91400 is 9.14.0)."""
    v = int(lib.cudnnGetVersion())
    return f"{v // 10000}.{v // 100 % 100}.{v % 100}"


def check(lib, status, call):
    """Raise :class:`CudnnError` naming ``call`` and the status unless it succeeded."""
    if status != 0:
        name = lib.cudnnGetErrorString(status)
        name = name.decode() if name else "unknown status"
        raise CudnnError(f"cuDNN {call} failed: {name} (status {status})")


def descriptor_args(size, alpha, beta, bias):
    """``(lrnN, lrnAlpha, lrnBeta, lrnK)`` of ``cudnnSetLRNDescriptor`` for lrn's
    ``(size, alpha, beta, bias)``: the same numbers (see the module's docstring), or a
    ValueError where cuDNN's limits exclude them."""
    if not MIN_N <= size <= MAX_N:
        raise ValueError(f"cuDNN's LRN takes window sizes {MIN_N} to {MAX_N}, got {size}")
    if bias < MIN_K:
        raise ValueError(f"cuDNN's LRN takes bias (lrnK) >= {MIN_K}, got {bias}")
    if beta < MIN_BETA:
        raise ValueError(f"cuDNN's LRN takes beta >= {MIN_BETA}, got {beta}")
    return int(size), float(alpha), float(beta), float(bias)


def dims_and_strides(shape, layout):
    """cuDNN's tensor description of packed data of ``shape`` in ``layout``: dims
    ``(N, C, *spatial)`` and strides in elements, at least 4 of each (cuDNN's minimum:
    trailing spatial axes of length 1)."""
    if layout == "NCHW":
        dims = list(shape)
        order = list(range(len(shape)))              # memory order, outermost first
    else:
        dims = [shape[0], shape[-1], *shape[1:-1]]
        order = [0, *range(2, len(shape)), 1]       # N, spatial..., C
    strides = [0] * len(dims)
    step = 1
    for axis in reversed(order):
        strides[axis] = step
        step *= dims[axis]
    while len(dims) < 4:
        dims.append(1)
        strides.append(1)
    return dims, strides


class LRN:
    """cuDNN's cross-channel LRN on CuPy arrays of one shape, layout and dtype,
    launched on the stream ``stream`` (a CUDA stream pointer).  :meth:`close` frees
    the handle and the descriptors."""

    def __init__(self, lib, shape, layout, dtype, size, alpha, beta, bias, stream):
        self.lib = lib
        self.handles = []
        n, a, b, k = descriptor_args(size, alpha, beta, bias)
        scalar = ctypes.c_double if dtype == "float64" else ctypes.c_float
        self.one, self.zero = scalar(1.0), scalar(0.0)   # cuDNN's blending factors
        try:
            self.handle = self._create("cudnnCreate", "cudnnDestroy")
            check(lib, lib.cudnnSetStream(self.handle, stream), "cudnnSetStream")
            self.tensor = self._create("cudnnCreateTensorDescriptor",
                                       "cudnnDestroyTensorDescriptor")
            dims, strides = dims_and_strides(shape, layout)
            check(lib, lib.cudnnSetTensorNdDescriptor(
                self.tensor, DATA_TYPES[dtype], len(dims), (ctypes.c_int * len(dims))(*dims),
                (ctypes.c_int * len(dims))(*strides)), "cudnnSetTensorNdDescriptor")
            self.norm = self._create("cudnnCreateLRNDescriptor", "cudnnDestroyLRNDescriptor")
            check(lib, lib.cudnnSetLRNDescriptor(self.norm, n, a, b, k),
                  "cudnnSetLRNDescriptor")
        except Exception:
            self.close()
            raise

    def _create(self, create, destroy):
        handle = ctypes.c_void_p()
        check(self.lib, getattr(self.lib, create)(ctypes.byref(handle)), create)
        self.handles.append((destroy, handle))
        return handle

    def forward(self, x, y):
        """``y = LRN(x)`` (CuPy arrays)."""
        t = self.tensor
        check(self.lib, self.lib.cudnnLRNCrossChannelForward(
            self.handle, self.norm, CROSS_CHANNEL_DIM1, ctypes.byref(self.one), t, x.data.ptr,
            ctypes.byref(self.zero), t, y.data.ptr), "cudnnLRNCrossChannelForward")

    def backward(self, y, dy, x, dx):
        """``dx`` from the forward's ``y``, the gradient ``dy`` and the input ``x``."""
        t = self.tensor
        check(self.lib, self.lib.cudnnLRNCrossChannelBackward(
            self.handle, self.norm, CROSS_CHANNEL_DIM1, ctypes.byref(self.one), t, y.data.ptr,
            t, dy.data.ptr, t, x.data.ptr, ctypes.byref(self.zero), t, dx.data.ptr),
            "cudnnLRNCrossChannelBackward")

    def close(self):
        while self.handles:
            destroy, handle = self.handles.pop()
            getattr(self.lib, destroy)(handle)

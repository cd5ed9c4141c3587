"""GPU backend: the LRN kernels in CUDA C (``lrn/cuda/*.cu``, package data), compiled per
variant with CuPy's ``RawModule``, and their launches.

Why: LRN is memory-bound, so each kernel reads its inputs from DRAM once, coalesced, with
many loads in flight, and never subtracts to form a window sum.  Windows of up to 8
channels (what networks use) take the window kernels, which sum each window afresh from
values in registers or L1; wider windows and in-place calls take the stream
(channels-first) and tile (channels-last) kernels, which take every window sum as a block
suffix + prefix: O(1) work per element for any size.  The CUDA C lives in files rather than
Python strings so that ``nvcc`` and the tests' host emulation (which compiles the same text
with a C++ compiler) read exactly what runs.

The operator layer validates everything and hands over C-contiguous CuPy arrays in their N-D
shape, all of one dtype (float16, float32 or float64; float16 is stored as half and computed
in float32); the launch views them as 3-D: channels-first ``(N, C, S)`` or channels-last
``(N, S, C)``.
"""
import functools
import math
import pathlib

import numpy as np

from . import _arrays

# Window kernels (lrn_window.cu): windows of at most _WINDOW channels, outputs that are not
# inputs; forward in either layout, the gradient channels-first.  Channels-first
# ("planes"): a thread per _CHUNK channels of 1 or 4 positions (4 with one vector load each
# where positions and pointers allow); channels-last ("rows"): a thread per element.
# _WINDOW and _CHUNK are the kernel file's W and CHUNK.  Each kernel comes for beta = 0.75
# and for any beta.
_WINDOW = 8
_CHUNK = 8
_WINDOW_BLOCK = 256
_MAX_GRID = 1 << 20          # blocks per launch; threads loop beyond that
# Wider windows, in-place calls and the channels-last gradient:
# channels-first ("stream") kernel: one thread per (n, s) walks down the channels; adjacent
# threads read adjacent addresses.  Its running windows keep `m` slots per thread in shared
# memory (or in a global scratch array when that does not fit).  With fewer than
# _STREAM_THREADS positions, the channels are split into chunks of at least 4 windows, each
# thread re-reading the margins of its chunk.
_STREAM_BLOCK = 128
_STREAM_THREADS = 1 << 17
_SCRATCH_BLOCKS_PER_SM = 8   # threads loop over the positions when the rings are global
# Channels-last ("tile") kernel: a block stages _TILE elements (whole rows of C channels) in
# shared memory; rows longer than _TILE go to the stream kernel with S = 1.
_TILE_BLOCK = 256
_TILE = 2048
_SHARED_BYTES = 48 * 1024
_INT32_LIMIT = 2**31         # offsets from here on need the 64-bit index variant

_CUDA_DIR = pathlib.Path(__file__).with_name("cuda")
_FILES = {"window": "lrn_window.cu", "stream": "lrn_stream.cu", "tile": "lrn_tile.cu"}
_TYPES = {"float16": ("unsigned short", "float"), "float32": ("float", "float"),
          "float64": ("double", "double")}
_INDEX = {"int32": "int", "int64": "long long"}
_OPTIONS = ("-std=c++17",)


@functools.lru_cache(maxsize=None)
def _read(name):
    return (_CUDA_DIR / name).read_text()


def _source(kind, dtype, index):
    """One variant's source: its typedefs and defines, the common helpers, the kernels."""
    storage, arith = _TYPES[dtype]
    head = f"typedef {storage} T;\ntypedef {arith} A;\ntypedef {_INDEX[index]} I;\n"
    if kind == "tile":
        head += f"#define BLOCK {_TILE_BLOCK}\n#define TILE {_TILE}\n"
    return head + _read("lrn_common.cuh") + _read(_FILES[kind])


def _variants():
    for kind in _FILES:
        for dtype in _TYPES:
            for index in _INDEX:
                yield kind, dtype, index


def kernel_sources():
    """Every compiled variant as ``(name, CUDA source, NVRTC options)``.

    One variant per kernel file (``window``: windows of at most 8 channels, either layout;
    ``stream``: channels-first; ``tile``: channels-last) x dtype x index width (int32,
    int64).
    Used by the tests to compile each source with ``nvcc --ptx`` and with the host
    emulation, exactly as :func:`_module` compiles it.
    """
    return [("_".join(v), _source(*v), _OPTIONS) for v in _variants()]


@functools.lru_cache(maxsize=None)
def _module(device_id, kind, dtype, index):
    """The compiled module of one variant on one device (memoised)."""
    import cupy

    return cupy.RawModule(code=_source(kind, dtype, index), options=_OPTIONS)


@functools.lru_cache(maxsize=None)
def _function(device_id, name, kind, dtype, index):
    return _module(device_id, kind, dtype, index).get_function(name)


def _launch(direction, arrays, n_in, p):
    """Launch one kernel on N-D arrays; ``arrays``: the kernel's array arguments, the first
    ``n_in`` read."""
    import cupy

    shape3 = _shape3(arrays[0].shape, p.channels_last)
    arrays = tuple(None if a is None else a.reshape(shape3) for a in arrays)
    x = arrays[0]
    if x.size == 0:
        return
    n, c, s = (x.shape[0], x.shape[2], x.shape[1]) if p.channels_last else x.shape
    m, pre = p.window(c)
    acc = np.float64 if x.dtype.name == "float64" else np.float32
    # a thread reads channels other threads write: not when an output is also an input
    in_place = any(cupy.may_share_memory(a, b) for a in arrays[:n_in] if a is not None
                   for b in arrays[n_in:] if b is not None)
    work, shared, extra = None, 0, ()
    rows = p.channels_last or s == 1
    if m <= _WINDOW and not in_place and (direction == "forward" or not rows):
        kind, block = "window", _WINDOW_BLOCK
        beta_class = "b075" if p.beta == 0.75 else "any"
        if rows:
            name, dims, threads = f"lrn_forward_rows_{beta_class}", (n * s, c), n * s * c
            stride = 1
        else:
            vector = direction == "forward" and s % 4 == 0 and all(
                a.data.ptr % 16 == 0 for a in arrays if a is not None)
            name = (f"lrn_forward_planes{4 if vector else 1}_{beta_class}"
                    if direction == "forward" else f"lrn_backward_planes_{beta_class}")
            dims, threads = (n, c, s), n * -(-c // _CHUNK) * (s // 4 if vector else s)
            stride = s
        grid = min(-(-threads // block), _MAX_GRID)
        # the largest offset: a thread's index runs to the thread count plus one grid's
        # stride, a channel index _CHUNK + 2 * _WINDOW past the array's
        largest = x.size + grid * block + (_CHUNK + 2 * _WINDOW) * stride
    elif (p.channels_last or s == 1) and c <= _TILE:
        name, kind, block = f"lrn_{direction}", "tile", _TILE_BLOCK
        rows_per_block = _TILE // c
        grid = -(-n * s // rows_per_block)
        dims = (n * s, c, rows_per_block)
        largest = x.size + max(_TILE, grid * block)
    else:
        if p.channels_last:   # rows too long for the tile kernel: walk each row
            n, s = n * s, 1
        name, kind, block = f"lrn_{direction}", "stream", _STREAM_BLOCK
        # chunks read their neighbours' margins: not in place
        chunks = 1 if in_place else max(1, min(-(-_STREAM_THREADS // (n * s)), c // (4 * m)))
        length = -(-c // chunks // m) * m   # a multiple of m: same sums as without chunks
        grid = -(-n * s * -(-c // length) // block)
        rings = 3 if direction == "backward" and arrays[3] is None else 1
        shared = rings * m * block * np.dtype(acc).itemsize
        if shared > _SHARED_BYTES:   # rings in global scratch, for a bounded number of threads
            sms = cupy.cuda.Device().attributes["MultiProcessorCount"]
            grid = min(grid, sms * _SCRATCH_BLOCKS_PER_SM)
            work, shared = cupy.empty(rings * m * grid * block, dtype=acc), 0
        dims = (n, c, s, length)
        extra = (work,)
        # a thread's position index runs to the element count plus one grid's stride, its
        # channel indices to c + pre + post + 8
        largest = max(x.size + grid * block, 3 * c + 16, 0 if work is None else work.size)
    index = "int32" if largest < _INT32_LIMIT else "int64"
    itype = np.int32 if index == "int32" else np.int64
    scalars = [acc(p.alpha_n), np.float64(p.beta), acc(p.bias)]   # beta: a double always
    if direction == "backward":
        scalars.append(acc(p.grad_coef))
    args = (*arrays, *extra, *(itype(v) for v in (*dims, pre, m - 1 - pre)), *scalars)
    kernel = _function(cupy.cuda.Device().id, name, kind, x.dtype.name, index)
    kernel((grid,), (block,), args, shared_mem=shared)


def _shape3(shape, channels_last):
    """(N, C, S) or, channels-last, (N, S, C)."""
    N = shape[0]
    if channels_last:
        return (N, math.prod(shape[1:-1]), shape[-1])
    return (N, shape[1], math.prod(shape[2:]))


def forward(x, y, scale, p):
    """LRN forward on the GPU: write ``y`` (and ``scale`` unless it is None).

    ``x``, ``y``, ``scale``: C-contiguous CuPy arrays of one dtype (float16, float32,
    float64) on one device, in their N-D shape, for the :class:`lrn._params.Problem`
    ``p``.  ``y`` may be ``x`` (across channels).  Launches on CuPy's current stream
    and returns without synchronising.
    """
    with x.device:   # the kernels are compiled and cached per device
        if p.within:
            _within_forward(x, y, scale, p)
        else:
            _launch("forward", (x, y, scale), 1, p)


def backward(x, y, dy, scale, dx, p):
    """LRN input gradient on the GPU: write ``dx``.

    Arrays as in :func:`forward`; ``scale`` is the forward's scale, or None to recompute
    it.  The window sum of ``dy * y / scale`` runs over the mirrored window
    ``[c - post, c + pre]`` (the true gradient for even sizes).  ``dx`` may be exactly one
    of the inputs (across channels).  Launches on CuPy's current stream.
    """
    with x.device:
        if p.within:
            _within_backward(x, y, dy, scale, dx, p)
        else:
            _launch("backward", (x, y, dy, scale, dx), 4, p)


def _wide(a):
    """float16 is computed in float32 by the array operations."""
    return a.astype("float32") if a.dtype.itemsize == 2 else a


def _within_forward(x, y, scale, p):
    cupy = array_module()
    y_w, s_w = _arrays.forward(cupy, _wide(x), p)
    y[...] = y_w
    if scale is not None:
        scale[...] = s_w


def _within_backward(x, y, dy, scale, dx, p):
    cupy = array_module()
    dx[...] = _arrays.backward(cupy, _wide(x), _wide(y), _wide(dy),
                               None if scale is None else _wide(scale), p)


# -- arrays ----------------------------------------------------------------------

def holds(obj):
    """Whether ``obj`` is a CUDA array (``__cuda_array_interface__`` or a CUDA DLPack
    device), without importing CuPy."""
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


def array_module(name="x"):
    """CuPy, or a TypeError naming the argument ``name`` that is a GPU array."""
    try:
        import cupy
    except ImportError:
        raise TypeError(f"`{name}` is a GPU array but CuPy is not installed "
                        f"(pip install 'lrnorm[gpu]')") from None
    return cupy


def as_array(obj, name):
    """A CuPy array viewing the CUDA array ``obj`` (no copy), safe to use on CuPy's
    current stream, where lrn launches.

    The producer's stream is honoured both ways a foreign array can come:

    - DLPack, preferred where ``obj`` has both (PyTorch tensors do, and their
      ``__cuda_array_interface__`` is version 2, which names no stream):
      ``cupy.from_dlpack`` passes CuPy's current stream to
      ``obj.__dlpack__(stream=...)``, and the producer makes that stream wait for
      its own work on the data (the DLPack protocol; PyTorch records an event on its
      current stream);
    - ``__cuda_array_interface__`` version 3 with a ``"stream"``: CuPy's current
      stream waits for an event recorded on that stream (asynchronously, whatever
      ``CUPY_CUDA_ARRAY_INTERFACE_SYNC`` says: with its default, CuPy's ``asarray``
      also synchronises the host with that stream).  A missing or None stream (and
      version 2) means the producer promises the data is ready.
    """
    cupy = array_module(name)
    if isinstance(obj, cupy.ndarray):
        return obj
    if hasattr(obj, "__dlpack__") and hasattr(obj, "__dlpack_device__"):
        try:
            return cupy.from_dlpack(obj)
        except BufferError as e:   # the producer refuses (PyTorch: a tensor that requires grad)
            raise TypeError(f"`{name}` is a GPU array its library will not export through "
                            f"DLPack ({e}); for autograd, use lrn.torch") from None
    _wait_for_producer(cupy, obj.__cuda_array_interface__)
    return cupy.asarray(obj)


def _wait_for_producer(cupy, interface):
    """Order CuPy's current stream after the ``"stream"`` of a version-3
    ``__cuda_array_interface__`` (1 and 2 name the legacy and per-thread default
    streams, valid handles to record on)."""
    stream = interface.get("stream") if interface.get("version", 0) >= 3 else None
    if stream is None:
        return
    current = cupy.cuda.get_current_stream()
    if stream == current.ptr:
        return
    event = cupy.cuda.Event(disable_timing=True)
    event.record(cupy.cuda.ExternalStream(stream))
    current.wait_event(event)


def work_dtype(dtype, within):
    """The kernels read and write float16 (as half), float32 and float64 as they are."""
    return dtype


def info():
    """One line describing the current CUDA device for CuPy, or None if there is none."""
    try:
        import cupy

        device = cupy.cuda.Device()
        props = cupy.cuda.runtime.getDeviceProperties(device.id)
    except Exception:   # no CuPy, no driver, no device: no GPU backend
        return None
    name = props["name"]
    name = name.decode() if isinstance(name, bytes) else name
    return (f"{name} (device {device.id}, compute capability {props['major']}."
            f"{props['minor']}, {props['totalGlobalMem'] / 2**30:.0f} GiB), "
            f"CuPy {cupy.__version__}")

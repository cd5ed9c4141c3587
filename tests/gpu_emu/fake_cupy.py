"""A NumPy-backed stand-in for the part of CuPy that lrn uses, with emulated kernels.

Installed as ``sys.modules["cupy"]`` by the tests' ``cp`` fixture, it lets ``lrn.lrn`` and
``lrn.lrn_backward`` run end to end through ``lrn._api`` and ``lrn._gpu`` on a machine
without a GPU: "device" arrays are NumPy arrays of the :class:`ndarray` subclass (they
expose ``__cuda_array_interface__``, so ``lrn._gpu.holds`` claims them), and
:class:`RawModule` compiles the CUDA source it is given with the host C++ compiler
(:mod:`gpu_emu.emulator`).  Like CuPy, ``empty`` does not initialise (here: NaN), and
``asarray`` of a host array copies it.  Allocations are fenced by guard bytes that every
launch checks on its array arguments.
"""
import contextlib
import ctypes
import math
import time
import types
import weakref

import numpy as np

from . import emulator

__version__ = "0.0-emulated"

float16, float32, float64, int32 = np.float16, np.float32, np.float64, np.int32
nan = np.nan
sqrt = np.sqrt
abs = np.abs
may_share_memory = np.may_share_memory
shares_memory = np.shares_memory

MULTIPROCESSORS = 2   # few: the global-scratch launches loop over positions


class _Pointer:
    def __init__(self, ptr):
        self.ptr = ptr


class UnownedMemory:
    """``cupy.cuda.UnownedMemory(ptr, size, owner, device_id)``: memory another library
    owns (here host memory), kept alive through ``owner``."""

    def __init__(self, ptr, size, owner, device_id=-1):
        self.ptr, self.size, self.owner, self.device_id = ptr, size, owner, device_id


class MemoryPointer:
    def __init__(self, mem, offset):
        self.mem, self.ptr = mem, mem.ptr + offset


class ndarray(np.ndarray):
    """A "device" array: NumPy memory that says it is CUDA memory.  Constructed as CuPy's
    ``ndarray(shape, dtype, memptr, strides)`` it views the memory ``memptr`` points to."""

    def __new__(cls, shape, dtype=float, memptr=None, strides=None, order="C"):
        if memptr is None:
            return _alloc(tuple(shape), dtype)
        buffer = (ctypes.c_char * (memptr.mem.size - (memptr.ptr - memptr.mem.ptr))
                  ).from_address(memptr.ptr)
        view = np.ndarray(shape, dtype, buffer=buffer, strides=strides).view(cls)
        view._memptr = memptr   # keeps the owner alive, as CuPy's array does
        return view

    @property
    def __cuda_array_interface__(self):
        return {"shape": self.shape, "typestr": self.dtype.str, "version": 3,
                "data": (self.ctypes.data, not self.flags.writeable),
                "strides": None if self.flags.c_contiguous else self.strides}

    @property
    def data(self):   # CuPy: a MemoryPointer with .ptr
        return _Pointer(self.ctypes.data)

    @property
    def device(self):
        return Device(0)

    def get(self):
        return np.array(self)

    def copy(self, order="C"):
        return _device_copy(np.array(self, order=order))


class _Interface:
    """The host view of a CUDA array interface (the emulated device memory is host memory)."""

    def __init__(self, interface):
        self.__array_interface__ = {k: interface[k] for k in ("shape", "typestr", "data",
                                                                "strides")} | {"version": 3}


def _device(a):
    return a.view(ndarray)


# Every allocation sits between two guard bands of a known byte: a kernel that writes past
# either end of an array argument fails its launch (see RawModule).
GUARD_BYTES, GUARD_VALUE = 256, 0xA5
_guarded = weakref.WeakValueDictionary()   # id -> the raw buffer


def _alloc(shape, dtype):
    dtype = np.dtype(dtype)
    nbytes = math.prod(shape) * dtype.itemsize
    raw = np.full(nbytes + 2 * GUARD_BYTES, GUARD_VALUE, np.uint8)
    _guarded[id(raw)] = raw
    return _device(raw[GUARD_BYTES:GUARD_BYTES + nbytes].view(dtype).reshape(shape))


def _device_copy(host, dtype=None):
    host = np.asarray(host, dtype=dtype)
    a = _alloc(host.shape, host.dtype)
    a[...] = host
    return a


def guards_intact(a):
    """Whether the guard bands around the allocation that ``a`` views are untouched."""
    root = a
    while isinstance(root.base, np.ndarray):
        root = root.base
    if _guarded.get(id(root)) is not root:
        return True
    return bool((root[:GUARD_BYTES] == GUARD_VALUE).all()
                and (root[-GUARD_BYTES:] == GUARD_VALUE).all())


def asarray(obj, dtype=None):
    if isinstance(obj, ndarray):
        return obj if dtype is None or obj.dtype == dtype else obj.astype(dtype)
    if hasattr(obj, "__cuda_array_interface__"):   # a foreign CUDA array: a view
        view = np.asarray(_Interface(obj.__cuda_array_interface__))
        return _device(view if dtype is None else view.astype(dtype))
    return _device_copy(obj, dtype)   # host data: copied to the "device"


def asnumpy(a):
    return np.array(a)


def from_dlpack(obj):
    """A view of a DLPack producer that says it is on a CUDA device (see DLPackDevice);
    the producer is asked to export first, as CuPy does (it may refuse: BufferError)."""
    obj.__dlpack__()
    return _device(np.from_dlpack(obj.host))


def empty(shape, dtype=np.float64):
    return full(shape, np.nan, dtype)


def full(shape, value, dtype=np.float64):
    a = _alloc(tuple(shape) if np.iterable(shape) else (shape,), dtype)
    a[...] = value
    return a


def zeros(shape, dtype=np.float64):
    return full(shape, 0, dtype)


def zeros_like(a, dtype=None):
    return full(a.shape, 0, a.dtype if dtype is None else dtype)


def empty_like(a, dtype=None):
    return full(a.shape, np.nan, a.dtype if dtype is None else dtype)


def ascontiguousarray(a, dtype=None):
    if a.flags.c_contiguous and (dtype is None or a.dtype == dtype):
        return a
    return _device_copy(a, dtype)


def asfortranarray(a):
    return _device(np.asfortranarray(a))


def copyto(dst, src, casting="same_kind"):
    np.copyto(dst, src, casting=casting)


class Device:
    """The one emulated device."""

    attributes = {"MultiProcessorCount": MULTIPROCESSORS}

    def __init__(self, device=None):
        self.id = 0 if device is None else int(device)
        if self.id != 0:
            raise ValueError(f"emulated device {self.id}: there is only device 0")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _properties(device_id):
    return {"name": b"Emulated GPU", "major": 9, "minor": 0, "totalGlobalMem": 2**34}


class RawModule(emulator.Module):
    """``cupy.RawModule(code=..., options=...)``: compiled for the host; each launch checks
    the guard bands of its array arguments."""

    def get_function(self, name):
        kernel = super().get_function(name)

        def launch(grid, block, args, shared_mem=0):
            kernel(grid, block, args, shared_mem=shared_mem)
            for i, a in enumerate(args):
                if isinstance(a, ndarray) and not guards_intact(a):
                    raise RuntimeError(f"{name}: argument {i} was written out of bounds")
        return launch


class Stream:
    """An emulated stream.  The emulated device runs each launch to completion at once,
    in program order, so there is nothing to order; a stream records the events it was
    told to wait for, which is what the tests check (which stream lrn orders after which).
    ``with stream:`` makes it current, as in CuPy."""

    def __init__(self, ptr=0):
        self.ptr = ptr
        self.waited = []

    def wait_event(self, event):
        self.waited.append(event)

    def __enter__(self):
        _current_streams.append(self)
        return self

    def __exit__(self, *exc):
        _current_streams.pop()
        return False


_current_streams = [Stream(0)]   # the null stream at the bottom


def get_current_stream():
    return _current_streams[-1]


def ExternalStream(ptr, device_id=-1):
    return Stream(ptr)


class Event:
    """Records its stream and the host time: the emulated device has finished
    everything launched before, so that is when the event completes."""

    def __init__(self, disable_timing=False):
        self.stream = None
        self.time = None

    def record(self, stream=None):
        self.stream = get_current_stream() if stream is None else stream
        self.time = time.perf_counter()

    def synchronize(self):
        pass


def get_elapsed_time(start, end):
    return (end.time - start.time) * 1e3   # ms, as CuPy


_allocators = [None]   # None: the (emulated) memory pool


@contextlib.contextmanager
def using_allocator(allocator=None):
    """Records the allocator (``current_allocator``); the emulated arrays stay NumPy
    memory, so it is never called."""
    _allocators.append(allocator)
    try:
        yield
    finally:
        _allocators.pop()


def current_allocator():
    return _allocators[-1]


cuda = types.SimpleNamespace(
    Device=Device, Stream=Stream, ExternalStream=ExternalStream, Event=Event,
    get_current_stream=get_current_stream, using_allocator=using_allocator,
    get_elapsed_time=get_elapsed_time, UnownedMemory=UnownedMemory, MemoryPointer=MemoryPointer,
    runtime=types.SimpleNamespace(getDeviceProperties=_properties,
                                  getDeviceCount=lambda: 1),
)
testing = types.SimpleNamespace(assert_array_equal=np.testing.assert_array_equal)


class ForeignArray:
    """Another library's CUDA array (``__cuda_array_interface__`` only) over host memory;
    ``stream``: the interface's ``"stream"`` entry (absent when not given)."""

    _ABSENT = object()

    def __init__(self, host, stream=_ABSENT, version=3):
        self.host, self.stream, self.version = host, stream, version

    @property
    def __cuda_array_interface__(self):
        interface = ndarray.__cuda_array_interface__.fget(self.host.view(ndarray))
        interface["version"] = self.version
        if self.stream is not self._ABSENT:
            interface["stream"] = self.stream
        return interface


class DLPackDevice:
    """A DLPack producer on "CUDA device 0" holding host memory: what ``from_dlpack``
    reads without ``__cuda_array_interface__``."""

    def __init__(self, host):
        self.host = host

    def __dlpack_device__(self):
        return (2, 0)   # kDLCUDA

    def __dlpack__(self, **kwargs):
        return self.host.__dlpack__(**kwargs)

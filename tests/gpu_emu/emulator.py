"""Compile CUDA kernel sources with the host C++ compiler and launch them from Python.

The source is compiled unchanged, with ``cuda_shim.h`` force-included before it and one
``EMU_EXPORT(name)`` line per ``extern "C" __global__`` kernel appended, into a shared
library cached under the temporary directory by a hash of everything that goes into it
(compile once per source, across test sessions).  :class:`Module` mirrors the part of
``cupy.RawModule`` lrn uses: ``get_function(name)(grid, block, args, shared_mem=...)``,
with the arguments marshalled as CuPy does (arrays by device pointer, NumPy scalars by
value), checked against the kernel's parameter sizes.
"""
import ctypes
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

import numpy as np

SHIM = Path(__file__).with_name("cuda_shim.h")
FLAGS = ("-std=c++17", "-O1", "-fno-strict-aliasing", "-shared", "-fPIC",
         "-Wno-unknown-pragmas")
_KERNEL = re.compile(r'extern\s+"C"\s+__global__\s+void\s+(\w+)\s*\(')
_lock = threading.Lock()
_loaded = {}


def compiler():
    """The host C++ compiler (``$CXX``, g++, clang++ or c++), or None."""
    for name in (os.environ.get("CXX"), "g++", "clang++", "c++"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def kernel_names(code):
    return _KERNEL.findall(code)


def build(code):
    """Path of the shared library of ``code`` (compiled on first use)."""
    cxx = compiler()
    if cxx is None:
        raise RuntimeError("no C++ compiler found")
    text = code + "\n" + "".join(f"EMU_EXPORT({k})\n" for k in kernel_names(code))
    key = hashlib.sha256("\0".join((cxx, *FLAGS, SHIM.read_text(), text)).encode())
    cache = Path(tempfile.gettempdir()) / f"lrn-gpu-emu-{os.getuid()}"
    cache.mkdir(exist_ok=True)
    lib = cache / f"{key.hexdigest()[:24]}.so"
    if not lib.exists():
        src = cache / f"{lib.stem}.{os.getpid()}.{threading.get_ident()}.cpp"
        src.write_text(text)
        tmp = src.with_suffix(".so")
        run = subprocess.run([cxx, *FLAGS, "-include", str(SHIM), str(src), "-o", str(tmp)],
                             capture_output=True, text=True)
        src.unlink()
        if run.returncode:
            raise RuntimeError(f"host compile of a kernel source failed:\n{run.stderr}")
        os.replace(tmp, lib)   # atomic: concurrent builders of one source agree
    return lib


def load(code):
    """The loaded library of ``code`` (one per source and process)."""
    with _lock:
        if code not in _loaded:
            _loaded[code] = ctypes.CDLL(str(build(code)))
        return _loaded[code]


_SCALARS = {np.dtype(np.int32): ctypes.c_int32, np.dtype(np.int64): ctypes.c_int64,
            np.dtype(np.uint32): ctypes.c_uint32, np.dtype(np.float32): ctypes.c_float,
            np.dtype(np.float64): ctypes.c_double}


def _argument(value):
    """A ctypes value for one kernel argument, as CuPy would pass it."""
    if value is None:
        return ctypes.c_void_p(0)
    pointer = getattr(value, "__cuda_array_interface__", None)
    if pointer is not None:
        return ctypes.c_void_p(pointer["data"][0])
    if isinstance(value, np.generic) and value.dtype in _SCALARS:
        return _SCALARS[value.dtype](value.item())
    raise TypeError(f"kernel argument of type {type(value).__name__}: pass a device array, "
                    f"None or a NumPy scalar of a sized type")


class Function:
    """One emulated kernel: ``f(grid, block, args, shared_mem=0)``."""

    def __init__(self, lib, name):
        self.name = name
        self._launch = getattr(lib, f"emu_launch_{name}")
        self._launch.restype = ctypes.c_int
        self._launch.argtypes = (ctypes.c_uint, ctypes.c_uint, ctypes.POINTER(ctypes.c_void_p),
                                 ctypes.c_size_t)
        sizes = (ctypes.c_size_t * 64)()
        count = getattr(lib, f"emu_signature_{name}")(sizes)
        self.param_sizes = tuple(sizes[:count])

    def __call__(self, grid, block, args, shared_mem=0):
        grid, block = tuple(grid), tuple(block)
        if len(grid) != 1 or len(block) != 1 or min(grid[0], block[0]) < 1:
            raise ValueError(f"{self.name}: 1-D grid and block expected, got {grid}, {block}")
        if block[0] > 1024:
            raise ValueError(f"{self.name}: {block[0]} threads per block (CUDA: 1024 at most)")
        values = [_argument(a) for a in args]
        sizes = tuple(ctypes.sizeof(v) for v in values)
        if sizes != self.param_sizes:
            raise TypeError(f"{self.name}: argument sizes {sizes} do not match the kernel's "
                            f"parameters {self.param_sizes}")
        pointers = (ctypes.c_void_p * max(1, len(values)))(
            *(ctypes.cast(ctypes.pointer(v), ctypes.c_void_p) for v in values))
        with _lock:   # one launch at a time: the emulated device's state is global
            status = self._launch(grid[0], block[0], pointers, shared_mem)
        if status == 1:
            raise ValueError(f"{self.name}: {shared_mem} bytes of dynamic shared memory "
                             f"exceed the emulated 48 KiB")
        if status:
            raise RuntimeError(f"{self.name}: the threads of a block diverge at __syncthreads")


class Module:
    """``cupy.RawModule(code=..., options=...)`` on the host."""

    def __init__(self, code, options=()):
        self.code, self.options = code, tuple(options)
        self._lib = load(code)

    def get_function(self, name):
        if name not in kernel_names(self.code):
            raise AttributeError(f"no kernel {name!r} in the module")
        return Function(self._lib, name)


def half_conversions(code):
    """The library's ``(float -> half bits, half bits -> float)`` conversions, on arrays."""
    lib = load(code)

    def to_half(a):
        a = np.ascontiguousarray(a, dtype=np.float32)
        out = np.empty(a.shape, np.uint16)
        lib.emu_float_to_half(ctypes.c_void_p(a.ctypes.data), ctypes.c_void_p(out.ctypes.data),
                              ctypes.c_size_t(a.size))
        return out

    def to_float(h):
        h = np.ascontiguousarray(h, dtype=np.uint16)
        out = np.empty(h.shape, np.float32)
        lib.emu_half_to_float(ctypes.c_void_p(h.ctypes.data), ctypes.c_void_p(out.ctypes.data),
                              ctypes.c_size_t(h.size))
        return out

    return to_half, to_float

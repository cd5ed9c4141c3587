# Why: LRN is memory-bound, so each kernel streams its inputs once, coalesced (channels-first: a
# thread per position walks the channels; channels-last: rows staged in shared memory), and takes
# every window sum as block suffix + prefix: no subtraction, O(1) work per element for any size.
"""GPU kernels (CuPy ``RawModule``, CUDA C sources below) and their launches.

The operator layer validates everything and hands over C-contiguous CuPy arrays viewed as
3-D: channels-first ``(N, C, S)`` or channels-last ``(N, S, C)``, all of one dtype
(float16, float32 or float64; float16 is stored as half and computed in float32).
"""
import functools
import math

import numpy as np

from . import _arrays

# Channels-first ("stream") kernel: one thread per (n, s) walks down the channels; adjacent
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

_TYPES = {"float16": ("unsigned short", "float"), "float32": ("float", "float"),
          "float64": ("double", "double")}
_INDEX = {"int32": "int", "int64": "long long"}
_OPTIONS = ("-std=c++17",)

_BASE = r"""
// Storage T, arithmetic A (float for half), index I: set by the typedefs above.
__device__ __forceinline__ float ld(const unsigned short* p) {
    float v;
    asm("cvt.f32.f16 %0, %1;" : "=f"(v) : "h"(*p));
    return v;
}
__device__ __forceinline__ float ld(const float* p) { return *p; }
__device__ __forceinline__ double ld(const double* p) { return *p; }
__device__ __forceinline__ void st(unsigned short* p, float v) {
    unsigned short h;
    asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(v));
    *p = h;
}
__device__ __forceinline__ void st(float* p, float v) { *p = v; }
__device__ __forceinline__ void st(double* p, double v) { *p = v; }

// s ** -beta with exact forms for the usual exponents; IEEE results for 0, inf, NaN, s < 0.
__device__ __forceinline__ float pow_neg(float s, float beta) {
    if (beta == 0.75f) { float r = rsqrtf(s); return r * sqrtf(r); }  // s*sqrt(s) overflows
    if (beta == 0.5f) return rsqrtf(s);
    if (beta == 1.0f) return 1.0f / s;
    return powf(s, -beta);
}
__device__ __forceinline__ double pow_neg(double s, double beta) {
    if (beta == 0.75) { double r = 1.0 / sqrt(s); return r * sqrt(r); }
    if (beta == 0.5) return 1.0 / sqrt(s);
    if (beta == 1.0) return 1.0 / s;
    return pow(s, -beta);
}
"""

_STREAM = r"""
#define U ((int)(16 / sizeof(T)))   // channels loaded ahead per step: 16 bytes per thread

// Unit of work g of a stream kernel: position (n, s) = g % (N * S) (its offset `off` in the
// array) and channels [c0, c1), the chunk g / (N * S) of length L.
struct Chunk {
    I off, c0, c1;
};
__device__ Chunk chunk(I g, I N, I C, I S, I L) {
    const I pos = g % (N * S), c0 = g / (N * S) * L;
    return {pos + pos / S * (C - 1) * S, c0, c0 + L < C ? c0 + L : C};
}

// Thread-private slots p[i * stride], i < m: slot k of a shared-memory array (work == 0)
// or of the global scratch `work`, both laid out so that a warp touches consecutive words.
struct Slots {
    A* p;
    I stride;
};
__device__ Slots slots(A* work, int k, I m) {
    extern __shared__ __align__(16) unsigned char smem_bytes[];
    const I g = (I)blockIdx.x * blockDim.x + threadIdx.x;
    if (work) {
        const I stride = (I)gridDim.x * blockDim.x;
        return {work + k * m * stride + g, stride};
    }
    return {(A*)smem_bytes + k * m * blockDim.x + threadIdx.x, (I)blockDim.x};
}

// Sum of the last m values pushed (zeros before the first).  The stream is cut into blocks
// of m: the slots hold the previous block's suffix sums, `run` the current block's prefix
// sum, and every window is one suffix plus one prefix.
struct Ring {
    Slots s;
    I m, j;
    A run;
    __device__ Ring(Slots s_, I m_) : s(s_), m(m_), j(0), run(0) {
        for (I i = 0; i < m; ++i) s.p[i * s.stride] = 0;
    }
    __device__ A push(A q) {
        run += q;
        s.p[j * s.stride] = q;
        if (++j < m) return run + s.p[j * s.stride];
        const A total = run;
        A acc = 0;
        for (I i = m - 1; i >= 0; --i) {
            acc += s.p[i * s.stride];
            s.p[i * s.stride] = acc;
        }
        run = 0;
        j = 0;
        return total;
    }
};
"""

_TILED = r"""
#define PER (TILE / BLOCK)

// In-place: P holds the values on entry; afterwards P and Sf hold their prefix and suffix
// sums within blocks of m channels of each of the `rows` rows of C channels.
__device__ void block_scans(A* P, A* Sf, int rows, int C, int m) {
    const int nseg = (C + m - 1) / m;
    for (int g = threadIdx.x; g < rows * nseg; g += BLOCK) {
        const int r = g / nseg;
        const int lo = r * C + (g - r * nseg) * m;
        const int hi = lo + m < (r + 1) * C ? lo + m : (r + 1) * C;
        A acc = 0;
        for (int i = hi - 1; i >= lo; --i) {
            acc += P[i];
            Sf[i] = acc;
        }
        acc = 0;
        for (int i = lo; i < hi; ++i) {
            acc += P[i];
            P[i] = acc;
        }
    }
}

// Sum over channels [c - before, c - before + m - 1] & [0, C) of the row starting at `row`:
// a suffix of one block plus a prefix of the next.
__device__ A window(const A* P, const A* Sf, int row, int c, int before, int m, int C) {
    const int a = c - before;
    const int b = a + m - 1 < C - 1 ? a + m - 1 : C - 1;
    if (a < 0) return P[row + b];
    A sum = Sf[row + a];
    if (b >= (a / m + 1) * m) sum += P[row + b];
    return sum;
}
"""

# Inputs are read before the outputs at the same index are written, so an output may be
# exactly one of the inputs (in-place); pointers are therefore not __restrict__.
_KERNELS = {
    ("forward", "stream"): r"""
__device__ void forward_chunk(const T* x, T* y, T* scale, A* work, I C, I S, I c0, I c1,
                              I pre, I post, A coef, A beta, A bias) {
    Ring sq(slots(work, 0, pre + post + 1), pre + post + 1);
    for (I b0 = c0 - pre; b0 < c1 + post; b0 += U) {   // b: newest channel in the window
        A q[U];
#pragma unroll
        for (int u = 0; u < U; ++u) {
            const I b = b0 + u;
            const A v = b >= 0 && b < C ? ld(x + b * S) : A(0);
            q[u] = v * v;
        }
#pragma unroll
        for (int u = 0; u < U; ++u) {
            const A s = bias + coef * sq.push(q[u]);
            const I c = b0 + u - post;
            if (c >= c0 && c < c1) {
                st(y + c * S, ld(x + c * S) * pow_neg(s, beta));
                if (scale) st(scale + c * S, s);
            }
        }
    }
}

extern "C" __global__ void lrn_forward(const T* x, T* y, T* scale, A* work, I N, I C, I S,
                                       I L, I pre, I post, A coef, A beta, A bias) {
    const I count = N * S * ((C + L - 1) / L);
    for (I g = (I)blockIdx.x * blockDim.x + threadIdx.x; g < count;
         g += (I)gridDim.x * blockDim.x) {
        const Chunk k = chunk(g, N, C, S, L);
        forward_chunk(x + k.off, y + k.off, scale ? scale + k.off : scale, work, C, S, k.c0,
                      k.c1, pre, post, coef, beta, bias);
    }
}
""",
    ("backward", "stream"): r"""
__device__ void backward_chunk(const T* x, const T* y, const T* dy, const T* scale, T* dx,
                               A* work, I C, I S, I c0, I c1, I pre, I post, A coef, A beta,
                               A bias, A coef2) {
    const I m = pre + post + 1;
    Ring tsum(slots(work, 0, m), m);   // sums of t = dy * y / scale over [c - post, c + pre]
    if (scale) {
        for (I b0 = c0 - post; b0 < c1 + pre; b0 += U) {   // b: newest channel of t
            A t[U];
#pragma unroll
            for (int u = 0; u < U; ++u) {
                const I b = b0 + u;
                t[u] = b >= 0 && b < C ? ld(dy + b * S) * ld(y + b * S) / ld(scale + b * S)
                                       : A(0);
            }
#pragma unroll
            for (int u = 0; u < U; ++u) {
                const A sum = tsum.push(t[u]);
                const I c = b0 + u - pre;
                if (c >= c0 && c < c1) {
                    const A s = ld(scale + c * S);
                    st(dx + c * S, ld(dy + c * S) * pow_neg(s, beta) - coef2 * ld(x + c * S) * sum);
                }
            }
        }
        return;
    }
    // Recompute the scale: b is the newest channel of x, a = b - post gets its scale and t,
    // c = a - pre its dx; `delay` keeps the scales of the last m channels a.
    Ring sq(slots(work, 1, m), m);
    const Slots delay = slots(work, 2, m);
    I jw = 0, jr = post;   // delay slots of a (from c0 - post) and of c (from c0)
    for (I b0 = c0 - post - pre; b0 < c1 + pre + post; b0 += U) {
        A q[U], dyy[U];
#pragma unroll
        for (int u = 0; u < U; ++u) {
            const I b = b0 + u, a = b - post;
            const A v = b >= 0 && b < C ? ld(x + b * S) : A(0);
            q[u] = v * v;
            dyy[u] = a >= 0 && a < C ? ld(dy + a * S) * ld(y + a * S) : A(0);
        }
#pragma unroll
        for (int u = 0; u < U; ++u) {
            const A sa = bias + coef * sq.push(q[u]);
            const I a = b0 + u - post, c = a - pre;
            if (a < c0 - post) continue;   // the window of x of scale[a] is not complete yet
            delay.p[jw * delay.stride] = sa;
            jw = jw + 1 == m ? 0 : jw + 1;
            const A sum = tsum.push(a >= 0 && a < C ? dyy[u] / sa : A(0));
            if (c >= c0 && c < c1) {
                const A s = delay.p[jr * delay.stride];
                jr = jr + 1 == m ? 0 : jr + 1;
                st(dx + c * S, ld(dy + c * S) * pow_neg(s, beta) - coef2 * ld(x + c * S) * sum);
            }
        }
    }
}

extern "C" __global__ void lrn_backward(const T* x, const T* y, const T* dy, const T* scale,
                                        T* dx, A* work, I N, I C, I S, I L, I pre, I post,
                                        A coef, A beta, A bias, A coef2) {
    const I count = N * S * ((C + L - 1) / L);
    for (I g = (I)blockIdx.x * blockDim.x + threadIdx.x; g < count;
         g += (I)gridDim.x * blockDim.x) {
        const Chunk k = chunk(g, N, C, S, L);
        backward_chunk(x + k.off, y + k.off, dy + k.off, scale ? scale + k.off : scale,
                       dx + k.off, work, C, S, k.c0, k.c1, pre, post, coef, beta, bias, coef2);
    }
}
""",
    ("forward", "tile"): r"""
extern "C" __global__ void lrn_forward(const T* x, T* y, T* scale, I M, I C, I R,
                                       I pre, I post, A coef, A beta, A bias) {
    __shared__ A P[TILE], Sf[TILE];
    const int c_ = (int)C, m = (int)(pre + post + 1);
    const I row0 = (I)blockIdx.x * R;
    const int count = (int)(M - row0 < R ? M - row0 : R) * c_;
    x += row0 * C;
    y += row0 * C;
    if (scale) scale += row0 * C;
    A xv[PER];
#pragma unroll
    for (int k = 0; k < PER; ++k) {
        const int e = threadIdx.x + k * BLOCK;
        if (e < count) {
            xv[k] = ld(x + e);
            P[e] = xv[k] * xv[k];
        }
    }
    __syncthreads();
    block_scans(P, Sf, count / c_, c_, m);
    __syncthreads();
#pragma unroll
    for (int k = 0; k < PER; ++k) {
        const int e = threadIdx.x + k * BLOCK, c = e % c_;
        if (e < count) {
            const A s = bias + coef * window(P, Sf, e - c, c, (int)pre, m, c_);
            st(y + e, xv[k] * pow_neg(s, beta));
            if (scale) st(scale + e, s);
        }
    }
}
""",
    ("backward", "tile"): r"""
extern "C" __global__ void lrn_backward(const T* x, const T* y, const T* dy, const T* scale,
                                        T* dx, I M, I C, I R, I pre, I post,
                                        A coef, A beta, A bias, A coef2) {
    __shared__ A P[TILE], Sf[TILE];
    const int c_ = (int)C, m = (int)(pre + post + 1);
    const I row0 = (I)blockIdx.x * R;
    const int count = (int)(M - row0 < R ? M - row0 : R) * c_;
    x += row0 * C;
    y += row0 * C;
    dy += row0 * C;
    dx += row0 * C;
    if (scale) scale += row0 * C;
    A xv[PER], gv[PER], sv[PER], dyy[PER];
#pragma unroll
    for (int k = 0; k < PER; ++k) {
        const int e = threadIdx.x + k * BLOCK;
        if (e < count) {
            xv[k] = ld(x + e);
            gv[k] = ld(dy + e);
            dyy[k] = gv[k] * ld(y + e);
            if (scale) {
                sv[k] = ld(scale + e);
                P[e] = dyy[k] / sv[k];
            } else {
                P[e] = xv[k] * xv[k];
            }
        }
    }
    __syncthreads();
    if (!scale) {
        block_scans(P, Sf, count / c_, c_, m);
        __syncthreads();
#pragma unroll
        for (int k = 0; k < PER; ++k) {
            const int e = threadIdx.x + k * BLOCK, c = e % c_;
            if (e < count) sv[k] = bias + coef * window(P, Sf, e - c, c, (int)pre, m, c_);
        }
        __syncthreads();
#pragma unroll
        for (int k = 0; k < PER; ++k) {
            const int e = threadIdx.x + k * BLOCK;
            if (e < count) P[e] = dyy[k] / sv[k];
        }
        __syncthreads();
    }
    block_scans(P, Sf, count / c_, c_, m);   // t = dy * y / scale, summed over [c - post, c + pre]
    __syncthreads();
#pragma unroll
    for (int k = 0; k < PER; ++k) {
        const int e = threadIdx.x + k * BLOCK, c = e % c_;
        if (e < count) {
            const A sum = window(P, Sf, e - c, c, (int)post, m, c_);
            st(dx + e, gv[k] * pow_neg(sv[k], beta) - coef2 * xv[k] * sum);
        }
    }
}
""",
}


def _source(direction, kind, dtype, index):
    storage, arith = _TYPES[dtype]
    block = _STREAM_BLOCK if kind == "stream" else _TILE_BLOCK
    head = (f"typedef {storage} T;\ntypedef {arith} A;\ntypedef {_INDEX[index]} I;\n"
            f"#define BLOCK {block}\n#define TILE {_TILE}\n")
    helpers = _STREAM if kind == "stream" else _TILED
    return head + _BASE + helpers + _KERNELS[direction, kind]


def _variants():
    for direction in ("forward", "backward"):
        for kind in ("stream", "tile"):
            for dtype in _TYPES:
                for index in _INDEX:
                    yield direction, kind, dtype, index


def kernel_sources():
    """Every kernel variant as ``(name, CUDA source, NVRTC options)``.

    One variant per direction (forward, backward) x kernel (``stream``: channels-first;
    ``tile``: channels-last) x dtype x index width (int32, int64).  Used by the tests to
    compile each source with ``nvcc --ptx`` where no GPU is present.
    """
    return [("_".join(v), _source(*v), _OPTIONS) for v in _variants()]


@functools.lru_cache(maxsize=None)
def _function(device_id, direction, kind, dtype, index):
    """The compiled kernel of one variant on one device (memoised)."""
    import cupy

    module = cupy.RawModule(code=_source(direction, kind, dtype, index), options=_OPTIONS)
    return module.get_function(f"lrn_{direction}")


def _launch(direction, arrays, n_in, p):
    """Launch one kernel on N-D arrays; ``arrays``: the kernel's array arguments, the first
    ``n_in`` read."""
    import cupy

    channels_last = p.channels_last
    shape3 = _shape3(arrays[0].shape, channels_last)
    arrays = tuple(None if a is None else a.reshape(shape3) for a in arrays)
    x = arrays[0]
    if x.size == 0:
        return
    n, c, s = (x.shape[0], x.shape[2], x.shape[1]) if channels_last else x.shape
    m, pre = p.window(c)
    post = m - 1 - pre
    dtype = x.dtype.name
    acc = np.float64 if dtype == "float64" else np.float32
    if (channels_last or s == 1) and c <= _TILE:
        kind, block, shared, work = "tile", _TILE_BLOCK, 0, None
        rows_per_block = _TILE // c
        grid = -(-n * s // rows_per_block)
        dims = (n * s, c, rows_per_block)
    else:
        if channels_last:   # rows too long for the tile kernel: walk each row
            n, s = n * s, 1
        kind, block = "stream", _STREAM_BLOCK
        # chunks read their neighbours' margins: not when an output is also an input
        in_place = any(cupy.may_share_memory(a, b) for a in arrays[:n_in] if a is not None
                       for b in arrays[n_in:] if b is not None)
        chunks = 1 if in_place else max(1, min(-(-_STREAM_THREADS // (n * s)), c // (4 * m)))
        length = -(-c // chunks // m) * m   # a multiple of m: same sums as without chunks
        grid = -(-n * s * -(-c // length) // block)
        rings = 3 if direction == "backward" and arrays[3] is None else 1
        shared = rings * m * block * np.dtype(acc).itemsize
        work = None
        if shared > _SHARED_BYTES:   # rings in global scratch, for a bounded number of threads
            sms = cupy.cuda.Device().attributes["MultiProcessorCount"]
            grid = min(grid, sms * _SCRATCH_BLOCKS_PER_SM)
            work, shared = cupy.empty(rings * m * grid * block, dtype=acc), 0
        dims = (n, c, s, length)
    largest = max(x.size + _TILE, grid * block, 3 * c + 16,
                  0 if work is None else work.size)
    index = "int32" if largest < 2**31 else "int64"
    itype = np.int32 if index == "int32" else np.int64
    scalars = [acc(p.alpha_n), acc(p.beta), acc(p.bias)]
    if direction == "backward":
        scalars.append(acc(p.grad_coef))
    args = (*arrays, *(() if kind == "tile" else (work,)),
            *(itype(v) for v in (*dims, pre, post)), *scalars)
    kernel = _function(cupy.cuda.Device().id, direction, kind, dtype, index)
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
                        f"(pip install 'lrn[gpu]')") from None
    return cupy


def as_array(obj, name):
    """A CuPy array viewing the CUDA array ``obj`` (no copy)."""
    cupy = array_module(name)
    if isinstance(obj, cupy.ndarray):
        return obj
    if hasattr(obj, "__cuda_array_interface__"):
        return cupy.asarray(obj)
    return cupy.from_dlpack(obj)


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

# Compiler directives (no bounds/wraparound checks, C division) are set in
# setup.py, so that _kernels_avx2.pyx, which includes this file, gets them too.
"""CPU kernels for Local Response Normalization (design.md §1, §2, §4).

The kernels see C-contiguous 3-D views: channels-first ``(N, C, S)`` or
channels-last ``(N, S, C)``, split into tiles of ``T`` positions that run
in parallel.  The caller (``lrn._cpu``) clips the window to the channels:
``n <= 2 C - 1``, ``pre <= C - 1`` and ``n - 1 - pre <= C - 1``, so that no
loop or buffer grows with a window far longer than the axis.

This file holds what every pass shares: the types, the plan of a call (tile
size, scratch layout), the parallel launch and the Python entry points.  The
passes are split by job:

- ``_rows.pxi``: one row at a time, the window sum's last additions, the
  power and the backward pass's last step (AVX2 rows in ``csrc/lrn_simd.h``
  and ``csrc/lrn_fused.h``);
- ``_channels_first.pxi``: the C rows of a tile swept once, a block of ``n``
  channels at a time; also the within-channel box sums;
- ``_channels_last.pxi``: each position's contiguous row of C channels on
  its own, in L1, with no transposes;
- ``_half.pxi``: IEEE half data, computed in float without array-sized
  temporaries (conversions in ``csrc/lrn_half.h``);
- ``_within.pxi``: the element-wise passes of within-channel LRN.

Window sums never subtract (design §2), which keeps the relative error of a
sum of squares below ``(n - 1)`` ulp and lets a NaN or inf reach only the
windows that contain it.

Every element is computed by the same sequence of operations wherever it
falls, so results are bitwise identical for any number of threads.  Tile
sizes depend only on the shape, ``n`` and the dtype, except for the AVX2
build's fused passes (``csrc/lrn_fused.h``: the forward pass, channels-first
and channels-last float and half data in one pass per row;
``csrc/lrn_grad.h``: the channels-first backward pass likewise), whose
results do not depend on the tile at all: there the tile is also cut so
that the threads get equal shares (:func:`shared_tile`).
"""

from cython cimport floating
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from libc.string cimport memset

cimport numpy as cnp
import numpy as np

cnp.import_array()

cdef extern from "lrn_platform.h":
    int lrn_openmp() nogil
    int lrn_max_threads() nogil
    int lrn_num_procs() nogil
    const char* lrn_cflags()
    void lrn_prefetch(const void*, Py_ssize_t, int) nogil
    void* lrn_alloc64(size_t)
    void* lrn_thread_scratch(size_t)
    void lrn_free64(void*)
    int lrn_cpu_has_avx2_fma()
    int lrn_cpu_has_avx512()

cdef extern from "lrn_pool.h":
    ctypedef void (*lrn_job_fn)(Py_ssize_t, int, void*) noexcept nogil
    void lrn_pool_run(lrn_job_fn, void*, Py_ssize_t, int) nogil

cdef extern from "lrn_simd.h":
    int lrn_sum_rows(const float* const*, float*, Py_ssize_t, float, float) nogil
    int lrn_grad_row(const float* const*, const float*, const float*, const float*, float*,
                     Py_ssize_t, float, int) nogil
    int lrn_pow_any_row(float*, const float*, const float*, Py_ssize_t, double) nogil
    int lrn_pow_row_d(double*, const double*, const double*, Py_ssize_t, int) nogil

cdef extern from "lrn_fused.h":
    ctypedef struct lrn_cf_tile:
        const void* x
        void* y
        void* scale
        float* ring
        float* prefix
        Py_ssize_t stride, C, T, n, pre, L, ring_rows
        Py_ssize_t lo, hi
        float mul, add
        int kind
        int half
        int levels
    int lrn_cf_forward(const lrn_cf_tile*) nogil
    int lrn_cl_forward(const lrn_cf_tile*) nogil
    int lrn_sum_pow_row(const float* const*, const float*, float*, float*, Py_ssize_t, float,
                        float, int) nogil
    int lrn_cf_fused() nogil
    int lrn_cl_by_blocks(Py_ssize_t) nogil
    void lrn_cl_window_sums(const void*, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t, int,
                            float*, float*) nogil
    enum: LRN_DIRECT
    enum: LRN_W

cdef extern from "lrn_grad.h":
    ctypedef struct lrn_cf_grad:
        const void* x
        const void* y
        const void* dy
        const void* scale
        void* dx
        float* squares
        float* terms
        float* powers
        Py_ssize_t stride, C, T, n, pre, L, R
        Py_ssize_t lo, hi
        float mul, add, coef
        int kind
        int half
    int lrn_cf_backward(const lrn_cf_grad*) nogil
    int lrn_cl_backward(const lrn_cf_grad*) nogil

cdef extern from "lrn_power.h":
    double lrn_scaled_pow(double, double, double) nogil

cdef extern from "lrn_half.h":
    void lrn_h2f_row(const unsigned short*, float*, Py_ssize_t) nogil
    void lrn_f2h_row(const float*, unsigned short*, Py_ssize_t) nogil

cdef extern from "<math.h>":
    float sqrtf(float) nogil
    double sqrt(double) nogil

# IEEE half data is read and written as its bits and computed in float; a
# Call's arrays are float, double or half (``Plan.half``).
ctypedef unsigned short half_bits


cdef struct Problem:
    # One call's parameters, converted by Cython from the dict ``lrn._cpu``
    # builds.  n and pre are clipped to the channels (see the docstring).
    Py_ssize_t n            # window length
    Py_ssize_t pre          # elements of the window before its centre
    double alpha_n          # alpha divided by the window
    double beta
    double bias
    double grad_coef        # 2 alpha_n beta, the backward pass's coefficient
    bint channels_last
    int num_threads


# How scale ** -beta is evaluated (design §2: exact cheap forms first).
cdef enum BetaKind:
    BETA_075
    BETA_05
    BETA_1
    BETA_ANY


cdef struct Coefs:
    # The coefficients as the rows use them.  alpha_n, bias and grad_coef are
    # rounded to the computing precision once, here; doubles hold them so one
    # struct serves float and double.  beta stays as given (design §2).
    double alpha_n
    double bias
    double grad_coef
    double beta
    BetaKind kind


cdef enum Pass:
    FORWARD
    BACKWARD
    BOX_SUMS                # within-channel: plain window sums along one axis, in place


cdef struct Operands:
    # A tile's arrays.  void because one struct serves every storage type;
    # each tile function casts them to its own.  Unused ones are NULL.
    const void* x
    const void* y           # backward
    const void* dy          # backward
    const void* scale_in    # backward: the forward's scale, or NULL to recompute it
    void* out               # y forward, dx backward, the sums for BOX_SUMS
    void* scale_out         # forward: scale, or NULL
    Py_ssize_t stride       # between channel rows, channels-first
    Py_ssize_t lo, hi       # the channels to write (all but in Plan.parts > 1)


cdef struct Scratch:
    # One thread's scratch, from scratch_layout: offsets in elements of the
    # computing type, and the total.  The tile functions name their rows by
    # these fields only.
    Py_ssize_t widened      # half tiles widened whole: x, y, dy, scale (C * L each)
    Py_ssize_t suffix       # channels-first: in-block suffix sums, ring_rows rows
    Py_ssize_t prefix       # channels-first: the running in-block prefix sum
    Py_ssize_t work         # the rows' own scratch (sum_pow_row: 1 row, grad_row: 2)
    Py_ssize_t terms        # backward: dy * y / scale (channels-first: one block)
    Py_ssize_t ring         # channels-first backward: recomputed scale rows (fused:
                            # a ring of dy * s ** -beta)
    Py_ssize_t fwd_suffix   # ... and the suffix and prefix sums that compute them
    Py_ssize_t fwd_prefix
    Py_ssize_t x_rows       # half channels-first forward: two blocks of x in float
    Py_ssize_t y_row        # ... and a row of y and of scale before they are rounded
    Py_ssize_t scale_row    # (channels-last backward: the recomputed scale)
    Py_ssize_t squares      # channels-last: x ** 2 between the window's zero pads
                            # (fused channels-first backward: a ring of x ** 2)
    Py_ssize_t levels       # channels-last: the power-of-two partial sums
    Py_ssize_t blocks       # channels-last, block_sums: 2 x 8 x padded(C)
    Py_ssize_t ring_rows    # rows of suffix, ring, fwd_suffix, x_rows: two blocks
    Py_ssize_t M            # channels-last: length of the padded position rows
    Py_ssize_t total


cdef struct Plan:
    # One call's work, shared read-only by every tile.
    Pass op
    bint channels_last
    bint half               # stored as half bits, computed in float
    Py_ssize_t itemsize     # bytes of the computing type
    Py_ssize_t N            # samples
    Py_ssize_t C            # channels (for BOX_SUMS, the summed axis)
    Py_ssize_t S            # positions per sample
    Py_ssize_t n
    Py_ssize_t pre
    Py_ssize_t tile         # positions per tile (a sample's last may have fewer)
    Py_ssize_t parts        # channel parts of a tile (a run's: shared_parts)
    Py_ssize_t L            # stride of the scratch rows: tile padded
    Coefs co
    Scratch scratch


include "_rows.pxi"
include "_channels_first.pxi"
include "_channels_last.pxi"
include "_half.pxi"
include "_within.pxi"


def openmp_enabled():
    """True when the kernels were compiled with OpenMP."""
    return bool(lrn_openmp())


def max_threads():
    """OpenMP's default team size (honours OMP_NUM_THREADS and threadpoolctl)."""
    return lrn_max_threads()


def num_procs():
    """Processors available to OpenMP (what ``num_threads=-1`` means)."""
    return lrn_num_procs()


cdef int threads_of(num_threads) except -1:
    """:func:`resolve_threads` in C, where ``Call`` resolves it on every call."""
    if num_threads is None:
        return lrn_max_threads()
    cdef int n = num_threads
    return max(1, lrn_num_procs() + 1 + n) if n < 0 else n


def resolve_threads(num_threads):
    """The thread count of lrn's ``num_threads`` (checked by ``lrn._params``):
    None -> OpenMP's default (threadpoolctl's limit included); n > 0 -> n;
    n < 0 -> all processors + 1 + n, at least 1."""
    return threads_of(num_threads)


def cpu_has_avx2_fma():
    """True when this processor can run the AVX2 build (AVX2, FMA, F16C)."""
    return bool(lrn_cpu_has_avx2_fma())


def cpu_has_avx512():
    """True when this processor can run the AVX-512 build (the AVX2 build's
    features, AVX-512 F and VL)."""
    return bool(lrn_cpu_has_avx512())


def compile_flags():
    """The C compiler flags the kernels were built with."""
    return lrn_cflags().decode()


# Bytes of a tile's scratch rows (channels-first) or of one (C, T) buffer
# (channels-last, half backward): with the tile's share of the inputs they
# stay well inside a 512 KiB L2.
cdef enum:
    TILE_BYTES = 32768
    # The channels-first backward pass reads four strided inputs per row:
    # rows four times longer keep the prefetcher streaming (alexnet2 NCHW,
    # 2 threads: 2.7 -> 1.6 copies of the 4-array floor).
    ROW_BYTES_BACKWARD = 131072


cdef Coefs make_coefs(const Problem* p, bint single) noexcept nogil:
    """The coefficients of ``p`` for rows computed in float (``single``) or
    double; ``lrn._params`` has checked that they fit float for float data."""
    cdef Coefs co
    co.alpha_n = <float>p.alpha_n if single else p.alpha_n
    co.bias = <float>p.bias if single else p.bias
    co.grad_coef = <float>p.grad_coef if single else p.grad_coef
    co.beta = p.beta
    if p.beta == 0.75:
        co.kind = BETA_075
    elif p.beta == 0.5:
        co.kind = BETA_05
    elif p.beta == 1.0:
        co.kind = BETA_1
    else:
        co.kind = BETA_ANY
    return co


cdef inline bint fused_grad(const Plan* p) noexcept nogil:
    """Whether the backward pass of ``p`` is csrc/lrn_grad.h's: the AVX2
    build, float or half data, beta 0.75, 0.5 or 1, windows of up to
    LRN_DIRECT channels; channels-first in one loop per row, channels-last
    in two per position."""
    return (p.op == BACKWARD and p.itemsize == sizeof(float) and p.co.kind != BETA_ANY
            and p.n <= LRN_DIRECT and lrn_cf_fused())


cdef inline Py_ssize_t padded(Py_ssize_t count) noexcept nogil:
    """The stride of scratch rows of ``count`` elements: rounded up to 16 (64
    bytes of float), so that with 64-byte aligned buffers every row is aligned
    and a vector never straddles two cache lines (which would also stall the
    store forwarding between one row pass and the next)."""
    return (count + 15) // 16 * 16


cdef inline Py_ssize_t take(Py_ssize_t* end, Py_ssize_t count) noexcept nogil:
    """The offset of the next ``count`` elements of scratch."""
    cdef Py_ssize_t at = end[0]
    end[0] += count
    return at


cdef Scratch scratch_layout(const Plan* p, Py_ssize_t n, Py_ssize_t L) noexcept nogil:
    """One thread's scratch for the pass of ``p`` with a window of ``n`` and
    rows of stride ``L``: the one place that sizes and names it.

    Every part of a channels-first layout is a whole number of rows, so with
    ``L = 1`` the total counts rows (which :func:`tile_positions` uses)."""
    cdef Scratch layout
    cdef Py_ssize_t end = 0, C = p.C
    cdef bint backward = p.op == BACKWARD
    memset(&layout, 0, sizeof(layout))
    layout.ring_rows = min(2 * n, C)
    if fused_grad(p) and p.channels_last:
        # csrc/lrn_grad.h: two padded rows each of x ** 2 and of the terms
        # (see below) and two rows of dy * s ** -beta
        layout.M = padded(C + n + 6)
        layout.squares = take(&end, 2 * layout.M)
        layout.terms = take(&end, 2 * layout.M)
        layout.ring = take(&end, 2 * layout.M)
        layout.total = end
        return layout
    if fused_grad(p):
        # csrc/lrn_grad.h: rings of the last min(n, C) rows of x ** 2, of the
        # terms and of dy * s ** -beta
        layout.squares = take(&end, min(n, C) * L)
        layout.terms = take(&end, min(n, C) * L)
        layout.ring = take(&end, min(n, C) * L)
        layout.total = end
        return layout
    if p.half and (p.channels_last or backward):
        layout.widened = take(&end, 4 * C * L)
    if p.channels_last:
        # the C channels and the n - 1 zeros of the window's pads, and
        # LRN_W - 1 more that a last, partial vector of channels reads
        # (csrc/lrn_fused.h, whose forward pass takes squares and terms as two
        # rows in turns)
        layout.M = padded(C + n + LRN_W - 2)
        layout.squares = take(&end, layout.M)
        layout.terms = take(&end, layout.M)
        layout.work = take(&end, (2 if backward else 1) * layout.M)
        layout.scale_row = take(&end, layout.M)
        if block_sums(p):
            layout.blocks = take(&end, 2 * 8 * padded(C))
        if backward or not block_sums(p):
            layout.levels = take(&end, max_levels(n) * layout.M)
    else:
        layout.suffix = take(&end, layout.ring_rows * L)
        layout.prefix = take(&end, L)
        layout.work = take(&end, (2 if backward else 1) * L)
        if backward:
            layout.terms = take(&end, min(n, C) * L)
            layout.ring = take(&end, layout.ring_rows * L)
            layout.fwd_suffix = take(&end, layout.ring_rows * L)
            layout.fwd_prefix = take(&end, L)
        elif p.half:
            layout.x_rows = take(&end, layout.ring_rows * L)
            layout.y_row = take(&end, L)
            layout.scale_row = take(&end, L)
    layout.total = end
    return layout


cdef Py_ssize_t tile_positions(const Plan* p) noexcept nogil:
    """Positions per tile: a function of the shape, n, the dtype and the pass
    only (never of the thread count).  Channels-last tiles, the unit of work
    there, and half backward tiles widened to (C, T) float buffers (all but
    :func:`fused_grad`'s), take
    what fits TILE_BYTES (at least one 8-lane vector, even when that outgrows
    the L2 for very many channels).  Other channels-first tiles size their
    rows by the scratch rows in use at a time: a step touches two rows of
    suffix sums wherever n puts them, so long windows count as n = 5 and do
    not shorten the rows; at most 2048, and where the rows do not divide
    evenly the remainder is spread over the tiles that fit whole (each up to
    twice as long) rather than left as a short last tile, whose every row
    costs a step's fixed work for a few vectors ((8, 256, 729): one tile of
    729, not 672 and 57).  Double forward rows hold as many
    positions as float ones: at half as many, the Cython passes took
    1.02-1.09x the time (Zen 4, float64, size 5, 1 thread); channels-last
    double tiles gained nothing from it."""
    cdef Py_ssize_t T, row_bytes, tiles
    cdef bint backward = p.op == BACKWARD
    cdef bint rows = not (p.channels_last or (p.half and backward and not fused_grad(p)))
    if not rows:
        T = TILE_BYTES // (p.C * p.itemsize)
    else:
        row_bytes = ROW_BYTES_BACKWARD if backward else TILE_BYTES * (2 if p.itemsize == 8
                                                                      else 1)
        T = min(<Py_ssize_t>2048, row_bytes // (
            p.itemsize * scratch_layout(p, min(p.n, <Py_ssize_t>5), 1).total))
    if T >= 16:
        T -= T % 16
        if rows and p.S > T:
            tiles = p.S // T
            T = ((p.S + tiles - 1) // tiles + 15) // 16 * 16
    return min(p.S, max(<Py_ssize_t>8, T))


cdef bint tiles_follow_threads(const Plan* p) noexcept nogil:
    """Whether ``p`` is a fused channels-first pass (``lrn_cf_forward``,
    ``lrn_cf_backward``), whose results do not depend on the tile."""
    return not p.channels_last and (
        (p.op == FORWARD and p.itemsize == sizeof(float) and p.co.kind != BETA_ANY
         and lrn_cf_fused()) or fused_grad(p))


cdef bint splits_channels(const Plan* p) noexcept nogil:
    """Whether the tiles of ``p`` may be split into channel parts: its
    channels-first passes write only their part's rows (``Operands.lo``,
    ``hi``), but for half backward tiles widened whole, whose parts would
    each round every row back."""
    return not p.channels_last and p.op != BOX_SUMS and not (
        p.half and p.op == BACKWARD and not fused_grad(p))


cdef Py_ssize_t shared_tile(const Plan* p, int num_threads) noexcept nogil:
    """The tile of a run of a :func:`tiles_follow_threads` pass on
    ``num_threads`` (the team :func:`team_size` would wake):
    :func:`tile_positions`', cut a little shorter where that gives each of
    the threads as many tiles, for runs that cannot take
    :func:`shared_parts` (in place, or too few channels: (1, 96, 55, 55)'s
    backward pass in place, one tile of 3025 positions becomes two of 1520
    for 2 threads), but never below 512 positions: (1, 256, 27, 27)'s tile
    of 729 cut in two took 1.1x the time of one thread alone (rows that
    short pay a step's fixed work often, and the threads share every row)."""
    cdef Py_ssize_t T = p.tile, tiles, extra = 0
    num_threads = <int>min(<Py_ssize_t>num_threads, p.N * p.C * p.S // 32768)
    if T == 0 or num_threads < 2:
        return T
    tiles = (p.S + T - 1) // T
    if p.N * tiles >= 8 * num_threads:
        return T
    while p.N * (tiles + extra) % num_threads != 0:
        extra += 1
    if extra == 0:
        return T
    # whole cache lines of float, as tile_positions' tiles: a tile starting
    # mid-line splits every vector it loads across two lines ((1, 96, 55, 55)
    # forward, 2 threads, its 4 tiles of 768 positions recut to 760: 60-74 us
    # against 54-57, and up to 1.5x a thread alone in a slow spell)
    T = (p.S + tiles + extra - 1) // (tiles + extra)
    T = min(p.S, (T + 15) // 16 * 16)
    return T if T >= 512 else p.tile


cdef Py_ssize_t shared_parts(const Plan* p, int num_threads) noexcept nogil:
    """The channel parts of each tile of a run of a :func:`splits_channels`
    pass on ``num_threads`` (the team :func:`team_size` would wake) whose
    tiles are too few to give each thread as many: enough parts that they
    do ((1, 256, 27, 27): one tile of 729 positions, two parts of 128
    channels for 2 threads).  A part's sweep starts at the first row its
    windows reach (csrc/lrn_fused.h, lrn_grad.h, :func:`part_blocks`), up
    to 2 n rows above its own, so parts keep at least 4 n channels."""
    cdef Py_ssize_t tiles = (p.S + p.tile - 1) // p.tile, parts = 1
    num_threads = <int>min(<Py_ssize_t>num_threads, p.N * p.C * p.S // 32768)
    if p.tile == 0 or num_threads < 2 or p.N * tiles >= 8 * num_threads:
        return 1
    while p.N * tiles * parts % num_threads != 0:
        parts += 1
    return max(<Py_ssize_t>1, min(parts, p.C // (4 * p.n)))


cdef Plan make_plan(const Problem* problem, Pass op, const Py_ssize_t* shape,
                    Py_ssize_t stored) noexcept nogil:
    """The plan of a pass over a 3-D view of ``shape`` whose elements take
    ``stored`` bytes (2: half bits)."""
    cdef Plan p
    p.op = op
    p.channels_last = problem.channels_last
    p.half = stored == 2
    p.itemsize = sizeof(float) if p.half else stored
    p.N = shape[0]
    p.C = shape[2] if p.channels_last else shape[1]
    p.S = shape[1] if p.channels_last else shape[2]
    p.n = problem.n
    p.pre = problem.pre
    p.co = make_coefs(problem, p.itemsize == sizeof(float))
    # an empty view has no tiles (run() returns at once) and no channels to size them by
    p.tile = tile_positions(&p) if p.N > 0 and p.C > 0 and p.S > 0 else 0
    p.parts = 1
    lay_out(&p)
    return p


cdef void lay_out(Plan* p) noexcept nogil:
    """``p``'s scratch rows for its tile."""
    p.L = padded(p.tile)
    if fused_grad(p) and not p.channels_last:
        # an odd number of cache lines, so that the rings' 3 min(n, C) rows
        # fall in different sets of the L1 cache (rows a multiple of 4 KiB
        # apart share one set of 8 ways: (1, 24, 1024) took three times as long)
        p.L |= 16
    p.scratch = scratch_layout(p, p.n, p.L)


cdef inline const void* shifted(const void* ptr, Py_ssize_t bytes) noexcept nogil:
    if ptr == NULL:
        return NULL
    return <const char*>ptr + bytes


cdef void run_job(Py_ssize_t job, const Plan* p, const Operands* ops,
                  void* buf) noexcept nogil:
    """Part ``job % parts`` of tile ``job // parts`` of the N x S positions,
    with the thread's scratch ``buf``."""
    cdef Py_ssize_t tiles = (p.S + p.tile - 1) // p.tile
    cdef Py_ssize_t part = job % p.parts, tile = job // p.parts
    cdef Py_ssize_t s0 = (tile % tiles) * p.tile, T = min(p.tile, p.S - s0)
    cdef Py_ssize_t off = (tile // tiles) * p.C * p.S + (s0 * p.C if p.channels_last else s0)
    cdef Py_ssize_t bytes = off * (2 if p.half else p.itemsize)
    cdef Operands tile_ops = ops[0]
    tile_ops.lo = p.C * part // p.parts
    tile_ops.hi = p.C * (part + 1) // p.parts
    tile_ops.x = shifted(ops.x, bytes)
    tile_ops.y = shifted(ops.y, bytes)
    tile_ops.dy = shifted(ops.dy, bytes)
    tile_ops.scale_in = shifted(ops.scale_in, bytes)
    tile_ops.out = <void*>shifted(ops.out, bytes)
    tile_ops.scale_out = <void*>shifted(ops.scale_out, bytes)
    if p.half:
        run_tile_half(&tile_ops, p, T, <float*>buf)
    elif p.itemsize == sizeof(double):
        run_tile(&tile_ops, p, T, <double*>buf)
    else:
        run_tile(&tile_ops, p, T, <float*>buf)


cdef void run_tile(const Operands* ops, const Plan* p, Py_ssize_t T,
                   floating* buf) noexcept nogil:
    """One tile of T positions, float or double, with the scratch ``buf``."""
    if p.channels_last:
        if p.op == BACKWARD:
            if floating is double or not fused_grad(p) or not fused_backward(ops, p, T, buf):
                position_backward(ops, p, T, buf)
        elif floating is double or not fused_forward(ops, p, T, buf):
            position_forward(ops, p, T, buf)
    elif p.op == BACKWARD:
        if floating is double or not fused_grad(p) or not fused_backward(ops, p, T, buf):
            backward_rows(ops, p, T, buf)
    elif floating is double or p.op != FORWARD or not fused_forward(ops, p, T, buf):
        block_rows(ops, p, T, buf)


cdef int team_size(Py_ssize_t elements, Py_ssize_t jobs, int num_threads) noexcept nogil:
    """Threads worth waking: about one per 32 Ki elements, at most one per job
    (waking a team costs more than a small input takes alone)."""
    return <int>max(1, min(<Py_ssize_t>num_threads, jobs, elements // 32768))


cdef void* tile_buffers(Py_ssize_t count, int num_threads, size_t itemsize) except NULL:
    """``count`` scratch elements for each thread, 64-byte aligned (as is each
    thread's share when ``count`` is a multiple of 16); free with lrn_free64."""
    cdef void* work = lrn_alloc64(num_threads * count * itemsize)
    if work == NULL:
        raise MemoryError("lrn: cannot allocate the kernel's tile buffers")
    return work


cdef struct Launch:
    # What every tile of one run shares (lrn_pool_run's context).
    const Plan* p
    const Operands* ops
    char* work              # the threads' scratch, ``per_thread`` bytes each
    Py_ssize_t per_thread


cdef void launch_job(Py_ssize_t job, int slot, void* ctx) noexcept nogil:
    cdef Launch* a = <Launch*>ctx
    run_job(job, a.p, a.ops, a.work + slot * a.per_thread)


cdef int run(const Operands* ops, const Plan* p, int num_threads) except -1:
    """Run every tile of ``p`` without the GIL on lrn's threads
    (csrc/lrn_pool.h: the calling thread and whichever workers are awake
    claim tiles), each thread with its own scratch (one thread alone: the
    thread's kept scratch, where it fits)."""
    cdef Py_ssize_t post = p.n - 1 - p.pre
    cdef Launch launch
    if p.N == 0 or p.C == 0 or p.S == 0:
        return 0
    if not (0 <= p.pre < p.C and 0 <= post < p.C):
        raise ValueError(f"lrn kernels: the window (n={p.n}, pre={p.pre}) is not clipped "
                         f"to the {p.C} channels")
    cdef Py_ssize_t jobs = p.N * ((p.S + p.tile - 1) // p.tile) * p.parts
    num_threads = team_size(p.N * p.C * p.S, jobs, num_threads)
    launch.p = p
    launch.ops = ops
    launch.per_thread = p.scratch.total * p.itemsize
    launch.work = <char*>lrn_thread_scratch(launch.per_thread) if num_threads == 1 else NULL
    cdef bint owned = launch.work == NULL
    if owned:
        launch.work = <char*>tile_buffers(p.scratch.total, num_threads, p.itemsize)
    with nogil:
        lrn_pool_run(launch_job, &launch, jobs, num_threads)
    if owned:
        lrn_free64(launch.work)
    return 0


cdef class Call:
    """One kernel problem on arrays of one dtype and shape, converted once.

    ``lrn._cpu`` caches these, so that a repeated call only checks its
    arrays (a few comparisons in C) and runs.  ``problem`` is a dict of the
    :c:type:`Problem` fields (its ``num_threads`` is not used: each run
    takes its own, as lrn's ``num_threads``: :func:`resolve_threads`, and
    cuts the tiles for it where :func:`shared_tile` does), ``shape3``
    the kernels' 3-D view of the arrays
    (``(N, C, S)`` or, channels-last, ``(N, S, C)``), and the arrays must be
    C-contiguous ndarrays of ``dtype`` (float32, float64, or float16, which
    is computed in float) and N-D ``shape``.  The caller validates the
    problem and clips the window.
    """
    cdef Problem p
    cdef Py_ssize_t shape3[3]
    cdef Py_ssize_t stored      # bytes of a stored element: 2 is half bits
    cdef object dtype
    cdef int ndim
    cdef Py_ssize_t* dims
    cdef Plan plans[2]          # FORWARD, BACKWARD: made on first use
    cdef bint planned[2]

    def __cinit__(self, Problem problem, shape3, dtype, shape):
        self.p = problem
        self.shape3 = shape3
        self.dtype = np.dtype(dtype)
        if not (self.dtype.isnative and self.dtype.kind == "f"
                and self.dtype.itemsize in (2, 4, 8)):
            raise ValueError(f"lrn kernels: a Call takes float16, float32 or float64 in "
                             f"native byte order, got {self.dtype}")
        self.stored = self.dtype.itemsize
        self.ndim = len(shape)
        self.dims = <Py_ssize_t*>PyMem_Malloc(max(1, self.ndim) * sizeof(Py_ssize_t))
        if self.dims == NULL:
            raise MemoryError()
        for i in range(self.ndim):
            self.dims[i] = shape[i]

    def __dealloc__(self):
        PyMem_Free(self.dims)

    cdef const Plan* plan(self, Pass op, int threads, bint apart, Plan* shared) noexcept:
        """The plan of ``op`` on ``threads``: the one made on first use, or
        ``shared``, that plan with its tiles split into channel parts for
        the threads where the outputs are ``apart`` from the inputs (a part
        reads rows of the inputs that the part before it writes, in place),
        or else cut shorter where the results do not follow the tile
        (:func:`tiles_follow_threads`).  A copy: other Python threads may
        run this Call on other counts at once.

        Parts come first because they keep the rows long: float32, size 5,
        2 threads, the backward pass of (1, 96, 55, 55) in two parts took
        0.87x the time of two tiles of 1520 positions, (1, 64, 56, 56)
        0.85x, (1, 96, 40, 40) 0.70x (Zen 4); forward passes and the shapes
        both split alike 0.99-1.01x."""
        cdef int i = <int>op
        if not self.planned[i]:
            self.plans[i] = make_plan(&self.p, op, self.shape3, self.stored)
            self.planned[i] = True
        if threads < 2:
            return &self.plans[i]
        cdef Py_ssize_t parts = 1, T = self.plans[i].tile
        if apart and splits_channels(&self.plans[i]):
            parts = shared_parts(&self.plans[i], threads)
        if parts == 1 and tiles_follow_threads(&self.plans[i]):
            T = shared_tile(&self.plans[i], threads)
        if T == self.plans[i].tile and parts == 1:
            return &self.plans[i]
        shared[0] = self.plans[i]
        shared.tile = T
        shared.parts = parts
        lay_out(shared)
        return shared

    def work(self, bint backward, num_threads, bint apart=True):
        """The positions per tile and the channel parts of each tile of a
        run of the backward pass or the forward pass on ``num_threads``, its
        outputs ``apart`` from the inputs or not."""
        cdef Plan shared
        cdef const Plan* p = self.plan(BACKWARD if backward else FORWARD,
                                       threads_of(num_threads), apart, &shared)
        return p.tile, p.parts

    cdef bint fits(self, a, bint write):
        """``a`` is a C-contiguous ndarray of this call's dtype and shape
        (and writable when ``write``)."""
        if not cnp.PyArray_Check(a):
            return False
        cdef cnp.ndarray arr = <cnp.ndarray>a
        if (cnp.PyArray_NDIM(arr) != self.ndim or not cnp.PyArray_IS_C_CONTIGUOUS(arr)
                or (write and not cnp.PyArray_ISWRITEABLE(arr))
                or not cnp.PyArray_EquivTypes(arr.descr, <cnp.dtype>self.dtype)):
            return False
        cdef cnp.npy_intp* dims = cnp.PyArray_DIMS(arr)
        for i in range(self.ndim):
            if dims[i] != self.dims[i]:
                return False
        return True

    def forward(self, x, y, scale, num_threads):
        """Write ``y`` (and ``scale`` unless None), the LRN of ``x``, and
        return True; or return False having written nothing, unless every
        array :meth:`fits` (the outputs writable), ``y`` is ``x`` or apart
        from it, and ``scale`` is apart from both."""
        if not (self.fits(x, False) and self.fits(y, True) and may_alias(y, x)):
            return False
        if scale is not None and not (self.fits(scale, True) and apart(scale, x)
                                      and apart(scale, y)):
            return False
        cdef Operands ops
        memset(&ops, 0, sizeof(ops))
        ops.x = data(x)
        ops.out = data(y)
        if scale is not None:
            ops.scale_out = data(scale)
        cdef int threads = threads_of(num_threads)
        cdef Plan shared
        cdef const Plan* plan = self.plan(FORWARD, threads, ops.out != ops.x, &shared)
        ops.stride = plan.S
        run(&ops, plan, threads)
        return True

    def backward(self, x, y, dy, scale, dx, num_threads):
        """Write ``dx``, the input gradient, and return True; or return False
        having written nothing, unless every array :meth:`fits` (``dx``
        writable) and ``dx`` is, or is apart from, each of ``x``, ``y``,
        ``dy`` and ``scale``.  ``scale`` None recomputes it from ``x``."""
        if not (self.fits(x, False) and self.fits(y, False) and self.fits(dy, False)
                and self.fits(dx, True) and may_alias(dx, x) and may_alias(dx, y)
                and may_alias(dx, dy)):
            return False
        if scale is not None and not (self.fits(scale, False) and may_alias(dx, scale)):
            return False
        cdef Operands ops
        memset(&ops, 0, sizeof(ops))
        ops.x = data(x)
        ops.y = data(y)
        ops.dy = data(dy)
        ops.out = data(dx)
        if scale is not None:
            ops.scale_in = data(scale)
        cdef int threads = threads_of(num_threads)
        cdef Plan shared
        cdef bint apart = (ops.out != ops.x and ops.out != ops.y and ops.out != ops.dy
                           and ops.out != ops.scale_in)
        cdef const Plan* plan = self.plan(BACKWARD, threads, apart, &shared)
        ops.stride = plan.S
        run(&ops, plan, threads)
        return True


cdef inline void* data(a) noexcept:
    return cnp.PyArray_DATA(<cnp.ndarray>a)


cdef bint apart(a, b) noexcept:
    """Whether two C-contiguous arrays of one size share no byte."""
    cdef char* pa = <char*>data(a)
    cdef char* pb = <char*>data(b)
    cdef Py_ssize_t nbytes = cnp.PyArray_NBYTES(<cnp.ndarray>a)
    return pa + nbytes <= pb or pb + nbytes <= pa


cdef bint may_alias(out, a) noexcept:
    """``out`` is exactly ``a``'s memory (an in-place call) or apart from it."""
    return data(out) == data(a) or apart(out, a)

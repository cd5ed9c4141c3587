# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False, nonecheck=False
"""CPU kernels for Local Response Normalization (design.md §1, §2, §4).

The kernels see C-contiguous 3-D views: channels-first ``(N, C, S)`` or
channels-last ``(N, S, C)``.  Work is split into tiles of ``T`` spatial
positions times all ``C`` channels; each tile is copied into small per-thread
buffers laid out ``(C, T)`` (so the channel recurrences below run as
contiguous vector loops for both layouts), processed, and written back.  The
tile size depends only on ``C`` and the dtype, never on the thread count, and
every element is computed by the same sequence of operations wherever it
falls, so results are bitwise identical for any number of threads.

Window sums never subtract (design §2): the channel axis is cut into blocks
of ``n`` channels, and each window is a suffix of one block plus a prefix of
the next.  That costs three additions per element for any ``n``, keeps the
relative error of a sum of squares below ``(n - 1)`` ulp, and lets a NaN or
inf reach only the windows that contain it.
"""

from cython cimport floating
from cython.parallel cimport parallel, prange, threadid
from libc.stdlib cimport free, malloc

cdef extern from *:
    """
    #include <math.h>
    #ifndef LRN_CFLAGS
    #define LRN_CFLAGS "unknown"
    #endif
    #ifdef _OPENMP
    #include <omp.h>
    static int lrn_openmp(void) { return 1; }
    static int lrn_max_threads(void) { return omp_get_max_threads(); }
    static int lrn_num_procs(void) { return omp_get_num_procs(); }
    #else
    static int lrn_openmp(void) { return 0; }
    static int lrn_max_threads(void) { return 1; }
    static int lrn_num_procs(void) { return 1; }
    #endif
    static const char *lrn_cflags(void) { return LRN_CFLAGS; }
    """
    int lrn_openmp() nogil
    int lrn_max_threads() nogil
    int lrn_num_procs() nogil
    const char *lrn_cflags()
    float sqrtf(float) nogil
    double sqrt(double) nogil
    float powf(float, float) nogil
    double pow(double, double) nogil

# How scale ** -beta is evaluated (design §2: exact cheap forms first).
cdef enum BetaKind:
    BETA_075
    BETA_05
    BETA_1
    BETA_ANY

# Bytes of one (C, T) tile buffer: three of them, plus the tile's share of the
# inputs, stay well inside a 512 KiB L2.
cdef enum:
    TILE_BYTES = 32768


def openmp_enabled():
    """True when the kernels were compiled with OpenMP."""
    return bool(lrn_openmp())


def max_threads():
    """OpenMP's default team size (honours OMP_NUM_THREADS and threadpoolctl)."""
    return lrn_max_threads()


def num_procs():
    """Processors available to OpenMP (what ``num_threads=-1`` means)."""
    return lrn_num_procs()


def compile_flags():
    """The C compiler flags the kernels were built with."""
    return lrn_cflags().decode()


cdef BetaKind beta_kind(double beta):
    if beta == 0.75:
        return BETA_075
    if beta == 0.5:
        return BETA_05
    if beta == 1.0:
        return BETA_1
    return BETA_ANY


cdef inline floating inv_pow(floating s, floating beta, BetaKind kind) noexcept nogil:
    """``s ** -beta`` with IEEE special values (0 -> inf, inf -> 0, < 0 -> NaN)."""
    if floating is float:
        if kind == BETA_075:
            return <float>1 / sqrtf(s * sqrtf(s))
        if kind == BETA_05:
            return <float>1 / sqrtf(s)
        if kind == BETA_1:
            return <float>1 / s
        return powf(s, -beta)
    else:
        if kind == BETA_075:
            return 1 / sqrt(s * sqrt(s))
        if kind == BETA_05:
            return 1 / sqrt(s)
        if kind == BETA_1:
            return 1 / s
        return pow(s, -beta)


cdef Py_ssize_t tile_positions(Py_ssize_t C, Py_ssize_t S, Py_ssize_t itemsize):
    """Positions per tile: a function of C and the dtype only."""
    cdef Py_ssize_t T = TILE_BYTES // (C * itemsize)
    if T >= 16:
        T -= T % 16
    return max(1, min(S, T))


cdef void load(const floating* src, floating* buf, Py_ssize_t C, Py_ssize_t T,
               Py_ssize_t cs, bint channels_last) noexcept nogil:
    """buf[c, t] = src[c, t] where src is a tile of a (C, S) or (S, C) array."""
    cdef Py_ssize_t c, t
    if channels_last:
        for t in range(T):
            for c in range(C):
                buf[c * T + t] = src[t * C + c]
    else:
        for c in range(C):
            for t in range(T):
                buf[c * T + t] = src[c * cs + t]


cdef void store(const floating* buf, floating* dst, Py_ssize_t C, Py_ssize_t T,
                Py_ssize_t cs, bint channels_last) noexcept nogil:
    """The inverse of ``load``."""
    cdef Py_ssize_t c, t
    if channels_last:
        for t in range(T):
            for c in range(C):
                dst[t * C + c] = buf[c * T + t]
    else:
        for c in range(C):
            for t in range(T):
                dst[c * cs + t] = buf[c * T + t]


cdef void window_sums(floating* A, floating* B, floating* R, Py_ssize_t C,
                      Py_ssize_t T, Py_ssize_t n, Py_ssize_t pre) noexcept nogil:
    """In place, ``A[c] <- sum of A[c'] for c - pre <= c' <= c + n - 1 - pre``.

    Rows are vectors of T positions; B (C x T) and R (T) are scratch.  With
    blocks [k n, k n + n) of channels, B holds in-block suffix sums and R the
    running in-block prefix sum up to row b = c + post, so that the window
    [a, b] of row c is R alone when a starts a block (or is clipped to 0),
    B[a] alone when b is clipped into a's block, and B[a] + R otherwise.
    """
    cdef Py_ssize_t c, t, a, b
    cdef Py_ssize_t post = n - 1 - pre
    cdef Py_ssize_t last_block = (C - 1) // n
    cdef floating* row
    cdef floating* nxt
    cdef floating* suf
    for c in range(C - 1, -1, -1):
        row = B + c * T
        if c == C - 1 or (c + 1) % n == 0:
            for t in range(T):
                row[t] = A[c * T + t]
        else:
            nxt = B + (c + 1) * T
            for t in range(T):
                row[t] = A[c * T + t] + nxt[t]
    for b in range(C + post):
        if b < C:
            if b % n == 0:
                for t in range(T):
                    R[t] = A[b * T + t]
            else:
                for t in range(T):
                    R[t] += A[b * T + t]
        c = b - post
        if c < 0:
            continue
        # Row c of A (c <= b) is no longer needed as an input.
        row = A + c * T
        a = c - pre
        if a <= 0 or a % n == 0:
            for t in range(T):
                row[t] = R[t]
        elif a // n == last_block:
            suf = B + a * T
            for t in range(T):
                row[t] = suf[t]
        else:
            suf = B + a * T
            for t in range(T):
                row[t] = suf[t] + R[t]


cdef void forward_tile(const floating* x, floating* y, floating* scale,
                       Py_ssize_t C, Py_ssize_t T, Py_ssize_t cs, bint channels_last,
                       Py_ssize_t n, Py_ssize_t pre, floating alpha_n, floating beta,
                       floating bias, BetaKind kind, floating* X, floating* A,
                       floating* B, floating* R) noexcept nogil:
    """y = x * (bias + alpha/n * window_sum(x^2)) ** -beta on one tile."""
    cdef Py_ssize_t i, CT = C * T
    cdef floating s
    load(x, X, C, T, cs, channels_last)
    for i in range(CT):
        A[i] = X[i] * X[i]
    window_sums(A, B, R, C, T, n, pre)
    for i in range(CT):
        s = bias + alpha_n * A[i]
        A[i] = s
        X[i] = X[i] * inv_pow(s, beta, kind)
    store(X, y, C, T, cs, channels_last)
    if scale != NULL:
        store(A, scale, C, T, cs, channels_last)


def forward(const floating[:, :, ::1] x, floating[:, :, ::1] y, scale,
            Py_ssize_t size, Py_ssize_t pre, double alpha, double beta, double bias,
            bint channels_last, int num_threads):
    """LRN forward on 3-D views; writes ``y`` and, unless None, ``scale``.

    ``x`` is ``(N, C, S)`` or, with ``channels_last``, ``(N, S, C)``; ``y``
    and ``scale`` have its shape and dtype.  ``pre`` channels before and
    ``size - 1 - pre`` after each channel form its window.  The caller
    validates everything; this only runs the kernel with the GIL released.
    """
    cdef floating[:, :, ::1] sv
    cdef floating* sp = NULL
    if scale is not None:
        sv = scale
        sp = &sv[0, 0, 0]
    cdef Py_ssize_t N = x.shape[0]
    cdef Py_ssize_t C = x.shape[2] if channels_last else x.shape[1]
    cdef Py_ssize_t S = x.shape[1] if channels_last else x.shape[2]
    if N == 0 or C == 0 or S == 0:
        return
    cdef Py_ssize_t T = tile_positions(C, S, sizeof(floating))
    cdef Py_ssize_t tiles = (S + T - 1) // T
    cdef Py_ssize_t CT = C * T, per_thread = 3 * CT + T
    cdef floating* work = <floating*>malloc(num_threads * per_thread * sizeof(floating))
    if work == NULL:
        raise MemoryError("lrn: cannot allocate the kernel's tile buffers")
    cdef const floating* xp = &x[0, 0, 0]
    cdef floating* yp = &y[0, 0, 0]
    cdef floating alpha_n = alpha / size
    cdef BetaKind kind = beta_kind(beta)
    cdef Py_ssize_t job, img, s0, Tj, off, cs = 1 if channels_last else S
    cdef floating* buf
    with nogil, parallel(num_threads=num_threads):
        buf = work + threadid() * per_thread
        for job in prange(N * tiles, schedule="static"):
            img = job // tiles
            s0 = (job % tiles) * T
            Tj = min(T, S - s0)
            off = img * C * S + (s0 * C if channels_last else s0)
            forward_tile(xp + off, yp + off, sp + off if sp != NULL else NULL,
                         C, Tj, cs, channels_last, size, pre, alpha_n, <floating>beta,
                         <floating>bias, kind, buf, buf + CT, buf + 2 * CT, buf + 3 * CT)
    free(work)


cdef void backward_tile(const floating* x, const floating* y, const floating* dy,
                        const floating* scale, floating* dx,
                        Py_ssize_t C, Py_ssize_t T, Py_ssize_t cs, bint channels_last,
                        Py_ssize_t n, Py_ssize_t pre, floating alpha_n, floating beta,
                        floating bias, BetaKind kind, floating* X, floating* A,
                        floating* B, floating* R) noexcept nogil:
    """dx = dy * scale**-beta - 2 alpha beta / n * x * mirrored_window_sum(dy y / scale)."""
    cdef Py_ssize_t i, CT = C * T
    cdef floating coef = 2 * alpha_n * beta
    # X holds the scale (given, or recomputed from x), A the window terms.
    if scale != NULL:
        load(scale, X, C, T, cs, channels_last)
    else:
        load(x, A, C, T, cs, channels_last)
        for i in range(CT):
            A[i] = A[i] * A[i]
        window_sums(A, B, R, C, T, n, pre)
        for i in range(CT):
            X[i] = bias + alpha_n * A[i]
    load(y, A, C, T, cs, channels_last)
    load(dy, B, C, T, cs, channels_last)
    for i in range(CT):
        A[i] = B[i] * A[i] / X[i]
    # The gradient of channel c collects every window that contains c:
    # [c - post, c + pre], the mirror of the forward window.
    window_sums(A, B, R, C, T, n, n - 1 - pre)
    load(dy, B, C, T, cs, channels_last)
    for i in range(CT):
        B[i] = B[i] * inv_pow(X[i], beta, kind)
    load(x, X, C, T, cs, channels_last)
    for i in range(CT):
        X[i] = B[i] - coef * X[i] * A[i]
    store(X, dx, C, T, cs, channels_last)


def backward(const floating[:, :, ::1] x, const floating[:, :, ::1] y,
             const floating[:, :, ::1] dy, scale, floating[:, :, ::1] dx,
             Py_ssize_t size, Py_ssize_t pre, double alpha, double beta, double bias,
             bint channels_last, int num_threads):
    """LRN input gradient on 3-D views; writes ``dx``.

    ``scale`` is the forward's scale tensor, or None to recompute it from
    ``x``.  Shapes, layout and ``pre`` as in :func:`forward`.  ``dx`` may be
    the very buffer of ``x``, ``y``, ``dy`` or ``scale``: each tile reads all
    its inputs before writing.
    """
    cdef const floating[:, :, ::1] sv
    cdef const floating* sp = NULL
    if scale is not None:
        sv = scale
        sp = &sv[0, 0, 0]
    cdef Py_ssize_t N = x.shape[0]
    cdef Py_ssize_t C = x.shape[2] if channels_last else x.shape[1]
    cdef Py_ssize_t S = x.shape[1] if channels_last else x.shape[2]
    if N == 0 or C == 0 or S == 0:
        return
    cdef Py_ssize_t T = tile_positions(C, S, sizeof(floating))
    cdef Py_ssize_t tiles = (S + T - 1) // T
    cdef Py_ssize_t CT = C * T, per_thread = 3 * CT + T
    cdef floating* work = <floating*>malloc(num_threads * per_thread * sizeof(floating))
    if work == NULL:
        raise MemoryError("lrn: cannot allocate the kernel's tile buffers")
    cdef const floating* xp = &x[0, 0, 0]
    cdef const floating* yp = &y[0, 0, 0]
    cdef const floating* dyp = &dy[0, 0, 0]
    cdef floating* dxp = &dx[0, 0, 0]
    cdef floating alpha_n = alpha / size
    cdef BetaKind kind = beta_kind(beta)
    cdef Py_ssize_t job, img, s0, Tj, off, cs = 1 if channels_last else S
    cdef floating* buf
    with nogil, parallel(num_threads=num_threads):
        buf = work + threadid() * per_thread
        for job in prange(N * tiles, schedule="static"):
            img = job // tiles
            s0 = (job % tiles) * T
            Tj = min(T, S - s0)
            off = img * C * S + (s0 * C if channels_last else s0)
            backward_tile(xp + off, yp + off, dyp + off, sp + off if sp != NULL else NULL,
                          dxp + off, C, Tj, cs, channels_last, size, pre, alpha_n,
                          <floating>beta, <floating>bias, kind,
                          buf, buf + CT, buf + 2 * CT, buf + 3 * CT)
    free(work)

# Compiler directives (no bounds/wraparound checks, C division) are set in
# setup.py, so that _kernels_avx2.pyx, which includes this file, gets them too.
"""CPU kernels for Local Response Normalization (design.md §1, §2, §4).

The kernels see C-contiguous 3-D views: channels-first ``(N, C, S)`` or
channels-last ``(N, S, C)``, split into tiles of ``T`` spatial positions
that run in parallel.

- Channels-first: the C rows of a tile (T positions each, vector loops along
  the positions) are swept once, a block of ``n`` channels at a time; a row
  of y (and of the backward pass's dx) is written as soon as its window is
  complete, while its inputs are in L1.
- Channels-last: a position is a contiguous row of C channels; each is done
  on its own in L1, with no transposes.

Window sums never subtract (design §2), which keeps the relative error of a
sum of squares below ``(n - 1)`` ulp and lets a NaN or inf reach only the
windows that contain it.  Channels-first windows are a suffix of one block
of ``n`` channels plus a prefix of the next: three additions per element for
any ``n``.  Channels-last windows are direct sums of up to 8 terms, or sums
of power-of-two partial sums along the binary digits of ``n``.

Tile sizes depend only on the shape, ``n`` and the dtype, never on the
thread count, and every element is computed by the same sequence of
operations wherever it falls, so results are bitwise identical for any
number of threads.
"""

from cython cimport floating
from cython.parallel cimport parallel, prange, threadid
from libc.string cimport memcpy

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
    /* Asks for a row ahead of use: the strided rows of a channels-first tile
       are too many short streams for the hardware prefetcher. */
    static inline void lrn_prefetch(const void *p, Py_ssize_t bytes) {
        const char *c = (const char *)p;
        Py_ssize_t i;
        for (i = 0; i < bytes; i += 64) __builtin_prefetch(c + i, 0, 3);
    }

    /* Zeroed 64-byte aligned blocks from calloc (C11's aligned_alloc is
       missing from MSVC): the distance back to calloc's pointer, 1 to 64, is
       kept in the byte just before the block. */
    #include <stdlib.h>
    #include <stdint.h>
    static void *lrn_alloc64(size_t size) {
        unsigned char *raw = (unsigned char *)calloc(size + 64, 1), *p;
        if (raw == NULL) return NULL;
        p = raw + 64 - ((uintptr_t)raw & 63);
        p[-1] = (unsigned char)(p - raw);
        return p;
    }
    static void lrn_free64(void *p) {
        if (p != NULL) free((unsigned char *)p - ((unsigned char *)p)[-1]);
    }

    /* x * s ** -0.75 and x * s ** -0.5 for float rows in the AVX2+FMA build,
       where sqrt and division would take several times longer: the
       hardware reciprocal square root (12 bits) refined by one Newton step,
       w = r * (3 - X * r * r) = 2 / sqrt(X), the step's halving left out;
       with X = 4 s that is s^-1/2, and with X = k s, k = 2^(10/3),
       w * (w * 2 / sqrt(w)) is s^-3/4 (no intermediate leaves the normal
       range).  The factor k goes into the affine coefficients where a
       window sum is at hand.  Max relative error 2.1e-7 and 4.3e-7
       (checked on every float in [1, 4), which covers all exponents), well
       inside design §2's 3e-6; a second Newton step would cost 40 %.  A lane
       whose X is not a normal positive float (s = 0, tiny, huge, inf, NaN
       or < 0) is redone with the exact formula, so IEEE special values come
       out as they would.  The row functions return 0 (nothing
       done) in builds without AVX2 and FMA. */
    #if defined(__AVX2__) && defined(__FMA__)
    #include <immintrin.h>
    #include <string.h>
    #define LRN_K075 10.0793683991589853f  /* 2^(10/3) */
    static inline __m256 lrn_twice_rsqrt8(__m256 X) {
        __m256 r = _mm256_rsqrt_ps(X);
        return _mm256_mul_ps(r, _mm256_fnmadd_ps(X, _mm256_mul_ps(r, r), _mm256_set1_ps(3.0f)));
    }
    static inline float lrn_pow_exact(float s, int three_quarters) {
        float r = 1.0f / sqrtf(s);
        return three_quarters ? r * sqrtf(r) : r;
    }
    /* x * s ** -beta on eight lanes from X = 4 s or k s (see above); lanes
       with X out of range are redone from s = add + mul * acc.  Each lane
       depends only on its own x and s, so a value does not depend on where
       it falls in a row: tiles, tails and dask blocks agree bitwise. */
    static inline __m256 lrn_pow8(__m256 x, __m256 X, __m256 acc, float mul, float add,
                                  int three_quarters) {
        float xs[8], as[8], rs[8];
        int k, mask;
        /* X is a normal positive float iff its bits + 0x7f800000 (mod 2^32),
           as a signed int, fall below -2^24: one add and one compare. */
        __m256i t = _mm256_add_epi32(_mm256_castps_si256(X), _mm256_set1_epi32(0x7f800000));
        __m256 w = lrn_twice_rsqrt8(X), r;
        if (three_quarters)
            w = _mm256_mul_ps(w, _mm256_mul_ps(w, lrn_twice_rsqrt8(w)));
        r = _mm256_mul_ps(x, w);
        mask = ~_mm256_movemask_ps(_mm256_castsi256_ps(
            _mm256_cmpgt_epi32(_mm256_set1_epi32(-0x01000000), t))) & 0xff;
        if (mask == 0)
            return r;
        _mm256_storeu_ps(xs, x);
        _mm256_storeu_ps(as, acc);
        _mm256_storeu_ps(rs, r);
        for (k = 0; k < 8; k++)
            if (mask >> k & 1)
                rs[k] = xs[k] * lrn_pow_exact(fmaf(mul, as[k], add), three_quarters);
        return _mm256_loadu_ps(rs);
    }
    static inline float lrn_pow_factor(int three_quarters) {
        return three_quarters ? LRN_K075 : 4.0f;
    }
    /* The first m < 8 elements at p, or of v, padded: a row's tail. */
    static inline __m256 lrn_head8(const float *p, Py_ssize_t m, float pad) {
        float t[8];
        Py_ssize_t k;
        for (k = 0; k < 8; k++) t[k] = k < m ? p[k] : pad;
        return _mm256_loadu_ps(t);
    }
    static inline __m256 lrn_pad8(__m256 v, Py_ssize_t m, float pad) {
        float t[8];
        Py_ssize_t k;
        _mm256_storeu_ps(t, v);
        for (k = m; k < 8; k++) t[k] = pad;
        return _mm256_loadu_ps(t);
    }
    static inline void lrn_store_head8(float *p, __m256 v, Py_ssize_t m) {
        float t[8];
        _mm256_storeu_ps(t, v);
        memcpy(p, t, (size_t)m * sizeof(float));
    }
    /* out = x * s ** -beta on a row; ``out`` may be ``x``. */
    static int lrn_pow_row_rsqrt(float *out, const float *x, const float *s,
                                 Py_ssize_t T, int three_quarters) {
        const __m256 k = _mm256_set1_ps(lrn_pow_factor(three_quarters));
        Py_ssize_t t = 0;
        __m256 v;
        for (; t + 8 <= T; t += 8) {
            v = _mm256_loadu_ps(s + t);
            _mm256_storeu_ps(out + t, lrn_pow8(_mm256_loadu_ps(x + t), _mm256_mul_ps(k, v), v,
                                               1.0f, 0.0f, three_quarters));
        }
        if (t < T) {
            v = lrn_head8(s + t, T - t, 1.0f);
            lrn_store_head8(out + t, lrn_pow8(lrn_head8(x + t, T - t, 0.0f), _mm256_mul_ps(k, v),
                                              v, 1.0f, 0.0f, three_quarters), T - t);
        }
        return 1;
    }
    /* rows[0] + ... + rows[m - 1] at t, added in that order: eight elements,
       or the ``left`` < 8 of a row's tail padded with zeros, so nothing past
       a row's end is read. */
    static inline __m256 lrn_sum8(const float **rows, int m, Py_ssize_t t) {
        __m256 acc = _mm256_loadu_ps(rows[0] + t);
        int j;
        for (j = 1; j < m; j++) acc = _mm256_add_ps(acc, _mm256_loadu_ps(rows[j] + t));
        return acc;
    }
    static inline __m256 lrn_sum8_head(const float **rows, int m, Py_ssize_t t,
                                       Py_ssize_t left) {
        __m256 acc = lrn_head8(rows[0] + t, left, 0.0f);
        int j;
        for (j = 1; j < m; j++) acc = _mm256_add_ps(acc, lrn_head8(rows[j] + t, left, 0.0f));
        return acc;
    }
    /* scale = add + mul * (rows[0] + ... + rows[m - 1]) summed in that order
       (stored unless ``scale`` is NULL) and y = x * scale ** -beta, on a row of
       T: the window sums and the power in one pass, the factor of X folded
       into the affine coefficients.  ``y`` may be ``x``. */
    static int lrn_sum_pow_row(const float **rows, int m, const float *x, float *y,
                               float *scale, Py_ssize_t T, float mul, float add,
                               int three_quarters) {
        const float k = lrn_pow_factor(three_quarters);
        const __m256 vm = _mm256_set1_ps(mul), va = _mm256_set1_ps(add);
        const __m256 vmk = _mm256_set1_ps(k * mul), vak = _mm256_set1_ps(k * add);
        Py_ssize_t t;
        __m256 acc;
        for (t = 0; t + 8 <= T; t += 8) {
            acc = lrn_sum8(rows, m, t);
            if (scale != NULL) _mm256_storeu_ps(scale + t, _mm256_fmadd_ps(vm, acc, va));
            _mm256_storeu_ps(y + t, lrn_pow8(_mm256_loadu_ps(x + t),
                                             _mm256_fmadd_ps(vmk, acc, vak), acc, mul, add,
                                             three_quarters));
        }
        if (t < T) {
            acc = lrn_sum8_head(rows, m, t, T - t);
            if (scale != NULL) lrn_store_head8(scale + t, _mm256_fmadd_ps(vm, acc, va), T - t);
            lrn_store_head8(y + t, lrn_pow8(lrn_head8(x + t, T - t, 0.0f),
                                            lrn_pad8(_mm256_fmadd_ps(vmk, acc, vak), T - t, 1.0f),
                                            acc, mul, add, three_quarters), T - t);
        }
        return 1;
    }
    /* dx = dy * s ** -beta - coef * x * (rows[0] + ... + rows[m - 1]) on a row
       of T: the backward pass's last step in one pass (``dx`` may be any of
       the inputs). */
    static inline __m256 lrn_grad8(__m256 acc, __m256 g, __m256 sv, __m256 xv, float coef,
                                   int three_quarters) {
        return _mm256_fnmadd_ps(_mm256_mul_ps(_mm256_set1_ps(coef), xv), acc,
                                lrn_pow8(g, _mm256_mul_ps(_mm256_set1_ps(
                                    lrn_pow_factor(three_quarters)), sv), sv, 1.0f, 0.0f,
                                    three_quarters));
    }
    static int lrn_grad_row(const float **rows, int m, const float *dy, const float *s,
                            const float *x, float *dx, Py_ssize_t T, float coef,
                            int three_quarters) {
        Py_ssize_t t;
        for (t = 0; t + 8 <= T; t += 8)
            _mm256_storeu_ps(dx + t, lrn_grad8(lrn_sum8(rows, m, t), _mm256_loadu_ps(dy + t),
                                               _mm256_loadu_ps(s + t), _mm256_loadu_ps(x + t),
                                               coef, three_quarters));
        if (t < T)
            lrn_store_head8(dx + t, lrn_grad8(lrn_sum8_head(rows, m, t, T - t),
                                              lrn_head8(dy + t, T - t, 0.0f),
                                              lrn_head8(s + t, T - t, 1.0f),
                                              lrn_head8(x + t, T - t, 0.0f), coef,
                                              three_quarters), T - t);
        return 1;
    }
    /* out = add + mul * (rows[0] + ... + rows[m - 1]) on a row of T, added in
       that order, eight at a time in registers. */
    static int lrn_sum_rows(const float **rows, int m, float *out, Py_ssize_t T,
                            float mul, float add) {
        const __m256 vm = _mm256_set1_ps(mul), va = _mm256_set1_ps(add);
        Py_ssize_t t;
        for (t = 0; t + 8 <= T; t += 8)
            _mm256_storeu_ps(out + t, _mm256_fmadd_ps(vm, lrn_sum8(rows, m, t), va));
        if (t < T)
            lrn_store_head8(out + t, _mm256_fmadd_ps(vm, lrn_sum8_head(rows, m, t, T - t), va),
                            T - t);
        return 1;
    }
    #else
    static int lrn_pow_row_rsqrt(float *out, const float *x, const float *s,
                                 Py_ssize_t T, int three_quarters) { return 0; }
    static int lrn_sum_pow_row(const float **rows, int m, const float *x, float *y,
                               float *scale, Py_ssize_t T, float mul, float add,
                               int three_quarters) { return 0; }
    static int lrn_grad_row(const float **rows, int m, const float *dy, const float *s,
                            const float *x, float *dx, Py_ssize_t T, float coef,
                            int three_quarters) { return 0; }
    static int lrn_sum_rows(const float **rows, int m, float *out, Py_ssize_t T,
                            float mul, float add) { return 0; }
    #endif

    /* Rows of IEEE binary16 <-> binary32, rounding to nearest even, with
       subnormals, inf and NaN: the F16C instructions eight at a time (a
       short tail is padded to eight, so every element takes the same
       instruction wherever it sits), or the portable scalar code below. */
    #include <stdint.h>
    #include <string.h>
    #if defined(__F16C__)
    #include <immintrin.h>
    static void lrn_h2f_row(const uint16_t *src, float *dst, Py_ssize_t n) {
        Py_ssize_t i = 0;
        uint16_t h[8] = {0};
        float f[8];
        for (; i + 8 <= n; i += 8)
            _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + i))));
        if (i < n) {
            memcpy(h, src + i, (size_t)(n - i) * 2);
            _mm256_storeu_ps(f, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)h)));
            memcpy(dst + i, f, (size_t)(n - i) * 4);
        }
    }
    static void lrn_f2h_row(const float *src, uint16_t *dst, Py_ssize_t n) {
        Py_ssize_t i = 0;
        uint16_t h[8];
        float f[8] = {0};
        for (; i + 8 <= n; i += 8)
            _mm_storeu_si128((__m128i *)(dst + i), _mm256_cvtps_ph(
                _mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
        if (i < n) {
            memcpy(f, src + i, (size_t)(n - i) * 4);
            _mm_storeu_si128((__m128i *)h, _mm256_cvtps_ph(
                _mm256_loadu_ps(f), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
            memcpy(dst + i, h, (size_t)(n - i) * 2);
        }
    }
    #else
    static inline float lrn_h2f(uint16_t h) {
        uint32_t sign = (uint32_t)(h & 0x8000u) << 16, em = h & 0x7fffu, bits;
        float f;
        if (em < 0x0400u) {            /* zero or subnormal: em * 2^-24, exact */
            f = (float)em * 5.9604644775390625e-08f;
            memcpy(&bits, &f, 4);
        } else if (em < 0x7c00u) {     /* normal: rebias the exponent by 127 - 15 */
            bits = (em << 13) + 0x38000000u;
        } else {                       /* inf or NaN: keep the payload */
            bits = (em << 13) | 0x7f800000u;
        }
        bits |= sign;
        memcpy(&f, &bits, 4);
        return f;
    }
    static inline uint16_t lrn_f2h(float f) {
        uint32_t x, sign, ax;
        memcpy(&x, &f, 4);
        sign = (x >> 16) & 0x8000u;
        ax = x & 0x7fffffffu;
        if (ax >= 0x47800000u)         /* >= 2^16: inf, or NaN (kept quiet) */
            return (uint16_t)(sign | (ax > 0x7f800000u ? 0x7e00u | ((ax >> 13) & 0x3ffu) : 0x7c00u));
        if (ax < 0x38800000u) {        /* below 2^-14: a half subnormal or zero; adding
                                          0.5 makes the float's ulp 2^-24, the half's,
                                          so the FPU rounds to nearest even for us */
            float t, a;
            uint32_t tb;
            memcpy(&a, &ax, 4);
            t = a + 0.5f;
            memcpy(&tb, &t, 4);
            return (uint16_t)(sign | (tb - 0x3f000000u));
        }
        /* normal: rebias (-112 << 23) and round the 13 dropped bits to nearest
           even; a carry into the exponent gives the next binade or inf */
        ax += 0xc8000fffu + ((ax >> 13) & 1u);
        return (uint16_t)(sign | (ax >> 13));
    }
    static void lrn_h2f_row(const uint16_t *src, float *dst, Py_ssize_t n) {
        Py_ssize_t i;
        for (i = 0; i < n; i++) dst[i] = lrn_h2f(src[i]);
    }
    static void lrn_f2h_row(const float *src, uint16_t *dst, Py_ssize_t n) {
        Py_ssize_t i;
        for (i = 0; i < n; i++) dst[i] = lrn_f2h(src[i]);
    }
    #endif
    #if (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__i386__))
    static int lrn_cpu_has_avx2_fma(void) {
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")
               && __builtin_cpu_supports("f16c");
    }
    #else
    static int lrn_cpu_has_avx2_fma(void) { return 0; }
    #endif
    """
    int lrn_openmp() nogil
    int lrn_max_threads() nogil
    int lrn_num_procs() nogil
    const char *lrn_cflags()
    void lrn_prefetch(const void*, Py_ssize_t) nogil
    void *lrn_alloc64(size_t)
    void lrn_free64(void*)
    int lrn_pow_row_rsqrt(float*, const float*, const float*, Py_ssize_t, int) nogil
    int lrn_sum_rows(const float**, int, float*, Py_ssize_t, float, float) nogil
    int lrn_sum_pow_row(const float**, int, const float*, float*, float*, Py_ssize_t, float,
                        float, int) nogil
    int lrn_grad_row(const float**, int, const float*, const float*, const float*, float*,
                     Py_ssize_t, float, int) nogil
    void lrn_h2f_row(const unsigned short*, float*, Py_ssize_t) nogil
    void lrn_f2h_row(const float*, unsigned short*, Py_ssize_t) nogil
    int lrn_cpu_has_avx2_fma()
    float sqrtf(float) nogil
    double sqrt(double) nogil
    float powf(float, float) nogil
    double pow(double, double) nogil

# What the public kernels read and write: float, double, or IEEE half bits
# (``unsigned short``), which are computed in float.
ctypedef unsigned short half_bits

ctypedef fused storage:
    float
    double
    half_bits

# How scale ** -beta is evaluated (design §2: exact cheap forms first).
cdef enum BetaKind:
    BETA_075
    BETA_05
    BETA_1
    BETA_ANY

# Bytes of a tile's scratch rows (channels-first) or of one (C, T) buffer
# (channels-last, half backward): with the tile's share of the inputs they
# stay well inside a 512 KiB L2.
cdef enum:
    TILE_BYTES = 32768
    # The channels-first backward pass reads four strided inputs per row:
    # rows four times longer keep the prefetcher streaming (alexnet2 NCHW,
    # 2 threads: 2.7 -> 1.6 copies of the 4-array floor).
    ROW_BYTES_BACKWARD = 131072


def openmp_enabled():
    """True when the kernels were compiled with OpenMP."""
    return bool(lrn_openmp())


def max_threads():
    """OpenMP's default team size (honours OMP_NUM_THREADS and threadpoolctl)."""
    return lrn_max_threads()


def num_procs():
    """Processors available to OpenMP (what ``num_threads=-1`` means)."""
    return lrn_num_procs()


def cpu_has_avx2_fma():
    """True when this processor can run the AVX2 build (AVX2, FMA, F16C)."""
    return bool(lrn_cpu_has_avx2_fma())


def compile_flags():
    """The C compiler flags the kernels were built with."""
    return lrn_cflags().decode()


cdef BetaKind beta_kind(double beta) noexcept nogil:
    if beta == 0.75:
        return BETA_075
    if beta == 0.5:
        return BETA_05
    if beta == 1.0:
        return BETA_1
    return BETA_ANY


cdef void pow_row(floating* out, const floating* x, const floating* s, Py_ssize_t T,
                  floating beta, BetaKind kind) noexcept nogil:
    """``out = x * s ** -beta`` on a row, with IEEE special values (s = 0 -> inf,
    inf -> 0, < 0 -> NaN).  One loop per kind so each vectorises; 0.75 goes
    through ``r = 1/sqrt(s)`` because ``s * sqrt(s)`` overflows for large s."""
    cdef Py_ssize_t t
    cdef floating r
    if floating is float:
        if (kind == BETA_075 or kind == BETA_05) and lrn_pow_row_rsqrt(
                out, x, s, T, kind == BETA_075):
            return
        if kind == BETA_075:
            for t in range(T):
                r = <float>1 / sqrtf(s[t])
                out[t] = x[t] * (r * sqrtf(r))
        elif kind == BETA_05:
            for t in range(T):
                out[t] = x[t] / sqrtf(s[t])
        elif kind == BETA_1:
            for t in range(T):
                out[t] = x[t] / s[t]
        else:
            for t in range(T):
                out[t] = x[t] * powf(s[t], -beta)
    else:
        if kind == BETA_075:
            for t in range(T):
                r = 1 / sqrt(s[t])
                out[t] = x[t] * (r * sqrt(r))
        elif kind == BETA_05:
            for t in range(T):
                out[t] = x[t] / sqrt(s[t])
        elif kind == BETA_1:
            for t in range(T):
                out[t] = x[t] / s[t]
        else:
            for t in range(T):
                out[t] = x[t] * pow(s[t], -beta)


cdef int team_size(Py_ssize_t elements, Py_ssize_t jobs, int num_threads) noexcept nogil:
    """Threads worth waking: about one per 32 Ki elements, at most one per job
    (waking a team costs more than a small input takes alone)."""
    return <int>max(1, min(<Py_ssize_t>num_threads, jobs, elements // 32768))


cdef (Py_ssize_t, Py_ssize_t) clip_window(Py_ssize_t C, Py_ssize_t n,
                                         Py_ssize_t pre) noexcept nogil:
    """(n, pre) of the window clipped to the C channels: at most C - 1 on
    either side.  The sums are the same (the channels beyond are zeros), and
    no loop or buffer grows with a size far above C."""
    cdef Py_ssize_t before = min(pre, C - 1), after = min(n - 1 - pre, C - 1)
    return before + after + 1, before


cdef Py_ssize_t tile_positions(Py_ssize_t C, Py_ssize_t S, Py_ssize_t n,
                               Py_ssize_t itemsize, bint channels_last, bint backward,
                               bint half) noexcept nogil:
    """Positions per tile: a function of the shape, n, the dtype and the mode
    only (never of the thread count).  Channels-last tiles, the unit of work
    there, and half backward tiles, widened to (C, T) float buffers, take
    what fits TILE_BYTES (at least one 8-lane vector, even when that outgrows
    the L2 for very many channels); other channels-first tiles keep
    :func:`row_scratch` rows of T, so their rows are longer, at most 2048."""
    cdef Py_ssize_t T
    if channels_last or (half and backward):
        T = TILE_BYTES // (C * itemsize)
    else:
        T = min(<Py_ssize_t>2048, (ROW_BYTES_BACKWARD if backward else TILE_BYTES) // (
            itemsize * hot_rows(C, n, backward, half)))
    if T >= 16:
        T -= T % 16
    return min(S, max(8, T))


cdef inline Py_ssize_t row_scratch(Py_ssize_t C, Py_ssize_t n, bint backward,
                                   bint half) noexcept nogil:
    """Scratch rows of a channels-first tile: :func:`backward_scratch`
    backward; forward B, R and W, and for half data two blocks of widened x
    and the rows of y and scale before they are rounded."""
    if backward:
        return backward_scratch(C, n)
    return 2 * suffix_rows(C, n) + 4 if half else suffix_rows(C, n) + 2


cdef inline Py_ssize_t hot_rows(Py_ssize_t C, Py_ssize_t n, bint backward,
                                bint half) noexcept nogil:
    """The part of :func:`row_scratch` in use at a time, which sizes the rows:
    a step touches two rows of B (its suffix row and R) wherever n puts them,
    so long windows need not shorten the rows."""
    return row_scratch(C, min(n, 5), backward, half)


cdef inline Py_ssize_t padded(Py_ssize_t T) noexcept nogil:
    """Row stride of the tile buffers: T rounded up to 16 elements (64 bytes
    of float), so that with 64-byte aligned buffers every row is aligned and
    a vector never straddles two cache lines (which would also stall the
    store forwarding between one row pass and the next)."""
    return (T + 15) // 16 * 16


cdef inline Py_ssize_t tile_buffer_size(Py_ssize_t C, Py_ssize_t T, Py_ssize_t n,
                                        bint channels_last, bint backward,
                                        bint half) noexcept nogil:
    """Scratch elements per thread for tiles of at most T positions: for
    channels-last tiles, the rows of :func:`position_rows` and the levels of
    its windows; for channels-first, :func:`row_scratch` rows of padded T;
    for half tiles widened whole, four (C, padded T) float buffers on top."""
    cdef Py_ssize_t L = padded(T)
    cdef Py_ssize_t size
    if channels_last:
        size = (4 + window_levels(n)) * position_row(C, n)
    else:
        size = row_scratch(C, n, backward, half) * L
    return size + (4 * C * L if half and (channels_last or backward) else 0)


cdef inline Py_ssize_t suffix_rows(Py_ssize_t C, Py_ssize_t n) noexcept nogil:
    """Rows of :func:`window_sums`' scratch B: two blocks of n, at most C."""
    return min(2 * n, C)


cdef inline floating* suffix_row(floating* B, Py_ssize_t ldb, Py_ssize_t c,
                                 Py_ssize_t n) noexcept nogil:
    """Row c's suffix sum in B, where blocks take turns in two slots of n rows."""
    return B + ((c // n) % 2 * n + c % n) * ldb


cdef inline void suffix_block(const floating* src, Py_ssize_t lds, bint square,
                              floating* B, Py_ssize_t ldb, Py_ssize_t c0, Py_ssize_t c1,
                              Py_ssize_t T, Py_ssize_t n) noexcept nogil:
    """B[c] = sum of v[c'] for c <= c' < c1, for the block [c0, c1) of rows
    (row c of v at src + (c - c0) * lds).

    Each row read here is read again by the steps right after, while it is
    in L1."""
    cdef Py_ssize_t c, t
    cdef const floating* sr
    cdef floating* row
    cdef floating* nxt
    for c in range(c1 - 1, c0 - 1, -1):
        sr = src + (c - c0) * lds
        row = suffix_row(B, ldb, c, n)
        if c == c1 - 1:
            for t in range(T):
                row[t] = sr[t] * sr[t] if square else sr[t]
        else:
            nxt = row + ldb
            for t in range(T):
                row[t] = (sr[t] * sr[t] if square else sr[t]) + nxt[t]


cdef inline Py_ssize_t window_step(Py_ssize_t b, const floating* sr, bint square,
                                   floating* B, Py_ssize_t ldb, floating* R, Py_ssize_t C,
                                   Py_ssize_t T, Py_ssize_t n, Py_ssize_t pre,
                                   const floating** rows, int* m) noexcept nogil:
    """Step b (0 <= b < C + post) of :func:`window_sums`: add row b of v
    (at ``sr``; none when b >= C) to the running block prefix R; then the
    rows whose sum is the window of row c = b - post (R alone, B[a] alone,
    or B[a] then R) go to ``rows`` and their count to ``m``; returns c, or
    -1 if c < 0."""
    cdef Py_ssize_t t, a, c = b - (n - 1 - pre)
    if b < C:
        if b % n == 0:
            for t in range(T):
                R[t] = sr[t] * sr[t] if square else sr[t]
        else:
            for t in range(T):
                R[t] += sr[t] * sr[t] if square else sr[t]
    if c < 0:
        return -1
    a = c - pre
    m[0] = 1
    if a <= 0 or a % n == 0:
        rows[0] = R
    else:
        rows[0] = suffix_row(B, ldb, a, n)
        if a // n != (C - 1) // n:
            rows[1] = R
            m[0] = 2
    return c


cdef void sum_rows(const floating** rows, int m, floating* out, Py_ssize_t T,
                   floating mul, floating add) noexcept nogil:
    """``out = add + mul * (rows[0] + ... + rows[m - 1])`` on a row, added in
    that order."""
    cdef Py_ssize_t t
    cdef int j
    if floating is float:
        if lrn_sum_rows(rows, m, out, T, mul, add):
            return
    for t in range(T):
        out[t] = rows[0][t]
    for j in range(1, m):
        for t in range(T):
            out[t] += rows[j][t]
    for t in range(T):
        out[t] = add + mul * out[t]


cdef void sum_pow_row(const floating** rows, int m, const floating* x, floating* y,
                      floating* scale, floating* W, Py_ssize_t T, floating mul,
                      floating add, floating beta, BetaKind kind) noexcept nogil:
    """scale = add + mul * (rows[0] + ... + rows[m - 1]) and y = x * scale ** -beta
    on a row; ``scale`` NULL keeps it in the scratch row W only; ``y`` may be
    ``x``.  In one pass for float and beta 0.75 or 0.5 in the AVX2 build."""
    cdef Py_ssize_t t
    if floating is float:
        if (kind == BETA_075 or kind == BETA_05) and lrn_sum_pow_row(
                rows, m, x, y, scale, T, mul, add, kind == BETA_075):
            return
    sum_rows(rows, m, W, T, mul, add)
    if scale != NULL:
        for t in range(T):
            scale[t] = W[t]
    pow_row(y, x, W, T, beta, kind)


cdef void grad_row(const floating** rows, int m, const floating* dy, const floating* s,
                   const floating* x, floating* dx, floating* W, floating* P, Py_ssize_t T,
                   floating coef, floating beta, BetaKind kind) noexcept nogil:
    """dx = dy * s ** -beta - coef * x * (rows[0] + ... + rows[m - 1]) on a row,
    with the scratch rows W and P; ``dx`` may be any of dy, s, x.  In one
    pass for float and beta 0.75 or 0.5 in the AVX2 build."""
    cdef Py_ssize_t t
    if floating is float:
        if (kind == BETA_075 or kind == BETA_05) and lrn_grad_row(
                rows, m, dy, s, x, dx, T, coef, kind == BETA_075):
            return
    sum_rows(rows, m, W, T, 1, 0)
    pow_row(P, dy, s, T, beta, kind)
    for t in range(T):
        dx[t] = P[t] - coef * x[t] * W[t]


cdef inline Py_ssize_t block_steps(Py_ssize_t k, Py_ssize_t C, Py_ssize_t n,
                                   Py_ssize_t pre) noexcept nogil:
    """One past the last step b of :func:`window_row` done with block k:
    the block's end, or for the last block the end of all C + post steps."""
    return C + n - 1 - pre if k == (C - 1) // n else k * n + n


cdef void window_sums(const floating* src, Py_ssize_t lds, bint square, floating* out,
                      Py_ssize_t ldo, floating mul, floating add, floating* B,
                      Py_ssize_t ldb, floating* R, Py_ssize_t C, Py_ssize_t T,
                      Py_ssize_t n, Py_ssize_t pre) noexcept nogil:
    """``out[c] = add + mul * sum of v[c'] for c - pre <= c' <= c + n - 1 - pre``,
    where ``v = src ** 2`` if ``square`` else ``src``.

    Rows are vectors of T positions (row c of src at src + c * lds, of out at
    out + c * ldo); ``out`` may be ``src``.  B (:func:`suffix_rows` rows of
    stride ldb) and R (T) are scratch.  With blocks [k n, k n + n) of
    channels, B holds in-block suffix sums and R the running in-block prefix
    sum up to row b = c + post, so that the window [a, b] of row c is R alone
    when a starts a block (or is clipped to 0), B[a] alone when b is clipped
    into a's block, and B[a] + R otherwise.  Block by block: block k's
    suffix sums, then the steps b in block k, which need only blocks k - 1
    and k.  Row c of src (c <= b) is no longer needed once row c of out is
    written, so out may overwrite it.
    """
    cdef Py_ssize_t k, b, c
    cdef const floating* rows[2]
    cdef int m
    for k in range((C - 1) // n + 1):
        suffix_block(src + k * n * lds, lds, square, B, ldb, k * n, min(k * n + n, C), T, n)
        for b in range(k * n, block_steps(k, C, n, pre)):
            c = window_step(b, src + min(b, C - 1) * lds, square, B, ldb, R, C, T, n, pre,
                            rows, &m)
            if c >= 0:
                sum_rows(rows, m, out + c * ldo, T, mul, add)


cdef void forward_rows(const floating* x, Py_ssize_t xs, floating* y, Py_ssize_t ys,
                       floating* scale, Py_ssize_t ss, Py_ssize_t C, Py_ssize_t T,
                       Py_ssize_t n, Py_ssize_t pre, floating alpha_n, floating beta,
                       floating bias, BetaKind kind, floating* B, Py_ssize_t ldb,
                       floating* R, floating* W) noexcept nogil:
    """scale = bias + alpha/n * window sum of x^2 and y = x * scale ** -beta on
    C rows of T positions (row c of x at x + c * xs, ...); ``y`` may be ``x``;
    ``scale`` may be NULL.  Each row of y as soon as its window is complete
    (:func:`sum_pow_row`, with the scratch row W)."""
    cdef Py_ssize_t k, b, c
    cdef const floating* rows[2]
    cdef int m
    for k in range((C - 1) // n + 1):
        suffix_block(x + k * n * xs, xs, True, B, ldb, k * n, min(k * n + n, C), T, n)
        for c in range(k * n + n, min(k * n + 2 * n, C)):  # the next block, meanwhile
            lrn_prefetch(x + c * xs, T * sizeof(floating))
        for b in range(k * n, block_steps(k, C, n, pre)):
            c = window_step(b, x + min(b, C - 1) * xs, True, B, ldb, R, C, T, n, pre, rows, &m)
            if c >= 0:
                sum_pow_row(rows, m, x + c * xs, y + c * ys,
                            NULL if scale == NULL else scale + c * ss, W, T, alpha_n, bias,
                            beta, kind)


cdef void forward_rows_half(const unsigned short* x, unsigned short* y,
                            unsigned short* scale, Py_ssize_t S, Py_ssize_t C, Py_ssize_t T,
                            Py_ssize_t n, Py_ssize_t pre, float alpha_n, float beta,
                            float bias, BetaKind kind, float* buf, Py_ssize_t L) noexcept nogil:
    """:func:`forward_rows` on half rows of stride S: each block of x is
    widened into float just before its suffix sums (two blocks kept, as in
    B), and each row of y (and scale) is rounded back as soon as it is
    computed, so the tile never exists as float.  ``buf`` has
    :func:`row_scratch` rows of stride L."""
    cdef Py_ssize_t k, b, c, c0, c1, sr_rows = suffix_rows(C, n)
    cdef float* B = buf
    cdef float* X = B + sr_rows * L
    cdef float* R = X + sr_rows * L
    cdef float* W = R + L
    cdef float* Y1 = W + L
    cdef float* S1 = Y1 + L
    cdef const float* rows[2]
    cdef int m
    for k in range((C - 1) // n + 1):
        c0 = k * n
        c1 = min(c0 + n, C)
        for c in range(c0, c1):
            lrn_h2f_row(x + c * S, suffix_row(X, L, c, n), T)
        suffix_block(suffix_row(X, L, c0, n), L, True, B, L, c0, c1, T, n)
        for b in range(c0, block_steps(k, C, n, pre)):
            c = window_step(b, suffix_row(X, L, min(b, C - 1), n), True, B, L, R, C, T, n, pre,
                            rows, &m)
            if c < 0:
                continue
            sum_pow_row(rows, m, suffix_row(X, L, c, n), Y1, NULL if scale == NULL else S1,
                        W, T, alpha_n, bias, beta, kind)
            lrn_f2h_row(Y1, y + c * S, T)
            if scale != NULL:
                lrn_f2h_row(S1, scale + c * S, T)


cdef void backward_rows(const floating* x, const floating* y, const floating* dy,
                        const floating* scale, floating* dx, Py_ssize_t rs,
                        Py_ssize_t C, Py_ssize_t T, Py_ssize_t n, Py_ssize_t pre,
                        floating alpha_n, floating beta, floating bias, BetaKind kind,
                        floating* buf, Py_ssize_t L) noexcept nogil:
    """Input gradient on C rows of T positions, all arrays with row stride rs;
    ``buf`` is :func:`backward_scratch`, rows of stride L.

    dx = dy * scale ** -beta - coef * x * (sums of D = dy * y / scale over the
    windows that contain each channel: [c - post, c + pre], the forward
    window mirrored, so the steps run with pre and post swapped).  Block k
    of D is computed as its suffix sums are, and row c of dx at the step
    that completes its window.  ``scale`` NULL recomputes it: a forward
    window pipeline runs ahead, keeping the last min(2 n, C) rows.  ``dx`` may be any
    of the inputs: row c of every input is last read at row c of dx.
    """
    cdef Py_ssize_t k, b, c, c0, c1, t, bf = 0
    cdef Py_ssize_t post = n - 1 - pre, sr_rows = suffix_rows(C, n), ring = sr_rows
    cdef floating coef = 2 * alpha_n * beta
    cdef floating* B = buf
    cdef floating* R = B + sr_rows * L
    cdef floating* W = R + L
    cdef floating* P = W + L
    cdef floating* D = P + L
    cdef floating* S = D + min(n, C) * L
    cdef floating* Bf = S + ring * L
    cdef floating* Rf = Bf + sr_rows * L
    cdef const floating* srow
    cdef floating* dr
    cdef const floating* rows[2]
    cdef int m
    for k in range((C - 1) // n + 1):
        c0 = k * n
        c1 = min(c0 + n, C)
        # Scale rows up to c1 - 1 (a forward step b writes row b - post).
        while scale == NULL and bf < c1 + post:
            if bf < C and bf % n == 0:
                suffix_block(x + bf * rs, rs, True, Bf, L, bf, min(bf + n, C), T, n)
            c = window_step(bf, x + min(bf, C - 1) * rs, True, Bf, L, Rf, C, T, n, pre,
                            rows, &m)
            if c >= 0:
                sum_rows(rows, m, S + (c % ring) * L, T, alpha_n, bias)
            bf += 1
        for c in range(c0, c1):
            srow = scale + c * rs if scale != NULL else S + (c % ring) * L
            dr = D + (c - c0) * L
            for t in range(T):
                dr[t] = dy[c * rs + t] * y[c * rs + t] / srow[t]
        suffix_block(D, L, False, B, L, c0, c1, T, n)
        for b in range(c0, block_steps(k, C, n, post)):
            c = window_step(b, D + (min(b, C - 1) - c0) * L, False, B, L, R, C, T, n, post,
                            rows, &m)
            if c < 0:
                continue
            srow = scale + c * rs if scale != NULL else S + (c % ring) * L
            grad_row(rows, m, dy + c * rs, srow, x + c * rs, dx + c * rs, W, P, T, coef, beta,
                     kind)


cdef inline Py_ssize_t backward_scratch(Py_ssize_t C, Py_ssize_t n) noexcept nogil:
    """Rows of :func:`backward_rows`' scratch: B, R, W, P, one block of D,
    the ring of scale rows and the scale pipeline's own B and R (each at
    most C rows, whatever n)."""
    return 3 * suffix_rows(C, n) + 4 + min(n, C)


cdef enum:
    DIRECT_TERMS = 8  # channels-last windows of up to this many terms are summed directly


cdef inline int window_levels(Py_ssize_t n) noexcept nogil:
    """Levels of partial sums :func:`position_window` builds for n terms:
    none for a direct sum, else floor(log2(n))."""
    cdef int k = 0
    if n <= DIRECT_TERMS:
        return 0
    while (<Py_ssize_t>2 << k) <= n:
        k += 1
    return k


cdef inline Py_ssize_t position_row(Py_ssize_t C, Py_ssize_t n) noexcept nogil:
    """Length of :func:`position_rows`' rows: the C channels with the n - 1
    zeros of the window's pads, rounded up to 16 elements."""
    return padded(C + n - 1)


cdef int window_terms(const floating* q, Py_ssize_t n, floating* levels, Py_ssize_t M,
                      const floating** rows) noexcept nogil:
    """The rows whose sum, element c, is q[c] + ... + q[c + n - 1]: the window
    of a channels-last position over its row ``q`` of M terms padded with
    zeros; they go to ``rows`` and their count is returned.

    Up to DIRECT_TERMS they are q shifted by 0, 1, ..., n - 1.  Longer
    windows take partial sums of 2^k terms, ``levels[k - 1][i] = q[i] + ...
    + q[i + 2^k - 1]`` (M each, built by doubling), along the binary digits
    of n, largest first, so the cost grows as log n; any order of adding
    terms >= 0 keeps the (n - 1)-ulp bound of design §2."""
    cdef int m = 0, k, K = window_levels(n)
    cdef Py_ssize_t i, h, pos = 0
    cdef const floating* lo = q
    cdef floating* hi
    if K == 0:
        for i in range(n):
            rows[i] = q + i
        return <int>n
    for k in range(K):
        h = <Py_ssize_t>1 << k
        hi = levels + k * M
        for i in range(M - h):
            hi[i] = lo[i] + lo[i + h]
        lo = hi
    for k in range(K, -1, -1):
        if n >> k & 1:
            rows[m] = (q if k == 0 else levels + (k - 1) * M) + pos
            m += 1
            pos += <Py_ssize_t>1 << k
    return m


cdef void position_rows(bint backward, const floating* x, const floating* y,
                        const floating* dy, const floating* scale_in, floating* out,
                        floating* scale_out, Py_ssize_t C, Py_ssize_t T, Py_ssize_t n,
                        Py_ssize_t pre, floating alpha_n, floating beta, floating bias,
                        BetaKind kind, floating* buf) noexcept nogil:
    """A channels-last tile of T positions, each a contiguous row of C channels,
    one at a time: no transposes; each position's rows stay in L1.

    The window runs over rows padded with zeros (:func:`window_terms`): Q holds x ** 2 at Q[pre + c], P the backward
    terms at P[post + c] (the mirrored window).  Only their pads are
    zeroed, once per tile.  ``out`` may be any input."""
    cdef Py_ssize_t p, c, off, post = n - 1 - pre, M = position_row(C, n)
    cdef floating coef = 2 * alpha_n * beta
    cdef floating* Q = buf
    cdef floating* P = Q + M
    cdef floating* W = P + M
    cdef floating* E = W + M
    cdef floating* levels = E + M
    cdef const floating* sr
    cdef const floating* rows[64]
    cdef int m
    for c in range(M):
        if c < pre or c >= pre + C:
            Q[c] = 0
        if c < post or c >= post + C:
            P[c] = 0
    for p in range(T):
        off = p * C
        if not backward or scale_in == NULL:
            for c in range(C):
                Q[pre + c] = x[off + c] * x[off + c]
            m = window_terms(Q, n, levels, M, rows)
        if not backward:
            sum_pow_row(rows, m, x + off, out + off,
                        NULL if scale_out == NULL else scale_out + off, W, C, alpha_n, bias,
                        beta, kind)
            continue
        if scale_in == NULL:
            sum_rows(rows, m, W, C, alpha_n, bias)
        sr = W if scale_in == NULL else scale_in + off
        for c in range(C):
            P[post + c] = dy[off + c] * y[off + c] / sr[c]
        m = window_terms(P, n, levels, M, rows)
        # dy * scale ** -beta may go where the terms were, once they are summed.
        grad_row(rows, m, dy + off, sr, x + off, out + off, E, P + post, C, coef, beta, kind)


cdef void run_tile(bint backward, const floating* x, const floating* y,
                   const floating* dy, const floating* scale_in, floating* out,
                   floating* scale_out, Py_ssize_t C, Py_ssize_t S, Py_ssize_t T,
                   bint channels_last, Py_ssize_t n, Py_ssize_t pre, floating alpha_n,
                   floating beta, floating bias, BetaKind kind, floating* buf) noexcept nogil:
    """One tile: channels-first rows are used in place (stride S), with the
    scratch of :func:`tile_buffer_size`; channels-last positions go to
    :func:`position_rows`."""
    cdef Py_ssize_t L = padded(T)
    if channels_last:
        position_rows(backward, x, y, dy, scale_in, out, scale_out, C, T, n, pre, alpha_n,
                      beta, bias, kind, buf)
    elif backward:
        backward_rows(x, y, dy, scale_in, out, S, C, T, n, pre, alpha_n, beta, bias, kind,
                      buf, L)
    else:
        forward_rows(x, S, out, S, scale_out, S, C, T, n, pre, alpha_n, beta, bias, kind,
                     buf, L, buf + suffix_rows(C, n) * L, buf + (suffix_rows(C, n) + 1) * L)


cdef void load_half(const unsigned short* src, float* buf, Py_ssize_t C, Py_ssize_t T,
                    Py_ssize_t L, Py_ssize_t S, bint channels_last) noexcept nogil:
    """buf = float(src) for a tile: T positions of C channels, contiguous when
    channels-last; otherwise C rows of T (stride S in src, L in buf)."""
    cdef Py_ssize_t c
    if channels_last:
        lrn_h2f_row(src, buf, C * T)
    else:
        for c in range(C):
            lrn_h2f_row(src + c * S, buf + c * L, T)


cdef void store_half(const float* buf, unsigned short* dst, Py_ssize_t C, Py_ssize_t T,
                     Py_ssize_t L, Py_ssize_t S, bint channels_last) noexcept nogil:
    """The inverse of ``load_half``, rounding to nearest even."""
    cdef Py_ssize_t c
    if channels_last:
        lrn_f2h_row(buf, dst, C * T)
    else:
        for c in range(C):
            lrn_f2h_row(buf + c * L, dst + c * S, T)


cdef void run_tile_half(bint backward, const unsigned short* x, const unsigned short* y,
                        const unsigned short* dy, const unsigned short* scale_in,
                        unsigned short* out, unsigned short* scale_out, Py_ssize_t C,
                        Py_ssize_t S, Py_ssize_t T, bint channels_last, Py_ssize_t n,
                        Py_ssize_t pre, float alpha_n, float beta, float bias,
                        BetaKind kind, float* buf) noexcept nogil:
    """One tile of half data, computed as float with no array-sized
    temporaries: channels-first forward rows are widened and rounded a
    block at a time (:func:`forward_rows_half`); otherwise the tile is
    widened into float buffers X, Y, G, Z laid out as the channels-last tile
    or as C rows of stride L, computed in place, and rounded back."""
    cdef Py_ssize_t L = padded(T), CL = C * L
    cdef float* X = buf
    cdef float* Y = X + CL
    cdef float* G = Y + CL
    cdef float* Z = G + CL
    cdef float* rest = Z + CL
    if not channels_last and not backward:
        forward_rows_half(x, out, scale_out, S, C, T, n, pre, alpha_n, beta, bias, kind, buf,
                          L)
        return
    load_half(x, X, C, T, L, S, channels_last)
    if backward:
        load_half(y, Y, C, T, L, S, channels_last)
        load_half(dy, G, C, T, L, S, channels_last)
        if scale_in != NULL:
            load_half(scale_in, Z, C, T, L, S, channels_last)
    if channels_last:
        position_rows(backward, X, Y, G, Z if scale_in != NULL else NULL, X,
                      Z if scale_out != NULL else NULL, C, T, n, pre, alpha_n, beta, bias,
                      kind, rest)
    else:
        run_tile(backward, X, Y, G, Z if scale_in != NULL else NULL, X,
                 Z if scale_out != NULL else NULL, C, L, T, False, n, pre, alpha_n, beta,
                 bias, kind, rest)
    if scale_out != NULL:
        store_half(Z, scale_out, C, T, L, S, channels_last)
    store_half(X, out, C, T, L, S, channels_last)


cdef void launch(bint backward, const storage* x, const storage* y, const storage* dy,
                 const storage* scale_in, storage* out, storage* scale_out,
                 Py_ssize_t N, Py_ssize_t C, Py_ssize_t S, bint channels_last,
                 Py_ssize_t n, Py_ssize_t pre, double alpha_n, double beta, double bias,
                 int num_threads, void* work, Py_ssize_t per_thread,
                 Py_ssize_t T) noexcept nogil:
    """Split N x S into tiles of T positions and run them on a static schedule,
    each thread with its ``per_thread`` elements of ``work``."""
    cdef Py_ssize_t tiles = (S + T - 1) // T
    cdef BetaKind kind = beta_kind(beta)
    cdef Py_ssize_t job, s0, off, Tj
    cdef int tid
    with parallel(num_threads=num_threads):
        tid = threadid()
        for job in prange(N * tiles, schedule="static"):
            s0 = (job % tiles) * T
            Tj = min(T, S - s0)
            off = (job // tiles) * C * S + (s0 * C if channels_last else s0)
            if storage is half_bits:
                run_tile_half(backward, x + off, NULL if y == NULL else y + off,
                              NULL if dy == NULL else dy + off,
                              NULL if scale_in == NULL else scale_in + off, out + off,
                              NULL if scale_out == NULL else scale_out + off,
                              C, S, Tj, channels_last, n, pre, <float>alpha_n,
                              <float>beta, <float>bias, kind,
                              <float*>work + tid * per_thread)
            else:
                run_tile(backward, x + off, NULL if y == NULL else y + off,
                         NULL if dy == NULL else dy + off,
                         NULL if scale_in == NULL else scale_in + off, out + off,
                         NULL if scale_out == NULL else scale_out + off,
                         C, S, Tj, channels_last, n, pre, <storage>alpha_n,
                         <storage>beta, <storage>bias, kind,
                         <storage*>work + tid * per_thread)


cdef void* tile_buffers(Py_ssize_t count, int num_threads, size_t itemsize) except NULL:
    """``count`` scratch elements for each thread, 64-byte aligned (as is each
    thread's share when ``count`` is a multiple of 16); free with lrn_free64."""
    cdef void* work = lrn_alloc64(num_threads * count * itemsize)
    if work == NULL:
        raise MemoryError("lrn: cannot allocate the kernel's tile buffers")
    return work


def forward(const storage[:, :, ::1] x, storage[:, :, ::1] y, scale,
            Py_ssize_t size, Py_ssize_t pre, double alpha_n, double beta, double bias,
            bint channels_last, int num_threads):
    """LRN forward on 3-D views; writes ``y`` and, unless None, ``scale``.

    ``x`` is ``(N, C, S)`` or, with ``channels_last``, ``(N, S, C)``; ``y``
    (which may be ``x``) and ``scale`` have its shape and dtype: float32,
    float64, or float16 passed as its uint16 bits.  ``pre`` channels before
    and ``size - 1 - pre`` after each channel form its window.  The caller
    validates everything; this only runs the kernel.
    """
    cdef storage[:, :, ::1] sv
    cdef storage* sp = NULL
    if scale is not None:
        sv = scale
        sp = &sv[0, 0, 0]
    _run(False, x, <const storage*>NULL, <const storage*>NULL, <const storage*>NULL, y, sp,
         size, pre, alpha_n, beta, bias, channels_last, num_threads)


def backward(const storage[:, :, ::1] x, const storage[:, :, ::1] y,
             const storage[:, :, ::1] dy, scale, storage[:, :, ::1] dx,
             Py_ssize_t size, Py_ssize_t pre, double alpha_n, double beta, double bias,
             bint channels_last, int num_threads):
    """LRN input gradient on 3-D views; writes ``dx``.

    ``scale`` is the forward's scale tensor, or None to recompute it from
    ``x``.  Shapes, dtypes, layout and ``pre`` as in :func:`forward`.  ``dx``
    may be the very buffer of ``x``, ``y``, ``dy`` or ``scale``.
    """
    cdef const storage[:, :, ::1] sv
    cdef const storage* sp = NULL
    if scale is not None:
        sv = scale
        sp = &sv[0, 0, 0]
    _run(True, x, &y[0, 0, 0], &dy[0, 0, 0], sp, dx, <storage*>NULL, size, pre, alpha_n,
         beta, bias, channels_last, num_threads)


cdef _run(bint backward, const storage[:, :, ::1] x, const storage* y,
          const storage* dy, const storage* scale_in, storage[:, :, ::1] out,
          storage* scale_out, Py_ssize_t size, Py_ssize_t pre, double alpha_n, double beta,
          double bias, bint channels_last, int num_threads):
    """Allocate the per-thread tile buffers and run ``launch`` without the GIL."""
    cdef Py_ssize_t N = x.shape[0]
    cdef Py_ssize_t C = x.shape[2] if channels_last else x.shape[1]
    cdef Py_ssize_t S = x.shape[1] if channels_last else x.shape[2]
    if N == 0 or C == 0 or S == 0:
        return
    cdef size_t itemsize = sizeof(double) if storage is double else sizeof(float)
    cdef bint half = storage is half_bits
    size, pre = clip_window(C, size, pre)
    cdef Py_ssize_t T = tile_positions(C, S, size, itemsize, channels_last, backward, half)
    cdef Py_ssize_t per_thread = tile_buffer_size(C, T, size, channels_last, backward, half)
    num_threads = team_size(N * C * S, N * ((S + T - 1) // T), num_threads)
    cdef void* work = tile_buffers(per_thread, num_threads, itemsize)
    with nogil:
        launch(backward, &x[0, 0, 0], y, dy, scale_in, &out[0, 0, 0], scale_out,
               N, C, S, channels_last, size, pre, alpha_n, beta, bias, num_threads, work,
               per_thread, T)
    lrn_free64(work)


# -- within-channel LRN (design §1): separable box sums over the spatial axes --
# The box sum of a d-dimensional window is d one-dimensional window sums, one
# per spatial axis, each by the same subtraction-free block method.

def box_sums(floating[:, :, ::1] a, Py_ssize_t size, Py_ssize_t pre, int num_threads):
    """In place, window sums along axis 1 of ``a`` viewed as (outer, L, inner):
    ``a[o, l, i] <- sum of a[o, l', i] for l - pre <= l' <= l + size - 1 - pre``."""
    cdef Py_ssize_t O = a.shape[0], L = a.shape[1], I = a.shape[2]
    if O == 0 or L == 0 or I == 0:
        return
    size, pre = clip_window(L, size, pre)
    cdef Py_ssize_t T = tile_positions(L, I, size, sizeof(floating), False, False, False)
    cdef Py_ssize_t tiles = (I + T - 1) // T
    cdef Py_ssize_t per_thread = (suffix_rows(L, size) + 1) * padded(T)
    num_threads = team_size(O * L * I, O * tiles, num_threads)
    cdef floating* work = <floating*>tile_buffers(per_thread, num_threads, sizeof(floating))
    cdef floating* ap = &a[0, 0, 0]
    cdef floating* buf
    cdef Py_ssize_t job, i0
    with nogil, parallel(num_threads=num_threads):
        buf = work + threadid() * per_thread
        for job in prange(O * tiles, schedule="static"):
            i0 = (job % tiles) * T
            window_sums(ap + (job // tiles) * L * I + i0, I, False,
                        ap + (job // tiles) * L * I + i0, I, 1, 0, buf, padded(T),
                        buf + suffix_rows(L, size) * padded(T), L, min(T, I - i0), size,
                        pre)
    lrn_free64(work)


cdef enum:
    CHUNK = 1024  # elements per step of the element-wise passes below


def square(const floating[::1] x, floating[::1] out, int num_threads):
    """out = x * x."""
    cdef Py_ssize_t i, n = x.shape[0]
    num_threads = team_size(n, n, num_threads)
    for i in prange(n, nogil=True, schedule="static", num_threads=num_threads):
        out[i] = x[i] * x[i]


def within_finish(const floating[::1] x, const floating[::1] acc, floating[::1] y, scale,
                  double alpha_n, double beta, double bias, int num_threads):
    """s = bias + alpha_n * acc; y = x * s ** -beta; scale = s unless None.
    ``acc`` may be the buffer of ``y`` or ``scale``: each element of it is
    read before that element is written (:func:`sum_pow_row`)."""
    cdef floating[::1] sv
    cdef floating* sp = NULL
    if scale is not None:
        sv = scale
        sp = &sv[0]
    cdef Py_ssize_t n = x.shape[0], chunks = (n + CHUNK - 1) // CHUNK
    cdef Py_ssize_t k, i0
    cdef BetaKind kind = beta_kind(beta)
    cdef const floating* row  # private to each thread: assigned in the loop
    if n == 0:
        return
    num_threads = team_size(n, chunks, num_threads)
    cdef floating* work = <floating*>tile_buffers(CHUNK, num_threads, sizeof(floating))
    with nogil, parallel(num_threads=num_threads):
        for k in prange(chunks, schedule="static"):
            i0 = k * CHUNK
            row = &acc[i0]
            sum_pow_row(&row, 1, &x[i0], &y[i0], NULL if sp == NULL else sp + i0,
                        work + threadid() * CHUNK, min(<Py_ssize_t>CHUNK, n - i0),
                        <floating>alpha_n, <floating>bias, <floating>beta, kind)
    lrn_free64(work)


def affine(floating[::1] a, double alpha_n, double bias, int num_threads):
    """In place, a = bias + alpha_n * a (window sums of squares -> scale)."""
    cdef Py_ssize_t i, n = a.shape[0]
    num_threads = team_size(n, n, num_threads)
    for i in prange(n, nogil=True, schedule="static", num_threads=num_threads):
        a[i] = bias + alpha_n * a[i]


def grad_terms(const floating[::1] dy, const floating[::1] y, const floating[::1] s,
               floating[::1] t, int num_threads):
    """t = dy * y / s: what each window passes back to the channels in it."""
    cdef Py_ssize_t i, n = dy.shape[0]
    num_threads = team_size(n, n, num_threads)
    for i in prange(n, nogil=True, schedule="static", num_threads=num_threads):
        t[i] = dy[i] * y[i] / s[i]


def grad_finish(const floating[::1] x, const floating[::1] dy, const floating[::1] s,
                floating[::1] t, double coef, double beta, int num_threads):
    """In place, t = dy * s ** -beta - coef * x * t (t: mirrored window sums)."""
    cdef Py_ssize_t n = x.shape[0], chunks = (n + CHUNK - 1) // CHUNK
    cdef Py_ssize_t k, i0
    cdef BetaKind kind = beta_kind(beta)
    cdef const floating* row  # private to each thread: assigned in the loop
    cdef floating* tmp
    if n == 0:
        return
    num_threads = team_size(n, chunks, num_threads)
    cdef floating* work = <floating*>tile_buffers(2 * CHUNK, num_threads, sizeof(floating))
    with nogil, parallel(num_threads=num_threads):
        tmp = work + threadid() * 2 * CHUNK
        for k in prange(chunks, schedule="static"):
            i0 = k * CHUNK
            row = &t[i0]
            grad_row(&row, 1, &dy[i0], &s[i0], &x[i0], &t[i0], tmp, tmp + CHUNK,
                     min(<Py_ssize_t>CHUNK, n - i0), <floating>coef, <floating>beta, kind)
    lrn_free64(work)

/* The float rows of the AVX2+FMA build: window sums, the power and the
   backward pass's last step, each in one pass over a row with eight lanes.
   Every function returns 1 when it did the work and 0 in builds without
   AVX2 and FMA, where the Cython kernels run their portable loops instead.

   Window sums arrive as ``rows``, a NULL-terminated list of rows whose
   element-wise sum is the window sum; they are added in list order, so a
   value does not depend on the build's vector width.

   x * s ** -0.75 and x * s ** -0.5, where sqrt and division would take
   several times longer: the hardware reciprocal square root (12 bits)
   refined by one Newton step, w = r * (3 - arg * r * r) = 2 / sqrt(arg), the
   step's halving left out; with arg = 4 s that is s^-1/2, and with
   arg = k s, k = 2^(10/3), w * (w * 2 / sqrt(w)) is s^-3/4 (no intermediate
   leaves the normal range).  The factor k goes into the affine coefficients
   where a window sum is at hand.  Max relative error 2.1e-7 and 4.3e-7
   (checked on every float in [1, 4), which covers all exponents), well inside
   design §2's 3e-6; a second Newton step would cost 40 %.  A lane whose arg
   is not a normal positive float (s = 0, tiny, huge, inf, NaN or < 0) is
   redone with the exact formula, so IEEE special values come out as they
   would. */
#ifndef LRN_SIMD_H
#define LRN_SIMD_H

#include <Python.h>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#include <math.h>
#include <string.h>

#define LRN_K075 10.0793683991589853f  /* 2^(10/3) */

static inline __m256 lrn_twice_rsqrt8(__m256 arg) {
    __m256 r = _mm256_rsqrt_ps(arg);
    return _mm256_mul_ps(r, _mm256_fnmadd_ps(arg, _mm256_mul_ps(r, r), _mm256_set1_ps(3.0f)));
}

static inline float lrn_pow_exact(float s, int three_quarters) {
    float r = 1.0f / sqrtf(s);
    return three_quarters ? r * sqrtf(r) : r;
}

/* x * s ** -beta on eight lanes from arg = 4 s or k s (see above); lanes with
   arg out of range are redone from s = add + mul * acc.  Each lane depends
   only on its own x and s, so tiles, tails and dask blocks agree bitwise. */
static inline __m256 lrn_pow8(__m256 x, __m256 arg, __m256 acc, float mul, float add,
                              int three_quarters) {
    float xs[8], as[8], rs[8];
    int lane, mask;
    /* arg is a normal positive float iff its bits + 0x7f800000 (mod 2^32), as
       a signed int, fall below -2^24: one add and one compare. */
    __m256i biased = _mm256_add_epi32(_mm256_castps_si256(arg), _mm256_set1_epi32(0x7f800000));
    __m256 w = lrn_twice_rsqrt8(arg), r;
    if (three_quarters)
        w = _mm256_mul_ps(w, _mm256_mul_ps(w, lrn_twice_rsqrt8(w)));
    r = _mm256_mul_ps(x, w);
    mask = ~_mm256_movemask_ps(_mm256_castsi256_ps(
        _mm256_cmpgt_epi32(_mm256_set1_epi32(-0x01000000), biased))) & 0xff;
    if (mask == 0)
        return r;
    _mm256_storeu_ps(xs, x);
    _mm256_storeu_ps(as, acc);
    _mm256_storeu_ps(rs, r);
    for (lane = 0; lane < 8; lane++)
        if (mask >> lane & 1)
            rs[lane] = xs[lane] * lrn_pow_exact(fmaf(mul, as[lane], add), three_quarters);
    return _mm256_loadu_ps(rs);
}

static inline float lrn_pow_factor(int three_quarters) {
    return three_quarters ? LRN_K075 : 4.0f;
}

/* A row's tail of ``left`` < 8 elements, padded to a vector: nothing past a
   row's end is read or written. */
static inline __m256 lrn_head8(const float *p, Py_ssize_t left, float pad) {
    float v[8];
    Py_ssize_t i;
    for (i = 0; i < 8; i++) v[i] = i < left ? p[i] : pad;
    return _mm256_loadu_ps(v);
}

static inline __m256 lrn_pad8(__m256 v, Py_ssize_t left, float pad) {
    float u[8];
    Py_ssize_t i;
    _mm256_storeu_ps(u, v);
    for (i = left; i < 8; i++) u[i] = pad;
    return _mm256_loadu_ps(u);
}

static inline void lrn_store_head8(float *p, __m256 v, Py_ssize_t left) {
    float u[8];
    _mm256_storeu_ps(u, v);
    memcpy(p, u, (size_t)left * sizeof(float));
}

/* The count of a NULL-terminated row list, taken once per row so that the
   inner loops below run over a count held in a register. */
static inline int lrn_count(const float *const *rows) {
    int m = 1;
    while (rows[m] != NULL) m++;
    return m;
}

/* The window sum of the m rows at t: eight elements, or the ``left`` of a
   row's tail padded with zeros. */
static inline __m256 lrn_sum8(const float *const *rows, int m, Py_ssize_t t) {
    __m256 acc = _mm256_loadu_ps(rows[0] + t);
    int j;
    for (j = 1; j < m; j++) acc = _mm256_add_ps(acc, _mm256_loadu_ps(rows[j] + t));
    return acc;
}

static inline __m256 lrn_sum8_head(const float *const *rows, int m, Py_ssize_t t,
                                   Py_ssize_t left) {
    __m256 acc = lrn_head8(rows[0] + t, left, 0.0f);
    int j;
    for (j = 1; j < m; j++) acc = _mm256_add_ps(acc, lrn_head8(rows[j] + t, left, 0.0f));
    return acc;
}

/* scale = add + mul * (window sum) (stored unless ``scale`` is NULL) and
   y = x * scale ** -beta, beta 0.75 or 0.5: the factor of arg folded into the
   affine coefficients.  ``y`` may be ``x``. */
static int lrn_sum_pow_row(const float *const *rows, const float *x, float *y, float *scale,
                           Py_ssize_t length, float mul, float add, int three_quarters) {
    const float factor = lrn_pow_factor(three_quarters);
    const __m256 vm = _mm256_set1_ps(mul), va = _mm256_set1_ps(add);
    const __m256 vmk = _mm256_set1_ps(factor * mul), vak = _mm256_set1_ps(factor * add);
    const int m = lrn_count(rows);
    Py_ssize_t t;
    __m256 acc;
    for (t = 0; t + 8 <= length; t += 8) {
        acc = lrn_sum8(rows, m, t);
        if (scale != NULL) _mm256_storeu_ps(scale + t, _mm256_fmadd_ps(vm, acc, va));
        _mm256_storeu_ps(y + t, lrn_pow8(_mm256_loadu_ps(x + t), _mm256_fmadd_ps(vmk, acc, vak),
                                         acc, mul, add, three_quarters));
    }
    if (t < length) {
        acc = lrn_sum8_head(rows, m, t, length - t);
        if (scale != NULL)
            lrn_store_head8(scale + t, _mm256_fmadd_ps(vm, acc, va), length - t);
        lrn_store_head8(y + t, lrn_pow8(lrn_head8(x + t, length - t, 0.0f),
                                        lrn_pad8(_mm256_fmadd_ps(vmk, acc, vak), length - t, 1.0f),
                                        acc, mul, add, three_quarters), length - t);
    }
    return 1;
}

/* dx = dy * s ** -beta - coef * x * (window sum), beta 0.75 or 0.5: the
   backward pass's last step (``dx`` may be any of the inputs). */
static inline __m256 lrn_grad8(__m256 acc, __m256 dy, __m256 s, __m256 x, float coef,
                               int three_quarters) {
    __m256 arg = _mm256_mul_ps(_mm256_set1_ps(lrn_pow_factor(three_quarters)), s);
    return _mm256_fnmadd_ps(_mm256_mul_ps(_mm256_set1_ps(coef), x), acc,
                            lrn_pow8(dy, arg, s, 1.0f, 0.0f, three_quarters));
}

static int lrn_grad_row(const float *const *rows, const float *dy, const float *s,
                        const float *x, float *dx, Py_ssize_t length, float coef,
                        int three_quarters) {
    const int m = lrn_count(rows);
    Py_ssize_t t;
    for (t = 0; t + 8 <= length; t += 8)
        _mm256_storeu_ps(dx + t, lrn_grad8(lrn_sum8(rows, m, t), _mm256_loadu_ps(dy + t),
                                           _mm256_loadu_ps(s + t), _mm256_loadu_ps(x + t),
                                           coef, three_quarters));
    if (t < length)
        lrn_store_head8(dx + t, lrn_grad8(lrn_sum8_head(rows, m, t, length - t),
                                          lrn_head8(dy + t, length - t, 0.0f),
                                          lrn_head8(s + t, length - t, 1.0f),
                                          lrn_head8(x + t, length - t, 0.0f), coef,
                                          three_quarters), length - t);
    return 1;
}

/* out = add + mul * (window sum), kept in registers between the additions. */
static int lrn_sum_rows(const float *const *rows, float *out, Py_ssize_t length, float mul,
                        float add) {
    const __m256 vm = _mm256_set1_ps(mul), va = _mm256_set1_ps(add);
    const int m = lrn_count(rows);
    Py_ssize_t t;
    for (t = 0; t + 8 <= length; t += 8)
        _mm256_storeu_ps(out + t, _mm256_fmadd_ps(vm, lrn_sum8(rows, m, t), va));
    if (t < length)
        lrn_store_head8(out + t, _mm256_fmadd_ps(vm, lrn_sum8_head(rows, m, t, length - t), va),
                        length - t);
    return 1;
}

#else

static int lrn_sum_pow_row(const float *const *rows, const float *x, float *y, float *scale,
                           Py_ssize_t length, float mul, float add, int three_quarters) {
    return 0;
}

static int lrn_grad_row(const float *const *rows, const float *dy, const float *s,
                        const float *x, float *dx, Py_ssize_t length, float coef,
                        int three_quarters) {
    return 0;
}

static int lrn_sum_rows(const float *const *rows, float *out, Py_ssize_t length, float mul,
                        float add) {
    return 0;
}

#endif

#endif /* LRN_SIMD_H */

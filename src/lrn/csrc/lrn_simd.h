/* The float rows of the AVX2+FMA build: window sums, the power and the
   backward pass's last step, each in one pass over a row with eight lanes
   (the forward row, window sum and power together: lrn_fused.h).
   Every function returns 1 when it did the work and 0 in builds without
   AVX2 and FMA, where the Cython kernels run their portable loops instead.

   Window sums arrive as ``rows``, a NULL-terminated list of rows whose
   element-wise sum is the window sum; they are added in list order, so a
   value does not depend on the build's vector width.

   x * s ** -0.5 and x * s ** -0.75, where a division would take several
   times longer: the hardware reciprocal square root (12 bits) refined by one
   Newton step, w = r * (3 - arg * r * r) = 2 / sqrt(arg), the step's halving
   left out, so that with arg = 4 s, w is s^-1/2 (the factor 4 goes into the
   affine coefficients where a window sum is at hand); for 0.75, w * sqrt(w),
   the exact formula's own form (sqrt is a unit of its own and takes fewer
   multiply-pipe cycles than a second reciprocal square root with its Newton
   step: the whole power in 0.18 instead of 0.25 ns per element here; no
   intermediate leaves the normal range).  Max relative error 2.0e-7 and
   3.5e-7, well inside design §2's 3e-6 (tests/test_isa.py checks every float
   scale in [1, 16), which covers every mantissa at both exponent parities of
   s and of w); a second Newton step would cost 40 %.  A lane whose arg is
   not a normal positive float (s = 0, tiny, huge, inf, NaN or < 0) is
   redone with the exact formula, so IEEE special values come out as they
   would. */
#ifndef LRN_SIMD_H
#define LRN_SIMD_H

#include <Python.h>

#include "lrn_power.h"

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#include <math.h>
#include <string.h>

#define LRN_ARG_FACTOR 4.0f   /* arg = 4 s: 2 / sqrt(arg) is s^-1/2 */

/* The AVX-512 build (AVX-512 F and VL besides AVX2) takes rsqrt14 in every
   lane it computes, eight or sixteen at a time, so its results do not depend
   on the vector width that computed them.  rsqrt14's algorithm is published
   as bit-exact reference code (Intel, 2015), where the 12-bit rsqrt is only
   bounded; that the results agree across processors was measured on none
   but AMD Zen 4 here. */
#if defined(__AVX512F__) && defined(__AVX512VL__)
#define LRN_AVX512 1
#define LRN_RSQRT8 _mm256_rsqrt14_ps
#else
#define LRN_RSQRT8 _mm256_rsqrt_ps
#endif

static inline __m256 lrn_twice_rsqrt8(__m256 arg) {
    __m256 r = LRN_RSQRT8(arg);
    return _mm256_mul_ps(r, _mm256_fnmadd_ps(arg, _mm256_mul_ps(r, r), _mm256_set1_ps(3.0f)));
}

#ifdef LRN_AVX512
static inline __m512 lrn_twice_rsqrt16(__m512 arg) {
    __m512 r = _mm512_rsqrt14_ps(arg);
    return _mm512_mul_ps(r, _mm512_fnmadd_ps(arg, _mm512_mul_ps(r, r), _mm512_set1_ps(3.0f)));
}
#endif

/* The lanes of ``mask`` redone with the exact formula, s = add + mul * acc:
   r = 1 / sqrt(s), then r * sqrt(r) for 0.75, each an IEEE operation, in
   vectors (no call or stack array keeps the loops that inline lrn_pow8 from
   holding their values in registers). */
static inline __m256 lrn_pow8_fix(__m256 x, __m256 acc, __m256 r, __m256 mask, float mul,
                                  float add, int three_quarters) {
    const __m256 s = _mm256_fmadd_ps(_mm256_set1_ps(mul), acc, _mm256_set1_ps(add));
    __m256 w = _mm256_div_ps(_mm256_set1_ps(1.0f), _mm256_sqrt_ps(s));
    if (three_quarters) w = _mm256_mul_ps(w, _mm256_sqrt_ps(w));
    return _mm256_blendv_ps(r, _mm256_mul_ps(x, w), mask);
}

/* x * s ** -beta on eight lanes from arg = 4 s (see above); lanes with
   arg out of range are redone from s = add + mul * acc.  Each lane depends
   only on its own x and s, so tiles, tails and dask blocks agree bitwise. */
static inline __m256 lrn_pow8(__m256 x, __m256 arg, __m256 acc, float mul, float add,
                              int three_quarters) {
    __m256 normal;
    /* arg is a normal positive float iff its bits + 0x7f800000 (mod 2^32), as
       a signed int, fall below -2^24: one add and one compare. */
    __m256i biased = _mm256_add_epi32(_mm256_castps_si256(arg), _mm256_set1_epi32(0x7f800000));
    __m256 w = lrn_twice_rsqrt8(arg), r;
    if (three_quarters) w = _mm256_mul_ps(w, _mm256_sqrt_ps(w));
    r = _mm256_mul_ps(x, w);
    normal = _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32(-0x01000000), biased));
    if (_mm256_movemask_ps(normal) == 0xff)
        return r;
    return lrn_pow8_fix(x, acc, r, _mm256_xor_ps(normal, _mm256_castsi256_ps(
                                      _mm256_set1_epi32(-1))), mul, add, three_quarters);
}

/* A row's tail of ``left`` < 8 elements, padded to a vector: nothing past a
   row's end is read or written. */
static inline __m256 lrn_head8(const float *p, Py_ssize_t left, float pad) {
    float v[8];
    Py_ssize_t i;
    for (i = 0; i < 8; i++) v[i] = i < left ? p[i] : pad;
    return _mm256_loadu_ps(v);
}

static inline void lrn_store_head8(float *p, __m256 v, Py_ssize_t left) {
    float u[8];
    _mm256_storeu_ps(u, v);
    memcpy(p, u, (size_t)left * sizeof(float));
}

/* x * s ** e for any exponent e (e = -beta), in double and rounded once to
   float, four lanes at a time: log2 s from its exponent and the series of
   atanh ((m - 1) / (m + 1)) for its mantissa m in [sqrt(1/2), sqrt(2)), then
   2 ** (e log2 s) as 2 ** n times a polynomial on [-1/2, 1/2].  Both are
   accurate to a few double ulp, so the product is within about 2^-42 of
   x * pow(s, e) for |e log2 s| < 1000, and rounds to the same float but in
   the rarest near-ties; the library's pow takes 2.5 times longer than powf,
   this a fraction of either.  A lane whose s is not a positive finite
   number, or whose power leaves that range, is redone by lrn_scaled_pow, so
   IEEE special cases are pow's and no intermediate overflows needlessly. */
static inline __m256d lrn_log2_4(__m256d s) {
    const __m256i bits = _mm256_castpd_si256(s);
    const __m256i mant = _mm256_or_si256(
        _mm256_and_si256(bits, _mm256_set1_epi64x(0x000fffffffffffffLL)),
        _mm256_set1_epi64x(0x3ff0000000000000LL));
    /* the unbiased exponent as a double: 1.5 * 2^52 + k, less 1.5 * 2^52 */
    __m256i k = _mm256_sub_epi64(_mm256_srli_epi64(bits, 52), _mm256_set1_epi64x(1023));
    __m256d m = _mm256_castsi256_pd(mant), high, f, z, p, kd;
    high = _mm256_cmp_pd(m, _mm256_set1_pd(1.4142135623730951), _CMP_GT_OQ);
    m = _mm256_blendv_pd(m, _mm256_mul_pd(m, _mm256_set1_pd(0.5)), high);
    k = _mm256_sub_epi64(k, _mm256_castpd_si256(high));   /* high lanes are all ones: k + 1 */
    kd = _mm256_sub_pd(_mm256_castsi256_pd(_mm256_add_epi64(k, _mm256_set1_epi64x(0x4338000000000000LL))),
                       _mm256_set1_pd(6755399441055744.0));
    f = _mm256_div_pd(_mm256_sub_pd(m, _mm256_set1_pd(1.0)), _mm256_add_pd(m, _mm256_set1_pd(1.0)));
    z = _mm256_mul_pd(f, f);
    /* ln m = 2 f (1 + z/3 + z^2/5 + ... + z^11/23), z <= 0.0295 */
    p = _mm256_set1_pd(1.0 / 23);
    p = _mm256_fmadd_pd(p, z, _mm256_set1_pd(1.0 / 21));
    p = _mm256_fmadd_pd(p, z, _mm256_set1_pd(1.0 / 19));
    p = _mm256_fmadd_pd(p, z, _mm256_set1_pd(1.0 / 17));
    p = _mm256_fmadd_pd(p, z, _mm256_set1_pd(1.0 / 15));
    p = _mm256_fmadd_pd(p, z, _mm256_set1_pd(1.0 / 13));
    p = _mm256_fmadd_pd(p, z, _mm256_set1_pd(1.0 / 11));
    p = _mm256_fmadd_pd(p, z, _mm256_set1_pd(1.0 / 9));
    p = _mm256_fmadd_pd(p, z, _mm256_set1_pd(1.0 / 7));
    p = _mm256_fmadd_pd(p, z, _mm256_set1_pd(1.0 / 5));
    p = _mm256_fmadd_pd(p, z, _mm256_set1_pd(1.0 / 3));
    p = _mm256_mul_pd(_mm256_mul_pd(p, z), f);
    /* log2 m = 2 log2(e) (f + f p), the small term last */
    return _mm256_add_pd(kd, _mm256_mul_pd(_mm256_set1_pd(2.8853900817779268),
                                           _mm256_add_pd(f, p)));
}

static inline __m256d lrn_exp2_4(__m256d y) {
    /* y = n + r, n an integer, |r| <= 1/2: 2^r by its Taylor series in r ln 2
       to degree 13, then n added to the exponent */
    const __m256d magic = _mm256_set1_pd(6755399441055744.0);   /* 1.5 * 2^52 */
    const __m256d shifted = _mm256_add_pd(y, magic);
    const __m256d r = _mm256_sub_pd(y, _mm256_sub_pd(shifted, magic));
    const __m256i scale = _mm256_slli_epi64(
        _mm256_add_epi64(_mm256_castpd_si256(shifted), _mm256_set1_epi64x(1023)), 52);
    static const double c[14] = {
        1.0, 0.6931471805599453, 0.2402265069591007, 0.055504108664821576,
        0.009618129107628477, 0.0013333558146428441, 0.00015403530393381606,
        1.5252733804059838e-05, 1.3215486790144305e-06, 1.0178086009239696e-07,
        7.054911620801121e-09, 4.44553827187081e-10, 2.5678435993488196e-11,
        1.3691488853904124e-12};
    __m256d p = _mm256_set1_pd(c[13]);
    int i;
    for (i = 12; i >= 0; i--) p = _mm256_fmadd_pd(p, r, _mm256_set1_pd(c[i]));
    return _mm256_mul_pd(p, _mm256_castsi256_pd(scale));
}

/* x * s ** e on four lanes; each lane depends only on its own x and s. */
static inline __m128 lrn_pow_any4(__m128 x, __m128 s, double e) {
    const __m256d sd = _mm256_cvtps_pd(s);
    const __m256d y = _mm256_mul_pd(_mm256_set1_pd(e), lrn_log2_4(sd));
    const int ok = _mm256_movemask_pd(_mm256_and_pd(
        _mm256_and_pd(_mm256_cmp_pd(sd, _mm256_setzero_pd(), _CMP_GT_OQ),
                      _mm256_cmp_pd(sd, _mm256_set1_pd(3.4028234663852886e38), _CMP_LE_OQ)),
        _mm256_cmp_pd(_mm256_andnot_pd(_mm256_set1_pd(-0.0), y), _mm256_set1_pd(1000.0),
                      _CMP_LT_OQ)));
    __m128 r = _mm256_cvtpd_ps(_mm256_mul_pd(_mm256_cvtps_pd(x), lrn_exp2_4(y)));
    float xs[4], ss[4], rs[4];
    int lane;
    if (ok == 0xf)
        return r;
    _mm_storeu_ps(xs, x);
    _mm_storeu_ps(ss, s);
    _mm_storeu_ps(rs, r);
    for (lane = 0; lane < 4; lane++)
        if (!(ok >> lane & 1))
            rs[lane] = (float)lrn_scaled_pow((double)xs[lane], (double)ss[lane], e);
    return _mm_loadu_ps(rs);
}

/* out = x * s ** e on a row (``out`` may be ``x`` or ``s``); a tail of fewer
   than four is padded, so nothing past the row's end is read. */
static int lrn_pow_any_row(float *out, const float *x, const float *s, Py_ssize_t length,
                           double e) {
    float xs[4] = {0.0f, 0.0f, 0.0f, 0.0f}, ss[4] = {1.0f, 1.0f, 1.0f, 1.0f}, rs[4];
    Py_ssize_t t;
    for (t = 0; t + 4 <= length; t += 4)
        _mm_storeu_ps(out + t, lrn_pow_any4(_mm_loadu_ps(x + t), _mm_loadu_ps(s + t), e));
    if (t < length) {
        memcpy(xs, x + t, (size_t)(length - t) * sizeof(float));
        memcpy(ss, s + t, (size_t)(length - t) * sizeof(float));
        _mm_storeu_ps(rs, lrn_pow_any4(_mm_loadu_ps(xs), _mm_loadu_ps(ss), e));
        memcpy(out + t, rs, (size_t)(length - t) * sizeof(float));
    }
    return 1;
}

/* x * s ** -0.75 and x * s ** -0.5 on double rows, four lanes at a time.
   The exact forms take two square roots and a division (0.5: one of each),
   one after another on the one divider: in a loop over rows in L1 on AMD
   Zen 4, 3.9 TSC ticks per element against 1.9 for this.  r = 1 / sqrt(s)
   from the hardware estimate for the scale rounded to float (12 bits;
   rsqrt14 in the AVX-512 build) and three Newton steps in double, each
   doubling the bits to the full 53 (max relative error 5.2e-16 and 2.7e-16,
   the steps' rounding; design §2's 1e-11 by far; tests/test_isa.py); then
   x * r for 0.5, x * (r * sqrt(r)) for 0.75, the exact form's last steps.
   A lane whose s lies outside [2^-125, 2^125] (where the float estimate may
   be subnormal, zero or inf), or is not a number, is redone with the exact
   formula, so IEEE special values come out as they would.  Each lane
   depends only on its own x and s; a row's tail takes a masked vector. */
#if defined(LRN_AVX512)
#define LRN_RSQRT4 _mm_rsqrt14_ps
#else
#define LRN_RSQRT4 _mm_rsqrt_ps
#endif

static inline __m256d lrn_pow4d(__m256d x, __m256d s, int three_quarters) {
    const __m256d half_s = _mm256_mul_pd(_mm256_set1_pd(0.5), s);
    const __m256d ok = _mm256_and_pd(_mm256_cmp_pd(s, _mm256_set1_pd(0x1p-125), _CMP_GE_OQ),
                                     _mm256_cmp_pd(s, _mm256_set1_pd(0x1p125), _CMP_LE_OQ));
    __m256d r = _mm256_cvtps_pd(LRN_RSQRT4(_mm256_cvtpd_ps(s))), w;
    int step;
    for (step = 0; step < 3; step++)
        r = _mm256_mul_pd(r, _mm256_fnmadd_pd(half_s, _mm256_mul_pd(r, r),
                                              _mm256_set1_pd(1.5)));
    if (_mm256_movemask_pd(ok) != 0xf)
        r = _mm256_blendv_pd(_mm256_div_pd(_mm256_set1_pd(1.0), _mm256_sqrt_pd(s)), r, ok);
    w = three_quarters ? _mm256_mul_pd(r, _mm256_sqrt_pd(r)) : r;
    return _mm256_mul_pd(x, w);
}

/* out = x * s ** -0.75 (``three_quarters``) or -0.5 on a double row;
   ``out`` may be ``x`` or ``s``.  Nothing past the row's end is read or
   written. */
static int lrn_pow_row_d(double *out, const double *x, const double *s, Py_ssize_t length,
                         int three_quarters) {
    Py_ssize_t t;
    __m256i tail;
    for (t = 0; t + 4 <= length; t += 4)
        _mm256_storeu_pd(out + t, lrn_pow4d(_mm256_loadu_pd(x + t), _mm256_loadu_pd(s + t),
                                            three_quarters));
    if (t < length) {
        tail = _mm256_cmpgt_epi64(_mm256_set1_epi64x(length - t),
                                  _mm256_setr_epi64x(0, 1, 2, 3));
        _mm256_maskstore_pd(out + t, tail, lrn_pow4d(
            _mm256_maskload_pd(x + t, tail),
            _mm256_blendv_pd(_mm256_set1_pd(1.0), _mm256_maskload_pd(s + t, tail),
                             _mm256_castsi256_pd(tail)), three_quarters));
    }
    return 1;
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

/* dx = dy * s ** -beta - coef * x * (window sum), beta 0.75 or 0.5: the
   backward pass's last step (``dx`` may be any of the inputs). */
static inline __m256 lrn_grad8(__m256 acc, __m256 dy, __m256 s, __m256 x, float coef,
                               int three_quarters) {
    __m256 arg = _mm256_mul_ps(_mm256_set1_ps(LRN_ARG_FACTOR), s);
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

static int lrn_grad_row(const float *const *rows, const float *dy, const float *s,
                        const float *x, float *dx, Py_ssize_t length, float coef,
                        int three_quarters) {
    return 0;
}

static int lrn_sum_rows(const float *const *rows, float *out, Py_ssize_t length, float mul,
                        float add) {
    return 0;
}

static int lrn_pow_any_row(float *out, const float *x, const float *s, Py_ssize_t length,
                           double e) {
    return 0;
}

static int lrn_pow_row_d(double *out, const double *x, const double *s, Py_ssize_t length,
                         int three_quarters) {
    return 0;
}

#endif

#endif /* LRN_SIMD_H */

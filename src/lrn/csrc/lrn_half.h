/* Rows of IEEE binary16 <-> binary32, rounding to nearest even, with
   subnormals, inf and NaN.  Half data is computed in float a row at a time,
   so these are the only places that know its encoding.

   With F16C: the instructions eight at a time; a short tail is padded to
   eight, so every element takes the same instruction wherever it sits.
   Otherwise: the portable scalar conversions below, which give the same
   bits. */
#ifndef LRN_HALF_H
#define LRN_HALF_H

#include <Python.h>
#include <stdint.h>
#include <string.h>

#if defined(__F16C__)
#include <immintrin.h>

static void lrn_h2f_row(const uint16_t *src, float *dst, Py_ssize_t count) {
    Py_ssize_t i = 0;
    uint16_t h[8] = {0};
    float f[8];
    for (; i + 8 <= count; i += 8)
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + i))));
    if (i < count) {
        memcpy(h, src + i, (size_t)(count - i) * 2);
        _mm256_storeu_ps(f, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)h)));
        memcpy(dst + i, f, (size_t)(count - i) * 4);
    }
}

static void lrn_f2h_row(const float *src, uint16_t *dst, Py_ssize_t count) {
    Py_ssize_t i = 0;
    uint16_t h[8];
    float f[8] = {0};
    for (; i + 8 <= count; i += 8)
        _mm_storeu_si128((__m128i *)(dst + i), _mm256_cvtps_ph(
            _mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    if (i < count) {
        memcpy(f, src + i, (size_t)(count - i) * 4);
        _mm_storeu_si128((__m128i *)h, _mm256_cvtps_ph(
            _mm256_loadu_ps(f), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
        memcpy(dst + i, h, (size_t)(count - i) * 2);
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

static void lrn_h2f_row(const uint16_t *src, float *dst, Py_ssize_t count) {
    Py_ssize_t i;
    for (i = 0; i < count; i++) dst[i] = lrn_h2f(src[i]);
}

static void lrn_f2h_row(const float *src, uint16_t *dst, Py_ssize_t count) {
    Py_ssize_t i;
    for (i = 0; i < count; i++) dst[i] = lrn_f2h(src[i]);
}

#endif

#endif /* LRN_HALF_H */

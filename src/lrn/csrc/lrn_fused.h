/* The forward passes of the AVX2+FMA build (and of the AVX-512 build,
   LRN_W = 16 lanes at a time) in one loop per row, for beta
   0.75, 0.5 and 1 (float data, or IEEE half data read and written as half):
   channels-first below, channels-last at lrn_cl_positions.

   A tile is C rows of T positions at stride ``stride``.  Step b of the sweep
   reads row b of x once from memory, squares it and keeps the square in L1,
   and completes the window of row c = b - post: in the same loop over the
   positions it adds the window's squares, forms the scale, the power and
   y = x * scale ** -beta, and stores y (and the scale).  No row of the tile
   is passed over twice: a step's loads are row b (the one read from memory)
   and rows already in L1 (the squares, row c of x, read post steps ago).

   Most steps go four at a time (lrn_group_run, lrn_block_group_run): one
   vector of positions at a time through the four rows, what the steps
   share kept in registers (windows of 3 or 5 rows, float or half data: the
   squares, so that a step loads rows b and c of x and no row of squares,
   0.77-0.95x the time of single steps; block windows, float data: the
   running prefix, 0.83-1.0x).

   Window sums never subtract (design §2).  Windows of up to LRN_DIRECT
   channels are direct sums of the squares of their rows, kept in a ring of
   ring_rows rows; longer ones are a block's suffix sum plus the next block's
   running prefix sum, as in _channels_first.pxi (two additions per element
   for any n, plus the suffix sums, made in place from the squares the
   steps keep, one more pass over a block's rows in L1 or L2).  Either way
   row b of x is read once, at step b.
   Each element's sum adds the same rows in the same order wherever it
   falls, and each lane of a vector depends only on its own position, so the
   result is bitwise the same for any tile size or thread count.  A tile
   may also be one of several channel parts (rows lo .. hi - 1 of y): its
   sweep then starts at the first row of row lo's window (block windows: at
   that row's block) and writes no row above lo, so each window still sums
   the same rows in the same order.

   lrn_cf_forward returns 1 when it did the tile and 0 where it does not
   (builds without AVX2 and FMA, other betas), and the Cython kernels run
   their row passes instead. */
#ifndef LRN_FUSED_H
#define LRN_FUSED_H

#include <Python.h>
#include <stdint.h>
#include <string.h>

#include "lrn_platform.h"
#include "lrn_simd.h"

#define LRN_DIRECT 8   /* windows of up to this many rows are summed directly */
/* While step b runs, row b + LRN_AHEAD of x is requested, and row
   b - post + LRN_AHEAD of y (and of the scale) for writing: each row of a
   tile is a short run (a few KiB) that the hardware prefetcher meets cold. */
#define LRN_AHEAD 2

/* A tile of the forward pass, filled by the Cython kernels. */
typedef struct {
    const void *x;          /* row c at x + c * stride elements */
    void *y;                /* may be x */
    void *scale;            /* or NULL */
    float *ring;            /* ring_rows rows of L floats, 64-byte aligned */
    float *prefix;          /* one row of L floats (channels-last windows over
                               LRN_DIRECT: lrn_cl_blocks' 2 C vectors) */
    Py_ssize_t stride, C, T, n, pre, L, ring_rows;
    Py_ssize_t lo, hi;      /* channels-first: the rows of y (and the scale)
                               to write, 0 and C but in a channel part */
    float mul, add;         /* alpha_n and bias, as floats */
    int kind;               /* 0: beta 0.75, 1: 0.5, 2: 1, 3: any other (not done) */
    int half;               /* x, y, scale are IEEE half bits */
    int levels;             /* channels-last windows over LRN_DIRECT channels: the
                               levels of _channels_last.pxi's partial sums */
} lrn_cf_tile;

/* Whether channels-last windows over LRN_DIRECT channels, of C channels,
   take lrn_cl_window_sums' block sums (in the AVX2 builds): where eight
   positions' x and y and its two sets of C vectors, 4 x 8 x C floats, take
   at most half of a 32 KiB L1 data cache (C <= 128).  From memory, sizes 9
   to 21, the block sums took 0.74-0.90x the time of the power-of-two
   partial sums (a row of C at a time) at C = 128, but 0.78-1.12x at C = 160
   to 192 and 0.86-1.37x at C = 256. */
static int lrn_cl_by_blocks(Py_ssize_t C) {
    return 4 * 8 * C * (Py_ssize_t)sizeof(float) <= 16384;
}

#if defined(__AVX2__) && defined(__FMA__)

#if defined(__GNUC__) || defined(__clang__)
#define LRN_INLINE static inline __attribute__((always_inline))
#else
#define LRN_INLINE static inline
#endif

/* One step of the sweep: what enters the window, which window is complete. */
typedef struct {
    const void *xb;         /* row b of x entering the windows, or NULL (b >= C) */
    const float *prev;      /* the running prefix sum row b continues, or NULL */
    float *qout;            /* where x[b]^2 (or the continued prefix) goes, or NULL */
    float *sqout;           /* where x[b]^2 goes besides the prefix, or NULL */
    const float *first;     /* with_new == 0: the window sum's first row */
    const float *rows[LRN_DIRECT];   /* the window's further rows, m of them */
    int m;
    int with_new;           /* the window starts with the entering value */
    const void *xc;         /* row c of x, or NULL: no window completes at this step */
    void *yc;
    void *sc;               /* row c of the scale, or NULL */
    const void *ahead_x;    /* the row of x to request, or NULL */
    void *ahead_y, *ahead_s;   /* the rows of y and the scale to request for
                                  writing, or NULL */
    int lanes;              /* LRN_PART: the lanes of x, y and the scale in the row */
} lrn_step;

/* Every step starts from this one, all rows absent, by an assignment: vector
   moves, where a memset of the struct compiled to `rep stos` (about 30
   cycles a step: 8 % of a (1, 8, 4, 4) call). */
static const lrn_step lrn_no_step;

LRN_INLINE __m256 lrn_ld8(const void *row, Py_ssize_t t, int half) {
    if (half)
        return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)row + t)));
    return _mm256_loadu_ps((const float *)row + t);
}

LRN_INLINE void lrn_st8(void *row, Py_ssize_t t, __m256 v, int half) {
    if (half)
        _mm_storeu_si128((__m128i *)((uint16_t *)row + t),
                         _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    else
        _mm256_storeu_ps((float *)row + t, v);
}

/* Half data's first ``lanes`` < 8 elements at p as the 16-bit lanes of a
   vector, the others zero, and their store: their whole pairs as 32-bit
   lanes under a mask, an odd last one on its own (masked 16-bit loads and
   stores need AVX-512 BW).  Nothing past them is read or written. */
LRN_INLINE __m128i lrn_ld8h_n(const uint16_t *p, Py_ssize_t lanes) {
    const __m128i pairs = _mm_set1_epi32((int)(lanes / 2)), at = _mm_setr_epi32(0, 1, 2, 3);
#ifdef LRN_AVX512
    __m128i v = _mm_maskz_loadu_epi32((__mmask8)((1u << lanes / 2) - 1), p);
#else
    __m128i v = _mm_maskload_epi32((const int *)p, _mm_cmpgt_epi32(pairs, at));
#endif
    if (lanes % 2)
        v = _mm_blendv_epi8(v, _mm_set1_epi32(p[lanes - 1]), _mm_cmpeq_epi32(pairs, at));
    return v;
}

LRN_INLINE void lrn_st8h_n(uint16_t *p, __m128i h, Py_ssize_t lanes) {
    const __m128i pairs = _mm_set1_epi32((int)(lanes / 2));
#ifdef LRN_AVX512
    _mm_mask_storeu_epi32(p, (__mmask8)((1u << lanes / 2) - 1), h);
#else
    _mm_maskstore_epi32((int *)p, _mm_cmpgt_epi32(pairs, _mm_setr_epi32(0, 1, 2, 3)), h);
#endif
    if (lanes % 2)   /* the last pair's low half, moved to lane 0 */
        p[lanes - 1] = (uint16_t)_mm_cvtsi128_si32(
            _mm_castps_si128(_mm_permutevar_ps(_mm_castsi128_ps(h), pairs)));
}

/* The first ``lanes`` <= 8 elements of a row at t, the other lanes
   ``pad``, and their store: nothing past them is read or written (a row's
   last, partial vector), and nothing goes through memory (a copy through a
   padded vector, whose loads wait for the copy's stores, cost about 25 ns a
   vector).  Float data under a mask, half data as above. */
static inline __m256i lrn_first8(Py_ssize_t lanes) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)lanes),
                              _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

LRN_INLINE __m256 lrn_ld8_n(const void *row, Py_ssize_t t, Py_ssize_t lanes, int half,
                            float pad) {
    const __m256 fill = _mm256_set1_ps(pad);
    if (lanes == 8) return lrn_ld8(row, t, half);
    if (!half) {
#ifdef LRN_AVX512
        return _mm256_mask_loadu_ps(fill, (__mmask8)((1u << lanes) - 1), (const float *)row + t);
#else
        const __m256i first = lrn_first8(lanes);
        return _mm256_blendv_ps(fill, _mm256_maskload_ps((const float *)row + t, first),
                                _mm256_castsi256_ps(first));
#endif
    }
    return _mm256_blendv_ps(fill, _mm256_cvtph_ps(lrn_ld8h_n((const uint16_t *)row + t, lanes)),
                            _mm256_castsi256_ps(lrn_first8(lanes)));
}

LRN_INLINE void lrn_st8_n(void *row, Py_ssize_t t, __m256 v, Py_ssize_t lanes, int half) {
    if (lanes == 8) {
        lrn_st8(row, t, v, half);
    } else if (!half) {
#ifdef LRN_AVX512
        _mm256_mask_storeu_ps((float *)row + t, (__mmask8)((1u << lanes) - 1), v);
#else
        _mm256_maskstore_ps((float *)row + t, lrn_first8(lanes), v);
#endif
    } else {
        lrn_st8h_n((uint16_t *)row + t,
                   _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC), lanes);
    }
}

/* Lanes moved within groups of C (<= the vector's width W): lane g C + c
   takes lane g C + c + offset of the same group, zero where that passes
   the group's ends and in the lanes past the last whole group (the G = W / C
   positions of C channels that share a vector: each lane's window term at
   that offset). */
static void lrn_lane_shift(int W, Py_ssize_t C, Py_ssize_t offset, int *from, int *keep) {
    int lane;
    for (lane = 0; lane < W; lane++) {
        const Py_ssize_t group = lane / C, c = lane % C + offset;
        keep[lane] = group < W / C && c >= 0 && c < C ? -1 : 0;
        from[lane] = keep[lane] ? (int)(group * C + c) : 0;
    }
}

typedef struct {
    __m256i from;
    __m256 keep;
} lrn_shift8;

static inline lrn_shift8 lrn_shift8_of(Py_ssize_t C, Py_ssize_t offset) {
    int from[8], keep[8];
    lrn_shift8 sh;
    lrn_lane_shift(8, C, offset, from, keep);
    sh.from = _mm256_loadu_si256((const __m256i *)from);
    sh.keep = _mm256_castsi256_ps(_mm256_loadu_si256((const __m256i *)keep));
    return sh;
}

LRN_INLINE __m256 lrn_shifted8(__m256 v, const lrn_shift8 *sh) {
    return _mm256_and_ps(_mm256_permutevar8x32_ps(v, sh->from), sh->keep);
}

/* The coefficients as vectors, made once per row. */
typedef struct {
    __m256 mul, add;        /* s = add + mul * acc */
    __m256 kmul, kadd;      /* the reciprocal square root's argument, 4 s */
} lrn_vcoef;

LRN_INLINE lrn_vcoef lrn_vcoefs(const lrn_cf_tile *tl) {
    lrn_vcoef v;
    v.mul = _mm256_set1_ps(tl->mul);
    v.add = _mm256_set1_ps(tl->add);
    v.kmul = _mm256_set1_ps(LRN_ARG_FACTOR * tl->mul);
    v.kadd = _mm256_set1_ps(LRN_ARG_FACTOR * tl->add);
    return v;
}

/* x * s ** -beta with s = add + mul * acc for beta 0.75, 0.5 and 1 (see
   lrn_simd.h: 0.5 from the reciprocal square root, the factor of its
   argument folded into the affine coefficients, 0.75 that times its square
   root).  Any other beta takes
   the row passes: its double log2/exp2 costs ten times the rest of the
   pass, and inlined here it costs more. */
LRN_INLINE __m256 lrn_power8(__m256 xv, __m256 acc, const lrn_vcoef *v, int kind) {
    if (kind == 0 || kind == 1) {
        const __m256 arg = _mm256_fmadd_ps(v->kmul, acc, v->kadd);
        const __m256i biased = _mm256_add_epi32(_mm256_castps_si256(arg),
                                                _mm256_set1_epi32(0x7f800000));
        const __m256 normal = _mm256_castsi256_ps(
            _mm256_cmpgt_epi32(_mm256_set1_epi32(-0x01000000), biased));
        __m256 w = lrn_twice_rsqrt8(arg), r, s;
        if (kind == 0) w = _mm256_mul_ps(w, _mm256_sqrt_ps(w));
        r = _mm256_mul_ps(xv, w);
        if (_mm256_movemask_ps(normal) == 0xff) return r;
        /* lrn_pow8's exact formula for the other lanes */
        s = _mm256_fmadd_ps(v->mul, acc, v->add);
        w = _mm256_div_ps(_mm256_set1_ps(1.0f), _mm256_sqrt_ps(s));
        if (kind == 0) w = _mm256_mul_ps(w, _mm256_sqrt_ps(w));
        return _mm256_blendv_ps(_mm256_mul_ps(xv, w), r, normal);
    }
    return _mm256_div_ps(xv, _mm256_fmadd_ps(v->mul, acc, v->add));   /* beta 1 */
}

/* The forward steps' vector: sixteen lanes in the AVX-512 build, eight in the
   AVX2 one (whose eight-lane forms above the backward pass shares).  A lane
   takes the same operations at either width, and both widths of the AVX-512
   build the same reciprocal square root (lrn_simd.h), so no result depends
   on the width, or on where a tile's tail falls. */
#ifdef LRN_AVX512
#define LRN_W 16
typedef __m512 lrn_wv;
typedef struct {
    __m512 mul, add, kmul, kadd;
} lrn_wcoef;
#define lrn_w_zero _mm512_setzero_ps
#define lrn_w_add _mm512_add_ps
#define lrn_w_mul _mm512_mul_ps
#define lrn_w_fmadd _mm512_fmadd_ps
#define lrn_w_fnmadd _mm512_fnmadd_ps
#define lrn_w_div _mm512_div_ps
#define lrn_w_set1 _mm512_set1_ps
#define lrn_w_load _mm512_load_ps
#define lrn_w_loadu _mm512_loadu_ps
#define lrn_w_store _mm512_store_ps

LRN_INLINE __m512 lrn_w_ld(const void *row, Py_ssize_t t, int half) {
    if (half)
        return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)((const uint16_t *)row + t)));
    return _mm512_loadu_ps((const float *)row + t);
}

LRN_INLINE void lrn_w_st(void *row, Py_ssize_t t, __m512 v, int half) {
    if (half)
        _mm256_storeu_si256((__m256i *)((uint16_t *)row + t),
                            _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    else
        _mm512_storeu_ps((float *)row + t, v);
}

/* lrn_ld8_n and lrn_st8_n on sixteen lanes. */
LRN_INLINE __m512 lrn_w_ld_n(const void *row, Py_ssize_t t, Py_ssize_t lanes, int half,
                             float pad) {
    const __mmask16 first = (__mmask16)((1u << lanes) - 1);
    const uint16_t *h = (const uint16_t *)row + t;
    __m256i v;
    if (lanes == 16) return lrn_w_ld(row, t, half);
    if (!half) return _mm512_mask_loadu_ps(_mm512_set1_ps(pad), first, (const float *)row + t);
    v = _mm256_maskz_loadu_epi32((__mmask8)((1u << lanes / 2) - 1), h);
    if (lanes % 2)
        v = _mm256_mask_mov_epi32(v, (__mmask8)(1u << lanes / 2), _mm256_set1_epi32(h[lanes - 1]));
    return _mm512_mask_mov_ps(_mm512_set1_ps(pad), first, _mm512_cvtph_ps(v));
}

LRN_INLINE void lrn_w_st_n(void *row, Py_ssize_t t, __m512 v, Py_ssize_t lanes, int half) {
    uint16_t *h = (uint16_t *)row + t;
    __m256i bits;
    if (lanes == 16) {
        lrn_w_st(row, t, v, half);
    } else if (!half) {
        _mm512_mask_storeu_ps((float *)row + t, (__mmask16)((1u << lanes) - 1), v);
    } else {
        bits = _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        _mm256_mask_storeu_epi32(h, (__mmask8)((1u << lanes / 2) - 1), bits);
        if (lanes % 2)   /* the last pair's low half, moved to lane 0 */
            h[lanes - 1] = (uint16_t)_mm256_cvtsi256_si32(
                _mm256_permutevar8x32_epi32(bits, _mm256_set1_epi32((int)(lanes / 2))));
    }
}

LRN_INLINE lrn_wcoef lrn_w_coefs(const lrn_cf_tile *tl) {
    lrn_wcoef v;
    v.mul = _mm512_set1_ps(tl->mul);
    v.add = _mm512_set1_ps(tl->add);
    v.kmul = _mm512_set1_ps(LRN_ARG_FACTOR * tl->mul);
    v.kadd = _mm512_set1_ps(LRN_ARG_FACTOR * tl->add);
    return v;
}

/* lrn_power8 on sixteen lanes. */
LRN_INLINE __m512 lrn_w_power(__m512 xv, __m512 acc, const lrn_wcoef *v, int kind) {
    if (kind == 0 || kind == 1) {
        const __m512 arg = _mm512_fmadd_ps(v->kmul, acc, v->kadd);
        const __m512i biased = _mm512_add_epi32(_mm512_castps_si512(arg),
                                                _mm512_set1_epi32(0x7f800000));
        const __mmask16 normal = _mm512_cmpgt_epi32_mask(_mm512_set1_epi32(-0x01000000), biased);
        __m512 w = lrn_twice_rsqrt16(arg), r, s;
        if (kind == 0) w = _mm512_mul_ps(w, _mm512_sqrt_ps(w));
        r = _mm512_mul_ps(xv, w);
        if (normal == 0xffff) return r;
        s = _mm512_fmadd_ps(v->mul, acc, v->add);
        w = _mm512_div_ps(_mm512_set1_ps(1.0f), _mm512_sqrt_ps(s));
        if (kind == 0) w = _mm512_mul_ps(w, _mm512_sqrt_ps(w));
        return _mm512_mask_blend_ps(normal, _mm512_mul_ps(xv, w), r);
    }
    return _mm512_div_ps(xv, _mm512_fmadd_ps(v->mul, acc, v->add));   /* beta 1 */
}

/* lrn_shift8 on sixteen lanes. */
typedef struct {
    __m512i from;
    __mmask16 keep;
} lrn_wshift;

static inline lrn_wshift lrn_w_shift_of(Py_ssize_t C, Py_ssize_t offset) {
    int from[16], keep[16];
    lrn_wshift sh;
    lrn_lane_shift(16, C, offset, from, keep);
    sh.from = _mm512_loadu_si512(from);
    sh.keep = _mm512_cmpneq_epi32_mask(_mm512_loadu_si512(keep), _mm512_setzero_si512());
    return sh;
}

LRN_INLINE __m512 lrn_w_shifted(__m512 v, const lrn_wshift *sh) {
    return _mm512_maskz_permutexvar_ps(sh->keep, sh->from, v);
}
#else
#define LRN_W 8
typedef __m256 lrn_wv;
typedef lrn_vcoef lrn_wcoef;
#define lrn_w_zero _mm256_setzero_ps
#define lrn_w_add _mm256_add_ps
#define lrn_w_mul _mm256_mul_ps
#define lrn_w_fmadd _mm256_fmadd_ps
#define lrn_w_fnmadd _mm256_fnmadd_ps
#define lrn_w_div _mm256_div_ps
#define lrn_w_set1 _mm256_set1_ps
#define lrn_w_load _mm256_load_ps
#define lrn_w_loadu _mm256_loadu_ps
#define lrn_w_store _mm256_store_ps
#define lrn_w_ld lrn_ld8
#define lrn_w_st lrn_st8
#define lrn_w_ld_n lrn_ld8_n
#define lrn_w_st_n lrn_st8_n
#define lrn_w_coefs lrn_vcoefs
#define lrn_w_power lrn_power8
#define lrn_wshift lrn_shift8
#define lrn_w_shift_of lrn_shift8_of
#define lrn_w_shifted lrn_shifted8
#endif

/* What a step does, as bits (constants in the common steps' loops). */
enum {
    LRN_XB = 1,             /* a row enters: st->xb */
    LRN_PREV = 2,           /* its square continues the running prefix st->prev */
    LRN_QOUT = 4,           /* the square (or prefix) is kept: st->qout */
    LRN_XC = 8,             /* a window completes: st->xc, yc (and sc) */
    LRN_NEW = 16,           /* ... and it starts with the entering value */
    LRN_SQOUT = 32,         /* the square is kept besides the prefix: st->sqout */
    LRN_PART = 64,          /* the rows of x, y and the scale end within the
                               vector, after st->lanes lanes */
    LRN_DIRECT_STEP = LRN_XB | LRN_QOUT | LRN_XC | LRN_NEW,
    LRN_BLOCK_STEP = LRN_XB | LRN_PREV | LRN_QOUT | LRN_XC | LRN_NEW | LRN_SQOUT
};

static inline int lrn_flags(const lrn_step *st) {
    return (st->xb != NULL ? LRN_XB : 0) | (st->prev != NULL ? LRN_PREV : 0) |
           (st->qout != NULL ? LRN_QOUT : 0) | (st->xc != NULL ? LRN_XC : 0) |
           (st->with_new ? LRN_NEW : 0) | (st->sqout != NULL ? LRN_SQOUT : 0);
}

/* The ring slot of row b - k, given row b's: the steps count slots rather
   than divide (a division costs about as much as a short row's step). */
static inline Py_ssize_t lrn_slot_back(Py_ssize_t slot, Py_ssize_t k, Py_ssize_t R) {
    slot -= k;
    while (slot < 0) slot += R;
    return slot;
}

/* Step ``st`` on the LRN_W positions at t.  m, kind, half and flags are
   constants where this is inlined for the common steps (lrn_step_run), so
   the window's additions unroll and no test is left in the loop. */
LRN_INLINE void lrn_step_vec(const lrn_step *st, const lrn_wcoef *co, Py_ssize_t t, int m,
                             int kind, int half, int flags) {
    const int lanes = (flags & LRN_PART) ? st->lanes : LRN_W;
    lrn_wv q = lrn_w_zero(), acc, xv;
    int j;
    if (flags & LRN_XB) {
        const lrn_wv v = lrn_w_ld_n(st->xb, t, lanes, half, 0.0f);
        q = lrn_w_mul(v, v);
        if (flags & LRN_SQOUT) lrn_w_store(st->sqout + t, q);
        if (flags & LRN_PREV) q = lrn_w_add(lrn_w_load(st->prev + t), q);
    } else if (flags & LRN_PREV) {
        q = lrn_w_load(st->prev + t);
    }
    if (flags & LRN_QOUT) lrn_w_store(st->qout + t, q);
    if (!(flags & LRN_XC)) return;
    acc = (flags & LRN_NEW) ? q : lrn_w_loadu(st->first + t);
    for (j = 0; j < m; j++) acc = lrn_w_add(acc, lrn_w_loadu(st->rows[j] + t));
    xv = lrn_w_ld_n(st->xc, t, lanes, half, 0.0f);
    if (st->sc != NULL) lrn_w_st_n(st->sc, t, lrn_w_fmadd(co->mul, acc, co->add), lanes, half);
    lrn_w_st_n(st->yc, t, lrn_w_power(xv, acc, co, kind), lanes, half);
}

/* ``bytes`` of the step's rows ahead from position t on, requested. */
LRN_INLINE void lrn_step_ahead(const lrn_step *st, Py_ssize_t t, Py_ssize_t bytes,
                               Py_ssize_t item) {
    if (st->ahead_x != NULL) lrn_prefetch((const char *)st->ahead_x + t * item, bytes, 0);
    if (st->ahead_y != NULL) lrn_prefetch((char *)st->ahead_y + t * item, bytes, 1);
    if (st->ahead_s != NULL) lrn_prefetch((char *)st->ahead_s + t * item, bytes, 1);
}

/* The row loop works on a local copy of the step and local coefficients: the
   stores to the rows could alias the structs otherwise, and every field
   would be read again after every store.  The copy is made a field at a
   time: a struct assignment reads the step, written field by field just
   before, in 64-byte blocks, which wait for those stores to reach the cache
   (with rows of 36 positions, 0.61x the time this way).  The rows ahead are
   requested a cache line at a time along the loop, as in lrn_grad.h (a
   whole row's requests at once overflow the queue of outstanding misses:
   15-25 % slower from L3 here). */
LRN_INLINE void lrn_step_row(const lrn_step *step, const lrn_cf_tile *tile, int m, int kind,
                             int half, int flags) {
    lrn_step st;
    const lrn_wcoef co = lrn_w_coefs(tile);
    const Py_ssize_t T = tile->T, item = half ? 2 : 4;
    Py_ssize_t t, u;
    int j;
    st.xb = step->xb;
    st.prev = step->prev;
    st.qout = step->qout;
    st.sqout = step->sqout;
    st.first = step->first;
    for (j = 0; j < m; j++) st.rows[j] = step->rows[j];
    st.m = m;
    st.with_new = step->with_new;
    st.xc = step->xc;
    st.yc = step->yc;
    st.sc = step->sc;
    st.ahead_x = step->ahead_x;
    st.ahead_y = step->ahead_y;
    st.ahead_s = step->ahead_s;
    for (t = 0; t + 16 <= T; t += 16) {
        lrn_step_ahead(&st, t, 1, item);
        for (u = t; u < t + 16; u += LRN_W) lrn_step_vec(&st, &co, u, m, kind, half, flags);
    }
    lrn_step_ahead(&st, t, (T - t) * item, item);
    if (LRN_W == 8 && t + 8 <= T) {
        lrn_step_vec(&st, &co, t, m, kind, half, flags);
        t += 8;
    }
    if (t < T) {
        st.lanes = (int)(T - t);
        lrn_step_vec(&st, &co, t, m, kind, half, flags | LRN_PART);
    }
}

/* lrn_step_row with the common steps, window lengths and betas as constants. */
#define LRN_STEP_KINDS(M, H, F)                                                           \
    switch (tl->kind) {                                                                   \
    case 0: lrn_step_row(st, tl, M, 0, H, F); return;                                     \
    case 1: lrn_step_row(st, tl, M, 1, H, F); return;                                     \
    default: lrn_step_row(st, tl, M, 2, H, F); return;                                    \
    }
/* Block steps: a window with a suffix row (m = 1) or without (m = 0); with
   the running prefix, at a block's first row (no prefix to continue), and
   past the last row (the prefix alone enters; over long windows these are a
   fifth of the steps). */
#define LRN_BLOCK_STEPS(H, F)                                                             \
    if (flags == (F) && st->m == 0) LRN_STEP_KINDS(0, H, F)                               \
    if (flags == (F) && st->m == 1) LRN_STEP_KINDS(1, H, F)
#define LRN_STEPS(H)                                                                      \
    if (flags == LRN_DIRECT_STEP) {                                                       \
        switch (st->m) {                                                                  \
        case 0: LRN_STEP_KINDS(0, H, LRN_DIRECT_STEP)                                     \
        case 1: LRN_STEP_KINDS(1, H, LRN_DIRECT_STEP)                                     \
        case 2: LRN_STEP_KINDS(2, H, LRN_DIRECT_STEP)                                     \
        case 3: LRN_STEP_KINDS(3, H, LRN_DIRECT_STEP)                                     \
        case 4: LRN_STEP_KINDS(4, H, LRN_DIRECT_STEP)                                     \
        default: LRN_STEP_KINDS(st->m, H, LRN_DIRECT_STEP)                                \
        }                                                                                 \
    }                                                                                     \
    LRN_BLOCK_STEPS(H, LRN_BLOCK_STEP)                                                    \
    LRN_BLOCK_STEPS(H, LRN_BLOCK_STEP & ~LRN_PREV)                                        \
    LRN_BLOCK_STEPS(H, LRN_PREV | LRN_XC | LRN_NEW)                                       \
    lrn_step_row(st, tl, st->m, tl->kind, H, flags);

static void lrn_step_run(const lrn_step *st, const lrn_cf_tile *tl) {
    const int flags = lrn_flags(st);
    if (tl->half) {
        LRN_STEPS(1)
    } else {
        LRN_STEPS(0)
    }
}

static inline const void *lrn_row(const void *base, Py_ssize_t c, const lrn_cf_tile *tl) {
    return (const char *)base + c * tl->stride * (tl->half ? 2 : 4);
}

/* In place, the in-block suffix sums of rows [c0, c1), whose squares the
   steps left in their slots: slot c += slot c + 1, from the block's end
   (scratch rows are whole vectors, padded with zero squares). */
static void lrn_suffix_block(const lrn_cf_tile *tl, Py_ssize_t c0, Py_ssize_t c1) {
    const Py_ssize_t n = tl->n, L = tl->L, T = tl->T;
    Py_ssize_t c, t;
    for (c = c1 - 2; c >= c0; c--) {
        float *out = tl->ring + ((c / n) % 2 * n + c % n) * L;
        const float *next = out + L;
        for (t = 0; t < T; t += LRN_W)
            lrn_w_store(out + t, lrn_w_add(lrn_w_load(out + t), lrn_w_load(next + t)));
    }
}

/* The window of row c from blocks of n rows (see _channels_first.pxi's
   window_step): the prefix alone, a suffix alone, or the two. */
static void lrn_block_window(lrn_step *st, const lrn_cf_tile *tl, Py_ssize_t c) {
    const Py_ssize_t n = tl->n, first = c - tl->pre;
    const float *suffix;
    if (first <= 0 || first % n == 0) {
        st->with_new = 1;
        return;
    }
    suffix = tl->ring + ((first / n) % 2 * n + first % n) * tl->L;
    if (first / n != (tl->C - 1) / n) {
        st->with_new = 1;
        st->rows[st->m++] = suffix;
    } else {
        st->first = suffix;
    }
}

/* The steps whose rows enter and whose windows complete within the tile's
   rows go LRN_GROUP at a time (windows of 3 or 5 rows, float or half data:
   lrn_group_run; block windows, float data, four rows of one block:
   lrn_block_group_run), one vector of positions at a time through the
   group's rows. */
#define LRN_GROUP 4
/* A group loads its vectors of x before its first store (AVX-512 build): a
   load after a store to the same address modulo 4 KiB waits for it, and
   rows of x and y often are (numpy places large arrays at the same page
   offset; (1, 64, 224, 224)'s rows are 49 pages apart): float32, 1 thread,
   0.80-0.91x the time there at size 5 (0.91-0.96x at 21), 0.95-1.03x on the
   other benchmark shapes.  The AVX2 build's 16 registers cannot hold the
   eight vectors besides the squares (1.05-1.10x the time but on
   (1, 64, 224, 224)). */
#ifdef LRN_AVX512
#define LRN_LOADS_FIRST 1
#else
#define LRN_LOADS_FIRST 0
#endif

/* The rows of steps b0 .. b0 + LRN_GROUP - 1, all with a row b < C
   entering and a window c = b - post >= 0 completing. */
typedef struct {
    const void *xb[LRN_GROUP], *xc[LRN_GROUP];
    void *yc[LRN_GROUP], *sc[LRN_GROUP];
    const char *next_x[LRN_GROUP]; /* the next group's rows of x, or NULL */
    char *next_y[LRN_GROUP], *next_s[LRN_GROUP];   /* ... of y and the scale */
    /* direct windows of n = m + 1 rows (b0 >= m): */
    const float *in[LRN_DIRECT];   /* the squares of rows b0 - m .. b0 - 1 */
    float *out[LRN_GROUP];         /* slots for the squares of the group's
                                      last min(m, LRN_GROUP) rows, the last first
                                      (block windows: of every row, in order) */
    /* block windows (all four rows in one block): */
    float *prefix;                 /* the block's running prefix */
    int restart;                   /* row b0 starts the block */
    const float *suffix[LRN_GROUP];   /* the suffix each window adds, or NULL */
} lrn_group;

/* The group's vectors of x at t: rows b (entering) and c (due); row c of
   step k >= post is row b of step k - post, already loaded. */
LRN_INLINE void lrn_group_loads(const lrn_group *g, Py_ssize_t t, int lanes, int half,
                                int post, lrn_wv *xb, lrn_wv *xc) {
    int k;
    for (k = 0; k < LRN_GROUP; k++) xb[k] = lrn_w_ld_n(g->xb[k], t, lanes, half, 0.0f);
    for (k = 0; k < LRN_GROUP; k++)
        xc[k] = k >= post ? xb[k - post] : lrn_w_ld_n(g->xc[k], t, lanes, half, 0.0f);
}

/* A group on the positions t .. t + lanes - 1.  The squares stay in
   registers from step to step (q[j]: row b0 - m + j), and only the last m
   go to the ring, for the next group: a step loads rows b and c of x, where
   lrn_step_vec also loads the n - 1 rows of squares.  Each window adds them
   in lrn_step_vec's order, the entering row first: the same bits.  The
   windows are centred (post = m / 2), so the group's last steps take row c
   of x from its rows b. */
LRN_INLINE void lrn_group_vec(const lrn_group *g, const lrn_wcoef *co, Py_ssize_t t, int lanes,
                              int m, int kind, int scale, int half) {
    const int post = m / 2;
    lrn_wv q[LRN_DIRECT + LRN_GROUP], xb[LRN_GROUP], xc[LRN_GROUP], acc;
    int j, k;
    if (LRN_LOADS_FIRST) lrn_group_loads(g, t, lanes, half, post, xb, xc);
    for (j = 0; j < m; j++) q[j] = lrn_w_load(g->in[j] + t);
    for (k = 0; k < LRN_GROUP; k++) {
        if (!LRN_LOADS_FIRST) xb[k] = lrn_w_ld_n(g->xb[k], t, lanes, half, 0.0f);
        q[m + k] = lrn_w_mul(xb[k], xb[k]);
        acc = q[m + k];
        for (j = 1; j <= m; j++) acc = lrn_w_add(acc, q[m + k - j]);
        if (!LRN_LOADS_FIRST)
            xc[k] = k >= post ? xb[k - post] : lrn_w_ld_n(g->xc[k], t, lanes, half, 0.0f);
        if (scale) lrn_w_st_n(g->sc[k], t, lrn_w_fmadd(co->mul, acc, co->add), lanes, half);
        lrn_w_st_n(g->yc[k], t, lrn_w_power(xc[k], acc, co, kind), lanes, half);
    }
    for (j = 0; j < m && j < LRN_GROUP; j++)
        lrn_w_store(g->out[j] + t, q[m + LRN_GROUP - 1 - j]);
}

/* lrn_group_vec for block windows (lrn_step_vec's block steps): the
   running prefix stays in a register through the group, and is stored once;
   the squares go to the ring for the block's suffix sums. */
LRN_INLINE void lrn_block_group_vec(const lrn_group *g, const lrn_wcoef *co, Py_ssize_t t,
                                    int lanes, int kind, int scale, int half) {
    lrn_wv prefix = g->restart ? lrn_w_zero() : lrn_w_load(g->prefix + t), q, acc,
           xb[LRN_GROUP], xc[LRN_GROUP];
    int k;
    if (LRN_LOADS_FIRST) lrn_group_loads(g, t, lanes, half, LRN_GROUP, xb, xc);
    for (k = 0; k < LRN_GROUP; k++) {
        if (!LRN_LOADS_FIRST) xb[k] = lrn_w_ld_n(g->xb[k], t, lanes, half, 0.0f);
        q = lrn_w_mul(xb[k], xb[k]);
        lrn_w_store(g->out[k] + t, q);
        prefix = k == 0 && g->restart ? q : lrn_w_add(prefix, q);
        acc = g->suffix[k] == NULL ? prefix : lrn_w_add(prefix, lrn_w_load(g->suffix[k] + t));
        if (!LRN_LOADS_FIRST) xc[k] = lrn_w_ld_n(g->xc[k], t, lanes, half, 0.0f);
        if (scale) lrn_w_st_n(g->sc[k], t, lrn_w_fmadd(co->mul, acc, co->add), lanes, half);
        lrn_w_st_n(g->yc[k], t, lrn_w_power(xc[k], acc, co, kind), lanes, half);
    }
    lrn_w_store(g->prefix + t, prefix);
}

/* A group along the tile (m < 0: block windows).  The next group's rows of
   x, y and the scale are requested into the L2 cache, a whole pass ahead:
   into the L1 they would share sets with the group's own rows, all of them
   where rows are a multiple of 4 KiB apart ((1, 64, 224, 224): 1.1-1.5x the
   time).  Requested 8 vectors ahead into the L1 instead, rows of y (each line
   read before it is written) come too late from memory (arrays over the L3:
   1.06-1.18x the time). */
LRN_INLINE void lrn_group_row(const lrn_group *grp, const lrn_cf_tile *tl, int m, int kind,
                              int half) {
    const Py_ssize_t item = half ? 2 : 4;
    const lrn_group g = *grp;
    const lrn_wcoef co = lrn_w_coefs(tl);
    const Py_ssize_t T = tl->T;
    const int scale = tl->scale != NULL;
    Py_ssize_t t;
    int k;
    for (t = 0; t + LRN_W <= T; t += LRN_W) {
        if (t * item % 64 == 0)   /* a cache line of each row */
            for (k = 0; k < LRN_GROUP; k++) {
                if (g.next_x[k] != NULL) __builtin_prefetch(g.next_x[k] + t * item, 0, 2);
                if (g.next_y[k] != NULL) __builtin_prefetch(g.next_y[k] + t * item, 1, 2);
                if (g.next_s[k] != NULL) __builtin_prefetch(g.next_s[k] + t * item, 1, 2);
            }
        if (m < 0)
            lrn_block_group_vec(&g, &co, t, LRN_W, kind, scale, half);
        else
            lrn_group_vec(&g, &co, t, LRN_W, m, kind, scale, half);
    }
    if (t < T && m < 0) lrn_block_group_vec(&g, &co, t, (int)(T - t), kind, scale, half);
    if (t < T && m >= 0) lrn_group_vec(&g, &co, t, (int)(T - t), m, kind, scale, half);
}

/* The rows of x, y and the scale of the group at b0. */
static void lrn_group_rows(lrn_group *g, const lrn_cf_tile *tl, Py_ssize_t b0) {
    const Py_ssize_t post = tl->n - 1 - tl->pre;
    Py_ssize_t k;
    for (k = 0; k < LRN_GROUP; k++) {
        const Py_ssize_t b = b0 + k, c = b - post;
        g->xb[k] = lrn_row(tl->x, b, tl);
        g->xc[k] = lrn_row(tl->x, c, tl);
        g->yc[k] = (void *)lrn_row(tl->y, c, tl);
        g->sc[k] = tl->scale == NULL ? NULL : (void *)lrn_row(tl->scale, c, tl);
        g->next_x[k] = b + LRN_GROUP < tl->C ? (const char *)lrn_row(tl->x, b + LRN_GROUP, tl)
                                             : NULL;
        g->next_y[k] = c + LRN_GROUP < tl->C ? (char *)lrn_row(tl->y, c + LRN_GROUP, tl) : NULL;
        g->next_s[k] = c + LRN_GROUP < tl->C && tl->scale != NULL
                           ? (char *)lrn_row(tl->scale, c + LRN_GROUP, tl)
                           : NULL;
    }
}

/* Steps b0 .. b0 + LRN_GROUP - 1 of lrn_cf_forward, row b0's square going
   to slot ``slot`` of the R in the ring.  Half data too: float16, size 5,
   1 thread, against its single steps, (256, 96, 6, 6) 0.73-0.76x the time,
   the other benchmark shapes 0.92-0.99x in the AVX2 build and 0.95-1.04x in
   the AVX-512 one (1.04-1.12x before its loads came first). */
static void lrn_group_run(const lrn_cf_tile *tl, Py_ssize_t b0, Py_ssize_t slot, Py_ssize_t R) {
    const Py_ssize_t m = tl->n - 1;
    lrn_group g;
    Py_ssize_t j, s = slot;
    lrn_group_rows(&g, tl, b0);
    for (j = m - 1; j >= 0; j--) {
        s = s == 0 ? R - 1 : s - 1;
        g.in[j] = tl->ring + s * tl->L;
    }
    for (s = slot + LRN_GROUP - 1; s >= R; s -= R) {}   /* the group's last row's */
    for (j = 0; j < m && j < LRN_GROUP; j++) {
        g.out[j] = tl->ring + s * tl->L;
        s = s == 0 ? R - 1 : s - 1;
    }
#define LRN_GROUP_KINDS(H)                                                                \
    switch (tl->kind * 2 + (m == 4)) {                                                    \
    case 0: lrn_group_row(&g, tl, 2, 0, H); return;                                       \
    case 1: lrn_group_row(&g, tl, 4, 0, H); return;                                       \
    case 2: lrn_group_row(&g, tl, 2, 1, H); return;                                       \
    case 3: lrn_group_row(&g, tl, 4, 1, H); return;                                       \
    case 4: lrn_group_row(&g, tl, 2, 2, H); return;                                       \
    default: lrn_group_row(&g, tl, 4, 2, H); return;                                      \
    }
    if (tl->half) {
        LRN_GROUP_KINDS(1)
    } else {
        LRN_GROUP_KINDS(0)
    }
#undef LRN_GROUP_KINDS
}

/* Steps b0 .. b0 + LRN_GROUP - 1 of lrn_cf_forward's block windows, all
   four rows in one block (row b0 may start it, its predecessor's suffix
   sums made). */
static void lrn_block_group_run(const lrn_cf_tile *tl, Py_ssize_t b0) {
    const Py_ssize_t n = tl->n, L = tl->L;
    lrn_group g;
    Py_ssize_t k, b, first;
    lrn_group_rows(&g, tl, b0);
    for (k = 0; k < LRN_GROUP; k++) {
        b = b0 + k;
        first = b - n + 1;
        g.out[k] = tl->ring + ((b / n) % 2 * n + b % n) * L;
        g.suffix[k] = first > 0 && first % n != 0
                          ? tl->ring + ((first / n) % 2 * n + first % n) * L : NULL;
    }
    g.prefix = tl->prefix;
    g.restart = b0 % n == 0;
    switch (tl->kind) {
    case 0: lrn_group_row(&g, tl, -1, 0, 0); return;
    case 1: lrn_group_row(&g, tl, -1, 1, 0); return;
    default: lrn_group_row(&g, tl, -1, 2, 0); return;
    }
}

/* Whether this build has lrn_cf_forward (and lrn_grad.h's lrn_cf_backward),
   whose results do not depend on the tile size. */
static int lrn_cf_fused(void) { return 1; }

static int lrn_cf_forward(const lrn_cf_tile *tl) {
    const Py_ssize_t C = tl->C, n = tl->n, pre = tl->pre, post = n - 1 - pre;
    /* direct sums: the squares of the last n rows, in n slots (C if fewer) */
    const Py_ssize_t R = tl->n < tl->ring_rows ? tl->n : tl->ring_rows, L = tl->L;
    const int direct = n <= LRN_DIRECT;
    const Py_ssize_t lo = tl->lo, hi = tl->hi, top = lo - pre > 0 ? lo - pre : 0;
    /* the steps: from the first row of row lo's window (or of its block) to
       the step that completes row hi - 1; groups enter rows below C only */
    const Py_ssize_t start = direct ? top : top / n * n, end = hi + post;
    const Py_ssize_t group_end = end < C ? end : C;
    Py_ssize_t b, c, r, first, last, slot, slot_b = 0;   /* direct windows: (b - start) % R */
    lrn_step st;
    if (tl->kind > 2) return 0;
    for (b = start; b < end; b++, slot_b = slot_b + 1 == R ? 0 : slot_b + 1) {
        c = b - post;
        if ((n == 3 || n == 5) && 2 * pre == n - 1 && b >= start + n - 1 && c >= lo
            && b + LRN_GROUP <= group_end) {
            lrn_group_run(tl, b, slot_b, R);   /* steps b .. b + LRN_GROUP - 1 */
            b += LRN_GROUP - 1;
            for (slot_b += LRN_GROUP - 1; slot_b >= R; slot_b -= R) {}
            continue;
        }
        if (!tl->half && !direct && c >= lo && b + LRN_GROUP <= group_end
            && b % n + LRN_GROUP <= n) {
            if (b > start && b % n == 0) lrn_suffix_block(tl, b - n, b);
            lrn_block_group_run(tl, b);   /* steps b .. b + LRN_GROUP - 1 */
            b += LRN_GROUP - 1;
            continue;
        }
        st = lrn_no_step;
        if (b < C) st.xb = lrn_row(tl->x, b, tl);
        if (c >= lo) {
            st.xc = lrn_row(tl->x, c, tl);
            st.yc = (void *)lrn_row(tl->y, c, tl);
            st.sc = tl->scale == NULL ? NULL : (void *)lrn_row(tl->scale, c, tl);
        }
        if (direct) {
            /* the squares of rows b - n + 1 .. b in slots r % R (R >= min(n, C)) */
            if (b < C && n > 1) st.qout = tl->ring + slot_b * L;
            if (c >= lo) {
                first = c - pre > 0 ? c - pre : 0;
                last = b < C ? b : C - 1;
                slot = lrn_slot_back(slot_b, b - last, R);
                if (b < C)
                    st.with_new = 1;
                else
                    st.first = tl->ring + slot * L;
                for (r = last - 1; r >= first; r--) {
                    slot = slot == 0 ? R - 1 : slot - 1;
                    st.rows[st.m++] = tl->ring + slot * L;
                }
            }
        } else {
            /* block k's squares (slots in turns with block k - 1's) become
               its suffix sums once it is complete, at step (k + 1) n, or at
               step C for a last, shorter block; the steps before need only
               the running prefix of block k */
            if (b > start && b <= C && (b % n == 0 || b == C))
                lrn_suffix_block(tl, (b - 1) / n * n, b);
            if (b >= C || b % n != 0) st.prev = tl->prefix;
            if (b < C) {
                st.qout = tl->prefix;
                st.sqout = tl->ring + ((b / n) % 2 * n + b % n) * L;
            }
            if (c >= lo) lrn_block_window(&st, tl, c);
        }
        if (b + LRN_AHEAD < C) st.ahead_x = lrn_row(tl->x, b + LRN_AHEAD, tl);
        if (c + LRN_AHEAD >= lo && c + LRN_AHEAD < hi) {
            st.ahead_y = (void *)lrn_row(tl->y, c + LRN_AHEAD, tl);
            if (tl->scale != NULL) st.ahead_s = (void *)lrn_row(tl->scale, c + LRN_AHEAD, tl);
        }
        lrn_step_run(&st, tl);
    }
    return 1;
}

/* An 8 x 8 block of floats transposed in registers: v[i] lane j <-> v[j] lane i. */
LRN_INLINE void lrn_transpose8(__m256 v[8]) {
    __m256 a[8], b[8];
    int i;
    for (i = 0; i < 4; i++) {
        a[2 * i] = _mm256_unpacklo_ps(v[2 * i], v[2 * i + 1]);
        a[2 * i + 1] = _mm256_unpackhi_ps(v[2 * i], v[2 * i + 1]);
    }
    for (i = 0; i < 2; i++) {
        b[4 * i] = _mm256_shuffle_ps(a[4 * i], a[4 * i + 2], 0x44);
        b[4 * i + 1] = _mm256_shuffle_ps(a[4 * i], a[4 * i + 2], 0xee);
        b[4 * i + 2] = _mm256_shuffle_ps(a[4 * i + 1], a[4 * i + 3], 0x44);
        b[4 * i + 3] = _mm256_shuffle_ps(a[4 * i + 1], a[4 * i + 3], 0xee);
    }
    for (i = 0; i < 4; i++) {
        v[i] = _mm256_permute2f128_ps(b[i], b[i + 4], 0x20);
        v[i + 4] = _mm256_permute2f128_ps(b[i], b[i + 4], 0x31);
    }
}

/* The in-block prefix sums of C vectors q (one per channel) into ``prefix``
   and the in-block suffix sums in place, as lrn_cf_forward forms them
   (prefix c = prefix c - 1 + q c, suffix c = q c + suffix c + 1): a block
   at a time, each sum's chain of additions in a register (the blocks'
   chains are independent, and overlap). */
static void lrn_cl_block_scans(float *q, float *prefix, Py_ssize_t C, Py_ssize_t n) {
    Py_ssize_t k, j, m;
    for (k = 0; k < C; k += n) {
        float *qk = q + k * 8, *pk = prefix + k * 8;
        __m256 a = _mm256_load_ps(qk);
        m = n < C - k ? n : C - k;
        _mm256_store_ps(pk, a);
        for (j = 1; j < m; j++) {
            a = _mm256_add_ps(a, _mm256_load_ps(qk + j * 8));
            _mm256_store_ps(pk + j * 8, a);
        }
        a = _mm256_load_ps(qk + (m - 1) * 8);
        for (j = m - 2; j >= 0; j--) {
            a = _mm256_add_ps(_mm256_load_ps(qk + j * 8), a);
            _mm256_store_ps(qk + j * 8, a);
        }
    }
}

/* Channels-last windows longer than LRN_DIRECT: the window sums of P <= 8
   positions (position p's C channels at x + p * C) into sums[p * C + c],
   made as lrn_cf_forward makes them, from blocks of n channels, so that
   each is the channels-first pass's sum, added in the same order, at a
   cost that does not grow with n.  The eight positions are eight lanes:
   their squares, computed in the order of memory, are transposed into one
   vector per channel (``q``, the first C vectors of ``scratch``, which
   become the suffix sums); the prefix sums go to ``w``, the next C vectors,
   and window c, prefix + suffix as in lrn_block_window, to w[c], in place
   of prefix c, which no later window reads; the windows are transposed back
   into ``sums``, which may be ``scratch``.  Positions past P are zeros,
   never read or written. */
static void lrn_cl_window_sums(const void *x, Py_ssize_t P, Py_ssize_t C, Py_ssize_t n,
                               Py_ssize_t pre, int half, float *scratch, float *sums) {
    const Py_ssize_t full = C - C % 8, post = n - 1 - pre, item = half ? 2 : 4;
    float *const q = scratch, *const w = scratch + C * 8;
    __m256 v[8];
    Py_ssize_t c, c0, k, p, first, last;
    int j;
    for (p = 0; p < P; p++)    /* w: the squares, position by position */
        for (c0 = 0; c0 < full; c0 += 8) {
            const __m256 xv = lrn_ld8((const char *)x + p * C * item, c0, half);
            _mm256_store_ps(w + p * full + c0, _mm256_mul_ps(xv, xv));
        }
    for (c0 = 0; c0 < full; c0 += 8) {
        for (p = 0; p < 8; p++)
            v[p] = p < P ? _mm256_load_ps(w + p * full + c0) : _mm256_setzero_ps();
        lrn_transpose8(v);
        for (j = 0; j < 8; j++) _mm256_store_ps(q + (c0 + j) * 8, v[j]);
    }
    for (c = full; c < C; c++)
        for (p = 0; p < 8; p++) {
            const float xv = p >= P ? 0.0f : half ? _cvtsh_ss(((const uint16_t *)x)[p * C + c])
                                                 : ((const float *)x)[p * C + c];
            q[c * 8 + p] = xv * xv;
        }
    lrn_cl_block_scans(q, w, C, n);
    for (c = 0; c < C; c++) {
        first = c - pre;
        last = c + post < C ? c + post : C - 1;
        if (first <= 0 || first % n == 0) {
            _mm256_store_ps(w + c * 8, _mm256_load_ps(w + last * 8));
        } else if (first / n == last / n) {
            _mm256_store_ps(w + c * 8, _mm256_load_ps(q + first * 8));
        } else {
            /* the run of windows up to the next block's start */
            for (k = first / n * n + n + pre; c < C && c < k; c++) {
                last = c + post < C ? c + post : C - 1;
                _mm256_store_ps(w + c * 8, _mm256_add_ps(_mm256_load_ps(w + last * 8),
                                                         _mm256_load_ps(q + (c - pre) * 8)));
            }
            c--;
        }
    }
    for (c0 = 0; c0 < full; c0 += 8) {
        for (j = 0; j < 8; j++) v[j] = _mm256_load_ps(w + (c0 + j) * 8);
        lrn_transpose8(v);
        for (p = 0; p < P; p++) _mm256_storeu_ps(sums + p * C + c0, v[p]);
    }
    for (p = 0; p < P; p++)
        for (c = full; c < C; c++) sums[p * C + c] = w[c * 8 + p];
}

/* The channels-last forward pass of a tile with windows longer than
   LRN_DIRECT: lrn_cl_window_sums on eight positions at a time, then each
   position's power, in the order of memory, by the steps of
   lrn_cl_positions with the window's sums as their one row (``tl->prefix``:
   2 C vectors of scratch, the sums in the first). */
LRN_INLINE void lrn_cl_blocks(const lrn_cf_tile *tl, int kind, int half) {
    const Py_ssize_t C = tl->C, full = C - C % LRN_W, item = half ? 2 : 4;
    const lrn_wcoef co = lrn_w_coefs(tl);
    float *const sums = tl->prefix;
    lrn_step st;
    Py_ssize_t p0, p, c;
    memset(&st, 0, sizeof st);
    st.lanes = (int)(C - full);
    for (p0 = 0; p0 < tl->T; p0 += 8) {
        const Py_ssize_t P = tl->T - p0 < 8 ? tl->T - p0 : 8;
        lrn_cl_window_sums((const char *)tl->x + p0 * C * item, P, C, tl->n, tl->pre, half, sums,
                           sums);
        for (p = 0; p < P; p++) {
            const Py_ssize_t at = (p0 + p) * C * item;
            /* position p of the next eight, requested a cache line at a
               time along the loop: read as eight rows in one burst, it
               would otherwise come in while the loads wait */
            const char *ahead = p0 + 8 + p < tl->T ? (const char *)tl->x + at + 8 * C * item
                                                   : NULL;
            st.first = sums + p * C;
            st.xc = (const char *)tl->x + at;
            st.yc = (char *)tl->y + at;
            st.sc = tl->scale == NULL ? NULL : (char *)tl->scale + at;
            for (c = 0; c < full; c += LRN_W) {
                if (ahead != NULL && c * item % 64 == 0) lrn_prefetch(ahead + c * item, 1, 0);
                lrn_step_vec(&st, &co, c, 0, kind, half, LRN_XC);
            }
            if (full < C) lrn_step_vec(&st, &co, full, 0, kind, half, LRN_XC | LRN_PART);
        }
    }
}

/* The squares of position p's C channels (x) into squares[0 .. C), eight
   lanes at a time, or LRN_W (``wide``: the forward pass; AVX-512 build,
   float32, size 5, 1 thread: 0.93-0.96x the time at C = 96-256, but the
   backward pass's eight-lane reloads of them 1.08x at C = 64). */
LRN_INLINE void lrn_cl_squares(const char *x, float *squares, Py_ssize_t C, int half,
                                int wide) {
    const Py_ssize_t W = wide ? LRN_W : 8, full = C - C % W;
    Py_ssize_t c;
    if (wide) {
        lrn_wv v;
        for (c = 0; c < full; c += LRN_W) {
            v = lrn_w_ld(x, c, half);
            lrn_w_st(squares, c, lrn_w_mul(v, v), 0);
        }
        if (full < C) {
            v = lrn_w_ld_n(x, full, C - full, half, 0.0f);
            lrn_w_st_n(squares, full, lrn_w_mul(v, v), C - full, 0);
        }
        return;
    }
    for (c = 0; c < full; c += 8) {
        const __m256 v = lrn_ld8(x, c, half);
        _mm256_storeu_ps(squares + c, _mm256_mul_ps(v, v));
    }
    for (c = full; c < C; c++) {
        const float v = half ? _cvtsh_ss(((const uint16_t *)x)[c]) : ((const float *)x)[c];
        squares[c] = v * v;
    }
}

/* Channels-last data of C <= LRN_W channels: the G = LRN_W / C
   positions that fit a vector at a time, one masked load and store (the
   positions are contiguous).  Each window is its n squares moved into its
   lanes by permutations of the vector of squares (zero where it passes its
   position's channels), added in the order lrn_cl_positions adds its
   shifted rows: the same bits, without the row of squares in memory, whose
   shifted reloads at once after its stores cost more than the arithmetic
   of so few channels (m = n - 1 as there). */
LRN_INLINE void lrn_cl_packed(const lrn_cf_tile *tl, int m, int kind, int half) {
    const Py_ssize_t C = tl->C, G = LRN_W / C, T = tl->T;
    const lrn_wcoef co = lrn_w_coefs(tl);
    lrn_wshift window[LRN_DIRECT];
    Py_ssize_t p;
    int j;
    for (j = 0; j <= m; j++) window[j] = lrn_w_shift_of(C, j - tl->pre);
    for (p = 0; p < T; p += G) {
        const Py_ssize_t lanes = (T - p < G ? T - p : G) * C;
        const lrn_wv xv = lrn_w_ld_n(tl->x, p * C, lanes, half, 0.0f);
        const lrn_wv q = lrn_w_mul(xv, xv);
        lrn_wv acc = lrn_w_shifted(q, &window[0]);
        for (j = 1; j <= m; j++) acc = lrn_w_add(acc, lrn_w_shifted(q, &window[j]));
        if (tl->scale != NULL)
            lrn_w_st_n(tl->scale, p * C, lrn_w_fmadd(co.mul, acc, co.add), lanes, half);
        lrn_w_st_n(tl->y, p * C, lrn_w_power(xv, acc, &co, kind), lanes, half);
    }
}

#ifdef LRN_AVX512
/* Channels-last positions of 17 to 48 channels, windows of 3 or 5 centred
   (the AVX-512 build): a position's squares stay in registers, the vectors
   before, at and after the one whose windows are due, and window shift d
   is the lanes d on of the vector due (valignd), added in the order
   lrn_cl_positions adds its shifted rows: the same bits, without the row of
   squares whose shifted reloads follow its stores at once.  Float32, size
   5, 1 thread, against that row: C = 17-32 0.58-0.59x the time, 40-48
   0.66-0.75x (size 3 0.56-0.72x, half data 0.73-0.91x); but C = 64
   0.93-0.99x, 96-200 1.05-1.09x, half data at 64 1.09x: the shifts take the
   arithmetic's pipes, where the row's loads do not. */
#define LRN_CL_REGS_MAX 48
#define LRN_ALIGNR(hi, lo, k)                                                             \
    _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(hi), _mm512_castps_si512(lo), k))

/* Lanes s .. s + 15 of the vectors (lo, hi), s a constant in 0 .. 16
   (valignd's immediate once inlined). */
LRN_INLINE __m512 lrn_lanes_on(__m512 lo, __m512 hi, int s) {
    switch (s) {
    case 0: return lo;
    case 1: return LRN_ALIGNR(hi, lo, 1);
    case 2: return LRN_ALIGNR(hi, lo, 2);
    case 3: return LRN_ALIGNR(hi, lo, 3);
    case 4: return LRN_ALIGNR(hi, lo, 4);
    case 5: return LRN_ALIGNR(hi, lo, 5);
    case 6: return LRN_ALIGNR(hi, lo, 6);
    case 7: return LRN_ALIGNR(hi, lo, 7);
    case 8: return LRN_ALIGNR(hi, lo, 8);
    case 9: return LRN_ALIGNR(hi, lo, 9);
    case 10: return LRN_ALIGNR(hi, lo, 10);
    case 11: return LRN_ALIGNR(hi, lo, 11);
    case 12: return LRN_ALIGNR(hi, lo, 12);
    case 13: return LRN_ALIGNR(hi, lo, 13);
    case 14: return LRN_ALIGNR(hi, lo, 14);
    case 15: return LRN_ALIGNR(hi, lo, 15);
    default: return hi;   /* 16 */
    }
}

/* Lane i: channel i + d of the vector cur (d a constant, |d| <= 2). */
LRN_INLINE __m512 lrn_cl_shifted(__m512 prev, __m512 cur, __m512 next, int d) {
    return d < 0 ? lrn_lanes_on(prev, cur, 16 + d) : lrn_lanes_on(cur, next, d);
}

/* m = 2 or 4, pre = m / 2; 16 < C <= LRN_CL_REGS_MAX. */
LRN_INLINE void lrn_cl_regs(const lrn_cf_tile *tl, int m, int kind, int half) {
    const Py_ssize_t C = tl->C, item = half ? 2 : 4;
    const lrn_wcoef co = lrn_w_coefs(tl);
    Py_ssize_t p, c, left;
    int j;
    for (p = 0; p < tl->T; p++) {
        const char *x = (const char *)tl->x + p * C * item;
        char *y = (char *)tl->y + p * C * item;
        char *sc = tl->scale == NULL ? NULL : (char *)tl->scale + p * C * item;
        __m512 xc = lrn_w_ld_n(x, 0, 16, half, 0.0f), xn, prev = lrn_w_zero(), cur, next, acc;
        xn = lrn_w_ld_n(x, 16, C - 16 < 16 ? C - 16 : 16, half, 0.0f);
        cur = lrn_w_mul(xc, xc);
        next = lrn_w_mul(xn, xn);
        for (c = 0; c < C; c += 16) {
            acc = lrn_cl_shifted(prev, cur, next, -m / 2);
            for (j = 1; j <= m; j++)
                acc = lrn_w_add(acc, lrn_cl_shifted(prev, cur, next, j - m / 2));
            left = C - c < 16 ? C - c : 16;
            if (sc != NULL) lrn_w_st_n(sc, c, lrn_w_fmadd(co.mul, acc, co.add), left, half);
            lrn_w_st_n(y, c, lrn_w_power(xc, acc, &co, kind), left, half);
            prev = cur;
            cur = next;
            xc = xn;
            next = xn = lrn_w_zero();
            if (c + 32 < C) {
                xn = lrn_w_ld_n(x, c + 32, C - c - 32 < 16 ? C - c - 32 : 16, half, 0.0f);
                next = lrn_w_mul(xn, xn);
            }
        }
    }
}
#endif

#ifdef LRN_AVX512
/* Channels-last windows over LRN_DIRECT channels, past lrn_cl_by_blocks'
   C (the AVX-512 build): _channels_last.pxi's window_terms, its partial sums
   of 2^l squares on K = tl->levels levels and the window's rows, formed in
   registers a vector of channels at a time and added in its order: the same
   bits, without the rows of partial sums in memory and their shifted
   reloads.  Level l's vectors k .. k + K + 1 - l are held: vector k + K + 1
   of the squares enters at step k, and each level's newest vector is the
   two newest below it added, the second shifted by 2^(l - 1) lanes.  The
   top level's m = n >> K terms are its vectors k - 1 and k permuted to
   start at lane -pre (``top``), shifted by j 2^K lanes (valignd of it and
   the next step's); a lower level's term (at most one) is its vectors k and
   k + 1 permuted.  K and m are constants of the loop (their terms' shifts
   are valignd's immediates).  C = 256, sizes 9-31: 0.80-0.96x the time of
   the row passes (design §4). */
#define LRN_CL_LEVELS_MAX 3
/* Constant-count loops over held vectors, unrolled so that they stay in
   registers (a vector spilled and reloaded waits for its two halves' stores). */
#if defined(__GNUC__) && !defined(__clang__)
#define LRN_UNROLL _Pragma("GCC unroll 8")
#else
#define LRN_UNROLL
#endif

typedef struct {
    __m512i top;                        /* lane i: 16 - pre + i of (k - 1, k) */
    __m512i low[LRN_CL_LEVELS_MAX];     /* lane i: its offset + i of (k, k + 1) */
    int has[LRN_CL_LEVELS_MAX];         /* level l < K has a term */
} lrn_cl_terms;

static __m512i lrn_lanes_from(Py_ssize_t first) {
    int v[16], i;
    for (i = 0; i < 16; i++) v[i] = (int)first + i;
    return _mm512_loadu_si512(v);
}

/* The terms of tl's window, or 0 where they do not fit these vectors (pre
   over 16, a lower-level term before its vector k or past k + 1). */
static int lrn_cl_terms_of(const lrn_cf_tile *tl, lrn_cl_terms *t) {
    const int K = tl->levels;
    Py_ssize_t shift, l;
    if (K < 1 || K > LRN_CL_LEVELS_MAX || tl->pre > 16) return 0;
    t->top = lrn_lanes_from(16 - tl->pre);
    shift = (tl->n >> K << K) - tl->pre;
    for (l = K - 1; l >= 0; l--) {
        t->has[l] = (int)(tl->n >> l & 1);
        if (!t->has[l]) continue;
        if (shift < 0 || shift > 16) return 0;
        t->low[l] = lrn_lanes_from(shift);
        shift += (Py_ssize_t)1 << l;
    }
    return 1;
}

/* The squares of channels c .. c + 15 of a position (zero past C). */
LRN_INLINE __m512 lrn_cl_square16(const void *x, Py_ssize_t c, Py_ssize_t C, int half) {
    __m512 v;
    if (c >= C) return lrn_w_zero();
    v = c + 16 <= C ? lrn_w_ld(x, c, half) : lrn_w_ld_n(x, c, C - c, half, 0.0f);
    return lrn_w_mul(v, v);
}

/* Level l's vector i (q[l][i]) from the two below it. */
#define LRN_CL_LEVEL(q, l, i)                                                             \
    q[l][i] = lrn_w_add(q[l - 1][i], lrn_lanes_on(q[l - 1][i], q[l - 1][i + 1], 1 << (l - 1)))

LRN_INLINE void lrn_cl_levels(const lrn_cf_tile *tl, const lrn_cl_terms *terms, int K, int m,
                              int kind, int half) {
    const lrn_cl_terms tm = *terms;   /* held: the stores below may alias *terms */
    const Py_ssize_t C = tl->C, item = half ? 2 : 4;
    const lrn_wcoef co = lrn_w_coefs(tl);
    Py_ssize_t p, c;
    int l, i, j;
    for (p = 0; p < tl->T; p++) {
        const char *x = (const char *)tl->x + p * C * item;
        char *y = (char *)tl->y + p * C * item;
        char *sc = tl->scale == NULL ? NULL : (char *)tl->scale + p * C * item;
        /* q[l][i]: level l's vector k + i; first k = -1, before channel 0 */
        __m512 q[LRN_CL_LEVELS_MAX + 1][LRN_CL_LEVELS_MAX + 2], top, next, acc;
        q[0][0] = lrn_w_zero();
        LRN_UNROLL
        for (i = 1; i <= K + 1; i++) q[0][i] = lrn_cl_square16(x, 16 * (i - 1), C, half);
        LRN_UNROLL
        for (l = 1; l <= K; l++) {
            LRN_UNROLL
            for (i = 0; i <= K + 1 - l; i++) LRN_CL_LEVEL(q, l, i);
        }
        top = _mm512_permutex2var_ps(q[K][0], tm.top, q[K][1]);
        for (c = 0; c < C; c += 16) {
            LRN_UNROLL
            for (l = 0; l <= K; l++) {
                LRN_UNROLL
                for (i = 0; i <= K - l; i++) q[l][i] = q[l][i + 1];
            }
            q[0][K + 1] = lrn_cl_square16(x, c + 16 * (K + 1), C, half);
            LRN_UNROLL
            for (l = 1; l <= K; l++) LRN_CL_LEVEL(q, l, K + 1 - l);
            next = _mm512_permutex2var_ps(q[K][0], tm.top, q[K][1]);
            acc = top;
            LRN_UNROLL
            for (j = 1; j < m; j++) acc = lrn_w_add(acc, lrn_lanes_on(top, next, j << K));
            LRN_UNROLL
            for (l = K - 1; l >= 0; l--)
                if (tm.has[l])
                    acc = lrn_w_add(acc, _mm512_permutex2var_ps(q[l][0], tm.low[l], q[l][1]));
            if (c + 16 <= C) {   /* the _n forms' own test alone: 1.03-1.05x the time */
                if (sc != NULL) lrn_w_st(sc, c, lrn_w_fmadd(co.mul, acc, co.add), half);
                lrn_w_st(y, c, lrn_w_power(lrn_w_ld(x, c, half), acc, &co, kind), half);
            } else {
                const Py_ssize_t left = C - c;
                if (sc != NULL) lrn_w_st_n(sc, c, lrn_w_fmadd(co.mul, acc, co.add), left, half);
                lrn_w_st_n(y, c, lrn_w_power(lrn_w_ld_n(x, c, left, half, 0.0f), acc, &co, kind),
                           left, half);
            }
            top = next;
        }
    }
}
#undef LRN_CL_LEVEL

/* lrn_cl_levels for tl, or 0 where its window's terms do not fit: the pairs
   (K, m) that window_levels makes whose top-level shifts, (m - 1) 2^K, stay
   within the next step's vector (sizes 9-31 but 24). */
static int lrn_cl_by_levels(const lrn_cf_tile *tl) {
    lrn_cl_terms tm;
    if (!lrn_cl_terms_of(tl, &tm)) return 0;
#define LRN_CL_LEVELS_H(K, M, KIND)                                                       \
    if (tl->half)                                                                         \
        lrn_cl_levels(tl, &tm, K, M, KIND, 1);                                            \
    else                                                                                  \
        lrn_cl_levels(tl, &tm, K, M, KIND, 0);                                            \
    return 1;
#define LRN_CL_LEVELS_M(KIND)                                                             \
    switch (tl->levels * 8 + (int)(tl->n >> tl->levels)) {                                \
    case 8 + 4: LRN_CL_LEVELS_H(1, 4, KIND)                                               \
    case 8 + 5: LRN_CL_LEVELS_H(1, 5, KIND)                                               \
    case 8 + 6: LRN_CL_LEVELS_H(1, 6, KIND)                                               \
    case 16 + 3: LRN_CL_LEVELS_H(2, 3, KIND)                                              \
    case 16 + 4: LRN_CL_LEVELS_H(2, 4, KIND)                                              \
    case 16 + 5: LRN_CL_LEVELS_H(2, 5, KIND)                                              \
    case 24 + 2: LRN_CL_LEVELS_H(3, 2, KIND)                                              \
    case 24 + 3: LRN_CL_LEVELS_H(3, 3, KIND)                                              \
    default: return 0;                                                                    \
    }
    switch (tl->kind) {
    case 0: LRN_CL_LEVELS_M(0)
    case 1: LRN_CL_LEVELS_M(1)
    default: LRN_CL_LEVELS_M(2)
    }
#undef LRN_CL_LEVELS_M
#undef LRN_CL_LEVELS_H
}
#endif

/* Channels-last: T positions of C contiguous channels (position p at
   x + p * C), each done on its own in L1.  Its squares go to a row of zero
   pads around the C channels (squares[pre + c]), so that every window is
   the n shifted rows squares + j, added in order j = 0 .. n - 1 with no
   clipping.  Two such rows take turns: position p + 1's squares are stored
   before p's windows load theirs, so that a load never waits on the stores
   it overlaps (store forwarding fails on the shifted loads).  m = n - 1
   and kind are constants where this is inlined from lrn_cl_forward.
   ``ring`` is two rows of L >= C + n + LRN_W - 2 floats: the last, partial
   vector of a position reads up to LRN_W - 1 floats past its window. */
LRN_INLINE void lrn_cl_positions(const lrn_cf_tile *tl, int m, int kind, int half) {
    const Py_ssize_t C = tl->C, L = tl->L, full = C - C % LRN_W, item = half ? 2 : 4;
    const lrn_wcoef co = lrn_w_coefs(tl);
    lrn_step st;
    Py_ssize_t p, c;
    int j;
    if (C <= LRN_W) {
        lrn_cl_packed(tl, m, kind, half);
        return;
    }
#ifdef LRN_AVX512
    if (C <= LRN_CL_REGS_MAX && (m == 2 || m == 4) && 2 * tl->pre == m) {
        lrn_cl_regs(tl, m, kind, half);
        return;
    }
#endif
    for (j = 0; j < 2; j++) {   /* the pads, which stay zero */
        memset(tl->ring + j * L, 0, (size_t)tl->pre * sizeof(float));
        memset(tl->ring + j * L + tl->pre + C, 0, (size_t)(L - tl->pre - C) * sizeof(float));
    }
    memset(&st, 0, sizeof st);
    st.m = m;
    st.lanes = (int)(C - full);
    if (tl->T > 0) lrn_cl_squares((const char *)tl->x, tl->ring + tl->pre, C, half, 1);
    for (p = 0; p < tl->T; p++) {
        float *const row = tl->ring + p % 2 * L;
        const char *x = (const char *)tl->x + p * C * item;
        if (p + 1 < tl->T)
            lrn_cl_squares(x + C * item, tl->ring + (p + 1) % 2 * L + tl->pre, C, half, 1);
        st.first = row;
        for (j = 0; j < m; j++) st.rows[j] = row + j + 1;
        st.xc = x;
        st.yc = (char *)tl->y + p * C * item;
        st.sc = tl->scale == NULL ? NULL : (char *)tl->scale + p * C * item;
        for (c = 0; c < full; c += LRN_W) lrn_step_vec(&st, &co, c, m, kind, half, LRN_XC);
        if (full < C) lrn_step_vec(&st, &co, full, m, kind, half, LRN_XC | LRN_PART);
    }
}

/* The channels-last forward pass of a tile: lrn_cl_positions, or for
   windows longer than LRN_DIRECT lrn_cl_blocks, past its channels
   lrn_cl_levels (the AVX-512 build); 0 for other betas, and for the long
   windows neither takes (the Cython kernels' row passes). */
static int lrn_cl_forward(const lrn_cf_tile *tl) {
    if (tl->kind > 2) return 0;
    if (tl->n > LRN_DIRECT) {
#ifdef LRN_AVX512
        if (!lrn_cl_by_blocks(tl->C)) return lrn_cl_by_levels(tl);
#else
        if (!lrn_cl_by_blocks(tl->C)) return 0;
#endif
        switch (tl->kind * 2 + tl->half) {
        case 0: lrn_cl_blocks(tl, 0, 0); return 1;
        case 1: lrn_cl_blocks(tl, 0, 1); return 1;
        case 2: lrn_cl_blocks(tl, 1, 0); return 1;
        case 3: lrn_cl_blocks(tl, 1, 1); return 1;
        case 4: lrn_cl_blocks(tl, 2, 0); return 1;
        default: lrn_cl_blocks(tl, 2, 1); return 1;
        }
    }
#define LRN_CL_KINDS(M, H)                                                                \
    switch (tl->kind) {                                                                   \
    case 0: lrn_cl_positions(tl, M, 0, H); return 1;                                      \
    case 1: lrn_cl_positions(tl, M, 1, H); return 1;                                      \
    default: lrn_cl_positions(tl, M, 2, H); return 1;                                     \
    }
#define LRN_CL_COUNTS(H)                                                                  \
    switch (tl->n) {                                                                      \
    case 3: LRN_CL_KINDS(2, H)                                                            \
    case 5: LRN_CL_KINDS(4, H)                                                            \
    default: LRN_CL_KINDS((int)tl->n - 1, H)                                              \
    }
    if (tl->half) {
        LRN_CL_COUNTS(1)
    } else {
        LRN_CL_COUNTS(0)
    }
#undef LRN_CL_COUNTS
#undef LRN_CL_KINDS
}

/* The forward row pass of the windows the steps above do not take
   (channels-last windows over LRN_DIRECT channels, within-channel windows,
   half rows of the Cython passes): scale = add + mul * (the sum of the m
   rows of a list at t, added in list order) and y = x * scale ** -beta,
   beta 0.75 (kind 0) or 0.5 (1), LRN_W lanes at a time with the steps'
   power; ``y`` may be ``x``.  m and kind are constants where the common
   cases inline it. */
typedef struct {
    const float *const *rows;
    const float *x;
    float *y, *scale;
} lrn_sum_pow;

LRN_INLINE void lrn_sum_pow_vec(const lrn_sum_pow *r, const lrn_wcoef *co, Py_ssize_t t,
                                int lanes, int m, int kind) {
    lrn_wv acc = lrn_w_ld_n(r->rows[0], t, lanes, 0, 0.0f);
    int j;
    for (j = 1; j < m; j++) acc = lrn_w_add(acc, lrn_w_ld_n(r->rows[j], t, lanes, 0, 0.0f));
    if (r->scale != NULL) lrn_w_st_n(r->scale, t, lrn_w_fmadd(co->mul, acc, co->add), lanes, 0);
    lrn_w_st_n(r->y, t, lrn_w_power(lrn_w_ld_n(r->x, t, lanes, 0, 0.0f), acc, co, kind), lanes,
               0);
}

LRN_INLINE void lrn_sum_pow_loop(const lrn_sum_pow *r, Py_ssize_t length, const lrn_wcoef *co,
                                 int m, int kind) {
    Py_ssize_t t;
    for (t = 0; t + LRN_W <= length; t += LRN_W) lrn_sum_pow_vec(r, co, t, LRN_W, m, kind);
    if (t < length) lrn_sum_pow_vec(r, co, t, (int)(length - t), m, kind);
}

/* lrn_sum_pow_loop for a NULL-terminated list.  Up to six rows (block
   windows take one to three, partial sums at most six where n allows:
   _channels_last.pxi's window_levels) are read from a local copy of the
   list, held in registers.  At sixteen lanes in the AVX-512 build:
   channels-last, size 21, C = 256, 0.92-0.94x the time of eight in cache
   (the backward pass's row passes stay at eight in lrn_simd.h: at sixteen
   they took 1.05-1.2x the time). */
static int lrn_sum_pow_row(const float *const *list, const float *x, float *y, float *scale,
                           Py_ssize_t length, float mul, float add, int three_quarters) {
    const float *rows[6];
    const int kind = three_quarters ? 0 : 1;
    lrn_sum_pow r;
    const int m = lrn_count(list);
    lrn_wcoef co;
    int j;
    co.mul = lrn_w_set1(mul);
    co.add = lrn_w_set1(add);
    co.kmul = lrn_w_set1(LRN_ARG_FACTOR * mul);
    co.kadd = lrn_w_set1(LRN_ARG_FACTOR * add);
    for (j = 0; j < m && j < 6; j++) rows[j] = list[j];
    r.rows = m <= 6 ? rows : list;
    r.x = x;
    r.y = y;
    r.scale = scale;
#define LRN_SUM_POW(M)                                                                    \
    if (kind == 0)                                                                        \
        lrn_sum_pow_loop(&r, length, &co, M, 0);                                          \
    else                                                                                  \
        lrn_sum_pow_loop(&r, length, &co, M, 1);                                          \
    return 1;
    switch (m) {
    case 1: LRN_SUM_POW(1)
    case 2: LRN_SUM_POW(2)
    case 3: LRN_SUM_POW(3)
    case 4: LRN_SUM_POW(4)
    case 5: LRN_SUM_POW(5)
    case 6: LRN_SUM_POW(6)
    default: LRN_SUM_POW(m)
    }
#undef LRN_SUM_POW
}

#else

#define LRN_W 8

static int lrn_cl_forward(const lrn_cf_tile *tl) {
    (void)tl;
    return 0;
}

static int lrn_cf_forward(const lrn_cf_tile *tl) {
    (void)tl;
    return 0;
}

static int lrn_cf_fused(void) { return 0; }

static int lrn_sum_pow_row(const float *const *rows, const float *x, float *y, float *scale,
                           Py_ssize_t length, float mul, float add, int three_quarters) {
    (void)rows, (void)x, (void)y, (void)scale, (void)length, (void)mul, (void)add;
    (void)three_quarters;
    return 0;
}

static void lrn_cl_window_sums(const void *x, Py_ssize_t P, Py_ssize_t C, Py_ssize_t n,
                               Py_ssize_t pre, int half, float *scratch, float *sums) {
    (void)x, (void)P, (void)C, (void)n, (void)pre, (void)half, (void)scratch, (void)sums;
}

#endif

#endif /* LRN_FUSED_H */

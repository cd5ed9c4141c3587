/* The channels-first backward pass of the AVX2+FMA build in one loop per
   row, for beta 0.75, 0.5 and 1 and windows of up to LRN_DIRECT channels
   (float data, or IEEE half data read and written as half).

   dx[c] = p[c] - coef * x[c] * (t[c - post] + ... + t[c + pre]), with
   p = dy * s ** -beta and t = dy * y / s (design §1; the terms' window is
   the forward window mirrored).  A tile is C rows of T positions at stride
   ``stride``.  Step b of the sweep

   - reads row b of x and keeps its square in a ring (scale not given),
   - completes the scale of row c1 = b - post (given: row c1 = b is read),
     reads rows c1 of dy and y, and keeps t[c1] and p[c1] in rings,
   - completes row c2 = c1 - pre of dx: the window's terms from the ring,
     p[c2] from its ring, row c2 of x (read n - 1 steps ago, in cache).

   So each row of x, y, dy (and scale) is read from memory once and each row
   of dx written once; the rings (n rows each) stay in L1/L2.  Window sums are
   direct sums of the ring's rows, the newest row first (the forward pass's
   order, so a recomputed scale equals the stored one bitwise), never a
   subtraction (design §2).  Each lane depends only on its own position, so
   results are bitwise the same for any tile size or thread count.  dx may be
   any of the inputs: row c2 of dx is stored after every read of row c2 and
   no later step reads a row below c2.

   lrn_cf_backward returns 1 when it did the tile and 0 where it does not
   (builds without AVX2 and FMA, other betas, longer windows), and the Cython
   kernels run their row passes instead. */
#ifndef LRN_GRAD_H
#define LRN_GRAD_H

#include "lrn_fused.h"

/* A tile of the backward pass, filled by the Cython kernels. */
typedef struct {
    const void *x, *y, *dy;
    const void *scale;      /* the forward's scale, or NULL: recomputed from x */
    void *dx;               /* may be x, y, dy or scale */
    float *squares;         /* R rows of L floats each, 64-byte aligned: x ** 2, */
    float *terms;           /* dy * y / s */
    float *powers;          /* and dy * s ** -beta */
    Py_ssize_t stride, C, T, n, pre, L, R;   /* R = min(n, C) */
    float mul, add;         /* alpha_n and bias, as floats */
    float coef;             /* 2 alpha_n beta */
    int kind;               /* 0: beta 0.75, 1: 0.5, 2: 1, 3: any other (not done) */
    int half;
} lrn_cf_grad;

#if defined(__AVX2__) && defined(__FMA__)

/* One step of the sweep (see above); NULL where a part does not occur. */
typedef struct {
    const void *xb;         /* row b of x, squared */
    float *sqout;           /* where its square is kept */
    const float *sq_first;  /* !LRN_G_SNEW: the scale window's first row */
    const float *sq[LRN_DIRECT];   /* its further rows, msq of them */
    const void *given;      /* row c1 of a given scale */
    const void *dyc, *yc;   /* rows c1 of dy and y */
    float *tout, *pout;     /* where t[c1] and p[c1] are kept */
    const float *t_first;   /* !LRN_G_TNEW: the term window's first row */
    const float *tr[LRN_DIRECT];   /* its further rows, mt of them */
    const float *pc;        /* p[c2], or NULL: it is p[c1] (pre = 0) */
    const void *xc;         /* row c2 of x: a row of dx completes */
    void *dxc;
    const char *ahead[4];   /* rows read from memory a few steps later */
    int msq, mt, nahead;
} lrn_gstep;

enum {
    LRN_G_XB = 1,           /* a row of x enters: xb (and sqout) */
    LRN_G_SNEW = 2,         /* the scale window starts with its square */
    LRN_G_GIVEN = 4,        /* the scale row is given */
    LRN_G_TERM = 8,         /* a term row completes: dyc, yc (tout, pout) */
    LRN_G_TNEW = 16,        /* the term window starts with the new term */
    LRN_G_DX = 32,          /* a row of dx completes: xc, dxc (pc) */
    LRN_G_KEEP = 64,        /* squares, terms and powers are kept (n > 1) */
    LRN_G_PC = 128,         /* p[c2] is read from its ring (pre > 0) */
    LRN_G_RECOMPUTED = LRN_G_XB | LRN_G_SNEW | LRN_G_TERM | LRN_G_TNEW | LRN_G_DX |
                       LRN_G_KEEP | LRN_G_PC,
    LRN_G_GIVEN_STEP = LRN_G_GIVEN | LRN_G_TERM | LRN_G_TNEW | LRN_G_DX | LRN_G_KEEP | LRN_G_PC
};

static inline int lrn_gflags(const lrn_gstep *st) {
    const int term = st->dyc != NULL, dx = st->xc != NULL;
    return (st->xb != NULL ? LRN_G_XB : 0) |
           (term && st->given == NULL && st->sq_first == NULL ? LRN_G_SNEW : 0) |
           (st->given != NULL ? LRN_G_GIVEN : 0) | (term ? LRN_G_TERM : 0) |
           (dx && st->t_first == NULL ? LRN_G_TNEW : 0) | (dx ? LRN_G_DX : 0) |
           (st->sqout != NULL || st->tout != NULL ? LRN_G_KEEP : 0) |
           (st->pc != NULL ? LRN_G_PC : 0);
}

/* Step ``st`` on the eight positions at t; msq, mt, kind, half and flags are
   constants where this is inlined for the common steps.  With the scale
   given, ``co`` holds mul 1 and add 0, so that acc is the scale itself.
   Every load comes before the step's stores: rows whose addresses agree in
   their low 12 bits (rows 4 KiB apart: T or the stride a multiple of 1024)
   would otherwise make each load wait for the store before it (measured:
   three times slower). */
LRN_INLINE void lrn_gstep8(const lrn_gstep *st, const lrn_vcoef *co, __m256 coef, Py_ssize_t t,
                           int msq, int mt, int kind, int half, int flags) {
    __m256 q = _mm256_setzero_ps(), acc, tacc = _mm256_setzero_ps(), s, dyv, yv,
           term = _mm256_setzero_ps(), power = _mm256_setzero_ps(), pc = _mm256_setzero_ps(),
           xv = _mm256_setzero_ps(), older[LRN_DIRECT];
    int j;
    if (flags & LRN_G_XB) {
        const __m256 v = lrn_ld8(st->xb, t, half);
        q = _mm256_mul_ps(v, v);
    }
    if (flags & LRN_G_TERM) {
        if (flags & LRN_G_GIVEN) {
            acc = lrn_ld8(st->given, t, half);
        } else {
            acc = (flags & LRN_G_SNEW) ? q : _mm256_load_ps(st->sq_first + t);
            for (j = 0; j < msq; j++) acc = _mm256_add_ps(acc, _mm256_load_ps(st->sq[j] + t));
        }
        dyv = lrn_ld8(st->dyc, t, half);
        yv = lrn_ld8(st->yc, t, half);
    }
    if (flags & LRN_G_DX) {
        if (!(flags & LRN_G_TNEW)) tacc = _mm256_load_ps(st->t_first + t);
        for (j = 0; j < mt; j++) older[j] = _mm256_load_ps(st->tr[j] + t);
        if (flags & LRN_G_PC) pc = _mm256_load_ps(st->pc + t);
        xv = lrn_ld8(st->xc, t, half);
    }
    if (flags & LRN_G_TERM) {
        s = (flags & LRN_G_GIVEN) ? acc : _mm256_fmadd_ps(co->mul, acc, co->add);
        term = _mm256_div_ps(_mm256_mul_ps(dyv, yv), s);
        power = lrn_power8(dyv, acc, co, kind);
    }
    if ((flags & LRN_G_XB) && (flags & LRN_G_KEEP)) _mm256_store_ps(st->sqout + t, q);
    if ((flags & LRN_G_TERM) && (flags & LRN_G_KEEP)) {
        _mm256_store_ps(st->tout + t, term);
        _mm256_store_ps(st->pout + t, power);
    }
    if (!(flags & LRN_G_DX)) return;
    if (flags & LRN_G_TNEW) tacc = term;
    for (j = 0; j < mt; j++) tacc = _mm256_add_ps(tacc, older[j]);
    if (!(flags & LRN_G_PC)) pc = power;
    lrn_st8(st->dxc, t, _mm256_fnmadd_ps(_mm256_mul_ps(coef, xv), tacc, pc), half);
}

static inline lrn_vcoef lrn_gcoefs(const lrn_cf_grad *g) {
    lrn_cf_tile tile;
    memset(&tile, 0, sizeof tile);
    tile.kind = g->kind;
    tile.mul = g->scale == NULL ? g->mul : 1.0f;
    tile.add = g->scale == NULL ? g->add : 0.0f;
    return lrn_vcoefs(&tile);
}

/* A row's last T - t0 < 8 positions, copied into vectors padded with zeros
   and back (see lrn_step_tail): nothing past a row's end is read or
   written.  The rings' rows are padded to whole vectors. */
static void lrn_gstep_tail(const lrn_gstep *st, const lrn_cf_grad *g, Py_ssize_t t0) {
    const size_t item = g->half ? 2 : 4, bytes = (size_t)(g->T - t0) * item;
    float xb[8] = {0}, given[8] = {0}, dyc[8] = {0}, yc[8] = {0}, xc[8] = {0}, dxc[8];
    lrn_gstep tail = *st;
    const lrn_vcoef co = lrn_gcoefs(g);
    int j;
#define LRN_TAIL_IN(F, B) if (st->F != NULL) tail.F = memcpy(B, (const char *)st->F + t0 * item, bytes)
#define LRN_TAIL_RING(F) if (st->F != NULL) tail.F = st->F + t0
    LRN_TAIL_IN(xb, xb);
    LRN_TAIL_IN(given, given);
    LRN_TAIL_IN(dyc, dyc);
    LRN_TAIL_IN(yc, yc);
    LRN_TAIL_IN(xc, xc);
    LRN_TAIL_RING(sqout);
    LRN_TAIL_RING(sq_first);
    LRN_TAIL_RING(tout);
    LRN_TAIL_RING(pout);
    LRN_TAIL_RING(t_first);
    LRN_TAIL_RING(pc);
#undef LRN_TAIL_IN
#undef LRN_TAIL_RING
    for (j = 0; j < st->msq; j++) tail.sq[j] = st->sq[j] + t0;
    for (j = 0; j < st->mt; j++) tail.tr[j] = st->tr[j] + t0;
    tail.dxc = dxc;
    lrn_gstep8(&tail, &co, _mm256_set1_ps(g->coef), 0, st->msq, st->mt, g->kind, g->half,
               lrn_gflags(st));
    if (st->xc != NULL) memcpy((char *)st->dxc + t0 * item, dxc, bytes);
}

/* The row loop on local copies (stores to the rows could alias the structs).
   The rows the steps LRN_AHEAD later read from memory are requested a cache
   line at a time along the loop: the prefetcher does not follow this many
   short strided streams, and a whole row's requests at once overflow the
   queue of outstanding misses. */
LRN_INLINE void lrn_gstep_row(const lrn_gstep *step, const lrn_cf_grad *g, int msq, int mt,
                              int kind, int half, int flags) {
    const lrn_gstep st = *step;
    const lrn_vcoef co = lrn_gcoefs(g);
    const __m256 coef = _mm256_set1_ps(g->coef);
    const Py_ssize_t T = g->T, item = half ? 2 : 4;
    Py_ssize_t t;
    int j;
    for (t = 0; t + 16 <= T; t += 16) {
        for (j = 0; j < st.nahead; j++) lrn_prefetch(st.ahead[j] + t * item, 1);
        lrn_gstep8(&st, &co, coef, t, msq, mt, kind, half, flags);
        lrn_gstep8(&st, &co, coef, t + 8, msq, mt, kind, half, flags);
    }
    if (t < T)
        for (j = 0; j < st.nahead; j++) lrn_prefetch(st.ahead[j] + t * item, (T - t) * item);
    if (t + 8 <= T) {
        lrn_gstep8(&st, &co, coef, t, msq, mt, kind, half, flags);
        t += 8;
    }
    if (t < T) lrn_gstep_tail(step, g, t);
}

/* lrn_gstep_row with the common steps (every window whole), window lengths
   and betas as constants. */
#define LRN_G_KINDS(MS, MT, H, F)                                                         \
    switch (g->kind) {                                                                    \
    case 0: lrn_gstep_row(st, g, MS, MT, 0, H, F); return;                                \
    case 1: lrn_gstep_row(st, g, MS, MT, 1, H, F); return;                                \
    default: lrn_gstep_row(st, g, MS, MT, 2, H, F); return;                               \
    }
#define LRN_G_STEPS(H)                                                                    \
    if (flags == LRN_G_RECOMPUTED && st->msq == st->mt) {                                 \
        switch (st->msq) {                                                                \
        case 2: LRN_G_KINDS(2, 2, H, LRN_G_RECOMPUTED)                                    \
        case 4: LRN_G_KINDS(4, 4, H, LRN_G_RECOMPUTED)                                    \
        default: break;                                                                   \
        }                                                                                 \
    }                                                                                     \
    if (flags == LRN_G_GIVEN_STEP) {                                                      \
        switch (st->mt) {                                                                 \
        case 2: LRN_G_KINDS(0, 2, H, LRN_G_GIVEN_STEP)                                    \
        case 4: LRN_G_KINDS(0, 4, H, LRN_G_GIVEN_STEP)                                    \
        default: break;                                                                   \
        }                                                                                 \
    }                                                                                     \
    lrn_gstep_row(st, g, st->msq, st->mt, g->kind, H, flags);

static void lrn_gstep_run(const lrn_gstep *st, const lrn_cf_grad *g) {
    const int flags = lrn_gflags(st);
    if (g->half) {
        LRN_G_STEPS(1)
    } else {
        LRN_G_STEPS(0)
    }
}
#undef LRN_G_STEPS
#undef LRN_G_KINDS

static inline const void *lrn_grow(const void *base, Py_ssize_t c, const lrn_cf_grad *g) {
    return (const char *)base + c * g->stride * (g->half ? 2 : 4);
}

/* The window [first, last] of ring rows (slots r % R): the newest row is
   the value at hand when ``fresh``, else ``*first_row``; the others, newest
   first, go to ``rows``.  Returns their count. */
static int lrn_gwindow(float *ring, const lrn_cf_grad *g, Py_ssize_t first, Py_ssize_t last,
                       int fresh, const float **first_row, const float **rows) {
    Py_ssize_t r;
    int m = 0;
    if (!fresh) *first_row = ring + (last % g->R) * g->L;
    for (r = last - 1; r >= first; r--) rows[m++] = ring + (r % g->R) * g->L;
    return m;
}

static int lrn_cf_backward(const lrn_cf_grad *g) {
    const Py_ssize_t C = g->C, n = g->n, pre = g->pre, post = n - 1 - pre, L = g->L, R = g->R;
    const Py_ssize_t item = g->half ? 2 : 4;
    const int given = g->scale != NULL;
    /* rows of x squared ahead of the term rows */
    const Py_ssize_t lag = given ? 0 : post;
    Py_ssize_t b, c1, c2;
    lrn_gstep st;
    if (g->kind > 2 || n > LRN_DIRECT) return 0;
    for (b = 0; b < C + lag + pre; b++) {
        c1 = b - lag;
        c2 = c1 - pre;
        memset(&st, 0, sizeof st);
        if (!given && b < C) {
            st.xb = lrn_grow(g->x, b, g);
            if (n > 1) st.sqout = g->squares + (b % R) * L;
        }
        if (c1 >= 0 && c1 < C) {
            st.dyc = lrn_grow(g->dy, c1, g);
            st.yc = lrn_grow(g->y, c1, g);
            if (given)
                st.given = lrn_grow(g->scale, c1, g);
            else
                st.msq = lrn_gwindow(g->squares, g, c1 - pre > 0 ? c1 - pre : 0,
                                     b < C ? b : C - 1, b < C, &st.sq_first, st.sq);
            if (n > 1) {
                st.tout = g->terms + (c1 % R) * L;
                st.pout = g->powers + (c1 % R) * L;
            }
        }
        if (c2 >= 0) {
            st.xc = lrn_grow(g->x, c2, g);
            st.dxc = (void *)lrn_grow(g->dx, c2, g);
            st.mt = lrn_gwindow(g->terms, g, c2 - post > 0 ? c2 - post : 0,
                                c1 < C ? c1 : C - 1, c1 < C, &st.t_first, st.tr);
            if (pre > 0) st.pc = g->powers + (c2 % R) * L;
        }
        if (!given && b + LRN_AHEAD < C)
            st.ahead[st.nahead++] = lrn_grow(g->x, b + LRN_AHEAD, g);
        if (given && c2 + LRN_AHEAD >= 0 && c2 + LRN_AHEAD < C)
            st.ahead[st.nahead++] = lrn_grow(g->x, c2 + LRN_AHEAD, g);
        if (c1 + LRN_AHEAD >= 0 && c1 + LRN_AHEAD < C) {
            st.ahead[st.nahead++] = lrn_grow(g->dy, c1 + LRN_AHEAD, g);
            st.ahead[st.nahead++] = lrn_grow(g->y, c1 + LRN_AHEAD, g);
            if (given) st.ahead[st.nahead++] = lrn_grow(g->scale, c1 + LRN_AHEAD, g);
        }
        lrn_gstep_run(&st, g);
    }
    return 1;
}

#else

static int lrn_cf_backward(const lrn_cf_grad *g) {
    (void)g;
    return 0;
}

#endif

#endif /* LRN_GRAD_H */

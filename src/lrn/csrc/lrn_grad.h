/* The backward passes of the AVX2+FMA build for beta 0.75, 0.5 and 1 and
   windows of up to LRN_DIRECT channels (float data, or IEEE half data read
   and written as half): channels-first in one loop per row, channels-last
   in two loops per position (lrn_cl_grad_positions).

   dx[c] = p[c] - coef * x[c] * (t[c - post] + ... + t[c + pre]), with
   p = dy * s ** -beta and t = dy * y / s (design §1; the terms' window is
   the forward window mirrored).  A channels-first tile is C rows of T
   positions at stride ``stride``.  Step b of the sweep

   - reads row b of x and keeps its square in a ring (scale not given),
   - completes the scale of row c1 = b - post (given: row c1 = b is read),
     reads rows c1 of dy and y, and keeps t[c1] and p[c1] in rings,
   - completes row c2 = c1 - pre of dx: the window's terms from the ring,
     p[c2] from its ring, row c2 of x (scale not given: read n - 1 steps
     before, still in cache).

   So each row of x, y, dy (and scale) is read from memory once and each row
   of dx written once; the rings (min(n, C) rows each) stay in L1/L2.
   Window sums are direct sums of the ring's rows, the newest row first (the
   fused forward pass's order, so a recomputed scale equals the one it
   stores), never a subtraction (design §2).  Each lane depends only on its
   own position, so results are bitwise the same for any tile size or
   thread count, or for channel parts (rows lo .. hi - 1 of dx: the sweep
   starts at the first row their windows reach).  dx may be any of the
   inputs: row c2 of dx is stored after every read of row c2, and no later
   step reads a row below c2 (but another channel part does: parts need dx
   apart from the inputs).

   lrn_cf_backward and lrn_cl_backward return 1 when they did the tile and 0
   where they do not (builds without AVX2 and FMA, other betas, longer
   windows), and the Cython kernels run their row passes instead. */
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
    Py_ssize_t lo, hi;      /* the rows of dx to write, 0 and C but in a
                               channel part */
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
    char *ahead_dx;         /* the row of dx written a few steps later, or NULL */
    int msq, mt, nahead;
    int lanes;              /* LRN_G_PART: the lanes of the rows of x, the
                               scale, dy, y and dx in the row */
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
    LRN_G_PART = 256,       /* the rows end within the vector, after lanes */
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

/* A row's coefficients as vectors: s = co.add + co.mul * acc, the power
   taken from s with ``unit`` (mul 1, add 0), dx = p - coef * x * (terms). */
typedef struct {
    lrn_vcoef co, unit;
    __m256 coef;
} lrn_gcoef;

/* Step ``st`` on the eight positions at t; msq, mt, kind, half and flags are
   constants where this is inlined for the common steps.  ``gc->co`` holds
   alpha_n and bias (s = bias + alpha_n * acc), ``gc->unit`` mul 1 and add 0:
   the power is taken from s itself, as the row passes take it, so that a
   recomputed scale and a given one give the same bits (Dask's blocks, given
   the forward's scale, equal an in-memory call that recomputes it).
   Every load comes before the step's stores: rows whose addresses agree in
   their low 12 bits (rows 4 KiB apart: T or the stride a multiple of 1024)
   would otherwise make each load wait for the store before it (measured:
   three times slower). */
LRN_INLINE void lrn_gstep8(const lrn_gstep *st, const lrn_gcoef *gc, Py_ssize_t t, int msq,
                           int mt, int kind, int half, int flags) {
    __m256 q = _mm256_setzero_ps(), acc, tacc = _mm256_setzero_ps(), s, dyv, yv,
           term = _mm256_setzero_ps(), power = _mm256_setzero_ps(), pc = _mm256_setzero_ps(),
           xv = _mm256_setzero_ps(), older[LRN_DIRECT];
    const Py_ssize_t lanes = (flags & LRN_G_PART) ? st->lanes : 8;
    int j;
    if (flags & LRN_G_XB) {
        const __m256 v = lrn_ld8_n(st->xb, t, lanes, half, 0.0f);
        q = _mm256_mul_ps(v, v);
    }
    if (flags & LRN_G_TERM) {
        if (flags & LRN_G_GIVEN) {
            acc = lrn_ld8_n(st->given, t, lanes, half, 0.0f);
        } else {
            acc = (flags & LRN_G_SNEW) ? q : _mm256_load_ps(st->sq_first + t);
            for (j = 0; j < msq; j++) acc = _mm256_add_ps(acc, _mm256_load_ps(st->sq[j] + t));
        }
        dyv = lrn_ld8_n(st->dyc, t, lanes, half, 0.0f);
        yv = lrn_ld8_n(st->yc, t, lanes, half, 0.0f);
    }
    if (flags & LRN_G_DX) {
        if (!(flags & LRN_G_TNEW)) tacc = _mm256_load_ps(st->t_first + t);
        for (j = 0; j < mt; j++) older[j] = _mm256_load_ps(st->tr[j] + t);
        if (flags & LRN_G_PC) pc = _mm256_load_ps(st->pc + t);
        xv = lrn_ld8_n(st->xc, t, lanes, half, 0.0f);
    }
    if (flags & LRN_G_TERM) {
        s = (flags & LRN_G_GIVEN) ? acc : _mm256_fmadd_ps(gc->co.mul, acc, gc->co.add);
        term = _mm256_div_ps(_mm256_mul_ps(dyv, yv), s);
        power = lrn_power8(dyv, s, &gc->unit, kind);
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
    lrn_st8_n(st->dxc, t, _mm256_fnmadd_ps(_mm256_mul_ps(gc->coef, xv), tacc, pc), lanes, half);
}

/* The coefficients of s = add + mul * acc, or with ``unit`` of s itself. */
static inline lrn_cf_tile lrn_gtile(const lrn_cf_grad *g, int unit) {
    lrn_cf_tile tile;
    memset(&tile, 0, sizeof tile);
    tile.kind = g->kind;
    tile.mul = unit ? 1.0f : g->mul;
    tile.add = unit ? 0.0f : g->add;
    return tile;
}

static inline lrn_vcoef lrn_gcoefs(const lrn_cf_grad *g, int unit) {
    const lrn_cf_tile tile = lrn_gtile(g, unit);
    return lrn_vcoefs(&tile);
}

static inline lrn_gcoef lrn_gcoef_of(const lrn_cf_grad *g) {
    lrn_gcoef gc;
    gc.co = lrn_gcoefs(g, 0);
    gc.unit = lrn_gcoefs(g, 1);
    gc.coef = _mm256_set1_ps(g->coef);
    return gc;
}

/* The row loop on local copies (stores to the rows could alias the structs).
   The rows the steps LRN_AHEAD later read from memory are requested a cache
   line at a time along the loop (and the row of dx they write, for
   writing): the prefetcher does not follow this many
   short strided streams, and a whole row's requests at once overflow the
   queue of outstanding misses. */
LRN_INLINE void lrn_gstep_row(const lrn_gstep *step, const lrn_cf_grad *g, int msq, int mt,
                              int kind, int half, int flags) {
    lrn_gstep st = *step;
    const lrn_gcoef gc = lrn_gcoef_of(g);
    const Py_ssize_t T = g->T, item = half ? 2 : 4;
    Py_ssize_t t;
    int j;
    for (t = 0; t + 16 <= T; t += 16) {
        for (j = 0; j < st.nahead; j++) lrn_prefetch(st.ahead[j] + t * item, 1, 0);
        if (st.ahead_dx != NULL) lrn_prefetch(st.ahead_dx + t * item, 1, 1);
        lrn_gstep8(&st, &gc, t, msq, mt, kind, half, flags);
        lrn_gstep8(&st, &gc, t + 8, msq, mt, kind, half, flags);
    }
    if (t < T) {
        for (j = 0; j < st.nahead; j++) lrn_prefetch(st.ahead[j] + t * item, (T - t) * item, 0);
        if (st.ahead_dx != NULL) lrn_prefetch(st.ahead_dx + t * item, (T - t) * item, 1);
    }
    if (t + 8 <= T) {
        lrn_gstep8(&st, &gc, t, msq, mt, kind, half, flags);
        t += 8;
    }
    if (t < T) {   /* the row's last positions (its rings' rows are whole vectors) */
        st.lanes = (int)(T - t);
        lrn_gstep8(&st, &gc, t, msq, mt, kind, half, flags | LRN_G_PART);
    }
}

/* lrn_gstep_row with the common steps (every window whole), window lengths
   and betas as constants. */
#define LRN_G_KINDS(MS, MT, H, F)                                                         \
    switch (g->kind) {                                                                    \
    case 0: lrn_gstep_row(st, g, MS, MT, 0, H, F); return;                                \
    case 1: lrn_gstep_row(st, g, MS, MT, 1, H, F); return;                                \
    default: lrn_gstep_row(st, g, MS, MT, 2, H, F); return;                               \
    }
/* ... and the steps where a window is clipped (the first and last n - 1 of
   a tile: for few channels, most of them) with their flags as constants. */
#define LRN_G_FLAGS(H, F)                                                                 \
    lrn_gstep_row(st, g, st->msq, st->mt, g->kind, H, F);                                 \
    return;
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
    switch (flags) {                                                                      \
    case LRN_G_XB | LRN_G_KEEP: LRN_G_FLAGS(H, LRN_G_XB | LRN_G_KEEP)                     \
    case LRN_G_XB | LRN_G_SNEW | LRN_G_TERM | LRN_G_KEEP:                                 \
        LRN_G_FLAGS(H, LRN_G_XB | LRN_G_SNEW | LRN_G_TERM | LRN_G_KEEP)                   \
    case LRN_G_TERM | LRN_G_KEEP: LRN_G_FLAGS(H, LRN_G_TERM | LRN_G_KEEP)                 \
    case LRN_G_GIVEN | LRN_G_TERM | LRN_G_KEEP:                                           \
        LRN_G_FLAGS(H, LRN_G_GIVEN | LRN_G_TERM | LRN_G_KEEP)                             \
    case LRN_G_RECOMPUTED: LRN_G_FLAGS(H, LRN_G_RECOMPUTED)                               \
    case LRN_G_GIVEN_STEP: LRN_G_FLAGS(H, LRN_G_GIVEN_STEP)                               \
    case LRN_G_TERM | LRN_G_TNEW | LRN_G_DX | LRN_G_KEEP | LRN_G_PC:                      \
        LRN_G_FLAGS(H, LRN_G_TERM | LRN_G_TNEW | LRN_G_DX | LRN_G_KEEP | LRN_G_PC)        \
    case LRN_G_DX | LRN_G_PC: LRN_G_FLAGS(H, LRN_G_DX | LRN_G_PC)                         \
    default: lrn_gstep_row(st, g, st->msq, st->mt, g->kind, H, flags);                    \
    }

static void lrn_gstep_run(const lrn_gstep *st, const lrn_cf_grad *g) {
    const int flags = lrn_gflags(st);
    if (g->half) {
        LRN_G_STEPS(1)
    } else {
        LRN_G_STEPS(0)
    }
}
#undef LRN_G_STEPS
#undef LRN_G_FLAGS
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
    const int given = g->scale != NULL;
    /* rows of x squared ahead of the term rows */
    const Py_ssize_t lag = given ? 0 : post;
    const Py_ssize_t lo = g->lo, hi = g->hi;
    /* the first term row that rows lo .. hi - 1 of dx add, and the first
       step: its scale window's first square, or (given) its own */
    const Py_ssize_t t0 = lo - post > 0 ? lo - post : 0;
    const Py_ssize_t start = given ? t0 : t0 - pre > 0 ? t0 - pre : 0;
    Py_ssize_t b, c1, c2;
    lrn_gstep st;
    if (g->kind > 2 || n > LRN_DIRECT) return 0;
    for (b = start; b < hi + lag + pre; b++) {
        c1 = b - lag;
        c2 = c1 - pre;
        memset(&st, 0, sizeof st);
        if (!given && b < C) {
            st.xb = lrn_grow(g->x, b, g);
            if (n > 1) st.sqout = g->squares + (b % R) * L;
        }
        if (c1 >= t0 && c1 < C) {
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
        if (c2 >= lo) {
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
        if (c2 + LRN_AHEAD >= lo && c2 + LRN_AHEAD < hi)
            st.ahead_dx = (char *)lrn_grow(g->dx, c2 + LRN_AHEAD, g);
        if (c1 + LRN_AHEAD >= 0 && c1 + LRN_AHEAD < C) {
            st.ahead[st.nahead++] = lrn_grow(g->dy, c1 + LRN_AHEAD, g);
            st.ahead[st.nahead++] = lrn_grow(g->y, c1 + LRN_AHEAD, g);
            if (given) st.ahead[st.nahead++] = lrn_grow(g->scale, c1 + LRN_AHEAD, g);
        }
        lrn_gstep_run(&st, g);
    }
    return 1;
}

/* Channels-last: T positions of C contiguous channels (position p at
   x + p * C), each done in L1 with no transposes, in two loops over its
   channels like lrn_cl_positions' one: the first forms the scale (from a
   padded row of the position's squares, or the given scale), the terms and
   the powers, the terms into a padded row (terms[post + c], zero pads), so
   that the second's window sums are the n shifted rows terms + j, added
   in order j = 0 .. n - 1 with no clipping.  Each padded row has two
   copies in turns, and the second loop of position p runs after the first
   loop of position p + 1 (and the squares of position p + 2 before that),
   so that a shifted load never waits on the stores it overlaps.  ``squares``,
   ``terms`` and ``powers`` are two rows of L >= C + n + 6 floats each.
   The power is taken from s itself, as the row passes do, so a recomputed
   scale and a given one give the same bits. */

/* What the two loops of a position read and write. */
typedef struct {
    const float *sq;        /* first loop: the padded row of squares */
    const char *dy, *y, *given;   /* ... the position's rows (given may be NULL) */
    const char *x;          /* second loop: the position's x */
    char *dx;               /* ... and dx */
    float *terms, *powers;  /* the rows the first loop writes, the second reads */
} lrn_cl_gpos;

/* The first loop's eight channels at c of a position (``part`` of them in
   a last, partial vector, whose other lanes store zero terms: the pads). */
LRN_INLINE void lrn_cl_terms8(const lrn_cl_gpos *ps, const lrn_gcoef *gc, Py_ssize_t c,
                              Py_ssize_t part, int n, int kind, int half) {
    __m256 s, dyv, yv, term;
    int j;
    if (ps->given != NULL) {
        s = lrn_ld8_n(ps->given, c, part, half, 1.0f);
    } else {
        s = _mm256_loadu_ps(ps->sq + c);
        for (j = 1; j < n; j++) s = _mm256_add_ps(s, _mm256_loadu_ps(ps->sq + c + j));
        s = _mm256_fmadd_ps(gc->co.mul, s, gc->co.add);
    }
    dyv = lrn_ld8_n(ps->dy, c, part, half, 0.0f);
    yv = lrn_ld8_n(ps->y, c, part, half, 0.0f);
    term = _mm256_div_ps(_mm256_mul_ps(dyv, yv), s);
    if (part < 8) term = _mm256_and_ps(term, _mm256_castsi256_ps(lrn_first8(part)));
    _mm256_storeu_ps(ps->terms + c, term);
    _mm256_storeu_ps(ps->powers + c, lrn_power8(dyv, s, &gc->unit, kind));
}

/* The second loop's eight channels at c: dx = p - coef * x * (window sum). */
LRN_INLINE void lrn_cl_dx8(const lrn_cl_gpos *ps, const lrn_gcoef *gc, Py_ssize_t c,
                           Py_ssize_t part, int n, int half) {
    __m256 acc = _mm256_loadu_ps(ps->terms + c), xv, r;
    int j;
    for (j = 1; j < n; j++) acc = _mm256_add_ps(acc, _mm256_loadu_ps(ps->terms + c + j));
    xv = lrn_ld8_n(ps->x, c, part, half, 0.0f);
    r = _mm256_fnmadd_ps(_mm256_mul_ps(gc->coef, xv), acc, _mm256_loadu_ps(ps->powers + c));
    lrn_st8_n(ps->dx, c, r, part, half);
}

/* Channels-last data of C <= LRN_W channels: as lrn_cl_packed, the
   positions that fit a vector at a time (sixteen lanes in the AVX-512 build:
   its eight- and sixteen-lane powers give the same bits), one load of each
   input and one store of dx; the windows of squares (window[0]) and of terms
   (window[1]) are permutations of the vectors of squares and of terms,
   added in the order of the two loops below (the same bits). */
LRN_INLINE void lrn_cl_grad_packed(const lrn_cf_grad *g, int n, int kind, int half) {
    const Py_ssize_t C = g->C, G = LRN_W / C, T = g->T, pre = g->pre, post = n - 1 - pre;
    const lrn_cf_tile tile = lrn_gtile(g, 0), unit = lrn_gtile(g, 1);
    const lrn_wcoef co = lrn_w_coefs(&tile), co1 = lrn_w_coefs(&unit);
    const lrn_wv coef = lrn_w_set1(g->coef);
    lrn_wshift window[2][LRN_DIRECT];
    Py_ssize_t p;
    int j;
    for (j = 0; j < n; j++) {
        window[0][j] = lrn_w_shift_of(C, j - pre);
        window[1][j] = lrn_w_shift_of(C, j - post);
    }
    for (p = 0; p < T; p += G) {
        const Py_ssize_t lanes = (T - p < G ? T - p : G) * C, at = p * C;
        const lrn_wv xv = lrn_w_ld_n(g->x, at, lanes, half, 0.0f);
        const lrn_wv dyv = lrn_w_ld_n(g->dy, at, lanes, half, 0.0f);
        const lrn_wv yv = lrn_w_ld_n(g->y, at, lanes, half, 0.0f);
        lrn_wv s, term, acc;
        if (g->scale != NULL) {
            s = lrn_w_ld_n(g->scale, at, lanes, half, 1.0f);
        } else {
            const lrn_wv q = lrn_w_mul(xv, xv);
            acc = lrn_w_shifted(q, &window[0][0]);
            for (j = 1; j < n; j++) acc = lrn_w_add(acc, lrn_w_shifted(q, &window[0][j]));
            s = lrn_w_fmadd(co.mul, acc, co.add);
        }
        term = lrn_w_div(lrn_w_mul(dyv, yv), s);
        acc = lrn_w_shifted(term, &window[1][0]);
        for (j = 1; j < n; j++) acc = lrn_w_add(acc, lrn_w_shifted(term, &window[1][j]));
        lrn_w_st_n(g->dx, at,
                   lrn_w_fnmadd(lrn_w_mul(coef, xv), acc, lrn_w_power(dyv, s, &co1, kind)),
                   lanes, half);
    }
}

LRN_INLINE void lrn_cl_grad_positions(const lrn_cf_grad *g, int n, int kind, int half) {
    const Py_ssize_t C = g->C, L = g->L, full = C - C % 8, item = half ? 2 : 4;
    const Py_ssize_t pre = g->pre, post = n - 1 - pre, T = g->T;
    const int given = g->scale != NULL;
    const lrn_gcoef gc = lrn_gcoef_of(g);
    lrn_cl_gpos ps;
    Py_ssize_t p, c;
    int j;
    memset(&ps, 0, sizeof ps);
    if (C <= LRN_W) {
        lrn_cl_grad_packed(g, n, kind, half);
        return;
    }
    for (j = 0; j < 2; j++) {   /* the pads, which stay zero */
        memset(g->squares + j * L, 0, (size_t)pre * sizeof(float));
        memset(g->squares + j * L + pre + C, 0, (size_t)(L - pre - C) * sizeof(float));
        memset(g->terms + j * L, 0, (size_t)post * sizeof(float));
        memset(g->terms + j * L + post + C, 0, (size_t)(L - post - C) * sizeof(float));
    }
    if (!given && T > 0) lrn_cl_squares((const char *)g->x, g->squares + pre, C, half, 0);
    for (p = 0; p <= T; p++) {
        if (p < T) {
            const Py_ssize_t at = p * C * item;
            ps.sq = g->squares + p % 2 * L;
            ps.dy = (const char *)g->dy + at;
            ps.y = (const char *)g->y + at;
            ps.given = given ? (const char *)g->scale + at : NULL;
            ps.terms = g->terms + p % 2 * L + post;
            ps.powers = g->powers + p % 2 * L;
            if (!given && p + 1 < T)
                lrn_cl_squares((const char *)g->x + at + C * item,
                               g->squares + (p + 1) % 2 * L + pre, C, half, 0);
            for (c = 0; c < full; c += 8) lrn_cl_terms8(&ps, &gc, c, 8, n, kind, half);
            if (full < C) lrn_cl_terms8(&ps, &gc, full, C - full, n, kind, half);
        }
        if (p > 0) {
            const Py_ssize_t at = (p - 1) * C * item;
            ps.terms = g->terms + (p - 1) % 2 * L;
            ps.powers = g->powers + (p - 1) % 2 * L;
            ps.x = (const char *)g->x + at;
            ps.dx = (char *)g->dx + at;
            for (c = 0; c < full; c += 8) lrn_cl_dx8(&ps, &gc, c, 8, n, half);
            if (full < C) lrn_cl_dx8(&ps, &gc, full, C - full, n, half);
        }
    }
}

/* The channels-last backward pass of a tile (see lrn_cl_grad_positions);
   windows of up to LRN_DIRECT channels, else 0 (the Cython kernels'
   partial sums).  dx may be any of the inputs: position p of dx is stored
   after every read of position p. */
static int lrn_cl_backward(const lrn_cf_grad *g) {
    if (g->n > LRN_DIRECT || g->kind > 2) return 0;
#define LRN_CLG_KINDS(N, H)                                                               \
    switch (g->kind) {                                                                    \
    case 0: lrn_cl_grad_positions(g, N, 0, H); return 1;                                  \
    case 1: lrn_cl_grad_positions(g, N, 1, H); return 1;                                  \
    default: lrn_cl_grad_positions(g, N, 2, H); return 1;                                 \
    }
#define LRN_CLG_COUNTS(H)                                                                 \
    switch (g->n) {                                                                       \
    case 3: LRN_CLG_KINDS(3, H)                                                           \
    case 5: LRN_CLG_KINDS(5, H)                                                           \
    default: LRN_CLG_KINDS((int)g->n, H)                                                  \
    }
    if (g->half) {
        LRN_CLG_COUNTS(1)
    } else {
        LRN_CLG_COUNTS(0)
    }
#undef LRN_CLG_COUNTS
#undef LRN_CLG_KINDS
}

#else

static int lrn_cl_backward(const lrn_cf_grad *g) {
    (void)g;
    return 0;
}

static int lrn_cf_backward(const lrn_cf_grad *g) {
    (void)g;
    return 0;
}

#endif

#endif /* LRN_GRAD_H */

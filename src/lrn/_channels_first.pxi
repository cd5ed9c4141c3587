# Channels-first tiles (included by _kernels.pyx): the block window.
#
# A tile is C rows of T positions (row c at stride ``stride`` in the arrays),
# swept once, a block of n channels at a time, with vector loops along the
# positions; a row of y (or dx) is written as soon as its window is
# complete, while its inputs are in L1.  With blocks [k n, k n + n) of rows,
# ``suffix`` holds in-block suffix sums and ``prefix`` the running in-block
# prefix sum up to row b = c + post, so the window [first, b] of row c is the
# prefix alone when ``first`` starts a block (or is clipped to 0), the suffix
# of ``first`` alone when b is clipped into first's block, and the two added
# otherwise: three additions per element for any n, none of them a
# subtraction.  Block k's suffix sums, then the steps b in block k, need only
# blocks k - 1 and k, so the suffix sums take turns in two slots of n rows.
# The within-channel box sums run the same sweep along each spatial axis.


cdef struct BlockWindow:
    # One sweep of the window over C rows of T positions.
    Py_ssize_t C
    Py_ssize_t T
    Py_ssize_t n
    Py_ssize_t pre          # rows before the centre (the mirrored sweep: post)
    Py_ssize_t L            # stride of the suffix-sum rows
    bint square             # sum the squares of the rows


cdef inline BlockWindow block_window(const Plan* p, Py_ssize_t T, Py_ssize_t pre,
                                     bint square) noexcept nogil:
    cdef BlockWindow w
    w.C = p.C
    w.T = T
    w.n = p.n
    w.pre = pre
    w.L = p.L
    w.square = square
    return w


cdef inline floating* suffix_row(floating* suffix, Py_ssize_t L, Py_ssize_t c,
                                 Py_ssize_t n) noexcept nogil:
    """Row c's slot, where blocks of n rows take turns in two slots."""
    return suffix + ((c // n) % 2 * n + c % n) * L


cdef inline Py_ssize_t block_steps(const BlockWindow* w, Py_ssize_t k) noexcept nogil:
    """One past the last step b done with block k: the block's end, or for the
    last block the end of all C + post steps."""
    return w.C + w.n - 1 - w.pre if k == (w.C - 1) // w.n else k * w.n + w.n


cdef inline void suffix_block(const BlockWindow* w, const floating* src, Py_ssize_t lds,
                              floating* suffix, Py_ssize_t k) noexcept nogil:
    """The suffix sums of block k, whose row c is at ``src + (c - k n) * lds``.

    Each row read here is read again by the steps right after, while it is
    in L1."""
    cdef Py_ssize_t c, t, T = w.T, n = w.n, L = w.L
    cdef Py_ssize_t c0 = k * n, c1 = min(c0 + n, w.C)
    cdef bint square = w.square
    cdef const floating* src_row
    cdef floating* row
    cdef floating* nxt
    for c in range(c1 - 1, c0 - 1, -1):
        src_row = src + (c - c0) * lds
        row = suffix_row(suffix, L, c, n)
        if c == c1 - 1:
            for t in range(T):
                row[t] = src_row[t] * src_row[t] if square else src_row[t]
        else:
            nxt = row + L
            for t in range(T):
                row[t] = (src_row[t] * src_row[t] if square else src_row[t]) + nxt[t]


cdef inline Py_ssize_t window_step(const BlockWindow* w, Py_ssize_t b, const floating* src_row,
                                   floating* suffix, floating* prefix,
                                   const floating** rows) noexcept nogil:
    """Step b (0 <= b < C + post): add row b (``src_row``; none when b >= C)
    to the running prefix; then the window of row c = b - post goes to
    ``rows``, NULL-terminated (three entries).  Returns c, or -1 if c < 0."""
    cdef Py_ssize_t t, first, C = w.C, T = w.T, n = w.n, c = b - (n - 1 - w.pre)
    cdef bint square = w.square
    if b < C:
        if b % n == 0:
            for t in range(T):
                prefix[t] = src_row[t] * src_row[t] if square else src_row[t]
        else:
            for t in range(T):
                prefix[t] += src_row[t] * src_row[t] if square else src_row[t]
    if c < 0:
        return -1
    first = c - w.pre
    rows[1] = NULL
    rows[2] = NULL
    if first <= 0 or first % n == 0:
        rows[0] = prefix
    else:
        rows[0] = suffix_row(suffix, w.L, first, n)
        if first // n != (C - 1) // n:
            rows[1] = prefix
    return c


cdef inline void part_blocks(const Operands* ops, const BlockWindow* w, Py_ssize_t* k0,
                             Py_ssize_t* end) noexcept nogil:
    """A sweep that writes rows ops.lo .. ops.hi - 1 only (a channel part,
    :func:`shared_parts`): its first block ``k0``, the one that the window of
    row lo starts in, and the step ``end`` that completes row hi - 1.  The
    blocks stay those of the whole sweep, so every window is the same sum."""
    k0[0] = max(<Py_ssize_t>0, ops.lo - w.pre) // w.n
    end[0] = ops.hi + w.n - 1 - w.pre


cdef void block_rows(const Operands* ops, const Plan* p, Py_ssize_t T,
                     floating* buf) noexcept nogil:
    """The forward pass: scale = bias + alpha_n * window sum of x^2 and
    y = x * scale ** -beta (``y`` may be ``x``; ``scale`` may be NULL); or,
    for BOX_SUMS, the plain window sums of x into ``out`` (which may be x).
    Row c of x is not read after row c of the output is written.  Only rows
    ops.lo .. ops.hi - 1 of the output are written (:func:`part_blocks`)."""
    cdef const floating* x = <const floating*>ops.x
    cdef floating* out = <floating*>ops.out
    cdef floating* scale = <floating*>ops.scale_out
    cdef Py_ssize_t k, b, c, C = p.C, n = p.n, rs = ops.stride
    cdef Py_ssize_t k0, end
    cdef bint box = p.op == BOX_SUMS
    cdef BlockWindow w = block_window(p, T, p.pre, not box)
    cdef Coefs co = p.co
    cdef floating* suffix = buf + p.scratch.suffix
    cdef floating* prefix = buf + p.scratch.prefix
    cdef floating* work = buf + p.scratch.work
    cdef const floating* rows[3]
    part_blocks(ops, &w, &k0, &end)
    for k in range(k0, (C - 1) // n + 1):
        if k * n >= end:
            break
        suffix_block(&w, x + k * n * rs, rs, suffix, k)
        for c in range(k * n + n, min(k * n + 2 * n, C)):  # the next block, meanwhile
            lrn_prefetch(x + c * rs, T * sizeof(floating), 0)
        for b in range(k * n, min(block_steps(&w, k), end)):
            c = window_step(&w, b, x + min(b, C - 1) * rs, suffix, prefix, rows)
            if c < ops.lo:
                continue
            if box:
                sum_rows(rows, out + c * rs, T, 1, 0)
            else:
                sum_pow_row(rows, x + c * rs, out + c * rs,
                            NULL if scale == NULL else scale + c * rs, work, T, &co)


cdef void backward_rows(const Operands* ops, const Plan* p, Py_ssize_t T,
                        floating* buf) noexcept nogil:
    """The input gradient.

    dx = dy * scale ** -beta - grad_coef * x * (sums of the terms
    dy * y / scale over the windows that contain each channel: [c - post,
    c + pre], the forward window mirrored, so that sweep runs with pre and
    post swapped).  Block k of the terms is computed as its suffix sums are,
    and row c of dx at the step that completes its window.  ``scale`` NULL
    recomputes it: a forward sweep runs ahead into a ring of the last
    ring_rows rows.  ``dx`` may be any of the inputs: row c of every input
    is last read at row c of dx.  Only rows ops.lo .. ops.hi - 1 of dx are
    written (:func:`part_blocks`; the forward sweep then starts at the block
    that the scale window of the first term row starts in).
    """
    cdef const floating* x = <const floating*>ops.x
    cdef const floating* y = <const floating*>ops.y
    cdef const floating* dy = <const floating*>ops.dy
    cdef const floating* scale = <const floating*>ops.scale_in
    cdef floating* dx = <floating*>ops.out
    cdef Py_ssize_t k, b, c, c0, c1, t, k0, end, ahead
    cdef Py_ssize_t C = p.C, n = p.n, post = n - 1 - p.pre, L = p.L, rs = ops.stride
    cdef Py_ssize_t ring_rows = p.scratch.ring_rows
    cdef BlockWindow scale_sweep = block_window(p, T, p.pre, True)
    cdef BlockWindow terms_sweep = block_window(p, T, post, False)
    cdef Coefs co = p.co
    cdef floating alpha_n = <floating>co.alpha_n, bias = <floating>co.bias
    cdef floating* suffix = buf + p.scratch.suffix
    cdef floating* prefix = buf + p.scratch.prefix
    cdef floating* work = buf + p.scratch.work
    cdef floating* terms = buf + p.scratch.terms
    cdef floating* ring = buf + p.scratch.ring
    cdef floating* fwd_suffix = buf + p.scratch.fwd_suffix
    cdef floating* fwd_prefix = buf + p.scratch.fwd_prefix
    cdef const floating* scale_row
    cdef floating* term
    cdef const floating* rows[3]
    part_blocks(ops, &terms_sweep, &k0, &end)
    ahead = max(<Py_ssize_t>0, k0 * n - p.pre) // n * n
    for k in range(k0, (C - 1) // n + 1):
        c0 = k * n
        c1 = min(c0 + n, C)
        if c0 >= end:
            break
        # Scale rows up to c1 - 1 (the forward step ``ahead`` completes row
        # ahead - post).
        while scale == NULL and ahead < c1 + post:
            if ahead < C and ahead % n == 0:
                suffix_block(&scale_sweep, x + ahead * rs, rs, fwd_suffix, ahead // n)
            c = window_step(&scale_sweep, ahead, x + min(ahead, C - 1) * rs, fwd_suffix,
                            fwd_prefix, rows)
            if c >= k0 * n:
                sum_rows(rows, ring + (c % ring_rows) * L, T, alpha_n, bias)
            ahead += 1
        for c in range(c0, c1):
            scale_row = scale + c * rs if scale != NULL else ring + (c % ring_rows) * L
            term = terms + (c - c0) * L
            for t in range(T):
                term[t] = dy[c * rs + t] * y[c * rs + t] / scale_row[t]
        suffix_block(&terms_sweep, terms, L, suffix, k)
        for b in range(c0, min(block_steps(&terms_sweep, k), end)):
            c = window_step(&terms_sweep, b, terms + (min(b, C - 1) - c0) * L, suffix, prefix,
                            rows)
            if c < ops.lo:
                continue
            scale_row = scale + c * rs if scale != NULL else ring + (c % ring_rows) * L
            grad_row(rows, dy + c * rs, scale_row, x + c * rs, dx + c * rs, work, T, &co)


cdef bint fused_forward(const Operands* ops, const Plan* p, Py_ssize_t T,
                        float* buf) noexcept nogil:
    """The forward pass of a float or half tile in one pass per row
    (csrc/lrn_fused.h): channels-first in the scratch rows of
    :func:`block_rows`, channels-last in the padded rows ``squares`` and
    ``terms`` (consecutive) of :func:`position_forward`.  False where that
    build has no such pass (no AVX2; channels-last windows longer than
    LRN_DIRECT past the block sums, except those the AVX-512 build forms in
    registers from ``tile.levels`` levels of :func:`window_terms`' partial
    sums): the caller runs the row passes instead."""
    cdef lrn_cf_tile tile
    tile.x = ops.x
    tile.y = ops.out
    tile.scale = ops.scale_out
    tile.C = p.C
    tile.T = T
    tile.n = p.n
    tile.pre = p.pre
    tile.ring_rows = p.scratch.ring_rows
    tile.mul = <float>p.co.alpha_n
    tile.add = <float>p.co.bias
    tile.kind = p.co.kind
    tile.half = p.half
    tile.lo = ops.lo
    tile.hi = ops.hi
    if p.channels_last:
        tile.ring = buf + p.scratch.squares
        tile.prefix = buf + p.scratch.blocks if block_sums(p) else NULL
        tile.stride = p.C
        tile.L = p.scratch.M
        tile.levels = window_levels(p.n, lrn_cf_fused())
        return lrn_cl_forward(&tile)
    tile.ring = buf + p.scratch.suffix
    tile.prefix = buf + p.scratch.prefix
    tile.stride = ops.stride
    tile.L = p.L
    return lrn_cf_forward(&tile)


cdef bint fused_backward(const Operands* ops, const Plan* p, Py_ssize_t T,
                         float* buf) noexcept nogil:
    """The backward pass of a float or half tile (csrc/lrn_grad.h; see
    :func:`fused_grad`), in the rows of :func:`scratch_layout`'s fused
    layouts: channels-first in one loop per row, channels-last in two per
    position.  False where that build has no such pass: the caller runs
    :func:`backward_rows` or :func:`position_backward` instead."""
    cdef lrn_cf_grad g
    g.x = ops.x
    g.y = ops.y
    g.dy = ops.dy
    g.scale = ops.scale_in
    g.dx = ops.out
    g.squares = buf + p.scratch.squares
    g.terms = buf + p.scratch.terms
    g.powers = buf + p.scratch.ring
    g.C = p.C
    g.T = T
    g.n = p.n
    g.pre = p.pre
    g.R = min(p.n, p.C)
    g.mul = <float>p.co.alpha_n
    g.add = <float>p.co.bias
    g.coef = <float>p.co.grad_coef
    g.kind = p.co.kind
    g.half = p.half
    g.lo = ops.lo
    g.hi = ops.hi
    if p.channels_last:
        g.stride = p.C
        g.L = p.scratch.M
        return lrn_cl_backward(&g)
    g.stride = ops.stride
    g.L = p.L
    return lrn_cf_backward(&g)

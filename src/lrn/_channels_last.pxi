# Channels-last tiles (included by _kernels.pyx): the position window.
#
# A position is a contiguous row of C channels; a tile's T positions are done
# one at a time, each in L1, with no transposes.  The window runs over a copy
# of the row between zero pads (``squares``: x ** 2 at squares[pre + c];
# ``terms``, backward: the mirrored window's terms at terms[post + c]), so
# every window has n terms and none is clipped: direct sums of up to
# DIRECT_TERMS shifted rows, or sums of power-of-two partial sums along the
# binary digits of n, whose cost grows as log n.  In the AVX2 and AVX-512
# builds, float windows over DIRECT_TERMS of up to 128 channels are instead
# csrc/lrn_fused.h's block sums of eight positions at a time
# (:func:`block_sums`), the channels-first pass's sums; the backward pass's
# own window (its terms) keeps the partial sums.  Past 128 channels the
# AVX-512 build's forward pass forms :func:`window_terms`' partial sums in
# registers (csrc/lrn_fused.h's lrn_cl_levels), in the same order.


cdef enum:
    DIRECT_TERMS = 8  # windows of up to this many terms are summed directly
    WINDOW_ROWS = 6   # a longer window's rows, at most, where its levels allow
    MAX_TERMS = 64    # entries of a window's row list: log2(n) + 2 at most


cdef inline int window_rows(Py_ssize_t n, int levels) noexcept nogil:
    """The rows of a window of n terms on that many levels of partial sums:
    n >> levels sums of the top level, one row per binary digit 1 below it."""
    cdef int level, count = <int>(n >> levels)
    for level in range(levels):
        count += n >> level & 1
    return count


cdef inline int max_levels(Py_ssize_t n) noexcept nogil:
    """Levels of partial sums for n terms along its binary digits: none for
    a direct sum, else floor(log2(n)) (the most :func:`window_levels` takes)."""
    cdef int level = 0
    if n <= DIRECT_TERMS:
        return 0
    while (<Py_ssize_t>2 << level) <= n:
        level += 1
    return level


cdef inline int window_levels(Py_ssize_t n, bint rows_in_one_pass) noexcept nogil:
    """Levels of partial sums :func:`window_terms` builds for n terms.  Where
    the row passes add every row in one loop (float rows in the AVX2 builds,
    csrc/lrn_simd.h and lrn_fused.h), the fewest levels whose rows number at
    most WINDOW_ROWS: a level is a pass of its own over the padded row, a row
    one more load and addition in the loop of the power, which waits on its
    square roots (size 21: two levels and six rows rather than four and
    three took 0.91-0.93x the time of the forward pass at C = 256 and
    0.94-0.96x the backward pass's at C = 96, in cache).  Elsewhere each row
    is a pass too (float64: six rows and two levels took 1.02-1.04x the
    time), and the levels follow the binary digits of n."""
    cdef int level = 1
    if n <= DIRECT_TERMS or not rows_in_one_pass:
        return max_levels(n)
    while window_rows(n, level) > WINDOW_ROWS and (<Py_ssize_t>2 << level) <= n:
        level += 1
    return level


cdef inline void zero_pads(floating* padded_row, Py_ssize_t before, Py_ssize_t C,
                           Py_ssize_t M) noexcept nogil:
    """Zero the pads around the C channels at ``padded_row + before``; the
    channels are overwritten position by position, the pads never."""
    cdef Py_ssize_t c
    for c in range(M):
        if c < before or c >= before + C:
            padded_row[c] = 0


cdef void window_terms(const floating* q, Py_ssize_t n, floating* levels, Py_ssize_t M,
                       const floating** rows) noexcept nogil:
    """The rows whose sum, element c, is q[c] + ... + q[c + n - 1], for a
    padded row ``q`` of M terms; they go to ``rows``, NULL-terminated.

    Up to DIRECT_TERMS they are q shifted by 0, 1, ..., n - 1.  Longer
    windows take partial sums of 2^level terms, ``levels[level - 1][i] = q[i]
    + ... + q[i + 2^level - 1]`` (M each, built by doubling) on K =
    :func:`window_levels` levels: n >> K sums of the top level, then the
    binary digits of n below it, largest first; any order of adding terms
    >= 0 keeps the (n - 1)-ulp bound of design §2."""
    cdef int j = 0, level, K = window_levels(n, floating is float and lrn_cf_fused())
    cdef Py_ssize_t i, span, shift = 0
    cdef const floating* lo = q
    cdef floating* hi
    if K == 0:
        for i in range(n):
            rows[i] = q + i
        rows[n] = NULL
        return
    for level in range(K):
        span = <Py_ssize_t>1 << level
        hi = levels + level * M
        for i in range(M - span):
            hi[i] = lo[i] + lo[i + span]
        lo = hi
    for level in range(K, -1, -1):
        for i in range((n >> level) if level == K else (n >> level & 1)):
            rows[j] = (q if level == 0 else levels + (level - 1) * M) + shift
            j += 1
            shift += <Py_ssize_t>1 << level
    rows[j] = NULL


cdef inline bint block_sums(const Plan* p) noexcept nogil:
    """Whether the window sums of float positions are csrc/lrn_fused.h's
    ``lrn_cl_window_sums`` (the AVX2 and AVX-512 builds, windows over
    DIRECT_TERMS, up to 128 channels: ``lrn_cl_by_blocks``): the
    channels-first pass's block sums, whose cost does not grow with n, on
    eight positions at a time transposed into vectors along the positions.
    The forward pass and the backward pass's recomputed scale both take them,
    so that the two agree."""
    return (p.itemsize == sizeof(float) and p.n > DIRECT_TERMS and lrn_cf_fused()
            and lrn_cl_by_blocks(p.C))


cdef inline const floating** window_of(const floating* x, const Plan* p, Py_ssize_t pos,
                                       Py_ssize_t T, floating* buf,
                                       const floating** rows) noexcept nogil:
    """The rows whose sum is the window of position ``pos`` of a tile at x:
    its row of :func:`block_sums`' sums (made for eight positions at a time,
    at the first of them), or :func:`window_terms`' rows of its squares."""
    cdef Py_ssize_t c, C = p.C, off = pos * C
    cdef floating* squares = buf + p.scratch.squares
    cdef floating* sums = buf + p.scratch.blocks
    if floating is float and block_sums(p):
        if pos % 8 == 0:
            lrn_cl_window_sums(x + off, min(<Py_ssize_t>8, T - pos), C, p.n, p.pre, 0, sums,
                               sums)
        rows[0] = sums + pos % 8 * C
        rows[1] = NULL
        return rows
    for c in range(C):
        squares[p.pre + c] = x[off + c] * x[off + c]
    window_terms(squares, p.n, buf + p.scratch.levels, p.scratch.M, rows)
    return rows


cdef void position_forward(const Operands* ops, const Plan* p, Py_ssize_t T,
                           floating* buf) noexcept nogil:
    """The forward pass on T positions; ``y`` may be ``x``; ``scale`` may be
    NULL."""
    cdef const floating* x = <const floating*>ops.x
    cdef floating* y = <floating*>ops.out
    cdef floating* scale = <floating*>ops.scale_out
    cdef Py_ssize_t pos, off, C = p.C
    cdef Coefs co = p.co
    cdef floating* work = buf + p.scratch.work
    cdef const floating* rows[MAX_TERMS]
    zero_pads(buf + p.scratch.squares, p.pre, C, p.scratch.M)
    for pos in range(T):
        off = pos * C
        window_of(x, p, pos, T, buf, rows)
        sum_pow_row(rows, x + off, y + off, NULL if scale == NULL else scale + off, work, C,
                    &co)


cdef void position_backward(const Operands* ops, const Plan* p, Py_ssize_t T,
                            floating* buf) noexcept nogil:
    """The input gradient on T positions (see :func:`backward_rows`); ``dx``
    may be any input.  ``scale`` NULL recomputes each position's scale."""
    cdef const floating* x = <const floating*>ops.x
    cdef const floating* y = <const floating*>ops.y
    cdef const floating* dy = <const floating*>ops.dy
    cdef const floating* scale = <const floating*>ops.scale_in
    cdef floating* dx = <floating*>ops.out
    cdef Py_ssize_t pos, c, off, C = p.C, n = p.n, pre = p.pre, post = n - 1 - pre
    cdef Py_ssize_t M = p.scratch.M
    cdef Coefs co = p.co
    cdef floating alpha_n = <floating>co.alpha_n, bias = <floating>co.bias
    cdef floating* squares = buf + p.scratch.squares
    cdef floating* terms = buf + p.scratch.terms
    cdef floating* levels = buf + p.scratch.levels
    cdef floating* work = buf + p.scratch.work
    cdef floating* recomputed = buf + p.scratch.scale_row
    cdef const floating* scale_row
    cdef const floating* rows[MAX_TERMS]
    zero_pads(squares, pre, C, M)
    zero_pads(terms, post, C, M)
    for pos in range(T):
        off = pos * C
        if scale == NULL:
            window_of(x, p, pos, T, buf, rows)
            sum_rows(rows, recomputed, C, alpha_n, bias)
            scale_row = recomputed
        else:
            scale_row = scale + off
        for c in range(C):
            terms[post + c] = dy[off + c] * y[off + c] / scale_row[c]
        window_terms(terms, n, levels, M, rows)
        grad_row(rows, dy + off, scale_row, x + off, dx + off, work, C, &co)

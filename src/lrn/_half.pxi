# Half-precision tiles (included by _kernels.pyx).
#
# IEEE half data is computed in float and rounded once, with no array-sized
# temporaries: the channels-first forward pass widens x a block at a time and
# rounds each row of y (and scale) as soon as it is computed; the AVX2
# build's fused passes (csrc/lrn_fused.h, lrn_grad.h) convert each vector as
# they load and store it; every other pass widens the whole tile into float buffers, runs the float tile
# function on them in place and rounds back.  The conversions are in
# csrc/lrn_half.h.


cdef void half_block_rows(const Operands* ops, const Plan* p, Py_ssize_t T,
                          float* buf) noexcept nogil:
    """:func:`block_rows`' forward pass on half rows: block k of x is widened
    into float just before its suffix sums (two blocks kept, in turns, like
    the suffix sums), so the tile never exists as float; rows ops.lo ..
    ops.hi - 1 of y (:func:`part_blocks`)."""
    cdef const half_bits* x = <const half_bits*>ops.x
    cdef half_bits* y = <half_bits*>ops.out
    cdef half_bits* scale = <half_bits*>ops.scale_out
    cdef Py_ssize_t k, b, c, c0, c1, k0, end, C = p.C, n = p.n, L = p.L, rs = ops.stride
    cdef BlockWindow w = block_window(p, T, p.pre, True)
    cdef Coefs co = p.co
    cdef float* suffix = buf + p.scratch.suffix
    cdef float* prefix = buf + p.scratch.prefix
    cdef float* work = buf + p.scratch.work
    cdef float* x_rows = buf + p.scratch.x_rows
    cdef float* y_row = buf + p.scratch.y_row
    cdef float* scale_row = buf + p.scratch.scale_row
    cdef const float* rows[3]
    part_blocks(ops, &w, &k0, &end)
    for k in range(k0, (C - 1) // n + 1):
        c0 = k * n
        c1 = min(c0 + n, C)
        if c0 >= end:
            break
        for c in range(c0, c1):
            lrn_h2f_row(x + c * rs, suffix_row(x_rows, L, c, n), T)
        suffix_block(&w, suffix_row(x_rows, L, c0, n), L, suffix, k)
        for b in range(c0, min(block_steps(&w, k), end)):
            c = window_step(&w, b, suffix_row(x_rows, L, min(b, C - 1), n), suffix, prefix,
                            rows)
            if c < ops.lo:
                continue
            sum_pow_row(rows, suffix_row(x_rows, L, c, n), y_row,
                        NULL if scale == NULL else scale_row, work, T, &co)
            lrn_f2h_row(y_row, y + c * rs, T)
            if scale != NULL:
                lrn_f2h_row(scale_row, scale + c * rs, T)


cdef void widen(const half_bits* src, float* dst, const Plan* p, Py_ssize_t T) noexcept nogil:
    """dst = float(src) for a tile: T positions of C channels, contiguous when
    channels-last; otherwise C rows of T, at stride S in src and L in dst."""
    cdef Py_ssize_t c
    if p.channels_last:
        lrn_h2f_row(src, dst, p.C * T)
    else:
        for c in range(p.C):
            lrn_h2f_row(src + c * p.S, dst + c * p.L, T)


cdef void narrow(const float* src, half_bits* dst, const Plan* p, Py_ssize_t T) noexcept nogil:
    """The inverse of :func:`widen`, rounding to nearest even."""
    cdef Py_ssize_t c
    if p.channels_last:
        lrn_f2h_row(src, dst, p.C * T)
    else:
        for c in range(p.C):
            lrn_f2h_row(src + c * p.L, dst + c * p.S, T)


cdef void run_tile_half(const Operands* ops, const Plan* p, Py_ssize_t T,
                        float* buf) noexcept nogil:
    """One tile of half data: the AVX2 build's fused passes (which read and
    write half rows themselves), :func:`half_block_rows`, or the tile widened
    into the float buffers of ``widened`` (x, y, dy, scale), computed in
    place by :func:`run_tile` and rounded back."""
    cdef Py_ssize_t CL = p.C * p.L
    cdef float* x = buf + p.scratch.widened
    cdef float* y = x + CL
    cdef float* dy = y + CL
    cdef float* scale = dy + CL
    cdef Operands wide
    if p.op == FORWARD and fused_forward(ops, p, T, buf):
        return
    if p.op == BACKWARD and fused_grad(p) and fused_backward(ops, p, T, buf):
        return
    if not p.channels_last and p.op != BACKWARD:
        half_block_rows(ops, p, T, buf)
        return
    widen(<const half_bits*>ops.x, x, p, T)
    memset(&wide, 0, sizeof(wide))
    wide.x = x
    wide.out = x
    wide.stride = p.L
    wide.lo = ops.lo
    wide.hi = ops.hi
    if p.op == BACKWARD:
        widen(<const half_bits*>ops.y, y, p, T)
        widen(<const half_bits*>ops.dy, dy, p, T)
        wide.y = y
        wide.dy = dy
        if ops.scale_in != NULL:
            widen(<const half_bits*>ops.scale_in, scale, p, T)
            wide.scale_in = scale
    elif ops.scale_out != NULL:
        wide.scale_out = scale
    run_tile(&wide, p, T, buf)
    if ops.scale_out != NULL:
        narrow(scale, <half_bits*>ops.scale_out, p, T)
    narrow(x, <half_bits*>ops.out, p, T)

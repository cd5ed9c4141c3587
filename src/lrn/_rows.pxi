# Row operations, shared by every pass (included by _kernels.pyx).
#
# A window sum reaches these functions as ``rows``, a NULL-terminated list of
# rows (suffix and prefix sums, shifted rows, partial sums) whose element-wise
# sum is the window sum; each pass builds it its own way.  What follows the
# sum is the same everywhere: the affine map to the scale, the power, and the
# backward pass's last step.  Float rows (and double rows' powers 0.75 and
# 0.5) go to the AVX2 versions in csrc/lrn_simd.h (the forward row,
# lrn_sum_pow_row: csrc/lrn_fused.h) where the build has them; the loops here
# are the portable form and the rest of the double one.


cdef void pow_row(floating* out, const floating* x, const floating* s, Py_ssize_t length,
                  const Coefs* co) noexcept nogil:
    """``out = x * s ** -beta`` on a row, with IEEE special values (s = 0 -> inf,
    inf -> 0, < 0 -> NaN).  One loop per kind so each vectorises; 0.75 goes
    through ``r = 1/sqrt(s)`` because ``s * sqrt(s)`` overflows for large s.
    Any other beta is ``pow`` in double for float rows too, rounded once (in
    the AVX2 build, four lanes at a time to the same float but in the rarest
    near-ties): beta is used as given, so float data keeps float64's special
    cases (a negative s with a non-integer beta is NaN; beta = 1e-300 is not
    0), and ``lrn_scaled_pow`` keeps a representable result from an
    overflowing or underflowing power (x = 0, bias 1e-110, beta 3 is 0)."""
    cdef Py_ssize_t t
    cdef floating r
    cdef double beta = co.beta
    cdef BetaKind kind = co.kind
    if floating is float:
        if kind == BETA_075:
            for t in range(length):
                r = <float>1 / sqrtf(s[t])
                out[t] = x[t] * (r * sqrtf(r))
        elif kind == BETA_05:
            for t in range(length):
                out[t] = x[t] / sqrtf(s[t])
        elif kind == BETA_1:
            for t in range(length):
                out[t] = x[t] / s[t]
        elif not lrn_pow_any_row(out, x, s, length, -beta):
            for t in range(length):
                out[t] = <float>lrn_scaled_pow(x[t], s[t], -beta)
    else:
        if (kind == BETA_075 or kind == BETA_05) and lrn_pow_row_d(out, x, s, length,
                                                                   kind == BETA_075):
            return
        if kind == BETA_075:
            for t in range(length):
                r = 1 / sqrt(s[t])
                out[t] = x[t] * (r * sqrt(r))
        elif kind == BETA_05:
            for t in range(length):
                out[t] = x[t] / sqrt(s[t])
        elif kind == BETA_1:
            for t in range(length):
                out[t] = x[t] / s[t]
        else:
            for t in range(length):
                out[t] = lrn_scaled_pow(x[t], s[t], -beta)


cdef void sum_rows(const floating* const* rows, floating* out, Py_ssize_t length,
                   floating mul, floating add) noexcept nogil:
    """``out = add + mul * (window sum)``, the rows added in list order."""
    cdef Py_ssize_t t
    cdef int j = 1
    if floating is float:
        if lrn_sum_rows(rows, out, length, mul, add):
            return
    for t in range(length):
        out[t] = rows[0][t]
    while rows[j] != NULL:
        for t in range(length):
            out[t] += rows[j][t]
        j += 1
    for t in range(length):
        out[t] = add + mul * out[t]


cdef void sum_pow_row(const floating* const* rows, const floating* x, floating* y,
                      floating* scale, floating* work, Py_ssize_t length,
                      const Coefs* co) noexcept nogil:
    """scale = bias + alpha_n * (window sum) and y = x * scale ** -beta on a row;
    ``scale`` NULL keeps it in ``work`` (one row) only; ``y`` may be ``x``.
    In one pass for float and beta 0.75 or 0.5 in the AVX2 build."""
    cdef Py_ssize_t t
    cdef floating mul = <floating>co.alpha_n, add = <floating>co.bias
    if floating is float:
        if (co.kind == BETA_075 or co.kind == BETA_05) and lrn_sum_pow_row(
                rows, x, y, scale, length, mul, add, co.kind == BETA_075):
            return
    sum_rows(rows, work, length, mul, add)
    if scale != NULL:
        for t in range(length):
            scale[t] = work[t]
    pow_row(y, x, work, length, co)


cdef void grad_row(const floating* const* rows, const floating* dy, const floating* s,
                   const floating* x, floating* dx, floating* work, Py_ssize_t length,
                   const Coefs* co) noexcept nogil:
    """dx = dy * s ** -beta - grad_coef * x * (window sum) on a row; ``work`` is
    two rows of ``padded(length)``; ``dx`` may be any of dy, s, x.  In one
    pass for float and beta 0.75 or 0.5 in the AVX2 build."""
    cdef Py_ssize_t t
    cdef floating coef = <floating>co.grad_coef
    cdef floating* window = work
    cdef floating* power = work + padded(length)
    if floating is float:
        if (co.kind == BETA_075 or co.kind == BETA_05) and lrn_grad_row(
                rows, dy, s, x, dx, length, coef, co.kind == BETA_075):
            return
    sum_rows(rows, window, length, 1, 0)
    pow_row(power, dy, s, length, co)
    for t in range(length):
        dx[t] = power[t] - coef * x[t] * window[t]

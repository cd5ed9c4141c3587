# Within-channel LRN (design §1; included by _kernels.pyx).
#
# The box sum of a d-dimensional window is d one-dimensional window sums,
# one per spatial axis (``box_sums``, the channels-first sweep of
# _channels_first.pxi run in place), so ``lrn._cpu`` chains these passes
# over whole arrays: square, box sums, within_finish forward; grad_terms,
# box sums, grad_finish backward (affine recomputing the scale).  The
# element-wise ones run chunks of CHUNK elements through the same row
# functions as the across-channel passes.


cdef enum:
    CHUNK = 1024  # elements per step of the element-wise passes


def box_sums(floating[:, :, ::1] a, Py_ssize_t n, Py_ssize_t pre, int num_threads):
    """In place, window sums along axis 1 of ``a`` viewed as (outer, length, inner):
    ``a[o, l, i] <- sum of a[o, l', i] for l - pre <= l' <= l + n - 1 - pre``;
    the window clipped to the axis as for :func:`forward`."""
    cdef Problem problem
    cdef Operands ops
    memset(&problem, 0, sizeof(problem))
    problem.n = n
    problem.pre = pre
    cdef Plan plan = make_plan(&problem, BOX_SUMS, a.shape, sizeof(floating))
    memset(&ops, 0, sizeof(ops))
    ops.x = &a[0, 0, 0]
    ops.out = &a[0, 0, 0]
    ops.stride = plan.S
    run(&ops, &plan, num_threads)


def square(const floating[::1] x, floating[::1] out, int num_threads):
    """out = x * x."""
    cdef Py_ssize_t i, size = x.shape[0]
    num_threads = team_size(size, size, num_threads)
    for i in prange(size, nogil=True, schedule="static", num_threads=num_threads):
        out[i] = x[i] * x[i]


def within_finish(const floating[::1] x, const floating[::1] acc, floating[::1] y, scale,
                  Problem p):
    """s = bias + alpha_n * acc; y = x * s ** -beta; scale = s unless None.
    ``acc`` may be the buffer of ``y`` or ``scale``: each element of it is
    read before that element is written (:func:`sum_pow_row`)."""
    cdef floating[::1] sv
    cdef floating* sp = NULL
    if scale is not None:
        sv = scale
        sp = &sv[0]
    cdef Py_ssize_t size = x.shape[0], chunks = (size + CHUNK - 1) // CHUNK
    cdef Py_ssize_t chunk, i0
    cdef Coefs co = make_coefs(&p, sizeof(floating) == sizeof(float))
    if size == 0:
        return
    cdef int num_threads = team_size(size, chunks, p.num_threads)
    cdef floating* work = <floating*>tile_buffers(CHUNK, num_threads, sizeof(floating))
    with nogil, parallel(num_threads=num_threads):
        for chunk in prange(chunks, schedule="static"):
            i0 = chunk * CHUNK
            finish_chunk(&x[i0], &acc[i0], &y[i0], NULL if sp == NULL else sp + i0,
                         work + threadid() * CHUNK, min(<Py_ssize_t>CHUNK, size - i0), &co)
    lrn_free64(work)


cdef void finish_chunk(const floating* x, const floating* acc, floating* y, floating* scale,
                       floating* work, Py_ssize_t length, const Coefs* co) noexcept nogil:
    """:func:`within_finish` on one chunk, whose window sum is ``acc`` alone
    (the row list is local, so each thread has its own)."""
    cdef const floating* rows[2]
    rows[0] = acc
    rows[1] = NULL
    sum_pow_row(rows, x, y, scale, work, length, co)


def affine(floating[::1] a, Problem p):
    """In place, a = bias + alpha_n * a (window sums of squares -> scale)."""
    cdef Py_ssize_t i, size = a.shape[0]
    cdef Coefs co = make_coefs(&p, sizeof(floating) == sizeof(float))
    cdef floating mul = <floating>co.alpha_n, add = <floating>co.bias
    cdef int num_threads = team_size(size, size, p.num_threads)
    for i in prange(size, nogil=True, schedule="static", num_threads=num_threads):
        a[i] = add + mul * a[i]


def grad_terms(const floating[::1] dy, const floating[::1] y, const floating[::1] s,
               floating[::1] terms, int num_threads):
    """terms = dy * y / s: what each window passes back to the elements in it."""
    cdef Py_ssize_t i, size = dy.shape[0]
    num_threads = team_size(size, size, num_threads)
    for i in prange(size, nogil=True, schedule="static", num_threads=num_threads):
        terms[i] = dy[i] * y[i] / s[i]


def grad_finish(const floating[::1] x, const floating[::1] dy, const floating[::1] s,
                floating[::1] terms, Problem p):
    """In place, terms = dy * s ** -beta - grad_coef * x * terms (``terms``:
    their mirrored window sums)."""
    cdef Py_ssize_t size = x.shape[0], chunks = (size + CHUNK - 1) // CHUNK
    cdef Py_ssize_t chunk, i0
    cdef Coefs co = make_coefs(&p, sizeof(floating) == sizeof(float))
    if size == 0:
        return
    cdef int num_threads = team_size(size, chunks, p.num_threads)
    cdef floating* work = <floating*>tile_buffers(2 * CHUNK, num_threads, sizeof(floating))
    with nogil, parallel(num_threads=num_threads):
        for chunk in prange(chunks, schedule="static"):
            i0 = chunk * CHUNK
            grad_chunk(&x[i0], &dy[i0], &s[i0], &terms[i0], work + threadid() * 2 * CHUNK,
                       min(<Py_ssize_t>CHUNK, size - i0), &co)
    lrn_free64(work)


cdef void grad_chunk(const floating* x, const floating* dy, const floating* s,
                     floating* terms, floating* work, Py_ssize_t length,
                     const Coefs* co) noexcept nogil:
    """:func:`grad_finish` on one chunk, whose window sum is ``terms`` alone
    (the row list is local, so each thread has its own)."""
    cdef const floating* rows[2]
    rows[0] = terms
    rows[1] = NULL
    grad_row(rows, dy, s, x, terms, work, length, co)

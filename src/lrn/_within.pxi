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


cdef enum Elementwise:
    SQUARE          # out = a * a
    AFFINE          # out = bias + alpha_n * out (window sums of squares -> scale)
    GRAD_TERMS      # out = a * b / c (dy * y / s)
    WITHIN_FINISH   # out = a * (bias + alpha_n * b) ** -beta, c = the scale unless NULL
    GRAD_FINISH     # out = b * c ** -beta - grad_coef * a * out (x, dy, s; out: the sums)


cdef struct ElementPass:
    # One element-wise pass over ``size`` elements, in chunks of CHUNK (the
    # jobs lrn_pool_run hands out), with CHUNK * ``rows`` scratch elements
    # per thread.
    Elementwise op
    const void* a
    const void* b
    void* c
    void* out
    Py_ssize_t size
    Coefs co
    char* work
    Py_ssize_t per_thread


cdef void element_chunk(const ElementPass* e, Py_ssize_t chunk, int slot,
                        floating* typed) noexcept nogil:
    """Chunk ``chunk`` of the pass ``e`` (``typed`` only names the type)."""
    cdef Py_ssize_t i0 = chunk * CHUNK, i
    cdef Py_ssize_t length = min(<Py_ssize_t>CHUNK, e.size - i0)
    cdef const floating* a = NULL if e.a == NULL else <const floating*>e.a + i0
    cdef const floating* b = NULL if e.b == NULL else <const floating*>e.b + i0
    cdef floating* c = NULL if e.c == NULL else <floating*>e.c + i0
    cdef floating* out = <floating*>e.out + i0
    cdef floating* work = <floating*>(e.work + slot * e.per_thread)
    cdef floating mul = <floating>e.co.alpha_n, add = <floating>e.co.bias
    cdef const floating* rows[2]
    if e.op == SQUARE:
        for i in range(length):
            out[i] = a[i] * a[i]
    elif e.op == AFFINE:
        # the forward pass's own formula for the scale (sum_rows: an FMA in the AVX2
        # build), so that a recomputed scale equals the one the forward pass returned
        rows[0] = out
        rows[1] = NULL
        sum_rows(rows, out, length, mul, add)
    elif e.op == GRAD_TERMS:
        for i in range(length):
            out[i] = a[i] * b[i] / c[i]
    elif e.op == WITHIN_FINISH:
        # the window sum is ``b`` alone (the row list is local: each thread has its own)
        rows[0] = b
        rows[1] = NULL
        sum_pow_row(rows, a, out, c, work, length, &e.co)
    else:
        rows[0] = out
        rows[1] = NULL
        grad_row(rows, b, c, a, out, work, length, &e.co)


cdef void element_job_float(Py_ssize_t job, int slot, void* ctx) noexcept nogil:
    element_chunk(<ElementPass*>ctx, job, slot, <float*>NULL)


cdef void element_job_double(Py_ssize_t job, int slot, void* ctx) noexcept nogil:
    element_chunk(<ElementPass*>ctx, job, slot, <double*>NULL)


cdef ElementPass element_args(Elementwise op, const void* a, const void* b, void* c,
                              void* out, Py_ssize_t size) noexcept nogil:
    cdef ElementPass e
    e.op = op
    e.a = a
    e.b = b
    e.c = c
    e.out = out
    e.size = size
    return e


cdef int element_pass(ElementPass* e, const Problem* p, bint single,
                      int num_threads) except -1:
    """Runs the element-wise pass ``e`` of float (``single``) or double data on lrn's
    threads (csrc/lrn_pool.h)."""
    cdef Py_ssize_t chunks = (e.size + CHUNK - 1) // CHUNK
    cdef size_t item = sizeof(float) if single else sizeof(double)
    cdef int rows = 2 if e.op == GRAD_FINISH else 1
    if e.size == 0:
        return 0
    e.co = make_coefs(p, single)
    e.per_thread = rows * CHUNK * item
    num_threads = team_size(e.size, chunks, num_threads)
    e.work = <char*>tile_buffers(rows * CHUNK, num_threads, item)
    with nogil:
        lrn_pool_run(element_job_float if single else element_job_double, e, chunks,
                     num_threads)
    lrn_free64(e.work)
    return 0


def square(const floating[::1] x, floating[::1] out, int num_threads):
    """out = x * x."""
    cdef Problem p
    cdef ElementPass e
    memset(&p, 0, sizeof(p))
    if x.shape[0]:
        e = element_args(SQUARE, &x[0], NULL, NULL, &out[0], x.shape[0])
        element_pass(&e, &p, floating is float, num_threads)


def within_finish(const floating[::1] x, const floating[::1] acc, floating[::1] y, scale,
                  Problem p):
    """s = bias + alpha_n * acc; y = x * s ** -beta; scale = s unless None.
    ``acc`` may be the buffer of ``y`` or ``scale``: each element of it is
    read before that element is written (:func:`sum_pow_row`)."""
    cdef floating[::1] sv
    cdef floating* sp = NULL
    cdef ElementPass e
    if scale is not None:
        sv = scale
        sp = &sv[0]
    if x.shape[0]:
        e = element_args(WITHIN_FINISH, &x[0], &acc[0], sp, &y[0], x.shape[0])
        element_pass(&e, &p, floating is float, p.num_threads)


def affine(floating[::1] a, Problem p):
    """In place, a = bias + alpha_n * a (window sums of squares -> scale)."""
    cdef ElementPass e
    if a.shape[0]:
        e = element_args(AFFINE, NULL, NULL, NULL, &a[0], a.shape[0])
        element_pass(&e, &p, floating is float, p.num_threads)


def grad_terms(const floating[::1] dy, const floating[::1] y, const floating[::1] s,
               floating[::1] terms, int num_threads):
    """terms = dy * y / s: what each window passes back to the elements in it."""
    cdef Problem p
    cdef ElementPass e
    memset(&p, 0, sizeof(p))
    if dy.shape[0]:
        e = element_args(GRAD_TERMS, &dy[0], &y[0], <void*>&s[0], &terms[0], dy.shape[0])
        element_pass(&e, &p, floating is float, num_threads)


def grad_finish(const floating[::1] x, const floating[::1] dy, const floating[::1] s,
                floating[::1] terms, Problem p):
    """In place, terms = dy * s ** -beta - grad_coef * x * terms (``terms``:
    their mirrored window sums)."""
    cdef ElementPass e
    if x.shape[0]:
        e = element_args(GRAD_FINISH, &x[0], &dy[0], <void*>&s[0], &terms[0], x.shape[0])
        element_pass(&e, &p, floating is float, p.num_threads)

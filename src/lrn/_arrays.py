"""LRN in whole-array operations of any array library: NumPy, CuPy or PyTorch.

The plain implementation for the places that need one: within-channel LRN
on the GPU, the float64 check of ``python -m lrn`` and the NumPy peer of the
benchmarks, and ``lrn.torch`` on devices the kernels do not cover.  It uses
only ``xp.zeros_like``, ``xp.sqrt``, slicing and arithmetic, which the three
libraries share.

Each window sum adds the shifted slices of its window, one per term (no
running sum), so it never subtracts: exact to ``(n - 1)`` ulp and a NaN or inf
reaches only the windows that contain it, at ``n`` additions per element and
axis.  Arrays come in the dtype to compute in.
"""


def window_sum(xp, v, axis, before, after):
    """``out[i] = v[i - before] + ... + v[i + after]`` along ``axis``, zero padded."""
    length = v.shape[axis]
    out = xp.zeros_like(v)

    def at(lo, hi):
        return (slice(None),) * axis + (slice(lo, hi),)

    for d in range(-min(before, length), min(after, length) + 1):
        lo, hi = max(0, -d), min(length, length - d)
        out[at(lo, hi)] += v[at(lo + d, hi + d)]
    return out


def box_sum(xp, v, problem, mirrored=False):
    """The window sum along every window axis of ``problem`` (separable)."""
    before, after = problem.reach(mirrored)
    for axis in problem.window_axes(v.ndim):
        v = window_sum(xp, v, axis, before, after)
    return v


def inv_pow(xp, s, beta):
    """``s ** -beta``, with the exact cheap forms of design §2."""
    if beta == 0.75:
        r = 1 / xp.sqrt(s)
        return r * xp.sqrt(r)   # not 1/sqrt(s*sqrt(s)): s*sqrt(s) overflows
    if beta == 0.5:
        return 1 / xp.sqrt(s)
    if beta == 1.0:
        return 1 / s
    return s ** -beta


def forward(xp, x, problem):
    """``(y, scale)`` of ``x`` for a :class:`lrn._params.Problem`."""
    p = problem
    scale = p.bias + p.alpha_n * box_sum(xp, x * x, p)
    return x * inv_pow(xp, scale, p.beta), scale


def backward(xp, x, y, dy, scale, problem):
    """``dx``; ``scale`` None recomputes it.  The sums of ``dy * y / scale`` run
    over the mirrored window ``[c - post, c + pre]``."""
    p = problem
    if scale is None:
        scale = forward(xp, x, p)[1]
    t = box_sum(xp, dy * y / scale, p, mirrored=True)
    return dy * inv_pow(xp, scale, p.beta) - p.grad_coef * x * t

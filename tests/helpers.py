"""Shared helpers for the lrn test suite: seeds, data, poisoned outputs, tolerances."""
import zlib

import numpy as np

from .reference import make_shape, ref_backward, ref_forward  # noqa: F401

DTYPES = (np.float16, np.float32, np.float64)
BETAS = (0.75, 0.5, 1.0, 0.6, 2.0)      # 0.75 / 0.5 / 1 are special-cased in kernels
BIASES = (1.0, 2.0, 0.5)

# Per-element relative tolerances (design.md section 2).
FWD_RTOL = {np.float64: 1e-11, np.float32: 3e-6, np.float16: 2e-3}
BWD_RTOL = {np.float64: 1e-11, np.float32: 3e-5, np.float16: 3e-3}
# Absolute floor only for float16 (subnormal spacing 2**-24); none elsewhere.
ATOL = {np.float64: 0.0, np.float32: 0.0, np.float16: 2.0 ** -23}

try:  # ml_dtypes' bfloat16 (computed in float32, stored with 8 significant bits)
    import ml_dtypes
    BF16 = np.dtype(ml_dtypes.bfloat16).type
    FWD_RTOL[BF16], BWD_RTOL[BF16], ATOL[BF16] = 2.0 ** -8, 2.0 ** -6, 0.0
except ImportError:  # pragma: no cover - ml_dtypes is in the test extra
    BF16 = None

# Relative spacing (machine epsilon) of each storage dtype.
STORAGE_EPS = {np.float64: 2.0 ** -52, np.float32: 2.0 ** -23, np.float16: 2.0 ** -10}
if BF16 is not None:
    STORAGE_EPS[BF16] = 2.0 ** -7


def rtol_of(dtype, direction):
    """The per-element relative tolerance of a forward or backward result."""
    return (FWD_RTOL if direction == "forward" else BWD_RTOL)[np.dtype(dtype).type]


def assert_close_elementwise(actual, expected, rtol, atol, what):
    """``|actual - expected| <= rtol * |expected| + atol`` per element (``rtol`` may
    be an array), with NaN exactly where the reference is NaN and infinities equal."""
    a = np.asarray(actual).astype(np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert a.shape == expected.shape, f"{what}: shape {a.shape} != {expected.shape}"
    with np.errstate(invalid="ignore", over="ignore"):
        err = np.abs(a - expected)
        ok = (err <= rtol * np.abs(expected) + atol) | (a == expected) | \
            (np.isnan(a) & np.isnan(expected))
    if not ok.all():
        idx = np.argwhere(~ok)[:5]
        detail = ", ".join(f"{tuple(int(i) for i in j)}: got {a[tuple(j)]!r} want "
                           f"{expected[tuple(j)]!r}" for j in idx)
        raise AssertionError(f"{what}: {(~ok).sum()} of {ok.size} elements out of tolerance; "
                             f"{detail}")


def seed_of(*parts):
    """Deterministic per-test seed derived from the test's parameters."""
    return zlib.crc32(repr(parts).encode())


def rng_for(*parts):
    return np.random.default_rng(seed_of(*parts))


def poisoned(shape, dtype):
    """An output buffer full of NaN: any element the call does not write stays NaN."""
    return np.full(shape, np.nan, dtype=dtype)


def random_params(rng, *, beta=None, bias=None):
    """alpha large enough that scale really differs from bias (exercises pow)."""
    alpha = float(rng.uniform(0.2, 3.0))
    if beta is None:
        beta = float(rng.choice(BETAS))
    if bias is None:
        bias = float(rng.choice(BIASES))
    return alpha, beta, bias


def random_x(rng, shape, dtype, scale=1.5):
    x = rng.standard_normal(shape) * scale
    return x.astype(dtype)


def _key(dtype):
    return np.dtype(dtype).type


def assert_fwd_close(actual, expected, dtype, what="y"):
    """Per-element relative check of a forward result (y or scale) vs float64 ref."""
    dtype = _key(dtype)
    actual = np.asarray(actual)
    assert actual.dtype == np.dtype(dtype), f"{what}: dtype {actual.dtype} != {np.dtype(dtype)}"
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    a = actual.astype(np.float64)
    assert not np.isnan(a).any() or np.isnan(expected).any(), f"{what}: NaN in result"
    np.testing.assert_allclose(a, expected, rtol=FWD_RTOL[dtype], atol=ATOL[dtype],
                               err_msg=f"{what} ({np.dtype(dtype).name})")


def assert_bwd_close(actual, expected, magnitude, dtype, rtol=None):
    """|dx - ref| <= rtol * (|diag term| + sum |window terms|) per element.

    Backward has inherent cancellation (dx is a difference of two terms), so the
    error is measured against the magnitude of the terms, not of their difference.
    """
    dtype = _key(dtype)
    actual = np.asarray(actual)
    assert actual.dtype == np.dtype(dtype), f"dx: dtype {actual.dtype} != {np.dtype(dtype)}"
    assert actual.shape == expected.shape
    rtol = BWD_RTOL[dtype] if rtol is None else rtol
    a = actual.astype(np.float64)
    assert np.isfinite(a).all() or not np.isfinite(expected).all(), "dx: non-finite values"
    err = np.abs(a - expected)
    bound = rtol * (magnitude + np.abs(expected)) + ATOL[dtype]
    bad = ~(err <= bound)
    if bad.any():
        idx = np.argwhere(bad)[:5]
        detail = ", ".join(
            f"{tuple(int(i) for i in j)}: got {a[tuple(j)]!r} want {expected[tuple(j)]!r}"
            for j in idx)
        raise AssertionError(
            f"dx ({np.dtype(dtype).name}): {bad.sum()} of {bad.size} elements out of "
            f"tolerance; max err/bound {np.nanmax(err / np.maximum(bound, 1e-300)):.3g}; {detail}")


__all__ = [
    "BF16", "STORAGE_EPS", "rtol_of", "assert_close_elementwise",
    "DTYPES", "BETAS", "BIASES", "FWD_RTOL", "BWD_RTOL", "ATOL", "seed_of", "rng_for",
    "poisoned", "random_params", "random_x", "assert_fwd_close", "assert_bwd_close",
    "make_shape", "ref_forward", "ref_backward", "SIZES", "resolve_size", "shape_id",
    "dtype_id", "fd_gradient",
]



SIZES = (1, 2, 3, 4, 5, 7, 11, "gtC")     # "gtC": a window larger than the channel count


def resolve_size(size, C):
    return C + 3 if size == "gtC" else size


def shape_id(spec):
    n, c, spatial = spec
    return f"N{n}C{c}S{'x'.join(map(str, spatial)) or '-'}"


def dtype_id(dtype):
    return np.dtype(dtype).name


def fd_gradient(f, x, dy, h=1e-5):
    """Central finite differences of L(x) = sum(f(x) * dy) w.r.t. every element of x."""
    x = np.array(x, dtype=np.float64)
    g = np.empty_like(x)
    flat = x.reshape(-1)
    gf = g.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        step = h * max(1.0, abs(old))
        flat[i] = old + step
        lp = np.sum(f(x) * dy)
        flat[i] = old - step
        lm = np.sum(f(x) * dy)
        flat[i] = old
        gf[i] = (lp - lm) / (2 * step)
    return g


CROSS_SHAPES = [(2, 13, (3, 4)), (3, 7, (5, 11))]
SWEEP_SHAPES = [
    (4, 9, ()),             # 2-D (N, C)
    (2, 8, (5,)),           # 3-D
    (2, 6, (3, 4)),         # 4-D
    (2, 5, (2, 3, 2)),      # 5-D
    (1, 4, (2, 2, 2, 2)),   # 6-D
    (3, 1, (4, 4)),         # C = 1
    (1, 12, (3, 3)),        # N = 1
    (3, 7, (5, 11)),        # prime sizes
    (5, 3, (1, 1)),         # singleton spatial
]

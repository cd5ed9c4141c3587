"""Property-based tests (hypothesis) of the parameter contract of every entry point.

Each example draws every argument of one call -- mostly valid values, sometimes
wild ones: huge and numpy integers, bools, floats and strings for ``size``;
huge, tiny, negative, infinite and NaN floats, big ints, numpy scalars and
strings for alpha/beta/bias; bad layout/convention/region strings; extreme
thread counts; dtypes from float16 to complex; shapes of 0 to 5 dimensions with
zero-size axes and C = 1; non-contiguous views; and ``out`` buffers of the right
or wrong shape/dtype, read-only, aliasing ``x`` exactly or partly -- and tags
each argument valid or not from the documented contract alone.  Then:

(a) the call returns or raises TypeError/ValueError (nothing else), and a raised
    message names an argument that was drawn invalid (or whose coefficient is at
    the edge of the compute precision);
(b) when it raises, every output buffer (full of a sentinel) and every input is
    untouched;
(c) when it returns, the result has the input's shape and dtype and matches the
    float64 reference (tests/reference.py) within the tolerances of
    tests/helpers.py, widened by the conditioning of the problem (see
    ``Numbers``); it is never NaN/inf where the reference is finite and
    representable and the data's intermediate values fit the compute dtype.

Settings: CI runs a fixed (derandomized) set of examples per test; set
``LRN_FUZZ_EXAMPLES=20000`` for a long randomized run (a failure prints the
seed blob to reproduce it with ``@reproduce_failure``).
"""
import importlib.util
import math
import numbers
import operator
import os
import re
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, note, settings
from hypothesis import strategies as st

import lrn
import lrn.onnx  # noqa: F401 - lrn.onnx and lrn.ops: aliases of the lrn.interop modules
import lrn.ops  # noqa: F401

from .helpers import ATOL, BF16, STORAGE_EPS, assert_bwd_close, assert_close_elementwise, rtol_of
from .reference import ref_backward, ref_backward_within, ref_forward, ref_forward_within

# --------------------------------------------------------------------------- settings

# Examples of lrn.lrn and lrn.lrn_backward in CI (~5 s each here): with 300, mutants
# of the package that let num_threads past C int or float(10**400) raise
# OverflowError went unnoticed; with 600 each is caught.
MAIN = 600
HAVE_ONNX = importlib.util.find_spec("onnx") is not None
HAVE_DASK = importlib.util.find_spec("dask") is not None
LONG = int(os.environ.get("LRN_FUZZ_EXAMPLES", "0") or 0)


def fuzz_settings(examples):
    """CI: ``examples`` per test, derandomized (the same examples on every run).
    ``LRN_FUZZ_EXAMPLES=n``: n examples for the main tests (the adapters in
    proportion), randomized."""
    common = dict(deadline=None, database=None, print_blob=True,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                         HealthCheck.filter_too_much])
    if LONG:
        return settings(max_examples=max(10, LONG * examples // MAIN), derandomize=False,
                        **common)
    return settings(max_examples=examples, derandomize=True, **common)


# --------------------------------------------------------------------------- argument strategies

SENTINEL = 7
INT_MAX = 2**31 - 1
FLOATS = [np.float16, np.float32, np.float64] + ([BF16] if BF16 is not None else [])
OTHER_DTYPES = [np.int32, np.int64, np.uint8, np.bool_, np.complex64, np.complex128,
                np.longdouble]
LAYOUTS, CONVENTIONS, REGIONS = ("NCHW", "NHWC"), ("onnx", "torch"), ("across", "within")


def mostly(draw, good, wild, wild_in_10=2):
    """``good`` most of the time, else ``wild``; shrinks towards ``good``."""
    return draw(wild if draw(st.integers(0, 9)) >= 10 - wild_in_10 else good)


def size_ok(v):
    return (isinstance(v, numbers.Integral) and not isinstance(v, (bool, np.bool_))
            and operator.index(v) >= 1)


def real_ok(v):
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real):
        return False
    try:
        return math.isfinite(float(v))
    except OverflowError:
        return False


def threads_ok(v):
    return v is None or (isinstance(v, numbers.Integral) and not isinstance(v, (bool, np.bool_))
                         and 0 < abs(operator.index(v)) <= INT_MAX)


def flag_ok(v):
    return isinstance(v, (bool, np.bool_))


def choice_ok(valid):
    # a choice as written, in upper case or in lower case; not in mixed case
    return lambda v: isinstance(v, str) and any(v in (c, c.upper(), c.lower()) for c in valid)


GOOD_SIZES = st.integers(1, 7)
WILD_SIZES = st.one_of(
    st.integers(8, 40),
    st.sampled_from([2**31 - 1, 2**31, 2**32 + 1, 2**62, 2**63 - 1, 2**63, 2**64, 2**100]),
    st.integers(1, 9).map(np.int32), st.integers(1, 2**63 - 1).map(np.int64),
    st.integers(1, 2**64 - 1).map(np.uint64), st.integers(1, 200).map(np.uint8),
    st.integers(-2**70, 0),
    st.sampled_from([True, False, np.bool_(True), 3.0, 2.5, np.float64(3.0), "3", None, b"3",
                     3 + 0j, [3], Fraction(3)]),
)
WILD_REALS = st.one_of(
    st.floats(),
    st.sampled_from([0.0, -0.0, 5e-324, 1e-310, 1e-300, 1e-45, 1e-40, 1.17e-38, 1.2e-38, 3.4e38,
                     3.41e38, 1e39, 1e300, 1.7976931348623157e308, -1e-40, -1e39, 65504.0, 1e5]),
    st.integers(-10**6, 10**6),
    st.sampled_from([10**30, 10**308, 2 * 10**308, 10**400, -10**400]),
    st.floats(-10, 10, width=32).map(np.float32), st.floats(-10, 10).map(np.float64),
    st.floats(-10, 10, width=16).map(np.float16), st.integers(-10, 10).map(np.int64),
    st.sampled_from([np.float32("inf"), np.float16("nan"), np.longdouble("1e4000"),
                     np.float64("-inf"), np.float32(1e-42)]),
    st.sampled_from(["1", None, b"1", 1j, True, False, np.bool_(False), [1.0], Decimal("1"),
                     np.complex128(1), Fraction(1, 3)]),
)
GOOD_ALPHA = st.one_of(st.floats(0.01, 4.0), st.floats(-1.0, 0.0), st.just(1e-4))
GOOD_BETA = st.one_of(st.sampled_from([0.75, 0.5, 1.0, 2.0]), st.floats(-2.0, 4.0))
GOOD_BIAS = st.one_of(st.floats(0.25, 4.0), st.sampled_from([1.0, 2.0, 0.0]))
GOOD_THREADS = st.sampled_from([None, 1, 2, -1])
WILD_THREADS = st.one_of(
    st.sampled_from([0, INT_MAX, INT_MAX + 1, -INT_MAX, -INT_MAX - 1, 2**64, True, 1.0, "2",
                     np.int32(2), np.int64(-1), np.uint64(2**63), np.bool_(True)]),
    st.integers(-2**40, 2**40))


def wild_choice(valid):
    return st.sampled_from([v.lower() for v in valid] + [v.upper() for v in valid]
                           + [v.capitalize() for v in valid] + [v + " " for v in valid]
                           + ["", None, 1, b"NCHW", np.str_(valid[0]), valid[0].encode()])


class Call:
    """One drawn call: its arguments, which of them are invalid (``bad``) or at
    the edge of the contract (``maybe``), and the buffers that must stay
    untouched when it raises."""

    def __init__(self, draw):
        self.draw = draw
        # 4 calls in 10 draw only valid arguments and moderate data (the numbers
        # are compared there); 5 in 10 make one draw wild (the ``focus``-th: one
        # argument, the data's dtype, shape, layout or magnitude, ``out``...) and
        # keep the rest valid; 1 in 10 mixes wild values in anywhere
        mode = draw(st.integers(0, 9))
        self.mode = "clean" if mode < 4 else "focus" if mode < 9 else "chaos"
        self.focus = draw(st.integers(0, 24)) if self.mode == "focus" else -1
        self.site = 0
        self.bad, self.maybe = set(), set()
        self.kwargs = {}
        self.guarded = []         # (array, snapshot): unchanged if the call raises
        self.outside = []         # (buffer, view mask, snapshot): never written outside the view
        self.shown = {}

    def mostly(self, good, wild, wild_in_10=2):
        site, self.site = self.site, self.site + 1
        if self.mode == "focus":
            return self.draw(wild if site == self.focus else good)
        return mostly(self.draw, good, wild, 0 if self.mode == "clean" else wild_in_10)

    def arg(self, name, good, wild, ok, wild_in_10=2, key=None):
        value = self.mostly(good, wild, wild_in_10)
        if not ok(value):
            self.bad.add(name)
        self.kwargs[key or name] = value
        self.shown[key or name] = value
        return value

    def guard(self, a):
        if isinstance(a, np.ndarray):
            self.guarded.append((a, a.copy()))
        return a

    def __repr__(self):
        shown = ", ".join(f"{k}={_short(v)}" for k, v in self.shown.items())
        return (f"Call({shown}; bad={sorted(self.bad)}, maybe={sorted(self.maybe)}, "
                f"{self.mode}{self.focus if self.mode == 'focus' else ''})")


def _short(v):
    if isinstance(v, np.ndarray):
        flags = "C" if v.flags.c_contiguous else ("F" if v.flags.f_contiguous else "view")
        ro = "" if v.flags.writeable else ",ro"
        return f"ndarray{v.shape}:{v.dtype}:{flags}{ro}"
    if isinstance(v, (list, tuple)):
        return type(v).__name__ + "(" + ", ".join(_short(e) for e in v[:4]) + ")"
    if isinstance(v, memoryview):
        return f"memoryview{v.shape}"
    return f"{v!r}:{type(v).__name__}"


# --------------------------------------------------------------------------- arrays

def relayout(a, kind):
    """A new array holding the values of ``a``, in another memory layout (never
    sharing memory with ``a``: ascontiguousarray and asfortranarray return their
    argument when it already has the layout, e.g. with axes of length 1)."""
    a = a.copy()
    if a.ndim == 0 or kind == "c":
        return a
    if kind == "fortran":
        return np.asfortranarray(a)
    if kind == "reversed":
        flip = tuple(slice(None, None, -1) for _ in a.shape)
        return np.ascontiguousarray(a[flip])[flip]
    if kind == "transposed":
        perm = tuple(reversed(range(a.ndim)))
        return np.ascontiguousarray(a.transpose(perm)).transpose(np.argsort(perm))
    big = np.zeros(tuple(2 * d for d in a.shape), a.dtype)      # strided
    view = big[tuple(slice(None, None, 2) for _ in a.shape)]
    view[...] = a
    return view


def values(call, shape, dtype):
    """Data of ``dtype``: mostly normal values of a moderate magnitude, sometimes
    tiny or huge ones, zeros, a NaN or an infinity."""
    draw = call.draw
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if dtype == np.bool_:
        return np.asarray(rng.random(shape) < 0.5)
    if np.issubdtype(dtype, np.integer):
        return np.asarray(rng.integers(0 if dtype == np.uint8 else -3, 4, shape), dtype)
    if np.issubdtype(dtype, np.complexfloating):
        return np.asarray(rng.standard_normal(shape) + 1j * rng.standard_normal(shape), dtype)
    mag = call.mostly(st.sampled_from([1.0, 2.0, 0.5]),
                      st.sampled_from([1e-3, 1e3, 1e-8, 1e8, 1e-20, 1e18, 1e30, 0.0]))
    v = np.asarray(rng.standard_normal(shape) * mag)
    if draw(st.booleans()):
        v[rng.random(shape) < 0.3] = 0.0
    if v.size and call.mostly(st.just(False), st.just(True), 1):
        v.flat[rng.integers(v.size)] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    with np.errstate(over="ignore"):
        return v.astype(dtype)


def draw_x(call, min_ndim=0):
    """The logical x (an ndarray) and what is passed (a view, a memoryview, a list...)."""
    draw = call.draw
    dtype = call.mostly(st.sampled_from(FLOATS), st.sampled_from(OTHER_DTYPES), 1)
    ndim = call.mostly(st.integers(3, 4), st.sampled_from([0, 1, 2, 5]), 3)
    ndim = max(ndim, min_ndim)
    dim = st.integers(1, 4)
    shape = tuple(call.mostly(dim, st.sampled_from([0, 1, 5, 6, 9]), 2) for _ in range(ndim))
    arr = values(call, shape, dtype)
    # every memory layout is valid: drawn in every mode
    kind = draw(st.sampled_from(["c", "c", "c", "fortran", "reversed", "strided", "transposed"]))
    x = relayout(arr, kind)
    container = call.mostly(st.just("ndarray"),
                            st.sampled_from(["memoryview", "list", "scalar"]), 1)
    if container == "memoryview" and dtype in (np.float16, np.float32, np.float64):
        obj = memoryview(x)
    elif container == "list":
        obj = x.tolist()
    elif container == "scalar":
        obj = 1.5
    else:
        obj = x
    return seen(arr, x, obj), x, obj


def seen(arr, x, obj):
    """The array lrn sees when passed ``obj``: ``arr`` (the values of ``x``)
    for ``x`` or a view of it, else NumPy's reading of ``obj`` (a list of
    Python numbers, maybe with fewer axes); bool and integers promoted as
    ``np.sqrt`` promotes them (lrn._params.promoted_dtype)."""
    if obj is not x and not isinstance(obj, memoryview):
        arr = np.asarray(obj)
    if arr.dtype.kind in "biu":
        arr = arr.astype(np.sqrt(np.zeros(0, arr.dtype)).dtype)
    return arr


def viewed(obj, x, arr):
    """Whether lrn works on ``x``'s own memory (not a list's or a promoted copy)."""
    return obj is x and x.dtype == arr.dtype


def x_ok(arr, obj, region):
    """``arr`` is what lrn sees (a list read by NumPy, integers promoted)."""
    if np.dtype(arr.dtype).type not in FLOATS:
        return False
    return arr.ndim >= (3 if region == "within" else 2)


def fits(v, work):
    """'good', 'bad' or 'maybe' (within 1e-9 of a limit): ``v`` is 0 or a normal
    number of ``work`` (the contract for alpha/size, bias and the gradient
    coefficient)."""
    if v == 0:
        return "good"
    info = np.finfo(work)
    tiny, huge = Fraction(float(info.tiny)), Fraction(float(info.max))
    a, m = abs(v), Fraction(1, 10**9)
    if tiny * (1 + m) <= a <= huge * (1 - m):
        return "good"
    if a < tiny * (1 - m) or a > huge * (1 + m):
        return "bad"
    return "maybe"


class Params:
    """The valid parameters as the reference takes them."""

    def __init__(self, size, alpha, beta, bias, layout="NCHW", convention="onnx",
                 region="across"):
        self.size, self.alpha, self.beta, self.bias = operator.index(size), float(alpha), \
            float(beta), float(bias)
        # either case is valid (lrn._params.check_choice); the reference takes these
        self.layout, self.convention, self.within = str(layout).upper(), \
            str(convention).lower(), str(region).lower() == "within"

    def axes(self, ndim):
        return ndim - 2 if self.within else 1

    def alpha_n(self, ndim):
        return Fraction(self.alpha) / self.size ** self.axes(ndim)

    def window_count(self, shape):
        """Elements in a window clipped to the data (an upper bound)."""
        if not self.within:
            ch = 1 if self.layout == "NCHW" else len(shape) - 1
            return max(1, min(self.size, shape[ch]))
        spatial = shape[2:] if self.layout == "NCHW" else shape[1:-1]
        return max(1, math.prod(min(self.size, d) for d in spatial))

    def reference(self, x, dy=None):
        args = (self.size, self.alpha, self.beta, self.bias, self.layout, self.convention)
        if dy is None:
            return (ref_forward_within if self.within else ref_forward)(x, *args)
        return (ref_backward_within if self.within else ref_backward)(x, dy, *args,
                                                                       return_terms=True)


def classify_coefficients(call, p, dtype, ndim, backward):
    """Tag alpha/size**k, bias and 2*alpha*beta/size**k against the compute dtype."""
    work = np.float64 if dtype == np.float64 else np.float32
    alpha_n = p.alpha_n(ndim)
    verdicts = [(fits(alpha_n, work), ("alpha", "size")), (fits(Fraction(p.bias), work), ("bias",))]
    if backward:
        verdicts.append((fits(2 * alpha_n * Fraction(p.beta), work), ("alpha", "beta", "size")))
    for verdict, names in verdicts:
        if verdict == "bad":
            call.bad.add(names[0])
            call.maybe.update(names[1:])
        elif verdict == "maybe":
            call.maybe.update(names)


# --------------------------------------------------------------------------- outputs

def fresh(call, shape, dtype, kind="c"):
    """A sentinel-filled output; ``strided``: a view into a larger sentinel buffer,
    whose other elements must never be written."""
    if kind == "strided" and len(shape):
        big = np.full(tuple(2 * d for d in shape), SENTINEL, dtype)
        index = tuple(slice(None, None, 2) for _ in shape)
        mask = np.zeros(big.shape, bool)
        mask[index] = True
        call.outside.append((big, mask, big.copy()))
        out = big[index]
    else:
        out = np.full(shape, SENTINEL, dtype)
        if kind == "fortran":
            out = np.asfortranarray(out)
    return call.guard(out)


OUT_KINDS = ["none", "none", "none", "fresh", "strided", "fortran", "alias"]   # valid across
BAD_OUT_KINDS = ["wrong_shape", "wrong_dtype", "readonly", "alias_reversed", "overlap", "list"]


def draw_out(call, arr, x, within, aliases):
    """``out`` and whether it is valid.  ``aliases``: the input arrays (by name)
    that ``out`` may be exactly (across channels)."""
    draw = call.draw
    kind = call.mostly(st.sampled_from(OUT_KINDS), st.sampled_from(BAD_OUT_KINDS), 3)
    shape, dtype = arr.shape, arr.dtype
    if kind == "none":
        return None, True
    if kind in ("fresh", "strided", "fortran"):
        return fresh(call, shape, dtype, kind), True
    if kind == "wrong_shape":
        return fresh(call, shape[:-1] + (shape[-1] + 1,) if shape else (1,), dtype), False
    if kind == "wrong_dtype":
        return fresh(call, shape, np.float64 if dtype == np.float32 else np.float32), False
    if kind == "readonly":
        out = fresh(call, shape, dtype)
        out.flags.writeable = False
        return out, False
    if kind == "list":
        return np.full(shape, SENTINEL, dtype).tolist(), False
    if kind in ("alias", "alias_reversed"):
        names = [n for n, a in aliases.items() if isinstance(a, np.ndarray)]
        if not names:
            return fresh(call, shape, dtype), True
        target = aliases[draw(st.sampled_from(names))]
        long_axes = [i for i, d in enumerate(target.shape) if d > 1]
        if kind == "alias_reversed" and long_axes:
            index = [slice(None)] * target.ndim
            index[long_axes[0]] = slice(None, None, -1)
            return target[tuple(index)], target.size == 0     # no memory, no overlap
        return target, (not within) or target.size == 0
    return "overlap", False       # built with x (draw_overlap)


def draw_overlap(call, arr):
    """x and an out that partly overlaps it, in one buffer (needs 2+ elements)."""
    n = arr.size
    base = np.zeros(2 * n, arr.dtype)
    x = base[:n].reshape(arr.shape)
    x[...] = arr
    k = call.draw(st.integers(1, n - 1))
    call.guarded.append((base, base.copy()))
    return x, base[k:k + n].reshape(arr.shape)


# --------------------------------------------------------------------------- checks

def check_raised(call, exc):
    """(a) and (b) for a call that raised ``exc``."""
    assert isinstance(exc, (TypeError, ValueError)), \
        f"{type(exc).__name__} is neither TypeError nor ValueError: {exc!r}"
    message = str(exc)
    names = call.bad | call.maybe
    assert names, f"the call was valid but raised {type(exc).__name__}: {message}"
    named = [n for n in names if re.search(rf"(?<![\w]){re.escape(n)}(?![\w])", message,
                                           re.IGNORECASE)]
    assert named, f"the message names none of {sorted(names)}: {message}"
    check_untouched(call, "before the error was raised")


def check_untouched(call, when):
    for a, before in call.guarded:
        assert _same(a, before), f"an array of shape {a.shape} was written {when}"
    check_outside(call)


def check_outside(call):
    for big, mask, before in call.outside:
        assert _same(big[~mask], before[~mask]), "elements outside the `out` view were written"


def _same(a, b):
    """Bit for bit (NaN included, any dtype: bfloat16 has no NaN-aware equality)."""
    return a.shape == b.shape and a.tobytes() == b.tobytes()


def invoke(call, fn):
    """Run ``fn``; (a)/(b) if it raises; the result (None when it raised)."""
    note(repr(call))
    arr = getattr(call, "arr", None)
    if arr is not None and arr.size <= 24:
        note(f"x = {arr.tolist()!r}")
    try:
        result = fn()
    except Exception as exc:          # noqa: BLE001 - (a): anything else is a failure
        event(f"raised {type(exc).__name__}")
        check_raised(call, exc)
        return None
    event("returned")
    assert not call.bad, f"the call returned although {sorted(call.bad)} are invalid"
    check_outside(call)
    return result


def finfo(dtype):
    if dtype == BF16:
        import ml_dtypes
        return ml_dtypes.finfo(dtype)
    return np.finfo(dtype)


def _finite(a):
    a = np.asarray(a)
    return a[np.isfinite(a)]


def _finite_max(a):
    return float(np.max(_finite(a), initial=0.0))


class Numbers:
    """Whether, and how closely, a result can be compared with the float64
    reference: the data's intermediate values (x**2, the window sums, scale,
    scale**-beta, ...) must fit the compute dtype for the result to be finite
    where the reference is (``finite``); comfortably (2**24 away from the
    limits) for the per-dtype tolerances to hold, widened by the problem's
    condition: the cancellation in ``scale`` when alpha or bias is negative
    (``cond``), |beta * ln(scale)| (the exponent's sensitivity) and the window
    length (``rtol``)."""

    def __init__(self, p, x, dtype, y, s, dy=None, y_in=None, s_in=None, mag=None,
                 dx=None):
        dtype = np.dtype(dtype).type
        work = np.float64 if dtype == np.float64 else np.float32
        info, sinfo = np.finfo(work), finfo(dtype)
        x = np.asarray(x, dtype=np.float64)
        n = p.window_count(x.shape)
        alpha_n = float(p.alpha_n(x.ndim))
        beta = abs(p.beta)
        with np.errstate(all="ignore"):
            s_abs = np.abs(s)
            nz = s_abs != 0
            sp = np.where(nz, s_abs ** -p.beta, 0.0)
            terms = [x * x, abs(alpha_n) * x * x, np.abs(s - p.bias), s_abs, sp, np.abs(y)]
            uppers = [n * _finite_max(x * x)]
            if dy is not None:
                dy = np.asarray(dy, dtype=np.float64)
                t = np.where(nz, np.abs(dy * y / np.where(nz, s, 1.0)), 0.0)
                sp1 = np.where(nz, s_abs ** (-p.beta - 1), 0.0)
                terms += [sp1, t, np.abs(dy) * sp]
                big_t = n * _finite_max(t)
                uppers += [big_t, 2 * abs(alpha_n) * beta * _finite_max(np.abs(x)) * big_t]
                if mag is not None:
                    terms.append(mag)
        finite_data = np.isfinite(x).all() and (dy is None or np.isfinite(dy).all())

        def within_limits(margin):
            # over the finite values: a window holding a NaN or inf has a
            # non-finite reference, which the checks leave out
            limit = float(info.max) * margin
            return (all((_finite(a) <= limit).all() for a in terms)
                    and all(u <= limit for u in uppers))

        # y and scale handed to the backward pass: finite where the reference is
        inputs_ok = all(v is None or (np.isfinite(np.asarray(v, np.float64))
                                      | ~np.isfinite(ref)).all()
                        for v, ref in ((y_in, y), (s_in, s)))
        lower = (_finite(s_abs[nz]) >= float(info.tiny)).all()
        # the backward formula divides by scale (dy * y / scale): scale = 0
        # (bias 0 and x = 0) is 0/0 there, whatever the limit
        # nor is the gradient defined where scale < 0 makes y NaN (a non-integer
        # power): the reference's -beta - 1 may round to an integer and keep it finite
        self.finite = bool(inputs_ok and within_limits(1.0) and lower
                           and (dy is None or (nz.all() and not np.isinf(s).any()
                                               and not (np.isnan(y) & (s < 0)).any())))
        # an infinite scale (inf in x) is beyond every compute dtype; IEEE pow
        # makes (-inf) ** -0.75 = 0 in the reference where the kernels' exact
        # forms for beta 0.75 / 0.5 take a square root (NaN): left out
        self.mask = ~np.isinf(s)
        with np.errstate(all="ignore"):
            comfortable = [a[a != 0] for a in (x * x, s_abs, sp, np.abs(y))]
            small = abs(alpha_n) * x * x
            small = small[(small != 0) & (small < float(info.tiny) * 2**24)]
            cond = np.max(np.where(nz, (abs(p.bias) + np.abs(s - p.bias)) / np.where(nz, s_abs, 1), 0),
                          initial=1.0)
            ln_s = np.max(np.abs(np.log(s_abs[nz])), initial=0.0)
        self.close = bool(
            self.finite and finite_data and nz.all() and within_limits(2.0**-24)
            and all((a >= float(info.tiny) * 2**24).all() for a in comfortable)
            and (small.size == 0 or small.max() * n * 2**30 <= s_abs.min())
            and np.isfinite(cond) and cond < 1e6
            # stored results and inputs in the normal range of the storage dtype
            # (float16 results have an absolute floor, ATOL, instead)
            and all((np.abs(a)[a != 0] >= float(sinfo.tiny) * 2**10).all()
                    for a in ([y, s] if dy is not None or dtype != np.float16 else [])
                    + ([mag] if mag is not None and dtype != np.float16 else []))
            and (mag is None or (mag[mag != 0] >= float(info.tiny) * 2**24).all())
            and all((np.abs(a) <= float(sinfo.max) / 2).all()
                    for a in (y, s) + (() if dx is None else (dx,))))
        eps_w, eps_s = float(info.eps), STORAGE_EPS[dtype]
        self.dtype = dtype
        self.rtol_y = max(rtol_of(dtype, "forward"),
                          2 * (eps_w * ((n + 2) * beta * cond + beta * ln_s + 4) + eps_s))
        self.rtol_s = max(rtol_of(dtype, "forward"), 2 * (eps_w * ((n + 2) * cond + 2) + eps_s))
        self.rtol_dx = max(rtol_of(dtype, "backward"),
                           2 * (eps_w * ((n + 2) * (beta + 1) * cond + (beta + 1) * ln_s
                                         + 2 * n + 6) + eps_s * (beta + 3)))
        self.atol = ATOL[dtype]
        # The tolerances are first-order bounds (rounding times condition). Where they
        # are not small they bound nothing: (1 + d)**beta - 1 is not beta * d once
        # beta * d is large (a float32 scale of 1 + 4e-8 rounds to 1, so beta 1.7e10
        # leaves y = x where the exact y underflows to 0); such calls are only checked
        # finite where the reference is.
        self.close = self.close and max(self.rtol_y, self.rtol_s,
                                        self.rtol_dx if dy is not None else 0.0) <= 0.1
        self.max_s = float(sinfo.max)
        event("compared with the reference" if self.close else
              "checked finite where the reference is" if self.finite else
              "shape and dtype only (intermediates beyond the compute dtype)")

    def check_finite(self, result, ref, what):
        """Never NaN/inf where the reference is finite and representable."""
        r = np.asarray(result).astype(np.float64)
        where = np.isfinite(ref) & (np.abs(ref) <= self.max_s) & self.mask
        bad = where & ~np.isfinite(r)
        assert not bad.any(), (f"{what}: {bad.sum()} NaN/inf where the reference is finite, "
                               f"e.g. {r[bad][:3]} for {ref[bad][:3]}")


def check_forward_result(call, p, arr, res, nums, y_ref, s_ref, return_scale, out):
    y, s = res if return_scale else (res, None)
    for what, a in (("y", y), ("scale", s)):
        if a is None:
            continue
        assert isinstance(a, np.ndarray), f"{what} is a {type(a).__name__}"
        assert a.shape == arr.shape and a.dtype == arr.dtype, \
            f"{what}: {a.shape} {a.dtype} for x {arr.shape} {arr.dtype}"
    if out is not None:
        outs = out if isinstance(out, tuple) else (out, None)
        assert y is outs[0], "y is not `out`"
        if return_scale and outs[1] is not None:
            assert s is outs[1], "scale is not `out[1]`"
    if not nums.finite:
        return
    nums.check_finite(y, y_ref, "y")
    if s is not None:
        nums.check_finite(s, s_ref, "scale")
    if nums.close:
        assert_close_elementwise(y, y_ref, nums.rtol_y, nums.atol, "y")
        if s is not None:
            assert_close_elementwise(s, s_ref, nums.rtol_s, nums.atol, "scale")


# --------------------------------------------------------------------------- lrn.lrn

def draw_params(call, wild_in_10=2):
    size = call.arg("size", GOOD_SIZES, WILD_SIZES, size_ok, wild_in_10)
    alpha = call.arg("alpha", GOOD_ALPHA, WILD_REALS, real_ok, wild_in_10)
    beta = call.arg("beta", GOOD_BETA, WILD_REALS, real_ok, wild_in_10)
    bias = call.arg("bias", GOOD_BIAS, WILD_REALS, real_ok, wild_in_10)
    layout = call.arg("layout", st.sampled_from(LAYOUTS), wild_choice(LAYOUTS),
                      choice_ok(LAYOUTS), 1)
    convention = call.arg("convention", st.sampled_from(CONVENTIONS), wild_choice(CONVENTIONS),
                          choice_ok(CONVENTIONS), 1)
    region = call.arg("region", st.sampled_from(REGIONS), wild_choice(REGIONS),
                      choice_ok(REGIONS), 1)
    call.arg("num_threads", GOOD_THREADS, WILD_THREADS, threads_ok, 1)
    valid = not (call.bad & {"size", "alpha", "beta", "bias", "layout", "convention", "region"})
    p = Params(size, alpha, beta, bias, layout, convention, region) if valid else None
    return p, region


@st.composite
def forward_calls(draw):
    call = Call(draw)
    p, region = draw_params(call)
    return_scale = call.arg("return_scale", st.booleans(),
                            st.sampled_from([1, 0, "yes", None, 1.0, np.bool_(True)]), flag_ok, 1)
    arr, x, obj = draw_x(call)
    within = region == "within"
    if not x_ok(arr, obj, region):
        call.bad.add("x")
    elif p is not None:
        classify_coefficients(call, p, np.dtype(arr.dtype).type, arr.ndim, False)
    out, ok = draw_out(call, arr, x, within, {"x": x if viewed(obj, x, arr) else None})
    if isinstance(out, str):                              # overlap
        if arr.size >= 2 and viewed(obj, x, arr):
            x, out = draw_overlap(call, arr)
            obj = x
        else:
            out, ok = fresh(call, arr.shape, arr.dtype), True
    if not ok:
        call.bad.add("out")
    if out is not None and call.draw(st.integers(0, 9)) >= 7:   # a (y, scale) pair
        second = call.draw(st.sampled_from(["fresh", "strided", "alias_x", "same", "wrong_dtype",
                                            "triple"]))
        if second == "alias_x" and viewed(obj, x, arr):
            pair, pair_ok = (out, x), arr.size == 0
        elif second == "same":
            pair, pair_ok = (out, out), arr.size == 0
        elif second == "wrong_dtype":
            pair, pair_ok = (out, fresh(call, arr.shape, np.float32 if arr.dtype == np.float64
                                        else np.float64)), False
        elif second == "triple":
            pair, pair_ok = (out, fresh(call, arr.shape, arr.dtype), None), False
        else:
            pair, pair_ok = (out, fresh(call, arr.shape, arr.dtype, second)), True
        if not (flag_ok(return_scale) and return_scale):
            pair_ok = False
        out = pair
        if not pair_ok:
            call.bad.add("out")
    call.guard(x)
    call.kwargs.update(x=obj, out=out)
    call.shown.update(x=obj, out=out)
    call.arr, call.p = arr, p
    return call


@fuzz_settings(MAIN)
@given(forward_calls())
def test_lrn(call):
    kw = dict(call.kwargs)
    x = kw.pop("x")
    res = invoke(call, lambda: lrn.lrn(x, **kw))
    if res is None:
        return
    arr, p = call.arr, call.p
    y_ref, s_ref = p.reference(arr)
    nums = Numbers(p, arr, arr.dtype, y_ref, s_ref)
    check_forward_result(call, p, arr, res, nums, y_ref, s_ref, bool(kw["return_scale"]),
                         kw["out"])


# --------------------------------------------------------------------------- lrn.lrn_backward

@st.composite
def backward_calls(draw):
    call = Call(draw)
    p, region = draw_params(call)
    arr, x, obj = draw_x(call)
    within = region == "within"
    dtype = np.dtype(arr.dtype)
    valid_x = x_ok(arr, obj, region)
    if not valid_x:
        call.bad.add("x")
    elif p is not None:
        classify_coefficients(call, p, dtype.type, arr.ndim, True)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    computable = valid_x and p is not None and not (call.bad & {"alpha", "bias"})
    with np.errstate(all="ignore"):
        if computable:
            y64, s64 = p.reference(arr)
        else:
            y64 = s64 = rng.standard_normal(arr.shape)
        dy = values(call, arr.shape, dtype.type)
        y_in, s_in = y64.astype(dtype), s64.astype(dtype)
    call.refs = (y64, s64, dy.copy(), y_in.copy(), s_in.copy())
    companions = {"x": x if viewed(obj, x, arr) else None}
    for name, a in (("y", y_in), ("dy", dy), ("scale", s_in)):
        if name == "scale" and draw(st.booleans()):          # scale given or not
            call.kwargs["scale"] = None
            call.shown["scale"] = None
            s_in = None
            continue
        kind = call.mostly(st.sampled_from(["c", "c", "fortran", "strided", "reversed"]),
                      st.sampled_from(["wrong_dtype", "wrong_shape", "list", "memoryview"]), 1)
        if kind == "wrong_dtype":
            a, ok = a.astype(np.float32 if dtype == np.float64 else np.float64), False
        elif kind == "wrong_shape":
            a, ok = np.zeros(arr.shape[:-1] + (arr.shape[-1] + 1,) if arr.ndim else (1,),
                             dtype), False
        elif kind == "list":
            # array_like: valid where NumPy reads it back as x's dtype and shape
            # (Python floats are float64; a zero-length axis loses the ones after it)
            a = a.tolist()
            ok = dtype == np.float64 and np.asarray(a).shape == arr.shape
        elif kind == "memoryview" and dtype.type in (np.float16, np.float32, np.float64):
            a, ok = memoryview(a), True
        else:
            a, ok = relayout(a, kind if kind in ("c", "fortran", "strided", "reversed") else "c"), True
        if not ok:
            call.bad.add(name)
        call.kwargs[name] = call.guard(a)
        call.shown[name] = a
        companions[name] = a if ok and isinstance(a, np.ndarray) else None
    call.s_given = None if s_in is None else s_in.copy()
    out, ok = draw_out(call, arr, x, within, companions)
    if isinstance(out, str):
        if arr.size >= 2 and viewed(obj, x, arr):
            x, out = draw_overlap(call, arr)
            obj = x
        else:
            out, ok = fresh(call, arr.shape, arr.dtype), True
    if not ok:
        call.bad.add("out")
    call.guard(x)
    call.kwargs.update(x=obj, out=out)
    call.shown.update(x=obj, out=out)
    call.arr, call.p = arr, p
    return call


@fuzz_settings(MAIN)
@given(backward_calls())
def test_lrn_backward(call):
    kw = dict(call.kwargs)
    x, y, dy = kw.pop("x"), kw.pop("y"), kw.pop("dy")
    res = invoke(call, lambda: lrn.lrn_backward(x, y, dy, **kw))
    if res is None:
        return
    arr, p = call.arr, call.p
    y64, s64, dy_v, y_in, s_in = call.refs
    assert isinstance(res, np.ndarray) and res.shape == arr.shape and res.dtype == arr.dtype
    if kw["out"] is not None:
        assert res is kw["out"], "dx is not `out`"
    dx_ref, mag = p.reference(arr, dy_v)
    nums = Numbers(p, arr, arr.dtype, y64, s64, dy=dy_v, y_in=y_in, s_in=call.s_given,
                   mag=mag, dx=dx_ref)
    if not nums.finite:
        return
    nums.check_finite(res, dx_ref, "dx")
    if nums.close:
        assert_bwd_close(res, dx_ref, mag, nums.dtype, rtol=nums.rtol_dx)


# --------------------------------------------------------------------------- adapters

def adapter_x(call, region="across"):
    """x for an adapter (at least 2-D)."""
    arr, x, obj = draw_x(call, min_ndim=2)
    obj = x        # always a dask array here; test_dask_takes_only_dask_x has the rest
    arr = seen(np.asarray(x), x, obj)
    if not x_ok(arr, obj, region):
        call.bad.add("x")
    return arr, x, obj


def run_adapter(call, fn, arr, p, return_scale=False):
    res = invoke(call, fn)
    if res is None:
        return
    y_ref, s_ref = p.reference(arr)
    nums = Numbers(p, arr, arr.dtype, y_ref, s_ref)
    check_forward_result(call, p, arr, res, nums, y_ref, s_ref, return_scale, None)


@st.composite
def caffe_calls(draw):
    call = Call(draw)
    n = call.arg("local_size", st.sampled_from([1, 3, 5, 7]), WILD_SIZES,
                 lambda v: size_ok(v) and operator.index(v) % 2 == 1)
    alpha = call.arg("alpha", GOOD_ALPHA, WILD_REALS, real_ok)
    beta = call.arg("beta", GOOD_BETA, WILD_REALS, real_ok)
    k = call.arg("k", GOOD_BIAS, WILD_REALS, real_ok)
    regions = ("ACROSS_CHANNELS", "WITHIN_CHANNEL")
    region = call.arg("norm_region", st.sampled_from(regions), wild_choice(regions),
                      choice_ok(regions), 1)
    within = isinstance(region, str) and region.upper() == "WITHIN_CHANNEL"
    arr, x, obj = adapter_x(call, "within" if within else "across")
    call.p = None
    if not call.bad:
        call.p = Params(n, alpha, beta, 1.0 if within else k, "NCHW", "onnx",
                        "within" if within else "across")
        classify_coefficients(call, call.p, np.dtype(arr.dtype).type, arr.ndim, False)
        if "bias" in call.bad | call.maybe:
            call.maybe.add("k")
    call.guard(x)
    call.kwargs["x"] = obj
    call.arr = arr
    return call


@fuzz_settings(60)
@given(caffe_calls())
def test_caffe_lrn(call):
    run_adapter(call, lambda: lrn.caffe_lrn(**call.kwargs), call.arr, call.p)


@st.composite
def tf_calls(draw):
    call = Call(draw)
    r = call.arg("depth_radius", st.integers(0, 3), WILD_SIZES,
                 lambda v: size_ok(v) or (isinstance(v, numbers.Integral)
                                          and not isinstance(v, (bool, np.bool_)) and v == 0))
    bias = call.arg("bias", GOOD_BIAS, WILD_REALS, real_ok)
    alpha = call.arg("alpha", GOOD_ALPHA, WILD_REALS, real_ok)
    beta = call.arg("beta", GOOD_BETA, WILD_REALS, real_ok)
    call.arg("num_threads", GOOD_THREADS, WILD_THREADS, threads_ok, 1)
    arr, x, obj = adapter_x(call)
    # a TensorFlow operation: `input`, converted as TensorFlow converts a NumPy
    # array (float16/bfloat16/float32 kept; float64, integers, bool to float32)
    call.bad.discard("x")
    arr = np.asarray(x)
    if np.dtype(arr.dtype).type not in (np.float16, np.float32, BF16):
        if arr.dtype.kind in "biuf" and arr.dtype.itemsize <= 8:
            arr = arr.astype(np.float32)
    if not x_ok(arr, obj, "across"):
        call.bad.add("input")
    call.p = None
    if not call.bad & {"depth_radius", "alpha"}:
        size = 2 * operator.index(r) + 1
        scaled = float(alpha) * size
        if not math.isfinite(scaled):     # checked with the parameters, before `input`
            call.bad.add("alpha")
    if not call.bad:
        call.p = Params(size, scaled, beta, bias, "NHWC", "onnx")
        classify_coefficients(call, call.p, np.dtype(arr.dtype).type, arr.ndim, False)
    call.guard(x)
    call.kwargs["input"] = obj
    call.arr = arr
    return call


@fuzz_settings(60)
@given(tf_calls())
def test_tf_lrn(call):
    pytest.importorskip("tensorflow")
    run_adapter(call, lambda: lrn.tf_lrn(**call.kwargs).numpy(), call.arr, call.p)


@st.composite
def onnx_calls(draw):
    call = Call(draw)
    size = call.arg("size", GOOD_SIZES, WILD_SIZES,
                    lambda v: size_ok(v) and operator.index(v) <= 2**63 - 1)
    attrs = {}
    for name, good in (("alpha", GOOD_ALPHA), ("beta", GOOD_BETA), ("bias", GOOD_BIAS)):
        v = call.arg(name, good, WILD_REALS, real_ok)
        if real_ok(v):        # ONNX keeps FLOAT attributes as float32
            with np.errstate(over="ignore"):
                attrs[name] = float(str(np.float32(float(v))))
            if not math.isfinite(attrs[name]):
                call.bad.add(name)
    call.arg("num_threads", GOOD_THREADS, WILD_THREADS, threads_ok, 1)
    arr, x, obj = adapter_x(call)
    call.p = None
    if not call.bad:
        call.p = Params(size, attrs["alpha"], attrs["beta"], attrs["bias"], "NCHW", "onnx")
        classify_coefficients(call, call.p, np.dtype(arr.dtype).type, arr.ndim, False)
    call.guard(x)
    call.x = obj
    call.arr = arr
    return call


@pytest.mark.skipif(not HAVE_ONNX, reason="lrn.onnx.make_node needs onnx")
@fuzz_settings(60)
@given(onnx_calls())
def test_onnx_run_node(call):
    kw = dict(call.kwargs)
    threads = kw.pop("num_threads")
    run_adapter(call, lambda: lrn.onnx.run_node(lrn.onnx.make_node(**kw), call.x,
                                                num_threads=threads), call.arr, call.p)


@st.composite
def caffe2_calls(draw):
    call = Call(draw)
    size = call.arg("size", GOOD_SIZES, WILD_SIZES, size_ok)
    alpha = call.arg("alpha", GOOD_ALPHA, WILD_REALS, real_ok)
    beta = call.arg("beta", GOOD_BETA, WILD_REALS, real_ok)
    bias = call.arg("bias", GOOD_BIAS, WILD_REALS, real_ok)
    orders = ("NCHW", "NHWC", "nchw", "nhwc")
    order = call.arg("order", st.sampled_from(orders),
                     st.sampled_from(["", None, 1, b"NCHW", "Nchw", "channels_last"]),
                     choice_ok(orders), 1)
    num_outputs = call.mostly(st.sampled_from([1, 2]),
                         st.sampled_from([0, 3, True, 1.0, "2", None]), 1)
    if not (type(num_outputs) is int and num_outputs in (1, 2)):
        call.bad.add("num_outputs")
    call.num_outputs = num_outputs
    call.shown["num_outputs"] = num_outputs
    arr, x, obj = adapter_x(call)
    call.p = None
    if not call.bad:
        call.p = Params(size, alpha, beta, bias, order.upper(), "onnx")
        classify_coefficients(call, call.p, np.dtype(arr.dtype).type, arr.ndim, False)
    call.guard(x)
    call.x = obj
    call.arr = arr
    return call


@fuzz_settings(60)
@given(caffe2_calls())
def test_caffe2_lrn_op(call):
    def run():
        op = lrn.ops.LRN(**call.kwargs)
        return op.run(call.x, num_outputs=call.num_outputs)
    run_adapter(call, run, call.arr, call.p, return_scale=call.num_outputs == 2)


@st.composite
def dask_calls(draw):
    import dask.array as da
    call = Call(draw)
    p, region = draw_params(call, wild_in_10=1)
    method = call.arg("method", st.sampled_from(["auto", "overlap", "rechunk"]),
                      st.sampled_from(["fast", "", None, 1]),
                      choice_ok(("auto", "overlap", "rechunk")), 1)
    call.direction = draw(st.sampled_from(["forward", "backward"]))
    arr, x, obj = draw_x(call, min_ndim=2)
    obj = x        # always a dask array here; test_dask_takes_only_dask_x has the rest
    arr = seen(np.asarray(x), x, obj)
    if not x_ok(arr, obj, region):
        call.bad.add("x")
    elif p is not None:
        classify_coefficients(call, p, np.dtype(arr.dtype).type, arr.ndim,
                              call.direction == "backward")
    if isinstance(obj, np.ndarray):
        chunks = tuple(draw(st.integers(1, max(1, d))) for d in arr.shape)
        obj = da.from_array(np.ascontiguousarray(arr), chunks=chunks)
    if call.mostly(st.just(False), st.just(True), 1):
        call.kwargs["out"] = np.full(arr.shape, SENTINEL, arr.dtype)
        call.bad.add("out")
    call.kwargs["x"] = obj
    call.shown["x"] = obj
    call.arr, call.p = arr, p
    call.dy = values(call, arr.shape, np.dtype(arr.dtype).type)
    return call


@pytest.mark.skipif(not HAVE_DASK, reason="lrn.dask needs dask")
@fuzz_settings(40)
@given(dask_calls())
def test_dask(call):
    from lrn import dask as lrn_dask
    kw = dict(call.kwargs)
    x = kw.pop("x")
    arr, p = call.arr, call.p
    if call.direction == "forward":
        res = invoke(call, lambda: lrn_dask.lrn(x, **kw))
        if res is None:
            return
        assert lrn_dask.is_dask(res)
        y_ref, s_ref = p.reference(arr)
        check_forward_result(call, p, arr, res.compute(scheduler="synchronous"),
                             Numbers(p, arr, arr.dtype, y_ref, s_ref), y_ref, s_ref, False, None)
        return
    with np.errstate(all="ignore"):
        y64 = p.reference(arr)[0] if p is not None and "x" not in call.bad and \
            not (call.bad & {"alpha", "bias"}) else np.zeros(arr.shape)
    y_in = y64.astype(arr.dtype)
    res = invoke(call, lambda: lrn_dask.lrn_backward(x, y_in, call.dy, **kw))
    if res is None:
        return
    dx = res.compute(scheduler="synchronous")
    assert dx.shape == arr.shape and dx.dtype == arr.dtype
    y_ref, s_ref = p.reference(arr)
    dx_ref, mag = p.reference(arr, call.dy)
    nums = Numbers(p, arr, arr.dtype, y_ref, s_ref, dy=call.dy, y_in=y_in, mag=mag,
                   dx=dx_ref)
    if nums.finite:
        nums.check_finite(dx, dx_ref, "dx")
    if nums.close:
        assert_bwd_close(dx, dx_ref, mag, nums.dtype, rtol=nums.rtol_dx)


@pytest.mark.skipif(not HAVE_DASK, reason="lrn.dask needs dask")
@pytest.mark.parametrize("make", [np.asarray, memoryview, lambda a: a.tolist(), lambda a: 1.5],
                         ids=["ndarray", "memoryview", "list", "float"])
def test_dask_takes_only_dask_x(make):
    """lrn.dask.lrn documents ``x : dask.array.Array``; anything else is a TypeError
    naming `x` (it was an AttributeError: 'numpy.ndarray' object has no attribute
    'numblocks', 'memoryview' object has no attribute 'dtype', ...)."""
    from lrn import dask as lrn_dask
    x = np.ones((1, 2, 3), np.float32)
    with pytest.raises(TypeError, match="`x`"):
        lrn_dask.lrn(make(x), 3)

"""The parameter contract: every argument of every entry point is checked here.

Two steps, both before anything is allocated at input size or written:

- :func:`make` checks the arguments that do not depend on the data (size, alpha,
  beta, bias, layout, convention, region, num_threads) and gives a frozen
  :class:`Params`; calls with the same arguments share one (a small cache);
- :meth:`Params.resolve` checks what depends on the data's dtype and ndim (the
  coefficients must fit the precision the kernels compute in) and gives the
  :class:`Problem` a backend runs.

Errors are ``TypeError`` (wrong type) or ``ValueError`` (wrong value), naming
the argument, what was expected and what was given; values too large for C
are ``ValueError`` too, never a bare ``OverflowError``.
"""
import functools
import math
import numbers
import operator
from dataclasses import dataclass

import numpy as np

LAYOUTS = ("NCHW", "NHWC")
CONVENTIONS = ("onnx", "torch")
REGIONS = ("across", "within")

_INT_MAX = 2**31 - 1      # a C int (OpenMP's thread count)
INT64_MAX = 2**63 - 1     # where frameworks store integer attributes

# The dtype table.  Name of the scalar type (``dtype.name`` costs ~1 us a call)
# -> the dtype the kernels compute in, and whether the GPU backend takes it.
# float16 and bfloat16 are stored narrow and computed in float32.
_F32, _F64 = np.dtype(np.float32), np.dtype(np.float64)
_LIMITS = {t: (float(np.finfo(t).tiny), float(np.finfo(t).max)) for t in (_F32, _F64)}
DTYPES = {
    "float16": (_F32, True),
    "bfloat16": (_F32, False),   # ml_dtypes' type: NumPy arrays only
    "float32": (_F32, True),
    "float64": (_F64, True),
}


def promoted_dtype(dtype):
    """The dtype host data of ``dtype`` is normalised in: float types as they
    are; bool and integer types promoted as NumPy's float functions promote
    them (``np.sqrt``): to the smallest float that holds every value exactly,
    or float64 -- bool, int8 and uint8 to float16, int16 and uint16 to
    float32, wider integers to float64.  Other kinds are left for
    :func:`check_dtype` to refuse.  GPU arrays are not promoted (their dtype
    rule is strict: no hidden device copy).

    >>> [promoted_dtype(np.dtype(t)).name for t in (bool, np.uint8, np.int16, np.int64)]
    ['float16', 'float16', 'float32', 'float64']
    """
    if dtype.kind in "biu":
        return np.promote_types(dtype, np.float16)
    return dtype


def compute_dtype(dtype):
    """The dtype LRN of ``dtype`` data is computed in (float32 or float64)."""
    return DTYPES[dtype.type.__name__][0]


def is_narrow(dtype):
    """float16 or bfloat16: stored narrow, computed in float32."""
    return dtype.itemsize == 2


def check_dtype(dtype, name, gpu):
    """``dtype`` unless LRN cannot take it (on the GPU when ``gpu``)."""
    entry = DTYPES.get(dtype.type.__name__)
    if entry is None or (gpu and not entry[1]):
        where = "float16, float32 or float64" + ("" if gpu else " (or bfloat16)")
        raise TypeError(f"`{name}` must have dtype {where}, got {dtype}"
                        + (" (bfloat16 runs on the CPU only)" if entry else ""))
    return dtype


# -- scalar arguments --------------------------------------------------------

def check_size(value, name="size", minimum=1, maximum=None):
    """A Python int >= ``minimum`` (any size: windows are clipped to the axis),
    and <= ``maximum`` where a framework stores it in fixed width."""
    what = {0: "a non-negative integer", 1: "a positive integer"}.get(
        minimum, f"an integer >= {minimum}")
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"`{name}` must be {what}, got {value!r} "
                        f"of type {type(value).__name__}")
    value = operator.index(value)
    if value < minimum:
        raise ValueError(f"`{name}` must be {what}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"`{name}` must be at most {maximum}, got {value}")
    return value


def check_real(value, name):
    """A finite Python float."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"`{name}` must be a real number, got {value!r} "
                        f"of type {type(value).__name__}")
    try:
        result = float(value)
    except OverflowError:
        result = math.inf
    if not math.isfinite(result):
        shown = repr(value)
        if len(shown) > 40:
            shown = f"{shown[:12]}... ({len(shown)} digits, too large for a float)"
        raise ValueError(f"`{name}` must be a finite real number, got {shown}")
    return result


def check_choice(value, name, choices):
    """The choice ``value`` names, as written in ``choices``.

    The one rule for case in string options: a choice may be written as in
    ``choices``, all upper case or all lower case (``"NCHW"`` or ``"nchw"``,
    ``"onnx"`` or ``"ONNX"``), never in mixed case (``"Nchw"``), so that
    Caffe2's ``order="nchw"`` and ONNX/TensorFlow-style upper-case names work.

    >>> check_choice("nhwc", "layout", LAYOUTS)
    'NHWC'
    """
    if isinstance(value, str):
        for choice in choices:
            if value in (choice, choice.upper(), choice.lower()):
                return choice
    options = " or ".join(repr(c) for c in choices)
    other = "lower" if choices[0].isupper() else "upper"
    raise ValueError(f"`{name}` must be {options} (or in {other} case), got {value!r}")


def check_flag(value, name):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"`{name}` must be True or False, got {value!r}")
    return bool(value)


def check_threads(value):
    """None, or a nonzero int in C int range (negative: counts back from all
    processors; the CPU backend resolves it)."""
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"`num_threads` must be None or a nonzero integer, got {value!r}")
    value = operator.index(value)
    if value == 0 or abs(value) > _INT_MAX:
        raise ValueError(f"`num_threads` must be None or a nonzero integer of at most "
                         f"{_INT_MAX} in magnitude, got {value}")
    return value


def window_pre(size, convention):
    """Channels before ``c`` in its window: ``(size - 1) // 2`` (ONNX, Caffe2,
    cuDNN) or ``size // 2`` (PyTorch); the rest, ``size - 1 - pre``, follow."""
    return (size - 1) // 2 if convention == "onnx" else size // 2


def check_ndim(shape, within):
    if len(shape) < 2:
        raise ValueError(f"`x` must have at least 2 dimensions (N, C, ...), "
                         f"got shape {tuple(shape)}")
    if within and len(shape) < 3:
        raise ValueError(f"`x` must have a spatial axis for region='within', "
                         f"got shape {tuple(shape)}")


# -- the parameter objects ---------------------------------------------------

class _Window:
    """The window's geometry, from ``size``, ``pre``, ``channels_last`` and
    ``within``: what :class:`Params` (``lrn.dask`` plans its blocks with it)
    and :class:`Problem` share."""

    __slots__ = ()

    def reach(self, mirrored=False):
        """``(before, after)``: elements of the window before and after its
        centre; mirrored, ``[c - post, c + pre]``, the windows that contain
        ``c`` (what the backward pass sums over)."""
        before, after = self.pre, self.size - 1 - self.pre
        return (after, before) if mirrored else (before, after)

    def window(self, length, mirrored=False):
        """``(n, before)`` of the window clipped to an axis of ``length`` >= 1
        elements: at most ``length - 1`` on either side.  The sums are the
        same (zero padding), and nothing grows with a size far above it."""
        before, after = self.reach(mirrored)
        before, after = min(before, length - 1), min(after, length - 1)
        return before + after + 1, before

    def channel_axis(self, ndim):
        return ndim - 1 if self.channels_last else 1

    def window_axes(self, ndim):
        """The axes the window runs along: the channel axis, or (within
        channels) every spatial axis."""
        if not self.within:
            return (self.channel_axis(ndim),)
        return tuple(range(1, ndim - 1)) if self.channels_last else tuple(range(2, ndim))


@dataclass(frozen=True, slots=True)
class Params(_Window):
    """Checked arguments of one LRN call that do not depend on the data."""

    size: int
    pre: int                 # window elements before c; ``size - 1 - pre`` after
    alpha: float
    beta: float
    bias: float
    channels_last: bool
    within: bool
    num_threads: object      # None or a nonzero int

    def resolve(self, dtype, ndim, backward=False):
        """The :class:`Problem` for data of ``dtype`` and ``ndim``.

        The kernels compute float16/bfloat16/float32 data in float32: alpha
        divided by the window (``size`` or ``size ** spatial axes``), bias and
        (backward) ``2 alpha beta / window`` must be 0 or normal float32
        numbers, or this raises rather than let them round to inf or 0.
        ``beta`` reaches the kernels as given (a double), for every dtype.
        """
        return _problem(self, dtype, ndim, backward)


@dataclass(frozen=True, slots=True)
class Problem(_Window):
    """What a backend runs: the window, the coefficients as the kernels take
    them, the layout, the region and the thread request."""

    size: int
    pre: int
    alpha_n: float           # alpha / size (across) or alpha / size**spatial (within)
    beta: float
    bias: float
    grad_coef: float         # 2 * alpha_n * beta, the backward pass's coefficient
    channels_last: bool
    within: bool
    num_threads: object


@functools.lru_cache(maxsize=256)   # the same parameters on the same kind of data
def _problem(params, dtype, ndim, backward):
    p = params
    axes = ndim - 2 if p.within else 1
    where = "size" if axes == 1 else f"size**{axes}"
    work = compute_dtype(dtype)
    alpha_n = _divide(p.alpha, p.size ** axes)
    _check_fits(alpha_n, f"alpha/{where}", p.alpha != 0, dtype, work)
    _check_fits(p.bias, "bias", p.bias != 0, dtype, work)
    grad = 2.0 * alpha_n * p.beta
    if backward:
        _check_fits(grad, f"2*alpha*beta/{where}", alpha_n != 0 and p.beta != 0, dtype, work)
    return Problem(p.size, p.pre, alpha_n, p.beta, p.bias, grad, p.channels_last, p.within,
                   p.num_threads)


def _divide(alpha, denominator):
    try:
        return alpha / denominator
    except OverflowError:        # a denominator beyond float range: alpha_n underflows
        return 0.0


def _check_fits(value, name, nonzero, dtype, work):
    """``value`` must survive the cast to ``work``: 0 (unless ``nonzero``), or
    a normal number (no overflow to inf, no underflow to 0 or a subnormal)."""
    tiny, huge = _LIMITS[work]
    if (value == 0 and not nonzero) or tiny <= abs(value) <= huge:
        return
    what = "underflows to 0 for" if value == 0 else f"= {value:.6g} does not fit"
    raise ValueError(f"{name} {what} {dtype} data, which is computed in {work}: it must be "
                     f"0 or between {tiny:.3g} and {huge:.3g} in magnitude")


def _make(size, alpha, beta, bias, layout, convention, region, num_threads):
    size = check_size(size)
    return Params(size, window_pre(size, check_choice(convention, "convention", CONVENTIONS)),
                  check_real(alpha, "alpha"), check_real(beta, "beta"),
                  check_real(bias, "bias"), check_choice(layout, "layout", LAYOUTS) == "NHWC",
                  check_choice(region, "region", REGIONS) == "within",
                  check_threads(num_threads))


_cached = functools.lru_cache(maxsize=256, typed=True)(_make)


def make(size, alpha=1e-4, beta=0.75, bias=1.0, layout="NCHW", convention="onnx",
         region="across", num_threads=None):
    """Checked :class:`Params`; the same arguments give the same (cached) object.

    Examples
    --------
    >>> from lrn import _params
    >>> p = _params.make(4, convention="torch")
    >>> p.pre, p.size - 1 - p.pre
    (2, 1)
    >>> _params.make(0)
    Traceback (most recent call last):
    ...
    ValueError: `size` must be a positive integer, got 0
    """
    try:
        return _cached(size, alpha, beta, bias, layout, convention, region, num_threads)
    except TypeError:
        # unhashable arguments (or a type error, which this raises again)
        return _make(size, alpha, beta, bias, layout, convention, region, num_threads)

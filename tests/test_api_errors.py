"""Argument validation: the right exception type, naming the argument in backticks,
raised before anything is written."""
import re

import numpy as np
import pytest

import lrn

SENTINEL = -7.25
SHAPE = (2, 5, 3, 4)


def _x(dtype=np.float32, shape=SHAPE):
    return np.random.default_rng(0).standard_normal(shape).astype(dtype)


def _sentinel(shape=SHAPE, dtype=np.float32):
    return np.full(shape, SENTINEL, dtype)


def _untouched(*arrays):
    for a in arrays:
        assert (a == SENTINEL).all(), "an output was written before the error was raised"


def _named(name):
    return re.escape(f"`{name}")


# --------------------------------------------------------------------------- forward

BAD_FORWARD = [
    # (kwargs overriding the good call, exception, argument name)
    (dict(size=0), ValueError, "size"),
    (dict(size=-1), ValueError, "size"),
    (dict(size=-5), ValueError, "size"),
    (dict(size=2.0), TypeError, "size"),
    (dict(size=5.5), TypeError, "size"),
    (dict(size=True), TypeError, "size"),
    (dict(size="5"), TypeError, "size"),
    (dict(size=None), TypeError, "size"),
    (dict(alpha="1"), TypeError, "alpha"),
    (dict(alpha=None), TypeError, "alpha"),
    (dict(alpha=1j), TypeError, "alpha"),
    (dict(alpha=True), TypeError, "alpha"),
    (dict(alpha=float("nan")), ValueError, "alpha"),
    (dict(alpha=float("inf")), ValueError, "alpha"),
    (dict(alpha=-np.inf), ValueError, "alpha"),
    (dict(beta="0.75"), TypeError, "beta"),
    (dict(beta=None), TypeError, "beta"),
    (dict(beta=0.75 + 0j), TypeError, "beta"),
    (dict(beta=False), TypeError, "beta"),
    (dict(beta=np.nan), ValueError, "beta"),
    (dict(beta=np.inf), ValueError, "beta"),
    (dict(bias="1"), TypeError, "bias"),
    (dict(bias=None), TypeError, "bias"),
    (dict(bias=2j), TypeError, "bias"),
    (dict(bias=True), TypeError, "bias"),
    (dict(bias=np.float64("nan")), ValueError, "bias"),
    (dict(bias=-np.inf), ValueError, "bias"),
    (dict(layout="NCWH"), ValueError, "layout"),
    (dict(layout="CHWN"), ValueError, "layout"),
    (dict(layout=""), ValueError, "layout"),
    (dict(convention="caffe"), ValueError, "convention"),
    (dict(convention=""), ValueError, "convention"),
    (dict(region="foo"), ValueError, "region"),
    (dict(region="Within"), ValueError, "region"),
    (dict(region=""), ValueError, "region"),
    (dict(num_threads=0), ValueError, "num_threads"),
    (dict(num_threads=True), TypeError, "num_threads"),
    (dict(num_threads=2.0), TypeError, "num_threads"),
    (dict(num_threads="2"), TypeError, "num_threads"),
    (dict(return_scale=1), TypeError, "return_scale"),
    (dict(return_scale="yes"), TypeError, "return_scale"),
    (dict(return_scale=None), TypeError, "return_scale"),
]


def _fwd_call(x, out, **over):
    kw = dict(size=5, alpha=1e-4, beta=0.75, bias=1.0, layout="NCHW", convention="onnx",
              region="across", num_threads=None, return_scale=False)
    kw.update(over)
    size = kw.pop("size")
    if kw["return_scale"] is True and out is not None and not isinstance(out, tuple):
        out = (out, _sentinel(x.shape, x.dtype))
    return lrn.lrn(x, size, out=out, **kw)


@pytest.mark.parametrize("over, exc, name", BAD_FORWARD,
                         ids=[f"{n}={o[n]!r}"[:40] for o, _, n in BAD_FORWARD])
def test_forward_bad_argument(over, exc, name):
    x = _x()
    x_before = x.copy()
    out = _sentinel()
    with pytest.raises(exc, match=_named(name)):
        _fwd_call(x, out, **over)
    _untouched(out)
    np.testing.assert_array_equal(x, x_before)
    # the same error with out=x (in-place) must not modify x either
    with pytest.raises(exc, match=_named(name)):
        _fwd_call(x, x, **over)
    np.testing.assert_array_equal(x, x_before)


@pytest.mark.parametrize("over, exc, name", BAD_FORWARD[:1] + BAD_FORWARD[12:13],
                         ids=["size", "alpha"])
def test_forward_bad_argument_with_scale_out(over, exc, name):
    x = _x()
    yo, so = _sentinel(), _sentinel()
    with pytest.raises(exc, match=_named(name)):
        _fwd_call(x, (yo, so), return_scale=True, **over)
    _untouched(yo, so)


def test_error_message_format():
    with pytest.raises(ValueError, match=r"^`size` must be a positive integer, got 0"):
        lrn.lrn(_x(), 0)
    with pytest.raises(ValueError) as ei:
        lrn.lrn(_x(), 5, layout="NCWH")
    assert "NCWH" in str(ei.value)                 # says what was given
    assert "NCHW" in str(ei.value) and "NHWC" in str(ei.value)   # and what is expected
    with pytest.raises(TypeError) as ei:
        lrn.lrn(_x(np.complex64), 5)
    assert "complex64" in str(ei.value)


@pytest.mark.parametrize("good", [3, np.int64(3), np.int32(3), np.uint8(3)],
                         ids=["int", "np.int64", "np.int32", "np.uint8"])
def test_integer_like_size_accepted(good):
    x = _x(np.float64)
    np.testing.assert_array_equal(lrn.lrn(x, good, 2.0), lrn.lrn(x, 3, 2.0))


@pytest.mark.parametrize("alpha", [2, np.float32(2.0), np.float64(2.0), np.int64(2)],
                         ids=["int", "np.float32", "np.float64", "np.int64"])
def test_real_like_params_accepted(alpha):
    x = _x(np.float64)
    ref = lrn.lrn(x, 3, 2.0, 0.5, 1.0)
    np.testing.assert_array_equal(lrn.lrn(x, 3, alpha, 0.5, 1.0), ref)
    np.testing.assert_array_equal(lrn.lrn(x, 3, 2.0, np.float32(0.5), np.int64(1)), ref)


@pytest.mark.parametrize("dtype", [np.complex64, np.complex128, object, np.longdouble,
                                   "U3", "M8[s]"])
def test_bad_dtype(dtype):
    if dtype is np.longdouble and np.dtype(np.longdouble) == np.dtype(np.float64):
        pytest.skip("longdouble is float64 here")
    x = np.ones(SHAPE, dtype=dtype)
    with pytest.raises(TypeError, match=_named("x")):
        lrn.lrn(x, 3)
    f = np.ones(SHAPE, np.float32)
    with pytest.raises(TypeError, match=_named("x")):
        lrn.lrn_backward(x, f, f, 3)


@pytest.mark.parametrize("x", [None, "abc", [[1.0], [2.0, 3.0]], [[1.0, "a"]], [[1j]],
                               [[None, 1.0]]],
                         ids=["None", "str", "ragged", "mixed_str", "complex", "object"])
def test_non_array_x(x):
    with pytest.raises(TypeError, match=_named("x")):
        lrn.lrn(x, 3)
    f = np.ones((2, 2))
    with pytest.raises(TypeError, match=_named("x")):
        lrn.lrn_backward(x, f, f, 3)


@pytest.mark.parametrize("x", [3.0, [1.0, 2.0], np.float32(2.0)], ids=["float", "1d", "np"])
def test_scalar_or_1d_x_is_a_shape_error(x):
    with pytest.raises(ValueError, match=_named("x") + "` must have at least 2 dimensions"):
        lrn.lrn(x, 3)


@pytest.mark.parametrize("shape", [(5,), (), (1,)])
def test_ndim_too_small(shape):
    x = np.ones(shape, np.float32)
    with pytest.raises(ValueError, match=_named("x")):
        lrn.lrn(x, 3)
    with pytest.raises(ValueError, match=_named("x")):
        lrn.lrn_backward(x, x, x, 3)


# --------------------------------------------------------------------------- out

def _bad_outs(dtype=np.float32):
    ro = _sentinel(SHAPE, dtype)
    ro.flags.writeable = False
    return [
        ("wrong_shape", lambda: _sentinel((2, 5, 3, 5), dtype), ValueError),
        ("wrong_shape_transposed", lambda: _sentinel((2, 3, 4, 5), dtype), ValueError),
        ("wrong_ndim", lambda: _sentinel((2, 5, 12), dtype), ValueError),
        ("wrong_dtype", lambda: _sentinel(SHAPE, np.float64 if dtype != np.float64
                                          else np.float32), TypeError),
        ("int_dtype", lambda: _sentinel(SHAPE, np.int32), TypeError),
        ("readonly", lambda: ro, ValueError),
        ("list", lambda: [[0.0]], TypeError),
        ("memoryview", lambda: memoryview(_sentinel(SHAPE, dtype)), TypeError),
    ]


BAD_OUT_IDS = [b[0] for b in _bad_outs()]


def _sentinel_view(out):
    """The memory of a rejected `out`, when it is an array we filled with SENTINEL."""
    if isinstance(out, (np.ndarray, memoryview)):
        return np.asarray(out)
    return None


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64],
                         ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("which", BAD_OUT_IDS)
def test_forward_bad_out(which, dtype):
    make, exc = {n: (m, e) for n, m, e in _bad_outs(dtype)}[which]
    x = _x(dtype)
    out = make()
    with pytest.raises(exc, match=_named("out")):
        lrn.lrn(x, 3, out=out)
    # a bad y out next to a good scale out: the good one stays untouched
    so = _sentinel(SHAPE, dtype)
    with pytest.raises(exc, match=_named("out")):
        lrn.lrn(x, 3, out=(make(), so), return_scale=True)
    _untouched(so)
    # a good y out next to a bad scale out: the good one stays untouched
    yo = _sentinel(SHAPE, dtype)
    with pytest.raises(exc, match=_named("out")):
        lrn.lrn(x, 3, out=(yo, make()), return_scale=True)
    _untouched(yo)
    view = _sentinel_view(out)
    if isinstance(view, np.ndarray) and view.dtype.kind == "f":
        _untouched(view)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("which", BAD_OUT_IDS)
def test_backward_bad_out(which, dtype):
    make, exc = {n: (m, e) for n, m, e in _bad_outs(dtype)}[which]
    x = _x(dtype)
    y = lrn.lrn(x, 3)
    dy = np.ones_like(x)
    out = make()
    with pytest.raises(exc, match=_named("out")):
        lrn.lrn_backward(x, y, dy, 3, out=out)
    view = _sentinel_view(out)
    if isinstance(view, np.ndarray) and view.dtype.kind == "f":
        _untouched(view)


def test_out_tuple_wrong_length():
    x = _x()
    a, b, c = _sentinel(), _sentinel(), _sentinel()
    with pytest.raises((ValueError, TypeError), match=_named("out")):
        lrn.lrn(x, 3, out=(a, b, c), return_scale=True)
    with pytest.raises((ValueError, TypeError), match=_named("out")):
        lrn.lrn(x, 3, out=(a,), return_scale=True)
    _untouched(a, b, c)


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_forward_partial_overlap_out(layout):
    base = np.full((2, 6, 3, 4), SENTINEL, np.float32)
    base[:, :5] = _x()
    before = base.copy()
    x = base[:, :5] if layout == "NCHW" else base[:, :5].transpose(0, 2, 3, 1)
    shifted = base[:, 1:] if layout == "NCHW" else base[:, 1:].transpose(0, 2, 3, 1)
    with pytest.raises(ValueError, match=_named("out")):
        lrn.lrn(x, 3, layout=layout, out=shifted)
    np.testing.assert_array_equal(base, before)
    # scale out overlapping x, or overlapping y out
    so = _sentinel()
    with pytest.raises(ValueError, match=_named("out")):
        lrn.lrn(x, 3, layout=layout, out=(so, shifted), return_scale=True)
    np.testing.assert_array_equal(base, before)
    _untouched(so)
    yo = _sentinel((2, 6, 3, 4))
    with pytest.raises(ValueError, match=_named("out")):
        lrn.lrn(base[:, :5], 3, out=(yo[:, :5], yo[:, 1:]), return_scale=True)
    _untouched(yo)
    # a reversed view of x (same memory, different strides) is not "exactly x"
    xc = _x()
    xb = xc.copy()
    with pytest.raises(ValueError, match=_named("out")):
        lrn.lrn(xc, 3, out=xc[:, ::-1])
    np.testing.assert_array_equal(xc, xb)


@pytest.mark.parametrize("arg", ["x", "y", "dy", "scale"])
def test_backward_partial_overlap_out(arg):
    base = np.zeros((2, 6, 3, 4), np.float32)
    x = _x()
    y, s = lrn.lrn(x, 3, 2.0, return_scale=True)
    dy = np.ones_like(x)
    arrays = dict(x=x, y=y, dy=dy, scale=s)
    base[:, :5] = arrays[arg]
    arrays[arg] = base[:, :5]
    before = base.copy()
    with pytest.raises(ValueError, match=_named("out")):
        lrn.lrn_backward(arrays["x"], arrays["y"], arrays["dy"], 3, 2.0,
                         scale=arrays["scale"], out=base[:, 1:])
    np.testing.assert_array_equal(base, before)


# --------------------------------------------------------------------------- backward

def _bwd_inputs(dtype=np.float32):
    x = _x(dtype)
    y, s = lrn.lrn(x, 3, 2.0, return_scale=True)
    return x, y, np.ones_like(x), s


@pytest.mark.parametrize("arg", ["y", "dy", "scale"])
@pytest.mark.parametrize("kind", ["shape", "dtype", "list", "ndim"])
def test_backward_bad_companion(arg, kind):
    x, y, dy, s = _bwd_inputs()
    arrays = dict(y=y, dy=dy, scale=s)
    if kind == "shape":
        arrays[arg] = np.ones((2, 5, 3, 5), np.float32)
        exc = ValueError
    elif kind == "ndim":
        arrays[arg] = np.ones((2, 5, 12), np.float32)
        exc = ValueError
    elif kind == "dtype":
        arrays[arg] = arrays[arg].astype(np.float64)
        exc = TypeError
    else:
        arrays[arg] = arrays[arg].tolist()
        exc = TypeError
    out = _sentinel()
    with pytest.raises(exc, match=_named(arg)):
        lrn.lrn_backward(x, arrays["y"], arrays["dy"], 3, 2.0, scale=arrays["scale"], out=out)
    _untouched(out)


@pytest.mark.parametrize("arg", ["y", "dy", "scale"])
def test_backward_bad_companion_int_dtype(arg):
    x, y, dy, s = _bwd_inputs()
    arrays = dict(y=y, dy=dy, scale=s)
    arrays[arg] = arrays[arg].astype(np.int32)
    out = _sentinel()
    with pytest.raises(TypeError, match=_named(arg)):
        lrn.lrn_backward(x, arrays["y"], arrays["dy"], 3, 2.0, scale=arrays["scale"], out=out)
    _untouched(out)


BAD_BACKWARD = [b for b in BAD_FORWARD if "return_scale" not in b[0]]


@pytest.mark.parametrize("over, exc, name", BAD_BACKWARD,
                         ids=[f"{n}={o[n]!r}"[:40] for o, _, n in BAD_BACKWARD])
def test_backward_bad_argument(over, exc, name):
    x, y, dy, s = _bwd_inputs()
    kw = dict(size=3, alpha=2.0, beta=0.75, bias=1.0, layout="NCHW", convention="onnx",
              region="across", num_threads=None)
    kw.update(over)
    size = kw.pop("size")
    out = _sentinel()
    copies = [a.copy() for a in (x, y, dy, s)]
    with pytest.raises(exc, match=_named(name)):
        lrn.lrn_backward(x, y, dy, size, scale=s, out=out, **kw)
    _untouched(out)
    # in-place into dy: dy must stay unchanged on error
    with pytest.raises(exc, match=_named(name)):
        lrn.lrn_backward(x, y, dy, size, out=dy, **kw)
    for a, b in zip((x, y, dy, s), copies):
        np.testing.assert_array_equal(a, b)


def test_backward_x_list():
    # a list is array_like: its float64 data must match the companions' dtype
    x, y, dy, _ = _bwd_inputs()
    with pytest.raises(TypeError, match=re.escape("`y` must have the dtype of `x` (float64)")):
        lrn.lrn_backward(x.tolist(), y, dy, 3)
    x, y, dy = (a.astype(np.float64) for a in (x, y, dy))
    np.testing.assert_array_equal(lrn.lrn_backward(x.tolist(), y.tolist(), dy, 3),
                                  lrn.lrn_backward(x, y, dy, 3))


def test_backward_x_wrong_dtype_vs_companions():
    """x float64 with float32 y/dy: the companions are named (they differ from x)."""
    x, y, dy, s = _bwd_inputs()
    with pytest.raises(TypeError, match=_named("y")):
        lrn.lrn_backward(x.astype(np.float64), y, dy.astype(np.float64), 3)


def test_within_inplace_rejected_untouched():
    """region='within' cannot run in place: out=x is a ValueError, x unchanged."""
    x = _x()
    before = x.copy()
    with pytest.raises(ValueError, match=_named("out")):
        lrn.lrn(x, 3, region="within", out=x)
    np.testing.assert_array_equal(x, before)
    y = lrn.lrn(x, 3, region="within")
    dy = np.ones_like(x)
    for target in ("x", "y", "dy"):
        arrays = dict(x=x.copy(), y=y.copy(), dy=dy.copy())
        saved = arrays[target].copy()
        with pytest.raises(ValueError, match=_named("out")):
            lrn.lrn_backward(arrays["x"], arrays["y"], arrays["dy"], 3, region="within",
                             out=arrays[target])
        np.testing.assert_array_equal(arrays[target], saved)


# ----------------------------------------------------------------- array_like x

@pytest.mark.parametrize("make", [lambda a: a.tolist(), lambda a: tuple(map(tuple, a.tolist()))],
                         ids=["list", "tuple"])
def test_nested_sequences_are_array_like(make):
    x = np.linspace(-2, 2, 12).reshape(3, 4)
    np.testing.assert_array_equal(lrn.lrn(make(x), 3, 2.0), lrn.lrn(x, 3, 2.0))
    y, s = lrn.lrn(x, 3, 2.0, return_scale=True)
    dy = np.ones_like(x)
    np.testing.assert_array_equal(
        lrn.lrn_backward(make(x), make(y), make(dy), 3, 2.0, scale=make(s)),
        lrn.lrn_backward(x, y, dy, 3, 2.0, scale=s))


@pytest.mark.parametrize("dtype", [np.bool_, np.int8, np.uint8, np.int16, np.uint16, np.int32,
                                   np.uint32, np.int64, np.uint64])
def test_bool_and_integers_promoted_as_numpy_sqrt(dtype):
    x = (np.arange(24).reshape(2, 3, 4) % 3).astype(dtype)
    want = np.sqrt(x).dtype                 # NumPy's rule for float functions
    y, s = lrn.lrn(x, 3, 2.0, return_scale=True)
    assert y.dtype == want and s.dtype == want
    np.testing.assert_array_equal(y, lrn.lrn(x.astype(want), 3, 2.0))
    out = np.empty(x.shape, want)
    assert lrn.lrn(x, 3, 2.0, out=out) is out
    dx = lrn.lrn_backward(x, y, np.ones_like(y), 3, 2.0)
    assert dx.dtype == want
    with pytest.raises(TypeError, match=_named("out")):      # out is never promoted
        lrn.lrn(x, 3, 2.0, out=np.empty(x.shape, dtype))
    assert x.dtype == dtype                 # the input is not changed


def test_promotion_table_matches_numpy():
    from lrn import _params
    for t in (np.bool_, np.int8, np.uint8, np.int16, np.uint16, np.int32, np.uint32,
              np.int64, np.uint64, np.float16, np.float32, np.float64):
        assert _params.promoted_dtype(np.dtype(t)) == np.sqrt(np.zeros(1, t)).dtype, t

"""The cached fast path of lrn / lrn_backward (design §4): a call whose arguments were
checked before skips those checks, but each check still holds on every call.

Every test runs a good call first (so the arguments' entry is cached), then the case under
test, and compares it with the same case on an empty cache (the general path): the same
exception and message and nothing written, or the same result, bit for bit.
"""
import decimal
import fractions

import numpy as np
import pytest

import lrn
from lrn import _api, _cpu, _params

from .helpers import poisoned, ref_forward

SHAPE = (2, 5, 3, 4)
SENTINEL = -7.25


def _x(dtype=np.float32, shape=SHAPE, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def _both(fn):
    """``fn()`` on an empty cache, then again after it has been cached: each time the
    result (or the exception type and message)."""
    outcomes = []
    for warm in (False, True):
        _api.cache_clear()
        if warm:
            try:
                fn()     # an erroneous call caches nothing: warm up on every good argument
            except (TypeError, ValueError):
                pass
        try:
            outcomes.append(("ok", fn()))
        except (TypeError, ValueError) as e:
            outcomes.append((type(e), str(e)))
    return outcomes


def _same(outcomes):
    (kind0, a), (kind1, b) = outcomes
    assert kind0 == kind1
    if kind0 != "ok":
        assert a == b
        return
    for u, v in zip(a if isinstance(a, tuple) else (a,), b if isinstance(b, tuple) else (b,)):
        assert u.dtype == v.dtype and u.shape == v.shape
        np.testing.assert_array_equal(u.view(np.uint8), v.view(np.uint8))


def _warm_then(good, bad):
    """Cache ``good``'s arguments, then run ``bad``: the exception it raises."""
    _api.cache_clear()
    good()
    assert _api._direct.cache_info().currsize == 1
    with pytest.raises((TypeError, ValueError)) as cold_or_warm:
        bad()
    return cold_or_warm.value


def test_repeated_call_is_cached_and_identical():
    x = _x()
    _api.cache_clear()
    y1 = lrn.lrn(x, 5)
    y2 = lrn.lrn(x, 5)   # the same argument objects: the last entry, no lookup
    info = _api._direct.cache_info()
    assert (info.hits, info.misses) == (0, 1)
    y3 = lrn.lrn(x, 5, float("1e-4"))   # an equal alpha, another object: looked up
    info = _api._direct.cache_info()
    assert (info.hits, info.misses) == (1, 1)
    np.testing.assert_array_equal(y1, y2)
    np.testing.assert_array_equal(y1, y3)


@pytest.mark.parametrize("backward", [False, True], ids=["forward", "backward"])
def test_last_entry_with_other_arrays(backward):
    # the same argument objects with arrays of another shape or dtype, in turns (two
    # layers of one network): the last entry's Call refuses them, the cache serves them
    _api.cache_clear()
    inputs = [_x(), _x(shape=(1, 7, 6, 2), seed=1), _x(np.float64, seed=2),
              _x(np.float16, shape=(3, 4, 2), seed=3)]

    def run(x):
        if backward:
            return lrn.lrn_backward(x, x, x, 5, 2.0)
        return lrn.lrn(x, 5, 2.0)
    first = [run(x) for x in inputs]
    again = [run(x) for x in inputs]
    assert _api._direct.cache_info().misses == len(inputs)
    for x, a, b in zip(inputs, first, again):
        _api.cache_clear()
        general = run(x.view(type("Sub", (np.ndarray,), {})))   # the general path
        for got in (a, b):
            assert got.dtype == x.dtype and got.shape == x.shape
            np.testing.assert_array_equal(got.view(np.uint8),
                                          np.asarray(general).view(np.uint8))


# -- forward: bad outs, each after a good call of the same arguments ---------------

def _readonly(a):
    a.flags.writeable = False
    return a


BAD_OUTS = {
    "wrong_dtype": lambda x: np.full(x.shape, SENTINEL,
                                     np.float32 if x.dtype == np.float64 else np.float64),
    "wrong_shape": lambda x: np.full((2, 5, 4, 3), SENTINEL, x.dtype),
    "wrong_ndim": lambda x: np.full((2, 5, 12), SENTINEL, x.dtype),
    "readonly": lambda x: _readonly(np.full(x.shape, SENTINEL, x.dtype)),
    "list": lambda x: np.full(x.shape, SENTINEL, x.dtype).tolist(),
    "reversed_view_of_x": lambda x: x[:, ::-1],
    "big_endian": lambda x: np.full(x.shape, SENTINEL, x.dtype.newbyteorder()),
}


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64],
                         ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("which", sorted(BAD_OUTS))
def test_forward_bad_out_after_good_call(which, dtype):
    x = _x(dtype)
    before = x.copy()
    outcomes = _both(lambda: lrn.lrn(x, 3, out=BAD_OUTS[which](x)))
    _same(outcomes)
    assert outcomes[1][0] in (TypeError, ValueError) and "`out`" in outcomes[1][1]
    bad = BAD_OUTS[which](x)
    err = _warm_then(lambda: lrn.lrn(x, 3, out=np.empty_like(x)), lambda: lrn.lrn(x, 3, out=bad))
    assert str(err) == outcomes[1][1]
    np.testing.assert_array_equal(x, before)
    if isinstance(bad, np.ndarray) and not np.shares_memory(bad, x):
        assert (bad == SENTINEL).all()


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_forward_partial_overlap_after_good_call(layout):
    # C-contiguous x and out, one element apart in one buffer
    n = int(np.prod(SHAPE))
    base = np.full(n + 1, SENTINEL, np.float32)
    base[:n] = _x().ravel()
    x, shifted = base[:n].reshape(SHAPE), base[1:].reshape(SHAPE)
    before = base.copy()
    err = _warm_then(lambda: lrn.lrn(x, 3, layout=layout, out=np.empty_like(x)),
                     lambda: lrn.lrn(x, 3, layout=layout, out=shifted))
    assert "`out` shares memory with `x`" in str(err)
    np.testing.assert_array_equal(base, before)


def test_forward_scale_out_checks_after_good_call():
    x = _x()
    y, s = np.empty_like(x), np.empty_like(x)
    good = lambda: lrn.lrn(x, 3, out=(y, s), return_scale=True)   # noqa: E731
    for bad_out, message in [((y, x), "`out[1]` shares memory with `x`"),
                             ((y, y), "`out[1]` shares memory with `out[0]`"),
                             ((y, s, s), "`out` must be one array or a (y, scale) pair"),
                             ((y, s.astype(np.float64)), "`out[1]` must have dtype float32")]:
        err = _warm_then(good, lambda: lrn.lrn(x, 3, out=bad_out, return_scale=True))
        assert message in str(err)
    err = _warm_then(good, lambda: lrn.lrn(x, 3, out=(y, s), return_scale=1))
    assert "`return_scale` must be True or False" in str(err)


# -- the argument types: equal values of another type are not the same call ---------

@pytest.mark.parametrize("good, bad, name", [
    (dict(size=1), dict(size=True), "size"),
    (dict(size=5), dict(size=5.0), "size"),
    (dict(alpha=1.0), dict(alpha=True), "alpha"),
    (dict(alpha=0.5), dict(alpha=decimal.Decimal("0.5")), "alpha"),
    (dict(beta=1.0), dict(beta=True), "beta"),
    (dict(bias=0.0), dict(bias=False), "bias"),
    (dict(num_threads=1), dict(num_threads=True), "num_threads"),
    (dict(num_threads=2), dict(num_threads=2.0), "num_threads"),
])
def test_equal_argument_of_another_type_is_checked(good, bad, name):
    x = _x()
    kw = dict(size=3)
    out = np.full_like(x, SENTINEL)
    err = _warm_then(lambda: lrn.lrn(x, **{**kw, **good}),
                     lambda: lrn.lrn(x, **{**kw, **bad}, out=out))
    assert str(err).startswith(f"`{name}`")
    assert (out == SENTINEL).all()
    # and backward
    err = _warm_then(lambda: lrn.lrn_backward(x, x, x, **{**kw, **good}),
                     lambda: lrn.lrn_backward(x, x, x, **{**kw, **bad}, out=out))
    assert str(err).startswith(f"`{name}`")
    assert (out == SENTINEL).all()


@pytest.mark.parametrize("kw", [dict(size=np.int64(5)), dict(alpha=np.float64(1e-4)),
                                dict(alpha=fractions.Fraction(1, 10000)),
                                dict(num_threads=np.int32(1)), dict(layout="nchw")])
def test_equal_argument_of_another_accepted_type(kw):
    x = _x()
    _same(_both(lambda: lrn.lrn(x, **{"size": 5, **kw})))
    np.testing.assert_array_equal(lrn.lrn(x, **{"size": 5, **kw}), lrn.lrn(x, 5))


def test_unhashable_argument_takes_the_general_path():
    x = _x()
    lrn.lrn(x, 3)
    with pytest.raises(TypeError, match="`alpha` must be a real number"):
        lrn.lrn(x, 3, alpha=[1.0])


def test_data_dependent_check_after_good_call():
    # alpha/size fits float64 but not float32: cached for one dtype, refused for the other
    x64 = _x(np.float64)
    err = _warm_then(lambda: lrn.lrn(x64, 3, alpha=1e300),
                     lambda: lrn.lrn(x64.astype(np.float32), 3, alpha=1e300))
    assert "does not fit float32" in str(err)
    err = _warm_then(lambda: lrn.lrn(_x(), 3), lambda: lrn.lrn(_x(shape=(5,)), 3))
    assert "`x` must have at least 2 dimensions" in str(err)


# -- forward: arrays the fast path passes on to the general path give its result ----

def _subclass(x):
    class Sub(np.ndarray):
        pass
    return x.view(Sub)


ODD_INPUTS = {
    "non_contiguous": lambda x: np.asfortranarray(x),
    "reversed": lambda x: x[:, ::-1],
    "readonly": lambda x: _readonly(x.copy()),
    "big_endian": lambda x: x.astype(x.dtype.newbyteorder()),
    "subclass": _subclass,
    "int16": lambda x: (x * 100).astype(np.int16),
}


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("which", sorted(ODD_INPUTS))
def test_odd_input_after_good_call(which, layout):
    x = _x()
    odd = ODD_INPUTS[which](x)
    _same(_both(lambda: lrn.lrn(odd, 3, layout=layout)))
    lrn.lrn(x, 3, layout=layout)
    got = lrn.lrn(odd, 3, layout=layout)
    native = np.ascontiguousarray(odd, dtype=odd.dtype.newbyteorder("="))
    assert got.dtype == lrn.lrn(native, 3, layout=layout).dtype.newbyteorder(odd.dtype.byteorder)
    np.testing.assert_array_equal(got, lrn.lrn(native, 3, layout=layout))


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64],
                         ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("threads", [1, 2])
def test_fast_path_equals_general_path(dtype, layout, threads):
    shape = (3, 40, 20, 50) if layout == "NCHW" else (3, 20, 50, 40)  # 2 threads take part
    x = _x(dtype, shape, seed=1)
    dy = _x(dtype, shape, seed=2)
    kw = dict(size=5, alpha=0.5, layout=layout, num_threads=threads)
    _same(_both(lambda: lrn.lrn(x, **kw)))
    _same(_both(lambda: lrn.lrn(x, **kw, return_scale=True)))
    y, s = lrn.lrn(x, **kw, return_scale=True)
    _same(_both(lambda: lrn.lrn_backward(x, y, dy, **kw, scale=s)))
    _same(_both(lambda: lrn.lrn_backward(x, y, dy, **kw)))
    # out given, poisoned; and in place
    for out in (poisoned(shape, dtype), x.copy()):
        source = x if not np.shares_memory(out, x) else out
        expected = lrn.lrn(x, **kw)
        assert lrn.lrn(source, **kw, out=out) is out
        np.testing.assert_array_equal(out, expected)
    if dtype == np.float64:
        np.testing.assert_allclose(y, ref_forward(x, 5, 0.5, 0.75, 1.0, layout=layout)[0],
                                   rtol=1e-11)


# -- backward ----------------------------------------------------------------------

@pytest.mark.parametrize("alias", ["x", "y", "dy", "scale"])
def test_backward_in_place_after_good_call(alias):
    x = _x()
    y, s = lrn.lrn(x, 3, 2.0, return_scale=True)
    dy = _x(seed=3)
    expected = lrn.lrn_backward(x, y, dy, 3, 2.0, scale=s)
    arrays = dict(x=x.copy(), y=y.copy(), dy=dy.copy(), scale=s.copy())
    got = lrn.lrn_backward(arrays["x"], arrays["y"], arrays["dy"], 3, 2.0,
                           scale=arrays["scale"], out=arrays[alias])
    assert got is arrays[alias]
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("arg", ["x", "y", "dy", "scale"])
def test_backward_partial_overlap_after_good_call(arg):
    x = _x()
    y, s = lrn.lrn(x, 3, 2.0, return_scale=True)
    arrays = dict(x=x, y=y, dy=np.ones_like(x), scale=s)
    n = x.size
    base = np.zeros(n + 1, np.float32)
    base[:n] = arrays[arg].ravel()
    bad = dict(arrays, **{arg: base[:n].reshape(SHAPE)})
    before = base.copy()

    def call(a, out):
        return lrn.lrn_backward(a["x"], a["y"], a["dy"], 3, 2.0, scale=a["scale"], out=out)
    err = _warm_then(lambda: call(arrays, np.empty_like(x)),
                     lambda: call(bad, base[1:].reshape(SHAPE)))
    assert f"`out` shares memory with `{arg}`" in str(err)
    np.testing.assert_array_equal(base, before)


@pytest.mark.parametrize("arg", ["y", "dy", "scale"])
@pytest.mark.parametrize("kind", ["shape", "dtype", "list", "fortran"])
def test_backward_companion_after_good_call(arg, kind):
    x = _x()
    y, s = lrn.lrn(x, 3, 2.0, return_scale=True)
    arrays = dict(y=y, dy=_x(seed=4), scale=s)
    odd = {"shape": lambda a: a.reshape(2, 5, 4, 3), "dtype": lambda a: a.astype(np.float64),
           "list": lambda a: a.tolist(), "fortran": np.asfortranarray}[kind]
    changed = dict(arrays, **{arg: odd(arrays[arg])})

    def call(a):
        return lrn.lrn_backward(x, a["y"], a["dy"], 3, 2.0, scale=a["scale"])
    outcomes = _both(lambda: call(changed))
    _same(outcomes)
    if kind == "fortran":
        np.testing.assert_array_equal(outcomes[1][1], call(arrays))
    else:
        err = _warm_then(lambda: call(arrays), lambda: call(changed))
        assert f"`{arg}`" in str(err)


# -- the kernels' Call: it refuses what does not fit, writing nothing ----------------

def _call(dtype=np.float32, shape=SHAPE):
    problem = _params.make(3).resolve(np.dtype(dtype), len(shape), backward=True)
    return _cpu.call(problem, np.dtype(dtype), shape)


@pytest.mark.parametrize("which", ["dtype", "shape", "fortran", "readonly", "list",
                                   "overlap", "scale_is_y"])
def test_call_refuses_arrays_that_do_not_fit(which):
    x = _x()
    y, s = np.full_like(x, SENTINEL), np.full_like(x, SENTINEL)
    base = np.full(x.size + 1, SENTINEL, np.float32)
    bad = {"dtype": lambda: y.astype(np.float64), "shape": lambda: y.reshape(2, 5, 4, 3),
           "fortran": lambda: np.asfortranarray(y), "readonly": lambda: _readonly(y.copy()),
           "list": lambda: y.tolist(), "overlap": lambda: base[1:].reshape(SHAPE),
           "scale_is_y": lambda: y}[which]()
    c = _call()
    xin = base[:-1].reshape(SHAPE) if which == "overlap" else x
    xin[...] = x
    if which == "scale_is_y":
        assert not c.forward(xin, y, bad, 1)
    else:
        assert not c.forward(xin, bad, None, 1)
        assert not c.forward(xin, y, bad, 1)
        assert not c.backward(xin, xin, xin, None, bad, 1)
    assert (y == SENTINEL).all() and (s == SENTINEL).all()
    if isinstance(bad, np.ndarray) and which not in ("overlap", "scale_is_y"):
        assert (bad == SENTINEL).all()
    assert c.forward(x, y, s, 1) and c.backward(x, y, x, s, y, 2)

"""The parameter contract (lrn._params) on the reproducers of the issue that led to it:
values too large (or too small) for C or for the compute precision give a correct
result or a ValueError naming the argument, never a bare OverflowError, a NaN or
a partly written ``out``; beta reaches the computation as given."""
import re
from fractions import Fraction

import numpy as np
import pytest

import lrn

from .helpers import assert_bwd_close, assert_fwd_close
from .reference import ref_backward, ref_backward_within, ref_forward, ref_forward_within

SEVEN = 7.0


@pytest.fixture
def x():
    return np.random.default_rng(0).random((2, 3, 4, 4)).astype(np.float32)


def refused_or_correct(call, out, names, check):
    """``call()`` (which writes ``out``, full of 7s) either raises a ValueError
    whose message names one of ``names``, with ``out`` untouched, or returns
    ``out`` holding the right result (``check(out)``)."""
    try:
        res = call()
    except ValueError as exc:
        assert any(re.search(n, str(exc)) for n in names), str(exc)
        assert (out == SEVEN).all(), "`out` was written before the error"
        return "refused"
    assert res is out
    check(out)
    return "returned"


# --------------------------------------------------------------------------- reproducer 1

def test_huge_size_within_forward(x):
    out = np.full_like(x, SEVEN)
    refused_or_correct(
        lambda: lrn.lrn(x, 2**63, region="within", out=out), out, [r"alpha/size\*\*2"],
        lambda y: assert_fwd_close(y, ref_forward_within(x, 2**63, 1e-4, 0.75, 1.0)[0],
                                   np.float32))


def test_huge_size_within_backward_with_scale(x):
    y, s = lrn.lrn(x, 3, region="within", return_scale=True)
    dy = np.ones_like(x)
    out = np.full_like(x, SEVEN)

    def check(dx):
        want, mag = ref_backward_within(x, dy, 2**63, 1e-4, 0.75, 1.0, return_terms=True)
        assert_bwd_close(dx, want, mag, np.float32)
    refused_or_correct(lambda: lrn.lrn_backward(x, y, dy, 2**63, region="within",
                                                scale=s, out=out),
                       out, [r"alpha/size\*\*2", r"2\*alpha\*beta/size\*\*2"], check)


# 20 dimensions: 18 spatial axes, alpha divided by size**18 (one position each,
# so the float64 reference stays cheap)
NDIM20 = (1, 2) + (1,) * 18


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("size, alpha", [
    (2**10, 1e-4),       # alpha / size**18 = 1e-4 / 2**180: below float32's normals
    (2**63, 1e-4),       # size**18 = 2**1134: beyond float range, alpha / it underflows
    (1, 1e300),          # alpha / 1: beyond float32's range
    (3, 1e30),           # alpha / 3**18 = 2.6e21: fits, a correct result
])
@pytest.mark.parametrize("direction", ["forward", "backward"])
def test_within_ndim20_alpha_over_size_power(direction, size, alpha, dtype):
    x = np.array([0.5, -2.0], dtype).reshape(NDIM20)
    out = np.full_like(x, SEVEN)
    args = (size, alpha, 0.75, 1.0)
    names = [r"alpha/size\*\*18", r"2\*alpha\*beta/size\*\*18"]
    if direction == "forward":
        outcome = refused_or_correct(
            lambda: lrn.lrn(x, *args, region="within", out=out), out, names,
            lambda y: assert_fwd_close(y, ref_forward_within(x, *args)[0], dtype))
    else:
        with np.errstate(over="ignore"):      # scale = 1e300 is inf in float32
            y, s = (a.astype(dtype) for a in ref_forward_within(x, *args))
        dy = np.full_like(x, 0.25)

        def check(dx):
            want, mag = ref_backward_within(x, dy, *args, return_terms=True)
            assert_bwd_close(dx, want, mag, dtype)
        outcome = refused_or_correct(
            lambda: lrn.lrn_backward(x, y, dy, *args, region="within", scale=s, out=out),
            out, names, check)
    alpha_n = Fraction(alpha) / size**18
    representable = np.finfo(np.float32).tiny <= alpha_n <= np.finfo(np.float32).max
    if dtype == np.float32 and representable:
        assert outcome == "returned"
    if not representable and dtype == np.float32:
        assert outcome == "refused"


# --------------------------------------------------------------------------- reproducer 2

@pytest.mark.parametrize("direction", ["forward", "backward"])
@pytest.mark.parametrize("over, name", [
    (dict(alpha=10**400), "alpha"),
    (dict(alpha=-10**400), "alpha"),
    (dict(beta=10**400), "beta"),
    (dict(bias=10**400), "bias"),
    (dict(num_threads=2**31), "num_threads"),
    (dict(num_threads=-2**31 - 1), "num_threads"),
    (dict(num_threads=2**64), "num_threads"),
    (dict(num_threads=np.uint64(2**63)), "num_threads"),
])
def test_too_large_for_c_is_a_value_error(x, direction, over, name):
    out = np.full_like(x, SEVEN)
    kw = dict(dict(size=3), **over)
    with pytest.raises(ValueError, match=f"`{name}`"):
        if direction == "forward":
            lrn.lrn(x, out=out, **kw)
        else:
            lrn.lrn_backward(x, x, x, out=out, **kw)
    assert (out == SEVEN).all()


@pytest.mark.parametrize("size", [2**31, 2**63, 2**64 + 1, np.int64(2**63 - 1),
                                  np.uint64(2**64 - 1)])
@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_huge_size_across_is_clipped(x, size, layout):
    """size 2**63 is valid: the window covers every channel (clipped to the axis)."""
    args = (size, 2.0, 0.75, 1.0)
    yo = np.full_like(x, SEVEN)
    assert lrn.lrn(x, *args, layout=layout, out=yo) is yo
    want_y, want_s = ref_forward(x, int(size), 2.0, 0.75, 1.0, layout)
    assert_fwd_close(yo, want_y, np.float32)
    dy = np.ones_like(x)
    dx = np.full_like(x, SEVEN)
    assert lrn.lrn_backward(x, yo, dy, *args, layout=layout, out=dx) is dx
    want, mag = ref_backward(x, dy, int(size), 2.0, 0.75, 1.0, layout, return_terms=True)
    assert_bwd_close(dx, want, mag, np.float32)


def test_num_threads_at_the_c_int_limit(x):
    """2**31 - 1 threads is a valid request (OpenMP caps it); results do not depend on it."""
    want = ref_forward(x, 3, 1.0, 0.75, 1.0)[0]
    assert_fwd_close(lrn.lrn(x, 3, 1.0, num_threads=-(2**31 - 1)), want, np.float32)


# --------------------------------------------------------------------------- reproducer 3

@pytest.mark.parametrize("x, size, alpha", [
    (np.zeros((1, 3, 1), np.float32), 3, 1e300),            # alpha/size = 3.3e299
    (np.array([[[0.], [1.], [0.]]], np.float32), 1, 1e39),    # alpha/size = 1e39
    (np.ones((1, 3, 1), np.float16), 1, 1e39),
    (np.ones((1, 3, 1), np.float32), 4, 1e-38),              # alpha/size = 2.5e-39: subnormal
])
@pytest.mark.parametrize("direction", ["forward", "backward"])
def test_alpha_over_size_beyond_float32_is_refused(x, size, alpha, direction):
    out = np.full_like(x, SEVEN)
    with pytest.raises(ValueError, match=r"alpha/size = .* does not fit float(32|16) data"):
        if direction == "forward":
            lrn.lrn(x, size, alpha=alpha, out=out)
        else:
            lrn.lrn_backward(x, x, x, size, alpha=alpha, out=out)
    assert (out == SEVEN).all()
    # the same in float64 is no error (and no NaN where x is finite)
    y = lrn.lrn(x.astype(np.float64), size, alpha=alpha)
    assert not np.isnan(y).any()


@pytest.mark.parametrize("over, name", [(dict(bias=1e39), "bias"), (dict(bias=1e-40), "bias"),
                                        (dict(bias=-1e39), "bias")])
def test_bias_beyond_float32_is_refused(x, over, name):
    out = np.full_like(x, SEVEN)
    with pytest.raises(ValueError, match=f"{name} = .* does not fit float32 data"):
        lrn.lrn(x, 3, out=out, **over)
    assert (out == SEVEN).all()


def test_gradient_coefficient_beyond_float32_is_refused(x):
    """2*alpha*beta/size overflows float32 while alpha/size fits: only the backward
    pass needs it."""
    args = (1, 3e38, 1e10, 1.0)
    lrn.lrn(np.zeros_like(x), *args)              # the forward pass does not need it
    out = np.full_like(x, SEVEN)
    with pytest.raises(ValueError, match=r"2\*alpha\*beta/size = .* does not fit float32"):
        lrn.lrn_backward(x, x, x, *args, out=out)
    assert (out == SEVEN).all()


# --------------------------------------------------------------------------- reproducer 4

def test_beta_reaches_float32_kernels_as_a_double():
    """beta = 2.9999999999999996 is not 3: (-1) ** -beta is NaN, as in float64.

    Fails until the kernels take beta as a double (a change in progress on
    the kernels branch): rounded to float32 it is 3.0, and (-1) ** -3 = -1.
    """
    x = np.ones((1, 1, 1), np.float32)
    args = (1, 1e-4, 2.9999999999999996, -1.0)
    assert np.isnan(lrn.lrn(x.astype(np.float64), *args)).all()
    assert np.isnan(lrn.lrn(x, *args)).all()


def test_tiny_beta_is_not_zero():
    """beta = 1e-300 (0 in float32): 0 * 0 ** -1e-300 = 0 * inf = NaN, as in float64."""
    x = np.zeros((1, 1, 1), np.float32)
    args = (1, 1e-4, 1e-300, 0.0)
    assert np.isnan(lrn.lrn(x.astype(np.float64), *args)).all()
    assert np.isnan(lrn.lrn(x, *args)).all()


# -- one rule for case in string options ---------------------------------------

@pytest.mark.parametrize("kw, same", [
    (dict(layout="nchw"), dict(layout="NCHW")),
    (dict(layout="nhwc"), dict(layout="NHWC")),
    (dict(convention="TORCH"), dict(convention="torch")),
    (dict(region="WITHIN"), dict(region="within")),
])
def test_string_options_in_either_case(x, kw, same):
    xl = np.ascontiguousarray(x.transpose(0, 2, 3, 1)) if "nhwc" in kw.values() else x
    np.testing.assert_array_equal(lrn.lrn(xl, 4, 2.0, **kw), lrn.lrn(xl, 4, 2.0, **same))
    dy = np.ones_like(xl)
    y = lrn.lrn(xl, 4, 2.0, **same)
    np.testing.assert_array_equal(lrn.lrn_backward(xl, y, dy, 4, 2.0, **kw),
                                  lrn.lrn_backward(xl, y, dy, 4, 2.0, **same))


@pytest.mark.parametrize("name, value", [("layout", "Nchw"), ("layout", "nChW"),
                                         ("convention", "Onnx"), ("region", "Across"),
                                         ("layout", "NCHW ")])
def test_string_options_not_in_mixed_case(x, name, value):
    with pytest.raises(ValueError, match=f"`{name}` must be .* case\\), got {value!r}"):
        lrn.lrn(x, 3, **{name: value})


def test_case_rule_is_the_same_in_every_entry_point(x):
    from lrn.ops import LRN, LRNGradient

    y = lrn.lrn(np.ascontiguousarray(x.transpose(0, 2, 3, 1)), 3, layout="NHWC")
    for layout in ("nhwc", "NHWC"):
        assert LRN(3, order=layout).order == "NHWC"
        assert LRNGradient(3, order=layout).order == "NHWC"
    xl = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    np.testing.assert_array_equal(LRN(3, order="nhwc").run(xl), y)
    np.testing.assert_array_equal(
        lrn.caffe_lrn(x, 3, norm_region="within_channel"),
        lrn.caffe_lrn(x, 3, norm_region="WITHIN_CHANNEL"))
    with pytest.raises(ValueError, match="`order`"):
        LRN(3, order="Nhwc")

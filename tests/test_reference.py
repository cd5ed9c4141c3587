"""Self-checks of the float64 reference (no dependency on the package)."""
import numpy as np
import pytest

from .helpers import fd_gradient, make_shape
from .reference import (CONVENTIONS, LAYOUTS, caffe_backward_unmirrored, ref_backward,
                       ref_forward, window_bounds)


def test_window_table():
    # design.md section 1 table
    assert window_bounds(5, "onnx") == (2, 2)
    assert window_bounds(5, "torch") == (2, 2)
    assert window_bounds(4, "onnx") == (1, 2)
    assert window_bounds(4, "torch") == (2, 1)
    assert window_bounds(1, "onnx") == (0, 0)
    assert window_bounds(2, "onnx") == (0, 1)
    assert window_bounds(2, "torch") == (1, 0)


def test_forward_hand_computed():
    # N=1, C=4, no spatial; size 2; alpha=2 so alpha/n = 1; beta=1; bias=1
    x = np.array([[1.0, 2.0, 3.0, 4.0]])
    y, s = ref_forward(x, 2, 2.0, 1.0, 1.0, convention="onnx")   # W(c) = [c, c+1]
    np.testing.assert_array_equal(s, [[1 + 1 + 4, 1 + 4 + 9, 1 + 9 + 16, 1 + 16]])
    np.testing.assert_array_equal(y, x / s)
    y, s = ref_forward(x, 2, 2.0, 1.0, 1.0, convention="torch")  # W(c) = [c-1, c]
    np.testing.assert_array_equal(s, [[1 + 1, 1 + 1 + 4, 1 + 4 + 9, 1 + 9 + 16]])
    # size 3 symmetric, beta 0.5, bias 2, alpha 3 (alpha/n = 1)
    y, s = ref_forward(x, 3, 3.0, 0.5, 2.0)
    np.testing.assert_array_equal(s, [[2 + 1 + 4, 2 + 1 + 4 + 9, 2 + 4 + 9 + 16, 2 + 9 + 16]])
    np.testing.assert_allclose(y, x / np.sqrt(s), rtol=1e-15)


@pytest.mark.parametrize("convention", CONVENTIONS)
def test_layouts_agree(convention):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 6, 3, 4))
    dy = rng.standard_normal(x.shape)
    y1, s1 = ref_forward(x, 4, 1.3, 0.6, 1.0, "NCHW", convention)
    xt = np.moveaxis(x, 1, -1)
    y2, s2 = ref_forward(xt, 4, 1.3, 0.6, 1.0, "NHWC", convention)
    np.testing.assert_array_equal(np.moveaxis(y2, -1, 1), y1)
    np.testing.assert_array_equal(np.moveaxis(s2, -1, 1), s1)
    d1 = ref_backward(x, dy, 4, 1.3, 0.6, 1.0, "NCHW", convention)
    d2 = ref_backward(xt, np.moveaxis(dy, 1, -1), 4, 1.3, 0.6, 1.0, "NHWC", convention)
    np.testing.assert_allclose(np.moveaxis(d2, -1, 1), d1, rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("convention", CONVENTIONS)
@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 6, 9])
@pytest.mark.parametrize("beta", [0.75, 0.6, 2.0])
def test_reference_backward_matches_fd(layout, convention, size, beta):
    rng = np.random.default_rng(size * 10 + int(beta * 4))
    shape = make_shape(2, 7, (2,), layout)
    x = rng.standard_normal(shape)
    dy = rng.standard_normal(shape)
    args = (size, 1.7, beta, 1.0, layout, convention)
    fd = fd_gradient(lambda z: ref_forward(z, *args)[0], x, dy)
    dx = ref_backward(x, dy, *args)
    np.testing.assert_allclose(dx, fd, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("convention", CONVENTIONS)
@pytest.mark.parametrize("size", [2, 4, 6])
def test_fd_detects_caffe_even_size_bug(convention, size):
    """The finite-difference check is strong enough to reject the non-mirrored window."""
    rng = np.random.default_rng(size)
    x = rng.standard_normal((2, 8, 3))
    dy = rng.standard_normal(x.shape)
    args = (size, 1.7, 0.75, 1.0, "NCHW", convention)
    fd = fd_gradient(lambda z: ref_forward(z, *args)[0], x, dy)
    wrong = caffe_backward_unmirrored(x, dy, *args)
    err = np.abs(wrong - fd).max()
    assert err > 1e-2, err   # far outside the 1e-6 tolerance the FD tests use
    with pytest.raises(AssertionError):
        np.testing.assert_allclose(wrong, fd, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("size", [1, 3, 5])
def test_caffe_formula_correct_for_odd_sizes(size):
    rng = np.random.default_rng(size)
    x = rng.standard_normal((2, 8, 3))
    dy = rng.standard_normal(x.shape)
    args = (size, 1.7, 0.75, 1.0, "NCHW", "onnx")
    np.testing.assert_allclose(caffe_backward_unmirrored(x, dy, *args),
                               ref_backward(x, dy, *args), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("convention", CONVENTIONS)
@pytest.mark.parametrize("size", [1, 2, 3, 4])
@pytest.mark.parametrize("spatial", [(5,), (4, 3), (3, 2, 3)])
def test_reference_within_backward_matches_fd(spatial, size, convention, layout):
    from .reference import ref_backward_within, ref_forward_within
    rng = np.random.default_rng(size)
    shape = make_shape(1, 2, spatial, layout)
    x = rng.standard_normal(shape)
    dy = rng.standard_normal(shape)
    args = (size, 2.5, 0.75, 1.0, layout, convention)
    fd = fd_gradient(lambda z: ref_forward_within(z, *args)[0], x, dy)
    np.testing.assert_allclose(ref_backward_within(x, dy, *args), fd, rtol=1e-6, atol=1e-8)


def test_reference_within_hand_computed():
    from .reference import ref_forward_within
    # one channel, 1-D spatial [1, 2, 3, 4]; size 2 onnx: box [p, p+1]; alpha/n = 1
    x = np.array([[[1.0, 2.0, 3.0, 4.0]]])
    y, s = ref_forward_within(x, 2, 2.0, 1.0, 1.0)
    np.testing.assert_array_equal(s, [[[6, 14, 26, 17]]])
    # 2-D spatial, size 3: alpha divided by 3**2
    x = np.ones((1, 1, 3, 3))
    y, s = ref_forward_within(x, 3, 9.0, 1.0, 0.0)
    np.testing.assert_array_equal(s, [[[[4, 6, 4], [6, 9, 6], [4, 6, 4]]]])

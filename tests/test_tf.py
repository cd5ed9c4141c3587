"""lrn.tf_lrn / lrn.tf_lrn_grad: TensorFlow's LRN and LRNGrad on the lrn kernels.

The float64 reference checks run everywhere; the comparisons with
tf.nn.local_response_normalization, tf.GradientTape and tf.raw_ops.LRNGrad run
when TensorFlow is installed (extra ``tf``) and are skipped otherwise.
"""
import numpy as np
import pytest

from .helpers import assert_bwd_close, assert_fwd_close, ref_backward, ref_forward, rng_for

from lrn import tf_lrn, tf_lrn_grad

RADII = (0, 1, 2, 3, 4, 5)
SHAPE = (2, 3, 4, 9)                      # NHWC, C = 9 (radius 5 reaches past both edges)


def _ref(x, r, bias, alpha, beta):
    """TensorFlow's formula through the independent float64 reference:
    window 2r + 1, alpha not divided (so lrn's alpha is alpha * (2r + 1))."""
    size = 2 * r + 1
    return ref_forward(x, size, alpha * size, beta, bias, "NHWC", "onnx")[0]


def _ref_grad(x, dy, r, bias, alpha, beta):
    size = 2 * r + 1
    return ref_backward(x, dy, size, alpha * size, beta, bias, "NHWC", "onnx",
                        return_terms=True)


def _data(dtype, *parts, shape=SHAPE):
    rng = rng_for("tf", *parts, np.dtype(dtype).name)
    return ((rng.standard_normal(shape) * 1.5).astype(dtype),
            rng.standard_normal(shape).astype(dtype))


# -- against the float64 reference (no TensorFlow needed) -------------------------

@pytest.mark.parametrize("dtype", (np.float16, np.float32, np.float64))
@pytest.mark.parametrize("r", RADII)
def test_matches_tf_formula(r, dtype):
    x, dy = _data(dtype, "ref", r)
    bias, alpha, beta = 1.5, 0.3, 0.75
    y = tf_lrn(x, r, bias, alpha, beta)
    assert_fwd_close(y, _ref(x, r, bias, alpha, beta), dtype)
    dx = tf_lrn_grad(dy, x, y, r, bias, alpha, beta)
    want, mag = _ref_grad(x, dy, r, bias, alpha, beta)
    assert_bwd_close(dx, want, mag, dtype)


def test_defaults_are_tensorflows():
    x, _ = _data(np.float64, "defaults")
    y = tf_lrn(x)                         # depth_radius=5, bias=1, alpha=1, beta=0.5
    np.testing.assert_allclose(y, _ref(x, 5, 1.0, 1.0, 0.5), rtol=1e-12, atol=0)
    y_kw = tf_lrn(x, depth_radius=5, bias=1.0, alpha=1.0, beta=0.5)
    assert np.array_equal(y, y_kw)


def test_window_is_symmetric_and_alpha_not_divided():
    C, c = 9, 4
    for j in range(C):
        if j == c:
            continue
        x = np.zeros((1, 1, 1, C))
        x[..., c], x[..., j] = 1.0, 10.0
        y = tf_lrn(x, depth_radius=2, bias=1.0, alpha=1.0, beta=1.0)[0, 0, 0, c]
        inside = abs(j - c) <= 2
        assert y == pytest.approx(1.0 / (1.0 + 1.0 + 100.0 * inside))


def test_other_ndim_and_bfloat16():
    x, dy = _data(np.float32, "nd", shape=(3, 7))
    np.testing.assert_allclose(tf_lrn(x, 1, 2.0, 0.5, 0.75), _ref(x, 1, 2.0, 0.5, 0.75),
                               rtol=3e-6, atol=0)
    ml_dtypes = pytest.importorskip("ml_dtypes")
    xb = x.astype(ml_dtypes.bfloat16)
    yb = tf_lrn(xb, 1, 2.0, 0.5, 0.75)
    assert yb.dtype == xb.dtype
    np.testing.assert_allclose(yb.astype(np.float64), _ref(xb.astype(np.float64), 1, 2.0,
                                                            0.5, 0.75), rtol=2.0 ** -8, atol=0)
    dxb = tf_lrn_grad(dy.astype(ml_dtypes.bfloat16), xb, yb, 1, 2.0, 0.5, 0.75)
    assert dxb.dtype == xb.dtype and dxb.shape == xb.shape


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(depth_radius=-1), ValueError, "`depth_radius` must be a non-negative integer, got -1"),
    (dict(depth_radius=1.5), TypeError, "`depth_radius`"),
    (dict(depth_radius=True), TypeError, "`depth_radius`"),
    (dict(alpha=float("nan")), ValueError, "`alpha` must be a finite real number"),
    (dict(beta="0.5"), TypeError, "`beta` must be a real number"),
    (dict(bias=None), TypeError, "`bias` must be a real number"),
])
def test_errors(kwargs, exc, match):
    x = np.ones((1, 2, 2, 3), np.float32)
    with pytest.raises(exc, match=match):
        tf_lrn(x, **kwargs)
    with pytest.raises(exc, match=match):
        tf_lrn_grad(x, x, x, **kwargs)


def test_non_float_input():
    # lrn.lrn's rule: integers promoted as np.sqrt promotes them; complex refused
    x = np.arange(12, dtype=np.int16).reshape(1, 2, 2, 3)
    y = tf_lrn(x)
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y, tf_lrn(x.astype(np.float32)))
    with pytest.raises(TypeError, match="dtype"):
        tf_lrn(np.ones((1, 2, 2, 3), np.complex128))


# -- against TensorFlow --------------------------------------------------------------

@pytest.fixture(scope="module")
def tf():
    return pytest.importorskip("tensorflow")


PARAMS = [(1.0, 1.0, 0.5), (1.5, 0.3, 0.75), (2.0, 1e-2, 1.0), (0.8, 0.1, 0.6)]


@pytest.mark.parametrize("bias, alpha, beta", PARAMS)
@pytest.mark.parametrize("r", RADII)
def test_matches_tensorflow(tf, r, bias, alpha, beta):
    x, dy = _data(np.float32, "tf", r, bias)
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        yt = tf.nn.local_response_normalization(xt, depth_radius=r, bias=bias,
                                                alpha=alpha, beta=beta)
    gt = tape.gradient(yt, xt, output_gradients=tf.constant(dy)).numpy()
    yt = yt.numpy()
    y = tf_lrn(x, r, bias, alpha, beta)
    np.testing.assert_allclose(y, yt, rtol=1e-5, atol=1e-7)
    dx = tf_lrn_grad(dy, x, y, r, bias, alpha, beta)
    _, mag = _ref_grad(x, dy, r, bias, alpha, beta)
    err = np.abs(dx.astype(np.float64) - gt)
    assert (err <= 1e-5 * (mag + np.abs(gt)) + 1e-7).all(), float(err.max())
    # TensorFlow's LRNGrad op with exactly these inputs
    raw = tf.raw_ops.LRNGrad(input_grads=dy, input_image=x, output_image=y,
                             depth_radius=r, bias=bias, alpha=alpha, beta=beta).numpy()
    assert (np.abs(dx.astype(np.float64) - raw) <= 1e-5 * (mag + np.abs(raw)) + 1e-7).all()


def test_tensorflow_radius_beyond_channels(tf):
    x, _ = _data(np.float32, "wide", shape=(2, 3, 3, 4))
    yt = tf.nn.local_response_normalization(x, depth_radius=7, bias=1.0, alpha=0.2, beta=0.75)
    np.testing.assert_allclose(tf_lrn(x, 7, 1.0, 0.2, 0.75), yt.numpy(), rtol=1e-5, atol=1e-7)


def test_tensorflow_float16(tf):
    x, _ = _data(np.float16, "half")
    yt = tf.nn.local_response_normalization(x, depth_radius=2, bias=1.0, alpha=0.3, beta=0.75)
    y = tf_lrn(x, 2, 1.0, 0.3, 0.75)
    assert y.dtype == np.float16
    np.testing.assert_allclose(y.astype(np.float32), yt.numpy().astype(np.float32),
                               rtol=4e-3, atol=1e-4)


def test_tf_tensor_in_tf_tensor_out(tf):
    x, dy = _data(np.float32, "tensor")
    y = tf_lrn(tf.constant(x), 2)
    assert isinstance(y, tf.Tensor) and y.dtype == tf.float32
    assert np.array_equal(y.numpy(), tf_lrn(x, 2))
    dx = tf_lrn_grad(tf.constant(dy), tf.constant(x), y, 2)
    assert isinstance(dx, tf.Tensor)
    assert np.array_equal(dx.numpy(), tf_lrn_grad(dy, x, y.numpy(), 2))


def test_tensorflow_bfloat16(tf):
    # TensorFlow has no CPU LRN kernel for bfloat16 (only half and float): compare
    # with its float32 result on the same (bfloat16) values
    x, _ = _data(np.float32, "bf16")
    xb = tf.cast(tf.constant(x), tf.bfloat16)
    y = tf_lrn(xb, 2, 1.0, 0.3, 0.75)
    assert isinstance(y, tf.Tensor) and y.dtype == tf.bfloat16
    yt = tf.nn.local_response_normalization(tf.cast(xb, tf.float32), depth_radius=2,
                                            bias=1.0, alpha=0.3, beta=0.75)
    np.testing.assert_allclose(tf.cast(y, tf.float32).numpy(), yt.numpy(),
                               rtol=2.0 ** -8, atol=0)


def test_interop_imports_are_lazy():
    # `import lrn`, `lrn.interop.tf` and `lrn.onnx` never import a framework
    import subprocess
    import sys
    code = ("import sys, lrn, lrn.interop.tf, lrn.onnx; "
            "bad = [m for m in ('tensorflow', 'torch', 'onnx', 'onnxruntime') "
            "if m in sys.modules]; assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)

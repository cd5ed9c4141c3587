"""lrn.tf_lrn / lrn.tf_lrn_grad (TensorFlow operations) and the Keras layer.

Checked against the independent float64 reference, against TensorFlow's own
``tf.nn.local_response_normalization`` / ``tf.raw_ops.LRNGrad`` (values, first
derivatives), and, for second and third derivatives (which TensorFlow's own LRN
does not have), against TensorFlow's autodiff of TensorFlow's formula written
in plain TensorFlow operations and against finite differences.  Everything but
the missing-TensorFlow message needs TensorFlow (extra ``tf``).
"""
import subprocess
import sys

import numpy as np
import pytest

from .helpers import BF16, assert_bwd_close, assert_fwd_close, ref_backward, ref_forward, \
    rng_for

import lrn
from lrn import tf_lrn, tf_lrn_grad

RADII = (0, 1, 2, 5)
SHAPE = (2, 3, 4, 9)                      # NHWC, C = 9 (radius 5 reaches past both edges)
PARAMS = [(1.0, 1.0, 0.5), (1.5, 0.3, 0.75), (2.0, 1e-2, 1.0), (0.8, 0.1, 0.6)]


def test_without_tensorflow_says_how_to_install_and_what_to_use():
    code = ("import sys; sys.modules['tensorflow'] = None\n"
            "import numpy as np, lrn\n"
            "try:\n    lrn.tf_lrn(np.ones((1, 1, 1, 3)))\nexcept ImportError as e:\n"
            "    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert "pip install 'lrnorm[tf]'" in out.stdout and "layout='NHWC'" in out.stdout


def test_interop_imports_are_lazy():
    # `import lrn`, `lrn.interop.tf` and `lrn.onnx` never import a framework
    code = ("import sys, lrn, lrn.interop.tf, lrn.onnx; "
            "bad = [m for m in ('tensorflow', 'keras', 'torch', 'onnx', 'onnxruntime') "
            "if m in sys.modules]; assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


tf = pytest.importorskip("tensorflow")


def _ref(x, r, bias, alpha, beta):
    """TensorFlow's formula through the independent float64 reference:
    window 2r + 1, alpha not divided (so lrn's alpha is alpha * (2r + 1))."""
    size = 2 * r + 1
    return ref_forward(np.asarray(x, np.float64), size, alpha * size, beta, bias, "NHWC",
                       "onnx")[0]


def _ref_grad(x, dy, r, bias, alpha, beta):
    size = 2 * r + 1
    return ref_backward(np.asarray(x, np.float64), np.asarray(dy, np.float64), size,
                        alpha * size, beta, bias, "NHWC", "onnx", return_terms=True)


def _data(dtype, *parts, shape=SHAPE):
    rng = rng_for("tf", *parts, np.dtype(dtype).name)
    return ((rng.standard_normal(shape) * 1.5).astype(dtype),
            rng.standard_normal(shape).astype(dtype))


def _formula(x, r, bias, alpha, beta):
    """TensorFlow's LRN in plain TensorFlow operations (shifted slices of the
    zero-padded squares): what TensorFlow's autodiff differentiates to any order."""
    C = x.shape[-1]
    r = min(r, C - 1)
    sq = tf.pad(x * x, [[0, 0]] * (x.shape.rank - 1) + [[r, r]])
    sqr_sum = tf.add_n([sq[..., k:k + C] for k in range(2 * r + 1)])
    return x / (bias + alpha * sqr_sum) ** beta


def _formula_grad(dy, x, y, r, bias, alpha, beta):
    """TensorFlow's LRNGrad(dy, x, y) in plain TensorFlow operations."""
    C = x.shape[-1]
    r = min(r, C - 1)

    def window(v):
        v = tf.pad(v, [[0, 0]] * (v.shape.rank - 1) + [[r, r]])
        return tf.add_n([v[..., k:k + C] for k in range(2 * r + 1)])
    s = bias + alpha * window(x * x)
    return dy * s ** -beta - 2 * alpha * beta * x * window(dy * y / s)


def _max_rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


# -- values and first derivatives -------------------------------------------------

TF_DTYPES = [np.float16, np.float32, np.float64] + ([BF16] if BF16 is not None else [])


@pytest.mark.parametrize("dtype", TF_DTYPES, ids=lambda t: np.dtype(t).name)
@pytest.mark.parametrize("r", RADII)
def test_matches_reference(r, dtype):
    x, dy = _data(dtype, "ref", r)
    bias, alpha, beta = 1.5, 0.3, 0.75
    y = tf_lrn(tf.constant(x), r, bias, alpha, beta)
    assert isinstance(y, tf.Tensor) and y.dtype.as_numpy_dtype == dtype
    assert_fwd_close(y.numpy(), _ref(x, r, bias, alpha, beta), dtype)
    dx = tf_lrn_grad(tf.constant(dy), tf.constant(x), y, r, bias, alpha, beta)
    want, mag = _ref_grad(x, dy, r, bias, alpha, beta)
    assert_bwd_close(dx.numpy(), want, mag, dtype)
    # the gradient of tf_lrn is tf_lrn_grad on its own output
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        y2 = tf_lrn(xt, r, bias, alpha, beta)
    g = tape.gradient(y2, xt, output_gradients=tf.constant(dy))
    assert np.array_equal(g.numpy().view(np.uint16 if dtype in (np.float16, BF16) else
                                         np.dtype(dtype)), dx.numpy().view(
        np.uint16 if dtype in (np.float16, BF16) else np.dtype(dtype)))


@pytest.mark.parametrize("bias, alpha, beta", PARAMS)
@pytest.mark.parametrize("r", RADII)
@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_matches_tensorflow(dtype, r, bias, alpha, beta):
    """Values and gradients against TensorFlow's own operator (half and float)."""
    x, dy = _data(dtype, "tf", r, bias)
    xt = tf.constant(x)
    tapes = {}
    for who, fn in (("tf", tf.nn.local_response_normalization), ("lrn", tf_lrn)):
        with tf.GradientTape() as tape:
            tape.watch(xt)
            y = fn(xt, depth_radius=r, bias=bias, alpha=alpha, beta=beta)
        tapes[who] = y.numpy(), tape.gradient(y, xt, output_gradients=tf.constant(dy)).numpy()
    (y, g), (yt, gt) = tapes["lrn"], tapes["tf"]
    assert y.dtype == yt.dtype == dtype and g.dtype == gt.dtype == dtype
    tol = dict(rtol=1e-5, atol=1e-7) if dtype == np.float32 else dict(rtol=2e-3, atol=1e-3)
    np.testing.assert_allclose(y.astype(np.float64), yt.astype(np.float64), **tol)
    _, mag = _ref_grad(x, dy, r, bias, alpha, beta)
    err = np.abs(g.astype(np.float64) - gt)
    assert (err <= tol["rtol"] * (mag + np.abs(gt)) + tol["atol"]).all(), float(err.max())
    raw = tf.raw_ops.LRNGrad(input_grads=dy, input_image=x, output_image=y, depth_radius=r,
                             bias=bias, alpha=alpha, beta=beta).numpy()
    ours = tf_lrn_grad(input_grads=dy, input_image=x, output_image=y, depth_radius=r,
                       bias=bias, alpha=alpha, beta=beta).numpy()
    err = np.abs(ours.astype(np.float64) - raw)
    assert (err <= tol["rtol"] * (mag + np.abs(raw)) + tol["atol"]).all(), float(err.max())


def test_defaults_signature_and_name():
    import inspect
    want = inspect.signature(tf.nn.local_response_normalization).parameters
    have = inspect.signature(tf_lrn).parameters
    assert list(have)[:len(want)] == list(want)
    assert [have[k].default for k in want] == [want[k].default for k in want]
    x, _ = _data(np.float32, "defaults")
    np.testing.assert_allclose(tf_lrn(input=x).numpy(), _ref(x, 5, 1.0, 1.0, 0.5),
                               rtol=3e-6, atol=0)
    raw = inspect.signature(tf.raw_ops.LRNGrad).parameters
    assert list(inspect.signature(tf_lrn_grad).parameters)[:len(raw)] == list(raw)

    names = []

    @tf.function
    def named(x):
        outs = tf_lrn(x, name="my_lrn"), tf_lrn_grad(x, x, x, name="my_grad"), tf_lrn(x)
        names.extend(t.name for t in outs)
        return outs
    named.get_concrete_function(tf.TensorSpec([1, 2, 2, 3]))
    assert names == ["my_lrn:0", "my_grad:0", "LRN:0"]


def test_issue_reproducers():
    """Gradients were None, tf.function raised TypeError, input= and name= failed."""
    x = tf.Variable(np.random.default_rng(1).standard_normal((2, 4, 4, 6)).astype(np.float32))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(lrn.tf_lrn(x, 2) ** 2)
    g = tape.gradient(loss, x)
    with tf.GradientTape() as tape:
        loss_tf = tf.reduce_sum(tf.nn.local_response_normalization(x, 2) ** 2)
    np.testing.assert_allclose(g.numpy(), tape.gradient(loss_tf, x).numpy(), rtol=1e-5,
                               atol=1e-6)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(lrn.tf_lrn(input=x, depth_radius=2, name="lrn") ** 2)
        return loss, tape.gradient(loss, x)
    loss_g, g_g = step()
    np.testing.assert_allclose(loss_g.numpy(), loss_tf.numpy(), rtol=1e-5)
    np.testing.assert_allclose(g_g.numpy(), g.numpy(), rtol=1e-6, atol=1e-7)


def test_graph_mode_static_shape_and_unknown_shapes():
    seen = {}

    @tf.function(input_signature=[tf.TensorSpec([None, 4, None, 5], tf.float32)])
    def partial(x):
        y = tf_lrn(x, 1)
        dx = tf_lrn_grad(tf.ones_like(x), x, y, 1)
        seen["y"], seen["dx"] = y.shape, dx.shape
        return y

    @tf.function(input_signature=[tf.TensorSpec(None, tf.float32)])
    def unknown_rank(x):
        return tf_lrn(x, 1)
    x, _ = _data(np.float32, "shape", shape=(2, 4, 3, 5))
    y = partial(x)
    assert seen["y"].as_list() == seen["dx"].as_list() == [None, 4, None, 5]
    assert np.array_equal(y.numpy(), tf_lrn(x, 1).numpy())
    assert np.array_equal(unknown_rank(x).numpy(), y.numpy())


def test_conversions_follow_tensorflow():
    """Non-tensors are converted as TensorFlow's LRN converts them; tensors keep
    their dtype (float64 too, which TensorFlow's LRN refuses)."""
    base = np.random.default_rng(2).standard_normal((1, 2, 2, 4))
    for value in (base, base.astype(np.float16), base.astype(np.float32),
                  (base * 10).astype(np.int32), (base * 10).astype(np.int32).tolist(),
                  base.tolist()):
        want = tf.nn.local_response_normalization(value, 1)
        got = tf_lrn(value, 1)
        assert got.dtype == want.dtype
        np.testing.assert_allclose(got.numpy().astype(np.float64),
                                   want.numpy().astype(np.float64), rtol=2e-3)
    y64 = tf_lrn(tf.constant(base), 1)
    assert y64.dtype == tf.float64
    np.testing.assert_allclose(y64.numpy(), _ref(base, 1, 1.0, 1.0, 0.5), rtol=1e-12)
    # LRNGrad's other inputs take input_image's dtype, as TensorFlow's op does
    dx = tf_lrn_grad(base.astype(np.float16), tf.constant(base, tf.float16),
                     base.astype(np.float16), 1)
    assert dx.dtype == tf.float16


def test_bfloat16_against_tensorflow_float32():
    # TensorFlow has no CPU LRN kernel for bfloat16 (only half and float): compare
    # with its float32 result on the same (bfloat16) values
    x, _ = _data(np.float32, "bf16")
    xb = tf.cast(tf.constant(x), tf.bfloat16)
    y = tf_lrn(xb, 2, 1.0, 0.3, 0.75)
    assert y.dtype == tf.bfloat16
    yt = tf.nn.local_response_normalization(tf.cast(xb, tf.float32), depth_radius=2,
                                            bias=1.0, alpha=0.3, beta=0.75)
    np.testing.assert_allclose(tf.cast(y, tf.float32).numpy(), yt.numpy(),
                               rtol=2.0 ** -8, atol=0)


# -- second and third derivatives -------------------------------------------------

def _hvp(fn, x, w, v):
    """Hessian of sum(w * fn(x)) times v, and the gradient, through nested tapes."""
    with tf.GradientTape() as outer:
        outer.watch(x)
        with tf.GradientTape() as inner:
            inner.watch(x)
            loss = tf.reduce_sum(w * fn(x))
        g = inner.gradient(loss, x)
        gv = tf.reduce_sum(g * v)
    return g, outer.gradient(gv, x)


def test_tensorflows_own_lrn_has_no_second_derivative():
    # what the docs say: ours is differentiable again, TensorFlow's is not
    x = tf.ones((1, 1, 2, 3))
    with pytest.raises(LookupError, match="LRNGrad"):
        _hvp(lambda t: tf.nn.local_response_normalization(t, 1), x, x, x)


@pytest.mark.parametrize("bias, alpha, beta", PARAMS)
@pytest.mark.parametrize("r", (0, 1, 3))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_second_derivatives_match_tensorflow_autodiff(dtype, r, bias, alpha, beta):
    rng = rng_for("hvp", r, bias, np.dtype(dtype).name)
    x, w, v = (tf.constant(rng.standard_normal((2, 2, 3, 7)).astype(dtype)) for _ in range(3))
    kw = dict(depth_radius=r, bias=bias, alpha=alpha, beta=beta)
    g, h = _hvp(lambda t: tf_lrn(t, **kw), x, w, v)
    g_ref, h_ref = _hvp(lambda t: _formula(tf.cast(t, tf.float64), r, bias, alpha, beta),
                        tf.cast(x, tf.float64), tf.cast(w, tf.float64), tf.cast(v, tf.float64))
    tol = 1e-11 if dtype == np.float64 else 3e-5
    assert _max_rel(g, g_ref) < tol and _max_rel(h, h_ref) < tol, \
        (_max_rel(g, g_ref), _max_rel(h, h_ref))


def test_second_derivatives_in_tf_function_and_half():
    x, w = _data(np.float32, "hvp-fn", shape=(1, 2, 2, 6))

    @tf.function
    def hvp(x, w):
        return _hvp(lambda t: tf_lrn(t, 2, 1.2, 0.4, 0.75), x, w, w)[1]
    want = _hvp(lambda t: _formula(t, 2, 1.2, 0.4, 0.75), tf.constant(x, tf.float64),
                tf.constant(w, tf.float64), tf.constant(w, tf.float64))[1]
    assert _max_rel(hvp(tf.constant(x), tf.constant(w)), want) < 3e-5
    h16 = _hvp(lambda t: tf_lrn(t, 2, 1.2, 0.4, 0.75), *(tf.constant(a, tf.float16)
                                                        for a in (x, w, w)))[1]
    assert h16.dtype == tf.float16 and _max_rel(h16, want) < 1e-2


@pytest.mark.parametrize("r, bias, alpha, beta", [(1, 1.5, 0.3, 0.75), (2, 0.8, 0.1, 0.6)])
def test_lrn_grad_is_differentiable_in_each_input(r, bias, alpha, beta):
    """tf_lrn_grad's gradients with respect to input_grads, input_image and
    output_image (independent inputs): TensorFlow's autodiff of LRNGrad's formula,
    and finite differences (tf.test.compute_gradient) in float64."""
    rng = rng_for("grad-grad", r)
    dy, x, y, g = (tf.constant(rng.standard_normal((1, 2, 2, 5))) for _ in range(4))
    kw = dict(depth_radius=r, bias=bias, alpha=alpha, beta=beta)
    grads = {}
    for who, fn in (("lrn", lambda *a: tf_lrn_grad(*a, **kw)),
                    ("formula", lambda *a: _formula_grad(*a, r, bias, alpha, beta))):
        with tf.GradientTape() as tape:
            tape.watch([dy, x, y])
            out = fn(dy, x, y)
        grads[who] = tape.gradient(out, [dy, x, y], output_gradients=g)
    for ours, want in zip(grads["lrn"], grads["formula"]):
        assert _max_rel(ours, want) < 1e-12
    theoretical, numerical = tf.test.compute_gradient(lambda *a: tf_lrn_grad(*a, **kw),
                                                      [dy, x, y])
    for t, n in zip(theoretical, numerical):
        np.testing.assert_allclose(t, n, rtol=1e-6, atol=1e-7)


def test_third_derivative_by_finite_differences():
    rng = rng_for("third")
    x, w, v = (tf.constant(rng.standard_normal((1, 1, 2, 4))) for _ in range(3))
    theoretical, numerical = tf.test.compute_gradient(
        lambda t: _hvp(lambda u: tf_lrn(u, 1, 1.3, 0.5, 0.75), t, w, v)[1], [x])
    np.testing.assert_allclose(theoretical[0], numerical[0], rtol=1e-5, atol=1e-6)


def test_forward_mode():
    # tf.autodiff.ForwardAccumulator transposes the gradient, so it needs the
    # gradient's own gradient (which TensorFlow's LRN lacks)
    rng = rng_for("jvp")
    x, v = (tf.constant(rng.standard_normal((2, 2, 3, 6))) for _ in range(2))
    jvps = []
    for fn in (lambda t: tf_lrn(t, 2, 1.2, 0.3, 0.75), lambda t: _formula(t, 2, 1.2, 0.3, 0.75)):
        with tf.autodiff.ForwardAccumulator(x, v) as acc:
            y = fn(x)
        jvps.append(acc.jvp(y))
    assert _max_rel(*jvps) < 1e-12


# -- errors ----------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(depth_radius=-1), ValueError, "`depth_radius` must be a non-negative integer, got -1"),
    (dict(depth_radius=1.5), TypeError, "`depth_radius`"),
    (dict(depth_radius=True), TypeError, "`depth_radius`"),
    (dict(alpha=float("nan")), ValueError, "`alpha` must be a finite real number"),
    (dict(alpha=1e308), ValueError, "`alpha` times the window"),
    (dict(depth_radius=2**1100), ValueError, r"window \(2 \* depth_radius \+ 1 = "
                                             r"271659705809\.\.\. \(332 digits\)\)"),
    (dict(alpha=1e-40), ValueError, "alpha/size = 1e-40 does not fit float32 data"),
    (dict(beta="0.5"), TypeError, "`beta` must be a real number"),
    (dict(bias=None), TypeError, "`bias` must be a real number"),
    (dict(num_threads=0), ValueError, "`num_threads`"),
    (dict(name=3), TypeError, "`name` must be None or a string"),
])
def test_parameter_errors(kwargs, exc, match):
    x = tf.ones((1, 2, 2, 3))
    with pytest.raises(exc, match=match):
        tf_lrn(x, **kwargs)
    with pytest.raises(exc, match=match):
        tf_lrn_grad(x, x, x, **kwargs)


def test_any_window_size():
    # windows are clipped to the channels: a radius beyond int64 is fine when alpha is 0
    # (TensorFlow's own stops at 2**31 - 1)
    x, _ = _data(np.float32, "huge-radius", shape=(1, 2, 2, 3))
    np.testing.assert_allclose(tf_lrn(x, 2**100, 2.0, 0.0, 0.5).numpy(), x / np.sqrt(2.0),
                               rtol=3e-6)
    np.testing.assert_allclose(tf_lrn(x, 2**40, 1.0, 0.5, 0.75).numpy(),
                               _ref(x, 2, 1.0, 0.5, 0.75), rtol=3e-6)


def test_data_errors():
    with pytest.raises(TypeError, match="`input` must have dtype float16, bfloat16, float32 "
                                        "or float64, got int32"):
        tf_lrn(tf.ones((1, 2, 2, 3), tf.int32))
    with pytest.raises(TypeError, match="`input` must have dtype .* got complex64"):
        tf_lrn(tf.ones((1, 2, 2, 3), tf.complex64))
    with pytest.raises(ValueError, match=r"`input` must have at least 2 dimensions .* \(3,\)"):
        tf_lrn(tf.ones(3))
    with pytest.raises(TypeError, match="`input` must be a tf.Tensor or convertible"):
        tf_lrn(object())
    x = tf.ones((1, 2, 2, 3))
    with pytest.raises(TypeError, match="`input_image` must have dtype"):
        tf_lrn_grad(x, tf.ones((1, 2, 2, 3), tf.int64), x)
    with pytest.raises(TypeError, match=r"`output_image` must have the dtype of `input_image` "
                                        r"\(float32\), got float16"):
        tf_lrn_grad(x, x, tf.cast(x, tf.float16))
    with pytest.raises(ValueError, match=r"`input_grads` must have the shape of `input_image` "
                                         r"\(1, 2, 2, 3\), got \(1, 2, 2, 4\)"):
        tf_lrn_grad(tf.ones((1, 2, 2, 4)), x, x)
    # the checks are made when a graph is built, too
    with pytest.raises(TypeError, match="`input` must have dtype"):
        tf.function(lambda t: tf_lrn(t)).get_concrete_function(tf.TensorSpec([1, 3], tf.int32))


# -- Keras -----------------------------------------------------------------------

keras = pytest.importorskip("keras")


def _models():
    from lrn.interop.keras import LocalResponseNormalization

    class TFLRN(keras.layers.Layer):          # TensorFlow's operator, for comparison
        def call(self, x):
            return tf.nn.local_response_normalization(x, 2, 1.0, 0.5, 0.75)

    built = []
    for lrn_layer in (LocalResponseNormalization(2, 1.0, 0.5, 0.75), TFLRN()):
        keras.utils.set_random_seed(7)
        model = keras.Sequential([keras.Input((6, 6, 3)), keras.layers.Conv2D(5, 3),
                                  lrn_layer, keras.layers.Flatten(), keras.layers.Dense(2)])
        model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.05), loss="mse")
        built.append(model)
    built[1].set_weights(built[0].get_weights())
    return built


def test_keras_fit_matches_tensorflows_operator(tmp_path):
    ours, theirs = _models()
    assert not ours.run_eagerly          # model.fit runs a tf.function
    rng = np.random.default_rng(3)
    x = rng.standard_normal((16, 6, 6, 3)).astype(np.float32)
    target = rng.standard_normal((16, 2)).astype(np.float32)
    start = [w.copy() for w in ours.get_weights()]
    for model in (ours, theirs):
        model.fit(x, target, batch_size=4, epochs=2, shuffle=False, verbose=0)
    for a, b, w0 in zip(ours.get_weights(), theirs.get_weights(), start):
        assert not np.array_equal(a, w0)
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    # the .keras format: config and weights reload (the layer is registered)
    path = tmp_path / "model.keras"
    ours.save(path)
    again = keras.models.load_model(path)
    assert type(again.layers[1]) is type(ours.layers[1])
    np.testing.assert_array_equal(again.predict(x, verbose=0), ours.predict(x, verbose=0))


def test_keras_layer_config_and_checks():
    from lrn.interop.keras import LocalResponseNormalization
    layer = LocalResponseNormalization(3, bias=2.0, alpha=0.1, beta=0.6, name="norm")
    config = layer.get_config()
    assert {k: config[k] for k in ("depth_radius", "bias", "alpha", "beta", "name")} == \
        dict(depth_radius=3, bias=2.0, alpha=0.1, beta=0.6, name="norm")
    clone = LocalResponseNormalization.from_config(config)
    x, _ = _data(np.float32, "keras-layer")
    np.testing.assert_array_equal(np.asarray(clone(x)), tf_lrn(x, 3, 2.0, 0.1, 0.6).numpy())
    assert keras.saving.get_registered_object("lrn>LocalResponseNormalization") is \
        LocalResponseNormalization
    assert LocalResponseNormalization.supports_jit is False
    with pytest.raises(ValueError, match="`depth_radius` must be a non-negative integer"):
        LocalResponseNormalization(-1)
    with pytest.raises(TypeError, match="`beta` must be a real number"):
        LocalResponseNormalization(beta="x")
    half = LocalResponseNormalization(1, dtype="mixed_float16")
    assert half(x).dtype == "float16"

"""TensorFlow's XLA LRN tests, run against lrn.tf_lrn / lrn.tf_lrn_grad.

Ported from tensorflow/tensorflow, tensorflow/compiler/tests/lrn_ops_test.py
(class LRNTest).  Kept as TensorFlow wrote them: the random shapes and parameters
(NumPy's global generator, seeded as tf.test.TestCase seeds it, 87654321; here
beta may be near 0 and the radius reaches up to depth - 1, unlike the kernel
tests), the loop-by-loop reference, the inputs of the gradient test
(1..24 for the image, the output and the incoming gradient alike), and the
tolerances (forward: max abs error < 1e-4 in float32; LRNGrad: assertAllClose
with rtol 1e-3 and its default atol 1e-6 against TensorFlow's CPU kernel,
``gen_nn_ops.lrn_grad``, here ``tf.raw_ops.LRNGrad``).

TensorFlow runs these under XLA (``XLATestCase.test_scope``).  lrn's operations
call the kernels through ``tf.numpy_function``, which XLA cannot compile: here
they run in a ``tf.function`` (graph mode), and the XLA variant is an expected
failure (strict: it fails if XLA ever compiles it) that checks the error is
TensorFlow's refusal to compile the host call.  The seeds add draws to
TensorFlow's own.
"""
import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from lrn import tf_lrn, tf_lrn_grad  # noqa: E402

from .tf_common import SEEDS, check_forward, seeded  # noqa: E402,F401 (seeded: a fixture)


def _run_and_verify(dtype, jit_compile=False):
    shape = np.random.randint(1, 16, size=4)
    shape[3] += 1                           # depth at least 2
    lrn_depth_radius = np.random.randint(1, shape[3])
    bias = 1.0 + np.random.rand()
    alpha = 2.0 * np.random.rand()
    beta = 2.0 * np.random.rand()
    graph = tf.function(lambda p: tf_lrn(p, name="lrn", depth_radius=lrn_depth_radius,
                                         bias=bias, alpha=alpha, beta=beta),
                        jit_compile=jit_compile)
    check_forward(graph, dtype, shape, lrn_depth_radius, bias, alpha, beta)


@pytest.mark.parametrize("seeded", SEEDS, indirect=True)
def test_compute(seeded):
    for _ in range(2):
        _run_and_verify(tf.float32)


@pytest.mark.xfail(strict=True, raises=tf.errors.InvalidArgumentError,
                   reason="XLA cannot compile tf.numpy_function (PyFunc), through which "
                          "lrn's kernels run")
@pytest.mark.parametrize("seeded", SEEDS[:1], indirect=True)
def test_compute_under_xla(seeded):
    try:
        _run_and_verify(tf.float32, jit_compile=True)
    except tf.errors.InvalidArgumentError as e:
        assert "PyFunc" in str(e) or "EagerPyFunc" in str(e), e
        raise


@pytest.mark.parametrize("seeded", SEEDS, indirect=True)
def test_lrn_grad(seeded):
    # Compares LRNGrad against TensorFlow's CPU implementation
    shape = [1, 2, 3, 4]
    total_size = np.prod(shape)
    in_image_vals = np.arange(1, total_size + 1, dtype=np.float32)
    out_image_vals = np.arange(1, total_size + 1, dtype=np.float32)
    out_grads_vals = np.arange(1, total_size + 1, dtype=np.float32)
    depth_radius = np.random.randint(1, shape[3])
    bias = 1.0 + np.random.rand()
    alpha = 1.0 * np.random.rand()
    beta = 1.0 * np.random.rand()

    in_image = tf.constant(in_image_vals, shape=shape)
    out_image = tf.constant(out_image_vals, shape=shape)
    out_grads = tf.constant(out_grads_vals, shape=shape)
    with tf.device("/cpu:0"):
        expected = tf.raw_ops.LRNGrad(input_grads=out_grads, input_image=in_image,
                                      output_image=out_image, depth_radius=depth_radius,
                                      bias=bias, alpha=alpha, beta=beta)
    actual = tf.function(tf_lrn_grad)(out_grads, in_image, out_image, int(depth_radius),
                                      bias, alpha, beta)
    np.testing.assert_allclose(actual.numpy(), expected.numpy(), rtol=1e-3, atol=1e-6)

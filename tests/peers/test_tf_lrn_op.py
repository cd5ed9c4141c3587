"""TensorFlow's own LRN operator tests, run against lrn.tf_lrn / lrn.tf_lrn_grad.

Ported from tensorflow/tensorflow, tensorflow/python/kernel_tests/nn_ops/lrn_op_test.py
(class LRNOpTest).  Kept as TensorFlow wrote them: the random shapes and
parameters (drawn from NumPy's global generator, seeded as tf.test.TestCase
seeds it, with 87654321, random_seed.DEFAULT_GRAPH_SEED), the float32 input
fed for both dtypes, the loop-by-loop reference ``_LRN``, the two draws per
test, and the tolerances (forward: max abs error < 1e-4 in float32, < 1e-2 in
float16; zero input: gradient all ones, assertAllClose's rtol = atol = 1e-6;
gradient check: max abs difference between the theoretical and the numerical
Jacobian, perturbation 1e-3, < 1e-4 in float32, < 1.0 in float16).

Public equivalents of TensorFlow's internals: a placeholder fed through
``Session.run`` -> a ``tf.function`` traced with a ``tf.TensorSpec`` of that
shape and dtype (graph mode, as ``run_deprecated_v1`` ran it);
``gradients_impl.gradients`` -> ``tf.gradients`` in that graph;
``gradient_checker.compute_gradient_error`` -> ``tf.test.compute_gradient``
with the same perturbation; ``assertShapeEqual`` -> the static shape of the
graph's result.  The seeds below add five more draws to TensorFlow's own
(whose seed comes first).
"""
import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from lrn import tf_lrn  # noqa: E402

from .tf_common import SEEDS, check_forward, seeded  # noqa: E402,F401 (seeded: a fixture)


def _run_and_verify(dtype):
    shape = np.random.randint(1, 16, size=4)
    shape[3] += 1                           # depth at least 2
    lrn_depth_radius = np.random.randint(1, min(8, shape[3]))
    bias = 1.0 + np.random.rand()
    alpha = 2.0 * np.random.rand()
    beta = 0.01 + 2.0 * np.random.rand()
    graph = tf.function(lambda p: tf_lrn(p, name="lrn", depth_radius=lrn_depth_radius,
                                         bias=bias, alpha=alpha, beta=beta))
    check_forward(graph, dtype, shape, lrn_depth_radius, bias, alpha, beta)


@pytest.mark.parametrize("seeded", SEEDS, indirect=True)
def test_compute(seeded):
    for _ in range(2):
        _run_and_verify(tf.float32)
        _run_and_verify(tf.float16)    # TensorFlow runs it when no GPU is present


def test_gradients_zero_input():
    shape = [4, 4, 4, 4]
    inp_array = np.zeros(shape).astype("f")

    @tf.function(input_signature=[tf.TensorSpec(shape, tf.float32)])
    def grad(p):
        lrn_op = tf_lrn(p, 2, 1.0, 0.0, 1.0, name="lrn")
        return tf.gradients([lrn_op], [p])[0]
    r = grad(inp_array)
    expected = np.ones(shape).astype("f")
    np.testing.assert_allclose(r.numpy(), expected, rtol=1e-6, atol=1e-6)
    assert grad.get_concrete_function().structured_outputs.shape.as_list() == shape


def _run_and_verify_gradients(dtype):
    shape = np.random.randint(1, 5, size=4)
    shape[3] += 1                           # depth at least 2
    lrn_depth_radius = np.random.randint(1, min(8, shape[3]))
    bias = 1.0 + np.random.rand()
    alpha = 1.0 * np.random.rand()
    beta = 0.01 + 1.0 * np.random.rand()
    if dtype == tf.float32:
        inp_array = np.random.rand(*shape).astype(np.float32)
    else:
        inp_array = np.random.rand(*shape).astype(np.float16)
    inp = tf.constant(list(inp_array.ravel(order="C")), shape=shape, dtype=dtype)
    theoretical, numerical = tf.test.compute_gradient(
        lambda x: tf_lrn(x, name="lrn", depth_radius=lrn_depth_radius, bias=bias,
                         alpha=alpha, beta=beta), [inp], delta=1e-3)
    err = np.max(np.abs(theoretical[0].astype(np.float64) - numerical[0]))
    if dtype == tf.float32:
        assert err < 1e-4, err
    else:
        assert err < 1.0, err


@pytest.mark.parametrize("seeded", SEEDS, indirect=True)
def test_gradients(seeded):
    for _ in range(2):
        _run_and_verify_gradients(tf.float32)
        _run_and_verify_gradients(tf.float16)

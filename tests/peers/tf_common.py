"""What TensorFlow's two LRN test files share (lrn_op_test.py and
compiler/tests/lrn_ops_test.py, ported in test_tf_lrn_op.py and
test_tf_compiler_lrn_ops.py): the loop-by-loop reference ``_LRN``, identical in both,
and their seeding (tf.test.TestCase seeds NumPy's global generator with 87654321,
random_seed.DEFAULT_GRAPH_SEED; five more draws follow)."""
import numpy as np
import pytest

SEEDS = (87654321, 1, 2, 3, 4, 5)


def _LRN(input_image, lrn_depth_radius=5, bias=1.0, alpha=1.0, beta=0.5):
    """Expected result: TensorFlow's reference, element by element."""
    output = input_image.copy()
    batch_size, rows, cols, depth = input_image.shape
    for b in range(batch_size):
        for r in range(rows):
            for c in range(cols):
                for d in range(depth):
                    begin = max(0, d - lrn_depth_radius)
                    end = min(depth, d + lrn_depth_radius + 1)
                    patch = input_image[b, r, c, begin:end]
                    output[b, r, c, d] /= np.power(bias + alpha * np.sum(patch * patch), beta)
    return output


@pytest.fixture
def seeded(request):
    np.random.seed(request.param)


def check_forward(graph, dtype, shape, lrn_depth_radius, bias, alpha, beta):
    """Both files' forward check: the traced graph on ``np.random.rand`` data against
    ``_LRN``, max abs error < 1e-4 (float32) or < 1e-2 (float16), static shape kept."""
    import tensorflow as tf

    lrn_t = graph.get_concrete_function(tf.TensorSpec(shape, dtype))
    value = np.random.rand(*shape).astype("f")
    result = lrn_t(tf.constant(value, dtype)).numpy()
    expected = _LRN(value, lrn_depth_radius=lrn_depth_radius, bias=bias, alpha=alpha,
                    beta=beta)
    err = np.amax(np.abs(result - expected))
    if dtype == tf.float32:
        assert err < 1e-4, err
    else:
        assert err < 1e-2, err
    assert lrn_t.structured_outputs.shape.as_list() == list(expected.shape)

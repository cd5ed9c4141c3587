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

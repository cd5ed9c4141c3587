"""The array-library form of within-channel LRN (what runs on the GPU, through
CuPy), checked here with NumPy as the array library against the reference."""
import numpy as np
import pytest

from lrn import _within
from helpers import assert_bwd_close, assert_fwd_close, poisoned
from reference import ref_backward_within, ref_forward_within

CASES = [((2, 3, 7), "NCHW"), ((2, 3, 5, 6), "NCHW"), ((2, 5, 6, 3), "NHWC"),
         ((1, 2, 4, 3, 5), "NCHW")]


@pytest.mark.parametrize("shape, layout", CASES)
@pytest.mark.parametrize("size", [1, 2, 3, 4, 7])
@pytest.mark.parametrize("convention", ["onnx", "torch"])
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_forward_backward(shape, layout, size, convention, dtype):
    rng = np.random.default_rng(size)
    x = (rng.standard_normal(shape) * 2).astype(dtype)
    dy = rng.standard_normal(shape).astype(dtype)
    pre = (size - 1) // 2 if convention == "onnx" else size // 2
    cl = layout == "NHWC"
    args = (size, 0.9, 0.6, 1.3)
    y, s = poisoned(shape, dtype), poisoned(shape, dtype)
    _within.forward_array(np, x, y, s, size, pre, *args[1:], cl)
    yr, sr = ref_forward_within(x, *args, layout=layout, convention=convention)
    assert_fwd_close(y, yr, dtype)
    assert_fwd_close(s, sr, dtype, "scale")
    dxr, mag = ref_backward_within(x, dy, *args, layout=layout, convention=convention,
                                   return_terms=True)
    for scale in (None, s):
        dx = poisoned(shape, dtype)
        _within.backward_array(np, x, y, dy, scale, dx, size, pre, *args[1:], cl)
        assert_bwd_close(dx, dxr, mag, dtype)

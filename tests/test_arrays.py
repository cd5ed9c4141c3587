"""lrn._arrays, the array-generic slow path (what runs within channels on the
GPU, through CuPy, and lrn.torch on devices the kernels do not cover), checked
here with NumPy as the array library against the float64 reference."""
import numpy as np
import pytest

from lrn import _arrays, _params

from .helpers import assert_bwd_close, assert_fwd_close, dtype_id
from .reference import ref_backward, ref_backward_within, ref_forward, ref_forward_within

CASES = [((2, 3, 7), "NCHW"), ((2, 3, 5, 6), "NCHW"), ((2, 5, 6, 3), "NHWC"),
         ((1, 2, 4, 3, 5), "NCHW")]


@pytest.mark.parametrize("region", ["within", "across"])
@pytest.mark.parametrize("shape, layout", CASES)
@pytest.mark.parametrize("size", [1, 2, 3, 4, 7])
@pytest.mark.parametrize("convention", ["onnx", "torch"])
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64], ids=dtype_id)
def test_forward_backward(shape, layout, size, convention, dtype, region):
    rng = np.random.default_rng(size)
    x = (rng.standard_normal(shape) * 2).astype(dtype)
    dy = rng.standard_normal(shape).astype(dtype)
    args = (size, 0.9, 0.6, 1.3)
    problem = _params.make(*args, layout=layout, convention=convention,
                           region=region).resolve(x.dtype, x.ndim, backward=True)
    work = _params.compute_dtype(x.dtype)       # _arrays takes arrays in it

    def narrow(a):
        return a.astype(dtype)
    y, s = _arrays.forward(np, x.astype(work), problem)
    ref_f, ref_b = ((ref_forward_within, ref_backward_within) if region == "within"
                    else (ref_forward, ref_backward))
    yr, sr = ref_f(x, *args, layout=layout, convention=convention)
    assert_fwd_close(narrow(y), yr, dtype)
    assert_fwd_close(narrow(s), sr, dtype, "scale")
    dxr, mag = ref_b(x, dy, *args, layout=layout, convention=convention, return_terms=True)
    for scale in (None, s):
        dx = _arrays.backward(np, x.astype(work), y, dy.astype(work), scale, problem)
        assert_bwd_close(narrow(dx), dxr, mag, dtype)

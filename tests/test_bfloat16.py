"""bfloat16 arrays (ml_dtypes) are computed in float32 and returned as bfloat16."""
import numpy as np
import pytest

import lrn
from .reference import ref_backward, ref_forward

ml_dtypes = pytest.importorskip("ml_dtypes")
BF16 = np.dtype(ml_dtypes.bfloat16)
# bfloat16 keeps 8 significant bits: rounding the result costs 2**-9 relative.
RTOL = 2.0 ** -8


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("size", [1, 2, 5, 9])
def test_forward_and_scale(layout, size):
    rng = np.random.default_rng(size)
    x = rng.standard_normal((2, 6, 4, 5)).astype(BF16)
    if layout == "NHWC":
        x = np.ascontiguousarray(np.moveaxis(x, 1, -1))
    y_out = np.full(x.shape, np.nan, dtype=BF16)
    s_out = np.full(x.shape, np.nan, dtype=BF16)
    y, s = lrn.lrn(x, size, 0.8, 0.75, 1.5, layout=layout, return_scale=True,
                   out=(y_out, s_out))
    assert y is y_out and s is s_out and y.dtype == BF16 and s.dtype == BF16
    yr, sr = ref_forward(x.astype(np.float64), size, 0.8, 0.75, 1.5, layout=layout)
    np.testing.assert_allclose(y.astype(np.float64), yr, rtol=RTOL, atol=1e-30)
    np.testing.assert_allclose(s.astype(np.float64), sr, rtol=RTOL)


@pytest.mark.parametrize("size", [2, 5])
def test_backward(size):
    rng = np.random.default_rng(10 + size)
    x = rng.standard_normal((3, 7, 5)).astype(BF16)
    dy = rng.standard_normal(x.shape).astype(BF16)
    y = lrn.lrn(x, size, 0.8, 0.75, 1.5)
    dx = lrn.lrn_backward(x, y, dy, size, 0.8, 0.75, 1.5)
    assert dx.dtype == BF16
    dxr = ref_backward(x.astype(np.float64), dy.astype(np.float64), size, 0.8, 0.75, 1.5)
    # y enters as bfloat16, so compare against the spread of the terms, not dx alone
    np.testing.assert_allclose(dx.astype(np.float64), dxr, rtol=0, atol=4 * RTOL * np.abs(dy.astype(np.float64)).max())


@pytest.mark.parametrize("size", [1, 4])
def test_in_place(size):
    """out = x (and out = dy backward) for bfloat16, which has no buffer-protocol
    format: the aliasing check used to read ``x.data`` and raise
    ValueError("cannot include dtype 'E' in a buffer")."""
    rng = np.random.default_rng(size)
    x = rng.standard_normal((2, 5, 3)).astype(BF16)
    dy = rng.standard_normal(x.shape).astype(BF16)
    args = (size, 0.8, 0.75, 1.5)
    yr = ref_forward(x.astype(np.float64), *args)[0]
    y = lrn.lrn(x, *args)
    dxr = ref_backward(x.astype(np.float64), dy.astype(np.float64), *args)
    dx = lrn.lrn_backward(x, y, dy.copy(), *args)
    x1 = x.copy()
    assert lrn.lrn(x1, *args, out=x1) is x1
    np.testing.assert_allclose(x1.astype(np.float64), yr, rtol=RTOL, atol=1e-30)
    dy1 = dy.copy()
    assert lrn.lrn_backward(x, y, dy1, *args, out=dy1) is dy1
    np.testing.assert_array_equal(dy1, dx)
    scale = np.abs(dxr).max()
    np.testing.assert_allclose(dy1.astype(np.float64), dxr, rtol=2**-6, atol=scale * 2**-7)
    with pytest.raises(ValueError, match="`out` shares memory with `x`"):
        lrn.lrn(x, *args, out=x[:, ::-1])

"""lrn.caffe_lrn: Caffe's LRN layer semantics, against the float64 reference."""
import numpy as np
import pytest

import lrn
from .helpers import assert_bwd_close
from .reference import ref_backward, ref_backward_within, ref_forward, ref_forward_within


@pytest.mark.parametrize("n", [1, 3, 5])
def test_across_channels_uses_k(n):
    x = np.random.default_rng(n).standard_normal((2, 7, 4, 3))
    y = lrn.caffe_lrn(x, n, alpha=0.7, beta=0.75, k=2.0)
    np.testing.assert_allclose(y, ref_forward(x, n, 0.7, 0.75, 2.0)[0], rtol=1e-12)


@pytest.mark.parametrize("n", [1, 3, 5])
def test_within_channel_ignores_k_and_divides_by_n_squared(n):
    x = np.random.default_rng(n).standard_normal((2, 3, 6, 5))
    y = lrn.caffe_lrn(x, n, alpha=0.7, beta=0.75, norm_region="WITHIN_CHANNEL", k=5.0)
    # alpha / n**2 and bias 1 (not k), with the window centred on each pixel
    expected = ref_forward_within(x, n, 0.7, 0.75, 1.0)[0]
    np.testing.assert_allclose(y, expected, rtol=1e-12)
    # written out for the centre pixel of a 3x3 box, to pin the n**2 down
    if n == 3:
        s = 1.0 + 0.7 / 9 * np.sum(x[0, 0, 1:4, 1:4] ** 2)
        np.testing.assert_allclose(y[0, 0, 2, 2], x[0, 0, 2, 2] * s ** -0.75, rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("region", ["ACROSS_CHANNELS", "WITHIN_CHANNEL"])
@pytest.mark.parametrize("n", [1, 3, 5, 9])
def test_backward_is_the_gradient_of_caffe_lrn(n, region, dtype):
    """caffe_lrn_backward against the float64 reference gradient with Caffe's
    parameters: k across channels, bias 1 and alpha / n**2 within."""
    rng = np.random.default_rng(n)
    x = rng.standard_normal((2, 7, 4, 5)).astype(dtype)
    dy = rng.standard_normal(x.shape).astype(dtype)
    y = lrn.caffe_lrn(x, n, alpha=0.7, beta=0.75, norm_region=region, k=2.0)
    dx = lrn.caffe_lrn_backward(x, y, dy, n, alpha=0.7, beta=0.75, norm_region=region, k=2.0)
    if region == "ACROSS_CHANNELS":
        expected, mag = ref_backward(x, dy, n, 0.7, 0.75, 2.0, return_terms=True)
    else:
        expected, mag = ref_backward_within(x, dy, n, 0.7, 0.75, 1.0, return_terms=True)
    assert_bwd_close(dx, expected, mag, dtype)


@pytest.mark.parametrize("bad, exc", [(dict(local_size=4), ValueError),
                                      (dict(local_size=0), ValueError),
                                      (dict(local_size=2.0), TypeError),
                                      (dict(norm_region="ACROSS"), ValueError)])
def test_bad_arguments(bad, exc):
    kw = dict(local_size=5, norm_region="ACROSS_CHANNELS")
    kw.update(bad)
    name = "norm_region" if "norm_region" in bad else "local_size"
    with pytest.raises(exc, match=name):
        lrn.caffe_lrn(np.ones((1, 3, 2, 2)), **kw)
    x = np.ones((1, 3, 2, 2))
    with pytest.raises(exc, match=name):
        lrn.caffe_lrn_backward(x, x, x, **kw)


@pytest.mark.parametrize("region", ["ACROSS_CHANNELS", "WITHIN_CHANNEL"])
@pytest.mark.parametrize("k, exc", [("1", TypeError), (None, TypeError),
                                    (float("nan"), ValueError), (10**400, ValueError)],
                         ids=["str", "None", "nan", "10**400"])
def test_bad_k_is_named_k(k, exc, region):
    """A bad ``k`` is an error naming `k` (Caffe's name), in both regions -- found by
    test_fuzz.py: across channels the message named `bias`, and within channels
    (where k is not used) a bad k was accepted silently."""
    x = np.ones((1, 3, 2, 2), np.float32)
    with pytest.raises(exc, match="`k`"):
        lrn.caffe_lrn(x, 3, k=k, norm_region=region)
    with pytest.raises(exc, match="`k`"):
        lrn.caffe_lrn_backward(x, x, x, 3, k=k, norm_region=region)

"""Caffe's LRN layer (``LRNParameter``) on lrn's kernels."""
from __future__ import annotations

from typing import Literal

from .. import _params
from .._api import lrn, lrn_backward
from .._typing import Array, ArrayInput

_REGIONS = {"ACROSS_CHANNELS": "across", "WITHIN_CHANNEL": "within"}


def caffe_lrn(x: ArrayInput, local_size: int = 5, alpha: float = 1.0, beta: float = 0.75,
              norm_region: Literal["ACROSS_CHANNELS", "WITHIN_CHANNEL"] = "ACROSS_CHANNELS",
              k: float = 1.0) -> Array:
    """Caffe's ``LRN`` layer: NCHW, Caffe's defaults and both normalisation regions.

    ``ACROSS_CHANNELS``: ``y = x * (k + alpha / n * sum over n channels of x**2) ** -beta``.
    ``WITHIN_CHANNEL``: ``y = x * (1 + alpha / n**2 * sum over an n x n box of x**2) ** -beta``
    -- Caffe ignores ``k`` there (its within-channel layer is built from a
    power layer with shift 1) and divides alpha by ``n ** 2`` (an average pool
    over the zero-padded box).  As in Caffe, ``local_size`` must be odd.

    Parameters
    ----------
    x : array_like
        ``(N, C, H, W)`` (any ndim >= 2 across channels, >= 3 within, with
        alpha divided by ``n ** (spatial axes)`` within).
    local_size : int
        Odd window size n.
    alpha, beta, k : float
        Caffe's ``alpha``, ``beta`` and ``k`` (``k`` only across channels).
    norm_region : {"ACROSS_CHANNELS", "WITHIN_CHANNEL"}

    Returns
    -------
    y : ndarray

    Examples
    --------
    >>> import numpy as np, lrn
    >>> x = np.ones((1, 1, 3, 3), dtype=np.float32)
    >>> y = lrn.caffe_lrn(x, local_size=3, alpha=9.0, beta=1.0, norm_region="WITHIN_CHANNEL")
    >>> round(float(y[0, 0, 1, 1]), 6)   # centre: 1 / (1 + 9/9 * 9 ones)
    0.1
    """
    local_size, region, bias = _layer_params(local_size, norm_region, k)
    return lrn(x, local_size, alpha, beta, bias, region=region)


def caffe_lrn_backward(x: ArrayInput, y: ArrayInput, dy: ArrayInput, local_size: int = 5,
                       alpha: float = 1.0, beta: float = 0.75,
                       norm_region: Literal["ACROSS_CHANNELS", "WITHIN_CHANNEL"] =
                       "ACROSS_CHANNELS", k: float = 1.0) -> Array:
    """The ``Backward`` of Caffe's ``LRN`` layer: the gradient of :func:`caffe_lrn`.

    Parameters
    ----------
    x, y, dy : array_like
        The layer's bottom data, top data (``caffe_lrn(x, ...)``) and top diff.
    local_size, alpha, beta, norm_region, k
        As in :func:`caffe_lrn`.

    Returns
    -------
    dx : ndarray
        The bottom diff.

    Examples
    --------
    >>> import numpy as np, lrn
    >>> x = np.linspace(-1.0, 1.0, 18).reshape(1, 2, 3, 3)
    >>> y = lrn.caffe_lrn(x, local_size=3, norm_region="WITHIN_CHANNEL")
    >>> dx = lrn.caffe_lrn_backward(x, y, np.ones_like(y), local_size=3,
    ...                             norm_region="WITHIN_CHANNEL")
    >>> dx.shape
    (1, 2, 3, 3)
    """
    local_size, region, bias = _layer_params(local_size, norm_region, k)
    return lrn_backward(x, y, dy, local_size, alpha, beta, bias, region=region)


def _layer_params(local_size, norm_region, k):
    """(local_size, region, bias) of the layer: Caffe's odd sizes only, and bias 1
    within channels, where Caffe's layer has no ``k``."""
    local_size = _params.check_size(local_size, "local_size")
    if local_size % 2 == 0:
        raise ValueError(f"`local_size` must be odd (Caffe supports only odd sizes), "
                         f"got {local_size}")
    region = _REGIONS[_params.check_choice(norm_region, "norm_region", tuple(_REGIONS))]
    k = _params.check_real(k, "k")
    return local_size, region, 1.0 if region == "within" else k

"""Shared inputs and parameter axes of the asv suite (not a benchmark module).

Every benchmark takes a shape *name* as a parameter and looks the dimensions
up in ``SHAPES`` at setup time, so ``tests/test_bench.py`` can swap the table
for tiny shapes and run the whole suite in seconds.
"""
import numpy as np

import lrn
from lrn.benchmark import SHAPES as _NAMED_SHAPES

# name -> channels-first (N, C, H, W): AlexNet LRN1/LRN2, GoogLeNet-like, batch 1
SHAPES = dict(_NAMED_SHAPES)
SHAPE_NAMES = ["alexnet1", "alexnet2", "googlenet", "batch1"]
# one AlexNet image, whose channels-first rows make one to four tiles: what 2 threads
# share by splitting tiles into channel parts (``Threads`` only)
SHAPES.update(image1=(1, 96, 55, 55), image2=(1, 256, 27, 27))
IMAGE_NAMES = ["image1", "image2"]
LAYOUTS = ["NCHW", "NHWC"]
DTYPES = ["float16", "float32", "float64"]
SIZES = [3, 5, 11, 21]
THREADS = [1, 2]
SIZE = 5                                     # AlexNet's window
PARAMS = dict(alpha=1e-4, beta=0.75, bias=2.0)  # AlexNet (Krizhevsky et al. 2012)
SEED = 0


def shape_of(name, layout):
    """The dimensions of shape ``name`` in ``layout`` (channels moved last for NHWC)."""
    n, c, *spatial = SHAPES[name]
    return (n, c, *spatial) if layout == "NCHW" else (n, *spatial, c)


def touched(like):
    """A buffer like ``like`` whose pages are already mapped (no first-touch in a timed call)."""
    buf = np.empty_like(like)
    buf.fill(0)
    return buf


def random(rng, shape, dtype, period=65521):
    """Standard normal data of ``dtype``: ``period`` random values repeated to fill ``shape``.

    Tiling keeps setup fast (asv re-runs it before every sample) and its memory small (no
    full-size temporaries, so peak-memory runs see only what lrn allocates); a prime period
    never lines up with a channel or row stride.
    """
    block = rng.standard_normal(period).astype(dtype)
    return np.resize(block, shape)


class Inputs:
    """x, dy and the matching forward results y, scale (all of one shape/dtype/layout).

    y and scale are computed on first use (``real``) or are stand-ins of the right shape and
    dtype (``real=False``: for peak-memory runs, where calling lrn in setup would raise the
    process's high-water mark before the measurement).
    """

    def __init__(self, shape, layout, dtype, size, real=True):
        rng = np.random.default_rng(SEED)
        self.layout, self.size, self.real = layout, size, real
        self.x = random(rng, shape, dtype)
        self.dy = random(rng, shape, dtype)
        self._y = self._scale = None
        self._buffers = {}

    def _forward(self):
        if self.real:
            self._y, self._scale = touched(self.x), touched(self.x)
            lrn.lrn(self.x, self.size, **PARAMS, layout=self.layout, return_scale=True,
                    out=(self._y, self._scale))
        else:
            self._y = self.x.copy()
            self._scale = np.full_like(self.x, PARAMS["bias"])

    @property
    def y(self):
        if self._y is None:
            self._forward()
        return self._y

    @property
    def scale(self):
        if self._scale is None:
            self._forward()
        return self._scale

    def buffer(self, name):
        """A preallocated, touched output buffer, the same one for every call with ``name``."""
        if name not in self._buffers:
            self._buffers[name] = touched(self.x)
        return self._buffers[name]


_cache = {}


def inputs(shape_name, layout, dtype, size=SIZE):
    """Inputs for one parameter combination, built once per process.

    asv re-runs ``setup`` before every timed sample; the cache makes that cheap and keeps
    the same (already touched) output buffers.  Only the latest combination is kept.
    """
    key = (shape_of(shape_name, layout), layout, np.dtype(dtype).name, size)
    if key not in _cache:
        _cache.clear()
        _cache[key] = Inputs(key[0], layout, dtype, size)
    return _cache[key]

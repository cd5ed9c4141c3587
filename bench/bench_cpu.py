"""CPU time of lrn forward/backward, and the memory-copy floors to read ratios against.

LRN is memory-bound: forward should cost about one ``np.copyto`` of x, backward about the
"4-array floor" (two copies: read two arrays, write two), so ``CopyFloor`` runs in the same
suite.  Outputs are preallocated and passed as ``out=`` so the time is the kernel's, not
the allocator's.  The grid is split so that ``asv run --quick`` stays short:

- ``Forward`` / ``Backward``: shape x layout x dtype at AlexNet's size 5, OpenMP default
  threads (``OMP_NUM_THREADS`` or all cores).
- ``WindowSize``: size {3, 5, 11, 21} x layout x dtype {float32, float64}, all four
  directions, on AlexNet LRN2 (256 channels, the most of the four shapes).
- ``Threads``: 1 vs 2 threads, shape x layout, float32, forward and backward; the four
  shapes and one AlexNet image's two layers (a batch of one, few tiles per sample).
- ``CopyFloor``: the floors, shape x dtype (layout does not change a copy).
- ``FewChannels``: channels {3, 8, 24} x layout, float32, forward, backward and the copy
  of x side by side: inputs whose channels fill less than a vector or end in a partial
  one (channels-last, a position is a row of C channels).
"""
import numpy as np

import lrn

from . import common
from .common import DTYPES, IMAGE_NAMES, LAYOUTS, PARAMS, SHAPE_NAMES, SIZE, SIZES, THREADS


class _Directions:
    """The four timed directions; subclasses set ``self.d``, ``self.size``, ``self.kw``."""

    def _forward(self):
        lrn.lrn(self.d.x, self.size, **self.kw, out=self.d.buffer("y"))

    def _forward_scale(self):
        lrn.lrn(self.d.x, self.size, **self.kw, return_scale=True,
                out=(self.d.buffer("y"), self.d.buffer("scale")))

    def _backward(self):
        d = self.d
        lrn.lrn_backward(d.x, d.y, d.dy, self.size, **self.kw, scale=d.scale,
                         out=d.buffer("dx"))

    def _backward_recompute(self):
        d = self.d
        lrn.lrn_backward(d.x, d.y, d.dy, self.size, **self.kw, out=d.buffer("dx"))


class _ByShape(_Directions):
    """Shape x layout x dtype at size 5 (the grid Forward and Backward share)."""

    params = [SHAPE_NAMES, LAYOUTS, DTYPES]
    param_names = ["shape", "layout", "dtype"]
    timeout = 300

    def setup(self, shape, layout, dtype):
        self.size = SIZE
        self.d = common.inputs(shape, layout, dtype, self.size)
        self.kw = dict(PARAMS, layout=layout)


class Forward(_ByShape):
    """lrn forward, with and without ``return_scale``."""

    def time_forward(self, shape, layout, dtype):
        self._forward()

    def time_forward_scale(self, shape, layout, dtype):
        self._forward_scale()


class Backward(_ByShape):
    """lrn backward with the forward's ``scale`` given, and with it recomputed."""

    def time_backward(self, shape, layout, dtype):
        self._backward()

    def time_backward_recompute(self, shape, layout, dtype):
        self._backward_recompute()


class WindowSize(_Directions):
    """Cost against the window size: block prefix/suffix sums should make it flat in n."""

    params = [SIZES, LAYOUTS, ["float32", "float64"]]
    param_names = ["size", "layout", "dtype"]
    timeout = 300
    shape = "alexnet2"

    def setup(self, size, layout, dtype):
        self.size = size
        self.d = common.inputs(self.shape, layout, dtype, size)
        self.kw = dict(PARAMS, layout=layout)

    def time_forward(self, size, layout, dtype):
        self._forward()

    def time_forward_scale(self, size, layout, dtype):
        self._forward_scale()

    def time_backward(self, size, layout, dtype):
        self._backward()

    def time_backward_recompute(self, size, layout, dtype):
        self._backward_recompute()


class Threads(_Directions):
    """OpenMP scaling: ``num_threads`` 1 and 2 (results are bitwise identical)."""

    params = [SHAPE_NAMES + IMAGE_NAMES, LAYOUTS, THREADS]
    param_names = ["shape", "layout", "threads"]
    timeout = 300

    def setup(self, shape, layout, threads):
        self.size = SIZE
        self.d = common.inputs(shape, layout, "float32", self.size)
        self.kw = dict(PARAMS, layout=layout, num_threads=threads)

    def time_forward(self, shape, layout, threads):
        self._forward()

    def time_backward(self, shape, layout, threads):
        self._backward()


class CopyFloor:
    """The memory-bandwidth floors: one copy of x (forward's), two copies (backward's)."""

    params = [SHAPE_NAMES, DTYPES]
    param_names = ["shape", "dtype"]
    timeout = 300

    def setup(self, shape, dtype):
        self.d = common.inputs(shape, "NCHW", dtype)
        self.a, self.b = self.d.buffer("y"), self.d.buffer("dx")

    def time_copy(self, shape, dtype):
        np.copyto(self.a, self.d.x)

    def time_copy_4array(self, shape, dtype):
        np.copyto(self.a, self.d.x)
        np.copyto(self.b, self.d.dy)


class FewChannels(_Directions):
    """Few channels, (32, C, 56, 56) float32 at size 5, with the copy of x to read against."""

    params = [[3, 8, 24], LAYOUTS]
    param_names = ["channels", "layout"]
    timeout = 300

    def setup(self, channels, layout):
        self.size = SIZE
        shape = (32, channels, 56, 56) if layout == "NCHW" else (32, 56, 56, channels)
        self.d = common.Inputs(shape, layout, "float32", self.size)
        self.kw = dict(PARAMS, layout=layout)

    def time_forward(self, channels, layout):
        self._forward()

    def time_backward(self, channels, layout):
        self._backward()

    def time_copy(self, channels, layout):
        np.copyto(self.d.buffer("copy"), self.d.x)

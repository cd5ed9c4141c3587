"""Peak memory (max RSS of the benchmark process) of lrn, with and without ``out=``.

asv's ``peakmem_`` is the process's high-water mark, which includes the inputs made in
``setup``.  ``peakmem_setup`` (a no-op) is that baseline for the same parameters, so
``peakmem_<case> - peakmem_setup`` is what lrn itself allocates: about zero with ``out=``
for float32/float64 (the kernels allocate nothing), one result array (two with
``return_scale``) without it, plus the float32 working copies of the float16 path.
With ``out=True`` the baseline holds the preallocated output buffers too.

Peak memory is linear in the shape, so one shape (AlexNet LRN1) is enough here.
"""
import lrn

from . import common
from .common import DTYPES, LAYOUTS, PARAMS, SIZE


class PeakMem:
    params = [LAYOUTS, DTYPES, [True, False]]
    param_names = ["layout", "dtype", "out"]
    timeout = 300
    shape = "alexnet1"

    def setup(self, layout, dtype, out):
        # Stand-in y/scale (real=False): computing them with lrn here would raise the
        # high-water mark before the measurement.  All inputs exist before any measurement.
        shape = common.shape_of(self.shape, layout)
        self.d = common.Inputs(shape, layout, dtype, SIZE, real=False)
        self.d.y, self.d.scale
        self.kw = dict(PARAMS, layout=layout)
        if out:
            self.y, self.s, self.dx = (common.touched(self.d.x) for _ in range(3))
        else:
            self.y = self.s = self.dx = None

    def peakmem_setup(self, layout, dtype, out):
        pass

    def peakmem_forward(self, layout, dtype, out):
        lrn.lrn(self.d.x, SIZE, **self.kw, out=self.y)

    def peakmem_forward_scale(self, layout, dtype, out):
        lrn.lrn(self.d.x, SIZE, **self.kw, return_scale=True,
                out=(self.y, self.s) if out else None)

    def peakmem_backward(self, layout, dtype, out):
        d = self.d
        lrn.lrn_backward(d.x, d.y, d.dy, SIZE, **self.kw, scale=d.scale, out=self.dx)

    def peakmem_backward_recompute(self, layout, dtype, out):
        d = self.d
        lrn.lrn_backward(d.x, d.y, d.dy, SIZE, **self.kw, out=self.dx)

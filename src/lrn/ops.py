"""``lrn.ops``: the documented name of :mod:`lrn.interop.caffe2` (the same module)."""
import sys

from .interop import caffe2 as _module

sys.modules[__name__] = _module

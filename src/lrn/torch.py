"""``lrn.torch``: the documented name of :mod:`lrn.interop.torch` (the same module)."""
import sys

from .interop import torch as _module

sys.modules[__name__] = _module

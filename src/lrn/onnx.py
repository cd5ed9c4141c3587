"""``lrn.onnx``: the documented name of :mod:`lrn.interop.onnx` (the same module)."""
import sys

from .interop import onnx as _module

sys.modules[__name__] = _module

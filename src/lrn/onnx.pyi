# Type checkers see what `lrn.onnx` is at run time, the module `lrn.interop.onnx`
# (onnx.py swaps itself for it in sys.modules, which they cannot follow).
from .interop.onnx import *

# Type checkers see what `lrn.ops` is at run time, the module `lrn.interop.caffe2`
# (ops.py swaps itself for it in sys.modules, which they cannot follow).
from .interop.caffe2 import *

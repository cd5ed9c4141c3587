# Type checkers see what `lrn.torch` is at run time, the module `lrn.interop.torch`
# (torch.py swaps itself for it in sys.modules, which they cannot follow).
from .interop.torch import *

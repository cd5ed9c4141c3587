"""Local Response Normalization: exact, fast CPU and GPU kernels, forward and backward."""
__version__ = "0.1.0"

from ._api import lrn, lrn_backward
from ._caffe import caffe_lrn
from ._config import show_config

__all__ = ["lrn", "lrn_backward", "caffe_lrn", "show_config", "__version__"]

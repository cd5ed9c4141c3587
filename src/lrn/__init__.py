"""Local Response Normalization: exact, fast CPU and GPU kernels, forward and backward."""
from typing import TYPE_CHECKING

from . import dask, onnx
from ._api import lrn, lrn_backward
from ._config import show_config
from ._version import __version__
from .interop.caffe import caffe_lrn, caffe_lrn_backward
from .interop.tf import tf_lrn, tf_lrn_grad

__all__ = ["lrn", "lrn_backward", "caffe_lrn", "caffe_lrn_backward", "tf_lrn", "tf_lrn_grad",
           "onnx", "dask", "show_config", "__version__"]

if TYPE_CHECKING:
    # Type checkers see lrn.torch as a submodule; a module-level __getattr__
    # would make every misspelt name (lrn.lrn_bakward) type-check as Any.
    from . import torch
else:
    def __getattr__(name):
        # `lrn.torch` (and with it torch) is imported on first use only.
        if name == "torch":
            import importlib
            return importlib.import_module(".torch", __name__)
        raise AttributeError(f"module 'lrn' has no attribute {name!r}")

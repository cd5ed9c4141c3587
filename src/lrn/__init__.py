"""Local Response Normalization: exact, fast CPU and GPU kernels, forward and backward."""
__version__ = "0.1.0"   # the one place: pyproject.toml reads it from here

from . import dask, onnx
from ._api import lrn, lrn_backward
from ._config import show_config
from .interop.caffe import caffe_lrn
from .interop.tf import tf_lrn, tf_lrn_grad

__all__ = ["lrn", "lrn_backward", "caffe_lrn", "tf_lrn", "tf_lrn_grad", "onnx", "dask",
           "show_config", "__version__"]


def __getattr__(name):
    # `lrn.torch` (and with it torch) is imported on first use only.
    if name == "torch":
        import importlib
        return importlib.import_module(".torch", __name__)
    raise AttributeError(f"module 'lrn' has no attribute {name!r}")

"""Type aliases of the public signatures, in one place.

The string options accept either case (``lrn._params.check_choice``), so their
literals list both.  ``Array`` is ``Any``: the functions take and return
NumPy, CuPy or Dask arrays (the result has the input's kind), which no one
static type covers without making every CuPy/Dask user cast.
"""
from typing import Any, Literal

from numpy.typing import ArrayLike

Array = Any
# An argument: array_like covers dask arrays and tensors (they have __array__);
# CuPy ships no types, so its arrays are Any to a type checker and pass too.
ArrayInput = ArrayLike
Layout = Literal["NCHW", "NHWC", "nchw", "nhwc"]
Convention = Literal["onnx", "torch", "ONNX", "TORCH"]
Region = Literal["across", "within", "ACROSS", "WITHIN"]

__all__ = ["Array", "ArrayInput", "ArrayLike", "Layout", "Convention", "Region"]

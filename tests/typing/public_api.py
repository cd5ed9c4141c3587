"""The public API as a user writes it, under ``mypy --strict``.

tests/typing/test_public_api.py checks this file with mypy against the
installed package (no error allowed) and also runs it.  ``assert_type`` pins
each result's static type: the arrays are ``Any`` by design (lrn._typing: the
result has the input's kind, NumPy, CuPy or Dask), so what this file guards is
that every call a user makes type-checks and that the overloads on
``return_scale`` give one array or a pair.
"""
import importlib
import importlib.util
import io
import sys
from typing import Any

import numpy as np

import lrn

if sys.version_info >= (3, 11):
    from typing import assert_type
else:
    from typing_extensions import assert_type

x = np.random.default_rng(0).standard_normal((2, 5, 4, 3)).astype(np.float32)
dy = np.ones_like(x)

y = lrn.lrn(x, 5)
assert_type(y, Any)
pair = lrn.lrn(x, 5, 1e-4, 0.75, 2.0, return_scale=True)
assert_type(pair, tuple[Any, Any])
y2, scale = pair
assert_type(lrn.lrn([[1.0, 2.0], [3.0, 4.0]], 3), Any)
assert_type(lrn.lrn(x, 4, alpha=2, beta=0.5, bias=1, layout="NHWC", convention="torch",
                    region="within", num_threads=-1), Any)
# string options in either case, as the checks accept them
assert_type(lrn.lrn(x, 3, layout="nchw", convention="TORCH", region="WITHIN"), Any)
assert_type(lrn.lrn(x, 5, layout="nchw", out=np.empty_like(x), num_threads=None), Any)
assert_type(lrn.lrn(x, 5, return_scale=True, out=(np.empty_like(x), np.empty_like(x))),
            tuple[Any, Any])

assert_type(lrn.lrn_backward(x, y2, dy, 5, scale=scale), Any)
assert_type(lrn.lrn_backward(x, y2, dy, 5, 1e-4, 0.75, 2.0, layout="NCHW", convention="onnx",
                             region="across", out=np.empty_like(x), num_threads=1), Any)

assert_type(lrn.caffe_lrn(x, local_size=5, alpha=1.0, beta=0.75, norm_region="ACROSS_CHANNELS",
                          k=1.0), Any)
xl = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
yl = lrn.tf_lrn(xl, depth_radius=2, bias=1.0, alpha=1.0, beta=0.5, num_threads=None)
assert_type(yl, Any)
assert_type(lrn.tf_lrn_grad(np.ones_like(xl), xl, yl, depth_radius=2), Any)

buf = io.StringIO()
assert_type(lrn.show_config(file=buf), None)
assert_type(lrn.__version__, str)
assert buf.getvalue().startswith(f"lrn {lrn.__version__}")


# lrn.dask: lrn.lrn's signatures plus method=; run where dask is installed (the
# calls are type-checked either way: the dask array is Any to the checker).
def dask_calls(xd: Any) -> None:
    assert_type(lrn.dask.is_dask(xd), bool)
    assert_type(lrn.dask.lrn(xd, 5, method="overlap"), Any)
    yd, sd = lrn.dask.lrn(xd, 5, 1e-4, 0.75, 2.0, return_scale=True, method="rechunk",
                          num_threads=None)
    assert_type(lrn.dask.lrn_backward(xd, yd, xd, 5, 1e-4, 0.75, 2.0, scale=sd,
                                      layout="NCHW", method="auto"), Any)
    assert lrn.dask.is_dask(yd) and "auto" in lrn.dask.METHODS


assert_type(lrn.dask.is_dask(x), bool)
if importlib.util.find_spec("dask") is not None:
    da: Any = importlib.import_module("dask.array")
    dask_calls(da.from_array(x, chunks=(1, 2, 4, 3)))

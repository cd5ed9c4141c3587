"""Calls that mypy must reject: each line marked ``# E: code`` is an error
with that code, and no other line is (tests/typing/test_public_api.py).  They
keep the annotations honest: a parameter that became ``Any`` would let its
line through."""
import numpy as np

import lrn
import lrn.onnx
import lrn.ops

x = np.ones((1, 3, 2, 2), np.float32)

lrn.lrn(x, "5")  # E: call-overload
lrn.lrn(x, 5.0)  # E: call-overload
lrn.lrn(x, 5, alpha="1e-4")  # E: call-overload
lrn.lrn(x, 5, layout="NWHC")  # E: call-overload
lrn.lrn(x, 5, convention="caffe")  # E: call-overload
lrn.lrn(x, 5, region="both")  # E: call-overload
lrn.lrn(x, 5, num_threads=2.0)  # E: call-overload
lrn.lrn(x, 5, 1e-4, 0.75, 1.0, "NHWC")  # E: call-overload
y, scale, extra = lrn.lrn(x, 5, return_scale=True)  # E: misc
lrn.lrn_backward(x, x, x, 5, layout="NHCW")  # E: arg-type
lrn.lrn_backward(x, x, x)  # E: call-arg
lrn.caffe_lrn(x, norm_region="ACROSS")  # E: arg-type
lrn.tf_lrn(x, depth_radius=2.5)  # E: arg-type
lrn.tf_lrn_grad(x, x)  # E: call-arg
lrn.show_config(file=1)  # E: arg-type
lrn.onnx.make_node("5")  # E: arg-type
lrn.ops.LRN(size="5")  # E: arg-type
lrn.not_a_function(x)  # E: attr-defined
lrn.dask.lrn(x, 5, method="fast")  # E: call-overload
lrn.dask.lrn_backward(x, x, x, 5, method="fast")  # E: arg-type
lrn.dask.is_dask()  # E: call-arg

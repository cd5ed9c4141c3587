"""Adapters for other frameworks, each named after what it adapts.

- :mod:`lrn.interop.torch`: ``local_response_norm`` and ``LocalResponseNorm``
  for PyTorch (also ``lrn.torch``);
- :mod:`lrn.interop.tf`: ``tf_lrn`` and ``tf_lrn_grad``, TensorFlow's ``LRN``
  and ``LRNGrad`` as differentiable TensorFlow operations (also ``lrn.tf_lrn``,
  ``lrn.tf_lrn_grad``);
- :mod:`lrn.interop.keras`: the Keras layer ``LocalResponseNormalization`` on
  ``tf_lrn`` (importing it imports Keras and registers the layer);
- :mod:`lrn.interop.onnx`: ONNX ``LRN`` nodes, and ONNX models in ONNX Runtime
  with their LRN nodes on lrn (also ``lrn.onnx``);
- :mod:`lrn.interop.caffe`: Caffe's ``LRN`` layer (also ``lrn.caffe_lrn`` and
  ``lrn.caffe_lrn_backward``);
- :mod:`lrn.interop.caffe2`: Caffe2's ``LRN`` and ``LRNGradient`` operators
  (also ``lrn.ops``).

Each imports its framework only when it needs it (``lrn.interop.torch`` and
``lrn.interop.keras`` need PyTorch and Keras to import at all).  Values and
first derivatives come from :func:`lrn.lrn` / :func:`lrn.lrn_backward`; only the
higher derivatives of ``torch`` and ``tf`` are computed in the framework's own
operations (the same formulas, which the framework differentiates again).
"""

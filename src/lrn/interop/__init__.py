"""Adapters for other frameworks, each named after what it adapts.

- :mod:`lrn.interop.torch`: ``local_response_norm`` and ``LocalResponseNorm``
  for PyTorch (also ``lrn.torch``);
- :mod:`lrn.interop.tf`: ``tf_lrn`` and ``tf_lrn_grad``, TensorFlow's
  signatures (also ``lrn.tf_lrn``, ``lrn.tf_lrn_grad``);
- :mod:`lrn.interop.onnx`: ONNX ``LRN`` nodes, and ONNX models in ONNX Runtime
  with their LRN nodes on lrn (also ``lrn.onnx``);
- :mod:`lrn.interop.caffe`: Caffe's ``LRN`` layer (also ``lrn.caffe_lrn``);
- :mod:`lrn.interop.caffe2`: Caffe2's ``LRN`` and ``LRNGradient`` operators
  (also ``lrn.ops``).

Each imports its framework only when it needs it (``lrn.interop.torch``
needs PyTorch to import at all).  None has numerics of its own: every call
goes to :func:`lrn.lrn` / :func:`lrn.lrn_backward`.
"""

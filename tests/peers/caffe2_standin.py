"""A stand-in for the part of Caffe2's Python API that the docs' Caffe2 snippets
use (``core.CreateOperator`` and the ``workspace`` blob calls, for the ``LRN`` and
``LRNGradient`` operators), so that those snippets, the code being ported, run in
the tests although Caffe2 is no longer installable.

It computes with Caffe2's own CPU kernels as ported in ``test_caffe2_lrn.py``, never
with lrn, and holds each operator to Caffe2's schema and operator classes
(``caffe2/operators/local_response_normalization_op.{h,cc}``): ``LRN`` takes one
input and gives one or two outputs (Y, Y_scale), ``LRNGradient`` takes three
(X, Y, dY) and gives one; the arguments are ``size``, ``alpha``, ``beta`` (default
0), ``bias`` (default 1) and ``order`` (default "NCHW"); the CPU kernels take 4-D
float32 blobs.  Stricter than Caffe2 where Caffe2 would silently do something else:
an argument it does not read (a misspelt name) and the checks of its debug builds
(odd positive ``size``, positive ``alpha`` and ``beta``) are errors here.

``modules()`` gives the modules to place in ``sys.modules`` for a snippet.
"""
import types

import numpy as np

from .test_caffe2_lrn import caffe2_cpu_lrn, caffe2_cpu_lrn_gradient

# operator type -> (inputs, allowed numbers of outputs)
SCHEMA = {"LRN": (1, (1, 2)), "LRNGradient": (3, (1,))}
ARGS = {"size": 0, "alpha": 0.0, "beta": 0.0, "bias": 1.0, "order": "NCHW"}


class OperatorDef(types.SimpleNamespace):
    """What ``core.CreateOperator`` returns: type, input and output blob names, args."""


def CreateOperator(operator_type, inputs, outputs, **kwargs):
    return OperatorDef(type=operator_type, input=list(inputs), output=list(outputs),
                       arg=dict(kwargs))


class _Workspace:
    def __init__(self):
        self.blobs = {}

    def FeedBlob(self, name, arr):
        self.blobs[name] = np.array(arr)    # Caffe2 copies what it is fed
        return True

    def FetchBlob(self, name):
        if name not in self.blobs:
            raise RuntimeError(f"Cannot find blob: {name}")
        return self.blobs[name].copy()

    def RunOperatorOnce(self, op):
        if op.type not in SCHEMA:
            raise RuntimeError(f"the stand-in knows LRN and LRNGradient only, not {op.type}")
        n_in, n_out = SCHEMA[op.type]
        if len(op.input) != n_in or len(op.output) not in n_out:
            raise RuntimeError(f"{op.type}: {len(op.input)} inputs and {len(op.output)} "
                               f"outputs, the schema allows {n_in} and {n_out}")
        unknown = set(op.arg) - set(ARGS)
        if unknown:
            raise RuntimeError(f"{op.type}: arguments it does not read: {sorted(unknown)}")
        args = dict(ARGS, **op.arg)
        if args["order"] not in ("NCHW", "NHWC"):
            raise RuntimeError(f"Unknown storage order: {args['order']}")
        if not (args["size"] > 0 and args["size"] % 2 == 1
                and args["alpha"] > 0 and args["beta"] > 0):
            raise RuntimeError(f"{op.type}: size must be odd and positive, alpha and beta "
                               f"positive, got {args}")
        data = [self.FetchBlob(name) for name in op.input]
        for name, blob in zip(op.input, data):
            if blob.dtype != np.float32 or blob.ndim != 4:
                raise RuntimeError(f"{op.type}: blob {name} is {blob.ndim}-D {blob.dtype}, "
                                   f"the CPU kernel takes 4-D float32")
        if op.type == "LRN":
            results = caffe2_cpu_lrn(*data, **args)[:len(op.output)]
        else:
            results = (caffe2_cpu_lrn_gradient(*data, **args),)
        for name, value in zip(op.output, results):
            self.FeedBlob(name, value)
        return True


def modules():
    """Fresh ``caffe2``, ``caffe2.python``, ``caffe2.python.core`` and
    ``caffe2.python.workspace`` modules (a new, empty workspace)."""
    ws = _Workspace()
    core = types.ModuleType("caffe2.python.core", "stand-in (tests/peers/caffe2_standin.py)")
    core.CreateOperator = CreateOperator
    workspace = types.ModuleType("caffe2.python.workspace",
                                 "stand-in (tests/peers/caffe2_standin.py)")
    for name in ("FeedBlob", "FetchBlob", "RunOperatorOnce"):
        setattr(workspace, name, getattr(ws, name))
    python = types.ModuleType("caffe2.python")
    python.core, python.workspace = core, workspace
    caffe2 = types.ModuleType("caffe2")
    caffe2.python = python
    return {"caffe2": caffe2, "caffe2.python": python, "caffe2.python.core": core,
            "caffe2.python.workspace": workspace}

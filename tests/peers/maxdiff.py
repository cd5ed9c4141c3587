"""Largest differences between the adapters and each peer's own operator (or, where
the peer cannot be installed, its ported reference), on the ported test cases.

Run from the repository root: ``python -m tests.peers.maxdiff``.
"""
import numpy as np
import torch
import torch.nn.functional as F

import lrn
from lrn.ops import LRN, LRNGradient
from lrn.torch import LocalResponseNorm, local_response_norm

from . import test_caffe2_lrn as c2
from . import test_caffe_lrn_layer as caffe
from . import test_torch_moduleinfo as mi
from . import test_torch_opinfo as oi


def _diff(a, b):
    if a.numel() == 0:
        return 0.0
    return float((a.detach().double() - b.detach().double()).abs().max())


def torch_rows():
    rows = []
    for dtype in oi.FLOATS:
        values = grads = second = 0.0
        errors = np.zeros(4)          # ours, PyTorch's: values, gradients vs float64
        for i in range(len(oi.CASES)):
            x, size, kwargs = oi._sample(i, dtype, requires_grad=True)
            g = oi._make(x.shape, dtype, "grad", i)
            ours = lambda t: local_response_norm(t, size, **kwargs)
            theirs = lambda t: F.local_response_norm(t, size, **kwargs)
            values = max(values, _diff(ours(x), theirs(x)))
            grads = max(grads, _diff(oi._grad(ours, x, g), oi._grad(theirs, x, g)))
            x64 = x.detach().double().requires_grad_()
            exact_y, exact_g = theirs(x64), oi._grad(theirs, x64, g.double())
            errors = np.maximum(errors, [
                _diff(ours(x), exact_y), _diff(theirs(x), exact_y),
                _diff(oi._grad(ours, x, g), exact_g), _diff(oi._grad(theirs, x, g), exact_g)])
            if dtype == torch.float64 and x.numel():
                v = oi._make(x.shape, dtype, "v", i)
                hv = [torch.autograd.grad(oi._grad(f, x, g, create_graph=True), x, v)[0]
                      for f in (ours, theirs)]
                second = max(second, _diff(*hv))
        rows.append((f"OpInfo samples, {dtype}", values, grads,
                     second if dtype == torch.float64 else None, errors))
    for dtype in mi.DTYPES:
        values = grads = 0.0
        for j in range(len(mi.INPUTS)):
            x = mi._input(j, dtype, True)
            g = torch.randn_like(x, generator=torch.Generator().manual_seed(j))
            ours = LocalResponseNorm(*mi.INPUTS[j][0])
            theirs = torch.nn.LocalResponseNorm(*mi.INPUTS[j][0])
            values = max(values, _diff(ours(x), theirs(x)))
            grads = max(grads, _diff(oi._grad(ours, x, g), oi._grad(theirs, x, g)))
        rows.append((f"ModuleInfo inputs, {dtype}", values, grads, None, None))
    return rows


def caffe_rows():
    rows = []
    for dtype in (np.float32, np.float64):
        values, worst = 0.0, 0.0
        for layer_param in ({}, {"local_size": 15},
                            {"local_size": 3, "norm_region": "WITHIN_CHANNEL"}):
            x = caffe.bottom(dtype)
            values = max(values, float(np.abs(
                lrn.caffe_lrn(x, **layer_param) - caffe.reference_lrn_forward(x, **layer_param)
            ).max()))
            worst = max(worst, caffe.check_gradient_exhaustive(x, **layer_param))
        rows.append((np.dtype(dtype).name, values, worst))
    return rows


def caffe2_rows():
    values = grads = 0.0
    for order, size in c2.KERNEL_CASES:
        X, dY, args = c2._kernel_case(order, size)
        Y = LRN(**args).run(X)
        values = max(values, float(np.abs(Y - c2.caffe2_cpu_lrn(X, **args)[0]).max()))
        if order == "NCHW" or size % 2:
            dX = LRNGradient(**args).run(X, Y, dY)
            grads = max(grads, float(np.abs(
                dX - c2.caffe2_cpu_lrn_gradient(X, Y, dY, **args)).max()))
    worst = 0.0
    for input_size, depth in ((6, 10), (3, 13)):
        op = LRN(size=11, alpha=0.001, beta=0.5, bias=2.0, order="NHWC")
        X = np.random.default_rng(input_size * 100 + depth).random(
            (2, input_size, input_size, depth)).astype(np.float32)
        worst = max(worst, c2.check_simple(op, X, 0.01, 0.05)[3])
    return values, grads, worst


def main():
    print("PyTorch: max |lrn.torch - torch.nn.functional / torch.nn| "
          "(values, first derivatives, second derivatives)")
    rows = torch_rows()
    for name, v, g, s, _ in rows:
        print(f"  {name:34s} {v:9.3g} {g:9.3g} {'' if s is None else f'{s:9.3g}'}")
    print("  ... and each against the float64 result: values ours / PyTorch's, "
          "gradients ours / PyTorch's")
    for name, *_, e in rows:
        if e is not None:
            print(f"  {name:34s} " + " ".join(f"{d:9.3g}" for d in e))
    print("Caffe: max |lrn.caffe_lrn - ReferenceLRNForward|, "
          "worst gradient-check error / allowed")
    for name, v, w in caffe_rows():
        print(f"  {name:34s} {v:9.3g} {w:9.3g}")
    v, g, w = caffe2_rows()
    print("Caffe2 (float32): max |lrn.ops - ported CPU kernel| values, gradients "
          "(odd sizes, even NCHW); TestLRN worst gradient-check error / allowed")
    print(f"  {'':34s} {v:9.3g} {g:9.3g} {w:9.3g}")


if __name__ == "__main__":
    main()

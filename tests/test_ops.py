"""lrn.ops: Caffe2's LRN / LRNGradient operators, gradient definition and ONNX schema.

The operators add no numerics: they must equal lrn.lrn / lrn.lrn_backward bit for bit
and, through them, the float64 reference (tests/reference.py).
"""
import dataclasses
import sys

import numpy as np
import pytest

import lrn
from .helpers import (DTYPES, assert_bwd_close, assert_fwd_close, dtype_id, fd_gradient,
                     make_shape, random_x, rng_for)
from lrn import ops
from lrn.ops import LRN, GradientDef, LRNGradient, gradient_def
from .reference import caffe_backward_unmirrored, ref_backward, ref_forward

ORDERS = ("NCHW", "NHWC")
SIZES = (1, 2, 3, 4, 5, 11)            # 11 > C: the window covers every channel
PARAMS = dict(alpha=1.7, beta=0.75, bias=2.0)


def data(order, dtype, *parts, n=2, c=7, spatial=(3, 4)):
    rng = rng_for("ops", order, dtype_id(dtype), *parts)
    shape = make_shape(n, c, spatial, order)
    return random_x(rng, shape, dtype), random_x(rng, shape, dtype, scale=1.0)


# -- LRN ---------------------------------------------------------------------

@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("order", ORDERS)
def test_lrn_op_forward(order, dtype, size):
    X, _ = data(order, dtype, size)
    op = LRN(size, order=order, **PARAMS)
    yref, sref = ref_forward(X, size, layout=order, convention="onnx", **PARAMS)

    Y = op.run(X)
    Y2, Y_scale = op.run(X, num_outputs=2)
    assert_fwd_close(Y, yref, dtype, "Y")
    assert_fwd_close(Y_scale, sref, dtype, "Y_scale")
    # thin: exactly the core function with Caffe2's pre_pad = (size - 1) / 2
    core_y, core_s = lrn.lrn(X, size, layout=order, convention="onnx", return_scale=True,
                             **PARAMS)
    np.testing.assert_array_equal(Y, core_y)
    np.testing.assert_array_equal(Y2, core_y)
    np.testing.assert_array_equal(Y_scale, core_s)
    np.testing.assert_array_equal(op(X), Y)          # __call__ is run


@pytest.mark.parametrize("order", ORDERS)
def test_lrn_op_even_window_is_caffe2s(order):
    # scale[c] counts the channels of the window when x = 1 and alpha / size = 1:
    # Caffe2's pre_pad = (4 - 1) / 2 = 1 gives [c-1, c+2] (PyTorch's would be [c-2, c+1]).
    X = np.ones(make_shape(1, 6, (1,), order))
    _, s = LRN(4, alpha=4.0, beta=1.0, bias=0.0, order=order).run(X, num_outputs=2)
    counts = s[0, :, 0] if order == "NCHW" else s[0, 0, :]
    np.testing.assert_array_equal(counts, [3, 4, 4, 4, 3, 2])


@pytest.mark.parametrize("num_outputs", [0, 3, -1, True, 2.0, "2", None])
def test_lrn_op_num_outputs(num_outputs):
    with pytest.raises(ValueError, match="`num_outputs` must be 1 or 2"):
        LRN(3).run(np.ones((1, 3, 2)), num_outputs=num_outputs)


# -- LRNGradient ---------------------------------------------------------------

@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("dtype", DTYPES, ids=dtype_id)
@pytest.mark.parametrize("order", ORDERS)
def test_lrn_gradient_op(order, dtype, size):
    X, dY = data(order, dtype, size, "grad")
    Y, Y_scale = LRN(size, order=order, **PARAMS).run(X, num_outputs=2)
    gop = LRNGradient(size, order=order, **PARAMS)
    dxref, mag = ref_backward(X, dY, size, layout=order, convention="onnx",
                              return_terms=True, **PARAMS)

    dX = gop.run(X, Y, dY)
    assert_bwd_close(dX, dxref, mag, dtype)
    kw = dict(layout=order, convention="onnx", **PARAMS)
    np.testing.assert_array_equal(dX, lrn.lrn_backward(X, Y, dY, size, **kw))
    dX_s = gop.run(X, Y, dY, scale=Y_scale)          # Caffe2's Y_scale reused
    assert_bwd_close(dX_s, dxref, mag, dtype)
    np.testing.assert_array_equal(dX_s, lrn.lrn_backward(X, Y, dY, size, scale=Y_scale, **kw))
    np.testing.assert_array_equal(gop(X, Y, dY), dX)


@pytest.mark.parametrize("size", [2, 4, 6])
@pytest.mark.parametrize("order", ORDERS)
def test_even_size_gradient_is_true_gradient(order, size):
    """Caffe2 rejected even sizes only in debug builds; ours get the true gradient
    (finite differences), which Caffe2's CPU NHWC kernel (the forward window
    instead of the mirrored one, caffe_backward_unmirrored) did not compute."""
    X, dY = data(order, np.float64, size, "even", n=1, c=7, spatial=(2,))
    op, gop = LRN(size, order=order, **PARAMS), LRNGradient(size, order=order, **PARAMS)
    dX = gop.run(X, op.run(X), dY)
    fd = fd_gradient(op.run, X, dY)
    np.testing.assert_allclose(dX, fd, rtol=1e-6, atol=1e-8)
    caffe2 = caffe_backward_unmirrored(X, dY, size, layout=order, **PARAMS)
    assert not np.allclose(caffe2, fd, rtol=1e-3, atol=1e-5)


# -- construction: validation and value semantics --------------------------------

BAD_ARGS = [
    (dict(size=0), ValueError, "`size` must be a positive integer, got 0"),
    (dict(size=-3), ValueError, "`size` must be a positive integer"),
    (dict(size=2.0), TypeError, "`size` must be a positive integer"),
    (dict(size=True), TypeError, "`size` must be a positive integer"),
    (dict(size="5"), TypeError, "`size` must be a positive integer"),
    (dict(size=None), TypeError, "`size` must be a positive integer"),
    (dict(size=5, alpha=float("nan")), ValueError, "`alpha` must be a finite real number"),
    (dict(size=5, alpha="1e-4"), TypeError, "`alpha` must be a real number"),
    (dict(size=5, beta=float("inf")), ValueError, "`beta` must be a finite real number"),
    (dict(size=5, beta=1j), TypeError, "`beta` must be a real number"),
    (dict(size=5, bias=-float("inf")), ValueError, "`bias` must be a finite real number"),
    (dict(size=5, bias=None), TypeError, "`bias` must be a real number"),
    (dict(size=5, order="NCWH"), ValueError,
     "`order` must be 'NCHW' or 'NHWC' (or in lower case), got 'NCWH'"),
    (dict(size=5, order="Nchw"), ValueError, "`order` must be 'NCHW' or 'NHWC'"),
    (dict(size=5, order="channels_last"), ValueError, "`order` must be 'NCHW' or 'NHWC'"),
    (dict(size=5, order=1), ValueError, "`order` must be 'NCHW' or 'NHWC'"),
    (dict(size=5, order=b"NCHW"), ValueError, "`order` must be 'NCHW' or 'NHWC'"),
]


@pytest.mark.parametrize("cls", [LRN, LRNGradient])
@pytest.mark.parametrize("kwargs, exc, msg", BAD_ARGS,
                         ids=[repr(k) for k, _, _ in BAD_ARGS])
def test_validation_at_construction(cls, kwargs, exc, msg):
    with pytest.raises(exc, match=msg.replace("(", r"\(").replace(")", r"\)")):
        cls(**kwargs)


def test_size_is_required():
    with pytest.raises(TypeError):
        LRN()


@pytest.mark.parametrize("cls", [LRN, LRNGradient])
def test_accepted_args(cls):
    # defaults are ONNX's; Caffe2's debug-only checks (odd size, alpha > 0, beta > 0)
    # are not kept: even sizes, negative alpha ("excitatory") and beta = 0 are allowed.
    assert cls(5).args == dict(size=5, alpha=1e-4, beta=0.75, bias=1.0, order="NCHW")
    assert cls(np.int64(4), alpha=-0.5, beta=0, bias=np.float32(0.5)).args == dict(
        size=4, alpha=-0.5, beta=0.0, bias=0.5, order="NCHW")
    assert cls(3, order="nhwc").order == "NHWC"       # Caffe2 accepts lowercase too
    op = cls(3, 1, 2, 3, "NHWC")                      # Caffe2's argument order
    assert (op.size, op.alpha, op.beta, op.bias, op.order) == (3, 1.0, 2.0, 3.0, "NHWC")
    assert type(op.size) is int and type(op.alpha) is float


def test_value_semantics():
    a, b = LRN(5, alpha=2e-4), LRN(5, alpha=2e-4, beta=0.75, bias=1, order="nchw")
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    assert a != LRN(5) and a != LRNGradient(5, alpha=2e-4)
    assert repr(a) == "LRN(size=5, alpha=0.0002, beta=0.75, bias=1.0, order='NCHW')"
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.size = 3
    assert (LRN.type, LRN.input_names, LRN.output_names) == ("LRN", ("X",), ("Y", "Y_scale"))
    assert (LRNGradient.type, LRNGradient.input_names, LRNGradient.output_names) == (
        "LRNGradient", ("X", "Y", "dY"), ("dX",))


# -- gradient definition -----------------------------------------------------------

def test_gradient_def():
    op = LRN(4, alpha=0.3, beta=0.6, bias=2.5, order="NHWC")
    g = gradient_def(op)
    assert isinstance(g, GradientDef)
    assert g.op == LRNGradient(4, alpha=0.3, beta=0.6, bias=2.5, order="NHWC")
    assert g.op.args == op.args
    assert g.inputs == (("I", 0), ("O", 0), ("GO", 0))      # X, Y, dY
    assert g.outputs == (("GI", 0),)                        # dX
    # Caffe2's blob naming, with the optional Y_scale output present: it is not wired
    assert g.resolve(["X"], ["Y", "Y_scale"], ["Y_grad", None]) == ["X", "Y", "Y_grad"]
    for bad in (LRNGradient(3), "LRN", None):
        with pytest.raises(TypeError, match="`op` must be an lrn.ops.LRN operator"):
            gradient_def(bad)


class WeightedSquareLoss:
    """L = 0.5 * sum(W * Y**2): a stand-in for the rest of a network."""
    type = "WeightedSquareLoss"

    def __init__(self, W):
        self.W = W

    def run(self, Y):
        return 0.5 * np.sum(self.W * Y * Y)


class WeightedSquareLossGradient:
    def __init__(self, W):
        self.W = W

    def run(self, Y, dL):
        return self.W * Y * dL


GRADIENTS = {   # op type -> gradient maker, as a graph tool would register them
    "LRN": gradient_def,
    "WeightedSquareLoss": lambda op: GradientDef(WeightedSquareLossGradient(op.W),
                                                 (("I", 0), ("GO", 0)), (("GI", 0),)),
}


def run_net(net, ws):
    for op, ins, outs in net:
        args = [ws[b] for b in ins]
        if isinstance(op, LRN):
            res = op.run(*args, num_outputs=len(outs))
        else:
            res = op.run(*args)
        ws.update(zip(outs, res if len(outs) > 1 else (res,)))
    return ws


def backprop(net, ws, loss):
    """Reverse-mode autodiff driven by the registered gradient definitions,
    with Caffe2's naming: the gradient of blob b is b + '_grad'."""
    ws[loss + "_grad"] = 1.0
    for op, ins, outs in reversed(net):
        g = GRADIENTS[op.type](op)
        grads_of_outs = [b + "_grad" for b in outs]
        args = [ws.get(b) for b in g.resolve(ins, outs, grads_of_outs)]
        res = g.op.run(*args)
        res = res if len(g.outputs) > 1 else (res,)
        for (kind, i), value in zip(g.outputs, res):
            assert kind == "GI"
            ws[ins[i] + "_grad"] = value
    return ws


@pytest.mark.parametrize("sizes", [(3, 5), (4, 2), (1, 6)])
@pytest.mark.parametrize("order", ORDERS)
def test_reverse_mode_example(order, sizes):
    """X -> LRN -> H -> LRN -> Y -> loss; the wiring of gradient_def gives dL/dX."""
    X, W = data(order, np.float64, sizes, "autodiff", n=2, c=6, spatial=(2, 3))
    net = [
        (LRN(sizes[0], alpha=1.3, beta=0.75, bias=1.5, order=order), ["X"], ["H", "H_scale"]),
        (LRN(sizes[1], alpha=0.8, beta=0.6, bias=2.0, order=order), ["H"], ["Y"]),
        (WeightedSquareLoss(W), ["Y"], ["L"]),
    ]
    ws = backprop(net, run_net(net, {"X": X}), "L")

    def loss(x):
        return run_net(net, {"X": x})["L"]
    fd = fd_gradient(loss, X, 1.0)
    np.testing.assert_allclose(ws["X_grad"], fd, rtol=1e-6, atol=1e-9 * np.abs(fd).max())
    assert ws["X_grad"].shape == X.shape and "H_scale_grad" not in ws


# -- ONNX schema and conversion ------------------------------------------------------

def test_schema():
    pytest.importorskip("onnx")
    s = ops.schema()
    assert (s["name"], s["domain"]) == ("LRN", "")
    assert s["since_version"] == 13 and s["opset_versions"][:2] == (1, 13)
    attrs = s["attributes"]
    assert set(attrs) == {"size", "alpha", "beta", "bias"}
    assert attrs["size"] == dict(attrs["size"], type="INT", required=True, default=None)
    for name, default in (("alpha", 1e-4), ("beta", 0.75), ("bias", 1.0)):
        assert attrs[name]["type"] == "FLOAT" and not attrs[name]["required"]
        assert attrs[name]["default"] == default == LRN(1).args[name]
    assert [p["name"] for p in s["inputs"]] == ["X"]
    assert [p["name"] for p in s["outputs"]] == ["Y"]
    allowed = s["type_constraints"]["T"]
    assert {"tensor(float16)", "tensor(float)", "tensor(double)"} <= set(allowed)
    assert "LRN" in s["doc"] or "Local Response Normalization" in s["doc"]
    old = ops.schema(opset=12)
    assert old["since_version"] == 1 and "tensor(bfloat16)" not in old["type_constraints"]["T"]
    assert ops.schema(opset=13)["since_version"] == 13


@pytest.mark.parametrize("opset", [0, -1, True, "13", 13.0])
def test_schema_bad_opset(opset):
    pytest.importorskip("onnx")
    with pytest.raises(ValueError, match="`opset` must be None or a positive integer"):
        ops.schema(opset)


def test_schema_without_onnx(monkeypatch):
    for name in [m for m in sys.modules if m == "onnx" or m.startswith("onnx.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "onnx", None)     # `import onnx` now fails
    with pytest.raises(ImportError, match="pip install onnx"):
        ops.schema()


def f32(v):
    return float(np.float32(v))


def test_to_onnx():
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    op = LRN(5, alpha=2e-4, beta=0.6, bias=1.5)
    node = op.to_onnx(["conv1"], ["norm1"], name="lrn1")
    assert (node.op_type, node.domain, node.name) == ("LRN", "", "lrn1")
    assert (list(node.input), list(node.output)) == (["conv1"], ["norm1"])
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    assert attrs["size"] == 5
    assert [f32(attrs[k]) for k in ("alpha", "beta", "bias")] == [f32(2e-4), f32(0.6), 1.5]
    graph = helper.make_graph(
        [node], "g", [helper.make_tensor_value_info("conv1", TensorProto.FLOAT, [1, 8, 4, 4])],
        [helper.make_tensor_value_info("norm1", TensorProto.FLOAT, [1, 8, 4, 4])])
    onnx.checker.check_model(helper.make_model(graph), full_check=True)
    assert list(LRN(3).to_onnx().input) == ["X"] and list(LRN(3).to_onnx().output) == ["Y"]
    with pytest.raises(ValueError, match="`order` must be 'NCHW' to convert to ONNX"):
        LRN(5, order="NHWC").to_onnx()


@pytest.mark.parametrize("size", [1, 3, 4, 5])
def test_onnx_round_trip(size):
    pytest.importorskip("onnx")
    op = LRN(size, alpha=2e-4, beta=0.6, bias=1.5)
    back = LRN.from_onnx(op.to_onnx())
    assert back == op            # values are read back as the shortest float32 decimal
    # ONNX stores float32 attributes: other values come back float32-rounded
    op = LRN(size, alpha=0.1234567891, beta=0.7654321, bias=1.0 / 3)
    back = LRN.from_onnx(op.to_onnx())
    assert isinstance(back, LRN) and back.size == size and back.order == "NCHW"
    assert [f32(getattr(back, k)) for k in ("alpha", "beta", "bias")] == [
        f32(getattr(op, k)) for k in ("alpha", "beta", "bias")]


def test_from_onnx_defaults_and_errors():
    pytest.importorskip("onnx")
    from onnx import helper

    op = LRN.from_onnx(helper.make_node("LRN", ["X"], ["Y"], size=3))
    assert op == LRN(3)                                  # ONNX's defaults, exactly ours
    op = LRN.from_onnx(helper.make_node("LRN", ["X"], ["Y"], size=4, beta=0.5))
    assert (op.size, op.beta, op.alpha, op.bias) == (4, 0.5, 1e-4, 1.0)
    with pytest.raises(ValueError, match="LRN"):
        LRN.from_onnx(helper.make_node("Relu", ["X"], ["Y"]))
    with pytest.raises(ValueError, match="`size`"):
        LRN.from_onnx(helper.make_node("LRN", ["X"], ["Y"], alpha=0.1))


@pytest.mark.parametrize("size", [3, 4, 5])
def test_onnx_node_semantics(size):
    """The node to_onnx writes means, to ONNX's own reference evaluator and to
    lrn.onnx.run_node, what the operator computes."""
    pytest.importorskip("onnx")
    from onnx import TensorProto, helper
    from onnx.reference import ReferenceEvaluator
    import lrn.onnx

    # N == C: onnx's ReferenceEvaluator loops its LRN over the batch axis instead of
    # the channels (onnx/onnx#7805, fixed by onnx/onnx#8331); with N == C both agree.
    X, _ = data("NCHW", np.float32, size, "onnx", n=6, c=6, spatial=(2, 3))
    op = LRN(size, alpha=1.3, beta=0.7, bias=1.25)
    node = op.to_onnx()
    graph = helper.make_graph(
        [node], "g", [helper.make_tensor_value_info("X", TensorProto.FLOAT, X.shape)],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, X.shape)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    (y_onnx,) = ReferenceEvaluator(model).run(None, {"X": X})
    np.testing.assert_allclose(op.run(X), y_onnx, rtol=2e-5, atol=0)
    np.testing.assert_array_equal(lrn.onnx.run_node(node, X), LRN.from_onnx(node).run(X))

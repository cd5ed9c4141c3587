"""lrn.onnx.session and rewrite_model: whole ONNX models in ONNX Runtime with their LRN
nodes on lrn (onnxruntime-extensions Python ops).

Each LRN output is checked bitwise against lrn.onnx.run_node on the same input (so each
node ran with its own attributes), against the float64 reference in tests/reference.py,
and against ONNX Runtime's own LRN where it has one (float16/float32, 4-D, odd sizes).
"""
import numpy as np
import pytest

from .helpers import ATOL, assert_fwd_close, ref_forward, rng_for

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnxruntime_extensions")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

import lrn.interop.onnx as lrn_onnx  # noqa: E402
from lrn.onnx import (DOMAIN, make_node, node_params, rewrite_model, run_node,  # noqa: E402
                      session)


def _raw_node(op_type="LRN", inputs=("X",), outputs=("Y",), domain=None, **attrs):
    return helper.make_node(op_type, list(inputs), list(outputs), domain=domain, **attrs)



ELEM = {np.float16: TensorProto.FLOAT16, np.float32: TensorProto.FLOAT,
        np.float64: TensorProto.DOUBLE}
# the two LRN nodes of the AlexNet-shaped model: different attributes each
NORM1 = dict(size=5, alpha=2.0, beta=0.75, bias=1.0)
NORM2 = dict(size=3, alpha=0.5, beta=0.6, bias=2.0)


def _alexnet(n, hw, seed):
    """Conv-Relu-LRN-MaxPool-Conv-Relu-LRN-MaxPool-Flatten-Gemm, float32, every
    intermediate a graph output (relu1, norm1, relu2, norm2, logits)."""
    rng = np.random.default_rng(seed)

    def init(name, shape, scale):
        return numpy_helper.from_array((rng.standard_normal(shape) * scale).astype(np.float32),
                                       name)

    c1, c2, classes = 16, 24, 10
    p2 = (hw - 3) // 2 + 1          # after MaxPool(3, stride 2)
    flat = c2 * (p2 // 2) ** 2      # after MaxPool(2, stride 2)
    inits = [init("w1", (c1, 3, 5, 5), 0.3), init("b1", (c1,), 0.1),
             init("w2", (c2, c1, 3, 3), 0.2), init("b2", (c2,), 0.1),
             init("wf", (classes, flat), 0.05), init("bf", (classes,), 0.1)]
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["conv1"], pads=[2, 2, 2, 2]),
        helper.make_node("Relu", ["conv1"], ["relu1"]),
        helper.make_node("LRN", ["relu1"], ["norm1"], name="norm1", **NORM1),
        helper.make_node("MaxPool", ["norm1"], ["pool1"], kernel_shape=[3, 3], strides=[2, 2]),
        helper.make_node("Conv", ["pool1", "w2", "b2"], ["conv2"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["conv2"], ["relu2"]),
        helper.make_node("LRN", ["relu2"], ["norm2"], name="norm2", **NORM2),
        helper.make_node("MaxPool", ["norm2"], ["pool2"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Flatten", ["pool2"], ["flat"]),
        helper.make_node("Gemm", ["flat", "wf", "bf"], ["logits"], transB=1),
    ]
    shapes = {"relu1": [n, c1, hw, hw], "norm1": [n, c1, hw, hw], "relu2": [n, c2, p2, p2],
              "norm2": [n, c2, p2, p2], "logits": [n, classes]}
    outputs = [helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)
               for name, shape in shapes.items()]
    graph = helper.make_graph(
        nodes, "alexnet",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [n, 3, hw, hw])], outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 9
    onnx.checker.check_model(model)
    x = rng.uniform(0.0, 2.0, (n, 3, hw, hw)).astype(np.float32)
    return model, x


def _one_node_model(node, dtype, shape, opset=13):
    elem = ELEM[dtype]
    graph = helper.make_graph([node], "g",
                              [helper.make_tensor_value_info("X", elem, list(shape))],
                              [helper.make_tensor_value_info("Y", elem, list(shape))])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 9
    return model


def _native(model, threads=1):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    return ort.InferenceSession(model.SerializeToString(), opts,
                                providers=["CPUExecutionProvider"])


def _ours(model, threads=1, **kwargs):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    return session(model, opts, providers=["CPUExecutionProvider"], **kwargs)


@pytest.mark.parametrize("n, hw, seed", [(2, 32, 0), (3, 27, 1), (1, 19, 2)])
def test_session_alexnet_matches_onnxruntime(n, hw, seed):
    model, x = _alexnet(n, hw, seed)
    names = [o.name for o in model.graph.output]
    native = dict(zip(names, _native(model).run(None, {"x": x})))
    got = dict(zip(names, _ours(model).run(None, {"x": x})))
    # the nodes before the first LRN are ONNX Runtime's in both sessions
    np.testing.assert_array_equal(got["relu1"], native["relu1"])
    for name, attrs, source in (("norm1", NORM1, "relu1"), ("norm2", NORM2, "relu2")):
        y, x_in = got[name], got[source]
        assert y.dtype == np.float32 and y.shape == x_in.shape
        # each node ran on lrn with its own attributes
        np.testing.assert_array_equal(y, run_node(make_node(**attrs), x_in))
        want, _ = ref_forward(x_in, attrs["size"], attrs["alpha"], attrs["beta"],
                              attrs["bias"], "NCHW", "onnx")
        assert_fwd_close(y, want, np.float32)
        other = NORM2 if attrs is NORM1 else NORM1
        assert not np.allclose(y, run_node(make_node(**other), x_in), rtol=1e-3)
    # and the model's outputs are ONNX Runtime's own to float32 rounding (measured:
    # a few ulp; the later layers carry the LRN's last-bit differences along)
    for name in names:
        scale = np.abs(native[name]).max()
        np.testing.assert_allclose(got[name], native[name], rtol=1e-5, atol=1e-6 * scale,
                                   err_msg=name)


SESSION_SHAPES = [(2, 7), (3, 5, 6), (2, 6, 4, 5), (3, 4, 2, 3, 2), (1, 1, 3, 3), (2, 9, 3, 3)]


@pytest.mark.parametrize("shape", SESSION_SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 11])
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_session_one_node_every_dtype(shape, size, dtype):
    rng = rng_for("onnx-session", shape, size, np.dtype(dtype).name)
    x = (rng.standard_normal(shape) * 2).astype(dtype)
    node = make_node(size, alpha=1.7, beta=0.75 if size % 2 else 0.6, bias=1.5)
    sess = _ours(_one_node_model(node, dtype, shape))
    y = sess.run(None, {"X": x})[0]
    assert y.dtype == dtype and y.shape == x.shape
    np.testing.assert_array_equal(y, run_node(node, x))
    p = node_params(node)
    want, _ = ref_forward(x, size, p["alpha"], p["beta"], p["bias"], "NCHW", "onnx")
    assert_fwd_close(y, want, dtype)


@pytest.mark.parametrize("dtype", [np.float16, np.float32])
@pytest.mark.parametrize("size", [1, 3, 5, 7])
def test_session_matches_onnxruntime_lrn(dtype, size):
    # ONNX Runtime's CPU LRN: float16 and float32, 4-D, odd sizes
    rng = rng_for("onnx-session-ort", size, np.dtype(dtype).name)
    x = (rng.standard_normal((3, 10, 5, 6)) * 2).astype(dtype)
    model = _one_node_model(make_node(size, alpha=0.9, beta=0.75, bias=1.25), dtype, x.shape)
    got = _ours(model).run(None, {"X": x})[0]
    native = _native(model).run(None, {"X": x})[0]
    np.testing.assert_allclose(got.astype(np.float64), native.astype(np.float64),
                               rtol=1e-5 if dtype == np.float32 else 2e-3, atol=ATOL[dtype])


@pytest.mark.parametrize("opset", [7, 11, 13])
def test_session_opsets(opset):
    # the model zoo's AlexNet, CaffeNet, GoogLeNet and ZFNet use opsets 3 to 12 (LRN-1)
    node = make_node(5, alpha=0.5, beta=0.75, bias=2.0)
    x = rng_for("opset", opset).standard_normal((2, 7, 4, 4)).astype(np.float32)
    model = _one_node_model(node, np.float32, x.shape, opset=opset)
    np.testing.assert_array_equal(_ours(model).run(None, {"X": x})[0], run_node(node, x))


def test_session_attributes_keep_every_digit():
    # onnxruntime-extensions passes a FLOAT attribute to Python with 6 significant
    # digits; the rewritten nodes carry alpha, beta and bias as exact decimals
    node = make_node(3, alpha=1.2345678, beta=0.76543211, bias=1.0000001)
    x = rng_for("digits").standard_normal((2, 5, 3, 3))
    y = _ours(_one_node_model(node, np.float64, x.shape)).run(None, {"X": x})[0]
    np.testing.assert_array_equal(y, run_node(node, x))
    rounded = make_node(3, alpha=1.23457, beta=0.765432, bias=1.0)
    assert not np.array_equal(y, run_node(rounded, x))
    attrs = {a.name: helper.get_attribute_value(a)
             for a in rewrite_model(_one_node_model(node, np.float64, x.shape)).graph.node[0]
             .attribute}
    # each the shortest decimal of the float32 the node holds, as node_params reads it
    assert attrs == {"size": 3, "alpha": b"1.2345678", "beta": b"0.7654321",
                     "bias": b"1.0000001", "num_threads": 0}
    assert node_params(node) == {"size": 3, "alpha": 1.2345678, "beta": 0.7654321,
                                 "bias": 1.0000001}


def test_rewrite_model_nodes():
    model, _ = _alexnet(2, 19, 0)
    before = model.SerializeToString()
    out = rewrite_model(model, num_threads=3)
    assert model.SerializeToString() == before          # the caller's model untouched
    lrn_nodes = [n for n in out.graph.node if n.domain == DOMAIN]
    assert [n.name for n in lrn_nodes] == ["norm1", "norm2"]
    assert [n.op_type for n in lrn_nodes] == ["LRN_float32"] * 2
    assert [(list(n.input), list(n.output)) for n in lrn_nodes] == [
        (["relu1"], ["norm1"]), (["relu2"], ["norm2"])]
    assert not any(n.op_type == "LRN" for n in out.graph.node)
    assert len(out.graph.node) == len(model.graph.node)
    assert (DOMAIN, 1) in [(o.domain, o.version) for o in out.opset_import]
    for node, attrs in zip(lrn_nodes, (NORM1, NORM2)):
        got = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        assert got == {"size": attrs["size"], "alpha": repr(attrs["alpha"]).encode(),
                       "beta": repr(attrs["beta"]).encode(),
                       "bias": repr(attrs["bias"]).encode(), "num_threads": 3}


def test_rewrite_model_float16_casts():
    out = rewrite_model(_one_node_model(make_node(5, name="n"), np.float16, (1, 8, 2, 2)))
    assert [(n.op_type, n.domain) for n in out.graph.node] == [
        ("Cast", ""), ("LRN_float32", DOMAIN), ("Cast", "")]
    cast_in, lrn_node, cast_out = out.graph.node
    assert cast_in.input[0] == "X" and cast_out.output[0] == "Y"
    assert cast_in.output[0] == lrn_node.input[0] and lrn_node.output[0] == cast_out.input[0]
    assert len({cast_in.output[0], cast_out.input[0], "X", "Y"}) == 4


def test_session_model_kinds_and_caller_model_untouched(tmp_path):
    model, x = _alexnet(2, 19, 3)
    before = model.SerializeToString()
    want = _ours(model).run(["logits"], {"x": x})[0]
    assert model.SerializeToString() == before
    path = tmp_path / "alexnet.onnx"
    onnx.save(model, path)
    for given in (path, str(path), before, bytearray(before)):
        np.testing.assert_array_equal(_ours(given).run(["logits"], {"x": x})[0], want)
    with pytest.raises(TypeError, match="`model` must be an onnx.ModelProto"):
        session(model.graph)


def test_session_output_is_a_fresh_array():
    x = rng_for("fresh").standard_normal((2, 6, 3, 3)).astype(np.float32)
    sess = _ours(_one_node_model(make_node(3, alpha=1.0), np.float32, x.shape))
    y1 = sess.run(None, {"X": x})[0]
    y2 = sess.run(None, {"X": x})[0]
    assert not np.shares_memory(y1, x) and not np.shares_memory(y1, y2)
    np.testing.assert_array_equal(y1, y2)
    kept = y2.copy()
    y1[...] = np.nan
    np.testing.assert_array_equal(sess.run(None, {"X": x})[0], kept)
    np.testing.assert_array_equal(x, rng_for("fresh").standard_normal((2, 6, 3, 3))
                                  .astype(np.float32))


def test_session_threads(monkeypatch):
    seen = []
    real = lrn_onnx._lrn

    def spy(*args, **kwargs):
        seen.append(kwargs["num_threads"])
        return real(*args, **kwargs)

    monkeypatch.setattr(lrn_onnx, "_lrn", spy)
    x = rng_for("threads").standard_normal((2, 8, 4, 4)).astype(np.float32)
    model = _one_node_model(make_node(5, alpha=1.0), np.float32, x.shape)
    want = run_node(make_node(5, alpha=1.0), x)
    for kwargs, threads in ((dict(threads=1), 1), (dict(threads=2), 2),
                            (dict(threads=1, num_threads=2), 2),
                            (dict(threads=0), None)):   # 0: ONNX Runtime's default
        seen.clear()
        np.testing.assert_array_equal(_ours(model, **kwargs).run(None, {"X": x})[0], want)
        assert seen == [threads], kwargs
    seen.clear()
    session(model).run(None, {"X": x})
    assert seen == [None]
    with pytest.raises(ValueError, match="num_threads"):
        session(model, num_threads=0)


def test_session_concurrent_runs():
    from concurrent.futures import ThreadPoolExecutor

    node = make_node(5, alpha=1.0)
    xs = [rng_for("concurrent", k).standard_normal((2, 8, 6, 6)).astype(np.float32)
          for k in range(8)]
    sess = _ours(_one_node_model(node, np.float32, xs[0].shape), num_threads=1)
    with ThreadPoolExecutor(4) as pool:
        ys = list(pool.map(lambda x: sess.run(None, {"X": x})[0], xs))
    for x, y in zip(xs, ys):
        np.testing.assert_array_equal(y, run_node(node, x))


def test_session_lrn_in_subgraph_and_local_function():
    node = make_node(3, alpha=2.0, inputs=("X",), outputs=("Y",), name="inner")
    x = rng_for("subgraph").standard_normal((2, 5, 3, 3)).astype(np.float32)
    info = [helper.make_tensor_value_info(n, TensorProto.FLOAT, list(x.shape))
            for n in ("X", "Y")]
    # If: the then-branch runs LRN on the outer X, the else-branch Identity
    then_g = helper.make_graph([node], "then", [], [info[1]])
    else_g = helper.make_graph([helper.make_node("Identity", ["X"], ["Y"])], "else", [],
                               [info[1]])
    if_node = helper.make_node("If", ["cond"], ["out"], then_branch=then_g, else_branch=else_g)
    graph = helper.make_graph(
        [if_node], "g",
        [info[0], helper.make_tensor_value_info("cond", TensorProto.BOOL, [])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, list(x.shape))])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 9
    rewritten = rewrite_model(model)
    assert rewritten.graph.node[0].attribute[1].g.node[0].domain == DOMAIN   # then_branch
    sess = _ours(model)
    np.testing.assert_array_equal(sess.run(None, {"X": x, "cond": np.array(True)})[0],
                                  run_node(node, x))
    np.testing.assert_array_equal(sess.run(None, {"X": x, "cond": np.array(False)})[0], x)
    # a model-local function holding the LRN node
    func = helper.make_function("local", "Norm", ["X"], ["Y"], [node],
                                [helper.make_opsetid("", 13)])
    graph = helper.make_graph([helper.make_node("Norm", ["X"], ["Y"], domain="local")], "g",
                              [info[0]], [info[1]])
    model = helper.make_model(graph, functions=[func],
                              opset_imports=[helper.make_opsetid("", 13),
                                             helper.make_opsetid("local", 1)])
    model.ir_version = 9
    assert [n.domain for n in rewrite_model(model).graph.node] == [DOMAIN]
    np.testing.assert_array_equal(_ours(model).run(None, {"X": x})[0], run_node(node, x))


def test_session_other_python_ops_still_work():
    # lrn handles the calls of its own ops and passes every other Python op to
    # onnxruntime-extensions' handler
    from onnxruntime_extensions import PyOp, onnx_op

    @onnx_op(op_type="lrn.test::Twice", inputs=[PyOp.dt_float], outputs=[PyOp.dt_float])
    def twice(x):
        return x * 2

    x = rng_for("other-ops").standard_normal((2, 5, 3, 3)).astype(np.float32)
    node = make_node(3, alpha=2.0, inputs=("T",), outputs=("Y",))
    graph = helper.make_graph(
        [helper.make_node("Twice", ["X"], ["T"], domain="lrn.test"), node], "g",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, list(x.shape))],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, list(x.shape))])
    # shape inference knows nothing of Twice: T's type is given, as a user would
    graph.value_info.append(helper.make_tensor_value_info("T", TensorProto.FLOAT, None))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13),
                                                    helper.make_opsetid("lrn.test", 1)])
    model.ir_version = 9
    np.testing.assert_array_equal(_ours(model).run(None, {"X": x})[0], run_node(node, 2 * x))


def test_session_through_onnxruntime_extensions_own_handler():
    # should another library reinstall onnxruntime-extensions' handler, lrn's ops
    # still compute the same (slowly: it goes through a Python list)
    from onnxruntime_extensions import PyOp, _ocos

    node = make_node(4, alpha=1.5, beta=0.6, bias=2.0)
    x = rng_for("own-handler").standard_normal((2, 7, 3, 2))
    sess = _ours(_one_node_model(node, np.float64, x.shape), num_threads=1)
    fallback = _ocos._on_pyop_invocation
    PyOp.install_hooker(fallback)
    try:
        y = sess.run(None, {"X": x})[0]
    finally:
        PyOp.install_hooker(lambda *a: lrn_onnx._invoke(fallback, *a))
    np.testing.assert_array_equal(y, run_node(node, x))


def _model_with(node, elem=TensorProto.FLOAT, shape=(1, 3, 2, 2), extra=()):
    graph = helper.make_graph([*extra, node], "g",
                              [helper.make_tensor_value_info("X", elem, list(shape))],
                              [helper.make_tensor_value_info("Y", elem, list(shape))])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13),
                                                    helper.make_opsetid("nowhere", 1)])
    model.ir_version = 9
    return model


@pytest.mark.parametrize("model, match", [
    (_model_with(_raw_node(alpha=1e-4, name="norm1")), r"LRN node 'norm1' cannot run on lrn: "
     r"LRN attribute `size` is required"),
    (_model_with(_raw_node(size=0, name="norm1")), "'norm1'.*positive integer, got 0"),
    (_model_with(_raw_node(size=3.0, name="norm1")), "'norm1'.*`size` must be an INT"),
    (_model_with(_raw_node(size=3, nsize=2, name="n")), "'n'.*unknown LRN attribute `nsize`"),
    (_model_with(_raw_node(size=3, name="n"), TensorProto.INT32),
     "'n': its input 'X' is INT32; lrn runs LRN on FLOAT16, FLOAT and DOUBLE"),
    (_model_with(_raw_node(size=3, name="n"), TensorProto.BFLOAT16), "'n': .* is BFLOAT16"),
    (_model_with(_raw_node(size=3, name="n"), shape=(6,)), "'n': its input 'X' has rank 1"),
    (_model_with(_raw_node(size=3, alpha=1e-44, name="n")),
     "'n' cannot run on lrn: alpha/size .* float32 data"),
    (_model_with(_raw_node(size=3, bias=1e-40, name="n")), "'n' cannot run on lrn: bias"),
    (_model_with(_raw_node(size=3, inputs=("T",)),
                 extra=[helper.make_node("Mystery", ["X"], ["T"], domain="nowhere")]),
     r"LRN node #1 of graph 'g' \(output 'Y'\): the element type of its input 'T' is "
     r"unknown"),
    (_model_with(_raw_node(size=3, outputs=(), name="n")), "'n' cannot run on lrn: an LRN "
     "node has exactly one input and one output"),
], ids=["no-size", "size-0", "size-float", "unknown-attr", "int32", "bfloat16", "rank-1",
        "alpha-underflow", "bias-underflow", "unknown-type", "no-output"])
def test_session_errors_name_the_node(model, match):
    before = model.SerializeToString()
    with pytest.raises(ValueError, match=match):
        session(model)
    with pytest.raises(ValueError, match=match):
        rewrite_model(model)
    assert model.SerializeToString() == before


def test_session_float64_fits_what_float32_does_not():
    # the same tiny alpha is refused for float32 data and runs for float64
    node = make_node(3, alpha=1e-44)
    x = rng_for("tiny").standard_normal((1, 4, 2, 2))
    y = _ours(_one_node_model(node, np.float64, x.shape)).run(None, {"X": x})[0]
    np.testing.assert_array_equal(y, run_node(node, x))


def test_session_without_onnxruntime_extensions_says_how_to_install():
    import subprocess
    import sys

    code = ("import sys; sys.modules['onnxruntime_extensions'] = None\n"
            "import lrn.onnx\n"
            "try:\n    lrn.onnx.session(lrn.onnx.make_node(3))\n"
            "except ImportError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert "onnxruntime-extensions" in out.stdout
    assert "pip install 'lrnorm[onnx]'" in out.stdout


def test_lrn_onnx_imports_without_onnx():
    import subprocess
    import sys

    code = ("import sys\n"
            "for m in ('onnx', 'onnxruntime', 'onnxruntime_extensions'): sys.modules[m] = None\n"
            "import numpy as np, lrn.onnx\n"
            "class Node:\n    op_type, domain, name = 'LRN', '', 'n'\n"
            "    input, output, attribute = ['X'], ['Y'], []\n"
            "try:\n    lrn.onnx.node_params(Node())\nexcept ValueError as e:\n    print(e)\n"
            "for f in (lambda: lrn.onnx.make_node(3), lambda: lrn.onnx.rewrite_model(b''),\n"
            "          lambda: lrn.onnx.session(b'')):\n"
            "    try:\n        f()\n    except ImportError as e:\n        print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert "`size` is required" in lines[0]
    assert lines[1:] == ["this function of lrn.onnx needs onnx, which is not installed: "
                         "pip install 'lrnorm[onnx]'"] * 3


def test_bench_onnx_model_script(capsys):
    # bench/onnx_model.py builds a valid AlexNet and runs (timings are not checked here)
    import importlib
    import os
    import sys

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if root not in sys.path:
        sys.path.insert(0, root)
    bench = importlib.import_module("bench.onnx_model")
    model, x = bench.alexnet(1, np.random.default_rng(0))
    assert x.shape == (1, 3, 227, 227)
    assert [n.name for n in model.graph.node if n.op_type == "LRN"] == ["norm1", "norm2"]
    rewritten = rewrite_model(model)
    assert [n.op_type for n in rewritten.graph.node if n.domain == DOMAIN] == \
        ["LRN_float32"] * 2
    assert bench.main(["--batch", "1", "--repeats", "1", "--threads", "1",
                       "--models", "norm2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[2].split()[0] == "norm2" and len(lines) == 3
    assert float(lines[2].split()[-2]) < 1e-4        # max |diff| of the two sessions

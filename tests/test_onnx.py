"""lrn.onnx: ONNX LRN nodes (attribute defaults, validation), the ONNX backend
node cases, and ONNX Runtime.

Expected values come from the float64 reference in tests/reference.py (the
ONNX formula, ``convention="onnx"``), never from ``onnx.reference``: its LRN
loops over axis 0 instead of the channel axis, so it is wrong whenever N != C.
"""
import numpy as np
import pytest

from .helpers import assert_fwd_close, ref_forward, rng_for

onnx = pytest.importorskip("onnx")
from onnx import helper  # noqa: E402

from lrn.onnx import DEFAULTS, make_node, node_params, run_node  # noqa: E402


def _raw_node(op_type="LRN", inputs=("X",), outputs=("Y",), domain=None, **attrs):
    return helper.make_node(op_type, list(inputs), list(outputs), domain=domain, **attrs)


# -- node_params / make_node ---------------------------------------------------

def test_defaults_applied():
    assert node_params(_raw_node(size=3)) == {"size": 3, "alpha": 1e-4, "beta": 0.75,
                                              "bias": 1.0}
    assert DEFAULTS == {"alpha": 1e-4, "beta": 0.75, "bias": 1.0}


def test_explicit_attributes_read_as_the_decimal_the_user_wrote():
    node = _raw_node(size=4, alpha=2e-4, beta=0.6, bias=2.5)
    assert node_params(node) == {"size": 4, "alpha": 2e-4, "beta": 0.6, "bias": 2.5}
    # ONNX stores FLOAT attributes as float32; the value is that float32 exactly
    assert np.float32(node_params(node)["alpha"]) == node.attribute[0].f


def test_make_node_round_trip_and_checker():
    node = make_node(5, alpha=3e-4, beta=0.5, bias=2.0, inputs=("a",), outputs=("b",),
                     name="lrn1")
    assert node.op_type == "LRN" and node.name == "lrn1"
    assert list(node.input) == ["a"] and list(node.output) == ["b"]
    assert node_params(node) == {"size": 5, "alpha": 3e-4, "beta": 0.5, "bias": 2.0}
    onnx.checker.check_node(node)
    assert node_params(make_node(3)) == {"size": 3, **DEFAULTS}


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(size=0), ValueError, "positive integer, got 0"),
    (dict(size=2.0), TypeError, "positive integer"),
    (dict(size=True), TypeError, "positive integer"),
    (dict(size=3, alpha="x"), TypeError, "`alpha` must be a real number"),
    (dict(size=3, beta=float("nan")), ValueError, "`beta` must be a finite real number"),
    (dict(size=3, inputs=("a", "b")), ValueError, "exactly one input"),
])
def test_make_node_errors(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        make_node(**kwargs)


@pytest.mark.parametrize("node, exc, match", [
    (_raw_node("Relu"), ValueError, "op type 'Relu'"),
    (_raw_node("LRN", domain="com.example", size=3), ValueError, "com.example::LRN"),
    (_raw_node(alpha=1e-4), ValueError, "`size` is required"),
    (_raw_node(), ValueError, "`size` is required"),
    (_raw_node(size=0), ValueError, "positive integer, got 0"),
    (_raw_node(size=-3), ValueError, "positive integer, got -3"),
    (_raw_node(size=3.0), TypeError, "`size` must be an INT, got FLOAT"),
    (_raw_node(size=3, alpha=1), TypeError, "`alpha` must be a FLOAT, got INT"),
    (_raw_node(size=3, beta="0.75"), TypeError, "`beta` must be a FLOAT, got STRING"),
    (_raw_node(size=3, bias=float("inf")), ValueError, "`bias` must be finite"),
    (_raw_node(size=3, nsize=3), ValueError, "unknown LRN attribute `nsize`"),
    (_raw_node(inputs=("a", "b"), size=3), ValueError, "exactly one input"),
    (_raw_node(outputs=(), size=3), ValueError, "exactly one input and one output"),
])
def test_node_errors(node, exc, match):
    with pytest.raises(exc, match=match):
        node_params(node)
    with pytest.raises(exc, match=match):
        run_node(node, np.ones((1, 3, 2, 2), np.float32))


def test_error_names_the_node():
    node = _raw_node("Relu", name="conv1_norm")
    with pytest.raises(ValueError, match="'conv1_norm'"):
        run_node(node, np.ones((1, 3, 2, 2), np.float32))


def test_duplicate_and_referenced_attributes():
    node = _raw_node(size=3)
    node.attribute.extend([helper.make_attribute("size", 5)])
    with pytest.raises(ValueError, match="given twice"):
        node_params(node)
    node = _raw_node()
    ref = onnx.AttributeProto(name="size", ref_attr_name="outer_size",
                              type=onnx.AttributeProto.INT)
    node.attribute.extend([ref])
    with pytest.raises(ValueError, match="outer_size"):
        node_params(node)


def test_not_a_node():
    with pytest.raises(TypeError, match="onnx.NodeProto"):
        node_params({"op_type": "LRN"})


def test_non_float_input():
    # lrn.lrn's rule: integers promoted as np.sqrt promotes them; complex refused
    x = np.arange(12, dtype=np.int32).reshape(1, 3, 2, 2)
    y = run_node(make_node(3), x)
    assert y.dtype == np.float64
    np.testing.assert_array_equal(y, run_node(make_node(3), x.astype(np.float64)))
    with pytest.raises(TypeError, match="dtype"):
        run_node(make_node(3), np.ones((1, 3, 2, 2), np.complex64))


def test_validation_before_any_work():
    # a bad node is reported even when x is bad too
    with pytest.raises(ValueError, match="`size` is required"):
        run_node(_raw_node(), "not an array")


# -- run_node against the formula ------------------------------------------------

SHAPES = [(2, 7), (3, 5, 6), (2, 6, 4, 5), (3, 4, 2, 3, 2), (1, 9, 3, 3)]


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 6, 11])
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_run_node_matches_onnx_formula(shape, size, dtype):
    rng = rng_for("onnx", shape, size, np.dtype(dtype).name)
    x = (rng.standard_normal(shape) * 2).astype(dtype)
    alpha, beta, bias = 1.7, 0.75 if size % 2 else 0.6, 1.5
    node = make_node(size, alpha=alpha, beta=beta, bias=bias)
    p = node_params(node)
    y = run_node(node, x)
    want, _ = ref_forward(x, size, p["alpha"], p["beta"], p["bias"], "NCHW", "onnx")
    assert_fwd_close(y, want, dtype)


@pytest.mark.parametrize("size, window", [(4, (-1, 2)), (2, (0, 1)), (5, (-2, 2))])
def test_even_window_position(size, window):
    # ONNX: pre = (size - 1) // 2, the extra channel of an even window is after c
    C, c = 7, 3
    for j in range(C):
        if j == c:
            continue
        x = np.zeros((1, C, 1, 1))
        x[0, c], x[0, j] = 1.0, 10.0
        y = run_node(_raw_node(size=size, alpha=float(size), beta=1.0), x)[0, c, 0, 0]
        inside = window[0] <= j - c <= window[1]
        assert y == pytest.approx(1.0 / (2.0 + 100.0 * inside)), (j, inside)


def test_run_node_bfloat16():
    ml_dtypes = pytest.importorskip("ml_dtypes")
    rng = rng_for("onnx-bf16")
    x = rng.standard_normal((2, 6, 3, 4)).astype(ml_dtypes.bfloat16)
    node = make_node(5, alpha=2.0, beta=0.75, bias=1.0)
    y = run_node(node, x)
    assert y.dtype == x.dtype and y.shape == x.shape
    want, _ = ref_forward(x.astype(np.float64), 5, 2.0, 0.75, 1.0, "NCHW", "onnx")
    np.testing.assert_allclose(y.astype(np.float64), want, rtol=2.0 ** -8, atol=0)


# -- the ONNX backend node test cases --------------------------------------------

@pytest.fixture(scope="module")
def backend_cases():
    """The LRN cases of ONNX's backend test suite (test_lrn, test_lrn_default).

    The wheel does not ship their .pb files; importing
    onnx.backend.test.case.node.lrn generates the same cases in memory (ONNX
    seeds NumPy with 0 before each export, as when the files were made)."""
    import importlib

    from onnx.backend.test.case import node as node_cases

    state = np.random.get_state()
    try:
        importlib.import_module("onnx.backend.test.case.node.lrn")
    finally:
        np.random.set_state(state)
    cases = {c.name: c for c in node_cases._NodeTestCases
             if c.name in ("test_lrn", "test_lrn_default")}
    assert len(cases) == 2, sorted(cases)
    return cases


@pytest.mark.parametrize("name", ["test_lrn", "test_lrn_default"])
def test_onnx_backend_node_case(backend_cases, name):
    case = backend_cases[name]
    node = case.model.graph.node[0]
    (x,), (stored,) = case.data_sets[0]
    y = run_node(node, x)
    p = node_params(node)
    if name == "test_lrn_default":
        assert p == {"size": 3, **DEFAULTS}
    # expected values regenerated from the ONNX formula in float64
    want, _ = ref_forward(x, p["size"], p["alpha"], p["beta"], p["bias"], "NCHW", "onnx")
    assert_fwd_close(y, want, np.float32)
    # and the case's own (float32 NumPy) output, with the suite's tolerances
    np.testing.assert_allclose(y, stored, rtol=case.rtol, atol=case.atol)
    np.testing.assert_allclose(y, stored, rtol=1e-5, atol=0)


# -- ONNX Runtime ----------------------------------------------------------------

def _ort_run(node, x):
    ort = pytest.importorskip("onnxruntime")
    from onnx import TensorProto
    graph = helper.make_graph(
        [node], "lrn",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, list(x.shape))],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, list(x.shape))])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = min(model.ir_version, 9)
    onnx.checker.check_model(model)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(model.SerializeToString(), opts,
                                providers=["CPUExecutionProvider"])
    return sess.run(None, {"X": x})[0]



@pytest.mark.parametrize("shape", [(2, 7, 5, 6), (3, 16, 4, 4), (1, 3, 8, 9), (5, 2, 3, 3)],
                         ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("size", [1, 3, 5, 7, 9, 21])
def test_matches_onnxruntime(shape, size):
    rng = rng_for("ort", shape, size)
    x = (rng.standard_normal(shape) * 3).astype(np.float32)
    node = make_node(size, alpha=0.9, beta=0.75, bias=1.25)
    got = run_node(node, x)
    ort_y = _ort_run(node, x)
    want, _ = ref_forward(x, size, 0.9, 0.75, 1.25, "NCHW", "onnx")
    assert_fwd_close(got, want, np.float32)
    # ONNX Runtime's own float32 rounding: a few ulp (it is up to ~4e-6 off the
    # float64 reference, lrn up to 3e-6)
    np.testing.assert_allclose(got, ort_y, rtol=1e-5, atol=0)


@pytest.mark.parametrize("alpha, beta, bias", [(1e-4, 0.75, 1.0), (2.0, 0.5, 2.0),
                                               (0.3, 1.0, 0.5), (5.0, 2.3, 1.0)])
def test_matches_onnxruntime_parameters(alpha, beta, bias):
    rng = rng_for("ort-params", alpha, beta, bias)
    x = (rng.standard_normal((2, 9, 4, 3)) * 2).astype(np.float32)
    node = make_node(5, alpha=alpha, beta=beta, bias=bias)
    np.testing.assert_allclose(run_node(node, x), _ort_run(node, x), rtol=1e-5, atol=0)

"""ONNX's backend node tests for LRN, ported: ``test_lrn`` and ``test_lrn_default``.

Ported from onnx/onnx, ``onnx/backend/test/case/node/lrn.py`` (``LRN.export`` and
``LRN.export_default``), keeping:

- the inputs: ``np.random.randn(5, 5, 5, 5).astype(np.float32)`` drawn right after
  ``np.random.seed(0)`` (``onnx/backend/test/case/base.py`` seeds NumPy with 0 before
  each export), here from a ``RandomState(0)``, the same stream;
- the nodes' attributes (``test_lrn``: alpha 0.0002, beta 0.5, bias 2.0, size 3;
  ``test_lrn_default``: size 3 only, so ONNX's defaults alpha 1e-4, beta 0.75, bias 1);
- the reference formula: float32 square sums over the clipped window
  ``[c - floor((size - 1) / 2), c + ceil((size - 1) / 2)]`` element by element, then
  ``x / (bias + alpha / size * square_sum) ** beta``;
- the backend runner's tolerances, ``rtol=1e-3, atol=1e-7`` (``expect`` in
  ``onnx/backend/test/case/node/__init__.py``) on the one-node model it builds at the
  op's ``since_version`` (13).

Each case runs through ``lrn.onnx.run_node`` and through a ``lrn.onnx.session`` of that
model; and, as ONNX's own ``backend_reference_test.py`` does, through ONNX's reference
evaluator.  Two things hide a bug of that evaluator (onnx/onnx#7805:
``onnx/reference/ops/op_lrn.py`` loops over the batch axis instead of the channels): the
cases' N == C (5 == 5), and their small alphas, with which the square sums it leaves out
move y by about 2e-4 relative, inside the runner's rtol of 1e-3.  So the cases also run
with N != C (the shapes of the upstream fix, onnx/onnx#8331), and every result is also
held to lrn's own float32 tolerance (``FWD_RTOL``, 3e-6; the float32 formula is that
close to lrn): lrn passes, ONNX's evaluator fails with N != C (an expected failure on
the onnx releases without the fix, 1.23.2 and older).
"""
import math

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper  # noqa: E402
from packaging.version import Version  # noqa: E402

from lrn.onnx import run_node  # noqa: E402

from ..helpers import FWD_RTOL  # noqa: E402

RTOL, ATOL = 1e-3, 1e-7      # onnx/backend/test/case/node/__init__.py, expect()
TIGHT = FWD_RTOL[np.float32]  # lrn's own float32 tolerance, with no absolute floor
OPSET = 13                   # LRN's since_version, the opset the backend models use

# name -> (attributes written on the node, the formula's alpha, beta, bias, nsize)
CASES = {
    "test_lrn": (dict(alpha=0.0002, beta=0.5, bias=2.0, size=3), (0.0002, 0.5, 2.0, 3)),
    "test_lrn_default": (dict(size=3), (0.0001, 0.75, 1.0, 3)),
}
SHAPES = [(5, 5, 5, 5), (1, 5, 5, 5), (2, 5, 5, 5)]   # ONNX's own, then N != C
# ONNX's reference evaluator loops over the batch axis up to onnx 1.23.2 (the last release
# at the time of writing); onnx/onnx#8331 fixes it for the next.
REFERENCE_BUG = Version(onnx.__version__) <= Version("1.23.2")


def _node(name):
    attrs, _ = CASES[name]
    return helper.make_node("LRN", inputs=["x"], outputs=["y"], **attrs)


def _input(shape):
    """The export's input: randn after seed 0 (the first draw of RandomState(0))."""
    return np.random.RandomState(0).randn(*shape).astype(np.float32)


def _expected(name, x):
    """The export's reference formula, as written there (channel count x.shape[1])."""
    _, (alpha, beta, bias, nsize) = CASES[name]
    channels = x.shape[1]
    square_sum = np.zeros(x.shape).astype(np.float32)
    for n, c, h, w in np.ndindex(x.shape):
        square_sum[n, c, h, w] = sum(
            x[n, max(0, c - math.floor((nsize - 1) / 2)):
              min(channels, c + math.ceil((nsize - 1) / 2) + 1), h, w] ** 2)
    return x / ((bias + (alpha / nsize) * square_sum) ** beta)


def _model(name, shape):
    graph = helper.make_graph(
        [_node(name)], name,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, list(shape))])
    model = helper.make_model(graph, producer_name="backend-test",
                              opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 9          # what ONNX Runtime reads
    onnx.checker.check_model(model)
    return model


shape_ids = ["x".join(map(str, s)) for s in SHAPES]


def test_inputs_are_the_generated_cases():
    # the cases onnx generates in memory (its wheel has no .pb files) hold the same input
    import importlib

    from onnx.backend.test.case import node as node_cases

    state = np.random.get_state()
    try:
        importlib.import_module("onnx.backend.test.case.node.lrn")
    finally:
        np.random.set_state(state)
    cases = {c.name: c for c in node_cases._NodeTestCases if c.name in CASES}
    assert sorted(cases) == sorted(CASES)
    for name, case in cases.items():
        (x,), (y,) = case.data_sets[0]
        np.testing.assert_array_equal(x, _input((5, 5, 5, 5)))
        np.testing.assert_array_equal(y, _expected(name, x))
        assert (case.rtol, case.atol) == (RTOL, ATOL)
        assert case.model.graph.node[0] == _node(name)


@pytest.mark.parametrize("shape", SHAPES, ids=shape_ids)
@pytest.mark.parametrize("name", sorted(CASES))
def test_run_node(name, shape):
    x = _input(shape)
    y = run_node(_node(name), x)
    np.testing.assert_allclose(y, _expected(name, x), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(y, _expected(name, x), rtol=TIGHT, atol=0)


@pytest.mark.parametrize("shape", SHAPES, ids=shape_ids)
@pytest.mark.parametrize("name", sorted(CASES))
def test_session(name, shape):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxruntime_extensions")
    from lrn.onnx import session

    x = _input(shape)
    sess = session(_model(name, shape), providers=["CPUExecutionProvider"])
    (y,) = sess.run(None, {"x": x})
    np.testing.assert_allclose(y, _expected(name, x), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(y, _expected(name, x), rtol=TIGHT, atol=0)


@pytest.mark.parametrize("shape", SHAPES, ids=shape_ids)
@pytest.mark.parametrize("name", sorted(CASES))
def test_onnx_reference_evaluator(name, shape):
    # the backend runner's own check: it passes even where the evaluator is wrong
    x = _input(shape)
    np.testing.assert_allclose(_reference_evaluator(name, x), _expected(name, x), rtol=RTOL,
                               atol=ATOL)


@pytest.mark.parametrize("shape", [
    SHAPES[0],
    *(pytest.param(s, marks=pytest.mark.xfail(
        REFERENCE_BUG, strict=True,
        reason="ONNX's reference evaluator (onnx/reference/ops/op_lrn.py) loops over "
               "x.shape[0], the batch axis, instead of the channels (onnx/onnx#7805): "
               "wrong whenever N != C")) for s in SHAPES[1:]),
], ids=shape_ids)
@pytest.mark.parametrize("name", sorted(CASES))
def test_onnx_reference_evaluator_tight(name, shape):
    x = _input(shape)
    np.testing.assert_allclose(_reference_evaluator(name, x), _expected(name, x),
                               rtol=TIGHT, atol=0)


def _reference_evaluator(name, x):
    from onnx.reference import ReferenceEvaluator

    (y,) = ReferenceEvaluator(_model(name, x.shape)).run(None, {"x": x})
    return y

"""ONNX Runtime's LRN operator tests, ported.

Ported from microsoft/onnxruntime, ``onnxruntime/test/providers/cpu/nn/lrn_op_test.cc``:
``LRNTest.LRN_1`` and ``LRNTest.LRN_2`` (float), and ``LRN_bfloat16_1`` and
``LRN_bfloat16_2`` (the same data as BFloat16, built only with DNNL), keeping their
attributes, input and expected output values and the tolerances ONNX Runtime's test
checker applies (``onnxruntime/test/providers/checkers.cc``): float, ``|y - expected| <=
1e-4`` (the CPU threshold); BFloat16, an absolute error up to 1e-4 or else a relative error
up to 0.05 (the threshold of the builds that compile these tests, ``USE_DNNL``).

Each float case runs through ``lrn.onnx.run_node``, through a ``lrn.onnx.session`` of the
one-node model (opset 13) and through ONNX Runtime's own CPU LRN (the peer, as its test
runs it).  The bfloat16 cases run through ``run_node`` on ``ml_dtypes.bfloat16`` arrays
(``FloatsToBFloat16s`` rounds to nearest even, as ``astype`` does): ONNX Runtime's Python
API cannot feed bfloat16 arrays, and its CPU LRN has no bfloat16 kernel.
"""
import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper  # noqa: E402

from lrn.onnx import run_node  # noqa: E402

FLOAT_ATOL = 1e-4                      # checkers.cc, InternalNumericalCheck (CPU)
BF16_ATOL, BF16_RTOL = 1e-4, 0.05      # checkers.cc, TensorCheck<BFloat16> (USE_DNNL)
OPSET = 13

X_1 = [0.93150997, 0.22777775, 0.0239904, 0.68148804, 0.38188118,
       0.37675565, 0.56248045, 0.38941276, 0.80423731, 0.06973697,
       0.22548851, 0.92550498, 0.99807096, 0.13079064, 0.56333995,
       0.68052572, 0.40238085, 0.36750308, 0.21684977, 0.34298277,
       0.41941738, 0.09853589, 0.67301852, 0.17712493, 0.12575327,
       0.25551194, 0.99063486, 0.55772477, 0.25830251, 0.65443498,
       0.19408275, 0.47776002, 0.50554532, 0.7642616, 0.39078581,
       0.5375315, 0.02074649, 0.05360929, 0.79922867, 0.66012126,
       0.76942754, 0.14644335, 0.09823465, 0.79470968, 0.60738826,
       0.19192833, 0.53565669, 0.57413113, 0.27340019, 0.17495774]
Y_1 = [0.5538404, 0.13542697, 0.01426445, 0.40519908, 0.22705813,
       0.22401723, 0.33443925, 0.23153915, 0.47815821, 0.04146536,
       0.13407286, 0.55027318, 0.5934121, 0.07776476, 0.33494502,
       0.40461099, 0.23925379, 0.21851626, 0.12893309, 0.20393133,
       0.24938308, 0.05858848, 0.40015569, 0.10531828, 0.07477307,
       0.15191767, 0.58898938, 0.33161741, 0.15358147, 0.38911262,
       0.11540074, 0.28406623, 0.30058989, 0.4543907, 0.2323599,
       0.31961, 0.01233515, 0.03187389, 0.47520086, 0.3924883,
       0.45746815, 0.08707454, 0.05841004, 0.47251317, 0.36114204,
       0.11411944, 0.31849629, 0.34136036, 0.16256343, 0.10403012]
X_2 = [0.97540224, 0.76555133, 0.44334042, 0.81262767,
       0.80408305, 0.45893553, 0.39771056, 0.34420514,
       0.94965851, 0.93253171, 0.42878076, 0.85962552,
       0.14810622, 0.89759219, 0.34574565, 0.70201623,
       0.15821661, 0.48984697, 0.94124645, 0.32628751,
       0.15926595, 0.59950596, 0.88879001, 0.98674315,
       0.80416244, 0.71297693, 0.94821811, 0.48053992,
       0.16935933, 0.11691149, 0.22425655, 0.89018708,
       0.75404555, 0.68191183, 0.31341696, 0.86113745,
       0.11833113, 0.67812026, 0.92196965, 0.2754015,
       0.80969357, 0.06198973, 0.01612644, 0.12104732,
       0.26516402, 0.55688673, 0.88051248, 0.02725011,
       0.05843787, 0.75477105, 0.14542344, 0.97296566,
       0.90956807, 0.43174571, 0.76335925, 0.45990494,
       0.40780696, 0.29402575, 0.54538655, 0.28858703,
       0.56942707, 0.75392908, 0.66404897, 0.0093868,
       0.6678884, 0.60093129, 0.54297262, 0.16187565,
       0.81088668, 0.93738687, 0.17667364, 0.61121237,
       0.46496955, 0.11731055, 0.09468836, 0.80042875,
       0.63450789, 0.6306234, 0.01279899, 0.06116414,
       0.61256766, 0.5070824, 0.60149539, 0.84250051,
       0.99870878, 0.08305351, 0.25943553, 0.58913916,
       0.19776763, 0.29520017, 0.21649282, 0.46786523,
       0.93280208, 0.87324554, 0.63763618, 0.58810955]
Y_2 = [0.97537965, 0.76553655, 0.44333258, 0.81260926,
       0.80407488, 0.45892847, 0.39769977, 0.34419912,
       0.94962716, 0.93251234, 0.42877379, 0.85961282,
       0.14810593, 0.89757699, 0.34574077, 0.7020027,
       0.15821294, 0.48983753, 0.94122976, 0.32628012,
       0.15926433, 0.59949672, 0.88876593, 0.98672587,
       0.80413586, 0.71296215, 0.94820267, 0.48053282,
       0.169359, 0.1169095, 0.22425337, 0.89016992,
       0.75402808, 0.68189865, 0.31341141, 0.86111796,
       0.11832992, 0.67810982, 0.92194468, 0.27539667,
       0.80966681, 0.06198845, 0.01612618, 0.12104553,
       0.26516351, 0.55687732, 0.88050002, 0.02724958,
       0.05843714, 0.75475758, 0.14542197, 0.9729411,
       0.90953422, 0.43173879, 0.76335144, 0.45989853,
       0.40780437, 0.29402491, 0.54538363, 0.28858295,
       0.56941342, 0.75390953, 0.66404057, 0.00938675,
       0.66788006, 0.60092056, 0.54296708, 0.16187157,
       0.81085652, 0.93737185, 0.17667183, 0.61120385,
       0.46496657, 0.11731022, 0.09468785, 0.80041742,
       0.6344927, 0.63060707, 0.01279883, 0.06116382,
       0.61256003, 0.50707334, 0.60148925, 0.84247929,
       0.99867165, 0.08305217, 0.25943288, 0.58913094,
       0.19776636, 0.29519933, 0.21649165, 0.46785861,
       0.93277973, 0.87322289, 0.63762808, 0.58810645]

# name -> (attributes, shape, X, expected Y); LRN_2 leaves bias at its default, 1.0
CASES = {
    "LRN_1": (dict(alpha=0.001, beta=0.75, bias=2.0, size=5), (1, 2, 5, 5), X_1, Y_1),
    "LRN_2": (dict(alpha=0.0001, beta=0.75, size=5), (2, 3, 4, 4), X_2, Y_2),
}


def _case(name):
    attrs, shape, x, y = CASES[name]
    node = helper.make_node("LRN", inputs=["X"], outputs=["Y"], **attrs)
    return (node, np.array(x, np.float32).reshape(shape),
            np.array(y, np.float32).reshape(shape))


def _model(node, shape):
    graph = helper.make_graph(
        [node], "lrn", [helper.make_tensor_value_info("X", TensorProto.FLOAT, list(shape))],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, list(shape))])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 9
    onnx.checker.check_model(model)
    return model


def _assert_near(y, expected):
    """ASSERT_NEAR(expected[i], output[i], 1e-4) for every element."""
    assert y.shape == expected.shape and y.dtype == np.float32
    err = np.abs(y.astype(np.float64) - expected.astype(np.float64))
    assert err.max() <= FLOAT_ATOL, f"max |y - expected| = {err.max()}"


@pytest.mark.parametrize("name", sorted(CASES))
def test_run_node(name):
    node, x, expected = _case(name)
    _assert_near(run_node(node, x), expected)


@pytest.mark.parametrize("name", sorted(CASES))
def test_session(name):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxruntime_extensions")
    from lrn.onnx import session

    node, x, expected = _case(name)
    sess = session(_model(node, x.shape), providers=["CPUExecutionProvider"])
    _assert_near(sess.run(None, {"X": x})[0], expected)


@pytest.mark.parametrize("name", sorted(CASES))
def test_onnxruntime_itself(name):
    # the peer on its own test: the port's data and checker are right
    ort = pytest.importorskip("onnxruntime")
    node, x, expected = _case(name)
    sess = ort.InferenceSession(_model(node, x.shape).SerializeToString(),
                                providers=["CPUExecutionProvider"])
    _assert_near(sess.run(None, {"X": x})[0], expected)


@pytest.mark.parametrize("name", sorted(CASES))
def test_run_node_bfloat16(name):
    ml_dtypes = pytest.importorskip("ml_dtypes")
    node, x, expected = _case(name)
    bf16 = ml_dtypes.bfloat16
    y = run_node(node, x.astype(bf16))
    assert y.dtype == bf16
    got = y.astype(np.float32)
    want = expected.astype(bf16).astype(np.float32)
    # TensorCheck<BFloat16>: within 1e-4, or else within 5% of the larger magnitude
    err = np.abs(got - want)
    largest = np.maximum(np.abs(got), np.abs(want))
    ok = (err <= BF16_ATOL) | (err <= BF16_RTOL * largest)
    assert ok.all(), f"{(~ok).sum()} elements out of tolerance"

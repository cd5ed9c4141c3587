"""An ONNX model with LRN in ONNX Runtime: its own LRN against lrn's (``lrn.onnx.session``).

Builds AlexNet (bvlc_alexnet's layers: conv1 11x11/4, relu, LRN 5, max pool, conv2 5x5
in 2 groups, relu, LRN 5, max pool, conv3-5, max pool, fc6-8; random weights, AlexNet's
LRN parameters size 5, alpha 1e-4, beta 0.75, bias 1) and, alone, each of its two LRN
layers as a one-node model (``norm1``, ``norm2``).  Each model runs in two ONNX Runtime
sessions, one plain and one from ``lrn.onnx.session``, with the same intra-op threads
(lrn's kernels use as many); the runs alternate between the two sessions, after two
warm-up runs each, and the table gives each session's min and median time, the ratios of the mins and of the medians
(ONNX Runtime's time over lrn's) and the largest difference between their outputs.

    python bench/onnx_model.py                      # batch 8, 2 threads, 10 runs each
    python bench/onnx_model.py --batch 1 --threads 1 --repeats 20 --models norm1 norm2
"""
import argparse
import sys
import time

import numpy as np

LRN = dict(size=5, alpha=1e-4, beta=0.75, bias=1.0)


def alexnet(batch, rng):
    """(model, input) of AlexNet at 227x227, float32, with He-scaled random weights."""
    from onnx import TensorProto, helper, numpy_helper

    inits, nodes = [], []

    def weight(name, shape):
        fan_in = int(np.prod(shape[1:]))
        w = rng.standard_normal(shape, dtype=np.float32) * np.float32(np.sqrt(2.0 / fan_in))
        inits.append(numpy_helper.from_array(w, name))
        inits.append(numpy_helper.from_array(np.full(shape[0], 0.1, np.float32), name + "_b"))

    def conv(k, x, out, cin, kernel, stride=1, pad=0, group=1):
        weight(f"w{k}", (out, cin // group, kernel, kernel))
        nodes.append(helper.make_node("Conv", [x, f"w{k}", f"w{k}_b"], [f"conv{k}"],
                                      kernel_shape=[kernel, kernel], strides=[stride, stride],
                                      pads=[pad] * 4, group=group))
        nodes.append(helper.make_node("Relu", [f"conv{k}"], [f"relu{k}"]))
        return f"relu{k}"

    def pool(x, name):
        nodes.append(helper.make_node("MaxPool", [x], [name], kernel_shape=[3, 3],
                                      strides=[2, 2]))
        return name

    def norm(x, name):
        nodes.append(helper.make_node("LRN", [x], [name], name=name, **LRN))
        return name

    x = pool(norm(conv(1, "data", 96, 3, 11, stride=4), "norm1"), "pool1")        # 55 -> 27
    x = pool(norm(conv(2, x, 256, 96, 5, pad=2, group=2), "norm2"), "pool2")       # 27 -> 13
    x = conv(3, x, 384, 256, 3, pad=1)
    x = conv(4, x, 384, 384, 3, pad=1, group=2)
    x = pool(conv(5, x, 256, 384, 3, pad=1, group=2), "pool5")                     # 13 -> 6
    nodes.append(helper.make_node("Flatten", [x], ["flat"]))
    x = "flat"
    for k, (n_in, n_out) in enumerate([(9216, 4096), (4096, 4096), (4096, 1000)], start=6):
        weight(f"wfc{k}", (n_out, n_in))
        nodes.append(helper.make_node("Gemm", [x, f"wfc{k}", f"wfc{k}_b"], [f"fc{k}"],
                                      transB=1))
        x = f"fc{k}"
        if k < 8:
            nodes.append(helper.make_node("Relu", [x], [f"relu{k}"]))
            x = f"relu{k}"
    graph = helper.make_graph(
        nodes, "alexnet",
        [helper.make_tensor_value_info("data", TensorProto.FLOAT, [batch, 3, 227, 227])],
        [helper.make_tensor_value_info(x, TensorProto.FLOAT, [batch, 1000])], inits)
    return _finish(graph), rng.random((batch, 3, 227, 227), dtype=np.float32) * 2


def one_lrn(shape, rng):
    """(model, input) of a single LRN node with AlexNet's parameters on ReLU-like data."""
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("LRN", ["x"], ["y"], **LRN)], "lrn",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, list(shape))])
    x = np.maximum(rng.standard_normal(shape, dtype=np.float32), 0) * 10
    return _finish(graph), x


# name -> builder(batch, rng) of (model, input)
MODELS = {"alexnet": alexnet,
          "norm1": lambda n, rng: one_lrn((n, 96, 55, 55), rng),     # AlexNet's LRN layers
          "norm2": lambda n, rng: one_lrn((n, 256, 27, 27), rng)}


def _finish(graph):
    import onnx
    from onnx import helper

    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 9
    onnx.checker.check_model(model)
    return model


def sessions(model, threads):
    """(plain ONNX Runtime session, lrn.onnx.session) of ``model``."""
    import onnxruntime as ort

    import lrn.onnx

    def options():
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        return opts

    providers = ["CPUExecutionProvider"]
    return (ort.InferenceSession(model.SerializeToString(), options(), providers=providers),
            lrn.onnx.session(model, options(), providers=providers))


def measure(pair, feed, repeats):
    """Times (seconds) of each session, runs alternating; and each session's last output."""
    times, outputs = ([], []), [None, None]
    for _ in range(2):
        for k, sess in enumerate(pair):
            outputs[k] = sess.run(None, feed)[0]
    for _ in range(repeats):
        for k, sess in enumerate(pair):
            t0 = time.perf_counter()
            outputs[k] = sess.run(None, feed)[0]
            times[k].append(time.perf_counter() - t0)
    return times, outputs


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2,
                        help="ONNX Runtime's intra-op threads, and lrn's (default 2)")
    parser.add_argument("--repeats", type=int, default=10, help="timed runs per session")
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS),
                        help="which models to time (default: all)")
    args = parser.parse_args(argv)

    import onnxruntime
    import onnxruntime_extensions

    import lrn

    rng = np.random.default_rng(0)
    n = args.batch
    print(f"lrn {lrn.__version__}, onnxruntime {onnxruntime.__version__}, "
          f"onnxruntime-extensions {onnxruntime_extensions.__version__}; batch {n}, "
          f"{args.threads} thread(s), {args.repeats} runs per session, alternating")
    print(f"{'model':<8} {'ORT min':>9} {'median':>9} {'ORT+lrn min':>12} {'median':>9} "
          f"{'speed-up min':>13} {'median':>7} {'max |diff|':>11} {'max |y|':>8}")
    for name in args.models:
        model, x = MODELS[name](n, rng)
        pair = sessions(model, args.threads)
        (native, ours), (y_native, y_ours) = measure(pair, {model.graph.input[0].name: x},
                                                     args.repeats)
        ms = [1e3 * min(native), 1e3 * np.median(native), 1e3 * min(ours),
              1e3 * np.median(ours)]
        print(f"{name:<8} {ms[0]:7.1f}ms {ms[1]:7.1f}ms {ms[2]:10.1f}ms {ms[3]:7.1f}ms "
              f"{ms[0] / ms[2]:12.2f}x {ms[1] / ms[3]:6.2f}x "
              f"{np.abs(y_ours - y_native).max():11.3g} {np.abs(y_native).max():8.3g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

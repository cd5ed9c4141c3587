"""Side-by-side timing of lrn, the memory-copy floor and every installed peer.

A public module, so that an installed wheel can measure itself: it is
``python -m lrn`` (the demo, :func:`demo`), ``python -m lrn bench``
(:func:`main`) and ``bench/compare.py``; :func:`compare` and :func:`measure`
serve the scripts under ``bench/``.  All cases of one comparison run in one process with
interleaved repeats, so a noisy machine slows them alike; medians and ratios
measured together are what to quote.
"""
import json
import os
import platform
import sys
import time

import numpy as np

from . import _arrays, _cpu, _params
from ._cli import Parser, positive_int, threads
from ._api import lrn, lrn_backward

ALEXNET = dict(size=5, alpha=1e-4, beta=0.75, bias=2.0)  # Krizhevsky et al. 2012
SHAPES = {"alexnet1": (8, 96, 55, 55), "alexnet2": (8, 256, 27, 27),
          "googlenet": (32, 64, 56, 56), "batch1": (1, 64, 224, 224)}


def _wall(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def back_to_back(fn):
    """The seconds of a call of ``fn`` made right after an untimed one: its
    data and its library's threads are where its own last call left them,
    whichever case ran before (timed alone after a pause, a case that
    followed one touching other arrays found its input evicted, and one that
    followed a call on the same input found it in cache)."""
    fn()
    return _wall(fn)


def measure(cases, repeats, pause=0.01, timer=_wall):
    """Median/min/max seconds of each ``(name, fn)``, repeats interleaved.

    ``pause`` seconds before each call let the previous library's worker
    threads stop spin-waiting, which would otherwise steal the cores from
    whatever runs next.  ``timer(fn)`` returns the seconds one call took
    (:func:`back_to_back`: one call after an untimed one).
    """
    for _, fn in cases:  # warm up: page faults, lazy initialisation, caches
        fn()
    times = {name: [] for name, _ in cases}
    for _ in range(repeats):
        for name, fn in cases:
            time.sleep(pause)
            times[name].append(timer(fn))
    return {name: (float(np.median(t)), float(np.min(t)), float(np.max(t)))
            for name, t in times.items()}


# -- peers: each returns {case name: fn} or a reason it is absent -------------

def _torch_cases(x, p, layout, threads):
    try:
        import torch
    except ImportError:
        return "PyTorch not installed (pip install 'lrnorm[bench]')"
    torch.set_num_threads(threads)
    xt = torch.from_numpy(x if layout == "NCHW" else np.ascontiguousarray(np.moveaxis(x, -1, 1)))
    name = "torch"
    if layout == "NHWC":
        xt = xt.contiguous(memory_format=torch.channels_last)
        name = "torch channels_last"
    xg = xt.clone().requires_grad_(True)
    dy = torch.ones_like(xt)
    f = torch.nn.functional.local_response_norm
    args = (p["size"], p["alpha"], p["beta"], p["bias"])

    def fwd():
        with torch.no_grad():
            f(xt, *args)

    def fwd_bwd():
        xg.grad = None
        f(xg, *args).backward(dy)
    return {f"{name} forward": fwd, f"{name} forward+backward": fwd_bwd}


def _onnx_model(x, p):
    import onnx
    from onnx import TensorProto, helper

    elem = {np.dtype(np.float32): TensorProto.FLOAT, np.dtype(np.float64): TensorProto.DOUBLE,
            np.dtype(np.float16): TensorProto.FLOAT16}[x.dtype]
    node = helper.make_node("LRN", ["x"], ["y"], size=p["size"], alpha=p["alpha"],
                            beta=p["beta"], bias=p["bias"])
    graph = helper.make_graph([node], "lrn", [helper.make_tensor_value_info("x", elem, x.shape)],
                              [helper.make_tensor_value_info("y", elem, x.shape)])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), onnx


def _ort_cases(x, p, layout, threads):
    if layout != "NCHW":
        return None
    try:
        import onnxruntime as ort
        model, onnx = _onnx_model(x, p)
    except ImportError:
        return "ONNX Runtime not installed (pip install 'lrnorm[onnx]')"
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    sess = ort.InferenceSession(model.SerializeToString(), opts,
                                providers=["CPUExecutionProvider"])
    return {"onnxruntime forward": lambda: sess.run(None, {"x": x})}


def _openvino_model(x, p, layout, ov):
    """One LRN node: the ONNX model for NCHW data; for NHWC data, OpenVINO's own LRN
    between two transposes (its CPU plugin takes LRN across axis 1 only)."""
    if layout == "NCHW":
        model, _ = _onnx_model(x, p)
        return ov.Core().read_model(model.SerializeToString())
    from openvino import opset1

    def transpose(node, order):
        return opset1.transpose(node, opset1.constant(np.array(order, np.int64)))
    data = opset1.parameter(x.shape, ov.Type.f32)
    node = opset1.lrn(transpose(data, [0, 3, 1, 2]), opset1.constant(np.array([1], np.int64)),
                      p["alpha"], p["beta"], p["bias"], p["size"])
    return ov.Model([transpose(node, [0, 2, 3, 1])], [data])


def _openvino_cases(x, p, layout, threads):
    """OpenVINO's CPU plugin (its LRN node runs a oneDNN primitive), compiled for
    latency with ``threads`` threads; inputs and outputs shared, not copied."""
    if layout == "NHWC" and (x.ndim != 4 or x.dtype != np.float32):
        return None
    try:
        import openvino as ov
        model = _openvino_model(x, p, layout, ov)
    except ImportError:
        return "OpenVINO not installed (pip install 'lrnorm[bench]')"
    compiled = ov.Core().compile_model(model, "CPU", {"INFERENCE_NUM_THREADS": threads,
                                                      "PERFORMANCE_HINT": "LATENCY"})
    req = compiled.create_infer_request()
    name = "openvino" if layout == "NCHW" else "openvino (transpose, LRN, transpose)"
    return {f"{name} forward": lambda: req.infer({0: x}, share_inputs=True,
                                                 share_outputs=True)}


def _tf_cases(x, p, layout, threads):
    if layout != "NHWC" or x.ndim != 4:
        return None
    try:
        import tensorflow as tf
    except ImportError:
        return "TensorFlow not installed (pip install 'lrnorm[tf]')"
    r = (p["size"] - 1) // 2
    xt = tf.constant(x)
    kw = dict(depth_radius=r, bias=p["bias"], alpha=p["alpha"] / p["size"], beta=p["beta"])

    def fwd_bwd():
        with tf.GradientTape() as tape:
            tape.watch(xt)
            y = tf.nn.local_response_normalization(xt, **kw)
        tape.gradient(y, xt)
    return {"tensorflow forward": lambda: tf.nn.local_response_normalization(xt, **kw),
            "tensorflow forward+backward": fwd_bwd}


PEERS = (_torch_cases, _ort_cases, _openvino_cases, _tf_cases)


def peer_cases(x, p, layout, threads):
    """Every installed peer's cases on ``x``: ({case name: fn}, [a line for each
    peer that is not installed])."""
    cases, absent = {}, []
    for make in PEERS:
        got = make(x, p, layout, threads)
        if isinstance(got, str):
            absent.append(got)
        elif got:
            cases.update(got)
    return cases, absent


# -- one comparison ------------------------------------------------------------

COPY, COPY4 = "copy floor (copyto)", "4-array floor (2 copies)"


def _lrn_cases(xp, x, dy, p, kw):
    """The floors and lrn's four cases on one input: {name: (fn, bytes, floor)}."""
    y, scale, dx, a, b = (xp.empty_like(x) for _ in range(5))
    lrn(x, **p, out=(y, scale), return_scale=True, **kw)
    nb = x.nbytes
    return {
        COPY: (lambda: xp.copyto(a, x), 2 * nb, None),
        COPY4: (lambda: (xp.copyto(a, x), xp.copyto(b, dy)), 4 * nb, None),
        "lrn forward": (lambda: lrn(x, **p, out=y, **kw), 2 * nb, COPY),
        "lrn forward+scale": (lambda: lrn(x, **p, out=(a, b), return_scale=True, **kw),
                              3 * nb, COPY),
        "lrn backward (scale given)": (
            lambda: lrn_backward(x, y, dy, **p, scale=scale, out=dx, **kw), 5 * nb, COPY4),
        "lrn backward (scale recomputed)": (
            lambda: lrn_backward(x, y, dy, **p, out=dx, **kw), 4 * nb, COPY4),
    }, (y, scale)


def _add_peer(cases, name, fn, nb):
    forward = name.endswith(" forward")
    cases[name] = (fn, (2 if forward else 4) * nb, COPY if forward else COPY4)


def _rows(cases, stats):
    """Table rows: times, GB/s, ratio to the floor, and a peer's time over
    lrn's matching case (forward; forward+backward = forward+scale + backward)."""
    ours = {"forward": stats["lrn forward"][0],
            "backward": stats["lrn backward (scale given)"][0],
            "forward+backward": stats["lrn forward+scale"][0]
            + stats["lrn backward (scale given)"][0]}
    copy_gbps = cases[COPY][1] / stats[COPY][0] / 1e9
    rows = []
    for name, (fn, nbytes, floor) in cases.items():
        med, lo, hi = stats[name]
        peer = not name.startswith(("lrn", COPY, COPY4))
        gbps = nbytes / med / 1e9
        rows.append(dict(case=name, median_ms=med * 1e3, min_ms=lo * 1e3, max_ms=hi * 1e3,
                         gbps=gbps, copy_pct=100 * gbps / copy_gbps,
                         x_floor=med / stats[floor][0] if floor else 1.0,
                         speedup=med / ours[name.rpartition(" ")[2]] if peer else None))
    return rows


def _problem(p, x, layout):
    """The checked problem of the parameters ``p`` on ``x`` (for the NumPy peer)."""
    params = _params.make(p["size"], p["alpha"], p["beta"], p["bias"], layout)
    return params.resolve(x.dtype, x.ndim, backward=True)


def compare(shape, layout="NCHW", dtype=np.float32, p=ALEXNET, threads=None,
            repeats=15, peers=True, seed=0):
    """Time lrn, its floors, NumPy and the peers on one input.

    Returns (rows, absent): the table rows (see :func:`format_table`) and a
    line for each peer that is not installed.
    """
    threads = _cpu.kernels.resolve_threads(_params.check_threads(threads))
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    dy = rng.standard_normal(shape).astype(dtype)
    cases, (y, scale) = _lrn_cases(np, x, dy, p, dict(layout=layout, num_threads=threads))
    problem = _problem(p, x, layout)
    _add_peer(cases, "numpy forward", lambda: _arrays.forward(np, x, problem), x.nbytes)
    cases["numpy backward"] = (
        lambda: _arrays.backward(np, x, y, dy, scale, problem), 5 * x.nbytes, COPY4)
    absent = []
    if peers:
        got, absent = peer_cases(x, p, layout, threads)
        for name, fn in got.items():
            _add_peer(cases, name, fn, x.nbytes)
    stats = measure([(k, v[0]) for k, v in cases.items()], repeats, timer=back_to_back)
    return _rows(cases, stats), absent


GPU_BATCH = 20   # back-to-back calls per timed GPU sample
# cuDNN and torch.compile must agree with lrn this closely (the largest absolute difference
# over the largest absolute value of lrn's) to be timed; a misused API shows up as O(1)
GPU_AGREEMENT = {"float16": 1e-2, "float32": 1e-3, "float64": 1e-3}


def _relative_difference(xp, a, b):
    """max |a - b| / max |b|, in float64."""
    a, b = a.astype(xp.float64), b.astype(xp.float64)
    return float(xp.abs(a - b).max() / max(float(xp.abs(b).max()), 1e-300))


def _cudnn_cases(cp, x, dy, y_lrn, dx_lrn, p, layout, notes):
    """cuDNN's forward and backward rows ({name: fn} with the cuDNN object to close, and
    {name: why not timed}), or an "absent" line; checked against lrn once."""
    from . import _bench_cudnn as cudnn

    try:
        lib, path = cudnn.load()
        op = cudnn.LRN(lib, x.shape, layout, x.dtype.name, p["size"], p["alpha"], p["beta"],
                       p["bias"], cp.cuda.get_current_stream().ptr)
    except cudnn.Unavailable as e:
        return None, {}, str(e)
    except Exception as e:   # noqa: BLE001 - CudnnError, ValueError, ctypes: no rows, why
        return None, {}, f"cuDNN LRN not usable here: {type(e).__name__}: {e}"
    y, dx = cp.empty_like(x), cp.empty_like(x)
    try:
        op.forward(x, y)
        op.backward(y, dy, x, dx)
    except Exception as e:   # noqa: BLE001 - as above
        op.close()
        return None, {}, f"cuDNN LRN not usable here: {type(e).__name__}: {e}"
    errors = {"cudnn forward": _relative_difference(cp, y, y_lrn),
              "cudnn backward": _relative_difference(cp, dx, dx_lrn)}
    notes.append(f"cuDNN {cudnn.version(lib)} ({path}): max relative difference from lrn: "
                 f"forward {errors['cudnn forward']:.2g}, backward "
                 f"{errors['cudnn backward']:.2g}")
    fns = {"cudnn forward": lambda: op.forward(x, y),
           "cudnn backward": lambda: op.backward(y, dy, x, dx)}
    return op, _checked(fns, errors, x.dtype.name), None


def _checked(fns, errors, dtype):
    """Split ``fns`` into those to time and {name: "WRONG ..."} for those that differ
    from lrn by more than GPU_AGREEMENT."""
    timed, wrong = {}, {}
    for name, fn in fns.items():
        if errors[name] <= GPU_AGREEMENT[dtype]:
            timed[name] = fn
        else:
            wrong[name] = (f"WRONG: max relative difference from lrn {errors[name]:.2g} "
                           f"> {GPU_AGREEMENT[dtype]:g}; not timed")
    return timed, wrong


def _torch_gpu_cases(x, dy, y_lrn, dx_lrn, p, layout, notes):
    """PyTorch's eager and ``torch.compile``d ``F.local_response_norm`` on the same
    memory ({name: fn}, {name: why not timed}, absent lines)."""
    try:
        import torch
        if not torch.cuda.is_available():
            raise ImportError
    except ImportError:
        return {}, {}, ["PyTorch with CUDA not installed"]
    to_first = (0, x.ndim - 1, *range(1, x.ndim - 1))   # NHWC memory as an NCHW view

    def view(a):
        t = torch.from_dlpack(a)
        return t.permute(to_first) if layout == "NHWC" else t   # channels_last for NHWC
    xt, g = view(x), view(dy)
    xg = xt.clone().requires_grad_(True)   # clone keeps the memory format
    f = torch.nn.functional.local_response_norm
    args = (p["size"], p["alpha"], p["beta"], p["bias"])

    def with_grad(fn):
        def run():
            xg.grad = None
            fn(xg, *args).backward(g)
        return run

    def forward(fn):
        def run():
            with torch.no_grad():
                fn(xt, *args)
        return run
    fns = {"torch cuda forward": forward(f), "torch cuda forward+backward": with_grad(f)}
    absent, wrong = [], {}
    if p["size"] % 2 == 0:   # PyTorch's even window sits one channel earlier
        y_lrn = lrn(x, **p, layout=layout, convention="torch")
        dx_lrn = lrn_backward(x, y_lrn, dy, **p, layout=layout, convention="torch")
    try:
        torch.compiler.reset()   # a fresh compile per shape/layout: no recompile limit
        compiled = torch.compile(f, dynamic=False)
        with torch.no_grad():   # compile both graphs once, untimed, and check them
            y_c = compiled(xt, *args)
        xg.grad = None
        compiled(xg, *args).backward(g)
        torch.cuda.synchronize()
    except Exception as e:   # noqa: BLE001 - any failure: no rows, the reason in the notes
        first = (str(e).strip().splitlines() or [""])[0][:200]
        absent.append(f"torch.compile unavailable: {type(e).__name__}: {first}")
    else:
        to_last = (0, *range(2, x.ndim), 1)

        def as_lrn(t):
            return t.permute(to_last) if layout == "NHWC" else t
        import cupy as cp

        errors = {"torch.compile forward": _relative_difference(
                      cp, cp.from_dlpack(as_lrn(y_c.detach()).contiguous()), y_lrn),
                  "torch.compile forward+backward": _relative_difference(
                      cp, cp.from_dlpack(as_lrn(xg.grad).contiguous()), dx_lrn)}
        notes.append(f"torch {torch.__version__} torch.compile: max relative difference "
                     f"from lrn: forward {errors['torch.compile forward']:.2g}, "
                     f"backward {errors['torch.compile forward+backward']:.2g}")
        timed, wrong = _checked({"torch.compile forward": forward(compiled),
                                 "torch.compile forward+backward": with_grad(compiled)},
                                errors, x.dtype.name)
        fns.update(timed)
    return fns, wrong, absent


def compare_gpu(shape, layout="NCHW", dtype=np.float32, p=ALEXNET, repeats=15, seed=0):
    """The GPU comparison: the device copy floor, lrn on CuPy arrays, cuDNN's LRN
    (through ctypes), PyTorch's CUDA ``local_response_norm`` eager and under
    ``torch.compile``, all on the same device memory and CuPy's current stream (PyTorch's
    current stream too: both are the legacy default stream unless changed).

    Timing: each sample is ``GPU_BATCH`` (20) back-to-back calls between two CUDA
    events, divided by 20, so the GPU does not idle while Python launches the next
    kernel (one call per sample made ~0.1 ms kernels look 1.5-2x slower); a case whose
    host time per call exceeds its kernel time is measured as host-bound, which is
    what it costs.  Before timing, cuDNN's and the compiled PyTorch's results are
    compared with lrn's (with cuDNN's window, ``convention="onnx"``, and PyTorch's,
    ``"torch"``): a case whose largest absolute difference, over the largest absolute
    value of lrn's result, exceeds ``GPU_AGREEMENT`` (1e-3; 1e-2 for float16) is
    listed as WRONG, not timed.  ``torch.compile``
    compiles once, untimed; where it fails the reason is listed as absent.

    Returns (rows, absent, notes): the table rows (see :func:`format_table`), a line
    for each peer that is not available, and lines on the peers checked (versions,
    differences from lrn).
    """
    import cupy as cp

    rng = np.random.default_rng(seed)
    x = cp.asarray(rng.standard_normal(shape).astype(dtype))
    dy = cp.asarray(rng.standard_normal(shape).astype(dtype))
    cases, (y_lrn, _) = _lrn_cases(cp, x, dy, p, dict(layout=layout))
    dx_lrn = lrn_backward(x, y_lrn, dy, **p, layout=layout)
    absent, notes, wrong = [], [], {}
    op, cudnn_fns, missing = _cudnn_cases(cp, x, dy, y_lrn, dx_lrn, p, layout, notes)
    if missing:
        absent.append(missing)
    else:
        timed, cudnn_wrong = cudnn_fns
        wrong.update(cudnn_wrong)
        for name, fn in timed.items():
            _add_peer(cases, name, fn, x.nbytes)
    torch_fns, torch_wrong, torch_absent = _torch_gpu_cases(x, dy, y_lrn, dx_lrn, p, layout,
                                                            notes)
    absent += torch_absent
    wrong.update(torch_wrong)
    for name, fn in torch_fns.items():
        _add_peer(cases, name, fn, x.nbytes)
    start, end = cp.cuda.Event(), cp.cuda.Event()

    def timer(fn):
        start.record()
        for _ in range(GPU_BATCH):
            fn()
        end.record()
        end.synchronize()
        return cp.cuda.get_elapsed_time(start, end) / 1e3 / GPU_BATCH
    try:
        stats = measure([(k, v[0]) for k, v in cases.items()], repeats, pause=0.0,
                        timer=timer)
    finally:
        if op is not None:
            op.close()
    rows = _rows(cases, stats)
    rows += [dict(case=name, median_ms=None, min_ms=None, max_ms=None, gbps=None,
                  x_floor=None, copy_pct=None, speedup=None, wrong=why)
             for name, why in wrong.items()]
    return rows, absent, notes


def format_table(rows):
    """The rows of :func:`compare` (or :func:`compare_gpu`) as the text table
    ``python -m lrn bench`` prints.  GB/s counts the bytes a case must move (read and
    written once); "% copy" is that rate over the copy floor's; "x floor" is the time
    over the matching floor's.  A row with ``wrong`` set was not timed: it says why."""
    head = (f"{'case':36s} {'median ms':>10s} {'min':>8s} {'max':>8s} {'GB/s':>7s} "
            f"{'% copy':>7s} {'x floor':>8s} {'lrn speed-up':>13s}")
    lines = [head, "-" * len(head)]
    for r in rows:
        if r.get("wrong"):
            lines.append(f"{r['case']:36s} {r['wrong']}")
            continue
        sp = f"{r['speedup']:.1f}x" if r["speedup"] else ""
        pct = f"{r['copy_pct']:6.0f}%" if r.get("copy_pct") is not None else ""
        lines.append(f"{r['case']:36s} {r['median_ms']:10.3f} {r['min_ms']:8.3f} "
                     f"{r['max_ms']:8.3f} {r['gbps']:7.1f} {pct:>7s} {r['x_floor']:8.2f} "
                     f"{sp:>13s}")
    return "\n".join(lines)


def machine():
    """CPU model, cores, versions and thread settings, for the record."""
    from ._config import config

    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), cpu)
    except OSError:
        pass
    info = dict(config(), cpu=cpu, cores=os.cpu_count(),
                omp_num_threads=os.environ.get("OMP_NUM_THREADS"))
    for mod in ("torch", "onnxruntime", "openvino", "tensorflow"):
        try:
            info[mod] = __import__(mod).__version__
        except Exception:
            pass
    return info


# -- the demo of `python -m lrn` -----------------------------------------------

def demo(shape=SHAPES["alexnet1"], size=5, repeats=15):
    """Check lrn against float64 NumPy on an AlexNet batch, then time it."""
    p = dict(ALEXNET, size=size)
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(np.float32)
    dy = rng.standard_normal(shape).astype(np.float32)
    y, scale = lrn(x, **p, return_scale=True)
    dx = lrn_backward(x, y, dy, **p, scale=scale)
    x64, dy64 = x.astype(np.float64), dy.astype(np.float64)
    problem = _problem(p, x64, "NCHW")
    y64, s64 = _arrays.forward(np, x64, problem)
    dx64 = _arrays.backward(np, x64, y64, dy64, s64, problem)
    tiny = np.finfo(np.float64).tiny
    err_y = np.max(np.abs(y - y64) / np.maximum(np.abs(y64), tiny))
    err_s = np.max(np.abs(scale - s64) / s64)
    err_dx = np.max(np.abs(dx - dx64)) / np.max(np.abs(dx64))
    print(f"lrn demo: x {shape} float32, size {size}, alpha {p['alpha']}, beta {p['beta']}, "
          f"bias {p['bias']} (AlexNet)")
    print(f"max relative error vs float64 NumPy: y {err_y:.2e}, scale {err_s:.2e}, "
          f"dx {err_dx:.2e} (relative to max |dx|)")
    rows, absent = compare(shape, p=p, repeats=repeats)
    print(format_table(rows))
    for line in absent:
        print(f"  ({line})")
    print()
    from ._config import show_config
    show_config()
    if max(err_y, err_s) > 3e-6 or err_dx > 3e-5:
        raise SystemExit("lrn demo: error above the accuracy contract (design §2)")


# -- `python -m lrn bench` / bench/compare.py ----------------------------------

def main(argv=None, prog="python -m lrn bench"):
    """The full comparison: every shape x layout, a table, and the JSON and
    PNG files where ``--json`` and ``--png`` say (nothing is written unasked)."""
    ap = Parser(prog=prog, description=__doc__)
    ap.add_argument("--shapes", nargs="+", default=["alexnet1", "alexnet2"],
                    choices=sorted(SHAPES), help="named input shapes")
    ap.add_argument("--layouts", nargs="+", default=["NCHW", "NHWC"], choices=["NCHW", "NHWC"])
    ap.add_argument("--dtype", default="float32", choices=["float16", "float32", "float64"])
    ap.add_argument("--size", type=positive_int, default=5)
    ap.add_argument("--threads", type=threads, default=None, help="default: OpenMP default")
    ap.add_argument("--repeats", type=positive_int, default=15)
    ap.add_argument("--json", metavar="PATH", default=None,
                    help="write the results here as JSON (default: none)")
    ap.add_argument("--png", metavar="PATH", default=None,
                    help="write a bar chart of ratios to the floor here (needs matplotlib; "
                         "default: none)")
    ap.add_argument("--gpu", action="store_true",
                    help="compare on the GPU instead: device copy floor, lrn on CuPy arrays, "
                         "cuDNN's LRN, PyTorch CUDA eager and torch.compile (CUDA events, "
                         f"{GPU_BATCH} back-to-back calls per sample); default shapes: AlexNet "
                         "LRN1 at batch 64 and (32, 64, 112, 112)")
    args = ap.parse_args(argv)
    if args.gpu:
        return _main_gpu(args)
    info = machine()
    print("machine:", json.dumps({k: info[k] for k in ("cpu", "cores", "kernels", "max_threads")}))
    results = []
    for shape_name in args.shapes:
        for layout in args.layouts:
            shape = SHAPES[shape_name]
            if layout == "NHWC":
                shape = (shape[0],) + shape[2:] + (shape[1],)
            rows, absent = compare(shape, layout, np.dtype(args.dtype),
                                   dict(ALEXNET, size=args.size), args.threads, args.repeats)
            print(f"\n{shape_name} {shape} {layout} {args.dtype} size {args.size}")
            print(format_table(rows))
            for line in absent:
                print(f"  ({line})")
            results.append(dict(shape=shape_name, dims=shape, layout=layout, rows=rows,
                                absent=absent))
    _write_json(args.json, dict(machine=info, dtype=args.dtype, size=args.size,
                                results=results))
    if args.png is not None:
        try:
            _plot(results, args.png)
            print(f"wrote {args.png}")
        except ImportError:
            print("(matplotlib not installed: no PNG)")
    return 0


def _write_json(path, data):
    if path is not None:
        with open(path, "w") as f:
            json.dump(data, f, indent=1)
        print(f"\nwrote {path}")


GPU_SHAPES = {"alexnet1": (64, 96, 55, 55), "googlenet": (32, 64, 112, 112)}


def _main_gpu(args):
    from ._gpu import info as device_info

    device = device_info()
    if device is None:
        print("python -m lrn bench --gpu: no CUDA device usable through CuPy "
              "(pip install 'lrnorm[gpu]')", file=sys.stderr)
        return 2
    print("device:", device)
    shapes = [GPU_SHAPES[s] for s in args.shapes if s in GPU_SHAPES] or list(GPU_SHAPES.values())
    results, failed = [], 0
    for shape in shapes:
        for layout in args.layouts:
            dims = shape if layout == "NCHW" else (shape[0],) + shape[2:] + (shape[1],)
            print(f"\n{dims} {layout} {args.dtype} size {args.size} (GPU, "
                  f"{GPU_BATCH} calls per timed sample)")
            try:
                rows, absent, notes = compare_gpu(dims, layout, np.dtype(args.dtype),
                                                  dict(ALEXNET, size=args.size), args.repeats)
            except Exception:   # noqa: BLE001 - one case's failure must not hide the others
                import traceback

                traceback.print_exc(file=sys.stdout)
                failed += 1
                continue
            print(format_table(rows))
            for line in absent:
                print(f"  ({line})")
            for line in notes:
                print(f"  note: {line}")
            results.append(dict(dims=dims, layout=layout, rows=rows, absent=absent,
                                notes=notes))
    _write_json(args.json, dict(device=device, dtype=args.dtype, size=args.size,
                                results=results))
    return 1 if failed else 0


def _plot(results, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(results), 1, figsize=(9, 2.2 + 0.32 * len(results[0]["rows"])) if len(results) == 1
                             else (9, 3.2 * len(results)), squeeze=False)
    for ax, res in zip(axes[:, 0], results):
        rows = [r for r in res["rows"] if "floor" not in r["case"]]
        ax.barh([r["case"] for r in rows], [r["x_floor"] for r in rows],
                color=["tab:blue" if r["case"].startswith("lrn") else "tab:gray" for r in rows])
        ax.axvline(1.0, color="k", lw=0.8)
        ax.set_xscale("log")
        ax.set_title(f"{res['shape']} {tuple(res['dims'])} {res['layout']}: time / memory-copy floor")
        ax.invert_yaxis()
    fig.tight_layout()
    fig.savefig(path, dpi=110)

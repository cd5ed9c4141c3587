"""lrn next to OpenVINO, PyTorch, TensorFlow, ONNX Runtime and a copy: the README's table.

    python bench/side_by_side.py                      # 1 and 2 threads, 4 shapes, 2 layouts
    python bench/side_by_side.py --threads 2 --shapes alexnet2 --layouts NCHW --repeats 30
    python bench/side_by_side.py --lrn-only --shapes alexnet2 --layouts NCHW

Forward LRN, float32, size 5, alpha 1e-4, beta 0.75, bias 1 (ONNX's defaults), on AlexNet's
two LRN inputs (8, 96, 55, 55) and (8, 256, 27, 27), a GoogLeNet-like (32, 64, 56, 56) and
batch 1 (1, 64, 224, 224), channels-first and channels-last. What each peer runs:

- OpenVINO (2026.x): the CPU plugin's LRN node, a oneDNN primitive (the runtime graph
  reorders the data to a blocked layout around it), compiled for latency
  (``PERFORMANCE_HINT=LATENCY``) with the same thread count, called through
  ``create_infer_request().infer(..., share_inputs=True, share_outputs=True)``; NCHW: a
  one-node ONNX model; NHWC: OpenVINO's LRN between two transposes (its CPU plugin takes LRN
  across axis 1 only). It is the only oneDNN-backed LRN installed here.
- PyTorch: ``torch.nn.functional.local_response_norm``, composed of ATen ops (a padded
  ``avg_pool`` of ``x**2``, then ``pow`` and ``div``), not oneDNN; NHWC is a
  ``channels_last`` tensor.
- TensorFlow (NHWC only): ``tf.nn.local_response_normalization``, an Eigen kernel.
- ONNX Runtime (NCHW only): its CPU execution provider's own LRN kernel.
- copy: ``np.copyto`` of x, the floor of a memory-bound pass.

Each thread count runs in a process of its own (TensorFlow fixes its thread pools when it
starts), and within it the cases of one input are timed in interleaved rounds
(:func:`lrn.benchmark.measure`): each round calls a case once to wake it, then times its next
call (back to back), with 10 ms between cases so that one library's spinning threads do not
slow the next. Two more tables: the per-call cost on a (1, 8, 4, 4) array (microseconds,
calls timed in batches of 200) and the first call after 10 ms idle against a call back to
back, on (8, 256, 27, 27) NCHW. Times are milliseconds unless marked, median (min) over the
rounds.
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

P = dict(size=5, alpha=1e-4, beta=0.75, bias=1.0)
# lrn's calls spell the parameters out, as a caller writes them: `**P` adds 0.7 us a call
# of Python's own argument handling (the call itself takes 1.0 us on the per-call input)
ARGS = (P["size"], P["alpha"], P["beta"], P["bias"])
SHAPE_ORDER = ("alexnet1", "alexnet2", "googlenet", "batch1")
BATCH = 200


def _batched(fn):
    t0 = time.perf_counter()
    for _ in range(BATCH):
        fn()
    return (time.perf_counter() - t0) / BATCH


def _cases(bm, x, layout, threads, peers=True):
    """{column: fn} for one input: the copy, lrn and the peers' forward passes."""
    import lrn

    y, a = np.empty_like(x), np.empty_like(x)
    size, alpha, beta, bias = ARGS
    cases = {"copy": lambda: np.copyto(a, x),
             "lrn": lambda: lrn.lrn(x, size, alpha, beta, bias, layout=layout, out=y,
                                    num_threads=threads)}
    if not peers:
        return cases, []
    found, absent = bm.peer_cases(x, P, layout, threads)
    for name, fn in found.items():
        if name.endswith(" forward"):
            cases[name.split()[0]] = fn
    return cases, absent


def _tf_threads(threads):
    try:
        import tensorflow as tf
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except ImportError:
        pass
    except RuntimeError:   # TensorFlow already started in this process: its pools stay
        pass


def run(threads, shapes, layouts, repeats, idle_shape=(8, 256, 27, 27), peers=True):
    """Every table's numbers at one thread count (in this process); ``shapes`` are names
    in :data:`lrn.benchmark.SHAPES`."""
    if peers:
        _tf_threads(threads)
    import lrn
    from lrn import benchmark as bm

    rng = np.random.default_rng(0)
    out = dict(threads=threads, shapes={}, absent=set())
    for name in shapes:
        for layout in layouts:
            shape = bm.SHAPES[name]
            if layout == "NHWC":
                shape = (shape[0],) + shape[2:] + (shape[1],)
            x = rng.standard_normal(shape).astype(np.float32)
            cases, absent = _cases(bm, x, layout, threads, peers)
            out["absent"].update(absent)
            stats = bm.measure(list(cases.items()), repeats, timer=bm.back_to_back)
            out["shapes"][f"{name} {layout}"] = dict(shape=shape, stats=stats)
    # the per-call cost of a tiny input
    x = rng.standard_normal((1, 8, 4, 4)).astype(np.float32)
    y, s, dx, a = (np.empty_like(x) for _ in range(4))
    lrn.lrn(x, **P, out=(y, s), return_scale=True)
    tiny, _ = _cases(bm, x, "NCHW", threads, peers)
    tiny["np.add(x, x, out=)"] = lambda: np.add(x, x, out=a)
    size, alpha, beta, bias = ARGS
    tiny["lrn_backward"] = lambda: lrn.lrn_backward(x, y, x, size, alpha, beta, bias, scale=s,
                                                    out=dx, num_threads=threads)
    out["per_call_us"] = {k: (m * 1e6, lo * 1e6) for k, (m, lo, _) in
                          bm.measure(list(tiny.items()), repeats, timer=_batched).items()}
    # the first call after an idle pause against one back to back
    x = rng.standard_normal(idle_shape).astype(np.float32)
    cases, _ = _cases(bm, x, "NCHW", threads, peers)
    items = list(cases.items())
    out["idle"] = dict(shape=idle_shape,
                       back_to_back=bm.measure(items, repeats, timer=bm.back_to_back),
                       after_10ms=bm.measure(items, repeats, pause=0.01))
    out["absent"] = sorted(out["absent"])
    return out


def _cell(stat, scale=1e3, digits=3):
    return f"{stat[0] * scale:.{digits}f} ({stat[1] * scale:.{digits}f})"


def markdown(results):
    """The README's tables from ``{threads: run(...)}``."""
    lines = []
    columns = ["copy", "lrn", "openvino", "torch", "tensorflow", "onnxruntime"]
    for t, res in results.items():
        lines += [f"\n{t} thread{'s' if t > 1 else ''}, forward, ms: median (min)\n",
                  "| input | layout | " + " | ".join(columns) + " | lrn / copy |",
                  "|---" * (len(columns) + 3) + "|"]
        for key, entry in res["shapes"].items():
            stats = entry["stats"]
            name, layout = key.split()
            cells = [_cell(stats[c]) if c in stats else "" for c in columns]
            ratio = stats["lrn"][0] / stats["copy"][0]
            lines.append(f"| {name} {tuple(entry['shape'])} | {layout} | "
                         + " | ".join(cells) + f" | {ratio:.2f} |")
    threads = list(results)
    names = list(results[threads[0]]["per_call_us"])
    lines += ["\nPer-call cost, (1, 8, 4, 4) float32, microseconds: median (min)\n",
              "| call | " + " | ".join(f"{t} thread{'s' if t > 1 else ''}" for t in threads)
              + " |", "|---" * (len(threads) + 1) + "|"]
    for n in names:
        lines.append(f"| {n} | " + " | ".join(
            _cell(results[t]["per_call_us"][n], 1, 2) for t in threads) + " |")
    idle_shape = tuple(results[threads[0]]["idle"]["shape"])
    lines += [f"\nFirst call after 10 ms idle vs back to back, {idle_shape} NCHW, ms: "
              "median (min)\n", "| case | threads | back to back | after 10 ms idle | ratio |",
              "|---|---|---|---|---|"]
    for t in threads:
        idle = results[t]["idle"]
        for n, b2b in idle["back_to_back"].items():
            after = idle["after_10ms"][n]
            lines.append(f"| {n} | {t} | {_cell(b2b)} | {_cell(after)} | "
                         f"{after[0] / b2b[0]:.2f} |")
    absent = sorted({a for r in results.values() for a in r["absent"]})
    lines += [f"\n(not installed: {'; '.join(absent)})" if absent else ""]
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--shapes", nargs="+", default=list(SHAPE_ORDER), choices=SHAPE_ORDER)
    ap.add_argument("--layouts", nargs="+", default=["NCHW", "NHWC"], choices=["NCHW", "NHWC"])
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--json", metavar="PATH", help="also write the numbers here")
    ap.add_argument("--lrn-only", action="store_true",
                    help="time lrn and the copy only (e.g. to compare OpenMP settings)")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(run(args.threads[0], args.shapes, args.layouts, args.repeats,
                             peers=not args.lrn_only)))
        return 0
    results = {}
    for t in args.threads:
        cmd = [sys.executable, os.path.abspath(__file__), "--child", "--threads", str(t),
               "--repeats", str(args.repeats), "--shapes", *args.shapes,
               "--layouts", *args.layouts] + (["--lrn-only"] if args.lrn_only else [])
        proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
        results[t] = json.loads(proc.stdout.strip().splitlines()[-1])
    from lrn.benchmark import machine
    info = machine()
    print(f"{info['cpu']}, {info['cores']} cores, lrn {info['lrn']} ({info['kernels']}), "
          + ", ".join(f"{m} {info[m]}" for m in ("openvino", "torch", "tensorflow",
                                                 "onnxruntime") if m in info))
    print(markdown(results))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

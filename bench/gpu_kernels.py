"""The GPU kernels against a device copy, per kernel variant, for tuning on a GPU machine.

    python bench/gpu_kernels.py [--quick]

Each case's calls are captured once in a CUDA graph (``--calls`` launches back to back) and
the graph is replayed: the time is the GPU's alone, with no Python launch gaps between the
kernels.  Median of ``--samples`` replays, per call.  Rows: the copy of x (``cupy.copyto``),
forward (y), forward with the scale, backward with the scale given, backward recomputing it;
columns: milliseconds, the copy's multiple, and bytes moved per second (each array read or
written once).  The window kernels' CHUNK (channels-first channels per thread) and BLOCK are
compile-time constants of ``lrn/cuda/lrn_window.cu``; ``--variants`` times other values by
compiling the same source with them replaced (the default first).
"""
import argparse
import statistics
import sys

import numpy as np

import lrn
from lrn import _gpu

SHAPES = {"alexnet1": (64, 96, 55, 55), "googlenet": (32, 64, 112, 112)}
PARAMS = dict(alpha=1e-4, beta=0.75, bias=2.0)
DEFAULT = (_gpu._CHUNK, _gpu._WINDOW_BLOCK)
_READ = _gpu._read


def use_variant(chunk, block):
    """Compile the window kernels with CHUNK = chunk and BLOCK = block from now on."""
    text = _gpu._CUDA_DIR.joinpath("lrn_window.cu").read_text()
    patched = text.replace(f"constexpr int CHUNK = {DEFAULT[0]};", f"constexpr int CHUNK = {chunk};")
    patched = patched.replace(f"constexpr int BLOCK = {DEFAULT[1]};", f"constexpr int BLOCK = {block};")
    if (chunk, block) != DEFAULT and patched == text:
        raise RuntimeError("lrn_window.cu no longer declares CHUNK / BLOCK as expected")
    _gpu._module.cache_clear()
    _gpu._function.cache_clear()
    _gpu._read = lambda name: patched if name == "lrn_window.cu" else _READ(name)
    _gpu._CHUNK, _gpu._WINDOW_BLOCK = chunk, block


def graph_time(cp, fn, calls, samples):
    """Median milliseconds per call of ``fn`` replayed from a captured CUDA graph."""
    stream = cp.cuda.Stream(non_blocking=True)
    with stream:
        fn()   # compile and load outside the capture
        stream.synchronize()
        stream.begin_capture()
        for _ in range(calls):
            fn()
        graph = stream.end_capture()
        start, end = cp.cuda.Event(), cp.cuda.Event()
        graph.launch(stream)
        times = []
        for _ in range(samples):
            start.record(stream)
            graph.launch(stream)
            end.record(stream)
            end.synchronize()
            times.append(cp.cuda.get_elapsed_time(start, end) / calls)
    return statistics.median(times)


def cases(cp, shape, layout, dtype, size):
    rng = np.random.default_rng(0)
    x = cp.asarray(rng.standard_normal(shape).astype(dtype))
    dy = cp.asarray(rng.standard_normal(shape).astype(dtype))
    kw = dict(PARAMS, layout=layout)
    y, s = lrn.lrn(x, size, **kw, return_scale=True)
    out, out2, dx = cp.empty_like(x), cp.empty_like(x), cp.empty_like(x)
    return {
        "copy of x": (lambda: cp.copyto(out, x), 2),
        "forward": (lambda: lrn.lrn(x, size, **kw, out=out), 2),
        "forward + scale": (lambda: lrn.lrn(x, size, **kw, return_scale=True,
                                            out=(out, out2)), 3),
        "backward, scale given": (lambda: lrn.lrn_backward(x, y, dy, size, **kw, scale=s,
                                                           out=dx), 5),
        "backward, recomputed": (lambda: lrn.lrn_backward(x, y, dy, size, **kw, out=dx), 4),
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=20)
    ap.add_argument("--samples", type=int, default=15)
    ap.add_argument("--variants", default="8x256,4x256,16x256,8x128",
                    help="CHUNKxBLOCK values of the window kernels to time (default first)")
    ap.add_argument("--quick", action="store_true", help="the default variant only")
    args = ap.parse_args(argv)
    import cupy as cp

    print("device:", _gpu.info())
    variants = [tuple(int(v) for v in item.split("x")) for item in args.variants.split(",")]
    if args.quick:
        variants = variants[:1]
    runs = [(v, name, layout, "float32", 5) for v in variants for name in SHAPES
            for layout in ("NCHW", "NHWC")]
    # the default variant also at other sizes and in float16
    runs += [(variants[0], name, layout, dtype, size) for name in SHAPES
             for layout in ("NCHW", "NHWC")
             for dtype, size in (("float32", 3), ("float32", 21), ("float16", 5))]
    current = None
    print(f"{'variant':8s} {'shape':9s} {'layout':6s} {'dtype':7s} {'size':>4s} "
          f"{'case':22s} {'ms':>7s} {'x copy':>7s} {'GB/s':>7s}")
    for variant, name, layout, dtype, size in runs:
        if variant != current:
            use_variant(*variant)
            current = variant
        shape = SHAPES[name] if layout == "NCHW" else (
            SHAPES[name][0], *SHAPES[name][2:], SHAPES[name][1])
        copy_ms = None
        nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
        for case, (fn, arrays) in cases(cp, shape, layout, dtype, size).items():
            try:
                ms = graph_time(cp, fn, args.calls, args.samples)
            except Exception as e:   # one failing case must not hide the others
                print(f"{case}: {type(e).__name__}: {e}", file=sys.stderr)
                continue
            copy_ms = ms if copy_ms is None else copy_ms
            print(f"{variant[0]}x{variant[1]:<5d} {name:9s} {layout:6s} {dtype:7s} {size:4d} "
                  f"{case:22s} {ms:7.4f} {ms / copy_ms:7.2f} {arrays * nbytes / ms / 1e6:7.0f}",
                  flush=True)


if __name__ == "__main__":
    sys.exit(main())

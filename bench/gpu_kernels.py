"""The GPU kernels against a device copy, per kernel family and variant, on a GPU machine.

    python bench/gpu_kernels.py [--quick] [--variants "window;window:_CHUNK=16;..."]

Each case's calls are captured once in a CUDA graph (``--calls`` launches back to back) and
the graph is replayed: the time is the GPU's alone, with no Python launch gaps between the
kernels.  Median of ``--samples`` replays, per call.  Rows: the copy of x (``cupy.copyto``),
forward (y), forward with the scale, backward with the scale given, backward recomputing it;
columns: milliseconds, the copy's multiple, bytes moved per second (each array read or
written once), and the largest difference from the CPU backend's result, relative to the
largest magnitude of that result.

A variant is a kernel family (``window``, or ``stream-tile``: the kernels lrn._gpu chooses
with the window kernels switched off) and optionally ``:NAME=VALUE`` overrides of lrn._gpu's
tuning constants (``_CHUNK``, a compile-time constant of lrn_window.cu too, replaced in its
source; ``_WINDOW_BLOCK``, threads per block).
"""
import argparse
import statistics
import sys

import numpy as np

import lrn
from lrn import _gpu

SHAPES = {"alexnet1": (64, 96, 55, 55), "googlenet": (32, 64, 112, 112)}
PARAMS = dict(alpha=1e-4, beta=0.75, bias=2.0)
FAMILIES = {"window": {}, "stream-tile": {"_WINDOW": 0}}
_DEFAULTS = {name: getattr(_gpu, name) for name in ("_WINDOW", "_CHUNK", "_WINDOW_BLOCK")}
_READ = _gpu._read
_WINDOW_CONSTANTS = {"_CHUNK": "CHUNK"}


def use_variant(variant):
    """Make lrn._gpu choose and compile the kernels of ``variant`` from now on."""
    family, _, overrides = variant.partition(":")
    values = dict(_DEFAULTS, **FAMILIES[family])
    for item in filter(None, overrides.split(",")):
        name, value = item.split("=")
        if name not in _DEFAULTS:
            raise ValueError(f"unknown tuning constant {name!r}")
        values[name] = int(value)
    text = _READ("lrn_window.cu")
    for name, constant in _WINDOW_CONSTANTS.items():
        old = f"constexpr int {constant} = {_DEFAULTS[name]};"
        if old not in text:
            raise RuntimeError(f"lrn_window.cu no longer declares {old!r}")
        text = text.replace(old, f"constexpr int {constant} = {values[name]};")
    for name, value in values.items():
        setattr(_gpu, name, value)
    _gpu._read = lambda name: text if name == "lrn_window.cu" else _READ(name)
    _gpu._module.cache_clear()
    _gpu._function.cache_clear()


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
    """{case: (function, arrays moved, its output, the CPU backend's output)}."""
    rng = np.random.default_rng(0)
    xh = rng.standard_normal(shape).astype(dtype)
    dyh = rng.standard_normal(shape).astype(dtype)
    kw = dict(PARAMS, layout=layout)
    yh, sh = lrn.lrn(xh, size, **kw, return_scale=True)
    dxh = lrn.lrn_backward(xh, yh, dyh, size, **kw, scale=sh)
    x, dy, y, s = (cp.asarray(a) for a in (xh, dyh, yh, sh))
    out, out2, dx = cp.empty_like(x), cp.empty_like(x), cp.empty_like(x)
    return {
        "copy of x": (lambda: cp.copyto(out, x), 2, out, xh),
        "forward": (lambda: lrn.lrn(x, size, **kw, out=out), 2, out, yh),
        "forward + scale": (lambda: lrn.lrn(x, size, **kw, return_scale=True,
                                            out=(out, out2)), 3, out2, sh),
        "backward, scale given": (lambda: lrn.lrn_backward(x, y, dy, size, **kw, scale=s,
                                                           out=dx), 5, dx, dxh),
        "backward, recomputed": (lambda: lrn.lrn_backward(x, y, dy, size, **kw, out=dx), 4,
                                 dx, dxh),
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=20)
    ap.add_argument("--samples", type=int, default=15)
    ap.add_argument("--variants", default="window;window:_WINDOW_BLOCK=128;stream-tile",
                    help="variants separated by ';' (the first is the one also timed at "
                         "sizes 3 and 21 and in float16)")
    ap.add_argument("--quick", action="store_true", help="the first variant only")
    args = ap.parse_args(argv)
    import cupy as cp

    print("device:", _gpu.info())
    variants = args.variants.split(";")
    if args.quick:
        variants = variants[:1]
    runs = [(v, name, layout, "float32", 5) for v in variants for name in SHAPES
            for layout in ("NCHW", "NHWC")]
    # the first variant also at other sizes and in float16
    runs += [(variants[0], name, layout, dtype, size) for name in SHAPES
             for layout in ("NCHW", "NHWC")
             for dtype, size in (("float32", 3), ("float32", 21), ("float16", 5))]
    print(f"{'variant':28s} {'shape':9s} {'layout':6s} {'dtype':7s} {'size':>4s} "
          f"{'case':22s} {'ms':>7s} {'x copy':>7s} {'GB/s':>6s} {'rel diff':>8s}")
    for variant, name, layout, dtype, size in runs:
        use_variant(variant)
        shape = SHAPES[name] if layout == "NCHW" else (
            SHAPES[name][0], *SHAPES[name][2:], SHAPES[name][1])
        copy_ms = None
        nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
        for case, (fn, arrays, out, want) in cases(cp, shape, layout, dtype, size).items():
            try:
                ms = graph_time(cp, fn, args.calls, args.samples)
                diff = float(np.max(np.abs(cp.asnumpy(out).astype(np.float64) - want))
                             / np.max(np.abs(want)))
            except Exception as e:   # one failing case must not hide the others
                print(f"{variant} {name} {layout} {case}: {type(e).__name__}: {e}",
                      file=sys.stderr)
                continue
            copy_ms = ms if copy_ms is None else copy_ms
            print(f"{variant:28s} {name:9s} {layout:6s} {dtype:7s} {size:4d} {case:22s} "
                  f"{ms:7.4f} {ms / copy_ms:7.2f} {arrays * nbytes / ms / 1e6:6.0f} "
                  f"{diff:8.1e}", flush=True)


if __name__ == "__main__":
    sys.exit(main())

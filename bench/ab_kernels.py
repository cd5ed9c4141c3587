"""Two builds of the kernels timed in one process: an A/B test of a kernel change.

    python bench/ab_kernels.py OLD.so NEW.so [--shapes alexnet1 alexnet2 googlenet batch1]
                                             [--layouts NCHW NHWC] [--size 5] [--backward]
                                             [--scale] [--dtype float32] [--offsets XO YO]

A shape is a benchmark name or N x C x H x W written like 256x96x6x6 (channels-last: the
same tensor with C last); shapes larger than the L3 cache time the kernels from memory.
``--scale`` has the forward pass write the scale too, and gives it to the backward pass.
``--offsets`` places x (and dy) XO bytes and y (dx and the copy)
YO bytes past a 4 KiB page boundary instead of where NumPy puts them: ``16 16`` is NumPy's
placement of large arrays, where a load of x can wait for a store to y at the same address
modulo 4 KiB, ``16 2064`` moves y half a page away (design §4).

Separate processes on this shared machine differ by 10-20 % from run to run, more than most
kernel changes. Here both builds' extension modules are loaded side by side (each under a
package name of its own) and their kernels called on the same arrays in interleaved rounds,
with a copy of x as the yardstick: float32 (or --dtype), beta 0.75, one thread (two builds'
worker pools would take each other's cores), no operator layer. Run it in both orders: the
build timed second gained about 2 % here. Prints each build's median over the copy's, and
NEW / OLD.

The other build comes from a worktree, e.g.

    git worktree add /tmp/old HEAD~1 && (cd /tmp/old && python setup.py build_ext --inplace)
    python bench/ab_kernels.py /tmp/old/src/lrn/_kernels_avx2.*.so src/lrn/_kernels_avx2.*.so
"""
import argparse
import importlib.util
import os
import time

import numpy as np

from lrn.benchmark import SHAPES


def load(path, tag):
    """The kernel module at ``path``, imported as ``tag.<its name>`` (the file's name up to
    the first dot: the name it was built with)."""
    if not os.path.isfile(path):
        raise SystemExit(f"ab_kernels: no such file: {path}")
    name = os.path.basename(path).split(".")[0]
    spec = importlib.util.spec_from_file_location(f"{tag}.{name}", path)
    try:
        module = importlib.util.module_from_spec(spec)
    except ImportError as exc:
        raise SystemExit(f"ab_kernels: cannot load {path} ({exc}); a build keeps the name "
                         "it was built with, e.g. _kernels_avx2.cpython-311-x86_64-linux-gnu.so")
    spec.loader.exec_module(module)
    return module


def shape_of(spec):
    """(N, C, H, W) of a benchmark name or of ``NxCxHxW``."""
    if spec in SHAPES:
        return SHAPES[spec]
    try:
        dims = tuple(int(d) for d in spec.split("x"))
    except ValueError:
        dims = ()
    if len(dims) != 4 or min(dims) < 1:
        raise argparse.ArgumentTypeError(
            f"a shape is one of {', '.join(SHAPES)} or NxCxHxW, not {spec!r}")
    return dims


PAGE = 4096


def placed(a, offset):
    """A copy of ``a`` whose data begin ``offset`` bytes past a page boundary."""
    raw = np.empty(a.nbytes + 2 * PAGE, np.uint8)
    start = -raw.ctypes.data % PAGE + offset
    out = raw[start:start + a.nbytes].view(a.dtype).reshape(a.shape)
    out[...] = a
    return out


def _seconds(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--shapes", nargs="+", default=list(SHAPES))
    ap.add_argument("--dtype", default="float32", choices=["float32", "float16", "float64"])
    ap.add_argument("--layouts", nargs="+", default=["NCHW", "NHWC"], choices=["NCHW", "NHWC"])
    ap.add_argument("--size", type=int, default=5)
    ap.add_argument("--backward", action="store_true",
                    help="the backward pass (the scale recomputed, or given: --scale)")
    ap.add_argument("--scale", action="store_true",
                    help="with the scale: written by the forward pass, given to the backward one")
    ap.add_argument("--rounds", type=int, default=61)
    ap.add_argument("--offsets", nargs=2, type=int, metavar=("XO", "YO"),
                    help="bytes past a page boundary where x and y begin")
    args = ap.parse_args(argv)
    item = np.dtype(args.dtype).itemsize
    if args.offsets is not None and not all(0 <= o < PAGE and o % item == 0
                                            for o in args.offsets):
        ap.error(f"--offsets must be multiples of {item} (the {args.dtype} item size) in "
                 f"[0, {PAGE}), not {' '.join(map(str, args.offsets))}")
    try:
        shapes = {name: shape_of(name) for name in args.shapes}
    except argparse.ArgumentTypeError as exc:
        ap.error(str(exc))
    builds = {"old": load(args.old, "lrn_ab_old"), "new": load(args.new, "lrn_ab_new")}
    n, threads = args.size, 1
    problem = dict(n=n, pre=(n - 1) // 2, alpha_n=1e-4 / n, beta=0.75, bias=2.0,
                   grad_coef=2 * 1e-4 / n * 0.75, num_threads=threads)
    for layout in args.layouts:
        for name, (N, C, H, W) in shapes.items():
            shape = (N, C, H * W) if layout == "NCHW" else (N, H * W, C)
            rng = np.random.default_rng(0)
            x = rng.standard_normal(shape).astype(args.dtype)
            dy = rng.standard_normal(shape).astype(args.dtype)
            y, s, dx, copy = (np.empty_like(x) for _ in range(4))
            if args.offsets is not None:
                xo, yo = args.offsets
                x, dy = placed(x, xo), placed(dy, xo)
                y, s, dx, copy = (placed(a, yo) for a in (y, s, dx, copy))
            scale = s if args.scale else None
            cases = {"copy": lambda: np.copyto(copy, x)}
            for tag, module in builds.items():
                call = module.Call(dict(problem, channels_last=layout == "NHWC"), shape,
                                   x.dtype, shape)
                if not call.forward(x, y, s, threads):
                    raise SystemExit(f"ab_kernels: the {tag} build refused the arrays")
                if args.backward:
                    cases[tag] = lambda c=call: c.backward(x, y, dy, scale, dx, threads)
                else:
                    cases[tag] = lambda c=call: c.forward(x, y, scale, threads)
            times = {k: [] for k in cases}
            for fn in cases.values():
                fn()
            for _ in range(args.rounds):
                for k, fn in cases.items():
                    times[k].append(_seconds(fn))
            med = {k: float(np.median(v)) for k, v in times.items()}
            print(f"{name} {layout} {args.dtype} size {n} "
                  f"{'backward' if args.backward else 'forward'}"
                  f"{' with the scale' if args.scale else ''}: "
                  f"old {med['old'] / med['copy']:.2f} copies, new {med['new'] / med['copy']:.2f}"
                  f", new / old {med['new'] / med['old']:.3f}", flush=True)


if __name__ == "__main__":
    main()

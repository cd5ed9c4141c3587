"""The kernels' compute cost: nanoseconds per element with the data in cache.

    python bench/incache.py [--repeats 7]

One thread, float32, size 5, an array small enough to stay in L2 and called
back to back, so memory bandwidth is out of the picture: what remains is the
arithmetic and the passes over the rows.  The kernels are called directly
(``lrn._cpu.kernels``, the build in use), without the operator layer's
checks, which cost about 1.5 microseconds a call.  A copy of the same array
is the yardstick.  When lrn's ratio here is well above 1, the kernel is
compute-bound, and on large arrays it cannot reach the copy floor with the
threads it has.
"""
import argparse
import time

import numpy as np

from lrn._cpu import kernels

# The kernels' Problem: size 5 (2 channels before), alpha 1e-4, beta 0.75, bias 2.
PROBLEM = dict(n=5, pre=2, alpha_n=1e-4 / 5, beta=0.75, bias=2.0, grad_coef=2 * 1e-4 / 5 * 0.75,
               num_threads=1)
THREADS = 1


def per_element(fn, size, repeats):
    """Best seconds per element of ``fn`` over ``repeats`` timed batches."""
    calls = max(3, int(2e7 // size))
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(calls):
            fn()
        best = min(best, (time.perf_counter() - t) / calls)
    return best / size


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args(argv)
    print(f"{'layout':8s} {'C':>5s}  {'copy':>6s}  {'forward':>8s}  {'fwd+scale':>9s}  "
          f"{'backward':>8s}   ns per element (ratio to copy)")
    for layout in ("NCHW", "NHWC"):
        for C, S in ((96, 640), (256, 240)):
            shape = (1, C, S) if layout == "NCHW" else (1, S, C)
            rng = np.random.default_rng(0)
            x = rng.standard_normal(shape).astype(np.float32)
            dy = rng.standard_normal(shape).astype(np.float32)
            y, s, dx, a = (np.empty_like(x) for _ in range(4))
            call = kernels.Call(dict(PROBLEM, channels_last=layout == "NHWC"), shape,
                                x.dtype, shape)
            if not call.forward(x, y, s, THREADS):
                raise SystemExit("incache: the kernels refused the arrays")
            cases = {
                "copy": lambda: np.copyto(a, x),
                "forward": lambda: call.forward(x, y, None, THREADS),
                "fwd+scale": lambda: call.forward(x, y, s, THREADS),
                "backward": lambda: call.backward(x, y, dy, s, dx, THREADS),
            }
            ns = {k: per_element(f, x.size, args.repeats) * 1e9 for k, f in cases.items()}
            print(f"{layout:8s} {C:5d}  {ns['copy']:6.3f}  " + "  ".join(
                f"{ns[k]:5.2f} ({ns[k] / ns['copy']:3.1f})" for k in ("forward", "fwd+scale",
                                                                    "backward")))


if __name__ == "__main__":
    main()

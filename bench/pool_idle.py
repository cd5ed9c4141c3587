"""Threads after an idle pause and back to back: design §4's table.

    python bench/pool_idle.py [--rounds 30] [--shapes alexnet1 alexnet2 batch1]

Forward LRN, float32, size 5, on 1 and 2 threads, and a copy of x.  Each round
times every case twice: after a 10 ms pause (lrn's workers napping, or asleep
after longer pauses), then, after one untimed call, back to back.  Prints per
shape the medians (min) of 2 threads' time over 1 thread's, of after-pause over
back-to-back time, and of lrn over the copy.  To compare another build, run the
script with that build first on ``PYTHONPATH``.
"""
import argparse
import time

import numpy as np

import lrn
from lrn.benchmark import SHAPES

P = dict(size=5, alpha=1e-4, beta=0.75, bias=2.0)


def _seconds(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def rounds(x, count, pause=0.01):
    """{case: [seconds]} for "copy", "t1", "t2", each "after pause" and "back to back"."""
    a, o = np.empty_like(x), np.empty_like(x)
    cases = {"copy": lambda: np.copyto(a, x),
             "t1": lambda: lrn.lrn(x, **P, out=o, num_threads=1),
             "t2": lambda: lrn.lrn(x, **P, out=o, num_threads=2)}
    times = {}
    for _ in range(count):
        for name, fn in cases.items():
            time.sleep(pause)
            times.setdefault((name, "after pause"), []).append(_seconds(fn))
            fn()
            times.setdefault((name, "back to back"), []).append(_seconds(fn))
    return times


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--shapes", nargs="+", default=["alexnet1", "alexnet2", "batch1"],
                    choices=sorted(SHAPES))
    args = ap.parse_args(argv)
    print(f"lrn {lrn.__version__} from {lrn.__file__}; medians (min) of {args.rounds} rounds")
    for name in args.shapes:
        x = np.random.default_rng(0).standard_normal(SHAPES[name]).astype(np.float32)
        times = rounds(x, args.rounds)
        med = {k: float(np.median(v)) for k, v in times.items()}
        low = {k: float(np.min(v)) for k, v in times.items()}

        def ratio(a, b):
            return f"{med[a] / med[b]:.2f} ({low[a] / low[b]:.2f})"

        pause, b2b = "after pause", "back to back"
        print(f"{name} {SHAPES[name]}: "
              f"t2/t1 after pause {ratio(('t2', pause), ('t1', pause))}, "
              f"back to back {ratio(('t2', b2b), ('t1', b2b))}; "
              f"after pause / back to back: t2 {ratio(('t2', pause), ('t2', b2b))}, "
              f"t1 {ratio(('t1', pause), ('t1', b2b))}, "
              f"copy {ratio(('copy', pause), ('copy', b2b))}; "
              f"back to back / copy: t2 {ratio(('t2', b2b), ('copy', b2b))}, "
              f"t1 {ratio(('t1', b2b), ('copy', b2b))}")


if __name__ == "__main__":
    main()

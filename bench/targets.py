"""The performance issue's targets, each measured side by side in one process.

    python bench/targets.py [--repeats 15] [--pause 0.01]

Prints one line per target: the measured ratio (medians of interleaved repeats)
and the target.  Peers are left to ``python -m lrn bench``.
"""
import argparse
import tracemalloc

import numpy as np

import lrn
from lrn.benchmark import SHAPES, measure

P = dict(alpha=1e-4, beta=0.75, bias=2.0)


def nhwc(shape):
    return (shape[0],) + shape[2:] + (shape[1],)


def data(shape, dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(shape).astype(dtype), rng.standard_normal(shape).astype(dtype)


def floors(x, dy):
    a, b = np.empty_like(x), np.empty_like(x)
    return {"copy": lambda: np.copyto(a, x),
            "copy4": lambda: (np.copyto(a, x), np.copyto(b, dy))}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--pause", type=float, default=0.01,
                    help="seconds before each timed call, as in the comparison (0: back to back, "
                         "lrn's worker threads still awake)")
    args = ap.parse_args(argv)
    r, nt = args.repeats, args.threads
    pause = args.pause
    rows = []

    for name in ("alexnet1", "alexnet2"):
        for layout in ("NCHW", "NHWC"):
            shape = SHAPES[name] if layout == "NCHW" else nhwc(SHAPES[name])
            x, dy = data(shape)
            y, s, dx, o1, o2 = (np.empty_like(x) for _ in range(5))
            lrn.lrn(x, 5, **P, layout=layout, out=(y, s), return_scale=True)
            kw = dict(layout=layout, num_threads=nt)
            t = measure(list(floors(x, dy).items()) + [
                ("fwd", lambda: lrn.lrn(x, 5, **P, out=o1, **kw)),
                ("fwd+scale", lambda: lrn.lrn(x, 5, **P, out=(o1, o2), return_scale=True, **kw)),
                ("bwd scale", lambda: lrn.lrn_backward(x, y, dy, 5, **P, scale=s, out=dx, **kw)),
                ("bwd", lambda: lrn.lrn_backward(x, y, dy, 5, **P, out=dx, **kw)),
            ], r, pause)
            m = {k: v[0] for k, v in t.items()}
            tag = f"{name} {layout}"
            rows += [(f"{tag}: forward / copy", m["fwd"] / m["copy"], "<= 1.3"),
                     (f"{tag}: forward+scale / copy", m["fwd+scale"] / m["copy"], "<= 1.5"),
                     (f"{tag}: backward (scale given) / 4-array floor",
                      m["bwd scale"] / m["copy4"], "<= 1.3"),
                     (f"{tag}: backward (recomputed) / 4-array floor",
                      m["bwd"] / m["copy4"], "<= 1.6")]

    for layout in ("NCHW", "NHWC"):
        shape = SHAPES["alexnet2"] if layout == "NCHW" else nhwc(SHAPES["alexnet2"])
        x, _ = data(shape)
        o = np.empty_like(x)
        t = measure([(n, (lambda n=n: lrn.lrn(x, n, **P, layout=layout, out=o, num_threads=nt)))
                     for n in (3, 21)], r, pause)
        rows.append((f"alexnet2 {layout}: forward size 21 / size 3", t[21][0] / t[3][0],
                     "<= 1.25"))

    x, dy = data(SHAPES["alexnet1"], np.float64)
    o = np.empty_like(x)
    t = measure([(k, (lambda k=k: lrn.lrn(x, 5, 1e-4, 0.6, 2.0, out=o, num_threads=k)))
                 for k in (1, 2)], r, pause)
    rows.append(("alexnet1 float64 beta 0.6: 2 threads speed-up", t[1][0] / t[2][0], ">= 1.6"))
    x, _ = data(SHAPES["batch1"])
    o = np.empty_like(x)
    t = measure([(k, (lambda k=k: lrn.lrn(x, 5, **P, out=o, num_threads=k))) for k in (1, 2)], r, pause)
    rows.append(("batch1 float32: 2 threads speed-up", t[1][0] / t[2][0], "> 1"))

    per_byte = {}
    cases = []
    for dt in (np.float16, np.float32, np.float64):
        x, _ = data(SHAPES["alexnet1"], dt)
        o = np.empty_like(x)
        cases.append((np.dtype(dt).name, (lambda x=x, o=o: lrn.lrn(x, 5, **P, out=o, num_threads=nt))))
        per_byte[np.dtype(dt).name] = x.nbytes
    t = measure(cases, r, pause)
    f32 = t["float32"][0] / per_byte["float32"]
    for name in ("float16", "float64"):
        rows.append((f"alexnet1 {name}: time per byte / float32's", t[name][0] / per_byte[name] / f32,
                     "<= 2"))

    x, dy = data(SHAPES["alexnet1"])
    y, s = lrn.lrn(x, 5, **P, return_scale=True)
    for label, call in (("forward", lambda: lrn.lrn(x, 5, **P)),
                        ("backward", lambda: lrn.lrn_backward(x, y, dy, 5, **P, scale=s))):
        tracemalloc.start()
        call()
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        rows.append((f"alexnet1 {label}: peak NumPy allocation / result size", peak / x.nbytes,
                     "1.0 (the result only)"))

    width = max(len(n) for n, _, _ in rows)
    for name, value, target in rows:
        print(f"{name:{width}s}  {value:6.2f}   target {target}")


if __name__ == "__main__":
    main()

"""Command line: ``python -m lrn [demo|apply|bench|info]``.

With no subcommand it runs the built-in demo (design §5): an AlexNet-sized
batch, checked against float64 NumPy and timed against the installed peers.
"""
import argparse
import os
import sys
import tempfile

import numpy as np


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error (no usage block) and exit status 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def _fail(prog, message):
    print(f"{prog}: error: {message}", file=sys.stderr)
    return 2


def _demo(args):
    from . import _bench

    _bench.demo(shape=tuple(args.shape), size=args.size, repeats=args.repeats)
    return 0


def _info(args):
    from . import show_config

    show_config()
    return 0


def _bench_cmd(args):
    from . import _bench

    return _bench.main(args.bench_args)


def _apply(args):
    """LRN of IN.npy into OUT.npy; OUT appears only when everything worked."""
    from . import lrn

    prog = "python -m lrn apply"
    try:
        x = np.load(args.input, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, EOFError) as e:
        return _fail(prog, f"cannot read {args.input!r} as a .npy array: {e}")
    if x.dtype.kind != "f":
        return _fail(prog, f"{args.input!r} holds {x.dtype} data; LRN needs float16, "
                           f"float32 or float64")
    out_dir = os.path.dirname(os.path.abspath(args.output))
    try:
        y = lrn(x, args.size, args.alpha, args.beta, args.bias, layout=args.layout,
                convention=args.convention)
        fd, tmp = tempfile.mkstemp(suffix=".npy", dir=out_dir)
    except (TypeError, ValueError, OSError) as e:
        return _fail(prog, str(e).replace("`", ""))
    try:
        with os.fdopen(fd, "wb") as f:
            np.save(f, y)
        os.replace(tmp, args.output)
    except OSError as e:
        os.unlink(tmp)
        return _fail(prog, f"cannot write {args.output!r}: {e}")
    return 0


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def _parser():
    p = _Parser(prog="python -m lrn", description=(
        "Local Response Normalization. Without a subcommand, runs the demo: an "
        "AlexNet-sized batch checked against float64 NumPy and timed against "
        "NumPy and the installed peers."))
    sub = p.add_subparsers(dest="command", parser_class=_Parser)

    d = sub.add_parser("demo", help="the built-in demo (the default)")
    d.add_argument("--shape", type=_positive_int, nargs="+", default=[8, 96, 55, 55],
                   help="NCHW input shape (default: 8 96 55 55)")
    d.add_argument("--size", type=_positive_int, default=5, help="window size (default 5)")
    d.add_argument("--repeats", type=_positive_int, default=15,
                   help="timing repeats per case (default 15)")
    d.set_defaults(func=_demo)

    a = sub.add_parser("apply", help="LRN of a .npy file into another .npy file")
    a.add_argument("input", help="input .npy file (float16/32/64, ndim >= 2)")
    a.add_argument("output", help="output .npy file (written only on success)")
    a.add_argument("--size", type=_positive_int, required=True, help="window size")
    a.add_argument("--alpha", type=float, default=1e-4, help="default 1e-4")
    a.add_argument("--beta", type=float, default=0.75, help="default 0.75")
    a.add_argument("--bias", type=float, default=1.0, help="default 1.0")
    a.add_argument("--layout", choices=["NCHW", "NHWC"], default="NCHW")
    a.add_argument("--convention", choices=["onnx", "torch"], default="onnx")
    a.set_defaults(func=_apply)

    b = sub.add_parser("bench", help="side-by-side comparison with every installed peer",
                       add_help=False)
    b.add_argument("bench_args", nargs=argparse.REMAINDER,
                   help="arguments of the comparison (see `python -m lrn bench --help`)")
    b.set_defaults(func=_bench_cmd)

    i = sub.add_parser("info", help="show the build and runtime configuration")
    i.set_defaults(func=_info)
    return p


def main(argv=None):
    """Entry point of ``python -m lrn`` and the ``lrn`` script."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        args = parser.parse_args(["demo"] + list(argv if argv is not None else sys.argv[1:]))
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())

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
    from . import benchmark

    benchmark.demo(shape=tuple(args.shape), size=args.size, repeats=args.repeats)
    return 0


def _info(args):
    from . import show_config

    show_config()
    return 0


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
    if args.chunks is not None:
        return _apply_chunked(args, x, out_dir, prog)
    try:
        y = lrn(x, args.size, args.alpha, args.beta, args.bias, layout=args.layout,
                convention=args.convention)
        fd, tmp = _temp_output(out_dir)
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


class _TextBar:
    """A minimal progress bar on stderr (when tqdm is not installed)."""

    def __init__(self, total, desc, unit):
        self.total, self.desc, self.unit, self.n = total, desc, unit, 0
        self._draw()

    def _draw(self):
        frac = self.n / self.total if self.total else 1.0
        bar = "#" * int(frac * 30)
        sys.stderr.write(f"\r{self.desc}: {frac:4.0%}|{bar:<30}| "
                         f"{self.n}/{self.total} {self.unit}")
        sys.stderr.flush()

    def update(self, n):
        self.n += n
        self._draw()

    def close(self):
        sys.stderr.write("\n")
        sys.stderr.flush()


class _NoBar:
    def update(self, n):
        pass

    def close(self):
        pass


def _progress(total, desc, unit):
    """tqdm on a terminal (a plain text bar without tqdm); nothing otherwise."""
    if not sys.stderr.isatty():
        return _NoBar()
    try:
        from tqdm import tqdm
    except ImportError:
        return _TextBar(total, desc, unit)
    return tqdm(total=total, desc=desc, unit=f" {unit}", file=sys.stderr)


def _apply_chunked(args, x, out_dir, prog):
    """``apply --chunks N``: N samples at a time, so IN and OUT may be larger
    than memory.  C-ordered input is read block by block with plain reads
    (other orders through the memory map) and each block of OUT is written as
    soon as it is computed; memory stays about three blocks.  Samples are
    independent, so the result is bitwise that of the whole-file call."""
    from . import lrn

    def run(block, out=None):
        return lrn(block, args.size, args.alpha, args.beta, args.bias, layout=args.layout,
                   convention=args.convention, out=out)

    try:
        if x.ndim < 2:
            run(x)                            # the usual message about the shape
        total = x.shape[0]
        step = max(1, min(args.chunks, total))
        rest = x.shape[1:]
        row_bytes = x.dtype.itemsize * int(np.prod(rest, dtype=np.int64))
        plain_reads = x.flags.c_contiguous and isinstance(x, np.memmap)
        xbuf = np.empty((step,) + rest, dtype=x.dtype)
        ybuf = np.empty_like(xbuf)
        first = min(step, total)              # checks every option before OUT exists
        np.copyto(xbuf[:first], x[:first])
        run(xbuf[:first], out=ybuf[:first])
        fd, tmp = _temp_output(out_dir)
    except (TypeError, ValueError, OSError, MemoryError) as e:
        return _fail(prog, str(e).replace("`", ""))
    done = False
    bar = _NoBar()
    try:
        with os.fdopen(fd, "wb") as fout, open(args.input, "rb") as fin:
            np.lib.format.write_array_header_1_0(fout, {
                "descr": np.lib.format.dtype_to_descr(x.dtype),
                "fortran_order": False, "shape": x.shape})
            bar = _progress(total, "lrn apply", "samples")
            for n0 in range(0, total, step):
                m = min(step, total - n0)
                if n0:
                    if plain_reads:
                        fin.seek(x.offset + n0 * row_bytes)
                        if fin.readinto(memoryview(xbuf[:m]).cast("B")) != m * row_bytes:
                            raise OSError(f"{args.input!r} is shorter than its header says")
                    else:
                        np.copyto(xbuf[:m], x[n0:n0 + m])
                    run(xbuf[:m], out=ybuf[:m])
                ybuf[:m].tofile(fout)
                bar.update(m)
        bar.close()
        os.replace(tmp, args.output)
        done = True
    except OSError as e:
        bar.close()
        return _fail(prog, f"cannot write {args.output!r}: {e}")
    finally:
        if not done:
            try:
                os.unlink(tmp)
            except OSError:
                pass
    return 0


def _temp_output(out_dir):
    """A temporary .npy beside OUT, renamed onto it once complete, with the
    permissions a plain open() would give (mkstemp's are 0600)."""
    fd, tmp = tempfile.mkstemp(suffix=".npy", dir=out_dir)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    return fd, tmp


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
    a.add_argument("--chunks", type=_positive_int, metavar="N", default=None,
                   help="process N samples (batch entries) at a time: IN is read and "
                        "OUT written block by block, so both may be larger than "
                        "memory (about 3 blocks are held); a progress bar shows on a "
                        "terminal. The result is identical to the whole-file call")
    a.set_defaults(func=_apply)

    # `bench` has its own parser (lrn.benchmark.main); main() hands it the rest of argv.
    sub.add_parser("bench", add_help=False,
                   help="side-by-side comparison with every installed peer "
                        "(see `python -m lrn bench --help`)")

    i = sub.add_parser("info", help="show the build and runtime configuration")
    i.set_defaults(func=_info)
    return p


def main(argv=None):
    """Entry point of ``python -m lrn`` and the ``lrn`` script."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["bench"]:
        from . import benchmark
        return benchmark.main(argv[1:])
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        args = parser.parse_args(["demo"] + argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())

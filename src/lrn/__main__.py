"""Command line: ``python -m lrn [demo|apply|bench|info]``.

With no subcommand it runs the built-in demo (design §5): an AlexNet-sized
batch, checked against float64 NumPy and timed against the installed peers.
"""
import errno
import math
import os
import signal
import sys
import tempfile

import numpy as np

from . import _params
from ._cli import Parser, choice, plain, positive_int, real, threads
from ._version import __version__


def _demo(args):
    from . import benchmark

    shape = tuple(args.shape)
    if len(shape) < 2:
        raise _UsageError(f"argument --shape: must have at least 2 dimensions (N C ...), "
                          f"got {len(shape)}")
    too_big = _UsageError(f"argument --shape: {' x '.join(map(str, shape))} does not fit "
                          f"in memory")
    if math.prod(shape) * 8 > sys.maxsize:   # float64 references: NumPy's limit
        raise too_big
    try:
        benchmark.demo(shape=shape, size=args.size, repeats=args.repeats)
    except MemoryError:
        raise too_big from None
    return 0


def _info(args):
    from . import show_config

    show_config()
    return 0


class _UsageError(Exception):
    """A bad argument or file: one line on stderr and exit status 2."""


# apply's default block: large enough that a block's fixed cost is nothing next to its
# kernel time, small enough that the 3-4 blocks held stay far below any machine's memory.
BLOCK_BYTES = 64 << 20


def _read_input(path):
    """IN as a read-only array (memory-mapped), or a _UsageError saying why
    not.  The header is read first so that a file that is no .npy array
    (text, a .npz zip, an object array) gets a plain reason, not NumPy's
    advice about allow_pickle."""
    fmt = np.lib.format
    where = f"cannot read IN {path!r}"
    try:
        with open(path, "rb") as f:
            try:
                version = fmt.read_magic(f)
            except ValueError:
                raise _UsageError(f"{where}: not a .npy file") from None
            reader = {(1, 0): fmt.read_array_header_1_0,
                      (2, 0): fmt.read_array_header_2_0}.get(version)
            if reader is not None:       # version 3.0 (rare) has no public reader
                try:
                    shape, _, dtype = reader(f)
                except ValueError as e:
                    raise _UsageError(f"{where}: bad .npy header ({plain(e)})") from None
                if any(n < 0 for n in shape):
                    raise _UsageError(f"{where}: its header has a negative dimension "
                                      f"{tuple(shape)}")
                if dtype.hasobject:
                    raise _UsageError(f"{where}: it holds Python objects, not numbers")
                nbytes = math.prod(shape) * dtype.itemsize
                if nbytes > sys.maxsize:
                    raise _UsageError(f"{where}: its header's shape is too large")
                if os.fstat(f.fileno()).st_size < f.tell() + nbytes:
                    raise _UsageError(f"{where}: the file is shorter than its header says")
        x = np.load(path, mmap_mode="r", allow_pickle=False)
    except OSError as e:
        raise _UsageError(f"{where}: {e.strerror or plain(e)}") from None
    except (ValueError, EOFError) as e:
        raise _UsageError(f"{where}: {plain(e)}") from None
    except OverflowError:                 # a version 3.0 header's shape beyond C's sizes
        raise _UsageError(f"{where}: its header's shape is too large") from None
    if not isinstance(x, np.ndarray):
        raise _UsageError(f"{where}: not a .npy file")
    if x.dtype.kind != "f":
        raise _UsageError(f"IN {path!r} holds {x.dtype} data; LRN needs float16, "
                          f"float32 or float64")
    return x


class _Partial:
    """The output files, each written through a temporary file named after it
    in its folder (``.OUT.partial-XXXX``) and renamed onto it only by
    :meth:`commit`.  On any other exit from the ``with`` block (an error,
    Ctrl-C, SIGTERM, which main() turns into SystemExit) the temporary files
    are removed, so OUT is either complete or untouched."""

    def __init__(self, targets):
        self.targets = targets            # [(label, path)]
        self.temps = []
        self.files = []
        self.label = None                 # what is being written, for messages

    def __enter__(self):
        umask = os.umask(0)
        os.umask(umask)
        try:
            for label, path in self.targets:
                self.label = label
                folder, name = os.path.split(os.path.abspath(path))
                if os.path.isdir(path):
                    raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR))
                fd, tmp = tempfile.mkstemp(prefix=f".{name}.partial-", dir=folder)
                self.temps.append(tmp)
                # the permissions a plain open() would give (mkstemp's are 0600)
                os.chmod(tmp, 0o666 & ~umask)
                self.files.append(os.fdopen(fd, "wb"))
        except BaseException:
            self._remove()
            raise
        return self

    def commit(self):
        """Close (flush) every file, then rename each onto its target.  A
        failure names the output concerned; outputs renamed before it stay."""
        for (label, _), f in zip(self.targets, self.files):
            self.label = label
            f.close()
        for (label, path), tmp in zip(self.targets, self.temps):
            self.label = label
            os.replace(tmp, path)
        self.temps = []

    def _remove(self):
        for f in self.files:
            try:
                f.close()
            except OSError:               # a failed flush: the file goes anyway
                pass
        for tmp in self.temps:
            try:
                os.unlink(tmp)
            except OSError:
                pass
        self.temps = []

    def __exit__(self, *exc):
        self._remove()
        return False

    def error(self, e):
        path = dict(self.targets)[self.label]
        return _UsageError(f"cannot write {self.label} {path!r}: {e.strerror or plain(e)}")


def _check_apply(args, x):
    """Every argument against IN's dtype and shape, before anything is written."""
    if args.scale is not None and os.path.abspath(args.scale) == os.path.abspath(args.output):
        raise _UsageError("argument --scale: must name another file than OUT")
    try:
        params = _params.make(args.size, args.alpha, args.beta, args.bias, args.layout,
                              args.convention, args.region, args.num_threads)
        _params.check_ndim(x.shape, params.within)
        params.resolve(x.dtype, x.ndim)
    except (TypeError, ValueError) as e:
        raise _UsageError(plain(e).replace("x must", f"IN {args.input!r} must")) from None


def _run(args, block, out=None, scale_out=None):
    from . import lrn

    outs = out if scale_out is None else (out, scale_out)
    return lrn(block, args.size, args.alpha, args.beta, args.bias, layout=args.layout,
               convention=args.convention, region=args.region, out=outs,
               return_scale=args.scale is not None, num_threads=args.num_threads)


def _targets(args):
    return [("OUT", args.output)] + ([("SCALE", args.scale)] if args.scale else [])


def _apply(args):
    """LRN of IN.npy into OUT.npy; OUT appears only when everything worked."""
    x = _read_input(args.input)
    _check_apply(args, x)
    return _apply_blocks(args, x)


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


def _apply_blocks(args, x):
    """IN through the kernels a block of samples at a time (``--chunks N``
    samples, or as many as fit in BLOCK_BYTES), so IN and OUT may be larger
    than memory.  C-ordered input is read block by block with plain reads
    (other orders through the memory map) and each block of OUT (and SCALE)
    is written as soon as it is computed; memory stays about three blocks (four
    with SCALE).  Samples are independent, so the result is bitwise that of
    one call on the whole array."""
    total = x.shape[0]
    rest = x.shape[1:]
    row_bytes = x.dtype.itemsize * int(np.prod(rest, dtype=np.int64))
    wanted = args.chunks if args.chunks is not None else BLOCK_BYTES // max(row_bytes, 1)
    step = max(1, min(wanted, total))
    plain_reads = x.flags.c_contiguous and isinstance(x, np.memmap)
    try:
        xbuf = np.empty((step,) + rest, dtype=x.dtype)
        bufs = [np.empty_like(xbuf) for _ in _targets(args)]
    except MemoryError:
        raise _UsageError(f"argument --chunks: {step} samples do not fit in memory") from None
    partial = _Partial(_targets(args))
    bar = _NoBar()
    try:
        with partial, open(args.input, "rb") as fin:
            for label, f in zip(("OUT", "SCALE"), partial.files):
                partial.label = label
                np.lib.format.write_array_header_1_0(f, {
                    "descr": np.lib.format.dtype_to_descr(x.dtype),
                    "fortran_order": False, "shape": x.shape})
            bar = _progress(total, "lrn apply", "samples")
            for n0 in range(0, total, step):
                m = min(step, total - n0)
                if plain_reads:
                    fin.seek(x.offset + n0 * row_bytes)
                    if fin.readinto(memoryview(xbuf[:m]).cast("B")) != m * row_bytes:
                        raise _UsageError(f"IN {args.input!r} is shorter than its "
                                          f"header says")
                else:
                    np.copyto(xbuf[:m], x[n0:n0 + m])
                _run(args, xbuf[:m], *(b[:m] for b in bufs))
                for label, f, b in zip(("OUT", "SCALE"), partial.files, bufs):
                    partial.label = label
                    b[:m].tofile(f)
                bar.update(m)
            partial.commit()
    except OSError as e:
        raise partial.error(e) from None
    except MemoryError:                   # the kernels' temporaries for a block
        raise _UsageError(f"argument --chunks: {step} samples do not fit in "
                          f"memory") from None
    finally:
        bar.close()
    return 0


def _parser(prog):
    p = Parser(prog=prog, description=(
        "Local Response Normalization. Without a subcommand, runs the demo: an "
        "AlexNet-sized batch checked against float64 NumPy and timed against "
        "NumPy and the installed peers; options before any subcommand are the "
        "demo's."))
    p.add_argument("--version", action="version", version=f"lrn {__version__}")
    sub = p.add_subparsers(dest="command", parser_class=Parser)

    d = sub.add_parser("demo", help="the built-in demo (the default)")
    d.add_argument("--shape", type=positive_int, nargs="+", default=[8, 96, 55, 55],
                   help="NCHW input shape, at least 2 dimensions (default: 8 96 55 55)")
    d.add_argument("--size", type=positive_int, default=5, help="window size (default 5)")
    d.add_argument("--repeats", type=positive_int, default=15,
                   help="timing repeats per case (default 15)")
    d.set_defaults(func=_demo)

    a = sub.add_parser("apply", help="LRN of a .npy file into another .npy file")
    a.add_argument("input", metavar="IN", help="input .npy file (float16/32/64, ndim >= 2)")
    a.add_argument("output", metavar="OUT",
                   help="output .npy file (written through a temporary .OUT.partial-* "
                        "file beside it and renamed onto OUT only on success)")
    a.add_argument("--size", type=positive_int, required=True,
                   help="window size (any positive integer: the window is clipped)")
    a.add_argument("--alpha", type=real, default=1e-4, help="default 1e-4")
    a.add_argument("--beta", type=real, default=0.75, help="default 0.75")
    a.add_argument("--bias", type=real, default=1.0, help="default 1.0")
    a.add_argument("--layout", **choice("layout", _params.LAYOUTS), default="NCHW",
                   help="NCHW (default) or NHWC, in upper or lower case")
    a.add_argument("--convention", **choice("convention", _params.CONVENTIONS),
                   default="onnx", help="onnx (default) or torch: where an even window sits")
    a.add_argument("--region", **choice("region", _params.REGIONS), default="across",
                   help="across channels (default) or within each channel (a spatial box)")
    a.add_argument("--num-threads", type=threads, metavar="N", default=None,
                   help="threads (default: OpenMP's default; -1: all processors)")
    a.add_argument("--scale", metavar="SCALE", default=None,
                   help="also write the scale (Caffe2's second output) to this .npy file")
    a.add_argument("--chunks", type=positive_int, metavar="N", default=None,
                   help="process N samples (batch entries) at a time (default: as many "
                        f"as fit in {BLOCK_BYTES >> 20} MiB): IN is read and OUT written "
                        "block by block, so both may be larger than memory (about 3 "
                        "blocks are held); a progress bar shows on a terminal. The "
                        "result is identical whatever N")
    a.set_defaults(func=_apply)

    # `bench` has its own parser (lrn.benchmark.main); main() hands it the rest of argv.
    sub.add_parser("bench", add_help=False,
                   help="side-by-side comparison with every installed peer "
                        "(see `bench --help`)")

    i = sub.add_parser("info", help="show the build and runtime configuration")
    i.set_defaults(func=_info)
    return p


_COMMANDS = ("demo", "apply", "bench", "info")


def _terminate(signum, frame):
    # SIGTERM as SystemExit: the `with` blocks and `finally` clauses run, so no
    # temporary file is left behind (exit status 128 + 15, as the shell reports).
    raise SystemExit(128 + signum)


def main(argv=None, prog="lrn"):
    """Entry point of the ``lrn`` script and (with ``prog="python -m lrn"``)
    of ``python -m lrn``.  Returns the exit status: 0, or 2 after a one-line
    message for a bad argument or file, 130 on Ctrl-C."""
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        previous = signal.signal(signal.SIGTERM, _terminate)
    except ValueError:           # not the main thread: leave signals alone
        previous = None
    try:
        if argv[:1] == ["bench"]:
            from . import benchmark
            return benchmark.main(argv[1:], prog=f"{prog} bench")
        if not argv or (argv[0] not in _COMMANDS
                        and argv[0] not in ("-h", "--help", "--version")):
            argv = ["demo"] + argv          # the default subcommand takes the options
        args = _parser(prog).parse_args(argv)
        return args.func(args)
    except _UsageError as e:
        command = f"{prog} {argv[0]}" if argv and argv[0] in _COMMANDS else prog
        print(f"{command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main(prog="python -m lrn"))
